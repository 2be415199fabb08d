//! Many machines, one PostgreSQL queue: `tune run --enqueue` and several `tune worker` processes,
//! a worker killed with `kill -9` mid-job, a server restart, and reports that match SQLite's.
//!
//! Needs a PostgreSQL server named by `TUNE_TEST_POSTGRES_URL` (`.ci/run` starts one with
//! `crates/tune-store/tests/pg.sh start`); every test prints a note and passes when it is unset.
//! Each test works in a database of its own (`CREATE DATABASE tune_test_...`), dropped at the end.

use crate::util::pg::*;
use crate::util::*;
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A test's scratch directory with fixture data and a grid file.
struct Scratch {
    dir: tempfile::TempDir,
    data: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let data = fixture_data(&dir.path().join("data"));
        Scratch { dir, data }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn grid(&self, file: &str, text: &str) -> String {
        write_grid(self.path(), file, text)
            .to_str()
            .unwrap()
            .to_string()
    }

    /// `tune worker` on `db`, one job at a time on one thread.
    fn worker(&self, db: &str, extra: &[&str]) -> Command {
        worker_cmd(self.path(), db, &self.data, extra)
    }
}

/// A grid named `name` of 1-layer CNNs with the given filter counts.
fn grid(name: &str, filters: &[usize], epochs: usize) -> String {
    small_grid(1, epochs)
        .replace("name = \"small\"", &format!("name = \"{name}\""))
        .replace(
            "layer1 = [4]",
            &format!(
                "layer1 = [{}]",
                filters
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
}

/// `host:pid` of a worker id `host:pid:slot`.
fn process_of(worker_id: &str) -> &str {
    worker_id.rsplit_once(':').map_or(worker_id, |(p, _)| p)
}

pg_test!(three_workers_share_one_queue_and_train_every_job_once);
fn three_workers_share_one_queue_and_train_every_job_once() {
    let Some((_server, db)) = test_db("three_workers_share_one_queue", "workers") else {
        return;
    };
    let s = Scratch::new();
    // Three epochs a job, so that no worker can finish all nine before the others start.
    let grid = s.grid("nine.toml", &small_grid(9, 3));

    let enqueue = |s: &Scratch| {
        stdout(&run(
            tune(s.path()).args(["run", &grid, "--enqueue", "--db", &db.url]),
            true,
        ))
    };
    let first = enqueue(&s);
    assert!(first.contains("enqueued 9 jobs (9 new)"), "{first}");
    let second = enqueue(&s);
    assert!(second.contains("enqueued 9 jobs (0 new)"), "{second}");
    assert_eq!(db.number("SELECT count(*) FROM jobs"), 9);
    assert_eq!(db.number("SELECT count(*) FROM sweeps"), 1);
    assert_eq!(db.number("SELECT count(*) FROM sweep_jobs"), 9);
    assert_eq!(
        db.number("SELECT count(*) FROM jobs WHERE status = 'pending' AND attempts = 0"),
        9
    );

    let workers: Vec<_> = (0..3)
        .map(|_| {
            s.worker(&db.url, &[])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for w in workers {
        expect_exit(w, 0);
    }

    let jobs: Vec<(String, String, i64)> = db.rows("SELECT key, status, attempts FROM jobs");
    assert_eq!(jobs.len(), 9);
    for (key, status, attempts) in &jobs {
        assert_eq!(status, "done", "job {key}");
        assert_eq!(*attempts, 1, "job {key} was claimed more than once");
    }
    let results: Vec<(String, Option<String>, i64)> =
        db.rows("SELECT job_key, worker_id, attempt FROM results");
    assert_eq!(results.len(), 9, "one result row per job");
    let keys: HashSet<&str> = results.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(keys.len(), 9);
    assert!(results.iter().all(|r| r.2 == 1));
    let processes: BTreeSet<&str> = results
        .iter()
        .map(|r| process_of(r.1.as_deref().expect("a worker id")))
        .collect();
    assert!(
        processes.len() > 1,
        "one worker took every job: {processes:?}"
    );
    let per_worker: Vec<usize> = processes
        .iter()
        .map(|p| {
            results
                .iter()
                .filter(|r| r.1.as_deref().map(process_of) == Some(*p))
                .count()
        })
        .collect();
    eprintln!("3 workers, 9 jobs: jobs per worker {per_worker:?}");
    assert_eq!(
        db.number("SELECT count(DISTINCT (job_key, epoch)) FROM epoch_metrics"),
        27
    );
    assert_eq!(db.number("SELECT count(*) FROM epoch_metrics"), 27);
    assert_eq!(
        db.number("SELECT count(*) FROM sweeps WHERE finished_at IS NOT NULL"),
        1
    );
}

pg_test!(a_job_of_a_killed_worker_is_finished_by_another_after_its_lease);
fn a_job_of_a_killed_worker_is_finished_by_another_after_its_lease() {
    const EPOCHS: i64 = 12;
    let Some((_server, db)) = test_db("a_job_of_a_killed_worker", "kill") else {
        return;
    };
    let s = Scratch::new();
    // One job that takes a few seconds: two 64-filter conv layers, EPOCHS epochs.
    let grid = s.grid(
        "long.toml",
        &format!(
            "name = \"long\"\n[fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\n\
             epochs = {EPOCHS}\nbatch = 32\ndense = 64\n[axes]\nfilters = [[64, 64]]\n"
        ),
    );
    run(
        tune(s.path()).args(["run", &grid, "--enqueue", "--db", &db.url]),
        true,
    );

    let lease = ["--lease-secs", "2"];
    let mut first = s
        .worker(&db.url, &lease)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if db.number("SELECT count(*) FROM epoch_metrics") >= 1 {
            break;
        }
        if let Some(status) = first.try_wait().unwrap() {
            panic!("the first worker ended ({status}) before it recorded an epoch");
        }
        assert!(Instant::now() < deadline, "no epoch recorded in 120 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    first.kill().unwrap(); // SIGKILL: no chance to mark the job interrupted
    first.wait().unwrap();
    let (status, attempts, worker): (String, i64, Option<String>) = db
        .rows("SELECT status, attempts, worker_id FROM jobs")
        .remove(0);
    assert_eq!(
        (status.as_str(), attempts),
        ("running", 1),
        "the job finished before the kill; make it longer"
    );
    assert!(
        worker
            .as_deref()
            .unwrap()
            .ends_with(&format!(":{}:0", first.id())),
        "{worker:?}"
    );
    let epochs_before = db.number("SELECT count(*) FROM epoch_metrics");
    assert!(epochs_before < EPOCHS);

    // Started while the dead worker's lease still runs: it must wait for it, then take the job.
    let started = Instant::now();
    let second = s
        .worker(&db.url, &lease)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let second_id = second.id();
    let out = expect_exit(second, 0);
    assert!(
        stdout(&out).contains("1 job done, 0 failed"),
        "{}",
        stdout(&out)
    );

    let (status, attempts, worker): (String, i64, Option<String>) = db
        .rows("SELECT status, attempts, worker_id FROM jobs")
        .remove(0);
    assert_eq!((status.as_str(), attempts), ("done", 2));
    assert!(
        worker
            .as_deref()
            .unwrap()
            .ends_with(&format!(":{second_id}:0")),
        "{worker:?}"
    );
    let results: Vec<(Option<String>, i64)> = db.rows("SELECT worker_id, attempt FROM results");
    assert_eq!(results.len(), 1, "one result row");
    assert_eq!(results[0].1, 2, "the result is the second attempt's");
    let epochs: Vec<(i64,)> = db.rows("SELECT epoch FROM epoch_metrics ORDER BY epoch");
    let epochs: Vec<i64> = epochs.into_iter().map(|e| e.0).collect();
    assert_eq!(
        epochs,
        (1..=EPOCHS).collect::<Vec<_>>(),
        "every epoch once, none twice"
    );
    assert_eq!(db.number("SELECT count(*) FROM checkpoints"), 0);
    eprintln!(
        "kill -9 after {epochs_before} of {EPOCHS} epochs; the next worker finished the job \
         (attempt 2) {:.1} s after it started",
        started.elapsed().as_secs_f64()
    );
}

/// Runs `pg.sh COMMAND`, panicking with its output if it fails.
fn pg_sh(command: &str) -> String {
    let out = Command::new("bash")
        .arg(PG_SH)
        .arg(command)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg.sh {command} failed:\n{}",
        stderr(&out)
    );
    stdout(&out).trim().to_string()
}

/// `host:port` of a PostgreSQL URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:5432")
    }
}

/// Starts the server again when dropped, so that a failing restart test leaves it running.
struct StartOnDrop;

impl Drop for StartOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(PG_SH).arg("start").output();
    }
}

pg_test!(the_queue_and_results_survive_a_server_restart);
fn the_queue_and_results_survive_a_server_restart() {
    let _server = whole_server();
    let Some(admin) = server_url("the_queue_and_results_survive_a_server_restart") else {
        return;
    };
    if admin != pg_sh("url") {
        eprintln!(
            "note: the_queue_and_results_survive_a_server_restart skipped: {PG_ENV} does not \
             name the server `pg.sh` manages, which this test restarts"
        );
        return;
    }
    let db = PgDb::create(admin, "restart");
    let s = Scratch::new();
    // Enqueue and train in one go: results to keep across the restart.
    let done = s.grid("done.toml", &grid("done", &[4, 5], 1));
    let out = run(
        tune(s.path())
            .args(["run", &done, "--db", &db.url, "--data-dir"])
            .arg(&s.data)
            .args(["--jobs", "1", "--threads-per-job", "1", "--quiet"]),
        true,
    );
    assert!(
        stdout(&out).contains("2 jobs done, 0 failed"),
        "{}",
        stdout(&out)
    );
    // And a queue.
    let queued = s.grid("queued.toml", &grid("queued", &[6, 7, 8], 1));
    run(
        tune(s.path()).args(["run", &queued, "--enqueue", "--db", &db.url]),
        true,
    );

    {
        let _restart = StartOnDrop;
        pg_sh("stop");
        assert!(
            std::net::TcpStream::connect(host_port(&db.url)).is_err(),
            "the server still answers after `pg.sh stop`"
        );
    }
    pg_sh("start");

    assert_eq!(
        db.number("SELECT count(*) FROM jobs WHERE status = 'pending'"),
        3
    );
    let out = run(&mut s.worker(&db.url, &[]), true);
    assert!(
        stdout(&out).contains("3 jobs done, 0 failed"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        db.number("SELECT count(*) FROM jobs WHERE status = 'done'"),
        5
    );
    assert_eq!(db.number("SELECT count(*) FROM results"), 5);
    let out = run(
        tune(s.path()).args(["report", "--db", &db.url, "--format", "json"]),
        true,
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["jobs"], 5, "{report}");
}

pg_test!(reports_on_postgres_match_reports_on_its_sqlite_merge);
fn reports_on_postgres_match_reports_on_its_sqlite_merge() {
    let Some((_server, db)) = test_db("reports_on_postgres_match", "reports") else {
        return;
    };
    let s = Scratch::new();
    // ANNs and CNNs, so that `tune compare` has both sides.
    let grid = s.grid(
        "mixed.toml",
        "name = \"mixed\"\n[fixed]\ndataset = \"fashion-mnist\"\nepochs = 1\nbatch = 32\n\
         [axes]\nseed = [1, 2]\n\
         [[grid]]\nfixed = { model = \"ann\", dense = [32] }\n\
         [[grid]]\nfixed = { model = \"cnn\", layer1 = 4, dense = 16 }\n",
    );
    let out = run(
        tune(s.path())
            .args(["run", &grid, "--db", &db.url, "--data-dir"])
            .arg(&s.data)
            .args(["--jobs", "2", "--threads-per-job", "1", "--quiet"]),
        true,
    );
    assert!(
        stdout(&out).contains("4 jobs done, 0 failed"),
        "{}",
        stdout(&out)
    );
    let sqlite = s.path().join("merged.db").to_str().unwrap().to_string();
    run(tune(s.path()).args(["merge", &sqlite, &db.url]), true);

    let json = |args: &[&str], db: &str| -> serde_json::Value {
        let out = run(
            tune(s.path())
                .args(args)
                .args(["--db", db, "--format", "json"]),
            true,
        );
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    for args in [&["report"][..], &["report", "--by", "layers"], &["compare"]] {
        let pg = json(args, &db.url);
        let lite = json(args, &sqlite);
        assert_eq!(
            pg,
            lite,
            "`tune {}` differs between the back ends",
            args.join(" ")
        );
    }
    assert_eq!(json(&["report"], &db.url)["jobs"], 4);

    let svg = s.path().join("depth.svg");
    run(
        tune(s.path())
            .args(["plot", "depth", "--db", &db.url, "--out"])
            .arg(&svg),
        true,
    );
    assert!(svg.exists());
}

pg_test!(a_following_worker_trains_grids_enqueued_after_it_started);
/// `tune worker --follow` waits on an empty queue, trains a grid enqueued later, keeps waiting,
/// and stops cleanly on SIGTERM.
fn a_following_worker_trains_grids_enqueued_after_it_started() {
    let Some((_server, db)) = test_db("a_following_worker", "follow") else {
        return;
    };
    let s = Scratch::new();
    let mut worker = s
        .worker(&db.url, &["--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Long enough for the worker to find the queue empty.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker ended on an empty queue"
    );
    let grid = s.grid("later.toml", &grid("later", &[4, 5], 1));
    run(
        tune(s.path()).args(["run", &grid, "--enqueue", "--db", &db.url]),
        true,
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.number("SELECT count(*) FROM results") < 2 {
        if let Some(status) = worker.try_wait().unwrap() {
            panic!("the worker ended ({status}) before training the new grid");
        }
        assert!(
            Instant::now() < deadline,
            "the new grid was not trained in 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        worker.try_wait().unwrap().is_none(),
        "a following worker keeps waiting once the queue is empty"
    );
    let sent = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    while worker.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the worker did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = worker.wait_with_output().unwrap();
    assert!(
        stdout(&out).contains("2 jobs done, 0 failed, 0 interrupted"),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "a stop between jobs interrupts nothing"
    );
    assert_eq!(
        db.number("SELECT count(*) FROM jobs WHERE status = 'done'"),
        2
    );
}

/// Issue 10, item 1 on PostgreSQL, which stores NaN where SQLite cannot: a diverged job is failed
/// with its reason, not finished as done with a NaN loss. A NaN that an older tune stored is kept
/// out of every reader (`report --sort loss`) and merged into SQLite as a failed, diverged job.
#[test]
fn a_diverged_job_is_failed_on_postgres_and_no_nan_reaches_a_reader() {
    let Some((_server, db)) = test_db("a_diverged_job_is_failed_on_postgres", "diverge") else {
        return;
    };
    let s = Scratch::new();
    let grid = s.grid(
        "diverge.toml",
        "name = \"diverge\"\n[fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\nepochs = 1\n\
         batch = 32\ndense = 16\nlayer1 = 4\n\n[axes]\nlr = [1e30, 0.001, 0.002]\n",
    );
    let out = tune(s.path())
        .args(["run", &grid, "--db", &db.url, "--data-dir"])
        .arg(&s.data)
        .args(["--jobs", "1", "--threads-per-job", "1", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("2 jobs done, 1 failed"),
        "{}",
        stdout(&out)
    );
    let jobs: Vec<(f64, String, Option<String>)> =
        db.rows("SELECT lr, status, last_error FROM jobs ORDER BY seq");
    assert_eq!(jobs[0].1, "failed", "{jobs:?}");
    assert!(
        jobs[0]
            .2
            .as_deref()
            .unwrap_or_default()
            .starts_with("diverged: the training loss became NaN at epoch 1"),
        "{jobs:?}"
    );
    assert_eq!(
        db.number("SELECT COUNT(*) FROM results WHERE test_loss = 'NaN'"),
        0
    );

    // What an older tune left behind: a done job with a NaN loss.
    on_pg(&db.url, async |pool| {
        sqlx::query(
            "UPDATE results SET test_loss = 'NaN' WHERE job_key = \
             (SELECT key FROM jobs WHERE lr = 0.002)",
        )
        .execute(pool)
        .await
        .unwrap();
    });
    let out = run(
        tune(s.path()).args([
            "report", "--sort", "loss", "--format", "json", "--db", &db.url,
        ]),
        true,
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["jobs"], 1, "{report}");
    assert!(!stdout(&out).contains("NaN"), "{report}");
    let sqlite = s.path().join("merged.db");
    run(tune(s.path()).arg("merge").arg(&sqlite).arg(&db.url), true);
    let merged = crate::util::db::Db::open(&sqlite);
    let jobs: Vec<(f64, String)> = merged.rows("SELECT lr, status FROM jobs ORDER BY seq");
    assert_eq!(
        jobs,
        [
            (1e30, "failed".to_string()),
            (0.001, "done".to_string()),
            (0.002, "failed".to_string())
        ]
    );
    assert_eq!(merged.int("SELECT COUNT(*) FROM results"), 1);
}

// ----- a real network fault between a worker and the server --------------------------------

unsafe extern "C" {
    fn geteuid() -> u32;
}

/// Runs `ip ARGS`, returning whether it succeeded (its stderr goes to the test's output).
fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A network namespace joined to the host by a veth pair (`HOST_IP/30` on the host's end,
/// `NS_IP/30` inside), removed with its interfaces when dropped. All traffic of the test stays on
/// these two addresses.
struct NetNs {
    name: String,
    host_if: String,
    host_ip: String,
}

impl NetNs {
    /// `None`, after a note, when namespaces cannot be made here (not root, no `ip`).
    fn create(test: &str) -> Option<NetNs> {
        if unsafe { geteuid() } != 0 {
            eprintln!("note: {test} skipped: creating network namespaces needs root");
            return None;
        }
        let pid = std::process::id();
        let net = pid % 250 + 1;
        let ns = NetNs {
            name: format!("tune-test-{pid}"),
            host_if: format!("tt{pid}h"),
            host_ip: format!("10.231.{net}.1"),
        };
        let ns_if = format!("tt{pid}n");
        let ns_ip = format!("10.231.{net}.2/30");
        let ok = ip(&["netns", "add", &ns.name])
            && ip(&[
                "link",
                "add",
                &ns.host_if,
                "type",
                "veth",
                "peer",
                "name",
                &ns_if,
            ])
            && ip(&["link", "set", &ns_if, "netns", &ns.name])
            && ip(&[
                "addr",
                "add",
                &format!("{}/30", ns.host_ip),
                "dev",
                &ns.host_if,
            ])
            && ip(&["link", "set", &ns.host_if, "up"])
            && ip(&[
                "netns", "exec", &ns.name, "ip", "addr", "add", &ns_ip, "dev", &ns_if,
            ])
            && ip(&["netns", "exec", &ns.name, "ip", "link", "set", &ns_if, "up"])
            && ip(&["netns", "exec", &ns.name, "ip", "link", "set", "lo", "up"]);
        if !ok {
            eprintln!(
                "note: {test} skipped: cannot create a network namespace with a veth pair \
                 (is iproute2 installed? `apt-get install -y iproute2`)"
            );
            return None;
        }
        Some(ns)
    }

    /// Cuts the link: packets in both directions are dropped, connections stay open.
    fn cut(&self) {
        assert!(
            ip(&["link", "set", &self.host_if, "down"]),
            "cutting the link"
        );
    }

    /// Restores the link.
    fn restore(&self) {
        assert!(
            ip(&["link", "set", &self.host_if, "up"]),
            "restoring the link"
        );
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        ip(&["link", "del", &self.host_if]);
        ip(&["netns", "del", &self.name]);
    }
}

/// Forwards TCP connections to `listen` (an address of the host's end of a veth pair) to
/// `target` (the test server on loopback), so that the server need not listen on the veth
/// address. Runs until the test process ends.
fn forward(listen: &str, target: String) -> u16 {
    let listener = std::net::TcpListener::bind((listen, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = std::net::TcpStream::connect(&target) else {
                continue;
            };
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    port
}

/// A worker in a network namespace of its own trains a job; the link to the server is cut for
/// three times the lease while it trains, then restored. Another worker takes the job over after
/// the lease runs out and finishes it; the cut-off worker's writes are refused once the link is
/// back (its lease is lost), it drops the job and exits cleanly. The job is finished once, by the
/// second worker, with every epoch recorded once.
///
/// Exit 0 is the one right outcome for a cut this short, whatever the state of the cut-off
/// worker's connection pool: an epoch write that gets the pool's idle connection waits on it for
/// the link; one that needs a new connection (the heartbeat took the idle one first, likelier
/// when epochs are slow on a loaded machine) is refused within seconds ("no route to host") and
/// tried again until the database answers (before that retry the worker exited 69 then). The link
/// stays down until the takeover, so the second worker is started before the cut: its start-up on
/// a loaded machine does not stretch the cut towards the worker's 60 s for a database that does
/// not answer.
#[test]
fn a_worker_cut_off_by_the_network_loses_its_job_cleanly() {
    const TEST: &str = "a_worker_cut_off_by_the_network_loses_its_job_cleanly";
    const EPOCHS: i64 = 40;
    const LEASE_SECS: u64 = 2;
    let _server = shared_server();
    let Some(admin) = server_url(TEST) else {
        return;
    };
    let Some(ns) = NetNs::create(TEST) else {
        return;
    };
    let db = PgDb::create(admin, "netcut");
    let s = Scratch::new();
    let grid = s.grid(
        "slow.toml",
        &format!(
            "name = \"netcut\"\n[fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\n\
             epochs = {EPOCHS}\nbatch = 32\ndense = 64\nlayer1 = 64\n"
        ),
    );
    run(
        tune(s.path()).args(["run", &grid, "--enqueue", "--db", &db.url]),
        true,
    );
    let port = forward(&ns.host_ip, host_port(&db.url));
    let via_veth = db
        .url
        .replace(&host_port(&db.url), &format!("{}:{port}", ns.host_ip));
    let lease = LEASE_SECS.to_string();
    let mut cut_off = Command::new("ip");
    cut_off
        .args(["netns", "exec", &ns.name])
        .arg(env!("CARGO_BIN_EXE_tune"))
        .current_dir(s.path())
        .env_remove("TUNE_DB")
        .env("TUNE_CACHE_DIR", s.path().join("cache"))
        .env("TUNE_ALLOW_UNVERIFIED", "1")
        .env("RUST_LOG", "warn")
        .args(["worker", "--db", &via_veth, "--data-dir"])
        .arg(&s.data)
        .args(["--jobs", "1", "--threads-per-job", "1", "--quiet"])
        .args(["--lease-secs", &lease])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut a = cut_off.spawn().unwrap();

    // Cut while the job trains, after its first epochs are recorded.
    let start = Instant::now();
    while db.number("SELECT count(*) FROM epoch_metrics") < 2 {
        if let Some(status) = a.try_wait().unwrap() {
            let out = a.wait_with_output().unwrap();
            panic!("the worker ended early ({status}): {}", stderr(&out));
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no epoch in 120 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // A worker on the host's side, started while the job is the first worker's: it finds the job
    // running and polls (every 2 s at most) until the lease runs out, then takes it over. A long
    // lease of its own: on a loaded machine a 2 s lease could run out between its heartbeats, and
    // a third attempt is not what this test is about.
    let b = s
        .worker(&db.url, &["--lease-secs", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let b_pid = b.id();
    ns.cut();
    let cut_at = Instant::now();
    let epochs_before_cut = db.number("SELECT count(*) FROM epoch_metrics");
    // Well within the cut-off worker's 60 s for a database that does not answer (its own
    // deadline, after which exit 69 would be right).
    while db.number("SELECT max(attempts) FROM jobs") < 2 {
        assert!(
            cut_at.elapsed() < Duration::from_secs(40),
            "no takeover within 40 s of the cut"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Keep the link down for three leases in all, then restore it.
    let down = Duration::from_secs(3 * LEASE_SECS);
    std::thread::sleep(down.saturating_sub(cut_at.elapsed()));
    ns.restore();
    let restored_at = Instant::now();

    let wait = |child: std::process::Child, who: &str| {
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(Duration::from_secs(300)) {
            Ok(out) => out.unwrap(),
            Err(_) => {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                panic!("{who} worker did not exit within 300 s");
            }
        }
    };
    let a_out = wait(a, "the cut-off");
    let a_exit = restored_at.elapsed();
    let b_out = wait(b, "the host's");
    assert!(
        a_out.status.success(),
        "cut-off worker: {:?}\n{}\n{}",
        a_out.status.code(),
        stdout(&a_out),
        stderr(&a_out)
    );
    assert!(
        b_out.status.success(),
        "host worker: {:?}\n{}",
        b_out.status.code(),
        stderr(&b_out)
    );
    assert!(
        stdout(&a_out).contains("1 job taken over by other workers"),
        "{}",
        stdout(&a_out)
    );

    // Finished once, by the worker that took it over, every epoch once.
    let jobs: Vec<(String, i64)> = db.rows("SELECT status, attempts FROM jobs");
    assert_eq!(jobs, [("done".to_string(), 2)]);
    let results: Vec<(Option<String>, i64)> = db.rows("SELECT worker_id, attempt FROM results");
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].1, 2);
    let finisher = results[0].0.clone().unwrap_or_default();
    assert!(
        finisher.contains(&format!(":{b_pid}:")),
        "finished by {finisher}, not the host's worker {b_pid}"
    );
    assert_eq!(db.number("SELECT count(*) FROM epoch_metrics"), EPOCHS);
    assert_eq!(
        db.number("SELECT count(DISTINCT epoch) FROM epoch_metrics"),
        EPOCHS
    );
    eprintln!(
        "network cut: {epochs_before_cut} epochs before the cut, link down {:.1} s (lease {LEASE_SECS} s), \
         cut-off worker exited {:.1} s after the link came back",
        down.as_secs_f64(),
        a_exit.as_secs_f64()
    );
}
