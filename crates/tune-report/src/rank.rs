//! The one ranking every command uses to pick a best or default job: `tune report`'s order,
//! `tune compare`'s best CNN, and the default job of `tune confusion`, `tune plot curves` and
//! `tune plot confusion`.
//!
//! **The ranking metric** is a job's validation accuracy after its last epoch (on the holdout of
//! the training split by default, or on the test split when the grid says `validation = "test"`).
//! A configuration (a job and its seeds) ranks by the mean over its seeds. A job with no validation
//! accuracy recorded ranks by its test accuracy.
//!
//! **Tie-break**, so that the order never depends on the order jobs were written or finished in:
//! equal ranking accuracy → fewer trainable parameters first (the simpler model) → the
//! configuration whose lowest-seed job has the smaller key (keys are SHA-256 based, so this is an
//! arbitrary but fixed order). NaN ranks last. Within a configuration the best job is the one with
//! the highest ranking accuracy, then the lowest seed, then the smaller key.

use crate::ResultRow;
use std::cmp::Ordering;

/// The accuracy `row` is ranked by: its last epoch's validation accuracy, else its test accuracy.
pub fn rank_accuracy(row: &ResultRow) -> f64 {
    row.val_accuracy
        .filter(|v| v.is_finite())
        .unwrap_or(row.accuracy)
}

/// What the ranking needs of a configuration (a report row): its ranking accuracy and the
/// tie-break's parameter count and job keys.
pub trait Ranked {
    /// The ranking metric: the mean validation accuracy over the configuration's seeds.
    fn ranking_accuracy(&self) -> f64;
    /// Trainable parameters (fewer ranks first on equal accuracy).
    fn params(&self) -> usize;
    /// The configuration's job keys, lowest seed first (the last tie-break).
    fn keys(&self) -> &[String];
}

impl<R: Ranked + ?Sized> Ranked for &R {
    fn ranking_accuracy(&self) -> f64 {
        (**self).ranking_accuracy()
    }
    fn params(&self) -> usize {
        (**self).params()
    }
    fn keys(&self) -> &[String] {
        (**self).keys()
    }
}

/// `v` with NaN as minus infinity, so that NaN ranks last.
pub(crate) fn key(v: f64) -> f64 {
    if v.is_nan() { f64::NEG_INFINITY } else { v }
}

/// Best-first order of two configurations on `accuracy` (higher first), with the documented
/// tie-break on parameters and keys.
pub fn compare_by<R: Ranked>(a_acc: f64, a: &R, b_acc: f64, b: &R) -> Ordering {
    key(b_acc)
        .total_cmp(&key(a_acc))
        .then_with(|| a.params().cmp(&b.params()))
        .then_with(|| a.keys().cmp(b.keys()))
}

/// Best-first order of two configurations by the ranking metric ([`Ranked::ranking_accuracy`]).
pub fn compare_rows<R: Ranked>(a: &R, b: &R) -> Ordering {
    compare_by(a.ranking_accuracy(), a, b.ranking_accuracy(), b)
}
