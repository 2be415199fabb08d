//! The rule language of `[constraints] rules`: chains of comparisons between numbers and names.
//!
//! `layer1 <= layer2 <= layer3` holds when every adjacent comparison holds. A comparison with a name
//! that a job lacks (`layer3` in a 2-layer job, `kernel` in an ANN, `train_images` when unset) holds,
//! so one rule can serve grids of mixed depth.

use std::fmt;

use tune_spec::SpecError;

use crate::error::closest;

/// A numeric quantity of a job that a rule can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Name {
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
    /// Filters of conv layer N (1-based).
    Layer(usize),
    /// Width of hidden dense layer N (1-based); `dense` is `dense1`.
    Dense(usize),
    /// Trainable parameters.
    Params,
    /// Training FLOPs per image.
    Flops,
    /// Number of conv layers.
    Layers,
    /// Filters of the last conv layer.
    LastFilters,
}

/// Plain names a rule may use, for messages and suggestions.
const PLAIN: [(&str, Name); 15] = [
    ("kernel", Name::Kernel),
    ("epochs", Name::Epochs),
    ("batch", Name::Batch),
    ("dropout", Name::Dropout),
    ("l2", Name::L2),
    ("lr", Name::Lr),
    ("rho", Name::Rho),
    ("eps", Name::Eps),
    ("seed", Name::Seed),
    ("train_images", Name::TrainImages),
    ("dense", Name::Dense(1)),
    ("params", Name::Params),
    ("flops", Name::Flops),
    ("layers", Name::Layers),
    ("last_filters", Name::LastFilters),
];

/// Settings that exist but are not numbers.
const NOT_NUMBERS: [&str; 4] = ["model", "dataset", "validation", "filters"];

/// `prefix` followed by a positive decimal number without leading zeros.
fn numbered(name: &str, prefix: &str) -> Option<usize> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl Name {
    fn lookup(word: &str) -> Result<Name, String> {
        if let Some(&(_, name)) = PLAIN.iter().find(|(w, _)| *w == word) {
            return Ok(name);
        }
        if let Some(n) = numbered(word, "layer") {
            return Ok(Name::Layer(n));
        }
        if let Some(n) = numbered(word, "dense") {
            return Ok(Name::Dense(n));
        }
        if NOT_NUMBERS.contains(&word) {
            return Err(format!(
                "`{word}` is not a number and rules compare numbers; to treat models or data sets differently, put them in separate [[grid]] sections"
            ));
        }
        let mut candidates: Vec<&str> = PLAIN.iter().map(|(w, _)| *w).collect();
        candidates.extend(["layer1", "layer2", "layer3", "layer4", "dense2"]);
        let hint = closest(word, &candidates)
            .map(|c| format!("did you mean `{c}`? "))
            .unwrap_or_default();
        Err(format!(
            "unknown name `{word}`; {hint}Rules can use numbers, {}, layerN, denseN",
            PLAIN.map(|(w, _)| w).join(", ")
        ))
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Eq => a == b,
            Op::Ne => a != b,
        }
    }
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    Number(f64),
    Name(Name),
}

/// Where a rule gets the values of names from.
pub(crate) trait Env {
    /// The value of `name` for the job, `None` when the job has no such value, or why the job's
    /// network cannot be built when the value needs it.
    fn value(&self, name: Name) -> Result<Option<f64>, SpecError>;
}

/// A parsed rule: `terms[0] ops[0] terms[1] ops[1] ...`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rule {
    text: String,
    terms: Vec<Term>,
    ops: Vec<Op>,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A lexical token with the 1-based character column it starts at.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Word(String),
    Op(Op),
}

fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push((Token::Word(chars[start..i].iter().collect()), column));
        } else if c.is_ascii_digit()
            || c == '.'
            || (c == '-'
                && chars
                    .get(i + 1)
                    .is_some_and(|d| d.is_ascii_digit() || *d == '.'))
        {
            let start = i;
            i += 1;
            while i < chars.len() {
                let d = chars[i];
                let exponent_sign =
                    (d == '-' || d == '+') && matches!(chars[i - 1], 'e' | 'E') && i > start + 1;
                if d.is_ascii_digit()
                    || d == '.'
                    || d == '_'
                    || d == 'e'
                    || d == 'E'
                    || exponent_sign
                {
                    i += 1;
                } else {
                    break;
                }
            }
            let raw: String = chars[start..i].iter().filter(|&&d| d != '_').collect();
            let value: f64 = raw.parse().map_err(|_| {
                format!(
                    "`{}` at character {column} is not a number",
                    chars[start..i].iter().collect::<String>()
                )
            })?;
            tokens.push((Token::Number(value), column));
        } else {
            let next = chars.get(i + 1).copied();
            let (op, len) = match (c, next) {
                ('<', Some('=')) => (Op::Le, 2),
                ('>', Some('=')) => (Op::Ge, 2),
                ('=', Some('=')) => (Op::Eq, 2),
                ('!', Some('=')) => (Op::Ne, 2),
                ('<', _) => (Op::Lt, 1),
                ('>', _) => (Op::Gt, 1),
                ('=', _) => {
                    return Err(format!(
                        "`=` at character {column}: write `==` to compare for equality"
                    ));
                }
                ('&' | '|', _) => {
                    return Err(format!(
                        "`{c}` at character {column}: rules cannot be combined; write one rule per condition (every rule must hold)"
                    ));
                }
                _ => {
                    return Err(format!(
                        "unexpected `{c}` at character {column}; rules compare numbers and names with <, <=, >, >=, ==, !="
                    ));
                }
            };
            tokens.push((Token::Op(op), column));
            i += len;
        }
    }
    Ok(tokens)
}

impl Rule {
    /// Parses a rule, or says what is wrong with it.
    pub(crate) fn parse(text: &str) -> Result<Rule, String> {
        let tokens = tokenize(text)?;
        if tokens.is_empty() {
            return Err("the rule is empty; write a comparison like `layer1 <= layer2`".into());
        }
        let mut terms = Vec::new();
        let mut ops = Vec::new();
        for (i, (token, column)) in tokens.iter().enumerate() {
            let want_term = i % 2 == 0;
            match (token, want_term) {
                (Token::Number(x), true) => terms.push(Term::Number(*x)),
                (Token::Word(w), true) => terms.push(Term::Name(Name::lookup(w)?)),
                (Token::Op(op), false) => ops.push(*op),
                (Token::Op(_), true) => {
                    return Err(format!(
                        "expected a number or a name at character {column}, found an operator"
                    ));
                }
                (Token::Word(w), false) if w == "and" || w == "or" || w == "not" => {
                    return Err(format!(
                        "`{w}` at character {column}: rules cannot be combined; write one rule per condition (every rule must hold)"
                    ));
                }
                (_, false) => {
                    return Err(format!(
                        "expected a comparison (<, <=, >, >=, ==, !=) at character {column}"
                    ));
                }
            }
        }
        if ops.is_empty() {
            return Err(
                "a rule must compare two things, like `dense >= layer2` or `params <= 500000`"
                    .into(),
            );
        }
        if terms.len() == ops.len() {
            return Err("the rule ends with an operator; add a number or a name after it".into());
        }
        Ok(Rule {
            text: text.trim().to_string(),
            terms,
            ops,
        })
    }

    /// Whether the rule holds for a job. A comparison with a missing value holds.
    pub(crate) fn holds(&self, env: &impl Env) -> Result<bool, SpecError> {
        let value = |term: &Term| match term {
            Term::Number(x) => Ok(Some(*x)),
            Term::Name(name) => env.value(*name),
        };
        let mut left = value(&self.terms[0])?;
        for (op, term) in self.ops.iter().zip(&self.terms[1..]) {
            let right = value(term)?;
            if let (Some(a), Some(b)) = (left, right)
                && !op.holds(a, b)
            {
                return Ok(false);
            }
            left = right;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2-layer CNN 16-32 with dense 64, params 1000.
    struct Job;

    impl Env for Job {
        fn value(&self, name: Name) -> Result<Option<f64>, SpecError> {
            Ok(match name {
                Name::Layer(1) => Some(16.0),
                Name::Layer(2) | Name::LastFilters => Some(32.0),
                Name::Layer(_) => None,
                Name::Dense(1) => Some(64.0),
                Name::Dense(_) => None,
                Name::Params => Some(1000.0),
                Name::Layers => Some(2.0),
                Name::Lr => Some(0.001),
                Name::Flops => {
                    return Err(SpecError::Invalid {
                        what: "kernel".into(),
                        why: "must be at least 1".into(),
                    });
                }
                _ => Some(1.0),
            })
        }
    }

    fn holds(text: &str) -> bool {
        Rule::parse(text).unwrap().holds(&Job).unwrap()
    }

    fn parse_error(text: &str) -> String {
        Rule::parse(text).unwrap_err()
    }

    #[test]
    fn comparisons() {
        assert!(holds("layer1 <= layer2"));
        assert!(!holds("layer1 >= layer2"));
        assert!(holds("layer1 < layer2"));
        assert!(holds("layer2 > layer1"));
        assert!(holds("dense == 64"));
        assert!(holds("dense != 32"));
        assert!(!holds("dense != 64"));
        assert!(holds("64 >= last_filters"));
        assert!(holds("layers == 2"));
        assert!(holds("lr == 0.001"));
        assert!(holds("lr == 1e-3"));
        assert!(holds("lr > -1"));
    }

    #[test]
    fn chains_need_every_link() {
        assert!(holds("16 <= layer1 <= layer2 <= dense"));
        assert!(!holds("layer1 <= layer2 <= 20"));
        assert!(!holds("layer2 <= layer1 <= layer2"));
    }

    #[test]
    fn numbers_take_underscores_and_exponents() {
        assert!(holds("params <= 1_000"));
        assert!(!holds("params < 1_000"));
        assert!(holds("params <= 1e3"));
        assert!(holds("params < 1.5E+3"));
        assert!(holds("params > .5e3"));
    }

    #[test]
    fn missing_values_make_the_comparison_hold() {
        assert!(holds("layer2 <= layer3"));
        assert!(holds("layer3 == 7"));
        // Only the comparison with the missing value is skipped.
        assert!(!holds("layer1 > layer2 <= layer3"));
        assert!(holds("dense2 < 1"));
    }

    #[test]
    fn values_that_need_the_network_report_why_it_cannot_be_built() {
        let rule = Rule::parse("flops < 1e9").unwrap();
        assert!(rule.holds(&Job).is_err());
    }

    #[test]
    fn unknown_names_suggest_the_closest() {
        let e = parse_error("dens >= layer2");
        assert!(e.contains("unknown name `dens`"), "{e}");
        assert!(e.contains("did you mean `dense`"), "{e}");
        let e = parse_error("layer1 <= layr2");
        assert!(e.contains("did you mean `layer2`"), "{e}");
        let e = parse_error("momentum < 1");
        assert!(
            e.contains("unknown name `momentum`") && !e.contains("did you mean"),
            "{e}"
        );
        let e = parse_error("layer0 < 1");
        assert!(e.contains("unknown name `layer0`"), "{e}");
        let e = parse_error("model == 1");
        assert!(e.contains("not a number"), "{e}");
    }

    #[test]
    fn malformed_rules_say_what_to_write() {
        assert!(parse_error("").contains("empty"));
        assert!(parse_error("layer1").contains("compare two things"));
        assert!(parse_error("layer1 <=").contains("ends with an operator"));
        assert!(parse_error("layer1 = layer2").contains("write `==`"));
        assert!(parse_error("layer1 <= <= layer2").contains("character 11"));
        assert!(parse_error("layer1 layer2").contains("expected a comparison"));
        assert!(parse_error("layer1 <= layer2 and dense > 3").contains("one rule per condition"));
        assert!(parse_error("layer1 <= layer2 && dense > 3").contains("one rule per condition"));
        assert!(parse_error("layer1 * 2 < dense").contains("unexpected `*`"));
        assert!(parse_error("params < 1.2.3").contains("not a number"));
    }
}
