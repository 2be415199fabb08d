//! `tune serve` as a user starts it: a real grid trained into a database, the dashboard started
//! on a free port (found from the address it prints), its pages fetched, then stopped with
//! SIGTERM. Also the warning for a non-loopback address and the errors for a missing database
//! and a bad address.

use crate::util::{fixture_data, run, small_grid, stderr, tune, write_grid};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw.split(' ').nth(1).unwrap().parse().unwrap();
    (status, raw)
}

/// Starts `tune serve` with `args` and reads stderr up to the line with the address; returns
/// the child, the address and the lines read.
/// The caller waits for the child (`stop`).
#[allow(clippy::zombie_processes)]
fn start(dir: &Path, args: &[&str]) -> (Child, String, String) {
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

fn stop(child: &mut Child) {
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
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fixture_data(&dir.join("data"));
    write_grid(dir, "grid.toml", &small_grid(2, 1));
    run(
        tune(dir).args([
            "run",
            "grid.toml",
            "--db",
            "results.db",
            "--data-dir",
            "data",
            "--jobs",
            "1",
            "--threads-per-job",
            "1",
        ]),
        true,
    );
    let (mut child, addr, seen) = start(dir, &["--db", "results.db", "--bind", "127.0.0.1:0"]);
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
    assert_eq!(get(&addr, "/no/such/page").0, 404);
    stop(&mut child);
}

#[test]
fn serve_warns_on_a_non_loopback_address_and_refuses_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A database with a sweep and no results yet (enqueued, not trained).
    fixture_data(&dir.join("data"));
    write_grid(dir, "grid.toml", &small_grid(1, 1));
    run(
        tune(dir).args([
            "run",
            "grid.toml",
            "--db",
            "results.db",
            "--data-dir",
            "data",
            "--jobs",
            "1",
        ]),
        true,
    );
    let (mut child, addr, seen) = start(dir, &["--db", "results.db", "--bind", "0.0.0.0:0"]);
    assert!(
        seen.contains("warning: the dashboard has no login"),
        "{seen}"
    );
    let port = addr.rsplit(':').next().unwrap();
    assert_eq!(get(&format!("127.0.0.1:{port}"), "/").0, 200);
    stop(&mut child);

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
