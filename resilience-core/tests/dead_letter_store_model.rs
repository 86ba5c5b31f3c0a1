//! Model test of the in-memory queue used as a `DeadLetterStore`: random
//! sequences of enqueue, claim, ack, release (retry, untried, park) and
//! time passing, checked against the store contract:
//!
//! - nothing is lost: every letter is acknowledged, parked or still held;
//! - a letter under a live lease is never handed to anyone else;
//! - claims come oldest first, and a keyed letter is only claimed when no
//!   older letter with its key is still to be done (per-key FIFO);
//! - `replays` counts the deliveries that were tried, and a letter is
//!   parked once its lease expired after `max_replays` deliveries;
//! - a stale receipt is refused with `LeaseLost`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use resilience_core::clock::ManualClock;
use resilience_core::dead_letter::{
    ClaimOptions, ClaimedLetter, DeadLetter, DeadLetterReason, DeadLetterStore,
    InMemoryDeadLetterQueue, NewLetter, Receipt, Release, StoreError,
};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

const LEASE: Duration = Duration::from_secs(10);
const MAX_REPLAYS: u32 = 3;

#[derive(Debug, Clone)]
enum Op {
    Enqueue(Option<u8>),
    Claim(usize),
    Ack(usize),
    Retry(usize, u64),
    Untried(usize),
    Park(usize),
    StaleAck(usize),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => prop::option::of(0u8..3).prop_map(Op::Enqueue),
        3 => (1usize..5).prop_map(Op::Claim),
        2 => any::<usize>().prop_map(Op::Ack),
        1 => (any::<usize>(), 0u64..15).prop_map(|(i, s)| Op::Retry(i, s)),
        1 => any::<usize>().prop_map(Op::Untried),
        1 => any::<usize>().prop_map(Op::Park),
        1 => any::<usize>().prop_map(Op::StaleAck),
        2 => (0u64..25).prop_map(Op::Advance),
    ]
}

/// What the test knows about one letter.
#[derive(Debug, Clone)]
struct Known {
    key: Option<u8>,
    done: bool,
    parked: bool,
    /// Deliveries that count (claims minus untried releases).
    tried: u32,
    /// Held under a lease that expired (its replayer "died").
    lease_expired: bool,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn the_in_memory_store_keeps_the_contract(ops in prop::collection::vec(op(), 1..120)) {
        let clock = ManualClock::new();
        let q = InMemoryDeadLetterQueue::<DeadLetter<u32>>::with_clock("model", 1_000, clock.clone()).unwrap();
        let mut known: BTreeMap<u32, Known> = BTreeMap::new();
        // Receipts we hold, with the time their lease ends.
        let mut held: Vec<(ClaimedLetter<u32>, Duration)> = Vec::new();
        // Receipts whose lease expired: still good until the letter is
        // claimed again (or parked); then stale.
        let mut expired: Vec<Receipt> = Vec::new();
        let mut stale: Vec<Receipt> = Vec::new();
        let mut now = Duration::ZERO;
        let mut next = 0u32;
        for op in ops {
            held.retain(|(c, until)| {
                if *until <= now {
                    expired.push(c.receipt());
                    if let Some(k) = known.get_mut(&c.item) {
                        k.lease_expired = true;
                    }
                    false
                } else {
                    true
                }
            });
            match op {
                Op::Enqueue(key) => {
                    let mut l = NewLetter::new(next, DeadLetterReason::CircuitOpen);
                    if let Some(k) = key {
                        l = l.with_ordering_key(format!("k{k}"));
                    }
                    block_on(q.enqueue(l)).unwrap();
                    known.insert(next, Known { key, done: false, parked: false, tried: 0, lease_expired: false });
                    next += 1;
                }
                Op::Claim(n) => {
                    let live: BTreeSet<u32> = held.iter().map(|(c, _)| c.item).collect();
                    let batch = block_on(q.claim(ClaimOptions::new(n, LEASE).with_max_replays(MAX_REPLAYS))).unwrap();
                    prop_assert!(batch.len() <= n);
                    let ids: Vec<u32> = batch.iter().map(|c| c.item).collect();
                    prop_assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");
                    // Letters whose lease expired after MAX_REPLAYS tried
                    // deliveries are parked now; the others are queued again.
                    for k in known.values_mut() {
                        if k.lease_expired {
                            k.lease_expired = false;
                            if k.tried >= MAX_REPLAYS {
                                k.parked = true;
                            }
                        }
                    }
                    let gone: BTreeSet<u32> = known
                        .iter()
                        .filter(|(id, k)| k.parked || ids.contains(id))
                        .map(|(id, _)| *id)
                        .collect();
                    expired.retain(|r| {
                        let id = u32::try_from(r.id().high() - 1).unwrap();
                        if gone.contains(&id) {
                            stale.push(*r);
                            false
                        } else {
                            true
                        }
                    });
                    for c in batch {
                        let id = c.item;
                        prop_assert!(!live.contains(&id), "letter {id} handed out under a live lease");
                        let k = known.get_mut(&id).unwrap();
                        prop_assert!(!k.done && !k.parked, "letter {id} delivered after ack or park");
                        k.tried += 1;
                        prop_assert_eq!(c.replays, k.tried);
                        if let Some(key) = k.key {
                            let older_open = known.range(..id).any(|(_, o)| o.key == Some(key) && !o.done && !o.parked);
                            prop_assert!(!older_open, "letter {} (key {}) claimed before an older one", id, key);
                        }
                        held.push((c, now + LEASE));
                    }
                }
                Op::Ack(i) | Op::Retry(i, _) | Op::Untried(i) | Op::Park(i) if !held.is_empty() => {
                    let (c, _) = held.remove(i % held.len());
                    let id = c.item;
                    let release = match op {
                        Op::Ack(_) => None,
                        Op::Retry(_, s) => Some(Release::Retry { after: Duration::from_secs(s), error: "e".into() }),
                        Op::Untried(_) => Some(Release::Untried),
                        _ => Some(Release::Park { error: "poison".into() }),
                    };
                    let k = known.get_mut(&id).unwrap();
                    match release {
                        None => {
                            block_on(q.ack(c.receipt())).unwrap();
                            k.done = true;
                        }
                        Some(r) => {
                            match &r {
                                Release::Untried => k.tried -= 1,
                                Release::Park { .. } => k.parked = true,
                                _ => {}
                            }
                            block_on(q.release(c.receipt(), r)).unwrap();
                        }
                    }
                    stale.push(c.receipt());
                }
                Op::StaleAck(i) if !stale.is_empty() => {
                    let r = stale[i % stale.len()];
                    let refused = matches!(block_on(q.ack(r)), Err(StoreError::LeaseLost { .. }));
                    prop_assert!(refused, "a stale receipt must be refused");
                }
                Op::Advance(s) => {
                    clock.advance(Duration::from_secs(s));
                    now += Duration::from_secs(s);
                }
                _ => {}
            }
            // Nothing lost: held + parked + acknowledged = enqueued.
            let stats = block_on(q.stats()).unwrap();
            let done = known.values().filter(|k| k.done).count() as u64;
            prop_assert_eq!(stats.depth() + stats.parked + done, u64::from(next), "{:?}", stats);
            prop_assert_eq!(q.len() as u64, stats.depth() + stats.parked);
        }
    }
}
