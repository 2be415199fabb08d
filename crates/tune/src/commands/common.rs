//! Pieces several commands share: opening the store, sizing concurrency, formatting.

use crate::cli::ConcurrencyArgs;
use crate::exit_codes::TuneExitCode;
use crate::runner::WorkSummary;
use anyhow::Context;
use std::process::ExitCode;
use std::time::Duration;
use tune_model::Kernels;
use tune_report::{Format, TableData};
use tune_store::{BackendKind, StatusCounts, Store, StoreError};

/// How a command that trains ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Every job finished.
    Success,
    /// Some jobs failed, in this run or earlier ones (exit code 1).
    Failures,
    /// Every job finished, but weight files could not be written (exit code 69).
    WeightsMissing,
    /// Stopped by Ctrl-C, SIGTERM or SIGHUP (exit code 130).
    Interrupted,
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> ExitCode {
        ExitCode::from(match self {
            ExitStatus::Success => TuneExitCode::OK,
            ExitStatus::Failures => TuneExitCode::JOBS_FAILED,
            ExitStatus::WeightsMissing => TuneExitCode::UNAVAILABLE,
            ExitStatus::Interrupted => TuneExitCode::INTERRUPTED,
        })
    }
}

/// A multi-threaded tokio runtime: tokio orchestrates, training runs on blocking threads.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Opens the results database for a command that writes: creates it if missing and brings its
/// schema up to date, but refuses a database that is not tune's before changing anything.
pub async fn open_store(db: &str) -> anyhow::Result<Store> {
    refuse_in_memory(db)?;
    Ok(Store::open(db).await?)
}

/// An in-memory SQLite database (`sqlite::memory:`, `mode=memory`) lives as long as one command:
/// results trained into it would be lost, and a reader would find nothing. Refused (exit 2).
fn refuse_in_memory(db: &str) -> anyhow::Result<()> {
    if db.starts_with("sqlite:") && (db.contains(":memory:") || db.contains("mode=memory")) {
        anyhow::bail!(
            "--db {db}: an in-memory database is gone when the command ends, so its results \
             would be lost; name a file instead, e.g. --db results/results.db"
        );
    }
    Ok(())
}

/// Opens an existing results database for a command that only reads: read-only, never created,
/// never migrated (works on read-only media).
/// A database a newer tune wrote is read, with a warning on stderr naming the migrations this
/// tune does not know.
pub async fn open_reader(db: &str) -> anyhow::Result<Store> {
    refuse_in_memory(db)?;
    let store = Store::open_read_only(db).await?;
    if let newer @ [_, ..] = store.newer_schema() {
        eprintln!(
            "warning: {}: a newer tune wrote this database (schema migration{} {} unknown to \
             tune {}): what this tune reads may leave out what that one records; use the newer \
             tune",
            store.target(),
            if newer.len() == 1 { "" } else { "s" },
            newer
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            env!("CARGO_PKG_VERSION")
        );
    }
    Ok(store)
}

/// Takes the exclusive lock on `file` without waiting for another trainer: `false` when one
/// holds it. A reader (`tune serve`) may hold a shared lock for an instant to see whether anyone
/// trains (`Store::training_lock_held`), so a taken lock is tried again for a little while.
async fn take_lock(file: &std::fs::File) -> bool {
    for _ in 0..LOCK_TRIES {
        match file.try_lock() {
            Ok(()) => return true,
            Err(std::fs::TryLockError::WouldBlock) => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await
            }
            Err(std::fs::TryLockError::Error(_)) => return false,
        }
    }
    false
}

/// Tries of [`take_lock`], 20 ms apart.
const LOCK_TRIES: usize = 25;

/// The SQLite lock of [`lock_if_local`] and what it did with a killed run's jobs.
pub struct LocalLock {
    /// `DB.lock`, held until dropped (`None` on PostgreSQL).
    _file: Option<std::fs::File>,
    /// Jobs of a killed run marked failed because the kill was their last allowed attempt.
    pub given_up: usize,
}

/// On SQLite, takes `DB.lock` so that one process at a time trains into the file, then marks jobs
/// left running by a killed process as interrupted so that they run again now (or failed, when
/// that was their last allowed attempt). The lock is held until the returned value is dropped.
/// PostgreSQL needs no lock: leases handle workers.
pub async fn lock_if_local(store: &Store, db: &str) -> anyhow::Result<LocalLock> {
    let (Some(real), Some(path)) = (store.sqlite_file(), store.lock_file()) else {
        // PostgreSQL, or an in-memory SQLite database that no other process can reach.
        return Ok(LocalLock {
            _file: None,
            given_up: 0,
        });
    };
    // The lock belongs to the file, not to the name used: symbolic links, relative paths and
    // `sqlite:` URLs all resolve to one real path, and the lock file lies beside it (the store
    // refuses a file with a second hard link, another real path).
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot create the lock file {}", path.display()))?;
    if !take_lock(&file).await {
        // The database is busy, not wrong: "unavailable" (69), like a database that cannot be
        // reached.
        return Err(crate::exit_codes::Classified {
            code: crate::exit_codes::TuneExitCode::UNAVAILABLE,
            message: format!(
                "another tune process is training into {db} ({}; it holds {path}); wait for it, \
                 stop it, or pass a different --db (for several workers on one queue use \
                 PostgreSQL)",
                real.display(),
                path = path.display()
            ),
        }
        .into());
    }
    let released = store.interrupt_running(None).await?;
    if released.resumed > 0 {
        eprintln!(
            "{} left running by an earlier, killed run will start again",
            count(released.resumed as usize, "job")
        );
    }
    if released.failed > 0 {
        eprintln!(
            "{} killed on the last allowed attempt and marked failed (the reason is in the \
             jobs table's last_error; `tune run GRID --retry-failed` tries them again)",
            count(released.failed as usize, "job")
        );
    }
    Ok(LocalLock {
        _file: Some(file),
        given_up: released.failed as usize,
    })
}

/// Jobs at once and threads per job: by default their product is the machine's cores.
pub fn concurrency(args: &ConcurrencyArgs) -> (usize, usize) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (jobs, threads) = match (args.jobs, args.threads_per_job) {
        (Some(j), Some(t)) => (j.max(1), t.max(1)),
        (Some(j), None) => (j.max(1), (cores / j.max(1)).max(1)),
        (None, Some(t)) => ((cores / t.max(1)).max(1), t.max(1)),
        (None, None) => (cores, 1),
    };
    if jobs * threads > cores {
        tracing::warn!(
            "{jobs} jobs x {threads} threads = {} threads on {cores} cores: jobs will slow each other down",
            jobs * threads
        );
    }
    (jobs, threads)
}

/// The layer implementation chosen by `--stock`.
pub fn kernels(args: &ConcurrencyArgs) -> Kernels {
    Kernels::from_stock(args.stock)
}

/// Lease of a claim: long on a local SQLite file (a killed run is recovered through the lock
/// file), short on PostgreSQL so that a dead worker's job comes back soon.
pub fn lease(store: &Store) -> Duration {
    match store.backend() {
        BackendKind::Sqlite => Duration::from_secs(600),
        BackendKind::Postgres => Duration::from_secs(60),
    }
}

/// This machine's host name.
pub fn host() -> String {
    hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown-host".to_string())
}

/// Writes the closing line of a run or worker to `out` (stdout, or stderr when stdout carries
/// `--events`) and says how it ended.
pub fn finish_line(
    s: &WorkSummary,
    counts: &StatusCounts,
    elapsed: Duration,
    next: &str,
    out: &mut dyn std::io::Write,
) -> ExitStatus {
    let pruned = if counts.pruned > 0 {
        format!(", {} pruned by halving", counts.pruned)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{} done, {} failed, {} interrupted in {} ({} done{pruned}, {} waiting in the database); \
         see `{next}`",
        count(s.done, "job"),
        s.failed,
        s.interrupted,
        duration(elapsed),
        counts.done,
        counts.pending + counts.interrupted + counts.running + counts.waiting,
    );
    if s.lost > 0 {
        let _ = writeln!(
            out,
            "{} taken over by other workers after their lease ran out",
            count(s.lost, "job")
        );
    }
    // Failed jobs that this run did not try (failed in earlier runs) still leave the grid
    // unfinished: never a silent success.
    let failed_before = (counts.failed as usize).saturating_sub(s.failed);
    if failed_before > 0 {
        let (them, were) = if failed_before == 1 {
            ("it", "an earlier run and was")
        } else {
            ("them", "earlier runs and were")
        };
        let _ = writeln!(
            out,
            "{} failed in {were} skipped: the reason is in the jobs table's last_error (`tune \
             status`); `tune run GRID --retry-failed` trains {them} again",
            count(failed_before, "job")
        );
    }
    if s.weights_recovered > 0 {
        let _ = writeln!(
            out,
            "{} of earlier runs' jobs written from the results database",
            count(s.weights_recovered, "weight file")
        );
    }
    if s.weights_missing > 0 {
        let _ = writeln!(
            out,
            "{} missing (could not be written: disk full?); the weights are kept in the results \
             database, and the next run with --save-weights writes them",
            count(s.weights_missing, "weight file")
        );
    }
    // Stopped by a signal with work left (jobs waiting at a halving rung or not claimed yet)
    // though none was interrupted: the run did not finish. A stop with nothing left (a
    // following worker between grids) finished what there was.
    let left = counts.pending + counts.interrupted + counts.running + counts.waiting;
    if s.interrupted > 0 || (s.stopped && left > 0) {
        ExitStatus::Interrupted
    } else if s.failed > 0 || failed_before > 0 {
        ExitStatus::Failures
    } else if s.weights_missing > 0 {
        ExitStatus::WeightsMissing
    } else {
        ExitStatus::Success
    }
}

/// `1 job`, `2 jobs`, `13,310 jobs`, `2 classes` (one implementation, tune-spec's).
pub use tune_spec::count;

/// `1,030,218` (one implementation, tune-report's).
pub use tune_report::thousands;

/// Prints a listing (the dry run, `bench --grid`, `data list`) on stdout in `format`: the lines
/// `before` and `after` around `table`, as they are around a terminal table and as paragraphs
/// around a Markdown table. CSV and JSON print only the table's CSV, or `json` (else the table's
/// rows as JSON), so that stdout parses; their lines go to stderr.
pub fn print_listing(
    format: Format,
    table: &TableData,
    json: Option<serde_json::Value>,
    before: &[String],
    after: &[String],
) {
    let lines = |lines: &[String]| {
        for line in lines {
            match format {
                Format::Table | Format::Markdown => println!("{line}"),
                Format::Csv | Format::Json => eprintln!("{line}"),
            }
        }
    };
    lines(before);
    match format {
        Format::Table => print!("{}", table.render(format, None)),
        Format::Markdown => {
            if !before.is_empty() {
                println!();
            }
            print!("{}", table.render(format, None));
            if !after.is_empty() {
                println!();
            }
        }
        Format::Csv => print!("{}", table.to_csv()),
        Format::Json => print!(
            "{}",
            tune_report::table::to_json(&json.unwrap_or_else(|| table.to_json()))
        ),
    }
    lines(after);
}

/// `1h 02m`, `4m 05s`, `12s`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Refuses a `--data-dir` (or `TUNE_DATA_DIR`) that is not a directory before anything is
/// enqueued or trained: a typo must not fill the database with jobs failed for want of data.
pub fn check_data_dir(flag: Option<&std::path::Path>) -> anyhow::Result<()> {
    let env = tune_data::SearchEnv::from_env().data_dir;
    let (what, dir) = match (flag, env) {
        (Some(d), _) => ("--data-dir", d.to_path_buf()),
        (None, Some(d)) => (tune_data::DATA_DIR_VAR, d),
        (None, None) => return Ok(()),
    };
    if !dir.is_dir() {
        anyhow::bail!(
            "{what} {}: no such directory (nothing else is searched when it is given): name the \
             folder that holds the data set's four IDX files, or leave it out",
            dir.display()
        );
    }
    Ok(())
}

/// Opens an existing results database for a command that works on what is there (`worker`:
/// someone enqueued the jobs; `migrate`: there is a schema to upgrade), like [`open_store`] but
/// without creating anything: a wrong SQLite path must not quietly create an empty database, so a
/// missing file is refused (exit 2) with `how` to fix it.
pub async fn open_existing(db: &str, command: &str, how: &str) -> anyhow::Result<Store> {
    refuse_in_memory(db)?;
    match Store::open_existing(db).await {
        Err(StoreError::Missing { .. }) => {
            anyhow::bail!("tune {command}: no results database at {db}; {how}")
        }
        opened => Ok(opened?),
    }
}

/// Reads and expands a grid file, decoding the data sets of its own that its jobs use (once per
/// run, see [`crate::runner::decode_user`]); a data set that cannot be read is a grid error
/// naming the file, the table and the data file.
/// A grid's own data set that no job uses is named in a warning (its files are not read; the
/// grid parser has checked that they exist, as for every table).
pub fn load_grid(path: &std::path::Path) -> anyhow::Result<tune_grid::Grid> {
    let grid = tune_grid::load_with(path, &mut |name, spec| {
        crate::runner::decode_user(name, spec)
            .map(|(user, _)| user)
            .map_err(|e| crate::exit_codes::message(&e))
    })?;
    for d in grid.unused_datasets() {
        eprintln!(
            "warning: {}: no job uses [datasets.{}] (no `dataset = \"{}\"` in [fixed] or \
             [axes]), so its files are not read (only checked to exist); use it or remove the table",
            d.at, d.name, d.name
        );
    }
    Ok(grid)
}

/// A grid's own data set `d`, decoded (from tune's cache of decoded data sets when that is
/// current), for `tune data list --grid`. A data set that cannot be read is the grid error
/// `tune run` gives for it ([`tune_grid::GridDataset::read_with`]: `FILE:LINE:COLUMN: data set
/// ...`, exit 2).
pub fn decode_grid_dataset(
    d: &tune_grid::GridDataset,
) -> anyhow::Result<tune_data::DecodedDataset> {
    Ok(d.read_with(|_, spec| {
        let decoded = match tune_data::decoded_cache_dir() {
            Ok(dir) => tune_data::decode_cached(spec, &dir).map(|(d, _)| d),
            Err(_) => tune_data::decode(spec),
        };
        decoded.map_err(|e| crate::exit_codes::message(&e.into()))
    })?)
}

/// The data `tune train` and `tune bench` train on, from their data flags: a user's data set
/// (`--data`, checked by [`tune_spec::DataSpec::build`] as a grid's `[datasets.NAME]` table is,
/// named after its first path's file stem) with what jobs on it record, or the built-in
/// `--dataset` (checked against its canonical files unless `allow_unverified`). With
/// `need_test` false (`tune bench`, which trains only), `--test`/`--test-split` may be left out.
pub fn data_from_flags(
    args: &crate::cli::DataArgs,
    allow_unverified: bool,
    need_test: bool,
) -> anyhow::Result<(
    String,
    Option<tune_spec::UserData>,
    std::sync::Arc<tune_data::Dataset>,
)> {
    let Some(spec) = user_data_spec(args, need_test)? else {
        let data =
            crate::runner::load_checked(&args.dataset, args.data_dir.as_deref(), allow_unverified)?;
        return Ok((args.dataset.clone(), None, std::sync::Arc::new(data)));
    };
    let first = &spec.train[0];
    let name = first
        .file_stem()
        .or(first.file_name())
        .map_or_else(|| "data".to_string(), |s| s.to_string_lossy().into_owned());
    for path in spec.train.iter().chain(match &spec.test {
        tune_spec::TestSet::Paths(p) => p.iter(),
        tune_spec::TestSet::Split(_) => [].iter(),
    }) {
        if !path.exists() {
            // A symbolic link whose target is gone is there, but reads as missing.
            if let Ok(target) = std::fs::read_link(path) {
                anyhow::bail!(
                    "{} is a symbolic link to {}, which does not exist: fix the link, or give \
                     the path of your data set's files with --data (and --test)",
                    path.display(),
                    target.display()
                );
            }
            anyhow::bail!(
                "{} does not exist: give the path of your data set's files with --data (and \
                 --test)",
                path.display()
            );
        }
    }
    if !need_test && args.test.is_empty() && args.test_split.is_none() {
        // Training images only: the test split is never read, so no note about it.
        let decoded = match tune_data::decoded_cache_dir() {
            Ok(dir) => tune_data::decode_cached(&spec, &dir)?.0,
            Err(_) => tune_data::decode(&spec)?,
        };
        let user = decoded.user_data(spec);
        let data = std::sync::Arc::new(decoded.to_dataset(&name));
        return Ok((name, Some(user), data));
    }
    let (user, data) = crate::runner::decode_user(&name, &spec)?;
    Ok((name, Some(user), data))
}

/// The user's data set the flags describe, `None` without `--data`. Errors name the flag.
fn user_data_spec(
    args: &crate::cli::DataArgs,
    need_test: bool,
) -> anyhow::Result<Option<tune_spec::DataSpec>> {
    if args.data.is_empty() {
        return Ok(None);
    }
    let Some(format) = &args.data_format else {
        anyhow::bail!(
            "--data needs --data-format: csv (Kaggle), folder (one folder per class), idx or cifar"
        );
    };
    // Named as a grid file names them (see `tune_spec::resolve_data_path`).
    let resolve = |paths: &[std::path::PathBuf]| -> Vec<std::path::PathBuf> {
        paths
            .iter()
            .map(|p| tune_spec::resolve_data_path(p))
            .collect()
    };
    let (train, test_paths) = (resolve(&args.data), resolve(&args.test));
    let test = if test_paths.is_empty() && args.test_split.is_none() && !need_test {
        // Only the training images are used: the training files stand in as the test files.
        Some(train.clone())
    } else {
        (!test_paths.is_empty()).then_some(test_paths)
    };
    let flags = tune_spec::Spelling::Flags;
    tune_spec::DataSpec::build_as(
        flags,
        format,
        train,
        test,
        args.test_split,
        args.size,
        args.channels,
    )
    .map(Some)
    .map_err(|e| {
        let flag = match e.key {
            // Either one of them is missing.
            "test" if args.test.is_empty() => "--test (or --test-split)",
            key => flags.name(key),
        };
        anyhow::anyhow!("{flag}: {}", e.message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signal that arrives between jobs (one waiting at a halving rung, the next not claimed
    /// yet) interrupts no job, but the run did not finish: 130, not 0; with nothing left, 0.
    #[test]
    fn a_run_stopped_by_a_signal_exits_interrupted_though_no_job_was_interrupted() {
        let left = StatusCounts {
            pending: 2,
            waiting: 2,
            ..StatusCounts::default()
        };
        let stopped = WorkSummary {
            stopped: true,
            ..WorkSummary::default()
        };
        let mut out = Vec::new();
        let status = finish_line(&stopped, &left, Duration::from_secs(2), "x", &mut out);
        assert_eq!(status, ExitStatus::Interrupted);
        // Without the signal the same summary is a finished loop.
        let all_done = StatusCounts {
            done: 4,
            ..StatusCounts::default()
        };
        let status = finish_line(
            &WorkSummary::default(),
            &all_done,
            Duration::from_secs(2),
            "x",
            &mut out,
        );
        assert_eq!(status, ExitStatus::Success);
        // Stopped with nothing left to do (a following worker between grids): success.
        let status = finish_line(&stopped, &all_done, Duration::from_secs(2), "x", &mut out);
        assert_eq!(status, ExitStatus::Success);
    }
}
