//! All SQL of the store: the queries both dialects share, the [`Sql`] table of queries that differ
//! (one per back end, in [`sqlite`] and [`postgres`]), and the row structs they read and write.
//!
//! Each statement the store runs is a function here that returns a [`Stmt`]: its SQL (inline for
//! the shared ones, from the dialect's [`Sql`] table for the others) with its parameters bound
//! beside it, in `$N` order. Parameters are numbered `$N` in both dialects (sqlx's SQLite driver
//! accepts `$N`), so one function binds a statement for both back ends. The dialects differ in clocks and time
//! types (SQLite stores UTC text `YYYY-MM-DD HH:MM:SS.SSS`, PostgreSQL `timestamptz`, and every
//! query that reads a time formats it as that text), in how a write transaction starts, and in how
//! a job is picked (`FOR UPDATE SKIP LOCKED` on PostgreSQL).

pub(crate) mod dashboard;
pub(crate) mod halving;
pub(crate) mod postgres;
pub(crate) mod sqlite;
mod stmt;

use std::time::Duration;

use crate::types::Claim;
pub(crate) use stmt::Stmt;

/// The queries whose text differs between dialects. Each field documents its parameters.
pub(crate) struct Sql {
    /// Starts a write transaction (SQLite: `BEGIN IMMEDIATE`, taking the write lock up front).
    pub begin_write: &'static str,
    /// The statements of successive halving that differ.
    pub halving: halving::HalvingSql,
    /// Inserts a sweep unless its id exists. $1 id, $2 name, $3 grid_text, $4 started_at (NULL:
    /// now), $5 finished_at, $6 host, $7 tune_version.
    pub insert_sweep: &'static str,
    /// Inserts a job unless its key exists; parameters as `columns::bind_job` binds a
    /// [`JobRecord`]: $1 key, $2 seq, $3 spec_json, $4 params, $5 flops_per_image, $6 status,
    /// $7 attempts, $8 worker_id, $9 lease_expires_at, $10 last_error, $11 created_at (NULL: now),
    /// $12 started_at, $13 finished_at, then the setting columns (`columns::with_settings`).
    pub insert_job: fn() -> &'static str,
    /// Reads (and on PostgreSQL locks) the running jobs whose lease expired on their last allowed
    /// attempt, as [`GiveUpRecord`]s. $1 max_attempts.
    pub select_exhausted: &'static str,
    /// Reads (and on PostgreSQL locks) the running jobs of a killed local run (worker id prefix
    /// $1, NULL: all) that were on their last allowed attempt, as [`GiveUpRecord`]s.
    /// $2 max_attempts.
    pub select_killed: &'static str,
    /// Marks running job $1 failed by the store itself (one more fault), with last_error $2.
    pub give_up: &'static str,
    /// Picks one claimable job (not waiting at a halving rung) and marks it running; returns key,
    /// spec_json, attempts, stop_at.
    /// $1 max_attempts, $2 worker_id, $3 lease seconds, $4 sweep id or name (NULL: any), $5
    /// content hashes (`data_sha256`, comma-separated) whose jobs not to claim (NULL: none).
    pub claim: &'static str,
    /// Extends a claim's lease. $1 key, $2 worker_id, $3 attempt, $4 lease seconds.
    pub extend_lease: &'static str,
    /// Marks a claimed job done. $1 key, $2 worker_id, $3 attempt, $4 params.
    pub complete_job: &'static str,
    /// Inserts or replaces a job's result; parameters in [`ResultRecord`] field order ($9
    /// finished_at, NULL: now).
    pub upsert_result: &'static str,
    /// Marks a claimed job failed. $1 key, $2 worker_id, $3 attempt, $4 error text.
    pub fail_job: &'static str,
    /// Sets job $1 aside as superseded by data of content hash $3 (a job of an earlier version
    /// of its data): a queued one (pending, interrupted, or waiting at a halving rung, which
    /// then waits no more) is marked failed with last_error $2; a failed one keeps its reason.
    /// Others (running, done, pruned), and jobs set aside already, are left as they are.
    pub retire_job: &'static str,
    /// Marks queued job $1 failed with last_error $2, unclaimed: a pending or interrupted job
    /// (one waiting at a halving rung waits no more) whose data cannot be read. Running, done,
    /// pruned and superseded jobs are left as they are.
    pub fail_queued_job: &'static str,
    /// Stamps finished_at on the unfinished sweeps whose jobs are all done or failed, among the
    /// sweeps of job $1 (NULL: among all sweeps).
    pub finish_sweeps: &'static str,
    /// Inserts or replaces a job's checkpoint. $1 key, $2 epoch, $3 bytes.
    pub upsert_checkpoint: &'static str,
    /// Reads [`StatusRecord`]s. $1 sweep id or name (NULL: any), $2 key (NULL: any).
    pub select_jobs: &'static str,
    /// Reads [`ResultRowRecord`]s of done jobs. $1 sweep, $2 dataset, $3 model, $4 seed (NULL:
    /// any).
    pub select_results: &'static str,
    /// Reads every sweep as a [`SweepRecord`].
    pub select_sweeps: &'static str,
    /// Reads every job as a [`JobRecord`], in queue order.
    pub export_jobs: fn() -> &'static str,
    /// Reads every result as a [`ResultRecord`].
    pub export_results: &'static str,
    /// Overwrites the queue state of job $1 with a done job's from another store: $2 status,
    /// $3 attempts, $4 worker_id, $5 last_error, $6 started_at, $7 finished_at, $8 params.
    pub merge_job_state: &'static str,
    /// Counts the running jobs whose lease expired by the database clock (their worker stopped).
    pub expired_leases: &'static str,
    /// Reads the running jobs of sweep $1 (NULL: of every sweep) as [`LeaseRecord`]s: sweep id,
    /// key, worker and the seconds until the lease expires by the database clock (negative: it
    /// expired that long ago).
    pub running_leases: &'static str,
}

// ----- statements whose text differs by dialect ----------------------------------------------

/// [`Sql::insert_sweep`] for sweep `s` (its `started_at` NULL: now).
pub(crate) fn insert_sweep<'a>(d: &Sql, s: &'a SweepRecord) -> Stmt<'a> {
    Stmt::new(d.insert_sweep)
        .text(&s.id)
        .text(&s.name)
        .text(&s.grid_text)
        .opt_text(s.started_at.as_deref())
        .opt_text(s.finished_at.as_deref())
        .text(&s.host)
        .text(&s.tune_version)
}

/// [`Sql::insert_job`] for job row `r`: `$1` key .. `$13` finished_at, then the setting columns
/// in [`tune_spec::Field::COLUMNS`] order (`columns::with_settings` writes their names).
pub(crate) fn insert_job<'a>(d: &Sql, r: &'a JobRecord) -> Stmt<'a> {
    let mut stmt = Stmt::new((d.insert_job)())
        .text(&r.key)
        .int(r.seq)
        .text(&r.spec_json)
        .int(r.params)
        .real(r.flops_per_image)
        .text(&r.status)
        .int(r.attempts)
        .opt_text(r.worker_id.as_deref())
        .opt_text(r.lease_expires_at.as_deref())
        .opt_text(r.last_error.as_deref())
        .opt_text(r.created_at.as_deref())
        .opt_text(r.started_at.as_deref())
        .opt_text(r.finished_at.as_deref());
    for cell in &r.settings {
        stmt = match cell {
            crate::columns::Cell::Int(v) => stmt.opt_int(*v),
            crate::columns::Cell::Float(x) => stmt.real(*x),
            crate::columns::Cell::Text(s) => stmt.text(s),
        };
    }
    stmt
}

/// [`Sql::select_exhausted`], allowing `max_attempts`.
pub(crate) fn select_exhausted(d: &Sql, max_attempts: i64) -> Stmt<'static> {
    Stmt::new(d.select_exhausted).int(max_attempts)
}

/// [`Sql::select_killed`] for the running jobs of worker ids starting with `worker_prefix`
/// (`None`: all), allowing `max_attempts`.
pub(crate) fn select_killed<'a>(
    d: &Sql,
    worker_prefix: Option<&'a str>,
    max_attempts: i64,
) -> Stmt<'a> {
    Stmt::new(d.select_killed)
        .opt_text(worker_prefix)
        .int(max_attempts)
}

/// [`Sql::give_up`]: marks running job `key` failed with `last_error`.
pub(crate) fn give_up<'a>(d: &Sql, key: &'a str, last_error: &'a str) -> Stmt<'a> {
    Stmt::new(d.give_up).text(key).text(last_error)
}

/// [`Sql::claim`]: picks a job of `sweep` (id or name; `None`: any) for `worker_id`, allowing
/// `max_attempts`, with a lease of `lease` from now.
pub(crate) fn claim<'a>(
    d: &Sql,
    max_attempts: i64,
    worker_id: &'a str,
    lease: Duration,
    sweep: Option<&'a str>,
    skip_data: Option<&'a str>,
) -> Stmt<'a> {
    Stmt::new(d.claim)
        .int(max_attempts)
        .text(worker_id)
        .lease(lease)
        .opt_text(sweep)
        .opt_text(skip_data)
}

/// [`Sql::extend_lease`]: extends `claim`'s lease by its lease duration from now.
pub(crate) fn extend_lease<'a>(d: &Sql, claim: &'a Claim) -> Stmt<'a> {
    Stmt::new(d.extend_lease).claim(claim).lease(claim.lease)
}

/// [`Sql::complete_job`]: marks `claim`'s job done with `params` parameters.
pub(crate) fn complete_job<'a>(d: &Sql, claim: &'a Claim, params: i64) -> Stmt<'a> {
    Stmt::new(d.complete_job).claim(claim).int(params)
}

/// [`Sql::upsert_result`] for result row `r`.
pub(crate) fn upsert_result<'a>(d: &Sql, r: &'a ResultRecord) -> Stmt<'a> {
    Stmt::new(d.upsert_result)
        .text(&r.job_key)
        .real(r.test_loss)
        .real(r.test_accuracy)
        .real(r.runtime_s)
        .real(r.images_per_s)
        .text(&r.confusion_json)
        .opt_text(r.worker_id.as_deref())
        .int(r.attempt)
        .opt_text(r.finished_at.as_deref())
}

/// [`Sql::fail_job`]: marks `claim`'s job failed with `error`.
pub(crate) fn fail_job<'a>(d: &Sql, claim: &'a Claim, error: &'a str) -> Stmt<'a> {
    Stmt::new(d.fail_job).claim(claim).text(error)
}

/// [`Sql::retire_job`]: sets job `key` aside, superseded by data `newer` (content hash), with
/// reason `error` if it was queued.
pub(crate) fn retire_job<'a>(d: &Sql, key: &'a str, error: &'a str, newer: &'a str) -> Stmt<'a> {
    Stmt::new(d.retire_job).text(key).text(error).text(newer)
}

/// [`Sql::fail_queued_job`]: marks queued job `key` failed with `error`, unclaimed.
pub(crate) fn fail_queued_job<'a>(d: &Sql, key: &'a str, error: &'a str) -> Stmt<'a> {
    Stmt::new(d.fail_queued_job).text(key).text(error)
}

/// Takes job `key` back from the superseded jobs (its data is the grid's again): a failed job.
pub(crate) fn restore_job(key: &str) -> Stmt<'_> {
    Stmt::new("UPDATE jobs SET superseded_by = NULL WHERE key = $1 AND superseded_by IS NOT NULL")
        .text(key)
}

/// [`Sql::finish_sweeps`] among the sweeps of job `key` (`None`: all sweeps).
pub(crate) fn finish_sweeps<'a>(d: &Sql, key: Option<&'a str>) -> Stmt<'a> {
    Stmt::new(d.finish_sweeps).opt_text(key)
}

/// [`Sql::upsert_checkpoint`]: job `key`'s weights `bytes` after `epoch`.
pub(crate) fn upsert_checkpoint<'a>(
    d: &Sql,
    key: &'a str,
    epoch: i64,
    bytes: &'a [u8],
) -> Stmt<'a> {
    Stmt::new(d.upsert_checkpoint)
        .text(key)
        .int(epoch)
        .bytes(bytes)
}

/// [`Sql::expired_leases`].
pub(crate) fn expired_leases(d: &Sql) -> Stmt<'static> {
    Stmt::new(d.expired_leases)
}

/// [`Sql::running_leases`] of sweep `sweep_id` (an id; `None`: every sweep).
pub(crate) fn running_leases<'a>(d: &Sql, sweep_id: Option<&'a str>) -> Stmt<'a> {
    Stmt::new(d.running_leases).opt_text(sweep_id)
}

/// What [`Sql::running_leases`] returns.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct LeaseRecord {
    pub sweep_id: String,
    pub key: String,
    pub worker_id: Option<String>,
    pub seconds_left: Option<f64>,
}

/// [`Sql::select_jobs`] of `sweep` (id or name) and with `key` (`None`: any).
pub(crate) fn select_jobs<'a>(d: &Sql, sweep: Option<&'a str>, key: Option<&'a str>) -> Stmt<'a> {
    Stmt::new(d.select_jobs).opt_text(sweep).opt_text(key)
}

/// [`Sql::select_results`] of `sweep`, `dataset`, `model` and `seed` (`None`: any).
pub(crate) fn select_results<'a>(
    d: &Sql,
    sweep: Option<&'a str>,
    dataset: Option<&'a str>,
    model: Option<&'a str>,
    seed: Option<i64>,
) -> Stmt<'a> {
    Stmt::new(d.select_results)
        .opt_text(sweep)
        .opt_text(dataset)
        .opt_text(model)
        .opt_int(seed)
}

/// [`Sql::select_sweeps`].
pub(crate) fn select_sweeps(d: &Sql) -> Stmt<'static> {
    Stmt::new(d.select_sweeps)
}

/// [`Sql::export_jobs`].
pub(crate) fn export_jobs(d: &Sql) -> Stmt<'static> {
    Stmt::new((d.export_jobs)())
}

/// [`Sql::export_results`].
pub(crate) fn export_results(d: &Sql) -> Stmt<'static> {
    Stmt::new(d.export_results)
}

/// [`Sql::merge_job_state`]: overwrites the queue state of job `r.key` with `r`'s.
pub(crate) fn merge_job_state<'a>(d: &Sql, r: &'a JobRecord) -> Stmt<'a> {
    Stmt::new(d.merge_job_state)
        .text(&r.key)
        .text(&r.status)
        .int(r.attempts)
        .opt_text(r.worker_id.as_deref())
        .opt_text(r.last_error.as_deref())
        .opt_text(r.started_at.as_deref())
        .opt_text(r.finished_at.as_deref())
        .int(r.params)
}

/// The schema versions applied to a database (tune's migrations, as sqlx records them).
pub(crate) const APPLIED_MIGRATIONS: &str =
    "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";

/// SQLite: the tables and views of the database (not SQLite's own), by name.
pub(crate) const SQLITE_TABLES: &str = "SELECT name FROM sqlite_master \
     WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name";

/// PostgreSQL: the tables and views of the connection's current schema, by name.
pub(crate) const PG_TABLES: &str = "SELECT table_name::text FROM information_schema.tables \
     WHERE table_schema = current_schema() ORDER BY table_name";

// ----- statements both dialects share --------------------------------------------------------

/// The test accuracy and loss of finished job `key`.
pub(crate) fn select_result_figures(key: &str) -> Stmt<'_> {
    Stmt::new("SELECT test_accuracy, test_loss FROM results WHERE job_key = $1").text(key)
}

/// Records the data `claim`'s job trains on (`sha256`, `verified` when canonical), unless epochs
/// of it were trained on other data.
pub(crate) fn set_job_data<'a>(claim: &'a Claim, sha256: &'a str, verified: bool) -> Stmt<'a> {
    Stmt::new(
        "UPDATE jobs SET data_sha256 = $4, data_verified = $5 \
         WHERE key = $1 AND worker_id = $2 AND attempts = $3 AND status = 'running' \
           AND (data_sha256 IS NULL OR data_sha256 = $4 \
                OR NOT EXISTS (SELECT 1 FROM epoch_metrics e WHERE e.job_key = $1))",
    )
    .claim(claim)
    .text(sha256)
    .opt_bool(Some(verified))
}

/// The data identity recorded for job `key`.
pub(crate) fn job_data(key: &str) -> Stmt<'_> {
    Stmt::new("SELECT data_sha256 FROM jobs WHERE key = $1").text(key)
}

/// Every job with a recorded data identity: key, data_sha256, data_verified.
pub(crate) fn select_job_data() -> Stmt<'static> {
    Stmt::new(
        "SELECT key, data_sha256, data_verified, superseded_by FROM jobs \
         WHERE data_sha256 IS NOT NULL",
    )
}

/// Records the content hash `sha256` of the user's data set job `key` is queued for (its key
/// holds it, so it is verified), unless the job records data already.
pub(crate) fn set_queued_data<'a>(key: &'a str, sha256: &'a str) -> Stmt<'a> {
    Stmt::new(
        "UPDATE jobs SET data_sha256 = $2, data_verified = $3 \
         WHERE key = $1 AND data_sha256 IS NULL",
    )
    .text(key)
    .text(sha256)
    .opt_bool(Some(true))
}

/// Copies a data identity into job `key` (merging): `sha256`, `verified`.
pub(crate) fn copy_job_data<'a>(
    key: &'a str,
    sha256: &'a str,
    verified: Option<bool>,
    superseded_by: Option<&'a str>,
) -> Stmt<'a> {
    Stmt::new(
        "UPDATE jobs SET data_sha256 = $2, data_verified = $3, superseded_by = $4 WHERE key = $1",
    )
    .text(key)
    .text(sha256)
    .opt_bool(verified)
    .opt_text(superseded_by)
}

/// Highest queue position in use.
pub(crate) fn max_seq() -> Stmt<'static> {
    Stmt::new("SELECT COALESCE(MAX(seq), 0) AS seq FROM jobs")
}

/// Adds job `job_key` to sweep `sweep_id` at `position` unless it is a member already.
pub(crate) fn insert_membership<'a>(
    sweep_id: &'a str,
    job_key: &'a str,
    position: i64,
) -> Stmt<'a> {
    Stmt::new(
        "INSERT INTO sweep_jobs (sweep_id, job_key, position) \
         VALUES ($1, $2, $3) ON CONFLICT (sweep_id, job_key) DO NOTHING",
    )
    .text(sweep_id)
    .text(job_key)
    .int(position)
}

/// Clears finished_at of sweep `sweep_id` if some of its jobs can still run.
pub(crate) fn reopen_sweep(sweep_id: &str) -> Stmt<'_> {
    Stmt::new(
        "UPDATE sweeps SET finished_at = NULL \
         WHERE id = $1 AND finished_at IS NOT NULL AND EXISTS ( \
             SELECT 1 FROM sweep_jobs sj JOIN jobs j ON j.key = sj.job_key \
             WHERE sj.sweep_id = $1 AND j.status NOT IN ('done', 'failed'))",
    )
    .text(sweep_id)
}

/// Inserts or replaces one epoch's metrics, `e`.
pub(crate) fn upsert_epoch(e: &EpochRecord) -> Stmt<'_> {
    Stmt::new(
        "INSERT INTO epoch_metrics \
         (job_key, epoch, train_loss, train_accuracy, val_loss, val_accuracy, seconds) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (job_key, epoch) DO UPDATE SET \
             train_loss = excluded.train_loss, train_accuracy = excluded.train_accuracy, \
             val_loss = excluded.val_loss, val_accuracy = excluded.val_accuracy, \
             seconds = excluded.seconds",
    )
    .text(&e.job_key)
    .int(e.epoch)
    .real(e.train_loss)
    .real(e.train_accuracy)
    .real(e.val_loss)
    .real(e.val_accuracy)
    .real(e.seconds)
}

/// Deletes the epochs of job `key` after epoch `last` (left over from an earlier, longer attempt).
pub(crate) fn delete_epochs_after(key: &str, last: i64) -> Stmt<'_> {
    Stmt::new("DELETE FROM epoch_metrics WHERE job_key = $1 AND epoch > $2")
        .text(key)
        .int(last)
}

/// Deletes every epoch of job `key`.
pub(crate) fn delete_epochs(key: &str) -> Stmt<'_> {
    Stmt::new("DELETE FROM epoch_metrics WHERE job_key = $1").text(key)
}

/// Deletes the checkpoint of job `key`.
pub(crate) fn delete_checkpoint(key: &str) -> Stmt<'_> {
    Stmt::new("DELETE FROM checkpoints WHERE job_key = $1").text(key)
}

/// A finished epoch is progress: job `key`'s run of attempts that died without one starts over.
pub(crate) fn reset_faults(key: &str) -> Stmt<'_> {
    Stmt::new("UPDATE jobs SET faults = 0 WHERE key = $1 AND faults <> 0").text(key)
}

/// The checkpoints kept for done jobs (their weight files are still to be written), of `sweep`
/// (id or name; `None`: all), as [`KeptCheckpointRecord`]s in queue order.
pub(crate) fn select_kept_checkpoints(sweep: Option<&str>) -> Stmt<'_> {
    Stmt::new(
        "SELECT c.job_key, c.epoch, c.bytes \
         FROM checkpoints c JOIN jobs j ON j.key = c.job_key \
         WHERE j.status = 'done' AND ($1 IS NULL OR j.key IN ( \
             SELECT sj.job_key FROM sweep_jobs sj JOIN sweeps s ON s.id = sj.sweep_id \
             WHERE s.id = $1 OR s.name = $1)) \
         ORDER BY j.seq",
    )
    .opt_text(sweep)
}

/// Deletes the checkpoint of job `key` if the job is done.
pub(crate) fn delete_kept_checkpoint(key: &str) -> Stmt<'_> {
    Stmt::new(
        "DELETE FROM checkpoints WHERE job_key = $1 \
         AND job_key IN (SELECT key FROM jobs WHERE status = 'done')",
    )
    .text(key)
}

/// Puts `claim`'s job back as interrupted, giving back its attempt (a clean stop is not a
/// failed try).
pub(crate) fn interrupt_job(claim: &Claim) -> Stmt<'_> {
    Stmt::new(
        "UPDATE jobs \
         SET status = 'interrupted', lease_expires_at = NULL, attempts = attempts - 1 \
         WHERE key = $1 AND worker_id = $2 AND attempts = $3 AND status = 'running'",
    )
    .claim(claim)
}

/// Marks the running jobs of a killed local run interrupted (the kill counts as a fault of the
/// job, see `jobs.faults`): those of worker ids starting with `worker_prefix` (`None`: all).
pub(crate) fn interrupt_running(worker_prefix: Option<&str>) -> Stmt<'_> {
    Stmt::new(
        "UPDATE jobs \
         SET status = 'interrupted', lease_expires_at = NULL, faults = faults + 1, \
             last_error = 'the run was killed during attempt ' || attempts \
         WHERE status = 'running' \
           AND ($1 IS NULL OR substr(worker_id, 1, length($1)) = $1)",
    )
    .opt_text(worker_prefix)
}

/// Puts failed jobs back in the queue with a fresh attempt count, of `sweep` (id or name;
/// `None`: all).
pub(crate) fn retry_failed(sweep: Option<&str>) -> Stmt<'_> {
    Stmt::new(
        "UPDATE jobs \
         SET status = 'pending', attempts = 0, faults = 0, lease_expires_at = NULL, \
             finished_at = NULL \
         WHERE status = 'failed' AND superseded_by IS NULL AND ($1 IS NULL OR key IN ( \
             SELECT sj.job_key FROM sweep_jobs sj JOIN sweeps s ON s.id = sj.sweep_id \
             WHERE s.id = $1 OR s.name = $1))",
    )
    .opt_text(sweep)
}

/// The keys of the unfinished (pending, interrupted or failed) jobs of data set `dataset` whose
/// recorded content hash is `sha256`, not set aside yet.
pub(crate) fn unfinished_of_data<'a>(dataset: &'a str, sha256: &'a str) -> Stmt<'a> {
    Stmt::new(
        "SELECT key FROM jobs \
         WHERE dataset = $1 AND data_sha256 = $2 AND superseded_by IS NULL \
           AND status IN ('pending', 'interrupted', 'failed') \
         ORDER BY seq",
    )
    .text(dataset)
    .text(sha256)
}

/// Puts failed job `key` back in the queue with a fresh attempt count.
pub(crate) fn retry_failed_job(key: &str) -> Stmt<'_> {
    Stmt::new(
        "UPDATE jobs \
         SET status = 'pending', attempts = 0, faults = 0, lease_expires_at = NULL, \
             finished_at = NULL \
         WHERE status = 'failed' AND superseded_by IS NULL AND key = $1",
    )
    .text(key)
}

/// Reopens the finished sweeps that hold a pending job.
pub(crate) fn reopen_sweeps() -> Stmt<'static> {
    Stmt::new(
        "UPDATE sweeps SET finished_at = NULL \
         WHERE finished_at IS NOT NULL AND EXISTS ( \
             SELECT 1 FROM sweep_jobs sj JOIN jobs j ON j.key = sj.job_key \
             WHERE sj.sweep_id = sweeps.id AND j.status NOT IN ('done', 'failed'))",
    )
}

/// Number of sweeps with id or name `sweep`.
pub(crate) fn count_sweeps_named(sweep: &str) -> Stmt<'_> {
    Stmt::new("SELECT COUNT(*) AS n FROM sweeps WHERE id = $1 OR name = $1").text(sweep)
}

/// The epochs of job `key`, in order, as [`EpochRecord`]s.
pub(crate) fn select_history(key: &str) -> Stmt<'_> {
    Stmt::new(
        "SELECT job_key, epoch, train_loss, train_accuracy, \
         val_loss, val_accuracy, seconds FROM epoch_metrics WHERE job_key = $1 ORDER BY epoch",
    )
    .text(key)
}

/// The confusion matrix JSON of job `key`.
pub(crate) fn select_confusion(key: &str) -> Stmt<'_> {
    Stmt::new("SELECT confusion_json FROM results WHERE job_key = $1").text(key)
}

/// Jobs per status, of `sweep` (id or name; `None`: all jobs), as [`CountRecord`]s.
pub(crate) fn select_counts(sweep: Option<&str>) -> Stmt<'_> {
    Stmt::new(
        "SELECT CAST(NULL AS TEXT) AS sweep_id, state AS status, COUNT(*) AS n \
         FROM jobs WHERE $1 IS NULL OR key IN ( \
             SELECT sj.job_key FROM sweep_jobs sj JOIN sweeps s ON s.id = sj.sweep_id \
             WHERE s.id = $1 OR s.name = $1) \
         GROUP BY state",
    )
    .opt_text(sweep)
}

/// Jobs per sweep and status, as [`CountRecord`]s.
pub(crate) fn select_sweep_counts() -> Stmt<'static> {
    Stmt::new(
        "SELECT sj.sweep_id, j.state AS status, COUNT(*) AS n \
         FROM sweep_jobs sj JOIN jobs j ON j.key = sj.job_key \
         GROUP BY sj.sweep_id, j.state",
    )
}

/// The checkpoint of job `key`, as a [`CheckpointRecord`].
pub(crate) fn load_checkpoint(key: &str) -> Stmt<'_> {
    Stmt::new("SELECT epoch, bytes FROM checkpoints WHERE job_key = $1").text(key)
}

/// 1 if `claim`'s job is done with the result of its worker and attempt, else 0.
pub(crate) fn done_by(claim: &Claim) -> Stmt<'_> {
    Stmt::new(
        "SELECT COUNT(*) AS n FROM results r \
         JOIN jobs j ON j.key = r.job_key \
         WHERE r.job_key = $1 AND r.worker_id = $2 AND r.attempt = $3 AND j.status = 'done'",
    )
    .claim(claim)
}

/// The status of job `key`.
pub(crate) fn job_status(key: &str) -> Stmt<'_> {
    Stmt::new("SELECT status FROM jobs WHERE key = $1").text(key)
}

/// Every sweep membership, as [`MembershipRecord`]s.
pub(crate) fn export_memberships() -> Stmt<'static> {
    Stmt::new("SELECT sweep_id, job_key, position FROM sweep_jobs ORDER BY sweep_id, position")
}

/// Every epoch, as [`EpochRecord`]s.
pub(crate) fn export_epochs() -> Stmt<'static> {
    Stmt::new(
        "SELECT job_key, epoch, train_loss, train_accuracy, \
         val_loss, val_accuracy, seconds FROM epoch_metrics ORDER BY job_key, epoch",
    )
}

/// Inserts or replaces the predictions `p` of a job on a split (`val` or `test`): predicted and
/// true classes, one byte per image.
pub(crate) fn upsert_predictions(p: &PredictionRecord) -> Stmt<'_> {
    Stmt::new(
        "INSERT INTO predictions \
         (job_key, split, predicted, labels) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (job_key, split) DO UPDATE SET \
             predicted = excluded.predicted, labels = excluded.labels",
    )
    .text(&p.job_key)
    .text(&p.split)
    .bytes(&p.predicted)
    .bytes(&p.labels)
}

/// Deletes the predictions of job `key`.
pub(crate) fn delete_predictions(key: &str) -> Stmt<'_> {
    Stmt::new("DELETE FROM predictions WHERE job_key = $1").text(key)
}

/// The predictions of job `key`, as [`PredictionRecord`]s.
pub(crate) fn select_predictions(key: &str) -> Stmt<'_> {
    Stmt::new(
        "SELECT job_key, split, predicted, labels \
         FROM predictions WHERE job_key = $1 ORDER BY split",
    )
    .text(key)
}

/// Every job's predictions, as [`PredictionRecord`]s.
pub(crate) fn export_predictions() -> Stmt<'static> {
    Stmt::new(
        "SELECT job_key, split, predicted, labels \
         FROM predictions ORDER BY job_key, split",
    )
}

/// The validation accuracy of each job's last recorded epoch, as [`LastValRecord`]s.
pub(crate) fn select_last_val() -> Stmt<'static> {
    Stmt::new(
        "SELECT e.job_key, e.val_accuracy \
         FROM epoch_metrics e \
         JOIN (SELECT job_key, MAX(epoch) AS epoch FROM epoch_metrics GROUP BY job_key) m \
           ON m.job_key = e.job_key AND m.epoch = e.epoch",
    )
}

/// A `predictions` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct PredictionRecord {
    pub job_key: String,
    pub split: String,
    pub predicted: Vec<u8>,
    pub labels: Vec<u8>,
}

/// What [`select_last_val`] returns.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct LastValRecord {
    pub job_key: String,
    pub val_accuracy: Option<f64>,
}

/// A full `jobs` row, as written by enqueue and merge and read by export (`sqlx::FromRow` and
/// the binding are in `columns`, which knows the setting columns).
#[derive(Debug, Clone)]
pub(crate) struct JobRecord {
    pub key: String,
    pub seq: i64,
    /// The setting columns, in [`tune_spec::Field::COLUMNS`] order.
    pub settings: Vec<crate::columns::Cell>,
    pub spec_json: String,
    pub params: i64,
    pub flops_per_image: f64,
    pub status: String,
    pub attempts: i64,
    pub worker_id: Option<String>,
    pub lease_expires_at: Option<String>,
    pub last_error: Option<String>,
    pub created_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

/// A `sweeps` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct SweepRecord {
    pub id: String,
    pub name: String,
    pub grid_text: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub host: String,
    pub tune_version: String,
}

/// A `sweep_jobs` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct MembershipRecord {
    pub sweep_id: String,
    pub job_key: String,
    pub position: i64,
}

/// An `epoch_metrics` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct EpochRecord {
    pub job_key: String,
    pub epoch: i64,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    pub seconds: f64,
}

/// A `results` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ResultRecord {
    pub job_key: String,
    pub test_loss: f64,
    pub test_accuracy: f64,
    pub runtime_s: f64,
    pub images_per_s: f64,
    pub confusion_json: String,
    pub worker_id: Option<String>,
    pub attempt: i64,
    pub finished_at: Option<String>,
}

/// What [`Sql::select_exhausted`] and [`Sql::select_killed`] return: a running job the store
/// gives up on.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct GiveUpRecord {
    pub key: String,
    pub worker_id: Option<String>,
    pub attempts: i64,
    pub faults: i64,
    pub last_error: Option<String>,
}

/// What [`Sql::claim`] returns.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ClaimedRecord {
    pub key: String,
    pub spec_json: String,
    pub attempts: i64,
    pub stop_at: Option<i64>,
}

/// What [`Sql::select_jobs`] returns.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct StatusRecord {
    pub key: String,
    pub spec_json: String,
    pub status: String,
    pub attempts: i64,
    pub worker_id: Option<String>,
    pub lease_expires_at: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub epochs_done: i64,
}

/// What [`Sql::select_results`] returns.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ResultRowRecord {
    pub key: String,
    pub spec_json: String,
    pub params: i64,
    pub flops_per_image: f64,
    pub test_loss: f64,
    pub test_accuracy: f64,
    pub runtime_s: f64,
    pub images_per_s: f64,
    pub finished_at: String,
}

/// What [`select_counts`] and [`select_sweep_counts`] return.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct CountRecord {
    pub sweep_id: Option<String>,
    pub status: String,
    pub n: i64,
}

/// What [`select_kept_checkpoints`] returns.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct KeptCheckpointRecord {
    pub job_key: String,
    pub epoch: i64,
    pub bytes: Vec<u8>,
}

/// What [`load_checkpoint`] returns.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct CheckpointRecord {
    pub epoch: i64,
    pub bytes: Vec<u8>,
}
