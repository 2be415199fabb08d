-- tune results store, PostgreSQL dialect (the SQLite schema in ../sqlite has the same tables,
-- columns and view). Times are timestamptz, written by the database clock.

-- One row per grid file enqueued: the id is the grid name plus a hash of the grid file's text, so
-- enqueuing the same grid again finds the same sweep.
CREATE TABLE sweeps (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    grid_text    TEXT NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    host         TEXT NOT NULL,
    tune_version TEXT NOT NULL
);

-- One row per distinct job (key = JobSpec::key()), with its hyperparameters as typed columns and
-- its queue state.
CREATE TABLE jobs (
    key              TEXT PRIMARY KEY,
    seq              BIGINT NOT NULL,           -- queue order (grid order)
    model            TEXT NOT NULL,             -- 'cnn' | 'ann'
    layers           BIGINT NOT NULL,           -- conv layer count (0 for an ANN)
    layer1           BIGINT,                    -- filters of conv layer 1, NULL when unused
    layer2           BIGINT,
    layer3           BIGINT,
    filters          TEXT NOT NULL,             -- all conv filters, '16,32,64' ('' for an ANN)
    kernel           BIGINT,                    -- conv kernel side, NULL for an ANN
    dense            BIGINT,                    -- first dense width
    dense_widths     TEXT NOT NULL,             -- all dense widths, '512,256'
    dropout          DOUBLE PRECISION NOT NULL,
    l2               DOUBLE PRECISION NOT NULL,
    lr               DOUBLE PRECISION NOT NULL,
    rho              DOUBLE PRECISION NOT NULL,
    eps              DOUBLE PRECISION NOT NULL,
    batch            BIGINT NOT NULL,
    epochs           BIGINT NOT NULL,
    dataset          TEXT NOT NULL,
    seed             BIGINT NOT NULL,
    train_images     BIGINT,                    -- NULL: all training images
    validation       TEXT NOT NULL,             -- 'test' | 'holdout:N'
    spec_json        TEXT NOT NULL,             -- JobSpec::canonical_json()
    params           BIGINT NOT NULL,
    flops_per_image  DOUBLE PRECISION NOT NULL, -- training FLOPs per image
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'running', 'done', 'failed', 'interrupted')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    worker_id        TEXT,
    lease_expires_at TIMESTAMPTZ,
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ
);
CREATE INDEX jobs_queue ON jobs (status, seq);

-- Which sweeps a job belongs to (a job can be in many).
CREATE TABLE sweep_jobs (
    sweep_id TEXT NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
    job_key  TEXT NOT NULL REFERENCES jobs (key) ON DELETE CASCADE,
    position BIGINT NOT NULL,                   -- index of the job in the sweep's grid
    PRIMARY KEY (sweep_id, job_key)
);
CREATE INDEX sweep_jobs_job ON sweep_jobs (job_key);

-- What each epoch measured; (job, epoch) is the key, so a re-delivered epoch replaces the old row.
CREATE TABLE epoch_metrics (
    job_key        TEXT NOT NULL REFERENCES jobs (key) ON DELETE CASCADE,
    epoch          BIGINT NOT NULL,
    train_loss     DOUBLE PRECISION NOT NULL,
    train_accuracy DOUBLE PRECISION NOT NULL,
    val_loss       DOUBLE PRECISION NOT NULL,
    val_accuracy   DOUBLE PRECISION NOT NULL,
    seconds        DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (job_key, epoch)
);

-- The final result of a finished job: exactly one row per job.
CREATE TABLE results (
    job_key        TEXT PRIMARY KEY REFERENCES jobs (key) ON DELETE CASCADE,
    test_loss      DOUBLE PRECISION NOT NULL,
    test_accuracy  DOUBLE PRECISION NOT NULL,
    runtime_s      DOUBLE PRECISION NOT NULL,
    images_per_s   DOUBLE PRECISION NOT NULL,
    confusion_json TEXT NOT NULL,               -- confusion[true][predicted] as JSON
    worker_id      TEXT,
    attempt        BIGINT NOT NULL,
    finished_at    TIMESTAMPTZ NOT NULL
);

-- Latest weights of an unfinished job (safetensors bytes), so a restarted job can continue.
CREATE TABLE checkpoints (
    job_key  TEXT PRIMARY KEY REFERENCES jobs (key) ON DELETE CASCADE,
    epoch    BIGINT NOT NULL,
    bytes    BYTEA NOT NULL,
    saved_at TIMESTAMPTZ NOT NULL
);

-- The study's results table, one row per finished job.
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
       j.key                AS job_key
FROM jobs j
JOIN results r ON r.job_key = j.key
WHERE j.status = 'done';
