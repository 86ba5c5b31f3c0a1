//! Model test: `MemoryLeaseBackend` against a small reference model of the
//! `LeaseBackend` contract, over random operation sequences.

use std::time::Duration;

use proptest::prelude::*;
use resilience_core::clock::{Clock, ManualClock};
use resilience_dr::lease::{FencingToken, Lease, LeaseBackend, LeaseError, MemoryLeaseBackend};

const NAMES: [&str; 3] = ["alpha", "beta", "gamma"];
const HOLDERS: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone)]
enum Op {
    Acquire {
        name: usize,
        holder: usize,
        ttl_ms: u64,
    },
    /// Renew the `idx`-th lease ever granted (modulo), possibly forged with another holder.
    Renew {
        idx: usize,
        forge_holder: Option<usize>,
    },
    Release {
        idx: usize,
        forge_holder: Option<usize>,
    },
    Observe {
        name: usize,
    },
    Advance {
        ms: u64,
    },
    /// Advance to just before, exactly at, or just after a tenure's expiry:
    /// the boundaries are where off-by-one bugs live.
    AdvanceToExpiry {
        name: usize,
        offset_ms: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize, 0..3usize, 1..4_000u64)
            .prop_map(|(name, holder, ttl_ms)| Op::Acquire { name, holder, ttl_ms }),
        3 => (any::<usize>(), proptest::option::weighted(0.2, 0..3usize))
            .prop_map(|(idx, forge_holder)| Op::Renew { idx, forge_holder }),
        1 => (any::<usize>(), proptest::option::weighted(0.2, 0..3usize))
            .prop_map(|(idx, forge_holder)| Op::Release { idx, forge_holder }),
        2 => (0..3usize).prop_map(|name| Op::Observe { name }),
        3 => (0..3_000u64).prop_map(|ms| Op::Advance { ms }),
        2 => (0..3usize, -1..=1i64).prop_map(|(name, offset_ms)| Op::AdvanceToExpiry { name, offset_ms }),
    ]
}

/// The reference: per name, the current tenure as (holder, token, ttl, expiry in ms).
#[derive(Debug, Default)]
struct Model {
    now_ms: u64,
    last_token: u64,
    tenures: [Option<(usize, u64, u64, u64)>; 3],
}

impl Model {
    fn live(&self, name: usize) -> Option<(usize, u64, u64, u64)> {
        self.tenures[name].filter(|t| self.now_ms < t.3)
    }
}

fn holder_idx(h: &str) -> usize {
    HOLDERS.iter().position(|x| *x == h).unwrap()
}

fn name_idx(n: &str) -> usize {
    NAMES.iter().position(|x| *x == n).unwrap()
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let clock = ManualClock::new();
    let start = clock.now();
    let backend = MemoryLeaseBackend::with_clock(clock.clone());
    let mut model = Model::default();
    let mut granted: Vec<Lease> = Vec::new();
    let at = |ms: u64| start + Duration::from_millis(ms);

    for op in ops {
        match op {
            Op::Acquire {
                name,
                holder,
                ttl_ms,
            } => {
                let got = rt.block_on(backend.acquire(
                    NAMES[name],
                    HOLDERS[holder],
                    Duration::from_millis(ttl_ms),
                ));
                match model.live(name) {
                    Some((h, token, _, exp)) => match got {
                        Err(LeaseError::Held {
                            holder: gh,
                            token: gt,
                            expires_in,
                            ..
                        }) => {
                            prop_assert_eq!(holder_idx(&gh), h);
                            prop_assert_eq!(gt, FencingToken::new(token));
                            prop_assert_eq!(expires_in, Duration::from_millis(exp - model.now_ms));
                        }
                        other => prop_assert!(false, "expected Held, got {:?}", other),
                    },
                    None => {
                        let lease =
                            got.map_err(|e| TestCaseError::fail(format!("acquire refused: {e}")))?;
                        model.last_token += 1;
                        prop_assert_eq!(lease.token, FencingToken::new(model.last_token));
                        prop_assert!(
                            granted.iter().all(|g| g.token < lease.token),
                            "token not fresh"
                        );
                        prop_assert_eq!(lease.expires_at, at(model.now_ms + ttl_ms));
                        prop_assert_eq!(lease.ttl, Duration::from_millis(ttl_ms));
                        model.tenures[name] =
                            Some((holder, model.last_token, ttl_ms, model.now_ms + ttl_ms));
                        granted.push(lease);
                    }
                }
            }
            Op::Renew { idx, forge_holder } => {
                if granted.is_empty() {
                    continue;
                }
                let mut lease = granted[idx % granted.len()].clone();
                if let Some(f) = forge_holder {
                    lease.holder = HOLDERS[f].to_string();
                }
                let name = name_idx(&lease.name);
                let got = rt.block_on(backend.renew(&lease));
                match model.live(name) {
                    Some((h, token, _, _))
                        if h == holder_idx(&lease.holder) && token == lease.token.get() =>
                    {
                        let renewed =
                            got.map_err(|e| TestCaseError::fail(format!("renew refused: {e}")))?;
                        prop_assert_eq!(renewed.token, lease.token);
                        let ttl_ms = u64::try_from(lease.ttl.as_millis()).unwrap();
                        prop_assert_eq!(renewed.expires_at, at(model.now_ms + ttl_ms));
                        model.tenures[name] = Some((h, token, ttl_ms, model.now_ms + ttl_ms));
                    }
                    _ => prop_assert!(
                        matches!(got, Err(LeaseError::Lost { .. })),
                        "expected Lost, got {:?}",
                        got
                    ),
                }
            }
            Op::Release { idx, forge_holder } => {
                if granted.is_empty() {
                    continue;
                }
                let mut lease = granted[idx % granted.len()].clone();
                if let Some(f) = forge_holder {
                    lease.holder = HOLDERS[f].to_string();
                }
                let name = name_idx(&lease.name);
                prop_assert!(rt.block_on(backend.release(&lease)).is_ok());
                // Releasing removes the record if it is this tenure (even if
                // already expired, which makes no observable difference).
                if let Some((h, token, ..)) = model.tenures[name] {
                    if h == holder_idx(&lease.holder) && token == lease.token.get() {
                        model.tenures[name] = None;
                    }
                }
            }
            Op::Observe { name } => {
                let got = rt.block_on(backend.observe(NAMES[name])).unwrap();
                match model.live(name) {
                    None => prop_assert!(got.is_none(), "observed {:?}", got),
                    Some((h, token, ttl, exp)) => {
                        let l = got.unwrap();
                        prop_assert_eq!(holder_idx(&l.holder), h);
                        prop_assert_eq!(l.token.get(), token);
                        prop_assert_eq!(l.ttl, Duration::from_millis(ttl));
                        prop_assert_eq!(l.expires_at, at(exp));
                    }
                }
            }
            Op::AdvanceToExpiry { name, offset_ms } => {
                if let Some((.., exp)) = model.tenures[name] {
                    let target = exp.saturating_add_signed(offset_ms);
                    let ms = target.saturating_sub(model.now_ms);
                    clock.advance(Duration::from_millis(ms));
                    model.now_ms += ms;
                }
            }
            Op::Advance { ms } => {
                clock.advance(Duration::from_millis(ms));
                model.now_ms += ms;
            }
        }
        prop_assert_eq!(backend.last_token().get(), model.last_token);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn memory_backend_matches_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops)?;
    }
}
