//! Model test: random sequences of acquire / record / drop / time / manual
//! operations drive the lock-free breaker and a deliberately simple
//! reference model (plain fields, a `VecDeque` window, no atomics, no
//! packing), and their states, admissions and `retry_after` values must agree
//! after every step.

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;
use resilience_core::circuit_breaker::{
    CallError, CircuitBreaker, CircuitBreakerConfig, CircuitState, HalfOpenFailure, Outcome,
    OwnedPermit, WindowConfig,
};
use resilience_core::clock::ManualClock;

#[derive(Debug, Clone)]
enum Op {
    Acquire,
    Record(usize, Outcome),
    /// `CircuitBreaker::call` with a closure that takes this many
    /// milliseconds (advancing the clock) and succeeds or fails.
    Call(u64, bool),
    Drop(usize),
    Advance(u64),
    State,
    ForceOpen,
    Disable,
    MetricsOnly,
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    let outcome = prop_oneof![
        3 => Just(Outcome::Success),
        3 => Just(Outcome::Failure),
        1 => Just(Outcome::Ignored),
    ];
    prop_oneof![
        8 => Just(Op::Acquire),
        4 => (prop_oneof![Just(0u64), 0u64..600], any::<bool>()).prop_map(|(ms, ok)| Op::Call(ms, ok)),
        10 => (any::<usize>(), outcome).prop_map(|(i, o)| Op::Record(i, o)),
        1 => any::<usize>().prop_map(Op::Drop),
        5 => prop_oneof![0u64..50, 0u64..2_000, 0u64..20_000].prop_map(Op::Advance),
        2 => Just(Op::State),
        1 => prop_oneof![
            Just(Op::ForceOpen),
            Just(Op::Disable),
            Just(Op::MetricsOnly),
            Just(Op::Reset)
        ],
    ]
}

fn config() -> impl Strategy<Value = CircuitBreakerConfig> {
    let window = prop_oneof![
        (1u32..16).prop_map(WindowConfig::Count),
        (1u64..8).prop_map(|s| WindowConfig::Time(Duration::from_secs(s))),
    ];
    (
        window,
        1u32..12,
        prop::option::of(prop_oneof![Just(0.5), Just(1.0), 0.05f64..1.0]),
        prop::option::of(1u32..6),
        prop::option::of(1u32..5),
        prop::option::of((1u64..400, prop_oneof![Just(1.0), 0.1f64..1.0])),
        (1u64..3_000, prop::option::of((1.0f64..3.0, 0u64..6_000))),
        (
            1u32..4,
            prop::option::of(1u32..5),
            any::<bool>(),
            1u64..10_000,
        ),
        any::<bool>(),
    )
        .prop_map(
            |(window, min_calls, rate, count, consec, slow, (open, backoff), half, latency)| {
                let (permits, success, rate_mode, max_wait) = half;
                let mut c = CircuitBreakerConfig::new();
                c.window = window;
                c.minimum_calls = min_calls;
                c.failure_rate_threshold = rate;
                c.failure_count_threshold = match window {
                    WindowConfig::Count(n) => count.map(|k| k.min(n)),
                    WindowConfig::Time(_) => count,
                };
                c.consecutive_failures = consec;
                if let Some((ms, r)) = slow {
                    c.slow_call_duration = Some(Duration::from_millis(ms));
                    c.slow_call_rate_threshold = r;
                }
                c.open_duration = Duration::from_millis(open);
                c.open_backoff =
                    backoff.map(|(m, extra)| resilience_core::circuit_breaker::OpenBackoff {
                        multiplier: m,
                        max: Duration::from_millis(open + extra),
                    });
                c.half_open_permits = permits;
                c.success_threshold = success;
                c.half_open_failure = if rate_mode {
                    HalfOpenFailure::Rate
                } else {
                    HalfOpenFailure::Any
                };
                c.half_open_max_wait = Duration::from_millis(max_wait);
                c.record_latency = latency;
                c
            },
        )
}

#[derive(Debug, Clone, Copy)]
struct Ticket {
    epoch: u64,
    start: u64,
}

/// The reference model. Times are nanoseconds since the clock's start.
struct Model {
    c: CircuitBreakerConfig,
    state: CircuitState,
    epoch: u64,
    window: VecDeque<(u64, bool, bool)>,
    consecutive: u32,
    open_until: u64,
    openings: u32,
    issued: u32,
    successes: u32,
    failures: u32,
    deadline: u64,
    /// When the latest half-open trial was issued.
    trial_started: u64,
    /// Moving average (weight 1/4) of finished trials' durations, 0 before any.
    trial_avg: u64,
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos() as u64
}

impl Model {
    fn new(c: CircuitBreakerConfig) -> Self {
        Model {
            c,
            state: CircuitState::Closed,
            epoch: 0,
            window: VecDeque::new(),
            consecutive: 0,
            open_until: 0,
            openings: 0,
            issued: 0,
            successes: 0,
            failures: 0,
            deadline: 0,
            trial_started: 0,
            trial_avg: 0,
        }
    }

    /// Whether trials are in flight: only then does `half_open_max_wait`
    /// reopen the breaker.
    fn outstanding(&self) -> bool {
        match self.c.half_open_failure {
            HalfOpenFailure::Any => self.issued > 0,
            HalfOpenFailure::Rate => self.issued > self.successes + self.failures,
        }
    }

    /// A half-open rejection's `retry_after`: the expected time to the
    /// trial's outcome, capped by the re-arm and the base open duration.
    fn half_open_hint(&self, now: u64) -> Duration {
        let avg = match self.trial_avg {
            0 => self.c.slow_call_duration.map_or(1_000_000_000, nanos),
            a => a,
        }
        .max(1_000_000);
        let running = now - self.trial_started;
        let left = if running < avg { avg - running } else { avg };
        let cap = (self.deadline - now).min(nanos(self.c.open_duration));
        Duration::from_nanos(left.min(cap).max(1))
    }

    fn success_threshold(&self) -> u32 {
        self.c.success_threshold.unwrap_or(self.c.half_open_permits)
    }

    fn rate_threshold(&self) -> Option<f64> {
        match self.c.failure_rate_threshold {
            Some(r) => Some(r),
            None if self.c.failure_count_threshold.is_none()
                && self.c.consecutive_failures.is_none() =>
            {
                Some(0.5)
            }
            None => None,
        }
    }

    fn minimum_calls(&self) -> u64 {
        match self.c.window {
            WindowConfig::Count(n) => u64::from(self.c.minimum_calls.min(n)),
            WindowConfig::Time(_) => u64::from(self.c.minimum_calls),
        }
    }

    fn open_duration(&self, n: u32) -> Duration {
        match self.c.open_backoff {
            None => self.c.open_duration,
            Some(b) => {
                let secs = self.c.open_duration.as_secs_f64() * b.multiplier.powi((n - 1) as i32);
                if !secs.is_finite() || secs >= b.max.as_secs_f64() {
                    b.max
                } else {
                    Duration::from_secs_f64(secs).min(b.max)
                }
            }
        }
    }

    fn enter(&mut self, to: CircuitState, now: u64) {
        self.epoch += 1;
        match to {
            CircuitState::Open => {
                self.openings += 1;
                self.open_until = now + nanos(self.open_duration(self.openings));
            }
            CircuitState::HalfOpen => {
                self.issued = 0;
                self.successes = 0;
                self.failures = 0;
                self.deadline = now + nanos(self.c.half_open_max_wait);
            }
            CircuitState::Closed | CircuitState::Disabled | CircuitState::MetricsOnly => {
                self.window.clear();
                self.consecutive = 0;
                if to == CircuitState::Closed {
                    self.openings = 0;
                }
            }
            CircuitState::ForcedOpen => {}
        }
        self.state = to;
    }

    /// (calls, failures, slow) in the window at `now`.
    fn snapshot(&self, now: u64) -> (u64, u64, u64) {
        let in_window: Box<dyn Fn(u64) -> bool> = match self.c.window {
            WindowConfig::Count(_) => Box::new(|_| true),
            WindowConfig::Time(span) => {
                let buckets = span.as_secs().min(600);
                let bucket = nanos(span) / buckets;
                let newest = now / bucket;
                Box::new(move |t| t / bucket + buckets > newest)
            }
        };
        let mut s = (0, 0, 0);
        for &(t, f, slow) in &self.window {
            if in_window(t) {
                s.0 += 1;
                s.1 += u64::from(f);
                s.2 += u64::from(slow);
            }
        }
        s
    }

    fn tripped(&self, now: u64) -> bool {
        let (calls, failures, slow) = self.snapshot(now);
        if let Some(n) = self.c.failure_count_threshold {
            if failures >= u64::from(n) {
                return true;
            }
        }
        if calls >= self.minimum_calls() && calls > 0 {
            if let Some(t) = self.rate_threshold() {
                if failures as f64 / calls as f64 >= t {
                    return true;
                }
            }
            if self.c.slow_call_duration.is_some()
                && slow as f64 / calls as f64 >= self.c.slow_call_rate_threshold
            {
                return true;
            }
        }
        false
    }

    fn state(&mut self, now: u64) -> CircuitState {
        loop {
            match self.state {
                CircuitState::Open if now >= self.open_until => {
                    self.enter(CircuitState::HalfOpen, now)
                }
                CircuitState::HalfOpen if now >= self.deadline && self.outstanding() => {
                    self.enter(CircuitState::Open, now)
                }
                s => return s,
            }
        }
    }

    fn acquire(&mut self, now: u64) -> Result<Ticket, (CircuitState, Duration)> {
        loop {
            match self.state {
                CircuitState::Closed | CircuitState::Disabled | CircuitState::MetricsOnly => {
                    return Ok(Ticket {
                        epoch: self.epoch,
                        start: now,
                    })
                }
                CircuitState::ForcedOpen => {
                    return Err((CircuitState::ForcedOpen, self.c.open_duration))
                }
                CircuitState::Open => {
                    if now < self.open_until {
                        return Err((
                            CircuitState::Open,
                            Duration::from_nanos(self.open_until - now),
                        ));
                    }
                    self.enter(CircuitState::HalfOpen, now);
                }
                CircuitState::HalfOpen => {
                    if now >= self.deadline && self.outstanding() {
                        self.enter(CircuitState::Open, now);
                        continue;
                    }
                    if self.issued >= self.c.half_open_permits {
                        return Err((CircuitState::HalfOpen, self.half_open_hint(now)));
                    }
                    self.issued += 1;
                    self.trial_started = now;
                    self.deadline = self.deadline.max(now + nanos(self.c.half_open_max_wait));
                    return Ok(Ticket {
                        epoch: self.epoch,
                        start: now,
                    });
                }
            }
        }
    }

    fn release(&mut self, t: Ticket) {
        if t.epoch == self.epoch && self.state == CircuitState::HalfOpen && self.issued > 0 {
            self.issued -= 1;
        }
    }

    fn record(&mut self, t: Ticket, outcome: Outcome, now: u64) {
        // Strictly slower than the threshold, as in Resilience4j.
        let slow = matches!(self.c.slow_call_duration, Some(d) if now - t.start > nanos(d));
        let failure = match outcome {
            Outcome::Ignored => return self.release(t),
            Outcome::Success => false,
            Outcome::Failure => true,
        };
        if t.epoch != self.epoch {
            return;
        }
        match self.state {
            CircuitState::Closed | CircuitState::MetricsOnly | CircuitState::Disabled => {
                self.window.push_back((now, failure, slow));
                if let WindowConfig::Count(n) = self.c.window {
                    while self.window.len() > n as usize {
                        self.window.pop_front();
                    }
                }
                if self.state == CircuitState::Disabled {
                    return;
                }
                let mut trip = false;
                if let Some(th) = self.c.consecutive_failures {
                    if failure {
                        self.consecutive += 1;
                        trip = self.consecutive >= th;
                    } else {
                        self.consecutive = 0;
                    }
                }
                if (trip || self.tripped(now)) && self.state == CircuitState::Closed {
                    self.enter(CircuitState::Open, now);
                }
            }
            CircuitState::HalfOpen => {
                let took = now - t.start;
                self.trial_avg = match self.trial_avg {
                    0 => took.max(1),
                    a => ((a / 4) * 3 + took / 4).max(1),
                };
                let bad = failure || slow;
                if bad {
                    self.failures += 1;
                } else {
                    self.successes += 1;
                }
                self.deadline = self.deadline.max(now + nanos(self.c.half_open_max_wait));
                match self.c.half_open_failure {
                    HalfOpenFailure::Any => {
                        if bad {
                            self.enter(CircuitState::Open, now);
                        } else if self.successes >= self.success_threshold() {
                            self.enter(CircuitState::Closed, now);
                        } else {
                            self.issued = self.issued.saturating_sub(1);
                        }
                    }
                    HalfOpenFailure::Rate => {
                        let done = self.successes + self.failures;
                        if done >= self.c.half_open_permits {
                            let rate = f64::from(self.failures) / f64::from(done);
                            if rate >= self.c.failure_rate_threshold.unwrap_or(0.5) {
                                self.enter(CircuitState::Open, now);
                            } else {
                                self.enter(CircuitState::Closed, now);
                            }
                        }
                    }
                }
            }
            CircuitState::Open | CircuitState::ForcedOpen => {}
        }
    }

    fn manual(&mut self, to: CircuitState, now: u64) {
        if self.state == to && to != CircuitState::Closed {
            return;
        }
        self.enter(to, now);
    }
}

fn run(config: CircuitBreakerConfig, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::with_clock(config.clone(), clock.clone()).unwrap();
    let mut model = Model::new(config);
    let mut permits: Vec<(OwnedPermit, Ticket)> = Vec::new();
    let now = |c: &ManualClock| nanos(c.elapsed());
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Acquire => {
                let real = breaker.try_acquire_owned();
                let expected = model.acquire(now(&clock));
                match (real, expected) {
                    (Ok(p), Ok(t)) => permits.push((p, t)),
                    (Err(e), Err((state, wait))) => {
                        prop_assert_eq!(e.state(), state, "step {}", step);
                        prop_assert_eq!(e.retry_after(), wait, "step {}", step);
                    }
                    (real, expected) => {
                        return Err(TestCaseError::fail(format!(
                            "step {step}: real {:?} vs model {:?}",
                            real.map(|_| ()),
                            expected.map(|_| ())
                        )))
                    }
                }
            }
            Op::Call(ms, ok) => {
                let expected = model.acquire(now(&clock));
                let real = breaker.call(|| {
                    clock.advance(Duration::from_millis(ms));
                    if ok {
                        Ok(())
                    } else {
                        Err(())
                    }
                });
                match (real, expected) {
                    (Ok(()), Ok(t)) if ok => model.record(t, Outcome::Success, now(&clock)),
                    (Err(CallError::Inner(())), Ok(t)) if !ok => {
                        model.record(t, Outcome::Failure, now(&clock))
                    }
                    (Err(CallError::Open(e)), Err((state, wait))) => {
                        prop_assert_eq!(e.state(), state, "step {}", step);
                        prop_assert_eq!(e.retry_after(), wait, "step {}", step);
                    }
                    (real, expected) => {
                        return Err(TestCaseError::fail(format!(
                            "step {step}: call: real {:?} vs model {:?}",
                            real,
                            expected.map(|_| ())
                        )))
                    }
                }
            }
            Op::Record(i, outcome) if !permits.is_empty() => {
                let (p, t) = permits.swap_remove(i % permits.len());
                p.record(outcome);
                model.record(t, outcome, now(&clock));
            }
            Op::Drop(i) if !permits.is_empty() => {
                let (p, t) = permits.swap_remove(i % permits.len());
                drop(p);
                model.release(t);
            }
            Op::Record(..) | Op::Drop(_) => {}
            Op::Advance(ms) => clock.advance(Duration::from_millis(ms)),
            Op::State => {
                prop_assert_eq!(breaker.state(), model.state(now(&clock)), "step {}", step);
            }
            Op::ForceOpen => {
                breaker.force_open();
                model.manual(CircuitState::ForcedOpen, now(&clock));
            }
            Op::Disable => {
                breaker.disable();
                model.manual(CircuitState::Disabled, now(&clock));
            }
            Op::MetricsOnly => {
                breaker.metrics_only();
                model.manual(CircuitState::MetricsOnly, now(&clock));
            }
            Op::Reset => {
                breaker.reset();
                model.manual(CircuitState::Closed, now(&clock));
            }
        }
        let m = breaker.metrics();
        prop_assert_eq!(
            m.state,
            model.state(now(&clock)),
            "state after step {}",
            step
        );
        if model.state.permits_calls() {
            let (calls, failures, slow) = model.snapshot(now(&clock));
            prop_assert_eq!(
                (m.window.calls, m.window.failures, m.window.slow_calls),
                (calls, failures, slow),
                "window after step {}",
                step
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn breaker_matches_reference_model(config in config(), ops in prop::collection::vec(op(), 1..200)) {
        run(config, ops)?;
    }
}
