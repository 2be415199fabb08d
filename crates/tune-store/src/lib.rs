//! The results store: sweeps, jobs, per-epoch metrics and results in SQLite or PostgreSQL.
