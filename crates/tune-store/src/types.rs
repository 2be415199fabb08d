//! The public row types: what callers put into the store and get back out.

use std::fmt;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tune_spec::{EpochMetrics, JobSpec, ModelKind};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobStatus {
    /// Waiting to be claimed.
    Pending,
    /// Claimed by a worker that holds a lease on it.
    Running,
    /// Finished; its result row exists.
    Done,
    /// Gave up: training failed, or its lease expired `max_attempts` times.
    Failed,
    /// Stopped before finishing (Ctrl-C, or its process died); claimed again before pending jobs.
    Interrupted,
    /// A job of a halving sweep that reached its rung's epoch and waits for the rung's decision
    /// (stored as status `pending` with `halt = 'waiting'`).
    Waiting,
    /// A job of a halving sweep that a rung's decision stopped; its epochs are kept, it has no
    /// result (stored as status `done` with `halt = 'pruned'`).
    Pruned,
    /// A job of an earlier version of a user's data set: its files changed before it finished,
    /// so it can never train; kept, counted neither as failed nor as open (stored as status
    /// `failed` with `superseded_by`, the files' new content hash).
    Superseded,
}

impl JobStatus {
    /// All statuses, in life order.
    pub const ALL: [JobStatus; 8] = [
        JobStatus::Pending,
        JobStatus::Running,
        JobStatus::Done,
        JobStatus::Failed,
        JobStatus::Interrupted,
        JobStatus::Waiting,
        JobStatus::Pruned,
        JobStatus::Superseded,
    ];

    /// The text of the `jobs.state` column (the `status` column holds the first five).
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
            JobStatus::Interrupted => "interrupted",
            JobStatus::Waiting => "waiting",
            JobStatus::Pruned => "pruned",
            JobStatus::Superseded => "superseded",
        }
    }

    /// Whether the job will not run again by itself (done, failed, pruned or superseded).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Done | JobStatus::Failed | JobStatus::Pruned | JobStatus::Superseded
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for JobStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown job status `{s}`"))
    }
}

/// A grid being enqueued: what the `sweeps` table records about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSweep {
    /// The grid's name (e.g. the grid file's stem).
    pub name: String,
    /// The grid file's full text, kept so the sweep can be reproduced.
    pub grid_text: String,
    /// Host that enqueued it.
    pub host: String,
    /// Version of tune that enqueued it.
    pub tune_version: String,
    /// For a halving grid on users' data sets, each one's name and content hash
    /// (`NAME=SHA256`, `;`-separated, sorted); empty otherwise. Part of the id: a halving
    /// sweep's rung decisions rank the data they were made on, so the same grid on other
    /// content is another sweep (a full grid keeps its sweep when its files change).
    pub data_versions: String,
}

impl NewSweep {
    /// The sweep's id: `NAME-HASH`, where HASH is the first 8 hex digits of the SHA-256 of the grid
    /// text (followed by a NUL byte and [`NewSweep::data_versions`] when that is not empty). The
    /// same grid file always has the same id; an edited one gets a new id.
    pub fn id(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.grid_text.as_bytes());
        if !self.data_versions.is_empty() {
            hasher.update([0u8]);
            hasher.update(self.data_versions.as_bytes());
        }
        let digest = hasher.finalize();
        format!("{}-{}", self.name, hex::encode(&digest[..4]))
    }
}

/// What [`Store::enqueue`](crate::Store::enqueue) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnqueueReport {
    /// The sweep's id ([`NewSweep::id`]).
    pub sweep_id: String,
    /// Whether the sweep row was new.
    pub sweep_added: bool,
    /// Jobs given.
    pub jobs: usize,
    /// Jobs that were not yet in the database (the others were already known, in any status).
    pub jobs_added: usize,
    /// Sweep memberships that were new.
    pub memberships_added: usize,
}

/// A worker's hold on a job, returned by [`Store::claim`](crate::Store::claim). Every write about
/// the job passes it back, and the write only happens while the job is still running under this
/// worker id and attempt.
///
/// The lease runs out `lease` after the claim unless renewed: call
/// [`Store::heartbeat`](crate::Store::heartbeat) about every `lease / 3` while training (each
/// recorded epoch and saved checkpoint renews it too). A worker id should name the process, e.g.
/// `HOST:PID`, so that [`Store::interrupt_running`](crate::Store::interrupt_running) can release
/// the jobs of one host's dead processes.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// The job's key.
    pub key: String,
    /// The job, rebuilt from its stored canonical JSON.
    pub spec: JobSpec,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
    /// The worker holding the claim.
    pub worker_id: String,
    /// How far each heartbeat (and each recorded epoch) pushes the lease expiry.
    pub lease: Duration,
    /// A job of a halving sweep: the epoch to train to before it waits for its rung's decision
    /// ([`Store::pause`](crate::Store::pause)); `None` (or the job's `epochs`): every epoch.
    pub stop_at: Option<usize>,
}

/// What [`Store::interrupt_running`](crate::Store::interrupt_running) did with a killed run's
/// jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Released {
    /// Jobs that will be claimed again (before pending ones).
    pub resumed: u64,
    /// Jobs given up on: they were killed on their last allowed attempt.
    pub failed: u64,
}

/// Which finished results to read; `None` fields match everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultFilter {
    /// Only jobs of this sweep (id or name).
    pub sweep: Option<String>,
    /// Only this data set.
    pub dataset: Option<String>,
    /// Only this model family.
    pub model: Option<ModelKind>,
    /// Only this seed.
    pub seed: Option<u64>,
    /// Also read each job's per-epoch history into [`JobResult::history`].
    pub with_history: bool,
}

/// A finished job and its result.
#[derive(Debug, Clone, PartialEq)]
pub struct JobResult {
    /// The job's key.
    pub key: String,
    /// The job.
    pub spec: JobSpec,
    /// Trainable parameters.
    pub params: u64,
    /// Training FLOPs per image.
    pub flops_per_image: f64,
    /// Loss on the test split after the last epoch.
    pub test_loss: f64,
    /// Accuracy on the test split after the last epoch.
    pub test_accuracy: f64,
    /// Validation accuracy after the last recorded epoch (on the holdout, or on the test split
    /// when the job validates on it); `None` if not recorded.
    pub val_accuracy: Option<f64>,
    /// Wall-clock seconds of the run.
    pub runtime_s: f64,
    /// Training images per second.
    pub images_per_s: f64,
    /// When it finished (UTC, `YYYY-MM-DD HH:MM:SS.SSS`).
    pub finished_at: String,
    /// Per-epoch metrics, in epoch order; empty unless [`ResultFilter::with_history`] was set.
    pub history: Vec<EpochMetrics>,
}

impl JobResult {
    /// The job as a report row: its test loss and accuracy, validation accuracy, parameters and
    /// run time, run in sweep `sweep` when given. The row has no per-image predictions: the tie
    /// tests need them ([`crate::Store::predictions`] reads them).
    pub fn report_row(&self, sweep: Option<&str>) -> tune_report::ResultRow {
        tune_report::ResultRow {
            key: self.key.clone(),
            spec: self.spec.clone(),
            params: self.params as usize,
            loss: self.test_loss,
            accuracy: self.test_accuracy,
            val_accuracy: self.val_accuracy,
            val_predictions: None,
            test_predictions: None,
            test_images: None,
            runtime_s: self.runtime_s,
            sweep: sweep.map(str::to_string),
        }
    }
}

/// A job's queue state.
#[derive(Debug, Clone, PartialEq)]
pub struct JobStatusRow {
    /// The job's key.
    pub key: String,
    /// The job.
    pub spec: JobSpec,
    /// Its status.
    pub status: JobStatus,
    /// Times it has been claimed.
    pub attempts: u32,
    /// The worker that claimed it last.
    pub worker_id: Option<String>,
    /// When the current lease runs out (UTC text), while running.
    pub lease_expires_at: Option<String>,
    /// The last error: a training failure, or a lost lease.
    pub last_error: Option<String>,
    /// When it was first enqueued (UTC text).
    pub created_at: String,
    /// When its last attempt started (UTC text).
    pub started_at: Option<String>,
    /// When it finished or failed (UTC text).
    pub finished_at: Option<String>,
    /// Epochs recorded so far.
    pub epochs_done: u32,
}

/// How many jobs are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// Waiting to be claimed.
    pub pending: u64,
    /// Claimed and training.
    pub running: u64,
    /// Finished.
    pub done: u64,
    /// Given up.
    pub failed: u64,
    /// Stopped before finishing; will be claimed again.
    pub interrupted: u64,
    /// Halving: waiting at a rung for its decision.
    pub waiting: u64,
    /// Halving: stopped by a rung's decision.
    pub pruned: u64,
    /// Of an earlier version of a user's data set: never trains, not failed.
    pub superseded: u64,
}

impl StatusCounts {
    /// All jobs counted.
    pub fn total(&self) -> u64 {
        self.pending
            + self.running
            + self.done
            + self.failed
            + self.interrupted
            + self.waiting
            + self.pruned
            + self.superseded
    }

    /// Adds `n` jobs of `status`.
    pub fn add(&mut self, status: JobStatus, n: u64) {
        *match status {
            JobStatus::Pending => &mut self.pending,
            JobStatus::Running => &mut self.running,
            JobStatus::Done => &mut self.done,
            JobStatus::Failed => &mut self.failed,
            JobStatus::Interrupted => &mut self.interrupted,
            JobStatus::Waiting => &mut self.waiting,
            JobStatus::Pruned => &mut self.pruned,
            JobStatus::Superseded => &mut self.superseded,
        } += n;
    }

    /// How many jobs have `status`.
    pub fn get(&self, status: JobStatus) -> u64 {
        match status {
            JobStatus::Pending => self.pending,
            JobStatus::Running => self.running,
            JobStatus::Done => self.done,
            JobStatus::Failed => self.failed,
            JobStatus::Interrupted => self.interrupted,
            JobStatus::Waiting => self.waiting,
            JobStatus::Pruned => self.pruned,
            JobStatus::Superseded => self.superseded,
        }
    }
}

/// A sweep and the progress of its jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepRow {
    /// Its id ([`NewSweep::id`]).
    pub id: String,
    /// The grid's name.
    pub name: String,
    /// The grid file's text.
    pub grid_text: String,
    /// When it was first enqueued (UTC text).
    pub started_at: String,
    /// When its last job finished or failed (UTC text); `None` while jobs remain.
    pub finished_at: Option<String>,
    /// Host that enqueued it.
    pub host: String,
    /// tune version that enqueued it.
    pub tune_version: String,
    /// Its jobs by status.
    pub counts: StatusCounts,
}

/// The latest saved weights of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The last epoch the weights include.
    pub epoch: u32,
    /// The weights (safetensors bytes).
    pub bytes: Vec<u8>,
}

/// The checkpoint kept for a done job whose weight file is still to be written
/// ([`Store::complete_with`](crate::Store::complete_with)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptCheckpoint {
    /// The job's key.
    pub key: String,
    /// Its final weights and optimiser state.
    pub checkpoint: Checkpoint,
}

/// A job that two merged databases both finished with different results. The policy: the result
/// already in the target database wins (its own, or that of an input merged earlier); the other
/// is dropped, with its history.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeConflict {
    /// The job.
    pub key: String,
    /// The job, for messages.
    pub spec: JobSpec,
    /// Test accuracy and test loss kept (already in the target).
    pub kept: (Option<f64>, Option<f64>),
    /// Test accuracy and test loss dropped (from the database merged in).
    pub dropped: (Option<f64>, Option<f64>),
    /// The data identity (SHA-256) of the result kept, if recorded.
    pub kept_data: Option<String>,
    /// The data identity of the result dropped, if recorded.
    pub dropped_data: Option<String>,
}

/// What [`Store::merge_from`](crate::Store::merge_from) copied.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MergeReport {
    /// Sweeps that were new here.
    pub sweeps_added: usize,
    /// Jobs that were new here.
    pub jobs_added: usize,
    /// Jobs that were here but not done, replaced by the other store's done job.
    pub jobs_completed: usize,
    /// Sweep memberships that were new here.
    pub memberships_added: usize,
    /// Jobs finished in both with different results; the result here was kept.
    pub conflicts: Vec<MergeConflict>,
}

/// A finished job's per-example predictions ([`Store::predictions`](crate::Store::predictions)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobPredictions {
    /// On the validation images (the holdout, or the test split when the job validates on it).
    pub val: Option<tune_spec::Predictions>,
    /// On the test split.
    pub test: Option<tune_spec::Predictions>,
}

/// The halving plan of a sweep (`[search] strategy = "halving"`), as the store keeps it in
/// `sweeps.search_json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HalvingPlan {
    /// Each rung keeps the best `ceil(n / eta)` configurations.
    pub eta: usize,
    /// The first rung's epochs.
    pub min_epochs: usize,
    /// The rung epochs, increasing; the last is the jobs' `epochs` (see `tune_grid::rungs`).
    pub rungs: Vec<usize>,
    /// `confirm = { top, repeats }`: once the last rung is in, its best `top` configurations
    /// get `repeats` more seeds each, trained for every epoch (see `Store::advance_halving`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<ConfirmPlan>,
}

/// `confirm = { top, repeats }` of a halving plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfirmPlan {
    /// Configurations of the last rung re-run, the best first.
    pub top: usize,
    /// Seeds added to each.
    pub repeats: usize,
}

/// One job of a rung, as a halving decision sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RungEntry {
    /// The job's key.
    pub key: String,
    /// The job.
    pub spec: JobSpec,
    /// Its trainable parameters.
    pub params: u64,
    /// Its validation accuracy at the rung's epoch, 0 to 1 (`None`: the job failed).
    pub val_accuracy: Option<f64>,
}

/// What a decision ranks, keeps and prunes: one configuration (a job and its seeds) and its
/// seeds' mean validation accuracy at the rung's epoch.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RankedConfig {
    /// Keys of its jobs (seeds) that reported, in seed order.
    pub keys: Vec<String>,
    /// Mean validation accuracy over those seeds at the rung's epoch.
    pub val_accuracy: f64,
}

/// A configuration judged late at a decided rung: its place among the rung's recorded
/// configurations and itself.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LatePlace {
    /// Keys of its jobs (seeds) that were judged.
    pub keys: Vec<String>,
    /// Mean validation accuracy over those seeds at the rung's epoch.
    pub val_accuracy: f64,
    /// Its place, from 1, in the ranking of the rung's configurations and itself.
    pub place: usize,
    /// How many configurations that ranking held.
    pub of: usize,
}

/// A recorded decision of a halving sweep (a row of `rung_decisions`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RungDecision {
    /// The sweep's id.
    pub sweep_id: String,
    /// The rung, from 0.
    pub rung: usize,
    /// The rung's epoch: every job of the rung was compared on its validation accuracy there.
    pub epoch: usize,
    /// Jobs that go on to the next rung (every seed of the kept configurations).
    pub keep: Vec<String>,
    /// Jobs stopped at this rung.
    pub prune: Vec<String>,
    /// Jobs of the rung that had failed (neither kept nor pruned).
    pub failed: Vec<String>,
    /// The rung's configurations, best first.
    pub ranking: Vec<RankedConfig>,
    /// Jobs judged after the decision that went on: a failed job retried, a seed added later
    /// (see `Store::advance_halving`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub late_keep: Vec<String>,
    /// Jobs judged after the decision that stopped at this rung.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub late_prune: Vec<String>,
    /// Where each configuration judged late against the recorded ranking was placed (see
    /// `Store::advance_halving`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub late_ranking: Vec<LatePlace>,
    /// The decision at the last rung of a sweep with `confirm`: the keys of the best `top`
    /// configurations' jobs there (nothing is pruned at the last rung).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confirm_top: Vec<String>,
    /// The jobs it added to confirm them: `repeats` more seeds of each, every epoch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confirm: Vec<String>,
    /// When it was made (UTC text).
    pub decided_at: String,
}

impl RungDecision {
    /// Whether job `key` goes on past this rung (kept, or kept late).
    pub fn goes_on(&self, key: &str) -> bool {
        self.keep.iter().chain(&self.late_keep).any(|k| k == key)
    }

    /// Whether job `key` stopped at this rung (pruned, or pruned late).
    pub fn stopped(&self, key: &str) -> bool {
        self.prune.iter().chain(&self.late_prune).any(|k| k == key)
    }

    /// Whether this decision judged job `key` (kept or pruned it, at once or late).
    pub fn judged(&self, key: &str) -> bool {
        self.goes_on(key) || self.stopped(key)
    }

    /// Where job `key` stood when this rung stopped it; `None` unless it stopped here.
    pub fn stopped_place(&self, key: &str) -> Option<StoppedPlace> {
        if !self.stopped(key) {
            return None;
        }
        // A late one: its place among the rung's configurations and itself, as judged.
        if let Some(c) = self
            .late_ranking
            .iter()
            .find(|c| c.keys.iter().any(|k| k == key))
        {
            return Some(StoppedPlace {
                rung: self.rung,
                epoch: self.epoch,
                place: Some(c.place),
                of: c.of,
                val_accuracy: Some(c.val_accuracy),
                judged: Judged::Late,
            });
        }
        let ranked = self
            .ranking
            .iter()
            .enumerate()
            .find(|(_, c)| c.keys.iter().any(|k| k == key));
        Some(StoppedPlace {
            rung: self.rung,
            epoch: self.epoch,
            place: ranked.map(|(i, _)| i + 1),
            of: self.ranking.len(),
            val_accuracy: ranked.map(|(_, c)| c.val_accuracy),
            judged: if self.late_prune.iter().any(|k| k == key) {
                Judged::WithItsSeeds
            } else {
                Judged::AtTheDecision
            },
        })
    }
}

/// When a rung of successive halving judged a job ([`StoppedPlace`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judged {
    /// With the rung's decision.
    AtTheDecision,
    /// After it, on its own (a failed job retried, a seed added later): placed among the rung's
    /// configurations and itself.
    Late,
    /// After it, following its configuration's other seeds.
    WithItsSeeds,
}

/// Where a job stood at the rung of successive halving that stopped it
/// ([`RungDecision::stopped_place`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoppedPlace {
    /// The rung, from 0.
    pub rung: usize,
    /// The rung's epoch: the job trained this many epochs.
    pub epoch: usize,
    /// Its configuration's place, from 1, in the rung's ranking (`None`: not in it).
    pub place: Option<usize>,
    /// How many configurations that ranking held.
    pub of: usize,
    /// Its configuration's mean validation accuracy at the rung's epoch, 0 to 1.
    pub val_accuracy: Option<f64>,
    /// When it was judged.
    pub judged: Judged,
}

impl std::fmt::Display for StoppedPlace {
    /// The place at the rung: `3 of 7`, `late, 3 of 7`, or `late, with its seeds`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let place = self.place.unwrap_or(0);
        match self.judged {
            Judged::AtTheDecision => write!(f, "{place} of {}", self.of),
            Judged::Late => write!(f, "late, {place} of {}", self.of),
            Judged::WithItsSeeds => f.write_str("late, with its seeds"),
        }
    }
}
