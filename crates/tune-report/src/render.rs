//! The layout of `tune report`: which columns its ranked and summary tables have, its headings,
//! tie lines and notes.
//!
//! Every table is laid out as a [`TableData`] of the [table layer](crate::table) (columns with a
//! header for people and a key for CSV, cells with their rounded and full-precision text), then
//! written in the chosen format. JSON is the serde form of the report value itself.

use crate::field::{Field, FieldValue};
use crate::report::{GroupSummary, Report, ReportRow, max_depth};
use crate::table::{Align, Cell, Column, Format, TableData, to_json};
use tune_spec::ModelKind;

/// A setting's value as a cell: shown as tables show it ([`EMPTY`](crate::EMPTY) for none), empty
/// in CSV, its serde form (`null` for none) in JSON.
impl From<&FieldValue> for Cell {
    fn from(v: &FieldValue) -> Cell {
        Cell::new(
            v.display(),
            v.csv(),
            serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
        )
    }
}

/// Columns of the ranked tables.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Col {
    Rank,
    Field(Field),
    Params,
    N,
    Loss,
    ValAccuracy,
    Accuracy,
    Sd,
    Ci,
    CiLow,
    CiHigh,
    Tied,
    TieP,
    RuntimeMin,
    Seeds,
    Keys,
}

impl Col {
    fn header(self, repeats: bool) -> String {
        match self {
            Col::Rank => "#".into(),
            Col::Field(Field::Dense) => "layerdense".into(),
            Col::Field(f) => f.name(),
            Col::Params => "params".into(),
            Col::N => "n".into(),
            Col::Loss if repeats => "mean loss".into(),
            Col::Loss => "loss".into(),
            Col::ValAccuracy if repeats => "mean val acc".into(),
            Col::ValAccuracy => "val acc".into(),
            Col::Accuracy if repeats => "mean test acc".into(),
            Col::Accuracy => "test acc".into(),
            Col::Sd => "sd".into(),
            Col::Ci | Col::CiLow | Col::CiHigh => "test 95% CI".into(),
            Col::Tied => "tied".into(),
            Col::TieP => "p (Holm)".into(),
            Col::RuntimeMin => "runtime (min)".into(),
            Col::Seeds => "seeds".into(),
            Col::Keys => "keys".into(),
        }
    }

    fn csv_header(self) -> String {
        match self {
            Col::Rank => "rank".into(),
            Col::Field(f) => f.name(),
            Col::Params => "params".into(),
            Col::N => "n".into(),
            Col::Loss => "loss".into(),
            Col::ValAccuracy => "val_accuracy".into(),
            Col::Accuracy => "accuracy".into(),
            Col::Sd => "accuracy_sd".into(),
            Col::Ci => "test_ci".into(),
            Col::CiLow => "test_ci_low".into(),
            Col::CiHigh => "test_ci_high".into(),
            Col::Tied => "tied".into(),
            Col::TieP => "tie_p_holm".into(),
            Col::RuntimeMin => "runtime_min".into(),
            Col::Seeds => "seeds".into(),
            Col::Keys => "keys".into(),
        }
    }

    fn numeric(self) -> bool {
        !matches!(
            self,
            Col::Field(
                Field::Model
                    | Field::Dataset
                    | Field::Dense
                    | Field::Layers
                    | Field::Filters
                    | Field::Validation
            ) | Col::Seeds
                | Col::Keys
                | Col::Tied
        )
    }

    fn cell(self, r: &ReportRow) -> Cell {
        match self {
            Col::Rank => Cell::text(r.rank.to_string()),
            Col::Field(f) => Cell::from(&f.value(&r.spec)),
            Col::Params => Cell::int(r.params as u64),
            Col::N => Cell::text(r.n.to_string()),
            Col::Loss => Cell::num(Some(r.loss), 4),
            Col::ValAccuracy => Cell::num(Some(r.val_accuracy), 4),
            Col::Accuracy => Cell::num(Some(r.accuracy), 4),
            Col::Sd => Cell::num(r.accuracy_sd, 4),
            Col::Ci => interval_cell(r.test_ci),
            Col::CiLow => Cell::num(r.test_ci.map(|c| c.low), 4),
            Col::CiHigh => Cell::num(r.test_ci.map(|c| c.high), 4),
            Col::Tied => match (r.tied, &r.tie) {
                (Some(true), None) => Cell::text("best"),
                (Some(true), Some(_)) => Cell::text("tied"),
                (Some(false), _) => Cell::text(""),
                (None, _) => Cell::text("?"),
            },
            Col::TieP => Cell::num(r.tie.as_ref().map(|t| t.p_holm), 4),
            Col::RuntimeMin => Cell::num(Some(r.runtime_min), 2),
            Col::Seeds => Cell::text(join(&r.seeds)),
            Col::Keys => Cell::text(r.keys.join(" ")),
        }
    }
}

fn join<T: ToString>(v: &[T]) -> String {
    v.iter().map(T::to_string).collect::<Vec<_>>().join(" ")
}

/// The study's columns for a table of `rows`: layer1..layerN, kernel, layerdense, epochs, loss,
/// accuracy, runtime and params, plus the hyperparameters that vary in the report.
fn table_columns(report: &Report, rows: &[ReportRow]) -> Vec<Col> {
    // A column for a setting that varies, unless the group heading already states it (grouping by
    // `layers` fixes the model too).
    let stated = |f: Field| {
        report.by.contains(&f) || (f == Field::Model && report.by.contains(&Field::Layers))
    };
    let vary = |f: Field| report.varying.contains(&f) && !stated(f);
    let mut cols = vec![Col::Rank];
    for f in [
        Field::Model,
        Field::Dataset,
        Field::TrainImages,
        Field::Validation,
    ] {
        if vary(f) {
            cols.push(Col::Field(f));
        }
    }
    let depth = max_depth(rows.iter().map(|r| &r.spec));
    cols.extend((1..=depth).map(|i| Col::Field(Field::Layer(i))));
    if rows.iter().any(|r| r.spec.model.kind == ModelKind::Cnn) {
        cols.push(Col::Field(Field::Kernel));
    }
    cols.push(Col::Field(Field::Dense));
    for f in Field::HYPER {
        if vary(f) {
            cols.push(Col::Field(f));
        }
    }
    cols.push(Col::Field(Field::Epochs));
    if !report.per_configuration && vary(Field::Seed) {
        cols.push(Col::Field(Field::Seed));
    }
    cols.push(Col::Loss);
    cols.extend([Col::ValAccuracy, Col::Accuracy]);
    if report.repeats {
        cols.extend([Col::Sd, Col::N]);
    }
    cols.extend([Col::Ci, Col::Tied, Col::RuntimeMin, Col::Params]);
    cols
}

/// Every column, for CSV: the same whatever varies, so scripts can rely on them.
fn csv_columns(report: &Report) -> Vec<Col> {
    let depth = max_depth(
        report
            .groups
            .iter()
            .flat_map(|g| g.rows.iter().map(|r| &r.spec)),
    );
    let mut cols = vec![
        Col::Rank,
        Col::Field(Field::Model),
        Col::Field(Field::Dataset),
        Col::Field(Field::Layers),
    ];
    cols.extend((1..=depth.max(1)).map(|i| Col::Field(Field::Layer(i))));
    cols.extend(
        [Field::Kernel, Field::Dense]
            .into_iter()
            .chain(Field::HYPER)
            .chain([Field::Epochs, Field::TrainImages, Field::Validation])
            .map(Col::Field),
    );
    if report.per_configuration {
        cols.push(Col::Seeds);
    } else {
        cols.push(Col::Field(Field::Seed));
    }
    cols.extend([
        Col::N,
        Col::Loss,
        Col::ValAccuracy,
        Col::Accuracy,
        Col::Sd,
        Col::CiLow,
        Col::CiHigh,
        Col::Tied,
        Col::TieP,
        Col::RuntimeMin,
        Col::Params,
        Col::Keys,
    ]);
    cols
}

/// The ranked rows: headers as tables show them, keys as CSV names them.
fn rows_table(cols: &[Col], rows: &[ReportRow], repeats: bool) -> TableData {
    let mut t = TableData::with_columns(
        cols.iter()
            .map(|c| {
                let align = if c.numeric() {
                    Align::Right
                } else {
                    Align::Left
                };
                Column::new(c.header(repeats), c.csv_header(), align)
            })
            .collect(),
    );
    t.rows = rows
        .iter()
        .map(|r| cols.iter().map(|c| c.cell(r)).collect())
        .collect();
    t
}

/// The per-group summary; the `configurations` column only with repeats.
fn summary_table(report: &Report) -> TableData {
    let align = |numeric: bool| if numeric { Align::Right } else { Align::Left };
    let mut columns: Vec<Column> = report
        .by
        .iter()
        .map(|f| {
            let numeric = !matches!(f, Field::Model | Field::Dataset | Field::Dense);
            Column::named(f.name(), align(numeric))
        })
        .collect();
    let names: &[(&str, &str, bool)] = &[
        ("jobs", "jobs", true),
        ("configs", "configurations", true),
        ("mean accuracy", "config_mean", true),
        ("sd", "config_sd", true),
        ("min", "config_min", true),
        ("max", "config_max", true),
        ("95% CI of mean", "config_mean_ci", true),
        ("best configuration", "best", false),
        ("best accuracy", "best_accuracy", true),
    ];
    for &(shown, key, numeric) in names {
        if shown == "configs" && !report.repeats {
            continue;
        }
        columns.push(Column::new(shown, key, align(numeric)));
    }
    let mut t = TableData::with_columns(columns);
    for s in &report.summary {
        t.rows.push(summary_cells(s, report.repeats));
    }
    t
}

fn summary_cells(s: &GroupSummary, with_configs: bool) -> Vec<Cell> {
    let mut cells: Vec<Cell> = s.values.iter().map(Cell::from).collect();
    cells.push(Cell::text(s.accuracy.n.to_string()));
    if with_configs {
        cells.push(Cell::text(s.configurations.to_string()));
    }
    cells.push(Cell::num(Some(s.configs.mean), 4));
    cells.push(Cell::num(s.configs.sd, 4));
    cells.push(Cell::num(Some(s.configs.min), 4));
    cells.push(Cell::num(Some(s.configs.max), 4));
    cells.push(interval_cell(s.config_mean_ci));
    cells.push(Cell::text(s.best.label.clone()));
    cells.push(Cell::num(Some(s.best.accuracy), 4));
    cells
}

/// `0.8531–0.8792`, with ` (cut)` when a bound was cut to [0, 1]; exact: `low high`; JSON:
/// `[low, high]`.
fn interval_cell(ci: Option<crate::stats::Interval>) -> Cell {
    match ci {
        Some(ci) => Cell::new(
            format!(
                "{:.4}–{:.4}{}",
                ci.low,
                ci.high,
                if ci.clipped { " (cut)" } else { "" }
            ),
            format!("{} {}", ci.low, ci.high),
            serde_json::json!([ci.low, ci.high]),
        ),
        None => Cell::empty(),
    }
}

fn group_heading(report: &Report, g: &crate::report::Group) -> String {
    let mut h = format!("{}: {} job{}", g.label, g.jobs, plural(g.jobs));
    if report.repeats {
        h.push_str(&format!(
            " in {} configuration{}",
            g.total_rows,
            plural(g.total_rows)
        ));
    }
    if g.rows.len() < g.total_rows {
        h.push_str(&format!(", top {} shown", g.rows.len()));
    }
    h
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The line above a report: finished jobs, configurations and what ranks them.
pub fn report_heading(report: &Report) -> String {
    let mut h = format!("{} finished job{}", report.jobs, plural(report.jobs));
    if report.repeats {
        h.push_str(&format!(
            " in {} configuration{} (rows average their seeds)",
            report.configurations,
            plural(report.configurations)
        ));
    }
    let order = match report.sort {
        crate::SortKey::Accuracy | crate::SortKey::TestAccuracy => "highest first",
        crate::SortKey::Loss | crate::SortKey::Runtime | crate::SortKey::Params => "lowest first",
        crate::SortKey::Field(_) => "ascending",
    };
    h.push_str(&format!(", ranked by {} ({order})", report.sort));
    h
}

/// The line under a report whose ranking and reported accuracy come from the same test split.
pub const SAME_SPLIT_NOTE: &str = "Note: ranked and reported on the same test split: the top rows' test accuracy is optimistic (they were selected on it). Grids that do not say validation = \"test\" validate on a holdout of the training split instead.";

/// The line under a group's table: the tie test, alpha and how many rows are tied with the best.
pub fn ties_line(t: &crate::report::TieSummary) -> String {
    let methods: Vec<&str> = t
        .methods
        .iter()
        .map(|m| match *m {
            "mcnemar-exact" => "McNemar's exact test on per-image correctness (single runs)",
            "welch" => "Welch's t-test on the seeds' accuracies (repeats)",
            other => other,
        })
        .collect();
    let split = if t.split == "val" {
        "validation"
    } else {
        "test"
    };
    if t.compared == 0 {
        return format!(
            "Tied with the best: not tested ({}, marked ?)",
            untested_why(t)
        );
    }
    let mut line = format!(
        "Tied with the best: {} of {} configuration{} not significantly worse than the best on {split} accuracy ({}; Holm-corrected, alpha = {})",
        t.tied,
        t.compared,
        plural(t.compared),
        methods.join("; "),
        t.alpha
    );
    if t.untested > 0 && t.other_images == 0 {
        line.push_str(&format!(
            "; {} untested (no per-image predictions recorded, marked ?)",
            t.untested
        ));
    } else if t.untested > 0 {
        line.push_str(&format!("; untested: {}, marked ?", untested_why(t)));
    }
    line
}

/// Why rows could not be tested against the best: `2 configurations without per-image
/// predictions recorded`, `1 configuration predicted on other images than the best (another data
/// set or validation split)`, or both.
fn untested_why(t: &crate::report::TieSummary) -> String {
    let missing = t.untested - t.other_images.min(t.untested);
    let mut parts = Vec::new();
    if missing > 0 {
        parts.push(format!(
            "{missing} configuration{} without per-image predictions recorded",
            plural(missing)
        ));
    }
    if t.other_images > 0 {
        parts.push(format!(
            "{} configuration{} predicted on other images than the best (another data set or \
             validation split)",
            t.other_images,
            plural(t.other_images)
        ));
    }
    parts.join(", ")
}

/// Writes a report in `format`. `width` is the terminal width for [`Format::Table`] (`None`: do not
/// wrap); other formats ignore it.
///
/// Table and Markdown: a heading, then one ranked table per group, then (when grouped) the summary
/// table. CSV: one table, the ranked rows of every group (ranks restart per group; the grouping
/// fields are columns), so that a program can parse it; the summary by group is not in it (JSON
/// and the tables hold it). JSON: the [`Report`] value, summary included.
pub fn render_report(report: &Report, format: Format, width: Option<u16>) -> String {
    match format {
        Format::Json => to_json(report),
        Format::Csv => {
            let cols = csv_columns(report);
            let rows: Vec<ReportRow> = report
                .groups
                .iter()
                .flat_map(|g| g.rows.iter().cloned())
                .collect();
            // One table a program can parse: the rows (with the `--by` fields as columns). The
            // summary by group is in JSON (`summary`), the table and Markdown.
            rows_table(&cols, &rows, report.repeats).to_csv()
        }
        Format::Table | Format::Markdown => {
            let md = format == Format::Markdown;
            let write = |t: &TableData| t.render(format, width);
            let mut out = String::new();
            if report.jobs == 0 {
                out.push_str("No finished jobs to report: run a grid with `tune run GRID.toml`.\n");
                return out;
            }
            out.push_str(&report_heading(report));
            out.push_str("\n\n");
            let grouped = !report.by.is_empty();
            for g in &report.groups {
                if grouped {
                    let h = group_heading(report, g);
                    out.push_str(&if md {
                        format!("### {h}\n\n")
                    } else {
                        format!("{h}\n")
                    });
                } else if g.rows.len() < g.total_rows {
                    out.push_str(&format!("top {} of {} shown\n", g.rows.len(), g.total_rows));
                }
                let cols = table_columns(report, &g.rows);
                out.push_str(&write(&rows_table(&cols, &g.rows, report.repeats)));
                if let Some(line) = g.ties.as_ref().map(ties_line) {
                    if md {
                        out.push('\n');
                    }
                    out.push_str(&line);
                    out.push('\n');
                }
                out.push('\n');
            }
            if grouped {
                let by: Vec<String> = report.by.iter().map(|f| f.name()).collect();
                let h = if report.repeats {
                    format!(
                        "Summary by {}: each configuration's test accuracy (the mean of its seeds); \
                         mean, sd (n-1), min, max and the mean's 95% t interval over the configurations",
                        by.join(", ")
                    )
                } else {
                    format!(
                        "Summary by {}: test accuracy over the configurations (one job each); \
                         mean, sd (n-1), min, max and the mean's 95% t interval",
                        by.join(", ")
                    )
                };
                out.push_str(&if md {
                    format!("### {h}\n\n")
                } else {
                    format!("{h}\n")
                });
                out.push_str(&write(&summary_table(report)));
                if let Some(v) = &report.verdict {
                    if md {
                        out.push('\n');
                    }
                    out.push_str(&format!(
                        "Between groups (Welch's t-test on configuration means of test accuracy, Holm-corrected, alpha = {}): {v}\n",
                        report.alpha
                    ));
                }
                if !report.notes.is_empty() {
                    out.push('\n');
                    for note in &report.notes {
                        out.push_str(&format!("note: {note}\n"));
                    }
                }
            }
            if report.ranked_on_test {
                if md && !out.ends_with("\n\n") {
                    out.push('\n');
                }
                out.push_str(SAME_SPLIT_NOTE);
                out.push('\n');
            }
            while out.ends_with("\n\n") {
                out.pop();
            }
            out
        }
    }
}

/// The ranked table of `rows` (rows of `report`, in any order) with the columns `tune report`
/// shows for them: the same headers, cells and keys, for other renderers (the dashboard).
pub fn ranked_table(report: &Report, rows: &[ReportRow]) -> TableData {
    rows_table(&table_columns(report, rows), rows, report.repeats)
}

/// The per-group summary table of a grouped `report`, as `tune report --by` shows it.
pub fn summary_table_data(report: &Report) -> TableData {
    summary_table(report)
}
