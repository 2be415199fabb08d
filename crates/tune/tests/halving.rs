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
        let tmp = tempfile::tempdir().unwrap();
        let data = fixture_data(&tmp.path().join("data"));
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
    let out = s
        .run_cmd(&g, &s.path("r.db"), 1, &["--dry-run", "--no-calibrate"])
        .output()
        .unwrap();
    expect_code(&out, 0);
    let text = stdout(&out);
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
    let out = s
        .run_cmd(
            &g,
            &s.path("r.db"),
            1,
            &["--dry-run", "--no-calibrate", "--format", "json"],
        )
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
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
