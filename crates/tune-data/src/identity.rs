//! The identity of the data a job trains on: one SHA-256 for a data set's four files, and
//! whether they are the canonical files of the named data set.

use crate::registry::DatasetInfo;
use crate::verify::digest;
use crate::{DataError, data_file};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Which data a directory holds for a data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataIdentity {
    /// SHA-256 (lowercase hex) over the four files' decompressed SHA-256 digests, in registry
    /// order (train images, train labels, test images, test labels), each as lowercase hex
    /// followed by a newline. Equal for equal contents, gzip or not.
    pub sha256: String,
    /// Whether every file's digest and size are the registry's (the canonical data set).
    pub verified: bool,
    /// When not verified: the first file that differs (a [`DataError::ChecksumMismatch`]'s
    /// message: file, expected and actual SHA-256 and size).
    pub mismatch: Option<String>,
}

/// The identity of the canonical files of `info` (what a verified directory has).
pub fn canonical_identity(info: &DatasetInfo) -> String {
    combine(info.files.iter().map(|f| f.sha256.as_str()))
}

fn combine<'a>(digests: impl Iterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    for d in digests {
        h.update(d.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// Hashes the four files of `info` in `dir` (decompressing gzip), about a second for the full
/// MNIST on one core. Errors: a missing or unreadable file.
pub fn identify(dir: &Path, info: &DatasetInfo) -> Result<DataIdentity, DataError> {
    let mut digests = Vec::with_capacity(info.files.len());
    let mut mismatch = None;
    for file in &info.files {
        let path = data_file(dir, file).ok_or_else(|| DataError::MissingFile {
            dir: dir.to_path_buf(),
            file: file.name.clone(),
            dataset: Some(info.name.clone()),
        })?;
        let (actual, actual_size) = digest(&path)?;
        if mismatch.is_none() && (actual != file.sha256 || actual_size != file.size) {
            mismatch = Some(
                DataError::ChecksumMismatch {
                    path: path.clone(),
                    expected: file.sha256.clone(),
                    actual: actual.clone(),
                    expected_size: file.size,
                    actual_size,
                    dataset: None,
                }
                .in_dataset(&info.name)
                .to_string(),
            );
        }
        digests.push(actual);
    }
    Ok(DataIdentity {
        sha256: combine(digests.iter().map(String::as_str)),
        verified: mismatch.is_none(),
        mismatch,
    })
}
