//! Ties with the best and the one "best": `tune report` on fixture databases whose answer is known
//! by construction (a clear winner, a two-way tie, all tied; with repeats, Welch), and every command
//! that picks a best or default job picking the same one whatever order the jobs were written in.

use crate::util::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tune_spec::{
    EpochMetrics, JobSpec, ModelSpec, Predictions, TrainOutcome, TrainSpec, Validation,
};
use tune_store::{NewSweep, Store};

/// Validation and test images of the fixture results.
const N: usize = 1000;

/// A job of the fixture: a 1-layer CNN whose `lr` tells configurations apart (same parameters).
fn spec(lr: f64, seed: u64) -> JobSpec {
    JobSpec {
        model: ModelSpec::cnn(&[4], 8),
        train: TrainSpec {
            lr,
            seed,
            epochs: 1,
            validation: Validation::Holdout(5000),
            ..TrainSpec::default()
        },
    }
}

/// Predictions on `N` images (labels `i % 10`), right exactly on the images `right` says.
fn predictions(right: impl Fn(usize) -> bool) -> Predictions {
    let labels: Vec<u8> = (0..N).map(|i| (i % 10) as u8).collect();
    let predicted = labels
        .iter()
        .enumerate()
        .map(|(i, &l)| if right(i) { l } else { (l + 1) % 10 })
        .collect();
    Predictions { predicted, labels }
}

/// A finished job: validation predictions `val`, validation accuracy `val_acc` (the last epoch's),
/// test accuracy `test_acc`.
fn outcome(spec: &JobSpec, val: Predictions, val_acc: f64, test_acc: f64) -> TrainOutcome {
    let mut confusion = vec![vec![0u64; 10]; 10];
    for (c, row) in confusion.iter_mut().enumerate() {
        row[c] = 90;
        row[(c + 1) % 10] = 10;
    }
    TrainOutcome {
        params: spec.model.params(&tune_spec::InputShape::BUILT_IN).unwrap(),
        test_loss: 0.3,
        test_accuracy: test_acc,
        runtime_s: 60.0,
        images_per_s: 1000.0,
        history: vec![EpochMetrics {
            epoch: 1,
            train_loss: 0.5,
            train_accuracy: 0.8,
            val_loss: 0.4,
            val_accuracy: val_acc,
            seconds: 60.0,
        }],
        confusion,
        test_predictions: predictions(|i| (i as f64) < test_acc * N as f64),
        val_predictions: val,
    }
}

/// Writes a results database at `db` with these finished jobs, in this order.
fn write_db(db: &Path, jobs: &[(JobSpec, TrainOutcome)]) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open(&db.display().to_string()).await.unwrap();
        let specs: Vec<JobSpec> = jobs.iter().map(|(s, _)| s.clone()).collect();
        let sweep = NewSweep {
            data_versions: String::new(),
            name: "fixture".into(),
            grid_text: String::new(),
            host: "test".into(),
            tune_version: "test".into(),
        };
        store.enqueue(&sweep, &specs).await.unwrap();
        for _ in jobs {
            let claim = store
                .claim("test:1", Duration::from_secs(3600), None)
                .await
                .unwrap()
                .unwrap();
            let (_, out) = jobs.iter().find(|(s, _)| s.key() == claim.key).unwrap();
            store.complete(&claim, out).await.unwrap();
        }
        store.close().await;
    });
}

/// Single runs with validation accuracies `right[k] / N`, correct on the images `right[k]` says.
fn single_runs(db: &Path, right: Vec<Box<dyn Fn(usize) -> bool>>) -> Vec<String> {
    let jobs: Vec<(JobSpec, TrainOutcome)> = right
        .into_iter()
        .enumerate()
        .map(|(k, r)| {
            let s = spec(0.001 * (k + 1) as f64, 1);
            let p = predictions(r);
            let acc = p.accuracy();
            let o = outcome(&s, p, acc, 0.9);
            (s, o)
        })
        .collect();
    write_db(db, &jobs);
    jobs.iter().map(|(s, _)| s.key()).collect()
}

/// `tune report --format json` and the table, on `db`.
fn report(db: &Path) -> (serde_json::Value, String) {
    let dir = db.parent().unwrap();
    let json = stdout(&run(
        tune(dir)
            .args(["report", "--format", "json", "--db"])
            .arg(db),
        true,
    ));
    let table = stdout(&run(tune(dir).args(["report", "--db"]).arg(db), true));
    (serde_json::from_str(&json).unwrap(), table)
}

/// Each row's first key and its `tied` mark.
fn tied(json: &serde_json::Value) -> BTreeMap<String, bool> {
    json["groups"][0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["keys"][0].as_str().unwrap().to_string(),
                r["tied"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_clear_winner_is_tied_with_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("clear.db");
    // 950, 850 and 800 images right, nested: the best is right on 100 and 150 more images.
    let keys = single_runs(
        &db,
        vec![
            Box::new(|i| i < 950),
            Box::new(|i| i < 850),
            Box::new(|i| i < 800),
        ],
    );
    let (json, table) = report(&db);
    let t = tied(&json);
    assert!(t[&keys[0]]);
    assert_eq!((t[&keys[1]], t[&keys[2]]), (false, false), "{table}");
    assert_eq!(json["groups"][0]["rows"][0]["keys"][0], keys[0].as_str());
    let tie = &json["groups"][0]["rows"][1]["tie"];
    assert_eq!(tie["method"], "mcnemar-exact");
    assert_eq!(tie["df"], 100.0, "100 discordant images: {tie}");
    assert!(tie["p_holm"].as_f64().unwrap() < 1e-20, "{tie}");
    assert!(
        table.contains("Tied with the best: 0 of 2 configurations")
            && table.contains("McNemar's exact test")
            && table.contains("alpha = 0.05"),
        "{table}"
    );
    // Wilson interval from the 1,000 test images beside the test accuracy.
    let ci = &json["groups"][0]["rows"][0]["test_ci"];
    assert_eq!(ci["method"], "wilson");
    assert!(ci["low"].as_f64().unwrap() < 0.9 && ci["high"].as_f64().unwrap() > 0.9);
    assert_eq!(json["groups"][0]["rows"][0]["test_images"], N);
    // Validated on a holdout: no same-split warning.
    assert!(!table.contains("same test split"), "{table}");
}

#[test]
fn a_two_way_tie_marks_the_runner_up() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("two.db");
    // Best: right on 0..900. Runner-up: 0..890 and 900..905, so 10 images only the best gets and
    // 5 only the runner-up gets: McNemar p = binomtest(5, 15) = 0.30. Third: 0..800.
    let keys = single_runs(
        &db,
        vec![
            Box::new(|i| i < 900),
            Box::new(|i| i < 890 || (900..905).contains(&i)),
            Box::new(|i| i < 800),
        ],
    );
    let (json, table) = report(&db);
    let t = tied(&json);
    assert_eq!(
        (t[&keys[0]], t[&keys[1]], t[&keys[2]]),
        (true, true, false),
        "{table}"
    );
    let runner_up = &json["groups"][0]["rows"][1];
    assert_eq!(runner_up["keys"][0], keys[1].as_str());
    let p = runner_up["tie"]["p"].as_f64().unwrap();
    assert!((p - 0.30175781250000006).abs() < 1e-12, "{p}");
    assert!(
        table.contains("Tied with the best: 1 of 2 configurations"),
        "{table}"
    );
    // --alpha changes the verdict: at 0.5 the runner-up differs significantly.
    let strict = stdout(&run(
        tune(tmp.path())
            .args(["report", "--alpha", "0.5", "--format", "json", "--db"])
            .arg(&db),
        true,
    ));
    let strict: serde_json::Value = serde_json::from_str(&strict).unwrap();
    assert!(!tied(&strict)[&keys[1]]);
    assert_eq!(strict["alpha"], 0.5);
    let bad = run(
        tune(tmp.path())
            .args(["report", "--alpha", "2", "--db"])
            .arg(&db),
        false,
    );
    assert!(stderr(&bad).contains("between 0 and 1"), "{}", stderr(&bad));
}

#[test]
fn all_tied_when_nobody_differs_much() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("all.db");
    let keys = single_runs(
        &db,
        vec![
            Box::new(|i| i < 900),
            Box::new(|i| i < 898),
            Box::new(|i| i < 897),
        ],
    );
    let (json, table) = report(&db);
    assert!(tied(&json).values().all(|&t| t), "{table}");
    assert_eq!(json["groups"][0]["rows"][0]["keys"][0], keys[0].as_str());
    assert!(
        table.contains("Tied with the best: 2 of 2 configurations"),
        "{table}"
    );
}

#[test]
fn repeats_are_compared_with_welch() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("repeats.db");
    let configs: [(f64, [f64; 3]); 3] = [
        (0.001, [0.90, 0.91, 0.92]),
        (0.002, [0.905, 0.915, 0.90]),
        (0.003, [0.80, 0.81, 0.82]),
    ];
    let mut jobs = Vec::new();
    for (lr, accs) in configs {
        for (seed, acc) in accs.into_iter().enumerate() {
            let s = spec(lr, seed as u64 + 1);
            let p = predictions(|i| (i as f64) < acc * N as f64);
            let o = outcome(&s, p, acc, 0.9);
            jobs.push((s, o));
        }
    }
    write_db(&db, &jobs);
    let (json, table) = report(&db);
    let rows = json["groups"][0]["rows"].as_array().unwrap();
    let by_lr: BTreeMap<String, &serde_json::Value> = rows
        .iter()
        .map(|r| (format!("{}", r["spec"]["train"]["lr"]), r))
        .collect();
    assert_eq!(by_lr["0.001"]["rank"], 1);
    assert_eq!(by_lr["0.002"]["tied"], true, "{table}");
    assert_eq!(by_lr["0.003"]["tied"], false, "{table}");
    assert_eq!(by_lr["0.002"]["tie"]["method"], "welch");
    assert_eq!(by_lr["0.001"]["n"], 3);
    assert_eq!(by_lr["0.001"]["test_ci"]["method"], "t");
    assert!(
        table.contains("Welch's t-test on the seeds' accuracies")
            && table.contains("1 of 2 configurations"),
        "{table}"
    );
}

/// Two configurations tie on validation accuracy with the same parameter count; a third has the
/// highest test accuracy but a lower validation accuracy. Whatever order they were written in,
/// every command picks the same best job: the tie-break's (smaller key), never the test's.
#[test]
fn every_command_picks_the_same_best_job_whatever_the_order() {
    let tmp = tempfile::tempdir().unwrap();
    let jobs: Vec<(JobSpec, TrainOutcome)> = [
        (0.001, 0.90, 0.91),
        (0.002, 0.90, 0.91),
        (0.003, 0.85, 0.99),
    ]
    .into_iter()
    .map(|(lr, val, test)| {
        let s = spec(lr, 1);
        let o = outcome(&s, predictions(|i| (i as f64) < val * N as f64), val, test);
        (s, o)
    })
    .collect();
    let expected = jobs[..2].iter().map(|(s, _)| s.key()).min().unwrap();
    let orders: [[usize; 3]; 3] = [[0, 1, 2], [2, 1, 0], [1, 2, 0]];
    for order in orders {
        let name = format!("order-{}{}{}.db", order[0], order[1], order[2]);
        let db = tmp.path().join(&name);
        let ordered: Vec<_> = order.iter().map(|&i| jobs[i].clone()).collect();
        write_db(&db, &ordered);
        let (json, _) = report(&db);
        assert_eq!(
            json["groups"][0]["rows"][0]["keys"][0],
            expected.as_str(),
            "{name}: report"
        );

        // Under --sort test_accuracy the table and the --by summary agree on the test split's best.
        let by_test: serde_json::Value = serde_json::from_str(&stdout(&run(
            tune(tmp.path())
                .args([
                    "report",
                    "--by",
                    "layers",
                    "--sort",
                    "test_accuracy",
                    "--format",
                    "json",
                    "--db",
                ])
                .arg(&db),
            true,
        )))
        .unwrap();
        let test_best = jobs[2].0.key();
        assert_eq!(
            by_test["groups"][0]["rows"][0]["keys"][0],
            test_best.as_str()
        );
        assert_eq!(
            by_test["summary"][0]["best"]["keys"][0],
            test_best.as_str(),
            "{name}: summary under --sort test_accuracy"
        );

        let compare = stdout(&run(
            tune(tmp.path())
                .args(["compare", "--format", "json", "--db"])
                .arg(&db),
            true,
        ));
        let compare: serde_json::Value = serde_json::from_str(&compare).unwrap();
        let best_cnn = compare["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "best cnn")
            .unwrap();
        let fashion = compare["datasets"]
            .as_array()
            .unwrap()
            .iter()
            .position(|d| d == "fashion-mnist")
            .unwrap();
        assert_eq!(
            best_cnn["configs"][fashion]["keys"][0],
            expected.as_str(),
            "{name}: compare"
        );

        let confusion = run(tune(tmp.path()).args(["confusion", "--db"]).arg(&db), true);
        assert!(
            stderr(&confusion).contains(&format!("job {expected}")),
            "{name}: confusion: {}",
            stderr(&confusion)
        );
        for kind in ["curves", "confusion"] {
            let out = stdout(&run(
                tune(tmp.path())
                    .args(["plot", kind, "--db"])
                    .arg(&db)
                    .arg("--out")
                    .arg(tmp.path().join(format!("{kind}-{name}.svg"))),
                true,
            ));
            // The picture's title names the job; read it back from the SVG.
            let svg = std::fs::read_to_string(out.lines().next().unwrap()).unwrap();
            assert!(svg.contains(&expected[..8]), "{name}: plot {kind}");
        }
    }
}

/// Intervals never reach past what an accuracy can be: a t interval over two seeds near 1 is cut
/// to 1 and says so, in the rows and in the `--by layers` summary; the summary's mean, sd, n and
/// interval all describe the same thing (the configurations' means).
#[test]
fn intervals_stay_within_what_an_accuracy_can_be() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("near-one.db");
    // (filters, lr, test accuracy of seeds 1 and 2)
    let configs: [(&[usize], f64, [f64; 2]); 4] = [
        (&[4], 0.001, [0.990, 0.999]),
        (&[4], 0.002, [0.950, 0.999]),
        (&[4, 4], 0.001, [0.900, 0.910]),
        (&[4, 4], 0.002, [0.920, 0.930]),
    ];
    let mut jobs = Vec::new();
    for (filters, lr, accs) in configs {
        for (seed, acc) in accs.into_iter().enumerate() {
            let mut s = spec(lr, seed as u64 + 1);
            s.model = ModelSpec::cnn(filters, 8);
            let p = predictions(|i| (i as f64) < acc * N as f64);
            let o = outcome(&s, p, acc, acc);
            jobs.push((s, o));
        }
    }
    write_db(&db, &jobs);
    let dir = db.parent().unwrap();
    let by = |format: &str| {
        stdout(&run(
            tune(dir)
                .args(["report", "--by", "layers", "--format", format, "--db"])
                .arg(&db),
            true,
        ))
    };
    let json: serde_json::Value = serde_json::from_str(&by("json")).unwrap();
    let table = by("table");
    let mut clipped = 0;
    for group in json["groups"].as_array().unwrap() {
        for row in group["rows"].as_array().unwrap() {
            for ci in ["test_ci", "val_ci"] {
                let (low, high) = (
                    row[ci]["low"].as_f64().unwrap(),
                    row[ci]["high"].as_f64().unwrap(),
                );
                assert!(
                    (0.0..=1.0).contains(&low) && (0.0..=1.0).contains(&high),
                    "{row}"
                );
                clipped += usize::from(row[ci]["clipped"] == true);
            }
        }
    }
    assert!(
        clipped >= 2,
        "the two-seed intervals near 1 are cut: {json}"
    );
    for s in json["summary"].as_array().unwrap() {
        assert_eq!(s["configs"]["n"], 2, "{s}");
        assert_eq!(s["accuracy"]["n"], 4, "{s}");
        let mean = s["configs"]["mean"].as_f64().unwrap();
        assert!((mean - s["config_mean"].as_f64().unwrap()).abs() < 1e-12);
        let (low, high) = (
            s["config_mean_ci"]["low"].as_f64().unwrap(),
            s["config_mean_ci"]["high"].as_f64().unwrap(),
        );
        assert!(
            low <= mean && mean <= high && (0.0..=1.0).contains(&low) && high <= 1.0,
            "{s}"
        );
    }
    // 1 layer: configuration means 0.9945 and 0.9745; their t interval (df 1) passes 1.
    assert_eq!(json["summary"][0]["config_mean_ci"]["clipped"], true);
    assert!(
        table.contains("(cut)")
            && table.contains("each configuration's test accuracy (the mean of its seeds)")
            && table.contains("over the configurations"),
        "{table}"
    );
    assert!(
        table.contains("0.9845"),
        "the 1-layer mean of configuration means: {table}"
    );
}
