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
                 by `labels-idx1`, as MNIST's files are named) and there is no such file: put the \
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
        .find(|&(_, &l)| usize::from(l) >= limit)
    {
        return Err(label_error(
            &labels_path,
            format!("label {i} (0-based)"),
            i64::from(l),
            limit,
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
    })
}

/// The label file of image file `images`: its name with `images-idx3` replaced by `labels-idx1`.
fn labels_beside(images: &Path) -> Result<PathBuf, DataError> {
    let name = images
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains("images-idx3") {
        return Err(DataError::Invalid {
            path: images.to_path_buf(),
            problem: DataProblem::Spec(format!(
                "cannot tell the label file of `{name}` (its name has no `images-idx3` to replace \
                 by `labels-idx1`): give the image file and then the label file"
            )),
        });
    }
    Ok(images.with_file_name(name.replacen("images-idx3", "labels-idx1", 1)))
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
