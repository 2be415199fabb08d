//! `tune status`: the jobs that are not done (failed, running, pending, interrupted, and for a
//! halving sweep waiting at a rung or pruned, with the epoch they stopped at) with their attempts
//! and last error, as a table or JSON. Opens the database read-only.

use crate::cli::{StatusArgs, StatusFormat};
use crate::commands::common;
use serde::Serialize;
use std::process::ExitCode;
use tune_store::{JobStatus, JobStatusRow};

/// One job as `tune status --format json` writes it.
#[derive(Debug, Serialize)]
struct JobLine<'a> {
    key: &'a str,
    status: &'a str,
    attempts: u32,
    epochs_done: u32,
    epochs: usize,
    model: String,
    dataset: &'a str,
    worker_id: Option<&'a str>,
    started_at: Option<&'a str>,
    finished_at: Option<&'a str>,
    last_error: Option<&'a str>,
    /// SHA-256 of the data it trained on (see the README), if recorded.
    data_sha256: Option<&'a str>,
    /// Whether that data was the canonical data set of its name.
    data_verified: Option<bool>,
}

type Identities = std::collections::HashMap<String, (String, Option<bool>)>;

fn line<'a>(j: &'a JobStatusRow, data: &'a Identities) -> JobLine<'a> {
    let d = data.get(&j.key);
    JobLine {
        key: &j.key,
        status: j.status.as_str(),
        attempts: j.attempts,
        epochs_done: j.epochs_done,
        epochs: j.spec.train.epochs,
        model: j.spec.model.label(),
        dataset: &j.spec.train.dataset,
        worker_id: j.worker_id.as_deref(),
        started_at: j.started_at.as_deref(),
        finished_at: j.finished_at.as_deref(),
        last_error: j.last_error.as_deref(),
        data_sha256: d.map(|d| d.0.as_str()),
        data_verified: d.and_then(|d| d.1),
    }
}

/// The first line of an error, cut to `max` characters.
/// The first line of an error, whole (its advice is at its end), and how many lines follow.
fn first_line(text: &str) -> String {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default().to_string();
    match lines.count() {
        0 => first,
        more => format!(
            "{first} (+{more} more line{}: --format json)",
            if more == 1 { "" } else { "s" }
        ),
    }
}

pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let rt = common::runtime()?;
    let (jobs, data, target) = rt.block_on(async {
        let store = common::open_reader(&args.db.db).await?;
        let jobs = store.jobs(args.sweep.as_deref()).await?;
        let data = store.data_identities().await?;
        anyhow::Ok((jobs, data, store.target().to_string()))
    })?;
    let total = jobs.len();
    let shown: Vec<&JobStatusRow> = jobs
        .iter()
        .filter(|j| args.all || j.status != JobStatus::Done)
        .collect();
    let mut counts = tune_store::StatusCounts::default();
    for j in &jobs {
        counts.add(j.status, 1);
    }
    match args.format {
        StatusFormat::Json => {
            let lines: Vec<JobLine<'_>> = shown.iter().map(|j| line(j, &data)).collect();
            println!("{}", serde_json::to_string_pretty(&lines)?);
        }
        StatusFormat::Table if shown.is_empty() => {
            match total {
                0 => println!("no jobs in {target}: `tune run GRID.toml` adds some"),
                1 => println!("the only job in {target} is done; --all lists it"),
                n => println!("all {n} jobs in {target} are done; --all lists them"),
            }
            return Ok(ExitCode::SUCCESS);
        }
        StatusFormat::Table => {
            let mut table = comfy_table::Table::new();
            table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
            // Long errors wrap within a terminal's width instead of losing their advice.
            table.set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
            let mut header = vec![
                "job",
                "status",
                "attempts",
                "epochs",
                "model",
                "dataset",
                "worker",
                "last error",
            ];
            if args.all {
                header.push("data (SHA-256)");
            }
            table.set_header(header);
            for j in &shown {
                let mut row = vec![
                    j.key.chars().take(12).collect::<String>(),
                    j.status.as_str().to_string(),
                    j.attempts.to_string(),
                    format!("{}/{}", j.epochs_done, j.spec.train.epochs),
                    j.spec.model.label(),
                    j.spec.train.dataset.clone(),
                    j.worker_id.clone().unwrap_or_default(),
                    j.last_error.as_deref().map(first_line).unwrap_or_default(),
                ];
                if args.all {
                    row.push(match data.get(&j.key) {
                        Some((sha, Some(true))) => super::results::short_sha(sha),
                        Some((sha, _)) => format!("{} unverified", super::results::short_sha(sha)),
                        None => String::new(),
                    });
                }
                table.add_row(row);
            }
            println!("{table}");
        }
    }
    let halving = if counts.waiting + counts.pruned > 0 {
        format!(
            ", {} waiting at a halving rung, {} pruned by halving",
            counts.waiting, counts.pruned
        )
    } else {
        String::new()
    };
    let superseded = if counts.superseded > 0 {
        format!(
            ", {} superseded (set aside when their data set's files changed; they train no further)",
            counts.superseded
        )
    } else {
        String::new()
    };
    eprintln!(
        "{} in {target}: {} done, {} failed, {} running, {} pending, {} interrupted{halving}\
         {superseded}",
        common::count(total, "job"),
        counts.done,
        counts.failed,
        counts.running,
        counts.pending,
        counts.interrupted
    );
    Ok(ExitCode::SUCCESS)
}
