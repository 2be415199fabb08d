//! `[search]`: the halving settings, their defaults, and the message of each kind of bad table.

use tune_grid::{Confirm, Halving, Search, parse};

/// A holdout grid of 4 configurations, 20 epochs, with `search` as its `[search]` table.
fn with_search(search: &str) -> String {
    format!(
        r#"name = "halving"
{search}
[fixed]
model = "cnn"
epochs = 20
dense = 64
validation = {{ holdout = 500 }}
[axes]
layer1 = [16, 32]
layer2 = [16, 32]
"#
    )
}

/// The message for a bad grid, checked to contain every fragment.
fn error(text: &str, fragments: &[&str]) {
    let err = parse(text, "grids/bad.toml").expect_err("the grid should be rejected");
    let message = err.to_string();
    for fragment in fragments {
        assert!(
            message.contains(fragment),
            "message lacks {fragment:?}:\n{message}"
        );
    }
}

#[test]
fn no_search_table_is_a_full_grid() {
    let g = parse(&with_search(""), "g.toml").unwrap();
    assert_eq!(g.search, Search::Grid);
    let g = parse(&with_search("[search]\nstrategy = \"grid\""), "g.toml").unwrap();
    assert_eq!(g.search, Search::Grid);
}

#[test]
fn halving_settings_are_read_with_defaults() {
    let g = parse(
        &with_search("[search]\nstrategy = \"halving\"\neta = 3\nmin_epochs = 2"),
        "g.toml",
    )
    .unwrap();
    let Search::Halving(h) = g.search else {
        panic!("not halving: {:?}", g.search)
    };
    assert_eq!(
        h,
        Halving {
            eta: 3,
            min_epochs: 2,
            allow_test_selection: false,
            confirm: None,
        }
    );
    assert_eq!(h.rungs(20), vec![2, 6, 18, 20]);
    // The search does not change the jobs or their keys.
    let plain = parse(&with_search(""), "g.toml").unwrap();
    assert_eq!(g.jobs, plain.jobs);

    let g = parse(&with_search("[search]\nstrategy = \"halving\""), "g.toml").unwrap();
    assert_eq!(
        g.search,
        Search::Halving(Halving {
            eta: 3,
            min_epochs: 1,
            allow_test_selection: false,
            confirm: None,
        })
    );
}

#[test]
fn bad_search_settings_name_the_line_and_the_fix() {
    error(
        &with_search("[search]\nstrategy = \"halving\"\neta = 1"),
        &["grids/bad.toml:4:1", "search.eta", "at least 2", "found 1"],
    );
    error(
        &with_search("[search]\nstrategy = \"halving\"\nmin_epochs = 0"),
        &["grids/bad.toml:4:1", "search.min_epochs", "at least 1"],
    );
    error(
        &with_search("[search]\nstrategy = \"halving\"\nmin_epochs = 30"),
        &[
            "grids/bad.toml:4:1",
            "search.min_epochs",
            "is 30, more than the jobs' 20 epochs",
        ],
    );
    error(
        &with_search("[search]\nstrategy = \"hyperband\""),
        &["grids/bad.toml:3:1", "\"hyperband\"", "\"halving\""],
    );
    error(
        &with_search("[search]\nstrategy = \"halving\"\netta = 3"),
        &["unknown key `etta` in [search]", "Did you mean `eta`?"],
    );
    error(
        &with_search("[search]\nstrategy = \"halving\"\nrepeats = 3"),
        &[
            "unknown key `repeats` in [search]",
            "Top-level keys must come before the first [table] line",
        ],
    );
    error(
        &with_search("[search]\neta = 3"),
        &["search.eta", "only applies to strategy = \"halving\""],
    );
    error(
        &with_search("[search]\nstrategy = \"halving\"\neta = \"3\""),
        &["search.eta", "must be an integer"],
    );
}

#[test]
fn halving_on_the_test_split_needs_a_holdout_or_explicit_consent() {
    let on_test = with_search("[search]\nstrategy = \"halving\"")
        .replace("validation = { holdout = 500 }", "validation = \"test\"");
    error(
        &on_test,
        &[
            "validates on the test split",
            "validation = { holdout = 5000 }",
            "allow_test_selection = true",
        ],
    );
    let allowed = on_test.replace(
        "strategy = \"halving\"",
        "strategy = \"halving\"\nallow_test_selection = true",
    );
    assert!(matches!(
        parse(&allowed, "g.toml").unwrap().search,
        Search::Halving(Halving {
            allow_test_selection: true,
            ..
        })
    ));
}

#[test]
fn halving_needs_one_epochs_for_every_job() {
    let text = with_search("[search]\nstrategy = \"halving\"")
        .replace("epochs = 20\n", "")
        .replace("[axes]\n", "[axes]\nepochs = [10, 20]\n");
    error(&text, &["one `epochs` for every job", "10, 20"]);
}

/// A rung ranks its jobs against each other: jobs on two data sets would prune each other.
#[test]
fn halving_needs_one_data_set_for_every_job() {
    let text = with_search("[search]\nstrategy = \"halving\"").replace(
        "[axes]\n",
        "[axes]\ndataset = [\"mnist\", \"fashion-mnist\"]\n",
    );
    error(
        &text,
        &[
            "2 data sets (fashion-mnist, mnist)",
            "one halving grid per data set",
        ],
    );
}

#[test]
fn confirm_reads_top_and_repeats_and_refuses_nonsense() {
    let g = parse(
        &with_search("[search]\nstrategy = \"halving\"\nconfirm = { top = 2, repeats = 3 }"),
        "g.toml",
    )
    .unwrap();
    let Search::Halving(h) = g.search else {
        panic!("not halving: {:?}", g.search)
    };
    assert_eq!(h.confirm, Some(Confirm { top: 2, repeats: 3 }));
    error(
        &with_search("[search]\nstrategy = \"halving\"\nconfirm = { top = 0, repeats = 3 }"),
        &["search.confirm.top", "at least 1"],
    );
    error(
        &with_search("[search]\nstrategy = \"halving\"\nconfirm = { top = 2 }"),
        &["search.confirm", "lacks `repeats`"],
    );
    error(
        &with_search("[search]\nconfirm = { top = 2, repeats = 2 }"),
        &["search.confirm", "only applies to strategy = \"halving\""],
    );
}
