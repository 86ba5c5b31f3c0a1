//! Backoff schedules: how long to wait before each retry.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::ThreadRng;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::jitter::Jitter;
use crate::clock::duration_nanos;
use crate::config::{fmt_duration, ConfigError};

/// The growth rule of a [`Backoff`] schedule.
///
/// Retries are numbered from 1 (the wait before the second attempt is the
/// delay of retry 1). With `initial` = *i*:
///
/// | kind | delay of retry *n* |
/// |---|---|
/// | `Constant` | *i* |
/// | `Linear { step }` | *i* + (*n* − 1) · `step` |
/// | `Exponential { base }` | *i* · `base`^(*n* − 1) |
/// | `Custom(f)` | `f(n)` |
///
/// and every delay is then capped at `max` (and jittered, see [`Jitter`]).
///
/// ```
/// use std::time::Duration;
/// use resilience_core::retry::{Backoff, BackoffKind};
///
/// let b = Backoff::builder(BackoffKind::Linear { step: Duration::from_secs(5) })
///     .initial(Duration::from_secs(5))
///     .max(Duration::from_secs(30))
///     .build()
///     .unwrap();
/// assert_eq!(b.delay(3), Duration::from_secs(15));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum BackoffKind {
    /// The same delay every time.
    Constant,
    /// Grows by `step` per retry.
    Linear {
        /// Added per retry.
        step: Duration,
    },
    /// Multiplies by `base` per retry (`base` ≥ 1; the platform presets use 2).
    Exponential {
        /// The growth factor per retry.
        base: f64,
    },
    /// Any function of the retry number (from 1); the result is still capped
    /// at `max` and jittered.
    Custom(CustomDelay),
}

impl BackoffKind {
    /// `Exponential { base: 2.0 }`, most systems' choice.
    pub const DOUBLING: BackoffKind = BackoffKind::Exponential { base: 2.0 };

    /// A `Custom` kind from a function of the retry number (from 1).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::retry::{Backoff, BackoffKind};
    ///
    /// // Fibonacci-ish: 1s, 1s, 2s, 3s, 5s, ...
    /// let fib = BackoffKind::custom(|n| {
    ///     let (mut a, mut b) = (1u64, 1u64);
    ///     for _ in 1..n {
    ///         (a, b) = (b, a.saturating_add(b));
    ///     }
    ///     Duration::from_secs(a)
    /// });
    /// let b = Backoff::builder(fib).max(Duration::from_secs(60)).build().unwrap();
    /// let d: Vec<u64> = b.delays().take(5).map(|d| d.as_secs()).collect();
    /// assert_eq!(d, [1, 1, 2, 3, 5]);
    /// ```
    pub fn custom<F>(f: F) -> BackoffKind
    where
        F: Fn(u32) -> Duration + Send + Sync + 'static,
    {
        BackoffKind::Custom(CustomDelay(Arc::new(f)))
    }

    /// The config name of the kind (`"exponential"`, ...).
    ///
    /// ```
    /// use resilience_core::retry::BackoffKind;
    /// assert_eq!(BackoffKind::DOUBLING.name(), "exponential");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            BackoffKind::Constant => "constant",
            BackoffKind::Linear { .. } => "linear",
            BackoffKind::Exponential { .. } => "exponential",
            BackoffKind::Custom(_) => "custom",
        }
    }
}

impl fmt::Debug for BackoffKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackoffKind::Constant => f.write_str("Constant"),
            BackoffKind::Linear { step } => f.debug_struct("Linear").field("step", step).finish(),
            BackoffKind::Exponential { base } => {
                f.debug_struct("Exponential").field("base", base).finish()
            }
            BackoffKind::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl PartialEq for BackoffKind {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (BackoffKind::Constant, BackoffKind::Constant) => true,
            (BackoffKind::Linear { step: a }, BackoffKind::Linear { step: b }) => a == b,
            (BackoffKind::Exponential { base: a }, BackoffKind::Exponential { base: b }) => a == b,
            (BackoffKind::Custom(a), BackoffKind::Custom(b)) => Arc::ptr_eq(&a.0, &b.0),
            _ => false,
        }
    }
}

/// A user-supplied delay function for [`BackoffKind::Custom`]; build it with
/// [`BackoffKind::custom`].
///
/// ```
/// use std::time::Duration;
/// use resilience_core::retry::BackoffKind;
/// let k = BackoffKind::custom(|n| Duration::from_millis(10 * u64::from(n)));
/// assert_eq!(k.name(), "custom");
/// ```
#[derive(Clone)]
pub struct CustomDelay(Arc<dyn Fn(u32) -> Duration + Send + Sync>);

impl fmt::Debug for CustomDelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CustomDelay(..)")
    }
}

/// A validated backoff schedule: a growth rule, an initial delay, a cap, an
/// optional attempt limit and a jitter.
///
/// Build one with the shortcuts ([`Backoff::constant`],
/// [`Backoff::linear`], [`Backoff::exponential`]), the
/// [builder](Backoff::builder), or from a config. Deserialising validates:
/// an invalid schedule fails to parse with a message naming the field, so a
/// `Backoff` value is always usable and computing a delay never panics.
///
/// Config fields: `kind` (`constant` | `linear` | `exponential`),
/// `initial`, `max` (required for `linear` and `exponential`, defaults to
/// `initial` for `constant`), `base` (exponential only, default 2),
/// `step` (linear only, default `initial`), `max_attempts` (total attempts
/// including the first, optional), `jitter` (default `none`). Durations
/// are human strings; delays saturate at about 584 years.
///
/// ```
/// use std::time::Duration;
/// use rand::SeedableRng;
/// use resilience_core::retry::{Backoff, Jitter};
///
/// let b: Backoff = serde_json::from_str(
///     r#"{"kind":"exponential","initial":"100ms","max":"10s","base":2.0,"jitter":"none"}"#,
/// ).unwrap();
/// let first: Vec<Duration> = b.delays().take(8).collect();
/// assert_eq!(first[..3], [Duration::from_millis(100), Duration::from_millis(200), Duration::from_millis(400)]);
/// assert_eq!(first[7], Duration::from_secs(10)); // 12.8s, capped
///
/// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
/// let jittered: Vec<_> = b.with_jitter(Jitter::Full).delays_with_rng(&mut rng).take(8).collect();
/// assert!(jittered.iter().zip(&first).all(|(j, d)| j <= d));
///
/// // Bad schedules do not parse:
/// let err = serde_json::from_str::<Backoff>(
///     r#"{"kind":"exponential","initial":"1s","max":"10s","base":0.5}"#,
/// ).unwrap_err();
/// assert!(err.to_string().contains("`base`"));
/// ```
#[derive(Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawBackoff")]
pub struct Backoff {
    kind: BackoffKind,
    initial: Duration,
    max: Duration,
    max_attempts: Option<u32>,
    jitter: Jitter,
    // Cached nanosecond forms, for the delay computation.
    initial_ns: u64,
    max_ns: u64,
    step_ns: u64,
}

impl Backoff {
    /// The same `delay` before every retry. Never fails.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::retry::Backoff;
    /// let b = Backoff::constant(Duration::from_millis(50));
    /// assert!(b.delays().take(3).all(|d| d == Duration::from_millis(50)));
    /// ```
    pub fn constant(delay: Duration) -> Backoff {
        Backoff::assemble(BackoffKind::Constant, delay, delay, None, Jitter::None)
    }

    /// `initial`, `2·initial`, `3·initial`, ... capped at `max` (the training platform's
    /// model-load schedule). Fails if `initial > max`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::retry::Backoff;
    /// let b = Backoff::linear(Duration::from_secs(5), Duration::from_secs(30)).unwrap();
    /// let d: Vec<u64> = b.delays().take(8).map(|d| d.as_secs()).collect();
    /// assert_eq!(d, [5, 10, 15, 20, 25, 30, 30, 30]);
    /// ```
    pub fn linear(initial: Duration, max: Duration) -> Result<Backoff, ConfigError> {
        Backoff::builder(BackoffKind::Linear { step: initial })
            .initial(initial)
            .max(max)
            .build()
    }

    /// `initial`, `2·initial`, `4·initial`, ... capped at `max` (base 2).
    /// Fails if `initial > max`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::retry::Backoff;
    /// let b = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(1)).unwrap();
    /// let d: Vec<u128> = b.delays().take(6).map(|d| d.as_millis()).collect();
    /// assert_eq!(d, [100, 200, 400, 800, 1000, 1000]);
    /// ```
    pub fn exponential(initial: Duration, max: Duration) -> Result<Backoff, ConfigError> {
        Backoff::builder(BackoffKind::DOUBLING)
            .initial(initial)
            .max(max)
            .build()
    }

    /// A builder for any kind, including [`BackoffKind::Custom`].
    ///
    /// Defaults: `initial` 100 ms, `max` 10 s, no attempt limit, no jitter.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::retry::{Backoff, BackoffKind, Jitter};
    /// let b = Backoff::builder(BackoffKind::Exponential { base: 3.0 })
    ///     .initial(Duration::from_millis(10))
    ///     .max(Duration::from_secs(1))
    ///     .max_attempts(4)
    ///     .jitter(Jitter::Equal)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(b.max_attempts(), Some(4));
    /// assert_eq!(b.delays().count(), 3); // 4 attempts = 3 waits
    /// ```
    pub fn builder(kind: BackoffKind) -> BackoffBuilder {
        BackoffBuilder {
            kind,
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
            max_attempts: None,
            jitter: Jitter::None,
        }
    }

    fn assemble(
        kind: BackoffKind,
        initial: Duration,
        max: Duration,
        max_attempts: Option<u32>,
        jitter: Jitter,
    ) -> Backoff {
        let step_ns = match &kind {
            BackoffKind::Linear { step } => duration_nanos(*step),
            _ => 0,
        };
        Backoff {
            initial_ns: duration_nanos(initial),
            max_ns: duration_nanos(max),
            step_ns,
            kind,
            initial,
            max,
            max_attempts,
            jitter,
        }
    }

    /// The same schedule with another jitter.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::retry::{Backoff, Jitter};
    /// let b = Backoff::constant(Duration::from_secs(1)).with_jitter(Jitter::Full);
    /// assert_eq!(b.jitter(), Jitter::Full);
    /// ```
    #[must_use]
    pub fn with_jitter(mut self, jitter: Jitter) -> Backoff {
        self.jitter = jitter;
        self
    }

    /// The same schedule with an attempt limit (total attempts, including
    /// the first). Fails on 0.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::retry::Backoff;
    /// let b = Backoff::constant(Duration::from_secs(1)).with_max_attempts(3).unwrap();
    /// assert_eq!(b.delays().count(), 2);
    /// assert!(Backoff::constant(Duration::ZERO).with_max_attempts(0).is_err());
    /// ```
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Result<Backoff, ConfigError> {
        check_attempts(max_attempts)?;
        self.max_attempts = Some(max_attempts);
        Ok(self)
    }

    /// The growth rule.
    pub fn kind(&self) -> &BackoffKind {
        &self.kind
    }

    /// The delay before the first retry (before jitter).
    pub fn initial(&self) -> Duration {
        self.initial
    }

    /// The cap: no delay, jittered or not, is longer.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// Total attempts allowed (including the first), if limited.
    pub fn max_attempts(&self) -> Option<u32> {
        self.max_attempts
    }

    /// The jitter.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The un-jittered, capped delay before retry `retry` (numbered from 1;
    /// 0 is treated as 1).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::retry::Backoff;
    /// let b = Backoff::exponential(Duration::from_secs(1), Duration::from_secs(60)).unwrap();
    /// assert_eq!(b.delay(1), Duration::from_secs(1));
    /// assert_eq!(b.delay(4), Duration::from_secs(8));
    /// assert_eq!(b.delay(u32::MAX), Duration::from_secs(60));
    /// ```
    pub fn delay(&self, retry: u32) -> Duration {
        Duration::from_nanos(self.delay_nanos(retry))
    }

    /// The jittered delay before retry `retry` (from 1), given the previous
    /// delay actually waited (`None` before the first retry; only
    /// [`Jitter::Decorrelated`] looks at it). This is what
    /// [`delays_with_rng`](Self::delays_with_rng) yields one by one, for
    /// drivers that keep their own state.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rand::SeedableRng;
    /// use resilience_core::retry::{Backoff, Jitter};
    /// let b = Backoff::exponential(Duration::from_secs(1), Duration::from_secs(60))
    ///     .unwrap()
    ///     .with_jitter(Jitter::Equal);
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    /// let d = b.jittered_delay(3, None, &mut rng);
    /// assert!(d >= Duration::from_secs(2) && d <= Duration::from_secs(4));
    /// ```
    pub fn jittered_delay<R: Rng + ?Sized>(
        &self,
        retry: u32,
        prev: Option<Duration>,
        rng: &mut R,
    ) -> Duration {
        let prev = prev.map_or(self.first_nanos(), duration_nanos);
        Duration::from_nanos(self.jittered_nanos(retry, prev, rng))
    }

    #[inline]
    fn jittered_nanos<R: Rng + ?Sized>(&self, retry: u32, prev: u64, rng: &mut R) -> u64 {
        match self.jitter {
            Jitter::None => self.delay_nanos(retry),
            // Decorrelated ignores the schedule; skip computing it.
            Jitter::Decorrelated => {
                let first = self.first_nanos();
                self.jitter.apply(0, prev, first, self.max_ns, rng)
            }
            j => j.apply(self.delay_nanos(retry), prev, 0, self.max_ns, rng),
        }
    }

    /// The lower bound decorrelated jitter grows from: `initial`, or the
    /// first delay of a custom schedule.
    fn first_nanos(&self) -> u64 {
        match self.kind {
            BackoffKind::Custom(_) => self.delay_nanos(1),
            _ => self.initial_ns.min(self.max_ns),
        }
    }

    #[inline]
    fn delay_nanos(&self, retry: u32) -> u64 {
        let n = retry.max(1);
        let raw = match &self.kind {
            BackoffKind::Constant => self.initial_ns,
            BackoffKind::Linear { .. } => self
                .initial_ns
                .saturating_add(self.step_ns.saturating_mul(u64::from(n - 1))),
            BackoffKind::Exponential { base } => self.exponential_nanos(*base, n),
            BackoffKind::Custom(f) => duration_nanos((f.0)(n)),
        };
        raw.min(self.max_ns)
    }

    /// `initial · base^(n−1)` in nanoseconds, saturating (the caller caps).
    ///
    /// Whole-number bases (2, 3, ...) use exact integer arithmetic. Other
    /// bases compute the growth `initial · (base^(n−1) − 1)` in floating
    /// point and add it to the exact `initial`, so retry 1 is always exactly
    /// `initial` and later delays are within a rounding error of the ideal.
    #[inline]
    fn exponential_nanos(&self, base: f64, n: u32) -> u64 {
        let initial = self.initial_ns;
        if n <= 1 || initial == 0 || base == 1.0 {
            return initial;
        }
        let exp = n - 1;
        if base == 2.0 {
            // The common case: a shift, saturating when bits would be lost.
            return if exp < 64 && initial.leading_zeros() >= exp {
                initial << exp
            } else {
                u64::MAX
            };
        }
        if base.fract() == 0.0 && base <= f64::from(u32::MAX) {
            // `base` is a whole number in [2, u32::MAX]: exact.
            let b = base as u64;
            return b
                .checked_pow(exp)
                .and_then(|m| initial.checked_mul(m))
                .unwrap_or(u64::MAX);
        }
        let m = base.powi(i32::try_from(exp).unwrap_or(i32::MAX));
        // base > 1 and finite, so m > 1 or +inf; `as` saturates +inf and
        // anything above u64::MAX to u64::MAX.
        let growth = (initial as f64 * (m - 1.0)).round();
        initial.saturating_add(growth as u64)
    }

    /// The delays between attempts, jittered with the thread-local RNG.
    ///
    /// Infinite unless `max_attempts` is set (then `max_attempts − 1`
    /// delays). With [`Jitter::None`] the sequence is deterministic.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::retry::Backoff;
    /// let b = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10)).unwrap();
    /// assert_eq!(b.delays().nth(2), Some(Duration::from_millis(400)));
    /// ```
    pub fn delays(&self) -> Delays<'_, ThreadRng> {
        self.delays_with_rng(rand::rng())
    }

    /// The delays between attempts, jittered with `rng` (pass `&mut rng` to
    /// keep using it afterwards). A seeded RNG makes the sequence
    /// reproducible.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rand::SeedableRng;
    /// use resilience_core::retry::{Backoff, Jitter};
    /// let b = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10))
    ///     .unwrap()
    ///     .with_jitter(Jitter::Decorrelated);
    /// let run = |seed| {
    ///     let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    ///     b.delays_with_rng(&mut rng).take(5).collect::<Vec<_>>()
    /// };
    /// assert_eq!(run(7), run(7));
    /// ```
    pub fn delays_with_rng<R: Rng>(&self, rng: R) -> Delays<'_, R> {
        Delays {
            backoff: self,
            rng,
            retry: 0,
            prev: self.first_nanos(),
            remaining: self.max_attempts.map(|m| m.saturating_sub(1)),
        }
    }
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backoff")
            .field("kind", &self.kind)
            .field("initial", &self.initial)
            .field("max", &self.max)
            .field("max_attempts", &self.max_attempts)
            .field("jitter", &self.jitter)
            .finish()
    }
}

fn check_attempts(n: u32) -> Result<(), ConfigError> {
    if n == 0 {
        Err(ConfigError::invalid(
            "max_attempts",
            "must be at least 1 (it counts the first attempt too), got 0",
        ))
    } else {
        Ok(())
    }
}

/// Builds a [`Backoff`] of any kind; see [`Backoff::builder`].
///
/// ```
/// use std::time::Duration;
/// use resilience_core::retry::{Backoff, BackoffKind};
/// let err = Backoff::builder(BackoffKind::DOUBLING)
///     .initial(Duration::from_secs(20))
///     .max(Duration::from_secs(10))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), Some("initial"));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct BackoffBuilder {
    kind: BackoffKind,
    initial: Duration,
    max: Duration,
    max_attempts: Option<u32>,
    jitter: Jitter,
}

impl BackoffBuilder {
    /// The delay before the first retry (ignored by custom kinds, except as
    /// documented for decorrelated jitter).
    pub fn initial(mut self, initial: Duration) -> Self {
        self.initial = initial;
        self
    }

    /// The cap on every delay.
    pub fn max(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// Total attempts allowed, including the first (at least 1).
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = Some(max_attempts);
        self
    }

    /// The jitter (default none).
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Validates and builds: `initial <= max` (not checked for custom
    /// kinds, whose delays are simply capped), `base` finite and ≥ 1,
    /// `max_attempts` ≥ 1.
    pub fn build(self) -> Result<Backoff, ConfigError> {
        if let BackoffKind::Exponential { base } = self.kind {
            if !(base.is_finite() && base >= 1.0) {
                return Err(ConfigError::invalid(
                    "base",
                    format!(
                        "must be a finite number >= 1 (2 doubles each delay), got {base}; \
                         a base below 1 would shrink delays"
                    ),
                ));
            }
        }
        if !matches!(self.kind, BackoffKind::Custom(_)) && self.initial > self.max {
            return Err(ConfigError::invalid(
                "initial",
                format!(
                    "must not exceed max ({}), got {}",
                    fmt_duration(self.max),
                    fmt_duration(self.initial)
                ),
            ));
        }
        if let Some(n) = self.max_attempts {
            check_attempts(n)?;
        }
        Ok(Backoff::assemble(
            self.kind,
            self.initial,
            self.max,
            self.max_attempts,
            self.jitter,
        ))
    }
}

/// The delays of a [`Backoff`], in order; see [`Backoff::delays`].
///
/// ```
/// use std::time::Duration;
/// use resilience_core::retry::Backoff;
/// let b = Backoff::constant(Duration::from_secs(1)).with_max_attempts(4).unwrap();
/// let mut it = b.delays();
/// assert_eq!(it.size_hint(), (3, Some(3)));
/// assert_eq!(it.next(), Some(Duration::from_secs(1)));
/// ```
pub struct Delays<'a, R> {
    backoff: &'a Backoff,
    rng: R,
    retry: u32,
    prev: u64,
    remaining: Option<u32>,
}

impl<R: Rng> Iterator for Delays<'_, R> {
    type Item = Duration;

    #[inline]
    fn next(&mut self) -> Option<Duration> {
        if let Some(left) = &mut self.remaining {
            if *left == 0 {
                return None;
            }
            *left -= 1;
        }
        self.retry = self.retry.saturating_add(1);
        let d = self
            .backoff
            .jittered_nanos(self.retry, self.prev, &mut self.rng);
        self.prev = d;
        Some(Duration::from_nanos(d))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.remaining {
            Some(n) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                (n, Some(n))
            }
            None => (usize::MAX, None),
        }
    }
}

impl<R> fmt::Debug for Delays<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delays")
            .field("backoff", self.backoff)
            .field("retry", &self.retry)
            .field("remaining", &self.remaining)
            .finish()
    }
}

/// The serde shape of [`Backoff`]: flat, with `kind` as a tag.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Backoff")]
struct RawBackoff {
    kind: RawKind,
    #[serde(with = "humantime_serde")]
    initial: Duration,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    max: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base: Option<f64>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    step: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_attempts: Option<u32>,
    #[serde(default)]
    jitter: Jitter,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawKind {
    Constant,
    Linear,
    Exponential,
}

impl TryFrom<RawBackoff> for Backoff {
    type Error = ConfigError;

    fn try_from(raw: RawBackoff) -> Result<Self, Self::Error> {
        let only = |field: &'static str, kind: &str| {
            ConfigError::invalid(
                field,
                format!("only applies to kind `{kind}`; remove it or change `kind`"),
            )
        };
        if raw.base.is_some() && raw.kind != RawKind::Exponential {
            return Err(only("base", "exponential"));
        }
        if raw.step.is_some() && raw.kind != RawKind::Linear {
            return Err(only("step", "linear"));
        }
        let kind = match raw.kind {
            RawKind::Constant => BackoffKind::Constant,
            RawKind::Linear => BackoffKind::Linear {
                step: raw.step.unwrap_or(raw.initial),
            },
            RawKind::Exponential => BackoffKind::Exponential {
                base: raw.base.unwrap_or(2.0),
            },
        };
        let max = match (raw.max, raw.kind) {
            (Some(max), _) => max,
            (None, RawKind::Constant) => raw.initial,
            (None, _) => {
                return Err(ConfigError::invalid(
                    "max",
                    format!(
                        "is required for kind `{}`: a growing schedule without a cap \
                         reaches hours within a few dozen retries",
                        kind.name()
                    ),
                ))
            }
        };
        let mut b = Backoff::builder(kind)
            .initial(raw.initial)
            .max(max)
            .jitter(raw.jitter);
        if let Some(n) = raw.max_attempts {
            b = b.max_attempts(n);
        }
        b.build()
    }
}

impl RawBackoff {
    /// The data form of a non-custom backoff.
    fn from_backoff(b: &Backoff) -> Option<RawBackoff> {
        let (kind, base, step) = match b.kind {
            BackoffKind::Custom(_) => return None,
            BackoffKind::Constant => (RawKind::Constant, None, None),
            BackoffKind::Linear { step } => {
                (RawKind::Linear, None, (step != b.initial).then_some(step))
            }
            BackoffKind::Exponential { base } => (RawKind::Exponential, Some(base), None),
        };
        Some(RawBackoff {
            kind,
            initial: b.initial,
            max: Some(b.max),
            base,
            step,
            max_attempts: b.max_attempts,
            jitter: b.jitter,
        })
    }
}

/// Serialises to the config form. A [`BackoffKind::Custom`] schedule is
/// code, not data: serialising it is an error (rather than writing
/// something that would load as a different schedule);
/// [`Backoff::is_serializable`] tells in advance.
impl Serialize for Backoff {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match RawBackoff::from_backoff(self) {
            Some(raw) => raw.serialize(serializer),
            None => Err(serde::ser::Error::custom(
                "a custom backoff is a function and cannot be written as config; \
                 use kind constant, linear or exponential in configs",
            )),
        }
    }
}

impl Backoff {
    /// Whether serialising this backoff round-trips: false only for
    /// [`BackoffKind::Custom`], whose function cannot be written as data.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::retry::{Backoff, BackoffKind};
    /// assert!(Backoff::constant(Duration::from_secs(1)).is_serializable());
    /// let c = Backoff::builder(BackoffKind::custom(|_| Duration::ZERO)).build().unwrap();
    /// assert!(!c.is_serializable());
    /// ```
    pub fn is_serializable(&self) -> bool {
        !matches!(self.kind, BackoffKind::Custom(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn contract_example() {
        let b: Backoff = serde_json::from_str(
            r#"{"kind":"exponential","initial":"100ms","max":"10s","base":2.0,"jitter":"none"}"#,
        )
        .unwrap();
        let first: Vec<Duration> = b.delays().take(8).collect();
        let want: Vec<Duration> = [100, 200, 400, 800, 1600, 3200, 6400, 10_000]
            .iter()
            .map(|&m| MS * m)
            .collect();
        assert_eq!(first, want);
        let mut rng = StdRng::seed_from_u64(7);
        let jittered: Vec<_> = b
            .with_jitter(Jitter::Full)
            .delays_with_rng(&mut rng)
            .take(8)
            .collect();
        assert_eq!(jittered.len(), 8);
        for (j, d) in jittered.iter().zip(&want) {
            assert!(j <= d);
        }
        // Not all equal to the un-jittered schedule.
        assert_ne!(jittered, want);
    }

    #[test]
    fn exponential_with_other_bases_is_exact_for_whole_numbers() {
        let b = Backoff::builder(BackoffKind::Exponential { base: 3.0 })
            .initial(MS * 10)
            .max(Duration::from_secs(100))
            .build()
            .unwrap();
        let d: Vec<u128> = b.delays().take(5).map(|d| d.as_millis()).collect();
        assert_eq!(d, [10, 30, 90, 270, 810]);
        let b = Backoff::builder(BackoffKind::Exponential { base: 1.5 })
            .initial(MS * 100)
            .max(Duration::from_secs(100))
            .build()
            .unwrap();
        let d: Vec<u128> = b.delays().take(4).map(|d| d.as_micros()).collect();
        assert_eq!(d, [100_000, 150_000, 225_000, 337_500]);
    }

    #[test]
    fn base_one_is_constant_and_huge_bases_cap() {
        let b = Backoff::builder(BackoffKind::Exponential { base: 1.0 })
            .initial(MS)
            .max(MS * 5)
            .build()
            .unwrap();
        assert!(b.delays().take(50).all(|d| d == MS));
        let b = Backoff::builder(BackoffKind::Exponential { base: 1e300 })
            .initial(MS)
            .max(MS * 5)
            .build()
            .unwrap();
        let d: Vec<_> = b.delays().take(3).collect();
        assert_eq!(d, [MS, MS * 5, MS * 5]);
    }

    #[test]
    fn zero_initial_stays_zero() {
        let b = Backoff::exponential(Duration::ZERO, Duration::from_secs(1)).unwrap();
        assert!(b.delays().take(2000).all(|d| d.is_zero()));
        assert_eq!(b.delay(u32::MAX), Duration::ZERO);
    }

    #[test]
    fn linear_uses_step() {
        let b = Backoff::builder(BackoffKind::Linear { step: MS * 3 })
            .initial(MS)
            .max(MS * 8)
            .build()
            .unwrap();
        let d: Vec<u128> = b.delays().take(5).map(|d| d.as_millis()).collect();
        assert_eq!(d, [1, 4, 7, 8, 8]);
        assert_eq!(b.delay(u32::MAX), MS * 8);
    }

    #[test]
    fn custom_is_capped() {
        let b = Backoff::builder(BackoffKind::custom(|n| Duration::from_secs(u64::from(n))))
            .max(Duration::from_secs(3))
            .build()
            .unwrap();
        let d: Vec<u64> = b.delays().take(5).map(|d| d.as_secs()).collect();
        assert_eq!(d, [1, 2, 3, 3, 3]);
        let b = Backoff::builder(BackoffKind::custom(|_| Duration::MAX))
            .max(Duration::from_secs(3))
            .build()
            .unwrap();
        assert_eq!(b.delay(1), Duration::from_secs(3));
    }

    #[test]
    fn max_attempts_limits_delays() {
        let b = Backoff::exponential(MS, MS * 100)
            .unwrap()
            .with_max_attempts(1)
            .unwrap();
        assert_eq!(b.delays().count(), 0);
        let b = b.with_max_attempts(4).unwrap();
        assert_eq!(b.delays().size_hint(), (3, Some(3)));
        assert_eq!(b.delays().count(), 3);
    }

    #[test]
    fn huge_durations_saturate() {
        let b = Backoff::exponential(Duration::MAX, Duration::MAX).unwrap();
        assert_eq!(b.delay(1), Duration::from_nanos(u64::MAX));
        assert_eq!(b.delay(100), Duration::from_nanos(u64::MAX));
        let mut rng = StdRng::seed_from_u64(3);
        for j in [
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
            Jitter::proportional(1.0).unwrap(),
        ] {
            let b = b.clone().with_jitter(j);
            assert_eq!(b.delays_with_rng(&mut rng).take(100).count(), 100);
        }
    }

    #[test]
    fn config_validation_names_fields() {
        let cases = [
            (
                r#"{"kind":"exponential","initial":"1s","max":"10s","base":0.5}"#,
                "`base`",
            ),
            (
                r#"{"kind":"exponential","initial":"1s","max":"10s","base":NaN}"#,
                "",
            ),
            (
                r#"{"kind":"exponential","initial":"20s","max":"10s"}"#,
                "`initial`",
            ),
            (r#"{"kind":"exponential","initial":"1s"}"#, "`max`"),
            (
                r#"{"kind":"linear","initial":"1s","max":"2s","base":2}"#,
                "`base`",
            ),
            (
                r#"{"kind":"exponential","initial":"1s","max":"2s","step":"1s"}"#,
                "`step`",
            ),
            (
                r#"{"kind":"constant","initial":"1s","max_attempts":0}"#,
                "`max_attempts`",
            ),
            (
                r#"{"kind":"constant","initial":"1s","color":"red"}"#,
                "color",
            ),
            (r#"{"kind":"fibonacci","initial":"1s"}"#, "fibonacci"),
            (r#"{"kind":"constant","initial":"soon"}"#, ""),
            (
                r#"{"kind":"constant","initial":"1s","jitter":{"proportional":"NaN"}}"#,
                "",
            ),
        ];
        for (text, needle) in cases {
            let err = serde_json::from_str::<Backoff>(text)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
        let err = crate::config::from_yaml_str::<Backoff>(
            "kind: exponential\ninitial: 1s\nmax: 2s\nbase: -3\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("`base`"), "{err}");
    }

    #[test]
    fn defaults_and_round_trip() {
        let b: Backoff = serde_json::from_str(r#"{"kind":"constant","initial":"250ms"}"#).unwrap();
        assert_eq!(b.max(), MS * 250);
        assert_eq!(b.jitter(), Jitter::None);
        let b: Backoff =
            serde_json::from_str(r#"{"kind":"exponential","initial":"1s","max":"1m"}"#).unwrap();
        assert_eq!(b.kind(), &BackoffKind::DOUBLING);
        let b: Backoff =
            serde_json::from_str(r#"{"kind":"linear","initial":"5s","max":"30s"}"#).unwrap();
        assert_eq!(
            b.kind(),
            &BackoffKind::Linear {
                step: Duration::from_secs(5)
            }
        );
        for text in [
            r#"{"kind":"exponential","initial":"100ms","max":"10s","base":2.0,"max_attempts":4,"jitter":"full"}"#,
            r#"{"kind":"linear","initial":"5s","max":"30s","step":"2s","jitter":{"proportional":0.1}}"#,
            r#"{"kind":"constant","initial":"1s","max":"1s","jitter":"decorrelated"}"#,
        ] {
            let b: Backoff = serde_json::from_str(text).unwrap();
            let again: Backoff = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
            assert_eq!(b, again);
        }
    }

    #[test]
    fn custom_refuses_to_serialize() {
        let c = Backoff::builder(BackoffKind::custom(|_| Duration::from_secs(1)))
            .initial(Duration::from_secs(1))
            .max(Duration::from_secs(2))
            .build()
            .unwrap();
        let err = serde_json::to_string(&c).unwrap_err();
        assert!(err.to_string().contains("custom backoff"), "{err}");
        assert!(format!("{c:?}").contains("Custom"));
        assert_eq!(c, c.clone());
        let other = Backoff::builder(BackoffKind::custom(|_| Duration::from_secs(1)))
            .build()
            .unwrap();
        assert_ne!(c, other);
    }

    #[test]
    fn decorrelated_grows_from_initial_and_respects_cap() {
        let b = Backoff::constant(MS * 100)
            .with_jitter(Jitter::Decorrelated)
            .with_max_attempts(50)
            .unwrap();
        // constant: initial == max, so decorrelated is pinned at 100ms.
        assert!(b.delays().all(|d| d == MS * 100));
        let b = Backoff::exponential(MS * 100, Duration::from_secs(10))
            .unwrap()
            .with_jitter(Jitter::Decorrelated);
        let mut rng = StdRng::seed_from_u64(11);
        let mut prev = MS * 100;
        for d in b.delays_with_rng(&mut rng).take(1000) {
            assert!(d >= MS * 100 && d <= Duration::from_secs(10));
            assert!(d <= (prev * 3).min(Duration::from_secs(10)));
            prev = d;
        }
    }
}
