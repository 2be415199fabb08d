//! `tune bench`: training speed on the first N images, against what the arithmetic allows.

use crate::cli::{BenchArgs, TableFormat};
use crate::commands::common;
use crate::throughput::{Cache, Measurement};
use std::process::ExitCode;
use std::time::Instant;
use tune_data::Dataset;
use tune_model::train::EpochEnd;
use tune_model::{Flow, Kernels, Observer, TrainOptions};
use tune_report::{Align, Cell, Column, Style, TableData};
use tune_spec::{EpochMetrics, JobSpec, ModelSpec, TrainSpec};

/// Records the process's resident memory after every epoch.
struct RssPerEpoch(Vec<u64>);

impl Observer for RssPerEpoch {
    fn epoch(&mut self, _m: &EpochMetrics, _s: &EpochEnd<'_>) -> tune_model::Result<Flow> {
        self.0.push(memory_kib("VmRSS:").unwrap_or(0) * 1024);
        Ok(Flow::Continue)
    }
}

/// What one benchmark measured.
struct Measured {
    params: usize,
    images: usize,
    images_per_s: f64,
    train_s: f64,
    flops_per_image: f64,
    rss_per_epoch: Vec<u64>,
}

/// Trains `model` on the first `args.images` images after a short warm-up, and caches the
/// throughput for `tune run --dry-run`.
fn measure(model: &ModelSpec, data: &Dataset, args: &BenchArgs) -> anyhow::Result<Measured> {
    let input = tune_model::input_shape(data);
    let flops_per_image = model.train_flops_per_image(&input)?;
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
    let images = args.images.min(data.train.len);
    let opts = TrainOptions {
        threads: args.threads,
        kernels: kernels(args),
        evaluate: false,
        ..TrainOptions::default()
    };
    // Warm-up: a few batches, so that allocations and caches settle before timing.
    tune_model::train(
        &job((10 * args.batch).min(data.train.len), 1),
        data,
        &input,
        &opts,
        &mut tune_model::Silent,
        None,
    )?;
    let mut rss = RssPerEpoch(Vec::new());
    let started = Instant::now();
    let trained = tune_model::train(
        &job(images, args.epochs),
        data,
        &input,
        &opts,
        &mut rss,
        None,
    )?;
    let m = Measured {
        params: trained.outcome.params,
        images,
        images_per_s: trained.outcome.images_per_s,
        train_s: started.elapsed().as_secs_f64(),
        flops_per_image,
        rss_per_epoch: rss.0,
    };
    // The cache's figures are for the built-in data sets' shape, which `tune run --dry-run`
    // estimates from.
    if input == tune_spec::InputShape::BUILT_IN {
        Cache::record(
            model,
            args.threads,
            kernels_name(args),
            Measurement {
                images_per_s: m.images_per_s,
                gflops: m.images_per_s * flops_per_image / 1e9,
                eval_images_per_s: None,
                others_busy_cores: None,
            },
        );
    }
    Ok(m)
}

fn kernels(args: &BenchArgs) -> Kernels {
    Kernels::from_stock(args.stock)
}

fn kernels_name(args: &BenchArgs) -> &'static str {
    kernels(args).name()
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.grid.is_none() && matches!(args.format, TableFormat::Markdown | TableFormat::Csv) {
        anyhow::bail!(
            "tune bench --format {}: one measurement prints as table or json; markdown and csv \
             are for the table of `tune bench --grid GRID`",
            tune_report::Format::from(args.format)
        );
    }
    // A grid's own data set (decoded by `load_grid`) unless `--data` names other data.
    let grid = args.grid.as_deref().map(common::load_grid).transpose()?;
    let grid_data = grid
        .as_ref()
        .filter(|_| args.data.data.is_empty())
        .and_then(|g| g.jobs.iter().find_map(|j| j.train.data.as_ref()))
        .and_then(|user| crate::runner::user_dataset(&user.sha256));
    let data = if let Some(d) = grid_data {
        Dataset::clone(&d)
    } else if args.data.data.is_empty() {
        tune_data::load(&args.data.dataset, args.data.data_dir.as_deref())?
    } else {
        let (_, _, data) = common::data_from_flags(&args.data, true, false)?;
        Dataset::clone(&data)
    };
    if let (Some(path), Some(grid)) = (&args.grid, grid) {
        return bench_grid(path, grid, &data, &args);
    }
    let model = args.model.spec();
    let m = measure(&model, &data, &args)?;
    let gflops = m.images_per_s * m.flops_per_image / 1e9;
    let peak = tune_model::kernels::sgemm_gflops(1024, args.threads);
    let peak_rss = memory_kib("VmHWM:").unwrap_or(0) * 1024;
    let result = serde_json::json!({
        "model": model.label(),
        "params": m.params,
        "kernels": kernels_name(&args),
        "threads": args.threads,
        "batch": args.batch,
        "images": m.images,
        "epochs": args.epochs,
        "images_per_s": m.images_per_s,
        "train_s": m.train_s,
        "mflop_per_image": m.flops_per_image / 1e6,
        "gflops": gflops,
        "sgemm_peak_gflops": peak,
        "share_of_sgemm_peak": gflops / peak,
        "peak_rss_bytes": peak_rss,
        "rss_after_each_epoch_bytes": m.rss_per_epoch,
    });
    match args.format {
        TableFormat::Json => println!("{result}"),
        TableFormat::Table | TableFormat::Markdown | TableFormat::Csv => {
            println!(
                "{} ({} parameters), {} kernels, {}, batch {}",
                model.label(),
                crate::commands::common::thousands(m.params as u64),
                kernels_name(&args),
                crate::commands::common::count(args.threads, "thread"),
                args.batch
            );
            println!("images/s          {:.0}", m.images_per_s);
            println!(
                "GFLOP/s           {gflops:.1} ({:.1} MFLOP per training image)",
                m.flops_per_image / 1e6
            );
            println!(
                "sgemm peak        {peak:.1} GFLOP/s (1024^3 on {}, measured now): {:.0}% of it",
                crate::commands::common::count(args.threads, "thread"),
                100.0 * gflops / peak
            );
            println!("peak RSS          {:.1} MiB", peak_rss as f64 / 1048576.0);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Benchmarks every distinct architecture of a grid file, so that `tune run GRID --dry-run`
/// estimates from measured throughput.
fn bench_grid(
    path: &std::path::Path,
    grid: tune_grid::Grid,
    data: &Dataset,
    args: &BenchArgs,
) -> anyhow::Result<ExitCode> {
    let mut seen = std::collections::HashSet::new();
    let models: Vec<ModelSpec> = grid
        .jobs
        .iter()
        .filter(|j| seen.insert(j.model.label()))
        .map(|j| j.model.clone())
        .collect();
    let left = Align::Left;
    let mut table = TableData::with_columns(vec![
        Column::new("architecture", "model", left),
        Column::named("params", left),
        Column::new("images/s", "images_per_s", left),
        Column::new("GFLOP/s", "gflops", left),
    ])
    .styled(Style::Borders);
    for (i, model) in models.iter().enumerate() {
        eprintln!("[{}/{}] {}", i + 1, models.len(), model.label());
        let m = measure(model, data, args)?;
        let gflops = m.images_per_s * m.flops_per_image / 1e9;
        table.rows.push(vec![
            Cell::text(model.label()),
            Cell::new(m.params.to_string(), m.params.to_string(), m.params.into()),
            Cell::num(Some(m.images_per_s), 0),
            Cell::num(Some(gflops), 1),
        ]);
    }
    let format = tune_report::Format::from(args.format);
    let after = [format!(
        "{} measured on {}; `tune run {} --dry-run` now estimates from these",
        common::count(models.len(), "architecture"),
        common::count(args.threads, "thread"),
        path.display()
    )];
    if format == tune_report::Format::Json {
        // One line, an array of `{"model", "params", "images_per_s", "gflops"}` objects.
        println!("{}", table.to_json());
    } else {
        common::print_listing(format, &table, None, &[], &after);
    }
    Ok(ExitCode::SUCCESS)
}

/// A memory figure of this process from /proc/self/status, in KiB (Linux only).
fn memory_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
