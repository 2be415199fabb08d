//! Training runs with subnormal floats flushed to zero on every thread it uses: subnormal
//! arithmetic costs a microcode assist per operation on x86 (a 64-64/128 CNN's late epochs took
//! 15x as long as its first ones without it).

use std::sync::Arc;
use tune_data::{Dataset, Split};
use tune_model::{Observer, TrainOptions};
use tune_spec::{JobSpec, ModelSpec, TrainSpec, Validation};

fn split(len: usize) -> Split {
    let images: Vec<f32> = (0..len * 784).map(|i| (i % 251) as f32 / 251.0).collect();
    Split {
        images: Arc::new(images),
        labels: Arc::new((0..len).map(|i| (i % 10) as u8).collect()),
        len,
        rows: 28,
        cols: 28,
        channels: 1,
    }
}

/// Records whether subnormal results flush to zero on the thread each callback runs on, and on
/// every thread of the pool it trains in.
struct Probe {
    flushed: Vec<bool>,
}

fn flushes_here() -> bool {
    std::hint::black_box(f32::MIN_POSITIVE) / 4.0 == 0.0
}

impl Observer for Probe {
    fn batch(&mut self, _epoch: usize, _batch: usize) -> tune_model::Flow {
        self.flushed.push(flushes_here());
        let on_pool: Vec<bool> = rayon::broadcast(|_| flushes_here());
        self.flushed.extend(on_pool);
        tune_model::Flow::Continue
    }
}

#[test]
fn every_training_thread_flushes_subnormals() {
    if !cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        return;
    }
    assert!(!flushes_here(), "the test thread itself keeps subnormals");
    let data = Dataset {
        name: "synthetic".into(),
        classes: (0..10).map(|c| c.to_string()).collect(),
        train: split(64),
        test: split(16),
    };
    for threads in [1, 2] {
        let job = JobSpec {
            model: ModelSpec::cnn(&[4], 8),
            train: TrainSpec {
                dataset: "synthetic".into(),
                epochs: 1,
                batch: 32,
                validation: Validation::Test,
                ..TrainSpec::default()
            },
        };
        let mut probe = Probe {
            flushed: Vec::new(),
        };
        let opts = TrainOptions {
            threads,
            ..TrainOptions::default()
        };
        let input = tune_spec::InputShape::BUILT_IN;
        tune_model::train(&job, &data, &input, &opts, &mut probe, None).unwrap();
        assert!(
            probe.flushed.len() >= 2 * (1 + threads),
            "{threads}: {:?}",
            probe.flushed
        );
        assert!(
            probe.flushed.iter().all(|&f| f),
            "{threads} thread(s): {:?}",
            probe.flushed
        );
    }
    assert!(!flushes_here(), "the caller's thread is left as it was");
}
