//! The inference gateway: an axum router over a tower stack.
//!
//! ```text
//! POST /v1/generate
//!   degradation gate   dashboard traffic shed at level_2+ (typed 503)                 (tower DegradationLayer)
//!   bulkhead per class dashboard 50 / api 100 / internal 30, timed waits            (tower BulkheadSetLayer)
//!   high resolution    off at level_1+                                               (core DegradationManager)
//!   internal jobs      own workers only; dead-lettered when they fail or while
//!                      deferred (level_3+), replayed later                            (tower DeadLetterLayer, DegradationLayer, Replayer)
//!   fallback chain     workers -> provider_a -> provider_b -> cache (stale)            (tower FallbackLayer)
//!     workers:         global breaker: 10 % of requests, judged after retries        (tower CircuitBreakerLayer)
//!                      retry on another worker (the API-call preset + budget)          (tower RetryLayer + retry hook)
//!                      per-model breakers, judging every attempt                      (tower KeyedCircuitBreakerLayer)
//!                      worker pool: priority queue, per-worker breakers, heartbeats,
//!                      in-flight recovery, scaling                                     (dr, scaling; see workers.rs)
//!     providers:       breaker (the LLM-provider preset) over fault injection          (tower CircuitBreakerLayer, ChaosLayer)
//!   image upload       sync, or async at level_1+ (storage breaker over chaos)         (tower CircuitBreakerLayer, ChaosLayer)
//! GET /status          breaker states, degradation level, fleet, queues (JSON)
//! GET /metrics         Prometheus text (with --serve)
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::Rng;
use resilience_core::bulkhead::BulkheadFull;
use resilience_core::circuit_breaker::{
    CircuitBreaker, CircuitBreakerEvent, CircuitBreakerEventKind, CircuitBreakerRegistry, Outcome,
};
use resilience_core::clock::{Clock, TokioClock};
use resilience_core::config::ConfigError;
use resilience_core::dead_letter::DeadLetterReason;
use resilience_core::degradation::{
    ComponentHealth, DegradationEvent, DegradationManager, FeatureId,
};
use resilience_core::retry::{
    Backoff, Classification, ErrorClass, GiveUpReason, RetryBudget, RetryEvent,
};
use resilience_scaling::rules::{RuleEngine, RuleReason};
use resilience_tower::bulkhead::{BulkheadSetLayer, Pools};
use resilience_tower::chaos::{Chaos, ChaosConfig, ChaosLayer, LatencyFault};
use resilience_tower::circuit_breaker::{CircuitBreakerLayer, KeyedCircuitBreakerLayer};
use resilience_tower::dead_letter::{
    DeadLetterLayer, DeadLetterRefused, DeadLetterWhen, DeadLettered, OpenOrExhausted,
    ReplayConfig, Replayer,
};
use resilience_tower::degradation::{DegradationLayer, FeatureDisabled};
use resilience_tower::error::ErrorKind;
use resilience_tower::fallback::{FallbackExhausted, FallbackLayer, Quality, Served};
use resilience_tower::retry::{original_error, RetryLayer, Retrying};
use serde_json::{json, Value};
use tower::util::BoxCloneSyncService;
use tower::{service_fn, BoxError, Layer, ServiceBuilder, ServiceExt};

use super::events::EventLog;
use super::model::{GenerateRequest, Image, Job, Model, PoolError, TrafficClass};
use super::stack::{Stack, StackConfig};
use super::store::{self, DeadLetters};
use super::workers::{breaker_label, LoadFault, WorkerPool, Zone, QUEUE_DEADLINE};

/// The GPU pool's `min_workers`.
pub(crate) const MIN_WORKERS: u32 = 20;
/// Upload SLO behind the storage health score.
const STORAGE_SLO: Duration = Duration::from_millis(200);
const STORAGE_LATENCY: Duration = Duration::from_millis(50);
const PROVIDER_A_LATENCY: Duration = Duration::from_millis(1_200);
const PROVIDER_B_LATENCY: Duration = Duration::from_millis(2_000);

type Svc<Req, Res> = BoxCloneSyncService<Req, Res, BoxError>;

/// A fault an experiment (or `POST /chaos/...`) injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    KillWorker,
    Partition(bool),
    ModelLoad(Option<LoadFault>),
    StorageLatency(bool),
    ProvidersDown(bool),
}

/// What the gateway counted, for the experiment report.
#[derive(Debug, Default, Clone)]
pub(crate) struct GatewayStats {
    pub(crate) retries: u64,
    pub(crate) retry_budget_refused: u64,
    /// Attempts on the worker pool (first tries and retries) that failed.
    pub(crate) failed_attempts: u64,
    /// (at, breaker, from, to).
    pub(crate) transitions: Vec<(Duration, String, &'static str, &'static str)>,
    /// (at, from, to) severities and names.
    pub(crate) levels: Vec<(Duration, String, String, u8)>,
    pub(crate) max_severity: u8,
    /// (at, from, to, reason).
    pub(crate) scale_events: Vec<(Duration, u32, u32, String)>,
    pub(crate) shed: u64,
    pub(crate) dead_lettered: u64,
    pub(crate) replayed: u64,
    pub(crate) uploads_sync: u64,
    pub(crate) uploads_async: u64,
    pub(crate) uploads_done: u64,
    pub(crate) high_res_downgraded: u64,
}

struct Features {
    high_res: FeatureId,
    image_upload: FeatureId,
}

/// An answer of the gateway: status and JSON body.
type Answer = (StatusCode, Value);

/// The gateway and its background loops.
pub(crate) struct Gateway {
    pub(crate) pool: Arc<WorkerPool>,
    pub(crate) events: Arc<EventLog>,
    model_breakers: Arc<CircuitBreakerRegistry<&'static str>>,
    global_breaker: CircuitBreaker,
    provider_breakers: [CircuitBreaker; 2],
    storage_breaker: CircuitBreaker,
    pub(crate) degradation: Arc<DegradationManager>,
    features: Features,
    /// Degradation gate, then the bulkhead of the request's class, then
    /// [`Gateway::serve`].
    front: Svc<GenerateRequest, Answer>,
    /// Internal jobs: dead-letter queue over the `internal_jobs` gate over
    /// the workers.
    internal: Svc<Job, Image>,
    chain: Svc<Job, Served<Image>>,
    /// Provider A and B behind their breakers (the chain's steps), for
    /// health probes.
    providers: Providers,
    storage: Svc<Image, ()>,
    storage_ewma: Mutex<f64>,
    pub(crate) dlq: DeadLetters,
    providers_chaos: [Chaos; 2],
    storage_chaos: Chaos,
    scaling: Mutex<RuleEngine>,
    /// The last good answer per request (model and prompt): what the stale
    /// step serves, never another request's image.
    cache: StaleCache,
    pub(crate) uploads_pending: AtomicU64,
    stats: Arc<Mutex<GatewayStats>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").finish_non_exhaustive()
    }
}

fn breaker_listener(
    events: &Arc<EventLog>,
    stats: &Arc<Mutex<GatewayStats>>,
) -> impl Fn(&CircuitBreakerEvent) + Send + Sync + 'static {
    let events = events.clone();
    let stats = stats.clone();
    move |e: &CircuitBreakerEvent| {
        if let CircuitBreakerEventKind::StateTransition { from, to, .. } = &e.kind {
            let at = events.since_start(e.at);
            let (from, to) = (breaker_label(*from), breaker_label(*to));
            stats
                .lock()
                .transitions
                .push((at, e.name.to_string(), from, to));
            events.log(format!("breaker {} {from} -> {to}", e.name));
        }
    }
}

/// What the retry layer makes of an attempt on the worker pool.
fn classify_attempt(r: &Result<Image, BoxError>) -> Option<Classification> {
    let e = r.as_ref().err()?;
    Some(match e.downcast_ref::<PoolError>() {
        // Retry on another worker.
        Some(PoolError::ModelLoad { .. }) => ErrorClass::Transient.into(),
        // Saturated or out of recovery retries: fall back instead.
        Some(PoolError::QueueTimeout { .. } | PoolError::RecoveryFailed { .. }) => {
            ErrorClass::Permanent.into()
        }
        // An open breaker: fail fast to the fallback.
        None => ErrorClass::Permanent.into(),
    })
}

/// The retry hook: "retry on a different worker" than the one the model
/// failed to load on.
fn retry_elsewhere(job: &mut Job, retrying: &Retrying<'_, Image>) {
    if let Err(e) = retrying.result {
        if let Some(PoolError::ModelLoad { worker, .. }) = e.downcast_ref() {
            job.avoid = Some(worker.clone());
        }
    }
}

/// What the global breaker counts: requests that failed on the fleet after
/// their retries. An open model breaker (that model is already isolated) and
/// a saturated queue (the bulkheads and degradation handle load) are not
/// counted, so neither can cascade into a global outage.
fn classify_for_global_breaker(r: &Result<Image, BoxError>) -> Outcome {
    match r {
        Ok(_) => Outcome::Success,
        // The retry layer's error keeps the last attempt's.
        Err(e) => match original_error(e).downcast_ref::<PoolError>() {
            Some(PoolError::ModelLoad { .. } | PoolError::RecoveryFailed { .. }) => {
                Outcome::Failure
            }
            _ => Outcome::Ignored,
        },
    }
}

/// Why an internal job goes to the dead-letter queue: every failure of the
/// fleet (internal jobs never go to the external providers), and the
/// `internal_jobs` feature being deferred.
fn dead_letter_reason(e: &BoxError) -> Option<DeadLetterReason> {
    Some(OpenOrExhausted.reason(e).unwrap_or_else(|| {
        DeadLetterReason::Other(match e.downcast_ref::<FeatureDisabled>() {
            Some(off) => format!(
                "internal jobs {} at {}",
                off.mode().unwrap_or("off"),
                off.level().name()
            ),
            None => original_error(e).to_string(),
        })
    }))
}

/// The client's view of an error from the front stack.
fn api_error(e: BoxError) -> ApiError {
    let e = match e.downcast::<ApiError>() {
        Ok(api) => return *api,
        Err(e) => e,
    };
    let e = match e.downcast::<BulkheadFull>() {
        Ok(full) => return ApiError::Bulkhead(*full),
        Err(e) => e,
    };
    match e.downcast_ref::<FeatureDisabled>() {
        Some(off) => ApiError::Shed {
            level: off.level().name().to_string(),
        },
        None => ApiError::Internal(e.to_string()),
    }
}

/// What the per-model breakers count (every attempt).
fn classify_for_model_breaker(r: &Result<Image, PoolError>) -> Outcome {
    match r {
        Ok(_) => Outcome::Success,
        Err(PoolError::ModelLoad { .. }) => Outcome::Failure,
        // A saturated fleet or a dead worker is not the model's fault.
        Err(_) => Outcome::Ignored,
    }
}

impl Gateway {
    /// Builds the gateway from `presets/gateway.yaml` on tokio's clock and
    /// starts its background loops on the current runtime. Each step is a
    /// function below: observability, the primary path, the fallback
    /// chain, the internal-jobs path, storage, the front door, the loops.
    pub(crate) fn start(seed: u64, events: Arc<EventLog>) -> Result<Arc<Gateway>, ConfigError> {
        Self::start_with_budget(seed, events, None)
    }

    /// Like [`start`](Self::start), with `budget` paying for the worker
    /// retries instead of the one `presets/gateway.yaml` configures (one
    /// replica of a fleet, with a local or a fleet-wide budget).
    pub(crate) fn start_with_budget(
        seed: u64,
        events: Arc<EventLog>,
        budget: Option<Arc<dyn RetryBudget>>,
    ) -> Result<Arc<Gateway>, ConfigError> {
        let config = StackConfig::shipped()?;
        let stack = match budget {
            None => Stack::build(&config, TokioClock)?,
            Some(b) => Stack::build_with_budget(&config, TokioClock, Some(b))?,
        };
        let rng = Arc::new(Mutex::new(<StdRng as rand::SeedableRng>::seed_from_u64(
            seed,
        )));
        let stats = Arc::new(Mutex::new(GatewayStats::default()));
        observe(&stack, &events, &stats);
        let gates = Gates::resolve(&stack)?;
        let pool = WorkerPool::new(
            MIN_WORKERS,
            stack.recovery.clone(),
            stack.heartbeats.clone(),
            stack.worker_breakers.clone(),
            rng.clone(),
            events.clone(),
        );
        let primary = primary_path(&stack, &pool, &stats);
        let chaos = |seed: u64| {
            Chaos::new(ChaosConfig {
                seed,
                ..ChaosConfig::default()
            })
        };
        let providers_chaos = [chaos(seed ^ 0xA)?, chaos(seed ^ 0xB)?];
        let cache: StaleCache = Arc::new(Mutex::new(BTreeMap::new()));
        let (chain, providers) =
            fallback_chain(&stack, &rng, &providers_chaos, &cache, primary.clone());
        // In memory by default; PostgreSQL or Redis with --dead-letters.
        let dlq = store::dead_letters()?;
        let (internal, below_dlq) = internal_path(&stack, gates.internal_jobs, primary, &dlq);
        let storage_chaos = chaos(seed ^ 0x5)?;
        let storage = storage_path(&stack, &storage_chaos);
        let global = stack.global.clone();
        let gw = Arc::new_cyclic(|weak: &Weak<Gateway>| Gateway {
            front: front_door(weak, &stack, &gates),
            pool,
            events,
            model_breakers: stack.model_breakers,
            global_breaker: stack.global,
            provider_breakers: [stack.provider_a, stack.provider_b],
            storage_breaker: stack.storage,
            degradation: stack.degradation,
            features: gates.features,
            internal,
            chain,
            providers,
            storage,
            storage_ewma: Mutex::new(STORAGE_LATENCY.as_secs_f64()),
            dlq: dlq.clone(),
            providers_chaos,
            storage_chaos,
            scaling: Mutex::new(stack.scaling),
            cache,
            uploads_pending: AtomicU64::new(0),
            stats,
        });
        gw.spawn_loops(below_dlq, dlq, global)?;
        Ok(gw)
    }

    /// Starts the background loops: dispatcher, heartbeats, health, scaler,
    /// and the replayer of dead-lettered internal jobs (when the global
    /// breaker closes, and every 5 s while it is closed; a job leaves the
    /// queue once its replay succeeded).
    fn spawn_loops(
        self: &Arc<Self>,
        below_dlq: Svc<Job, Image>,
        dlq: DeadLetters,
        global: CircuitBreaker,
    ) -> Result<(), ConfigError> {
        let gw = self;
        let replay = {
            let weak = Arc::downgrade(gw);
            service_fn(move |job: Job| {
                let below = below_dlq.clone();
                let gw = weak.upgrade();
                async move {
                    let img = below.oneshot(job).await?;
                    if let Some(gw) = gw {
                        gw.replayed(img);
                    }
                    Ok::<(), BoxError>(())
                }
            })
        };
        let every = Duration::from_secs(5);
        // A failed replay waits 5 s (no jitter: the same run for the same
        // seed), and a job is never parked: the fleet always recovers here.
        let replay_config = ReplayConfig {
            backoff: Backoff::constant(every),
            max_replays: 1_000,
            ..ReplayConfig::default()
        };
        tokio::spawn(gw.pool.clone().run_dispatcher());
        tokio::spawn(gw.pool.clone().run_heartbeats());
        tokio::spawn(gw.clone().run_health());
        tokio::spawn(gw.clone().run_scaler());
        match dlq {
            DeadLetters::Memory(q) => {
                let replayer = Replayer::new(q, global, replay).also_every(every);
                tokio::spawn(replayer.replay_config(replay_config)?.run());
            }
            DeadLetters::Durable(s) => {
                let replayer = Replayer::new(s, global, replay).also_every(every);
                tokio::spawn(replayer.replay_config(replay_config)?.run());
            }
        }
        Ok(())
    }

    // ---- the request path -------------------------------------------------

    async fn handle(&self, req: GenerateRequest) -> Result<Answer, ApiError> {
        match self.front.clone().oneshot(req).await {
            Ok(answer) => Ok(answer),
            Err(e) => {
                let e = api_error(e);
                if let ApiError::Shed { .. } = e {
                    self.stats.lock().shed += 1;
                }
                Err(e)
            }
        }
    }

    /// Behind the degradation gate and the bulkhead.
    async fn serve(self: Arc<Self>, req: GenerateRequest) -> Result<Answer, ApiError> {
        let high_res = req.high_res && self.degradation.is_enabled(self.features.high_res);
        if req.high_res && !high_res {
            self.stats.lock().high_res_downgraded += 1;
        }
        let job = Job {
            model: req.model,
            class: req.class,
            prompt: Arc::from(req.prompt),
            high_res,
            avoid: None,
        };

        // Internal jobs: own workers only, dead-lettered on failure.
        if req.class == TrafficClass::Internal {
            return match self.internal.clone().oneshot(job).await {
                Ok(img) => Ok(self.respond(img, "workers", false).await),
                Err(e) if e.is::<DeadLettered>() => {
                    self.stats.lock().dead_lettered += 1;
                    Ok((
                        StatusCode::ACCEPTED,
                        json!({ "status": "deferred", "reason": e.to_string(), "replay": "when the fleet recovers" }),
                    ))
                }
                Err(e) => match e.downcast::<DeadLetterRefused<Job>>() {
                    Ok(refused) => Err(ApiError::DeadLetterFull(refused.to_string())),
                    Err(e) => Err(ApiError::Internal(e.to_string())),
                },
            };
        }

        // The fallback chain.
        match self.chain.clone().oneshot(job).await {
            Ok(served) => {
                let stale = served.source.quality() == &Quality::Stale;
                let step = served.source.name().to_string();
                Ok(self.respond(served.response, &step, stale).await)
            }
            Err(e) => match e.downcast_ref::<FallbackExhausted>() {
                Some(exhausted) => Err(ApiError::Unavailable {
                    message: e.to_string(),
                    retry_after: unavailable_for(exhausted),
                }),
                None => Err(ApiError::Internal(e.to_string())),
            },
        }
    }

    /// A dead-lettered internal job went through: count it and store its image.
    fn replayed(self: &Arc<Self>, img: Image) {
        self.stats.lock().replayed += 1;
        self.events.log(format!(
            "dead-letter replay: internal {} job done, {} waiting",
            img.model,
            self.dlq.len().saturating_sub(1)
        ));
        self.upload_later(img);
    }

    /// Uploads the image as the feature matrix says and builds the answer.
    async fn respond(self: &Arc<Self>, img: Image, step: &str, stale: bool) -> (StatusCode, Value) {
        if step == "workers" {
            self.cache
                .lock()
                .insert((img.model, img.prompt.clone()), img.clone());
        }
        let mode = self
            .degradation
            .mode(self.features.image_upload)
            .unwrap_or("sync");
        let upload = if mode == "sync" && !stale {
            self.stats.lock().uploads_sync += 1;
            match self.upload(img.clone()).await {
                Ok(()) => "stored",
                Err(_) => {
                    self.upload_later(img.clone());
                    "pending"
                }
            }
        } else if stale {
            "cached"
        } else {
            self.upload_later(img.clone());
            "pending"
        };
        (
            StatusCode::OK,
            json!({
                "served_by": &*img.by,
                "prompt": &*img.prompt,
                "step": step,
                "stale": stale,
                "high_res": img.high_res,
                "upload": upload,
            }),
        )
    }

    async fn upload(&self, img: Image) -> Result<(), BoxError> {
        let start = tokio::time::Instant::now();
        let r = self.storage.clone().oneshot(img).await;
        let took = start.elapsed().as_secs_f64();
        {
            let mut ewma = self.storage_ewma.lock();
            *ewma = 0.8 * *ewma + 0.2 * took;
        }
        if r.is_ok() {
            self.stats.lock().uploads_done += 1;
        }
        r
    }

    /// Uploads in the background until it succeeds ("images eventually
    /// delivered").
    fn upload_later(self: &Arc<Self>, img: Image) {
        self.stats.lock().uploads_async += 1;
        self.uploads_pending.fetch_add(1, Ordering::Relaxed);
        let gw = self.clone();
        tokio::spawn(async move {
            while gw.upload(img.clone()).await.is_err() {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            gw.uploads_pending.fetch_sub(1, Ordering::Relaxed);
        });
    }

    // ---- background loops -------------------------------------------------

    /// Every second: a health sweep into the degradation manager.
    async fn run_health(self: Arc<Self>) {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let view = self.pool.view();
            let workers = f64::from(view.routable) / f64::from(view.target.max(MIN_WORKERS));
            let queue = 1.0 - view.expected_wait().as_secs_f64() / QUEUE_DEADLINE.as_secs_f64();
            let storage = STORAGE_SLO.as_secs_f64() / self.storage_ewma.lock().max(1e-9);
            let provider = |b: &CircuitBreaker| match b.state() {
                resilience_core::circuit_breaker::CircuitState::Open => 0.0,
                resilience_core::circuit_breaker::CircuitState::HalfOpen => 0.5,
                _ => 1.0,
            };
            let mut sweep = Vec::new();
            for (name, score) in [
                ("workers", workers),
                ("queue", queue),
                ("storage", storage),
                ("provider_a", provider(&self.provider_breakers[0])),
                ("provider_b", provider(&self.provider_breakers[1])),
            ] {
                if let Some(id) = self.degradation.component(name) {
                    sweep.push((id, ComponentHealth::Score(score.clamp(0.0, 1.0))));
                }
            }
            if let Err(e) = self.degradation.report_all(&sweep) {
                self.events.log(format!("health sweep rejected: {e}"));
            }
            self.probe_half_open_providers();
        }
    }

    /// A half-open provider whose breaker sees no traffic (the workers
    /// answer everything) would stay half-open, and its health at 0.5,
    /// forever: send it one probe, which is the breaker's trial call. A
    /// probe in flight holds the only trial slot, so at most one per
    /// provider is outstanding.
    fn probe_half_open_providers(self: &Arc<Self>) {
        for (breaker, provider) in self.provider_breakers.iter().zip(&self.providers) {
            if breaker.state() != resilience_core::circuit_breaker::CircuitState::HalfOpen {
                continue;
            }
            let probe = Job {
                model: Model::Sdxl,
                class: TrafficClass::Internal,
                prompt: Arc::from("health probe"),
                high_res: false,
                avoid: None,
            };
            let provider = provider.clone();
            tokio::spawn(async move {
                let _ = provider.oneshot(probe).await;
            });
        }
    }

    /// Every 5 s: the GPU pool policy on the queue metrics.
    async fn run_scaler(self: Arc<Self>) {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let view = self.pool.view();
            let depth = |c: TrafficClass| f64::from(view.queued.get(&c).copied().unwrap_or(0));
            let wait = |c: TrafficClass| {
                view.mean_wait
                    .get(&c)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0)
            };
            let utilization = if view.ready == 0 {
                0.0
            } else {
                100.0 * f64::from(view.busy) / f64::from(view.ready)
            };
            let metrics = [
                ("turbo_queue_depth", depth(TrafficClass::Internal)),
                ("fast_queue_depth", depth(TrafficClass::Api)),
                ("relax_queue_depth", depth(TrafficClass::Dashboard)),
                ("fast_avg_wait", wait(TrafficClass::Api)),
                ("relax_avg_wait", wait(TrafficClass::Dashboard)),
                ("all_queue_depth", f64::from(view.queued_total())),
                ("gpu_utilization", utilization),
            ];
            let now = TokioClock.now();
            let decision = self
                .scaling
                .lock()
                .evaluate_named(now, view.target, &metrics);
            if !decision.is_rescale() {
                continue;
            }
            let reason = match &decision.reason {
                RuleReason::ScaleUp { rule, value } => format!("{rule} = {value:.0}"),
                RuleReason::RaisedToMinimum => "below min_workers".to_string(),
                other => other.to_string(),
            };
            self.stats.lock().scale_events.push((
                self.events.elapsed(),
                decision.current_replicas,
                decision.replicas,
                reason.clone(),
            ));
            self.events.log(format!(
                "scaling: {} -> {} workers ({reason})",
                decision.current_replicas, decision.replicas
            ));
            if decision.replicas > decision.current_replicas {
                self.pool
                    .scale_up(decision.replicas - decision.current_replicas);
            } else {
                self.pool
                    .scale_down(decision.current_replicas - decision.replicas);
            }
        }
    }

    // ---- faults -----------------------------------------------------------

    pub(crate) fn inject(&self, fault: Fault) {
        match fault {
            Fault::KillWorker => match self.pool.kill_random_busy_worker() {
                Some(id) => self
                    .events
                    .log(format!("CHAOS: worker {id} killed mid-request")),
                None => self.events.log("CHAOS: no busy worker to kill"),
            },
            Fault::Partition(on) => {
                self.pool.partition(on.then_some(Zone::Az1));
                self.events.log(if on {
                    "CHAOS: zone az-1 partitioned from the gateway"
                } else {
                    "CHAOS: partition healed"
                });
            }
            Fault::ModelLoad(f) => {
                self.pool.set_load_fault(f);
                self.events.log(match f {
                    Some(LoadFault::HalfTheFleet(m)) => {
                        format!("CHAOS: {m} fails to load on every other worker")
                    }
                    Some(LoadFault::Everywhere(m)) => {
                        format!("CHAOS: {m} fails to load on every worker")
                    }
                    None => "CHAOS: model registry fixed".to_string(),
                });
            }
            Fault::StorageLatency(on) => {
                let latency = on.then(|| LatencyFault::fixed(1.0, Duration::from_millis(500)));
                if self.storage_chaos.set_latency(latency).is_ok() {
                    if on {
                        self.storage_chaos.enable();
                    } else {
                        self.storage_chaos.disable();
                    }
                }
                self.events.log(if on {
                    "CHAOS: +500 ms on every storage operation"
                } else {
                    "CHAOS: storage latency back to normal"
                });
            }
            Fault::ProvidersDown(on) => {
                for c in &self.providers_chaos {
                    if c.set_error_rate(if on { 1.0 } else { 0.0 }).is_ok() {
                        if on {
                            c.enable();
                        } else {
                            c.disable();
                        }
                    }
                }
                self.events.log(if on {
                    "CHAOS: both providers down"
                } else {
                    "CHAOS: providers back"
                });
            }
        }
    }

    // ---- views ------------------------------------------------------------

    pub(crate) fn stats(&self) -> GatewayStats {
        self.stats.lock().clone()
    }

    /// Breaker states by name, sorted.
    pub(crate) fn breaker_states(&self) -> BTreeMap<String, &'static str> {
        let mut out = BTreeMap::new();
        out.insert(
            self.global_breaker.name().to_string(),
            breaker_label(self.global_breaker.state()),
        );
        for (k, s) in self.model_breakers.states() {
            out.insert(format!("model:{k}"), breaker_label(s));
        }
        for (k, s) in self.pool.breakers().states() {
            out.insert(format!("worker:{k}"), breaker_label(s));
        }
        for b in self.provider_breakers.iter().chain([&self.storage_breaker]) {
            out.insert(b.name().to_string(), breaker_label(b.state()));
        }
        out
    }

    /// The `/status` document.
    pub(crate) fn status(&self) -> Value {
        let level = self.degradation.level();
        let snapshot = self.degradation.snapshot();
        let matrix: BTreeMap<&str, Option<&str>> = [
            "high_resolution",
            "image_upload",
            "dashboard_traffic",
            "internal_jobs",
            "api_traffic",
        ]
        .into_iter()
        .map(|f| (f, self.degradation.mode_by_name(f)))
        .collect();
        let view = self.pool.view();
        let workers: BTreeMap<String, Value> = view
            .workers
            .iter()
            .map(|(id, status, breaker)| {
                (
                    id.to_string(),
                    json!({ "status": status, "breaker": breaker }),
                )
            })
            .collect();
        let queued: BTreeMap<&str, u32> =
            view.queued.iter().map(|(c, n)| (c.as_str(), *n)).collect();
        json!({
            "degradation": {
                "level": level.name(),
                "severity": level.severity(),
                "health": snapshot.overall,
                "features": matrix,
            },
            "breakers": self.breaker_states(),
            "fleet": {
                "target": view.target,
                "ready": view.ready,
                "warming": view.warming,
                "unhealthy": view.unhealthy,
                "busy": view.busy,
                "routable": view.routable,
                "workers": workers,
            },
            "queue": {
                "depth": view.queued_total(),
                "by_class": queued,
                "mean_wait_s": view.mean_wait_all().as_secs_f64(),
                "expected_wait_s": view.expected_wait().as_secs_f64(),
            },
            "dead_letter": { "depth": self.dlq.len() },
            "uploads_pending": self.uploads_pending.load(Ordering::Relaxed),
        })
    }

    /// The HTTP surface. `metrics` adds `GET /metrics`; `chaos` adds
    /// `POST /chaos/{fault}/{on|off}`.
    pub(crate) fn router(
        self: &Arc<Self>,
        metrics: Option<PrometheusHandle>,
        chaos: bool,
    ) -> Router {
        let mut router = Router::new()
            .route("/v1/generate", post(generate))
            .route("/status", get(status));
        if let Some(handle) = metrics {
            router = router.route("/metrics", get(move || std::future::ready(handle.render())));
        }
        if chaos {
            router = router.route("/chaos/{fault}/{action}", post(chaos_switch));
        }
        router.with_state(self.clone())
    }
}

async fn generate(State(gw): State<Arc<Gateway>>, Json(req): Json<GenerateRequest>) -> Response {
    match gw.handle(req).await {
        Ok((status, body)) => (status, Json(body)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn status(State(gw): State<Arc<Gateway>>) -> Json<Value> {
    Json(gw.status())
}

async fn chaos_switch(
    State(gw): State<Arc<Gateway>>,
    Path((fault, action)): Path<(String, String)>,
) -> Response {
    let on = match action.as_str() {
        "on" => true,
        "off" => false,
        _ => return (StatusCode::BAD_REQUEST, "action must be `on` or `off`\n").into_response(),
    };
    let f = match fault.as_str() {
        "worker-kill" if on => Fault::KillWorker,
        "network-partition" => Fault::Partition(on),
        "model-load-failure" => Fault::ModelLoad(on.then_some(LoadFault::Everywhere(Model::Sd3))),
        "storage-latency" => Fault::StorageLatency(on),
        "providers-down" => Fault::ProvidersDown(on),
        _ => {
            return (
                StatusCode::NOT_FOUND,
                "faults: worker-kill (on), network-partition, model-load-failure, storage-latency, providers-down\n",
            )
                .into_response()
        }
    };
    gw.inject(f);
    (StatusCode::OK, format!("{fault} {action}\n")).into_response()
}

/// A typed rejection, as the client sees it.
/// The degradation features the gateway gates on.
struct Gates {
    features: Features,
    dashboard: FeatureId,
    api: FeatureId,
    internal_jobs: FeatureId,
}

impl Gates {
    fn resolve(stack: &Stack) -> Result<Gates, ConfigError> {
        let feature = |name: &str| {
            stack.degradation.feature(name).ok_or_else(|| {
                ConfigError::invalid(
                    format!("degradation.features.{name}"),
                    "missing: the gateway needs it",
                )
            })
        };
        Ok(Gates {
            features: Features {
                high_res: feature("high_resolution")?,
                image_upload: feature("image_upload")?,
            },
            dashboard: feature("dashboard_traffic")?,
            api: feature("api_traffic")?,
            internal_jobs: feature("internal_jobs")?,
        })
    }
}

/// Observability: every breaker transition, retry and level change goes to
/// the event log and the stats.
fn observe(stack: &Stack, events: &Arc<EventLog>, stats: &Arc<Mutex<GatewayStats>>) {
    let on_breaker = Arc::new(breaker_listener(events, stats));
    let model_breakers = &stack.model_breakers;
    let worker_breakers = &stack.worker_breakers;
    let f = on_breaker.clone();
    model_breakers.on_create(move |_, b| {
        let f = f.clone();
        b.on_event(move |e| f(e));
    });
    let f = on_breaker.clone();
    worker_breakers.on_create(move |_, b| {
        let f = f.clone();
        b.on_event(move |e| f(e));
    });
    for b in [
        &stack.global,
        &stack.provider_a,
        &stack.provider_b,
        &stack.storage,
    ] {
        let f = on_breaker.clone();
        b.on_event(move |e| f(e));
    }
    {
        let stats = stats.clone();
        stack
            .worker_retry
            .listeners()
            .add_fn(move |e: &RetryEvent| match e {
                RetryEvent::Retry { .. } => stats.lock().retries += 1,
                RetryEvent::GaveUp {
                    reason: GiveUpReason::BudgetExhausted,
                    ..
                } => stats.lock().retry_budget_refused += 1,
                _ => {}
            });
    }
    {
        let stats = stats.clone();
        let events = events.clone();
        stack
            .degradation
            .listeners()
            .add_fn(move |e: &DegradationEvent| {
                let mut s = stats.lock();
                s.max_severity = s.max_severity.max(e.current.severity());
                s.levels.push((
                    events.elapsed(),
                    e.previous.name().to_string(),
                    e.current.name().to_string(),
                    e.current.severity(),
                ));
                drop(s);
                events.log(format!(
                    "degradation {} -> {} (health {:.2})",
                    e.previous.name(),
                    e.current.name(),
                    e.snapshot.overall
                ));
            });
    }
}

/// The primary path: the global breaker over the retry over the per-model
/// breakers over the worker pool.
fn primary_path(
    stack: &Stack,
    pool: &Arc<WorkerPool>,
    stats: &Arc<Mutex<GatewayStats>>,
) -> Svc<Job, Image> {
    let pool_svc = {
        let pool = pool.clone();
        let stats = stats.clone();
        service_fn(move |job: Job| {
            let (pool, stats) = (pool.clone(), stats.clone());
            async move {
                let r = pool.generate(job).await;
                if r.is_err() {
                    stats.lock().failed_attempts += 1;
                }
                r
            }
        })
    };
    let guarded =
        KeyedCircuitBreakerLayer::for_requests::<Job>(stack.model_breakers.clone(), |job| {
            job.model.as_str()
        })
        .with_classifier(classify_for_model_breaker)
        .layer(pool_svc);
    let primary = ServiceBuilder::new()
        // The global breaker judges requests, after their retries.
        .layer(
            CircuitBreakerLayer::new(stack.global.clone())
                .with_classifier(classify_for_global_breaker),
        )
        .layer(
            RetryLayer::new(stack.worker_retry.clone())
                .with_classifier(classify_attempt)
                .on_retry(retry_elsewhere),
        )
        .service(guarded);
    BoxCloneSyncService::new(primary)
}

/// The fallback chain: workers, then provider A, provider B, then the
/// stale cache (per request).
fn fallback_chain(
    stack: &Stack,
    rng: &Arc<Mutex<StdRng>>,
    providers_chaos: &[Chaos; 2],
    cache: &StaleCache,
    primary: Svc<Job, Image>,
) -> (Svc<Job, Served<Image>>, Providers) {
    let provider =
        |name: &'static str, latency: Duration, breaker: &CircuitBreaker, chaos: &Chaos| {
            let rng = rng.clone();
            ServiceBuilder::new()
                .layer(CircuitBreakerLayer::new(breaker.clone()))
                .layer(ChaosLayer::new(chaos.clone()))
                .service(service_fn(move |job: Job| {
                    let jitter: f64 = rng.lock().random_range(0.8..1.2);
                    async move {
                        tokio::time::sleep(latency.mul_f64(jitter)).await;
                        Ok::<_, BoxError>(Image {
                            model: job.model,
                            prompt: job.prompt,
                            by: Arc::from(name),
                            high_res: job.high_res,
                        })
                    }
                }))
        };
    let provider_a = provider(
        "provider_a",
        PROVIDER_A_LATENCY,
        &stack.provider_a,
        &providers_chaos[0],
    );
    let provider_b = provider(
        "provider_b",
        PROVIDER_B_LATENCY,
        &stack.provider_b,
        &providers_chaos[1],
    );
    let cache_svc = {
        let cache = cache.clone();
        service_fn(move |job: Job| {
            let hit = cache.lock().get(&(job.model, job.prompt.clone())).cloned();
            async move {
                hit.map(|img| Image {
                    by: Arc::from("cache"),
                    ..img
                })
                .ok_or_else(|| {
                    BoxError::from(format!("no cached image for this {} prompt", job.model))
                })
            }
        })
    };
    let provider_a: Svc<Job, Image> = BoxCloneSyncService::new(provider_a);
    let provider_b: Svc<Job, Image> = BoxCloneSyncService::new(provider_b);
    let providers = [provider_a.clone(), provider_b.clone()];
    let chain = FallbackLayer::new("workers")
        .or("provider_a", provider_a)
        .or("provider_b", provider_b)
        .or_stale("cache", cache_svc)
        .layer(primary);
    (BoxCloneSyncService::new(chain), providers)
}

/// Internal jobs: their own workers only. While the matrix defers them
/// (`deferred` is a disabled mode), and whenever the fleet fails them,
/// they wait in the dead-letter queue; the replayer sends them through the
/// same gate and workers again. Returns the path and the part below the
/// queue (what replays call).
fn internal_path(
    stack: &Stack,
    internal_jobs: FeatureId,
    primary: Svc<Job, Image>,
    dlq: &DeadLetters,
) -> (Svc<Job, Image>, Svc<Job, Image>) {
    let below_dlq = DegradationLayer::new(stack.degradation.clone(), move |_: &Job| internal_jobs)
        .layer(primary);
    let below_dlq: Svc<Job, Image> = BoxCloneSyncService::new(below_dlq);
    let internal: Svc<Job, Image> = match dlq {
        DeadLetters::Memory(q) => BoxCloneSyncService::new(
            DeadLetterLayer::new("internal_jobs", q.clone())
                .when(dead_letter_reason)
                .layer(below_dlq.clone()),
        ),
        DeadLetters::Durable(s) => BoxCloneSyncService::new(
            DeadLetterLayer::with_store(s.clone())
                .when(dead_letter_reason)
                .layer(below_dlq.clone()),
        ),
    };
    (internal, below_dlq)
}

/// Object storage: its breaker over fault injection.
fn storage_path(stack: &Stack, storage_chaos: &Chaos) -> Svc<Image, ()> {
    let storage = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(stack.storage.clone()))
        .layer(ChaosLayer::new(storage_chaos.clone()))
        .service(service_fn(|_img: Image| async {
            tokio::time::sleep(STORAGE_LATENCY).await;
            Ok::<(), BoxError>(())
        }));
    BoxCloneSyncService::new(storage)
}

/// The request path's front door: shed by class, then a permit from the
/// class's pool, held until the answer is built.
fn front_door(weak: &Weak<Gateway>, stack: &Stack, gates: &Gates) -> Svc<GenerateRequest, Answer> {
    let (dashboard, api) = (gates.dashboard, gates.api);
    let pools = Pools::new(stack.bulkheads.clone());
    let degradation = &stack.degradation;
    let serve = {
        let weak = weak.clone();
        service_fn(move |req: GenerateRequest| {
            let gw = weak.upgrade();
            async move {
                match gw {
                    Some(gw) => gw.serve(req).await.map_err(BoxError::from),
                    None => Err(ApiError::Internal("the gateway stopped".into()).into()),
                }
            }
        })
    };
    let front = ServiceBuilder::new()
        .layer(DegradationLayer::new(
            degradation.clone(),
            move |r: &GenerateRequest| match r.class {
                TrafficClass::Dashboard => Some(dashboard),
                TrafficClass::Api => Some(api),
                TrafficClass::Internal => None,
            },
        ))
        .layer(BulkheadSetLayer::by_name(pools, |r: &GenerateRequest| {
            r.class.as_str()
        }))
        .service(serve);
    let front: Svc<GenerateRequest, Answer> = BoxCloneSyncService::new(front);
    BoxCloneSyncService::new(front)
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{0}")]
    Bulkhead(#[from] BulkheadFull),
    #[error("dashboard traffic is shed while the gateway is degraded ({level}); retry later")]
    Shed { level: String },
    #[error("every provider failed: {message}")]
    Unavailable {
        message: String,
        /// When a step is expected back: the soonest `retry_after` of the
        /// steps whose breaker refused the call.
        retry_after: Option<Duration>,
    },
    #[error("the dead-letter queue is full: {0}")]
    DeadLetterFull(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, retry_after) = match &self {
            ApiError::Bulkhead(e) => (
                StatusCode::TOO_MANY_REQUESTS,
                "bulkhead_full",
                Some(e.max_wait()),
            ),
            ApiError::Shed { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "shed",
                Some(Duration::from_secs(10)),
            ),
            ApiError::Unavailable { retry_after, .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                // No breaker said when: a short hint, as for load shedding.
                Some(retry_after.unwrap_or(UNAVAILABLE_HINT)),
            ),
            ApiError::DeadLetterFull(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "dead_letter_full",
                Some(UNAVAILABLE_HINT),
            ),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
        };
        let body = json!({
            "error": code,
            "message": self.to_string(),
            "retry_after_ms": retry_after.map(|d| d.as_millis() as u64),
        });
        let mut response = (status, Json(body)).into_response();
        if let Some(wait) = retry_after {
            // Whole seconds, rounded up: a client never comes back early.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

/// Provider A and B behind their breakers.
type Providers = [Svc<Job, Image>; 2];

/// The last good image per request (model, prompt).
type StaleCache = Arc<Mutex<BTreeMap<(Model, Arc<str>), Image>>>;

/// The `Retry-After` of a 503 when no breaker gave a time.
const UNAVAILABLE_HINT: Duration = Duration::from_secs(5);

/// The soonest time a step of an exhausted fallback chain may answer again:
/// the smallest `retry_after` among the steps refused by an open breaker.
fn unavailable_for(exhausted: &FallbackExhausted) -> Option<Duration> {
    exhausted
        .failures
        .iter()
        .filter_map(|step| ErrorKind::of(&step.error).retry_after())
        .min()
}
