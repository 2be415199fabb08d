//! The summary of each job's recorded epochs in `jobs` (`epochs_recorded`, `epoch_seconds`,
//! `last_val_accuracy`), kept by triggers on `epoch_metrics` whatever writes the epochs, on every
//! back end: SQLite always, PostgreSQL when `TUNE_TEST_POSTGRES_URL` is set.

mod util;

use tune_store::Store;
use util::{LONG, Raw, TestDb, backends, cnn, execute, metrics, outcome, sweep};

/// The job's summary columns and the same figures counted from `epoch_metrics`.
type Summary = (i64, f64, Option<f64>);

async fn summary(db: &TestDb, key: &str) -> (Summary, Summary) {
    const KEPT: &str =
        "SELECT epochs_recorded, epoch_seconds, last_val_accuracy FROM jobs WHERE key = $1";
    const COUNTED: &str = "SELECT COUNT(*), COALESCE(SUM(seconds), 0.0), \
         (SELECT val_accuracy FROM epoch_metrics WHERE job_key = $1 ORDER BY epoch DESC LIMIT 1) \
         FROM epoch_metrics WHERE job_key = $1";
    match &db.raw {
        Raw::Sqlite(p) => (
            sqlx::query_as(KEPT).bind(key).fetch_one(p).await.unwrap(),
            sqlx::query_as(COUNTED)
                .bind(key)
                .fetch_one(p)
                .await
                .unwrap(),
        ),
        Raw::Postgres(p) => (
            sqlx::query_as(KEPT).bind(key).fetch_one(p).await.unwrap(),
            sqlx::query_as(COUNTED)
                .bind(key)
                .fetch_one(p)
                .await
                .unwrap(),
        ),
    }
}

/// The validation accuracy of [`metrics`]`(epoch, x)`.
fn val(epoch: usize, x: f64) -> f64 {
    metrics(epoch, x).val_accuracy
}

/// Asserts the summary of job `key` is `expected` and what `epoch_metrics` holds.
async fn check(db: &TestDb, key: &str, expected: Summary, when: &str) {
    let (kept, counted) = summary(db, key).await;
    assert_eq!(kept, expected, "{} {when}: jobs' summary", db.label);
    assert_eq!(kept, counted, "{} {when}: against epoch_metrics", db.label);
}

#[tokio::test]
async fn the_summary_follows_recorded_rerecorded_cut_and_reset_epochs() {
    for b in backends() {
        let db = TestDb::new(&b).await;
        let spec = cnn(&[16], 32, 1);
        let mut spec3 = spec.clone();
        spec3.train.epochs = 3;
        db.store
            .enqueue(&sweep("g", "a"), std::slice::from_ref(&spec3))
            .await
            .unwrap();
        let key = spec3.key();
        check(&db, &key, (0, 0.0, None), "before any epoch").await;

        let claim = db.store.claim("w:1", LONG, None).await.unwrap().unwrap();
        for e in 1..=3 {
            db.store
                .record_epoch(&claim, &metrics(e, e as f64 / 100.0), None)
                .await
                .unwrap();
        }
        check(&db, &key, (3, 37.5, Some(val(3, 0.03))), "after 3 epochs").await;

        // An epoch delivered again (a resumed job re-records the epoch it was killed in) replaces
        // the row: still 3 epochs, the last one's new figure.
        db.store
            .record_epoch(&claim, &metrics(3, 0.1), None)
            .await
            .unwrap();
        check(
            &db,
            &key,
            (3, 37.5, Some(val(3, 0.1))),
            "after epoch 3 again",
        )
        .await;
        db.store
            .record_epoch(&claim, &metrics(2, 0.2), None)
            .await
            .unwrap();
        check(
            &db,
            &key,
            (3, 37.5, Some(val(3, 0.1))),
            "after epoch 2 again",
        )
        .await;

        // Finished with a history of 2 epochs: the third, left over, is deleted.
        let mut out = outcome(&spec3, 0.9);
        out.history.truncate(2);
        db.store.complete(&claim, &out).await.unwrap();
        check(
            &db,
            &key,
            (2, 25.0, Some(val(2, 0.0))),
            "after a shorter history",
        )
        .await;

        // Epochs deleted behind the store's back (as a job deleted or reset would) count too.
        execute(
            &db,
            &format!("DELETE FROM epoch_metrics WHERE job_key = '{key}'"),
        )
        .await;
        check(&db, &key, (0, 0.0, None), "after the epochs were deleted").await;
        db.finish().await;
    }
}

#[tokio::test]
async fn a_database_from_before_the_summary_is_filled_in_when_migrated() {
    for b in backends() {
        let db = TestDb::new(&b).await;
        let specs = [cnn(&[16], 32, 1), cnn(&[16], 32, 2), cnn(&[32], 32, 1)];
        db.store.enqueue(&sweep("g", "a"), &specs).await.unwrap();
        // The database as the tune before this migration left it: no summary columns, no
        // triggers, epochs of two jobs (one of them finished), none of the third.
        let undo = match db.label {
            "sqlite" => {
                "DROP TRIGGER epoch_metrics_summary_insert; \
                 DROP TRIGGER epoch_metrics_summary_update; \
                 DROP TRIGGER epoch_metrics_summary_delete; \
                 ALTER TABLE jobs DROP COLUMN epochs_recorded; \
                 ALTER TABLE jobs DROP COLUMN epoch_seconds; \
                 ALTER TABLE jobs DROP COLUMN last_val_accuracy; \
                 DELETE FROM _sqlx_migrations WHERE version = 20261203000100;"
            }
            _ => {
                "DROP TRIGGER epoch_metrics_summary ON epoch_metrics; \
                 DROP FUNCTION tune_epoch_metrics_summary(); \
                 DROP FUNCTION tune_job_summary(TEXT); \
                 ALTER TABLE jobs DROP COLUMN epochs_recorded, DROP COLUMN epoch_seconds, \
                     DROP COLUMN last_val_accuracy; \
                 DELETE FROM _sqlx_migrations WHERE version = 20261203000100;"
            }
        };
        execute(&db, undo).await;
        let epochs = [(&specs[0], 2, 0.01), (&specs[1], 1, 0.05)];
        for (spec, n, x) in epochs {
            for e in 1..=n {
                let m = metrics(e, e as f64 * x);
                execute(
                    &db,
                    &format!(
                        "INSERT INTO epoch_metrics (job_key, epoch, train_loss, train_accuracy, \
                         val_loss, val_accuracy, seconds) VALUES ('{}', {e}, {}, {}, {}, {}, {})",
                        spec.key(),
                        m.train_loss,
                        m.train_accuracy,
                        m.val_loss,
                        m.val_accuracy,
                        m.seconds
                    ),
                )
                .await;
            }
        }
        // Opening it to write migrates it.
        let store: Store = db.reopen().await;
        store.close().await;
        check(
            &db,
            &specs[0].key(),
            (2, 25.0, Some(val(2, 0.02))),
            "migrated",
        )
        .await;
        check(
            &db,
            &specs[1].key(),
            (1, 12.5, Some(val(1, 0.05))),
            "migrated",
        )
        .await;
        check(&db, &specs[2].key(), (0, 0.0, None), "migrated").await;
        // And the triggers are back.
        execute(
            &db,
            &format!(
                "DELETE FROM epoch_metrics WHERE job_key = '{}' AND epoch = 2",
                specs[0].key()
            ),
        )
        .await;
        check(
            &db,
            &specs[0].key(),
            (1, 12.5, Some(val(1, 0.01))),
            "an epoch deleted",
        )
        .await;
        db.finish().await;
    }
}
