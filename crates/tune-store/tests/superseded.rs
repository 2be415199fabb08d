//! Jobs of an earlier version of a user's data set (`jobs.superseded_by`, shown as state
//! `superseded`): set aside, counted neither as failed nor as open, never put back by a retry,
//! taken back when the files hold their data again; and a database whose jobs were set aside
//! before the column existed is brought up to date when migrated. SQLite always, PostgreSQL when
//! `TUNE_TEST_POSTGRES_URL` is set.

mod util;

use tune_store::{JobStatus, Store};
use util::{Raw, TestDb, backends, cnn, execute, sweep};

/// Each job's (key, status, state, superseded_by), by key.
async fn states(db: &TestDb) -> Vec<(String, String, String, Option<String>)> {
    const Q: &str = "SELECT key, status, state, superseded_by FROM jobs ORDER BY key";
    match &db.raw {
        Raw::Sqlite(p) => sqlx::query_as(Q).fetch_all(p).await.unwrap(),
        Raw::Postgres(p) => sqlx::query_as(Q).fetch_all(p).await.unwrap(),
    }
}

const NEW: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

#[tokio::test]
async fn superseded_jobs_are_neither_failed_nor_open_nor_retried_until_their_data_is_back() {
    for b in backends() {
        let db = TestDb::new(&b).await;
        let specs = [cnn(&[16], 32, 1), cnn(&[16], 32, 2), cnn(&[16], 32, 3)];
        db.store.enqueue(&sweep("g", "a"), &specs).await.unwrap();
        let keys: Vec<String> = specs.iter().map(|s| s.key()).collect();
        // A queued job and a failed one are set aside; the failed one keeps its reason.
        execute(
            &db,
            &format!(
                "UPDATE jobs SET status = 'failed', last_error = 'diverged' WHERE key = '{}'",
                keys[1]
            ),
        )
        .await;
        let aside = [
            (keys[0].clone(), "changed".to_string(), NEW.to_string()),
            (keys[1].clone(), "changed".to_string(), NEW.to_string()),
        ];
        assert_eq!(
            db.store.retire_jobs(&aside).await.unwrap(),
            2,
            "{}",
            db.label
        );
        // A second time changes nothing.
        assert_eq!(
            db.store.retire_jobs(&aside).await.unwrap(),
            0,
            "{}",
            db.label
        );
        let errors: Vec<Option<String>> = db
            .store
            .jobs(None)
            .await
            .unwrap()
            .into_iter()
            .filter(|j| j.key != keys[2])
            .map(|j| j.last_error)
            .collect();
        assert!(errors.contains(&Some("changed".into())), "{errors:?}");
        assert!(errors.contains(&Some("diverged".into())), "{errors:?}");
        let counts = db.store.counts(None).await.unwrap();
        assert_eq!(
            (
                counts.superseded,
                counts.failed,
                counts.pending,
                counts.total()
            ),
            (2, 0, 1, 3),
            "{}",
            db.label
        );
        let shown = db.store.jobs(Some("g")).await.unwrap();
        assert_eq!(
            shown
                .iter()
                .filter(|j| j.status == JobStatus::Superseded)
                .count(),
            2,
            "{}",
            db.label
        );
        // No retry puts them back: they could only fail again.
        assert_eq!(
            db.store.retry_failed(None).await.unwrap(),
            0,
            "{}",
            db.label
        );
        assert_eq!(
            db.store.retry_failed_jobs(&keys).await.unwrap(),
            0,
            "{}",
            db.label
        );
        // Their data is back: failed jobs again, which a retry trains.
        assert_eq!(
            db.store.restore_jobs(&keys).await.unwrap(),
            2,
            "{}",
            db.label
        );
        let counts = db.store.counts(None).await.unwrap();
        assert_eq!((counts.superseded, counts.failed), (0, 2), "{}", db.label);
        assert_eq!(
            db.store.retry_failed(None).await.unwrap(),
            2,
            "{}",
            db.label
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn jobs_set_aside_before_the_column_existed_are_superseded_when_migrated() {
    for b in backends() {
        let db = TestDb::new(&b).await;
        let specs = [cnn(&[16], 32, 1), cnn(&[16], 32, 2), cnn(&[16], 32, 3)];
        db.store.enqueue(&sweep("g", "a"), &specs).await.unwrap();
        let mut keys: Vec<String> = specs.iter().map(|s| s.key()).collect();
        keys.sort();
        // The database as the tune before this migration left it: the reasons `tune run` and
        // `tune worker` wrote, and a job that failed for another reason.
        let old = "DROP INDEX IF EXISTS jobs_state; \
             ALTER TABLE jobs DROP COLUMN state; \
             ALTER TABLE jobs DROP COLUMN superseded_by; \
             DELETE FROM _sqlx_migrations WHERE version = 20261204000100;";
        execute(&db, old).await;
        let reasons = [
            format!(
                "data set `mine` changed before this job trained: the job is for content hash \
                 {}, the grid's files now have {NEW}; `tune run g.toml` queued the jobs of the \
                 data as it is now (this one is kept, not trained)",
                "0".repeat(64)
            ),
            format!(
                "data set `mine` (/tmp/d.csv) has changed since its jobs were queued: its \
                 content hash is now {NEW}, the jobs' is {}. Jobs never mix data: run the grid \
                 again (`tune run GRID`) to queue jobs for the data as it is now",
                "0".repeat(64)
            ),
            "training diverged: the loss became NaN".to_string(),
        ];
        for (key, why) in keys.iter().zip(&reasons) {
            execute(
                &db,
                &format!(
                    "UPDATE jobs SET status = 'failed', last_error = '{}' WHERE key = '{key}'",
                    why.replace('\'', "''")
                ),
            )
            .await;
        }
        // Opening it to write migrates it.
        let store: Store = db.reopen().await;
        store.close().await;
        let expected: Vec<(String, String, String, Option<String>)> = vec![
            (
                keys[0].clone(),
                "failed".into(),
                "superseded".into(),
                Some(NEW.into()),
            ),
            (
                keys[1].clone(),
                "failed".into(),
                "superseded".into(),
                Some(NEW.into()),
            ),
            (keys[2].clone(), "failed".into(), "failed".into(), None),
        ];
        assert_eq!(states(&db).await, expected, "{}", db.label);
        db.finish().await;
    }
}

#[tokio::test]
async fn a_merge_keeps_superseded_jobs_superseded_on_every_backend_pair() {
    let backends = backends();
    for from in &backends {
        for into in &backends {
            let x = TestDb::new(from).await;
            let y = TestDb::new(into).await;
            let specs = [cnn(&[16], 32, 1), cnn(&[16], 32, 2)];
            x.store.enqueue(&sweep("g", "a"), &specs).await.unwrap();
            // Jobs of a user's data set record its hash from the moment they are queued.
            execute(
                &x,
                &format!("UPDATE jobs SET data_sha256 = '{}'", "0".repeat(64)),
            )
            .await;
            let aside = [(specs[0].key(), "changed".to_string(), NEW.to_string())];
            assert_eq!(x.store.retire_jobs(&aside).await.unwrap(), 1);
            y.store.merge_from(&x.store).await.unwrap();
            let counts = y.store.counts(None).await.unwrap();
            let pair = format!("{} into {}", x.label, y.label);
            assert_eq!(
                (counts.superseded, counts.failed, counts.pending),
                (1, 0, 1),
                "{pair}"
            );
            let merged = states(&y).await;
            let aside = merged.iter().find(|r| r.0 == specs[0].key()).unwrap();
            assert_eq!(aside.3.as_deref(), Some(NEW), "{pair}");
            x.finish().await;
            y.finish().await;
        }
    }
}

/// `spec` on version `sha256` of the user's data set `mine`.
fn on_mine(mut spec: tune_spec::JobSpec, sha256: &str) -> tune_spec::JobSpec {
    spec.train.dataset = "mine".into();
    spec.train.data = Some(Box::new(tune_spec::UserData {
        sha256: sha256.to_string(),
        input: tune_spec::InputShape::BUILT_IN,
        classes: (0..10).map(|c| c.to_string()).collect(),
        source: None,
    }));
    spec
}

/// A version of a user's data set whose files cannot be read: its queued jobs fail at once,
/// unclaimed (no attempt counted), with the reason; the job a worker holds, superseded jobs and
/// the jobs of another version are left as they are, and a second call fails nothing.
#[tokio::test]
async fn the_queued_jobs_of_an_unreadable_data_version_fail_at_once() {
    let old = "ab".repeat(32);
    for b in backends() {
        let db = TestDb::new(&b).await;
        let specs: Vec<tune_spec::JobSpec> = (1..=4)
            .map(|seed| on_mine(cnn(&[16], 32, seed), &old))
            .chain([on_mine(cnn(&[16], 32, 5), NEW)])
            .collect();
        db.store.enqueue(&sweep("g", "a"), &specs).await.unwrap();
        let lease = std::time::Duration::from_secs(600);
        let claim = db.store.claim("w:1", lease, None).await.unwrap().unwrap();
        let aside = specs
            .iter()
            .map(|s| s.key())
            .find(|k| *k != claim.key && specs[4].key() != *k)
            .unwrap();
        db.store
            .retire_jobs(&[(aside.clone(), "changed".into(), NEW.into())])
            .await
            .unwrap();
        let mut failed = db
            .store
            .fail_data_version("mine", &old, "cannot read mine.csv")
            .await
            .unwrap();
        failed.sort();
        let mut want: Vec<String> = specs[..4]
            .iter()
            .map(|s| s.key())
            .filter(|k| *k != claim.key && *k != aside)
            .collect();
        want.sort();
        assert_eq!(failed, want, "{}", db.label);
        let by_key = states(&db).await;
        let state = |k: &str| by_key.iter().find(|r| r.0 == k).unwrap().2.clone();
        assert_eq!(state(&claim.key), "running", "{}", db.label);
        assert_eq!(state(&aside), "superseded", "{}", db.label);
        assert_eq!(state(&specs[4].key()), "pending", "{}", db.label);
        for k in &want {
            assert_eq!(state(k), "failed", "{}", db.label);
        }
        let jobs = db.store.jobs(None).await.unwrap();
        for j in jobs.iter().filter(|j| want.contains(&j.key)) {
            assert_eq!(j.last_error.as_deref(), Some("cannot read mine.csv"));
            assert_eq!(j.attempts, 0, "{}", db.label);
        }
        assert!(
            db.store
                .fail_data_version("mine", &old, "again")
                .await
                .unwrap()
                .is_empty()
        );
    }
}

/// A worker that cannot read one version's files passes over its jobs: `claim_except` claims
/// only the others, and nothing once they are taken; the skipped jobs stay pending for others.
#[tokio::test]
async fn a_claim_passes_over_the_jobs_of_the_data_it_is_told_to_skip() {
    let old = "cd".repeat(32);
    for b in backends() {
        let db = TestDb::new(&b).await;
        let specs = [
            on_mine(cnn(&[16], 32, 1), &old),
            on_mine(cnn(&[16], 32, 2), NEW),
            on_mine(cnn(&[16], 32, 3), &old),
        ];
        db.store.enqueue(&sweep("g", "a"), &specs).await.unwrap();
        let lease = std::time::Duration::from_secs(600);
        let skip = [old.clone()];
        let claim = db
            .store
            .claim_except("w:1", lease, None, &skip)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(claim.key, specs[1].key(), "{}", db.label);
        assert!(
            db.store
                .claim_except("w:1", lease, None, &skip)
                .await
                .unwrap()
                .is_none(),
            "{}",
            db.label
        );
        // Another worker, which can read them, takes them.
        let other = db.store.claim("w:2", lease, None).await.unwrap().unwrap();
        assert!(other.key == specs[0].key() || other.key == specs[2].key());
    }
}
