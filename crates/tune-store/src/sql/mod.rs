//! All SQL of the store: the queries both dialects share, the [`Sql`] table of queries that differ
//! (one per back end, in [`sqlite`] and [`postgres`]), and the row structs they read and write.
//!
//! Parameters are numbered `$N` in both dialects (sqlx's SQLite driver accepts `$N`), so the Rust
//! code that binds them is the same for both back ends. The dialects differ in clocks and time
//! types (SQLite stores UTC text `YYYY-MM-DD HH:MM:SS.SSS`, PostgreSQL `timestamptz`, and every
//! query that reads a time formats it as that text), in how a write transaction starts, and in how
//! a job is picked (`FOR UPDATE SKIP LOCKED` on PostgreSQL).

pub(crate) mod postgres;
pub(crate) mod sqlite;

/// The queries whose text differs between dialects. Each field documents its parameters.
pub(crate) struct Sql {
    /// Starts a write transaction (SQLite: `BEGIN IMMEDIATE`, taking the write lock up front).
    pub begin_write: &'static str,
    /// Inserts a sweep unless its id exists. $1 id, $2 name, $3 grid_text, $4 started_at (NULL:
    /// now), $5 finished_at, $6 host, $7 tune_version.
    pub insert_sweep: &'static str,
    /// Inserts a job unless its key exists; parameters as `columns::bind_job` binds a
    /// [`JobRecord`]: $1 key, $2 seq, $3 spec_json, $4 params, $5 flops_per_image, $6 status,
    /// $7 attempts, $8 worker_id, $9 lease_expires_at, $10 last_error, $11 created_at (NULL: now),
    /// $12 started_at, $13 finished_at, then the setting columns (`columns::with_settings`).
    pub insert_job: fn() -> &'static str,
    /// Fails running jobs whose lease expired on their last allowed attempt. $1 max_attempts.
    pub fail_exhausted: &'static str,
    /// Fails the running jobs of a killed local run (worker id prefix $1, NULL: all) that were on
    /// their last allowed attempt. $2 max_attempts.
    pub fail_killed: &'static str,
    /// Picks one claimable job and marks it running; returns key, spec_json, attempts.
    /// $1 max_attempts, $2 worker_id, $3 lease seconds, $4 sweep id or name (NULL: any).
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

/// The test accuracy and loss of finished job $1.
pub(crate) const SELECT_RESULT_FIGURES: &str =
    "SELECT test_accuracy, test_loss FROM results WHERE job_key = $1";

/// Records the data a claimed job trains on, unless epochs of it were trained on other data.
/// $1 key, $2 worker_id, $3 attempt, $4 data_sha256, $5 data_verified.
pub(crate) const SET_JOB_DATA: &str = "UPDATE jobs SET data_sha256 = $4, data_verified = $5 \
     WHERE key = $1 AND worker_id = $2 AND attempts = $3 AND status = 'running' \
       AND (data_sha256 IS NULL OR data_sha256 = $4 \
            OR NOT EXISTS (SELECT 1 FROM epoch_metrics e WHERE e.job_key = $1))";

/// The data identity recorded for job $1.
pub(crate) const JOB_DATA: &str = "SELECT data_sha256 FROM jobs WHERE key = $1";

/// Every job with a recorded data identity: key, data_sha256, data_verified.
pub(crate) const SELECT_JOB_DATA: &str =
    "SELECT key, data_sha256, data_verified FROM jobs WHERE data_sha256 IS NOT NULL";

/// Copies a data identity into job $1 (merging): $2 data_sha256, $3 data_verified.
pub(crate) const COPY_JOB_DATA: &str =
    "UPDATE jobs SET data_sha256 = $2, data_verified = $3 WHERE key = $1";

/// Highest queue position in use.
pub(crate) const MAX_SEQ: &str = "SELECT COALESCE(MAX(seq), 0) AS seq FROM jobs";

/// Adds job $2 to sweep $1 at position $3 unless it is a member already.
pub(crate) const INSERT_MEMBERSHIP: &str = "INSERT INTO sweep_jobs (sweep_id, job_key, position) \
     VALUES ($1, $2, $3) ON CONFLICT (sweep_id, job_key) DO NOTHING";

/// Clears finished_at of sweep $1 if some of its jobs can still run.
pub(crate) const REOPEN_SWEEP: &str = "UPDATE sweeps SET finished_at = NULL \
     WHERE id = $1 AND finished_at IS NOT NULL AND EXISTS ( \
         SELECT 1 FROM sweep_jobs sj JOIN jobs j ON j.key = sj.job_key \
         WHERE sj.sweep_id = $1 AND j.status NOT IN ('done', 'failed'))";

/// Inserts or replaces one epoch's metrics; parameters in [`EpochRecord`] field order.
pub(crate) const UPSERT_EPOCH: &str = "INSERT INTO epoch_metrics \
     (job_key, epoch, train_loss, train_accuracy, val_loss, val_accuracy, seconds) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (job_key, epoch) DO UPDATE SET \
         train_loss = excluded.train_loss, train_accuracy = excluded.train_accuracy, \
         val_loss = excluded.val_loss, val_accuracy = excluded.val_accuracy, \
         seconds = excluded.seconds";

/// Deletes the epochs of job $1 after epoch $2 (left over from an earlier, longer attempt).
pub(crate) const DELETE_EPOCHS_AFTER: &str =
    "DELETE FROM epoch_metrics WHERE job_key = $1 AND epoch > $2";

/// Deletes every epoch of job $1.
pub(crate) const DELETE_EPOCHS: &str = "DELETE FROM epoch_metrics WHERE job_key = $1";

/// Deletes the checkpoint of job $1.
pub(crate) const DELETE_CHECKPOINT: &str = "DELETE FROM checkpoints WHERE job_key = $1";

/// A finished epoch is progress: job $1's run of attempts that died without one starts over.
pub(crate) const RESET_FAULTS: &str = "UPDATE jobs SET faults = 0 WHERE key = $1 AND faults <> 0";

/// The checkpoints kept for done jobs (their weight files are still to be written), of sweep $1
/// (id or name; NULL: all), as [`KeptCheckpointRecord`]s in queue order.
pub(crate) const SELECT_KEPT_CHECKPOINTS: &str = "SELECT c.job_key, c.epoch, c.bytes \
     FROM checkpoints c JOIN jobs j ON j.key = c.job_key \
     WHERE j.status = 'done' AND ($1 IS NULL OR j.key IN ( \
         SELECT sj.job_key FROM sweep_jobs sj JOIN sweeps s ON s.id = sj.sweep_id \
         WHERE s.id = $1 OR s.name = $1)) \
     ORDER BY j.seq";

/// Deletes the checkpoint of job $1 if the job is done.
pub(crate) const DELETE_KEPT_CHECKPOINT: &str = "DELETE FROM checkpoints WHERE job_key = $1 \
     AND job_key IN (SELECT key FROM jobs WHERE status = 'done')";

/// Puts claimed job $1 back as interrupted, giving back its attempt (a clean stop is not a failed
/// try). $2 worker_id, $3 attempt.
pub(crate) const INTERRUPT_JOB: &str = "UPDATE jobs \
     SET status = 'interrupted', lease_expires_at = NULL, attempts = attempts - 1 \
     WHERE key = $1 AND worker_id = $2 AND attempts = $3 AND status = 'running'";

/// Marks the running jobs of a killed local run interrupted (the kill counts as a fault of the job,
/// see `jobs.faults`); $1 worker id prefix (NULL: all running jobs).
pub(crate) const INTERRUPT_RUNNING: &str = "UPDATE jobs \
     SET status = 'interrupted', lease_expires_at = NULL, faults = faults + 1, \
         last_error = 'the run was killed during attempt ' || attempts \
     WHERE status = 'running' \
       AND ($1 IS NULL OR substr(worker_id, 1, length($1)) = $1)";

/// Puts failed jobs back in the queue with a fresh attempt count; $1 sweep id or name (NULL: all).
pub(crate) const RETRY_FAILED: &str = "UPDATE jobs \
     SET status = 'pending', attempts = 0, faults = 0, lease_expires_at = NULL, \
         finished_at = NULL \
     WHERE status = 'failed' AND ($1 IS NULL OR key IN ( \
         SELECT sj.job_key FROM sweep_jobs sj JOIN sweeps s ON s.id = sj.sweep_id \
         WHERE s.id = $1 OR s.name = $1))";

/// Reopens the finished sweeps that hold a pending job.
pub(crate) const REOPEN_SWEEPS: &str = "UPDATE sweeps SET finished_at = NULL \
     WHERE finished_at IS NOT NULL AND EXISTS ( \
         SELECT 1 FROM sweep_jobs sj JOIN jobs j ON j.key = sj.job_key \
         WHERE sj.sweep_id = sweeps.id AND j.status NOT IN ('done', 'failed'))";

/// Number of sweeps with id or name $1.
pub(crate) const COUNT_SWEEPS_NAMED: &str =
    "SELECT COUNT(*) AS n FROM sweeps WHERE id = $1 OR name = $1";

/// The epochs of job $1, in order, as [`EpochRecord`]s.
pub(crate) const SELECT_HISTORY: &str = "SELECT job_key, epoch, train_loss, train_accuracy, \
     val_loss, val_accuracy, seconds FROM epoch_metrics WHERE job_key = $1 ORDER BY epoch";

/// The confusion matrix JSON of job $1.
pub(crate) const SELECT_CONFUSION: &str = "SELECT confusion_json FROM results WHERE job_key = $1";

/// Jobs per status, of sweep $1 (id or name; NULL: all jobs), as [`CountRecord`]s.
pub(crate) const SELECT_COUNTS: &str = "SELECT CAST(NULL AS TEXT) AS sweep_id, status, COUNT(*) AS n \
     FROM jobs WHERE $1 IS NULL OR key IN ( \
         SELECT sj.job_key FROM sweep_jobs sj JOIN sweeps s ON s.id = sj.sweep_id \
         WHERE s.id = $1 OR s.name = $1) \
     GROUP BY status";

/// Jobs per sweep and status, as [`CountRecord`]s.
pub(crate) const SELECT_SWEEP_COUNTS: &str = "SELECT sj.sweep_id, j.status, COUNT(*) AS n \
     FROM sweep_jobs sj JOIN jobs j ON j.key = sj.job_key \
     GROUP BY sj.sweep_id, j.status";

/// The checkpoint of job $1.
pub(crate) const LOAD_CHECKPOINT: &str = "SELECT epoch, bytes FROM checkpoints WHERE job_key = $1";

/// 1 if job $1 is done with the result of worker $2's attempt $3, else 0.
pub(crate) const DONE_BY: &str = "SELECT COUNT(*) AS n FROM results r \
     JOIN jobs j ON j.key = r.job_key \
     WHERE r.job_key = $1 AND r.worker_id = $2 AND r.attempt = $3 AND j.status = 'done'";

/// The status of job $1.
pub(crate) const JOB_STATUS: &str = "SELECT status FROM jobs WHERE key = $1";

/// Every sweep membership, as [`MembershipRecord`]s.
pub(crate) const EXPORT_MEMBERSHIPS: &str =
    "SELECT sweep_id, job_key, position FROM sweep_jobs ORDER BY sweep_id, position";

/// Every epoch, as [`EpochRecord`]s.
pub(crate) const EXPORT_EPOCHS: &str = "SELECT job_key, epoch, train_loss, train_accuracy, \
     val_loss, val_accuracy, seconds FROM epoch_metrics ORDER BY job_key, epoch";

/// Inserts or replaces the predictions of job $1 on split $2 (`val` or `test`): $3 predicted
/// classes, $4 true classes, one byte per image.
pub(crate) const UPSERT_PREDICTIONS: &str = "INSERT INTO predictions \
     (job_key, split, predicted, labels) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (job_key, split) DO UPDATE SET \
         predicted = excluded.predicted, labels = excluded.labels";

/// Deletes the predictions of job $1.
pub(crate) const DELETE_PREDICTIONS: &str = "DELETE FROM predictions WHERE job_key = $1";

/// The predictions of job $1, as [`PredictionRecord`]s.
pub(crate) const SELECT_PREDICTIONS: &str = "SELECT job_key, split, predicted, labels \
     FROM predictions WHERE job_key = $1 ORDER BY split";

/// Every job's predictions, as [`PredictionRecord`]s.
pub(crate) const EXPORT_PREDICTIONS: &str = "SELECT job_key, split, predicted, labels \
     FROM predictions ORDER BY job_key, split";

/// The validation accuracy of each job's last recorded epoch, as [`LastValRecord`]s.
pub(crate) const SELECT_LAST_VAL: &str = "SELECT e.job_key, e.val_accuracy \
     FROM epoch_metrics e \
     JOIN (SELECT job_key, MAX(epoch) AS epoch FROM epoch_metrics GROUP BY job_key) m \
       ON m.job_key = e.job_key AND m.epoch = e.epoch";

/// A `predictions` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct PredictionRecord {
    pub job_key: String,
    pub split: String,
    pub predicted: Vec<u8>,
    pub labels: Vec<u8>,
}

/// What [`SELECT_LAST_VAL`] returns.
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

/// What [`Sql::claim`] returns.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ClaimedRecord {
    pub key: String,
    pub spec_json: String,
    pub attempts: i64,
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

/// What [`SELECT_COUNTS`] and [`SELECT_SWEEP_COUNTS`] return.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct CountRecord {
    pub sweep_id: Option<String>,
    pub status: String,
    pub n: i64,
}

/// What [`SELECT_KEPT_CHECKPOINTS`] returns.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct KeptCheckpointRecord {
    pub job_key: String,
    pub epoch: i64,
    pub bytes: Vec<u8>,
}

/// What [`LOAD_CHECKPOINT`] returns.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct CheckpointRecord {
    pub epoch: i64,
    pub bytes: Vec<u8>,
}
