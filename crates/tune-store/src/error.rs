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
    /// The database could not be opened or connected to.
    #[error("cannot open results database {target}: {source}; check the path or pass --db")]
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
        "cannot bring the schema of results database {target} up to date: {source}; if it was written by a newer tune, upgrade tune or use another --db"
    )]
    Migrate {
        /// The database (passwords removed).
        target: String,
        /// Why.
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed.
    #[error(
        "results database error while {what}: {source}; if the database is locked or unreachable, retry, or check the --db target"
    )]
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
    /// A PostgreSQL schema name that is not a plain identifier.
    #[error("invalid PostgreSQL schema name `{0}`: use lowercase letters, digits and `_`")]
    InvalidSchema(String),
}

impl StoreError {
    /// Whether this is [`StoreError::LeaseLost`]: the job was taken over and the worker should
    /// drop it rather than report a failure.
    pub fn is_lease_lost(&self) -> bool {
        matches!(self, StoreError::LeaseLost { .. })
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
