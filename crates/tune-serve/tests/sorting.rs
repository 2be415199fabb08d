//! Sorting a sweep's table speaks `tune report --sort`'s language: `?sort=accuracy` is the
//! validation ranking (as `--sort accuracy` is), the test accuracy column sorts by
//! `test_accuracy` and shows it is the sorted one, and the tie and job columns sort too.

mod util;

use std::time::Duration;

use tune_store::{NewSweep, Store};
use util::{enc, epoch, get, job, outcome};

/// Three finished jobs whose validation and test orders differ: (dense, validation, test).
const JOBS: [(usize, f64, f64); 3] = [(16, 0.90, 0.80), (32, 0.85, 0.88), (64, 0.80, 0.84)];

/// A database of [`JOBS`]; returns the sweep id and the keys in [`JOBS`] order.
async fn fixture(path: &std::path::Path) -> (String, Vec<String>) {
    let store = Store::open(path.to_str().unwrap()).await.unwrap();
    let specs: Vec<_> = JOBS
        .iter()
        .map(|&(dense, _, _)| {
            let mut s = job(&[16], 0.25, 1e-3, 1e-3, 1, 2);
            s.model.dense = vec![dense];
            s
        })
        .collect();
    let sweep = NewSweep {
        data_versions: String::new(),
        name: "sorting".into(),
        grid_text: String::new(),
        host: "testhost".into(),
        tune_version: "0.1.0".into(),
    };
    let report = store.enqueue(&sweep, &specs).await.unwrap();
    for _ in 0..specs.len() {
        let claim = store
            .claim("w:1", Duration::from_secs(60), None)
            .await
            .unwrap()
            .unwrap();
        let i = specs.iter().position(|s| s.key() == claim.key).unwrap();
        let (_, val, test) = JOBS[i];
        let mut run = outcome(&specs[i], test, 200);
        run.history = (1..=2).map(|e| epoch(e, 2, val)).collect();
        store.complete(&claim, &run).await.unwrap();
    }
    store.close().await;
    (report.sweep_id, specs.iter().map(|s| s.key()).collect())
}

/// The ranking table's rows of a page, and its header cells.
fn table(page: &str) -> (Vec<String>, Vec<String>) {
    let start = page.find("<table class=\"ranking\">").expect("a ranking");
    let rest = &page[start..];
    let table = &rest[..rest.find("</table>").unwrap()];
    let head = &table[..table.find("</thead>").unwrap()];
    let heads = head
        .split("<th")
        .filter_map(|h| h.find("</th>").map(|end| h[..end].to_string()))
        .collect();
    let body = &table[table.find("<tbody>").unwrap() + 7..];
    let rows = body
        .split("<tr>")
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect();
    (rows, heads)
}

/// Which of `keys` each row shows, in order.
fn order(rows: &[String], keys: &[String]) -> Vec<usize> {
    rows.iter()
        .map(|r| {
            keys.iter()
                .position(|k| r.contains(&format!("/jobs/{k}\"")))
                .unwrap_or_else(|| panic!("a row of no known job: {r}"))
        })
        .collect()
}

/// The header cell whose text is `text`.
fn header<'a>(heads: &'a [String], text: &str) -> &'a str {
    heads
        .iter()
        .find(|h| h.contains(&format!(">{text}<")) || h.contains(&format!(">{text} ")))
        .unwrap_or_else(|| panic!("no header {text}: {heads:?}"))
}

#[test]
fn sorting_uses_report_sort_names_and_every_ranking_column_sorts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (sweep, keys) = rt.block_on(fixture(&path));
    let addr = util::start(&path, |r| r);
    let url = format!("/sweeps/{}", enc(&sweep));
    let page = |query: &str| {
        let r = get(addr, &format!("{url}?{query}"));
        assert_eq!(r.status, 200, "{query}: {}", r.body);
        r.body
    };

    // The default: the validation ranking.
    let (rows, heads) = table(&page(""));
    assert_eq!(order(&rows, &keys), [0, 1, 2]);
    // `accuracy` is the validation accuracy, as `tune report --sort accuracy` takes it.
    let (rows, _) = table(&page("sort=accuracy"));
    assert_eq!(order(&rows, &keys), [0, 1, 2], "sort=accuracy");
    let (rows, _) = table(&page("sort=val_accuracy&dir=asc"));
    assert_eq!(order(&rows, &keys), [2, 1, 0]);

    // The test accuracy header links test_accuracy; sorted by it, it is the marked one.
    let test_head = header(&heads, "test acc");
    assert!(test_head.contains("sort=test_accuracy"), "{test_head}");
    let body = page("sort=test_accuracy");
    let (rows, heads) = table(&body);
    assert_eq!(order(&rows, &keys), [1, 2, 0], "by test accuracy");
    let test_head = header(&heads, "test acc");
    assert!(test_head.contains("class=\"sorted\""), "{test_head}");
    assert!(
        test_head.contains("dir=asc"),
        "links the other way: {test_head}"
    );
    assert!(
        !header(&heads, "val acc").contains("class=\"sorted\""),
        "{heads:?}"
    );
    assert!(body.contains("sorted by test accuracy descending"));

    // The job column sorts by key, the tie column best first.
    let job_head = header(&heads, "job");
    assert!(job_head.contains("sort=job"), "{job_head}");
    let (rows, _) = table(&page("sort=job"));
    let mut by_key: Vec<usize> = (0..3).collect();
    by_key.sort_by_key(|&i| keys[i].clone());
    assert_eq!(order(&rows, &keys), by_key);
    let (rows, _) = table(&page("sort=job&dir=desc"));
    by_key.reverse();
    assert_eq!(order(&rows, &keys), by_key);

    let tied_head = header(&heads, "tied");
    assert!(tied_head.contains("sort=tied"), "{tied_head}");
    let grade = |r: &String| {
        if r.contains(">best<") {
            3
        } else if r.contains(">tied<") {
            2
        } else {
            1
        }
    };
    for dir in ["desc", "asc"] {
        let (rows, _) = table(&page(&format!("sort=tied&dir={dir}")));
        let grades: Vec<i32> = rows.iter().map(grade).collect();
        let mut sorted = grades.clone();
        sorted.sort();
        if dir == "desc" {
            sorted.reverse();
        }
        assert_eq!(grades, sorted, "sort=tied&dir={dir}");
        assert_eq!(grades.iter().filter(|&&g| g == 3).count(), 1, "one best");
    }

    // A name neither `--sort` nor a column takes is a 400 saying what is taken.
    let r = get(addr, &format!("{url}?sort=colour"));
    assert_eq!(r.status, 400);
    assert!(r.body.contains("test_accuracy"), "{}", r.body);
    assert!(r.body.contains("tied"), "{}", r.body);
}
