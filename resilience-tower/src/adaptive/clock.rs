//! The clock that times calls.

use std::time::Duration;

use resilience_core::config::ConfigError;
use serde::{Deserialize, Serialize};

/// Which clock times calls for an [`AdaptiveLimiter`](super::AdaptiveLimiter).
///
/// Timing a call takes two clock readings, which are most of the adaptive
/// layer's per-call cost (see `benches/limits.rs`).
///
/// | value | reading | notes |
/// |---|---|---|
/// | `tokio` (default) | ~30 ns (the OS monotonic clock) | follows `tokio::time::pause()`, so tests with paused time measure exact latencies |
/// | `tsc` | ~12 ns (the CPU's time-stamp counter, via `quanta`) | needs the crate feature `tsc-clock`; calibrated once per process (up to 200 ms, at the first limiter using it); ignores `tokio::time::pause()` |
///
/// Where the CPU has no usable invariant time-stamp counter, `tsc` falls
/// back to the OS clock.
///
/// ```
/// use resilience_tower::adaptive::RttClock;
/// let c: RttClock = resilience_core::config::from_yaml_str("tokio").unwrap();
/// assert_eq!(c, RttClock::Tokio);
/// assert_eq!(RttClock::default(), RttClock::Tokio);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RttClock {
    /// tokio's clock.
    #[default]
    Tokio,
    /// The CPU's time-stamp counter (crate feature `tsc-clock`).
    Tsc,
}

impl RttClock {
    /// Checks that the clock is available in this build.
    pub fn validate(self) -> Result<(), ConfigError> {
        match self {
            RttClock::Tokio => Ok(()),
            #[cfg(feature = "tsc-clock")]
            RttClock::Tsc => Ok(()),
            #[cfg(not(feature = "tsc-clock"))]
            RttClock::Tsc => Err(ConfigError::invalid(
                "rtt_clock",
                "`tsc` needs the `tsc-clock` feature of resilience-tower; enable it or use `tokio`",
            )),
        }
    }
}

/// A working clock.
#[derive(Debug, Clone)]
pub(crate) enum Timing {
    Tokio,
    #[cfg(feature = "tsc-clock")]
    Tsc(quanta::Clock),
}

/// When a call started, on its limiter's clock.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Started {
    Tokio(tokio::time::Instant),
    #[cfg(feature = "tsc-clock")]
    Tsc(u64),
}

impl Timing {
    pub(crate) fn new(clock: RttClock) -> Result<Self, ConfigError> {
        clock.validate()?;
        Ok(match clock {
            #[cfg(feature = "tsc-clock")]
            RttClock::Tsc => Timing::Tsc(quanta::Clock::new()),
            _ => Timing::Tokio,
        })
    }

    #[inline]
    pub(crate) fn start(&self) -> Started {
        match self {
            Timing::Tokio => Started::Tokio(tokio::time::Instant::now()),
            #[cfg(feature = "tsc-clock")]
            Timing::Tsc(c) => Started::Tsc(c.raw()),
        }
    }

    #[inline]
    pub(crate) fn elapsed(&self, started: Started) -> Duration {
        match started {
            Started::Tokio(at) => at.elapsed(),
            #[cfg(feature = "tsc-clock")]
            Started::Tsc(raw) => match self {
                Timing::Tsc(c) => Duration::from_nanos(c.delta_as_nanos(raw, c.raw())),
                // A start is always read from the limiter's own clock.
                Timing::Tokio => Duration::ZERO,
            },
        }
    }
}
