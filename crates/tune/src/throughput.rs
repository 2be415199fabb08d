//! Measured training throughput, cached by `tune bench` and used by `tune run --dry-run` to
//! estimate wall time.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use tune_spec::ModelSpec;

/// GFLOP/s assumed for an estimate when nothing was measured on this machine yet.
pub const ASSUMED_GFLOPS: f64 = 50.0;

/// One measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measurement {
    /// Training images per second.
    pub images_per_s: f64,
    /// GFLOP/s that corresponds to.
    pub gflops: f64,
}

/// Measurements by configuration (`label|threads|kernels`).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Cache(BTreeMap<String, Measurement>);

fn path() -> Option<PathBuf> {
    tune_data::cache_dir()
        .ok()
        .map(|d| d.join("throughput.json"))
}

fn key(model: &ModelSpec, threads: usize, kernels: &str) -> String {
    format!("{}|{threads}|{kernels}", model.label())
}

impl Cache {
    /// The cache on disk, or an empty one.
    pub fn load() -> Cache {
        path()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Records a measurement and writes the cache back (best effort).
    pub fn record(model: &ModelSpec, threads: usize, kernels: &str, m: Measurement) {
        let mut cache = Cache::load();
        cache.0.insert(key(model, threads, kernels), m);
        if let Some(p) = path() {
            let _ = std::fs::create_dir_all(p.parent().unwrap_or(&p));
            if let Ok(text) = serde_json::to_string_pretty(&cache) {
                let _ = std::fs::write(p, text);
            }
        }
    }

    /// Estimated training images per second of `model`, and whether it was measured for this
    /// very configuration (else scaled from the median GFLOP/s measured, or assumed).
    pub fn estimate(&self, model: &ModelSpec, threads: usize, kernels: &str) -> (f64, Basis) {
        let flops = model.train_flops_per_image().unwrap_or(1.0);
        if let Some(m) = self.0.get(&key(model, threads, kernels)) {
            return (m.images_per_s, Basis::Measured);
        }
        let mut g: Vec<f64> = self
            .0
            .iter()
            .filter(|(k, _)| k.ends_with(&format!("|{threads}|{kernels}")))
            .map(|(_, m)| m.gflops)
            .collect();
        g.sort_by(f64::total_cmp);
        match g.get(g.len() / 2) {
            Some(&gflops) => (gflops * 1e9 / flops, Basis::Scaled),
            None => (
                ASSUMED_GFLOPS * threads as f64 * 1e9 / flops,
                Basis::Assumed,
            ),
        }
    }
}

/// Where an estimate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// `tune bench` measured this configuration.
    Measured,
    /// Scaled from other measured configurations' GFLOP/s.
    Scaled,
    /// Nothing measured: an assumed GFLOP/s.
    Assumed,
}
