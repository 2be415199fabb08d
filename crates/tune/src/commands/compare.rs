//! `tune compare`: the ANN against the CNN on each data set.

use super::results::{
    ensure_newline, filters, finished, format, narrow, note_unfinished, rows, status_command, width,
};
use crate::cli::{CompareArgs, TableFormat};
use crate::commands::common;
use std::process::ExitCode;
use tune_report::Comparison;
use tune_store::JobStatus;

pub fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let filters = filters(&args.filters)?;
    let rt = common::runtime()?;
    let mut sel = rt.block_on(finished(&args.db.db, args.sweep.as_deref(), false))?;
    rt.block_on(narrow(&mut sel, args.sweep.as_deref(), &filters))?;
    let results = sel.results.clone();
    let mut comparison = Comparison::build(&rows(&results, sel.sweep.as_deref()));
    // A missing cell whose job exists but is not done gets advice about that job, not "run the
    // compare grid".
    let jobs = rt.block_on(sel.store.jobs(args.sweep.as_deref()))?;
    comparison.explain_missing(|model, dataset| {
        let job = jobs.iter().find(|j| {
            j.status != JobStatus::Done
                && j.spec.model.kind == model
                && j.spec.train.dataset == dataset
        })?;
        Some(match job.status {
            JobStatus::Failed => format!(
                "its job {} failed (`{}` shows why; `tune run {} --retry-failed` tries it again)",
                &job.key[..12.min(job.key.len())],
                status_command(&args.db.db),
                tune_report::COMPARE_GRID
            ),
            JobStatus::Superseded => format!(
                "its job {} was set aside: its data changed before it trained (`tune run {}` \
                 queues the data as it is now)",
                &job.key[..12.min(job.key.len())],
                tune_report::COMPARE_GRID
            ),
            JobStatus::Running => format!(
                "its job {} is still running",
                &job.key[..12.min(job.key.len())]
            ),
            _ => format!(
                "its job {} is waiting to be trained: `tune run {}` trains it",
                &job.key[..12.min(job.key.len())],
                tune_report::COMPARE_GRID
            ),
        })
    });
    print!(
        "{}",
        ensure_newline(tune_report::render_compare(
            &comparison,
            format(args.format),
            width(args.format)
        ))
    );
    if args.format == TableFormat::Csv {
        for note in &comparison.notes {
            eprintln!("note: {note}");
        }
    }
    note_unfinished(&sel);
    Ok(ExitCode::SUCCESS)
}
