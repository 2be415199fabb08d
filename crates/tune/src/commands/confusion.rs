//! `tune confusion`: the confusion matrix of one job (the best by default).

use super::results::{ensure_newline, finished, format, note_unfinished, pick, width};
use crate::cli::ConfusionArgs;
use crate::commands::common;
use anyhow::Context;
use std::process::ExitCode;

pub(super) fn classes(dataset: &str) -> Vec<String> {
    tune_data::info(dataset)
        .map(|i| i.classes.clone())
        .unwrap_or_else(|_| (0..10).map(|c| c.to_string()).collect())
}

pub fn run(args: ConfusionArgs) -> anyhow::Result<ExitCode> {
    let rt = common::runtime()?;
    let sel = rt.block_on(finished(&args.db.db, None, false))?;
    let job = pick(&sel.results, args.job.as_deref())?;
    let matrix = rt
        .block_on(sel.store.confusion(&job.key))?
        .with_context(|| format!("job {} has no confusion matrix recorded", job.key))?;
    eprintln!(
        "job {} ({} on {}), test accuracy {:.4}",
        job.key,
        job.spec.model.label(),
        job.spec.train.dataset,
        job.test_accuracy
    );
    let table = tune_report::confusion_table(
        &matrix,
        &classes(&job.spec.train.dataset),
        format(args.format),
        width(args.format),
    )?;
    print!("{}", ensure_newline(table));
    note_unfinished(&sel);
    Ok(ExitCode::SUCCESS)
}
