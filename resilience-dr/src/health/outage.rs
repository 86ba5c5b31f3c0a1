//! Outage confirmation: K of N independent vantage points, for a sustained period.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::arith;

use parking_lot::Mutex;
use resilience_core::clock::{shared, Clock, SharedClock, SystemClock};
use resilience_core::config::{check_nonzero_duration, ConfigError};
use resilience_core::events::Listeners;
use serde::{Deserialize, Serialize};

/// When a set of probes agrees that a target is down.
///
/// The reference platforms demand that a failover is never triggered by one monitor:
/// "confirm outage from multiple probes" and "unhealthy for > 5 minutes".
/// An outage is **confirmed** once at least `quorum` vantage points report
/// the target down, without interruption, for `sustain`. A report older than
/// `max_report_age` no longer counts as a vote (a probe that went silent
/// cannot keep an outage alive or confirm one).
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::health::OutageConfig;
/// let seed = OutageConfig::default();
/// assert_eq!(seed.quorum, 2);
/// assert_eq!(seed.sustain, Duration::from_secs(300));
/// let c: OutageConfig = resilience_core::config::from_yaml_str("quorum: 3\nsustain: 3m").unwrap();
/// assert_eq!(c.max_report_age, Duration::from_secs(90));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutageConfig {
    /// K: how many vantage points must agree. Default 2.
    pub quorum: usize,
    /// How long they must keep agreeing. Default 5 min (seed).
    #[serde(with = "humantime_serde")]
    pub sustain: Duration,
    /// How long one report counts as a vote. Default 90 s.
    #[serde(with = "humantime_serde")]
    pub max_report_age: Duration,
}

impl Default for OutageConfig {
    fn default() -> Self {
        OutageConfig {
            quorum: 2,
            sustain: Duration::from_secs(300),
            max_report_age: Duration::from_secs(90),
        }
    }
}

impl OutageConfig {
    /// Checks the config against `vantage_points` (N), naming the bad field.
    ///
    /// ```
    /// use resilience_dr::health::OutageConfig;
    /// let c = OutageConfig { quorum: 4, ..Default::default() };
    /// assert_eq!(c.validate(3).unwrap_err().field(), Some("quorum"));
    /// assert!(c.validate(5).is_ok());
    /// ```
    pub fn validate(&self, vantage_points: usize) -> Result<(), ConfigError> {
        if self.quorum == 0 {
            return Err(ConfigError::invalid("quorum", "must be at least 1, got 0"));
        }
        if self.quorum > vantage_points {
            return Err(ConfigError::invalid(
                "quorum",
                format!(
                    "needs {} agreeing vantage points but only {vantage_points} are registered; \
                     add vantage points or lower the quorum",
                    self.quorum
                ),
            ));
        }
        check_nonzero_duration("max_report_age", self.max_report_age)
    }
}

/// Where the outage detector stands.
///
/// ```
/// use resilience_dr::health::OutageStatus;
/// assert!(!OutageStatus::Clear.is_confirmed());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageStatus {
    /// Fewer than `quorum` fresh reports say down.
    Clear,
    /// A quorum says down, not yet for `sustain`.
    Suspected {
        /// Since when the quorum has held.
        since: Instant,
        /// Fresh down votes now.
        down: usize,
    },
    /// A quorum has said down for at least `sustain`.
    Confirmed {
        /// Since when the quorum has held (the outage's start, for RTO accounting).
        since: Instant,
        /// Fresh down votes now.
        down: usize,
    },
}

impl OutageStatus {
    /// Whether the outage is confirmed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{OutageConfig, OutageDetector, OutageStatus};
    /// let clock = ManualClock::new();
    /// let cfg = OutageConfig { quorum: 2, sustain: Duration::from_secs(60), ..Default::default() };
    /// let d = OutageDetector::with_clock(cfg, ["a", "b", "c"], clock.clone()).unwrap();
    /// d.report(&"a", false).unwrap();
    /// d.report(&"b", false).unwrap();
    /// assert!(!d.status().is_confirmed());
    /// clock.advance(Duration::from_secs(60));
    /// d.report(&"a", false).unwrap();
    /// assert!(d.report(&"b", false).unwrap().is_confirmed());
    /// ```
    pub fn is_confirmed(&self) -> bool {
        matches!(self, OutageStatus::Confirmed { .. })
    }

    /// Since when a quorum has held, if it does.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{OutageConfig, OutageDetector, OutageStatus};
    /// let clock = ManualClock::new();
    /// let cfg = OutageConfig { quorum: 2, sustain: Duration::from_secs(60), ..Default::default() };
    /// let d = OutageDetector::with_clock(cfg, ["a", "b", "c"], clock.clone()).unwrap();
    /// assert_eq!(d.status().since(), None);
    /// d.report(&"a", false).unwrap();
    /// let s = d.report(&"b", false).unwrap();
    /// assert_eq!(s.since(), Some(clock.start()));
    /// ```
    pub fn since(&self) -> Option<Instant> {
        match self {
            OutageStatus::Clear => None,
            OutageStatus::Suspected { since, .. } | OutageStatus::Confirmed { since, .. } => {
                Some(*since)
            }
        }
    }
}

/// A change in the detector's status.
///
/// ```
/// use resilience_dr::health::OutageEvent;
/// let e = OutageEvent::Cleared;
/// assert_eq!(format!("{e:?}"), "Cleared");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutageEvent {
    /// A quorum now says down; the sustain timer starts.
    Suspected {
        /// Fresh down votes.
        down: usize,
        /// Vantage points registered.
        of: usize,
    },
    /// The quorum held for `sustain`: the outage is confirmed.
    Confirmed {
        /// When the quorum started holding.
        since: Instant,
        /// How long it has held.
        held_for: Duration,
    },
    /// The quorum is lost (before or after confirmation).
    Cleared,
}

/// A report referred to a vantage point that was never registered.
///
/// ```
/// use resilience_dr::health::{OutageConfig, OutageDetector};
/// let d = OutageDetector::new(OutageConfig::default(), ["a", "b"]).unwrap();
/// let err = d.report(&"c", false).unwrap_err();
/// assert!(err.to_string().contains("\"c\""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown vantage point {vantage}: register it when building the OutageDetector")]
pub struct UnknownVantage {
    /// The vantage point, formatted with `Debug`.
    pub vantage: String,
}

#[derive(Debug, Clone, Copy)]
struct Vote {
    at: Instant,
    down: bool,
}

#[derive(Debug)]
struct State<V> {
    votes: HashMap<V, Option<Vote>>,
    quorum_since: Option<Instant>,
    confirmed: bool,
}

/// Confirms an outage only when K of N independent probes agree for long enough.
///
/// Cheap to clone: clones share one detector (an `Arc` inside).
///
/// Each vantage point (a probe in another zone, another monitoring system)
/// calls [`report`](Self::report) with what it sees. The detector is exact
/// about time: if a vote goes stale between two calls, the quorum is known to
/// have lapsed at that instant, so a stale vote never bridges a gap.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::clock::ManualClock;
/// use resilience_dr::health::{OutageConfig, OutageDetector, OutageStatus};
///
/// let clock = ManualClock::new();
/// let cfg = OutageConfig { quorum: 2, sustain: Duration::from_secs(300), ..Default::default() };
/// let d = OutageDetector::with_clock(cfg, ["zone-a", "zone-b", "zone-c"], clock.clone()).unwrap();
///
/// // One flaky monitor never confirms anything.
/// for _ in 0..20 {
///     d.report(&"zone-a", false).unwrap();
///     clock.advance(Duration::from_secs(30));
/// }
/// assert_eq!(d.status(), OutageStatus::Clear);
///
/// // Two agreeing for five minutes do.
/// for _ in 0..=10 {
///     d.report(&"zone-a", false).unwrap();
///     d.report(&"zone-b", false).unwrap();
///     clock.advance(Duration::from_secs(30));
/// }
/// assert!(d.status().is_confirmed());
/// ```
pub struct OutageDetector<V> {
    inner: Arc<OutageDetectorShared<V>>,
}

impl<V> Clone for OutageDetector<V> {
    fn clone(&self) -> Self {
        OutageDetector {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct OutageDetectorShared<V> {
    config: OutageConfig,
    clock: SharedClock,
    state: Mutex<State<V>>,
    listeners: Listeners<OutageEvent>,
}

impl<V> fmt::Debug for OutageDetector<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.inner.state.lock();
        f.debug_struct("OutageDetector")
            .field("config", &self.inner.config)
            .field("vantage_points", &s.votes.len())
            .field("quorum_since", &s.quorum_since)
            .field("confirmed", &s.confirmed)
            .finish()
    }
}

impl<V> OutageDetector<V>
where
    V: Eq + Hash + Clone + fmt::Debug + Send + Sync + 'static,
{
    /// A detector over `vantage_points` on the system clock.
    ///
    /// ```
    /// use resilience_dr::health::{OutageConfig, OutageDetector};
    /// let d = OutageDetector::new(OutageConfig::default(), ["prober-us", "prober-eu", "prober-ap"]).unwrap();
    /// assert_eq!(d.config().quorum, 2);
    /// ```
    pub fn new(
        config: OutageConfig,
        vantage_points: impl IntoIterator<Item = V>,
    ) -> Result<Self, ConfigError> {
        Self::with_clock(config, vantage_points, SystemClock)
    }

    /// A detector over `vantage_points` reading time from `clock`.
    ///
    /// ```
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{OutageConfig, OutageDetector};
    /// let err = OutageDetector::with_clock(OutageConfig::default(), ["only-one"], ManualClock::new())
    ///     .unwrap_err();
    /// assert_eq!(err.field(), Some("quorum"));
    /// ```
    pub fn with_clock(
        config: OutageConfig,
        vantage_points: impl IntoIterator<Item = V>,
        clock: impl Clock,
    ) -> Result<Self, ConfigError> {
        let votes: HashMap<V, Option<Vote>> =
            vantage_points.into_iter().map(|v| (v, None)).collect();
        config.validate(votes.len())?;
        Ok(OutageDetector {
            inner: Arc::new(OutageDetectorShared {
                config,
                clock: shared(clock),
                state: Mutex::new(State {
                    votes,
                    quorum_since: None,
                    confirmed: false,
                }),
                listeners: Listeners::new(),
            }),
        })
    }

    /// Listeners for [`OutageEvent`]s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{OutageConfig, OutageDetector, OutageStatus};
    /// let clock = ManualClock::new();
    /// let cfg = OutageConfig { quorum: 2, sustain: Duration::from_secs(60), ..Default::default() };
    /// let d = OutageDetector::with_clock(cfg, ["a", "b", "c"], clock.clone()).unwrap();
    /// d.listeners().add_fn(|e: &resilience_dr::health::OutageEvent| println!("outage: {e:?}"));
    /// d.report(&"a", false).unwrap();
    /// d.report(&"b", false).unwrap(); // prints "outage: Suspected { down: 2, of: 3 }"
    /// ```
    pub fn listeners(&self) -> &Listeners<OutageEvent> {
        &self.inner.listeners
    }

    /// The validated config.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{OutageConfig, OutageDetector, OutageStatus};
    /// let clock = ManualClock::new();
    /// let cfg = OutageConfig { quorum: 2, sustain: Duration::from_secs(60), ..Default::default() };
    /// let d = OutageDetector::with_clock(cfg, ["a", "b", "c"], clock.clone()).unwrap();
    /// assert_eq!(d.config().quorum, 2);
    /// ```
    pub fn config(&self) -> &OutageConfig {
        &self.inner.config
    }

    /// Records what `vantage` sees now (`healthy == false` is a down vote)
    /// and returns the resulting status.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{OutageConfig, OutageDetector, OutageStatus};
    /// let clock = ManualClock::new();
    /// let cfg = OutageConfig { quorum: 2, sustain: Duration::from_secs(60), ..Default::default() };
    /// let d = OutageDetector::with_clock(cfg, ["a", "b", "c"], clock.clone()).unwrap();
    /// assert_eq!(d.report(&"a", false).unwrap(), OutageStatus::Clear); // one vote of two
    /// assert!(matches!(d.report(&"b", false).unwrap(), OutageStatus::Suspected { down: 2, .. }));
    /// assert!(d.report(&"z", false).is_err()); // unknown vantage point
    /// ```
    pub fn report(&self, vantage: &V, healthy: bool) -> Result<OutageStatus, UnknownVantage> {
        let now = self.inner.clock.now();
        let mut events = Vec::new();
        let result = {
            let mut s = self.inner.state.lock();
            self.lapse(&mut s, now, &mut events);
            match s.votes.get_mut(vantage) {
                Some(slot) => {
                    *slot = Some(Vote {
                        at: now,
                        down: !healthy,
                    });
                    Ok(self.settle(&mut s, now, &mut events))
                }
                None => Err(UnknownVantage {
                    vantage: format!("{vantage:?}"),
                }),
            }
        };
        // A lapse noticed on the way is published even if the report is refused.
        self.publish(events);
        result
    }

    /// The status now (publishing any transition that time alone caused,
    /// such as confirmation after `sustain` or a lapse of stale votes).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{OutageConfig, OutageDetector, OutageStatus};
    /// let clock = ManualClock::new();
    /// let cfg = OutageConfig { quorum: 2, sustain: Duration::from_secs(60), ..Default::default() };
    /// let d = OutageDetector::with_clock(cfg, ["a", "b", "c"], clock.clone()).unwrap();
    /// d.report(&"a", false).unwrap();
    /// d.report(&"b", false).unwrap();
    /// clock.advance(Duration::from_secs(60));
    /// // no new report needed: time alone confirms (the votes are still fresh)
    /// assert!(d.status().is_confirmed());
    /// ```
    pub fn status(&self) -> OutageStatus {
        let now = self.inner.clock.now();
        let mut events = Vec::new();
        let status = {
            let mut s = self.inner.state.lock();
            self.lapse(&mut s, now, &mut events);
            self.settle(&mut s, now, &mut events)
        };
        self.publish(events);
        status
    }

    /// Forgets every vote (after a failover, say), without an event.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{OutageConfig, OutageDetector, OutageStatus};
    /// let clock = ManualClock::new();
    /// let cfg = OutageConfig { quorum: 2, sustain: Duration::from_secs(60), ..Default::default() };
    /// let d = OutageDetector::with_clock(cfg, ["a", "b", "c"], clock.clone()).unwrap();
    /// d.report(&"a", false).unwrap();
    /// d.report(&"b", false).unwrap();
    /// d.reset();
    /// assert_eq!(d.status(), OutageStatus::Clear);
    /// ```
    pub fn reset(&self) {
        let mut s = self.inner.state.lock();
        for v in s.votes.values_mut() {
            *v = None;
        }
        s.quorum_since = None;
        s.confirmed = false;
    }

    fn fresh(&self, vote: &Vote, now: Instant) -> bool {
        !arith::elapsed(vote.at, now, self.inner.config.max_report_age)
    }

    fn down_votes(&self, s: &State<V>, now: Instant) -> usize {
        s.votes
            .values()
            .flatten()
            .filter(|v| v.down && self.fresh(v, now))
            .count()
    }

    /// If the quorum held at the last call but stale votes broke it at some
    /// instant up to `now`, end it.
    fn lapse(&self, s: &mut State<V>, now: Instant, events: &mut Vec<OutageEvent>) {
        if s.quorum_since.is_none() {
            return;
        }
        // Expiry instants of the down votes, latest first: the quorum lasts
        // until the K-th latest expires.
        let mut expiries: Vec<Instant> = s
            .votes
            .values()
            .flatten()
            .filter(|v| v.down)
            // An expiry beyond the clock's range is the far future: a huge
            // max_report_age means votes that never expire, not votes that
            // expire at once.
            .map(|v| arith::saturating_add(v.at, self.inner.config.max_report_age))
            .collect();
        expiries.sort_unstable_by(|a, b| b.cmp(a));
        let kth = expiries
            .get(self.inner.config.quorum.saturating_sub(1))
            .copied();
        if kth.is_none_or(|e| e <= now) {
            s.quorum_since = None;
            s.confirmed = false;
            events.push(OutageEvent::Cleared);
        }
    }

    fn settle(
        &self,
        s: &mut State<V>,
        now: Instant,
        events: &mut Vec<OutageEvent>,
    ) -> OutageStatus {
        let down = self.down_votes(s, now);
        if down < self.inner.config.quorum {
            if s.quorum_since.take().is_some() {
                s.confirmed = false;
                events.push(OutageEvent::Cleared);
            }
            return OutageStatus::Clear;
        }
        let since = match s.quorum_since {
            Some(t) => t,
            None => {
                s.quorum_since = Some(now);
                events.push(OutageEvent::Suspected {
                    down,
                    of: s.votes.len(),
                });
                now
            }
        };
        let held_for = now.saturating_duration_since(since);
        if held_for >= self.inner.config.sustain {
            if !s.confirmed {
                s.confirmed = true;
                events.push(OutageEvent::Confirmed { since, held_for });
            }
            OutageStatus::Confirmed { since, down }
        } else {
            OutageStatus::Suspected { since, down }
        }
    }

    fn publish(&self, events: Vec<OutageEvent>) {
        for e in &events {
            let name = match e {
                OutageEvent::Suspected { .. } => "suspected",
                OutageEvent::Confirmed { held_for, .. } => {
                    metrics::histogram!("resilience_outage_confirmation_seconds")
                        .record(held_for.as_secs_f64());
                    "confirmed"
                }
                OutageEvent::Cleared => "cleared",
            };
            metrics::counter!("resilience_outage_transitions_total", "to" => name).increment(1);
            #[cfg(feature = "tracing")]
            tracing::warn!(event = ?e, "outage detector: {name}");
            self.inner.listeners.emit(e);
        }
    }
}

impl fmt::Display for OutageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutageStatus::Clear => f.write_str("clear"),
            OutageStatus::Suspected { down, .. } => write!(f, "suspected ({down} probes down)"),
            OutageStatus::Confirmed { down, .. } => write!(f, "confirmed ({down} probes down)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use resilience_core::clock::ManualClock;
    use std::sync::Arc;

    fn det(quorum: usize) -> (ManualClock, OutageDetector<u8>) {
        let c = ManualClock::new();
        let cfg = OutageConfig {
            quorum,
            sustain: Duration::from_secs(300),
            max_report_age: Duration::from_secs(60),
        };
        (
            c.clone(),
            OutageDetector::with_clock(cfg, 0..3u8, c).unwrap(),
        )
    }

    #[test]
    fn stale_vote_breaks_quorum_even_if_refreshed_later() {
        let (c, d) = det(2);
        d.report(&0, false).unwrap();
        d.report(&1, false).unwrap();
        let since0 = d.status().since().unwrap();
        c.advance(Duration::from_secs(50));
        d.report(&0, false).unwrap(); // vantage 1 goes stale at t=60
        c.advance(Duration::from_secs(20));
        let s = d.report(&1, false).unwrap();
        assert!(matches!(s, OutageStatus::Suspected { .. }));
        assert!(s.since().unwrap() > since0);
    }

    #[test]
    fn confirmed_after_sustain_and_cleared_by_recovery() {
        let (c, d) = det(2);
        let events = Arc::new(Mutex::new(Vec::new()));
        let e2 = events.clone();
        d.listeners()
            .add_fn(move |e: &OutageEvent| e2.lock().push(e.clone()));
        for i in 0..=10 {
            d.report(&0, false).unwrap();
            let s = d.report(&2, false).unwrap();
            assert_eq!(s.is_confirmed(), i == 10, "at {}s: {s}", i * 30);
            if i < 10 {
                c.advance(Duration::from_secs(30));
            }
        }
        d.report(&0, true).unwrap();
        assert_eq!(d.status(), OutageStatus::Clear);
        let ev = events.lock();
        assert!(matches!(ev[0], OutageEvent::Suspected { down: 2, of: 3 }));
        assert!(matches!(ev[1], OutageEvent::Confirmed { .. }));
        assert_eq!(ev[2], OutageEvent::Cleared);
        assert_eq!(ev.len(), 3);
    }

    #[test]
    fn reset_forgets_votes() {
        let (_c, d) = det(1);
        assert!(matches!(
            d.report(&0, false).unwrap(),
            OutageStatus::Suspected { .. }
        ));
        d.reset();
        assert_eq!(d.status(), OutageStatus::Clear);
        assert!(format!("{d:?}").contains("OutageDetector"));
        assert_eq!(OutageStatus::Clear.to_string(), "clear");
    }
}
