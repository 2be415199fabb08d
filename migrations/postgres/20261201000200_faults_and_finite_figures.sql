-- Attempts count faults of the job, not of the operator: `faults` is the number of attempts in a
-- row that ended without a finished epoch because the process was killed or its lease expired.
-- A finished epoch sets it back to 0; a job is given up on (failed) when it reaches the store's
-- max_attempts (3). `attempts` still counts every claim (and fences stale workers).
ALTER TABLE jobs ADD COLUMN faults BIGINT NOT NULL DEFAULT 0;

-- The store holds finite figures only: a job whose loss or accuracy becomes NaN or infinite is
-- failed as diverged, and its non-finite epoch is not recorded. Earlier versions could store an
-- infinity (SQLite) or NaN (PostgreSQL, where such a job even finished as done). Such jobs become
-- failed, their result and checkpoint and the epochs from the first non-finite one on are removed;
-- `tune run GRID --retry-failed` trains them again. (NOT BETWEEN the largest finite doubles is
-- true for the infinities in both dialects and for NaN in PostgreSQL, where NaN sorts above every
-- number; SQLite cannot hold a NaN in these NOT NULL columns.)
UPDATE jobs SET status = 'failed', lease_expires_at = NULL,
       last_error = 'diverged: a figure stored by an earlier tune version was not finite (NaN or '
           || 'infinite); lower lr and run the grid with --retry-failed'
           || COALESCE('; earlier: ' || last_error, ''),
       finished_at = COALESCE(finished_at, now())
WHERE key IN (
        SELECT job_key FROM results
        WHERE test_loss NOT BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308
           OR test_accuracy NOT BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308
           OR runtime_s NOT BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308
           OR images_per_s NOT BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308)
   OR key IN (
        SELECT job_key FROM epoch_metrics
        WHERE train_loss NOT BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308
           OR train_accuracy NOT BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308
           OR val_loss NOT BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308
           OR val_accuracy NOT BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308
           OR seconds NOT BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308);

DELETE FROM results WHERE job_key IN (
    SELECT key FROM jobs WHERE last_error LIKE 'diverged: a figure stored by an earlier tune%');

DELETE FROM checkpoints WHERE job_key IN (
    SELECT key FROM jobs WHERE last_error LIKE 'diverged: a figure stored by an earlier tune%');

DELETE FROM epoch_metrics WHERE epoch >= (
    SELECT MIN(e.epoch) FROM epoch_metrics e
    WHERE e.job_key = epoch_metrics.job_key
      AND (e.train_loss NOT BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308
           OR e.train_accuracy NOT BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308
           OR e.val_loss NOT BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308
           OR e.val_accuracy NOT BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308
           OR e.seconds NOT BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308));
