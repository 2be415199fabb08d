//! `[search]`: how a sweep searches its grid. `strategy = "grid"` (the default) trains every job
//! for every epoch; `strategy = "halving"` runs synchronous successive halving over the grid:
//!
//! ```toml
//! [search]
//! strategy = "halving"      # "grid" (the default) | "halving"
//! eta = 3                   # keep the best ceil(n / eta) configurations at each rung
//! min_epochs = 2            # the first rung's budget; rungs at min_epochs * eta^k, capped at epochs
//! # allow_test_selection = true   # let halving select on the test split (validation = "test")
//! confirm = { top = 3, repeats = 3 }   # optional: re-run the last rung's best 3 with 3 more seeds
//! ```
//!
//! `confirm` re-runs, once the last rung is in, its best `top` configurations (ranked as at every
//! rung) with `repeats` more seeds each at the full budget, so that the report can give the
//! winner's mean and interval over seeds rather than one lucky seed.
//!
//! These are settings of the sweep, not of a job: a job trained to its last epoch under halving is
//! the same job (same key, same result, bit for bit) as one trained straight through, so they stay
//! out of the job vocabulary (`tune_spec::Field`) and out of job keys.
//!
//! Halving ranks on the validation split, so a grid that validates on the test split is refused
//! unless it says `allow_test_selection = true`. Every job of a halving grid must have the same
//! `epochs` (the rungs are epochs of one schedule).

use toml_edit::Item;
use tune_spec::{JobSpec, Validation};

use crate::error::{GridError, Lines, Location};

/// Default `eta` of `[search]`.
pub const DEFAULT_ETA: usize = 3;
/// Default `min_epochs` of `[search]`.
pub const DEFAULT_MIN_EPOCHS: usize = 1;

/// How a sweep searches its grid (`[search]` of the grid file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Search {
    /// Every job trains every epoch (no `[search]`, or `strategy = "grid"`).
    #[default]
    Grid,
    /// Synchronous successive halving.
    Halving(Halving),
}

/// The settings of `strategy = "halving"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Halving {
    /// Keep the best `ceil(n / eta)` configurations at each rung; at least 2.
    pub eta: usize,
    /// Epochs of the first rung; at least 1 and at most the grid's `epochs`.
    pub min_epochs: usize,
    /// Selecting on the test split (`validation = "test"`) was allowed explicitly.
    pub allow_test_selection: bool,
    /// `confirm = { top, repeats }`: more seeds for the last rung's best configurations.
    pub confirm: Option<Confirm>,
}

/// `confirm = { top = 3, repeats = 3 }` of `[search]`: once the last rung is in, its best `top`
/// configurations train again with `repeats` more seeds each (the seeds after the grid's, as
/// `--repeats` makes them), for every epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confirm {
    /// Configurations re-run (the best of the last rung); at least 1.
    pub top: usize,
    /// Seeds added to each; at least 1.
    pub repeats: usize,
}

impl Halving {
    /// The rung epochs for jobs of `epochs` epochs: see [`rungs`].
    pub fn rungs(&self, epochs: usize) -> Vec<usize> {
        rungs(epochs, self.min_epochs, self.eta)
    }

    /// The plan for `configurations` configurations of `epochs` epochs: see [`plan`].
    pub fn plan(&self, configurations: usize, epochs: usize) -> Vec<Rung> {
        plan(configurations, epochs, self.min_epochs, self.eta)
    }
}

/// The epochs at which successive halving compares the jobs ("rungs"): `min_epochs * eta^k` for
/// k = 0, 1, ... while below `epochs`, then `epochs` itself (the last rung is always the full
/// budget). Epochs 20, min_epochs 2, eta 3: `[2, 6, 18, 20]`; epochs 18: `[2, 6, 18]`.
///
/// Inputs are clamped to sense (`min_epochs` to 1..=epochs, `eta` to at least 2), so the result is
/// never empty for `epochs >= 1`, strictly increasing, and ends with `epochs`; `epochs == 0` gives
/// `[]`. Source: Jamieson & Talwalkar, "Non-stochastic best arm identification and
/// hyperparameter optimization" (AISTATS 2016), with the budget capped at the grid's epochs.
pub fn rungs(epochs: usize, min_epochs: usize, eta: usize) -> Vec<usize> {
    if epochs == 0 {
        return Vec::new();
    }
    let eta = eta.max(2);
    let mut r = min_epochs.clamp(1, epochs);
    let mut out = Vec::new();
    while r < epochs {
        out.push(r);
        r = r.saturating_mul(eta);
    }
    out.push(epochs);
    out
}

/// How many configurations of `n` go on to the next rung: `ceil(n / eta)`, at least 1 when `n >=
/// 1` (eta larger than n keeps one), 0 when `n == 0`.
pub fn survivors(n: usize, eta: usize) -> usize {
    n.div_ceil(eta.max(2))
}

/// One rung of a halving plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rung {
    /// The rung's number, from 0.
    pub index: usize,
    /// The epoch the rung's configurations train to.
    pub epoch: usize,
    /// Configurations that train to it (each with all its seeds).
    pub configurations: usize,
    /// Epochs each of them trains in this rung: `epoch` less the previous rung's epoch.
    pub new_epochs: usize,
}

/// The rungs of successive halving over `configurations` configurations of `epochs` epochs: every
/// configuration trains to the first rung, then the best [`survivors`] of each rung continue from
/// their checkpoint to the next. Configurations times [`Rung::new_epochs`], summed over the rungs,
/// is what halving trains per seed, against `configurations * epochs` for the full grid.
pub fn plan(configurations: usize, epochs: usize, min_epochs: usize, eta: usize) -> Vec<Rung> {
    let mut n = configurations;
    let mut previous = 0;
    rungs(epochs, min_epochs, eta)
        .into_iter()
        .enumerate()
        .map(|(index, epoch)| {
            if index > 0 {
                n = survivors(n, eta);
            }
            let rung = Rung {
                index,
                epoch,
                configurations: n,
                new_epochs: epoch - previous,
            };
            previous = epoch;
            rung
        })
        .collect()
}

/// Training epochs of a plan, per seed: configurations times new epochs, summed over the rungs.
pub fn plan_epochs(plan: &[Rung]) -> usize {
    plan.iter().map(|r| r.configurations * r.new_epochs).sum()
}

/// `[search]` as read, with where it is written.
#[derive(Debug, Clone)]
pub(crate) struct SearchAt {
    pub(crate) search: Search,
    pub(crate) at: Location,
    /// Where `min_epochs` is written (else the table).
    pub(crate) min_epochs_at: Location,
}

/// Keys of `[search]`.
const KEYS: [&str; 5] = [
    "strategy",
    "eta",
    "min_epochs",
    "allow_test_selection",
    "confirm",
];

/// Reads the `[search]` table `item`, written at `at`.
pub(crate) fn read(item: &Item, at: Location, lines: &Lines<'_>) -> Result<SearchAt, GridError> {
    let Some(table) = item.as_table_like() else {
        return Err(GridError::WrongType {
            at,
            key: "search".into(),
            expected:
                "a table: a `[search]` line followed by `strategy = \"halving\"`, `eta = 3`, \
                       `min_epochs = 2`"
                    .into(),
            found: crate::parse::found(item),
        });
    };
    let key_at = |key: &str| lines.span(table.key(key).and_then(|k| k.span()), &at);
    for (key, _) in table.iter() {
        if !KEYS.contains(&key) {
            let mut hint = crate::error::closest(key, &KEYS)
                .map(|c| format!("Did you mean `{c}`? "))
                .unwrap_or_default();
            if ["name", "description", "repeats"].contains(&key) {
                hint.push_str("Top-level keys must come before the first [table] line. ");
            }
            return Err(GridError::UnknownKey {
                at: key_at(key),
                key: key.into(),
                table: "[search]".into(),
                help: format!("{hint}Valid keys there: {}", KEYS.join(", ")),
            });
        }
    }
    let int = |key: &str, default: usize, least: usize, what: &str| -> Result<usize, GridError> {
        let Some(item) = table.get(key) else {
            return Ok(default);
        };
        let value = item.as_integer().ok_or_else(|| GridError::WrongType {
            at: key_at(key),
            key: format!("search.{key}"),
            expected: "an integer".into(),
            found: crate::parse::found(item),
        })?;
        usize::try_from(value)
            .ok()
            .filter(|&v| v >= least)
            .ok_or_else(|| GridError::Invalid {
                at: key_at(key),
                key: format!("search.{key}"),
                message: format!("must be at least {least} ({what}), found {value}"),
            })
    };
    let strategy = match table.get("strategy") {
        None => "grid".to_string(),
        Some(item) => item
            .as_str()
            .ok_or_else(|| GridError::WrongType {
                at: key_at("strategy"),
                key: "search.strategy".into(),
                expected: "a string, \"grid\" or \"halving\"".into(),
                found: crate::parse::found(item),
            })?
            .to_string(),
    };
    let allow_test_selection = match table.get("allow_test_selection") {
        None => false,
        Some(item) => item.as_bool().ok_or_else(|| GridError::WrongType {
            at: key_at("allow_test_selection"),
            key: "search.allow_test_selection".into(),
            expected: "true or false".into(),
            found: crate::parse::found(item),
        })?,
    };
    let search = match strategy.as_str() {
        "grid" => {
            if let Some(key) = ["eta", "min_epochs", "allow_test_selection", "confirm"]
                .into_iter()
                .find(|k| table.contains_key(k))
            {
                return Err(GridError::Invalid {
                    at: key_at(key),
                    key: format!("search.{key}"),
                    message: "only applies to strategy = \"halving\"; set strategy = \"halving\" \
                              or remove the line"
                        .into(),
                });
            }
            Search::Grid
        }
        "halving" => Search::Halving(Halving {
            eta: int(
                "eta",
                DEFAULT_ETA,
                2,
                "each rung keeps the best 1/eta of the configurations",
            )?,
            min_epochs: int(
                "min_epochs",
                DEFAULT_MIN_EPOCHS,
                1,
                "the epochs every job trains before the first comparison",
            )?,
            allow_test_selection,
            confirm: match table.get("confirm") {
                None => None,
                Some(item) => Some(read_confirm(item, key_at("confirm"))?),
            },
        }),
        other => {
            return Err(GridError::Invalid {
                at: key_at("strategy"),
                key: "search.strategy".into(),
                message: format!(
                    "is \"{other}\"; expected \"grid\" (every job trains every epoch) or \
                     \"halving\" (successive halving)"
                ),
            });
        }
    };
    let min_epochs_at = key_at("min_epochs");
    Ok(SearchAt {
        search,
        at,
        min_epochs_at,
    })
}

/// Reads `confirm = { top = N, repeats = M }`, written at `at`.
fn read_confirm(item: &Item, at: Location) -> Result<Confirm, GridError> {
    let example = "an inline table such as confirm = { top = 3, repeats = 3 } (the best 3 \
                   configurations of the last rung, 3 more seeds each)";
    let Some(table) = item.as_table_like() else {
        return Err(GridError::WrongType {
            at,
            key: "search.confirm".into(),
            expected: example.into(),
            found: crate::parse::found(item),
        });
    };
    for (key, _) in table.iter() {
        if !["top", "repeats"].contains(&key) {
            return Err(GridError::UnknownKey {
                at: at.clone(),
                key: key.into(),
                table: "search.confirm".into(),
                help: "Valid keys there: top, repeats".into(),
            });
        }
    }
    let int = |key: &str| -> Result<usize, GridError> {
        let item = table.get(key).ok_or_else(|| GridError::Invalid {
            at: at.clone(),
            key: "search.confirm".into(),
            message: format!("lacks `{key}`; write {example}"),
        })?;
        item.as_integer()
            .and_then(|v| usize::try_from(v).ok())
            .filter(|&v| v >= 1)
            .ok_or_else(|| GridError::Invalid {
                at: at.clone(),
                key: format!("search.confirm.{key}"),
                message: format!(
                    "must be a whole number of at least 1, found {}",
                    crate::parse::found(item)
                ),
            })
    };
    Ok(Confirm {
        top: int("top")?,
        repeats: int("repeats")?,
    })
}

/// Checks a halving search against the jobs it would run: one data set and one `epochs` for
/// every job, at least `min_epochs`; validation on a holdout unless selection on the test split
/// was allowed.
pub(crate) fn check(s: &SearchAt, jobs: &[JobSpec]) -> Result<(), GridError> {
    let Search::Halving(h) = s.search else {
        return Ok(());
    };
    let mut epochs: Vec<usize> = jobs.iter().map(|j| j.train.epochs).collect();
    epochs.sort_unstable();
    epochs.dedup();
    if epochs.len() > 1 {
        return Err(GridError::Invalid {
            at: s.at.clone(),
            key: "search".into(),
            message: format!(
                "strategy = \"halving\" needs one `epochs` for every job, but the grid's jobs have \
                 {}: fix epochs in [fixed] (the rungs are epochs of one schedule)",
                epochs
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    // A rung ranks its jobs against each other: accuracies on different data sets do not rank
    // against each other, so one data set would prune the other's configurations.
    let mut datasets: Vec<&str> = jobs.iter().map(|j| j.train.dataset.as_str()).collect();
    datasets.sort_unstable();
    datasets.dedup();
    if datasets.len() > 1 {
        return Err(GridError::Invalid {
            at: s.at.clone(),
            key: "search".into(),
            message: format!(
                "strategy = \"halving\" ranks each rung's jobs against each other, but the grid's \
                 jobs are on {} data sets ({}), whose accuracies do not rank against each other: \
                 give the grid one data set (fix `dataset` in [fixed]) and write one halving grid \
                 per data set",
                datasets.len(),
                datasets.join(", ")
            ),
        });
    }
    if let Some(&e) = epochs.first()
        && h.min_epochs > e
    {
        return Err(GridError::Invalid {
            at: s.min_epochs_at.clone(),
            key: "search.min_epochs".into(),
            message: format!(
                "is {}, more than the jobs' {e} epochs; the first rung must come before the last \
                 epoch (e.g. min_epochs = {})",
                h.min_epochs,
                (e / 10).max(1)
            ),
        });
    }
    if !h.allow_test_selection
        && let Some(job) = jobs.iter().find(|j| j.train.validation == Validation::Test)
    {
        return Err(GridError::Invalid {
            at: s.at.clone(),
            key: "search".into(),
            message: format!(
                "strategy = \"halving\" selects configurations on their validation accuracy, but \
                 this grid validates on the test split ({} has validation = \"test\"), so the \
                 test figures of the winner would be chosen on the test split itself. Set a \
                 holdout in [fixed]: validation = {{ holdout = 5000 }} (or remove the \
                 validation line: a holdout of 5,000 is the default); or, to select on the test \
                 split anyway, add allow_test_selection = true to [search]",
                job.model.label()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_multiply_by_eta_and_end_at_the_full_budget() {
        assert_eq!(rungs(20, 2, 3), vec![2, 6, 18, 20]);
        // Exactly reached: no extra rung.
        assert_eq!(rungs(18, 2, 3), vec![2, 6, 18]);
        // Epochs not a multiple of anything.
        assert_eq!(rungs(7, 1, 2), vec![1, 2, 4, 7]);
        assert_eq!(rungs(5, 2, 4), vec![2, 5]);
        // min_epochs equal to epochs: one rung, the full grid.
        assert_eq!(rungs(4, 4, 3), vec![4]);
        // Out-of-range inputs are clamped, never loop or panic.
        assert_eq!(rungs(3, 10, 3), vec![3]);
        assert_eq!(rungs(3, 0, 1), vec![1, 2, 3]);
        assert_eq!(rungs(0, 2, 3), Vec::<usize>::new());
        assert_eq!(rungs(usize::MAX, usize::MAX / 2, 3).len(), 2);
    }

    #[test]
    fn survivors_round_up_and_keep_at_least_one() {
        assert_eq!(survivors(20, 3), 7);
        assert_eq!(survivors(7, 3), 3);
        assert_eq!(survivors(3, 3), 1);
        assert_eq!(survivors(1, 3), 1);
        // eta larger than the job count keeps one.
        assert_eq!(survivors(4, 10), 1);
        assert_eq!(survivors(0, 3), 0);
    }

    #[test]
    fn plan_counts_configurations_and_new_epochs_per_rung() {
        let p = plan(20, 20, 2, 3);
        let shape: Vec<(usize, usize, usize)> = p
            .iter()
            .map(|r| (r.epoch, r.configurations, r.new_epochs))
            .collect();
        assert_eq!(shape, vec![(2, 20, 2), (6, 7, 4), (18, 3, 12), (20, 1, 2)]);
        // 40 + 28 + 36 + 2 = 106 of the full grid's 400 epochs.
        assert_eq!(plan_epochs(&p), 106);

        // One job: it trains through every rung alone.
        let one = plan(1, 20, 2, 3);
        assert!(one.iter().all(|r| r.configurations == 1));
        assert_eq!(plan_epochs(&one), 20);

        // eta larger than the job count: one configuration after the first rung.
        let few = plan(4, 10, 1, 10);
        let shape: Vec<(usize, usize)> = few.iter().map(|r| (r.epoch, r.configurations)).collect();
        assert_eq!(shape, vec![(1, 4), (10, 1)]);
        assert_eq!(plan_epochs(&few), 4 + 9);
    }
}
