//! Billing periods to the second, in UTC, from an anchor.
//!
//! Every boundary is computed from the anchor itself (`boundary(anchor, interval, k)`), never
//! from the previous boundary: a monthly anchor on the 31st falls on the 28th/29th of February
//! and on the 30th of April, and is back on the 31st in March and May. The time of day of the
//! anchor is kept, so periods are exact to the second.

use serde::{Deserialize, Serialize};

const SECS_PER_DAY: i64 = 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntervalUnit {
    Day,
    Week,
    Month,
    Year,
}

impl IntervalUnit {
    pub fn parse(text: &str) -> Option<IntervalUnit> {
        match text {
            "day" => Some(IntervalUnit::Day),
            "week" => Some(IntervalUnit::Week),
            "month" => Some(IntervalUnit::Month),
            "year" => Some(IntervalUnit::Year),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IntervalUnit::Day => "day",
            IntervalUnit::Week => "week",
            IntervalUnit::Month => "month",
            IntervalUnit::Year => "year",
        }
    }

    /// The largest `interval_count` the contract admits for the unit.
    pub fn count_max(self) -> u32 {
        match self {
            IntervalUnit::Day => 365,
            IntervalUnit::Week => 52,
            IntervalUnit::Month => 12,
            IntervalUnit::Year => 3,
        }
    }
}

/// A plan's billing interval: `count` × `unit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interval {
    pub unit: IntervalUnit,
    pub count: u32,
}

impl Interval {
    /// The `k`-th period boundary after `anchor` (`k` may be negative: boundaries before it).
    pub fn boundary(self, anchor: i64, k: i64) -> i64 {
        let steps = k * i64::from(self.count);
        match self.unit {
            IntervalUnit::Day => anchor + steps * SECS_PER_DAY,
            IntervalUnit::Week => anchor + steps * 7 * SECS_PER_DAY,
            IntervalUnit::Month => add_months(anchor, steps),
            IntervalUnit::Year => add_months(anchor, steps * 12),
        }
    }

    /// The first boundary strictly after `instant`.
    pub fn next_boundary_after(self, anchor: i64, instant: i64) -> i64 {
        let mut k = self.estimate_index(anchor, instant);
        while self.boundary(anchor, k) > instant {
            k -= 1;
        }
        while self.boundary(anchor, k) <= instant {
            k += 1;
        }
        self.boundary(anchor, k)
    }

    /// The last boundary at or before `instant`.
    pub fn boundary_at_or_before(self, anchor: i64, instant: i64) -> i64 {
        let next = self.next_boundary_after(anchor, instant);
        let k = self.estimate_index(anchor, next);
        // `next` is a boundary; find its index exactly, then step back one.
        let index = (k - 2..=k + 2).find(|index| self.boundary(anchor, *index) == next);
        let index = index.expect("a boundary's index is within two of its estimate");
        self.boundary(anchor, index - 1)
    }

    /// The period `[start, end)` of this interval that contains `instant`.
    pub fn period_containing(self, anchor: i64, instant: i64) -> (i64, i64) {
        (self.boundary_at_or_before(anchor, instant), self.next_boundary_after(anchor, instant))
    }

    /// A guess of the index of the boundary nearest `instant`, within one or two.
    fn estimate_index(self, anchor: i64, instant: i64) -> i64 {
        let count = i64::from(self.count);
        match self.unit {
            IntervalUnit::Day => (instant - anchor).div_euclid(SECS_PER_DAY * count),
            IntervalUnit::Week => (instant - anchor).div_euclid(7 * SECS_PER_DAY * count),
            IntervalUnit::Month | IntervalUnit::Year => {
                let months = match self.unit {
                    IntervalUnit::Year => 12 * count,
                    _ => count,
                };
                let (year_a, month_a, _) = civil_from_days(anchor.div_euclid(SECS_PER_DAY));
                let (year_b, month_b, _) = civil_from_days(instant.div_euclid(SECS_PER_DAY));
                let between = (year_b - year_a) * 12 + (i64::from(month_b) - i64::from(month_a));
                between.div_euclid(months)
            }
        }
    }
}

/// `instant` moved by `months` calendar months, its day clamped to the target month's length
/// and its time of day kept.
pub fn add_months(instant: i64, months: i64) -> i64 {
    let days = instant.div_euclid(SECS_PER_DAY);
    let time_of_day = instant.rem_euclid(SECS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let month_index = year * 12 + i64::from(month) - 1 + months;
    let target_year = month_index.div_euclid(12);
    let target_month = (month_index.rem_euclid(12) + 1) as u32;
    let target_day = day.min(days_in_month(target_year, target_month));
    days_from_civil(target_year, target_month, target_day) * SECS_PER_DAY + time_of_day
}

pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => unreachable!("month {month} out of 1..=12"),
    }
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day number since 1970-01-01 (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Unix seconds of a UTC date and time, for tests and tools.
pub fn unix(year: i64, month: u32, day: u32, hour: i64, minute: i64, second: i64) -> i64 {
    days_from_civil(year, month, day) * SECS_PER_DAY + hour * 3600 + minute * 60 + second
}

#[cfg(test)]
mod tests {
    use super::*;

    const MONTHLY: Interval = Interval { unit: IntervalUnit::Month, count: 1 };
    const YEARLY: Interval = Interval { unit: IntervalUnit::Year, count: 1 };

    fn date(instant: i64) -> (i64, u32, u32) {
        civil_from_days(instant.div_euclid(SECS_PER_DAY))
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-800_000, -1, 0, 1, 11_016, 19_782, 2_932_896] {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
        assert_eq!(unix(1970, 1, 1, 0, 0, 0), 0);
        assert_eq!(unix(2024, 2, 29, 0, 0, 0), 1_709_164_800);
    }

    #[test]
    fn a_month_end_anchor_clamps_and_returns() {
        let anchor = unix(2024, 1, 31, 10, 0, 0);
        let days: Vec<(i64, u32, u32)> =
            (0..=13).map(|k| date(MONTHLY.boundary(anchor, k))).collect();
        assert_eq!(
            days,
            vec![
                (2024, 1, 31),
                (2024, 2, 29),
                (2024, 3, 31),
                (2024, 4, 30),
                (2024, 5, 31),
                (2024, 6, 30),
                (2024, 7, 31),
                (2024, 8, 31),
                (2024, 9, 30),
                (2024, 10, 31),
                (2024, 11, 30),
                (2024, 12, 31),
                (2025, 1, 31),
                (2025, 2, 28),
            ]
        );
        for k in 0..=13 {
            assert_eq!(MONTHLY.boundary(anchor, k).rem_euclid(SECS_PER_DAY), 10 * 3600);
        }
    }

    #[test]
    fn a_leap_day_yearly_anchor_comes_back_in_the_next_leap_year() {
        let anchor = unix(2024, 2, 29, 0, 0, 0);
        assert_eq!(date(YEARLY.boundary(anchor, 1)), (2025, 2, 28));
        assert_eq!(date(YEARLY.boundary(anchor, 3)), (2027, 2, 28));
        assert_eq!(date(YEARLY.boundary(anchor, 4)), (2028, 2, 29));
    }

    #[test]
    fn the_next_boundary_is_strictly_after_and_periods_contain_their_instant() {
        let anchor = unix(2024, 1, 30, 8, 30, 15);
        let feb_end = MONTHLY.boundary(anchor, 1);
        assert_eq!(MONTHLY.next_boundary_after(anchor, anchor), feb_end);
        assert_eq!(MONTHLY.next_boundary_after(anchor, feb_end - 1), feb_end);
        assert_eq!(MONTHLY.next_boundary_after(anchor, feb_end), MONTHLY.boundary(anchor, 2));
        assert_eq!(
            MONTHLY.period_containing(anchor, feb_end),
            (feb_end, MONTHLY.boundary(anchor, 2))
        );
        assert_eq!(MONTHLY.period_containing(anchor, feb_end - 1), (anchor, feb_end));
        let weekly = Interval { unit: IntervalUnit::Week, count: 2 };
        assert_eq!(weekly.next_boundary_after(anchor, anchor + 1), anchor + 14 * SECS_PER_DAY);
        assert_eq!(weekly.period_containing(anchor, anchor - 1).0, anchor - 14 * SECS_PER_DAY);
    }
}
