//! IDX files (the format of MNIST and Fashion-MNIST), raw or gzip-compressed.
//!
//! An IDX file is a big-endian header, the magic number `0x0000_08NN` (unsigned bytes, `NN`
//! dimensions) followed by one `u32` per dimension, then the bytes. Images have three dimensions
//! (count, rows, cols), labels one. Compression is detected from the gzip magic bytes `1f 8b`, not from
//! the file name. The payload must be exactly as long as the header says.

use crate::{DataError, IdxProblem};
use flate2::bufread::MultiGzDecoder;
use flate2::write::GzEncoder;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Magic number of an IDX file of unsigned bytes with three dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with one dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Grayscale images as stored in an IDX file: `count` images of `rows` x `cols` bytes, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    /// Number of images.
    pub count: usize,
    /// Height of each image.
    pub rows: usize,
    /// Width of each image.
    pub cols: usize,
    /// `count * rows * cols` pixel values, image after image.
    pub pixels: Vec<u8>,
}

/// Reads an IDX image file (magic `0x00000803`), raw or gzip.
pub fn read_images(path: &Path) -> Result<Images, DataError> {
    let mut input = Input::open(path)?;
    let dims = input.header(IMAGES_MAGIC, 3)?;
    let [count, rows, cols] = [dims[0], dims[1], dims[2]];
    let what = format!("{count} images of {rows}x{cols}");
    let pixels = input.payload(&what, &[count, rows, cols])?;
    Ok(Images {
        count: count as usize,
        rows: rows as usize,
        cols: cols as usize,
        pixels,
    })
}

/// The dimensions `(count, rows, cols)` of an IDX image file, from its header alone (the pixels
/// are not read or checked): what `tune run --dry-run` needs to size a job.
pub fn read_image_dims(path: &Path) -> Result<(usize, usize, usize), DataError> {
    let mut input = Input::open(path)?;
    let dims = input.header(IMAGES_MAGIC, 3)?;
    Ok((dims[0] as usize, dims[1] as usize, dims[2] as usize))
}

/// Reads an IDX label file (magic `0x00000801`), raw or gzip.
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let mut input = Input::open(path)?;
    let dims = input.header(LABELS_MAGIC, 1)?;
    let what = format!("{} labels", dims[0]);
    input.payload(&what, &dims)
}

/// The bytes of an IDX image file holding `images`.
///
/// # Panics
/// If `images.pixels` does not hold `count * rows * cols` values, or a dimension exceeds `u32`.
pub fn encode_images(images: &Images) -> Vec<u8> {
    assert_eq!(
        images.pixels.len(),
        images.count * images.rows * images.cols,
        "Images: pixels.len() must be count * rows * cols"
    );
    let mut out = Vec::with_capacity(16 + images.pixels.len());
    out.extend_from_slice(&IMAGES_MAGIC.to_be_bytes());
    for d in [images.count, images.rows, images.cols] {
        out.extend_from_slice(&u32::try_from(d).expect("dimension fits u32").to_be_bytes());
    }
    out.extend_from_slice(&images.pixels);
    out
}

/// The bytes of an IDX label file holding `labels`.
///
/// # Panics
/// If there are more than `u32::MAX` labels.
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    let count = u32::try_from(labels.len()).expect("label count fits u32");
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(labels);
    out
}

/// Writes `images` as an IDX image file, gzip-compressed if `gzip`. Used to make test fixtures.
///
/// # Panics
/// As [`encode_images`].
pub fn write_images(path: &Path, images: &Images, gzip: bool) -> Result<(), DataError> {
    write_bytes(path, &encode_images(images), gzip)
}

/// Writes `labels` as an IDX label file, gzip-compressed if `gzip`. Used to make test fixtures.
pub fn write_labels(path: &Path, labels: &[u8], gzip: bool) -> Result<(), DataError> {
    write_bytes(path, &encode_labels(labels), gzip)
}

/// Writes `bytes` to `path`, gzip-compressed if `gzip`.
pub fn write_bytes(path: &Path, bytes: &[u8], gzip: bool) -> Result<(), DataError> {
    let err = |e| DataError::io("write", path, e);
    let file = BufWriter::new(File::create(path).map_err(err)?);
    if gzip {
        let mut enc = GzEncoder::new(file, flate2::Compression::default());
        enc.write_all(bytes).map_err(err)?;
        enc.finish().map_err(err)?.flush().map_err(err)
    } else {
        let mut file = file;
        file.write_all(bytes).map_err(err)?;
        file.flush().map_err(err)
    }
}

/// Whether the file starts with the gzip magic bytes.
pub fn is_gzip(path: &Path) -> Result<bool, DataError> {
    let mut reader = BufReader::new(File::open(path).map_err(|e| DataError::io("open", path, e))?);
    let head = reader
        .fill_buf()
        .map_err(|e| DataError::io("read", path, e))?;
    Ok(head.starts_with(&GZIP_MAGIC))
}

/// A file's content, decompressed if it is gzip, with errors that name the file.
pub(crate) struct Input {
    path: PathBuf,
    gzip: bool,
    reader: Box<dyn Read>,
}

impl Input {
    /// Opens `path`, detecting gzip by its magic bytes.
    pub(crate) fn open(path: &Path) -> Result<Self, DataError> {
        let file = File::open(path).map_err(|e| DataError::io("open", path, e))?;
        let mut buffered = BufReader::with_capacity(1 << 16, file);
        let head = buffered
            .fill_buf()
            .map_err(|e| DataError::io("read", path, e))?;
        let gzip = head.starts_with(&GZIP_MAGIC);
        let reader: Box<dyn Read> = if gzip {
            Box::new(MultiGzDecoder::new(buffered))
        } else {
            Box::new(buffered)
        };
        Ok(Input {
            path: path.to_path_buf(),
            gzip,
            reader,
        })
    }

    fn malformed(&self, problem: IdxProblem) -> DataError {
        DataError::Malformed {
            path: self.path.clone(),
            problem,
            dataset: None,
        }
    }

    fn read_error(&self, e: io::Error) -> DataError {
        if self.gzip {
            self.malformed(IdxProblem::Gzip(e))
        } else {
            DataError::io("read", &self.path, e)
        }
    }

    /// Fills as much of `buf` as the content allows; returns the number of bytes read.
    pub(crate) fn read_up_to(&mut self, buf: &mut [u8]) -> Result<usize, DataError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.reader.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.read_error(e)),
            }
        }
        Ok(filled)
    }

    /// Reads and discards the rest of the content; returns its length.
    pub(crate) fn skip_rest(&mut self) -> Result<u64, DataError> {
        io::copy(&mut self.reader, &mut io::sink()).map_err(|e| self.read_error(e))
    }

    /// Reads the header, checks the magic number, returns the dimensions.
    fn header(&mut self, magic: u32, ndims: usize) -> Result<Vec<u32>, DataError> {
        let len = 4 + 4 * ndims;
        let mut buf = vec![0u8; len];
        let found = self.read_up_to(&mut buf)?;
        let word = |i: usize| u32::from_be_bytes(buf[4 * i..4 * i + 4].try_into().unwrap());
        if found >= 4 && word(0) != magic {
            return Err(self.malformed(IdxProblem::BadMagic {
                expected: magic,
                found: word(0),
            }));
        }
        if found < len {
            return Err(self.malformed(IdxProblem::ShortHeader {
                expected: len,
                found,
            }));
        }
        Ok((1..=ndims).map(word).collect())
    }

    /// Reads exactly the payload announced by `dims`; a shorter or longer payload is an error.
    fn payload(&mut self, what: &str, dims: &[u32]) -> Result<Vec<u8>, DataError> {
        let expected = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d)))
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                self.malformed(IdxProblem::TooLarge {
                    what: what.to_string(),
                })
            })?;
        // Grow as the data arrives rather than trusting the header with one huge allocation.
        let mut bytes = Vec::with_capacity(expected.min(1 << 26));
        let found = (&mut self.reader)
            .take(expected as u64)
            .read_to_end(&mut bytes)
            .map_err(|e| self.read_error(e))?;
        if found < expected {
            return Err(self.malformed(IdxProblem::Truncated {
                what: what.to_string(),
                expected: expected as u64,
                found: found as u64,
            }));
        }
        let extra = self.skip_rest()?;
        if extra > 0 {
            return Err(self.malformed(IdxProblem::TrailingBytes {
                what: what.to_string(),
                expected: expected as u64,
                extra,
            }));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    fn sample() -> Images {
        Images {
            count: 3,
            rows: 2,
            cols: 4,
            pixels: (0..24).map(|i| (i * 10) as u8).collect(),
        }
    }

    fn write(dir: &TempDir, name: &str, bytes: &[u8], gzip: bool) -> PathBuf {
        let path = dir.path().join(name);
        write_bytes(&path, bytes, gzip).unwrap();
        path
    }

    /// The error message, checked to name the file.
    fn message(path: &Path, e: DataError) -> String {
        let m = e.to_string();
        assert!(
            m.contains(&path.display().to_string()),
            "no file name in: {m}"
        );
        m
    }

    #[test]
    fn round_trip_raw_and_gzip() {
        let dir = TempDir::new().unwrap();
        for gzip in [false, true] {
            // The name never says whether the file is compressed.
            let images_path = dir.path().join(format!("images-{gzip}"));
            let labels_path = dir.path().join(format!("labels-{gzip}"));
            write_images(&images_path, &sample(), gzip).unwrap();
            write_labels(&labels_path, &[3, 1, 4], gzip).unwrap();
            assert_eq!(is_gzip(&images_path).unwrap(), gzip);
            assert_eq!(read_images(&images_path).unwrap(), sample());
            assert_eq!(read_labels(&labels_path).unwrap(), vec![3, 1, 4]);
        }
    }

    #[test]
    fn encoding_is_the_idx_layout() {
        let bytes = encode_labels(&[7, 2]);
        assert_eq!(bytes, [0, 0, 8, 1, 0, 0, 0, 2, 7, 2]);
        let bytes = encode_images(&sample());
        assert_eq!(
            &bytes[..16],
            &[0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 4]
        );
        assert_eq!(bytes.len(), 16 + 24);
    }

    #[test]
    fn bad_magic_is_an_error() {
        let dir = TempDir::new().unwrap();
        let path = write(&dir, "x", &encode_labels(&[1, 2, 3]), false);
        let m = message(&path, read_images(&path).unwrap_err());
        assert!(
            m.contains("IDX label file, expected an IDX image file"),
            "{m}"
        );

        let mut bytes = encode_images(&sample());
        bytes[..4].copy_from_slice(b"GIF8");
        let path = write(&dir, "y", &bytes, true);
        let m = message(&path, read_images(&path).unwrap_err());
        assert!(m.contains("not an IDX image file"), "{m}");
    }

    #[test]
    fn wrong_dimension_count_is_an_error() {
        let dir = TempDir::new().unwrap();
        let mut bytes = encode_images(&sample());
        bytes[3] = 2;
        let path = write(&dir, "two-dims", &bytes, false);
        let m = message(&path, read_images(&path).unwrap_err());
        assert!(m.contains("2 dimensions, expected 3"), "{m}");
    }

    #[test]
    fn short_header_is_an_error() {
        let dir = TempDir::new().unwrap();
        let path = write(&dir, "short", &encode_images(&sample())[..10], false);
        let m = message(&path, read_images(&path).unwrap_err());
        assert!(m.contains("too short for an IDX header: 10 bytes"), "{m}");
        let path = write(&dir, "empty", &[], false);
        message(&path, read_labels(&path).unwrap_err());
    }

    #[test]
    fn truncated_payload_is_an_error() {
        let dir = TempDir::new().unwrap();
        let bytes = encode_images(&sample());
        for gzip in [false, true] {
            let path = write(
                &dir,
                &format!("cut-{gzip}"),
                &bytes[..bytes.len() - 5],
                gzip,
            );
            let m = message(&path, read_images(&path).unwrap_err());
            assert!(
                m.contains(
                    "truncated: header says 3 images of 2x4 (24 bytes) but only 19 bytes follow"
                ),
                "{m}"
            );
            assert!(m.contains("tune data fetch"), "{m}");
        }
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let dir = TempDir::new().unwrap();
        let mut bytes = encode_labels(&[1, 2, 3]);
        bytes.extend_from_slice(&[0, 0]);
        for gzip in [false, true] {
            let path = write(&dir, &format!("long-{gzip}"), &bytes, gzip);
            let m = message(&path, read_labels(&path).unwrap_err());
            assert!(
                m.contains("header says 3 labels (3 bytes) but 2 more bytes follow"),
                "{m}"
            );
        }
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("full.gz");
        write_images(&path, &sample(), true).unwrap();
        let gz = std::fs::read(&path).unwrap();
        // Cut inside the deflate stream, and inside the 8-byte trailer.
        for cut in [gz.len() / 2, gz.len() - 3] {
            let path = write(&dir, &format!("cut-{cut}.gz"), &gz[..cut], false);
            let m = message(&path, read_images(&path).unwrap_err());
            assert!(m.contains("corrupt or truncated gzip data"), "{m}");
        }
    }

    #[test]
    fn garbage_after_gzip_stream_is_an_error() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("full.gz");
        write_labels(&path, &[1, 2, 3], true).unwrap();
        let mut gz = std::fs::read(&path).unwrap();
        gz.extend_from_slice(b"junk after the stream");
        let path = write(&dir, "junk.gz", &gz, false);
        message(&path, read_labels(&path).unwrap_err());
    }

    #[test]
    fn missing_file_names_the_file() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("nope");
        let m = message(&path, read_labels(&path).unwrap_err());
        assert!(m.contains("cannot open"), "{m}");
    }

    #[test]
    fn absurd_dimensions_are_an_error_not_an_abort() {
        let dir = TempDir::new().unwrap();
        let mut bytes = IMAGES_MAGIC.to_be_bytes().to_vec();
        for d in [u32::MAX, u32::MAX, u32::MAX] {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        let path = write(&dir, "huge", &bytes, false);
        let m = message(&path, read_images(&path).unwrap_err());
        assert!(m.contains("too large"), "{m}");
    }
}
