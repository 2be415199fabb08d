//! Successive halving in the store: jobs that wait at a rung, and the rung decisions.
//!
//! A halving sweep records its plan ([`HalvingPlan`]: eta and the rung epochs) when it is
//! enqueued ([`Store::enqueue_with_plan`]); each of its new jobs gets `stop_at`, the first rung's
//! epoch. A worker trains a claimed job to its `stop_at` ([`Claim::stop_at`]) and hands it back
//! with [`Store::pause`]: it then waits (`halt = 'waiting'`, shown as [`JobStatus::Waiting`]) and
//! is not claimed. [`Store::advance_halving`] decides every rung whose jobs have all reported (or
//! failed): in one transaction, holding the sweep (PostgreSQL: its row `FOR UPDATE`; SQLite: the
//! write lock), it reads the rung's validation accuracies, lets the caller rank the
//! configurations, records the decision in `rung_decisions` (whose primary key (sweep, rung)
//! refuses a second one), raises the kept jobs' `stop_at` to the next rung and marks the others
//! pruned (status `done`, `halt = 'pruned'`, shown as [`JobStatus::Pruned`]; their epochs stay,
//! their checkpoint goes). Any process may call it at any time, as often as it likes: a rung is
//! decided once, and a killed run finds its decisions recorded.

use crate::error::{Result, StoreError};
use crate::sql::halving::{self as q, DecisionRecord, HalvingSweepRecord, RungJobRecord};
use crate::types::{Claim, HalvingPlan, LatePlace, RankedConfig, RungDecision, RungEntry};
use crate::{Store, columns, on_backend};

/// Ranks the configurations of a rung, best first, and says how many of them go on: given the
/// rung's jobs (a failed job has no accuracy) and eta. Its jobs' keys are all the store reads
/// back: a key it does not name is neither kept nor pruned.
pub type Chooser = dyn Fn(&[RungEntry], usize) -> (Vec<RankedConfig>, usize) + Send + Sync;

/// The body of a `decision` JSON value.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct DecisionBody {
    keep: Vec<String>,
    prune: Vec<String>,
    failed: Vec<String>,
    ranking: Vec<RankedConfig>,
    /// Jobs judged after the decision (see [`Store::advance_halving`]) that went on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    late_keep: Vec<String>,
    /// Jobs judged after the decision that stopped here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    late_prune: Vec<String>,
    /// The places of the configurations judged late against the ranking.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    late_ranking: Vec<LatePlace>,
    /// Last rung, with `confirm`: the best configurations' jobs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    confirm_top: Vec<String>,
    /// Last rung, with `confirm`: the jobs added to confirm them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    confirm: Vec<String>,
}

fn decision(r: DecisionRecord) -> Result<RungDecision> {
    let body: DecisionBody =
        serde_json::from_str(&r.decision).map_err(|e| StoreError::Corrupt {
            key: r.sweep_id.clone(),
            what: "rung_decisions.decision",
            why: e.to_string(),
        })?;
    Ok(RungDecision {
        sweep_id: r.sweep_id,
        rung: r.rung.max(0) as usize,
        epoch: r.epoch.max(0) as usize,
        keep: body.keep,
        prune: body.prune,
        failed: body.failed,
        ranking: body.ranking,
        late_keep: body.late_keep,
        late_prune: body.late_prune,
        late_ranking: body.late_ranking,
        confirm_top: body.confirm_top,
        confirm: body.confirm,
        decided_at: r.decided_at,
    })
}

fn plan(id: &str, json: &str) -> Result<HalvingPlan> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        key: id.to_string(),
        what: "sweeps.search_json",
        why: e.to_string(),
    })
}

impl Store {
    /// Hands back `claim`'s job after `epochs_done` epochs because it reached its
    /// [`Claim::stop_at`]: it waits for its rung's decision (or, if the decision raised its budget
    /// meanwhile, is pending again). Its attempt is given back, as for a clean interrupt. Fails
    /// with [`StoreError::LeaseLost`] if the claim is stale.
    pub async fn pause(&self, claim: &Claim, epochs_done: usize) -> Result<()> {
        let n = on_backend!(self, "pausing a job at its rung", |pool, _d| {
            Ok(q::pause(claim, epochs_done as i64).execute(pool).await?)
        })?;
        if n == 0 {
            return Err(StoreError::LeaseLost {
                key: claim.key.clone(),
                worker_id: claim.worker_id.clone(),
                attempt: claim.attempt,
            });
        }
        Ok(())
    }

    /// The halving plan of the sweep with id or name `sweep` (`None`: a full grid).
    pub async fn halving_plan(&self, sweep: &str) -> Result<Option<HalvingPlan>> {
        let json: Option<String> = on_backend!(self, "reading a sweep's plan", |pool, _d| {
            Ok(q::select_search(sweep)
                .query_scalar()
                .fetch_optional(pool)
                .await?)
        })?;
        json.map(|j| plan(sweep, &j)).transpose()
    }

    /// The plan, decisions and jobs of the sweep with id or name `sweep` when it is a halving
    /// sweep (`None`: a full grid), for its report ([`crate::HalvingView`]).
    pub async fn halving_view(&self, sweep: &str) -> Result<Option<crate::HalvingView>> {
        let Some(plan) = self.halving_plan(sweep).await? else {
            return Ok(None);
        };
        let decisions = self.rung_decisions(sweep).await?;
        let jobs = self
            .jobs_of_sweep(sweep)
            .await?
            .into_iter()
            .map(|j| {
                let job = crate::HalvingJob {
                    label: j.spec.model.label(),
                    status: j.status.as_str().to_string(),
                    epochs_done: j.epochs_done,
                    spec: j.spec,
                };
                (j.key, job)
            })
            .collect();
        Ok(Some(crate::HalvingView {
            plan,
            decisions,
            jobs,
        }))
    }

    /// The plans of the halving sweeps that are not finished, by sweep id (the dashboard
    /// counts their progress by the plan).
    pub async fn unfinished_halving_plans(&self) -> Result<Vec<(String, HalvingPlan)>> {
        let sweeps: Vec<HalvingSweepRecord> =
            on_backend!(self, "reading halving sweeps", |pool, _d| {
                Ok(q::select_halving_sweeps(None).fetch_all(pool).await?)
            })?;
        sweeps
            .into_iter()
            .map(|s| Ok((s.id.clone(), plan(&s.id, &s.search_json)?)))
            .collect()
    }

    /// The recorded decisions of the sweep with id or name `sweep`, in rung order.
    pub async fn rung_decisions(&self, sweep: &str) -> Result<Vec<RungDecision>> {
        let rows: Vec<DecisionRecord> = on_backend!(self, "reading rung decisions", |pool, d| {
            Ok(q::select_decisions(&d.halving, sweep)
                .fetch_all(pool)
                .await?)
        })?;
        rows.into_iter().map(decision).collect()
    }

    /// Decides every rung of the unfinished halving sweeps (with id or name `sweep`; `None`: all)
    /// whose jobs have all reported their validation accuracy at the rung's epoch (or failed) and
    /// none of which is running; `choose` ranks the rung's configurations. A rung whose jobs all
    /// failed is not decided (there is nothing to rank): the sweep ends with them failed, and
    /// `--retry-failed` brings them back to the same, still open, rung.
    ///
    /// Before that it brings every job of the sweep that a recorded decision does not cover up to
    /// date ("late" jobs: a failed job retried after its rung was decided without it, seeds added
    /// to the sweep later), so that no job ever waits for a decision that was already made:
    /// - a late job whose configuration has a judged seed at that rung follows it (seeds move
    ///   together: kept or pruned with it);
    /// - any other late job trains to the rung's epoch (with its configuration's other late
    ///   seeds) and is then judged against the rung's recorded ranking: it goes on only if its
    ///   configuration, ranked with the rung's configurations by `choose`, beats the worst
    ///   configuration the decision kept, else it is pruned there. At the last rung a late job
    ///   finished, and is kept. Since the recorded decision stands, a rung can keep more than
    ///   `ceil(n / eta)` of its `n` configurations: one more per late configuration that beat
    ///   its worst kept one.
    ///
    /// Late judgements are added to the rung's decision (`late_keep`, `late_prune`); the recorded
    /// keep and prune lists never change, so a decision once made stands. Every job of the rung
    /// about to be decided that stopped short of its epoch (it waited at another sweep's rung, or
    /// another sweep pruned it earlier) has its budget raised to the rung (a pruned job reopens).
    ///
    /// Returns the decisions this call made (none when another process made them first, or no rung
    /// is complete) and how many jobs it judged late or sent on.
    pub async fn advance_halving(&self, sweep: Option<&str>, choose: &Chooser) -> Result<Advanced> {
        let sweeps: Vec<HalvingSweepRecord> =
            on_backend!(self, "reading halving sweeps", |pool, _d| {
                Ok(q::select_halving_sweeps(sweep).fetch_all(pool).await?)
            })?;
        let mut out = Advanced::default();
        for s in sweeps {
            let plan = plan(&s.id, &s.search_json)?;
            loop {
                let (made, moved) = self.advance_sweep(&s.id, &plan, choose).await?;
                out.moved += moved;
                match made {
                    Some(d) => out.decisions.push(d),
                    None => break,
                }
            }
        }
        if !out.decisions.is_empty() || out.moved > 0 {
            self.stamp_finished_sweeps(None).await;
        }
        Ok(out)
    }

    /// One transaction of [`Store::advance_halving`] on sweep `sweep_id`: the late jobs of its
    /// decided rungs, then its next rung if that is complete. Returns the decision made, if any,
    /// and the jobs judged late or sent on.
    async fn advance_sweep(
        &self,
        sweep_id: &str,
        plan: &HalvingPlan,
        choose: &Chooser,
    ) -> Result<(Option<RungDecision>, usize)> {
        on_backend!(self, "deciding a halving rung", |pool, d| {
            let mut tx = pool.begin_with(d.begin_write).await?;
            let _: Vec<(String,)> = q::lock_sweep(&d.halving, sweep_id)
                .fetch_all(&mut *tx)
                .await?;
            let decided: Vec<DecisionRecord> = q::select_decisions(&d.halving, sweep_id)
                .fetch_all(&mut *tx)
                .await?;
            let mut decided = decided
                .into_iter()
                .map(decision)
                .collect::<Result<Vec<_>>>()
                .map_err(crate::error::Fail::from)?;
            let mut moved = 0;
            // Jobs added to confirm the winner take no part in the rungs.
            let confirming: Vec<String> = decided
                .iter()
                .flat_map(|d| d.confirm.iter().cloned())
                .collect();
            // The jobs of rung 0: every other job of the sweep, in its order.
            let mut members: Option<Vec<String>> = None;
            for (k, dec) in decided.iter_mut().enumerate() {
                let rows: Vec<RungJobRecord> = q::select_rung_jobs(sweep_id, dec.epoch as i64)
                    .fetch_all(&mut *tx)
                    .await?;
                let rung = Rung::new(&rows).map_err(crate::error::Fail::from)?;
                let of_rung: Vec<String> = match members.take() {
                    None => rows
                        .iter()
                        .map(|r| r.key.clone())
                        .filter(|k| !confirming.contains(k))
                        .collect(),
                    Some(m) => m,
                };
                let mut changed = false;
                for key in &of_rung {
                    if dec.judged(key) {
                        continue;
                    }
                    let Some(row) = rung.row(key) else { continue };
                    if row.status == "running" || row.status == "failed" {
                        continue;
                    }
                    let fate = match rung.sibling_fate(key, dec) {
                        Some(f) => f,
                        None if row.val_accuracy.is_none() => {
                            // It trains to the rung first (reopened if another sweep pruned it).
                            moved +=
                                q::promote(key, dec.epoch as i64).execute(&mut *tx).await? as usize;
                            continue;
                        }
                        // At the last rung nothing is pruned: a late job there finished.
                        None if k + 1 == plan.rungs.len() => true,
                        None => {
                            // Its configuration's late seeds move together: judged on their
                            // mean once each has reported (or failed).
                            let seeds: Vec<&str> = rung
                                .late_siblings(key, dec)
                                .into_iter()
                                .filter(|s| of_rung.iter().any(|k2| k2 == s))
                                .collect();
                            let waiting = seeds.iter().any(|s| {
                                rung.row(s).is_some_and(|r| {
                                    r.val_accuracy.is_none() && r.status != "failed"
                                })
                            });
                            if waiting {
                                continue;
                            }
                            let mut entries = Vec::new();
                            for k2 in dec
                                .ranking
                                .iter()
                                .flat_map(|c| &c.keys)
                                .map(String::as_str)
                                .chain(std::iter::once(key.as_str()))
                                .chain(seeds.iter().copied())
                            {
                                if let Some(e) = rung.entry(k2).map_err(crate::error::Fail::from)? {
                                    entries.push(e);
                                }
                            }
                            let (ranking, _) = choose(&entries, plan.eta);
                            if let Some((i, c)) = ranking
                                .iter()
                                .enumerate()
                                .find(|(_, c)| c.keys.iter().any(|k2| k2 == key))
                            {
                                dec.late_ranking.push(LatePlace {
                                    keys: c.keys.clone(),
                                    val_accuracy: c.val_accuracy,
                                    place: i + 1,
                                    of: ranking.len(),
                                });
                            }
                            late_fate(&ranking, key, dec)
                        }
                    };
                    if fate {
                        dec.late_keep.push(key.clone());
                        if let Some(&next) = plan.rungs.get(k + 1) {
                            q::promote(key, next as i64).execute(&mut *tx).await?;
                        }
                    } else {
                        dec.late_prune.push(key.clone());
                        q::prune(&d.halving, key, dec.epoch as i64)
                            .execute(&mut *tx)
                            .await?;
                        q::delete_pruned_checkpoint(key).execute(&mut *tx).await?;
                    }
                    changed = true;
                    moved += 1;
                }
                if changed {
                    let json = serde_json::to_string(&DecisionBody::of(dec))
                        .expect("a decision always serialises");
                    q::update_decision(sweep_id, k as i64, &json)
                        .execute(&mut *tx)
                        .await?;
                }
                members = Some(of_rung.into_iter().filter(|k| dec.goes_on(k)).collect());
            }
            let rung = decided.len();
            // The last rung is the full budget: nothing to decide there, but with `confirm` its
            // ranking picks the configurations to confirm, once its jobs are all done.
            let last = rung + 1 == plan.rungs.len();
            if rung >= plan.rungs.len() || (last && plan.confirm.is_none()) {
                tx.commit().await?;
                return Ok((None, moved));
            }
            let epoch = plan.rungs[rung];
            let rows: Vec<RungJobRecord> = q::select_rung_jobs(sweep_id, epoch as i64)
                .fetch_all(&mut *tx)
                .await?;
            let jobs: Vec<RungJobRecord> = match members {
                None => rows
                    .into_iter()
                    .filter(|j| !confirming.contains(&j.key))
                    .collect(),
                Some(m) => rows.into_iter().filter(|j| m.contains(&j.key)).collect(),
            };
            // Jobs of this rung stopped short of its epoch (at another sweep's rung, or pruned
            // by another sweep) train on to it.
            let mut raised = 0;
            for j in &jobs {
                if j.val_accuracy.is_none() && j.status != "running" && j.status != "failed" {
                    raised += q::promote(&j.key, epoch as i64).execute(&mut *tx).await? as usize;
                }
            }
            moved += raised;
            let out = |j: &RungJobRecord| {
                j.status == "failed" || (j.status == "done" && j.val_accuracy.is_none())
            };
            let complete = raised == 0
                && jobs.iter().all(|j| {
                    out(j)
                        || (j.val_accuracy.is_some()
                            && if last {
                                j.status == "done"
                            } else {
                                j.status != "running"
                            })
                });
            if !complete || jobs.iter().all(out) {
                // Not all in; or all failed, which leaves the rung open for --retry-failed.
                tx.commit().await?;
                return Ok((None, moved));
            }
            let mut entries = Vec::with_capacity(jobs.len());
            for j in &jobs {
                entries.push(RungEntry {
                    spec: columns::parse_spec(&j.key, &j.spec_json)
                        .map_err(crate::error::Fail::from)?,
                    params: j.params.max(0) as u64,
                    val_accuracy: if out(j) { None } else { j.val_accuracy },
                    key: j.key.clone(),
                });
            }
            let (ranking, keep_n) = choose(&entries, plan.eta);
            // At the last rung nothing is pruned: every configuration there finished.
            let keep_n = if last { ranking.len() } else { keep_n };
            let keep: Vec<String> = ranking
                .iter()
                .take(keep_n)
                .flat_map(|c| c.keys.iter().cloned())
                .collect();
            let prune: Vec<String> = ranking
                .iter()
                .skip(keep_n)
                .flat_map(|c| c.keys.iter().cloned())
                .collect();
            let failed: Vec<String> = entries
                .iter()
                .filter(|e| e.val_accuracy.is_none())
                .map(|e| e.key.clone())
                .collect();
            let mut body = DecisionBody {
                keep,
                prune,
                failed,
                ranking,
                late_keep: Vec::new(),
                late_prune: Vec::new(),
                late_ranking: Vec::new(),
                confirm_top: Vec::new(),
                confirm: Vec::new(),
            };
            // The jobs that confirm the best configurations: `repeats` seeds after the highest
            // seed each has in the sweep (as `--repeats` makes them), every epoch.
            let mut new_jobs = Vec::new();
            if let (true, Some(c)) = (last, plan.confirm) {
                for config in body.ranking.iter().take(c.top) {
                    body.confirm_top.extend(config.keys.iter().cloned());
                    let mut seeds = Vec::new();
                    for key in &config.keys {
                        let j = jobs.iter().find(|j| &j.key == key).expect("a ranked job");
                        seeds.push(
                            columns::parse_spec(&j.key, &j.spec_json)
                                .map_err(crate::error::Fail::from)?,
                        );
                    }
                    seeds.sort_by_key(|s| s.train.seed);
                    let Some(top) = seeds.last() else { continue };
                    // The highest seed of this configuration in the sweep (a grid with repeats).
                    let highest = top.train.seed;
                    for r in 1..=c.repeats as u64 {
                        let mut spec = top.clone();
                        spec.train.seed = highest.wrapping_add(r);
                        body.confirm.push(spec.key());
                        new_jobs.push(spec);
                    }
                }
            }
            let json = serde_json::to_string(&body).expect("a decision always serialises");
            let n = q::insert_decision(&d.halving, sweep_id, rung as i64, epoch as i64, &json)
                .execute(&mut *tx)
                .await?;
            if n == 0 {
                // Another process decided this rung first (its decision stands).
                tx.commit().await?;
                return Ok((None, moved));
            }
            if !new_jobs.is_empty() {
                let base: i64 = crate::sql::max_seq()
                    .query_scalar()
                    .fetch_one(&mut *tx)
                    .await?;
                let position: i64 = q::max_position(sweep_id)
                    .query_scalar()
                    .fetch_one(&mut *tx)
                    .await?;
                for (i, spec) in new_jobs.iter().enumerate() {
                    let mut record = columns::job_record(spec, position + 1 + i as i64)
                        .map_err(crate::error::Fail::from)?;
                    record.seq = base + 1 + i as i64;
                    let n = crate::sql::insert_job(d, &record).execute(&mut *tx).await?;
                    if n == 0 {
                        // Already there (another sweep's): trained on to its last epoch.
                        q::promote(&record.key, spec.train.epochs as i64)
                            .execute(&mut *tx)
                            .await?;
                    }
                    crate::sql::insert_membership(sweep_id, &record.key, position + 1 + i as i64)
                        .execute(&mut *tx)
                        .await?;
                }
                crate::sql::reopen_sweep(sweep_id).execute(&mut *tx).await?;
            }
            if let Some(&next) = plan.rungs.get(rung + 1) {
                for key in &body.keep {
                    q::promote(key, next as i64).execute(&mut *tx).await?;
                }
            }
            for key in &body.prune {
                q::prune(&d.halving, key, epoch as i64)
                    .execute(&mut *tx)
                    .await?;
                q::delete_pruned_checkpoint(key).execute(&mut *tx).await?;
            }
            let row: Vec<DecisionRecord> = q::select_decisions(&d.halving, sweep_id)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            let made = row
                .into_iter()
                .find(|r| r.rung == rung as i64)
                .map(decision)
                .transpose()
                .map_err(crate::error::Fail::from)?;
            Ok((made, moved))
        })
    }
}

/// The fate of late job `key` at the rung of decision `dec`, from `ranking` (the rung's recorded
/// configurations and the late one, ranked by the chooser, the order every report uses): it goes
/// on only if its configuration is ranked ahead of the worst configuration the decision kept,
/// that is if it beats one the rung kept. The recorded decision stands (no kept configuration is
/// sent back), so a rung can end with more than `ceil(n / eta)` of its `n` configurations kept:
/// one more for each late configuration that beat its worst kept one.
fn late_fate(ranking: &[RankedConfig], key: &str, dec: &RungDecision) -> bool {
    let late = ranking.iter().position(|c| c.keys.iter().any(|k| k == key));
    let worst_kept = ranking
        .iter()
        .rposition(|c| c.keys.iter().any(|k| dec.keep.contains(k)));
    match (late, worst_kept) {
        (Some(l), Some(w)) => l < w,
        _ => false,
    }
}

/// What [`Store::advance_halving`] did.
#[derive(Debug, Clone, Default)]
pub struct Advanced {
    /// The decisions it made.
    pub decisions: Vec<RungDecision>,
    /// Jobs it judged late at a decided rung, or whose budget it raised to their rung.
    pub moved: usize,
}

/// The jobs of a sweep at one rung's epoch, for late judgements.
struct Rung<'a> {
    rows: &'a [RungJobRecord],
    /// Each row's configuration: its spec with seed 0.
    configs: Vec<tune_spec::JobSpec>,
}

impl<'a> Rung<'a> {
    fn new(rows: &'a [RungJobRecord]) -> Result<Rung<'a>> {
        let mut configs = Vec::with_capacity(rows.len());
        for r in rows {
            let mut spec = columns::parse_spec(&r.key, &r.spec_json)?;
            spec.train.seed = 0;
            configs.push(spec);
        }
        Ok(Rung { rows, configs })
    }

    fn index(&self, key: &str) -> Option<usize> {
        self.rows.iter().position(|r| r.key == key)
    }

    fn row(&self, key: &str) -> Option<&RungJobRecord> {
        self.index(key).map(|i| &self.rows[i])
    }

    /// Whether `dec` kept (`true`) or pruned (`false`) another seed of `key`'s configuration.
    fn sibling_fate(&self, key: &str, dec: &RungDecision) -> Option<bool> {
        let i = self.index(key)?;
        let siblings: Vec<&str> = self
            .rows
            .iter()
            .zip(&self.configs)
            .filter(|(r, c)| r.key != key && **c == self.configs[i])
            .map(|(r, _)| r.key.as_str())
            .collect();
        if siblings.iter().any(|s| dec.goes_on(s)) {
            Some(true)
        } else if siblings
            .iter()
            .any(|s| dec.prune.iter().chain(&dec.late_prune).any(|p| p == s))
        {
            Some(false)
        } else {
            None
        }
    }

    /// The other seeds of `key`'s configuration at this rung that `dec` did not judge (with
    /// `key`, late seeds judged together).
    fn late_siblings(&self, key: &str, dec: &RungDecision) -> Vec<&str> {
        let Some(i) = self.index(key) else {
            return Vec::new();
        };
        self.rows
            .iter()
            .zip(&self.configs)
            .filter(|(r, c)| r.key != key && **c == self.configs[i] && !dec.judged(&r.key))
            .map(|(r, _)| r.key.as_str())
            .collect()
    }

    /// Job `key` as the chooser sees it (`None` when it has no accuracy at the rung).
    fn entry(&self, key: &str) -> Result<Option<RungEntry>> {
        let Some(r) = self.row(key) else {
            return Ok(None);
        };
        let Some(v) = r.val_accuracy else {
            return Ok(None);
        };
        Ok(Some(RungEntry {
            key: r.key.clone(),
            spec: columns::parse_spec(&r.key, &r.spec_json)?,
            params: r.params.max(0) as u64,
            val_accuracy: Some(v),
        }))
    }
}

impl DecisionBody {
    fn of(d: &RungDecision) -> DecisionBody {
        DecisionBody {
            keep: d.keep.clone(),
            prune: d.prune.clone(),
            failed: d.failed.clone(),
            ranking: d.ranking.clone(),
            late_keep: d.late_keep.clone(),
            late_prune: d.late_prune.clone(),
            late_ranking: d.late_ranking.clone(),
            confirm_top: d.confirm_top.clone(),
            confirm: d.confirm.clone(),
        }
    }
}
