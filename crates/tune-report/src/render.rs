//! Text output: terminal tables (comfy-table), GitHub Markdown, CSV and JSON.
//!
//! Every report is first laid out as [`TableData`] (headers and cells, each cell with its rounded
//! text for people and its full-precision text for CSV), then written in the chosen format. JSON
//! is the serde form of the report value itself.

use crate::ReportError;
use crate::field::{Field, FieldValue};
use crate::report::{GroupSummary, Report, ReportRow, max_depth};
use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, Table, Width, presets};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;
use tune_spec::ModelKind;

/// What an empty cell shows in tables and Markdown (CSV leaves it empty, JSON writes `null`).
pub const EMPTY: &str = "—";

/// Output format of `tune report` and `tune compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Box-drawn table sized to the terminal.
    #[default]
    Table,
    /// GitHub pipe tables.
    Markdown,
    /// Comma-separated values, full precision.
    Csv,
    /// The report value as JSON, full precision.
    Json,
}

impl FromStr for Format {
    type Err = ReportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "table" => Ok(Format::Table),
            "markdown" | "md" => Ok(Format::Markdown),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            _ => Err(ReportError::UnknownFormat(s.to_string())),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Table => "table",
            Format::Markdown => "markdown",
            Format::Csv => "csv",
            Format::Json => "json",
        })
    }
}

/// The width of the terminal on stdout, `None` when stdout is not a terminal (then tables are not
/// wrapped).
pub fn terminal_width() -> Option<u16> {
    Table::new().width()
}

/// One cell: what a table shows and what CSV carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Rounded text for tables and Markdown.
    pub shown: String,
    /// Full-precision text for CSV (empty for a missing value).
    pub exact: String,
}

impl Cell {
    /// A text cell, the same in every format.
    pub fn text(s: impl Into<String>) -> Cell {
        let s = s.into();
        Cell {
            shown: s.clone(),
            exact: s,
        }
    }

    /// A number shown with `decimals` decimals; `None` shows [`EMPTY`].
    pub fn num(v: Option<f64>, decimals: usize) -> Cell {
        match v {
            Some(v) => Cell {
                shown: format!("{v:.decimals$}"),
                exact: format!("{v}"),
            },
            None => Cell::empty(),
        }
    }

    /// A count, with thousands separators in tables.
    pub fn int(v: u64) -> Cell {
        Cell {
            shown: thousands(v),
            exact: v.to_string(),
        }
    }

    /// A missing value.
    pub fn empty() -> Cell {
        Cell {
            shown: EMPTY.to_string(),
            exact: String::new(),
        }
    }

    fn value(v: &FieldValue) -> Cell {
        Cell {
            shown: v.display(),
            exact: v.csv(),
        }
    }
}

/// `1030218` → `1,030,218`: a count as tables and messages show it.
pub fn thousands(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A table laid out but not yet written in a format.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableData {
    /// Column names.
    pub headers: Vec<String>,
    /// Which columns are numbers (right-aligned).
    pub numeric: Vec<bool>,
    /// The cells, row by row.
    pub rows: Vec<Vec<Cell>>,
}

impl TableData {
    /// An empty table with these `(header, numeric)` columns.
    pub fn new(columns: &[(&str, bool)]) -> TableData {
        TableData {
            headers: columns.iter().map(|(h, _)| h.to_string()).collect(),
            numeric: columns.iter().map(|(_, n)| *n).collect(),
            rows: Vec::new(),
        }
    }

    /// Writes the table as a box-drawn terminal table. With a width, long cells wrap to fit it;
    /// without one nothing wraps.
    pub fn to_table(&self, width: Option<u16>) -> String {
        let mut t = Table::new();
        t.load_preset(presets::UTF8_FULL_CONDENSED);
        match width {
            Some(w) => {
                t.set_content_arrangement(ContentArrangement::Dynamic);
                t.set_width(w);
            }
            None => {
                t.set_content_arrangement(ContentArrangement::Disabled);
            }
        }
        t.set_header(self.headers.clone());
        for row in &self.rows {
            t.add_row(row.iter().map(|c| c.shown.clone()));
        }
        for (i, &numeric) in self.numeric.iter().enumerate() {
            if numeric && let Some(col) = t.column_mut(i) {
                col.set_cell_alignment(CellAlignment::Right);
            }
        }
        if let Some(w) = width {
            for (i, cw) in self.column_widths(w).into_iter().enumerate() {
                if let Some(col) = t.column_mut(i) {
                    // comfy-table's constraints include the padding (one space each side).
                    col.set_constraint(ColumnConstraint::Absolute(Width::Fixed(cw as u16 + 2)));
                }
            }
        }
        t.to_string()
    }

    /// Content width of each column for a table at most `width` characters wide.
    ///
    /// Numbers never break and words of cells break only between words: that much each column
    /// gets (the table overflows `width` only if even that does not fit). Space left over goes, in
    /// rounds, cheapest column first: header words broken at most once, header words whole, then
    /// full content and header on one line.
    fn column_widths(&self, width: u16) -> Vec<usize> {
        let chars = |s: &str| s.chars().count();
        let longest_word = |s: &str| s.split_whitespace().map(chars).max().unwrap_or(0);
        let tiers: Vec<[usize; 4]> = (0..self.headers.len())
            .map(|i| {
                let numeric = self.numeric.get(i).copied().unwrap_or(false);
                let cells = self.rows.iter().filter_map(|r| r.get(i));
                let (mut min, mut full) = (1, 1);
                for c in cells {
                    let whole = chars(&c.shown);
                    min = min.max(if numeric {
                        whole
                    } else {
                        longest_word(&c.shown)
                    });
                    full = full.max(whole);
                }
                let header = &self.headers[i];
                let words = min.max(longest_word(header));
                let halves = min.max(longest_word(header).div_ceil(2));
                [min, halves, words, full.max(words).max(chars(header))]
            })
            .collect();
        let borders = 3 * tiers.len() + 1;
        let mut left = usize::from(width).saturating_sub(borders);
        let mut widths: Vec<usize> = tiers.iter().map(|t| t[0]).collect();
        left = left.saturating_sub(widths.iter().sum());
        for tier in 1..4 {
            let mut order: Vec<usize> = (0..tiers.len()).collect();
            order.sort_by_key(|&i| (tiers[i][tier] - widths[i], i));
            for i in order {
                let cost = tiers[i][tier] - widths[i];
                if cost <= left {
                    widths[i] = tiers[i][tier];
                    left -= cost;
                }
            }
        }
        // What is left widens the columns still short of their full width, in order.
        for i in 0..widths.len() {
            let grow = (tiers[i][3] - widths[i]).min(left);
            widths[i] += grow;
            left -= grow;
        }
        widths
    }

    /// Writes the table as a GitHub pipe table (numbers right-aligned).
    pub fn to_markdown(&self) -> String {
        let esc = |s: &str| s.replace('|', "\\|");
        let mut out = String::new();
        out.push_str("| ");
        out.push_str(
            &self
                .headers
                .iter()
                .map(|h| esc(h))
                .collect::<Vec<_>>()
                .join(" | "),
        );
        out.push_str(" |\n|");
        for &n in &self.numeric {
            out.push_str(if n { " ---: |" } else { " --- |" });
        }
        out.push('\n');
        for row in &self.rows {
            out.push_str("| ");
            out.push_str(
                &row.iter()
                    .map(|c| esc(&c.shown))
                    .collect::<Vec<_>>()
                    .join(" | "),
            );
            out.push_str(" |\n");
        }
        out
    }

    /// Writes the table as CSV (RFC 4180 quoting), full precision, empty cells for missing values.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let line = |cells: Vec<&str>, out: &mut String| {
            let quoted: Vec<String> = cells.into_iter().map(csv_field).collect();
            out.push_str(&quoted.join(","));
            out.push('\n');
        };
        line(self.headers.iter().map(String::as_str).collect(), &mut out);
        for row in &self.rows {
            line(row.iter().map(|c| c.exact.as_str()).collect(), &mut out);
        }
        out
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// JSON text of a serialisable report value, pretty-printed, ending in a newline.
pub(crate) fn to_json<T: Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("report values always serialise");
    s.push('\n');
    s
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
            Col::Field(f) => Cell::value(&f.value(&r.spec)),
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

fn rows_table(cols: &[Col], rows: &[ReportRow], repeats: bool, csv: bool) -> TableData {
    TableData {
        headers: cols
            .iter()
            .map(|c| {
                if csv {
                    c.csv_header()
                } else {
                    c.header(repeats)
                }
            })
            .collect(),
        numeric: cols.iter().map(|c| c.numeric()).collect(),
        rows: rows
            .iter()
            .map(|r| cols.iter().map(|c| c.cell(r)).collect())
            .collect(),
    }
}

fn summary_table(report: &Report, csv: bool) -> TableData {
    let mut columns: Vec<(String, bool)> = report
        .by
        .iter()
        .map(|f| {
            (
                f.name(),
                !matches!(f, Field::Model | Field::Dataset | Field::Dense),
            )
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
    for &(shown, exact, numeric) in names {
        if !csv && shown == "configs" && !report.repeats {
            continue;
        }
        columns.push(((if csv { exact } else { shown }).to_string(), numeric));
    }
    let mut t = TableData {
        headers: columns.iter().map(|c| c.0.clone()).collect(),
        numeric: columns.iter().map(|c| c.1).collect(),
        rows: Vec::new(),
    };
    for s in &report.summary {
        t.rows.push(summary_cells(s, report.repeats || csv));
    }
    t
}

fn summary_cells(s: &GroupSummary, with_configs: bool) -> Vec<Cell> {
    let mut cells: Vec<Cell> = s.values.iter().map(Cell::value).collect();
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

/// `0.8531–0.8792`, with ` (cut)` when a bound was cut to [0, 1]; exact: `low high`.
fn interval_cell(ci: Option<crate::stats::Interval>) -> Cell {
    match ci {
        Some(ci) => Cell {
            shown: format!(
                "{:.4}–{:.4}{}",
                ci.low,
                ci.high,
                if ci.clipped { " (cut)" } else { "" }
            ),
            exact: format!("{} {}", ci.low, ci.high),
        },
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

fn report_heading(report: &Report) -> String {
    let mut h = format!("{} finished job{}", report.jobs, plural(report.jobs));
    if report.repeats {
        h.push_str(&format!(
            " in {} configurations (rows average their seeds)",
            report.configurations
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
fn ties_line(t: &crate::report::TieSummary) -> String {
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
            "Tied with the best: not tested ({} configuration{} without per-image predictions recorded, marked ?)",
            t.untested,
            plural(t.untested)
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
    if t.untested > 0 {
        line.push_str(&format!(
            "; {} untested (no per-image predictions recorded, marked ?)",
            t.untested
        ));
    }
    line
}

/// Writes a report in `format`. `width` is the terminal width for [`Format::Table`] (`None`: do not
/// wrap); other formats ignore it.
///
/// Table and Markdown: a heading, then one ranked table per group, then (when grouped) the summary
/// table. CSV: the ranked rows of every group (ranks restart per group; the grouping fields are
/// columns), then, when grouped, an empty line and the summary rows with their own header line.
/// JSON: the [`Report`] value.
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
            let mut out = rows_table(&cols, &rows, report.repeats, true).to_csv();
            if !report.by.is_empty() {
                out.push('\n');
                out.push_str(&summary_table(report, true).to_csv());
            }
            out
        }
        Format::Table | Format::Markdown => {
            let md = format == Format::Markdown;
            let write = |t: &TableData| {
                if md {
                    t.to_markdown()
                } else {
                    t.to_table(width) + "\n"
                }
            };
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
                out.push_str(&write(&rows_table(&cols, &g.rows, report.repeats, false)));
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
                out.push_str(&write(&summary_table(report, false)));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_030_218), "1,030,218");
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(csv_field("a"), "a");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn markdown_escapes_pipes_and_aligns_numbers() {
        let mut t = TableData::new(&[("name", false), ("v", true)]);
        t.rows
            .push(vec![Cell::text("a|b"), Cell::num(Some(0.5), 2)]);
        assert_eq!(
            t.to_markdown(),
            "| name | v |\n| --- | ---: |\n| a\\|b | 0.50 |\n"
        );
    }

    #[test]
    fn formats_parse() {
        assert_eq!("md".parse::<Format>().unwrap(), Format::Markdown);
        assert!(
            "xml"
                .parse::<Format>()
                .unwrap_err()
                .to_string()
                .contains("xml")
        );
    }
}
