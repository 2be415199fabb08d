//! The store's tests run against SQLite always and against PostgreSQL when
//! `TUNE_TEST_POSTGRES_URL` is set. Without it, this test shows as `ignored` in cargo test's output
//! and summary, so that the skipped PostgreSQL half is visible without `--nocapture`.

/// Passes when the PostgreSQL half of the store's tests ran (the variable is set at run time too).
#[test]
#[cfg_attr(
    not(tune_test_postgres),
    ignore = "PostgreSQL half of the store tests skipped: TUNE_TEST_POSTGRES_URL was unset at build time (see crates/tune-store/tests/pg.sh)"
)]
fn postgres_half_of_the_store_tests_ran() {
    let url = std::env::var("TUNE_TEST_POSTGRES_URL").unwrap_or_default();
    assert!(
        !url.is_empty(),
        "TUNE_TEST_POSTGRES_URL was set when the tests were built but is unset now: the \
         PostgreSQL half of the store tests did not run"
    );
}
