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
use crate::{ClassSource, DataError, DataProblem};
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

/// How many classes labels may name, and where that number comes from: the given class names,
/// else the ones the files define (`own`, with their source), else for a test split the training
/// split's, else 256 (any byte).
pub(crate) fn class_limit(
    spec: &DataSpec,
    own: Option<(&[String], &ClassSource)>,
    train: Option<&RawSplit>,
) -> (usize, ClassSource) {
    if let Some(c) = &spec.classes {
        return (c.len(), ClassSource::Given);
    }
    if let Some((c, source)) = own {
        return (c.len(), source.clone());
    }
    match train {
        Some(t) => match &t.classes {
            Some(c) => (
                c.len(),
                t.class_source
                    .clone()
                    .unwrap_or(ClassSource::TrainingLabels),
            ),
            None => (
                t.labels
                    .iter()
                    .copied()
                    .max()
                    .map_or(0, |m| usize::from(m) + 1),
                ClassSource::TrainingLabels,
            ),
        },
        None => (256, ClassSource::AnyByte),
    }
}

/// The error for label `label` at `at` (e.g. `line 3`) of `path`, with the class count and its
/// source from [`class_limit`].
pub(crate) fn label_error(
    path: &Path,
    at: String,
    label: i64,
    (classes, source): &(usize, ClassSource),
) -> DataError {
    let classes = *classes;
    let problem = if (0..256).contains(&label) || classes < 256 {
        DataProblem::LabelOutOfRange {
            at,
            label,
            classes,
            origin: source.clone(),
        }
    } else {
        // No class list limits the labels, only the byte they are kept in: say so, not "256
        // classes", which the user never gave.
        DataProblem::LabelNotByte { at, label }
    };
    DataError::Invalid {
        path: path.to_path_buf(),
        problem,
    }
}

/// What a file looks like from its first bytes, as a hint for a file read in another format:
/// `"; it looks like a CSV (text) file: use format csv"`, or empty when it is not recognised.
pub(crate) fn looks_like(path: &Path) -> String {
    use std::io::Read;
    let mut head = [0u8; 512];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let head = &head[..n];
    let what = if head.starts_with(&[0, 0, 8, 3]) || head.starts_with(&[0, 0, 8, 1]) {
        "an IDX file: use format idx"
    } else if head.starts_with(&[0x1f, 0x8b]) {
        "gzip-compressed (IDX files often are): use format idx, or unpack it"
    } else if head.starts_with(b"\x89PNG") || head.starts_with(&[0xff, 0xd8, 0xff]) {
        "an image: put images in one sub-folder per class and use format folder"
    } else if !head.is_empty()
        && head.contains(&b',')
        && head
            .iter()
            .all(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        "a CSV (text) file: use format csv"
    } else {
        return String::new();
    };
    format!("; it looks like {what}")
}

/// `bytes` for a message: the text, cut to `max` characters with control characters escaped, or
/// for binary data (not UTF-8, or control bytes) a summary of its first bytes in hex, so raw
/// bytes never reach a terminal.
pub(crate) fn printable(bytes: &[u8], max: usize) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.chars().any(|c| c.is_control() && c != '\t') => {
            let cut: String = text.chars().take(max).collect();
            cut.escape_debug().to_string()
        }
        _ => {
            let hex: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
            format!(
                "binary data ({} bytes, starting {})",
                bytes.len(),
                hex.join(" ")
            )
        }
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
