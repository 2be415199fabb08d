//! The data sets a job can name, with their class names: the one list every crate reads (the
//! grid's check of `dataset`, the data registry, the comparison table, confusion tables); and
//! users' own data sets: where their files are ([`DataSpec`], read by `tune_data::decode`) and
//! what a job trained on one records ([`UserData`]).

use crate::{CLASSES, InputShape};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// A data set a job can train on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetName {
    /// The name used in grid files, on the command line, in the database and as a directory name.
    pub name: &'static str,
    /// Class names, indexed by label.
    pub classes: [&'static str; CLASSES],
    /// Other spellings that name it where a data set is looked up by name (never stored).
    pub aliases: &'static [&'static str],
}

/// Zalando's Fashion-MNIST: 28x28 grayscale clothing images, 10 classes.
pub const FASHION_MNIST: DatasetName = DatasetName {
    name: "fashion-mnist",
    classes: [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
    aliases: &["fashion_mnist"],
};

/// LeCun's MNIST: 28x28 grayscale handwritten digits, classes `0` to `9`.
pub const MNIST: DatasetName = DatasetName {
    name: "mnist",
    classes: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    aliases: &[],
};

/// The known data sets, `fashion-mnist` then `mnist`.
pub const DATASETS: [DatasetName; 2] = [FASHION_MNIST, MNIST];

/// The names of [`DATASETS`], in the same order.
pub const DATASET_NAMES: [&str; 2] = [FASHION_MNIST.name, MNIST.name];

/// The data set called `name` (or one of its aliases).
pub fn dataset(name: &str) -> Option<&'static DatasetName> {
    DATASETS
        .iter()
        .find(|d| d.name == name || d.aliases.contains(&name))
}

/// The layout of a user's data set on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// IDX files (MNIST's layout), any image size: per split an image file and a label file.
    Idx,
    /// Kaggle's CSV layout: a header row, a `label` column, one column per pixel value (0-255).
    Csv,
    /// One sub-folder per class holding PNG, JPEG or BMP images.
    Folder,
    /// CIFAR-10 binary batches: 3,073-byte records (label byte, 1,024 R, 1,024 G, 1,024 B bytes).
    Cifar,
}

impl Format {
    /// Every format, in the order of the documentation.
    pub const ALL: [Format; 4] = [Format::Idx, Format::Csv, Format::Folder, Format::Cifar];

    /// The name used in grid files and on the command line: `idx`, `csv`, `folder`, `cifar`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Idx => "idx",
            Format::Csv => "csv",
            Format::Folder => "folder",
            Format::Cifar => "cifar",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    /// Parses a format name; the error lists the known names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown data format `{s}`: use idx, csv, folder or cifar"))
    }
}

/// Where the test images of a user's data set come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestSet {
    /// Files or a folder of their own, given as for the training split.
    Paths(Vec<PathBuf>),
    /// A fraction of the training images, in `(0, 1)`, drawn stratified by class with
    /// `tune_data::stratified_holdout` (fixed seed `tune_data::HOLDOUT_SEED`): the same images
    /// on every machine, and the rest train.
    Split(f64),
}

/// A user's data set: where its files are and how to read them (`tune_data::decode` reads it).
///
/// The paths of one split, by format:
/// - `idx`: the image file, or the image file and then the label file. With the image file
///   alone, the label file is found by replacing `images-idx3` by `labels-idx1` in its name.
///   Either may be gzip-compressed.
/// - `csv`: one or more CSV files, read in order (the header of each is read on its own).
/// - `folder`: one folder with one sub-folder per class.
/// - `cifar`: one or more batch files, read in order (e.g. `data_batch_1.bin` ... `_5.bin`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSpec {
    /// The layout of the files.
    pub format: Format,
    /// The training split's files or folder.
    pub train: Vec<PathBuf>,
    /// The test split's, or the fraction of the training images to test on.
    pub test: TestSet,
    /// `(height, width)` in pixels. `csv`: the images' size (else the largest square the pixel
    /// count allows). `folder`: resize every image to it (else images of different sizes are an
    /// error). `idx`, `cifar`: checked against the files' size.
    pub size: Option<(usize, usize)>,
    /// 1 (grayscale) or 3 (RGB). `folder`: images are converted; without it, 3 if any image is in
    /// colour, else 1. `csv`: without it, 1 unless `size` makes the pixel count 3 per pixel.
    /// `idx`: 1. `cifar`: 3 (1 converts to grayscale).
    pub channels: Option<usize>,
    /// Class names, label 0 first. Without it: `folder` takes the sub-folders' names, `cifar` the
    /// lines of `batches.meta.txt` beside the first training file (else CIFAR-10's ten names),
    /// `csv` and `idx` the numbers `0` to the largest training label.
    pub classes: Option<Vec<String>>,
}

/// A setting of a [`DataSpec`] that cannot be used, from [`DataSpec::build`]: which one (`format`,
/// `train`, `test`, `test_split`, `size`, `channels`) and why, with the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSpecError {
    /// The setting's name as in grid files (`--test-split` on the command line is `test_split`).
    pub key: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for DataSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for DataSpecError {}

/// How the settings of a user's data set are written where they come from, for the messages of
/// [`DataSpec::build_as`]: as a grid file's keys (`test_split = 0.2`) or as the `--data` flags of
/// `tune train` and `tune bench` (`--test-split 0.2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    /// A grid file's `[datasets.NAME]` table.
    Grid,
    /// The command line's data flags.
    Flags,
}

impl Spelling {
    /// The name of the setting `key` (a grid key: `format`, `train`, `test`, `test_split`,
    /// `size`, `channels`) as written in this spelling: the key itself, or its flag (`--data`
    /// for `train`, `--data-format` for `format`, `--test-split` for `test_split`...).
    pub fn name(self, key: &str) -> &str {
        match self {
            Spelling::Grid => key,
            Spelling::Flags => match key {
                "format" => "--data-format",
                "train" => "--data",
                "test" => "--test",
                "test_split" => "--test-split",
                "size" => "--size",
                "channels" => "--channels",
                other => other,
            },
        }
    }
}

impl DataSpec {
    /// A data set of `format` with training files `train` and test files `test`, other settings
    /// at their defaults.
    pub fn new(format: Format, train: impl Into<PathBuf>, test: impl Into<PathBuf>) -> Self {
        DataSpec {
            format,
            train: vec![train.into()],
            test: TestSet::Paths(vec![test.into()]),
            size: None,
            channels: None,
            classes: None,
        }
    }

    /// A data set of `format` with training files `train`, of which the fraction `test_split`
    /// is held out for testing.
    pub fn with_test_split(format: Format, train: impl Into<PathBuf>, test_split: f64) -> Self {
        DataSpec {
            format,
            train: vec![train.into()],
            test: TestSet::Split(test_split),
            size: None,
            channels: None,
            classes: None,
        }
    }

    /// The largest `size` side, in pixels: every image is resized to `size` and held in memory as
    /// `f32` (a 1024x1024 RGB image is 12 MiB), so a typo such as `[100000, 100000]` is refused
    /// before anything is allocated.
    pub const MAX_SIDE: usize = 1024;

    /// The one check of a data set's settings, as a grid file's `[datasets.NAME]` table gives
    /// them ([`DataSpec::build_as`] with [`Spelling::Grid`]).
    ///
    /// # Errors
    /// [`DataSpecError`] naming the setting.
    pub fn build(
        format: &str,
        train: Vec<PathBuf>,
        test: Option<Vec<PathBuf>>,
        test_split: Option<f64>,
        size: Option<(usize, usize)>,
        channels: Option<usize>,
    ) -> Result<DataSpec, DataSpecError> {
        Self::build_as(
            Spelling::Grid,
            format,
            train,
            test,
            test_split,
            size,
            channels,
        )
    }

    /// The one check of a data set's settings, as a grid file's `[datasets.NAME]` table and the
    /// `--data` flags of `tune train` and `tune bench` give them: `format` one of
    /// [`Format::ALL`]'s names, at least one training path, test paths or `test_split` in
    /// `(0, 1)` (exactly one of them), `size` `(height, width)` of at least 1 each and at most
    /// [`DataSpec::MAX_SIDE`], `channels` 1 or 3. Paths are taken as given (the caller resolves
    /// relative ones). The messages name the other settings and their values as `spelling`
    /// writes them (`test_split = 0.2` in a grid, `--test-split 0.2` on the command line).
    ///
    /// # Errors
    /// [`DataSpecError`] naming the setting (its [`DataSpecError::key`] is always the grid key;
    /// [`Spelling::name`] gives the flag).
    pub fn build_as(
        spelling: Spelling,
        format: &str,
        train: Vec<PathBuf>,
        test: Option<Vec<PathBuf>>,
        test_split: Option<f64>,
        size: Option<(usize, usize)>,
        channels: Option<usize>,
    ) -> Result<DataSpec, DataSpecError> {
        let bad = |key, message: String| Err(DataSpecError { key, message });
        let (test_key, split_key) = (spelling.name("test"), spelling.name("test_split"));
        let split_example = match spelling {
            Spelling::Grid => "test_split = 0.2",
            Spelling::Flags => "--test-split 0.2",
        };
        let format: Format = match format.parse() {
            Ok(f) => f,
            Err(e) => return bad("format", e),
        };
        if train.is_empty() {
            return bad(
                "train",
                "no training files given: give the training file(s) or folder".into(),
            );
        }
        let test = match (test, test_split) {
            (Some(_), Some(_)) => {
                return bad(
                    "test_split",
                    format!("is given as well as {test_key}: give one of them"),
                );
            }
            (Some(paths), None) if paths.is_empty() => {
                return bad(
                    "test",
                    format!("no test files given: give the test file(s) or folder, or {split_key}"),
                );
            }
            (Some(paths), None) => TestSet::Paths(paths),
            (None, Some(f)) if f > 0.0 && f < 1.0 => TestSet::Split(f),
            (None, Some(f)) => {
                return bad(
                    "test_split",
                    format!(
                        "is {f}: {split_key} must be a fraction between 0 and 1 (exclusive), the \
                         share of the training images to test on, e.g. {split_example}"
                    ),
                );
            }
            (None, None) => {
                return bad(
                    "test",
                    format!(
                        "is missing: give the test file(s) or folder with {test_key}, or \
                         {split_example} to test on a fifth of the training images (stratified, \
                         fixed seed)"
                    ),
                );
            }
        };
        let shown = |(h, w): (usize, usize)| match spelling {
            Spelling::Grid => format!("[{h}, {w}]"),
            Spelling::Flags => format!("{h}x{w}"),
        };
        if let Some((h, w)) = size
            && (h == 0 || w == 0)
        {
            return bad(
                "size",
                format!("is {}: height and width must be at least 1", shown((h, w))),
            );
        }
        if let Some((h, w)) = size
            && h.max(w) > Self::MAX_SIDE
        {
            return bad(
                "size",
                format!(
                    "is {}: at most {} pixels a side (every image is resized to it and kept in \
                     memory as f32); give a smaller size",
                    shown((h, w)),
                    Self::MAX_SIDE
                ),
            );
        }
        if let Some(c) = channels
            && c != 1
            && c != 3
        {
            return bad("channels", format!("is {c}: use 1 (grayscale) or 3 (RGB)"));
        }
        Ok(DataSpec {
            format,
            train,
            test,
            size,
            channels,
            classes: None,
        })
    }
}

/// Where a data file given as `path` is, as the operating system would open it: absolute
/// (against the working directory), with symbolic links and `..` resolved along the part of
/// the path that exists; the part that does not exist is kept as written (`nope/../x` stays so:
/// `nope` is not there to step out of). Grid files (their paths joined to the grid's folder
/// first) and the `--data`/`--test` flags both name files this way, so the same path means the
/// same file to both and jobs record where the files are for a worker started elsewhere.
pub fn resolve_data_path(path: &std::path::Path) -> PathBuf {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    // The longest prefix that exists, canonical, then the rest as written.
    let parts: Vec<std::path::Component> = path.components().collect();
    for n in (1..=parts.len()).rev() {
        let prefix: PathBuf = parts[..n].iter().collect();
        if let Ok(mut out) = std::fs::canonicalize(&prefix) {
            out.extend(&parts[n..]);
            return out;
        }
    }
    path
}

/// `HxW` (e.g. `32x32`, height first) as `(height, width)`, for `--size`; sides at least 1.
pub fn parse_size(text: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{text}` is not a size: write HEIGHTxWIDTH in pixels, e.g. 32x32");
    let (h, w) = text.split_once(['x', 'X']).ok_or_else(bad)?;
    let h: usize = h.trim().parse().map_err(|_| bad())?;
    let w: usize = w.trim().parse().map_err(|_| bad())?;
    if h == 0 || w == 0 {
        return Err(bad());
    }
    Ok((h, w))
}

/// What a job trained on a user's data set records of it: the content hash and shape that make
/// the job's key (two data sets of the same name but other content never share a key), the class
/// names reports show, and where the files were ([`UserData::source`], not part of the key, so
/// the same data in another folder is the same job).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserData {
    /// SHA-256 (lowercase hex) of the decoded content (`tune_data::content_hash`).
    pub sha256: String,
    /// Image height, width, channels and class count.
    pub input: InputShape,
    /// Class names, indexed by label.
    pub classes: Vec<String>,
    /// Where the files are (absolute paths) and how to read them; `None` in the text a job's
    /// key is computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<DataSpec>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>().unwrap(), f);
        }
        let e = "png".parse::<Format>().unwrap_err();
        assert!(e.contains("idx, csv, folder or cifar"), "{e}");
    }

    #[test]
    fn build_checks_each_setting() {
        let t = || vec![PathBuf::from("train.csv")];
        let key = |r: Result<DataSpec, DataSpecError>| r.unwrap_err().key;
        assert_eq!(
            key(DataSpec::build("png", t(), None, Some(0.2), None, None)),
            "format"
        );
        assert_eq!(
            key(DataSpec::build("csv", vec![], None, Some(0.2), None, None)),
            "train"
        );
        assert_eq!(
            key(DataSpec::build("csv", t(), None, None, None, None)),
            "test"
        );
        assert_eq!(
            key(DataSpec::build("csv", t(), None, Some(1.0), None, None)),
            "test_split"
        );
        assert_eq!(
            key(DataSpec::build(
                "csv",
                t(),
                Some(t()),
                Some(0.5),
                None,
                None
            )),
            "test_split"
        );
        assert_eq!(
            key(DataSpec::build(
                "csv",
                t(),
                None,
                Some(0.2),
                Some((0, 3)),
                None
            )),
            "size"
        );
        // A side over the limit is refused before anything is allocated; the limit itself is fine.
        let huge = DataSpec::build(
            "folder",
            t(),
            None,
            Some(0.2),
            Some((100_000, 100_000)),
            None,
        );
        assert_eq!(huge.as_ref().unwrap_err().key, "size");
        assert!(
            huge.unwrap_err()
                .message
                .contains("at most 1024 pixels a side")
        );
        let side = DataSpec::MAX_SIDE;
        assert!(DataSpec::build("folder", t(), None, Some(0.2), Some((side, 8)), None).is_ok());
        assert_eq!(
            key(DataSpec::build("csv", t(), None, Some(0.2), None, Some(2))),
            "channels"
        );
        let ok = DataSpec::build("folder", t(), None, Some(0.25), Some((32, 24)), Some(3)).unwrap();
        assert_eq!(ok.test, TestSet::Split(0.25));
        assert_eq!(
            (ok.format, ok.size, ok.channels),
            (Format::Folder, Some((32, 24)), Some(3))
        );
    }

    #[test]
    fn sizes_parse_height_first() {
        assert_eq!(parse_size("32x24"), Ok((32, 24)));
        assert!(parse_size("32").unwrap_err().contains("HEIGHTxWIDTH"));
        assert!(parse_size("0x5").is_err());
    }

    #[test]
    fn names_and_aliases_find_their_data_set() {
        assert_eq!(DATASET_NAMES, ["fashion-mnist", "mnist"]);
        assert_eq!(dataset("fashion_mnist"), Some(&FASHION_MNIST));
        assert_eq!(dataset("mnist").unwrap().classes[7], "7");
        assert_eq!(dataset("cifar10"), None);
    }
}
