//! Configuration conventions shared by every primitive.
//!
//! Configs in this suite are plain data: `serde` structs with defaults for
//! every optional field, durations written as human strings (`"30s"`,
//! `"250ms"`, `"5m"`), and unknown fields rejected so a typo is an error
//! instead of a silently ignored setting. A raw config is turned into a
//! working primitive by a constructor that validates it and returns
//! [`ConfigError`] naming the offending field; no config, however wrong,
//! makes a constructor panic.
//!
//! ```
//! use resilience_core::config::{self, ConfigError};
//!
//! #[derive(Debug, serde::Deserialize)]
//! struct Example {
//!     #[serde(with = "humantime_serde")]
//!     timeout: std::time::Duration,
//! }
//! let ok: Example = config::from_yaml_str("timeout: 250ms").unwrap();
//! assert_eq!(ok.timeout.as_millis(), 250);
//! let bad = config::from_yaml_str::<Example>("timeout: soon").unwrap_err();
//! assert!(matches!(bad, ConfigError::Parse { .. }));
//! ```

use std::borrow::Cow;
use std::time::Duration;

use serde::de::DeserializeOwned;

/// A configuration that cannot be used, and why.
///
/// `Invalid` names the field (with a dotted path for nested fields, e.g.
/// `window.count`) and the rule it breaks; `Parse` carries the parser's
/// message, which includes the line and column for YAML and JSON.
///
/// ```
/// use resilience_core::config::ConfigError;
/// let e = ConfigError::invalid("failure_rate_threshold", "must be in (0, 1], got 1.5");
/// assert_eq!(e.field(), Some("failure_rate_threshold"));
/// assert_eq!(
///     e.to_string(),
///     "invalid config field `failure_rate_threshold`: must be in (0, 1], got 1.5"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A field holds a value the primitive cannot work with.
    #[error("invalid config field `{field}`: {reason}")]
    Invalid {
        /// The field, as written in the config (dotted for nested fields).
        field: Cow<'static, str>,
        /// The rule the value breaks, with the value itself.
        reason: String,
    },
    /// The text could not be parsed into a config at all.
    #[error("cannot parse {format} config: {message}")]
    Parse {
        /// `"yaml"` or `"json"`.
        format: &'static str,
        /// The parser's message, with position where the parser gives one.
        message: String,
    },
}

impl ConfigError {
    /// An [`ConfigError::Invalid`] error for `field`.
    pub fn invalid(field: impl Into<Cow<'static, str>>, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The offending field, when the error is about one field.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { field, .. } => Some(field),
            ConfigError::Parse { .. } => None,
        }
    }

    /// Prefixes the field path with `parent.` (for errors from nested configs).
    ///
    /// ```
    /// use resilience_core::config::ConfigError;
    /// let e = ConfigError::invalid("count", "must be at least 1").within("window");
    /// assert_eq!(e.field(), Some("window.count"));
    /// ```
    pub fn within(self, parent: &str) -> Self {
        match self {
            ConfigError::Invalid { field, reason } => ConfigError::Invalid {
                field: Cow::Owned(format!("{parent}.{field}")),
                reason,
            },
            other => other,
        }
    }
}

/// Parses a YAML document into a config type, mapping parse errors to
/// [`ConfigError::Parse`].
pub fn from_yaml_str<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    serde_norway::from_str(text).map_err(|e| ConfigError::Parse {
        format: "yaml",
        message: e.to_string(),
    })
}

/// Parses a JSON document into a config type, mapping parse errors to
/// [`ConfigError::Parse`].
pub fn from_json_str<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    serde_json::from_str(text).map_err(|e| ConfigError::Parse {
        format: "json",
        message: e.to_string(),
    })
}

/// Checks that `value` is a fraction in `(0, 1]` (a rate threshold).
#[doc(hidden)] // shared with the sibling crates; not part of the supported API
pub fn check_fraction(field: &'static str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() && value > 0.0 && value <= 1.0 {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            field,
            format!("must be a fraction in (0, 1], got {value}"),
        ))
    }
}

/// Checks that `value` is in `[0, 1]` (a score, a probability).
#[doc(hidden)] // shared with the sibling crates; not part of the supported API
pub fn check_unit_interval(field: &'static str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            field,
            format!("must be in [0, 1], got {value}"),
        ))
    }
}

/// Checks that a count is at least 1.
#[doc(hidden)] // shared with the sibling crates; not part of the supported API
pub fn check_nonzero(field: &'static str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        Err(ConfigError::invalid(field, "must be at least 1, got 0"))
    } else {
        Ok(())
    }
}

/// Checks that a duration is not zero.
#[doc(hidden)] // shared with the sibling crates; not part of the supported API
pub fn check_nonzero_duration(field: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        Err(ConfigError::invalid(field, "must be longer than 0s"))
    } else {
        Ok(())
    }
}

/// Formats a duration the way configs write it (`"1m 30s"`), for messages.
#[doc(hidden)] // shared with the sibling crates; not part of the supported API
pub fn fmt_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Formats a time to wait before trying again, for messages: rounded up to
/// whole seconds from one second on (`"retry after 30s"`, as an HTTP
/// `Retry-After` header has it), to milliseconds below (`"250ms"`). Never
/// shorter than the wait itself, and never nanosecond noise such as
/// `"29s 997ms 466us 789ns"`.
#[doc(hidden)] // shared with the sibling crates; not part of the supported API
pub fn fmt_wait(d: Duration) -> String {
    let rounded = if d >= Duration::from_secs(1) {
        Duration::from_secs(d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0)))
    } else {
        // Below a second: at most 1 000 000 000 ns, so the millisecond count fits.
        Duration::from_millis(d.as_nanos().div_ceil(1_000_000) as u64)
    };
    humantime::format_duration(rounded).to_string()
}

/// Formats a time that has passed, for messages: to the nearest
/// millisecond (`"1s 250ms"`), or microsecond below one millisecond.
#[doc(hidden)] // shared with the sibling crates; not part of the supported API
pub fn fmt_elapsed(d: Duration) -> String {
    let nanos = d.as_nanos();
    let unit: u128 = if nanos >= 1_000_000 { 1_000_000 } else { 1_000 };
    let rounded = (nanos + unit / 2) / unit * unit;
    let rounded = Duration::new(
        u64::try_from(rounded / 1_000_000_000).unwrap_or(u64::MAX),
        (rounded % 1_000_000_000) as u32,
    );
    humantime::format_duration(rounded).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_bounds() {
        assert!(check_fraction("f", 0.5).is_ok());
        assert!(check_fraction("f", 1.0).is_ok());
        assert!(check_fraction("f", 0.0).is_err());
        assert!(check_fraction("f", 1.5).is_err());
        assert!(check_fraction("f", f64::NAN).is_err());
        assert!(check_unit_interval("f", 0.0).is_ok());
        assert!(check_unit_interval("f", -0.1).is_err());
    }

    #[test]
    fn parse_errors_are_typed() {
        let e = from_json_str::<u32>("\"x\"").unwrap_err();
        assert!(matches!(e, ConfigError::Parse { format: "json", .. }));
        assert_eq!(e.field(), None);
        let e = from_yaml_str::<Vec<u32>>("[1, x]").unwrap_err();
        assert!(e.to_string().starts_with("cannot parse yaml config"));
    }

    #[test]
    fn nonzero_checks() {
        assert!(check_nonzero("n", 0).is_err());
        assert!(check_nonzero("n", 1).is_ok());
        assert!(check_nonzero_duration("d", Duration::ZERO).is_err());
        assert_eq!(fmt_duration(Duration::from_secs(90)), "1m 30s");
        let max = fmt_duration(Duration::from_secs(u64::MAX));
        type Format = fn(Duration) -> String;
        let cases: [(Format, Duration, &str); 10] = [
            (fmt_wait, Duration::from_nanos(29_997_466_789), "30s"),
            (fmt_wait, Duration::from_secs(20), "20s"),
            (fmt_wait, Duration::from_micros(249_001), "250ms"),
            (fmt_wait, Duration::from_nanos(1), "1ms"),
            (fmt_wait, Duration::ZERO, "0s"),
            (fmt_wait, Duration::MAX, &max),
            (fmt_elapsed, Duration::from_nanos(1_250_400_000), "1s 250ms"),
            (fmt_elapsed, Duration::from_nanos(1_250_600_000), "1s 251ms"),
            (fmt_elapsed, Duration::from_nanos(12_345), "12us"),
            (fmt_elapsed, Duration::MAX, &max),
        ];
        for (format, d, want) in cases {
            assert_eq!(format(d), want, "{d:?}");
        }
        assert_eq!(fmt_elapsed(Duration::ZERO), "0s");
    }
}
