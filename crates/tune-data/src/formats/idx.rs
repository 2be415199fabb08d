//! IDX files of any image size: per split an image file (`0x00000803`, count x rows x cols bytes)
//! and a label file (`0x00000801`), raw or gzip, read by [`crate::idx`]. Grayscale only.

use super::{check_fixed_shape, class_limit, label_error};
use crate::dataset::{DataSpec, RawSplit};
use crate::idx::{read_images, read_labels};
use crate::{DataError, DataProblem};
use std::path::{Path, PathBuf};

/// Reads one split from `[images]` or `[images, labels]`.
pub(crate) fn read(
    spec: &DataSpec,
    paths: &[PathBuf],
    train: Option<&RawSplit>,
) -> Result<RawSplit, DataError> {
    // A file of another format (a CSV, a PNG) is named as such before anything else is said
    // about it, e.g. that its label file cannot be found.
    for path in paths {
        not_idx(path)?;
    }
    let (images_path, labels_path) = match paths {
        [images] => (images.clone(), labels_beside(images)?),
        [images, labels] => (images.clone(), labels.clone()),
        _ => {
            return Err(crate::dataset::spec_error(
                spec,
                format!(
                    "{} paths given for one split: format idx takes the image file, or the image \
                     file and then the label file",
                    paths.len()
                ),
            ));
        }
    };
    if paths.len() == 1 && !labels_path.exists() {
        return Err(DataError::Invalid {
            path: images_path.clone(),
            problem: DataProblem::Spec(format!(
                "its label file is expected beside it as {} (the name with `images-idx3` replaced \
                 by `labels-idx1`, as MNIST's files are named; with or without `.gz`) and there is \
                 no such file: put the \
                 label file there, or give both files, the image file first (train = [\"IMAGES\", \
                 \"LABELS\"] in a grid, --data IMAGES --data LABELS on the command line)",
                labels_path.display()
            )),
        });
    }
    let images = read_images(&images_path).map_err(user)?;
    let labels = read_labels(&labels_path).map_err(user)?;
    if images.count != labels.len() {
        return Err(DataError::Invalid {
            path: images_path,
            problem: DataProblem::IdxCount {
                images: images.count,
                labels_path,
                labels: labels.len(),
            },
        });
    }
    check_fixed_shape(spec, &images_path, "IDX", (images.rows, images.cols), &[1])?;
    let limit = class_limit(spec, None, train);
    if let Some((i, &l)) = labels
        .iter()
        .enumerate()
        .find(|&(_, &l)| usize::from(l) >= limit.0)
    {
        return Err(label_error(
            &labels_path,
            format!("label {i} (0-based)"),
            i64::from(l),
            &limit,
        ));
    }
    Ok(RawSplit {
        images: images.pixels,
        labels,
        height: images.rows,
        width: images.cols,
        channels: 1,
        classes: None,
        notes: Vec::new(),
        class_source: None,
        transparent: (0, None),
    })
}

/// Refuses a file that is neither IDX nor gzip by its first bytes (IDX files of unsigned bytes
/// start `00 00 08`, gzip `1f 8b`), saying what it looks like (a CSV, an image) and which format
/// reads it. Files that cannot be opened, or are too short to tell, are left to the reader.
fn not_idx(path: &Path) -> Result<(), DataError> {
    use std::io::Read;
    let mut head = [0u8; 3];
    let Ok(mut file) = std::fs::File::open(path) else {
        return Ok(());
    };
    if file.read_exact(&mut head).is_err() || head == [0, 0, 8] || head[..2] == [0x1f, 0x8b] {
        return Ok(());
    }
    let looks = super::looks_like(path);
    let what = if looks.is_empty() {
        format!(
            "; it starts with {}: give the IDX files, or the format the file is in",
            super::printable(&head, 3)
        )
    } else {
        looks
    };
    Err(DataError::Invalid {
        path: path.to_path_buf(),
        problem: DataProblem::Spec(format!(
            "is not an IDX file (IDX files start with the bytes 00 00 08, or 1f 8b when \
             gzip-compressed){what}"
        )),
    })
}

/// The label file of image file `images`: its name with `images-idx3` replaced by `labels-idx1`,
/// gzip-compressed or not whatever the image file is (`train-labels-idx1-ubyte` or
/// `train-labels-idx1-ubyte.gz`, the first that exists; the name as is when neither does).
/// The decode cache's fingerprint looks for the same file.
pub(crate) fn labels_beside(images: &Path) -> Result<PathBuf, DataError> {
    let name = images
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.contains("images-idx3") {
        let same = name.replacen("images-idx3", "labels-idx1", 1);
        let other = match same.strip_suffix(".gz") {
            Some(raw) => raw.to_string(),
            None => format!("{same}.gz"),
        };
        let same = images.with_file_name(same);
        let other = images.with_file_name(other);
        return Ok(if !same.exists() && other.exists() {
            other
        } else {
            same
        });
    }
    Err(DataError::Invalid {
        path: images.to_path_buf(),
        problem: DataProblem::Spec(format!(
            "cannot tell the label file of `{name}` (its name has no `images-idx3` to replace by \
             `labels-idx1`): give the image file and then the label file"
        )),
    })
}

/// An IDX error about a user's file: without the advice to fetch a known data set again.
fn user(e: DataError) -> DataError {
    match e {
        DataError::Malformed { path, problem, .. } => DataError::Invalid {
            path,
            problem: DataProblem::Idx(problem),
        },
        other => other,
    }
}
