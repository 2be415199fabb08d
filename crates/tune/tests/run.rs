//! `tune run` end to end: what lands in the database, reruns, `kill -9`, Ctrl-C, missing data
//! and saved weights. Nothing a finished epoch or job measured may be lost or written twice.

use crate::util::db::{Db, wait_for};
use crate::util::*;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The epochs of [`slow_grid`]'s jobs.
const SLOW_EPOCHS: i64 = 5;

/// Three 1-layer CNNs big enough that an epoch on the fixture data takes a noticeable time
/// (about 0.2 s on one thread), so a test can stop `tune` in the middle of a job.
fn slow_grid() -> String {
    format!(
        "name = \"slow\"\n[fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\nepochs = {SLOW_EPOCHS}\n\
         batch = 32\ndense = 64\n\n[axes]\nlayer1 = [64, 65, 66]\n"
    )
}

/// Waits for `child` to exit, killing it and failing the test after `limit`.
fn wait_exit(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tune did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `(job_key, epoch)` pairs recorded more than once (the schema's key should make this empty).
fn duplicate_epochs(db: &Db) -> i64 {
    db.int(
        "SELECT COUNT(*) FROM (SELECT job_key, epoch FROM epoch_metrics \
         GROUP BY job_key, epoch HAVING COUNT(*) > 1)",
    )
}

/// Asserts that every job of the database is done, with exactly one result and `epochs` epoch
/// rows numbered 1..=epochs, no checkpoint left, and an intact file.
fn assert_all_done_once(db: &Db, jobs: i64, epochs: i64) {
    let statuses: Vec<(String, String)> = db.rows("SELECT key, status FROM jobs ORDER BY seq");
    assert_eq!(statuses.len() as i64, jobs, "{statuses:?}");
    assert!(statuses.iter().all(|(_, s)| s == "done"), "{statuses:?}");
    assert_eq!(db.int("SELECT COUNT(*) FROM results"), jobs);
    assert_eq!(db.int("SELECT COUNT(DISTINCT job_key) FROM results"), jobs);
    assert_eq!(db.int("SELECT COUNT(*) FROM grid_results"), jobs);
    assert_eq!(db.int("SELECT COUNT(*) FROM epoch_metrics"), jobs * epochs);
    assert_eq!(duplicate_epochs(db), 0);
    let per_job: Vec<(String, i64, i64, i64)> = db.rows(
        "SELECT job_key, COUNT(*), MIN(epoch), MAX(epoch) FROM epoch_metrics GROUP BY job_key",
    );
    for (key, n, first, last) in per_job {
        assert_eq!((n, first, last), (epochs, 1, epochs), "epochs of job {key}");
    }
    assert_eq!(db.int("SELECT COUNT(*) FROM checkpoints"), 0);
    assert_eq!(db.text("PRAGMA integrity_check"), "ok");
}

/// A row of the `grid_results` view.
#[derive(Debug, sqlx::FromRow)]
struct GridRow {
    layer1: Option<i64>,
    layer2: Option<i64>,
    layer3: Option<i64>,
    kernel: Option<i64>,
    layerdense: Option<i64>,
    epochs: i64,
    loss: f64,
    accuracy: f64,
    runtime_mins: f64,
    model: String,
    dataset: String,
    seed: i64,
    params: i64,
}

#[test]
fn a_grid_lands_in_the_database_one_row_per_job() {
    // Two 1-layer jobs and one 2-layer job, one epoch each.
    let s = Setup::new(
        "name = \"mixed\"\n[fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\nepochs = 1\n\
         batch = 32\ndense = 16\n\n[axes]\nfilters = [[4], [6], [4, 8]]\n",
    );
    // stderr is a pipe, not a terminal: the bars are not drawn, but each finished job still
    // gets its line.
    let out = run(&mut s.run_jobs(2, &[]), true);
    assert!(
        stdout(&out).contains("3 jobs done, 0 failed, 0 interrupted"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        stderr(&out).matches(": done: test accuracy ").count(),
        3,
        "{}",
        stderr(&out)
    );

    let db = Db::open(&s.db());
    assert_all_done_once(&db, 3, 1);
    let jobs: Vec<(i64, i64, String)> = db.rows(
        "SELECT j.attempts, j.layers, j.filters FROM jobs j \
         JOIN sweep_jobs sj ON sj.job_key = j.key ORDER BY sj.position",
    );
    assert_eq!(
        jobs,
        [
            (1, 1, "4".to_string()),
            (1, 1, "6".to_string()),
            (1, 2, "4,8".to_string())
        ]
    );
    let rows: Vec<GridRow> = db.rows(
        "SELECT g.layer1, g.layer2, g.layer3, g.kernel, g.layerdense, g.epochs, g.loss, \
         g.accuracy, g.runtime_mins, g.model, g.dataset, g.seed, g.params \
         FROM grid_results g JOIN sweep_jobs sj ON sj.job_key = g.job_key ORDER BY sj.position",
    );
    let layers: Vec<_> = rows
        .iter()
        .map(|r| (r.layer1, r.layer2, r.layer3))
        .collect();
    assert_eq!(
        layers,
        [
            (Some(4), None, None),
            (Some(6), None, None),
            (Some(4), Some(8), None)
        ]
    );
    for r in &rows {
        assert_eq!(
            (r.kernel, r.layerdense, r.epochs),
            (Some(3), Some(16), 1),
            "{r:?}"
        );
        assert!(r.loss.is_finite() && r.loss > 0.0, "{r:?}");
        assert!((0.0..=1.0).contains(&r.accuracy), "{r:?}");
        assert!(r.runtime_mins > 0.0, "{r:?}");
        assert_eq!(
            (r.model.as_str(), r.dataset.as_str(), r.seed),
            ("cnn", "fashion-mnist", 1)
        );
        assert!(r.params > 0, "{r:?}");
    }
    // The view's figures are the results table's.
    let mismatched = db.int(
        "SELECT COUNT(*) FROM grid_results g JOIN results r ON r.job_key = g.job_key \
         WHERE g.accuracy != r.test_accuracy OR g.loss != r.test_loss \
            OR g.runtime_mins != r.runtime_s / 60.0",
    );
    assert_eq!(mismatched, 0);
    // The grid validates on its default holdout: the view's val_accuracy is the last epoch's,
    // its test_accuracy the results table's.
    let last_epoch_differs = db.int(
        "SELECT COUNT(*) FROM grid_results g \
         JOIN epoch_metrics e ON e.job_key = g.job_key AND e.epoch = g.epochs \
         WHERE g.val_accuracy != e.val_accuracy OR g.test_accuracy != g.accuracy \
            OR g.validation != 'holdout:5000'",
    );
    assert_eq!(last_epoch_differs, 0);
    assert_eq!(
        db.int("SELECT COUNT(*) FROM sweeps WHERE name = 'mixed' AND finished_at IS NOT NULL"),
        1
    );
}

#[test]
fn the_slots_take_the_largest_networks_first_and_the_sweep_keeps_grid_order() {
    // Grid order is smallest first; the queue trains the most FLOPs per image (times epochs)
    // first, so that a run does not end on its largest network alone.
    let s = Setup::new(
        "name = \"lpt\"\n[fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\nepochs = 1\n\
         batch = 32\ndense = 16\n\n[axes]\nlayer1 = [4, 8, 6]\n",
    );
    run(&mut s.run_quiet(&[]), true);
    let db = Db::open(&s.db());
    let trained: Vec<(i64,)> = db.rows("SELECT layer1 FROM jobs ORDER BY started_at, seq");
    assert_eq!(trained, [(8,), (6,), (4,)]);
    let costlier_later = db.int(
        "SELECT COUNT(*) FROM jobs a JOIN jobs b ON a.seq < b.seq \
         WHERE a.flops_per_image < b.flops_per_image",
    );
    assert_eq!(costlier_later, 0);
    let grid: Vec<(i64,)> = db.rows(
        "SELECT j.layer1 FROM sweep_jobs sj JOIN jobs j ON j.key = sj.job_key \
         ORDER BY sj.position",
    );
    assert_eq!(grid, [(4,), (8,), (6,)]);
}

#[test]
fn running_a_finished_grid_again_trains_nothing() {
    let s = Setup::new(&small_grid(3, 1));
    run(&mut s.run_jobs(2, &["--quiet"]), true);
    let before: Vec<(String, String, String, i64)> = Db::open(&s.db()).rows(
        "SELECT r.job_key, r.finished_at, j.finished_at, j.attempts \
         FROM results r JOIN jobs j ON j.key = r.job_key ORDER BY r.job_key",
    );
    assert_eq!(before.len(), 3);

    let out = run(&mut s.run_jobs(2, &[]), true);
    assert!(
        stdout(&out).starts_with("0 jobs done, 0 failed, 0 interrupted"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("3 jobs: 3 already done;"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("done: test accuracy"),
        "{}",
        stderr(&out)
    );
    let db = Db::open(&s.db());
    let after: Vec<(String, String, String, i64)> = db.rows(
        "SELECT r.job_key, r.finished_at, j.finished_at, j.attempts \
         FROM results r JOIN jobs j ON j.key = r.job_key ORDER BY r.job_key",
    );
    assert_eq!(before, after);
    assert_all_done_once(&db, 3, 1);
    assert_eq!(db.int("SELECT COUNT(*) FROM sweeps"), 1);
}

#[test]
fn a_run_killed_mid_job_resumes_from_the_checkpoint_and_loses_nothing() {
    let s = Setup::new(&slow_grid());
    let mut child = s
        .run_jobs(1, &["--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once the first job is done and the second has a checkpoint with at least two epochs
    // still to go (so it cannot finish before the signal lands).
    wait_for(&s.db(), &mut child, Duration::from_secs(60), |db| {
        db.try_int("SELECT COUNT(*) FROM results") >= Some(1)
            && db.try_int("SELECT COUNT(*) FROM checkpoints WHERE epoch BETWEEN 1 AND 2") >= Some(1)
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let db = Db::open(&s.db());
    let running: Vec<(String, i64)> =
        db.rows("SELECT key, attempts FROM jobs WHERE status = 'running'");
    let [(killed, 1)] = running.as_slice() else {
        panic!("expected one job left running by the killed run: {running:?}");
    };
    let checkpoint: Vec<(i64,)> =
        db.rows_with("SELECT epoch FROM checkpoints WHERE job_key = $1", killed);
    let [(saved,)] = checkpoint.as_slice() else {
        panic!("the killed job has no checkpoint");
    };
    assert!((1..SLOW_EPOCHS).contains(saved), "checkpoint epoch {saved}");
    // The epochs the checkpoint covers; resuming must keep them as they are.
    let kept: Vec<(i64, f64, f64, f64)> = db.rows_with(
        "SELECT epoch, train_loss, val_loss, seconds FROM epoch_metrics WHERE job_key = $1 \
         AND epoch <= (SELECT epoch FROM checkpoints WHERE job_key = $1) ORDER BY epoch",
        killed,
    );
    assert_eq!(kept.len() as i64, *saved);
    let first: Vec<(String, String)> = db.rows("SELECT job_key, finished_at FROM results");
    assert_eq!(first.len(), 1);
    drop(db);

    let out = run(&mut s.run_jobs(1, &[]), true);
    assert!(
        stderr(&out).contains("1 job left running by an earlier, killed run will start again"),
        "{}",
        stderr(&out)
    );
    // The header accounts for every job and announces the resume.
    assert!(
        stderr(&out).contains(&format!(
            "3 jobs: 1 waiting from an earlier run, 1 to resume from its checkpoint (epoch {saved} \
             of {SLOW_EPOCHS}), 1 already done;"
        )),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("(attempt 2): done"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("2 jobs done, 0 failed, 0 interrupted"),
        "{}",
        stdout(&out)
    );

    let db = Db::open(&s.db());
    assert_all_done_once(&db, 3, SLOW_EPOCHS);
    let attempts: Vec<(String, i64, i64)> = db.rows(
        "SELECT j.key, j.attempts, r.attempt FROM jobs j JOIN results r ON r.job_key = j.key \
         ORDER BY j.seq",
    );
    for (key, attempts, attempt) in &attempts {
        let expected = if key == killed { 2 } else { 1 };
        assert_eq!((*attempts, *attempt), (expected, expected), "job {key}");
    }
    let after: Vec<(i64, f64, f64, f64)> = db.rows_with(
        "SELECT epoch, train_loss, val_loss, seconds FROM epoch_metrics WHERE job_key = $1 \
         ORDER BY epoch",
        killed,
    );
    assert_eq!(
        after[..kept.len()],
        kept[..],
        "epochs before the checkpoint were trained again"
    );
    let first_after: Vec<(String, String)> = db.rows_with(
        "SELECT job_key, finished_at FROM results WHERE job_key = $1",
        &first[0].0,
    );
    assert_eq!(first_after, first, "the finished job was trained again");

    // Resuming from the checkpoint gives exactly the figures of an uninterrupted run.
    let (layer1, test_loss): (i64, f64) = db.rows_with(
        "SELECT j.layer1, r.test_loss FROM jobs j JOIN results r ON r.job_key = j.key \
         WHERE j.key = $1",
        killed,
    )[0];
    drop(db);
    let out = run(
        tune(s.tmp.path())
            .args(["train", "--filters", &layer1.to_string(), "--dense", "64"])
            .args(["--batch", "32", "--epochs", &SLOW_EPOCHS.to_string()])
            .args(["--threads", "1", "--format", "json", "--holdout", "5000"])
            .arg("--data-dir")
            .arg(&s.data),
        true,
    );
    let fresh: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(fresh["job_key"].as_str(), Some(killed.as_str()));
    assert_eq!(fresh["test_loss"].as_f64(), Some(test_loss));
}

#[test]
fn ctrl_c_stops_the_run_and_marks_the_job_interrupted() {
    stop_with_signal("-INT");
}

/// SIGTERM, as Slurm and Kubernetes send before SIGKILL, stops the run like Ctrl-C.
#[test]
fn sigterm_stops_the_run_and_marks_the_job_interrupted() {
    stop_with_signal("-TERM");
}

/// Sends `signal` (a `kill` option) to a run in the middle of its first job: the job is marked
/// interrupted, the run exits with 130, and a rerun finishes every job once.
fn stop_with_signal(signal: &str) {
    let s = Setup::new(&slow_grid());
    let mut child = s
        .run_jobs(1, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first job has recorded an epoch and has more to go.
    wait_for(&s.db(), &mut child, Duration::from_secs(60), |db| {
        db.try_int("SELECT COUNT(*) FROM epoch_metrics") >= Some(1)
            && db.try_int("SELECT COUNT(*) FROM results") == Some(0)
    });
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = wait_exit(&mut child, Duration::from_secs(10));
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("0 jobs done, 0 failed, 1 interrupted"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("stopping:"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(": interrupted after "),
        "{}",
        stderr(&out)
    );

    let db = Db::open(&s.db());
    let statuses: Vec<(String, i64)> = db.rows("SELECT status, attempts FROM jobs ORDER BY seq");
    assert_eq!(
        statuses,
        [
            ("interrupted".to_string(), 0),
            ("pending".to_string(), 0),
            ("pending".to_string(), 0)
        ]
    );
    assert_eq!(db.int("SELECT COUNT(*) FROM results"), 0);
    assert_eq!(db.text("PRAGMA integrity_check"), "ok");
    drop(db);

    let out = run(&mut s.run_jobs(1, &["--quiet"]), true);
    assert!(
        stdout(&out).contains("3 jobs done, 0 failed, 0 interrupted"),
        "{}",
        stdout(&out)
    );
    let db = Db::open(&s.db());
    assert_all_done_once(&db, 3, SLOW_EPOCHS);
    // The Ctrl-C did not use up an attempt.
    let attempts: Vec<(i64,)> = db.rows("SELECT attempts FROM jobs ORDER BY seq");
    assert_eq!(attempts, [(1,), (1,), (1,)]);
}

/// A write to the results database that fails for a reason other than a lost lease (the database
/// is down, restarted, or here missing a table) is not the job's fault: the job is left for
/// another attempt, the run stops with the error instead of failing job after job, and a rerun
/// once the database is whole again finishes everything once.
#[test]
fn a_results_database_error_leaves_the_job_for_another_attempt_and_stops_the_run() {
    let s = Setup::new(&slow_grid());
    let mut child = s
        .run_jobs(1, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&s.db(), &mut child, Duration::from_secs(60), |db| {
        db.try_int("SELECT COUNT(*) FROM epoch_metrics") >= Some(1)
            && db.try_int("SELECT COUNT(*) FROM results") == Some(0)
    });
    // The next epoch cannot be recorded.
    Db::open(&s.db()).execute("ALTER TABLE epoch_metrics RENAME TO epoch_metrics_away");
    let status = wait_exit(&mut child, Duration::from_secs(30));
    let out = child.wait_with_output().unwrap();
    let (out, err) = (stdout(&out), stderr(&out));
    // The database is unavailable (69), not bad input.
    assert_eq!(status.code(), Some(69), "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("left for another attempt"), "{err}");
    assert!(err.contains("epoch_metrics"), "the cause is shown: {err}");

    let db = Db::open(&s.db());
    let statuses: Vec<(String, i64)> = db.rows("SELECT status, attempts FROM jobs ORDER BY seq");
    let count = |status: &str| statuses.iter().filter(|(s, _)| s == status).count();
    assert_eq!(count("failed"), 0, "{statuses:?}");
    assert_eq!(count("running"), 0, "{statuses:?}");
    assert_eq!(count("interrupted"), 1, "{statuses:?}");
    assert_eq!(
        count("pending"),
        2 - count("done"),
        "no job after it was claimed: {statuses:?}"
    );
    db.execute("ALTER TABLE epoch_metrics_away RENAME TO epoch_metrics");
    drop(db);

    let out = run(&mut s.run_jobs(1, &["--quiet"]), true);
    assert!(
        stdout(&out).contains("0 failed, 0 interrupted"),
        "{}",
        stdout(&out)
    );
    assert_all_done_once(&Db::open(&s.db()), 3, SLOW_EPOCHS);
}

#[test]
fn a_missing_data_set_fails_the_job_says_how_to_get_it_and_stops() {
    let s = Setup::new(&small_grid(3, 1));
    let empty = s.tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = run(
        tune(s.tmp.path())
            .arg("run")
            .arg(&s.grid)
            .arg("--db")
            .arg(s.db())
            .arg("--data-dir")
            .arg(&empty)
            .args(["--jobs", "1"]),
        false,
    );
    // Missing data is an unavailable environment (69), not bad input.
    assert_eq!(out.status.code(), Some(69));
    let err = stderr(&out);
    assert!(err.contains("data set `fashion-mnist` not found"), "{err}");
    assert!(err.contains("tune data fetch fashion-mnist"), "{err}");
    assert!(err.contains("--retry-failed"), "{err}");
    assert_eq!(
        err.matches("tune data fetch").count(),
        1,
        "the message is printed once: {err}"
    );

    // The job that found no data is failed, not left running; no other job was started.
    let db = Db::open(&s.db());
    let jobs: Vec<(String, Option<String>)> =
        db.rows("SELECT status, last_error FROM jobs ORDER BY seq");
    assert_eq!(jobs.len(), 3);
    assert_eq!(jobs[0].0, "failed");
    assert!(
        jobs[0]
            .1
            .as_deref()
            .is_some_and(|e| e.contains("tune data fetch fashion-mnist")),
        "{jobs:?}"
    );
    assert!(jobs[1..].iter().all(|(s, _)| s == "pending"), "{jobs:?}");
    drop(db);

    // Once the data is there, the hint's command trains everything.
    let out = run(&mut s.run_jobs(1, &["--retry-failed", "--quiet"]), true);
    assert!(
        stdout(&out).contains("3 jobs done, 0 failed"),
        "{}",
        stdout(&out)
    );
    assert_all_done_once(&Db::open(&s.db()), 3, 1);
}

#[test]
fn weights_that_cannot_be_saved_do_not_cost_the_result() {
    let text = small_grid(2, 1);
    let s = Setup::new(&text);
    let keys: Vec<String> = tune_grid::parse(&text, "small.toml")
        .unwrap()
        .jobs
        .iter()
        .map(|j| j.key())
        .collect();
    let weights = s.tmp.path().join("weights");
    // A directory where the first job's weights file should go: saving it fails.
    std::fs::create_dir_all(weights.join(format!("{}.safetensors", keys[0]))).unwrap();
    let out = run(
        s.run_jobs(1, &["--quiet", "--save-weights"]).arg(&weights),
        false,
    );
    // The missing file is no silent loss: exit 69 and the count in the summary.
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("2 jobs done, 0 failed"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("1 weight file missing"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains(&format!("the weights of job {} were not saved", keys[0])),
        "{}",
        stderr(&out)
    );
    // The first job's weights wait in the database for a run that can write them.
    let db = Db::open(&s.db());
    assert_eq!(db.int("SELECT COUNT(*) FROM jobs WHERE status = 'done'"), 2);
    assert_eq!(db.int("SELECT COUNT(*) FROM checkpoints"), 1);
    drop(db);
    std::fs::remove_dir(weights.join(format!("{}.safetensors", keys[0]))).unwrap();
    run(
        s.run_jobs(1, &["--quiet", "--save-weights"]).arg(&weights),
        true,
    );
    assert_all_done_once(&Db::open(&s.db()), 2, 1);
    let saved = candle_core::safetensors::load(
        weights.join(format!("{}.safetensors", keys[1])),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    // The second job's conv layer has 5 filters.
    assert!(saved["conv1.kernel"].dims().contains(&5), "{saved:?}");
}

#[test]
fn repeats_train_each_job_with_consecutive_seeds() {
    let s = Setup::new(&small_grid(2, 1));
    let out = run(&mut s.run_jobs(2, &["--quiet", "--repeats", "3"]), true);
    assert!(
        stdout(&out).contains("6 jobs done, 0 failed"),
        "{}",
        stdout(&out)
    );
    let db = Db::open(&s.db());
    assert_all_done_once(&db, 6, 1);
    let jobs: Vec<(i64, i64)> = db.rows(
        "SELECT j.layer1, j.seed FROM jobs j JOIN sweep_jobs sj ON sj.job_key = j.key \
         ORDER BY sj.position",
    );
    assert_eq!(jobs, [(4, 1), (5, 1), (4, 2), (5, 2), (4, 3), (5, 3)]);
}

#[test]
fn a_failing_job_is_recorded_and_the_others_still_run() {
    // The jobs with lr 1e30 diverge: they fail while they train.
    let s = Setup::new(
        "name = \"diverge\"\n[fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\nepochs = 1\n\
         batch = 32\ndense = 16\n\n[axes]\nlr = [1e30, 0.001]\nlayer1 = [4, 5]\n",
    );
    for quiet in [false, true] {
        let extra: &[&str] = if quiet {
            &["--quiet", "--retry-failed"]
        } else {
            &[]
        };
        let out = run(&mut s.run_jobs(1, extra), false);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let expected = if quiet {
            "0 jobs done, 2 failed"
        } else {
            "2 jobs done, 2 failed"
        };
        assert!(stdout(&out).contains(expected), "{}", stdout(&out));
        let err = stderr(&out);
        // Each failure once, even with --quiet, as plain text (stderr is not a terminal).
        assert_eq!(
            err.matches("failed: diverged: the training loss became")
                .count(),
            2,
            "{err}"
        );
        assert!(!err.contains('\x1b'), "escape codes in {err:?}");
    }
    let db = Db::open(&s.db());
    let jobs: Vec<(f64, String, Option<String>)> =
        db.rows("SELECT lr, status, last_error FROM jobs ORDER BY seq");
    assert_eq!(jobs.len(), 4);
    for (lr, status, error) in jobs {
        if lr < 1.0 {
            assert_eq!((status.as_str(), error), ("done", None));
        } else {
            assert_eq!(status, "failed");
            assert!(error.unwrap().contains("diverged"));
        }
    }
}

#[test]
fn a_second_run_into_the_same_database_is_refused() {
    let s = Setup::new(&slow_grid());
    let mut first = s
        .run_jobs(1, &["--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&s.db(), &mut first, Duration::from_secs(60), |db| {
        db.try_int("SELECT COUNT(*) FROM epoch_metrics") >= Some(1)
    });
    let second = s.run_jobs(1, &["--quiet"]).output().unwrap();
    let still_running = first.try_wait().unwrap().is_none();
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(second.status.code(), Some(69), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("another tune process is training into"),
        "{}",
        stderr(&second)
    );
    assert!(
        still_running,
        "the first run ended before the second was refused"
    );
    // The refused run took nothing over: the first run's job is still its own.
    let db = Db::open(&s.db());
    let running: Vec<(String, i64)> =
        db.rows("SELECT worker_id, attempts FROM jobs WHERE status = 'running'");
    assert_eq!(running.len(), 1, "{running:?}");
    assert!(
        running[0].0.ends_with(&format!(":{}:0", first.id())),
        "{running:?}"
    );
}

/// A job whose run was killed on its last allowed attempt without finishing an epoch since the
/// attempts before (as the out-of-memory killer would, every time) is marked failed by the next run, with the reason, and does not block the other jobs;
/// `--retry-failed` trains it.
#[test]
fn a_job_killed_on_its_last_attempt_is_failed_by_the_next_run() {
    let s = Setup::new(&small_grid(2, 1));
    run(&mut s.run_jobs(1, &["--quiet"]), true);
    // Pretend the first job's third attempt was running when its run was killed.
    let db = Db::open(&s.db());
    db.execute(
        "UPDATE jobs SET status = 'running', attempts = 3, faults = 2, worker_id = 'host:1', \
         finished_at = NULL WHERE seq = (SELECT MIN(seq) FROM jobs)",
    );
    db.execute(
        "DELETE FROM results WHERE job_key = (SELECT key FROM jobs WHERE status = 'running')",
    );
    drop(db);

    let out = run(&mut s.run_jobs(1, &["--quiet"]), false);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 job killed on the last allowed attempt"),
        "{}",
        stderr(&out)
    );
    let db = Db::open(&s.db());
    let jobs: Vec<(String, Option<String>)> =
        db.rows("SELECT status, last_error FROM jobs ORDER BY seq");
    assert_eq!(jobs[1], ("done".to_string(), None));
    assert_eq!(jobs[0].0, "failed");
    let error = jobs[0].1.as_deref().unwrap_or_default();
    assert!(
        error.contains(
            "killed during attempt 3 (3 of 3 kills allowed in a row without a finished epoch"
        ),
        "{error}"
    );
    drop(db);

    run(&mut s.run_jobs(1, &["--quiet", "--retry-failed"]), true);
    let db = Db::open(&s.db());
    assert_eq!(db.int("SELECT COUNT(*) FROM jobs WHERE status = 'done'"), 2);
    assert_eq!(db.int("SELECT COUNT(*) FROM results"), 2);
}
