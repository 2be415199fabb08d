//! The results store: sweeps, jobs, per-epoch metrics and results in SQLite or PostgreSQL.
//!
//! One [`Store`] type serves both back ends: [`Store::open`] takes `postgres://…` /
//! `postgresql://…` for PostgreSQL, and `sqlite:…` or a plain file path for SQLite (the file and its
//! directory are created on first use). The schema lives in `migrations/sqlite/` and
//! `migrations/postgres/` and is applied when the store opens for writing; before that, a database
//! that holds tables but not tune's schema is refused unchanged ([`StoreError::Foreign`]).
//! [`Store::open_read_only`] is for commands that only read: it never creates, migrates or writes
//! (SQLite opens the file read-only, as immutable on read-only media; PostgreSQL runs read-only
//! transactions). All SQL of the project lives in this
//! crate (its private `sql` module: one file per dialect); the rest of tune only sees typed rows
//! such as [`JobResult`], [`SweepRow`] and [`JobStatusRow`].
//!
//! # The job queue
//!
//! Jobs are keyed by [`JobSpec::key`], so the same job in two grids or two runs is one row.
//! [`Store::enqueue`] adds a sweep's jobs idempotently. Workers (the local `tune run` and any
//! number of `tune worker`s) call [`Store::claim`], which in one short transaction picks a pending
//! or interrupted job, or a running one whose lease expired, and marks it running with the worker
//! id, `attempt + 1` and a lease expiry computed by the database clock. Nothing is locked while a
//! job trains. Every later write ([`Store::heartbeat`], [`Store::record_epoch`],
//! [`Store::complete`], [`Store::fail`], [`Store::interrupt`]) names
//! the job, worker id and attempt in its `WHERE` clause, so a worker whose lease was taken over
//! writes nothing and gets [`StoreError::LeaseLost`]. A job whose lease expires on its
//! `max_attempts`-th attempt is marked failed by the next claim.
//!
//! # Recovering from `kill -9` on SQLite
//!
//! The rule: an SQLite database lives on one machine, and a local `tune run` holds a lock file
//! beside it, so when a run starts no earlier run can still be alive. Right after taking the lock,
//! the run calls [`Store::interrupt_running`] with the prefix of local runs' worker ids (ids are
//! `HOST:PID`, so the prefix is `HOST:`; if `tune worker`s on the same host share the file, give
//! runs ids of their own such as `run@HOST:PID` and pass `run@HOST:`). Every job a killed run left
//! `running` becomes `interrupted` at once, without waiting for its lease, and interrupted jobs are
//! claimed before pending ones, with the next attempt number; a job killed on its `max_attempts`-th
//! attempt is marked failed instead (a job that gets the process killed every time, say by the
//! out-of-memory killer, must not stop every later run). A clean stop (Ctrl-C, SIGTERM) gives its
//! attempt back. Should the old process be alive
//! after all, its claim is stale and its next write fails with [`StoreError::LeaseLost`]. Leases
//! and heartbeats stay the recovery path for everything else (workers on other machines,
//! PostgreSQL): a dead worker's job comes back when its lease runs out, and counts towards
//! `max_attempts`.
//!
//! # Times
//!
//! All times are written by the database clock and read back as UTC text
//! `YYYY-MM-DD HH:MM:SS.SSS` (SQLite stores that text, PostgreSQL `timestamptz`).
//!
//! # Layout
//!
//! One module per role, each adding its part of [`Store`]'s methods: `open` (opening, schema
//! checks and migrations, [`StoreOptions`], closing), `queue` (enqueue, claim, heartbeat, record,
//! complete, fail, interrupt), `reads` (what reports read), `merge` (copying another store in),
//! `halving` (rung decisions) and `halving_view` (what a report adds for a halving sweep).
//! The SQL itself, each statement beside its parameter binding, is in the private `sql` module.

mod columns;
mod dashboard;
mod error;
mod halving;
mod halving_view;
mod merge;
mod open;
mod queue;
pub use queue::longest_first;
mod reads;
mod sql;
mod types;

use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

pub use dashboard::{DashJob, DashResult, RankPredictions, RunningLease, SweepProgress};
pub use error::{Result, StoreError};
pub use halving::{Advanced, Chooser};
pub use halving_view::{Confirmed, HalvingJob, HalvingView};
pub use open::{DEFAULT_MAX_ATTEMPTS, StoreOptions};
pub use types::{
    Checkpoint, Claim, ConfirmPlan, EnqueueReport, HalvingPlan, JobPredictions, JobResult,
    JobStatus, JobStatusRow, Judged, KeptCheckpoint, LatePlace, MergeConflict, MergeReport,
    NewSweep, RankedConfig, Released, ResultFilter, RungDecision, RungEntry, StatusCounts,
    StoppedPlace, SweepRow,
};

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// An SQLite file (or in-memory database).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The results store. Cheap to clone (clones share the connection pool).
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    max_attempts: u32,
    target: String,
    sqlite_file: Option<std::path::PathBuf>,
    /// Opened by [`Store::open_read_only`].
    read_only: bool,
    /// Read-only: the migrations the database has that this build does not know.
    newer_schema: Vec<i64>,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` (an `async` block body returning `Result<_, Fail>`) with `$pool` bound to the
/// store's pool and `$dialect` to its dialect's [`sql::Sql`]; failed queries are reported as
/// happening while `$what`.
macro_rules! on_backend {
    ($store:expr, $what:expr, |$pool:ident, $dialect:ident| $body:block) => {{
        let result: std::result::Result<_, $crate::error::Fail> = match &$store.backend {
            $crate::Backend::Sqlite(p) => {
                let $pool = p;
                let $dialect = &$crate::sql::sqlite::SQL;
                async { $body }.await
            }
            $crate::Backend::Postgres(p) => {
                let $pool = p;
                let $dialect = &$crate::sql::postgres::SQL;
                async { $body }.await
            }
        };
        result.map_err(|e| e.into_store_error($what))
    }};
}
pub(crate) use on_backend;

impl Store {
    /// The SQLite file this store writes to, with symbolic links and relative parts resolved
    /// (`None` on PostgreSQL and for in-memory databases): one file has one such path, whatever
    /// name reached it, so a lock beside it holds against every name (but see hard links).
    pub fn sqlite_file(&self) -> Option<&std::path::Path> {
        self.sqlite_file.as_deref()
    }

    /// The lock file of an SQLite database, `FILE.lock` beside its real path: a process that
    /// trains into the file (`tune run`, `tune worker`) holds an exclusive lock on it while it
    /// runs. `None` for PostgreSQL and in-memory databases.
    pub fn lock_file(&self) -> Option<std::path::PathBuf> {
        self.sqlite_file
            .as_ref()
            .map(|f| std::path::PathBuf::from(format!("{}.lock", f.display())))
    }

    /// Whether a process trains into this SQLite file now, from its [`Store::lock_file`]:
    /// `Some(true)` while one holds the lock, `Some(false)` when none does (jobs still marked
    /// running were left by a killed process), `None` when it cannot be told (PostgreSQL,
    /// where leases tell instead). Takes a shared lock for an instant when it is free: a
    /// process starting then retries its own (see `tune run`).
    pub fn training_lock_held(&self) -> Option<bool> {
        let path = self.lock_file()?;
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            // No lock file: nothing ever trained into this file here.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(false),
            Err(_) => return None,
        };
        match file.try_lock_shared() {
            Ok(()) => Some(false),
            Err(std::fs::TryLockError::WouldBlock) => Some(true),
            Err(std::fs::TryLockError::Error(_)) => None,
        }
    }

    /// Which database this store talks to.
    pub fn backend(&self) -> BackendKind {
        match self.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// The database as given to [`Store::open`] (without any password).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The versions of the migrations a database opened read-only has and this build of tune
    /// does not know (empty for every other store): a newer tune wrote it, and what this one
    /// reads may leave out what the newer one records. Readers say so (`tune report` on stderr,
    /// `tune serve` on every page); writers refuse such a database ([`StoreError::Migrate`]).
    pub fn newer_schema(&self) -> &[i64] {
        &self.newer_schema
    }

    /// Claims after which a lost lease fails a job.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }
}
