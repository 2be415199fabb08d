//! The rule language of `[constraints] rules`: chains of comparisons between numbers and names.
//!
//! `layer1 <= layer2 <= layer3` holds when every adjacent comparison holds. A comparison with a name
//! that a job lacks (`layer3` in a 2-layer job, `kernel` in an ANN, `train_images` when unset) holds,
//! so one rule can serve grids of mixed depth.

use std::fmt;

use tune_spec::{Field, SpecError, UnknownField};

use crate::error::closest;

/// The [`Field`] a rule names: a number of [`Field::RULES`], `layerN` or `denseN`.
fn lookup(word: &str) -> Result<Field, String> {
    let misnumbered = match Field::from_name(word) {
        Ok(name) if name.is_rule_number() => return Ok(name),
        Ok(_) => {
            return Err(format!(
                "`{word}` is not a number and rules compare numbers; to treat models or data sets differently, put them in separate [[grid]] sections"
            ));
        }
        Err(UnknownField::Misnumbered { prefix }) => Some(prefix),
        Err(UnknownField::Unknown) => None,
    };
    let plain: Vec<String> = Field::RULES.iter().map(|f| f.name()).collect();
    let mut candidates: Vec<&str> = plain.iter().map(String::as_str).collect();
    candidates.extend(["layer1", "layer2", "layer3", "layer4", "dense2"]);
    let hint = match misnumbered {
        Some(prefix) => format!("{prefix}N is numbered from 1 ({prefix}1 is the first); "),
        None => Field::meant(word)
            .or_else(|| closest(word, &candidates))
            .map(|c| format!("did you mean `{c}`? "))
            .unwrap_or_default(),
    };
    Err(format!(
        "unknown name `{word}`; {hint}rules can use numbers, {}, layerN, denseN",
        plain.join(", ")
    ))
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
    Name(Field),
}

/// Where a rule gets the values of names from.
pub(crate) trait Env {
    /// The value of `name` for the job, `None` when the job has no such value, or why the job's
    /// network cannot be built when the value needs it.
    fn value(&self, name: Field) -> Result<Option<f64>, SpecError>;
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
                (Token::Word(w), true) => terms.push(Term::Name(lookup(w)?)),
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
        fn value(&self, name: Field) -> Result<Option<f64>, SpecError> {
            Ok(match name {
                Field::Layer(1) => Some(16.0),
                Field::Layer(2) | Field::LastFilters => Some(32.0),
                Field::Layer(_) => None,
                Field::Dense | Field::DenseLayer(1) => Some(64.0),
                Field::DenseLayer(_) => None,
                Field::Params => Some(1000.0),
                Field::Layers => Some(2.0),
                Field::Lr => Some(0.001),
                Field::Flops => {
                    return Err(SpecError::Invalid {
                        what: Field::Kernel,
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
        assert!(
            e.contains("numbered from 1") && !e.contains("did you mean"),
            "{e}"
        );
        let e = parse_error("learning_rate <= 0.1");
        assert!(e.contains("did you mean `lr`? rules can use"), "{e}");
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
