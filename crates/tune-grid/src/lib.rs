//! Grid files: parse, validate and expand a TOML grid into training jobs.
//!
//! A grid file names settings every job shares (`[fixed]`), settings to vary (`[axes]`: every
//! combination of their values is tried) and rules a combination must satisfy (`[constraints]`):
//!
//! ```toml
//! # grids/2layer.toml
//! name = "2layer"                  # optional, defaults to the file name without .toml
//! description = "The study's 2-layer CNN grid"
//! # repeats = 3                    # every configuration with seeds seed..seed+2 (as --repeats 3)
//!
//! [fixed]                          # settings shared by every job
//! model = "cnn"                    # cnn | ann
//! dataset = "fashion-mnist"        # fashion-mnist | mnist
//! kernel = 3
//! epochs = 20
//! batch = 64
//! dropout = 0.5
//! l2 = 0.001
//! lr = 0.001
//! rho = 0.9
//! eps = 1e-7
//! seed = 1
//! # train_images = 6000           # train on the first N images not held out
//! validation = "test"              # the study validated on the test split; the default is
//!                                  # { holdout = 5000 }
//!
//! [axes]                           # every combination of these values is a job
//! layer1 = [16, 32, 64, 128]       # filters of conv layer 1
//! layer2 = [16, 32, 64, 128]       # filters of conv layer 2
//! dense  = [16, 32, 64, 128]       # width of the hidden dense layer
//!
//! [constraints]                    # a combination is kept only if every rule holds
//! rules = [
//!   "layer1 <= layer2",            # filters non-decreasing
//!   "dense >= layer2",             # dense at least the last layer's filters
//!   # "params <= 500000",          # parameter budget
//! ]
//! ```
//!
//! # Settings
//!
//! Any setting may be fixed or an axis, but not both. Unset settings take the defaults of
//! [`tune_spec::TrainSpec::default`] and [`tune_spec::ModelSpec::cnn`] / [`tune_spec::ModelSpec::ann`].
//!
//! | key | value | default |
//! |---|---|---|
//! | `model` | `"cnn"` or `"ann"` | `"cnn"` |
//! | `dataset` | `"fashion-mnist"`, `"mnist"` or a `[datasets.NAME]` of the file | `"fashion-mnist"` |
//! | `layer1`, `layer2`, ... | filters of conv layer N; the number of these keys is the depth (no gaps) | required for a CNN |
//! | `filters` | instead of `layerN`: the whole list, e.g. `[16, 32]`; as an axis `[[16], [16, 32]]` mixes depths | |
//! | `dense` | one hidden dense width (`128`) or several (`[512, 256]`) | required for a CNN; `[512, 256]` for an ANN |
//! | `kernel` | conv kernel side (ignored for an ANN) | `3` |
//! | `dropout` | dropout rate | `0.5` |
//! | `l2` | L2 factor on kernels | `0.001` for a CNN, `0` for an ANN |
//! | `epochs`, `batch` | integers | `20`, `64` |
//! | `lr`, `rho`, `eps` | RMSprop | `0.001`, `0.9`, `1e-7` |
//! | `seed` | integer | `1` |
//! | `train_images` | train on the first N training images that are not held out | all |
//! | `validation` | `"test"` or `{ holdout = N }`: N training images, stratified by class and chosen once from a fixed seed (the same for every job on the data set), held out to validate on | `{ holdout = 5000 }` |
//!
//! `repeats = R` at the top level (before the first table) runs every configuration with seeds
//! `seed..seed+R-1`, as `tune run --repeats R` does; `--repeats` given on the command line wins.
//!
//! An axis is always a list of values: `dense = [64, 128]` in `[axes]` is two jobs with one dense
//! layer each, while `dense = [512, 256]` in `[fixed]` is one job with two dense layers (as an axis:
//! `dense = [[512, 256], [256]]`).
//!
//! # Your own data sets
//!
//! A `[datasets.NAME]` table (top level, before `[fixed]`) defines a data set that `dataset =
//! "NAME"` then uses, beside the built-in names:
//!
//! ```toml
//! [datasets.shoes]
//! format = "folder"          # "idx" | "csv" | "folder" | "cifar"
//! train = "data/shoes/train" # a path or a list of paths, relative to the grid file
//! test = "data/shoes/test"   # or: test_split = 0.2 (stratified by class, fixed seed)
//! size = [32, 32]            # [height, width]; folder: resize to it
//! channels = 3               # 1 (grayscale) | 3 (RGB)
//! # classes = ["a", "b"]     # class names, label 0 first (else folder names / label values)
//!
//! [fixed]
//! dataset = "shoes"
//! ```
//!
//! The settings are checked by [`tune_spec::DataSpec::build`] (the same check as `tune train
//! --data`), the paths must exist, and the data is read by the caller's [`Resolve`] when a job
//! uses it: its shape sets every network's input and output, and its content hash is part of
//! every job's key.
//!
//! # Rules
//!
//! A rule compares numbers and names with `<`, `<=`, `>`, `>=`, `==`, `!=`, and may chain:
//! `layer1 <= layer2 <= layer3`. Names: every numeric setting (`kernel`, `epochs`, `batch`,
//! `dropout`, `l2`, `lr`, `rho`, `eps`, `seed`, `train_images`), `layerN` (filters of conv layer N),
//! `dense` / `denseN` (width of the first / Nth hidden dense layer), `layers` (number of conv layers),
//! `last_filters` (filters of the last conv layer), `params` (trainable parameters) and `flops`
//! (training FLOPs per image). Numbers may be written `500_000` or `5e5`. There is no `and`/`or`:
//! every rule must hold. A comparison with a value the job does not have (`layer3` in a 2-layer
//! job, `kernel` of an ANN, `train_images` when unset) counts as holding, so one rule set serves
//! grids of mixed depth.
//!
//! # Several grids in one file
//!
//! `[[grid]]` sections, each with its own `fixed`, `axes` and `constraints`, are expanded one after
//! the other and their jobs concatenated. The top-level `[fixed]`, `[axes]` and `[constraints]` are
//! shared by every section: a section's setting replaces the top-level setting of the same key, and
//! its rules are added to the top-level ones. Without `[[grid]]` sections the top level is the grid.
//!
//! ```toml
//! # grids/compare.toml
//! name = "compare"
//!
//! [fixed]                          # shared by both sections
//! epochs = 20
//!
//! [axes]
//! dataset = ["fashion-mnist", "mnist"]
//!
//! [[grid]]                         # the ANN: Dense 512, Dense 256
//! fixed = { model = "ann", dense = [512, 256] }
//!
//! [[grid]]                         # the 2-layer CNN without L2
//! fixed = { model = "cnn", layer1 = 64, layer2 = 64, dense = 128, l2 = 0.0 }
//! ```
//!
//! (TOML puts every key after a `[table]` line into that table, so `name` and `description` come
//! first, and each `[[grid]]` section's tables are written inline or as `[grid.fixed]`.)
//!
//! # Search
//!
//! `[search]` says how the sweep searches the grid: `strategy = "grid"` (the default) trains every
//! job for every epoch; `strategy = "halving"` with `eta` and `min_epochs` runs successive halving
//! (see [`Search`] and [`rungs`]).
//!
//! # Order
//!
//! Jobs come section by section; within one, the axes in file order with the last axis varying
//! fastest. A job equal to an earlier one ([`JobSpec::key`]) is dropped.

mod constraint;
mod error;
mod expand;
mod parse;
mod search;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use tune_spec::{DataSpec, JobSpec, UserData};

pub use error::{GridError, Location};
pub use expand::MAX_COMBINATIONS;
pub use parse::GridDataset;
pub use search::{
    Confirm, DEFAULT_ETA, DEFAULT_MIN_EPOCHS, Halving, Rung, Search, plan, plan_epochs, rungs,
    survivors,
};
/// Data sets a job can name (the one list, [`tune_spec::DATASETS`]).
pub use tune_spec::DATASET_NAMES as DATASETS;

/// A grid file, expanded.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// `name` from the file, else the file name without its extension.
    pub name: String,
    /// `description` from the file.
    pub description: Option<String>,
    /// The file's text, as read.
    pub source_text: String,
    /// `repeats = R` from the file: seeds per configuration (`None`: not said, one).
    pub repeats: Option<usize>,
    /// The jobs, in the order described in the crate documentation, without duplicates.
    pub jobs: Vec<JobSpec>,
    /// The file's own data sets (`[datasets.NAME]` tables), in file order, used or not.
    pub datasets: Vec<GridDataset>,
    /// `[search]`: every job for every epoch (the default), or successive halving.
    pub search: Search,
}

impl Grid {
    /// The grid's own data sets (`[datasets.NAME]` tables) that no job uses (no `dataset =
    /// "NAME"` in `[fixed]`, `[axes]` or a section), in file order: they are neither read nor
    /// checked, so a caller should say so (`tune run` warns, naming the table's line).
    pub fn unused_datasets(&self) -> Vec<&GridDataset> {
        let used: HashSet<&str> = self.jobs.iter().map(|j| j.train.dataset.as_str()).collect();
        self.datasets
            .iter()
            .filter(|d| !used.contains(d.name.as_str()))
            .collect()
    }
}

/// Reads a user's data set for the grid: given its name and description, what jobs on it record
/// ([`UserData`]: content hash, shape, classes), or why it cannot be read (naming the file).
/// `tune` decodes the data here (once per run); tune-grid reads no data itself.
pub type Resolve<'a> = dyn FnMut(&str, &DataSpec) -> Result<UserData, String> + 'a;

/// Reads and expands a grid file. Errors name the path. A grid whose jobs use a data set of its
/// own needs [`load_with`].
pub fn load(path: &Path) -> Result<Grid, GridError> {
    load_with(path, &mut no_user_data)
}

/// Reads and expands a grid file, reading the data sets of its own that its jobs use with
/// `resolve` (once each). Relative paths in `[datasets.NAME]` tables are relative to the grid
/// file's folder. Errors name the path.
pub fn load_with(path: &Path, resolve: &mut Resolve<'_>) -> Result<Grid, GridError> {
    let text = std::fs::read_to_string(path).map_err(|source| GridError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_with(&text, &path.display().to_string(), resolve)
}

/// The data sets a grid file defines (its `[datasets.NAME]` tables, in file order), checked but
/// neither decoded nor expanded into jobs. Errors name the path.
pub fn load_datasets(path: &Path) -> Result<Vec<GridDataset>, GridError> {
    let text = std::fs::read_to_string(path).map_err(|source| GridError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let origin = path.display().to_string();
    let base = path.parent().unwrap_or(Path::new(""));
    Ok(parse::read(&text, &origin, base)?.datasets)
}

/// The resolver of [`load`] and [`parse`]: a grid using its own data sets is an error.
fn no_user_data(name: &str, _: &DataSpec) -> Result<UserData, String> {
    Err(format!(
        "data set `{name}` must be read to expand the grid, and this caller reads no data \
         (use tune_grid::load_with)"
    ))
}

/// Expands the text of a grid file; `origin` (usually the path) names it in errors and gives the
/// default name. A grid whose jobs use a data set of its own needs [`parse_with`].
pub fn parse(text: &str, origin: &str) -> Result<Grid, GridError> {
    parse_with(text, origin, &mut no_user_data)
}

/// [`parse`], reading the grid's own data sets that its jobs use with `resolve` (once each);
/// their relative paths are relative to the folder of `origin`.
pub fn parse_with(text: &str, origin: &str, resolve: &mut Resolve<'_>) -> Result<Grid, GridError> {
    let base = Path::new(origin).parent().unwrap_or(Path::new(""));
    let file = parse::read(text, origin, base)?;
    let mut data = HashMap::new();
    for name in expand::used_datasets(&file) {
        let d = file
            .datasets
            .iter()
            .find(|d| d.name == name)
            .expect("used data sets are defined");
        let user = d.read_with(|name, spec| resolve(name, spec))?;
        data.insert(name.to_string(), user);
    }
    let jobs = expand::jobs(&file, &data)?;
    if let Some(s) = &file.search {
        search::check(s, &jobs)?;
    }
    let name = file.name.unwrap_or_else(|| {
        Path::new(origin)
            .file_stem()
            .map_or_else(|| origin.to_string(), |s| s.to_string_lossy().into_owned())
    });
    Ok(Grid {
        name,
        description: file.description,
        repeats: file.repeats,
        source_text: text.to_string(),
        jobs,
        datasets: file.datasets,
        search: file.search.map(|s| s.search).unwrap_or_default(),
    })
}

/// Each job with seeds `seed`, `seed + 1`, ..., `seed + repeats - 1`: first every job with its own
/// seed, then every job with the next seed, and so on, so an interrupted run has covered the whole
/// grid as often as possible. Jobs equal to an earlier one are dropped; `repeats == 0` gives none.
pub fn with_repeats(jobs: &[JobSpec], repeats: usize) -> Vec<JobSpec> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(jobs.len() * repeats);
    for r in 0..repeats as u64 {
        for job in jobs {
            let mut job = job.clone();
            job.train.seed = job.train.seed.wrapping_add(r);
            if seen.insert(job.key()) {
                out.push(job);
            }
        }
    }
    out
}

/// Shard `index` (0-based) of `count`: the jobs are ranked by [`JobSpec::key`] and dealt out in
/// turn, so shards differ in size by at most one and every job is in exactly one shard. The
/// result keeps the order of `jobs`. A job's shard depends on the whole list, so every process
/// must shard the same list (same grid file, same repeats).
///
/// # Panics
///
/// If `count` is 0 or `index >= count`.
pub fn shard(jobs: &[JobSpec], index: usize, count: usize) -> Vec<JobSpec> {
    assert!(
        index < count,
        "shard index {index} must be below the shard count {count}"
    );
    let keys: Vec<String> = jobs.iter().map(JobSpec::key).collect();
    let mut ranked: Vec<usize> = (0..jobs.len()).collect();
    ranked.sort_by(|&a, &b| keys[a].cmp(&keys[b]).then(a.cmp(&b)));
    let mut mine = vec![false; jobs.len()];
    for (rank, &i) in ranked.iter().enumerate() {
        mine[i] = rank % count == index;
    }
    jobs.iter()
        .zip(mine)
        .filter(|(_, m)| *m)
        .map(|(j, _)| j.clone())
        .collect()
}
