//! The known data sets: their files with checksums, class names and download mirrors.
//!
//! The values are the canonical ones; the SHA-256 and size are those of the *decompressed* files, so
//! any gzip encoding of the right content is accepted.

use crate::DataError;
use std::sync::LazyLock;

/// Index of the training images in [`DatasetInfo::files`].
pub const TRAIN_IMAGES: usize = 0;
/// Index of the training labels in [`DatasetInfo::files`].
pub const TRAIN_LABELS: usize = 1;
/// Index of the test images in [`DatasetInfo::files`].
pub const TEST_IMAGES: usize = 2;
/// Index of the test labels in [`DatasetInfo::files`].
pub const TEST_LABELS: usize = 3;

/// One file of a data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Name without `.gz`, e.g. `train-images-idx3-ubyte`. Stored and downloaded as `NAME.gz`.
    pub name: String,
    /// SHA-256 of the decompressed file, lowercase hex.
    pub sha256: String,
    /// Size of the decompressed file in bytes.
    pub size: u64,
}

impl FileInfo {
    /// Builds a file entry.
    pub fn new(name: &str, sha256: &str, size: u64) -> Self {
        FileInfo {
            name: name.to_string(),
            sha256: sha256.to_string(),
            size,
        }
    }

    /// The compressed file name, `NAME.gz`: the download name and the usual name on disk.
    pub fn gz_name(&self) -> String {
        format!("{}.gz", self.name)
    }
}

/// A data set: four IDX files, ten classes, and where to download it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetInfo {
    /// Name used on the command line and as a directory name, e.g. `fashion-mnist`.
    pub name: String,
    /// Training images, training labels, test images, test labels (see [`TRAIN_IMAGES`] and others).
    pub files: [FileInfo; 4],
    /// Class names, indexed by label.
    pub classes: Vec<String>,
    /// Base URLs, tried in order; a file's URL is the base followed by `NAME.gz`.
    pub mirrors: Vec<String>,
    /// The Debian package that installs the data set in `/usr/share/datasets/NAME`, if any.
    pub system_package: Option<String>,
}

impl DatasetInfo {
    /// The training images' entry.
    pub fn train_images(&self) -> &FileInfo {
        &self.files[TRAIN_IMAGES]
    }

    /// The training labels' entry.
    pub fn train_labels(&self) -> &FileInfo {
        &self.files[TRAIN_LABELS]
    }

    /// The test images' entry.
    pub fn test_images(&self) -> &FileInfo {
        &self.files[TEST_IMAGES]
    }

    /// The test labels' entry.
    pub fn test_labels(&self) -> &FileInfo {
        &self.files[TEST_LABELS]
    }
}

const TRAIN_IMAGES_SIZE: u64 = 47_040_016;
const TRAIN_LABELS_SIZE: u64 = 60_008;
const TEST_IMAGES_SIZE: u64 = 7_840_016;
const TEST_LABELS_SIZE: u64 = 10_008;

fn files(sha: [&str; 4]) -> [FileInfo; 4] {
    [
        FileInfo::new("train-images-idx3-ubyte", sha[0], TRAIN_IMAGES_SIZE),
        FileInfo::new("train-labels-idx1-ubyte", sha[1], TRAIN_LABELS_SIZE),
        FileInfo::new("t10k-images-idx3-ubyte", sha[2], TEST_IMAGES_SIZE),
        FileInfo::new("t10k-labels-idx1-ubyte", sha[3], TEST_LABELS_SIZE),
    ]
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

static KNOWN: LazyLock<Vec<DatasetInfo>> = LazyLock::new(|| {
    vec![
        DatasetInfo {
            name: tune_spec::FASHION_MNIST.name.into(),
            files: files([
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            ]),
            classes: strings(&tune_spec::FASHION_MNIST.classes),
            mirrors: strings(&["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]),
            system_package: Some("dataset-fashion-mnist".into()),
        },
        DatasetInfo {
            name: tune_spec::MNIST.name.into(),
            files: files([
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            ]),
            classes: strings(&tune_spec::MNIST.classes),
            mirrors: strings(&[
                "https://ossci-datasets.s3.amazonaws.com/mnist/",
                "https://storage.googleapis.com/cvdf-datasets/mnist/",
            ]),
            system_package: None,
        },
    ]
});

/// The known data sets, `fashion-mnist` then `mnist`.
pub fn known() -> &'static [DatasetInfo] {
    &KNOWN
}

/// The known data set called `name`; an unknown name is an error listing the known ones.
pub fn info(name: &str) -> Result<&'static DatasetInfo, DataError> {
    known()
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| DataError::UnknownDataset {
            name: name.to_string(),
            known: known()
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_data_sets_are_known() {
        let names: Vec<&str> = known().iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["fashion-mnist", "mnist"]);
        assert_eq!(
            names,
            tune_spec::DATASET_NAMES,
            "the one list of data set names"
        );
        let fashion = info("fashion-mnist").unwrap();
        assert_eq!(fashion.classes[0], "T-shirt/top");
        assert_eq!(fashion.classes[9], "Ankle boot");
        assert_eq!(info("mnist").unwrap().classes[7], "7");
    }

    #[test]
    fn unknown_name_lists_the_known_ones() {
        let e = info("cifar10").unwrap_err().to_string();
        assert!(e.contains("`cifar10`"), "{e}");
        assert!(e.contains("fashion-mnist, mnist"), "{e}");
    }

    #[test]
    fn entries_are_well_formed() {
        for d in known() {
            assert_eq!(d.classes.len(), 10, "{}", d.name);
            assert!(!d.mirrors.is_empty(), "{}", d.name);
            assert!(d.mirrors.iter().all(|m| m.ends_with('/')), "{}", d.name);
            for f in &d.files {
                assert_eq!(f.sha256.len(), 64, "{}", f.name);
                assert!(
                    f.sha256
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                );
            }
            // Images: 16-byte header + 28*28 bytes each; labels: 8-byte header + 1 byte each.
            assert_eq!(d.train_images().size, 16 + 60_000 * 784);
            assert_eq!(d.train_labels().size, 8 + 60_000);
            assert_eq!(d.test_images().size, 16 + 10_000 * 784);
            assert_eq!(d.test_labels().size, 8 + 10_000);
        }
    }
}
