//! What a training job is, independent of how it is trained or stored.
//!
//! A [`JobSpec`] is a [`ModelSpec`] (the architecture) plus a [`TrainSpec`] (optimiser, data, epochs,
//! seed). Everything here is plain data and arithmetic: the shapes a network's layers produce, its
//! parameter count (equal to Keras's for the same architecture), the multiply-adds of one forward
//! pass, and a stable key that names the job wherever it appears.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

mod count;
mod datasets;
mod field;
mod versions;

pub use count::{count, thousands};
pub use datasets::{
    DATASET_NAMES, DATASETS, DataSpec, DataSpecError, DatasetName, FASHION_MNIST, Format, MNIST,
    Spelling, TestSet, UserData, dataset, parse_size, resolve_data_path,
};
pub use field::{
    EMPTY, Field, FieldValue, Stored, UnknownField, UnknownReportField, Value, ValueKind,
};
pub use versions::{data_versions, name_data_versions, versioned_name};

/// Side of the square grayscale images of the study's (built-in) data sets; see
/// [`InputShape::BUILT_IN`], which networks are built from.
pub const IMAGE_SIDE: usize = 28;
/// Number of classes in the study's (built-in) data sets; see [`InputShape::BUILT_IN`].
pub const CLASSES: usize = 10;

/// What a network is built for: the size of one input image and the number of classes.
///
/// Images are channels-last (NHWC, as Keras and tune's kernels lay them out): one image is
/// `height * width * channels` values, row after row from the top, each pixel's channels side by
/// side (RGB: `r g b r g b ...`). A batch is `[n, height, width, channels]`. Pixels are scaled to
/// `[0, 1]` by the data loader; nothing here depends on their range.
///
/// The first conv layer (or the ANN's first dense layer) takes `channels` input channels, the
/// output layer has one unit per class, and everything in between ([`ModelSpec::layers`]: shapes,
/// parameter counts, multiply-adds, the check that the maps do not shrink below 1x1) follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InputShape {
    /// Image height in pixels (rows), at least 1.
    pub height: usize,
    /// Image width in pixels (columns), at least 1.
    pub width: usize,
    /// Values per pixel, at least 1: 1 for grayscale, 3 for RGB.
    pub channels: usize,
    /// Number of classes, 2 to 256 (labels are one byte, `0..classes`).
    pub classes: usize,
}

impl InputShape {
    /// The built-in data sets (MNIST, Fashion-MNIST): 28x28 grayscale images, 10 classes.
    pub const BUILT_IN: InputShape = InputShape {
        height: IMAGE_SIDE,
        width: IMAGE_SIDE,
        channels: 1,
        classes: CLASSES,
    };

    /// Values per image: `height * width * channels`.
    pub fn values(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// Checks the constraints documented on the fields.
    ///
    /// # Errors
    /// [`SpecError::InvalidInput`] naming the field (`input height`, `input width`, `input channels`
    /// or `classes`) and its range.
    pub fn validate(&self) -> Result<(), SpecError> {
        let bad = |what: &'static str, why: String| Err(SpecError::InvalidInput { what, why });
        for (what, v) in [
            ("input height", self.height),
            ("input width", self.width),
            ("input channels", self.channels),
        ] {
            if v == 0 {
                return bad(what, "must be at least 1".to_string());
            }
        }
        if !(2..=256).contains(&self.classes) {
            return bad(
                "classes",
                format!(
                    "is {}; a classifier needs 2 to 256 classes (labels are one byte)",
                    self.classes
                ),
            );
        }
        Ok(())
    }
}

impl Default for InputShape {
    /// [`InputShape::BUILT_IN`].
    fn default() -> Self {
        InputShape::BUILT_IN
    }
}

impl fmt::Display for InputShape {
    /// `28x28x1, 10 classes` (height x width x channels).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}x{}x{}, {}",
            self.height,
            self.width,
            self.channels,
            count(self.classes, "class")
        )
    }
}

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

/// A network architecture, independent of its input: [`ModelSpec::layers`] builds it for an
/// [`InputShape`].
///
/// CNN: for each entry of `filters` a `kernel`x`kernel` valid convolution + ReLU, with a 2x2 max-pool
/// (floor: an odd row or column is dropped) after every conv but the last; then Flatten, Dropout,
/// one Dense + ReLU per entry of `dense`, and Dense(classes). ANN: Flatten, one Dense + ReLU per
/// entry of `dense`, Dropout, Dense(classes).
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

    /// Every layer with its output shape, parameters and forward multiply-adds per image of
    /// `input`, or the first layer that cannot be built: a conv kernel or a pool larger than the
    /// map reaching it ([`SpecError::Shrinks`], [`SpecError::PoolShrinks`], naming the image size
    /// and how many conv layers it takes), or an invalid number or input shape
    /// ([`SpecError::Invalid`]).
    pub fn layers(&self, input: &InputShape) -> Result<Vec<Layer>, SpecError> {
        input.validate()?;
        self.validate_numbers()?;
        let mut layers = Vec::new();
        let (mut h, mut w, mut c) = (input.height, input.width, input.channels);
        let image = SpecError::image_size(input);
        let last_conv = self.filters.len().saturating_sub(1);
        for (i, &f) in self.filters.iter().enumerate() {
            let k = self.kernel;
            if h < k || w < k {
                return Err(SpecError::Shrinks {
                    layer: i + 1,
                    input: (h, w),
                    kernel: k,
                    image,
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
                        image,
                        kernel: k,
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
        // Flatten: an ANN's first dense layer sees the whole image.
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
        let classes = input.classes;
        layers.push(Layer {
            kind: LayerKind::Output,
            out: (1, 1, classes),
            params: width * classes + classes,
            macs: width * classes,
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

    /// Number of trainable parameters for `input` (equal to Keras's `count_params()`). Errors as
    /// [`Self::layers`].
    pub fn params(&self, input: &InputShape) -> Result<usize, SpecError> {
        Ok(self.layers(input)?.iter().map(|l| l.params).sum())
    }

    /// Multiply-adds of one `input` image's forward pass. Errors as [`Self::layers`].
    pub fn forward_macs(&self, input: &InputShape) -> Result<usize, SpecError> {
        Ok(self.layers(input)?.iter().map(|l| l.macs).sum())
    }

    /// Floating-point operations to train on one `input` image: forward, input gradient and weight
    /// gradient each cost the forward's multiply-adds (two FLOPs each), except that the first
    /// layer's input gradient (the gradient of the image) is never computed. Errors as
    /// [`Self::layers`].
    pub fn train_flops_per_image(&self, input: &InputShape) -> Result<f64, SpecError> {
        let layers = self.layers(input)?;
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

/// How many `kernel`x`kernel` valid conv layers an `image` (height, width) takes, with the 2x2
/// pool between them that [`ModelSpec`] puts there, before a map would shrink below 1x1.
/// E.g. 28x28 with 3x3 kernels: 28 -> 26 -> 13 -> 11 -> 5 -> 3, three layers.
pub fn max_conv_layers(image: (usize, usize), kernel: usize) -> usize {
    let (mut h, mut w, mut layers) = (image.0, image.1, 0);
    loop {
        if kernel == 0 || h < kernel || w < kernel {
            return layers;
        }
        (h, w) = (h - kernel + 1, w - kernel + 1);
        layers += 1;
        if h < 2 || w < 2 {
            return layers;
        }
        (h, w) = (h / 2, w / 2);
    }
}

/// `a 28x28 image takes at most 3 conv layers of 3x3`, for the shrink errors.
fn depth_limit(image: (u32, u32), kernel: usize) -> String {
    let (h, w) = image;
    match max_conv_layers((h as usize, w as usize), kernel) {
        0 => format!("a {h}x{w} image is smaller than one {kernel}x{kernel} kernel"),
        1 => format!("a {h}x{w} image takes at most 1 conv layer of {kernel}x{kernel}"),
        n => format!("a {h}x{w} image takes at most {n} conv layers of {kernel}x{kernel}"),
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
    /// The final Dense(classes) producing logits.
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
        "conv layer {layer} gets a {}x{} input, smaller than its {kernel}x{kernel} kernel: the feature maps shrink below 1x1 ({}); use fewer conv layers or a smaller kernel",
        input.0, input.1, depth_limit(*image, *kernel)
    )]
    Shrinks {
        /// 1-based conv layer number.
        layer: usize,
        /// Height and width reaching the layer.
        input: (usize, usize),
        /// Kernel side.
        kernel: usize,
        /// Height and width of the input image (see [`SpecError::image_size`]); the message says
        /// how many conv layers it takes ([`max_conv_layers`]).
        image: (u32, u32),
    },
    /// The 2x2 pool after a conv layer has less than 2x2 to pool.
    #[error(
        "the max-pool after conv layer {layer} gets a {}x{} map and would shrink it below 1x1 ({}); use fewer conv layers or a smaller kernel",
        input.0, input.1, depth_limit(*image, *kernel)
    )]
    PoolShrinks {
        /// 1-based conv layer number the pool follows.
        layer: usize,
        /// Height and width reaching the pool.
        input: (usize, usize),
        /// Height and width of the input image (see [`SpecError::image_size`]).
        image: (u32, u32),
        /// Kernel side of the conv layers.
        kernel: usize,
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
    /// An [`InputShape`] out of range (a data set's shape, not a grid setting).
    #[error("`{what}` {why}")]
    InvalidInput {
        /// Which part: `input height`, `input width`, `input channels` or `classes`.
        what: &'static str,
        /// What is wrong with it.
        why: String,
    },
}

impl SpecError {
    /// An input's height and width as the shrink errors keep them: `u32`, saturating (no image
    /// is that large), so that the error stays as small as it was before it named the image.
    pub fn image_size(input: &InputShape) -> (u32, u32) {
        let side = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        (side(input.height), side(input.width))
    }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
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
    /// Data set name (`fashion-mnist`, `mnist`, or a user's data set named in a grid file).
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
    /// A user's data set: its content hash, shape and classes (part of the key), and where it is;
    /// `None` for the built-in data sets (whose keys therefore stay as they were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<UserData>>,
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
            data: None,
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
    /// Checks that the job can be built for `input` (its data set's shape) and trained.
    pub fn validate(&self, input: &InputShape) -> Result<(), SpecError> {
        self.model.layers(input)?;
        self.train.validate()
    }

    /// The shape of the images and classes the job trains on: its user data set's
    /// ([`UserData::input`]), else [`InputShape::BUILT_IN`].
    pub fn input_shape(&self) -> InputShape {
        self.train
            .data
            .as_ref()
            .map_or(InputShape::BUILT_IN, |d| d.input)
    }

    /// The canonical JSON text of the job (what the store keeps): fields in a fixed order, ANN
    /// kernels as 0. A user data set's [`UserData::source`] is included, so a worker can find the
    /// files.
    pub fn canonical_json(&self) -> String {
        let mut norm = self.clone();
        if norm.model.kind == ModelKind::Ann {
            norm.model.kernel = 0;
        }
        serde_json::to_string(&norm).expect("a JobSpec always serialises")
    }

    /// Stable key of the job: the first 16 hex digits of the SHA-256 of [`Self::canonical_json`]
    /// without the user data set's [`UserData::source`] (its content hash, shape and classes
    /// stay). The same job in two grids or two runs has the same key; a user's data set with
    /// other content gives another key, the same content in another folder the same one. Jobs on
    /// the built-in data sets have no `data` and keep the keys of earlier versions.
    pub fn key(&self) -> String {
        let mut norm = self.clone();
        if let Some(d) = &mut norm.train.data {
            d.source = None;
        }
        let digest = Sha256::digest(norm.canonical_json().as_bytes());
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
    /// Predicted class of each image (one byte each, `0..classes`).
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

    const BUILT_IN: InputShape = InputShape::BUILT_IN;

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
        assert_eq!(
            ModelSpec::cnn(&[64, 64], 128).params(&BUILT_IN).unwrap(),
            1_030_218
        );
        assert_eq!(
            ModelSpec::cnn(&[32, 32, 32], 32).params(&BUILT_IN).unwrap(),
            28_394
        );
        assert_eq!(
            ModelSpec::cnn(&[16], 16).params(&BUILT_IN).unwrap(),
            173_402
        );
        assert_eq!(
            ModelSpec::cnn(&[128, 128, 128], 128)
                .params(&BUILT_IN)
                .unwrap(),
            445_322
        );
        assert_eq!(ModelSpec::ann().params(&BUILT_IN).unwrap(), 535_818);
    }

    #[test]
    fn shapes_follow_valid_conv_and_floor_pooling() {
        let layers = ModelSpec::cnn(&[32, 64, 64], 64).layers(&BUILT_IN).unwrap();
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
        let err = ModelSpec::cnn(&[16, 16, 16, 16], 16)
            .layers(&BUILT_IN)
            .unwrap_err();
        assert_eq!(
            err,
            SpecError::Shrinks {
                layer: 4,
                input: (1, 1),
                kernel: 3,
                image: (28, 28),
            }
        );
        assert!(err.to_string().contains("conv layer 4"), "{err}");
        assert!(
            err.to_string()
                .contains("a 28x28 image takes at most 3 conv layers of 3x3"),
            "{err}"
        );
        let mut big = ModelSpec::cnn(&[8], 8);
        big.kernel = 29;
        assert!(
            big.layers(&BUILT_IN)
                .unwrap_err()
                .to_string()
                .contains("conv layer 1")
        );
    }

    #[test]
    fn invalid_numbers_name_their_setting() {
        let mut m = ModelSpec::cnn(&[16, 0], 16);
        let err = m.layers(&InputShape::BUILT_IN).unwrap_err();
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
            m.layers(&InputShape::BUILT_IN).unwrap_err().to_string(),
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
        let macs = m.forward_macs(&BUILT_IN).unwrap();
        assert_eq!(
            macs,
            26 * 26 * 64 * 9 + 11 * 11 * 64 * 576 + 7744 * 128 + 1280
        );
        // SPEED-NOTES: 34.3 MFLOP per training image for this net (conv1's input gradient skipped).
        let mflop = m.train_flops_per_image(&BUILT_IN).unwrap() / 1e6;
        assert!((mflop - 34.3).abs() < 0.1, "{mflop}");
    }

    /// A 32x32 RGB image, 10 classes (CIFAR-10's shape).
    const RGB32: InputShape = InputShape {
        height: 32,
        width: 32,
        channels: 3,
        classes: 10,
    };

    /// 64 rows by 48 columns, grayscale, 5 classes.
    const TALL: InputShape = InputShape {
        height: 64,
        width: 48,
        channels: 1,
        classes: 5,
    };

    /// Keras's `count_params()` for the same architectures on other inputs.
    ///
    /// 32x32x3, 10 classes, conv 32, 64, 64 (3x3 valid, pool after the first two), dense 64: the
    /// model of TensorFlow's CIFAR-10 CNN tutorial, whose `model.summary()` gives 122,570
    /// trainable parameters. tune's recipe is the same architecture, by hand:
    ///   conv1 (3*3*3)*32 + 32   =    896   out 30x30x32, pool 15x15x32
    ///   conv2 (3*3*32)*64 + 64  = 18,496   out 13x13x64, pool 6x6x64
    ///   conv3 (3*3*64)*64 + 64  = 36,928   out 4x4x64, flatten 1,024
    ///   dense 1,024*64 + 64     = 65,600
    ///   output 64*10 + 10       =    650   total 122,570
    ///
    /// 64x48x1, 5 classes, the same layers (Keras's count worked by hand, layer by layer as
    /// Keras counts: kernel k*k*c_in*c_out + bias c_out; dense in*out + out):
    ///   conv1 (3*3*1)*32 + 32   =    320   out 62x46x32, pool 31x23x32
    ///   conv2 (3*3*32)*64 + 64  = 18,496   out 29x21x64, pool 14x10x64
    ///   conv3 (3*3*64)*64 + 64  = 36,928   out 12x8x64, flatten 6,144
    ///   dense 6,144*64 + 64     = 393,280
    ///   output 64*5 + 5         =    325   total 449,349
    /// and with conv 32, 64 and dense 128:
    ///   320 + 18,496 + (29*21*64 = 38,976)*128 + 128 + 128*5 + 5 = 5,008,517
    ///
    /// ANN 512-256 on 32x32x3: (3,072*512 + 512) + (512*256 + 256) + (256*10 + 10) = 1,707,274.
    #[test]
    fn parameter_counts_equal_keras_on_other_inputs() {
        let cnn = ModelSpec::cnn(&[32, 64, 64], 64);
        assert_eq!(cnn.params(&RGB32).unwrap(), 122_570);
        assert_eq!(cnn.params(&TALL).unwrap(), 449_349);
        assert_eq!(
            ModelSpec::cnn(&[32, 64], 128).params(&TALL).unwrap(),
            5_008_517
        );
        assert_eq!(ModelSpec::ann().params(&RGB32).unwrap(), 1_707_274);
        let rows: Vec<_> = cnn
            .layers(&RGB32)
            .unwrap()
            .iter()
            .map(|l| l.params)
            .collect();
        assert_eq!(rows, vec![896, 0, 18_496, 0, 36_928, 65_600, 650]);
    }

    #[test]
    fn shapes_follow_a_non_square_input() {
        let layers = ModelSpec::cnn(&[32, 64, 64], 64).layers(&TALL).unwrap();
        let outs: Vec<_> = layers.iter().map(|l| l.out).collect();
        assert_eq!(
            outs,
            vec![
                (62, 46, 32),
                (31, 23, 32),
                (29, 21, 64),
                (14, 10, 64),
                (12, 8, 64),
                (1, 1, 64),
                (1, 1, 5)
            ]
        );
        // Height and width are not interchangeable once a kernel is taller than the image is wide.
        let mut tall_kernel = ModelSpec::cnn(&[4], 4);
        tall_kernel.kernel = 5;
        let narrow = InputShape {
            height: 9,
            width: 4,
            channels: 1,
            classes: 2,
        };
        assert!(tall_kernel.layers(&narrow).is_err());
        let wide = InputShape {
            height: 5,
            width: 9,
            ..narrow
        };
        assert_eq!(tall_kernel.layers(&wide).unwrap()[0].out, (1, 5, 4));
    }

    #[test]
    fn flops_follow_channels_and_classes() {
        let m = ModelSpec::cnn(&[32, 64, 64], 64);
        assert_eq!(
            m.forward_macs(&TALL).unwrap(),
            62 * 46 * 32 * 9 + 29 * 21 * 64 * 9 * 32 + 12 * 8 * 64 * 9 * 64 + 6144 * 64 + 64 * 5
        );
        let rgb = m.forward_macs(&RGB32).unwrap();
        assert_eq!(
            rgb,
            30 * 30 * 32 * 27 + 13 * 13 * 64 * 288 + 4 * 4 * 64 * 576 + 1024 * 64 + 640
        );
        // conv1's input gradient (the image's) is not counted.
        let first = 30 * 30 * 32 * 27;
        assert_eq!(
            m.train_flops_per_image(&RGB32).unwrap(),
            ((3 * rgb - first) * 2) as f64
        );
        let ann = ModelSpec::ann();
        assert_eq!(
            ann.forward_macs(&RGB32).unwrap(),
            3072 * 512 + 512 * 256 + 256 * 10
        );
    }

    #[test]
    fn the_shrink_check_names_the_image_size() {
        // 20x12 -> 18x10 -> 9x5 -> 7x3 -> 3x1: a third 3x3 layer does not fit.
        let small = InputShape {
            height: 20,
            width: 12,
            channels: 1,
            classes: 10,
        };
        assert_eq!(max_conv_layers((20, 12), 3), 2);
        assert_eq!(max_conv_layers((28, 28), 3), 3);
        assert_eq!(max_conv_layers((32, 32), 3), 3);
        assert_eq!(max_conv_layers((2, 9), 3), 0);
        assert!(ModelSpec::cnn(&[8, 8], 8).layers(&small).is_ok());
        let err = ModelSpec::cnn(&[8, 8, 8], 8).layers(&small).unwrap_err();
        assert_eq!(
            err,
            SpecError::Shrinks {
                layer: 3,
                input: (3, 1),
                kernel: 3,
                image: (20, 12),
            }
        );
        let text = err.to_string();
        assert!(
            text.contains("conv layer 3 gets a 3x1 input, smaller than its 3x3 kernel"),
            "{text}"
        );
        assert!(
            text.contains("a 20x12 image takes at most 2 conv layers of 3x3"),
            "{text}"
        );
        // 3x5 -> 1x3: the pool before a second conv layer has less than 2x2 to pool.
        let flat = InputShape {
            height: 3,
            width: 5,
            ..small
        };
        let err = ModelSpec::cnn(&[8, 8], 8).layers(&flat).unwrap_err();
        assert_eq!(
            err,
            SpecError::PoolShrinks {
                layer: 1,
                input: (1, 3),
                image: (3, 5),
                kernel: 3,
            }
        );
        assert!(
            err.to_string()
                .contains("a 3x5 image takes at most 1 conv layer of 3x3"),
            "{err}"
        );
        let tiny = InputShape {
            height: 2,
            width: 9,
            ..small
        };
        let err = ModelSpec::cnn(&[8], 8).layers(&tiny).unwrap_err();
        assert!(
            err.to_string()
                .contains("a 2x9 image is smaller than one 3x3 kernel"),
            "{err}"
        );
        // The ANN takes any size.
        assert!(ModelSpec::ann().layers(&tiny).is_ok());
    }

    /// Naming the image keeps the error as small as before (48 bytes on 64-bit targets): the
    /// grid errors that carry it stay under clippy's `result_large_err` limit.
    #[test]
    fn the_shrink_errors_stay_small() {
        assert!(std::mem::size_of::<SpecError>() <= 6 * std::mem::size_of::<usize>());
    }

    #[test]
    fn input_shapes_out_of_range_are_refused() {
        for (shape, what) in [
            (
                InputShape {
                    height: 0,
                    ..InputShape::BUILT_IN
                },
                "`input height` must be at least 1",
            ),
            (
                InputShape {
                    channels: 0,
                    ..InputShape::BUILT_IN
                },
                "`input channels` must be at least 1",
            ),
            (
                InputShape {
                    classes: 1,
                    ..InputShape::BUILT_IN
                },
                "`classes` is 1; a classifier needs 2 to 256 classes",
            ),
            (
                InputShape {
                    classes: 257,
                    ..InputShape::BUILT_IN
                },
                "`classes` is 257",
            ),
        ] {
            let err = ModelSpec::ann().layers(&shape).unwrap_err().to_string();
            assert!(err.contains(what), "{err}");
        }
        assert_eq!(InputShape::default(), InputShape::BUILT_IN);
        assert_eq!(InputShape::BUILT_IN.to_string(), "28x28x1, 10 classes");
        assert_eq!(InputShape::BUILT_IN.values(), 784);
        assert_eq!(RGB32.values(), 3072);
    }
}
