//! Worker lifecycle around scaling decisions: **warm up** a new worker with
//! the popular models before it takes traffic, **drain** a worker's
//! in-flight work before it is terminated.
//!
//! The GPU inference platform's scaling actions: "Scale Up → Warm Up (load
//! popular models)", "Scale Down → Drain (complete in-flight) → Terminate
//! (release instance)". An evaluator decides *how many* workers;
//! [`WorkerLifecycle`] tracks *each* worker through
//!
//! ```text
//! scale_up ─▶ WarmingUp ──all models loaded / warm-up timeout──▶ Ready
//! Ready / WarmingUp ──scale_down──▶ Draining ──in-flight 0 / drain timeout──▶ Drained ─▶ terminate
//! ```
//!
//! Only `Ready` workers take new requests ([`WorkerLifecycle::start_request`]
//! refuses the others); a draining worker finishes what it has. Time comes
//! from a [`Clock`]: the host calls [`WorkerLifecycle::tick`] on its
//! schedule, and the timeouts fire there (a worker that never finishes
//! loading is put to work with the models it has; a drain that overruns
//! ends with the leftover requests named for reassignment). Nothing here
//! loads a model or terminates an instance: the host does, on the events.
//!
//! ```
//! use std::time::Duration;
//! use resilience_core::clock::ManualClock;
//! use resilience_scaling::lifecycle::{LifecycleConfig, WorkerLifecycle, WorkerState};
//!
//! let clock = ManualClock::new();
//! let fleet = WorkerLifecycle::with_clock(LifecycleConfig::default(), clock.clone())?;
//! let models = fleet.popular_models(&[("sdxl", 60.0), ("sd3", 20.0), ("flux", 15.0), ("other", 5.0)]);
//! assert_eq!(models, ["sdxl", "sd3", "flux"]); // the warm pool covers the top 3
//! fleet.scale_up("gpu-7", models.clone());
//! assert!(fleet.start_request(&"gpu-7").is_err()); // still warming up
//! for m in &models {
//!     fleet.model_loaded(&"gpu-7", m);
//! }
//! assert_eq!(fleet.state(&"gpu-7"), Some(WorkerState::Ready));
//! fleet.start_request(&"gpu-7")?;
//! fleet.scale_down(&"gpu-7");
//! assert!(fleet.terminable().is_empty()); // one request still in flight
//! fleet.finish_request(&"gpu-7");
//! assert_eq!(fleet.terminable(), ["gpu-7"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Metrics
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `resilience_worker_lifecycle_transitions_total` | counter | `to` | worker state changes (`ready`, `draining`, `drained`) |

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lock::Mutex;
use resilience_core::clock::{shared, Clock, SharedClock, SystemClock};
use resilience_core::config::{check_nonzero_duration, ConfigError};
use resilience_core::events::Listeners;
use serde::{Deserialize, Serialize};

/// `std::sync::Mutex` whose poisoning is ignored: the state under it is
/// updated in single assignments, so a panic elsewhere cannot leave it
/// half-written.
mod lock {
    #[derive(Debug, Default)]
    pub(super) struct Mutex<T>(std::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(super) fn new(v: T) -> Self {
            Mutex(std::sync::Mutex::new(v))
        }

        pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }
}

/// How workers warm up and drain.
///
/// ```
/// use std::time::Duration;
/// use resilience_scaling::lifecycle::LifecycleConfig;
/// let c = LifecycleConfig::default();
/// assert_eq!(c.warm_models, 3);
/// assert_eq!(c.warmup_timeout, Duration::from_secs(120));
/// let y: LifecycleConfig = resilience_core::config::from_yaml_str("drain_timeout: 5m").unwrap();
/// assert_eq!(y.drain_timeout, Duration::from_secs(300));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// How many of the most requested models a new worker loads before
    /// taking traffic. Default 3 (the GPU inference platform: "warm pool
    /// covering top 3 models").
    pub warm_models: usize,
    /// Longest warm-up: after it the worker takes traffic with the models
    /// it has (the rest load on demand). Default 2 min (the platform
    /// replaces and warms a failed worker in under 2 minutes).
    #[serde(with = "humantime_serde")]
    pub warmup_timeout: Duration,
    /// Longest drain: after it the worker may be terminated and its
    /// remaining requests must be reassigned. Default 2 min.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            warm_models: 3,
            warmup_timeout: Duration::from_secs(120),
            drain_timeout: Duration::from_secs(120),
        }
    }
}

impl LifecycleConfig {
    /// Checks the config, naming the bad field.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_scaling::lifecycle::LifecycleConfig;
    /// let bad = LifecycleConfig { drain_timeout: Duration::ZERO, ..Default::default() };
    /// assert_eq!(bad.validate().unwrap_err().field(), Some("drain_timeout"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_nonzero_duration("warmup_timeout", self.warmup_timeout)?;
        check_nonzero_duration("drain_timeout", self.drain_timeout)
    }
}

/// Where a worker is in its life.
///
/// ```
/// use resilience_scaling::lifecycle::WorkerState;
/// assert!(WorkerState::Ready.accepts_work());
/// assert!(!WorkerState::Draining.accepts_work());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Started, loading its models; takes no traffic yet.
    WarmingUp,
    /// Serving.
    Ready,
    /// Finishing its in-flight work; takes no new traffic.
    Draining,
    /// Empty (or out of drain time): terminate it, then `remove` it.
    Drained,
}

impl WorkerState {
    /// Whether new requests may be sent to a worker in this state.
    ///
    /// ```
    /// use resilience_scaling::lifecycle::WorkerState;
    /// assert!(!WorkerState::WarmingUp.accepts_work());
    /// ```
    pub fn accepts_work(self) -> bool {
        self == WorkerState::Ready
    }

    fn as_str(self) -> &'static str {
        match self {
            WorkerState::WarmingUp => "warming_up",
            WorkerState::Ready => "ready",
            WorkerState::Draining => "draining",
            WorkerState::Drained => "drained",
        }
    }
}

impl fmt::Display for WorkerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a worker changed state.
///
/// ```
/// use resilience_scaling::lifecycle::Transition;
/// let t = Transition::DrainTimedOut { abandoned: 2 };
/// assert!(matches!(t, Transition::DrainTimedOut { abandoned: 2 }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Every warm-up model loaded: ready.
    Warmed,
    /// Warm-up ran out of time: ready with what loaded; these did not.
    WarmupTimedOut {
        /// Models still missing.
        missing: Vec<String>,
    },
    /// A scale-down picked the worker: draining.
    DrainStarted {
        /// Requests in flight at that moment.
        in_flight: u32,
    },
    /// In-flight work finished: terminate it.
    Drained,
    /// Drain ran out of time: terminate it and reassign these requests.
    DrainTimedOut {
        /// Requests still in flight.
        abandoned: u32,
    },
}

/// A worker's state change, published to the listeners and returned by the
/// call that caused it.
///
/// ```
/// use resilience_scaling::lifecycle::*;
/// let f = WorkerLifecycle::new(LifecycleConfig::default()).unwrap();
/// let e: LifecycleEvent<&str> = f.scale_up("w", vec![]).unwrap();
/// assert_eq!((e.worker, e.to), ("w", WorkerState::Ready));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleEvent<W> {
    /// The worker.
    pub worker: W,
    /// State before.
    pub from: WorkerState,
    /// State now.
    pub to: WorkerState,
    /// Why.
    pub transition: Transition,
}

/// Why a request could not start on a worker.
///
/// ```
/// use resilience_scaling::lifecycle::{LifecycleError, WorkerState};
/// let e = LifecycleError::NotAccepting { state: WorkerState::Draining };
/// assert!(e.to_string().contains("draining"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// The worker is not tracked.
    #[error("unknown worker: scale it up first")]
    UnknownWorker,
    /// The worker is warming up, draining or drained.
    #[error("worker is {state}: route the request to a ready worker")]
    NotAccepting {
        /// Its state.
        state: WorkerState,
    },
}

/// A worker's status.
///
/// ```
/// use resilience_scaling::lifecycle::*;
/// let f = WorkerLifecycle::new(LifecycleConfig::default()).unwrap();
/// f.scale_up("w", vec!["sdxl".into()]);
/// let s: WorkerStatus = f.status(&"w").unwrap();
/// assert_eq!(s.pending, ["sdxl"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerStatus {
    /// Its state.
    pub state: WorkerState,
    /// Since when.
    pub since: Instant,
    /// Requests in flight.
    pub in_flight: u32,
    /// Warm-up models loaded.
    pub loaded: Vec<String>,
    /// Warm-up models not loaded yet.
    pub pending: Vec<String>,
}

#[derive(Debug)]
struct Worker {
    state: WorkerState,
    since: Instant,
    in_flight: u32,
    loaded: Vec<String>,
    pending: Vec<String>,
}

struct Shared<W> {
    config: LifecycleConfig,
    clock: SharedClock,
    workers: Mutex<BTreeMap<W, Worker>>,
    listeners: Listeners<LifecycleEvent<W>>,
}

/// Tracks workers through warm-up, service, drain and termination. See the
/// [module docs](self). Cheap to clone (clones share the fleet); workers are
/// kept in id order.
///
/// ```
/// use resilience_scaling::lifecycle::*;
/// let f = WorkerLifecycle::new(LifecycleConfig::default()).unwrap();
/// let shared = f.clone(); // same fleet
/// f.scale_up(1u32, vec![]);
/// assert_eq!(shared.routable(), [1]);
/// ```
pub struct WorkerLifecycle<W> {
    inner: Arc<Shared<W>>,
}

impl<W> Clone for WorkerLifecycle<W> {
    fn clone(&self) -> Self {
        WorkerLifecycle {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<W> fmt::Debug for WorkerLifecycle<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerLifecycle")
            .field("config", &self.inner.config)
            .field("workers", &self.inner.workers.lock().len())
            .finish()
    }
}

impl<W> WorkerLifecycle<W>
where
    W: Ord + Clone + fmt::Debug + Send + Sync + 'static,
{
    /// A fleet on the system clock.
    ///
    /// ```
    /// use resilience_scaling::lifecycle::{LifecycleConfig, WorkerLifecycle};
    /// let f: WorkerLifecycle<u32> = WorkerLifecycle::new(LifecycleConfig::default()).unwrap();
    /// assert!(f.routable().is_empty());
    /// ```
    pub fn new(config: LifecycleConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, SystemClock)
    }

    /// A fleet reading time from `clock` (a `ManualClock` in tests).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_scaling::lifecycle::*;
    /// let clock = ManualClock::new();
    /// let f = WorkerLifecycle::with_clock(LifecycleConfig::default(), clock.clone()).unwrap();
    /// assert_eq!(f.config().warm_models, 3);
    /// # let _: &WorkerLifecycle<u8> = &f;
    /// ```
    pub fn with_clock(config: LifecycleConfig, clock: impl Clock) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(WorkerLifecycle {
            inner: Arc::new(Shared {
                config,
                clock: shared(clock),
                workers: Mutex::new(BTreeMap::new()),
                listeners: Listeners::new(),
            }),
        })
    }

    /// The config.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_scaling::lifecycle::*;
    /// let clock = ManualClock::new();
    /// let f = WorkerLifecycle::with_clock(LifecycleConfig::default(), clock.clone()).unwrap();
    /// # let _: &WorkerLifecycle<u8> = &f;
    /// assert_eq!(f.config().drain_timeout, Duration::from_secs(120));
    /// ```
    pub fn config(&self) -> &LifecycleConfig {
        &self.inner.config
    }

    /// Listeners called with every state change.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_scaling::lifecycle::*;
    /// let clock = ManualClock::new();
    /// let f = WorkerLifecycle::with_clock(LifecycleConfig::default(), clock.clone()).unwrap();
    /// f.listeners().add_fn(|e: &LifecycleEvent<&str>| println!("{} -> {}", e.worker, e.to));
    /// f.scale_up("w", vec![]);
    /// ```
    pub fn listeners(&self) -> &Listeners<LifecycleEvent<W>> {
        &self.inner.listeners
    }

    /// The `warm_models` most requested models, most requested first, from
    /// `(model, demand)` pairs (request share, request rate: any weight;
    /// non-finite or negative weights are ignored).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_scaling::lifecycle::*;
    /// let clock = ManualClock::new();
    /// let f = WorkerLifecycle::with_clock(LifecycleConfig::default(), clock.clone()).unwrap();
    /// # let _: &WorkerLifecycle<u8> = &f;
    /// assert_eq!(f.popular_models(&[("flux", 15.0), ("sdxl", 60.0), ("sd3", 20.0), ("x", f64::NAN)]), ["sdxl", "sd3", "flux"]);
    /// ```
    pub fn popular_models<S: AsRef<str>>(&self, demand: &[(S, f64)]) -> Vec<String> {
        let mut d: Vec<(&str, f64)> = demand
            .iter()
            .filter(|(_, w)| w.is_finite() && *w >= 0.0)
            .map(|(m, w)| (m.as_ref(), *w))
            .collect();
        d.sort_by(|a, b| b.1.total_cmp(&a.1));
        d.into_iter()
            .take(self.inner.config.warm_models)
            .map(|(m, _)| m.to_string())
            .collect()
    }

    /// A new worker starts warming up with `models` to load (ready at once
    /// when there are none). Scaling up a worker that is already tracked
    /// changes nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_scaling::lifecycle::*;
    /// let clock = ManualClock::new();
    /// let f = WorkerLifecycle::with_clock(LifecycleConfig::default(), clock.clone()).unwrap();
    /// assert!(f.scale_up("w", vec!["sdxl".into()]).is_none()); // warming up
    /// assert_eq!(f.state(&"w"), Some(WorkerState::WarmingUp));
    /// assert_eq!(f.scale_up("idle", vec![]).unwrap().to, WorkerState::Ready);
    /// ```
    pub fn scale_up(&self, worker: W, models: Vec<String>) -> Option<LifecycleEvent<W>> {
        let now = self.inner.clock.now();
        let event = {
            let mut workers = self.inner.workers.lock();
            if workers.contains_key(&worker) {
                return None;
            }
            let ready = models.is_empty();
            workers.insert(
                worker.clone(),
                Worker {
                    state: if ready {
                        WorkerState::Ready
                    } else {
                        WorkerState::WarmingUp
                    },
                    since: now,
                    in_flight: 0,
                    loaded: Vec::new(),
                    pending: models,
                },
            );
            ready.then(|| LifecycleEvent {
                worker,
                from: WorkerState::WarmingUp,
                to: WorkerState::Ready,
                transition: Transition::Warmed,
            })
        };
        self.publish(event)
    }

    /// The host loaded `model` on `worker`; the last warm-up model makes it
    /// ready.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_scaling::lifecycle::*;
    /// let clock = ManualClock::new();
    /// let f = WorkerLifecycle::with_clock(LifecycleConfig::default(), clock.clone()).unwrap();
    /// f.scale_up("w", vec!["sdxl".into(), "sd3".into()]);
    /// assert!(f.model_loaded(&"w", "sdxl").is_none());
    /// assert_eq!(f.model_loaded(&"w", "sd3").unwrap().transition, Transition::Warmed);
    /// ```
    pub fn model_loaded(&self, worker: &W, model: &str) -> Option<LifecycleEvent<W>> {
        let now = self.inner.clock.now();
        let event = {
            let mut workers = self.inner.workers.lock();
            let w = workers.get_mut(worker)?;
            if let Some(i) = w.pending.iter().position(|m| m == model) {
                let m = w.pending.remove(i);
                w.loaded.push(m);
            }
            (w.state == WorkerState::WarmingUp && w.pending.is_empty()).then(|| {
                w.state = WorkerState::Ready;
                w.since = now;
                LifecycleEvent {
                    worker: worker.clone(),
                    from: WorkerState::WarmingUp,
                    to: WorkerState::Ready,
                    transition: Transition::Warmed,
                }
            })
        };
        self.publish(event)
    }

    /// A request starts on `worker`: only a ready worker accepts one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_scaling::lifecycle::*;
    /// let clock = ManualClock::new();
    /// let f = WorkerLifecycle::with_clock(LifecycleConfig::default(), clock.clone()).unwrap();
    /// f.scale_up("w", vec![]);
    /// f.start_request(&"w").unwrap();
    /// assert_eq!(f.status(&"w").unwrap().in_flight, 1);
    /// ```
    pub fn start_request(&self, worker: &W) -> Result<(), LifecycleError> {
        let mut workers = self.inner.workers.lock();
        let w = workers
            .get_mut(worker)
            .ok_or(LifecycleError::UnknownWorker)?;
        if !w.state.accepts_work() {
            return Err(LifecycleError::NotAccepting { state: w.state });
        }
        w.in_flight = w.in_flight.saturating_add(1);
        Ok(())
    }

    /// A request on `worker` finished; the last one of a draining worker
    /// drains it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_scaling::lifecycle::*;
    /// let clock = ManualClock::new();
    /// let f = WorkerLifecycle::with_clock(LifecycleConfig::default(), clock.clone()).unwrap();
    /// f.scale_up("w", vec![]);
    /// f.start_request(&"w").unwrap();
    /// f.scale_down(&"w");
    /// assert_eq!(f.finish_request(&"w").unwrap().to, WorkerState::Drained);
    /// ```
    pub fn finish_request(&self, worker: &W) -> Option<LifecycleEvent<W>> {
        let now = self.inner.clock.now();
        let event = {
            let mut workers = self.inner.workers.lock();
            let w = workers.get_mut(worker)?;
            w.in_flight = w.in_flight.saturating_sub(1);
            (w.state == WorkerState::Draining && w.in_flight == 0).then(|| {
                w.state = WorkerState::Drained;
                w.since = now;
                LifecycleEvent {
                    worker: worker.clone(),
                    from: WorkerState::Draining,
                    to: WorkerState::Drained,
                    transition: Transition::Drained,
                }
            })
        };
        self.publish(event)
    }

    /// The `n` workers a scale-down should remove: those still warming up
    /// first (they serve nothing yet), then the ready ones with the least
    /// work in flight (the shortest drains).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_scaling::lifecycle::*;
    /// let clock = ManualClock::new();
    /// let f = WorkerLifecycle::with_clock(LifecycleConfig::default(), clock.clone()).unwrap();
    /// f.scale_up("busy", vec![]);
    /// f.scale_up("idle", vec![]);
    /// f.start_request(&"busy").unwrap();
    /// assert_eq!(f.pick_for_scale_down(1), ["idle"]);
    /// ```
    pub fn pick_for_scale_down(&self, n: usize) -> Vec<W> {
        let workers = self.inner.workers.lock();
        let mut c: Vec<(&W, u8, u32)> = workers
            .iter()
            .filter_map(|(k, w)| match w.state {
                WorkerState::WarmingUp => Some((k, 0, w.in_flight)),
                WorkerState::Ready => Some((k, 1, w.in_flight)),
                _ => None,
            })
            .collect();
        c.sort_by_key(|(_, rank, load)| (*rank, *load));
        c.into_iter().take(n).map(|(k, _, _)| k.clone()).collect()
    }

    /// Starts draining `worker`: no new requests; drained at once when it
    /// has none in flight. Draining a draining or drained worker changes
    /// nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_scaling::lifecycle::*;
    /// let clock = ManualClock::new();
    /// let f = WorkerLifecycle::with_clock(LifecycleConfig::default(), clock.clone()).unwrap();
    /// f.scale_up("w", vec![]);
    /// f.start_request(&"w").unwrap();
    /// assert_eq!(f.scale_down(&"w").unwrap().to, WorkerState::Draining);
    /// ```
    pub fn scale_down(&self, worker: &W) -> Option<LifecycleEvent<W>> {
        let now = self.inner.clock.now();
        let event = {
            let mut workers = self.inner.workers.lock();
            let w = workers.get_mut(worker)?;
            if !matches!(w.state, WorkerState::Ready | WorkerState::WarmingUp) {
                return None;
            }
            let from = w.state;
            w.since = now;
            if w.in_flight == 0 {
                w.state = WorkerState::Drained;
                Some(LifecycleEvent {
                    worker: worker.clone(),
                    from,
                    to: WorkerState::Drained,
                    transition: Transition::Drained,
                })
            } else {
                w.state = WorkerState::Draining;
                Some(LifecycleEvent {
                    worker: worker.clone(),
                    from,
                    to: WorkerState::Draining,
                    transition: Transition::DrainStarted {
                        in_flight: w.in_flight,
                    },
                })
            }
        };
        self.publish(event)
    }

    /// Applies the timeouts at the current time: warm-ups past
    /// `warmup_timeout` become ready with what they loaded, drains past
    /// `drain_timeout` become drained with their leftover requests named.
    /// Returns (and publishes) the changes, in worker order.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_scaling::lifecycle::*;
    /// let clock = ManualClock::new();
    /// let f = WorkerLifecycle::with_clock(LifecycleConfig::default(), clock.clone()).unwrap();
    /// f.scale_up("w", vec!["sdxl".into()]);
    /// clock.advance(Duration::from_secs(120));
    /// assert_eq!(f.tick()[0].to, WorkerState::Ready);
    /// ```
    pub fn tick(&self) -> Vec<LifecycleEvent<W>> {
        let now = self.inner.clock.now();
        let c = &self.inner.config;
        let mut events = Vec::new();
        {
            let mut workers = self.inner.workers.lock();
            for (k, w) in workers.iter_mut() {
                let age = now.saturating_duration_since(w.since);
                match w.state {
                    WorkerState::WarmingUp if age >= c.warmup_timeout => {
                        w.state = WorkerState::Ready;
                        w.since = now;
                        events.push(LifecycleEvent {
                            worker: k.clone(),
                            from: WorkerState::WarmingUp,
                            to: WorkerState::Ready,
                            transition: Transition::WarmupTimedOut {
                                missing: w.pending.clone(),
                            },
                        });
                    }
                    WorkerState::Draining if age >= c.drain_timeout => {
                        w.state = WorkerState::Drained;
                        w.since = now;
                        events.push(LifecycleEvent {
                            worker: k.clone(),
                            from: WorkerState::Draining,
                            to: WorkerState::Drained,
                            transition: Transition::DrainTimedOut {
                                abandoned: w.in_flight,
                            },
                        });
                    }
                    _ => {}
                }
            }
        }
        for e in &events {
            self.emit(e);
        }
        events
    }

    /// The state of `worker`, if tracked.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_scaling::lifecycle::*;
    /// let clock = ManualClock::new();
    /// let f = WorkerLifecycle::with_clock(LifecycleConfig::default(), clock.clone()).unwrap();
    /// f.scale_up("w", vec![]);
    /// assert_eq!(f.state(&"w"), Some(WorkerState::Ready));
    /// assert_eq!(f.state(&"x"), None);
    /// ```
    pub fn state(&self, worker: &W) -> Option<WorkerState> {
        self.inner.workers.lock().get(worker).map(|w| w.state)
    }

    /// The status of `worker`, if tracked.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_scaling::lifecycle::*;
    /// let clock = ManualClock::new();
    /// let f = WorkerLifecycle::with_clock(LifecycleConfig::default(), clock.clone()).unwrap();
    /// f.scale_up("w", vec![]);
    /// f.start_request(&"w").unwrap();
    /// assert_eq!(f.status(&"w").unwrap().in_flight, 1);
    /// ```
    pub fn status(&self, worker: &W) -> Option<WorkerStatus> {
        self.inner.workers.lock().get(worker).map(|w| WorkerStatus {
            state: w.state,
            since: w.since,
            in_flight: w.in_flight,
            loaded: w.loaded.clone(),
            pending: w.pending.clone(),
        })
    }

    /// Workers that take traffic, in id order.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_scaling::lifecycle::*;
    /// let clock = ManualClock::new();
    /// let f = WorkerLifecycle::with_clock(LifecycleConfig::default(), clock.clone()).unwrap();
    /// f.scale_up("warm", vec![]);
    /// f.scale_up("cold", vec!["sdxl".into()]);
    /// assert_eq!(f.routable(), ["warm"]);
    /// ```
    pub fn routable(&self) -> Vec<W> {
        self.in_state(WorkerState::Ready)
    }

    /// Drained workers: terminate them, then [`remove`](Self::remove).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_scaling::lifecycle::*;
    /// let clock = ManualClock::new();
    /// let f = WorkerLifecycle::with_clock(LifecycleConfig::default(), clock.clone()).unwrap();
    /// f.scale_up("w", vec![]);
    /// f.scale_down(&"w");
    /// assert_eq!(f.terminable(), ["w"]);
    /// ```
    pub fn terminable(&self) -> Vec<W> {
        self.in_state(WorkerState::Drained)
    }

    /// Workers in `state`, in id order.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_scaling::lifecycle::*;
    /// let clock = ManualClock::new();
    /// let f = WorkerLifecycle::with_clock(LifecycleConfig::default(), clock.clone()).unwrap();
    /// f.scale_up("w", vec!["sdxl".into()]);
    /// assert_eq!(f.in_state(WorkerState::WarmingUp), ["w"]);
    /// ```
    pub fn in_state(&self, state: WorkerState) -> Vec<W> {
        self.inner
            .workers
            .lock()
            .iter()
            .filter(|(_, w)| w.state == state)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Forgets a terminated worker; whether it was tracked.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_scaling::lifecycle::*;
    /// let clock = ManualClock::new();
    /// let f = WorkerLifecycle::with_clock(LifecycleConfig::default(), clock.clone()).unwrap();
    /// f.scale_up("w", vec![]);
    /// assert!(f.remove(&"w"));
    /// assert!(!f.remove(&"w"));
    /// ```
    pub fn remove(&self, worker: &W) -> bool {
        self.inner.workers.lock().remove(worker).is_some()
    }

    fn publish(&self, event: Option<LifecycleEvent<W>>) -> Option<LifecycleEvent<W>> {
        if let Some(e) = &event {
            self.emit(e);
        }
        event
    }

    fn emit(&self, e: &LifecycleEvent<W>) {
        metrics::counter!("resilience_worker_lifecycle_transitions_total", "to" => e.to.as_str())
            .increment(1);
        self.inner.listeners.emit(e);
    }
}
