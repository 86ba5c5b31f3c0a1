//! Lock-free sliding windows of call outcomes.
//!
//! # Count window
//!
//! A ring of `N` one-byte slots plus one packed `u64` of running totals
//! (calls, failures, slow calls: 21 bits each). Recording claims the next
//! slot with one `fetch_add` on the cursor, swaps the outcome into it, and
//! adds `new - old` to the totals with one more `fetch_add`. When the slot
//! already holds the same outcome (the steady state of a healthy dependency:
//! success replacing success) the swap and the totals update are skipped, so
//! a success costs one contended RMW and one load.
//!
//! The totals are updated with wrapping arithmetic on the packed word. Two
//! records racing on the same slot (N records apart) can apply their deltas
//! out of order, which makes a field transiently negative; the decoder reads
//! every field as a signed number and propagates the borrow, so a reader sees
//! the exact transient sum, which it clamps to `0..=N`. Once both deltas land
//! the totals equal the slot contents again.
//!
//! # Time window
//!
//! `B` buckets of `window / B` each, addressed by `(now / bucket) % B`. Each
//! bucket carries the absolute index of the interval it holds; the first
//! recorder to reach a bucket whose interval has expired claims it (one CAS),
//! zeroes it and republishes it: rotation is lazy, done by the caller that
//! crosses the boundary, and never scans. Evaluating (only needed after a
//! failure or a slow call) sums the buckets whose interval is inside the
//! window.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

use super::config::MAX_TIME_BUCKETS;
use crate::CachePadded;

/// Outcome codes stored in count-window slots.
pub(crate) const EMPTY: u8 = 0;
const CALL: u8 = 0b001;
const FAIL: u8 = 0b010;
const SLOW: u8 = 0b100;

/// The code of an outcome.
#[inline]
pub(crate) const fn code(failure: bool, slow: bool) -> u8 {
    CALL | if failure { FAIL } else { 0 } | if slow { SLOW } else { 0 }
}

/// Whether a code is a failure or a slow call (needs evaluation).
#[inline]
pub(crate) const fn needs_eval(code: u8) -> bool {
    code & (FAIL | SLOW) != 0
}

const FIELD_BITS: u32 = 21;
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;

/// The packed contribution of one slot's code to the totals.
#[inline]
const fn contribution(code: u8) -> u64 {
    (code & CALL) as u64
        | ((((code & FAIL) >> 1) as u64) << FIELD_BITS)
        | ((((code & SLOW) >> 2) as u64) << (2 * FIELD_BITS))
}

/// Sign-extends the low `bits` of `v`.
#[inline]
const fn sext(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// Decodes packed totals whose fields may be transiently negative.
#[inline]
fn decode(v: u64) -> (i64, i64, i64) {
    let calls = sext(v & FIELD_MASK, FIELD_BITS);
    let rest = v.wrapping_sub(calls as u64) >> FIELD_BITS;
    let failures = sext(rest & FIELD_MASK, FIELD_BITS);
    let rest = rest.wrapping_sub(failures as u64) >> FIELD_BITS;
    let slow = sext(rest, 64 - 2 * FIELD_BITS);
    (calls, failures, slow)
}

/// Counts in a window at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowSnapshot {
    /// Calls with an outcome (successes and failures; ignored calls are not
    /// counted).
    pub calls: u64,
    /// Failed calls.
    pub failures: u64,
    /// Calls slower than `slow_call_duration` (failed or not).
    pub slow_calls: u64,
}

impl WindowSnapshot {
    /// failures / calls, if any call was recorded.
    pub fn failure_rate(&self) -> Option<f64> {
        (self.calls > 0).then(|| self.failures as f64 / self.calls as f64)
    }

    /// slow calls / calls, if any call was recorded.
    pub fn slow_call_rate(&self) -> Option<f64> {
        (self.calls > 0).then(|| self.slow_calls as f64 / self.calls as f64)
    }
}

/// `a % d` without a division instruction (Lemire, Kaser and Kurz, "Faster
/// remainder by direct computation", 2019), exact for every `u32` `a` and
/// `d > 0`, given `magic = fastmod_magic(d)`.
#[inline]
const fn fastmod(a: u32, magic: u64, d: u32) -> u32 {
    let low = magic.wrapping_mul(a as u64);
    ((low as u128 * d as u128) >> 64) as u32
}

const fn fastmod_magic(d: u32) -> u64 {
    (u64::MAX / d as u64).wrapping_add(1)
}

/// The last N outcomes.
#[derive(Debug)]
pub(crate) struct CountWindow {
    slots: Box<[AtomicU8]>,
    /// Position of the next record, kept below `2 * wrap`: the caller that
    /// draws exactly `wrap` (a multiple of the size, so positions stay in
    /// sequence) subtracts it again. Written by every record: on its own
    /// cache line.
    cursor: CachePadded<AtomicU32>,
    /// Packed running totals, written when an outcome changes a slot.
    totals: CachePadded<AtomicU64>,
    size: u32,
    magic: u64,
    wrap: u32,
}

impl CountWindow {
    pub(crate) fn new(size: u32) -> Self {
        let size = size.max(1);
        CountWindow {
            slots: (0..size).map(|_| AtomicU8::new(EMPTY)).collect(),
            cursor: CachePadded(AtomicU32::new(0)),
            totals: CachePadded(AtomicU64::new(0)),
            size,
            magic: fastmod_magic(size),
            wrap: (u32::MAX / 2) / size * size,
        }
    }

    /// Records an outcome code; returns the totals right after it when the
    /// outcome needs evaluation (failure or slow).
    #[inline]
    pub(crate) fn record(&self, code: u8) -> Option<WindowSnapshot> {
        let drawn = self.cursor.fetch_add(1, Ordering::Relaxed);
        if drawn == self.wrap {
            self.cursor.fetch_sub(self.wrap, Ordering::Relaxed);
        }
        // `pos < size == slots.len()`, so the lookup cannot fail.
        let pos = fastmod(drawn, self.magic, self.size);
        let slot = self.slots.get(pos as usize)?;
        if slot.load(Ordering::Relaxed) == code {
            // Same outcome replaces same outcome: totals are unchanged.
            return needs_eval(code).then(|| self.snapshot());
        }
        let old = slot.swap(code, Ordering::AcqRel);
        if old == code {
            return needs_eval(code).then(|| self.snapshot());
        }
        let delta = contribution(code).wrapping_sub(contribution(old));
        let prev = self.totals.fetch_add(delta, Ordering::AcqRel);
        // A success that fills an empty slot raises the call count, which may
        // reach `minimum_calls` with a failure rate already over threshold:
        // evaluate then too (Resilience4j evaluates after every outcome). A
        // success replacing a failure or a success can only lower the rates.
        (needs_eval(code) || old == EMPTY).then(|| self.decode(prev.wrapping_add(delta)))
    }

    #[inline]
    fn decode(&self, v: u64) -> WindowSnapshot {
        let (c, f, s) = decode(v);
        let clamp = |x: i64| (x.max(0) as u64).min(u64::from(self.size));
        WindowSnapshot {
            calls: clamp(c),
            failures: clamp(f),
            slow_calls: clamp(s),
        }
    }

    pub(crate) fn snapshot(&self) -> WindowSnapshot {
        self.decode(self.totals.load(Ordering::Acquire))
    }

    pub(crate) fn reset(&self) {
        for s in self.slots.iter() {
            s.store(EMPTY, Ordering::Relaxed);
        }
        self.cursor.store(0, Ordering::Relaxed);
        self.totals.store(0, Ordering::Release);
    }
}

const ROTATING: u64 = 1 << 63;

#[derive(Debug)]
struct Bucket {
    /// Interval index + 1 held by this bucket (0 = never used), with
    /// `ROTATING` set while a recorder is zeroing it.
    stamp: AtomicU64,
    calls: AtomicU64,
    /// Failures in the low 32 bits, slow calls in the high 32 bits.
    bad: AtomicU64,
}

/// The outcomes of the last `span`.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    buckets: Box<[Bucket]>,
    bucket_nanos: u64,
    count: u64,
    /// Set when a failure or slow call is recorded; cleared by an evaluation
    /// that finds none in the window. While clear, a success cannot make any
    /// rate reach a threshold, so it is recorded without summing buckets.
    dirty: AtomicBool,
}

impl TimeWindow {
    pub(crate) fn new(span: Duration) -> Self {
        let secs = span.as_secs().max(1);
        let count = secs.min(u64::from(MAX_TIME_BUCKETS));
        let bucket_nanos = (crate::clock::duration_nanos(span) / count).max(1);
        TimeWindow {
            buckets: (0..count)
                .map(|_| Bucket {
                    stamp: AtomicU64::new(0),
                    calls: AtomicU64::new(0),
                    bad: AtomicU64::new(0),
                })
                .collect(),
            bucket_nanos,
            count,
            dirty: AtomicBool::new(false),
        }
    }

    /// Records an outcome at `now` (nanoseconds since the breaker's origin);
    /// returns the window totals when the outcome needs evaluation.
    pub(crate) fn record(&self, code: u8, now: u64) -> Option<WindowSnapshot> {
        let interval = now / self.bucket_nanos;
        let stamp = interval + 1;
        let bucket = self.buckets.get((interval % self.count) as usize)?;
        let mut spins = 0u32;
        loop {
            let s = bucket.stamp.load(Ordering::Acquire);
            if s == stamp {
                break;
            }
            if s & ROTATING != 0 {
                spins += 1;
                if spins < 64 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
                continue;
            }
            if s > stamp {
                // The bucket already holds a later interval: this outcome is
                // older than the whole window and no longer counts.
                return None;
            }
            if bucket
                .stamp
                .compare_exchange(s, stamp | ROTATING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                bucket.calls.store(0, Ordering::Relaxed);
                bucket.bad.store(0, Ordering::Relaxed);
                bucket.stamp.store(stamp, Ordering::Release);
                break;
            }
        }
        bucket.calls.fetch_add(1, Ordering::AcqRel);
        let bad = u64::from(code & FAIL != 0) | (u64::from(code & SLOW != 0) << 32);
        if bad != 0 {
            bucket.bad.fetch_add(bad, Ordering::AcqRel);
            self.dirty.store(true, Ordering::Release);
            return Some(self.snapshot(now));
        }
        if !self.dirty.load(Ordering::Acquire) {
            return None;
        }
        let snap = self.snapshot(now);
        if snap.failures == 0 && snap.slow_calls == 0 {
            self.dirty.store(false, Ordering::Release);
        }
        Some(snap)
    }

    /// Sums the buckets inside the window ending at `now`.
    pub(crate) fn snapshot(&self, now: u64) -> WindowSnapshot {
        let newest = now / self.bucket_nanos + 1;
        let oldest = newest.saturating_sub(self.count - 1);
        let mut snap = WindowSnapshot::default();
        for b in self.buckets.iter() {
            let s = b.stamp.load(Ordering::Acquire) & !ROTATING;
            if s >= oldest.max(1) && s <= newest {
                snap.calls += b.calls.load(Ordering::Acquire);
                let bad = b.bad.load(Ordering::Acquire);
                snap.failures += bad & 0xFFFF_FFFF;
                snap.slow_calls += bad >> 32;
            }
        }
        snap.failures = snap.failures.min(snap.calls);
        snap.slow_calls = snap.slow_calls.min(snap.calls);
        snap
    }

    pub(crate) fn reset(&self) {
        self.dirty.store(false, Ordering::Release);
        for b in self.buckets.iter() {
            b.stamp.store(0, Ordering::Relaxed);
            b.calls.store(0, Ordering::Relaxed);
            b.bad.store(0, Ordering::Release);
        }
    }
}

/// Either window.
// One per breaker, kept inline so the hot path does not chase a pointer; the
// count window's padded counters make it the larger variant on purpose.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    pub(crate) fn reset(&self) {
        match self {
            Window::Count(w) => w.reset(),
            Window::Time(w) => w.reset(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u8 = code(false, false);
    const F: u8 = code(true, false);

    #[test]
    fn fastmod_is_exact() {
        let sizes = [1u32, 2, 3, 7, 10, 100, 999_983, 1_000_000];
        let values = [
            0u32,
            1,
            2,
            9,
            10,
            11,
            12345,
            1 << 31,
            u32::MAX - 1,
            u32::MAX,
        ];
        for d in sizes {
            let m = fastmod_magic(d);
            let spread = (0..10_000u32).map(|i| i.wrapping_mul(2_654_435_761));
            for a in values.iter().copied().chain(spread) {
                assert_eq!(fastmod(a, m, d), a % d, "{a} % {d}");
            }
        }
    }

    #[test]
    fn cursor_wraps_in_sequence() {
        let w = CountWindow::new(7);
        w.cursor.store(w.wrap - 3, Ordering::Relaxed);
        let mut seen = Vec::new();
        for _ in 0..10 {
            let drawn = w.cursor.load(Ordering::Relaxed);
            seen.push(fastmod(drawn, w.magic, w.size));
            w.record(S);
        }
        let start = (w.wrap - 3) % 7;
        let expect: Vec<u32> = (0..10).map(|i| (start + i) % 7).collect();
        assert_eq!(seen, expect);
        assert!(w.cursor.load(Ordering::Relaxed) < 10);
    }

    #[test]
    fn decode_handles_transient_negatives() {
        // calls = 3, failures = -1, slow = 2
        let v = 3u64
            .wrapping_add((-1i64 as u64) << FIELD_BITS)
            .wrapping_add(2u64 << (2 * FIELD_BITS));
        assert_eq!(decode(v), (3, -1, 2));
        let v = (-2i64 as u64).wrapping_add(5u64 << FIELD_BITS);
        assert_eq!(decode(v), (-2, 5, 0));
    }

    #[test]
    fn count_window_slides() {
        let w = CountWindow::new(10);
        for i in 0..100 {
            // Filling an empty slot asks for evaluation; a full window of
            // successes does not.
            assert_eq!(w.record(S).is_some(), i < 10, "call {i}");
        }
        assert_eq!(w.snapshot().calls, 10);
        for i in 1..=5 {
            let s = w.record(F).unwrap();
            assert_eq!(s.failures, i);
            assert_eq!(s.calls, 10);
        }
        assert_eq!(w.snapshot().failure_rate(), Some(0.5));
        w.reset();
        assert_eq!(w.snapshot(), WindowSnapshot::default());
    }

    #[test]
    fn count_window_counts_up_to_size() {
        let w = CountWindow::new(4);
        assert_eq!(w.record(F).unwrap().calls, 1);
        assert_eq!(w.record(code(false, true)).unwrap().slow_calls, 1);
        let s = w.record(code(true, true)).unwrap();
        assert_eq!((s.calls, s.failures, s.slow_calls), (3, 2, 2));
    }

    #[test]
    fn time_window_expires_buckets() {
        let sec = 1_000_000_000u64;
        let w = TimeWindow::new(Duration::from_secs(10));
        w.record(S, 0);
        w.record(F, sec / 2);
        assert_eq!(w.snapshot(sec).calls, 2);
        w.record(F, 5 * sec);
        let s = w.snapshot(9 * sec);
        assert_eq!((s.calls, s.failures), (3, 2));
        // At 10 s the bucket of second 0 is out of the window.
        let s = w.snapshot(10 * sec);
        assert_eq!((s.calls, s.failures), (1, 1));
        // Reusing the bucket of second 0 at second 10 rotates it. The window
        // still holds a failure, so the success is evaluated.
        assert_eq!(w.record(S, 10 * sec + 1).map(|s| s.calls), Some(2));
        assert_eq!(w.snapshot(10 * sec).calls, 2);
        assert_eq!(w.snapshot(100 * sec).calls, 0);
        // Once an evaluation finds no failure, successes are not evaluated.
        assert_eq!(w.record(S, 100 * sec).map(|s| s.failures), Some(0));
        assert_eq!(w.record(S, 100 * sec), None);
    }

    #[test]
    fn long_time_windows_use_coarser_buckets() {
        let w = TimeWindow::new(Duration::from_secs(3600));
        assert_eq!(w.count, 600);
        assert_eq!(w.bucket_nanos, 6_000_000_000);
    }

    #[test]
    fn stale_records_are_dropped() {
        let sec = 1_000_000_000u64;
        let w = TimeWindow::new(Duration::from_secs(2));
        w.record(S, 10 * sec);
        // Second 8 maps to the same bucket as 10 but is older: dropped.
        w.record(F, 8 * sec);
        assert_eq!(w.snapshot(10 * sec).failures, 0);
    }
}
