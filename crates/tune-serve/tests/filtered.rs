//! A filtered view of a large sweep keeps what the whole sweep's page has: the 95% intervals and
//! the tie marks, on the page and in its downloads, as `tune report --where` gives them.

mod util;

use std::time::Duration;

use tune_store::{NewSweep, Store};
use util::{get, job, outcome};

/// A sweep of 1,500 finished jobs (5 dropouts x 10 learning rates x 30 L2 factors, 2 epochs),
/// accuracies spread by the key as in `bench_pages`; returns its id.
async fn big(path: &std::path::Path) -> String {
    let store = Store::open(path.to_str().unwrap()).await.unwrap();
    let mut specs = Vec::new();
    for dropout in [0.0, 0.1, 0.25, 0.4, 0.5] {
        for i in 0..10 {
            let lr = 1e-4 * f64::from(i + 1);
            for j in 0..30 {
                specs.push(job(&[16], dropout, lr, 1e-5 * f64::from(j), 1, 2));
            }
        }
    }
    let sweep = NewSweep {
        data_versions: String::new(),
        name: "big".into(),
        grid_text: "# 1500 jobs\n".into(),
        host: "testhost".into(),
        tune_version: "0.1.0".into(),
    };
    let id = store.enqueue(&sweep, &specs).await.unwrap().sweep_id;
    let lease = Duration::from_secs(3600);
    while let Some(claim) = store.claim("w:1", lease, None).await.unwrap() {
        let h = claim
            .key
            .bytes()
            .fold(0u64, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(b)));
        let acc = 0.80 + (h % 1200) as f64 / 10_000.0;
        store
            .complete(&claim, &outcome(&claim.spec, acc, 1000))
            .await
            .unwrap();
    }
    store.close().await;
    id
}

#[test]
fn a_filtered_view_of_over_a_thousand_jobs_has_intervals_and_tie_marks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let id = rt.block_on(big(&path));
    let addr = util::start(&path, |r| r);
    // Four dropouts of five: 1,200 jobs.
    let filter = "where=dropout%3D0%2C0.1%2C0.25%2C0.4";
    let page = get(addr, &format!("/sweeps/{id}?{filter}"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("1200 of 1500 jobs pass the filter"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Tied with the best"), "{}", page.body);
    assert!(!page.body.contains("are left out"), "{}", page.body);
    let csv = get(addr, &format!("/sweeps/{id}/report.csv?{filter}"));
    assert_eq!(csv.status, 200);
    let mut lines = csv.body.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (low, tied) = (col("test_ci_low"), col("tied"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 1200);
    assert!(
        rows.iter().all(|r| !r[low].is_empty()),
        "every row has an interval"
    );
    assert!(
        rows.iter().all(|r| r[tied] != "?"),
        "every row is tested against the best"
    );
}
