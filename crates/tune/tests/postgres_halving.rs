//! Successive halving on the PostgreSQL queue (issue 15): three `tune worker`s, one killed with
//! `kill -9` in the middle of a rung; every rung is decided once, every epoch recorded once, and
//! the decisions and results are those of the same grid run by `tune run` on SQLite.
//!
//! Needs a PostgreSQL server named by `TUNE_TEST_POSTGRES_URL` (see `postgres.rs`); the test
//! prints a note and passes when it is unset.

use crate::util::db::Db;
use crate::util::*;
use sqlx::postgres::{PgPoolOptions, PgRow};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PG_ENV: &str = "TUNE_TEST_POSTGRES_URL";

fn on_pg<T>(url: &str, f: impl AsyncFnOnce(&sqlx::PgPool) -> T) -> T {
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

/// A database of its own on the test server, dropped at the end.
struct PgDb {
    admin: String,
    name: String,
    url: String,
}

impl PgDb {
    fn create(admin: String) -> PgDb {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("tune_test_halving_{}_{nanos}", std::process::id());
        let sql = format!("CREATE DATABASE {name}");
        on_pg(&admin, async |pool| {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(pool)
                .await
                .unwrap();
        });
        let (base, _) = admin.rsplit_once('/').expect("a URL with a database");
        let url = format!("{base}/{name}");
        PgDb { admin, name, url }
    }

    fn rows<T>(&self, sql: &'static str) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    {
        on_pg(&self.url, async |pool| {
            sqlx::query_as(sql).fetch_all(pool).await.unwrap()
        })
    }

    fn number(&self, sql: &'static str) -> i64 {
        on_pg(&self.url, async |pool| {
            sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
        })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let admin = self.admin.clone();
        let _ = std::thread::spawn(move || {
            on_pg(&admin, async |pool| {
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await;
            })
        })
        .join();
    }
}

/// 4 configurations, 4 epochs, rungs 1, 2 and 4 (eta 2): 4 -> 2 -> 1.
const GRID: &str = "name = \"hvpg\"\n[search]\nstrategy = \"halving\"\neta = 2\nmin_epochs = 1\n\
     [fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\nepochs = 4\nbatch = 32\n\
     layer1 = 64\nvalidation = { holdout = 64 }\n[axes]\ndense = [8, 16, 32, 64]\n";

#[test]
#[cfg_attr(
    not(tune_test_postgres),
    ignore = "needs a PostgreSQL server: set TUNE_TEST_POSTGRES_URL (bash crates/tune-store/tests/pg.sh start) and rebuild"
)]
fn three_workers_one_killed_mid_rung_decide_each_rung_once() {
    let Some(admin) = std::env::var(PG_ENV).ok().filter(|u| !u.is_empty()) else {
        eprintln!("note: skipped: {PG_ENV} is unset");
        return;
    };
    let db = PgDb::create(admin);
    let tmp = tempfile::tempdir().unwrap();
    let data = fixture_data(&tmp.path().join("data"));
    let grid = write_grid(tmp.path(), "hv.toml", GRID);

    // The reference: the same grid with `tune run` on SQLite.
    let sqlite = tmp.path().join("ref.db");
    run(
        tune(tmp.path())
            .arg("run")
            .arg(&grid)
            .arg("--db")
            .arg(&sqlite)
            .arg("--data-dir")
            .arg(&data)
            .args(["--jobs", "1", "--threads-per-job", "1", "--quiet"]),
        true,
    );

    run(
        tune(tmp.path())
            .arg("run")
            .arg(&grid)
            .args(["--enqueue", "--db", &db.url]),
        true,
    );
    let worker = || {
        tune(tmp.path())
            .args(["worker", "--db", &db.url, "--data-dir"])
            .arg(&data)
            .args(["--jobs", "1", "--threads-per-job", "1", "--quiet"])
            .args(["--lease-secs", "2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut victim = worker();
    let others: Vec<_> = (0..2).map(|_| worker()).collect();
    // Kill the first worker while it trains a job of rung 2 (after rung 1's decision).
    let prefix = format!("%:{}:%", victim.id());
    let start = Instant::now();
    loop {
        let n: i64 = on_pg(&db.url, async |pool| {
            sqlx::query_scalar(
                "SELECT count(*) FROM jobs j WHERE j.status = 'running' AND j.worker_id LIKE $1 \
                 AND j.stop_at = 2 AND EXISTS (SELECT 1 FROM rung_decisions)",
            )
            .bind(&prefix)
            .fetch_one(pool)
            .await
            .unwrap()
        });
        if n > 0 {
            break;
        }
        assert!(
            victim.try_wait().unwrap().is_none(),
            "the first worker ended before it trained a job of rung 2"
        );
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "rung 2 never ran"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();
    for w in others {
        let out = w.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a worker failed: {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            stdout(&out),
            stderr(&out)
        );
    }

    // Each rung decided once, each epoch recorded once, the same decisions and results as SQLite.
    let decisions: Vec<(i64, i64, String)> =
        db.rows("SELECT rung, epoch, decision FROM rung_decisions ORDER BY rung");
    let reference = Db::open(&sqlite);
    let expected: Vec<(i64, i64, String)> =
        reference.rows("SELECT rung, epoch, decision FROM rung_decisions ORDER BY rung");
    assert_eq!(decisions.len(), 2);
    assert_eq!(decisions, expected);
    assert_eq!(
        db.number("SELECT count(*) FROM epoch_metrics"),
        db.number("SELECT count(DISTINCT (job_key, epoch)) FROM epoch_metrics")
    );
    assert_eq!(db.number("SELECT count(*) FROM epoch_metrics"), 8);
    let results: Vec<(String, f64, f64)> =
        db.rows("SELECT job_key, test_loss, test_accuracy FROM results ORDER BY job_key");
    let expected: Vec<(String, f64, f64)> =
        reference.rows("SELECT job_key, test_loss, test_accuracy FROM results ORDER BY job_key");
    assert_eq!(results, expected);
    let states: Vec<(String, String, Option<String>)> =
        db.rows("SELECT key, status, halt FROM jobs ORDER BY key");
    let expected: Vec<(String, String, Option<String>)> =
        reference.rows("SELECT key, status, halt FROM jobs ORDER BY key");
    assert_eq!(states, expected);
    assert_eq!(
        db.number("SELECT count(*) FROM sweeps WHERE finished_at IS NOT NULL"),
        1
    );
}
