//! Expanding read settings into jobs: every combination of the axes, filtered by the rules.

use std::collections::{HashMap, HashSet};

use tune_spec::{
    DEFAULT_HOLDOUT, Field, JobSpec, ModelKind, ModelSpec, SpecError, TrainSpec, UserData,
    Validation, Value as Val,
};

use crate::constraint::Env;
use crate::error::{GridError, Location};
use crate::parse::{GridFile, Level, RuleAt, Setting};

/// Most combinations one section may expand to.
pub const MAX_COMBINATIONS: usize = 1_000_000;

/// The names of the grid's own data sets that some `dataset` setting uses, in file order.
pub(crate) fn used_datasets(file: &GridFile) -> Vec<&str> {
    let used: HashSet<&str> = std::iter::once(&file.top)
        .chain(&file.sections)
        .flat_map(|l| &l.settings)
        .filter(|s| s.key == Field::Dataset)
        .flat_map(|s| &s.values)
        .filter_map(|v| match v {
            Val::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    file.datasets
        .iter()
        .map(|d| d.name.as_str())
        .filter(|n| used.contains(n))
        .collect()
}

/// The jobs of a grid file, in file order, duplicates removed; jobs on the grid's own data sets
/// get their [`UserData`] from `data` (by name), whose shape their networks are built for.
pub(crate) fn jobs(
    file: &GridFile,
    data: &HashMap<String, UserData>,
) -> Result<Vec<JobSpec>, GridError> {
    let sections: Vec<Section> = if file.sections.is_empty() {
        vec![Section::new(&file.top, None, data)]
    } else {
        file.sections
            .iter()
            .map(|s| Section::new(&file.top, Some(s), data))
            .collect()
    };
    let mut seen = HashSet::new();
    let mut jobs = Vec::new();
    for section in &sections {
        for job in section.jobs()? {
            if seen.insert(job.key()) {
                jobs.push(job);
            }
        }
    }
    Ok(jobs)
}

/// One `[[grid]]` section merged with the top level (or the top level alone).
struct Section<'d> {
    /// The grid's own data sets, by name.
    data: &'d HashMap<String, UserData>,
    /// Top-level settings, those the section also sets replaced by the section's, then the
    /// section's other settings.
    settings: Vec<Setting>,
    rules: Vec<RuleAt>,
    at: Location,
    /// Whether this is a `[[grid]]` section rather than the whole file.
    is_section: bool,
}

impl<'d> Section<'d> {
    fn new(
        top: &Level,
        section: Option<&Level>,
        data: &'d HashMap<String, UserData>,
    ) -> Section<'d> {
        let mut settings = top.settings.clone();
        let mut rules = top.rules.clone();
        if let Some(section) = section {
            for s in &section.settings {
                match settings.iter().position(|t| t.key == s.key) {
                    Some(i) => settings[i] = s.clone(),
                    None => settings.push(s.clone()),
                }
            }
            rules.extend(section.rules.iter().cloned());
        }
        Section {
            data,
            settings,
            rules,
            at: section.unwrap_or(top).at.clone(),
            is_section: section.is_some(),
        }
    }

    fn get(&self, key: Field) -> Option<&Setting> {
        self.settings.iter().find(|s| s.key == key)
    }

    fn invalid(&self, at: Option<&Location>, key: &str, message: String) -> GridError {
        GridError::Invalid {
            at: at.unwrap_or(&self.at).clone(),
            key: key.into(),
            message,
        }
    }

    /// Checks that the settings describe networks at all, before trying combinations.
    fn check(&self) -> Result<(), GridError> {
        let mut layers: Vec<&Setting> = self
            .settings
            .iter()
            .filter(|s| matches!(s.key, Field::Layer(_)))
            .collect();
        layers.sort_by_key(|s| match s.key {
            Field::Layer(n) => n,
            _ => 0,
        });
        for (i, s) in layers.iter().enumerate() {
            if s.key != Field::Layer(i + 1) {
                return Err(self.invalid(
                    Some(&s.at),
                    &s.key.name(),
                    format!(
                        "needs `layer{}` before it: conv layers are numbered 1, 2, 3, ... without gaps",
                        i + 1
                    ),
                ));
            }
        }
        let filters = self.get(Field::Filters);
        if let (Some(f), Some(l)) = (filters, layers.first()) {
            return Err(self.invalid(
                Some(&f.at),
                "filters",
                format!(
                    "cannot be combined with `layer1`, `layer2`, ... (layer1 at line {}); give the conv layers one way",
                    l.at.line
                ),
            ));
        }
        let conv = filters.or(layers.first().copied());
        let models: Vec<ModelKind> = match self.get(Field::Model) {
            Some(s) => s
                .values
                .iter()
                .map(|v| match v {
                    Val::Model(m) => *m,
                    other => unreachable!("model setting holds {other:?}"),
                })
                .collect(),
            None => vec![ModelKind::Cnn],
        };
        let model_at = self.get(Field::Model).map(|s| &s.at);
        if models.contains(&ModelKind::Ann)
            && let Some(c) = conv
        {
            return Err(self.invalid(
                Some(&c.at),
                &c.key.name(),
                "sets conv layers, but this grid's model includes \"ann\", which has none; remove it, or put the ANN in its own [[grid]] section".into(),
            ));
        }
        if models.contains(&ModelKind::Cnn) {
            if conv.is_none() {
                return Err(self.invalid(
                    model_at,
                    "layer1",
                    "is missing: a CNN (the default model) needs conv layers; set `layer1`, `layer2`, ... or `filters` in [fixed] or [axes], or set model = \"ann\"".into(),
                ));
            }
            if self.get(Field::Dense).is_none() {
                return Err(self.invalid(
                    conv.map(|c| &c.at),
                    "dense",
                    "is missing: a CNN needs the width of its hidden dense layer, e.g. `dense = 128` in [fixed] (or a list like [256, 128] for several)".into(),
                ));
            }
        }
        Ok(())
    }

    fn axes(&self) -> Vec<&Setting> {
        self.settings.iter().filter(|s| s.axis).collect()
    }

    /// Where the rules are (the first rule), else the section.
    fn rules_at(&self) -> &Location {
        self.rules.first().map_or(&self.at, |r| &r.at)
    }

    fn jobs(&self) -> Result<Vec<JobSpec>, GridError> {
        self.check()?;
        let axes = self.axes();
        let total = axes
            .iter()
            .try_fold(1u128, |n, a| n.checked_mul(a.values.len() as u128))
            .unwrap_or(u128::MAX);
        if total > MAX_COMBINATIONS as u128 {
            return Err(GridError::TooMany {
                at: axes.first().map_or(&self.at, |a| &a.at).clone(),
                combinations: total,
                limit: MAX_COMBINATIONS,
            });
        }
        let total = total as usize;
        let mut jobs = Vec::new();
        for index in 0..total {
            let combination = self.combination(&axes, index);
            let job = combination.job(self.data);
            let mut keep = true;
            for rule in &self.rules {
                let holds = rule
                    .rule
                    .holds(&JobEnv(&job))
                    .map_err(|e| self.spec_error(&combination, &job, e))?;
                if !holds {
                    keep = false;
                    break;
                }
            }
            if keep {
                job.validate(&job.input_shape())
                    .map_err(|e| self.spec_error(&combination, &job, e))?;
                jobs.push(job);
            }
        }
        if jobs.is_empty() {
            return Err(self.no_jobs(&axes, total));
        }
        Ok(jobs)
    }

    /// The `index`-th combination of the axes, the last axis varying fastest.
    fn combination<'a>(&'a self, axes: &[&'a Setting], mut index: usize) -> Combination<'a> {
        let mut chosen = vec![0; axes.len()];
        for (i, axis) in axes.iter().enumerate().rev() {
            chosen[i] = index % axis.values.len();
            index /= axis.values.len();
        }
        let mut values = Vec::new();
        let mut varied = Vec::new();
        for s in &self.settings {
            if s.axis {
                let i = axes
                    .iter()
                    .position(|a| a.key == s.key)
                    .expect("axis listed");
                let v = &s.values[chosen[i]];
                values.push((s.key, v));
                varied.push((s.key, v));
            } else {
                values.push((s.key, &s.values[0]));
            }
        }
        Combination { values, varied }
    }

    fn spec_error(&self, combination: &Combination, job: &JobSpec, err: SpecError) -> GridError {
        let key = match &err {
            SpecError::Shrinks { layer, .. } | SpecError::PoolShrinks { layer, .. } => {
                Some(Field::Layer(*layer))
            }
            // Dense widths are one setting of a grid.
            SpecError::Invalid {
                what: Field::DenseLayer(_),
                ..
            } => Some(Field::Dense),
            SpecError::Invalid { what, .. } => Some(*what),
            // The data set's shape, not a setting of the grid.
            SpecError::InvalidInput { .. } => None,
        };
        let setting = key.and_then(|k| self.get(k)).or_else(|| {
            key.filter(|k| k.is_conv())
                .and_then(|_| self.get(Field::Filters))
        });
        GridError::Spec {
            at: setting.map_or(&self.at, |s| &s.at).clone(),
            combination: combination.describe(job),
            source: err,
        }
    }

    fn no_jobs(&self, axes: &[&Setting], total: usize) -> GridError {
        let kept: Vec<usize> = self
            .rules
            .iter()
            .map(|rule| {
                (0..total)
                    .filter(|&i| {
                        let job = self.combination(axes, i).job(self.data);
                        rule.rule.holds(&JobEnv(&job)).unwrap_or(false)
                    })
                    .count()
            })
            .collect();
        let each: Vec<String> = self
            .rules
            .iter()
            .zip(&kept)
            .map(|(r, n)| format!("`{}` (line {}) keeps {n}", r.rule, r.at.line))
            .collect();
        let detail = if each.len() == 1 {
            format!(
                "check {}",
                each[0].split(" keeps").next().unwrap_or_default()
            )
        } else {
            format!(
                "on its own, {}; loosen or remove the rules that keep fewest",
                each.join(", ")
            )
        };
        GridError::NoJobs {
            at: self.rules_at().clone(),
            combinations: total,
            section: if self.is_section {
                format!(" of the [[grid]] section at line {}", self.at.line)
            } else {
                String::new()
            },
            detail,
        }
    }
}

/// The values of one combination: every setting, and the axes' choices for messages.
struct Combination<'a> {
    values: Vec<(Field, &'a Val)>,
    varied: Vec<(Field, &'a Val)>,
}

impl Combination<'_> {
    fn get(&self, key: Field) -> Option<&Val> {
        self.values.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    /// `layer1=16 layer2=32 (cnn 16-32/64 k3)`.
    fn describe(&self, job: &JobSpec) -> String {
        let varied: Vec<String> = self
            .varied
            .iter()
            .map(|(k, v)| format!("{}={v}", k.name()))
            .collect();
        if varied.is_empty() {
            job.model.label()
        } else {
            format!("{} ({})", varied.join(" "), job.model.label())
        }
    }

    /// The job, with defaults for everything not set and the [`UserData`] of its data set if it
    /// is one of `data`. [`Section::check`] has made sure that a CNN has conv layers and a dense
    /// width and that an ANN has no conv layers.
    fn job(&self, data: &HashMap<String, UserData>) -> JobSpec {
        let kind = match self.get(Field::Model) {
            Some(Val::Model(m)) => *m,
            _ => ModelKind::Cnn,
        };
        let model = match kind {
            ModelKind::Cnn => ModelSpec {
                dense: Vec::new(),
                ..ModelSpec::cnn(&[], 0)
            },
            ModelKind::Ann => ModelSpec::ann(),
        };
        // A grid validates on a holdout of the training split unless it says otherwise.
        let train = TrainSpec {
            validation: Validation::Holdout(DEFAULT_HOLDOUT),
            ..TrainSpec::default()
        };
        let mut job = JobSpec { model, train };
        for &(field, value) in &self.values {
            field.set(&mut job, value);
        }
        job.train.data = data.get(&job.train.dataset).cloned().map(Box::new);
        job
    }
}

/// The values rules see for a job.
struct JobEnv<'a>(&'a JobSpec);

impl Env for JobEnv<'_> {
    fn value(&self, name: Field) -> Result<Option<f64>, SpecError> {
        name.number(self.0)
    }
}
