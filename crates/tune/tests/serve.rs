//! `tune serve` as a user starts it: a real grid trained into a database, the dashboard started
//! on a free port (found from the address it prints), its pages fetched, then stopped with
//! SIGTERM. Also the warning for a non-loopback address and the errors for a missing database
//! and a bad address; and the same pages from PostgreSQL as from its SQLite merge, through a
//! connection that cannot write.

use crate::util::pg::{pg_test, test_db};
use crate::util::{Setup, run, small_grid, stderr, tune};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

/// The raw reply (headers and body) to `GET path` on one connection.
fn fetch(addr: &str, path: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    raw
}

/// `GET path`: status and the whole reply (headers and body), which must be UTF-8.
pub(crate) fn get(addr: &str, path: &str) -> (u16, String) {
    let raw = String::from_utf8(fetch(addr, path)).unwrap();
    let status = raw.split(' ').nth(1).unwrap().parse().unwrap();
    (status, raw)
}

/// `GET path`: status and the body's bytes (the headers cut off).
fn get_bytes(addr: &str, path: &str) -> (u16, Vec<u8>) {
    let raw = fetch(addr, path);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    (status, raw[split + 4..].to_vec())
}

/// Starts `tune serve` with `args` and reads stderr up to the line with the address; returns
/// the child, the address and the lines read.
/// The caller waits for the child (`stop`).
#[allow(clippy::zombie_processes)]
pub(crate) fn start(dir: &Path, args: &[&str]) -> (Child, String, String) {
    let mut child = tune(dir)
        .arg("serve")
        .args(args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if err.read_line(&mut line).unwrap() == 0 {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tune serve ended without an address: {seen}");
        }
        seen.push_str(&line);
        if let Some(at) = line.find("http://") {
            let addr = line[at + 7..].split('/').next().unwrap().to_string();
            return (child, addr, seen);
        }
    }
}

/// Stops `tune serve` with SIGTERM and checks that it exits 0.
pub(crate) fn stop(child: &mut Child) {
    let pid = child.id().to_string();
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "tune serve should exit 0 on SIGTERM"
    );
}

#[test]
fn serve_shows_a_trained_sweep_on_the_printed_address_and_stops_on_sigterm() {
    let s = Setup::new(
        &small_grid(2, 1).replace("[fixed]", "description = \"Two <small> CNNs\"\n[fixed]"),
    );
    let dir = s.dir();
    run(&mut s.run_quiet(&["--save-weights", "weights"]), true);
    let (mut child, addr, seen) = start(
        dir,
        &[
            "--db",
            "results.db",
            "--bind",
            "127.0.0.1:0",
            "--weights",
            "weights",
        ],
    );
    assert!(seen.contains("read-only"), "{seen}");
    assert!(!seen.contains("warning"), "{seen}");
    let (status, page) = get(&addr, "/");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("text/html"));
    assert!(page.contains(">small</a>"), "the sweep is listed: {page}");
    assert!(page.contains("2 done"), "{page}");
    let start = page.find("href=\"/sweeps/").unwrap() + "href=\"".len();
    let link = &page[start..start + page[start..].find('"').unwrap()];
    let (status, sweep) = get(&addr, link);
    assert_eq!(status, 200);
    assert_eq!(sweep.matches("href=\"/jobs/").count(), 2, "two ranked jobs");
    // The grid's description, escaped.
    assert!(
        sweep.contains("<p class=\"description\">Two &lt;small&gt; CNNs</p>"),
        "{sweep}"
    );
    assert_eq!(get(&addr, "/no/such/page").0, 404);

    // A job's page links the weights `--save-weights` wrote; the link sends the file's bytes.
    let at = sweep.find("href=\"/jobs/").unwrap() + "href=\"/jobs/".len();
    let key = &sweep[at..at + sweep[at..].find('"').unwrap()];
    let (status, job) = get(&addr, &format!("/jobs/{key}"));
    assert_eq!(status, 200);
    let link = format!("/jobs/{key}/weights.safetensors");
    assert!(job.contains(&link), "no weights link: {job}");
    let (status, bytes) = get_bytes(&addr, &link);
    assert_eq!(status, 200);
    let file = std::fs::read(dir.join("weights").join(format!("{key}.safetensors"))).unwrap();
    assert_eq!(bytes, file, "the weight file's bytes");
    // A key that tries to leave the directory names no job: 404.
    for bad in ["..%2Fresults.db", "..%2F..%2Fweights%2F{key}", "%2E%2E"] {
        let bad = bad.replace("{key}", key);
        assert_eq!(
            get_bytes(&addr, &format!("/jobs/{bad}/weights.safetensors")).0,
            404,
            "{bad}"
        );
    }
    stop(&mut child);
}

/// A ranking of one finished job (a sweep's only one, or the one a filter leaves) has the
/// single-run intervals `tune report` gives it, on the page and in `report.json`.
#[test]
fn a_ranking_of_one_job_has_the_intervals_of_tune_report() {
    let s = Setup::new(&small_grid(2, 1));
    let dir = s.dir();
    run(&mut s.run_quiet(&[]), true);
    let cli = |filter: &[&str]| {
        // By the grid's name: the rows name the sweep by its id, as the page's do.
        let mut args = vec!["report", "--db", "results.db", "--format", "json"];
        args.extend(["--sweep", "small"]);
        args.extend(filter);
        let out = run(tune(dir).args(&args), true);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let (whole, one) = (cli(&[]), cli(&["--where", "layer1=4"]));
    let (mut child, addr, _) = start(dir, &["--db", "results.db", "--bind", "127.0.0.1:0"]);
    let page = |query: &str| {
        let (status, raw) = get(&addr, &format!("/sweeps/small{query}"));
        assert_eq!(status, 200, "{raw}");
        page_body(&raw)
    };
    let json = |query: &str| serde_json::from_str::<serde_json::Value>(&page(query)).unwrap();
    let one_page = page("?where=layer1%3D4");
    let (dash_whole, dash_one) = (json("/report.json"), json("/report.json?where=layer1%3D4"));
    stop(&mut child);
    let rows = |v: &serde_json::Value| v["groups"][0]["rows"].clone();
    assert_eq!(rows(&one).as_array().unwrap().len(), 1, "{one}");
    assert_eq!(rows(&whole).as_array().unwrap().len(), 2, "{whole}");
    let ci = rows(&one)[0]["test_ci"].clone();
    assert!(
        ci["low"].is_f64() && rows(&one)[0]["val_ci"]["low"].is_f64(),
        "{one}"
    );
    assert_eq!(rows(&dash_one), rows(&one));
    assert_eq!(rows(&dash_whole), rows(&whole));
    let shown = format!(
        "{:.4}–{:.4}",
        ci["low"].as_f64().unwrap(),
        ci["high"].as_f64().unwrap()
    );
    assert!(
        one_page.contains(&shown),
        "{shown} not on the page: {one_page}"
    );
}

#[test]
fn serve_warns_on_a_non_loopback_address_and_refuses_bad_input() {
    let s = Setup::new(&small_grid(1, 1));
    let dir = s.dir();
    // A database with a sweep and no results yet (enqueued, not trained).
    run(&mut s.run_quiet(&["--enqueue"]), true);
    let (mut child, addr, seen) = start(dir, &["--db", "results.db", "--bind", "0.0.0.0:0"]);
    assert!(
        seen.contains("warning: the dashboard has no login"),
        "{seen}"
    );
    let port = addr.rsplit(':').next().unwrap();
    assert_eq!(get(&format!("127.0.0.1:{port}"), "/").0, 200);
    stop(&mut child);
    // A host name with a port: the address it resolves to (the loopback's, no warning).
    let (mut child, addr, seen) = start(dir, &["--db", "results.db", "--bind", "localhost:0"]);
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert!(!seen.contains("warning"), "{seen}");
    assert_eq!(get(&addr, "/").0, 200);
    stop(&mut child);

    let out = run(
        tune(dir).args(["serve", "--db", "results.db", "--weights", "no-such-dir"]),
        false,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no-such-dir"), "{}", stderr(&out));

    let out = run(tune(dir).args(["serve", "--db", "missing.db"]), false);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("missing.db"), "{}", stderr(&out));

    // An address in use: unavailable.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = busy.local_addr().unwrap().to_string();
    let out = run(
        tune(dir).args(["serve", "--db", "results.db", "--bind", &taken]),
        false,
    );
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot listen on"),
        "{}",
        stderr(&out)
    );

    let out = run(
        tune(dir).args(["serve", "--db", "results.db", "--bind", "localhost"]),
        false,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--bind"), "{}", stderr(&out));
}

/// The body of a raw HTTP reply, with the header's database name (which names the back end)
/// taken out. The change mark loses its SQLite-only part too: whether a process holds the file's lock
/// (`-l`: none does).
fn page_body(raw: &str) -> String {
    let body = &raw[raw.find("\r\n\r\n").expect("a header block") + 4..];
    let body = body.strip_suffix("-l").unwrap_or(body); // `/mark`
    let body = body.replacen("-l\"><header>", "\"><header>", 1);
    match body.find("<span class=\"db\"") {
        Some(at) => {
            let end = at + body[at..].find("</span>").unwrap();
            format!("{}{}", &body[..at], &body[end..])
        }
        None => body,
    }
}

/// The `href="/PREFIX..."` and `src="/PREFIX..."` links of a page, in order, without repeats.
fn links(page: &str, prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for attr in ["href=\"", "src=\""] {
        let needle = format!("{attr}{prefix}");
        let mut rest = page;
        while let Some(at) = rest.find(&needle) {
            let start = at + attr.len();
            let end = start + rest[start..].find('"').unwrap();
            let link = rest[start..end].replace("&amp;", "&");
            if !out.contains(&link) {
                out.push(link);
            }
            rest = &rest[end..];
        }
    }
    out
}

pg_test!(serve_on_postgres_shows_the_pages_of_its_sqlite_merge_and_cannot_write);
fn serve_on_postgres_shows_the_pages_of_its_sqlite_merge_and_cannot_write() {
    let Some((_server, db)) = test_db("serve_on_postgres", "serve") else {
        return;
    };
    let s = Setup::new(&small_grid(2, 2));
    let dir = s.dir();
    run(&mut s.run_on(&db.url, &s.data, 1, &["--quiet"]), true);
    let lite = dir.join("merged.db").to_str().unwrap().to_string();
    run(tune(dir).args(["merge", &lite, &db.url]), true);

    let (mut pg_child, pg, seen) = start(dir, &["--db", &db.url, "--bind", "127.0.0.1:0"]);
    assert!(seen.contains("read-only"), "{seen}");
    let (mut lite_child, sqlite, _) = start(dir, &["--db", &lite, "--bind", "127.0.0.1:0"]);

    // Every route, found by following the links of the pages as a person would.
    let (status, home) = get(&pg, "/");
    assert_eq!(status, 200, "{home}");
    let sweeps = links(&home, "/sweeps/");
    assert_eq!(sweeps.len(), 1, "{home}");
    let (_, sweep) = get(&pg, &sweeps[0]);
    let jobs = links(&sweep, "/jobs/");
    assert_eq!(jobs.len(), 2, "two ranked jobs: {sweep}");
    let mut routes: Vec<String> = vec!["/".into(), "/compare".into(), "/mark".into()];
    routes.extend(links(&sweep, "/sweeps/"));
    routes.extend(jobs);
    routes.extend(["/assets/dash.css".into(), "/assets/dash.js".into()]);
    for want in [
        "report.csv",
        "report.json",
        "depth.svg",
        "parallel.svg",
        "sort=",
    ] {
        assert!(
            routes.iter().any(|r| r.contains(want)),
            "no {want} link in {routes:?}"
        );
    }
    for route in &routes {
        let (a_status, a) = get(&pg, route);
        let (b_status, b) = get(&sqlite, route);
        assert_eq!(a_status, 200, "PostgreSQL {route}: {a}");
        assert_eq!(b_status, 200, "SQLite {route}: {b}");
        assert_eq!(
            page_body(&a),
            page_body(&b),
            "{route} differs between PostgreSQL and SQLite"
        );
    }
    assert_eq!(get(&pg, "/jobs/0000").0, 404);
    stop(&mut pg_child);
    stop(&mut lite_child);

    // The connection `tune serve` reads through is read-only: a write through it fails and
    // changes nothing.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = rt.block_on(async {
        let store = tune_store::Store::open_read_only(&db.url).await.unwrap();
        let sweep = tune_store::NewSweep {
            data_versions: String::new(),
            name: "intruder".into(),
            grid_text: "# a write\n".into(),
            host: "test".into(),
            tune_version: "0.1.0".into(),
        };
        let spec = tune_spec::JobSpec {
            model: tune_spec::ModelSpec::cnn(&[4], 16),
            train: tune_spec::TrainSpec::default(),
        };
        let err = store.enqueue(&sweep, &[spec]).await.unwrap_err();
        store.close().await;
        err
    });
    let text = format!("{err:?} {err}");
    assert!(text.contains("read-only"), "{text}");
    assert_eq!(db.number("SELECT COUNT(*) FROM sweeps"), 1);
    assert_eq!(db.number("SELECT COUNT(*) FROM jobs"), 2);
}

/// A run that ends while `tune serve` reads its database in WAL mode (here: left so by a run
/// killed with SIGKILL) cannot leave WAL mode (the dashboard is still a user of the file), but
/// checkpoints its log into the file: a copy of the database file alone holds every result.
#[test]
fn a_run_that_ends_while_the_dashboard_reads_leaves_every_result_in_the_database_file() {
    let s = Setup::new(&small_grid(1, 1));
    let dir = s.dir();
    // A long run killed once its database is in WAL mode.
    let long = crate::util::write_grid(
        dir,
        "long.toml",
        &small_grid(1, 500).replace("\"small\"", "\"long\""),
    );
    let mut killed = tune(dir)
        .arg("run")
        .arg(&long)
        .args(["--db", "results.db", "--data-dir"])
        .arg(&s.data)
        .args(["--jobs", "1", "--threads-per-job", "1", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let wal = dir.join("results.db-wal");
    // Killed as soon as its job trains: its log stays small, so that no automatic checkpoint
    // (at 1,000 pages) copies it into the file during the next run.
    crate::util::db::wait_for(
        &dir.join("results.db"),
        &mut killed,
        Duration::from_secs(120),
        |db| db.try_int("SELECT COUNT(*) FROM jobs WHERE status = 'running'") == Some(1),
    );
    killed.kill().unwrap();
    killed.wait().unwrap();
    assert!(wal.exists(), "the killed run left the database in WAL mode");
    let (mut child, addr, _) = start(dir, &["--db", "results.db", "--bind", "127.0.0.1:0"]);
    // Its job is still marked running, but nothing trains it: the sweep is stalled.
    let (status, front) = get(&addr, "/");
    assert_eq!(status, 200);
    let long_row = front
        .split("<tr>")
        .find(|r| r.contains(">long</a>"))
        .unwrap_or_else(|| panic!("no long sweep: {front}"));
    assert!(long_row.contains(">stalled<"), "{long_row}");
    let (_, page) = get(&addr, "/sweeps/long");
    assert!(
        page.contains("<strong>stalled</strong>") && page.contains("not training: no tune process"),
        "{page}"
    );
    // A grid of two jobs into the same database while the dashboard has it open.
    run(&mut s.run_quiet(&[]), true);
    assert_eq!(get(&addr, "/").0, 200, "the dashboard still reads the file");
    std::fs::copy(dir.join("results.db"), dir.join("copy.db")).unwrap();
    let copy = crate::util::db::Db::open(&dir.join("copy.db"));
    assert_eq!(
        copy.int(
            "SELECT COUNT(*) FROM results WHERE job_key IN (SELECT job_key FROM sweep_jobs \
                  WHERE sweep_id IN (SELECT id FROM sweeps WHERE name = 'small'))"
        ),
        1,
        "the database file alone holds the finished run's result"
    );
    stop(&mut child);
}

/// A database a newer tune wrote (a migration this tune does not know) is read with a warning:
/// on stderr by `tune report`, on every page of the dashboard.
#[test]
fn a_database_of_a_newer_tune_is_read_with_a_warning() {
    let s = Setup::new(&small_grid(1, 1));
    let dir = s.dir();
    run(&mut s.run_quiet(&[]), true);
    crate::util::db::Db::open(&dir.join("results.db")).execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (29991231000000, 'from the future', 1, x'00', 0)",
    );
    let out = run(tune(dir).args(["report", "--db", "results.db"]), true);
    let err = stderr(&out);
    assert!(
        err.contains("newer tune") && err.contains("29991231000000"),
        "{err}"
    );
    let (mut child, addr, _) = start(dir, &["--db", "results.db", "--bind", "127.0.0.1:0"]);
    for path in ["/", "/sweeps/small", "/compare"] {
        let (status, page) = get(&addr, path);
        assert_eq!(status, 200, "{path}: {page}");
        assert!(
            page.contains("A newer tune wrote this database") && page.contains("29991231000000"),
            "{path}: {page}"
        );
    }
    stop(&mut child);
    // A command that writes refuses it, naming the fix.
    let out = run(&mut s.run_quiet(&[]), false);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains(
            "was written by a newer tune (it has migration 29991231000000, which this tune does \
             not know); upgrade tune"
        ),
        "{}",
        stderr(&out)
    );
}
