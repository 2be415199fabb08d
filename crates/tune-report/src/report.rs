//! The ranking report: finished jobs folded into configurations (a job's seeds), grouped by some
//! hyperparameters, sorted, cut to the top N, with per-group statistics. Plain data; `render` turns
//! it into text.

use crate::field::{Field, FieldValue, SortKey, TRAINING_SETTINGS, field_varies, job_label};
use crate::rank::{Ranked, compare_by, compare_rows, key, rank_accuracy};
use crate::stats::{self, Interval, Summary, TestResult};
use crate::{ReportError, ResultRow};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use tune_spec::{JobSpec, ModelKind, ModelSpec, Predictions, TrainSpec, Validation};

/// Significance level of the tie tests when none is given (`--alpha`).
pub const DEFAULT_ALPHA: f64 = 0.05;

/// Confidence level of every interval.
pub const LEVEL: f64 = 0.95;

/// What to report: `tune report [--by FIELD,...] [--top N] [--sort FIELD] [--alpha A]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOptions {
    /// Group by these fields (their value tuple); no grouping when empty.
    pub by: Vec<Field>,
    /// Keep the first N rows of each group (all when `None`). Statistics cover every row.
    pub top: Option<usize>,
    /// Order of the rows within each group.
    pub sort: SortKey,
    /// Significance level of the tests that mark rows tied with the best (and of the group tests).
    pub alpha: f64,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            by: Vec::new(),
            top: None,
            sort: SortKey::default(),
            alpha: DEFAULT_ALPHA,
        }
    }
}

/// A finished ranking: groups of ranked rows and, when grouped, one summary per group.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The fields the rows are grouped by (empty: one group of everything).
    pub by: Vec<Field>,
    /// What the rows are sorted by.
    pub sort: SortKey,
    /// The `--top` cut, if any.
    pub top: Option<usize>,
    /// Finished jobs reported on.
    pub jobs: usize,
    /// Distinct configurations among them (jobs that differ only in their seed are one configuration).
    pub configurations: usize,
    /// Whether a row stands for a configuration (all its seeds) rather than a single job. False when
    /// grouping or sorting by `seed`.
    pub per_configuration: bool,
    /// Whether some row averages more than one job (seeds): tables then show `sd` and `n`.
    pub repeats: bool,
    /// Hyperparameters that take more than one value among the jobs (tables show a column for them).
    pub varying: Vec<Field>,
    /// The groups in order of their values (conv depths 1, 2, 3, then `ann`).
    pub groups: Vec<Group>,
    /// One per group when grouped (`--by`), empty otherwise.
    pub summary: Vec<GroupSummary>,
    /// Significance level of the tie and group tests.
    pub alpha: f64,
    /// The split whose accuracy ranks the rows and decides ties: `val` (each job's validation
    /// split) or `test` (`--sort test_accuracy`).
    pub rank_split: &'static str,
    /// Whether the ranking and the reported test accuracy come from the same test split (every job
    /// validated on it, or `--sort test_accuracy`): the top rows' test accuracy is then optimistic.
    pub ranked_on_test: bool,
    /// Pairwise Welch tests between the groups on their configurations' mean test accuracies,
    /// Holm-corrected (grouped reports with at least two groups of two or more configurations).
    pub group_tests: Vec<GroupTest>,
    /// One line summing up [`Report::group_tests`], e.g. `2 layers > 3 layers (p = 0.003); ...`.
    pub verdict: Option<String>,
    /// Warnings about the summary: groups that pool jobs whose settings (other than the grouping
    /// fields, the architecture within the group and the seed) differ, e.g. two training-set sizes
    /// in one depth. Tables print them under the summary.
    pub notes: Vec<String>,
}

/// Whether one row is tied with its group's best (see [`Group::ties`]).
#[derive(Debug, Clone, Serialize)]
pub struct TieTest {
    /// The test: `mcnemar-exact` (one run each: per-image correctness of the two configurations'
    /// lowest-seed jobs on the ranking split) or `welch` (repeats: the seeds' accuracies).
    pub method: &'static str,
    /// Welch's t, or McNemar's smaller discordant count.
    pub statistic: f64,
    /// Welch's degrees of freedom, or McNemar's number of discordant images.
    pub df: f64,
    /// Two-sided p-value of this comparison.
    pub p: f64,
    /// Holm-adjusted p-value over the group's comparisons with the best.
    pub p_holm: f64,
    /// `p_holm >= alpha`: not significantly worse than the best.
    pub tied: bool,
}

/// The tie tests of one group, for the line under its table.
#[derive(Debug, Clone, Serialize)]
pub struct TieSummary {
    /// Methods used (`mcnemar-exact`, `welch`).
    pub methods: Vec<&'static str>,
    /// Significance level.
    pub alpha: f64,
    /// The split the tests ran on (`val` or `test`).
    pub split: &'static str,
    /// Rows compared with the best.
    pub compared: usize,
    /// Of those, rows not significantly worse than the best.
    pub tied: usize,
    /// Rows that could not be tested (no predictions recorded, or different images).
    pub untested: usize,
    /// Of `untested`, the rows whose per-image predictions are on other images than the best's
    /// (another data set, or another validation split): no paired test exists for them. The
    /// others have no predictions recorded.
    pub other_images: usize,
}

/// A Welch test between two groups' configuration means (`--by` summaries).
#[derive(Debug, Clone, Serialize)]
pub struct GroupTest {
    /// Label of the first group (e.g. `2 layers`).
    pub a: String,
    /// Label of the second group.
    pub b: String,
    /// Mean over the first group's configurations of their mean test accuracy.
    pub mean_a: f64,
    /// The same for the second group.
    pub mean_b: f64,
    /// Welch's t, degrees of freedom and two-sided p.
    pub test: TestResult,
    /// Holm-adjusted p over every pair.
    pub p_holm: f64,
    /// `p_holm < alpha`.
    pub significant: bool,
}

/// The rows that share the values of the grouping fields.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// E.g. `layers = 2`, `layers = ann, dataset = mnist`; `all` without grouping.
    pub label: String,
    /// The group's value of each grouping field, in the order of [`Report::by`].
    pub values: Vec<FieldValue>,
    /// Jobs in the group.
    pub jobs: usize,
    /// Rows in the group before the `--top` cut.
    pub total_rows: usize,
    /// The ranked rows, cut to `--top`.
    pub rows: Vec<ReportRow>,
    /// The tests of every row against the group's best (before the `--top` cut); `None` for a
    /// group of one row.
    pub ties: Option<TieSummary>,
}

/// One configuration (or one job when [`Report::per_configuration`] is false).
#[derive(Debug, Clone, Serialize)]
pub struct ReportRow {
    /// 1-based position in its group.
    pub rank: usize,
    /// Short name of the configuration, e.g. `cnn 64-64/128 k3` (plus varying training settings).
    pub label: String,
    /// The job (for a configuration: its job with the lowest seed; see `seeds`).
    pub spec: JobSpec,
    /// Keys of the jobs, in seed order.
    pub keys: Vec<String>,
    /// Seeds of the jobs, ascending.
    pub seeds: Vec<u64>,
    /// Sweeps the jobs came from, where known (distinct, sorted); omitted from JSON when unknown
    /// (`tune report --sweep NAME` knows it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sweeps: Vec<String>,
    /// Trainable parameters.
    pub params: usize,
    /// Number of jobs averaged.
    pub n: usize,
    /// Test accuracy of each job, in seed order.
    pub accuracies: Vec<f64>,
    /// Mean test accuracy.
    pub accuracy: f64,
    /// Mean test accuracy (the same as `accuracy`, under the name `grid_results` uses).
    pub test_accuracy: f64,
    /// Sample standard deviation of the test accuracy (`null` for one job).
    pub accuracy_sd: Option<f64>,
    /// 95% interval of the test accuracy: Wilson from the test split's size for one job, Student's
    /// t over the seeds for repeats; `null` when unknown (no predictions recorded for one job).
    pub test_ci: Option<Interval>,
    /// Ranking accuracy of each job (last epoch's validation accuracy, else test), in seed order.
    pub val_accuracies: Vec<f64>,
    /// Mean ranking accuracy: what the rows are ranked by.
    pub val_accuracy: f64,
    /// Sample sd of the ranking accuracy (`null` for one job).
    pub val_accuracy_sd: Option<f64>,
    /// 95% interval of the ranking accuracy (as `test_ci`, on the validation split).
    pub val_ci: Option<Interval>,
    /// Images of the validation split (from the recorded predictions), if known.
    pub val_images: Option<usize>,
    /// Images of the test split (from the recorded predictions), if known.
    pub test_images: Option<usize>,
    /// Whether this row is the group's best or not significantly worse than it.
    pub tied: Option<bool>,
    /// The test against the group's best (`null` for the best itself and untested rows).
    pub tie: Option<TieTest>,
    /// Mean test loss.
    pub loss: f64,
    /// Mean runtime in seconds.
    pub runtime_s: f64,
    /// Mean runtime in minutes (`runtime_s / 60`).
    pub runtime_min: f64,
}

impl Ranked for ReportRow {
    fn ranking_accuracy(&self) -> f64 {
        self.val_accuracy
    }
    fn params(&self) -> usize {
        self.params
    }
    fn keys(&self) -> &[String] {
        &self.keys
    }
}

/// Statistics of one group over its jobs (every seed counts once).
#[derive(Debug, Clone, Serialize)]
pub struct GroupSummary {
    /// The group's label, as [`Group::label`].
    pub label: String,
    /// The group's values, as [`Group::values`].
    pub values: Vec<FieldValue>,
    /// Distinct configurations in the group.
    pub configurations: usize,
    /// Test accuracy over the group's jobs (every seed of every configuration): n, mean, sample
    /// sd, min, max.
    pub accuracy: Summary,
    /// The configurations' mean test accuracies (each over its seeds): n (configurations), mean,
    /// sample sd, min, max. What the summary table shows, and what the tests between groups
    /// compare; the same as `accuracy` when every configuration has one job.
    pub configs: Summary,
    /// Mean over the group's configurations of their mean test accuracy (`configs.mean`).
    pub config_mean: f64,
    /// 95% Student-t interval of `config_mean` over the configurations, cut to [0, 1] (`clipped`
    /// says so); `null` for fewer than two configurations.
    pub config_mean_ci: Option<Interval>,
    /// The configuration ranked first (see [`crate::rank`]).
    pub best: ReportRow,
}

struct Config<'a> {
    jobs: Vec<&'a ResultRow>,
}

impl Report {
    /// Builds the report over `rows` (finished jobs, in any order).
    ///
    /// Runs in O(n log n): jobs are folded into configurations through a hash map, grouped through
    /// an ordered map and sorted once per group.
    pub fn build(rows: &[ResultRow], options: &ReportOptions) -> Result<Report, ReportError> {
        if options.top == Some(0) {
            return Err(ReportError::ZeroTop);
        }
        let per_configuration =
            !(options.by.contains(&Field::Seed) || options.sort == SortKey::Field(Field::Seed));

        // Fold jobs into configurations (same JobSpec but for the seed), in order of appearance.
        let mut configs: Vec<Config<'_>> = Vec::new();
        if per_configuration {
            let mut index: HashMap<(u64, u64), usize> = HashMap::with_capacity(rows.len());
            for row in rows {
                let id = configuration_hash(&row.spec);
                let next = configs.len();
                let i = *index.entry(id).or_insert(next);
                if i == next {
                    configs.push(Config { jobs: Vec::new() });
                }
                configs[i].jobs.push(row);
            }
        } else {
            configs.extend(rows.iter().map(|r| Config { jobs: vec![r] }));
        }
        for c in &mut configs {
            c.jobs
                .sort_by(|a, b| (a.spec.train.seed, &a.key).cmp(&(b.spec.train.seed, &b.key)));
        }

        let varying = varying_fields(rows, per_configuration);
        let label_fields: Vec<Field> = label_fields(&varying)
            .into_iter()
            .filter(|f| !options.by.contains(f))
            .collect();

        let built: Vec<ReportRow> = configs
            .iter()
            .map(|c| config_row(c, &label_fields))
            .collect();
        let by_key: HashMap<&str, &ResultRow> = rows.iter().map(|r| (r.key.as_str(), r)).collect();
        let ranked_on_test = options.sort == SortKey::TestAccuracy
            || rows
                .iter()
                .all(|r| r.spec.train.validation == Validation::Test || r.val_accuracy.is_none());
        Ok(assemble(
            built,
            options,
            &by_key,
            Whole {
                jobs: rows.len(),
                configurations: configs.len(),
                per_configuration,
                varying,
                ranked_on_test,
            },
        ))
    }

    /// The report [`Report::build`] makes of the same jobs grouped by `by` (with the same sort
    /// and alpha, no `--top` cut), made from this report's configuration rows instead of the
    /// jobs: for a page that shows a ranking and its per-group summary, the second report costs
    /// a regrouping of the rows, not a second build. `None` unless this report is an ungrouped
    /// ranking of every configuration (no `by`, no `top`, a row per configuration) and `by`
    /// keeps a row per configuration (no `seed`).
    ///
    /// The differences from building it from the jobs: the groups' summaries sum over the rows
    /// in ranking order, not in the jobs' order (equal to rounding); a group's tie tests between single
    /// runs (McNemar's, on per-image predictions) are left untested, as in a build from jobs
    /// without predictions; tests between repeats (Welch's, on the seeds' accuracies) are made.
    /// The rows keep this report's intervals and image counts.
    pub fn regroup(&self, by: &[Field]) -> Option<Report> {
        if !self.by.is_empty()
            || self.top.is_some()
            || !self.per_configuration
            || by.contains(&Field::Seed)
        {
            return None;
        }
        let all = label_fields(&self.varying);
        let shown: Vec<Field> = all.iter().copied().filter(|f| !by.contains(f)).collect();
        let relabel = shown.len() != all.len();
        let mut built: Vec<ReportRow> =
            Vec::with_capacity(self.groups.iter().map(|g| g.rows.len()).sum());
        built.extend(
            self.groups
                .iter()
                .flat_map(|g| g.rows.iter())
                .map(|r| ReportRow {
                    rank: 0,
                    label: if relabel {
                        config_label(&r.spec, &shown)
                    } else {
                        r.label.clone()
                    },
                    tied: None,
                    tie: None,
                    ..r.clone()
                }),
        );
        let options = ReportOptions {
            by: by.to_vec(),
            top: None,
            sort: self.sort,
            alpha: self.alpha,
        };
        Some(assemble(
            built,
            &options,
            &HashMap::new(),
            Whole {
                jobs: self.jobs,
                configurations: self.configurations,
                per_configuration: true,
                varying: self.varying.clone(),
                ranked_on_test: self.ranked_on_test,
            },
        ))
    }
}

/// What [`assemble`] needs to know of all the jobs of a report.
struct Whole {
    jobs: usize,
    configurations: usize,
    per_configuration: bool,
    varying: Vec<Field>,
    ranked_on_test: bool,
}

/// The report of the configuration rows `built` (unranked, in order of appearance): grouped,
/// sorted, tie-tested against each group's best (`by_key`: the jobs, for their per-image
/// predictions), cut to `--top`, with the per-group summaries and the tests between groups.
fn assemble(
    mut built: Vec<ReportRow>,
    options: &ReportOptions,
    by_key: &HashMap<&str, &ResultRow>,
    whole: Whole,
) -> Report {
    // Group, in order of the grouping values.
    let mut grouped: BTreeMap<Vec<FieldValue>, Vec<usize>> = BTreeMap::new();
    for (i, row) in built.iter().enumerate() {
        let key: Vec<FieldValue> = options.by.iter().map(|f| f.value(&row.spec)).collect();
        grouped.entry(key).or_default().push(i);
    }

    let repeats = built.iter().any(|r| r.n > 1);
    let test_sort = options.sort == SortKey::TestAccuracy;
    let rank_split = if test_sort { "test" } else { "val" };
    let mut groups = Vec::with_capacity(grouped.len());
    let mut summary = Vec::new();
    let mut config_means: Vec<Vec<f64>> = Vec::new();
    // Rows are moved into their groups; one group (no `by`) takes them all as they are (a
    // ranking of 10,000 configurations is megabytes of rows: they are not copied).
    let one_group = grouped.len() == 1;
    let mut slots: Vec<Option<ReportRow>> = if one_group {
        Vec::new()
    } else {
        built.drain(..).map(Some).collect()
    };
    let mut notes = Vec::new();
    for (values, members) in grouped {
        let label = group_label(&options.by, &values);
        let mut members: Vec<ReportRow> = if one_group {
            std::mem::take(&mut built)
        } else {
            members
                .into_iter()
                .map(|i| slots[i].take().expect("each row is in one group"))
                .collect()
        };
        let jobs: usize = members.iter().map(|r| r.n).sum();
        if !options.by.is_empty() {
            if let Some(note) = pooling_note(&options.by, &label, &members) {
                notes.push(note);
            }
            let accuracies: Vec<f64> = members
                .iter()
                .flat_map(|r| r.accuracies.iter().copied())
                .collect();
            // The summary's best is the table's: the ranking's, or the test split's under
            // `--sort test_accuracy`.
            let best = if test_sort {
                let mut sorted = members.clone();
                sort_rows(&mut sorted, options.sort);
                sorted.swap_remove(0)
            } else {
                members
                    .iter()
                    .min_by(compare_rows)
                    .expect("a group has a row")
                    .clone()
            };
            let config_means_here: Vec<f64> = members.iter().map(|r| r.accuracy).collect();
            config_means.push(config_means_here.clone());
            summary.push(GroupSummary {
                label: label.clone(),
                values: values.clone(),
                configurations: members.len(),
                accuracy: Summary::of(&accuracies).expect("a group has a job"),
                configs: Summary::of(&config_means_here).expect("a group has a row"),
                config_mean: stats::mean(&config_means_here).unwrap_or(f64::NAN),
                config_mean_ci: stats::t_interval(&config_means_here, LEVEL)
                    .map(|i| i.within(0.0, 1.0)),
                best: ReportRow { rank: 1, ..best },
            });
        }
        sort_rows(&mut members, options.sort);
        let ties = mark_ties(&mut members, by_key, test_sort, options.alpha);
        let total_rows = members.len();
        if let Some(top) = options.top {
            members.truncate(top);
        }
        for (i, r) in members.iter_mut().enumerate() {
            r.rank = i + 1;
        }
        groups.push(Group {
            label,
            values,
            jobs,
            total_rows,
            rows: members,
            ties,
        });
    }
    let (group_tests, verdict) = group_tests(&options.by, &summary, &config_means, options.alpha);

    Report {
        by: options.by.clone(),
        sort: options.sort,
        top: options.top,
        jobs: whole.jobs,
        configurations: whole.configurations,
        per_configuration: whole.per_configuration,
        repeats,
        varying: whole.varying,
        groups,
        summary,
        alpha: options.alpha,
        rank_split,
        ranked_on_test: whole.ranked_on_test,
        group_tests,
        verdict,
        notes,
    }
}

/// Identity of the configuration of `spec` (the job but for its seed): a 128-bit hash of every
/// setting [`JobSpec::canonical_json`] keeps but the seed (an ANN's kernel as 0, as there),
/// written field by field into two SipHash hashers (floats by their bits, a user data set's
/// description as its JSON), so that no string is made per job. Equal configurations have equal
/// hashes; two different ones share a hash with odds of about 2^-128 a pair. The fields are
/// destructured, so that a setting added to [`ModelSpec`] or [`TrainSpec`] fails to compile
/// here until it is hashed (or named as not part of a configuration, as the seed).
fn configuration_hash(spec: &JobSpec) -> (u64, u64) {
    use std::hash::{Hash, Hasher};
    let ModelSpec {
        kind,
        filters,
        kernel,
        dense,
        dropout,
        l2,
    } = &spec.model;
    let TrainSpec {
        dataset,
        epochs,
        batch,
        lr,
        rho,
        eps,
        seed: _,
        train_images,
        validation,
        data,
    } = &spec.train;
    let data = data
        .as_ref()
        .map(|d| serde_json::to_string(d).expect("serialises"));
    let feed = |h: &mut std::hash::DefaultHasher| {
        kind.hash(h);
        filters.hash(h);
        (if *kind == ModelKind::Ann { 0 } else { *kernel }).hash(h);
        dense.hash(h);
        for x in [dropout, l2, lr, rho, eps] {
            x.to_bits().hash(h);
        }
        dataset.hash(h);
        epochs.hash(h);
        batch.hash(h);
        train_images.hash(h);
        validation.hash(h);
        data.hash(h);
    };
    let mut first = std::hash::DefaultHasher::new();
    let mut second = std::hash::DefaultHasher::new();
    second.write_u64(0x7475_6e65_636f_6e66);
    feed(&mut first);
    feed(&mut second);
    (first.finish(), second.finish())
}

/// McNemar's discordant pairs of two predictions of the same images (`labels`, one byte each;
/// `a` and `b` as long): the images only `a` classified right and those only `b` did. Counted
/// without a branch per image, in blocks whose counts fit a byte, so that the compiler can
/// vectorise it (it is run once per configuration of a ranked group).
pub(crate) fn discordant(a: &[u8], b: &[u8], labels: &[u8]) -> (u64, u64) {
    let n = a.len().min(b.len()).min(labels.len());
    let (mut only_a, mut only_b) = (0u64, 0u64);
    for start in (0..n).step_by(255) {
        let end = (start + 255).min(n);
        let (mut block_a, mut block_b) = (0u8, 0u8);
        for ((&pa, &pb), &l) in a[start..end]
            .iter()
            .zip(&b[start..end])
            .zip(&labels[start..end])
        {
            let (ca, cb) = (u8::from(pa == l), u8::from(pb == l));
            block_a += ca & (cb ^ 1);
            block_b += cb & (ca ^ 1);
        }
        only_a += u64::from(block_a);
        only_b += u64::from(block_b);
    }
    (only_a, only_b)
}

/// Marks each row of a ranked group as tied with the best or not (see [`TieTest`]) and returns
/// the group's summary of the tests. The best is the first row by the ranking split's accuracy.
fn mark_ties(
    members: &mut [ReportRow],
    by_key: &HashMap<&str, &ResultRow>,
    test_split: bool,
    alpha: f64,
) -> Option<TieSummary> {
    if members.len() < 2 {
        if let Some(r) = members.first_mut() {
            r.tied = Some(true);
        }
        return None;
    }
    let acc = |r: &ReportRow| {
        if test_split {
            r.accuracy
        } else {
            r.val_accuracy
        }
    };
    let best_i = (0..members.len())
        .min_by(|&i, &j| compare_by(acc(&members[i]), &members[i], acc(&members[j]), &members[j]))
        .expect("two rows or more");
    let split_of = |r: &ReportRow| -> Vec<f64> {
        if test_split {
            r.accuracies.clone()
        } else {
            r.val_accuracies.clone()
        }
    };
    let predictions = |r: &ReportRow| -> Option<&Predictions> {
        let job = by_key.get(r.keys[0].as_str())?;
        if test_split {
            job.test_predictions.as_ref()
        } else {
            job.val_predictions.as_ref()
        }
    };
    let best = &members[best_i];
    let mut tests: Vec<(usize, TestResult)> = Vec::new();
    let mut untested = 0;
    let mut other_images = 0;
    for (i, r) in members.iter().enumerate() {
        if i == best_i {
            continue;
        }
        let result = if best.n >= 2 && r.n >= 2 {
            stats::welch(&split_of(best), &split_of(r))
        } else {
            match (predictions(best), predictions(r)) {
                (Some(a), Some(b))
                    if a.labels == b.labels
                        && a.predicted.len() == b.predicted.len()
                        && !a.is_empty() =>
                {
                    let (only_a, only_b) = discordant(&a.predicted, &b.predicted, &a.labels);
                    Some(stats::mcnemar_exact(only_a, only_b))
                }
                (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => {
                    other_images += 1;
                    None
                }
                _ => None,
            }
        };
        match result {
            Some(t) => tests.push((i, t)),
            None => untested += 1,
        }
    }
    let adjusted = stats::holm(&tests.iter().map(|(_, t)| t.p).collect::<Vec<_>>());
    let mut methods: Vec<&'static str> = Vec::new();
    let mut tied = 0;
    for ((i, t), p_holm) in tests.iter().zip(adjusted) {
        let is_tied = p_holm >= alpha;
        tied += usize::from(is_tied);
        if !methods.contains(&t.method) {
            methods.push(t.method);
        }
        members[*i].tied = Some(is_tied);
        members[*i].tie = Some(TieTest {
            method: t.method,
            statistic: t.statistic,
            df: t.df,
            p: t.p,
            p_holm,
            tied: is_tied,
        });
    }
    members[best_i].tied = Some(true);
    Some(TieSummary {
        methods,
        alpha,
        split: if test_split { "test" } else { "val" },
        compared: tests.len(),
        tied,
        untested,
        other_images,
    })
}

/// How a group is named in the verdict: `2 layers`, `1 layer`, `ann`, or its label.
fn group_name(by: &[Field], values: &[FieldValue], label: &str) -> String {
    match (by, values) {
        ([Field::Layers], [FieldValue::Int(1)]) => "1 layer".to_string(),
        ([Field::Layers], [FieldValue::Int(n)]) => format!("{n} layers"),
        ([_], [v]) => v.display(),
        _ => label.to_string(),
    }
}

/// `p = 0.003`, `p = 0.21`, `p < 0.001`.
pub(crate) fn format_p(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".to_string()
    } else if p < 0.1 {
        format!("p = {p:.3}")
    } else {
        format!("p = {p:.2}")
    }
}

/// Pairwise Welch tests between groups on their configurations' mean test accuracies, Holm
/// corrected, and the verdict line. Groups with fewer than two configurations are left out, and so
/// are pairs of groups on different data sets (accuracies on different images do not compare):
/// grouped by data set alone, nothing is tested.
fn group_tests(
    by: &[Field],
    summary: &[GroupSummary],
    config_means: &[Vec<f64>],
    alpha: f64,
) -> (Vec<GroupTest>, Option<String>) {
    // Every configuration of a group counts, also those a --top cut hides.
    let dataset = by.iter().position(|f| *f == Field::Dataset);
    let kept: Vec<(String, Vec<f64>, Option<&FieldValue>)> = summary
        .iter()
        .zip(config_means)
        .map(|(s, m)| {
            let data = dataset.and_then(|d| s.values.get(d));
            (group_name(by, &s.values, &s.label), m.clone(), data)
        })
        .filter(|(_, m, _)| m.len() >= 2)
        .collect();
    let means: Vec<(String, Vec<f64>)> = kept
        .iter()
        .map(|(n, m, _)| (n.clone(), m.clone()))
        .collect();
    let mut pairs = Vec::new();
    for i in 0..means.len() {
        for j in i + 1..means.len() {
            if kept[i].2 != kept[j].2 {
                continue;
            }
            if let Some(t) = stats::welch(&means[i].1, &means[j].1) {
                pairs.push((i, j, t));
            }
        }
    }
    if pairs.is_empty() {
        return (Vec::new(), None);
    }
    let adjusted = stats::holm(&pairs.iter().map(|(_, _, t)| t.p).collect::<Vec<_>>());
    let mut tests = Vec::new();
    let mut phrases = Vec::new();
    for ((i, j, t), p_holm) in pairs.into_iter().zip(adjusted) {
        let (ma, mb) = (
            stats::mean(&means[i].1).unwrap_or(f64::NAN),
            stats::mean(&means[j].1).unwrap_or(f64::NAN),
        );
        let significant = p_holm < alpha;
        let (a, b) = (&means[i].0, &means[j].0);
        phrases.push(if significant {
            let (hi, lo) = if ma >= mb { (a, b) } else { (b, a) };
            format!("{hi} > {lo} ({})", format_p(p_holm))
        } else {
            format!(
                "{a} vs {b}: no significant difference ({})",
                format_p(p_holm)
            )
        });
        tests.push(GroupTest {
            a: a.clone(),
            b: b.clone(),
            mean_a: ma,
            mean_b: mb,
            test: t,
            p_holm,
            significant,
        });
    }
    (tests, Some(phrases.join("; ")))
}

fn config_row(c: &Config<'_>, label_fields: &[Field]) -> ReportRow {
    let first = c.jobs[0];
    let acc: Vec<f64> = c.jobs.iter().map(|j| j.accuracy).collect();
    let val: Vec<f64> = c.jobs.iter().map(|j| rank_accuracy(j)).collect();
    let mean_of =
        |f: fn(&ResultRow) -> f64| c.jobs.iter().map(|j| f(j)).sum::<f64>() / c.jobs.len() as f64;
    let mut sweeps: Vec<&String> = c.jobs.iter().filter_map(|j| j.sweep.as_ref()).collect();
    sweeps.sort();
    sweeps.dedup();
    let sweeps: Vec<String> = sweeps.into_iter().cloned().collect();
    let runtime_s = mean_of(|j| j.runtime_s);
    let accuracy = stats::mean(&acc).unwrap_or(f64::NAN);
    let val_accuracy = stats::mean(&val).unwrap_or(f64::NAN);
    let val_images = first.val_predictions.as_ref().map(Predictions::len);
    let test_images = first
        .test_predictions
        .as_ref()
        .map(Predictions::len)
        .or(first.test_images);
    let interval = |values: &[f64], mean: f64, images: Option<usize>| {
        if values.len() >= 2 {
            stats::t_interval(values, LEVEL).map(|i| i.within(0.0, 1.0))
        } else {
            images.and_then(|n| stats::wilson(mean, n, LEVEL))
        }
    };
    ReportRow {
        rank: 0,
        label: config_label(&first.spec, label_fields),
        spec: first.spec.clone(),
        keys: c.jobs.iter().map(|j| j.key.clone()).collect(),
        seeds: c.jobs.iter().map(|j| j.spec.train.seed).collect(),
        sweeps,
        params: first.params,
        n: c.jobs.len(),
        accuracy,
        test_accuracy: accuracy,
        accuracy_sd: stats::sample_sd(&acc),
        test_ci: interval(&acc, accuracy, test_images),
        val_ci: interval(&val, val_accuracy, val_images),
        val_accuracy_sd: stats::sample_sd(&val),
        val_accuracy,
        val_accuracies: val,
        val_images,
        test_images,
        tied: None,
        tie: None,
        accuracies: acc,
        loss: mean_of(|j| j.loss),
        runtime_s,
        runtime_min: runtime_s / 60.0,
    }
}

/// The varying fields a configuration's label names beside its model (every training setting
/// that varies, data set included), in the order of [`TRAINING_SETTINGS`].
pub(crate) fn label_fields(varying: &[Field]) -> Vec<Field> {
    TRAINING_SETTINGS
        .iter()
        .copied()
        .filter(|f| varying.contains(f))
        .collect()
}

/// `cnn 64-64/128 k3`, followed by `field=value` for the given training settings.
pub(crate) fn config_label(spec: &JobSpec, fields: &[Field]) -> String {
    job_label(spec, fields)
}

/// Settings whose differences a per-group summary should not hide: everything but the
/// architecture (which a group such as `layers = 2` pools by design) and the seed (repeats).
fn pooling_settings() -> Vec<Field> {
    let mut fields = vec![
        Field::Model,
        Field::Dataset,
        Field::TrainImages,
        Field::Validation,
        Field::Kernel,
    ];
    fields.extend(Field::HYPER);
    fields.push(Field::Epochs);
    fields
}

/// A note when the rows of group `label` differ in a setting other than the grouping fields.
fn pooling_note(by: &[Field], label: &str, members: &[ReportRow]) -> Option<String> {
    let specs: Vec<&JobSpec> = members.iter().map(|r| &r.spec).collect();
    let mut differing = Vec::new();
    for f in pooling_settings() {
        let stated = by.contains(&f) || (f == Field::Model && by.contains(&Field::Layers));
        if stated || !field_varies(f, specs.iter().copied()) {
            continue;
        }
        let mut values: Vec<FieldValue> = specs.iter().map(|s| f.value(s)).collect();
        values.sort();
        values.dedup();
        let shown: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        differing.push((f, shown.join(", ")));
    }
    if differing.is_empty() {
        return None;
    }
    let what: Vec<String> = differing
        .iter()
        .map(|(f, v)| format!("{f} ({v})"))
        .collect();
    let by_names: Vec<String> = by.iter().map(|f| f.name()).collect();
    let first = differing[0].0;
    Some(format!(
        "{label} pools jobs with different {}; separate them with `--where {first}=VALUE` \
         (or, in `tune report`, `--by {},{first}`)",
        what.join(", "),
        by_names.join(",")
    ))
}

fn group_label(by: &[Field], values: &[FieldValue]) -> String {
    if by.is_empty() {
        return "all".to_string();
    }
    by.iter()
        .zip(values)
        .map(|(f, v)| format!("{f} = {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The fields, among those a table may show, that take more than one value. Model and data set
/// count over all jobs; the others within each model family, since the families differ by design
/// (the ANN has no kernel and no L2).
fn varying_fields(rows: &[ResultRow], per_configuration: bool) -> Vec<Field> {
    let mut candidates = vec![
        Field::Model,
        Field::Dataset,
        Field::TrainImages,
        Field::Validation,
        Field::Kernel,
        Field::Dropout,
        Field::L2,
        Field::Lr,
        Field::Rho,
        Field::Eps,
        Field::Batch,
        Field::Epochs,
    ];
    if !per_configuration {
        candidates.push(Field::Seed);
    }
    candidates
        .into_iter()
        .filter(|&f| field_varies(f, rows.iter().map(|r| &r.spec)))
        .collect()
}

/// `-v`, with NaN last.
fn descending(v: f64) -> f64 {
    if v.is_nan() { f64::INFINITY } else { -v }
}

enum SortValue {
    Num(f64),
    Value(FieldValue),
}

fn sort_rows(rows: &mut [ReportRow], key: SortKey) {
    // Compute each row's sort value once (a field value may allocate), then sort indices.
    let values: Vec<SortValue> = rows
        .iter()
        .map(|r| match key {
            SortKey::Accuracy => SortValue::Num(descending(r.val_accuracy)),
            SortKey::TestAccuracy => SortValue::Num(descending(r.accuracy)),
            SortKey::Loss => SortValue::Num(r.loss),
            SortKey::Runtime => SortValue::Num(r.runtime_s),
            SortKey::Params => SortValue::Num(r.params as f64),
            SortKey::Field(f) => SortValue::Value(f.value(&r.spec)),
        })
        .collect();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&i, &j| {
        let primary = match (&values[i], &values[j]) {
            (SortValue::Num(a), SortValue::Num(b)) => a.total_cmp(b),
            (SortValue::Value(a), SortValue::Value(b)) => a.cmp(b),
            _ => Ordering::Equal,
        };
        primary.then_with(|| compare_rows(&rows[i], &rows[j]))
    });
    permute(rows, order);
}

/// Reorders `items` in place so that position `i` holds the item that was at `order[i]` (`order`
/// a permutation of the positions): each cycle of the permutation is followed with swaps, so no
/// item is copied to new memory.
fn permute<T>(items: &mut [T], mut order: Vec<usize>) {
    for start in 0..items.len() {
        // Position `start` takes the item at order[start], which takes the one at its own
        // order, and so on round the cycle; each position done is marked as its own source.
        let mut at = start;
        while order[at] != start {
            let from = order[at];
            items.swap(at, from);
            order[at] = at;
            at = from;
        }
        order[at] = at;
    }
}

/// Largest conv depth among `rows` (0 when all are ANNs).
pub(crate) fn max_depth<'a>(specs: impl IntoIterator<Item = &'a JobSpec>) -> usize {
    specs
        .into_iter()
        .filter(|s| s.model.kind == ModelKind::Cnn)
        .map(|s| s.model.filters.len())
        .max()
        .unwrap_or(0)
}

/// The best job among `rows`: the best job of the best configuration, as `tune report` ranks them.
/// `None` when `rows` is empty.
pub fn best_job(rows: &[ResultRow]) -> Option<&ResultRow> {
    let report = Report::build(rows, &ReportOptions::default()).ok()?;
    let top = report
        .groups
        .iter()
        .flat_map(|g| g.rows.iter())
        .min_by(compare_rows)?;
    rows.iter()
        .filter(|r| top.keys.contains(&r.key))
        .min_by(|a, b| {
            key(rank_accuracy(b))
                .total_cmp(&key(rank_accuracy(a)))
                .then(a.spec.train.seed.cmp(&b.spec.train.seed))
                .then_with(|| a.key.cmp(&b.key))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The discordant pairs counted image by image, as McNemar's test defines them.
    fn naive(a: &[u8], b: &[u8], labels: &[u8]) -> (u64, u64) {
        let (mut only_a, mut only_b) = (0, 0);
        for i in 0..labels.len() {
            match (a[i] == labels[i], b[i] == labels[i]) {
                (true, false) => only_a += 1,
                (false, true) => only_b += 1,
                _ => {}
            }
        }
        (only_a, only_b)
    }

    #[test]
    fn discordant_pairs_are_counted_as_image_by_image() {
        // A fixed pseudo-random sequence (xorshift) over 10 classes, lengths across the blocks
        // of 255 images.
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 10) as u8
        };
        for n in [0, 1, 254, 255, 256, 1000, 5000] {
            let labels: Vec<u8> = (0..n).map(|_| next()).collect();
            let a: Vec<u8> = labels
                .iter()
                .map(|&l| if next() < 8 { l } else { next() })
                .collect();
            let b: Vec<u8> = labels
                .iter()
                .map(|&l| if next() < 7 { l } else { next() })
                .collect();
            assert_eq!(
                discordant(&a, &b, &labels),
                naive(&a, &b, &labels),
                "n = {n}"
            );
        }
        // Every image discordant the same way: a block's count reaches 255 without wrapping.
        let labels = vec![3u8; 1021];
        let wrong = vec![4u8; 1021];
        assert_eq!(discordant(&labels, &wrong, &labels), (1021, 0));
        assert_eq!(discordant(&wrong, &labels, &labels), (0, 1021));
    }

    #[test]
    fn permute_puts_each_item_where_the_order_says() {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for n in [0usize, 1, 2, 3, 10, 257] {
            // A pseudo-random permutation (Fisher-Yates on a xorshift sequence).
            let mut order: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                order.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let items: Vec<String> = (0..n).map(|i| format!("item {i}")).collect();
            let expected: Vec<String> = order.iter().map(|&i| items[i].clone()).collect();
            let mut got = items.clone();
            permute(&mut got, order);
            assert_eq!(got, expected, "n = {n}");
        }
    }

    #[test]
    fn a_configuration_is_every_setting_but_the_seed() {
        let base = JobSpec {
            model: ModelSpec::cnn(&[16, 32], 64),
            train: TrainSpec::default(),
        };
        let id = configuration_hash(&base);
        let mut other_seed = base.clone();
        other_seed.train.seed += 7;
        assert_eq!(configuration_hash(&other_seed), id);
        type Change = (&'static str, fn(&mut JobSpec));
        let changes: Vec<Change> = vec![
            ("kind", |s| s.model.kind = ModelKind::Ann),
            ("filters", |s| s.model.filters = vec![16, 64]),
            ("depth", |s| s.model.filters = vec![16]),
            ("kernel", |s| s.model.kernel = 5),
            ("dense", |s| s.model.dense = vec![128]),
            ("dropout", |s| s.model.dropout = 0.25),
            ("l2", |s| s.model.l2 = 0.0),
            ("dataset", |s| s.train.dataset = "mnist".into()),
            ("epochs", |s| s.train.epochs += 1),
            ("batch", |s| s.train.batch *= 2),
            ("lr", |s| s.train.lr *= 2.0),
            ("rho", |s| s.train.rho = 0.8),
            ("eps", |s| s.train.eps = 1e-6),
            ("train_images", |s| s.train.train_images = Some(1000)),
            ("validation", |s| {
                s.train.validation = Validation::Holdout(5000)
            }),
        ];
        let mut seen = vec![id];
        for (name, change) in changes {
            let mut s = base.clone();
            change(&mut s);
            let h = configuration_hash(&s);
            assert!(!seen.contains(&h), "{name} changed nothing");
            seen.push(h);
        }
        // An ANN's kernel is not a setting (stored as 0), as in its canonical JSON.
        let mut ann = base.clone();
        ann.model.kind = ModelKind::Ann;
        let mut ann5 = ann.clone();
        ann5.model.kernel = 5;
        assert_eq!(configuration_hash(&ann), configuration_hash(&ann5));
    }
}
