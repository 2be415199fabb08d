//! A PostgreSQL server for the tests that need one: its URL from `TUNE_TEST_POSTGRES_URL`, a
//! lock that keeps the other tests off it while one restarts it, and a database of each test's own.

use sqlx::postgres::{PgPoolOptions, PgRow};
use std::path::Path;
use std::process::Command;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Makes `fn NAME()` (beside it, with its doc comment) a test that needs a PostgreSQL server:
/// `NAME::on_postgres`, marked `#[ignore]` with the way to run it in builds without
/// `TUNE_TEST_POSTGRES_URL` (`cfg(tune_test_postgres)`, see `build.rs`), so that it is counted as
/// ignored rather than passing silently. The function stays an ordinary one (formatted, linted);
/// one it is not written for is dead code, which clippy refuses.
///
/// ```ignore
/// pg_test!(workers_share_a_queue);
/// fn workers_share_a_queue() { ... }
/// ```
macro_rules! pg_test {
    ($name:ident) => {
        mod $name {
            #[test]
            #[cfg_attr(
                not(tune_test_postgres),
                ignore = "needs a PostgreSQL server: set TUNE_TEST_POSTGRES_URL (bash crates/tune-store/tests/pg.sh start) and rebuild"
            )]
            fn on_postgres() {
                super::$name()
            }
        }
    };
}
pub(crate) use pg_test;

/// `tune worker --db URL --data-dir DATA --jobs 1 --threads-per-job 1 --quiet EXTRA...` in `dir`.
pub fn worker_cmd(dir: &Path, url: &str, data: &Path, extra: &[&str]) -> Command {
    let mut cmd = crate::util::tune(dir);
    cmd.args(["worker", "--db", url, "--data-dir"])
        .arg(data)
        .args(["--jobs", "1", "--threads-per-job", "1", "--quiet"])
        .args(extra);
    cmd
}

/// The environment variable naming the PostgreSQL server to test against.
pub const PG_ENV: &str = "TUNE_TEST_POSTGRES_URL";

/// The script that starts and stops the test server.
pub const PG_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tune-store/tests/pg.sh");

/// Tests share the server: each holds it for reading, the restart test for writing, so that no
/// other test of this binary talks to the server while it is down.
static SERVER: RwLock<()> = RwLock::new(());

/// Holds the server with the other tests (none may stop it meanwhile).
pub fn shared_server() -> RwLockReadGuard<'static, ()> {
    SERVER.read().unwrap_or_else(PoisonError::into_inner)
}

/// Holds the server alone (to stop and restart it).
pub fn whole_server() -> RwLockWriteGuard<'static, ()> {
    SERVER.write().unwrap_or_else(PoisonError::into_inner)
}

/// The server's URL, or `None` after printing why the test is skipped.
pub fn server_url(test: &str) -> Option<String> {
    match std::env::var(PG_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "note: {test} skipped: {PG_ENV} is unset (start a server with \
                 `export {PG_ENV}=$(bash crates/tune-store/tests/pg.sh start)`)"
            );
            None
        }
    }
}

/// The server, held with the other tests, and a database of the test's own on it (tagged
/// `tag`); `None`, after a note naming `test`, when no server is named.
pub fn test_db(test: &str, tag: &str) -> Option<(RwLockReadGuard<'static, ()>, PgDb)> {
    let server = shared_server();
    let admin = server_url(test)?;
    Some((server, PgDb::create(admin, tag)))
}

/// `url` with its database name replaced by `db` (user, host, port and parameters kept).
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{db}", &base[..path]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Runs `f` with a connection pool to `url` on a runtime of its own (the tests are synchronous:
/// they drive `tune` processes).
pub fn on_pg<T>(url: &str, f: impl AsyncFnOnce(&sqlx::PgPool) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
        let out = f(&pool).await;
        pool.close().await;
        out
    })
}

/// A database of its own on the test server, dropped (with any open connections) at the end.
pub struct PgDb {
    /// The server's URL as given (its maintenance database).
    pub admin: String,
    pub name: String,
    /// This database's URL, for `--db`.
    pub url: String,
}

impl PgDb {
    pub fn create(admin: String, tag: &str) -> PgDb {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("tune_test_{tag}_{}_{nanos}", std::process::id());
        let sql = format!("CREATE DATABASE {name}");
        on_pg(&admin, async |pool| {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(pool)
                .await
                .unwrap();
        });
        let url = with_database(&admin, &name);
        PgDb { admin, name, url }
    }

    /// The rows of `sql` in this database.
    pub fn rows<T>(&self, sql: &'static str) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    {
        on_pg(&self.url, async |pool| {
            sqlx::query_as(sql).fetch_all(pool).await.unwrap()
        })
    }

    /// The one number `sql` returns.
    pub fn number(&self, sql: &'static str) -> i64 {
        on_pg(&self.url, async |pool| {
            sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
        })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let admin = self.admin.clone();
        // On a thread of its own: a panicking test may be unwinding inside a runtime.
        let _ = std::thread::spawn(move || {
            on_pg(&admin, async |pool| {
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await;
            })
        })
        .join();
    }
}
