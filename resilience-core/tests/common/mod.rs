//! Helpers shared by resilience-core's integration tests: a timer the test
//! fires by hand, metrics read back from a debugging recorder, and checks
//! that the counting allocator is really counting.
#![allow(dead_code, unreachable_pub)] // each test crate uses a subset

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use metrics_util::debugging::{DebugValue, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};
use resilience_core::bulkhead::Timer;

// ---- a hand-fired timer --------------------------------------------------

/// A bulkhead [`Timer`] whose every sleep ends when the test calls
/// [`fire`](Alarm::fire), whatever duration it was asked for.
#[derive(Clone, Default)]
pub struct Alarm(Arc<AtomicBool>);

impl Alarm {
    /// Ends every sleep of this alarm (and of its clones).
    pub fn fire(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The sleep of an [`Alarm`].
pub struct AlarmSleep(Arc<AtomicBool>);

impl Future for AlarmSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Timer for Alarm {
    type Sleep = AlarmSleep;
    fn sleep(&self, _: Duration) -> AlarmSleep {
        AlarmSleep(self.0.clone())
    }
}

/// Polls a future once with a no-op waker.
pub fn poll<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
}

// ---- metrics -------------------------------------------------------------

/// One snapshot of a debugging recorder (taking it resets the counters).
pub type Metrics = Vec<(CompositeKey, DebugValue)>;

/// Takes one snapshot.
pub fn take(s: &Snapshotter) -> Metrics {
    s.snapshot()
        .into_vec()
        .into_iter()
        .map(|(k, _, _, v)| (k, v))
        .collect()
}

fn matches(k: &CompositeKey, name: &str, labels: &[(&str, &str)]) -> bool {
    let key = k.key();
    key.name() == name
        && labels
            .iter()
            .all(|(l, v)| key.labels().any(|x| x.key() == *l && x.value() == *v))
}

/// The first metric of `kind` named `name` with all of `labels`.
pub fn find<'a>(
    snapshot: &'a Metrics,
    kind: MetricKind,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<&'a DebugValue> {
    snapshot
        .iter()
        .find(|(k, _)| k.kind() == kind && matches(k, name, labels))
        .map(|(_, v)| v)
}

/// The sum of the counters named `name` with all of `labels`.
pub fn counter(snapshot: &Metrics, name: &str, labels: &[(&str, &str)]) -> u64 {
    snapshot
        .iter()
        .filter(|(k, _)| matches(k, name, labels))
        .map(|(_, v)| match v {
            DebugValue::Counter(c) => *c,
            _ => 0,
        })
        .sum()
}

/// Every sample of the histograms named `name`.
pub fn histogram(snapshot: &Metrics, name: &str) -> Vec<f64> {
    snapshot
        .iter()
        .filter(|(k, _)| k.key().name() == name)
        .flat_map(|(_, v)| match v {
            DebugValue::Histogram(h) => h.iter().map(|x| x.into_inner()).collect(),
            _ => Vec::new(),
        })
        .collect()
}

// ---- allocations ---------------------------------------------------------

/// Guards against a vacuous zero: the counting allocator of this test
/// binary must see a real allocation.
pub fn assert_counting_allocator_active() {
    let info = allocation_counter::measure(|| {
        std::hint::black_box(Box::new(7u64));
    });
    assert_eq!(info.count_total, 1, "the counting allocator must be active");
}

/// Cases per fuzz target: `RESILIENCE_FUZZ_CASES`, default 256 (a few
/// seconds per crate in the test command).
pub fn fuzz_cases() -> u32 {
    std::env::var("RESILIENCE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}
