//! Finding a data set on disk.
//!
//! Order: an explicit directory (`--data-dir`; when given, nothing else is searched), then
//! `$TUNE_DATA_DIR`, then tune's cache ([`cache_dir()`]`/NAME`), then `/usr/share/datasets/NAME`
//! (where Debian's `dataset-fashion-mnist` puts its files). An explicit or `TUNE_DATA_DIR`
//! directory may hold the four files itself or in a sub-directory named after the data set.

use crate::registry::{DatasetInfo, FileInfo};
use crate::{DataError, info};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where a data set was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The directory passed explicitly (`--data-dir`).
    Explicit,
    /// `$TUNE_DATA_DIR`.
    Env,
    /// Tune's download cache, see [`cache_dir()`].
    Cache,
    /// `/usr/share/datasets`, where system packages install data sets.
    System,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Explicit => "--data-dir",
            Source::Env => "TUNE_DATA_DIR",
            Source::Cache => "cache",
            Source::System => "system",
        })
    }
}

/// A directory holding all four files of a data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The directory holding the files.
    pub dir: PathBuf,
    /// Which search rule found it.
    pub source: Source,
}

/// One directory looked at by [`locate()`] that did not hold the data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Searched {
    /// The directory.
    pub dir: PathBuf,
    /// Which search rule gave it.
    pub source: Source,
    /// Why it was passed over, e.g. "does not exist".
    pub finding: String,
}

/// Tune's directory of downloaded data sets: `$TUNE_CACHE_DIR`, else `$XDG_CACHE_HOME/tune/datasets`,
/// else `$HOME/.cache/tune/datasets`. Each data set is a sub-directory named after it.
pub fn cache_dir() -> Result<PathBuf, DataError> {
    SearchEnv::from_env()
        .cache_root
        .ok_or(DataError::NoCacheDir)
}

/// The path of `file` in `dir`: `NAME.gz` if present, else the uncompressed `NAME`, else `None`.
pub fn data_file(dir: &Path, file: &FileInfo) -> Option<PathBuf> {
    [dir.join(file.gz_name()), dir.join(&file.name)]
        .into_iter()
        .find(|p| p.is_file())
}

/// Finds the directory holding data set `name` (see the module documentation for the order).
///
/// A data set that is nowhere is an error listing the places searched and how to get it.
pub fn locate(name: &str, data_dir: Option<&Path>) -> Result<Located, DataError> {
    locate_in(info(name)?, data_dir, &SearchEnv::from_env())
}

/// The environment variable naming a folder to look for data sets in before tune's cache.
pub const DATA_DIR_VAR: &str = "TUNE_DATA_DIR";

/// The environment variable naming a base URL to download data sets from instead of the
/// registry's mirrors.
pub const MIRROR_VAR: &str = "TUNE_MIRROR";

/// The environment's say in finding and fetching data sets, read once (the one place tune reads
/// these variables) so that the search itself is a pure function.
#[derive(Debug, Clone, Default)]
pub struct SearchEnv {
    /// `$TUNE_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// The result of [`cache_dir()`], if there is one.
    pub cache_root: Option<PathBuf>,
    /// Normally `/usr/share/datasets`.
    pub system_root: PathBuf,
    /// `$TUNE_MIRROR`: a base URL to download from (see [`crate::FetchOptions::mirror`]).
    pub mirror: Option<String>,
}

impl SearchEnv {
    /// Reads the process environment (see [`SearchEnv::from_vars`]).
    pub fn from_env() -> Self {
        Self::from_vars(|key| std::env::var_os(key))
    }

    /// Reads `TUNE_DATA_DIR`, `TUNE_CACHE_DIR`, `XDG_CACHE_HOME`, `HOME` and `TUNE_MIRROR` through
    /// `var`; empty values count as unset, a mirror that is not UTF-8 too, and a relative
    /// `XDG_CACHE_HOME` is ignored as the XDG spec says.
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Self {
        let get = |key: &str| var(key).filter(|v| !v.is_empty()).map(PathBuf::from);
        let cache_root = get("TUNE_CACHE_DIR")
            .or_else(|| {
                get("XDG_CACHE_HOME")
                    .filter(|p| p.is_absolute())
                    .map(|p| p.join("tune").join("datasets"))
            })
            .or_else(|| get("HOME").map(|p| p.join(".cache").join("tune").join("datasets")));
        SearchEnv {
            data_dir: get(DATA_DIR_VAR),
            cache_root,
            system_root: PathBuf::from("/usr/share/datasets"),
            mirror: var(MIRROR_VAR)
                .and_then(|m| m.into_string().ok())
                .filter(|m| !m.is_empty()),
        }
    }
}

/// [`locate()`] for a given data set and environment.
pub(crate) fn locate_in(
    info: &DatasetInfo,
    data_dir: Option<&Path>,
    env: &SearchEnv,
) -> Result<Located, DataError> {
    let name = &info.name;
    let mut candidates = Vec::new();
    let mut root_and_sub = |root: &Path, source| {
        candidates.push((root.to_path_buf(), source));
        candidates.push((root.join(name), source));
    };
    match data_dir {
        Some(dir) => root_and_sub(dir, Source::Explicit),
        None => {
            if let Some(dir) = &env.data_dir {
                root_and_sub(dir, Source::Env);
            }
            if let Some(root) = &env.cache_root {
                candidates.push((root.join(name), Source::Cache));
            }
            candidates.push((env.system_root.join(name), Source::System));
        }
    }

    // A folder the user named (`--data-dir` or `TUNE_DATA_DIR`) that does not exist is a mistake
    // to report, the same for both, not a reason to quietly look elsewhere.
    if data_dir.is_none()
        && let Some(dir) = &env.data_dir
        && !dir.exists()
    {
        return Err(DataError::NotFound {
            name: name.clone(),
            searched: vec![Searched {
                dir: dir.clone(),
                source: Source::Env,
                finding: "does not exist".into(),
            }],
            cache_root: env.cache_root.clone(),
            system_package: info.system_package.clone(),
        });
    }
    let mut searched = Vec::new();
    for (dir, source) in candidates {
        match inspect(&dir, info) {
            Ok(()) => return Ok(Located { dir, source }),
            Err(finding) => searched.push(Searched {
                dir,
                source,
                finding,
            }),
        }
    }
    Err(DataError::NotFound {
        name: name.clone(),
        searched,
        cache_root: env.cache_root.clone(),
        system_package: info.system_package.clone(),
    })
}

/// `Ok` if `dir` holds all four files, else what is missing.
fn inspect(dir: &Path, info: &DatasetInfo) -> Result<(), String> {
    if !dir.exists() {
        return Err("does not exist".into());
    }
    if !dir.is_dir() {
        return Err("is not a directory".into());
    }
    let missing: Vec<String> = info
        .files
        .iter()
        .filter(|f| data_file(dir, f).is_none())
        .map(FileInfo::gz_name)
        .collect();
    match missing.len() {
        0 => Ok(()),
        4 => Err("holds none of the files".into()),
        n => Err(format!(
            "holds {} of the 4 files, missing {}",
            4 - n,
            missing.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info;
    use std::collections::HashMap;
    use tempfile::TempDir;

    /// Creates empty files with the names of the data set's files; locating only looks at names.
    fn populate(dir: &Path, info: &DatasetInfo, gz: bool) {
        std::fs::create_dir_all(dir).unwrap();
        for f in &info.files {
            let name = if gz { f.gz_name() } else { f.name.clone() };
            std::fs::write(dir.join(name), b"").unwrap();
        }
    }

    struct World {
        _tmp: TempDir,
        root: PathBuf,
    }

    impl World {
        fn new() -> Self {
            let tmp = TempDir::new().unwrap();
            let root = tmp.path().to_path_buf();
            World { _tmp: tmp, root }
        }
        fn path(&self, p: &str) -> PathBuf {
            self.root.join(p)
        }
        fn env(&self, data_dir: Option<&str>) -> SearchEnv {
            SearchEnv {
                data_dir: data_dir.map(|d| self.path(d)),
                cache_root: Some(self.path("cache")),
                system_root: self.path("system"),
                mirror: None,
            }
        }
    }

    #[test]
    fn search_order() {
        let mnist = info("mnist").unwrap();
        let w = World::new();
        let env = w.env(Some("env"));
        let found = |data_dir: Option<&Path>| locate_in(mnist, data_dir, &env).unwrap();
        // An existing TUNE_DATA_DIR without the files is passed over.
        std::fs::create_dir_all(w.path("env")).unwrap();

        populate(&w.path("system/mnist"), mnist, true);
        assert_eq!(found(None).source, Source::System);
        assert_eq!(found(None).dir, w.path("system/mnist"));

        populate(&w.path("cache/mnist"), mnist, true);
        assert_eq!(found(None).source, Source::Cache);

        // TUNE_DATA_DIR: its sub-directory named after the data set ...
        populate(&w.path("env/mnist"), mnist, false);
        assert_eq!(found(None).dir, w.path("env/mnist"));
        assert_eq!(found(None).source, Source::Env);
        // ... or the directory itself, which wins.
        populate(&w.path("env"), mnist, true);
        assert_eq!(found(None).dir, w.path("env"));

        // An explicit directory beats everything, itself or its sub-directory.
        populate(&w.path("explicit/mnist"), mnist, true);
        let explicit = found(Some(&w.path("explicit")));
        assert_eq!(explicit.dir, w.path("explicit/mnist"));
        assert_eq!(explicit.source, Source::Explicit);
        assert_eq!(
            found(Some(&w.path("explicit/mnist"))).dir,
            w.path("explicit/mnist")
        );
    }

    #[test]
    fn explicit_directory_is_the_only_place_searched() {
        let mnist = info("mnist").unwrap();
        let w = World::new();
        populate(&w.path("cache/mnist"), mnist, true);
        let e = locate_in(mnist, Some(&w.path("elsewhere")), &w.env(None)).unwrap_err();
        let DataError::NotFound { searched, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(searched.len(), 2);
        assert!(searched.iter().all(|s| s.source == Source::Explicit));
        let m = e.to_string();
        assert!(m.contains("no other place is searched"), "{m}");
    }

    #[test]
    fn a_missing_tune_data_dir_is_an_error_like_a_missing_data_dir() {
        let mnist = info("mnist").unwrap();
        let w = World::new();
        populate(&w.path("cache/mnist"), mnist, true);
        for (data_dir, env) in [
            (Some(w.path("nowhere")), w.env(None)),
            (None, w.env(Some("nowhere"))),
        ] {
            let e = locate_in(mnist, data_dir.as_deref(), &env).unwrap_err();
            let m = e.to_string();
            assert!(m.contains(&w.path("nowhere").display().to_string()), "{m}");
            assert!(m.contains("does not exist"), "{m}");
            assert!(m.contains("no other place is searched"), "{m}");
        }
    }

    #[test]
    fn incomplete_directories_are_passed_over_and_reported() {
        let fashion = info("fashion-mnist").unwrap();
        let w = World::new();
        populate(&w.path("cache/fashion-mnist"), fashion, true);
        std::fs::remove_file(w.path("cache/fashion-mnist/t10k-labels-idx1-ubyte.gz")).unwrap();
        populate(&w.path("system/fashion-mnist"), fashion, true);
        let env = w.env(None);
        assert_eq!(
            locate_in(fashion, None, &env).unwrap().source,
            Source::System
        );

        std::fs::remove_dir_all(w.path("system")).unwrap();
        let m = locate_in(fashion, None, &env).unwrap_err().to_string();
        assert!(m.contains("data set `fashion-mnist` not found"), "{m}");
        assert!(
            m.contains("holds 3 of the 4 files, missing t10k-labels-idx1-ubyte.gz"),
            "{m}"
        );
        assert!(m.contains("does not exist"), "{m}");
        assert!(
            m.contains(&w.path("system/fashion-mnist").display().to_string()),
            "{m}"
        );
        // The three ways to get it.
        assert!(m.contains("tune data fetch fashion-mnist"), "{m}");
        assert!(m.contains("apt-get install dataset-fashion-mnist"), "{m}");
        assert!(m.contains("--data-dir DIR or TUNE_DATA_DIR=DIR"), "{m}");
    }

    #[test]
    fn apt_is_offered_only_where_a_package_exists() {
        let mnist = info("mnist").unwrap();
        let w = World::new();
        let m = locate_in(mnist, None, &w.env(None))
            .unwrap_err()
            .to_string();
        assert!(!m.contains("apt-get"), "{m}");
        assert!(m.contains("tune data fetch mnist"), "{m}");
    }

    #[test]
    fn data_file_prefers_gz_and_accepts_uncompressed() {
        let mnist = info("mnist").unwrap();
        let w = World::new();
        let file = mnist.train_labels();
        std::fs::write(w.path("train-labels-idx1-ubyte"), b"").unwrap();
        assert_eq!(
            data_file(&w.root, file),
            Some(w.path("train-labels-idx1-ubyte"))
        );
        std::fs::write(w.path("train-labels-idx1-ubyte.gz"), b"").unwrap();
        assert_eq!(
            data_file(&w.root, file),
            Some(w.path("train-labels-idx1-ubyte.gz"))
        );
        assert_eq!(data_file(&w.root, mnist.test_labels()), None);
    }

    #[test]
    fn cache_dir_from_environment_values() {
        let env = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, OsString> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), OsString::from(v)))
                .collect();
            SearchEnv::from_vars(|k| map.get(k).cloned())
        };
        let all = [
            ("TUNE_CACHE_DIR", "/t"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
            ("TUNE_DATA_DIR", "/d"),
            ("TUNE_MIRROR", "http://m/"),
        ];
        let e = env(&all);
        assert_eq!(e.cache_root, Some(PathBuf::from("/t")));
        assert_eq!(e.data_dir, Some(PathBuf::from("/d")));
        assert_eq!(e.mirror.as_deref(), Some("http://m/"));
        assert_eq!(e.system_root, PathBuf::from("/usr/share/datasets"));
        assert_eq!(
            env(&all[1..]).cache_root,
            Some(PathBuf::from("/x/tune/datasets"))
        );
        assert_eq!(
            env(&all[2..]).cache_root,
            Some(PathBuf::from("/h/.cache/tune/datasets"))
        );
        // Empty values are unset; a relative XDG_CACHE_HOME is ignored.
        let e = env(&[
            ("TUNE_CACHE_DIR", ""),
            ("XDG_CACHE_HOME", "rel"),
            ("HOME", "/h"),
        ]);
        assert_eq!(e.cache_root, Some(PathBuf::from("/h/.cache/tune/datasets")));
        assert_eq!(e.data_dir, None);
        assert_eq!(env(&[("TUNE_MIRROR", "")]).mirror, None);
        assert_eq!(env(&[]).cache_root, None);
    }

    #[test]
    fn no_cache_dir_still_searches_the_system_directory() {
        let mnist = info("mnist").unwrap();
        let w = World::new();
        populate(&w.path("system/mnist"), mnist, true);
        let env = SearchEnv {
            cache_root: None,
            ..w.env(None)
        };
        assert_eq!(locate_in(mnist, None, &env).unwrap().source, Source::System);
        std::fs::remove_dir_all(w.path("system")).unwrap();
        let m = locate_in(mnist, None, &env).unwrap_err().to_string();
        assert!(m.contains("set TUNE_CACHE_DIR first"), "{m}");
    }
}
