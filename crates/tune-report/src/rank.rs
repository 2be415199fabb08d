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
use tune_spec::JobSpec;

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

/// One job at a rung of successive halving: its validation accuracy at the rung's epoch.
#[derive(Debug, Clone, Copy)]
pub struct RungJob<'a> {
    /// The job's key.
    pub key: &'a str,
    /// The job.
    pub spec: &'a JobSpec,
    /// Its trainable parameters.
    pub params: u64,
    /// Validation accuracy after the rung's epoch, 0 to 1.
    pub val_accuracy: f64,
}

impl Ranked for RungConfig {
    fn ranking_accuracy(&self) -> f64 {
        self.val_accuracy
    }
    fn params(&self) -> usize {
        self.params as usize
    }
    fn keys(&self) -> &[String] {
        &self.keys
    }
}

/// A configuration (a job and its seeds) at a rung, as [`rank_rung`] ranks it.
#[derive(Debug, Clone, PartialEq)]
pub struct RungConfig {
    /// Its jobs' keys, in seed order (then key order).
    pub keys: Vec<String>,
    /// Mean validation accuracy over its seeds (summed in seed order).
    pub val_accuracy: f64,
    /// Trainable parameters.
    pub params: u64,
}

/// The configurations of a rung of successive halving, best first, by the rule every report uses
/// (see the module docs): jobs that differ only in their seed are one configuration, ranked by
/// its seeds' mean validation accuracy, ties broken by fewer parameters, then by the smaller key of
/// its lowest-seed job. The order of `jobs` never matters.
pub fn rank_rung(jobs: &[RungJob<'_>]) -> Vec<RungConfig> {
    let mut configs: Vec<(JobSpec, Vec<&RungJob<'_>>)> = Vec::new();
    for job in jobs {
        let mut spec = job.spec.clone();
        spec.train.seed = 0;
        match configs.iter_mut().find(|(s, _)| *s == spec) {
            Some((_, members)) => members.push(job),
            None => configs.push((spec, vec![job])),
        }
    }
    let mut out: Vec<RungConfig> = configs
        .into_iter()
        .map(|(_, mut members)| {
            members.sort_by(|a, b| (a.spec.train.seed, a.key).cmp(&(b.spec.train.seed, b.key)));
            let sum: f64 = members.iter().map(|j| j.val_accuracy).sum();
            RungConfig {
                keys: members.iter().map(|j| j.key.to_string()).collect(),
                val_accuracy: sum / members.len() as f64,
                params: members.iter().map(|j| j.params).min().unwrap_or(0),
            }
        })
        .collect();
    out.sort_by(compare_rows);
    out
}

/// Best-first order of two configurations by the ranking metric ([`Ranked::ranking_accuracy`]).
pub fn compare_rows<R: Ranked>(a: &R, b: &R) -> Ordering {
    compare_by(a.ranking_accuracy(), a, b.ranking_accuracy(), b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tune_spec::{ModelSpec, TrainSpec};

    fn spec(dense: usize, seed: u64) -> JobSpec {
        JobSpec {
            model: ModelSpec::cnn(&[16], dense),
            train: TrainSpec {
                seed,
                ..TrainSpec::default()
            },
        }
    }

    /// Job `key` of `spec` at a rung: `params` parameters, validation accuracy `val_accuracy`.
    fn job<'a>(key: &'a str, spec: &'a JobSpec, params: u64, val_accuracy: f64) -> RungJob<'a> {
        RungJob {
            key,
            spec,
            params,
            val_accuracy,
        }
    }

    /// The keys of each ranked configuration, best first.
    fn keys(ranked: &[RungConfig]) -> Vec<Vec<&str>> {
        ranked
            .iter()
            .map(|c| c.keys.iter().map(String::as_str).collect())
            .collect()
    }

    #[test]
    fn rung_configurations_are_seed_means_with_the_report_tie_break() {
        let specs = [
            spec(16, 1),
            spec(16, 2),
            spec(32, 1),
            spec(32, 2),
            spec(64, 1),
            spec(64, 2),
        ];
        // dense 16 and 32 tie on the mean (0.8); 16 has fewer parameters. 64 is best.
        let jobs = [
            job("k16a", &specs[0], 100, 0.7),
            job("k16b", &specs[1], 100, 0.9),
            job("k32a", &specs[2], 200, 0.8),
            job("k32b", &specs[3], 200, 0.8),
            job("k64b", &specs[5], 400, 0.85),
            job("k64a", &specs[4], 400, 0.84),
        ];
        let ranked = rank_rung(&jobs);
        assert_eq!(
            keys(&ranked),
            [["k64a", "k64b"], ["k16a", "k16b"], ["k32a", "k32b"]]
        );
        assert!((ranked[0].val_accuracy - 0.845).abs() < 1e-12);

        // The order the jobs come in never matters.
        let mut reversed = jobs.to_vec();
        reversed.reverse();
        assert_eq!(rank_rung(&reversed), ranked);
    }

    #[test]
    fn equal_accuracy_and_size_falls_back_to_the_smaller_key() {
        let (a, b) = (spec(16, 1), spec(17, 1));
        let ranked = rank_rung(&[job("bbb", &a, 10, 0.5), job("aaa", &b, 10, 0.5)]);
        assert_eq!(keys(&ranked), [["aaa"], ["bbb"]]);
    }
}
