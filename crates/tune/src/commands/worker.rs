//! `tune worker`: train jobs from a shared queue until it is empty (or forever with `--follow`).

use crate::cli::WorkerArgs;
use crate::commands::common::{self, ExitStatus};
use crate::progress::RunProgress;
use crate::runner::{self, WorkOptions};
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub fn run(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let (slots, threads) = common::concurrency(&args.concurrency);
    let rt = common::runtime()?;
    rt.block_on(async {
        let store = common::open_store(&args.db.db).await?;
        let lock = common::lock_if_local(&store, &args.db.db).await?;
        let counts = store.counts(args.sweep.as_deref()).await?;
        let waiting = counts.pending + counts.interrupted;
        let progress = RunProgress::new(waiting as usize, 0, args.concurrency.quiet);
        let worker_prefix = runner::worker_prefix();
        let running = match counts.running {
            0 => String::new(),
            n => format!(", {n} running"),
        };
        eprintln!(
            "worker {worker_prefix}: {waiting} jobs waiting{running} in {}",
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
