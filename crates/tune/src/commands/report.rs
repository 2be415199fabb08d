//! `tune report`: ranked tables with ties and intervals, grouped summaries; for a halving sweep
//! the pruned jobs too, and `--replay-halving` (see `halving_report`).

use super::halving_report;
use super::results::{
    ensure_newline, filters, finished, format, narrow, note_unfinished, rows_with_predictions,
    select, width,
};
use crate::cli::{ReportArgs, TableFormat};
use crate::commands::common;
use std::process::ExitCode;
use tune_report::{Field, Report, ReportOptions, SortKey};

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let mut by = match &args.by {
        Some(b) => Field::parse_list(b)?,
        None => Vec::new(),
    };
    let sort: SortKey = args.sort.parse()?;
    let filters = filters(&args.filters)?;
    let replay = args
        .replay_halving
        .as_deref()
        .map(halving_report::parse_replay)
        .transpose()?;
    let rt = common::runtime()?;
    let mut sel = rt.block_on(finished(
        &args.db.db,
        args.sweep.as_deref(),
        replay.is_some(),
    ))?;
    if let Some((eta, min_epochs)) = replay {
        sel.results = select(sel.results.clone(), &filters)?;
        rt.block_on(halving_report::replay(
            &sel,
            sel.sweep.as_deref(),
            eta,
            min_epochs,
            args.alpha,
            format(args.format),
        ))?;
        note_unfinished(&sel);
        return Ok(ExitCode::SUCCESS);
    }
    // A halving sweep: the ranking is among the jobs that reached the last rung.
    let halving = rt.block_on(halving_report::view(&sel.store, args.sweep.as_deref()))?;
    if let Some(h) = &halving {
        let pruned: std::collections::HashSet<&String> = h.pruned().collect();
        sel.results.retain(|r| !pruned.contains(&r.key));
    }
    rt.block_on(narrow(&mut sel, args.sweep.as_deref(), &filters))?;
    let results = sel.results.clone();
    let rows = rt.block_on(rows_with_predictions(
        &sel.store,
        &results,
        sel.sweep.as_deref(),
    ))?;
    if let Some(note) = per_data_set(&mut by, &rows) {
        eprintln!("{note}");
    }
    let report = Report::build(
        &rows,
        &ReportOptions {
            by,
            top: args.top,
            sort,
            alpha: args.alpha,
        },
    )?;
    let mut text = ensure_newline(tune_report::render_report(
        &report,
        format(args.format),
        width(args.format),
    ));
    let extra = halving
        .as_ref()
        .and_then(|h| halving_report::after_report_json(h, &sel.results, format(args.format)));
    if let Some(extra) = &extra {
        text = tune_store::HalvingView::add_to_report_json(&text, extra);
    }
    print!("{text}");
    if args.format == TableFormat::Csv && !report.by.is_empty() {
        // CSV on stdout is one table a program can parse: the ranked rows. The summary by group
        // is not a second table there.
        let by: Vec<String> = report.by.iter().map(|f| f.name()).collect();
        eprintln!(
            "note: the CSV holds the ranked rows, with {} as columns; the summary by {} and the \
             tests between the groups are in `--format json` (`summary`, `group_tests`) and the \
             table (`--format table` or `markdown`)",
            by.join(", "),
            by.join(", ")
        );
    }
    if let Some(h) = &halving {
        halving_report::after_report(h, &sel.results, format(args.format));
    }
    note_unfinished(&sel);
    if matches!(args.format, TableFormat::Csv | TableFormat::Json) {
        for note in &report.notes {
            eprintln!("note: {note}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Accuracies on different data sets (or versions of one, `NAME@HASH8`) do not rank against each
/// other, and their images differ, so no tie test pairs them: when `rows` span several data sets
/// and `by` does not group by data set, groups by it first (a ranked table, best and ties per
/// data set) and returns the note that says so.
fn per_data_set(by: &mut Vec<Field>, rows: &[tune_report::ResultRow]) -> Option<String> {
    let names: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.spec.train.dataset.as_str()).collect();
    if names.len() < 2 || by.contains(&Field::Dataset) {
        return None;
    }
    by.insert(0, Field::Dataset);
    let names: Vec<&str> = names.into_iter().collect();
    Some(format!(
        "note: the results are on {} data sets ({}): ranked within each data set, a table and a \
         best each (`--where dataset={}` shows one alone)",
        names.len(),
        names.join(", "),
        names[0]
    ))
}
