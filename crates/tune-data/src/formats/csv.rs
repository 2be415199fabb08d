//! Kaggle's CSV layout: a header row, a column named `label` (anywhere, usually first) holding
//! class indices, and one column per pixel value, whole numbers 0-255, one image per row.
//! Pixel columns are usually named with their number (`pixel1`, `0`, `r0c0`); if they are, other
//! columns, whose names hold no digit (`id`, `filename`), and pandas' index column (`Unnamed: 0`)
//! are ignored and named in a note. Pixels are taken by position, so every file of a data set
//! must name the same pixel columns in the same order, no pixel column may be named twice, and
//! columns numbered with one prefix (`pixel1`, `pixel2`, ...) must come in their order.
//!
//! Pixels are in the order of the columns: row-major, and for RGB interleaved per pixel
//! (`R,G,B,R,G,B,...`, numpy's `(N, H, W, 3)` flattened), stored planar after reading.
//! Without `size`, the image is the square the pixel count makes (784 columns: 28x28); a count
//! that is not a square needs `size`. The full Fashion-MNIST training CSV (60,000 rows, 785
//! columns, 127 MB) decodes in about 0.9 s of CPU time on one core (`load_times` example).

use super::{class_limit, label_error};
use crate::dataset::{DataSpec, RawSplit};
use crate::{ClassSource, DataError, DataProblem};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Reads the CSV files `paths` of one split, in order.
pub(crate) fn read(
    spec: &DataSpec,
    paths: &[PathBuf],
    train: Option<&RawSplit>,
) -> Result<RawSplit, DataError> {
    let limit = class_limit(spec, None, train);
    let mut images = Vec::new();
    let mut labels = Vec::new();
    let mut notes = Vec::new();
    let mut shape = None;
    // Every file of the data set names the same pixel columns in the same order as the first
    // training file: pixels are taken by position, so another order would scramble the images
    // (and another count of columns is another image size).
    let mut reference: Option<(PathBuf, Vec<Vec<u8>>)> = match (train, spec.train.first()) {
        (Some(_), Some(first)) => {
            let (_, header) = open(first)?;
            Some((first.clone(), layout(first, &header)?.pixel_names(&header)))
        }
        _ => None,
    };
    for path in paths {
        let file_shape = read_file(
            spec,
            path,
            &limit,
            &mut reference,
            &mut images,
            &mut labels,
            &mut notes,
        )?;
        // Every file has the first training file's pixel columns, so its shape.
        shape.get_or_insert(file_shape);
    }
    let (height, width, channels) = shape.expect("at least one path");
    Ok(RawSplit {
        images,
        labels,
        height,
        width,
        channels,
        classes: None,
        notes,
        class_source: None,
        transparent: (0, None),
    })
}

fn invalid(path: &Path, problem: DataProblem) -> DataError {
    DataError::Invalid {
        path: path.to_path_buf(),
        problem,
    }
}

/// `` `id`, `name` `` (at most 5, then `...`): the header's columns `which`, for messages.
fn names(header: &csv::ByteRecord, which: &[usize]) -> String {
    let mut out: Vec<String> = which
        .iter()
        .take(5)
        .map(|&j| format!("`{}`", super::printable(&header[j], 40)))
        .collect();
    if which.len() > 5 {
        out.push("...".into());
    }
    out.join(", ")
}

/// Opens a CSV file and reads its header row.
fn open(path: &Path) -> Result<(csv::Reader<File>, csv::ByteRecord), DataError> {
    let file = File::open(path).map_err(|e| DataError::io("open", path, e))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(file);
    let header = reader.byte_headers().map_err(|e| syntax(path, e))?.clone();
    Ok((reader, header))
}

fn syntax(path: &Path, e: csv::Error) -> DataError {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => DataError::io("read", path, e),
        kind => invalid(path, DataProblem::CsvSyntax(format!("{kind:?}"))),
    }
}

/// Which columns of a header are the label, which are ignored, which are pixels.
struct Layout {
    label: usize,
    /// Columns that are neither the label nor pixels (`id`, `filename`, pandas' `Unnamed: 0`).
    skipped: Vec<usize>,
}

impl Layout {
    fn is_pixel(&self, j: usize) -> bool {
        j != self.label && !self.skipped.contains(&j)
    }

    /// The pixel columns' names, in file order.
    fn pixel_names(&self, header: &csv::ByteRecord) -> Vec<Vec<u8>> {
        (0..header.len())
            .filter(|&j| self.is_pixel(j))
            .map(|j| header[j].trim_ascii().to_vec())
            .collect()
    }
}

/// A column name `PREFIX` + decimal number (`pixel17`, `0`): the prefix and the number.
fn numbered_name(name: &[u8]) -> Option<(&[u8], u64)> {
    let digits = name.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 18 {
        return None;
    }
    let (prefix, number) = name.split_at(name.len() - digits);
    Some((prefix, std::str::from_utf8(number).ok()?.parse().ok()?))
}

/// Finds the label and the pixel columns of `header` (file `path`) and checks them: one `label`
/// column; no pixel column named twice; numbered pixel columns of one prefix (`pixel1`,
/// `pixel2`, ...) in their order, none missing.
fn layout(path: &Path, header: &csv::ByteRecord) -> Result<Layout, DataError> {
    let is_label = |j: usize| header[j].trim_ascii().eq_ignore_ascii_case(b"label");
    let labels: Vec<usize> = (0..header.len()).filter(|&j| is_label(j)).collect();
    let Some(&label) = labels.first() else {
        let cells: Vec<String> = header
            .iter()
            .take(4)
            .map(|c| super::printable(c, 20))
            .collect();
        let more = if header.len() > 4 { ",..." } else { "" };
        // What the file looks like, when that is not a CSV file (a PNG read as CSV, ...).
        let looks = Some(super::looks_like(path)).filter(|l| !l.contains("CSV"));
        return Err(invalid(
            path,
            DataProblem::CsvNoLabel {
                header: format!("{}{more}", cells.join(",")),
                looks: looks.unwrap_or_default(),
            },
        ));
    };
    if labels.len() > 1 {
        return Err(invalid(
            path,
            DataProblem::CsvColumns(format!(
                "{} columns are named `label` (columns {}): keep one label column",
                labels.len(),
                labels
                    .iter()
                    .map(|j| (j + 1).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        ));
    }
    // When pixel columns are numbered (`pixel1`, `0`), columns other than `label` whose names
    // hold no digit (`id`, `filename`) and pandas' index column (`Unnamed: 0`) are not pixels;
    // without numbered columns all are pixels.
    let name = |j: usize| header[j].trim_ascii();
    let numbered = |j: usize| name(j).iter().any(u8::is_ascii_digit);
    let pandas_index = |j: usize| name(j).starts_with(b"Unnamed:");
    let mut skipped: Vec<usize> = (0..header.len())
        .filter(|&j| j != label && (!numbered(j) || pandas_index(j)))
        .collect();
    if !(0..header.len()).any(|j| j != label && numbered(j) && !pandas_index(j)) {
        skipped.clear();
    }
    let layout = Layout { label, skipped };
    let pixels: Vec<usize> = (0..header.len()).filter(|&j| layout.is_pixel(j)).collect();
    let mut seen = std::collections::HashMap::new();
    for &j in &pixels {
        if let Some(first) = seen.insert(name(j), j) {
            return Err(invalid(
                path,
                DataProblem::CsvColumns(format!(
                    "columns {} and {} are both named `{}`: every pixel column needs its own name",
                    first + 1,
                    j + 1,
                    super::printable(name(j), 40)
                )),
            ));
        }
    }
    // Numbered columns of one prefix say the order of the pixels: they must come in it.
    let numbers: Option<Vec<(&[u8], u64)>> =
        pixels.iter().map(|&j| numbered_name(name(j))).collect();
    if let Some(numbers) = numbers
        && let Some(&(prefix, _)) = numbers.first()
        && numbers.iter().all(|(p, _)| *p == prefix)
    {
        let start = numbers.iter().map(|&(_, n)| n).min().unwrap_or(0);
        for (k, (&j, &(_, n))) in pixels.iter().zip(&numbers).enumerate() {
            let expected = start + k as u64;
            if n != expected {
                let want = format!("{}{expected}", String::from_utf8_lossy(prefix));
                return Err(invalid(
                    path,
                    DataProblem::CsvColumns(format!(
                        "column {} is `{}` where `{want}` belongs: pixels are read in the order \
                         of the columns, so numbered pixel columns must come in their order with \
                         none missing; write the file with its columns sorted",
                        j + 1,
                        super::printable(name(j), 40)
                    )),
                ));
            }
        }
    }
    Ok(layout)
}

/// Reads one file, appending its images (planar) and labels and its notes (ignored columns).
/// `reference` holds the pixel columns every file must have (the first file's, when `None`).
fn read_file(
    spec: &DataSpec,
    path: &Path,
    limit: &(usize, ClassSource),
    reference: &mut Option<(PathBuf, Vec<Vec<u8>>)>,
    images: &mut Vec<u8>,
    labels: &mut Vec<u8>,
    notes: &mut Vec<String>,
) -> Result<(usize, usize, usize), DataError> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let (mut reader, header) = open(path)?;
    let layout = layout(path, &header)?;
    let columns = layout.pixel_names(&header);
    match reference {
        None => *reference = Some((path.to_path_buf(), columns)),
        // Another count of pixel columns is another image size: said as such, naming both files
        // and counts, before this file's count is judged alone (its own shape advice, such as
        // `channels = 3` for 3,072 columns, cannot help when the first file's images differ).
        Some((first, expected)) if expected.len() != columns.len() => {
            let described = |n: usize| match shape(spec, n) {
                Ok((h, w, c)) => format!(" ({h}x{w}x{c} images, height x width x channels)"),
                Err(_) => String::new(),
            };
            return Err(invalid(
                path,
                DataProblem::CsvShape(format!(
                    "has {} pixel columns but {} has {}{}: the files of one data set, training \
                     and test, hold images of one size, so they need the same pixel columns; \
                     export them from images of one size",
                    tune_spec::thousands(columns.len() as u64),
                    first.display(),
                    tune_spec::thousands(expected.len() as u64),
                    described(expected.len()),
                )),
            ));
        }
        Some((first, expected)) if *expected != columns => {
            let k = expected
                .iter()
                .zip(&columns)
                .position(|(a, b)| a != b)
                .unwrap_or(expected.len().min(columns.len()));
            let show = |n: Option<&Vec<u8>>| {
                n.map_or("no column".to_string(), |n| {
                    format!("`{}`", super::printable(n, 40))
                })
            };
            return Err(invalid(
                path,
                DataProblem::CsvColumns(format!(
                    "its pixel column {} is {} where {} has {}: \
                     pixels are read by position, so every file of a data set needs the same \
                     pixel columns in the same order; write them with the same header",
                    k + 1,
                    show(columns.get(k)),
                    first.display(),
                    show(expected.get(k)),
                )),
            ));
        }
        Some(_) => {}
    }
    let (label_col, skipped) = (layout.label, layout.skipped);
    let syntax = |e: csv::Error| syntax(path, e);
    let pixels = header.len() - 1 - skipped.len();
    let (height, width, channels) = shape(spec, pixels).map_err(|m| {
        let m = if skipped.is_empty() {
            m
        } else {
            format!("{m} (columns {} are not pixels)", names(&header, &skipped))
        };
        invalid(path, DataProblem::CsvShape(m))
    })?;
    if !skipped.is_empty() {
        notes.push(format!(
            "{}: column{} {} ignored: not `label` and not a pixel (pixel columns are named with \
             their number, e.g. pixel1 or 0)",
            path.display(),
            if skipped.len() == 1 { "" } else { "s" },
            names(&header, &skipped)
        ));
    }
    let column = |j: usize| super::printable(&header[j], 40);
    // A row is about two bytes per pixel: reserve for the rows the file is likely to hold.
    let rows_guess = (size / (2 * pixels as u64 + 2)) as usize;
    images.reserve(rows_guess * pixels);
    labels.reserve(rows_guess);
    let plane = height * width;
    let mut row = vec![0u8; pixels];
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record).map_err(syntax)? {
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != header.len() {
            return Err(invalid(
                path,
                DataProblem::CsvRagged {
                    line,
                    found: record.len(),
                    expected: header.len(),
                },
            ));
        }
        let not_number = |j: usize, cell: &[u8]| {
            let value = super::printable(cell, 20);
            invalid(
                path,
                DataProblem::CsvNotNumber {
                    line,
                    column: column(j),
                    value,
                },
            )
        };
        let cell = &record[label_col];
        let label = parse_int(cell).ok_or_else(|| not_number(label_col, cell))?;
        if label < 0 || label as u64 >= limit.0 as u64 {
            return Err(label_error(path, format!("line {line}"), label, limit));
        }
        labels.push(label as u8);
        let mut k = 0;
        for (j, cell) in record.iter().enumerate() {
            if j == label_col || skipped.contains(&j) {
                continue;
            }
            row[k] = match parse_byte(cell) {
                Some(v) => v,
                None => {
                    return Err(match parse_int(cell) {
                        Some(value) => invalid(
                            path,
                            DataProblem::CsvPixelRange {
                                line,
                                column: column(j),
                                value,
                            },
                        ),
                        None => not_number(j, cell),
                    });
                }
            };
            k += 1;
        }
        if channels == 1 {
            images.extend_from_slice(&row);
        } else {
            for c in 0..channels {
                images.extend((0..plane).map(|p| row[p * channels + c]));
            }
        }
    }
    Ok((height, width, channels))
}

/// A pixel cell `0`..`255` (surrounding spaces allowed), the fast path of nearly every cell.
fn parse_byte(cell: &[u8]) -> Option<u8> {
    let cell = cell.trim_ascii();
    if cell.is_empty() || cell.len() > 3 {
        return None;
    }
    let mut v: u32 = 0;
    for &b in cell {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u32::from(d);
    }
    u8::try_from(v).ok()
}

/// A whole number, for labels and for the message about a pixel out of range.
fn parse_int(cell: &[u8]) -> Option<i64> {
    std::str::from_utf8(cell.trim_ascii()).ok()?.parse().ok()
}

/// The image shape `(height, width, channels)` of a file with `pixels` pixel columns.
fn shape(spec: &DataSpec, pixels: usize) -> Result<(usize, usize, usize), String> {
    if pixels == 0 {
        return Err(
            "the header has a `label` column but no pixel columns: each row needs the image's \
             pixel values after its label"
                .to_string(),
        );
    }
    match (spec.size, spec.channels) {
        (Some((h, w)), channels) => {
            let fits = |c: usize| h * w * c == pixels;
            match channels {
                Some(c) if fits(c) => Ok((h, w, c)),
                None if fits(1) => Ok((h, w, 1)),
                None if fits(3) => Ok((h, w, 3)),
                _ => Err(format!(
                    "size = [{h}, {w}] needs {} pixel columns ({}), but the header has {pixels}: \
                     give the images' size",
                    h * w * channels.unwrap_or(1),
                    match channels {
                        Some(3) => "3 per pixel".to_string(),
                        _ => "1 per pixel, or 3 with channels = 3".to_string(),
                    }
                )),
            }
        }
        (None, channels) => {
            let c = channels.unwrap_or(1);
            let per_channel = pixels / c;
            let side = per_channel.isqrt();
            if pixels.is_multiple_of(c) && side * side == per_channel {
                Ok((side, side, c))
            } else {
                // 3 x a square is an RGB square (never also a square: sqrt 3 is irrational).
                let rgb = (pixels / 3).isqrt();
                if c != 3 && 3 * rgb * rgb == pixels {
                    Err(format!(
                        "{pixels} pixel columns are not a square image of {c} channel(s), but \
                         {pixels} = {rgb}x{rgb}x3: for RGB images set channels = 3 (values R,G,B \
                         per pixel, row by row), or give the images' size, size = [HEIGHT, WIDTH]"
                    ))
                } else {
                    Err(format!(
                        "{pixels} pixel columns are not a square image of {c} channel(s) (the \
                         largest square is {side}x{side}): give the images' size, size = \
                         [HEIGHT, WIDTH]"
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Format;

    #[test]
    fn bytes_parse_fast_and_strictly() {
        assert_eq!(parse_byte(b"0"), Some(0));
        assert_eq!(parse_byte(b" 255 "), Some(255));
        assert_eq!(parse_byte(b"007"), Some(7));
        for bad in [&b""[..], b"256", b"-1", b"1.5", b"1e2", b"x", b"1000"] {
            assert_eq!(parse_byte(bad), None, "{bad:?}");
        }
        assert_eq!(parse_int(b"-3"), Some(-3));
        assert_eq!(parse_int(b"2.0"), None);
    }

    #[test]
    fn shape_from_size_or_square() {
        let mut spec = DataSpec::new(Format::Csv, "a", "b");
        assert_eq!(shape(&spec, 784), Ok((28, 28, 1)));
        assert!(
            shape(&spec, 785)
                .unwrap_err()
                .contains("largest square is 28x28")
        );
        spec.channels = Some(3);
        assert_eq!(shape(&spec, 3072), Ok((32, 32, 3)));
        spec.channels = None;
        spec.size = Some((2, 3));
        assert_eq!(shape(&spec, 6), Ok((2, 3, 1)));
        assert_eq!(shape(&spec, 18), Ok((2, 3, 3)));
        assert!(
            shape(&spec, 7)
                .unwrap_err()
                .contains("needs 6 pixel columns")
        );
    }
}
