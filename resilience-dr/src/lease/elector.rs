//! Leader election on top of a [`LeaseBackend`], with Patroni's timing rules.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use resilience_core::config::{check_nonzero_duration, fmt_duration, ConfigError};
use resilience_core::events::Listeners;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{validate_id, FencingToken, Lease, LeaseBackend, LeaseError, MAX_TTL};

const fn default_ttl() -> Duration {
    Duration::from_secs(30)
}

/// How a [`LeaderElector`] campaigns and renews.
///
/// Only the lease name and the candidate id are required; the timings
/// default to Patroni's shape: `ttl` 30 s, renew every `ttl / 3`, retry a
/// failing renewal for at most `ttl / 4`. Validation enforces Patroni's
/// rule `renew_interval + 2 × retry_timeout < ttl`: a leader whose renewals
/// fail spends at most one `retry_timeout` retrying and one running the demote
/// hook, and both fit before its lease can expire.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `lease_name` | required | the lease to campaign for (one per role) |
/// | `candidate_id` | required | this process's id, unique among candidates |
/// | `ttl` | `30s` | lease time to live |
/// | `renew_interval` | `ttl / 3` | time between renewals, and between campaigns of a follower |
/// | `retry_timeout` | `ttl / 4` | budget of one renewal round (retries included), and of the demote hook |
///
/// ```
/// use std::time::Duration;
/// use resilience_core::config::from_yaml_str;
/// use resilience_dr::lease::ElectorConfig;
///
/// let cfg: ElectorConfig = from_yaml_str("
/// lease_name: scheduler
/// candidate_id: sched-1
/// ttl: 12s
/// ").unwrap();
/// cfg.validate().unwrap();
/// assert_eq!(cfg.effective_renew_interval(), Duration::from_secs(4));
/// assert_eq!(cfg.effective_retry_timeout(), Duration::from_secs(3));
///
/// // Patroni's rule, checked at config time.
/// let bad = ElectorConfig::new("scheduler", "sched-1")
///     .ttl(Duration::from_secs(10))
///     .retry_timeout(Duration::from_secs(4));
/// assert_eq!(bad.validate().unwrap_err().field(), Some("retry_timeout"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElectorConfig {
    /// The lease to campaign for.
    pub lease_name: String,
    /// This candidate's id; must be unique among the candidates.
    pub candidate_id: String,
    /// Lease time to live.
    #[serde(with = "humantime_serde", default = "default_ttl")]
    pub ttl: Duration,
    /// Time between renewals (and between a follower's campaigns); `ttl / 3` when absent.
    #[serde(with = "humantime_serde::option", default)]
    pub renew_interval: Option<Duration>,
    /// Budget of one renewal round and of the demote hook; `ttl / 4` when absent.
    #[serde(with = "humantime_serde::option", default)]
    pub retry_timeout: Option<Duration>,
}

impl ElectorConfig {
    /// A config with the default timings.
    pub fn new(lease_name: impl Into<String>, candidate_id: impl Into<String>) -> Self {
        ElectorConfig {
            lease_name: lease_name.into(),
            candidate_id: candidate_id.into(),
            ttl: default_ttl(),
            renew_interval: None,
            retry_timeout: None,
        }
    }

    /// The workflow runtime's active–passive scheduler: failover in under 30 s.
    ///
    /// `ttl` 20 s, renew every 6.67 s, retry for 5 s. A crashed leader's lease
    /// expires at most 20 s after its last renewal; a follower campaigns
    /// again as soon as the backend reports the expiry (and at least every
    /// 6.67 s), so the standby leads within about 20 s and at worst 26.7 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::lease::ElectorConfig;
    /// let cfg = ElectorConfig::active_passive_scheduler("scheduler", "sched-a");
    /// cfg.validate().unwrap();
    /// assert!(cfg.ttl + cfg.effective_renew_interval() < Duration::from_secs(30));
    /// ```
    pub fn active_passive_scheduler(
        lease_name: impl Into<String>,
        candidate_id: impl Into<String>,
    ) -> Self {
        Self::new(lease_name, candidate_id).ttl(Duration::from_secs(20))
    }

    /// Sets `ttl`.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Renamed to [`ttl`](Self::ttl).
    #[deprecated(since = "0.1.1", note = "renamed to `ElectorConfig::ttl`")]
    #[doc(hidden)]
    pub fn with_ttl(self, ttl: Duration) -> Self {
        self.ttl(ttl)
    }

    /// Sets `renew_interval`.
    pub fn renew_interval(mut self, every: Duration) -> Self {
        self.renew_interval = Some(every);
        self
    }

    /// Renamed to [`renew_interval`](Self::renew_interval).
    #[deprecated(since = "0.1.1", note = "renamed to `ElectorConfig::renew_interval`")]
    #[doc(hidden)]
    pub fn with_renew_interval(self, every: Duration) -> Self {
        self.renew_interval(every)
    }

    /// Sets `retry_timeout`.
    pub fn retry_timeout(mut self, timeout: Duration) -> Self {
        self.retry_timeout = Some(timeout);
        self
    }

    /// Renamed to [`retry_timeout`](Self::retry_timeout).
    #[deprecated(since = "0.1.1", note = "renamed to `ElectorConfig::retry_timeout`")]
    #[doc(hidden)]
    pub fn with_retry_timeout(self, timeout: Duration) -> Self {
        self.retry_timeout(timeout)
    }

    /// `renew_interval`, or its default `ttl / 3`.
    pub fn effective_renew_interval(&self) -> Duration {
        self.renew_interval
            .unwrap_or(self.ttl.checked_div(3).unwrap_or(Duration::ZERO))
    }

    /// `retry_timeout`, or its default `ttl / 4`.
    pub fn effective_retry_timeout(&self) -> Duration {
        self.retry_timeout
            .unwrap_or(self.ttl.checked_div(4).unwrap_or(Duration::ZERO))
    }

    /// Checks every field and Patroni's rule; names the offending field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, value) in [
            ("lease_name", &self.lease_name),
            ("candidate_id", &self.candidate_id),
        ] {
            validate_id(field, value).map_err(|e| match e {
                LeaseError::InvalidRequest { reason, .. } => ConfigError::invalid(field, reason),
                other => ConfigError::invalid(field, other.to_string()),
            })?;
        }
        check_nonzero_duration("ttl", self.ttl)?;
        if self.ttl > MAX_TTL {
            return Err(ConfigError::invalid(
                "ttl",
                format!(
                    "must be at most {}, got {}",
                    fmt_duration(MAX_TTL),
                    fmt_duration(self.ttl)
                ),
            ));
        }
        let renew = self.effective_renew_interval();
        let retry = self.effective_retry_timeout();
        check_nonzero_duration("renew_interval", renew)?;
        check_nonzero_duration("retry_timeout", retry)?;
        let budget = retry
            .checked_mul(2)
            .and_then(|r| r.checked_add(renew))
            .unwrap_or(Duration::MAX);
        if budget >= self.ttl {
            return Err(ConfigError::invalid(
                "retry_timeout",
                format!(
                    "renew_interval ({}) + 2 × retry_timeout ({}) = {} must be shorter than ttl \
                     ({}), so that a leader that cannot renew retries and demotes before its \
                     lease can expire; lower renew_interval or retry_timeout, or raise ttl",
                    fmt_duration(renew),
                    fmt_duration(retry),
                    fmt_duration(budget),
                    fmt_duration(self.ttl)
                ),
            ));
        }
        Ok(())
    }
}

/// Why a leader stepped down.
///
/// ```
/// use resilience_dr::lease::DemoteReason;
/// assert_eq!(DemoteReason::LeaseLost.as_str(), "lease_lost");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DemoteReason {
    /// The backend said the lease is no longer ours (expired or taken over).
    LeaseLost,
    /// No renewal succeeded within `retry_timeout` (backend unreachable or slow).
    RenewTimedOut,
    /// The backend refused the renewal with a non-retryable error.
    RenewRejected,
    /// The host stopped the elector.
    Stopped,
}

impl DemoteReason {
    const ALL: [DemoteReason; 4] = [
        DemoteReason::LeaseLost,
        DemoteReason::RenewTimedOut,
        DemoteReason::RenewRejected,
        DemoteReason::Stopped,
    ];

    /// A stable snake_case name (used as the metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            DemoteReason::LeaseLost => "lease_lost",
            DemoteReason::RenewTimedOut => "renew_timed_out",
            DemoteReason::RenewRejected => "renew_rejected",
            DemoteReason::Stopped => "stopped",
        }
    }
}

impl fmt::Display for DemoteReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to a candidate, as seen by its [`LeaderElector`].
///
/// `usable_for` is how long the token may be used from the moment of the
/// event: until the elector's local step-down point (`ttl - retry_timeout`
/// after the request that won or renewed the lease was sent).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use resilience_dr::lease::{ElectionEvent, ElectorConfig, LeaderElector, MemoryLeaseBackend};
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let elector = LeaderElector::new(MemoryLeaseBackend::new(), ElectorConfig::new("jobs", "a"))?;
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// elector.listeners().add_fn(move |e: &ElectionEvent| sink.lock().unwrap().push(e.kind()));
/// let handle = elector.start()?;
/// tokio::time::sleep(Duration::from_secs(11)).await;
/// handle.stop().await;
/// assert_eq!(*seen.lock().unwrap(), vec!["elected", "renewed", "demoted"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ElectionEvent {
    /// This candidate won the lease.
    Elected {
        /// The lease.
        lease: String,
        /// This candidate.
        candidate: String,
        /// The new tenure's token.
        token: FencingToken,
        /// How long the token may be used from now.
        usable_for: Duration,
    },
    /// The leader renewed its lease.
    Renewed {
        /// The lease.
        lease: String,
        /// This candidate.
        candidate: String,
        /// The tenure's token (unchanged by renewals).
        token: FencingToken,
        /// How long the token may be used from now.
        usable_for: Duration,
    },
    /// One renewal attempt failed; the elector retries within `retry_timeout`.
    RenewFailed {
        /// The lease.
        lease: String,
        /// This candidate.
        candidate: String,
        /// The tenure's token.
        token: FencingToken,
        /// The backend's error, rendered.
        error: String,
    },
    /// The backend says the lease is no longer this candidate's (expired or
    /// taken over). A `Demoted` event follows.
    Lost {
        /// The lease.
        lease: String,
        /// This candidate.
        candidate: String,
        /// The stale token.
        token: FencingToken,
    },
    /// The leader stepped down: its token must not be used any more.
    Demoted {
        /// The lease.
        lease: String,
        /// This candidate.
        candidate: String,
        /// The token of the tenure that ended.
        token: FencingToken,
        /// Why.
        reason: DemoteReason,
    },
}

impl ElectionEvent {
    /// A stable snake_case name of the event kind.
    pub fn kind(&self) -> &'static str {
        match self {
            ElectionEvent::Elected { .. } => "elected",
            ElectionEvent::Renewed { .. } => "renewed",
            ElectionEvent::RenewFailed { .. } => "renew_failed",
            ElectionEvent::Lost { .. } => "lost",
            ElectionEvent::Demoted { .. } => "demoted",
        }
    }

    /// The token the event is about.
    pub fn token(&self) -> FencingToken {
        match self {
            ElectionEvent::Elected { token, .. }
            | ElectionEvent::Renewed { token, .. }
            | ElectionEvent::RenewFailed { token, .. }
            | ElectionEvent::Lost { token, .. }
            | ElectionEvent::Demoted { token, .. } => *token,
        }
    }
}

/// A candidate's current role.
///
/// ```
/// use resilience_dr::lease::Leadership;
/// let l = Leadership::Follower { leader: Some("node-a".into()) };
/// assert!(!l.is_leader());
/// assert_eq!(l.token(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Leadership {
    /// Not leading; `leader` is the holder last seen by a campaign, if any.
    Follower {
        /// The current holder as last observed.
        leader: Option<String>,
    },
    /// Leading with `lease`; the token may be used until `usable_until`.
    Leader {
        /// The current tenure.
        lease: Lease,
        /// The local step-down point (`tokio` clock).
        usable_until: Instant,
    },
    /// The elector has stopped (or was aborted).
    Stopped,
}

impl Leadership {
    /// Whether this is the `Leader` state (without checking the deadline; see
    /// [`LeadershipView::token`] for the check that matters).
    pub fn is_leader(&self) -> bool {
        matches!(self, Leadership::Leader { .. })
    }

    /// The token when leading (without checking the deadline).
    pub fn token(&self) -> Option<FencingToken> {
        match self {
            Leadership::Leader { lease, .. } => Some(lease.token),
            _ => None,
        }
    }
}

/// A cheap, cloneable read-only view of one elector's leadership.
///
/// Hand it to the code that does leader-only work: it asks
/// [`token`](Self::token) before each action and passes the token on to the
/// fenced resource. `token` also checks the local deadline, so even if the
/// elector task is starved or was aborted, the token stops being offered at
/// the step-down point.
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::lease::{ElectorConfig, LeaderElector, MemoryLeaseBackend};
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let handle = LeaderElector::new(MemoryLeaseBackend::new(), ElectorConfig::new("jobs", "a"))?.start()?;
/// let mut view = handle.view();
/// view.wait_for_leadership().await;
/// assert!(view.token().is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct LeadershipView {
    rx: watch::Receiver<Leadership>,
}

impl LeadershipView {
    /// The current role (a snapshot).
    pub fn leadership(&self) -> Leadership {
        self.rx.borrow().clone()
    }

    /// The token, only while leading and before the local step-down point.
    pub fn token(&self) -> Option<FencingToken> {
        match &*self.rx.borrow() {
            Leadership::Leader {
                lease,
                usable_until,
            } if Instant::now() < *usable_until => Some(lease.token),
            _ => None,
        }
    }

    /// Whether [`token`](Self::token) would return a token now.
    pub fn is_leader(&self) -> bool {
        self.token().is_some()
    }

    /// Waits for the next change of role; `false` once the elector is gone.
    pub async fn changed(&mut self) -> bool {
        self.rx.changed().await.is_ok()
    }

    /// Waits until this candidate leads; returns its token, or `None` if the
    /// elector stopped first.
    pub async fn wait_for_leadership(&mut self) -> Option<FencingToken> {
        loop {
            match &*self.rx.borrow_and_update() {
                Leadership::Leader { lease, .. } => return Some(lease.token),
                Leadership::Stopped => return None,
                Leadership::Follower { .. } => {}
            }
            if self.rx.changed().await.is_err() {
                return None;
            }
        }
    }
}

/// The elector could not start.
///
/// ```
/// use resilience_dr::lease::{ElectorConfig, ElectorError, LeaderElector, MemoryLeaseBackend};
/// let elector = LeaderElector::new(MemoryLeaseBackend::new(), ElectorConfig::new("l", "a")).unwrap();
/// // No tokio runtime here.
/// assert!(matches!(elector.start(), Err(ElectorError::NoRuntime)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ElectorError {
    /// `start` was called outside a tokio runtime.
    #[error(
        "LeaderElector::start needs a tokio runtime (with the time driver enabled); call it \
         from inside one, e.g. in #[tokio::main]"
    )]
    NoRuntime,
}

type BoxFut = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
type ElectedHook = Arc<dyn Fn(Lease) -> BoxFut + Send + Sync>;
type DemotedHook = Arc<dyn Fn(Lease, DemoteReason) -> BoxFut + Send + Sync>;

/// Campaigns for a lease, keeps it while it can, and steps down safely.
///
/// The loop, in Patroni's terms:
///
/// - **Follower**: try to acquire the lease; when it is held, try again when
///   the backend says it expires, at least every `renew_interval`; after a
///   backend error, try again after `retry_timeout / 4`.
/// - **Leader**: renew every `renew_interval`. A renewal round retries
///   transient errors (`RenewFailed` events) for at most `retry_timeout`. If
///   the backend says the lease is gone (`Lost`), or the round runs out of
///   time, or the step-down point `sent + ttl - retry_timeout` arrives, the
///   elector **demotes**: it stops offering the token at once, aborts a
///   still-running promote hook, emits `Demoted`, and runs the host's demote
///   hook, which gets until the lease's local expiry (`retry_timeout` or
///   more) before it is cancelled. Then it campaigns again.
/// - **Stop** ([`ElectorHandle::stop`] or dropping the handle): demote with
///   `Stopped`, then release the lease so a follower takes over at once.
///
/// Time is `tokio::time`, so tests run under `tokio::time::pause()`.
///
/// # Metrics
///
/// See the [module table](super#metrics): campaigns, elections, renewals
/// (with latency), demotions by reason, a leader gauge and the current token.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use resilience_core::clock::TokioClock;
/// use resilience_dr::lease::{ElectorConfig, LeaderElector, MemoryLeaseBackend};
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let backend = MemoryLeaseBackend::with_clock(TokioClock); // clones share it
/// let cfg = |id: &str| ElectorConfig::new("scheduler", id).ttl(Duration::from_secs(9));
///
/// let a = LeaderElector::new(backend.clone(), cfg("a"))?
///     .on_demoted(|lease, reason| async move { println!("a demoted ({reason}), token {}", lease.token) })
///     .start()?;
/// let mut view_a = a.view();
/// let first = view_a.wait_for_leadership().await.unwrap();
///
/// let b = LeaderElector::new(backend.clone(), cfg("b"))?.start()?;
/// a.abort(); // crash: no release, the lease must expire
/// let mut view_b = b.view();
/// let second = view_b.wait_for_leadership().await.unwrap();
/// assert!(second > first);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct LeaderElector<B> {
    backend: Arc<B>,
    config: ElectorConfig,
    listeners: Arc<Listeners<ElectionEvent>>,
    on_elected: Option<ElectedHook>,
    on_demoted: Option<DemotedHook>,
}

impl<B> fmt::Debug for LeaderElector<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaderElector")
            .field("config", &self.config)
            .field("listeners", &self.listeners)
            .field("on_elected", &self.on_elected.is_some())
            .field("on_demoted", &self.on_demoted.is_some())
            .finish_non_exhaustive()
    }
}

impl<B: LeaseBackend + 'static> LeaderElector<B> {
    /// An elector for `config` on `backend`; fails if the config is invalid.
    pub fn new(backend: B, config: ElectorConfig) -> Result<Self, ConfigError> {
        Self::with_shared_backend(Arc::new(backend), config)
    }

    /// Like [`new`](Self::new), for a backend already in an `Arc`.
    pub fn with_shared_backend(
        backend: Arc<B>,
        config: ElectorConfig,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(LeaderElector {
            backend,
            config,
            listeners: Arc::new(Listeners::new()),
            on_elected: None,
            on_demoted: None,
        })
    }

    /// The event listeners (register before [`start`](Self::start) to see every event).
    pub fn listeners(&self) -> &Listeners<ElectionEvent> {
        &self.listeners
    }

    /// The validated config.
    pub fn config(&self) -> &ElectorConfig {
        &self.config
    }

    /// Sets the promote hook, run as its own task when this candidate wins
    /// (renewals go on meanwhile); aborted if the candidate is demoted
    /// before it finishes.
    pub fn on_elected<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Lease) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_elected = Some(Arc::new(move |lease| Box::pin(hook(lease)) as BoxFut));
        self
    }

    /// Sets the demote hook: stop acting as leader (stop writing, set the
    /// resource read-only). It runs after the token stopped being offered
    /// and is cancelled when the lease's local expiry arrives.
    pub fn on_demoted<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Lease, DemoteReason) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_demoted = Some(Arc::new(move |lease, reason| {
            Box::pin(hook(lease, reason)) as BoxFut
        }));
        self
    }

    /// Starts campaigning on the current tokio runtime.
    pub fn start(self) -> Result<ElectorHandle, ElectorError> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| ElectorError::NoRuntime)?;
        let (state_tx, state_rx) = watch::channel(Leadership::Follower { leader: None });
        let state_tx_handle = state_tx.clone();
        let (stop_tx, stop_rx) = watch::channel(false);
        let metrics = Metrics::new(&self.config.lease_name);
        let renew_interval = self.config.effective_renew_interval();
        let retry_timeout = self.config.effective_retry_timeout();
        let run = Runner {
            backend: self.backend,
            lease_name: self.config.lease_name,
            candidate: self.config.candidate_id,
            ttl: self.config.ttl,
            renew_interval,
            retry_timeout,
            listeners: self.listeners.clone(),
            on_elected: self.on_elected,
            on_demoted: self.on_demoted,
            state: state_tx,
            stop: stop_rx,
            metrics,
        };
        let task = rt.spawn(run.run());
        Ok(ElectorHandle {
            view: LeadershipView { rx: state_rx },
            state: state_tx_handle,
            stop: stop_tx,
            task: Some(task),
            listeners: self.listeners,
        })
    }
}

/// Controls a running [`LeaderElector`].
///
/// Dropping the handle stops the elector gracefully in the background (as
/// [`stop`](Self::stop) without waiting); [`abort`](Self::abort) kills it like
/// a crash, for tests and chaos drills.
///
/// ```
/// use resilience_dr::lease::{ElectorConfig, LeaderElector, Leadership, MemoryLeaseBackend};
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let handle = LeaderElector::new(MemoryLeaseBackend::new(), ElectorConfig::new("l", "a"))?.start()?;
/// let mut view = handle.view();
/// view.wait_for_leadership().await;
/// assert!(handle.is_leader());
/// handle.stop().await;
/// assert_eq!(view.leadership(), Leadership::Stopped);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[must_use = "dropping the handle stops the elector"]
pub struct ElectorHandle {
    view: LeadershipView,
    state: watch::Sender<Leadership>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    listeners: Arc<Listeners<ElectionEvent>>,
}

impl fmt::Debug for ElectorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ElectorHandle")
            .field("leadership", &self.view.leadership())
            .finish_non_exhaustive()
    }
}

impl ElectorHandle {
    /// A view for leader-only code.
    pub fn view(&self) -> LeadershipView {
        self.view.clone()
    }

    /// The current role (a snapshot).
    pub fn leadership(&self) -> Leadership {
        self.view.leadership()
    }

    /// Whether this candidate leads now (deadline checked).
    pub fn is_leader(&self) -> bool {
        self.view.is_leader()
    }

    /// The token while leading (deadline checked).
    pub fn token(&self) -> Option<FencingToken> {
        self.view.token()
    }

    /// The event listeners (to add or remove listeners while running).
    pub fn listeners(&self) -> &Listeners<ElectionEvent> {
        &self.listeners
    }

    /// Stops: demotes (running the demote hook) if leading, releases the
    /// lease, and waits for the elector task to finish.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Kills the elector like a crash: no demote hook, no release; the lease
    /// stays with this candidate in the backend until it expires. Views
    /// report `Stopped` (a dead process offers no token).
    pub fn abort(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.stop.send_replace(true);
        self.state.send_replace(Leadership::Stopped);
    }
}

impl Drop for ElectorHandle {
    fn drop(&mut self) {
        if self.task.is_some() {
            let _ = self.stop.send(true);
        }
    }
}

#[derive(Debug)]
struct Metrics {
    won: metrics::Counter,
    held: metrics::Counter,
    campaign_error: metrics::Counter,
    elections: metrics::Counter,
    renew_ok: metrics::Counter,
    renew_error: metrics::Counter,
    renew_lost: metrics::Counter,
    renew_seconds: metrics::Histogram,
    leader: metrics::Gauge,
    token: metrics::Gauge,
    demotions: [metrics::Counter; 4],
}

impl Metrics {
    fn new(lease: &str) -> Self {
        let l = lease.to_string();
        Metrics {
            won: metrics::counter!("resilience_lease_campaigns_total", "lease" => l.clone(), "outcome" => "won"),
            held: metrics::counter!("resilience_lease_campaigns_total", "lease" => l.clone(), "outcome" => "held"),
            campaign_error: metrics::counter!("resilience_lease_campaigns_total", "lease" => l.clone(), "outcome" => "error"),
            elections: metrics::counter!("resilience_lease_elections_total", "lease" => l.clone()),
            renew_ok: metrics::counter!("resilience_lease_renewals_total", "lease" => l.clone(), "outcome" => "ok"),
            renew_error: metrics::counter!("resilience_lease_renewals_total", "lease" => l.clone(), "outcome" => "error"),
            renew_lost: metrics::counter!("resilience_lease_renewals_total", "lease" => l.clone(), "outcome" => "lost"),
            renew_seconds: metrics::histogram!("resilience_lease_renew_seconds", "lease" => l.clone()),
            leader: metrics::gauge!("resilience_lease_leader", "lease" => l.clone()),
            token: metrics::gauge!("resilience_lease_token", "lease" => l.clone()),
            demotions: DemoteReason::ALL.map(|r| {
                metrics::counter!("resilience_lease_demotions_total", "lease" => l.clone(), "reason" => r.as_str())
            }),
        }
    }

    fn demoted(&self, reason: DemoteReason) {
        self.demotions[reason as usize].increment(1);
        self.leader.set(0.0);
    }
}

/// What ended a tenure.
enum TenureEnd {
    Demoted,
    Stopped,
}

struct Runner<B> {
    backend: Arc<B>,
    lease_name: String,
    candidate: String,
    ttl: Duration,
    renew_interval: Duration,
    retry_timeout: Duration,
    listeners: Arc<Listeners<ElectionEvent>>,
    on_elected: Option<ElectedHook>,
    on_demoted: Option<DemotedHook>,
    state: watch::Sender<Leadership>,
    stop: watch::Receiver<bool>,
    metrics: Metrics,
}

/// `at + d`, saturating in the far future (never panics).
fn add(at: Instant, d: Duration) -> Instant {
    Instant::from_std(crate::arith::saturating_add(at.into_std(), d))
}

impl<B: LeaseBackend + 'static> Runner<B> {
    async fn run(self) {
        loop {
            if self.stopping() {
                break;
            }
            let delay = match self.campaign().await {
                Ok((lease, sent)) => match self.lead(lease, sent).await {
                    TenureEnd::Stopped => break,
                    TenureEnd::Demoted => Duration::ZERO,
                },
                Err(delay) => delay,
            };
            if !delay.is_zero() && self.sleep_or_stop(add(Instant::now(), delay)).await {
                break;
            }
        }
        self.state.send_replace(Leadership::Stopped);
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Sleeps until `deadline`; returns `true` if asked to stop meanwhile.
    async fn sleep_or_stop(&self, deadline: Instant) -> bool {
        if self.stopping() {
            return true;
        }
        let mut stop = self.stop.clone();
        tokio::select! {
            biased;
            // Err means the handle is gone without a word: stop as well.
            _ = stop.wait_for(|s| *s) => true,
            () = tokio::time::sleep_until(deadline) => false,
        }
    }

    fn emit(&self, make: impl FnOnce() -> ElectionEvent) {
        self.listeners.emit_with(make);
    }

    /// The local step-down point of a tenure whose request was sent at `sent`.
    fn usable_until(&self, sent: Instant, ttl: Duration) -> Instant {
        add(sent, ttl.saturating_sub(self.retry_timeout))
    }

    /// One acquire attempt: the lease and the instant the request was sent,
    /// or how long to wait before the next attempt.
    async fn campaign(&self) -> Result<(Lease, Instant), Duration> {
        let sent = Instant::now();
        let attempt = self
            .backend
            .acquire(&self.lease_name, &self.candidate, self.ttl);
        match tokio::time::timeout_at(add(sent, self.retry_timeout), attempt).await {
            Ok(Ok(lease)) => {
                if Instant::now() >= self.usable_until(sent, lease.ttl) {
                    // The answer came too late to use the lease safely: hand
                    // it back so the others need not wait for it to expire.
                    self.metrics.campaign_error.increment(1);
                    let _ = tokio::time::timeout(self.retry_timeout, self.backend.release(&lease))
                        .await;
                    return Err(self.renew_interval);
                }
                self.metrics.won.increment(1);
                Ok((lease, sent))
            }
            Ok(Err(LeaseError::Held {
                holder, expires_in, ..
            })) => {
                self.metrics.held.increment(1);
                self.state.send_if_modified(|s| match s {
                    Leadership::Follower { leader } if leader.as_deref() == Some(&holder) => false,
                    _ => {
                        *s = Leadership::Follower {
                            leader: Some(holder),
                        };
                        true
                    }
                });
                // Try again when the backend says the tenure ends, but no
                // more often than every renew_interval / 10 and at least
                // every renew_interval.
                Err(expires_in.clamp(
                    self.renew_interval
                        .checked_div(10)
                        .unwrap_or(Duration::ZERO),
                    self.renew_interval,
                ))
            }
            Ok(Err(_)) | Err(_) => {
                // Most backend errors are transient (a member down, a
                // connection reset): try again sooner than a full interval.
                self.metrics.campaign_error.increment(1);
                Err(self
                    .retry_timeout
                    .checked_div(4)
                    .unwrap_or(Duration::ZERO)
                    .min(self.renew_interval))
            }
        }
    }

    /// Holds the lease until it is lost, renewals time out, or stop.
    async fn lead(&self, mut lease: Lease, mut sent: Instant) -> TenureEnd {
        let token = lease.token;
        let mut usable_until = self.usable_until(sent, lease.ttl);
        self.metrics.elections.increment(1);
        self.metrics.leader.set(1.0);
        // A token is an epoch, not a measured value: f64 is exact up to 2^53.
        self.metrics.token.set(token.get() as f64);
        // Listeners hear of the tenure before the view offers its token, so
        // whoever sees the leader state also finds the event recorded.
        self.emit(|| ElectionEvent::Elected {
            lease: self.lease_name.clone(),
            candidate: self.candidate.clone(),
            token,
            usable_for: usable_until.saturating_duration_since(Instant::now()),
        });
        self.state.send_replace(Leadership::Leader {
            lease: lease.clone(),
            usable_until,
        });
        let promote = self
            .on_elected
            .as_ref()
            .map(|hook| tokio::spawn(hook(lease.clone())));

        let reason = loop {
            if self.sleep_or_stop(add(sent, self.renew_interval)).await {
                break DemoteReason::Stopped;
            }
            match self.renew_round(&lease, usable_until).await {
                Ok((renewed, renewed_sent)) => {
                    lease = renewed;
                    sent = renewed_sent;
                    usable_until = self.usable_until(sent, lease.ttl);
                    self.emit(|| ElectionEvent::Renewed {
                        lease: self.lease_name.clone(),
                        candidate: self.candidate.clone(),
                        token,
                        usable_for: usable_until.saturating_duration_since(Instant::now()),
                    });
                    self.state.send_replace(Leadership::Leader {
                        lease: lease.clone(),
                        usable_until,
                    });
                }
                Err(reason) => break reason,
            }
        };

        if let Some(task) = promote {
            task.abort();
        }
        self.demote(&lease, sent, reason).await;
        if reason == DemoteReason::Stopped {
            let _ = tokio::time::timeout(self.retry_timeout, self.backend.release(&lease)).await;
            TenureEnd::Stopped
        } else {
            TenureEnd::Demoted
        }
    }

    /// One renewal round: retries transient errors until `retry_timeout`
    /// has passed or the step-down point arrives, whichever is first.
    async fn renew_round(
        &self,
        lease: &Lease,
        usable_until: Instant,
    ) -> Result<(Lease, Instant), DemoteReason> {
        let round_deadline = add(Instant::now(), self.retry_timeout).min(usable_until);
        let retry_delay = self.retry_timeout.checked_div(4).unwrap_or(Duration::ZERO);
        loop {
            let sent = Instant::now();
            if sent >= round_deadline {
                return Err(DemoteReason::RenewTimedOut);
            }
            let failure =
                match tokio::time::timeout_at(round_deadline, self.backend.renew(lease)).await {
                    Ok(Ok(renewed)) => {
                        self.metrics.renew_ok.increment(1);
                        self.metrics
                            .renew_seconds
                            .record(sent.elapsed().as_secs_f64());
                        if Instant::now() >= self.usable_until(sent, renewed.ttl) {
                            return Err(DemoteReason::RenewTimedOut);
                        }
                        return Ok((renewed, sent));
                    }
                    Ok(Err(LeaseError::Lost { .. })) => {
                        self.metrics.renew_lost.increment(1);
                        self.emit(|| ElectionEvent::Lost {
                            lease: self.lease_name.clone(),
                            candidate: self.candidate.clone(),
                            token: lease.token,
                        });
                        return Err(DemoteReason::LeaseLost);
                    }
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => format!(
                        "renewal timed out (round budget retry_timeout = {})",
                        fmt_duration(self.retry_timeout)
                    ),
                };
            self.metrics.renew_error.increment(1);
            self.emit(|| ElectionEvent::RenewFailed {
                lease: self.lease_name.clone(),
                candidate: self.candidate.clone(),
                token: lease.token,
                error: failure,
            });
            let now = Instant::now();
            if now >= round_deadline {
                return Err(DemoteReason::RenewTimedOut);
            }
            tokio::time::sleep_until(add(now, retry_delay).min(round_deadline)).await;
        }
    }

    /// Stops offering the token, tells listeners, and runs the demote hook
    /// until the lease's local expiry at the latest.
    async fn demote(&self, lease: &Lease, sent: Instant, reason: DemoteReason) {
        self.state
            .send_replace(Leadership::Follower { leader: None });
        self.metrics.demoted(reason);
        self.emit(|| ElectionEvent::Demoted {
            lease: self.lease_name.clone(),
            candidate: self.candidate.clone(),
            token: lease.token,
            reason,
        });
        if let Some(hook) = &self.on_demoted {
            let expiry = add(sent, lease.ttl);
            let _ = tokio::time::timeout_at(expiry, hook(lease.clone(), reason)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demote_reason_table_matches_discriminants() {
        for (i, r) in DemoteReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }

    #[test]
    fn event_accessors() {
        let e = ElectionEvent::Demoted {
            lease: "l".into(),
            candidate: "a".into(),
            token: FencingToken::new(3),
            reason: DemoteReason::RenewTimedOut,
        };
        assert_eq!(e.kind(), "demoted");
        assert_eq!(e.token(), FencingToken::new(3));
        assert_eq!(DemoteReason::RenewTimedOut.to_string(), "renew_timed_out");
    }
}
