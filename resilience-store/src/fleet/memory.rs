//! The in-process fleet store: for tests, doc examples and simulations of
//! several replicas in one process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use resilience_core::clock::{shared, Clock, SharedClock, SystemClock};
use resilience_core::retry::RatioBudgetConfig;

use super::{ratio_terms, BreakerView, FleetError, FleetFuture, FleetStore};

/// A [`FleetStore`] in memory, shared by cloning (a cheap handle).
///
/// Time (view and probe-lease expiry) comes from a
/// [`Clock`](resilience_core::clock::Clock), so tests age replicas out with
/// a [`ManualClock`](resilience_core::clock::ManualClock).
/// [`set_available`](Self::set_available) makes every call fail, to test
/// the fall-back to local state.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::clock::ManualClock;
/// use resilience_store::fleet::{BreakerView, FleetStore, InMemoryFleetStore, ViewState};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let clock = ManualClock::new();
/// let store = InMemoryFleetStore::with_clock(clock.clone());
/// let ttl = Duration::from_secs(3);
/// store.exchange_views("b", &BreakerView::new("a", ViewState::Open, 10, 8), ttl).await.unwrap();
/// clock.advance(Duration::from_secs(2));
/// let views = store.exchange_views("b", &BreakerView::new("b", ViewState::Closed, 5, 0), ttl).await.unwrap();
/// assert_eq!(views.len(), 2);
/// clock.advance(Duration::from_secs(2)); // a has not reported for 4 s
/// let views = store.exchange_views("b", &BreakerView::new("b", ViewState::Closed, 5, 0), ttl).await.unwrap();
/// assert_eq!(views.iter().map(|v| v.replica.as_str()).collect::<Vec<_>>(), ["b"]);
/// store.set_available(false);
/// assert!(store.lease_tokens("k", 1, 10).await.is_err());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct InMemoryFleetStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    clock: SharedClock,
    origin: Instant,
    available: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    buckets: HashMap<String, u32>,
    /// ratio budget key -> (epoch, calls, retries) per slot
    windows: HashMap<String, Vec<(u64, u64, u64)>>,
    /// breaker key -> replica -> (view, published at, expires at)
    views: HashMap<String, HashMap<String, (BreakerView, Instant, Instant)>>,
    /// breaker key -> replica -> lease expiry
    probes: HashMap<String, HashMap<String, Instant>>,
    /// rate bucket key -> theoretical arrival time (ns since `origin`):
    /// the bucket is full when it is not after now, and holds
    /// `(now + burst·per_token - tat) / per_token` tokens otherwise.
    rates: HashMap<String, u64>,
}

impl Default for InMemoryFleetStore {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryFleetStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(SystemClock)
    }

    /// An empty store reading time from `clock`.
    pub fn with_clock(clock: impl Clock) -> Self {
        InMemoryFleetStore {
            inner: Arc::new(Inner {
                origin: clock.now(),
                clock: shared(clock),
                available: AtomicBool::new(true),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Makes every call fail with [`FleetError::Unavailable`] (`false`)
    /// or succeed again (`true`), as a store outage would.
    pub fn set_available(&self, available: bool) {
        self.inner.available.store(available, Ordering::Release);
    }

    /// Tokens left in the bucket `key` (`None` before its first use).
    pub fn tokens(&self, key: &str) -> Option<u32> {
        self.inner.state.lock().buckets.get(key).copied()
    }

    fn check(&self) -> Result<(), FleetError> {
        if self.inner.available.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(FleetError::Unavailable(
                "the in-memory store is switched off".to_string(),
            ))
        }
    }

    fn ready<T: Send + 'static>(r: Result<T, FleetError>) -> FleetFuture<'static, T> {
        Box::pin(std::future::ready(r))
    }
}

impl FleetStore for InMemoryFleetStore {
    fn lease_tokens<'a>(&'a self, key: &'a str, want: u32, capacity: u32) -> FleetFuture<'a, u32> {
        Self::ready(self.check().map(|()| {
            let mut s = self.inner.state.lock();
            let tokens = s.buckets.entry(key.to_string()).or_insert(capacity);
            let grant = (*tokens).min(want);
            *tokens -= grant;
            grant
        }))
    }

    fn lease_ratio<'a>(
        &'a self,
        key: &'a str,
        requests: u64,
        want: u32,
        rule: &'a RatioBudgetConfig,
    ) -> FleetFuture<'a, u32> {
        Self::ready(self.check().map(|()| {
            let (slot_ms, reserve_ppm, percent_ppm) = ratio_terms(rule);
            let elapsed = self
                .inner
                .clock
                .now()
                .saturating_duration_since(self.inner.origin);
            let epoch = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX) / slot_ms + 1;
            let mut s = self.inner.state.lock();
            let window = s.windows.entry(key.to_string()).or_default();
            super::lease_from_window(window, epoch, requests, want, reserve_ppm, percent_ppm)
        }))
    }

    fn return_tokens<'a>(
        &'a self,
        key: &'a str,
        tokens: u32,
        capacity: u32,
    ) -> FleetFuture<'a, ()> {
        Self::ready(self.check().map(|()| {
            let mut s = self.inner.state.lock();
            let t = s.buckets.entry(key.to_string()).or_insert(capacity);
            *t = t.saturating_add(tokens).min(capacity);
        }))
    }

    fn exchange_views<'a>(
        &'a self,
        key: &'a str,
        view: &'a BreakerView,
        ttl: Duration,
    ) -> FleetFuture<'a, Vec<BreakerView>> {
        Self::ready(self.check().map(|()| {
            let now = self.inner.clock.now();
            let mut s = self.inner.state.lock();
            let views = s.views.entry(key.to_string()).or_default();
            views.insert(view.replica.clone(), (view.clone(), now, now + ttl));
            views.retain(|_, (_, _, expires)| *expires > now);
            let mut out: Vec<BreakerView> = views
                .values()
                .map(|(v, at, _)| BreakerView {
                    age: now.saturating_duration_since(*at),
                    ..v.clone()
                })
                .collect();
            out.sort_by(|a, b| a.replica.cmp(&b.replica));
            out
        }))
    }

    fn acquire_probe<'a>(
        &'a self,
        key: &'a str,
        replica: &'a str,
        slots: u32,
        ttl: Duration,
    ) -> FleetFuture<'a, bool> {
        Self::ready(self.check().map(|()| {
            let now = self.inner.clock.now();
            let mut s = self.inner.state.lock();
            let leases = s.probes.entry(key.to_string()).or_default();
            leases.retain(|_, expires| *expires > now);
            if leases.contains_key(replica) || leases.len() < slots as usize {
                leases.insert(replica.to_string(), now + ttl);
                true
            } else {
                false
            }
        }))
    }

    fn release_probe<'a>(&'a self, key: &'a str, replica: &'a str) -> FleetFuture<'a, ()> {
        Self::ready(self.check().map(|()| {
            if let Some(leases) = self.inner.state.lock().probes.get_mut(key) {
                leases.remove(replica);
            }
        }))
    }

    fn lease_rate<'a>(
        &'a self,
        key: &'a str,
        want: u32,
        burst: u32,
        per_token: Duration,
    ) -> FleetFuture<'a, u32> {
        Self::ready(self.check().map(|()| {
            let now = u64::try_from(
                self.inner
                    .clock
                    .now()
                    .saturating_duration_since(self.inner.origin)
                    .as_nanos(),
            )
            .unwrap_or(u64::MAX);
            let per = u64::try_from(per_token.as_nanos())
                .unwrap_or(u64::MAX)
                .max(1);
            let mut s = self.inner.state.lock();
            let tat = s.rates.get(key).copied().unwrap_or(0).max(now);
            let full_at = now.saturating_add(per.saturating_mul(u64::from(burst)));
            let held = full_at.saturating_sub(tat) / per;
            let grant = u32::try_from(held.min(u64::from(want))).unwrap_or(want);
            if grant > 0 {
                s.rates.insert(
                    key.to_string(),
                    tat.saturating_add(per.saturating_mul(u64::from(grant))),
                );
            }
            grant
        }))
    }
}
