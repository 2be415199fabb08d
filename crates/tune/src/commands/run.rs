//! `tune run`: expand a grid, queue its jobs in the store, and train them.

use crate::cli::{RunArgs, Shard};
use crate::commands::common::{self, ExitStatus};
use crate::progress::RunProgress;
use crate::runner::{self, WorkOptions};
use crate::throughput::{Basis, Cache};
use anyhow::Context;
use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tune_spec::JobSpec;
use tune_store::{JobStatus, JobStatusRow, NewSweep};

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let grid = tune_grid::load(&args.grid)?;
    let repeats = args.repeats.or(grid.repeats).unwrap_or(1);
    let mut jobs = tune_grid::with_repeats(&grid.jobs, repeats);
    if let Some(Shard { index, count }) = args.shard {
        jobs = tune_grid::shard(&jobs, index - 1, count);
    }
    let (slots, threads) = common::concurrency(&args.concurrency);
    if args.dry_run {
        dry_run(&jobs, slots, threads, args.concurrency.stock);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(dir) = &args.concurrency.save_weights {
        std::fs::create_dir_all(dir).with_context(|| {
            format!(
                "--save-weights: cannot create the directory {}",
                dir.display()
            )
        })?;
    }
    let rt = common::runtime()?;
    rt.block_on(async {
        let store = common::open_store(&args.db.db).await?;
        let lock = common::lock_if_local(&store, &args.db.db).await?;
        let sweep = NewSweep {
            name: grid.name.clone(),
            grid_text: grid.source_text.clone(),
            host: common::host(),
            tune_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        let report = store.enqueue(&sweep, &jobs).await?;
        if args.retry_failed {
            let n = store.retry_failed(Some(&report.sweep_id)).await?;
            if n > 0 {
                eprintln!("{n} failed jobs put back in the queue");
            }
        }
        let remaining = store.jobs_of_sweep(&report.sweep_id).await?;
        let todo: Vec<_> = remaining
            .iter()
            .filter(|j| !matches!(j.status, JobStatus::Done | JobStatus::Failed))
            .collect();
        if !args.enqueue {
            check_data(
                &store,
                &remaining,
                args.data_dir.as_deref(),
                &args.db.db,
                args.allow_unverified,
            )
            .await?;
        }
        let done_before = remaining.len() - todo.len();
        eprintln!(
            "sweep {}: {} jobs ({} new, {} already finished or failed), database {}",
            report.sweep_id,
            report.jobs,
            report.jobs_added,
            done_before,
            store.target()
        );
        if args.enqueue {
            println!(
                "enqueued {} jobs ({} new) in sweep {}; start `tune worker --db ...` to train them",
                report.jobs, report.jobs_added, report.sweep_id
            );
            return anyhow::Ok(ExitStatus::Success);
        }
        let epochs: u64 = todo
            .iter()
            .map(|j| j.spec.train.epochs.saturating_sub(j.epochs_done as usize) as u64)
            .sum();
        let progress = RunProgress::new(todo.len(), epochs, args.concurrency.quiet);
        let started = Instant::now();
        let opts = WorkOptions {
            jobs: slots,
            threads_per_job: threads,
            kernels: common::kernels(&args.concurrency),
            data_dir: args.data_dir.clone(),
            sweep: Some(report.sweep_id.clone()),
            follow: false,
            worker_prefix: runner::worker_prefix(),
            lease: common::lease(&store),
            save_weights: args.concurrency.save_weights.clone(),
            allow_unverified: args.allow_unverified,
        };
        let mut summary = runner::work(store.clone(), opts, progress.clone())
            .await
            .map_err(|e| {
                if e.is::<tune_data::DataError>() {
                    progress.finish();
                    let message = format!(
                        "{e:#}\nOnce the data is in place, `tune run {} --retry-failed` trains \
                         the jobs marked failed for want of it.",
                        args.grid.display()
                    );
                    crate::exit_codes::Classified::new(&e, message).into()
                } else {
                    e
                }
            })?;
        progress.finish();
        summary.failed += lock.given_up;
        let counts = store.counts(Some(&report.sweep_id)).await?;
        // Closing checkpoints SQLite's write-ahead log into the file: the database file alone
        // then holds everything (to copy, or to read from read-only media).
        store.close().await;
        Ok(common::finish_line(
            &summary,
            &counts,
            started.elapsed(),
            "tune report --by layers",
        ))
    })
    .map(ExitStatus::code)
    .context("tune run")
}

/// Refuses data that is not the canonical data set of its name (unless `allow_unverified`), and
/// refuses to continue a grid on other data than its finished (or partly trained) jobs were
/// trained on: a finished job does not count as finished for different data, and its epochs are
/// not continued on it. Data that cannot be found is left to the runner, which says how to get it.
async fn check_data(
    store: &tune_store::Store,
    jobs: &[JobStatusRow],
    data_dir: Option<&std::path::Path>,
    db: &str,
    allow_unverified: bool,
) -> anyhow::Result<()> {
    // Data that is not the canonical data set of its name is refused before any job starts
    // (unless --allow-unverified).
    let needed: BTreeSet<&str> = jobs
        .iter()
        .filter(|j| !matches!(j.status, JobStatus::Done | JobStatus::Failed))
        .map(|j| j.spec.train.dataset.as_str())
        .collect();
    for dataset in needed {
        let (name, dir) = (dataset.to_string(), data_dir.map(|d| d.to_path_buf()));
        if let Ok(id) =
            tokio::task::spawn_blocking(move || runner::identify_data(&name, dir.as_deref()))
                .await?
        {
            runner::check_verified(dataset, &id, allow_unverified)?;
        }
    }
    let recorded = store.data_identities().await?;
    let mut by_dataset: BTreeMap<&str, Vec<(&JobStatusRow, &str)>> = BTreeMap::new();
    for j in jobs {
        if let Some((sha, _)) = recorded.get(&j.key)
            && (j.status == JobStatus::Done || j.epochs_done > 0)
        {
            by_dataset
                .entry(j.spec.train.dataset.as_str())
                .or_default()
                .push((j, sha.as_str()));
        }
    }
    for (dataset, trained) in by_dataset {
        let (name, dir) = (dataset.to_string(), data_dir.map(|d| d.to_path_buf()));
        let id =
            match tokio::task::spawn_blocking(move || runner::identify_data(&name, dir.as_deref()))
                .await?
            {
                Ok(id) => id,
                Err(_) => continue,
            };
        let other: Vec<&(&JobStatusRow, &str)> = trained
            .iter()
            .filter(|(_, sha)| *sha != id.identity.sha256)
            .collect();
        if other.is_empty() {
            continue;
        }
        let hashes: BTreeSet<&str> = other.iter().map(|(_, sha)| *sha).collect();
        let finished = other
            .iter()
            .filter(|(j, _)| j.status == JobStatus::Done)
            .count();
        anyhow::bail!(
            "{} jobs of this grid in {db} ({finished} finished) were trained on `{dataset}` data \
             with SHA-256 {}, but the `{dataset}` data at hand ({}) has SHA-256 {}{}: results of \
             different data are never mixed, so nothing was trained. Train into another \
             database (e.g. --db results/{dataset}-{}.db), or point --data-dir at the data \
             these results came from",
            other.len(),
            hashes.into_iter().collect::<Vec<_>>().join(", "),
            id.dir.display(),
            id.identity.sha256,
            if id.identity.verified {
                " (the canonical files)"
            } else {
                ""
            },
            &id.identity.sha256[..8]
        );
    }
    Ok(())
}

/// Prints one row per job with its size and estimated time, then the total and `N jobs`.
fn dry_run(jobs: &[JobSpec], slots: usize, threads: usize, stock: bool) {
    let cache = Cache::load();
    let kernels = if stock { "stock" } else { "fast" };
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    table.set_header([
        "#",
        "job",
        "architecture",
        "dataset",
        "epochs",
        "seed",
        "params",
        "MFLOP/image",
        "est. time",
    ]);
    let mut times = Vec::new();
    let mut bases = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let (ips, basis) = cache.estimate(&job.model, threads, kernels);
        bases.push(basis);
        let images = job.train.train_images.unwrap_or(60_000) * job.train.epochs;
        // Evaluation of the 10k test images after each epoch costs about a third of training them.
        let eval = 10_000.0 * job.train.epochs as f64 / 3.0;
        let secs = (images as f64 + eval) / ips;
        times.push(secs);
        table.add_row([
            (i + 1).to_string(),
            job.key(),
            job.model.label(),
            job.train.dataset.clone(),
            job.train.epochs.to_string(),
            job.train.seed.to_string(),
            common::thousands(job.model.params().unwrap_or(0) as u64),
            format!(
                "{:.1}",
                job.model.train_flops_per_image().unwrap_or(0.0) / 1e6
            ),
            common::duration(Duration::from_secs_f64(secs)),
        ]);
    }
    println!("{table}");
    let wall = schedule(&times, slots);
    let basis = if bases.contains(&Basis::Assumed) {
        format!(
            "assumed {} GFLOP/s per thread for unmeasured configurations: run `tune bench` to measure",
            crate::throughput::ASSUMED_GFLOPS
        )
    } else if bases.contains(&Basis::Scaled) {
        "from throughput measured by `tune bench`, scaled by FLOPs where a configuration was not measured".to_string()
    } else {
        "from throughput measured by `tune bench`".to_string()
    };
    println!(
        "estimated wall time {} with {slots} job(s) x {threads} thread(s) ({basis})",
        common::duration(Duration::from_secs_f64(wall))
    );
    println!("{} jobs", jobs.len());
}

/// Wall time of running jobs of the given durations in queue order on `slots` parallel slots.
fn schedule(times: &[f64], slots: usize) -> f64 {
    let mut free = vec![0.0f64; slots.max(1)];
    for t in times {
        let slot = free
            .iter_mut()
            .min_by(|a, b| a.total_cmp(b))
            .expect("at least one slot");
        *slot += t;
    }
    free.into_iter().fold(0.0, f64::max)
}
