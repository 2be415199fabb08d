//! The job queue: enqueue, claim, heartbeat, record, complete, fail, interrupt, retry, and the
//! checkpoints and data identities of claimed jobs (see the crate docs for the rules).

use std::collections::HashMap;
use std::time::Duration;

use tune_spec::{EpochMetrics, JobSpec, TrainOutcome};

use crate::error::{GaveUp, Result, StoreError};
use crate::sql::{
    self, CheckpointRecord, ClaimedRecord, EpochRecord, GiveUpRecord, KeptCheckpointRecord,
    PredictionRecord, ResultRecord, SweepRecord,
};
use crate::types::{
    Checkpoint, Claim, EnqueueReport, HalvingPlan, KeptCheckpoint, NewSweep, Released,
};
use crate::{Store, columns, on_backend};

fn epoch_record(key: &str, m: &EpochMetrics) -> EpochRecord {
    EpochRecord {
        job_key: key.to_string(),
        epoch: m.epoch as i64,
        train_loss: m.train_loss,
        train_accuracy: m.train_accuracy,
        val_loss: m.val_loss,
        val_accuracy: m.val_accuracy,
        seconds: m.seconds,
    }
}

/// [`StoreError::NonFinite`] unless `value` is a finite number: the store holds no NaN or
/// infinity (SQLite would turn a NaN into NULL, PostgreSQL would store it and sort it above every
/// number), so both back ends, every writer and every reader agree.
fn check_finite(key: &str, what: impl FnOnce() -> String, value: f64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(StoreError::NonFinite {
            key: key.to_string(),
            what: what(),
            value,
        })
    }
}

fn check_epoch(e: &EpochRecord) -> Result<()> {
    for (name, v) in epoch_figures(e) {
        check_finite(&e.job_key, || format!("epoch {} {name}", e.epoch), v)?;
    }
    Ok(())
}

pub(crate) fn epoch_figures(e: &EpochRecord) -> [(&'static str, f64); 5] {
    [
        ("train_loss", e.train_loss),
        ("train_accuracy", e.train_accuracy),
        ("val_loss", e.val_loss),
        ("val_accuracy", e.val_accuracy),
        ("seconds", e.seconds),
    ]
}

pub(crate) fn result_figures(r: &ResultRecord) -> [(&'static str, f64); 4] {
    [
        ("test_loss", r.test_loss),
        ("test_accuracy", r.test_accuracy),
        ("runtime_s", r.runtime_s),
        ("images_per_s", r.images_per_s),
    ]
}

fn check_result(r: &ResultRecord) -> Result<()> {
    for (name, v) in result_figures(r) {
        check_finite(&r.job_key, || name.to_string(), v)?;
    }
    Ok(())
}

/// The jobs the store gives up on, each with its new `last_error`: `why`, then its earlier error.
fn last_errors(
    jobs: Vec<GiveUpRecord>,
    why: impl Fn(&GiveUpRecord) -> GaveUp,
) -> Vec<(String, String)> {
    jobs.into_iter()
        .map(|job| {
            let text = why(&job).last_error(job.last_error.as_deref());
            (job.key, text)
        })
        .collect()
}

/// The queue order of one enqueued batch: `ranks[i]` is job `i`'s place (0 first), the jobs with
/// the largest `costs` first, equal costs in their given (grid) order.
///
/// Enqueue uses each job's training FLOPs per image times the epochs it trains before it ends or
/// waits for its first rung, so the slots of a run take the longest jobs first and the short ones
/// fill the gaps at the end: the longest-processing-time-first rule, whose makespan on `m` slots is
/// at most 4/3 - 1/(3m) of the optimum (R. L. Graham, "Bounds on multiprocessing timing
/// anomalies", SIAM J. Appl. Math. 17(2), 1969). Grid order left the largest networks of the
/// study's 2-layer grid to the end: 109.8 min on 2 slots against 98.8 min largest-first, estimated
/// from one run's measured epoch times (README, "Successive halving").
pub fn longest_first(costs: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..costs.len()).collect();
    order.sort_by(|&a, &b| costs[b].total_cmp(&costs[a]).then(a.cmp(&b)));
    let mut ranks = vec![0; costs.len()];
    for (place, i) in order.into_iter().enumerate() {
        ranks[i] = place;
    }
    ranks
}

impl Store {
    /// Records `sweep` and adds its `jobs` to the queue, the longest first (see
    /// [`longest_first`]); their positions in the sweep stay in the given order. Idempotent: jobs already in the
    /// database (from this or any other sweep) keep their row and status (a done job stays done)
    /// and only gain the membership; enqueuing the same grid again adds nothing.
    pub async fn enqueue(&self, sweep: &NewSweep, jobs: &[JobSpec]) -> Result<EnqueueReport> {
        self.enqueue_from(sweep, jobs, 0).await
    }

    /// [`Store::enqueue`] for a batch of a sweep's jobs whose first job has position
    /// `first_position` in the sweep: a large grid is enqueued in batches, one transaction each,
    /// so that an interrupted enqueue keeps whole batches and enqueuing again completes it.
    pub async fn enqueue_from(
        &self,
        sweep: &NewSweep,
        jobs: &[JobSpec],
        first_position: usize,
    ) -> Result<EnqueueReport> {
        self.enqueue_with_plan(sweep, jobs, first_position, None)
            .await
    }

    /// [`Store::enqueue_from`] for a sweep that runs successive halving with `plan` (`None`: a
    /// full grid): in the same transaction the sweep records its plan, and each job new to the
    /// database trains to the plan's first rung and then waits for the rung's decision (see
    /// [`Store::advance_halving`]). Jobs already in the database keep their state, except that
    /// one a halving sweep stopped (waiting at a rung, or pruned) before the epoch this sweep
    /// needs first (its first rung; for a full grid, the last epoch) trains on to it.
    pub async fn enqueue_with_plan(
        &self,
        sweep: &NewSweep,
        jobs: &[JobSpec],
        first_position: usize,
        plan: Option<&HalvingPlan>,
    ) -> Result<EnqueueReport> {
        let sweep_id = sweep.id();
        let plan_json = plan.map(|p| {
            let mut v = serde_json::to_value(p).expect("a plan always serialises");
            v["strategy"] = "halving".into();
            v.to_string()
        });
        // A plan of one rung is the full grid: nothing waits.
        let first_rung = plan
            .filter(|p| p.rungs.len() > 1)
            .map(|p| p.rungs[0] as i64);
        // Build every row first: an invalid job stops the enqueue before anything is written.
        let mut records = Vec::with_capacity(jobs.len());
        for (i, spec) in jobs.iter().enumerate() {
            records.push(columns::job_record(spec, i as i64)?);
        }
        let costs: Vec<f64> = records
            .iter()
            .zip(jobs)
            .map(|(r, spec)| {
                let epochs = first_rung.map_or(spec.train.epochs as i64, |stop| {
                    stop.min(spec.train.epochs as i64)
                });
                r.flops_per_image * epochs as f64
            })
            .collect();
        let ranks = longest_first(&costs);
        let row = SweepRecord {
            id: sweep_id.clone(),
            name: sweep.name.clone(),
            grid_text: sweep.grid_text.clone(),
            started_at: None,
            finished_at: None,
            host: sweep.host.clone(),
            tune_version: sweep.tune_version.clone(),
        };
        on_backend!(self, "enqueuing a sweep", |pool, d| {
            let mut tx = pool.begin_with(d.begin_write).await?;
            let added = sql::insert_sweep(d, &row).execute(&mut *tx).await?;
            if let Some(json) = &plan_json {
                sql::halving::set_search(&sweep_id, json)
                    .execute(&mut *tx)
                    .await?;
            }
            let base: i64 = sql::max_seq().query_scalar().fetch_one(&mut *tx).await?;
            let mut report = EnqueueReport {
                sweep_id: sweep_id.clone(),
                sweep_added: added > 0,
                jobs: jobs.len(),
                jobs_added: 0,
                memberships_added: 0,
            };
            for (i, record) in records.iter_mut().enumerate() {
                record.seq = base + 1 + ranks[i] as i64;
                let n = sql::insert_job(d, record).execute(&mut *tx).await?;
                report.jobs_added += n as usize;
                if let (true, Some(stop_at)) = (n > 0, first_rung) {
                    sql::halving::set_first_rung(&record.key, stop_at)
                        .execute(&mut *tx)
                        .await?;
                } else if n == 0 {
                    // A job already there that a halving sweep stopped short of what this sweep
                    // needs (its first rung; all its epochs for a full grid) trains on to it.
                    let want = first_rung.unwrap_or(jobs[i].train.epochs as i64);
                    sql::halving::promote(&record.key, want)
                        .execute(&mut *tx)
                        .await?;
                }
                // A job on a user's data set records its content hash from the start (older
                // rows gain it here too).
                if let Some(user) = &jobs[i].train.data {
                    sql::set_queued_data(&record.key, &user.sha256)
                        .execute(&mut *tx)
                        .await?;
                }
                let position = (first_position + i) as i64;
                let n = sql::insert_membership(&sweep_id, &record.key, position)
                    .execute(&mut *tx)
                    .await?;
                report.memberships_added += n as usize;
            }
            sql::reopen_sweep(&sweep_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(report)
        })
    }

    /// Claims the next job for `worker_id`, optionally only from `sweep` (id or name): an
    /// interrupted job, or a running one whose lease expired (fewer than `max_attempts` claims so
    /// far), or else the first pending job in queue order. The job is marked running with
    /// attempt + 1 and a lease of `lease` from now by the database clock; the transaction ends
    /// before this returns. Running jobs whose lease expired on their last attempt are marked
    /// failed first. `None` when nothing is left to claim.
    pub async fn claim(
        &self,
        worker_id: &str,
        lease: Duration,
        sweep: Option<&str>,
    ) -> Result<Option<Claim>> {
        self.claim_except(worker_id, lease, sweep, &[]).await
    }

    /// [`Store::claim`], passing over the jobs whose data (`data_sha256`, a content hash) is one
    /// of `skip_data`: a user's data set whose files this worker cannot read, which it leaves
    /// to workers that can.
    pub async fn claim_except(
        &self,
        worker_id: &str,
        lease: Duration,
        sweep: Option<&str>,
        skip_data: &[String],
    ) -> Result<Option<Claim>> {
        self.check_sweep(sweep).await?;
        let skip = (!skip_data.is_empty()).then(|| skip_data.join(","));
        let max_attempts = i64::from(self.max_attempts);
        let (row, failed) = on_backend!(self, "claiming a job", |pool, d| {
            let mut tx = pool.begin_with(d.begin_write).await?;
            let exhausted = sql::select_exhausted(d, max_attempts)
                .fetch_all(&mut *tx)
                .await?;
            let mut failed = 0;
            for (key, text) in last_errors(exhausted, |job| GaveUp::LeaseExpired {
                worker_id: job.worker_id.clone(),
                attempt: job.attempts,
                lost: job.faults + 1,
                allowed: max_attempts,
            }) {
                failed += sql::give_up(d, &key, &text).execute(&mut *tx).await?;
            }
            let row: Option<ClaimedRecord> =
                sql::claim(d, max_attempts, worker_id, lease, sweep, skip.as_deref())
                    .query_as()
                    .fetch_optional(&mut *tx)
                    .await?;
            tx.commit().await?;
            Ok((row, failed))
        })?;
        if failed > 0 {
            tracing::warn!(
                jobs = failed,
                "gave up on jobs whose lease expired too often"
            );
            self.stamp_finished_sweeps(None).await;
        }
        let Some(row) = row else {
            return Ok(None);
        };
        let spec = columns::parse_spec(&row.key, &row.spec_json)?;
        let attempt = u32::try_from(row.attempts).map_err(|_| StoreError::Corrupt {
            key: row.key.clone(),
            what: "attempts",
            why: format!("{} is out of range", row.attempts),
        })?;
        Ok(Some(Claim {
            key: row.key,
            spec,
            attempt,
            worker_id: worker_id.to_string(),
            lease,
            stop_at: row.stop_at.map(|e| e.clamp(0, i64::MAX) as usize),
        }))
    }

    fn lease_lost(claim: &Claim) -> StoreError {
        StoreError::LeaseLost {
            key: claim.key.clone(),
            worker_id: claim.worker_id.clone(),
            attempt: claim.attempt,
        }
    }

    /// Extends `claim`'s lease by its lease duration from now (database clock). Fails with
    /// [`StoreError::LeaseLost`] if the job is no longer running under this worker and attempt.
    pub async fn heartbeat(&self, claim: &Claim) -> Result<()> {
        let n = on_backend!(self, "extending a job's lease", |pool, d| {
            Ok(sql::extend_lease(d, claim).execute(pool).await?)
        })?;
        if n == 0 {
            return Err(Store::lease_lost(claim));
        }
        Ok(())
    }

    /// Records one epoch's metrics of a claimed job (replacing any row for the same epoch) and,
    /// when given, the weights after it as the job's checkpoint, in one transaction that also
    /// extends the lease. Fails with [`StoreError::LeaseLost`] if the claim is stale.
    pub async fn record_epoch(
        &self,
        claim: &Claim,
        metrics: &EpochMetrics,
        checkpoint: Option<&[u8]>,
    ) -> Result<()> {
        let record = epoch_record(&claim.key, metrics);
        check_epoch(&record)?;
        on_backend!(self, "recording an epoch", |pool, d| {
            let mut tx = pool.begin_with(d.begin_write).await?;
            let n = sql::extend_lease(d, claim).execute(&mut *tx).await?;
            if n == 0 {
                return Err(Store::lease_lost(claim).into());
            }
            sql::upsert_epoch(&record).execute(&mut *tx).await?;
            sql::reset_faults(&claim.key).execute(&mut *tx).await?;
            if let Some(bytes) = checkpoint {
                sql::upsert_checkpoint(d, &claim.key, record.epoch, bytes)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Marks a claimed job done and writes its result (one row per job, replaced if the job is
    /// delivered again), its full history (epochs after the last one are removed) and drops its
    /// checkpoint. Completing the same claim again changes nothing and succeeds. Fails with
    /// [`StoreError::LeaseLost`] if the claim is stale, and with [`StoreError::NonFinite`]
    /// (writing nothing) if a figure is NaN or infinite.
    pub async fn complete(&self, claim: &Claim, outcome: &TrainOutcome) -> Result<()> {
        self.complete_with(claim, outcome, false).await
    }

    /// [`Store::complete`], keeping the job's checkpoint when `keep_checkpoint` is set: the
    /// weights of a done job whose weight file could not be written (a full disk), so that a
    /// later run can write it ([`Store::kept_checkpoints`], [`Store::drop_kept_checkpoint`]).
    pub async fn complete_with(
        &self,
        claim: &Claim,
        outcome: &TrainOutcome,
        keep_checkpoint: bool,
    ) -> Result<()> {
        let result = ResultRecord {
            job_key: claim.key.clone(),
            test_loss: outcome.test_loss,
            test_accuracy: outcome.test_accuracy,
            runtime_s: outcome.runtime_s,
            images_per_s: outcome.images_per_s,
            confusion_json: serde_json::to_string(&outcome.confusion)
                .expect("a matrix of integers always serialises"),
            worker_id: Some(claim.worker_id.clone()),
            attempt: i64::from(claim.attempt),
            finished_at: None,
        };
        let epochs: Vec<EpochRecord> = outcome
            .history
            .iter()
            .map(|m| epoch_record(&claim.key, m))
            .collect();
        let last_epoch = epochs.iter().map(|e| e.epoch).max();
        let params = i64::try_from(outcome.params).unwrap_or(i64::MAX);
        check_result(&result)?;
        for e in &epochs {
            check_epoch(e)?;
        }
        let predictions: Vec<PredictionRecord> = [
            ("val", &outcome.val_predictions),
            ("test", &outcome.test_predictions),
        ]
        .into_iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(split, p)| PredictionRecord {
            job_key: claim.key.clone(),
            split: split.to_string(),
            predicted: p.predicted.clone(),
            labels: p.labels.clone(),
        })
        .collect();
        on_backend!(self, "recording a finished job", |pool, d| {
            let mut tx = pool.begin_with(d.begin_write).await?;
            let n = sql::complete_job(d, claim, params)
                .execute(&mut *tx)
                .await?;
            if n == 0 {
                // Delivered twice by the same claim (e.g. a retry after a lost reply): done already.
                let done: i64 = sql::done_by(claim)
                    .query_scalar()
                    .fetch_one(&mut *tx)
                    .await?;
                if done > 0 {
                    return Ok(());
                }
                return Err(Store::lease_lost(claim).into());
            }
            sql::upsert_result(d, &result).execute(&mut *tx).await?;
            sql::delete_predictions(&claim.key)
                .execute(&mut *tx)
                .await?;
            for p in &predictions {
                sql::upsert_predictions(p).execute(&mut *tx).await?;
            }
            for e in &epochs {
                sql::upsert_epoch(e).execute(&mut *tx).await?;
            }
            if let Some(last) = last_epoch {
                sql::delete_epochs_after(&claim.key, last)
                    .execute(&mut *tx)
                    .await?;
            }
            if !keep_checkpoint {
                sql::delete_checkpoint(&claim.key).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })?;
        self.stamp_finished_sweeps(Some(&claim.key)).await;
        Ok(())
    }

    /// The checkpoints kept by [`Store::complete_with`] for done jobs (of `sweep`, id or name, or
    /// all): their weights are still to be written to a file. In queue order.
    pub async fn kept_checkpoints(&self, sweep: Option<&str>) -> Result<Vec<KeptCheckpoint>> {
        self.check_sweep(sweep).await?;
        let rows: Vec<KeptCheckpointRecord> =
            on_backend!(self, "reading kept checkpoints", |pool, _d| {
                Ok(sql::select_kept_checkpoints(sweep).fetch_all(pool).await?)
            })?;
        Ok(rows
            .into_iter()
            .map(|r| KeptCheckpoint {
                key: r.job_key,
                checkpoint: Checkpoint {
                    epoch: r.epoch.clamp(0, u32::MAX as i64) as u32,
                    bytes: r.bytes,
                },
            })
            .collect())
    }

    /// Drops the kept checkpoint of done job `key` once its weights are written (nothing if the
    /// job is not done).
    pub async fn drop_kept_checkpoint(&self, key: &str) -> Result<()> {
        on_backend!(self, "dropping a kept checkpoint", |pool, _d| {
            sql::delete_kept_checkpoint(key).execute(pool).await?;
            Ok(())
        })
    }

    /// Records that a claimed job trains on the data with identity `sha256` (see
    /// `tune_data::identify`), `verified` when those are the canonical files. Fails with
    /// [`StoreError::DataMismatch`] when epochs of the job were trained on other data (they cannot
    /// be continued on this data), and [`StoreError::LeaseLost`] if the claim is stale.
    pub async fn record_data(&self, claim: &Claim, sha256: &str, verified: bool) -> Result<()> {
        on_backend!(self, "recording a job's data", |pool, d| {
            let mut tx = pool.begin_with(d.begin_write).await?;
            let n = sql::set_job_data(claim, sha256, verified)
                .execute(&mut *tx)
                .await?;
            if n == 0 {
                let recorded: Option<Option<String>> = sql::job_data(&claim.key)
                    .query_scalar()
                    .fetch_optional(&mut *tx)
                    .await?;
                return Err(match recorded.flatten() {
                    Some(recorded) if recorded != sha256 => StoreError::DataMismatch {
                        key: claim.key.clone(),
                        recorded,
                        found: sha256.to_string(),
                    },
                    _ => Store::lease_lost(claim),
                }
                .into());
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// The recorded data identity (SHA-256, verified) of every job that has one, by job key.
    pub async fn data_identities(&self) -> Result<HashMap<String, (String, Option<bool>)>> {
        let rows: Vec<(String, String, Option<bool>, Option<String>)> =
            on_backend!(self, "reading the jobs' data", |pool, _d| {
                Ok(sql::select_job_data().fetch_all(pool).await?)
            })?;
        Ok(rows
            .into_iter()
            .map(|(key, sha, verified, _)| (key, (sha, verified)))
            .collect())
    }

    /// Marks a claimed job failed with `error` (it is not retried; see [`Store::retry_failed`]).
    /// Fails with [`StoreError::LeaseLost`] if the claim is stale.
    pub async fn fail(&self, claim: &Claim, error: &str) -> Result<()> {
        on_backend!(self, "recording a failed job", |pool, d| {
            let mut tx = pool.begin_with(d.begin_write).await?;
            let n = sql::fail_job(d, claim, error).execute(&mut *tx).await?;
            if n == 0 {
                return Err(Store::lease_lost(claim).into());
            }
            tx.commit().await?;
            Ok(())
        })?;
        self.stamp_finished_sweeps(Some(&claim.key)).await;
        Ok(())
    }

    /// Stamps `finished_at` on the sweeps (of job `key`, or all) whose jobs are all done or
    /// failed. Called after the transaction that finished a job has committed: inside it, two
    /// workers finishing a sweep's last two jobs at once on PostgreSQL (read committed) would each
    /// still see the other's job running, and neither would stamp the sweep. A failure here only
    /// leaves the stamp to a later call, so it is logged, not returned.
    pub(crate) async fn stamp_finished_sweeps(&self, key: Option<&str>) {
        let stamped = on_backend!(self, "stamping finished sweeps", |pool, d| {
            sql::finish_sweeps(d, key).execute(pool).await?;
            Ok(())
        });
        if let Err(e) = stamped {
            tracing::warn!("{e}");
        }
    }

    /// Puts a claimed job back as interrupted (e.g. on Ctrl-C); it is claimed again before pending
    /// jobs, and the attempt does not count (a clean stop is not a failure). Fails with
    /// [`StoreError::LeaseLost`] if the claim is stale.
    pub async fn interrupt(&self, claim: &Claim) -> Result<()> {
        let n = on_backend!(self, "interrupting a job", |pool, _d| {
            Ok(sql::interrupt_job(claim).execute(pool).await?)
        })?;
        if n == 0 {
            return Err(Store::lease_lost(claim));
        }
        Ok(())
    }

    /// Releases every running job whose worker id starts with `worker_prefix` (every running job
    /// when `None`), whatever its lease: a local `tune run` on SQLite calls this at start, holding
    /// its lock file, so the jobs of a killed run restart at once (see the crate docs). The kill
    /// counts as a failed attempt: a job killed on its `max_attempts`-th attempt (say, by the
    /// kernel's out-of-memory killer, every time) is marked failed, so that it cannot stop every
    /// later run; the others become interrupted. Their old claims become stale
    /// ([`StoreError::LeaseLost`]). Never call it while workers matching the prefix may be alive:
    /// their jobs would be claimed twice (the stale worker's writes are refused, but its training
    /// time is lost).
    pub async fn interrupt_running(&self, worker_prefix: Option<&str>) -> Result<Released> {
        let max_attempts = i64::from(self.max_attempts);
        let released = on_backend!(self, "releasing running jobs", |pool, d| {
            let mut tx = pool.begin_with(d.begin_write).await?;
            let killed = sql::select_killed(d, worker_prefix, max_attempts)
                .fetch_all(&mut *tx)
                .await?;
            let mut failed = 0;
            for (key, text) in last_errors(killed, |job| GaveUp::Killed {
                attempt: job.attempts,
                killed: job.faults + 1,
                allowed: max_attempts,
            }) {
                failed += sql::give_up(d, &key, &text).execute(&mut *tx).await?;
            }
            let resumed = sql::interrupt_running(worker_prefix)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Released { resumed, failed })
        })?;
        if released.failed > 0 {
            self.stamp_finished_sweeps(None).await;
        }
        Ok(released)
    }

    /// Puts failed jobs (of `sweep`, id or name, or all) back in the queue with a fresh attempt
    /// count; returns how many.
    pub async fn retry_failed(&self, sweep: Option<&str>) -> Result<u64> {
        self.check_sweep(sweep).await?;
        on_backend!(self, "retrying failed jobs", |pool, d| {
            let mut tx = pool.begin_with(d.begin_write).await?;
            let n = sql::retry_failed(sweep).execute(&mut *tx).await?;
            sql::reopen_sweeps().execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(n)
        })
    }

    /// [`Store::retry_failed`] of the jobs with the given `keys` only (those of them that failed;
    /// the others are left as they are), in one transaction; returns how many were put back.
    pub async fn retry_failed_jobs(&self, keys: &[String]) -> Result<u64> {
        on_backend!(self, "retrying failed jobs", |pool, d| {
            let mut tx = pool.begin_with(d.begin_write).await?;
            let mut n = 0;
            for key in keys {
                n += sql::retry_failed_job(key).execute(&mut *tx).await?;
            }
            sql::reopen_sweeps().execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(n)
        })
    }

    /// Sets aside each job of `jobs` (key, reason, content hash of the data that replaced its
    /// data): a job of an earlier version of a user's data set, which could only fail on the
    /// changed files (see `tune run`). A queued one (pending or interrupted, not waiting at a
    /// halving rung) is marked failed with the reason as last_error, so that no worker claims
    /// it; a failed one keeps its reason. Either then shows as [`crate::JobStatus::Superseded`] and
    /// counts neither as failed nor as open. Running and finished jobs are left as they are.
    /// One transaction; returns how many were set aside.
    pub async fn retire_jobs(&self, jobs: &[(String, String, String)]) -> Result<u64> {
        on_backend!(self, "setting aside jobs of changed data", |pool, d| {
            let mut tx = pool.begin_with(d.begin_write).await?;
            let mut n = 0;
            for (key, why, newer) in jobs {
                n += sql::retire_job(d, key, why, newer)
                    .execute(&mut *tx)
                    .await?;
            }
            sql::finish_sweeps(d, None).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(n)
        })
    }

    /// [`Store::retire_jobs`] of every unfinished job of data set `dataset` whose recorded
    /// content hash is `sha256` (a version of the user's data that no longer exists), each with
    /// reason `why`, superseded by content hash `newer`; returns how many were set aside. A
    /// worker that finds the files changed calls it so that it and other workers do not claim
    /// those jobs one by one only to fail each.
    pub async fn retire_data_version(
        &self,
        dataset: &str,
        sha256: &str,
        newer: &str,
        why: &str,
    ) -> Result<u64> {
        let keys: Vec<String> =
            on_backend!(self, "reading the jobs of a data version", |pool, _d| {
                Ok(sql::unfinished_of_data(dataset, sha256)
                    .query_scalar()
                    .fetch_all(pool)
                    .await?)
            })?;
        let jobs: Vec<(String, String, String)> = keys
            .into_iter()
            .map(|k| (k, why.to_string(), newer.to_string()))
            .collect();
        self.retire_jobs(&jobs).await
    }

    /// Marks every queued job (pending, interrupted, or waiting at a halving rung) of data set
    /// `dataset` whose recorded content hash is `sha256` failed with reason `why`, unclaimed:
    /// its files cannot be read or decoded, so each would fail the same way, one claim at a
    /// time, and keep the worker from the jobs of other data. Running jobs are left to their
    /// workers. Returns the keys of the jobs failed; `--retry-failed` trains them again once
    /// the files can be read.
    pub async fn fail_data_version(
        &self,
        dataset: &str,
        sha256: &str,
        why: &str,
    ) -> Result<Vec<String>> {
        on_backend!(self, "failing the jobs of unreadable data", |pool, d| {
            let mut tx = pool.begin_with(d.begin_write).await?;
            let keys: Vec<String> = sql::unfinished_of_data(dataset, sha256)
                .query_scalar()
                .fetch_all(&mut *tx)
                .await?;
            let mut failed = Vec::new();
            for key in keys {
                if sql::fail_queued_job(d, &key, why).execute(&mut *tx).await? > 0 {
                    failed.push(key);
                }
            }
            sql::finish_sweeps(d, None).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(failed)
        })
    }

    /// Takes the jobs with the given `keys` back from the superseded ones: their data set's
    /// files hold their data again (`tune run` on the grid). They are failed jobs again, which
    /// `--retry-failed` trains. Returns how many were taken back.
    pub async fn restore_jobs(&self, keys: &[String]) -> Result<u64> {
        on_backend!(self, "taking back jobs of restored data", |pool, d| {
            let mut tx = pool.begin_with(d.begin_write).await?;
            let mut n = 0;
            for key in keys {
                n += sql::restore_job(key).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(n)
        })
    }

    /// The latest checkpoint of job `key`, if one was saved and the job has not finished.
    pub async fn load_checkpoint(&self, key: &str) -> Result<Option<Checkpoint>> {
        let row: Option<CheckpointRecord> =
            on_backend!(self, "loading a checkpoint", |pool, _d| {
                Ok(sql::load_checkpoint(key)
                    .query_as()
                    .fetch_optional(pool)
                    .await?)
            })?;
        Ok(row.map(|r| Checkpoint {
            epoch: r.epoch.clamp(0, u32::MAX as i64) as u32,
            bytes: r.bytes,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::longest_first;

    #[test]
    fn the_costliest_jobs_come_first_and_equal_costs_keep_their_order() {
        assert_eq!(longest_first(&[1.0, 3.0, 2.0, 3.0]), [3, 0, 2, 1]);
        assert_eq!(longest_first(&[5.0, 5.0, 5.0]), [0, 1, 2]);
        assert!(longest_first(&[]).is_empty());
    }
}
