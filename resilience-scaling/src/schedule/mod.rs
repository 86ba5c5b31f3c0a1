//! Scheduled capacity floors: time of day in UTC and cron-like windows,
//! combined with a reactive policy (the higher count wins).
//!
//! The GPU inference platform pre-scales its GPU pool on a daily curve ("06:00 UTC: 50 %,
//! 10:00: 100 %, 22:00: 70 %, 02:00: 30 %"). A [`Schedule`] turns such a
//! curve, plus cron windows ("weekdays 08:00–18:00: 40 replicas"), into a
//! floor for the replica count at a given wall-clock time. Wall-clock time
//! is an input ([`UtcTime`]), never read from the system, so schedules
//! replay deterministically in tests and simulations.
//!
//! * A daily entry holds from its time of day until the next entry's (the
//!   last one wraps past midnight to the first).
//! * A cron window is active from each firing of `start` until the next
//!   firing of `end` (or for `duration`).
//! * The floor is the highest of the active entries; [`Schedule::apply`]
//!   returns `max(reactive, floor)`, capped at `max_replicas` if set.
//!
//! ```
//! use resilience_scaling::schedule::{Schedule, UtcTime};
//!
//! let mut s = Schedule::from_yaml(include_str!("../../presets/gpu-pool-schedule.yaml"))?;
//! let at = |h, m| UtcTime::from_ymd_hms(2024, 3, 5, h, m, 0).unwrap();
//! assert_eq!(s.floor_at(at(7, 0)).replicas, 50);  // 06:00 -> 50 % of 100
//! assert_eq!(s.floor_at(at(23, 0)).replicas, 70); // 22:00 -> 70 %
//! assert_eq!(s.floor_at(at(3, 0)).replicas, 30);  // 02:00 -> 30 %
//! // Reactive wants 80 at 07:00: the higher count wins.
//! assert_eq!(s.apply(at(7, 0), 80).replicas, 80);
//! assert_eq!(s.apply(at(7, 0), 20).replicas, 50);
//! # Ok::<(), resilience_core::config::ConfigError>(())
//! ```

mod cron;
mod time;

use std::sync::Arc;
use std::time::Duration;

use resilience_core::config::{self, ConfigError};
use serde::{Deserialize, Serialize};

pub use cron::Cron;
pub use time::UtcTime;

/// Schedule configuration.
///
/// ```
/// use resilience_scaling::schedule::ScheduleConfig;
/// let c: ScheduleConfig = resilience_core::config::from_yaml_str(
///     "reference_capacity: 100\ndaily: [{at: '06:00', percent: 50}]").unwrap();
/// assert_eq!(c.daily.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Replicas that 100 % stands for (required if any entry uses `percent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_capacity: Option<u32>,
    /// Cap on the combined result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<u32>,
    /// Daily time-of-day floors (UTC).
    #[serde(default)]
    pub daily: Vec<DailyEntry>,
    /// Cron windows.
    #[serde(default)]
    pub cron: Vec<CronEntry>,
}

/// A daily floor from `at` (UTC `HH:MM` or `HH:MM:SS`) until the next entry.
///
/// ```
/// use resilience_scaling::schedule::DailyEntry;
/// let e: DailyEntry = resilience_core::config::from_yaml_str("{at: '22:00', percent: 70}").unwrap();
/// assert_eq!(e.percent, Some(70.0));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DailyEntry {
    /// Time of day, UTC.
    pub at: String,
    /// Floor as percent of `reference_capacity` (rounded up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Floor in replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
}

/// A cron window: active from each `start` firing until the next `end`
/// firing, or for `duration`.
///
/// ```
/// use resilience_scaling::schedule::CronEntry;
/// let e: CronEntry = resilience_core::config::from_yaml_str(
///     "{name: batch, start: '0 3 * * *', duration: 2h, replicas: 30}").unwrap();
/// assert_eq!(e.duration.unwrap().as_secs(), 7200);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronEntry {
    /// Name, reported when the window sets the floor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Cron expression opening the window.
    pub start: String,
    /// Cron expression closing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Window length instead of `end`.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<Duration>,
    /// Floor as percent of `reference_capacity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Floor in replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
}

/// Which entry set the floor.
///
/// ```
/// use resilience_scaling::schedule::FloorSource;
/// assert_eq!(FloorSource::None, FloorSource::None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FloorSource {
    /// No entry is active.
    None,
    /// A daily entry (its `at`).
    Daily(Arc<str>),
    /// A cron window (its name or start expression).
    Cron(Arc<str>),
}

/// A floor at one time.
///
/// ```
/// use resilience_scaling::schedule::{Floor, FloorSource};
/// let f = Floor { replicas: 0, source: FloorSource::None };
/// assert_eq!(f.replicas, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Floor {
    /// Minimum replicas.
    pub replicas: u32,
    /// Which entry set it.
    pub source: FloorSource,
}

/// A schedule combined with a reactive recommendation.
///
/// ```
/// use resilience_scaling::schedule::{Floor, FloorSource, ScheduledDecision};
/// let d = ScheduledDecision { replicas: 5, reactive: 5, floor: Floor { replicas: 2, source: FloorSource::None } };
/// assert!(!d.schedule_won());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledDecision {
    /// The combined count.
    pub replicas: u32,
    /// The reactive policy's count.
    pub reactive: u32,
    /// The floor.
    pub floor: Floor,
}

impl ScheduledDecision {
    /// Whether the schedule raised the reactive count.
    pub fn schedule_won(&self) -> bool {
        self.floor.replicas > self.reactive
    }
}

#[derive(Debug, Clone)]
struct Daily {
    second: u32,
    replicas: u32,
    label: Arc<str>,
}

#[derive(Debug, Clone)]
struct CronWindow {
    start: Cron,
    end: Option<Cron>,
    duration: Option<i64>,
    replicas: u32,
    label: Arc<str>,
}

/// A validated schedule. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Schedule {
    daily: Vec<Daily>,
    cron: Vec<CronWindow>,
    max: Option<u32>,
    cache: Option<(i64, Floor)>,
}

fn parse_time_of_day(s: &str) -> Option<u32> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    let nums: Vec<u32> = parts
        .iter()
        .map(|p| p.parse::<u32>().ok())
        .collect::<Option<_>>()?;
    match nums.as_slice() {
        [h, m] if *h < 24 && *m < 60 => Some(h * 3600 + m * 60),
        [h, m, s] if *h < 24 && *m < 60 && *s < 60 => Some(h * 3600 + m * 60 + s),
        _ => None,
    }
}

fn resolve(
    percent: Option<f64>,
    replicas: Option<u32>,
    reference: Option<u32>,
    field: String,
) -> Result<u32, ConfigError> {
    match (percent, replicas) {
        (Some(_), Some(_)) | (None, None) => Err(ConfigError::invalid(
            field,
            "set exactly one of percent, replicas",
        )),
        (None, Some(r)) => Ok(r),
        (Some(p), None) => {
            if !(p.is_finite() && (0.0..=1000.0).contains(&p)) {
                return Err(ConfigError::invalid(
                    format!("{field}.percent"),
                    format!("must be in 0..=1000, got {p}"),
                ));
            }
            let reference = reference.ok_or_else(|| {
                ConfigError::invalid(
                    "reference_capacity",
                    format!("is required by the percent in {field}"),
                )
            })?;
            Ok((f64::from(reference) * p / 100.0 - 1e-9).ceil().max(0.0) as u32)
        }
    }
}

impl Schedule {
    /// Parses and validates a YAML schedule.
    pub fn from_yaml(yaml: &str) -> Result<Self, ConfigError> {
        Self::new(config::from_yaml_str(yaml)?)
    }

    /// Validates a schedule.
    ///
    /// ```
    /// use resilience_scaling::schedule::Schedule;
    /// let e = Schedule::from_yaml("daily: [{at: '25:00', replicas: 3}]").unwrap_err();
    /// assert_eq!(e.field(), Some("daily[0].at"));
    /// ```
    pub fn new(config: ScheduleConfig) -> Result<Self, ConfigError> {
        let mut daily = Vec::with_capacity(config.daily.len());
        for (i, e) in config.daily.iter().enumerate() {
            let second = parse_time_of_day(&e.at).ok_or_else(|| {
                ConfigError::invalid(
                    format!("daily[{i}].at"),
                    format!("`{}` is not a UTC time of day (HH:MM)", e.at),
                )
            })?;
            let replicas = resolve(
                e.percent,
                e.replicas,
                config.reference_capacity,
                format!("daily[{i}]"),
            )?;
            if daily.iter().any(|d: &Daily| d.second == second) {
                return Err(ConfigError::invalid(
                    format!("daily[{i}].at"),
                    format!("`{}` appears twice", e.at),
                ));
            }
            daily.push(Daily {
                second,
                replicas,
                label: Arc::from(e.at.trim()),
            });
        }
        daily.sort_by_key(|d| d.second);
        let mut cron = Vec::with_capacity(config.cron.len());
        for (i, e) in config.cron.iter().enumerate() {
            let start: Cron = e
                .start
                .parse()
                .map_err(|m| ConfigError::invalid(format!("cron[{i}].start"), m))?;
            if start
                .latest_at_or_before(UtcTime::from_unix(i64::from(i32::MAX)))
                .is_none()
            {
                return Err(ConfigError::invalid(
                    format!("cron[{i}].start"),
                    "never fires",
                ));
            }
            let end = match &e.end {
                Some(s) => Some(
                    s.parse::<Cron>()
                        .map_err(|m| ConfigError::invalid(format!("cron[{i}].end"), m))?,
                ),
                None => None,
            };
            let duration = match (&end, e.duration) {
                (Some(_), None) => None,
                (None, Some(d)) if !d.is_zero() => {
                    Some(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
                }
                _ => {
                    return Err(ConfigError::invalid(
                        format!("cron[{i}]"),
                        "set exactly one of end, duration (longer than 0s)",
                    ))
                }
            };
            cron.push(CronWindow {
                replicas: resolve(
                    e.percent,
                    e.replicas,
                    config.reference_capacity,
                    format!("cron[{i}]"),
                )?,
                label: Arc::from(e.name.clone().unwrap_or_else(|| e.start.clone())),
                start,
                end,
                duration,
            });
        }
        Ok(Schedule {
            daily,
            cron,
            max: config.max_replicas,
            cache: None,
        })
    }

    fn compute(&self, t: UtcTime) -> Floor {
        let mut best = Floor {
            replicas: 0,
            source: FloorSource::None,
        };
        if let Some(last) = self.daily.last() {
            let sod = t.seconds_of_day();
            let entry = self
                .daily
                .iter()
                .rev()
                .find(|d| d.second <= sod)
                .unwrap_or(last);
            best = Floor {
                replicas: entry.replicas,
                source: FloorSource::Daily(entry.label.clone()),
            };
        }
        for w in &self.cron {
            if w.replicas <= best.replicas {
                continue;
            }
            let Some(opened) = w.start.latest_at_or_before(t) else {
                continue;
            };
            let active = match (&w.end, w.duration) {
                (Some(end), _) => end
                    .latest_at_or_before(t)
                    .is_none_or(|closed| closed < opened),
                (None, Some(d)) => t.unix() < opened.unix().saturating_add(d),
                (None, None) => false,
            };
            if active {
                best = Floor {
                    replicas: w.replicas,
                    source: FloorSource::Cron(w.label.clone()),
                };
            }
        }
        best
    }

    /// The floor at `t` (recomputed at most once per minute).
    ///
    /// ```
    /// use resilience_scaling::schedule::{Schedule, UtcTime};
    /// let mut s = Schedule::from_yaml("daily: [{at: '08:00', replicas: 9}, {at: '20:00', replicas: 2}]").unwrap();
    /// assert_eq!(s.floor_at(UtcTime::from_ymd_hms(2024, 1, 1, 7, 0, 0).unwrap()).replicas, 2);
    /// ```
    pub fn floor_at(&mut self, t: UtcTime) -> Floor {
        let minute = t.unix().div_euclid(60);
        let daily_exact = self.daily.iter().any(|d| d.second % 60 != 0);
        if !daily_exact {
            if let Some((m, f)) = &self.cache {
                if *m == minute {
                    return f.clone();
                }
            }
        }
        let f = self.compute(t);
        self.cache = Some((minute, f.clone()));
        f
    }

    /// `max(reactive, floor)`, capped at `max_replicas` if set.
    ///
    /// ```
    /// use resilience_scaling::schedule::{Schedule, UtcTime};
    /// let mut s = Schedule::from_yaml("daily: [{at: '00:00', replicas: 4}]").unwrap();
    /// let d = s.apply(UtcTime::from_unix(0), 3);
    /// assert_eq!((d.replicas, d.schedule_won()), (4, true));
    /// ```
    pub fn apply(&mut self, t: UtcTime, reactive: u32) -> ScheduledDecision {
        let floor = self.floor_at(t);
        let mut replicas = reactive.max(floor.replicas);
        if let Some(m) = self.max {
            replicas = replicas.min(m);
        }
        ScheduledDecision {
            replicas,
            reactive,
            floor,
        }
    }
}
