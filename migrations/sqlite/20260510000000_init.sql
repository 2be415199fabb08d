-- tune results store, SQLite dialect (the PostgreSQL schema in ../postgres has the same tables,
-- columns and view). Times are UTC text 'YYYY-MM-DD HH:MM:SS.SSS', written by the database clock.

-- One row per grid file enqueued: the id is the grid name plus a hash of the grid file's text, so
-- enqueuing the same grid again finds the same sweep.
CREATE TABLE sweeps (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    grid_text    TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    host         TEXT NOT NULL,
    tune_version TEXT NOT NULL
);

-- One row per distinct job (key = JobSpec::key()), with its hyperparameters as typed columns and
-- its queue state.
CREATE TABLE jobs (
    key              TEXT PRIMARY KEY,
    seq              INTEGER NOT NULL,          -- queue order (grid order)
    model            TEXT NOT NULL,             -- 'cnn' | 'ann'
    layers           INTEGER NOT NULL,          -- conv layer count (0 for an ANN)
    layer1           INTEGER,                   -- filters of conv layer 1, NULL when unused
    layer2           INTEGER,
    layer3           INTEGER,
    filters          TEXT NOT NULL,             -- all conv filters, '16,32,64' ('' for an ANN)
    kernel           INTEGER,                   -- conv kernel side, NULL for an ANN
    dense            INTEGER,                   -- first dense width
    dense_widths     TEXT NOT NULL,             -- all dense widths, '512,256'
    dropout          REAL NOT NULL,
    l2               REAL NOT NULL,
    lr               REAL NOT NULL,
    rho              REAL NOT NULL,
    eps              REAL NOT NULL,
    batch            INTEGER NOT NULL,
    epochs           INTEGER NOT NULL,
    dataset          TEXT NOT NULL,
    seed             INTEGER NOT NULL,
    train_images     INTEGER,                   -- NULL: all training images
    validation       TEXT NOT NULL,             -- 'test' | 'holdout:N'
    spec_json        TEXT NOT NULL,             -- JobSpec::canonical_json()
    params           INTEGER NOT NULL,
    flops_per_image  REAL NOT NULL,             -- training FLOPs per image
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'running', 'done', 'failed', 'interrupted')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    worker_id        TEXT,
    lease_expires_at TEXT,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    finished_at      TEXT
);
CREATE INDEX jobs_queue ON jobs (status, seq);

-- Which sweeps a job belongs to (a job can be in many).
CREATE TABLE sweep_jobs (
    sweep_id TEXT NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
    job_key  TEXT NOT NULL REFERENCES jobs (key) ON DELETE CASCADE,
    position INTEGER NOT NULL,                  -- index of the job in the sweep's grid
    PRIMARY KEY (sweep_id, job_key)
);
CREATE INDEX sweep_jobs_job ON sweep_jobs (job_key);

-- What each epoch measured; (job, epoch) is the key, so a re-delivered epoch replaces the old row.
CREATE TABLE epoch_metrics (
    job_key        TEXT NOT NULL REFERENCES jobs (key) ON DELETE CASCADE,
    epoch          INTEGER NOT NULL,
    train_loss     REAL NOT NULL,
    train_accuracy REAL NOT NULL,
    val_loss       REAL NOT NULL,
    val_accuracy   REAL NOT NULL,
    seconds        REAL NOT NULL,
    PRIMARY KEY (job_key, epoch)
);

-- The final result of a finished job: exactly one row per job.
CREATE TABLE results (
    job_key        TEXT PRIMARY KEY REFERENCES jobs (key) ON DELETE CASCADE,
    test_loss      REAL NOT NULL,
    test_accuracy  REAL NOT NULL,
    runtime_s      REAL NOT NULL,
    images_per_s   REAL NOT NULL,
    confusion_json TEXT NOT NULL,               -- confusion[true][predicted] as JSON
    worker_id      TEXT,
    attempt        INTEGER NOT NULL,
    finished_at    TEXT NOT NULL
);

-- Latest weights of an unfinished job (safetensors bytes), so a restarted job can continue.
CREATE TABLE checkpoints (
    job_key  TEXT PRIMARY KEY REFERENCES jobs (key) ON DELETE CASCADE,
    epoch    INTEGER NOT NULL,
    bytes    BLOB NOT NULL,
    saved_at TEXT NOT NULL
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
