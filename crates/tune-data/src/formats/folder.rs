//! Image folders, the layout of Keras's `image_dataset_from_directory` and torchvision's
//! `ImageFolder`: one sub-folder per class, named after it, holding PNG, JPEG or BMP images
//! (sub-folders of a class folder are read too).
//!
//! Classes are the sub-folders in sorted name order (label 0 first); images are taken in sorted
//! order of their path inside the class folder. Hidden files and folders (name starting with
//! `.`), files of other types and files beside the class folders are ignored and counted in a
//! note. Images are decoded in parallel (rayon), converted to grayscale or RGB and, with `size`,
//! resized to it (triangle filter). An alpha channel is dropped, each pixel keeping the colour it
//! stores (as PIL's `convert("RGB")` and Keras do, so the pixels are theirs); images with
//! transparent pixels are counted in a note, once per data set, naming one of them.

use crate::dataset::{DataSpec, RawSplit};
use crate::{DataError, DataProblem};
use image::DynamicImage;
use image::imageops::FilterType;
use rayon::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};

/// File extensions read as images (compared without case).
pub const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

/// Extensions of image formats tune does not decode (the `image` crate is built with PNG, JPEG
/// and BMP only): counted and named in a note, not lumped with non-image files.
pub const UNSUPPORTED_IMAGE_EXTENSIONS: [&str; 8] =
    ["webp", "tif", "tiff", "gif", "heic", "heif", "avif", "ico"];

/// The images of an image folder, before decoding.
#[derive(Debug)]
pub(crate) struct Scan {
    /// Class names, sorted.
    pub classes: Vec<String>,
    /// Every image with its label, in the folder's order.
    pub files: Vec<(PathBuf, u8)>,
    /// Hidden entries, non-image files and files beside the class folders.
    pub ignored: usize,
    /// Images in formats tune does not read (WEBP, TIFF, ...), by upper-case extension.
    pub unsupported: std::collections::BTreeMap<String, usize>,
    /// Class folders whose names differ only by case or surrounding spaces, for a warning.
    pub similar: Vec<Vec<String>>,
}

/// Lists the class folders of `root` and their images.
pub(crate) fn scan(root: &Path) -> Result<Scan, DataError> {
    let mut ignored = 0;
    let mut unsupported = std::collections::BTreeMap::new();
    let mut classes: Vec<(String, PathBuf)> = Vec::new();
    for entry in read_dir(root)? {
        let (name, path, is_dir) = entry;
        if name.starts_with('.') || !is_dir {
            ignored += 1;
        } else {
            classes.push((name, path));
        }
    }
    if classes.is_empty() {
        return Err(DataError::Invalid {
            path: root.to_path_buf(),
            problem: DataProblem::NoClasses { ignored },
        });
    }
    if classes.len() > 256 {
        return Err(DataError::Invalid {
            path: root.to_path_buf(),
            problem: DataProblem::Spec(format!(
                "holds {} class folders; tune supports at most 256 classes",
                classes.len()
            )),
        });
    }
    classes.sort();
    let mut files = Vec::new();
    for (label, (name, dir)) in classes.iter().enumerate() {
        let mut found = Vec::new();
        let mut class_ignored = 0;
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for (name, path, is_dir) in read_dir(&d)? {
                if name.starts_with('.') {
                    class_ignored += 1;
                } else if is_dir {
                    stack.push(path);
                } else if is_image(&path) {
                    found.push(path);
                } else if let Some(ext) = unsupported_image(&path) {
                    *unsupported.entry(ext).or_insert(0) += 1;
                } else {
                    class_ignored += 1;
                }
            }
        }
        if found.is_empty() {
            return Err(DataError::Invalid {
                path: dir.clone(),
                problem: DataProblem::EmptyClass {
                    class: name.clone(),
                    ignored: class_ignored,
                },
            });
        }
        found.sort();
        ignored += class_ignored;
        files.extend(found.into_iter().map(|p| (p, label as u8)));
    }
    let mut by_key: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, _) in &classes {
        by_key
            .entry(name.trim().to_lowercase())
            .or_default()
            .push(name.clone());
    }
    let similar = by_key.into_values().filter(|n| n.len() > 1).collect();
    Ok(Scan {
        classes: classes.into_iter().map(|(name, _)| name).collect(),
        files,
        ignored,
        unsupported,
        similar,
    })
}

/// The upper-case extension of an image in a format tune does not read, else `None`.
fn unsupported_image(path: &Path) -> Option<String> {
    let ext = path.extension()?.to_str()?;
    UNSUPPORTED_IMAGE_EXTENSIONS
        .iter()
        .any(|x| x.eq_ignore_ascii_case(ext))
        .then(|| ext.to_uppercase())
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// The entries of `dir`: name, path and whether it is a folder (following links). A link whose
/// target does not exist is an error naming it ([`DataProblem::BrokenLink`]): most likely a moved
/// image or class folder, not meant to be skipped. Hidden ones are left to the caller to ignore
/// (editors' lock files, `.#name`, are dangling links).
fn read_dir(dir: &Path) -> Result<Vec<(String, PathBuf, bool)>, DataError> {
    let err = |e| DataError::io("read folder", dir, e);
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let path = entry.path();
        let is_dir = match fs::metadata(&path) {
            Ok(m) => m.is_dir(),
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && path.is_symlink()
                    && !entry.file_name().to_string_lossy().starts_with('.') =>
            {
                return Err(DataError::Invalid {
                    path: path.clone(),
                    problem: DataProblem::BrokenLink {
                        target: fs::read_link(&path).unwrap_or_default(),
                    },
                });
            }
            Err(_) => false,
        };
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            path,
            is_dir,
        ));
    }
    Ok(out)
}

/// One decoded image: planar pixels of 1 or 3 channels, and its size before resizing.
struct Decoded {
    pixels: Vec<u8>,
    colour: bool,
    /// Whether the image had transparent pixels (alpha below opaque), whose alpha is dropped.
    transparent: bool,
    width: u32,
    height: u32,
}

/// Reads the image folder `paths[0]` of one split.
pub(crate) fn read(
    spec: &DataSpec,
    paths: &[PathBuf],
    train: Option<&RawSplit>,
) -> Result<RawSplit, DataError> {
    let root = match paths {
        [root] => root,
        _ => {
            return Err(crate::dataset::spec_error(
                spec,
                format!(
                    "{} paths given for one split: format folder takes one folder per split",
                    paths.len()
                ),
            ));
        }
    };
    if !root.is_dir() {
        return Err(DataError::Invalid {
            path: root.clone(),
            problem: DataProblem::Spec(
                "is not a folder: format folder takes a folder with one sub-folder per class"
                    .to_string(),
            ),
        });
    }
    let scan = scan(root)?;
    if let Some(t) = train
        && let Some(train_classes) = &t.classes
        && *train_classes != scan.classes
    {
        let only = |a: &[String], b: &[String]| {
            a.iter()
                .filter(|c| !b.contains(c))
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        let (in_train, in_test) = (
            only(train_classes, &scan.classes),
            only(&scan.classes, train_classes),
        );
        if !in_train.is_empty() {
            parts.push(format!("only in training: {in_train}"));
        }
        if !in_test.is_empty() {
            parts.push(format!("only in test: {in_test}"));
        }
        return Err(DataError::Invalid {
            path: root.clone(),
            problem: DataProblem::ClassSetsDiffer {
                train: spec.train[0].clone(),
                differences: parts.join("; "),
            },
        });
    }
    if let Some(given) = &spec.classes
        && given.len() != scan.classes.len()
    {
        return Err(DataError::Invalid {
            path: root.clone(),
            problem: DataProblem::Spec(format!(
                "holds {} class folders but {} class names are given: leave the names out (the \
                 folders name the classes) or give one per folder",
                scan.classes.len(),
                given.len()
            )),
        });
    }
    // Without `channels`, test images follow grayscale training images only if they are
    // grayscale too: colour is never dropped silently.
    let gray_train = spec.channels.is_none() && train.is_some_and(|t| t.channels == 1);
    let channels = if gray_train {
        None
    } else {
        spec.channels.or(train.map(|t| t.channels))
    };
    let decoded: Vec<Result<Decoded, DataError>> = scan
        .files
        .par_iter()
        .map(|(path, _)| decode(path, spec.size, channels))
        .collect();
    let mut images: Vec<Decoded> = Vec::with_capacity(decoded.len());
    for d in decoded {
        images.push(d?);
    }
    if gray_train && let Some(i) = images.iter().position(|d| d.colour) {
        return Err(DataError::Invalid {
            path: scan.files[i].0.clone(),
            problem: DataProblem::ColourInGrayscale {
                train: spec.train[0].clone(),
            },
        });
    }
    let channels = channels.unwrap_or(if images.iter().any(|d| d.colour) {
        3
    } else {
        1
    });
    let (height, width) = match spec.size {
        Some(size) => size,
        None => {
            let first = &images[0];
            if let Some((i, d)) = images
                .iter()
                .enumerate()
                .find(|(_, d)| (d.width, d.height) != (first.width, first.height))
            {
                return Err(DataError::Invalid {
                    path: scan.files[i].0.clone(),
                    problem: DataProblem::MixedSizes {
                        width: d.width,
                        height: d.height,
                        first: scan.files[0].0.clone(),
                        first_width: first.width,
                        first_height: first.height,
                    },
                });
            }
            (first.height as usize, first.width as usize)
        }
    };
    let image_len = channels * height * width;
    let mut pixels = Vec::with_capacity(images.len() * image_len);
    for d in &images {
        if d.colour || channels == 1 {
            pixels.extend_from_slice(&d.pixels);
        } else {
            // A grayscale image among colour ones: the same plane for red, green and blue.
            for _ in 0..channels {
                pixels.extend_from_slice(&d.pixels);
            }
        }
    }
    let mut notes = Vec::new();
    if !scan.unsupported.is_empty() {
        let n: usize = scan.unsupported.values().sum();
        let kinds: Vec<String> = scan
            .unsupported
            .iter()
            .map(|(ext, n)| format!("{n} {ext}"))
            .collect();
        notes.push(format!(
            "warning: {}: {n} images in formats tune does not read ignored ({}): tune reads PNG, \
             JPEG and BMP; convert them (e.g. `mogrify -format png *.webp`) to train on them",
            root.display(),
            kinds.join(", ")
        ));
    }
    for names in &scan.similar {
        let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        notes.push(format!(
            "warning: {}: class folders {} differ only by case or spaces, so they are separate \
             classes; merge them if they are one class",
            root.display(),
            quoted.join(" and ")
        ));
    }
    if scan.ignored > 0 {
        notes.push(format!(
            "{}: {} hidden or non-image files and folders ignored",
            root.display(),
            scan.ignored
        ));
    }
    let transparent = images.iter().filter(|d| d.transparent).count();
    let first_transparent = images
        .iter()
        .position(|d| d.transparent)
        .map(|i| scan.files[i].0.clone());
    Ok(RawSplit {
        images: pixels,
        labels: scan.files.iter().map(|(_, l)| *l).collect(),
        height,
        width,
        channels,
        classes: Some(scan.classes),
        notes,
        class_source: None,
        transparent: (transparent, first_transparent),
    })
}

/// Decodes one image, converts it to `channels` (or its own: RGB if a pixel has colour, red,
/// green and blue not all equal, else grayscale, whatever colour type the file stores) and
/// resizes it to `size` `(height, width)` if given.
fn decode(
    path: &Path,
    size: Option<(usize, usize)>,
    channels: Option<usize>,
) -> Result<Decoded, DataError> {
    let bytes = fs::read(path).map_err(|e| DataError::io("read", path, e))?;
    let img = image::load_from_memory(&bytes).map_err(|e| DataError::Invalid {
        path: path.to_path_buf(),
        problem: DataProblem::BadImage(e.to_string()),
    })?;
    let (width, height) = (img.width(), img.height());
    let transparent = has_transparency(&img);
    let mut img = match channels {
        Some(1) => DynamicImage::ImageLuma8(img.into_luma8()),
        Some(_) => DynamicImage::ImageRgb8(img.into_rgb8()),
        None if !img.color().has_color() => DynamicImage::ImageLuma8(img.into_luma8()),
        // A colour file (RGB, RGBA, palette): grayscale if its picture is gray (as many tools
        // save one), its one plane exactly the stored value.
        None => {
            let rgb = img.into_rgb8();
            if is_gray(&rgb) {
                let plane = rgb.pixels().map(|p| p.0[0]).collect();
                DynamicImage::ImageLuma8(
                    image::GrayImage::from_raw(rgb.width(), rgb.height(), plane)
                        .expect("one byte per pixel"),
                )
            } else {
                DynamicImage::ImageRgb8(rgb)
            }
        }
    };
    let colour = matches!(img, DynamicImage::ImageRgb8(_));
    if let Some((h, w)) = size
        && (w as u32, h as u32) != (width, height)
    {
        img = img.resize_exact(w as u32, h as u32, FilterType::Triangle);
    }
    let pixels = match img {
        DynamicImage::ImageRgb8(rgb) => {
            let plane = (rgb.width() * rgb.height()) as usize;
            let raw = rgb.into_raw();
            let mut planar = Vec::with_capacity(3 * plane);
            for c in 0..3 {
                planar.extend((0..plane).map(|p| raw[3 * p + c]));
            }
            planar
        }
        other => other.into_luma8().into_raw(),
    };
    Ok(Decoded {
        pixels,
        colour,
        transparent,
        width,
        height,
    })
}

/// Whether every pixel of `rgb` has equal red, green and blue (a gray picture in a colour file).
fn is_gray(rgb: &image::RgbImage) -> bool {
    rgb.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2])
}

/// Whether `img` has an alpha channel with a pixel that is not fully opaque (RGBA, gray with
/// alpha, and palette PNGs with a transparent colour, which the decoder expands to RGBA).
fn has_transparency(img: &DynamicImage) -> bool {
    if !img.color().has_alpha() {
        return false;
    }
    match img {
        DynamicImage::ImageLumaA8(i) => i.pixels().any(|p| p.0[1] < u8::MAX),
        DynamicImage::ImageRgba8(i) => i.pixels().any(|p| p.0[3] < u8::MAX),
        DynamicImage::ImageLumaA16(i) => i.pixels().any(|p| p.0[1] < u16::MAX),
        DynamicImage::ImageRgba16(i) => i.pixels().any(|p| p.0[3] < u16::MAX),
        other => other.to_rgba8().pixels().any(|p| p.0[3] < u8::MAX),
    }
}
