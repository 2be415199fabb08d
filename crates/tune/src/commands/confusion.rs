//! `tune confusion`: the confusion matrix of one job (the best by default).

use super::results::{ensure_newline, finished, format, note_unfinished, pick, width};
use crate::cli::ConfusionArgs;
use crate::commands::common;
use anyhow::Context;
use std::process::ExitCode;

/// The class names of a job's data: a user's data set's (folder names, label values), else the
/// built-in data set's.
pub(super) fn classes(train: &tune_spec::TrainSpec) -> Vec<String> {
    if let Some(user) = &train.data {
        return user.classes.clone();
    }
    tune_data::info(&train.dataset)
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
        &classes(&job.spec.train),
        format(args.format),
        width(args.format),
    )?;
    print!("{}", ensure_newline(table));
    note_unfinished(&sel);
    Ok(ExitCode::SUCCESS)
}
