//! Scheduled capacity floors: times of day and cron windows in an IANA
//! time zone, combined with a reactive policy (the higher count wins).
//!
//! The GPU inference platform pre-scales its GPU pool on a daily curve ("06:00 UTC:
//! 50 %, 10:00: 100 %, 22:00: 70 %, 02:00: 30 %"), and business services
//! scale on local office hours ("weekdays 09:00–18:00 America/New_York: 40
//! replicas"). A [`Schedule`] turns such a curve and such windows into a
//! floor for the replica count at a given wall-clock time. Wall-clock time
//! is an input ([`UtcTime`]), never read from the system, so schedules
//! replay deterministically in tests and simulations; a host passes the
//! time its own wall clock reads.
//!
//! * `time_zone` (an IANA name, UTC by default) is where the daily times
//!   and the cron expressions are read. The time zone database is compiled
//!   in (`jiff`'s bundled copy), so a machine without `/usr/share/zoneinfo`
//!   gives the same answers. Cron expressions are parsed and searched by
//!   `croner`.
//! * A daily entry holds from its local time of day until the next entry's
//!   (the last one wraps past midnight to the first).
//! * A cron window is active from each firing of `start` until the first
//!   firing of `end` after it, or for `duration` (in real elapsed seconds,
//!   so a 2 h window across a daylight-saving change lasts 2 h).
//! * Daylight-saving time: a time that a spring-forward gap skips fires at
//!   the first instant after the gap; a time that a fall-back repeats fires
//!   once, on its first pass (see [`Cron`]).
//! * The floor is the highest of the active entries; [`Schedule::apply`]
//!   returns `max(reactive, floor)`, capped at `max_replicas` if set.
//! * A schedule remembers its last answer together with the span of time
//!   over which that answer cannot change (until the next firing or window
//!   end), so evaluating it every second costs a comparison, and an answer
//!   is never given for an instant outside the span it was computed for.
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
//!
//! // Office hours in New York, whatever the season.
//! let mut office = Schedule::from_yaml(r#"
//! time_zone: America/New_York
//! cron: [{name: office, start: "0 9 * * mon-fri", end: "0 18 * * mon-fri", replicas: 40}]
//! "#)?;
//! let ny = |mo, d, h| UtcTime::from_local("America/New_York", 2024, mo, d, h, 0, 0).unwrap();
//! assert_eq!(office.floor_at(ny(1, 8, 9)).replicas, 40);  // Monday 09:00 EST
//! assert_eq!(office.floor_at(ny(7, 8, 17)).replicas, 40); // Monday 17:00 EDT
//! assert_eq!(office.floor_at(ny(7, 8, 18)).replicas, 0);
//! # Ok::<(), resilience_core::config::ConfigError>(())
//! ```

mod cron;
mod time;

use std::sync::Arc;
use std::time::Duration;

use resilience_core::config::{self, ConfigError};
use serde::{Deserialize, Serialize};

use crate::arith;

pub use cron::Cron;
pub use time::UtcTime;
use time::Zone;

/// Schedule configuration.
///
/// ```
/// use resilience_scaling::schedule::ScheduleConfig;
/// let c: ScheduleConfig = resilience_core::config::from_yaml_str(
///     "reference_capacity: 100\ntime_zone: Europe/Berlin\ndaily: [{at: '06:00', percent: 50}]").unwrap();
/// assert_eq!(c.daily.len(), 1);
/// assert_eq!(c.time_zone.as_deref(), Some("Europe/Berlin"));
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
    /// IANA time zone in which `daily` times and `cron` expressions are
    /// read (`America/New_York`); UTC when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Daily time-of-day floors.
    #[serde(default)]
    pub daily: Vec<DailyEntry>,
    /// Cron windows.
    #[serde(default)]
    pub cron: Vec<CronEntry>,
}

/// A daily floor from `at` (`HH:MM` or `HH:MM:SS` in the schedule's time
/// zone) until the next entry.
///
/// ```
/// use resilience_scaling::schedule::DailyEntry;
/// let e: DailyEntry = resilience_core::config::from_yaml_str("{at: '22:00', percent: 70}").unwrap();
/// assert_eq!(e.percent, Some(70.0));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DailyEntry {
    /// Time of day in the schedule's `time_zone`.
    pub at: String,
    /// Floor as percent of `reference_capacity` (rounded up; 0..=1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Floor in replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
}

/// A cron window: active from each `start` firing until the first `end`
/// firing after it, or for `duration`.
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
    /// Cron expression closing it. It must fire at some time (`0 0 30 2 *`,
    /// February 30, is refused: such a window would never close).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Window length instead of `end`: whole seconds, from 1 s to 366
    /// days.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<Duration>,
    /// Floor as percent of `reference_capacity` (rounded up; 0..=1000).
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
    fires: Cron,
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

/// The last answer and the instants `[from, until)` over which it holds.
#[derive(Debug, Clone)]
struct Cached {
    from: i64,
    until: i64,
    floor: Floor,
}

/// A validated schedule. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Schedule {
    daily: Vec<Daily>,
    cron: Vec<CronWindow>,
    max: Option<u32>,
    cache: Option<Cached>,
}

/// The longest `duration` a cron window may have.
const MAX_WINDOW_SECS: i64 = 366 * 86_400;

fn parse_time_of_day(s: &str) -> Option<u32> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    let nums: Vec<u32> = parts
        .iter()
        .map(|p| p.parse::<u32>().ok())
        .collect::<Option<_>>()?;
    match nums.as_slice() {
        // Bounded above: at most 23 * 3600 + 59 * 60 + 59.
        [h, m] if *h < 24 && *m < 60 => h.checked_mul(3600)?.checked_add(m.checked_mul(60)?),
        [h, m, s] if *h < 24 && *m < 60 && *s < 60 => h
            .checked_mul(3600)?
            .checked_add(m.checked_mul(60)?)?
            .checked_add(*s),
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
            Ok(arith::f64_to_u32(
                (f64::from(reference) * p / 100.0 - 1e-9).ceil(),
            ))
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
        let zone = match &config.time_zone {
            None => Zone::utc(),
            Some(name) => Zone::get(name).map_err(|m| ConfigError::invalid("time_zone", m))?,
        };
        let mut daily = Vec::with_capacity(config.daily.len());
        for (i, e) in config.daily.iter().enumerate() {
            let second = parse_time_of_day(&e.at).ok_or_else(|| {
                ConfigError::invalid(
                    format!("daily[{i}].at"),
                    format!("`{}` is not a time of day (HH:MM or HH:MM:SS)", e.at),
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
            let fires = Cron::daily_at(second, zone.clone())
                .map_err(|m| ConfigError::invalid(format!("daily[{i}].at"), m))?;
            daily.push(Daily {
                second,
                fires,
                replicas,
                label: Arc::from(e.at.trim()),
            });
        }
        daily.sort_by_key(|d| d.second);
        let mut cron = Vec::with_capacity(config.cron.len());
        // Any instant works to ask "does it ever fire": a pattern that fires
        // at all fires within every eight-year span.
        let probe = UtcTime::from_unix(0);
        let parse = |field: String, text: &str| -> Result<Cron, ConfigError> {
            let c = Cron::parse_in(text, zone.name())
                .map_err(|m| ConfigError::invalid(field.clone(), m))?;
            if c.next_after(probe).is_none() {
                return Err(ConfigError::invalid(
                    field,
                    format!("`{text}` never fires (no such date, e.g. February 30)"),
                ));
            }
            Ok(c)
        };
        for (i, e) in config.cron.iter().enumerate() {
            let start = parse(format!("cron[{i}].start"), &e.start)?;
            let end = match &e.end {
                Some(s) => Some(parse(format!("cron[{i}].end"), s)?),
                None => None,
            };
            let duration = match (&end, e.duration) {
                (Some(_), None) => None,
                (None, Some(d)) => {
                    let secs = arith::whole_secs(d)
                        .filter(|s| (1..=MAX_WINDOW_SECS).contains(s))
                        .ok_or_else(|| {
                            ConfigError::invalid(
                                format!("cron[{i}].duration"),
                                format!(
                                    "must be a whole number of seconds from 1s to 366 days, got {d:?}"
                                ),
                            )
                        })?;
                    Some(secs)
                }
                _ => {
                    return Err(ConfigError::invalid(
                        format!("cron[{i}]"),
                        "set exactly one of end, duration",
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

    /// The floor at `t` and the first instant after `t` at which it may
    /// change (`i64::MAX` if never).
    fn compute(&self, t: UtcTime) -> (Floor, i64) {
        let mut best = Floor {
            replicas: 0,
            source: FloorSource::None,
        };
        let mut until = i64::MAX;
        let soonest = |until: &mut i64, next: Option<UtcTime>| {
            if let Some(n) = next {
                *until = (*until).min(n.unix());
            }
        };
        // The daily entry in force is the one that fired last; entries that
        // a gap moves to the same instant resolve to the later time of day.
        let mut latest: Option<(i64, &Daily)> = None;
        for d in &self.daily {
            soonest(&mut until, d.fires.next_after(t));
            if let Some(fired) = d.fires.latest_at_or_before(t) {
                if latest.is_none_or(|(at, _)| fired.unix() >= at) {
                    latest = Some((fired.unix(), d));
                }
            }
        }
        if let Some((_, entry)) = latest {
            best = Floor {
                replicas: entry.replicas,
                source: FloorSource::Daily(entry.label.clone()),
            };
        }
        for w in &self.cron {
            let opened = w.start.latest_at_or_before(t);
            let closes = opened.and_then(|o| match (&w.end, w.duration) {
                (Some(end), _) => end.next_after(o).map(|c| c.unix()),
                (None, Some(d)) => Some(o.unix().saturating_add(d)),
                (None, None) => None,
            });
            let active = closes.is_some_and(|c| t.unix() < c);
            if active {
                // Until it closes (a later start only extends it, and the
                // recomputation at the close sees that start).
                until = until.min(closes.unwrap_or(i64::MAX));
                if w.replicas > best.replicas {
                    best = Floor {
                        replicas: w.replicas,
                        source: FloorSource::Cron(w.label.clone()),
                    };
                }
            } else {
                soonest(&mut until, w.start.next_after(t));
            }
        }
        (best, until)
    }

    /// The floor at `t`.
    ///
    /// ```
    /// use resilience_scaling::schedule::{Schedule, UtcTime};
    /// let mut s = Schedule::from_yaml("daily: [{at: '08:00', replicas: 9}, {at: '20:00', replicas: 2}]").unwrap();
    /// assert_eq!(s.floor_at(UtcTime::from_ymd_hms(2024, 1, 1, 7, 0, 0).unwrap()).replicas, 2);
    /// ```
    pub fn floor_at(&mut self, t: UtcTime) -> Floor {
        if let Some(c) = &self.cache {
            if (c.from..c.until).contains(&t.unix()) {
                return c.floor.clone();
            }
        }
        let (floor, until) = self.compute(t);
        self.cache = Some(Cached {
            from: t.unix(),
            until,
            floor: floor.clone(),
        });
        floor
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
