//! Five-field cron expressions (minute hour day-of-month month day-of-week),
//! evaluated in UTC.

use std::fmt;
use std::str::FromStr;

use super::time::{civil_from_days, UtcTime};

/// A parsed cron expression: `*`, numbers, ranges `a-b`, lists `a,b`,
/// steps `*/n` and `a-b/n`, month and weekday names (`jan`, `mon`), and
/// Sunday as 0 or 7. As in Vixie cron, when both day-of-month and
/// day-of-week are restricted, a day matching either matches.
///
/// ```
/// use resilience_scaling::schedule::{Cron, UtcTime};
/// let c: Cron = "30 6 * * mon-fri".parse().unwrap();
/// let monday = UtcTime::from_ymd_hms(2024, 1, 1, 6, 30, 0).unwrap();
/// assert!(c.matches(monday));
/// let sunday = UtcTime::from_ymd_hms(2023, 12, 31, 6, 30, 0).unwrap();
/// assert!(!c.matches(sunday));
/// assert_eq!(c.latest_at_or_before(sunday), Some(UtcTime::from_ymd_hms(2023, 12, 29, 6, 30, 0).unwrap()));
/// assert!("61 * * * *".parse::<Cron>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u32,
    dom: u32,
    months: u16,
    dow: u8,
    dom_star: bool,
    dow_star: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn parse_value(s: &str, names: &[&str], offset: u32) -> Option<u32> {
    if let Ok(n) = s.parse::<u32>() {
        return Some(n);
    }
    let lower = s.to_ascii_lowercase();
    names
        .iter()
        .position(|n| *n == lower)
        .map(|i| i as u32 + offset)
}

fn parse_field(
    field: &str,
    lo: u32,
    hi: u32,
    names: &[&str],
    offset: u32,
    what: &str,
) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let star = field == "*";
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or_else(|| format!("bad step `{s}` in {what} field `{field}`"))?;
                (r, step)
            }
            None => (part, 1),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            let a = parse_value(a, names, offset).ok_or_else(|| format!("bad {what} `{a}`"))?;
            let b = parse_value(b, names, offset).ok_or_else(|| format!("bad {what} `{b}`"))?;
            (a, b)
        } else {
            let a =
                parse_value(range, names, offset).ok_or_else(|| format!("bad {what} `{range}`"))?;
            (a, if step > 1 { hi } else { a })
        };
        if a < lo || b > hi || a > b {
            return Err(format!("{what} `{range}` out of range {lo}-{hi}"));
        }
        let mut v = a;
        while v <= b {
            bits |= 1u64 << v;
            v += step;
        }
    }
    Ok((bits, star))
}

impl FromStr for Cron {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let fields: Vec<&str> = s.split_whitespace().collect();
        let [mi, h, dom, mo, dow] = fields.as_slice() else {
            return Err(format!(
                "`{s}` must have 5 fields: minute hour day-of-month month day-of-week"
            ));
        };
        let (minutes, _) = parse_field(mi, 0, 59, &[], 0, "minute")?;
        let (hours, _) = parse_field(h, 0, 23, &[], 0, "hour")?;
        let (dom_bits, dom_star) = parse_field(dom, 1, 31, &[], 0, "day of month")?;
        let (months, _) = parse_field(mo, 1, 12, &MONTHS, 1, "month")?;
        let (mut dow_bits, dow_star) = parse_field(dow, 0, 7, &DAYS, 0, "day of week")?;
        if dow_bits & (1 << 7) != 0 {
            dow_bits = (dow_bits | 1) & 0x7f;
        }
        Ok(Cron {
            text: s.trim().to_string(),
            minutes,
            hours: hours as u32,
            dom: dom_bits as u32,
            months: months as u16,
            dow: dow_bits as u8,
            dom_star,
            dow_star,
        })
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Cron {
    fn day_matches(&self, days: i64) -> bool {
        let (_, m, d) = civil_from_days(days);
        if self.months & (1 << m) == 0 {
            return false;
        }
        let wd = (days + 4).rem_euclid(7) as u32;
        let dom_ok = self.dom & (1 << d) != 0;
        let dow_ok = self.dow & (1 << wd) != 0;
        match (self.dom_star, self.dow_star) {
            (false, false) => dom_ok || dow_ok,
            _ => dom_ok && dow_ok,
        }
    }

    /// Whether the expression fires at the minute containing `t`.
    pub fn matches(&self, t: UtcTime) -> bool {
        self.minutes & (1 << t.minute()) != 0
            && self.hours & (1 << t.hour()) != 0
            && self.day_matches(t.days())
    }

    /// The latest firing minute at or before `t` within the previous 5
    /// years (enough for any expression that fires at all).
    pub fn latest_at_or_before(&self, t: UtcTime) -> Option<UtcTime> {
        let day0 = t.days();
        let mut limit = t.hour() * 60 + t.minute();
        for back in 0..(5 * 366) {
            let day = day0.checked_sub(back)?;
            if self.day_matches(day) {
                let mut h = (limit / 60) as i64;
                let mut max_min = (limit % 60) as i64;
                while h >= 0 {
                    if self.hours & (1 << h) != 0 {
                        let mut m = max_min;
                        while m >= 0 {
                            if self.minutes & (1 << m) != 0 {
                                let secs =
                                    day.checked_mul(86_400)?.checked_add(h * 3600 + m * 60)?;
                                return Some(UtcTime::from_unix(secs));
                            }
                            m -= 1;
                        }
                    }
                    h -= 1;
                    max_min = 59;
                }
            }
            limit = 23 * 60 + 59;
        }
        None
    }
}
