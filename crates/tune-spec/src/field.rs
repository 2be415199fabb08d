//! The one vocabulary of a job's settings and figures: what grid files set, what rules compare,
//! what reports group, sort and filter by, and what the store keeps as typed columns.
//!
//! Adding a setting means: a field of [`ModelSpec`] or [`TrainSpec`], a variant of [`Field`] with
//! its arms below (name, [`ValueKind`], [`Field::set`], [`Field::value`], [`Field::number`],
//! [`Field::stored`]), its place in the role lists ([`Field::GRID`], [`Field::RULES`],
//! [`Field::REPORT`], [`Field::TRAINING`], [`Field::COLUMNS`]), and one migration per dialect that
//! adds its column.

use std::cmp::Ordering;
use std::fmt;

use serde::{Serialize, Serializer};

use crate::{JobSpec, ModelKind, ModelSpec, SpecError, TrainSpec, Validation, number};

/// A named quantity of a job: a setting (`dropout`, `layer2`, `dense`) or a figure computed from
/// the settings (`params`, `flops`, `layers`, `last_filters`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `model`: `cnn` or `ann`.
    Model,
    /// `dataset`: `mnist`, `fashion-mnist`.
    Dataset,
    /// `layers`: number of conv layers (a figure, not a setting).
    Layers,
    /// `layerN` (1-based): filters of conv layer N.
    Layer(usize),
    /// `kernel`: conv kernel side (none for an ANN).
    Kernel,
    /// `dense`: widths of the hidden dense layers (a number where one is needed: the first).
    Dense,
    /// `denseN` (1-based): width of hidden dense layer N.
    DenseLayer(usize),
    /// `dropout`: dropout rate.
    Dropout,
    /// `l2`: L2 factor.
    L2,
    /// `lr`: learning rate.
    Lr,
    /// `rho`: RMSprop's decay of the squared-gradient average.
    Rho,
    /// `eps`: RMSprop's epsilon.
    Eps,
    /// `batch`: images per gradient step.
    Batch,
    /// `epochs`: passes over the training data.
    Epochs,
    /// `train_images`: training images used (none: all of the training split).
    TrainImages,
    /// `validation`: what each epoch is validated on (`test`, or a holdout of N images).
    Validation,
    /// `seed`: the job's seed.
    Seed,
    /// `filters`: all conv filters.
    Filters,
    /// `last_filters`: filters of the last conv layer (a figure).
    LastFilters,
    /// `params`: trainable parameters (a figure).
    Params,
    /// `flops`: training FLOPs per image (a figure).
    Flops,
}

/// Fields named without a number, by name.
const NAMED: [(&str, Field); 19] = [
    ("model", Field::Model),
    ("dataset", Field::Dataset),
    ("layers", Field::Layers),
    ("kernel", Field::Kernel),
    ("dense", Field::Dense),
    ("dropout", Field::Dropout),
    ("l2", Field::L2),
    ("lr", Field::Lr),
    ("rho", Field::Rho),
    ("eps", Field::Eps),
    ("batch", Field::Batch),
    ("epochs", Field::Epochs),
    ("train_images", Field::TrainImages),
    ("validation", Field::Validation),
    ("seed", Field::Seed),
    ("filters", Field::Filters),
    ("last_filters", Field::LastFilters),
    ("params", Field::Params),
    ("flops", Field::Flops),
];

/// Other names that reports accept for a field.
const ALIASES: [(&str, Field); 4] = [
    ("depth", Field::Layers),
    ("layerdense", Field::Dense),
    ("train-images", Field::TrainImages),
    ("images", Field::TrainImages),
];

/// Names people reach for that are not accepted, and the name they mean (for "did you mean").
const MEANT: [(&str, &str); 9] = [
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

/// Why [`Field::from_name`] found no field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownField {
    /// No field has that name.
    Unknown,
    /// `layer0`, `layer01`, `dense0`: a numbered form with a number that is not 1, 2, 3, ...
    Misnumbered {
        /// `layer` or `dense`.
        prefix: &'static str,
    },
}

/// A name that is not a report column (`--by`, `--sort`, `--where`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown field `{name}`: {hint}valid fields are {valid}")]
pub struct UnknownReportField {
    /// What was given.
    pub name: String,
    /// `did you mean `lr`? ` for a name people reach for ([`Field::meant`]), else empty.
    pub hint: String,
    /// The valid names, comma-separated.
    pub valid: String,
}

/// `prefix` followed by digits: `Ok(n)` for a positive number without leading zeros, `Err` for
/// other digits, `None` when `name` is not `prefix` followed by digits.
fn numbered(name: &str, prefix: &str) -> Option<Result<usize, ()>> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match digits.parse::<usize>() {
        Ok(n) if n >= 1 && !digits.starts_with('0') => Ok(n),
        _ => Err(()),
    })
}

/// The type of value a setting takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A [`ModelKind`].
    Model,
    /// The name of a data set of [`crate::DATASETS`].
    Dataset,
    /// A non-negative integer.
    Int,
    /// A number (integers accepted).
    Float,
    /// A [`Validation`].
    Validation,
    /// An integer or a list of integers.
    Dense,
    /// A list of integers.
    Filters,
}

/// A value of a setting, as a grid file gives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `model`.
    Model(ModelKind),
    /// A name (`dataset`).
    Text(String),
    /// A count or size.
    Int(u64),
    /// A rate or factor.
    Float(f64),
    /// `validation`.
    Validation(Validation),
    /// Sizes (`dense`, `filters`).
    List(Vec<usize>),
}

/// As grid files write it: `[16,32]`, `holdout:5000`, `0.001`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Model(m) => write!(f, "{m}"),
            Value::Text(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&number(*x)),
            Value::Validation(Validation::Test) => f.write_str("test"),
            Value::Validation(Validation::Holdout(n)) => write!(f, "holdout:{n}"),
            Value::List(v) => {
                let items: Vec<String> = v.iter().map(|x| x.to_string()).collect();
                write!(f, "[{}]", items.join(","))
            }
        }
    }
}

impl Value {
    /// The integer of an [`Value::Int`].
    ///
    /// # Panics
    ///
    /// On any other value (a setting of [`ValueKind::Int`] always holds one).
    pub fn as_u64(&self) -> u64 {
        match self {
            Value::Int(i) => *i,
            other => unreachable!("integer setting holds {other:?}"),
        }
    }

    /// [`Value::as_u64`] as a `usize`, saturating.
    pub fn as_usize(&self) -> usize {
        usize::try_from(self.as_u64()).unwrap_or(usize::MAX)
    }

    /// The number of a [`Value::Float`]; panics on any other value.
    pub fn as_f64(&self) -> f64 {
        match self {
            Value::Float(x) => *x,
            other => unreachable!("number setting holds {other:?}"),
        }
    }

    /// The sizes of a [`Value::List`]; panics on any other value.
    pub fn as_list(&self) -> &[usize] {
        match self {
            Value::List(v) => v,
            other => unreachable!("list setting holds {other:?}"),
        }
    }
}

/// A field's value in the store's `jobs` table.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    /// An `INTEGER` column (`None`: NULL).
    Int(Option<u64>),
    /// A `REAL` / `DOUBLE PRECISION` column.
    Float(f64),
    /// A `TEXT` column.
    Text(String),
}

/// `16,32,64`.
fn comma_list(v: &[usize]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

impl Field {
    /// The settings of a grid file's `[fixed]` and `[axes]`, in the order messages list them;
    /// `layerN` besides.
    pub const GRID: [Field; 15] = [
        Field::Model,
        Field::Dataset,
        Field::Kernel,
        Field::Epochs,
        Field::Batch,
        Field::Dropout,
        Field::L2,
        Field::Lr,
        Field::Rho,
        Field::Eps,
        Field::Seed,
        Field::TrainImages,
        Field::Validation,
        Field::Dense,
        Field::Filters,
    ];

    /// The numbers a grid's rules may name, in the order messages list them; `layerN` and
    /// `denseN` besides.
    pub const RULES: [Field; 15] = [
        Field::Kernel,
        Field::Epochs,
        Field::Batch,
        Field::Dropout,
        Field::L2,
        Field::Lr,
        Field::Rho,
        Field::Eps,
        Field::Seed,
        Field::TrainImages,
        Field::Dense,
        Field::Params,
        Field::Flops,
        Field::Layers,
        Field::LastFilters,
    ];

    /// The columns of a report (`--by`, `--sort`, `--where`), in the order messages list them;
    /// `layerN` for any N besides.
    pub const REPORT: [Field; 19] = [
        Field::Model,
        Field::Dataset,
        Field::Layers,
        Field::Layer(1),
        Field::Layer(2),
        Field::Layer(3),
        Field::Kernel,
        Field::Dense,
        Field::Dropout,
        Field::L2,
        Field::Lr,
        Field::Rho,
        Field::Eps,
        Field::Batch,
        Field::Epochs,
        Field::TrainImages,
        Field::Validation,
        Field::Seed,
        Field::Filters,
    ];

    /// The hyperparameters of training besides the data and the epochs (regularisation and
    /// optimiser), in the order reports show them. A new such setting joins this list, and the
    /// report tables, CSV columns, labels and pooling notes that list training settings show it.
    pub const HYPER: [Field; 6] = [
        Field::Dropout,
        Field::L2,
        Field::Lr,
        Field::Rho,
        Field::Eps,
        Field::Batch,
    ];

    /// The settings of a job that are not its architecture, in the order labels and tables list
    /// them: `dataset`, `train_images`, `validation`, [`Field::HYPER`], `epochs`, `seed`.
    pub fn training() -> Vec<Field> {
        let mut fields = vec![Field::Dataset, Field::TrainImages, Field::Validation];
        fields.extend(Field::HYPER);
        fields.extend([Field::Epochs, Field::Seed]);
        fields
    }

    /// The fields the store keeps as typed columns of `jobs`, in the table's column order (see
    /// [`Field::column`] and [`Field::stored`]).
    pub const COLUMNS: [Field; 20] = [
        Field::Model,
        Field::Layers,
        Field::Layer(1),
        Field::Layer(2),
        Field::Layer(3),
        Field::Filters,
        Field::Kernel,
        Field::DenseLayer(1),
        Field::Dense,
        Field::Dropout,
        Field::L2,
        Field::Lr,
        Field::Rho,
        Field::Eps,
        Field::Batch,
        Field::Epochs,
        Field::Dataset,
        Field::Seed,
        Field::TrainImages,
        Field::Validation,
    ];

    /// The field's name: `dropout`, `layer2`, `dense3`.
    pub fn name(self) -> String {
        match self {
            Field::Layer(n) => format!("layer{n}"),
            Field::DenseLayer(n) => format!("dense{n}"),
            other => NAMED
                .iter()
                .find(|(_, f)| *f == other)
                .map(|(n, _)| n.to_string())
                .expect("every field but layerN and denseN is named"),
        }
    }

    /// The field called `name` exactly (`layerN` and `denseN` with N = 1, 2, 3, ...).
    pub fn from_name(name: &str) -> Result<Field, UnknownField> {
        if let Some(&(_, field)) = NAMED.iter().find(|(n, _)| *n == name) {
            return Ok(field);
        }
        type Numbered = fn(usize) -> Field;
        let forms: [(&'static str, Numbered); 2] =
            [("layer", Field::Layer), ("dense", Field::DenseLayer)];
        for (prefix, make) in forms {
            match numbered(name, prefix) {
                Some(Ok(n)) => return Ok(make(n)),
                Some(Err(())) => return Err(UnknownField::Misnumbered { prefix }),
                None => {}
            }
        }
        Err(UnknownField::Unknown)
    }

    /// The field called `name` or one of the other names reports accept (`depth`, `layerdense`,
    /// `images`, `train-images`).
    pub fn from_name_or_alias(name: &str) -> Result<Field, UnknownField> {
        match ALIASES.iter().find(|(a, _)| *a == name) {
            Some(&(_, field)) => Ok(field),
            None => Field::from_name(name),
        }
    }

    /// The names of [`Field::REPORT`], in order: what reports accept (besides any `layerN`).
    pub fn report_names() -> Vec<String> {
        Field::REPORT.iter().map(|f| f.name()).collect()
    }

    /// The report column called `name` (any case; the aliases `depth`, `layerdense`, `images`
    /// and `train-images` too); an unknown name is an error listing the valid ones.
    pub fn parse_report(name: &str) -> Result<Field, UnknownReportField> {
        let lower = name.trim().to_ascii_lowercase();
        match Field::from_name_or_alias(&lower) {
            Ok(f) if f.is_report_field() => Ok(f),
            _ => Err(UnknownReportField {
                name: name.to_string(),
                hint: Field::meant(&lower)
                    .map(|m| format!("did you mean `{m}`? "))
                    .unwrap_or_default(),
                valid: Field::report_names().join(", "),
            }),
        }
    }

    /// Parses a comma-separated list of report columns such as `layers,kernel` (what `--by`
    /// takes), dropping repeats.
    pub fn parse_list(s: &str) -> Result<Vec<Field>, UnknownReportField> {
        let mut out: Vec<Field> = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let f = Field::parse_report(part)?;
            if !out.contains(&f) {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// The name meant by a name people reach for that is not accepted (`learning_rate`: `lr`).
    pub fn meant(name: &str) -> Option<&'static str> {
        MEANT.iter().find(|(a, _)| *a == name).map(|(_, m)| *m)
    }

    /// Whether a grid file can set the field ([`Field::GRID`] and `layerN`).
    pub fn is_grid_setting(self) -> bool {
        matches!(self, Field::Layer(_)) || Field::GRID.contains(&self)
    }

    /// Whether a rule can compare the field ([`Field::RULES`], `layerN` and `denseN`).
    pub fn is_rule_number(self) -> bool {
        matches!(self, Field::Layer(_) | Field::DenseLayer(_)) || Field::RULES.contains(&self)
    }

    /// Whether a report can group, sort or filter by the field ([`Field::REPORT`] and `layerN`).
    pub fn is_report_field(self) -> bool {
        matches!(self, Field::Layer(_)) || Field::REPORT.contains(&self)
    }

    /// Whether the field describes conv layers (which an ANN does not have).
    pub fn is_conv(self) -> bool {
        matches!(self, Field::Layer(_) | Field::Filters)
    }

    /// The type of value the setting takes ([`ValueKind::Int`] for the figures).
    pub fn kind(self) -> ValueKind {
        match self {
            Field::Model => ValueKind::Model,
            Field::Dataset => ValueKind::Dataset,
            Field::Dropout | Field::L2 | Field::Lr | Field::Rho | Field::Eps | Field::Flops => {
                ValueKind::Float
            }
            Field::Validation => ValueKind::Validation,
            Field::Dense => ValueKind::Dense,
            Field::Filters => ValueKind::Filters,
            Field::Kernel
            | Field::Epochs
            | Field::Batch
            | Field::Seed
            | Field::TrainImages
            | Field::Layer(_)
            | Field::DenseLayer(_)
            | Field::Layers
            | Field::LastFilters
            | Field::Params => ValueKind::Int,
        }
    }

    /// Sets the setting to `value` (of the field's [`ValueKind`]) in `job`. `model` changes the
    /// family only (the caller starts from the family's defaults); `layerN` grows the filters to
    /// N layers; `kernel` of an ANN and the figures are ignored.
    ///
    /// # Panics
    ///
    /// If `value` is not of the field's kind.
    pub fn set(self, job: &mut JobSpec, value: &Value) {
        let (m, t): (&mut ModelSpec, &mut TrainSpec) = (&mut job.model, &mut job.train);
        match self {
            Field::Model => {
                if let Value::Model(k) = value {
                    m.kind = *k;
                }
            }
            Field::Dataset => {
                if let Value::Text(s) = value {
                    t.dataset = s.clone();
                }
            }
            Field::Layer(n) => {
                if m.filters.len() < n {
                    m.filters.resize(n, 0);
                }
                m.filters[n - 1] = value.as_usize();
            }
            Field::Filters => m.filters = value.as_list().to_vec(),
            Field::Kernel if m.kind == ModelKind::Cnn => m.kernel = value.as_usize(),
            Field::Dense => m.dense = value.as_list().to_vec(),
            Field::Dropout => m.dropout = value.as_f64(),
            Field::L2 => m.l2 = value.as_f64(),
            Field::Lr => t.lr = value.as_f64(),
            Field::Rho => t.rho = value.as_f64(),
            Field::Eps => t.eps = value.as_f64(),
            Field::Batch => t.batch = value.as_usize(),
            Field::Epochs => t.epochs = value.as_usize(),
            Field::Seed => t.seed = value.as_u64(),
            Field::TrainImages => t.train_images = Some(value.as_usize()),
            Field::Validation => {
                if let Value::Validation(v) = value {
                    t.validation = *v;
                }
            }
            Field::Kernel
            | Field::DenseLayer(_)
            | Field::Layers
            | Field::LastFilters
            | Field::Params
            | Field::Flops => {}
        }
    }

    /// The field's value for a job, as reports group, sort and show it.
    pub fn value(self, spec: &JobSpec) -> FieldValue {
        let m = &spec.model;
        let t = &spec.train;
        let is_ann = m.kind == ModelKind::Ann;
        let int = |n: Option<&usize>| n.map_or(FieldValue::None, |&n| FieldValue::Int(n as u64));
        match self {
            Field::Model => FieldValue::Text(m.kind.as_str().into()),
            Field::Dataset => FieldValue::Text(t.dataset.clone()),
            Field::Layers if is_ann => FieldValue::Text("ann".into()),
            Field::Layers => FieldValue::Int(m.filters.len() as u64),
            Field::Layer(n) => int(m.filters.get(n.wrapping_sub(1))),
            Field::Kernel if is_ann => FieldValue::None,
            Field::Kernel => FieldValue::Int(m.kernel as u64),
            Field::Dense => FieldValue::List(m.dense.clone()),
            Field::DenseLayer(n) => int(m.dense.get(n.wrapping_sub(1))),
            Field::Dropout => FieldValue::Float(m.dropout),
            Field::L2 => FieldValue::Float(m.l2),
            Field::Lr => FieldValue::Float(t.lr),
            Field::Batch => FieldValue::Int(t.batch as u64),
            Field::Epochs => FieldValue::Int(t.epochs as u64),
            Field::Rho => FieldValue::Float(t.rho),
            Field::Eps => FieldValue::Float(t.eps),
            Field::TrainImages => match t.train_images {
                Some(n) => FieldValue::Int(n as u64),
                None => FieldValue::Text("all".into()),
            },
            Field::Validation => FieldValue::Text(match t.validation {
                Validation::Test => "test".into(),
                Validation::Holdout(n) => format!("holdout {n}"),
            }),
            Field::Seed => FieldValue::Int(t.seed),
            Field::Filters if is_ann => FieldValue::None,
            Field::Filters => FieldValue::List(m.filters.clone()),
            Field::LastFilters => int(m.filters.last()),
            Field::Params => m
                .params(&spec.input_shape())
                .map_or(FieldValue::None, |p| FieldValue::Int(p as u64)),
            Field::Flops => m
                .train_flops_per_image(&spec.input_shape())
                .map_or(FieldValue::None, FieldValue::Float),
        }
    }

    /// The field as a number for a job, as rules compare it: `None` when the job has no such
    /// value (`layer3` of a 2-layer CNN, `kernel` of an ANN, `train_images` when unset) or the
    /// field is not a number (`model`, `dataset`, `validation`, `filters`); `dense` is the first
    /// width, `layers` of an ANN is 0. Fails when the figure needs a network that cannot be built.
    pub fn number(self, spec: &JobSpec) -> Result<Option<f64>, SpecError> {
        let (m, t) = (&spec.model, &spec.train);
        let cnn = m.kind == ModelKind::Cnn;
        let count = |n: usize| Some(n as f64);
        Ok(match self {
            Field::Kernel => count(m.kernel).filter(|_| cnn),
            Field::Epochs => count(t.epochs),
            Field::Batch => count(t.batch),
            Field::Dropout => Some(m.dropout),
            Field::L2 => Some(m.l2),
            Field::Lr => Some(t.lr),
            Field::Rho => Some(t.rho),
            Field::Eps => Some(t.eps),
            Field::Seed => Some(t.seed as f64),
            Field::TrainImages => t.train_images.and_then(count),
            Field::Layer(n) => m.filters.get(n.wrapping_sub(1)).copied().and_then(count),
            Field::Dense => Field::DenseLayer(1).number(spec)?,
            Field::DenseLayer(n) => m.dense.get(n.wrapping_sub(1)).copied().and_then(count),
            Field::Params => count(m.params(&spec.input_shape())?),
            Field::Flops => Some(m.train_flops_per_image(&spec.input_shape())?),
            Field::Layers => count(m.filters.len()),
            Field::LastFilters => m.filters.last().copied().and_then(count),
            Field::Model | Field::Dataset | Field::Validation | Field::Filters => None,
        })
    }

    /// The field's column in the store's `jobs` table, for the fields of [`Field::COLUMNS`].
    pub fn column(self) -> Option<&'static str> {
        Some(match self {
            Field::Layer(1) => "layer1",
            Field::Layer(2) => "layer2",
            Field::Layer(3) => "layer3",
            Field::DenseLayer(1) => "dense",
            Field::Dense => "dense_widths",
            Field::Layer(_)
            | Field::DenseLayer(_)
            | Field::LastFilters
            | Field::Params
            | Field::Flops => return None,
            other => NAMED
                .iter()
                .find(|(_, f)| *f == other)
                .map(|(n, _)| *n)
                .expect("named"),
        })
    }

    /// The field's value in its store column (see [`Field::column`]): lists as `16,32`, the
    /// validation as `test` or `holdout:N`, `layers` of an ANN as 0, missing values as NULL.
    pub fn stored(self, spec: &JobSpec) -> Stored {
        let (m, t) = (&spec.model, &spec.train);
        let int = |n: Option<&usize>| Stored::Int(n.map(|&n| n as u64));
        match self {
            Field::Model => Stored::Text(m.kind.as_str().to_string()),
            Field::Layers => Stored::Int(Some(m.filters.len() as u64)),
            Field::Filters => Stored::Text(comma_list(&m.filters)),
            Field::Dense => Stored::Text(comma_list(&m.dense)),
            Field::Validation => Stored::Text(match t.validation {
                Validation::Test => "test".to_string(),
                Validation::Holdout(n) => format!("holdout:{n}"),
            }),
            Field::Layer(n) => int(m.filters.get(n.wrapping_sub(1))),
            Field::DenseLayer(n) => int(m.dense.get(n.wrapping_sub(1))),
            Field::TrainImages => int(t.train_images.as_ref()),
            other => match other.value(spec) {
                FieldValue::Int(v) => Stored::Int(Some(v)),
                FieldValue::Float(x) => Stored::Float(x),
                FieldValue::Text(s) => Stored::Text(s),
                FieldValue::None => Stored::Int(None),
                FieldValue::List(v) => Stored::Text(comma_list(&v)),
            },
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// [`Field::parse_report`].
impl std::str::FromStr for Field {
    type Err = UnknownReportField;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Field::parse_report(s)
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// What a table shows for no value.
pub const EMPTY: &str = "—";

/// One job's value of a [`Field`]. Values of one field order naturally (numbers by size, `ann`
/// after every conv depth); an empty value orders last.
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

    /// The value as a table shows it, [`EMPTY`] for none.
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

/// As tables show it: `0.001`, `512-256`, [`EMPTY`].
impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Int(v) => write!(f, "{v}"),
            FieldValue::Float(v) => f.write_str(&number(*v)),
            FieldValue::List(v) => {
                let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
                f.write_str(&parts.join("-"))
            }
            FieldValue::Text(v) => f.write_str(v),
            FieldValue::None => f.write_str(EMPTY),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        for f in Field::GRID
            .iter()
            .chain(&Field::RULES)
            .chain(&Field::REPORT)
            .chain(&Field::COLUMNS)
            .chain(&[Field::DenseLayer(7), Field::Layer(12)])
        {
            assert_eq!(Field::from_name(&f.name()), Ok(*f));
        }
        assert_eq!(
            Field::from_name("layer0"),
            Err(UnknownField::Misnumbered { prefix: "layer" })
        );
        assert_eq!(
            Field::from_name("dense01"),
            Err(UnknownField::Misnumbered { prefix: "dense" })
        );
        assert_eq!(Field::from_name("layer"), Err(UnknownField::Unknown));
        assert_eq!(Field::from_name("layer+1"), Err(UnknownField::Unknown));
        assert_eq!(Field::from_name_or_alias("depth"), Ok(Field::Layers));
        assert_eq!(Field::from_name("depth"), Err(UnknownField::Unknown));
        assert_eq!(Field::meant("batch_size"), Some("batch"));
    }

    #[test]
    fn every_column_is_named_and_stored() {
        let spec = JobSpec {
            model: ModelSpec::ann(),
            train: TrainSpec::default(),
        };
        let columns: Vec<&str> = Field::COLUMNS.iter().map(|f| f.column().unwrap()).collect();
        assert_eq!(columns[..3], ["model", "layers", "layer1"]);
        assert!(columns.contains(&"dense_widths") && columns.contains(&"dense"));
        assert_eq!(Field::Layers.stored(&spec), Stored::Int(Some(0)));
        assert_eq!(Field::Kernel.stored(&spec), Stored::Int(None));
        assert_eq!(Field::TrainImages.stored(&spec), Stored::Int(None));
        assert_eq!(Field::Dense.stored(&spec), Stored::Text("512,256".into()));
        assert_eq!(Field::DenseLayer(1).stored(&spec), Stored::Int(Some(512)));
        assert_eq!(Field::Params.column(), None);
    }

    #[test]
    fn column_kinds_do_not_depend_on_the_job() {
        let cnn = JobSpec {
            model: ModelSpec::cnn(&[8, 8, 8], 8),
            train: TrainSpec::default(),
        };
        let ann = JobSpec {
            model: ModelSpec::ann(),
            train: TrainSpec {
                train_images: Some(100),
                validation: Validation::Holdout(10),
                ..TrainSpec::default()
            },
        };
        for f in Field::COLUMNS {
            assert_eq!(
                std::mem::discriminant(&f.stored(&cnn)),
                std::mem::discriminant(&f.stored(&ann)),
                "{f}"
            );
        }
    }

    #[test]
    fn set_builds_what_value_reads() {
        let mut job = JobSpec {
            model: ModelSpec::cnn(&[], 0),
            train: TrainSpec::default(),
        };
        Field::Layer(2).set(&mut job, &Value::Int(32));
        Field::Layer(1).set(&mut job, &Value::Int(16));
        Field::Dense.set(&mut job, &Value::List(vec![64]));
        Field::Dropout.set(&mut job, &Value::Float(0.25));
        Field::TrainImages.set(&mut job, &Value::Int(2000));
        assert_eq!(job.model.filters, [16, 32]);
        assert_eq!(Field::Filters.value(&job).to_string(), "16-32");
        assert_eq!(Field::Dropout.value(&job), FieldValue::Float(0.25));
        assert_eq!(Field::Dense.number(&job), Ok(Some(64.0)));
        assert_eq!(Field::Layer(3).number(&job), Ok(None));
        assert_eq!(Field::Filters.number(&job), Ok(None));
        assert_eq!(Value::List(vec![16, 32]).to_string(), "[16,32]");
    }
}
