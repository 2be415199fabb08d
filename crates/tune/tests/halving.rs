//! Successive halving over a grid (issue 15): the `[search]` table at the CLI, the dry run's rung
//! plan, `tune run` on SQLite (survivors bit-identical to straight training, deterministic
//! decisions, kill -9 mid-rung), the report, status and `--replay-halving`.

use crate::util::db::Db;
use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// 4 configurations of a 1-layer CNN, 4 epochs, on the fixture data's holdout; `search` is the
/// `[search]` table (empty: a full grid).
fn grid(search: &str) -> String {
    format!(
        "name = \"hv\"\n{search}\n[fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\n\
         epochs = 4\nbatch = 32\nlayer1 = 32\nvalidation = {{ holdout = 64 }}\n\
         [axes]\ndense = [8, 16, 32, 64]\n"
    )
}

const HALVING: &str = "[search]\nstrategy = \"halving\"\neta = 2\nmin_epochs = 1\n";

/// A temporary directory with the fixture data.
struct Setup {
    tmp: tempfile::TempDir,
    data: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        Setup::sized(TRAIN, TEST)
    }

    /// [`Setup::new`] with `train` training and `test` test images.
    fn sized(train: usize, test: usize) -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let data = fixture_data_sized(&tmp.path().join("data"), train, test);
        Setup { tmp, data }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn grid(&self, name: &str, text: &str) -> PathBuf {
        write_grid(self.tmp.path(), name, text)
    }

    /// `tune run GRID --db DB --data-dir DATA --jobs J --threads-per-job 1 --quiet EXTRA...`.
    fn run_cmd(&self, grid: &Path, db: &Path, jobs: usize, extra: &[&str]) -> Command {
        let mut cmd = tune(self.tmp.path());
        cmd.arg("run")
            .arg(grid)
            .arg("--db")
            .arg(db)
            .arg("--data-dir")
            .arg(&self.data)
            .args(["--jobs", &jobs.to_string(), "--threads-per-job", "1"])
            .arg("--quiet")
            .args(extra);
        cmd
    }

    /// `tune run GRID --dry-run --no-calibrate EXTRA...` with `--db DB`: its stdout, after
    /// checking that it exited 0.
    fn dry_run(&self, grid: &Path, db: &Path, extra: &[&str]) -> String {
        let mut args = vec!["--dry-run", "--no-calibrate"];
        args.extend(extra);
        let out = self.run_cmd(grid, db, 1, &args).output().unwrap();
        expect_code(&out, 0);
        stdout(&out)
    }

    /// [`Setup::dry_run`] with `--format json`, parsed.
    fn dry_run_json(&self, grid: &Path, db: &Path) -> serde_json::Value {
        serde_json::from_str(&self.dry_run(grid, db, &["--format", "json"])).unwrap()
    }

    /// `tune ARGS... --db DB`.
    fn tune(&self, db: &Path, args: &[&str]) -> Command {
        let mut cmd = tune(self.tmp.path());
        cmd.args(args).arg("--db").arg(db);
        cmd
    }
}

fn expect_code(out: &Output, expected: i32) {
    assert_eq!(
        out.status.code(),
        Some(expected),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

/// Every recorded epoch's figures but its seconds: (key, epoch, train_loss, train_accuracy,
/// val_loss, val_accuracy).
type Epochs = Vec<(String, i64, f64, f64, f64, f64)>;

fn epochs(db: &Db) -> Epochs {
    db.rows(
        "SELECT job_key, epoch, train_loss, train_accuracy, val_loss, val_accuracy \
         FROM epoch_metrics ORDER BY job_key, epoch",
    )
}

/// (key, test_loss, test_accuracy) of every result.
fn results(db: &Db) -> Vec<(String, f64, f64)> {
    db.rows("SELECT job_key, test_loss, test_accuracy FROM results ORDER BY job_key")
}

/// (rung, epoch, decision JSON) of every decision.
fn decisions(db: &Db) -> Vec<(i64, i64, String)> {
    db.rows("SELECT rung, epoch, decision FROM rung_decisions ORDER BY rung")
}

/// (key, status, halt, stop_at) of every job.
fn states(db: &Db) -> Vec<(String, String, Option<String>, Option<i64>)> {
    db.rows("SELECT key, status, halt, stop_at FROM jobs ORDER BY key")
}

#[test]
fn survivors_equal_straight_training_and_pruned_jobs_keep_their_epochs() {
    let s = Setup::new();
    let halving = s.grid("halving.toml", &grid(HALVING));
    let full = s.grid("full.toml", &grid(""));
    let (hdb, fdb) = (s.path("halving.db"), s.path("full.db"));
    let out = s.run_cmd(&halving, &hdb, 1, &[]).output().unwrap();
    expect_code(&out, 0);
    assert!(
        stdout(&out).contains("3 pruned by halving"),
        "{}",
        stdout(&out)
    );
    let out = s.run_cmd(&full, &fdb, 1, &[]).output().unwrap();
    expect_code(&out, 0);

    let (h, f) = (Db::open(&hdb), Db::open(&fdb));
    // 4 configurations, eta 2, rungs 1, 2, 4: 4 -> 2 -> 1; two decisions.
    let d = decisions(&h);
    assert_eq!(
        d.iter().map(|(r, e, _)| (*r, *e)).collect::<Vec<_>>(),
        vec![(0, 1), (1, 2)]
    );
    let st = states(&h);
    let done: Vec<&String> = st
        .iter()
        .filter(|(_, s, halt, _)| s == "done" && halt.is_none())
        .map(|(k, ..)| k)
        .collect();
    let pruned: Vec<(&String, Option<i64>)> = st
        .iter()
        .filter(|(_, _, halt, _)| halt.as_deref() == Some("pruned"))
        .map(|(k, _, _, stop)| (k, *stop))
        .collect();
    assert_eq!(done.len(), 1, "{st:?}");
    assert_eq!(pruned.len(), 3, "{st:?}");
    // Epochs: 4 x 1 + 2 x 1 + 1 x 2 = 8 of the full grid's 16, each recorded once.
    let he = epochs(&h);
    assert_eq!(he.len(), 8, "{he:?}");
    assert_eq!(f.int("SELECT COUNT(*) FROM epoch_metrics"), 16);
    // No checkpoint is left behind for pruned (or finished) jobs.
    assert_eq!(h.int("SELECT COUNT(*) FROM checkpoints"), 0);

    // Every epoch halving trained, of the survivor and of the pruned jobs, is bit for bit the
    // full grid's epoch of the same job; so is the survivor's result.
    let fe = epochs(&f);
    for e in &he {
        assert!(fe.contains(e), "epoch {e:?} differs from the full grid's");
    }
    for (key, stop) in &pruned {
        let n = he.iter().filter(|e| &e.0 == *key).count() as i64;
        assert_eq!(
            Some(n),
            *stop,
            "pruned job {key} keeps its epochs to its rung"
        );
    }
    let hr = results(&h);
    assert_eq!(hr.len(), 1);
    assert!(
        results(&f).contains(&hr[0]),
        "the survivor's result {:?} differs from straight training",
        hr[0]
    );
    assert_eq!(&hr[0].0, done[0]);
}

#[test]
fn decisions_are_deterministic_whatever_the_concurrency() {
    let s = Setup::new();
    let g = s.grid("halving.toml", &grid(HALVING));
    let (a, b) = (s.path("a.db"), s.path("b.db"));
    expect_code(&s.run_cmd(&g, &a, 1, &[]).output().unwrap(), 0);
    expect_code(&s.run_cmd(&g, &b, 2, &[]).output().unwrap(), 0);
    let (a, b) = (Db::open(&a), Db::open(&b));
    assert_eq!(decisions(&a), decisions(&b));
    assert_eq!(results(&a), results(&b));
    assert_eq!(epochs(&a), epochs(&b));
    // The decision keeps the best half by mean validation accuracy at the rung's epoch.
    let (_, epoch, json) = &decisions(&a)[0];
    let d: serde_json::Value = serde_json::from_str(json).unwrap();
    let ranking = d["ranking"].as_array().unwrap();
    assert_eq!(ranking.len(), 4);
    let accs: Vec<f64> = ranking
        .iter()
        .map(|c| c["val_accuracy"].as_f64().unwrap())
        .collect();
    assert!(accs.windows(2).all(|w| w[0] >= w[1]), "{accs:?}");
    let kept: Vec<&str> = d["keep"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(kept.len(), 2);
    for (i, c) in ranking.iter().enumerate() {
        let key = c["keys"][0].as_str().unwrap();
        assert_eq!(kept.contains(&key), i < 2, "rank {i}");
        let val: f64 = a
            .rows_with::<(f64,)>(
                "SELECT val_accuracy FROM epoch_metrics WHERE job_key = $1 AND epoch = 1",
                key,
            )
            .pop()
            .unwrap()
            .0;
        assert_eq!(val, c["val_accuracy"].as_f64().unwrap());
    }
    assert_eq!(*epoch, 1);
}

/// Polls the database until `ready` holds, failing the test after two minutes or if `child`
/// exits first.
fn wait_for(db: &Path, child: &mut std::process::Child, ready: impl Fn(&Db) -> bool) {
    let start = Instant::now();
    loop {
        if let Some(db) = Db::try_open(db)
            && ready(&db)
        {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("tune exited ({status}) before the awaited state was reached");
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the awaited state was not reached in two minutes"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_run_killed_mid_rung_resumes_with_the_same_decisions_and_results() {
    let s = Setup::new();
    // Bigger networks, so that an epoch lasts long enough to kill the run inside a rung.
    let text = grid(HALVING).replace("layer1 = 32", "layer1 = 64");
    let g = s.grid("halving.toml", &text);
    let (straight, killed) = (s.path("straight.db"), s.path("killed.db"));
    expect_code(&s.run_cmd(&g, &straight, 1, &[]).output().unwrap(), 0);

    let mut child = s
        .run_cmd(&g, &killed, 1, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Rung 1 decided, and one job of rung 2 has trained its epoch 2: mid-rung 2.
    wait_for(&killed, &mut child, |db| {
        db.try_int("SELECT COUNT(*) FROM epoch_metrics WHERE epoch = 2")
            .is_some_and(|n| n >= 1)
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    {
        let db = Db::open(&killed);
        assert_eq!(
            db.int("SELECT COUNT(*) FROM rung_decisions"),
            1,
            "killed after rung 1's decision, before rung 2's"
        );
        assert_eq!(db.int("SELECT COUNT(*) FROM results"), 0);
    }
    let out = s.run_cmd(&g, &killed, 1, &[]).output().unwrap();
    expect_code(&out, 0);
    let (a, b) = (Db::open(&straight), Db::open(&killed));
    assert_eq!(decisions(&a), decisions(&b));
    assert_eq!(results(&a), results(&b));
    assert_eq!(epochs(&a), epochs(&b));
    let st = |db: &Db| {
        states(db)
            .into_iter()
            .map(|(k, s, h, _)| (k, s, h))
            .collect::<Vec<_>>()
    };
    assert_eq!(st(&a), st(&b));
}

#[test]
fn dry_run_prints_the_rung_plan() {
    let s = Setup::new();
    let g = s.grid("halving.toml", &grid(HALVING));
    let text = s.dry_run(&g, &s.path("r.db"), &[]);
    for line in [
        "successive halving (eta 2, min_epochs 1): 3 rungs over 4 configurations of 1 seed",
        "rung 1: epoch 1, 4 configurations (4 jobs) train 1 epoch more",
        "rung 2: epoch 2, 2 configurations (2 jobs) train 1 epoch more",
        "rung 3: epoch 4, 1 configuration (1 job) train 2 epochs more",
        "training epochs with halving: 8 of the full grid's 16 (50%)",
        "estimated wall time with halving:",
    ] {
        assert!(text.contains(line), "lacks {line:?}:\n{text}");
    }
    let v = s.dry_run_json(&g, &s.path("r.db"));
    assert_eq!(v["halving"]["epochs"], 8);
    assert_eq!(v["halving"]["full_grid_epochs"], 16);
    assert_eq!(v["halving"]["rungs"][2]["configurations"], 1);
    assert!(!s.path("r.db").exists(), "a dry run writes nothing");
}

#[test]
fn bad_search_settings_exit_2_naming_the_fix() {
    let s = Setup::new();
    let on_test = grid(HALVING).replace("validation = { holdout = 64 }", "validation = \"test\"");
    let g = s.grid("test.toml", &on_test);
    let out = s.run_cmd(&g, &s.path("r.db"), 1, &[]).output().unwrap();
    expect_code(&out, 2);
    let e = stderr(&out);
    assert!(e.contains("test.toml:2:2"), "{e}");
    assert!(e.contains("validation = { holdout = 5000 }"), "{e}");
    assert!(e.contains("allow_test_selection = true"), "{e}");
    assert!(!s.path("r.db").exists());

    let g = s.grid("eta.toml", &grid(HALVING).replace("eta = 2", "eta = 1"));
    let out = s.run_cmd(&g, &s.path("r.db"), 1, &[]).output().unwrap();
    expect_code(&out, 2);
    assert!(stderr(&out).contains("`search.eta` must be at least 2"));

    let g = s.grid("shard.toml", &grid(HALVING));
    let out = s
        .run_cmd(&g, &s.path("r.db"), 1, &["--shard", "1/2"])
        .output()
        .unwrap();
    expect_code(&out, 2);
    assert!(stderr(&out).contains("cannot split a halving grid"));
}

#[test]
fn report_status_and_replay_of_a_halving_sweep() {
    let s = Setup::new();
    let halving = s.grid("halving.toml", &grid(HALVING));
    let full = s.grid("full.toml", &grid(""));
    let (hdb, fdb) = (s.path("halving.db"), s.path("full.db"));
    expect_code(&s.run_cmd(&halving, &hdb, 2, &[]).output().unwrap(), 0);
    expect_code(&s.run_cmd(&full, &fdb, 2, &[]).output().unwrap(), 0);

    // The report ranks the survivor, then lists the pruned jobs with their rung.
    let out = s.tune(&hdb, &["report"]).output().unwrap();
    expect_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("1 finished job"), "{text}");
    assert!(
        text.contains("rungs at epochs 1, 2, 4") && text.contains("3 jobs pruned"),
        "{text}"
    );
    assert!(!stderr(&out).contains("not done"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "all 4 jobs of the selection are finished: 1 done, 3 pruned by successive halving"
        ),
        "{}",
        stderr(&out)
    );
    let out = s
        .tune(&hdb, &["report", "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let jobs = v["halving"]["jobs"].as_array().unwrap();
    let by_status = |st: &str| jobs.iter().filter(|j| j["status"] == st).count();
    assert_eq!((by_status("done"), by_status("pruned")), (1, 3));
    let survivor = jobs.iter().find(|j| j["status"] == "done").unwrap();
    assert_eq!(
        (survivor["rung"].as_u64(), survivor["epoch"].as_u64()),
        (Some(3), Some(4))
    );
    let rungs: Vec<u64> = jobs
        .iter()
        .filter(|j| j["status"] == "pruned")
        .map(|j| j["rung"].as_u64().unwrap())
        .collect();
    assert_eq!(rungs.iter().filter(|&&r| r == 1).count(), 2, "{rungs:?}");
    assert_eq!(rungs.iter().filter(|&&r| r == 2).count(), 1, "{rungs:?}");

    // Status shows pruned jobs as pruned, not failed.
    let out = s
        .tune(&hdb, &["status", "--format", "json"])
        .output()
        .unwrap();
    expect_code(&out, 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let statuses: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["pruned"; 3]);
    // Each trained once, without a fault: one attempt, though their pauses at a rung gave
    // theirs back (the prune counts it again); so does the survivor, paused at two rungs.
    let attempts: Vec<u64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["attempts"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, vec![1; 3], "{v}");
    assert_eq!(
        Db::open(&hdb).rows::<(i64,)>("SELECT attempts FROM jobs WHERE halt IS NULL"),
        vec![(1,)]
    );

    // Replaying halving on the full grid's stored epochs chooses what the halving run chose
    // (its epochs are the same, bit for bit), and uses half the epochs.
    let out = s
        .tune(
            &fdb,
            &[
                "report",
                "--replay-halving",
                "eta=2,min_epochs=1",
                "--format",
                "json",
            ],
        )
        .output()
        .unwrap();
    expect_code(&out, 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let survivor_key = survivor["key"].as_str().unwrap();
    assert_eq!(v["chosen"]["keys"][0], survivor_key, "{v}");
    assert_eq!(
        (v["epochs_used"].as_u64(), v["epochs_full"].as_u64()),
        (Some(8), Some(16))
    );
    assert!(
        ["best", "tied", "not tied", "untested"].contains(&v["tied_with_best"].as_str().unwrap())
    );
    let out = s
        .tune(&fdb, &["report", "--replay-halving", "eta=1"])
        .output()
        .unwrap();
    expect_code(&out, 2);
    assert!(stderr(&out).contains("eta must be at least 2"));
    let out = s
        .tune(&fdb, &["report", "--replay-halving", "eta=2,min_epochs=1"])
        .output()
        .unwrap();
    expect_code(&out, 0);
    assert!(
        stdout(&out).contains("training epochs: 8 of the full grid's 16 (50.0%)"),
        "{}",
        stdout(&out)
    );
}

/// The dashboard says why each pruned job stopped, as `tune report` lists it: the rung, its
/// epoch, the job's place in the rung's ranking and its validation accuracy there.
#[test]
fn the_dashboard_says_where_halving_stopped_each_pruned_job() {
    let s = Setup::new();
    let halving = s.grid("halving.toml", &grid(HALVING));
    let db = s.path("halving.db");
    expect_code(&s.run_cmd(&halving, &db, 2, &[]).output().unwrap(), 0);
    let report = s.tune(&db, &["report"]).output().unwrap();
    expect_code(&report, 0);
    let report = stdout(&report);
    let mut expected = Vec::new();
    for (rung, epoch, json) in decisions(&Db::open(&db)) {
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let ranking = v["ranking"].as_array().unwrap();
        for key in keys_of(&json, "prune") {
            let (place, config) = ranking
                .iter()
                .enumerate()
                .find(|(_, c)| c["keys"].as_array().unwrap().iter().any(|k| k == &key))
                .unwrap();
            let text = format!(
                "pruned at rung {} (epoch {epoch}): place {} of {}, val acc {:.4}",
                rung + 1,
                place + 1,
                ranking.len(),
                config["val_accuracy"].as_f64().unwrap()
            );
            // `tune report` lists the same place.
            let line = report
                .lines()
                .find(|l| l.contains(&key))
                .unwrap_or_else(|| panic!("{key} not in the report:\n{report}"));
            assert!(
                line.contains(&format!("{} of {}", place + 1, ranking.len())),
                "{line}"
            );
            expected.push((rung, place, key, text));
        }
    }
    assert_eq!(expected.len(), 3, "three pruned jobs");
    // Listed by rung and place, as `tune report` lists them.
    expected.sort();
    let expected: Vec<(String, String)> = expected.into_iter().map(|e| (e.2, e.3)).collect();
    let db_arg = db.to_str().unwrap();
    let (mut child, addr, _) =
        crate::serve::start(s.tmp.path(), &["--db", db_arg, "--bind", "127.0.0.1:0"]);
    let (status, page) = crate::serve::get(&addr, "/sweeps/hv");
    assert_eq!(status, 200, "{page}");
    let at = |key: &str| page.find(&format!("/jobs/{key}\"")).unwrap();
    assert!(
        expected.windows(2).all(|w| at(&w[0].0) < at(&w[1].0)),
        "pruned jobs not in rung and place order: {page}"
    );
    for (key, text) in &expected {
        let row = page
            .split("<tr>")
            .find(|r| r.contains(&format!("/jobs/{key}\"")))
            .unwrap_or_else(|| panic!("{key} not listed:\n{page}"));
        assert!(row.contains(text.as_str()), "{text} missing: {row}");
        // Only the settings that vary in the sweep (here none but the architecture's).
        assert!(!row.contains("lr=") && !row.contains("seed="), "{row}");
        let (status, job) = crate::serve::get(&addr, &format!("/jobs/{key}"));
        assert_eq!(status, 200);
        assert!(job.contains(text.as_str()), "{text} missing from its page");
    }
    crate::serve::stop(&mut child);
}

/// A halving sweep not yet trained counts its progress by its plan (8 epochs: 4, 2 and 1
/// configurations to epochs 1, 2 and 4), as the dry run does, not by every job's full budget
/// (16): its ETA would be twice too long.
#[test]
fn the_dashboard_counts_a_halving_sweeps_progress_by_its_plan() {
    let s = Setup::new();
    let halving = s.grid("halving.toml", &grid(HALVING));
    let db = s.path("halving.db");
    assert!(
        s.dry_run(&halving, &db, &[])
            .contains("training epochs with halving: 8 of the full grid's 16"),
    );
    expect_code(
        &s.run_cmd(&halving, &db, 1, &["--enqueue"])
            .output()
            .unwrap(),
        0,
    );
    let [front, page] = pages(&s, &db, ["/", "/sweeps/hv"]);
    assert!(front.contains(">0 / 8<"), "{front}");
    assert!(page.contains("of the epochs (0 / 8)"), "{page}");

    // With `confirm`, the planned confirm jobs count from the start (rungs 4 x 2 + 2 x 2 = 12
    // epochs, then 2 configurations x 2 seeds x 4 epochs = 16), as the dry run says: the bar does
    // not fall back when the last rung adds them.
    let confirm = s.grid("confirm.toml", &grid(CONFIRM));
    let db = s.path("confirm.db");
    let dry = s.dry_run(&confirm, &db, &[]);
    assert!(
        dry.contains(
            "training epochs with halving: 12 of the full grid's 16 (75%); 28 with confirm's 16"
        ),
        "{dry}"
    );
    expect_code(
        &s.run_cmd(&confirm, &db, 1, &["--enqueue"])
            .output()
            .unwrap(),
        0,
    );
    let [front] = pages(&s, &db, ["/"]);
    assert!(front.contains(">0 / 28<"), "{front}");

    // Trained: every job settled, 28 of the plan's 28 epochs, none "planned but not trained".
    expect_code(&s.run_cmd(&confirm, &db, 2, &[]).output().unwrap(), 0);
    let [page] = pages(&s, &db, ["/sweeps/hv"]);
    assert!(page.contains("of the epochs (28 / 28)"), "{page}");
    assert!(!page.contains("planned epochs not trained"), "{page}");

    // The moment between the last rung's last epoch and its decision (made here by taking the
    // decision and its confirm jobs out of the sweep): nothing runs, yet confirm's 16 epochs are
    // still to come. The progress stays 12 / 28; it does not jump to 100%.
    let d = Db::open(&db);
    d.execute(
        "DELETE FROM sweep_jobs WHERE job_key IN (SELECT value FROM rung_decisions, \
         json_each(rung_decisions.decision, '$.confirm'))",
    );
    d.execute("DELETE FROM rung_decisions WHERE rung = 1");
    d.execute("UPDATE sweeps SET finished_at = NULL");
    let [front, page] = pages(&s, &db, ["/", "/sweeps/hv"]);
    assert!(front.contains(">12 / 28<"), "{front}");
    assert!(page.contains("of the epochs (12 / 28)"), "{page}");
}

/// Serves database `db` with `tune serve` and fetches each of `paths`: the raw responses.
fn pages<const N: usize>(s: &Setup, db: &Path, paths: [&str; N]) -> [String; N] {
    let db_arg = db.to_str().unwrap();
    let (mut child, addr, _) =
        crate::serve::start(s.tmp.path(), &["--db", db_arg, "--bind", "127.0.0.1:0"]);
    let got = paths.map(|p| crate::serve::get(&addr, p).1);
    crate::serve::stop(&mut child);
    got
}

/// The keys of a decision's JSON list `field` (absent: none).
fn keys_of(json: &str, field: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let mut keys: Vec<String> = v[field]
        .as_array()
        .map(|a| a.iter().map(|k| k.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

/// (rung, epoch, kept keys, pruned keys) of every decision, late judgements included.
fn fates(db: &Db) -> Vec<(i64, i64, Vec<String>, Vec<String>)> {
    decisions(db)
        .into_iter()
        .map(|(r, e, json)| {
            let mut keep = keys_of(&json, "keep");
            keep.extend(keys_of(&json, "late_keep"));
            keep.sort();
            let mut prune = keys_of(&json, "prune");
            prune.extend(keys_of(&json, "late_prune"));
            prune.sort();
            (r, e, keep, prune)
        })
        .collect()
}

/// Nothing of the sweep is left pending or waiting, and the sweep is finished.
fn assert_settled(db: &Db) {
    let st = states(db);
    assert!(
        st.iter().all(|(_, s, halt, _)| s == "done"
            || s == "failed"
            || halt.as_deref() == Some("pruned")),
        "jobs left unfinished: {st:?}"
    );
    assert_eq!(
        db.int("SELECT COUNT(*) FROM sweeps WHERE finished_at IS NULL"),
        0,
        "a sweep is not finished: {st:?}"
    );
}

/// A job failed while its rung was decided without it: `--retry-failed` trains it to that rung
/// and judges it late against the rung's recorded ranking (the place it would have had), instead
/// of leaving it waiting for a decision that was already made.
#[test]
fn retry_failed_after_its_rung_was_decided_judges_the_job_late() {
    let s = Setup::new();
    let g = s.grid("halving.toml", &grid(HALVING));
    let (straight, retried) = (s.path("straight.db"), s.path("retried.db"));
    expect_code(&s.run_cmd(&g, &straight, 1, &[]).output().unwrap(), 0);
    let a = Db::open(&straight);
    // The job the straight run kept at rung 1 with the best accuracy there: it fails here.
    let (_, _, first) = &decisions(&a)[0];
    let v: serde_json::Value = serde_json::from_str(first).unwrap();
    let best = v["ranking"][0]["keys"][0].as_str().unwrap().to_string();

    let out = s.run_cmd(&g, &retried, 1, &["--enqueue"]).output().unwrap();
    expect_code(&out, 0);
    {
        let db = Db::open(&retried);
        db.execute_with(
            "UPDATE jobs SET status = 'failed', last_error = 'injected' WHERE key = $1",
            &best,
        );
    }
    let out = s.run_cmd(&g, &retried, 1, &[]).output().unwrap();
    expect_code(&out, 1); // a failed job skipped
    {
        let db = Db::open(&retried);
        let (_, _, json) = &decisions(&db)[0];
        assert_eq!(keys_of(json, "failed"), vec![best.clone()], "{json}");
        assert_eq!(
            db.int("SELECT COUNT(*) FROM jobs WHERE status = 'failed'"),
            1
        );
    }
    // Out of the race, and the report says so (checked at the end, after the part that blocked).
    let out = s.tune(&retried, &["report"]).output().unwrap();
    expect_code(&out, 0);
    let report = stdout(&out);
    // The dashboard says so too, in the job's row.
    let [page] = pages(&s, &retried, ["/sweeps/hv"]);
    let row = page
        .split("<tr>")
        .find(|r| r.contains(&format!("/jobs/{best}\"")))
        .unwrap_or_else(|| panic!("{best} not listed: {page}"));
    assert!(
        row.contains("failed before rung 1 (epoch 1) was decided: out of the race")
            && row.contains("injected"),
        "{row}"
    );

    let out = s
        .run_cmd(&g, &retried, 1, &["--retry-failed"])
        .output()
        .unwrap();
    expect_code(&out, 0);
    let b = Db::open(&retried);
    assert_settled(&b);
    // Judged late at rung 1 against the recorded ranking: it was the best there, so it goes on.
    let (_, _, json) = &decisions(&b)[0];
    assert_eq!(keys_of(json, "late_keep"), vec![best.clone()], "{json}");
    // Its epochs are the straight run's, bit for bit.
    let fe = epochs(&a);
    for e in epochs(&b).iter().filter(|e| e.0 == best) {
        assert!(
            fe.contains(e),
            "epoch {e:?} differs from the straight run's"
        );
    }
    // Running the grid again changes nothing.
    let before = (fates(&b), states(&b));
    drop(b);
    expect_code(&s.run_cmd(&g, &retried, 1, &[]).output().unwrap(), 0);
    let b = Db::open(&retried);
    assert_eq!((fates(&b), states(&b)), before);
    assert!(report.contains("failed: out of the race"), "{report}");
}

/// A halving grid grown by a configuration (a new sweep sharing the first one's jobs, some of
/// them pruned there) runs to the end and decides exactly what the grown grid decides on a fresh
/// database: pruned jobs it keeps are reopened, none waits for a decision that never comes.
#[test]
fn a_grown_halving_grid_decides_as_on_a_fresh_database() {
    let s = Setup::new();
    let small = s.grid("small.toml", &grid(HALVING));
    let grown_text =
        grid(HALVING).replace("dense = [8, 16, 32, 64]", "dense = [8, 16, 32, 64, 128]");
    let grown = s.grid("grown.toml", &grown_text);
    let (shared, fresh) = (s.path("shared.db"), s.path("fresh.db"));
    expect_code(&s.run_cmd(&small, &shared, 1, &[]).output().unwrap(), 0);
    expect_code(&s.run_cmd(&grown, &shared, 2, &[]).output().unwrap(), 0);
    expect_code(&s.run_cmd(&grown, &fresh, 1, &[]).output().unwrap(), 0);
    let (a, b) = (Db::open(&shared), Db::open(&fresh));
    assert_settled(&a);
    let grown_fates = |db: &Db| -> Vec<(i64, i64, String)> {
        db.rows(
            "SELECT d.rung, d.epoch, d.decision FROM rung_decisions d \
             JOIN sweeps s ON s.id = d.sweep_id \
             WHERE s.id = (SELECT sweep_id FROM sweep_jobs GROUP BY sweep_id \
                           ORDER BY COUNT(*) DESC LIMIT 1) ORDER BY d.rung",
        )
    };
    let (ga, gb) = (grown_fates(&a), grown_fates(&b));
    assert_eq!(ga.len(), 2, "{ga:?}");
    for ((ra, ea, ja), (rb, eb, jb)) in ga.iter().zip(&gb) {
        assert_eq!((ra, ea), (rb, eb));
        for field in ["keep", "prune", "failed"] {
            assert_eq!(keys_of(ja, field), keys_of(jb, field), "rung {ra} {field}");
        }
    }
    // The jobs that reached the grown grid's last rung (5 -> 3 -> 2 configurations) and their
    // results are the fresh run's.
    let last: Vec<(String, f64, f64)> = results(&b);
    assert_eq!(last.len(), 2);
    for r in &last {
        assert!(results(&a).contains(r), "{:?}", results(&a));
    }
    let out = s
        .tune(&shared, &["report", "--sweep", "hv", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.code().is_some());
}

/// More seeds added to a finished halving sweep (`--repeats 2`): each new seed follows its
/// configuration's recorded decisions (seeds move together), so the sweep ends with every seed
/// of the winner trained and the others pruned, nothing waiting.
#[test]
fn seeds_added_to_a_halving_sweep_follow_their_configuration() {
    let s = Setup::new();
    let g = s.grid("halving.toml", &grid(HALVING));
    let db = s.path("r.db");
    expect_code(&s.run_cmd(&g, &db, 1, &[]).output().unwrap(), 0);
    let before = fates(&Db::open(&db));
    let out = s.run_cmd(&g, &db, 2, &["--repeats", "2"]).output().unwrap();
    expect_code(&out, 0);
    let a = Db::open(&db);
    assert_settled(&a);
    assert_eq!(a.int("SELECT COUNT(*) FROM jobs"), 8);
    // Two seeds of the winner done, six jobs pruned.
    assert_eq!(a.int("SELECT COUNT(*) FROM results"), 2);
    assert_eq!(a.int("SELECT COUNT(*) FROM jobs WHERE halt = 'pruned'"), 6);
    // The recorded decisions stand; the new seeds were judged with their configuration.
    let after = fates(&a);
    assert_eq!(after.len(), before.len());
    for ((r, e, k0, p0), (_, _, k1, p1)) in before.iter().zip(&after) {
        assert!(k0.iter().all(|k| k1.contains(k)), "rung {r} epoch {e}");
        assert!(p0.iter().all(|k| p1.contains(k)), "rung {r} epoch {e}");
        assert_eq!(k1.len(), 2 * k0.len(), "rung {r}: {k1:?}");
        assert_eq!(p1.len(), 2 * p0.len(), "rung {r}: {p1:?}");
    }
}

/// 4 configurations, eta 2, rungs at epochs 2 and 4 (2 configurations reach the last rung), the
/// best 2 of the last rung confirmed with 2 more seeds each.
const CONFIRM: &str = "[search]\nstrategy = \"halving\"\neta = 2\nmin_epochs = 2\n\
                       confirm = { top = 2, repeats = 2 }\n";

/// (key, seed, status) of the jobs in `keys`.
fn seeds_of(db: &Db, keys: &[String]) -> Vec<(String, i64, String)> {
    let all: Vec<(String, i64, String)> =
        db.rows("SELECT key, seed, status FROM jobs ORDER BY key");
    all.into_iter().filter(|(k, ..)| keys.contains(k)).collect()
}

/// `confirm = { top, repeats }`: whoever decides the last rung adds `repeats` more seeds of its
/// best `top` configurations (the seeds after the grid's), trained for every epoch; the report
/// gives each their mean test accuracy and 95% interval over all seeds; the dry run shows them;
/// the same on 1 or 2 slots.
#[test]
fn confirm_reruns_the_best_configurations_with_more_seeds() {
    let s = Setup::new();
    let g = s.grid("confirm.toml", &grid(CONFIRM));
    let text = s.dry_run(&g, &s.path("dry.db"), &[]);
    assert!(
        text.contains(
            "then confirm: the best 2 configurations of the last rung (its planned size) with \
             2 seeds more each (4 jobs) train 4 epochs each (16 epochs in all)"
        ),
        "{text}"
    );

    let (one, two) = (s.path("one.db"), s.path("two.db"));
    expect_code(&s.run_cmd(&g, &one, 1, &[]).output().unwrap(), 0);
    expect_code(&s.run_cmd(&g, &two, 2, &[]).output().unwrap(), 0);
    let (a, b) = (Db::open(&one), Db::open(&two));
    assert_settled(&a);
    let d = decisions(&a);
    assert_eq!(
        d.iter().map(|(r, e, _)| (*r, *e)).collect::<Vec<_>>(),
        vec![(0, 2), (1, 4)]
    );
    let top = keys_of(&d[1].2, "confirm_top");
    let confirm = keys_of(&d[1].2, "confirm");
    assert_eq!(top.len(), 2, "{}", d[1].2);
    assert_eq!(confirm.len(), 4, "{}", d[1].2);
    // Nothing pruned at the last rung: both of its configurations finished.
    assert!(keys_of(&d[1].2, "prune").is_empty());
    assert_eq!(a.int("SELECT COUNT(*) FROM jobs"), 8);
    assert_eq!(a.int("SELECT COUNT(*) FROM results"), 6);
    // The confirm jobs are the seeds after the grid's (seed 1 as written... +1, +2), every epoch.
    let base: Vec<i64> = seeds_of(&a, &top).iter().map(|j| j.1).collect();
    assert!(base.iter().all(|&s| s == base[0]));
    let mut added: Vec<i64> = seeds_of(&a, &confirm).iter().map(|j| j.1).collect();
    added.sort_unstable();
    assert_eq!(
        added,
        vec![base[0] + 1, base[0] + 1, base[0] + 2, base[0] + 2]
    );
    for key in &confirm {
        let n: Vec<(i64,)> =
            a.rows_with("SELECT COUNT(*) FROM epoch_metrics WHERE job_key = $1", key);
        assert_eq!(n[0].0, 4, "confirm job {key} trains every epoch");
    }
    // Deterministic: the same confirm jobs and results on 2 slots.
    assert_eq!(fates(&a), fates(&b));
    assert_eq!(keys_of(&decisions(&b)[1].2, "confirm"), confirm);
    assert_eq!(results(&a), results(&b));

    // The report: each confirmed configuration's mean and 95% interval over its 3 seeds.
    let out = s.tune(&one, &["report"]).output().unwrap();
    expect_code(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("confirm: the last rung's best 2 configurations"),
        "{text}"
    );
    assert!(text.contains("3 of 3"), "{text}");
    let out = s
        .tune(&one, &["report", "--format", "json"])
        .output()
        .unwrap();
    expect_code(&out, 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let confirmed = v["halving"]["confirmed"].as_array().unwrap();
    assert_eq!(confirmed.len(), 2, "{v}");
    let all = results(&a);
    for c in confirmed {
        let keys: Vec<&str> = c["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        assert_eq!(keys.len(), 3);
        let accs: Vec<f64> = keys
            .iter()
            .map(|k| all.iter().find(|r| r.0 == *k).unwrap().2)
            .collect();
        let mean = accs.iter().sum::<f64>() / 3.0;
        assert!(
            (c["summary"]["mean"].as_f64().unwrap() - mean).abs() < 1e-12,
            "{c}"
        );
        let (lo, hi) = (
            c["interval"]["low"].as_f64().unwrap(),
            c["interval"]["high"].as_f64().unwrap(),
        );
        assert!(lo <= mean && mean <= hi, "{c}");
        assert_eq!(c["interval"]["method"], "t");
    }
    assert!(
        confirmed[0]["place"].as_u64() < confirmed[1]["place"].as_u64(),
        "best of the last rung first"
    );
}

/// The dashboard's `report.json` of a halving sweep carries the `halving` object of `tune report
/// --format json` (plan, decisions, every job's rung and epoch, the confirmed configurations),
/// whole and filtered.
#[test]
fn the_dashboards_report_json_has_the_halving_section_of_tune_report() {
    let s = Setup::new();
    let g = s.grid("confirm.toml", &grid(CONFIRM));
    let db = s.path("confirm.db");
    expect_code(&s.run_cmd(&g, &db, 2, &[]).output().unwrap(), 0);
    let cli = |extra: &[&str]| {
        let mut args = vec!["report", "--format", "json", "--sweep", "hv"];
        args.extend(extra);
        let out = s.tune(&db, &args).output().unwrap();
        expect_code(&out, 0);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let whole = cli(&[]);
    assert_eq!(whole["halving"]["confirmed"].as_array().unwrap().len(), 2);
    let confirmed_arch = whole["halving"]["confirmed"][0]["label"]
        .as_str()
        .unwrap()
        .to_string();
    let dense: String = confirmed_arch
        .split('/')
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    let filtered = cli(&["--where", &format!("dense={dense}")]);

    let db_arg = db.to_str().unwrap();
    let (mut child, addr, _) =
        crate::serve::start(s.tmp.path(), &["--db", db_arg, "--bind", "127.0.0.1:0"]);
    let dash = |query: &str| {
        let (status, body) = crate::serve::get(&addr, &format!("/sweeps/hv/report.json{query}"));
        assert_eq!(status, 200, "{body}");
        let body = &body[body.find("\r\n\r\n").expect("a header block") + 4..];
        serde_json::from_str::<serde_json::Value>(body).unwrap()
    };
    let dash_whole = dash("");
    let dash_filtered = dash(&format!("?where=dense%3D{dense}"));
    crate::serve::stop(&mut child);
    assert_eq!(dash_whole["halving"], whole["halving"]);
    assert_eq!(dash_filtered["halving"], filtered["halving"]);
    let rows = |v: &serde_json::Value| v["groups"][0]["rows"].clone();
    assert!(!rows(&whole).as_array().unwrap().is_empty(), "{whole}");
    assert_eq!(rows(&dash_whole), rows(&whole));
    assert_eq!(rows(&dash_filtered), rows(&filtered));
}

/// `tune plot halving`: one line per job in the SVG, each ending at the epoch the job stopped.
#[test]
fn plot_halving_draws_one_line_per_job_ending_where_it_stopped() {
    let s = Setup::new();
    let g = s.grid("halving.toml", &grid(HALVING));
    let db = s.path("r.db");
    expect_code(&s.run_cmd(&g, &db, 1, &[]).output().unwrap(), 0);
    let svg = s.path("h.svg");
    let out = s
        .tune(
            &db,
            &[
                "plot",
                "halving",
                "--sweep",
                "hv",
                "--out",
                svg.to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
    expect_code(&out, 0);
    assert!(s.path("h.png").exists());
    let text = std::fs::read_to_string(&svg).unwrap();
    // The job lines are the polylines of width 2: their point counts are the jobs' epochs.
    let mut lines: Vec<usize> = text
        .split("<polyline")
        .skip(1)
        .filter(|p| p.split('>').next().unwrap().contains("stroke-width=\"2\""))
        .map(|p| {
            let pts = p
                .split("points=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            pts.split_whitespace().count()
        })
        .collect();
    lines.sort_unstable();
    let mut trained: Vec<usize> = Db::open(&db)
        .rows::<(i64,)>(
            "SELECT (SELECT COUNT(*) FROM epoch_metrics e WHERE e.job_key = j.key) \
             FROM jobs j",
        )
        .into_iter()
        .map(|r| r.0 as usize)
        .collect();
    trained.sort_unstable();
    // 4 jobs: two pruned at epoch 1, one at epoch 2, the survivor at 4.
    assert_eq!(trained, vec![1, 1, 2, 4]);
    assert_eq!(lines, trained, "{text}");
    // Pruned lines are grey and end with a cross; the rungs are dashed lines.
    assert!(
        text.matches("stroke=\"#969696\" stroke-width=\"2\"")
            .count()
            >= 3,
        "{text}"
    );

    // A full grid is refused with what to do instead.
    let full = s.grid(
        "full.toml",
        &grid("").replace("name = \"hv\"", "name = \"fg\""),
    );
    let fdb = s.path("f.db");
    expect_code(&s.run_cmd(&full, &fdb, 1, &[]).output().unwrap(), 0);
    let fsvg = s.path("f.svg");
    let out = s
        .tune(&fdb, &["plot", "halving", "--out", fsvg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("not a halving sweep"),
        "{}",
        stderr(&out)
    );
}

/// (sweep id, number of jobs) of every sweep, fewest jobs first.
fn sweep_sizes(db: &Db) -> Vec<(String, i64)> {
    db.rows("SELECT sweep_id, COUNT(*) AS n FROM sweep_jobs GROUP BY sweep_id ORDER BY n, sweep_id")
}

/// (rung, epoch, decision JSON) of the decisions of sweep `id`.
fn decisions_of(db: &Db, id: &str) -> Vec<(i64, i64, String)> {
    db.rows_with(
        "SELECT rung, epoch, decision FROM rung_decisions WHERE sweep_id = $1 ORDER BY rung",
        id,
    )
}

/// Trains the halving grid into `shared.db`, then the grid grown by one configuration (a second
/// sweep sharing the jobs): the database, the first and second sweep's ids, and (key, rung,
/// epoch) of the jobs the first sweep pruned that the second reopened and trained past that
/// rung's epoch (at least one).
fn reopen_pruned_jobs(s: &Setup) -> (PathBuf, String, String, Vec<(String, i64, i64)>) {
    let small = s.grid("small.toml", &grid(HALVING));
    let grown_text =
        grid(HALVING).replace("dense = [8, 16, 32, 64]", "dense = [8, 16, 32, 64, 128]");
    let grown = s.grid("grown.toml", &grown_text);
    let db = s.path("shared.db");
    expect_code(&s.run_cmd(&small, &db, 1, &[]).output().unwrap(), 0);
    expect_code(&s.run_cmd(&grown, &db, 1, &[]).output().unwrap(), 0);
    let d = Db::open(&db);
    let sizes = sweep_sizes(&d);
    let (old, new) = (sizes[0].0.clone(), sizes[1].0.clone());
    assert_eq!((sizes[0].1, sizes[1].1), (4, 5));
    // The jobs the first sweep pruned, with the rung and epoch, that trained past that epoch.
    let mut reopened = Vec::new();
    for (rung, epoch, json) in decisions_of(&d, &old) {
        for key in keys_of(&json, "prune") {
            let n: Vec<(i64,)> = d.rows_with(
                "SELECT COUNT(*) FROM epoch_metrics WHERE job_key = $1",
                &key,
            );
            if n[0].0 > epoch {
                reopened.push((key, rung, epoch));
            }
        }
    }
    assert!(
        !reopened.is_empty(),
        "the grown grid reopened no job the first sweep pruned: {:?}",
        decisions(&d)
    );
    drop(d);
    (db, old, new, reopened)
}

/// A job the first sweep pruned and a grown grid (a second sweep sharing it) reopened and
/// trained on: each sweep's report, JSON and status show it as that sweep decided it (pruned at
/// its rung in the first; its own state in the second), and a name both sweeps share is refused
/// by the halving report with their ids.
#[test]
fn a_job_reopened_by_a_grown_grid_stays_pruned_in_the_sweep_that_pruned_it() {
    let s = Setup::new();
    let (db, old, new, reopened) = reopen_pruned_jobs(&s);

    // The first sweep's report: pruned at its rung, not among its finished jobs.
    let out = s
        .tune(&db, &["report", "--sweep", &old, "--format", "json"])
        .output()
        .unwrap();
    expect_code(&out, 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (key, rung, epoch) in &reopened {
        let j = v["halving"]["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["key"] == key.as_str())
            .unwrap_or_else(|| panic!("{key} missing: {v}"));
        assert_eq!(j["status"], "pruned", "{j}");
        assert_eq!(j["rung"].as_i64(), Some(rung + 1), "{j}");
        assert_eq!(j["epoch"].as_i64(), Some(*epoch), "{j}");
    }
    let out = s.tune(&db, &["report", "--sweep", &old]).output().unwrap();
    expect_code(&out, 0);
    let table = stdout(&out);
    for (key, ..) in &reopened {
        let row = table
            .lines()
            .find(|l| l.contains(key.as_str()))
            .unwrap_or_else(|| panic!("{key} missing:\n{table}"));
        assert!(row.contains("pruned"), "{row}");
    }
    let out = s
        .tune(
            &db,
            &["status", "--sweep", &old, "--all", "--format", "json"],
        )
        .output()
        .unwrap();
    expect_code(&out, 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (key, _, epoch) in &reopened {
        let j = v
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["key"] == key.as_str())
            .unwrap();
        assert_eq!(
            (j["status"].as_str(), j["epochs_done"].as_i64()),
            (Some("pruned"), Some(*epoch)),
            "{j}"
        );
    }

    // The second sweep's report shows the job's state there (its own decisions).
    let out = s
        .tune(&db, &["report", "--sweep", &new, "--format", "json"])
        .output()
        .unwrap();
    expect_code(&out, 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = Db::open(&db);
    let pruned_new: Vec<String> = decisions_of(&d, &new)
        .iter()
        .flat_map(|(_, _, json)| keys_of(json, "prune"))
        .collect();
    for (key, ..) in &reopened {
        let j = v["halving"]["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["key"] == key.as_str())
            .unwrap();
        let expected = if pruned_new.contains(key) {
            "pruned"
        } else {
            "done"
        };
        assert_eq!(j["status"], expected, "{j}");
    }

    // Both sweeps are named `hv`: the halving report asks for one of their ids.
    let out = s.tune(&db, &["report", "--sweep", "hv"]).output().unwrap();
    expect_code(&out, 2);
    let e = stderr(&out);
    assert!(e.contains(&old) && e.contains(&new), "{e}");
}

/// The dashboard follows the same rule: the first sweep's page lists a job it pruned that a grown
/// grid reopened as pruned at its rung (its epochs up to that rung), and counts it among its
/// pruned jobs, on the sweep's page and on the front page.
#[test]
fn the_dashboard_shows_a_reopened_job_pruned_in_the_sweep_that_pruned_it() {
    let s = Setup::new();
    let (db, old, _new, reopened) = reopen_pruned_jobs(&s);
    let d = Db::open(&db);
    let mut pruned: Vec<String> = decisions_of(&d, &old)
        .iter()
        .flat_map(|(_, _, json)| [keys_of(json, "prune"), keys_of(json, "late_prune")])
        .flatten()
        .collect();
    pruned.sort();
    pruned.dedup();
    drop(d);
    let db_arg = db.to_str().unwrap();
    let (mut child, addr, _) =
        crate::serve::start(s.tmp.path(), &["--db", db_arg, "--bind", "127.0.0.1:0"]);
    let (status, page) = crate::serve::get(&addr, &format!("/sweeps/{old}"));
    let (front_status, front) = crate::serve::get(&addr, "/");
    crate::serve::stop(&mut child);
    assert_eq!((status, front_status), (200, 200), "{page}\n{front}");
    let badge = format!(
        "<span class=\"status pruned\">{} pruned</span>",
        pruned.len()
    );
    assert!(page.contains(&badge), "{badge} missing:\n{page}");
    let front_row = front
        .split("<tr>")
        .find(|r| r.contains(&format!("/sweeps/{old}\"")))
        .unwrap_or_else(|| panic!("{old} not listed:\n{front}"));
    assert!(front_row.contains(&badge), "{badge} missing:\n{front_row}");
    for (key, _, epoch) in &reopened {
        let row = page
            .split("<tr>")
            .find(|r| r.contains(&format!("/jobs/{key}\"")))
            .unwrap_or_else(|| panic!("{key} not among the unfinished jobs:\n{page}"));
        assert!(
            row.contains("<span class=\"status pruned\">pruned</span>"),
            "{row}"
        );
        assert!(row.contains(&format!(">{epoch} / 4<")), "{row}");
    }
}

/// Late judging at a rung: a configuration that failed while its rung was decided and is retried
/// goes on only if it beats (in the order every report uses) the worst configuration the rung
/// kept; one ranked right behind it is pruned. Recorded decisions stand, so a rung can end with
/// more than `ceil(n / eta)` configurations kept (README, "Successive halving").
#[test]
fn a_late_configuration_goes_on_only_if_it_beats_the_worst_kept_one() {
    let s = Setup::new();
    let text = grid(HALVING).replace(
        "dense = [8, 16, 32, 64]",
        "dense = [4, 8, 12, 16, 24, 32, 48, 64]",
    );
    let g = s.grid("halving.toml", &text);
    let (reference, late) = (s.path("reference.db"), s.path("late.db"));
    expect_code(&s.run_cmd(&g, &reference, 1, &[]).output().unwrap(), 0);
    // The 8 configurations (one seed each) as rung 1 ranks them, best first.
    let ranked: Vec<String> = {
        let a = Db::open(&reference);
        let (_, _, json) = &decisions(&a)[0];
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        v["ranking"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["keys"][0].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ranked.len(), 8);
    // The 1st, 2nd, 3rd and 6th fail before rung 1 is decided: it ranks the 4th, 5th, 7th and
    // 8th and keeps the 4th and 5th (ceil(4 / 2)).
    let failing = [0, 1, 2, 5].map(|i| ranked[i].clone());
    expect_code(
        &s.run_cmd(&g, &late, 1, &["--enqueue"]).output().unwrap(),
        0,
    );
    {
        let db = Db::open(&late);
        for key in &failing {
            db.execute_with(
                "UPDATE jobs SET status = 'failed', last_error = 'injected' WHERE key = $1",
                key,
            );
        }
    }
    expect_code(&s.run_cmd(&g, &late, 1, &[]).output().unwrap(), 1);
    {
        let db = Db::open(&late);
        let (_, _, json) = &decisions(&db)[0];
        let mut kept = vec![ranked[3].clone(), ranked[4].clone()];
        kept.sort();
        assert_eq!(keys_of(json, "keep"), kept, "{json}");
    }
    // Retried, they are judged late: the 1st, 2nd and 3rd beat the 5th (the worst kept) and go
    // on; the 6th is ranked right behind it and stops (among the first ceil(5 / 2) of the
    // recorded four and itself, but it beats no configuration the rung kept).
    expect_code(
        &s.run_cmd(&g, &late, 1, &["--retry-failed"])
            .output()
            .unwrap(),
        0,
    );
    let db = Db::open(&late);
    assert_settled(&db);
    let (_, _, json) = &decisions(&db)[0];
    let mut late_kept = vec![ranked[0].clone(), ranked[1].clone(), ranked[2].clone()];
    late_kept.sort();
    assert_eq!(keys_of(json, "late_keep"), late_kept, "{json}");
    assert_eq!(
        keys_of(json, "late_prune"),
        vec![ranked[5].clone()],
        "{json}"
    );
    // The recorded decision stands: 5 of the 8 configurations went on from rung 1, more than
    // ceil(8 / 2) = 4.
    let keep = keys_of(json, "keep");
    assert_eq!(keep.len() + keys_of(json, "late_keep").len(), 5);
    // The report ranks the late one among the rung's configurations.
    let out = s.tune(&late, &["report"]).output().unwrap();
    expect_code(&out, 0);
    let text = stdout(&out);
    let row = text
        .lines()
        .find(|l| l.contains(ranked[5].as_str()))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains("late, 3 of 5"), "{row}");
}

/// `tune merge` carries a halving sweep's plan, its jobs' halving state and its rung decisions:
/// the merged database reports the sweep as the source does, running it again decides nothing
/// new; a sweep merged before it ran trains and decides there as it would have in the source.
#[test]
fn a_merged_halving_sweep_reports_and_runs_as_in_its_source() {
    let s = Setup::new();
    let g = s.grid("halving.toml", &grid(HALVING));
    let (src, out_db) = (s.path("src.db"), s.path("out.db"));
    expect_code(&s.run_cmd(&g, &src, 1, &[]).output().unwrap(), 0);
    let merge = |out: &Path, input: &Path| {
        let mut cmd = tune(s.tmp.path());
        cmd.arg("merge").arg(out).arg(input);
        let o = cmd.output().unwrap();
        expect_code(&o, 0);
    };
    merge(&out_db, &src);
    let report = |db: &Path, args: &[&str]| {
        let mut a = vec!["report"];
        a.extend_from_slice(args);
        let o = s.tune(db, &a).output().unwrap();
        expect_code(&o, 0);
        stdout(&o)
    };
    let (a, b) = (
        report(&src, &["--format", "json"]),
        report(&out_db, &["--format", "json"]),
    );
    let (va, vb): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&a).unwrap(),
        serde_json::from_str(&b).unwrap(),
    );
    assert!(va["halving"].is_object(), "{a}");
    assert_eq!(va["halving"], vb["halving"]);
    assert_eq!(report(&src, &[]), report(&out_db, &[]));
    let status = |db: &Path| {
        let o = s
            .tune(db, &["status", "--all", "--format", "json"])
            .output()
            .unwrap();
        expect_code(&o, 0);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|j| (j["key"].to_string(), j["status"].to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(status(&src), status(&out_db));
    let before = (fates(&Db::open(&out_db)), states(&Db::open(&out_db)));
    assert_eq!(before.1, states(&Db::open(&src)));
    // Running the grid on the merged database has nothing to train or decide.
    expect_code(&s.run_cmd(&g, &out_db, 1, &[]).output().unwrap(), 0);
    let after = (fates(&Db::open(&out_db)), states(&Db::open(&out_db)));
    assert_eq!(before, after);
    assert_eq!(epochs(&Db::open(&out_db)), epochs(&Db::open(&src)));

    // Merged before it ran: its jobs keep their first rung, so it trains and decides as the
    // source's run did.
    let (queued, out2) = (s.path("queued.db"), s.path("out2.db"));
    expect_code(
        &s.run_cmd(&g, &queued, 1, &["--enqueue"]).output().unwrap(),
        0,
    );
    merge(&out2, &queued);
    expect_code(&s.run_cmd(&g, &out2, 1, &[]).output().unwrap(), 0);
    let (x, y) = (Db::open(&src), Db::open(&out2));
    assert_eq!(fates(&x), fates(&y));
    assert_eq!(results(&x), results(&y));
    assert_eq!(epochs(&x), epochs(&y));
}

/// The dry run's confirm count is the last rung's planned size; where `top` is larger it says
/// how many more late jobs (retried failed ones) could bring, in the text and the JSON.
#[test]
fn dry_run_confirm_count_says_what_it_assumes() {
    let s = Setup::new();
    let g = s.grid(
        "confirm.toml",
        &grid(&CONFIRM.replace("top = 2", "top = 3")),
    );
    let text = s.dry_run(&g, &s.path("dry.db"), &[]);
    assert!(
        text.contains(
            "then confirm: the best 2 configurations of the last rung (its planned size) with \
             2 seeds more each (4 jobs) train 4 epochs each (16 epochs in all; up to 3 \
             configurations (6 jobs) if jobs judged late (--retry-failed) join the last rung)"
        ),
        "{text}"
    );
    let v = s.dry_run_json(&g, &s.path("dry.db"));
    let c = &v["halving"]["confirm"];
    assert_eq!(
        (
            c["top"].as_u64(),
            c["top_at_most"].as_u64(),
            c["jobs"].as_u64(),
            c["jobs_at_most"].as_u64()
        ),
        (Some(2), Some(3), Some(4), Some(6)),
        "{c}"
    );
}

/// A slot that found no job while another slot of the same run trained the last job of a rung
/// used to leave the run: every later rung then trained on one slot, the others idle. Now it
/// waits for the rung's decision: the two finalists (4 configurations, eta 2, rungs at epochs 2
/// and 4) are trained by the run's two slots, one each.
#[test]
fn every_slot_of_a_run_trains_the_rungs_after_the_first() {
    // Epochs of some tenths of a second: long enough that a finalist cannot be finished by one
    // slot before the other, woken by the decision, claims the second.
    let s = Setup::sized(3000, 64);
    let text = grid("[search]\nstrategy = \"halving\"\neta = 2\nmin_epochs = 2\n");
    let g = s.grid("halving.toml", &text);
    let db = s.path("h.db");
    let out = s.run_cmd(&g, &db, 2, &[]).output().unwrap();
    expect_code(&out, 0);
    let d = Db::open(&db);
    let finalists: Vec<(String, String)> =
        d.rows("SELECT job_key, worker_id FROM results ORDER BY job_key");
    assert_eq!(finalists.len(), 2, "{finalists:?}");
    assert_ne!(
        finalists[0].1, finalists[1].1,
        "both finalists were trained by one slot: the other left the run during the first rung"
    );
}
