//! Successive halving on the PostgreSQL queue (issue 15): three `tune worker`s, one killed with
//! `kill -9` in the middle of a rung; every rung is decided once, every epoch recorded once, and
//! the decisions and results are those of the same grid run by `tune run` on SQLite.
//!
//! Needs a PostgreSQL server named by `TUNE_TEST_POSTGRES_URL` (see `postgres.rs`); the test
//! prints a note and passes when it is unset.

use crate::util::db::Db;
use crate::util::pg::*;
use crate::util::*;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// `tune run GRID --db DB --data-dir DATA --jobs 1 --threads-per-job 1 --quiet` in `dir`, which
/// must succeed.
fn train(dir: &Path, grid: &Path, db: &Path, data: &Path) {
    run(
        tune(dir)
            .arg("run")
            .arg(grid)
            .arg("--db")
            .arg(db)
            .arg("--data-dir")
            .arg(data)
            .args(["--jobs", "1", "--threads-per-job", "1", "--quiet"]),
        true,
    );
}

/// `tune run GRID --enqueue --db URL EXTRA...` in `dir`, which must succeed.
fn enqueue(dir: &Path, grid: &Path, url: &str, extra: &[&str]) {
    run(
        tune(dir)
            .arg("run")
            .arg(grid)
            .args(["--enqueue", "--db", url])
            .args(extra),
        true,
    );
}

/// A worker (see [`worker_cmd`]) started with its output captured.
fn spawn_worker(dir: &Path, url: &str, data: &Path, extra: &[&str]) -> Child {
    worker_cmd(dir, url, data, extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// 4 configurations, 4 epochs, rungs 1, 2 and 4 (eta 2): 4 -> 2 -> 1.
const GRID: &str = "name = \"hvpg\"\n[search]\nstrategy = \"halving\"\neta = 2\nmin_epochs = 1\n\
     [fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\nepochs = 4\nbatch = 32\n\
     layer1 = 64\nvalidation = { holdout = 64 }\n[axes]\ndense = [8, 16, 32, 64]\n";

pg_test!(three_workers_one_killed_mid_rung_decide_each_rung_once);
fn three_workers_one_killed_mid_rung_decide_each_rung_once() {
    let Some((_server, db)) = test_db("three_workers_one_killed_mid_rung", "halving") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // Epochs long enough (~0.1 s each) that a job of rung 2 is seen running.
    let data = fixture_data_sized(&tmp.path().join("data"), 1024, TEST);
    let grid = write_grid(tmp.path(), "hv.toml", GRID);

    // The reference: the same grid with `tune run` on SQLite.
    let sqlite = tmp.path().join("ref.db");
    train(tmp.path(), &grid, &sqlite, &data);

    enqueue(tmp.path(), &grid, &db.url, &[]);
    let mut workers: Vec<_> = (0..3)
        .map(|_| spawn_worker(tmp.path(), &db.url, &data, &["--lease-secs", "2"]))
        .collect();
    // Kill whichever worker trains a job of rung 2 (after rung 1's decision): which one claims
    // it is up to the queue.
    let start = Instant::now();
    let busy: String = on_pg(&db.url, async |pool| {
        loop {
            let id: Option<String> = sqlx::query_scalar(
                "SELECT worker_id FROM jobs WHERE status = 'running' AND stop_at = 2 \
                 AND EXISTS (SELECT 1 FROM rung_decisions) LIMIT 1",
            )
            .fetch_optional(pool)
            .await
            .unwrap()
            .flatten();
            if let Some(id) = id {
                return id;
            }
            assert!(
                start.elapsed() < Duration::from_secs(180),
                "no job of rung 2 was seen running"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let pid: u32 = busy.split(':').nth(1).and_then(|p| p.parse().ok()).unwrap();
    let at = workers.iter().position(|w| w.id() == pid).unwrap();
    let mut victim = workers.remove(at);
    let others = workers;
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();
    for w in others {
        expect_exit(w, 0);
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

/// A halving grid with `confirm`: 4 configurations, rungs 1, 2 and 4, the last rung's best
/// configuration confirmed with 2 more seeds.
const CONFIRM_GRID: &str = "name = \"hvpgc\"\n[search]\nstrategy = \"halving\"\neta = 2\n\
     min_epochs = 1\nconfirm = { top = 1, repeats = 2 }\n\
     [fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\nepochs = 4\nbatch = 32\n\
     layer1 = 32\nvalidation = { holdout = 64 }\n[axes]\ndense = [8, 16, 32, 64]\n";

/// Two workers on the queue until they stop; each must exit with `code` (1: a failed job is left).
fn two_workers(dir: &Path, url: &str, data: &Path, code: i32) {
    let workers: Vec<_> = (0..2).map(|_| spawn_worker(dir, url, data, &[])).collect();
    for w in workers {
        expect_exit(w, code);
    }
}

pg_test!(workers_decide_without_a_failed_job_confirm_once_and_judge_it_late_when_retried);
/// On the PostgreSQL queue, a job of the first rung fails: the rung is decided without it (out of
/// the race, and the report says so), the worker that decides the last rung adds the confirm
/// jobs once, and the workers end. `tune run GRID --enqueue --retry-failed` then puts the job
/// back; the workers train it to its rung, judge it late, and end with nothing left waiting.
fn workers_decide_without_a_failed_job_confirm_once_and_judge_it_late_when_retried() {
    let Some((_server, db)) = test_db("workers_decide_without_a_failed_job", "halving_failed")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = fixture_data(&tmp.path().join("data"));
    let grid = write_grid(tmp.path(), "hvc.toml", CONFIRM_GRID);
    enqueue(tmp.path(), &grid, &db.url, &[]);
    let failed: String = on_pg(&db.url, async |pool| {
        sqlx::query_scalar(
            "UPDATE jobs SET status = 'failed', last_error = 'injected' \
             WHERE key = (SELECT job_key FROM sweep_jobs ORDER BY position LIMIT 1) \
             RETURNING key",
        )
        .fetch_one(pool)
        .await
        .unwrap()
    });
    two_workers(tmp.path(), &db.url, &data, 1);

    let decisions: Vec<(i64, i64, String)> =
        db.rows("SELECT rung, epoch, decision FROM rung_decisions ORDER BY rung");
    // Rungs 1 and 2 decided, and the last rung's confirm decision.
    assert_eq!(
        decisions
            .iter()
            .map(|(r, e, _)| (*r, *e))
            .collect::<Vec<_>>(),
        vec![(0, 1), (1, 2), (2, 4)]
    );
    let first: serde_json::Value = serde_json::from_str(&decisions[0].2).unwrap();
    assert_eq!(first["failed"], serde_json::json!([failed]));
    assert_eq!(first["ranking"].as_array().unwrap().len(), 3);
    let last: serde_json::Value = serde_json::from_str(&decisions[2].2).unwrap();
    assert_eq!(last["confirm"].as_array().unwrap().len(), 2, "{last}");
    // 4 grid jobs and 2 confirm jobs; the winner and its 2 confirm seeds have results.
    assert_eq!(db.number("SELECT count(*) FROM jobs"), 6);
    assert_eq!(db.number("SELECT count(*) FROM results"), 3);
    assert_eq!(
        db.number("SELECT count(*) FROM epoch_metrics"),
        db.number("SELECT count(DISTINCT (job_key, epoch)) FROM epoch_metrics")
    );
    assert_eq!(
        db.number("SELECT count(*) FROM sweeps WHERE finished_at IS NOT NULL"),
        1
    );
    let report = run(tune(tmp.path()).args(["report", "--db", &db.url]), true);
    let text = stdout(&report);
    assert!(text.contains("failed: out of the race"), "{text}");
    assert!(
        text.contains("confirm: the last rung's best 1 configuration"),
        "{text}"
    );

    enqueue(tmp.path(), &grid, &db.url, &["--retry-failed"]);
    two_workers(tmp.path(), &db.url, &data, 0);
    let unsettled = db.number(
        "SELECT count(*) FROM jobs WHERE status NOT IN ('done', 'failed') OR halt = 'waiting'",
    );
    assert_eq!(unsettled, 0);
    let first: String = db
        .rows::<(String,)>("SELECT decision FROM rung_decisions WHERE rung = 0")
        .remove(0)
        .0;
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    let judged = [&first["late_keep"], &first["late_prune"]]
        .iter()
        .filter(|v| {
            v.as_array()
                .is_some_and(|a| a.contains(&serde_json::json!(failed)))
        })
        .count();
    assert_eq!(judged, 1, "{first}");
    // The confirm jobs were added once.
    assert_eq!(db.number("SELECT count(*) FROM jobs"), 6);
    assert_eq!(
        db.number("SELECT count(*) FROM sweeps WHERE finished_at IS NOT NULL"),
        1
    );
}

pg_test!(a_halving_sweep_merged_into_postgres_reports_as_in_its_source);
/// `tune merge` from SQLite into PostgreSQL carries a halving sweep's plan, job states and rung
/// decisions (the merge path is the same code on both back ends): the merged sweep reports as in
/// its source and `tune merge` back into a new SQLite database gives the same report again.
fn a_halving_sweep_merged_into_postgres_reports_as_in_its_source() {
    let Some((_server, db)) = test_db("a_halving_sweep_merged_into_postgres", "halving_merge")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = fixture_data(&tmp.path().join("data"));
    let grid = write_grid(tmp.path(), "hv.toml", GRID);
    let src = tmp.path().join("src.db");
    train(tmp.path(), &grid, &src, &data);
    run(tune(tmp.path()).args(["merge", &db.url]).arg(&src), true);
    let back = tmp.path().join("back.db");
    run(tune(tmp.path()).arg("merge").arg(&back).arg(&db.url), true);
    let report = |target: &str| {
        let out = run(
            tune(tmp.path()).args(["report", "--format", "json", "--db", target]),
            true,
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["halving"].clone()
    };
    let expected = report(src.to_str().unwrap());
    assert!(expected.is_object(), "{expected}");
    assert_eq!(report(&db.url), expected);
    assert_eq!(report(back.to_str().unwrap()), expected);
    let states: Vec<(String, String, Option<String>, Option<i64>)> =
        db.rows("SELECT key, status, halt, stop_at FROM jobs ORDER BY key");
    let reference: Vec<(String, String, Option<String>, Option<i64>)> =
        Db::open(&src).rows("SELECT key, status, halt, stop_at FROM jobs ORDER BY key");
    assert_eq!(states, reference);
}
