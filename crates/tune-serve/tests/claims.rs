//! Running jobs whose worker stopped, and jobs named by a prefix of their key: a job left
//! `running` by a killed run shows as stopped (its lease expired, or no process holds the SQLite
//! file's lock) and its sweep as stalled, the page refreshing itself when that happens; the
//! 10-character keys the tables show open their job.

mod util;

use std::time::Duration;

use tune_store::{NewSweep, Store};
use util::{enc, epoch, get, job};

/// Jobs in the fixture's sweep: more than 16, so that two keys (hex) share their first character.
const JOBS: usize = 18;

/// A sweep of [`JOBS`] pending jobs, one claimed by worker `w:dead` with a lease of a second and
/// one by `w:live` for an hour, each with an epoch recorded. Returns the sweep id, the keys of
/// the dead and live jobs, and every key.
async fn fixture(path: &std::path::Path) -> (String, String, String, Vec<String>) {
    let store = Store::open(path.to_str().unwrap()).await.unwrap();
    let specs: Vec<_> = (0..JOBS)
        .map(|i| job(&[16], 0.25, 1e-3, 1e-3, i as u64 + 1, 3))
        .collect();
    let sweep = NewSweep {
        data_versions: String::new(),
        name: "claims".into(),
        grid_text: String::new(),
        host: "testhost".into(),
        tune_version: "0.1.0".into(),
    };
    let report = store.enqueue(&sweep, &specs).await.unwrap();
    // Claims a job for `worker` with a lease of `secs` and records its first epoch.
    let claim = async |worker: &str, secs: u64| {
        let c = store
            .claim(worker, Duration::from_secs(secs), None)
            .await
            .unwrap()
            .unwrap();
        store
            .record_epoch(&c, &epoch(1, 3, 0.8), None)
            .await
            .unwrap();
        c
    };
    let dead = claim("w:dead", 1).await;
    let live = claim("w:live", 3600).await;
    store.close().await;
    (
        report.sweep_id,
        dead.key,
        live.key,
        specs.iter().map(|s| s.key()).collect(),
    )
}

/// The row of the unfinished table that links job `key`.
fn row<'a>(page: &'a str, key: &str) -> &'a str {
    page.split("<tr>")
        .find(|r| r.contains(&format!("/jobs/{key}\"")))
        .unwrap_or_else(|| panic!("no row for {key}: {page}"))
}

#[test]
fn a_stopped_worker_shows_and_its_sweep_stalls() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (sweep, dead, live, _) = rt.block_on(fixture(&path));
    // A run trains into the file: it holds the lock beside it, as `tune run` does.
    let lock = std::fs::File::create(dir.path().join("results.db.lock")).unwrap();
    lock.lock().unwrap();
    let addr = util::start(&path, |r| r);
    let url = format!("/sweeps/{}", enc(&sweep));
    std::thread::sleep(Duration::from_millis(1500)); // the dead worker's lease expires

    let page = get(addr, &url).body;
    let dead_row = row(&page, &dead);
    assert!(
        dead_row.contains("worker w:dead stopped: its lease expired at ")
            && dead_row.contains(" UTC without being renewed"),
        "{dead_row}"
    );
    let live_row = row(&page, &live);
    assert!(
        live_row.contains("training on worker w:live") && live_row.contains("expires in"),
        "{live_row}"
    );
    assert!(page.contains("ETA"), "one worker trains: an ETA");
    assert!(!page.contains("stalled"), "{page}");
    let job_page = get(addr, &format!("/jobs/{dead}")).body;
    assert!(job_page.contains("lease expired"), "{job_page}");

    // The run stops (killed): nothing holds the lock. The mark changes, so open pages
    // refresh, and the sweep is stalled on both pages.
    let mark = get(addr, "/mark").body;
    drop(lock);
    assert_ne!(get(addr, "/mark").body, mark, "the mark changes");
    let page = get(addr, &url).body;
    assert!(
        page.contains("<strong>stalled</strong>: 2 jobs marked running, but no tune process"),
        "{page}"
    );
    assert!(page.contains("lock file"), "{page}");
    assert!(
        row(&page, &live).contains("not training: no tune process holds"),
        "{}",
        row(&page, &live)
    );
    let front = get(addr, "/").body;
    let sweep_row = front
        .split("<tr>")
        .find(|r| r.contains(&format!("/sweeps/{}\"", enc(&sweep))))
        .unwrap();
    assert!(sweep_row.contains(">stalled<"), "{sweep_row}");
}

#[test]
fn a_unique_prefix_of_a_key_opens_its_job() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_, dead, _, keys) = rt.block_on(fixture(&path));
    let addr = util::start(&path, |r| r);

    // The 10 characters the tables show: a redirect to the job's page.
    let r = get(addr, &format!("/jobs/{}", &dead[..10]));
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some(format!("/jobs/{dead}").as_str()));
    // Weights of a dashboard started without --weights: a 404 that says how to serve them, for
    // a prefix as for a whole key (no redirect to a page that cannot exist).
    for k in [&dead[..10], dead.as_str()] {
        let r = get(addr, &format!("/jobs/{k}/weights.safetensors"));
        assert_eq!(r.status, 404, "{}", r.body);
        assert!(r.header("location").is_none());
        assert!(r.body.contains("tune serve --weights DIR"), "{}", r.body);
    }
    // A prefix of several keys: 404 naming them.
    let first = |k: &String| k[..1].to_string();
    let shared = keys
        .iter()
        .find(|k| keys.iter().filter(|o| first(o) == first(k)).count() > 1)
        .map(first)
        .expect("two keys share a first character");
    let r = get(addr, &format!("/jobs/{shared}"));
    assert_eq!(r.status, 404);
    assert!(r.body.contains("give more of the key"), "{}", r.body);
    // No key begins so: 404.
    let r = get(addr, "/jobs/not-a-key");
    assert_eq!(r.status, 404);
    assert!(r.body.contains("not-a-key"), "{}", r.body);
}
