//! Deterministic jitter: a policy with a `jitter_seed` (or a call with its
//! own `JitterRng`) gives the same delays for the same seed, whatever the
//! jitter kind, through `next`, `run_blocking_with` and a YAML config.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use resilience_core::clock::{Clock, ManualClock};
use resilience_core::config::from_yaml_str;
use resilience_core::retry::{
    Backoff, ErrorClass, Jitter, JitterRng, RetryConfig, RetryDecision, RetryPolicy,
};

const MS: Duration = Duration::from_millis(1);

fn jitters() -> [Jitter; 4] {
    [
        Jitter::Full,
        Jitter::Equal,
        Jitter::proportional(0.5).unwrap(),
        Jitter::Decorrelated,
    ]
}

fn policy(jitter: Jitter, seed: Option<u64>) -> RetryPolicy {
    let backoff = Backoff::exponential(100 * MS, Duration::from_secs(30))
        .unwrap()
        .with_jitter(jitter);
    let b = RetryPolicy::builder(backoff).max_attempts(8);
    match seed {
        Some(seed) => b.jitter_seed(seed),
        None => b,
    }
    .build()
    .unwrap()
}

/// The delays of `calls` calls that fail until the attempts run out.
fn delays(policy: &RetryPolicy, calls: usize) -> Vec<Vec<Duration>> {
    let now = Instant::now();
    (0..calls)
        .map(|_| {
            let mut call = policy.start(now);
            let mut out = Vec::new();
            while let RetryDecision::Retry { after, .. } =
                policy.next(&mut call, now, ErrorClass::Transient.into())
            {
                out.push(after);
            }
            out
        })
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_delays_for_every_jitter() {
    for jitter in jitters() {
        let a = delays(&policy(jitter, Some(42)), 20);
        let b = delays(&policy(jitter, Some(42)), 20);
        assert_eq!(a, b, "{jitter}");
        assert!(a.iter().all(|call| call.len() == 7), "{jitter}");
        let other = delays(&policy(jitter, Some(43)), 20);
        assert_ne!(a, other, "{jitter}: another seed, other delays");
    }
}

#[test]
fn calls_of_one_seeded_policy_get_different_streams() {
    let p = policy(Jitter::Full, Some(1));
    assert_eq!(p.jitter_seed(), Some(1));
    let calls = delays(&p, 50);
    let distinct: std::collections::HashSet<_> = calls.iter().collect();
    assert_eq!(distinct.len(), 50, "every call has its own stream");
    // Call n of the policy is stream n of the seed.
    let backoff = p.backoff().clone();
    for (n, call) in calls.iter().enumerate() {
        let mut rng = JitterRng::stream(1, n as u64);
        let want: Vec<Duration> = (1..8)
            .map(|retry| backoff.jittered_delay(retry, None, &mut rng))
            .collect();
        assert_eq!(call, &want, "call {n}");
    }
}

#[test]
fn delays_stay_in_the_jitter_range_with_a_seed() {
    let p = policy(Jitter::Equal, Some(9));
    for call in delays(&p, 200) {
        for (i, d) in call.iter().enumerate() {
            let scheduled = (100 * MS * 2u32.pow(i as u32)).min(Duration::from_secs(30));
            assert!(
                *d >= scheduled / 2 && *d <= scheduled,
                "{d:?} vs {scheduled:?}"
            );
        }
    }
}

#[test]
fn an_unseeded_policy_still_randomises() {
    let p = policy(Jitter::Full, None);
    assert_eq!(p.jitter_seed(), None);
    let calls = delays(&p, 20);
    let distinct: std::collections::HashSet<_> = calls.iter().collect();
    assert!(distinct.len() > 1);
}

#[test]
fn a_call_rng_overrides_the_policy_seed() {
    let p = policy(Jitter::Full, Some(1));
    let now = Instant::now();
    let run = |rng: JitterRng| {
        let mut call = p.start(now);
        call.set_jitter_rng(rng);
        let mut out = Vec::new();
        while let RetryDecision::Retry { after, .. } =
            p.next(&mut call, now, ErrorClass::Timeout.into())
        {
            out.push(after);
        }
        out
    };
    // Same per-call seed, same delays, although each `start` took another
    // stream number from the policy.
    assert_eq!(run(JitterRng::new(77)), run(JitterRng::new(77)));
    assert_ne!(run(JitterRng::new(77)), run(JitterRng::new(78)));
}

#[test]
fn run_blocking_sleeps_the_same_waits_for_the_same_seed() {
    let waits = |seed: u64| {
        let clock = ManualClock::new();
        let backoff = Backoff::exponential(50 * MS, Duration::from_secs(2))
            .unwrap()
            .with_jitter(Jitter::Full);
        let p = RetryPolicy::builder(backoff)
            .max_attempts(6)
            .jitter_seed(seed)
            .clock(clock.clone())
            .build()
            .unwrap();
        let slept = Mutex::new(Vec::new());
        let t0 = clock.now();
        let out: Result<(), _> = p.run_blocking_with(
            &|e: &ErrorClass| (*e).into(),
            &mut (),
            |_, _| Err(ErrorClass::Timeout),
            |_, _| {},
            |d| {
                slept.lock().unwrap().push(d);
                clock.advance(d);
            },
        );
        assert!(out.is_err());
        let slept = slept.into_inner().unwrap();
        assert_eq!(slept.len(), 5);
        assert_eq!(clock.now() - t0, slept.iter().sum::<Duration>());
        slept
    };
    assert_eq!(waits(2024), waits(2024));
    assert_ne!(waits(2024), waits(2025));
}

#[test]
fn jitter_seed_is_config_data() {
    let c: RetryConfig = from_yaml_str(
        "backoff: {kind: exponential, initial: 100ms, max: 5s, max_attempts: 5, jitter: full}\n\
         jitter_seed: 42\n",
    )
    .unwrap();
    assert_eq!(c.jitter_seed, Some(42));
    let json = serde_json::to_string(&c).unwrap();
    assert!(json.contains("\"jitter_seed\":42"), "{json}");
    let back: RetryConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, c);
    let clock: resilience_core::clock::SharedClock = Arc::new(ManualClock::new());
    let a = RetryPolicy::from_config("a", &c, clock.clone()).unwrap();
    let b = RetryPolicy::from_config("b", &c, clock).unwrap();
    assert_eq!(a.jitter_seed(), Some(42));
    assert_eq!(delays(&a, 5), delays(&b, 5));
    // Without the field the config has no seed and serialises without it.
    let plain = RetryConfig::new(c.backoff.clone());
    assert_eq!(plain.jitter_seed, None);
    assert!(!serde_json::to_string(&plain)
        .unwrap()
        .contains("jitter_seed"));
    // A negative or fractional seed is a parse error.
    assert!(from_yaml_str::<RetryConfig>(
        "backoff: {kind: constant, initial: 1s}\njitter_seed: -1\n"
    )
    .is_err());
}
