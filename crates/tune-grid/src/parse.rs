//! Reading a grid file's TOML into settings and rules, with the location of every key.

use std::path::{Path, PathBuf};
use toml_edit::{Document, Item, TableLike, Value};
use tune_spec::{
    DATASET_NAMES as DATASETS, DataSpec, Field, ModelKind, UnknownField, Validation, Value as Val,
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

/// A user's data set defined in a grid file's `[datasets.NAME]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct GridDataset {
    /// `NAME`, what `dataset = "NAME"` in `[fixed]` or `[axes]` refers to.
    pub name: String,
    /// Where its files are (relative paths resolved against the grid file's folder) and how to
    /// read them.
    pub spec: DataSpec,
    /// Where the table starts.
    pub at: Location,
    /// Each file or folder the table names, with where its value is (`train = "..."`), so that
    /// an error about a file points at the line that names it.
    pub files: Vec<(PathBuf, Location)>,
}

impl GridDataset {
    /// Reads this data set with `read` (given its name and description; tune-grid reads no data
    /// itself). A data set that cannot be read is [`GridError::Data`] at the table
    /// (`FILE:LINE:COLUMN: data set `NAME` ([datasets.NAME]): MESSAGE`): the one way every
    /// command (`tune run`, `tune data list --grid`) reports a grid's data set that cannot be
    /// read.
    ///
    /// # Errors
    /// [`GridError::Data`] with `read`'s message.
    pub fn read_with<T>(
        &self,
        read: impl FnOnce(&str, &DataSpec) -> Result<T, String>,
    ) -> Result<T, GridError> {
        read(&self.name, &self.spec).map_err(|message| {
            // The value naming the file the message is about: the path it names first (of two
            // at one place, the longer: a file below a folder names the folder too), else the
            // table.
            let at = self
                .files
                .iter()
                .filter_map(|(path, at)| {
                    let path = path.display().to_string();
                    message
                        .find(&path)
                        .map(|i| ((i, std::cmp::Reverse(path.len())), at))
                })
                .min_by_key(|(place, _)| *place)
                .map_or_else(|| self.at.clone(), |(_, at)| at.clone());
            GridError::Data {
                at,
                name: self.name.clone(),
                message,
            }
        })
    }
}

/// A grid file, read but not expanded.
#[derive(Debug, Clone)]
pub(crate) struct GridFile {
    /// `[datasets.NAME]` tables, in file order.
    pub(crate) datasets: Vec<GridDataset>,
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    /// `repeats = R`: seeds per configuration.
    pub(crate) repeats: Option<usize>,
    pub(crate) top: Level,
    pub(crate) sections: Vec<Level>,
    /// `[search]`, if written.
    pub(crate) search: Option<crate::search::SearchAt>,
}

/// Reads the TOML text of a grid file; relative data set paths are taken relative to `base`
/// (the grid file's folder).
pub(crate) fn read(text: &str, origin: &str, base: &Path) -> Result<GridFile, GridError> {
    let lines = Lines::new(text, origin);
    let doc = Document::parse(text).map_err(|e| GridError::Syntax {
        at: lines.span(e.span(), &lines.start()),
        message: e.message().trim().replace('\n', "; "),
    })?;
    let reader = Reader {
        lines,
        user: Vec::new(),
    };
    let datasets = reader.datasets(doc.as_table(), base)?;
    let reader = Reader {
        user: datasets.iter().map(|d| d.name.clone()).collect(),
        ..reader
    };
    let mut file = reader.file(doc.as_table())?;
    file.datasets = datasets;
    Ok(file)
}

/// Keys of a `[datasets.NAME]` table.
const DATASET_KEYS: [&str; 7] = [
    "format",
    "train",
    "test",
    "test_split",
    "size",
    "channels",
    "classes",
];

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
const TOP_LEVEL: [&str; 9] = [
    "name",
    "description",
    "repeats",
    "datasets",
    "fixed",
    "axes",
    "constraints",
    "grid",
    "search",
];

struct Reader<'a> {
    lines: Lines<'a>,
    /// Names of the grid's own data sets (`[datasets.NAME]`).
    user: Vec<String>,
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
                "fixed" | "axes" | "constraints" | "datasets" => {}
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
            datasets: Vec::new(),
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
                if !DATASETS.contains(&text) && !self.user.iter().any(|u| u == text) {
                    let mut known: Vec<&str> = DATASETS.to_vec();
                    known.extend(self.user.iter().map(String::as_str));
                    let hint = closest(text, &known)
                        .map(|c| format!("; did you mean \"{c}\"?"))
                        .unwrap_or_default();
                    return Err(invalid(format!(
                        "names unknown data set \"{text}\"{hint}; known data sets: {} (define \
                         your own in a [datasets.{text}] table)",
                        known.join(", ")
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

    /// The `[datasets.NAME]` tables of the file's top level.
    fn datasets(&self, root: &dyn TableLike, base: &Path) -> Result<Vec<GridDataset>, GridError> {
        let Some(item) = root.get("datasets") else {
            return Ok(Vec::new());
        };
        let start = self.lines.start();
        let at = self.key_at(root, "datasets", &start);
        let Some(tables) = item.as_table_like() else {
            return Err(GridError::WrongType {
                at,
                key: "datasets".into(),
                expected: "tables, each starting with a `[datasets.NAME]` line".into(),
                found: found(item),
            });
        };
        let mut out = Vec::new();
        for (name, item) in tables.iter() {
            let name_at = self.key_at(tables, name, &at);
            let key = format!("datasets.{name}");
            let Some(table) = item.as_table_like() else {
                return Err(GridError::WrongType {
                    at: name_at,
                    key,
                    expected: format!(
                        "a table: a `[datasets.{name}]` line followed by `format = ..`, \
                         `train = ..` lines"
                    ),
                    found: found(item),
                });
            };
            let table_at = self.lines.span(item.span(), &name_at);
            out.push(self.dataset(name, table, table_at, base)?);
        }
        Ok(out)
    }

    /// One `[datasets.NAME]` table, checked by [`DataSpec::build`]; its paths must exist.
    fn dataset(
        &self,
        name: &str,
        table: &dyn TableLike,
        at: Location,
        base: &Path,
    ) -> Result<GridDataset, GridError> {
        let label = format!("[datasets.{name}]");
        let invalid = |at: Location, key: &str, message: String| GridError::Invalid {
            at,
            key: format!("datasets.{name}.{key}"),
            message,
        };
        // `@` joins a name and its version in reports (`NAME@HASH8`); `,`, `;` and `=` separate
        // values and filters in `--where`: a name holding one would be read as something else.
        if let Some(c) = name.chars().find(|c| matches!(c, '@' | ',' | ';' | '=')) {
            return Err(GridError::Invalid {
                at,
                key: format!("datasets.{name}"),
                message: format!(
                    "a data set's name cannot hold `{c}` (tune writes a data set's version as \
                     NAME@HASH8, and `,` `;` `=` separate values and filters in --where): give it \
                     another name"
                ),
            });
        }
        if name.trim().is_empty() {
            return Err(GridError::Invalid {
                at,
                key: format!("datasets.{name}"),
                message: "a data set needs a name that is not empty or blank".to_string(),
            });
        }
        if tune_spec::dataset(name).is_some() {
            return Err(GridError::Invalid {
                at,
                key: format!("datasets.{name}"),
                message: format!(
                    "is the name of a built-in data set; give yours another name (built-in: {})",
                    DATASETS.join(", ")
                ),
            });
        }
        let mut format = None;
        let mut train = None;
        let mut test = None;
        let mut test_split = None;
        let mut size = None;
        let mut channels = None;
        let mut classes = None;
        for (key, item) in table.iter() {
            let key_at = self.key_at(table, key, &at);
            let wrong = |expected: &str| GridError::WrongType {
                at: self.lines.span(item.span(), &key_at),
                key: format!("datasets.{name}.{key}"),
                expected: expected.to_string(),
                found: found(item),
            };
            let paths = || -> Result<Vec<(PathBuf, Location)>, GridError> {
                let expected = "a path or a list of paths (relative to the grid file)";
                let one = |v: &Value| {
                    // An empty path would name the grid's own folder.
                    v.as_str().filter(|p| !p.trim().is_empty()).map(|p| {
                        // Absolute (against the working directory when the grid's own path
                        // is relative), so that jobs record where the files are and a worker
                        // started elsewhere finds them.
                        let path = tune_spec::resolve_data_path(&base.join(p));
                        (path, self.lines.span(v.span(), &key_at))
                    })
                };
                match item.as_value() {
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(|v| one(v).ok_or_else(|| wrong(expected)))
                        .collect(),
                    Some(v) => one(v).map(|p| vec![p]).ok_or_else(|| wrong(expected)),
                    None => Err(wrong(expected)),
                }
            };
            let int = |v: &Value| v.as_integer().and_then(|i| usize::try_from(i).ok());
            match key {
                "format" => {
                    format = Some((
                        item.as_str()
                            .ok_or_else(|| {
                                wrong("a string: \"idx\", \"csv\", \"folder\" or \"cifar\"")
                            })?
                            .to_string(),
                        key_at.clone(),
                    ))
                }
                "train" => train = Some((paths()?, key_at.clone())),
                "test" => test = Some((paths()?, key_at.clone())),
                "test_split" => {
                    // A whole number (0, 1) is a number too: DataSpec::build says why it is not
                    // a fraction, as for the `--test-split` flag.
                    let f = match item.as_value() {
                        Some(Value::Float(f)) => *f.value(),
                        Some(Value::Integer(i)) => *i.value() as f64,
                        _ => return Err(wrong("a fraction between 0 and 1 (exclusive), like 0.2")),
                    };
                    test_split = Some((f, key_at.clone()));
                }
                "size" => {
                    let expected = "[height, width] in pixels, like [32, 32]";
                    let a = item.as_array().ok_or_else(|| wrong(expected))?;
                    let v: Vec<usize> = a.iter().filter_map(int).collect();
                    if a.len() != 2 || v.len() != 2 {
                        return Err(wrong(expected));
                    }
                    size = Some(((v[0], v[1]), key_at.clone()));
                }
                "channels" => {
                    let c = item
                        .as_value()
                        .and_then(int)
                        .ok_or_else(|| wrong("1 (grayscale) or 3 (RGB)"))?;
                    channels = Some((c, key_at.clone()));
                }
                "classes" => {
                    let expected = "a list of class names, label 0 first";
                    let a = item.as_array().ok_or_else(|| wrong(expected))?;
                    let names: Option<Vec<String>> =
                        a.iter().map(|v| v.as_str().map(str::to_string)).collect();
                    classes = Some(names.ok_or_else(|| wrong(expected))?);
                }
                _ => {
                    return Err(self.unknown_key(key_at, key, &label, &DATASET_KEYS, ""));
                }
            }
        }
        let Some((format_name, _)) = &format else {
            return Err(invalid(
                at,
                "format",
                "is missing: say how the files are laid out, format = \"idx\", \"csv\", \
                 \"folder\" or \"cifar\""
                    .into(),
            ));
        };
        let Some((train_paths, _)) = &train else {
            return Err(invalid(
                at,
                "train",
                "is missing: give the training file(s) or folder, relative to the grid file".into(),
            ));
        };
        // `test = []` beside test_split: no test files, split instead.
        if test_split.is_some() && test.as_ref().is_some_and(|(t, _)| t.is_empty()) {
            test = None;
        }
        let mut spec = DataSpec::build(
            format_name,
            train_paths.iter().map(|(p, _)| p.clone()).collect(),
            test.as_ref()
                .map(|(t, _)| t.iter().map(|(p, _)| p.clone()).collect()),
            test_split.as_ref().map(|(f, _)| *f),
            size.as_ref().map(|(s, _)| *s),
            channels.as_ref().map(|(c, _)| *c),
        )
        .map_err(|e| {
            let key_at = match e.key {
                "format" => format.as_ref().map(|f| f.1.clone()),
                "train" => train.as_ref().map(|t| t.1.clone()),
                "test" => test.as_ref().map(|t| t.1.clone()),
                "test_split" => test_split.as_ref().map(|t| t.1.clone()),
                "size" => size.as_ref().map(|s| s.1.clone()),
                "channels" => channels.as_ref().map(|c| c.1.clone()),
                _ => None,
            };
            invalid(key_at.unwrap_or_else(|| at.clone()), e.key, e.message)
        })?;
        spec.classes = classes;
        for (key, list) in [("train", &train), ("test", &test)] {
            let Some((paths, _)) = list else {
                continue;
            };
            for (path, path_at) in paths {
                if !path.exists() {
                    // A symbolic link whose target is gone is there, but reads as missing.
                    let message = match std::fs::read_link(path) {
                        Ok(target) => format!(
                            "names {}, a symbolic link to {}, which does not exist; fix the \
                             link or the path",
                            path.display(),
                            target.display()
                        ),
                        Err(_) => format!(
                            "names {}, which does not exist (paths are relative to the grid \
                             file's folder); fix the path or create the data there",
                            path.display()
                        ),
                    };
                    return Err(invalid(path_at.clone(), key, message));
                }
            }
        }
        let files = [train, test]
            .into_iter()
            .flatten()
            .flat_map(|(paths, _)| paths)
            .collect();
        Ok(GridDataset {
            name: name.to_string(),
            spec,
            at,
            files,
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
