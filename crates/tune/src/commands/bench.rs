//! `tune bench`: training speed on the first N images, against what the arithmetic allows.

use crate::cli::{BenchArgs, TableFormat};
use crate::commands::common;
use crate::throughput::{Cache, Measurement};
use anyhow::Context as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use tune_data::Dataset;
use tune_model::train::EpochEnd;
use tune_model::{Flow, Kernels, Observer, TrainOptions};
use tune_report::{Align, Cell, Column, Style, TableData};
use tune_spec::{EpochMetrics, InputShape, JobSpec, ModelSpec, TrainSpec};

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

/// Trains `model` on the first `args.images` images after a short warm-up.
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
    Ok(Measured {
        params: trained.outcome.params,
        images,
        images_per_s: trained.outcome.images_per_s,
        train_s: started.elapsed().as_secs_f64(),
        flops_per_image,
        rss_per_epoch: rss.0,
    })
}

impl Measured {
    /// The figures `tune run --dry-run` estimates from.
    fn measurement(&self) -> Measurement {
        Measurement {
            images_per_s: self.images_per_s,
            gflops: self.images_per_s * self.flops_per_image / 1e9,
            eval_images_per_s: None,
            others_busy_cores: None,
        }
    }
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
    let flags_data = || -> anyhow::Result<Arc<Dataset>> {
        let (_, _, data) = common::data_from_flags(&args.data, true, false)?;
        Ok(data)
    };
    if let Some(path) = &args.grid {
        let grid = common::load_grid(path)?;
        // The grid's own data sets (decoded by `load_grid`), one per image shape, unless `--data`
        // names other data.
        let sets = if args.data.data.is_empty() {
            grid_data_sets(&grid, &args)?
        } else {
            let data = flags_data()?;
            let input = tune_model::input_shape(&data);
            let models = distinct_models(grid.jobs.iter());
            vec![DataSet {
                names: vec![data.name.clone()],
                input,
                data,
                models,
            }]
        };
        return bench_grid(path, &sets, &args);
    }
    let data = if args.data.data.is_empty() {
        Arc::new(tune_data::load(
            &args.data.dataset,
            args.data.data_dir.as_deref(),
        )?)
    } else {
        flags_data()?
    };
    let model = args.model.spec();
    let m = measure(&model, &data, &args)?;
    // Kept for `tune run --dry-run` (best effort: one measurement says nothing of it).
    let input = tune_model::input_shape(&data);
    if let Err(e) = Cache::record(
        args.threads,
        kernels_name(&args),
        &[(model.clone(), input, m.measurement())],
    ) {
        tracing::warn!("the measurement is not kept for `tune run --dry-run`: {e}");
    }
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

/// The images one part of a grid trains on: its data sets of one image shape.
struct DataSet {
    /// The grid's data sets of this shape, in the grid's order.
    names: Vec<String>,
    /// Their shape (and class count).
    input: InputShape,
    /// The first of them, measured on.
    data: Arc<Dataset>,
    /// The architectures the grid trains on them, each once, in the grid's order.
    models: Vec<ModelSpec>,
}

/// Every architecture of `jobs` once, in their order.
fn distinct_models<'a>(jobs: impl Iterator<Item = &'a JobSpec>) -> Vec<ModelSpec> {
    let mut seen = std::collections::HashSet::new();
    jobs.filter(|j| seen.insert(j.model.label()))
        .map(|j| j.model.clone())
        .collect()
}

/// The grid's data sets grouped by image shape (first appearance first), each with the data to
/// measure on: a user's data set as `load_grid` decoded it, a built-in one loaded by its name.
fn grid_data_sets(grid: &tune_grid::Grid, args: &BenchArgs) -> anyhow::Result<Vec<DataSet>> {
    let mut sets: Vec<DataSet> = Vec::new();
    for job in &grid.jobs {
        let input = job.input_shape();
        let name = &job.train.dataset;
        if let Some(set) = sets.iter_mut().find(|s| s.input == input) {
            if !set.names.contains(name) {
                set.names.push(name.clone());
            }
            continue;
        }
        let data = match &job.train.data {
            Some(user) => crate::runner::user_dataset(&user.sha256).with_context(|| {
                format!("data set `{name}` of the grid was not decoded (a bug in tune)")
            })?,
            None => Arc::new(tune_data::load(name, args.data.data_dir.as_deref())?),
        };
        let models = distinct_models(grid.jobs.iter().filter(|j| j.input_shape() == input));
        sets.push(DataSet {
            names: vec![name.clone()],
            input,
            data,
            models,
        });
    }
    Ok(sets)
}

/// `32x32x3` (height x width x channels).
fn shape(input: &InputShape) -> String {
    format!("{}x{}x{}", input.height, input.width, input.channels)
}

/// Benchmarks every distinct architecture of a grid file on each image shape of its data sets,
/// and keeps the figures for `tune run GRID --dry-run` (saying where, or why not).
fn bench_grid(
    path: &std::path::Path,
    sets: &[DataSet],
    args: &BenchArgs,
) -> anyhow::Result<ExitCode> {
    let left = Align::Left;
    let mut table = TableData::with_columns(vec![
        Column::new("architecture", "model", left),
        Column::named("params", left),
        Column::new("images/s", "images_per_s", left),
        Column::new("GFLOP/s", "gflops", left),
        Column::new("data set", "dataset", left),
        Column::new("input (HxWxC)", "input", left),
    ])
    .styled(Style::Borders);
    let total: usize = sets.iter().map(|s| s.models.len()).sum();
    let mut measured = Vec::new();
    for set in sets {
        for model in &set.models {
            eprintln!(
                "[{}/{total}] {} on {} ({})",
                measured.len() + 1,
                model.label(),
                set.names.join(", "),
                shape(&set.input)
            );
            let m = measure(model, &set.data, args)?;
            let gflops = m.images_per_s * m.flops_per_image / 1e9;
            table.rows.push(vec![
                Cell::text(model.label()),
                Cell::new(m.params.to_string(), m.params.to_string(), m.params.into()),
                Cell::num(Some(m.images_per_s), 0),
                Cell::num(Some(gflops), 1),
                Cell::text(set.names.join(", ")),
                Cell::text(shape(&set.input)),
            ]);
            measured.push((model.clone(), set.input, m.measurement()));
        }
    }
    let format = tune_report::Format::from(args.format);
    let architectures: std::collections::HashSet<String> = sets
        .iter()
        .flat_map(|s| &s.models)
        .map(ModelSpec::label)
        .collect();
    let shapes: Vec<String> = sets
        .iter()
        .map(|s| format!("{} ({})", shape(&s.input), s.names.join(", ")))
        .collect();
    let mut after = vec![format!(
        "{} measured on {}, on each data set shape (height x width x channels): {}",
        common::count(architectures.len(), "architecture"),
        common::count(args.threads, "thread"),
        shapes.join(", ")
    )];
    after.push(
        match Cache::record(args.threads, kernels_name(args), &measured) {
            Ok(saved) => {
                let built_in = sets.iter().any(|s| s.input == InputShape::BUILT_IN);
                format!(
                    "saved in {}: `tune run {} --dry-run` estimates from these{}",
                    saved.display(),
                    path.display(),
                    if built_in {
                        " (on 28x28x1 images after its own calibrations, which time as many jobs \
                         at once as the run trains)"
                    } else {
                        ""
                    }
                )
            }
            Err(e) => format!(
                "not saved ({e}): `tune run {} --dry-run` cannot estimate from these",
                path.display()
            ),
        },
    );
    if format == tune_report::Format::Json {
        // One line, an array of `{"model", "params", "images_per_s", "gflops", "dataset",
        // "input"}` objects; the lines around it on stderr.
        println!("{}", table.to_json());
        for line in &after {
            eprintln!("{line}");
        }
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
