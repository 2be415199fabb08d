//! The work loop shared by `tune run` and `tune worker`: claim a job from the store, train it on a
//! blocking thread, record every epoch (with a checkpoint) and the result, and repeat, with
//! `jobs` such loops at once. Ctrl-C, SIGTERM or SIGHUP stops cleanly: running jobs are marked
//! interrupted. So does a results database that cannot be written (down, restarted): the job is
//! left for another attempt and the loop ends with the error. A database that does not answer at
//! all (a network cut, a server restarting) gets 60 s first (`UNREACHABLE_RETRY`): a job's writes
//! are tried again until it answers, so that a short cut ends with its answer (written, or refused
//! because another worker took the job over meanwhile) whatever the state of the connections. A
//! job that diverges (NaN loss) or whose data does not fit it is marked failed with the reason,
//! and the other jobs go on.
//!
//! The loop draws and counts nothing itself: it sends [`Event`]s (job claimed, epoch done, job
//! finished, failed or interrupted, lease lost, ...) to its subscribers (see [`crate::events`]):
//! the progress display, the run's tally and `--events json`.
//!
//! With `--save-weights`, a job's weight file is written before the job is recorded as done; if
//! it cannot be written (a full disk), the job is done but keeps its final checkpoint in the
//! store, and the next run with `--save-weights` writes the file from it.

use crate::cli::ConcurrencyArgs;
use crate::events::{Event, Events, FailKind, InterruptCause, Tally};
use anyhow::Context;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::runtime::Handle;
use tune_data::Dataset;
use tune_model::train::EpochEnd;
use tune_model::{Flow, Kernels, Observer, Resume, TrainOptions};
use tune_spec::{DataSpec, EpochMetrics, TrainSpec, UserData};
use tune_store::{Claim, Store, StoreError};

/// How the loop runs: built by [`WorkOptions::new`] from the flags `tune run` and `tune worker`
/// share.
#[derive(Debug, Clone)]
pub struct WorkOptions {
    /// Jobs trained at once.
    pub jobs: usize,
    /// CPU threads each job may use.
    pub threads_per_job: usize,
    /// Layer implementation.
    pub kernels: Kernels,
    /// Where the data sets are.
    pub data_dir: Option<PathBuf>,
    /// Only claim jobs of this sweep.
    pub sweep: Option<String>,
    /// Wait for new jobs when the queue is empty instead of returning.
    pub follow: bool,
    /// Prefix of this process's worker ids (`host:pid`); each slot appends `:N`.
    pub worker_prefix: String,
    /// How long a claim stays ours without a heartbeat.
    pub lease: Duration,
    /// Save each finished job's weights as `DIR/KEY.safetensors`.
    pub save_weights: Option<PathBuf>,
    /// Train on a known data set's files even when their checksums are not the canonical ones
    /// (recorded as unverified).
    pub allow_unverified: bool,
}

impl WorkOptions {
    /// The options of `tune run` and `tune worker` from their shared flags: `--jobs`,
    /// `--threads-per-job`, `--stock`, `--save-weights`, `--data-dir`, `--allow-unverified`;
    /// jobs of `sweep` only (all when `None`), each claim held for `lease`, not following.
    pub fn new(
        concurrency: &ConcurrencyArgs,
        data_dir: Option<&Path>,
        allow_unverified: bool,
        sweep: Option<String>,
        lease: Duration,
    ) -> Self {
        let (jobs, threads_per_job) = crate::commands::common::concurrency(concurrency);
        WorkOptions {
            jobs,
            threads_per_job,
            kernels: crate::commands::common::kernels(concurrency),
            data_dir: data_dir.map(Path::to_path_buf),
            sweep,
            follow: false,
            worker_prefix: worker_prefix(),
            lease,
            save_weights: concurrency.save_weights.clone(),
            allow_unverified,
        }
    }
}

/// What the loop did: counted from its events by [`Tally`].
#[derive(Debug, Default, Clone, Copy)]
pub struct WorkSummary {
    /// Jobs finished.
    pub done: usize,
    /// Jobs that failed with an error.
    pub failed: usize,
    /// Jobs stopped by Ctrl-C or SIGTERM (they resume next time).
    pub interrupted: usize,
    /// Whether Ctrl-C, SIGTERM or SIGHUP stopped the loop (jobs may be left queued though none
    /// was interrupted: waiting at a halving rung, or not started).
    pub stopped: bool,
    /// Jobs whose lease was lost to another worker.
    pub lost: usize,
    /// Weight files (`--save-weights`) that could not be written; their weights are kept in the
    /// store until a later run writes them.
    pub weights_missing: usize,
    /// Weight files of earlier runs' jobs written from the weights kept in the store.
    pub weights_recovered: usize,
}

/// This process's worker-id prefix: `host:pid`.
pub fn worker_prefix() -> String {
    format!("{}:{}", crate::commands::common::host(), std::process::id())
}

/// A data set located and identified (hashed) by [`identify_data`].
#[derive(Debug)]
pub struct Identified {
    /// The directory holding its four files.
    pub dir: PathBuf,
    /// Which data they are.
    pub identity: tune_data::DataIdentity,
}

/// Data sets already identified by this process, by name and `--data-dir`.
type Identities = HashMap<(String, Option<PathBuf>), Arc<Identified>>;

static IDENTITIES: OnceLock<Mutex<Identities>> = OnceLock::new();

/// Locates data set `name` and hashes its files, once per process per data set (later calls
/// return the first answer): see `tune_data::identify`.
pub fn identify_data(name: &str, dir: Option<&Path>) -> anyhow::Result<Arc<Identified>> {
    let mut map = IDENTITIES
        .get_or_init(Default::default)
        .lock()
        .expect("identity cache lock");
    let key = (name.to_string(), dir.map(Path::to_path_buf));
    if let Some(id) = map.get(&key) {
        return Ok(id.clone());
    }
    let info = tune_data::info(name)?;
    let located = tune_data::locate(name, dir)?;
    let identity = tune_data::identify(&located.dir, info)?;
    tracing::info!(
        name,
        dir = %located.dir.display(),
        sha256 = %identity.sha256,
        verified = identity.verified,
        "identified data set"
    );
    let id = Arc::new(Identified {
        dir: located.dir,
        identity,
    });
    map.insert(key, id.clone());
    Ok(id)
}

/// Refuses data that is not the canonical data set of its name, unless `allow_unverified`.
pub fn check_verified(name: &str, id: &Identified, allow_unverified: bool) -> anyhow::Result<()> {
    if id.identity.verified || allow_unverified {
        return Ok(());
    }
    anyhow::bail!(
        "the data in {} is not the canonical `{name}`: {}. tune refuses to train on it under that \
         name, so that results always belong to the data they name. Point --data-dir at the \
         canonical files (`tune data fetch {name}`), or pass --allow-unverified to train on these \
         files anyway (the jobs are then recorded as trained on unverified data with SHA-256 {}, \
         and reports say so; jobs already marked failed for it train again with --retry-failed)",
        id.dir.display(),
        id.identity
            .mismatch
            .as_deref()
            .unwrap_or("its files differ"),
        id.identity.sha256
    )
}

/// Locates, identifies and loads data set `name`, refusing files that are not its canonical ones
/// unless `allow_unverified` (see [`check_verified`]).
pub fn load_checked(
    name: &str,
    dir: Option<&Path>,
    allow_unverified: bool,
) -> anyhow::Result<Dataset> {
    let id = identify_data(name, dir)?;
    check_verified(name, &id, allow_unverified)?;
    Ok(tune_data::load_dir(&id.dir, tune_data::info(name)?)?)
}

/// Users' data sets decoded by this process, by content hash: one copy in memory (pixels as
/// `f32`, channels-last), shared by every job of the run.
static USER_DATA: OnceLock<Mutex<HashMap<String, Arc<Dataset>>>> = OnceLock::new();

/// The decoded user's data set with content hash `sha256`, if this process has it.
pub fn user_dataset(sha256: &str) -> Option<Arc<Dataset>> {
    let map = USER_DATA
        .get_or_init(Default::default)
        .lock()
        .expect("user data lock");
    map.get(sha256).cloned()
}

/// Decodes a user's data set `name` as `spec` describes it (from tune's cache of decoded data
/// sets when that is current, see `tune_data::decode_cached`), keeps it for the jobs of this
/// process (once per content), and returns what jobs on it record and the data. The reader's
/// notes (ignored files, ...) are printed once, to stderr.
pub fn decode_user(name: &str, spec: &DataSpec) -> anyhow::Result<(UserData, Arc<Dataset>)> {
    let decoded = match tune_data::decoded_cache_dir() {
        Ok(dir) => tune_data::decode_cached(spec, &dir)?.0,
        Err(e) => {
            tracing::warn!("no cache for decoded data sets ({e}); decoding `{name}`");
            tune_data::decode(spec)?
        }
    };
    let user = decoded.user_data(spec.clone());
    let mut map = USER_DATA
        .get_or_init(Default::default)
        .lock()
        .expect("user data lock");
    if let Some(d) = map.get(&decoded.sha256) {
        return Ok((user, d.clone()));
    }
    for note in &decoded.notes {
        match note.strip_prefix("warning: ") {
            Some(warning) => eprintln!("warning: data set `{name}`: {warning}"),
            None => eprintln!("note: data set `{name}`: {note}"),
        }
    }
    tracing::info!(
        name,
        shape = %decoded.shape(),
        classes = decoded.class_count(),
        train = decoded.train.len,
        test = decoded.test.len,
        sha256 = %decoded.sha256,
        "decoded data set"
    );
    let data = Arc::new(decoded.to_dataset(name));
    map.insert(decoded.sha256.clone(), data.clone());
    Ok((user, data))
}

/// The data of the user's data set a job records (`user`), decoded from its `source` unless this
/// process has it; refuses data whose content is no longer the job's (a file changed since the
/// job was queued).
pub fn load_user(name: &str, user: &UserData) -> anyhow::Result<Arc<Dataset>> {
    // One decode at a time: the slots of a worker that start together share the first one's.
    static DECODING: Mutex<()> = Mutex::new(());
    let _one = DECODING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = user_dataset(&user.sha256) {
        return Ok(d);
    }
    let source = user.source.as_ref().with_context(|| {
        format!("the job records no files for data set `{name}`; run its grid again")
    })?;
    let (found, data) = decode_user(name, source)?;
    if found.sha256 != user.sha256 {
        let paths: Vec<String> = source
            .train
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Err(DataChanged {
            name: name.to_string(),
            paths: paths.join(", "),
            now: found.sha256,
            queued: user.sha256.clone(),
        }
        .into());
    }
    Ok(data)
}

/// Keeps the error a run ends with after the work it could do: the first one's exit code, and
/// every data set's message (one line each), so that none goes unnamed.
fn defer(deferred: &Mutex<Option<anyhow::Error>>, code: u8, message: String) {
    let mut d = deferred.lock().expect("deferred error lock");
    let (code, message) = match d.take() {
        Some(earlier) => match earlier.downcast::<crate::exit_codes::Classified>() {
            Ok(c) => (c.code, format!("{}\n{message}", c.message)),
            Err(other) => (code, format!("{other}\n{message}")),
        },
        None => (code, message),
    };
    *d = Some(anyhow::Error::new(crate::exit_codes::Classified {
        code,
        message,
    }));
}

/// Whether `e` says a user's data set's files cannot be read at all (gone, a link to nothing,
/// no permission), as opposed to read but not decoded: the first may be this machine's view
/// only, the second is the files' content.
fn cannot_read(e: &anyhow::Error) -> bool {
    use tune_data::{DataError, DataProblem};
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<DataError>(),
            Some(DataError::Invalid {
                problem: DataProblem::Unreadable { .. } | DataProblem::BrokenLink { .. },
                ..
            })
        )
    })
}

/// A user's data set whose files no longer hold the content its jobs were queued with: those
/// jobs can only fail, the other jobs of the queue are unaffected.
#[derive(Debug, thiserror::Error)]
#[error(
    "data set `{name}` ({paths}) has changed since its jobs were queued: its content hash is now \
     {now}, the jobs' is {queued}. Jobs never mix data: run the grid again (`tune run GRID`) to \
     queue jobs for the data as it is now"
)]
pub struct DataChanged {
    /// The data set's name.
    pub name: String,
    /// Its training files, comma-separated.
    pub paths: String,
    /// The files' content hash now (SHA-256, hex).
    pub now: String,
    /// The hash the jobs were queued with.
    pub queued: String,
}

/// Data sets loaded once per process and shared by every job, with their identity.
#[derive(Default)]
struct DataCache(Mutex<HashMap<String, Loaded>>);

/// A loaded data set and its identity: SHA-256 and whether it is verified (a user's data set
/// always is: its hash is part of the job's key).
type Loaded = (Arc<Dataset>, String, bool);

impl DataCache {
    fn get(
        &self,
        train: &TrainSpec,
        dir: Option<&Path>,
        allow_unverified: bool,
    ) -> anyhow::Result<Loaded> {
        let name = train.dataset.as_str();
        if let Some(user) = &train.data {
            return Ok((load_user(name, user)?, user.sha256.clone(), true));
        }
        let mut map = self.0.lock().expect("data cache lock");
        if let Some(d) = map.get(name) {
            return Ok(d.clone());
        }
        let id = identify_data(name, dir)?;
        check_verified(name, &id, allow_unverified)?;
        let data = Arc::new(tune_data::load_dir(&id.dir, tune_data::info(name)?)?);
        let loaded = (data, id.identity.sha256.clone(), id.identity.verified);
        map.insert(name.to_string(), loaded.clone());
        Ok(loaded)
    }
}

/// Runs the loop until the queue is empty (or forever with `follow`), or Ctrl-C or SIGTERM,
/// sending what it does to `events`. Returns the tally of those events and the error the run
/// ends with after doing all the work it could (a user's data set that could not be read: its
/// jobs were failed or left queued, the others trained), or the loop's error, if one ended it
/// early (either also sent, in [`Event::RunEnded`]).
pub async fn work(
    store: Store,
    opts: WorkOptions,
    events: Events,
) -> anyhow::Result<(WorkSummary, Option<anyhow::Error>)> {
    let tally = Arc::new(Tally::default());
    let events = events.subscribe(tally.clone());
    events.send(Event::RunStarted {
        worker: opts.worker_prefix.clone(),
        sweep: opts.sweep.clone(),
        slots: opts.jobs.max(1),
    });
    let sweep = opts.sweep.clone();
    let result = work_slots(store.clone(), opts, &events).await;
    let error = match &result {
        Err(e) | Ok(Some(e)) => Some(crate::exit_codes::message(e)),
        Ok(None) => None,
    };
    let s = tally.summary();
    // The failed jobs this loop left alone (a count that cannot be read counts none: the loop's
    // own error, if any, is what the event reports).
    let failed_earlier = match store.counts(sweep.as_deref()).await {
        Ok(c) => (c.failed as usize).saturating_sub(s.failed),
        Err(_) => 0,
    };
    events.send(Event::RunEnded {
        done: s.done,
        failed: s.failed,
        failed_earlier,
        interrupted: s.interrupted,
        lost: s.lost,
        error,
    });
    result.map(|deferred| (s, deferred))
}

/// The body of [`work`]: the kept weights, then `opts.jobs` slots until each is done. `Ok` with
/// the error the run ends with after all the work it could do (a user's data set that could not
/// be read), if any.
async fn work_slots(
    store: Store,
    opts: WorkOptions,
    events: &Events,
) -> anyhow::Result<Option<anyhow::Error>> {
    let stop = Arc::new(AtomicBool::new(false));
    let draining = Arc::new(AtomicBool::new(false));
    let deferred = Arc::new(Mutex::new(None));
    let unreadable = Arc::new(Mutex::new(Vec::new()));
    watch_signals(stop.clone(), events.clone())?;
    let data = Arc::new(DataCache::default());
    if let Some(dir) = &opts.save_weights {
        write_kept_weights(&store, opts.sweep.as_deref(), dir, events).await?;
    }
    // Halving: late jobs (retried, or seeds added) are judged before any job is claimed, so
    // that a job whose configuration was already pruned is not trained first.
    advance_halving(&store, opts.sweep.as_deref(), events).await?;
    let finished = Arc::new(tokio::sync::Notify::new());
    let mut slots = Vec::new();
    for slot in 0..opts.jobs.max(1) {
        let ctx = Slot {
            store: store.clone(),
            opts: opts.clone(),
            worker_id: format!("{}:{slot}", opts.worker_prefix),
            stop: stop.clone(),
            draining: draining.clone(),
            deferred: deferred.clone(),
            unreadable: unreadable.clone(),
            data: data.clone(),
            events: events.clone(),
            finished: finished.clone(),
        };
        slots.push(tokio::spawn(ctx.run()));
    }
    let mut first_error = None;
    for s in slots {
        if let Err(e) = s.await.context("a job slot panicked")? {
            first_error.get_or_insert(e);
        }
    }
    let deferred = deferred.lock().expect("deferred error lock").take();
    match first_error {
        Some(e) => Err(e),
        None => Ok(deferred),
    }
}

/// Writes the weight files of done jobs (of `sweep`) whose weights an earlier run kept in the
/// store because the file could not be written; drops each kept checkpoint once its file is
/// written. Sends a warning for each file still not written, then [`Event::KeptWeights`].
async fn write_kept_weights(
    store: &Store,
    sweep: Option<&str>,
    dir: &std::path::Path,
    events: &Events,
) -> anyhow::Result<()> {
    let kept = store.kept_checkpoints(sweep).await?;
    let (mut written, mut missing) = (0, 0);
    for k in kept {
        let path = weights_path(dir, &k.key);
        let bytes = k.checkpoint.bytes;
        let saved = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                tune_model::checkpoint::save_weights_from_checkpoint(&bytes, &path)
            })
            .await?
        };
        match saved {
            Ok(()) => {
                store.drop_kept_checkpoint(&k.key).await?;
                written += 1;
            }
            Err(e) => {
                events.send(Event::Warning {
                    message: format!(
                        "the weights of finished job {} were still not saved to {}: {e} (they \
                         stay in the results database)",
                        k.key,
                        path.display()
                    ),
                });
                missing += 1;
            }
        }
    }
    events.send(Event::KeptWeights {
        written,
        missing,
        dir: dir.display().to_string(),
    });
    Ok(())
}

/// Decides the rungs of halving sweeps (`sweep`, or all) whose jobs are all in and judges their
/// late jobs (see [`tune_store::Store::advance_halving`]), sending each decision made to
/// `events`; whether anything changed (a decision made, a job sent on or stopped).
async fn advance_halving(
    store: &Store,
    sweep: Option<&str>,
    events: &Events,
) -> Result<bool, StoreError> {
    let done = store
        .advance_halving(sweep, &crate::halving::choose)
        .await?;
    for d in &done.decisions {
        events.send(Event::RungDecided {
            sweep: d.sweep_id.clone(),
            rung: d.rung,
            epoch: d.epoch,
            kept: d.keep.len(),
            pruned: d.prune.len(),
        });
    }
    Ok(!done.decisions.is_empty() || done.moved > 0)
}

/// First Ctrl-C, SIGTERM (what Slurm and Kubernetes send before SIGKILL) or SIGHUP (a closed
/// terminal or ssh session): stop after the current batch and mark running jobs interrupted,
/// without using up an attempt; the command then exits with 130. A second one: exit with 130
/// now.
fn watch_signals(stop: Arc<AtomicBool>, events: Events) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot watch for SIGHUP")?;
    tokio::spawn(async move {
        let mut next = async || {
            tokio::select! {
                r = tokio::signal::ctrl_c() => r.is_ok(),
                r = term.recv() => r.is_some(),
                r = hup.recv() => r.is_some(),
            }
        };
        if next().await {
            stop.store(true, Ordering::SeqCst);
            events.send(Event::Stopping);
            if next().await {
                std::process::exit(crate::exit_codes::TuneExitCode::INTERRUPTED.into());
            }
        }
    });
    Ok(())
}

/// How long a job's last write to an unreachable results database may take.
const GIVE_BACK_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a claimed job's writes (its data, each epoch, its result) and the reading of its
/// checkpoint are tried again while the results database does not answer at all (see
/// `StoreError::is_unreachable`: a network cut, a server restarting). Without it the outcome of a
/// cut of a few seconds would depend on the state of the connection pool: a write on an open
/// connection waits for the network to come back (and learns then whether the lease still
/// holds), one that needs a new connection fails within seconds ("no route to host"), and one
/// that waits for a connection fails after the pool's 30 s acquire timeout. After this long
/// without an answer the job is left for another attempt and the loop ends with the error (exit
/// 69). As long as the default lease (`--lease-secs` 60): by then another worker may have the job,
/// and all a later answer could say is that the lease is lost.
const UNREACHABLE_RETRY: Duration = Duration::from_secs(60);

/// The pause between tries of a statement the database did not answer.
const UNREACHABLE_PAUSE: Duration = Duration::from_secs(1);

/// Runs `statement` (of job `key`, busy with `what`) until the database answers, for at most
/// [`UNREACHABLE_RETRY`]: its answer (success, a lost lease, any other refusal) is returned as
/// is; unreachable errors are tried again after [`UNREACHABLE_PAUSE`], and the last one (or
/// [`StoreError::no_answer`] for a try still waiting at the end) is returned after the window.
/// Only for statements that may be delivered twice (each write of a claim is guarded by the
/// claim and replaces what it writes).
async fn until_answered<T, F>(
    key: &str,
    what: &'static str,
    statement: impl FnMut() -> F,
) -> Result<T, StoreError>
where
    F: std::future::Future<Output = Result<T, StoreError>>,
{
    retry_unreachable(UNREACHABLE_RETRY, UNREACHABLE_PAUSE, key, what, statement).await
}

/// [`until_answered`] with a window of `window` and pauses of `pause`.
async fn retry_unreachable<T, F>(
    window: Duration,
    pause: Duration,
    key: &str,
    what: &'static str,
    mut statement: impl FnMut() -> F,
) -> Result<T, StoreError>
where
    F: std::future::Future<Output = Result<T, StoreError>>,
{
    let deadline = tokio::time::Instant::now() + window;
    let mut warned = false;
    loop {
        match tokio::time::timeout_at(deadline, statement()).await {
            Err(_) => return Err(StoreError::no_answer(what, window)),
            Ok(Err(e)) if e.is_unreachable() => {
                if tokio::time::Instant::now() + pause >= deadline {
                    return Err(e);
                }
                if !warned {
                    warned = true;
                    tracing::warn!(
                        key,
                        "the results database does not answer ({e}); trying again for up to {} s",
                        window.as_secs()
                    );
                }
                tokio::time::sleep(pause).await;
            }
            Ok(answer) => return answer,
        }
    }
}

/// Shortest and longest pause between polls of a worker waiting for other workers' jobs.
const POLL_MIN: Duration = Duration::from_millis(100);
const POLL_MAX: Duration = Duration::from_secs(2);

/// One of the `jobs` concurrent loops.
struct Slot {
    store: Store,
    opts: WorkOptions,
    worker_id: String,
    stop: Arc<AtomicBool>,
    /// Claim no more jobs, but let running ones finish (set when a data set cannot be loaded).
    draining: Arc<AtomicBool>,
    /// The error the run ends with once every other job is done: the first user's data set
    /// that could not be read (its jobs failed, the others went on).
    deferred: Arc<Mutex<Option<anyhow::Error>>>,
    /// Content hashes of the users' data sets whose files this process cannot read (gone,
    /// moved, not mounted here): their jobs are left for workers that can.
    unreadable: Arc<Mutex<Vec<String>>>,
    data: Arc<DataCache>,
    events: Events,
    /// Woken whenever one of this process's slots ends a job (done, paused at a rung, failed or
    /// given back): slots waiting for work look again at once.
    finished: Arc<tokio::sync::Notify>,
}

impl Slot {
    async fn run(self) -> anyhow::Result<()> {
        // Pause between polls while other workers' jobs run: short at first, so that the loop
        // ends soon after a short job, longer while a long one runs.
        let mut poll = POLL_MIN;
        let mut last_look = false;
        loop {
            if self.stop.load(Ordering::SeqCst) || self.draining.load(Ordering::SeqCst) {
                return Ok(());
            }
            let skip = self
                .unreadable
                .lock()
                .expect("unreadable data lock")
                .clone();
            let claim = self
                .store
                .claim_except(
                    &self.worker_id,
                    self.opts.lease,
                    self.opts.sweep.as_deref(),
                    &skip,
                )
                .await?;
            let Some(claim) = claim else {
                // Halving: a rung whose jobs are all in is decided now; its survivors can be
                // claimed.
                if self.advance_halving().await? {
                    continue;
                }
                // With `follow`, wait for more work (new grids, expired leases of other workers).
                if self.opts.follow {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
                // A job training in another slot of this process or under another process's
                // lease may bring work back when it ends: the last job of a halving rung frees
                // its survivors, a job given back is retried, a killed worker's job returns
                // when its lease expires. The queue is only empty once none is running.
                if self.jobs_running().await? {
                    tokio::select! {
                        _ = tokio::time::sleep(poll) => {}
                        _ = self.finished.notified() => {}
                    }
                    poll = (poll * 2).min(POLL_MAX);
                    continue;
                }
                // One more look before leaving: another slot may have decided a rung (freeing
                // its survivors) between this slot's claim and its count of running jobs.
                if !last_look {
                    last_look = true;
                    continue;
                }
                return Ok(());
            };
            last_look = false;
            poll = POLL_MIN;
            // Another slot found this job's data unreadable after this claim was asked for:
            // give it back untouched (not a second interruption of it).
            let skipped = claim.spec.train.data.as_ref().is_some_and(|d| {
                self.unreadable
                    .lock()
                    .expect("unreadable data lock")
                    .contains(&d.sha256)
            });
            if skipped {
                ignore_lost(self.store.interrupt(&claim).await)?;
                continue;
            }
            let result = self.run_job(claim).await;
            self.finished.notify_waiters();
            result?;
        }
    }

    /// Whether jobs (of our sweep) are running, in this process's other slots or under other
    /// processes' leases. After a claim found nothing, every running job's lease is current: an
    /// expired one would have been claimed or failed.
    async fn jobs_running(&self) -> anyhow::Result<bool> {
        let counts = self.store.counts(self.opts.sweep.as_deref()).await?;
        let waiting = counts.running > 0;
        if waiting {
            tracing::debug!(
                running = counts.running,
                "queue empty; waiting for the jobs being trained"
            );
        }
        Ok(waiting)
    }

    /// Decides the rungs of halving sweeps (of our sweep, or all) whose jobs are all in, once
    /// (see [`tune_store::Store::advance_halving`]); whether a decision was made here.
    async fn advance_halving(&self) -> Result<bool, StoreError> {
        advance_halving(&self.store, self.opts.sweep.as_deref(), &self.events).await
    }

    /// Hands `claim`'s job back after `epochs_done` epochs, its rung's epoch: it waits for the
    /// rung's decision, which is made here if it was the rung's last job.
    async fn pause(&self, claim: &Claim, epochs_done: usize) -> anyhow::Result<()> {
        match self.store.pause(claim, epochs_done).await {
            Ok(()) => self.send(Event::JobPaused {
                key: claim.key.clone(),
                sweep: self.sweep(),
                epochs_done,
            }),
            Err(e) if e.is_lease_lost() => {
                self.lease_lost(claim, false);
                return Ok(());
            }
            Err(e) => return Err(self.leave_for_retry(claim, epochs_done, e).await),
        }
        self.advance_halving().await?;
        Ok(())
    }

    /// Sends `event` to the run's subscribers.
    fn send(&self, event: Event) {
        self.events.send(event);
    }

    /// The sweep the loop trains, for events.
    fn sweep(&self) -> Option<String> {
        self.opts.sweep.clone()
    }

    /// Sends that `claim` was lost to another worker.
    fn lease_lost(&self, claim: &Claim, result_discarded: bool) {
        self.send(Event::LeaseLost {
            key: claim.key.clone(),
            sweep: self.sweep(),
            result_discarded,
        });
    }

    /// Sends that `claim` failed with `error`.
    fn failed(&self, claim: &Claim, error: String, kind: FailKind) {
        self.send(Event::JobFailed {
            key: claim.key.clone(),
            sweep: self.sweep(),
            error,
            kind,
        });
    }

    /// Where job `key` resumes: its checkpoint and the history it covers, if it has one, and the
    /// epochs it covers.
    async fn resume(&self, key: &str) -> Result<Option<(Resume, usize)>, StoreError> {
        let Some(ckpt) = self.store.load_checkpoint(key).await? else {
            return Ok(None);
        };
        let history = self.store.history(key).await?;
        // Only the epochs the checkpoint covers: a later one recorded before the process died is
        // trained again.
        let runtime_s = history
            .iter()
            .filter(|m| m.epoch <= ckpt.epoch as usize)
            .map(|m| m.seconds)
            .sum();
        tracing::info!(key, epoch = ckpt.epoch, "resuming from checkpoint");
        Ok(Some((
            Resume {
                checkpoint: ckpt.bytes,
                history,
                runtime_s,
            },
            ckpt.epoch as usize,
        )))
    }

    /// Sends that `claim` was claimed, `epochs_done` epochs of it already trained.
    fn claimed(&self, claim: &Claim, epochs_done: usize) {
        self.send(Event::JobClaimed {
            key: claim.key.clone(),
            sweep: self.sweep(),
            worker: claim.worker_id.clone(),
            attempt: claim.attempt,
            epochs: claim.spec.train.epochs,
            epochs_done,
            spec: claim.spec.clone(),
        });
    }

    async fn run_job(&self, claim: Claim) -> anyhow::Result<()> {
        let spec = claim.spec.clone();
        let resume = until_answered(&claim.key, "reading a job's checkpoint", || {
            self.resume(&claim.key)
        });
        let (resume, resumed) = match resume.await {
            Ok(Some((r, epochs))) => (Some(r), epochs),
            Ok(None) => (None, 0),
            Err(e) => {
                self.claimed(&claim, 0);
                return Err(self.leave_for_retry(&claim, 0, e).await);
            }
        };
        self.claimed(&claim, resumed);
        // Halving: the epoch to stop at and wait for the rung's decision (none at the last rung).
        let stop_at = claim.stop_at.filter(|&s| s < spec.train.epochs);
        if let Some(s) = stop_at
            && resumed >= s
        {
            // It reached its rung before (a run killed right after recording the rung's epoch).
            return self.pause(&claim, resumed).await;
        }
        let lost = Arc::new(AtomicBool::new(false));
        let heartbeat = spawn_heartbeat(self.store.clone(), claim.clone(), lost.clone());
        let data = {
            let cache = self.data.clone();
            let (train, dir) = (spec.train.clone(), self.opts.data_dir.clone());
            let allow = self.opts.allow_unverified;
            tokio::task::spawn_blocking(move || cache.get(&train, dir.as_deref(), allow)).await?
        };
        let data = match data {
            Ok((data, sha256, verified)) => {
                // The job records which data it trains on; epochs of other data are not continued.
                let record = until_answered(&claim.key, "recording a job's data", || {
                    self.store.record_data(&claim, &sha256, verified)
                });
                match record.await {
                    Ok(()) => data,
                    Err(e) if e.is_lease_lost() => {
                        heartbeat.abort();
                        self.lease_lost(&claim, false);
                        return Ok(());
                    }
                    Err(e @ StoreError::DataMismatch { .. }) => {
                        heartbeat.abort();
                        let msg = e.to_string();
                        ignore_lost(self.store.fail(&claim, &msg).await)?;
                        self.failed(&claim, msg, FailKind::DataMismatch);
                        return Ok(());
                    }
                    Err(e) => {
                        heartbeat.abort();
                        return Err(self.leave_for_retry(&claim, resumed, e).await);
                    }
                }
            }
            Err(e) if e.downcast_ref::<DataChanged>().is_some() => {
                // The files changed since this job was queued: it and every queued job of that
                // version can only fail; jobs of other data (or of the new version) go on.
                heartbeat.abort();
                let changed = e.downcast_ref::<DataChanged>().expect("checked above");
                let msg = e.to_string();
                ignore_lost(self.store.fail(&claim, &msg).await)?;
                let retired =
                    until_answered(&claim.key, "setting aside jobs of changed data", || {
                        self.store.retire_data_version(
                            &changed.name,
                            &changed.queued,
                            &changed.now,
                            &msg,
                        )
                    });
                // This job is among them (failed above): the others are counted.
                let others = retired
                    .await
                    .map_err(anyhow::Error::from)?
                    .saturating_sub(1);
                if others > 0 {
                    eprintln!(
                        "note: {} more job{} of data set `{}` as it was ({}) set aside as \
                         superseded: no worker will train them; `tune run GRID` queues the jobs \
                         of the data as it is now",
                        others,
                        if others == 1 { "" } else { "s" },
                        changed.name,
                        &changed.queued[..8.min(changed.queued.len())]
                    );
                }
                self.failed(&claim, msg, FailKind::DataChanged);
                return Ok(());
            }
            Err(e) if spec.train.data.is_some() && cannot_read(&e) => {
                // This process cannot read the files (gone, moved, not mounted on this
                // machine): another worker may. The job goes back to the queue, this worker
                // claims no more of that data, trains the rest and ends with the error.
                heartbeat.abort();
                let user = spec.train.data.as_ref().expect("checked above");
                let msg = format!(
                    "{}; this worker cannot read data set `{}` ({}), so its jobs stay queued for \
                     a worker that can: fix the path or the mount, then `tune run GRID` (or \
                     `tune worker`) trains them",
                    crate::exit_codes::message(&e),
                    spec.train.dataset,
                    &user.sha256[..8.min(user.sha256.len())]
                );
                // Skipped first, then given back: a slot that claims it in between sees the
                // skip and gives it back untouched (see `Slot::run`).
                self.unreadable
                    .lock()
                    .expect("unreadable data lock")
                    .push(user.sha256.clone());
                let released =
                    tokio::time::timeout(GIVE_BACK_TIMEOUT, self.store.interrupt(&claim));
                let recorded = matches!(released.await, Ok(Ok(())));
                self.send(Event::JobInterrupted {
                    key: claim.key.clone(),
                    sweep: self.sweep(),
                    epochs_done: resumed,
                    cause: InterruptCause::DataUnreadable,
                    error: Some(msg.clone()),
                    recorded,
                });
                defer(
                    &self.deferred,
                    crate::exit_codes::TuneExitCode::UNAVAILABLE,
                    msg,
                );
                return Ok(());
            }
            Err(e) if spec.train.data.is_some() => {
                // A user's data set whose files cannot be read or decoded: every queued job of
                // that version would fail the same way, one claim at a time, and keep this
                // worker from the jobs of other data. They fail now, with this one; the run goes
                // on with the rest and ends with the error (its exit code: bad input, as `tune
                // run` says of a grid's file that is gone or does not decode).
                heartbeat.abort();
                let user = spec.train.data.as_ref().expect("checked above");
                let msg = format!(
                    "{}; every queued job of data set `{}` ({}) failed with it: once the files \
                     can be read, `tune run GRID --retry-failed` trains them",
                    crate::exit_codes::message(&e),
                    spec.train.dataset,
                    &user.sha256[..8.min(user.sha256.len())]
                );
                ignore_lost(self.store.fail(&claim, &msg).await)?;
                let failed = until_answered(&claim.key, "failing jobs of unreadable data", || {
                    self.store
                        .fail_data_version(&spec.train.dataset, &user.sha256, &msg)
                });
                let failed = failed.await.map_err(anyhow::Error::from)?;
                self.failed(&claim, msg.clone(), FailKind::DataUnavailable);
                self.send(Event::DataSetFailed {
                    dataset: spec.train.dataset.clone(),
                    sha256: user.sha256.clone(),
                    jobs: failed.len(),
                    error: msg.clone(),
                });
                defer(&self.deferred, crate::exit_codes::classify(&e), msg);
                return Ok(());
            }
            Err(e) => {
                // Every job of this built-in data set would fail the same way: record this one
                // as failed, claim no more (jobs other slots are training finish), and end the
                // run with the error, which says how to get the data.
                heartbeat.abort();
                self.draining.store(true, Ordering::SeqCst);
                let msg = crate::exit_codes::message(&e);
                ignore_lost(self.store.fail(&claim, &msg).await)?;
                self.failed(&claim, msg, FailKind::DataUnavailable);
                return Err(e);
            }
        };
        let mut observer = JobObserver {
            handle: Handle::current(),
            store: self.store.clone(),
            claim: claim.clone(),
            sweep: self.sweep(),
            stop: self.stop.clone(),
            lost: lost.clone(),
            events: self.events.clone(),
            stop_at,
        };
        let train_opts = TrainOptions {
            threads: self.opts.threads_per_job,
            kernels: self.opts.kernels,
            ..TrainOptions::default()
        };
        let trained = tokio::task::spawn_blocking(move || {
            let input = tune_model::input_shape(&data);
            tune_model::train(&spec, &data, &input, &train_opts, &mut observer, resume)
        })
        .await?;
        heartbeat.abort();
        match trained {
            Ok(t) => {
                // The weights first: a file that cannot be written (a full disk) keeps the job's
                // final checkpoint in the store, so that a later run can still write it; and
                // weights that cannot be written must not cost the result.
                let mut weights_missing = false;
                if let Some(dir) = &self.opts.save_weights {
                    let (network, dir, key) = (t.network, dir.clone(), claim.key.clone());
                    let saved =
                        tokio::task::spawn_blocking(move || save_weights(&network, &dir, &key))
                            .await?;
                    if let Err(e) = saved {
                        self.send(Event::Warning {
                            message: format!(
                                "{e:#}; its weights stay in the results database and the next \
                                 run with --save-weights writes them"
                            ),
                        });
                        weights_missing = true;
                    }
                }
                let complete = until_answered(&claim.key, "recording a job's result", || {
                    self.store
                        .complete_with(&claim, &t.outcome, weights_missing)
                });
                match complete.await {
                    Ok(()) => self.send(Event::JobFinished {
                        key: claim.key.clone(),
                        sweep: self.sweep(),
                        test_accuracy: t.outcome.test_accuracy,
                        test_loss: t.outcome.test_loss,
                        runtime_s: t.outcome.runtime_s,
                        weights_missing,
                    }),
                    Err(e) if e.is_lease_lost() => self.lease_lost(&claim, true),
                    Err(e) => {
                        return Err(self
                            .leave_for_retry(&claim, claim.spec.train.epochs, e)
                            .await);
                    }
                }
            }
            Err(tune_model::Error::Stopped { .. }) if lost.load(Ordering::SeqCst) => {
                self.lease_lost(&claim, false);
            }
            Err(tune_model::Error::Stopped { epochs_done })
                if stop_at.is_some_and(|s| epochs_done >= s) =>
            {
                self.pause(&claim, epochs_done).await?;
            }
            Err(tune_model::Error::Stopped { epochs_done }) => {
                ignore_lost(self.store.interrupt(&claim).await)?;
                self.send(Event::JobInterrupted {
                    key: claim.key.clone(),
                    sweep: self.sweep(),
                    epochs_done,
                    cause: InterruptCause::Signal,
                    error: None,
                    recorded: true,
                });
            }
            Err(tune_model::Error::Observer(e)) => match e.downcast::<EpochNotRecorded>() {
                // The store, not the job, failed.
                Ok(e) => return Err(self.leave_for_retry(&claim, e.epoch - 1, e.source).await),
                Err(e) => return Err(tune_model::Error::Observer(e).into()),
            },
            Err(e) => {
                let msg = e.to_string();
                ignore_lost(self.store.fail(&claim, &msg).await)?;
                self.failed(&claim, msg, FailKind::Training);
                // A failed job may have been the last one its halving rung waited for.
                self.advance_halving().await?;
            }
        }
        Ok(())
    }

    /// After a store error other than a lost lease (the database is down or restarted): the job
    /// is not at fault, so it is marked interrupted if the database answers (else its lease runs
    /// out and it comes back), no more jobs are claimed, and the loop ends with the error rather
    /// than failing job after job. `epochs_done`: the epochs of the job recorded before.
    async fn leave_for_retry(
        &self,
        claim: &Claim,
        epochs_done: usize,
        e: StoreError,
    ) -> anyhow::Error {
        self.draining.store(true, Ordering::SeqCst);
        let released = tokio::time::timeout(GIVE_BACK_TIMEOUT, self.store.interrupt(claim)).await;
        self.send(Event::JobInterrupted {
            key: claim.key.clone(),
            sweep: self.sweep(),
            epochs_done,
            cause: InterruptCause::StoreError,
            error: Some(e.to_string()),
            recorded: matches!(released, Ok(Ok(()))),
        });
        anyhow::Error::new(e).context(format!(
            "stopped: job {} could not be recorded and is left for another attempt (it resumes \
             from its last checkpoint)",
            claim.key
        ))
    }
}

/// Where `--save-weights DIR` puts job `key`'s weights.
fn weights_path(dir: &std::path::Path, key: &str) -> PathBuf {
    dir.join(format!("{key}.safetensors"))
}

/// Saves a finished job's weights as `DIR/KEY.safetensors` (written to a temporary file and
/// renamed, so a failed write leaves no partial file).
fn save_weights(
    network: &tune_model::Network,
    dir: &std::path::Path,
    key: &str,
) -> anyhow::Result<()> {
    let path = weights_path(dir, key);
    std::fs::create_dir_all(dir)
        .map_err(anyhow::Error::from)
        .and_then(|()| Ok(tune_model::checkpoint::save_weights(network, &path)?))
        .with_context(|| {
            format!(
                "the weights of job {key} were not saved to {} (its result is recorded)",
                path.display()
            )
        })
}

/// A lost lease is not an error for the loop: the job belongs to another worker now.
fn ignore_lost(r: Result<(), StoreError>) -> Result<(), StoreError> {
    match r {
        Err(e) if e.is_lease_lost() => Ok(()),
        other => other,
    }
}

/// Renews the claim's lease every third of its length; flags `lost` when the job is no longer ours.
fn spawn_heartbeat(
    store: Store,
    claim: Claim,
    lost: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = (claim.lease / 3).max(Duration::from_millis(200));
        loop {
            tokio::time::sleep(period).await;
            match store.heartbeat(&claim).await {
                Ok(()) => {}
                Err(e) if e.is_lease_lost() => {
                    lost.store(true, Ordering::SeqCst);
                    return;
                }
                Err(e) => tracing::warn!(key = %claim.key, "heartbeat failed: {e}"),
            }
        }
    })
}

/// A store error (other than a lost lease) while recording an epoch: it stops training, and the
/// runner takes it back from [`tune_model::Error::Observer`] by downcasting.
#[derive(Debug, thiserror::Error)]
#[error("recording epoch {epoch}: {source}")]
struct EpochNotRecorded {
    /// The epoch, from 1.
    epoch: usize,
    source: StoreError,
}

/// Connects the training loop (on a blocking thread) to the store and the run's events.
struct JobObserver {
    handle: Handle,
    store: Store,
    claim: Claim,
    sweep: Option<String>,
    stop: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
    events: Events,
    /// Halving: stop after this epoch (the rung's) and wait for the rung's decision.
    stop_at: Option<usize>,
}

impl Observer for JobObserver {
    fn start(&mut self, epochs: usize, batches_per_epoch: usize) {
        self.events.send(Event::TrainingStarted {
            key: self.claim.key.clone(),
            epochs,
            batches_per_epoch,
        });
    }

    fn batch(&mut self, epoch: usize, batch: usize) -> Flow {
        self.events.send(Event::BatchDone {
            key: self.claim.key.clone(),
            epoch,
            batch,
        });
        if self.stop.load(Ordering::Relaxed) || self.lost.load(Ordering::Relaxed) {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    fn epoch(&mut self, m: &EpochMetrics, state: &EpochEnd<'_>) -> tune_model::Result<Flow> {
        let checkpoint = state.checkpoint()?;
        let (store, claim) = (&self.store, &self.claim);
        let write = until_answered(&claim.key, "recording an epoch", || {
            store.record_epoch(claim, m, Some(&checkpoint))
        });
        match self.handle.block_on(write) {
            Ok(()) => {}
            Err(e) if e.is_lease_lost() => {
                self.lost.store(true, Ordering::SeqCst);
                return Ok(Flow::Stop);
            }
            Err(source) => {
                return Err(tune_model::Error::Observer(Box::new(EpochNotRecorded {
                    epoch: m.epoch,
                    source,
                })));
            }
        }
        self.events.send(Event::EpochDone {
            key: self.claim.key.clone(),
            sweep: self.sweep.clone(),
            epoch: m.epoch,
            metrics: m.clone(),
        });
        let at_rung = self.stop_at.is_some_and(|s| m.epoch >= s);
        Ok(if self.stop.load(Ordering::SeqCst) || at_rung {
            Flow::Stop
        } else {
            Flow::Continue
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    const WINDOW: Duration = Duration::from_millis(400);
    const PAUSE: Duration = Duration::from_millis(20);

    fn unreachable() -> StoreError {
        StoreError::Query {
            what: "recording an epoch",
            source: sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::HostUnreachable)),
        }
    }

    fn lease_lost() -> StoreError {
        StoreError::LeaseLost {
            key: "k".into(),
            worker_id: "w".into(),
            attempt: 1,
        }
    }

    /// A statement that fails unreachable `failures` times, then answers `answer()`; counts its
    /// tries in `tries`.
    async fn flaky(
        tries: &AtomicUsize,
        failures: usize,
        answer: impl Fn() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let n = tries.fetch_add(1, Ordering::SeqCst);
        if n < failures {
            Err(unreachable())
        } else {
            answer()
        }
    }

    #[tokio::test]
    async fn a_statement_without_an_answer_is_tried_until_the_database_answers() {
        let tries = AtomicUsize::new(0);
        let r = retry_unreachable(WINDOW, PAUSE, "k", "w", || flaky(&tries, 3, || Ok(()))).await;
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(tries.load(Ordering::SeqCst), 4);

        // The answer decides: a lease lost meanwhile is the result, not the cut.
        let tries = AtomicUsize::new(0);
        let r = retry_unreachable(WINDOW, PAUSE, "k", "w", || {
            flaky(&tries, 2, || Err(lease_lost()))
        })
        .await;
        assert!(r.is_err_and(|e| e.is_lease_lost()));
        assert_eq!(tries.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_refusal_is_returned_at_once() {
        let tries = AtomicUsize::new(0);
        let refused = || {
            Err(StoreError::Query {
                what: "recording an epoch",
                source: sqlx::Error::RowNotFound,
            })
        };
        let r = retry_unreachable(WINDOW, PAUSE, "k", "w", || flaky(&tries, 0, refused)).await;
        assert!(r.is_err_and(|e| !e.is_unreachable()));
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn after_the_window_the_last_error_or_no_answer_is_returned() {
        let tries = AtomicUsize::new(0);
        let started = std::time::Instant::now();
        let r = retry_unreachable(WINDOW, PAUSE, "k", "w", || {
            flaky(&tries, usize::MAX, || Ok(()))
        })
        .await;
        assert!(r.is_err_and(|e| e.is_unreachable()));
        assert!(
            started.elapsed() >= WINDOW - PAUSE,
            "{:?}",
            started.elapsed()
        );
        assert!(tries.load(Ordering::SeqCst) > 2);

        // A try that never answers ends with the window.
        let started = std::time::Instant::now();
        let r: Result<(), StoreError> =
            retry_unreachable(WINDOW, PAUSE, "k", "recording an epoch", || {
                std::future::pending()
            })
            .await;
        let e = r.unwrap_err();
        assert!(e.is_unreachable(), "{e}");
        assert!(e.to_string().contains("recording an epoch"), "{e}");
        assert!(started.elapsed() >= WINDOW, "{:?}", started.elapsed());
    }
}
