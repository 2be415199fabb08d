//! The hyperparameter columns a report can group and sort by, and the value each takes for a job.

use crate::ReportError;
use serde::{Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use tune_spec::{JobSpec, ModelKind};

/// A hyperparameter column of a job, as named after `--by` and `--sort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `model`: `cnn` or `ann`.
    Model,
    /// `dataset`: `mnist`, `fashion-mnist`.
    Dataset,
    /// `layers`: number of conv layers, `ann` for a dense network.
    Layers,
    /// `layerN` (1-based): filters of conv layer N, empty where the net has fewer conv layers.
    Layer(usize),
    /// `kernel`: conv kernel side (empty for an ANN).
    Kernel,
    /// `dense` or `layerdense`: widths of the hidden dense layers.
    Dense,
    /// `dropout`: dropout rate.
    Dropout,
    /// `l2`: L2 factor.
    L2,
    /// `lr`: learning rate.
    Lr,
    /// `batch`: batch size.
    Batch,
    /// `epochs`: passes over the training data.
    Epochs,
    /// `seed`: the job's seed. Grouping or sorting by it lists every job instead of one row per
    /// configuration.
    Seed,
    /// `filters`: all conv filters, e.g. `64-64`.
    Filters,
}

/// The names [`Field::from_str`] accepts, in the order error messages list them.
pub const FIELD_NAMES: &[&str] = &[
    "model", "dataset", "layers", "layer1", "layer2", "layer3", "kernel", "dense", "dropout", "l2",
    "lr", "batch", "epochs", "seed", "filters",
];

impl Field {
    /// The column's name (`layerdense` is shown as `dense`).
    pub fn name(self) -> String {
        match self {
            Field::Model => "model".into(),
            Field::Dataset => "dataset".into(),
            Field::Layers => "layers".into(),
            Field::Layer(n) => format!("layer{n}"),
            Field::Kernel => "kernel".into(),
            Field::Dense => "dense".into(),
            Field::Dropout => "dropout".into(),
            Field::L2 => "l2".into(),
            Field::Lr => "lr".into(),
            Field::Batch => "batch".into(),
            Field::Epochs => "epochs".into(),
            Field::Seed => "seed".into(),
            Field::Filters => "filters".into(),
        }
    }

    /// Parses a comma-separated list such as `layers,kernel` (what `--by` takes).
    pub fn parse_list(s: &str) -> Result<Vec<Field>, ReportError> {
        let mut out: Vec<Field> = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let f: Field = part.parse()?;
            if !out.contains(&f) {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// This field's value for a job.
    pub fn value(self, spec: &JobSpec) -> FieldValue {
        let m = &spec.model;
        let t = &spec.train;
        let is_ann = m.kind == ModelKind::Ann;
        match self {
            Field::Model => FieldValue::Text(m.kind.as_str().into()),
            Field::Dataset => FieldValue::Text(t.dataset.clone()),
            Field::Layers if is_ann => FieldValue::Text("ann".into()),
            Field::Layers => FieldValue::Int(m.filters.len() as u64),
            Field::Layer(n) => match m.filters.get(n.wrapping_sub(1)) {
                Some(&f) => FieldValue::Int(f as u64),
                None => FieldValue::None,
            },
            Field::Kernel if is_ann => FieldValue::None,
            Field::Kernel => FieldValue::Int(m.kernel as u64),
            Field::Dense => FieldValue::List(m.dense.clone()),
            Field::Dropout => FieldValue::Float(m.dropout),
            Field::L2 => FieldValue::Float(m.l2),
            Field::Lr => FieldValue::Float(t.lr),
            Field::Batch => FieldValue::Int(t.batch as u64),
            Field::Epochs => FieldValue::Int(t.epochs as u64),
            Field::Seed => FieldValue::Int(t.seed),
            Field::Filters if is_ann => FieldValue::None,
            Field::Filters => FieldValue::List(m.filters.clone()),
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl FromStr for Field {
    type Err = ReportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "model" => Field::Model,
            "dataset" => Field::Dataset,
            "layers" | "depth" => Field::Layers,
            "kernel" => Field::Kernel,
            "dense" | "layerdense" => Field::Dense,
            "dropout" => Field::Dropout,
            "l2" => Field::L2,
            "lr" => Field::Lr,
            "batch" => Field::Batch,
            "epochs" => Field::Epochs,
            "seed" => Field::Seed,
            "filters" => Field::Filters,
            other => match other.strip_prefix("layer").map(str::parse::<usize>) {
                Some(Ok(n)) if n >= 1 => Field::Layer(n),
                _ => {
                    return Err(ReportError::UnknownField {
                        name: s.to_string(),
                        valid: FIELD_NAMES.join(", "),
                    });
                }
            },
        })
    }
}

/// One job's value in a [`Field`] column. Values of one field order naturally (numbers by size,
/// `ann` after every conv depth); an empty value orders last.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// A count or size.
    Int(u64),
    /// A rate or factor.
    Float(f64),
    /// Several sizes, e.g. the dense widths `512-256`.
    List(Vec<usize>),
    /// A name.
    Text(String),
    /// No value (the kernel of an ANN, the third conv layer of a two-layer CNN).
    None,
}

impl FieldValue {
    fn rank(&self) -> u8 {
        match self {
            FieldValue::Int(_) => 0,
            FieldValue::Float(_) => 1,
            FieldValue::List(_) => 2,
            FieldValue::Text(_) => 3,
            FieldValue::None => 4,
        }
    }

    /// The value as a table shows it, `—` for none.
    pub fn display(&self) -> String {
        self.to_string()
    }

    /// The value as CSV carries it: empty for none.
    pub fn csv(&self) -> String {
        match self {
            FieldValue::None => String::new(),
            other => other.to_string(),
        }
    }
}

impl Eq for FieldValue {}

impl Ord for FieldValue {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (FieldValue::Int(a), FieldValue::Int(b)) => a.cmp(b),
            (FieldValue::Float(a), FieldValue::Float(b)) => a.total_cmp(b),
            (FieldValue::List(a), FieldValue::List(b)) => a.cmp(b),
            (FieldValue::Text(a), FieldValue::Text(b)) => a.cmp(b),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
}

impl PartialOrd for FieldValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Int(v) => write!(f, "{v}"),
            FieldValue::Float(v) => write!(f, "{v}"),
            FieldValue::List(v) => {
                let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
                f.write_str(&parts.join("-"))
            }
            FieldValue::Text(v) => f.write_str(v),
            FieldValue::None => f.write_str(crate::render::EMPTY),
        }
    }
}

impl Serialize for FieldValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldValue::Int(v) => s.serialize_u64(*v),
            FieldValue::Float(v) => s.serialize_f64(*v),
            FieldValue::List(v) => v.serialize(s),
            FieldValue::Text(v) => s.serialize_str(v),
            FieldValue::None => s.serialize_none(),
        }
    }
}

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
                    valid: format!(
                        "val_accuracy (or accuracy), test_accuracy, loss, runtime, params, {}",
                        FIELD_NAMES.join(", ")
                    ),
                }),
            },
        }
    }
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
        for name in FIELD_NAMES {
            assert!(err.contains(name), "{err} lacks {name}");
        }
        assert!("layer0".parse::<Field>().is_err());
        let err = "speed".parse::<SortKey>().unwrap_err().to_string();
        assert!(err.contains("runtime") && err.contains("kernel"), "{err}");
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
