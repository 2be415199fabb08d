-- Per-example predictions of each finished job, so that any two jobs can be compared on the same
-- images (McNemar's test), and validation accuracy beside test accuracy in grid_results.

-- What a finished job predicted for every image of its validation split ('val': the holdout, or the
-- test split when the job validates on it) and of the test split ('test'), after its last epoch.
-- One byte per image, in the split's order (the holdout's images in ascending training-split order).
CREATE TABLE predictions (
    job_key   TEXT NOT NULL REFERENCES jobs (key) ON DELETE CASCADE,
    split     TEXT NOT NULL CHECK (split IN ('val', 'test')),
    predicted BYTEA NOT NULL,                   -- predicted class of each image
    labels    BYTEA NOT NULL,                   -- true class of each image
    PRIMARY KEY (job_key, split)
);

-- The study's columns as before, plus the last epoch's validation accuracy (what reports rank by)
-- and the test accuracy under its own name.
DROP VIEW grid_results;
CREATE VIEW grid_results AS
SELECT j.layer1,
       j.layer2,
       j.layer3,
       j.kernel,
       j.dense              AS layerdense,
       j.epochs,
       r.test_loss          AS loss,
       r.test_accuracy      AS accuracy,
       r.runtime_s / 60.0   AS runtime_mins,
       j.model,
       j.dataset,
       j.seed,
       j.params,
       j.key                AS job_key,
       (SELECT e.val_accuracy FROM epoch_metrics e
        WHERE e.job_key = j.key ORDER BY e.epoch DESC LIMIT 1) AS val_accuracy,
       r.test_accuracy      AS test_accuracy,
       j.validation
FROM jobs j
JOIN results r ON r.job_key = j.key
WHERE j.status = 'done';
