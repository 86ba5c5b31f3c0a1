//! Five-field cron expressions (minute hour day-of-month month day-of-week),
//! parsed and evaluated by the `croner` crate in an IANA time zone.

use std::fmt;
use std::str::FromStr;

use croner::parser::{CronParser, Seconds, Year};

use super::time::{UtcTime, Zone};

/// A parsed cron expression, read in a time zone (UTC unless given).
///
/// The syntax is Vixie cron's: `*`, numbers, ranges `a-b`, lists `a,b`,
/// steps `*/n` and `a-b/n`, month and weekday names (`jan`, `mon`), Sunday
/// as 0 or 7, and the `@hourly`/`@daily`/`@weekly`/`@monthly`/`@yearly`
/// nicknames; when both day-of-month and day-of-week are restricted, a day
/// matching either matches. The `croner` extensions `L` (last day or last
/// weekday of the month), `W` (nearest weekday) and `#` (nth weekday) are
/// accepted too. Parsing and searching are `croner`'s, so steps such as
/// `*/4294967295` are refused with a message instead of overflowing.
///
/// Daylight-saving time follows the Open Cron Pattern Specification, as
/// `croner` implements it: a fixed time that a spring-forward gap skips
/// (`30 2 * * *` in New York on the second Sunday of March) fires at the
/// first instant after the gap (03:00 local); a fixed time repeated by a
/// fall-back fires once, on its first pass; expressions that fire every
/// minute or hour keep firing on the wall clock through both.
///
/// ```
/// use resilience_scaling::schedule::{Cron, UtcTime};
/// let c: Cron = "30 6 * * mon-fri".parse().unwrap();
/// let monday = UtcTime::from_ymd_hms(2024, 1, 1, 6, 30, 0).unwrap();
/// assert!(c.matches(monday));
/// let sunday = UtcTime::from_ymd_hms(2023, 12, 31, 6, 30, 0).unwrap();
/// assert!(!c.matches(sunday));
/// assert_eq!(c.latest_at_or_before(sunday), Some(UtcTime::from_ymd_hms(2023, 12, 29, 6, 30, 0).unwrap()));
/// assert_eq!(c.next_after(sunday), Some(monday));
/// assert!("61 * * * *".parse::<Cron>().is_err());
/// assert!("*/4294967295 * * * *".parse::<Cron>().is_err());
///
/// // 09:00 on weekdays in New York is 14:00 UTC in winter, 13:00 in summer.
/// let ny = Cron::parse_in("0 9 * * mon-fri", "America/New_York").unwrap();
/// assert_eq!(ny.next_after(sunday), Some(UtcTime::from_ymd_hms(2024, 1, 1, 14, 0, 0).unwrap()));
/// ```
#[derive(Clone)]
pub struct Cron {
    text: String,
    inner: croner::Cron,
    zone: Zone,
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cron")
            .field("expression", &self.text)
            .field("time_zone", &self.zone.name())
            .finish()
    }
}

impl PartialEq for Cron {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text && self.zone.name() == other.zone.name()
    }
}

impl Eq for Cron {}

fn parser(seconds: Seconds) -> CronParser {
    CronParser::builder()
        .seconds(seconds)
        .year(Year::Disallowed)
        .build()
}

impl FromStr for Cron {
    type Err = String;

    /// Parses an expression evaluated in UTC.
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse_with(s, Zone::utc(), Seconds::Disallowed)
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Cron {
    /// Parses an expression evaluated in the IANA time zone `time_zone`
    /// (`"America/New_York"`, `"Europe/Berlin"`, `"UTC"`). The time zone
    /// database is compiled in, so the answer does not depend on the
    /// machine's `/usr/share/zoneinfo`.
    ///
    /// ```
    /// use resilience_scaling::schedule::Cron;
    /// assert!(Cron::parse_in("0 9 * * *", "Europe/Berlin").is_ok());
    /// assert!(Cron::parse_in("0 9 * * *", "Mars/Olympus_Mons").is_err());
    /// ```
    pub fn parse_in(expression: &str, time_zone: &str) -> Result<Self, String> {
        Self::parse_with(expression, Zone::get(time_zone)?, Seconds::Disallowed)
    }

    /// A daily firing at `second_of_day` local time (used by daily entries).
    pub(crate) fn daily_at(second_of_day: u32, zone: Zone) -> Result<Self, String> {
        let (h, m, s) = (
            second_of_day / 3600,
            second_of_day / 60 % 60,
            second_of_day % 60,
        );
        Self::parse_with(&format!("{s} {m} {h} * * *"), zone, Seconds::Required)
    }

    fn parse_with(expression: &str, zone: Zone, seconds: Seconds) -> Result<Self, String> {
        let text = expression.trim();
        let inner = parser(seconds)
            .parse(text)
            .map_err(|e| format!("`{text}` is not a cron expression: {e}"))?;
        Ok(Cron {
            text: text.to_string(),
            inner,
            zone,
        })
    }

    /// The IANA name of the time zone the expression is read in.
    pub fn time_zone(&self) -> &str {
        self.zone.name()
    }

    /// Whether the expression fires at the minute containing `t`.
    pub fn matches(&self, t: UtcTime) -> bool {
        let minute = UtcTime::from_unix(t.unix().saturating_sub(i64::from(t.second())));
        self.inner
            .is_time_matching(&self.zone.zoned(minute))
            .unwrap_or(false)
    }

    /// The latest firing at or before `t`; `None` if the expression does
    /// not fire in the eight years before `t` (long enough for any
    /// expression that fires at all: February 29 on a given weekday needs
    /// at most that), or `t` lies outside the years -9999..=9999.
    pub fn latest_at_or_before(&self, t: UtcTime) -> Option<UtcTime> {
        let z = self.zone.zoned(t);
        let found = self.inner.find_previous_occurrence(&z, true).ok()?;
        Some(UtcTime::from_unix(found.timestamp().as_second()))
    }

    /// The first firing strictly after `t`; `None` if the expression does
    /// not fire in the following eight years or `t` lies outside the years
    /// -9999..=9999.
    pub fn next_after(&self, t: UtcTime) -> Option<UtcTime> {
        let z = self.zone.zoned(t);
        let found = self.inner.find_next_occurrence(&z, false).ok()?;
        let at = found.timestamp().as_second();
        // The search works in whole seconds; `t` may have been clamped.
        (at > t.unix()).then(|| UtcTime::from_unix(at))
    }
}
