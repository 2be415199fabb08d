-- Jobs of an earlier version of a user's data set (its files changed after they were queued).
--
-- jobs.superseded_by: the content hash (SHA-256, hex, as jobs.data_sha256) the data set's files
-- had when the job was set aside; NULL for every other job. Only a job that did not finish is set
-- aside: a queued one is marked status 'failed' with the reason in last_error (no worker claims
-- it), a failed one keeps its status and reason. A done job keeps its result: it is the result of
-- the data it records. `tune run` on the grid with the files as they were again clears it.
ALTER TABLE jobs ADD COLUMN superseded_by TEXT;

-- jobs.state: the job's state as every reader shows it: 'superseded' (above), else its halving
-- state ('waiting', 'pruned'), else its status. A superseded job counts neither as failed nor as
-- open: it can never train. `SELECT state, COUNT(*) FROM jobs GROUP BY state` counts jobs as
-- `tune status` does (over the whole database).
ALTER TABLE jobs ADD COLUMN state TEXT GENERATED ALWAYS AS (
    CASE WHEN superseded_by IS NOT NULL AND status = 'failed' THEN 'superseded'
         ELSE COALESCE(halt, status) END
) VIRTUAL;

-- Jobs set aside before this column existed: their reason names the files' new hash.
UPDATE jobs SET superseded_by = substr(last_error, instr(last_error, 'now have ') + 9, 64)
WHERE status = 'failed' AND last_error LIKE '%changed before this job trained%now have %';
UPDATE jobs SET superseded_by = substr(last_error, instr(last_error, 'hash is now ') + 12, 64)
WHERE status = 'failed' AND superseded_by IS NULL
  AND last_error LIKE '%has changed since its jobs were queued: its content hash is now %';
