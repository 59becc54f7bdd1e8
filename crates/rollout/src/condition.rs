//! Conditions on a metric value, as written in ship.toml: `< 0.8`, `>= 4.2`, `== 0`,
//! `between 0.1 and 0.3`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq)]
/// A stage check's condition on a metric's value, as written in `[checks.NAME]`.
pub enum Condition {
    /// `< N`
    Lt(f64),
    /// `<= N`
    Le(f64),
    /// `> N`
    Gt(f64),
    /// `>= N`
    Ge(f64),
    /// `== N`
    Eq(f64),
    /// `between A and B`, both included.
    Between(f64, f64),
}

impl Condition {
    /// NaN never satisfies a condition.
    pub fn holds(&self, v: f64) -> bool {
        if v.is_nan() {
            return false;
        }
        match *self {
            Condition::Lt(x) => v < x,
            Condition::Le(x) => v <= x,
            Condition::Gt(x) => v > x,
            Condition::Ge(x) => v >= x,
            Condition::Eq(x) => v == x,
            Condition::Between(a, b) => v >= a && v <= b,
        }
    }
}

/// A stage check's condition that does not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("condition {text:?}: {problem}")]
pub struct ConditionError {
    /// The condition as written.
    pub text: String,
    /// What is wrong with it.
    pub problem: ConditionProblem,
}

/// What is wrong with a condition.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConditionProblem {
    /// A bound that is not a number.
    #[error("{0:?} is not a number")]
    NotANumber(String),
    /// An infinite or NaN bound.
    #[error("the bound must be finite")]
    NotFinite,
    /// `between` without ` and `.
    #[error("write `between A and B`")]
    BetweenWithoutAnd,
    /// `between A and B` with A above B.
    #[error("{low} is above {high}")]
    Reversed {
        /// A.
        low: f64,
        /// B.
        high: f64,
    },
    /// No comparison operator.
    #[error("expected `< N`, `<= N`, `> N`, `>= N`, `== N` or `between A and B`")]
    NoOperator,
}

impl FromStr for Condition {
    type Err = ConditionError;
    fn from_str(s: &str) -> Result<Self, ConditionError> {
        let t = s.trim();
        let fail = |problem| ConditionError {
            text: s.to_string(),
            problem,
        };
        let num = |x: &str| -> Result<f64, ConditionError> {
            let v: f64 = x
                .trim()
                .parse()
                .map_err(|_| fail(ConditionProblem::NotANumber(x.to_string())))?;
            if v.is_finite() {
                Ok(v)
            } else {
                Err(fail(ConditionProblem::NotFinite))
            }
        };
        if let Some(rest) = t.strip_prefix("between ") {
            let (a, b) = rest
                .split_once(" and ")
                .ok_or_else(|| fail(ConditionProblem::BetweenWithoutAnd))?;
            let (a, b) = (num(a)?, num(b)?);
            if a > b {
                return Err(fail(ConditionProblem::Reversed { low: a, high: b }));
            }
            return Ok(Condition::Between(a, b));
        }
        for (op, make) in [
            ("<=", Condition::Le as fn(f64) -> Condition),
            (">=", Condition::Ge),
            ("==", Condition::Eq),
            ("<", Condition::Lt),
            (">", Condition::Gt),
        ] {
            if let Some(rest) = t.strip_prefix(op) {
                return Ok(make(num(rest)?));
            }
        }
        Err(fail(ConditionProblem::NoOperator))
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Lt(x) => write!(f, "< {x}"),
            Condition::Le(x) => write!(f, "<= {x}"),
            Condition::Gt(x) => write!(f, "> {x}"),
            Condition::Ge(x) => write!(f, ">= {x}"),
            Condition::Eq(x) => write!(f, "== {x}"),
            Condition::Between(a, b) => write!(f, "between {a} and {b}"),
        }
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_evaluates() {
        let c: Condition = "<= 0.8".parse().unwrap();
        assert!(c.holds(0.8) && !c.holds(0.81) && !c.holds(f64::NAN));
        let b: Condition = "between 0.1 and 0.3".parse().unwrap();
        assert!(b.holds(0.1) && b.holds(0.3) && !b.holds(0.31));
        assert_eq!(">4".parse::<Condition>().unwrap(), Condition::Gt(4.0));
        assert_eq!(b.to_string(), "between 0.1 and 0.3");
        assert!("~ 3".parse::<Condition>().is_err());
        assert!("< abc".parse::<Condition>().is_err());
        assert_eq!(
            "between 3 and 1"
                .parse::<Condition>()
                .unwrap_err()
                .to_string(),
            "condition \"between 3 and 1\": 3 is above 1"
        );
        assert_eq!(
            "< abc".parse::<Condition>().unwrap_err().to_string(),
            "condition \"< abc\": \" abc\" is not a number"
        );
        assert!("< inf".parse::<Condition>().is_err());
    }
}
