//! Conditions on a metric value, as written in ship.toml: `< 0.8`, `>= 4.2`, `== 0`,
//! `between 0.1 and 0.3`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    Lt(f64),
    Le(f64),
    Gt(f64),
    Ge(f64),
    Eq(f64),
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

impl FromStr for Condition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let num = |x: &str| -> Result<f64, String> {
            let v: f64 = x
                .trim()
                .parse()
                .map_err(|_| format!("condition {s:?}: {x:?} is not a number"))?;
            if v.is_finite() {
                Ok(v)
            } else {
                Err(format!("condition {s:?}: the bound must be finite"))
            }
        };
        if let Some(rest) = t.strip_prefix("between ") {
            let (a, b) = rest
                .split_once(" and ")
                .ok_or_else(|| format!("condition {s:?}: write `between A and B`"))?;
            let (a, b) = (num(a)?, num(b)?);
            if a > b {
                return Err(format!("condition {s:?}: {a} is above {b}"));
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
        Err(format!(
            "condition {s:?}: expected `< N`, `<= N`, `> N`, `>= N`, `== N` or `between A and B`"
        ))
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
        assert!("between 3 and 1".parse::<Condition>().is_err());
        assert!("< inf".parse::<Condition>().is_err());
    }
}
