//! `--events json` (issue 11, item 3): the work loop's events as one JSON object per line on
//! stdout, for `tune run` and `tune worker`, while the progress display and the summary go to
//! stderr.

use crate::util::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Every line of `text` parsed as a JSON object (panics on a line that is not one).
fn parse_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}"));
            assert!(v.is_object(), "{l}");
            assert!(v["event"].is_string(), "no event tag: {l}");
            assert!(
                v["time"].as_f64().is_some_and(|t| t > 1.7e9),
                "no time: {l}"
            );
            v
        })
        .collect()
}

/// Each job's events by key, in order.
fn by_job(events: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let mut jobs: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in events {
        if let Some(key) = e["key"].as_str() {
            jobs.entry(key.to_string()).or_default().push(e.clone());
        }
    }
    jobs
}

/// The event names of `events`.
fn names(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect()
}

/// Asserts a stream of `jobs` jobs of `epochs` epochs each that all finished: run_started first,
/// run_ended last, and per job claimed, then its epochs in order with their figures, then finished.
fn assert_finished_stream(out: &Output, jobs: usize, epochs: usize) -> Vec<Value> {
    let events = parse_lines(&stdout(out));
    let all = names(&events);
    assert_eq!(all.first(), Some(&"run_started"), "{all:?}");
    assert_eq!(all.last(), Some(&"run_ended"), "{all:?}");
    let end = events.last().unwrap();
    assert_eq!(end["done"], jobs, "{end}");
    assert_eq!(end["failed"], 0, "{end}");
    assert!(end["error"].is_null(), "{end}");
    let per_job = by_job(&events);
    assert_eq!(per_job.len(), jobs, "{all:?}");
    for (key, evs) in &per_job {
        let mut expected = vec!["job_claimed"];
        expected.extend(std::iter::repeat_n("epoch_done", epochs));
        expected.push("job_finished");
        assert_eq!(names(evs), expected, "job {key}");
        assert_eq!(evs[0]["epochs"], epochs, "{}", evs[0]);
        assert_eq!(evs[0]["attempt"], 1, "{}", evs[0]);
        assert!(evs[0]["spec"].is_object(), "{}", evs[0]);
        for (i, e) in evs[1..=epochs].iter().enumerate() {
            assert_eq!(e["epoch"], i + 1, "{e}");
            assert_eq!(e["metrics"]["epoch"], i + 1, "{e}");
            assert!(e["metrics"]["val_accuracy"].is_f64(), "{e}");
            assert!(e["metrics"]["train_loss"].is_f64(), "{e}");
        }
        let acc = evs[epochs + 1]["test_accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc), "{}", evs[epochs + 1]);
    }
    events
}

/// A run's events parse line by line: claimed, then each epoch, then finished, per job; stdout
/// holds nothing else; the progress lines and the summary are on stderr.
#[test]
fn a_run_writes_its_events_as_json_lines() {
    let s = Setup::new(&small_grid(2, 2));
    let out = run(&mut s.run_cmd(&["--events", "json"]), true);
    let events = assert_finished_stream(&out, 2, 2);
    let sweep = events[0]["sweep"]
        .as_str()
        .expect("tune run names its sweep");
    assert!(
        events
            .iter()
            .filter(|e| e.get("key").is_some())
            .all(|e| e["sweep"] == sweep),
        "every job event names the sweep"
    );
    let err = stderr(&out);
    assert!(err.contains("2 jobs done, 0 failed"), "{err}");
    assert!(err.contains("done: test accuracy"), "{err}");

    // Without --events, stdout carries the summary, as before.
    let again = run(&mut s.run_cmd(&[]), true);
    assert!(
        stdout(&again).contains("0 jobs done, 0 failed"),
        "{}",
        stdout(&again)
    );
}

/// `tune worker --events json` writes the same stream for the jobs it trains.
#[test]
fn a_worker_writes_its_events_as_json_lines() {
    let s = Setup::new(&small_grid(2, 1));
    run(&mut s.run_cmd(&["--enqueue"]), true);
    let mut cmd = tune(s.tmp.path());
    cmd.arg("worker")
        .arg("--db")
        .arg(s.tmp.path().join("results.db"))
        .arg("--data-dir")
        .arg(&s.data)
        .args(["--jobs", "1", "--threads-per-job", "1", "--quiet"])
        .args(["--events", "json"]);
    let out = run(&mut cmd, true);
    let events = assert_finished_stream(&out, 2, 1);
    assert!(events[0]["sweep"].is_null(), "{}", events[0]);
    assert!(
        stderr(&out).contains("2 jobs done, 0 failed"),
        "{}",
        stderr(&out)
    );
}

/// A diverging job gives a job_failed event with its error; the other job finishes.
#[test]
fn a_failed_job_gives_a_failed_event_with_its_error() {
    let s = Setup::new(
        "name = \"diverge\"\n[fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\nepochs = 2\n\
         batch = 32\ndense = 16\nlayer1 = 4\n\n[axes]\nlr = [1e30, 0.001]\n",
    );
    let out = s
        .run_cmd(&["--quiet", "--events", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let events = parse_lines(&stdout(&out));
    let per_job = by_job(&events);
    let mut ends: Vec<&str> = per_job
        .values()
        .map(|evs| evs.last().unwrap()["event"].as_str().unwrap())
        .collect();
    ends.sort();
    assert_eq!(ends, ["job_failed", "job_finished"], "{events:?}");
    let failed = events.iter().find(|e| e["event"] == "job_failed").unwrap();
    assert_eq!(failed["kind"], "training", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .starts_with("diverged: the training loss became NaN at epoch 1, batch"),
        "{failed}"
    );
    let key = failed["key"].as_str().unwrap();
    assert_eq!(names(&per_job[key]), ["job_claimed", "job_failed"]);
    let end = events.last().unwrap();
    assert_eq!(
        (
            end["event"].as_str(),
            end["done"].as_u64(),
            end["failed"].as_u64()
        ),
        (Some("run_ended"), Some(1), Some(1)),
        "{end}"
    );
    assert!(
        stderr(&out).contains("1 job done, 1 failed"),
        "{}",
        stderr(&out)
    );
}

/// The long grid: one job of 8 epochs, each long enough (about 0.2 s) to act between them.
const LONG_GRID: &str = "name = \"long\"\n[fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\n\
                         epochs = 8\nbatch = 32\ndense = 64\nlayer1 = 64\n";

/// Runs `cmd` with stdout piped, calls `act` once the first epoch_done line was read, and returns
/// every line of stdout and the exit code (failing after a minute).
fn run_and_act(cmd: &mut Command, act: impl FnOnce(u32)) -> (String, Option<i32>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut text = String::new();
    let mut act = Some(act);
    for line in lines.by_ref() {
        let line = line.unwrap();
        text.push_str(&line);
        text.push('\n');
        if line.contains("\"event\":\"epoch_done\"")
            && let Some(act) = act.take()
        {
            act(child.id());
        }
    }
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("tune did not exit within a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (text, status.code())
}

/// SIGTERM during training: a stopping event, then the job's job_interrupted (cause signal,
/// recorded), and the run ends with one interrupted job and exit 130.
#[test]
fn an_interrupted_run_gives_interrupted_events() {
    let s = Setup::new(LONG_GRID);
    let (text, code) = run_and_act(&mut s.run_cmd(&["--quiet", "--events", "json"]), |pid| {
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    });
    assert_eq!(code, Some(130), "{text}");
    let events = parse_lines(&text);
    let all = names(&events);
    assert!(all.contains(&"stopping"), "{all:?}");
    let per_job = by_job(&events);
    assert_eq!(per_job.len(), 1, "{all:?}");
    let evs = per_job.values().next().unwrap();
    let last = evs.last().unwrap();
    assert_eq!(last["event"], "job_interrupted", "{all:?}");
    assert_eq!(last["cause"], "signal", "{last}");
    assert_eq!(last["recorded"], true, "{last}");
    let epochs = evs.iter().filter(|e| e["event"] == "epoch_done").count();
    assert!((1..8).contains(&epochs), "{all:?}");
    assert_eq!(last["epochs_done"], epochs, "{last}");
    let end = events.last().unwrap();
    assert_eq!(end["event"], "run_ended", "{end}");
    assert_eq!(end["interrupted"], 1, "{end}");
}

/// `--events` goes with training: refused with --dry-run and --enqueue.
#[test]
fn events_are_refused_where_nothing_trains() {
    let s = Setup::new(&small_grid(1, 1));
    for flag in ["--dry-run", "--enqueue"] {
        let out = s.run_cmd(&[flag, "--events", "json"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("cannot be used with"),
            "{flag}: {}",
            stderr(&out)
        );
    }
}

/// A results database that cannot be written mid-run (here a table renamed away): the job's
/// job_interrupted names the store error as its cause, and run_ended carries the error.
#[test]
fn a_store_error_gives_an_interrupted_event_and_an_ended_run_with_the_error() {
    let s = Setup::new(LONG_GRID);
    let db = s.tmp.path().join("results.db");
    let (text, code) = run_and_act(&mut s.run_cmd(&["--quiet", "--events", "json"]), |_| {
        crate::util::db::Db::open(&db)
            .execute("ALTER TABLE epoch_metrics RENAME TO epoch_metrics_away");
    });
    assert_eq!(code, Some(69), "{text}");
    let events = parse_lines(&text);
    let interrupted = events
        .iter()
        .find(|e| e["event"] == "job_interrupted")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(interrupted["cause"], "store_error", "{interrupted}");
    assert!(
        interrupted["error"]
            .as_str()
            .is_some_and(|e| e.contains("epoch_metrics")),
        "{interrupted}"
    );
    let end = events.last().unwrap();
    assert_eq!(end["event"], "run_ended", "{end}");
    assert!(
        end["error"]
            .as_str()
            .is_some_and(|e| e.contains("left for another attempt")),
        "{end}"
    );
}
