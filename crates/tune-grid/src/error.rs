//! What can be wrong with a grid file, and where.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use tune_spec::SpecError;

/// A place in a grid file: `origin:line:column`, both 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file's path (or whatever name [`crate::parse`] was given).
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.origin, self.line, self.column)
    }
}

/// Turns byte offsets of one text into [`Location`]s.
#[derive(Debug, Clone)]
pub(crate) struct Lines<'a> {
    origin: &'a str,
    text: &'a str,
    /// Byte offset where each line starts.
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(text: &'a str, origin: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines {
            origin,
            text,
            starts,
        }
    }

    /// The location of a byte offset (clamped to the text).
    pub(crate) fn at(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        Location {
            origin: self.origin.to_string(),
            line: line + 1,
            column,
        }
    }

    /// The location of a span's start, or `fallback` when the span is unknown.
    pub(crate) fn span(&self, span: Option<Range<usize>>, fallback: &Location) -> Location {
        span.map_or_else(|| fallback.clone(), |s| self.at(s.start))
    }

    /// The start of the file.
    pub(crate) fn start(&self) -> Location {
        self.at(0)
    }
}

/// Everything that can be wrong with a grid file. Each message names the file, the line and the key,
/// and says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum GridError {
    /// The file could not be read.
    #[error("cannot read grid file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The text is not valid TOML.
    #[error("{at}: TOML syntax error: {message}")]
    Syntax {
        /// Where the parser stopped.
        at: Location,
        /// The parser's message.
        message: String,
    },
    /// A key the grid format does not know.
    #[error("{at}: unknown key `{key}` in {table}. {help}")]
    UnknownKey {
        /// Where the key is.
        at: Location,
        /// The key as written.
        key: String,
        /// Which table it is in, e.g. `[fixed]`.
        table: String,
        /// A likely intended key, if any, and the keys valid in that table.
        help: String,
    },
    /// A value of the wrong type.
    #[error("{at}: `{key}` must be {expected}, found {found}")]
    WrongType {
        /// Where the value is.
        at: Location,
        /// The key it belongs to.
        key: String,
        /// What it should be.
        expected: String,
        /// What it is.
        found: String,
    },
    /// An axis without values.
    #[error(
        "{at}: axis `{key}` has no values; list at least one (`{key} = [..]`) or remove the axis"
    )]
    EmptyAxis {
        /// Where the axis is.
        at: Location,
        /// Its key.
        key: String,
    },
    /// The same setting both in `[fixed]` and in `[axes]` of one table level.
    #[error(
        "{at}: `{key}` is an axis here and also fixed at line {fixed_line}; keep it in [fixed] or in [axes], not both"
    )]
    FixedAndAxis {
        /// Where the axis is.
        at: Location,
        /// The setting.
        key: String,
        /// Line of the fixed setting.
        fixed_line: usize,
    },
    /// A value of the right type that the grid cannot use (gaps in `layerN`, an unknown data set, ...).
    #[error("{at}: `{key}` {message}")]
    Invalid {
        /// Where the key is.
        at: Location,
        /// The key.
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A constraint rule that cannot be parsed or names something unknown.
    #[error("{at}: rule `{rule}`: {message}")]
    Rule {
        /// Where the rule is.
        at: Location,
        /// The rule's text.
        rule: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The constraints reject every combination of a section's axes.
    #[error("{at}: the constraints remove all {combinations} combinations{section}; {detail}")]
    NoJobs {
        /// Where the rules are.
        at: Location,
        /// How many combinations the axes make.
        combinations: usize,
        /// ` of the [[grid]] section at line N`, or empty.
        section: String,
        /// How many each rule keeps on its own, and what to do.
        detail: String,
    },
    /// More combinations than the grid is willing to expand.
    #[error(
        "{at}: the axes make {combinations} combinations, more than the limit of {limit}; split the grid or shorten the axes"
    )]
    TooMany {
        /// Where the axes are.
        at: Location,
        /// Product of the axis lengths.
        combinations: u128,
        /// The limit.
        limit: usize,
    },
    /// A `[datasets.NAME]` data set that cannot be read (a file that cannot be read or is not in
    /// the format the table says, mismatched splits, ...).
    #[error("{at}: data set `{name}` ([datasets.{name}]): {message}")]
    Data {
        /// Where the table is.
        at: Location,
        /// The data set's name.
        name: String,
        /// What the reader says: the file (and row or image) and the fix.
        message: String,
    },
    /// A combination whose network cannot be built or trained.
    #[error("{at}: {combination}: {source}")]
    Spec {
        /// Where the offending setting is.
        at: Location,
        /// The combination, e.g. `layer1=16 layer2=16 (cnn 16-16/32 k3)`.
        combination: String,
        /// What tune-spec says.
        source: SpecError,
    },
}

impl GridError {
    /// Where in the file the error is (`None` when the file could not be read).
    pub fn location(&self) -> Option<&Location> {
        match self {
            GridError::Read { .. } => None,
            GridError::Syntax { at, .. }
            | GridError::UnknownKey { at, .. }
            | GridError::WrongType { at, .. }
            | GridError::EmptyAxis { at, .. }
            | GridError::FixedAndAxis { at, .. }
            | GridError::Invalid { at, .. }
            | GridError::Rule { at, .. }
            | GridError::NoJobs { at, .. }
            | GridError::TooMany { at, .. }
            | GridError::Data { at, .. }
            | GridError::Spec { at, .. } => Some(at),
        }
    }
}

/// Edit distance between two short strings, a swap of neighbours counting as one edit.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|&c| (distance(&word.to_lowercase(), c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let lines = Lines::new("a = 1\nbé = 2\n", "x.toml");
        assert_eq!(lines.at(0).to_string(), "x.toml:1:1");
        assert_eq!(lines.at(6).to_string(), "x.toml:2:1");
        // `=` after a two-byte character is the 4th character of line 2.
        assert_eq!(lines.at(10).to_string(), "x.toml:2:4");
        assert_eq!(lines.at(999).line, 3);
    }

    #[test]
    fn typos_find_their_key() {
        let keys = ["epochs", "dropout", "dense", "lr"];
        assert_eq!(closest("epoch", &keys), Some("epochs"));
        assert_eq!(closest("droput", &keys), Some("dropout"));
        assert_eq!(closest("Dense", &keys), Some("dense"));
        assert_eq!(closest("dnese", &keys), Some("dense"));
        assert_eq!(closest("momentum", &keys), None);
    }
}
