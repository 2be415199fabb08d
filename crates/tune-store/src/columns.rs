//! How a [`JobSpec`] becomes the typed hyperparameter columns of the `jobs` table: one column per
//! field of [`Field::COLUMNS`] (named by [`Field::column`], valued by [`Field::stored`]), so a new
//! setting needs its migration and nothing here. The statements that write and read whole `jobs`
//! rows ([`crate::sql::Sql::insert_job`], [`crate::sql::Sql::export_jobs`]) list those columns
//! through [`with_settings`].

use sqlx::{ColumnIndex, Decode, Row, Type};
use tune_spec::{Field, JobSpec, ModelSpec, Stored, TrainSpec};

use crate::error::StoreError;
use crate::sql::JobRecord;
use crate::types::JobStatus;

/// A setting's value in its `jobs` column, as bound and read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    /// `INTEGER` (`None`: NULL).
    Int(Option<i64>),
    /// `REAL` / `DOUBLE PRECISION`.
    Float(f64),
    /// `TEXT`.
    Text(String),
}

/// The setting columns of `jobs`, in [`Field::COLUMNS`] order.
fn setting_columns() -> impl Iterator<Item = (Field, &'static str)> {
    Field::COLUMNS.into_iter().map(|f| {
        (
            f,
            f.column()
                .expect("every field of Field::COLUMNS has a column"),
        )
    })
}

/// `template` with `{settings}` replaced by `, ` and the setting columns, and `{setting_params}`
/// by `, ` and their parameters numbered from `$first`.
pub(crate) fn with_settings(template: &str, first: usize) -> String {
    let (columns, params): (Vec<&str>, Vec<String>) = setting_columns()
        .enumerate()
        .map(|(i, (_, column))| (column, format!("${}", first + i)))
        .unzip();
    template
        .replace("{settings}", &format!(", {}", columns.join(", ")))
        .replace("{setting_params}", &format!(", {}", params.join(", ")))
}

/// Reads a whole `jobs` row, as [`crate::sql::Sql::export_jobs`] selects it.
impl<'r, R> sqlx::FromRow<'r, R> for JobRecord
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    f64: Decode<'r, R::Database> + Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        // The kind of each column does not depend on the job: read it off any job.
        let sample = JobSpec {
            model: ModelSpec::cnn(&[1], 1),
            train: TrainSpec::default(),
        };
        let settings = setting_columns()
            .map(|(field, column)| {
                Ok(match field.stored(&sample) {
                    Stored::Int(_) => Cell::Int(row.try_get(column)?),
                    Stored::Float(_) => Cell::Float(row.try_get(column)?),
                    Stored::Text(_) => Cell::Text(row.try_get(column)?),
                })
            })
            .collect::<Result<Vec<Cell>, sqlx::Error>>()?;
        Ok(JobRecord {
            key: row.try_get("key")?,
            seq: row.try_get("seq")?,
            settings,
            spec_json: row.try_get("spec_json")?,
            params: row.try_get("params")?,
            flops_per_image: row.try_get("flops_per_image")?,
            status: row.try_get("status")?,
            attempts: row.try_get("attempts")?,
            worker_id: row.try_get("worker_id")?,
            lease_expires_at: row.try_get("lease_expires_at")?,
            last_error: row.try_get("last_error")?,
            created_at: row.try_get("created_at")?,
            started_at: row.try_get("started_at")?,
            finished_at: row.try_get("finished_at")?,
        })
    }
}

/// A count or size as a database integer.
fn int(key: &str, what: &str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::InvalidJob {
        key: key.to_string(),
        why: format!("`{what}` = {v} is larger than the database's 64-bit signed integers allow"),
    })
}

/// The row a new pending job gets, at queue position `seq`.
pub(crate) fn job_record(spec: &JobSpec, seq: i64) -> Result<JobRecord, StoreError> {
    let key = spec.key();
    let invalid = |e: tune_spec::SpecError| StoreError::InvalidJob {
        key: key.clone(),
        why: e.to_string(),
    };
    // The shape of the job's data: a user's data set's, else the built-in data sets'.
    let input = spec.input_shape();
    let params = spec.model.params(&input).map_err(invalid)?;
    let flops = spec.model.train_flops_per_image(&input).map_err(invalid)?;
    let settings = setting_columns()
        .map(|(field, _)| {
            Ok(match field.stored(spec) {
                Stored::Int(v) => Cell::Int(v.map(|v| int(&key, &field.name(), v)).transpose()?),
                Stored::Float(x) => Cell::Float(x),
                Stored::Text(s) => Cell::Text(s),
            })
        })
        .collect::<Result<Vec<Cell>, StoreError>>()?;
    Ok(JobRecord {
        seq,
        settings,
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

/// The setting `column` of a record (tests).
#[cfg(test)]
fn cell<'a>(r: &'a JobRecord, column: &str) -> &'a Cell {
    let i = setting_columns()
        .position(|(_, c)| c == column)
        .expect("a setting column");
    &r.settings[i]
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
    use tune_spec::Validation;

    #[test]
    fn cnn_columns() {
        let spec = JobSpec {
            model: ModelSpec::cnn(&[32, 64], 128),
            train: TrainSpec::default(),
        };
        let r = job_record(&spec, 7).unwrap();
        assert_eq!(r.key, spec.key());
        let int = |c: &str| match cell(&r, c) {
            Cell::Int(v) => *v,
            other => panic!("{c} holds {other:?}"),
        };
        let text = |c: &str| match cell(&r, c) {
            Cell::Text(s) => s.clone(),
            other => panic!("{c} holds {other:?}"),
        };
        assert_eq!(
            (int("layers"), int("layer1"), int("layer2"), int("layer3")),
            (Some(2), Some(32), Some(64), None)
        );
        assert_eq!(text("filters"), "32,64");
        assert_eq!((int("kernel"), int("dense")), (Some(3), Some(128)));
        assert_eq!(text("validation"), "test");
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
        assert_eq!(
            (cell(&r, "layers"), cell(&r, "layer1"), cell(&r, "kernel")),
            (&Cell::Int(Some(0)), &Cell::Int(None), &Cell::Int(None))
        );
        assert_eq!(
            (cell(&r, "dense"), cell(&r, "dense_widths")),
            (&Cell::Int(Some(512)), &Cell::Text("512,256".into()))
        );
        assert_eq!(
            (cell(&r, "validation"), cell(&r, "train_images")),
            (&Cell::Text("holdout:5000".into()), &Cell::Int(Some(1000)))
        );
    }

    #[test]
    fn statements_list_every_setting_column() {
        let sql = with_settings(
            "INSERT INTO jobs (key{settings}) VALUES ($1{setting_params})",
            2,
        );
        assert!(
            sql.starts_with(
                "INSERT INTO jobs (key, model, layers, layer1, layer2, layer3, filters,"
            ),
            "{sql}"
        );
        assert!(sql.ends_with("$20, $21)"), "{sql}");
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
