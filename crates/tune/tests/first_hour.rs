//! What a newcomer meets in the first hour: reports that show every setting that varies (and can
//! group, sort and filter by any), dry runs that estimate what is left from the data at hand and
//! handle very large grids, and the small things (offline fetch, `--jobs 0`, hints, plurals).

use crate::util::*;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Two grids of the same two architectures: 2 epochs on all 256 fixture images (dropout 0.5), and
/// 1 epoch on 128 of them with dropout 0.25, as the quick grid and a grid of one's own.
fn grids(dir: &Path) -> (PathBuf, PathBuf) {
    let a = write_grid(
        dir,
        "quick.toml",
        "name = \"quick\"\n[fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\nepochs = 2\n\
         batch = 32\ndense = 16\n\n[axes]\nfilters = [[4], [4, 6]]\n",
    );
    let b = write_grid(
        dir,
        "own.toml",
        "name = \"own\"\n[fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\nepochs = 2\n\
         batch = 32\ndense = 16\ntrain_images = 128\n\n[axes]\nfilters = [[4], [4, 6]]\n\
         dropout = [0.25, 0.5]\n",
    );
    (a, b)
}

struct Trained {
    tmp: tempfile::TempDir,
    data: PathBuf,
    db: PathBuf,
    own: PathBuf,
    /// Standard error of training the second grid (progress lines: stderr is not a terminal).
    own_stderr: String,
}

impl Trained {
    fn new() -> Trained {
        let tmp = tempfile::tempdir().unwrap();
        let data = fixture_data(&tmp.path().join("data"));
        let (quick, own) = grids(tmp.path());
        let db = tmp.path().join("results.db");
        let mut own_stderr = String::new();
        for (grid, quiet) in [(&quick, true), (&own, false)] {
            let mut cmd = tune(tmp.path());
            cmd.arg("run")
                .arg(grid)
                .arg("--db")
                .arg(&db)
                .arg("--data-dir")
                .arg(&data)
                .args(["--jobs", "2", "--threads-per-job", "1"]);
            if quiet {
                cmd.arg("--quiet");
            }
            own_stderr = stderr(&run(&mut cmd, true));
        }
        Trained {
            tmp,
            data,
            db,
            own,
            own_stderr,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = tune(self.tmp.path());
        cmd.args(args).arg("--db").arg(&self.db);
        cmd
    }
}

/// Rows of a dry run's table whose state column says `state`.
fn rows_in_state(text: &str, state: &str) -> usize {
    text.lines()
        .filter(|l| l.starts_with("│ ") && l.contains(&format!("   {state}   ")))
        .count()
}

#[test]
fn reports_show_filter_group_and_sort_by_every_setting_that_varies() {
    let t = Trained::new();

    // Progress lines name the settings that vary in the run: four distinct labels.
    let done: Vec<&str> = t
        .own_stderr
        .lines()
        .filter(|l| l.contains("done: test accuracy"))
        .collect();
    assert_eq!(done.len(), 4, "{}", t.own_stderr);
    for l in &done {
        assert!(l.contains("dropout=0."), "{l}");
    }
    let mut labels: Vec<&str> = done
        .iter()
        .map(|l| l.split(": done").next().unwrap().split_once(' ').unwrap().1)
        .collect();
    labels.sort();
    labels.dedup();
    assert_eq!(labels.len(), 4, "{labels:?}");

    // The table: train_images and dropout are columns, and the pooled summary says so.
    let out = run(&mut t.cmd(&["report", "--by", "layers"]), true);
    let text = stdout(&out);
    assert!(
        text.contains("train_images") && text.contains("dropout"),
        "{text}"
    );
    assert!(
        text.contains("note: layers = 1 pools jobs with different train_images (128, all)"),
        "{text}"
    );

    // CSV carries every setting.
    let out = run(&mut t.cmd(&["report", "--format", "csv"]), true);
    let header = stdout(&out).lines().next().unwrap().to_string();
    for col in [
        "train_images",
        "validation",
        "dataset",
        "epochs",
        "dropout",
        "rho",
        "eps",
    ] {
        assert!(header.split(',').any(|c| c == col), "{header}");
    }

    // --where filters (repeatable), --by and --sort take every setting.
    let out = run(
        &mut t.cmd(&[
            "report",
            "--where",
            "train_images=all",
            "--where",
            "layers=1",
            "--format",
            "csv",
        ]),
        true,
    );
    assert_eq!(stdout(&out).lines().count(), 2, "{}", stdout(&out));
    let out = run(
        &mut t.cmd(&["report", "--where", "dropout=0.25", "--by", "layers"]),
        true,
    );
    assert!(
        stdout(&out).starts_with("2 finished jobs"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("note:"), "{}", stdout(&out));
    let out = run(
        &mut t.cmd(&["report", "--by", "train_images", "--sort", "validation"]),
        true,
    );
    assert!(
        stdout(&out).contains("train_images = 128: 4 jobs"),
        "{}",
        stdout(&out)
    );
    let out = run(&mut t.cmd(&["report", "--where", "colour=red"]), false);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown field `colour`") && stderr(&out).contains("train_images"),
        "{}",
        stderr(&out)
    );
    let out = run(&mut t.cmd(&["report", "--where", "dropout=0.3"]), false);
    assert!(
        stderr(&out).contains("no finished job matches --where dropout=0.3")
            && stderr(&out).contains("dropout: 0.25, 0.5"),
        "{}",
        stderr(&out)
    );

    // plot depth says what it pools.
    let out = run(&mut t.cmd(&["plot", "depth"]), true);
    assert!(
        stderr(&out).contains(
            "note: layers = 1, dataset = fashion-mnist pools jobs with different train_images"
        ),
        "{}",
        stderr(&out)
    );
    let out = run(
        &mut t.cmd(&["plot", "depth", "--where", "train_images=all"]),
        true,
    );
    assert!(!stderr(&out).contains("note:"), "{}", stderr(&out));

    // JSON: sweeps only where known.
    let out = run(&mut t.cmd(&["report", "--format", "json"]), true);
    assert!(!stdout(&out).contains("\"sweeps\""), "{}", stdout(&out));
    let out = run(
        &mut t.cmd(&["report", "--format", "json", "--sweep", "own"]),
        true,
    );
    assert!(stdout(&out).contains("\"sweeps\": [\n"), "{}", stdout(&out));
    // By its id (`own-HASH8`), as the dashboard's JSON names it.
    assert!(stdout(&out).contains("\"own-"), "{}", stdout(&out));

    // An unknown sweep lists the real ones; an ambiguous key ends without a stray "...".
    let out = run(&mut t.cmd(&["report", "--sweep", "nope"]), false);
    assert!(
        stderr(&out).contains("its sweeps are: quick (") && stderr(&out).contains("own ("),
        "{}",
        stderr(&out)
    );
    let out = run(&mut t.cmd(&["confusion", ""]), false);
    let err = stderr(&out);
    assert!(
        err.contains("matches 6 jobs") && err.contains("and 3 more)"),
        "{err}"
    );
    assert!(!err.contains("..."), "{err}");

    // A dry run of a finished grid has nothing left, and says so job by job.
    let mut dry = t.cmd(&[
        "run",
        t.own.to_str().unwrap(),
        "--dry-run",
        "--no-calibrate",
    ]);
    let out = run(dry.arg("--data-dir").arg(&t.data), true);
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("{}: 4 jobs\n", t.own.display())),
        "{text}"
    );
    assert_eq!(rows_in_state(&text, "done"), 4, "{text}");
    assert!(
        text.contains("estimated wall time 0s for 0 jobs left (4 done or skipped)"),
        "{text}"
    );
    assert!(
        text.contains("data: fashion-mnist: 256 training and 64 test images in"),
        "{text}"
    );
    // Labels in the dry run name the varying settings too.
    assert!(text.contains("dropout"), "{text}");
}

#[test]
fn a_dry_run_estimates_what_is_left_of_a_half_run_grid() {
    let tmp = tempfile::tempdir().unwrap();
    let data = fixture_data(&tmp.path().join("data"));
    let grid = write_grid(tmp.path(), "grid.toml", &small_grid(2, 3));
    let db = tmp.path().join("results.db");
    let dry = |extra: &[&str]| {
        let out = run(
            tune(tmp.path())
                .arg("run")
                .arg(&grid)
                .arg("--db")
                .arg(&db)
                .arg("--data-dir")
                .arg(&data)
                .args(["--dry-run", "--jobs", "1", "--threads-per-job", "1"])
                .args(extra),
            true,
        );
        stdout(&out)
    };
    let before = dry(&[]);
    assert_eq!(rows_in_state(&before, "new"), 2, "{before}");
    // Calibrated on this machine and cached.
    assert!(
        before.contains("from speeds calibrated on this machine"),
        "{before}"
    );
    assert!(tmp.path().join("cache/throughput.json").exists());
    // Train one of the two jobs.
    run(
        tune(tmp.path())
            .args([
                "run",
                "grid.toml",
                "--shard",
                "1/2",
                "--quiet",
                "--data-dir",
            ])
            .arg(&data)
            .arg("--db")
            .arg(&db),
        true,
    );
    let after = dry(&[]);
    assert_eq!(rows_in_state(&after, "new"), 1, "{after}");
    assert_eq!(rows_in_state(&after, "done"), 1, "{after}");
    assert!(
        after.contains("for 1 job left (1 done or skipped)"),
        "{after}"
    );
}

#[test]
fn very_large_grids_are_summarised_and_need_a_flag() {
    let tmp = tempfile::tempdir().unwrap();
    // 101 x 100 = 10,100 jobs.
    let lrs: Vec<String> = (1..=101).map(|i| format!("{i}e-5")).collect();
    let seeds: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
    let text = format!(
        "name = \"big\"\n[fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\nepochs = 1\n\
         layer1 = 4\ndense = 16\n\n[axes]\nlr = [{}]\nseed = [{}]\n",
        lrs.join(", "),
        seeds.join(", ")
    );
    write_grid(tmp.path(), "big.toml", &text);
    let out = run(
        tune(tmp.path()).args(["run", "big.toml", "--dry-run", "--no-calibrate"]),
        true,
    );
    let text = stdout(&out);
    assert!(text.starts_with("big.toml: 10,100 jobs\n"), "{text}");
    assert!(
        text.contains("a summary instead of one row per job"),
        "{text}"
    );
    assert!(text.lines().count() < 40, "{text}");
    // The data set is not here: the estimate says so.
    assert!(
        stderr(&out).contains("warning: the grid needs data set `fashion-mnist`")
            || text.contains("data: fashion-mnist: "),
        "{}",
        stderr(&out)
    );

    // A real run wants --large, and writes nothing without it.
    let out = run(tune(tmp.path()).args(["run", "big.toml"]), false);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--large"), "{}", stderr(&out));
    assert!(!tmp.path().join("results").exists());

    // With it, the jobs go in in batches, with progress.
    let out = run(
        tune(tmp.path()).args(["run", "big.toml", "--large", "--enqueue", "--db", "big.db"]),
        true,
    );
    assert!(
        stderr(&out).contains("enqueued 5,000 of 10,100 jobs")
            && stderr(&out).contains("enqueued 10,100 of 10,100 jobs"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("enqueued 10,100 jobs (10,100 new)"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_job_limit_holds_whatever_multiplies_the_count() {
    let tmp = tempfile::tempdir().unwrap();
    write_grid(tmp.path(), "grid.toml", &small_grid(2, 1));
    let out = run(
        tune(tmp.path()).args(["run", "grid.toml", "--dry-run", "--repeats", "100000000"]),
        false,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "2 jobs x --repeats 100000000 = 200,000,000 jobs, more than the limit of 1,000,000"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_dry_run_warns_about_a_data_set_that_is_not_here() {
    let tmp = tempfile::tempdir().unwrap();
    let data = fixture_data(&tmp.path().join("data"));
    std::fs::remove_dir_all(data.join("mnist")).unwrap();
    let text = "name = \"cmp\"\n[fixed]\nmodel = \"cnn\"\nepochs = 1\nlayer1 = 4\ndense = 16\n\n\
                [axes]\ndataset = [\"fashion-mnist\", \"mnist\"]\n";
    write_grid(tmp.path(), "grid.toml", text);
    let out = run(
        tune(tmp.path())
            .args([
                "run",
                "grid.toml",
                "--dry-run",
                "--no-calibrate",
                "--data-dir",
            ])
            .arg(&data),
        true,
    );
    let err = stderr(&out);
    assert!(
        err.contains("warning: the grid needs data set `mnist`, which is not here"),
        "{err}"
    );
    assert!(err.contains("tune data fetch mnist"), "{err}");
    assert!(!err.contains("`fashion-mnist`, which is not here"), "{err}");
}

#[test]
fn fetch_offline_says_so_once_exits_unavailable_and_leaves_no_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", l.local_addr().unwrap())
    };
    let out = run(
        tune(tmp.path()).args(["data", "fetch", "mnist", "--mirror", &closed]),
        false,
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(69), "{err}");
    assert_eq!(err.matches("Check the network").count(), 1, "{err}");
    assert!(err.contains("--data-dir DIR"), "{err}");
    assert!(
        !tmp.path().join("cache").exists(),
        "an empty cache folder was left"
    );
}

#[test]
fn zero_jobs_or_threads_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    write_grid(tmp.path(), "grid.toml", &small_grid(1, 1));
    for flag in ["--jobs", "--threads-per-job"] {
        let out = run(
            tune(tmp.path()).args(["run", "grid.toml", "--dry-run", flag, "0"]),
            false,
        );
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out).contains("`0` is not a count of 1 or more"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn a_data_folder_that_does_not_exist_is_an_error_from_flag_and_variable_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-folder");
    let train = |cmd: &mut Command| {
        let out = run(cmd, false);
        stderr(&out)
    };
    let args = ["train", "--epochs", "1", "--filters", "4", "--dense", "8"];
    let by_flag = train(tune(tmp.path()).args(args).arg("--data-dir").arg(&missing));
    let by_env = train(tune(tmp.path()).args(args).env("TUNE_DATA_DIR", &missing));
    for err in [&by_flag, &by_env] {
        assert!(err.contains(&missing.display().to_string()), "{err}");
        assert!(err.contains("does not exist"), "{err}");
        assert!(err.contains("no other place is searched"), "{err}");
    }
}

/// Figures calibrated while other processes kept the CPU busy are called out with the way to
/// measure again, `--recalibrate` measures again whatever is cached, and it only goes with a dry
/// run.
#[test]
fn a_calibration_on_a_busy_machine_says_so_and_can_be_redone() {
    let tmp = tempfile::tempdir().unwrap();
    let data = fixture_data(&tmp.path().join("data"));
    let grid = write_grid(tmp.path(), "grid.toml", &small_grid(1, 1));
    let dry = |extra: &[&str]| {
        let out = run(
            tune(tmp.path())
                .arg("run")
                .arg(&grid)
                .arg("--data-dir")
                .arg(&data)
                .args(["--dry-run", "--jobs", "1", "--threads-per-job", "1"])
                .args(extra),
            true,
        );
        stderr(&out)
    };
    // Two spinning processes keep more than a core busy whatever else runs.
    let spin = || {
        std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap()
    };
    let mut spinners = [spin(), spin()];
    let busy = dry(&[]);
    for s in &mut spinners {
        s.kill().unwrap();
        s.wait().unwrap();
    }
    assert!(busy.contains("calibrating 1 architecture"), "{busy}");
    assert!(
        busy.contains("CPU cores busy while these figures were calibrated")
            && busy.contains("--dry-run --recalibrate"),
        "{busy}"
    );
    let cached = dry(&[]);
    assert!(!cached.contains("calibrating"), "cached: {cached}");
    let again = dry(&["--recalibrate"]);
    assert!(again.contains("calibrating 1 architecture"), "{again}");
    let out = run(
        tune(tmp.path()).arg("run").arg(&grid).arg("--recalibrate"),
        false,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--dry-run"), "{}", stderr(&out));
}
