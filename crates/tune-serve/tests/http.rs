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
    // Progress over the epochs that will be recorded: 6 done jobs x 3, one epoch each of the
    // failed and the running job; 2 left of the running one, 3 of the pending one. The failed
    // job's 2 unrun epochs are said apart, not counted as work left.
    assert!(
        r.body.contains("(20 / 25) · 2 planned epochs not trained"),
        "{}",
        r.body
    );
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
    // A filter no job passes says which values the sweep has.
    let r = get(s.addr, &format!("{}?where=dropout%3D0.9", sweep_url(&s)));
    assert_eq!(r.status, 200);
    assert!(
        r.body
            .contains("No job passes the filter: dropout is 0, 0.25, 0.5 in this sweep"),
        "{}",
        r.body
    );
    // The grid file the sweep was enqueued from, escaped.
    let r = get(s.addr, &sweep_url(&s));
    assert!(
        r.body
            .contains("<pre># a grid whose name is markup\n</pre>"),
        "{}",
        r.body
    );
    // Bad parameters are a 400 page naming them, escaped.
    let r = get(s.addr, &format!("{}?where=%3Cb%3Enope", sweep_url(&s)));
    assert_eq!(r.status, 400);
    assert!(r.body.contains("&lt;b&gt;nope"), "{}", r.body);
    // The page's words name `?where=`, not the CLI's `--where`.
    let r = get(s.addr, &format!("{}?where=lr", sweep_url(&s)));
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("?where=lr") && !r.body.contains("--where"),
        "{}",
        r.body
    );
    let r = get(s.addr, &format!("{}?sort=colour", sweep_url(&s)));
    assert_eq!(r.status, 400);
    let r = get(s.addr, &format!("{}?top=0", sweep_url(&s)));
    assert_eq!(r.status, 400);
    let r = get(s.addr, &format!("{}?top=2", sweep_url(&s)));
    assert_eq!(table_rows(&r.body, "ranking").len(), 2);
    // A cut table says so and links the whole one; an uncut one says nothing more.
    let all = table_rows(&get(s.addr, &sweep_url(&s)).body, "ranking").len();
    assert!(all > 2);
    assert!(!get(s.addr, &sweep_url(&s)).body.contains("Showing"));
    let line = format!("Showing the first 2 of {all} rows (<a href=\"");
    let at = r.body.find(&line).unwrap_or_else(|| panic!("{}", r.body)) + line.len();
    let href = r.body[at..at + r.body[at..].find('"').unwrap()].replace("&amp;", "&");
    assert!(href.contains(&format!("top={all}")), "{href}");
    // Said once, in the heading's line, which does not also count the rows as if all were shown.
    assert_eq!(r.body.matches("Showing the first").count(), 1, "{}", r.body);
    assert!(!r.body.contains(&format!(". {all} rows")), "{}", r.body);
    assert_eq!(table_rows(&get(s.addr, &href).body, "ranking").len(), all);

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

    // The sweep's ranking is kept between requests; a job that finishes shows in it at once.
    let ranked = |s: &Served| table_rows(&get(s.addr, &sweep_url(s)).body, "ranking");
    assert_eq!(ranked(&s).len(), 6);
    assert_eq!(ranked(&s).len(), 6);
    let spec = s.fx.running.spec.clone();
    s.rt.block_on(
        s.fx.writer
            .complete(&s.fx.running, &util::outcome(&spec, 0.95, 200)),
    )
    .unwrap();
    let rows = ranked(&s);
    assert_eq!(rows.len(), 7, "{rows:?}");
    assert!(
        rows[0].contains(&format!("/jobs/{}", s.fx.running.key)),
        "the new best first: {}",
        rows[0]
    );
}

#[test]
fn large_responses_are_gzipped_for_browsers_that_ask_and_decode_to_the_same_bytes() {
    use std::io::Read;
    let s = served();
    for path in [sweep_url(&s), format!("{}/depth.svg", sweep_url(&s))] {
        let plain = get(s.addr, &path);
        assert_eq!(plain.status, 200);
        assert_eq!(plain.header("content-encoding"), None, "{path}");
        let zipped = util::get_gzip(s.addr, &path);
        assert_eq!(zipped.status, 200);
        assert_eq!(zipped.header("content-encoding"), Some("gzip"), "{path}");
        assert_eq!(zipped.header("vary"), Some("accept-encoding"));
        assert!(zipped.body.len() < plain.body.len() / 2, "{path}");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&zipped.body[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, plain.body, "{path}");
    }
    // Small answers and clients that refuse gzip get plain bytes.
    assert_eq!(
        util::get_gzip(s.addr, "/mark").header("content-encoding"),
        None
    );
    let refused = util::request_raw(s.addr, "GET", "/", &[("Accept-Encoding", "gzip;q=0")]);
    assert_eq!(refused.header("content-encoding"), None);
    drop(s.rt);
}

#[test]
fn a_sweep_of_more_than_a_thousand_finished_jobs_has_tie_marks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let jobs: Vec<_> = (0..1_050u64)
        .map(|i| util::job(&[8], 0.5, 1e-3, 1e-3, 10_000 + i, 1))
        .collect();
    rt.block_on(async {
        let w = tune_store::Store::open(path.to_str().unwrap())
            .await
            .unwrap();
        let sweep = tune_store::NewSweep {
            data_versions: String::new(),
            name: "big".into(),
            grid_text: "# 1050 seeds\n".into(),
            host: "testhost".into(),
            tune_version: "0.1.0".into(),
        };
        // One configuration per seed would make repeats; vary the learning rate instead.
        let jobs: Vec<_> = jobs
            .iter()
            .enumerate()
            .map(|(i, j)| {
                let mut j = j.clone();
                j.train.seed = 1;
                j.train.lr = 1e-4 * (1.0 + i as f64);
                j
            })
            .collect();
        w.enqueue(&sweep, &jobs).await.unwrap();
        let lease = std::time::Duration::from_secs(3600);
        let mut i = 0u64;
        while let Some(c) = w.claim("w:1", lease, None).await.unwrap() {
            // Accuracies from 0.70 to 0.90 over 100 images: the best few are tied.
            let acc = 0.70 + (i % 21) as f64 / 100.0;
            w.complete(&c, &util::outcome(&c.spec, acc, 100))
                .await
                .unwrap();
            i += 1;
        }
        assert_eq!(i, 1_050);
        w.close().await;
    });
    let addr = util::start(&path, |r| r);
    let r = get(addr, "/sweeps/big");
    assert_eq!(r.status, 200);
    assert!(
        !r.body.contains("are left out above"),
        "no ties: {}",
        r.body
    );
    assert!(r.body.contains("Tied with the best"), "no ties line");
    assert_eq!(table_rows(&r.body, "ranking").len(), 200, "the default top");
    let r = get(addr, "/sweeps/big?top=1050");
    let rows = table_rows(&r.body, "ranking");
    assert_eq!(rows.len(), 1_050);
    assert!(rows[0].contains(">best</td>"), "{}", rows[0]);
    let tied = rows.iter().filter(|r| r.contains(">tied</td>")).count();
    let not = rows
        .iter()
        .filter(|r| !r.contains(">tied</td>") && !r.contains(">best</td>"))
        .count();
    // 50 jobs at each accuracy from 0.70 to 0.90 (one wrong image more per step, the same
    // images): one step below the best differs on one image, far from significant; 0.70 differs
    // on 20 images, which no Holm correction over 1,049 tests saves.
    assert!(tied >= 100, "tied {tied}");
    assert!(not >= 50, "not tied {not}");
    assert!(
        rows.last().unwrap().contains("0.7000"),
        "{}",
        rows.last().unwrap()
    );
    // The depth picture draws a sample of the 1,050 points (the legend says so), with the
    // group's size in its label.
    let svg = get(addr, "/sweeps/big/depth.svg");
    assert_eq!(svg.status, 200);
    let circles = svg.body.matches("<circle").count();
    assert!(
        circles <= tune_report::DEPTH_POINTS + 1,
        "{circles} circles drawn"
    );
    assert!(
        circles >= tune_report::DEPTH_POINTS,
        "{circles} circles drawn"
    );
    assert!(svg.body.contains("drawn per group at most"), "{}", svg.body);
    assert!(svg.body.contains("n=1050"), "{}", svg.body);
}

fn html_escape(s: &str) -> String {
    tune_serve::html::esc(s)
}

#[test]
fn a_job_page_links_its_saved_weights_and_no_request_names_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fx = rt.block_on(util::fixture(&path));
    let weights = dir.path().join("weights");
    std::fs::create_dir(&weights).unwrap();
    // Saved weights for the best job only; a file beside the directory that no job names.
    let saved = fx.done[0].clone();
    // Larger than the pieces a download is streamed in (64 KiB), and not a multiple of them.
    let bytes: Vec<u8> = (0..300_001u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(weights.join(format!("{saved}.safetensors")), &bytes).unwrap();
    std::fs::write(dir.path().join("secret.safetensors"), b"secret").unwrap();
    std::fs::write(weights.join("notakey.safetensors"), b"not a job").unwrap();
    let w = weights.clone();
    let addr = util::start_with(&path, move |d| d.with_weights(w), |r| r);

    let page = get(addr, &format!("/jobs/{saved}"));
    assert_eq!(page.status, 200);
    let link = format!("href=\"/jobs/{saved}/weights.safetensors\"");
    assert!(page.body.contains(&link), "no weights link: {}", page.body);
    let r = util::request_raw(
        addr,
        "GET",
        &format!("/jobs/{saved}/weights.safetensors"),
        &[],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert!(r.header("content-disposition").unwrap().contains(&saved));
    assert_eq!(r.header("content-length"), Some("300001"));
    assert_eq!(r.body.len(), bytes.len());
    assert!(r.body == bytes, "the file's bytes");

    // With --weights, a unique prefix of the key redirects to the file.
    let r = get(addr, &format!("/jobs/{}/weights.safetensors", &saved[..10]));
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some(format!("/jobs/{saved}/weights.safetensors").as_str())
    );
    // A job without a saved file: no link, and its weights are a 404.
    let other = &fx.done[1];
    assert!(
        !get(addr, &format!("/jobs/{other}"))
            .body
            .contains("weights.safetensors")
    );
    assert_eq!(
        get(addr, &format!("/jobs/{other}/weights.safetensors")).status,
        404
    );
    // Names that are not a job's key never reach the file system.
    for key in [
        "..%2Fsecret",
        "..%2F..%2Fsecret",
        "%2E%2E%2Fsecret",
        "notakey",
        "..",
        "%2Fetc%2Fpasswd",
    ] {
        let r = get(addr, &format!("/jobs/{key}/weights.safetensors"));
        assert_eq!(r.status, 404, "{key}");
        assert!(
            !r.body.contains("secret\n") && !r.body.contains("not a job"),
            "{key}"
        );
    }
    drop(rt);
}

/// The sweep's ranking, tie tests and intervals as `tune report` makes them from every job's
/// per-image predictions (both splits), written as JSON.
async fn report_json_with_every_prediction(store: &tune_store::Store, sweep: &str) -> String {
    let mut rows = Vec::new();
    for j in store.sweep_jobs(sweep).await.unwrap() {
        let Some(mut row) = j.report_row(sweep) else {
            continue;
        };
        let p = store.predictions(&j.key).await.unwrap();
        row.val_predictions = p.val;
        row.test_predictions = p.test;
        rows.push(row);
    }
    let report = tune_report::Report::build(&rows, &tune_report::ReportOptions::default()).unwrap();
    tune_report::render_report(&report, tune_report::Format::Json, None)
}

#[test]
fn the_ranking_is_tune_reports_from_every_prediction_though_the_page_reads_fewer() {
    let s = served();
    let expected =
        s.rt.block_on(report_json_with_every_prediction(&s.fx.writer, &s.fx.sweep));
    assert!(expected.contains("\"tie\""), "{expected}");
    // Single-run intervals: Wilson's, from the 200 images of each split.
    assert!(expected.contains("\"test_images\": 200"), "{expected}");
    assert!(expected.contains("\"method\": \"wilson\""), "{expected}");
    let r = get(s.addr, &format!("{}/report.json", sweep_url(&s)));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, expected);
    // The page shows the same marks and intervals: the best, tied rows, and a test interval.
    let page = get(s.addr, &sweep_url(&s));
    let rows = table_rows(&page.body, "ranking");
    assert!(rows[0].contains(">best</td>"), "{}", rows[0]);
    assert!(rows.iter().any(|r| r.contains(">tied</td>")), "{rows:?}");
    drop(s.rt);
}

#[test]
fn the_compare_page_is_kept_until_the_database_changes() {
    let s = served();
    let before = get(s.addr, "/compare");
    assert_eq!(before.status, 200);
    assert_eq!(get(s.addr, "/compare").body, before.body, "kept");
    // The running two-layer job finishes as the best CNN: the page shows it at once.
    let spec = s.fx.running.spec.clone();
    s.rt.block_on(async {
        s.fx.writer
            .complete(&s.fx.running, &util::outcome(&spec, 0.97, 200))
            .await
            .unwrap();
    });
    let after = get(s.addr, "/compare");
    assert_eq!(after.status, 200);
    assert_ne!(after.body, before.body);
    assert!(after.body.contains("0.97"), "{}", after.body);
    drop(s.rt);
}

/// A grid's name opens its sweep while it names one (reading only that sweep's progress); once a
/// second sweep has the name, the name is a 404 saying so, and each sweep opens by its id.
#[test]
fn a_sweep_opens_by_its_name_while_the_name_names_one_sweep() {
    let s = served();
    let by_id = get(s.addr, &sweep_url(&s));
    let by_name = get(s.addr, &format!("/sweeps/{}", enc(EVIL)));
    assert_eq!(by_name.status, 200, "{}", by_name.body);
    assert_eq!(
        table_rows(&by_name.body, "ranking"),
        table_rows(&by_id.body, "ranking")
    );

    let other = s.rt.block_on(s.fx.writer.enqueue(
        &tune_store::NewSweep {
            data_versions: String::new(),
            name: EVIL.to_string(),
            grid_text: "# another grid of the same name\n".to_string(),
            host: "testhost".to_string(),
            tune_version: "0.1.0".to_string(),
        },
        &[util::job(&[8], 0.1, 1e-3, 1e-3, 7, 3)],
    ));
    let other = other.unwrap().sweep_id;
    assert_ne!(other, s.fx.sweep);
    let by_name = get(s.addr, &format!("/sweeps/{}", enc(EVIL)));
    assert_eq!(by_name.status, 404, "{}", by_name.body);
    assert!(
        by_name.body.contains("2 sweeps are named"),
        "{}",
        by_name.body
    );
    for id in [&s.fx.sweep, &other] {
        assert_eq!(get(s.addr, &format!("/sweeps/{}", enc(id))).status, 200);
    }
    let unknown = get(s.addr, "/sweeps/no-such-sweep");
    assert_eq!(unknown.status, 404);
    assert!(
        unknown.body.contains("no sweep has the id"),
        "{}",
        unknown.body
    );
}

/// A request naming another host than the loopback (as a page of another site does after a
/// DNS-rebinding attack points its name at 127.0.0.1) is refused with 421 and reads nothing;
/// the loopback's names, with or without a port, are answered.
#[test]
fn requests_for_another_host_are_refused() {
    use std::io::{Read, Write};
    let s = served();
    let status = |host: &str| {
        let mut c = std::net::TcpStream::connect(s.addr).unwrap();
        write!(
            c,
            "GET {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
            sweep_url(&s)
        )
        .unwrap();
        let mut raw = String::new();
        c.read_to_string(&mut raw).unwrap();
        (raw[9..12].to_string(), raw)
    };
    for host in [
        "evil.example.com",
        "evil.example.com:8080",
        "192.168.1.5:8080",
        "127.0.0.1.evil.example",
    ] {
        let (code, raw) = status(host);
        assert_eq!(code, "421", "{host}: {raw}");
        assert!(
            raw.contains("answers only requests for a loopback address"),
            "{raw}"
        );
        assert!(!raw.contains("<table"), "{raw}");
    }
    let port = s.addr.port();
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LOCALHOST:{port}"),
        format!("[::1]:{port}"),
        // Another loopback address, as `--bind 127.0.0.2:PORT` prints it.
        format!("127.0.0.2:{port}"),
        "localhost".to_string(),
    ] {
        assert_eq!(status(&host).0, "200", "{host}");
    }
}
