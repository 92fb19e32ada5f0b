//! Reports read from the books and the subscription history, never from counters beside them:
//! revenue by day or month and currency on a cash, billings or recognized basis ([`revenue`]),
//! subscription figures — MRR, ARR, counts by plan and status, new and churned MRR per month
//! ([`subscriptions`]) — and a payee's statement ([`statement`]); [`export`] writes an account's
//! books as CSV files. Objects on test clocks are
//! left out. Periods are UTC days and months; a range is `[from, to)`.

pub mod csv;
pub mod export;
pub mod revenue;
pub mod statement;
pub mod subscriptions;

use crate::billing::periods::{civil_from_days, days_from_civil};
use crate::domain::revenue::{DAY_SECS, day_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Day,
    Month,
}

impl Granularity {
    pub fn parse(text: &str) -> Option<Granularity> {
        match text {
            "day" => Some(Granularity::Day),
            "month" => Some(Granularity::Month),
            _ => None,
        }
    }

    /// The start of the period (Unix seconds) that `day` falls in.
    pub fn period_of_day(self, day: i64) -> i64 {
        match self {
            Granularity::Day => day * DAY_SECS,
            Granularity::Month => month_start(day * DAY_SECS),
        }
    }
}

/// The start of the UTC month `at` falls in.
pub fn month_start(at: i64) -> i64 {
    let (year, month, _) = civil_from_days(day_of(at));
    days_from_civil(year, month, 1) * DAY_SECS
}

/// The start of the UTC month after the one `at` falls in.
pub fn next_month_start(at: i64) -> i64 {
    let (year, month, _) = civil_from_days(day_of(at));
    let (year, month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    days_from_civil(year, month, 1) * DAY_SECS
}

/// `amount × part ÷ whole`, rounded down, without overflow.
pub(crate) fn share(amount: i64, part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        return amount;
    }
    let share = i128::from(amount) * i128::from(part) / i128::from(whole);
    i64::try_from(share).unwrap_or(amount)
}
