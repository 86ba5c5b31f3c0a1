//! Jitter: randomising backoff delays so that clients which failed together
//! do not retry together.
//!
//! See the [module docs](super#which-jitter-to-pick) for when to use which.

use std::fmt;

use rand::{Rng, RngCore, SeedableRng};
use serde::de::{self, EnumAccess, MapAccess, VariantAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::config::ConfigError;

/// How a backoff delay is randomised.
///
/// Each variant documents the range its delays fall in, where `d` is the
/// un-jittered delay of the schedule (already capped at `max`). Whatever the
/// variant, a delay never exceeds the backoff's `max` and never goes below
/// zero. Randomness comes from the caller's RNG, so a seeded RNG makes every
/// sequence reproducible.
///
/// In configs, jitter is written `"none"`, `"full"`, `"equal"`,
/// `"decorrelated"` or `{"proportional": 0.1}`.
///
/// ```
/// use resilience_core::retry::Jitter;
///
/// let j: Jitter = serde_json::from_str(r#"{"proportional": 0.1}"#).unwrap();
/// assert_eq!(j, Jitter::proportional(0.1).unwrap());
/// let full: Jitter = serde_json::from_str(r#""full""#).unwrap();
/// assert_eq!(full, Jitter::Full);
/// // Out-of-range proportions are a parse error naming the field.
/// let err = serde_json::from_str::<Jitter>(r#"{"proportional": 1.5}"#).unwrap_err();
/// assert!(err.to_string().contains("jitter.proportional"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[serde(into = "RawJitter")]
#[non_exhaustive]
pub enum Jitter {
    /// No randomness: exactly `d`.
    #[default]
    None,
    /// Uniform in `[0, d]` (AWS "full jitter"). Spreads retries the most and
    /// halves the mean wait.
    Full,
    /// Uniform in `[d/2, d]` (AWS "equal jitter"; the training platform's
    /// `delay * (0.5 + random() * 0.5)`). Keeps at least half the wait.
    Equal,
    /// Uniform in `[d, d + p·d]`, then capped at `max` (a retry table's "+10%":
    /// `delay + random(0, delay * 0.1)`). Never shortens a wait.
    Proportional(Proportion),
    /// AWS "decorrelated jitter": the delay before retry *n* is uniform in
    /// `[initial, min(max, 3 · previous delay)]`, starting from
    /// `previous = initial`. It replaces the schedule's own growth (the
    /// backoff kind then only provides `initial`), and each delay depends on
    /// the previous random one.
    Decorrelated,
}

impl Jitter {
    /// `Jitter::Proportional(p)`, checking that `p` is a finite number in
    /// `[0, 1]`.
    ///
    /// ```
    /// use resilience_core::retry::Jitter;
    /// assert!(Jitter::proportional(0.1).is_ok());
    /// assert!(Jitter::proportional(f64::NAN).is_err());
    /// ```
    pub fn proportional(p: f64) -> Result<Jitter, ConfigError> {
        Proportion::new(p).map(Jitter::Proportional)
    }

    /// The config name of this jitter (`"full"`, `"proportional"`, ...).
    ///
    /// ```
    /// use resilience_core::retry::Jitter;
    /// assert_eq!(Jitter::Equal.name(), "equal");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Jitter::None => "none",
            Jitter::Full => "full",
            Jitter::Equal => "equal",
            Jitter::Proportional(_) => "proportional",
            Jitter::Decorrelated => "decorrelated",
        }
    }

    /// Applies the jitter to one delay, in nanoseconds.
    ///
    /// `d` is the capped schedule delay, `prev` the previous (jittered) delay
    /// or `initial` before the first retry, `initial` and `max` the backoff's
    /// bounds. Requires `initial <= max` (the backoff guarantees it). Every
    /// range handed to the RNG is non-empty, so this never panics.
    #[inline]
    pub(crate) fn apply<R: Rng + ?Sized>(
        self,
        d: u64,
        prev: u64,
        initial: u64,
        max: u64,
        rng: &mut R,
    ) -> u64 {
        match self {
            Jitter::None => d,
            Jitter::Full => rng.random_range(0..=d),
            Jitter::Equal => rng.random_range(d / 2..=d),
            Jitter::Proportional(p) => {
                // p is in [0, 1], so the product is finite and at most d.
                let extra = (d as f64 * p.get()) as u64;
                d.saturating_add(rng.random_range(0..=extra)).min(max)
            }
            Jitter::Decorrelated => {
                let hi = prev.saturating_mul(3).min(max).max(initial);
                rng.random_range(initial..=hi)
            }
        }
    }
}

impl fmt::Display for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Jitter::Proportional(p) => write!(f, "proportional({})", p.get()),
            other => f.write_str(other.name()),
        }
    }
}

/// A small, seedable RNG for jitter: same seed, same delays.
///
/// Jitter exists to make retry timing random, but simulations, chaos
/// experiments and tests need the *same* random timing on every run. A
/// `JitterRng` is SplitMix64 (8 bytes of state, a few arithmetic operations
/// per number, no allocation): its output depends only on its seed, on every
/// platform and in every build. It is not cryptographic (jitter does not need
/// it to be).
///
/// Use it three ways:
///
/// - give a [`RetryPolicy`](super::RetryPolicy) a seed
///   ([`RetryPolicyBuilder::jitter_seed`](super::RetryPolicyBuilder::jitter_seed)
///   or `jitter_seed:` in a [`RetryConfig`](super::RetryConfig)): call
///   number *n* of the policy then jitters with `JitterRng::stream(seed, n)`;
/// - give one call its own stream with
///   [`RetryState::set_jitter_rng`](super::RetryState::set_jitter_rng) (e.g.
///   keyed by a request id, so delays do not depend on call order);
/// - pass it to [`Backoff::delays_with_rng`](super::Backoff::delays_with_rng)
///   or [`RetryPolicy::next_with_rng`](super::RetryPolicy::next_with_rng).
///
/// ```
/// use std::time::Duration;
/// use resilience_core::retry::{Backoff, Jitter, JitterRng};
///
/// let b = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10))
///     .unwrap()
///     .with_jitter(Jitter::Full);
/// let run = |seed| b.delays_with_rng(JitterRng::new(seed)).take(6).collect::<Vec<_>>();
/// assert_eq!(run(42), run(42)); // reproducible
/// assert_ne!(run(42), run(43)); // and still random
/// // streams of one seed are independent sequences
/// let a = b.delays_with_rng(JitterRng::stream(42, 0)).take(6).collect::<Vec<_>>();
/// let c = b.delays_with_rng(JitterRng::stream(42, 1)).take(6).collect::<Vec<_>>();
/// assert_ne!(a, c);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JitterRng {
    state: u64,
}

/// SplitMix64's increment (2^64 / golden ratio).
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: a bijective 64-bit mix.
#[inline]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl JitterRng {
    /// An RNG whose sequence is fixed by `seed`.
    pub const fn new(seed: u64) -> JitterRng {
        JitterRng { state: seed }
    }

    /// Sequence number `stream` of `seed`: distinct streams of one seed give
    /// unrelated sequences (a retry policy uses one stream per call).
    ///
    /// ```
    /// use rand::RngCore;
    /// use resilience_core::retry::JitterRng;
    /// let mut a = JitterRng::stream(7, 0);
    /// let mut b = JitterRng::stream(7, 1);
    /// assert_ne!(a.next_u64(), b.next_u64());
    /// assert_eq!(JitterRng::stream(7, 3), JitterRng::stream(7, 3));
    /// ```
    pub fn stream(seed: u64, stream: u64) -> JitterRng {
        JitterRng {
            state: seed ^ mix64(stream.wrapping_add(1).wrapping_mul(GOLDEN_GAMMA)),
        }
    }
}

impl RngCore for JitterRng {
    #[inline]
    fn next_u32(&mut self) -> u32 {
        // the high half has the best bits
        (self.next_u64() >> 32) as u32
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix64(self.state)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        rand::rand_core::impls::fill_bytes_via_next(self, dst)
    }
}

/// `from_seed` reads the 8 bytes as a little-endian `u64`, and
/// `seed_from_u64(n)` is [`JitterRng::new(n)`](JitterRng::new).
impl SeedableRng for JitterRng {
    type Seed = [u8; 8];

    fn from_seed(seed: [u8; 8]) -> JitterRng {
        JitterRng::new(u64::from_le_bytes(seed))
    }

    fn seed_from_u64(seed: u64) -> JitterRng {
        JitterRng::new(seed)
    }
}

/// A validated proportion for [`Jitter::Proportional`]: a finite number in
/// `[0, 1]` (0.1 = "up to 10% longer").
///
/// ```
/// use resilience_core::retry::Proportion;
/// let p = Proportion::new(0.1).unwrap();
/// assert_eq!(p.get(), 0.1);
/// assert!(Proportion::new(-0.1).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Proportion(f64);

impl Proportion {
    /// Checks that `p` is finite and in `[0, 1]`.
    pub fn new(p: f64) -> Result<Proportion, ConfigError> {
        if p.is_finite() && (0.0..=1.0).contains(&p) {
            Ok(Proportion(p))
        } else {
            Err(ConfigError::invalid(
                "jitter.proportional",
                format!(
                    "must be a number in [0, 1] (0.1 = up to 10% longer), got {p}; \
                     for more spread use full or equal jitter"
                ),
            ))
        }
    }

    /// The proportion.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// The serialised shape of [`Jitter`]: external tagging gives exactly
/// `"none" | "full" | "equal" | "decorrelated" | {"proportional": p}` in
/// JSON (and `!proportional p` in YAML).
#[derive(Serialize)]
#[serde(rename_all = "snake_case", rename = "Jitter")]
enum RawJitter {
    None,
    Full,
    Equal,
    Decorrelated,
    Proportional(f64),
}

const EXPECTED: &str =
    "one of \"none\", \"full\", \"equal\", \"decorrelated\" or {proportional: p}";

fn jitter_named<E: de::Error>(name: &str) -> Result<Jitter, E> {
    match name {
        "none" => Ok(Jitter::None),
        "full" => Ok(Jitter::Full),
        "equal" => Ok(Jitter::Equal),
        "decorrelated" => Ok(Jitter::Decorrelated),
        "proportional" => Err(E::custom(
            "jitter `proportional` needs a value: write {proportional: 0.1}",
        )),
        other => Err(E::custom(format_args!(
            "unknown jitter `{other}`, expected {EXPECTED}"
        ))),
    }
}

/// Accepts the names as strings, `{proportional: p}` as a one-entry map
/// (JSON and YAML), and `!proportional p` / `!full` as YAML tags.
impl<'de> Deserialize<'de> for Jitter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Jitter;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Jitter, E> {
                jitter_named(v)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Jitter, A::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::custom(format_args!(
                        "empty map for jitter, expected {EXPECTED}"
                    )));
                };
                if key != "proportional" {
                    return Err(de::Error::custom(format_args!(
                        "unknown jitter `{key}` in a map, only `proportional` takes a value"
                    )));
                }
                let p: f64 = map.next_value()?;
                if let Some(extra) = map.next_key::<String>()? {
                    return Err(de::Error::custom(format_args!(
                        "jitter map has an extra key `{extra}`; write exactly {{proportional: p}}"
                    )));
                }
                Jitter::proportional(p).map_err(de::Error::custom)
            }

            fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Jitter, A::Error> {
                let (name, variant) = data.variant::<String>()?;
                if name == "proportional" {
                    let p: f64 = variant.newtype_variant()?;
                    Jitter::proportional(p).map_err(de::Error::custom)
                } else {
                    variant.unit_variant()?;
                    jitter_named(&name)
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl From<Jitter> for RawJitter {
    fn from(j: Jitter) -> Self {
        match j {
            Jitter::None => RawJitter::None,
            Jitter::Full => RawJitter::Full,
            Jitter::Equal => RawJitter::Equal,
            Jitter::Decorrelated => RawJitter::Decorrelated,
            Jitter::Proportional(p) => RawJitter::Proportional(p.get()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn every_form_parses_and_round_trips() {
        for (text, want) in [
            (r#""none""#, Jitter::None),
            (r#""full""#, Jitter::Full),
            (r#""equal""#, Jitter::Equal),
            (r#""decorrelated""#, Jitter::Decorrelated),
            (
                r#"{"proportional":0.1}"#,
                Jitter::proportional(0.1).unwrap(),
            ),
        ] {
            let j: Jitter = serde_json::from_str(text).unwrap();
            assert_eq!(j, want);
            assert_eq!(serde_json::to_string(&j).unwrap(), text);
        }
    }

    #[test]
    fn yaml_forms_parse() {
        let j: Jitter = crate::config::from_yaml_str("full").unwrap();
        assert_eq!(j, Jitter::Full);
        let j: Jitter = crate::config::from_yaml_str("{proportional: 0.25}").unwrap();
        assert_eq!(j, Jitter::proportional(0.25).unwrap());
        let j: Jitter = crate::config::from_yaml_str("!proportional 0.25").unwrap();
        assert_eq!(j, Jitter::proportional(0.25).unwrap());
    }

    #[test]
    fn bad_values_are_rejected() {
        for bad in [
            r#"{"proportional": -0.1}"#,
            r#"{"proportional": 1.01}"#,
            r#""sometimes""#,
            r#"{"full": 1}"#,
        ] {
            assert!(serde_json::from_str::<Jitter>(bad).is_err(), "{bad}");
        }
        assert!(Proportion::new(f64::INFINITY).is_err());
        assert!(Proportion::new(f64::NAN).is_err());
        assert!(Proportion::new(0.0).is_ok());
        assert!(Proportion::new(1.0).is_ok());
    }

    #[test]
    fn apply_stays_in_range_at_the_extremes() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..1000 {
            // The whole u64 range is a valid (non-panicking) range.
            let _ = Jitter::Full.apply(u64::MAX, 0, 0, u64::MAX, &mut rng);
            assert!(Jitter::Full.apply(1000, 0, 0, u64::MAX, &mut rng) <= 1000);
            assert_eq!(Jitter::Full.apply(0, 0, 0, 10, &mut rng), 0);
            assert!(Jitter::Equal.apply(1, 0, 0, 10, &mut rng) <= 1);
            assert!((500..=1000).contains(&Jitter::Equal.apply(1000, 0, 0, 10_000, &mut rng)));
            let p = Jitter::proportional(1.0).unwrap();
            assert_eq!(p.apply(u64::MAX, 0, 0, u64::MAX, &mut rng), u64::MAX);
            let d = Jitter::Decorrelated.apply(0, u64::MAX, 5, 7, &mut rng);
            assert!((5..=7).contains(&d));
        }
    }

    #[test]
    fn jitter_rng_matches_splitmix64_reference() {
        // SplitMix64 seeded with 1234567: the values Vigna's reference C
        // code gives (also Rosetta Code's SplitMix64 task).
        let mut rng = JitterRng::new(1234567);
        let got: Vec<u64> = (0..5).map(|_| rng.next_u64()).collect();
        assert_eq!(
            got,
            [
                6457827717110365317,
                3203168211198807973,
                9817491932198370423,
                4593380528125082431,
                16408922859458223821,
            ]
        );
        let mut a = JitterRng::new(9);
        let mut b = a.clone();
        let mut buf = [0u8; 13];
        a.fill_bytes(&mut buf);
        assert_eq!(buf[..8], b.next_u64().to_le_bytes());
        assert_eq!(JitterRng::from_seed(9u64.to_le_bytes()), JitterRng::new(9));
        assert_eq!(JitterRng::seed_from_u64(9), JitterRng::new(9));
    }

    #[test]
    fn jitter_rng_streams_differ_and_repeat() {
        let firsts: std::collections::HashSet<u64> = (0..1000)
            .map(|n| JitterRng::stream(5, n).next_u64())
            .collect();
        assert_eq!(firsts.len(), 1000);
        let mut x = JitterRng::stream(5, 17);
        let mut y = JitterRng::stream(5, 17);
        for _ in 0..100 {
            assert_eq!(x.next_u64(), y.next_u64());
        }
    }

    #[test]
    fn display_names() {
        assert_eq!(Jitter::Full.to_string(), "full");
        assert_eq!(
            Jitter::proportional(0.1).unwrap().to_string(),
            "proportional(0.1)"
        );
        assert_eq!(Jitter::default(), Jitter::None);
    }
}
