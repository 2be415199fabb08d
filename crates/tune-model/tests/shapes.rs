//! Training on images of other sizes, channel counts and class counts than the built-in data
//! sets' 28x28x1 and 10 classes: end to end, reproducibly, and with clear errors when the data
//! does not fit.

use std::sync::Arc;
use tune_data::{Dataset, Split};
use tune_model::train::EpochEnd;
use tune_model::{Flow, Kernels, Observer, Resume, Silent, TrainOptions, Trained};
use tune_spec::{EpochMetrics, InputShape, JobSpec, ModelSpec, TrainSpec, Validation};

/// `len` images of `input`'s shape, channels-last, whose class `i % classes` sets the brightness
/// of one band of rows, with deterministic noise on top.
fn split(input: &InputShape, len: usize, salt: usize) -> Split {
    let (h, w, c) = (input.height, input.width, input.channels);
    let mut images = Vec::with_capacity(len * input.values());
    let labels: Vec<u8> = (0..len).map(|i| (i % input.classes) as u8).collect();
    for (i, &label) in labels.iter().enumerate() {
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    let noise = ((i * 7919 + y * 131 + x * 31 + ch * 17 + salt) % 97) as f32;
                    let band = y * input.classes / h == label as usize;
                    let v = if band { 0.6 } else { 0.0 } + noise / 400.0 + ch as f32 * 0.05;
                    images.push(v);
                }
            }
        }
    }
    Split {
        images: Arc::new(images),
        labels: Arc::new(labels),
        len,
        rows: h,
        cols: w,
        channels: c,
    }
}

fn dataset(input: &InputShape, train: usize, test: usize) -> Dataset {
    Dataset {
        name: format!(
            "synthetic-{}x{}x{}",
            input.height, input.width, input.channels
        ),
        classes: (0..input.classes).map(|c| format!("class {c}")).collect(),
        train: split(input, train, 1),
        test: split(input, test, 2),
    }
}

fn job(model: ModelSpec, epochs: usize) -> JobSpec {
    JobSpec {
        model,
        train: TrainSpec {
            dataset: "synthetic".into(),
            epochs,
            batch: 16,
            seed: 7,
            validation: Validation::Test,
            ..TrainSpec::default()
        },
    }
}

const RGB32: InputShape = InputShape {
    height: 32,
    width: 32,
    channels: 3,
    classes: 10,
};

/// 20 rows by 12 columns: non-square, and too small for a third 3x3 conv layer.
const SMALL: InputShape = InputShape {
    height: 20,
    width: 12,
    channels: 1,
    classes: 10,
};

/// Odd, non-square, RGB, five classes.
const ODD: InputShape = InputShape {
    height: 21,
    width: 15,
    channels: 3,
    classes: 5,
};

fn train(job: &JobSpec, data: &Dataset, input: &InputShape, kernels: Kernels) -> Trained {
    let opts = TrainOptions {
        kernels,
        eval_batch: 24,
        ..TrainOptions::default()
    };
    tune_model::train(job, data, input, &opts, &mut Silent, None).unwrap()
}

/// The weights of a trained network, tensor by tensor.
fn weights(t: &Trained) -> Vec<Vec<f32>> {
    t.network
        .params()
        .iter()
        .map(|p| p.var.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
        .collect()
}

/// The history without the timings, which differ from run to run.
fn figures(t: &Trained) -> Vec<[f64; 4]> {
    t.outcome
        .history
        .iter()
        .map(|m| [m.train_loss, m.train_accuracy, m.val_loss, m.val_accuracy])
        .collect()
}

#[test]
fn cnns_and_anns_train_on_other_shapes() {
    for input in [RGB32, SMALL, ODD] {
        let data = dataset(&input, 96, 40);
        for (model, params) in [
            (ModelSpec::cnn(&[8, 16], 16), None),
            (
                ModelSpec::ann(),
                Some(input.values() * 512 + 512 + 512 * 256 + 256),
            ),
        ] {
            let trained = train(&job(model.clone(), 1), &data, &input, Kernels::Fast);
            let o = &trained.outcome;
            let at = format!("{} on {input}", model.label());
            assert_eq!(o.history.len(), 1, "{at}");
            let m = &o.history[0];
            for (what, v) in [
                ("train loss", m.train_loss),
                ("val loss", m.val_loss),
                ("test loss", o.test_loss),
            ] {
                assert!(v.is_finite() && v > 0.0, "{at}: {what} {v}");
            }
            assert!((0.0..=1.0).contains(&o.test_accuracy), "{at}");
            assert_eq!(o.params, model.params(&input).unwrap(), "{at}");
            assert_eq!(o.params, trained.network.param_count(), "{at}");
            if let Some(dense) = params {
                assert_eq!(
                    o.params,
                    dense + 256 * input.classes + input.classes,
                    "{at}"
                );
            }
            // One row and column per class, every test image counted once.
            assert_eq!(o.confusion.len(), input.classes, "{at}");
            assert!(o.confusion.iter().all(|r| r.len() == input.classes), "{at}");
            let counted: u64 = o.confusion.iter().flatten().sum();
            assert_eq!(counted, 40, "{at}");
            assert_eq!(o.test_predictions.len(), 40, "{at}");
            assert!(
                o.test_predictions
                    .predicted
                    .iter()
                    .all(|&p| usize::from(p) < input.classes),
                "{at}"
            );
        }
    }
}

/// The first conv kernel takes the image's channels, the output layer one unit per class.
#[test]
fn the_network_follows_the_input_shape() {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let net =
        tune_model::Network::new(&ModelSpec::cnn(&[8, 16], 32), &ODD, Kernels::Fast, &mut rng)
            .unwrap();
    let dims: Vec<(&str, Vec<usize>)> = net
        .params()
        .iter()
        .map(|p| (p.name.as_str(), p.var.dims().to_vec()))
        .collect();
    // 21x15 -> 19x13 -> pool 9x6 -> 7x4: 7*4*16 = 448 values reach the dense layer.
    assert_eq!(
        dims,
        vec![
            ("conv1.kernel", vec![3, 3, 3, 8]),
            ("conv1.bias", vec![8]),
            ("conv2.kernel", vec![3, 3, 8, 16]),
            ("conv2.bias", vec![16]),
            ("dense1.kernel", vec![448, 32]),
            ("dense1.bias", vec![32]),
            ("output.kernel", vec![32, 5]),
            ("output.bias", vec![5]),
        ]
    );
    assert_eq!(net.dropout_width(), 448);
    assert_eq!(net.input(), &ODD);
    // Images of another shape are refused, naming both.
    let wrong = candle_core::Tensor::zeros(
        (2, 15, 21, 3),
        candle_core::DType::F32,
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let err = net.forward(&wrong, None).unwrap_err().to_string();
    assert!(
        err.contains("[n, 21, 15, 3]") && err.contains("[2, 15, 21, 3]"),
        "{err}"
    );
}

/// Two runs of the same job on the same RGB (and non-square) data give the same weights and
/// figures, bit for bit, on one thread and on two, and the fast kernels agree with candle's stock
/// ops to rounding.
#[test]
fn training_on_other_shapes_is_reproducible() {
    for input in [RGB32, SMALL] {
        let data = dataset(&input, 64, 24);
        let j = job(ModelSpec::cnn(&[8, 16], 16), 2);
        let a = train(&j, &data, &input, Kernels::Fast);
        let b = train(&j, &data, &input, Kernels::Fast);
        assert_eq!(weights(&a), weights(&b), "{input}");
        assert_eq!(figures(&a), figures(&b), "{input}");
        assert_eq!(a.outcome.test_predictions, b.outcome.test_predictions);
        // The same thread count gives the same numbers (another may differ in the last bits).
        let on_two = || {
            let opts = TrainOptions {
                threads: 2,
                eval_batch: 24,
                ..TrainOptions::default()
            };
            tune_model::train(&j, &data, &input, &opts, &mut Silent, None).unwrap()
        };
        let (c, d) = (on_two(), on_two());
        assert_eq!(weights(&c), weights(&d), "{input}: two threads");
        assert_eq!(figures(&c), figures(&d), "{input}: two threads");
        let stock = train(&j, &data, &input, Kernels::Stock);
        for (f, s) in weights(&a).iter().zip(weights(&stock)) {
            for (x, y) in f.iter().zip(&s) {
                assert!(
                    (x - y).abs() <= 1e-4 * x.abs().max(1.0),
                    "{input}: {x} vs {y}"
                );
            }
        }
    }
}

/// Stops after the first epoch, keeping its checkpoint.
struct StopAfterOne {
    checkpoint: Option<Vec<u8>>,
    history: Vec<EpochMetrics>,
}

impl Observer for StopAfterOne {
    fn epoch(&mut self, m: &EpochMetrics, state: &EpochEnd<'_>) -> tune_model::Result<Flow> {
        self.checkpoint = Some(state.checkpoint()?);
        self.history.push(m.clone());
        Ok(Flow::Stop)
    }
}

/// A job on RGB images stopped after its first epoch and resumed from the checkpoint ends as the
/// job trained without a stop.
#[test]
fn training_on_other_shapes_resumes_to_the_same_weights() {
    let input = ODD;
    let data = dataset(&input, 48, 20);
    let j = job(ModelSpec::cnn(&[8, 8], 16), 2);
    let whole = train(&j, &data, &input, Kernels::Fast);
    let mut stop = StopAfterOne {
        checkpoint: None,
        history: Vec::new(),
    };
    let opts = TrainOptions {
        eval_batch: 24,
        ..TrainOptions::default()
    };
    let err = tune_model::train(&j, &data, &input, &opts, &mut stop, None)
        .err()
        .unwrap();
    assert!(
        matches!(err, tune_model::Error::Stopped { epochs_done: 1 }),
        "{err}"
    );
    let resume = Resume {
        checkpoint: stop.checkpoint.unwrap(),
        history: stop.history,
        runtime_s: 0.0,
    };
    let resumed = tune_model::train(&j, &data, &input, &opts, &mut Silent, Some(resume)).unwrap();
    assert_eq!(weights(&whole), weights(&resumed));
    assert_eq!(figures(&whole), figures(&resumed));
}

/// The shrink check names the image size and how many conv layers it takes.
#[test]
fn too_many_conv_layers_for_the_image_are_refused() {
    let data = dataset(&SMALL, 16, 8);
    let opts = TrainOptions::default();
    let deep = job(ModelSpec::cnn(&[8, 8, 8], 8), 1);
    let err = tune_model::train(&deep, &data, &SMALL, &opts, &mut Silent, None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("conv layer 3 gets a 3x1 input"), "{err}");
    assert!(
        err.contains("a 20x12 image takes at most 2 conv layers of 3x3"),
        "{err}"
    );
    // The same three layers fit a 28x28 image.
    let built_in = dataset(&InputShape::BUILT_IN, 16, 8);
    tune_model::train(
        &deep,
        &built_in,
        &InputShape::BUILT_IN,
        &opts,
        &mut Silent,
        None,
    )
    .unwrap();
}

/// Data that does not fit the shape the networks are built for is refused, naming what is wrong.
#[test]
fn data_that_does_not_fit_the_input_shape_is_refused() {
    let j = job(ModelSpec::cnn(&[4], 4), 1);
    let refused = |data: &Dataset, input: &InputShape| {
        tune_model::train(&j, data, input, &TrainOptions::default(), &mut Silent, None)
            .err()
            .expect("refused")
            .to_string()
    };
    let rgb = dataset(&RGB32, 8, 4);
    // Three channels' values read as one channel.
    let gray = InputShape {
        channels: 1,
        ..RGB32
    };
    let err = refused(&rgb, &gray);
    assert!(
        err.contains("the training split holds 24576 values and 8 labels for 8 images")
            && err.contains("need 8192 values (32*32*1 per image, channels-last)"),
        "{err}"
    );
    // Another image size.
    let err = refused(&rgb, &SMALL);
    assert!(
        err.contains("has 32x32 training and 32x32 test images; the networks take 20x12"),
        "{err}"
    );
    // Another class count.
    let five = InputShape {
        classes: 5,
        ..RGB32
    };
    let err = refused(&rgb, &five);
    assert!(
        err.contains("has 10 classes; the networks are built for 5"),
        "{err}"
    );
    // A label outside the classes.
    let mut bad = rgb.clone();
    let mut labels = bad.test.labels.as_ref().clone();
    labels[2] = 10;
    bad.test.labels = Arc::new(labels);
    let err = refused(&bad, &RGB32);
    assert!(
        err.contains("test image 3 has label 10, but there are 10 classes (labels 0 to 9)"),
        "{err}"
    );
    // An input shape out of range.
    let one = InputShape {
        classes: 1,
        ..RGB32
    };
    let err = refused(&rgb, &one);
    assert!(err.contains("`classes` is 1"), "{err}");
}

/// [`tune_model::input_shape`] reads a loaded data set's shape: 28x28x1 and 10 classes for the
/// built-in layout.
#[test]
fn a_loaded_data_sets_shape_comes_from_its_arrays() {
    let data = dataset(&InputShape::BUILT_IN, 4, 2);
    assert_eq!(tune_model::input_shape(&data), InputShape::BUILT_IN);
    let small = dataset(&SMALL, 4, 2);
    assert_eq!(tune_model::input_shape(&small), SMALL);
}
