//! `tune worker`: train jobs from a shared queue until it is empty (or forever with `--follow`).

use crate::cli::WorkerArgs;
use crate::commands::common::{self, ExitStatus};
use crate::events;
use crate::progress::RunProgress;
use crate::runner::{self, WorkOptions};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The settings that vary among the jobs still to train (of `sweep`, else of every sweep), for the
/// progress lines' labels. Best effort: none when they cannot be read.
async fn labels(store: &tune_store::Store, sweep: Option<&str>) -> Vec<tune_report::Field> {
    let Ok(sweeps) = store.sweeps().await else {
        return Vec::new();
    };
    let mut specs = Vec::new();
    for s in sweeps
        .iter()
        .filter(|s| sweep.is_none_or(|w| w == s.id || w == s.name))
    {
        if let Ok(rows) = store.jobs_of_sweep(&s.id).await {
            specs.extend(
                rows.into_iter()
                    .filter(|r| !r.status.is_terminal())
                    .map(|r| r.spec),
            );
        }
    }
    tune_report::varying_settings(specs.iter())
}

pub fn run(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    common::check_data_dir(args.data_dir.as_deref())?;
    let rt = common::runtime()?;
    rt.block_on(async {
        let store = common::open_existing(
            &args.db.db,
            "worker",
            "a worker trains jobs already in a database: enqueue them first (`tune run GRID \
             --enqueue --db ...`), or pass the --db that holds them",
        )
        .await?;
        let lock = common::lock_if_local(&store, &args.db.db).await?;
        let counts = store.counts(args.sweep.as_deref()).await?;
        let waiting = counts.pending + counts.interrupted;
        let progress = RunProgress::new(waiting as usize, 0, args.concurrency.quiet)
            .with_labels(labels(&store, args.sweep.as_deref()).await);
        let opts = WorkOptions {
            follow: args.follow,
            ..WorkOptions::new(
                &args.concurrency,
                args.data_dir.as_deref(),
                args.allow_unverified,
                args.sweep.clone(),
                Duration::from_secs(args.lease_secs.max(1)),
            )
        };
        let running = match counts.running {
            0 => String::new(),
            n => format!(", {n} running"),
        };
        eprintln!(
            "worker {}: {} waiting{running} in {}",
            opts.worker_prefix,
            common::count(waiting as usize, "job"),
            store.target()
        );
        let started = Instant::now();
        let subscribers = events::subscribers(&progress, args.events);
        let (mut summary, deferred) = runner::work(store.clone(), opts, subscribers).await?;
        summary.failed += lock.given_up;
        progress.finish();
        let counts = store.counts(args.sweep.as_deref()).await?;
        store.close().await;
        let status = common::finish_line(
            &summary,
            &counts,
            started.elapsed(),
            "tune report",
            &mut events::summary_out(args.events),
        );
        // The error that ended the run after the work it could do: its exit code wins.
        match deferred {
            Some(e) => Err(e),
            None => anyhow::Ok(status),
        }
    })
    .map(ExitStatus::code)
}
