//! The first thing a new user does: run a small grid, then report it.

use crate::util::*;

#[test]
fn a_small_grid_runs_end_to_end_and_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let data = fixture_data(&tmp.path().join("data"));
    let grid = write_grid(tmp.path(), "small.toml", &small_grid(3, 1));
    let out = run(
        tune(tmp.path())
            .args(["run", grid.to_str().unwrap(), "--data-dir"])
            .arg(&data)
            .args(["--quiet", "--jobs", "2"]),
        true,
    );
    assert!(
        stdout(&out).contains("3 jobs done, 0 failed"),
        "{}",
        stdout(&out)
    );
    let out = run(tune(tmp.path()).args(["report", "--format", "json"]), true);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["jobs"], 3, "{report}");
    let db = tmp.path().join("results/results.db");
    assert!(db.exists());
}
