//! Reports: rankings, per-group statistics, comparison tables and plots rendered from stored results.
//!
//! This crate never reads the store: the binary hands it [`ResultRow`]s (finished jobs), epoch
//! histories and confusion matrices, and gets back text or image files.
//!
//! - `tune report`: [`Report::build`] folds jobs into configurations (same job but for the seed),
//!   groups them (`--by`), sorts (`--sort`), cuts (`--top`) and summarises each group; then
//!   [`render_report`] writes it as a terminal table, Markdown, CSV or JSON.
//! - `tune compare`: [`Comparison::build`] and [`render_compare`], the ANN against the best CNN per
//!   data set.
//! - Confusion matrices as tables: [`confusion_table`].
//! - Pictures (SVG or PNG by the path's extension): [`plot_curves`], [`plot_depth`],
//!   [`plot_confusion`]. Text is drawn with DejaVu Sans compiled into the crate, so plots render on
//!   machines with no fonts installed; a PNG's [`Drawn`] names the texts with characters that font
//!   lacks ([`png_font_lacks`]), which show as boxes there.
//! - [`stats`]: mean, sample sd, min and max; Wilson and t intervals; McNemar, Welch and Holm.
//! - [`table`]: the one table layer (columns, cells, terminal/Markdown/CSV/JSON output) that every
//!   table above, and the binary's own tables, are written with; it knows nothing of reports.
//! - [`rank`]: the one ranking (validation accuracy, with a documented tie-break) that every
//!   command uses to pick a best or default job.

mod compare;
mod confusion;
mod field;
mod plot;
pub mod rank;
mod render;
mod report;
pub mod stats;
pub mod table;

pub use compare::{
    COMPARE_GRID, CompareConfig, CompareRow, Comparison, STUDY_DATASETS, render_compare,
};
pub use confusion::{
    ClassAccuracy, Confusion, FASHION_MNIST_CLASSES, MNIST_CLASSES, class_names, confusion_table,
};
pub use field::{
    FIELD_NAMES, Field, FieldValue, Filter, SortKey, TRAINING_SETTINGS, job_label, varying_settings,
};
pub use plot::{
    DEPTH_POINTS, Drawn, HalvingLine, plot_confusion, plot_confusion_svg, plot_curves,
    plot_curves_svg, plot_depth, plot_depth_svg, plot_halving, plot_halving_svg, plot_parallel_svg,
    png_font_lacks,
};
pub use rank::{Ranked, RungConfig, RungJob, rank_accuracy, rank_rung};
pub use render::{
    SAME_SPLIT_NOTE, ranked_table, render_report, report_heading, summary_table_data, ties_line,
};
pub use report::best_job;
pub use report::{
    DEFAULT_ALPHA, Group, GroupSummary, GroupTest, Report, ReportOptions, ReportRow, TieSummary,
    TieTest,
};
pub use table::{
    Align, Cell, Column, EMPTY, Format, Style, TableData, UnknownFormat, terminal_width, thousands,
};

use serde::Serialize;
use std::path::PathBuf;
use tune_spec::{JobSpec, Predictions};

/// One finished job, as the store gives it: loss and accuracy are on the test split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResultRow {
    /// The job's key ([`JobSpec::key`]).
    pub key: String,
    /// The job.
    pub spec: JobSpec,
    /// Trainable parameters.
    pub params: usize,
    /// Test loss after the last epoch.
    pub loss: f64,
    /// Test accuracy after the last epoch.
    pub accuracy: f64,
    /// Validation accuracy after the last epoch (what reports rank by; `None`: not recorded, the
    /// test accuracy ranks instead).
    pub val_accuracy: Option<f64>,
    /// Per-image predictions on the validation split, if recorded (McNemar's test uses them).
    #[serde(skip)]
    pub val_predictions: Option<Predictions>,
    /// Per-image predictions on the test split, if recorded.
    #[serde(skip)]
    pub test_predictions: Option<Predictions>,
    /// Images of the test split when its predictions were counted but not read (what the test
    /// interval needs of them); `test_predictions`, when read, count instead.
    #[serde(skip)]
    pub test_images: Option<usize>,
    /// Wall-clock seconds of the whole run.
    pub runtime_s: f64,
    /// The sweep (grid) the job was run in, if recorded.
    pub sweep: Option<String>,
}

impl From<tune_spec::UnknownReportField> for ReportError {
    fn from(e: tune_spec::UnknownReportField) -> Self {
        ReportError::UnknownField {
            name: e.name,
            hint: e.hint,
            valid: e.valid,
        }
    }
}

/// What can go wrong making a report or a picture.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// `--by` or `--sort` named no known column.
    #[error("unknown field `{name}`: {hint}valid fields are {valid}")]
    UnknownField {
        /// What was given.
        name: String,
        /// `did you mean `lr`? ` for a name people reach for, else empty.
        hint: String,
        /// The valid names, comma-separated.
        valid: String,
    },
    /// A `--where` condition that is not `FIELD=VALUE`.
    #[error("`--where {0}`: write FIELD=VALUE[,VALUE...], e.g. `--where dropout=0.25`")]
    BadFilter(String),
    /// A `--where` value that no job's value of the field can equal (`--where layer1=16,x`).
    #[error(
        "`--where {field}={value}`: `{value}` is not {expected}; every value must be one, e.g. `--where {field}={example}`"
    )]
    BadFilterValue {
        /// The field.
        field: String,
        /// The value given.
        value: String,
        /// What the field's values are.
        expected: &'static str,
        /// A value that would do.
        example: &'static str,
    },
    /// `--format` named no known format.
    #[error("unknown format `{0}`: expected table, markdown, csv or json")]
    UnknownFormat(String),
    /// `--top 0`.
    #[error("`--top` must be at least 1")]
    ZeroTop,
    /// A confusion matrix that is not square with one row per class.
    #[error(
        "the confusion matrix has {rows} rows of {cols:?} cells but there are {classes} classes: it must be {classes}x{classes}"
    )]
    BadMatrix {
        /// Rows given.
        rows: usize,
        /// Cells in each row.
        cols: Vec<usize>,
        /// Class names given.
        classes: usize,
    },
    /// Nothing to plot.
    #[error("nothing to plot: {0}")]
    NothingToPlot(String),
    /// An image path whose extension is neither `.svg` nor `.png`.
    #[error("cannot tell the image format of {}: name it .svg or .png", path.display())]
    ImageType {
        /// The path given.
        path: PathBuf,
    },
    /// Drawing or writing the picture failed.
    #[error("cannot draw {}: {message}", path.display())]
    Plot {
        /// The picture's path.
        path: PathBuf,
        /// What the drawing library said.
        message: String,
    },
}

impl From<UnknownFormat> for ReportError {
    fn from(e: UnknownFormat) -> ReportError {
        ReportError::UnknownFormat(e.0)
    }
}
