//! Validation on a holdout by default: every job of a grid that does not say otherwise validates
//! on the same stratified images of the training split, never trains on them, and records its
//! per-image predictions on them and on the test split; `repeats` in the grid file.

use crate::util::db::Db;
use crate::util::*;
use tune_spec::JobSpec;

const GRID: &str = "name = \"holdout\"\nrepeats = 2\n[fixed]\nmodel = \"cnn\"\n\
    dataset = \"fashion-mnist\"\nepochs = 1\nbatch = 32\ndense = 16\n\n[axes]\n\
    layer1 = [4, 5]\ntrain_images = [100, 200]\n";

#[test]
fn grids_validate_on_one_stratified_holdout_and_record_predictions() {
    let s = Setup::new(GRID);
    let out = run(&mut s.run_jobs(2, &["--quiet"]), true);
    let db = s.db();
    let db = Db::open(&db);
    // `repeats = 2` in the file: 4 configurations x seeds 1 and 2.
    let jobs: Vec<(i64, String)> = db.rows("SELECT seed, validation FROM jobs ORDER BY seq");
    assert_eq!(jobs.len(), 8, "{}", stdout(&out));
    assert_eq!(jobs.iter().filter(|(s, _)| *s == 2).count(), 4);
    assert!(jobs.iter().all(|(_, v)| v == "holdout:5000"), "{jobs:?}");

    // The fixture's 256 training images are too few for 5,000: a twelfth (21) is held out.
    let val: Vec<(String, Vec<u8>, Vec<u8>)> = db.rows(
        "SELECT job_key, predicted, labels FROM predictions WHERE split = 'val' ORDER BY job_key",
    );
    assert_eq!(val.len(), 8);
    let labels = &val[0].2;
    assert_eq!(labels.len(), TRAIN / 12);
    for (key, predicted, l) in &val {
        assert_eq!(l, labels, "{key}: every job validates on the same images");
        assert_eq!(predicted.len(), l.len());
    }
    // Stratified: each class gets its share of the holdout, within one image.
    let all: Vec<u8> = (0..TRAIN).map(|i| (i * 7 % 10) as u8).collect();
    for c in 0..10u8 {
        let share =
            all.iter().filter(|&&l| l == c).count() as f64 * labels.len() as f64 / TRAIN as f64;
        let got = labels.iter().filter(|&&l| l == c).count() as f64;
        assert!((got - share).abs() < 1.0, "class {c}: {got} vs {share}");
    }
    let test: Vec<(String, Vec<u8>)> =
        db.rows("SELECT job_key, predicted FROM predictions WHERE split = 'test'");
    assert_eq!(test.len(), 8);
    assert!(test.iter().all(|(_, p)| p.len() == TEST));
    // The recorded validation accuracy is the accuracy of the recorded predictions.
    let accs: Vec<(String, f64)> = db.rows(
        "SELECT e.job_key, e.val_accuracy FROM epoch_metrics e WHERE e.epoch = 1 ORDER BY e.job_key",
    );
    for ((key, acc), (vkey, predicted, l)) in accs.iter().zip(&val) {
        assert_eq!(key, vkey);
        let right = predicted.iter().zip(l).filter(|(p, l)| p == l).count() as f64;
        assert!((acc - right / l.len() as f64).abs() < 1e-9, "{key}");
    }
}

/// The holdout never trains: the images a job trains on and those it validates on are disjoint,
/// the same for every job, and `train_images` limits what is left.
#[test]
fn holdout_images_are_disjoint_from_training_images_and_shared_by_jobs() {
    let tmp = tempfile::tempdir().unwrap();
    let data = fixture_data(&tmp.path().join("data"));
    let dataset = tune_data::load("fashion-mnist", Some(&data)).unwrap();
    let grid = tune_grid::parse(GRID, "grid.toml").unwrap();
    let jobs: Vec<JobSpec> = tune_grid::with_repeats(&grid.jobs, 2);
    let input = tune_model::input_shape(&dataset);
    let plans: Vec<tune_model::Plan> = jobs
        .iter()
        .map(|j| tune_model::plan(j, &dataset, &input).unwrap())
        .collect();
    let holdout = plans[0].holdout.clone().unwrap();
    assert_eq!(holdout.len(), TRAIN / 12);
    for (job, plan) in jobs.iter().zip(&plans) {
        assert_eq!(plan.holdout.as_ref(), Some(&holdout));
        assert!(plan.train.iter().all(|i| !holdout.contains(i)));
        assert_eq!(Some(plan.train.len()), job.train.train_images);
        // The first images not held out, in order.
        let rest: Vec<usize> = (0..TRAIN).filter(|i| !holdout.contains(i)).collect();
        assert_eq!(plan.train, rest[..plan.train.len()]);
    }
    // An explicit holdout that leaves nothing to train on is an error naming the sizes.
    let mut big = jobs[0].clone();
    big.train.validation = tune_spec::Validation::Holdout(1000);
    let err = tune_model::plan(&big, &dataset, &input)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("1000") && err.contains("256"), "{err}");
}
