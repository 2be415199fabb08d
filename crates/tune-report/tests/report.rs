//! Reports rendered from fixture rows built here: snapshots of every format, grouping, sorting,
//! repeats, the comparison, confusion tables and pictures.

use std::path::Path;
use tune_report::*;
use tune_spec::{EpochMetrics, JobSpec, ModelSpec, TrainSpec};

/// Terminal width of the table snapshots.
const WIDTH: Option<u16> = Some(120);

fn job(model: ModelSpec, dataset: &str, seed: u64) -> JobSpec {
    JobSpec {
        model,
        train: TrainSpec {
            dataset: dataset.to_string(),
            seed,
            ..TrainSpec::default()
        },
    }
}

fn row(spec: JobSpec, loss: f64, accuracy: f64, runtime_s: f64) -> ResultRow {
    ResultRow {
        key: spec.key(),
        params: spec.model.params(&tune_spec::InputShape::BUILT_IN).unwrap(),
        spec,
        loss,
        accuracy,
        val_accuracy: None,
        val_predictions: None,
        test_predictions: None,
        test_images: None,
        runtime_s,
        sweep: Some("depth".to_string()),
    }
}

/// A small study on Fashion-MNIST, one seed per configuration: 2 one-layer, 3 two-layer and 3
/// three-layer CNNs and the ANN.
fn study() -> Vec<ResultRow> {
    let d = "fashion-mnist";
    vec![
        row(job(ModelSpec::cnn(&[32], 64), d, 1), 0.3012, 0.9105, 412.0),
        row(job(ModelSpec::cnn(&[64], 128), d, 1), 0.2950, 0.9163, 655.5),
        row(
            job(ModelSpec::cnn(&[32, 32], 64), d, 1),
            0.2711,
            0.9180,
            520.25,
        ),
        row(
            job(ModelSpec::cnn(&[64, 64], 128), d, 1),
            0.2583,
            0.9254,
            903.0,
        ),
        row(
            job(ModelSpec::cnn(&[32, 64], 128), d, 1),
            0.2620,
            0.9231,
            701.4,
        ),
        row(
            job(ModelSpec::cnn(&[32, 32, 32], 32), d, 1),
            0.3105,
            0.9011,
            480.0,
        ),
        row(
            job(ModelSpec::cnn(&[64, 64, 64], 128), d, 1),
            0.2790,
            0.9199,
            1010.0,
        ),
        row(
            job(ModelSpec::cnn(&[128, 128, 128], 128), d, 1),
            0.2755,
            0.9208,
            1902.6,
        ),
        row(job(ModelSpec::ann(), d, 1), 0.3342, 0.8897, 240.9),
    ]
}

/// Three seeds of three configurations, and one configuration with a single seed.
fn repeats() -> Vec<ResultRow> {
    let d = "fashion-mnist";
    let mut rows = Vec::new();
    let accs: [(ModelSpec, [f64; 3]); 3] = [
        (ModelSpec::cnn(&[32], 64), [0.91, 0.92, 0.93]),
        (ModelSpec::cnn(&[64, 64], 128), [0.925, 0.921, 0.929]),
        (ModelSpec::ann(), [0.888, 0.891, 0.887]),
    ];
    for (model, a) in accs {
        for (seed, acc) in a.into_iter().enumerate() {
            let loss = 1.2 - acc;
            rows.push(row(
                job(model.clone(), d, seed as u64 + 1),
                loss,
                acc,
                600.0 + seed as f64,
            ));
        }
    }
    rows.push(row(
        job(ModelSpec::cnn(&[32, 32, 32], 32), d, 1),
        0.31,
        0.90,
        480.0,
    ));
    rows
}

/// Both data sets, CNNs and the ANN on MNIST but only CNNs on Fashion-MNIST.
fn two_datasets() -> Vec<ResultRow> {
    let mut rows = study();
    rows.retain(|r| r.spec.model.kind == tune_spec::ModelKind::Cnn);
    let m = "mnist";
    rows.push(row(
        job(ModelSpec::cnn(&[64, 64], 128), m, 1),
        0.040,
        0.9921,
        880.0,
    ));
    rows.push(row(
        job(ModelSpec::cnn(&[32], 64), m, 1),
        0.052,
        0.9877,
        400.0,
    ));
    rows.push(row(job(ModelSpec::ann(), m, 1), 0.070, 0.9812, 230.0));
    rows
}

fn report(rows: &[ResultRow], by: &str, top: Option<usize>, sort: &str) -> Report {
    let options = ReportOptions {
        by: Field::parse_list(by).unwrap(),
        top,
        sort: sort.parse().unwrap(),
        ..ReportOptions::default()
    };
    Report::build(rows, &options).unwrap()
}

/// The case: the quick grid (6,000 training images) and a grid of one's own (2,000
/// images, dropout 0.25) hold the same architectures.
fn two_training_sizes() -> Vec<ResultRow> {
    let mut rows = Vec::new();
    for (images, dropout, accs) in [
        (6000, 0.5, [0.8015, 0.8120]),
        (2000, 0.25, [0.7004, 0.7101]),
    ] {
        for (model, acc) in [ModelSpec::cnn(&[16], 16), ModelSpec::cnn(&[16, 32], 32)]
            .into_iter()
            .zip(accs)
        {
            let mut spec = job(model, "fashion-mnist", 1);
            spec.train.train_images = Some(images);
            spec.train.epochs = 2;
            spec.model.dropout = dropout;
            rows.push(row(spec, 1.0 - acc, acc, 9.0));
        }
    }
    rows
}

mod snapshots {
    use super::*;

    #[test]
    fn settings_that_vary_are_columns_and_pooling_them_is_noted() {
        let r = report(&two_training_sizes(), "layers", None, "accuracy");
        let text = render_report(&r, Format::Table, WIDTH);
        assert!(
            text.contains("train_images") && text.contains("dropout"),
            "{text}"
        );
        assert!(text.contains("note: layers = 1 pools jobs with different train_images (2000, 6000), dropout (0.25, 0.5)"), "{text}");
        insta::assert_snapshot!("two_training_sizes_by_layers_table", text);
        // Grouping by the setting, or filtering on it, separates them: no note.
        let r = report(
            &two_training_sizes(),
            "layers,train_images",
            None,
            "accuracy",
        );
        assert!(
            r.notes.iter().all(|n| !n.contains("train_images")),
            "{:?}",
            r.notes
        );
        let only: Vec<ResultRow> = two_training_sizes()
            .into_iter()
            .filter(|r| {
                "train_images=6000"
                    .parse::<Filter>()
                    .unwrap()
                    .matches(&r.spec)
            })
            .collect();
        assert_eq!(only.len(), 2);
        assert!(report(&only, "layers", None, "accuracy").notes.is_empty());
        // Every setting sorts.
        let r = report(&two_training_sizes(), "", None, "train_images");
        assert_eq!(r.groups[0].rows[0].spec.train.train_images, Some(2000));
    }

    #[test]
    fn ranked_table() {
        let r = report(&study(), "", None, "accuracy");
        insta::assert_snapshot!("ranked_table", render_report(&r, Format::Table, WIDTH));
    }

    #[test]
    fn ranked_markdown() {
        let r = report(&study(), "", None, "accuracy");
        insta::assert_snapshot!(
            "ranked_markdown",
            render_report(&r, Format::Markdown, WIDTH)
        );
    }

    #[test]
    fn ranked_csv() {
        let r = report(&study(), "", None, "accuracy");
        insta::assert_snapshot!("ranked_csv", render_report(&r, Format::Csv, WIDTH));
    }

    #[test]
    fn ranked_json() {
        let r = report(&study(), "", Some(2), "accuracy");
        insta::assert_snapshot!("ranked_json_top2", render_report(&r, Format::Json, WIDTH));
    }

    #[test]
    fn by_layers_table() {
        let r = report(&study(), "layers", None, "accuracy");
        insta::assert_snapshot!("by_layers_table", render_report(&r, Format::Table, WIDTH));
    }

    #[test]
    fn by_layers_markdown() {
        let r = report(&study(), "layers", None, "accuracy");
        insta::assert_snapshot!(
            "by_layers_markdown",
            render_report(&r, Format::Markdown, WIDTH)
        );
    }

    #[test]
    fn by_layers_csv() {
        let r = report(&study(), "layers", None, "accuracy");
        insta::assert_snapshot!("by_layers_csv", render_report(&r, Format::Csv, WIDTH));
    }

    #[test]
    fn by_layers_json() {
        let r = report(&study(), "layers", Some(1), "accuracy");
        insta::assert_snapshot!(
            "by_layers_json_top1",
            render_report(&r, Format::Json, WIDTH)
        );
    }

    #[test]
    fn repeats_table() {
        let r = report(&repeats(), "", None, "accuracy");
        insta::assert_snapshot!("repeats_table", render_report(&r, Format::Table, WIDTH));
    }

    #[test]
    fn repeats_by_layers_markdown() {
        let r = report(&repeats(), "layers", None, "accuracy");
        insta::assert_snapshot!(
            "repeats_by_layers_markdown",
            render_report(&r, Format::Markdown, WIDTH)
        );
    }

    #[test]
    fn two_datasets_by_dataset_and_layers_narrow() {
        let r = report(&two_datasets(), "dataset,layers", Some(2), "accuracy");
        insta::assert_snapshot!(
            "two_datasets_by_dataset_layers_narrow",
            render_report(&r, Format::Table, Some(80))
        );
    }

    #[test]
    fn compare_all_formats() {
        let c = Comparison::build(&two_datasets());
        for (name, format) in [
            ("compare_table", Format::Table),
            ("compare_markdown", Format::Markdown),
            ("compare_csv", Format::Csv),
            ("compare_json", Format::Json),
        ] {
            insta::assert_snapshot!(name, render_compare(&c, format, WIDTH));
        }
    }

    #[test]
    fn confusion_all_formats() {
        let m = fashion_confusion();
        for (name, format) in [
            ("confusion_table", Format::Table),
            ("confusion_markdown", Format::Markdown),
            ("confusion_csv", Format::Csv),
            ("confusion_json", Format::Json),
        ] {
            let text = confusion_table(&m, &FASHION_MNIST_CLASSES, format, WIDTH).unwrap();
            insta::assert_snapshot!(name, text);
        }
    }
}

mod grouping {
    use super::*;

    #[test]
    fn default_ranks_by_accuracy_highest_first() {
        let r = report(&study(), "", None, "accuracy");
        assert_eq!(r.groups.len(), 1);
        let accs: Vec<f64> = r.groups[0].rows.iter().map(|r| r.accuracy).collect();
        assert_eq!(accs.len(), 9);
        assert!(accs.windows(2).all(|w| w[0] >= w[1]), "{accs:?}");
        assert_eq!(r.groups[0].rows[0].rank, 1);
        assert!(r.summary.is_empty());
        assert!(!r.repeats);
    }

    #[test]
    fn by_layers_orders_depths_then_ann_and_summarises() {
        let r = report(&study(), "layers", None, "accuracy");
        let labels: Vec<&str> = r.groups.iter().map(|g| g.label.as_str()).collect();
        assert_eq!(
            labels,
            ["layers = 1", "layers = 2", "layers = 3", "layers = ann"]
        );
        // depth 2: 0.9180, 0.9254, 0.9231 -> mean 2.7665 / 3 = 0.922166...
        // deviations -0.0041667, +0.0032333, +0.0009333; squares 1.73611e-5, 1.04544e-5, 8.711e-7,
        // sum 2.86867e-5, / 2 = 1.434333e-5, sd = 0.0037873
        let s = &r.summary[1];
        assert_eq!(s.accuracy.n, 3);
        assert!((s.accuracy.mean - 0.922_166_666_666_666_7).abs() < 1e-12);
        assert!(
            (s.accuracy.sd.unwrap() - 0.003_787_260_1).abs() < 1e-9,
            "{:?}",
            s.accuracy.sd
        );
        assert_eq!((s.accuracy.min, s.accuracy.max), (0.9180, 0.9254));
        assert_eq!(s.best.label, "cnn 64-64/128 k3");
        // the ANN group has one job: no sd
        assert_eq!(r.summary[3].accuracy.sd, None);
    }

    #[test]
    fn top_cuts_each_group_but_statistics_cover_all() {
        let r = report(&study(), "layers", Some(1), "accuracy");
        assert!(r.groups.iter().all(|g| g.rows.len() == 1));
        assert_eq!(r.groups[1].total_rows, 3);
        assert_eq!(r.summary[1].accuracy.n, 3);
    }

    #[test]
    fn sort_by_loss_runtime_params_and_fields() {
        let rows = study();
        let first = |sort: &str| report(&rows, "", None, sort).groups[0].rows[0].clone();
        assert_eq!(first("loss").loss, 0.2583);
        assert_eq!(first("runtime").runtime_s, 240.9);
        assert_eq!(first("params").params, 28_394);
        // kernel ascending: every CNN has kernel 3, the ANN has none and comes last; ties by accuracy
        let by_kernel = report(&rows, "", None, "kernel");
        assert_eq!(by_kernel.groups[0].rows[0].accuracy, 0.9254);
        assert_eq!(
            by_kernel.groups[0].rows.last().unwrap().spec.model.kind,
            tune_spec::ModelKind::Ann
        );
        let by_layer1 = report(&rows, "", None, "layer1");
        assert_eq!(by_layer1.groups[0].rows[0].spec.model.filters[0], 32);
    }

    #[test]
    fn several_fields_group_by_the_tuple() {
        let r = report(&two_datasets(), "dataset,layers", None, "accuracy");
        let labels: Vec<&str> = r.groups.iter().map(|g| g.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "dataset = fashion-mnist, layers = 1",
                "dataset = fashion-mnist, layers = 2",
                "dataset = fashion-mnist, layers = 3",
                "dataset = mnist, layers = 1",
                "dataset = mnist, layers = 2",
                "dataset = mnist, layers = ann",
            ]
        );
    }

    #[test]
    fn repeats_fold_into_configurations() {
        let r = report(&repeats(), "", None, "accuracy");
        assert!(r.repeats && r.per_configuration);
        assert_eq!((r.jobs, r.configurations), (10, 4));
        let top = &r.groups[0].rows[0];
        // [0.925, 0.921, 0.929]: mean 0.925, deviations 0, -0.004, +0.004, sd = sqrt(0.000032/2) = 0.004
        assert_eq!(top.spec.model.filters, vec![64, 64]);
        assert!((top.accuracy - 0.925).abs() < 1e-12);
        assert!((top.accuracy_sd.unwrap() - 0.004).abs() < 1e-12);
        assert_eq!(top.seeds, vec![1, 2, 3]);
        assert_eq!(top.n, 3);
        // grouping by seed lists jobs again
        let by_seed = report(&repeats(), "seed", None, "accuracy");
        assert!(!by_seed.per_configuration);
        assert_eq!(by_seed.groups.len(), 3);
        assert_eq!(by_seed.groups[0].rows.len(), 4);
    }

    #[test]
    fn errors() {
        let err = Field::parse_list("layers,colour").unwrap_err().to_string();
        assert!(
            err.contains("colour") && err.contains("layers, layer1"),
            "{err}"
        );
        let err = Report::build(
            &study(),
            &ReportOptions {
                top: Some(0),
                ..ReportOptions::default()
            },
        )
        .unwrap_err();
        assert!(matches!(err, ReportError::ZeroTop));
    }

    #[test]
    fn empty_input() {
        let r = report(&[], "layers", None, "accuracy");
        assert!(r.groups.is_empty());
        assert!(render_report(&r, Format::Table, WIDTH).contains("No finished jobs"));
        assert!(Comparison::build(&[]).notes.len() == 4);
    }

    /// A single run of accuracy 1 (or 0) had a Wilson upper bound of 1.0000000000000002 in the
    /// report's CSV and JSON (a new-user trial found it): the bounds stay within [0, 1].
    #[test]
    fn intervals_of_a_perfect_or_null_accuracy_stay_within_0_and_1() {
        let d = "fashion-mnist";
        let mut rows = vec![
            row(job(ModelSpec::cnn(&[8], 16), d, 1), 0.01, 1.0, 10.0),
            row(job(ModelSpec::cnn(&[16], 16), d, 1), 9.0, 0.0, 10.0),
        ];
        for (r, n) in rows.iter_mut().zip([36usize, 71]) {
            r.test_images = Some(n);
        }
        let r = report(&rows, "", None, "accuracy");
        let json: serde_json::Value =
            serde_json::from_str(&render_report(&r, Format::Json, None)).unwrap();
        let ranked = json["groups"][0]["rows"].as_array().unwrap();
        assert_eq!(ranked.len(), 2);
        for row in ranked {
            let (low, high) = (
                row["test_ci"]["low"].as_f64().unwrap(),
                row["test_ci"]["high"].as_f64().unwrap(),
            );
            assert!(
                (0.0..=1.0).contains(&low) && (0.0..=1.0).contains(&high),
                "{row}"
            );
        }
        assert_eq!(ranked[0]["test_ci"]["high"], 1.0);
        assert_eq!(ranked[1]["test_ci"]["low"], 0.0);
        let csv = render_report(&r, Format::Csv, None);
        assert!(!csv.contains("1.0000000000000002"), "{csv}");
    }

    #[test]
    fn json_and_csv_carry_full_precision() {
        let r = report(&study(), "", None, "accuracy");
        let json: serde_json::Value =
            serde_json::from_str(&render_report(&r, Format::Json, None)).unwrap();
        let first = &json["groups"][0]["rows"][0];
        assert_eq!(first["accuracy"], 0.9254);
        assert_eq!(first["accuracy_sd"], serde_json::Value::Null);
        assert_eq!(first["runtime_min"], 903.0 / 60.0);
        let csv = render_report(&r, Format::Csv, None);
        assert!(csv.contains(&format!(",{},", 903.0 / 60.0)), "{csv}");
    }

    #[test]
    fn compare_deltas() {
        let c = Comparison::build(&two_datasets());
        assert_eq!(c.datasets, ["mnist", "fashion-mnist"]);
        let ann = &c.rows[0];
        let cnn = &c.rows[1];
        let delta = &c.rows[2];
        assert_eq!(ann.accuracy, [Some(0.9812), None]);
        assert_eq!(cnn.accuracy, [Some(0.9921), Some(0.9254)]);
        assert!((delta.accuracy[0].unwrap() - (0.9921 - 0.9812)).abs() < 1e-12);
        assert_eq!(delta.accuracy[1], None);
        assert!((cnn.delta_dataset.unwrap() - (0.9921 - 0.9254)).abs() < 1e-12);
        assert_eq!(
            c.notes[0],
            "no ANN result on fashion-mnist: run `tune run grids/compare.toml`"
        );
        // The fixture's jobs validated on the test split: the best CNN was chosen on it.
        assert!(
            c.notes[1].contains("chosen on the test split"),
            "{:?}",
            c.notes
        );
        assert_eq!(c.notes.len(), 2);
    }
}

/// A plausible Fashion-MNIST confusion matrix of a good CNN (rows: true class).
fn fashion_confusion() -> Vec<Vec<u64>> {
    vec![
        vec![862, 0, 17, 14, 3, 1, 96, 0, 7, 0],
        vec![2, 981, 0, 11, 2, 0, 2, 0, 2, 0],
        vec![15, 1, 881, 8, 49, 0, 45, 0, 1, 0],
        vec![13, 3, 9, 925, 25, 0, 24, 0, 1, 0],
        vec![1, 0, 51, 21, 881, 0, 45, 0, 1, 0],
        vec![0, 0, 0, 0, 0, 983, 0, 12, 0, 5],
        vec![105, 1, 57, 24, 71, 0, 733, 0, 9, 0],
        vec![0, 0, 0, 0, 0, 6, 0, 980, 0, 14],
        vec![3, 1, 2, 3, 1, 2, 3, 2, 983, 0],
        vec![0, 0, 0, 0, 0, 4, 1, 31, 0, 964],
    ]
}

/// Twenty epochs where the training accuracy keeps rising and the validation loss turns up after
/// epoch 9: overfitting.
fn overfitting_history() -> Vec<EpochMetrics> {
    (1..=20)
        .map(|e| {
            let x = e as f64;
            let train_accuracy = 0.97 - 0.2 * (-x / 4.0).exp();
            let val_accuracy = 0.918 - 0.12 * (-x / 2.5).exp() - 0.0004 * (x - 9.0).max(0.0);
            let train_loss = 0.08 + 0.5 * (-x / 4.0).exp();
            let val_loss = 0.22 + 0.3 * (-x / 2.5).exp() + 0.006 * (x - 9.0).max(0.0).powf(1.3);
            EpochMetrics {
                epoch: e,
                train_loss,
                train_accuracy,
                val_loss,
                val_accuracy,
                seconds: 30.0,
            }
        })
        .collect()
}

mod plots {
    use super::*;

    fn is_png(path: &Path) -> bool {
        let bytes = std::fs::read(path).unwrap();
        bytes.len() > 1000 && bytes.starts_with(b"\x89PNG\r\n\x1a\n")
    }

    fn svg(path: &Path) -> String {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.starts_with("<svg"), "{}", &text[..text.len().min(200)]);
        assert!(text.trim_end().ends_with("</svg>"));
        text
    }

    #[test]
    fn curves_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let h = overfitting_history();
        let png = dir.path().join("curves.png");
        plot_curves(&h, "cnn 64-64/128 k3 on fashion-mnist", &png).unwrap();
        assert!(is_png(&png));
        let s = dir.path().join("curves.svg");
        plot_curves(&h, "cnn 64-64/128 k3 on fashion-mnist", &s).unwrap();
        let text = svg(&s);
        assert!(text.contains("validation") && text.contains("training"));
        assert!(text.contains("<polyline"));
        // a single epoch still draws
        plot_curves(&h[..1], "one epoch", &dir.path().join("one.png")).unwrap();
    }

    #[test]
    fn depth_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let rows = repeats();
        let png = dir.path().join("depth.png");
        plot_depth(&rows, &png).unwrap();
        assert!(is_png(&png));
        let s = dir.path().join("depth.svg");
        plot_depth(&two_datasets(), &s).unwrap();
        let text = svg(&s);
        assert!(
            text.contains("1 conv layer") && text.contains("ANN"),
            "axis names"
        );
        assert!(text.contains("mnist") && text.contains("fashion-mnist"));
    }

    #[test]
    fn confusion_png_and_svg_name_the_classes() {
        let dir = tempfile::tempdir().unwrap();
        let m = fashion_confusion();
        let png = dir.path().join("confusion.png");
        plot_confusion(&m, &FASHION_MNIST_CLASSES, "Fashion-MNIST", &png).unwrap();
        assert!(is_png(&png));
        let s = dir.path().join("confusion.svg");
        plot_confusion(&m, &FASHION_MNIST_CLASSES, "Fashion-MNIST", &s).unwrap();
        let text = svg(&s);
        for name in FASHION_MNIST_CLASSES {
            // SVG escapes nothing in these names but `/` stays as is
            assert!(text.contains(name), "{name} missing");
        }
        assert!(
            text.contains(">\n733\n<"),
            "the Shirt diagonal count is written"
        );
    }

    #[test]
    fn bad_inputs_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = plot_depth(&study(), &dir.path().join("x.jpg")).unwrap_err();
        assert!(err.to_string().contains(".svg or .png"), "{err}");
        assert!(plot_curves(&[], "t", &dir.path().join("x.png")).is_err());
        assert!(plot_depth(&[], &dir.path().join("x.png")).is_err());
        let err = plot_confusion(&[vec![1]], &["a", "b"], "t", &dir.path().join("x.png"));
        assert!(matches!(err, Err(ReportError::BadMatrix { .. })));
        let err = plot_depth(&study(), &dir.path().join("no/such/dir/x.png")).unwrap_err();
        assert!(matches!(err, ReportError::Plot { .. }), "{err}");
    }
}

/// Grouping 10,000 rows: a hand measurement, not a timed assertion. Run with
/// `cargo test -p tune-report --release -- --ignored --nocapture ten_thousand`.
#[test]
#[ignore]
fn ten_thousand_rows_timing() {
    let mut rows = Vec::with_capacity(10_000);
    let filters = [16usize, 32, 64, 128];
    let mut i = 0u64;
    'outer: for depth in 1..=3usize {
        for &f in &filters {
            for &d in &filters {
                for lr in [1e-3, 5e-4, 1e-4] {
                    for epochs in [5usize, 10, 20] {
                        for seed in 1..=30u64 {
                            let mut spec =
                                job(ModelSpec::cnn(&vec![f; depth], d), "fashion-mnist", seed);
                            spec.train.lr = lr;
                            spec.train.epochs = epochs;
                            let acc = 0.85 + (i % 97) as f64 / 1000.0;
                            rows.push(ResultRow {
                                key: format!("{i:016x}"),
                                params: 1000,
                                spec,
                                loss: 1.0 - acc,
                                accuracy: acc,
                                val_accuracy: Some(acc),
                                val_predictions: None,
                                test_predictions: None,
                                test_images: None,
                                runtime_s: 100.0,
                                sweep: None,
                            });
                            i += 1;
                            if rows.len() == 10_000 {
                                break 'outer;
                            }
                        }
                    }
                }
            }
        }
    }
    for (by, sort) in [
        ("", "accuracy"),
        ("layers", "accuracy"),
        ("lr,epochs,dense", "loss"),
        ("seed", "accuracy"),
    ] {
        let t = std::time::Instant::now();
        let r = report(&rows, by, Some(10), sort);
        let built = t.elapsed();
        let text = render_report(&r, Format::Table, Some(120));
        eprintln!(
            "10k rows, --by '{by}' --sort {sort}: build {:.1} ms, render {:.1} ms ({} configurations, {} groups, {} chars)",
            built.as_secs_f64() * 1e3,
            t.elapsed().as_secs_f64() * 1e3 - built.as_secs_f64() * 1e3,
            r.configurations,
            r.groups.len(),
            text.len()
        );
    }
}

/// Writes every picture, PNG and SVG, for a person to look at. Run with
/// `TUNE_REPORT_SAMPLES=/tmp/tune-report-samples cargo test -p tune-report -- --ignored sample_pictures`.
#[test]
#[ignore]
fn sample_pictures() {
    let dir = std::env::var("TUNE_REPORT_SAMPLES").unwrap_or("/tmp/tune-report-samples".into());
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    for ext in ["png", "svg"] {
        let p = |name: &str| dir.join(format!("{name}.{ext}"));
        plot_curves(
            &overfitting_history(),
            "cnn 64-64/128 k3 on fashion-mnist",
            &p("curves"),
        )
        .unwrap();
        plot_depth(&study(), &p("depth_study")).unwrap();
        plot_depth(&repeats(), &p("depth_repeats")).unwrap();
        plot_depth(&two_datasets(), &p("depth_two_datasets")).unwrap();
        plot_confusion(
            &fashion_confusion(),
            &FASHION_MNIST_CLASSES,
            "Fashion-MNIST, cnn 64-64/128 k3",
            &p("confusion"),
        )
        .unwrap();
    }
    eprintln!("wrote pictures to {}", dir.display());
}

/// A ranking's rows regrouped (`Report::regroup`, how the dashboard makes its per-depth summary)
/// give the report `tune report --by` builds from the jobs (without per-image predictions): the
/// same groups, rows, tie tests, summaries, tests between groups and notes, as every format
/// shows them (to the rounding of sums taken over the rows in another order); by depth, by depth
/// and data set, and by a setting, with and without repeats.
#[test]
fn a_ranking_regrouped_is_the_grouped_report_of_its_jobs() {
    let mut mixed = study();
    mixed.extend(repeats().into_iter().map(|mut r| {
        r.spec.train.dataset = "mnist".to_string();
        r.key = r.spec.key();
        r
    }));
    for rows in [study(), repeats(), mixed] {
        let ranking = Report::build(&rows, &ReportOptions::default()).unwrap();
        for by in [
            vec![Field::Layers],
            vec![Field::Layers, Field::Dataset],
            vec![Field::Dataset],
            vec![Field::Dense],
        ] {
            let options = ReportOptions {
                by: by.clone(),
                ..ReportOptions::default()
            };
            let built = Report::build(&rows, &options).unwrap();
            let regrouped = ranking.regroup(&by).expect("an ungrouped ranking regroups");
            for format in [Format::Table, Format::Markdown] {
                assert_eq!(
                    render_report(&regrouped, format, WIDTH),
                    render_report(&built, format, WIDTH),
                    "--by {by:?}, {format:?}"
                );
            }
            // The summaries' sums run over the rows in another order: equal to rounding.
            assert_eq!(regrouped.summary.len(), built.summary.len());
            for (a, b) in regrouped.summary.iter().zip(&built.summary) {
                assert_eq!((&a.label, a.configurations), (&b.label, b.configurations));
                assert!((a.config_mean - b.config_mean).abs() < 1e-12, "{by:?}");
                assert!((a.accuracy.mean - b.accuracy.mean).abs() < 1e-12, "{by:?}");
                assert_eq!(a.best.keys, b.best.keys);
            }
            assert_eq!(regrouped.jobs, built.jobs);
            assert_eq!(regrouped.configurations, built.configurations);
            assert_eq!(regrouped.verdict.is_some(), built.verdict.is_some());
            assert_eq!(regrouped.notes, built.notes);
        }
        // Only an ungrouped ranking of every configuration regroups, and never by seed.
        assert!(ranking.regroup(&[Field::Seed]).is_none());
        let cut = ReportOptions {
            top: Some(2),
            ..ReportOptions::default()
        };
        let cut = Report::build(&rows, &cut).unwrap();
        assert!(cut.regroup(&[Field::Layers]).is_none());
    }
}
