//! Reports: rankings, per-group statistics, comparison tables and plots rendered from stored results.
