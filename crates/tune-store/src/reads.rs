//! Reads for reports: results, histories, predictions, confusion matrices, sweeps, job states and
//! counts.

use std::collections::HashMap;

use tune_spec::EpochMetrics;

use crate::error::{Result, StoreError};
use crate::queue::epoch_figures;
use crate::sql::{
    self, CountRecord, EpochRecord, LastValRecord, PredictionRecord, ResultRowRecord, StatusRecord,
    SweepRecord,
};
use crate::types::{
    JobPredictions, JobResult, JobStatus, JobStatusRow, ResultFilter, StatusCounts, SweepRow,
};
use crate::{Store, columns, on_backend};

fn epoch_metrics(e: EpochRecord) -> EpochMetrics {
    EpochMetrics {
        epoch: e.epoch.max(0) as usize,
        train_loss: e.train_loss,
        train_accuracy: e.train_accuracy,
        val_loss: e.val_loss,
        val_accuracy: e.val_accuracy,
        seconds: e.seconds,
    }
}

fn counts_from(rows: impl IntoIterator<Item = CountRecord>) -> Result<StatusCounts> {
    let mut counts = StatusCounts::default();
    for r in rows {
        let status = columns::parse_status("?", &r.status)?;
        counts.add(status, r.n.max(0) as u64);
    }
    Ok(counts)
}

fn status_row(r: StatusRecord) -> Result<JobStatusRow> {
    Ok(JobStatusRow {
        spec: columns::parse_spec(&r.key, &r.spec_json)?,
        status: columns::parse_status(&r.key, &r.status)?,
        attempts: r.attempts.clamp(0, u32::MAX as i64) as u32,
        worker_id: r.worker_id,
        lease_expires_at: r.lease_expires_at,
        last_error: r.last_error,
        created_at: r.created_at,
        started_at: r.started_at,
        finished_at: r.finished_at,
        epochs_done: r.epochs_done.clamp(0, u32::MAX as i64) as u32,
        key: r.key,
    })
}

impl Store {
    /// Fails with [`StoreError::UnknownSweep`] unless a sweep has id or name `sweep`.
    pub(crate) async fn check_sweep(&self, sweep: Option<&str>) -> Result<()> {
        let Some(sweep) = sweep else {
            return Ok(());
        };
        let n: i64 = on_backend!(self, "looking up a sweep", |pool, _d| {
            Ok(sql::count_sweeps_named(sweep)
                .query_scalar()
                .fetch_one(pool)
                .await?)
        })?;
        if n == 0 {
            let known = self
                .sweeps()
                .await?
                .into_iter()
                .map(|s| format!("{} ({})", s.name, s.id))
                .collect();
            return Err(StoreError::UnknownSweep {
                sweep: sweep.to_string(),
                known,
            });
        }
        Ok(())
    }

    /// The finished jobs matching `filter`, in queue order.
    pub async fn results(&self, filter: &ResultFilter) -> Result<Vec<JobResult>> {
        self.check_sweep(filter.sweep.as_deref()).await?;
        let seed = match filter.seed {
            Some(s) => match i64::try_from(s) {
                Ok(s) => Some(s),
                Err(_) => return Ok(Vec::new()), // no stored seed is that large
            },
            None => None,
        };
        let model = filter.model.map(|m| m.as_str());
        let rows: Vec<ResultRowRecord> = on_backend!(self, "reading results", |pool, d| {
            Ok(sql::select_results(
                d,
                filter.sweep.as_deref(),
                filter.dataset.as_deref(),
                model,
                seed,
            )
            .fetch_all(pool)
            .await?)
        })?;
        let last_val: HashMap<String, Option<f64>> = if rows.is_empty() {
            HashMap::new()
        } else {
            let v: Vec<LastValRecord> =
                on_backend!(self, "reading validation accuracies", |pool, _d| {
                    Ok(sql::select_last_val().fetch_all(pool).await?)
                })?;
            v.into_iter().map(|r| (r.job_key, r.val_accuracy)).collect()
        };
        // A job this sweep pruned is not among its finished jobs, whatever another sweep
        // sharing it did with it later (see [`Store::pruned_in_sweep`]).
        let pruned = match filter.sweep.as_deref() {
            Some(s) if !rows.is_empty() => self.pruned_in_sweep(s).await?,
            _ => HashMap::new(),
        };
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            if pruned.contains_key(&r.key) {
                continue;
            }
            if ![r.test_loss, r.test_accuracy, r.runtime_s, r.images_per_s]
                .iter()
                .all(|v| v.is_finite())
            {
                // Only an older tune wrote these (see `drop_non_finite`); a run or worker that
                // opens the database turns the job into a failed, diverged one.
                tracing::warn!(key = %r.key, "skipping a result with a NaN or infinite figure");
                continue;
            }
            let history = if filter.with_history {
                self.history(&r.key).await?
            } else {
                Vec::new()
            };
            out.push(JobResult {
                spec: columns::parse_spec(&r.key, &r.spec_json)?,
                params: r.params.max(0) as u64,
                flops_per_image: r.flops_per_image,
                test_loss: r.test_loss,
                test_accuracy: r.test_accuracy,
                val_accuracy: last_val.get(&r.key).copied().flatten(),
                runtime_s: r.runtime_s,
                images_per_s: r.images_per_s,
                finished_at: r.finished_at,
                history,
                key: r.key,
            });
        }
        Ok(out)
    }

    /// The recorded epochs of job `key`, in epoch order.
    pub async fn history(&self, key: &str) -> Result<Vec<EpochMetrics>> {
        let rows: Vec<EpochRecord> = on_backend!(self, "reading a job's history", |pool, _d| {
            Ok(sql::select_history(key).fetch_all(pool).await?)
        })?;
        // The epochs up to the first non-finite one (which only an older tune could write).
        Ok(rows
            .into_iter()
            .take_while(|e| epoch_figures(e).iter().all(|(_, v)| v.is_finite()))
            .map(epoch_metrics)
            .collect())
    }

    /// The per-example predictions of finished job `key` on its validation and test splits (each
    /// `None` when not recorded, e.g. for jobs finished before tune stored them).
    pub async fn predictions(&self, key: &str) -> Result<JobPredictions> {
        let rows: Vec<PredictionRecord> =
            on_backend!(self, "reading a job's predictions", |pool, _d| {
                Ok(sql::select_predictions(key).fetch_all(pool).await?)
            })?;
        let mut out = JobPredictions::default();
        for r in rows {
            if r.predicted.len() != r.labels.len() {
                return Err(StoreError::Corrupt {
                    key: key.to_string(),
                    what: "predictions",
                    why: format!(
                        "{} predicted classes but {} labels on split {}",
                        r.predicted.len(),
                        r.labels.len(),
                        r.split
                    ),
                });
            }
            let p = tune_spec::Predictions {
                predicted: r.predicted,
                labels: r.labels,
            };
            match r.split.as_str() {
                "val" => out.val = Some(p),
                _ => out.test = Some(p),
            }
        }
        Ok(out)
    }

    /// The test confusion matrix of finished job `key` (`[true][predicted]` counts).
    pub async fn confusion(&self, key: &str) -> Result<Option<Vec<Vec<u64>>>> {
        let json: Option<String> = on_backend!(self, "reading a confusion matrix", |pool, _d| {
            Ok(sql::select_confusion(key)
                .query_scalar()
                .fetch_optional(pool)
                .await?)
        })?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| StoreError::Corrupt {
                key: key.to_string(),
                what: "confusion_json",
                why: e.to_string(),
            })
        })
        .transpose()
    }

    /// Every sweep with its jobs counted by status, oldest first.
    pub async fn sweeps(&self) -> Result<Vec<SweepRow>> {
        let (sweeps, counts): (Vec<SweepRecord>, Vec<CountRecord>) =
            on_backend!(self, "reading sweeps", |pool, d| {
                let sweeps = sql::select_sweeps(d).fetch_all(pool).await?;
                let counts = sql::select_sweep_counts().fetch_all(pool).await?;
                Ok((sweeps, counts))
            })?;
        let mut by_sweep: HashMap<String, Vec<CountRecord>> = HashMap::new();
        for c in counts {
            by_sweep
                .entry(c.sweep_id.clone().unwrap_or_default())
                .or_default()
                .push(c);
        }
        let mut rows = Vec::with_capacity(sweeps.len());
        for s in sweeps {
            // A halving sweep counts the jobs it pruned as pruned (see `pruned_in_sweep`).
            let counts = match self.halving_counts(&s.id).await? {
                Some(c) => c,
                None => counts_from(by_sweep.remove(&s.id).unwrap_or_default())?,
            };
            rows.push(SweepRow {
                counts,
                id: s.id,
                name: s.name,
                grid_text: s.grid_text,
                started_at: s.started_at.unwrap_or_default(),
                finished_at: s.finished_at,
                host: s.host,
                tune_version: s.tune_version,
            });
        }
        Ok(rows)
    }

    /// The jobs of `sweep` (id or name) counted by status as the sweep sees them when its
    /// decisions pruned some (see [`Store::pruned_in_sweep`]); `None` when they pruned none.
    async fn halving_counts(&self, sweep: &str) -> Result<Option<StatusCounts>> {
        if self.pruned_in_sweep(sweep).await?.is_empty() {
            return Ok(None);
        }
        let mut counts = StatusCounts::default();
        for job in self.select_jobs(Some(sweep), None).await? {
            counts.add(job.status, 1);
        }
        Ok(Some(counts))
    }

    /// The jobs that the rung decisions of `sweep` (id or name) pruned, each with the epoch of
    /// the rung it stopped at; empty for a full grid.
    ///
    /// Jobs are shared by key between sweeps, a sweep's decisions are not: a job one halving
    /// sweep pruned may be reopened and trained on by another (a grown grid). Every read of a
    /// sweep (its jobs, counts and results, `tune report`, `tune status`) shows such a job as
    /// that sweep decided it: pruned at its rung, with its epochs up to that rung, and not among
    /// the sweep's finished jobs. Reads of the whole database show the job's own state.
    pub async fn pruned_in_sweep(&self, sweep: &str) -> Result<HashMap<String, usize>> {
        let mut out = HashMap::new();
        for d in self.rung_decisions(sweep).await? {
            for key in d.prune.iter().chain(&d.late_prune) {
                out.insert(key.clone(), d.epoch);
            }
        }
        Ok(out)
    }

    /// The jobs of `sweep` (id or name) with their queue state, in queue order.
    pub async fn jobs_of_sweep(&self, sweep: &str) -> Result<Vec<JobStatusRow>> {
        self.check_sweep(Some(sweep)).await?;
        self.select_jobs(Some(sweep), None).await
    }

    /// Every job (of `sweep`, id or name, or of the whole database) with its queue state, in
    /// queue order.
    pub async fn jobs(&self, sweep: Option<&str>) -> Result<Vec<JobStatusRow>> {
        self.check_sweep(sweep).await?;
        self.select_jobs(sweep, None).await
    }

    /// The queue state of job `key`, if it is known.
    pub async fn job(&self, key: &str) -> Result<Option<JobStatusRow>> {
        Ok(self.select_jobs(None, Some(key)).await?.into_iter().next())
    }

    async fn select_jobs(
        &self,
        sweep: Option<&str>,
        key: Option<&str>,
    ) -> Result<Vec<JobStatusRow>> {
        let rows: Vec<StatusRecord> = on_backend!(self, "reading job states", |pool, d| {
            Ok(sql::select_jobs(d, sweep, key).fetch_all(pool).await?)
        })?;
        let mut rows = rows
            .into_iter()
            .map(status_row)
            .collect::<Result<Vec<_>>>()?;
        if let Some(sweep) = sweep {
            let pruned = self.pruned_in_sweep(sweep).await?;
            for row in &mut rows {
                if let Some(&epoch) = pruned.get(&row.key) {
                    row.status = JobStatus::Pruned;
                    row.epochs_done = row.epochs_done.min(epoch as u32);
                    row.lease_expires_at = None;
                }
            }
        }
        Ok(rows)
    }

    /// Jobs counted by status, of `sweep` (id or name) or of the whole database.
    pub async fn counts(&self, sweep: Option<&str>) -> Result<StatusCounts> {
        self.check_sweep(sweep).await?;
        if let Some(s) = sweep
            && let Some(counts) = self.halving_counts(s).await?
        {
            return Ok(counts);
        }
        let rows: Vec<CountRecord> = on_backend!(self, "counting jobs", |pool, _d| {
            Ok(sql::select_counts(sweep).fetch_all(pool).await?)
        })?;
        counts_from(rows)
    }
}
