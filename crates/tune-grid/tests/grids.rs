//! The shipped grids, the format's features, and the message of each kind of bad grid file.

use std::collections::HashSet;
use std::path::PathBuf;

use tune_grid::{Grid, GridError, load, parse, shard, with_repeats};
use tune_spec::{JobSpec, ModelKind, ModelSpec, TrainSpec, Validation};

fn shipped(name: &str) -> Grid {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../grids")
        .join(format!("{name}.toml"));
    load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn grid(text: &str) -> Grid {
    parse(text, "grids/test.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// The message for a bad grid, checked to contain every fragment.
fn error(text: &str, fragments: &[&str]) -> GridError {
    let err = parse(text, "grids/bad.toml").expect_err("the grid should be rejected");
    let message = err.to_string();
    for fragment in fragments {
        assert!(
            message.contains(fragment),
            "message lacks {fragment:?}:\n{message}"
        );
    }
    err
}

/// A valid 2-layer grid to break in tests; line numbers matter.
const BASE: &str = r#"name = "base"
[fixed]
model = "cnn"
epochs = 20
dense = 64
[axes]
layer1 = [16, 32]
layer2 = [16, 32]
[constraints]
rules = ["layer1 <= layer2"]
"#;

fn study_train() -> TrainSpec {
    TrainSpec {
        dataset: "fashion-mnist".into(),
        epochs: 20,
        batch: 64,
        lr: 0.001,
        rho: 0.9,
        eps: 1e-7,
        seed: 1,
        train_images: None,
        validation: Validation::Test,
        data: None,
    }
}

#[test]
fn study_grids_have_10_20_and_35_jobs() {
    for (name, layers, count) in [("1layer", 1, 10), ("2layer", 2, 20), ("3layer", 3, 35)] {
        let grid = shipped(name);
        assert_eq!(grid.name, name);
        assert!(grid.description.is_some());
        assert_eq!(grid.jobs.len(), count, "{name}");
        for job in &grid.jobs {
            let m = &job.model;
            assert_eq!(m.filters.len(), layers, "{name}: {}", m.label());
            assert!(m.filters.windows(2).all(|w| w[0] <= w[1]), "{}", m.label());
            assert_eq!(m.dense.len(), 1);
            assert!(m.dense[0] >= *m.filters.last().unwrap(), "{}", m.label());
            let expected = ModelSpec::cnn(&m.filters, m.dense[0]);
            assert_eq!(m, &expected);
            assert_eq!(job.train, study_train());
        }
        let keys: HashSet<String> = grid.jobs.iter().map(JobSpec::key).collect();
        assert_eq!(keys.len(), count, "{name}: jobs are distinct");
    }
}

#[test]
fn three_layer_grid_is_every_non_decreasing_choice() {
    let grid = shipped("3layer");
    let sizes = [16, 32, 64, 128];
    let mut expected = Vec::new();
    for a in sizes {
        for b in sizes {
            for c in sizes {
                for d in sizes {
                    if a <= b && b <= c && c <= d {
                        expected.push((vec![a, b, c], d));
                    }
                }
            }
        }
    }
    let got: Vec<(Vec<usize>, usize)> = grid
        .jobs
        .iter()
        .map(|j| (j.model.filters.clone(), j.model.dense[0]))
        .collect();
    assert_eq!(got, expected, "file order, last axis fastest");
}

#[test]
fn compare_grid_is_ann_and_cnn_on_both_data_sets() {
    let grid = shipped("compare");
    let got: Vec<(ModelKind, &str)> = grid
        .jobs
        .iter()
        .map(|j| (j.model.kind, j.train.dataset.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (ModelKind::Ann, "fashion-mnist"),
            (ModelKind::Ann, "mnist"),
            (ModelKind::Cnn, "fashion-mnist"),
            (ModelKind::Cnn, "mnist"),
        ]
    );
    let mut cnn = ModelSpec::cnn(&[64, 64], 128);
    cnn.l2 = 0.0;
    for job in &grid.jobs {
        let expected = match job.model.kind {
            ModelKind::Ann => ModelSpec::ann(),
            ModelKind::Cnn => cnn.clone(),
        };
        assert_eq!(job.model, expected);
        let mut train = study_train();
        train.dataset = job.train.dataset.clone();
        assert_eq!(job.train, train);
    }
}

#[test]
fn quick_grid_is_small() {
    let grid = shipped("quick");
    let got: Vec<(Vec<usize>, Vec<usize>)> = grid
        .jobs
        .iter()
        .map(|j| (j.model.filters.clone(), j.model.dense.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (vec![16], vec![32]),
            (vec![16], vec![64]),
            (vec![16, 32], vec![32]),
            (vec![16, 32], vec![64]),
        ]
    );
    for job in &grid.jobs {
        assert_eq!(job.train.epochs, 2);
        assert_eq!(job.train.train_images, Some(6000));
        assert_eq!(job.train.dataset, "fashion-mnist");
    }
}

#[test]
fn name_defaults_to_the_file_stem_and_source_is_kept() {
    let text = BASE.replace("name = \"base\"\n", "");
    let grid = parse(&text, "some/dir/mine.toml").unwrap();
    assert_eq!(grid.name, "mine");
    assert_eq!(grid.description, None);
    assert_eq!(grid.source_text, text);
    assert_eq!(grid.jobs.len(), 3);
}

#[test]
fn defaults_fill_what_is_not_set() {
    let cnn = grid("[fixed]\nlayer1 = 32\ndense = 64\n");
    assert_eq!(
        cnn.jobs,
        [JobSpec {
            model: ModelSpec::cnn(&[32], 64),
            train: TrainSpec {
                validation: Validation::Holdout(5000),
                ..TrainSpec::default()
            },
        }]
    );
    let ann = grid("[fixed]\nmodel = \"ann\"\n");
    assert_eq!(ann.jobs[0].model, ModelSpec::ann());
}

#[test]
fn any_setting_can_be_an_axis() {
    let all = grid(
        r#"[fixed]
layer1 = 16
dense = 16
[axes]
seed = [1, 2]
lr = [0.001, 0.01]
kernel = [3, 5]
dataset = ["mnist"]
batch = [32]
epochs = [1]
dropout = [0.25]
l2 = [0]
train_images = [600]
rho = [0.95]
eps = [1e-6]
validation = ["test", { holdout = 5000 }]
"#,
    );
    assert_eq!(all.jobs.len(), 16);
    let last = all.jobs.last().unwrap();
    assert_eq!(last.train.seed, 2);
    assert_eq!(last.train.lr, 0.01);
    assert_eq!(last.model.kernel, 5);
    assert_eq!(last.train.validation, Validation::Holdout(5000));
    assert_eq!(last.train.dataset, "mnist");
    assert_eq!(last.train.batch, 32);
    assert_eq!(last.train.epochs, 1);
    assert_eq!(last.model.dropout, 0.25);
    assert_eq!(last.model.l2, 0.0);
    assert_eq!(last.train.train_images, Some(600));
    assert_eq!(last.train.rho, 0.95);
    assert_eq!(last.train.eps, 1e-6);
    // The second job differs from the first in the last axis only.
    assert_eq!(all.jobs[0].train.validation, Validation::Test);
    assert_eq!(all.jobs[1].train.validation, Validation::Holdout(5000));
    assert_eq!(all.jobs[0].train.seed, all.jobs[1].train.seed);
}

#[test]
fn parameter_budget_rule_drops_big_networks() {
    let all = shipped("2layer").jobs;
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../grids/2layer.toml"),
    )
    .unwrap()
    .replace("# \"params <= 500000\",", "")
    .replace(
        "\"dense >= layer2\",",
        "\"dense >= layer2\",\n  \"params <= 500_000\",",
    );
    let budget = grid(&text).jobs;
    let expected: Vec<&JobSpec> = all
        .iter()
        .filter(|j| j.model.params(&tune_spec::InputShape::BUILT_IN).unwrap() <= 500_000)
        .collect();
    assert!(!expected.is_empty() && expected.len() < all.len());
    assert_eq!(budget.iter().collect::<Vec<_>>(), expected);
}

#[test]
fn mixed_depths_from_a_filters_axis() {
    let grid = grid(
        r#"[fixed]
dense = 64
[axes]
filters = [[16], [32, 16], [16, 32], [16, 32, 64]]
[constraints]
rules = ["layer1 <= layer2 <= layer3", "layers >= 1", "last_filters <= dense", "flops > 0"]
"#,
    );
    let filters: Vec<Vec<usize>> = grid.jobs.iter().map(|j| j.model.filters.clone()).collect();
    assert_eq!(filters, [vec![16], vec![16, 32], vec![16, 32, 64]]);
}

#[test]
fn sections_share_the_top_level_and_concatenate() {
    let grid = grid(
        r#"[fixed]
epochs = 5
dense = 32
[axes]
seed = [1, 2]
[constraints]
rules = ["dense <= 64"]

[[grid]]
fixed = { layer1 = 16 }

[[grid]]
[grid.fixed]
layer1 = 16
epochs = 7
[grid.axes]
dense = [32, 64, 128]
[grid.constraints]
rules = ["seed == 1"]
"#,
    );
    let got: Vec<(usize, u64, usize)> = grid
        .jobs
        .iter()
        .map(|j| (j.train.epochs, j.train.seed, j.model.dense[0]))
        .collect();
    assert_eq!(got, [(5, 1, 32), (5, 2, 32), (7, 1, 32), (7, 1, 64)]);
}

#[test]
fn duplicate_jobs_are_dropped() {
    let grid = grid(
        r#"[fixed]
model = "ann"
[axes]
kernel = [3, 5]
seed = [1, 1, 2]
"#,
    );
    let seeds: Vec<u64> = grid.jobs.iter().map(|j| j.train.seed).collect();
    assert_eq!(seeds, [1, 2], "an ANN's kernel does not make a new job");
}

#[test]
fn repeats_add_consecutive_seeds() {
    let jobs = shipped("compare").jobs;
    let repeated = with_repeats(&jobs, 3);
    assert_eq!(repeated.len(), 12);
    for (r, chunk) in repeated.chunks(4).enumerate() {
        for (job, original) in chunk.iter().zip(&jobs) {
            assert_eq!(job.train.seed, original.train.seed + r as u64);
            assert_eq!(job.model, original.model);
        }
    }
    assert_eq!(with_repeats(&jobs, 1), jobs);
    assert!(with_repeats(&jobs, 0).is_empty());
    // Seeds 1..3 and 2..4 overlap in 2 and 3.
    let mut two_seeds = jobs[..1].to_vec();
    two_seeds.push(two_seeds[0].clone());
    two_seeds[1].train.seed = 2;
    assert_eq!(with_repeats(&two_seeds, 3).len(), 4);
}

#[test]
fn shards_partition_the_jobs() {
    let jobs = shipped("3layer").jobs;
    let all: HashSet<String> = jobs.iter().map(JobSpec::key).collect();
    for count in [1, 2, 3, 7, 40] {
        let mut union = HashSet::new();
        let mut total = 0;
        for index in 0..count {
            let part = shard(&jobs, index, count);
            assert!(part.len().abs_diff(jobs.len() / count) <= 1);
            assert_eq!(part, shard(&jobs, index, count), "deterministic");
            // The shard keeps the grid's order.
            let positions: Vec<usize> = part
                .iter()
                .map(|j| jobs.iter().position(|k| k == j).unwrap())
                .collect();
            assert!(positions.windows(2).all(|w| w[0] < w[1]));
            total += part.len();
            union.extend(part.iter().map(JobSpec::key));
        }
        assert_eq!(total, jobs.len(), "disjoint ({count} shards)");
        assert_eq!(union, all, "complete ({count} shards)");
    }
}

// ---- bad grid files ----

#[test]
fn syntax_error_gives_line_and_column() {
    let text = BASE.replace("epochs = 20", "epochs = = 20");
    error(&text, &["grids/bad.toml:4:", "TOML syntax error"]);
    let text = BASE.replace("dense = 64", "dense = 64\nepochs = 3");
    error(&text, &["grids/bad.toml:6:", "duplicate"]);
}

#[test]
fn unknown_keys_list_the_valid_ones_and_suggest() {
    let text = BASE.replace("epochs = 20", "epoch = 20");
    error(
        &text,
        &[
            "grids/bad.toml:4:1",
            "unknown key `epoch` in [fixed]",
            "Did you mean `epochs`?",
            "Valid keys there: model, dataset",
        ],
    );
    let text = BASE.replace("epochs = 20", "learning_rate = 0.01");
    error(&text, &["grids/bad.toml:4:", "Did you mean `lr`?"]);
    let text = format!("epochs = 3\n{BASE}");
    error(
        &text,
        &[
            "grids/bad.toml:1:1",
            "unknown key `epochs` in the top level",
            "Settings belong in [fixed]",
        ],
    );
    let text = format!("{BASE}description = \"late\"\n");
    error(
        &text,
        &[
            "grids/bad.toml:11:",
            "`description` in [constraints]",
            "before the first [table]",
        ],
    );
    let text = BASE.replace("[constraints]", "[constraint]");
    error(&text, &["grids/bad.toml:9:", "Did you mean `constraints`?"]);
    let text = BASE.replace("rules =", "rule =");
    error(
        &text,
        &["grids/bad.toml:10:1", "`rule`", "Did you mean `rules`?"],
    );
}

#[test]
fn wrong_types_say_what_was_expected() {
    let text = BASE.replace("epochs = 20", "epochs = \"20\"");
    error(
        &text,
        &[
            "grids/bad.toml:4:",
            "`epochs` must be an integer, found string \"20\"",
        ],
    );
    let text = BASE.replace("epochs = 20", "epochs = 2.5");
    error(
        &text,
        &[
            "grids/bad.toml:4:",
            "`epochs` must be an integer, found float 2.5",
        ],
    );
    let text = BASE.replace("epochs = 20", "epochs = -2");
    error(&text, &["grids/bad.toml:4:", "`epochs` must be at least 0"]);
    let text = BASE.replace("model = \"cnn\"", "model = \"rnn\"");
    error(
        &text,
        &[
            "grids/bad.toml:3:",
            "`model` is \"rnn\"",
            "\"cnn\" or \"ann\"",
        ],
    );
    let text = BASE.replace("layer2 = [16, 32]", "layer2 = 16");
    error(
        &text,
        &[
            "grids/bad.toml:8:1",
            "`layer2` must be a list of values",
            "[fixed]",
        ],
    );
    let text = BASE.replace("layer2 = [16, 32]", "layer2 = [16, \"32\"]");
    error(
        &text,
        &["grids/bad.toml:8:15", "`layer2` must be an integer"],
    );
    let text = BASE.replace("[fixed]", "[fixed]\ndataset = \"fashion_mnist\"");
    error(
        &text,
        &[
            "grids/bad.toml:3:",
            "`dataset`",
            "did you mean \"fashion-mnist\"?",
        ],
    );
    let text = BASE.replace("dense = 64", "dense = \"wide\"");
    error(
        &text,
        &["grids/bad.toml:5:", "`dense` must be an integer or a list"],
    );
    let text = BASE.replace("[fixed]", "[fixed]\nvalidation = \"holdout\"");
    error(
        &text,
        &["grids/bad.toml:3:", "`validation`", "{ holdout = N }"],
    );
    let text = BASE.replace(
        "rules = [\"layer1 <= layer2\"]",
        "rules = \"layer1 <= layer2\"",
    );
    error(
        &text,
        &["grids/bad.toml:10:", "`rules` must be a list of strings"],
    );
    let text = "fixed = 3\n";
    error(text, &["grids/bad.toml:1:1", "`fixed` must be a table"]);
}

#[test]
fn empty_axis() {
    let text = BASE.replace("layer2 = [16, 32]", "layer2 = []");
    error(
        &text,
        &["grids/bad.toml:8:1", "axis `layer2` has no values"],
    );
}

#[test]
fn key_both_fixed_and_axis() {
    let text = BASE.replace("layer1 = [16, 32]", "layer1 = [16, 32]\nepochs = [1, 2]");
    error(
        &text,
        &[
            "grids/bad.toml:8:1",
            "`epochs` is an axis here and also fixed at line 4",
        ],
    );
}

#[test]
fn constraints_that_remove_everything_name_the_rules() {
    let text = BASE.replace(
        "rules = [\"layer1 <= layer2\"]",
        "rules = [\"layer1 <= layer2\", \"dense > 128\"]",
    );
    error(
        &text,
        &[
            "grids/bad.toml:10:",
            "the constraints remove all 4 combinations",
            "`layer1 <= layer2` (line 10) keeps 3",
            "`dense > 128` (line 10) keeps 0",
        ],
    );
    let text = BASE.replace("layer1 <= layer2", "layer1 > 1000");
    error(
        &text,
        &[
            "the constraints remove all 4 combinations",
            "check `layer1 > 1000`",
        ],
    );
}

#[test]
fn bad_rules_name_the_rule() {
    let text = BASE.replace("layer1 <= layer2", "layer1 <=< layer2");
    error(
        &text,
        &[
            "grids/bad.toml:10:10",
            "rule `layer1 <=< layer2`",
            "expected a number or a name",
        ],
    );
    let text = BASE.replace("layer1 <= layer2", "layer1 <= dens");
    error(
        &text,
        &[
            "grids/bad.toml:10:",
            "rule `layer1 <= dens`",
            "unknown name `dens`",
            "did you mean `dense`?",
        ],
    );
    let text = BASE.replace("layer1 <= layer2", "layer1 = layer2");
    error(&text, &["rule `layer1 = layer2`", "write `==`"]);
}

#[test]
fn unbuildable_architecture_names_the_combination() {
    let text = r#"[fixed]
kernel = 3
dense = 16
layer1 = 16
layer2 = 16
layer3 = 16
[axes]
layer4 = [16]
"#;
    error(
        text,
        &[
            "grids/bad.toml:8:1",
            "layer4=16 (cnn 16-16-16-16/16 k3)",
            "conv layer 4 gets a 1x1 input",
        ],
    );
    let text = BASE.replace("epochs = 20", "epochs = 0");
    error(
        &text,
        &[
            "grids/bad.toml:4:",
            "layer1=16 layer2=16",
            "`epochs` must be at least 1",
        ],
    );
    let text = BASE.replace("layer1 = [16, 32]", "layer1 = [0, 16]");
    error(
        &text,
        &[
            "grids/bad.toml:7:",
            "layer1=0",
            "`filters[0]` must be at least 1",
        ],
    );
    // A rule that needs the parameter count of an unbuildable network says why it cannot be built.
    let text = BASE
        .replace("epochs = 20", "kernel = 30")
        .replace("layer1 <= layer2", "params < 1e6");
    error(
        &text,
        &["grids/bad.toml:7:", "conv layer 1", "30x30 kernel"],
    );
}

#[test]
fn conv_layers_must_be_numbered_without_gaps_and_fit_the_model() {
    let text = BASE.replace("layer2 = [16, 32]", "layer3 = [16, 32]");
    error(
        &text,
        &["grids/bad.toml:8:1", "`layer3` needs `layer2` before it"],
    );
    let text = BASE.replace("layer2 = [16, 32]", "layer0 = [16, 32]");
    error(
        &text,
        &["grids/bad.toml:8:1", "`layer0` is not a conv layer"],
    );
    let text = BASE.replace("model = \"cnn\"", "model = \"ann\"");
    error(
        &text,
        &[
            "grids/bad.toml:7:1",
            "`layer1` sets conv layers",
            "\"ann\"",
            "[[grid]]",
        ],
    );
    let text = BASE.replace("dense = 64\n", "");
    error(&text, &["grids/bad.toml:6:1", "`dense` is missing"]);
    error(
        "[fixed]\nmodel = \"cnn\"\n",
        &["grids/bad.toml:2:1", "`layer1` is missing"],
    );
    let text = BASE.replace("dense = 64", "dense = 64\nfilters = [16]");
    error(
        &text,
        &[
            "grids/bad.toml:6:1",
            "`filters` cannot be combined with `layer1`",
        ],
    );
}

#[test]
fn errors_in_sections_point_into_the_section() {
    let text = r#"[axes]
seed = [1, 2]

[[grid]]
fixed = { model = "ann" }

[[grid]]
fixed = { layer1 = 16, dense = 8 }
constraints = { rules = ["dense >= layer1"] }
"#;
    error(
        text,
        &[
            "grids/bad.toml:9:",
            "remove all 2 combinations of the [[grid]] section at line 7",
        ],
    );
    let text = "[[grid]]\nfixed = { modle = \"ann\" }\n";
    error(
        text,
        &[
            "grids/bad.toml:2:11",
            "`modle` in [grid.fixed]",
            "Did you mean `model`?",
        ],
    );
    let text = "[[grid]]\nepochs = [1]\n";
    error(
        text,
        &[
            "grids/bad.toml:2:1",
            "`epochs` in a [[grid]] section",
            "`fixed = { .. }`",
        ],
    );
    let text = "[grid]\nfixed = { model = \"ann\" }\n";
    error(
        text,
        &["grids/bad.toml:1:", "`[[grid]]` line (double brackets)"],
    );
}

#[test]
fn load_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.toml");
    std::fs::write(&path, BASE.replace("epochs", "epoch")).unwrap();
    let err = load(&path).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}:4:1:", path.display())),
        "{err}"
    );
    assert_eq!(err.location().unwrap().line, 4);
    let missing = dir.path().join("missing.toml");
    let err = load(&missing).unwrap_err();
    assert!(err.to_string().contains("missing.toml"), "{err}");
    assert!(err.location().is_none());
}

#[test]
fn huge_grids_are_refused_before_expanding() {
    let ten = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]";
    let text = format!(
        "[fixed]\nmodel = \"ann\"\n[axes]\nseed = {ten}\nbatch = {ten}\nepochs = {ten}\ntrain_images = {ten}\nkernel = {ten}\ndropout = {ten}\nlr = {ten}\n"
    );
    error(
        &text,
        &[
            "grids/bad.toml:4:1",
            "10000000 combinations",
            "limit of 1000000",
        ],
    );
}

/// The study's grids say `validation = "test"` explicitly, so the new default (a holdout) leaves
/// their job keys as they were: `study_keys.txt` holds the keys `tune run GRID --dry-run` printed
/// before the default changed.
#[test]
fn study_grids_keep_their_job_keys() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let pinned = include_str!("study_keys.txt");
    let mut expected: Vec<(String, Vec<String>)> = Vec::new();
    for line in pinned.lines() {
        match line.strip_prefix("# ") {
            Some(path) => expected.push((path.to_string(), Vec::new())),
            None => expected.last_mut().unwrap().1.push(line.to_string()),
        }
    }
    assert_eq!(expected.len(), 4);
    for (path, keys) in expected {
        let grid = load(&root.join(&path)).unwrap();
        let got: Vec<String> = grid.jobs.iter().map(JobSpec::key).collect();
        assert_eq!(got, keys, "{path}");
        assert!(
            grid.jobs
                .iter()
                .all(|j| j.train.validation == Validation::Test),
            "{path}"
        );
    }
}

/// A grid that does not name `validation` holds out 5,000 training images; `repeats` at the top
/// level is read.
#[test]
fn grids_validate_on_a_holdout_by_default_and_read_repeats() {
    let grid = parse(
        "name = \"g\"\nrepeats = 3\n[fixed]\nmodel = \"cnn\"\nlayer1 = 4\ndense = 8\n",
        "g.toml",
    )
    .unwrap();
    assert_eq!(grid.jobs[0].train.validation, Validation::Holdout(5000));
    assert_eq!(grid.repeats, Some(3));
    let err = parse(
        "name = \"g\"\nrepeats = 0\n[fixed]\nlayer1 = 4\ndense = 8\n",
        "g.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("g.toml:2") && err.contains("repeats"), "{err}");
}

/// A grid file in a temporary folder with `data/train.csv` beside it.
fn grid_with_data(text: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("data")).unwrap();
    std::fs::write(tmp.path().join("data/train.csv"), "label,pixel1\n0,1\n").unwrap();
    let path = tmp.path().join("own.toml");
    std::fs::write(&path, text).unwrap();
    (tmp, path)
}

const OWN: &str = r#"[datasets.shoes]
format = "csv"
train = "data/train.csv"
test_split = 0.2
size = [32, 32]
channels = 3

[fixed]
dense = 8
[axes]
dataset = ["shoes", "mnist"]
layer1 = [16, 32]
[constraints]
rules = ["params <= 200000"]
"#;

/// A user's data set of 32x32x3 images in 5 classes whose content hash is `sha`.
fn shoes(sha: &str) -> tune_spec::UserData {
    tune_spec::UserData {
        sha256: sha.into(),
        input: tune_spec::InputShape {
            height: 32,
            width: 32,
            channels: 3,
            classes: 5,
        },
        classes: (0..5).map(|c| c.to_string()).collect(),
        source: None,
    }
}

#[test]
fn own_data_sets_resolve_once_set_the_shape_and_enter_the_key() {
    let (_tmp, path) = grid_with_data(OWN);
    let mut calls = Vec::new();
    let grid = tune_grid::load_with(&path, &mut |name, spec| {
        calls.push((name.to_string(), spec.clone()));
        Ok(shoes("aa"))
    })
    .unwrap();
    assert_eq!(calls.len(), 1, "decoded once");
    let (name, spec) = &calls[0];
    assert_eq!(name, "shoes");
    assert_eq!(spec.format, tune_spec::Format::Csv);
    assert_eq!(spec.train, [path.parent().unwrap().join("data/train.csv")]);
    assert_eq!(spec.test, tune_spec::TestSet::Split(0.2));
    assert_eq!((spec.size, spec.channels), (Some((32, 32)), Some(3)));
    assert_eq!(grid.datasets.len(), 1);

    let on =
        |d: &str| -> Vec<&JobSpec> { grid.jobs.iter().filter(|j| j.train.dataset == d).collect() };
    // On 32x32x3 images layer1 = 32 has 231,349 parameters, over the budget; on 28x28x1 it has
    // 173,474 and fits.
    let shoes_jobs = on("shoes");
    assert_eq!(shoes_jobs.len(), 1);
    assert_eq!(shoes_jobs[0].model.filters, [16]);
    assert_eq!(shoes_jobs[0].input_shape(), shoes("aa").input);
    assert_eq!(on("mnist").len(), 2);
    assert!(on("mnist").iter().all(|j| j.train.data.is_none()));

    // The key follows the content hash, not where the files are.
    let other = tune_grid::load_with(&path, &mut |_, _| Ok(shoes("bb"))).unwrap();
    let key = |g: &Grid| {
        g.jobs
            .iter()
            .find(|j| j.train.dataset == "shoes")
            .unwrap()
            .key()
    };
    assert_ne!(key(&grid), key(&other));
    let mut moved = shoes("aa");
    moved.source = Some(tune_spec::DataSpec::new(
        tune_spec::Format::Csv,
        "/elsewhere/train.csv",
        "/elsewhere/test.csv",
    ));
    let mut job = grid.jobs[0].clone();
    let before = job.key();
    job.train.data = Some(Box::new(moved));
    assert_eq!(job.key(), before);
    assert!(job.canonical_json().contains("/elsewhere/train.csv"));
}

#[test]
fn bad_data_set_tables_name_the_file_line_and_key() {
    let cases: [(&str, &str, &[&str]); 6] = [
        (
            "format = \"csv\"",
            "format = \"png\"",
            &["own.toml:2", "datasets.shoes.format", "`png`"],
        ),
        (
            "train = \"data/train.csv\"",
            "train = \"data/none.csv\"",
            &[
                "own.toml:3",
                "datasets.shoes.train",
                "none.csv",
                "does not exist",
            ],
        ),
        (
            "test_split = 0.2",
            "test_split = 1.5",
            &["datasets.shoes.test_split", "between 0 and 1"],
        ),
        (
            "test_split = 0.2",
            "",
            &["datasets.shoes.test", "is missing"],
        ),
        (
            "channels = 3",
            "channels = 2",
            &["datasets.shoes.channels", "1 (grayscale) or 3 (RGB)"],
        ),
        (
            "size = [32, 32]",
            "size = [32]",
            &["datasets.shoes.size", "[height, width]"],
        ),
    ];
    for (from, to, fragments) in cases {
        let (_tmp, path) = grid_with_data(&OWN.replacen(from, to, 1));
        let err = tune_grid::load_with(&path, &mut |_, _| Ok(shoes("aa")))
            .expect_err(to)
            .to_string();
        for f in fragments {
            assert!(err.contains(f), "{to}: lacks {f:?}: {err}");
        }
    }
    // A name the grid neither knows nor defines; a built-in name taken.
    let (_tmp, path) = grid_with_data(&OWN.replace("\"shoes\", \"mnist\"", "\"boots\""));
    let err = tune_grid::load_with(&path, &mut |_, _| Ok(shoes("aa"))).unwrap_err();
    assert!(
        err.to_string().contains("unknown data set \"boots\""),
        "{err}"
    );
    assert!(err.to_string().contains("shoes"), "{err}");
    let (_tmp, path) = grid_with_data(&OWN.replace("shoes", "mnist"));
    let err = tune_grid::load_with(&path, &mut |_, _| Ok(shoes("aa"))).unwrap_err();
    assert!(err.to_string().contains("built-in"), "{err}");
    // What the resolver says, at the table.
    let (_tmp, path) = grid_with_data(OWN);
    let err = tune_grid::load_with(&path, &mut |_, _| Err("row 3 is ragged".into())).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("own.toml:1") && msg.contains("data set `shoes`"),
        "{msg}"
    );
    assert!(msg.contains("row 3 is ragged"), "{msg}");
    // Without a resolver, a grid using its own data says so.
    assert!(tune_grid::load(&path).is_err());
}

/// A grid named by a relative path (`tune run grids/own.toml`) still records absolute data paths,
/// so a `tune worker` started in another directory finds the files.
#[test]
fn own_data_paths_are_absolute_when_the_grid_path_is_relative() {
    let (_tmp, path) = grid_with_data(OWN);
    // The same grid file, named relative to the working directory.
    let cwd = std::env::current_dir().unwrap();
    let up = "../".repeat(cwd.components().count() - 1);
    let relative = format!("{up}{}", path.strip_prefix("/").unwrap().display());
    let text = std::fs::read_to_string(&path).unwrap();
    let mut seen = Vec::new();
    tune_grid::parse_with(&text, &relative, &mut |_, spec| {
        seen.push(spec.train.clone());
        Ok(shoes("aa"))
    })
    .unwrap();
    let train = &seen[0][0];
    assert!(train.is_absolute(), "{}", train.display());
    assert_eq!(
        train.canonicalize().unwrap(),
        path.parent()
            .unwrap()
            .join("data/train.csv")
            .canonicalize()
            .unwrap()
    );
}
