//! Backoff schedules and jitter: the contract, property tests (caps, ranges)
//! and statistical tests of each jitter distribution.

use std::time::Duration;

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use resilience_core::retry::{Backoff, BackoffKind, Jitter};

#[test]
fn contract_compiles_and_holds() -> Result<(), Box<dyn std::error::Error>> {
    use resilience_core::retry::{Backoff, Jitter};
    let b: Backoff = serde_json::from_str(
        r#"{"kind":"exponential","initial":"100ms","max":"10s","base":2.0,"jitter":"none"}"#,
    )?;
    let first: Vec<std::time::Duration> = b.delays().take(8).collect();
    let ms = Duration::from_millis;
    assert_eq!(
        first,
        [
            ms(100),
            ms(200),
            ms(400),
            ms(800),
            ms(1600),
            ms(3200),
            ms(6400),
            ms(10_000)
        ]
    );
    let mut rng = resilience_core::rand::rngs::StdRng::seed_from_u64(7);
    let jittered: Vec<_> = b
        .clone()
        .with_jitter(Jitter::Full)
        .delays_with_rng(&mut rng)
        .take(8)
        .collect();
    assert_eq!(jittered.len(), 8);
    assert!(jittered.iter().zip(&first).all(|(j, d)| j <= d));
    // Same seed, same sequence.
    let mut rng = StdRng::seed_from_u64(7);
    let again: Vec<_> = b
        .with_jitter(Jitter::Full)
        .delays_with_rng(&mut rng)
        .take(8)
        .collect();
    assert_eq!(jittered, again);
    Ok(())
}

#[test]
fn every_jitter_spelling_parses_inside_a_backoff() {
    for (j, want) in [
        (r#""none""#, Jitter::None),
        (r#""full""#, Jitter::Full),
        (r#""equal""#, Jitter::Equal),
        (r#""decorrelated""#, Jitter::Decorrelated),
        (
            r#"{"proportional": 0.1}"#,
            Jitter::proportional(0.1).unwrap(),
        ),
    ] {
        let text =
            format!(r#"{{"kind":"exponential","initial":"100ms","max":"10s","jitter":{j}}}"#);
        let b: Backoff = serde_json::from_str(&text).unwrap();
        assert_eq!(b.jitter(), want);
    }
    let err = serde_json::from_str::<Backoff>(
        r#"{"kind":"exponential","initial":"100ms","max":"10s","jitter":{"proportional": NaN}}"#,
    );
    assert!(err.is_err());
    let err = serde_json::from_str::<Backoff>(
        r#"{"kind":"exponential","initial":"100ms","max":"10s","jitter":"fuzzy"}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown jitter `fuzzy`"), "{err}");
}

// ---------------------------------------------------------------- proptests

fn arb_jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated),
        (0.0f64..=1.0).prop_map(|p| Jitter::proportional(p).unwrap()),
    ]
}

fn arb_kind() -> impl Strategy<Value = BackoffKind> {
    prop_oneof![
        Just(BackoffKind::Constant),
        (0u64..=u64::MAX / 2).prop_map(|n| BackoffKind::Linear {
            step: Duration::from_nanos(n)
        }),
        (1.0f64..=64.0).prop_map(|base| BackoffKind::Exponential { base }),
        (0u64..=u64::MAX).prop_map(|k| BackoffKind::custom(move |n| {
            Duration::from_nanos(k.wrapping_mul(u64::from(n)))
        })),
    ]
}

/// (initial, max) with initial <= max, across the whole nanosecond range.
fn arb_bounds() -> impl Strategy<Value = (Duration, Duration)> {
    prop_oneof![
        (0u64..=10_000_000_000, 0u64..=100_000_000_000),
        (0u64..=u64::MAX, 0u64..=u64::MAX),
    ]
    .prop_map(|(a, b)| {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        (Duration::from_nanos(lo), Duration::from_nanos(hi))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// No delay, jittered or not, exceeds the cap; each stays in its
    /// jitter's documented range around the un-jittered delay.
    #[test]
    fn delays_respect_cap_and_jitter_range(
        kind in arb_kind(),
        (initial, max) in arb_bounds(),
        jitter in arb_jitter(),
        seed in any::<u64>(),
        n in 1usize..64,
    ) {
        let b = Backoff::builder(kind).initial(initial).max(max).jitter(jitter).build().unwrap();
        let mut rng = StdRng::seed_from_u64(seed);
        let first = b.delay(1).min(max);
        let mut prev = if matches!(b.kind(), BackoffKind::Custom(_)) { first } else { initial };
        for (i, d) in b.delays_with_rng(&mut rng).take(n).enumerate() {
            let retry = u32::try_from(i + 1).unwrap();
            let base = b.delay(retry);
            prop_assert!(base <= max);
            prop_assert!(d <= max, "retry {retry}: {d:?} > cap {max:?}");
            match jitter {
                Jitter::None => prop_assert_eq!(d, base),
                Jitter::Full => prop_assert!(d <= base),
                Jitter::Equal => prop_assert!(d >= base / 2 && d <= base),
                Jitter::Proportional(p) => {
                    let extra = Duration::from_nanos((base.as_nanos() as f64 * p.get()) as u64);
                    prop_assert!(d >= base && d <= (base.saturating_add(extra)).min(max));
                }
                Jitter::Decorrelated => {
                    let lo = if matches!(b.kind(), BackoffKind::Custom(_)) { first } else { initial };
                    let hi = prev.saturating_mul(3).min(max).max(lo);
                    prop_assert!(d >= lo && d <= hi, "{d:?} not in [{lo:?}, {hi:?}]");
                }
                _ => prop_assert!(false, "unknown jitter"),
            }
            prev = d;
        }
    }

    /// Built-in schedules never shrink: each un-jittered delay is at least
    /// the previous one (exactly for whole-number bases; within float
    /// rounding for fractional ones), and retry 1 is exactly `initial`.
    #[test]
    fn builtin_schedules_are_monotonic(
        kind in prop_oneof![
            Just(BackoffKind::Constant),
            (0u64..=u64::MAX / 2).prop_map(|n| BackoffKind::Linear { step: Duration::from_nanos(n) }),
            (1u32..=64).prop_map(|b| BackoffKind::Exponential { base: f64::from(b) }),
            (1.0f64..=64.0).prop_map(|base| BackoffKind::Exponential { base }),
        ],
        (initial, max) in arb_bounds(),
    ) {
        let exact = !matches!(kind, BackoffKind::Exponential { base } if base.fract() != 0.0);
        let b = Backoff::builder(kind).initial(initial).max(max).build().unwrap();
        let d: Vec<Duration> = b.delays().take(100).collect();
        prop_assert_eq!(d[0], initial);
        for w in d.windows(2) {
            if exact {
                prop_assert!(w[1] >= w[0], "{:?} < {:?}", w[1], w[0]);
            } else {
                prop_assert!(w[1].as_secs_f64() >= w[0].as_secs_f64() * (1.0 - 1e-12));
            }
        }
        prop_assert_eq!(d[99], b.delay(100));
    }

    /// `max_attempts` yields exactly `max_attempts - 1` delays.
    #[test]
    fn attempt_limit_counts(attempts in 1u32..200, jitter in arb_jitter()) {
        let b = Backoff::exponential(Duration::from_millis(1), Duration::from_secs(1))
            .unwrap()
            .with_jitter(jitter)
            .with_max_attempts(attempts)
            .unwrap();
        prop_assert_eq!(b.delays().count(), (attempts - 1) as usize);
    }

    /// Whatever JSON numbers arrive, parsing either fails with an error or
    /// yields a schedule whose delays respect the cap; it never panics.
    #[test]
    fn arbitrary_configs_never_panic(
        kind in prop_oneof![Just("constant"), Just("linear"), Just("exponential"), Just("bogus")],
        initial_ms in any::<u64>(),
        max_ms in proptest::option::of(any::<u64>()),
        base in proptest::option::of(prop_oneof![any::<f64>(), Just(f64::INFINITY), Just(-1.0)]),
        attempts in proptest::option::of(any::<u32>()),
        p in any::<f64>(),
    ) {
        let mut text = format!(r#"{{"kind":"{kind}","initial":"{initial_ms}ms""#);
        if let Some(m) = max_ms { text += &format!(r#","max":"{m}ms""#); }
        if let Some(b) = base {
            if b.is_finite() { text += &format!(r#","base":{b:?}"#); }
        }
        if let Some(a) = attempts { text += &format!(r#","max_attempts":{a}"#); }
        if p.is_finite() { text += &format!(r#","jitter":{{"proportional":{p:?}}}"#); }
        text += "}";
        if let Ok(b) = serde_json::from_str::<Backoff>(&text) {
            for d in b.delays().take(70) {
                prop_assert!(d <= b.max());
            }
        }
    }
}

// --------------------------------------------------------- statistical tests

const SAMPLES: usize = 10_000;

/// Samples the delay before the first retry of a constant 1 s schedule
/// (so `d` = 1 s) under `jitter`, `SAMPLES` times, with a seeded RNG.
fn samples(jitter: Jitter, max: Duration) -> Vec<f64> {
    let b = Backoff::builder(BackoffKind::Constant)
        .initial(Duration::from_secs(1))
        .max(max)
        .jitter(jitter)
        .build()
        .unwrap();
    let mut rng = StdRng::seed_from_u64(0x5eed);
    (0..SAMPLES)
        .map(|_| b.jittered_delay(1, None, &mut rng).as_secs_f64())
        .collect()
}

struct Stats {
    mean: f64,
    var: f64,
    min: f64,
    max: f64,
}

fn stats(xs: &[f64]) -> Stats {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Stats {
        mean,
        var,
        min: xs.iter().copied().fold(f64::INFINITY, f64::min),
        max: xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    }
}

/// Checks a uniform distribution on `[lo, hi]`: range, mean (within 5
/// standard errors), variance (within 10%), near-extreme samples, and ten
/// equal-width bins each within 15% of the expected count.
fn assert_uniform(xs: &[f64], lo: f64, hi: f64) {
    let s = stats(xs);
    let width = hi - lo;
    let want_mean = (lo + hi) / 2.0;
    let want_var = width * width / 12.0;
    let se = (want_var / xs.len() as f64).sqrt();
    assert!(s.min >= lo && s.max <= hi, "range [{}, {}]", s.min, s.max);
    assert!(
        (s.mean - want_mean).abs() < 5.0 * se,
        "mean {} vs {want_mean} (se {se})",
        s.mean
    );
    assert!(
        (s.var / want_var - 1.0).abs() < 0.1,
        "variance {} vs {want_var}",
        s.var
    );
    assert!(s.min < lo + width * 0.01 && s.max > hi - width * 0.01);
    let mut bins = [0usize; 10];
    for x in xs {
        let i = (((x - lo) / width) * 10.0).floor() as usize;
        bins[i.min(9)] += 1;
    }
    let expected = xs.len() as f64 / 10.0;
    for (i, &c) in bins.iter().enumerate() {
        assert!(
            (c as f64 - expected).abs() < expected * 0.15,
            "bin {i}: {c} of {}",
            xs.len()
        );
    }
}

#[test]
fn no_jitter_is_exact() {
    let xs = samples(Jitter::None, Duration::from_secs(10));
    assert!(xs.iter().all(|&x| x == 1.0));
}

#[test]
fn full_jitter_is_uniform_between_zero_and_d() {
    assert_uniform(&samples(Jitter::Full, Duration::from_secs(10)), 0.0, 1.0);
}

#[test]
fn equal_jitter_is_uniform_between_half_d_and_d() {
    assert_uniform(&samples(Jitter::Equal, Duration::from_secs(10)), 0.5, 1.0);
}

#[test]
fn proportional_jitter_adds_up_to_p() {
    let p = Jitter::proportional(0.1).unwrap();
    assert_uniform(&samples(p, Duration::from_secs(10)), 1.0, 1.1);
    // At the cap nothing is added: the cap is absolute.
    let capped = samples(p, Duration::from_secs(1));
    assert!(capped.iter().all(|&x| x == 1.0));
}

#[test]
fn decorrelated_first_step_is_uniform_between_initial_and_three_initial() {
    assert_uniform(
        &samples(Jitter::Decorrelated, Duration::from_secs(10)),
        1.0,
        3.0,
    );
    // With a cap of 2s the range is [1s, 2s].
    assert_uniform(
        &samples(Jitter::Decorrelated, Duration::from_secs(2)),
        1.0,
        2.0,
    );
}

#[test]
fn decorrelated_later_steps_follow_the_previous_delay() {
    // Conditional on prev = 4s (initial 1s, cap 60s): uniform in [1s, 12s].
    let b = Backoff::builder(BackoffKind::Constant)
        .initial(Duration::from_secs(1))
        .max(Duration::from_secs(60))
        .jitter(Jitter::Decorrelated)
        .build()
        .unwrap();
    let mut rng = StdRng::seed_from_u64(99);
    let xs: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            b.jittered_delay(5, Some(Duration::from_secs(4)), &mut rng)
                .as_secs_f64()
        })
        .collect();
    assert_uniform(&xs, 1.0, 12.0);
    // Over long runs the delays stay within [initial, cap] and reach the cap.
    let long: Vec<f64> = b
        .delays_with_rng(&mut rng)
        .take(SAMPLES)
        .map(|d| d.as_secs_f64())
        .collect();
    let s = stats(&long);
    assert!(s.min >= 1.0 && s.max <= 60.0);
    assert!(s.max > 59.0, "the cap is reachable: max {}", s.max);
}

#[test]
fn full_jitter_on_an_exponential_schedule_averages_half_of_it() {
    let b = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10))
        .unwrap()
        .with_jitter(Jitter::Full);
    let mut rng = StdRng::seed_from_u64(3);
    // Retry 4: d = 800ms.
    let xs: Vec<f64> = (0..SAMPLES)
        .map(|_| b.jittered_delay(4, None, &mut rng).as_secs_f64())
        .collect();
    assert_uniform(&xs, 0.0, 0.8);
}
