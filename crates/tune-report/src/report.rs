//! The ranking report: finished jobs folded into configurations (a job's seeds), grouped by some
//! hyperparameters, sorted, cut to the top N, with per-group statistics. Plain data; `render` turns
//! it into text.

use crate::field::{Field, FieldValue, SortKey, TRAINING_SETTINGS, field_varies, job_label};
use crate::stats::{self, Summary};
use crate::{ReportError, ResultRow};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use tune_spec::{JobSpec, ModelKind};

/// What to report: `tune report [--by FIELD,...] [--top N] [--sort FIELD]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportOptions {
    /// Group by these fields (their value tuple); no grouping when empty.
    pub by: Vec<Field>,
    /// Keep the first N rows of each group (all when `None`). Statistics cover every row.
    pub top: Option<usize>,
    /// Order of the rows within each group.
    pub sort: SortKey,
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
    /// Warnings about the summary: groups that pool jobs whose settings (other than the grouping
    /// fields, the architecture within the group and the seed) differ, e.g. two training-set sizes
    /// in one depth. Tables print them under the summary.
    pub notes: Vec<String>,
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
    /// Sample standard deviation of the test accuracy (`null` for one job).
    pub accuracy_sd: Option<f64>,
    /// Mean test loss.
    pub loss: f64,
    /// Mean runtime in seconds.
    pub runtime_s: f64,
    /// Mean runtime in minutes (`runtime_s / 60`).
    pub runtime_min: f64,
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
    /// Test accuracy over the group's jobs: n, mean, sample sd, min, max.
    pub accuracy: Summary,
    /// The configuration with the highest mean accuracy.
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
            let mut index: HashMap<String, usize> = HashMap::with_capacity(rows.len());
            for row in rows {
                let mut spec = row.spec.clone();
                spec.train.seed = 0;
                let id = spec.canonical_json();
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

        let mut built: Vec<ReportRow> = configs
            .iter()
            .map(|c| config_row(c, &label_fields))
            .collect();

        // Group, in order of the grouping values.
        let mut grouped: BTreeMap<Vec<FieldValue>, Vec<usize>> = BTreeMap::new();
        for (i, row) in built.iter().enumerate() {
            let key: Vec<FieldValue> = options.by.iter().map(|f| f.value(&row.spec)).collect();
            grouped.entry(key).or_default().push(i);
        }

        let repeats = built.iter().any(|r| r.n > 1);
        let mut groups = Vec::with_capacity(grouped.len());
        let mut summary = Vec::new();
        let mut slots: Vec<Option<ReportRow>> = built.drain(..).map(Some).collect();
        let mut notes = Vec::new();
        for (values, members) in grouped {
            let label = group_label(&options.by, &values);
            let mut members: Vec<ReportRow> = members
                .into_iter()
                .map(|i| slots[i].take().expect("each row is in one group"))
                .collect();
            let jobs: usize = members.iter().map(|r| r.n).sum();
            if !options.by.is_empty() {
                if let Some(note) = pooling_note(&options.by, &label, &members) {
                    notes.push(note);
                }
                let accuracies: Vec<f64> = members
                    .iter()
                    .flat_map(|r| r.accuracies.iter().copied())
                    .collect();
                let best = members
                    .iter()
                    .min_by(|a, b| by_accuracy(a, b))
                    .expect("a group has a row")
                    .clone();
                summary.push(GroupSummary {
                    label: label.clone(),
                    values: values.clone(),
                    configurations: members.len(),
                    accuracy: Summary::of(&accuracies).expect("a group has a job"),
                    best: ReportRow { rank: 1, ..best },
                });
            }
            sort_rows(&mut members, options.sort);
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
            });
        }

        Ok(Report {
            by: options.by.clone(),
            sort: options.sort,
            top: options.top,
            jobs: rows.len(),
            configurations: configs.len(),
            per_configuration,
            repeats,
            varying,
            groups,
            summary,
            notes,
        })
    }
}

fn config_row(c: &Config<'_>, label_fields: &[Field]) -> ReportRow {
    let first = c.jobs[0];
    let acc: Vec<f64> = c.jobs.iter().map(|j| j.accuracy).collect();
    let loss: Vec<f64> = c.jobs.iter().map(|j| j.loss).collect();
    let runtime: Vec<f64> = c.jobs.iter().map(|j| j.runtime_s).collect();
    let mut sweeps: Vec<String> = c.jobs.iter().filter_map(|j| j.sweep.clone()).collect();
    sweeps.sort();
    sweeps.dedup();
    let runtime_s = stats::mean(&runtime).unwrap_or(f64::NAN);
    ReportRow {
        rank: 0,
        label: config_label(&first.spec, label_fields),
        spec: first.spec.clone(),
        keys: c.jobs.iter().map(|j| j.key.clone()).collect(),
        seeds: c.jobs.iter().map(|j| j.spec.train.seed).collect(),
        sweeps,
        params: first.params,
        n: c.jobs.len(),
        accuracy: stats::mean(&acc).unwrap_or(f64::NAN),
        accuracy_sd: stats::sample_sd(&acc),
        accuracies: acc,
        loss: stats::mean(&loss).unwrap_or(f64::NAN),
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
const POOLING_SETTINGS: &[Field] = &[
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

/// A note when the rows of group `label` differ in a setting other than the grouping fields.
fn pooling_note(by: &[Field], label: &str, members: &[ReportRow]) -> Option<String> {
    let specs: Vec<&JobSpec> = members.iter().map(|r| &r.spec).collect();
    let mut differing = Vec::new();
    for &f in POOLING_SETTINGS {
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

fn by_accuracy(a: &ReportRow, b: &ReportRow) -> Ordering {
    b.accuracy
        .total_cmp(&a.accuracy)
        .then_with(|| a.keys.cmp(&b.keys))
}

enum SortValue {
    Num(f64),
    Value(FieldValue),
}

fn sort_rows(rows: &mut Vec<ReportRow>, key: SortKey) {
    // Compute each row's sort value once (a field value may allocate), then sort indices.
    let values: Vec<SortValue> = rows
        .iter()
        .map(|r| match key {
            SortKey::Accuracy => SortValue::Num(-r.accuracy),
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
        primary.then_with(|| by_accuracy(&rows[i], &rows[j]))
    });
    let mut slots: Vec<Option<ReportRow>> = rows.drain(..).map(Some).collect();
    rows.extend(order.into_iter().map(|i| slots[i].take().expect("once")));
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
