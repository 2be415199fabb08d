//! A user's data set whose files changed between runs of its grid: the dashboard keeps the
//! versions apart as `NAME@HASH8`, as `tune report` does, on every page (the ranking per version,
//! the depth summary, the filter, the downloads, a job's page and `/compare`), and the jobs of
//! the earlier version set aside as superseded are not work left in the sweep's progress.

mod util;

use std::time::Duration;

use tune_spec::{InputShape, JobSpec, UserData};
use tune_store::{NewSweep, Store};
use util::{enc, get, job, outcome};

const OLD: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const NEW: &str = "2222222222222222222222222222222222222222222222222222222222222222";

/// `spec` trained on version `sha256` of the user's data set `digits`.
fn on(mut spec: JobSpec, sha256: &str) -> JobSpec {
    spec.train.dataset = "digits".into();
    spec.train.data = Some(Box::new(UserData {
        sha256: sha256.to_string(),
        input: InputShape::BUILT_IN,
        classes: (0..10).map(|c| c.to_string()).collect(),
        source: None,
    }));
    spec
}

/// One sweep: three configurations (an ANN and two CNN depths) done on the old version, with
/// two more seeds queued then set aside when the files changed, and the same three done on the
/// new version (where the old version's best configuration is the worst). Returns the sweep id
/// and the keys of the old version's done jobs.
async fn two_versions(path: &std::path::Path) -> (String, Vec<String>) {
    let store = Store::open(path.to_str().unwrap()).await.unwrap();
    let sweep = NewSweep {
        data_versions: String::new(),
        name: "digits-grid".into(),
        grid_text: "# two versions\n".into(),
        host: "testhost".into(),
        tune_version: "0.1.0".into(),
    };
    let configs = [&[][..], &[16][..], &[16, 32][..]];
    let lease = Duration::from_secs(3600);
    let mut id = String::new();
    let mut old_keys = Vec::new();
    // The sweep's jobs so far: a grid run again enqueues all of them.
    let mut all: Vec<JobSpec> = Vec::new();
    for (sha, accs) in [(OLD, [0.80, 0.95, 0.90]), (NEW, [0.85, 0.70, 0.75])] {
        let done: Vec<(JobSpec, f64)> = configs
            .iter()
            .zip(accs)
            .map(|(f, a)| (on(job(f, 0.25, 1e-3, 1e-3, 1, 3), sha), a))
            .collect();
        let specs: Vec<JobSpec> = done.iter().map(|(s, _)| s.clone()).collect();
        all.extend(specs.iter().cloned());
        id = store.enqueue(&sweep, &all).await.unwrap().sweep_id;
        for _ in 0..specs.len() {
            let claim = store.claim("w:1", lease, None).await.unwrap().unwrap();
            let (spec, acc) = done.iter().find(|(s, _)| s.key() == claim.key).unwrap();
            store
                .complete(&claim, &outcome(spec, *acc, 200))
                .await
                .unwrap();
        }
        if sha == OLD {
            old_keys = specs.iter().map(JobSpec::key).collect();
            // Two more seeds queued, then the files changed: set aside.
            let more: Vec<JobSpec> = (2..4)
                .map(|seed| on(job(&[16], 0.25, 1e-3, 1e-3, seed, 3), OLD))
                .collect();
            all.extend(more);
            store.enqueue(&sweep, &all).await.unwrap();
            let n = store
                .retire_data_version("digits", OLD, NEW, "the files changed")
                .await
                .unwrap();
            assert_eq!(n, 2);
        }
    }
    (id, old_keys)
}

fn served() -> (std::net::SocketAddr, String, Vec<String>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (sweep, old_keys) = rt.block_on(two_versions(&path));
    let addr = util::start(&path, |r| r);
    (addr, sweep, old_keys, dir)
}

#[test]
fn every_page_keeps_the_versions_of_a_data_set_apart() {
    let (addr, sweep, old_keys, _dir) = served();
    let (old, new) = ("digits@11111111", "digits@22222222");
    let url = format!("/sweeps/{}", enc(&sweep));
    let page = get(addr, &url);
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    // One ranking per version, each with its own best.
    assert!(
        body.contains(
            "The results are on 2 data sets (versions of one name, NAME@HASH8, count apart): \
             ranked within each."
        ),
        "{body}"
    );
    for v in [old, new] {
        assert!(body.contains(&format!("<h3>dataset = {v}</h3>")), "{body}");
    }
    assert_eq!(
        body.matches("<table class=\"ranking\">").count(),
        2,
        "{body}"
    );
    // The depth summary has a row per depth and version (3 x 2).
    let summary = &body[body.find("<table class=\"summary\">").unwrap()..];
    let summary = &summary[..summary.find("</table>").unwrap()];
    assert_eq!(summary.matches("<tr>").count() - 1, 6, "{summary}");
    assert!(summary.contains(old) && summary.contains(new), "{summary}");
    // The superseded seeds are no work left: the epochs of the six done jobs, all recorded.
    assert!(body.contains("100% of the epochs (18 / 18)"), "{body}");

    // A filter by version selects it, by name every version.
    let one = get(addr, &format!("{url}?where=dataset%3D{}", enc(old)));
    assert_eq!(one.status, 200);
    assert!(
        one.body.contains("5 of 8 jobs pass the filter"),
        "{}",
        one.body
    );
    assert_eq!(one.body.matches("<table class=\"ranking\">").count(), 1);
    // ... and says which version the one table ranks.
    assert!(
        one.body
            .contains(&format!("The results are on data set {old}: one version")),
        "{}",
        one.body
    );
    let all = get(addr, &format!("{url}?where=dataset%3Ddigits"));
    assert!(
        all.body.contains("8 of 8 jobs pass the filter"),
        "{}",
        all.body
    );
    let none = get(addr, &format!("{url}?where=dataset%3Ddigits%40abcdef12"));
    assert!(
        none.body.contains("No job passes the filter"),
        "{}",
        none.body
    );

    // The downloads carry the versions.
    let csv = get(addr, &format!("{url}/report.csv"));
    assert_eq!(csv.status, 200);
    let lines = |v: &str| csv.body.lines().filter(|l| l.contains(v)).count();
    assert_eq!((lines(old), lines(new)), (3, 3), "{}", csv.body);

    // A job's page names its version.
    let job = get(addr, &format!("/jobs/{}", old_keys[0]));
    assert_eq!(job.status, 200);
    assert!(job.body.contains(&format!(" on {old} ")), "{}", job.body);
    assert!(
        job.body
            .contains(&format!("<dt>dataset</dt><dd>{old}</dd>")),
        "{}",
        job.body
    );

    // The comparison has a column per version.
    let compare = get(addr, "/compare");
    assert_eq!(compare.status, 200);
    assert!(
        compare.body.contains(old) && compare.body.contains(new),
        "{}",
        compare.body
    );
}
