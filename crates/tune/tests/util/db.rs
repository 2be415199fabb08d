//! Reading a results database the way a user would with `sqlite3`: plain SQL on the file, while
//! `tune` may still be writing to it (WAL lets readers and the writer go on at once).

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use std::path::Path;
use std::time::Duration;
use tokio::runtime::Runtime;

/// An open SQLite results database.
pub struct Db {
    rt: Runtime,
    pool: SqlitePool,
}

impl Db {
    /// Opens the existing database `path`; panics if it cannot.
    pub fn open(path: &Path) -> Db {
        Db::try_open(path).unwrap_or_else(|| panic!("cannot open {}", path.display()))
    }

    /// Creates (or opens) an SQLite database at `path` in SQLite's default rollback-journal
    /// mode, as another application would (e.g. one that is not tune's).
    pub fn create(path: &Path) -> Db {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        let pool = rt
            .block_on(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options),
            )
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Db { rt, pool }
    }

    /// Opens the existing database `path`, or `None` when there is none (yet).
    pub fn try_open(path: &Path) -> Option<Db> {
        if !path.exists() {
            return None;
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(false)
            .busy_timeout(Duration::from_secs(10));
        let pool = rt
            .block_on(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options),
            )
            .ok()?;
        Some(Db { rt, pool })
    }

    /// The single integer a query returns; `None` when it fails (e.g. no tables yet).
    pub fn try_int(&self, sql: &'static str) -> Option<i64> {
        self.rt
            .block_on(sqlx::query_scalar(sql).fetch_one(&self.pool))
            .ok()
    }

    /// The single integer a query returns.
    pub fn int(&self, sql: &'static str) -> i64 {
        self.rt
            .block_on(sqlx::query_scalar(sql).fetch_one(&self.pool))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The single text a query returns.
    pub fn text(&self, sql: &'static str) -> String {
        self.rt
            .block_on(sqlx::query_scalar(sql).fetch_one(&self.pool))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Every row of a query, as `T` (a tuple of column types).
    pub fn rows<T>(&self, sql: &'static str) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin,
    {
        self.rt
            .block_on(sqlx::query_as(sql).fetch_all(&self.pool))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs a statement (e.g. to break the database behind `tune`'s back).
    pub fn execute(&self, sql: &'static str) {
        self.rt
            .block_on(sqlx::query(sql).execute(&self.pool))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Runs a statement with one text parameter.
    pub fn execute_with(&self, sql: &'static str, param: &str) {
        self.rt
            .block_on(sqlx::query(sql).bind(param).execute(&self.pool))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Every row of a query with one text parameter, as `T`.
    pub fn rows_with<T>(&self, sql: &'static str, param: &str) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin,
    {
        self.rt
            .block_on(sqlx::query_as(sql).bind(param).fetch_all(&self.pool))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.rt.block_on(self.pool.close());
    }
}

/// Polls the database until `ready` holds, failing the test after `limit` or if `child` exits.
pub fn wait_for(
    db: &Path,
    child: &mut std::process::Child,
    limit: Duration,
    ready: impl Fn(&Db) -> bool,
) {
    let start = std::time::Instant::now();
    loop {
        if let Some(db) = Db::try_open(db)
            && ready(&db)
        {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("tune exited ({status}) before the awaited state was reached");
        }
        assert!(
            start.elapsed() < limit,
            "the awaited state was not reached in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
