//! Kubernetes resource quantities (`"500m"`, `"2"`, `"1.5k"`, `"1Gi"`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Kubernetes quantity, held as an integer number of milli-units.
///
/// The HPA controller computes with `Quantity::MilliValue()`, which rounds
/// up to the next milli-unit; so does [`Quantity::parse`]. Manifests may
/// write a quantity as a YAML number (`50`, `0.5`) or a string with a suffix
/// (`"500m"`, `"10k"`, `"1Gi"`, `"2e3"`).
///
/// ```
/// use resilience_scaling::hpa::Quantity;
/// assert_eq!(Quantity::parse("500m").unwrap().milli(), 500);
/// assert_eq!(Quantity::parse("1.5k").unwrap().milli(), 1_500_000);
/// assert_eq!(Quantity::parse("1Ki").unwrap().milli(), 1_024_000);
/// assert_eq!(Quantity::parse("0.0001").unwrap().milli(), 1); // rounds up
/// assert!(Quantity::parse("ten").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity {
    milli: i64,
}

impl Quantity {
    /// A quantity of `milli` milli-units.
    pub const fn from_milli(milli: i64) -> Self {
        Quantity { milli }
    }

    /// The value in milli-units (rounded up, as `MilliValue()`).
    pub const fn milli(&self) -> i64 {
        self.milli
    }

    /// The value in whole units, as a float.
    pub fn as_f64(&self) -> f64 {
        self.milli as f64 / 1000.0
    }

    /// Parses a quantity string. The error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let s = text.trim();
        if s.is_empty() {
            return Err("empty quantity".to_string());
        }
        let num_end = s
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == '+' || *c == '-'))
            .map(|(i, _)| i)
            .unwrap_or(s.len());
        let (num, suffix) = s.split_at(num_end);
        if num.is_empty() || num == "+" || num == "-" || num == "." {
            return Err(format!(
                "`{text}` is not a quantity (expected a number such as 500m, 2, 1.5k or 1Gi)"
            ));
        }
        let base: f64 = num
            .parse()
            .map_err(|_| format!("`{text}` is not a quantity: `{num}` is not a number"))?;
        let factor: f64 = match suffix {
            "" => 1.0,
            "n" => 1e-9,
            "u" => 1e-6,
            "m" => 1e-3,
            "k" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            "T" => 1e12,
            "P" => 1e15,
            "E" => 1e18,
            "Ki" => 1024.0,
            "Mi" => 1024.0 * 1024.0,
            "Gi" => 1024.0 * 1024.0 * 1024.0,
            "Ti" => 1024f64.powi(4),
            "Pi" => 1024f64.powi(5),
            "Ei" => 1024f64.powi(6),
            other => {
                let exp = other
                    .strip_prefix('e')
                    .or_else(|| other.strip_prefix('E'))
                    .and_then(|e| e.parse::<i32>().ok())
                    .ok_or_else(|| {
                        format!("`{text}` has an unknown suffix `{other}` (use m, k, M, G, Ki, Mi, Gi, ... or e<exponent>)")
                    })?;
                if !(-30..=30).contains(&exp) {
                    return Err(format!("`{text}`: exponent {exp} is out of range"));
                }
                10f64.powi(exp)
            }
        };
        Self::from_f64_units(base * factor).map_err(|e| format!("`{text}`: {e}"))
    }

    /// A quantity from a value in whole units, rounded up to milli-units.
    pub fn from_f64_units(units: f64) -> Result<Self, String> {
        let milli = (units * 1000.0).ceil();
        // Tiny float noise (0.1 * 1000 = 100.00000000000001) must not add a milli-unit.
        let milli = if (milli - units * 1000.0) > 1.0 - 1e-6 {
            milli - 1.0
        } else {
            milli
        };
        if !milli.is_finite() || milli.abs() >= 9.0e18 {
            return Err(format!("{units} is out of range"));
        }
        Ok(Quantity {
            milli: milli as i64,
        })
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.milli % 1000 == 0 {
            write!(f, "{}", self.milli / 1000)
        } else {
            write!(f, "{}m", self.milli)
        }
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Repr {
    Int(i64),
    Float(f64),
    Str(String),
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = Repr::deserialize(d)?;
        let q = match r {
            Repr::Int(i) => i
                .checked_mul(1000)
                .map(Quantity::from_milli)
                .ok_or_else(|| format!("quantity {i} is out of range")),
            Repr::Float(f) => Quantity::from_f64_units(f),
            Repr::Str(s) => Quantity::parse(&s),
        };
        q.map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes() {
        let cases = [
            ("1", 1000),
            ("100m", 100),
            ("0.1", 100),
            ("2k", 2_000_000),
            ("1M", 1_000_000_000),
            ("1e3", 1_000_000),
            ("1Mi", 1_048_576_000),
            ("-1", -1000),
            ("250u", 1),
        ];
        for (s, m) in cases {
            assert_eq!(Quantity::parse(s).unwrap().milli(), m, "{s}");
        }
        for bad in ["", "m", "1x", "1.2.3", "1e99", "--1", "1e"] {
            assert!(Quantity::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn yaml_forms() {
        let q: Vec<Quantity> = serde_norway::from_str("[50, 0.5, \"500m\", \"1k\"]").unwrap();
        let m: Vec<i64> = q.iter().map(Quantity::milli).collect();
        assert_eq!(m, vec![50_000, 500, 500, 1_000_000]);
        assert_eq!(Quantity::from_milli(1500).to_string(), "1500m");
        assert_eq!(Quantity::from_milli(2000).to_string(), "2");
    }
}
