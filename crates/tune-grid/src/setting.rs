//! The settings a grid can fix or vary, and their values.

use std::fmt;

use tune_spec::{ModelKind, Validation};

/// Data sets a job can name.
pub const DATASETS: [&str; 2] = ["fashion-mnist", "mnist"];

/// A setting of `[fixed]` or `[axes]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Model,
    Dataset,
    Kernel,
    Epochs,
    Batch,
    Dropout,
    L2,
    Lr,
    Rho,
    Eps,
    Seed,
    TrainImages,
    Validation,
    Dense,
    Filters,
    /// Filters of conv layer N (1-based).
    Layer(usize),
}

/// Settings other than `layerN`, by name.
pub(crate) const NAMED: [(&str, Key); 15] = [
    ("model", Key::Model),
    ("dataset", Key::Dataset),
    ("kernel", Key::Kernel),
    ("epochs", Key::Epochs),
    ("batch", Key::Batch),
    ("dropout", Key::Dropout),
    ("l2", Key::L2),
    ("lr", Key::Lr),
    ("rho", Key::Rho),
    ("eps", Key::Eps),
    ("seed", Key::Seed),
    ("train_images", Key::TrainImages),
    ("validation", Key::Validation),
    ("dense", Key::Dense),
    ("filters", Key::Filters),
];

/// Names people reach for, and the setting they mean.
pub(crate) const ALIASES: [(&str, &str); 9] = [
    ("learning_rate", "lr"),
    ("batch_size", "batch"),
    ("kernel_size", "kernel"),
    ("epsilon", "eps"),
    ("weight_decay", "l2"),
    ("data", "dataset"),
    ("units", "dense"),
    ("conv", "layer1"),
    ("train_size", "train_images"),
];

/// The type of value a setting takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Model,
    Dataset,
    /// A non-negative integer.
    Int,
    /// A number (integers accepted).
    Float,
    Validation,
    /// An integer or a list of integers.
    Dense,
    /// A list of integers.
    Filters,
}

impl Key {
    /// The setting called `name`, `Err(true)` for `layer0`-style names, `Err(false)` when unknown.
    pub(crate) fn from_name(name: &str) -> Result<Key, bool> {
        if let Some(&(_, key)) = NAMED.iter().find(|(n, _)| *n == name) {
            return Ok(key);
        }
        let Some(digits) = name.strip_prefix("layer") else {
            return Err(false);
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(false);
        }
        match digits.parse::<usize>() {
            Ok(n) if n >= 1 && !digits.starts_with('0') => Ok(Key::Layer(n)),
            _ => Err(true),
        }
    }

    /// The name written in grid files.
    pub(crate) fn name(self) -> String {
        match self {
            Key::Layer(n) => format!("layer{n}"),
            other => NAMED
                .iter()
                .find(|(_, k)| *k == other)
                .map(|(n, _)| n.to_string())
                .expect("every key but layerN is named"),
        }
    }

    pub(crate) fn kind(self) -> Kind {
        match self {
            Key::Model => Kind::Model,
            Key::Dataset => Kind::Dataset,
            Key::Kernel
            | Key::Epochs
            | Key::Batch
            | Key::Seed
            | Key::TrainImages
            | Key::Layer(_) => Kind::Int,
            Key::Dropout | Key::L2 | Key::Lr | Key::Rho | Key::Eps => Kind::Float,
            Key::Validation => Kind::Validation,
            Key::Dense => Kind::Dense,
            Key::Filters => Kind::Filters,
        }
    }

    /// Whether the setting describes conv layers (not allowed for an ANN).
    pub(crate) fn is_conv(self) -> bool {
        matches!(self, Key::Layer(_) | Key::Filters)
    }
}

/// A value of a setting.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Model(ModelKind),
    Text(String),
    Int(u64),
    Float(f64),
    Validation(Validation),
    List(Vec<usize>),
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Model(m) => write!(f, "{m}"),
            Val::Text(s) => f.write_str(s),
            Val::Int(i) => write!(f, "{i}"),
            Val::Float(x) => f.write_str(&tune_spec::number(*x)),
            Val::Validation(Validation::Test) => f.write_str("test"),
            Val::Validation(Validation::Holdout(n)) => write!(f, "holdout:{n}"),
            Val::List(v) => {
                let items: Vec<String> = v.iter().map(|x| x.to_string()).collect();
                write!(f, "[{}]", items.join(","))
            }
        }
    }
}

impl Val {
    pub(crate) fn as_u64(&self) -> u64 {
        match self {
            Val::Int(i) => *i,
            other => unreachable!("integer setting holds {other:?}"),
        }
    }

    pub(crate) fn as_usize(&self) -> usize {
        usize::try_from(self.as_u64()).unwrap_or(usize::MAX)
    }

    pub(crate) fn as_f64(&self) -> f64 {
        match self {
            Val::Float(x) => *x,
            other => unreachable!("number setting holds {other:?}"),
        }
    }

    pub(crate) fn as_list(&self) -> &[usize] {
        match self {
            Val::List(v) => v,
            other => unreachable!("list setting holds {other:?}"),
        }
    }
}
