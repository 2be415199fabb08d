//! Grid files through `tune run`: a broken grid stops before anything is written, with exit code 2
//! and a message naming the file, the line and the key; `--dry-run` and `--repeats` show and size
//! the expanded grid.

use crate::util::*;
use std::path::Path;

/// `tune run GRID --dry-run` in `dir` for a grid file with `text`: its exit code, stdout and
/// stderr. Asserts that nothing was written beside the grid.
fn dry_run(dir: &Path, text: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let grid = write_grid(dir, "grid.toml", text);
    let out = tune(dir)
        .args(["run", "grid.toml", "--dry-run"])
        .args(extra)
        .output()
        .unwrap();
    assert!(!dir.join("results").exists(), "a dry run created results/");
    let entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        entries.iter().all(|e| e == "grid.toml" || e == "cache"),
        "{entries:?}"
    );
    std::fs::remove_file(grid).unwrap();
    (out.status.code(), stdout(&out), stderr(&out))
}

/// Asserts a broken grid's outcome: exit 2, nothing on stdout, and an error on stderr starting
/// with `grid.toml:LINE:` and containing each of `words` once; a real run writes no database.
fn assert_grid_error(text: &str, line: usize, words: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let (code, out, err) = dry_run(tmp.path(), text, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(out, "");
    let prefix = format!("error: grid.toml:{line}:");
    assert!(err.starts_with(&prefix), "expected `{prefix}`: {err}");
    // Each once: an error that prints its source is not followed by the source again.
    for w in words {
        assert_eq!(err.matches(w).count(), 1, "expected `{w}` once: {err}");
    }
    // A real run stops there too, before creating a database.
    write_grid(tmp.path(), "grid.toml", text);
    let out = tune(tmp.path())
        .args(["run", "grid.toml", "--db", "r.db"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!tmp.path().join("r.db").exists());
}

const HEAD: &str = "name = \"bad\"\n[fixed]\nmodel = \"cnn\"\ndense = 16\n";

#[test]
fn a_toml_syntax_error_names_file_and_line() {
    assert_grid_error(&format!("{HEAD}epochs = \"1\n"), 5, &["TOML syntax error"]);
}

#[test]
fn an_unknown_key_names_the_key_and_suggests_the_right_one() {
    assert_grid_error(
        &format!("{HEAD}layer1 = 8\nepochz = 3\n"),
        6,
        &["unknown key `epochz`", "[fixed]", "Did you mean `epochs`"],
    );
}

#[test]
fn a_value_of_the_wrong_type_names_the_key() {
    assert_grid_error(
        &format!("{HEAD}layer1 = 8\nepochs = \"three\"\n"),
        6,
        &["`epochs` must be an integer", "\"three\""],
    );
}

#[test]
fn an_empty_axis_is_refused() {
    assert_grid_error(
        &format!("{HEAD}\n[axes]\nlayer1 = []\n"),
        7,
        &["axis `layer1` has no values"],
    );
}

#[test]
fn constraints_that_remove_every_job_are_refused() {
    assert_grid_error(
        &format!("{HEAD}\n[axes]\nlayer1 = [8, 16]\n\n[constraints]\nrules = [\"layer1 > 100\"]\n"),
        10,
        &["remove all 2 combinations", "layer1 > 100"],
    );
}

#[test]
fn an_architecture_that_shrinks_below_one_pixel_is_refused() {
    // 28 -> 26 -> 13 -> 11 -> 5 -> 3 -> 1: a fourth 3x3 conv layer has nothing to work on.
    assert_grid_error(
        &format!("{HEAD}kernel = 3\nlayer1 = 8\nlayer2 = 8\nlayer3 = 8\nlayer4 = 8\n"),
        9,
        &["conv layer 4", "smaller than its 3x3 kernel"],
    );
}

#[test]
fn a_missing_grid_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tune(tmp.path()).args(["run", "nope.toml"]), false);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("cannot read grid file nope.toml"), "{err}");
    assert_eq!(
        err.matches("os error 2").count(),
        1,
        "the cause is printed once: {err}"
    );
}

#[test]
fn a_dry_run_prints_the_jobs_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, out, err) = dry_run(tmp.path(), &small_grid(3, 2), &[]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.last(), Some(&"3 jobs"), "{out}");
    for label in ["cnn 4/16 k3", "cnn 5/16 k3", "cnn 6/16 k3"] {
        assert_eq!(
            lines.iter().filter(|l| l.contains(label)).count(),
            1,
            "{out}"
        );
    }
    assert!(out.contains("estimated wall time"), "{out}");
}

#[test]
fn repeats_multiply_the_jobs_with_consecutive_seeds() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, out, err) = dry_run(tmp.path(), &small_grid(2, 1), &["--repeats", "3"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().last(), Some("6 jobs"), "{out}");
    // Rows in order: every job with seed 1, then every job with seed 2, ... A row's words are
    // `│ # key cnn 4/16 k3 dataset epochs seed ...`.
    let seeds: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("cnn "))
        .map(|l| l.split_whitespace().nth(8).unwrap())
        .collect();
    assert_eq!(seeds, ["1", "1", "2", "2", "3", "3"], "{out}");

    let (code, out, err) = dry_run(tmp.path(), &small_grid(2, 1), &["--repeats", "0"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(err.contains("--repeats"), "{err}");
}
