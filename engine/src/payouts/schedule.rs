//! When a payee's schedule pays out: at 00:00 UTC of each payout day — every day, the anchor
//! day of each week (Monday unless set), or the anchor day of each month (the 1st unless set;
//! the month's last day when it is shorter). A manual schedule has no instants.

use crate::billing::periods::{civil_from_days, days_in_month};
use crate::domain::payee::WEEKDAYS;
use crate::domain::{PayoutInterval, PayoutSchedule};

const DAY_SECS: i64 = 86_400;

/// 1970-01-01 was a Thursday: Monday-first weekday 3.
const EPOCH_WEEKDAY: i64 = 3;

/// Whether the day `day` (days since 1970-01-01) is a payout day of `schedule`.
fn pays_on(schedule: &PayoutSchedule, day: i64) -> bool {
    match schedule.interval {
        PayoutInterval::Manual => false,
        PayoutInterval::Daily => true,
        PayoutInterval::Weekly => {
            let anchor = schedule.weekly_anchor.as_deref().unwrap_or(WEEKDAYS[0]);
            let anchor = WEEKDAYS.iter().position(|name| *name == anchor).unwrap_or(0) as i64;
            (day + EPOCH_WEEKDAY).rem_euclid(7) == anchor
        }
        PayoutInterval::Monthly => {
            let (year, month, day_of_month) = civil_from_days(day);
            let anchor = u32::from(schedule.monthly_anchor.unwrap_or(1));
            day_of_month == anchor.min(days_in_month(year, month))
        }
    }
}

/// The schedule's instants in `(after, up_to]`, oldest first.
pub fn instants(schedule: &PayoutSchedule, after: i64, up_to: i64) -> Vec<i64> {
    if schedule.interval == PayoutInterval::Manual || up_to <= after {
        return Vec::new();
    }
    let first = after.div_euclid(DAY_SECS) + 1;
    let last = up_to.div_euclid(DAY_SECS);
    (first..=last).filter(|day| pays_on(schedule, *day)).map(|day| day * DAY_SECS).collect()
}

/// The schedule's latest instant in `(after, up_to]`, if any: what a payout run at `up_to`
/// acts on (the instants a stopped engine missed pay out together, in the latest).
pub fn latest(schedule: &PayoutSchedule, after: i64, up_to: i64) -> Option<i64> {
    if schedule.interval == PayoutInterval::Manual || up_to <= after {
        return None;
    }
    let first = after.div_euclid(DAY_SECS) + 1;
    let last = up_to.div_euclid(DAY_SECS);
    // Every schedule pays at least once in 31 days.
    (first.max(last - 31)..=last)
        .rev()
        .find(|day| pays_on(schedule, *day))
        .map(|day| day * DAY_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::periods::unix;

    fn schedule(
        interval: PayoutInterval,
        weekly: Option<&str>,
        monthly: Option<u8>,
    ) -> PayoutSchedule {
        PayoutSchedule {
            interval,
            weekly_anchor: weekly.map(str::to_owned),
            monthly_anchor: monthly,
            delay_days: 7,
            minimum_amount: 0,
        }
    }

    #[test]
    fn weekly_payouts_fall_on_the_anchor_day_at_midnight_utc() {
        let fridays = schedule(PayoutInterval::Weekly, Some("friday"), None);
        // 2027-01-01 is a Friday.
        let found = instants(&fridays, unix(2026, 12, 31, 12, 0, 0), unix(2027, 1, 15, 0, 0, 0));
        assert_eq!(
            found,
            [unix(2027, 1, 1, 0, 0, 0), unix(2027, 1, 8, 0, 0, 0), unix(2027, 1, 15, 0, 0, 0)]
        );
        let mondays = schedule(PayoutInterval::Weekly, None, None);
        let year = instants(&mondays, unix(2027, 1, 1, 0, 0, 0), unix(2028, 1, 1, 0, 0, 0));
        assert_eq!(year.len(), 52);
    }

    #[test]
    fn a_monthly_anchor_past_the_month_end_is_clamped_and_restored() {
        let on_31st = schedule(PayoutInterval::Monthly, None, Some(31));
        let found = instants(&on_31st, unix(2027, 1, 1, 0, 0, 0), unix(2027, 4, 1, 0, 0, 0));
        assert_eq!(
            found,
            [unix(2027, 1, 31, 0, 0, 0), unix(2027, 2, 28, 0, 0, 0), unix(2027, 3, 31, 0, 0, 0)]
        );
    }

    #[test]
    fn the_latest_instant_is_the_one_a_late_run_acts_on() {
        let daily = schedule(PayoutInterval::Daily, None, None);
        let now = unix(2027, 3, 10, 15, 0, 0);
        assert_eq!(
            latest(&daily, unix(2027, 3, 1, 0, 0, 0), now),
            Some(unix(2027, 3, 10, 0, 0, 0))
        );
        assert_eq!(latest(&daily, unix(2027, 3, 10, 0, 0, 0), now), None, "acted on already");
        let manual = schedule(PayoutInterval::Manual, None, None);
        assert_eq!(latest(&manual, 0, now), None);
    }
}
