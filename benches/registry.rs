//! Keyed breakers at scale: `CircuitBreakerRegistry<u64>` (count window 10)
//! against governor's keyed rate limiter (`DefaultKeyedRateLimiter`, a
//! `DashMap` of GCRA cells), at 1 000, 100 000 and 1 000 000 keys, in one
//! process and one run.
//!
//! Run: `cargo bench --bench registry` (a plain binary, not criterion: each
//! figure is one timed pass over a pre-drawn key sequence, repeated three
//! times, median kept). It prints a markdown table and writes it to
//! `target/bench-registry.md`, which `scripts/bench-table.sh` puts in
//! `BENCHMARKS.md`. `REGISTRY_SIZES=1000,100000` limits the sizes.
//!
//! # What is measured, per size N
//!
//! * **bytes/key**: heap bytes held after N keys were made, divided by N
//!   (net bytes requested from the allocator, counted by
//!   `allocation_counter`; the allocator's own rounding is not included,
//!   for either side). Ours: the registry's map and every key's breaker
//!   (its name included). governor: its `DashMap` of cells.
//! * **create/key**: wall time to make N keys, one first call each (ours:
//!   `try_acquire` + `record_success` on a new key; governor: `check_key`
//!   on a new key), divided by N.
//! * **random key**: one call on a key drawn at random among the N
//!   existing ones (ours: `try_acquire` + `record_success`; governor:
//!   `check_key`), averaged over a pass of `max(N, 1 000 000)` calls. At
//!   100 000 and 1 000 000 keys this is dominated by cache misses.
//! * **hot key**: the same key every call, so everything is in cache: what
//!   the registry adds to a breaker. Compared with a lone breaker's
//!   `try_acquire_owned` + `record_success` (a keyed permit owns a handle
//!   to its breaker, as an owned permit does) and `try_acquire` +
//!   `record_success`.
//! * **hot key, held handle**: the same key through the breaker handle
//!   that `get` returned, kept by the caller (a key held so is never
//!   evicted): `try_acquire` + `record_success`, a lone breaker's cost,
//!   for callers who know their hot keys.
//!
//! # Equivalent work
//!
//! governor's `check_key` hashes the key, finds (or inserts) its cell in a
//! sharded map and updates the cell with one compare-and-swap: one lookup
//! and one state update per call. Ours does one lookup and two breaker
//! operations (permit, then outcome), the same shape. governor is
//! configured never to refuse (a quota of 1 000 000 000 per second), so
//! every call takes its full path; ours is configured as the issue states
//! (count window 10) with per-key metrics off (see `per_key_metrics` in the
//! registry's docs: per-key metric series cannot be made cheap, for any
//! library, at a million keys).

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use resilience::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitBreakerRegistry};

const DEFAULT_SIZES: &[usize] = &[1_000, 100_000, 1_000_000];
const REPEATS: usize = 3;

/// The registry under test: count window 10, room for every key.
pub fn ours(capacity: usize) -> CircuitBreakerRegistry<u64> {
    CircuitBreakerRegistry::builder(config())
        .capacity(capacity)
        .per_key_metrics(false)
        .build()
        .expect("valid registry")
}

fn config() -> CircuitBreakerConfig {
    CircuitBreakerConfig::new()
        .count_window(10)
        .minimum_calls(10)
        .failure_rate_threshold(0.5)
}

fn governor() -> DefaultKeyedRateLimiter<u64> {
    RateLimiter::keyed(Quota::per_second(
        NonZeroU32::new(1_000_000_000).expect("non-zero"),
    ))
}

/// A deterministic sequence of `len` indexes below `n` (xorshift64*).
fn draws(n: usize, len: usize, seed: u64) -> Vec<u64> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) * 7919 + 1
        })
        .collect()
}

/// Keys are spread (`i * 7919 + 1`), not consecutive, so that neither side
/// gets a lucky hash layout.
fn key(i: usize) -> u64 {
    i as u64 * 7919 + 1
}

fn per_op(d: Duration, ops: usize) -> f64 {
    d.as_nanos() as f64 / ops as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[derive(Debug, Default, Clone, Copy)]
struct Row {
    bytes: f64,
    create: f64,
    random: f64,
    hot: f64,
    /// Ours only: the hot key through a handle kept from `get`.
    held: f64,
}

fn measure_ours(n: usize, random: &[u64]) -> Row {
    let mut row = Row::default();
    let mut creates = Vec::new();
    let mut randoms = Vec::new();
    let mut hots = Vec::new();
    let mut helds = Vec::new();
    for rep in 0..REPEATS {
        let mut registry = None;
        let mut took = Duration::ZERO;
        let info = allocation_counter::measure(|| {
            let r = ours(n.max(1));
            let t = Instant::now();
            for i in 0..n {
                r.try_acquire(&key(i))
                    .expect("room for every key")
                    .record_success();
            }
            took = t.elapsed();
            registry = Some(r);
        });
        let r = registry.expect("built");
        assert_eq!(r.len(), n);
        if rep == 0 {
            row.bytes = info.bytes_current as f64 / n as f64;
        }
        creates.push(per_op(took, n));
        let t = Instant::now();
        for k in random {
            black_box(&r)
                .try_acquire(black_box(k))
                .expect("existing key")
                .record_success();
        }
        randoms.push(per_op(t.elapsed(), random.len()));
        let hot = key(n / 2);
        let t = Instant::now();
        for _ in 0..random.len() {
            black_box(&r)
                .try_acquire(black_box(&hot))
                .expect("existing key")
                .record_success();
        }
        hots.push(per_op(t.elapsed(), random.len()));
        // The same key through a handle kept from `get` (which keeps the
        // key from eviction while it lives): a lone breaker's cost.
        let held = r.get(&hot).expect("existing key");
        helds.push(borrowed_calls(&held, random.len()));
        drop(held);
        allocation_counter::opt_out(|| drop(r));
    }
    row.create = median(creates);
    row.random = median(randoms);
    row.hot = median(hots);
    row.held = median(helds);
    row
}

fn measure_governor(n: usize, random: &[u64]) -> Row {
    let mut row = Row::default();
    let mut creates = Vec::new();
    let mut randoms = Vec::new();
    let mut hots = Vec::new();
    for rep in 0..REPEATS {
        let mut limiter = None;
        let mut took = Duration::ZERO;
        let info = allocation_counter::measure(|| {
            let l = governor();
            let t = Instant::now();
            for i in 0..n {
                assert!(l.check_key(&key(i)).is_ok());
            }
            took = t.elapsed();
            limiter = Some(l);
        });
        let l = limiter.expect("built");
        assert_eq!(l.len(), n);
        if rep == 0 {
            row.bytes = info.bytes_current as f64 / n as f64;
        }
        creates.push(per_op(took, n));
        let t = Instant::now();
        for k in random {
            black_box(black_box(&l).check_key(black_box(k)).is_ok());
        }
        randoms.push(per_op(t.elapsed(), random.len()));
        let hot = key(n / 2);
        let t = Instant::now();
        for _ in 0..random.len() {
            black_box(black_box(&l).check_key(black_box(&hot)).is_ok());
        }
        hots.push(per_op(t.elapsed(), random.len()));
        allocation_counter::opt_out(|| drop(l));
    }
    row.create = median(creates);
    row.random = median(randoms);
    row.hot = median(hots);
    row
}

/// A lone breaker (same config) through the two permit APIs, ns per call.
fn lone_breaker(ops: usize) -> (f64, f64) {
    let b = CircuitBreaker::new(config()).expect("valid config");
    let mut owned = Vec::new();
    let mut borrowed = Vec::new();
    for _ in 0..REPEATS {
        let t = Instant::now();
        for _ in 0..ops {
            black_box(&b)
                .try_acquire_owned()
                .expect("closed")
                .record_success();
        }
        owned.push(per_op(t.elapsed(), ops));
        borrowed.push(borrowed_calls(&b, ops));
    }
    (median(owned), median(borrowed))
}

/// `ops` calls on `b` through the borrowed permit, ns per call.
fn borrowed_calls(b: &CircuitBreaker, ops: usize) -> f64 {
    let t = Instant::now();
    for _ in 0..ops {
        black_box(b).try_acquire().expect("closed").record_success();
    }
    per_op(t.elapsed(), ops)
}

/// `figures` over `base`, as `1.02×, 0.98×`.
fn ratios(figures: &[f64], base: f64) -> String {
    figures
        .iter()
        .map(|f| format!("{:.2}×", f / base))
        .collect::<Vec<_>>()
        .join(", ")
}

fn sizes() -> Vec<usize> {
    match std::env::var("REGISTRY_SIZES") {
        Ok(s) => s
            .split(',')
            .filter_map(|x| x.trim().replace('_', "").parse().ok())
            .collect(),
        Err(_) => DEFAULT_SIZES.to_vec(),
    }
}

fn fmt(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.1} ns")
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument that does not
    // mention this suite skips it (as criterion suites do).
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if !args.is_empty() && !args.iter().any(|a| "registry".contains(a.as_str())) {
        return;
    }
    let started = Instant::now();
    let mut out = String::new();
    out.push_str(
        "| keys | ours bytes/key | governor bytes/key | ours create/key | governor create/key | ours random key | governor random key | ours/governor | ours hot key | governor hot key | ours hot key, held handle |\n",
    );
    out.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let mut hot_ours = Vec::new();
    let mut held_ours = Vec::new();
    for n in sizes() {
        let random = draws(n, n.max(1_000_000), 0x9E37_79B9_7F4A_7C15 ^ n as u64);
        let g = measure_governor(n, &random);
        let o = measure_ours(n, &random);
        hot_ours.push(o.hot);
        held_ours.push(o.held);
        let line = format!(
            "| {n} | {:.0} | {:.0} | {} | {} | {} | {} | {:.2}× | {} | {} | {} |\n",
            o.bytes,
            g.bytes,
            fmt(o.create),
            fmt(g.create),
            fmt(o.random),
            fmt(g.random),
            o.random / g.random,
            fmt(o.hot),
            fmt(g.hot),
            fmt(o.held),
        );
        eprint!("{line}");
        out.push_str(&line);
    }
    let (owned, borrowed) = lone_breaker(5_000_000);
    out.push_str(&format!(
        "\nLone breaker, same config: `try_acquire_owned` + `record_success` {}, `try_acquire` + `record_success` {}; hot key / lone owned: {}; held handle / lone borrowed: {}.\n",
        fmt(owned),
        fmt(borrowed),
        ratios(&hot_ours, owned),
        ratios(&held_ours, borrowed),
    ));
    out.push_str(&format!(
        "(wall time of this suite: {:.0} s)\n",
        started.elapsed().as_secs_f64()
    ));
    print!("{out}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join("bench-registry.md"), &out);
    }
}
