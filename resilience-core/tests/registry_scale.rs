//! The keyed registry at scale: the bytes a key costs, and eviction keeping
//! memory bounded while keys come and go (capacity, LRU order, idle TTL).
//!
//! Bytes are counted by a counting allocator (`allocation_counter`, counts
//! per thread): what the registry asks the allocator for, net of what it
//! gave back.

use std::time::Duration;

use resilience_core::circuit_breaker::{
    CircuitBreaker, CircuitBreakerConfig, CircuitBreakerRegistry, CircuitState, KeyedRejection,
};
use resilience_core::clock::ManualClock;

/// The config of the bound: a count window of 10 calls.
fn count10() -> CircuitBreakerConfig {
    CircuitBreakerConfig::new()
        .name("tenant")
        .count_window(10)
        .minimum_calls(10)
        .failure_rate_threshold(0.5)
}

fn scalable(capacity: usize) -> CircuitBreakerRegistry<u64> {
    CircuitBreakerRegistry::builder(count10())
        .capacity(capacity)
        .per_key_metrics(false)
        .build()
        .unwrap()
}

/// A registry on a manual clock, with an idle time.
fn with_idle_ttl(capacity: usize, ttl: Duration) -> (ManualClock, CircuitBreakerRegistry<u64>) {
    let clock = ManualClock::new();
    let r = CircuitBreakerRegistry::builder(count10())
        .capacity(capacity)
        .idle_ttl(ttl)
        .per_key_metrics(false)
        .clock(clock.clone())
        .build()
        .unwrap();
    (clock, r)
}

/// Bytes held per key, map included, with `keys` keys each used once.
fn bytes_per_key(keys: u64) -> f64 {
    let mut registry = None;
    let info = allocation_counter::measure(|| {
        let r = scalable(keys as usize);
        for k in 0..keys {
            r.try_acquire(&(k * 7919)).unwrap().record_success();
        }
        registry = Some(r);
    });
    let r = registry.unwrap();
    assert_eq!(r.len() as u64, keys);
    allocation_counter::opt_out(|| drop(r));
    info.bytes_current as f64 / keys as f64
}

#[test]
fn a_key_costs_at_most_256_bytes_map_included() {
    for keys in [1_000, 20_000, 100_000] {
        let per_key = bytes_per_key(keys);
        assert!(
            per_key <= 256.0,
            "{keys} keys: {per_key:.0} bytes per key, over the 256-byte bound"
        );
    }
}

#[test]
fn a_keyed_breaker_is_one_allocation_of_at_most_224_bytes() {
    // Making a key allocates its breaker, and sometimes grows its shard's
    // map; the inserts that allocate exactly once show the breaker alone.
    let r = scalable(10_000);
    let mut breaker_bytes = Vec::new();
    for k in 0..2_000u64 {
        let info = allocation_counter::measure(|| {
            r.try_acquire(&k).unwrap().record_success();
        });
        if info.count_total == 1 {
            breaker_bytes.push(info.bytes_total);
        }
    }
    assert!(!breaker_bytes.is_empty());
    let max = *breaker_bytes.iter().max().unwrap();
    assert!(max <= 224, "a keyed breaker takes {max} bytes");
    // Names of keys up to 22 bytes long live inside the breaker.
    assert_eq!(r.get(&1999).unwrap().name(), "tenant:1999");
}

#[test]
fn per_key_metrics_cost_one_more_allocation_per_key() {
    let r = CircuitBreakerRegistry::<u64>::builder(count10())
        .capacity(10_000)
        .build()
        .unwrap();
    let mut counts = Vec::new();
    for k in 0..200u64 {
        let info = allocation_counter::measure(|| {
            r.try_acquire(&k).unwrap().record_success();
        });
        counts.push(info.count_total);
    }
    // The breaker, its boxed handles and the handles' labels: more than
    // the one allocation of a key without per-key metrics.
    assert!(counts.iter().all(|&c| c > 1), "{counts:?}");
}

#[test]
fn a_lone_breaker_is_bounded_too() {
    let info = allocation_counter::measure(|| {
        let b = CircuitBreaker::new(count10()).unwrap();
        b.try_acquire().unwrap().record_success();
        std::mem::forget(b);
    });
    // Its own copy of the config and its metric handles, plus its state.
    assert!(
        info.bytes_current <= 1_280,
        "a lone breaker takes {} bytes",
        info.bytes_current
    );
}

#[test]
fn churn_is_bounded_by_the_capacity() {
    let r = scalable(1_000);
    let mut peak = 0;
    let info = allocation_counter::measure(|| {
        for k in 0..50_000u64 {
            r.try_acquire(&k).unwrap().record_success();
            peak = peak.max(r.len());
        }
    });
    assert!(peak <= 1_000, "held {peak} keys");
    // Held memory is that of at most 1 000 keys, not of the 50 000 made:
    // their breakers and the 64 shards' tables, which keep the size they
    // grew to. The keys are consecutive integers, so they must spread over
    // the shards as they come: 219-254 KB in 200 runs (the tables at 32 or
    // 64 buckets). When the shard was picked from a slice of the hash's
    // bits, runs of consecutive keys went to one shard and grew its table:
    // 219-463 KB, the tail above this bound.
    assert!(
        info.bytes_current <= 1_000 * 256 + 16 * 1024,
        "{} bytes held after the churn",
        info.bytes_current
    );
    // The most recently made keys are the ones kept: room is made a batch
    // (1/64 of the capacity) at a time, so a full registry holds between
    // 985 and 1 000 keys.
    assert!(r.states().iter().any(|(k, _)| *k == 49_999));
    assert!((985..=1_000).contains(&r.len()), "{} keys", r.len());
}

#[test]
fn eviction_takes_the_least_recently_used_first() {
    let clock = ManualClock::new();
    let r = CircuitBreakerRegistry::<u64>::builder(count10())
        .capacity(64)
        .per_key_metrics(false)
        .clock(clock.clone())
        .build()
        .unwrap();
    for k in 0..64u64 {
        r.try_acquire(&k).unwrap().record_success();
        clock.advance(Duration::from_millis(2));
    }
    // Use the even keys again: the odd ones are now the least recently used.
    for k in (0..64u64).step_by(2) {
        r.try_acquire(&k).unwrap().record_success();
    }
    clock.advance(Duration::from_millis(2));
    // A full registry makes room for a batch (one here: 64 / 64).
    r.try_acquire(&1_000).unwrap().record_success();
    let mut keys: Vec<u64> = r.states().into_iter().map(|(k, _)| k).collect();
    keys.sort_unstable();
    let evicted: Vec<u64> = (0..64).filter(|k| !keys.contains(k)).collect();
    assert_eq!(evicted.len(), 1);
    assert_eq!(
        evicted[0] % 2,
        1,
        "evicted {evicted:?}, an even key was used later"
    );
    assert!(keys.contains(&1_000));
}

#[test]
fn open_breakers_survive_churn() {
    let r = CircuitBreakerRegistry::<u64>::builder(count10().consecutive_failures(1))
        .capacity(100)
        .per_key_metrics(false)
        .build()
        .unwrap();
    r.try_acquire(&7).unwrap().record_failure();
    assert_eq!(r.get(&7).unwrap().state(), CircuitState::Open);
    for k in 1_000..5_000u64 {
        r.try_acquire(&k).unwrap().record_success();
    }
    // Key 7 is still there and still open: its failing dependency is not
    // forgotten by the churn.
    assert!(r.try_acquire(&7).is_err());
    assert_eq!(r.get(&7).unwrap().state(), CircuitState::Open);
}

#[test]
fn idle_ttl_sweeps_while_keys_come_and_go() {
    let (clock, r) = with_idle_ttl(1_000_000, Duration::from_secs(60));
    // Ten minutes of churn: a new key every 100 ms, each used once; key 0
    // stays in use throughout.
    for k in 1..=6_000u64 {
        r.try_acquire(&k).unwrap().record_success();
        r.try_acquire(&0).unwrap().record_success();
        clock.advance(Duration::from_millis(100));
    }
    // Keys used in the last minute (600) are all there, key 0 too; older
    // ones are swept within about half a TTL of expiring. No call to
    // `evict_idle` was needed.
    let held = r.len();
    assert!(
        (601..=1_000).contains(&held),
        "holds {held} keys after ten minutes of churn"
    );
    let keys: std::collections::HashSet<u64> = r.states().into_iter().map(|(k, _)| k).collect();
    assert!((5_401..=6_000u64).all(|k| keys.contains(&k)));
    assert!(keys.contains(&0));
    // After a quiet TTL, a sweep removes every key whose last use is known
    // to be that old: all but key 0, whose uses since the last key was made
    // are only known to the generation that this sweep ends...
    clock.advance(Duration::from_secs(61));
    assert_eq!(r.evict_idle(), held - 1);
    assert_eq!(r.len(), 1);
    // ...and the next sweep a TTL later removes it too.
    clock.advance(Duration::from_secs(61));
    assert_eq!(r.evict_idle(), 1);
    assert!(r.is_empty());
}

#[test]
fn a_key_in_use_is_never_judged_idle() {
    let (clock, r) = with_idle_ttl(1, Duration::from_secs(10));
    r.try_acquire(&1).unwrap().record_success();
    // Key 1 is used every second for a minute with no other registry
    // activity (no key made, nothing swept): its uses are only known to
    // the generation, which has not moved.
    for _ in 0..60 {
        clock.advance(Duration::from_secs(1));
        r.try_acquire(&1).unwrap().record_success();
    }
    // A new key must not evict it: it was used a moment ago.
    assert!(r.try_acquire(&2).is_err());
    assert_eq!(r.evict_idle(), 0);
    clock.advance(Duration::from_secs(11));
    assert_eq!(r.evict_idle(), 1);
}

#[test]
fn a_call_in_flight_keeps_its_breaker_and_its_outcome() {
    // Capacity 1, every key idle-evictable: only the call in flight on key
    // 1 stands between it and eviction when key 2 arrives.
    let r = CircuitBreakerRegistry::<u64>::builder(count10().consecutive_failures(1))
        .capacity(1)
        .per_key_metrics(false)
        .build()
        .unwrap();
    let in_flight = r.try_acquire(&1).unwrap();
    // Key 1's breaker is closed but a call holds it: no room for key 2.
    assert!(matches!(r.try_acquire(&2), Err(KeyedRejection::Full(_))));
    assert_eq!(r.len(), 1);
    // The call fails; its failure reaches the breaker the registry holds,
    // which opens (one failure is enough here), and key 1 stays failing
    // instead of starting over on a fresh breaker.
    in_flight.record_failure();
    assert!(matches!(r.try_acquire(&1), Err(KeyedRejection::Open(_))));
    assert_eq!(r.get(&1).unwrap().state(), CircuitState::Open);
}

#[test]
fn a_held_handle_keeps_its_key_until_dropped() {
    let (clock, r) = with_idle_ttl(1, Duration::from_secs(10));
    // A caller keeps key 1's breaker to call it directly (a hot key) and
    // never goes through the registry again.
    let hot = r.get(&1).unwrap();
    for _ in 0..30 {
        clock.advance(Duration::from_secs(1));
        hot.try_acquire().unwrap().record_success();
    }
    // Unused through the registry for 30 s, but held: neither the sweep
    // nor a new key evicts it, so the registry and the holder keep sharing
    // one breaker.
    assert_eq!(r.evict_idle(), 0);
    assert!(matches!(r.try_acquire(&2), Err(KeyedRejection::Full(_))));
    assert!(hot.ptr_eq(&r.get(&1).unwrap()));
    // Dropped, it is idle like any other key: the `get` above was a use,
    // known to the generation that the next sweep ends, so the sweep a TTL
    // after that one removes it.
    drop(hot);
    clock.advance(Duration::from_secs(11));
    assert_eq!(r.evict_idle(), 0);
    clock.advance(Duration::from_secs(11));
    assert_eq!(r.evict_idle(), 1);
    assert!(r.try_acquire(&2).is_ok());
}
