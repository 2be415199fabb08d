//! `tune report`: ranked tables with ties and intervals, grouped summaries.

use super::results::{
    ensure_newline, filters, finished, format, note_unfinished, rows_with_predictions, select,
    width,
};
use crate::cli::{ReportArgs, TableFormat};
use crate::commands::common;
use std::process::ExitCode;
use tune_report::{Field, Report, ReportOptions, SortKey};

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let by = match &args.by {
        Some(b) => Field::parse_list(b)?,
        None => Vec::new(),
    };
    let sort: SortKey = args.sort.parse()?;
    let filters = filters(&args.filters)?;
    let rt = common::runtime()?;
    let sel = rt.block_on(finished(&args.db.db, args.sweep.as_deref(), false))?;
    let results = select(sel.results.clone(), &filters)?;
    let rows = rt.block_on(rows_with_predictions(
        &sel.store,
        &results,
        args.sweep.as_deref(),
    ))?;
    let report = Report::build(
        &rows,
        &ReportOptions {
            by,
            top: args.top,
            sort,
            alpha: args.alpha,
        },
    )?;
    print!(
        "{}",
        ensure_newline(tune_report::render_report(
            &report,
            format(args.format),
            width(args.format)
        ))
    );
    note_unfinished(&sel);
    if matches!(args.format, TableFormat::Csv | TableFormat::Json) {
        for note in &report.notes {
            eprintln!("note: {note}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
