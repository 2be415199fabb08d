//! `tune train`: one network from flags, its JSON summary, saved weights, and reproducibility.

use crate::util::*;
use std::path::Path;

/// `tune train` of a small CNN on the fixture data with `extra` flags; its JSON summary.
fn train_json(dir: &Path, data: &Path, extra: &[&str]) -> serde_json::Value {
    let out = run(
        tune(dir)
            .args(["train", "--filters", "8", "--dense", "16", "--epochs", "2"])
            .args(["--format", "json", "--data-dir"])
            .arg(data)
            .args(extra),
        true,
    );
    let text = stdout(&out);
    assert_eq!(
        text.lines().count(),
        1,
        "one JSON object on one line: {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn train_prints_one_json_summary_and_saves_loadable_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let data = fixture_data(&tmp.path().join("data"));
    let summary = train_json(tmp.path(), &data, &["--save", "w.safetensors"]);

    let params = summary["params"].as_u64().unwrap() as usize;
    let loss = summary["test_loss"].as_f64().unwrap();
    assert!(loss.is_finite() && loss > 0.0, "{summary}");
    let accuracy = summary["test_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&accuracy), "{summary}");
    assert!(summary["runtime_s"].as_f64().unwrap() > 0.0, "{summary}");
    let history = summary["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{summary}");
    for (i, epoch) in history.iter().enumerate() {
        assert_eq!(epoch["epoch"], i + 1, "{summary}");
        for key in [
            "train_loss",
            "train_accuracy",
            "val_loss",
            "val_accuracy",
            "seconds",
        ] {
            assert!(epoch[key].is_number(), "{key}: {summary}");
        }
    }
    // Validation is on the test split, so the last epoch's figures are the test figures.
    assert_eq!(history[1]["val_accuracy"], summary["test_accuracy"]);
    let confusion = summary["confusion"].as_array().unwrap();
    let tested: u64 = confusion
        .iter()
        .flat_map(|row| row.as_array().unwrap())
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(tested, TEST as u64);

    let weights =
        candle_core::safetensors::load(tmp.path().join("w.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    let mut names: Vec<&str> = weights.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "conv1.bias",
            "conv1.kernel",
            "dense1.bias",
            "dense1.kernel",
            "output.bias",
            "output.kernel"
        ]
    );
    // Every trainable parameter is saved.
    let stored: usize = weights.values().map(|t| t.elem_count()).sum();
    assert_eq!(stored, params);
    assert_eq!(weights["conv1.kernel"].elem_count(), 8 * 9);
}

#[test]
fn the_same_seed_gives_the_same_network_and_another_seed_another() {
    let tmp = tempfile::tempdir().unwrap();
    let data = fixture_data(&tmp.path().join("data"));
    let a = train_json(tmp.path(), &data, &["--seed", "7"]);
    let b = train_json(tmp.path(), &data, &["--seed", "7"]);
    let c = train_json(tmp.path(), &data, &["--seed", "8"]);
    let loss = |v: &serde_json::Value| v["test_loss"].as_f64().unwrap();
    assert_eq!(loss(&a), loss(&b));
    assert_eq!(a["history"][0]["train_loss"], b["history"][0]["train_loss"]);
    assert_ne!(loss(&a), loss(&c));
    assert_ne!(a["job_key"], c["job_key"]);
}

#[test]
fn train_on_missing_data_says_how_to_get_it() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = run(
        tune(tmp.path())
            .args(["train", "--dataset", "mnist", "--epochs", "1", "--data-dir"])
            .arg(&empty),
        false,
    );
    assert_eq!(out.status.code(), Some(69));
    let err = stderr(&out);
    assert!(err.contains("data set `mnist` not found"), "{err}");
    assert!(err.contains("tune data fetch mnist"), "{err}");
}
