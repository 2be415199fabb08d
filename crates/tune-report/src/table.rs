//! The one table layer: a table of cells written as a terminal table, GitHub Markdown, CSV or
//! JSON.
//!
//! A [`TableData`] is [`Column`]s (a header for people, a key for CSV and JSON, an alignment) and
//! rows of [`Cell`]s (each with its rounded text for people, its full-precision text for CSV and
//! its JSON value), written in a [`Format`] by [`TableData::render`]: terminal tables through
//! comfy-table, CSV through the `csv` crate (RFC 4180 quoting), JSON through serde_json.
//!
//! This module knows nothing of reports, jobs or settings: the report layout (`render.rs`,
//! `compare.rs`, `confusion.rs`) and the binary's tables (`tune run --dry-run`, `tune bench
//! --grid`, `tune data list`) build their tables with it.

use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, Table, Width, presets};
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// What an empty cell shows in tables and Markdown (CSV leaves it empty, JSON writes `null`).
pub use tune_spec::EMPTY;

/// Output format of a table (`--format` of `tune report`, `compare`, `confusion`, `run --dry-run`,
/// `bench --grid` and `data list`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Box-drawn table (sized to the terminal where the caller gives a width).
    #[default]
    Table,
    /// GitHub pipe tables.
    Markdown,
    /// Comma-separated values, full precision.
    Csv,
    /// JSON, full precision.
    Json,
}

/// A format name that is none of `table`, `markdown` (`md`), `csv` and `json`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format `{0}`: expected table, markdown, csv or json")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "table" => Ok(Format::Table),
            "markdown" | "md" => Ok(Format::Markdown),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            _ => Err(UnknownFormat(s.to_string())),
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

/// `1030218` → `1,030,218`: a count as tables and messages show it (one implementation,
/// tune-spec's, shared with the messages of the crates below this one).
pub use tune_spec::thousands;

/// One cell: what a table shows, what CSV carries and what JSON holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Rounded text for tables and Markdown.
    pub shown: String,
    /// Full-precision text for CSV (empty for a missing value).
    pub exact: String,
    /// The value in JSON (`null` for a missing value).
    pub json: Value,
}

impl Cell {
    /// A cell from its three forms.
    pub fn new(shown: impl Into<String>, exact: impl Into<String>, json: Value) -> Cell {
        Cell {
            shown: shown.into(),
            exact: exact.into(),
            json,
        }
    }

    /// A text cell, the same in every format (a JSON string).
    pub fn text(s: impl Into<String>) -> Cell {
        let s = s.into();
        Cell {
            shown: s.clone(),
            exact: s.clone(),
            json: Value::String(s),
        }
    }

    /// A number shown with `decimals` decimals; `None` (or NaN, infinity in JSON) shows [`EMPTY`]
    /// and is `null` in JSON.
    pub fn num(v: Option<f64>, decimals: usize) -> Cell {
        match v {
            Some(v) => Cell {
                shown: format!("{v:.decimals$}"),
                exact: format!("{v}"),
                json: serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number),
            },
            None => Cell::empty(),
        }
    }

    /// A count, with thousands separators in tables and Markdown.
    pub fn int(v: u64) -> Cell {
        Cell {
            shown: thousands(v),
            exact: v.to_string(),
            json: Value::from(v),
        }
    }

    /// A missing value.
    pub fn empty() -> Cell {
        Cell {
            shown: EMPTY.to_string(),
            exact: String::new(),
            json: Value::Null,
        }
    }
}

/// Where a column's cells sit in tables and Markdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Align {
    /// Flush left (text).
    #[default]
    Left,
    /// Flush right (numbers; a right-aligned column's cells never break when a table is fitted
    /// to a width).
    Right,
}

/// One column: its header for people and its key for machines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Header in tables and Markdown.
    pub header: String,
    /// Name in CSV's header line and in JSON's row objects.
    pub key: String,
    /// Alignment in tables and Markdown.
    pub align: Align,
}

impl Column {
    /// A column with a header for people and a key for CSV and JSON.
    pub fn new(header: impl Into<String>, key: impl Into<String>, align: Align) -> Column {
        Column {
            header: header.into(),
            key: key.into(),
            align,
        }
    }

    /// A column whose header is also its key.
    pub fn named(name: impl Into<String>, align: Align) -> Column {
        let name = name.into();
        Column::new(name.clone(), name, align)
    }
}

/// The borders of a terminal table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// Every cell boxed, header separated (comfy-table's `UTF8_FULL_CONDENSED`): reports.
    #[default]
    Grid,
    /// A frame and a line under the header only (comfy-table's `UTF8_BORDERS_ONLY`): listings.
    Borders,
}

/// A table laid out but not yet written in a format.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableData {
    /// The columns.
    pub columns: Vec<Column>,
    /// The cells, row by row, one per column.
    pub rows: Vec<Vec<Cell>>,
    /// Borders of the terminal table.
    pub style: Style,
}

impl TableData {
    /// An empty table with these `(name, right-aligned)` columns; each name is header and key.
    pub fn new(columns: &[(&str, bool)]) -> TableData {
        TableData::with_columns(
            columns
                .iter()
                .map(|&(name, right)| {
                    Column::named(name, if right { Align::Right } else { Align::Left })
                })
                .collect(),
        )
    }

    /// An empty table with these columns.
    pub fn with_columns(columns: Vec<Column>) -> TableData {
        TableData {
            columns,
            rows: Vec::new(),
            style: Style::default(),
        }
    }

    /// The table with these borders.
    pub fn styled(mut self, style: Style) -> TableData {
        self.style = style;
        self
    }

    /// Writes the table in `format`, ending in a newline: [`Format::Table`] as
    /// [`TableData::to_table`] fitted to `width` (`None`: no wrapping; other formats ignore it),
    /// Markdown as [`TableData::to_markdown`], CSV as [`TableData::to_csv`] and JSON as
    /// [`TableData::to_json`], pretty-printed.
    pub fn render(&self, format: Format, width: Option<u16>) -> String {
        match format {
            Format::Table => self.to_table(width) + "\n",
            Format::Markdown => self.to_markdown(),
            Format::Csv => self.to_csv(),
            Format::Json => to_json(&self.to_json()),
        }
    }

    /// Writes the table as a terminal table in its [`Style`], right-aligned columns flush right,
    /// without a final newline. With a width, long cells wrap to fit it; without one nothing
    /// wraps.
    pub fn to_table(&self, width: Option<u16>) -> String {
        let mut t = Table::new();
        t.load_preset(match self.style {
            Style::Grid => presets::UTF8_FULL_CONDENSED,
            Style::Borders => presets::UTF8_BORDERS_ONLY,
        });
        match width {
            Some(w) => {
                t.set_content_arrangement(ContentArrangement::Dynamic);
                t.set_width(w);
            }
            None => {
                t.set_content_arrangement(ContentArrangement::Disabled);
            }
        }
        t.set_header(self.columns.iter().map(|c| c.header.clone()));
        for row in &self.rows {
            t.add_row(row.iter().map(|c| c.shown.clone()));
        }
        for (i, c) in self.columns.iter().enumerate() {
            if c.align == Align::Right
                && let Some(col) = t.column_mut(i)
            {
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
        let tiers: Vec<[usize; 4]> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, column)| {
                let numeric = column.align == Align::Right;
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
                let header = &column.header;
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

    /// Writes the table as a GitHub pipe table: headers, `---` (`---:` for right-aligned
    /// columns), then the shown cells, `|` escaped; ends in a newline.
    pub fn to_markdown(&self) -> String {
        let esc = |s: &str| s.replace('|', "\\|");
        let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
        let mut out = line(self.columns.iter().map(|c| esc(&c.header)).collect());
        out.push('|');
        for c in &self.columns {
            out.push_str(match c.align {
                Align::Right => " ---: |",
                Align::Left => " --- |",
            });
        }
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row.iter().map(|c| esc(&c.shown)).collect()));
        }
        out
    }

    /// Writes the table as CSV: a header line of the column keys, then one line per row of the
    /// full-precision cells (empty for missing values); fields quoted as RFC 4180 needs, lines
    /// ending in `\n`.
    pub fn to_csv(&self) -> String {
        let mut w = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(Vec::new());
        let written = w
            .write_record(self.columns.iter().map(|c| c.key.as_str()))
            .and_then(|()| {
                self.rows
                    .iter()
                    .try_for_each(|row| w.write_record(row.iter().map(|c| c.exact.as_str())))
            });
        written.expect("writing CSV to memory does not fail");
        let bytes = w.into_inner().expect("writing CSV to memory does not fail");
        String::from_utf8(bytes).expect("CSV of UTF-8 text is UTF-8")
    }

    /// The table as JSON: an array with one object per row, mapping each column's key to its
    /// cell's JSON value.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.rows
                .iter()
                .map(|row| {
                    Value::Object(
                        self.columns
                            .iter()
                            .zip(row)
                            .map(|(c, cell)| (c.key.clone(), cell.json.clone()))
                            .collect(),
                    )
                })
                .collect(),
        )
    }
}

/// JSON text of a serialisable value, pretty-printed, ending in a newline.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("table values always serialise");
    s.push('\n');
    s
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

    fn sample() -> TableData {
        let mut t = TableData::with_columns(vec![
            Column::new("name", "name", Align::Left),
            Column::new("value (rounded)", "value", Align::Right),
        ]);
        t.rows
            .push(vec![Cell::text("a|b"), Cell::num(Some(0.5), 2)]);
        t.rows
            .push(vec![Cell::text("say \"hi\", then\nleave"), Cell::empty()]);
        t.rows.push(vec![Cell::text("x\ry"), Cell::int(1234)]);
        t
    }

    #[test]
    fn csv_quotes_what_needs_it_and_writes_keys_and_exact_values() {
        assert_eq!(
            sample().to_csv(),
            "name,value\na|b,0.5\n\"say \"\"hi\"\", then\nleave\",\n\"x\ry\",1234\n"
        );
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
    fn json_is_one_object_per_row_keyed_by_column_key() {
        let v = sample().to_json();
        assert_eq!(v[0]["name"], "a|b");
        assert_eq!(v[0]["value"], 0.5);
        assert_eq!(v[1]["value"], Value::Null);
        assert_eq!(v[2]["value"], 1234);
        assert_eq!(v.as_array().unwrap().len(), 3);
        assert!(sample().render(Format::Json, None).ends_with("]\n"));
    }

    #[test]
    fn borders_style_and_alignment() {
        let mut t = TableData::new(&[("a", false), ("b", true)]).styled(Style::Borders);
        t.rows.push(vec![Cell::text("x"), Cell::int(1)]);
        t.rows.push(vec![Cell::text("yyy"), Cell::int(1000)]);
        let text = t.to_table(None);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert!(lines[3].ends_with("    1 │"), "{text}");
        assert!(lines[4].ends_with("1,000 │"), "{text}");
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
