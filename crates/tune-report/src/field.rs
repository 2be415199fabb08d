//! The hyperparameter columns a report can group and sort by, and the value each takes for a job.

use crate::ReportError;
use serde::{Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;
use tune_spec::{JobSpec, ModelKind, ValueKind};

/// A hyperparameter column of a job, as named after `--by` and `--sort`: the one vocabulary of
/// settings, [`tune_spec::Field`] (reports take the fields of [`Field::REPORT`] and any `layerN`).
pub use tune_spec::{Field, FieldValue};

/// The names [`Field::parse_report`] accepts, in the order error messages list them
/// ([`Field::REPORT`]).
pub static FIELD_NAMES: LazyLock<Vec<String>> = LazyLock::new(Field::report_names);

/// The settings of a job that are not its architecture, in the order labels and tables list them.
pub static TRAINING_SETTINGS: LazyLock<Vec<Field>> = LazyLock::new(Field::training);

/// What a report's rows are ordered by (`--sort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// The ranking metric, highest first, and the default: validation accuracy after the last
    /// epoch (mean over seeds). `--sort val_accuracy` (or `accuracy`).
    #[default]
    Accuracy,
    /// Test accuracy (mean over seeds), highest first: `--sort test_accuracy`. Ranking on the test
    /// split makes the top rows' test accuracy optimistic; reports say so.
    TestAccuracy,
    /// Test loss (mean over seeds), lowest first.
    Loss,
    /// Runtime, shortest first.
    Runtime,
    /// Trainable parameters, fewest first.
    Params,
    /// A hyperparameter, ascending (ties by accuracy, highest first).
    Field(Field),
}

impl SortKey {
    /// The name `--sort` takes.
    pub fn name(self) -> String {
        match self {
            SortKey::Accuracy => "val_accuracy".into(),
            SortKey::TestAccuracy => "test_accuracy".into(),
            SortKey::Loss => "loss".into(),
            SortKey::Runtime => "runtime".into(),
            SortKey::Params => "params".into(),
            SortKey::Field(f) => f.name(),
        }
    }
}

impl fmt::Display for SortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for SortKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl FromStr for SortKey {
    type Err = ReportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "val_accuracy" | "val" | "accuracy" | "acc" => Ok(SortKey::Accuracy),
            "test_accuracy" | "test" => Ok(SortKey::TestAccuracy),
            "loss" => Ok(SortKey::Loss),
            "runtime" => Ok(SortKey::Runtime),
            "params" => Ok(SortKey::Params),
            _ => match s.parse::<Field>() {
                Ok(f) => Ok(SortKey::Field(f)),
                Err(_) => Err(ReportError::UnknownField {
                    name: s.to_string(),
                    hint: Field::meant(&s.trim().to_ascii_lowercase())
                        .map(|m| format!("did you mean `{m}`? "))
                        .unwrap_or_default(),
                    valid: format!(
                        "val_accuracy (or accuracy), test_accuracy, loss, runtime, params, {}",
                        FIELD_NAMES.join(", ")
                    ),
                }),
            },
        }
    }
}

/// One `--where FIELD=VALUE[,VALUE...]` condition: a job passes when its value of the field is one
/// of the values. Numbers compare as numbers (`lr=1e-3` matches 0.001), names without regard to
/// case, lists as written in tables (`dense=512-256`), `train_images=all` for the whole split,
/// `dataset=NAME` every version `NAME@HASH8` of a user's data set.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The field.
    pub field: Field,
    /// The accepted values, as given.
    pub values: Vec<String>,
}

impl Filter {
    /// Whether `spec` passes.
    pub fn matches(&self, spec: &JobSpec) -> bool {
        let have = self.field.value(spec);
        self.values.iter().any(|want| {
            value_matches(&have, want)
                || (self.field == Field::Dataset
                    && (is_version_of(&have, want) || is_this_version(spec, want)))
        })
    }

    /// Whether every filter passes `spec`.
    pub fn all(filters: &[Filter], spec: &JobSpec) -> bool {
        filters.iter().all(|f| f.matches(spec))
    }
}

/// Whether `have` is a version `NAME@HASH8` of the data set `want` (a name without `@`): reports
/// name the versions of a user's data set that way when the results hold several, and
/// `dataset=NAME` then selects them all (`dataset=NAME@HASH8` one).
fn is_version_of(have: &FieldValue, want: &str) -> bool {
    let want = want.trim();
    !want.contains('@')
        && have
            .to_string()
            .split_once('@')
            .is_some_and(|(name, _)| name.eq_ignore_ascii_case(want))
}

/// Whether `want`, `NAME@HASH8`, names the data `spec` was trained on (its name and the start of
/// its content hash), whether or not the results it is read with name it that way: a reader that
/// holds one version of a data set shows its plain name, and `dataset=NAME@HASH8` still selects it.
fn is_this_version(spec: &JobSpec, want: &str) -> bool {
    let Some((name, hash)) = want.trim().split_once('@') else {
        return false;
    };
    let hash = hash.to_ascii_lowercase();
    spec.train.data.as_ref().is_some_and(|d| {
        !hash.is_empty()
            && spec.train.dataset.eq_ignore_ascii_case(name)
            && d.sha256.starts_with(&hash)
    })
}

fn value_matches(have: &FieldValue, want: &str) -> bool {
    let want = want.trim();
    match have {
        FieldValue::Int(v) => want
            .replace('_', "")
            .parse::<f64>()
            .is_ok_and(|w| w == *v as f64),
        FieldValue::Float(v) => want
            .parse::<f64>()
            .is_ok_and(|w| w == *v || ((w - v).abs() <= 1e-12 * v.abs().max(w.abs()))),
        FieldValue::None => want.is_empty() || want == tune_spec::EMPTY || want == "none",
        other => other.to_string().eq_ignore_ascii_case(want),
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.field, self.values.join(","))
    }
}

impl FromStr for Filter {
    type Err = ReportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((name, values)) = s.split_once('=') else {
            return Err(ReportError::BadFilter(s.to_string()));
        };
        let field: Field = name.trim().parse()?;
        let values: Vec<String> = values
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if values.is_empty() {
            return Err(ReportError::BadFilter(s.to_string()));
        }
        // A value no job can have would match nothing, silently: refuse it.
        let (expected, example) = match field.kind() {
            ValueKind::Int if field == Field::TrainImages => ("a whole number or `all`", "2000"),
            ValueKind::Int => ("a whole number", "16"),
            ValueKind::Float => ("a number", "0.001"),
            ValueKind::Model => ("`cnn` or `ann`", "cnn"),
            _ => ("", ""),
        };
        let fits = |v: &str| match field.kind() {
            ValueKind::Int => {
                v.replace('_', "").parse::<u64>().is_ok()
                    || (field == Field::TrainImages && v.eq_ignore_ascii_case("all"))
            }
            ValueKind::Float => v.parse::<f64>().is_ok(),
            ValueKind::Model => v.parse::<ModelKind>().is_ok(),
            _ => true,
        };
        if let Some(bad) = values.iter().find(|v| !fits(v)) {
            return Err(ReportError::BadFilterValue {
                field: field.to_string(),
                value: bad.clone(),
                expected,
                example,
            });
        }
        Ok(Filter { field, values })
    }
}

/// The training settings (see [`TRAINING_SETTINGS`]) that take more than one value among `specs`:
/// what a label must name beside the architecture to tell the jobs apart. `dataset` counts over all
/// jobs, the others within each model family, since the families differ by design (the ANN has no
/// L2 by default).
pub fn varying_settings<'a>(specs: impl IntoIterator<Item = &'a JobSpec> + Clone) -> Vec<Field> {
    TRAINING_SETTINGS
        .iter()
        .copied()
        .filter(|&f| field_varies(f, specs.clone()))
        .collect()
}

/// Whether `field` takes more than one value among `specs` (within a model family, except for
/// `model` and `dataset`).
pub(crate) fn field_varies<'a>(
    field: Field,
    specs: impl IntoIterator<Item = &'a JobSpec> + Clone,
) -> bool {
    let families: &[Option<ModelKind>] = if matches!(field, Field::Model | Field::Dataset) {
        &[None]
    } else {
        &[Some(ModelKind::Cnn), Some(ModelKind::Ann)]
    };
    families.iter().any(|family| {
        let mut values = specs
            .clone()
            .into_iter()
            .filter(|s| family.is_none_or(|k| s.model.kind == k))
            .map(|s| field.value(s));
        match values.next() {
            Some(first) => values.any(|v| v != first),
            None => false,
        }
    })
}

/// A job's label: its architecture (`cnn 64-64/128 k3`) followed by `field=value` for each of
/// `fields`, e.g. `cnn 16/16 k3 dropout=0.25 train_images=2000`.
pub fn job_label(spec: &JobSpec, fields: &[Field]) -> String {
    use std::fmt::Write;
    let mut label = spec.model.label();
    for f in fields {
        let _ = write!(label, " {}={}", f.name(), f.value(spec));
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;
    use tune_spec::{ModelSpec, TrainSpec};

    #[test]
    fn parses_names_and_aliases() {
        assert_eq!("layerdense".parse::<Field>().unwrap(), Field::Dense);
        assert_eq!("Layer2".parse::<Field>().unwrap(), Field::Layer(2));
        assert_eq!(
            Field::parse_list("layers, kernel,layers").unwrap(),
            vec![Field::Layers, Field::Kernel]
        );
        assert_eq!("loss".parse::<SortKey>().unwrap(), SortKey::Loss);
        assert_eq!("lr".parse::<SortKey>().unwrap(), SortKey::Field(Field::Lr));
    }

    #[test]
    fn unknown_field_lists_valid_ones() {
        let err = "colour".parse::<Field>().unwrap_err().to_string();
        assert!(err.contains("`colour`"), "{err}");
        for name in FIELD_NAMES.iter() {
            assert!(err.contains(name), "{err} lacks {name}");
        }
        assert!("layer0".parse::<Field>().is_err());
        let err = "speed".parse::<SortKey>().unwrap_err().to_string();
        assert!(err.contains("runtime") && err.contains("kernel"), "{err}");
    }

    #[test]
    fn filters_match_numbers_names_and_lists() {
        let mut spec = JobSpec {
            model: ModelSpec::cnn(&[32, 64], 128),
            train: TrainSpec::default(),
        };
        spec.model.dropout = 0.25;
        let m = |s: &str, spec: &JobSpec| s.parse::<Filter>().unwrap().matches(spec);
        let f = |s: &str| m(s, &spec);
        assert!(f("dropout=0.25"));
        assert!(f("dropout=0.5,0.25"));
        assert!(!f("dropout=0.5"));
        assert!(f("lr=1e-3"));
        assert!(f("filters=32-64"));
        assert!(f("dataset=Fashion-MNIST"));
        assert!(f("train_images=all"));
        assert!(f("validation=test"));
        spec.train.train_images = Some(2000);
        assert!(m("train_images=2000", &spec) && m("train_images=2_000", &spec));
        let err = "colour=red".parse::<Filter>().unwrap_err().to_string();
        assert!(
            err.contains("`colour`") && err.contains("train_images"),
            "{err}"
        );
        for (bad, what) in [
            ("layer1=16,x", "whole number"),
            ("lr=0.1,fast", "a number"),
            ("train_images=most", "`all`"),
            ("model=rnn", "`cnn`"),
        ] {
            let err = bad.parse::<Filter>().unwrap_err().to_string();
            assert!(err.contains(what), "{bad}: {err}");
        }
        assert!("layer1=16,32".parse::<Filter>().is_ok());
        let err = "dropout".parse::<Filter>().unwrap_err().to_string();
        assert!(err.contains("FIELD=VALUE"), "{err}");
    }

    #[test]
    fn labels_name_the_varying_settings() {
        let a = JobSpec {
            model: ModelSpec::cnn(&[16], 16),
            train: TrainSpec::default(),
        };
        let mut b = a.clone();
        b.model.dropout = 0.25;
        b.train.train_images = Some(2000);
        let fields = varying_settings([&a, &b]);
        assert_eq!(fields, vec![Field::TrainImages, Field::Dropout]);
        assert_ne!(job_label(&a, &fields), job_label(&b, &fields));
        assert_eq!(
            job_label(&b, &fields),
            "cnn 16/16 k3 train_images=2000 dropout=0.25"
        );
    }

    #[test]
    fn values_of_cnn_and_ann() {
        let cnn = JobSpec {
            model: ModelSpec::cnn(&[32, 64], 128),
            train: TrainSpec::default(),
        };
        let ann = JobSpec {
            model: ModelSpec::ann(),
            train: TrainSpec::default(),
        };
        assert_eq!(Field::Layers.value(&cnn), FieldValue::Int(2));
        assert_eq!(Field::Layers.value(&ann), FieldValue::Text("ann".into()));
        assert_eq!(Field::Layer(2).value(&cnn), FieldValue::Int(64));
        assert_eq!(Field::Layer(3).value(&cnn), FieldValue::None);
        assert_eq!(Field::Kernel.value(&ann), FieldValue::None);
        assert_eq!(Field::Dense.value(&ann).to_string(), "512-256");
        assert_eq!(Field::Filters.value(&cnn).to_string(), "32-64");
        // conv depths first, then ann, then empty values
        let mut v = vec![
            FieldValue::None,
            FieldValue::Text("ann".into()),
            FieldValue::Int(3),
            FieldValue::Int(1),
        ];
        v.sort();
        assert_eq!(
            v,
            vec![
                FieldValue::Int(1),
                FieldValue::Int(3),
                FieldValue::Text("ann".into()),
                FieldValue::None
            ]
        );
    }
}
