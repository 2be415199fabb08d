//! The SQLite dialect. Times are UTC text `YYYY-MM-DD HH:MM:SS.SSS` from SQLite's own clock
//! (`strftime(..., 'now')`), which sorts and compares as text. Write transactions start with
//! `BEGIN IMMEDIATE`, so they take the single write lock up front (waiting up to the busy timeout)
//! instead of failing when they upgrade from a read.

use std::sync::LazyLock;

use super::Sql;
use crate::columns::with_settings;

fn insert_job() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        with_settings(
            "INSERT INTO jobs (key, seq, spec_json, params, flops_per_image, status, attempts, \
             worker_id, lease_expires_at, last_error, created_at, started_at, finished_at\
             {settings}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             COALESCE($11, strftime('%Y-%m-%d %H:%M:%f', 'now')), $12, $13{setting_params}) \
             ON CONFLICT (key) DO NOTHING",
            14,
        )
    });
    &SQL
}

fn export_jobs() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        with_settings(
            "SELECT key, seq, spec_json, params, flops_per_image, status, attempts, worker_id, \
             lease_expires_at, last_error, created_at, started_at, finished_at{settings} \
             FROM jobs ORDER BY seq, key",
            0,
        )
    });
    &SQL
}

/// The SQLite queries.
pub(crate) const SQL: Sql = Sql {
    begin_write: "BEGIN IMMEDIATE",

    halving: super::halving::SQLITE,

    insert_sweep: "INSERT INTO sweeps \
         (id, name, grid_text, started_at, finished_at, host, tune_version) \
         VALUES ($1, $2, $3, COALESCE($4, strftime('%Y-%m-%d %H:%M:%f', 'now')), $5, $6, $7) \
         ON CONFLICT (id) DO NOTHING",

    insert_job,

    select_exhausted: "SELECT key, worker_id, attempts, faults, last_error FROM jobs \
         WHERE status = 'running' AND faults + 1 >= $1 \
           AND lease_expires_at < strftime('%Y-%m-%d %H:%M:%f', 'now')",

    select_killed: "SELECT key, worker_id, attempts, faults, last_error FROM jobs \
         WHERE status = 'running' AND faults + 1 >= $2 \
           AND ($1 IS NULL OR substr(worker_id, 1, length($1)) = $1)",

    give_up: "UPDATE jobs SET status = 'failed', faults = faults + 1, last_error = $2, \
         lease_expires_at = NULL, finished_at = strftime('%Y-%m-%d %H:%M:%f', 'now') \
         WHERE key = $1 AND status = 'running'",

    claim: "UPDATE jobs SET status = 'running', worker_id = $2, attempts = attempts + 1, \
         faults = CASE WHEN status = 'running' THEN faults + 1 ELSE faults END, \
         lease_expires_at = strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', $3)), \
         started_at = strftime('%Y-%m-%d %H:%M:%f', 'now'), finished_at = NULL, \
         last_error = CASE WHEN status = 'running' \
             THEN 'lease of worker ' || COALESCE(worker_id, '?') || ' expired on attempt ' \
                  || attempts \
             ELSE last_error END \
         WHERE key = ( \
             SELECT key FROM jobs \
             WHERE ((status IN ('pending', 'interrupted') AND halt IS NULL) \
                    OR (status = 'running' AND faults + 1 < $1 \
                        AND lease_expires_at < strftime('%Y-%m-%d %H:%M:%f', 'now'))) \
               AND ($4 IS NULL OR key IN ( \
                   SELECT sj.job_key FROM sweep_jobs sj JOIN sweeps s ON s.id = sj.sweep_id \
                   WHERE s.id = $4 OR s.name = $4)) \
               AND ($5 IS NULL OR data_sha256 IS NULL OR instr($5, data_sha256) = 0) \
             ORDER BY CASE status WHEN 'pending' THEN 1 ELSE 0 END, seq \
             LIMIT 1) \
         RETURNING key, spec_json, attempts, stop_at",

    extend_lease: "UPDATE jobs \
         SET lease_expires_at = strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', $4)) \
         WHERE key = $1 AND worker_id = $2 AND attempts = $3 AND status = 'running'",

    complete_job: "UPDATE jobs SET status = 'done', params = $4, lease_expires_at = NULL, \
         last_error = NULL, finished_at = strftime('%Y-%m-%d %H:%M:%f', 'now') \
         WHERE key = $1 AND worker_id = $2 AND attempts = $3 AND status = 'running'",

    upsert_result: "INSERT INTO results (job_key, test_loss, test_accuracy, runtime_s, \
         images_per_s, confusion_json, worker_id, attempt, finished_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
                 COALESCE($9, strftime('%Y-%m-%d %H:%M:%f', 'now'))) \
         ON CONFLICT (job_key) DO UPDATE SET \
             test_loss = excluded.test_loss, test_accuracy = excluded.test_accuracy, \
             runtime_s = excluded.runtime_s, images_per_s = excluded.images_per_s, \
             confusion_json = excluded.confusion_json, worker_id = excluded.worker_id, \
             attempt = excluded.attempt, finished_at = excluded.finished_at",

    fail_job: "UPDATE jobs SET status = 'failed', last_error = $4, lease_expires_at = NULL, \
         finished_at = strftime('%Y-%m-%d %H:%M:%f', 'now') \
         WHERE key = $1 AND worker_id = $2 AND attempts = $3 AND status = 'running'",

    retire_job: "UPDATE jobs SET superseded_by = $3, \
             last_error = CASE WHEN status = 'failed' THEN last_error ELSE $2 END, \
             finished_at = CASE WHEN status = 'failed' THEN finished_at ELSE strftime('%Y-%m-%d %H:%M:%f', 'now') END, \
             halt = CASE WHEN halt = 'waiting' THEN NULL ELSE halt END, \
             status = 'failed', lease_expires_at = NULL \
         WHERE key = $1 AND superseded_by IS NULL \
           AND status IN ('pending', 'interrupted', 'failed')",

    fail_queued_job: "UPDATE jobs SET status = 'failed', last_error = $2, \
             finished_at = strftime('%Y-%m-%d %H:%M:%f', 'now'), \
             halt = CASE WHEN halt = 'waiting' THEN NULL ELSE halt END, lease_expires_at = NULL \
         WHERE key = $1 AND superseded_by IS NULL AND status IN ('pending', 'interrupted') \
           AND (halt IS NULL OR halt = 'waiting')",

    finish_sweeps: "UPDATE sweeps SET finished_at = strftime('%Y-%m-%d %H:%M:%f', 'now') \
         WHERE finished_at IS NULL \
           AND ($1 IS NULL OR id IN (SELECT sweep_id FROM sweep_jobs WHERE job_key = $1)) \
           AND NOT EXISTS ( \
               SELECT 1 FROM sweep_jobs sj JOIN jobs j ON j.key = sj.job_key \
               WHERE sj.sweep_id = sweeps.id AND j.status NOT IN ('done', 'failed'))",

    upsert_checkpoint: "INSERT INTO checkpoints (job_key, epoch, bytes, saved_at) \
         VALUES ($1, $2, $3, strftime('%Y-%m-%d %H:%M:%f', 'now')) \
         ON CONFLICT (job_key) DO UPDATE SET \
             epoch = excluded.epoch, bytes = excluded.bytes, saved_at = excluded.saved_at",

    select_jobs: "SELECT j.key, j.spec_json, j.state AS status, j.attempts, j.worker_id, \
         j.lease_expires_at, j.last_error, j.created_at, j.started_at, j.finished_at, \
         j.epochs_recorded AS epochs_done \
         FROM jobs j \
         WHERE ($1 IS NULL OR j.key IN ( \
                   SELECT sj.job_key FROM sweep_jobs sj JOIN sweeps s ON s.id = sj.sweep_id \
                   WHERE s.id = $1 OR s.name = $1)) \
           AND ($2 IS NULL OR j.key = $2) \
         ORDER BY j.seq",

    select_results: "SELECT j.key, j.spec_json, j.params, j.flops_per_image, r.test_loss, \
         r.test_accuracy, r.runtime_s, r.images_per_s, r.finished_at \
         FROM jobs j JOIN results r ON r.job_key = j.key \
         WHERE j.status = 'done' \
           AND ($1 IS NULL OR j.key IN ( \
                   SELECT sj.job_key FROM sweep_jobs sj JOIN sweeps s ON s.id = sj.sweep_id \
                   WHERE s.id = $1 OR s.name = $1)) \
           AND ($2 IS NULL OR j.dataset = $2) \
           AND ($3 IS NULL OR j.model = $3) \
           AND ($4 IS NULL OR j.seed = $4) \
         ORDER BY j.seq",

    select_sweeps: "SELECT id, name, grid_text, started_at, finished_at, host, tune_version \
         FROM sweeps ORDER BY started_at, id",

    export_jobs,

    export_results: "SELECT job_key, test_loss, test_accuracy, runtime_s, images_per_s, \
         confusion_json, worker_id, attempt, finished_at FROM results",

    merge_job_state: "UPDATE jobs SET status = $2, attempts = $3, worker_id = $4, \
         lease_expires_at = NULL, last_error = $5, started_at = $6, finished_at = $7, \
         params = $8 WHERE key = $1",
    expired_leases: "SELECT COUNT(*) FROM jobs WHERE status = 'running' \
         AND lease_expires_at < strftime('%Y-%m-%d %H:%M:%f', 'now')",
    running_leases: "SELECT sj.sweep_id, j.key, j.worker_id, \
             CAST((julianday(j.lease_expires_at) - julianday('now')) * 86400.0 AS REAL) \
                 AS seconds_left \
         FROM jobs j JOIN sweep_jobs sj ON sj.job_key = j.key \
         WHERE j.status = 'running' AND ($1 IS NULL OR sj.sweep_id = $1)",
};

/// Leaves write-ahead logging for the rollback journal when no other connection has the file
/// open (SQLite keeps WAL otherwise); returns the journal mode now in force.
pub(crate) const LEAVE_WAL: &str = "PRAGMA journal_mode = DELETE";

/// Copies every committed page of the write-ahead log into the database file and empties the log
/// (`busy`, `log` and `checkpointed` frame counts come back): done by a writer on close even when
/// another process (a reader: `tune serve`) keeps the file in WAL mode, so that the database file
/// alone holds every result.
pub(crate) const CHECKPOINT: &str = "PRAGMA wal_checkpoint(TRUNCATE)";
