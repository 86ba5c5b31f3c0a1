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
//!
//! The window also keeps the end of its current interval as an unscaled
//! clock reading (time-stamp counter ticks on the system clock), so that a
//! success into a window holding only successes is placed with one
//! comparison of the raw reading: no scaling to nanoseconds, no interval
//! arithmetic (see [`TimeWindow::record_clean_success`]).
//!
//! Such a success is not added to the bucket: each recording thread that
//! holds one of the process's per-thread indices (see `thread_slot`) counts
//! it in its own stripe of the window, a word only it writes, tagged with
//! the interval it counts. A plain load and store, where an add shared by
//! every thread is a locked instruction (about 4 ns here, the whole
//! difference between this path and a count window full of successes).
//! When the thread's interval moves on, it adds the stripe's count to the
//! old interval's bucket (one locked add per thread per bucket span) and
//! starts the stripe again. Readers add the stripes whose interval is in
//! the window to the buckets'.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

use super::config::MAX_TIME_BUCKETS;
use crate::clock::Ticker;
use crate::thread_slot::{self, SLOTS};

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

/// How many count-window slots live inside the breaker itself; larger
/// windows keep their slots in one separate allocation.
pub(crate) const INLINE_SLOTS: usize = 16;

/// What every count window of one config shares: its size and the
/// constants derived from it (kept once per config, not per breaker, so a
/// registry's breakers stay small).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CountShape {
    size: u32,
    magic: u64,
    /// The cursor stays below `2 * wrap`: the caller that draws exactly
    /// `wrap` (a multiple of the size, so positions stay in sequence)
    /// subtracts it again.
    wrap: u32,
    /// The totals of a window full of plain successes: `size` calls, no
    /// failure, no slow call.
    all_ok: u64,
}

impl CountShape {
    pub(crate) fn new(size: u32) -> Self {
        let size = size.max(1);
        CountShape {
            size,
            magic: fastmod_magic(size),
            wrap: (u32::MAX / 2) / size * size,
            all_ok: u64::from(size) * contribution(CALL),
        }
    }
}

/// A count window's slots: inline for small windows (no second allocation,
/// and the slots share the breaker's cache lines), else boxed.
#[derive(Debug)]
enum Slots {
    Inline([AtomicU8; INLINE_SLOTS]),
    Heap(Box<[AtomicU8]>),
}

impl Slots {
    fn new(size: u32) -> Self {
        if size as usize <= INLINE_SLOTS {
            Slots::Inline(std::array::from_fn(|_| AtomicU8::new(EMPTY)))
        } else {
            Slots::Heap((0..size).map(|_| AtomicU8::new(EMPTY)).collect())
        }
    }

    #[inline]
    fn get(&self, pos: u32) -> Option<&AtomicU8> {
        match self {
            Slots::Inline(a) => a.get(pos as usize),
            Slots::Heap(b) => b.get(pos as usize),
        }
    }

    fn iter(&self) -> std::slice::Iter<'_, AtomicU8> {
        match self {
            Slots::Inline(a) => a.iter(),
            Slots::Heap(b) => b.iter(),
        }
    }
}

/// The last N outcomes (N from the [`CountShape`] passed to each method).
#[derive(Debug)]
pub(crate) struct CountWindow {
    /// Position of the next record (see [`CountShape::wrap`]).
    cursor: AtomicU32,
    /// Packed running totals, written when an outcome changes a slot.
    totals: AtomicU64,
    slots: Slots,
}

impl CountWindow {
    pub(crate) fn new(shape: &CountShape) -> Self {
        CountWindow {
            cursor: AtomicU32::new(0),
            totals: AtomicU64::new(0),
            slots: Slots::new(shape.size),
        }
    }

    /// Records an outcome code; returns the totals right after it when the
    /// outcome needs evaluation (failure or slow).
    /// Whether the window holds `size` successes and nothing else.
    #[inline(always)]
    pub(crate) fn all_ok(&self, shape: &CountShape) -> bool {
        self.totals.load(Ordering::Relaxed) == shape.all_ok
    }

    #[inline]
    pub(crate) fn record(&self, code: u8, shape: &CountShape) -> Option<WindowSnapshot> {
        if code == CALL && self.all_ok(shape) {
            // A success into a window holding nothing but successes: every
            // slot it could evict holds a success too, so the window's
            // contents (and every later window) are the same whether or not
            // it is written. Recording it is a read: no write, so threads
            // recording successes into a healthy breaker share its cache
            // lines instead of passing them around.
            return None;
        }
        self.record_slot(code, shape)
    }

    #[inline]
    fn record_slot(&self, code: u8, shape: &CountShape) -> Option<WindowSnapshot> {
        let drawn = self.cursor.fetch_add(1, Ordering::Relaxed);
        if drawn == shape.wrap {
            self.cursor.fetch_sub(shape.wrap, Ordering::Relaxed);
        }
        // `pos < size == slots.len()`, so the lookup cannot fail.
        let pos = fastmod(drawn, shape.magic, shape.size);
        let slot = self.slots.get(pos)?;
        if slot.load(Ordering::Relaxed) == code {
            // Same outcome replaces same outcome: totals are unchanged.
            return needs_eval(code).then(|| self.snapshot(shape));
        }
        let old = slot.swap(code, Ordering::AcqRel);
        if old == code {
            return needs_eval(code).then(|| self.snapshot(shape));
        }
        let delta = contribution(code).wrapping_sub(contribution(old));
        let prev = self.totals.fetch_add(delta, Ordering::AcqRel);
        let after = decode_clamped(prev.wrapping_add(delta), shape);
        // A success that fills an empty slot raises the call count, which may
        // reach `minimum_calls` with a failure rate already over threshold:
        // evaluate then too (Resilience4j evaluates after every outcome),
        // unless the window (as this add left it) holds no failure or slow
        // call, so that every rate is zero: a new registry key's first calls
        // skip the evaluation. A failure recorded after this add evaluates
        // itself, this call counted. A success replacing a failure or a
        // success can only lower the rates.
        let raises_a_rate = old == EMPTY && (after.failures != 0 || after.slow_calls != 0);
        (needs_eval(code) || raises_a_rate).then_some(after)
    }

    pub(crate) fn snapshot(&self, shape: &CountShape) -> WindowSnapshot {
        decode_clamped(self.totals.load(Ordering::Acquire), shape)
    }

    pub(crate) fn reset(&self) {
        for s in self.slots.iter() {
            s.store(EMPTY, Ordering::Relaxed);
        }
        self.cursor.store(0, Ordering::Relaxed);
        self.totals.store(0, Ordering::Release);
    }
}

#[inline]
fn decode_clamped(v: u64, shape: &CountShape) -> WindowSnapshot {
    let (c, f, s) = decode(v);
    let clamp = |x: i64| (x.max(0) as u64).min(u64::from(shape.size));
    WindowSnapshot {
        calls: clamp(c),
        failures: clamp(f),
        slow_calls: clamp(s),
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

/// What every time window of one config shares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeShape {
    bucket_nanos: u64,
    count: u64,
}

impl TimeShape {
    pub(crate) fn new(span: Duration) -> Self {
        let secs = span.as_secs().max(1);
        let count = secs.min(u64::from(MAX_TIME_BUCKETS));
        TimeShape {
            bucket_nanos: (crate::clock::duration_nanos(span) / count).max(1),
            count,
        }
    }
}

/// Bits of [`Head::current`] holding the bucket index (below
/// `MAX_TIME_BUCKETS`).
const INDEX_BITS: u32 = 10;
const _: () = assert!(MAX_TIME_BUCKETS as u64 <= 1 << INDEX_BITS);

/// The outcomes of the last `span`.
///
/// Two allocations: the buckets, and the words every clean success reads
/// or writes (the current interval, its end, the flags and the per-thread
/// stripes), so that a breaker holds two pointers for its time window
/// (its size is its count window's), and a clean success touches the
/// breaker's state word and this second allocation only.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    buckets: Box<[Bucket]>,
    s: Box<Cells>,
}

/// The words of a time window a clean success touches.
#[derive(Debug)]
struct Cells {
    head: Head,
    stripes: Stripes,
}

/// Read by every clean success, written at most once per bucket span (and
/// by failures): on cache lines of their own, apart from the stripes that
/// every clean success writes.
#[derive(Debug)]
#[repr(align(128))]
struct Head {
    /// The interval the latest recorder wrote to, with its bucket index:
    /// `interval << INDEX_BITS | index`. A recorder whose timestamp falls
    /// in the same interval (checked with one multiplication) uses it
    /// as it is; only the first one past a boundary divides. So a bucket
    /// is found without a division on all but one call per bucket span.
    current: AtomicU64,
    /// The raw clock reading (see `Ticker::raw`) at which the interval in
    /// `current` ends, for
    /// [`record_clean_success`](TimeWindow::record_clean_success) to place
    /// a success without scaling its reading or locating its interval.
    /// Published after `current` by the recorder that moves it.
    end: AtomicU64,
    /// Bit [`DIRTY`]: set when a failure or slow call is recorded; cleared
    /// by an evaluation that finds none in the window. While clear, a
    /// success cannot make any rate reach a threshold, so it is recorded
    /// without summing buckets. The top 8 bits count resets (the window's
    /// epoch), so that a stripe counted before a reset is not counted
    /// after it; they sit where a stripe keeps them (see [`stripe_base`]).
    flags: AtomicU64,
}

/// [`Head::flags`] bit: the window may hold a failure or slow call.
const DIRTY: u64 = 1;

/// Bits of a stripe holding its count; the rest hold its tag.
const COUNT_BITS: u32 = 24;
/// A stripe's count stops here (the largest its bits hold): the thread's
/// next success adds the count to the bucket and starts the stripe again.
const COUNT_FULL: u64 = (1 << COUNT_BITS) - 1;

/// Bits of [`Head::flags`] (and of a stripe) holding the epoch.
const EPOCH_SHIFT: u32 = COUNT_BITS + 32;
const EPOCH_MASK: u64 = 0xFF << EPOCH_SHIFT;
/// Bits of a stripe holding the low 32 bits of its interval's stamp.
const STAMP_MASK: u64 = 0xFFFF_FFFF << COUNT_BITS;

/// The value a stripe holding no count of interval `stamp` in the epoch of
/// `flags` has: the tag `epoch (8 bits) << 32 | stamp (low 32 bits)` above
/// [`COUNT_BITS`] bits of count. A stripe then holds `stripe_base + count`,
/// so that one subtraction and one comparison both check the tag and find
/// the count (at most [`COUNT_FULL`]).
///
/// The low 32 bits of a stamp name an interval among the window's (at most
/// [`MAX_TIME_BUCKETS`]) unambiguously; a stripe left untouched for 2^32
/// intervals, or for exactly 256 resets within one interval, could be read
/// as current, and over-count successes once.
#[inline(always)]
const fn stripe_base(flags: u64, stamp: u64) -> u64 {
    (flags & EPOCH_MASK) | ((stamp << COUNT_BITS) & STAMP_MASK)
}

/// The window's epoch (reset count, 8 bits) in `flags`.
#[inline(always)]
const fn epoch(flags: u64) -> u64 {
    flags >> EPOCH_SHIFT
}

/// One word per thread index: the successes its thread counted in one
/// interval (see [`stripe_base`]), on cache lines of their own.
#[derive(Debug)]
#[repr(align(128))]
struct Stripes([AtomicU64; SLOTS]);

impl TimeWindow {
    pub(crate) fn new(shape: &TimeShape, ticker: &Ticker) -> Self {
        TimeWindow {
            buckets: (0..shape.count)
                .map(|_| Bucket {
                    stamp: AtomicU64::new(0),
                    calls: AtomicU64::new(0),
                    bad: AtomicU64::new(0),
                })
                .collect(),
            s: Box::new(Cells {
                head: Head {
                    current: AtomicU64::new(0),
                    end: AtomicU64::new(ticker.raw_at(shape.bucket_nanos)),
                    flags: AtomicU64::new(0),
                },
                stripes: Stripes(std::array::from_fn(|_| AtomicU64::new(0))),
            }),
        }
    }

    /// The interval of `now` and its bucket index.
    #[inline]
    fn locate(&self, now: u64, shape: &TimeShape, ticker: &Ticker) -> (u64, usize) {
        let cur = self.s.head.current.load(Ordering::Relaxed);
        let interval = cur >> INDEX_BITS;
        if now.wrapping_sub(interval.wrapping_mul(shape.bucket_nanos)) < shape.bucket_nanos {
            return (interval, (cur & ((1 << INDEX_BITS) - 1)) as usize);
        }
        self.relocate(now, shape, ticker)
    }

    #[cold]
    fn relocate(&self, now: u64, shape: &TimeShape, ticker: &Ticker) -> (u64, usize) {
        let interval = now / shape.bucket_nanos;
        let index = interval % shape.count;
        if interval < u64::MAX >> INDEX_BITS {
            self.s
                .head
                .current
                .fetch_max(interval << INDEX_BITS | index, Ordering::Release);
            // After `current`: a reader that sees this end sees this
            // interval (or a later one) in `current`.
            let end = (interval + 1).saturating_mul(shape.bucket_nanos);
            self.s
                .head
                .end
                .fetch_max(ticker.raw_at(end), Ordering::Release);
        }
        (interval, index as usize)
    }

    /// Records a success read at `raw` (a [`Ticker::raw`] reading) when
    /// that is all it takes: the window holds no failure or slow call (so a
    /// success cannot bring a rate to a threshold: nothing to evaluate) and
    /// `raw` is before the end of the latest record's interval. One load of
    /// the flags, one of the interval's end, one of the current interval,
    /// then a plain load and store of this thread's stripe (or, on a
    /// thread without a stripe, one of the bucket's stamp and one add); the
    /// reading is neither scaled nor divided. Returns false, having recorded
    /// nothing, when the full [`record`](Self::record) is needed.
    ///
    /// Only the end is compared: a reading taken before the interval began
    /// (its thread was overtaken, between reading the clock and recording,
    /// by the recorder that moved the window on) is counted in the current
    /// interval, as if it had been read a moment later. Such a success can
    /// only stay in the window one bucket longer than its reading says; a
    /// failure or slow call always takes the full path, which places it by
    /// its own reading.
    #[inline(always)]
    pub(crate) fn record_clean_success(&self, raw: u64, shape: &TimeShape) -> bool {
        self.record_clean_success_as(thread_slot::get(), raw, shape)
    }

    /// [`record_clean_success`](Self::record_clean_success) by the owner of
    /// thread index `slot` (see [`thread_slot::get`]).
    #[inline(always)]
    fn record_clean_success_as(&self, slot: usize, raw: u64, shape: &TimeShape) -> bool {
        let flags = self.s.head.flags.load(Ordering::Acquire);
        if flags & DIRTY != 0 {
            return false;
        }
        if raw >= self.s.head.end.load(Ordering::Acquire) {
            return false;
        }
        let cur = self.s.head.current.load(Ordering::Acquire);
        match self.s.stripes.0.get(slot) {
            Some(stripe) => {
                self.count_in_stripe(stripe, flags, cur, shape);
                true
            }
            None => self.record_clean_success_without_stripe(slot, flags, cur, shape),
        }
    }

    /// Adds one to this thread's stripe for the interval in `cur`.
    #[inline(always)]
    fn count_in_stripe(&self, stripe: &AtomicU64, flags: u64, cur: u64, shape: &TimeShape) {
        let stamp = (cur >> INDEX_BITS) + 1;
        let base = stripe_base(flags, stamp);
        let held = stripe.load(Ordering::Relaxed);
        if held.wrapping_sub(base) < COUNT_FULL {
            // This thread is the stripe's only writer: no locked add.
            stripe.store(held + 1, Ordering::Release);
        } else {
            self.restart_stripe(stripe, held, flags, stamp, shape);
        }
    }

    /// The clean success of a thread without a stripe: its first (which
    /// asks for one), or one of a thread that found none free, which adds
    /// to the current bucket instead, or takes the full path if that
    /// bucket does not hold the current interval yet.
    #[cold]
    #[inline(never)]
    fn record_clean_success_without_stripe(
        &self,
        slot: usize,
        flags: u64,
        cur: u64,
        shape: &TimeShape,
    ) -> bool {
        if thread_slot::unasked(slot) {
            if let Some(stripe) = self.s.stripes.0.get(thread_slot::assign()) {
                self.count_in_stripe(stripe, flags, cur, shape);
                return true;
            }
        }
        let Some(bucket) = self.buckets.get((cur & ((1 << INDEX_BITS) - 1)) as usize) else {
            return false;
        };
        if bucket.stamp.load(Ordering::Acquire) != (cur >> INDEX_BITS) + 1 {
            return false;
        }
        bucket.calls.fetch_add(1, Ordering::AcqRel);
        true
    }

    /// Moves a stripe holding `held` to interval `stamp` of the epoch in
    /// `flags`, with a count of one. A count of this epoch for an interval
    /// still in the window is first added to that interval's bucket, and the
    /// stripe moves after it: a reader that sees the stripe moved sees the
    /// add, so the count is never missing (a reader that sees both, the
    /// stripe before the move and the bucket after the add, counts it twice:
    /// an over-count of successes, the direction that cannot trip a
    /// breaker). Also taken when the count is full ([`COUNT_FULL`]).
    #[cold]
    #[inline(never)]
    fn restart_stripe(
        &self,
        stripe: &AtomicU64,
        held: u64,
        flags: u64,
        stamp: u64,
        shape: &TimeShape,
    ) {
        let count = held & COUNT_FULL;
        let tag = held >> COUNT_BITS;
        // How many intervals before `stamp` the stripe's is.
        let back = u64::from((stamp as u32).wrapping_sub(tag as u32));
        if count > 0 && tag >> 32 == epoch(flags) && back < shape.count && back < stamp {
            let old = stamp - back;
            if let Some(bucket) = self.buckets.get(((old - 1) % shape.count) as usize) {
                let s = bucket.stamp.load(Ordering::Acquire);
                if s == old || self.rotate(bucket, s, old) {
                    bucket.calls.fetch_add(count, Ordering::AcqRel);
                }
            }
        }
        stripe.store(stripe_base(flags, stamp) + 1, Ordering::Release);
    }

    /// Records an outcome at `now` (nanoseconds since the breaker's origin);
    /// returns the window totals when the outcome needs evaluation.
    pub(crate) fn record(
        &self,
        code: u8,
        now: u64,
        shape: &TimeShape,
        ticker: &Ticker,
    ) -> Option<WindowSnapshot> {
        let (interval, index) = self.locate(now, shape, ticker);
        let stamp = interval + 1;
        let bucket = self.buckets.get(index)?;
        let s = bucket.stamp.load(Ordering::Acquire);
        if s != stamp && !self.rotate(bucket, s, stamp) {
            return None;
        }
        bucket.calls.fetch_add(1, Ordering::AcqRel);
        let bad = u64::from(code & FAIL != 0) | (u64::from(code & SLOW != 0) << 32);
        if bad != 0 {
            bucket.bad.fetch_add(bad, Ordering::AcqRel);
            self.s.head.flags.fetch_or(DIRTY, Ordering::AcqRel);
            return Some(self.snapshot(now, shape));
        }
        if self.s.head.flags.load(Ordering::Acquire) & DIRTY == 0 {
            return None;
        }
        let snap = self.snapshot(now, shape);
        if snap.failures == 0 && snap.slow_calls == 0 {
            self.s.head.flags.fetch_and(!DIRTY, Ordering::AcqRel);
        }
        Some(snap)
    }

    /// Brings `bucket` (whose stamp was `s`) to the interval `stamp`, lazily:
    /// the first recorder past a bucket boundary claims the bucket (one
    /// CAS) and zeroes it. Returns false when the bucket already holds a
    /// later interval (the outcome is older than the whole window).
    #[cold]
    fn rotate(&self, bucket: &Bucket, mut s: u64, stamp: u64) -> bool {
        let mut spins = 0u32;
        loop {
            if s == stamp {
                return true;
            }
            if s & ROTATING != 0 {
                spins += 1;
                if spins < 64 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
                s = bucket.stamp.load(Ordering::Acquire);
                continue;
            }
            if s > stamp {
                return false;
            }
            match bucket.stamp.compare_exchange(
                s,
                stamp | ROTATING,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    bucket.calls.store(0, Ordering::Relaxed);
                    bucket.bad.store(0, Ordering::Relaxed);
                    bucket.stamp.store(stamp, Ordering::Release);
                    return true;
                }
                Err(actual) => s = actual,
            }
        }
    }

    /// Sums the buckets inside the window ending at `now`, and the stripes
    /// counting an interval inside it.
    pub(crate) fn snapshot(&self, now: u64, shape: &TimeShape) -> WindowSnapshot {
        // A bucket found in the window by the first pass and moved on
        // (rotated by a recorder a whole window ahead of `now`) before the
        // last: its failures were read but not its calls. Read again; the
        // moved bucket is then out of the window on both passes. Moves are
        // a bucket span apart, so a second read is all but always enough.
        for _ in 0..3 {
            let (snap, consistent) = self.snapshot_once(now, shape);
            if consistent {
                return snap;
            }
        }
        // Windows kept moving on under this reader: the last reading, its
        // failures clamped to its calls.
        self.snapshot_once(now, shape).0
    }

    /// One reading of the window; false when a bucket moved on during it.
    fn snapshot_once(&self, now: u64, shape: &TimeShape) -> (WindowSnapshot, bool) {
        let newest = now / shape.bucket_nanos + 1;
        let oldest = newest.saturating_sub(shape.count - 1).max(1);
        let in_window = |stamp: u64| {
            let s = stamp & !ROTATING;
            s >= oldest && s <= newest
        };
        let mut snap = WindowSnapshot::default();
        // Every bucket's `bad` first, then the stripes, then every bucket's
        // `calls`: a recorder adds to `calls` before `bad`, so every failure
        // read here has its call in the `calls` read after it, and every
        // success counted in a stripe before that failure was read is in
        // the stripe (or, moved, in its bucket) when read after it. Read
        // the other way round, a reader held up between the loads
        // (preempted while other threads record) would see the failures of
        // calls it did not count, and a window at 25 % failures could
        // evaluate at 100 % and trip. This order can only over-count
        // successes.
        let mut seen = [false; MAX_TIME_BUCKETS as usize];
        for (b, seen) in self.buckets.iter().zip(seen.iter_mut()) {
            if in_window(b.stamp.load(Ordering::Acquire)) {
                *seen = true;
                let bad = b.bad.load(Ordering::Acquire);
                snap.failures += bad & 0xFFFF_FFFF;
                snap.slow_calls += bad >> 32;
            }
        }
        let epoch = epoch(self.s.head.flags.load(Ordering::Acquire));
        for stripe in self.s.stripes.0.iter() {
            let held = stripe.load(Ordering::Acquire);
            let tag = held >> COUNT_BITS;
            // The stripe's interval, as a number of intervals before the
            // newest one.
            let back = u64::from((newest as u32).wrapping_sub(tag as u32));
            if tag >> 32 == epoch
                && back < shape.count
                && newest.checked_sub(back).is_some_and(|s| s >= oldest)
            {
                snap.calls += held & COUNT_FULL;
            }
        }
        let mut consistent = true;
        for (b, seen) in self.buckets.iter().zip(seen) {
            if seen {
                snap.calls += b.calls.load(Ordering::Acquire);
                consistent &= in_window(b.stamp.load(Ordering::Acquire));
            }
        }
        snap.failures = snap.failures.min(snap.calls);
        snap.slow_calls = snap.slow_calls.min(snap.calls);
        (snap, consistent)
    }

    /// Empties the window. Stripes are left as they are (each is written
    /// by its thread only); the new epoch makes readers skip them, and
    /// each thread restarts its own on its next success.
    pub(crate) fn reset(&self) {
        let _ = self
            .s
            .head
            .flags
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |f| {
                Some(f.wrapping_add(1 << EPOCH_SHIFT) & !DIRTY)
            });
        for b in self.buckets.iter() {
            b.stamp.store(0, Ordering::Relaxed);
            b.calls.store(0, Ordering::Relaxed);
            b.bad.store(0, Ordering::Release);
        }
    }
}

/// Either window.
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

    /// A ticker on a manual clock: its raw readings are nanoseconds.
    fn manual_ticker() -> Ticker {
        Ticker::new(&crate::clock::shared(crate::clock::ManualClock::new()))
    }

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
        let shape = CountShape::new(7);
        let w = CountWindow::new(&shape);
        w.cursor.store(shape.wrap - 3, Ordering::Relaxed);
        let mut seen = Vec::new();
        for _ in 0..10 {
            let drawn = w.cursor.load(Ordering::Relaxed);
            seen.push(fastmod(drawn, shape.magic, shape.size));
            w.record_slot(S, &shape);
        }
        let start = (shape.wrap - 3) % 7;
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
    fn a_success_filling_an_empty_slot_asks_for_evaluation_once_a_failure_is_in() {
        let shape = CountShape::new(10);
        let w = CountWindow::new(&shape);
        assert!(w.record(S, &shape).is_none());
        // The failure asks itself; each success after it raises the call
        // count towards `minimum_calls` with a failure in: evaluated.
        assert_eq!(w.record(F, &shape).unwrap().failures, 1);
        for calls in 3..=10 {
            let snap = w.record(S, &shape).expect("evaluated");
            assert_eq!((snap.calls, snap.failures), (calls, 1));
        }
        // Full: a success now replaces an older outcome, which cannot
        // raise a rate.
        assert!(w.record(S, &shape).is_none());
        let slow = w.record(code(false, true), &shape).unwrap();
        assert_eq!(slow.slow_calls, 1);
    }

    #[test]
    fn count_window_slides() {
        let shape = CountShape::new(10);
        let w = CountWindow::new(&shape);
        for i in 0..100 {
            // Successes alone never ask for evaluation (every rate is
            // zero), filling an empty slot or not.
            assert!(w.record(S, &shape).is_none(), "call {i}");
        }
        assert_eq!(w.snapshot(&shape).calls, 10);
        // A full window of successes is not written to by a success.
        let cursor = w.cursor.load(Ordering::Relaxed);
        w.record(S, &shape);
        assert_eq!(w.cursor.load(Ordering::Relaxed), cursor);
        for i in 1..=5 {
            let s = w.record(F, &shape).unwrap();
            assert_eq!(s.failures, i);
            assert_eq!(s.calls, 10);
        }
        assert_eq!(w.snapshot(&shape).failure_rate(), Some(0.5));
        // Successes now slide through the window: the next five replace
        // the successes after the failures, then each one replaces a
        // failure.
        for _ in 0..5 {
            w.record(S, &shape);
            assert_eq!(w.snapshot(&shape).failures, 5);
        }
        for i in 1..=5 {
            w.record(S, &shape);
            assert_eq!(w.snapshot(&shape).failures, 5 - i);
        }
        w.reset();
        assert_eq!(w.snapshot(&shape), WindowSnapshot::default());
    }

    #[test]
    fn count_window_counts_up_to_size() {
        let shape = CountShape::new(4);
        let w = CountWindow::new(&shape);
        assert_eq!(w.record(F, &shape).unwrap().calls, 1);
        assert_eq!(w.record(code(false, true), &shape).unwrap().slow_calls, 1);
        let s = w.record(code(true, true), &shape).unwrap();
        assert_eq!((s.calls, s.failures, s.slow_calls), (3, 2, 2));
    }

    #[test]
    fn time_window_expires_buckets() {
        let sec = 1_000_000_000u64;
        let shape = TimeShape::new(Duration::from_secs(10));
        let tk = manual_ticker();
        let w = TimeWindow::new(&shape, &tk);
        w.record(S, 0, &shape, &tk);
        w.record(F, sec / 2, &shape, &tk);
        assert_eq!(w.snapshot(sec, &shape).calls, 2);
        w.record(F, 5 * sec, &shape, &tk);
        let s = w.snapshot(9 * sec, &shape);
        assert_eq!((s.calls, s.failures), (3, 2));
        // At 10 s the bucket of second 0 is out of the window.
        let s = w.snapshot(10 * sec, &shape);
        assert_eq!((s.calls, s.failures), (1, 1));
        // Reusing the bucket of second 0 at second 10 rotates it. The window
        // still holds a failure, so the success is evaluated.
        assert_eq!(
            w.record(S, 10 * sec + 1, &shape, &tk).map(|s| s.calls),
            Some(2)
        );
        assert_eq!(w.snapshot(10 * sec, &shape).calls, 2);
        assert_eq!(w.snapshot(100 * sec, &shape).calls, 0);
        // Once an evaluation finds no failure, successes are not evaluated.
        assert_eq!(
            w.record(S, 100 * sec, &shape, &tk).map(|s| s.failures),
            Some(0)
        );
        assert_eq!(w.record(S, 100 * sec, &shape, &tk), None);
    }

    /// Thread indices the window tests record as: a stripe's owner, and a
    /// thread without a stripe (which adds to the bucket).
    const AS: [usize; 2] = [0, SLOTS];

    #[test]
    fn clean_successes_take_the_short_path_only_while_nothing_needs_evaluation() {
        let sec = 1_000_000_000u64;
        let shape = TimeShape::new(Duration::from_secs(10));
        let tk = manual_ticker();
        for slot in AS {
            let w = TimeWindow::new(&shape, &tk);
            let clean = |raw| w.record_clean_success_as(slot, raw, &shape);
            // No bucket holds second 0 yet: a stripe counts it all the
            // same; without one, the full path must place it.
            if !clean(0) {
                assert_eq!(slot, SLOTS);
                assert_eq!(w.record(S, 0, &shape, &tk), None);
            }
            assert_eq!(w.record(S, 0, &shape, &tk), None);
            assert!(clean(sec / 2));
            assert_eq!(w.snapshot(sec / 2, &shape).calls, 3);
            // Past the bucket's end: the full path rotates.
            assert!(!clean(sec));
            assert_eq!(w.record(S, sec, &shape, &tk), None);
            assert!(clean(sec + 1));
            assert_eq!(w.snapshot(sec + 1, &shape).calls, 5);
            // A failure anywhere in the window sends successes to the full
            // path, which evaluates them.
            w.record(F, sec + 2, &shape, &tk);
            assert!(!clean(sec + 3));
            assert_eq!(
                w.record(S, sec + 3, &shape, &tk)
                    .map(|s| (s.calls, s.failures)),
                Some((7, 1))
            );
            // Once the failure has left the window and an evaluation saw
            // so, the short path is back.
            assert_eq!(
                w.record(S, 12 * sec, &shape, &tk).map(|s| s.failures),
                Some(0)
            );
            assert!(clean(12 * sec + 1), "slot {slot}");
            assert_eq!(w.snapshot(12 * sec + 1, &shape).calls, 2);
        }
    }

    #[test]
    fn a_clean_success_read_before_a_concurrent_move_counts_in_the_current_bucket() {
        let sec = 1_000_000_000u64;
        let shape = TimeShape::new(Duration::from_secs(10));
        let tk = manual_ticker();
        for slot in AS {
            let w = TimeWindow::new(&shape, &tk);
            assert_eq!(w.record(S, 5 * sec, &shape, &tk), None);
            // Read at 4.5 s by a thread that another one overtook: it lands
            // in second 5's interval, and leaves the window with it.
            assert!(w.record_clean_success_as(slot, 4 * sec + sec / 2, &shape));
            assert_eq!(w.snapshot(14 * sec + 1, &shape).calls, 2);
            assert_eq!(w.snapshot(15 * sec, &shape).calls, 0);
            // A reading past the end of the interval takes the full path.
            assert!(!w.record_clean_success_as(slot, 6 * sec, &shape));
        }
    }

    #[test]
    fn a_stripe_moves_its_count_into_its_bucket_when_its_interval_ends() {
        let sec = 1_000_000_000u64;
        let shape = TimeShape::new(Duration::from_secs(10));
        let tk = manual_ticker();
        let w = TimeWindow::new(&shape, &tk);
        for i in 0..5 {
            assert!(w.record_clean_success_as(3, i, &shape));
        }
        // Counted in the stripe only.
        assert_eq!(w.buckets[0].calls.load(Ordering::Relaxed), 0);
        assert_eq!(w.snapshot(1, &shape).calls, 5);
        // Another thread moves the window to second 2; this thread's next
        // success moves its five into second 0's bucket.
        assert_eq!(w.record(S, 2 * sec, &shape, &tk), None);
        assert!(w.record_clean_success_as(3, 2 * sec + 1, &shape));
        assert_eq!(w.buckets[0].calls.load(Ordering::Relaxed), 5);
        assert_eq!(w.snapshot(2 * sec + 1, &shape).calls, 7);
        // And they leave the window with second 0; the stripe's one with
        // second 2.
        assert_eq!(w.snapshot(10 * sec, &shape).calls, 2);
        assert_eq!(w.snapshot(12 * sec, &shape).calls, 0);
        // A stripe whose interval has left the window is dropped, not
        // moved: nothing of second 2 comes back at second 13.
        assert_eq!(w.record(S, 13 * sec, &shape, &tk), None);
        assert!(w.record_clean_success_as(3, 13 * sec + 1, &shape));
        assert_eq!(w.snapshot(13 * sec + 1, &shape).calls, 2);
        assert_eq!(w.buckets[2].calls.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_full_stripe_moves_its_count_into_the_bucket_and_starts_again() {
        let shape = TimeShape::new(Duration::from_secs(10));
        let tk = manual_ticker();
        let w = TimeWindow::new(&shape, &tk);
        assert_eq!(w.record(S, 0, &shape, &tk), None);
        // Two below full, as if this thread had counted that many.
        w.s.stripes.0[1].store(stripe_base(0, 1) + COUNT_FULL - 2, Ordering::Relaxed);
        assert!(w.record_clean_success_as(1, 1, &shape));
        assert_eq!(w.snapshot(1, &shape).calls, 1 + COUNT_FULL - 1);
        assert!(w.record_clean_success_as(1, 2, &shape));
        assert_eq!(
            w.s.stripes.0[1].load(Ordering::Relaxed),
            stripe_base(0, 1) + COUNT_FULL
        );
        assert!(w.record_clean_success_as(1, 3, &shape));
        // Full: the count went to the bucket, the stripe holds one.
        assert_eq!(w.buckets[0].calls.load(Ordering::Relaxed), 1 + COUNT_FULL);
        assert_eq!(
            w.s.stripes.0[1].load(Ordering::Relaxed),
            stripe_base(0, 1) + 1
        );
        assert_eq!(w.snapshot(3, &shape).calls, 2 + COUNT_FULL);
    }

    #[test]
    fn a_reset_empties_the_stripes_too() {
        let shape = TimeShape::new(Duration::from_secs(10));
        let tk = manual_ticker();
        let w = TimeWindow::new(&shape, &tk);
        for _ in 0..4 {
            assert!(w.record_clean_success_as(2, 1, &shape));
        }
        assert_eq!(w.snapshot(1, &shape).calls, 4);
        w.reset();
        assert_eq!(w.snapshot(1, &shape), WindowSnapshot::default());
        // The stripe's next success starts it again (its old count is not
        // moved into the emptied bucket).
        assert!(w.record_clean_success_as(2, 2, &shape));
        assert_eq!(w.snapshot(2, &shape).calls, 1);
        assert_eq!(w.buckets[0].calls.load(Ordering::Relaxed), 0);
        // After 256 resets the epoch comes round again, on a stamp the
        // stripe is not on.
        for _ in 0..255 {
            w.reset();
        }
        assert_eq!(epoch(w.s.head.flags.load(Ordering::Relaxed)), 0);
        assert_eq!(w.snapshot(sec_after(12), &shape).calls, 0);
    }

    fn sec_after(s: u64) -> u64 {
        s * 1_000_000_000
    }

    #[test]
    fn snapshots_count_every_stripe_and_bucket_while_threads_record() {
        // Threads without a stripe add to the bucket, the others count in
        // their stripes; a reader sums both while they run.
        let shape = TimeShape::new(Duration::from_secs(10));
        let tk = manual_ticker();
        let w = TimeWindow::new(&shape, &tk);
        assert_eq!(w.record(S, 0, &shape, &tk), None);
        let per_thread = 20_000u64;
        std::thread::scope(|s| {
            for slot in [0, 1, 2, SLOTS, SLOTS] {
                let w = &w;
                let shape = &shape;
                s.spawn(move || {
                    for _ in 0..per_thread {
                        assert!(w.record_clean_success_as(slot, 1, shape));
                    }
                });
            }
            let mut last = 0;
            for _ in 0..1000 {
                let calls = w.snapshot(1, &shape).calls;
                assert!(calls >= last, "the count went back: {calls} after {last}");
                last = calls;
            }
        });
        assert_eq!(w.snapshot(1, &shape).calls, 1 + 5 * per_thread);
    }

    #[test]
    fn long_time_windows_use_coarser_buckets() {
        let shape = TimeShape::new(Duration::from_secs(3600));
        assert_eq!(shape.count, 600);
        assert_eq!(shape.bucket_nanos, 6_000_000_000);
    }

    #[test]
    fn stale_records_are_dropped() {
        let sec = 1_000_000_000u64;
        let shape = TimeShape::new(Duration::from_secs(2));
        let tk = manual_ticker();
        let w = TimeWindow::new(&shape, &tk);
        w.record(S, 10 * sec, &shape, &tk);
        // Second 8 maps to the same bucket as 10 but is older: dropped.
        w.record(F, 8 * sec, &shape, &tk);
        assert_eq!(w.snapshot(10 * sec, &shape).failures, 0);
    }
}
