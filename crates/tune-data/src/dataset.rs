//! Users' own data sets: what to read ([`DataSpec`]), the decoded result ([`DecodedDataset`]) and
//! [`decode()`], which dispatches to the format readers in [`formats`](crate::formats).
//!
//! # Memory
//! Pixels are kept as bytes, one per channel value: 60,000 images of 28x28x1 take 47,040,000
//! bytes (44.9 MiB) plus 60,000 label bytes; the same images as `f32` for training
//! ([`DecodedSplit::to_f32`], the layout of [`Split`](crate::Split)) take four times that,
//! 188,160,000 bytes (179.4 MiB). 50,000 CIFAR-10 images (32x32x3) take 153,600,000 bytes
//! (146.5 MiB) as bytes, 585.9 MiB as `f32`. The buffers are behind [`Arc`]s: clones share them.

use crate::error::{ClassSource, DataProblem};
use crate::{DataError, Dataset, Split, formats, stratified_holdout};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
/// A user's data set's description and format: defined in `tune_spec` (grid files and jobs carry
/// them), read here.
pub use tune_spec::{DataSpec, Format, TestSet};

/// One split of a decoded data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedSplit {
    /// `len * channels * height * width` bytes, image after image; within an image channel after
    /// channel (planar, as candle's `(N, C, H, W)` tensors), each channel row-major.
    pub images: Arc<Vec<u8>>,
    /// `len` labels, each a class index.
    pub labels: Arc<Vec<u8>>,
    /// Number of images.
    pub len: usize,
}

impl DecodedSplit {
    /// A split of `labels.len()` images.
    ///
    /// # Panics
    /// If `images` is not a whole number of images of `image_len` bytes for each label.
    pub(crate) fn new(images: Vec<u8>, labels: Vec<u8>, image_len: usize) -> Self {
        assert_eq!(images.len(), labels.len() * image_len, "images per label");
        DecodedSplit {
            len: labels.len(),
            images: Arc::new(images),
            labels: Arc::new(labels),
        }
    }

    /// The `image_len` bytes of image `i`, for images of `image_len` bytes.
    ///
    /// # Panics
    /// If `i >= len`.
    pub fn image(&self, i: usize, image_len: usize) -> &[u8] {
        &self.images[i * image_len..(i + 1) * image_len]
    }

    /// Images per class: `counts[c]` images have label `c`, for `classes` classes.
    pub fn class_counts(&self, classes: usize) -> Vec<usize> {
        let mut counts = vec![0; classes];
        for &l in self.labels.iter() {
            counts[usize::from(l)] += 1;
        }
        counts
    }

    /// The pixels as `f32` in `[0, 1]` (byte / 255, exactly as [`load()`](crate::load()) scales
    /// IDX files): four bytes per value.
    pub fn to_f32(&self) -> Vec<f32> {
        self.images.iter().map(|&p| f32::from(p) / 255.0).collect()
    }

    /// The images at `indices`, in that order.
    fn select(&self, indices: &[usize], image_len: usize) -> DecodedSplit {
        let mut images = Vec::with_capacity(indices.len() * image_len);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            images.extend_from_slice(self.image(i, image_len));
            labels.push(self.labels[i]);
        }
        DecodedSplit::new(images, labels, image_len)
    }
}

/// A user's data set decoded into memory: both splits, their shape and classes, and the hash of
/// the content that identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedDataset {
    /// The format it was read from.
    pub format: Format,
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
    /// Values per pixel: 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    /// Class names, indexed by label (at most 256).
    pub classes: Vec<String>,
    /// The training split.
    pub train: DecodedSplit,
    /// The test split.
    pub test: DecodedSplit,
    /// SHA-256 (lowercase hex) of the decoded content, see [`content_hash`]: equal for equal
    /// images, labels, shape and class names, whatever the files and format they came from.
    pub sha256: String,
    /// What the reader passed over or noticed (ignored files, classes without training images,
    /// where the test images came from), one sentence each.
    pub notes: Vec<String>,
}

impl DecodedDataset {
    /// Bytes per image, `channels * height * width`.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Number of classes.
    pub fn class_count(&self) -> usize {
        self.classes.len()
    }

    /// Images per class in the training and the test split.
    pub fn class_counts(&self) -> (Vec<usize>, Vec<usize>) {
        let n = self.class_count();
        (self.train.class_counts(n), self.test.class_counts(n))
    }

    /// Bytes held by the pixel and label buffers of both splits.
    pub fn memory_bytes(&self) -> usize {
        (self.train.len + self.test.len) * (self.image_len() + 1)
    }

    /// `HxWxC`, e.g. `28x28x1`.
    pub fn shape(&self) -> String {
        format!("{}x{}x{}", self.height, self.width, self.channels)
    }

    /// Height, width, channels and class count, as networks are built for.
    pub fn input_shape(&self) -> tune_spec::InputShape {
        tune_spec::InputShape {
            height: self.height,
            width: self.width,
            channels: self.channels,
            classes: self.class_count(),
        }
    }

    /// What a job trained on this data records of it ([`tune_spec::UserData`]): hash, shape,
    /// classes and `source`, the description it was decoded from.
    pub fn user_data(&self, source: DataSpec) -> tune_spec::UserData {
        tune_spec::UserData {
            sha256: self.sha256.clone(),
            input: self.input_shape(),
            classes: self.classes.clone(),
            source: Some(source),
        }
    }

    /// The data as the trainer takes it, named `name`: pixels as `f32` in `[0, 1]` (byte / 255,
    /// as [`load()`](crate::load()) scales IDX files), converted from planar (`C, H, W` per
    /// image, as decoded) to channels-last (`H, W, C`: each pixel's channels side by side, the
    /// layout of [`tune_spec::InputShape`]). For one channel the two layouts are the same.
    /// Memory: four bytes per pixel value, e.g. 188,160,000 bytes for 60,000 images of 28x28x1.
    pub fn to_dataset(&self, name: &str) -> Dataset {
        let split = |s: &DecodedSplit| Split {
            images: Arc::new(planar_to_nhwc(
                &s.images,
                self.channels,
                self.height * self.width,
            )),
            labels: s.labels.clone(),
            len: s.len,
            rows: self.height,
            cols: self.width,
            channels: self.channels,
        };
        Dataset {
            name: name.to_string(),
            classes: self.classes.clone(),
            train: split(&self.train),
            test: split(&self.test),
        }
    }
}

/// `bytes`, images of `channels` planes of `plane` values each, as `f32` / 255 with each pixel's
/// channels side by side.
fn planar_to_nhwc(bytes: &[u8], channels: usize, plane: usize) -> Vec<f32> {
    if channels == 1 {
        return bytes.iter().map(|&p| f32::from(p) / 255.0).collect();
    }
    let image_len = channels * plane;
    let mut out = Vec::with_capacity(bytes.len());
    for image in bytes.chunks_exact(image_len) {
        for p in 0..plane {
            for c in 0..channels {
                out.push(f32::from(image[c * plane + p]) / 255.0);
            }
        }
    }
    out
}

/// The SHA-256 (lowercase hex) identifying decoded content: over a version tag, height, width,
/// channels (each a little-endian `u64`), the class count and each class name (length as `u64`,
/// then UTF-8), then for the training and the test split the image count, the labels and the
/// pixels. Hashing the 47 MB of Fashion-MNIST's training images takes about 0.1 s.
pub fn content_hash(
    (height, width, channels): (usize, usize, usize),
    classes: &[String],
    train: &DecodedSplit,
    test: &DecodedSplit,
) -> String {
    let mut h = Sha256::new();
    let n = |h: &mut Sha256, v: usize| h.update((v as u64).to_le_bytes());
    h.update(b"tune decoded data set v1\n");
    for v in [height, width, channels, classes.len()] {
        n(&mut h, v);
    }
    for c in classes {
        n(&mut h, c.len());
        h.update(c.as_bytes());
    }
    for split in [train, test] {
        n(&mut h, split.len);
        h.update(split.labels.as_slice());
        h.update(split.images.as_slice());
    }
    hex::encode(h.finalize())
}

/// What a format reader returns for one split.
pub(crate) struct RawSplit {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    /// Class names the files define (folder names, CIFAR's meta file), if they define any.
    pub classes: Option<Vec<String>>,
    /// What the reader passed over or noticed.
    pub notes: Vec<String>,
    /// Where the class count labels were checked against comes from, when the files define the
    /// classes (CIFAR's `batches.meta.txt` or CIFAR-10's names), for the test split's messages.
    pub class_source: Option<ClassSource>,
    /// Images with transparent pixels (image folders), whose alpha channel decoding drops: how
    /// many, and the first of them.
    pub transparent: (usize, Option<PathBuf>),
}

/// Reads and decodes the data set `spec` describes: both splits (or the training split and the
/// test images drawn from it), checked against each other, with the content hash. Errors are
/// [`DataError::Invalid`] naming the file (and line, record or image) and the fix, or
/// never [`DataError::Io`]: a file of the user's that is missing, unreadable or of the wrong kind
/// (a folder given as a CSV file, a file given as an image folder) is the user's input, so it is
/// [`DataError::Invalid`] too ([`DataProblem::Unreadable`], [`DataProblem::WrongKind`]).
pub fn decode(spec: &DataSpec) -> Result<DecodedDataset, DataError> {
    check_paths(spec)?;
    let shared = shared_files(spec);
    let mut decoded = decode_checked(spec).map_err(|e| match e {
        DataError::Io { op, path, source } => DataError::Invalid {
            path,
            problem: DataProblem::Unreadable {
                op,
                reason: source.to_string(),
            },
        },
        other => other,
    })?;
    for path in shared {
        decoded.notes.push(format!(
            "warning: {} is both the training and the test data: the test accuracy then measures \
             memory, not how well the network generalises; give other test files, or test_split",
            path.display()
        ));
    }
    Ok(decoded)
}

/// The given test paths that are also training paths (the same file or folder, however named).
fn shared_files(spec: &DataSpec) -> Vec<std::path::PathBuf> {
    let TestSet::Paths(test) = &spec.test else {
        return Vec::new();
    };
    let real = |p: &std::path::PathBuf| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
    let train: Vec<_> = spec.train.iter().map(real).collect();
    test.iter()
        .filter(|t| train.contains(&real(t)))
        .cloned()
        .collect()
}

/// Every given path exists and is what the format reads: a folder for `folder`, files for the
/// others.
pub(crate) fn check_paths(spec: &DataSpec) -> Result<(), DataError> {
    let test: &[std::path::PathBuf] = match &spec.test {
        TestSet::Paths(p) => p,
        TestSet::Split(_) => &[],
    };
    for path in spec.train.iter().chain(test) {
        let invalid = |problem| DataError::Invalid {
            path: path.clone(),
            problem,
        };
        let is_dir = match std::fs::metadata(path) {
            Ok(m) if m.is_file() && m.len() == 0 => {
                return Err(invalid(DataProblem::EmptyFile {
                    format: spec.format.name(),
                }));
            }
            Ok(m) if !m.is_file() && !m.is_dir() => return Err(invalid(DataProblem::NotAFile)),
            Ok(m) => m.is_dir(),
            Err(e) => {
                // A symbolic link whose target is gone is there, but reads as missing: say so.
                return Err(invalid(match std::fs::read_link(path) {
                    Ok(target) if e.kind() == std::io::ErrorKind::NotFound => {
                        DataProblem::BrokenLink { target }
                    }
                    _ => DataProblem::Unreadable {
                        op: "read",
                        reason: e.to_string(),
                    },
                }));
            }
        };
        if is_dir != (spec.format == Format::Folder) {
            return Err(invalid(DataProblem::WrongKind {
                format: spec.format.name(),
                is_dir,
            }));
        }
    }
    Ok(())
}

fn decode_checked(spec: &DataSpec) -> Result<DecodedDataset, DataError> {
    if let Some(c) = spec.channels
        && c != 1
        && c != 3
    {
        return Err(spec_error(
            spec,
            format!("channels = {c}: use 1 (grayscale) or 3 (RGB)"),
        ));
    }
    if let Some((h, w)) = spec.size
        && (h == 0 || w == 0)
    {
        return Err(spec_error(
            spec,
            format!("size = [{h}, {w}]: height and width must be at least 1"),
        ));
    }
    if let Some(classes) = &spec.classes
        && (classes.is_empty() || classes.len() > 256)
    {
        return Err(spec_error(
            spec,
            format!(
                "{} class names given: give between 1 and 256",
                classes.len()
            ),
        ));
    }
    if let Some(classes) = &spec.classes {
        let mut seen = std::collections::HashSet::new();
        if let Some(twice) = classes.iter().find(|c| !seen.insert(c.as_str())) {
            return Err(spec_error(
                spec,
                format!("classes: `{twice}` is given twice; each class needs a name of its own"),
            ));
        }
    }
    if spec.train.is_empty() {
        return Err(spec_error(spec, "no training files given".to_string()));
    }
    let train_path = spec.train[0].clone();
    let train = formats::read_split(spec, &spec.train, "training", None)?;
    let mut notes = train.notes.clone();
    let (train, test) = match &spec.test {
        TestSet::Paths(paths) => {
            if paths.is_empty() {
                return Err(spec_error(spec, "no test files given".to_string()));
            }
            let test = formats::read_split(spec, paths, "test", Some(&train))?;
            notes.extend(test.notes.iter().cloned());
            (train, test)
        }
        TestSet::Split(fraction) => {
            let (train, test) = split_off_test(&train_path, train, *fraction)?;
            notes.push(format!(
                "{} drawn from the training files (test_split = {fraction}, stratified by class, \
                 fixed seed)",
                match test.labels.len() {
                    1 => "the 1 test image is".to_string(),
                    n => format!("the {} are", tune_spec::count(n, "test image")),
                }
            ));
            (train, test)
        }
    };
    if let Some(note) = transparent_note(&train, &test) {
        notes.push(note);
    }
    let shape = (train.height, train.width, train.channels);
    let image_len = train.height * train.width * train.channels;
    let largest = train
        .labels
        .iter()
        .chain(test.labels.iter())
        .copied()
        .max()
        .unwrap_or(0);
    if matches!(spec.test, TestSet::Paths(_)) {
        same_labels(spec, &train.labels, &test.labels, &mut notes)?;
    }
    let classes = match (&spec.classes, &train.classes) {
        (Some(given), Some(found)) if given != found => {
            return Err(spec_error(
                spec,
                format!(
                    "classes = [{}] differ from the class folders [{}]: a folder data set takes \
                     its class names from its folders (in sorted order); remove `classes`, or \
                     rename the folders",
                    given.join(", "),
                    found.join(", ")
                ),
            ));
        }
        (Some(given), _) => given.clone(),
        (None, Some(found)) => found.clone(),
        (None, None) => (0..=largest).map(|c| c.to_string()).collect(),
    };
    if classes.len() < 2 {
        return Err(spec_error(
            spec,
            format!(
                "every image is of one class ({}): a classifier needs at least 2 classes; give \
                 images of two classes or more",
                classes.first().map_or("none", String::as_str)
            ),
        ));
    }
    let train = DecodedSplit::new(train.images, train.labels, image_len);
    let test = DecodedSplit::new(test.images, test.labels, image_len);
    let train_counts = train.class_counts(classes.len());
    let missing: Vec<&str> = classes
        .iter()
        .zip(&train_counts)
        .filter(|(_, n)| **n == 0)
        .map(|(c, _)| c.as_str())
        .collect();
    if !missing.is_empty() {
        notes.push(format!(
            "{} of {} {} no training images: {}",
            missing.len(),
            tune_spec::count(classes.len(), "class"),
            if missing.len() == 1 { "has" } else { "have" },
            missing.join(", ")
        ));
    }
    let sha256 = content_hash(shape, &classes, &train, &test);
    Ok(DecodedDataset {
        format: spec.format,
        height: shape.0,
        width: shape.1,
        channels: shape.2,
        classes,
        train,
        test,
        sha256,
        notes,
    })
}

/// The note, once per data set, about images whose transparency decoding drops (see the folder
/// format): how many, one of them, and what is done instead.
fn transparent_note(train: &RawSplit, test: &RawSplit) -> Option<String> {
    let count = train.transparent.0 + test.transparent.0;
    let example = train
        .transparent
        .1
        .as_ref()
        .or(test.transparent.1.as_ref())?;
    Some(format!(
        "{} transparent pixels (e.g. {}): the alpha channel is dropped and each pixel keeps the \
         colour it stores, as PIL's convert(\"RGB\") and Keras do, so transparent areas show \
         whatever colour they hold (often black); flatten the images onto the background you \
         want first if that matters",
        match count {
            1 => "1 image has".to_string(),
            n => format!("{n} images have"),
        },
        example.display()
    ))
}

/// Refuses test files with labels that the training files lack (a class that cannot be learned
/// would be counted as the network's error); labels of the training files that the test files
/// lack are a note (those classes are not measured). Folders compare their class folders instead.
fn same_labels(
    spec: &DataSpec,
    train: &[u8],
    test: &[u8],
    notes: &mut Vec<String>,
) -> Result<(), DataError> {
    let set = |l: &[u8]| {
        l.iter()
            .copied()
            .collect::<std::collections::BTreeSet<u8>>()
    };
    let (train, test) = (set(train), set(test));
    let list = |s: Vec<&u8>| {
        s.iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let only_test = list(test.difference(&train).collect());
    let only_train = list(train.difference(&test).collect());
    if !only_test.is_empty() {
        return Err(spec_error(
            spec,
            format!(
                "train and test have different classes: labels {only_test} occur only in the \
                 test files, so no network can learn them; give training files with every class, \
                 or draw the test split from the training files (test_split = 0.2)"
            ),
        ));
    }
    if !only_train.is_empty() {
        notes.push(format!(
            "labels {only_train} occur only in the training files: the test accuracy does not \
             measure those classes"
        ));
    }
    Ok(())
}

pub(crate) fn spec_error(spec: &DataSpec, message: String) -> DataError {
    DataError::Invalid {
        path: spec.train.first().cloned().unwrap_or_default(),
        problem: DataProblem::Spec(message),
    }
}

/// Splits `fraction` of `train` off as the test split, stratified, with the holdout's seed.
fn split_off_test(
    path: &Path,
    train: RawSplit,
    fraction: f64,
) -> Result<(RawSplit, RawSplit), DataError> {
    let len = train.labels.len();
    let n = (len as f64 * fraction).round();
    if !(fraction > 0.0 && fraction < 1.0) || n < 1.0 || n >= len as f64 {
        return Err(DataError::Invalid {
            path: path.to_path_buf(),
            problem: DataProblem::Spec(format!(
                "test_split = {fraction} of {len} training images leaves {} test and {} training \
                 images: give a fraction between 0 and 1 that leaves at least one of each, or \
                 test files of their own",
                n.clamp(0.0, len as f64),
                (len as f64 - n).clamp(0.0, len as f64)
            )),
        });
    }
    let held = stratified_holdout(&train.labels, n as usize);
    let image_len = train.height * train.width * train.channels;
    let whole = DecodedSplit::new(train.images, train.labels, image_len);
    let pick = |indices: &[usize]| {
        let s = whole.select(indices, image_len);
        RawSplit {
            images: Arc::try_unwrap(s.images).expect("unshared"),
            labels: Arc::try_unwrap(s.labels).expect("unshared"),
            height: train.height,
            width: train.width,
            channels: train.channels,
            classes: train.classes.clone(),
            notes: Vec::new(),
            class_source: train.class_source.clone(),
            transparent: (0, None),
        }
    };
    // The training files' transparent images, whichever split they end in: the note counts
    // them over the files read (the training part carries the count, the test part none).
    let mut rest = pick(&held.rest);
    rest.transparent = train.transparent;
    Ok((rest, pick(&held.validation)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(labels: &[u8], image_len: usize) -> DecodedSplit {
        let images = (0..labels.len() * image_len).map(|i| i as u8).collect();
        DecodedSplit::new(images, labels.to_vec(), image_len)
    }

    #[test]
    fn hash_depends_on_every_part() {
        let classes: Vec<String> = vec!["a".into(), "b".into()];
        let (train, test) = (split(&[0, 1, 1], 4), split(&[1], 4));
        let base = content_hash((2, 2, 1), &classes, &train, &test);
        assert_eq!(base, content_hash((2, 2, 1), &classes, &train, &test));
        assert_ne!(base, content_hash((1, 4, 1), &classes, &train, &test));
        let renamed = vec!["a".to_string(), "c".to_string()];
        assert_ne!(base, content_hash((2, 2, 1), &renamed, &train, &test));
        assert_ne!(base, content_hash((2, 2, 1), &classes, &test, &train));
        let mut changed = (*train.images).clone();
        changed[5] ^= 1;
        let train2 = DecodedSplit::new(changed, train.labels.to_vec(), 4);
        assert_ne!(base, content_hash((2, 2, 1), &classes, &train2, &test));
    }

    #[test]
    fn planar_images_become_channels_last() {
        // Two 1x2 RGB images: planes R, G, B of two pixels each.
        let planar = [1, 2, 10, 20, 100, 200, 3, 4, 30, 40, 130, 140];
        let out: Vec<u8> = planar_to_nhwc(&planar, 3, 2)
            .iter()
            .map(|&v| (v * 255.0).round() as u8)
            .collect();
        assert_eq!(out, [1, 10, 100, 2, 20, 200, 3, 30, 130, 4, 40, 140]);
    }

    #[test]
    fn class_counts_and_f32() {
        let s = split(&[0, 2, 2], 1);
        assert_eq!(s.class_counts(3), vec![1, 0, 2]);
        assert_eq!(s.to_f32(), vec![0.0, 1.0 / 255.0, 2.0 / 255.0]);
    }
}
