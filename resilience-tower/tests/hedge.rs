//! The hedge layer under paused tokio time: the hedge wins and the loser is
//! cancelled, the primary wins and the hedge is cancelled, failures, the
//! extra-load budget (against a model), the percentile delay, config.

mod common;

use common::call;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use resilience_tower::hedge::{Hedge, HedgeConfig, HedgeDelay, HedgeLayer, HedgeStats};
use tokio::time::Instant;
use tower::{service_fn, BoxError, Layer, Service};

const MS: Duration = Duration::from_millis(1);

/// Sets its flag when dropped: shows a request's future was cancelled.
struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// What the n-th request (from 0) of a scripted replica set does.
#[derive(Clone, Copy, Debug)]
struct Plan {
    latency: Duration,
    fails: bool,
}

/// Replicas answering the n-th request by `plan(n)`; each request's
/// future sets `dropped[n]` when dropped, `finished[n]` when it completed.
#[derive(Clone, Default)]
struct Replicas {
    started: Arc<Mutex<Vec<Duration>>>,
    dropped: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
    finished: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
}

impl Replicas {
    fn service(
        &self,
        start: Instant,
        plan: fn(usize) -> Plan,
    ) -> impl Service<u32, Response = (u32, usize), Error = BoxError, Future = impl Send> + Clone
    {
        let this = self.clone();
        service_fn(move |x: u32| {
            let n = {
                let mut s = this.started.lock().unwrap();
                s.push(start.elapsed());
                s.len() - 1
            };
            let dropped = Arc::new(AtomicBool::new(false));
            let finished = Arc::new(AtomicBool::new(false));
            this.dropped.lock().unwrap().push(dropped.clone());
            this.finished.lock().unwrap().push(finished.clone());
            let p = plan(n);
            async move {
                let _guard = DropFlag(dropped);
                tokio::time::sleep(p.latency).await;
                finished.store(true, Ordering::SeqCst);
                if p.fails {
                    Err::<_, BoxError>(format!("request {n} failed").into())
                } else {
                    Ok((x, n))
                }
            }
        })
    }

    fn started(&self) -> Vec<Duration> {
        self.started.lock().unwrap().clone()
    }

    fn dropped(&self, n: usize) -> bool {
        self.dropped.lock().unwrap()[n].load(Ordering::SeqCst)
    }

    fn finished(&self, n: usize) -> bool {
        self.finished.lock().unwrap()[n].load(Ordering::SeqCst)
    }
}

fn always(ratio: f64, after: Duration) -> Hedge {
    Hedge::new(
        "test",
        HedgeConfig {
            max_hedge_ratio: ratio,
            ..HedgeConfig::fixed(after)
        },
    )
    .unwrap()
}

fn ok(ms: u64) -> Plan {
    Plan {
        latency: Duration::from_millis(ms),
        fails: false,
    }
}

fn err(ms: u64) -> Plan {
    Plan {
        latency: Duration::from_millis(ms),
        fails: true,
    }
}

#[tokio::test(start_paused = true)]
async fn the_hedge_wins_and_the_slow_original_is_cancelled() {
    let start = Instant::now();
    let replicas = Replicas::default();
    let hedge = always(1.0, 200 * MS);
    let mut svc = HedgeLayer::new(hedge.clone()).layer(replicas.service(start, |n| {
        if n == 0 {
            ok(1000)
        } else {
            ok(100)
        }
    }));
    let (x, served_by) = call(&mut svc, 7).await.unwrap();
    assert_eq!((x, served_by), (7, 1), "the second request answered");
    assert_eq!(start.elapsed(), 300 * MS, "200ms delay + 100ms");
    assert_eq!(replicas.started(), [Duration::ZERO, 200 * MS]);
    assert!(replicas.dropped(0), "the original request was cancelled");
    assert!(!replicas.finished(0), "... before it finished");
    assert_eq!(
        hedge.stats(),
        HedgeStats {
            calls: 1,
            hedged: 1,
            hedge_wins: 1,
            primary_wins: 0,
            budget_refused: 0
        }
    );
}

#[tokio::test(start_paused = true)]
async fn the_original_wins_and_the_hedge_is_cancelled() {
    let start = Instant::now();
    let replicas = Replicas::default();
    let hedge = always(1.0, 200 * MS);
    let mut svc = HedgeLayer::new(hedge.clone()).layer(replicas.service(start, |n| {
        if n == 0 {
            ok(300)
        } else {
            ok(500)
        }
    }));
    let (_, served_by) = call(&mut svc, 7).await.unwrap();
    assert_eq!(served_by, 0);
    assert_eq!(start.elapsed(), 300 * MS);
    assert!(
        replicas.dropped(1) && !replicas.finished(1),
        "hedge cancelled"
    );
    assert_eq!(hedge.stats().primary_wins, 1);
}

#[tokio::test(start_paused = true)]
async fn a_fast_call_is_not_hedged() {
    let start = Instant::now();
    let replicas = Replicas::default();
    let hedge = always(1.0, 200 * MS);
    let mut svc = HedgeLayer::new(hedge.clone()).layer(replicas.service(start, |_| ok(199)));
    call(&mut svc, 1).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(replicas.started(), [Duration::ZERO]);
    assert_eq!(hedge.stats().hedged, 0);
}

#[tokio::test(start_paused = true)]
async fn failures_do_not_win() {
    // The original fails before the delay: its error, no hedge.
    let start = Instant::now();
    let replicas = Replicas::default();
    let mut svc =
        HedgeLayer::new(always(1.0, 200 * MS)).layer(replicas.service(start, |_| err(50)));
    let e = call(&mut svc, 1).await.unwrap_err();
    assert_eq!(e.to_string(), "request 0 failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(replicas.started().len(), 1);

    // The original fails after the hedge was sent: the hedge answers.
    let start = Instant::now();
    let replicas = Replicas::default();
    let mut svc = HedgeLayer::new(always(1.0, 200 * MS)).layer(replicas.service(start, |n| {
        if n == 0 {
            err(250)
        } else {
            ok(300)
        }
    }));
    assert_eq!(call(&mut svc, 1).await.unwrap().1, 1);
    assert_eq!(start.elapsed(), 500 * MS);

    // The hedge fails first: the original is awaited.
    let start = Instant::now();
    let replicas = Replicas::default();
    let mut svc = HedgeLayer::new(always(1.0, 200 * MS)).layer(replicas.service(start, |n| {
        if n == 0 {
            ok(600)
        } else {
            err(10)
        }
    }));
    assert_eq!(call(&mut svc, 1).await.unwrap().1, 0);
    assert_eq!(start.elapsed(), 600 * MS);

    // Both fail: the original request's error.
    let start = Instant::now();
    let replicas = Replicas::default();
    let mut svc = HedgeLayer::new(always(1.0, 200 * MS)).layer(replicas.service(start, |n| {
        if n == 0 {
            err(600)
        } else {
            err(10)
        }
    }));
    let e = call(&mut svc, 1).await.unwrap_err();
    assert_eq!(e.to_string(), "request 0 failed");
    assert_eq!(start.elapsed(), 600 * MS);
}

#[tokio::test(start_paused = true)]
async fn requests_the_hook_will_not_copy_are_never_hedged() {
    let start = Instant::now();
    let replicas = Replicas::default();
    let hedge = always(1.0, 10 * MS);
    let mut svc = HedgeLayer::new(hedge.clone())
        .clone_requests_with(|x: &u32| (x % 2 == 0).then_some(*x))
        .layer(replicas.service(start, |_| ok(100)));
    call(&mut svc, 1).await.unwrap(); // odd: a write, never sent twice
    assert_eq!(replicas.started().len(), 1);
    call(&mut svc, 2).await.unwrap();
    assert_eq!(replicas.started().len(), 3);
    assert_eq!(hedge.stats().hedged, 1);
}

#[tokio::test(start_paused = true)]
async fn the_budget_caps_hedges_at_the_ratio_of_requests() {
    let start = Instant::now();
    let replicas = Replicas::default();
    let hedge = always(0.25, 10 * MS);
    let mut svc = HedgeLayer::new(hedge.clone()).layer(replicas.service(start, |_| ok(100)));
    for i in 0..20 {
        call(&mut svc, i).await.unwrap();
    }
    let s = hedge.stats();
    assert_eq!(s.calls, 20);
    assert_eq!(s.hedged, 5, "25% of 20 requests");
    assert_eq!(s.budget_refused, 15);
    assert_eq!(replicas.started().len(), 25);
}

#[tokio::test(start_paused = true)]
async fn the_percentile_delay_follows_recent_latencies() {
    let start = Instant::now();
    let replicas = Replicas::default();
    let hedge = Hedge::new(
        "p90",
        HedgeConfig {
            delay: HedgeDelay::Percentile {
                percentile: 0.9,
                min_samples: 100,
                min_delay: None,
            },
            max_hedge_ratio: 1.0,
            burst: 1000,
            window: Duration::from_secs(3600),
        },
    )
    .unwrap();
    // Calls 0..99 take 1..=100ms; the 101st takes 10s.
    let mut svc = HedgeLayer::new(hedge.clone()).layer(replicas.service(start, |n| match n {
        0..=99 => ok(n as u64 + 1),
        100 => ok(10_000),
        _ => ok(5),
    }));
    for i in 0..99 {
        call(&mut svc, i).await.unwrap();
        assert_eq!(hedge.current_delay(), None, "not enough samples yet");
    }
    call(&mut svc, 99).await.unwrap();
    assert_eq!(hedge.stats().hedged, 0);
    let p90 = hedge.current_delay().unwrap();
    assert!(p90 >= 90 * MS && p90 <= 90 * MS * 9 / 8, "{p90:?}");
    let t = start.elapsed();
    let (_, by) = call(&mut svc, 100).await.unwrap();
    assert_eq!(by, 101, "hedged at p90 and answered by the copy");
    // tokio's timer wheel fires on whole milliseconds, rounding up.
    let took = start.elapsed() - t;
    assert!(
        took >= p90 + 5 * MS && took < p90 + 6 * MS,
        "{took:?} vs {p90:?}"
    );
    assert!(replicas.dropped(100));
}

#[test]
fn config_is_validated_with_the_field_named() {
    let bad = |c: HedgeConfig| Hedge::new("x", c).unwrap_err().field().map(str::to_owned);
    assert_eq!(
        bad(HedgeConfig::percentile(0.0)),
        Some("delay.percentile".into())
    );
    assert_eq!(
        bad(HedgeConfig::percentile(f64::NAN)),
        Some("delay.percentile".into())
    );
    assert_eq!(
        bad(HedgeConfig {
            max_hedge_ratio: -0.1,
            ..HedgeConfig::fixed(MS)
        }),
        Some("max_hedge_ratio".into())
    );
    assert_eq!(
        bad(HedgeConfig {
            window: Duration::ZERO,
            ..HedgeConfig::percentile(0.9)
        }),
        Some("window".into())
    );
    let yaml = "delay: {kind: fixed, after: 20ms, extra: 1}";
    assert!(resilience_core::config::from_yaml_str::<HedgeConfig>(yaml).is_err());
    let c: HedgeConfig = resilience_core::config::from_yaml_str(
        "delay: {kind: percentile, percentile: 0.99, min_samples: 10, min_delay: 5ms}\nburst: 3\nwindow: 1m",
    )
    .unwrap();
    let json = serde_json::to_string(&c).unwrap();
    assert_eq!(serde_json::from_str::<HedgeConfig>(&json).unwrap(), c);
}

#[test]
fn the_success_path_allocates_nothing() {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _ctx = rt.enter();
    for hedge in [
        always(0.1, 50 * MS),
        Hedge::new(
            "p",
            HedgeConfig {
                delay: HedgeDelay::Percentile {
                    percentile: 0.9,
                    min_samples: 1,
                    min_delay: None,
                },
                ..HedgeConfig::fixed(MS)
            },
        )
        .unwrap(),
    ] {
        let mut svc = HedgeLayer::new(hedge).layer(service_fn(|x: u64| {
            std::future::ready(Ok::<_, BoxError>(x))
        }));
        let mut cx = Context::from_waker(Waker::noop());
        let mut once = |x: u64| {
            assert!(svc.poll_ready(&mut cx).is_ready());
            let mut fut = pin!(svc.call(x));
            assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(y)) if y == x));
        };
        once(0);
        let info = allocation_counter::measure(|| (0..10_000).for_each(&mut once));
        assert_eq!(info.count_total, 0, "{info:?}");
    }
}

/// Reference model of the budget: each call adds `ratio` of a hedge to the
/// allowance (capped at `burst`); a slow call hedges if a whole one is
/// there.
fn model(ratio: f64, burst: u32, slow: &[bool]) -> (u64, u64) {
    let per = (ratio * 1e6).round() as u64;
    let cap = u64::from(burst) * 1_000_000;
    let (mut credit, mut hedged, mut refused) = (0u64, 0u64, 0u64);
    for &s in slow {
        credit = (credit + per).min(cap.max(credit));
        if s {
            if credit >= 1_000_000 {
                credit -= 1_000_000;
                hedged += 1;
            } else {
                refused += 1;
            }
        }
    }
    (hedged, refused)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn hedges_match_the_budget_model(
        ratio in 0.0f64..=1.0,
        burst in 1u32..5,
        slow in proptest::collection::vec(any::<bool>(), 1..40),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let stats = rt.block_on(async {
            let hedge = Hedge::new("m", HedgeConfig { max_hedge_ratio: ratio, burst, ..HedgeConfig::fixed(10 * MS) }).unwrap();
            let n = Arc::new(AtomicU32::new(0));
            let calls = slow.len();
            let slow = Arc::new(slow.clone());
            let mut svc = HedgeLayer::new(hedge.clone()).layer(service_fn(move |i: usize| {
                n.fetch_add(1, Ordering::SeqCst);
                let d = if slow[i] { 100 * MS } else { MS };
                async move { tokio::time::sleep(d).await; Ok::<_, BoxError>(()) }
            }));
            for i in 0..calls {
                call(&mut svc, i).await.unwrap();
            }
            hedge.stats()
        });
        let (hedged, refused) = model(ratio, burst, &slow);
        prop_assert_eq!(stats.hedged, hedged);
        prop_assert_eq!(stats.budget_refused, refused);
        prop_assert_eq!(stats.calls, slow.len() as u64);
        prop_assert!(stats.hedged as f64 <= ratio * slow.len() as f64 + 1e-9);
    }
}

#[tokio::test(start_paused = true)]
async fn a_clone_that_cannot_become_ready_skips_the_hedge() {
    /// A service whose clones are closed (never ready): the layer's copy
    /// for the hedge cannot be used.
    struct ClosedClones {
        open: bool,
        calls: Arc<AtomicU32>,
    }
    impl Clone for ClosedClones {
        fn clone(&self) -> Self {
            ClosedClones {
                open: false,
                calls: self.calls.clone(),
            }
        }
    }
    impl Service<u32> for ClosedClones {
        type Response = u32;
        type Error = BoxError;
        type Future =
            std::pin::Pin<Box<dyn std::future::Future<Output = Result<u32, BoxError>> + Send>>;
        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), BoxError>> {
            std::task::Poll::Ready(if self.open {
                Ok(())
            } else {
                Err("closed".into())
            })
        }
        fn call(&mut self, x: u32) -> Self::Future {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                Ok(x)
            })
        }
    }
    let calls = Arc::new(AtomicU32::new(0));
    let hedge = always(1.0, 100 * MS);
    let mut svc = HedgeLayer::new(hedge.clone()).layer(ClosedClones {
        open: true,
        calls: calls.clone(),
    });
    let start = Instant::now();
    assert_eq!(call(&mut svc, 3).await.unwrap(), 3);
    assert_eq!(start.elapsed(), 500 * MS, "the original answered");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "no hedge was sent");
    let s = hedge.stats();
    assert_eq!((s.hedged, s.budget_refused), (0, 0));
}
