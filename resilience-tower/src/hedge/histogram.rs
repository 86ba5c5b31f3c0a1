//! A rolling latency histogram: fixed log-linear buckets of atomic
//! counters, two generations rotated every window. Recording is a few
//! relaxed atomic operations and never allocates; a percentile is a scan of
//! the buckets, done every few samples by the recording caller and cached.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Sub-buckets per power of two: 8, so a bucket spans at most 12.5% of its
/// lower bound.
const SUB_BITS: u32 = 3;
const SUB: u64 = 1 << SUB_BITS;
/// The largest exponent tracked: values from `2^37` µs (about 38 hours) up
/// share the last bucket.
const MAX_MSB: u32 = 36;
pub(crate) const BUCKETS: usize = (SUB + (MAX_MSB - SUB_BITS + 1) as u64 * SUB) as usize;

/// The bucket of a latency of `us` microseconds.
pub(crate) fn index(us: u64) -> usize {
    if us < SUB {
        return us as usize;
    }
    let msb = 63 - us.leading_zeros();
    if msb > MAX_MSB {
        return BUCKETS - 1;
    }
    let shift = msb - SUB_BITS;
    let sub = (us >> shift) & (SUB - 1);
    (SUB + u64::from(shift) * SUB + sub) as usize
}

/// The largest latency (µs) that falls in bucket `i`.
pub(crate) fn upper_bound(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let shift = (i - SUB) / SUB;
    let sub = (i - SUB) % SUB;
    ((SUB + sub + 1) << shift) - 1
}

/// The percentile `p` (in `(0, 1]`) of the counts in `buckets`, as the
/// upper bound of the bucket holding it: never below the true value, at
/// most 12.5% above. `None` if empty.
pub(crate) fn percentile_of(counts: impl Fn(usize) -> u64, p: f64) -> Option<(u64, u64)> {
    let total: u64 = (0..BUCKETS).map(&counts).sum();
    if total == 0 {
        return None;
    }
    // rank = ceil(p * total), at least 1 and at most total.
    let rank = ((p * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0u64;
    for i in 0..BUCKETS {
        seen += counts(i);
        if seen >= rank {
            return Some((upper_bound(i), total));
        }
    }
    Some((upper_bound(BUCKETS - 1), total))
}

/// Sentinel for "no percentile yet".
const NONE: u64 = u64::MAX;

pub(crate) struct Histogram {
    gens: [[AtomicU64; BUCKETS]; 2],
    current: AtomicUsize,
    origin: Instant,
    window_nanos: u64,
    /// Nanoseconds since `origin` at which the current generation ends.
    rotate_at: AtomicU64,
    samples: AtomicU64,
    /// The cached delay in nanoseconds, or `NONE`.
    cached: AtomicU64,
    percentile: f64,
    min_samples: u64,
    min_delay: Duration,
}

impl Histogram {
    pub(crate) fn new(
        origin: Instant,
        window: Duration,
        percentile: f64,
        min_samples: u64,
        min_delay: Duration,
    ) -> Histogram {
        let window_nanos = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX).max(1);
        Histogram {
            gens: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            current: AtomicUsize::new(0),
            origin,
            window_nanos,
            rotate_at: AtomicU64::new(window_nanos),
            samples: AtomicU64::new(0),
            cached: AtomicU64::new(NONE),
            percentile,
            min_samples,
            min_delay,
        }
    }

    /// The hedge delay, if enough latencies were seen.
    #[inline]
    pub(crate) fn delay(&self) -> Option<Duration> {
        match self.cached.load(Ordering::Relaxed) {
            NONE => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    /// Records one latency observed at `now`.
    pub(crate) fn record(&self, now: Instant, latency: Duration) {
        let rotated = self.maybe_rotate(now);
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let generation = self.current.load(Ordering::Acquire) & 1;
        if let Some(bucket) = self.gens.get(generation).and_then(|g| g.get(index(us))) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        let n = self.samples.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        // Refresh often while warming up, then every 16 samples.
        if rotated || n <= self.min_samples.saturating_add(16) || n % 16 == 0 {
            self.refresh();
        }
    }

    fn maybe_rotate(&self, now: Instant) -> bool {
        let t = u64::try_from(now.saturating_duration_since(self.origin).as_nanos())
            .unwrap_or(u64::MAX);
        let at = self.rotate_at.load(Ordering::Acquire);
        if t < at {
            return false;
        }
        let next = t.saturating_add(self.window_nanos);
        if self
            .rotate_at
            .compare_exchange(at, next, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false; // another caller rotates
        }
        // Idle for two windows or more: both generations are stale.
        let stale_both = t >= at.saturating_add(self.window_nanos);
        let cur = self.current.load(Ordering::Acquire);
        let older = (cur + 1) & 1;
        for (g, generation) in self.gens.iter().enumerate() {
            if g == older || stale_both {
                for b in generation {
                    b.store(0, Ordering::Relaxed);
                }
            }
        }
        self.current.store(older, Ordering::Release);
        true
    }

    fn refresh(&self) {
        let counts = |i: usize| {
            self.gens
                .iter()
                .map(|g| g.get(i).map_or(0, |b| b.load(Ordering::Relaxed)))
                .sum()
        };
        let value = match percentile_of(counts, self.percentile) {
            Some((us, total)) if total >= self.min_samples => {
                let d = Duration::from_micros(us).max(self.min_delay);
                u64::try_from(d.as_nanos()).unwrap_or(NONE - 1)
            }
            _ => NONE,
        };
        self.cached.store(value, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        let mut last = 0;
        for us in 0..100_000u64 {
            let i = index(us);
            assert!(i >= last, "{us}: buckets must not go backwards");
            last = i;
        }
        for us in (0..100_000u64).chain([1 << 30, (1 << 37) - 1]) {
            let i = index(us);
            assert!(i < BUCKETS, "{us}");
            assert!(upper_bound(i) >= us, "{us}");
            assert!(upper_bound(i) as f64 <= us as f64 * 1.125 + 1.0, "{us}");
            assert!(i == 0 || upper_bound(i - 1) < us, "{us}");
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
        assert_eq!(BUCKETS, 280);
    }

    #[test]
    fn rotation_forgets_old_latencies() {
        let t0 = Instant::now();
        let h = Histogram::new(t0, Duration::from_secs(10), 0.5, 1, Duration::ZERO);
        assert_eq!(h.delay(), None);
        h.record(t0, Duration::from_millis(100));
        assert_eq!(
            h.delay(),
            Some(Duration::from_micros(upper_bound(index(100_000))))
        );
        // Next window: the old one still counts.
        h.record(t0 + Duration::from_secs(11), Duration::from_millis(1));
        h.record(t0 + Duration::from_secs(11), Duration::from_millis(1));
        assert!(h.delay().unwrap() < Duration::from_millis(2));
        // Two windows on, only recent samples remain.
        h.record(t0 + Duration::from_secs(22), Duration::from_millis(500));
        let d = h.delay().unwrap();
        assert!(
            d >= Duration::from_millis(1) && d < Duration::from_millis(2),
            "{d:?}"
        );
        // A long idle gap clears both generations.
        h.record(t0 + Duration::from_secs(100), Duration::from_millis(7));
        let d = h.delay().unwrap();
        assert!(
            d >= Duration::from_millis(7) && d < Duration::from_millis(8),
            "{d:?}"
        );
    }
}

#[cfg(test)]
mod model {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The histogram's percentile against the exact one from the sorted
        /// samples: never below it, at most one bucket (12.5%) above.
        #[test]
        fn percentile_is_within_one_bucket_of_the_exact_value(
            samples in proptest::collection::vec(0u64..10_000_000, 1..300),
            p in 0.01f64..=1.0,
        ) {
            let t0 = Instant::now();
            let h = Histogram::new(t0, Duration::from_secs(3600), p, 1, Duration::ZERO);
            for us in &samples {
                h.record(t0, Duration::from_micros(*us));
            }
            let mut sorted = samples.clone();
            sorted.sort_unstable();
            let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            let exact = sorted[rank - 1];
            // The cached value may lag by up to 15 samples; recompute.
            h.refresh();
            let got = h.delay().unwrap().as_micros() as u64;
            prop_assert!(got >= exact, "{got} < {exact}");
            prop_assert!(got as f64 <= exact as f64 * 1.125 + 1.0, "{got} vs {exact}");
            prop_assert_eq!(index(got), index(exact));
        }
    }
}
