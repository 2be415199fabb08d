//! Users' own data sets through the command line: a grid's `[datasets.NAME]` tables and the
//! `--data` flags of `tune train`, end to end (run, worker, dry run, report, confusion, data
//! list), the job key following the data's content, Kaggle CSV training exactly as the same IDX
//! images do, and bad input (exit 2 naming the file and the value).

use crate::util::db::Db;
use crate::util::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// `n` CIFAR-10 records (label byte, then the R, G and B planes of a 32x32 image): class
/// `c = (i * 3) % 10` lights rows `3c..3c+3` of the red plane and sets the green plane to
/// `20c`; blue is noise. Channels differ, so a mix-up of layouts would show.
fn cifar_records(n: usize, salt: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * 3073);
    for i in 0..n {
        let c = (i * 3) % 10;
        out.push(c as u8);
        for plane in 0..3 {
            for y in 0..32 {
                for x in 0..32 {
                    let noise = ((i * 31 + y * 17 + x * 13 + plane * 7 + salt) % 29) as u8;
                    out.push(match plane {
                        0 if (3 * c..3 * c + 3).contains(&y) => 200 + noise,
                        0 => noise,
                        1 => (20 * c) as u8 + noise,
                        _ => noise * 3,
                    });
                }
            }
        }
    }
    out
}

/// A Kaggle-style CSV (`label,pixel1,...`) of `labels.len()` images of `pixels.len() /
/// labels.len()` values each.
fn write_csv(path: &Path, pixels: &[u8], labels: &[u8]) {
    let n = pixels.len() / labels.len();
    let mut s = String::from("label");
    for i in 1..=n {
        write!(s, ",pixel{i}").unwrap();
    }
    s.push('\n');
    for (i, &l) in labels.iter().enumerate() {
        write!(s, "{l}").unwrap();
        for p in &pixels[i * n..(i + 1) * n] {
            write!(s, ",{p}").unwrap();
        }
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

/// The grid of the RGB test: one 3-layer CNN on the grid's own CIFAR-style data set.
const RGB_GRID: &str = r#"name = "rgb"

[datasets.rgb]
format = "cifar"
train = "data/train.bin"
test = "data/test.bin"

[fixed]
dataset = "rgb"
layer1 = 8
layer2 = 16
layer3 = 16
dense = 32
epochs = 1
batch = 16
validation = "test"
"#;

/// The dry run's jobs as JSON.
fn dry_run_jobs(dir: &Path, grid: &Path) -> Vec<serde_json::Value> {
    let out = run(
        tune(dir)
            .arg("run")
            .arg(grid)
            .args(["--db", "results.db", "--dry-run", "--no-calibrate"])
            .args(["--format", "json"]),
        true,
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    v["jobs"].as_array().unwrap().clone()
}

#[test]
fn rgb_data_set_of_a_grid_trains_a_3_layer_cnn_through_worker_report_and_confusion() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/train.bin"), cifar_records(200, 0)).unwrap();
    std::fs::write(dir.join("data/test.bin"), cifar_records(50, 5)).unwrap();
    let grid = write_grid(dir, "rgb.toml", RGB_GRID);

    // The dry run counts parameters for 32x32x3 images and 10 classes.
    let model = tune_spec::ModelSpec::cnn(&[8, 16, 16], 32);
    let rgb = tune_spec::InputShape {
        height: 32,
        width: 32,
        channels: 3,
        classes: 10,
    };
    let params = model.params(&rgb).unwrap() as u64;
    assert_ne!(
        params,
        model.params(&tune_spec::InputShape::BUILT_IN).unwrap() as u64
    );
    let jobs = dry_run_jobs(dir, &grid);
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["params"].as_u64(), Some(params), "{jobs:?}");
    let key = jobs[0]["key"].as_str().unwrap().to_string();

    // Queued by `tune run --enqueue`, trained by a worker that reads the files the job records.
    run(
        tune(dir)
            .arg("run")
            .arg(&grid)
            .args(["--db", "results.db", "--enqueue"]),
        true,
    );
    let out = run(
        tune(dir).args(["worker", "--db", "results.db", "--threads-per-job", "2"]),
        true,
    );
    let db = Db::open(&dir.join("results.db"));
    assert_eq!(
        db.text("SELECT status FROM jobs"),
        "done",
        "{}",
        stderr(&out)
    );
    assert_eq!(db.text("SELECT key FROM jobs"), key);
    assert_eq!(db.int("SELECT params FROM jobs"), params as i64);
    assert_eq!(db.text("SELECT dataset FROM jobs"), "rgb");

    // `tune data list --grid` shows the data set and the hash the job recorded.
    let out = run(
        tune(dir)
            .args(["data", "list", "--grid"])
            .arg(&grid)
            .args(["--format", "json"]),
        true,
    );
    let listed: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let row = &listed[0];
    assert_eq!(row["dataset"], "rgb");
    assert_eq!(row["size"], "32x32");
    assert_eq!(row["channels"].as_u64(), Some(3));
    assert_eq!(row["classes"].as_u64(), Some(10));
    assert_eq!(row["train_images"].as_u64(), Some(200));
    assert_eq!(row["test_images"].as_u64(), Some(50));
    assert!(
        row["train_per_class"]
            .as_str()
            .unwrap()
            .starts_with("airplane 20, automobile 20"),
        "{row}"
    );
    let sha = row["sha256"].as_str().unwrap();
    assert_eq!(db.text("SELECT data_sha256 FROM jobs"), sha);

    // Report and confusion name the data set and its classes (CIFAR-10's names).
    let out = run(
        tune(dir).args(["report", "--db", "results.db", "--format", "json"]),
        true,
    );
    let text = stdout(&out);
    assert!(text.contains("\"rgb\""), "{text}");
    assert!(text.contains(&params.to_string()), "{text}");
    let out = run(tune(dir).args(["confusion", "--db", "results.db"]), true);
    let text = stdout(&out);
    for class in ["airplane", "frog", "truck"] {
        assert!(text.contains(class), "{class}: {text}");
    }

    // Changing one pixel of one file changes the data's identity and so the job's key.
    let mut bytes = std::fs::read(dir.join("data/train.bin")).unwrap();
    bytes[100] ^= 1;
    std::fs::write(dir.join("data/train.bin"), bytes).unwrap();
    let jobs = dry_run_jobs(dir, &grid);
    assert_ne!(jobs[0]["key"].as_str().unwrap(), key);
    assert_eq!(jobs[0]["state"], "new");
}

#[test]
fn a_changed_file_fails_queued_jobs_instead_of_training_on_other_data() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/train.bin"), cifar_records(40, 0)).unwrap();
    std::fs::write(dir.join("data/test.bin"), cifar_records(10, 5)).unwrap();
    let grid = write_grid(dir, "rgb.toml", RGB_GRID);
    run(
        tune(dir)
            .arg("run")
            .arg(&grid)
            .args(["--db", "results.db", "--enqueue"]),
        true,
    );
    std::fs::write(dir.join("data/train.bin"), cifar_records(40, 1)).unwrap();
    let out = run(tune(dir).args(["worker", "--db", "results.db"]), false);
    let err = stderr(&out);
    assert!(
        err.contains("has changed since its jobs were queued"),
        "{err}"
    );
    assert!(err.contains("train.bin"), "{err}");
    let db = Db::open(&dir.join("results.db"));
    assert_eq!(db.text("SELECT status FROM jobs"), "failed");
}

/// 8x8 grayscale "digits" as scikit-learn's: class `c` is a bright column `c % 8` and, for
/// `c >= 8`, a bright row too, with noise (pixel values 0-255).
fn digits(n: usize) -> (Vec<u8>, Vec<u8>) {
    let labels: Vec<u8> = (0..n).map(|i| (i * 7 % 10) as u8).collect();
    let mut pixels = Vec::with_capacity(n * 64);
    for (i, &c) in labels.iter().enumerate() {
        for y in 0..8 {
            for x in 0..8 {
                let noise = ((i * 13 + y * 5 + x * 3) % 17) as u8;
                let on = x == usize::from(c) % 8 || (c >= 8 && y == usize::from(c) - 6);
                pixels.push(if on { 220 + noise } else { noise });
            }
        }
    }
    (pixels, labels)
}

#[test]
fn csv_digits_train_a_1_layer_cnn_from_flags_and_through_run_with_class_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (pixels, labels) = digits(300);
    write_csv(&dir.join("digits.csv"), &pixels, &labels);

    // `tune train --data`: 8x8 from the pixel count, 10 classes, a fifth held out for testing.
    let out = run(
        tune(dir)
            .args(["train", "--data", "digits.csv", "--data-format", "csv"])
            .args(["--test-split", "0.2", "--filters", "8", "--dense", "16"])
            .args(["--epochs", "3", "--batch", "16", "--format", "json"]),
        true,
    );
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let input = tune_spec::InputShape {
        height: 8,
        width: 8,
        channels: 1,
        classes: 10,
    };
    let params = tune_spec::ModelSpec::cnn(&[8], 16).params(&input).unwrap();
    assert_eq!(summary["params"].as_u64(), Some(params as u64), "{summary}");
    assert_eq!(summary["train"]["dataset"], "digits");
    let tested: u64 = summary["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(tested, 60, "test_split = 0.2 of 300 images");
    assert!(
        summary["test_accuracy"].as_f64().unwrap() > 0.3,
        "{summary}"
    );

    // The same through a grid; the class names (the label values) reach `tune confusion`.
    let grid = write_grid(
        dir,
        "digits.toml",
        "[datasets.digits]\nformat = \"csv\"\ntrain = \"digits.csv\"\ntest_split = 0.2\n\
         size = [8, 8]\nchannels = 1\nclasses = [\"zero\", \"one\", \"two\", \"three\", \"four\", \
         \"five\", \"six\", \"seven\", \"eight\", \"nine\"]\n\n[fixed]\ndataset = \"digits\"\n\
         layer1 = 8\ndense = 16\nepochs = 2\nbatch = 16\nvalidation = \"test\"\n",
    );
    run(
        tune(dir)
            .arg("run")
            .arg(&grid)
            .args(["--db", "digits.db", "--threads-per-job", "1"]),
        true,
    );
    let out = run(tune(dir).args(["confusion", "--db", "digits.db"]), true);
    let text = stdout(&out);
    for class in ["zero", "five", "nine"] {
        assert!(text.contains(class), "{class}: {text}");
    }
}

/// Fashion-MNIST's IDX files, if installed (Debian's dataset-fashion-mnist; `.ci/run` installs
/// it).
fn fashion_mnist() -> Option<PathBuf> {
    let dir = PathBuf::from("/usr/share/datasets/fashion-mnist");
    dir.join("train-images-idx3-ubyte.gz")
        .exists()
        .then_some(dir)
}

#[test]
fn fashion_mnist_as_kaggle_csv_trains_bit_identically_to_the_same_idx_images() {
    let Some(fashion) = fashion_mnist() else {
        eprintln!("skipped: /usr/share/datasets/fashion-mnist is not installed");
        return;
    };
    use tune_data::idx::{Images, read_images, read_labels, write_images, write_labels};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut args: Vec<Vec<String>> = Vec::new();
    let mut csv = Vec::new();
    let mut idx = Vec::new();
    for (prefix, n) in [("train", 2000), ("t10k", 500)] {
        let images = read_images(&fashion.join(format!("{prefix}-images-idx3-ubyte.gz"))).unwrap();
        let labels = read_labels(&fashion.join(format!("{prefix}-labels-idx1-ubyte.gz"))).unwrap();
        let (pixels, labels) = (&images.pixels[..n * 784], &labels[..n]);
        let csv_path = dir.join(format!("fashion-mnist_{prefix}.csv"));
        write_csv(&csv_path, pixels, labels);
        let image_path = dir.join(format!("{prefix}-images-idx3-ubyte"));
        let subset = Images {
            count: n,
            rows: 28,
            cols: 28,
            pixels: pixels.to_vec(),
        };
        write_images(&image_path, &subset, false).unwrap();
        write_labels(
            &dir.join(format!("{prefix}-labels-idx1-ubyte")),
            labels,
            false,
        )
        .unwrap();
        csv.push(csv_path);
        idx.push(image_path);
    }
    for (format, paths) in [("csv", &csv), ("idx", &idx)] {
        args.push(vec![
            "--data".into(),
            paths[0].display().to_string(),
            "--test".into(),
            paths[1].display().to_string(),
            "--data-format".into(),
            format.into(),
        ]);
    }
    let summaries: Vec<serde_json::Value> = args
        .iter()
        .map(|a| {
            let out = run(
                tune(dir)
                    .args(["train", "--filters", "8", "--dense", "32", "--epochs", "2"])
                    .args(["--threads", "1", "--format", "json"])
                    .args(a),
                true,
            );
            serde_json::from_str(&stdout(&out)).unwrap()
        })
        .collect();
    let (c, i) = (&summaries[0], &summaries[1]);
    // The same pixels, labels and class names: the same content hash.
    assert_eq!(c["train"]["data"]["sha256"], i["train"]["data"]["sha256"]);
    assert!(c["train"]["data"]["sha256"].is_string(), "{c}");
    for key in ["params", "test_loss", "test_accuracy", "confusion"] {
        assert_eq!(c[key], i[key], "{key}");
    }
    for (a, b) in c["history"]
        .as_array()
        .unwrap()
        .iter()
        .zip(i["history"].as_array().unwrap())
    {
        for key in ["train_loss", "train_accuracy", "val_loss", "val_accuracy"] {
            // Bit-identical: the JSON numbers round-trip f64 exactly.
            assert_eq!(
                a[key].as_f64().unwrap().to_bits(),
                b[key].as_f64().unwrap().to_bits()
            );
        }
    }
    assert!(c["test_accuracy"].as_f64().unwrap() > 0.5, "{c}");
    eprintln!(
        "CSV and IDX: test accuracy {} test loss {} (2,000 training images, 2 epochs)",
        c["test_accuracy"], c["test_loss"]
    );
}

/// Runs `tune run GRID --dry-run` on `text`, expecting exit 2; its stderr.
fn bad_grid(dir: &Path, text: &str) -> String {
    let grid = write_grid(dir, "bad.toml", text);
    let out = run(
        tune(dir)
            .arg("run")
            .arg(&grid)
            .args(["--db", "results.db", "--dry-run", "--no-calibrate"]),
        false,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("bad.toml"), "{err}");
    assert!(!dir.join("results.db").exists(), "nothing written");
    err
}

const FIXED: &str = "[fixed]\ndataset = \"mine\"\nlayer1 = 4\ndense = 8\nepochs = 1\n";

/// A halving grid over two data sets is refused: each rung ranks its jobs against each other,
/// and one data set's accuracies would prune the other's configurations.
#[test]
fn a_halving_grid_over_two_data_sets_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (pixels, labels) = digits(40);
    write_csv(&dir.join("a.csv"), &pixels, &labels);
    write_csv(&dir.join("b.csv"), &pixels[..36 * 64], &labels[..36]);
    let err = bad_grid(
        dir,
        "[search]\nstrategy = \"halving\"\nmin_epochs = 1\n\n\
         [datasets.alpha]\nformat = \"csv\"\ntrain = \"a.csv\"\ntest_split = 0.25\n\n\
         [datasets.beta]\nformat = \"csv\"\ntrain = \"b.csv\"\ntest_split = 0.25\n\n\
         [fixed]\nlayer1 = 4\ndense = 8\nepochs = 2\nvalidation = { holdout = 6 }\n\n\
         [axes]\ndataset = [\"alpha\", \"beta\"]\nlr = [0.001, 0.01]\n",
    );
    assert!(
        err.contains("2 data sets (alpha, beta)") && err.contains("one halving grid per data set"),
        "{err}"
    );
}

/// A training split too small for the default holdout (a twelfth of 11 images is 0) is refused
/// with what the default is there, not the 5,000 it is on large data sets.
#[test]
fn a_split_too_small_for_the_default_holdout_says_what_the_default_is_there() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (pixels, labels) = digits(15);
    write_csv(&dir.join("train.csv"), &pixels[..11 * 64], &labels[..11]);
    write_csv(&dir.join("test.csv"), &pixels[11 * 64..], &labels[11..]);
    let data = "[datasets.mine]\nformat = \"csv\"\ntrain = \"train.csv\"\ntest = \"test.csv\"\n\n";
    let err = bad_grid(dir, &format!("{data}{FIXED}"));
    assert!(
        err.contains(
            "the default holdout (a twelfth of a training split under 10,000 images) is 0 \
                      of data set `mine`'s 11 training images"
        ),
        "{err}"
    );
    assert!(!err.contains("5000") && !err.contains("5,000"), "{err}");
    assert!(err.contains("validation = \"test\""), "{err}");
}

#[test]
fn bad_data_sets_exit_2_naming_the_grid_file_and_the_value() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (pixels, labels) = digits(20);
    write_csv(&dir.join("ok.csv"), &pixels, &labels);

    let err = bad_grid(
        dir,
        &format!(
            "[datasets.mine]\nformat = \"csv\"\ntrain = \"missing.csv\"\ntest_split = 0.2\n\n{FIXED}"
        ),
    );
    assert!(err.contains("datasets.mine.train"), "{err}");
    assert!(err.contains("missing.csv"), "{err}");
    assert!(err.contains("does not exist"), "{err}");

    let err = bad_grid(
        dir,
        &format!(
            "[datasets.mine]\nformat = \"png\"\ntrain = \"ok.csv\"\ntest_split = 0.2\n\n{FIXED}"
        ),
    );
    assert!(err.contains("datasets.mine.format"), "{err}");
    assert!(err.contains("`png`"), "{err}");

    let err = bad_grid(dir, FIXED);
    assert!(err.contains("\"mine\""), "{err}");
    assert!(err.contains("[datasets.mine]"), "{err}");

    let err = bad_grid(
        dir,
        &format!(
            "[datasets.mine]\nformat = \"csv\"\ntrain = \"ok.csv\"\ntest_split = 0.2\nshape = 3\n\n{FIXED}"
        ),
    );
    assert!(err.contains("unknown key `shape`"), "{err}");

    // A file that is not what the table says: the reader's error, in the grid's words.
    std::fs::write(dir.join("ragged.csv"), "label,pixel1,pixel2\n1,2,3\n4,5\n").unwrap();
    let err = bad_grid(
        dir,
        &format!(
            "[datasets.mine]\nformat = \"csv\"\ntrain = \"ragged.csv\"\ntest_split = 0.5\n\n{FIXED}"
        ),
    );
    assert!(err.contains("data set `mine`"), "{err}");
    assert!(err.contains("ragged.csv"), "{err}");

    // The flags of `tune train` take the same check.
    let out = run(
        tune(dir).args([
            "train",
            "--data",
            "ok.csv",
            "--data-format",
            "png",
            "--test-split",
            "0.2",
        ]),
        false,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--data-format"), "{}", stderr(&out));
    let out = run(
        tune(dir).args([
            "train",
            "--data",
            "gone.csv",
            "--data-format",
            "csv",
            "--test-split",
            "0.2",
        ]),
        false,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("gone.csv"), "{}", stderr(&out));
}

/// `tune data list --grid GRID --format json`'s first row.
fn listed(dir: &Path, grid: &Path) -> serde_json::Value {
    let out = run(
        tune(dir)
            .args(["data", "list", "--grid"])
            .arg(grid)
            .args(["--format", "json"]),
        true,
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    v[0].clone()
}

#[test]
fn a_file_rewritten_with_the_same_size_and_time_is_decoded_again_not_served_from_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (pixels, labels) = digits(20);
    let csv = dir.join("digits.csv");
    write_csv(&csv, &pixels, &labels);
    let grid = write_grid(
        dir,
        "digits.toml",
        &format!(
            "[datasets.mine]\nformat = \"csv\"\ntrain = \"digits.csv\"\ntest_split = 0.5\n\n{FIXED}"
        ),
    );
    let before = listed(dir, &grid);
    assert!(dir.join("cache/decoded").read_dir().unwrap().count() > 0);

    // Same length, same modification time (as `touch -r` or a copy that keeps times), other
    // bytes: one pixel 0..9 becomes another single digit.
    let time = std::fs::metadata(&csv).unwrap().modified().unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    let row = text.lines().nth(1).unwrap();
    let mut cells: Vec<String> = row.split(',').map(String::from).collect();
    let j = (1..cells.len()).find(|&j| cells[j].len() == 1).unwrap();
    cells[j] = if cells[j] == "5" { "6" } else { "5" }.to_string();
    let changed_row = cells.join(",");
    assert_eq!(changed_row.len(), row.len());
    let changed = text.replacen(row, &changed_row, 1);
    assert_eq!(changed.len(), text.len());
    std::fs::write(&csv, changed).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&csv)
        .unwrap()
        .set_modified(time)
        .unwrap();
    assert_eq!(std::fs::metadata(&csv).unwrap().modified().unwrap(), time);

    let after = listed(dir, &grid);
    assert_ne!(
        before["sha256"], after["sha256"],
        "the cache served the old content"
    );
    // And what it lists is what a fresh decode (no cache) gives.
    std::fs::remove_dir_all(dir.join("cache")).unwrap();
    assert_eq!(listed(dir, &grid)["sha256"], after["sha256"]);
}

#[test]
fn two_versions_of_a_data_set_name_are_kept_apart_in_report_where_and_compare() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (pixels, labels) = digits(40);
    let csv = dir.join("digits.csv");
    write_csv(&csv, &pixels, &labels);
    let grid = write_grid(
        dir,
        "digits.toml",
        "[datasets.digits]\nformat = \"csv\"\ntrain = \"digits.csv\"\ntest_split = 0.25\n\n\
         [fixed]\ndataset = \"digits\"\nlayer1 = 4\ndense = 8\nepochs = 1\nbatch = 8\n\
         validation = \"test\"\n",
    );
    let train = |sha: &mut Vec<String>| {
        sha.push(listed(dir, &grid)["sha256"].as_str().unwrap().to_string());
        run_into_results(dir, &grid);
    };
    let mut sha = Vec::new();
    train(&mut sha);
    // The same name, other content (more images): a second version in the same database.
    let (pixels, labels) = digits(60);
    write_csv(&csv, &pixels, &labels);
    train(&mut sha);
    assert_ne!(sha[0], sha[1]);
    let names: Vec<String> = sha.iter().map(|s| format!("digits@{}", &s[..8])).collect();

    let out = run(
        tune(dir).args(["report", "--db", "results.db", "--format", "csv"]),
        true,
    );
    let text = stdout(&out);
    for name in &names {
        assert!(text.contains(name.as_str()), "{name}: {text}");
    }
    let err = stderr(&out);
    assert!(err.contains("2 versions"), "{err}");
    assert!(
        err.contains(&format!("{} was trained last", names[1])),
        "{err}"
    );

    // `--where dataset=NAME` selects every version, each still shown apart.
    let out = run(
        tune(dir)
            .args(["report", "--db", "results.db", "--format", "csv"])
            .args(["--where", "dataset=digits"]),
        true,
    );
    let text = stdout(&out);
    for name in &names {
        assert!(text.contains(name.as_str()), "{name}: {text}");
    }
    // A name that no job has: the error lists the data set values that exist.
    let out = run(
        tune(dir).args(["report", "--db", "results.db", "--where", "dataset=digit"]),
        false,
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for name in &names {
        assert!(err.contains(name.as_str()), "{name}: {err}");
    }

    // `--where dataset=NAME@HASH8` selects one version, `--by dataset` groups by version.
    let out = run(
        tune(dir)
            .args(["report", "--db", "results.db", "--format", "csv", "--where"])
            .arg(format!("dataset={}", names[1])),
        true,
    );
    let text = stdout(&out);
    assert!(text.contains(names[1].as_str()), "{text}");
    assert!(!text.contains(names[0].as_str()), "{text}");
    let out = run(
        tune(dir).args(["report", "--db", "results.db", "--by", "dataset"]),
        true,
    );
    let text = stdout(&out);
    for name in &names {
        assert!(text.contains(name.as_str()), "{name}: {text}");
    }

    // `tune compare` shows each version in a column of its own, never one of them silently.
    let out = run(
        tune(dir).args(["compare", "--db", "results.db", "--format", "json"]),
        true,
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let datasets: Vec<&str> = v["datasets"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    for name in &names {
        assert!(datasets.contains(&name.as_str()), "{name}: {v}");
    }
    assert!(stderr(&out).contains("2 versions"), "{}", stderr(&out));
}

/// Asserts that no OS error is printed twice on one line of `err`.
fn os_error_once(err: &str) {
    for line in err.lines() {
        assert!(line.matches("(os error").count() <= 1, "{line}");
    }
}

#[test]
fn a_users_file_that_is_missing_unreadable_or_of_the_wrong_kind_exits_2_from_flags_and_grids() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (pixels, labels) = digits(20);
    std::fs::create_dir_all(dir.join("csvs")).unwrap();
    write_csv(&dir.join("csvs/a.csv"), &pixels, &labels);

    // A folder given as a CSV file: exit 2 from the flags, as from a grid, saying what to do.
    let out = run(
        tune(dir)
            .args(["train", "--data", "csvs", "--data-format", "csv"])
            .args(["--test-split", "0.2", "--epochs", "1"]),
        false,
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("csvs") && err.contains("is a folder"), "{err}");
    os_error_once(&err);
    let err = bad_grid(
        dir,
        &format!(
            "[datasets.mine]\nformat = \"csv\"\ntrain = \"csvs\"\ntest_split = 0.2\n\n{FIXED}"
        ),
    );
    assert!(err.contains("is a folder"), "{err}");
    // And a file given as an image folder.
    let err = bad_grid(
        dir,
        &format!(
            "[datasets.mine]\nformat = \"folder\"\ntrain = \"csvs/a.csv\"\ntest_split = 0.2\n\n{FIXED}"
        ),
    );
    assert!(err.contains("is a file"), "{err}");

    // An IDX image file without its label file names the file it looked for.
    use tune_data::idx::{Images, write_images};
    let images = Images {
        count: 20,
        rows: 8,
        cols: 8,
        pixels: pixels.clone(),
    };
    write_images(&dir.join("my-images-idx3-ubyte"), &images, false).unwrap();
    let out = run(
        tune(dir)
            .args(["train", "--data", "my-images-idx3-ubyte"])
            .args([
                "--data-format",
                "idx",
                "--test-split",
                "0.2",
                "--epochs",
                "1",
            ]),
        false,
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("my-labels-idx1-ubyte"), "{err}");
    assert!(err.contains("give both files"), "{err}");
    os_error_once(&err);
    let err = bad_grid(
        dir,
        &format!(
            "[datasets.mine]\nformat = \"idx\"\ntrain = \"my-images-idx3-ubyte\"\ntest_split = 0.2\n\n{FIXED}"
        ),
    );
    assert!(err.contains("my-labels-idx1-ubyte"), "{err}");
    os_error_once(&err);

    // A file gone between queueing and training: the worker's message has the OS error once;
    // the job stays queued for a worker that can read the file (exit 69, unavailable).
    let grid = write_grid(
        dir,
        "ok.toml",
        &format!(
            "[datasets.mine]\nformat = \"csv\"\ntrain = \"csvs/a.csv\"\ntest_split = 0.2\n\n{FIXED}"
        ),
    );
    run(
        tune(dir)
            .arg("run")
            .arg(&grid)
            .args(["--db", "results.db", "--enqueue"]),
        true,
    );
    std::fs::remove_file(dir.join("csvs/a.csv")).unwrap();
    let out = run(tune(dir).args(["worker", "--db", "results.db"]), false);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(69), "{err}");
    assert!(err.contains("a.csv"), "{err}");
    os_error_once(&err);
    let db = Db::open(&dir.join("results.db"));
    assert_eq!(db.text("SELECT state FROM jobs"), "interrupted");
}

/// `tune train --data PATH --data-format FORMAT --test-split 0.5`, expected to exit 2; its stderr.
fn bad_flags(dir: &Path, path: &str, format: &str) -> String {
    let out = run(
        tune(dir)
            .args(["train", "--data", path, "--data-format", format])
            .args(["--test-split", "0.5", "--epochs", "1"]),
        false,
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(path), "{err}");
    err
}

#[test]
fn messages_about_a_users_file_name_the_row_and_value_and_never_print_raw_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A label outside 0-255 names its line and value, not "256 classes".
    for (label, line) in [("-1", "line 3"), ("256", "line 3")] {
        std::fs::write(
            dir.join("labels.csv"),
            format!("label,p1,p2,p3,p4\n0,1,2,3,4\n{label},1,2,3,4\n1,1,2,3,4\n"),
        )
        .unwrap();
        let err = bad_flags(dir, "labels.csv", "csv");
        assert!(err.contains(line) && err.contains(label), "{err}");
        // Not "the data set has 256 classes": no class list was given, only the label is wrong.
        assert!(!err.contains("has 256 classes"), "{err}");
    }
    // A 0-byte file says it is empty.
    std::fs::write(dir.join("empty.csv"), "").unwrap();
    let err = bad_flags(dir, "empty.csv", "csv");
    assert!(err.contains("empty (0 bytes)"), "{err}");
    // A user's CSV read as CIFAR batches: no advice to download a built-in data set again, and
    // a hint at what the file looks like.
    std::fs::write(
        dir.join("text.csv"),
        "label,p1,p2,p3,p4\n0,1,2,3,4\n1,1,2,3,4\n",
    )
    .unwrap();
    let err = bad_flags(dir, "text.csv", "cifar");
    assert!(!err.contains("download"), "{err}");
    assert!(err.contains("looks like a CSV"), "{err}");
    // Binary bytes (a PNG read as CSV) are escaped or summarised, never printed raw.
    let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".to_vec();
    png.extend([0u8, 1, 2, 0xff, 0xfe, b',', 7, 8, b'\n', 9]);
    std::fs::write(dir.join("image.csv"), &png).unwrap();
    let err = bad_flags(dir, "image.csv", "csv");
    assert!(
        !err.chars()
            .any(|c| c == '\u{fffd}' || (c.is_control() && c != '\n')),
        "{err:?}"
    );
}

/// Writes `root/CLASS/I.png` for each class, `per_class` 4x4 gray images each (image `i` of
/// value `40 i + 10`); returns the class folders.
fn gray_class_folders(root: &Path, classes: &[&str], per_class: u8) -> Vec<PathBuf> {
    let mut folders = Vec::new();
    for class in classes {
        let d = root.join(class);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..per_class {
            image::GrayImage::from_pixel(4, 4, image::Luma([i * 40 + 10]))
                .save(d.join(format!("{i}.png")))
                .unwrap();
        }
        folders.push(d);
    }
    folders
}

#[test]
fn webp_and_tiff_files_in_an_image_folder_are_named_as_unsupported_images() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for d in gray_class_folders(&dir.join("imgs"), &["a", "b"], 3) {
        std::fs::write(d.join("x.webp"), b"RIFF\0\0\0\0WEBPVP8 ").unwrap();
        std::fs::write(d.join("y.tiff"), b"II*\0").unwrap();
    }
    let out = run(
        tune(dir)
            .args(["train", "--data", "imgs", "--data-format", "folder"])
            .args(["--test-split", "0.5", "--epochs", "1", "--filters", "2"])
            .args(["--dense", "4", "--format", "json"]),
        true,
    );
    let err = stderr(&out);
    assert!(
        err.contains("4 images in formats tune does not read"),
        "{err}"
    );
    assert!(err.contains("WEBP") && err.contains("TIFF"), "{err}");
}

#[test]
fn class_folders_differing_only_by_case_or_spaces_and_a_file_used_for_train_and_test_warn() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gray_class_folders(&dir.join("imgs"), &["Cat", "cat ", "dog"], 2);
    let grid = write_grid(
        dir,
        "imgs.toml",
        &format!(
            "[datasets.mine]\nformat = \"folder\"\ntrain = \"imgs\"\ntest = \"imgs\"\n\n{FIXED}validation = \"test\"\n"
        ),
    );
    let out = run(
        tune(dir)
            .arg("run")
            .arg(&grid)
            .args(["--db", "results.db", "--dry-run", "--no-calibrate"]),
        true,
    );
    let err = stderr(&out);
    assert!(
        err.contains("warning:") && err.contains("`Cat`") && err.contains("`cat `"),
        "{err}"
    );
    assert!(err.contains("both the training and the test data"), "{err}");
}

#[test]
fn bench_takes_a_users_data_without_test_files_and_a_grids_own_data_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (pixels, labels) = digits(40);
    write_csv(&dir.join("digits.csv"), &pixels, &labels);
    let out = run(
        tune(dir)
            .args(["bench", "--data", "digits.csv", "--data-format", "csv"])
            .args([
                "--images",
                "32",
                "--epochs",
                "1",
                "--filters",
                "4",
                "--dense",
                "8",
            ])
            .args(["--format", "json"]),
        true,
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let input = tune_spec::InputShape {
        height: 8,
        width: 8,
        channels: 1,
        classes: 10,
    };
    let params = tune_spec::ModelSpec::cnn(&[4], 8).params(&input).unwrap() as u64;
    assert_eq!(v["params"].as_u64(), Some(params), "{v}");

    // `tune bench --grid` measures on the grid's own data set, of its shape.
    let grid = write_grid(
        dir,
        "digits.toml",
        &format!(
            "[datasets.mine]\nformat = \"csv\"\ntrain = \"digits.csv\"\ntest_split = 0.25\n\n{FIXED}"
        ),
    );
    let out = run(
        tune(dir)
            .args(["bench", "--grid"])
            .arg(&grid)
            .args(["--images", "32", "--epochs", "1", "--format", "json"]),
        true,
    );
    let rows: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let params = tune_spec::ModelSpec::cnn(&[4], 8).params(&input).unwrap() as u64;
    assert_eq!(
        rows[0]["params"]
            .as_u64()
            .or_else(|| rows[0]["params"].as_str().and_then(|p| p.parse().ok())),
        Some(params),
        "{rows}"
    );
}

/// Writes data sets `a` (40 images) and `b` (48) as CSV and a grid `two.toml` over both
/// (`[axes] dataset = ["a", "b"]` plus `axes`, `[fixed]` with `fixed`), trains it into
/// `results.db` and returns the grid's path.
fn train_two_data_sets(dir: &Path, fixed: &str, axes: &str) -> PathBuf {
    let (pixels, labels) = digits(40);
    write_csv(&dir.join("a.csv"), &pixels, &labels);
    let (pixels, labels) = digits(48);
    write_csv(&dir.join("b.csv"), &pixels, &labels);
    let grid = write_grid(
        dir,
        "two.toml",
        &format!(
            "[datasets.a]\nformat = \"csv\"\ntrain = \"a.csv\"\ntest_split = 0.25\n\n\
             [datasets.b]\nformat = \"csv\"\ntrain = \"b.csv\"\ntest_split = 0.25\n\n\
             [fixed]\n{fixed}dense = 8\nepochs = 1\nbatch = 8\nvalidation = \"test\"\n\n\
             [axes]\ndataset = [\"a\", \"b\"]\n{axes}"
        ),
    );
    run_into_results(dir, &grid);
    grid
}

/// `tune run GRID --db results.db --threads-per-job 1` in `dir`, expected to succeed.
fn run_into_results(dir: &Path, grid: &Path) {
    run(
        tune(dir)
            .arg("run")
            .arg(grid)
            .args(["--db", "results.db", "--threads-per-job", "1"]),
        true,
    );
}

#[test]
fn compare_and_report_on_a_users_data_speak_of_that_data_and_the_where_selection() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    train_two_data_sets(dir, "layer1 = 4\n", "");
    let out = run(
        tune(dir).args(["report", "--db", "results.db", "--where", "dataset=a"]),
        true,
    );
    let err = stderr(&out);
    assert!(err.contains("for 1 row"), "{err}");
    assert!(!err.contains(" b "), "{err}");
    assert!(err.contains("the selection's only job is done"), "{err}");

    let out = run(tune(dir).args(["compare", "--db", "results.db"]), true);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    // Notes about MNIST and the compare grid are for the study's data, not this one.
    assert!(!text.contains("result on mnist"), "{text}");
    assert!(!text.contains("result on fashion-mnist"), "{text}");
    assert!(!text.contains("grids/compare.toml"), "{text}");
}

/// Class names and class sets that do not agree are bad input, not a silent relabelling: a
/// folder data set's `classes` that differ from its folders, a name given twice, and train and
/// test files with different labels.
#[test]
fn class_names_and_class_sets_that_do_not_agree_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gray_class_folders(&dir.join("imgs"), &["a", "b"], 3);
    let folder = |classes: &str| {
        format!(
            "[datasets.mine]\nformat = \"folder\"\ntrain = \"imgs\"\ntest_split = 0.3\n\
             classes = {classes}\n\n{FIXED}"
        )
    };
    let err = bad_grid(dir, &folder(r#"["b", "a"]"#));
    assert!(
        err.contains("classes = [b, a] differ from the class folders [a, b]"),
        "{err}"
    );
    let err = bad_grid(dir, &folder(r#"["x", "y"]"#));
    assert!(err.contains("differ from the class folders"), "{err}");
    // The folders' own names, in their order, are fine.
    let ok = folder(r#"["a", "b"]"#) + "validation = \"test\"\n";
    let grid = write_grid(dir, "ok.toml", &ok);
    run(
        tune(dir)
            .arg("run")
            .arg(&grid)
            .args(["--db", "ok.db", "--dry-run", "--no-calibrate"]),
        true,
    );

    let rows = |labels: &[u8]| {
        let pixels: Vec<u8> = labels.iter().flat_map(|&l| [l * 50; 16]).collect();
        (pixels, labels.to_vec())
    };
    let (p, l) = rows(&[0, 1, 2, 0, 1, 2]);
    write_csv(&dir.join("three.csv"), &p, &l);
    let (p, l) = rows(&[0, 2, 0, 2]);
    write_csv(&dir.join("one.csv"), &p, &l);
    let err = bad_grid(
        dir,
        &format!(
            "[datasets.mine]\nformat = \"csv\"\ntrain = \"three.csv\"\ntest_split = 0.5\n\
             classes = [\"x\", \"x\", \"y\"]\n\n{FIXED}"
        ),
    );
    assert!(err.contains("`x` is given twice"), "{err}");
    let err = bad_grid(
        dir,
        &format!(
            "[datasets.mine]\nformat = \"csv\"\ntrain = \"one.csv\"\ntest = \"three.csv\"\n\n{FIXED}"
        ),
    );
    assert!(
        err.contains("train and test have different classes")
            && err.contains("labels 1 occur only in the test files"),
        "{err}"
    );
}

/// `tune data list --grid GRID` on a grid the test expects to be refused: exit 2; its stderr.
fn bad_listing(dir: &Path, grid: &Path) -> String {
    exit_2_saying(
        &run(tune(dir).args(["data", "list", "--grid"]).arg(grid), false),
        &[],
    )
}

/// Asserts that `out` exited 2 (bad input) with each of `wants` in its stderr; its stderr.
fn exit_2_saying(out: &std::process::Output, wants: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for want in wants {
        assert!(err.contains(want), "{want:?} is not in: {err}");
    }
    err
}

/// Writes `root/CLASS/I.png`, `per_class` 4x4 RGB images in each class (red, green and blue
/// differ, so the colour is real).
fn rgb_class_folders(root: &Path, classes: &[&str], per_class: u8) {
    for class in classes {
        let d = root.join(class);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..per_class {
            image::RgbImage::from_pixel(4, 4, image::Rgb([i * 40 + 10, 200 - i * 30, 90]))
                .save(d.join(format!("{i}.png")))
                .unwrap();
        }
    }
}

/// Colour is never dropped silently: without `channels`, a colour test folder beside grayscale
/// training folders is refused, naming a colour image and `channels = 3`; with `channels = 3`
/// both are read as RGB, and colour training folders make the data set RGB by themselves.
#[test]
fn colour_test_images_beside_grayscale_training_images_exit_2_unless_channels_is_given() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gray_class_folders(&dir.join("train"), &["a", "b"], 3);
    rgb_class_folders(&dir.join("test"), &["a", "b"], 2);
    let table = |channels: &str| {
        format!(
            "[datasets.mine]\nformat = \"folder\"\ntrain = \"train\"\ntest = \"test\"\n\
             {channels}\n{FIXED}"
        )
    };
    let grid = write_grid(dir, "bad.toml", &table(""));
    let err = bad_listing(dir, &grid);
    assert!(err.contains("a.png") || err.contains("0.png"), "{err}");
    assert!(err.contains("test"), "{err}");
    assert!(err.contains("is a colour image"), "{err}");
    assert!(err.contains("channels = 3"), "{err}");
    let err = bad_grid(dir, &table(""));
    assert!(
        err.contains("is a colour image") && err.contains("channels = 3"),
        "{err}"
    );

    let grid = write_grid(dir, "rgb.toml", &table("channels = 3"));
    let row = listed(dir, &grid);
    assert_eq!(row["channels"], 3, "{row}");
    // Grayscale training images with colour ones in the same split: RGB by detection.
    rgb_class_folders(&dir.join("train"), &["a"], 1);
    let grid = write_grid(dir, "detected.toml", &table(""));
    let row = listed(dir, &grid);
    assert_eq!(row["channels"], 3, "{row}");
}

/// A palette PNG (colour type 3) of `w` x `h` pixels, each the index into `palette` (RGB
/// triples): the `image` crate writes no palette PNGs, and many tools do.
fn palette_png(path: &Path, w: u32, h: u32, palette: &[[u8; 3]], index: impl Fn(u32, u32) -> u8) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut enc = png::Encoder::new(file, w, h);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_palette(palette.concat());
    let data: Vec<u8> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| index(x, y))
        .collect();
    let mut writer = enc.write_header().unwrap();
    writer.write_image_data(&data).unwrap();
}

/// A gray picture is grayscale whatever colour type its file stores: the same pictures saved as
/// gray, RGB, RGBA (opaque) and palette PNGs make one data set, 1 channel, with one content hash;
/// one pixel of colour makes it RGB. (Before: RGB, RGBA and palette files were read as 3
/// channels, three times the input of the same gray pictures.)
#[test]
fn gray_pictures_in_colour_files_are_read_as_grayscale() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Image i of class c: a gradient, so that every pixel value differs from its neighbours.
    let value =
        |c: usize, i: usize, x: u32, y: u32| (c * 90 + i * 30) as u8 + (x * 4 + y) as u8 * 3;
    let save = |root: &str, kind: &str| {
        for (c, class) in ["a", "b"].iter().enumerate() {
            let d = dir.join(root).join(class);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..3 {
                let path = d.join(format!("{i}.png"));
                let v = |x, y| value(c, i, x, y);
                match kind {
                    "gray" => image::GrayImage::from_fn(4, 4, |x, y| image::Luma([v(x, y)]))
                        .save(&path)
                        .unwrap(),
                    "rgb" => image::RgbImage::from_fn(4, 4, |x, y| image::Rgb([v(x, y); 3]))
                        .save(&path)
                        .unwrap(),
                    "rgba" => image::RgbaImage::from_fn(4, 4, |x, y| {
                        let g = v(x, y);
                        image::Rgba([g, g, g, 255])
                    })
                    .save(&path)
                    .unwrap(),
                    _ => {
                        let palette: Vec<[u8; 3]> = (0..=255u8).map(|g| [g; 3]).collect();
                        palette_png(&path, 4, 4, &palette, v);
                    }
                }
            }
        }
    };
    let mut hashes = Vec::new();
    for kind in ["gray", "rgb", "rgba", "palette"] {
        save(&format!("{kind}/train"), kind);
        save(&format!("{kind}/test"), kind);
        let grid = write_grid(
            dir,
            &format!("{kind}.toml"),
            &format!(
                "[datasets.mine]\nformat = \"folder\"\ntrain = \"{kind}/train\"\n\
                 test = \"{kind}/test\"\n\n{FIXED}"
            ),
        );
        let row = listed(dir, &grid);
        assert_eq!(row["channels"], 1, "{kind}: {row}");
        hashes.push(row["sha256"].clone());
    }
    assert!(hashes.iter().all(|h| *h == hashes[0]), "{hashes:?}");

    // One coloured pixel in one training image: RGB, the gray ones repeated in three planes.
    let mut img = image::open(dir.join("rgb/train/a/0.png"))
        .unwrap()
        .into_rgb8();
    img.put_pixel(2, 2, image::Rgb([10, 200, 10]));
    img.save(dir.join("rgb/train/a/0.png")).unwrap();
    let row = listed(dir, &dir.join("rgb.toml"));
    assert_eq!(row["channels"], 3, "{row}");
}

/// A data set that cannot be read is reported by `tune data list --grid` exactly as by `tune
/// run`: the same message, starting with the grid file, line and column of the table, exit 2.
#[test]
fn data_list_reports_an_unreadable_data_set_exactly_as_run_does() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("ragged.csv"),
        "label,pixel1,pixel2,pixel3,pixel4\n1,2,3,4,5\n4,5\n",
    )
    .unwrap();
    let text = format!(
        "name = \"x\"\n\n[datasets.mine]\nformat = \"csv\"\ntrain = \"ragged.csv\"\n\
         test_split = 0.5\n\n{FIXED}"
    );
    let from_run = bad_grid(dir, &text);
    let grid = dir.join("bad.toml");
    let from_list = bad_listing(dir, &grid);
    let error = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_else(|| panic!("no error line: {s}"))
            .to_string()
    };
    assert_eq!(error(&from_list), error(&from_run));
    // At the line of the key that names the file (`train = ...`), not the table's.
    let prefix = format!("error: {}:5:", grid.display());
    assert!(error(&from_list).starts_with(&prefix), "{from_list}");
    assert!(
        from_list.contains("ragged.csv") && from_list.contains("line 3"),
        "{from_list}"
    );
}

/// 3,072 pixel columns are 32x32x3, never a grayscale square: the error says `channels = 3`,
/// and with it the file reads as 32x32 RGB.
#[test]
fn a_csv_of_3072_pixel_columns_without_channels_hints_channels_3() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let labels = [0u8, 1, 0, 1];
    let pixels: Vec<u8> = (0..4 * 3072).map(|i| (i % 251) as u8).collect();
    write_csv(&dir.join("rgb.csv"), &pixels, &labels);
    let table = |channels: &str| {
        format!(
            "[datasets.mine]\nformat = \"csv\"\ntrain = \"rgb.csv\"\ntest_split = 0.5\n\
             {channels}\n{FIXED}"
        )
    };
    let grid = write_grid(dir, "bad.toml", &table(""));
    let err = bad_listing(dir, &grid);
    assert!(err.contains("3072 = 32x32x3"), "{err}");
    assert!(err.contains("set channels = 3"), "{err}");
    let grid = write_grid(dir, "ok.toml", &table("channels = 3"));
    let row = listed(dir, &grid);
    assert_eq!(
        (row["size"].as_str(), &row["channels"]),
        (Some("32x32"), &serde_json::json!(3))
    );
    // 784 + 1 columns, not 3 x a square: no such hint.
    let pixels: Vec<u8> = vec![7; 4 * 785];
    write_csv(&dir.join("rgb.csv"), &pixels, &labels);
    let err = bad_listing(dir, &grid);
    assert!(
        !err.contains("32x32x3") && err.contains("785 pixel columns"),
        "{err}"
    );
}

/// Kaggle CSVs with an `id` column (first, or after `label`): the label is found by name, and
/// columns whose names hold no number are not pixels: ignored and named in a note, the images
/// the same as those of the file without them (same content hash).
#[test]
fn csv_columns_other_than_label_and_pixels_are_ignored_with_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let labels = [0u8, 1, 2, 0, 1, 2];
    let pixels: Vec<u8> = (0..6 * 16).map(|i| (i * 7 % 256) as u8).collect();
    write_csv(&dir.join("plain.csv"), &pixels, &labels);
    // The same rows with an `id` column placed first, then after `label`.
    let plain = std::fs::read_to_string(dir.join("plain.csv")).unwrap();
    let mut first = String::new();
    let mut second = String::new();
    for (i, line) in plain.lines().enumerate() {
        let (label, rest) = line.split_once(',').unwrap();
        let id = if i == 0 {
            "id".to_string()
        } else {
            format!("{}", 9000 + i)
        };
        writeln!(first, "{id},{line}").unwrap();
        writeln!(second, "{label},{id},{rest}").unwrap();
    }
    std::fs::write(dir.join("id_first.csv"), first).unwrap();
    std::fs::write(dir.join("id_second.csv"), second).unwrap();
    let table = |file: &str| {
        format!(
            "[datasets.mine]\nformat = \"csv\"\ntrain = \"{file}\"\ntest = \"{file}\"\n\n{FIXED}"
        )
    };
    let hash = |file: &str| {
        let grid = write_grid(dir, &format!("{file}.toml"), &table(file));
        let out = run(
            tune(dir)
                .args(["data", "list", "--grid"])
                .arg(&grid)
                .args(["--format", "json"]),
            true,
        );
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(v[0]["size"], "4x4", "{v}");
        (v[0]["sha256"].as_str().unwrap().to_string(), stderr(&out))
    };
    let (plain_hash, plain_notes) = hash("plain.csv");
    assert!(!plain_notes.contains("ignored"), "{plain_notes}");
    for file in ["id_first.csv", "id_second.csv"] {
        let (h, notes) = hash(file);
        assert_eq!(h, plain_hash, "{file}");
        assert!(notes.contains("column `id` ignored"), "{notes}");
        assert!(notes.contains(file), "{notes}");
    }
}

/// A symbolic link whose target is gone, as an image or as a class folder, is an error naming
/// it (exit 2), not a file quietly counted as ignored.
#[test]
fn a_dangling_symbolic_link_in_an_image_folder_exits_2_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let folders = gray_class_folders(&dir.join("imgs"), &["a", "b"], 3);
    let grid = write_grid(
        dir,
        "bad.toml",
        &format!(
            "[datasets.mine]\nformat = \"folder\"\ntrain = \"imgs\"\ntest_split = 0.5\n\n{FIXED}"
        ),
    );
    for (link, target) in [
        (folders[0].join("moved"), dir.join("elsewhere/x.png")),
        (folders[0].join("moved.png"), dir.join("elsewhere/x.png")),
        (dir.join("imgs/c"), dir.join("elsewhere/c")),
    ] {
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = bad_listing(dir, &grid);
        assert!(err.contains(&link.display().to_string()), "{err}");
        assert!(err.contains("symbolic link"), "{err}");
        assert!(err.contains(&target.display().to_string()), "{err}");
        let err = bad_grid(dir, &std::fs::read_to_string(&grid).unwrap());
        assert!(err.contains("symbolic link"), "{err}");
        std::fs::remove_file(&link).unwrap();
    }
    // An editor's lock file (a hidden dangling link) stays ignored.
    std::os::unix::fs::symlink("user@host.123", folders[0].join(".#0.png")).unwrap();
    listed(dir, &grid);
}

/// IDX image and label files each gzip-compressed or not, in any mix, the label file found
/// beside the images with or without `.gz`; a CSV or PNG given as IDX is named as such.
#[test]
fn idx_files_mix_gzip_and_raw_and_other_formats_given_as_idx_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let images = tune_data::idx::Images {
        count: 6,
        rows: 5,
        cols: 3,
        pixels: (0..90).map(|i| (i * 3) as u8).collect(),
    };
    let labels = [0u8, 1, 2, 0, 1, 2];
    let mut hashes = Vec::new();
    for (i, (gz_images, gz_labels)) in [(true, false), (false, true), (true, true)]
        .into_iter()
        .enumerate()
    {
        let d = dir.join(format!("mix{i}"));
        std::fs::create_dir_all(&d).unwrap();
        let gz = |on: bool| if on { ".gz" } else { "" };
        let image_file = format!("train-images-idx3-ubyte{}", gz(gz_images));
        tune_data::idx::write_images(&d.join(&image_file), &images, gz_images).unwrap();
        tune_data::idx::write_labels(
            &d.join(format!("train-labels-idx1-ubyte{}", gz(gz_labels))),
            &labels,
            gz_labels,
        )
        .unwrap();
        let grid = write_grid(
            &d,
            "grid.toml",
            &format!(
                "[datasets.mine]\nformat = \"idx\"\ntrain = \"{image_file}\"\n\
                 test = \"{image_file}\"\n\n{FIXED}"
            ),
        );
        let row = listed(&d, &grid);
        assert_eq!(row["size"], "5x3", "{row}");
        hashes.push(row["sha256"].clone());
    }
    assert!(hashes.windows(2).all(|w| w[0] == w[1]), "{hashes:?}");

    write_csv(&dir.join("digits.csv"), &[1, 2, 3, 4], &[0, 1]);
    image::GrayImage::from_pixel(4, 4, image::Luma([9]))
        .save(dir.join("one.png"))
        .unwrap();
    for (file, looks) in [
        ("digits.csv", "use format csv"),
        ("one.png", "use format folder"),
    ] {
        let grid = write_grid(
            dir,
            "bad.toml",
            &format!(
                "[datasets.mine]\nformat = \"idx\"\ntrain = \"{file}\"\ntest_split = 0.5\n\n{FIXED}"
            ),
        );
        let err = bad_listing(dir, &grid);
        assert!(
            err.contains(file) && err.contains("is not an IDX file"),
            "{err}"
        );
        assert!(err.contains(looks), "{err}");
        assert!(!err.contains("label file"), "{err}");
    }
}

/// The folder of decoded data sets stays within `TUNE_DECODED_CACHE_MB`: writing an entry
/// prunes the least recently used ones (a read counts as a use), never the one just written.
#[test]
fn the_decoded_data_cache_prunes_the_least_recently_used_entries_beyond_its_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut grids = Vec::new();
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        let labels = [0u8, 1, 0, 1, 0, 1];
        let pixels: Vec<u8> = (0..6 * 16).map(|p| (p * (i + 2) % 256) as u8).collect();
        write_csv(&dir.join(format!("{name}.csv")), &pixels, &labels);
        write_csv(&dir.join(format!("{name}_test.csv")), &pixels, &labels);
        grids.push(write_grid(
            dir,
            &format!("{name}.toml"),
            &format!(
                "[datasets.mine]\nformat = \"csv\"\ntrain = \"{name}.csv\"\n\
                 test = \"{name}_test.csv\"\n\n{FIXED}"
            ),
        ));
    }
    let cache = dir.join("cache/decoded");
    let entries = || -> std::collections::BTreeMap<String, u64> {
        std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tunedata"))
            .map(|e| {
                let len = e.metadata().unwrap().len();
                (e.file_name().to_string_lossy().into_owned(), len)
            })
            .collect()
    };
    let list = |grid: &Path, mib: &str| {
        run(
            tune(dir)
                .env("TUNE_DECODED_CACHE_MB", mib)
                .args(["data", "list", "--grid"])
                .arg(grid)
                .args(["--format", "json"]),
            true,
        );
    };
    list(&grids[0], "2048");
    let after_a = entries();
    assert_eq!(after_a.len(), 1);
    let a = after_a.keys().next().unwrap().clone();
    // Room for two entries of this size, not three.
    let size = after_a[&a];
    let bound = format!("{}", (size as f64 * 2.5) / (1024.0 * 1024.0));
    list(&grids[1], &bound);
    let after_b = entries();
    assert_eq!(after_b.len(), 2, "{after_b:?}");
    let b = after_b.keys().find(|k| **k != a).unwrap().clone();
    // A read of `a` makes `b` the least recently used.
    std::thread::sleep(std::time::Duration::from_millis(20));
    list(&grids[0], &bound);
    std::thread::sleep(std::time::Duration::from_millis(20));
    list(&grids[2], &bound);
    let after_c = entries();
    assert_eq!(after_c.len(), 2, "{after_c:?}");
    assert!(after_c.contains_key(&a), "{after_c:?}");
    assert!(!after_c.contains_key(&b), "{after_c:?}");
    // A bound below one entry keeps only the entry just written.
    list(&grids[1], "0");
    let after = entries();
    assert_eq!(after.keys().collect::<Vec<_>>(), vec![&b], "{after:?}");
}

/// Small things a new user met: `test_split = 0` is explained as a fraction, a data set table no
/// job uses is named in a warning, and one class is `1 class`.
#[test]
fn test_split_0_an_unused_data_set_table_and_one_class_read_well() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (pixels, labels) = digits(20);
    write_csv(&dir.join("ok.csv"), &pixels, &labels);
    for split in ["0", "1", "0.0"] {
        let err = bad_grid(
            dir,
            &format!(
                "[datasets.mine]\nformat = \"csv\"\ntrain = \"ok.csv\"\ntest_split = {split}\n\n{FIXED}"
            ),
        );
        assert!(err.contains("datasets.mine.test_split"), "{err}");
        assert!(
            err.contains("must be a fraction between 0 and 1 (exclusive)") && err.contains("0.2"),
            "{err}"
        );
        assert!(!err.contains("integer"), "{err}");
    }

    let grid = write_grid(
        dir,
        "unused.toml",
        &format!(
            "[datasets.mine]\nformat = \"csv\"\ntrain = \"ok.csv\"\ntest_split = 0.2\n\n\
             [datasets.spare]\nformat = \"csv\"\ntrain = \"ok.csv\"\ntest_split = 0.2\n\n{FIXED}"
        ),
    );
    let out = run(
        tune(dir)
            .arg("run")
            .arg(&grid)
            .args(["--db", "results.db", "--dry-run", "--no-calibrate"]),
        true,
    );
    let err = stderr(&out);
    let warning = format!("warning: {}:6:", grid.display());
    assert!(err.contains(&warning), "{err}");
    assert!(err.contains("no job uses [datasets.spare]"), "{err}");
    assert!(!err.contains("[datasets.mine] ("), "{err}");

    // Test files with a label the training files (one class) lack.
    write_csv(&dir.join("zeros.csv"), &[1, 2, 3, 4, 5, 6, 7, 8], &[0, 0]);
    write_csv(&dir.join("mixed.csv"), &[1, 2, 3, 4, 5, 6, 7, 8], &[0, 1]);
    let out = run(
        tune(dir).args([
            "train",
            "--data",
            "zeros.csv",
            "--test",
            "mixed.csv",
            "--data-format",
            "csv",
        ]),
        false,
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("the data set has 1 class (0-0)"), "{err}");
    assert!(!err.contains("1 classes"), "{err}");
}

/// Pixels are taken by position: a test file whose pixel columns come in another order than the
/// training file's, a pixel column named twice, numbered columns out of order, or a second
/// `label` column is refused (exit 2) naming the file and column; pandas' index column
/// (`Unnamed: 0`) is not a pixel. (Before: the shuffled test file trained with scrambled images
/// and exit 0; `Unnamed: 0` was read as a pixel.)
#[test]
fn csv_pixel_columns_in_another_order_named_twice_or_a_second_label_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let labels = [0u8, 1, 2, 0, 1, 2];
    let pixels: Vec<u8> = (0..6 * 16).map(|i| (i * 7 % 256) as u8).collect();
    write_csv(&dir.join("plain.csv"), &pixels, &labels);
    let plain = std::fs::read_to_string(dir.join("plain.csv")).unwrap();
    // Rewrites every line's cells in the order `order` (indices into the line's cells).
    let reorder = |file: &str, order: &[usize], header: Option<&str>| {
        let mut out = String::new();
        for (i, line) in plain.lines().enumerate() {
            let cells: Vec<&str> = line.split(',').collect();
            let row: Vec<&str> = order.iter().map(|&k| cells[k]).collect();
            match (i, header) {
                (0, Some(h)) => writeln!(out, "{h}").unwrap(),
                _ => writeln!(out, "{}", row.join(",")).unwrap(),
            }
        }
        std::fs::write(dir.join(file), out).unwrap();
    };
    // Columns 1 and 2 (pixel1, pixel2) swapped, names and values together: the same images
    // by name, another order by position.
    let mut swapped: Vec<usize> = (0..17).collect();
    swapped.swap(1, 2);
    reorder("swapped.csv", &swapped, None);
    let mut twice = String::from("label");
    for i in [1, 1].into_iter().chain(3..=16) {
        write!(twice, ",pixel{i}").unwrap();
    }
    reorder("twice.csv", &(0..17).collect::<Vec<_>>(), Some(&twice));
    let mut two_labels: Vec<usize> = (0..17).collect();
    two_labels.push(0);
    let mut header = String::from("label");
    for i in 1..=16 {
        write!(header, ",pixel{i}").unwrap();
    }
    reorder(
        "two_labels.csv",
        &two_labels,
        Some(&format!("{header},label")),
    );
    let mut pandas = String::new();
    for (i, line) in plain.lines().enumerate() {
        let index = if i == 0 {
            "Unnamed: 0".to_string()
        } else {
            (i - 1).to_string()
        };
        writeln!(pandas, "{index},{line}").unwrap();
    }
    std::fs::write(dir.join("pandas.csv"), pandas).unwrap();

    let list = |name: &str, train: &str, test: &str| {
        let grid = write_grid(
            dir,
            &format!("{name}.toml"),
            &format!(
                "[datasets.mine]\nformat = \"csv\"\ntrain = \"{train}\"\ntest = \"{test}\"\n\n{FIXED}"
            ),
        );
        tune(dir)
            .args(["data", "list", "--grid"])
            .arg(&grid)
            .args(["--format", "json"])
            .output()
            .unwrap()
    };
    // The test file in another order than the training file.
    exit_2_saying(
        &list("order", "plain.csv", "swapped.csv"),
        &["swapped.csv", "column 2 is `pixel2` where `pixel1` belongs"],
    );
    // Columns named otherwise than the training file's (pixel0..pixel15 against pixel1..).
    let mut zero = String::from("label");
    for i in 0..16 {
        write!(zero, ",pixel{i}").unwrap();
    }
    reorder("zero.csv", &(0..17).collect::<Vec<_>>(), Some(&zero));
    exit_2_saying(
        &list("zero", "plain.csv", "zero.csv"),
        &[
            "zero.csv",
            "pixel column 1 is `pixel0` where",
            "has `pixel1`",
        ],
    );
    // Alone, numbered columns out of order are refused too.
    exit_2_saying(
        &list("alone", "swapped.csv", "swapped.csv"),
        &["`pixel2` where `pixel1` belongs"],
    );
    exit_2_saying(
        &list("twice", "twice.csv", "twice.csv"),
        &["both named `pixel1`"],
    );
    exit_2_saying(
        &list("labels", "two_labels.csv", "two_labels.csv"),
        &["2 columns are named `label`"],
    );
    // pandas' index column is ignored: the same content hash as the file without it.
    let hash = |out: &std::process::Output| {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
        let v: serde_json::Value = serde_json::from_str(&stdout(out)).unwrap();
        v[0]["sha256"].as_str().unwrap().to_string()
    };
    let plain_hash = hash(&list("plain", "plain.csv", "plain.csv"));
    let out = list("pandas", "pandas.csv", "pandas.csv");
    assert_eq!(hash(&out), plain_hash);
    assert!(
        stderr(&out).contains("column `Unnamed: 0` ignored"),
        "{}",
        stderr(&out)
    );
}

/// A data set of one class is refused when it is read, by `tune data list` as by `tune run`
/// (exit 2, naming the file); before, `data list` showed it and `run` said "`classes` is 1"
/// without naming the data set.
#[test]
fn a_data_set_of_one_class_is_refused_by_data_list_and_run_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let labels = [0u8; 6];
    let pixels: Vec<u8> = (0..6 * 16).map(|i| (i * 7 % 256) as u8).collect();
    write_csv(&dir.join("one.csv"), &pixels, &labels);
    let grid = write_grid(
        dir,
        "one.toml",
        &format!(
            "[datasets.mine]\nformat = \"csv\"\ntrain = \"one.csv\"\ntest_split = 0.5\n\n{FIXED}"
        ),
    );
    for args in [&["data", "list", "--grid"][..], &["run"][..]] {
        let out = tune(dir).args(args).arg(&grid).output().unwrap();
        exit_2_saying(&out, &["one.csv", "needs at least 2 classes"]);
    }
}

/// `tune bench --grid` on a grid whose `dataset` axis names data sets of two image shapes
/// measures every architecture on each shape, saves the figures in throughput.json where the
/// dry run finds them for the jobs of those shapes, and says where; when the file cannot be
/// written it says so instead. (Before: it measured the first data set's shape only, wrote no
/// throughput.json, and said the dry run "now estimates from these".)
#[test]
fn bench_grid_measures_and_saves_every_data_set_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (pixels, labels) = digits(40);
    write_csv(&dir.join("digits.csv"), &pixels, &labels);
    // 4x4 images of 3 classes.
    let labels: Vec<u8> = (0..24).map(|i| (i % 3) as u8).collect();
    let pixels: Vec<u8> = (0..24 * 16).map(|i| (i * 11 % 256) as u8).collect();
    write_csv(&dir.join("small.csv"), &pixels, &labels);
    let grid = write_grid(
        dir,
        "two.toml",
        "[datasets.a]\nformat = \"csv\"\ntrain = \"digits.csv\"\ntest_split = 0.25\n\n\
         [datasets.b]\nformat = \"csv\"\ntrain = \"small.csv\"\ntest_split = 0.25\n\n\
         [fixed]\nlayer1 = 4\ndense = 8\nepochs = 1\nbatch = 8\nvalidation = \"test\"\n\n\
         [axes]\ndataset = [\"a\", \"b\"]\n",
    );
    let bench = |cmd: &mut std::process::Command| {
        run(
            cmd.args(["bench", "--grid"])
                .arg(&grid)
                .args(["--images", "16", "--batch", "8", "--format", "json"]),
            true,
        )
    };
    let out = bench(&mut tune(dir));
    let err = stderr(&out);
    let rows: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let model = tune_spec::ModelSpec::cnn(&[4], 8);
    for (row, (name, side, classes)) in rows.iter().zip([("a", 8, 10), ("b", 4, 3)]) {
        let input = tune_spec::InputShape {
            height: side,
            width: side,
            channels: 1,
            classes,
        };
        assert_eq!(row["dataset"], name, "{row}");
        assert_eq!(row["input"], format!("{side}x{side}x1"), "{row}");
        let params = row["params"]
            .as_u64()
            .or_else(|| row["params"].as_str().and_then(|p| p.parse().ok()));
        assert_eq!(params, Some(model.params(&input).unwrap() as u64), "{row}");
    }
    let saved = dir.join("cache/throughput.json");
    assert!(
        err.contains(&format!("saved in {}", saved.display())),
        "{err}"
    );
    let cache: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    let keys: Vec<&String> = cache.as_object().unwrap().keys().collect();
    for shape in ["|input=8x8x1,10", "|input=4x4x1,3"] {
        assert!(keys.iter().any(|k| k.ends_with(shape)), "{shape}: {keys:?}");
    }
    // The dry run estimates both jobs from these measurements.
    let out = run(
        tune(dir)
            .arg("run")
            .arg(&grid)
            .args(["--db", "results.db", "--dry-run", "--no-calibrate"])
            .args(["--threads-per-job", "1", "--format", "json"]),
        true,
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["figures"]["measured"], 2, "{v}");

    // A cache place that cannot be written: said, not claimed.
    std::fs::write(dir.join("not-a-dir"), "").unwrap();
    let out = bench(tune(dir).env("TUNE_CACHE_DIR", dir.join("not-a-dir")));
    let err = stderr(&out);
    assert!(err.contains("not saved (cannot write"), "{err}");
    assert!(!err.contains("saved in"), "{err}");
}

/// Train and test CSV files of other pixel counts (784 and 3,072): the message names both files
/// and both counts, and gives no `channels = 3` advice, which the 784-pixel training file
/// cannot take. (Before: "3072 = 32x32x3: for RGB images set channels = 3".)
#[test]
fn csv_train_and_test_of_other_pixel_counts_name_both_files_and_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_csv(&dir.join("train784.csv"), &vec![9u8; 2 * 784], &[0, 1]);
    write_csv(&dir.join("test3072.csv"), &vec![9u8; 2 * 3072], &[0, 1]);
    let out = run(
        tune(dir)
            .args(["train", "--data", "train784.csv", "--test", "test3072.csv"])
            .args(["--data-format", "csv", "--epochs", "1"]),
        false,
    );
    let err = exit_2_saying(
        &out,
        &[
            "test3072.csv: has 3,072 pixel columns but",
            "train784.csv has 784 (28x28x1 images",
        ],
    );
    assert!(!err.contains("channels = 3"), "{err}");
}

/// A CIFAR label outside the classes names `batches.meta.txt` when that file sets the class
/// count. (Before: "the data set has 5 classes (0-4)", without saying where 5 came from.)
#[test]
fn a_cifar_label_outside_the_classes_names_batches_meta_txt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    // Labels (3i) % 10: record 2 has label 6.
    std::fs::write(dir.join("data/train.bin"), cifar_records(10, 0)).unwrap();
    std::fs::write(dir.join("data/test.bin"), cifar_records(4, 5)).unwrap();
    std::fs::write(dir.join("data/batches.meta.txt"), "a\nb\nc\nd\ne\n").unwrap();
    let grid = write_grid(dir, "rgb.toml", RGB_GRID);
    let meta = dir.join("data/batches.meta.txt");
    let err = exit_2_saying(
        &run(tune(dir).args(["data", "list", "--grid"]).arg(&grid), false),
        &[
            "train.bin: record 2 (byte 6146): label 6 is not a class",
            "the data set has 5 classes (0-4), from the 5 class names in",
            &meta.display().to_string(),
        ],
    );
    assert!(err.contains("add a line for every class"), "{err}");
}

/// Image sizes in data messages are height x width, the order of `size = [HEIGHT, WIDTH]` and
/// `--size HxW`. (Before: the mixed-sizes message said "5x3 (width x height)".)
#[test]
fn mixed_image_sizes_are_given_as_height_x_width() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gray_class_folders(&dir.join("imgs"), &["a", "b"], 2);
    // 5 wide, 3 high.
    image::GrayImage::from_pixel(5, 3, image::Luma([90]))
        .save(dir.join("imgs/b/wide.png"))
        .unwrap();
    let out = run(
        tune(dir)
            .args(["train", "--data", "imgs", "--data-format", "folder"])
            .args(["--test-split", "0.5", "--epochs", "1"]),
        false,
    );
    let err = exit_2_saying(
        &out,
        &[
            "wide.png: image is 3x5 (height x width) but",
            "0.png is 4x4",
        ],
    );
    assert!(!err.contains("width x height"), "{err}");
}

/// Images with transparent pixels in a folder data set: their alpha is dropped (each pixel keeps
/// its stored colour), said in one note per data set with the count and one of them; fully
/// opaque images with an alpha channel are not counted. (Before: dropped silently.)
#[test]
fn transparent_images_in_a_folder_are_counted_in_one_note() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gray_class_folders(&dir.join("train"), &["a", "b"], 2);
    gray_class_folders(&dir.join("test"), &["a", "b"], 1);
    let gray_alpha = |path: &str, alpha: u8| {
        let mut img = image::GrayAlphaImage::from_pixel(4, 4, image::LumaA([120, 255]));
        img.put_pixel(1, 1, image::LumaA([120, alpha]));
        img.save(dir.join(path)).unwrap();
    };
    gray_alpha("train/a/see-through.png", 0);
    gray_alpha("train/b/opaque.png", 255);
    gray_alpha("test/b/half.png", 128);
    let grid = write_grid(
        dir,
        "alpha.toml",
        &format!(
            "[datasets.mine]\nformat = \"folder\"\ntrain = \"train\"\ntest = \"test\"\n\n{FIXED}"
        ),
    );
    let out = run(tune(dir).args(["data", "list", "--grid"]).arg(&grid), true);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(text.matches("transparent pixels").count(), 1, "{text}");
    assert!(
        text.contains("2 images have transparent pixels (e.g."),
        "{text}"
    );
    assert!(text.contains("see-through.png"), "{text}");
    assert!(text.contains("the alpha channel is dropped"), "{text}");

    // The same when the test images are drawn from the training files (`test_split`): the
    // images are counted over the files read, whichever split they end in.
    let grid = write_grid(
        dir,
        "split.toml",
        &format!(
            "[datasets.mine]\nformat = \"folder\"\ntrain = \"train\"\ntest_split = 0.5\n\n{FIXED}"
        ),
    );
    let out = run(tune(dir).args(["data", "list", "--grid"]).arg(&grid), true);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("1 image has transparent pixels (e.g.") && text.contains("see-through.png"),
        "{text}"
    );
}

/// Whether fontconfig knows an installed font with every character of `chars`.
fn system_font_has(chars: &str) -> bool {
    let hex: Vec<String> = chars
        .chars()
        .map(|c| format!("{:x}", u32::from(c)))
        .collect();
    std::process::Command::new("fc-list")
        .arg("--format=%{file}\\n")
        .arg(format!(":charset={}", hex.join(" ")))
        .output()
        .is_ok_and(|o| !o.stdout.is_empty())
}

/// `tune confusion` names as weakest only classes less accurate than the best (none when all
/// are equal), and `tune plot confusion` draws class names with characters its built-in PNG font
/// lacks in a system font that has them (found through fontconfig) and says so, or, where there
/// is none, names them as shown as boxes, pointing at the SVG, which shows them. (Before:
/// "weakest: 猫 1.0000, 𝐀 1.0000", and boxes in the PNG without a word.)
#[test]
fn confusion_names_only_weaker_classes_and_plot_names_class_names_the_png_cannot_draw() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let labels: Vec<u8> = (0..24).map(|i| (i % 2) as u8).collect();
    let pixels: Vec<u8> = (0..24 * 16)
        .map(|i| if labels[i / 16] == 1 { 200 } else { 20 })
        .collect();
    write_csv(&dir.join("pets.csv"), &pixels, &labels);
    // A Chinese class name and a mathematical bold A (U+1D400), both missing from DejaVu Sans;
    // machines differ in which other fonts have them.
    let grid = write_grid(
        dir,
        "pets.toml",
        "[datasets.pets]\nformat = \"csv\"\ntrain = \"pets.csv\"\ntest_split = 0.5\n\
         classes = [\"猫\", \"\u{1d400}\"]\n\n[fixed]\ndataset = \"pets\"\nlayer1 = 2\n\
         dense = 4\nepochs = 1\nbatch = 8\nvalidation = \"test\"\n",
    );
    run(
        tune(dir).arg("run").arg(&grid).args(["--db", "pets.db"]),
        true,
    );
    let db = Db::open(&dir.join("pets.db"));
    let confusion = || stdout(&run(tune(dir).args(["confusion", "--db", "pets.db"]), true));
    db.execute("UPDATE results SET confusion_json = '[[5,0],[0,5]]'");
    let text = confusion();
    assert!(text.contains("every class equally accurate"), "{text}");
    assert!(!text.contains("weakest"), "{text}");
    db.execute("UPDATE results SET confusion_json = '[[9,1],[2,8]]'");
    let text = confusion();
    assert!(text.contains("weakest: \u{1d400} 0.8000\n"), "{text}");

    let out = run(
        tune(dir).args(["plot", "confusion", "--db", "pets.db", "--out", "c.png"]),
        true,
    );
    let err = stderr(&out);
    let mut boxes = Vec::new();
    for class in ["猫", "\u{1d400}"] {
        if system_font_has(class) {
            assert!(
                err.contains(&format!("c.png: class `{class}` drawn with /")),
                "{class}: {err}"
            );
        } else {
            boxes.push(format!("class `{class}`"));
        }
    }
    if boxes.is_empty() {
        assert!(!err.contains("as boxes"), "{err}");
    } else {
        assert!(
            err.contains("c.png: the font built into tune for PNG"),
            "{err}"
        );
        let verb = if boxes.len() == 1 { "shows" } else { "show" };
        assert!(
            err.contains(&format!("{} {verb} as boxes", boxes.join(", "))),
            "{err}"
        );
        assert!(err.contains("the SVG, c.svg, shows them"), "{err}");
        assert_eq!(
            err.matches("as boxes").count(),
            1,
            "the SVG draws them: {err}"
        );
    }
    let svg = std::fs::read_to_string(dir.join("c.svg")).unwrap();
    assert!(svg.contains("猫") && svg.contains('\u{1d400}'));
}

/// A data set's name holding `@` looked like another data set's version (`NAME@HASH8`): a grid
/// defining `[datasets."csvsq@1c4e08c4"]` was accepted and its jobs were reported, filtered and
/// compared together with that version's, though trained on other data. Such names, and those
/// holding `--where`'s separators, are refused naming the table and the character.
#[test]
fn a_data_set_name_holding_at_or_where_separators_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (pixels, labels) = digits(20);
    write_csv(&dir.join("ok.csv"), &pixels, &labels);
    for (name, c) in [
        ("csvsq@1c4e08c4", "`@`"),
        ("a,b", "`,`"),
        ("a;b", "`;`"),
        ("a=b", "`=`"),
        (" ", "not empty or blank"),
    ] {
        let text = format!(
            "[datasets.\"{name}\"]\nformat = \"csv\"\ntrain = \"ok.csv\"\ntest_split = 0.2\n\n\
             [fixed]\ndataset = \"{name}\"\nlayer1 = 4\ndense = 8\nepochs = 1\n"
        );
        let err = bad_grid(dir, &text);
        assert!(err.contains(c), "{name}: {err}");
        assert!(err.contains(&format!("datasets.{name}")), "{name}: {err}");
        let grid = write_grid(dir, "bad.toml", &text);
        exit_2_saying(
            &run(tune(dir).args(["data", "list", "--grid"]).arg(&grid), false),
            &[c],
        );
    }
}

/// The state of the job trained on the data version whose content hash is `sha`.
fn status_of_version(dir: &Path, sha: &str) -> String {
    let db = Db::open(&dir.join("results.db"));
    let rows: Vec<(String, String)> = db.rows("SELECT spec_json, state FROM jobs");
    let found: Vec<&String> = rows
        .iter()
        .filter(|(spec, _)| spec.contains(sha))
        .map(|(_, status)| status)
        .collect();
    assert_eq!(found.len(), 1, "one job of {sha}: {rows:?}");
    found[0].clone()
}

#[test]
fn jobs_of_an_earlier_version_of_the_data_are_kept_but_never_counted_claimed_or_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let csv = dir.join("digits.csv");
    let grid = write_grid(
        dir,
        "digits.toml",
        "[datasets.digits]\nformat = \"csv\"\ntrain = \"digits.csv\"\ntest_split = 0.25\n\n\
         [fixed]\ndataset = \"digits\"\nlayer1 = 4\ndense = 8\nepochs = 1\nbatch = 8\n\
         validation = \"test\"\n",
    );
    let version = |n: usize| {
        let (pixels, labels) = digits(n);
        write_csv(&csv, &pixels, &labels);
        listed(dir, &grid)["sha256"].as_str().unwrap().to_string()
    };
    let tune_run = |extra: &[&str]| {
        tune(dir)
            .arg("run")
            .arg(&grid)
            .args(["--db", "results.db", "--threads-per-job", "1"])
            .args(extra)
            .output()
            .unwrap()
    };
    let earlier = "of an earlier version of the data";

    // Version 1 trains.
    let v1 = version(40);
    let out = tune_run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Version 2 is queued: the done job of version 1 is not "already done" for this data.
    let v2 = version(44);
    let out = tune_run(&["--enqueue"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("1 job: 1 new; 1 more of"), "{err}");
    assert!(err.contains(earlier), "{err}");
    assert!(!err.contains("already done"), "{err}");

    // The file changes again before a worker gets to the job: the worker fails it.
    let v3 = version(48);
    let out = run(tune(dir).args(["worker", "--db", "results.db"]), false);
    assert!(
        stderr(&out).contains("has changed since its jobs were queued"),
        "{}",
        stderr(&out)
    );
    assert_eq!(status_of_version(dir, &v2), "superseded");

    // Running the grid again, as the message says, trains version 3 and ends with 0: the failed
    // job of version 2 is reported, not counted.
    let out = tune_run(&[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("2 more {earlier}")), "{err}");
    assert!(err.contains("tune data list --grid"), "{err}");
    assert!(!err.contains("failed earlier"), "{err}");
    assert!(!err.contains("failed in an earlier run"), "{err}");
    assert_eq!(status_of_version(dir, &v3), "done");

    // `--retry-failed` does not put the job of version 2 back: it would only fail again.
    let out = tune_run(&["--retry-failed"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("put back"), "{err}");
    assert_eq!(status_of_version(dir, &v2), "superseded");
    assert_eq!(status_of_version(dir, &v1), "done");

    // A job of a version that changed before anything trained it is never claimed: queued
    // (version 4), superseded by a newer queue (version 5), a worker trains version 5 only.
    let v4 = version(52);
    assert_eq!(tune_run(&["--enqueue"]).status.code(), Some(0));
    let v5 = version(56);
    let out = tune_run(&["--enqueue"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = tune(dir)
        .args(["worker", "--db", "results.db"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!err.contains("has changed since"), "{err}");
    assert_eq!(status_of_version(dir, &v5), "done");
    assert_eq!(status_of_version(dir, &v4), "superseded");
    let db = Db::open(&dir.join("results.db"));
    let why = db.rows_with::<(String,)>(
        "SELECT last_error FROM jobs WHERE spec_json LIKE '%' || $1 || '%'",
        &v4,
    );
    assert!(why[0].0.contains(&v5), "{why:?}");
}

#[test]
fn a_worker_that_finds_one_data_set_changed_fails_its_version_once_and_trains_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (pixels, labels) = digits(40);
    write_csv(&dir.join("alpha.csv"), &pixels, &labels);
    write_csv(&dir.join("beta.csv"), &pixels[..36 * 64], &labels[..36]);
    let grid = write_grid(
        dir,
        "two.toml",
        "[datasets.alpha]\nformat = \"csv\"\ntrain = \"alpha.csv\"\ntest_split = 0.25\n\n\
         [datasets.beta]\nformat = \"csv\"\ntrain = \"beta.csv\"\ntest_split = 0.25\n\n\
         [fixed]\nlayer1 = 4\ndense = 8\nepochs = 1\nbatch = 8\nvalidation = \"test\"\n\n\
         [axes]\ndataset = [\"alpha\", \"beta\"]\nseed = [1, 2, 3]\n",
    );
    let out = run(
        tune(dir)
            .arg("run")
            .arg(&grid)
            .args(["--db", "results.db", "--enqueue"]),
        true,
    );
    assert!(stderr(&out).contains("6 new"), "{}", stderr(&out));
    // alpha changes after its jobs were queued.
    let (pixels, labels) = digits(44);
    write_csv(&dir.join("alpha.csv"), &pixels, &labels);

    let out = tune(dir)
        .args([
            "worker",
            "--db",
            "results.db",
            "--jobs",
            "1",
            "--threads-per-job",
            "1",
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    // Some jobs failed (1), not bad input (2): the worker went on with beta's jobs.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.matches("has changed since its jobs were queued")
            .count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("2 more jobs of data set `alpha` as it was"),
        "{err}"
    );
    let db = Db::open(&dir.join("results.db"));
    let states = || -> Vec<(String, String, String, i64)> {
        db.rows(
            "SELECT dataset, status, state, COUNT(*) FROM jobs GROUP BY dataset, status, state \
             ORDER BY dataset, status, state",
        )
    };
    // Kept as failed for readers of `status`, shown and counted as superseded.
    assert_eq!(
        states(),
        [
            ("alpha".into(), "failed".into(), "superseded".into(), 3),
            ("beta".into(), "done".into(), "done".into(), 3)
        ]
    );
    // Every alpha job says why, and only the one claimed counts an attempt.
    let why: Vec<(String, i64)> =
        db.rows("SELECT last_error, attempts FROM jobs WHERE dataset = 'alpha' ORDER BY seq");
    assert!(
        why.iter().all(|(e, _)| e.contains("has changed since")),
        "{why:?}"
    );
    assert_eq!(why.iter().map(|(_, a)| a).sum::<i64>(), 1, "{why:?}");

    // A later worker has nothing to do and nothing failed: exit 0, no advice to retry jobs
    // that can never train; `tune status` shows them as superseded.
    let out = tune(dir)
        .args(["worker", "--db", "results.db"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("retry-failed"), "{err}");
    let out = run(tune(dir).args(["status", "--db", "results.db"]), true);
    assert!(stdout(&out).contains("superseded"), "{}", stdout(&out));
    assert!(
        stderr(&out)
            .contains("3 done, 0 failed, 0 running, 0 pending, 0 interrupted, 3 superseded"),
        "{}",
        stderr(&out)
    );
    // A dry run says what a run will do with them.
    let out = run(
        tune(dir)
            .arg("run")
            .arg(&grid)
            .args(["--db", "results.db", "--dry-run", "--no-calibrate"]),
        true,
    );
    assert!(
        stderr(&out).contains(
            "note: the sweep has 3 jobs of an earlier version of the grid's data (3 superseded)"
        ),
        "{}",
        stderr(&out)
    );
    // `tune run --retry-failed` on the grid as it is now trains the data as it is now and
    // does not put them back.
    let out = run(
        tune(dir)
            .arg("run")
            .arg(&grid)
            .args(["--db", "results.db", "--retry-failed"]),
        true,
    );
    assert!(
        stderr(&out).contains("3 more of an earlier version of the data (3 superseded: kept"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        states(),
        [
            ("alpha".into(), "done".into(), "done".into(), 3),
            ("alpha".into(), "failed".into(), "superseded".into(), 3),
            ("beta".into(), "done".into(), "done".into(), 3)
        ]
    );

    // The files hold the queued data again: the jobs are failed jobs again, and
    // `--retry-failed` trains them.
    let (pixels, labels) = digits(40);
    write_csv(&dir.join("alpha.csv"), &pixels, &labels);
    // The dry run says so: a run takes them back as failed jobs, which it skips.
    let out = run(
        tune(dir)
            .arg("run")
            .arg(&grid)
            .args(["--db", "results.db", "--dry-run", "--no-calibrate"]),
        true,
    );
    assert_eq!(
        stdout(&out)
            .matches("superseded, data back: failed (skipped; --retry-failed trains it)")
            .count(),
        3,
        "{}",
        stdout(&out)
    );
    // A grid not run into this database yet: every job new, no warning.
    let other = write_grid(
        dir,
        "other.toml",
        "[datasets.beta]\nformat = \"csv\"\ntrain = \"beta.csv\"\ntest_split = 0.25\n\n\
         [fixed]\ndataset = \"beta\"\nlayer1 = 8\ndense = 8\nepochs = 1\n",
    );
    let out = run(
        tune(dir).arg("run").arg(&other).args([
            "--db",
            "results.db",
            "--dry-run",
            "--no-calibrate",
        ]),
        true,
    );
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    assert!(stdout(&out).contains("new"), "{}", stdout(&out));
    // Queued for a worker: the failed jobs are not queued, and the grid is not finished (1).
    let out = tune(dir)
        .arg("run")
        .arg(&grid)
        .args(["--db", "results.db", "--enqueue"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("enqueued 3 jobs (0 new)")
            && stdout(&out).contains("3 jobs failed earlier and not queued"),
        "{}",
        stdout(&out)
    );
    let out = run(
        tune(dir)
            .arg("run")
            .arg(&grid)
            .args(["--db", "results.db", "--retry-failed"]),
        true,
    );
    let err = stderr(&out);
    assert!(err.contains("3 failed jobs put back in the queue"), "{err}");
    assert!(
        err.contains("3 more of an earlier version of the data (3 done: kept"),
        "{err}"
    );
    assert_eq!(
        states(),
        [
            ("alpha".into(), "done".into(), "done".into(), 6),
            ("beta".into(), "done".into(), "done".into(), 3)
        ]
    );
}

/// Two data sets, alpha (40 images) and beta (36), three seeds each, queued in `dir` for a
/// worker; returns the grid's path and alpha's rows (to write it back).
fn two_data_sets_queued(dir: &Path) -> (std::path::PathBuf, (Vec<u8>, Vec<u8>)) {
    let (pixels, labels) = digits(40);
    write_csv(&dir.join("alpha.csv"), &pixels, &labels);
    write_csv(&dir.join("beta.csv"), &pixels[..36 * 64], &labels[..36]);
    let grid = write_grid(
        dir,
        "two.toml",
        "[datasets.alpha]\nformat = \"csv\"\ntrain = \"alpha.csv\"\ntest_split = 0.25\n\n\
         [datasets.beta]\nformat = \"csv\"\ntrain = \"beta.csv\"\ntest_split = 0.25\n\n\
         [fixed]\nlayer1 = 4\ndense = 8\nepochs = 1\nbatch = 8\nvalidation = \"test\"\n\n\
         [axes]\ndataset = [\"alpha\", \"beta\"]\nseed = [1, 2, 3]\n",
    );
    run(
        tune(dir)
            .arg("run")
            .arg(&grid)
            .args(["--db", "results.db", "--enqueue"]),
        true,
    );
    (grid, (pixels, labels))
}

/// `tune worker` on `dir`'s results.db, one job at a time.
fn worker(dir: &Path) -> std::process::Output {
    tune(dir)
        .args([
            "worker",
            "--db",
            "results.db",
            "--jobs",
            "1",
            "--threads-per-job",
            "1",
        ])
        .output()
        .unwrap()
}

/// Asserts that alpha's and beta's three jobs are all done.
fn assert_both_done(dir: &Path) {
    assert_eq!(
        states_of(dir),
        [
            ("alpha".into(), "done".into(), 3),
            ("beta".into(), "done".into(), 3)
        ]
    );
}

/// Jobs per data set and state.
fn states_of(dir: &Path) -> Vec<(String, String, i64)> {
    Db::open(&dir.join("results.db")).rows(
        "SELECT dataset, state, COUNT(*) FROM jobs GROUP BY dataset, state ORDER BY dataset, state",
    )
}

/// A worker that meets a user's data set whose file no longer decodes (edited after its jobs
/// were queued) fails every queued job of that version at once, trains the jobs of other data,
/// and ends with exit 2 (bad input). A later worker trains nothing and says the grid is not
/// finished (1); once the file decodes again, `--retry-failed` trains them.
#[test]
fn a_worker_that_cannot_decode_one_data_set_fails_its_jobs_at_once_and_trains_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (grid, (pixels, labels)) = two_data_sets_queued(dir);
    std::fs::write(dir.join("alpha.csv"), "label,pixel\n3,dark\n").unwrap();
    let out = worker(dir);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("alpha.csv") && err.contains("`dark`"), "{err}");
    // The closing summary counts what it did before the error.
    assert!(
        stdout(&out).contains("3 jobs done, 3 failed, 0 interrupted"),
        "{}",
        stdout(&out)
    );
    assert!(
        err.contains("2 more jobs of data set `alpha`") && err.contains("failed with it"),
        "{err}"
    );
    assert!(err.contains("--retry-failed"), "{err}");
    assert_eq!(
        states_of(dir),
        [
            ("alpha".into(), "failed".into(), 3),
            ("beta".into(), "done".into(), 3)
        ]
    );
    // Only the job claimed counts an attempt; every one says why.
    let why: Vec<(String, i64)> = Db::open(&dir.join("results.db"))
        .rows("SELECT last_error, attempts FROM jobs WHERE dataset = 'alpha' ORDER BY seq");
    assert_eq!(why.iter().map(|(_, a)| a).sum::<i64>(), 1, "{why:?}");
    assert!(why.iter().all(|(e, _)| e.contains("alpha.csv")), "{why:?}");

    // A later worker has nothing it can train: the grid is not finished (1).
    let out = worker(dir);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("3 jobs failed in earlier runs and were skipped"),
        "{}",
        stdout(&out)
    );

    // The file decodes again: `--retry-failed` trains them.
    write_csv(&dir.join("alpha.csv"), &pixels, &labels);
    run(
        tune(dir)
            .arg("run")
            .arg(&grid)
            .args(["--db", "results.db", "--retry-failed"]),
        true,
    );
    assert_both_done(dir);
}

/// A worker that cannot read a user's data set's file at all (gone, moved, not mounted on its
/// machine: another worker may read it) fails none of its jobs: it gives the one it claimed back,
/// claims no more of that data, trains the rest and ends with exit 69 (unavailable), saying the
/// jobs stay queued. Once the file is back, `tune run` trains them (no `--retry-failed`).
#[test]
fn a_worker_that_cannot_read_one_data_set_leaves_its_jobs_queued_and_trains_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (grid, (pixels, labels)) = two_data_sets_queued(dir);
    std::fs::remove_file(dir.join("alpha.csv")).unwrap();
    for _ in 0..2 {
        let out = worker(dir);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(69), "{err}");
        assert!(
            err.contains("alpha.csv")
                && err.contains("this worker cannot read data set `alpha`")
                && err.contains("its jobs stay queued for a worker that can"),
            "{err}"
        );
        assert!(
            stdout(&out).contains(" done, 0 failed, 1 interrupted"),
            "{}",
            stdout(&out)
        );
        let states = states_of(dir);
        assert_eq!(
            states.iter().filter(|s| s.0 == "beta").collect::<Vec<_>>(),
            [&("beta".to_string(), "done".to_string(), 3)]
        );
        // Alpha's jobs are all still to train: none failed.
        let alpha: i64 = states
            .iter()
            .filter(|s| s.0 == "alpha" && (s.1 == "pending" || s.1 == "interrupted"))
            .map(|s| s.2)
            .sum();
        assert_eq!(alpha, 3, "{states:?}");
    }
    write_csv(&dir.join("alpha.csv"), &pixels, &labels);
    run(
        tune(dir).arg("run").arg(&grid).args(["--db", "results.db"]),
        true,
    );
    assert_both_done(dir);
}

#[test]
fn queued_and_failed_jobs_on_a_users_data_set_record_its_content_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (pixels, labels) = digits(40);
    write_csv(&dir.join("digits.csv"), &pixels, &labels);
    let grid = write_grid(
        dir,
        "digits.toml",
        &format!(
            "[datasets.mine]\nformat = \"csv\"\ntrain = \"digits.csv\"\ntest_split = 0.25\n\n{FIXED}"
        ),
    );
    let sha = listed(dir, &grid)["sha256"].as_str().unwrap().to_string();
    run(
        tune(dir)
            .arg("run")
            .arg(&grid)
            .args(["--db", "results.db", "--enqueue"]),
        true,
    );
    let read = || {
        let db = Db::open(&dir.join("results.db"));
        let row: Vec<(String, Option<String>, Option<bool>)> =
            db.rows("SELECT status, data_sha256, data_verified FROM jobs");
        row[0].clone()
    };
    assert_eq!(read(), ("pending".into(), Some(sha.clone()), Some(true)));

    // Failed because the file changed: the job still names the content it was queued for.
    let (pixels, labels) = digits(44);
    write_csv(&dir.join("digits.csv"), &pixels, &labels);
    run(tune(dir).args(["worker", "--db", "results.db"]), false);
    assert_eq!(read(), ("failed".into(), Some(sha), Some(true)));
    // The readers say why there is nothing to read.
    for args in [
        &["report"][..],
        &["compare"],
        &["confusion"],
        &["plot", "depth"],
    ] {
        let out = run(tune(dir).args(args).args(["--db", "results.db"]), false);
        let err = stderr(&out);
        assert!(
            err.contains("of its 1 job, 1 superseded"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_report_over_two_data_sets_ranks_within_each_with_its_own_best() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    train_two_data_sets(dir, "", "layer1 = [4, 6]\n");

    // One ranking per data set: each group holds that data set's two configurations only, ranked
    // 1 and 2, and is tested against its own best.
    let out = run(
        tune(dir).args(["report", "--db", "results.db", "--format", "json"]),
        true,
    );
    let err = stderr(&out);
    assert!(err.contains("ranked within each data set"), "{err}");
    assert!(err.contains("--where dataset=a"), "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["group_tests"], serde_json::json!([]), "{v}");
    assert!(v["verdict"].is_null(), "{v}");
    let groups = v["groups"].as_array().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(groups.len(), 2, "{v}");
    for (group, name) in groups.iter().zip(["a", "b"]) {
        let rows = group["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 2, "{group}");
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row["rank"].as_u64(), Some(i as u64 + 1), "{group}");
            assert_eq!(row["spec"]["train"]["dataset"], name, "{group}");
        }
        // Both configurations predicted the same images: the tie test ran.
        assert_eq!(group["ties"]["compared"].as_u64(), Some(1), "{group}");
        assert_eq!(group["ties"]["untested"].as_u64(), Some(0), "{group}");
    }

    // The table: a heading per data set, no row left untested for want of predictions.
    let out = run(tune(dir).args(["report", "--db", "results.db"]), true);
    let text = stdout(&out);
    assert!(text.contains("dataset = a"), "{text}");
    assert!(text.contains("dataset = b"), "{text}");
    assert!(!text.contains("without per-image predictions"), "{text}");
    assert!(!text.contains("untested"), "{text}");
    // Accuracies on different data sets are not tested against each other.
    assert!(!text.contains("Between groups"), "{text}");

    // One data set alone is one ranking, as before.
    let out = run(
        tune(dir).args(["report", "--db", "results.db", "--where", "dataset=b"]),
        true,
    );
    assert!(
        !stderr(&out).contains("ranked within each"),
        "{}",
        stderr(&out)
    );

    // No one best job across data sets: `confusion` and `plot curves` without a job say so and
    // name each data set's best instead of picking one.
    for args in [&["confusion"][..], &["plot", "curves"][..]] {
        let out = tune(dir)
            .args(args)
            .args(["--db", "results.db"])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("on 2 data sets (a, b)"), "{args:?}: {err}");
        assert!(
            err.contains("a: ") && err.contains("; b: "),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_bad_data_file_is_reported_at_the_line_naming_it_with_a_clean_path_and_test_empty_splits() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("grids")).unwrap();
    std::fs::create_dir_all(dir.join("csv")).unwrap();
    let (pixels, labels) = digits(40);
    write_csv(&dir.join("csv/train.csv"), &pixels, &labels);
    std::fs::write(dir.join("csv/bad.csv"), "label,pixel1,pixel2\n1,2,3\n4,5\n").unwrap();
    let dry_run = |table: &str| {
        let text = format!(
            "[datasets.mine]\nformat = \"csv\"\n\n{table}\n\n[fixed]\ndataset = \"mine\"\n\
             layer1 = 4\ndense = 8\nepochs = 1\n"
        );
        std::fs::write(dir.join("grids/g.toml"), text).unwrap();
        tune(dir)
            .args([
                "run",
                "grids/g.toml",
                "--db",
                "r.db",
                "--dry-run",
                "--no-calibrate",
            ])
            .output()
            .unwrap()
    };

    // A file that cannot be read: the line of `test = ...` (line 5), the path without `..`.
    let out = dry_run("train = \"../csv/train.csv\"\ntest = \"../csv/bad.csv\"");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("grids/g.toml:5:"), "{err}");
    assert!(err.contains("csv/bad.csv"), "{err}");
    assert!(!err.contains("/../"), "{err}");

    // A file that is not there: the line of `train = ...` (line 4), the path without `..`.
    let out = dry_run("train = \"../csv/gone.csv\"\ntest_split = 0.5");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("grids/g.toml:4:"), "{err}");
    assert!(err.contains("csv/gone.csv"), "{err}");
    assert!(!err.contains("/../"), "{err}");

    // `test = []` beside test_split: no test files, split instead.
    let out = dry_run("train = \"../csv/train.csv\"\ntest = []\ntest_split = 0.5");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_path_through_a_link_or_a_missing_folder_names_the_same_file_in_a_grid_and_in_the_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("real/sub")).unwrap();
    let (pixels, labels) = digits(40);
    write_csv(&dir.join("real/x.csv"), &pixels, &labels);
    write_csv(&dir.join("x.csv"), &pixels, &labels);
    std::os::unix::fs::symlink(dir.join("real/sub"), dir.join("link")).unwrap();
    let real = std::fs::canonicalize(dir.join("real")).unwrap();
    let grid = |train: &str| {
        let text = format!(
            "[datasets.mine]\nformat = \"csv\"\ntrain = \"{train}\"\ntest_split = 0.25\n\n\
             [fixed]\ndataset = \"mine\"\nlayer1 = 4\ndense = 8\nepochs = 1\n"
        );
        std::fs::write(dir.join("g.toml"), text).unwrap();
        tune(dir)
            .args(["data", "list", "--grid", "g.toml", "--format", "json"])
            .output()
            .unwrap()
    };
    let flags = |train: &str| {
        tune(dir)
            .args(["train", "--data", train, "--data-format", "csv"])
            .args(["--test-split", "0.25", "--epochs", "1", "--filters", "4"])
            .args(["--dense", "8", "--format", "json"])
            .output()
            .unwrap()
    };

    // `..` after a link steps out of where the link points, as the operating system does: a
    // missing file is named there by both.
    let gone = real.join("gone.csv").display().to_string();
    for out in [grid("link/../gone.csv"), flags("link/../gone.csv")] {
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(&gone), "{gone} in: {err}");
    }
    // And a file that is there is the same file to both, recorded with its resolved path.
    let out = grid("link/../x.csv");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listed = stdout(&out);
    let flagged = flags("link/../x.csv");
    assert_eq!(flagged.status.code(), Some(0), "{}", stderr(&flagged));
    let trained: serde_json::Value = serde_json::from_str(&stdout(&flagged)).unwrap();
    let recorded = &trained["train"]["data"]["source"]["train"][0];
    assert_eq!(recorded, &real.join("x.csv").display().to_string());
    assert!(listed.contains(recorded.as_str().unwrap()), "{listed}");
    let sha = trained["train"]["data"]["sha256"].as_str().unwrap();
    assert!(listed.contains(sha), "{listed}");

    // An empty path is no path (it would name the grid's folder).
    let out = grid("");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("g.toml:3:") && err.contains("found string \"\""),
        "{err}"
    );

    // `nope/../x.csv` does not exist (there is no `nope` to step out of), though `x.csv` does:
    // both refuse it, naming it as written.
    for out in [grid("nope/../x.csv"), flags("nope/../x.csv")] {
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("nope/../x.csv"), "{err}");
    }

    // A link whose target is gone is named as such, not as a missing file.
    std::os::unix::fs::symlink(dir.join("moved.csv"), dir.join("dangling.csv")).unwrap();
    for out in [grid("dangling.csv"), flags("dangling.csv")] {
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("dangling.csv")
                && err.contains("a symbolic link to")
                && err.contains("moved.csv, which does not exist"),
            "{err}"
        );
    }
}

#[test]
fn a_named_pipe_given_as_data_is_refused_at_once_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let fifo = dir.join("pipe.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::write(
        dir.join("g.toml"),
        "[datasets.mine]\nformat = \"csv\"\ntrain = \"pipe.csv\"\ntest_split = 0.25\n\n\
         [fixed]\ndataset = \"mine\"\nlayer1 = 4\ndense = 8\nepochs = 1\n",
    )
    .unwrap();
    // Nothing writes to the pipe: opening it would wait forever.
    let commands: [&[&str]; 3] = [
        &["data", "list", "--grid", "g.toml"],
        &["run", "g.toml", "--db", "r.db"],
        &[
            "train",
            "--data",
            "pipe.csv",
            "--data-format",
            "csv",
            "--test-split",
            "0.25",
        ],
    ];
    for args in commands {
        let mut child = tune(dir)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!(
                    "`tune {}` still waits on the pipe after 60 s",
                    args.join(" ")
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("pipe.csv"), "{args:?}: {err}");
        assert!(err.contains("not a file or a folder"), "{args:?}: {err}");
    }
}

#[test]
fn a_halving_grid_whose_data_changed_ranks_the_new_data_in_a_sweep_of_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (pixels, labels) = digits(120);
    write_csv(&dir.join("digits.csv"), &pixels, &labels);
    let grid = write_grid(
        dir,
        "halving.toml",
        "[datasets.mine]\nformat = \"csv\"\ntrain = \"digits.csv\"\ntest_split = 0.25\n\n\
         [search]\nstrategy = \"halving\"\neta = 2\nmin_epochs = 1\n\n\
         [fixed]\ndataset = \"mine\"\nlayer1 = 4\ndense = 8\nepochs = 2\nbatch = 8\n\
         validation = { holdout = 20 }\n\n[axes]\nlr = [0.001, 0.003, 0.01, 0.03]\n",
    );
    let tune_run = || {
        tune(dir)
            .arg("run")
            .arg(&grid)
            .args([
                "--db",
                "results.db",
                "--jobs",
                "1",
                "--threads-per-job",
                "1",
            ])
            .output()
            .unwrap()
    };
    let out = tune_run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("2 jobs done"), "{}", stdout(&out));

    // The file changes: the new data's jobs are ranked among themselves at each rung (two go
    // on and finish), not judged by the decisions made on the old data.
    let (pixels, labels) = digits(124);
    write_csv(&dir.join("digits.csv"), &pixels, &labels);
    let out = tune_run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("2 jobs done") && stdout(&out).contains("2 pruned by halving"),
        "{}",
        stdout(&out)
    );
    let db = Db::open(&dir.join("results.db"));
    let decisions: Vec<(String, i64)> =
        db.rows("SELECT sweep_id, rung FROM rung_decisions ORDER BY sweep_id, rung");
    let sweeps: std::collections::BTreeSet<&String> = decisions.iter().map(|(s, _)| s).collect();
    assert_eq!(sweeps.len(), 2, "{decisions:?}");
    // Each sweep's decisions name only its own data's jobs.
    let mixed: Vec<(String, i64)> = db.rows(
        "SELECT d.sweep_id, COUNT(DISTINCT j.data_sha256) FROM rung_decisions d \
         JOIN sweep_jobs sj ON sj.sweep_id = d.sweep_id JOIN jobs j ON j.key = sj.job_key \
         GROUP BY d.sweep_id",
    );
    assert!(mixed.iter().all(|(_, n)| *n == 1), "{mixed:?}");
}

/// The data flags of `tune train` are checked as a grid's table is, but their errors speak of the
/// flags (`--test-split 0.2`), never of grid keys (`test_split = 0.2`, `datasets.NAME.test`).
#[test]
fn errors_about_the_data_flags_name_the_flags_not_grid_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (pixels, labels) = digits(40);
    write_csv(&dir.join("digits.csv"), &pixels, &labels);
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--test-split", "1.5"],
            &["--test-split", "1.5", "e.g. --test-split 0.2"],
        ),
        (&["--test-split", "0"], &["--test-split", "between 0 and 1"]),
        (
            &["--test-split", "0.2", "--test", "digits.csv"],
            &["--test-split", "as well as --test"],
        ),
        (&[], &["--test", "--test-split 0.2"]),
        (
            &["--test-split", "0.2", "--size", "2000x8"],
            &["--size", "2000x8"],
        ),
        (
            &["--test-split", "0.2", "--channels", "2"],
            &["--channels", "is 2"],
        ),
    ];
    for (flags, wants) in cases {
        let out = run(
            tune(dir)
                .args(["train", "--data", "digits.csv", "--data-format", "csv"])
                .args(*flags)
                .args(["--epochs", "1"]),
            false,
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {err}");
        for want in *wants {
            assert!(err.contains(want), "{flags:?}: {want}: {err}");
        }
        for grid_syntax in ["test_split", "datasets.", "[2000, 8]", " = "] {
            assert!(
                !err.contains(grid_syntax),
                "{flags:?}: {grid_syntax}: {err}"
            );
        }
    }
    let out = run(
        tune(dir)
            .args(["train", "--data", "digits.csv", "--data-format", "png"])
            .args(["--test-split", "0.2"]),
        false,
    );
    let err = stderr(&out);
    assert!(err.contains("--data-format"), "{err}");
    assert!(!err.contains("datasets."), "{err}");
}

/// `tune data list --grid` shows where each data set's test images come from (its test files, or
/// the split of its training files) and each reader's note once.
#[test]
fn data_list_shows_test_files_or_the_split_and_each_note_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (pixels, labels) = digits(40);
    write_csv(&dir.join("train.csv"), &pixels, &labels);
    let (pixels, labels) = digits(20);
    write_csv(&dir.join("test.csv"), &pixels, &labels);
    let grid = write_grid(
        dir,
        "two.toml",
        "[datasets.files]\nformat = \"csv\"\ntrain = \"train.csv\"\ntest = \"test.csv\"\n\n\
         [datasets.split]\nformat = \"csv\"\ntrain = \"train.csv\"\ntest_split = 0.25\n\n\
         [fixed]\nlayer1 = 4\ndense = 8\nepochs = 1\n\n[axes]\ndataset = [\"files\", \"split\"]\n",
    );
    for format in ["json", "table"] {
        let out = run(
            tune(dir)
                .args(["data", "list", "--grid"])
                .arg(&grid)
                .args(["--format", format]),
            true,
        );
        let (text, err) = (stdout(&out), stderr(&out));
        let test_csv = std::fs::canonicalize(dir.join("test.csv")).unwrap();
        if format == "json" {
            let rows: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(rows[0]["dataset"], "files", "{rows}");
            assert_eq!(rows[0]["test"], test_csv.display().to_string(), "{rows}");
            let split = rows[1]["test"].as_str().unwrap();
            assert!(split.contains("0.25"), "{rows}");
        } else {
            assert!(text.contains(&test_csv.display().to_string()), "{text}");
        }
        let all = format!("{text}{err}");
        assert_eq!(
            all.matches("drawn from the training files").count(),
            1,
            "{format}: {all}"
        );
    }
}

/// A warning that holds for every job on a data set (its training split is too small for the
/// default holdout) is given once per data set in a run, not once per job.
#[test]
fn the_small_holdout_warning_is_given_once_per_data_set_and_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (pixels, labels) = digits(40);
    write_csv(&dir.join("a.csv"), &pixels, &labels);
    let (pixels, labels) = digits(48);
    write_csv(&dir.join("b.csv"), &pixels, &labels);
    // No `validation`: the default holdout (5,000 images), a twelfth of these small splits.
    let grid = write_grid(
        dir,
        "two.toml",
        "[datasets.a]\nformat = \"csv\"\ntrain = \"a.csv\"\ntest_split = 0.25\n\n\
         [datasets.b]\nformat = \"csv\"\ntrain = \"b.csv\"\ntest_split = 0.25\n\n\
         [fixed]\nlayer1 = 4\ndense = 8\nepochs = 1\nbatch = 8\n\n\
         [axes]\ndataset = [\"a\", \"b\"]\nseed = [1, 2, 3]\n",
    );
    let out = run(
        tune(dir)
            .arg("run")
            .arg(&grid)
            .args(["--db", "results.db", "--threads-per-job", "1"]),
        true,
    );
    let err = stderr(&out);
    for set in ["`a`", "`b`"] {
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| l.contains("too few to hold out") && l.contains(set))
            .collect();
        assert_eq!(lines.len(), 1, "{set}: {err}");
    }
    let db = Db::open(&dir.join("results.db"));
    assert_eq!(
        db.text("SELECT CAST(COUNT(*) AS TEXT) FROM jobs WHERE status = 'done'"),
        "6"
    );
}

/// `tune report --format csv` writes one CSV table on stdout, also grouped (`--by`, or several
/// data sets): the summary by group is not a second table there, and JSON holds it.
#[test]
fn report_csv_is_one_table_and_json_holds_the_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    train_two_data_sets(dir, "", "filters = [[4], [4, 4]]\n");
    for by in [None, Some("layers")] {
        let mut cmd = tune(dir);
        cmd.args(["report", "--db", "results.db", "--format", "csv"]);
        if let Some(by) = by {
            cmd.args(["--by", by]);
        }
        let out = run(&mut cmd, true);
        let text = stdout(&out);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header = reader.headers().unwrap().clone();
        assert!(header.iter().any(|h| h == "keys"), "{text}");
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 4, "{by:?}: {text}");
        assert!(!text.contains("\n\n"), "{by:?}: {text}");
        assert!(stderr(&out).contains("--format json"), "{}", stderr(&out));
    }
    let out = run(
        tune(dir).args([
            "report",
            "--db",
            "results.db",
            "--format",
            "json",
            "--by",
            "layers",
        ]),
        true,
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["summary"].as_array().unwrap().len(), 4, "{v}");
}

/// `tune compare` on a database of a user's own data sets shows their columns only, not empty
/// MNIST and Fashion-MNIST columns (and no MNIST-minus-Fashion-MNIST delta).
#[test]
fn compare_on_own_data_only_shows_only_the_data_sets_with_jobs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    train_two_data_sets(dir, "layer1 = 4\n", "");
    let out = run(
        tune(dir).args(["compare", "--db", "results.db", "--format", "json"]),
        true,
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["datasets"], serde_json::json!(["a", "b"]), "{v}");
    for format in ["csv", "table", "markdown"] {
        let out = run(
            tune(dir).args(["compare", "--db", "results.db", "--format", format]),
            true,
        );
        let text = stdout(&out);
        assert!(!text.contains("mnist"), "{format}: {text}");
        assert!(text.contains("best cnn"), "{format}: {text}");
    }
}
