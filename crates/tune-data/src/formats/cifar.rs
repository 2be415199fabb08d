//! CIFAR-10's binary batches: records of 3,073 bytes, a label byte then the 32x32 image as 1,024
//! red, 1,024 green and 1,024 blue bytes (planar, row-major), several files per split.
//!
//! Class names come from `batches.meta.txt` beside the first training file (one per line), else
//! they are CIFAR-10's ten.

use super::{check_fixed_shape, class_limit, label_error};
use crate::dataset::{DataSpec, RawSplit};
use crate::{ClassSource, DataError, DataProblem};
use image::{DynamicImage, RgbImage};
use std::fs;
use std::path::{Path, PathBuf};

/// Bytes per record: one label byte and 32x32x3 pixels.
pub const RECORD: usize = 3073;
const SIDE: usize = 32;
const PLANE: usize = SIDE * SIDE;

/// CIFAR-10's class names, label 0 first.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Reads the batch files `paths` of one split, in order.
pub(crate) fn read(
    spec: &DataSpec,
    paths: &[PathBuf],
    train: Option<&RawSplit>,
) -> Result<RawSplit, DataError> {
    // The class names and where they come from, named by the message about a label outside
    // them; a test split has the training split's.
    let (classes, source) = match train {
        Some(t) => (t.classes.clone(), t.class_source.clone()),
        None => match &spec.classes {
            Some(c) => (Some(c.clone()), Some(ClassSource::Given)),
            None => {
                let meta = paths[0].with_file_name(META);
                match meta_classes(&meta)? {
                    Some(names) => (Some(names), Some(ClassSource::NamesFile(meta))),
                    None => (
                        Some(CIFAR10_CLASSES.map(String::from).to_vec()),
                        Some(ClassSource::Cifar10 { looked_for: meta }),
                    ),
                }
            }
        },
    };
    let own = classes.as_deref().zip(source.as_ref());
    let limit = class_limit(spec, own, train);
    let channels = spec.channels.unwrap_or(3);
    check_fixed_shape(spec, &paths[0], "CIFAR", (SIDE, SIDE), &[1, 3])?;
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for path in paths {
        let bytes = fs::read(path).map_err(|e| DataError::io("read", path, e))?;
        if !bytes.len().is_multiple_of(RECORD) {
            return Err(DataError::Invalid {
                path: path.clone(),
                problem: DataProblem::CifarLength {
                    len: bytes.len() as u64,
                    looks: super::looks_like(path),
                },
            });
        }
        images.reserve(bytes.len() / RECORD * channels * PLANE);
        for (i, record) in bytes.chunks_exact(RECORD).enumerate() {
            let label = record[0];
            if usize::from(label) >= limit.0 {
                return Err(label_error(
                    path,
                    format!("record {i} (byte {})", i * RECORD),
                    i64::from(label),
                    &limit,
                ));
            }
            labels.push(label);
            let planes = &record[1..];
            if channels == 3 {
                images.extend_from_slice(planes);
            } else {
                let interleaved = (0..PLANE)
                    .flat_map(|p| [planes[p], planes[PLANE + p], planes[2 * PLANE + p]])
                    .collect();
                let rgb = RgbImage::from_raw(SIDE as u32, SIDE as u32, interleaved)
                    .expect("32x32x3 bytes");
                images.extend_from_slice(&DynamicImage::ImageRgb8(rgb).into_luma8().into_raw());
            }
        }
    }
    Ok(RawSplit {
        images,
        labels,
        height: SIDE,
        width: SIDE,
        channels,
        classes,
        notes: Vec::new(),
        class_source: source,
        transparent: (0, None),
    })
}

/// The file of class names beside the first training file.
const META: &str = "batches.meta.txt";

/// The class names in `path` (a `batches.meta.txt`), if that file exists.
fn meta_classes(path: &Path) -> Result<Option<Vec<String>>, DataError> {
    let path = path.to_path_buf();
    if !path.is_file() {
        return Ok(None);
    }
    let text = fs::read_to_string(&path).map_err(|e| DataError::io("read", &path, e))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.is_empty() || names.len() > 256 {
        return Err(DataError::Invalid {
            path,
            problem: DataProblem::Spec(format!(
                "holds {} class names: give one name per line, label 0 first (at most 256)",
                names.len()
            )),
        });
    }
    Ok(Some(names))
}
