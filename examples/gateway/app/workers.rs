//! The simulated GPU worker fleet behind the gateway.
//!
//! Requests wait in the recovery crate's [`InFlightTracker`] (priority
//! order, the platform's queue manager) until the dispatcher hands them to a
//! free worker whose per-worker breaker permits a call. Workers beat every
//! 10 s into a [`HeartbeatMonitor`]; one that goes quiet for 30 s is declared
//! unhealthy and the tracker recovers what it held (requeue if not started,
//! retry after the platform's backoff if it was generating). Every worker runs
//! one generation at a time, like a GPU.
//!
//! New workers warm up and leaving workers drain through the scaling
//! crate's [`WorkerLifecycle`]: a scale-up loads the popular models (the
//! top 3 by traffic share) before the worker takes traffic, and a
//! scale-down stops giving a worker new requests and terminates it once
//! the one it is generating has finished.
//!
//! Nothing here is real: generation is a `tokio::time::sleep`, a partition
//! is a flag, a dead worker is one whose results never come back.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::Rng;
use resilience_core::circuit_breaker::{CircuitBreakerRegistry, CircuitState, KeyedPermit};
use resilience_dr::health::{HealthState, HeartbeatMonitor};
use resilience_dr::recovery::{Disposition, InFlightTracker, RecoveryReport, RequestState};
use resilience_dr::FailureKind;
use resilience_scaling::lifecycle::{
    LifecycleConfig, LifecycleEvent, WorkerLifecycle, WorkerState,
};
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

use super::events::EventLog;
use super::model::{Image, Job, Model, PoolError, TrafficClass};

/// How long a worker needs to boot and load the popular models ("Warm Up:
/// load popular models").
pub(crate) const WARM_UP: Duration = Duration::from_secs(20);
/// A queued request no worker started within this time falls back.
pub(crate) const QUEUE_DEADLINE: Duration = Duration::from_secs(15);
/// Dispatching to an unreachable worker fails after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Loading a model that turns out to be corrupt takes this long.
const LOAD_FAILURE_TIME: Duration = Duration::from_secs(1);

/// Availability zone of a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Zone {
    Az1,
    Az2,
}

impl Zone {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Zone::Az1 => "az-1",
            Zone::Az2 => "az-2",
        }
    }
}

/// Which workers fail to load a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoadFault {
    /// A corrupt local cache on every other worker.
    HalfTheFleet(Model),
    /// A bad registry push: every worker.
    Everywhere(Model),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Warming,
    Ready,
    /// Its instance is gone (declared dead after a heartbeat timeout).
    Terminated,
}

#[derive(Debug)]
struct Worker {
    index: u32,
    zone: Zone,
    status: Status,
    /// The simulation's truth: the process is dead.
    killed: bool,
    /// The gateway's view: missed its heartbeats.
    unhealthy: bool,
    busy: Option<u64>,
    /// Scaled down: takes no new request, terminates when its current one
    /// is done.
    draining: bool,
    next_beat: Instant,
}

#[derive(Debug)]
struct Waiter {
    tx: oneshot::Sender<Result<Image, PoolError>>,
    job: Job,
    /// Set while the request waits for a worker.
    queued_since: Option<Instant>,
    started_once: bool,
}

#[derive(Debug, Default)]
struct State {
    workers: BTreeMap<Arc<str>, Worker>,
    waiters: HashMap<u64, Waiter>,
    cursor: usize,
    next_index: u32,
    partitioned: Option<Zone>,
    load_fault: Option<LoadFault>,
}

/// What the pool did, for the experiment report.
#[derive(Debug, Default, Clone)]
pub(crate) struct PoolStats {
    pub(crate) generated: u64,
    pub(crate) model_load_failures: u64,
    /// Requests that were on a failed worker: (worker, request id, disposition, at).
    pub(crate) recovered: Vec<(Arc<str>, u64, &'static str)>,
    /// Recovered requests that a worker later finished.
    pub(crate) recovered_done: u64,
    /// Requests whose recovery ran out of retries.
    pub(crate) recovery_failed: u64,
    /// (worker, seconds from the kill or partition to it being declared unhealthy).
    pub(crate) detections: Vec<(Arc<str>, Duration)>,
    /// Workers started by scaling decisions (including replacements).
    pub(crate) started_workers: u64,
    /// Workers terminated after their process died.
    pub(crate) terminated_workers: u64,
    /// Dispatches that failed because the worker was unreachable.
    pub(crate) dispatch_failures: u64,
    /// Queue waits of started requests, per class.
    pub(crate) queue_waits: BTreeMap<TrafficClass, Vec<Duration>>,
    /// Requests served by each zone while a zone was partitioned.
    pub(crate) served_during_partition: BTreeMap<&'static str, u64>,
}

/// A view of the fleet for health, scaling and `/status`.
#[derive(Debug, Clone, Default)]
pub(crate) struct FleetView {
    /// Workers not terminated (the scaler's current count).
    pub(crate) target: u32,
    pub(crate) ready: u32,
    pub(crate) warming: u32,
    pub(crate) unhealthy: u32,
    pub(crate) busy: u32,
    /// Ready, healthy and with a breaker that is not open.
    pub(crate) routable: u32,
    pub(crate) queued: BTreeMap<TrafficClass, u32>,
    /// Mean time the queued requests of each class have waited so far.
    pub(crate) mean_wait: BTreeMap<TrafficClass, Duration>,
    pub(crate) workers: Vec<(Arc<str>, &'static str, &'static str)>,
}

impl FleetView {
    pub(crate) fn queued_total(&self) -> u32 {
        self.queued.values().sum()
    }

    /// How long a request joining the queue now would wait: the backlog
    /// over the routable workers' throughput.
    pub(crate) fn expected_wait(&self) -> Duration {
        Model::mean_generation_time() * self.queued_total() / self.routable.max(1)
    }

    /// Mean queue wait over every queued request.
    pub(crate) fn mean_wait_all(&self) -> Duration {
        let n = self.queued_total();
        if n == 0 {
            return Duration::ZERO;
        }
        let total: Duration = self
            .mean_wait
            .iter()
            .map(|(c, w)| w.saturating_mul(self.queued.get(c).copied().unwrap_or(0)))
            .sum();
        total / n
    }
}

/// The fleet.
pub(crate) struct WorkerPool {
    tracker: Arc<InFlightTracker<u64, String>>,
    heartbeats: Arc<HeartbeatMonitor<String>>,
    breakers: Arc<CircuitBreakerRegistry<String>>,
    state: Mutex<State>,
    stats: Mutex<PoolStats>,
    notify: Notify,
    next_id: AtomicU64,
    rng: Arc<Mutex<StdRng>>,
    events: Arc<EventLog>,
    /// Warm-up and drain of each worker, on tokio's clock.
    lifecycle: WorkerLifecycle<Arc<str>>,
    /// When the current kill or partition began.
    fault_began: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPool").finish_non_exhaustive()
    }
}

impl WorkerPool {
    /// A fleet of `size` warm workers, alternating between two zones.
    pub(crate) fn new(
        size: u32,
        tracker: Arc<InFlightTracker<u64, String>>,
        heartbeats: Arc<HeartbeatMonitor<String>>,
        breakers: Arc<CircuitBreakerRegistry<String>>,
        rng: Arc<Mutex<StdRng>>,
        events: Arc<EventLog>,
    ) -> Arc<Self> {
        let pool = Arc::new(WorkerPool {
            tracker,
            heartbeats,
            breakers,
            state: Mutex::new(State::default()),
            stats: Mutex::new(PoolStats::default()),
            notify: Notify::new(),
            next_id: AtomicU64::new(1),
            rng,
            events,
            lifecycle: WorkerLifecycle::with_clock(
                LifecycleConfig::default(),
                resilience_core::clock::TokioClock,
            )
            .expect("the default lifecycle config is valid"),
            fault_began: Mutex::new(None),
        });
        for _ in 0..size {
            pool.add_worker(true);
        }
        pool
    }

    fn add_worker(&self, warm: bool) -> Arc<str> {
        let now = Instant::now();
        let mut st = self.state.lock();
        let index = st.next_index;
        st.next_index += 1;
        let id: Arc<str> = Arc::from(format!("w{index:02}"));
        let zone = if index % 2 == 0 { Zone::Az1 } else { Zone::Az2 };
        // Spread the heartbeats over the 10 s interval.
        let phase = Duration::from_millis(u64::from(index % 10) * 1_000);
        st.workers.insert(
            id.clone(),
            Worker {
                index,
                zone,
                status: if warm { Status::Ready } else { Status::Warming },
                killed: false,
                unhealthy: false,
                busy: None,
                draining: false,
                next_beat: now + phase,
            },
        );
        drop(st);
        if warm {
            // Already warm (the fleet at start): ready at once.
            self.lifecycle.scale_up(id.clone(), Vec::new());
            self.heartbeats.register(id.to_string());
        }
        id
    }

    /// The models a new worker loads before it serves: the top ones by
    /// traffic share.
    fn popular_models(&self) -> Vec<String> {
        let demand: Vec<(&str, f64)> = Model::ALL
            .iter()
            .map(|m| (m.as_str(), f64::from(m.share())))
            .collect();
        self.lifecycle.popular_models(&demand)
    }

    /// A worker the lifecycle says is warm starts serving.
    fn warmed(&self, id: &Arc<str>) {
        let mut st = self.state.lock();
        if let Some(w) = st.workers.get_mut(id) {
            if w.status == Status::Warming {
                w.status = Status::Ready;
                w.next_beat = Instant::now();
            }
        }
        drop(st);
        self.heartbeats.register(id.to_string());
        self.notify.notify_one();
    }

    /// A worker the lifecycle says is drained is terminated.
    fn drained(&self, event: &LifecycleEvent<Arc<str>>) {
        let id = &event.worker;
        if let Some(w) = self.state.lock().workers.get_mut(id) {
            w.status = Status::Terminated;
            w.draining = false;
        }
        self.lifecycle.remove(id);
        self.heartbeats.remove(&id.to_string());
        self.events
            .log(format!("worker {id} drained and terminated"));
    }

    /// Starts `n` new workers; each loads the popular models (together
    /// [`WARM_UP`]) and serves once the lifecycle says it is warm.
    pub(crate) fn scale_up(self: &Arc<Self>, n: u32) {
        let models = self.popular_models();
        for _ in 0..n {
            let id = self.add_worker(false);
            self.stats.lock().started_workers += 1;
            self.lifecycle.scale_up(id.clone(), models.clone());
            let pool = self.clone();
            let models = models.clone();
            tokio::spawn(async move {
                let per_model = WARM_UP / u32::try_from(models.len().max(1)).unwrap_or(1);
                for m in &models {
                    tokio::time::sleep(per_model).await;
                    pool.lifecycle.model_loaded(&id, m);
                }
                if pool.lifecycle.state(&id) == Some(WorkerState::Ready) {
                    pool.warmed(&id);
                    pool.events.log(format!(
                        "worker {id} warm ({} loaded), serving",
                        models.join(", ")
                    ));
                }
            });
        }
    }

    /// Scales down by `n` workers: the lifecycle picks them (idle ones
    /// first); an idle one terminates at once, a busy one drains (takes no
    /// new request) and terminates when its request is done.
    pub(crate) fn scale_down(&self, n: u32) {
        let candidates = self
            .lifecycle
            .pick_for_scale_down(self.lifecycle.routable().len());
        let victims: Vec<Arc<str>> = {
            let st = self.state.lock();
            candidates
                .into_iter()
                .filter(|id| {
                    st.workers.get(id).is_some_and(|w| {
                        w.status == Status::Ready && !w.unhealthy && !w.killed && !w.draining
                    })
                })
                .take(n as usize)
                .collect()
        };
        for id in victims {
            let Some(event) = self.lifecycle.scale_down(&id) else {
                continue;
            };
            if event.to == WorkerState::Drained {
                self.drained(&event);
            } else {
                if let Some(w) = self.state.lock().workers.get_mut(&id) {
                    w.draining = true;
                }
                self.events.log(format!(
                    "worker {id} draining: finishing its request, then terminating"
                ));
            }
        }
    }

    // ---- faults (the experiments' levers) --------------------------------

    /// Kills the busiest-looking worker chosen by the seeded RNG among the
    /// busy ones (so that a request is in flight on it). Returns its id.
    pub(crate) fn kill_random_busy_worker(&self) -> Option<Arc<str>> {
        let mut st = self.state.lock();
        let busy: Vec<Arc<str>> = st
            .workers
            .iter()
            .filter(|(_, w)| w.status == Status::Ready && !w.killed && w.busy.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        let pick = if busy.is_empty() {
            return None;
        } else {
            let i = self.rng.lock().random_range(0..busy.len());
            busy.get(i).cloned()?
        };
        if let Some(w) = st.workers.get_mut(&pick) {
            w.killed = true;
        }
        drop(st);
        *self.fault_began.lock() = Some(Instant::now());
        Some(pick)
    }

    pub(crate) fn partition(&self, zone: Option<Zone>) {
        self.state.lock().partitioned = zone;
        *self.fault_began.lock() = zone.map(|_| Instant::now());
        self.notify.notify_one();
    }

    pub(crate) fn set_load_fault(&self, fault: Option<LoadFault>) {
        self.state.lock().load_fault = fault;
    }

    // ---- the request path -------------------------------------------------

    /// Queues `job` and waits for a worker to generate it.
    pub(crate) async fn generate(self: Arc<Self>, job: Job) -> Result<Image, PoolError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = oneshot::channel();
        let submitted = Instant::now();
        {
            let mut st = self.state.lock();
            st.waiters.insert(
                id,
                Waiter {
                    tx,
                    job: job.clone(),
                    queued_since: Some(submitted),
                    started_once: false,
                },
            );
        }
        if self.tracker.submit(id, job.class.queue_priority()).is_err() {
            // Ids are unique: unreachable, but never leave a waiter behind.
            self.state.lock().waiters.remove(&id);
            return Err(PoolError::RecoveryFailed {
                message: format!("request {id} could not be queued"),
            });
        }
        self.notify.notify_one();
        let deadline = tokio::time::sleep(QUEUE_DEADLINE);
        tokio::pin!(deadline);
        tokio::select! {
            biased;
            r = &mut rx => return r.unwrap_or_else(|_| Err(lost(id))),
            () = &mut deadline => {}
        }
        // The deadline only applies until a worker starts the request.
        {
            let mut st = self.state.lock();
            let started = st.waiters.get(&id).is_some_and(|w| w.started_once);
            if !started {
                st.waiters.remove(&id);
                drop(st);
                // The caller falls back: the request leaves the queue (or
                // the worker it was just handed to, which drops it).
                let _ = self.tracker.cancel(&id);
                return Err(PoolError::QueueTimeout {
                    waited: QUEUE_DEADLINE,
                });
            }
        }
        rx.await.unwrap_or_else(|_| Err(lost(id)))
    }

    /// The dispatcher: hands queued requests to free workers. Runs forever.
    pub(crate) async fn run_dispatcher(self: Arc<Self>) {
        loop {
            self.dispatch();
            tokio::select! {
                biased;
                () = self.notify.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    }

    /// Gives each free worker, round-robin from the cursor, the
    /// highest-priority ready request it may run (not one that must avoid
    /// it), while its breaker lets a call through. A request that cannot
    /// run on one worker does not hold up the others behind it.
    fn dispatch(self: &Arc<Self>) {
        loop {
            if self.tracker.next_ready().is_none() {
                return;
            }
            let mut st = self.state.lock();
            let ids: Vec<Arc<str>> = st.workers.keys().cloned().collect();
            let n = ids.len().max(1);
            let mut taken = None;
            for k in 0..ids.len() {
                let Some(wid) = ids.get((st.cursor + k) % n) else {
                    continue;
                };
                let free = st.workers.get(wid).is_some_and(|w| {
                    w.status == Status::Ready && !w.unhealthy && !w.draining && w.busy.is_none()
                });
                if !free {
                    continue;
                }
                // The worker's breaker is asked once there is a request for
                // it; a refusal skips the worker.
                let mut permit: Option<KeyedPermit> = None;
                let mut refused = false;
                let waiters = &st.waiters;
                let id = self.tracker.take_next_matching(wid.to_string(), |id, _| {
                    let fits = waiters
                        .get(id)
                        .is_some_and(|w| w.job.avoid.as_deref() != Some(&**wid));
                    if !fits || refused {
                        return false;
                    }
                    if permit.is_none() {
                        permit = self.breakers.try_acquire(&**wid).ok();
                        refused = permit.is_none();
                    }
                    permit.is_some()
                });
                if let (Some(id), Some(permit)) = (id, permit) {
                    taken = Some((id, wid.clone(), permit, (st.cursor + k + 1) % n));
                    break;
                }
            }
            let Some((id, wid, permit, cursor)) = taken else {
                return; // no free worker fits a ready request: wait
            };
            st.cursor = cursor;
            if let Some(w) = st.workers.get_mut(&wid) {
                w.busy = Some(id);
            }
            // A free worker is ready in the lifecycle too: counted in flight.
            let _ = self.lifecycle.start_request(&wid);
            let job = st.waiters.get(&id).map(|w| w.job.clone());
            drop(st);
            if let Some(job) = job {
                tokio::spawn(self.clone().run_job(id, wid, permit, job));
            }
        }
    }

    fn reachable(&self, wid: &str) -> bool {
        let st = self.state.lock();
        st.workers
            .get(wid)
            .is_some_and(|w| !w.killed && Some(w.zone) != st.partitioned)
    }

    async fn run_job(self: Arc<Self>, id: u64, wid: Arc<str>, permit: KeyedPermit, job: Job) {
        // Dispatch: an unreachable worker never answers the RPC.
        if !self.reachable(&wid) {
            tokio::time::sleep(CONNECT_TIMEOUT).await;
            permit.record_failure();
            self.stats.lock().dispatch_failures += 1;
            self.set_idle(&wid);
            let report = self
                .tracker
                .fail_worker(&wid.to_string(), FailureKind::Timeout);
            self.apply_recovery(report);
            self.notify.notify_one();
            return;
        }
        if self.tracker.start(&id).is_err() {
            permit.record_ignored();
            self.set_idle(&wid);
            return;
        }
        let now = Instant::now();
        {
            let mut st = self.state.lock();
            if let Some(w) = st.waiters.get_mut(&id) {
                w.started_once = true;
                if let Some(since) = w.queued_since.take() {
                    let class = w.job.class;
                    drop(st);
                    self.stats
                        .lock()
                        .queue_waits
                        .entry(class)
                        .or_default()
                        .push(now - since);
                }
            }
        }
        // A corrupt model fails while loading.
        if self.load_fails(&wid, job.model) {
            tokio::time::sleep(LOAD_FAILURE_TIME).await;
            if !self.still_mine(id, &wid) {
                permit.record_ignored();
                return;
            }
            permit.record_ignored(); // the worker answered; the model is at fault
            let _ = self.tracker.complete(&id);
            self.stats.lock().model_load_failures += 1;
            self.set_idle(&wid);
            self.deliver(
                id,
                Err(PoolError::ModelLoad {
                    model: job.model,
                    worker: wid.clone(),
                }),
            );
            self.notify.notify_one();
            return;
        }
        let base = job.model.generation_time();
        let base = if job.high_res {
            base.mul_f64(1.5)
        } else {
            base
        };
        let jitter: f64 = self.rng.lock().random_range(0.8..1.2);
        tokio::time::sleep(base.mul_f64(jitter)).await;
        if !self.reachable(&wid) {
            // Dead or cut off: the result never arrives. If it was only cut
            // off, the worker itself is free again; the heartbeat timeout
            // recovers the request either way.
            permit.record_ignored();
            let killed = self
                .state
                .lock()
                .workers
                .get(&wid)
                .is_some_and(|w| w.killed);
            if !killed {
                self.set_idle(&wid);
            }
            return;
        }
        if !self.still_mine(id, &wid) {
            // Recovered while it ran (the heartbeat timed out): another
            // worker owns it now.
            permit.record_ignored();
            self.set_idle(&wid);
            self.notify.notify_one();
            return;
        }
        permit.record_success();
        let _ = self.tracker.complete(&id);
        let zone_if_partitioned = {
            let st = self.state.lock();
            st.partitioned
                .and_then(|_| st.workers.get(&wid).map(|w| w.zone.as_str()))
        };
        {
            let mut stats = self.stats.lock();
            stats.generated += 1;
            if stats.recovered.iter().any(|(_, r, _)| *r == id) {
                stats.recovered_done += 1;
            }
            if let Some(z) = zone_if_partitioned {
                *stats.served_during_partition.entry(z).or_default() += 1;
            }
        }
        self.set_idle(&wid);
        self.deliver(
            id,
            Ok(Image {
                model: job.model,
                prompt: job.prompt,
                by: wid,
                high_res: job.high_res,
            }),
        );
        self.notify.notify_one();
    }

    fn still_mine(&self, id: u64, wid: &str) -> bool {
        self.tracker.get(&id).is_some_and(|i| {
            i.state == RequestState::InProgress && i.worker.as_deref() == Some(wid)
        })
    }

    fn load_fails(&self, wid: &str, model: Model) -> bool {
        let st = self.state.lock();
        let index = st.workers.get(wid).map(|w| w.index).unwrap_or(0);
        match st.load_fault {
            Some(LoadFault::HalfTheFleet(m)) => m == model && index % 2 == 0,
            Some(LoadFault::Everywhere(m)) => m == model,
            None => false,
        }
    }

    fn set_idle(&self, wid: &Arc<str>) {
        if let Some(w) = self.state.lock().workers.get_mut(wid) {
            w.busy = None;
        }
        if let Some(event) = self.lifecycle.finish_request(wid) {
            if event.to == WorkerState::Drained {
                self.drained(&event);
            }
        }
    }

    fn deliver(&self, id: u64, result: Result<Image, PoolError>) {
        let waiter = self.state.lock().waiters.remove(&id);
        if let Some(w) = waiter {
            let _ = w.tx.send(result);
        }
    }

    /// Acts on the tracker's recovery report: requeued and retried requests
    /// wait again (the dispatcher picks them up); failed ones get their error.
    fn apply_recovery(&self, report: RecoveryReport<u64, String>) {
        let worker: Arc<str> = Arc::from(report.worker.as_str());
        for o in report.outcomes {
            self.stats
                .lock()
                .recovered
                .push((worker.clone(), o.id, o.disposition.name()));
            match o.disposition {
                Disposition::Failed { message } => {
                    self.stats.lock().recovery_failed += 1;
                    self.deliver(o.id, Err(PoolError::RecoveryFailed { message }));
                }
                Disposition::Requeued { .. } | Disposition::Retry { .. } => {
                    if let Some(w) = self.state.lock().waiters.get_mut(&o.id) {
                        w.queued_since.get_or_insert_with(Instant::now);
                    }
                    if o.was == RequestState::InProgress {
                        self.events.log(format!(
                            "request #{} was generating on {worker}: {} ({})",
                            o.id,
                            o.disposition.name(),
                            describe(&o.disposition)
                        ));
                    }
                }
            }
        }
    }

    // ---- heartbeats -------------------------------------------------------

    /// Workers beat every 10 s (when alive and reachable); the monitor is
    /// checked every second. Runs forever.
    pub(crate) async fn run_heartbeats(self: Arc<Self>) {
        let interval = self.heartbeats.config().interval;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            // Warm-ups and drains past their timeouts (2 min each).
            for event in self.lifecycle.tick() {
                match event.to {
                    WorkerState::Ready => self.warmed(&event.worker),
                    WorkerState::Drained => self.drained(&event),
                    _ => {}
                }
            }
            let now = Instant::now();
            let mut beats = Vec::new();
            {
                let mut st = self.state.lock();
                let partitioned = st.partitioned;
                for (id, w) in st.workers.iter_mut() {
                    if w.status == Status::Ready
                        && !w.killed
                        && Some(w.zone) != partitioned
                        && now >= w.next_beat
                    {
                        w.next_beat = now + interval;
                        beats.push(id.clone());
                    }
                }
            }
            for id in beats {
                if let Some(e) = self.heartbeats.heartbeat(&id.to_string()) {
                    if e.to == HealthState::Healthy {
                        if let Some(w) = self.state.lock().workers.get_mut(&id) {
                            w.unhealthy = false;
                        }
                        self.events
                            .log(format!("worker {id} heartbeats again: healthy, routable"));
                        self.notify.notify_one();
                    }
                }
            }
            // In worker-id order: the same run for the same seed.
            for e in self.heartbeats.check() {
                if e.to != HealthState::Unhealthy {
                    continue;
                }
                let id: Arc<str> = Arc::from(e.member.as_str());
                let killed = {
                    let mut st = self.state.lock();
                    match st.workers.get_mut(&id) {
                        Some(w) => {
                            w.unhealthy = true;
                            w.killed
                        }
                        None => false,
                    }
                };
                let since = self.fault_began.lock().map(|t| now - t).unwrap_or_default();
                self.stats.lock().detections.push((id.clone(), since));
                let report = self.tracker.fail_worker(&e.member, FailureKind::Timeout);
                let held = report.outcomes.len();
                self.events.log(format!(
                    "worker {id} missed {} heartbeats: unhealthy; {held} in-flight request(s) reassigned",
                    e.missed
                ));
                self.apply_recovery(report);
                if killed {
                    // The instance is gone: replace it (the scaler sees the
                    // fleet below its minimum).
                    if let Some(w) = self.state.lock().workers.get_mut(&id) {
                        w.status = Status::Terminated;
                    }
                    self.heartbeats.remove(&e.member);
                    self.lifecycle.remove(&id);
                    self.stats.lock().terminated_workers += 1;
                    self.events
                        .log(format!("worker {id} terminated; replacement requested"));
                }
                self.notify.notify_one();
            }
        }
    }

    // ---- views ------------------------------------------------------------

    pub(crate) fn view(&self) -> FleetView {
        let now = Instant::now();
        let st = self.state.lock();
        let mut v = FleetView::default();
        let mut wait_sum: BTreeMap<TrafficClass, Duration> = BTreeMap::new();
        for (id, w) in &st.workers {
            let breaker = self
                .breakers
                .get(&**id)
                .map(|b| b.state())
                .unwrap_or(CircuitState::Closed);
            let status = match (w.status, w.unhealthy) {
                (Status::Terminated, _) => "terminated",
                (Status::Warming, _) => "warming",
                (Status::Ready, true) => "unhealthy",
                (Status::Ready, false) if w.draining => "draining",
                (Status::Ready, false) if w.busy.is_some() => "busy",
                (Status::Ready, false) => "idle",
            };
            v.workers.push((id.clone(), status, breaker_label(breaker)));
            if w.draining {
                // Leaving: no longer part of the scaler's count.
                continue;
            }
            match w.status {
                Status::Terminated => continue,
                Status::Warming => v.warming += 1,
                Status::Ready => {
                    v.ready += 1;
                    if w.unhealthy {
                        v.unhealthy += 1;
                    } else if breaker != CircuitState::Open {
                        v.routable += 1;
                    }
                    if w.busy.is_some() {
                        v.busy += 1;
                    }
                }
            }
            v.target += 1;
        }
        for w in st.waiters.values() {
            if let Some(since) = w.queued_since {
                *v.queued.entry(w.job.class).or_default() += 1;
                *wait_sum.entry(w.job.class).or_default() += now - since;
            }
        }
        for (c, sum) in wait_sum {
            let n = v.queued.get(&c).copied().unwrap_or(1).max(1);
            v.mean_wait.insert(c, sum / n);
        }
        v
    }

    pub(crate) fn stats(&self) -> PoolStats {
        self.stats.lock().clone()
    }

    pub(crate) fn breakers(&self) -> &Arc<CircuitBreakerRegistry<String>> {
        &self.breakers
    }
}

fn lost(id: u64) -> PoolError {
    PoolError::RecoveryFailed {
        message: format!("request {id} was dropped by the pool"),
    }
}

fn describe(d: &Disposition<String>) -> String {
    match d {
        Disposition::Requeued { priority } => format!("priority {priority}"),
        Disposition::Retry {
            attempt,
            delay,
            priority,
            ..
        } => {
            format!(
                "retry {attempt} after {}s, priority {priority}",
                delay.as_secs()
            )
        }
        Disposition::Failed { message } => message.clone(),
    }
}

pub(crate) fn breaker_label(s: CircuitState) -> &'static str {
    match s {
        CircuitState::Closed => "closed",
        CircuitState::Open => "open",
        CircuitState::HalfOpen => "half_open",
        _ => "other",
    }
}
