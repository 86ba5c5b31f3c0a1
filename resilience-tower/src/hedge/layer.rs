use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::Counter;
use resilience_core::config::ConfigError;
use tower_layer::Layer;

use super::histogram::Histogram;
use super::{HedgeConfig, HedgeDelay, HedgeService};
use crate::retry::CloneAll;

/// Budget units per hedge: the allowance is kept in millionths of a hedge.
const UNIT: u64 = 1_000_000;

/// A hedging policy in action, shared by every service its layer made: the
/// delay rule, the rolling latency histogram, the extra-load budget and the
/// counters. Cheap to clone.
///
/// ```
/// use std::time::Duration;
/// use resilience_tower::hedge::{Hedge, HedgeConfig};
///
/// let hedge = Hedge::new("search", HedgeConfig::fixed(Duration::from_millis(50))).unwrap();
/// assert_eq!(hedge.current_delay(), Some(Duration::from_millis(50)));
/// assert_eq!(hedge.stats().hedged, 0);
/// assert!(Hedge::new("bad", HedgeConfig { burst: 0, ..HedgeConfig::fixed(Duration::ZERO) }).is_err());
/// ```
#[derive(Clone)]
pub struct Hedge {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    name: Arc<str>,
    config: HedgeConfig,
    fixed: Option<Duration>,
    histogram: Option<Histogram>,
    /// Unused allowance, in millionths of a hedge.
    credit: AtomicU64,
    per_request: u64,
    max_credit: u64,
    calls: AtomicU64,
    hedged: AtomicU64,
    hedge_wins: AtomicU64,
    primary_wins: AtomicU64,
    budget_refused: AtomicU64,
    m_sent: Counter,
    m_won_primary: Counter,
    m_won_hedge: Counter,
    m_skipped_budget: Counter,
    m_skipped_not_ready: Counter,
}

/// What a [`Hedge`] did so far.
///
/// ```
/// use resilience_tower::hedge::HedgeStats;
/// let s = HedgeStats::default();
/// assert_eq!(s.calls, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HedgeStats {
    /// Calls seen.
    pub calls: u64,
    /// Second requests sent.
    pub hedged: u64,
    /// Hedged calls answered first by the second request.
    pub hedge_wins: u64,
    /// Hedged calls answered first by the original request.
    pub primary_wins: u64,
    /// Hedges due (delay elapsed) but refused by the budget.
    pub budget_refused: u64,
}

impl Hedge {
    /// Validates `config` into a policy named `name` (the `hedge` metrics
    /// label).
    pub fn new(name: &str, config: HedgeConfig) -> Result<Hedge, ConfigError> {
        config.validate()?;
        let origin = tokio::time::Instant::now().into_std();
        let (fixed, histogram) = match config.delay {
            HedgeDelay::Fixed { after } => (Some(after), None),
            HedgeDelay::Percentile {
                percentile,
                min_samples,
                min_delay,
            } => (
                None,
                Some(Histogram::new(
                    origin,
                    config.window,
                    percentile,
                    min_samples,
                    min_delay.unwrap_or(Duration::ZERO),
                )),
            ),
        };
        // Validated: the ratio is in [0, 1], so this is in [0, UNIT].
        let per_request = (config.max_hedge_ratio * UNIT as f64).round() as u64;
        let name: Arc<str> = name.into();
        let counter = |metric: &'static str, key: &'static str, value: &'static str| metrics::counter!(metric, "hedge" => name.to_string(), key => value);
        Ok(Hedge {
            inner: Arc::new(Inner {
                fixed,
                histogram,
                credit: AtomicU64::new(0),
                per_request,
                max_credit: u64::from(config.burst).saturating_mul(UNIT),
                calls: AtomicU64::new(0),
                hedged: AtomicU64::new(0),
                hedge_wins: AtomicU64::new(0),
                primary_wins: AtomicU64::new(0),
                budget_refused: AtomicU64::new(0),
                m_sent: metrics::counter!("resilience_hedge_sent_total", "hedge" => name.to_string()),
                m_won_primary: counter("resilience_hedge_wins_total", "winner", "primary"),
                m_won_hedge: counter("resilience_hedge_wins_total", "winner", "hedge"),
                m_skipped_budget: counter("resilience_hedge_skipped_total", "reason", "budget"),
                m_skipped_not_ready: counter(
                    "resilience_hedge_skipped_total",
                    "reason",
                    "not_ready",
                ),
                name,
                config,
            }),
        })
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The config.
    pub fn config(&self) -> &HedgeConfig {
        &self.inner.config
    }

    /// The delay after which a call started now would be hedged: the fixed
    /// delay, or the percentile of recent latencies (`None` until enough
    /// were recorded).
    pub fn current_delay(&self) -> Option<Duration> {
        self.inner.delay()
    }

    /// Counters so far.
    pub fn stats(&self) -> HedgeStats {
        let i = &self.inner;
        HedgeStats {
            calls: i.calls.load(Ordering::Relaxed),
            hedged: i.hedged.load(Ordering::Relaxed),
            hedge_wins: i.hedge_wins.load(Ordering::Relaxed),
            primary_wins: i.primary_wins.load(Ordering::Relaxed),
            budget_refused: i.budget_refused.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Inner> {
        &self.inner
    }
}

impl Inner {
    #[inline]
    pub(crate) fn delay(&self) -> Option<Duration> {
        match &self.histogram {
            Some(h) => h.delay(),
            None => self.fixed,
        }
    }

    /// A call starts: it adds `max_hedge_ratio` of a hedge to the allowance.
    #[inline]
    pub(crate) fn on_call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.per_request == 0 {
            return;
        }
        let _ = self
            .credit
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                (c < self.max_credit)
                    .then(|| c.saturating_add(self.per_request).min(self.max_credit))
            });
    }

    /// Whether a whole hedge is available (without taking it).
    #[inline]
    pub(crate) fn can_hedge(&self) -> bool {
        self.credit.load(Ordering::Relaxed) >= UNIT
    }

    /// Takes one hedge from the allowance; false if there is none.
    pub(crate) fn try_hedge(&self) -> bool {
        let ok = self
            .credit
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| c.checked_sub(UNIT))
            .is_ok();
        if ok {
            self.hedged.fetch_add(1, Ordering::Relaxed);
            self.m_sent.increment(1);
            #[cfg(feature = "tracing")]
            tracing::debug!(hedge = %self.name, "hedge sent");
        } else {
            self.refused();
        }
        ok
    }

    pub(crate) fn refused(&self) {
        self.budget_refused.fetch_add(1, Ordering::Relaxed);
        self.m_skipped_budget.increment(1);
        #[cfg(feature = "tracing")]
        tracing::debug!(hedge = %self.name, "hedge due but refused by the budget");
    }

    pub(crate) fn not_ready(&self) {
        self.m_skipped_not_ready.increment(1);
    }

    pub(crate) fn won(&self, by_hedge: bool) {
        if by_hedge {
            self.hedge_wins.fetch_add(1, Ordering::Relaxed);
            self.m_won_hedge.increment(1);
        } else {
            self.primary_wins.fetch_add(1, Ordering::Relaxed);
            self.m_won_primary.increment(1);
        }
    }

    /// Whether successful latencies are recorded (percentile mode).
    #[inline]
    pub(crate) fn records(&self) -> bool {
        self.histogram.is_some()
    }

    #[inline]
    pub(crate) fn record(&self, now: Instant, latency: Duration) {
        if let Some(h) = &self.histogram {
            h.record(now, latency);
        }
    }
}

impl fmt::Debug for Hedge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hedge")
            .field("name", &self.inner.name)
            .field("config", &self.inner.config)
            .field("current_delay", &self.current_delay())
            .field("stats", &self.stats())
            .finish()
    }
}

/// Sends a second copy of a slow request and answers with whichever copy
/// succeeds first; see the [module docs](super).
///
/// Requests are copied with a [`CloneRequest`](crate::retry::CloneRequest)
/// hook ([`CloneAll`] by default); a hook returning `None` (say, for a
/// non-idempotent request, which must not be sent twice) means that request
/// is never hedged.
///
/// ```
/// use std::time::Duration;
/// use resilience_tower::hedge::{Hedge, HedgeConfig, HedgeLayer};
/// use tower::ServiceBuilder;
///
/// let hedge = Hedge::new("search", HedgeConfig::percentile(0.95)).unwrap();
/// #[derive(Clone)]
/// struct Query { text: String, write: bool }
/// let svc = ServiceBuilder::new()
///     .layer(HedgeLayer::new(hedge).clone_requests_with(|q: &Query| (!q.write).then(|| q.clone())))
///     .service_fn(|q: Query| async move { Ok::<_, tower::BoxError>(q.text.len()) });
/// # let _ = svc;
/// ```
#[derive(Clone)]
pub struct HedgeLayer<K = CloneAll> {
    hedge: Hedge,
    cloner: K,
}

impl HedgeLayer {
    /// A layer hedging by `hedge`, copying requests with `Clone`.
    pub fn new(hedge: Hedge) -> Self {
        HedgeLayer {
            hedge,
            cloner: CloneAll,
        }
    }
}

impl<K> HedgeLayer<K> {
    /// Uses `cloner` to copy requests; `None` from it means "do not hedge
    /// this one".
    pub fn clone_requests_with<K2>(self, cloner: K2) -> HedgeLayer<K2> {
        HedgeLayer {
            hedge: self.hedge,
            cloner,
        }
    }

    /// The policy.
    pub fn hedge(&self) -> &Hedge {
        &self.hedge
    }
}

impl<S, K: Clone> Layer<S> for HedgeLayer<K> {
    type Service = HedgeService<S, K>;

    fn layer(&self, inner: S) -> Self::Service {
        HedgeService::new(inner, self.hedge.clone(), self.cloner.clone())
    }
}

impl<K> fmt::Debug for HedgeLayer<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeLayer")
            .field("hedge", &self.hedge)
            .field("cloner", &std::any::type_name::<K>())
            .finish()
    }
}
