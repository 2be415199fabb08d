//! Grid files: parse, validate and expand a TOML grid into training jobs.
