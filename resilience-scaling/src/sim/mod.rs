//! A trace simulator: replay demand through any policy with a provisioning
//! delay, and measure what the policy costs and misses.
//!
//! Each tick of the [`Trace`] the simulated cluster serves demand with its
//! ready replicas (`capacity_per_replica` each); demand above capacity
//! queues up as backlog and drains when capacity frees up. Every
//! `decision_interval` the [`Policy`] sees an [`Observation`] (demand,
//! utilization, backlog, wait, wall-clock time) and returns a replica count;
//! new replicas become ready after `provisioning_delay`, removed ones go at
//! once.
//!
//! The [`Report`] gives replicas over time, scale events, **capacity
//! shortfall** (demand above capacity × time, in demand-seconds, and the
//! time spent short), **over-provisioning cost** (ready replicas beyond what
//! the demand needed, priced per replica-hour), total cost and **flaps**
//! (scale direction reversals within `flap_window`). With the `svg` feature,
//! [`chart::write_svg`] draws demand, capacity and replicas of one or more
//! runs.
//!
//! ```
//! use std::time::Duration;
//! use resilience_scaling::hpa::Hpa;
//! use resilience_scaling::sim::{HpaPolicy, SimConfig, Simulator, Trace, TraceSpec};
//!
//! let trace = Trace::generate(&TraceSpec { duration: Duration::from_secs(86_400), ..TraceSpec::default() });
//! let hpa = Hpa::from_manifest_yaml(include_str!("../../presets/runtime-engine-hpa.yaml"))?;
//! let sim = Simulator::new(SimConfig { capacity_per_replica: 0.6, initial_replicas: 20, ..SimConfig::default() });
//! let report = sim.run(&trace, &mut HpaPolicy::new(hpa));
//! assert!(report.max_replicas >= 10 && report.max_replicas <= 500);
//! println!("{}", report.summary());
//! # Ok::<(), resilience_core::config::ConfigError>(())
//! ```

#[cfg(feature = "svg")]
pub mod chart;
mod policies;
mod trace;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub use policies::{FnPolicy, HpaPolicy, MaxOf, PredictivePolicy, RulePolicy, Scheduled};
pub use trace::{Spike, Trace, TraceSpec};

use crate::schedule::UtcTime;

/// Errors of the simulator (trace loading, chart writing).
///
/// ```
/// use resilience_scaling::sim::SimError;
/// let e = SimError::Csv { line: 3, message: "bad".into() };
/// assert_eq!(e.to_string(), "trace CSV line 3: bad");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A CSV trace could not be read.
    #[error("trace CSV line {line}: {message}")]
    Csv {
        /// 1-based line (0 = the whole file).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The chart could not be drawn or written.
    #[error("cannot write chart: {0}")]
    Chart(String),
}

/// What a policy sees at a decision.
///
/// ```
/// use resilience_scaling::sim::Observation;
/// let o = Observation::example();
/// assert_eq!(o.ready_replicas, 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// Monotonic time of the tick.
    pub now: Instant,
    /// Wall-clock time of the tick.
    pub wall: UtcTime,
    /// Demand this tick.
    pub demand: f64,
    /// Capacity of the ready replicas.
    pub capacity: f64,
    /// Replicas serving.
    pub ready_replicas: u32,
    /// Replicas requested (ready + provisioning): the policy's "current".
    pub requested_replicas: u32,
    /// Queued demand.
    pub backlog: f64,
    /// Demand / capacity in percent, capped at 100 (like CPU).
    pub utilization: f64,
    /// Seconds the backlog would take to drain at full capacity.
    pub wait_seconds: f64,
    /// Capacity of one replica.
    pub capacity_per_replica: f64,
}

impl Observation {
    /// A fixed observation (for examples and tests).
    pub fn example() -> Self {
        Observation {
            now: Instant::now(),
            wall: UtcTime::from_unix(1_704_067_200),
            demand: 6.0,
            capacity: 6.0,
            ready_replicas: 10,
            requested_replicas: 10,
            backlog: 0.0,
            utilization: 100.0,
            wait_seconds: 0.0,
            capacity_per_replica: 0.6,
        }
    }
}

/// A scaling policy under simulation.
///
/// ```
/// use resilience_scaling::sim::{Observation, Policy};
/// #[derive(Debug)]
/// struct Fixed(u32);
/// impl Policy for Fixed {
///     fn name(&self) -> &str { "fixed" }
///     fn decide(&mut self, _: &Observation) -> u32 { self.0 }
/// }
/// assert_eq!(Fixed(3).decide(&Observation::example()), 3);
/// ```
pub trait Policy {
    /// Name shown in reports and charts.
    fn name(&self) -> &str;
    /// The replica count to request.
    fn decide(&mut self, obs: &Observation) -> u32;
}

impl<P: Policy + ?Sized> Policy for Box<P> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn decide(&mut self, obs: &Observation) -> u32 {
        (**self).decide(obs)
    }
}

/// Simulator settings.
///
/// ```
/// use resilience_scaling::sim::SimConfig;
/// let c = SimConfig::default();
/// assert_eq!(c.provisioning_delay.as_secs(), 180);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Demand one ready replica serves per second.
    pub capacity_per_replica: f64,
    /// Replicas at the start (all ready).
    pub initial_replicas: u32,
    /// Time from request to ready (default 3 min, a GPU worker loading models).
    pub provisioning_delay: Duration,
    /// How often the policy decides (default 15 s, the HPA sync period).
    pub decision_interval: Duration,
    /// Price of one replica-hour (default 1.0, an A10G in the GPU inference platform's table).
    pub cost_per_replica_hour: f64,
    /// A scale event reversing the previous one within this window is a
    /// flap (default 10 min).
    pub flap_window: Duration,
    /// Points kept in the report's time series (default 2000).
    pub series_points: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            capacity_per_replica: 1.0,
            initial_replicas: 1,
            provisioning_delay: Duration::from_secs(180),
            decision_interval: Duration::from_secs(15),
            cost_per_replica_hour: 1.0,
            flap_window: Duration::from_secs(600),
            series_points: 2000,
        }
    }
}

/// One point of a report's (down-sampled) time series.
///
/// ```
/// use resilience_scaling::sim::SeriesPoint;
/// let p = SeriesPoint { t_hours: 1.5, demand: 30.0, capacity: 36.0, replicas: 60.0 };
/// assert!(p.capacity >= p.demand);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesPoint {
    /// Hours since the trace start.
    pub t_hours: f64,
    /// Mean demand over the bucket.
    pub demand: f64,
    /// Mean ready capacity over the bucket.
    pub capacity: f64,
    /// Mean requested replicas over the bucket.
    pub replicas: f64,
}

/// A scale event in a simulation.
///
/// ```
/// use resilience_scaling::sim::ScaleEvent;
/// let e = ScaleEvent { t_secs: 60.0, from: 3, to: 5 };
/// assert!(e.to > e.from);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleEvent {
    /// Seconds since the trace start.
    pub t_secs: f64,
    /// Requested replicas before.
    pub from: u32,
    /// Requested replicas after.
    pub to: u32,
}

/// The outcome of one simulation.
///
/// ```
/// use resilience_scaling::sim::{FnPolicy, SimConfig, Simulator, Trace};
/// let trace = Trace::from_csv("0,5\n1,5\n2,50\n3,50\n").unwrap();
/// let sim = Simulator::new(SimConfig { initial_replicas: 5, ..SimConfig::default() });
/// let r = sim.run(&trace, &mut FnPolicy::new("fixed", |_| 5));
/// assert_eq!(r.shortfall, 90.0); // two seconds 45 above capacity
/// assert_eq!(r.shortfall_seconds, 2.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Policy name.
    pub policy: String,
    /// Ticks simulated.
    pub ticks: usize,
    /// Simulated time in seconds.
    pub duration_secs: f64,
    /// Every change of the requested count.
    pub events: Vec<ScaleEvent>,
    /// Scale-ups.
    pub scale_ups: usize,
    /// Scale-downs.
    pub scale_downs: usize,
    /// Direction reversals within the flap window.
    pub flaps: usize,
    /// Demand above capacity × time (demand-seconds).
    pub shortfall: f64,
    /// Seconds with demand above capacity.
    pub shortfall_seconds: f64,
    /// Largest backlog.
    pub max_backlog: f64,
    /// Cost of ready replicas beyond those the demand needed.
    pub over_provisioning_cost: f64,
    /// Cost of all requested replicas.
    pub total_cost: f64,
    /// Replica-hours requested.
    pub replica_hours: f64,
    /// Highest requested count.
    pub max_replicas: u32,
    /// Lowest requested count.
    pub min_replicas: u32,
    /// Down-sampled series for charts.
    pub series: Vec<SeriesPoint>,
}

impl Report {
    /// A one-paragraph summary.
    pub fn summary(&self) -> String {
        format!(
            "{}: {:.1} h simulated, replicas {}..{}, {} scale-ups, {} scale-downs, {} flaps, \
             shortfall {:.0} demand-s over {:.0} s (max backlog {:.0}), \
             over-provisioning {:.2}, total cost {:.2} ({:.0} replica-hours)",
            self.policy,
            self.duration_secs / 3600.0,
            self.min_replicas,
            self.max_replicas,
            self.scale_ups,
            self.scale_downs,
            self.flaps,
            self.shortfall,
            self.shortfall_seconds,
            self.max_backlog,
            self.over_provisioning_cost,
            self.total_cost,
            self.replica_hours,
        )
    }
}

/// Runs traces through policies. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Simulator {
    config: SimConfig,
}

impl Simulator {
    /// A simulator with `config` (non-finite or non-positive capacities are
    /// treated as 1.0).
    pub fn new(mut config: SimConfig) -> Self {
        if !(config.capacity_per_replica.is_finite() && config.capacity_per_replica > 0.0) {
            config.capacity_per_replica = 1.0;
        }
        if !(config.cost_per_replica_hour.is_finite() && config.cost_per_replica_hour >= 0.0) {
            config.cost_per_replica_hour = 0.0;
        }
        Simulator { config }
    }

    /// The settings.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Replays `trace` through `policy`.
    ///
    /// ```
    /// use resilience_scaling::sim::{FnPolicy, SimConfig, Simulator, Trace};
    /// let trace = Trace::from_csv("0,3\n1,3\n").unwrap();
    /// let r = Simulator::new(SimConfig { initial_replicas: 3, ..SimConfig::default() })
    ///     .run(&trace, &mut FnPolicy::new("keep", |o| o.requested_replicas));
    /// assert_eq!((r.ticks, r.shortfall, r.events.len()), (2, 0.0, 0));
    /// ```
    pub fn run<P: Policy + ?Sized>(&self, trace: &Trace, policy: &mut P) -> Report {
        let mut run = Run::new(&self.config, trace, policy.name());
        for (i, &demand) in trace.demand.iter().enumerate() {
            let capacity = run.serve(i, demand);
            if i.checked_rem(run.decide_every).is_none_or(|r| r == 0) {
                let want = policy.decide(&run.observe(trace, i, demand, capacity));
                if want != run.requested {
                    run.rescale(i, want);
                }
            }
            run.sample(i, demand, capacity);
        }
        run.report
    }
}

/// One replay in progress: the fleet, the queue and the report so far.
struct Run {
    dt: f64,
    step_secs: i64,
    sub_second: bool,
    cap_per: f64,
    decide_every: usize,
    delay_ticks: usize,
    flap_window: f64,
    cost_per_tick: f64,
    n: usize,
    bucket: usize,
    t0: Instant,
    ready: u32,
    requested: u32,
    /// Replicas on their way: (tick they are ready, how many).
    pending: VecDeque<(usize, u32)>,
    backlog: f64,
    last_dir: Option<(bool, f64)>,
    /// The series bucket being averaged: demand, capacity, replicas, ticks.
    bucket_sums: (f64, f64, f64, usize),
    report: Report,
}

impl Run {
    fn new(c: &SimConfig, trace: &Trace, policy: &str) -> Run {
        let dt = trace.step.as_secs_f64().max(1e-3);
        let n = trace.demand.len();
        Run {
            dt,
            step_secs: i64::try_from(trace.step.as_secs().max(1)).unwrap_or(i64::MAX),
            sub_second: trace.step < Duration::from_secs(1),
            cap_per: c.capacity_per_replica,
            decide_every: ((c.decision_interval.as_secs_f64() / dt).round() as usize).max(1),
            delay_ticks: (c.provisioning_delay.as_secs_f64() / dt).round() as usize,
            flap_window: c.flap_window.as_secs_f64(),
            cost_per_tick: c.cost_per_replica_hour * dt / 3600.0,
            n,
            bucket: n.div_ceil(c.series_points.max(1)).max(1),
            t0: Instant::now(),
            ready: c.initial_replicas,
            requested: c.initial_replicas,
            pending: VecDeque::new(),
            backlog: 0.0,
            last_dir: None,
            bucket_sums: (0.0, 0.0, 0.0, 0),
            report: Report {
                policy: policy.to_string(),
                ticks: n,
                duration_secs: n as f64 * dt,
                events: Vec::new(),
                scale_ups: 0,
                scale_downs: 0,
                flaps: 0,
                shortfall: 0.0,
                shortfall_seconds: 0.0,
                max_backlog: 0.0,
                over_provisioning_cost: 0.0,
                total_cost: 0.0,
                replica_hours: 0.0,
                max_replicas: c.initial_replicas,
                min_replicas: c.initial_replicas,
                series: Vec::with_capacity(c.series_points.min(n).saturating_add(1)),
            },
        }
    }

    /// Tick `i`: replicas that became ready join, the fleet serves the
    /// backlog and the new demand, and the costs accrue. Returns the
    /// capacity of the tick.
    fn serve(&mut self, i: usize, demand: f64) -> f64 {
        while self.pending.front().is_some_and(|(at, _)| *at <= i) {
            if let Some((_, k)) = self.pending.pop_front() {
                self.ready = self.ready.saturating_add(k);
            }
        }
        let (dt, r) = (self.dt, &mut self.report);
        let capacity = f64::from(self.ready) * self.cap_per;
        let arrivals = demand * dt;
        let served = (self.backlog + arrivals).min(capacity * dt);
        self.backlog = (self.backlog + arrivals - served).max(0.0);
        if demand > capacity {
            r.shortfall += (demand - capacity) * dt;
            r.shortfall_seconds += dt;
        }
        r.max_backlog = r.max_backlog.max(self.backlog);
        let needed = (demand / self.cap_per).ceil();
        let idle = (f64::from(self.ready) - needed).max(0.0);
        r.over_provisioning_cost += idle * self.cost_per_tick;
        r.total_cost += f64::from(self.requested) * self.cost_per_tick;
        r.replica_hours += f64::from(self.requested) * dt / 3600.0;
        capacity
    }

    /// What the policy sees at tick `i`.
    fn observe(&self, trace: &Trace, i: usize, demand: f64, capacity: f64) -> Observation {
        let offset = Duration::try_from_secs_f64(i as f64 * self.dt).unwrap_or(Duration::MAX);
        let now = self.t0.checked_add(offset).unwrap_or(self.t0);
        let wall = if self.sub_second {
            trace
                .start
                .add_secs(i64::try_from(offset.as_secs()).unwrap_or(i64::MAX))
        } else {
            trace
                .start
                .add_secs((i as i64).saturating_mul(self.step_secs))
        };
        let backlog = self.backlog;
        Observation {
            now,
            wall,
            demand,
            capacity,
            ready_replicas: self.ready,
            requested_replicas: self.requested,
            backlog,
            utilization: if capacity > 0.0 {
                (demand / capacity * 100.0).min(100.0)
            } else if demand > 0.0 {
                100.0
            } else {
                0.0
            },
            wait_seconds: if capacity > 0.0 {
                backlog / capacity
            } else if backlog > 0.0 {
                f64::INFINITY
            } else {
                0.0
            },
            capacity_per_replica: self.cap_per,
        }
    }

    /// The policy asked for `want` replicas at tick `i`: a scale event,
    /// counted as a flap when it reverses the last one within the window.
    fn rescale(&mut self, i: usize, want: u32) {
        let t = i as f64 * self.dt;
        let up = want > self.requested;
        let r = &mut self.report;
        if let Some((prev_up, prev_t)) = self.last_dir {
            if prev_up != up && t - prev_t <= self.flap_window {
                r.flaps = r.flaps.saturating_add(1);
            }
        }
        self.last_dir = Some((up, t));
        r.events.push(ScaleEvent {
            t_secs: t,
            from: self.requested,
            to: want,
        });
        if up {
            r.scale_ups = r.scale_ups.saturating_add(1);
            self.pending.push_back((
                i.saturating_add(self.delay_ticks),
                want.saturating_sub(self.requested),
            ));
        } else {
            r.scale_downs = r.scale_downs.saturating_add(1);
            self.remove(self.requested.saturating_sub(want));
        }
        self.requested = want;
        let r = &mut self.report;
        r.max_replicas = r.max_replicas.max(want);
        r.min_replicas = r.min_replicas.min(want);
        if self.delay_ticks == 0 {
            while let Some((_, k)) = self.pending.pop_front() {
                self.ready = self.ready.saturating_add(k);
            }
        }
    }

    /// Scales down by `remove`: replicas still on their way are cancelled
    /// first (newest first), then ready ones stop.
    fn remove(&mut self, mut remove: u32) {
        while remove > 0 {
            match self.pending.back_mut() {
                Some((_, k)) if *k > remove => {
                    *k = k.saturating_sub(remove);
                    remove = 0;
                }
                Some((_, k)) => {
                    remove = remove.saturating_sub(*k);
                    self.pending.pop_back();
                }
                None => {
                    self.ready = self.ready.saturating_sub(remove);
                    remove = 0;
                }
            }
        }
    }

    /// Adds tick `i` to the chart series, one point per bucket.
    fn sample(&mut self, i: usize, demand: f64, capacity: f64) {
        let (b_demand, b_cap, b_rep, b_n) = &mut self.bucket_sums;
        *b_demand += demand;
        *b_cap += capacity;
        *b_rep += f64::from(self.requested);
        // b_n <= bucket and i < n: neither can overflow.
        *b_n = b_n.saturating_add(1);
        if *b_n == self.bucket || i.saturating_add(1) == self.n {
            let k = *b_n as f64;
            self.report.series.push(SeriesPoint {
                t_hours: i.saturating_add(1).saturating_sub(*b_n) as f64 * self.dt / 3600.0,
                demand: *b_demand / k,
                capacity: *b_cap / k,
                replicas: *b_rep / k,
            });
            self.bucket_sums = (0.0, 0.0, 0.0, 0);
        }
    }
}
