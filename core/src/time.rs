//! Calendar arithmetic for forecast runs, without a date-time dependency.
//!
//! A forecast *run* (also "cycle" or "reference time") is a UTC date and an hour (00, 06, 12,
//! 18). Everything gik needs — parsing `YYYYMMDD`, stepping back N days, formatting paths and
//! converting to seconds since the Unix epoch for zarr coordinates — fits in the proleptic
//! Gregorian helpers below (Howard Hinnant's `days_from_civil`).

use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// The start of one forecast run: a UTC date and hour.
///
/// Ordered in time. Serialised (serde) as its compact text `YYYYMMDDHH`, the form the catalog
/// and the app's URLs use; deserialising checks the calendar. The default is the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunTime {
    /// Calendar year, e.g. 2026.
    pub year: i32,
    /// Month 1–12.
    pub month: u32,
    /// Day of month 1–31.
    pub day: u32,
    /// Hour of day 0–23.
    pub hour: u32,
}

impl RunTime {
    /// Builds a run time, checking the calendar.
    pub fn new(year: i32, month: u32, day: u32, hour: u32) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidArgument {
            what: "run time",
            value: format!("{year:04}-{month:02}-{day:02} {hour:02}z"),
            reason: reason.to_string(),
        };
        if !(1..=12).contains(&month) {
            return Err(invalid("month must be 1-12"));
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(invalid("no such day in that month"));
        }
        if hour > 23 {
            return Err(invalid("hour must be 0-23"));
        }
        Ok(Self {
            year,
            month,
            day,
            hour,
        })
    }

    /// Parses a date `YYYYMMDD` and an hour (`"00"`, `"6"`, `"12z"`).
    pub fn parse(date: &str, hour: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidArgument {
            what: "date",
            value: date.to_string(),
            reason: reason.to_string(),
        };
        let date = date.trim();
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("expected YYYYMMDD"));
        }
        let num = |s: &str| s.parse::<u32>().map_err(|_| invalid("expected YYYYMMDD"));
        let year = num(&date[0..4])? as i32;
        let month = num(&date[4..6])?;
        let day = num(&date[6..8])?;
        let h = hour.trim().trim_end_matches(['z', 'Z']);
        let hour = h.parse::<u32>().map_err(|_| Error::InvalidArgument {
            what: "run hour",
            value: hour.to_string(),
            reason: "expected 00, 06, 12 or 18".into(),
        })?;
        Self::new(year, month, day, hour)
    }

    /// Parses the compact `YYYYMMDDHH` form used in NOAA `.idx` files (`d=2025080100`).
    pub fn parse_compact(s: &str) -> Result<Self> {
        if s.len() != 10 || !s.is_ascii() {
            return Err(Error::InvalidArgument {
                what: "reference time",
                value: s.to_string(),
                reason: "expected YYYYMMDDHH".into(),
            });
        }
        Self::parse(&s[..8], &s[8..])
    }

    /// `YYYYMMDD`.
    pub fn date_string(&self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }

    /// `YYYYMMDDHH`, the compact form ([`RunTime::parse_compact`] reads it back).
    pub fn compact(&self) -> String {
        format!("{}{:02}", self.date_string(), self.hour)
    }

    /// `HH`, zero-padded.
    pub fn hour_string(&self) -> String {
        format!("{:02}", self.hour)
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn unix_seconds(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400 + i64::from(self.hour) * 3600
    }

    /// The run time `seconds` after the Unix epoch (rounded down to the hour).
    pub fn from_unix_seconds(seconds: i64) -> Self {
        let days = seconds.div_euclid(86_400);
        let hour = (seconds.rem_euclid(86_400) / 3600) as u32;
        let (year, month, day) = civil_from_days(days);
        Self {
            year,
            month,
            day,
            hour,
        }
    }

    /// The same hour `days` days earlier (negative: later).
    pub fn days_before(&self, days: i64) -> Self {
        Self::from_unix_seconds(self.unix_seconds() - days * 86_400)
    }

    /// ISO-8601 text of the time `hours` after this run, e.g. `2026-05-12T06:00:00Z`.
    pub fn iso_after_hours(&self, hours: f64) -> String {
        let t = self.unix_seconds() + (hours * 3600.0).round() as i64;
        let days = t.div_euclid(86_400);
        let secs = t.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            (secs % 3600) / 60,
            secs % 60
        )
    }
}

impl fmt::Display for RunTime {
    /// `YYYYMMDD HHz`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:02}z", self.date_string(), self.hour)
    }
}

impl Default for RunTime {
    fn default() -> Self {
        Self::from_unix_seconds(0)
    }
}

impl serde::Serialize for RunTime {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.compact())
    }
}

impl<'de> serde::Deserialize<'de> for RunTime {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse_compact(&text).map_err(serde::de::Error::custom)
    }
}

impl FromStr for RunTime {
    type Err = Error;
    /// Accepts `YYYYMMDDHH` or `YYYYMMDD HH[z]`.
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        match s.split_once(char::is_whitespace) {
            Some((d, h)) => Self::parse(d, h),
            None => Self::parse_compact(s),
        }
    }
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((y + i64::from(m <= 2)) as i32, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_uses_the_compact_form_and_checks_the_calendar() {
        let r = RunTime::parse("20250801", "06").unwrap();
        assert_eq!(r.compact(), "2025080106");
        assert_eq!(serde_json::to_string(&r).unwrap(), r#""2025080106""#);
        assert_eq!(
            serde_json::from_str::<RunTime>(r#""2025080106""#).unwrap(),
            r
        );
        for bad in [
            r#""2025023100""#,
            r#""20250801""#,
            "2025080106",
            r#""2025080124""#,
        ] {
            assert!(serde_json::from_str::<RunTime>(bad).is_err(), "{bad}");
        }
        assert_eq!(RunTime::default().compact(), "1970010100");
        assert!(RunTime::parse("20250801", "00").unwrap() < r);
    }

    #[test]
    fn unix_seconds_of_known_dates() {
        assert_eq!(RunTime::new(1970, 1, 1, 0).unwrap().unix_seconds(), 0);
        // 2025-08-01T00:00:00Z
        assert_eq!(
            RunTime::parse("20250801", "00").unwrap().unix_seconds(),
            1_754_006_400
        );
        assert_eq!(
            RunTime::parse("20240229", "12").unwrap().unix_seconds(),
            1_709_208_000
        );
    }

    #[test]
    fn days_before_crosses_months_and_leap_days() {
        let r = RunTime::parse("20240301", "06").unwrap();
        assert_eq!(r.days_before(1), RunTime::new(2024, 2, 29, 6).unwrap());
        assert_eq!(r.days_before(61), RunTime::new(2023, 12, 31, 6).unwrap());
        assert_eq!(r.days_before(-306), RunTime::new(2025, 1, 1, 6).unwrap());
    }

    #[test]
    fn round_trip_through_unix_seconds() {
        for days in (-800_000..800_000).step_by(997) {
            let r = RunTime::from_unix_seconds(days * 86_400 + 18 * 3600);
            assert_eq!(RunTime::from_unix_seconds(r.unix_seconds()), r);
            assert!(RunTime::new(r.year, r.month, r.day, r.hour).is_ok());
        }
    }

    #[test]
    fn rejects_bad_dates() {
        assert!(RunTime::parse("20230229", "00").is_err());
        assert!(RunTime::parse("2023-01-01", "00").is_err());
        assert!(RunTime::parse("20230101", "24").is_err());
        assert!(RunTime::parse("2023010", "00").is_err());
        assert!("2023013100".parse::<RunTime>().is_ok());
        assert!("20230131 12z".parse::<RunTime>().is_ok());
    }

    #[test]
    fn iso_text() {
        let r = RunTime::parse("20261231", "18").unwrap();
        assert_eq!(r.iso_after_hours(6.0), "2027-01-01T00:00:00Z");
    }
}
