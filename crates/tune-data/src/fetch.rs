//! Downloading a data set into tune's cache.
//!
//! Each file is streamed into a temporary file beside its final place, its decompressed SHA-256 is
//! checked against the registry, and only then is it renamed to its final name. A failed, cut or
//! corrupt download leaves nothing behind. Files already present and verified are skipped.

use crate::idx::is_gzip;
use crate::registry::{DatasetInfo, FileInfo};
use crate::verify::{check_file, digest};
use crate::{DataError, IdxProblem, SearchEnv, cache_dir, data_file, info};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::NamedTempFile;

/// How to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// Directory of data sets; files go to `dest_root/NAME/`. Normally [`cache_dir()`].
    pub dest_root: PathBuf,
    /// Base URL to download from instead of the registry's mirrors (a file's URL is the base
    /// followed by `NAME.gz`). If `None`, `$TUNE_MIRROR` if set, else the registry's mirrors in order.
    pub mirror: Option<String>,
    /// Download again even if the files are present and verified.
    pub force: bool,
}

impl FetchOptions {
    /// Options that download into `dest_root` from the default mirrors, skipping verified files.
    pub fn new(dest_root: impl Into<PathBuf>) -> Self {
        FetchOptions {
            dest_root: dest_root.into(),
            mirror: None,
            force: false,
        }
    }

    /// Options that download into tune's cache directory ([`cache_dir()`]).
    pub fn to_cache() -> Result<Self, DataError> {
        Ok(Self::new(cache_dir()?))
    }
}

/// Progress of [`fetch()`], one file at a time, in the registry's order.
#[derive(Debug, Clone, Copy)]
pub enum FetchEvent<'a> {
    /// A download began; `total` is its length in bytes if the server said.
    Started {
        /// The file's name without `.gz`.
        file: &'a str,
        /// The URL being downloaded.
        url: &'a str,
        /// Expected length in bytes, from `Content-Length`.
        total: Option<u64>,
    },
    /// More bytes arrived.
    Progress {
        /// The file's name without `.gz`.
        file: &'a str,
        /// Bytes received so far for this file.
        bytes: u64,
    },
    /// The file was downloaded, verified and put in place.
    Finished {
        /// The file's name without `.gz`.
        file: &'a str,
    },
    /// The file was already present and verified.
    Skipped {
        /// The file's name without `.gz`.
        file: &'a str,
    },
    /// A mirror failed for this file; the next one is tried, if any.
    MirrorFailed {
        /// The file's name without `.gz`.
        file: &'a str,
        /// The URL that failed.
        url: &'a str,
        /// Why.
        error: &'a DataError,
    },
}

/// Downloads data set `name` into `opts.dest_root/NAME/` and returns that directory.
pub fn fetch(
    name: &str,
    opts: &FetchOptions,
    progress: &mut dyn FnMut(FetchEvent<'_>),
) -> Result<PathBuf, DataError> {
    fetch_info(info(name)?, opts, progress)
}

/// [`fetch()`] for a data set described by `info`, which need not be a known one (tests use this).
pub fn fetch_info(
    info: &DatasetInfo,
    opts: &FetchOptions,
    progress: &mut dyn FnMut(FetchEvent<'_>),
) -> Result<PathBuf, DataError> {
    let dir = opts.dest_root.join(&info.name);
    // The folders this call creates, deepest first: removed again if nothing was downloaded, so
    // that a failed fetch leaves no empty cache folder behind.
    let created: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
        .map(Path::to_path_buf)
        .collect();
    std::fs::create_dir_all(&dir).map_err(|e| DataError::io("create directory", &dir, e))?;
    let result = fetch_into(info, opts, &dir, progress);
    if result.is_err() {
        for folder in &created {
            // Only empty folders go: `remove_dir` refuses any other.
            if std::fs::remove_dir(folder).is_err() {
                break;
            }
        }
    }
    result.map(|()| dir)
}

fn fetch_into(
    info: &DatasetInfo,
    opts: &FetchOptions,
    dir: &Path,
    progress: &mut dyn FnMut(FetchEvent<'_>),
) -> Result<(), DataError> {
    let dir = dir.to_path_buf();
    let env_mirror = SearchEnv::from_env().mirror;
    let mirrors: Vec<Mirror> = match opts.mirror.clone().or(env_mirror) {
        Some(base) => vec![Mirror::new(&base)],
        None => info.mirrors.iter().map(|base| Mirror::new(base)).collect(),
    };

    for file in &info.files {
        if !opts.force
            && let Some(path) = data_file(&dir, file)
        {
            match check_file(&path, file) {
                Ok(()) => {
                    progress(FetchEvent::Skipped { file: &file.name });
                    continue;
                }
                Err(e) => tracing::info!("downloading again: {e}"),
            }
        }
        fetch_file(&mirrors, &dir, info, file, progress)?;
        progress(FetchEvent::Finished { file: &file.name });
    }
    Ok(())
}

/// A base URL and the agent that talks to it.
struct Mirror {
    base: String,
    agent: ureq::Agent,
}

impl Mirror {
    fn new(base: &str) -> Self {
        let base = if base.ends_with('/') {
            base.to_string()
        } else {
            format!("{base}/")
        };
        let mut config = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            // The files are gzip already; ask for them as they are.
            .accept_encoding("identity");
        if is_loopback(&base) {
            config = config.proxy(None);
        }
        Mirror {
            agent: config.build().into(),
            base,
        }
    }
}

/// Whether the URL's host is this machine (no proxy should be used for it).
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Downloads one file, trying the mirrors in order.
fn fetch_file(
    mirrors: &[Mirror],
    dir: &Path,
    info: &DatasetInfo,
    file: &FileInfo,
    progress: &mut dyn FnMut(FetchEvent<'_>),
) -> Result<(), DataError> {
    let mut errors = Vec::new();
    for (i, mirror) in mirrors.iter().enumerate() {
        let url = format!("{}{}", mirror.base, file.gz_name());
        tracing::info!("downloading {url}");
        match download(&mirror.agent, &url, dir, file, progress) {
            Ok(()) => return Ok(()),
            // A local problem (disk full, permissions): another mirror will not help.
            Err(e @ DataError::Io { .. }) => return Err(e),
            Err(e) => {
                tracing::info!("{e}");
                if i + 1 < mirrors.len() {
                    progress(FetchEvent::MirrorFailed {
                        file: &file.name,
                        url: &url,
                        error: &e,
                    });
                }
                errors.push(e);
            }
        }
    }
    // A single mirror's own verdict stands (damaged or different file, cut-off download), but a
    // failed request gets the advice (network, mirrors, the manual route), said once.
    Err(match errors.as_slice() {
        [one] if !matches!(one, DataError::Download { .. }) => errors.pop().expect("one error"),
        _ => DataError::AllMirrorsFailed {
            file: file.name.clone(),
            errors,
            dataset: info.name.clone(),
            files: info.files.iter().map(FileInfo::gz_name).collect(),
        },
    })
}

/// Downloads `url` into a temporary file in `dir`, checks it, and renames it to its final name.
fn download(
    agent: &ureq::Agent,
    url: &str,
    dir: &Path,
    file: &FileInfo,
    progress: &mut dyn FnMut(FetchEvent<'_>),
) -> Result<(), DataError> {
    let response = agent.get(url).call().map_err(|e| DataError::Download {
        url: url.to_string(),
        source: Box::new(e),
    })?;
    let total = response.body().content_length();
    progress(FetchEvent::Started {
        file: &file.name,
        url,
        total,
    });

    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{}.", file.gz_name()))
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| DataError::io("create a temporary file in", dir, e))?;
    let interrupted = |received, source| DataError::Interrupted {
        url: url.to_string(),
        received,
        expected: total,
        source,
    };
    let mut body = response.into_body().into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut received = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(interrupted(received, e)),
        };
        temp.write_all(&buf[..n])
            .map_err(|e| DataError::io("write", temp.path(), e))?;
        received += n as u64;
        progress(FetchEvent::Progress {
            file: &file.name,
            bytes: received,
        });
    }
    if let Some(total) = total
        && received != total
    {
        let e = io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed early");
        return Err(interrupted(received, e));
    }
    temp.as_file()
        .sync_all()
        .map_err(|e| DataError::io("write", temp.path(), e))?;

    check_download(&temp, url, file)?;
    // Normally gzip; a server that decoded the gzip on the way gives the uncompressed file.
    let (name, other) = if is_gzip(temp.path())? {
        (file.gz_name(), file.name.clone())
    } else {
        (file.name.clone(), file.gz_name())
    };
    let dest = dir.join(name);
    temp.persist(&dest)
        .map_err(|e| DataError::io("rename a download to", &dest, e.error))?;
    // A stale copy under the other name would shadow or confuse; the new file replaces it.
    match std::fs::remove_file(dir.join(&other)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(DataError::io("remove", dir.join(other), e));
        }
        _ => {}
    }
    Ok(())
}

/// Checks the decompressed SHA-256 and size of a download against the registry.
fn check_download(temp: &NamedTempFile, url: &str, file: &FileInfo) -> Result<(), DataError> {
    let (actual, actual_size) = digest(temp.path()).map_err(|e| match e {
        DataError::Malformed {
            problem: IdxProblem::Gzip(source),
            ..
        } => DataError::BadDownload {
            url: url.to_string(),
            file: file.name.clone(),
            source,
        },
        other => other,
    })?;
    if actual == file.sha256 && actual_size == file.size {
        Ok(())
    } else {
        Err(DataError::DownloadMismatch {
            url: url.to_string(),
            file: file.name.clone(),
            expected: file.sha256.clone(),
            actual,
            expected_size: file.size,
            actual_size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for url in [
            "http://127.0.0.1:8080/x/",
            "http://localhost/",
            "http://[::1]:80/",
            "127.0.0.5:1",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://10.0.0.1/",
            "http://localhost.example.com/",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }

    #[test]
    fn base_url_gets_a_trailing_slash() {
        assert_eq!(
            Mirror::new("http://127.0.0.1:1/d").base,
            "http://127.0.0.1:1/d/"
        );
        assert_eq!(
            Mirror::new("http://127.0.0.1:1/d/").base,
            "http://127.0.0.1:1/d/"
        );
    }
}
