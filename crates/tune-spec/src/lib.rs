//! What a training job is, independent of how it is trained or stored.
//!
//! A [`JobSpec`] is a [`ModelSpec`] (the architecture) plus a [`TrainSpec`] (optimiser, data, epochs,
//! seed). Everything here is plain data and arithmetic: the shapes a network's layers produce, its
//! parameter count (equal to Keras's for the same architecture), the multiply-adds of one forward
//! pass, and a stable key that names the job wherever it appears.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

mod datasets;
mod field;

pub use datasets::{DATASET_NAMES, DATASETS, DatasetName, FASHION_MNIST, MNIST, dataset};
pub use field::{
    EMPTY, Field, FieldValue, Stored, UnknownField, UnknownReportField, Value, ValueKind,
};

/// Side of the square grayscale images of the study's data sets.
pub const IMAGE_SIDE: usize = 28;
/// Number of classes in the study's data sets.
pub const CLASSES: usize = 10;

/// The two model families of the study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Convolutional network: conv layers, then one dense hidden layer.
    Cnn,
    /// Plain dense network.
    Ann,
}

impl ModelKind {
    /// The lowercase name used in grid files, the CLI and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Cnn => "cnn",
            ModelKind::Ann => "ann",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cnn" => Ok(ModelKind::Cnn),
            "ann" => Ok(ModelKind::Ann),
            other => Err(format!("unknown model `{other}`: expected `cnn` or `ann`")),
        }
    }
}

/// A network architecture.
///
/// CNN: for each entry of `filters` a `kernel`x`kernel` valid convolution + ReLU, with a 2x2 max-pool
/// after every conv but the last; then Flatten, Dropout, one Dense + ReLU per entry of `dense`, and
/// Dense(10). ANN: Flatten, one Dense + ReLU per entry of `dense`, Dropout, Dense(10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Model family.
    pub kind: ModelKind,
    /// Filters of each conv layer (empty for an ANN).
    pub filters: Vec<usize>,
    /// Side of the square conv kernels (ignored for an ANN, stored as 0 there).
    pub kernel: usize,
    /// Widths of the hidden dense layers.
    pub dense: Vec<usize>,
    /// Dropout rate.
    pub dropout: f64,
    /// L2 factor on kernels (`l2 * sum(w^2)` added to the loss).
    pub l2: f64,
}

impl ModelSpec {
    /// The study's CNN: given filters and one dense width, kernel 3, dropout 0.5, L2 0.001.
    pub fn cnn(filters: &[usize], dense: usize) -> Self {
        ModelSpec {
            kind: ModelKind::Cnn,
            filters: filters.to_vec(),
            kernel: 3,
            dense: vec![dense],
            dropout: 0.5,
            l2: 0.001,
        }
    }

    /// The study's ANN: Dense 512, Dense 256, dropout 0.5, no L2.
    pub fn ann() -> Self {
        ModelSpec {
            kind: ModelKind::Ann,
            filters: vec![],
            kernel: 0,
            dense: vec![512, 256],
            dropout: 0.5,
            l2: 0.0,
        }
    }

    /// Every layer with its output shape, parameters and forward multiply-adds per image, or the first
    /// layer that cannot be built.
    pub fn layers(&self) -> Result<Vec<Layer>, SpecError> {
        self.validate_numbers()?;
        let mut layers = Vec::new();
        let (mut h, mut w, mut c) = (IMAGE_SIDE, IMAGE_SIDE, 1usize);
        let last_conv = self.filters.len().saturating_sub(1);
        for (i, &f) in self.filters.iter().enumerate() {
            let k = self.kernel;
            if h < k || w < k {
                return Err(SpecError::Shrinks {
                    layer: i + 1,
                    input: (h, w),
                    kernel: k,
                });
            }
            let (oh, ow) = (h - k + 1, w - k + 1);
            let params = k * k * c * f + f;
            layers.push(Layer {
                kind: LayerKind::Conv,
                out: (oh, ow, f),
                params,
                macs: oh * ow * f * k * k * c,
            });
            (h, w, c) = (oh, ow, f);
            if i < last_conv {
                if h < 2 || w < 2 {
                    return Err(SpecError::PoolShrinks {
                        layer: i + 1,
                        input: (h, w),
                    });
                }
                (h, w) = (h / 2, w / 2);
                layers.push(Layer {
                    kind: LayerKind::MaxPool,
                    out: (h, w, c),
                    params: 0,
                    macs: 0,
                });
            }
        }
        let mut width = h * w * c;
        for &d in &self.dense {
            layers.push(Layer {
                kind: LayerKind::Dense,
                out: (1, 1, d),
                params: width * d + d,
                macs: width * d,
            });
            width = d;
        }
        layers.push(Layer {
            kind: LayerKind::Output,
            out: (1, 1, CLASSES),
            params: width * CLASSES + CLASSES,
            macs: width * CLASSES,
        });
        Ok(layers)
    }

    fn validate_numbers(&self) -> Result<(), SpecError> {
        let bad = |what: Field, why: &str| {
            Err(SpecError::Invalid {
                what,
                why: why.to_string(),
            })
        };
        match self.kind {
            ModelKind::Cnn if self.filters.is_empty() => {
                return bad(Field::Filters, "a CNN needs at least one conv layer");
            }
            ModelKind::Ann if !self.filters.is_empty() => {
                return bad(
                    Field::Filters,
                    "an ANN has no conv layers; remove `filters`",
                );
            }
            _ => {}
        }
        if self.kind == ModelKind::Cnn && self.kernel == 0 {
            return bad(Field::Kernel, "must be at least 1");
        }
        if let Some(i) = self.filters.iter().position(|&f| f == 0) {
            return bad(Field::Layer(i + 1), "must be at least 1");
        }
        if let Some(i) = self.dense.iter().position(|&d| d == 0) {
            return bad(Field::DenseLayer(i + 1), "must be at least 1");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(Field::Dropout, "must be in [0, 1)");
        }
        if !(self.l2 >= 0.0 && self.l2.is_finite()) {
            return bad(Field::L2, "must be a finite number >= 0");
        }
        Ok(())
    }

    /// Number of trainable parameters (equal to Keras's `count_params()`).
    pub fn params(&self) -> Result<usize, SpecError> {
        Ok(self.layers()?.iter().map(|l| l.params).sum())
    }

    /// Multiply-adds of one image's forward pass.
    pub fn forward_macs(&self) -> Result<usize, SpecError> {
        Ok(self.layers()?.iter().map(|l| l.macs).sum())
    }

    /// Floating-point operations to train on one image: forward, input gradient and weight gradient
    /// each cost the forward's multiply-adds (two FLOPs each), except that the first layer's input
    /// gradient (the gradient of the image) is never computed.
    pub fn train_flops_per_image(&self) -> Result<f64, SpecError> {
        let layers = self.layers()?;
        let total: usize = layers.iter().map(|l| l.macs).sum();
        let first = layers.first().map_or(0, |l| l.macs);
        Ok((3 * total - first) as f64 * 2.0)
    }

    /// Short human-readable name, e.g. `cnn 64-64/128` or `ann 512-256`.
    pub fn label(&self) -> String {
        let join = |v: &[usize]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join("-")
        };
        match self.kind {
            ModelKind::Cnn => format!(
                "cnn {}/{} k{}",
                join(&self.filters),
                join(&self.dense),
                self.kernel
            ),
            ModelKind::Ann => format!("ann {}", join(&self.dense)),
        }
    }
}

/// What a layer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    /// Valid convolution + ReLU.
    Conv,
    /// 2x2 max-pool, stride 2.
    MaxPool,
    /// Dense + ReLU.
    Dense,
    /// The final Dense(10) producing logits.
    Output,
}

/// One layer of a [`ModelSpec`], as [`ModelSpec::layers`] computes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// What the layer is.
    pub kind: LayerKind,
    /// Output height, width and channels (1, 1, units for dense layers).
    pub out: (usize, usize, usize),
    /// Trainable parameters.
    pub params: usize,
    /// Forward multiply-adds per image.
    pub macs: usize,
}

/// An architecture that cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    /// A conv kernel is larger than its input.
    #[error(
        "conv layer {layer} gets a {}x{} input, smaller than its {kernel}x{kernel} kernel: the feature maps shrink below 1x1; use fewer conv layers or a smaller kernel",
        input.0, input.1
    )]
    Shrinks {
        /// 1-based conv layer number.
        layer: usize,
        /// Height and width reaching the layer.
        input: (usize, usize),
        /// Kernel side.
        kernel: usize,
    },
    /// The 2x2 pool after a conv layer has less than 2x2 to pool.
    #[error(
        "the max-pool after conv layer {layer} gets a {}x{} map and would shrink it below 1x1; use fewer conv layers or a smaller kernel",
        input.0, input.1
    )]
    PoolShrinks {
        /// 1-based conv layer number the pool follows.
        layer: usize,
        /// Height and width reaching the pool.
        input: (usize, usize),
    },
    /// A number out of range.
    #[error("`{}` {why}", spec_path(*what))]
    Invalid {
        /// Which setting: `layerN` for the filters of conv layer N, `denseN` for the width of
        /// dense layer N (named `filters[N-1]` and `dense[N-1]` in the message).
        what: Field,
        /// What is wrong with it.
        why: String,
    },
}

/// A field as the message of [`SpecError::Invalid`] names it: `filters[0]` for `layer1`.
fn spec_path(field: Field) -> String {
    match field {
        Field::Layer(n) => format!("filters[{}]", n - 1),
        Field::DenseLayer(n) => format!("dense[{}]", n - 1),
        other => other.name(),
    }
}

/// Images a grid holds out of the training split to validate on when it does not say otherwise.
pub const DEFAULT_HOLDOUT: usize = 5000;

/// A setting's number as people write it: plain decimal between 1e-4 and 1e6 (`0.001`, `0.5`,
/// `20`), scientific notation outside (`1e30`, `1e-7`, `2.5e-5`), always the shortest text that
/// reads back as the same `f64` (so CSV and JSON lose nothing). Used wherever a setting is shown:
/// labels, tables, progress lines and error messages.
pub fn number(x: f64) -> String {
    let a = x.abs();
    if x.is_finite() && a != 0.0 && !(1e-4..1e6).contains(&a) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// Which data the model is validated on after each epoch (and ranked by in reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase", tag = "on", content = "images")]
pub enum Validation {
    /// The 10k test split, as the study did (selection and report then use the same images).
    #[default]
    Test,
    /// N images of the training split, stratified by class and chosen once from a fixed seed
    /// (`tune_data::stratified_holdout`), the same for every job on the data set; jobs train on
    /// the rest. Serialised as `{"on":"stratified-holdout","images":N}`: jobs of tune versions
    /// that held out the last N images (`"holdout"`) have other keys.
    #[serde(rename = "stratified-holdout")]
    Holdout(usize),
}

/// How a network is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSpec {
    /// Data set name (`fashion-mnist`, `mnist`).
    pub dataset: String,
    /// Passes over the training images.
    pub epochs: usize,
    /// Images per gradient step.
    pub batch: usize,
    /// RMSprop learning rate.
    pub lr: f64,
    /// RMSprop decay of the squared-gradient average.
    pub rho: f64,
    /// RMSprop epsilon (inside the square root, as Keras 3).
    pub eps: f64,
    /// Seed of weights, dropout masks and shuffling.
    pub seed: u64,
    /// Train on the first N training images not held out for validation (all when `None`).
    pub train_images: Option<usize>,
    /// What to validate on after each epoch.
    pub validation: Validation,
}

impl Default for TrainSpec {
    fn default() -> Self {
        TrainSpec {
            dataset: FASHION_MNIST.name.to_string(),
            epochs: 20,
            batch: 64,
            lr: 1e-3,
            rho: 0.9,
            eps: 1e-7,
            seed: 1,
            train_images: None,
            validation: Validation::Test,
        }
    }
}

impl TrainSpec {
    /// Checks the numbers a training run cannot start with.
    pub fn validate(&self) -> Result<(), SpecError> {
        let bad = |what: Field, why: &str| {
            Err(SpecError::Invalid {
                what,
                why: why.to_string(),
            })
        };
        if self.epochs == 0 {
            return bad(Field::Epochs, "must be at least 1");
        }
        if self.batch == 0 {
            return bad(Field::Batch, "must be at least 1");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(Field::Lr, "must be a positive number");
        }
        if !(0.0..1.0).contains(&self.rho) {
            return bad(Field::Rho, "must be in [0, 1)");
        }
        if self.eps.is_nan() || self.eps <= 0.0 {
            return bad(Field::Eps, "must be positive");
        }
        if self.train_images == Some(0) {
            return bad(Field::TrainImages, "must be at least 1");
        }
        Ok(())
    }
}

/// One training job: an architecture and how to train it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The network.
    pub model: ModelSpec,
    /// How it is trained.
    pub train: TrainSpec,
}

impl JobSpec {
    /// Checks that the job can be built and trained.
    pub fn validate(&self) -> Result<(), SpecError> {
        self.model.layers()?;
        self.train.validate()
    }

    /// The canonical JSON text the key is computed from: fields in a fixed order, ANN kernels as 0.
    pub fn canonical_json(&self) -> String {
        let mut norm = self.clone();
        if norm.model.kind == ModelKind::Ann {
            norm.model.kernel = 0;
        }
        serde_json::to_string(&norm).expect("a JobSpec always serialises")
    }

    /// Stable key of the job: the first 16 hex digits of the SHA-256 of [`Self::canonical_json`].
    /// The same job in two grids or two runs has the same key.
    pub fn key(&self) -> String {
        let digest = Sha256::digest(self.canonical_json().as_bytes());
        hex::encode(&digest[..8])
    }
}

/// What one epoch of training measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (L2 term included, as Keras reports it).
    pub train_loss: f64,
    /// Training accuracy over the epoch (with dropout active, as Keras reports it).
    pub train_accuracy: f64,
    /// Loss on the validation data after the epoch (L2 term included).
    pub val_loss: f64,
    /// Accuracy on the validation data after the epoch.
    pub val_accuracy: f64,
    /// Wall-clock seconds of the epoch, validation included.
    pub seconds: f64,
}

/// What a finished training run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOutcome {
    /// Trainable parameters.
    pub params: usize,
    /// Loss on the test split after the last epoch (L2 term included).
    pub test_loss: f64,
    /// Accuracy on the test split after the last epoch.
    pub test_accuracy: f64,
    /// Wall-clock seconds of the whole run.
    pub runtime_s: f64,
    /// Training images per second (training steps only, evaluation excluded).
    pub images_per_s: f64,
    /// One entry per epoch.
    pub history: Vec<EpochMetrics>,
    /// Confusion matrix on the test split: `confusion[true_class][predicted_class]` counts.
    pub confusion: Vec<Vec<u64>>,
    /// Per-example predictions after the last epoch on the validation images (the holdout, or the
    /// test split when the job validates on it). Empty when nothing was evaluated.
    #[serde(default)]
    pub val_predictions: Predictions,
    /// Per-example predictions after the last epoch on the test split. Empty when not evaluated.
    #[serde(default)]
    pub test_predictions: Predictions,
}

/// What a network predicted for each image of one evaluation split, in the split's order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Predictions {
    /// Predicted class of each image (one byte each, `0..CLASSES`).
    pub predicted: Vec<u8>,
    /// True class of each image, same order and length.
    pub labels: Vec<u8>,
}

impl Predictions {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.predicted.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.predicted.is_empty()
    }

    /// Whether each image was classified right.
    pub fn correct(&self) -> impl Iterator<Item = bool> + '_ {
        self.predicted.iter().zip(&self.labels).map(|(p, l)| p == l)
    }

    /// Share of images classified right (NaN when empty).
    pub fn accuracy(&self) -> f64 {
        self.correct().filter(|&c| c).count() as f64 / self.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        for (x, shown) in [
            (1e30, "1e30"),
            (1e-7, "1e-7"),
            (2.5e-5, "2.5e-5"),
            (0.001, "0.001"),
            (0.0001, "0.0001"),
            (0.5, "0.5"),
            (20.0, "20"),
            (999_999.0, "999999"),
            (1e6, "1e6"),
            (0.0, "0"),
            (-3e-9, "-3e-9"),
        ] {
            assert_eq!(number(x), shown);
            assert_eq!(number(x).parse::<f64>().unwrap(), x);
        }
    }

    #[test]
    fn parameter_counts_equal_keras() {
        assert_eq!(ModelSpec::cnn(&[64, 64], 128).params().unwrap(), 1_030_218);
        assert_eq!(ModelSpec::cnn(&[32, 32, 32], 32).params().unwrap(), 28_394);
        assert_eq!(ModelSpec::cnn(&[16], 16).params().unwrap(), 173_402);
        assert_eq!(
            ModelSpec::cnn(&[128, 128, 128], 128).params().unwrap(),
            445_322
        );
        assert_eq!(ModelSpec::ann().params().unwrap(), 535_818);
    }

    #[test]
    fn shapes_follow_valid_conv_and_floor_pooling() {
        let layers = ModelSpec::cnn(&[32, 64, 64], 64).layers().unwrap();
        let outs: Vec<_> = layers.iter().map(|l| l.out).collect();
        assert_eq!(
            outs,
            vec![
                (26, 26, 32),
                (13, 13, 32),
                (11, 11, 64),
                (5, 5, 64),
                (3, 3, 64),
                (1, 1, 64),
                (1, 1, 10)
            ]
        );
    }

    #[test]
    fn shrinking_architecture_names_the_layer() {
        let err = ModelSpec::cnn(&[16, 16, 16, 16], 16).layers().unwrap_err();
        assert_eq!(
            err,
            SpecError::Shrinks {
                layer: 4,
                input: (1, 1),
                kernel: 3
            }
        );
        assert!(err.to_string().contains("conv layer 4"), "{err}");
        let mut big = ModelSpec::cnn(&[8], 8);
        big.kernel = 29;
        assert!(
            big.layers()
                .unwrap_err()
                .to_string()
                .contains("conv layer 1")
        );
    }

    #[test]
    fn invalid_numbers_name_their_setting() {
        let mut m = ModelSpec::cnn(&[16, 0], 16);
        let err = m.layers().unwrap_err();
        assert_eq!(
            err,
            SpecError::Invalid {
                what: Field::Layer(2),
                why: "must be at least 1".into()
            }
        );
        assert_eq!(err.to_string(), "`filters[1]` must be at least 1");
        m.filters = vec![16];
        m.dense = vec![16, 0];
        assert_eq!(
            m.layers().unwrap_err().to_string(),
            "`dense[1]` must be at least 1"
        );
        let train = TrainSpec {
            batch: 0,
            ..TrainSpec::default()
        };
        assert_eq!(
            train.validate().unwrap_err().to_string(),
            "`batch` must be at least 1"
        );
    }

    #[test]
    fn key_is_stable_and_distinguishes_jobs() {
        let a = JobSpec {
            model: ModelSpec::cnn(&[64, 64], 128),
            train: TrainSpec::default(),
        };
        let mut b = a.clone();
        assert_eq!(a.key(), b.key());
        assert_eq!(a.key().len(), 16);
        b.train.seed = 2;
        assert_ne!(a.key(), b.key());
        let mut ann = JobSpec {
            model: ModelSpec::ann(),
            train: TrainSpec::default(),
        };
        let k = ann.key();
        ann.model.kernel = 3;
        assert_eq!(k, ann.key(), "an ANN's kernel does not change the job");
    }

    #[test]
    fn flops_count_three_passes() {
        let m = ModelSpec::cnn(&[64, 64], 128);
        let macs = m.forward_macs().unwrap();
        assert_eq!(
            macs,
            26 * 26 * 64 * 9 + 11 * 11 * 64 * 576 + 7744 * 128 + 1280
        );
        // SPEED-NOTES: 34.3 MFLOP per training image for this net (conv1's input gradient skipped).
        let mflop = m.train_flops_per_image().unwrap() / 1e6;
        assert!((mflop - 34.3).abs() < 0.1, "{mflop}");
    }
}
