//! Issue 10, items 1 and 12 at the store, on both back ends: attempts that made progress (a
//! finished epoch) are not the job's faults, whether the worker was killed or its lease expired;
//! and the store holds no figure that is NaN or infinite.

mod util;

use std::time::Duration;
use tune_store::{JobStatus, Released, StoreError};
use util::*;

/// Kills and expired leases, each after a finished epoch, never give up on the job; the same
/// number without progress does.
#[tokio::test]
async fn only_attempts_without_progress_count_towards_giving_up() {
    for b in backends() {
        let db = TestDb::new(&b).await;
        let spec = cnn(&[16], 16, 1);
        db.store
            .enqueue(&sweep("s", "g"), std::slice::from_ref(&spec))
            .await
            .unwrap();
        let max = db.store.max_attempts();
        // Killed local runs, each after one more epoch.
        for attempt in 1..=max + 2 {
            let c = db
                .store
                .claim(&format!("host:{attempt}"), LONG, None)
                .await
                .unwrap()
                .unwrap();
            db.store
                .record_epoch(&c, &metrics(attempt as usize, 0.5), Some(b"w"))
                .await
                .unwrap();
            let released = db.store.interrupt_running(Some("host:")).await.unwrap();
            assert_eq!(
                released,
                Released {
                    resumed: 1,
                    failed: 0
                },
                "attempt {attempt} ({})",
                db.label
            );
        }
        // Expired leases of workers, each after one more epoch.
        for i in 0..max + 2 {
            let c = db
                .store
                .claim(&format!("w{i}"), Duration::ZERO, None)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("lease {i} ({}): the job was given up on", db.label));
            db.store
                .record_epoch(&c, &metrics(10 + i as usize, 0.5), Some(b"w"))
                .await
                .unwrap_or_else(|e| panic!("{e} ({})", db.label));
            let_lease_expire().await;
        }
        let job = db.store.job(&spec.key()).await.unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Running, "{}", db.label);
        // Now kills without progress: given up on at the max-th in a row.
        let c = db.store.claim("host:x", LONG, None).await.unwrap().unwrap();
        db.store.interrupt(&c).await.unwrap();
        for attempt in 1..=max {
            let claimed = db
                .store
                .claim(&format!("host:{}", 100 + attempt), LONG, None)
                .await
                .unwrap();
            assert!(claimed.is_some(), "kill {attempt} ({})", db.label);
            let released = db.store.interrupt_running(Some("host:")).await.unwrap();
            // The expired lease before counts as one fault in a row already (no epoch since).
            let expect_failed = attempt + 1 >= max;
            assert_eq!(
                released.failed,
                u64::from(expect_failed),
                "kill {attempt} ({})",
                db.label
            );
            if expect_failed {
                break;
            }
        }
        let job = db.store.job(&spec.key()).await.unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Failed, "{}", db.label);
        assert!(
            job.last_error
                .as_deref()
                .unwrap_or_default()
                .contains("kills allowed in a row without a finished epoch"),
            "{:?} ({})",
            job.last_error,
            db.label
        );
        db.finish().await;
    }
}

/// No writer stores a NaN or an infinity: the store refuses it, on both back ends alike.
#[tokio::test]
async fn non_finite_figures_are_refused_by_every_writer() {
    for b in backends() {
        let db = TestDb::new(&b).await;
        let spec = cnn(&[16], 16, 1);
        db.store
            .enqueue(&sweep("s", "g"), std::slice::from_ref(&spec))
            .await
            .unwrap();
        let c = db.store.claim("w", LONG, None).await.unwrap().unwrap();
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let err = db
                .store
                .record_epoch(&c, &metrics(1, bad), None)
                .await
                .unwrap_err();
            assert!(
                matches!(err, StoreError::NonFinite { .. }),
                "{err} ({})",
                db.label
            );
            let mut o = outcome(&spec, 0.9);
            o.test_loss = bad;
            let err = db.store.complete(&c, &o).await.unwrap_err();
            assert!(
                matches!(err, StoreError::NonFinite { .. }),
                "{err} ({})",
                db.label
            );
        }
        assert_eq!(db.scalar("SELECT COUNT(*) FROM epoch_metrics").await, 0);
        assert_eq!(db.scalar("SELECT COUNT(*) FROM results").await, 0);
        db.finish().await;
    }
}
