//! Reading a grid file's TOML into settings and rules, with the location of every key.

use toml_edit::{Document, Item, TableLike, Value};
use tune_spec::{
    DATASET_NAMES as DATASETS, Field, ModelKind, UnknownField, Validation, Value as Val,
    ValueKind as Kind,
};

use crate::constraint::Rule;
use crate::error::{GridError, Lines, Location, closest};

/// One setting of `[fixed]` (one value) or `[axes]` (the values to try).
#[derive(Debug, Clone)]
pub(crate) struct Setting {
    pub(crate) key: Field,
    pub(crate) axis: bool,
    pub(crate) values: Vec<Val>,
    /// Where the key is written.
    pub(crate) at: Location,
}

/// A rule and where it is written.
#[derive(Debug, Clone)]
pub(crate) struct RuleAt {
    pub(crate) rule: Rule,
    pub(crate) at: Location,
}

/// The `fixed`, `axes` and `constraints` of the file's top level or of one `[[grid]]` section.
#[derive(Debug, Clone)]
pub(crate) struct Level {
    /// Fixed settings first, then axes, each in file order.
    pub(crate) settings: Vec<Setting>,
    pub(crate) rules: Vec<RuleAt>,
    /// Where the `[[grid]]` header (or the file) starts.
    pub(crate) at: Location,
}

/// A grid file, read but not expanded.
#[derive(Debug, Clone)]
pub(crate) struct GridFile {
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    /// `repeats = R`: seeds per configuration.
    pub(crate) repeats: Option<usize>,
    pub(crate) top: Level,
    pub(crate) sections: Vec<Level>,
    /// `[search]`, if written.
    pub(crate) search: Option<crate::search::SearchAt>,
}

/// Reads the TOML text of a grid file.
pub(crate) fn read(text: &str, origin: &str) -> Result<GridFile, GridError> {
    let lines = Lines::new(text, origin);
    let doc = Document::parse(text).map_err(|e| GridError::Syntax {
        at: lines.span(e.span(), &lines.start()),
        message: e.message().trim().replace('\n', "; "),
    })?;
    Reader { lines }.file(doc.as_table())
}

/// A short description of a TOML item for "found ..." messages.
pub(crate) fn found(item: &Item) -> String {
    match item {
        Item::Value(v) => {
            let mut text = v.clone().decorated("", "").to_string();
            if text.chars().count() > 40 {
                text = text.chars().take(37).collect::<String>() + "...";
            }
            format!("{} {text}", v.type_name())
        }
        Item::Table(_) => "a table".into(),
        Item::ArrayOfTables(_) => "an array of tables".into(),
        Item::None => "nothing".into(),
    }
}

fn expected(kind: Kind) -> &'static str {
    match kind {
        Kind::Model => "a string, \"cnn\" or \"ann\"",
        Kind::Dataset => "a string naming a data set, like \"fashion-mnist\" or \"mnist\"",
        Kind::Int => "an integer",
        Kind::Float => "a number",
        Kind::Validation => "\"test\" or { holdout = N }",
        Kind::Dense => "an integer or a list of integers, like 128 or [512, 256]",
        Kind::Filters => "a list of integers, one per conv layer, like [16, 32]",
    }
}

/// The setting of `[fixed]` and `[axes]` called `name`; `Err(true)` for `layer0`-style names,
/// `Err(false)` when there is none.
fn grid_setting(name: &str) -> Result<Field, bool> {
    match Field::from_name(name) {
        Ok(f) if f.is_grid_setting() => Ok(f),
        Err(UnknownField::Misnumbered { prefix: "layer" }) => Err(true),
        _ => Err(false),
    }
}

/// Keys of the file's top level.
const TOP_LEVEL: [&str; 8] = [
    "name",
    "description",
    "repeats",
    "fixed",
    "axes",
    "constraints",
    "grid",
    "search",
];

struct Reader<'a> {
    lines: Lines<'a>,
}

impl Reader<'_> {
    /// Where `key` of `table` is written, else `fallback`.
    fn key_at(&self, table: &dyn TableLike, key: &str, fallback: &Location) -> Location {
        self.lines
            .span(table.key(key).and_then(|k| k.span()), fallback)
    }

    fn unknown_key(
        &self,
        at: Location,
        key: &str,
        table: &str,
        valid: &[&str],
        extra_hint: &str,
    ) -> GridError {
        let hint = match Field::meant(key).or_else(|| closest(key, valid)) {
            Some(c) => format!("Did you mean `{c}`? "),
            None => String::new(),
        };
        let misplaced = if table != "the top level" && TOP_LEVEL.contains(&key) {
            "Top-level keys must come before the first [table] line. "
        } else {
            ""
        };
        GridError::UnknownKey {
            at,
            key: key.to_string(),
            table: table.to_string(),
            help: format!(
                "{hint}{extra_hint}{misplaced}Valid keys there: {}",
                valid.join(", ")
            ),
        }
    }

    fn string(&self, item: &Item, key: &str, at: &Location) -> Result<String, GridError> {
        item.as_str()
            .map(str::to_string)
            .ok_or_else(|| GridError::WrongType {
                at: self.lines.span(item.span(), at),
                key: key.to_string(),
                expected: "a string".into(),
                found: found(item),
            })
    }

    fn file(&self, root: &dyn TableLike) -> Result<GridFile, GridError> {
        let start = self.lines.start();
        let mut name = None;
        let mut description = None;
        let mut repeats = None;
        let mut sections = Vec::new();
        let mut search = None;
        for (key, item) in root.iter() {
            let at = self.key_at(root, key, &start);
            match key {
                "name" => {
                    let text = self.string(item, key, &at)?;
                    if text.trim().is_empty() {
                        return Err(GridError::Invalid {
                            at,
                            key: key.into(),
                            message: "is empty; give the grid a name or remove the line".into(),
                        });
                    }
                    name = Some(text);
                }
                "description" => description = Some(self.string(item, key, &at)?),
                "repeats" => {
                    let r = item
                        .as_integer()
                        .and_then(|r| usize::try_from(r).ok())
                        .filter(|&r| r >= 1)
                        .ok_or_else(|| GridError::Invalid {
                            at: self.lines.span(item.span(), &at),
                            key: key.into(),
                            message: format!(
                                "must be a whole number of seeds, at least 1, found {}",
                                found(item)
                            ),
                        })?;
                    repeats = Some(r);
                }
                "fixed" | "axes" | "constraints" => {}
                "search" => search = Some(crate::search::read(item, at, &self.lines)?),
                "grid" => {
                    let Some(tables) = item.as_array_of_tables() else {
                        return Err(GridError::WrongType {
                            at,
                            key: key.into(),
                            expected: "a list of sections, each starting with a `[[grid]]` line (double brackets)".into(),
                            found: found(item),
                        });
                    };
                    for table in tables.iter() {
                        let section_at = self.lines.span(table.span(), &at);
                        sections.push(self.level(table, section_at, true)?);
                    }
                }
                _ => {
                    let hint = if grid_setting(key).is_ok() {
                        "Settings belong in [fixed] (one value) or [axes] (a list of values). "
                    } else {
                        ""
                    };
                    return Err(self.unknown_key(at, key, "the top level", &TOP_LEVEL, hint));
                }
            }
        }
        Ok(GridFile {
            name,
            description,
            repeats,
            top: self.level(root, start, false)?,
            sections,
            search,
        })
    }

    /// Reads `fixed`, `axes` and `constraints` of the top level or of a `[[grid]]` section.
    fn level(
        &self,
        table: &dyn TableLike,
        at: Location,
        section: bool,
    ) -> Result<Level, GridError> {
        const VALID: [&str; 4] = ["description", "fixed", "axes", "constraints"];
        let prefix = if section { "grid." } else { "" };
        if section {
            for (key, _) in table.iter() {
                if !VALID.contains(&key) {
                    let key_at = self.key_at(table, key, &at);
                    let hint = if grid_setting(key).is_ok() {
                        "Settings belong in `fixed = { .. }` or `axes = { .. }` of the section. "
                    } else {
                        ""
                    };
                    return Err(self.unknown_key(key_at, key, "a [[grid]] section", &VALID, hint));
                }
                if key == "description" {
                    let item = table.get(key).expect("iterated key");
                    self.string(item, key, &at)?;
                }
            }
        }
        let sub = |name: &str| -> Result<Option<(&dyn TableLike, Location)>, GridError> {
            let Some(item) = table.get(name) else {
                return Ok(None);
            };
            let key_at = self.key_at(table, name, &at);
            match item.as_table_like() {
                Some(t) => Ok(Some((t, self.lines.span(item.span(), &key_at)))),
                None => Err(GridError::WrongType {
                    at: key_at,
                    key: format!("{prefix}{name}"),
                    expected: format!(
                        "a table: a `[{prefix}{name}]` line followed by `key = value` lines"
                    ),
                    found: found(item),
                }),
            }
        };
        let mut settings = Vec::new();
        if let Some((fixed, fixed_at)) = sub("fixed")? {
            let label = format!("[{prefix}fixed]");
            for (key, item) in fixed.iter() {
                let key_at = self.key_at(fixed, key, &fixed_at);
                let k = self.setting_key(key, &key_at, &label)?;
                let value = self.value(k, key, item, &key_at)?;
                settings.push(Setting {
                    key: k,
                    axis: false,
                    values: vec![value],
                    at: key_at,
                });
            }
        }
        if let Some((axes, axes_at)) = sub("axes")? {
            let label = format!("[{prefix}axes]");
            for (key, item) in axes.iter() {
                let key_at = self.key_at(axes, key, &axes_at);
                let k = self.setting_key(key, &key_at, &label)?;
                if let Some(fixed) = settings.iter().find(|s| s.key == k) {
                    return Err(GridError::FixedAndAxis {
                        at: key_at,
                        key: key.into(),
                        fixed_line: fixed.at.line,
                    });
                }
                let Some(array) = item.as_array() else {
                    return Err(GridError::WrongType {
                        at: key_at,
                        key: key.into(),
                        expected: format!(
                            "a list of values to try, like `{key} = [..]` (a single value belongs in [{prefix}fixed])"
                        ),
                        found: found(item),
                    });
                };
                if array.is_empty() {
                    return Err(GridError::EmptyAxis {
                        at: key_at,
                        key: key.into(),
                    });
                }
                let mut values = Vec::new();
                for element in array.iter() {
                    let element_at = self.lines.span(element.span(), &key_at);
                    values.push(self.value(k, key, &Item::Value(element.clone()), &element_at)?);
                }
                settings.push(Setting {
                    key: k,
                    axis: true,
                    values,
                    at: key_at,
                });
            }
        }
        let mut rules = Vec::new();
        if let Some((constraints, constraints_at)) = sub("constraints")? {
            for (key, item) in constraints.iter() {
                let key_at = self.key_at(constraints, key, &constraints_at);
                if key != "rules" {
                    return Err(self.unknown_key(
                        key_at,
                        key,
                        &format!("[{prefix}constraints]"),
                        &["rules"],
                        "",
                    ));
                }
                let wrong = || GridError::WrongType {
                    at: key_at.clone(),
                    key: "rules".into(),
                    expected: "a list of strings, like rules = [\"layer1 <= layer2\"]".into(),
                    found: found(item),
                };
                let array = item.as_array().ok_or_else(wrong)?;
                for element in array.iter() {
                    let rule_at = self.lines.span(element.span(), &key_at);
                    let Some(text) = element.as_str() else {
                        return Err(GridError::WrongType {
                            at: rule_at,
                            key: "rules".into(),
                            expected: "a list of strings, like rules = [\"layer1 <= layer2\"]"
                                .into(),
                            found: found(&Item::Value(element.clone())),
                        });
                    };
                    let rule = Rule::parse(text).map_err(|message| GridError::Rule {
                        at: rule_at.clone(),
                        rule: text.trim().to_string(),
                        message,
                    })?;
                    rules.push(RuleAt { rule, at: rule_at });
                }
            }
        }
        Ok(Level {
            settings,
            rules,
            at,
        })
    }

    /// The setting a key of `[fixed]` or `[axes]` names.
    fn setting_key(&self, key: &str, at: &Location, table: &str) -> Result<Field, GridError> {
        match grid_setting(key) {
            Ok(k) => Ok(k),
            Err(true) => Err(GridError::Invalid {
                at: at.clone(),
                key: key.into(),
                message: "is not a conv layer: layers are numbered from 1 (layer1, layer2, ...)"
                    .into(),
            }),
            Err(false) => {
                let names: Vec<String> = Field::GRID.iter().map(|f| f.name()).collect();
                let mut valid: Vec<&str> = names.iter().map(String::as_str).collect();
                valid.extend(["layer1", "layer2", "layer3", "layerN"]);
                Err(self.unknown_key(at.clone(), key, table, &valid, ""))
            }
        }
    }

    /// One value of setting `key` (one element of an axis, or a fixed value).
    fn value(&self, key: Field, name: &str, item: &Item, at: &Location) -> Result<Val, GridError> {
        let kind = key.kind();
        let at = self.lines.span(item.span(), at);
        let wrong = || GridError::WrongType {
            at: at.clone(),
            key: name.into(),
            expected: expected(kind).into(),
            found: found(item),
        };
        let invalid = |message: String| GridError::Invalid {
            at: at.clone(),
            key: name.into(),
            message,
        };
        let int = |v: &Value| -> Result<u64, GridError> {
            let Some(i) = v.as_integer() else {
                return Err(GridError::WrongType {
                    at: at.clone(),
                    key: name.into(),
                    expected: if kind == Kind::Int {
                        "an integer".into()
                    } else {
                        format!("{} (of integers)", expected(kind))
                    },
                    found: found(&Item::Value(v.clone())),
                });
            };
            u64::try_from(i).map_err(|_| invalid(format!("must be at least 0, found {i}")))
        };
        let list = |v: &Value| -> Result<Vec<usize>, GridError> {
            let array = v.as_array().ok_or_else(wrong)?;
            array
                .iter()
                .map(|x| int(x).map(|i| usize::try_from(i).unwrap_or(usize::MAX)))
                .collect()
        };
        if kind == Kind::Validation
            && let Some(table) = item.as_table_like()
        {
            return self.holdout(table, name, &at);
        }
        let Some(value) = item.as_value() else {
            return Err(wrong());
        };
        Ok(match kind {
            Kind::Model => {
                let text = value.as_str().ok_or_else(wrong)?;
                Val::Model(
                    text.parse::<ModelKind>().map_err(|_| {
                        invalid(format!("is \"{text}\"; expected \"cnn\" or \"ann\""))
                    })?,
                )
            }
            Kind::Dataset => {
                let text = value.as_str().ok_or_else(wrong)?;
                if !DATASETS.contains(&text) {
                    let hint = closest(text, &DATASETS)
                        .map(|c| format!("; did you mean \"{c}\"?"))
                        .unwrap_or_default();
                    return Err(invalid(format!(
                        "names unknown data set \"{text}\"{hint}; known data sets: {}",
                        DATASETS.join(", ")
                    )));
                }
                Val::Text(text.into())
            }
            Kind::Int => Val::Int(int(value)?),
            Kind::Float => match value {
                Value::Float(x) => Val::Float(*x.value()),
                Value::Integer(i) => Val::Float(*i.value() as f64),
                _ => return Err(wrong()),
            },
            Kind::Validation => match value.as_str() {
                Some("test") => Val::Validation(Validation::Test),
                Some(other) => {
                    return Err(invalid(format!(
                        "is \"{other}\"; write \"test\" to validate on the test split or {{ holdout = N }} to hold out N training images (stratified by class, the same for every job)"
                    )));
                }
                None => return Err(wrong()),
            },
            Kind::Dense => match value {
                Value::Integer(_) => {
                    Val::List(vec![usize::try_from(int(value)?).unwrap_or(usize::MAX)])
                }
                Value::Array(_) => Val::List(list(value)?),
                _ => return Err(wrong()),
            },
            Kind::Filters => Val::List(list(value)?),
        })
    }

    /// `validation = { holdout = N }`.
    fn holdout(&self, table: &dyn TableLike, name: &str, at: &Location) -> Result<Val, GridError> {
        if let Some((key, _)) = table.iter().find(|(key, _)| *key != "holdout") {
            let key_at = self.key_at(table, key, at);
            return Err(self.unknown_key(key_at, key, "`validation`", &["holdout"], ""));
        }
        let Some(item) = table.get("holdout") else {
            return Err(GridError::Invalid {
                at: at.clone(),
                key: name.into(),
                message: "is an empty table; write \"test\" or { holdout = N }".into(),
            });
        };
        let key_at = self.key_at(table, "holdout", at);
        let n = item.as_integer().ok_or_else(|| GridError::WrongType {
            at: key_at.clone(),
            key: format!("{name}.holdout"),
            expected: "an integer (the number of training images to hold out)".into(),
            found: found(item),
        })?;
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| GridError::Invalid {
                at: key_at,
                key: format!("{name}.holdout"),
                message: format!("must be at least 1, found {n}"),
            })?;
        Ok(Val::Validation(Validation::Holdout(n)))
    }
}
