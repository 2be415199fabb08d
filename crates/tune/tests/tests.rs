//! The `tune` binary's integration tests: one test binary (one link step on CI's two cores), a
//! module per topic, the shared helpers in `util`.

mod util;

mod events;
mod first_hour;
mod grids;
mod halving;
mod holdout;
mod output;
mod own_data;
mod postgres;
mod postgres_halving;
mod reports;
mod robust_run;
mod robust_store;
mod run;
mod serve;
mod shard;
mod smoke;
mod ties;
mod train;

/// Every topic file in `tests/` is a module of this binary: with `autotests = false` a file that
/// is not listed above would silently never run.
#[test]
fn every_topic_file_is_a_module_of_the_test_binary() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let listed = include_str!("tests.rs");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(topic) = name.strip_suffix(".rs")
            && topic != "tests"
            && !listed.contains(&format!("\nmod {topic};"))
        {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "add `mod NAME;` to crates/tune/tests/tests.rs for {missing:?}"
    );
}
