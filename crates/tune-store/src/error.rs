//! The one error type of the store.

use std::path::PathBuf;

/// Everything that can go wrong in the results store. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The target is neither a PostgreSQL URL nor an SQLite URL or path.
    #[error(
        "unsupported results database `{target}`: use a file path, `sqlite:PATH` or `postgres://USER@HOST/DB`"
    )]
    UnsupportedTarget {
        /// What was given.
        target: String,
    },
    /// The parent directory of the SQLite file could not be created.
    #[error(
        "cannot create the directory {} for results database {target}: {source}; check the path or pass --db",
        dir.display()
    )]
    CreateDir {
        /// The database as given.
        target: String,
        /// The directory that could not be created.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `--db` (or `TUNE_DB`) is empty.
    #[error(
        "the results database is an empty string: pass --db PATH (e.g. results/results.db) or --db postgres://USER@HOST/DB"
    )]
    EmptyTarget,
    /// An SQLite target names a directory (an existing one, or a path ending in `/`), not a file.
    #[error(
        "results database `{target}` {}: name the file, e.g. --db {}",
        if *exists { "is a directory, not a file" } else { "ends with `/`, so it names a directory" },
        suggest.display()
    )]
    IsDirectory {
        /// The database as given.
        target: String,
        /// A file path inside that directory.
        suggest: PathBuf,
        /// Whether the directory exists.
        exists: bool,
    },
    /// The SQLite file has several hard links: SQLite would keep a write-ahead log per name.
    #[error(
        "results database {target} has {links} hard links: SQLite keeps its write-ahead log beside the name used, so two names for one database can corrupt it; use one name (copy the file instead of linking it)"
    )]
    HardLinks {
        /// The database as given.
        target: String,
        /// How many names the file has.
        links: u64,
    },
    /// A command that only reads found a database with no tables at all (an empty file, or an
    /// empty PostgreSQL database): nothing was ever written to it.
    #[error(
        "{target} holds no tables (an empty file or database): no results were ever written to it; \
         `tune run GRID.toml --db {target}` fills it, or pass the --db that holds your results"
    )]
    NoTables {
        /// The database as given.
        target: String,
    },
    /// A command that only reads found no database (reading never creates one).
    #[error("no results database at {target}: run `tune run grids/quick.toml` first, or pass --db")]
    Missing {
        /// The database as given.
        target: String,
    },
    /// The database holds tables that are not tune's: tune changes nothing in it.
    #[error(
        "{target} is not a tune results database (it holds {tables} and no tune schema); tune leaves it unchanged: pass another --db"
    )]
    Foreign {
        /// The database (passwords removed).
        target: String,
        /// Some of the tables it holds, for the message.
        tables: String,
    },
    /// A command that only reads met a tune database whose schema lacks this tune's migrations.
    #[error(
        "results database {target} was written by an older tune (its schema lacks migration {missing}); reading never changes a database: upgrade it once with `tune migrate --db {target}` (any writing command such as `tune run` also does)"
    )]
    Outdated {
        /// The database (passwords removed).
        target: String,
        /// The first migration it lacks.
        missing: i64,
    },
    /// A command that writes met a tune database with migrations this tune does not know.
    #[error(
        "results database {target} was written by a newer tune (it has migration {versions}, which this tune does not know); upgrade tune to write to it, or use another --db (tune report and tune serve read it as it is)"
    )]
    Newer {
        /// The database (passwords removed).
        target: String,
        /// The migrations it has that this tune does not know, comma-separated.
        versions: String,
    },
    /// The database could not be opened or connected to.
    #[error("cannot open results database {target}: {source}; {}", hint(source))]
    Open {
        /// The database (passwords removed).
        target: String,
        /// Why.
        source: sqlx::Error,
    },
    /// The PostgreSQL server could not be reached or refused the connection.
    #[error(
        "cannot connect to results database {target}: {source}; is the PostgreSQL server running and reachable, and are the user, password and database right? check the URL in --db (or TUNE_DB)"
    )]
    Connect {
        /// The database (passwords removed).
        target: String,
        /// Why.
        source: sqlx::Error,
    },
    /// No schema on the PostgreSQL `search_path` exists and none of its names can be created.
    #[error(
        "results database {target}: no schema on its search_path ({search_path}) exists; create one (CREATE SCHEMA name) or name an existing one in the URL (options=-c search_path=NAME)"
    )]
    NoSchema {
        /// The database (passwords removed).
        target: String,
        /// The connection's `search_path`.
        search_path: String,
    },
    /// The schema named by the PostgreSQL `search_path` does not exist and could not be created.
    #[error(
        "results database {target}: schema `{schema}` (from its search_path) does not exist and could not be created: {source}; create it (CREATE SCHEMA {schema}) or name an existing one in the URL (options=-c search_path=NAME)"
    )]
    CreateSchema {
        /// The database (passwords removed).
        target: String,
        /// The schema.
        schema: String,
        /// Why.
        source: sqlx::Error,
    },
    /// The schema migrations could not be applied.
    #[error(
        "cannot bring the schema of results database {target} up to date: {source}; {}",
        migrate_hint(source)
    )]
    Migrate {
        /// The database (passwords removed).
        target: String,
        /// Why.
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed.
    #[error("results database error while {what}: {source}; {}", hint(source))]
    Query {
        /// What the store was doing.
        what: &'static str,
        /// Why.
        source: sqlx::Error,
    },
    /// A worker's claim on a job is no longer valid: its lease expired and another worker took the
    /// job, or the job was reset. Nothing was written; the worker should drop the job.
    #[error(
        "job {key}: worker {worker_id} no longer holds it (attempt {attempt}); its lease expired or the job was reset, so this write was discarded; drop the job and claim another"
    )]
    LeaseLost {
        /// The job.
        key: String,
        /// The worker whose claim is stale.
        worker_id: String,
        /// The stale attempt number.
        attempt: u32,
    },
    /// A job's epochs so far were trained on other data than the data at hand.
    #[error(
        "job {key} was trained so far on data with SHA-256 {recorded}, but the data at hand has SHA-256 {found}; results of different data are never mixed: point --data-dir at the data it started on, or train into another --db"
    )]
    DataMismatch {
        /// The job.
        key: String,
        /// The data identity recorded for it.
        recorded: String,
        /// The data identity at hand.
        found: String,
    },
    /// A job that cannot be enqueued: its architecture cannot be built or a value does not fit a
    /// database column.
    #[error("job {key} cannot be stored: {why}; fix the grid file")]
    InvalidJob {
        /// The job's key.
        key: String,
        /// What is wrong.
        why: String,
    },
    /// No sweep has this id or name.
    #[error(
        "no sweep named `{sweep}` in the results database; {}",
        if known.is_empty() {
            "it holds no sweeps yet (`tune run GRID` records one)".to_string()
        } else {
            format!("its sweeps are: {} (`--sweep` takes a name or an id)", known.join(", "))
        }
    )]
    UnknownSweep {
        /// The id or name asked for.
        sweep: String,
        /// The sweeps the database holds, as `name (id)`.
        known: Vec<String>,
    },
    /// A row in the database cannot be read back (e.g. written by an incompatible version).
    #[error(
        "job {key} in the results database has an unreadable {what}: {why}; the database may come from an incompatible tune version"
    )]
    Corrupt {
        /// The job's key.
        key: String,
        /// Which value.
        what: &'static str,
        /// Why it cannot be read.
        why: String,
    },
    /// A figure that is not a finite number (NaN, infinity) was offered for a REAL column: the
    /// store never holds one (a diverged job is failed by the runner before this can happen).
    #[error(
        "job {key}: {what} is {value}, which the results database does not store (only finite \
         numbers are stored; a diverged job is marked failed instead)"
    )]
    NonFinite {
        /// The job's key.
        key: String,
        /// Which figure, e.g. `epoch 3 train_loss`.
        what: String,
        /// Its value (`NaN`, `inf`, `-inf`).
        value: f64,
    },
    /// A PostgreSQL schema name that is not a plain identifier.
    #[error("invalid PostgreSQL schema name `{0}`: use lowercase letters, digits and `_`")]
    InvalidSchema(String),
}

/// Why the store itself gave up on a job and marked it failed: what happened and what to do
/// about it, the text of the job's `last_error` (see [`GaveUp::last_error`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum GaveUp {
    /// The lease of `worker_id` expired on `attempt`, the `lost`-th attempt in a row lost without
    /// a finished epoch, and `allowed` are allowed.
    #[error(
        "lease of worker {} expired on attempt {attempt} ({lost} of {allowed} lost attempts \
         allowed in a row without a finished epoch; the worker died or hung); giving up",
        worker_id.as_deref().unwrap_or("?")
    )]
    LeaseExpired {
        /// The worker that held the job.
        worker_id: Option<String>,
        /// The attempt that was lost.
        attempt: i64,
        /// Attempts lost in a row without a finished epoch, this one included.
        lost: i64,
        /// How many are allowed (`max_attempts`).
        allowed: i64,
    },
    /// The run was killed during `attempt`, the `killed`-th kill in a row without a finished
    /// epoch, and `allowed` are allowed.
    #[error(
        "the run was killed during attempt {attempt} ({killed} of {allowed} kills allowed in a \
         row without a finished epoch; out of memory? see dmesg); giving up, \
         `tune run --retry-failed` tries again"
    )]
    Killed {
        /// The attempt that was killed.
        attempt: i64,
        /// Kills in a row without a finished epoch, this one included.
        killed: i64,
        /// How many are allowed (`max_attempts`).
        allowed: i64,
    },
    /// A figure stored by an earlier tune version was NaN or infinite (found when merging).
    #[error(
        "diverged: a figure stored by an earlier tune version was not finite (NaN or infinite); \
         lower lr and run the grid with --retry-failed"
    )]
    Diverged,
}

impl GaveUp {
    /// The job's new `last_error`: this reason, then the job's `earlier` error, if any.
    pub(crate) fn last_error(&self, earlier: Option<&str>) -> String {
        match earlier {
            Some(e) => format!("{self}; earlier: {e}"),
            None => self.to_string(),
        }
    }
}

/// What to do about a failed query or connection, by its cause: a full disk or a damaged file is
/// not a schema problem, and a busy database is not a damaged one.
pub(crate) fn hint(e: &sqlx::Error) -> &'static str {
    const RETRY: &str = "if the database is locked or unreachable, retry, or check the --db target";
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // SQLite: the extended result code as a number (the primary code is its low byte);
            // PostgreSQL: the SQLSTATE.
            match code.parse::<i64>().map(|c| c & 0xff) {
                Ok(13) => "the disk holding the database is full: free space and run again",
                Ok(11) | Ok(26) => {
                    "the file is damaged or is not an SQLite database: restore it from a copy or pass another --db"
                }
                Ok(8) => {
                    "the database or its directory is read-only: make it writable or pass another --db"
                }
                Ok(5) | Ok(6) => "another process holds the database's lock: retry when it is done",
                Ok(10) => {
                    "the disk reported an I/O error (failing disk or network file system?): check it, or copy the database to a local disk"
                }
                Ok(14) => "the file cannot be opened: check the path and its permissions",
                _ if code == "53100" => {
                    "the PostgreSQL server's disk is full: free space on the server and run again"
                }
                _ if code.starts_with("08") || code.starts_with("57") => {
                    "the PostgreSQL server went away: check that it runs, then run again"
                }
                _ => RETRY,
            }
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            "the database could not be reached: check that it runs and is reachable, then run again"
        }
        _ => RETRY,
    }
}

/// What to do about a failed migration, by its cause.
fn migrate_hint(e: &sqlx::migrate::MigrateError) -> &'static str {
    use sqlx::migrate::MigrateError as M;
    match e {
        M::VersionMissing(_) | M::VersionTooNew(..) | M::VersionNotPresent(_) => {
            "it was written by a newer tune: upgrade tune or use another --db"
        }
        M::VersionMismatch(_) => {
            "its schema was written by a different build of tune whose migrations differ from this one's: use the tune that wrote it, or another --db"
        }
        M::Execute(e) | M::ExecuteMigration(e, _) => hint(e),
        _ => "use another --db",
    }
}

impl StoreError {
    /// Whether this is [`StoreError::LeaseLost`]: the job was taken over and the worker should
    /// drop it rather than report a failure.
    pub fn is_lease_lost(&self) -> bool {
        matches!(self, StoreError::LeaseLost { .. })
    }

    /// Whether the database did not answer at all, so that the same statement may succeed once it
    /// answers again: no connection could be made (refused, no route to the host, the pool's 30 s
    /// acquire timeout), an open connection broke, or the server is shutting down or restarting
    /// (SQLSTATE class 08, or 57P01-57P03). A statement the database answered and refused (a
    /// missing table, a full disk, a lost lease) is not: retrying it changes nothing.
    pub fn is_unreachable(&self) -> bool {
        let source = match self {
            StoreError::Query { source, .. } => source,
            _ => return false,
        };
        match source {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
            }),
            _ => false,
        }
    }

    /// The error of a statement (busy with `what`) that got no answer within `waited`: unreachable
    /// (see [`StoreError::is_unreachable`]).
    pub fn no_answer(what: &'static str, waited: std::time::Duration) -> StoreError {
        StoreError::Query {
            what,
            source: sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", waited.as_secs()),
            )),
        }
    }

    /// Whether the database could not be reached, opened, migrated or written (tune exits 69,
    /// "unavailable"), as against a target, sweep or job that is wrong as given (exit 2).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Open { source, .. } => !matches!(source, sqlx::Error::Configuration(_)),
            StoreError::CreateDir { .. }
            | StoreError::Connect { .. }
            | StoreError::NoSchema { .. }
            | StoreError::CreateSchema { .. }
            | StoreError::Migrate { .. }
            | StoreError::Newer { .. }
            | StoreError::Query { .. }
            | StoreError::Corrupt { .. } => true,
            StoreError::UnsupportedTarget { .. }
            | StoreError::LeaseLost { .. }
            | StoreError::InvalidJob { .. }
            | StoreError::UnknownSweep { .. }
            | StoreError::InvalidSchema(_)
            | StoreError::NonFinite { .. }
            | StoreError::EmptyTarget
            | StoreError::IsDirectory { .. }
            | StoreError::HardLinks { .. }
            | StoreError::Missing { .. }
            | StoreError::NoTables { .. }
            | StoreError::Foreign { .. }
            | StoreError::Outdated { .. }
            | StoreError::DataMismatch { .. } => false,
        }
    }
}

/// Shorthand for results of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An error inside a store method, before the method says what it was doing.
pub(crate) enum Fail {
    /// A query failed.
    Sql(sqlx::Error),
    /// Anything else, already complete.
    Store(StoreError),
}

impl From<sqlx::Error> for Fail {
    fn from(e: sqlx::Error) -> Self {
        Fail::Sql(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl Fail {
    /// The public error, saying that the store was busy with `what`.
    pub(crate) fn into_store_error(self, what: &'static str) -> StoreError {
        match self {
            Fail::Sql(source) => StoreError::Query { what, source },
            Fail::Store(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(source: sqlx::Error) -> StoreError {
        StoreError::Query {
            what: "recording an epoch",
            source,
        }
    }

    #[test]
    fn only_errors_without_an_answer_are_unreachable() {
        let io = |kind| sqlx::Error::Io(std::io::Error::from(kind));
        assert!(query(io(std::io::ErrorKind::HostUnreachable)).is_unreachable());
        assert!(query(io(std::io::ErrorKind::ConnectionReset)).is_unreachable());
        assert!(query(sqlx::Error::PoolTimedOut).is_unreachable());
        let waited =
            StoreError::no_answer("recording an epoch", std::time::Duration::from_secs(60));
        assert!(waited.is_unreachable() && waited.is_unavailable());
        assert!(
            waited.to_string().contains("no answer within 60 s"),
            "{waited}"
        );
        // Answered and refused: retrying changes nothing.
        assert!(!query(sqlx::Error::RowNotFound).is_unreachable());
        assert!(!query(sqlx::Error::PoolClosed).is_unreachable());
        let lost = StoreError::LeaseLost {
            key: "k".into(),
            worker_id: "w".into(),
            attempt: 1,
        };
        assert!(!lost.is_unreachable());
    }
}
