//! Breaker states and the packed state word.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The state of a circuit breaker.
///
/// `Closed`, `Open` and `HalfOpen` are the automatic states; the other three
/// are set by an operator and left only by another manual call
/// ([`CircuitBreaker::reset`](super::CircuitBreaker::reset) returns to
/// `Closed`).
///
/// ```
/// use resilience_core::circuit_breaker::CircuitState;
/// assert!(CircuitState::Closed.permits_calls());
/// assert!(!CircuitState::ForcedOpen.permits_calls());
/// assert_eq!(CircuitState::HalfOpen.as_str(), "half_open");
/// assert_eq!(CircuitState::Open.gauge_value(), 1.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Calls flow; outcomes are recorded and evaluated.
    Closed,
    /// Calls are rejected with [`CircuitOpen`] until the open duration ends.
    Open,
    /// A limited number of trial calls decide between closing and reopening.
    HalfOpen,
    /// Manual: every call is permitted and recorded; the breaker never trips.
    Disabled,
    /// Manual: every call is rejected.
    ForcedOpen,
    /// Manual: calls are permitted, recorded and evaluated, and a trip is
    /// only reported (an event and a metric), never acted on. For rolling a
    /// new breaker config out safely.
    MetricsOnly,
}

impl CircuitState {
    pub(crate) const fn to_bits(self) -> u64 {
        match self {
            CircuitState::Closed => 0,
            CircuitState::Open => 1,
            CircuitState::HalfOpen => 2,
            CircuitState::Disabled => 3,
            CircuitState::ForcedOpen => 4,
            CircuitState::MetricsOnly => 5,
        }
    }

    pub(crate) const fn from_bits(bits: u64) -> Self {
        match bits & STATE_MASK {
            0 => CircuitState::Closed,
            1 => CircuitState::Open,
            2 => CircuitState::HalfOpen,
            3 => CircuitState::Disabled,
            4 => CircuitState::ForcedOpen,
            _ => CircuitState::MetricsOnly,
        }
    }

    /// Whether calls go through without being a trial (closed or a
    /// permissive manual state).
    pub const fn permits_calls(self) -> bool {
        matches!(
            self,
            CircuitState::Closed | CircuitState::Disabled | CircuitState::MetricsOnly
        )
    }

    /// The snake_case name used in metrics labels and configs.
    pub const fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
            CircuitState::Disabled => "disabled",
            CircuitState::ForcedOpen => "forced_open",
            CircuitState::MetricsOnly => "metrics_only",
        }
    }

    /// The value of the `resilience_circuit_breaker_state` gauge.
    pub const fn gauge_value(self) -> f64 {
        self.to_bits() as f64
    }
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) const STATE_BITS: u32 = 3;
pub(crate) const STATE_MASK: u64 = (1 << STATE_BITS) - 1;
pub(crate) const CLOSED: u64 = CircuitState::Closed.to_bits();
pub(crate) const HALF_OPEN: u64 = CircuitState::HalfOpen.to_bits();
pub(crate) const DISABLED: u64 = CircuitState::Disabled.to_bits();
pub(crate) const METRICS_ONLY: u64 = CircuitState::MetricsOnly.to_bits();
/// Bit `s` set when state bits `s` permit calls without a trial.
const PERMITTING: u64 = (1 << CLOSED) | (1 << DISABLED) | (1 << METRICS_ONLY);

/// Set in every state word of a breaker that measures its calls' durations
/// (`slow_call_duration` or `record_latency`). A constant of the breaker,
/// kept in the word so that the closed path learns it from the one load it
/// makes anyway instead of reading the config.
pub(crate) const TIMED: u64 = 1 << STATE_BITS;
/// Bits below the epoch: the state and [`TIMED`].
const FLAG_BITS: u32 = STATE_BITS + 1;

/// Whether the state word permits calls without a trial (one shift and
/// mask, no match).
#[inline]
pub(crate) const fn permits(word: u64) -> bool {
    (PERMITTING >> (word & STATE_MASK)) & 1 != 0
}

/// Whether the state word permits calls without a trial and the breaker
/// does not time them: [`permits`] and not [`TIMED`], with the same one
/// shift and mask.
#[inline]
pub(crate) const fn permits_untimed(word: u64) -> bool {
    (PERMITTING >> (word & (STATE_MASK | TIMED))) & 1 != 0
}

/// A state word: the state in the low bits, then the [`TIMED`] flag (`timed`),
/// the epoch (incremented by every transition) above. Permits carry the
/// epoch they were issued in, so an outcome that arrives after a transition
/// is never counted in the new state.
#[inline]
pub(crate) const fn word(state: CircuitState, epoch: u64, timed: bool) -> u64 {
    (epoch << FLAG_BITS) | if timed { TIMED } else { 0 } | state.to_bits()
}

#[inline]
pub(crate) const fn epoch_of(word: u64) -> u64 {
    word >> FLAG_BITS
}

#[inline]
pub(crate) const fn is_timed(word: u64) -> bool {
    word & TIMED != 0
}

/// The error of a call the breaker did not permit.
///
/// It says how long to wait, [`retry_after`](CircuitOpen::retry_after):
///
/// | state | `retry_after` |
/// |---|---|
/// | open | the time left until the breaker admits trial calls |
/// | half-open, every trial slot taken | the expected time until the trial in flight reports: the average duration of recent trials (before one has finished, `slow_call_duration`, else 1 s) less the time the latest trial has run; never more than the time left before `half_open_max_wait` reopens the breaker, nor more than `open_duration` |
/// | forced open | the configured open duration, as a hint |
///
/// In half-open the hint is short because the decision is near: when the
/// trial succeeds the breaker closes and a retry at that moment goes
/// through; when it fails, the retry meets an open breaker whose own
/// `retry_after` is then the full open duration. A client that follows
/// the hints therefore never waits longer than the breaker does, and never
/// comes back before anything could have changed.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
/// use resilience_core::clock::ManualClock;
///
/// let clock = ManualClock::new();
/// let config = CircuitBreakerConfig::new().consecutive_failures(1).open_duration(Duration::from_secs(30));
/// let breaker = CircuitBreaker::with_clock(config, clock.clone()).unwrap();
/// breaker.try_acquire().unwrap().record_failure();
/// clock.advance(Duration::from_secs(10));
/// let open = breaker.try_acquire().unwrap_err();
/// assert_eq!(open.retry_after(), Duration::from_secs(20));
/// assert_eq!(open.to_string(), "circuit breaker `default` is open; retry after 20s");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker `{}` is {}; retry after {}", name.as_str(), state.as_str().replace('_', " "), crate::config::fmt_wait(self.retry_after()))]
pub struct CircuitOpen {
    name: Name,
    state: CircuitState,
    /// `retry_after` in nanoseconds (saturating at about 584 years): the
    /// rejection stores the difference it computed and converts it to a
    /// `Duration` only when asked.
    retry_after_nanos: u64,
}

impl CircuitOpen {
    #[inline]
    pub(crate) fn after_nanos(name: Name, state: CircuitState, retry_after_nanos: u64) -> Self {
        CircuitOpen {
            name,
            state,
            retry_after_nanos,
        }
    }

    /// How long to wait before calling again (see the table above): time
    /// left until trial calls when open, the expected time to the trial's
    /// outcome when half-open.
    pub fn retry_after(&self) -> Duration {
        Duration::from_nanos(self.retry_after_nanos)
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The state that rejected the call: `Open`, `HalfOpen` (all trial
    /// permits taken) or `ForcedOpen`.
    pub fn state(&self) -> CircuitState {
        self.state
    }
}

/// Bytes of a name kept inline in a [`Name`].
const INLINE_NAME: usize = 22;

/// A breaker's name as a breaker and its rejections hold it: inline when
/// short (most names: `payments`, `model:sdxl`, a numeric key), so that
/// copying it into a [`CircuitOpen`] is a plain copy, with no reference
/// count to touch (during an outage every call is rejected, from every
/// thread at once), and a key's breaker in a registry needs no allocation
/// for its name. Longer names are shared. 24 bytes either way.
#[derive(Clone)]
pub(crate) enum Name {
    Inline { len: u8, bytes: [u8; INLINE_NAME] },
    Shared(std::sync::Arc<String>),
}

impl Name {
    pub(crate) fn new(name: &str) -> Self {
        match u8::try_from(name.len()) {
            Ok(len) if name.len() <= INLINE_NAME => {
                let mut bytes = [0u8; INLINE_NAME];
                bytes[..name.len()].copy_from_slice(name.as_bytes());
                Name::Inline { len, bytes }
            }
            _ => Name::Shared(std::sync::Arc::new(name.to_owned())),
        }
    }

    /// A name written by `write` (e.g. a registry's `prefix:key`), inline
    /// when it fits, without an intermediate `String`.
    pub(crate) fn from_display(value: impl fmt::Display) -> Self {
        struct Buf {
            bytes: [u8; INLINE_NAME],
            len: usize,
            overflow: Option<String>,
        }
        impl fmt::Write for Buf {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                if let Some(o) = &mut self.overflow {
                    o.push_str(s);
                } else if self.len + s.len() <= INLINE_NAME {
                    self.bytes[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
                    self.len += s.len();
                } else {
                    let mut o = String::with_capacity(self.len + s.len() + 16);
                    o.push_str(std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default());
                    o.push_str(s);
                    self.overflow = Some(o);
                }
                Ok(())
            }
        }
        let mut buf = Buf {
            bytes: [0; INLINE_NAME],
            len: 0,
            overflow: None,
        };
        let _ = fmt::write(&mut buf, format_args!("{value}"));
        match (buf.overflow, u8::try_from(buf.len)) {
            (Some(o), _) => Name::Shared(std::sync::Arc::new(o)),
            (None, Ok(len)) => Name::Inline {
                len,
                bytes: buf.bytes,
            },
            (None, Err(_)) => Name::Shared(std::sync::Arc::default()),
        }
    }

    #[inline]
    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Only whole `str`s are copied in, so the bytes are UTF-8.
            Name::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Name::Shared(s) => s,
        }
    }

    /// The name as a shared string (for events, which carry an `Arc<str>`).
    pub(crate) fn to_arc(&self) -> std::sync::Arc<str> {
        self.as_str().into()
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_inline_when_short() {
        let short = Name::new("model:sdxl");
        assert!(matches!(short, Name::Inline { .. }));
        assert_eq!(short.as_str(), "model:sdxl");
        let long = Name::new("a-rather-long-breaker-name-for-a-dependency");
        assert!(matches!(long, Name::Shared(_)));
        assert_eq!(long.as_str(), "a-rather-long-breaker-name-for-a-dependency");
        assert_eq!(Name::new(""), Name::from_display(""));
        assert_eq!(std::mem::size_of::<Name>(), 24);
    }

    #[test]
    fn names_from_display_spill_over_when_long() {
        let n = Name::from_display(format_args!("{}:{}", "tenant", 1000000u64));
        assert!(matches!(n, Name::Inline { .. }));
        assert_eq!(n.as_str(), "tenant:1000000");
        let n = Name::from_display(format_args!("{}:{}", "tenant-prefix-that-is-long", 42));
        assert!(matches!(n, Name::Shared(_)));
        assert_eq!(n.as_str(), "tenant-prefix-that-is-long:42");
        let n = Name::from_display(format_args!("{}{}", "é".repeat(11), "é"));
        assert_eq!(n.as_str(), "é".repeat(12));
    }

    #[test]
    fn bits_round_trip() {
        for s in [
            CircuitState::Closed,
            CircuitState::Open,
            CircuitState::HalfOpen,
            CircuitState::Disabled,
            CircuitState::ForcedOpen,
            CircuitState::MetricsOnly,
        ] {
            for timed in [false, true] {
                let w = word(s, 12345, timed);
                assert_eq!(CircuitState::from_bits(w), s);
                assert_eq!(permits(w), s.permits_calls());
                assert_eq!(permits_untimed(w), s.permits_calls() && !timed);
                assert_eq!(is_timed(w), timed);
                assert_eq!(epoch_of(w), 12345);
            }
        }
    }
}
