//! Checking data set files against the registry: the full SHA-256 check and a cheap status.

use crate::idx::Input;
use crate::locate::{SearchEnv, locate_in};
use crate::registry::{DatasetInfo, FileInfo};
use crate::{DataError, IdxProblem, Located, data_file, info};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Checks that `dir` holds the data set's four files and that the SHA-256 of each decompressed file
/// is the registry's. Stops at the first missing or differing file.
pub fn verify(dir: &Path, info: &DatasetInfo) -> Result<(), DataError> {
    let check = |file: &FileInfo| {
        let path = data_file(dir, file).ok_or_else(|| DataError::MissingFile {
            dir: dir.to_path_buf(),
            file: file.name.clone(),
            dataset: None,
        })?;
        check_file(&path, file)
    };
    for file in &info.files {
        check(file).map_err(|e| e.in_dataset(&info.name))?;
    }
    Ok(())
}

/// SHA-256 (lowercase hex) and length of a file's content, decompressed if it is gzip.
pub(crate) fn digest(path: &Path) -> Result<(String, u64), DataError> {
    let mut input = Input::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = input.read_up_to(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// Checks one file's decompressed SHA-256 and size against its registry entry.
pub(crate) fn check_file(path: &Path, file: &FileInfo) -> Result<(), DataError> {
    let (actual, actual_size) = digest(path)?;
    if actual == file.sha256 && actual_size == file.size {
        Ok(())
    } else {
        Err(DataError::ChecksumMismatch {
            path: path.to_path_buf(),
            expected: file.sha256.clone(),
            actual,
            expected_size: file.size,
            actual_size,
            dataset: None,
        })
    }
}

/// What [`status()`] found out about one data set.
#[derive(Debug)]
pub struct DatasetStatus {
    /// The data set's name.
    pub name: String,
    /// Where it is, if anywhere.
    pub located: Option<Located>,
    /// `Ok` if all four files are there with the registry's decompressed sizes, else what is wrong.
    /// Contents are not hashed: [`verify()`] does that.
    pub check: Result<(), String>,
}

/// Where data set `name` is and whether its files look right, cheaply: the decompressed size of a
/// gzip file is read from its trailer, not by decompressing it. For `tune data list`.
pub fn status(name: &str, data_dir: Option<&Path>) -> Result<DatasetStatus, DataError> {
    let info = info(name)?;
    Ok(match locate_in(info, data_dir, &SearchEnv::from_env()) {
        Ok(located) => DatasetStatus {
            name: info.name.clone(),
            check: quick_check(&located.dir, info).map_err(|e| e.to_string()),
            located: Some(located),
        },
        Err(_) => DatasetStatus {
            name: info.name.clone(),
            located: None,
            check: Err("not found".into()),
        },
    })
}

/// Checks that every file is present with the registry's decompressed size.
fn quick_check(dir: &Path, info: &DatasetInfo) -> Result<(), DataError> {
    for file in &info.files {
        let path = data_file(dir, file).ok_or_else(|| DataError::MissingFile {
            dir: dir.to_path_buf(),
            file: file.name.clone(),
            dataset: Some(info.name.clone()),
        })?;
        let found = decompressed_size(&path)?;
        if found != file.size {
            return Err(DataError::Malformed {
                path,
                problem: IdxProblem::WrongSize {
                    expected: file.size,
                    found,
                },
                dataset: Some(info.name.clone()),
            });
        }
    }
    Ok(())
}

/// The length of a raw file, or for gzip the size recorded in its trailer (modulo 2^32, exact for
/// the single-member files of the data sets, which are all under 4 GiB).
fn decompressed_size(path: &Path) -> Result<u64, DataError> {
    let io = |e| DataError::io("read", path, e);
    let mut f = File::open(path).map_err(|e| DataError::io("open", path, e))?;
    let len = f.metadata().map_err(io)?.len();
    let mut magic = [0u8; 2];
    if len < 20 || f.read_exact(&mut magic).is_err() || magic != [0x1f, 0x8b] {
        return Ok(len);
    }
    let mut trailer = [0u8; 4];
    f.seek(SeekFrom::End(-4)).map_err(io)?;
    f.read_exact(&mut trailer).map_err(io)?;
    Ok(u64::from(u32::from_le_bytes(trailer)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::{Images, encode_images, encode_labels, write_bytes};
    use tempfile::TempDir;

    /// A data set of two images of 2x2 with its real digests, written to `dir` (gzip or not).
    fn fixture(dir: &Path, gzip: bool) -> DatasetInfo {
        let images = encode_images(&Images {
            count: 2,
            rows: 2,
            cols: 2,
            pixels: vec![0, 1, 2, 3, 4, 5, 6, 7],
        });
        let labels = encode_labels(&[1, 0]);
        let mut files = Vec::new();
        for (name, bytes) in [
            ("train-images-idx3-ubyte", &images),
            ("train-labels-idx1-ubyte", &labels),
            ("t10k-images-idx3-ubyte", &images),
            ("t10k-labels-idx1-ubyte", &labels),
        ] {
            let file = FileInfo::new(
                name,
                &hex::encode(Sha256::digest(bytes)),
                bytes.len() as u64,
            );
            let on_disk = if gzip {
                file.gz_name()
            } else {
                file.name.clone()
            };
            write_bytes(&dir.join(on_disk), bytes, gzip).unwrap();
            files.push(file);
        }
        DatasetInfo {
            name: "tiny".into(),
            files: files.try_into().unwrap(),
            classes: vec!["a".into(), "b".into()],
            mirrors: vec![],
            system_package: None,
        }
    }

    #[test]
    fn verify_accepts_right_files_raw_or_gzip() {
        for gzip in [false, true] {
            let dir = TempDir::new().unwrap();
            let info = fixture(dir.path(), gzip);
            verify(dir.path(), &info).unwrap();
            quick_check(dir.path(), &info).unwrap();
        }
    }

    #[test]
    fn verify_names_file_and_both_digests() {
        let dir = TempDir::new().unwrap();
        let mut info = fixture(dir.path(), true);
        let right = info.files[2].sha256.clone();
        info.files[2].sha256 = "ab".repeat(32);
        let m = verify(dir.path(), &info).unwrap_err().to_string();
        assert!(m.contains("t10k-images-idx3-ubyte.gz"), "{m}");
        assert!(m.contains(&"ab".repeat(32)), "{m}");
        assert!(m.contains(&right), "{m}");
        assert!(m.contains("tune data fetch tiny"), "{m}");
    }

    #[test]
    fn verify_reports_a_missing_file() {
        let dir = TempDir::new().unwrap();
        let info = fixture(dir.path(), true);
        std::fs::remove_file(dir.path().join("train-labels-idx1-ubyte.gz")).unwrap();
        let m = verify(dir.path(), &info).unwrap_err().to_string();
        assert!(m.contains("missing train-labels-idx1-ubyte.gz"), "{m}");
        assert!(quick_check(dir.path(), &info).is_err());
    }

    #[test]
    fn quick_check_reads_sizes_without_hashing() {
        let dir = TempDir::new().unwrap();
        let mut info = fixture(dir.path(), true);
        // A wrong digest goes unnoticed by the cheap check ...
        info.files[0].sha256 = "00".repeat(32);
        quick_check(dir.path(), &info).unwrap();
        // ... a wrong size does not.
        info.files[1].size += 1;
        let m = quick_check(dir.path(), &info).unwrap_err().to_string();
        assert!(m.contains("train-labels-idx1-ubyte.gz"), "{m}");
        assert!(
            m.contains("decompressed size is 10 bytes, expected 11"),
            "{m}"
        );
    }

    #[test]
    fn status_of_an_explicit_directory() {
        let dir = TempDir::new().unwrap();
        let s = status("mnist", Some(dir.path())).unwrap();
        assert_eq!(s.located, None);
        assert!(s.check.is_err());
        assert!(status("nope", None).is_err());
    }
}
