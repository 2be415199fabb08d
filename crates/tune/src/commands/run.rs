//! `tune run`: expand a grid, queue its jobs in the store, and train them.

use crate::cli::{RunArgs, Shard};
use crate::commands::common::{self, ExitStatus, count};
use crate::events;
use crate::progress::RunProgress;
use crate::runner::{self, WorkOptions};
use crate::throughput::{self, Basis, Cache};
use anyhow::{Context, bail};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tune_report::{Align, Cell, Column, Field, Format, Style, TableData};
use tune_spec::{JobSpec, ModelSpec, Validation};
use tune_store::{HalvingPlan, JobStatus, JobStatusRow, NewSweep, Store};

/// Most jobs one run may expand to, whatever multiplies them (axes, sections, `--repeats`).
pub const MAX_JOBS: usize = tune_grid::MAX_COMBINATIONS;

/// Above this many jobs a dry run prints a summary instead of every row, and a real run needs
/// `--large` to enqueue them.
pub const LARGE_GRID: usize = 10_000;

/// Jobs written to the database per transaction when enqueuing.
const ENQUEUE_BATCH: usize = 5_000;

/// Wall time allowed for the automatic calibration of a dry run.
const CALIBRATION_BUDGET: Duration = Duration::from_secs(120);

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let grid = common::load_grid(&args.grid)?;
    let repeats = args.repeats.or(grid.repeats).unwrap_or(1);
    let configurations = grid.jobs.len();
    let total = configurations
        .checked_mul(repeats)
        .filter(|&n| n <= MAX_JOBS)
        .with_context(|| {
            let (given, lower) = if args.repeats.is_some() {
                ("--repeats", "--repeats")
            } else {
                ("repeats", "`repeats` in the grid file")
            };
            format!(
                "{}: {} x {given} {} = {} jobs, more than the limit of {}: lower {lower} or \
                 split the grid",
                args.grid.display(),
                common::count(configurations, "job"),
                repeats,
                configurations
                    .checked_mul(repeats)
                    .map_or_else(|| "too many".to_string(), |n| common::thousands(n as u64)),
                common::thousands(MAX_JOBS as u64)
            )
        })?;
    let mut jobs = tune_grid::with_repeats(&grid.jobs, repeats);
    let mut what = format!("{}: {}", args.grid.display(), common::count(total, "job"));
    if jobs.len() < total {
        what.push_str(&format!(
            " ({} after dropping repeats equal to another job)",
            jobs.len()
        ));
    }
    if let Some(Shard { index, count: n }) = args.shard {
        if grid.search != tune_grid::Search::Grid {
            bail!(
                "{}: --shard cannot split a halving grid (its rungs compare every job of the \
                 grid); run it whole, or on PostgreSQL with `tune worker`s",
                args.grid.display()
            );
        }
        jobs = tune_grid::shard(&jobs, index - 1, n);
        what.push_str(&format!(
            ", {} in shard {index}/{n}",
            count(jobs.len(), "job")
        ));
    }
    let (slots, threads) = common::concurrency(&args.concurrency);
    let plan = crate::halving::store_plan(&grid.search, jobs.first().map_or(0, |j| j.train.epochs));
    // A halving sweep's decisions are about the data they ranked: other content of the grid's
    // own data sets is another sweep.
    let data_versions: BTreeSet<String> = if plan.is_some() {
        jobs.iter()
            .filter_map(|j| {
                let d = j.train.data.as_ref()?;
                Some(format!("{}={}", j.train.dataset, d.sha256))
            })
            .collect()
    } else {
        BTreeSet::new()
    };
    let sweep = NewSweep {
        name: grid.name.clone(),
        grid_text: grid.source_text.clone(),
        host: common::host(),
        tune_version: env!("CARGO_PKG_VERSION").to_string(),
        data_versions: data_versions.into_iter().collect::<Vec<_>>().join(";"),
    };
    common::check_data_dir(args.data_dir.as_deref())?;
    check_split_sizes(&args.grid, &jobs, args.data_dir.as_deref())?;
    if args.dry_run {
        let data = DataVersions::of(&grid.jobs);
        dry_run(
            &args,
            &what,
            &sweep,
            &jobs,
            &data,
            slots,
            threads,
            plan.as_ref(),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("{what}");
    if jobs.len() > LARGE_GRID && !args.large {
        bail!(
            "{} has {} jobs, more than {}: check it with `tune run {} --dry-run`, then pass \
             --large to enqueue them",
            args.grid.display(),
            common::thousands(jobs.len() as u64),
            common::thousands(LARGE_GRID as u64),
            args.grid.display()
        );
    }
    if let Some(dir) = &args.concurrency.save_weights {
        std::fs::create_dir_all(dir).with_context(|| {
            format!(
                "--save-weights: cannot create the directory {}",
                dir.display()
            )
        })?;
    }
    let labels = tune_report::varying_settings(jobs.iter());
    let data = DataVersions::of(&grid.jobs);
    let rt = common::runtime()?;
    rt.block_on(async {
        let store = common::open_store(&args.db.db).await?;
        // Whatever ends the run (also an error), the database is closed: its write-ahead log is
        // folded into the file, which alone then holds everything (see `Store::close`).
        let result = train_grid(&args, &store, &sweep, &jobs, &data, plan.as_ref(), labels).await;
        store.close().await;
        result
    })
    .map(ExitStatus::code)
    .context("tune run")
}

/// The content hash of each user's data set of a grid as its files are now, by name.
///
/// A grid whose files changed keeps its sweep (its text is the same), and the jobs of the earlier
/// content stay in it, under other keys (the hash is part of a job's key): those jobs are kept
/// (their results stay in reports, as `NAME@HASH8`) but are no longer part of the grid: never
/// counted in its summary or exit code, claimed or retried.
struct DataVersions(HashMap<String, String>);

impl DataVersions {
    /// The versions the jobs of a grid's expansion train on.
    fn of(jobs: &[JobSpec]) -> Self {
        DataVersions(
            jobs.iter()
                .filter_map(|j| {
                    let user = j.train.data.as_ref()?;
                    Some((j.train.dataset.clone(), user.sha256.clone()))
                })
                .collect(),
        )
    }

    /// The current content hash of the data set `job` trains on, if `job` trains on an earlier
    /// version of a user's data set of the grid (`None`: it trains on the current one, or on a
    /// built-in data set).
    fn newer(&self, job: &JobSpec) -> Option<&str> {
        let user = job.train.data.as_ref()?;
        self.0
            .get(&job.train.dataset)
            .map(String::as_str)
            .filter(|now| *now != user.sha256)
    }
}

/// Enqueues `jobs` into `store` and trains what is left of them; the body of `tune run`. Jobs
/// of the sweep on an earlier version of a user's data set (`data`) are left out of everything
/// but one line of the header; those still queued are marked failed first, with the reason, so
/// that no worker claims them (they would only fail on the changed files).
#[allow(clippy::too_many_arguments)]
async fn train_grid(
    args: &RunArgs,
    store: &tune_store::Store,
    sweep: &NewSweep,
    jobs: &[JobSpec],
    data: &DataVersions,
    plan: Option<&HalvingPlan>,
    labels: Vec<Field>,
) -> anyhow::Result<ExitStatus> {
    {
        let lock = common::lock_if_local(store, &args.db.db).await?;
        let (sweep_id, added) = enqueue(store, sweep, jobs, plan).await?;
        let all = store.jobs_of_sweep(&sweep_id).await?;
        let retire: Vec<(String, String, String)> = all
            .iter()
            .filter(|j| {
                matches!(
                    j.status,
                    JobStatus::Pending
                        | JobStatus::Interrupted
                        | JobStatus::Waiting
                        | JobStatus::Failed
                )
            })
            .filter_map(|j| {
                let now = data.newer(&j.spec)?;
                let then = j.spec.train.data.as_ref()?;
                Some((
                    j.key.clone(),
                    format!(
                        "data set `{}` changed before this job {}: the job is for content \
                         hash {}, the grid's files now have {now}; `tune run {}` queued the jobs \
                         of the data as it is now (this one is kept, not trained further)",
                        j.spec.train.dataset,
                        if j.epochs_done > 0 {
                            format!(
                                "finished (it stopped after epoch {} of {})",
                                j.epochs_done, j.spec.train.epochs
                            )
                        } else {
                            "trained".to_string()
                        },
                        then.sha256,
                        args.grid.display()
                    ),
                    now.to_string(),
                ))
            })
            .collect();
        if !retire.is_empty() {
            store.retire_jobs(&retire).await?;
        }
        // Jobs set aside when the files changed whose data the files hold again.
        let restore: Vec<String> = all
            .iter()
            .filter(|j| j.status == JobStatus::Superseded && data.newer(&j.spec).is_none())
            .map(|j| j.key.clone())
            .collect();
        if !restore.is_empty() {
            store.restore_jobs(&restore).await?;
        }
        if args.retry_failed {
            // Only the grid's jobs as it is now: one of an earlier version of its data would
            // fail again on the changed files.
            let failed: Vec<String> = all
                .iter()
                .filter(|j| {
                    matches!(j.status, JobStatus::Failed | JobStatus::Superseded)
                        && data.newer(&j.spec).is_none()
                })
                .map(|j| j.key.clone())
                .collect();
            let n = store.retry_failed_jobs(&failed).await?;
            if n > 0 {
                eprintln!("{} put back in the queue", count(n as usize, "failed job"));
            }
        }
        let (earlier, remaining): (Vec<JobStatusRow>, Vec<JobStatusRow>) = store
            .jobs_of_sweep(&sweep_id)
            .await?
            .into_iter()
            .partition(|j| data.newer(&j.spec).is_some());
        if !args.enqueue {
            check_data(
                store,
                &remaining,
                args.data_dir.as_deref(),
                &args.db.db,
                args.allow_unverified,
            )
            .await?;
        }
        let mut what = header(&remaining, added);
        if !earlier.is_empty() {
            let mut by_state = tune_store::StatusCounts::default();
            for j in &earlier {
                by_state.add(j.status, 1);
            }
            let states: Vec<String> = JobStatus::ALL
                .iter()
                .filter(|&&st| by_state.get(st) > 0)
                .map(|&st| format!("{} {st}", by_state.get(st)))
                .collect();
            what.push_str(&format!(
                "; {} more of an earlier version of the data ({}: kept, not counted; `tune data \
                 list --grid {}` shows the current hash)",
                earlier.len(),
                states.join(", "),
                args.grid.display()
            ));
        }
        eprintln!("sweep {sweep_id}: {what}; database {}", store.target());
        if args.enqueue {
            // A failed job is not queued: a worker would not train it, and the grid is not
            // finished while it is failed (exit 1, as a run that skips it).
            let failed = remaining
                .iter()
                .filter(|j| j.status == JobStatus::Failed)
                .count();
            let queued = remaining.len() - failed;
            let failed_note = if failed > 0 {
                format!(
                    "; {} failed earlier and not queued (`tune run {} --enqueue --retry-failed` \
                     queues them again)",
                    count(failed, "job"),
                    args.grid.display()
                )
            } else {
                String::new()
            };
            println!(
                "enqueued {} ({} new) in sweep {sweep_id}{failed_note}; start `tune worker --db \
                 ...` to train them",
                count(queued, "job"),
                common::thousands(added as u64)
            );
            return anyhow::Ok(if failed > 0 {
                ExitStatus::Failures
            } else {
                ExitStatus::Success
            });
        }
        let todo: Vec<_> = remaining
            .iter()
            .filter(|j| !j.status.is_terminal())
            .collect();
        let epochs: u64 = todo
            .iter()
            .map(|j| j.spec.train.epochs.saturating_sub(j.epochs_done as usize) as u64)
            .sum();
        let progress =
            RunProgress::new(todo.len(), epochs, args.concurrency.quiet).with_labels(labels);
        let started = Instant::now();
        let opts = WorkOptions::new(
            &args.concurrency,
            args.data_dir.as_deref(),
            args.allow_unverified,
            Some(sweep_id.clone()),
            common::lease(store),
        );
        let subscribers = events::subscribers(&progress, args.events);
        let (mut summary, deferred) = runner::work(store.clone(), opts, subscribers)
            .await
            .map_err(|e| {
                if e.is::<tune_data::DataError>() {
                    progress.finish();
                    let message = format!(
                        "{}\nOnce the data is in place, `tune run {} --retry-failed` trains \
                         the jobs marked failed for want of it.",
                        crate::exit_codes::message(&e),
                        args.grid.display()
                    );
                    crate::exit_codes::Classified::new(&e, message).into()
                } else {
                    e
                }
            })?;
        progress.finish();
        summary.failed += lock.given_up;
        // The grid's jobs only: those of an earlier version of its data are not counted.
        let mut counts = tune_store::StatusCounts::default();
        for j in store.jobs_of_sweep(&sweep_id).await? {
            if data.newer(&j.spec).is_none() {
                counts.add(j.status, 1);
            }
        }
        let status = common::finish_line(
            &summary,
            &counts,
            started.elapsed(),
            "tune report --by layers",
            &mut events::summary_out(args.events),
        );
        // The error that ended the run after the work it could do: its exit code wins.
        match deferred {
            Some(e) => Err(e),
            None => Ok(status),
        }
    }
}

/// Refuses data that is not the canonical data set of its name (unless `allow_unverified`), and
/// refuses to continue a grid on other data than its finished (or partly trained) jobs were
/// trained on: a finished job does not count as finished for different data, and its epochs are
/// not continued on it. Data that cannot be found is left to the runner, which says how to get it.
async fn check_data(
    store: &tune_store::Store,
    jobs: &[JobStatusRow],
    data_dir: Option<&std::path::Path>,
    db: &str,
    allow_unverified: bool,
) -> anyhow::Result<()> {
    // Data that is not the canonical data set of its name is refused before any job starts
    // (unless --allow-unverified).
    // Users' data sets are identified by the content hash in their jobs' keys.
    let needed: BTreeSet<&str> = jobs
        .iter()
        .filter(|j| !j.status.is_terminal())
        .filter(|j| j.spec.train.data.is_none())
        .map(|j| j.spec.train.dataset.as_str())
        .collect();
    for dataset in needed {
        let (name, dir) = (dataset.to_string(), data_dir.map(|d| d.to_path_buf()));
        if let Ok(id) =
            tokio::task::spawn_blocking(move || runner::identify_data(&name, dir.as_deref()))
                .await?
        {
            runner::check_verified(dataset, &id, allow_unverified)?;
        }
    }
    let recorded = store.data_identities().await?;
    let mut by_dataset: BTreeMap<&str, Vec<(&JobStatusRow, &str)>> = BTreeMap::new();
    for j in jobs {
        if let Some((sha, _)) = recorded.get(&j.key)
            && j.spec.train.data.is_none()
            && (j.status == JobStatus::Done || j.epochs_done > 0)
        {
            by_dataset
                .entry(j.spec.train.dataset.as_str())
                .or_default()
                .push((j, sha.as_str()));
        }
    }
    for (dataset, trained) in by_dataset {
        let (name, dir) = (dataset.to_string(), data_dir.map(|d| d.to_path_buf()));
        let id =
            match tokio::task::spawn_blocking(move || runner::identify_data(&name, dir.as_deref()))
                .await?
            {
                Ok(id) => id,
                Err(_) => continue,
            };
        let other: Vec<&(&JobStatusRow, &str)> = trained
            .iter()
            .filter(|(_, sha)| *sha != id.identity.sha256)
            .collect();
        if other.is_empty() {
            continue;
        }
        let hashes: BTreeSet<&str> = other.iter().map(|(_, sha)| *sha).collect();
        let finished = other
            .iter()
            .filter(|(j, _)| j.status == JobStatus::Done)
            .count();
        anyhow::bail!(
            "{} jobs of this grid in {db} ({finished} finished) were trained on `{dataset}` data \
             with SHA-256 {}, but the `{dataset}` data at hand ({}) has SHA-256 {}{}: results of \
             different data are never mixed, so nothing was trained. Train into another \
             database (e.g. --db results/{dataset}-{}.db), or point --data-dir at the data \
             these results came from",
            other.len(),
            hashes.into_iter().collect::<Vec<_>>().join(", "),
            id.dir.display(),
            id.identity.sha256,
            if id.identity.verified {
                " (the canonical files)"
            } else {
                ""
            },
            &id.identity.sha256[..8]
        );
    }
    Ok(())
}

/// Adds the jobs to the store in batches of [`ENQUEUE_BATCH`], one transaction each, with
/// progress on stderr when there is more than one batch: an interrupted enqueue keeps whole
/// batches, and enqueuing again completes it. Returns the sweep's id and the jobs that were new.
async fn enqueue(
    store: &Store,
    sweep: &NewSweep,
    jobs: &[JobSpec],
    plan: Option<&HalvingPlan>,
) -> anyhow::Result<(String, usize)> {
    let mut added = 0;
    let mut sweep_id = sweep.id();
    let batches = jobs.len().div_ceil(ENQUEUE_BATCH).max(1);
    for (b, batch) in jobs.chunks(ENQUEUE_BATCH).enumerate() {
        let report = store
            .enqueue_with_plan(sweep, batch, b * ENQUEUE_BATCH, plan)
            .await?;
        added += report.jobs_added;
        sweep_id = report.sweep_id;
        if batches > 1 {
            eprintln!(
                "enqueued {} of {} jobs",
                common::thousands((b * ENQUEUE_BATCH + batch.len()) as u64),
                common::thousands(jobs.len() as u64)
            );
        }
    }
    if jobs.is_empty() {
        sweep_id = store
            .enqueue_with_plan(sweep, jobs, 0, plan)
            .await?
            .sweep_id;
    }
    Ok((sweep_id, added))
}

/// What a run is about to do with every job of its sweep: `6 jobs: 2 new, 1 to resume from its
/// checkpoint (epoch 2 of 4), 3 already done`.
fn header(rows: &[JobStatusRow], added: usize) -> String {
    let mut done = 0;
    let mut failed = 0;
    let mut running = 0;
    let mut waiting = 0;
    let mut resume = Vec::new();
    let (mut at_rung, mut pruned, mut superseded) = (0, 0, 0);
    for r in rows {
        match r.status {
            JobStatus::Done => done += 1,
            JobStatus::Waiting => at_rung += 1,
            JobStatus::Pruned => pruned += 1,
            JobStatus::Failed => failed += 1,
            JobStatus::Superseded => superseded += 1,
            JobStatus::Running => running += 1,
            JobStatus::Pending | JobStatus::Interrupted if r.epochs_done > 0 => resume.push(r),
            JobStatus::Pending | JobStatus::Interrupted => waiting += 1,
        }
    }
    let mut parts = Vec::new();
    let fresh = waiting.min(added);
    if fresh > 0 {
        parts.push(format!("{fresh} new"));
    }
    if waiting > fresh {
        parts.push(format!("{} waiting from an earlier run", waiting - fresh));
    }
    match resume.as_slice() {
        [] => {}
        [one] => parts.push(format!(
            "1 to resume from its checkpoint (epoch {} of {})",
            one.epochs_done, one.spec.train.epochs
        )),
        many => parts.push(format!("{} to resume from their checkpoints", many.len())),
    }
    if at_rung > 0 {
        parts.push(format!("{at_rung} waiting at a halving rung"));
    }
    if done > 0 {
        parts.push(format!("{done} already done"));
    }
    if pruned > 0 {
        parts.push(format!("{pruned} pruned by halving"));
    }
    if failed > 0 {
        parts.push(format!(
            "{failed} failed earlier and skipped (`--retry-failed` runs them again)"
        ));
    }
    if superseded > 0 {
        parts.push(format!(
            "{superseded} superseded (set aside when their data changed)"
        ));
    }
    if running > 0 {
        // On PostgreSQL a worker's claim holds until its lease runs out: the job of a killed
        // worker comes back to whoever claims next after that (within the lease's 60 s).
        parts.push(format!(
            "{running} claimed by another worker (if it was stopped, this run takes {} \
             back when {} lease runs out)",
            if running == 1 { "it" } else { "them" },
            if running == 1 { "its" } else { "their" },
        ));
    }
    format!("{}: {}", count(rows.len(), "job"), parts.join(", "))
}

/// Sizes of a data set's splits, and where they come from.
struct DataSize {
    train: usize,
    test: usize,
    source: String,
}

/// The sizes of a user's data set, decoded by this process for the grid.
fn user_size(name: &str, user: &tune_spec::UserData) -> Option<DataSize> {
    let d = runner::user_dataset(&user.sha256)?;
    let from = user.source.as_ref().and_then(|s| s.train.first());
    Some(DataSize {
        train: d.train.len,
        test: d.test.len,
        source: format!(
            "{name}: {} and {} of {}x{}x{}, {}, SHA-256 {}{}",
            common::count(d.train.len, "training image"),
            common::count(d.test.len, "test image"),
            user.input.height,
            user.input.width,
            user.input.channels,
            common::count(user.input.classes, "class"),
            &user.sha256[..16],
            from.map_or_else(String::new, |p| format!(", from {}", p.display()))
        ),
    })
}

/// The sizes of data set `name` as found on disk, else the canonical ones with a warning.
fn data_size(name: &str, data_dir: Option<&Path>) -> DataSize {
    found_size(name, data_dir).unwrap_or_else(|why| {
        eprintln!(
            "warning: the grid needs data set `{name}`, which is not here: {why}\n  the estimate \
             assumes its canonical 60,000 training and 10,000 test images; get it first (`tune \
             data fetch {name}`, or --data-dir DIR)"
        );
        DataSize {
            train: 60_000,
            test: 10_000,
            source: format!("{name}: canonical sizes (not found)"),
        }
    })
}

/// The sizes of data set `name` from its IDX headers (nothing else is read), or why they are not
/// known.
fn found_size(name: &str, data_dir: Option<&Path>) -> Result<DataSize, String> {
    let located = match tune_data::locate(name, data_dir) {
        Ok(l) => l,
        Err(e) => {
            let first = e.to_string();
            let searched = first.lines().skip(1).take_while(|l| l.starts_with("  "));
            let places: Vec<String> = searched.map(|l| l.trim().to_string()).collect();
            return Err(format!("searched {}", places.join("; ")));
        }
    };
    let dims = |file: &tune_data::FileInfo| {
        tune_data::data_file(&located.dir, file)
            .context("missing")
            .and_then(|p| Ok(tune_data::idx::read_image_dims(&p)?.0))
    };
    let Ok(info) = tune_data::info(name) else {
        return Err("unknown data set".into());
    };
    match (dims(info.train_images()), dims(info.test_images())) {
        (Ok(train), Ok(test)) => Ok(DataSize {
            train,
            test,
            source: format!(
                "{name}: {} training and {} test images in {}",
                common::thousands(train as u64),
                common::thousands(test as u64),
                located.dir.display()
            ),
        }),
        (Err(e), _) | (_, Err(e)) => Err(format!("{}: {e:#}", located.dir.display())),
    }
}

/// Refuses a grid whose jobs ask for more training images (`train_images`, after the holdout)
/// than their data set has, before anything is enqueued or trained: every distinct problem is
/// listed once with the grid file and the largest value that fits. Data sets that are not found
/// are left to the runner, which says how to get them.
fn check_split_sizes(grid: &Path, jobs: &[JobSpec], data_dir: Option<&Path>) -> anyhow::Result<()> {
    let mut sizes: BTreeMap<&str, Option<usize>> = BTreeMap::new();
    let mut problems: Vec<String> = Vec::new();
    for job in jobs {
        let name = job.train.dataset.as_str();
        let train = *sizes.entry(name).or_insert_with(|| match &job.train.data {
            Some(user) => user_size(name, user).map(|s| s.train),
            None => found_size(name, data_dir).ok().map(|s| s.train),
        });
        // An empty split is the loader's to name (with its file).
        let Some(train) = train.filter(|&n| n > 0) else {
            continue;
        };
        if let Err(e) = tune_model::split_sizes(job, name, train) {
            let e = e.to_string();
            let e = e.strip_prefix("data error: ").unwrap_or(&e).to_string();
            if !problems.contains(&e) {
                problems.push(e);
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(anyhow::anyhow!(
        "{}: {} of the grid cannot run on the data that is here, so nothing was enqueued:\n  {}\n\
             Change train_images (or validation) in the grid file and run it again.",
        grid.display(),
        if problems.len() == 1 {
            "a setting"
        } else {
            "settings"
        },
        problems.join("\n  ")
    ))
}

/// The state of each job of the sweep in the database, by key (empty when there is no database
/// or no such sweep yet). Reads only.
/// The state and recorded epochs of each job of `sweep` in the database (none when it does not
/// exist yet), and the states of its jobs on an earlier version of a user's data set of the grid
/// (`data`), which a run keeps apart.
fn known_states(
    db: &str,
    sweep: &NewSweep,
    data: &DataVersions,
) -> (HashMap<String, (JobStatus, u32)>, tune_store::StatusCounts) {
    if !db.contains("://") && !Path::new(db.trim_start_matches("sqlite:")).exists() {
        return Default::default();
    }
    let read = async {
        let store = common::open_reader(db).await?;
        let rows = match store.jobs_of_sweep(&sweep.id()).await {
            // A grid not run into this database yet (or a halving grid on other data, whose
            // sweep is another): every job is new.
            Err(tune_store::StoreError::UnknownSweep { .. }) => Vec::new(),
            rows => rows?,
        };
        let mut earlier = tune_store::StatusCounts::default();
        let mut states = HashMap::new();
        for r in rows {
            if data.newer(&r.spec).is_some() {
                earlier.add(r.status, 1);
            } else {
                states.insert(r.key, (r.status, r.epochs_done));
            }
        }
        anyhow::Ok((states, earlier))
    };
    match common::runtime().and_then(|rt| rt.block_on(read)) {
        Ok(states) => states,
        Err(e) => {
            eprintln!(
                "warning: cannot read the jobs' states from {db}, so every job is shown as new: \
                 {e:#}"
            );
            Default::default()
        }
    }
}

/// A dry run's view of one job.
struct Planned<'a> {
    job: &'a JobSpec,
    key: String,
    state: String,
    seconds: f64,
    basis: Basis,
    /// Estimated seconds of one epoch (training and validation).
    epoch_s: f64,
    /// Estimated seconds of the final evaluation on the test split.
    test_s: f64,
}

/// The lines and JSON of a halving grid's dry run: jobs and epochs per rung, training epochs
/// against the full grid's, and the estimated wall time. The estimate assumes every rung's
/// survivors train at the grid's mean speed per epoch (which configurations survive is not known
/// before they train) and that each rung waits for its last job; it is for the whole sweep,
/// whatever is already done. `full_wall` is the full grid's estimate.
fn halving_plan(
    plan: &HalvingPlan,
    planned: &[Planned<'_>],
    slots: usize,
    full_wall: f64,
) -> (Vec<String>, serde_json::Value) {
    let jobs: Vec<JobSpec> = planned.iter().map(|p| p.job.clone()).collect();
    let configs = crate::halving::configurations(&jobs);
    let seeds = if configs == 0 {
        0
    } else {
        jobs.len().div_ceil(configs)
    };
    let epochs = plan.rungs.last().copied().unwrap_or(0);
    let rungs = tune_grid::plan(configs, epochs, plan.min_epochs, plan.eta);
    let n = planned.len().max(1) as f64;
    let epoch_s = planned.iter().map(|p| p.epoch_s).sum::<f64>() / n;
    let test_s = planned.iter().map(|p| p.test_s).sum::<f64>() / n;
    let mut lines = vec![format!(
        "successive halving (eta {}, min_epochs {}): {} over {} of {}",
        plan.eta,
        plan.min_epochs,
        count(rungs.len(), "rung"),
        count(configs, "configuration"),
        count(seeds, "seed")
    )];
    let mut wall = 0.0;
    let mut json_rungs = Vec::new();
    for r in &rungs {
        let rung_jobs = r.configurations * seeds;
        let last = r.index + 1 == rungs.len();
        let t = r.new_epochs as f64 * epoch_s + if last { test_s } else { 0.0 };
        wall += schedule(&vec![t; rung_jobs], slots);
        lines.push(format!(
            "  rung {}: epoch {}, {} ({}) train {} more",
            r.index + 1,
            r.epoch,
            count(r.configurations, "configuration"),
            count(rung_jobs, "job"),
            count(r.new_epochs, "epoch"),
        ));
        json_rungs.push(serde_json::json!({
            "rung": r.index + 1,
            "epoch": r.epoch,
            "configurations": r.configurations,
            "jobs": rung_jobs,
            "new_epochs": r.new_epochs,
        }));
    }
    // `confirm`: more seeds of the last rung's best configurations, every epoch.
    // The last rung's planned size decides how many: exact unless jobs fail (fewer) or jobs
    // judged late join the last rung (more, up to `top` and the grid's configurations).
    let confirm = plan.confirm.map(|c| {
        let top = c.top.min(rungs.last().map_or(0, |r| r.configurations));
        let at_most = c.top.min(configs);
        let jobs = top * c.repeats;
        wall += schedule(&vec![epochs as f64 * epoch_s + test_s; jobs], slots);
        let more = if at_most > top {
            format!(
                "; up to {} ({}) if jobs judged late (--retry-failed) join the last rung",
                count(at_most, "configuration"),
                count(at_most * c.repeats, "job"),
            )
        } else {
            String::new()
        };
        lines.push(format!(
            "  then confirm: the best {} of the last rung (its planned size) with {} more each \
             ({}) train {} each ({} in all{more})",
            count(top, "configuration"),
            count(c.repeats, "seed"),
            count(jobs, "job"),
            count(epochs, "epoch"),
            count(jobs * epochs, "epoch"),
        ));
        serde_json::json!({
            "top": top,
            "top_at_most": at_most,
            "repeats": c.repeats,
            "jobs": jobs,
            "jobs_at_most": at_most * c.repeats,
            "epochs": jobs * epochs,
        })
    });
    let used = tune_grid::plan_epochs(&rungs) * seeds;
    let full = configs * seeds * epochs;
    let share = if full == 0 {
        0.0
    } else {
        used as f64 / full as f64
    };
    let with_confirm = match &confirm {
        Some(c) => format!(
            "; {} with confirm's {}",
            common::thousands(used as u64 + c["epochs"].as_u64().unwrap_or(0)),
            common::thousands(c["epochs"].as_u64().unwrap_or(0))
        ),
        None => String::new(),
    };
    lines.push(format!(
        "training epochs with halving: {} of the full grid's {} ({:.0}%){with_confirm}",
        common::thousands(used as u64),
        common::thousands(full as u64),
        share * 100.0
    ));
    lines.push(format!(
        "estimated wall time with halving: {} (the full grid: {}; survivors assumed at the \
         grid's mean speed)",
        common::duration(Duration::from_secs_f64(wall)),
        common::duration(Duration::from_secs_f64(full_wall))
    ));
    let json = serde_json::json!({
        "eta": plan.eta,
        "min_epochs": plan.min_epochs,
        "rungs": json_rungs,
        "epochs": used,
        "full_grid_epochs": full,
        "share": share,
        "wall_s": wall,
        "confirm": confirm,
    });
    (lines, json)
}

/// Prints `what` (the grid and its job count), the jobs (or, above [`LARGE_GRID`], a summary) with
/// their state and the time left, then the estimated wall time and where its figures come from,
/// in `--format`: CSV and JSON always one row per job, JSON with the estimate (see README.md,
/// "Estimates").
#[allow(clippy::too_many_arguments)]
fn dry_run(
    args: &RunArgs,
    what: &str,
    sweep: &NewSweep,
    jobs: &[JobSpec],
    data: &DataVersions,
    slots: usize,
    threads: usize,
    plan: Option<&HalvingPlan>,
) -> anyhow::Result<()> {
    let format: Format = args.format.into();
    match format {
        Format::Table => println!("{what}"),
        Format::Markdown => println!("{what}\n"),
        Format::Csv | Format::Json => eprintln!("{what}"),
    }
    let kernels = common::kernels(&args.concurrency);
    let kernels_name = kernels.name();
    let mut sizes: BTreeMap<String, DataSize> = BTreeMap::new();
    for job in jobs {
        if !sizes.contains_key(&job.train.dataset) {
            let name = &job.train.dataset;
            let size = match &job.train.data {
                Some(user) => user_size(name, user)
                    .unwrap_or_else(|| data_size(name, args.data_dir.as_deref())),
                None => data_size(name, args.data_dir.as_deref()),
            };
            sizes.insert(job.train.dataset.clone(), size);
        }
    }
    let (states, earlier) = known_states(&args.db.db, sweep, data);
    if earlier.total() > 0 {
        // What the run will do with them (see `train_grid`), said before it does it.
        let by_state: Vec<String> = JobStatus::ALL
            .iter()
            .filter(|&&st| earlier.get(st) > 0)
            .map(|&st| format!("{} {st}", earlier.get(st)))
            .collect();
        eprintln!(
            "note: the sweep has {} of an earlier version of the grid's data ({}): not shown \
             below; a run keeps the done ones' results apart (as NAME@HASH8 in reports) and sets \
             the unfinished ones aside as superseded; `tune data list --grid {}` shows the \
             current hash",
            count(earlier.total() as usize, "job"),
            by_state.join(", "),
            args.grid.display()
        );
    }

    // Architectures, most used first.
    let mut uses: HashMap<String, (usize, &ModelSpec)> = HashMap::new();
    for job in jobs {
        uses.entry(job.model.label()).or_insert((0, &job.model)).0 += 1;
    }
    let mut models: Vec<(usize, &ModelSpec)> = uses.into_values().collect();
    models.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.label().cmp(&b.1.label())));
    let models: Vec<ModelSpec> = models.into_iter().map(|(_, m)| m.clone()).collect();

    let mut cache = Cache::load();
    if args.recalibrate {
        cache.forget(&models, threads, kernels_name, slots);
    }
    if !args.no_calibrate {
        let missing = models
            .iter()
            .filter(|m| !cache.has_calibration(m, threads, kernels_name, slots))
            .count();
        if missing > 0 {
            let place = throughput::path().map_or_else(
                || "nowhere: no cache directory".into(),
                |p| p.display().to_string(),
            );
            eprintln!(
                "calibrating {} on this machine ({} x {} at once, about a second each, once; \
                 cached in {place}; --no-calibrate skips)",
                count(missing, "architecture"),
                count(slots, "job"),
                count(threads, "thread")
            );
            cache.calibrate(
                &models,
                threads,
                kernels,
                slots,
                CALIBRATION_BUDGET,
                &mut |i, m| eprintln!("  [{}/{missing}] {}", i + 1, m.label()),
            );
        }
    }

    let mut speeds = HashMap::new();
    let planned: Vec<Planned<'_>> = jobs
        .iter()
        .map(|job| {
            let key = job.key();
            // Figures for the job's image shape: measured on it by `tune bench`, else those of
            // 28x28x1 images scaled by FLOPs.
            let input = job.input_shape();
            let speed = *speeds.entry((job.model.label(), input)).or_insert_with(|| {
                cache.estimate_for(&job.model, threads, kernels_name, slots, &input)
            });
            let epochs = job.train.epochs;
            let (left, state) = match states.get(&key) {
                None => (epochs, "new".to_string()),
                Some((JobStatus::Done, _)) => (0, "done".to_string()),
                Some((JobStatus::Failed, _)) if !args.retry_failed => {
                    (0, "failed (skipped)".to_string())
                }
                // Set aside when the files changed, and the files hold its data again: a run
                // takes it back as a failed job, which only `--retry-failed` trains.
                Some((JobStatus::Superseded, _)) if !args.retry_failed => (
                    0,
                    "superseded, data back: failed (skipped; --retry-failed trains it)".to_string(),
                ),
                Some((JobStatus::Superseded, e)) => (
                    epochs.saturating_sub(*e as usize),
                    "superseded, data back: retried".to_string(),
                ),
                Some((JobStatus::Running, e)) => (
                    epochs.saturating_sub(*e as usize),
                    format!("running, {e}/{epochs} epochs"),
                ),
                Some((_, e)) if *e > 0 => (
                    epochs.saturating_sub(*e as usize),
                    format!("resumes at epoch {}", e + 1),
                ),
                Some((status, _)) => (epochs, status.to_string()),
            };
            let size = &sizes[&job.train.dataset];
            let available = job
                .train
                .train_images
                .map_or(size.train, |n| n.min(size.train));
            let (train, val) = match job.train.validation {
                Validation::Test => (available, size.test),
                Validation::Holdout(n) => (available.saturating_sub(n), n.min(available)),
            };
            let epoch_s = train as f64 / speed.train + val as f64 / speed.eval;
            let test_s = size.test as f64 / speed.eval;
            let seconds = if left == 0 {
                0.0
            } else {
                left as f64 * epoch_s + test_s
            };
            Planned {
                job,
                key,
                state,
                seconds,
                basis: speed.basis,
                epoch_s,
                test_s,
            }
        })
        .collect();

    let (before, table) =
        if jobs.len() <= LARGE_GRID || matches!(format, Format::Csv | Format::Json) {
            (Vec::new(), jobs_table(&planned))
        } else {
            large_summary(&planned)
        };

    // The slots take the jobs in the queue's order: the longest (in FLOPs) first.
    let costs: Vec<f64> = planned
        .iter()
        .map(|p| {
            let flops = p.job.model.train_flops_per_image(&p.job.input_shape());
            flops.unwrap_or(0.0) * p.job.train.epochs as f64
        })
        .collect();
    let mut queue: Vec<(usize, f64)> = tune_store::longest_first(&costs)
        .into_iter()
        .zip(planned.iter().map(|p| p.seconds))
        .filter(|&(_, s)| s > 0.0)
        .collect();
    queue.sort_by_key(|&(rank, _)| rank);
    let times: Vec<f64> = queue.into_iter().map(|(_, s)| s).collect();
    let wall = schedule(&times, slots);
    let finished = planned.len() - times.len();
    let mut after = vec![format!(
        "estimated wall time {} for {} left{} with {} x {}",
        common::duration(Duration::from_secs_f64(wall)),
        count(times.len(), "job"),
        if finished > 0 {
            format!(" ({} done or skipped)", common::thousands(finished as u64))
        } else {
            String::new()
        },
        count(slots, "job"),
        count(threads, "thread"),
    )];
    let mut bases: BTreeMap<Basis, usize> = BTreeMap::new();
    for p in planned.iter().filter(|p| p.seconds > 0.0) {
        *bases.entry(p.basis).or_default() += 1;
    }
    let mut from = Vec::new();
    for (&basis, &n) in &bases {
        from.push(match basis {
            Basis::Calibrated => format!(
                "{} from speeds calibrated on this machine ({} at once)",
                count(n, "job"),
                count(slots, "job")
            ),
            Basis::Measured => format!("{} from `tune bench` (one job at a time)", count(n, "job")),
            Basis::Scaled => format!(
                "{} scaled by FLOPs from the measured architecture nearest in FLOPs",
                count(n, "job")
            ),
            Basis::Assumed => format!(
                "{} from an assumed {} GFLOP/s per thread (nothing measured: drop --no-calibrate, \
                 or run `tune bench --grid {}`)",
                count(n, "job"),
                throughput::ASSUMED_GFLOPS,
                args.grid.display()
            ),
        });
    }
    if !from.is_empty() {
        let place =
            throughput::path().map_or_else(String::new, |p| format!("; cache {}", p.display()));
        after.push(format!("figures: {}{place}", from.join("; ")));
    }
    if let Some(busy) = cache.busiest_calibration(&models, threads, kernels_name, slots)
        && busy >= throughput::BUSY_CORES
    {
        eprintln!(
            "warning: other processes kept {busy:.1} CPU cores busy while these figures were \
             calibrated, so the estimate is too long; on an idle machine, `tune run {} --dry-run \
             --recalibrate` measures again",
            args.grid.display()
        );
    }
    let halving = plan.map(|p| halving_plan(p, &planned, slots, wall));
    if let Some((lines, _)) = &halving {
        after.extend(lines.iter().cloned());
    }
    for size in sizes.values() {
        after.push(format!("data: {}", size.source));
    }
    after.push(count(jobs.len(), "job"));
    let json = (format == Format::Json).then(|| {
        let figures: serde_json::Map<String, serde_json::Value> = bases
            .iter()
            .map(|(basis, &n)| (basis_name(*basis).to_string(), n.into()))
            .collect();
        let data: Vec<serde_json::Value> = sizes
            .iter()
            .map(|(name, size)| {
                serde_json::json!({
                    "dataset": name,
                    "train_images": size.train,
                    "test_images": size.test,
                    "source": size.source,
                })
            })
            .collect();
        let mut v = serde_json::json!({
            "grid": args.grid.display().to_string(),
            "jobs": table.to_json(),
            "wall_s": wall,
            "jobs_left": times.len(),
            "done_or_skipped": finished,
            "jobs_at_once": slots,
            "threads_per_job": threads,
            "figures": figures,
            "data": data,
        });
        if let Some((_, h)) = &halving {
            v["halving"] = h.clone();
        }
        v
    });
    common::print_listing(format, &table, json, &before, &after);
    Ok(())
}

/// The name of a figure's basis in the dry run's JSON.
fn basis_name(basis: Basis) -> &'static str {
    match basis {
        Basis::Calibrated => "calibrated",
        Basis::Measured => "measured",
        Basis::Scaled => "scaled",
        Basis::Assumed => "assumed",
    }
}

/// One row per job: index, key, architecture, the settings that vary (data set, epochs and seed
/// always), size, state and time left. Keys for CSV and JSON: `index`, `key`, `architecture`, the
/// settings' names, `params`, `mflop_per_image`, `state`, `est_seconds_left`.
fn jobs_table(planned: &[Planned<'_>]) -> TableData {
    let varying = tune_report::varying_settings(planned.iter().map(|p| p.job));
    let always = [Field::Dataset, Field::Epochs, Field::Seed];
    let mut settings = always.to_vec();
    settings.extend(varying.into_iter().filter(|f| !always.contains(f)));
    let left = Align::Left;
    let mut columns = vec![
        Column::new("#", "index", left),
        Column::new("job", "key", left),
        Column::named("architecture", left),
    ];
    columns.extend(settings.iter().map(|f| Column::named(f.name(), left)));
    columns.extend([
        Column::named("params", left),
        Column::new("MFLOP/image", "mflop_per_image", left),
        Column::named("state", left),
        Column::new("est. time left", "est_seconds_left", left),
    ]);
    let mut table = TableData::with_columns(columns).styled(Style::Borders);
    for (i, p) in planned.iter().enumerate() {
        let mut row = vec![
            Cell::new((i + 1).to_string(), (i + 1).to_string(), (i + 1).into()),
            Cell::text(p.key.clone()),
            Cell::text(p.job.model.label()),
        ];
        row.extend(settings.iter().map(|f| Cell::from(&f.value(p.job))));
        row.extend([
            Cell::int(p.job.model.params(&p.job.input_shape()).unwrap_or(0) as u64),
            Cell::num(
                Some(
                    p.job
                        .model
                        .train_flops_per_image(&p.job.input_shape())
                        .unwrap_or(0.0)
                        / 1e6,
                ),
                1,
            ),
            Cell::text(p.state.clone()),
            Cell::new(
                common::duration(Duration::from_secs_f64(p.seconds)),
                p.seconds.to_string(),
                p.seconds.into(),
            ),
        ]);
        table.rows.push(row);
    }
    table
}

/// For grids above [`LARGE_GRID`]: the lines on jobs by state, and a table of the architectures
/// taking the most time.
fn large_summary(planned: &[Planned<'_>]) -> (Vec<String>, TableData) {
    let mut states: BTreeMap<&str, usize> = BTreeMap::new();
    let mut archs: HashMap<String, (usize, f64)> = HashMap::new();
    for p in planned {
        let state = p.state.split([' ', ',']).next().unwrap_or("");
        *states.entry(state).or_default() += 1;
        let a = archs.entry(p.job.model.label()).or_default();
        a.0 += 1;
        a.1 += p.seconds;
    }
    let states: Vec<String> = states
        .into_iter()
        .map(|(s, n)| format!("{} {s}", common::thousands(n as u64)))
        .collect();
    let mut archs: Vec<(String, (usize, f64))> = archs.into_iter().collect();
    archs.sort_by(|a, b| b.1.1.total_cmp(&a.1.1).then_with(|| a.0.cmp(&b.0)));
    let lines = vec![
        format!(
            "more than {} jobs: a summary instead of one row per job",
            common::thousands(LARGE_GRID as u64)
        ),
        format!("jobs by state: {}", states.join(", ")),
        format!(
            "{}; {} taking the most time:",
            common::count(archs.len(), "architecture"),
            match archs.len() {
                1 => "the one".to_string(),
                n => format!("the {}", n.min(10)),
            }
        ),
    ];
    let mut table = TableData::with_columns(vec![
        Column::named("architecture", Align::Left),
        Column::new("jobs", "jobs", Align::Left),
        Column::new(
            "est. time left (one job after another)",
            "est_seconds_left",
            Align::Left,
        ),
    ])
    .styled(Style::Borders);
    for (label, (n, secs)) in archs.iter().take(10) {
        table.rows.push(vec![
            Cell::text(label.clone()),
            Cell::int(*n as u64),
            Cell::new(
                common::duration(Duration::from_secs_f64(*secs)),
                secs.to_string(),
                (*secs).into(),
            ),
        ]);
    }
    (lines, table)
}

/// Wall time of running jobs of the given durations in queue order on `slots` parallel slots.
fn schedule(times: &[f64], slots: usize) -> f64 {
    let mut free = vec![0.0f64; slots.max(1)];
    for t in times {
        let slot = free
            .iter_mut()
            .min_by(|a, b| a.total_cmp(b))
            .expect("at least one slot");
        *slot += t;
    }
    free.into_iter().fold(0.0, f64::max)
}
