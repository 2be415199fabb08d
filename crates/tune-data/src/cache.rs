//! The on-disk cache of decoded data sets, so that a data set is decoded once, not on every run.
//!
//! One cache file per data set description ([`DataSpec`]: format, absolute paths, settings),
//! named by the SHA-256 of that description, in the folder the caller gives (normally
//! [`decoded_cache_dir()`]). Inside: a fingerprint of the source files' content (SHA-256 over
//! each file's path, length and bytes; for a folder over every entry below it, sorted), the
//! decoded data and its content hash ([`DecodedDataset::sha256`]). A later load reads and hashes
//! the source files again and uses the cache file only when that fingerprint matches and the
//! content hash of what it read is the stored one; otherwise it decodes again and replaces the
//! file. Freshness therefore depends on the bytes, never on sizes or modification times: a file
//! rewritten with the same size and time (`touch -r`, a copy that keeps times) is decoded again.
//! A changed source replaces its entry rather than adding one. The cost of a hit is reading the
//! sources once (SHA-256 runs at about 1-2 GB/s, well below CSV parsing or PNG decoding).
//!
//! The folder is bounded: after each write, the least recently used entries (by modification
//! time, which a read refreshes) are deleted until the folder holds at most 2 GiB
//! (`TUNE_DECODED_CACHE_MB` sets another bound in MiB); the entry just written always stays.
//! A pruned data set is simply decoded again the next time.
//!
//! Layout (integers little-endian): `TUNEDEC\0`, version `u32`, fingerprint (32 bytes), format
//! (`u8`), height, width, channels (`u64`), class names and notes (count, then length and UTF-8
//! bytes each), training and test image counts, training labels, test labels, training pixels,
//! test pixels, the content hash (32 bytes). Writes go to a temporary file renamed into place.

use crate::dataset::{DataSpec, DecodedDataset, DecodedSplit, Format, TestSet, content_hash};
use crate::{DataError, cache_dir, decode};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"TUNEDEC\0";
/// Bumped when the layout, the fingerprint or the decoding changes; files of another version are
/// rebuilt. Version 1 fingerprinted sizes and modification times; 2 hashes the files' bytes; 3
/// reads a gray picture stored in a colour file (RGB, RGBA, palette) as grayscale.
const VERSION: u32 = 3;

/// What [`decode_cached`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// The data came from the cache file.
    Hit(PathBuf),
    /// The data was decoded and written to the cache file (there was none).
    Written(PathBuf),
    /// The cache file was out of date or damaged (`reason`); the data was decoded again and the
    /// file replaced.
    Rebuilt {
        /// The cache file.
        path: PathBuf,
        /// Why it was not used.
        reason: String,
    },
    /// The data was decoded, but the cache file could not be written (`reason`): the next run
    /// decodes again.
    NotWritten {
        /// The cache file.
        path: PathBuf,
        /// The error.
        reason: String,
    },
}

/// Tune's folder of decoded data sets: `decoded` in [`cache_dir()`].
pub fn decoded_cache_dir() -> Result<PathBuf, DataError> {
    Ok(cache_dir()?.join("decoded"))
}

/// The data set `spec` describes, from its cache file in `dir` if that is current, else decoded
/// ([`decode()`]) and written there. A damaged, stale or unreadable cache file is never an error
/// (it is rebuilt; a failure to write is reported in the [`CacheOutcome`] and logged); errors
/// are [`decode()`]'s.
pub fn decode_cached(
    spec: &DataSpec,
    dir: &Path,
) -> Result<(DecodedDataset, CacheOutcome), DataError> {
    // Before the fingerprint reads them: a pipe given as data would block it.
    crate::dataset::check_paths(spec)?;
    let path = dir.join(format!("{}.tunedata", entry_name(spec)));
    let fingerprint = fingerprint(spec);
    let mut reason = None;
    if let Some(fp) = &fingerprint
        && path.exists()
    {
        match fs::read(&path)
            .map_err(|e| format!("cannot read it: {e}"))
            .and_then(|bytes| parse(&bytes, fp))
        {
            Ok(data) => {
                tracing::debug!(path = %path.display(), "decoded data set from the cache");
                // Used now: the last entry to be pruned (see [`prune`]).
                if let Err(e) = fs::File::options()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(std::time::SystemTime::now()))
                {
                    tracing::debug!(path = %path.display(), "cannot mark the entry used: {e}");
                }
                return Ok((data, CacheOutcome::Hit(path)));
            }
            Err(r) => {
                tracing::info!(path = %path.display(), "decoding again: {r}");
                reason = Some(r);
            }
        }
    }
    let data = decode(spec)?;
    let Some(fp) = fingerprint else {
        // The files could not all be looked at, yet decoded: do not cache what cannot be checked.
        return Ok((
            data,
            CacheOutcome::NotWritten {
                path,
                reason: "the source files cannot all be read for their content hash".into(),
            },
        ));
    };
    let outcome = match write(dir, &path, &serialize(&data, &fp)) {
        Ok(()) => {
            prune(dir, &path, max_bytes());
            match reason {
                Some(reason) => CacheOutcome::Rebuilt { path, reason },
                None => CacheOutcome::Written(path),
            }
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), "cannot cache the decoded data set: {e}");
            CacheOutcome::NotWritten {
                path,
                reason: e.to_string(),
            }
        }
    };
    Ok((data, outcome))
}

/// The environment variable bounding the folder of decoded data sets, in MiB (fractions
/// allowed); [`DEFAULT_MAX_MIB`] without it.
pub const MAX_MIB_VAR: &str = "TUNE_DECODED_CACHE_MB";

/// The default bound of the folder of decoded data sets: 2 GiB, about ten 60,000-image 32x32 RGB
/// data sets (184 MB each) or forty Fashion-MNISTs (55 MB each).
pub const DEFAULT_MAX_MIB: f64 = 2048.0;

/// The bound in bytes: [`MAX_MIB_VAR`] if it is a number of MiB (0 or more), else
/// [`DEFAULT_MAX_MIB`] (a value that is not a number is logged and ignored).
fn max_bytes() -> u64 {
    let mib = match std::env::var(MAX_MIB_VAR) {
        Ok(v) => match v.trim().parse::<f64>() {
            Ok(m) if m >= 0.0 && m.is_finite() => m,
            _ => {
                tracing::warn!("{MAX_MIB_VAR}={v} is not a size in MiB (e.g. 2048); using 2048");
                DEFAULT_MAX_MIB
            }
        },
        Err(_) => DEFAULT_MAX_MIB,
    };
    (mib * 1024.0 * 1024.0) as u64
}

/// Keeps the folder `dir` of decoded data sets within `max_bytes`: deletes the least recently
/// used entries (oldest modification time: an entry's time is set when it is written and each
/// time it is read) until the rest fit, never `keep` (the entry just written, which may exceed
/// the bound alone). Only `*.tunedata` files are counted or deleted; failures are logged, never
/// errors (the next write tries again).
fn prune(dir: &Path, keep: &Path, max_bytes: u64) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            if path.extension()? != "tunedata" {
                return None;
            }
            let m = fs::metadata(&path).ok()?;
            Some((m.modified().ok()?, m.len(), path))
        })
        .collect();
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    // Oldest first.
    files.sort();
    for (_, len, path) in files {
        if total <= max_bytes {
            break;
        }
        if path == keep {
            continue;
        }
        match fs::remove_file(&path) {
            Ok(()) => {
                total -= len;
                tracing::info!(path = %path.display(), "pruned the least recently used decoded data set");
            }
            Err(e) => tracing::debug!(path = %path.display(), "cannot prune: {e}"),
        }
    }
}

/// The cache file's name: SHA-256 of the description, with absolute paths.
fn entry_name(spec: &DataSpec) -> String {
    let mut h = Sha256::new();
    h.update(VERSION.to_le_bytes());
    h.update(spec.format.name());
    let paths = |h: &mut Sha256, tag: &str, paths: &[PathBuf]| {
        h.update(tag);
        for p in paths {
            let p = fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            h.update(p.as_os_str().as_encoded_bytes());
            h.update([0]);
        }
    };
    paths(&mut h, "train", &spec.train);
    match &spec.test {
        TestSet::Paths(p) => paths(&mut h, "test", p),
        TestSet::Split(f) => h.update(format!("split {f:e}")),
    }
    h.update(format!(
        "{:?} {:?} {:?}",
        spec.size, spec.channels, spec.classes
    ));
    hex::encode(h.finalize())
}

/// SHA-256 over path, length and bytes of every source file (for folders, of every entry below
/// them, sorted), or `None` if one cannot be read.
fn fingerprint(spec: &DataSpec) -> Option<[u8; 32]> {
    let mut h = Sha256::new();
    let mut files: Vec<PathBuf> = spec.train.clone();
    if let TestSet::Paths(p) = &spec.test {
        files.extend(p.iter().cloned());
    }
    match spec.format {
        Format::Idx => {
            // The label files found beside lone image files.
            let extra: Vec<PathBuf> = files
                .iter()
                .filter_map(|p| crate::formats::idx::labels_beside(p).ok())
                .collect();
            files.extend(extra);
        }
        Format::Cifar => files.push(spec.train[0].with_file_name("batches.meta.txt")),
        Format::Csv | Format::Folder => {}
    }
    let mut stack: Vec<PathBuf> = files.into_iter().rev().collect();
    while let Some(p) = stack.pop() {
        h.update(p.as_os_str().as_encoded_bytes());
        match fs::metadata(&p) {
            Ok(m) if m.is_dir() => {
                h.update(b"/dir");
                let mut entries: Vec<PathBuf> = fs::read_dir(&p)
                    .ok()?
                    .map(|e| e.map(|e| e.path()))
                    .collect::<Result<_, _>>()
                    .ok()?;
                entries.sort();
                stack.extend(entries.into_iter().rev());
            }
            Ok(m) if !m.is_file() => return None,
            Ok(_) => {
                // Length, then bytes: the content decides, never the size or time alone.
                let mut file = fs::File::open(&p).ok()?;
                let mut buf = vec![0u8; 1 << 16];
                let mut len = 0u64;
                let mut content = Sha256::new();
                loop {
                    match file.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            content.update(&buf[..n]);
                            len += n as u64;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => return None,
                    }
                }
                h.update(b"/file");
                h.update(len.to_le_bytes());
                h.update(content.finalize());
            }
            // Optional files (a CIFAR meta file) may be missing; their absence is hashed.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => h.update(b"/missing"),
            Err(_) => return None,
        }
    }
    Some(h.finalize().into())
}

fn write(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn serialize(data: &DecodedDataset, fingerprint: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.memory_bytes() + 4096);
    let n = |out: &mut Vec<u8>, v: usize| out.extend_from_slice(&(v as u64).to_le_bytes());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(fingerprint);
    out.push(Format::ALL.iter().position(|f| *f == data.format).unwrap() as u8);
    for v in [data.height, data.width, data.channels] {
        n(&mut out, v);
    }
    for list in [&data.classes, &data.notes] {
        n(&mut out, list.len());
        for s in list {
            n(&mut out, s.len());
            out.extend_from_slice(s.as_bytes());
        }
    }
    n(&mut out, data.train.len);
    n(&mut out, data.test.len);
    out.extend_from_slice(&data.train.labels);
    out.extend_from_slice(&data.test.labels);
    out.extend_from_slice(&data.train.images);
    out.extend_from_slice(&data.test.images);
    out.extend_from_slice(&hex::decode(&data.sha256).expect("hex digest"));
    out
}

/// Reads a cache file; the error says why it cannot be used.
fn parse(bytes: &[u8], fingerprint: &[u8; 32]) -> Result<DecodedDataset, String> {
    let mut r = Reader { bytes, pos: 0 };
    if r.take(8)? != MAGIC {
        return Err("not a tune cache file".into());
    }
    let version = u32::from_le_bytes(r.take(4)?.try_into().unwrap());
    if version != VERSION {
        return Err(format!(
            "cache version {version}, this tune writes {VERSION}"
        ));
    }
    if r.take(32)? != fingerprint {
        return Err("the source files changed".into());
    }
    let format = *Format::ALL
        .get(usize::from(r.take(1)?[0]))
        .ok_or("unknown format")?;
    let (height, width, channels) = (r.size()?, r.size()?, r.size()?);
    let mut lists = [Vec::new(), Vec::new()];
    for list in &mut lists {
        for _ in 0..r.size()? {
            let len = r.size()?;
            let s = std::str::from_utf8(r.take(len)?).map_err(|_| "damaged text")?;
            list.push(s.to_string());
        }
    }
    let [classes, notes] = lists;
    let (train_len, test_len) = (r.size()?, r.size()?);
    let image_len = height
        .checked_mul(width)
        .and_then(|v| v.checked_mul(channels))
        .ok_or("damaged shape")?;
    let bytes_of = |len: usize| len.checked_mul(image_len).ok_or("damaged counts");
    let train_labels = r.take(train_len)?.to_vec();
    let test_labels = r.take(test_len)?.to_vec();
    let train_images = r.take(bytes_of(train_len)?)?.to_vec();
    let test_images = r.take(bytes_of(test_len)?)?.to_vec();
    let stored = hex::encode(r.take(32)?);
    if r.pos != bytes.len() {
        return Err(format!("{} bytes too many", bytes.len() - r.pos));
    }
    if let Some(&l) = train_labels
        .iter()
        .chain(&test_labels)
        .find(|&&l| usize::from(l) >= classes.len())
    {
        return Err(format!("label {l} is not a class"));
    }
    let train = DecodedSplit::new(train_images, train_labels, image_len);
    let test = DecodedSplit::new(test_images, test_labels, image_len);
    let sha256 = content_hash((height, width, channels), &classes, &train, &test);
    if sha256 != stored {
        return Err("damaged: the content hash differs from the stored one".into());
    }
    Ok(DecodedDataset {
        format,
        height,
        width,
        channels,
        classes,
        train,
        test,
        sha256,
        notes,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| format!("truncated at byte {}", self.bytes.len()))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn size(&mut self) -> Result<usize, String> {
        let v = u64::from_le_bytes(self.take(8)?.try_into().unwrap());
        usize::try_from(v).map_err(|_| "damaged size".to_string())
    }
}
