//! Job arrays: `tune run --shard I/N` trains a deterministic part of a grid into its own SQLite
//! file, and `tune merge` puts the parts together without duplicates.

use crate::util::*;
use std::collections::BTreeSet;
use std::path::Path;

/// Runs `f` with a connection pool to the SQLite file `db`.
fn on_sqlite<T>(db: &Path, f: impl AsyncFnOnce(&sqlx::SqlitePool) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(db);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        let out = f(&pool).await;
        pool.close().await;
        out
    })
}

/// Job keys of `db` with their status.
fn jobs(db: &Path) -> Vec<(String, String)> {
    on_sqlite(db, async |pool| {
        sqlx::query_as("SELECT key, status FROM jobs ORDER BY key")
            .fetch_all(pool)
            .await
            .unwrap()
    })
}

/// Rows of each table that must not hold duplicates.
fn row_counts(db: &Path) -> [i64; 5] {
    on_sqlite(db, async |pool| {
        let mut counts = [0; 5];
        let tables = ["sweeps", "jobs", "sweep_jobs", "results", "epoch_metrics"];
        for (n, table) in counts.iter_mut().zip(tables) {
            *n = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(pool)
                .await
                .unwrap();
        }
        counts
    })
}

#[test]
fn shards_split_a_grid_and_merge_back_without_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let data = fixture_data(&tmp.path().join("data"));
    let grid = write_grid(tmp.path(), "seven.toml", &small_grid(7, 1));
    let grid = grid.to_str().unwrap();

    let mut shards = Vec::new();
    for i in 1..=3 {
        let db = tmp.path().join(format!("s{i}.db"));
        run(
            tune(tmp.path())
                .args(["run", grid, "--shard", &format!("{i}/3"), "--db"])
                .arg(&db)
                .arg("--data-dir")
                .arg(&data)
                .args(["--jobs", "2", "--threads-per-job", "1", "--quiet"]),
            true,
        );
        let keys: BTreeSet<String> = jobs(&db)
            .into_iter()
            .map(|(key, status)| {
                assert_eq!(status, "done", "shard {i}/3, job {key}");
                key
            })
            .collect();
        // 7 jobs in 3 parts: 3, 2 and 2.
        assert!(
            (2..=3).contains(&keys.len()),
            "shard {i}/3 has {} jobs",
            keys.len()
        );
        shards.push((db, keys));
    }
    let all: BTreeSet<&String> = shards.iter().flat_map(|(_, k)| k).collect();
    let total: usize = shards.iter().map(|(_, k)| k.len()).sum();
    assert_eq!(total, 7, "the shards cover the grid");
    assert_eq!(all.len(), 7, "the shards are disjoint");

    // The same shard of the same grid is the same jobs every time (and on every machine).
    let again = tmp.path().join("again.db");
    run(
        tune(tmp.path())
            .args(["run", grid, "--shard", "2/3", "--enqueue", "--db"])
            .arg(&again),
        true,
    );
    let again: BTreeSet<String> = jobs(&again).into_iter().map(|(k, _)| k).collect();
    assert_eq!(again, shards[1].1);

    let merged = tmp.path().join("all.db");
    let merge = |tmp: &Path| {
        let mut cmd = tune(tmp);
        cmd.arg("merge").arg(&merged);
        for (db, _) in &shards {
            cmd.arg(db);
        }
        stdout(&run(&mut cmd, true))
    };
    let out = merge(tmp.path());
    assert!(out.contains("all.db: 7 jobs, 7 done"), "{out}");
    let merged_jobs = jobs(&merged);
    assert_eq!(merged_jobs.len(), 7);
    assert!(merged_jobs.iter().all(|(_, status)| status == "done"));
    let keys: BTreeSet<&String> = merged_jobs.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, all);
    // One sweep (the shards share the grid's sweep id), 7 jobs, memberships, results, epochs.
    assert_eq!(row_counts(&merged), [1, 7, 7, 7, 7]);

    let out = merge(tmp.path());
    assert_eq!(
        out.matches("0 new jobs, 0 jobs completed, 0 new sweeps, 0 new sweep memberships")
            .count(),
        3,
        "merging again adds nothing: {out}"
    );
    assert_eq!(row_counts(&merged), [1, 7, 7, 7, 7]);

    let out = run(
        tune(tmp.path())
            .args(["report", "--format", "json", "--db"])
            .arg(&merged),
        true,
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["jobs"], 7, "{report}");
}

#[test]
fn shards_out_of_range_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = write_grid(tmp.path(), "three.toml", &small_grid(3, 1));
    for bad in ["0/3", "4/3", "1/0", "3", "a/3"] {
        let out = run(
            tune(tmp.path()).args(["run", grid.to_str().unwrap(), "--shard", bad, "--dry-run"]),
            false,
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "--shard {bad}: {err}");
        assert!(
            err.contains(&format!("`{bad}` is not a shard")) && err.contains("1 <= I <= N"),
            "--shard {bad}: {err}"
        );
    }
    assert!(!tmp.path().join("results").exists(), "nothing was written");
}
