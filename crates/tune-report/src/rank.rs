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
use crate::report::{Report, ReportOptions, ReportRow};
use std::cmp::Ordering;

/// The accuracy `row` is ranked by: its last epoch's validation accuracy, else its test accuracy.
pub fn rank_accuracy(row: &ResultRow) -> f64 {
    row.val_accuracy
        .filter(|v| v.is_finite())
        .unwrap_or(row.accuracy)
}

/// `v` with NaN as minus infinity, so that NaN ranks last.
fn key(v: f64) -> f64 {
    if v.is_nan() { f64::NEG_INFINITY } else { v }
}

/// Best-first order of two configurations on `accuracy` (higher first), with the documented
/// tie-break on parameters and keys.
pub fn compare_by(a_acc: f64, a: &ReportRow, b_acc: f64, b: &ReportRow) -> Ordering {
    key(b_acc)
        .total_cmp(&key(a_acc))
        .then_with(|| a.params.cmp(&b.params))
        .then_with(|| a.keys.cmp(&b.keys))
}

/// Best-first order of two configurations by the ranking metric ([`ReportRow::val_accuracy`]).
pub fn compare_rows(a: &ReportRow, b: &ReportRow) -> Ordering {
    compare_by(a.val_accuracy, a, b.val_accuracy, b)
}

/// The best job among `rows`: the best job of the best configuration, as `tune report` ranks them.
/// `None` when `rows` is empty.
pub fn best_job(rows: &[ResultRow]) -> Option<&ResultRow> {
    let report = Report::build(rows, &ReportOptions::default()).ok()?;
    let top = report
        .groups
        .iter()
        .flat_map(|g| g.rows.iter())
        .min_by(|a, b| compare_rows(a, b))?;
    rows.iter()
        .filter(|r| top.keys.contains(&r.key))
        .min_by(|a, b| {
            key(rank_accuracy(b))
                .total_cmp(&key(rank_accuracy(a)))
                .then(a.spec.train.seed.cmp(&b.spec.train.seed))
                .then_with(|| a.key.cmp(&b.key))
        })
}
