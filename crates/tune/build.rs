//! Sets `cfg(tune_test_postgres)` when `TUNE_TEST_POSTGRES_URL` is set at build time, so that the
//! PostgreSQL tests are marked `#[ignore]` (shown as `ignored` with the reason, and counted in the
//! summary) instead of passing silently when there is no server to test against.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(tune_test_postgres)");
    println!("cargo::rerun-if-env-changed=TUNE_TEST_POSTGRES_URL");
    if std::env::var_os("TUNE_TEST_POSTGRES_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=tune_test_postgres");
    }
}
