//! Nothing blocks a grid and nothing is lost silently (issue 10, items 1, 2, 5, 9 and 12): typed
//! exit codes, diverged jobs, data that cannot train, weights on a full disk, kills and hang-ups.

use crate::util::db::{Db, wait_for};
use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};
use tune_data::idx::Images;

/// The exit code, with both streams in the panic message when it is not `expected`.
fn expect_code(out: &Output, expected: i32) {
    assert_eq!(
        out.status.code(),
        Some(expected),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

/// Waits for `child` to exit, killing it and failing the test after a minute.
fn wait_exit(child: &mut Child) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tune did not exit within a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ----- 9. exit codes ---------------------------------------------------------------------------

#[test]
fn exit_code_0_when_every_job_is_done() {
    let s = Setup::new(&small_grid(2, 1));
    let out = s.run_quiet(&[]).output().unwrap();
    expect_code(&out, 0);
    assert!(
        stdout(&out).contains("2 jobs done, 0 failed"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn exit_code_2_for_bad_input() {
    let s = Setup::new(&small_grid(2, 1).replace("batch = 32", "bach = 32"));
    let out = s.run_quiet(&[]).output().unwrap();
    expect_code(&out, 2);
    assert!(
        stderr(&out).contains("unknown key `bach`"),
        "{}",
        stderr(&out)
    );
}

/// A results database that cannot be reached is the environment's fault, not bad input.
#[test]
fn exit_code_69_when_the_database_is_unavailable() {
    let tmp = tempfile::tempdir().unwrap();
    // Nothing listens on port 1.
    let out = tune(tmp.path())
        .args(["report", "--db", "postgres://tune@127.0.0.1:1/tune"])
        .output()
        .unwrap();
    expect_code(&out, 69);
    assert!(
        stderr(&out).contains("cannot connect to results database"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn exit_code_70_for_a_bug_with_a_please_report_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tune(tmp.path())
        .args(["data", "list"])
        .env("TUNE_TEST_PANIC", "1")
        .output()
        .unwrap();
    expect_code(&out, 70);
    let err = stderr(&out);
    assert!(err.contains("this is a bug in tune"), "{err}");
    assert!(err.contains("please report it at"), "{err}");
}

/// A grid that still holds failed jobs is not finished: a run that skips them says so and exits 1.
#[test]
fn exit_code_1_also_for_failed_jobs_this_run_skipped() {
    // The first job diverges: it fails while it trains.
    let s = Setup::new(
        "name = \"diverge\"\n[fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\nepochs = 1\n\
         batch = 32\ndense = 16\nlayer1 = 4\n\n[axes]\nlr = [1e30, 0.001]\n",
    );
    let out = s.run_quiet(&[]).output().unwrap();
    expect_code(&out, 1);
    assert!(
        stdout(&out).contains("1 job done, 1 failed"),
        "{}",
        stdout(&out)
    );
    // Nothing is left to train, but the grid is not finished.
    let out = s.run_quiet(&[]).output().unwrap();
    expect_code(&out, 1);
    let text = stdout(&out);
    assert!(text.contains("0 jobs done, 0 failed"), "{text}");
    assert!(
        text.contains("1 job failed in an earlier run and was skipped")
            && text.contains("trains it again"),
        "{text}"
    );
    assert!(text.contains("--retry-failed"), "{text}");
    // A script reading the events learns the same: `run_ended` counts the skipped failed job.
    let out = s.run_quiet(&["--events", "json"]).output().unwrap();
    expect_code(&out, 1);
    let ended: serde_json::Value = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "run_ended")
        .expect("a run_ended event");
    assert_eq!(ended["failed"], 0, "{ended}");
    assert_eq!(ended["failed_earlier"], 1, "{ended}");
}

// ----- 1. diverged jobs ------------------------------------------------------------------------

/// `lr = [1e30, 0.001]`: the first job's loss becomes NaN. It is failed with what happened and
/// what to try, the other job trains, the run exits 1, and no NaN reaches the database; a rerun
/// is not blocked by it.
#[test]
fn a_diverged_job_is_failed_with_advice_and_the_others_train() {
    let s = Setup::new(
        "name = \"diverge\"\n[fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\nepochs = 2\n\
         batch = 32\ndense = 16\nlayer1 = 4\n\n[axes]\nlr = [1e30, 0.001]\n",
    );
    let out = s.run_quiet(&[]).output().unwrap();
    expect_code(&out, 1);
    assert!(
        stdout(&out).contains("1 job done, 1 failed"),
        "{}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains("diverged: the training loss became NaN at epoch 1, batch")
            && err.contains("lr=1e30: failed"),
        "{err}"
    );
    assert!(
        !err.contains("locked"),
        "no hint at a locked database: {err}"
    );

    let db = Db::open(&s.db());
    let jobs: Vec<(f64, String, Option<String>)> =
        db.rows("SELECT lr, status, last_error FROM jobs ORDER BY seq");
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0].1, "failed", "{jobs:?}");
    let reason = jobs[0].2.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with("diverged: the training loss became NaN at epoch 1, batch ")
            && reason.contains("lower lr (it is 1e30)"),
        "{reason}"
    );
    assert_eq!((jobs[1].1.as_str(), jobs[1].2.as_deref()), ("done", None));
    // `tune status` shows the whole reason, advice included.
    let out = s.tune_db(&["status"]).output().unwrap();
    expect_code(&out, 0);
    assert!(
        stdout(&out).contains("lower lr (it is 1e30), or check the data"),
        "{}",
        stdout(&out)
    );
    // Only finite figures, all of the finished job.
    assert_eq!(db.int("SELECT COUNT(*) FROM results"), 1);
    assert_eq!(
        db.int(
            "SELECT COUNT(*) FROM epoch_metrics WHERE job_key = \
             (SELECT key FROM jobs WHERE status = 'failed')"
        ),
        0
    );
    assert_eq!(db.int("SELECT COUNT(*) FROM epoch_metrics"), 2);
    drop(db);

    // Readers agree: the report ranks the one finished job, by loss too.
    let out = s
        .tune_db(&["report", "--sort", "loss", "--format", "json"])
        .output()
        .unwrap();
    expect_code(&out, 0);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["jobs"], 1, "{report}");
    assert!(!stdout(&out).contains("NaN"), "{report}");

    // A rerun (also with --retry-failed) does not stop at the diverged job.
    let out = s.run_quiet(&["--retry-failed"]).output().unwrap();
    expect_code(&out, 1);
    assert!(
        stdout(&out).contains("0 jobs done, 1 failed"),
        "{}",
        stdout(&out)
    );
}

/// A database written before figures were checked may hold an infinity (SQLite stores one;
/// PostgreSQL even stored NaN): opening it for a run fails such a job as diverged, so every
/// reader sees the same finite figures.
#[test]
fn a_non_finite_figure_from_an_older_tune_becomes_a_failed_job() {
    let s = Setup::new(&small_grid(2, 1));
    expect_code(&s.run_quiet(&[]).output().unwrap(), 0);
    let db = Db::open(&s.db());
    // Undo this version's migration, as if the file came from an older tune, and store an
    // infinity where an older tune could have.
    db.execute("DELETE FROM _sqlx_migrations WHERE version = 20261201000200");
    db.execute("ALTER TABLE jobs DROP COLUMN faults");
    db.execute(
        "UPDATE results SET test_loss = 9e999 WHERE job_key = (SELECT key FROM jobs WHERE seq = \
         (SELECT MIN(seq) FROM jobs))",
    );
    drop(db);
    let out = s.run_quiet(&[]).output().unwrap();
    expect_code(&out, 1);
    assert!(
        stdout(&out).contains("1 job failed in an earlier run and was skipped"),
        "{}",
        stdout(&out)
    );
    let db = Db::open(&s.db());
    let jobs: Vec<(String, Option<String>)> =
        db.rows("SELECT status, last_error FROM jobs ORDER BY seq");
    assert_eq!(jobs[0].0, "failed", "{jobs:?}");
    assert!(
        jobs[0]
            .1
            .as_deref()
            .unwrap_or_default()
            .starts_with("diverged:"),
        "{jobs:?}"
    );
    assert_eq!(jobs[1], ("done".to_string(), None));
    assert_eq!(db.int("SELECT COUNT(*) FROM results"), 1);
    assert_eq!(
        db.int("SELECT COUNT(*) FROM results WHERE test_loss > 1e308 OR test_loss < -1e308"),
        0
    );
}

// ----- 2. data that cannot train ---------------------------------------------------------------

/// Writes a self-consistent IDX set of `train`/`test` images of `side`x`side` under
/// `root/fashion-mnist/`; returns `root`.
fn idx_set(root: &Path, train: usize, test: usize, side: usize) -> PathBuf {
    let dir = root.join("fashion-mnist");
    std::fs::create_dir_all(&dir).unwrap();
    for (prefix, n) in [("train", train), ("t10k", test)] {
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let images = Images {
            count: n,
            rows: side,
            cols: side,
            pixels: (0..n * side * side).map(|i| (i % 251) as u8).collect(),
        };
        write_idx(&dir, prefix, &images, &labels);
    }
    root.to_path_buf()
}

/// `tune train` on `data` with one quick epoch.
fn train_cmd(cwd: &Path, data: &Path, extra: &[&str]) -> Command {
    let mut cmd = tune(cwd);
    cmd.args([
        "train",
        "--filters",
        "4",
        "--dense",
        "16",
        "--epochs",
        "1",
        "--quiet",
    ])
    .arg("--data-dir")
    .arg(data)
    .args(extra);
    cmd
}

#[test]
fn a_split_without_images_is_a_data_error_naming_the_file() {
    for (train, test, file, split) in [
        (0, 64, "train-images-idx3-ubyte.gz", "training"),
        (256, 0, "t10k-images-idx3-ubyte.gz", "test"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let data = idx_set(&tmp.path().join("data"), train, test, 28);
        let out = train_cmd(tmp.path(), &data, &[]).output().unwrap();
        expect_code(&out, 2);
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "{file}: holds 0 images, a {split} split needs at least one"
            )),
            "{err}"
        );
        assert!(
            stdout(&out).is_empty(),
            "no accuracy is reported: {}",
            stdout(&out)
        );

        // Under `tune run`, the job is failed with the reason and the run ends with it.
        let grid = write_grid(tmp.path(), "grid.toml", &small_grid(2, 1));
        let db = tmp.path().join("results.db");
        let out = tune(tmp.path())
            .arg("run")
            .arg(&grid)
            .arg("--db")
            .arg(&db)
            .arg("--data-dir")
            .arg(&data)
            .args(["--jobs", "1", "--quiet"])
            .output()
            .unwrap();
        expect_code(&out, 2);
        assert!(stderr(&out).contains("holds 0 images"), "{}", stderr(&out));
        let db = Db::open(&db);
        assert_eq!(db.int("SELECT COUNT(*) FROM results"), 0);
        assert_eq!(db.int("SELECT COUNT(*) FROM jobs WHERE status = 'done'"), 0);
        assert_eq!(
            db.int("SELECT COUNT(*) FROM jobs WHERE status = 'failed'"),
            1
        );
    }
}

/// Asking for more training images than there are is refused: what is recorded is what ran.
#[test]
fn more_training_images_than_there_are_is_an_error() {
    let s = Setup::new(
        "name = \"many\"\n[fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\nepochs = 1\n\
         batch = 32\ndense = 16\nlayer1 = 4\n\n[axes]\ntrain_images = [100000, 100]\n",
    );
    let out = train_cmd(s.tmp.path(), &s.data, &["--train-images", "100000"])
        .output()
        .unwrap();
    expect_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains(
            "train_images = 100000, but data set `fashion-mnist` has only 256 training images"
        ),
        "{err}"
    );

    assert!(err.contains("--train-images"), "{err}");

    // A grid asking for more is refused before anything is enqueued or trained, naming the grid
    // file, the value, what fits and where to change it; its dry run says the same.
    for extra in [&[][..], &["--dry-run"][..]] {
        let out = s.run_quiet(extra).output().unwrap();
        expect_code(&out, 2);
        let err = stderr(&out);
        assert!(
            err.contains("grid.toml: a setting of the grid cannot run on the data that is here")
                && err.contains(
                    "train_images = 100000, but data set `fashion-mnist` has only 235 training \
                     images besides the 21 held out for validation: use at most 235"
                )
                && err.contains("Change train_images (or validation) in the grid file"),
            "{extra:?}: {err}"
        );
        assert!(!err.contains("--train-images"), "{err}");
    }
    assert!(
        !s.db().exists() || Db::open(&s.db()).rows::<(i64,)>("SELECT count(*) FROM jobs")[0].0 == 0,
        "nothing is enqueued"
    );

    // The same for a holdout that leaves nothing to train on.
    let s = Setup::new(
        "name = \"holdout\"\n[fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\nepochs = 1\n\
         batch = 32\ndense = 16\nlayer1 = 4\n\n[axes]\nvalidation = [{ holdout = 1000 }, \"test\"]\n",
    );
    let out = s.run_quiet(&[]).output().unwrap();
    expect_code(&out, 2);
    assert!(
        stderr(&out).contains(
            "a holdout of 1000 images leaves nothing to train on (data set `fashion-mnist` has \
             256 training images)"
        ),
        "{}",
        stderr(&out)
    );
}

/// 32x32 images under a 28x28 data set's name: a data error at load time naming the file, the
/// expected and the found size, and no backtrace on screen or in the database, even with
/// `RUST_BACKTRACE=1`.
#[test]
fn images_of_the_wrong_size_are_refused_at_load_without_a_backtrace() {
    let tmp = tempfile::tempdir().unwrap();
    let data = idx_set(&tmp.path().join("data"), 64, 16, 32);
    let expected = "train-images-idx3-ubyte.gz: images are 32x32, but data set `fashion-mnist` \
                    has 28x28 images";
    let out = train_cmd(tmp.path(), &data, &[])
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    expect_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains(expected), "{err}");
    assert!(!err.contains("backtrace") && err.len() < 1000, "{err}");

    let grid = write_grid(tmp.path(), "grid.toml", &small_grid(1, 1));
    let db = tmp.path().join("results.db");
    let out = tune(tmp.path())
        .arg("run")
        .arg(&grid)
        .arg("--db")
        .arg(&db)
        .arg("--data-dir")
        .arg(&data)
        .args(["--jobs", "1", "--quiet"])
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    expect_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains(expected), "{err}");
    assert!(!err.contains("backtrace") && err.len() < 2000, "{err}");
    let db = Db::open(&db);
    let error = db.text("SELECT last_error FROM jobs");
    assert!(error.contains(expected), "{error}");
    assert!(
        !error.contains("backtrace") && error.len() < 1000,
        "{error}"
    );
}

// ----- 12. attempts count the job's faults -----------------------------------------------------

/// One job of 8 epochs, each long enough (about 0.2 s) to kill the run between them.
fn long_job_grid() -> String {
    "name = \"long\"\n[fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\nepochs = 8\n\
     batch = 32\ndense = 64\nlayer1 = 64\n"
        .to_string()
}

/// Three `kill -9`s of a run whose job finished an epoch before each: the job made progress every
/// time, so it is not given up on, and the next run finishes it.
#[test]
fn a_job_that_makes_progress_between_kills_is_not_failed() {
    let s = Setup::new(&long_job_grid());
    let mut epochs = 0;
    for _ in 0..3 {
        let mut child = s
            .run_quiet(&[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for(&s.db(), &mut child, Duration::from_secs(60), |db| {
            db.try_int("SELECT COUNT(*) FROM epoch_metrics")
                .is_some_and(|n| n > epochs)
        });
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        epochs = Db::open(&s.db()).int("SELECT COUNT(*) FROM epoch_metrics");
    }
    assert!(
        epochs < 8,
        "the job finished before the third kill ({epochs} epochs)"
    );
    let out = s.run_quiet(&[]).output().unwrap();
    expect_code(&out, 0);
    assert!(
        stdout(&out).contains("1 job done, 0 failed"),
        "{}",
        stdout(&out)
    );
    let db = Db::open(&s.db());
    let (status, attempts): (String, i64) =
        db.rows("SELECT status, attempts FROM jobs").pop().unwrap();
    assert_eq!(status, "done");
    assert_eq!(attempts, 4, "three killed attempts and the last one");
    assert_eq!(db.int("SELECT COUNT(*) FROM epoch_metrics"), 8);
}

/// SIGHUP (a closed terminal or ssh session) stops the run cleanly, like SIGTERM: exit 130, the
/// job interrupted with its attempt given back.
#[test]
fn sighup_stops_the_run_cleanly() {
    let s = Setup::new(&long_job_grid());
    let mut child = s
        .run_quiet(&[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&s.db(), &mut child, Duration::from_secs(60), |db| {
        db.try_int("SELECT COUNT(*) FROM epoch_metrics") >= Some(1)
    });
    let sent = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = wait_exit(&mut child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(130), "{}", stderr(&out));
    let db = Db::open(&s.db());
    let (status, attempts): (String, i64) =
        db.rows("SELECT status, attempts FROM jobs").pop().unwrap();
    assert_eq!((status.as_str(), attempts), ("interrupted", 0));
}

// ----- 5. weights on a full disk ---------------------------------------------------------------

/// A small tmpfs mounted for the life of the value (needs root, as CI has; `None` otherwise).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// `--save-weights` onto a full disk (a 256 KiB tmpfs: the larger job trains first and its 212 KiB
/// of weights fit, the smaller one's 170 KiB then do not): the run says how many files are missing and exits 69; the weights
/// stay in the store, and once there is space the next run with `--save-weights` writes them.
#[test]
fn weights_that_cannot_be_written_are_kept_until_a_later_run_writes_them() {
    let text = small_grid(2, 1);
    let s = Setup::new(&text);
    let keys: Vec<String> = tune_grid::parse(&text, "small.toml")
        .unwrap()
        .jobs
        .iter()
        .map(|j| j.key())
        .collect();
    let weights = s.tmp.path().join("weights");
    let Some(disk) = Tmpfs::mount(&weights, "256k") else {
        eprintln!("note: skipped: mounting a tmpfs needs root");
        return;
    };

    let out = s
        .run_quiet(&["--save-weights"])
        .arg(&weights)
        .output()
        .unwrap();
    expect_code(&out, 69);
    let text = stdout(&out);
    assert!(text.contains("2 jobs done, 0 failed"), "{text}");
    assert!(text.contains("1 weight file missing"), "{text}");
    assert!(
        stderr(&out).contains("No space left on device"),
        "{}",
        stderr(&out)
    );
    let db = Db::open(&s.db());
    assert_eq!(db.int("SELECT COUNT(*) FROM jobs WHERE status = 'done'"), 2);
    assert_eq!(
        db.int("SELECT COUNT(*) FROM checkpoints"),
        1,
        "the weights are kept"
    );
    drop(db);
    let lost = weights.join(format!("{}.safetensors", keys[0]));
    assert!(weights.join(format!("{}.safetensors", keys[1])).is_file());
    assert!(!lost.exists(), "no partial file is left");

    // Space again: the next run writes the missing file and trains nothing.
    disk.resize("4m");
    let out = s
        .run_quiet(&["--save-weights"])
        .arg(&weights)
        .output()
        .unwrap();
    expect_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("0 jobs done, 0 failed"), "{text}");
    assert!(
        text.contains("1 weight file of earlier runs' jobs written"),
        "{text}"
    );
    assert_eq!(Db::open(&s.db()).int("SELECT COUNT(*) FROM checkpoints"), 0);
    let saved = candle_core::safetensors::load(&lost, &candle_core::Device::Cpu).unwrap();
    // The grid's first job's conv layer has 4 filters, and only weights are in the file.
    assert!(saved["conv1.kernel"].dims().contains(&4), "{saved:?}");
    assert!(
        saved
            .keys()
            .all(|k| !k.starts_with("rmsprop.") && !k.starts_with("tune."))
    );
}
