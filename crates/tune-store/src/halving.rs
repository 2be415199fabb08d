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
use crate::types::{Claim, HalvingPlan, RankedConfig, RungDecision, RungEntry};
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
    /// none of which is running; `choose` ranks the rung's configurations. Returns the decisions
    /// this call made (none when another process made them first, or no rung is complete).
    pub async fn advance_halving(
        &self,
        sweep: Option<&str>,
        choose: &Chooser,
    ) -> Result<Vec<RungDecision>> {
        let sweeps: Vec<HalvingSweepRecord> =
            on_backend!(self, "reading halving sweeps", |pool, _d| {
                Ok(q::select_halving_sweeps(sweep).fetch_all(pool).await?)
            })?;
        let mut made = Vec::new();
        for s in sweeps {
            let plan = plan(&s.id, &s.search_json)?;
            while let Some(d) = self.decide_next_rung(&s.id, &plan, choose).await? {
                made.push(d);
            }
        }
        if !made.is_empty() {
            self.stamp_finished_sweeps(None).await;
        }
        Ok(made)
    }

    /// Decides the next undecided rung of sweep `sweep_id`, if its jobs are all in.
    async fn decide_next_rung(
        &self,
        sweep_id: &str,
        plan: &HalvingPlan,
        choose: &Chooser,
    ) -> Result<Option<RungDecision>> {
        on_backend!(self, "deciding a halving rung", |pool, d| {
            let mut tx = pool.begin_with(d.begin_write).await?;
            let _: Vec<(String,)> = q::lock_sweep(&d.halving, sweep_id)
                .fetch_all(&mut *tx)
                .await?;
            let decided: Vec<DecisionRecord> = q::select_decisions(&d.halving, sweep_id)
                .fetch_all(&mut *tx)
                .await?;
            let rung = decided.len();
            // The last rung is the full budget: nothing to decide there.
            if rung + 1 >= plan.rungs.len() {
                return Ok(None);
            }
            let epoch = plan.rungs[rung];
            let jobs: Vec<RungJobRecord> = q::select_rung_jobs(sweep_id, epoch as i64)
                .fetch_all(&mut *tx)
                .await?;
            let jobs: Vec<RungJobRecord> = match decided.last() {
                None => jobs,
                Some(last) => {
                    let last = decision(last.clone()).map_err(crate::error::Fail::from)?;
                    jobs.into_iter()
                        .filter(|j| last.keep.contains(&j.key))
                        .collect()
                }
            };
            let complete = jobs.iter().all(|j| {
                j.status == "failed" || (j.val_accuracy.is_some() && j.status != "running")
            });
            if !complete || jobs.is_empty() {
                return Ok(None);
            }
            let mut entries = Vec::with_capacity(jobs.len());
            for j in &jobs {
                entries.push(RungEntry {
                    spec: columns::parse_spec(&j.key, &j.spec_json)
                        .map_err(crate::error::Fail::from)?,
                    params: j.params.max(0) as u64,
                    val_accuracy: if j.status == "failed" {
                        None
                    } else {
                        j.val_accuracy
                    },
                    key: j.key.clone(),
                });
            }
            let (ranking, keep_n) = choose(&entries, plan.eta);
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
            let body = DecisionBody {
                keep,
                prune,
                failed,
                ranking,
            };
            let json = serde_json::to_string(&body).expect("a decision always serialises");
            let n = q::insert_decision(&d.halving, sweep_id, rung as i64, epoch as i64, &json)
                .execute(&mut *tx)
                .await?;
            if n == 0 {
                // Another process decided this rung first (its decision stands).
                return Ok(None);
            }
            let next = plan.rungs[rung + 1] as i64;
            for key in &body.keep {
                q::promote(key, next).execute(&mut *tx).await?;
            }
            for key in &body.prune {
                q::prune(&d.halving, key).execute(&mut *tx).await?;
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
            Ok(made)
        })
    }
}
