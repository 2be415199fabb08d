//! The statements of the dashboard's reads (`tune serve`), each beside its binding, and the rows
//! they return. All of them only read, and all run on both dialects (casts keep the types of
//! sums the same in SQLite and PostgreSQL).

use super::Stmt;

/// The statement of [`sweep_progress`], [`sweep_progress_of`] and [`sweep_progress_jobs`]: `$head`
/// (more columns, each followed by a comma), its columns and joins, then `$tail` (a `WHERE` and
/// the `GROUP BY`). A job's status is its `jobs.state`: `superseded`, its halving state
/// (`waiting`, `pruned`), else its queue status.
macro_rules! progress {
    ($head:literal, $tail:literal) => {
        concat!(
            "SELECT ",
            $head,
            "sj.sweep_id, j.state AS status, COUNT(*) AS n, \
         CAST(SUM(j.epochs) AS BIGINT) AS epochs_planned, \
         CAST(SUM(CASE WHEN r.job_key IS NOT NULL THEN j.epochs ELSE j.epochs_recorded END) \
             AS BIGINT) AS epochs_done, \
         CAST(COALESCE(SUM(CASE WHEN r.job_key IS NOT NULL THEN r.runtime_s \
             ELSE j.epoch_seconds END), 0) AS DOUBLE PRECISION) AS epoch_seconds, \
         CAST(SUM(r.images_per_s) AS DOUBLE PRECISION) AS images_per_s_sum, \
         COUNT(r.job_key) AS results \
     FROM sweep_jobs sj JOIN jobs j ON j.key = sj.job_key \
     LEFT JOIN results r ON r.job_key = j.key AND j.status = 'done' ",
            $tail
        )
    };
}

/// Jobs per sweep and status with their planned and recorded epochs, the seconds those epochs
/// took and the summed training throughput of the finished ones, as [`SweepStatusRecord`]s, of
/// every sweep. A done job counts its planned epochs and its run time (its history is complete);
/// the others count the epochs their row sums up (`jobs.epochs_recorded`, `jobs.epoch_seconds`,
/// kept by triggers on `epoch_metrics`): no epoch is looked up.
pub(crate) fn sweep_progress() -> Stmt<'static> {
    Stmt::new(progress!("", "GROUP BY sj.sweep_id, j.state"))
}

/// [`sweep_progress`] of sweep `sweep_id` alone, through the primary key of `sweep_jobs` (a
/// sweep's page reads only its own jobs).
pub(crate) fn sweep_progress_of(sweep_id: &str) -> Stmt<'_> {
    Stmt::new(progress!(
        "",
        "WHERE sj.sweep_id = $1 GROUP BY sj.sweep_id, j.state"
    ))
    .text(sweep_id)
}

/// [`sweep_progress_of`] job by job, as [`JobProgressRecord`]s (each group one job, `n` = 1): a
/// halving sweep's page counts the jobs its decisions pruned as pruned whatever their own state
/// (see `Store::pruned_in_sweep`).
pub(crate) fn sweep_progress_jobs(sweep_id: &str) -> Stmt<'_> {
    Stmt::new(progress!(
        "j.key, ",
        "WHERE sj.sweep_id = $1 GROUP BY sj.sweep_id, j.key, j.state"
    ))
    .text(sweep_id)
}

/// Every job of sweep `sweep_id` (an id, not a name) with its result and last recorded epoch,
/// in grid order, as [`DashJobRecord`]s: one pass over the sweep's jobs (their epochs are summed
/// up in their own row: `jobs.epochs_recorded` and `jobs.last_val_accuracy`, kept by triggers on
/// `epoch_metrics`).
pub(crate) fn sweep_jobs(sweep_id: &str) -> Stmt<'_> {
    Stmt::new(
        "SELECT j.key, j.spec_json, j.state AS status, j.attempts, j.last_error, j.params, \
             r.test_loss, r.test_accuracy, r.runtime_s, r.images_per_s, \
             j.last_val_accuracy AS val_accuracy, j.epochs_recorded AS epochs_done \
         FROM sweep_jobs sj JOIN jobs j ON j.key = sj.job_key \
         LEFT JOIN results r ON r.job_key = j.key \
         WHERE sj.sweep_id = $1 \
         ORDER BY sj.position, j.key",
    )
    .text(sweep_id)
}

/// Job `key` with its result and last recorded epoch, as a [`DashJobRecord`].
pub(crate) fn job(key: &str) -> Stmt<'_> {
    Stmt::new(
        "SELECT j.key, j.spec_json, j.state AS status, j.attempts, j.last_error, j.params, \
             r.test_loss, r.test_accuracy, r.runtime_s, r.images_per_s, \
             j.last_val_accuracy AS val_accuracy, j.epochs_recorded AS epochs_done \
         FROM jobs j LEFT JOIN results r ON r.job_key = j.key \
         WHERE j.key = $1",
    )
    .text(key)
}

/// Up to `limit` keys of jobs that start with `prefix`, in key order (a key is matched by its
/// first characters, compared as text: `%` and `_` are characters like others).
pub(crate) fn job_keys_starting<'a>(prefix: &'a str, limit: i64) -> Stmt<'a> {
    Stmt::new("SELECT key FROM jobs WHERE substr(key, 1, length($1)) = $1 ORDER BY key LIMIT $2")
        .text(prefix)
        .int(limit)
}

/// The ids of the sweeps job `key` belongs to.
pub(crate) fn sweeps_of_job(key: &str) -> Stmt<'_> {
    Stmt::new("SELECT sweep_id FROM sweep_jobs WHERE job_key = $1 ORDER BY sweep_id").text(key)
}

/// The id of sweep `id`, if there is one (its primary key).
pub(crate) fn sweep_by_id(id: &str) -> Stmt<'_> {
    Stmt::new("SELECT id FROM sweeps WHERE id = $1").text(id)
}

/// The grid file text of sweep `id` (its primary key).
pub(crate) fn sweep_grid_text(id: &str) -> Stmt<'_> {
    Stmt::new("SELECT grid_text FROM sweeps WHERE id = $1").text(id)
}

/// The ids of the sweeps named `name`, oldest first.
pub(crate) fn sweeps_named(name: &str) -> Stmt<'_> {
    Stmt::new("SELECT id FROM sweeps WHERE name = $1 ORDER BY started_at, id").text(name)
}

/// The validation-split labels of one job of sweep `sweep_id` that has validation predictions
/// (any one): the reference [`sweep_rank_predictions`] compares every job's labels with.
pub(crate) fn sweep_reference_labels(sweep_id: &str) -> Stmt<'_> {
    Stmt::new(
        "SELECT p.labels FROM sweep_jobs sj \
         JOIN predictions p ON p.job_key = sj.job_key AND p.split = 'val' \
         WHERE sj.sweep_id = $1 LIMIT 1",
    )
    .text(sweep_id)
}

/// What a sweep's ranking needs of the per-image predictions of each job of sweep `sweep_id`
/// that has some, as [`RankPredictionRecord`]s, in one pass over the sweep's jobs: the
/// validation split's predicted classes (the tie tests compare them), its labels only where
/// they differ from `reference` (NULL where they are those bytes: the labels are the same for
/// every job on a data set, so they are compared in the database, not copied out per job), and
/// the test split's number of images (its length, without reading it).
pub(crate) fn sweep_rank_predictions<'a>(sweep_id: &'a str, reference: &'a [u8]) -> Stmt<'a> {
    Stmt::new(
        "SELECT sj.job_key, v.predicted, \
             CASE WHEN v.labels = $2 THEN NULL ELSE v.labels END AS labels, \
             CAST(LENGTH(t.predicted) AS BIGINT) AS test_images \
         FROM sweep_jobs sj \
         LEFT JOIN predictions v ON v.job_key = sj.job_key AND v.split = 'val' \
         LEFT JOIN predictions t ON t.job_key = sj.job_key AND t.split = 'test' \
         WHERE sj.sweep_id = $1 AND (v.job_key IS NOT NULL OR t.job_key IS NOT NULL)",
    )
    .text(sweep_id)
    .bytes(reference)
}

/// What [`sweep_rank_predictions`] returns.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct RankPredictionRecord {
    pub job_key: String,
    /// Validation predicted classes; NULL without validation predictions.
    pub predicted: Option<Vec<u8>>,
    /// Validation labels; NULL when they are the reference's (or there are none).
    pub labels: Option<Vec<u8>>,
    /// Images of the test split; NULL without test predictions.
    pub test_images: Option<i64>,
}

/// What changes whenever training makes progress: recorded epochs, claims and sweeps, as a
/// [`MarkRecord`]. Cheap: counts over indexes.
pub(crate) fn mark() -> Stmt<'static> {
    Stmt::new(
        "SELECT (SELECT COUNT(*) FROM epoch_metrics) AS epochs, \
             (SELECT CAST(COALESCE(SUM(attempts), 0) AS BIGINT) FROM jobs) AS attempts, \
             (SELECT COUNT(*) FROM results) AS results, \
             (SELECT COUNT(*) FROM sweeps) AS sweeps",
    )
}

/// What [`sweep_progress`] returns.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct SweepStatusRecord {
    pub sweep_id: String,
    pub status: String,
    pub n: i64,
    pub epochs_planned: i64,
    pub epochs_done: i64,
    pub epoch_seconds: f64,
    pub images_per_s_sum: Option<f64>,
    pub results: i64,
}

/// What [`sweep_progress_jobs`] returns: one job's [`SweepStatusRecord`] with its key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct JobProgressRecord {
    pub key: String,
    #[sqlx(flatten)]
    pub row: SweepStatusRecord,
}

/// What [`sweep_jobs`] and [`job`] return.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct DashJobRecord {
    pub key: String,
    pub spec_json: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub params: i64,
    pub test_loss: Option<f64>,
    pub test_accuracy: Option<f64>,
    pub runtime_s: Option<f64>,
    pub images_per_s: Option<f64>,
    pub val_accuracy: Option<f64>,
    pub epochs_done: i64,
}

/// What [`mark`] returns.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct MarkRecord {
    pub epochs: i64,
    pub attempts: i64,
    pub results: i64,
    pub sweeps: i64,
}
