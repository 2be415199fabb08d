//! Reads for the dashboard (`tune serve`): every sweep's progress in one query, a whole sweep's
//! jobs with their results in one query, one job, and a cheap change mark for live pages.
//!
//! Statuses are read as the text the database holds, so that a status this version does not
//! name (such as `pruned`) is still shown rather than refused.

use std::collections::HashMap;

use tune_spec::JobSpec;

use crate::error::{Result, StoreError};
use crate::sql::dashboard::{
    self as q, DashJobRecord, JobProgressRecord, MarkRecord, SweepStatusRecord,
};
use crate::sql::{self, StatusRecord, SweepRecord};
use crate::{Store, columns, on_backend};

/// Statuses of jobs that will still train: their unrecorded epochs are the work left.
const WAITING: [&str; 4] = ["pending", "running", "interrupted", "waiting"];

/// Order in which statuses are listed: life order, then any other status by name.
fn status_rank(s: &str) -> (usize, &str) {
    let order = [
        "pending",
        "waiting",
        "running",
        "interrupted",
        "done",
        "failed",
        "pruned",
        "superseded",
    ];
    (order.iter().position(|o| *o == s).unwrap_or(order.len()), s)
}

/// A sweep and how far its jobs are (`tune serve`'s front page).
#[derive(Debug, Clone, PartialEq)]
pub struct SweepProgress {
    /// Its id (`NAME-HASH`).
    pub id: String,
    /// The grid's name.
    pub name: String,
    /// When it was first enqueued (UTC text).
    pub started_at: String,
    /// When its last job finished (UTC text); `None` while jobs remain.
    pub finished_at: Option<String>,
    /// Host that enqueued it.
    pub host: String,
    /// Jobs per status, as stored (`pending`, `waiting`, `running`, `interrupted`, `done`,
    /// `failed`, `pruned`, then any other status), only statuses that occur.
    pub statuses: Vec<(String, u64)>,
    /// Epochs the sweep's jobs were set to train, summed (superseded jobs left out).
    pub epochs_planned: u64,
    /// Epochs recorded so far, summed over the jobs (superseded jobs left out).
    pub epochs_done: u64,
    /// Epochs still to train: planned minus recorded, over the pending, waiting (halving), running
    /// and interrupted jobs.
    pub epochs_remaining: u64,
    /// Seconds the recorded epochs took, summed (each job's own clock; a done job counts its
    /// whole run time).
    pub epoch_seconds: f64,
    /// Mean training images per second of the finished jobs (`None`: none finished).
    pub images_per_s: Option<f64>,
}

impl SweepProgress {
    /// All the sweep's jobs.
    pub fn jobs(&self) -> u64 {
        self.statuses.iter().map(|(_, n)| n).sum()
    }

    /// Jobs with status `status`.
    pub fn count(&self, status: &str) -> u64 {
        self.statuses
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n)
    }

    /// Share of the planned epochs that are recorded or will not run (jobs that ended early), in
    /// `[0, 1]`.
    pub fn progress(&self) -> f64 {
        if self.epochs_planned == 0 {
            return 1.0;
        }
        1.0 - self.epochs_remaining as f64 / self.epochs_planned as f64
    }

    /// Epochs recorded plus the epochs still to train: the planned epochs less those that will
    /// never run (jobs pruned by halving or failed stop early).
    pub fn epochs_to_train(&self) -> u64 {
        self.epochs_done + self.epochs_remaining
    }

    /// Estimated seconds until the sweep is done: the epochs left times the mean seconds of a
    /// recorded epoch, divided by the jobs running now (at least one). `None` when nothing is left
    /// or no epoch was recorded yet.
    pub fn eta_seconds(&self) -> Option<f64> {
        if self.epochs_remaining == 0 || self.epochs_done == 0 {
            return None;
        }
        let per_epoch = self.epoch_seconds / self.epochs_done as f64;
        let running = self.count("running").max(1) as f64;
        Some(self.epochs_remaining as f64 * per_epoch / running)
    }
}

/// A running job's claim: whose it is and how long its lease has left, by the database clock.
/// A worker renews its lease with every heartbeat; one whose lease expired has stopped (killed,
/// or cut off from the database), and the next claim takes the job back.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningLease {
    /// The sweep it belongs to (a job in two sweeps is listed for each).
    pub sweep_id: String,
    /// The job's key.
    pub key: String,
    /// The worker that claimed it (`HOST:PID`).
    pub worker_id: Option<String>,
    /// Seconds until the lease expires; negative: it expired that many seconds ago. `None`
    /// without a lease.
    pub seconds_left: Option<f64>,
}

impl RunningLease {
    /// Whether its lease expired: nothing has renewed it, so its worker has stopped.
    pub fn expired(&self) -> bool {
        self.seconds_left.is_some_and(|s| s < 0.0)
    }
}

/// What a sweep's ranking needs of a job's per-image predictions
/// ([`Store::sweep_rank_predictions`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RankPredictions {
    /// Its predictions on the validation split (the holdout, or the test split when it validates
    /// on it), if recorded.
    pub val: Option<tune_spec::Predictions>,
    /// Images of its test split, if its predictions there were recorded.
    pub test_images: Option<usize>,
}

/// A finished job's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DashResult {
    /// Test loss after the last epoch.
    pub test_loss: f64,
    /// Test accuracy after the last epoch.
    pub test_accuracy: f64,
    /// Wall-clock seconds of the run.
    pub runtime_s: f64,
    /// Training images per second.
    pub images_per_s: f64,
}

/// A job in any status, with its result when it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct DashJob {
    /// The job's key.
    pub key: String,
    /// The job.
    pub spec: JobSpec,
    /// Its status as stored (see [`SweepProgress::statuses`]).
    pub status: String,
    /// Times it was claimed.
    pub attempts: u32,
    /// Its last error (why it failed, or was pruned or interrupted).
    pub last_error: Option<String>,
    /// Trainable parameters.
    pub params: u64,
    /// Its result, when it is done (and the figures are finite).
    pub result: Option<DashResult>,
    /// Validation accuracy of its last recorded epoch.
    pub val_accuracy: Option<f64>,
    /// Epochs recorded.
    pub epochs_done: u32,
    /// When its last attempt started (UTC text); only filled by [`Store::dash_job`].
    pub started_at: Option<String>,
    /// When it finished or failed (UTC text); only filled by [`Store::dash_job`].
    pub finished_at: Option<String>,
    /// The worker that claimed it last; only filled by [`Store::dash_job`].
    pub worker_id: Option<String>,
}

impl DashJob {
    /// The job as a report row of sweep `sweep` (its id), as [`crate::JobResult::report_row`]
    /// makes it; `None` unless it has a result.
    pub fn report_row(&self, sweep: &str) -> Option<tune_report::ResultRow> {
        let r = self.result?;
        Some(tune_report::ResultRow {
            key: self.key.clone(),
            spec: self.spec.clone(),
            params: self.params as usize,
            loss: r.test_loss,
            accuracy: r.test_accuracy,
            val_accuracy: self.val_accuracy,
            val_predictions: None,
            test_predictions: None,
            test_images: None,
            runtime_s: r.runtime_s,
            sweep: Some(sweep.to_string()),
        })
    }
}

fn dash_job(r: DashJobRecord) -> Result<DashJob> {
    let result = match (r.test_loss, r.test_accuracy, r.runtime_s, r.images_per_s) {
        (Some(test_loss), Some(test_accuracy), Some(runtime_s), Some(images_per_s))
            if [test_loss, test_accuracy, runtime_s, images_per_s]
                .iter()
                .all(|v| v.is_finite()) =>
        {
            Some(DashResult {
                test_loss,
                test_accuracy,
                runtime_s,
                images_per_s,
            })
        }
        _ => None,
    };
    Ok(DashJob {
        spec: columns::parse_spec(&r.key, &r.spec_json)?,
        status: r.status,
        attempts: r.attempts.clamp(0, u32::MAX as i64) as u32,
        last_error: r.last_error,
        params: r.params.max(0) as u64,
        result: result.filter(|_| r.val_accuracy.is_none_or(f64::is_finite)),
        val_accuracy: r.val_accuracy.filter(|v| v.is_finite()),
        epochs_done: r.epochs_done.clamp(0, u32::MAX as i64) as u32,
        started_at: None,
        finished_at: None,
        worker_id: None,
        key: r.key,
    })
}

impl Store {
    /// Every sweep (or only sweep `sweep_id`, by its id) with its jobs counted by status, epochs
    /// planned, recorded and left, and mean throughput: two queries whatever the number of
    /// sweeps. Oldest sweep first.
    pub async fn sweep_progress(&self, sweep_id: Option<&str>) -> Result<Vec<SweepProgress>> {
        let (sweeps, rows): (Vec<SweepRecord>, Vec<SweepStatusRecord>) =
            on_backend!(self, "reading sweep progress", |pool, d| {
                let sweeps = sql::select_sweeps(d).fetch_all(pool).await?;
                let rows = match sweep_id {
                    Some(id) => q::sweep_progress_of(id).fetch_all(pool).await?,
                    None => q::sweep_progress().fetch_all(pool).await?,
                };
                Ok((sweeps, rows))
            })?;
        let mut by_sweep: HashMap<String, Vec<SweepStatusRecord>> = HashMap::new();
        for r in rows {
            by_sweep.entry(r.sweep_id.clone()).or_default().push(r);
        }
        // A halving sweep counts the jobs its decisions pruned as pruned at their rung, whatever
        // another sweep sharing them did with them later (see [`Store::pruned_in_sweep`]).
        for s in sweeps
            .iter()
            .filter(|s| sweep_id.is_none_or(|id| s.id == id))
        {
            if let Some(rows) = self.halving_progress(&s.id).await? {
                by_sweep.insert(s.id.clone(), rows);
            }
        }
        Ok(sweeps
            .into_iter()
            .filter(|s| sweep_id.is_none_or(|id| s.id == id))
            .map(|s| {
                let mut rows = by_sweep.remove(&s.id).unwrap_or_default();
                rows.sort_by(|a, b| status_rank(&a.status).cmp(&status_rank(&b.status)));
                // Superseded jobs (of an earlier version of a user's data set) are no longer
                // part of the sweep's work: their epochs are neither planned nor done.
                let sum = |f: fn(&SweepStatusRecord) -> i64| {
                    rows.iter()
                        .filter(|r| r.status != "superseded")
                        .map(|r| f(r).max(0) as u64)
                        .sum::<u64>()
                };
                let remaining = rows
                    .iter()
                    .filter(|r| WAITING.contains(&r.status.as_str()))
                    .map(|r| (r.epochs_planned - r.epochs_done).max(0) as u64)
                    .sum();
                let results = sum(|r| r.results);
                let ips: f64 = rows.iter().filter_map(|r| r.images_per_s_sum).sum();
                SweepProgress {
                    statuses: rows
                        .iter()
                        .map(|r| (r.status.clone(), r.n.max(0) as u64))
                        .collect(),
                    epochs_planned: sum(|r| r.epochs_planned),
                    epochs_done: sum(|r| r.epochs_done),
                    epochs_remaining: remaining,
                    epoch_seconds: rows.iter().map(|r| r.epoch_seconds).sum(),
                    images_per_s: (results > 0).then(|| ips / results as f64),
                    id: s.id,
                    name: s.name,
                    started_at: s.started_at.unwrap_or_default(),
                    finished_at: s.finished_at,
                    host: s.host,
                }
            })
            .collect())
    }

    /// The progress rows (one per status) of sweep `sweep_id` (its id) as the sweep sees its jobs
    /// when its decisions pruned some: each of those pruned, with its epochs and their seconds up
    /// to its rung and no result. `None` when they pruned none.
    async fn halving_progress(&self, sweep_id: &str) -> Result<Option<Vec<SweepStatusRecord>>> {
        let pruned = self.pruned_in_sweep(sweep_id).await?;
        if pruned.is_empty() {
            return Ok(None);
        }
        let jobs: Vec<JobProgressRecord> =
            on_backend!(self, "reading a halving sweep's progress", |pool, _d| {
                Ok(q::sweep_progress_jobs(sweep_id).fetch_all(pool).await?)
            })?;
        let mut rows: Vec<SweepStatusRecord> = Vec::new();
        for JobProgressRecord { key, mut row } in jobs {
            if let Some(&epoch) = pruned.get(&key)
                && (row.status != "pruned" || row.epochs_done > epoch as i64)
            {
                let history = self.history(&key).await?;
                let kept = &history[..history.len().min(epoch)];
                row.status = "pruned".into();
                row.epochs_done = kept.len() as i64;
                row.epoch_seconds = kept.iter().map(|e| e.seconds).sum();
                row.images_per_s_sum = None;
                row.results = 0;
            }
            match rows.iter_mut().find(|r| r.status == row.status) {
                Some(r) => {
                    r.n += row.n;
                    r.epochs_planned += row.epochs_planned;
                    r.epochs_done += row.epochs_done;
                    r.epoch_seconds += row.epoch_seconds;
                    r.images_per_s_sum = match (r.images_per_s_sum, row.images_per_s_sum) {
                        (Some(a), Some(b)) => Some(a + b),
                        (a, b) => a.or(b),
                    };
                    r.results += row.results;
                }
                None => rows.push(row),
            }
        }
        Ok(Some(rows))
    }

    /// Every job of sweep `sweep_id` (its id) with its result and last validation accuracy, in
    /// grid order: one query, however many jobs. Empty for an unknown sweep. A job the sweep's
    /// halving decisions pruned is shown as pruned at its rung (its epochs and last validation
    /// accuracy up to that rung, no result), whatever another sweep sharing it did with it later
    /// (see [`Store::pruned_in_sweep`]).
    pub async fn sweep_jobs(&self, sweep_id: &str) -> Result<Vec<DashJob>> {
        let rows: Vec<DashJobRecord> = on_backend!(self, "reading a sweep's jobs", |pool, _d| {
            Ok(q::sweep_jobs(sweep_id).fetch_all(pool).await?)
        })?;
        let mut jobs = rows.into_iter().map(dash_job).collect::<Result<Vec<_>>>()?;
        if jobs.is_empty() {
            return Ok(jobs);
        }
        let pruned = self.pruned_in_sweep(sweep_id).await?;
        for job in &mut jobs {
            let Some(&epoch) = pruned.get(&job.key) else {
                continue;
            };
            if job.epochs_done as usize > epoch {
                let history = self.history(&job.key).await?;
                job.val_accuracy = history[..history.len().min(epoch)]
                    .last()
                    .map(|e| e.val_accuracy)
                    .filter(|v| v.is_finite());
            }
            job.status = "pruned".into();
            job.result = None;
            job.epochs_done = job.epochs_done.min(epoch as u32);
        }
        Ok(jobs)
    }

    /// Job `key` with its result, times and worker; `None` when there is no such job.
    pub async fn dash_job(&self, key: &str) -> Result<Option<DashJob>> {
        let (row, state): (Option<DashJobRecord>, Vec<StatusRecord>) =
            on_backend!(self, "reading a job", |pool, d| {
                let row = q::job(key).query_as().fetch_optional(pool).await?;
                let state = sql::select_jobs(d, None, Some(key)).fetch_all(pool).await?;
                Ok((row, state))
            })?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut job = dash_job(row)?;
        if let Some(s) = state.into_iter().next() {
            job.started_at = s.started_at;
            job.finished_at = s.finished_at;
            job.worker_id = s.worker_id;
        }
        Ok(Some(job))
    }

    /// The text of the grid file sweep `sweep_id` (an id) was enqueued from; `None` for no such
    /// sweep.
    pub async fn sweep_grid_text(&self, sweep_id: &str) -> Result<Option<String>> {
        on_backend!(self, "reading a sweep's grid", |pool, _d| {
            Ok(q::sweep_grid_text(sweep_id)
                .query_scalar()
                .fetch_optional(pool)
                .await?)
        })
    }

    /// The running jobs of sweep `sweep_id` (an id; `None`: of every sweep) with their lease:
    /// read for every page, since a stopped worker changes nothing else in the database.
    pub async fn running_leases(&self, sweep_id: Option<&str>) -> Result<Vec<RunningLease>> {
        let rows: Vec<sql::LeaseRecord> =
            on_backend!(self, "reading running jobs' leases", |pool, d| {
                Ok(sql::running_leases(d, sweep_id)
                    .query_as()
                    .fetch_all(pool)
                    .await?)
            })?;
        Ok(rows
            .into_iter()
            .map(|r| RunningLease {
                sweep_id: r.sweep_id,
                key: r.key,
                worker_id: r.worker_id,
                seconds_left: r.seconds_left,
            })
            .collect())
    }

    /// Up to `limit` keys of jobs that start with `prefix`, in key order (the dashboard's
    /// `/jobs/PREFIX`, as the CLI takes a unique prefix of a key).
    pub async fn job_keys_starting(&self, prefix: &str, limit: usize) -> Result<Vec<String>> {
        on_backend!(self, "finding jobs by key prefix", |pool, _d| {
            Ok(q::job_keys_starting(prefix, limit as i64)
                .query_scalar()
                .fetch_all(pool)
                .await?)
        })
    }

    /// The ids of the sweeps job `key` belongs to.
    pub async fn sweeps_of_job(&self, key: &str) -> Result<Vec<String>> {
        on_backend!(self, "reading a job's sweeps", |pool, _d| {
            Ok(q::sweeps_of_job(key).query_scalar().fetch_all(pool).await?)
        })
    }

    /// The ids of the sweeps `text` names: the sweep whose id it is, else the sweeps whose grid
    /// name it is, oldest first (none, one or several). One or two small queries, however many
    /// jobs they hold.
    pub async fn sweeps_called(&self, text: &str) -> Result<Vec<String>> {
        on_backend!(self, "finding a sweep", |pool, _d| {
            let by_id: Vec<String> = q::sweep_by_id(text).query_scalar().fetch_all(pool).await?;
            if !by_id.is_empty() {
                return Ok(by_id);
            }
            Ok(q::sweeps_named(text).query_scalar().fetch_all(pool).await?)
        })
    }

    /// The ids of the sweeps named `name` (a grid's name), oldest first: one small query, however
    /// many jobs they hold.
    pub async fn sweeps_named(&self, name: &str) -> Result<Vec<String>> {
        on_backend!(self, "reading the sweeps of a name", |pool, _d| {
            Ok(q::sweeps_named(name).query_scalar().fetch_all(pool).await?)
        })
    }

    /// What the ranking of sweep `sweep_id` needs of its jobs' per-image predictions, by job
    /// key: the validation split's predictions (for the tie tests) and the test split's number of
    /// images (for its interval), counted without reading them. One pass over the sweep's jobs
    /// (and one row for the reference labels): the labels of a job are copied out of the database
    /// only where they differ from the reference's, which jobs on one data set never do.
    pub async fn sweep_rank_predictions(
        &self,
        sweep_id: &str,
    ) -> Result<HashMap<String, RankPredictions>> {
        let (reference, rows): (Vec<u8>, Vec<q::RankPredictionRecord>) =
            on_backend!(self, "reading a sweep's predictions", |pool, _d| {
                let reference: Option<Vec<u8>> = q::sweep_reference_labels(sweep_id)
                    .query_scalar()
                    .fetch_optional(pool)
                    .await?;
                let reference = reference.unwrap_or_default();
                let rows = q::sweep_rank_predictions(sweep_id, &reference)
                    .fetch_all(pool)
                    .await?;
                Ok((reference, rows))
            })?;
        let mut out: HashMap<String, RankPredictions> = HashMap::with_capacity(rows.len());
        for r in rows {
            let val = match r.predicted {
                None => None,
                Some(predicted) => {
                    let labels = r.labels.unwrap_or_else(|| reference.clone());
                    if predicted.len() != labels.len() {
                        return Err(StoreError::Corrupt {
                            key: r.job_key,
                            what: "predictions",
                            why: format!(
                                "{} predicted classes but {} labels on split val",
                                predicted.len(),
                                labels.len(),
                            ),
                        });
                    }
                    Some(tune_spec::Predictions { predicted, labels })
                }
            };
            let test_images = r.test_images.map(|n| n.max(0) as usize);
            out.insert(r.job_key, RankPredictions { val, test_images });
        }
        Ok(out)
    }

    /// A short text that changes whenever training makes progress anywhere in the database (an
    /// epoch recorded, a job claimed, finished or added, a sweep added) or stops (a running job's
    /// lease expires): pages poll it and reload their content when it changes. A few counts over
    /// indexes.
    pub async fn change_mark(&self) -> Result<String> {
        let (m, counts, expired): (MarkRecord, Vec<sql::CountRecord>, i64) =
            on_backend!(self, "reading the change mark", |pool, d| {
                let m = q::mark().query_as().fetch_one(pool).await?;
                let counts = sql::select_counts(None).fetch_all(pool).await?;
                let expired = sql::expired_leases(d)
                    .query_scalar()
                    .fetch_one(pool)
                    .await?;
                Ok((m, counts, expired))
            })?;
        let mut counts: Vec<(String, i64)> = counts.into_iter().map(|c| (c.status, c.n)).collect();
        counts.sort();
        let statuses: Vec<String> = counts.iter().map(|(s, n)| format!("{s}{n}")).collect();
        Ok(format!(
            "e{}-a{}-r{}-s{}-x{expired}-{}",
            m.epochs,
            m.attempts,
            m.results,
            m.sweeps,
            statuses.join("-")
        ))
    }
}
