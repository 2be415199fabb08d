//! The readers of users' data set formats, one file each, and the checks they share.
//!
//! Each reader turns one split's files into pixels (planar, see
//! [`DecodedSplit`](crate::DecodedSplit)) and labels; [`read_split`] then checks what every format
//! must satisfy: at least one image, and test images of the training images' shape.

pub(crate) mod cifar;
pub(crate) mod csv;
pub(crate) mod folder;
pub(crate) mod idx;

use crate::dataset::{DataSpec, Format, RawSplit};
use crate::{DataError, DataProblem};
use std::path::{Path, PathBuf};

/// Reads one split (`training` or `test`) from `paths`; the test split is read knowing the
/// training split `train`, whose classes and shape it must share.
pub(crate) fn read_split(
    spec: &DataSpec,
    paths: &[PathBuf],
    split: &'static str,
    train: Option<&RawSplit>,
) -> Result<RawSplit, DataError> {
    let raw = match spec.format {
        Format::Idx => idx::read(spec, paths, train)?,
        Format::Csv => csv::read(spec, paths, train)?,
        Format::Folder => folder::read(spec, paths, train)?,
        Format::Cifar => cifar::read(spec, paths, train)?,
    };
    if raw.labels.is_empty() {
        return Err(DataError::Invalid {
            path: paths[0].clone(),
            problem: DataProblem::EmptySplit {
                split,
                fix: match spec.format {
                    Format::Idx => "the files hold 0 images; give files with images",
                    Format::Csv => "the file has a header but no rows; add one row per image",
                    Format::Folder => "add images to the class folders",
                    Format::Cifar => "the batch files are empty; give files with records",
                },
            },
        });
    }
    if let Some(t) = train {
        let shape = |s: &RawSplit| format!("{}x{}x{}", s.height, s.width, s.channels);
        if (raw.height, raw.width, raw.channels) != (t.height, t.width, t.channels) {
            return Err(DataError::Invalid {
                path: paths[0].clone(),
                problem: DataProblem::SplitShape {
                    found: shape(&raw),
                    train: shape(t),
                    resizable: spec.format == Format::Folder && spec.size.is_none(),
                },
            });
        }
    }
    Ok(raw)
}

/// How many classes labels may name: the given class names, else the ones the files define
/// (`own`), else for a test split the training split's, else 256 (any byte).
pub(crate) fn class_limit(
    spec: &DataSpec,
    own: Option<&[String]>,
    train: Option<&RawSplit>,
) -> usize {
    if let Some(c) = &spec.classes {
        return c.len();
    }
    if let Some(c) = own {
        return c.len();
    }
    match train {
        Some(t) => match &t.classes {
            Some(c) => c.len(),
            None => t
                .labels
                .iter()
                .copied()
                .max()
                .map_or(0, |m| usize::from(m) + 1),
        },
        None => 256,
    }
}

/// The error for label `label` at `at` (e.g. `line 3`) of `path`, with `classes` classes.
pub(crate) fn label_error(path: &Path, at: String, label: i64, classes: usize) -> DataError {
    DataError::Invalid {
        path: path.to_path_buf(),
        problem: DataProblem::LabelOutOfRange { at, label, classes },
    }
}

/// Checks a `channels` and `size` given for a format whose files fix them.
pub(crate) fn check_fixed_shape(
    spec: &DataSpec,
    path: &Path,
    what: &str,
    (height, width): (usize, usize),
    channels: &[usize],
) -> Result<(), DataError> {
    let bad = |m: String| DataError::Invalid {
        path: path.to_path_buf(),
        problem: DataProblem::Spec(m),
    };
    if let Some((h, w)) = spec.size
        && (h, w) != (height, width)
    {
        return Err(bad(format!(
            "{what} images are {height}x{width} (height x width) but size = [{h}, {w}]; they are \
             not resized: leave size out or give [{height}, {width}]"
        )));
    }
    if let Some(c) = spec.channels
        && !channels.contains(&c)
    {
        return Err(bad(format!(
            "{what} images have {} channel(s), channels = {c} is not possible: leave it out",
            channels[0]
        )));
    }
    Ok(())
}
