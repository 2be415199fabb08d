//! Measured throughput, the basis of `tune run --dry-run`'s estimates.
//!
//! Figures come from three places, best first:
//! - calibration: on first use, `tune run GRID --dry-run` trains each architecture of the grid for
//!   about a second on synthetic images, as many copies at once as the run will train jobs at once
//!   (so that jobs sharing the memory bandwidth are accounted for), and times training and
//!   evaluation separately;
//! - `tune bench` (one job at a time, training only), per image shape: on the built-in data
//!   sets' 28x28x1 images, and on each shape of a user's data set that it measured (for jobs of
//!   such a shape a measurement of that very shape comes first, before a calibration, which is
//!   of 28x28x1 images);
//! - for architectures not measured, the GFLOP/s of the measured one nearest in FLOPs, else an
//!   assumed [`ASSUMED_GFLOPS`]; for jobs on another image shape than measured, the figures of
//!   28x28x1 images scaled by FLOPs per image.
//!
//! Everything is cached in `throughput.json` in tune's cache directory ([`tune_data::cache_dir`]:
//! `$TUNE_CACHE_DIR`, else `$XDG_CACHE_HOME/tune/datasets`, else `~/.cache/tune/datasets`). Delete
//! the file, or pass `tune run GRID --dry-run --recalibrate`, to measure again (after a hardware
//! or tune upgrade, or when the figures were taken on a busy machine: each calibration records
//! how much CPU other processes used meanwhile, and the dry run warns when that was more than
//! [`BUSY_CORES`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tune_data::{Dataset, Split};
use tune_model::{Kernels, TrainOptions};
use tune_spec::{InputShape, JobSpec, ModelSpec, TrainSpec};

/// GFLOP/s assumed for an estimate when nothing was measured on this machine yet.
pub const ASSUMED_GFLOPS: f64 = 50.0;

/// Evaluation (forward only) is taken to run this many times as fast as training when it was not
/// measured (training costs three forward passes' worth of multiply-adds).
const ASSUMED_EVAL_SPEEDUP: f64 = 3.0;

/// One measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measurement {
    /// Training images per second (per job).
    pub images_per_s: f64,
    /// GFLOP/s that corresponds to.
    pub gflops: f64,
    /// Evaluated images per second (per job), when measured.
    #[serde(default)]
    pub eval_images_per_s: Option<f64>,
    /// CPU cores other processes kept busy while this was calibrated (from `/proc/stat` less
    /// tune's own CPU time; `None` where unknown): above [`BUSY_CORES`] the figures are slow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub others_busy_cores: Option<f64>,
}

/// Other processes' CPU use during a calibration, in cores, above which its figures are called
/// out as measured on a busy machine.
pub const BUSY_CORES: f64 = 0.25;

/// CPU time so far, in clock ticks: (all CPUs busy, all CPUs total, this process's own).
/// Linux only (`/proc`); `None` elsewhere.
fn cpu_ticks() -> Option<(u64, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let total: u64 = cpu.iter().take(8).sum();
    let idle = cpu.get(3)? + cpu.get(4).unwrap_or(&0);
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th.
    let rest = &own[own.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let own = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((total - idle, total, own))
}

/// Cores kept busy by other processes between two [`cpu_ticks`] samples.
fn others_busy(before: Option<(u64, u64, u64)>, after: Option<(u64, u64, u64)>) -> Option<f64> {
    let ((b0, t0, o0), (b1, t1, o1)) = (before?, after?);
    let cores = std::thread::available_parallelism().ok()?.get() as f64;
    let wall = (t1.saturating_sub(t0)) as f64 / cores;
    if wall <= 0.0 {
        return None;
    }
    let others = b1.saturating_sub(b0).saturating_sub(o1.saturating_sub(o0)) as f64;
    Some((others / wall).max(0.0))
}

/// Measurements by configuration: `label|threads|kernels` (from `tune bench`, one job, on 28x28x1
/// images), `label|threads|kernels|input=HxWxC,K` (from `tune bench` on a user's data set of
/// that shape and K classes) or `label|threads|kernels|jobs=N` (calibration, N jobs at once).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Cache(BTreeMap<String, Measurement>);

/// Where the cache lives, if there is a cache directory.
pub fn path() -> Option<PathBuf> {
    tune_data::cache_dir()
        .ok()
        .map(|d| d.join("throughput.json"))
}

fn key(model: &ModelSpec, threads: usize, kernels: &str) -> String {
    format!("{}|{threads}|{kernels}", model.label())
}

/// The key of a `tune bench` measurement on images of `input`: the plain key for the built-in
/// shape (as before shapes were recorded), else the shape appended.
fn measured_key(model: &ModelSpec, threads: usize, kernels: &str, input: &InputShape) -> String {
    let plain = key(model, threads, kernels);
    if *input == InputShape::BUILT_IN {
        plain
    } else {
        format!(
            "{plain}|input={}x{}x{},{}",
            input.height, input.width, input.channels, input.classes
        )
    }
}

fn calibrated_key(model: &ModelSpec, threads: usize, kernels: &str, jobs: usize) -> String {
    format!("{}|jobs={jobs}", key(model, threads, kernels))
}

/// An estimate of one architecture's speed and where it comes from.
#[derive(Debug, Clone, Copy)]
pub struct Speed {
    /// Training images per second per job.
    pub train: f64,
    /// Evaluated images per second per job.
    pub eval: f64,
    /// Where the figures come from.
    pub basis: Basis,
}

impl Cache {
    /// The cache on disk, or an empty one.
    pub fn load() -> Cache {
        path()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Writes the cache to [`path()`]; the path, or why it could not be written.
    fn save(&self) -> Result<PathBuf, String> {
        let p = path().ok_or("there is no cache directory (set TUNE_CACHE_DIR)")?;
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(p.parent().unwrap_or(&p))?;
            std::fs::write(&p, serde_json::to_string_pretty(self)?)
        };
        write().map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        Ok(p)
    }

    /// Records `tune bench` measurements on images of the shapes given and writes the cache
    /// back; where it was written, or why it could not be.
    pub fn record(
        threads: usize,
        kernels: &str,
        measured: &[(ModelSpec, InputShape, Measurement)],
    ) -> Result<PathBuf, String> {
        let mut cache = Cache::load();
        for (model, input, m) in measured {
            cache
                .0
                .insert(measured_key(model, threads, kernels, input), m.clone());
        }
        cache.save()
    }

    /// Forgets the calibrations of `models` for `jobs` jobs at once (`--recalibrate`).
    pub fn forget(&mut self, models: &[ModelSpec], threads: usize, kernels: &str, jobs: usize) {
        for m in models {
            self.0.remove(&calibrated_key(m, threads, kernels, jobs));
        }
    }

    /// The most CPU other processes used while any of `models` was calibrated for `jobs` jobs
    /// at once (see [`Measurement::others_busy_cores`]), if known.
    pub fn busiest_calibration(
        &self,
        models: &[ModelSpec],
        threads: usize,
        kernels: &str,
        jobs: usize,
    ) -> Option<f64> {
        models
            .iter()
            .filter_map(|m| self.0.get(&calibrated_key(m, threads, kernels, jobs)))
            .filter_map(|m| m.others_busy_cores)
            .reduce(f64::max)
    }

    /// Whether a calibration for `jobs` jobs at once exists for `model`.
    pub fn has_calibration(
        &self,
        model: &ModelSpec,
        threads: usize,
        kernels: &str,
        jobs: usize,
    ) -> bool {
        self.0
            .contains_key(&calibrated_key(model, threads, kernels, jobs))
    }

    /// Estimated speed of `model` trained `jobs` at a time with `threads` threads each on images
    /// of `input`: a `tune bench` measurement of that shape (other than 28x28x1) first; else
    /// [`Cache::estimate`]'s figures for 28x28x1 images, scaled to `input` by training FLOPs per
    /// image.
    pub fn estimate_for(
        &self,
        model: &ModelSpec,
        threads: usize,
        kernels: &str,
        jobs: usize,
        input: &InputShape,
    ) -> Speed {
        if *input != InputShape::BUILT_IN
            && let Some(m) = self.0.get(&measured_key(model, threads, kernels, input))
        {
            return Speed {
                train: m.images_per_s,
                eval: m
                    .eval_images_per_s
                    .unwrap_or(m.images_per_s * ASSUMED_EVAL_SPEEDUP),
                basis: Basis::Measured,
            };
        }
        let mut speed = self.estimate(model, threads, kernels, jobs);
        let flops = |input| model.train_flops_per_image(input).ok();
        if let (Some(built_in), Some(own)) = (flops(&InputShape::BUILT_IN), flops(input))
            && own > 0.0
        {
            speed.train *= built_in / own;
            speed.eval *= built_in / own;
        }
        speed
    }

    /// Estimated speed of `model` trained `jobs` at a time with `threads` threads each, on the
    /// built-in data sets' 28x28x1 images.
    pub fn estimate(&self, model: &ModelSpec, threads: usize, kernels: &str, jobs: usize) -> Speed {
        let flops = model
            .train_flops_per_image(&InputShape::BUILT_IN)
            .unwrap_or(1.0);
        let with_eval = |m: &Measurement, basis| Speed {
            train: m.images_per_s,
            eval: m
                .eval_images_per_s
                .unwrap_or(m.images_per_s * ASSUMED_EVAL_SPEEDUP),
            basis,
        };
        if let Some(m) = self.0.get(&calibrated_key(model, threads, kernels, jobs)) {
            return with_eval(m, Basis::Calibrated);
        }
        if let Some(m) = self.0.get(&key(model, threads, kernels)) {
            return with_eval(m, Basis::Measured);
        }
        // Scale by FLOPs from the measured architecture nearest in FLOPs per image (its GFLOP/s
        // and eval/train ratio), calibrations for this many jobs first.
        let suffixes = [
            format!("|{threads}|{kernels}|jobs={jobs}"),
            format!("|{threads}|{kernels}"),
        ];
        for suffix in suffixes {
            let same: Vec<&Measurement> = self
                .0
                .iter()
                .filter(|(k, _)| k.ends_with(&suffix))
                .map(|(_, m)| m)
                .collect();
            if same.is_empty() {
                continue;
            }
            let distance = |m: &Measurement| {
                let their_flops = m.gflops * 1e9 / m.images_per_s.max(1e-9);
                (their_flops / flops).ln().abs()
            };
            let nearest = same
                .iter()
                .min_by(|a, b| distance(a).total_cmp(&distance(b)))
                .expect("not empty");
            let ratio = nearest
                .eval_images_per_s
                .map_or(ASSUMED_EVAL_SPEEDUP, |e| e / nearest.images_per_s);
            let train = nearest.gflops * 1e9 / flops;
            return Speed {
                train,
                eval: train * ratio,
                basis: Basis::Scaled,
            };
        }
        let train = ASSUMED_GFLOPS * threads as f64 * 1e9 / flops;
        Speed {
            train,
            eval: train * ASSUMED_EVAL_SPEEDUP,
            basis: Basis::Assumed,
        }
    }

    /// Calibrates the architectures of `models` (most used first) that have no calibration for
    /// `jobs` jobs at once, within about `budget` of wall time, and caches the figures. Returns
    /// how many were measured. `on_start` is told each architecture before it is measured.
    pub fn calibrate(
        &mut self,
        models: &[ModelSpec],
        threads: usize,
        kernels: Kernels,
        jobs: usize,
        budget: Duration,
        on_start: &mut dyn FnMut(usize, &ModelSpec),
    ) -> usize {
        let kernels_name = kernels.name();
        let started = Instant::now();
        let data = synthetic_data();
        let mut measured = 0;
        for model in models {
            if self.has_calibration(model, threads, kernels_name, jobs) {
                continue;
            }
            if started.elapsed() > budget {
                break;
            }
            on_start(measured, model);
            let before = cpu_ticks();
            match calibrate_one(model, &data, threads, kernels, jobs) {
                Ok(mut m) => {
                    m.others_busy_cores = others_busy(before, cpu_ticks());
                    self.0
                        .insert(calibrated_key(model, threads, kernels_name, jobs), m);
                    measured += 1;
                }
                Err(e) => tracing::warn!("cannot calibrate {}: {e}", model.label()),
            }
        }
        if measured > 0
            && let Err(e) = self.save()
        {
            tracing::warn!("calibrations not kept: {e}");
        }
        measured
    }
}

/// Training images of the synthetic calibration data.
const CALIBRATION_TRAIN: usize = 8192;
/// Test images of the synthetic calibration data.
const CALIBRATION_TEST: usize = 1000;
/// Seconds of training each calibration aims at.
const CALIBRATION_SECONDS: f64 = 1.0;

/// 28x28 images of deterministic noise with labels 0..9: speed does not depend on the pixels.
fn synthetic_data() -> Dataset {
    let split = |len: usize, salt: usize| {
        let images: Vec<f32> = (0..len * 784)
            .map(|i| ((i.wrapping_mul(2_654_435_761) ^ salt) % 251) as f32 / 250.0)
            .collect();
        Split {
            images: Arc::new(images),
            labels: Arc::new((0..len).map(|i| (i % 10) as u8).collect()),
            len,
            rows: 28,
            cols: 28,
            channels: 1,
        }
    };
    Dataset {
        name: "calibration".into(),
        classes: (0..10).map(|c| c.to_string()).collect(),
        train: split(CALIBRATION_TRAIN, 7),
        test: split(CALIBRATION_TEST, 11),
    }
}

/// Trains `model` as `jobs` concurrent copies for about [`CALIBRATION_SECONDS`] after a warm-up,
/// then times evaluation; the figures are per job (the mean of the copies).
fn calibrate_one(
    model: &ModelSpec,
    data: &Dataset,
    threads: usize,
    kernels: Kernels,
    jobs: usize,
) -> anyhow::Result<Measurement> {
    let input = tune_model::input_shape(data);
    let flops = model.train_flops_per_image(&input)?;
    let opts = TrainOptions {
        threads,
        kernels,
        evaluate: false,
        ..TrainOptions::default()
    };
    let job = |images: usize| JobSpec {
        model: model.clone(),
        train: TrainSpec {
            epochs: 1,
            train_images: Some(images),
            ..TrainSpec::default()
        },
    };
    // Warm-up, which also sizes the timed run.
    let warm = tune_model::train(
        &job(256),
        data,
        &input,
        &opts,
        &mut tune_model::Silent,
        None,
    )?;
    let guess = warm.outcome.images_per_s.max(1.0);
    let images = ((guess * CALIBRATION_SECONDS) as usize).clamp(256, CALIBRATION_TRAIN) / 64 * 64;
    let copies: Vec<anyhow::Result<(f64, f64)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..jobs.max(1))
            .map(|_| {
                let (job, opts) = (job(images), opts.clone());
                s.spawn(move || -> anyhow::Result<(f64, f64)> {
                    let trained = tune_model::train(
                        &job,
                        data,
                        &input,
                        &opts,
                        &mut tune_model::Silent,
                        None,
                    )?;
                    // Warm the evaluation's buffers (a real job evaluates every epoch) before
                    // timing it.
                    tune_model::train::evaluate(
                        &trained.network,
                        &data.test,
                        0..opts.eval_batch.min(data.test.len),
                        opts.eval_batch,
                    )?;
                    let eval_started = Instant::now();
                    tune_model::train::evaluate(
                        &trained.network,
                        &data.test,
                        0..data.test.len,
                        opts.eval_batch,
                    )?;
                    let eval = data.test.len as f64 / eval_started.elapsed().as_secs_f64();
                    Ok((trained.outcome.images_per_s, eval))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("calibration thread"))
            .collect()
    });
    let mut train = Vec::new();
    let mut eval = Vec::new();
    for c in copies {
        let (t, e) = c?;
        train.push(t);
        eval.push(e);
    }
    let n = train.len() as f64;
    let images_per_s = train.iter().sum::<f64>() / n;
    Ok(Measurement {
        images_per_s,
        gflops: images_per_s * flops / 1e9,
        eval_images_per_s: Some(eval.iter().sum::<f64>() / n),
        others_busy_cores: None,
    })
}

/// Where an estimate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Basis {
    /// Calibrated by `tune run --dry-run` for this very setting.
    Calibrated,
    /// `tune bench` measured this configuration (one job at a time).
    Measured,
    /// Scaled from other measured configurations' GFLOP/s.
    Scaled,
    /// Nothing measured: an assumed GFLOP/s.
    Assumed,
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILT_IN: InputShape = InputShape::BUILT_IN;

    fn measured(model: &ModelSpec, images_per_s: f64, eval: f64) -> Measurement {
        Measurement {
            images_per_s,
            gflops: images_per_s * model.train_flops_per_image(&BUILT_IN).unwrap() / 1e9,
            eval_images_per_s: Some(eval),
            others_busy_cores: None,
        }
    }

    #[test]
    fn calibrated_figures_come_first_then_the_nearest_in_flops() {
        let small = ModelSpec::cnn(&[16], 16);
        let big = ModelSpec::cnn(&[128, 128], 128);
        let near_big = ModelSpec::cnn(&[128, 128], 64);
        let mut cache = Cache::default();
        cache.0.insert(
            calibrated_key(&small, 1, "fast", 2),
            measured(&small, 20_000.0, 80_000.0),
        );
        cache.0.insert(
            calibrated_key(&big, 1, "fast", 2),
            measured(&big, 500.0, 1_000.0),
        );
        let s = cache.estimate(&big, 1, "fast", 2);
        assert_eq!(
            (s.train, s.eval, s.basis),
            (500.0, 1_000.0, Basis::Calibrated)
        );
        // Another number of jobs at once is not this calibration.
        assert_eq!(cache.estimate(&big, 1, "fast", 1).basis, Basis::Assumed);
        // An unmeasured architecture takes the GFLOP/s and eval ratio of the nearest in FLOPs.
        let s = cache.estimate(&near_big, 1, "fast", 2);
        assert_eq!(s.basis, Basis::Scaled);
        let expected = big.train_flops_per_image(&BUILT_IN).unwrap()
            / near_big.train_flops_per_image(&BUILT_IN).unwrap()
            * 500.0;
        assert!(
            (s.train - expected).abs() < 1e-6 * expected,
            "{} vs {expected}",
            s.train
        );
        assert!((s.eval / s.train - 2.0).abs() < 1e-9);
    }

    #[test]
    fn a_measurement_of_a_users_shape_comes_first_for_that_shape_only() {
        let model = ModelSpec::cnn(&[8], 16);
        let rgb = InputShape {
            height: 32,
            width: 32,
            channels: 3,
            classes: 5,
        };
        let mut cache = Cache::default();
        cache.0.insert(
            calibrated_key(&model, 1, "fast", 1),
            measured(&model, 10_000.0, 30_000.0),
        );
        cache.0.insert(
            measured_key(&model, 1, "fast", &rgb),
            measured(&model, 700.0, 2_100.0),
        );
        let s = cache.estimate_for(&model, 1, "fast", 1, &rgb);
        assert_eq!((s.train, s.basis), (700.0, Basis::Measured));
        // Another shape: the 28x28x1 calibration scaled by FLOPs.
        let gray = InputShape { channels: 1, ..rgb };
        let s = cache.estimate_for(&model, 1, "fast", 1, &gray);
        let scale = model.train_flops_per_image(&BUILT_IN).unwrap()
            / model.train_flops_per_image(&gray).unwrap();
        assert_eq!(s.basis, Basis::Calibrated);
        assert!((s.train - 10_000.0 * scale).abs() < 1e-6, "{}", s.train);
        // The built-in shape's key is the one used before shapes were recorded.
        assert_eq!(
            measured_key(&model, 1, "fast", &BUILT_IN),
            key(&model, 1, "fast")
        );
    }
}
