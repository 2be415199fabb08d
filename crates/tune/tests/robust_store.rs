//! The results store from a user's side: tune never changes a database that is not its own and
//! reading never writes (read-only media too); one writer per database file whatever name
//! reaches it; reports and `tune status` say what is not done; merge conflicts are listed; results
//! belong to the data they were trained on.

use crate::util::db::{Db, wait_for};
use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The bytes of a file, to show that a command left it unchanged.
fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The names in a directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

// ----- 10. tune never changes a database that is not its own; reading never writes ---------

/// Every command that only reads leaves a finished database byte for byte as it was, and reads
/// one on read-only media (a read-only directory and file, read by an unprivileged user when the
/// test runs as root).
#[test]
fn reading_never_writes_and_works_on_read_only_media() {
    let s = Setup::new(&small_grid(2, 1));
    let db = s.db();
    let db_arg = db.to_str().unwrap();
    run(&mut s.run_on(db_arg, &s.data, 1, &["--quiet"]), true);
    // The run closed the database cleanly: the file alone holds everything.
    assert!(!s.dir().join("results.db-wal").exists());
    let before = bytes(&db);
    let plots = s.dir().join("plots");
    let plot_out = plots.join("c.svg");
    for args in [
        vec!["report", "--db", db_arg],
        vec!["report", "--db", db_arg, "--format", "json"],
        vec!["compare", "--db", db_arg],
        vec!["confusion", "--db", db_arg],
        vec!["status", "--db", db_arg, "--all"],
        vec![
            "plot",
            "curves",
            "--db",
            db_arg,
            "--out",
            plot_out.to_str().unwrap(),
        ],
        vec!["merge", "merged.db", db_arg],
    ] {
        run(&mut s.tune(&args), true);
        assert!(
            before == bytes(&db),
            "`tune {}` changed the database",
            args.join(" ")
        );
    }
    // A dry run reads the states of the grid's jobs, and only reads.
    let mut dry = s.run_on(db_arg, &s.data, 1, &["--quiet"]);
    dry.args(["--dry-run", "--no-calibrate"]);
    run(&mut dry, true);
    assert!(
        before == bytes(&db),
        "`tune run --dry-run` changed the database"
    );

    // Read-only media: a directory and file nobody may write to.
    let media = s.dir().join("media");
    std::fs::create_dir(&media).unwrap();
    let ro_db = media.join("results.db");
    std::fs::copy(&db, &ro_db).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ro_db, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(&media, std::fs::Permissions::from_mode(0o555)).unwrap();
    for p in [s.dir(), media.as_path()] {
        let mode = if p == media { 0o555 } else { 0o755 };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let root = unsafe { libc_geteuid() } == 0;
    let as_reader = |args: &[&str]| -> std::process::Output {
        let mut cmd = if root {
            // root may write anywhere: read as `nobody`, who may not.
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(env!("CARGO_BIN_EXE_tune"));
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_tune"))
        };
        cmd.current_dir(&media)
            .env_remove("TUNE_DB")
            .env("RUST_LOG", "warn")
            .args(args);
        cmd.output().unwrap()
    };
    let ro_arg = ro_db.to_str().unwrap();
    for args in [
        vec!["report", "--db", ro_arg],
        vec!["status", "--db", ro_arg, "--all"],
        vec!["compare", "--db", ro_arg],
    ] {
        let out = as_reader(&args);
        assert!(
            out.status.success(),
            "`tune {}` on read-only media: {}",
            args.join(" "),
            stderr(&out)
        );
    }
    assert!(before == bytes(&ro_db));
    assert_eq!(names(&media), ["results.db"]);
    // A writer there says so, and why.
    let out = as_reader(&["migrate", "--db", ro_arg]);
    assert!(!out.status.success());
    std::fs::set_permissions(&media, std::fs::Permissions::from_mode(0o755)).unwrap();
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// A database of another application (or one with a table called `jobs`) is refused by every
/// command, writing or reading, before anything in it changes: no tune tables, no WAL, no
/// `_sqlx_migrations`, no lock file.
#[test]
fn a_database_that_is_not_tunes_is_left_unchanged() {
    let s = Setup::new(&small_grid(1, 1));
    for (name, create) in [
        (
            "app.db",
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)",
        ),
        (
            "jobs.db",
            "CREATE TABLE jobs (id INTEGER PRIMARY KEY, cron TEXT)",
        ),
    ] {
        let path = s.dir().join(name);
        let db = Db::create(&path);
        db.execute(create);
        drop(db);
        let before = bytes(&path);
        for args in [
            vec!["report", "--db", name],
            vec!["status", "--db", name],
            vec!["migrate", "--db", name],
            vec!["merge", name, "results.db"],
        ] {
            let out = run(&mut s.tune(&args), false);
            let err = stderr(&out);
            if args[0] == "merge" {
                // The input is missing: refused before OUT is touched.
                assert!(err.contains("input results.db does not exist"), "{err}");
            } else {
                assert!(err.contains("is not a tune results database"), "{err}");
            }
            assert!(!err.contains("upgrade tune"), "{err}");
        }
        let out = run(&mut s.run_on(name, &s.data, 1, &["--quiet"]), false);
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{name} is not a tune results database")),
            "{err}"
        );
        assert!(err.contains("pass another --db"), "{err}");
        assert!(!err.contains("upgrade tune"), "{err}");
        assert!(before == bytes(&path), "{name} was changed");
        let db = Db::open(&path);
        assert_eq!(
            db.int("SELECT COUNT(*) FROM sqlite_master WHERE name = '_sqlx_migrations'"),
            0
        );
        assert_eq!(db.text("PRAGMA journal_mode"), "delete");
    }
    let left: Vec<String> = names(s.dir())
        .into_iter()
        .filter(|n| n.contains(".db"))
        .collect();
    assert_eq!(left, ["app.db", "jobs.db"]);
}

/// `tune merge OUT missing.db` creates nothing and fails; `--db ""` and `--db newdir/` say what
/// is wrong and leave no stray file.
#[test]
fn missing_empty_and_directory_targets_are_refused_cleanly() {
    let s = Setup::new(&small_grid(1, 1));
    let out = run(&mut s.tune(&["merge", "out.db", "missing.db"]), false);
    assert!(
        stderr(&out).contains(
            "tune merge: input missing.db does not exist (or holds no results): name the results \
             databases to merge"
        ) && !stderr(&out).contains("--db"),
        "{}",
        stderr(&out)
    );
    for args in [
        vec!["report", "--db", "missing.db"],
        vec!["status", "--db", "missing.db"],
        vec!["plot", "depth", "--db", "missing.db"],
    ] {
        run(&mut s.tune(&args), false);
    }
    let out = run(&mut s.run_on("", &s.data, 1, &["--quiet"]), false);
    assert!(stderr(&out).contains("empty string"), "{}", stderr(&out));
    let out = run(&mut s.tune(&["report", "--db", ""]), false);
    assert!(stderr(&out).contains("empty string"), "{}", stderr(&out));
    let out = run(&mut s.run_on("newdir/", &s.data, 1, &["--quiet"]), false);
    let err = stderr(&out);
    assert!(
        err.contains("`newdir/` ends with `/`, so it names a directory"),
        "{err}"
    );
    assert!(err.contains("newdir/results.db"), "{err}");
    std::fs::create_dir(s.dir().join("olddir")).unwrap();
    let out = run(&mut s.tune(&["report", "--db", "olddir"]), false);
    let err = stderr(&out);
    assert!(err.contains("`olddir` is a directory, not a file"), "{err}");
    std::fs::remove_dir(s.dir().join("olddir")).unwrap();
    // A zero-byte file is not "missing": it is there, and empty.
    std::fs::write(s.dir().join("zero.db"), b"").unwrap();
    let out = run(&mut s.tune(&["report", "--db", "zero.db"]), false);
    let err = stderr(&out);
    assert!(
        err.contains("zero.db holds no tables (an empty file or database)"),
        "{err}"
    );
    std::fs::remove_file(s.dir().join("zero.db")).unwrap();
    assert_eq!(names(s.dir()), ["data", "grid.toml"]);
}

/// A finished run leaves its database as one self-contained file (no `-wal`, no `-shm`), and
/// reading it (report, status, sqlite3-style readers, a merge that fails on a later input) adds
/// no files beside it.
#[test]
fn a_finished_run_leaves_one_file_and_readers_add_none() {
    let s = Setup::new(&small_grid(1, 1));
    run(&mut s.run_on("results.db", &s.data, 1, &["--quiet"]), true);
    let only_db = |what: &str| {
        let extra: Vec<String> = names(s.dir())
            .into_iter()
            .filter(|n| n.starts_with("results.db") && n != "results.db" && n != "results.db.lock")
            .collect();
        assert!(extra.is_empty(), "after {what}: {extra:?}");
    };
    only_db("the run");
    for args in [
        vec!["report", "--db", "results.db"],
        vec!["status", "--db", "results.db"],
        vec!["merge", "out.db", "results.db", "missing.db"],
    ] {
        run(&mut s.tune(&args), args[0] != "merge");
        only_db(args[0]);
    }
    let db = Db::open(&s.dir().join("results.db"));
    assert_eq!(db.rows::<(String,)>("PRAGMA journal_mode")[0].0, "delete");
}

/// A run that ends in an error (here: the grid's data set is not in the data folder) also closes
/// its database cleanly; a `--data-dir` that does not exist, a worker or a migrate on a database
/// file that does not exist are refused before anything is created.
#[test]
fn failed_runs_leave_one_file_and_wrong_paths_create_nothing() {
    let s = Setup::new(
        "name = \"mnist\"\n[fixed]\nmodel = \"cnn\"\ndataset = \"mnist\"\nepochs = 1\n\
         batch = 32\ndense = 16\nlayer1 = 4\ntrain_images = 100\n",
    );
    let empty = s.dir().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = run(&mut s.run_on("results.db", &empty, 1, &["--quiet"]), false);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(s.db().exists());
    let left: Vec<String> = names(s.dir())
        .into_iter()
        .filter(|n| n.ends_with("-wal") || n.ends_with("-shm"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    let s = Setup::new(&small_grid(1, 1));
    let out = run(
        &mut s.run_on("results.db", &s.dir().join("typo"), 1, &["--quiet"]),
        false,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("typo: no such directory"),
        "{}",
        stderr(&out)
    );
    for args in [
        vec!["worker", "--db", "results.db"],
        vec!["migrate", "--db", "sub/x.db"],
    ] {
        let out = run(&mut s.tune(&args), false);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("no results database at"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(names(s.dir()), ["data", "grid.toml"]);
}

/// A damaged page or a full disk is not "upgrade tune": the hint names the real cause.
#[test]
fn hints_name_the_real_cause() {
    let s = Setup::new(&small_grid(1, 1));
    let db = s.db();
    run(&mut s.run_on(&db, &s.data, 1, &["--quiet"]), true);
    let mut b = bytes(&db);
    // Overwrite the schema page after the file header: the file is still SQLite, its tables not.
    for x in &mut b[100..4096] {
        *x = 0xa5;
    }
    std::fs::write(&db, &b).unwrap();
    for out in [
        run(&mut s.run_on(&db, &s.data, 1, &["--quiet"]), false),
        run(
            &mut s.tune(&["report", "--db", db.to_str().unwrap()]),
            false,
        ),
    ] {
        let err = stderr(&out);
        assert!(err.contains("damaged"), "{err}");
        assert!(!err.contains("upgrade tune"), "{err}");
    }
}

// ----- 6. one database, one writer, whatever the path ---------------------------------------

/// Three 1-layer CNNs big enough that an epoch on the fixture data takes a noticeable time.
fn slow_grid() -> String {
    "name = \"slow\"\n[fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\nepochs = 5\n\
     batch = 32\ndense = 64\n\n[axes]\nlayer1 = [64, 65, 66]\n"
        .to_string()
}

/// While one run trains into a file, a second run reaching the same file through a symbolic
/// link, a `sqlite:` URL with `?mode=rwc`, a path with `..`, or a hard link is refused, and the
/// first run's job stays its own.
#[test]
fn one_writer_per_database_file_whatever_the_name() {
    let s = Setup::new(&slow_grid());
    std::fs::create_dir(s.dir().join("sub")).unwrap();
    let mut first = s
        .run_on("results.db", &s.data, 1, &["--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&s.db(), &mut first, Duration::from_secs(60), |db| {
        db.try_int("SELECT COUNT(*) FROM epoch_metrics") >= Some(1)
    });
    std::os::unix::fs::symlink(s.db(), s.dir().join("link.db")).unwrap();
    let mut refused = Vec::new();
    for name in [
        "link.db",
        "sqlite:results.db?mode=rwc",
        "sqlite://sub/../results.db",
        "./sub/../results.db",
    ] {
        refused.push((
            name,
            s.run_on(name, &s.data, 1, &["--quiet"]).output().unwrap(),
        ));
    }
    std::fs::hard_link(s.db(), s.dir().join("hard.db")).unwrap();
    let hard = s
        .run_on("hard.db", &s.data, 1, &["--quiet"])
        .output()
        .unwrap();
    let still_running = first.try_wait().unwrap().is_none();
    first.kill().unwrap();
    first.wait().unwrap();
    std::fs::remove_file(s.dir().join("hard.db")).unwrap();
    assert!(
        still_running,
        "the first run ended before the others were refused"
    );
    for (name, out) in &refused {
        assert_eq!(out.status.code(), Some(69), "{name}: {}", stderr(out));
        assert!(
            stderr(out).contains("another tune process is training into"),
            "{name}: {}",
            stderr(out)
        );
    }
    assert_eq!(hard.status.code(), Some(2), "{}", stderr(&hard));
    assert!(stderr(&hard).contains("hard links"), "{}", stderr(&hard));
    let db = Db::open(&s.db());
    let running: Vec<(String, i64)> =
        db.rows("SELECT worker_id, attempts FROM jobs WHERE status = 'running'");
    assert_eq!(running.len(), 1, "{running:?}");
    assert!(
        running[0].0.ends_with(&format!(":{}:0", first.id())),
        "{running:?}"
    );
    assert_eq!(running[0].1, 1, "{running:?}");
}

/// The URL forms sqlx documents work: `sqlite://y.db` trains into `y.db` (its lock beside it),
/// and `sqlite:y.db?mode=rwc` reads it.
#[test]
fn sqlite_url_forms_work() {
    let s = Setup::new(&small_grid(1, 1));
    run(
        &mut s.run_on("sqlite://y.db", &s.data, 1, &["--quiet"]),
        true,
    );
    assert!(s.dir().join("y.db").exists());
    assert!(s.dir().join("y.db.lock").exists());
    let out = run(
        &mut s.tune(&["report", "--db", "sqlite:y.db?mode=rwc"]),
        true,
    );
    assert!(stdout(&out).contains("1 finished job"), "{}", stdout(&out));
    // Training again through another form finds the job finished.
    let out = run(
        &mut s.run_on("sqlite:y.db?mode=rwc", &s.data, 1, &["--quiet"]),
        true,
    );
    assert!(stderr(&out).contains("1 already done"), "{}", stderr(&out));
}

/// An in-memory SQLite database would lose what is trained into it and show a reader nothing:
/// every command that opens a database refuses it with exit 2, naming it.
#[test]
fn an_in_memory_database_is_refused_everywhere() {
    let s = Setup::new(&small_grid(1, 1));
    let grid = s.grid.to_str().unwrap().to_string();
    for db in ["sqlite::memory:", "sqlite:file:x?mode=memory"] {
        for args in [
            vec!["run", grid.as_str()],
            vec!["worker"],
            vec!["report"],
            vec!["status"],
            vec!["compare"],
            vec!["migrate"],
            vec!["serve"],
        ] {
            let out = run(s.tune(&args).args(["--db", db]), false);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{args:?} {db}: {}",
                stderr(&out)
            );
            assert!(
                stderr(&out).contains(&format!("--db {db}: an in-memory database")),
                "{args:?}: {}",
                stderr(&out)
            );
        }
    }
}

// ----- 3. reports say what is not done; `tune status` lists it --------------------------------

/// An ANN and a CNN on the fixture `fashion-mnist`.
fn ann_and_cnn_grid() -> String {
    "name = \"pair\"\n[fixed]\ndataset = \"fashion-mnist\"\nepochs = 1\nbatch = 32\n\n\
     [[grid]]\nfixed = { model = \"ann\", dense = [16] }\n\n\
     [[grid]]\nfixed = { model = \"cnn\", layer1 = 4, dense = 16 }\n"
        .to_string()
}

/// Every report and plot command says how many jobs are failed, running, pending and
/// interrupted and where to read why; `compare` does not advise running a grid whose job failed;
/// a database whose only jobs failed says so; `tune status` lists the jobs that are not done with
/// status, attempts and last error, as a table and as JSON.
#[test]
fn reports_say_what_is_not_done_and_status_lists_it() {
    let s = Setup::new(&small_grid(3, 1));
    let db = s.db();
    let db_arg = db.to_str().unwrap();
    run(&mut s.run_on(db_arg, &s.data, 1, &["--quiet"]), true);
    let d = Db::open(&db);
    d.execute(
        "UPDATE jobs SET status = 'failed', attempts = 2, \
         last_error = 'diverged: loss became NaN at epoch 1\ntry a lower lr' WHERE seq = 2",
    );
    d.execute("UPDATE jobs SET status = 'pending', attempts = 0 WHERE seq = 3");
    d.execute("DELETE FROM results WHERE job_key IN (SELECT key FROM jobs WHERE seq IN (2, 3))");
    let failed_key = d.text("SELECT key FROM jobs WHERE seq = 2");
    drop(d);
    let plot = s.dir().join("p.svg");
    for args in [
        vec!["report", "--db", db_arg],
        vec!["report", "--db", db_arg, "--format", "json"],
        vec!["compare", "--db", db_arg],
        vec!["confusion", "--db", db_arg],
        vec![
            "plot",
            "depth",
            "--db",
            db_arg,
            "--out",
            plot.to_str().unwrap(),
        ],
        vec![
            "plot",
            "curves",
            "--db",
            db_arg,
            "--out",
            plot.to_str().unwrap(),
        ],
        vec![
            "plot",
            "confusion",
            "--db",
            db_arg,
            "--out",
            plot.to_str().unwrap(),
        ],
    ] {
        let out = run(&mut s.tune(&args), true);
        let err = stderr(&out);
        assert!(
            err.contains("2 of 3 jobs of the selection are not done: 1 failed, 0 running, 1 pending, 0 interrupted"),
            "tune {}: {err}",
            args.join(" ")
        );
        assert!(err.contains(&format!("tune status --db {db_arg}")), "{err}");
    }

    let out = run(&mut s.tune(&["status", "--db", db_arg]), true);
    let table = stdout(&out);
    assert!(table.contains(&failed_key[..12]), "{table}");
    assert!(table.contains("failed"), "{table}");
    assert!(table.contains("pending"), "{table}");
    assert!(
        table.contains("diverged: loss became NaN at epoch 1"),
        "{table}"
    );
    assert!(
        !table.contains("try a lower lr"),
        "errors are cut to one line: {table}"
    );
    let out = run(
        &mut s.tune(&["status", "--db", db_arg, "--format", "json"]),
        true,
    );
    let jobs: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert_eq!(jobs[0]["key"], failed_key.as_str());
    assert_eq!(jobs[0]["status"], "failed");
    assert_eq!(jobs[0]["attempts"], 2);
    assert_eq!(
        jobs[0]["last_error"],
        "diverged: loss became NaN at epoch 1\ntry a lower lr"
    );
    assert_eq!(jobs[1]["status"], "pending");
    let out = run(
        &mut s.tune(&["status", "--db", db_arg, "--all", "--format", "json"]),
        true,
    );
    let all: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 3);

    // Nothing finished: the advice names the failure, not the quick grid.
    let d = Db::open(&db);
    d.execute("UPDATE jobs SET status = 'failed', last_error = 'boom'");
    d.execute("DELETE FROM results");
    drop(d);
    let out = run(&mut s.tune(&["report", "--db", db_arg]), false);
    let err = stderr(&out);
    assert!(err.contains("3 failed"), "{err}");
    assert!(err.contains("tune status"), "{err}");
    assert!(!err.contains("grids/quick.toml"), "{err}");

    // compare: a cell whose job failed is not "run grids/compare.toml".
    let s = Setup::new(&ann_and_cnn_grid());
    let db = s.db();
    let db_arg = db.to_str().unwrap();
    run(&mut s.run_on(db_arg, &s.data, 1, &["--quiet"]), true);
    let d = Db::open(&db);
    d.execute("UPDATE jobs SET status = 'failed', last_error = 'boom' WHERE model = 'ann'");
    d.execute("DELETE FROM results WHERE job_key IN (SELECT key FROM jobs WHERE model = 'ann')");
    drop(d);
    let out = run(&mut s.tune(&["compare", "--db", db_arg]), true);
    let text = stdout(&out);
    assert!(
        text.contains("no ANN result on fashion-mnist: its job") && text.contains("failed"),
        "{text}"
    );
    assert!(
        !text.contains("no ANN result on fashion-mnist: run"),
        "{text}"
    );
    // Cells without any job still say which grid to run.
    assert!(
        text.contains("no ANN result on mnist: run `tune run grids/compare.toml`"),
        "{text}"
    );
}

// ----- 8. merge conflicts are reported ------------------------------------------------------

/// `tune merge OUT A B` where A and B hold different results for the same job lists the
/// conflict (job, both values, which was kept) and keeps the first one merged.
#[test]
fn merge_reports_every_conflict_and_keeps_the_first() {
    let s = Setup::new(&small_grid(2, 1));
    run(&mut s.run_on("a.db", &s.data, 1, &["--quiet"]), true);
    run(&mut s.run_on("b.db", &s.data, 1, &["--quiet"]), true);
    let b = Db::open(&s.dir().join("b.db"));
    b.execute(
        "UPDATE results SET test_accuracy = 0.125, test_loss = 9.5 \
         WHERE job_key = (SELECT job_key FROM sweep_jobs WHERE position = 0)",
    );
    let key = b.text("SELECT job_key FROM sweep_jobs WHERE position = 0");
    drop(b);
    let out = run(&mut s.tune(&["merge", "out.db", "a.db", "b.db"]), true);
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("conflict:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    let line = lines[0];
    assert!(line.contains(&key), "{line}");
    assert!(line.contains("b.db has accuracy 0.125, loss 9.5"), "{line}");
    assert!(line.contains("out.db has test accuracy 0."), "{line}");
    assert!(line.contains("kept out.db's"), "{line}");
    assert!(
        err.contains("1 jobs were finished with different results"),
        "{err}"
    );
    let out_db = Db::open(&s.dir().join("out.db"));
    assert_eq!(
        out_db.int("SELECT COUNT(*) FROM results WHERE test_accuracy = 0.125"),
        0,
        "the first result merged is kept"
    );
    assert_eq!(out_db.int("SELECT COUNT(*) FROM results"), 2);
    drop(out_db);
    // The order decides: B first keeps B's result.
    let out = run(&mut s.tune(&["merge", "out2.db", "b.db", "a.db"]), true);
    assert!(
        stderr(&out).contains("a.db has accuracy"),
        "{}",
        stderr(&out)
    );
    let out2 = Db::open(&s.dir().join("out2.db"));
    assert_eq!(
        out2.int("SELECT COUNT(*) FROM results WHERE test_accuracy = 0.125"),
        1
    );
}

// ----- 11. results belong to the data they were trained on ----------------------------------

/// Writes a second fixture data set whose training labels differ from [`fixture_data`]'s.
fn other_data(root: &Path) -> PathBuf {
    let data = fixture_data(root);
    let labels: Vec<u8> = (0..TRAIN).map(|i| (i * 3 % 10) as u8).collect();
    tune_data::idx::write_labels(
        &root
            .join("fashion-mnist")
            .join("train-labels-idx1-ubyte.gz"),
        &labels,
        true,
    )
    .unwrap();
    data
}

/// A known data set whose files are not the canonical ones is refused unless
/// `--allow-unverified`, which records it as unverified (and reports say so); every job records
/// the SHA-256 of its data; a grid finished on one data set is not "already finished" for other
/// data: the run is refused naming both hashes, and another --db trains it.
#[test]
fn results_belong_to_the_data_they_were_trained_on() {
    let s = Setup::new(&small_grid(2, 1));
    let db = s.db();
    let db_arg = db.to_str().unwrap();
    let out = run(
        s.run_on(db_arg, &s.data, 1, &["--quiet"])
            .env_remove("TUNE_ALLOW_UNVERIFIED"),
        false,
    );
    let err = stderr(&out);
    assert!(
        err.contains("is not the canonical `fashion-mnist`"),
        "{err}"
    );
    assert!(err.contains("--allow-unverified"), "{err}");
    assert!(err.contains("train-images-idx3-ubyte.gz: SHA-256"), "{err}");
    let d = Db::open(&db);
    assert_eq!(
        d.int("SELECT COUNT(*) FROM jobs WHERE status = 'pending'"),
        2
    );
    drop(d);

    run(
        s.run_on(db_arg, &s.data, 1, &["--quiet"])
            .env_remove("TUNE_ALLOW_UNVERIFIED")
            .arg("--allow-unverified"),
        true,
    );
    let d = Db::open(&db);
    let stamps: Vec<(Option<String>, Option<bool>)> =
        d.rows("SELECT data_sha256, data_verified FROM jobs ORDER BY seq");
    drop(d);
    assert_eq!(stamps.len(), 2);
    let first = stamps[0].0.clone().expect("a data identity is recorded");
    assert_eq!(first.len(), 64, "{first}");
    for (sha, verified) in &stamps {
        assert_eq!(sha.as_deref(), Some(first.as_str()));
        assert_eq!(*verified, Some(false));
    }
    let out = run(&mut s.tune(&["report", "--db", db_arg]), true);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("fashion-mnist {}… UNVERIFIED", &first[..12])),
        "{err}"
    );
    let out = run(
        &mut s.tune(&["status", "--db", db_arg, "--all", "--format", "json"]),
        true,
    );
    let jobs: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(jobs[0]["data_sha256"], first.as_str());
    assert_eq!(jobs[0]["data_verified"], false);

    // The same grid on other data: refused, naming both hashes; nothing trained or changed.
    let other = other_data(&s.dir().join("other"));
    let out = run(&mut s.run_on(db_arg, &other, 1, &["--quiet"]), false);
    let err = stderr(&out);
    assert!(err.contains(&first), "{err}");
    assert!(err.contains("2 jobs of this grid"), "{err}");
    assert!(err.contains("another database"), "{err}");
    let new_sha = err
        .split("has SHA-256 ")
        .nth(1)
        .map(|t| t[..64].to_string())
        .expect("the new data's hash is named");
    assert_ne!(new_sha, first);
    let d = Db::open(&db);
    assert_eq!(d.int("SELECT COUNT(*) FROM results"), 2);
    assert_eq!(
        d.int("SELECT COUNT(DISTINCT data_sha256) FROM jobs"),
        1,
        "nothing was re-stamped"
    );
    drop(d);
    // Into another database it trains, stamped with the other data.
    run(&mut s.run_on("other.db", &other, 1, &["--quiet"]), true);
    let d = Db::open(&s.dir().join("other.db"));
    let shas: Vec<(String,)> = d.rows("SELECT DISTINCT data_sha256 FROM jobs");
    assert_eq!(shas, [(new_sha.clone(),)]);
    drop(d);

    // Merging the two: same jobs, different data: each is a listed conflict.
    let out = run(&mut s.tune(&["merge", "m.db", db_arg, "other.db"]), true);
    let err = stderr(&out);
    assert_eq!(err.matches("trained on different data").count(), 2, "{err}");
    assert!(err.contains(&new_sha), "{err}");
    let d = Db::open(&s.dir().join("m.db"));
    let shas: Vec<(String,)> = d.rows("SELECT DISTINCT data_sha256 FROM jobs");
    assert_eq!(
        shas,
        [(first.clone(),)],
        "the first merged keeps its data identity"
    );
}

/// `tune train` verifies the data set too.
#[test]
fn train_refuses_unverified_data_unless_allowed() {
    let s = Setup::new(&small_grid(1, 1));
    let data = s.data.to_str().unwrap().to_string();
    let args = [
        "train",
        "--filters",
        "4",
        "--dense",
        "16",
        "--epochs",
        "1",
        "--batch",
        "32",
        "--quiet",
        "--data-dir",
        &data,
    ];
    let out = run(s.tune(&args).env_remove("TUNE_ALLOW_UNVERIFIED"), false);
    assert!(
        stderr(&out).contains("is not the canonical `fashion-mnist`"),
        "{}",
        stderr(&out)
    );
    run(
        s.tune(&args)
            .env_remove("TUNE_ALLOW_UNVERIFIED")
            .arg("--allow-unverified"),
        true,
    );
}
