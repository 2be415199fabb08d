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

mod columns;
mod error;
mod sql;
mod types;

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};
use tune_spec::{EpochMetrics, JobSpec, TrainOutcome};

pub use error::{Result, StoreError};
pub use types::{
    Checkpoint, Claim, EnqueueReport, JobPredictions, JobResult, JobStatus, JobStatusRow,
    KeptCheckpoint, MergeConflict, MergeReport, NewSweep, Released, ResultFilter, StatusCounts,
    SweepRow,
};

use error::Fail;
use sql::{
    CheckpointRecord, ClaimedRecord, CountRecord, EpochRecord, JobRecord, KeptCheckpointRecord,
    LastValRecord, MembershipRecord, PredictionRecord, ResultRecord, ResultRowRecord, StatusRecord,
    SweepRecord,
};

/// The default number of times a job may be claimed before a lost lease fails it.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// How a [`Store`] is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// A running job whose lease expires on this attempt is marked failed instead of re-claimed.
    pub max_attempts: u32,
    /// Connections in the pool.
    pub max_connections: u32,
    /// SQLite: how long a statement waits for another connection's write lock before failing.
    pub busy_timeout: Duration,
    /// PostgreSQL: keep all tables in this schema (created if missing) instead of the default
    /// search path; lets several tune databases (or test runs) share one PostgreSQL database.
    pub pg_schema: Option<String>,
    /// Open for reading only: the database must exist and be tune's, with this tune's schema;
    /// nothing is created, migrated or written (SQLite opens the file read-only, PostgreSQL
    /// makes every transaction read-only).
    pub read_only: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            max_connections: 4,
            busy_timeout: Duration::from_secs(30),
            pg_schema: None,
            read_only: false,
        }
    }
}

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
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` (an `async` block body returning `Result<_, Fail>`) with `$pool` bound to the
/// store's pool and `$sql` to its dialect's [`sql::Sql`]; failed queries are reported as
/// happening while `$what`.
macro_rules! on_backend {
    ($store:expr, $what:expr, |$pool:ident, $sql:ident| $body:block) => {{
        let result: std::result::Result<_, Fail> = match &$store.backend {
            Backend::Sqlite(p) => {
                let $pool = p;
                let $sql = &sql::sqlite::SQL;
                async { $body }.await
            }
            Backend::Postgres(p) => {
                let $pool = p;
                let $sql = &sql::postgres::SQL;
                async { $body }.await
            }
        };
        result.map_err(|e| e.into_store_error($what))
    }};
}

/// Inside an `on_backend!` body: extends `$claim`'s lease in transaction `$tx`, or returns
/// [`StoreError::LeaseLost`] from the body when the job is no longer running under the claim.
macro_rules! extend_lease_or_lose {
    ($tx:ident, $sql:ident, $claim:expr) => {{
        let n = sqlx::query($sql.extend_lease)
            .bind(&$claim.key)
            .bind(&$claim.worker_id)
            .bind(i64::from($claim.attempt))
            .bind(lease_secs($claim.lease))
            .execute(&mut *$tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Store::lease_lost($claim).into());
        }
    }};
}

/// Binds a [`PredictionRecord`]'s fields, in order, to `$query`.
macro_rules! bind_predictions {
    ($query:expr, $r:expr) => {
        $query
            .bind(&$r.job_key)
            .bind(&$r.split)
            .bind(&$r.predicted)
            .bind(&$r.labels)
    };
}

/// Binds an [`EpochRecord`]'s fields, in order, to `$query`.
macro_rules! bind_epoch {
    ($query:expr, $e:expr) => {
        $query
            .bind(&$e.job_key)
            .bind($e.epoch)
            .bind($e.train_loss)
            .bind($e.train_accuracy)
            .bind($e.val_loss)
            .bind($e.val_accuracy)
            .bind($e.seconds)
    };
}

/// Binds a [`ResultRecord`]'s fields, in order, to `$query`.
macro_rules! bind_result {
    ($query:expr, $r:expr) => {
        $query
            .bind(&$r.job_key)
            .bind($r.test_loss)
            .bind($r.test_accuracy)
            .bind($r.runtime_s)
            .bind($r.images_per_s)
            .bind(&$r.confusion_json)
            .bind(&$r.worker_id)
            .bind($r.attempt)
            .bind(&$r.finished_at)
    };
}

/// A lease as seconds for the database (at most about four months).
fn lease_secs(lease: Duration) -> f64 {
    lease.as_secs_f64().min(1e7)
}

/// How long [`Store::open`] waits for a PostgreSQL server to accept a connection.
const PG_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `name` is a PostgreSQL identifier that needs no quoting: lowercase letters, digits and
/// `_`, not starting with a digit.
fn plain_identifier(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Makes sure tables can be created: when no schema of the connection's `search_path` exists
/// (e.g. `options=-c search_path=NAME` or [`StoreOptions::pg_schema`] names a new one), creates
/// the first one it names; the migrations would otherwise fail with PostgreSQL's "no schema has
/// been selected to create in".
async fn ensure_pg_schema(conn: &mut sqlx::PgConnection, target: &str) -> Result<()> {
    let query_err = |source| StoreError::Query {
        what: "reading the search_path",
        source,
    };
    let current: Option<String> = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(&mut *conn)
        .await
        .map_err(query_err)?;
    if current.is_some() {
        return Ok(());
    }
    let search_path: String = sqlx::query_scalar("SELECT current_setting('search_path')")
        .fetch_one(&mut *conn)
        .await
        .map_err(query_err)?;
    let Some(schema) = search_path
        .split(',')
        .map(str::trim)
        .find(|s| *s != "\"$user\"" && plain_identifier(s))
    else {
        return Err(StoreError::NoSchema {
            target: target.to_string(),
            search_path,
        });
    };
    let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(create))
        .execute(&mut *conn)
        .await
        .map_err(|source| StoreError::CreateSchema {
            target: target.to_string(),
            schema: schema.to_string(),
            source,
        })?;
    tracing::info!(target, schema, "created PostgreSQL schema");
    Ok(())
}

/// The table in which sqlx records applied migrations.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// The version of tune's first migration: a database that has it applied is tune's.
const INIT_VERSION: i64 = 20260510000000;

/// What an existing database holds, seen before tune changes anything.
#[derive(Debug)]
enum Schema {
    /// No tables at all: a new database.
    Empty,
    /// tune's schema, with these migrations applied.
    Tune { applied: Vec<i64> },
    /// Tables of something else.
    Foreign { tables: Vec<String> },
}

impl Schema {
    fn classify(tables: Vec<String>, applied: Vec<i64>) -> Schema {
        if tables.is_empty() {
            Schema::Empty
        } else if applied.contains(&INIT_VERSION) {
            Schema::Tune { applied }
        } else {
            Schema::Foreign { tables }
        }
    }
}

/// `tables a, b, c and 4 more`, for messages.
fn tables_text(tables: &[String]) -> String {
    let shown: Vec<&str> = tables.iter().take(5).map(String::as_str).collect();
    let more = tables.len().saturating_sub(shown.len());
    let mut text = format!("tables {}", shown.join(", "));
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// Whether SQLite refused to open a file read-only for want of its WAL index (`-shm`) or a lock
/// (read-only media), so that it must be read as immutable.
/// Switches the SQLite file at `file` from WAL to the rollback journal, if no other connection
/// has it open (see [`Store::close`]); failures are logged and otherwise ignored.
async fn leave_wal(file: &std::path::Path) {
    use sqlx::ConnectOptions;
    let connect = SqliteConnectOptions::new()
        .filename(file)
        .create_if_missing(false)
        .busy_timeout(std::time::Duration::from_millis(200));
    match connect.connect().await {
        Ok(mut c) => {
            let mode: std::result::Result<String, _> = sqlx::query_scalar(sql::sqlite::LEAVE_WAL)
                .fetch_one(&mut c)
                .await;
            tracing::debug!(file = %file.display(), ?mode, "journal mode on close");
            let _ = sqlx::Connection::close(c).await;
        }
        Err(e) => tracing::debug!(file = %file.display(), "journal mode left as is: {e}"),
    }
}

fn can_not_open_read_only(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|c| c.parse::<i64>().ok())
            .is_some_and(|c| matches!(c & 0xff, 8 | 14)),
        _ => false,
    }
}

/// Reads what a PostgreSQL database holds in the connection's schema.
async fn inspect_pg(conn: &mut sqlx::PgConnection) -> std::result::Result<Schema, sqlx::Error> {
    let tables: Vec<String> = sqlx::query_scalar(sql::PG_TABLES)
        .fetch_all(&mut *conn)
        .await?;
    let applied = if tables.iter().any(|t| t == MIGRATIONS_TABLE) {
        sqlx::query_scalar(sql::APPLIED_MIGRATIONS)
            .fetch_all(&mut *conn)
            .await?
    } else {
        Vec::new()
    };
    Ok(Schema::classify(tables, applied))
}

/// A `url` with any password removed, for messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_string(),
    }
}

/// Whether two stored figures are the same number (NaN equals NaN, a missing one only another).
fn same_figure(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b || (a.is_nan() && b.is_nan()),
        (None, None) => true,
        _ => false,
    }
}

fn epoch_record(key: &str, m: &EpochMetrics) -> EpochRecord {
    EpochRecord {
        job_key: key.to_string(),
        epoch: m.epoch as i64,
        train_loss: m.train_loss,
        train_accuracy: m.train_accuracy,
        val_loss: m.val_loss,
        val_accuracy: m.val_accuracy,
        seconds: m.seconds,
    }
}

/// [`StoreError::NonFinite`] unless `value` is a finite number: the store holds no NaN or
/// infinity (SQLite would turn a NaN into NULL, PostgreSQL would store it and sort it above every
/// number), so both back ends, every writer and every reader agree.
fn check_finite(key: &str, what: impl FnOnce() -> String, value: f64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(StoreError::NonFinite {
            key: key.to_string(),
            what: what(),
            value,
        })
    }
}

fn check_epoch(e: &EpochRecord) -> Result<()> {
    for (name, v) in epoch_figures(e) {
        check_finite(&e.job_key, || format!("epoch {} {name}", e.epoch), v)?;
    }
    Ok(())
}

fn epoch_figures(e: &EpochRecord) -> [(&'static str, f64); 5] {
    [
        ("train_loss", e.train_loss),
        ("train_accuracy", e.train_accuracy),
        ("val_loss", e.val_loss),
        ("val_accuracy", e.val_accuracy),
        ("seconds", e.seconds),
    ]
}

fn result_figures(r: &ResultRecord) -> [(&'static str, f64); 4] {
    [
        ("test_loss", r.test_loss),
        ("test_accuracy", r.test_accuracy),
        ("runtime_s", r.runtime_s),
        ("images_per_s", r.images_per_s),
    ]
}

fn check_result(r: &ResultRecord) -> Result<()> {
    for (name, v) in result_figures(r) {
        check_finite(&r.job_key, || name.to_string(), v)?;
    }
    Ok(())
}

/// What the migration `*_faults_and_finite_figures.sql` does to a database opened for writing,
/// done to data read for a merge (its source may be an older database that is only read): a job
/// with a non-finite result or epoch becomes failed as diverged, without its result and without
/// the epochs from the first non-finite one on.
fn drop_non_finite(data: &mut Export) {
    let finite = |figures: &[(&str, f64)]| figures.iter().all(|(_, v)| v.is_finite());
    let mut first_bad: HashMap<String, i64> = HashMap::new();
    for e in &data.epochs {
        if !finite(&epoch_figures(e)) {
            let first = first_bad.entry(e.job_key.clone()).or_insert(e.epoch);
            *first = (*first).min(e.epoch);
        }
    }
    for r in &data.results {
        if !finite(&result_figures(r)) {
            first_bad.entry(r.job_key.clone()).or_insert(i64::MAX);
        }
    }
    if first_bad.is_empty() {
        return;
    }
    data.epochs.retain(|e| {
        first_bad
            .get(&e.job_key)
            .is_none_or(|&first| e.epoch < first)
    });
    data.results.retain(|r| !first_bad.contains_key(&r.job_key));
    data.predictions
        .retain(|p| !first_bad.contains_key(&p.job_key));
    for job in &mut data.jobs {
        if first_bad.contains_key(&job.key) {
            tracing::warn!(key = %job.key, "merging a job with a NaN or infinite figure as failed");
            job.status = JobStatus::Failed.as_str().to_string();
            job.lease_expires_at = None;
            job.last_error = Some(format!(
                "diverged: a figure stored by an earlier tune version was not finite (NaN or \
                 infinite); lower lr and run the grid with --retry-failed{}",
                job.last_error
                    .as_deref()
                    .map(|e| format!("; earlier: {e}"))
                    .unwrap_or_default()
            ));
        }
    }
}

fn epoch_metrics(e: EpochRecord) -> EpochMetrics {
    EpochMetrics {
        epoch: e.epoch.max(0) as usize,
        train_loss: e.train_loss,
        train_accuracy: e.train_accuracy,
        val_loss: e.val_loss,
        val_accuracy: e.val_accuracy,
        seconds: e.seconds,
    }
}

fn counts_from(rows: impl IntoIterator<Item = CountRecord>) -> Result<StatusCounts> {
    let mut counts = StatusCounts::default();
    for r in rows {
        let status = columns::parse_status("?", &r.status)?;
        counts.add(status, r.n.max(0) as u64);
    }
    Ok(counts)
}

fn status_row(r: StatusRecord) -> Result<JobStatusRow> {
    Ok(JobStatusRow {
        spec: columns::parse_spec(&r.key, &r.spec_json)?,
        status: columns::parse_status(&r.key, &r.status)?,
        attempts: r.attempts.clamp(0, u32::MAX as i64) as u32,
        worker_id: r.worker_id,
        lease_expires_at: r.lease_expires_at,
        last_error: r.last_error,
        created_at: r.created_at,
        started_at: r.started_at,
        finished_at: r.finished_at,
        epochs_done: r.epochs_done.clamp(0, u32::MAX as i64) as u32,
        key: r.key,
    })
}

/// Everything one store holds, for [`Store::merge_from`].
struct Export {
    sweeps: Vec<SweepRecord>,
    jobs: Vec<JobRecord>,
    memberships: Vec<MembershipRecord>,
    results: Vec<ResultRecord>,
    epochs: Vec<EpochRecord>,
    /// key, data_sha256, data_verified of the jobs with a recorded data identity.
    job_data: Vec<(String, String, Option<bool>)>,
    predictions: Vec<PredictionRecord>,
}

impl Store {
    /// Opens (creating and migrating if needed) the results database at `target`:
    /// `postgres://…` or `postgresql://…` for PostgreSQL, `sqlite:…` or a file path for SQLite.
    ///
    /// SQLite files (and their parent directory) are created on first use and run in WAL mode
    /// with `synchronous = NORMAL`, foreign keys on and a busy timeout; every multi-statement
    /// write starts with `BEGIN IMMEDIATE`, so writes are short and serialised.
    pub async fn open(target: &str) -> Result<Store> {
        Store::open_with(target, &StoreOptions::default()).await
    }

    /// Opens an existing tune database for reading only (see [`StoreOptions::read_only`]).
    /// Fails with [`StoreError::Missing`] when there is none, [`StoreError::Foreign`] when it is
    /// not tune's and [`StoreError::Outdated`] when it lacks this tune's newest migrations.
    pub async fn open_read_only(target: &str) -> Result<Store> {
        let options = StoreOptions {
            read_only: true,
            ..StoreOptions::default()
        };
        Store::open_with(target, &options).await
    }

    /// [`Store::open`] with explicit options. Before it creates or migrates anything, it refuses
    /// an empty target, a directory, and a database with tables that are not tune's
    /// ([`StoreError::Foreign`]).
    pub async fn open_with(target: &str, options: &StoreOptions) -> Result<Store> {
        if target.trim().is_empty() {
            return Err(StoreError::EmptyTarget);
        }
        if target.starts_with("postgres://") || target.starts_with("postgresql://") {
            Store::open_postgres(target, options).await
        } else if target.starts_with("sqlite:") || !target.contains("://") {
            Store::open_sqlite(target, options).await
        } else {
            Err(StoreError::UnsupportedTarget {
                target: redact(target),
            })
        }
    }

    async fn open_sqlite(target: &str, options: &StoreOptions) -> Result<Store> {
        let open_err = |source| StoreError::Open {
            target: target.to_string(),
            source,
        };
        let connect = if target.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(target).map_err(open_err)?
        } else {
            SqliteConnectOptions::new().filename(target)
        };
        let memory = target.contains(":memory:") || target.contains("mode=memory");
        let path = connect.get_filename().to_path_buf();
        if !memory {
            if path.as_os_str().is_empty() {
                return Err(StoreError::EmptyTarget);
            }
            let path_text = target.split('?').next().unwrap_or(target);
            if path_text.ends_with('/') || path.is_dir() {
                return Err(StoreError::IsDirectory {
                    target: target.to_string(),
                    suggest: path.join("results.db"),
                    exists: path.is_dir(),
                });
            }
        }
        let connect = connect
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true);
        let exists = !memory && path.exists();
        if exists {
            // SQLite keeps its write-ahead log beside the name used: through a second hard link
            // a reader misses the writer's log and a writer starts a second one, which can
            // corrupt the database. One file, one name.
            use std::os::unix::fs::MetadataExt;
            let links = std::fs::metadata(&path).map_or(1, |m| m.nlink());
            if links > 1 {
                return Err(StoreError::HardLinks {
                    target: target.to_string(),
                    links,
                });
            }
        }
        if options.read_only {
            if memory || !exists {
                return Err(StoreError::Missing {
                    target: target.to_string(),
                });
            }
            let (pool, schema) = match Store::inspect_sqlite(&connect, options).await {
                // A WAL database on read-only media (no -shm beside it, none can be made): nobody
                // can be writing there, so SQLite may read it as immutable.
                Err(e) if can_not_open_read_only(&e) => {
                    tracing::debug!(target, "reading the database as immutable: {e}");
                    Store::inspect_sqlite(&connect.clone().immutable(true), options)
                        .await
                        .map_err(open_err)?
                }
                other => other.map_err(open_err)?,
            };
            Store::check_readable(target, &schema, &sqlx::migrate!("../../migrations/sqlite"))?;
            tracing::debug!(target, "opened SQLite results database read-only");
            return Ok(Store {
                backend: Backend::Sqlite(pool),
                max_attempts: options.max_attempts.max(1),
                target: target.to_string(),
                sqlite_file: std::fs::canonicalize(&path).ok(),
                read_only: true,
            });
        }
        if exists && std::fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
            // Look before changing anything (even the journal mode): tune writes only to its own
            // databases.
            let (pool, schema) = Store::inspect_sqlite(&connect, options)
                .await
                .map_err(open_err)?;
            pool.close().await;
            Store::check_writable(target, &schema)?;
        }
        if !memory
            && let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                target: target.to_string(),
                dir: dir.to_path_buf(),
                source,
            })?;
        }
        let connect = connect
            .read_only(false)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
        let pool_options = if memory {
            // An in-memory database lives as long as a connection to it: keep exactly one.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(options.max_connections.max(1))
        };
        let pool = pool_options.connect_with(connect).await.map_err(open_err)?;
        sqlx::migrate!("../../migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                target: target.to_string(),
                source,
            })?;
        tracing::debug!(target, "opened SQLite results database");
        Ok(Store {
            backend: Backend::Sqlite(pool),
            max_attempts: options.max_attempts.max(1),
            target: target.to_string(),
            sqlite_file: if memory {
                None
            } else {
                std::fs::canonicalize(&path).ok()
            },
            read_only: false,
        })
    }

    /// Opens the existing SQLite database read-only and says what it holds.
    async fn inspect_sqlite(
        connect: &SqliteConnectOptions,
        options: &StoreOptions,
    ) -> std::result::Result<(SqlitePool, Schema), sqlx::Error> {
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .connect_with(connect.clone().read_only(true).create_if_missing(false))
            .await?;
        let tables: Vec<String> = sqlx::query_scalar(sql::SQLITE_TABLES)
            .fetch_all(&pool)
            .await?;
        let applied = if tables.iter().any(|t| t == MIGRATIONS_TABLE) {
            sqlx::query_scalar(sql::APPLIED_MIGRATIONS)
                .fetch_all(&pool)
                .await?
        } else {
            Vec::new()
        };
        Ok((pool, Schema::classify(tables, applied)))
    }

    /// Whether a command that only reads may read a database with `schema`: it must be tune's,
    /// with every migration this tune knows (a reader never migrates).
    fn check_readable(target: &str, schema: &Schema, migrator: &Migrator) -> Result<()> {
        match schema {
            Schema::Empty => Err(StoreError::NoTables {
                target: target.to_string(),
            }),
            Schema::Foreign { tables } => Err(StoreError::Foreign {
                target: target.to_string(),
                tables: tables_text(tables),
            }),
            Schema::Tune { applied } => match migrator
                .iter()
                .map(|m| m.version)
                .find(|v| !applied.contains(v))
            {
                Some(missing) => Err(StoreError::Outdated {
                    target: target.to_string(),
                    missing,
                }),
                None => Ok(()),
            },
        }
    }

    /// Whether a command that writes may migrate and write a database with `schema`: an empty
    /// one or tune's own.
    fn check_writable(target: &str, schema: &Schema) -> Result<()> {
        match schema {
            Schema::Foreign { tables } => Err(StoreError::Foreign {
                target: target.to_string(),
                tables: tables_text(tables),
            }),
            Schema::Empty | Schema::Tune { .. } => Ok(()),
        }
    }

    async fn open_postgres(target: &str, options: &StoreOptions) -> Result<Store> {
        let shown = redact(target);
        let open_err = |source| StoreError::Open {
            target: shown.clone(),
            source,
        };
        let mut connect = PgConnectOptions::from_str(target).map_err(open_err)?;
        if let Some(schema) = &options.pg_schema {
            if !plain_identifier(schema) {
                return Err(StoreError::InvalidSchema(schema.clone()));
            }
            connect = connect.options([("search_path", schema.as_str())]);
        }
        if options.read_only {
            // Every transaction of a reader is read-only, enforced by the server.
            connect = connect.options([("default_transaction_read_only", "on")]);
        }
        // One connection first: it fails at once with the real cause (connection refused, a bad
        // password, no such database), where the pool would retry for its 30 s acquire timeout
        // and then only say that it timed out.
        let connect_err = |source| StoreError::Connect {
            target: shown.clone(),
            source,
        };
        let mut conn = match tokio::time::timeout(PG_CONNECT_TIMEOUT, connect.connect()).await {
            Ok(conn) => conn.map_err(connect_err)?,
            Err(_) => {
                return Err(connect_err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {} s", PG_CONNECT_TIMEOUT.as_secs()),
                ))));
            }
        };
        let schema = inspect_pg(&mut conn).await.map_err(open_err)?;
        let migrator = sqlx::migrate!("../../migrations/postgres");
        if options.read_only {
            Store::check_readable(&shown, &schema, &migrator)?;
        } else {
            Store::check_writable(&shown, &schema)?;
            ensure_pg_schema(&mut conn, &shown).await?;
        }
        conn.close().await.map_err(open_err)?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .connect_with(connect)
            .await
            .map_err(open_err)?;
        if !options.read_only {
            migrator
                .run(&pool)
                .await
                .map_err(|source| StoreError::Migrate {
                    target: shown.clone(),
                    source,
                })?;
        }
        tracing::debug!(target = %shown, read_only = options.read_only, "opened PostgreSQL results database");
        Ok(Store {
            backend: Backend::Postgres(pool),
            max_attempts: options.max_attempts.max(1),
            target: shown,
            sqlite_file: None,
            read_only: options.read_only,
        })
    }

    /// The SQLite file this store writes to, with symbolic links and relative parts resolved
    /// (`None` on PostgreSQL and for in-memory databases): one file has one such path, whatever
    /// name reached it, so a lock beside it holds against every name (but see hard links).
    pub fn sqlite_file(&self) -> Option<&std::path::Path> {
        self.sqlite_file.as_deref()
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

    /// Claims after which a lost lease fails a job.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Closes the connections, waiting for running queries (SQLite also checkpoints its WAL).
    ///
    /// A writer of an SQLite file then also leaves write-ahead logging (`PRAGMA journal_mode =
    /// DELETE`) when it is the file's last user: the database is one self-contained file again
    /// (to copy or mail), and readers (`tune report`, `sqlite3`) do not create `-wal` and `-shm`
    /// files beside it. The next writer turns WAL back on. If another process still has the file
    /// open, the mode stays WAL (nothing is lost either way).
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(p) => {
                p.close().await;
                if let (Some(file), false) = (&self.sqlite_file, self.read_only) {
                    leave_wal(file).await;
                }
            }
            Backend::Postgres(p) => p.close().await,
        }
    }

    /// Fails with [`StoreError::UnknownSweep`] unless a sweep has id or name `sweep`.
    async fn check_sweep(&self, sweep: Option<&str>) -> Result<()> {
        let Some(sweep) = sweep else {
            return Ok(());
        };
        let n: i64 = on_backend!(self, "looking up a sweep", |pool, _sql| {
            Ok(sqlx::query_scalar(sql::COUNT_SWEEPS_NAMED)
                .bind(sweep)
                .fetch_one(pool)
                .await?)
        })?;
        if n == 0 {
            let known = self
                .sweeps()
                .await?
                .into_iter()
                .map(|s| format!("{} ({})", s.name, s.id))
                .collect();
            return Err(StoreError::UnknownSweep {
                sweep: sweep.to_string(),
                known,
            });
        }
        Ok(())
    }

    // ----- the queue -------------------------------------------------------------------------

    /// Records `sweep` and adds its `jobs` to the queue, in order. Idempotent: jobs already in the
    /// database (from this or any other sweep) keep their row and status (a done job stays done)
    /// and only gain the membership; enqueuing the same grid again adds nothing.
    pub async fn enqueue(&self, sweep: &NewSweep, jobs: &[JobSpec]) -> Result<EnqueueReport> {
        self.enqueue_from(sweep, jobs, 0).await
    }

    /// [`Store::enqueue`] for a batch of a sweep's jobs whose first job has position
    /// `first_position` in the sweep: a large grid is enqueued in batches, one transaction each,
    /// so that an interrupted enqueue keeps whole batches and enqueuing again completes it.
    pub async fn enqueue_from(
        &self,
        sweep: &NewSweep,
        jobs: &[JobSpec],
        first_position: usize,
    ) -> Result<EnqueueReport> {
        let sweep_id = sweep.id();
        // Build every row first: an invalid job stops the enqueue before anything is written.
        let mut records = Vec::with_capacity(jobs.len());
        for (i, spec) in jobs.iter().enumerate() {
            records.push(columns::job_record(spec, i as i64)?);
        }
        on_backend!(self, "enqueuing a sweep", |pool, sql| {
            let mut tx = pool.begin_with(sql.begin_write).await?;
            let added = sqlx::query(sql.insert_sweep)
                .bind(&sweep_id)
                .bind(&sweep.name)
                .bind(&sweep.grid_text)
                .bind(None::<String>)
                .bind(None::<String>)
                .bind(&sweep.host)
                .bind(&sweep.tune_version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let base: i64 = sqlx::query_scalar(sql::MAX_SEQ).fetch_one(&mut *tx).await?;
            let mut report = EnqueueReport {
                sweep_id: sweep_id.clone(),
                sweep_added: added > 0,
                jobs: jobs.len(),
                jobs_added: 0,
                memberships_added: 0,
            };
            for (i, record) in records.iter_mut().enumerate() {
                record.seq = base + 1 + i as i64;
                let n = columns::bind_job(sqlx::query((sql.insert_job)()), record)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                report.jobs_added += n as usize;
                let n = sqlx::query(sql::INSERT_MEMBERSHIP)
                    .bind(&sweep_id)
                    .bind(&record.key)
                    .bind((first_position + i) as i64)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                report.memberships_added += n as usize;
            }
            sqlx::query(sql::REOPEN_SWEEP)
                .bind(&sweep_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(report)
        })
    }

    /// Claims the next job for `worker_id`, optionally only from `sweep` (id or name): an
    /// interrupted job, or a running one whose lease expired (fewer than `max_attempts` claims so
    /// far), or else the first pending job in queue order. The job is marked running with
    /// attempt + 1 and a lease of `lease` from now by the database clock; the transaction ends
    /// before this returns. Running jobs whose lease expired on their last attempt are marked
    /// failed first. `None` when nothing is left to claim.
    pub async fn claim(
        &self,
        worker_id: &str,
        lease: Duration,
        sweep: Option<&str>,
    ) -> Result<Option<Claim>> {
        self.check_sweep(sweep).await?;
        let max_attempts = i64::from(self.max_attempts);
        let (row, failed) = on_backend!(self, "claiming a job", |pool, sql| {
            let mut tx = pool.begin_with(sql.begin_write).await?;
            let failed = sqlx::query(sql.fail_exhausted)
                .bind(max_attempts)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let row: Option<ClaimedRecord> = sqlx::query_as(sql.claim)
                .bind(max_attempts)
                .bind(worker_id)
                .bind(lease_secs(lease))
                .bind(sweep)
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok((row, failed))
        })?;
        if failed > 0 {
            tracing::warn!(
                jobs = failed,
                "gave up on jobs whose lease expired too often"
            );
            self.stamp_finished_sweeps(None).await;
        }
        let Some(row) = row else {
            return Ok(None);
        };
        let spec = columns::parse_spec(&row.key, &row.spec_json)?;
        let attempt = u32::try_from(row.attempts).map_err(|_| StoreError::Corrupt {
            key: row.key.clone(),
            what: "attempts",
            why: format!("{} is out of range", row.attempts),
        })?;
        Ok(Some(Claim {
            key: row.key,
            spec,
            attempt,
            worker_id: worker_id.to_string(),
            lease,
        }))
    }

    fn lease_lost(claim: &Claim) -> StoreError {
        StoreError::LeaseLost {
            key: claim.key.clone(),
            worker_id: claim.worker_id.clone(),
            attempt: claim.attempt,
        }
    }

    /// Extends `claim`'s lease by its lease duration from now (database clock). Fails with
    /// [`StoreError::LeaseLost`] if the job is no longer running under this worker and attempt.
    pub async fn heartbeat(&self, claim: &Claim) -> Result<()> {
        let n = on_backend!(self, "extending a job's lease", |pool, sql| {
            Ok(sqlx::query(sql.extend_lease)
                .bind(&claim.key)
                .bind(&claim.worker_id)
                .bind(i64::from(claim.attempt))
                .bind(lease_secs(claim.lease))
                .execute(pool)
                .await?
                .rows_affected())
        })?;
        if n == 0 {
            return Err(Store::lease_lost(claim));
        }
        Ok(())
    }

    /// Records one epoch's metrics of a claimed job (replacing any row for the same epoch) and,
    /// when given, the weights after it as the job's checkpoint, in one transaction that also
    /// extends the lease. Fails with [`StoreError::LeaseLost`] if the claim is stale.
    pub async fn record_epoch(
        &self,
        claim: &Claim,
        metrics: &EpochMetrics,
        checkpoint: Option<&[u8]>,
    ) -> Result<()> {
        let record = epoch_record(&claim.key, metrics);
        check_epoch(&record)?;
        on_backend!(self, "recording an epoch", |pool, sql| {
            let mut tx = pool.begin_with(sql.begin_write).await?;
            extend_lease_or_lose!(tx, sql, claim);
            bind_epoch!(sqlx::query(sql::UPSERT_EPOCH), record)
                .execute(&mut *tx)
                .await?;
            sqlx::query(sql::RESET_FAULTS)
                .bind(&claim.key)
                .execute(&mut *tx)
                .await?;
            if let Some(bytes) = checkpoint {
                sqlx::query(sql.upsert_checkpoint)
                    .bind(&claim.key)
                    .bind(record.epoch)
                    .bind(bytes)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Marks a claimed job done and writes its result (one row per job, replaced if the job is
    /// delivered again), its full history (epochs after the last one are removed) and drops its
    /// checkpoint. Completing the same claim again changes nothing and succeeds. Fails with
    /// [`StoreError::LeaseLost`] if the claim is stale, and with [`StoreError::NonFinite`]
    /// (writing nothing) if a figure is NaN or infinite.
    pub async fn complete(&self, claim: &Claim, outcome: &TrainOutcome) -> Result<()> {
        self.complete_with(claim, outcome, false).await
    }

    /// [`Store::complete`], keeping the job's checkpoint when `keep_checkpoint` is set: the
    /// weights of a done job whose weight file could not be written (a full disk), so that a
    /// later run can write it ([`Store::kept_checkpoints`], [`Store::drop_kept_checkpoint`]).
    pub async fn complete_with(
        &self,
        claim: &Claim,
        outcome: &TrainOutcome,
        keep_checkpoint: bool,
    ) -> Result<()> {
        let result = ResultRecord {
            job_key: claim.key.clone(),
            test_loss: outcome.test_loss,
            test_accuracy: outcome.test_accuracy,
            runtime_s: outcome.runtime_s,
            images_per_s: outcome.images_per_s,
            confusion_json: serde_json::to_string(&outcome.confusion)
                .expect("a matrix of integers always serialises"),
            worker_id: Some(claim.worker_id.clone()),
            attempt: i64::from(claim.attempt),
            finished_at: None,
        };
        let epochs: Vec<EpochRecord> = outcome
            .history
            .iter()
            .map(|m| epoch_record(&claim.key, m))
            .collect();
        let last_epoch = epochs.iter().map(|e| e.epoch).max();
        let params = i64::try_from(outcome.params).unwrap_or(i64::MAX);
        check_result(&result)?;
        for e in &epochs {
            check_epoch(e)?;
        }
        let predictions: Vec<PredictionRecord> = [
            ("val", &outcome.val_predictions),
            ("test", &outcome.test_predictions),
        ]
        .into_iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(split, p)| PredictionRecord {
            job_key: claim.key.clone(),
            split: split.to_string(),
            predicted: p.predicted.clone(),
            labels: p.labels.clone(),
        })
        .collect();
        on_backend!(self, "recording a finished job", |pool, sql| {
            let mut tx = pool.begin_with(sql.begin_write).await?;
            let n = sqlx::query(sql.complete_job)
                .bind(&claim.key)
                .bind(&claim.worker_id)
                .bind(i64::from(claim.attempt))
                .bind(params)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                // Delivered twice by the same claim (e.g. a retry after a lost reply): done already.
                let done: i64 = sqlx::query_scalar(sql::DONE_BY)
                    .bind(&claim.key)
                    .bind(&claim.worker_id)
                    .bind(i64::from(claim.attempt))
                    .fetch_one(&mut *tx)
                    .await?;
                if done > 0 {
                    return Ok(());
                }
                return Err(Store::lease_lost(claim).into());
            }
            bind_result!(sqlx::query(sql.upsert_result), result)
                .execute(&mut *tx)
                .await?;
            sqlx::query(sql::DELETE_PREDICTIONS)
                .bind(&claim.key)
                .execute(&mut *tx)
                .await?;
            for p in &predictions {
                bind_predictions!(sqlx::query(sql::UPSERT_PREDICTIONS), p)
                    .execute(&mut *tx)
                    .await?;
            }
            for e in &epochs {
                bind_epoch!(sqlx::query(sql::UPSERT_EPOCH), e)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(last) = last_epoch {
                sqlx::query(sql::DELETE_EPOCHS_AFTER)
                    .bind(&claim.key)
                    .bind(last)
                    .execute(&mut *tx)
                    .await?;
            }
            if !keep_checkpoint {
                sqlx::query(sql::DELETE_CHECKPOINT)
                    .bind(&claim.key)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })?;
        self.stamp_finished_sweeps(Some(&claim.key)).await;
        Ok(())
    }

    /// The checkpoints kept by [`Store::complete_with`] for done jobs (of `sweep`, id or name, or
    /// all): their weights are still to be written to a file. In queue order.
    pub async fn kept_checkpoints(&self, sweep: Option<&str>) -> Result<Vec<KeptCheckpoint>> {
        self.check_sweep(sweep).await?;
        let rows: Vec<KeptCheckpointRecord> =
            on_backend!(self, "reading kept checkpoints", |pool, _sql| {
                Ok(sqlx::query_as(sql::SELECT_KEPT_CHECKPOINTS)
                    .bind(sweep)
                    .fetch_all(pool)
                    .await?)
            })?;
        Ok(rows
            .into_iter()
            .map(|r| KeptCheckpoint {
                key: r.job_key,
                checkpoint: Checkpoint {
                    epoch: r.epoch.clamp(0, u32::MAX as i64) as u32,
                    bytes: r.bytes,
                },
            })
            .collect())
    }

    /// Drops the kept checkpoint of done job `key` once its weights are written (nothing if the
    /// job is not done).
    pub async fn drop_kept_checkpoint(&self, key: &str) -> Result<()> {
        on_backend!(self, "dropping a kept checkpoint", |pool, _sql| {
            sqlx::query(sql::DELETE_KEPT_CHECKPOINT)
                .bind(key)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Records that a claimed job trains on the data with identity `sha256` (see
    /// `tune_data::identify`), `verified` when those are the canonical files. Fails with
    /// [`StoreError::DataMismatch`] when epochs of the job were trained on other data (they cannot
    /// be continued on this data), and [`StoreError::LeaseLost`] if the claim is stale.
    pub async fn record_data(&self, claim: &Claim, sha256: &str, verified: bool) -> Result<()> {
        on_backend!(self, "recording a job's data", |pool, sql| {
            let mut tx = pool.begin_with(sql.begin_write).await?;
            let n = sqlx::query(sql::SET_JOB_DATA)
                .bind(&claim.key)
                .bind(&claim.worker_id)
                .bind(i64::from(claim.attempt))
                .bind(sha256)
                .bind(verified)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                let recorded: Option<Option<String>> = sqlx::query_scalar(sql::JOB_DATA)
                    .bind(&claim.key)
                    .fetch_optional(&mut *tx)
                    .await?;
                return Err(match recorded.flatten() {
                    Some(recorded) if recorded != sha256 => StoreError::DataMismatch {
                        key: claim.key.clone(),
                        recorded,
                        found: sha256.to_string(),
                    },
                    _ => Store::lease_lost(claim),
                }
                .into());
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// The recorded data identity (SHA-256, verified) of every job that has one, by job key.
    pub async fn data_identities(&self) -> Result<HashMap<String, (String, Option<bool>)>> {
        let rows: Vec<(String, String, Option<bool>)> =
            on_backend!(self, "reading the jobs' data", |pool, _sql| {
                Ok(sqlx::query_as(sql::SELECT_JOB_DATA).fetch_all(pool).await?)
            })?;
        Ok(rows
            .into_iter()
            .map(|(key, sha, verified)| (key, (sha, verified)))
            .collect())
    }

    /// Marks a claimed job failed with `error` (it is not retried; see [`Store::retry_failed`]).
    /// Fails with [`StoreError::LeaseLost`] if the claim is stale.
    pub async fn fail(&self, claim: &Claim, error: &str) -> Result<()> {
        on_backend!(self, "recording a failed job", |pool, sql| {
            let mut tx = pool.begin_with(sql.begin_write).await?;
            let n = sqlx::query(sql.fail_job)
                .bind(&claim.key)
                .bind(&claim.worker_id)
                .bind(i64::from(claim.attempt))
                .bind(error)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(Store::lease_lost(claim).into());
            }
            tx.commit().await?;
            Ok(())
        })?;
        self.stamp_finished_sweeps(Some(&claim.key)).await;
        Ok(())
    }

    /// Stamps `finished_at` on the sweeps (of job `key`, or all) whose jobs are all done or
    /// failed. Called after the transaction that finished a job has committed: inside it, two
    /// workers finishing a sweep's last two jobs at once on PostgreSQL (read committed) would each
    /// still see the other's job running, and neither would stamp the sweep. A failure here only
    /// leaves the stamp to a later call, so it is logged, not returned.
    async fn stamp_finished_sweeps(&self, key: Option<&str>) {
        let stamped = on_backend!(self, "stamping finished sweeps", |pool, sql| {
            sqlx::query(sql.finish_sweeps)
                .bind(key)
                .execute(pool)
                .await?;
            Ok(())
        });
        if let Err(e) = stamped {
            tracing::warn!("{e}");
        }
    }

    /// Puts a claimed job back as interrupted (e.g. on Ctrl-C); it is claimed again before pending
    /// jobs, and the attempt does not count (a clean stop is not a failure). Fails with
    /// [`StoreError::LeaseLost`] if the claim is stale.
    pub async fn interrupt(&self, claim: &Claim) -> Result<()> {
        let n = on_backend!(self, "interrupting a job", |pool, _sql| {
            Ok(sqlx::query(sql::INTERRUPT_JOB)
                .bind(&claim.key)
                .bind(&claim.worker_id)
                .bind(i64::from(claim.attempt))
                .execute(pool)
                .await?
                .rows_affected())
        })?;
        if n == 0 {
            return Err(Store::lease_lost(claim));
        }
        Ok(())
    }

    /// Releases every running job whose worker id starts with `worker_prefix` (every running job
    /// when `None`), whatever its lease: a local `tune run` on SQLite calls this at start, holding
    /// its lock file, so the jobs of a killed run restart at once (see the crate docs). The kill
    /// counts as a failed attempt: a job killed on its `max_attempts`-th attempt (say, by the
    /// kernel's out-of-memory killer, every time) is marked failed, so that it cannot stop every
    /// later run; the others become interrupted. Their old claims become stale
    /// ([`StoreError::LeaseLost`]). Never call it while workers matching the prefix may be alive:
    /// their jobs would be claimed twice (the stale worker's writes are refused, but its training
    /// time is lost).
    pub async fn interrupt_running(&self, worker_prefix: Option<&str>) -> Result<Released> {
        let max_attempts = i64::from(self.max_attempts);
        let released = on_backend!(self, "releasing running jobs", |pool, sql| {
            let mut tx = pool.begin_with(sql.begin_write).await?;
            let failed = sqlx::query(sql.fail_killed)
                .bind(worker_prefix)
                .bind(max_attempts)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let resumed = sqlx::query(sql::INTERRUPT_RUNNING)
                .bind(worker_prefix)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok(Released { resumed, failed })
        })?;
        if released.failed > 0 {
            self.stamp_finished_sweeps(None).await;
        }
        Ok(released)
    }

    /// Puts failed jobs (of `sweep`, id or name, or all) back in the queue with a fresh attempt
    /// count; returns how many.
    pub async fn retry_failed(&self, sweep: Option<&str>) -> Result<u64> {
        self.check_sweep(sweep).await?;
        on_backend!(self, "retrying failed jobs", |pool, sql| {
            let mut tx = pool.begin_with(sql.begin_write).await?;
            let n = sqlx::query(sql::RETRY_FAILED)
                .bind(sweep)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(sql::REOPEN_SWEEPS).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(n)
        })
    }

    /// The latest checkpoint of job `key`, if one was saved and the job has not finished.
    pub async fn load_checkpoint(&self, key: &str) -> Result<Option<Checkpoint>> {
        let row: Option<CheckpointRecord> =
            on_backend!(self, "loading a checkpoint", |pool, _sql| {
                Ok(sqlx::query_as(sql::LOAD_CHECKPOINT)
                    .bind(key)
                    .fetch_optional(pool)
                    .await?)
            })?;
        Ok(row.map(|r| Checkpoint {
            epoch: r.epoch.clamp(0, u32::MAX as i64) as u32,
            bytes: r.bytes,
        }))
    }

    // ----- reads for reports -----------------------------------------------------------------

    /// The finished jobs matching `filter`, in queue order.
    pub async fn results(&self, filter: &ResultFilter) -> Result<Vec<JobResult>> {
        self.check_sweep(filter.sweep.as_deref()).await?;
        let seed = match filter.seed {
            Some(s) => match i64::try_from(s) {
                Ok(s) => Some(s),
                Err(_) => return Ok(Vec::new()), // no stored seed is that large
            },
            None => None,
        };
        let model = filter.model.map(|m| m.as_str());
        let rows: Vec<ResultRowRecord> = on_backend!(self, "reading results", |pool, sql| {
            Ok(sqlx::query_as(sql.select_results)
                .bind(filter.sweep.as_deref())
                .bind(filter.dataset.as_deref())
                .bind(model)
                .bind(seed)
                .fetch_all(pool)
                .await?)
        })?;
        let last_val: HashMap<String, Option<f64>> = if rows.is_empty() {
            HashMap::new()
        } else {
            let v: Vec<LastValRecord> =
                on_backend!(self, "reading validation accuracies", |pool, _sql| {
                    Ok(sqlx::query_as(sql::SELECT_LAST_VAL).fetch_all(pool).await?)
                })?;
            v.into_iter().map(|r| (r.job_key, r.val_accuracy)).collect()
        };
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            if ![r.test_loss, r.test_accuracy, r.runtime_s, r.images_per_s]
                .iter()
                .all(|v| v.is_finite())
            {
                // Only an older tune wrote these (see `drop_non_finite`); a run or worker that
                // opens the database turns the job into a failed, diverged one.
                tracing::warn!(key = %r.key, "skipping a result with a NaN or infinite figure");
                continue;
            }
            let history = if filter.with_history {
                self.history(&r.key).await?
            } else {
                Vec::new()
            };
            out.push(JobResult {
                spec: columns::parse_spec(&r.key, &r.spec_json)?,
                params: r.params.max(0) as u64,
                flops_per_image: r.flops_per_image,
                test_loss: r.test_loss,
                test_accuracy: r.test_accuracy,
                val_accuracy: last_val.get(&r.key).copied().flatten(),
                runtime_s: r.runtime_s,
                images_per_s: r.images_per_s,
                finished_at: r.finished_at,
                history,
                key: r.key,
            });
        }
        Ok(out)
    }

    /// The recorded epochs of job `key`, in epoch order.
    pub async fn history(&self, key: &str) -> Result<Vec<EpochMetrics>> {
        let rows: Vec<EpochRecord> = on_backend!(self, "reading a job's history", |pool, _sql| {
            Ok(sqlx::query_as(sql::SELECT_HISTORY)
                .bind(key)
                .fetch_all(pool)
                .await?)
        })?;
        // The epochs up to the first non-finite one (which only an older tune could write).
        Ok(rows
            .into_iter()
            .take_while(|e| epoch_figures(e).iter().all(|(_, v)| v.is_finite()))
            .map(epoch_metrics)
            .collect())
    }

    /// The per-example predictions of finished job `key` on its validation and test splits (each
    /// `None` when not recorded, e.g. for jobs finished before tune stored them).
    pub async fn predictions(&self, key: &str) -> Result<JobPredictions> {
        let rows: Vec<PredictionRecord> =
            on_backend!(self, "reading a job's predictions", |pool, _sql| {
                Ok(sqlx::query_as(sql::SELECT_PREDICTIONS)
                    .bind(key)
                    .fetch_all(pool)
                    .await?)
            })?;
        let mut out = JobPredictions::default();
        for r in rows {
            if r.predicted.len() != r.labels.len() {
                return Err(StoreError::Corrupt {
                    key: key.to_string(),
                    what: "predictions",
                    why: format!(
                        "{} predicted classes but {} labels on split {}",
                        r.predicted.len(),
                        r.labels.len(),
                        r.split
                    ),
                });
            }
            let p = tune_spec::Predictions {
                predicted: r.predicted,
                labels: r.labels,
            };
            match r.split.as_str() {
                "val" => out.val = Some(p),
                _ => out.test = Some(p),
            }
        }
        Ok(out)
    }

    /// The test confusion matrix of finished job `key` (`[true][predicted]` counts).
    pub async fn confusion(&self, key: &str) -> Result<Option<Vec<Vec<u64>>>> {
        let json: Option<String> =
            on_backend!(self, "reading a confusion matrix", |pool, _sql| {
                Ok(sqlx::query_scalar(sql::SELECT_CONFUSION)
                    .bind(key)
                    .fetch_optional(pool)
                    .await?)
            })?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| StoreError::Corrupt {
                key: key.to_string(),
                what: "confusion_json",
                why: e.to_string(),
            })
        })
        .transpose()
    }

    /// Every sweep with its jobs counted by status, oldest first.
    pub async fn sweeps(&self) -> Result<Vec<SweepRow>> {
        let (sweeps, counts): (Vec<SweepRecord>, Vec<CountRecord>) =
            on_backend!(self, "reading sweeps", |pool, sql| {
                let sweeps = sqlx::query_as(sql.select_sweeps).fetch_all(pool).await?;
                let counts = sqlx::query_as(sql::SELECT_SWEEP_COUNTS)
                    .fetch_all(pool)
                    .await?;
                Ok((sweeps, counts))
            })?;
        let mut by_sweep: HashMap<String, Vec<CountRecord>> = HashMap::new();
        for c in counts {
            by_sweep
                .entry(c.sweep_id.clone().unwrap_or_default())
                .or_default()
                .push(c);
        }
        sweeps
            .into_iter()
            .map(|s| {
                Ok(SweepRow {
                    counts: counts_from(by_sweep.remove(&s.id).unwrap_or_default())?,
                    id: s.id,
                    name: s.name,
                    grid_text: s.grid_text,
                    started_at: s.started_at.unwrap_or_default(),
                    finished_at: s.finished_at,
                    host: s.host,
                    tune_version: s.tune_version,
                })
            })
            .collect()
    }

    /// The jobs of `sweep` (id or name) with their queue state, in queue order.
    pub async fn jobs_of_sweep(&self, sweep: &str) -> Result<Vec<JobStatusRow>> {
        self.check_sweep(Some(sweep)).await?;
        self.select_jobs(Some(sweep), None).await
    }

    /// Every job (of `sweep`, id or name, or of the whole database) with its queue state, in
    /// queue order.
    pub async fn jobs(&self, sweep: Option<&str>) -> Result<Vec<JobStatusRow>> {
        self.check_sweep(sweep).await?;
        self.select_jobs(sweep, None).await
    }

    /// The queue state of job `key`, if it is known.
    pub async fn job(&self, key: &str) -> Result<Option<JobStatusRow>> {
        Ok(self.select_jobs(None, Some(key)).await?.into_iter().next())
    }

    async fn select_jobs(
        &self,
        sweep: Option<&str>,
        key: Option<&str>,
    ) -> Result<Vec<JobStatusRow>> {
        let rows: Vec<StatusRecord> = on_backend!(self, "reading job states", |pool, sql| {
            Ok(sqlx::query_as(sql.select_jobs)
                .bind(sweep)
                .bind(key)
                .fetch_all(pool)
                .await?)
        })?;
        rows.into_iter().map(status_row).collect()
    }

    /// Jobs counted by status, of `sweep` (id or name) or of the whole database.
    pub async fn counts(&self, sweep: Option<&str>) -> Result<StatusCounts> {
        self.check_sweep(sweep).await?;
        let rows: Vec<CountRecord> = on_backend!(self, "counting jobs", |pool, _sql| {
            Ok(sqlx::query_as(sql::SELECT_COUNTS)
                .bind(sweep)
                .fetch_all(pool)
                .await?)
        })?;
        counts_from(rows)
    }

    // ----- merging ---------------------------------------------------------------------------

    async fn export(&self) -> Result<Export> {
        let mut data = self.export_rows().await?;
        drop_non_finite(&mut data);
        Ok(data)
    }

    async fn export_rows(&self) -> Result<Export> {
        on_backend!(self, "reading a database to merge", |pool, sql| {
            Ok(Export {
                sweeps: sqlx::query_as(sql.select_sweeps).fetch_all(pool).await?,
                jobs: sqlx::query_as((sql.export_jobs)()).fetch_all(pool).await?,
                memberships: sqlx::query_as(sql::EXPORT_MEMBERSHIPS)
                    .fetch_all(pool)
                    .await?,
                results: sqlx::query_as(sql.export_results).fetch_all(pool).await?,
                epochs: sqlx::query_as(sql::EXPORT_EPOCHS).fetch_all(pool).await?,
                job_data: sqlx::query_as(sql::SELECT_JOB_DATA).fetch_all(pool).await?,
                predictions: sqlx::query_as(sql::EXPORT_PREDICTIONS)
                    .fetch_all(pool)
                    .await?,
            })
        })
    }

    /// Copies the sweeps, jobs, memberships, results, epochs and predictions of `other` (either back end)
    /// into this store, in one transaction, without duplicates: rows are matched by sweep id and
    /// job key. A job new here is copied as it is (a running one as interrupted); a job that is
    /// done in `other` but not here takes `other`'s state, result and history; otherwise this
    /// store's job wins. A job done in both with different test accuracy or loss is listed in
    /// [`MergeReport::conflicts`] (this store's result is kept). Checkpoints are not copied.
    pub async fn merge_from(&self, other: &Store) -> Result<MergeReport> {
        let data = other.export().await?;
        let mut results: HashMap<&str, &ResultRecord> = HashMap::new();
        for r in &data.results {
            results.insert(&r.job_key, r);
        }
        let job_data: HashMap<&str, (&str, Option<bool>)> = data
            .job_data
            .iter()
            .map(|(k, sha, verified)| (k.as_str(), (sha.as_str(), *verified)))
            .collect();
        let mut epochs: HashMap<&str, Vec<&EpochRecord>> = HashMap::new();
        for e in &data.epochs {
            epochs.entry(&e.job_key).or_default().push(e);
        }
        let mut predictions: HashMap<&str, Vec<&PredictionRecord>> = HashMap::new();
        for p in &data.predictions {
            predictions.entry(&p.job_key).or_default().push(p);
        }
        on_backend!(self, "merging another results database", |pool, sql| {
            let mut tx = pool.begin_with(sql.begin_write).await?;
            let mut report = MergeReport::default();
            for s in &data.sweeps {
                let n = sqlx::query(sql.insert_sweep)
                    .bind(&s.id)
                    .bind(&s.name)
                    .bind(&s.grid_text)
                    .bind(&s.started_at)
                    .bind(&s.finished_at)
                    .bind(&s.host)
                    .bind(&s.tune_version)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                report.sweeps_added += n as usize;
            }
            let base: i64 = sqlx::query_scalar(sql::MAX_SEQ).fetch_one(&mut *tx).await?;
            for (i, job) in data.jobs.iter().enumerate() {
                let here: Option<String> = sqlx::query_scalar(sql::JOB_STATUS)
                    .bind(&job.key)
                    .fetch_optional(&mut *tx)
                    .await?;
                let done = JobStatus::Done.as_str();
                match here {
                    None => {
                        let mut record = job.clone();
                        record.seq = base + 1 + i as i64;
                        if record.status == JobStatus::Running.as_str() {
                            record.status = JobStatus::Interrupted.as_str().to_string();
                            record.lease_expires_at = None;
                        }
                        columns::bind_job(sqlx::query((sql.insert_job)()), &record)
                            .execute(&mut *tx)
                            .await?;
                        report.jobs_added += 1;
                    }
                    Some(status) if status != done && job.status == done => {
                        sqlx::query(sql.merge_job_state)
                            .bind(&job.key)
                            .bind(&job.status)
                            .bind(job.attempts)
                            .bind(&job.worker_id)
                            .bind(&job.last_error)
                            .bind(&job.started_at)
                            .bind(&job.finished_at)
                            .bind(job.params)
                            .execute(&mut *tx)
                            .await?;
                        for q in [
                            sql::DELETE_EPOCHS,
                            sql::DELETE_CHECKPOINT,
                            sql::DELETE_PREDICTIONS,
                        ] {
                            sqlx::query(q).bind(&job.key).execute(&mut *tx).await?;
                        }
                        report.jobs_completed += 1;
                    }
                    Some(status) if status == done && job.status == done => {
                        // Both finished it: the result here wins; a different one is a conflict.
                        let kept: Option<(Option<f64>, Option<f64>)> =
                            sqlx::query_as(sql::SELECT_RESULT_FIGURES)
                                .bind(&job.key)
                                .fetch_optional(&mut *tx)
                                .await?;
                        let kept_data: Option<String> = sqlx::query_scalar(sql::JOB_DATA)
                            .bind(&job.key)
                            .fetch_one(&mut *tx)
                            .await?;
                        let dropped_data = job_data.get(job.key.as_str()).map(|d| d.0.to_string());
                        if let (Some(kept), Some(r)) = (kept, results.get(job.key.as_str())) {
                            let dropped = (Some(r.test_accuracy), Some(r.test_loss));
                            let data_differs = kept_data.is_some()
                                && dropped_data.is_some()
                                && kept_data != dropped_data;
                            if !same_figure(kept.0, dropped.0)
                                || !same_figure(kept.1, dropped.1)
                                || data_differs
                            {
                                report.conflicts.push(MergeConflict {
                                    key: job.key.clone(),
                                    spec: columns::parse_spec(&job.key, &job.spec_json)?,
                                    kept,
                                    dropped,
                                    kept_data,
                                    dropped_data,
                                });
                            }
                        }
                        continue;
                    }
                    Some(_) => continue,
                }
                if let Some((sha, verified)) = job_data.get(job.key.as_str()) {
                    sqlx::query(sql::COPY_JOB_DATA)
                        .bind(&job.key)
                        .bind(sha)
                        .bind(verified)
                        .execute(&mut *tx)
                        .await?;
                }
                if let Some(r) = results.get(job.key.as_str()) {
                    bind_result!(sqlx::query(sql.upsert_result), r)
                        .execute(&mut *tx)
                        .await?;
                }
                for e in epochs.get(job.key.as_str()).into_iter().flatten() {
                    bind_epoch!(sqlx::query(sql::UPSERT_EPOCH), e)
                        .execute(&mut *tx)
                        .await?;
                }
                for p in predictions.get(job.key.as_str()).into_iter().flatten() {
                    bind_predictions!(sqlx::query(sql::UPSERT_PREDICTIONS), p)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            for m in &data.memberships {
                let n = sqlx::query(sql::INSERT_MEMBERSHIP)
                    .bind(&m.sweep_id)
                    .bind(&m.job_key)
                    .bind(m.position)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                report.memberships_added += n as usize;
            }
            sqlx::query(sql::REOPEN_SWEEPS).execute(&mut *tx).await?;
            sqlx::query(sql.finish_sweeps)
                .bind(None::<String>)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(report)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://tune:secret@db:5432/tune"),
            "postgres://tune:***@db:5432/tune"
        );
        assert_eq!(redact("postgres://tune@db/tune"), "postgres://tune@db/tune");
        assert_eq!(redact("results/results.db"), "results/results.db");
    }

    #[tokio::test]
    async fn unsupported_targets_are_refused() {
        let err = Store::open("mysql://x/y").await.unwrap_err();
        assert!(matches!(err, StoreError::UnsupportedTarget { .. }), "{err}");
    }
}
