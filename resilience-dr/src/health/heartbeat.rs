//! Heartbeat monitor: who has gone quiet, and for how long.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use resilience_core::clock::{shared, Clock, SharedClock, SystemClock};
use resilience_core::config::{check_nonzero, check_nonzero_duration, fmt_duration, ConfigError};
use resilience_core::events::Listeners;
use serde::{Deserialize, Serialize};

/// Heartbeat expectations for every member of a fleet.
///
/// Members are expected to beat every `interval`. Each whole `interval` of
/// silence since the last heartbeat is one *miss*. A member is unhealthy once
/// it has missed `unhealthy_after` consecutive heartbeats **or** has been
/// silent for `timeout`, whichever comes first (with the defaults,
/// 10 s × 3 = 30 s, both trip together). One miss makes it *suspect*.
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::health::HeartbeatConfig;
///
/// let seed = HeartbeatConfig::default();
/// assert_eq!(seed.interval, Duration::from_secs(10));
/// assert_eq!(seed.timeout, Duration::from_secs(30));
/// assert_eq!(seed.unhealthy_after, 3);
///
/// let cfg: HeartbeatConfig =
///     resilience_core::config::from_yaml_str("interval: 5s\ntimeout: 20s").unwrap();
/// assert_eq!(cfg.unhealthy_after, 3); // default kept
/// assert!(cfg.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeartbeatConfig {
    /// How often members are expected to beat. Default 10 s.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Longest tolerated silence. Default 30 s. Must be at least `interval`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Consecutive misses that make a member unhealthy. Default 3.
    pub unhealthy_after: u32,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            unhealthy_after: 3,
        }
    }
}

impl HeartbeatConfig {
    /// Checks the config, naming the first bad field.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::health::HeartbeatConfig;
    /// let bad = HeartbeatConfig { timeout: Duration::from_secs(5), ..Default::default() };
    /// assert_eq!(bad.validate().unwrap_err().field(), Some("timeout"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_nonzero_duration("interval", self.interval)?;
        check_nonzero_duration("timeout", self.timeout)?;
        check_nonzero("unhealthy_after", u64::from(self.unhealthy_after))?;
        if self.timeout < self.interval {
            return Err(ConfigError::invalid(
                "timeout",
                format!(
                    "must be at least the interval ({}), got {}: every member would be \
                     declared unhealthy between two heartbeats",
                    fmt_duration(self.interval),
                    fmt_duration(self.timeout)
                ),
            ));
        }
        Ok(())
    }

    /// The health a member is in after `silence` without a heartbeat.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::health::{HeartbeatConfig, HealthState};
    /// let c = HeartbeatConfig::default();
    /// assert_eq!(c.classify(Duration::from_secs(9)), (HealthState::Healthy, 0));
    /// assert_eq!(c.classify(Duration::from_secs(29)), (HealthState::Suspect, 2));
    /// assert_eq!(c.classify(Duration::from_secs(30)), (HealthState::Unhealthy, 3));
    /// ```
    pub fn classify(&self, silence: Duration) -> (HealthState, u32) {
        let missed = if self.interval.is_zero() {
            u32::MAX
        } else {
            silence
                .as_nanos()
                .checked_div(self.interval.as_nanos())
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(u32::MAX)
        };
        let state = if missed >= self.unhealthy_after || silence >= self.timeout {
            HealthState::Unhealthy
        } else if missed >= 1 {
            HealthState::Suspect
        } else {
            HealthState::Healthy
        };
        (state, missed)
    }
}

/// Health of one member as seen through its heartbeats, ordered from best
/// to worst.
///
/// ```
/// use resilience_dr::health::HealthState;
/// assert!(HealthState::Suspect.is_routable());
/// assert!(!HealthState::Unhealthy.is_routable());
/// assert_eq!(HealthState::Unhealthy.to_string(), "unhealthy");
/// assert!(HealthState::Healthy < HealthState::Suspect);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    /// Beating on time.
    Healthy,
    /// Missed at least one heartbeat, not yet enough to be declared unhealthy.
    Suspect,
    /// Missed too many heartbeats or silent past the timeout.
    Unhealthy,
}

impl HealthState {
    /// Whether work may still be routed to a member in this state (healthy or suspect).
    ///
    /// ```
    /// use resilience_dr::health::HealthState;
    /// assert!(HealthState::Healthy.is_routable());
    /// assert!(!HealthState::Unhealthy.is_routable());
    /// ```
    pub fn is_routable(self) -> bool {
        !matches!(self, HealthState::Unhealthy)
    }

    fn as_str(self) -> &'static str {
        match self {
            HealthState::Healthy => "healthy",
            HealthState::Suspect => "suspect",
            HealthState::Unhealthy => "unhealthy",
        }
    }
}

impl fmt::Display for HealthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the monitor knows about one member at one instant.
///
/// ```
/// use resilience_dr::health::{HeartbeatConfig, HeartbeatMonitor, HealthState};
/// let m = HeartbeatMonitor::new(HeartbeatConfig::default()).unwrap();
/// m.register("worker-1");
/// let status = m.status(&"worker-1").unwrap();
/// assert_eq!(status.state, HealthState::Healthy);
/// assert_eq!(status.missed, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberStatus {
    /// Current health.
    pub state: HealthState,
    /// Whole heartbeat intervals missed since the last heartbeat.
    pub missed: u32,
    /// When the last heartbeat (or registration) was recorded.
    pub last_heartbeat: Instant,
    /// Silence since then.
    pub silent_for: Duration,
}

/// A member's health changed.
///
/// Emitted by [`HeartbeatMonitor::check`] (on the way down) and
/// [`HeartbeatMonitor::heartbeat`] (on recovery).
///
/// ```
/// use std::time::Duration;
/// use resilience_core::clock::ManualClock;
/// use resilience_dr::health::{HeartbeatConfig, HeartbeatMonitor, HealthState};
///
/// let clock = ManualClock::new();
/// let m = HeartbeatMonitor::with_clock(HeartbeatConfig::default(), clock.clone()).unwrap();
/// m.register(7u32);
/// clock.advance(Duration::from_secs(30));
/// let events = m.check();
/// assert_eq!(events[0].member, 7);
/// assert_eq!((events[0].from, events[0].to), (HealthState::Healthy, HealthState::Unhealthy));
/// assert_eq!(events[0].missed, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatEvent<K> {
    /// The member.
    pub member: K,
    /// Health before.
    pub from: HealthState,
    /// Health now.
    pub to: HealthState,
    /// Misses counted at the transition (0 on recovery).
    pub missed: u32,
}

#[derive(Debug)]
struct Member {
    last: Instant,
    /// The state last reported through an event.
    reported: HealthState,
}

/// Tracks heartbeats of many members and declares the silent ones unhealthy.
///
/// Cheap to clone: clones share one monitor (an `Arc` inside).
///
/// The monitor never spawns a task and never sleeps: time comes from the
/// [`Clock`], so the host drives it by calling [`check`](Self::check) on its
/// own schedule (typically once per `interval`), and tests drive it with a
/// [`ManualClock`](resilience_core::clock::ManualClock).
///
/// Members are kept sorted by id (`K: Ord`), so everything the monitor
/// returns ([`check`](Self::check)'s events, [`unhealthy`](Self::unhealthy),
/// [`in_state`](Self::in_state)) and publishes comes in id order: two runs
/// of a simulation or a test see the same sequence.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::clock::ManualClock;
/// use resilience_dr::health::{HeartbeatConfig, HeartbeatMonitor, HealthState};
///
/// let clock = ManualClock::new();
/// let monitor = HeartbeatMonitor::with_clock(HeartbeatConfig::default(), clock.clone()).unwrap();
/// monitor.register("gpu-1");
/// monitor.register("gpu-2");
/// for _ in 0..3 {
///     clock.advance(Duration::from_secs(10));
///     monitor.heartbeat(&"gpu-1"); // gpu-2 stays silent
/// }
/// monitor.check();
/// assert_eq!(monitor.unhealthy(), vec!["gpu-2"]);
/// assert_eq!(monitor.status(&"gpu-1").unwrap().state, HealthState::Healthy);
/// ```
pub struct HeartbeatMonitor<K> {
    inner: Arc<HeartbeatMonitorShared<K>>,
}

impl<K> Clone for HeartbeatMonitor<K> {
    fn clone(&self) -> Self {
        HeartbeatMonitor {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct HeartbeatMonitorShared<K> {
    config: HeartbeatConfig,
    clock: SharedClock,
    members: Mutex<BTreeMap<K, Member>>,
    listeners: Listeners<HeartbeatEvent<K>>,
}

impl<K> fmt::Debug for HeartbeatMonitor<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeartbeatMonitor")
            .field("config", &self.inner.config)
            .field("members", &self.inner.members.lock().len())
            .finish()
    }
}

impl<K> HeartbeatMonitor<K>
where
    K: Ord + Clone + fmt::Debug + Send + Sync + 'static,
{
    /// A monitor on the system clock.
    ///
    /// ```
    /// use resilience_dr::health::{HeartbeatConfig, HeartbeatMonitor};
    /// let m: HeartbeatMonitor<String> = HeartbeatMonitor::new(HeartbeatConfig::default()).unwrap();
    /// assert!(m.is_empty());
    /// ```
    pub fn new(config: HeartbeatConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, SystemClock)
    }

    /// A monitor reading time from `clock`.
    ///
    /// ```
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{HeartbeatConfig, HeartbeatMonitor};
    /// let bad = HeartbeatConfig { unhealthy_after: 0, ..Default::default() };
    /// let err = HeartbeatMonitor::<u8>::with_clock(bad, ManualClock::new()).unwrap_err();
    /// assert_eq!(err.field(), Some("unhealthy_after"));
    /// ```
    pub fn with_clock(config: HeartbeatConfig, clock: impl Clock) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(HeartbeatMonitor {
            inner: Arc::new(HeartbeatMonitorShared {
                config,
                clock: shared(clock),
                members: Mutex::new(BTreeMap::new()),
                listeners: Listeners::new(),
            }),
        })
    }

    /// The validated config.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{HeartbeatConfig, HeartbeatMonitor, HealthState};
    /// let clock = ManualClock::new();
    /// let m: HeartbeatMonitor<&str> = HeartbeatMonitor::with_clock(HeartbeatConfig::default(), clock.clone()).unwrap();
    /// assert_eq!(m.config().unhealthy_after, 3);
    /// ```
    pub fn config(&self) -> &HeartbeatConfig {
        &self.inner.config
    }

    /// Listeners for [`HeartbeatEvent`]s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{HeartbeatConfig, HeartbeatMonitor, HealthState};
    /// let clock = ManualClock::new();
    /// let m = HeartbeatMonitor::with_clock(HeartbeatConfig::default(), clock.clone()).unwrap();
    /// m.listeners().add_fn(|e: &resilience_dr::health::HeartbeatEvent<&str>| println!("{} is {}", e.member, e.to));
    /// m.register("w");
    /// clock.advance(Duration::from_secs(30));
    /// m.check(); // prints "w is unhealthy"
    /// ```
    pub fn listeners(&self) -> &Listeners<HeartbeatEvent<K>> {
        &self.inner.listeners
    }

    /// Starts watching `member`, counting its silence from now. Registering a
    /// member already watched counts as a heartbeat.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{HeartbeatConfig, HeartbeatMonitor, HealthState};
    /// let clock = ManualClock::new();
    /// let m = HeartbeatMonitor::with_clock(HeartbeatConfig::default(), clock.clone()).unwrap();
    /// m.register("w");
    /// assert_eq!(m.status(&"w").unwrap().state, HealthState::Healthy);
    /// ```
    pub fn register(&self, member: K) {
        self.heartbeat(&member);
    }

    /// Stops watching `member`. Returns whether it was watched.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{HeartbeatConfig, HeartbeatMonitor, HealthState};
    /// let clock = ManualClock::new();
    /// let m = HeartbeatMonitor::with_clock(HeartbeatConfig::default(), clock.clone()).unwrap();
    /// m.register("w");
    /// assert!(m.remove(&"w"));
    /// assert!(!m.remove(&"w"));
    /// ```
    pub fn remove(&self, member: &K) -> bool {
        self.inner.members.lock().remove(member).is_some()
    }

    /// Number of watched members.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{HeartbeatConfig, HeartbeatMonitor, HealthState};
    /// let clock = ManualClock::new();
    /// let m = HeartbeatMonitor::with_clock(HeartbeatConfig::default(), clock.clone()).unwrap();
    /// m.register("a");
    /// m.register("b");
    /// assert_eq!(m.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.members.lock().len()
    }

    /// Whether no member is watched.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{HeartbeatConfig, HeartbeatMonitor, HealthState};
    /// let clock = ManualClock::new();
    /// let m: HeartbeatMonitor<&str> = HeartbeatMonitor::with_clock(HeartbeatConfig::default(), clock.clone()).unwrap();
    /// assert!(m.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.inner.members.lock().is_empty()
    }

    /// Records a heartbeat from `member` (registering it if new) and returns
    /// the recovery event if it had been reported suspect or unhealthy.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{HeartbeatConfig, HeartbeatMonitor, HealthState};
    /// let clock = ManualClock::new();
    /// let m = HeartbeatMonitor::with_clock(HeartbeatConfig::default(), clock.clone()).unwrap();
    /// assert!(m.heartbeat(&"a").is_none()); // new member
    /// clock.advance(Duration::from_secs(45));
    /// m.check();
    /// let back = m.heartbeat(&"a").unwrap();
    /// assert_eq!((back.from, back.to), (HealthState::Unhealthy, HealthState::Healthy));
    /// ```
    pub fn heartbeat(&self, member: &K) -> Option<HeartbeatEvent<K>> {
        let now = self.inner.clock.now();
        let event = {
            let mut members = self.inner.members.lock();
            match members.get_mut(member) {
                Some(m) => {
                    m.last = m.last.max(now);
                    let from = m.reported;
                    m.reported = HealthState::Healthy;
                    (from != HealthState::Healthy).then(|| HeartbeatEvent {
                        member: member.clone(),
                        from,
                        to: HealthState::Healthy,
                        missed: 0,
                    })
                }
                None => {
                    members.insert(
                        member.clone(),
                        Member {
                            last: now,
                            reported: HealthState::Healthy,
                        },
                    );
                    None
                }
            }
        };
        if let Some(e) = &event {
            self.publish(e);
        }
        event
    }

    /// Evaluates every member at the current time, publishes the transitions
    /// since the previous check, and returns them, sorted by member id.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{HeartbeatConfig, HeartbeatMonitor, HealthState};
    /// let clock = ManualClock::new();
    /// let m = HeartbeatMonitor::with_clock(HeartbeatConfig::default(), clock.clone()).unwrap();
    /// m.register("w");
    /// clock.advance(Duration::from_secs(10));
    /// assert_eq!(m.check()[0].to, HealthState::Suspect);
    /// assert!(m.check().is_empty()); // each transition is reported once
    ///
    /// for w in ["w3", "w1", "w2"] {
    ///     m.register(w);
    /// }
    /// clock.advance(Duration::from_secs(30));
    /// let ids: Vec<_> = m.check().into_iter().map(|e| e.member).collect();
    /// assert_eq!(ids, ["w", "w1", "w2", "w3"]); // in id order, whatever the registration order
    /// ```
    pub fn check(&self) -> Vec<HeartbeatEvent<K>> {
        let now = self.inner.clock.now();
        let mut events = Vec::new();
        let mut counts = [0usize; 3];
        {
            let mut members = self.inner.members.lock();
            for (k, m) in members.iter_mut() {
                let (state, missed) = self
                    .inner
                    .config
                    .classify(now.saturating_duration_since(m.last));
                if let Some(c) = counts.get_mut(state as usize) {
                    *c = c.saturating_add(1);
                }
                if state != m.reported {
                    events.push(HeartbeatEvent {
                        member: k.clone(),
                        from: m.reported,
                        to: state,
                        missed,
                    });
                    m.reported = state;
                }
            }
        }
        for (state, n) in [
            HealthState::Healthy,
            HealthState::Suspect,
            HealthState::Unhealthy,
        ]
        .into_iter()
        .zip(counts)
        {
            metrics::gauge!("resilience_heartbeat_members", "state" => state.as_str())
                .set(n as f64);
        }
        for e in &events {
            self.publish(e);
        }
        events
    }

    /// The status of `member` right now (without publishing anything), or
    /// `None` if it is not watched.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{HeartbeatConfig, HeartbeatMonitor, HealthState};
    /// let clock = ManualClock::new();
    /// let m = HeartbeatMonitor::with_clock(HeartbeatConfig::default(), clock.clone()).unwrap();
    /// m.register("w");
    /// clock.advance(Duration::from_secs(25));
    /// let s = m.status(&"w").unwrap();
    /// assert_eq!((s.state, s.missed, s.silent_for), (HealthState::Suspect, 2, Duration::from_secs(25)));
    /// assert!(m.status(&"unknown").is_none());
    /// ```
    pub fn status(&self, member: &K) -> Option<MemberStatus> {
        let now = self.inner.clock.now();
        let members = self.inner.members.lock();
        members.get(member).map(|m| {
            let silent_for = now.saturating_duration_since(m.last);
            let (state, missed) = self.inner.config.classify(silent_for);
            MemberStatus {
                state,
                missed,
                last_heartbeat: m.last,
                silent_for,
            }
        })
    }

    /// Members unhealthy right now, sorted by id.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{HeartbeatConfig, HeartbeatMonitor, HealthState};
    /// let clock = ManualClock::new();
    /// let m = HeartbeatMonitor::with_clock(HeartbeatConfig::default(), clock.clone()).unwrap();
    /// m.register("w");
    /// clock.advance(Duration::from_secs(31));
    /// assert_eq!(m.unhealthy(), vec!["w"]);
    /// ```
    pub fn unhealthy(&self) -> Vec<K> {
        self.in_state(HealthState::Unhealthy)
    }

    /// Members in `state` right now, sorted by id.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{HeartbeatConfig, HeartbeatMonitor, HealthState};
    /// let clock = ManualClock::new();
    /// let m = HeartbeatMonitor::with_clock(HeartbeatConfig::default(), clock.clone()).unwrap();
    /// m.register("w");
    /// clock.advance(Duration::from_secs(12));
    /// assert_eq!(m.in_state(HealthState::Suspect), vec!["w"]);
    /// ```
    pub fn in_state(&self, state: HealthState) -> Vec<K> {
        let now = self.inner.clock.now();
        self.inner
            .members
            .lock()
            .iter()
            .filter(|(_, m)| {
                self.inner
                    .config
                    .classify(now.saturating_duration_since(m.last))
                    .0
                    == state
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Members counted by state at one instant (one lock, one clock
    /// read): how many there are, how many are healthy, and the unhealthy
    /// ones, sorted by id.
    pub(super) fn census(&self) -> (usize, usize, Vec<K>) {
        let now = self.inner.clock.now();
        let members = self.inner.members.lock();
        let mut healthy: usize = 0;
        let mut unhealthy = Vec::new();
        for (k, m) in members.iter() {
            match self
                .inner
                .config
                .classify(now.saturating_duration_since(m.last))
                .0
            {
                HealthState::Healthy => healthy = healthy.saturating_add(1),
                HealthState::Suspect => {}
                HealthState::Unhealthy => unhealthy.push(k.clone()),
            }
        }
        (members.len(), healthy, unhealthy)
    }

    fn publish(&self, e: &HeartbeatEvent<K>) {
        #[cfg(feature = "tracing")]
        tracing::info!(member = ?e.member, from = %e.from, to = %e.to, missed = e.missed, "heartbeat health changed");
        metrics::counter!("resilience_heartbeat_transitions_total", "to" => e.to.as_str())
            .increment(1);
        self.inner.listeners.emit(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use resilience_core::clock::ManualClock;
    use std::sync::Arc;

    fn monitor() -> (ManualClock, HeartbeatMonitor<&'static str>) {
        let c = ManualClock::new();
        let m = HeartbeatMonitor::with_clock(HeartbeatConfig::default(), c.clone()).unwrap();
        (c, m)
    }

    #[test]
    fn default_schedule_suspect_then_unhealthy_at_thirty_seconds() {
        let (c, m) = monitor();
        m.register("w");
        c.advance(Duration::from_secs(10));
        let e = m.check();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].to, HealthState::Suspect);
        c.advance(Duration::from_secs(19));
        assert!(m.check().is_empty());
        assert_eq!(m.status(&"w").unwrap().missed, 2);
        c.advance(Duration::from_secs(1));
        let e = m.check();
        assert_eq!(e[0].to, HealthState::Unhealthy);
        assert_eq!(e[0].missed, 3);
    }

    #[test]
    fn timeout_trips_before_misses_when_shorter() {
        let cfg = HeartbeatConfig {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(15),
            unhealthy_after: 5,
        };
        let c = ManualClock::new();
        let m = HeartbeatMonitor::with_clock(cfg, c.clone()).unwrap();
        m.register(1u8);
        c.advance(Duration::from_secs(15));
        assert_eq!(m.check()[0].to, HealthState::Unhealthy);
    }

    #[test]
    fn events_reach_listeners_and_remove_forgets() {
        let (c, m) = monitor();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        m.listeners()
            .add_fn(move |e: &HeartbeatEvent<&'static str>| s.lock().push(e.to));
        m.register("a");
        c.advance(Duration::from_secs(40));
        m.check();
        m.heartbeat(&"a");
        assert_eq!(
            *seen.lock(),
            vec![HealthState::Unhealthy, HealthState::Healthy]
        );
        assert!(m.remove(&"a"));
        assert!(m.status(&"a").is_none());
        assert!(!m.remove(&"a"));
    }

    #[test]
    fn results_come_in_id_order_whatever_the_registration_order() {
        let (c, m) = monitor();
        let ids = ["w07", "w02", "w10", "w01", "w05"];
        for id in ids {
            m.register(id);
        }
        let published = Arc::new(Mutex::new(Vec::new()));
        let p = published.clone();
        m.listeners()
            .add_fn(move |e: &HeartbeatEvent<&'static str>| p.lock().push(e.member));
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        c.advance(Duration::from_secs(12));
        let suspect: Vec<_> = m.check().into_iter().map(|e| e.member).collect();
        assert_eq!(suspect, sorted);
        assert_eq!(m.in_state(HealthState::Suspect), sorted);
        m.heartbeat(&"w05");
        m.heartbeat(&"w01");
        c.advance(Duration::from_secs(20));
        let second: Vec<_> = m.check().into_iter().map(|e| (e.member, e.to)).collect();
        use HealthState::{Suspect, Unhealthy};
        assert_eq!(
            second,
            [
                ("w01", Suspect),
                ("w02", Unhealthy),
                ("w05", Suspect),
                ("w07", Unhealthy),
                ("w10", Unhealthy),
            ]
        );
        assert_eq!(m.unhealthy(), ["w02", "w07", "w10"]);
        let mut want = sorted.clone();
        want.extend(["w05", "w01"]); // the two recoveries, as they happened
        want.extend(second.iter().map(|(id, _)| *id));
        assert_eq!(*published.lock(), want);
    }

    #[test]
    fn config_rejects_zero_and_inverted_values() {
        let z = HeartbeatConfig {
            interval: Duration::ZERO,
            ..Default::default()
        };
        assert_eq!(z.validate().unwrap_err().field(), Some("interval"));
        assert_eq!(z.classify(Duration::from_secs(1)).0, HealthState::Unhealthy);
        let e = resilience_core::config::from_yaml_str::<HeartbeatConfig>("intervall: 5s");
        assert!(e.is_err());
    }
}
