//! Wall-clock time for schedules: a UTC instant in whole seconds, with
//! civil (calendar) conversions done by `jiff` and its bundled IANA time
//! zone database. Schedules take wall-clock time as an input (never the
//! system clock), so they are testable and replayable.

use std::fmt;

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// A UTC instant with one-second resolution.
///
/// Any `i64` is a valid `UtcTime`; calendar accessors clamp to the years
/// -9999..=9999 (the range of the civil-time library), so no value panics.
///
/// ```
/// use resilience_scaling::schedule::UtcTime;
/// let t = UtcTime::from_ymd_hms(2024, 2, 29, 22, 30, 5).unwrap();
/// assert_eq!(t.unix(), 1_709_245_805);
/// assert_eq!((t.hour(), t.minute(), t.second()), (22, 30, 5));
/// assert_eq!(t.weekday(), 4); // Thursday (0 = Sunday)
/// assert_eq!(t.to_string(), "2024-02-29T22:30:05Z");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcTime(i64);

/// An IANA time zone with the name it was looked up by.
#[derive(Clone, Debug)]
pub(crate) struct Zone {
    name: String,
    tz: TimeZone,
}

impl Zone {
    pub(crate) fn utc() -> Self {
        Zone {
            name: "UTC".to_string(),
            tz: TimeZone::UTC,
        }
    }

    /// Looks `name` up in the bundled time zone database.
    pub(crate) fn get(name: &str) -> Result<Self, String> {
        let name = name.trim();
        let tz = jiff::tz::db().get(name).map_err(|_| {
            format!("`{name}` is not an IANA time zone name (like America/New_York or UTC)")
        })?;
        Ok(Zone {
            name: name.to_string(),
            tz,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// `t` in this zone (clamped to the civil-time range).
    pub(crate) fn zoned(&self, t: UtcTime) -> Zoned {
        t.timestamp().to_zoned(self.tz.clone())
    }
}

impl UtcTime {
    /// From seconds since 1970-01-01T00:00:00Z.
    ///
    /// ```
    /// use resilience_scaling::schedule::UtcTime;
    /// assert_eq!(UtcTime::from_unix(86_400 + 3600).hour(), 1);
    /// ```
    pub const fn from_unix(secs: i64) -> Self {
        UtcTime(secs)
    }

    /// From a UTC civil date and time; `None` if a field is out of range
    /// (February 30, hour 24, a year outside -9999..=9999).
    pub fn from_ymd_hms(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<Self> {
        Self::from_local("UTC", y, mo, d, h, mi, s)
    }

    /// From a civil date and time in the IANA time zone `time_zone`; `None`
    /// if a field is out of range or the zone is unknown. A local time that
    /// a daylight-saving gap skips is read with the offset before the gap
    /// (02:30 on a spring-forward night in New York is 03:30 EDT); one that
    /// a fall-back repeats is its first pass.
    ///
    /// ```
    /// use resilience_scaling::schedule::UtcTime;
    /// let nine_ny = UtcTime::from_local("America/New_York", 2024, 7, 1, 9, 0, 0).unwrap();
    /// assert_eq!(nine_ny, UtcTime::from_ymd_hms(2024, 7, 1, 13, 0, 0).unwrap());
    /// // 01:30 happens twice on 2024-11-03 in New York: the first is EDT.
    /// let first = UtcTime::from_local("America/New_York", 2024, 11, 3, 1, 30, 0).unwrap();
    /// assert_eq!(first, UtcTime::from_ymd_hms(2024, 11, 3, 5, 30, 0).unwrap());
    /// ```
    pub fn from_local(
        time_zone: &str,
        y: i64,
        mo: u32,
        d: u32,
        h: u32,
        mi: u32,
        s: u32,
    ) -> Option<Self> {
        let zone = Zone::get(time_zone).ok()?;
        let dt = jiff::civil::DateTime::new(
            i16::try_from(y).ok()?,
            i8::try_from(mo).ok()?,
            i8::try_from(d).ok()?,
            i8::try_from(h).ok()?,
            i8::try_from(mi).ok()?,
            i8::try_from(s).ok()?,
            0,
        )
        .ok()?;
        let z = zone.tz.to_ambiguous_zoned(dt).compatible().ok()?;
        Some(UtcTime(z.timestamp().as_second()))
    }

    /// Seconds since the epoch.
    pub const fn unix(&self) -> i64 {
        self.0
    }

    /// The instant as a `jiff` timestamp, clamped to its range.
    fn timestamp(&self) -> Timestamp {
        let s = self
            .0
            .clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
        Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// Days since the epoch.
    pub fn days(&self) -> i64 {
        self.0.div_euclid(86_400)
    }

    /// Seconds since midnight UTC.
    pub fn seconds_of_day(&self) -> u32 {
        // rem_euclid(86_400) lies in [0, 86_400).
        u32::try_from(self.0.rem_euclid(86_400)).unwrap_or(0)
    }

    /// Hour (0–23), UTC.
    pub fn hour(&self) -> u32 {
        self.seconds_of_day() / 3600
    }

    /// Minute (0–59).
    pub fn minute(&self) -> u32 {
        self.seconds_of_day() / 60 % 60
    }

    /// Second (0–59).
    pub fn second(&self) -> u32 {
        self.seconds_of_day() % 60
    }

    /// Day of the week in UTC, 0 = Sunday.
    pub fn weekday(&self) -> u32 {
        // 1970-01-01 was a Thursday; the sum cannot overflow after div_euclid.
        u32::try_from(self.days().saturating_add(4).rem_euclid(7)).unwrap_or(0)
    }

    /// (year, month 1–12, day 1–31) in UTC.
    pub fn date(&self) -> (i64, u32, u32) {
        let d = self.timestamp().to_zoned(TimeZone::UTC).date();
        (
            i64::from(d.year()),
            u32::try_from(d.month()).unwrap_or(1),
            u32::try_from(d.day()).unwrap_or(1),
        )
    }

    /// This time plus `secs` seconds (saturating).
    pub fn add_secs(&self, secs: i64) -> Self {
        UtcTime(self.0.saturating_add(secs))
    }
}

impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.date();
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            self.hour(),
            self.minute(),
            self.second()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_conversions_agree_and_never_panic() {
        for days in (-800_000i64..800_000).step_by(997) {
            let t = UtcTime::from_unix(days * 86_400);
            let (y, m, d) = t.date();
            assert_eq!(UtcTime::from_ymd_hms(y, m, d, 0, 0, 0), Some(t));
        }
        assert_eq!(UtcTime::from_unix(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(UtcTime::from_unix(0).weekday(), 4);
        assert!(UtcTime::from_ymd_hms(2023, 2, 29, 0, 0, 0).is_none());
        assert_eq!(UtcTime::from_unix(-1).to_string(), "1969-12-31T23:59:59Z");
        for extreme in [i64::MIN, i64::MAX] {
            let t = UtcTime::from_unix(extreme);
            let _ = (t.date(), t.weekday(), t.to_string());
        }
        assert!(UtcTime::from_ymd_hms(100_000, 1, 1, 0, 0, 0).is_none());
    }
}
