//! The commands that read a results database: `report`, `compare`, `confusion` and `plot` give
//! the figures the `results` table holds, and say what to do when there are none.

use crate::util::db::Db;
use crate::util::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// An ANN and three CNNs (two 1-layer, one 2-layer), two epochs each, on the fixture data.
const GRID: &str = "name = \"reports\"\n[fixed]\ndataset = \"fashion-mnist\"\nepochs = 2\nbatch = 32\n\n\
    [[grid]]\nfixed = { model = \"ann\", dense = [32] }\n\n\
    [[grid]]\n[grid.fixed]\nmodel = \"cnn\"\ndense = 16\n[grid.axes]\nfilters = [[4], [6], [4, 8]]\n";

/// A temporary directory with a results database `results.db` of [`GRID`].
struct Trained {
    s: Setup,
    db: PathBuf,
}

impl Trained {
    fn new() -> Trained {
        let s = Setup::new(GRID);
        run(&mut s.run_jobs(2, &["--quiet"]), true);
        let db = s.db();
        Trained { s, db }
    }

    /// `tune SUBCOMMAND --db DB ARGS...`.
    fn cmd(&self, args: &[&str]) -> Command {
        self.s.tune_db(args)
    }

    /// Test accuracy of each finished job, by key, from the `results` table.
    fn accuracies(&self) -> BTreeMap<String, f64> {
        let rows: Vec<(String, f64)> =
            Db::open(&self.db).rows("SELECT job_key, test_accuracy FROM results");
        rows.into_iter().collect()
    }
}

#[test]
fn report_csv_and_json_give_the_accuracies_of_the_results_table() {
    let t = Trained::new();
    let expected = t.accuracies();
    assert_eq!(expected.len(), 4);

    // CSV: one table, the ranked rows of all groups (the summary by group is in JSON).
    let out = run(
        &mut t.cmd(&["report", "--by", "layers", "--format", "csv"]),
        true,
    );
    let text = stdout(&out);
    let mut blocks = text.split("\n\n");
    let ranked: Vec<Vec<&str>> = blocks
        .next()
        .unwrap()
        .lines()
        .map(|l| l.split(',').collect())
        .collect();
    let col = |name: &str| ranked[0].iter().position(|c| *c == name).unwrap();
    let (key, accuracy, layers) = (col("keys"), col("accuracy"), col("layers"));
    let from_csv: BTreeMap<String, f64> = ranked[1..]
        .iter()
        .map(|row| (row[key].to_string(), row[accuracy].parse().unwrap()))
        .collect();
    assert_eq!(from_csv, expected, "{text}");
    let mut depths: Vec<&str> = ranked[1..].iter().map(|row| row[layers]).collect();
    depths.sort();
    assert_eq!(depths, ["1", "1", "2", "ann"], "{text}");
    assert!(blocks.next().is_none(), "one table: {text}");
    assert!(
        stderr(&out).contains("summary by layers"),
        "{}",
        stderr(&out)
    );

    // JSON: the same figures, grouped by depth.
    let out = run(
        &mut t.cmd(&["report", "--by", "layers", "--format", "json"]),
        true,
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["jobs"], 4, "{report}");
    let mut from_json = BTreeMap::new();
    let groups = report["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 3, "{report}");
    for group in groups {
        for row in group["rows"].as_array().unwrap() {
            let keys = row["keys"].as_array().unwrap();
            assert_eq!(keys.len(), 1, "{row}");
            from_json.insert(
                keys[0].as_str().unwrap().to_string(),
                row["accuracy"].as_f64().unwrap(),
            );
        }
    }
    assert_eq!(from_json, expected);
    assert_eq!(
        report["summary"].as_array().unwrap().len(),
        3,
        "one summary per depth: {report}"
    );
}

#[test]
fn report_by_an_unknown_field_lists_the_valid_ones() {
    let t = Trained::new();
    let out = run(&mut t.cmd(&["report", "--by", "nonsense"]), false);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("`nonsense`"), "{err}");
    for field in ["layers", "layer1", "dense", "kernel", "dataset"] {
        assert!(err.contains(field), "{field}: {err}");
    }
}

#[test]
fn compare_puts_the_ann_beside_the_best_cnn() {
    let t = Trained::new();
    let acc = t.accuracies();
    let out = run(&mut t.cmd(&["compare", "--format", "json"]), true);
    let cmp: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let datasets = cmp["datasets"].as_array().unwrap();
    let fashion = datasets.iter().position(|d| d == "fashion-mnist").unwrap();
    let rows = cmp["rows"].as_array().unwrap();
    let row = |name: &str| rows.iter().find(|r| r["name"] == name).unwrap();
    let ann_key = row("ann")["configs"][fashion]["keys"][0].as_str().unwrap();
    let cnn_key = row("best cnn")["configs"][fashion]["keys"][0]
        .as_str()
        .unwrap();
    assert_eq!(row("ann")["accuracy"][fashion].as_f64(), Some(acc[ann_key]));
    let db = Db::open(&t.db);
    let best_cnn: f64 = db.rows::<(f64,)>(
        "SELECT MAX(r.test_accuracy) FROM results r JOIN jobs j ON j.key = r.job_key \
         WHERE j.model = 'cnn'",
    )[0]
    .0;
    assert_eq!(acc[cnn_key], best_cnn);
    assert_eq!(
        row("best cnn")["accuracy"][fashion].as_f64(),
        Some(best_cnn)
    );

    let out = run(&mut t.cmd(&["compare"]), true);
    assert!(stdout(&out).contains("best cnn"), "{}", stdout(&out));
}

#[test]
fn confusion_shows_the_matrix_of_the_named_job() {
    let t = Trained::new();
    let acc = t.accuracies();
    // The worst job, so that the default (the best) would differ when the accuracies do.
    let (key, accuracy) = acc
        .iter()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(k, a)| (k.clone(), *a))
        .unwrap();
    let out = run(
        &mut t.cmd(&["confusion", &key[..6], "--format", "csv"]),
        true,
    );
    assert!(stderr(&out).contains(&key), "{}", stderr(&out));
    // One CSV table: a row per true class, its figures, then its matrix row as `predicted_*`.
    let text = stdout(&out);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let first = header
        .iter()
        .position(|h| h.starts_with("predicted_"))
        .unwrap();
    assert_eq!(&header[0], "class");
    assert_eq!(&header[first], "predicted_T-shirt/top");
    assert_eq!(header.len(), first + 10);
    let matrix: Vec<Vec<u64>> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            r.iter().skip(first).map(|n| n.parse().unwrap()).collect()
        })
        .collect();
    assert_eq!(matrix.len(), 10);
    let total: u64 = matrix.iter().flatten().sum();
    let correct: u64 = (0..10).map(|i| matrix[i][i]).sum();
    assert_eq!(total, TEST as u64);
    assert_eq!(correct as f64 / total as f64, accuracy);

    let out = run(&mut t.cmd(&["confusion", "ffffffffffffffff"]), false);
    assert!(stderr(&out).contains("tune report"), "{}", stderr(&out));
}

/// Asserts that `svg` and the PNG beside it were written and are pictures.
fn assert_picture(svg: &Path) {
    let text = std::fs::read_to_string(svg).unwrap();
    assert!(text.contains("<svg"), "{}", svg.display());
    let png = std::fs::read(svg.with_extension("png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", svg.display());
}

#[test]
fn plots_write_svg_and_png() {
    let t = Trained::new();
    let dir = t.s.dir().join("plots");
    for kind in ["curves", "depth", "confusion"] {
        let svg = dir.join(format!("{kind}.svg"));
        let out = run(
            &mut t.cmd(&["plot", kind, "--out", svg.to_str().unwrap()]),
            true,
        );
        assert_eq!(
            stdout(&out).lines().collect::<Vec<_>>(),
            [
                svg.display().to_string(),
                svg.with_extension("png").display().to_string()
            ]
        );
        assert_picture(&svg);
    }
    // Without --out, beside the database.
    run(&mut t.cmd(&["plot", "depth"]), true);
    assert_picture(&t.s.dir().join("plots/depth.svg"));
    let out = run(&mut t.cmd(&["plot", "depth", "--out", "x.pdf"]), false);
    assert!(stderr(&out).contains(".svg or .png"), "{}", stderr(&out));
}

#[test]
fn reading_a_missing_database_says_how_to_create_one() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        &["report"][..],
        &["compare"],
        &["confusion"],
        &["plot", "depth"],
    ] {
        let out = run(tune(tmp.path()).args(args).args(["--db", "none.db"]), false);
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(err.contains("no results database at none.db"), "{err}");
        assert!(err.contains("tune run"), "{err}");
        assert!(!tmp.path().join("none.db").exists(), "{args:?} created it");
    }
}

/// A field name people reach for from other tools (`learning_rate`, `batch_size`) gets the name
/// tune uses, in `--by`, `--sort` and `--where` alike, and in a grid's rules.
#[test]
fn names_from_other_tools_get_tune_s_name_suggested() {
    let t = Trained::new();
    for args in [
        &["report", "--by", "learning_rate"][..],
        &["report", "--sort", "learning_rate"],
        &["report", "--where", "learning_rate=0.001"],
    ] {
        let out = run(&mut t.cmd(args), false);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("unknown field `learning_rate`: did you mean `lr`?"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let grid = write_grid(
        t.s.dir(),
        "rules.toml",
        "[fixed]\nmodel = \"cnn\"\nlayer1 = 8\n\n[constraints]\nrules = [\"learning_rate <= 0.1\"]\n",
    );
    let out = run(
        t.s.tune(&["run", grid.to_str().unwrap(), "--dry-run"])
            .arg("--db")
            .arg(t.s.dir().join("r.db")),
        false,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean `lr`? rules can use"),
        "{}",
        stderr(&out)
    );
}

/// A `--where` value that no job can have (`layer1=16,x`) is refused in every command that
/// filters, naming the value, instead of silently matching nothing for it.
#[test]
fn a_where_value_of_the_wrong_kind_is_refused() {
    let t = Trained::new();
    for args in [
        &["report", "--where", "layer1=16,x"][..],
        &["compare", "--where", "layer1=16,x"],
        &["report", "--where", "lr=fast"],
    ] {
        let out = run(&mut t.cmd(args), false);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        let bad = args[2].rsplit([',', '=']).next().unwrap();
        assert!(
            err.contains(&format!("`{bad}` is not a")),
            "{args:?}: {err}"
        );
    }
}
