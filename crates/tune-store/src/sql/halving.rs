//! The statements of successive halving: a sweep's plan, jobs that wait at a rung, and the rung
//! decisions (see `crate::halving`). The dialects differ only in clocks and in how a decision
//! locks its sweep ([`HalvingSql`]); the rest is shared.

use super::Stmt;
use crate::types::Claim;

/// The halving statements whose text differs between dialects.
pub(crate) struct HalvingSql {
    /// Locks sweep $1 for the rest of the transaction, so that one process at a time decides its
    /// rungs (PostgreSQL: `FOR UPDATE`; SQLite: the write transaction holds the database's lock).
    pub lock_sweep: &'static str,
    /// Records a decision unless the rung has one. $1 sweep_id, $2 rung, $3 epoch, $4 decision
    /// JSON; decided_at is now.
    pub insert_decision: &'static str,
    /// The decisions of the sweeps with id or name $1, as [`DecisionRecord`]s in rung order.
    pub select_decisions: &'static str,
    /// Marks waiting (or interrupted) job $1 pruned at epoch $2: status done, halt 'pruned',
    /// finished now, and the attempt its pause gave back counted again (the prune ends it, as a
    /// finish ends a job that trains to the end); unless its budget is beyond $2 (another sweep
    /// sent it on).
    pub prune: &'static str,
    /// Every decision of every sweep, as [`DecisionRecord`]s (for a merge).
    pub export_decisions: &'static str,
    /// Copies a decision (a merge) unless the rung has one here. $1 sweep_id, $2 rung, $3 epoch,
    /// $4 decision JSON, $5 decided_at (UTC text).
    pub copy_decision: &'static str,
}

/// SQLite's texts.
pub(crate) const SQLITE: HalvingSql = HalvingSql {
    lock_sweep: "SELECT id FROM sweeps WHERE id = $1",
    insert_decision: "INSERT INTO rung_decisions (sweep_id, rung, epoch, decision, decided_at) \
         VALUES ($1, $2, $3, $4, strftime('%Y-%m-%d %H:%M:%f', 'now')) \
         ON CONFLICT (sweep_id, rung) DO NOTHING",
    select_decisions: "SELECT d.sweep_id, d.rung, d.epoch, d.decision, d.decided_at \
         FROM rung_decisions d JOIN sweeps s ON s.id = d.sweep_id \
         WHERE s.id = $1 OR s.name = $1 ORDER BY d.sweep_id, d.rung",
    prune: "UPDATE jobs SET status = 'done', halt = 'pruned', lease_expires_at = NULL, \
         attempts = attempts + 1, finished_at = strftime('%Y-%m-%d %H:%M:%f', 'now') \
         WHERE key = $1 AND status IN ('pending', 'interrupted') AND stop_at IS NOT NULL \
           AND stop_at <= $2",
    export_decisions: "SELECT sweep_id, rung, epoch, decision, decided_at \
         FROM rung_decisions ORDER BY sweep_id, rung",
    copy_decision: "INSERT INTO rung_decisions (sweep_id, rung, epoch, decision, decided_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sweep_id, rung) DO NOTHING",
};

/// PostgreSQL's texts.
pub(crate) const POSTGRES: HalvingSql = HalvingSql {
    lock_sweep: "SELECT id FROM sweeps WHERE id = $1 FOR UPDATE",
    insert_decision: "INSERT INTO rung_decisions (sweep_id, rung, epoch, decision, decided_at) \
         VALUES ($1, $2, $3, $4, now()) ON CONFLICT (sweep_id, rung) DO NOTHING",
    select_decisions: "SELECT d.sweep_id, d.rung, d.epoch, d.decision, \
         to_char(d.decided_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS decided_at \
         FROM rung_decisions d JOIN sweeps s ON s.id = d.sweep_id \
         WHERE s.id = $1 OR s.name = $1 ORDER BY d.sweep_id, d.rung",
    prune: "UPDATE jobs SET status = 'done', halt = 'pruned', lease_expires_at = NULL, \
         attempts = attempts + 1, finished_at = now() \
         WHERE key = $1 AND status IN ('pending', 'interrupted') AND stop_at IS NOT NULL \
           AND stop_at <= $2",
    export_decisions: "SELECT sweep_id, rung, epoch, decision, \
         to_char(decided_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS decided_at \
         FROM rung_decisions ORDER BY sweep_id, rung",
    copy_decision: "INSERT INTO rung_decisions (sweep_id, rung, epoch, decision, decided_at) \
         VALUES ($1, $2, $3, $4, ($5::timestamp AT TIME ZONE 'UTC')) \
         ON CONFLICT (sweep_id, rung) DO NOTHING",
};

/// A row of `rung_decisions`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct DecisionRecord {
    pub sweep_id: String,
    pub rung: i64,
    pub epoch: i64,
    pub decision: String,
    pub decided_at: String,
}

/// A job of a halving sweep with its validation accuracy at a rung's epoch (NULL: not reached).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct RungJobRecord {
    pub key: String,
    pub spec_json: String,
    pub params: i64,
    pub status: String,
    pub val_accuracy: Option<f64>,
}

/// A halving sweep that is not finished: id and plan JSON.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct HalvingSweepRecord {
    pub id: String,
    pub search_json: String,
}

/// [`HalvingSql::lock_sweep`] of `sweep_id`.
pub(crate) fn lock_sweep<'a>(d: &HalvingSql, sweep_id: &'a str) -> Stmt<'a> {
    Stmt::new(d.lock_sweep).text(sweep_id)
}

/// [`HalvingSql::insert_decision`].
pub(crate) fn insert_decision<'a>(
    d: &HalvingSql,
    sweep_id: &'a str,
    rung: i64,
    epoch: i64,
    decision: &'a str,
) -> Stmt<'a> {
    Stmt::new(d.insert_decision)
        .text(sweep_id)
        .int(rung)
        .int(epoch)
        .text(decision)
}

/// [`HalvingSql::select_decisions`] of `sweep` (id or name).
pub(crate) fn select_decisions<'a>(d: &HalvingSql, sweep: &'a str) -> Stmt<'a> {
    Stmt::new(d.select_decisions).text(sweep)
}

/// [`HalvingSql::prune`] of job `key` at `epoch`.
pub(crate) fn prune<'a>(d: &HalvingSql, key: &'a str, epoch: i64) -> Stmt<'a> {
    Stmt::new(d.prune).text(key).int(epoch)
}

/// Replaces the decision JSON of rung `rung` of sweep `sweep_id` (late judgements added).
pub(crate) fn update_decision<'a>(sweep_id: &'a str, rung: i64, decision: &'a str) -> Stmt<'a> {
    Stmt::new("UPDATE rung_decisions SET decision = $3 WHERE sweep_id = $1 AND rung = $2")
        .text(sweep_id)
        .int(rung)
        .text(decision)
}

/// Records sweep `sweep_id`'s halving plan (`search_json`) unless it has one.
pub(crate) fn set_search<'a>(sweep_id: &'a str, search_json: &'a str) -> Stmt<'a> {
    Stmt::new("UPDATE sweeps SET search_json = $2 WHERE id = $1 AND search_json IS NULL")
        .text(sweep_id)
        .text(search_json)
}

/// The halving plan JSON of the sweep with id or name `sweep`, if any.
pub(crate) fn select_search(sweep: &str) -> Stmt<'_> {
    Stmt::new(
        "SELECT search_json FROM sweeps \
         WHERE (id = $1 OR name = $1) AND search_json IS NOT NULL ORDER BY started_at, id",
    )
    .text(sweep)
}

/// A newly enqueued job of a halving sweep trains to `stop_at` (the first rung) and waits there.
pub(crate) fn set_first_rung(key: &str, stop_at: i64) -> Stmt<'_> {
    Stmt::new(
        "UPDATE jobs SET stop_at = $2 \
         WHERE key = $1 AND stop_at IS NULL AND status = 'pending' AND attempts = 0",
    )
    .text(key)
    .int(stop_at)
}

/// Puts `claim`'s job back after `epochs_done` epochs: waiting (halt 'waiting') if it reached its
/// `stop_at`, else plainly pending (its budget was raised meanwhile); its attempt is given back.
pub(crate) fn pause(claim: &Claim, epochs_done: i64) -> Stmt<'_> {
    Stmt::new(
        "UPDATE jobs SET status = 'pending', lease_expires_at = NULL, attempts = attempts - 1, \
             halt = CASE WHEN stop_at IS NOT NULL AND stop_at <= $4 THEN 'waiting' ELSE NULL END \
         WHERE key = $1 AND worker_id = $2 AND attempts = $3 AND status = 'running'",
    )
    .claim(claim)
    .int(epochs_done)
}

/// The unfinished halving sweeps (with id or name `sweep`; `None`: all), as
/// [`HalvingSweepRecord`]s; also a finished one with `confirm` whose confirm jobs are not yet
/// added (its last rung's jobs all done).
pub(crate) fn select_halving_sweeps(sweep: Option<&str>) -> Stmt<'_> {
    Stmt::new(
        "SELECT id, search_json FROM sweeps \
         WHERE search_json IS NOT NULL \
           AND (finished_at IS NULL OR (search_json LIKE '%\"confirm\":{%' AND NOT EXISTS ( \
               SELECT 1 FROM rung_decisions d \
               WHERE d.sweep_id = sweeps.id AND d.decision LIKE '%\"confirm_top\":%'))) \
           AND ($1 IS NULL OR id = $1 OR name = $1) \
         ORDER BY id",
    )
    .opt_text(sweep)
}

/// Every job of sweep `sweep_id` but the superseded ones (of an earlier version of their data:
/// they take no part in its rungs) with its validation accuracy at `epoch`, as [`RungJobRecord`]s
/// in the sweep's order.
pub(crate) fn select_rung_jobs(sweep_id: &str, epoch: i64) -> Stmt<'_> {
    Stmt::new(
        "SELECT j.key, j.spec_json, j.params, j.status, e.val_accuracy \
         FROM sweep_jobs sj JOIN jobs j ON j.key = sj.job_key \
         LEFT JOIN epoch_metrics e ON e.job_key = j.key AND e.epoch = $2 \
         WHERE sj.sweep_id = $1 AND j.superseded_by IS NULL ORDER BY sj.position",
    )
    .text(sweep_id)
    .int(epoch)
}

/// The highest position of a job in sweep `sweep_id` (-1: none).
pub(crate) fn max_position(sweep_id: &str) -> Stmt<'_> {
    Stmt::new("SELECT COALESCE(MAX(position), -1) FROM sweep_jobs WHERE sweep_id = $1")
        .text(sweep_id)
}

/// Job `key` goes on to `stop_at`: it trains to it (and stops waiting); a job pruned before
/// (by this or another sweep) is pending again and trains from its first epoch (its checkpoint
/// went with the prune; training is deterministic, so its epochs come out the same). A job
/// whose budget is already `stop_at` or more, or that was never under halving, is left alone.
pub(crate) fn promote(key: &str, stop_at: i64) -> Stmt<'_> {
    Stmt::new(
        "UPDATE jobs SET stop_at = $2, halt = NULL, \
             status = CASE WHEN halt = 'pruned' THEN 'pending' ELSE status END, \
             finished_at = CASE WHEN halt = 'pruned' THEN NULL ELSE finished_at END \
         WHERE key = $1 AND stop_at IS NOT NULL AND stop_at < $2",
    )
    .text(key)
    .int(stop_at)
}

/// Drops the checkpoint of job `key` once it is pruned.
pub(crate) fn delete_pruned_checkpoint(key: &str) -> Stmt<'_> {
    Stmt::new(
        "DELETE FROM checkpoints WHERE job_key = $1 \
         AND job_key IN (SELECT key FROM jobs WHERE halt = 'pruned')",
    )
    .text(key)
}

/// [`HalvingSql::export_decisions`].
pub(crate) fn export_decisions(d: &HalvingSql) -> Stmt<'static> {
    Stmt::new(d.export_decisions)
}

/// [`HalvingSql::copy_decision`] of decision `r`.
pub(crate) fn copy_decision<'a>(d: &HalvingSql, r: &'a DecisionRecord) -> Stmt<'a> {
    Stmt::new(d.copy_decision)
        .text(&r.sweep_id)
        .int(r.rung)
        .int(r.epoch)
        .text(&r.decision)
        .text(&r.decided_at)
}

/// A sweep's halving plan, for a merge.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct SearchRecord {
    pub id: String,
    pub search_json: String,
}

/// The halving plans of every sweep that has one, as [`SearchRecord`]s.
pub(crate) fn export_searches() -> Stmt<'static> {
    Stmt::new("SELECT id, search_json FROM sweeps WHERE search_json IS NOT NULL ORDER BY id")
}

/// A job's halving state, for a merge.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct HaltRecord {
    pub key: String,
    pub halt: Option<String>,
    pub stop_at: Option<i64>,
}

/// The halving state (`halt`, `stop_at`) of every job under halving, as [`HaltRecord`]s.
pub(crate) fn export_halts() -> Stmt<'static> {
    Stmt::new(
        "SELECT key, halt, stop_at FROM jobs \
         WHERE halt IS NOT NULL OR stop_at IS NOT NULL ORDER BY key",
    )
}

/// The `halt` of job `key` (NULL: none; no row: no such job).
pub(crate) fn job_halt(key: &str) -> Stmt<'_> {
    Stmt::new("SELECT halt FROM jobs WHERE key = $1").text(key)
}

/// Sets job `r.key`'s halving state to `r`'s (a merge copying the job's state).
pub(crate) fn set_halt(r: &HaltRecord) -> Stmt<'_> {
    Stmt::new("UPDATE jobs SET halt = $2, stop_at = $3 WHERE key = $1")
        .text(&r.key)
        .opt_text(r.halt.as_deref())
        .opt_int(r.stop_at)
}
