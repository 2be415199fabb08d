//! What a report adds for a halving sweep: its plan and decisions, where each job stopped, and the
//! configurations confirmed with more seeds. `tune report --format json` and the dashboard's
//! `report.json` write the same `"halving"` object from a [`HalvingView`].

use crate::{HalvingPlan, RungDecision};
use std::collections::HashMap;
use tune_report::stats::{Interval, Summary, t_interval};
use tune_spec::JobSpec;

/// One job of a halving sweep as its report sees it.
#[derive(Debug, Clone)]
pub struct HalvingJob {
    /// Its architecture's label (`JobSpec::model.label()`).
    pub label: String,
    /// Its status as stored (`done`, `pruned`, `failed`, ...).
    pub status: String,
    /// Epochs recorded.
    pub epochs_done: u32,
    /// The job.
    pub spec: JobSpec,
}

/// A halving sweep's plan, decisions and jobs.
#[derive(Debug, Clone)]
pub struct HalvingView {
    /// The plan (eta, min_epochs, rungs, confirm).
    pub plan: HalvingPlan,
    /// The rung decisions, in rung order.
    pub decisions: Vec<RungDecision>,
    /// Every job of the sweep, by key.
    pub jobs: HashMap<String, HalvingJob>,
}

/// One configuration confirmed with more seeds (`confirm` in `[search]`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Confirmed {
    /// Its place in the last rung's ranking, from 1.
    pub place: usize,
    /// Its architecture's label.
    pub label: String,
    /// Its jobs: the halving run's seeds, then the confirm seeds.
    pub keys: Vec<String>,
    /// Mean validation accuracy of its halving seeds at the last rung, 0 to 1.
    pub val_accuracy: f64,
    /// Test accuracies of its finished jobs, in `keys` order, 0 to 1.
    pub test_accuracies: Vec<f64>,
    /// Mean and spread of `test_accuracies`.
    pub summary: Option<Summary>,
    /// 95% Student-t interval of the mean (two or more seeds finished), clamped to [0, 1].
    pub interval: Option<Interval>,
}

impl HalvingView {
    /// Keys of the jobs pruned at some rung (at the decision or late).
    pub fn pruned(&self) -> impl Iterator<Item = &String> {
        self.decisions
            .iter()
            .flat_map(|d| d.prune.iter().chain(&d.late_prune))
    }

    /// The jobs that failed before a rung's decision and are still failed: out of the race at
    /// that rung (with the decision).
    pub fn out_of_race(&self) -> impl Iterator<Item = (&RungDecision, &String)> {
        self.decisions.iter().flat_map(move |d| {
            d.failed.iter().filter_map(move |k| {
                let failed = self.jobs.get(k).is_some_and(|j| j.status == "failed");
                (failed && !d.judged(k)).then_some((d, k))
            })
        })
    }

    /// The confirmed configurations, best of the last rung first, with the test accuracies
    /// `test_accuracy(key)` gives for their finished jobs; empty without `confirm`.
    pub fn confirmed(&self, test_accuracy: impl Fn(&str) -> Option<f64>) -> Vec<Confirmed> {
        let Some(d) = self.decisions.iter().find(|d| !d.confirm_top.is_empty()) else {
            return Vec::new();
        };
        // A configuration: the spec without its seed.
        let config = |key: &str| {
            self.jobs.get(key).map(|j| {
                let mut s = j.spec.clone();
                s.train.seed = 0;
                s
            })
        };
        let mut out = Vec::new();
        for (i, c) in d.ranking.iter().enumerate() {
            if !c.keys.iter().any(|k| d.confirm_top.contains(k)) {
                continue;
            }
            let spec = config(&c.keys[0]);
            let mut keys = c.keys.clone();
            keys.extend(
                d.confirm
                    .iter()
                    .filter(|k| spec.is_some() && config(k) == spec)
                    .cloned(),
            );
            let test_accuracies: Vec<f64> = keys.iter().filter_map(|k| test_accuracy(k)).collect();
            out.push(Confirmed {
                place: i + 1,
                label: self
                    .jobs
                    .get(&c.keys[0])
                    .map_or(String::new(), |j| j.label.clone()),
                keys,
                val_accuracy: c.val_accuracy,
                summary: Summary::of(&test_accuracies),
                interval: t_interval(&test_accuracies, 0.95).map(|i| i.within(0.0, 1.0)),
                test_accuracies,
            });
        }
        out
    }

    /// What every job of the sweep reached, in key order: `key`, `status`, `rung` (from 1: the
    /// rung that stopped it, else the last rung whose epoch it reached) and `epoch`.
    fn jobs_json(&self) -> serde_json::Value {
        let mut stopped: HashMap<&str, &RungDecision> = HashMap::new();
        for d in &self.decisions {
            for key in d.prune.iter().chain(&d.late_prune) {
                stopped.insert(key, d);
            }
        }
        for (d, key) in self.out_of_race() {
            stopped.insert(key, d);
        }
        let mut keys: Vec<&String> = self.jobs.keys().collect();
        keys.sort();
        let rows = keys
            .into_iter()
            .map(|key| {
                let job = &self.jobs[key];
                let (rung, epoch) = match stopped.get(key.as_str()) {
                    Some(d) => (d.rung + 1, d.epoch),
                    None => {
                        let done = job.epochs_done as usize;
                        let r = self.plan.rungs.iter().take_while(|&&e| e <= done).count();
                        (r, done)
                    }
                };
                serde_json::json!({
                    "key": key,
                    "status": job.status,
                    "rung": rung,
                    "epoch": epoch,
                })
            })
            .collect();
        serde_json::Value::Array(rows)
    }

    /// The `"halving"` object of a report's JSON: `eta`, `min_epochs`, `rungs`, `decisions`,
    /// `jobs` (see `jobs_json`) and `confirmed` (test accuracies from `test_accuracy(key)`).
    pub fn to_json(&self, test_accuracy: impl Fn(&str) -> Option<f64>) -> serde_json::Value {
        serde_json::json!({
            "eta": self.plan.eta,
            "min_epochs": self.plan.min_epochs,
            "rungs": self.plan.rungs,
            "decisions": self.decisions,
            "jobs": self.jobs_json(),
            "confirmed": self.confirmed(test_accuracy),
        })
    }

    /// The report's JSON object `text` with `halving` ([`HalvingView::to_json`]) added as its
    /// last member, `"halving"`, keeping the report's own text and key order as rendered; `text`
    /// unchanged when it is not an object.
    pub fn add_to_report_json(text: &str, halving: &serde_json::Value) -> String {
        let trimmed = text.trim_end();
        match trimmed.strip_suffix('}') {
            Some(body) => format!(
                "{},\n  \"halving\": {}\n}}\n",
                body.trim_end(),
                serde_json::to_string(halving).expect("JSON values always serialise")
            ),
            None => text.to_string(),
        }
    }
}
