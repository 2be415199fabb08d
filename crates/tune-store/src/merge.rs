//! Merging: copying the sweeps, jobs and results of another store (either back end) into this one.

use std::collections::HashMap;

use crate::error::{GaveUp, Result};
use crate::queue::{epoch_figures, result_figures};
use crate::sql::halving::{self as hq, DecisionRecord, HaltRecord, SearchRecord};
use crate::sql::{
    self, EpochRecord, JobRecord, MembershipRecord, PredictionRecord, ResultRecord, SweepRecord,
};
use crate::types::{JobStatus, MergeConflict, MergeReport};
use crate::{Store, columns, on_backend};

/// Everything one store holds, for [`Store::merge_from`].
struct Export {
    sweeps: Vec<SweepRecord>,
    jobs: Vec<JobRecord>,
    memberships: Vec<MembershipRecord>,
    results: Vec<ResultRecord>,
    epochs: Vec<EpochRecord>,
    /// key, data_sha256, data_verified, superseded_by of the jobs with a recorded data identity.
    job_data: Vec<(String, String, Option<bool>, Option<String>)>,
    predictions: Vec<PredictionRecord>,
    /// The halving plans of the sweeps that have one.
    searches: Vec<SearchRecord>,
    /// The halving state of the jobs under halving.
    halts: Vec<HaltRecord>,
    /// Every rung decision.
    decisions: Vec<DecisionRecord>,
}

/// Whether two stored figures are the same number (NaN equals NaN, a missing one only another).
fn same_figure(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b || (a.is_nan() && b.is_nan()),
        (None, None) => true,
        _ => false,
    }
}

/// What the migration `*_faults_and_finite_figures.sql` does to a database opened for writing,
/// done to data read for a merge (its source may be an older database that is only read): a job
/// with a non-finite result or epoch becomes failed as diverged, without its result and without
/// the epochs from the first non-finite one on.
fn drop_non_finite(data: &mut Export) {
    let finite = |figures: &[(&str, f64)]| figures.iter().all(|(_, v)| v.is_finite());
    let mut first_bad: HashMap<String, i64> = HashMap::new();
    for e in &data.epochs {
        if !finite(&epoch_figures(e)) {
            let first = first_bad.entry(e.job_key.clone()).or_insert(e.epoch);
            *first = (*first).min(e.epoch);
        }
    }
    for r in &data.results {
        if !finite(&result_figures(r)) {
            first_bad.entry(r.job_key.clone()).or_insert(i64::MAX);
        }
    }
    if first_bad.is_empty() {
        return;
    }
    data.epochs.retain(|e| {
        first_bad
            .get(&e.job_key)
            .is_none_or(|&first| e.epoch < first)
    });
    data.results.retain(|r| !first_bad.contains_key(&r.job_key));
    data.predictions
        .retain(|p| !first_bad.contains_key(&p.job_key));
    for job in &mut data.jobs {
        if first_bad.contains_key(&job.key) {
            tracing::warn!(key = %job.key, "merging a job with a NaN or infinite figure as failed");
            job.status = JobStatus::Failed.as_str().to_string();
            job.lease_expires_at = None;
            job.last_error = Some(GaveUp::Diverged.last_error(job.last_error.as_deref()));
        }
    }
}

impl Store {
    async fn export(&self) -> Result<Export> {
        let mut data = self.export_rows().await?;
        drop_non_finite(&mut data);
        Ok(data)
    }

    async fn export_rows(&self) -> Result<Export> {
        on_backend!(self, "reading a database to merge", |pool, d| {
            Ok(Export {
                sweeps: sql::select_sweeps(d).fetch_all(pool).await?,
                jobs: sql::export_jobs(d).fetch_all(pool).await?,
                memberships: sql::export_memberships().fetch_all(pool).await?,
                results: sql::export_results(d).fetch_all(pool).await?,
                epochs: sql::export_epochs().fetch_all(pool).await?,
                job_data: sql::select_job_data().fetch_all(pool).await?,
                predictions: sql::export_predictions().fetch_all(pool).await?,
                searches: hq::export_searches().fetch_all(pool).await?,
                halts: hq::export_halts().fetch_all(pool).await?,
                decisions: hq::export_decisions(&d.halving).fetch_all(pool).await?,
            })
        })
    }

    /// Copies the sweeps, jobs, memberships, results, epochs and predictions of `other` (either back end)
    /// into this store, in one transaction, without duplicates: rows are matched by sweep id and
    /// job key. A job new here is copied as it is (a running one as interrupted); a job that is
    /// done in `other` but not here takes `other`'s state, result and history; otherwise this
    /// store's job wins. A job done in both with different test accuracy or loss is listed in
    /// [`MergeReport::conflicts`] (this store's result is kept). Checkpoints are not copied.
    ///
    /// Halving state comes along: a sweep's plan, each copied job's `halt` and `stop_at` (a job
    /// pruned in `other` is pruned here; one pruned here but finished in `other` takes `other`'s
    /// result), and the rung decisions, rung by rung: a rung this store already decided keeps its
    /// decision, so a merged halving sweep reports as it did in `other` and is not decided again.
    pub async fn merge_from(&self, other: &Store) -> Result<MergeReport> {
        let data = other.export().await?;
        let halts: HashMap<&str, &HaltRecord> =
            data.halts.iter().map(|h| (h.key.as_str(), h)).collect();
        let mut results: HashMap<&str, &ResultRecord> = HashMap::new();
        for r in &data.results {
            results.insert(&r.job_key, r);
        }
        let job_data: HashMap<&str, (&str, Option<bool>, Option<&str>)> = data
            .job_data
            .iter()
            .map(|(k, sha, verified, newer)| {
                (k.as_str(), (sha.as_str(), *verified, newer.as_deref()))
            })
            .collect();
        let mut epochs: HashMap<&str, Vec<&EpochRecord>> = HashMap::new();
        for e in &data.epochs {
            epochs.entry(&e.job_key).or_default().push(e);
        }
        let mut predictions: HashMap<&str, Vec<&PredictionRecord>> = HashMap::new();
        for p in &data.predictions {
            predictions.entry(&p.job_key).or_default().push(p);
        }
        on_backend!(self, "merging another results database", |pool, d| {
            let mut tx = pool.begin_with(d.begin_write).await?;
            let mut report = MergeReport::default();
            for s in &data.sweeps {
                let n = sql::insert_sweep(d, s).execute(&mut *tx).await?;
                report.sweeps_added += n as usize;
            }
            for s in &data.searches {
                hq::set_search(&s.id, &s.search_json)
                    .execute(&mut *tx)
                    .await?;
            }
            let base: i64 = sql::max_seq().query_scalar().fetch_one(&mut *tx).await?;
            for (i, job) in data.jobs.iter().enumerate() {
                let here: Option<String> = sql::job_status(&job.key)
                    .query_scalar()
                    .fetch_optional(&mut *tx)
                    .await?;
                let done = JobStatus::Done.as_str();
                let pruned = Some("pruned");
                // A job pruned here (done, without a result) that `other` finished takes `other`'s
                // result, as a job not done here does.
                let here = match here {
                    Some(status) if status == done && job.status == done => {
                        let halt: Option<String> = hq::job_halt(&job.key)
                            .query_scalar()
                            .fetch_one(&mut *tx)
                            .await?;
                        let there = halts.get(job.key.as_str()).and_then(|h| h.halt.as_deref());
                        if halt.as_deref() == pruned && there != pruned {
                            Some(JobStatus::Pending.as_str().to_string())
                        } else {
                            Some(status)
                        }
                    }
                    other => other,
                };
                match here {
                    None => {
                        let mut record = job.clone();
                        record.seq = base + 1 + i as i64;
                        if record.status == JobStatus::Running.as_str() {
                            record.status = JobStatus::Interrupted.as_str().to_string();
                            record.lease_expires_at = None;
                        }
                        sql::insert_job(d, &record).execute(&mut *tx).await?;
                        if let Some(h) = halts.get(job.key.as_str()) {
                            hq::set_halt(h).execute(&mut *tx).await?;
                        }
                        report.jobs_added += 1;
                    }
                    Some(status) if status != done && job.status == done => {
                        sql::merge_job_state(d, job).execute(&mut *tx).await?;
                        let h = halts.get(job.key.as_str()).copied().cloned();
                        let h = h.unwrap_or(HaltRecord {
                            key: job.key.clone(),
                            halt: None,
                            stop_at: None,
                        });
                        hq::set_halt(&h).execute(&mut *tx).await?;
                        for stmt in [
                            sql::delete_epochs(&job.key),
                            sql::delete_checkpoint(&job.key),
                            sql::delete_predictions(&job.key),
                        ] {
                            stmt.execute(&mut *tx).await?;
                        }
                        report.jobs_completed += 1;
                    }
                    Some(status) if status == done && job.status == done => {
                        // Both finished it: the result here wins; a different one is a conflict.
                        let kept: Option<(Option<f64>, Option<f64>)> =
                            sql::select_result_figures(&job.key)
                                .query_as()
                                .fetch_optional(&mut *tx)
                                .await?;
                        let kept_data: Option<String> = sql::job_data(&job.key)
                            .query_scalar()
                            .fetch_one(&mut *tx)
                            .await?;
                        let dropped_data = job_data
                            .get(job.key.as_str())
                            .map(|(sha, _, _)| sha.to_string());
                        if let (Some(kept), Some(r)) = (kept, results.get(job.key.as_str())) {
                            let dropped = (Some(r.test_accuracy), Some(r.test_loss));
                            let data_differs = kept_data.is_some()
                                && dropped_data.is_some()
                                && kept_data != dropped_data;
                            if !same_figure(kept.0, dropped.0)
                                || !same_figure(kept.1, dropped.1)
                                || data_differs
                            {
                                report.conflicts.push(MergeConflict {
                                    key: job.key.clone(),
                                    spec: columns::parse_spec(&job.key, &job.spec_json)?,
                                    kept,
                                    dropped,
                                    kept_data,
                                    dropped_data,
                                });
                            }
                        }
                        continue;
                    }
                    Some(_) => continue,
                }
                if let Some((sha, verified, newer)) = job_data.get(job.key.as_str()) {
                    sql::copy_job_data(&job.key, sha, *verified, *newer)
                        .execute(&mut *tx)
                        .await?;
                }
                if let Some(r) = results.get(job.key.as_str()) {
                    sql::upsert_result(d, r).execute(&mut *tx).await?;
                }
                for e in epochs.get(job.key.as_str()).into_iter().flatten() {
                    sql::upsert_epoch(e).execute(&mut *tx).await?;
                }
                for p in predictions.get(job.key.as_str()).into_iter().flatten() {
                    sql::upsert_predictions(p).execute(&mut *tx).await?;
                }
            }
            for m in &data.memberships {
                let n = sql::insert_membership(&m.sweep_id, &m.job_key, m.position)
                    .execute(&mut *tx)
                    .await?;
                report.memberships_added += n as usize;
            }
            for r in &data.decisions {
                hq::copy_decision(&d.halving, r).execute(&mut *tx).await?;
            }
            sql::reopen_sweeps().execute(&mut *tx).await?;
            sql::finish_sweeps(d, None).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(report)
        })
    }
}
