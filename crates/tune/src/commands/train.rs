//! `tune train`: one network from flags.

use crate::cli::{SummaryFormat, TrainArgs};
use crate::progress::TrainProgress;
use anyhow::Context;
use std::process::ExitCode;
use tune_model::{Kernels, TrainOptions};
use tune_spec::{JobSpec, TrainSpec, Validation};

pub fn run(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let (dataset, user, data) =
        crate::commands::common::data_from_flags(&args.data, args.allow_unverified, true)?;
    let job = JobSpec {
        model: args.model.spec(),
        train: TrainSpec {
            dataset,
            data: user.map(Box::new),
            epochs: args.epochs,
            batch: args.batch,
            lr: args.lr,
            seed: args.seed,
            train_images: args.train_images,
            validation: args.holdout.map_or(Validation::Test, Validation::Holdout),
            ..TrainSpec::default()
        },
    };
    job.validate(&job.input_shape())?;
    let input = tune_model::input_shape(&data);
    tune_model::split_sizes(&job, &job.train.dataset, data.train.len)
        .map_err(|e| anyhow::Error::new(e).context("--train-images or --holdout"))?;
    let opts = TrainOptions {
        threads: args.threads,
        kernels: Kernels::from_stock(args.stock),
        ..TrainOptions::default()
    };
    let mut progress = TrainProgress::new(args.quiet || args.format == SummaryFormat::Json);
    let trained = tune_model::train(&job, &data, &input, &opts, &mut progress, None)?;
    drop(progress);
    if let Some(path) = &args.save {
        tune_model::checkpoint::save_weights(&trained.network, path)
            .with_context(|| format!("saving weights to {}", path.display()))?;
    }
    let o = &trained.outcome;
    match args.format {
        SummaryFormat::Json => {
            let summary = serde_json::json!({
                "job_key": job.key(),
                "model": job.model,
                "train": job.train,
                "params": o.params,
                "test_loss": o.test_loss,
                "test_accuracy": o.test_accuracy,
                "runtime_s": o.runtime_s,
                "images_per_s": o.images_per_s,
                "history": o.history,
                "confusion": o.confusion,
                "weights": args.save,
            });
            println!("{summary}");
        }
        SummaryFormat::Table => {
            println!(
                "{} on {} ({} parameters)",
                job.model.label(),
                job.train.dataset,
                o.params
            );
            println!("test accuracy  {:.4}", o.test_accuracy);
            println!("test loss      {:.4}", o.test_loss);
            println!(
                "runtime        {:.1} s ({:.0} training images/s)",
                o.runtime_s, o.images_per_s
            );
            if let Some(path) = &args.save {
                println!("weights        {}", path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
