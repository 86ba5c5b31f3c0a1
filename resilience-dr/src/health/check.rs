//! Active health checks: the host probes each member's health endpoint on a
//! schedule and records the result; consecutive *failed* probes (not only
//! silence) make a member unhealthy.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use resilience_core::clock::{shared, Clock, SharedClock, SystemClock};
use resilience_core::config::{check_nonzero, check_nonzero_duration, ConfigError};
use resilience_core::events::Listeners;
use serde::{Deserialize, Serialize};

use super::HealthState;

/// How a member's health endpoint is checked.
///
/// The model registry's registry service: "`/health` every 10 seconds,
/// unhealthy after 3 consecutive failures, remove from load balancer" —
/// the defaults. A member is *suspect* after one failed probe, *unhealthy*
/// after `unhealthy_threshold` consecutive failed probes, and healthy again
/// after `healthy_threshold` consecutive passed probes (default 1, as a
/// Kubernetes probe's `successThreshold`: the platform names no recovery
/// count). A probe that is never recorded counts as failed too: once a
/// member has gone `unhealthy_threshold` intervals (plus `timeout`) without
/// any result, [`HealthChecker::check`] declares it unhealthy, so a checker
/// that stops running cannot keep a member routable.
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::health::HealthCheckConfig;
/// let c = HealthCheckConfig::default();
/// assert_eq!(c.path, "/health");
/// assert_eq!(c.interval, Duration::from_secs(10));
/// assert_eq!(c.unhealthy_threshold, 3);
/// let y: HealthCheckConfig = resilience_core::config::from_yaml_str("interval: 5s\nunhealthy_threshold: 2").unwrap();
/// assert!(y.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheckConfig {
    /// The endpoint the host probes (informational: the host makes the
    /// call). Default `/health`.
    pub path: String,
    /// Time between two probes of one member. Default 10 s.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Longest a probe may take before the host should count it failed;
    /// also the grace after a missed probe. Default 5 s; at most `interval`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Consecutive failed probes that make a member unhealthy. Default 3.
    pub unhealthy_threshold: u32,
    /// Consecutive passed probes that make an unhealthy member healthy
    /// again. Default 1.
    pub healthy_threshold: u32,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig {
            path: "/health".into(),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            unhealthy_threshold: 3,
            healthy_threshold: 1,
        }
    }
}

impl HealthCheckConfig {
    /// Checks the config, naming the first bad field.
    ///
    /// ```
    /// use resilience_dr::health::HealthCheckConfig;
    /// let bad = HealthCheckConfig { unhealthy_threshold: 0, ..Default::default() };
    /// assert_eq!(bad.validate().unwrap_err().field(), Some("unhealthy_threshold"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_nonzero_duration("interval", self.interval)?;
        check_nonzero_duration("timeout", self.timeout)?;
        check_nonzero("unhealthy_threshold", u64::from(self.unhealthy_threshold))?;
        check_nonzero("healthy_threshold", u64::from(self.healthy_threshold))?;
        if self.timeout > self.interval {
            return Err(ConfigError::invalid(
                "timeout",
                format!(
                    "must be at most the interval ({:?}), got {:?}: probes would overlap",
                    self.interval, self.timeout
                ),
            ));
        }
        Ok(())
    }

    /// How long a member may go without any recorded probe before it counts
    /// as unhealthy: `unhealthy_threshold × interval + timeout` (35 s with
    /// the defaults).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::health::HealthCheckConfig;
    /// assert_eq!(HealthCheckConfig::default().silence_limit(), Duration::from_secs(35));
    /// ```
    pub fn silence_limit(&self) -> Duration {
        self.interval
            .saturating_mul(self.unhealthy_threshold)
            .saturating_add(self.timeout)
    }
}

/// A member's health changed: emitted by [`HealthChecker::record`] and
/// [`HealthChecker::check`].
///
/// ```
/// use resilience_dr::health::{HealthCheckEvent, HealthState};
/// let e = HealthCheckEvent { member: "r1", from: HealthState::Suspect, to: HealthState::Unhealthy, consecutive_failures: 3 };
/// assert!(!e.to.is_routable());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckEvent<K> {
    /// The member.
    pub member: K,
    /// Health before.
    pub from: HealthState,
    /// Health now.
    pub to: HealthState,
    /// Consecutive failed (or missed) probes at the transition.
    pub consecutive_failures: u32,
}

/// One member's probe history.
///
/// ```
/// use resilience_dr::health::{HealthChecker, HealthCheckConfig, HealthState};
/// let c = HealthChecker::new(HealthCheckConfig::default()).unwrap();
/// c.record(&"r1", false);
/// let s = c.status(&"r1").unwrap();
/// assert_eq!((s.state, s.consecutive_failures), (HealthState::Suspect, 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckStatus {
    /// Current health.
    pub state: HealthState,
    /// Failed probes in a row (missed probes included once `check` counts them).
    pub consecutive_failures: u32,
    /// Passed probes in a row.
    pub consecutive_successes: u32,
    /// When the last probe result was recorded (or the member registered).
    pub last_result: Instant,
    /// When this member's next probe is due.
    pub next_probe: Instant,
}

#[derive(Debug)]
struct Member {
    state: HealthState,
    failures: u32,
    successes: u32,
    last: Instant,
    next: Instant,
}

struct Shared<K> {
    config: HealthCheckConfig,
    clock: SharedClock,
    members: Mutex<BTreeMap<K, Member>>,
    listeners: Listeners<HealthCheckEvent<K>>,
}

/// Counts failed health probes per member and decides who is routable.
///
/// The checker never probes by itself and never sleeps: the host asks which
/// members are [`due`](Self::due), calls their endpoint (with
/// [`HealthCheckConfig::timeout`]), and [`record`](Self::record)s pass or
/// fail; [`check`](Self::check) counts probes that never came back. Time
/// comes from the [`Clock`]. Cheap to clone (clones share the state);
/// members are kept in id order.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::clock::ManualClock;
/// use resilience_dr::health::{HealthCheckConfig, HealthChecker, HealthState};
///
/// let clock = ManualClock::new();
/// let lb = HealthChecker::with_clock(HealthCheckConfig::default(), clock.clone()).unwrap();
/// lb.register("registry-1");
/// for _ in 0..3 {
///     clock.advance(Duration::from_secs(10));
///     for member in lb.due() {
///         lb.record(&member, false); // GET /health answered 503
///     }
/// }
/// assert_eq!(lb.status(&"registry-1").unwrap().state, HealthState::Unhealthy);
/// assert!(lb.routable().is_empty()); // removed from the load balancer
/// ```
pub struct HealthChecker<K> {
    inner: Arc<Shared<K>>,
}

impl<K> Clone for HealthChecker<K> {
    fn clone(&self) -> Self {
        HealthChecker {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K> fmt::Debug for HealthChecker<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthChecker")
            .field("config", &self.inner.config)
            .field("members", &self.inner.members.lock().len())
            .finish()
    }
}

impl<K> HealthChecker<K>
where
    K: Ord + Clone + fmt::Debug + Send + Sync + 'static,
{
    /// A checker on the system clock.
    ///
    /// ```
    /// use resilience_dr::health::{HealthCheckConfig, HealthChecker};
    /// let c: HealthChecker<String> = HealthChecker::new(HealthCheckConfig::default()).unwrap();
    /// assert!(c.routable().is_empty());
    /// ```
    pub fn new(config: HealthCheckConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, SystemClock)
    }

    /// A checker reading time from `clock`.
    ///
    /// ```
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{HealthCheckConfig, HealthChecker};
    /// let bad = HealthCheckConfig { healthy_threshold: 0, ..Default::default() };
    /// let e = HealthChecker::<u8>::with_clock(bad, ManualClock::new()).unwrap_err();
    /// assert_eq!(e.field(), Some("healthy_threshold"));
    /// ```
    pub fn with_clock(config: HealthCheckConfig, clock: impl Clock) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(HealthChecker {
            inner: Arc::new(Shared {
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
    /// use resilience_dr::health::{HealthCheckConfig, HealthChecker, HealthState};
    /// let c = HealthChecker::with_clock(HealthCheckConfig::default(), ManualClock::new()).unwrap();
    /// # let _: &HealthChecker<u8> = &c;
    /// assert_eq!(c.config().unhealthy_threshold, 3);
    /// ```
    pub fn config(&self) -> &HealthCheckConfig {
        &self.inner.config
    }

    /// Listeners called with every health transition.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use resilience_dr::health::{HealthCheckConfig, HealthCheckEvent, HealthChecker};
    /// let c = HealthChecker::new(HealthCheckConfig { unhealthy_threshold: 1, ..Default::default() }).unwrap();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let sink = seen.clone();
    /// c.listeners().add_fn(move |e: &HealthCheckEvent<&str>| sink.lock().unwrap().push(e.to));
    /// c.record(&"a", false);
    /// assert_eq!(seen.lock().unwrap().len(), 1);
    /// ```
    pub fn listeners(&self) -> &Listeners<HealthCheckEvent<K>> {
        &self.inner.listeners
    }

    /// Starts checking `member` (healthy, first probe due now). Registering
    /// a member twice keeps its history.
    ///
    /// ```
    /// use resilience_dr::health::{HealthCheckConfig, HealthChecker};
    /// let c = HealthChecker::new(HealthCheckConfig::default()).unwrap();
    /// c.register("a");
    /// assert_eq!(c.due(), vec!["a"]);
    /// ```
    pub fn register(&self, member: K) {
        let now = self.inner.clock.now();
        self.inner
            .members
            .lock()
            .entry(member)
            .or_insert_with(|| Member {
                state: HealthState::Healthy,
                failures: 0,
                successes: 0,
                last: now,
                next: now,
            });
    }

    /// Stops checking `member`; whether it was checked.
    ///
    /// ```
    /// use resilience_dr::health::{HealthCheckConfig, HealthChecker};
    /// let c = HealthChecker::new(HealthCheckConfig::default()).unwrap();
    /// c.register(1u8);
    /// assert!(c.remove(&1));
    /// assert!(!c.remove(&1));
    /// ```
    pub fn remove(&self, member: &K) -> bool {
        self.inner.members.lock().remove(member).is_some()
    }

    /// The members whose next probe is due now, in id order.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{HealthCheckConfig, HealthChecker};
    /// let clock = ManualClock::new();
    /// let c = HealthChecker::with_clock(HealthCheckConfig::default(), clock.clone()).unwrap();
    /// c.register("a");
    /// c.record(&"a", true);
    /// assert!(c.due().is_empty());
    /// clock.advance(Duration::from_secs(10));
    /// assert_eq!(c.due(), vec!["a"]);
    /// ```
    pub fn due(&self) -> Vec<K> {
        let now = self.inner.clock.now();
        self.inner
            .members
            .lock()
            .iter()
            .filter(|(_, m)| m.next <= now)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Records one probe result for `member` (registering it if new):
    /// `passed` is the health endpoint answering in time with success. Returns
    /// the transition, if any (also published to the listeners).
    ///
    /// ```
    /// use resilience_dr::health::{HealthCheckConfig, HealthChecker, HealthState};
    /// let c = HealthChecker::new(HealthCheckConfig::default()).unwrap();
    /// assert_eq!(c.record(&"a", false).unwrap().to, HealthState::Suspect);
    /// assert!(c.record(&"a", false).is_none()); // 2 of 3: still suspect
    /// assert_eq!(c.record(&"a", false).unwrap().to, HealthState::Unhealthy);
    /// assert_eq!(c.record(&"a", true).unwrap().to, HealthState::Healthy);
    /// ```
    pub fn record(&self, member: &K, passed: bool) -> Option<HealthCheckEvent<K>> {
        let now = self.inner.clock.now();
        let config = &self.inner.config;
        let event = {
            let mut members = self.inner.members.lock();
            let m = members.entry(member.clone()).or_insert_with(|| Member {
                state: HealthState::Healthy,
                failures: 0,
                successes: 0,
                last: now,
                next: now,
            });
            m.last = now;
            m.next = now.checked_add(config.interval).unwrap_or(now);
            let from = m.state;
            if passed {
                m.successes = m.successes.saturating_add(1);
                let recovered = from == HealthState::Suspect
                    || (from == HealthState::Unhealthy && m.successes >= config.healthy_threshold);
                if recovered {
                    m.state = HealthState::Healthy;
                    m.failures = 0;
                } else if from == HealthState::Healthy {
                    m.failures = 0;
                }
            } else {
                m.successes = 0;
                m.failures = m.failures.saturating_add(1);
                m.state =
                    if m.failures >= config.unhealthy_threshold || from == HealthState::Unhealthy {
                        HealthState::Unhealthy
                    } else {
                        HealthState::Suspect
                    };
            }
            (m.state != from).then(|| HealthCheckEvent {
                member: member.clone(),
                from,
                to: m.state,
                consecutive_failures: m.failures,
            })
        };
        if let Some(e) = &event {
            self.publish(e);
        }
        event
    }

    /// Counts probes that never came back: a member without any result for
    /// [`HealthCheckConfig::silence_limit`] is declared unhealthy (its
    /// missed probes count as failures). Returns and publishes the
    /// transitions, in id order. Call it once per interval.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{HealthCheckConfig, HealthChecker, HealthState};
    /// let clock = ManualClock::new();
    /// let c = HealthChecker::with_clock(HealthCheckConfig::default(), clock.clone()).unwrap();
    /// c.register("silent");
    /// clock.advance(Duration::from_secs(35));
    /// assert_eq!(c.check()[0].to, HealthState::Unhealthy);
    /// ```
    pub fn check(&self) -> Vec<HealthCheckEvent<K>> {
        let now = self.inner.clock.now();
        let config = &self.inner.config;
        let limit = config.silence_limit();
        let mut events = Vec::new();
        {
            let mut members = self.inner.members.lock();
            for (k, m) in members.iter_mut() {
                let silent = now.saturating_duration_since(m.last);
                if silent >= limit && m.state != HealthState::Unhealthy {
                    let missed = silent
                        .as_nanos()
                        .checked_div(config.interval.as_nanos())
                        .and_then(|n| u32::try_from(n).ok())
                        .unwrap_or(u32::MAX);
                    m.failures = m
                        .failures
                        .saturating_add(missed)
                        .max(config.unhealthy_threshold);
                    m.successes = 0;
                    events.push(HealthCheckEvent {
                        member: k.clone(),
                        from: m.state,
                        to: HealthState::Unhealthy,
                        consecutive_failures: m.failures,
                    });
                    m.state = HealthState::Unhealthy;
                }
            }
        }
        for e in &events {
            self.publish(e);
        }
        events
    }

    /// The status of `member`, or `None` if it is not checked.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{HealthCheckConfig, HealthChecker, HealthState};
    /// let c = HealthChecker::with_clock(HealthCheckConfig::default(), ManualClock::new()).unwrap();
    /// c.record(&"a", false);
    /// c.record(&"a", false);
    /// assert_eq!(c.status(&"a").unwrap().consecutive_failures, 2);
    /// assert!(c.status(&"b").is_none());
    /// ```
    pub fn status(&self, member: &K) -> Option<CheckStatus> {
        self.inner.members.lock().get(member).map(|m| CheckStatus {
            state: m.state,
            consecutive_failures: m.failures,
            consecutive_successes: m.successes,
            last_result: m.last,
            next_probe: m.next,
        })
    }

    /// The members traffic may go to (healthy or suspect), in id order: the
    /// load balancer's pool.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{HealthCheckConfig, HealthChecker, HealthState};
    /// let c = HealthChecker::with_clock(HealthCheckConfig::default(), ManualClock::new()).unwrap();
    /// c.register("a");
    /// c.record(&"b", false); // suspect: still routable
    /// assert_eq!(c.routable(), ["a", "b"]);
    /// ```
    pub fn routable(&self) -> Vec<K> {
        self.inner
            .members
            .lock()
            .iter()
            .filter(|(_, m)| m.state.is_routable())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The members declared unhealthy, in id order.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::{HealthCheckConfig, HealthChecker, HealthState};
    /// let c = HealthChecker::with_clock(HealthCheckConfig::default(), ManualClock::new()).unwrap();
    /// for _ in 0..3 { c.record(&"a", false); }
    /// assert_eq!(c.unhealthy(), ["a"]);
    /// ```
    pub fn unhealthy(&self) -> Vec<K> {
        self.inner
            .members
            .lock()
            .iter()
            .filter(|(_, m)| m.state == HealthState::Unhealthy)
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn publish(&self, e: &HealthCheckEvent<K>) {
        let to = match e.to {
            HealthState::Healthy => "healthy",
            HealthState::Suspect => "suspect",
            HealthState::Unhealthy => "unhealthy",
        };
        metrics::counter!("resilience_health_check_transitions_total", "to" => to).increment(1);
        self.inner.listeners.emit(e);
    }
}
