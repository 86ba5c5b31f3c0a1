//! The GPU inference platform's chaos experiments (its "Chaos Engineering" runbook), run
//! against the gateway in virtual time.
//!
//! Each experiment gets a fresh gateway on a fresh single-threaded tokio
//! runtime whose clock is paused: sleeps complete as soon as nothing else
//! can run, so minutes of traffic take a fraction of a second, and the same
//! seed gives the same run. Requests go through the axum router in-process
//! (`tower::ServiceExt::oneshot`), no sockets.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tower::{BoxError, ServiceExt};

use super::events::EventLog;
use super::gateway::{Fault, Gateway, GatewayStats, MIN_WORKERS};
use super::model::{GenerateRequest, Model, TrafficClass};
use super::workers::{FleetView, LoadFault, PoolStats};

/// Virtual time each experiment runs by default.
pub(crate) const DEFAULT_DURATION: Duration = Duration::from_secs(150);
/// The shortest `--duration` accepted: the mechanisms under test have fixed
/// timings (30 s heartbeat timeout, 60 s model breaker, 60 s scaling rule).
pub(crate) const MIN_DURATION: Duration = Duration::from_secs(120);
/// After the traffic stops, how long in-flight work may take to finish.
const DRAIN_LIMIT: Duration = Duration::from_secs(180);
/// Requests per second outside the spike.
const BASE_RATE: f64 = 3.0;

/// One of the runbook's experiments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Experiment {
    WorkerKill,
    NetworkPartition,
    ModelLoadFailure,
    TrafficSpike,
    StorageLatency,
}

impl Experiment {
    pub(crate) const ALL: [Experiment; 5] = [
        Experiment::WorkerKill,
        Experiment::NetworkPartition,
        Experiment::ModelLoadFailure,
        Experiment::TrafficSpike,
        Experiment::StorageLatency,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Experiment::WorkerKill => "worker-kill",
            Experiment::NetworkPartition => "network-partition",
            Experiment::ModelLoadFailure => "model-load-failure",
            Experiment::TrafficSpike => "traffic-spike",
            Experiment::StorageLatency => "storage-latency",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Experiment> {
        Experiment::ALL
            .into_iter()
            .find(|e| e.name() == name || e.seed_name() == name)
    }

    /// The runbook's own name.
    pub(crate) fn seed_name(self) -> &'static str {
        match self {
            Experiment::WorkerKill => "worker_termination",
            Experiment::NetworkPartition => "network_partition",
            Experiment::ModelLoadFailure => "model_load_failure",
            Experiment::TrafficSpike => "queue_pressure",
            Experiment::StorageLatency => "storage_latency",
        }
    }

    /// What is done to the gateway.
    pub(crate) fn description(self) -> &'static str {
        match self {
            Experiment::WorkerKill => "kill a GPU worker mid-request",
            Experiment::NetworkPartition => "isolate availability zone az-1 (half the workers)",
            Experiment::ModelLoadFailure => {
                "inject sd3 model-load errors (half the fleet, then all of it)"
            }
            Experiment::TrafficSpike => "inject a 10x traffic spike",
            Experiment::StorageLatency => "add 500 ms to every storage operation",
        }
    }

    /// The runbook's expected outcome and validations.
    pub(crate) fn expected(self) -> &'static str {
        match self {
            Experiment::WorkerKill => {
                "request reassigned, <30 s impact; no requests fail; replacement worker starts; warm pool restored"
            }
            Experiment::NetworkPartition => {
                "failover to the other AZ: requests routed around the partition; recovery when it heals"
            }
            Experiment::ModelLoadFailure => {
                "retry on a different worker; circuit breaker triggers; requests eventually succeed"
            }
            Experiment::TrafficSpike => {
                "auto-scale, graceful degradation: scale-up triggers; priority queues work; no cascading failures"
            }
            Experiment::StorageLatency => {
                "async upload unaffected: generation not blocked; images eventually delivered"
            }
        }
    }

    /// When the fault starts and stops, as fractions of the duration.
    fn window(self) -> (f64, f64) {
        match self {
            Experiment::TrafficSpike => (0.2, 0.7),
            _ => (0.2, 0.5),
        }
    }
}

/// How to run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) seed: u64,
    pub(crate) duration: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: 42,
            duration: DEFAULT_DURATION,
        }
    }
}

/// Client-side outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) sent: u64,
    /// Answered by the gateway's own workers.
    pub(crate) ok: u64,
    /// Answered by provider A, provider B or the stale cache.
    pub(crate) fallback: u64,
    /// Accepted (202), dead-lettered, and later replayed to completion.
    pub(crate) deferred: u64,
    /// Turned away with a typed error (bulkhead full, shed, unavailable).
    pub(crate) rejected: u64,
    /// No definite answer: untyped errors, no response, dead letters never
    /// replayed, images never stored.
    pub(crate) lost: u64,
    /// Requests still waiting for their answer.
    pub(crate) in_flight: u64,
}

/// A validation and whether it held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Check {
    pub(crate) what: String,
    pub(crate) passed: bool,
}

/// One row of the final table, with its evidence.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    pub(crate) experiment: Experiment,
    pub(crate) expected: &'static str,
    pub(crate) observed: String,
    pub(crate) passed: bool,
    pub(crate) counts: Counts,
    pub(crate) checks: Vec<Check>,
    pub(crate) timeline: Vec<(Duration, String)>,
    /// Virtual time the experiment took, drain included.
    pub(crate) simulated: Duration,
}

/// Live state, once per simulated second.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    pub(crate) elapsed: Duration,
    pub(crate) duration: Duration,
    pub(crate) draining: bool,
    pub(crate) counts: Counts,
    pub(crate) level: String,
    pub(crate) routable: u32,
    pub(crate) target: u32,
    pub(crate) queued: u32,
    pub(crate) last_event: Option<(Duration, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Before,
    During,
    After,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Ok,
    Fallback,
    Deferred,
    Rejected(&'static str),
    Lost,
}

#[derive(Debug, Clone)]
struct Record {
    class: TrafficClass,
    model: Model,
    phase: Phase,
    answer: Answer,
    latency: Duration,
}

#[derive(Debug, Default)]
struct Client {
    sent: AtomicU64,
    done: AtomicU64,
    records: Mutex<Vec<(u64, Record)>>,
    lost_reasons: Mutex<Vec<String>>,
}

impl Client {
    fn counts(&self) -> Counts {
        let records = self.records.lock();
        let mut c = Counts {
            sent: self.sent.load(Ordering::Relaxed),
            ..Counts::default()
        };
        for (_, r) in records.iter() {
            match r.answer {
                Answer::Ok => c.ok += 1,
                Answer::Fallback => c.fallback += 1,
                Answer::Deferred => c.deferred += 1,
                Answer::Rejected(_) => c.rejected += 1,
                Answer::Lost => c.lost += 1,
            }
        }
        c.in_flight = c.sent.saturating_sub(self.done.load(Ordering::Relaxed));
        c
    }
}

const TYPED_REJECTIONS: [&str; 4] = ["bulkhead_full", "shed", "unavailable", "dead_letter_full"];

async fn send(router: Router, body: GenerateRequest, phase: Phase, n: u64, client: Arc<Client>) {
    let start = tokio::time::Instant::now();
    let (class, model) = (body.class, body.model);
    let request = serde_json::to_vec(&body)
        .map_err(BoxError::from)
        .and_then(|json| {
            Request::post("/v1/generate")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(json))
                .map_err(BoxError::from)
        });
    let (answer, detail) = match request {
        Err(e) => (Answer::Lost, format!("request not built: {e}")),
        Ok(request) => match router.oneshot(request).await {
            Err(e) => (Answer::Lost, format!("router error: {e}")),
            Ok(response) => {
                let status = response.status();
                let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await;
                let json: Value = bytes
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or(Value::Null);
                let field = |k: &str| {
                    json.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                match status {
                    StatusCode::OK if field("step") == "workers" => {
                        (Answer::Ok, field("served_by"))
                    }
                    StatusCode::OK => (Answer::Fallback, field("served_by")),
                    StatusCode::ACCEPTED => (Answer::Deferred, "dead-letter queue".to_string()),
                    _ => {
                        let code = field("error");
                        match TYPED_REJECTIONS.iter().find(|c| **c == code) {
                            Some(c) => (Answer::Rejected(c), code),
                            None => (Answer::Lost, format!("{status}: {json}")),
                        }
                    }
                }
            }
        },
    };
    if answer == Answer::Lost {
        client.lost_reasons.lock().push(detail);
    }
    client.records.lock().push((
        n,
        Record {
            class,
            model,
            phase,
            answer,
            latency: start.elapsed(),
        },
    ));
    client.done.fetch_add(1, Ordering::Relaxed);
}

fn pick<T: Copy>(rng: &mut StdRng, items: &[(T, u32)]) -> Option<T> {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total.max(1));
    for (item, w) in items {
        if x < *w {
            return Some(*item);
        }
        x -= w;
    }
    items.first().map(|(i, _)| *i)
}

/// Runs one experiment on its own paused runtime.
pub(crate) fn run(
    experiment: Experiment,
    options: Options,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Report, BoxError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    runtime.block_on(run_async(experiment, options, on_progress))
}

async fn run_async(
    experiment: Experiment,
    options: Options,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Report, BoxError> {
    let events = Arc::new(EventLog::new());
    let gw = Gateway::start(options.seed, events.clone())?;
    drive(experiment, options, gw, events, on_progress).await
}

/// Runs `experiment` against `gw` (started with `options.seed`, logging to
/// `events`): its traffic (from `options.seed`), its faults, the drain, and
/// the evaluation of its checks.
pub(crate) async fn drive(
    experiment: Experiment,
    options: Options,
    gw: Arc<Gateway>,
    events: Arc<EventLog>,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Report, BoxError> {
    let duration = options.duration.max(MIN_DURATION);
    let router = gw.router(None, false);
    let client = Arc::new(Client::default());
    let mut rng =
        StdRng::seed_from_u64(options.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ experiment as u64);

    let (from, to) = experiment.window();
    let fault_start = duration.mul_f64(from);
    let fault_end = duration.mul_f64(to);
    let start = tokio::time::Instant::now();

    // The fault schedule.
    let schedule: Vec<(Duration, Fault)> = match experiment {
        Experiment::WorkerKill => vec![(fault_start, Fault::KillWorker)],
        Experiment::NetworkPartition => vec![
            (fault_start, Fault::Partition(true)),
            (fault_end, Fault::Partition(false)),
        ],
        Experiment::ModelLoadFailure => {
            let mid = fault_start + (fault_end - fault_start) / 2;
            vec![
                (
                    fault_start,
                    Fault::ModelLoad(Some(LoadFault::HalfTheFleet(Model::Sd3))),
                ),
                (
                    mid,
                    Fault::ModelLoad(Some(LoadFault::Everywhere(Model::Sd3))),
                ),
                (fault_end, Fault::ModelLoad(None)),
            ]
        }
        Experiment::TrafficSpike => vec![],
        Experiment::StorageLatency => vec![
            (fault_start, Fault::StorageLatency(true)),
            (fault_end, Fault::StorageLatency(false)),
        ],
    };
    {
        let gw = gw.clone();
        tokio::spawn(async move {
            for (at, fault) in schedule {
                tokio::time::sleep_until(start + at).await;
                gw.inject(fault);
            }
        });
    }
    if experiment == Experiment::TrafficSpike {
        events.log(format!(
            "CHAOS: traffic x10 ({} rps) until {}s",
            BASE_RATE * 10.0,
            fault_end.as_secs()
        ));
        let events = events.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(start + fault_end).await;
            events.log("CHAOS: traffic back to normal");
        });
    }

    let mut peak_queue = 0u32;
    let mut next_tick = Duration::from_secs(1);
    let mut t = Duration::ZERO;
    let mut n = 0u64;
    let mut tick = |gw: &Gateway, elapsed: Duration, draining: bool, peak: &mut u32| {
        let view = gw.pool.view();
        *peak = (*peak).max(view.queued_total());
        on_progress(&Progress {
            elapsed,
            duration,
            draining,
            counts: client.counts(),
            level: gw.degradation.level().name().to_string(),
            routable: view.routable,
            target: view.target,
            queued: view.queued_total(),
            last_event: events.last(),
        });
    };
    loop {
        let spike = experiment == Experiment::TrafficSpike && t >= fault_start && t < fault_end;
        let rate = if spike { BASE_RATE * 10.0 } else { BASE_RATE };
        let u: f64 = rng.random_range(0.0..1.0);
        t += Duration::from_secs_f64(-(1.0 - u).ln() / rate);
        if t >= duration {
            break;
        }
        while next_tick <= t {
            tokio::time::sleep_until(start + next_tick).await;
            tick(&gw, next_tick, false, &mut peak_queue);
            next_tick += Duration::from_secs(1);
        }
        tokio::time::sleep_until(start + t).await;
        let class =
            pick(&mut rng, &TrafficClass::ALL.map(|c| (c, c.share()))).unwrap_or(TrafficClass::Api);
        let model = pick(&mut rng, &Model::ALL.map(|m| (m, m.share()))).unwrap_or(Model::Sdxl);
        let high_res = rng.random_range(0..100) < 20;
        let phase = if t < fault_start {
            Phase::Before
        } else if t < fault_end {
            Phase::During
        } else {
            Phase::After
        };
        n += 1;
        client.sent.fetch_add(1, Ordering::Relaxed);
        let body = GenerateRequest {
            model,
            class,
            // Half the traffic repeats one of 40 popular prompts (what the
            // stale cache can answer for); the rest is unique.
            prompt: if rng.random_range(0..2) == 0 {
                format!("popular prompt #{}", rng.random_range(0..40))
            } else {
                format!("prompt #{n}")
            },
            high_res,
        };
        tokio::spawn(send(router.clone(), body, phase, n, client.clone()));
    }
    // Drain: no new traffic; let in-flight work, replays and uploads finish
    // and the degradation level settle back to normal.
    let mut elapsed = duration;
    tokio::time::sleep_until(start + elapsed).await;
    loop {
        let busy = client.counts().in_flight > 0
            || !gw.dlq.is_empty()
            || gw.uploads_pending.load(Ordering::Relaxed) > 0
            || gw.degradation.severity() > 0;
        if !busy || elapsed >= duration + DRAIN_LIMIT {
            break;
        }
        elapsed += Duration::from_secs(1);
        tokio::time::sleep_until(start + elapsed).await;
        tick(&gw, elapsed, true, &mut peak_queue);
    }
    // One more tick so breakers and levels settle into the report.
    tick(&gw, elapsed, true, &mut peak_queue);

    let view = gw.pool.view();
    let ctx = Context {
        experiment,
        fault_start,
        fault_end,
        counts: client.counts(),
        records: {
            let mut r = client.records.lock().clone();
            r.sort_by_key(|(n, _)| *n);
            r.into_iter().map(|(_, r)| r).collect()
        },
        gw: gw.stats(),
        pool: gw.pool.stats(),
        view,
        breakers: gw.breaker_states(),
        final_level: gw.degradation.level().name().to_string(),
        final_severity: gw.degradation.severity(),
        dlq_left: gw.dlq.len() as u64,
        uploads_left: gw.uploads_pending.load(Ordering::Relaxed),
        peak_queue,
        lost_reasons: client.lost_reasons.lock().clone(),
    };
    let (observed, checks) = evaluate(&ctx);
    let mut counts = ctx.counts;
    counts.deferred = ctx.gw.replayed;
    counts.lost = ctx.counts.lost + ctx.counts.in_flight + ctx.dlq_left + ctx.uploads_left;
    let passed = checks.iter().all(|c| c.passed);
    Ok(Report {
        experiment,
        expected: experiment.expected(),
        observed,
        passed,
        counts,
        checks,
        timeline: events.entries(),
        simulated: elapsed,
    })
}

struct Context {
    experiment: Experiment,
    fault_start: Duration,
    fault_end: Duration,
    counts: Counts,
    records: Vec<Record>,
    gw: GatewayStats,
    pool: PoolStats,
    view: FleetView,
    breakers: BTreeMap<String, &'static str>,
    final_level: String,
    final_severity: u8,
    dlq_left: u64,
    uploads_left: u64,
    peak_queue: u32,
    lost_reasons: Vec<String>,
}

impl Context {
    fn opened(&self, prefix: &str) -> Vec<(Duration, String)> {
        self.gw
            .transitions
            .iter()
            .filter(|(_, name, _, to)| name.starts_with(prefix) && *to == "open")
            .map(|(at, name, _, _)| (*at, name.clone()))
            .collect()
    }

    fn closed_at_end(&self, prefix: &str) -> bool {
        self.breakers
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .all(|(_, s)| *s == "closed")
    }

    fn nothing_lost(&self) -> Check {
        let lost = self.counts.lost + self.counts.in_flight + self.dlq_left + self.uploads_left;
        let mut what = format!("0 requests lost (lost {lost})");
        if let Some(reason) = self.lost_reasons.first() {
            what.push_str(&format!("; first: {reason}"));
        }
        check(what, lost == 0)
    }
}

fn check(what: impl Into<String>, passed: bool) -> Check {
    Check {
        what: what.into(),
        passed,
    }
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn p95(mut v: Vec<Duration>) -> Duration {
    v.sort();
    let i = (v.len() * 95 / 100).min(v.len().saturating_sub(1));
    v.get(i).copied().unwrap_or_default()
}

fn evaluate(c: &Context) -> (String, Vec<Check>) {
    match c.experiment {
        Experiment::WorkerKill => worker_kill(c),
        Experiment::NetworkPartition => partition(c),
        Experiment::ModelLoadFailure => model_load(c),
        Experiment::TrafficSpike => spike(c),
        Experiment::StorageLatency => storage(c),
    }
}

fn worker_kill(c: &Context) -> (String, Vec<Check>) {
    let detection = c.pool.detections.first().cloned();
    let reassigned = c
        .pool
        .recovered
        .iter()
        .filter(|(_, _, d)| *d != "failed")
        .count() as u64;
    let replacement =
        c.gw.scale_events
            .iter()
            .find(|(_, from, to, _)| to > from)
            .cloned();
    let mut checks = vec![
        check(
            format!("the killed worker was detected within 30 s ({})", detection.as_ref().map(|d| secs(d.1)).unwrap_or("never".into())),
            detection.as_ref().is_some_and(|d| d.1 <= Duration::from_secs(30)),
        ),
        check(
            format!("its in-flight request(s) reassigned and answered ({reassigned} reassigned, {} answered)", c.pool.recovered_done),
            reassigned > 0 && c.pool.recovered_done >= reassigned && c.pool.recovery_failed == 0,
        ),
        check(
            format!("no request failed ({} rejected)", c.counts.rejected),
            c.counts.rejected == 0,
        ),
        check(
            format!("a replacement worker started ({} started)", c.pool.started_workers),
            replacement.is_some() && c.pool.started_workers > 0,
        ),
        check(
            format!("warm pool restored ({} of {MIN_WORKERS} routable at the end)", c.view.routable),
            c.view.routable >= MIN_WORKERS,
        ),
    ];
    checks.push(c.nothing_lost());
    let observed = match (&detection, &replacement) {
        (Some((worker, after)), Some((at, _, _, _))) => format!(
            "{worker} killed at {}; declared dead after {} (heartbeat timeout); {reassigned} in-flight request(s) retried on another worker and answered; replacement ordered at {}, pool back to {} warm workers",
            secs(c.fault_start),
            secs(*after),
            secs(*at),
            c.view.routable
        ),
        _ => format!("kill at {}: detection {:?}, replacement {:?}", secs(c.fault_start), detection, replacement),
    };
    (observed, checks)
}

fn partition(c: &Context) -> (String, Vec<Check>) {
    let opened = c.opened("worker:");
    let distinct: std::collections::BTreeSet<&String> = opened.iter().map(|(_, n)| n).collect();
    let unhealthy = c.pool.detections.len();
    let az2 = c
        .pool
        .served_during_partition
        .get("az-2")
        .copied()
        .unwrap_or(0);
    let during_fallback = c
        .records
        .iter()
        .filter(|r| r.phase == Phase::During && r.answer == Answer::Fallback)
        .count();
    let checks = vec![
        check(
            format!(
                "worker breakers opened for the cut-off zone ({} opened)",
                distinct.len()
            ),
            !distinct.is_empty(),
        ),
        check(
            format!("requests routed around the partition ({az2} served by az-2)"),
            az2 > 0,
        ),
        check(
            "recovery when the partition heals: every worker healthy, every breaker closed"
                .to_string(),
            c.view.unhealthy == 0 && c.closed_at_end("worker:") && c.view.routable >= MIN_WORKERS,
        ),
        check(
            format!(
                "model and global breakers untouched ({} opened)",
                c.opened("model:").len() + c.opened("global").len()
            ),
            c.opened("model:").is_empty() && c.opened("global").is_empty(),
        ),
        c.nothing_lost(),
    ];
    let observed = format!(
        "az-1 cut off {}-{}: {} worker breakers opened, {unhealthy} workers declared unhealthy and their requests reassigned; {az2} requests served by az-2, {during_fallback} by the fallback providers; after the heal all {} workers healthy, breakers closed",
        secs(c.fault_start),
        secs(c.fault_end),
        distinct.len(),
        c.view.routable
    );
    (observed, checks)
}

fn model_load(c: &Context) -> (String, Vec<Check>) {
    let sd3_open = c.opened("model:sd3");
    let others_open =
        c.opened("model:sdxl").len() + c.opened("model:flux").len() + c.opened("global").len();
    let sd3_after_ok = c
        .records
        .iter()
        .filter(|r| r.phase == Phase::After && r.model == Model::Sd3 && r.answer == Answer::Ok)
        .count();
    let sd3_fallback = c
        .records
        .iter()
        .filter(|r| r.model == Model::Sd3 && r.answer == Answer::Fallback)
        .count();
    let checks = vec![
        check(
            format!(
                "retried on a different worker ({} load failures, {} retries, {} refused by the retry budget)",
                c.pool.model_load_failures, c.gw.retries, c.gw.retry_budget_refused
            ),
            c.gw.retries > 0 && c.pool.model_load_failures > 0,
        ),
        check(
            format!("the sd3 breaker triggered ({} opening(s))", sd3_open.len()),
            !sd3_open.is_empty(),
        ),
        check(
            format!("requests eventually succeed: sd3 breaker closed, {sd3_after_ok} sd3 requests served by workers after the fix"),
            c.closed_at_end("model:sd3") && sd3_after_ok > 0,
        ),
        check(
            format!("other models and the global breaker unaffected ({others_open} opened)"),
            others_open == 0,
        ),
        check(
            format!("dead-lettered internal jobs replayed ({} of {})", c.gw.replayed, c.gw.dead_lettered),
            c.dlq_left == 0 && c.gw.replayed == c.gw.dead_lettered,
        ),
        c.nothing_lost(),
    ];
    let closed =
        c.gw.transitions
            .iter()
            .rfind(|(_, n, _, to)| n == "model:sd3" && *to == "closed")
            .map(|(at, ..)| secs(*at))
            .unwrap_or_else(|| "never".into());
    let observed = format!(
        "{} sd3 load failures; {} retries on other workers ({} refused by the budget); breaker model:sd3 opened at {}, {sd3_fallback} sd3 requests served by fallback, {} internal jobs dead-lettered and replayed; closed again at {closed}; sdxl/flux unaffected",
        c.pool.model_load_failures,
        c.gw.retries,
        c.gw.retry_budget_refused,
        sd3_open.first().map(|(at, _)| secs(*at)).unwrap_or_else(|| "never".into()),
        c.gw.replayed,
    );
    (observed, checks)
}

fn spike(c: &Context) -> (String, Vec<Check>) {
    let scale_up =
        c.gw.scale_events
            .iter()
            .find(|(at, from, to, _)| to > from && *at >= c.fault_start)
            .cloned();
    let shed: Vec<&Record> = c
        .records
        .iter()
        .filter(|r| r.answer == Answer::Rejected("shed"))
        .collect();
    let shed_only_low = shed.iter().all(|r| r.class == TrafficClass::Dashboard);
    let waits = |class| c.pool.queue_waits.get(&class).cloned().unwrap_or_default();
    let internal_p95 = p95(waits(TrafficClass::Internal));
    let api_p95 = p95(waits(TrafficClass::Api));
    let fallback = c.counts.fallback;
    let any_breaker_opened = c.gw.transitions.iter().any(|(_, _, _, to)| *to == "open");
    let checks = vec![
        check(
            format!(
                "scale-up triggered ({})",
                scale_up
                    .as_ref()
                    .map(|(at, f, t, r)| format!("{f} -> {t} at {}, {r}", secs(*at)))
                    .unwrap_or_else(|| "none".into())
            ),
            scale_up.is_some(),
        ),
        check(
            format!(
                "priority queues work: internal p95 queue wait {:.1}s < api {:.1}s; only dashboard traffic shed ({} shed)",
                internal_p95.as_secs_f64(),
                api_p95.as_secs_f64(),
                shed.len()
            ),
            internal_p95 < api_p95 && shed_only_low && !shed.is_empty(),
        ),
        check(
            format!("graceful degradation: reached severity {} and recovered to {}", c.gw.max_severity, c.final_level),
            c.gw.max_severity >= 2 && c.final_severity == 0,
        ),
        check("no cascading failures: no breaker opened".to_string(), !any_breaker_opened),
        c.nothing_lost(),
    ];
    let observed = format!(
        "10x traffic {}-{}: queue peaked at {}; {}; degradation up to severity {} shed {} dashboard requests (typed 503); internal p95 queue wait {:.1}s vs api {:.1}s; {fallback} overflow requests served by the providers; no breaker opened",
        secs(c.fault_start),
        secs(c.fault_end),
        c.peak_queue,
        scale_up
            .map(|(at, f, t, r)| format!("scaled {f} -> {t} workers at {} ({r})", secs(at)))
            .unwrap_or_else(|| "no scale-up".into()),
        c.gw.max_severity,
        shed.len(),
        internal_p95.as_secs_f64(),
        api_p95.as_secs_f64(),
    );
    (observed, checks)
}

fn storage(c: &Context) -> (String, Vec<Check>) {
    let latency = |pred: &dyn Fn(&Record) -> bool| {
        median(
            c.records
                .iter()
                .filter(|r| r.answer == Answer::Ok && pred(r))
                .map(|r| r.latency)
                .collect(),
        )
    };
    let before = latency(&|r| r.phase == Phase::Before);
    let during = latency(&|r| r.phase == Phase::During);
    let rose = c.gw.levels.iter().find(|(_, _, _, sev)| *sev >= 1).cloned();
    let checks = vec![
        check(
            format!(
                "degradation level rose ({}) and recovered (now {})",
                rose.as_ref()
                    .map(|(at, _, to, _)| format!("{to} at {}", secs(*at)))
                    .unwrap_or_else(|| "never".into()),
                c.final_level
            ),
            rose.is_some() && c.final_severity == 0,
        ),
        check(
            format!(
                "uploads switched to async ({} async, {} sync)",
                c.gw.uploads_async, c.gw.uploads_sync
            ),
            c.gw.uploads_async > 0,
        ),
        check(
            format!(
                "generation not blocked: median answer {:.2}s during vs {:.2}s before",
                during.as_secs_f64(),
                before.as_secs_f64()
            ),
            during <= before + Duration::from_millis(250),
        ),
        check(
            format!(
                "images eventually delivered ({} stored, {} pending)",
                c.gw.uploads_done, c.uploads_left
            ),
            c.uploads_left == 0,
        ),
        c.nothing_lost(),
    ];
    let observed = format!(
        "storage +500 ms {}-{}: health fell, level {} at {}; {} uploads moved to the background; median answer {:.2}s (before {:.2}s); all {} images stored; back to {} by the end",
        secs(c.fault_start),
        secs(c.fault_end),
        rose.as_ref().map(|r| r.2.clone()).unwrap_or_else(|| "unchanged".into()),
        rose.as_ref().map(|r| secs(r.0)).unwrap_or_else(|| "-".into()),
        c.gw.uploads_async,
        during.as_secs_f64(),
        before.as_secs_f64(),
        c.gw.uploads_done,
        c.final_level
    );
    (observed, checks)
}
