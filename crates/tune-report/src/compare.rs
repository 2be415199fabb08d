//! `tune compare`: the study's conclusion table, the ANN against the best CNN on each data set.
//!
//! ```text
//!              mnist   fashion-mnist  delta_dataset
//! ann          0.98    0.89           mnist − fashion-mnist
//! best cnn     0.99    0.92
//! delta_model  cnn − ann
//! ```
//!
//! A cell is the mean test accuracy of a configuration over its seeds; "best" is the configuration
//! ranked first on that data set by the one ranking of [`crate::rank`] (validation accuracy), so the
//! best CNN may differ between data sets.

use crate::ResultRow;
use crate::field::Field;
use crate::report::{Report, ReportOptions, ReportRow, config_label, label_fields};
use crate::table::{Align, Cell, Column, EMPTY, Format, TableData, to_json};
use serde::Serialize;
use tune_spec::ModelKind;

/// The grid that runs the missing comparison jobs, named in the notes.
pub const COMPARE_GRID: &str = "grids/compare.toml";

/// The data sets the study compares, in column order; `delta_dataset` is the first minus the second.
pub const STUDY_DATASETS: [&str; 2] = [tune_spec::MNIST.name, tune_spec::FASHION_MNIST.name];

/// Whether any of `datasets` is one of the study's (MNIST, Fashion-MNIST): the notes about
/// missing study cells and `grids/compare.toml` apply only then, not to a user's own data set.
fn on_study_data<'a>(mut datasets: impl Iterator<Item = &'a str>) -> bool {
    datasets.any(|d| STUDY_DATASETS.contains(&d))
}

/// The comparison: one row each for the ANN, the best CNN and their difference.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Column order: `mnist`, `fashion-mnist` (when the results include either, or there are
    /// none), then any other data set found, by name.
    pub datasets: Vec<String>,
    /// Rows `ann`, `best cnn` and `delta_model` (best CNN minus ANN).
    pub rows: Vec<CompareRow>,
    /// What is missing and how to get it.
    pub notes: Vec<String>,
}

/// One row of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct CompareRow {
    /// `ann`, `best cnn` or `delta_model`.
    pub name: String,
    /// Mean test accuracy per data set (in [`Comparison::datasets`] order); `null` where missing.
    pub accuracy: Vec<Option<f64>>,
    /// `mnist` minus `fashion-mnist` of this row, `null` where either is missing.
    pub delta_dataset: Option<f64>,
    /// The configuration behind each cell (none for `delta_model`).
    pub configs: Vec<Option<CompareConfig>>,
}

/// The configuration behind a cell of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct CompareConfig {
    /// Short name, e.g. `cnn 64-64/128 k3 epochs=20`.
    pub label: String,
    /// Jobs (seeds) averaged.
    pub n: usize,
    /// Sample sd of their accuracy (`null` for one job).
    pub accuracy_sd: Option<f64>,
    /// Job keys.
    pub keys: Vec<String>,
}

impl Comparison {
    /// Builds the comparison from whatever finished jobs exist.
    pub fn build(rows: &[ResultRow]) -> Comparison {
        let report = Report::build(
            rows,
            &ReportOptions {
                by: vec![Field::Model, Field::Dataset],
                ..ReportOptions::default()
            },
        )
        .expect("no --top cut");

        // The study's two columns when the results include either of them (or there are no
        // results at all, when the notes say how to get them); else only the data sets that have
        // jobs: a user's own data set alone gets no empty MNIST columns.
        let study_columns =
            rows.is_empty() || on_study_data(rows.iter().map(|r| r.spec.train.dataset.as_str()));
        let mut datasets: Vec<String> = if study_columns {
            STUDY_DATASETS.iter().map(|s| s.to_string()).collect()
        } else {
            Vec::new()
        };
        let mut others: Vec<String> = rows
            .iter()
            .map(|r| r.spec.train.dataset.clone())
            .filter(|d| !datasets.contains(d))
            .collect();
        others.sort();
        others.dedup();
        datasets.extend(others);

        // The data set is the column: leave it out of the configurations' names.
        let named: Vec<Field> = label_fields(&report.varying)
            .into_iter()
            .filter(|f| *f != Field::Dataset)
            .collect();
        let best = |kind: ModelKind, dataset: &str| -> Option<&ReportRow> {
            report
                .summary
                .iter()
                .find(|s| s.best.spec.model.kind == kind && s.best.spec.train.dataset == dataset)
                .map(|s| &s.best)
        };
        // `delta_dataset` is MNIST minus Fashion-MNIST: only with the study's columns.
        let delta = |cells: &[Option<f64>]| if study_columns { delta(cells) } else { None };
        let model_row = |kind: ModelKind, name: &str| {
            let cells: Vec<Option<&ReportRow>> = datasets.iter().map(|d| best(kind, d)).collect();
            let accuracy: Vec<Option<f64>> = cells.iter().map(|c| c.map(|r| r.accuracy)).collect();
            CompareRow {
                name: name.to_string(),
                delta_dataset: delta(&accuracy),
                configs: cells
                    .iter()
                    .map(|c| {
                        c.map(|r| CompareConfig {
                            label: config_label(&r.spec, &named),
                            n: r.n,
                            accuracy_sd: r.accuracy_sd,
                            keys: r.keys.clone(),
                        })
                    })
                    .collect(),
                accuracy,
            }
        };
        let ann = model_row(ModelKind::Ann, "ann");
        let cnn = model_row(ModelKind::Cnn, "best cnn");
        let diff: Vec<Option<f64>> = ann
            .accuracy
            .iter()
            .zip(&cnn.accuracy)
            .map(|(a, c)| Some((*c)? - (*a)?))
            .collect();
        let delta_model = CompareRow {
            name: "delta_model".to_string(),
            delta_dataset: delta(&diff),
            configs: vec![None; datasets.len()],
            accuracy: diff,
        };

        let mut notes = Vec::new();
        // No results at all: the study's advice (run the compare grid) applies.
        for (row, what) in [(&ann, "ANN"), (&cnn, "CNN")] {
            for (d, v) in STUDY_DATASETS.iter().zip(&row.accuracy) {
                if study_columns && v.is_none() {
                    notes.push(format!(
                        "no {what} result on {d}: run `tune run {COMPARE_GRID}`"
                    ));
                }
            }
        }
        if report.ranked_on_test && !rows.is_empty() {
            notes.push(
                "the best CNN was chosen on the test split it is reported on: its accuracy is optimistic (validate on a holdout to avoid this)"
                    .to_string(),
            );
        }
        Comparison {
            datasets,
            rows: vec![ann, cnn, delta_model],
            notes,
        }
    }

    /// Replaces the advice of the notes on missing cells: `why(model, dataset)` says why a cell
    /// has no result when its job exists but is not done (it failed, is still running, waits),
    /// `None` keeps "run the compare grid".
    pub fn explain_missing(&mut self, why: impl Fn(ModelKind, &str) -> Option<String>) {
        let mut notes = Vec::new();
        if !on_study_data(self.datasets.iter().map(String::as_str).filter(|d| {
            let i = self.datasets.iter().position(|x| x == d).unwrap_or(0);
            self.rows
                .iter()
                .any(|r| r.accuracy.get(i).is_some_and(Option::is_some))
        })) {
            // Notes about the study's data sets only where the results include them.
            self.notes.retain(|n| !n.starts_with("no "));
            return;
        }
        for (row, kind, what) in [(0, ModelKind::Ann, "ANN"), (1, ModelKind::Cnn, "CNN")] {
            let Some(row) = self.rows.get(row) else {
                continue;
            };
            for (d, v) in STUDY_DATASETS.iter().zip(&row.accuracy) {
                if v.is_none() {
                    notes.push(match why(kind, d) {
                        Some(reason) => format!("no {what} result on {d}: {reason}"),
                        None => format!("no {what} result on {d}: run `tune run {COMPARE_GRID}`"),
                    });
                }
            }
        }
        self.notes = notes;
    }

    /// Whether the columns are the study's (MNIST and Fashion-MNIST first, with
    /// `delta_dataset`), or only other data sets (a user's own).
    pub fn has_study_columns(&self) -> bool {
        self.datasets.len() >= 2 && self.datasets[..2] == STUDY_DATASETS
    }

    /// The comparison as a table: one row per model, one column per data set, then the delta
    /// `delta_dataset` when the columns are the study's (what `render_compare` writes; the
    /// dashboard shows it as HTML).
    pub fn table(&self) -> TableData {
        let mut columns = vec![Column::named("model", Align::Left)];
        columns.extend(self.datasets.iter().map(|d| Column::named(d, Align::Right)));
        let study = self.has_study_columns();
        if study {
            columns.push(Column::named("delta_dataset", Align::Right));
        }
        let decimals = 4;
        let mut t = TableData::with_columns(columns);
        t.rows = self
            .rows
            .iter()
            .map(|r| {
                let mut cells = vec![Cell::text(r.name.clone())];
                cells.extend(r.accuracy.iter().map(|v| Cell::num(*v, decimals)));
                if study {
                    cells.push(Cell::num(r.delta_dataset, decimals));
                }
                cells
            })
            .collect();
        t
    }

    /// Which configuration each model cell is, one line each (`best cnn on mnist: cnn 64-64/128 k3 …`).
    pub fn config_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for row in &self.rows {
            for (d, c) in self.datasets.iter().zip(&row.configs) {
                if let Some(c) = c {
                    let sd = c
                        .accuracy_sd
                        .map_or(EMPTY.to_string(), |sd| format!("{sd:.4}"));
                    let seeds = if c.n == 1 {
                        "1 job".to_string()
                    } else {
                        format!("{} seeds, sd {sd}", c.n)
                    };
                    lines.push(format!("{} on {d}: {} ({seeds})", row.name, c.label));
                }
            }
        }
        lines
    }
}

/// `mnist` minus `fashion-mnist` from a row whose first two cells are those data sets.
fn delta(cells: &[Option<f64>]) -> Option<f64> {
    Some(cells.first().copied()?? - cells.get(1).copied()??)
}

/// Writes the comparison. Table and Markdown add which configuration each cell is and the notes;
/// CSV is the bare table (give the notes to the user separately: [`Comparison::notes`]); JSON is the
/// [`Comparison`] value.
pub fn render_compare(c: &Comparison, format: Format, width: Option<u16>) -> String {
    match format {
        Format::Json => to_json(c),
        Format::Csv => c.table().to_csv(),
        Format::Table | Format::Markdown => {
            let md = format == Format::Markdown;
            let mut out = String::from(if c.has_study_columns() {
                "Test accuracy: the ANN against the best CNN on each data set \
                 (mean over seeds; delta_dataset = mnist − fashion-mnist, delta_model = best cnn − ann)\n\n"
            } else {
                "Test accuracy: the ANN against the best CNN on each data set \
                 (mean over seeds; delta_model = best cnn − ann)\n\n"
            });
            out.push_str(&c.table().render(format, width));
            let lines = c.config_lines();
            if !lines.is_empty() {
                out.push('\n');
                for l in lines {
                    out.push_str(if md { "- " } else { "" });
                    out.push_str(&l);
                    out.push('\n');
                }
            }
            if !c.notes.is_empty() {
                out.push('\n');
                for n in &c.notes {
                    out.push_str(if md { "> note: " } else { "note: " });
                    out.push_str(n);
                    out.push('\n');
                }
            }
            out
        }
    }
}
