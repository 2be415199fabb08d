-- Successive halving (`[search] strategy = "halving"` in a grid file).
--
-- sweeps.search_json: the sweep's halving plan, `{"strategy":"halving","eta":3,"min_epochs":2,
-- "rungs":[2,6,18,20]}`; NULL for a full grid.
ALTER TABLE sweeps ADD COLUMN search_json TEXT;

-- jobs.stop_at: the epoch a job of a halving sweep trains to before it waits for its rung's
-- decision (NULL: every epoch). jobs.halt: 'waiting' (status 'pending': it reached stop_at and
-- waits for the rung's decision) or 'pruned' (status 'done': halving stopped it at stop_at; its
-- epochs are kept, it has no result). The status column keeps its five values (SQLite cannot
-- change a CHECK constraint without rebuilding the table); readers show `halt` as the status.
ALTER TABLE jobs ADD COLUMN stop_at INTEGER;
ALTER TABLE jobs ADD COLUMN halt TEXT CHECK (halt IN ('waiting', 'pruned'));

-- One row per decision of a halving sweep: at rung `rung` (from 0), when every job of the rung had
-- reported its validation accuracy at epoch `epoch`, the configurations in decision.keep went on
-- and those in decision.prune stopped. Made once, in one transaction (the primary key refuses a
-- second one), so a killed run resumes with the same decisions. decision is JSON:
-- {"keep": [job keys], "prune": [job keys], "failed": [job keys],
--  "ranking": [{"keys": [job keys of one configuration], "val_accuracy": mean over its seeds}]}.
CREATE TABLE rung_decisions (
    sweep_id   TEXT NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
    rung       INTEGER NOT NULL,
    epoch      INTEGER NOT NULL,
    decision   TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    PRIMARY KEY (sweep_id, rung)
);
