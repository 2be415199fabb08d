//! The PostgreSQL dialect. Times are `timestamptz` from the server's clock (`now()`), read back as
//! UTC text `YYYY-MM-DD HH:MM:SS.SSS` (the SQLite format) and written from that text as UTC. A job
//! is picked with `FOR UPDATE SKIP LOCKED`, so concurrent workers never wait on each other's pick.

use std::sync::LazyLock;

use super::Sql;
use crate::columns::with_settings;

/// Formats a timestamptz column as the store's UTC text.
macro_rules! ts {
    ($col:literal) => {
        concat!(
            "to_char(",
            $col,
            " AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS')"
        )
    };
    ($col:literal, $alias:literal) => {
        concat!(
            "to_char(",
            $col,
            " AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS ",
            $alias
        )
    };
}

/// Reads the store's UTC text parameter as a timestamptz.
macro_rules! from_text {
    ($param:literal) => {
        concat!("(", $param, "::timestamp AT TIME ZONE 'UTC')")
    };
}

/// The claim conditions shared by the pick of [`SQL`]'s `claim`.
macro_rules! claimable {
    () => {
        "((status IN ('pending', 'interrupted') AND halt IS NULL) \
          OR (status = 'running' AND faults + 1 < $1 AND lease_expires_at < now())) \
         AND ($4::text IS NULL OR key IN ( \
             SELECT sj.job_key FROM sweep_jobs sj JOIN sweeps s ON s.id = sj.sweep_id \
             WHERE s.id = $4 OR s.name = $4))"
    };
}

fn insert_job() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        with_settings(
            concat!(
                "INSERT INTO jobs (key, seq, spec_json, params, flops_per_image, status, \
                 attempts, worker_id, lease_expires_at, last_error, created_at, started_at, \
                 finished_at{settings}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, ",
                from_text!("$9"),
                ", $10, COALESCE(",
                from_text!("$11"),
                ", now()), ",
                from_text!("$12"),
                ", ",
                from_text!("$13"),
                "{setting_params}) ON CONFLICT (key) DO NOTHING"
            ),
            14,
        )
    });
    &SQL
}

fn export_jobs() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        with_settings(
            concat!(
                "SELECT key, seq, spec_json, params, flops_per_image, status, attempts, \
                 worker_id, ",
                ts!("lease_expires_at", "lease_expires_at"),
                ", last_error, ",
                ts!("created_at", "created_at"),
                ", ",
                ts!("started_at", "started_at"),
                ", ",
                ts!("finished_at", "finished_at"),
                "{settings} FROM jobs ORDER BY seq, key"
            ),
            0,
        )
    });
    &SQL
}

/// The PostgreSQL queries.
pub(crate) const SQL: Sql = Sql {
    begin_write: "BEGIN",

    halving: super::halving::POSTGRES,

    insert_sweep: concat!(
        "INSERT INTO sweeps (id, name, grid_text, started_at, finished_at, host, tune_version) \
         VALUES ($1, $2, $3, COALESCE(",
        from_text!("$4"),
        ", now()), ",
        from_text!("$5"),
        ", $6, $7) ON CONFLICT (id) DO NOTHING"
    ),

    insert_job,

    select_exhausted: "SELECT key, worker_id, attempts, faults, last_error FROM jobs \
         WHERE status = 'running' AND faults + 1 >= $1 AND lease_expires_at < now() \
         FOR UPDATE SKIP LOCKED",

    select_killed: "SELECT key, worker_id, attempts, faults, last_error FROM jobs \
         WHERE status = 'running' AND faults + 1 >= $2::bigint \
           AND ($1::text IS NULL OR substr(worker_id, 1, length($1)) = $1) \
         FOR UPDATE",

    give_up: "UPDATE jobs SET status = 'failed', faults = faults + 1, last_error = $2, \
         lease_expires_at = NULL, finished_at = now() \
         WHERE key = $1 AND status = 'running'",

    claim: concat!(
        "UPDATE jobs SET status = 'running', worker_id = $2, attempts = jobs.attempts + 1, \
         faults = CASE WHEN jobs.status = 'running' THEN jobs.faults + 1 ELSE jobs.faults END, \
         lease_expires_at = now() + make_interval(secs => $3), \
         started_at = now(), finished_at = NULL, \
         last_error = CASE WHEN jobs.status = 'running' \
             THEN 'lease of worker ' || COALESCE(jobs.worker_id, '?') \
                  || ' expired on attempt ' || jobs.attempts \
             ELSE jobs.last_error END \
         FROM (SELECT key FROM jobs WHERE ",
        claimable!(),
        " AND ($5::text IS NULL OR data_sha256 IS NULL OR strpos($5::text, data_sha256) = 0) \
          ORDER BY CASE status WHEN 'pending' THEN 1 ELSE 0 END, seq \
          LIMIT 1 FOR UPDATE SKIP LOCKED) AS pick \
         WHERE jobs.key = pick.key \
         RETURNING jobs.key, jobs.spec_json, jobs.attempts, jobs.stop_at"
    ),

    extend_lease: "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $4) \
         WHERE key = $1 AND worker_id = $2 AND attempts = $3 AND status = 'running'",

    complete_job: "UPDATE jobs SET status = 'done', params = $4, lease_expires_at = NULL, \
         last_error = NULL, finished_at = now() \
         WHERE key = $1 AND worker_id = $2 AND attempts = $3 AND status = 'running'",

    upsert_result: concat!(
        "INSERT INTO results (job_key, test_loss, test_accuracy, runtime_s, \
         images_per_s, confusion_json, worker_id, attempt, finished_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, COALESCE(",
        from_text!("$9"),
        ", now())) \
         ON CONFLICT (job_key) DO UPDATE SET \
             test_loss = excluded.test_loss, test_accuracy = excluded.test_accuracy, \
             runtime_s = excluded.runtime_s, images_per_s = excluded.images_per_s, \
             confusion_json = excluded.confusion_json, worker_id = excluded.worker_id, \
             attempt = excluded.attempt, finished_at = excluded.finished_at"
    ),

    fail_job: "UPDATE jobs SET status = 'failed', last_error = $4, lease_expires_at = NULL, \
         finished_at = now() \
         WHERE key = $1 AND worker_id = $2 AND attempts = $3 AND status = 'running'",

    retire_job: "UPDATE jobs SET superseded_by = $3, \
             last_error = CASE WHEN status = 'failed' THEN last_error ELSE $2 END, \
             finished_at = CASE WHEN status = 'failed' THEN finished_at ELSE now() END, \
             halt = CASE WHEN halt = 'waiting' THEN NULL ELSE halt END, \
             status = 'failed', lease_expires_at = NULL \
         WHERE key = $1 AND superseded_by IS NULL \
           AND status IN ('pending', 'interrupted', 'failed')",

    fail_queued_job: "UPDATE jobs SET status = 'failed', last_error = $2, \
             finished_at = now(), \
             halt = CASE WHEN halt = 'waiting' THEN NULL ELSE halt END, lease_expires_at = NULL \
         WHERE key = $1 AND superseded_by IS NULL AND status IN ('pending', 'interrupted') \
           AND (halt IS NULL OR halt = 'waiting')",

    finish_sweeps: "UPDATE sweeps SET finished_at = now() \
         WHERE finished_at IS NULL \
           AND ($1::text IS NULL OR id IN (SELECT sweep_id FROM sweep_jobs WHERE job_key = $1)) \
           AND NOT EXISTS ( \
               SELECT 1 FROM sweep_jobs sj JOIN jobs j ON j.key = sj.job_key \
               WHERE sj.sweep_id = sweeps.id AND j.status NOT IN ('done', 'failed'))",

    upsert_checkpoint: "INSERT INTO checkpoints (job_key, epoch, bytes, saved_at) \
         VALUES ($1, $2, $3, now()) \
         ON CONFLICT (job_key) DO UPDATE SET \
             epoch = excluded.epoch, bytes = excluded.bytes, saved_at = excluded.saved_at",

    select_jobs: concat!(
        "SELECT j.key, j.spec_json, j.state AS status, j.attempts, \
         j.worker_id, ",
        ts!("j.lease_expires_at", "lease_expires_at"),
        ", j.last_error, ",
        ts!("j.created_at", "created_at"),
        ", ",
        ts!("j.started_at", "started_at"),
        ", ",
        ts!("j.finished_at", "finished_at"),
        ", j.epochs_recorded AS epochs_done \
         FROM jobs j \
         WHERE ($1::text IS NULL OR j.key IN ( \
                   SELECT sj.job_key FROM sweep_jobs sj JOIN sweeps s ON s.id = sj.sweep_id \
                   WHERE s.id = $1 OR s.name = $1)) \
           AND ($2::text IS NULL OR j.key = $2) \
         ORDER BY j.seq"
    ),

    select_results: concat!(
        "SELECT j.key, j.spec_json, j.params, j.flops_per_image, r.test_loss, \
         r.test_accuracy, r.runtime_s, r.images_per_s, ",
        ts!("r.finished_at", "finished_at"),
        " FROM jobs j JOIN results r ON r.job_key = j.key \
         WHERE j.status = 'done' \
           AND ($1::text IS NULL OR j.key IN ( \
                   SELECT sj.job_key FROM sweep_jobs sj JOIN sweeps s ON s.id = sj.sweep_id \
                   WHERE s.id = $1 OR s.name = $1)) \
           AND ($2::text IS NULL OR j.dataset = $2) \
           AND ($3::text IS NULL OR j.model = $3) \
           AND ($4::bigint IS NULL OR j.seed = $4) \
         ORDER BY j.seq"
    ),

    select_sweeps: concat!(
        "SELECT id, name, grid_text, ",
        ts!("started_at", "started_at"),
        ", ",
        ts!("finished_at", "finished_at"),
        ", host, tune_version FROM sweeps ORDER BY sweeps.started_at, id"
    ),

    export_jobs,

    export_results: concat!(
        "SELECT job_key, test_loss, test_accuracy, runtime_s, images_per_s, \
         confusion_json, worker_id, attempt, ",
        ts!("finished_at", "finished_at"),
        " FROM results"
    ),

    merge_job_state: concat!(
        "UPDATE jobs SET status = $2, attempts = $3, worker_id = $4, \
         lease_expires_at = NULL, last_error = $5, started_at = ",
        from_text!("$6"),
        ", finished_at = ",
        from_text!("$7"),
        ", params = $8 WHERE key = $1"
    ),
    expired_leases: "SELECT COUNT(*) FROM jobs WHERE status = 'running' \
         AND lease_expires_at < now()",
    running_leases: "SELECT sj.sweep_id, j.key, j.worker_id, \
             CAST(EXTRACT(EPOCH FROM (j.lease_expires_at - now())) AS DOUBLE PRECISION) \
                 AS seconds_left \
         FROM jobs j JOIN sweep_jobs sj ON sj.job_key = j.key \
         WHERE j.status = 'running' AND ($1::text IS NULL OR sj.sweep_id = $1)",
};

#[cfg(test)]
mod tests {
    #[test]
    fn ts_formats_as_utc_text() {
        assert_eq!(
            ts!("x"),
            "to_char(x AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS')"
        );
    }
}
