//! Demand traces: loaded from CSV or generated (diurnal curve, weekly
//! dip, smooth noise, spikes such as the GPU inference platform's 10× surge).

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::SimError;
use crate::schedule::UtcTime;

/// A demand time series at a fixed step.
///
/// ```
/// use std::time::Duration;
/// use resilience_scaling::sim::Trace;
/// let t = Trace::from_csv("unix_seconds,demand\n0,10\n60,12\n120,11\n").unwrap();
/// assert_eq!(t.step, Duration::from_secs(60));
/// assert_eq!(t.demand, vec![10.0, 12.0, 11.0]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Wall-clock time of the first sample.
    pub start: UtcTime,
    /// Time between samples (one simulation tick).
    pub step: Duration,
    /// Demand per tick, in the units of `capacity_per_replica`.
    pub demand: Vec<f64>,
}

/// A traffic spike: demand multiplied by `factor` for `duration` from
/// `at` (offset from the trace start).
///
/// ```
/// use resilience_scaling::sim::Spike;
/// let s: Spike = resilience_core::config::from_yaml_str("{at: 3days, duration: 30m, factor: 10}").unwrap();
/// assert_eq!(s.factor, 10.0);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spike {
    /// Offset from the trace start.
    #[serde(with = "humantime_serde")]
    pub at: Duration,
    /// How long it lasts.
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// Demand multiplier.
    pub factor: f64,
}

/// Parameters of a generated trace.
///
/// The daily curve is a raised cosine from `base` (at `peak_hour` − 12 h)
/// to `peak` (at `peak_hour`, UTC); weekends are scaled by
/// `weekend_factor`; `noise` is the relative standard deviation of a
/// slowly varying (AR(1), ~10 min correlation) multiplicative noise.
///
/// ```
/// use std::time::Duration;
/// use resilience_scaling::sim::{Trace, TraceSpec};
/// let spec = TraceSpec { duration: Duration::from_secs(86_400), ..TraceSpec::default() };
/// let t = Trace::generate(&spec);
/// assert_eq!(t.demand.len(), 86_400);
/// let peak = t.demand.iter().cloned().fold(0.0, f64::max);
/// assert!(peak > 50.0 && peak < 75.0);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSpec {
    /// Wall-clock start (default Monday 2024-01-01 00:00 UTC).
    #[serde(default = "default_start")]
    pub start_unix: i64,
    /// Length (default 7 days).
    #[serde(default = "week", with = "humantime_serde")]
    pub duration: Duration,
    /// Tick (default 1 s).
    #[serde(default = "second", with = "humantime_serde")]
    pub step: Duration,
    /// Night-time demand (default 10, the GPU inference platform's overnight QPS).
    #[serde(default = "ten")]
    pub base: f64,
    /// Peak demand (default 60, the GPU inference platform's peak QPS).
    #[serde(default = "sixty")]
    pub peak: f64,
    /// Hour of the peak, UTC (default 14).
    #[serde(default = "fourteen")]
    pub peak_hour: f64,
    /// Weekend multiplier (default 0.7).
    #[serde(default = "weekend")]
    pub weekend_factor: f64,
    /// Relative noise (default 0.05).
    #[serde(default = "noise")]
    pub noise: f64,
    /// Random seed (default 42).
    #[serde(default = "seed")]
    pub seed: u64,
    /// Spikes.
    #[serde(default)]
    pub spikes: Vec<Spike>,
}

fn default_start() -> i64 {
    1_704_067_200
}
fn week() -> Duration {
    Duration::from_secs(7 * 86_400)
}
fn second() -> Duration {
    Duration::from_secs(1)
}
fn ten() -> f64 {
    10.0
}
fn sixty() -> f64 {
    60.0
}
fn fourteen() -> f64 {
    14.0
}
fn weekend() -> f64 {
    0.7
}
fn noise() -> f64 {
    0.05
}
fn seed() -> u64 {
    42
}

impl Default for TraceSpec {
    fn default() -> Self {
        TraceSpec {
            start_unix: default_start(),
            duration: week(),
            step: second(),
            base: ten(),
            peak: sixty(),
            peak_hour: fourteen(),
            weekend_factor: weekend(),
            noise: noise(),
            seed: seed(),
            spikes: Vec::new(),
        }
    }
}

impl TraceSpec {
    /// A week at 1 s with one 10× spike lasting 30 min on day 3 at 11:00
    /// UTC (the GPU inference platform's queue-pressure chaos experiment).
    ///
    /// ```
    /// use resilience_scaling::sim::TraceSpec;
    /// assert_eq!(TraceSpec::gpu_pool_week_with_spike().spikes[0].factor, 10.0);
    /// ```
    pub fn gpu_pool_week_with_spike() -> Self {
        TraceSpec {
            spikes: vec![Spike {
                at: Duration::from_secs(2 * 86_400 + 11 * 3600),
                duration: Duration::from_secs(1800),
                factor: 10.0,
            }],
            ..TraceSpec::default()
        }
    }

    /// Renamed to [`gpu_pool_week_with_spike`](Self::gpu_pool_week_with_spike).
    #[deprecated(
        since = "0.1.1",
        note = "renamed to `TraceSpec::gpu_pool_week_with_spike`"
    )]
    #[doc(hidden)]
    pub fn seed_week_with_spike() -> Self {
        Self::gpu_pool_week_with_spike()
    }
}

fn gaussian(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

impl Trace {
    /// Generates a trace. Steps below 1 ms are raised to 1 ms; the length
    /// is capped at 100 million ticks.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_scaling::sim::{Trace, TraceSpec};
    /// let spec = TraceSpec { duration: Duration::from_secs(3600), step: Duration::from_secs(60), noise: 0.0, ..TraceSpec::default() };
    /// let t = Trace::generate(&spec);
    /// assert_eq!(t.demand.len(), 60);
    /// assert!(t.demand[0] < 15.0); // midnight: near the base of 10
    /// ```
    pub fn generate(spec: &TraceSpec) -> Trace {
        let step = spec.step.max(Duration::from_millis(1));
        let n = (spec.duration.as_secs_f64() / step.as_secs_f64()).min(1e8) as usize;
        let mut rng = StdRng::seed_from_u64(spec.seed);
        let dt = step.as_secs_f64();
        let rho = (-dt / 600.0).exp();
        let innovation = (1.0 - rho * rho).sqrt();
        let mut ar = 0.0f64;
        let noise = if spec.noise.is_finite() {
            spec.noise.max(0.0)
        } else {
            0.0
        };
        let (base, peak) = (
            if spec.base.is_finite() {
                spec.base
            } else {
                0.0
            },
            if spec.peak.is_finite() {
                spec.peak
            } else {
                0.0
            },
        );
        let mut demand = Vec::with_capacity(n);
        let two_pi = 2.0 * std::f64::consts::PI;
        for i in 0..n {
            let offset = i as f64 * dt;
            let t = spec.start_unix as f64 + offset;
            let hour = t.rem_euclid(86_400.0) / 3600.0;
            let shape = 0.5 * (1.0 + (two_pi * (hour - spec.peak_hour) / 24.0).cos());
            let mut d = base + (peak - base) * shape;
            let weekday = UtcTime::from_unix(t.floor() as i64).weekday();
            if weekday == 0 || weekday == 6 {
                d *= spec.weekend_factor;
            }
            if noise > 0.0 {
                ar = rho * ar + innovation * gaussian(&mut rng);
                d *= (1.0 + noise * ar).max(0.0);
            }
            for s in &spec.spikes {
                let from = s.at.as_secs_f64();
                if offset >= from
                    && offset < from + s.duration.as_secs_f64()
                    && s.factor.is_finite()
                {
                    d *= s.factor.max(0.0);
                }
            }
            demand.push(d.max(0.0));
        }
        Trace {
            start: UtcTime::from_unix(spec.start_unix),
            step,
            demand,
        }
    }

    /// Parses `unix_seconds,demand` rows (a header line is allowed; `#`
    /// comments and blank lines are skipped). Rows must be evenly spaced
    /// and in order.
    ///
    /// ```
    /// use resilience_scaling::sim::{SimError, Trace};
    /// let err = Trace::from_csv("0,1\n60,x\n").unwrap_err();
    /// assert!(matches!(err, SimError::Csv { line: 2, .. }));
    /// ```
    pub fn from_csv(text: &str) -> Result<Trace, SimError> {
        let mut rows: Vec<(usize, i64, f64)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i.saturating_add(1);
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let mut parts = l.split(',').map(str::trim);
            let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(SimError::Csv {
                    line: line_no,
                    message: "expected two columns: unix_seconds,demand".into(),
                });
            };
            let t = match a.parse::<i64>() {
                Ok(t) => t,
                Err(_) if rows.is_empty() && b.parse::<f64>().is_err() => continue, // header
                Err(_) => {
                    return Err(SimError::Csv {
                        line: line_no,
                        message: format!("`{a}` is not a whole number of seconds"),
                    })
                }
            };
            let d: f64 = b
                .parse()
                .ok()
                .filter(|d: &f64| d.is_finite() && *d >= 0.0)
                .ok_or_else(|| SimError::Csv {
                    line: line_no,
                    message: format!("`{b}` is not a non-negative number"),
                })?;
            rows.push((line_no, t, d));
        }
        let Some(&(_, t0, _)) = rows.first() else {
            return Err(SimError::Csv {
                line: 0,
                message: "no data rows".into(),
            });
        };
        // Timestamps are any i64 a file holds: their differences are checked.
        let gap = |line: usize, a: i64, b: i64| {
            b.checked_sub(a).ok_or_else(|| SimError::Csv {
                line,
                message: "timestamps too far apart".into(),
            })
        };
        let step = match rows.get(1) {
            Some(&(line, t1, _)) if t1 > t0 => (gap(line, t0, t1)?, line),
            Some(&(line, _, _)) => {
                return Err(SimError::Csv {
                    line,
                    message: "timestamps must increase".into(),
                })
            }
            None => (1, 0),
        };
        for w in rows.windows(2) {
            if let [(_, a, _), (line, b, _)] = w {
                let d = gap(*line, *a, *b)?;
                if d != step.0 {
                    return Err(SimError::Csv {
                        line: *line,
                        message: format!("rows must be evenly spaced by {} s, got {d} s", step.0),
                    });
                }
            }
        }
        Ok(Trace {
            start: UtcTime::from_unix(t0),
            step: Duration::from_secs(step.0 as u64),
            demand: rows.into_iter().map(|(_, _, d)| d).collect(),
        })
    }

    /// The trace as CSV (`unix_seconds,demand`), whole-second steps.
    ///
    /// ```
    /// use resilience_scaling::sim::Trace;
    /// let t = Trace::from_csv("100,1.5\n110,2\n").unwrap();
    /// assert_eq!(t.to_csv(), "unix_seconds,demand\n100,1.5\n110,2\n");
    /// ```
    pub fn to_csv(&self) -> String {
        let step = self.step.as_secs().max(1) as i64;
        let mut out = String::from("unix_seconds,demand\n");
        for (i, d) in self.demand.iter().enumerate() {
            let t = self
                .start
                .unix()
                .saturating_add(i64::try_from(i).unwrap_or(i64::MAX).saturating_mul(step));
            out.push_str(&format!("{t},{d}\n"));
        }
        out
    }
}
