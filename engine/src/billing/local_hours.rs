//! The hours of the day, in the account's time zone, when a payment that prompts a person may
//! be tried again: an M-Pesa STK Push rings a parent's phone, so a retry due at 3 a.m. waits
//! for the morning (`billing.dunning.local_hours`, `billing.timezone`).

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocalHoursError {
    #[error("`{0}` is not an IANA time zone (such as Africa/Nairobi)")]
    Zone(String),
    #[error("[{0}, {1}] is not a range of hours: from 0 to 23, before to, at most 24")]
    Hours(u8, u8),
}

#[derive(Debug, Clone)]
pub struct LocalHours {
    zone: TimeZone,
    /// From this hour, inclusive…
    start: i8,
    /// …to this one, exclusive (24: midnight).
    end: i8,
}

impl LocalHours {
    /// `zone` is an IANA name (`Africa/Nairobi`); hours `[start, end)` with 0 ≤ start < end ≤ 24.
    pub fn new(zone: &str, start: u8, end: u8) -> Result<LocalHours, LocalHoursError> {
        let zone = TimeZone::get(zone).map_err(|_| LocalHoursError::Zone(zone.to_owned()))?;
        if start >= end || end > 24 {
            return Err(LocalHoursError::Hours(start, end));
        }
        Ok(LocalHours { zone, start: start as i8, end: end as i8 })
    }

    /// `at` (Unix seconds) if it falls within the hours, else the next start of them.
    pub fn next_within(&self, at: i64) -> i64 {
        let Ok(instant) = Timestamp::from_second(at) else { return at };
        let local = instant.to_zoned(self.zone.clone());
        let hour = local.hour();
        if (self.start..self.end).contains(&hour) {
            return at;
        }
        let day = match hour < self.start {
            true => local.date(),
            false => local.date().tomorrow().unwrap_or(local.date()),
        };
        self.opening(day).unwrap_or(at)
    }

    /// The first second of the hours on `day` (the zone's rules decide a time a clock change
    /// skips: the later reading).
    fn opening(&self, day: Date) -> Option<i64> {
        let zoned = day.at(self.start, 0, 0, 0).to_zoned(self.zone.clone()).ok()?;
        Some(zoned.timestamp().as_second())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_second()
    }

    #[test]
    fn a_retry_at_night_in_nairobi_waits_for_eight_in_the_morning() {
        let hours = LocalHours::new("Africa/Nairobi", 8, 20).unwrap();
        // 00:00 UTC is 03:00 in Nairobi (UTC+3): moved to 08:00 local, 05:00 UTC.
        assert_eq!(hours.next_within(utc("2025-04-01T00:00:00Z")), utc("2025-04-01T05:00:00Z"));
        // 17:00 UTC is 20:00 local, the end: the next morning.
        assert_eq!(hours.next_within(utc("2025-04-01T17:00:00Z")), utc("2025-04-02T05:00:00Z"));
        // 16:59:59 UTC is 19:59:59 local: within.
        let last = utc("2025-04-01T16:59:59Z");
        assert_eq!(hours.next_within(last), last);
    }

    #[test]
    fn the_hours_follow_a_zone_with_summer_time() {
        let hours = LocalHours::new("Europe/Berlin", 9, 17).unwrap();
        // Winter: UTC+1; summer: UTC+2.
        assert_eq!(hours.next_within(utc("2025-01-15T02:00:00Z")), utc("2025-01-15T08:00:00Z"));
        assert_eq!(hours.next_within(utc("2025-07-15T02:00:00Z")), utc("2025-07-15T07:00:00Z"));
    }

    #[test]
    fn bad_zones_and_ranges_are_refused() {
        assert!(LocalHours::new("Mars/Olympus", 8, 20).is_err());
        assert!(LocalHours::new("UTC", 20, 8).is_err());
        assert!(LocalHours::new("UTC", 8, 25).is_err());
        assert!(LocalHours::new("UTC", 0, 24).is_ok());
    }
}
