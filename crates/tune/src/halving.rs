//! Successive halving, the binary's side: the plan of a halving grid as the store keeps it, and
//! the one choice at a rung (report ranking, `ceil(n / eta)` survivors) that the runner hands to
//! [`tune_store::Store::advance_halving`] and `tune report --replay-halving` replays.

use tune_grid::{Halving, Search};
use tune_report::{RungJob, rank_rung};
use tune_spec::JobSpec;
use tune_store::{HalvingPlan, RankedConfig, RungEntry};

/// The store's plan for a grid whose jobs have `epochs` epochs (`None` for a full grid).
pub fn store_plan(search: &Search, epochs: usize) -> Option<HalvingPlan> {
    match search {
        Search::Grid => None,
        Search::Halving(h) => Some(plan_of(h, epochs)),
    }
}

/// The store's plan of halving settings `h` over jobs of `epochs` epochs.
pub fn plan_of(h: &Halving, epochs: usize) -> HalvingPlan {
    HalvingPlan {
        eta: h.eta,
        min_epochs: h.min_epochs,
        rungs: h.rungs(epochs),
        confirm: h.confirm.map(|c| tune_store::ConfirmPlan {
            top: c.top,
            repeats: c.repeats,
        }),
    }
}

/// The choice at a rung: the configurations that reported (failed jobs left out) ranked best
/// first as reports rank them ([`rank_rung`]), of which the first [`tune_grid::survivors`] go on.
pub fn choose(entries: &[RungEntry], eta: usize) -> (Vec<RankedConfig>, usize) {
    let jobs: Vec<RungJob<'_>> = entries
        .iter()
        .filter_map(|e| {
            e.val_accuracy.map(|v| RungJob {
                key: &e.key,
                spec: &e.spec,
                params: e.params,
                val_accuracy: v,
            })
        })
        .collect();
    let ranked = rank_rung(&jobs);
    let keep = tune_grid::survivors(ranked.len(), eta);
    let ranked = ranked
        .into_iter()
        .map(|c| RankedConfig {
            keys: c.keys,
            val_accuracy: c.val_accuracy,
        })
        .collect();
    (ranked, keep)
}

/// Distinct configurations among `jobs` (jobs that differ only in their seed are one).
pub fn configurations(jobs: &[JobSpec]) -> usize {
    let mut seen: Vec<JobSpec> = Vec::new();
    for job in jobs {
        let mut spec = job.clone();
        spec.train.seed = 0;
        if !seen.contains(&spec) {
            seen.push(spec);
        }
    }
    seen.len()
}

/// A finished job for [`replay`]: its validation accuracy after each epoch.
#[derive(Debug, Clone)]
pub struct ReplayJob {
    /// The job's key.
    pub key: String,
    /// The job.
    pub spec: JobSpec,
    /// Trainable parameters.
    pub params: u64,
    /// Validation accuracy after epoch 1, 2, ... (index 0 is epoch 1).
    pub val_by_epoch: Vec<f64>,
}

/// What successive halving would have done on finished jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    /// Each rung: its epoch and how many configurations trained to it.
    pub rungs: Vec<(usize, usize)>,
    /// The configuration chosen at the last rung.
    pub chosen: RankedConfig,
    /// Epochs halving would have trained (every seed counts).
    pub epochs_used: usize,
    /// Epochs the full grid trained.
    pub epochs_full: usize,
}

impl Replayed {
    /// `epochs_used / epochs_full`.
    pub fn share(&self) -> f64 {
        if self.epochs_full == 0 {
            0.0
        } else {
            self.epochs_used as f64 / self.epochs_full as f64
        }
    }
}

/// Replays successive halving (eta, min_epochs) on finished jobs of one `epochs`: at each rung
/// the same choice as a halving run ([`choose`]) on the stored validation accuracies at the
/// rung's epoch, the configuration ranked first at the last rung chosen. Errors when the jobs have
/// different `epochs` or lack the per-epoch figures of a rung.
pub fn replay(jobs: &[ReplayJob], eta: usize, min_epochs: usize) -> anyhow::Result<Replayed> {
    let mut epochs: Vec<usize> = jobs.iter().map(|j| j.spec.train.epochs).collect();
    epochs.sort_unstable();
    epochs.dedup();
    let epochs = match epochs.as_slice() {
        [e] => *e,
        [] => anyhow::bail!("--replay-halving: no finished jobs to replay on"),
        many => anyhow::bail!(
            "--replay-halving needs jobs of one `epochs`, but the selection has {}; pick one \
             with --sweep or --where epochs=N",
            many.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let rungs = tune_grid::rungs(epochs, min_epochs, eta);
    let mut alive: Vec<&ReplayJob> = jobs.iter().collect();
    let mut out_rungs = Vec::new();
    let mut used = 0;
    let mut previous = 0;
    let mut chosen = None;
    for (i, &epoch) in rungs.iter().enumerate() {
        let mut entries = Vec::with_capacity(alive.len());
        for j in &alive {
            let v = j
                .val_by_epoch
                .get(epoch - 1)
                .copied()
                .with_context_epoch(&j.key, epoch)?;
            entries.push(RungEntry {
                key: j.key.clone(),
                spec: j.spec.clone(),
                params: j.params,
                val_accuracy: Some(v),
            });
        }
        used += alive.len() * (epoch - previous);
        previous = epoch;
        let (ranked, keep) = choose(&entries, eta);
        out_rungs.push((epoch, ranked.len()));
        if i + 1 == rungs.len() {
            chosen = ranked.into_iter().next();
            break;
        }
        let kept: Vec<&String> = ranked.iter().take(keep).flat_map(|c| &c.keys).collect();
        alive.retain(|j| kept.contains(&&j.key));
    }
    Ok(Replayed {
        rungs: out_rungs,
        chosen: chosen.ok_or_else(|| anyhow::anyhow!("--replay-halving: nothing to choose"))?,
        epochs_used: used,
        epochs_full: jobs.len() * epochs,
    })
}

/// A missing epoch figure as an error naming the job.
trait EpochContext<T> {
    fn with_context_epoch(self, key: &str, epoch: usize) -> anyhow::Result<T>;
}

impl<T> EpochContext<T> for Option<T> {
    fn with_context_epoch(self, key: &str, epoch: usize) -> anyhow::Result<T> {
        self.ok_or_else(|| {
            anyhow::anyhow!(
                "--replay-halving: job {key} has no recorded validation accuracy for epoch \
                 {epoch} (finished by an older tune?)"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tune_spec::{ModelSpec, TrainSpec};

    fn job(dense: usize, seed: u64, vals: &[f64]) -> ReplayJob {
        let spec = JobSpec {
            model: ModelSpec::cnn(&[16], dense),
            train: TrainSpec {
                seed,
                epochs: vals.len(),
                ..TrainSpec::default()
            },
        };
        ReplayJob {
            key: format!("k{dense}-{seed}"),
            spec,
            params: dense as u64,
            val_by_epoch: vals.to_vec(),
        }
    }

    #[test]
    fn replay_prunes_by_rung_and_counts_epochs() {
        // 4 configurations, 4 epochs, eta 2, min_epochs 1: rungs 1, 2, 4 with 4, 2, 1.
        // dense 8 starts best but fades; dense 32 is best at the end.
        let jobs = [
            job(8, 1, &[0.9, 0.5, 0.5, 0.5]),
            job(16, 1, &[0.1, 0.1, 0.1, 0.1]),
            job(32, 1, &[0.8, 0.8, 0.9, 0.95]),
            job(64, 1, &[0.2, 0.9, 0.99, 0.99]),
        ];
        let r = replay(&jobs, 2, 1).unwrap();
        assert_eq!(r.rungs, vec![(1, 4), (2, 2), (4, 1)]);
        // dense 64 was pruned at rung 1 (0.2): it never gets to show its 0.99.
        assert_eq!(r.chosen.keys, vec!["k32-1".to_string()]);
        // 4 x 1 + 2 x 1 + 1 x 2 epochs of 16.
        assert_eq!((r.epochs_used, r.epochs_full), (8, 16));
        assert!((r.share() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn replay_moves_seeds_together_and_refuses_mixed_epochs() {
        let jobs = [
            job(8, 1, &[0.9, 0.1]),
            job(8, 2, &[0.1, 0.1]),
            job(16, 1, &[0.6, 0.6]),
            job(16, 2, &[0.6, 0.6]),
        ];
        // Means at epoch 1: dense 8 0.5, dense 16 0.6 -> dense 16 goes on with both seeds.
        let r = replay(&jobs, 2, 1).unwrap();
        assert_eq!(
            r.chosen.keys,
            vec!["k16-1".to_string(), "k16-2".to_string()]
        );
        assert_eq!((r.epochs_used, r.epochs_full), (4 + 2, 8));

        let mixed = [job(8, 1, &[0.5]), job(16, 1, &[0.5, 0.5])];
        let e = replay(&mixed, 2, 1).unwrap_err().to_string();
        assert!(e.contains("one `epochs`"), "{e}");
    }
}
