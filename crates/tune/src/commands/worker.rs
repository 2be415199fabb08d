//! `tune worker`: train jobs from a shared queue until it is empty (or forever with `--follow`).

use crate::cli::WorkerArgs;
use crate::commands::common::{self, ExitStatus};
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
                    .filter(|r| r.status != tune_store::JobStatus::Done)
                    .map(|r| r.spec),
            );
        }
    }
    tune_report::varying_settings(specs.iter())
}

pub fn run(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let (slots, threads) = common::concurrency(&args.concurrency);
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
        let worker_prefix = runner::worker_prefix();
        let running = match counts.running {
            0 => String::new(),
            n => format!(", {n} running"),
        };
        eprintln!(
            "worker {worker_prefix}: {} waiting{running} in {}",
            common::count(waiting as usize, "job"),
            store.target()
        );
        let started = Instant::now();
        let opts = WorkOptions {
            jobs: slots,
            threads_per_job: threads,
            kernels: common::kernels(&args.concurrency),
            data_dir: args.data_dir.clone(),
            sweep: args.sweep.clone(),
            follow: args.follow,
            worker_prefix,
            lease: Duration::from_secs(args.lease_secs.max(1)),
            save_weights: args.concurrency.save_weights.clone(),
            allow_unverified: args.allow_unverified,
        };
        let mut summary = runner::work(store.clone(), opts, progress.clone()).await?;
        summary.failed += lock.given_up;
        progress.finish();
        let counts = store.counts(args.sweep.as_deref()).await?;
        store.close().await;
        anyhow::Ok(common::finish_line(
            &summary,
            &counts,
            started.elapsed(),
            "tune report",
        ))
    })
    .map(ExitStatus::code)
}
