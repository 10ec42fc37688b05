//! The wall clock, read in one place: the builder's time stamps (`generated_at`, NetCDF
//! `history`) and "now" for `gik latest` all come from here, so tests and replays have a
//! single thing to override and the text format is written once.

use gik_core::time::RunTime;

/// Seconds since the Unix epoch, now (0 if the system clock is before 1970).
pub fn now_unix_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The current hour as a [`RunTime`] (rounded down).
pub fn now_hour() -> RunTime {
    RunTime::from_unix_seconds(now_unix_seconds())
}

/// Now as ISO-8601 UTC text, to the second: `2026-05-12T06:41:07Z`.
pub fn now_iso() -> String {
    let secs = now_unix_seconds();
    let hour = RunTime::from_unix_seconds(secs);
    hour.iso_after_hours((secs - hour.unix_seconds()) as f64 / 3600.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_one_clock() {
        let iso = now_iso();
        assert_eq!(iso.len(), "2026-05-12T06:41:07Z".len(), "{iso}");
        assert!(iso.ends_with('Z') && iso.as_bytes()[10] == b'T', "{iso}");
        let hour = now_hour();
        assert!(now_unix_seconds() >= hour.unix_seconds());
        assert!(hour.year >= 2024, "{hour}");
    }
}
