//! Breakers that open together when a quorum of the fleet sees a
//! dependency fail, with a bounded number of fleet-wide probes.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge};
use parking_lot::Mutex;
use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerMetrics, CircuitState};
use resilience_core::clock::{shared, Clock, SharedClock, SystemClock};
use resilience_core::config::{
    check_nonzero, check_nonzero_duration, check_unit_interval, ConfigError,
};
use serde::{Deserialize, Serialize};

use super::budget::{default_store_timeout, timed, Handles};
use super::{BreakerView, FleetStore, ViewState};

const fn default_quorum() -> u32 {
    2
}
const fn default_minimum_calls() -> u64 {
    20
}
const fn default_poll_interval() -> Duration {
    Duration::from_millis(250)
}
const fn default_view_ttl() -> Duration {
    Duration::from_secs(3)
}
const fn default_probes() -> u32 {
    1
}
const fn default_probe_ttl() -> Duration {
    Duration::from_secs(10)
}

/// Config of a [`FleetBreaker`].
///
/// | field | default | meaning |
/// |---|---|---|
/// | `key` | the breaker's name | the breaker's key in the store: replicas with the same key form a fleet |
/// | `replica` | [`replica_id()`](super::replica_id) | this replica's id |
/// | `quorum` | 2 | replicas whose own window has the breaker open that open it fleet-wide (at least 2) |
/// | `quorum_fraction` | 0 | and at least this fraction of the live replicas (0.5 = half the fleet) |
/// | `failure_rate_threshold` | the breaker's, or 0.5 | failure rate over every replica's window that opens the fleet ... |
/// | `minimum_calls` | 20 | ... once the fleet's windows hold this many calls, with failures from at least `quorum` replicas |
/// | `poll_interval` | `250ms` | how often a replica publishes its view and reads the fleet's (the staleness bound) |
/// | `view_ttl` | `3s` | a replica that has not reported for this long no longer counts |
/// | `probes` | 1 | replicas that may run half-open trials at the same time, fleet-wide |
/// | `probe_ttl` | `10s` | a probe lease lapses after this long unless renewed (a replica that died mid-probe) |
/// | `store_timeout` | `50ms` | the longest a store call may take before the replica falls back to its local breaker |
///
/// ```
/// use resilience_store::fleet::FleetBreakerConfig;
/// let c: FleetBreakerConfig = resilience_core::config::from_yaml_str("quorum: 3\npoll_interval: 200ms\n").unwrap();
/// c.validate().unwrap();
/// assert_eq!(FleetBreakerConfig::new().with_quorum(1).validate().unwrap_err().field(), Some("quorum"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetBreakerConfig {
    /// The breaker's key in the store.
    #[serde(default)]
    pub key: Option<String>,
    /// This replica's id.
    #[serde(default)]
    pub replica: Option<String>,
    /// Open votes needed.
    #[serde(default = "default_quorum")]
    pub quorum: u32,
    /// Open votes needed, as a fraction of the live replicas.
    #[serde(default)]
    pub quorum_fraction: f64,
    /// Fleet-wide failure rate that opens.
    #[serde(default)]
    pub failure_rate_threshold: Option<f64>,
    /// Fleet-wide calls before the rate counts.
    #[serde(default = "default_minimum_calls")]
    pub minimum_calls: u64,
    /// Publish/read period.
    #[serde(with = "humantime_serde", default = "default_poll_interval")]
    pub poll_interval: Duration,
    /// Age after which a silent replica no longer counts.
    #[serde(with = "humantime_serde", default = "default_view_ttl")]
    pub view_ttl: Duration,
    /// Concurrent fleet-wide probes.
    #[serde(default = "default_probes")]
    pub probes: u32,
    /// Probe lease duration.
    #[serde(with = "humantime_serde", default = "default_probe_ttl")]
    pub probe_ttl: Duration,
    /// Timeout of each store call.
    #[serde(with = "humantime_serde", default = "default_store_timeout")]
    pub store_timeout: Duration,
}

impl Default for FleetBreakerConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl FleetBreakerConfig {
    /// The defaults.
    pub fn new() -> Self {
        FleetBreakerConfig {
            key: None,
            replica: None,
            quorum: default_quorum(),
            quorum_fraction: 0.0,
            failure_rate_threshold: None,
            minimum_calls: default_minimum_calls(),
            poll_interval: default_poll_interval(),
            view_ttl: default_view_ttl(),
            probes: default_probes(),
            probe_ttl: default_probe_ttl(),
            store_timeout: default_store_timeout(),
        }
    }

    /// Sets `key`.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets `replica`.
    pub fn with_replica(mut self, replica: impl Into<String>) -> Self {
        self.replica = Some(replica.into());
        self
    }

    /// Sets `quorum`.
    pub fn with_quorum(mut self, quorum: u32) -> Self {
        self.quorum = quorum;
        self
    }

    /// Sets `quorum_fraction`.
    pub fn with_quorum_fraction(mut self, fraction: f64) -> Self {
        self.quorum_fraction = fraction;
        self
    }

    /// Sets `failure_rate_threshold`.
    pub fn with_failure_rate_threshold(mut self, threshold: f64) -> Self {
        self.failure_rate_threshold = Some(threshold);
        self
    }

    /// Sets `minimum_calls`.
    pub fn with_minimum_calls(mut self, calls: u64) -> Self {
        self.minimum_calls = calls;
        self
    }

    /// Sets `poll_interval`.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets `view_ttl`.
    pub fn with_view_ttl(mut self, ttl: Duration) -> Self {
        self.view_ttl = ttl;
        self
    }

    /// Sets `probes`.
    pub fn with_probes(mut self, probes: u32) -> Self {
        self.probes = probes;
        self
    }

    /// Sets `store_timeout`.
    pub fn with_store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// Checks every field; names the offending one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(key) = &self.key {
            crate::connection::check_key_part("key", key)?;
        }
        if let Some(replica) = &self.replica {
            crate::connection::check_key_part("replica", replica)?;
        }
        if self.quorum < 2 {
            return Err(ConfigError::invalid(
                "quorum",
                format!(
                    "must be at least 2 (one replica alone never opens the fleet; its own breaker covers it), got {}",
                    self.quorum
                ),
            ));
        }
        check_unit_interval("quorum_fraction", self.quorum_fraction)?;
        if let Some(t) = self.failure_rate_threshold {
            check_unit_interval("failure_rate_threshold", t)?;
            if t == 0.0 {
                return Err(ConfigError::invalid(
                    "failure_rate_threshold",
                    "must be above 0",
                ));
            }
        }
        check_nonzero("minimum_calls", self.minimum_calls)?;
        check_nonzero_duration("poll_interval", self.poll_interval)?;
        if self.view_ttl < self.poll_interval * 2 {
            return Err(ConfigError::invalid(
                "view_ttl",
                format!(
                    "must be at least twice poll_interval ({:?}), or live replicas age out between reports, got {:?}",
                    self.poll_interval, self.view_ttl
                ),
            ));
        }
        check_nonzero("probes", u64::from(self.probes))?;
        check_nonzero_duration("probe_ttl", self.probe_ttl)?;
        check_nonzero_duration("store_timeout", self.store_timeout)?;
        Ok(())
    }
}

/// What the fleet is doing with this replica's breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FleetRole {
    /// The breaker decides on its own window (closed, or open by itself).
    Local,
    /// Forced open because the fleet is open.
    Following,
    /// Open by its own window, held open until a probe lease is free.
    Waiting,
    /// Running half-open trials under a fleet probe lease.
    Probing,
}

/// What a [`FleetBreaker`] saw at its last round.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetBreakerStatus {
    /// The fleet's hold on this replica's breaker.
    pub role: FleetRole,
    /// Whether the last store call succeeded (`false`: on local state).
    pub fleet: bool,
    /// Replicas reporting, this one included.
    pub live: usize,
    /// Replicas whose own window has the breaker open.
    pub open: usize,
    /// Open votes needed.
    pub needed: usize,
    /// Failure rate over the fleet's windows (a follower's window, frozen
    /// when it followed, counts for one open duration).
    pub failure_rate: Option<f64>,
    /// Whether the fleet is open.
    pub fleet_open: bool,
}

/// The fleet's verdict over a set of views.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Verdict {
    pub(crate) live: usize,
    pub(crate) open: usize,
    pub(crate) needed: usize,
    pub(crate) rate: Option<f64>,
    pub(crate) is_open: bool,
}

pub(crate) fn verdict(
    views: &[BreakerView],
    quorum: u32,
    fraction: f64,
    threshold: f64,
    minimum_calls: u64,
) -> Verdict {
    let live = views.len();
    let open = views.iter().filter(|v| v.state.counts_as_open()).count();
    let by_fraction = (fraction * live as f64).ceil() as usize;
    let needed = (quorum as usize).max(by_fraction).max(2);
    // Followers vote no, but their windows (frozen when they followed,
    // published for one open duration) keep the rate that opened the
    // fleet in the count.
    let counted = views.iter().filter(|v| v.state != ViewState::Manual);
    let (calls, failures, failing) = counted.fold((0u64, 0u64, 0usize), |(c, f, n), v| {
        (
            c.saturating_add(v.calls),
            f.saturating_add(v.failures),
            n + usize::from(v.failures > 0),
        )
    });
    let rate = (calls > 0).then(|| failures as f64 / calls as f64);
    let rate_open =
        calls >= minimum_calls && failing >= needed && rate.is_some_and(|r| r >= threshold);
    Verdict {
        live,
        open,
        needed,
        rate,
        is_open: open >= needed || rate_open,
    }
}

/// Drives one replica's [`CircuitBreaker`] from the fleet's state in a
/// [`FleetStore`]; see the [module docs](super) for the rules and the
/// consistency they give.
///
/// The breaker itself is unchanged and keeps its lock-free hot path: the
/// driver only publishes its state and window counts, and moves it with
/// the breaker's public controls (`force_open`, `transition_to_half_open`,
/// `reset`) when the fleet decides:
///
/// * **follow**: a closed breaker is forced open when a quorum of other
///   replicas has it open by their own windows, or the fleet's failure
///   rate crosses the threshold; after its open duration it closes again
///   once the fleet is no longer open and another replica is closed (or
///   probes, under a lease, when none is);
/// * **wait / probe**: a breaker that opened by itself admits its half-open
///   trials only under one of `probes` fleet-wide probe leases, and is held
///   open until one is free, or until the fleet has closed again (no
///   quorum open and another replica closed), when its own trials decide.
///   The lease is asked for from `poll_interval + store_timeout` before
///   its open duration ends (the longest a round may come late), so that a
///   breaker never reaches the end of its open duration unguarded; a
///   replica that gets it keeps its open duration and goes half-open when
///   it ends, one that does not is held open (forced) from then on.
///
/// When the store fails or is slower than `store_timeout`, the driver lets
/// go at once: a waiting breaker goes half-open as it would alone, a
/// following one closes at the end of its open duration.
///
/// [`spawn`](Self::spawn) runs a round every `poll_interval` and at once
/// (within `poll_interval / 5`) after each transition of the breaker; [`new`](Self::new) leaves the
/// rounds to [`tick`](Self::tick) (tests, simulations). The rounds stop
/// when the last handle is dropped.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitState};
/// use resilience_core::clock::ManualClock;
/// use resilience_store::fleet::{FleetBreaker, FleetBreakerConfig, FleetRole, InMemoryFleetStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let clock = ManualClock::new();
/// let store = Arc::new(InMemoryFleetStore::with_clock(clock.clone()));
/// let config = CircuitBreakerConfig::new().name("llm").consecutive_failures(3).open_duration(Duration::from_secs(30));
/// let replicas: Vec<(CircuitBreaker, FleetBreaker)> = ["a", "b", "c"]
///     .iter()
///     .map(|id| {
///         let breaker = CircuitBreaker::with_clock(config.clone(), clock.clone()).unwrap();
///         let fleet = FleetBreakerConfig::new().with_replica(*id);
///         let driver = FleetBreaker::with_clock(breaker.clone(), store.clone(), fleet, clock.clone()).unwrap();
///         (breaker, driver)
///     })
///     .collect();
/// // Replicas a and b see the provider fail; c's calls still succeed.
/// for (breaker, _) in &replicas[..2] {
///     for _ in 0..3 {
///         breaker.try_acquire().unwrap().record_failure();
///     }
/// }
/// for (_, driver) in &replicas {
///     driver.tick().await;
/// }
/// replicas[2].1.tick().await;
/// assert_eq!(replicas[2].0.state(), CircuitState::ForcedOpen, "c follows the quorum of 2");
/// assert_eq!(replicas[2].1.status().role, FleetRole::Following);
/// # }
/// ```
#[derive(Clone)]
pub struct FleetBreaker {
    inner: Arc<Driver>,
}

struct Driver {
    breaker: CircuitBreaker,
    store: Arc<dyn FleetStore>,
    key: String,
    replica: String,
    config: FleetBreakerConfig,
    threshold: f64,
    clock: SharedClock,
    fleet: AtomicBool,
    ops: AtomicU64,
    round: tokio::sync::Mutex<()>,
    state: Mutex<DriverState>,
    m: Handles,
    actions: Actions,
    live: Gauge,
    open: Gauge,
}

struct Actions {
    follow: Counter,
    wait: Counter,
    probe: Counter,
    release: Counter,
}

/// A round's working copy of the driver's role and follow times.
#[derive(Debug, Clone, Copy)]
struct Round {
    role: FleetRole,
    until: Option<Instant>,
    followed_at: Option<Instant>,
}

/// The role against the breaker's state now (a manual change or the
/// breaker's own transitions end the fleet's hold), and whether a probe
/// lease is to be given back.
///
/// `armed`: the probe lease was taken before the breaker's own open
/// duration ended, so a `Probing` breaker still open is waiting for its
/// trials, not back from a failed one.
fn settle(role: FleetRole, s: CircuitState, armed: bool) -> (FleetRole, bool) {
    match (role, s) {
        (FleetRole::Following, CircuitState::ForcedOpen) => (FleetRole::Following, false),
        (FleetRole::Waiting, CircuitState::ForcedOpen) => (FleetRole::Waiting, false),
        (FleetRole::Probing, CircuitState::HalfOpen) => (FleetRole::Probing, false),
        (FleetRole::Probing, CircuitState::Open) if armed => (FleetRole::Probing, false),
        (FleetRole::Probing, _) => (FleetRole::Local, true),
        _ => (FleetRole::Local, false),
    }
}

/// What this replica tells the fleet about its breaker.
fn view_state(role: FleetRole, s: CircuitState) -> ViewState {
    match role {
        FleetRole::Following => ViewState::Following,
        FleetRole::Waiting => ViewState::Open,
        FleetRole::Probing => ViewState::Probing,
        FleetRole::Local => match s {
            CircuitState::Closed => ViewState::Closed,
            CircuitState::Open | CircuitState::HalfOpen => ViewState::Open,
            _ => ViewState::Manual,
        },
    }
}

#[derive(Debug, Clone)]
struct DriverState {
    role: FleetRole,
    /// While following: when to reconsider; while probing: when the
    /// breaker's own open duration ends (a lease taken before it did).
    until: Option<Instant>,
    /// While following: since when.
    followed_at: Option<Instant>,
    status: FleetBreakerStatus,
}

impl FleetBreaker {
    /// A driver on the system clock whose rounds run every
    /// `poll_interval` on a tokio task (and at once after each of the
    /// breaker's transitions, which it sees by reading the state word, not
    /// by a listener: the breaker's hot path is unchanged). Needs a tokio
    /// runtime.
    #[must_use = "the driver stops when its last handle is dropped: keep the FleetBreaker"]
    pub fn spawn(
        breaker: CircuitBreaker,
        store: Arc<dyn FleetStore>,
        config: FleetBreakerConfig,
    ) -> Result<FleetBreaker, ConfigError> {
        let driver = Self::with_clock(breaker, store, config, SystemClock)?;
        let weak = Arc::downgrade(&driver.inner);
        let interval = driver.inner.config.poll_interval;
        tokio::spawn(run(weak, interval));
        Ok(driver)
    }

    /// Like [`spawn`](Self::spawn), reading time (the end of a following
    /// period) from `clock`: give it the breaker's clock. The rounds run on
    /// tokio time (so under `tokio::time::pause()` with
    /// [`TokioClock`](resilience_core::clock::TokioClock) a test never
    /// waits on the wall clock). Needs a tokio runtime.
    #[must_use = "the driver stops when its last handle is dropped: keep the FleetBreaker"]
    pub fn spawn_with_clock(
        breaker: CircuitBreaker,
        store: Arc<dyn FleetStore>,
        config: FleetBreakerConfig,
        clock: impl Clock,
    ) -> Result<FleetBreaker, ConfigError> {
        let driver = Self::with_clock(breaker, store, config, clock)?;
        let weak = Arc::downgrade(&driver.inner);
        let interval = driver.inner.config.poll_interval;
        tokio::spawn(run(weak, interval));
        Ok(driver)
    }

    /// A driver on the system clock whose rounds run when
    /// [`tick`](Self::tick) is called.
    pub fn new(
        breaker: CircuitBreaker,
        store: Arc<dyn FleetStore>,
        config: FleetBreakerConfig,
    ) -> Result<FleetBreaker, ConfigError> {
        Self::with_clock(breaker, store, config, SystemClock)
    }

    /// A driver reading time (the end of a following period) from
    /// `clock`, with rounds run by [`tick`](Self::tick). Give it the
    /// breaker's clock.
    pub fn with_clock(
        breaker: CircuitBreaker,
        store: Arc<dyn FleetStore>,
        config: FleetBreakerConfig,
        clock: impl Clock,
    ) -> Result<FleetBreaker, ConfigError> {
        config.validate()?;
        let key = config
            .key
            .clone()
            .unwrap_or_else(|| breaker.name().to_string());
        crate::connection::check_key_part("key", &key)?;
        let replica = config.replica.clone().unwrap_or_else(super::replica_id);
        let threshold = config
            .failure_rate_threshold
            .or(breaker.config().failure_rate_threshold)
            .unwrap_or(0.5);
        let name = breaker.name().to_string();
        let action = |a: &'static str| metrics::counter!("resilience_fleet_breaker_actions_total", "name" => name.clone(), "action" => a);
        let actions = Actions {
            follow: action("follow"),
            wait: action("wait"),
            probe: action("probe"),
            release: action("release"),
        };
        let live =
            metrics::gauge!("resilience_fleet_replicas", "name" => name.clone(), "state" => "live");
        let open =
            metrics::gauge!("resilience_fleet_replicas", "name" => name.clone(), "state" => "open");
        let m = Handles::new(&name, "breaker");
        m.up.set(1.0);
        let driver = Arc::new(Driver {
            store,
            key,
            replica,
            threshold,
            clock: shared(clock),
            fleet: AtomicBool::new(true),
            ops: AtomicU64::new(0),
            round: tokio::sync::Mutex::new(()),
            state: Mutex::new(DriverState {
                role: FleetRole::Local,
                until: None,
                followed_at: None,
                status: FleetBreakerStatus {
                    role: FleetRole::Local,
                    fleet: true,
                    live: 0,
                    open: 0,
                    needed: config.quorum as usize,
                    failure_rate: None,
                    fleet_open: false,
                },
            }),
            m,
            actions,
            live,
            open,
            config,
            breaker,
        });
        Ok(FleetBreaker { inner: driver })
    }

    /// This replica's id.
    pub fn replica(&self) -> &str {
        &self.inner.replica
    }

    /// The breaker driven.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.inner.breaker
    }

    /// What the last round saw.
    pub fn status(&self) -> FleetBreakerStatus {
        self.inner.state.lock().status.clone()
    }

    /// Store round trips made so far.
    pub fn store_ops(&self) -> u64 {
        self.inner.ops.load(Ordering::Relaxed)
    }

    /// Runs one round now: publishes this replica's view, reads the
    /// fleet's, and moves the breaker if the fleet decides so.
    pub async fn tick(&self) {
        self.inner.tick().await;
    }
}

/// Rounds every `interval`, and at once (within `interval / 5`, at most
/// 50 ms) when the breaker's state changed. The state is read with one
/// atomic load: no listener on the breaker, whose hot path stays as cheap
/// as without a fleet (a listener would make every call emit an event).
async fn run(driver: Weak<Driver>, interval: Duration) {
    let check = (interval / 5).clamp(Duration::from_millis(1), Duration::from_millis(50));
    let mut last = None;
    let mut next_round = tokio::time::Instant::now();
    loop {
        let Some(d) = driver.upgrade() else {
            return;
        };
        let state = d.breaker.state();
        if last != Some(state) || tokio::time::Instant::now() >= next_round {
            d.tick().await;
            last = Some(d.breaker.state());
            next_round = tokio::time::Instant::now() + interval;
        }
        drop(d);
        tokio::time::sleep(check).await;
    }
}

impl Driver {
    fn count_op(&self) {
        self.ops.fetch_add(1, Ordering::Relaxed);
        self.m.ops.increment(1);
    }

    async fn acquire_probe(&self) -> Result<bool, super::FleetError> {
        self.count_op();
        timed(
            self.config.store_timeout,
            self.store.acquire_probe(
                &self.key,
                &self.replica,
                self.config.probes,
                self.config.probe_ttl,
            ),
        )
        .await
    }

    /// One round: settle the role against the breaker's state, publish
    /// this replica's view, read the fleet's, act on the verdict, record.
    async fn tick(&self) {
        let _one = self.round.lock().await;
        let metrics = self.breaker.metrics();
        let s = metrics.state;
        let mut r = {
            let st = self.state.lock();
            Round {
                role: st.role,
                until: st.until,
                followed_at: st.followed_at,
            }
        };
        let now = self.clock.now();
        let armed = r.role == FleetRole::Probing && r.until.is_some_and(|u| now < u);
        let (role, release) = settle(r.role, s, armed);
        r.role = role;
        if release {
            self.count_op();
            let _ = timed(
                self.config.store_timeout,
                self.store.release_probe(&self.key, &self.replica),
            )
            .await;
        }
        let view = self.own_view(&r, s, &metrics, now);
        self.count_op();
        let views = timed(
            self.config.store_timeout,
            self.store
                .exchange_views(&self.key, &view, self.config.view_ttl),
        )
        .await;
        let on_fleet = self.m.outcome(&self.fleet, views.as_ref().map(|_| ()));
        let mut v = None;
        match views {
            Err(_) => self.let_go(&mut r, now),
            Ok(views) => {
                let verdict = verdict(
                    &views,
                    self.config.quorum,
                    self.config.quorum_fraction,
                    self.threshold,
                    self.config.minimum_calls,
                );
                v = Some(verdict);
                self.act(&mut r, s, &metrics, &views, verdict, now).await;
            }
        }
        self.record(r, on_fleet, v);
    }

    /// This replica's view for the fleet. A follower's window is frozen:
    /// it counts towards the fleet's rate for one open duration, then no
    /// more (or a rate-opened fleet would hold itself open).
    fn own_view(
        &self,
        r: &Round,
        s: CircuitState,
        metrics: &CircuitBreakerMetrics,
        now: Instant,
    ) -> BreakerView {
        let open_for = self.breaker.config().open_duration;
        let stale =
            r.role == FleetRole::Following && r.followed_at.is_some_and(|t| now >= t + open_for);
        let (calls, failures) = if stale {
            (0, 0)
        } else {
            (metrics.window.calls, metrics.window.failures)
        };
        BreakerView::new(self.replica.clone(), view_state(r.role, s), calls, failures)
    }

    /// The store did not answer: local state at once, letting go of what
    /// the fleet imposed.
    fn let_go(&self, r: &mut Round, now: Instant) {
        match r.role {
            FleetRole::Following if r.until.is_none_or(|u| now >= u) => {
                self.breaker.reset();
                r.role = FleetRole::Local;
            }
            FleetRole::Waiting => {
                self.breaker.transition_to_half_open();
                r.role = FleetRole::Local;
            }
            FleetRole::Probing => r.role = FleetRole::Local,
            _ => {}
        }
    }

    /// Acts on the fleet's verdict, by role.
    async fn act(
        &self,
        r: &mut Round,
        s: CircuitState,
        metrics: &CircuitBreakerMetrics,
        views: &[BreakerView],
        verdict: Verdict,
        now: Instant,
    ) {
        let another_closed = || {
            views
                .iter()
                .any(|x| x.replica != self.replica && x.state == ViewState::Closed)
        };
        match r.role {
            FleetRole::Local => match s {
                CircuitState::Closed if verdict.is_open => self.follow(r, verdict, now),
                // The lease is taken a round and a store timeout before the
                // open duration ends: rounds come `poll_interval` apart plus
                // their own store calls, and a breaker whose open duration
                // ends between two rounds goes half-open by itself, lease
                // or not.
                CircuitState::Open
                    if metrics.retry_after.is_none_or(|w| {
                        w <= self.config.poll_interval + self.config.store_timeout
                    }) =>
                {
                    let left = metrics.retry_after.unwrap_or_default();
                    self.gate(r, now, left).await;
                }
                CircuitState::HalfOpen => self.gate(r, now, Duration::ZERO).await,
                _ => {}
            },
            FleetRole::Following => {
                if r.until.is_none_or(|u| now >= u) {
                    if verdict.is_open {
                        // Held as long as the fleet is open, checked again
                        // every round.
                        r.until = Some(now);
                    } else if another_closed() {
                        self.breaker.reset();
                        self.actions.release.increment(1);
                        r.role = FleetRole::Local;
                    } else {
                        match self.acquire_probe().await {
                            Ok(true) => r.role = self.start_probing(),
                            Ok(false) => r.until = Some(now + self.config.poll_interval),
                            Err(_) => {}
                        }
                    }
                }
            }
            FleetRole::Waiting => match self.acquire_probe().await {
                Ok(true) => r.role = self.start_probing(),
                Ok(false) if !verdict.is_open && another_closed() => {
                    // The fleet has closed again (a probe succeeded and no
                    // quorum is open): this replica's own trials decide for
                    // its path.
                    self.breaker.transition_to_half_open();
                    self.actions.release.increment(1);
                    r.role = FleetRole::Local;
                }
                _ => {}
            },
            FleetRole::Probing => {
                // Renew the lease while the trials run.
                let _ = self.acquire_probe().await;
            }
        }
    }

    /// A closed breaker follows an open fleet.
    fn follow(&self, r: &mut Round, verdict: Verdict, now: Instant) {
        self.breaker.force_open();
        self.actions.follow.increment(1);
        tracing::info!(breaker = %self.breaker.name(), replica = %self.replica, open = verdict.open, live = verdict.live, "fleet open: following");
        r.role = FleetRole::Following;
        r.until = Some(now + self.breaker.config().open_duration);
        r.followed_at = Some(now);
    }

    /// Holding a probe lease: this replica's trials start.
    fn start_probing(&self) -> FleetRole {
        self.breaker.transition_to_half_open();
        self.actions.probe.increment(1);
        FleetRole::Probing
    }

    /// Keeps the round's outcome and the verdict for `status` and the
    /// gauges.
    fn record(&self, mut r: Round, on_fleet: bool, v: Option<Verdict>) {
        if r.role != FleetRole::Following {
            r.followed_at = None;
            if r.role != FleetRole::Probing {
                r.until = None;
            }
        }
        let mut st = self.state.lock();
        st.role = r.role;
        st.until = r.until;
        st.followed_at = r.followed_at;
        st.status.role = r.role;
        st.status.fleet = on_fleet;
        if let Some(v) = v {
            st.status.live = v.live;
            st.status.open = v.open;
            st.status.needed = v.needed;
            st.status.failure_rate = v.rate;
            st.status.fleet_open = v.is_open;
            self.live.set(v.live as f64);
            self.open.set(v.open as f64);
        }
    }

    /// The breaker opened by its own window is about to admit trials (in
    /// `left`) or already does: only under a probe lease. With the lease,
    /// a breaker still open keeps its open duration and goes half-open by
    /// itself when it ends (the lease is held, `armed`, until then);
    /// without, it is held open.
    async fn gate(&self, r: &mut Round, now: Instant, left: Duration) {
        r.role = match self.acquire_probe().await {
            Ok(true) if !left.is_zero() => {
                self.actions.probe.increment(1);
                r.until = Some(now + left);
                FleetRole::Probing
            }
            Ok(true) => {
                self.breaker.transition_to_half_open();
                self.actions.probe.increment(1);
                FleetRole::Probing
            }
            Ok(false) => {
                self.breaker.force_open();
                self.actions.wait.increment(1);
                FleetRole::Waiting
            }
            Err(_) => FleetRole::Local,
        };
    }
}

impl fmt::Debug for FleetBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetBreaker")
            .field("breaker", &self.inner.breaker.name())
            .field("replica", &self.inner.replica)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(id: &str, state: ViewState, calls: u64, failures: u64) -> BreakerView {
        BreakerView::new(id, state, calls, failures)
    }

    #[test]
    fn one_open_replica_is_not_a_quorum() {
        let views = [
            v("a", ViewState::Open, 20, 20),
            v("b", ViewState::Closed, 20, 0),
            v("c", ViewState::Closed, 20, 0),
        ];
        let verdict = verdict(&views, 2, 0.0, 0.5, 20);
        assert_eq!(
            (verdict.open, verdict.needed, verdict.is_open),
            (1, 2, false)
        );
    }

    #[test]
    fn two_open_replicas_open_the_fleet_of_three() {
        let views = [
            v("a", ViewState::Open, 20, 20),
            v("b", ViewState::Open, 20, 12),
            v("c", ViewState::Closed, 20, 0),
        ];
        assert!(verdict(&views, 2, 0.0, 0.5, 20).is_open);
    }

    #[test]
    fn followers_do_not_vote() {
        // Past their first open duration followers publish empty windows.
        let views = [
            v("a", ViewState::Open, 20, 20),
            v("b", ViewState::Following, 0, 0),
            v("c", ViewState::Following, 0, 0),
        ];
        let verdict = verdict(&views, 2, 0.0, 0.5, 20);
        assert!(!verdict.is_open, "{verdict:?}");
        assert_eq!(verdict.open, 1);
    }

    #[test]
    fn the_fleet_rate_needs_failures_from_a_quorum() {
        // One replica with all of the traffic failing: 60 % fleet-wide, one replica.
        let alone = [
            v("a", ViewState::Closed, 60, 60),
            v("b", ViewState::Closed, 20, 0),
            v("c", ViewState::Closed, 20, 0),
        ];
        assert!(!verdict(&alone, 2, 0.0, 0.5, 20).is_open);
        // Two replicas at 40 % each (under their own 50 %), fleet at 53 %.
        let spread = [
            v("a", ViewState::Closed, 20, 8),
            v("b", ViewState::Closed, 10, 8),
            v("c", ViewState::Closed, 0, 0),
        ];
        let verdict = verdict(&spread, 2, 0.0, 0.5, 20);
        assert!(verdict.is_open, "{verdict:?}");
    }

    fn arb_view() -> impl proptest::strategy::Strategy<Value = (u8, u64, u64)> {
        (0u8..5, 0u64..200, 0u64..200)
    }

    fn view_of(i: usize, (state, calls, failures): (u8, u64, u64)) -> BreakerView {
        let state = [
            ViewState::Closed,
            ViewState::Open,
            ViewState::Following,
            ViewState::Probing,
            ViewState::Manual,
        ][usize::from(state)];
        v(&format!("r{i}"), state, calls, failures.min(calls))
    }

    proptest::proptest! {
        /// Never because one replica alone did: with at most one replica
        /// open or failing, whatever the others report, the fleet stays
        /// closed.
        #[test]
        fn one_replica_alone_never_opens_the_fleet(
            others in proptest::collection::vec(arb_view(), 0..20),
            culprit in arb_view(),
            quorum in 2u32..5,
            fraction in 0.0f64..1.0,
        ) {
            let mut views: Vec<BreakerView> = others
                .into_iter()
                .enumerate()
                .map(|(i, x)| {
                    let mut view = view_of(i, x);
                    if view.state.counts_as_open() {
                        view.state = ViewState::Closed;
                    }
                    view.failures = 0;
                    view
                })
                .collect();
            views.push(view_of(99, culprit));
            proptest::prop_assert!(!verdict(&views, quorum, fraction, 0.5, 1).is_open);
        }

        /// One more open vote never closes an open fleet.
        #[test]
        fn another_open_vote_keeps_the_fleet_open(
            views in proptest::collection::vec(arb_view(), 0..20),
            quorum in 2u32..5,
        ) {
            let mut views: Vec<BreakerView> =
                views.into_iter().enumerate().map(|(i, x)| view_of(i, x)).collect();
            let before = verdict(&views, quorum, 0.0, 0.5, 20).is_open;
            views.push(v("extra", ViewState::Open, 0, 0));
            let after = verdict(&views, quorum, 0.0, 0.5, 20).is_open;
            proptest::prop_assert!(!before || after);
        }
    }

    #[test]
    fn a_fraction_raises_the_quorum_with_the_fleet() {
        let mut views: Vec<_> = (0..10)
            .map(|i| v(&format!("r{i}"), ViewState::Closed, 0, 0))
            .collect();
        for view in views.iter_mut().take(4) {
            view.state = ViewState::Open;
        }
        assert!(!verdict(&views, 2, 0.5, 0.5, 20).is_open, "4 of 10 < half");
        views[4].state = ViewState::Open;
        assert!(verdict(&views, 2, 0.5, 0.5, 20).is_open, "5 of 10 = half");
    }
}
