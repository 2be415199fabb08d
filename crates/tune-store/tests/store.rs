//! The store's behaviour on every back end: SQLite always, PostgreSQL when
//! `TUNE_TEST_POSTGRES_URL` is set (start one with `tests/pg.sh start`).

mod util;

use std::collections::HashSet;
use std::time::Duration;

use tune_spec::ModelSpec;
use tune_store::{JobStatus, Released, ResultFilter, Store, StoreError, StoreOptions};
use util::{LONG, TestDb, backends, cnn, jobs, let_lease_expire, metrics, outcome, sweep};

#[tokio::test]
async fn migrations_create_the_tables_and_the_view() {
    for b in backends() {
        let db = TestDb::new(&b).await;
        let rels = db.relations().await;
        for name in [
            "checkpoints",
            "epoch_metrics",
            "grid_results",
            "jobs",
            "results",
            "sweep_jobs",
            "sweeps",
        ] {
            assert!(
                rels.iter().any(|r| r == name),
                "{}: no {name} in {rels:?}",
                db.label
            );
        }
        assert!(db.grid_results().await.is_empty(), "{}", db.label);
        if let util::Raw::Sqlite(pool) = &db.raw {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(mode, "wal");
        }
        // Opening again finds the schema up to date.
        let again = db.reopen().await;
        assert_eq!(again.counts(None).await.unwrap().total(), 0);
        again.close().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn sqlite_creates_the_file_and_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a").join("b").join("results.db");
    let store = Store::open(path.to_str().unwrap()).await.unwrap();
    assert!(path.exists());
    store.close().await;
    let url = format!("sqlite:{}", dir.path().join("c").join("r.db").display());
    let store = Store::open(&url).await.unwrap();
    assert!(dir.path().join("c").join("r.db").exists());
    store.close().await;
    let store = Store::open("sqlite::memory:").await.unwrap();
    store.enqueue(&sweep("m", "x"), &jobs(2)).await.unwrap();
    assert_eq!(store.counts(None).await.unwrap().pending, 2);
}

#[tokio::test]
async fn open_errors_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "not a directory").unwrap();
    let target = file.join("results.db");
    let err = Store::open(target.to_str().unwrap()).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("--db"), "{msg}");
    let not_db = dir.path().join("garbage.db");
    std::fs::write(&not_db, vec![7u8; 4096]).unwrap();
    let err = Store::open(not_db.to_str().unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("garbage.db"), "{err}");
}

#[tokio::test]
async fn an_unreachable_postgres_server_fails_fast_and_says_why() {
    let started = std::time::Instant::now();
    let err = Store::open("postgres://tune:secret@127.0.0.1:1/x")
        .await
        .unwrap_err();
    let took = started.elapsed();
    let msg = err.to_string();
    assert!(took < Duration::from_secs(6), "took {took:?}: {msg}");
    assert!(matches!(err, StoreError::Connect { .. }), "{msg}");
    assert!(msg.contains("127.0.0.1:1"), "{msg}");
    assert!(
        msg.to_lowercase().contains("refused"),
        "the real cause: {msg}"
    );
    assert!(msg.contains("server running"), "{msg}");
    assert!(msg.contains("--db"), "{msg}");
    assert!(!msg.contains("secret"), "{msg}");
}

/// A schema named by `options=-c search_path=NAME` in the URL that does not exist yet is created;
/// one that cannot be created without quoting is reported with what to do.
#[tokio::test]
async fn a_search_path_schema_in_the_url_is_created() {
    let Some(url) = std::env::var(util::PG_ENV).ok().filter(|u| !u.is_empty()) else {
        return;
    };
    let with_path = |path: &str| {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options=-c%20search_path%3D{path}")
    };
    let schema = format!("tune_test_path_{}", std::process::id());
    let raw = sqlx::PgPool::connect(&url).await.unwrap();
    let drop_schema = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
    let drop_schema = async || {
        sqlx::raw_sql(sqlx::AssertSqlSafe(drop_schema.clone()))
            .execute(&raw)
            .await
            .unwrap();
    };
    drop_schema().await;
    let used = async {
        let store = Store::open(&with_path(&schema)).await?;
        store.enqueue(&sweep("p", "x"), &jobs(2)).await?;
        let pending = store.counts(None).await?.pending;
        store.close().await;
        Ok::<_, StoreError>(pending)
    }
    .await;
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
    )
    .bind(&schema)
    .fetch_one(&raw)
    .await
    .unwrap();
    drop_schema().await;
    assert_eq!(used.unwrap(), 2);
    assert!(tables >= 7, "tables in {schema}: {tables}");

    let err = Store::open(&with_path("%22NoSuchSchema%22"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NoSchema { .. }), "{err}");
    assert!(err.to_string().contains("CREATE SCHEMA"), "{err}");
    raw.close().await;
}

#[tokio::test]
async fn enqueue_twice_adds_nothing() {
    for b in backends() {
        let db = TestDb::new(&b).await;
        let s = sweep("study", "grid text v1");
        let first = db.store.enqueue(&s, &jobs(5)).await.unwrap();
        assert!(first.sweep_added);
        assert_eq!(
            (first.jobs, first.jobs_added, first.memberships_added),
            (5, 5, 5)
        );
        assert_eq!(first.sweep_id, s.id());
        let again = db.store.enqueue(&s, &jobs(5)).await.unwrap();
        assert!(!again.sweep_added, "{}", db.label);
        assert_eq!(
            (again.jobs_added, again.memberships_added),
            (0, 0),
            "{}",
            db.label
        );
        assert_eq!(db.scalar("SELECT COUNT(*) FROM jobs").await, 5);
        assert_eq!(db.scalar("SELECT COUNT(*) FROM sweeps").await, 1);
        assert_eq!(db.scalar("SELECT COUNT(*) FROM sweep_jobs").await, 5);

        // The same jobs in another grid are the same jobs, now in two sweeps.
        let other = db
            .store
            .enqueue(&sweep("other", "grid text v2"), &jobs(6))
            .await
            .unwrap();
        assert_eq!(
            (other.jobs_added, other.memberships_added),
            (1, 6),
            "{}",
            db.label
        );
        assert_eq!(db.scalar("SELECT COUNT(*) FROM jobs").await, 6);
        assert_eq!(db.store.jobs_of_sweep("study").await.unwrap().len(), 5);
        assert_eq!(
            db.store.jobs_of_sweep(&other.sweep_id).await.unwrap().len(),
            6
        );
        assert_eq!(db.store.counts(Some("study")).await.unwrap().pending, 5);
        assert_eq!(db.store.counts(None).await.unwrap().pending, 6);
        let sweeps = db.store.sweeps().await.unwrap();
        assert_eq!(sweeps.len(), 2);
        assert_eq!(sweeps[0].grid_text, "grid text v1");
        assert_eq!(sweeps[1].counts.pending, 6);
        db.finish().await;
    }
}

#[tokio::test]
async fn hyperparameters_are_typed_columns() {
    for b in backends() {
        let db = TestDb::new(&b).await;
        let mut ann = cnn(&[8], 8, 1);
        ann.model = ModelSpec::ann();
        let mut deep = cnn(&[16, 32, 64, 64], 32, 1);
        deep.model.kernel = 2;
        let specs = vec![deep, ann];
        db.store.enqueue(&sweep("s", "t"), &specs).await.unwrap();
        let four = db
            .scalar(
                "SELECT COUNT(*) FROM jobs WHERE model = 'cnn' AND layers = 4 AND layer1 = 16 \
                 AND layer2 = 32 AND layer3 = 64 AND filters = '16,32,64,64' AND kernel = 2 \
                 AND dense = 32 AND dense_widths = '32' AND epochs = 2 AND batch = 64 \
                 AND seed = 1 AND train_images IS NULL AND validation = 'test' \
                 AND lr > 0.0009 AND lr < 0.0011 AND params > 0 AND flops_per_image > 0",
            )
            .await;
        assert_eq!(four, 1, "{}", db.label);
        let ann = db
            .scalar(
                "SELECT COUNT(*) FROM jobs WHERE model = 'ann' AND layers = 0 \
                 AND layer1 IS NULL AND layer2 IS NULL AND layer3 IS NULL AND kernel IS NULL \
                 AND filters = '' AND dense = 512 AND dense_widths = '512,256' \
                 AND params = 535818",
            )
            .await;
        assert_eq!(ann, 1, "{}", db.label);
        // The spec comes back exactly.
        let rows = db.store.jobs_of_sweep("s").await.unwrap();
        assert_eq!(rows[0].spec, specs[0]);
        assert_eq!(rows[0].key, specs[0].key());
        db.finish().await;
    }
}

#[tokio::test]
async fn claim_epochs_complete_give_one_result_and_a_view_row() {
    for b in backends() {
        let db = TestDb::new(&b).await;
        let spec = cnn(&[32, 64], 128, 7);
        db.store
            .enqueue(&sweep("study", "g"), std::slice::from_ref(&spec))
            .await
            .unwrap();
        let claim = db.store.claim("host:1", LONG, None).await.unwrap().unwrap();
        assert_eq!(
            (claim.key.as_str(), claim.attempt),
            (spec.key().as_str(), 1)
        );
        assert_eq!(claim.spec, spec);
        let row = db.store.job(&claim.key).await.unwrap().unwrap();
        assert_eq!(row.status, JobStatus::Running, "{}", db.label);
        assert_eq!(row.worker_id.as_deref(), Some("host:1"));
        let (lease, started) = (row.lease_expires_at.unwrap(), row.started_at.unwrap());
        assert!(
            lease > started,
            "{}: lease {lease} vs start {started}",
            db.label
        );
        // Database times are UTC text with milliseconds, one hour apart here.
        assert_eq!(lease.len(), "2026-01-01 00:00:00.000".len(), "{lease}");
        assert_ne!(
            lease[11..13],
            started[11..13],
            "{}: hour of {lease} vs {started}",
            db.label
        );
        db.store
            .record_epoch(&claim, &metrics(1, 0.0), None)
            .await
            .unwrap();
        db.store.heartbeat(&claim).await.unwrap();
        db.store
            .record_epoch(&claim, &metrics(2, 0.0), None)
            .await
            .unwrap();
        assert_eq!(
            db.store.job(&claim.key).await.unwrap().unwrap().epochs_done,
            2
        );
        let out = outcome(&spec, 0.91);
        db.store.complete(&claim, &out).await.unwrap();

        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM results").await,
            1,
            "{}",
            db.label
        );
        assert_eq!(db.scalar("SELECT COUNT(*) FROM epoch_metrics").await, 2);
        let view = db.grid_results().await;
        assert_eq!(view.len(), 1, "{}", db.label);
        let v = &view[0];
        assert_eq!((v.layer1, v.layer2, v.layer3), (Some(32), Some(64), None));
        assert_eq!((v.kernel, v.layerdense, v.epochs), (Some(3), Some(128), 2));
        assert!(
            (v.runtime_mins - 1.5).abs() < 1e-9,
            "{}: {}",
            db.label,
            v.runtime_mins
        );
        assert!((v.accuracy - 0.91).abs() < 1e-12 && (v.loss - 0.3).abs() < 1e-12);
        assert_eq!(
            (v.model.as_str(), v.dataset.as_str(), v.seed),
            ("cnn", "fashion-mnist", 7)
        );
        assert_eq!(
            v.params as usize,
            spec.model.params(&tune_spec::InputShape::BUILT_IN).unwrap()
        );
        assert_eq!(v.job_key, spec.key());

        let results = db
            .store
            .results(&ResultFilter {
                sweep: Some("study".into()),
                with_history: true,
                ..ResultFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(results.len(), 1);
        let r = &results[0];
        assert_eq!(
            (r.spec.clone(), r.test_accuracy, r.runtime_s),
            (spec.clone(), 0.91, 90.0)
        );
        assert_eq!(r.history, out.history);
        assert_eq!(
            r.finished_at.len(),
            "2026-01-01 00:00:00.000".len(),
            "{}",
            r.finished_at
        );
        assert_eq!(db.store.history(&spec.key()).await.unwrap(), out.history);
        assert_eq!(
            db.store.confusion(&spec.key()).await.unwrap(),
            Some(out.confusion)
        );
        let other_data = ResultFilter {
            dataset: Some("mnist".into()),
            ..ResultFilter::default()
        };
        assert!(db.store.results(&other_data).await.unwrap().is_empty());

        let s = &db.store.sweeps().await.unwrap()[0];
        assert_eq!(s.counts.done, 1);
        assert!(s.finished_at.is_some(), "{}: sweep not finished", db.label);
        db.finish().await;
    }
}

#[tokio::test]
async fn a_done_job_is_never_claimed_again() {
    for b in backends() {
        let db = TestDb::new(&b).await;
        let spec = cnn(&[16], 16, 1);
        let s = sweep("s", "g");
        db.store
            .enqueue(&s, std::slice::from_ref(&spec))
            .await
            .unwrap();
        let claim = db.store.claim("w", LONG, None).await.unwrap().unwrap();
        db.store
            .complete(&claim, &outcome(&spec, 0.9))
            .await
            .unwrap();
        assert!(
            db.store.claim("w", LONG, None).await.unwrap().is_none(),
            "{}",
            db.label
        );
        db.store
            .enqueue(&s, std::slice::from_ref(&spec))
            .await
            .unwrap();
        db.store
            .enqueue(&sweep("s2", "g2"), std::slice::from_ref(&spec))
            .await
            .unwrap();
        assert!(
            db.store.claim("w", LONG, None).await.unwrap().is_none(),
            "{}",
            db.label
        );
        assert_eq!(db.store.counts(None).await.unwrap().done, 1);
        // Delivering the result again (same claim) succeeds and keeps one row.
        db.store
            .complete(&claim, &outcome(&spec, 0.5))
            .await
            .unwrap();
        assert_eq!(db.scalar("SELECT COUNT(*) FROM results").await, 1);
        let r = db.store.results(&ResultFilter::default()).await.unwrap();
        assert_eq!(
            r[0].test_accuracy, 0.9,
            "{}: the first delivery stays",
            db.label
        );
        // Another worker's claim on the done job cannot write.
        let mut other = claim.clone();
        other.worker_id = "other".into();
        let err = db
            .store
            .complete(&other, &outcome(&spec, 0.1))
            .await
            .unwrap_err();
        assert!(err.is_lease_lost(), "{err}");
        assert_eq!(db.scalar("SELECT COUNT(*) FROM results").await, 1);
        db.finish().await;
    }
}

#[tokio::test]
async fn a_stale_claim_cannot_write() {
    for b in backends() {
        let db = TestDb::new(&b).await;
        let spec = cnn(&[16], 16, 1);
        db.store
            .enqueue(&sweep("s", "g"), std::slice::from_ref(&spec))
            .await
            .unwrap();
        let claim = db
            .store
            .claim("a", Duration::ZERO, None)
            .await
            .unwrap()
            .unwrap();
        // A claim with the wrong attempt is not ours.
        let mut wrong = claim.clone();
        wrong.attempt += 1;
        let err = db
            .store
            .record_epoch(&wrong, &metrics(1, 0.0), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::LeaseLost { .. }),
            "{}: {err}",
            db.label
        );
        let mut other_worker = claim.clone();
        other_worker.worker_id = "b".into();
        assert!(
            db.store
                .heartbeat(&other_worker)
                .await
                .unwrap_err()
                .is_lease_lost()
        );

        // The lease expires and worker b takes the job over.
        let_lease_expire().await;
        let b_claim = db.store.claim("b", LONG, None).await.unwrap().unwrap();
        assert_eq!(b_claim.attempt, 2, "{}", db.label);
        let stale = [
            db.store.heartbeat(&claim).await,
            db.store.record_epoch(&claim, &metrics(1, 0.5), None).await,
            db.store
                .record_epoch(&claim, &metrics(1, 0.5), Some(b"weights"))
                .await,
            db.store.complete(&claim, &outcome(&spec, 0.1)).await,
            db.store.fail(&claim, "boom").await,
            db.store.interrupt(&claim).await,
        ];
        for r in stale {
            let err = r.unwrap_err();
            assert!(err.is_lease_lost(), "{}: {err}", db.label);
            assert!(err.to_string().contains("attempt 1"), "{err}");
        }
        assert_eq!(db.scalar("SELECT COUNT(*) FROM results").await, 0);
        assert_eq!(db.scalar("SELECT COUNT(*) FROM epoch_metrics").await, 0);
        assert_eq!(db.scalar("SELECT COUNT(*) FROM checkpoints").await, 0);
        let row = db.store.job(&spec.key()).await.unwrap().unwrap();
        assert_eq!((row.status, row.attempts), (JobStatus::Running, 2));
        assert_eq!(row.worker_id.as_deref(), Some("b"));
        // b's claim still works.
        db.store
            .record_epoch(&b_claim, &metrics(1, 0.0), None)
            .await
            .unwrap();
        db.store
            .complete(&b_claim, &outcome(&spec, 0.9))
            .await
            .unwrap();
        db.finish().await;
    }
}

#[tokio::test]
async fn expired_leases_are_reclaimed_until_max_attempts_then_failed() {
    for b in backends() {
        let options = StoreOptions {
            max_attempts: 2,
            ..StoreOptions::default()
        };
        let db = TestDb::with_options(&b, options).await;
        let spec = cnn(&[16], 16, 1);
        db.store
            .enqueue(&sweep("s", "g"), std::slice::from_ref(&spec))
            .await
            .unwrap();
        let first = db
            .store
            .claim("w1", Duration::ZERO, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.attempt, 1);
        // Not expired yet for a long lease.
        let long = db.store.claim("w0", LONG, None).await.unwrap();
        assert!(long.is_none() || long.as_ref().unwrap().attempt == 2);
        let second = match long {
            Some(c) => c, // the zero lease had already expired
            None => {
                let_lease_expire().await;
                db.store
                    .claim("w2", Duration::ZERO, None)
                    .await
                    .unwrap()
                    .unwrap()
            }
        };
        assert_eq!(second.attempt, 2, "{}", db.label);
        let row = db.store.job(&spec.key()).await.unwrap().unwrap();
        assert!(
            row.last_error.unwrap().contains("expired on attempt 1"),
            "{}",
            db.label
        );
        if second.lease == LONG {
            // Make the second lease run out too: a clean stop gives the attempt back, and the
            // job is taken again with a lease that runs out at once.
            db.store.interrupt(&second).await.unwrap();
            let again = db
                .store
                .claim("w2", Duration::ZERO, None)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(again.attempt, 2);
        }
        let_lease_expire().await;
        assert!(
            db.store.claim("w3", LONG, None).await.unwrap().is_none(),
            "{}",
            db.label
        );
        let row = db.store.job(&spec.key()).await.unwrap().unwrap();
        assert_eq!(row.status, JobStatus::Failed, "{}", db.label);
        let err = row.last_error.unwrap();
        assert!(
            err.contains("expired") && err.contains("giving up"),
            "{err}"
        );
        assert!(row.finished_at.is_some());
        let s = &db.store.sweeps().await.unwrap()[0];
        assert_eq!(s.counts.failed, 1);
        assert!(s.finished_at.is_some());
        assert!(
            db.store
                .results(&ResultFilter::default())
                .await
                .unwrap()
                .is_empty()
        );

        // A retry puts it back.
        assert_eq!(db.store.retry_failed(Some("s")).await.unwrap(), 1);
        let c = db.store.claim("w4", LONG, None).await.unwrap().unwrap();
        assert_eq!(c.attempt, 1);
        assert!(db.store.sweeps().await.unwrap()[0].finished_at.is_none());
        db.finish().await;
    }
}

#[tokio::test]
async fn record_epoch_twice_keeps_one_row() {
    for b in backends() {
        let db = TestDb::new(&b).await;
        let spec = cnn(&[16], 16, 1);
        db.store
            .enqueue(&sweep("s", "g"), std::slice::from_ref(&spec))
            .await
            .unwrap();
        let claim = db.store.claim("w", LONG, None).await.unwrap().unwrap();
        db.store
            .record_epoch(&claim, &metrics(1, 0.0), None)
            .await
            .unwrap();
        db.store
            .record_epoch(&claim, &metrics(1, 0.05), None)
            .await
            .unwrap();
        let h = db.store.history(&spec.key()).await.unwrap();
        assert_eq!(h, vec![metrics(1, 0.05)], "{}", db.label);
        assert_eq!(db.scalar("SELECT COUNT(*) FROM epoch_metrics").await, 1);
        db.finish().await;
    }
}

#[tokio::test]
async fn failing_and_interrupting() {
    for b in backends() {
        let db = TestDb::new(&b).await;
        let specs = jobs(3);
        db.store.enqueue(&sweep("s", "g"), &specs).await.unwrap();
        let a = db.store.claim("w", LONG, None).await.unwrap().unwrap();
        assert_eq!(a.key, specs[0].key(), "claims follow grid order");
        db.store.fail(&a, "loss became NaN").await.unwrap();
        let row = db.store.job(&a.key).await.unwrap().unwrap();
        assert_eq!(row.status, JobStatus::Failed);
        assert_eq!(row.last_error.as_deref(), Some("loss became NaN"));

        let b_claim = db.store.claim("w", LONG, None).await.unwrap().unwrap();
        assert_eq!(b_claim.key, specs[1].key());
        db.store.interrupt(&b_claim).await.unwrap();
        assert_eq!(db.store.counts(None).await.unwrap().interrupted, 1);
        // The interrupted job comes back before the pending one, and the clean stop did not use
        // up an attempt.
        let again = db.store.claim("w", LONG, None).await.unwrap().unwrap();
        assert_eq!(
            (again.key.as_str(), again.attempt),
            (specs[1].key().as_str(), 1)
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn after_kill_9_the_next_local_run_restarts_the_job_at_once() {
    for b in backends() {
        let db = TestDb::new(&b).await;
        let specs = jobs(2);
        db.store.enqueue(&sweep("s", "g"), &specs).await.unwrap();
        // A run claims with a long lease and dies without a word.
        let dead = db
            .store
            .claim("myhost:111", LONG, None)
            .await
            .unwrap()
            .unwrap();
        db.store
            .record_epoch(&dead, &metrics(1, 0.0), None)
            .await
            .unwrap();
        let elsewhere = db
            .store
            .claim("otherhost:5", LONG, None)
            .await
            .unwrap()
            .unwrap();

        // The next run (same host, new process) releases that host's running jobs first.
        let store = db.reopen().await;
        assert_eq!(
            store
                .interrupt_running(Some("myhost:"))
                .await
                .unwrap()
                .resumed,
            1
        );
        let c = store
            .claim("myhost:222", LONG, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.key.as_str(), c.attempt),
            (dead.key.as_str(), 2),
            "{}",
            db.label
        );
        // Were the old process still alive, it could not write.
        assert!(
            db.store
                .record_epoch(&dead, &metrics(2, 0.0), None)
                .await
                .unwrap_err()
                .is_lease_lost()
        );
        // The other host's job was left alone.
        store.heartbeat(&elsewhere).await.unwrap();
        assert_eq!(store.interrupt_running(None).await.unwrap().resumed, 2);
        store.close().await;
        db.finish().await;
    }
}

/// A job that gets its run killed on every attempt is given up on at the `max_attempts`-th kill,
/// with the reason, so that it cannot block every later run; clean stops use up no attempt, and
/// `retry_failed` starts it afresh.
#[tokio::test]
async fn a_job_killed_on_every_attempt_fails_after_max_attempts() {
    for b in backends() {
        let db = TestDb::new(&b).await;
        let spec = cnn(&[16], 16, 1);
        db.store
            .enqueue(&sweep("s", "g"), std::slice::from_ref(&spec))
            .await
            .unwrap();
        for i in 0..5 {
            let c = db
                .store
                .claim(&format!("host:{i}"), LONG, None)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                c.attempt, 1,
                "clean stops give their attempt back ({})",
                db.label
            );
            db.store.interrupt(&c).await.unwrap();
        }
        let max = db.store.max_attempts();
        for attempt in 1..=max {
            let worker = format!("host:{}", 100 + attempt);
            let c = db.store.claim(&worker, LONG, None).await.unwrap().unwrap();
            assert_eq!(c.attempt, attempt, "{}", db.label);
            // The run is killed; the next run on this host releases its jobs.
            let released = db.store.interrupt_running(Some("host:")).await.unwrap();
            let (resumed, failed) = if attempt < max { (1, 0) } else { (0, 1) };
            assert_eq!(
                released,
                Released { resumed, failed },
                "attempt {attempt} ({})",
                db.label
            );
        }
        assert!(
            db.store
                .claim("host:200", LONG, None)
                .await
                .unwrap()
                .is_none()
        );
        let job = &db.store.jobs_of_sweep("s").await.unwrap()[0];
        assert_eq!(job.status, JobStatus::Failed, "{}", db.label);
        let error = job.last_error.as_deref().unwrap_or_default();
        assert!(
            error.contains(&format!(
                "killed during attempt {max} ({max} of {max} kills allowed in a row without a \
                 finished epoch"
            )) && error.contains("--retry-failed")
                && error.contains(&format!(
                    "earlier: the run was killed during attempt {}",
                    max - 1
                )),
            "{error} ({})",
            db.label
        );
        assert_eq!(db.store.retry_failed(None).await.unwrap(), 1);
        let c = db
            .store
            .claim("host:201", LONG, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.attempt, 1, "{}", db.label);
        db.finish().await;
    }
}

#[tokio::test]
async fn checkpoints_are_kept_until_the_job_is_done() {
    for b in backends() {
        let db = TestDb::new(&b).await;
        let spec = cnn(&[16], 16, 1);
        db.store
            .enqueue(&sweep("s", "g"), std::slice::from_ref(&spec))
            .await
            .unwrap();
        let c = db.store.claim("w", LONG, None).await.unwrap().unwrap();
        assert!(db.store.load_checkpoint(&c.key).await.unwrap().is_none());
        let bytes: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        db.store
            .record_epoch(&c, &metrics(1, 0.0), Some(&bytes[..10]))
            .await
            .unwrap();
        db.store
            .record_epoch(&c, &metrics(2, 0.0), Some(&bytes))
            .await
            .unwrap();
        let cp = db.store.load_checkpoint(&c.key).await.unwrap().unwrap();
        assert_eq!((cp.epoch, cp.bytes.len()), (2, bytes.len()), "{}", db.label);
        assert_eq!(cp.bytes, bytes);
        db.store.complete(&c, &outcome(&spec, 0.9)).await.unwrap();
        assert!(db.store.load_checkpoint(&c.key).await.unwrap().is_none());
        db.finish().await;
    }
}

#[tokio::test]
async fn unknown_sweeps_are_reported() {
    for b in backends() {
        let db = TestDb::new(&b).await;
        db.store.enqueue(&sweep("s", "g"), &jobs(1)).await.unwrap();
        let err = db.store.jobs_of_sweep("nope").await.unwrap_err();
        assert!(matches!(err, StoreError::UnknownSweep { .. }), "{err}");
        let err = db.store.claim("w", LONG, Some("nope")).await.unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        db.finish().await;
    }
}

#[tokio::test]
async fn claims_can_be_limited_to_one_sweep() {
    for b in backends() {
        let db = TestDb::new(&b).await;
        let all = jobs(4);
        db.store
            .enqueue(&sweep("a", "ga"), &all[..2])
            .await
            .unwrap();
        db.store
            .enqueue(&sweep("b", "gb"), &all[2..])
            .await
            .unwrap();
        let mut got = Vec::new();
        while let Some(c) = db.store.claim("w", LONG, Some("b")).await.unwrap() {
            got.push(c.key);
        }
        assert_eq!(got, vec![all[2].key(), all[3].key()], "{}", db.label);
        assert_eq!(db.store.counts(Some("a")).await.unwrap().pending, 2);
        db.finish().await;
    }
}

/// Claims, records and completes every job it can get.
async fn drain(store: Store, worker: &'static str) -> Vec<String> {
    let mut got = Vec::new();
    while let Some(c) = store.claim(worker, LONG, None).await.unwrap() {
        // "Train" a little, so that the workers interleave.
        tokio::time::sleep(Duration::from_millis(2)).await;
        store
            .record_epoch(&c, &metrics(1, 0.0), None)
            .await
            .unwrap();
        let out = outcome(&c.spec, 0.5);
        store.complete(&c, &out).await.unwrap();
        got.push(c.key);
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_never_get_the_same_job() {
    for b in backends() {
        let db = TestDb::new(&b).await;
        let specs = jobs(40);
        db.store.enqueue(&sweep("s", "g"), &specs).await.unwrap();
        // Two workers with a connection pool each (as two processes), and a third sharing one.
        let (s1, s2) = (db.reopen().await, db.reopen().await);
        let t1 = tokio::spawn(drain(s1.clone(), "w1"));
        let t2 = tokio::spawn(drain(s2, "w2"));
        let t3 = tokio::spawn(drain(s1, "w3"));
        let got = [t1.await.unwrap(), t2.await.unwrap(), t3.await.unwrap()];
        let mut seen = HashSet::new();
        for keys in &got {
            for k in keys {
                assert!(
                    seen.insert(k.clone()),
                    "{}: job {k} was claimed twice",
                    db.label
                );
            }
        }
        assert_eq!(seen.len(), specs.len(), "{}", db.label);
        let per: Vec<usize> = got.iter().map(Vec::len).collect();
        eprintln!("{}: jobs per worker {per:?}", db.label);
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM results").await,
            specs.len() as i64
        );
        assert_eq!(
            db.store.counts(None).await.unwrap().done,
            specs.len() as u64
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn merging_two_databases_has_no_duplicates() {
    for b in backends() {
        let (x, y) = (TestDb::new(&b).await, TestDb::new(&b).await);
        merge_case(&x, &y).await;
        x.finish().await;
        y.finish().await;
    }
}

#[tokio::test]
async fn merging_across_back_ends() {
    let all = backends();
    if all.len() < 2 {
        return; // needs PostgreSQL
    }
    let (x, y) = (TestDb::new(&all[1]).await, TestDb::new(&all[0]).await);
    merge_case(&x, &y).await;
    let (x2, y2) = (TestDb::new(&all[0]).await, TestDb::new(&all[1]).await);
    merge_case(&x2, &y2).await;
    for db in [x, y, x2, y2] {
        db.finish().await;
    }
}

/// Merges `y` into `x`: j1 done in x only, j2 done in y only, j3 only in y, j4 running in y.
async fn merge_case(x: &TestDb, y: &TestDb) {
    let specs = jobs(4);
    let label = format!("{} <- {}", x.label, y.label);
    let shared = sweep("study", "g");
    x.store.enqueue(&shared, &specs[..2]).await.unwrap();
    y.store.enqueue(&shared, &specs[..2]).await.unwrap();
    y.store
        .enqueue(&sweep("more", "g2"), &specs[2..])
        .await
        .unwrap();
    let c = x.store.claim("x", LONG, None).await.unwrap().unwrap();
    assert_eq!(c.key, specs[0].key());
    x.store
        .complete(&c, &outcome(&specs[0], 0.81))
        .await
        .unwrap();
    // In y, j2 and j3 get done, j4 is left running and j1 interrupted.
    let held = y.store.claim("y", LONG, None).await.unwrap().unwrap();
    assert_eq!(held.key, specs[0].key());
    for acc in [0.92, 0.93] {
        let c = y.store.claim("y", LONG, None).await.unwrap().unwrap();
        y.store.complete(&c, &outcome(&c.spec, acc)).await.unwrap();
    }
    let running = y.store.claim("y", LONG, None).await.unwrap().unwrap();
    assert_eq!(running.key, specs[3].key());
    y.store.interrupt(&held).await.unwrap();
    let done_in_y: Vec<String> = y
        .store
        .results(&ResultFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(done_in_y, vec![specs[1].key(), specs[2].key()], "{label}");

    let report = x.store.merge_from(&y.store).await.unwrap();
    assert_eq!(report.sweeps_added, 1, "{label}: {report:?}");
    assert_eq!(report.jobs_added, 2, "{label}: {report:?}");
    assert_eq!(report.jobs_completed, 1, "{label}: {report:?}");
    assert_eq!(report.memberships_added, 2, "{label}: {report:?}");
    let again = x.store.merge_from(&y.store).await.unwrap();
    assert_eq!(
        again,
        Default::default(),
        "{label}: second merge copied {again:?}"
    );

    assert_eq!(x.scalar("SELECT COUNT(*) FROM jobs").await, 4, "{label}");
    assert_eq!(x.scalar("SELECT COUNT(*) FROM sweeps").await, 2, "{label}");
    assert_eq!(
        x.scalar("SELECT COUNT(*) FROM sweep_jobs").await,
        4,
        "{label}"
    );
    assert_eq!(x.scalar("SELECT COUNT(*) FROM results").await, 3, "{label}");
    assert_eq!(
        x.scalar("SELECT COUNT(*) FROM epoch_metrics").await,
        6,
        "{label}"
    );
    let results = x.store.results(&ResultFilter::default()).await.unwrap();
    let acc: Vec<(String, f64)> = results
        .iter()
        .map(|r| (r.key.clone(), r.test_accuracy))
        .collect();
    assert_eq!(
        acc,
        vec![
            (specs[0].key(), 0.81),
            (specs[1].key(), 0.92),
            (specs[2].key(), 0.93)
        ],
        "{label}: x's done job wins, y's done jobs fill in"
    );
    let j4 = x.store.job(&specs[3].key()).await.unwrap().unwrap();
    assert_eq!(
        j4.status,
        JobStatus::Interrupted,
        "{label}: a running job arrives interrupted"
    );
    assert!(x.store.history(&specs[1].key()).await.unwrap().len() == 2);
    let grid = x.grid_results().await;
    assert_eq!(grid.len(), 3, "{label}");
    let sweeps = x.store.sweeps().await.unwrap();
    let study = sweeps.iter().find(|s| s.name == "study").unwrap();
    assert_eq!(study.counts.done, 2, "{label}");
    assert!(
        study.finished_at.is_some(),
        "{label}: study is complete after the merge"
    );
    let more = sweeps.iter().find(|s| s.name == "more").unwrap();
    assert!(more.finished_at.is_none(), "{label}");
    // The merged interrupted job can be claimed here.
    let c = x.store.claim("x", LONG, None).await.unwrap().unwrap();
    assert_eq!(c.key, specs[3].key(), "{label}");
}
