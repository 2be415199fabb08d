//! `tune bench`: training speed on the first N images, against what the arithmetic allows.

use crate::cli::{BenchArgs, SummaryFormat};
use std::process::ExitCode;
use std::time::Instant;
use tune_model::train::EpochEnd;
use tune_model::{Flow, Kernels, Observer, TrainOptions};
use tune_spec::{EpochMetrics, JobSpec, TrainSpec};

/// Records the process's resident memory after every epoch.
struct RssPerEpoch(Vec<u64>);

impl Observer for RssPerEpoch {
    fn epoch(&mut self, _m: &EpochMetrics, _s: &EpochEnd<'_>) -> tune_model::Result<Flow> {
        self.0.push(memory_kib("VmRSS:").unwrap_or(0) * 1024);
        Ok(Flow::Continue)
    }
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let model = args.model.spec();
    let flops_per_image = model.train_flops_per_image()?;
    let job = |images: usize, epochs: usize| JobSpec {
        model: model.clone(),
        train: TrainSpec {
            dataset: args.data.dataset.clone(),
            epochs,
            batch: args.batch,
            train_images: Some(images),
            ..TrainSpec::default()
        },
    };
    let data = tune_data::load(&args.data.dataset, args.data.data_dir.as_deref())?;
    let images = args.images.min(data.train.len);
    let opts = TrainOptions {
        threads: args.threads,
        kernels: if args.stock {
            Kernels::Stock
        } else {
            Kernels::Fast
        },
        evaluate: false,
        ..TrainOptions::default()
    };
    // Warm-up: a few batches, so that allocations and caches settle before timing.
    tune_model::train(
        &job(10 * args.batch, 1),
        &data,
        &opts,
        &mut tune_model::Silent,
        None,
    )?;
    let mut rss = RssPerEpoch(Vec::new());
    let started = Instant::now();
    let trained = tune_model::train(&job(images, args.epochs), &data, &opts, &mut rss, None)?;
    let wall = started.elapsed().as_secs_f64();
    let images_per_s = trained.outcome.images_per_s;
    let gflops = images_per_s * flops_per_image / 1e9;
    let peak = tune_model::kernels::sgemm_gflops(1024, args.threads);
    let peak_rss = memory_kib("VmHWM:").unwrap_or(0) * 1024;
    crate::throughput::Cache::record(
        &model,
        args.threads,
        if args.stock { "stock" } else { "fast" },
        crate::throughput::Measurement {
            images_per_s,
            gflops,
        },
    );
    let result = serde_json::json!({
        "model": model.label(),
        "params": trained.outcome.params,
        "kernels": if args.stock { "stock" } else { "fast" },
        "threads": args.threads,
        "batch": args.batch,
        "images": images,
        "epochs": args.epochs,
        "images_per_s": images_per_s,
        "train_s": wall,
        "mflop_per_image": flops_per_image / 1e6,
        "gflops": gflops,
        "sgemm_peak_gflops": peak,
        "share_of_sgemm_peak": gflops / peak,
        "peak_rss_bytes": peak_rss,
        "rss_after_each_epoch_bytes": rss.0,
    });
    match args.format {
        SummaryFormat::Json => println!("{result}"),
        SummaryFormat::Table => {
            println!(
                "{} ({} parameters), {} kernels, {} thread(s), batch {}",
                model.label(),
                trained.outcome.params,
                result["kernels"].as_str().unwrap_or(""),
                args.threads,
                args.batch
            );
            println!("images/s          {images_per_s:.0}");
            println!(
                "GFLOP/s           {gflops:.1} ({:.1} MFLOP per training image)",
                flops_per_image / 1e6
            );
            println!(
                "sgemm peak        {peak:.1} GFLOP/s (1024^3 on {} thread(s), measured now): {:.0}% of it",
                args.threads,
                100.0 * gflops / peak
            );
            println!("peak RSS          {:.1} MiB", peak_rss as f64 / 1048576.0);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A memory figure of this process from /proc/self/status, in KiB (Linux only).
fn memory_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
