-- A summary of each job's recorded epochs, kept in `jobs` so that a sweep's page reads its jobs in
-- one pass, without looking up each job's epochs (issue 16):
--
-- jobs.epochs_recorded:   the number of epoch_metrics rows of the job (0 when none);
-- jobs.epoch_seconds:     their seconds, summed (0 when none);
-- jobs.last_val_accuracy: the val_accuracy of its highest recorded epoch (NULL when none).
--
-- A trigger on epoch_metrics keeps them right whatever writes the epochs (a recorded or
-- re-delivered epoch, a resumed job's epochs deleted after its checkpoint, a reset, a merge, a job
-- deleted): it recounts the job's epochs, by its key, after the change. It locks the job's row
-- first, so that the recount (a statement of its own, with a fresh snapshot) sees the epochs of a
-- concurrent transaction that changed the same job's epochs and committed meanwhile.
ALTER TABLE jobs ADD COLUMN epochs_recorded BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN epoch_seconds DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN last_val_accuracy DOUBLE PRECISION;

-- The jobs' epochs recorded before this migration.
UPDATE jobs SET
    epochs_recorded = s.n,
    epoch_seconds = s.seconds,
    last_val_accuracy = s.last_val
FROM (SELECT e.job_key, COUNT(*) AS n, COALESCE(SUM(e.seconds), 0) AS seconds,
             (SELECT l.val_accuracy FROM epoch_metrics l WHERE l.job_key = e.job_key
              ORDER BY l.epoch DESC LIMIT 1) AS last_val
      FROM epoch_metrics e GROUP BY e.job_key) s
WHERE jobs.key = s.job_key;

CREATE FUNCTION tune_job_summary(job TEXT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM jobs WHERE key = job FOR UPDATE;
    UPDATE jobs SET
        epochs_recorded = (SELECT COUNT(*) FROM epoch_metrics e WHERE e.job_key = job),
        epoch_seconds = (SELECT COALESCE(SUM(e.seconds), 0) FROM epoch_metrics e
                         WHERE e.job_key = job),
        last_val_accuracy = (SELECT e.val_accuracy FROM epoch_metrics e
                             WHERE e.job_key = job ORDER BY e.epoch DESC LIMIT 1)
    WHERE key = job;
END
$$;

CREATE FUNCTION tune_epoch_metrics_summary() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM tune_job_summary(NEW.job_key);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM tune_job_summary(OLD.job_key);
    ELSE
        PERFORM tune_job_summary(OLD.job_key);
        IF NEW.job_key <> OLD.job_key THEN
            PERFORM tune_job_summary(NEW.job_key);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER epoch_metrics_summary AFTER INSERT OR UPDATE OR DELETE ON epoch_metrics
FOR EACH ROW EXECUTE FUNCTION tune_epoch_metrics_summary();
