//! The adaptive concurrency layer and its algorithms: trajectories against
//! hand-computed values (through the layer, on tokio's paused clock),
//! classification of drops, rejection at the adapted limit, metrics, no
//! allocation per call, and property tests (the limit always within
//! [min, max], never NaN; AIMD against a reference model).

mod common;

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use proptest::prelude::*;
use resilience_core::bulkhead::{BulkheadEvent, BulkheadFull, RejectReason};
use resilience_core::circuit_breaker::Outcome;
use resilience_tower::adaptive::{
    AdaptiveConcurrencyLayer, AdaptiveConfig, AdaptiveLimiter, Aimd, AimdConfig, Gradient2,
    Gradient2Config, LimitAlgorithm, LimitAlgorithmConfig, QueueSize, Vegas, VegasConfig,
};
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn layer(algorithm: LimitAlgorithmConfig) -> AdaptiveConcurrencyLayer {
    AdaptiveConcurrencyLayer::from_config(AdaptiveConfig::new("test", algorithm)).unwrap()
}

fn aimd(initial: u32) -> LimitAlgorithmConfig {
    LimitAlgorithmConfig::Aimd(AimdConfig {
        initial_limit: initial,
        min_limit: 1,
        max_limit: 1_000,
        ..AimdConfig::default()
    })
}

/// Sleeps the requested milliseconds, then fails when asked to.
#[derive(Debug, Clone, Copy)]
struct Job {
    ms: u64,
    fail: Option<&'static str>,
}

fn ok(ms: u64) -> Job {
    Job { ms, fail: None }
}

fn fail(ms: u64, error: &'static str) -> Job {
    Job {
        ms,
        fail: Some(error),
    }
}

fn worker() -> impl Service<Job, Response = u64, Error = &'static str, Future: Send> + Clone + Send
{
    service_fn(|j: Job| async move {
        tokio::time::sleep(ms(j.ms)).await;
        match j.fail {
            Some(e) => Err(e),
            None => Ok(j.ms),
        }
    })
}

/// Timeouts and overload are drops; "not found" carries no signal.
fn overload(r: &Result<u64, &'static str>) -> Outcome {
    match r {
        Ok(_) => Outcome::Success,
        Err("timeout" | "overloaded") => Outcome::Failure,
        Err(_) => Outcome::Ignored,
    }
}

#[tokio::test(start_paused = true)]
async fn aimd_from_30_a_drop_goes_to_27_and_ignored_errors_do_nothing() {
    let layer = layer(aimd(30)).with_classifier(overload);
    let limiter = layer.limiter().clone();
    let svc = layer.layer(worker());
    assert_eq!(limiter.limit(), 30);
    let err = svc
        .clone()
        .oneshot(fail(5, "overloaded"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "overloaded",
        "the inner error passes through"
    );
    assert_eq!(limiter.limit(), 27);
    assert_eq!(limiter.bulkhead().max_concurrent(), 27);
    let _ = svc.clone().oneshot(fail(5, "not found")).await;
    assert_eq!(limiter.limit(), 27, "ignored: no sample");
    // One call in flight of 27: the limit is not in use, no growth.
    svc.clone().oneshot(ok(5)).await.unwrap();
    assert_eq!(limiter.limit(), 27);
    let _ = svc.clone().oneshot(fail(5, "timeout")).await;
    assert_eq!(limiter.limit(), 24, "27 * 0.9 = 24.3");
}

#[tokio::test(start_paused = true)]
async fn aimd_grows_by_one_per_sample_while_half_the_limit_is_in_use() {
    let layer = layer(aimd(30));
    let limiter = layer.limiter().clone();
    let svc = layer.layer(worker());
    // Call k (1-based) starts with k in flight and takes k ms, so the
    // samples arrive in order k = 1..=20 with in_flight = k.
    let calls: Vec<_> = (1..=20)
        .map(|k| tokio::spawn(svc.clone().oneshot(ok(k))))
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    // k = 1..14: 2k < 30, unchanged. k = 15: 30 >= 30 -> 31; 16: 32 >= 31
    // -> 32; 17 -> 33; 18 -> 34; 19 -> 35; 20 -> 36.
    assert_eq!(limiter.limit(), 36);
}

#[tokio::test(start_paused = true)]
async fn aimd_slow_calls_count_as_drops() {
    let layer = layer(LimitAlgorithmConfig::Aimd(AimdConfig {
        initial_limit: 30,
        min_limit: 1,
        timeout: ms(500),
        ..AimdConfig::default()
    }));
    let limiter = layer.limiter().clone();
    let svc = layer.layer(worker());
    svc.clone().oneshot(ok(500)).await.unwrap();
    assert_eq!(limiter.limit(), 30, "exactly the timeout is not slower");
    svc.clone().oneshot(ok(501)).await.unwrap();
    assert_eq!(limiter.limit(), 27);
}

#[tokio::test(start_paused = true)]
async fn vegas_trajectory_through_the_layer() {
    let layer = layer(LimitAlgorithmConfig::Vegas(VegasConfig {
        initial_limit: 2,
        probe_multiplier: 1_000_000,
        seed: Some(5),
        ..VegasConfig::default()
    }))
    .with_classifier(overload);
    let limiter = layer.limiter().clone();
    let svc = layer.layer(worker());
    let mut trajectory = vec![limiter.limit()];
    for job in [ok(10), ok(10), ok(10), fail(10, "overloaded"), ok(40)] {
        let _ = svc.clone().oneshot(job).await;
        trajectory.push(limiter.limit());
    }
    // 1. sets the no-load RTT (10 ms): 2.
    // 2. queue ceil(2 * 0) = 0 <= threshold 1: 2 + beta 6 = 8.
    // 3. 1 in flight, 2 < 8: the limit is not in use, unchanged.
    // 4. a drop: 8 - log10(8) (1) = 7.
    // 5. 1 in flight: unchanged again.
    assert_eq!(trajectory, [2, 2, 8, 8, 7, 7]);
}

#[tokio::test(start_paused = true)]
async fn gradient2_trajectory_through_the_layer() {
    let layer = layer(LimitAlgorithmConfig::Gradient2(Gradient2Config {
        initial_limit: 2,
        min_limit: 1,
        max_limit: 100,
        smoothing: 1.0,
        queue_size: QueueSize::Fixed(2),
        ..Gradient2Config::default()
    }));
    let limiter = layer.limiter().clone();
    let svc = layer.layer(worker());
    // 1. rtt 10 ms, long 10 ms, gradient 1: 2 * 1 + 2 = 4.
    svc.clone().oneshot(ok(10)).await.unwrap();
    assert_eq!(limiter.limit(), 4);
    // 2. Two concurrent calls of 40 ms (in flight 1 and 2 of limit 4):
    //    the first has 1 < 4 / 2: it only feeds the average (10, 40: 25 ms);
    //    the second: long = (10 + 40 + 40) / 3 = 30 ms, gradient 1.5 * 30 / 40
    //    = 1.125 -> 1: 4 + 2 = 6.
    let a = tokio::spawn(svc.clone().oneshot(ok(40)));
    let b = tokio::spawn(svc.clone().oneshot(ok(40)));
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    assert_eq!(limiter.limit(), 6);
    // 3. Three concurrent 400 ms calls (in flight 1, 2, 3 of 6): the first
    //    two only feed the average; the third: long = (90 + 1200) / 6 =
    //    215 ms, gradient 1.5 * 215 / 400 = 0.80625: 6 * 0.80625 + 2 = 6.8375.
    let calls: Vec<_> = (0..3)
        .map(|_| tokio::spawn(svc.clone().oneshot(ok(400))))
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    assert_eq!(limiter.limit(), 6);
    // 4. Six concurrent 2 s calls; only the last three (in flight 4..6 >=
    //    6.8375 / 2) move the limit. 4th: long = (1290 + 4 * 2000) / 10 =
    //    929 ms (the warm-up mean's last step), gradient 1.5 * 929 / 2000 =
    //    0.69675: 6.8375 * 0.69675 + 2 = 6.764; the 5th and 6th follow the
    //    exponential average (factor 2 / 601): long 932.56 ms, gradient
    //    0.69942: 6.7309; long 936.12 ms, gradient 0.70209: 6.7257.
    let calls: Vec<_> = (0..6)
        .map(|_| tokio::spawn(svc.clone().oneshot(ok(2_000))))
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    // Reference computation of the same steps with the documented formula.
    let mut est = 6.8375_f64;
    let mut sum = 1290.0_f64;
    let mut n = 6.0_f64;
    let mut value = sum / n;
    for in_flight in 1..=6 {
        let short = 2000.0;
        if n < 10.0 {
            sum += short;
            n += 1.0;
            value = sum / n;
        } else {
            let f = 2.0 / 601.0;
            value = value * (1.0 - f) + short * f;
        }
        let long = value;
        if f64::from(in_flight) < est / 2.0 {
            continue;
        }
        let gradient = (1.5 * long / short).clamp(0.5, 1.0);
        est = (est * gradient + 2.0).clamp(1.0, 100.0);
    }
    assert_eq!(limiter.limit(), est.floor() as u32, "estimate {est}");
    assert!(
        (est - 6.7257).abs() < 1e-4,
        "slow calls shrink the estimate: {est}"
    );
    assert_eq!(limiter.limit(), 6);
}

#[tokio::test(start_paused = true)]
async fn rejects_over_the_adapted_limit_and_lets_calls_in_flight_finish() {
    let layer = layer(LimitAlgorithmConfig::Aimd(AimdConfig {
        initial_limit: 4,
        min_limit: 1,
        max_limit: 4,
        ..AimdConfig::default()
    }))
    .with_classifier(overload);
    let limiter = layer.limiter().clone();
    let svc = layer.layer(worker());
    let running: Vec<_> = (0..3)
        .map(|_| tokio::spawn(svc.clone().oneshot(ok(1_000))))
        .collect();
    tokio::task::yield_now().await;
    assert_eq!(limiter.bulkhead().in_flight(), 3);
    // A drop while 4 run: 4 * 0.9 = 3.6 -> 3, below the 4 in flight.
    let _ = svc.clone().oneshot(fail(1, "overloaded")).await;
    assert_eq!(limiter.limit(), 3);
    let err = svc.clone().oneshot(ok(1)).await.unwrap_err();
    let full = err.downcast_ref::<BulkheadFull>().expect("BulkheadFull");
    assert_eq!(full.bulkhead(), "test");
    assert_eq!(full.reason(), RejectReason::Full);
    assert_eq!(full.max_concurrent(), 3);
    for r in running {
        r.await.unwrap().unwrap();
    }
    assert_eq!(limiter.bulkhead().in_flight(), 0);
    svc.oneshot(ok(1)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn queued_calls_wait_for_max_wait_and_are_admitted_when_the_limit_grows() {
    let limiter =
        AdaptiveLimiter::new(AdaptiveConfig::new("q", aimd(1)).max_wait(ms(1_000))).unwrap();
    let svc = AdaptiveConcurrencyLayer::new(limiter.clone()).layer(worker());
    let running = tokio::spawn(svc.clone().oneshot(ok(10_000)));
    tokio::task::yield_now().await;
    let waiting = tokio::spawn(svc.clone().oneshot(ok(10)));
    tokio::task::yield_now().await;
    assert_eq!(limiter.bulkhead().waiting(), 1);
    // A sample from elsewhere grows the limit: the waiter is admitted.
    assert_eq!(limiter.record(ms(1), 1, false), 2);
    assert_eq!(waiting.await.unwrap().unwrap(), 10);
    running.abort();
}

#[tokio::test(start_paused = true)]
async fn cancelled_calls_feed_no_sample_and_free_their_slot() {
    let layer = layer(aimd(30));
    let limiter = layer.limiter().clone();
    let svc = layer.layer(worker());
    let call = tokio::spawn(svc.clone().oneshot(ok(10_000)));
    tokio::task::yield_now().await;
    assert_eq!(limiter.bulkhead().in_flight(), 1);
    call.abort();
    let _ = call.await;
    assert_eq!(limiter.bulkhead().in_flight(), 0);
    assert_eq!(limiter.limit(), 30);
}

#[test]
fn limit_changes_reach_the_bulkhead_events_and_metrics() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let limiter = metrics::with_local_recorder(&recorder, || {
        AdaptiveLimiter::new(AdaptiveConfig::new("metered", aimd(30))).unwrap()
    });
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    limiter
        .bulkhead()
        .listeners()
        .add_fn(move |e: &BulkheadEvent| sink.lock().unwrap().push(e.clone()));
    limiter.record(ms(3), 20, true);
    limiter.record(ms(3), 20, false);
    limiter.record(ms(3), 1, false);
    limiter.record_ignored();
    assert_eq!(limiter.limit(), 28);
    let changes: Vec<(u32, u32)> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            BulkheadEvent::LimitChanged {
                previous, current, ..
            } => Some((*previous, *current)),
            _ => None,
        })
        .collect();
    assert_eq!(changes, [(30, 27), (27, 28)]);
    let snap = snapshotter.snapshot().into_vec();
    let find = |name: &str, label: Option<(&str, &str)>| {
        snap.iter()
            .find(|(k, _, _, _)| {
                k.key().name() == name
                    && k.key()
                        .labels()
                        .any(|l| l.key() == "limiter" && l.value() == "metered")
                    && label.is_none_or(|(lk, lv)| {
                        k.key().labels().any(|l| l.key() == lk && l.value() == lv)
                    })
            })
            .map(|(_, _, _, v)| v)
            .unwrap_or_else(|| panic!("no {name} {label:?}"))
    };
    assert_eq!(
        find("resilience_adaptive_limit", None),
        &DebugValue::Gauge(28.0.into())
    );
    assert_eq!(
        find(
            "resilience_adaptive_samples_total",
            Some(("outcome", "dropped"))
        ),
        &DebugValue::Counter(1)
    );
    assert_eq!(
        find(
            "resilience_adaptive_samples_total",
            Some(("outcome", "success"))
        ),
        &DebugValue::Counter(2)
    );
    assert_eq!(
        find(
            "resilience_adaptive_samples_total",
            Some(("outcome", "ignored"))
        ),
        &DebugValue::Counter(1)
    );
    let DebugValue::Histogram(rtts) = find("resilience_adaptive_rtt_seconds", None) else {
        panic!("histogram");
    };
    assert_eq!(rtts.len(), 3);
}

#[test]
fn counting_allocator_is_active() {
    common::assert_counting_allocator_active();
}

#[test]
fn calls_allocate_nothing() {
    for algorithm in [
        aimd(100),
        LimitAlgorithmConfig::Vegas(VegasConfig {
            seed: Some(1),
            ..VegasConfig::default()
        }),
        LimitAlgorithmConfig::Gradient2(Gradient2Config::default()),
    ] {
        let layer = layer(algorithm).with_classifier(|r: &Result<u64, BoxError>| match r {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        });
        let mut svc = layer.layer(service_fn(|x: u64| {
            std::future::ready(Ok::<_, BoxError>(x))
        }));
        let mut cx = Context::from_waker(Waker::noop());
        let mut run = |i: u64| {
            assert!(svc.poll_ready(&mut cx).is_ready());
            let f = std::pin::pin!(svc.call(i));
            assert!(matches!(f.poll(&mut cx), Poll::Ready(Ok(x)) if x == i));
        };
        run(0);
        let info = allocation_counter::measure(|| {
            for i in 0..5_000 {
                run(i);
            }
        });
        assert_eq!(
            info.count_total,
            0,
            "{}: the call path must not allocate",
            layer.limiter().algorithm()
        );
    }
}

/// The AIMD rule in integer arithmetic, for the model test.
fn aimd_model(limit: u32, c: &AimdConfig, rtt: Duration, in_flight: u32, dropped: bool) -> u32 {
    let next = if dropped || rtt > c.timeout {
        // floor(limit * ratio), computed the same way in f64.
        (f64::from(limit) * c.backoff_ratio) as u32
    } else if u64::from(in_flight) * 2 >= u64::from(limit) {
        limit + 1
    } else {
        limit
    };
    next.clamp(c.min_limit, c.max_limit)
}

fn sample() -> impl Strategy<Value = (Duration, u32, bool)> {
    (
        prop_oneof![Just(0u64), 1u64..1_000, 1_000u64..10_000_000_000],
        prop_oneof![Just(0u32), 0u32..2_000, Just(u32::MAX)],
        any::<bool>(),
    )
        .prop_map(|(ns, in_flight, dropped)| (Duration::from_nanos(ns), in_flight, dropped))
}

fn bounds() -> impl Strategy<Value = (u32, u32, u32)> {
    (1u32..500, 0u32..1_000, 0u32..1_000).prop_map(|(min, span, pos)| {
        let max = min + span;
        let initial = min + pos % (span + 1);
        (initial, min, max)
    })
}

/// Vegas without probing, written from the documented formulas.
struct VegasModel {
    est: f64,
    noload: f64,
    min: f64,
    max: f64,
    smoothing: f64,
    alpha: f64,
    beta: f64,
}

impl VegasModel {
    fn step(&mut self, rtt: Duration, in_flight: u32, dropped: bool) -> u32 {
        let rtt = (rtt.as_nanos() as f64).max(1.0);
        if self.noload == 0.0 || rtt < self.noload {
            self.noload = rtt;
            return self.est as u32;
        }
        let digits = (self.est.floor() as u32).to_string().len() as f64 - 1.0;
        let l = digits.max(1.0);
        let new = if dropped {
            self.est - l
        } else if f64::from(in_flight) * 2.0 < self.est {
            return self.est as u32;
        } else {
            let queue = (self.est * (1.0 - self.noload / rtt)).ceil();
            if queue <= l {
                self.est + self.beta * l
            } else if queue < self.alpha * l {
                self.est + l
            } else if queue > self.beta * l {
                self.est - l
            } else {
                return self.est as u32;
            }
        };
        let new = new.clamp(self.min, self.max);
        self.est = (self.est + self.smoothing * (new - self.est)).clamp(self.min, self.max);
        self.est as u32
    }
}

/// Gradient2, written from the documented formulas.
struct Gradient2Model {
    est: f64,
    long: f64,
    sum: f64,
    n: u32,
    window: f64,
    min: f64,
    max: f64,
    smoothing: f64,
    queue: QueueSize,
    tolerance: f64,
}

impl Gradient2Model {
    fn step(&mut self, rtt: Duration, in_flight: u32) -> u32 {
        let queue = f64::from(self.queue.at(self.est as u32));
        let short = (rtt.as_nanos() as f64).max(1.0);
        if self.n < 10 {
            self.n += 1;
            self.sum += short;
            self.long = self.sum / f64::from(self.n);
        } else {
            let f = 2.0 / (self.window + 1.0);
            self.long = self.long * (1.0 - f) + short * f;
        }
        let long = self.long;
        if long / short > 2.0 {
            self.long *= 0.95;
        }
        if f64::from(in_flight) < self.est / 2.0 {
            return self.est as u32;
        }
        let gradient = (self.tolerance * long / short).clamp(0.5, 1.0);
        let new = self.est * gradient + queue;
        self.est = (self.est + self.smoothing * (new - self.est)).clamp(self.min, self.max);
        self.est as u32
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn vegas_matches_its_reference_model(
        (initial, min, max) in bounds(),
        smoothing in 0.01f64..=1.0,
        alpha in 1u32..5,
        beta_extra in 1u32..10,
        samples in proptest::collection::vec(sample(), 1..200),
    ) {
        let c = VegasConfig {
            initial_limit: initial, min_limit: min, max_limit: max, smoothing,
            alpha_factor: alpha, beta_factor: alpha + beta_extra,
            probe_multiplier: u32::MAX, seed: Some(0),
        };
        let mut v = Vegas::new(c).unwrap();
        let mut model = VegasModel {
            est: f64::from(initial), noload: 0.0, min: f64::from(min), max: f64::from(max),
            smoothing, alpha: f64::from(alpha), beta: f64::from(alpha + beta_extra),
        };
        for (rtt, in_flight, dropped) in samples {
            let expected = model.step(rtt, in_flight, dropped);
            prop_assert_eq!(v.on_sample(rtt, in_flight, dropped), expected);
            prop_assert!((v.estimate() - model.est).abs() < 1e-9);
        }
    }

    #[test]
    fn gradient2_matches_its_reference_model(
        (initial, min, max) in bounds(),
        smoothing in 0.01f64..=1.0,
        fixed in any::<bool>(),
        queue in 0u32..10,
        window in 1u32..1_000,
        tolerance in 1.0f64..4.0,
        samples in proptest::collection::vec(sample(), 1..200),
    ) {
        let queue = queue.min(max);
        let queue = if fixed { QueueSize::Fixed(queue) } else { QueueSize::Sqrt(queue) };
        let mut g = Gradient2::new(Gradient2Config {
            initial_limit: initial, min_limit: min, max_limit: max, smoothing,
            queue_size: queue, long_window: window, rtt_tolerance: tolerance,
        }).unwrap();
        let mut model = Gradient2Model {
            est: f64::from(initial), long: 0.0, sum: 0.0, n: 0, window: f64::from(window),
            min: f64::from(min), max: f64::from(max), smoothing, queue, tolerance,
        };
        for (rtt, in_flight, dropped) in samples {
            let expected = model.step(rtt, in_flight);
            prop_assert_eq!(g.on_sample(rtt, in_flight, dropped), expected);
            prop_assert!((g.estimate() - model.est).abs() <= 1e-9 * model.est.max(1.0));
        }
    }

    #[test]
    fn aimd_matches_its_reference_model_and_stays_in_bounds(
        (initial, min, max) in bounds(),
        ratio in 0.5f64..0.999,
        timeout_ms in 1u64..10_000,
        samples in proptest::collection::vec(sample(), 1..200),
    ) {
        let c = AimdConfig { initial_limit: initial, min_limit: min, max_limit: max, backoff_ratio: ratio, timeout: ms(timeout_ms) };
        let mut a = Aimd::new(c.clone()).unwrap();
        let mut model = initial;
        for (rtt, in_flight, dropped) in samples {
            model = aimd_model(model, &c, rtt, in_flight, dropped);
            let got = a.on_sample(rtt, in_flight, dropped);
            prop_assert_eq!(got, model);
            prop_assert!((min..=max).contains(&got));
            if dropped && model > min {
                prop_assert!(got < max);
            }
        }
    }

    #[test]
    fn vegas_stays_in_bounds_and_finite(
        (initial, min, max) in bounds(),
        smoothing in 0.01f64..=1.0,
        alpha in 1u32..5,
        beta_extra in 1u32..10,
        probe in 1u32..100,
        seed in any::<u64>(),
        samples in proptest::collection::vec(sample(), 1..200),
    ) {
        let mut v = Vegas::new(VegasConfig {
            initial_limit: initial, min_limit: min, max_limit: max, smoothing,
            alpha_factor: alpha, beta_factor: alpha + beta_extra, probe_multiplier: probe, seed: Some(seed),
        }).unwrap();
        for (rtt, in_flight, dropped) in samples {
            let before = v.estimate();
            let got = v.on_sample(rtt, in_flight, dropped);
            prop_assert!((min..=max).contains(&got), "{} not in [{}, {}]", got, min, max);
            prop_assert!(v.estimate().is_finite());
            prop_assert!(v.estimate() >= f64::from(min) && v.estimate() <= f64::from(max));
            if dropped {
                prop_assert!(v.estimate() <= before, "a drop never raises the limit");
            }
            prop_assert_eq!(got, v.limit());
        }
    }

    #[test]
    fn gradient2_stays_in_bounds_and_finite(
        (initial, min, max) in bounds(),
        smoothing in 0.01f64..=1.0,
        fixed in any::<bool>(),
        queue in 0u32..10,
        window in 1u32..1_000,
        tolerance in 1.0f64..4.0,
        samples in proptest::collection::vec(sample(), 1..200),
    ) {
        let queue = queue.min(max);
        let mut g = Gradient2::new(Gradient2Config {
            initial_limit: initial, min_limit: min, max_limit: max, smoothing,
            queue_size: if fixed { QueueSize::Fixed(queue) } else { QueueSize::Sqrt(queue) },
            long_window: window, rtt_tolerance: tolerance,
        }).unwrap();
        for (rtt, in_flight, dropped) in samples {
            let got = g.on_sample(rtt, in_flight, dropped);
            prop_assert!((min..=max).contains(&got), "{} not in [{}, {}]", got, min, max);
            prop_assert!(g.estimate().is_finite());
            prop_assert!(g.long_rtt() <= Duration::from_secs(11));
            prop_assert_eq!(got, g.limit());
        }
    }

    #[test]
    fn the_limiter_always_applies_the_algorithms_limit(
        samples in proptest::collection::vec(sample(), 1..100),
    ) {
        let limiter = AdaptiveLimiter::new(AdaptiveConfig::new("p", LimitAlgorithmConfig::Gradient2(Gradient2Config {
            min_limit: 1, ..Gradient2Config::default()
        }))).unwrap();
        for (rtt, in_flight, dropped) in samples {
            let got = limiter.record(rtt, in_flight, dropped);
            prop_assert_eq!(limiter.bulkhead().max_concurrent(), got);
        }
    }
}

/// Records every sample it is fed.
#[derive(Debug, Default)]
struct Recorder(Arc<std::sync::Mutex<Vec<(Duration, u32, bool)>>>);

impl LimitAlgorithm for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    fn limit(&self) -> u32 {
        8
    }
    fn on_sample(&mut self, rtt: Duration, in_flight: u32, dropped: bool) -> u32 {
        self.0.lock().unwrap().push((rtt, in_flight, dropped));
        8
    }
}

#[tokio::test(start_paused = true)]
async fn custom_algorithms_see_rtt_in_flight_and_drops_on_tokio_time() {
    let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
    let limiter =
        AdaptiveLimiter::with_algorithm(&AdaptiveConfig::default(), Recorder(samples.clone()))
            .unwrap();
    let svc = AdaptiveConcurrencyLayer::new(limiter)
        .with_classifier(overload)
        .layer(worker());
    let a = tokio::spawn(svc.clone().oneshot(ok(250)));
    let b = tokio::spawn(svc.clone().oneshot(fail(100, "timeout")));
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap_err();
    svc.oneshot(fail(3, "not found")).await.unwrap_err();
    assert_eq!(
        *samples.lock().unwrap(),
        [(ms(100), 2, true), (ms(250), 1, false)],
        "exact RTTs on paused time; the ignored call fed nothing"
    );
}

#[cfg(feature = "tsc-clock")]
#[tokio::test]
async fn the_tsc_clock_measures_real_time() {
    use resilience_tower::adaptive::RttClock;
    let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
    let config = AdaptiveConfig {
        rtt_clock: RttClock::Tsc,
        ..AdaptiveConfig::default()
    };
    let limiter = AdaptiveLimiter::with_algorithm(&config, Recorder(samples.clone())).unwrap();
    let svc = AdaptiveConcurrencyLayer::new(limiter).layer(service_fn(|d: Duration| async move {
        // Blocks the thread on purpose: this measures the clock itself.
        std::thread::sleep(d);
        Ok::<_, BoxError>(())
    }));
    svc.oneshot(ms(3)).await.unwrap();
    let (rtt, in_flight, dropped) = samples.lock().unwrap()[0];
    assert!(rtt >= ms(3) && rtt < Duration::from_secs(5), "{rtt:?}");
    assert_eq!((in_flight, dropped), (1, false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_never_lose_permits_and_the_limit_stays_consistent() {
    let limiter = AdaptiveLimiter::new(
        AdaptiveConfig::new(
            "stress",
            LimitAlgorithmConfig::Aimd(AimdConfig {
                initial_limit: 16,
                min_limit: 1,
                max_limit: 50,
                ..AimdConfig::default()
            }),
        )
        .max_wait(Duration::from_secs(30)),
    )
    .unwrap();
    let svc =
        AdaptiveConcurrencyLayer::new(limiter.clone()).layer(service_fn(|i: u32| async move {
            for _ in 0..(i % 4) {
                tokio::task::yield_now().await;
            }
            // Every seventh call is an overload answer: a drop.
            if i % 7 == 0 {
                Err::<u32, BoxError>("overloaded".into())
            } else {
                Ok(i)
            }
        }));
    let tasks: Vec<_> = (0..2_000u32)
        .map(|i| tokio::spawn(svc.clone().oneshot(i)))
        .collect();
    let (mut ok, mut dropped, mut rejected) = (0, 0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) if e.is::<BulkheadFull>() => rejected += 1,
            Err(e) => {
                assert_eq!(e.to_string(), "overloaded");
                dropped += 1;
            }
        }
    }
    assert_eq!(ok + dropped + rejected, 2_000, "every call answered");
    assert!(dropped > 0);
    assert_eq!(limiter.bulkhead().in_flight(), 0, "no permit lost");
    assert_eq!(limiter.bulkhead().waiting(), 0);
    assert!((1..=50).contains(&limiter.limit()));
    // The bulkhead holds exactly what the algorithm last asked for.
    let last = limiter.record(ms(1), 0, false);
    assert_eq!(limiter.bulkhead().max_concurrent(), last);
}
