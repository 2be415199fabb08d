//! Every route over real HTTP on a fixture database made through the store's API: status,
//! content type, escaping of database strings, sorting and filtering, 404s, and the change mark.

mod util;

use std::net::SocketAddr;

use util::{EVIL, FAILED_ERROR, Fixture, enc, get, request};

struct Served {
    addr: SocketAddr,
    fx: Fixture,
    rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn served() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fx = rt.block_on(util::fixture(&path));
    let addr = util::start(&path, |r| r);
    Served {
        addr,
        fx,
        rt,
        _dir: dir,
    }
}

fn sweep_url(s: &Served) -> String {
    format!("/sweeps/{}", enc(&s.fx.sweep))
}

/// Rows of the table with `class` in an HTML page.
fn table_rows(html: &str, class: &str) -> Vec<String> {
    let start = html
        .find(&format!("<table class=\"{class}\">"))
        .unwrap_or_else(|| panic!("no table {class}"));
    let rest = &html[start..];
    let end = rest.find("</table>").unwrap();
    let body = &rest[rest.find("<tbody>").unwrap() + 7..end];
    body.split("<tr>")
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect()
}

fn assert_html(r: &util::Reply) {
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(r.body.starts_with("<!DOCTYPE html>"), "{}", &r.body[..100]);
    let csp = r.header("content-security-policy").expect("a CSP header");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
}

/// No markup from the database reaches a page unescaped.
fn assert_escaped(body: &str) {
    assert!(
        !body.contains("<script>alert(1)"),
        "the grid name's markup is live"
    );
    assert!(
        !body.contains("<b>epoch 2</b>"),
        "the error's markup is live"
    );
}

#[test]
fn every_route_answers_with_its_content_type_and_escapes_database_strings() {
    let s = served();

    // The sweeps page.
    let r = get(s.addr, "/");
    assert_eq!(r.status, 200);
    assert_html(&r);
    assert_escaped(&r.body);
    assert!(
        r.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        r.body
    );
    let rows = table_rows(&r.body, "sweeps");
    assert_eq!(rows.len(), 1);
    for badge in ["6 done", "1 failed", "1 running"] {
        assert!(rows[0].contains(badge), "{badge} missing from {}", rows[0]);
    }
    assert!(rows[0].contains(&format!("href=\"/sweeps/{}\"", enc(&s.fx.sweep))));

    // A sweep: the ranked table has one row per done job, best first, with links to each job.
    let r = get(s.addr, &sweep_url(&s));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_html(&r);
    assert_escaped(&r.body);
    let ranked = table_rows(&r.body, "ranking");
    assert_eq!(ranked.len(), 6, "{}", r.body);
    assert!(
        ranked[0].contains(&format!("/jobs/{}", s.fx.done[0])),
        "{}",
        ranked[0]
    );
    assert!(
        ranked[5].contains(&format!("/jobs/{}", s.fx.done[5])),
        "{}",
        ranked[5]
    );
    // Intervals and tie marks (predictions are recorded): the best row says so.
    assert!(ranked[0].contains("best"), "{}", ranked[0]);
    assert!(ranked[0].contains('–'), "no interval in {}", ranked[0]);
    assert!(r.body.contains("Tied with the best"), "no ties line");
    // Unfinished jobs with their reason, escaped; failed first.
    let open = table_rows(&r.body, "unfinished");
    assert_eq!(open.len(), 3);
    assert!(open[0].contains("failed"), "{}", open[0]);
    assert!(open[0].contains(&html_escape(FAILED_ERROR)), "{}", open[0]);
    // Per-depth summary: conv depths 1 and 2 and the ANN.
    assert_eq!(table_rows(&r.body, "summary").len(), 3);
    for link in ["report.csv", "report.json", "depth.svg", "parallel.svg"] {
        assert!(r.body.contains(link), "no {link} link");
    }

    // Sorting by a column, ascending and descending.
    let r = get(s.addr, &format!("{}?sort=dropout&dir=asc", sweep_url(&s)));
    assert_eq!(r.status, 200);
    let rows = table_rows(&r.body, "ranking");
    let dropouts: Vec<bool> = rows.iter().map(|r| r.contains(">0.25<")).collect();
    assert_eq!(
        dropouts,
        [true, true, true, false, false, false],
        "{rows:?}"
    );
    let r = get(s.addr, &format!("{}?sort=accuracy&dir=asc", sweep_url(&s)));
    let rows = table_rows(&r.body, "ranking");
    assert!(rows[0].contains(&s.fx.done[5]), "worst first: {}", rows[0]);

    // Filtering by a setting, as `tune report --where` does.
    let r = get(s.addr, &format!("{}?where=dropout%3D0.5", sweep_url(&s)));
    assert_eq!(r.status, 200);
    assert_eq!(table_rows(&r.body, "ranking").len(), 3);
    assert!(r.body.contains("pass the filter"));
    // Bad parameters are a 400 page naming them, escaped.
    let r = get(s.addr, &format!("{}?where=%3Cb%3Enope", sweep_url(&s)));
    assert_eq!(r.status, 400);
    assert!(r.body.contains("&lt;b&gt;nope"), "{}", r.body);
    let r = get(s.addr, &format!("{}?sort=colour", sweep_url(&s)));
    assert_eq!(r.status, 400);
    let r = get(s.addr, &format!("{}?top=0", sweep_url(&s)));
    assert_eq!(r.status, 400);
    let r = get(s.addr, &format!("{}?top=2", sweep_url(&s)));
    assert_eq!(table_rows(&r.body, "ranking").len(), 2);

    // Downloads: the same ranking as `tune report`.
    let r = get(s.addr, &format!("{}/report.csv", sweep_url(&s)));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(
        r.header("content-disposition")
            .unwrap()
            .contains("attachment")
    );
    let mut lines = r.body.lines();
    assert!(lines.next().unwrap().starts_with("rank,model,dataset"));
    assert_eq!(lines.count(), 6);
    let r = get(s.addr, &format!("{}/report.json", sweep_url(&s)));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(json["jobs"], 6);

    // Pictures.
    for pic in ["depth.svg", "parallel.svg"] {
        let r = get(s.addr, &format!("{}/{pic}", sweep_url(&s)));
        assert_eq!(r.status, 200, "{pic}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("image/svg+xml"));
        assert!(r.body.starts_with("<svg"), "{pic}");
        assert!(!r.body.contains("<script"), "{pic}");
    }

    // A done job: curves (an SVG line per series), the heat-map and per-class accuracy.
    let r = get(s.addr, &format!("/jobs/{}", s.fx.done[0]));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_html(&r);
    assert!(r.body.contains("<polyline"), "no curve drawn");
    assert_eq!(table_rows(&r.body, "epochs").len(), 3);
    assert!(r.body.contains("<rect"), "no heat-map cells");
    let classes = table_rows(&r.body, "classes");
    assert_eq!(classes.len(), 10);
    assert!(classes[0].contains("T-shirt/top"), "{}", classes[0]);
    assert!(
        r.body.contains("test accuracy</dt><dd>0.9000"),
        "figures missing"
    );
    // The failed job: its error escaped.
    let r = get(s.addr, &format!("/jobs/{}", s.fx.failed));
    assert_eq!(r.status, 200);
    assert_escaped(&r.body);
    assert!(r.body.contains(&html_escape(FAILED_ERROR)));
    assert!(
        r.body.contains("&lt;script&gt;"),
        "the sweep link shows the name as text"
    );
    // The pending job: no epochs yet.
    let r = get(s.addr, &format!("/jobs/{}", s.fx.pending));
    assert_eq!(r.status, 200);
    assert!(r.body.contains("No epoch recorded yet"));

    // The comparison as an HTML table (no <pre>).
    let r = get(s.addr, "/compare");
    assert_eq!(r.status, 200);
    assert_html(&r);
    let rows = table_rows(&r.body, "compare");
    assert!(!rows.is_empty());
    assert!(!r.body.contains("<pre"));

    // Assets.
    let r = get(s.addr, "/assets/dash.js");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let r = get(s.addr, "/assets/dash.css");
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));

    // Everything else is a 404 page; nothing but GET is served.
    for path in [
        "/nope",
        "/jobs/0000",
        "/sweeps/no-such-sweep",
        "/sweeps/no-such-sweep/report.csv",
        "/assets/../Cargo.toml",
        "/assets/secret.txt",
        "/%2e%2e/%2e%2e/etc/passwd",
    ] {
        let r = get(s.addr, path);
        assert_eq!(r.status, 404, "{path}");
        assert!(!r.body.contains("root:"), "{path}");
    }
    let r = get(s.addr, &format!("/jobs/{}", enc(EVIL)));
    assert_eq!(r.status, 404);
    assert_escaped(&r.body);
    for method in ["POST", "PUT", "DELETE"] {
        let r = request(s.addr, method, "/");
        assert_eq!(r.status, 405, "{method}");
    }
    drop(s.rt);
}

#[test]
fn the_mark_changes_when_an_epoch_is_recorded() {
    let s = served();
    let r = get(s.addr, "/mark");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let before = r.body.clone();
    assert_eq!(get(s.addr, "/mark").body, before, "the mark is stable");
    let page = get(s.addr, &format!("/jobs/{}", s.fx.running.key));
    assert!(page.body.contains(&format!("data-mark=\"{before}\"")));
    assert_eq!(table_rows(&page.body, "epochs").len(), 1);
    s.rt.block_on(
        s.fx.writer
            .record_epoch(&s.fx.running, &util::epoch(2, 3, 0.8), None),
    )
    .unwrap();
    let after = get(s.addr, "/mark").body;
    assert_ne!(after, before);
    let page = get(s.addr, &format!("/jobs/{}", s.fx.running.key));
    assert_eq!(table_rows(&page.body, "epochs").len(), 2);
}

fn html_escape(s: &str) -> String {
    tune_serve::html::esc(s)
}
