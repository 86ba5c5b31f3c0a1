//! A small UTC wall-clock type: seconds since the Unix epoch with civil
//! date and time-of-day accessors. Schedules take wall-clock time as input
//! (never the system clock), so they are testable and replayable.

use std::fmt;

/// A UTC instant with one-second resolution.
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

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of days since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    // Clamp to about +-25 billion years so the arithmetic cannot overflow.
    let z = z.clamp(-9_000_000_000_000, 9_000_000_000_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
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

    /// From a civil date and time; `None` if a field is out of range.
    pub fn from_ymd_hms(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<Self> {
        if !(1..=12).contains(&mo)
            || d == 0
            || h > 23
            || mi > 59
            || s > 59
            || !(-100_000..=100_000).contains(&y)
        {
            return None;
        }
        let days = days_from_civil(y, mo, d);
        if civil_from_days(days) != (y, mo, d) {
            return None; // e.g. February 30
        }
        Some(UtcTime(
            days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s),
        ))
    }

    /// Seconds since the epoch.
    pub const fn unix(&self) -> i64 {
        self.0
    }

    /// Days since the epoch.
    pub fn days(&self) -> i64 {
        self.0.div_euclid(86_400)
    }

    /// Seconds since midnight.
    pub fn seconds_of_day(&self) -> u32 {
        self.0.rem_euclid(86_400) as u32
    }

    /// Hour (0–23).
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

    /// Day of the week, 0 = Sunday.
    pub fn weekday(&self) -> u32 {
        (self.days() + 4).rem_euclid(7) as u32
    }

    /// (year, month 1–12, day 1–31).
    pub fn date(&self) -> (i64, u32, u32) {
        civil_from_days(self.days())
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
    fn civil_round_trip() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(UtcTime::from_unix(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(UtcTime::from_unix(0).weekday(), 4);
        assert!(UtcTime::from_ymd_hms(2023, 2, 29, 0, 0, 0).is_none());
        assert_eq!(UtcTime::from_unix(-1).to_string(), "1969-12-31T23:59:59Z");
    }
}
