//! Data sets: IDX files, the known data sets with their checksums, look-up and download.
//!
//! The study uses two data sets of 28x28 grayscale images in ten classes, MNIST and Fashion-MNIST,
//! each stored as four IDX files (training images and labels, test images and labels), usually
//! gzip-compressed as `NAME.gz`.
//!
//! - [`idx`] reads and writes IDX files, raw or gzip.
//! - [`registry`] knows the data sets: file names, SHA-256 of the decompressed files, classes, mirrors.
//! - [`locate()`] finds a data set on disk (`--data-dir`, `TUNE_DATA_DIR`, tune's cache, `/usr/share/datasets`).
//! - [`verify()`] checks the files against the registry; [`status()`] is the cheap check for listings.
//! - [`load()`] reads a data set into memory as `f32` pixels in `[0, 1]`; it never checks checksums.
//! - [`fetch()`] downloads a data set into tune's cache, verifying every file before it is kept.
//! - [`epoch_order()`] is the reproducible shuffle of the training set for one epoch.
//!
//! Users' own data sets, of any image size, channel count (1 or 3) and class count (up to 256):
//! - [`DataSpec`] says where the files are and in which [`Format`]: IDX, Kaggle's CSV, a folder
//!   of class folders of images, CIFAR-10 batches; [`decode()`] reads it into a
//!   [`DecodedDataset`] (bytes, planar) identified by the SHA-256 of its content.
//! - [`decode_cached()`] keeps the decoded data on disk, so later runs start at once.

mod cache;
mod dataset;
mod error;
mod fetch;
mod formats;
mod holdout;
mod identity;
pub mod idx;
mod load;
mod locate;
pub mod registry;
mod shuffle;
mod verify;

pub use cache::{CacheOutcome, decode_cached, decoded_cache_dir};
pub use dataset::{DataSpec, DecodedDataset, DecodedSplit, Format, TestSet, content_hash, decode};
pub use error::{ClassSource, DataError, DataProblem, IdxProblem};
pub use fetch::{FetchEvent, FetchOptions, fetch, fetch_info};
pub use formats::cifar::{CIFAR10_CLASSES, RECORD as CIFAR_RECORD};
pub use formats::folder::IMAGE_EXTENSIONS;
pub use holdout::{HOLDOUT_SEED, Holdout, stratified_holdout};
pub use identity::{DataIdentity, canonical_identity, identify};
pub use load::{Dataset, IMAGE_SIZE, Split, load, load_dir};
pub use locate::{
    DATA_DIR_VAR, Located, MIRROR_VAR, SearchEnv, Searched, Source, cache_dir, data_file, locate,
};
pub use registry::{DatasetInfo, FileInfo, info, known};
pub use shuffle::epoch_order;
pub use verify::{DatasetStatus, status, verify};
