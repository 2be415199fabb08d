-- A summary of each job's recorded epochs, kept in `jobs` so that a sweep's page reads its jobs in
-- one pass, without looking up each job's epochs (issue 16):
--
-- jobs.epochs_recorded:   the number of epoch_metrics rows of the job (0 when none);
-- jobs.epoch_seconds:     their seconds, summed (0 when none);
-- jobs.last_val_accuracy: the val_accuracy of its highest recorded epoch (NULL when none).
--
-- Triggers on epoch_metrics keep them right whatever writes the epochs (a recorded or re-delivered
-- epoch, a resumed job's epochs deleted after its checkpoint, a reset, a merge, a job deleted):
-- each recounts the job's epochs, by its key, after the change.
ALTER TABLE jobs ADD COLUMN epochs_recorded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN epoch_seconds REAL NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN last_val_accuracy REAL;

-- The jobs' epochs recorded before this migration.
UPDATE jobs SET
    epochs_recorded = (SELECT COUNT(*) FROM epoch_metrics e WHERE e.job_key = jobs.key),
    epoch_seconds = (SELECT COALESCE(SUM(e.seconds), 0) FROM epoch_metrics e
                     WHERE e.job_key = jobs.key),
    last_val_accuracy = (SELECT e.val_accuracy FROM epoch_metrics e WHERE e.job_key = jobs.key
                         ORDER BY e.epoch DESC LIMIT 1)
WHERE EXISTS (SELECT 1 FROM epoch_metrics e WHERE e.job_key = jobs.key);

CREATE TRIGGER epoch_metrics_summary_insert AFTER INSERT ON epoch_metrics
BEGIN
    UPDATE jobs SET
        epochs_recorded = (SELECT COUNT(*) FROM epoch_metrics e WHERE e.job_key = NEW.job_key),
        epoch_seconds = (SELECT COALESCE(SUM(e.seconds), 0) FROM epoch_metrics e
                         WHERE e.job_key = NEW.job_key),
        last_val_accuracy = (SELECT e.val_accuracy FROM epoch_metrics e
                             WHERE e.job_key = NEW.job_key ORDER BY e.epoch DESC LIMIT 1)
    WHERE key = NEW.job_key;
END;

CREATE TRIGGER epoch_metrics_summary_update AFTER UPDATE ON epoch_metrics
BEGIN
    UPDATE jobs SET
        epochs_recorded = (SELECT COUNT(*) FROM epoch_metrics e WHERE e.job_key = jobs.key),
        epoch_seconds = (SELECT COALESCE(SUM(e.seconds), 0) FROM epoch_metrics e
                         WHERE e.job_key = jobs.key),
        last_val_accuracy = (SELECT e.val_accuracy FROM epoch_metrics e
                             WHERE e.job_key = jobs.key ORDER BY e.epoch DESC LIMIT 1)
    WHERE key IN (OLD.job_key, NEW.job_key);
END;

CREATE TRIGGER epoch_metrics_summary_delete AFTER DELETE ON epoch_metrics
BEGIN
    UPDATE jobs SET
        epochs_recorded = (SELECT COUNT(*) FROM epoch_metrics e WHERE e.job_key = OLD.job_key),
        epoch_seconds = (SELECT COALESCE(SUM(e.seconds), 0) FROM epoch_metrics e
                         WHERE e.job_key = OLD.job_key),
        last_val_accuracy = (SELECT e.val_accuracy FROM epoch_metrics e
                             WHERE e.job_key = OLD.job_key ORDER BY e.epoch DESC LIMIT 1)
    WHERE key = OLD.job_key;
END;
