//! What tune prints, kept honest: snapshots of every command's `--help` and of a dry run of the
//! study's 1-layer grid, and `--format markdown|csv|json` of the listings (`tune run --dry-run`,
//! `tune bench --grid`, `tune data list`) parsed as a script would.

use crate::util::*;
use std::path::Path;
use std::process::Command;

/// The `tune` binary for `--help`: no environment variable that help would show the value of,
/// and a fixed width to wrap at.
fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tune"))
        .args(args)
        .arg("--help")
        .env_remove("TUNE_DB")
        .env_remove("TUNE_MIRROR")
        .env_remove("TUNE_ALLOW_UNVERIFIED")
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn help_of_every_command() {
    let commands: &[&[&str]] = &[
        &[],
        &["run"],
        &["worker"],
        &["report"],
        &["compare"],
        &["confusion"],
        &["plot"],
        &["plot", "curves"],
        &["plot", "depth"],
        &["plot", "halving"],
        &["plot", "confusion"],
        &["status"],
        &["merge"],
        &["migrate"],
        &["train"],
        &["bench"],
        &["data"],
        &["data", "list"],
        &["data", "fetch"],
        &["serve"],
    ];
    for args in commands {
        let name = if args.is_empty() {
            "help_tune".to_string()
        } else {
            format!("help_{}", args.join("_"))
        };
        insta::assert_snapshot!(name, help(args));
    }
}

/// `tune ARGS` in `dir` that must succeed: stdout and stderr, with `dir`'s path written `[TMP]`.
fn ok(dir: &Path, args: &[&str]) -> (String, String) {
    let out = run(tune(dir).args(args), true);
    let tmp = dir.display().to_string();
    (
        stdout(&out).replace(&tmp, "[TMP]"),
        stderr(&out).replace(&tmp, "[TMP]"),
    )
}

/// A directory with the fixture data sets under `data/` and the study's `grids/1layer.toml`.
fn study_dir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    fixture_data(&tmp.path().join("data"));
    let grids = tmp.path().join("grids");
    std::fs::create_dir_all(&grids).unwrap();
    let grid = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../grids/1layer.toml");
    std::fs::copy(grid, grids.join("1layer.toml")).unwrap();
    tmp
}

/// The dry run of the study's 1-layer grid with nothing calibrated: every figure is the assumed
/// GFLOP/s, on one job at a time of one thread, so the estimate is the same on every machine.
const DRY_RUN: &[&str] = &[
    "run",
    "grids/1layer.toml",
    "--dry-run",
    "--no-calibrate",
    "--jobs",
    "1",
    "--threads-per-job",
    "1",
    "--data-dir",
    "data",
];

#[test]
fn dry_run_of_the_1layer_grid() {
    let tmp = study_dir();
    let (text, err) = ok(tmp.path(), DRY_RUN);
    assert_eq!(err, "", "nothing to warn about");
    insta::assert_snapshot!("dry_run_1layer_table", text);
    let (markdown, _) = ok(tmp.path(), &[DRY_RUN, &["--format", "markdown"]].concat());
    insta::assert_snapshot!("dry_run_1layer_markdown", markdown);
    let (csv, _) = ok(tmp.path(), &[DRY_RUN, &["--format", "csv"]].concat());
    insta::assert_snapshot!("dry_run_1layer_csv", csv);
}

/// What a listing prints with `--format csv`, `json` and `markdown`, as a script reads it.
struct Formats {
    /// The CSV's header line.
    header: Vec<String>,
    /// The CSV's rows.
    rows: Vec<Vec<String>>,
    /// Standard error of the CSV run.
    csv_stderr: String,
    /// The JSON text.
    json_text: String,
    /// The JSON, parsed.
    json: serde_json::Value,
    /// The Markdown text.
    markdown: String,
}

impl Formats {
    /// Runs `tune ARGS --format F` in `dir` for each format.
    fn of(dir: &Path, args: &[&str]) -> Formats {
        let with = |format: &str| ok(dir, &[args, &["--format", format]].concat());
        let (csv, csv_stderr) = with("csv");
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let header = reader.headers().unwrap().iter().map(String::from).collect();
        let rows = reader
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect();
        let (json_text, _) = with("json");
        let json = serde_json::from_str(&json_text).unwrap();
        let (markdown, _) = with("markdown");
        Formats {
            header,
            rows,
            csv_stderr,
            json_text,
            json,
            markdown,
        }
    }

    /// The lines of the GitHub pipe table: header line, alignment line, rows.
    fn pipe_table(&self) -> Vec<&str> {
        self.markdown
            .lines()
            .filter(|l| l.starts_with("| "))
            .collect()
    }
}

/// A directory with the fixture data sets in `data/` and `grid.toml` holding `grid`.
fn with_data(grid: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    fixture_data(&tmp.path().join("data"));
    write_grid(tmp.path(), "grid.toml", grid);
    tmp
}

#[test]
fn dry_run_formats_for_scripts() {
    let tmp = with_data(&small_grid(3, 2));
    let dry: Vec<&str> = "run grid.toml --dry-run --no-calibrate --data-dir data"
        .split(' ')
        .collect();
    let f = Formats::of(tmp.path(), &dry);

    assert_eq!(
        f.header,
        [
            "index",
            "key",
            "architecture",
            "dataset",
            "epochs",
            "seed",
            "params",
            "mflop_per_image",
            "state",
            "est_seconds_left"
        ]
    );
    let rows = &f.rows;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[0][2], "cnn 4/16 k3");
    assert!(rows.iter().all(|r| r[8] == "new"), "{rows:?}");
    assert!(rows[0][9].parse::<f64>().unwrap() > 0.0, "{rows:?}");
    // The lines around the table go to stderr.
    let err = &f.csv_stderr;
    assert!(err.starts_with("grid.toml: 3 jobs\n"), "{err}");
    assert!(err.contains("estimated wall time"), "{err}");

    let (v, json) = (&f.json, &f.json_text);
    let jobs = v["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 3, "{json}");
    assert_eq!(jobs[1]["architecture"], "cnn 5/16 k3");
    assert_eq!(jobs[1]["seed"], 1);
    assert_eq!(jobs[1]["epochs"], 2);
    assert_eq!(jobs[1]["key"].as_str().unwrap(), rows[1][1]);
    assert_eq!(v["grid"], "grid.toml");
    assert_eq!(v["jobs_left"], 3);
    assert!(v["wall_s"].as_f64().unwrap() > 0.0, "{json}");
    assert_eq!(v["figures"]["assumed"], 3, "{json}");
    assert_eq!(v["data"][0]["train_images"], TRAIN as u64, "{json}");

    let (table, md) = (f.pipe_table(), &f.markdown);
    assert_eq!(table.len(), 2 + 3, "{md}");
    assert!(table[0].starts_with("| # | job | architecture |"), "{md}");
    assert!(table[1].starts_with("| --- |"), "{md}");
    assert!(md.starts_with("grid.toml: 3 jobs\n\n"), "{md}");
    assert!(md.ends_with("\n3 jobs\n"), "{md}");

    // `--format` is the dry run's.
    let out = run(
        tune(tmp.path()).args(["run", "grid.toml", "--format", "csv"]),
        false,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--dry-run"), "{}", stderr(&out));
}

#[test]
fn bench_grid_formats_for_scripts() {
    let tmp = with_data(&small_grid(2, 1));
    let bench: Vec<&str> = "bench --grid grid.toml --images 32 --batch 16 --data-dir data"
        .split(' ')
        .collect();

    let (text, _) = ok(tmp.path(), &bench);
    assert!(
        text.contains("│ architecture   params   images/s   GFLOP/s   data set"),
        "{text}"
    );
    assert!(text.contains("input (HxWxC)"), "{text}");
    assert!(
        text.contains("2 architectures measured on 1 thread, on each data set shape"),
        "{text}"
    );
    assert!(text.contains("28x28x1 (fashion-mnist)"), "{text}");
    assert!(text.contains("saved in "), "{text}");

    let f = Formats::of(tmp.path(), &bench);
    assert_eq!(
        f.header,
        [
            "model",
            "params",
            "images_per_s",
            "gflops",
            "dataset",
            "input"
        ]
    );
    assert_eq!(f.rows.len(), 2, "{:?}", f.rows);
    assert_eq!(f.rows[1][0], "cnn 5/16 k3");
    assert!(f.rows[1][2].parse::<f64>().unwrap() > 0.0, "{:?}", f.rows);
    assert!(
        f.csv_stderr.contains("2 architectures measured"),
        "{}",
        f.csv_stderr
    );

    // JSON as before: one line, an array of objects.
    let json = &f.json_text;
    assert_eq!(json.lines().count(), 1, "{json}");
    let rows = f.json.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{json}");
    assert_eq!(rows[0]["model"], "cnn 4/16 k3");
    assert!(rows[0]["params"].as_u64().unwrap() > 0, "{json}");
    assert!(rows[0]["gflops"].as_f64().unwrap() > 0.0, "{json}");

    let table = f.pipe_table();
    assert_eq!(table.len(), 2 + 2, "{}", f.markdown);
    assert_eq!(
        table[0],
        "| architecture | params | images/s | GFLOP/s | data set | input (HxWxC) |"
    );

    // Without --grid, one measurement has no table for markdown or CSV.
    let out = run(tune(tmp.path()).args(["bench", "--format", "csv"]), false);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--grid"), "{}", stderr(&out));
}

#[test]
fn data_list_formats_for_scripts() {
    let tmp = with_data("");
    let list = ["data", "list", "--data-dir", "data"];

    let (text, _) = ok(tmp.path(), &list);
    assert!(text.contains("data set"), "{text}");

    let f = Formats::of(tmp.path(), &list);
    assert_eq!(f.header, ["dataset", "dir", "source", "check"]);
    assert_eq!(f.rows.len(), 2, "{:?}", f.rows);
    let names: Vec<&str> = f.rows.iter().map(|r| r[0].as_str()).collect();
    assert!(
        names.contains(&"fashion-mnist") && names.contains(&"mnist"),
        "{names:?}"
    );
    assert!(f.rows.iter().all(|r| r[1].ends_with(&r[0])), "{:?}", f.rows);

    let rows = f.json.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{}", f.json_text);
    assert!(
        rows[0]["check"].as_str().unwrap().starts_with("FAILED"),
        "{}",
        f.json_text
    );
    assert!(rows[0]["dir"].is_string(), "{}", f.json_text);

    let table = f.pipe_table();
    assert_eq!(table.len(), 2 + 2, "{}", f.markdown);
    assert_eq!(table[0], "| data set | found in | from | check |");
}

/// A reader that stops early (`tune report | head -1`) is no bug: every command that prints to
/// stdout ends quietly with exit 0 when stdout is a pipe whose reader has gone, instead of
/// panicking with "failed printing to stdout: Broken pipe" and exit 70.
#[test]
fn a_closed_stdout_ends_each_printing_command_quietly() {
    let s = Setup::new(&small_grid(2, 1));
    run(&mut s.run_cmd(&["--quiet"]), true);
    let db = s.db();
    let db = db.to_str().unwrap();
    let grid = s.grid.to_str().unwrap();
    let data = s.data.to_str().unwrap();
    let commands: &[&[&str]] = &[
        &[
            "run",
            grid,
            "--db",
            db,
            "--data-dir",
            data,
            "--dry-run",
            "--no-calibrate",
        ],
        &[
            "run",
            grid,
            "--db",
            db,
            "--data-dir",
            data,
            "--dry-run",
            "--no-calibrate",
            "--format",
            "csv",
        ],
        &["data", "list", "--data-dir", data, "--format", "csv"],
        &["report", "--db", db],
        &["report", "--db", db, "--format", "json"],
        &["status", "--db", db, "--all"],
        &["confusion", "--db", db],
        &["compare", "--db", db],
    ];
    for args in commands {
        // A pipe whose reading end is closed before tune starts: every write fails with EPIPE.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = s
            .tune(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}
