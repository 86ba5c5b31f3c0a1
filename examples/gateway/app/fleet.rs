//! `--replicas N --fleet memory|redis://…`: a fleet of gateways during the
//! worker-kill and model-load-failure experiments, with the worker retries'
//! budget in local scope and in fleet scope, side by side.
//!
//! **The fleet.** N replicas of the gateway, each a whole gateway: its own
//! stack, retry budget and breakers, its own slice of 20 GPU workers and its
//! own provider clients, serving its own stream of requests (3 per second,
//! from its own seed: replica `i` uses `seed + i`), as when a service is
//! scaled out because its traffic grew. The fault hits every replica at the
//! same moment: sd3 fails to load on every slice, or one busy worker of
//! every slice is killed. The breakers stay per replica in both scopes;
//! only the budget's scope changes.
//!
//! **The two scopes.** Local: every replica builds the budget
//! `presets/gateway.yaml` gives the worker retries
//! (`retry.worker_call.budget`, a token bucket), as without a fleet, so the
//! fleet holds N of them. Fleet: one bucket of that size for the whole fleet,
//! in a [`FleetStore`], each replica leasing tokens in batches of
//! [`batch`] through a [`FleetBudget`] (the library's fleet-wide budget).
//! Both scopes run the same replicas on the same seeds.
//!
//! **What is counted.** Every budget is wrapped in a meter that counts, as
//! the retry layer asks: retries granted (with the virtual second they were
//! sent in), retries refused, tokens spent and tokens refunded by
//! successes, and from these the deepest the fleet drew on its budget: the
//! largest excess of tokens spent over tokens handed back over any stretch
//! of the run (every refund counts, even one a full bucket drops, so the
//! true draw is at least this). A bucket cannot be drawn below empty: in
//! fleet scope the draw stays within one bucket plus the batch each replica
//! holds; in local scope, within N buckets. The worker pool counts the
//! attempts that failed at the workers
//! (the failing dependency). The fleet budgets report their store round
//! trips, and a sampler counts the replica-seconds spent on local state
//! (the store did not answer). Nothing in the table is computed from a
//! formula.
//!
//! **Time.** The experiments run on the paused tokio clock, as without a
//! fleet; the fleet budgets' background tasks run there too, so their sync
//! cadence (250 ms) and store timeout (50 ms) are virtual time, as a real
//! replica would see them. A Redis call cannot run on a paused clock (its
//! round trip would let virtual time jump past the store timeout, and every
//! replica would fall back to local state): it runs on a small real-time
//! runtime, reached through `spawn_blocking`, which holds the paused clock
//! still while it runs, so a round trip takes no virtual time (as the
//! durable dead-letter store's calls, see `store.rs`). The store timeout
//! therefore only trips on a store that errors; a Redis that refuses
//! connections mid-run sends the replicas to local state (counted), one
//! that hangs holds the run.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use resilience_core::clock::TokioClock;
use resilience_core::retry::{
    BudgetConfig, ErrorClass, RetryBudget, TokenBucketConfig, Withdrawal,
};
use resilience_store::fleet::{
    BreakerView, FleetBudget, FleetBudgetConfig, FleetError, FleetFuture, FleetStore,
    InMemoryFleetStore,
};
#[cfg(feature = "store-redis")]
use resilience_store::{connection::RedisConfig, fleet::redis::RedisFleetStore};
use tower::BoxError;

use super::events::EventLog;
use super::experiments::{drive, Experiment, Options, Report};
use super::gateway::Gateway;
use super::stack::StackConfig;

/// The experiments `--fleet` runs: the two whose faults make the gateway
/// retry.
pub(crate) const EXPERIMENTS: [Experiment; 2] =
    [Experiment::WorkerKill, Experiment::ModelLoadFailure];

/// The most replicas `--replicas` accepts.
pub(crate) const MAX_REPLICAS: usize = 50;

/// Where the fleet-scope budget keeps its tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FleetTarget {
    /// An [`InMemoryFleetStore`] in this process (no server).
    Memory,
    /// A Redis server (`redis://…`, feature `store-redis`).
    Redis(String),
}

impl FleetTarget {
    /// `memory` or a `redis://` / `rediss://` URL.
    pub(crate) fn parse(s: &str) -> Result<FleetTarget, String> {
        if s == "memory" {
            return Ok(FleetTarget::Memory);
        }
        if s.starts_with("redis://") || s.starts_with("rediss://") {
            if cfg!(feature = "store-redis") {
                return Ok(FleetTarget::Redis(s.to_string()));
            }
            return Err(format!(
                "{s}: this build has no Redis client; run the demo with `--features store-redis` (or use `--fleet memory`)"
            ));
        }
        Err(format!(
            "{s}: expected `memory` (an in-process store) or a redis:// URL"
        ))
    }

    /// For the output.
    pub(crate) fn describe(&self) -> String {
        match self {
            FleetTarget::Memory => "an in-memory fleet store".to_string(),
            FleetTarget::Redis(url) => format!("Redis at {url}"),
        }
    }

    /// Checks that the store answers (one lease of no tokens, at most 2 s
    /// of wall time). A fleet scope on a store that does not answer would
    /// run on local state: nothing to compare, so the caller stops.
    pub(crate) fn check(&self) -> Result<(), String> {
        match self {
            FleetTarget::Memory => Ok(()),
            FleetTarget::Redis(_) => {
                let store = self.store()?;
                let rt = super::store::runtime()?;
                rt.block_on(async move {
                    match tokio::time::timeout(
                        Duration::from_secs(2),
                        store.lease_tokens("gateway-demo-probe", 0, 1),
                    )
                    .await
                    {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err("no answer within 2 s".to_string()),
                    }
                })
            }
        }
    }

    /// A store client (a new connection for Redis: one per replica).
    fn store(&self) -> Result<Arc<dyn FleetStore>, String> {
        match self {
            FleetTarget::Memory => Ok(Arc::new(InMemoryFleetStore::new())),
            FleetTarget::Redis(url) => redis_store(url),
        }
    }
}

#[cfg(feature = "store-redis")]
fn redis_store(url: &str) -> Result<Arc<dyn FleetStore>, String> {
    let config = RedisConfig::new(url.to_string()).with_key_prefix("gateway-demo");
    let store = RedisFleetStore::new(&config).map_err(|e| format!("{url}: {e}"))?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "store-redis"))]
fn redis_store(url: &str) -> Result<Arc<dyn FleetStore>, String> {
    Err(format!(
        "{url}: this build has no Redis client; run the demo with `--features store-redis`"
    ))
}

/// Where the worker retries' budget lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// One bucket per replica.
    Local,
    /// One bucket for the fleet.
    Fleet,
}

/// What one scope's run measured, fleet-wide.
#[derive(Debug, Clone)]
pub(crate) struct ScopeRun {
    /// Retries the budgets granted (the retries the fleet sent).
    pub(crate) retries: u64,
    /// The most retries sent in one second of virtual time, and that second.
    pub(crate) peak_per_second: (u64, u64),
    /// Retries the budgets refused.
    pub(crate) refused: u64,
    /// Tokens the granted retries cost.
    pub(crate) tokens_spent: u64,
    /// Tokens the successes handed back (the bucket keeps them up to its
    /// capacity).
    pub(crate) tokens_refunded: u64,
    /// The deepest the fleet drew on its budget: the largest excess of
    /// retry tokens spent over tokens handed back by successes, over any
    /// stretch of the run. The budget's bound: a bucket is never drawn
    /// below empty, so at most its capacity (plus, in fleet scope, the
    /// batches the replicas hold) over any stretch.
    pub(crate) deepest_draw: u64,
    /// Attempts that failed at the workers.
    pub(crate) failed_attempts: u64,
    /// Store round trips of the fleet budgets.
    pub(crate) store_ops: u64,
    /// Replica-seconds a fleet budget spent on local state.
    pub(crate) local_state_seconds: u64,
    /// Each replica's own report (its checks, its counts).
    pub(crate) reports: Vec<Report>,
}

/// The side-by-side comparison of one experiment.
#[derive(Debug, Clone)]
pub(crate) struct FleetReport {
    pub(crate) experiment: Experiment,
    pub(crate) replicas: usize,
    /// The bucket, as `presets/gateway.yaml` sizes it.
    pub(crate) bucket: TokenBucketConfig,
    /// Tokens a replica leases at a time in fleet scope.
    pub(crate) batch: u32,
    pub(crate) local: ScopeRun,
    pub(crate) fleet: ScopeRun,
}

/// The batch a replica leases: the smallest the bucket allows (one retry
/// of the dearest kind), so the fleet's overshoot is as small as it can be.
pub(crate) fn batch(bucket: &TokenBucketConfig) -> u32 {
    bucket.retry_cost.max(bucket.timeout_retry_cost)
}

/// The worker retries' bucket from `presets/gateway.yaml`.
pub(crate) fn shipped_bucket() -> Result<TokenBucketConfig, BoxError> {
    let budget = StackConfig::shipped()?.worker_retry_config()?.budget;
    match budget {
        Some(BudgetConfig::TokenBucket(b)) => Ok(b),
        None => {
            Err("retry.worker_call.budget: missing: the fleet comparison needs a budget".into())
        }
        Some(other) => Err(format!(
            "retry.worker_call.budget: the fleet comparison needs a token bucket, got {other:?}"
        )
        .into()),
    }
}

/// Runs `experiment` on `replicas` gateways, in local scope then in fleet
/// scope on `target`.
pub(crate) fn run(
    experiment: Experiment,
    options: Options,
    replicas: usize,
    target: &FleetTarget,
) -> Result<FleetReport, BoxError> {
    if !(1..=MAX_REPLICAS).contains(&replicas) {
        return Err(
            format!("replicas must be between 1 and {MAX_REPLICAS}, got {replicas}").into(),
        );
    }
    let bucket = shipped_bucket()?;
    let local = run_scope(experiment, options, replicas, Scope::Local, target, &bucket)?;
    let fleet = run_scope(experiment, options, replicas, Scope::Fleet, target, &bucket)?;
    Ok(FleetReport {
        experiment,
        replicas,
        batch: batch(&bucket),
        bucket,
        local,
        fleet,
    })
}

fn run_scope(
    experiment: Experiment,
    options: Options,
    replicas: usize,
    scope: Scope,
    target: &FleetTarget,
    bucket: &TokenBucketConfig,
) -> Result<ScopeRun, BoxError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    let local = tokio::task::LocalSet::new();
    runtime.block_on(local.run_until(run_scope_async(
        experiment, options, replicas, scope, target, bucket,
    )))
}

async fn run_scope_async(
    experiment: Experiment,
    options: Options,
    replicas: usize,
    scope: Scope,
    target: &FleetTarget,
    bucket: &TokenBucketConfig,
) -> Result<ScopeRun, BoxError> {
    let meter = Arc::new(Meter::new());
    let rule = BudgetConfig::TokenBucket(bucket.clone());
    // One key per run: the fleet's bucket starts full.
    let key = format!(
        "gateway-worker-call-{}-{}-{}",
        std::process::id(),
        experiment.name(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    // In memory, the replicas share one store; on Redis, each has its own
    // client (its own connection), as separate processes would.
    let memory = match target {
        FleetTarget::Memory => Some(target.store()?),
        FleetTarget::Redis(_) => None,
    };
    let mut fleet_budgets = Vec::new();
    let mut gateways = Vec::new();
    for i in 0..replicas {
        let budget: Arc<dyn RetryBudget> = match scope {
            Scope::Local => rule.build(TokioClock)?,
            Scope::Fleet => {
                let store: Arc<dyn FleetStore> = match &memory {
                    Some(m) => m.clone(),
                    None => Arc::new(RealTime {
                        inner: target.store()?,
                    }),
                };
                let config = FleetBudgetConfig::with_rule(key.clone(), rule.clone())
                    .with_batch(batch(bucket));
                let b = FleetBudget::start(config, store).await?;
                fleet_budgets.push(b.clone());
                Arc::new(b)
            }
        };
        let metered = Arc::new(Metered {
            inner: budget,
            meter: meter.clone(),
            success_refund: bucket.success_refund,
        });
        let seed = options.seed.wrapping_add(i as u64);
        let events = Arc::new(EventLog::new());
        let gw = Gateway::start_with_budget(seed, events.clone(), Some(metered))?;
        gateways.push((gw, events, Options { seed, ..options }));
    }
    // Replica-seconds on local state, sampled every virtual second.
    let local_state = Arc::new(AtomicU64::new(0));
    {
        let (budgets, local_state) = (fleet_budgets.clone(), local_state.clone());
        tokio::task::spawn_local(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let n = budgets.iter().filter(|b| !b.is_fleet()).count() as u64;
                local_state.fetch_add(n, Ordering::Relaxed);
            }
        });
    }
    let runs: Vec<_> = gateways
        .iter()
        .map(|(gw, events, options)| {
            let (gw, events, options) = (gw.clone(), events.clone(), *options);
            tokio::task::spawn_local(async move {
                let mut quiet = |_: &super::experiments::Progress| {};
                drive(experiment, options, gw, events, &mut quiet).await
            })
        })
        .collect();
    let mut reports = Vec::new();
    for run in runs {
        reports.push(run.await??);
    }
    let failed_attempts = gateways
        .iter()
        .map(|(gw, ..)| gw.stats().failed_attempts)
        .sum();
    let store_ops = fleet_budgets.iter().map(FleetBudget::store_ops).sum();
    let per_second = meter.per_second.lock().clone();
    let peak_per_second = per_second
        .iter()
        .map(|(s, n)| (*n, *s))
        .max_by_key(|(n, s)| (*n, std::cmp::Reverse(*s)))
        .unwrap_or((0, 0));
    Ok(ScopeRun {
        retries: meter.granted.load(Ordering::Relaxed),
        peak_per_second,
        refused: meter.refused.load(Ordering::Relaxed),
        tokens_spent: meter.tokens_spent.load(Ordering::Relaxed),
        tokens_refunded: meter.tokens_refunded.load(Ordering::Relaxed),
        deepest_draw: u64::try_from(meter.draw.lock().deepest).unwrap_or(0),
        failed_attempts,
        store_ops,
        local_state_seconds: local_state.load(Ordering::Relaxed),
        reports,
    })
}

/// Retries counted fleet-wide as the budgets answer.
#[derive(Debug)]
struct Meter {
    start: tokio::time::Instant,
    granted: AtomicU64,
    refused: AtomicU64,
    tokens_spent: AtomicU64,
    tokens_refunded: AtomicU64,
    /// Retries granted per second of virtual time since the start.
    per_second: Mutex<BTreeMap<u64, u64>>,
    draw: Mutex<Draw>,
}

/// The running balance of retry tokens spent minus tokens handed back,
/// and its largest rise over any stretch of the run.
#[derive(Debug, Default)]
struct Draw {
    balance: i64,
    lowest: i64,
    deepest: i64,
}

impl Draw {
    fn add(&mut self, tokens: i64) {
        self.balance += tokens;
        self.lowest = self.lowest.min(self.balance);
        self.deepest = self.deepest.max(self.balance - self.lowest);
    }
}

impl Meter {
    fn new() -> Meter {
        Meter {
            start: tokio::time::Instant::now(),
            granted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            tokens_spent: AtomicU64::new(0),
            tokens_refunded: AtomicU64::new(0),
            per_second: Mutex::new(BTreeMap::new()),
            draw: Mutex::new(Draw::default()),
        }
    }
}

/// A budget that counts what it is asked and what it answers.
struct Metered {
    inner: Arc<dyn RetryBudget>,
    meter: Arc<Meter>,
    success_refund: u32,
}

impl std::fmt::Debug for Metered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metered")
            .field("meter", &self.meter)
            .finish_non_exhaustive()
    }
}

impl RetryBudget for Metered {
    fn record_request(&self) {
        self.inner.record_request();
    }

    fn try_withdraw(&self, class: ErrorClass) -> Option<Withdrawal> {
        let w = self.inner.try_withdraw(class);
        let m = &self.meter;
        match w {
            Some(w) => {
                m.granted.fetch_add(1, Ordering::Relaxed);
                m.tokens_spent
                    .fetch_add(u64::from(w.cost()), Ordering::Relaxed);
                m.draw.lock().add(i64::from(w.cost()));
                let second = m.start.elapsed().as_secs();
                *m.per_second.lock().entry(second).or_default() += 1;
            }
            None => {
                m.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        w
    }

    fn record_success(&self, last: Option<Withdrawal>) {
        let refund = last.map_or(self.success_refund, Withdrawal::cost);
        self.meter
            .tokens_refunded
            .fetch_add(u64::from(refund), Ordering::Relaxed);
        self.meter.draw.lock().add(-i64::from(refund));
        self.inner.record_success(last);
    }

    fn available(&self) -> u64 {
        self.inner.available()
    }
}

/// A store whose calls run on the real-time runtime, holding the paused
/// clock still meanwhile (see the module doc).
#[derive(Debug)]
struct RealTime {
    inner: Arc<dyn FleetStore>,
}

async fn on_real_time<T, F, Fut>(f: F) -> Result<T, FleetError>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, FleetError>>,
{
    let rt = super::store::runtime().map_err(FleetError::Unavailable)?;
    tokio::task::spawn_blocking(move || rt.block_on(f()))
        .await
        .map_err(|e| FleetError::Unavailable(e.to_string()))?
}

impl FleetStore for RealTime {
    fn lease_tokens<'a>(&'a self, key: &'a str, want: u32, capacity: u32) -> FleetFuture<'a, u32> {
        let (s, key) = (self.inner.clone(), key.to_string());
        Box::pin(on_real_time(move || async move {
            s.lease_tokens(&key, want, capacity).await
        }))
    }

    fn lease_ratio<'a>(
        &'a self,
        key: &'a str,
        requests: u64,
        want: u32,
        rule: &'a resilience_core::retry::RatioBudgetConfig,
    ) -> FleetFuture<'a, u32> {
        let (s, key, rule) = (self.inner.clone(), key.to_string(), rule.clone());
        Box::pin(on_real_time(move || async move {
            s.lease_ratio(&key, requests, want, &rule).await
        }))
    }

    fn return_tokens<'a>(
        &'a self,
        key: &'a str,
        tokens: u32,
        capacity: u32,
    ) -> FleetFuture<'a, ()> {
        let (s, key) = (self.inner.clone(), key.to_string());
        Box::pin(on_real_time(move || async move {
            s.return_tokens(&key, tokens, capacity).await
        }))
    }

    fn lease_rate<'a>(
        &'a self,
        key: &'a str,
        want: u32,
        burst: u32,
        per_token: Duration,
    ) -> FleetFuture<'a, u32> {
        let (s, key) = (self.inner.clone(), key.to_string());
        Box::pin(on_real_time(move || async move {
            s.lease_rate(&key, want, burst, per_token).await
        }))
    }

    fn exchange_views<'a>(
        &'a self,
        key: &'a str,
        view: &'a BreakerView,
        ttl: Duration,
    ) -> FleetFuture<'a, Vec<BreakerView>> {
        let (s, key, view) = (self.inner.clone(), key.to_string(), view.clone());
        Box::pin(on_real_time(move || async move {
            s.exchange_views(&key, &view, ttl).await
        }))
    }

    fn acquire_probe<'a>(
        &'a self,
        key: &'a str,
        replica: &'a str,
        slots: u32,
        ttl: Duration,
    ) -> FleetFuture<'a, bool> {
        let (s, key, replica) = (self.inner.clone(), key.to_string(), replica.to_string());
        Box::pin(on_real_time(move || async move {
            s.acquire_probe(&key, &replica, slots, ttl).await
        }))
    }

    fn release_probe<'a>(&'a self, key: &'a str, replica: &'a str) -> FleetFuture<'a, ()> {
        let (s, key, replica) = (self.inner.clone(), key.to_string(), replica.to_string());
        Box::pin(on_real_time(move || async move {
            s.release_probe(&key, &replica).await
        }))
    }
}
