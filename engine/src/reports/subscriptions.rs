//! Subscription figures from the subscriptions themselves: MRR and ARR as of the end of the
//! range, counts by plan and status, and each month's new and churned MRR.
//!
//! A subscription's MRR is its plan's amount times its quantity, brought to a month (a yearly
//! plan's twelfth, a weekly plan's 52/12, rounded half up); it counts from when it started to
//! pay (the end of its trial, or its start) until it ended. One that never paid (incomplete)
//! counts nowhere but in the status counts. Discounts are not taken off.

use std::collections::{BTreeMap, HashMap};

use super::{month_start, next_month_start};
use crate::billing::periods::IntervalUnit;
use crate::domain::{
    AccountId, Currency, Plan, PlanId, Subscription, SubscriptionStatus, TestClockId,
};
use crate::store::{Store, StoreError};

/// One plan's subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanFigures {
    pub plan: PlanId,
    pub currency: Currency,
    /// How many are in each status now.
    pub by_status: BTreeMap<&'static str, u64>,
    /// Their MRR as of the end of the range.
    pub mrr: i64,
}

/// One month's movement, per currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthFigures {
    pub month_start: i64,
    pub currency: Currency,
    pub new_mrr: i64,
    pub churned_mrr: i64,
    /// MRR at the month's end (or the range's, if sooner).
    pub mrr: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionFigures {
    /// Per currency, as of the end of the range.
    pub mrr: BTreeMap<String, (Currency, i64)>,
    pub plans: Vec<PlanFigures>,
    pub months: Vec<MonthFigures>,
}

/// A subscription as the figures see it.
struct Paying {
    currency: Currency,
    mrr: i64,
    /// When it started to pay, if it ever did.
    from: Option<i64>,
    ended: Option<i64>,
}

impl Paying {
    fn at(&self, instant: i64) -> i64 {
        let started = self.from.is_some_and(|from| from <= instant);
        let running = self.ended.is_none_or(|ended| ended > instant);
        if started && running { self.mrr } else { 0 }
    }
}

/// The figures of the subscriptions on no test clock, or on `test_clock` alone.
pub fn figures(
    store: &dyn Store,
    account: &AccountId,
    test_clock: Option<&TestClockId>,
    from: i64,
    to: i64,
) -> Result<SubscriptionFigures, StoreError> {
    let mut plans: HashMap<PlanId, Option<Plan>> = HashMap::new();
    let mut paying = Vec::new();
    let mut by_plan: BTreeMap<String, PlanFigures> = BTreeMap::new();
    store.each_subscription(account, &mut |subscription| {
        if subscription.test_clock.as_ref() != test_clock {
            return Ok(());
        }
        let plan = match plans.get(&subscription.plan) {
            Some(plan) => plan.clone(),
            None => {
                let plan = store.plan(account, &subscription.plan)?;
                plans.insert(subscription.plan.clone(), plan.clone());
                plan
            }
        };
        let Some(plan) = plan else { return Ok(()) };
        let counted = Paying {
            currency: plan.currency,
            mrr: monthly(&plan, subscription.quantity),
            from: paying_from(&subscription),
            ended: subscription.ended_at,
        };
        let figures = by_plan.entry(plan.id.as_str().to_owned()).or_insert(PlanFigures {
            plan: plan.id.clone(),
            currency: plan.currency,
            by_status: BTreeMap::new(),
            mrr: 0,
        });
        *figures.by_status.entry(subscription.status.as_str()).or_default() += 1;
        figures.mrr += counted.at(to - 1);
        paying.push(counted);
        Ok(())
    })?;
    let mut mrr: BTreeMap<String, (Currency, i64)> = BTreeMap::new();
    for counted in &paying {
        let code = crate::domain::money::currency_code(counted.currency);
        mrr.entry(code).or_insert((counted.currency, 0)).1 += counted.at(to - 1);
    }
    Ok(SubscriptionFigures {
        mrr,
        plans: by_plan.into_values().collect(),
        months: months(&paying, from, to),
    })
}

fn months(paying: &[Paying], from: i64, to: i64) -> Vec<MonthFigures> {
    let mut months = Vec::new();
    let mut month = month_start(from);
    while month < to {
        let end = next_month_start(month);
        let last = end.min(to) - 1;
        let mut figures: BTreeMap<String, MonthFigures> = BTreeMap::new();
        for counted in paying {
            let code = crate::domain::money::currency_code(counted.currency);
            let row = figures.entry(code).or_insert(MonthFigures {
                month_start: month,
                currency: counted.currency,
                new_mrr: 0,
                churned_mrr: 0,
                mrr: 0,
            });
            let within = |at: Option<i64>| at.is_some_and(|at| at >= month && at < end && at < to);
            if within(counted.from) {
                row.new_mrr += counted.mrr;
            }
            if within(counted.ended)
                && counted.from.is_some_and(|from| from < counted.ended.unwrap_or(i64::MAX))
            {
                row.churned_mrr += counted.mrr;
            }
            row.mrr += counted.at(last);
        }
        months.extend(figures.into_values());
        month = end;
    }
    months
}

/// When the subscription started to pay: the end of its trial, or its start; never, for one
/// whose first invoice was never paid.
fn paying_from(subscription: &Subscription) -> Option<i64> {
    match subscription.status {
        SubscriptionStatus::Incomplete | SubscriptionStatus::IncompleteExpired => None,
        _ => {
            let trial_end = subscription.trial_end.filter(|end| *end > subscription.created);
            let from = trial_end.unwrap_or(subscription.created);
            // A trial canceled before it ended never paid.
            match subscription.ended_at {
                Some(ended) if ended <= from => None,
                _ => Some(from),
            }
        }
    }
}

/// The plan's amount for `quantity`, brought to a month, rounded half up.
pub fn monthly(plan: &Plan, quantity: u32) -> i64 {
    let amount = i128::from(plan.amount_minor) * i128::from(quantity);
    let count = i128::from(plan.interval.count.max(1));
    let (numerator, denominator) = match plan.interval.unit {
        IntervalUnit::Month => (amount, count),
        IntervalUnit::Year => (amount, 12 * count),
        IntervalUnit::Week => (amount * 52, 12 * count),
        IntervalUnit::Day => (amount * 365, 12 * count),
    };
    i64::try_from((2 * numerator + denominator) / (2 * denominator)).unwrap_or(i64::MAX)
}
