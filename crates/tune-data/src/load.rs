//! Reading a whole data set into memory, pixels scaled to `[0, 1]`.
//!
//! Loading checks the files' structure (headers, lengths, matching counts, labels in range) but not
//! their checksums: [`verify()`](crate::verify()) does that, and test fixtures have none.

use crate::idx::{read_images, read_labels};
use crate::locate::{SearchEnv, locate_in};
use crate::registry::{DatasetInfo, FileInfo};
use crate::{DataError, IdxProblem, data_file, info};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One split (training or test) of a data set.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// `len * rows * cols * channels` pixel values in `[0, 1]` (byte / 255), image after image,
    /// row-major, each pixel's channels side by side (channels-last, `H, W, C`).
    pub images: Arc<Vec<f32>>,
    /// `len` labels, each a class index.
    pub labels: Arc<Vec<u8>>,
    /// Number of examples.
    pub len: usize,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// Values per pixel: 1 (grayscale, the built-in data sets) or 3 (RGB).
    pub channels: usize,
}

impl Split {
    /// Values per image, `rows * cols * channels`.
    pub fn image_len(&self) -> usize {
        self.rows * self.cols * self.channels
    }

    /// The pixels of image `i`.
    ///
    /// # Panics
    /// If `i >= len`.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }
}

/// A data set in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The data set's name, e.g. `mnist`.
    pub name: String,
    /// Class names, indexed by label.
    pub classes: Vec<String>,
    /// The training split.
    pub train: Split,
    /// The test split.
    pub test: Split,
}

/// Height and width of the images of every known data set (MNIST and Fashion-MNIST: 28x28);
/// loading refuses files of another size (a data error naming the file).
pub const IMAGE_SIZE: (usize, usize) = (28, 28);

/// Finds data set `name` (see [`locate()`](crate::locate())) and loads it; its images must have
/// the known data sets' size [`IMAGE_SIZE`] ([`DataError::ImageSize`] names the file if not), and
/// each split at least one image ([`DataError::Empty`]).
pub fn load(name: &str, data_dir: Option<&Path>) -> Result<Dataset, DataError> {
    let info = info(name)?;
    let located = locate_in(info, data_dir, &SearchEnv::from_env())?;
    tracing::debug!(dir = %located.dir.display(), source = %located.source, "loading {name}");
    load_dir(&located.dir, info)
}

/// Loads the data set whose four files (`NAME.gz` or `NAME`) are in `dir`, without checking
/// checksums. Images of another size than [`IMAGE_SIZE`] ([`DataError::ImageSize`], naming the
/// file) and a split without images ([`DataError::Empty`]) are errors.
pub fn load_dir(dir: &Path, info: &DatasetInfo) -> Result<Dataset, DataError> {
    let load = || {
        let train = load_split(dir, info, info.train_images(), info.train_labels())?;
        let test = load_split(dir, info, info.test_images(), info.test_labels())?;
        for (split, name, file) in [
            (&train, "training", info.train_images()),
            (&test, "test", info.test_images()),
        ] {
            if split.len == 0 {
                return Err(DataError::Empty {
                    path: find(dir, file)?,
                    split: name,
                    dataset: None,
                });
            }
        }
        if (test.rows, test.cols) != (train.rows, train.cols) {
            return Err(DataError::ShapeMismatch {
                path: find(dir, info.test_images())?,
                rows: test.rows,
                cols: test.cols,
                train_rows: train.rows,
                train_cols: train.cols,
                dataset: None,
            });
        }
        let (rows, cols) = IMAGE_SIZE;
        if (train.rows, train.cols) != (rows, cols) {
            return Err(DataError::ImageSize {
                path: find(dir, info.train_images())?,
                name: info.name.clone(),
                rows: train.rows,
                cols: train.cols,
                expected_rows: rows,
                expected_cols: cols,
            });
        }
        Ok(Dataset {
            name: info.name.clone(),
            classes: info.classes.clone(),
            train,
            test,
        })
    };
    load().map_err(|e| e.in_dataset(&info.name))
}

fn find(dir: &Path, file: &FileInfo) -> Result<PathBuf, DataError> {
    data_file(dir, file).ok_or_else(|| DataError::MissingFile {
        dir: dir.to_path_buf(),
        file: file.name.clone(),
        dataset: None,
    })
}

fn load_split(
    dir: &Path,
    info: &DatasetInfo,
    images_file: &FileInfo,
    labels_file: &FileInfo,
) -> Result<Split, DataError> {
    let images_path = find(dir, images_file)?;
    let labels_path = find(dir, labels_file)?;
    let images = read_images(&images_path)?;
    let labels = read_labels(&labels_path)?;
    if images.count != labels.len() {
        return Err(DataError::CountMismatch {
            images_path,
            images: images.count,
            labels_path,
            labels: labels.len(),
            dataset: None,
        });
    }
    let classes = info.classes.len();
    if let Some((index, &label)) = labels
        .iter()
        .enumerate()
        .find(|&(_, &l)| usize::from(l) >= classes)
    {
        return Err(DataError::Malformed {
            path: labels_path,
            problem: IdxProblem::LabelOutOfRange {
                index,
                label,
                classes,
            },
            dataset: None,
        });
    }
    let pixels = images
        .pixels
        .iter()
        .map(|&p| f32::from(p) / 255.0)
        .collect();
    Ok(Split {
        images: Arc::new(pixels),
        labels: Arc::new(labels),
        len: images.count,
        rows: images.rows,
        cols: images.cols,
        channels: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::{Images, write_images, write_labels};
    use tempfile::TempDir;

    fn images(count: usize, side: usize) -> Images {
        Images {
            count,
            rows: side,
            cols: side,
            pixels: (0..count * side * side).map(|i| (i % 256) as u8).collect(),
        }
    }

    /// Writes a fixture of `train` and `test` examples with 3x3 images in `dir`.
    fn write_fixture(dir: &Path, info: &DatasetInfo, train: usize, test: usize) {
        let labels = |n: usize| (0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>();
        write_images(
            &dir.join(info.train_images().gz_name()),
            &images(train, 3),
            true,
        )
        .unwrap();
        write_labels(
            &dir.join(info.train_labels().gz_name()),
            &labels(train),
            true,
        )
        .unwrap();
        // Uncompressed names are accepted too.
        write_images(&dir.join(&info.test_images().name), &images(test, 3), false).unwrap();
        write_labels(&dir.join(&info.test_labels().name), &labels(test), false).unwrap();
    }

    #[test]
    fn a_known_data_set_is_held_to_its_image_size() {
        let dir = TempDir::new().unwrap();
        let mnist = info("mnist").unwrap();
        write_fixture(dir.path(), mnist, 5, 2);
        // A known data set is held to its image size, from a directory as through locate.
        let m = load_dir(dir.path(), mnist).unwrap_err().to_string();
        assert!(
            m.contains("images are 3x3, but data set `mnist` has 28x28"),
            "{m}"
        );
        // An explicit directory goes through locate, which holds a known data set to its size.
        let m = load("mnist", Some(dir.path())).unwrap_err().to_string();
        assert!(
            m.contains(
                "train-images-idx3-ubyte.gz: images are 3x3, but data set `mnist` has 28x28"
            ),
            "{m}"
        );
    }

    #[test]
    fn count_mismatch_names_both_files() {
        let dir = TempDir::new().unwrap();
        let mnist = info("mnist").unwrap();
        write_fixture(dir.path(), mnist, 5, 2);
        write_labels(
            &dir.path().join(&mnist.test_labels().name),
            &[1, 2, 3],
            false,
        )
        .unwrap();
        let m = load_dir(dir.path(), mnist).unwrap_err().to_string();
        assert!(m.contains("t10k-images-idx3-ubyte holds 2 images"), "{m}");
        assert!(m.contains("t10k-labels-idx1-ubyte holds 3 labels"), "{m}");
        assert!(m.contains("tune data fetch mnist"), "{m}");
    }

    #[test]
    fn label_out_of_range_is_an_error() {
        let dir = TempDir::new().unwrap();
        let mnist = info("mnist").unwrap();
        write_fixture(dir.path(), mnist, 5, 2);
        write_labels(&dir.path().join(&mnist.test_labels().name), &[1, 10], false).unwrap();
        let m = load_dir(dir.path(), mnist).unwrap_err().to_string();
        assert!(
            m.contains("t10k-labels-idx1-ubyte: label 10 at index 1"),
            "{m}"
        );
    }

    #[test]
    fn train_and_test_must_have_the_same_image_size() {
        let dir = TempDir::new().unwrap();
        let mnist = info("mnist").unwrap();
        write_fixture(dir.path(), mnist, 5, 2);
        write_images(
            &dir.path().join(&mnist.test_images().name),
            &images(2, 4),
            false,
        )
        .unwrap();
        let m = load_dir(dir.path(), mnist).unwrap_err().to_string();
        assert!(
            m.contains("images are 4x4 but the training images are 3x3"),
            "{m}"
        );
    }

    #[test]
    fn missing_and_malformed_files_are_errors_naming_the_data_set() {
        let dir = TempDir::new().unwrap();
        let fashion = info("fashion-mnist").unwrap();
        let m = load_dir(dir.path(), fashion).unwrap_err().to_string();
        assert!(m.contains("missing train-images-idx3-ubyte.gz"), "{m}");
        assert!(m.contains("tune data fetch fashion-mnist"), "{m}");

        write_fixture(dir.path(), fashion, 5, 2);
        let path = dir.path().join(fashion.train_labels().gz_name());
        std::fs::write(&path, b"not idx at all").unwrap();
        let m = load_dir(dir.path(), fashion).unwrap_err().to_string();
        assert!(m.contains(&path.display().to_string()), "{m}");
        assert!(
            m.contains("delete the file and run `tune data fetch fashion-mnist`"),
            "{m}"
        );
    }

    /// Verifies and loads a real data set if this machine has it; `false` if it does not.
    fn check_real(dir: &Path, name: &str, first_labels: (u8, u8)) -> bool {
        if !dir.is_dir() {
            eprintln!("skipped: {} does not exist", dir.display());
            return false;
        }
        let info = info(name).unwrap();
        crate::verify(dir, info).unwrap();
        let d = load(name, Some(dir)).unwrap();
        assert_eq!((d.train.len, d.test.len), (60_000, 10_000));
        assert_eq!((d.train.rows, d.train.cols), (28, 28));
        assert_eq!(d.train.images.len(), 60_000 * 784);
        assert_eq!(d.test.images.len(), 10_000 * 784);
        assert_eq!((d.train.labels[0], d.test.labels[0]), first_labels);
        true
    }

    /// The real MNIST, where the development machines keep a copy (about half a second).
    #[test]
    fn real_mnist() {
        // The first training digit of MNIST is a 5, the first test digit a 7.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/mnist");
        check_real(&dir, "mnist", (5, 7));
    }

    /// The real Fashion-MNIST, where Debian's `dataset-fashion-mnist` is installed.
    #[test]
    fn real_fashion_mnist() {
        let dir = Path::new("/usr/share/datasets/fashion-mnist");
        // The first training image is an ankle boot, the first test image too.
        if check_real(dir, "fashion-mnist", (9, 9)) {
            let s = crate::status("fashion-mnist", None).unwrap();
            assert!(s.located.is_some());
            assert_eq!(s.check, Ok(()));
        }
    }
}
