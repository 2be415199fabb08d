//! Per-example predictions and validation accuracy: written with a finished job, read back,
//! copied by merge, and shown in `grid_results` (every back end).

mod util;

use tune_store::{ResultFilter, Store};
use util::{LONG, TestDb, backends, jobs, outcome, sweep};

/// `(val_accuracy, test_accuracy, accuracy, validation)` of every `grid_results` row.
async fn view(db: &TestDb) -> Vec<(f64, f64, f64, String)> {
    const SQL: &str = "SELECT val_accuracy, test_accuracy, accuracy, validation \
         FROM grid_results ORDER BY job_key";
    match &db.raw {
        util::Raw::Sqlite(p) => sqlx::query_as(SQL).fetch_all(p).await.unwrap(),
        util::Raw::Postgres(p) => sqlx::query_as(SQL).fetch_all(p).await.unwrap(),
    }
}

async fn finish_one(store: &Store, acc: f64) -> String {
    let c = store.claim("w", LONG, None).await.unwrap().unwrap();
    store.complete(&c, &outcome(&c.spec, acc)).await.unwrap();
    c.key
}

#[tokio::test]
async fn predictions_are_stored_merged_and_val_accuracy_is_reported() {
    let all = backends();
    for a in &all {
        for b in &all {
            let x = TestDb::new(a).await;
            let y = TestDb::new(b).await;
            let specs = jobs(2);
            let label = format!("{} <- {}", x.label, y.label);
            x.store.enqueue(&sweep("s", "g"), &specs).await.unwrap();
            y.store.enqueue(&sweep("s", "g"), &specs).await.unwrap();
            let kx = finish_one(&x.store, 0.81).await;
            let ky = finish_one(&y.store, 0.5).await;
            let ky2 = finish_one(&y.store, 0.6).await;
            assert_eq!((kx.as_str(), ky.as_str()), (ky.as_str(), kx.as_str()));
            let expected = outcome(&specs[0], 0.81);
            let p = x.store.predictions(&kx).await.unwrap();
            assert_eq!(p.val.as_ref(), Some(&expected.val_predictions), "{label}");
            assert_eq!(p.test.as_ref(), Some(&expected.test_predictions), "{label}");
            assert_eq!(x.store.predictions(&ky2).await.unwrap().val, None);

            x.store.merge_from(&y.store).await.unwrap();
            let merged = x.store.predictions(&ky2).await.unwrap();
            assert_eq!(
                merged.test,
                Some(expected.test_predictions.clone()),
                "{label}"
            );
            assert_eq!(
                merged.val,
                Some(expected.val_predictions.clone()),
                "{label}"
            );

            // The last epoch's validation accuracy (util::metrics: 0.75) beside the test accuracy.
            let results = x.store.results(&ResultFilter::default()).await.unwrap();
            let got: Vec<(Option<f64>, f64)> = results
                .iter()
                .map(|r| (r.val_accuracy, r.test_accuracy))
                .collect();
            assert_eq!(got, vec![(Some(0.75), 0.81), (Some(0.75), 0.6)], "{label}");
            let mut rows = view(&x).await;
            rows.sort_by(|a, b| a.1.total_cmp(&b.1));
            assert_eq!(rows.len(), 2, "{label}");
            assert_eq!(
                (rows[0].0, rows[0].1, rows[0].2),
                (0.75, 0.6, 0.6),
                "{label}"
            );
            assert_eq!(
                (rows[1].0, rows[1].1, rows[1].2),
                (0.75, 0.81, 0.81),
                "{label}"
            );
            assert_eq!(rows[0].3, "test", "{label}");
            x.finish().await;
            y.finish().await;
        }
    }
}

/// What a sweep's ranking reads of its jobs' predictions (`Store::sweep_rank_predictions`) is
/// what each job's own predictions say (`Store::predictions`), whether a job's validation labels
/// are the same as the others' (compared in the database, not copied out) or not, and for a job
/// with test predictions only; an unfinished job has no entry.
#[tokio::test]
async fn a_sweeps_rank_predictions_are_each_jobs_own_whatever_its_labels() {
    for b in backends() {
        let db = TestDb::new(&b).await;
        let specs = jobs(5);
        let sweep_id = db
            .store
            .enqueue(&sweep("s", "g"), &specs)
            .await
            .unwrap()
            .sweep_id;
        let val =
            |predicted: Vec<u8>, labels: Vec<u8>| tune_spec::Predictions { predicted, labels };
        // Two jobs with the usual labels, one with other labels (another order of the same
        // images), one without validation predictions; the fifth stays unfinished.
        let same = vec![1, 2, 3, 5];
        let vals = [
            val(vec![1, 2, 3, 4], same.clone()),
            val(vec![2, 2, 3, 5], same.clone()),
            val(vec![5, 3, 2, 1], vec![5, 3, 2, 9]),
            tune_spec::Predictions::default(),
        ];
        let mut keys = Vec::new();
        for v in vals {
            let c = db.store.claim("w", LONG, None).await.unwrap().unwrap();
            let mut o = outcome(&c.spec, 0.8);
            o.val_predictions = v;
            db.store.complete(&c, &o).await.unwrap();
            keys.push(c.key);
        }
        let got = db.store.sweep_rank_predictions(&sweep_id).await.unwrap();
        assert_eq!(got.len(), 4, "{}: {got:?}", db.label);
        for key in &keys {
            let own = db.store.predictions(key).await.unwrap();
            let r = &got[key];
            assert_eq!(r.val, own.val, "{} {key}", db.label);
            assert_eq!(
                r.test_images,
                own.test.as_ref().map(|t| t.len()),
                "{}",
                db.label
            );
        }
        assert_eq!(got[&keys[2]].val.as_ref().unwrap().labels, vec![5, 3, 2, 9]);
        assert_eq!(got[&keys[3]].val, None, "{}", db.label);
        assert_eq!(got[&keys[3]].test_images, Some(10), "{}", db.label);
        db.finish().await;
    }
}

/// The dashboard's change mark changes when a running job's lease expires (its worker stopped:
/// nothing else in the database changes), and `running_leases` says so, on every back end.
#[tokio::test]
async fn a_lease_that_expires_changes_the_mark_and_shows_as_expired() {
    for backend in &backends() {
        let db = TestDb::new(backend).await;
        db.store.enqueue(&sweep("s", "g"), &jobs(2)).await.unwrap();
        let short = db
            .store
            .claim("w:short", std::time::Duration::from_secs(1), None)
            .await
            .unwrap()
            .unwrap();
        db.store.claim("w:long", LONG, None).await.unwrap().unwrap();
        let before = db.store.change_mark().await.unwrap();
        let leases = db.store.running_leases(None).await.unwrap();
        assert_eq!(leases.len(), 2, "{}", db.label);
        assert!(
            leases.iter().all(|l| !l.expired()),
            "{}: {leases:?}",
            db.label
        );
        tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
        let after = db.store.change_mark().await.unwrap();
        assert_ne!(before, after, "{}: the mark changes", db.label);
        let leases = db.store.running_leases(None).await.unwrap();
        let expired: Vec<&str> = leases
            .iter()
            .filter(|l| l.expired())
            .map(|l| l.key.as_str())
            .collect();
        assert_eq!(expired, [short.key.as_str()], "{}", db.label);
        let left = leases
            .iter()
            .find(|l| l.key == short.key)
            .and_then(|l| l.seconds_left)
            .unwrap();
        assert!((-5.0..0.0).contains(&left), "{}: {left}", db.label);
    }
}
