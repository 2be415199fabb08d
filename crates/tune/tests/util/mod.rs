//! Helpers shared by the `tune` binary's integration tests: tiny IDX data sets made in the test,
//! grid files, and a `tune` command with a clean environment.
#![allow(dead_code)]

pub mod db;
pub mod pg;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tune_data::idx::{Images, write_images, write_labels};

/// Training and test images of the fixture data sets.
pub const TRAIN: usize = 256;
/// Test images of the fixture data sets.
pub const TEST: usize = 64;

/// Writes learnable 28x28 fixture data sets `fashion-mnist` and `mnist` under `root` (each in
/// `root/NAME/` with the four canonical `.gz` file names): class `c` lights a band of rows at
/// `2c..2c+3` plus deterministic noise. Returns `root`, to pass as `--data-dir`.
pub fn fixture_data(root: &Path) -> PathBuf {
    fixture_data_sized(root, TRAIN, TEST)
}

/// [`fixture_data`] with `train` training and `test` test images (for a test that needs epochs
/// long enough to act in the middle of one).
pub fn fixture_data_sized(root: &Path, train: usize, test: usize) -> PathBuf {
    for name in ["fashion-mnist", "mnist"] {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (prefix, n) in [("train", train), ("t10k", test)] {
            let labels: Vec<u8> = (0..n).map(|i| (i * 7 % 10) as u8).collect();
            let mut pixels = vec![0u8; n * 784];
            for (i, &l) in labels.iter().enumerate() {
                for r in 0..28 {
                    for c in 0..28 {
                        let noise = ((i * 31 + r * 17 + c * 13) % 23) as u8;
                        let band = (2 * l as usize..2 * l as usize + 3).contains(&r);
                        pixels[i * 784 + r * 28 + c] = if band { 200 + noise } else { noise };
                    }
                }
            }
            let images = Images {
                count: n,
                rows: 28,
                cols: 28,
                pixels,
            };
            write_idx(&dir, prefix, &images, &labels);
        }
    }
    root.to_path_buf()
}

/// Writes a grid file and returns its path.
pub fn write_grid(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A small grid: `n` one-epoch 1-layer CNNs (filters 4..) on the fixture data.
pub fn small_grid(n: usize, epochs: usize) -> String {
    let filters: Vec<String> = (0..n).map(|i| (4 + i).to_string()).collect();
    format!(
        "name = \"small\"\n[fixed]\nmodel = \"cnn\"\ndataset = \"fashion-mnist\"\nepochs = {epochs}\nbatch = 32\ndense = 16\n\n[axes]\nlayer1 = [{}]\n",
        filters.join(", ")
    )
}

/// The `tune` binary with an environment that cannot reach the user's own settings.
pub fn tune(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tune"));
    cmd.current_dir(cwd)
        .env_remove("TUNE_DB")
        .env_remove("TUNE_DATA_DIR")
        .env_remove("TUNE_MIRROR")
        .env("TUNE_CACHE_DIR", cwd.join("cache"))
        // The fixture data sets carry the known names but not the canonical files.
        .env("TUNE_ALLOW_UNVERIFIED", "1")
        .env("RUST_LOG", "warn");
    cmd
}

/// Runs a command and returns its output, panicking with stdout/stderr if `expect_ok` disagrees.
pub fn run(cmd: &mut Command, expect_ok: bool) -> Output {
    let out = cmd.output().expect("tune runs");
    if out.status.success() != expect_ok {
        panic!(
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// Waits for `child` (its output piped) and checks that it exits with `code`, showing its
/// output otherwise.
pub fn expect_exit(child: std::process::Child, code: i32) -> Output {
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

/// Standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes `images` and `labels` as the gzipped IDX pair `PREFIX-images-idx3-ubyte.gz` and
/// `PREFIX-labels-idx1-ubyte.gz` in `dir` (`PREFIX` is `train` or `t10k`).
pub fn write_idx(dir: &Path, prefix: &str, images: &Images, labels: &[u8]) {
    write_images(
        &dir.join(format!("{prefix}-images-idx3-ubyte.gz")),
        images,
        true,
    )
    .unwrap();
    write_labels(
        &dir.join(format!("{prefix}-labels-idx1-ubyte.gz")),
        labels,
        true,
    )
    .unwrap();
}

/// A temporary directory with the fixture data sets (`data/`) and one grid file (`grid.toml`),
/// for tests that run `tune` on a grid. The database is `results.db` inside the directory.
pub struct Setup {
    pub tmp: tempfile::TempDir,
    pub data: PathBuf,
    pub grid: PathBuf,
}

impl Setup {
    /// Writes the fixture data and `grid_text` as `grid.toml` into a new temporary directory.
    pub fn new(grid_text: &str) -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let data = fixture_data(&tmp.path().join("data"));
        let grid = write_grid(tmp.path(), "grid.toml", grid_text);
        Setup { tmp, data, grid }
    }

    /// The temporary directory (the working directory of every command).
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// The default database, `results.db` in the temporary directory.
    pub fn db(&self) -> PathBuf {
        self.dir().join("results.db")
    }

    /// `tune ARGS...` in the temporary directory.
    pub fn tune(&self, args: &[&str]) -> Command {
        let mut cmd = tune(self.dir());
        cmd.args(args);
        cmd
    }

    /// `tune ARGS... --db DB` in the temporary directory.
    pub fn tune_db(&self, args: &[&str]) -> Command {
        let mut cmd = self.tune(args);
        cmd.arg("--db").arg(self.db());
        cmd
    }

    /// `tune run GRID --db DB --data-dir DATA --jobs JOBS --threads-per-job 1 EXTRA...`.
    pub fn run_on(
        &self,
        db: impl AsRef<std::ffi::OsStr>,
        data: &Path,
        jobs: usize,
        extra: &[&str],
    ) -> Command {
        let mut cmd = tune(self.dir());
        cmd.arg("run")
            .arg(&self.grid)
            .arg("--db")
            .arg(db)
            .arg("--data-dir")
            .arg(data)
            .args(["--jobs", &jobs.to_string(), "--threads-per-job", "1"])
            .args(extra);
        cmd
    }

    /// [`Setup::run_on`] the default database and the fixture data with `--jobs JOBS`.
    pub fn run_jobs(&self, jobs: usize, extra: &[&str]) -> Command {
        self.run_on(self.db(), &self.data, jobs, extra)
    }

    /// [`Setup::run_on`] the default database and the fixture data with `--jobs 1`.
    pub fn run_cmd(&self, extra: &[&str]) -> Command {
        self.run_jobs(1, extra)
    }

    /// [`Setup::run_cmd`] with `--quiet` before `EXTRA`.
    pub fn run_quiet(&self, extra: &[&str]) -> Command {
        let mut cmd = self.run_cmd(&["--quiet"]);
        cmd.args(extra);
        cmd
    }
}
