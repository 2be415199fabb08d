//! The dashboard in a real browser: headless Chromium (Debian's `chromium`) loads each page of a
//! fixture database, the DOM it built is checked for what a person would see (table rows, a
//! drawn curve, heat-map cells), screenshots are kept under `target/dashboard-shots/`, and a
//! job's page is seen to show a new epoch without a reload.
//!
//! Skipped, with the reason printed, when Chromium is not installed, unless
//! `TUNE_REQUIRE_CHROMIUM=1` (CI sets it) makes that a failure.

mod util;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use util::{EVIL, enc};

fn chromium() -> Option<PathBuf> {
    for name in [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ] {
        if Path::new(name).exists() {
            return Some(PathBuf::from(name));
        }
    }
    if std::env::var("TUNE_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1") {
        panic!("TUNE_REQUIRE_CHROMIUM=1 but no chromium is installed (apt-get install chromium)");
    }
    eprintln!("skipped: chromium is not installed (apt-get install chromium runs these tests)");
    None
}

/// Where screenshots go: `target/dashboard-shots/` of the workspace.
fn shots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("dashboard-shots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs headless Chromium on `url` with `args`, with a profile of its own; its stdout.
fn run_chromium(bin: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let start = Instant::now();
    let out = Command::new(bin)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1280,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed on {url} after {:?}: {}",
        start.elapsed(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The DOM of `url` after its scripts ran for `budget_ms` of virtual time.
fn dom(bin: &Path, profile: &Path, url: &str, budget_ms: u32) -> String {
    let budget = format!("--virtual-time-budget={budget_ms}");
    run_chromium(bin, profile, &[&budget, "--dump-dom"], url)
}

/// A screenshot of `url` saved as `name`.png in the shots folder.
fn screenshot(bin: &Path, profile: &Path, url: &str, name: &str) -> PathBuf {
    let path = shots_dir().join(format!("{name}.png"));
    let _ = std::fs::remove_file(&path);
    let arg = format!("--screenshot={}", path.display());
    run_chromium(bin, profile, &["--virtual-time-budget=2000", &arg], url);
    let bytes = std::fs::read(&path).unwrap_or_else(|_| panic!("no screenshot {}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG"),
        "{} is not a PNG",
        path.display()
    );
    assert!(bytes.len() > 10_000, "{} is nearly empty", path.display());
    path
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// Rows of the table with `class` in a DOM dump.
fn rows_of(dom: &str, class: &str) -> usize {
    let Some(start) = dom.find(&format!("<table class=\"{class}\">")) else {
        return 0;
    };
    let rest = &dom[start..];
    let table = &rest[..rest.find("</table>").unwrap()];
    let body = &table[table.find("<tbody>").map_or(0, |i| i + 7)..];
    count(body, "<tr>")
}

#[test]
fn each_page_shows_in_chromium_and_a_new_epoch_appears_without_a_reload() {
    let Some(bin) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.db");
    let profile = dir.path().join("profile");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fx = rt.block_on(util::fixture(&path));

    // The first poll of /mark by a page is answered only after the running job records its
    // second epoch (the test plays the worker): the page must then show it by itself.
    let writer = fx.writer.clone();
    let claim = fx.running.clone();
    let wrote = Arc::new(AtomicBool::new(false));
    let armed = Arc::new(AtomicBool::new(false));
    let (w, a) = (wrote.clone(), armed.clone());
    let addr: SocketAddr = util::start(&path, move |router| {
        router.layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let (writer, claim, w, a) = (writer.clone(), claim.clone(), w.clone(), a.clone());
                async move {
                    if req.uri().path() == "/mark"
                        && a.load(Ordering::SeqCst)
                        && !w.swap(true, Ordering::SeqCst)
                    {
                        writer
                            .record_epoch(&claim, &util::epoch(2, 3, 0.8), None)
                            .await
                            .unwrap();
                    }
                    next.run(req).await
                }
            },
        ))
    });
    let base = format!("http://{addr}");
    let sweep = format!("{base}/sweeps/{}", enc(&fx.sweep));

    // The sweeps page: one row, the grid's name shown as text.
    let d = dom(&bin, &profile, &format!("{base}/"), 1000);
    assert_eq!(rows_of(&d, "sweeps"), 1, "{d}");
    assert!(
        d.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the name is not text: {d}"
    );
    assert!(!d.contains(EVIL));
    screenshot(&bin, &profile, &format!("{base}/"), "sweeps");

    // A sweep: six ranked rows, three unfinished, the per-depth summary and both pictures.
    let d = dom(&bin, &profile, &sweep, 1000);
    assert_eq!(rows_of(&d, "ranking"), 6, "{d}");
    assert_eq!(rows_of(&d, "unfinished"), 3);
    assert_eq!(rows_of(&d, "summary"), 3);
    assert!(d.contains("depth.svg") && d.contains("parallel.svg"));
    screenshot(&bin, &profile, &sweep, "sweep");

    // The pictures themselves render (as their own documents).
    let d = dom(&bin, &profile, &format!("{sweep}/parallel.svg"), 500);
    assert!(count(&d, "<polyline") + count(&d, "<path") >= 6, "{d}");
    screenshot(&bin, &profile, &format!("{sweep}/depth.svg"), "depth");

    // A done job: curves drawn, heat-map cells, per-class table with class names.
    let job = format!("{base}/jobs/{}", fx.done[0]);
    let d = dom(&bin, &profile, &job, 1000);
    assert!(count(&d, "<polyline") >= 4, "no curves: {d}");
    assert!(count(&d, "<rect") >= 100, "no heat-map cells");
    assert_eq!(rows_of(&d, "classes"), 10);
    assert!(d.contains("Ankle boot"));
    screenshot(&bin, &profile, &job, "job");

    // The comparison page.
    let d = dom(&bin, &profile, &format!("{base}/compare"), 500);
    assert!(rows_of(&d, "compare") >= 1, "{d}");
    screenshot(&bin, &profile, &format!("{base}/compare"), "compare");

    // Live: the running job's page shows epoch 1 of 3; after the worker records epoch 2 (on the
    // page's first poll) the same page, never reloaded, shows two epochs.
    let running = format!("{base}/jobs/{}", fx.running.key);
    let d = dom(&bin, &profile, &running, 500);
    assert_eq!(rows_of(&d, "epochs"), 1, "before: {d}");
    armed.store(true, Ordering::SeqCst);
    let d = dom(&bin, &profile, &running, 8000);
    assert!(wrote.load(Ordering::SeqCst), "the page never polled /mark");
    assert_eq!(rows_of(&d, "epochs"), 2, "after the poll: {d}");
    assert!(d.contains("2 of 3"), "the epoch count did not update");
    assert!(
        d.contains("class=\"live on\""),
        "the live badge did not turn on"
    );
    screenshot(&bin, &profile, &running, "job-live");
    drop(rt);
}
