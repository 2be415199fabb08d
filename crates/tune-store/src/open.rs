//! Opening a store: targets, options, the schema check before anything is written, migrations,
//! read-only opening, and closing.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};

use crate::error::{Result, StoreError};
use crate::{Backend, Store, sql};

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
    /// SQLite: create the file (and its directory) when it does not exist. When `false`, a
    /// missing file fails with [`StoreError::Missing`] and nothing is created (for commands that
    /// work on an existing database only). PostgreSQL databases are never created either way.
    pub create_if_missing: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            max_connections: 4,
            busy_timeout: Duration::from_secs(30),
            pg_schema: None,
            read_only: false,
            create_if_missing: true,
        }
    }
}

/// SQLite read-only opens: bytes of the file mapped into memory (`PRAGMA mmap_size`).
const READ_MMAP_BYTES: u64 = 1 << 30;

/// SQLite read-only opens: KiB of page cache per connection (`PRAGMA cache_size = -N`).
const READ_CACHE_KIB: u64 = 32 * 1024;

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

/// Statements slower than [`SLOW_STATEMENT`] are logged at this level: debug (`-vv`), not sqlx's
/// default warning, which users saw during normal runs (a checkpoint's INSERT waiting over 1 s
/// for the SQLite write lock on a loaded machine is normal, not a problem to report).
const SLOW_STATEMENT_LEVEL: log::LevelFilter = log::LevelFilter::Debug;
/// The duration above which a statement counts as slow.
const SLOW_STATEMENT: std::time::Duration = std::time::Duration::from_secs(1);

/// Switches the SQLite file at `file` from WAL to the rollback journal, if no other connection
/// has it open (see [`Store::close`]); when one has (a dashboard reading it), checkpoints the
/// log into the file instead, so that the file alone still holds everything. Failures are logged
/// and otherwise ignored.
async fn leave_wal(file: &std::path::Path) {
    let connect = SqliteConnectOptions::new()
        .filename(file)
        .create_if_missing(false)
        .busy_timeout(std::time::Duration::from_millis(2000));
    match connect.connect().await {
        Ok(mut c) => {
            let frames: std::result::Result<(i64, i64, i64), _> =
                sqlx::query_as(sql::sqlite::CHECKPOINT)
                    .fetch_one(&mut c)
                    .await;
            tracing::debug!(file = %file.display(), ?frames, "checkpoint on close");
            let mode: std::result::Result<String, _> = sqlx::query_scalar(sql::sqlite::LEAVE_WAL)
                .fetch_one(&mut c)
                .await;
            tracing::debug!(file = %file.display(), ?mode, "journal mode on close");
            let _ = sqlx::Connection::close(c).await;
        }
        Err(e) => tracing::debug!(file = %file.display(), "journal mode left as is: {e}"),
    }
}

/// Whether SQLite refused to open a file read-only for want of its WAL index (`-shm`) or a lock
/// (read-only media), so that it must be read as immutable.
fn can_not_open_read_only(e: &sqlx::Error) -> bool {
    matches!(sqlite_code(e), Some(8 | 14))
}

/// Whether SQLite could not open the file (`SQLITE_CANTOPEN`), e.g. because it does not exist
/// and may not be created.
fn can_not_open(e: &sqlx::Error) -> bool {
    sqlite_code(e) == Some(14)
}

/// The primary SQLite result code of a database error.
fn sqlite_code(e: &sqlx::Error) -> Option<i64> {
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|c| c.parse::<i64>().ok())
            .map(|c| c & 0xff),
        _ => None,
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

/// [`StoreError::Migrate`] of `target`, for `map_err`.
fn migrate_failed(target: &str) -> impl FnOnce(sqlx::migrate::MigrateError) -> StoreError + '_ {
    move |source| StoreError::Migrate {
        target: target.to_string(),
        source,
    }
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

    /// Opens an existing database for writing: [`Store::open`] without creating anything (see
    /// [`StoreOptions::create_if_missing`]). Fails with [`StoreError::Missing`] when an SQLite
    /// target has no file, before it writes anything.
    pub async fn open_existing(target: &str) -> Result<Store> {
        let options = StoreOptions {
            create_if_missing: false,
            ..StoreOptions::default()
        };
        Store::open_with(target, &options).await
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
            .foreign_keys(true)
            .log_slow_statements(SLOW_STATEMENT_LEVEL, SLOW_STATEMENT);
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
            // A reader (`tune serve`, reports) reads whole sweeps again and again: map the file
            // (no copy through read calls) and keep up to 32 MiB of pages per connection, so that
            // a page read twice comes from memory.
            let connect = connect
                .pragma("mmap_size", READ_MMAP_BYTES.to_string())
                .pragma("cache_size", format!("-{READ_CACHE_KIB}"));
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
            let newer_schema =
                Store::check_readable(target, &schema, &sqlx::migrate!("../../migrations/sqlite"))?;
            tracing::debug!(target, "opened SQLite results database read-only");
            return Ok(Store {
                backend: Backend::Sqlite(pool),
                max_attempts: options.max_attempts.max(1),
                target: target.to_string(),
                sqlite_file: std::fs::canonicalize(&path).ok(),
                read_only: true,
                newer_schema,
            });
        }
        if exists && std::fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
            // Look before changing anything (even the journal mode): tune writes only to its own
            // databases.
            let (pool, schema) = Store::inspect_sqlite(&connect, options)
                .await
                .map_err(open_err)?;
            pool.close().await;
            Store::check_writable(target, &schema, &sqlx::migrate!("../../migrations/sqlite"))?;
        }
        let create = memory || options.create_if_missing;
        if create
            && !memory
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
            .create_if_missing(create)
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
        let pool = pool_options.connect_with(connect).await.map_err(|e| {
            if !create && can_not_open(&e) && !path.exists() {
                // `create_if_missing` is off: SQLite does not create what is not there.
                StoreError::Missing {
                    target: target.to_string(),
                }
            } else {
                open_err(e)
            }
        })?;
        sqlx::migrate!("../../migrations/sqlite")
            .run(&pool)
            .await
            .map_err(migrate_failed(target))?;
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
            newer_schema: Vec::new(),
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
    /// with every migration this tune knows (a reader never migrates). Returns the applied
    /// migrations this tune does not know: a newer tune wrote it (read anyway; see
    /// [`Store::newer_schema`]).
    fn check_readable(target: &str, schema: &Schema, migrator: &Migrator) -> Result<Vec<i64>> {
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
                // Migrations this build does not know: a newer tune wrote the database.
                None => Ok(applied
                    .iter()
                    .copied()
                    .filter(|v| !migrator.iter().any(|m| m.version == *v))
                    .collect()),
            },
        }
    }

    /// Whether a command that writes may migrate and write a database with `schema`: an empty
    /// one or tune's own, without migrations `migrator` does not know (a newer tune's).
    fn check_writable(target: &str, schema: &Schema, migrator: &Migrator) -> Result<()> {
        match schema {
            Schema::Foreign { tables } => Err(StoreError::Foreign {
                target: target.to_string(),
                tables: tables_text(tables),
            }),
            Schema::Tune { applied } => {
                let unknown: Vec<String> = applied
                    .iter()
                    .filter(|v| !migrator.iter().any(|m| m.version == **v))
                    .map(i64::to_string)
                    .collect();
                if unknown.is_empty() {
                    Ok(())
                } else {
                    Err(StoreError::Newer {
                        target: target.to_string(),
                        versions: unknown.join(", "),
                    })
                }
            }
            Schema::Empty => Ok(()),
        }
    }

    async fn open_postgres(target: &str, options: &StoreOptions) -> Result<Store> {
        let shown = redact(target);
        let open_err = |source| StoreError::Open {
            target: shown.clone(),
            source,
        };
        let mut connect = PgConnectOptions::from_str(target)
            .map_err(open_err)?
            .log_slow_statements(SLOW_STATEMENT_LEVEL, SLOW_STATEMENT);
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
        let newer_schema = if options.read_only {
            Store::check_readable(&shown, &schema, &migrator)?
        } else {
            Store::check_writable(&shown, &schema, &migrator)?;
            ensure_pg_schema(&mut conn, &shown).await?;
            Vec::new()
        };
        conn.close().await.map_err(open_err)?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .connect_with(connect)
            .await
            .map_err(open_err)?;
        if !options.read_only {
            migrator.run(&pool).await.map_err(migrate_failed(&shown))?;
        }
        tracing::debug!(target = %shown, read_only = options.read_only, "opened PostgreSQL results database");
        Ok(Store {
            backend: Backend::Postgres(pool),
            max_attempts: options.max_attempts.max(1),
            target: shown,
            sqlite_file: None,
            read_only: options.read_only,
            newer_schema,
        })
    }

    /// Closes the connections, waiting for running queries (SQLite also checkpoints its WAL).
    ///
    /// A writer of an SQLite file then also leaves write-ahead logging (`PRAGMA journal_mode =
    /// DELETE`) when it is the file's last user: the database is one self-contained file again
    /// (to copy or mail), and readers (`tune report`, `sqlite3`) do not create `-wal` and `-shm`
    /// files beside it. The next writer turns WAL back on. If another process still has the file
    /// open (`tune serve`), the mode stays WAL, but the log is checkpointed into the file first
    /// (`PRAGMA wal_checkpoint(TRUNCATE)`): the file alone still holds every result.
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
