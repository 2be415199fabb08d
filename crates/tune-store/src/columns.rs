//! How a [`JobSpec`] becomes the typed hyperparameter columns of the `jobs` table.

use tune_spec::{JobSpec, ModelKind, Validation};

use crate::error::StoreError;
use crate::sql::JobRecord;
use crate::types::JobStatus;

/// Joins numbers as `16,32,64`.
fn join(v: &[usize]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// A count or size as a database integer.
fn int(key: &str, what: &str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::InvalidJob {
        key: key.to_string(),
        why: format!("`{what}` = {v} is larger than the database's 64-bit signed integers allow"),
    })
}

/// The `validation` column: `test` or `holdout:N`.
pub(crate) fn validation_text(v: Validation) -> String {
    match v {
        Validation::Test => "test".to_string(),
        Validation::Holdout(n) => format!("holdout:{n}"),
    }
}

/// The row a new pending job gets, at queue position `seq`.
pub(crate) fn job_record(spec: &JobSpec, seq: i64) -> Result<JobRecord, StoreError> {
    let key = spec.key();
    let invalid = |e: tune_spec::SpecError| StoreError::InvalidJob {
        key: key.clone(),
        why: e.to_string(),
    };
    // The built-in data sets' shape: the only one grids train on so far.
    let input = tune_spec::InputShape::BUILT_IN;
    let params = spec.model.params(&input).map_err(invalid)?;
    let flops = spec.model.train_flops_per_image(&input).map_err(invalid)?;
    let m = &spec.model;
    let t = &spec.train;
    let conv = |i: usize| -> Result<Option<i64>, StoreError> {
        m.filters
            .get(i)
            .map(|&f| int(&key, "filters", f as u64))
            .transpose()
    };
    Ok(JobRecord {
        seq,
        model: m.kind.as_str().to_string(),
        layers: int(&key, "filters", m.filters.len() as u64)?,
        layer1: conv(0)?,
        layer2: conv(1)?,
        layer3: conv(2)?,
        filters: join(&m.filters),
        kernel: match m.kind {
            ModelKind::Cnn => Some(int(&key, "kernel", m.kernel as u64)?),
            ModelKind::Ann => None,
        },
        dense: m
            .dense
            .first()
            .map(|&d| int(&key, "dense", d as u64))
            .transpose()?,
        dense_widths: join(&m.dense),
        dropout: m.dropout,
        l2: m.l2,
        lr: t.lr,
        rho: t.rho,
        eps: t.eps,
        batch: int(&key, "batch", t.batch as u64)?,
        epochs: int(&key, "epochs", t.epochs as u64)?,
        dataset: t.dataset.clone(),
        seed: int(&key, "seed", t.seed)?,
        train_images: t
            .train_images
            .map(|n| int(&key, "train_images", n as u64))
            .transpose()?,
        validation: validation_text(t.validation),
        spec_json: spec.canonical_json(),
        params: int(&key, "params", params as u64)?,
        flops_per_image: flops,
        status: JobStatus::Pending.as_str().to_string(),
        attempts: 0,
        worker_id: None,
        lease_expires_at: None,
        last_error: None,
        created_at: None,
        started_at: None,
        finished_at: None,
        key,
    })
}

/// Rebuilds a job from its stored canonical JSON.
pub(crate) fn parse_spec(key: &str, json: &str) -> Result<JobSpec, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        what: "spec_json",
        why: e.to_string(),
    })
}

/// Reads a stored status.
pub(crate) fn parse_status(key: &str, s: &str) -> Result<JobStatus, StoreError> {
    s.parse().map_err(|why| StoreError::Corrupt {
        key: key.to_string(),
        what: "status",
        why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tune_spec::{ModelSpec, TrainSpec};

    #[test]
    fn cnn_columns() {
        let spec = JobSpec {
            model: ModelSpec::cnn(&[32, 64], 128),
            train: TrainSpec::default(),
        };
        let r = job_record(&spec, 7).unwrap();
        assert_eq!(r.key, spec.key());
        assert_eq!(
            (r.layers, r.layer1, r.layer2, r.layer3),
            (2, Some(32), Some(64), None)
        );
        assert_eq!(r.filters, "32,64");
        assert_eq!((r.kernel, r.dense), (Some(3), Some(128)));
        assert_eq!(r.validation, "test");
        assert_eq!(
            r.params as usize,
            spec.model.params(&tune_spec::InputShape::BUILT_IN).unwrap()
        );
        assert_eq!(parse_spec(&r.key, &r.spec_json).unwrap(), spec);
    }

    #[test]
    fn ann_columns() {
        let train = TrainSpec {
            validation: Validation::Holdout(5000),
            train_images: Some(1000),
            ..TrainSpec::default()
        };
        let spec = JobSpec {
            model: ModelSpec::ann(),
            train,
        };
        let r = job_record(&spec, 1).unwrap();
        assert_eq!((r.layers, r.layer1, r.kernel), (0, None, None));
        assert_eq!((r.dense, r.dense_widths.as_str()), (Some(512), "512,256"));
        assert_eq!(
            (r.validation.as_str(), r.train_images),
            ("holdout:5000", Some(1000))
        );
    }

    #[test]
    fn huge_seed_is_refused() {
        let mut spec = JobSpec {
            model: ModelSpec::ann(),
            train: TrainSpec::default(),
        };
        spec.train.seed = u64::MAX;
        let err = job_record(&spec, 1).unwrap_err();
        assert!(err.to_string().contains("seed"), "{err}");
    }
}
