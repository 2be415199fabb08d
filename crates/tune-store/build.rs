//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds the files of
//! `migrations/sqlite` and `migrations/postgres` at compile time but only notices edits to files it
//! already knows.
//!
//! Also sets `cfg(tune_test_postgres)` when `TUNE_TEST_POSTGRES_URL` is set at build time, so that
//! a test run without a PostgreSQL server shows the PostgreSQL half as `ignored` (with the reason)
//! in cargo test's output and summary.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
    println!("cargo::rustc-check-cfg=cfg(tune_test_postgres)");
    println!("cargo::rerun-if-env-changed=TUNE_TEST_POSTGRES_URL");
    if std::env::var_os("TUNE_TEST_POSTGRES_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=tune_test_postgres");
    }
}
