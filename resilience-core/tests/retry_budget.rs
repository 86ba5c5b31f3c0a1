//! Retry budgets against reference models, and the rule-level property that
//! a budget never allows more retries than its rule.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use proptest::prelude::*;
use resilience_core::clock::ManualClock;
use resilience_core::retry::{
    ErrorClass, RatioBudget, RatioBudgetConfig, RetryBudget, TokenBucketBudget, TokenBucketConfig,
    Withdrawal,
};

#[derive(Debug, Clone)]
enum BucketOp {
    Request,
    Withdraw {
        timeout: bool,
    },
    /// Succeed, refunding the receipt of the n-th most recent withdrawal
    /// (or none).
    Success {
        receipt: Option<usize>,
    },
}

fn bucket_op() -> impl Strategy<Value = BucketOp> {
    prop_oneof![
        Just(BucketOp::Request),
        any::<bool>().prop_map(|timeout| BucketOp::Withdraw { timeout }),
        proptest::option::of(0usize..4).prop_map(|receipt| BucketOp::Success { receipt }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The token bucket behaves exactly like integer bookkeeping: withdraw
    /// only if enough tokens, refund the receipt (or the success refund),
    /// never above capacity.
    #[test]
    fn token_bucket_matches_model(
        capacity in 1u32..200,
        retry_cost in 1u32..20,
        timeout_extra in 0u32..20,
        success_refund in 0u32..5,
        ops in proptest::collection::vec(bucket_op(), 0..300),
    ) {
        let timeout_retry_cost = retry_cost + timeout_extra;
        prop_assume!(timeout_retry_cost <= capacity);
        let b = TokenBucketBudget::new(TokenBucketConfig {
            capacity, retry_cost, timeout_retry_cost, success_refund,
        }).unwrap();
        let mut tokens = capacity;
        let mut receipts: Vec<Withdrawal> = Vec::new();
        let mut granted_cost: u64 = 0;
        let mut refunded: u64 = 0;
        for op in ops {
            match op {
                BucketOp::Request => b.record_request(),
                BucketOp::Withdraw { timeout } => {
                    let class = if timeout { ErrorClass::Timeout } else { ErrorClass::Transient };
                    let cost = if timeout { timeout_retry_cost } else { retry_cost };
                    let got = b.try_withdraw(class);
                    if tokens >= cost {
                        tokens -= cost;
                        prop_assert_eq!(got, Some(Withdrawal::new(cost)));
                        receipts.push(Withdrawal::new(cost));
                        granted_cost += u64::from(cost);
                    } else {
                        prop_assert_eq!(got, None);
                    }
                }
                BucketOp::Success { receipt } => {
                    let r = receipt.and_then(|i| receipts.len().checked_sub(i + 1).map(|j| receipts.remove(j)));
                    let amount = r.map_or(success_refund, Withdrawal::cost);
                    let before = tokens;
                    tokens = (tokens + amount).min(capacity);
                    refunded += u64::from(tokens - before);
                    b.record_success(r);
                }
            }
            prop_assert_eq!(b.tokens(), tokens);
            prop_assert!(b.tokens() <= capacity);
            // Rule: everything granted was paid from the initial capacity
            // plus what was refunded.
            prop_assert!(granted_cost <= u64::from(capacity) + refunded);
        }
    }
}

#[derive(Debug, Clone)]
enum RatioOp {
    Advance(u64),
    Request,
    Withdraw,
}

fn ratio_op() -> impl Strategy<Value = RatioOp> {
    prop_oneof![
        2 => (0u64..2_500).prop_map(RatioOp::Advance),
        3 => Just(RatioOp::Request),
        3 => Just(RatioOp::Withdraw),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The ratio budget never grants more retries than its rule, and agrees
    /// with a plain event-list model of the same window.
    #[test]
    fn ratio_budget_never_exceeds_its_rule(
        ttl_ms in 10u64..10_000,
        min_per_sec in 0u32..20,
        percent in 0.0f64..=2.0,
        ops in proptest::collection::vec(ratio_op(), 0..300),
    ) {
        let ttl = Duration::from_millis(ttl_ms);
        let clock = ManualClock::new();
        let b = RatioBudget::with_clock(
            RatioBudgetConfig { ttl, min_retries_per_sec: min_per_sec, percent_can_retry: percent },
            clock.clone(),
        ).unwrap();
        let ttl_ns = u128::from(ttl_ms) * 1_000_000;
        let slot_ns = ttl_ns / 10;
        let reserve = f64::from(min_per_sec) * ttl.as_secs_f64();
        // Event lists: (time in ns) of requests and granted retries.
        let mut requests: Vec<u128> = Vec::new();
        let mut grants: Vec<u128> = Vec::new();
        let now_ns = |c: &ManualClock| c.elapsed().as_nanos();
        for op in ops {
            match op {
                RatioOp::Advance(ms) => clock.advance(Duration::from_millis(ms)),
                RatioOp::Request => {
                    b.record_request();
                    requests.push(now_ns(&clock));
                }
                RatioOp::Withdraw => {
                    let t = now_ns(&clock);
                    // Model: events in the same or the 9 previous slots count.
                    let slot = t / slot_ns;
                    let in_window = |x: &&u128| **x / slot_ns + 10 > slot;
                    let reqs = requests.iter().filter(in_window).count() as u128;
                    let rets = grants.iter().filter(in_window).count() as u128;
                    let reserve_ppm = u128::from(min_per_sec) * ttl_ns / 1_000;
                    let percent_ppm = (percent * 1e6).round() as u128;
                    let model_allows = (rets + 1) * 1_000_000 <= reserve_ppm + percent_ppm * reqs;
                    let got = b.try_withdraw(ErrorClass::Transient);
                    prop_assert_eq!(got.is_some(), model_allows);
                    if got.is_some() {
                        grants.push(t);
                        // Rule, independent of slots: retries granted in the last
                        // (ttl - one slot) never exceed the reserve plus the
                        // percentage of requests made in the last ttl.
                        let recent = grants.iter().filter(|g| **g + ttl_ns - slot_ns > t).count();
                        let reqs_ttl = requests.iter().filter(|r| **r + ttl_ns > t).count();
                        prop_assert!(
                            recent as f64 <= reserve + percent * reqs_ttl as f64 + 1e-6,
                            "{} retries vs reserve {} + {} * {}", recent, reserve, percent, reqs_ttl
                        );
                    }
                }
            }
        }
    }
}

/// Many threads hammering one token bucket never get more than it holds.
#[test]
fn token_bucket_is_exact_under_contention() {
    let b = Arc::new(
        TokenBucketBudget::new(TokenBucketConfig {
            capacity: 1_000,
            retry_cost: 1,
            timeout_retry_cost: 1,
            success_refund: 0,
        })
        .unwrap(),
    );
    let granted: usize = (0..4)
        .map(|_| {
            let b = b.clone();
            thread::spawn(move || {
                (0..10_000)
                    .filter(|_| b.try_withdraw(ErrorClass::Transient).is_some())
                    .count()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .sum();
    assert_eq!(granted, 1_000);
    assert_eq!(b.tokens(), 0);
}

#[test]
fn ratio_budget_is_exact_under_contention() {
    let clock = ManualClock::new();
    let b = Arc::new(
        RatioBudget::with_clock(
            RatioBudgetConfig {
                ttl: Duration::from_secs(10),
                min_retries_per_sec: 0,
                percent_can_retry: 0.25,
            },
            clock,
        )
        .unwrap(),
    );
    for _ in 0..400 {
        b.record_request();
    }
    let granted: usize = (0..4)
        .map(|_| {
            let b = b.clone();
            thread::spawn(move || {
                (0..1_000)
                    .filter(|_| b.try_withdraw(ErrorClass::Transient).is_some())
                    .count()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .sum();
    assert_eq!(granted, 100);
}
