//! The lines a subscription puts on its invoices, described as a school's bursar reads them.

use super::invoicing::{DraftAmount, DraftLine};
use super::periods::civil_from_days;
use crate::domain::{LineDiscount, PendingLine, Plan, PluginRef};

/// The plan's line for a whole period `[start, end)`: priced by the pricing rule.
pub fn plan_line(plan: &Plan, quantity: u32, start: i64, end: i64) -> DraftLine {
    DraftLine {
        description: format!("{quantity} × {} ({} – {})", plan.name, date(start), date(end)),
        plan: Some(plan.id.clone()),
        quantity,
        period_start: start,
        period_end: end,
        amount: DraftAmount::Priced { sku: plan.sku.clone(), unit_amount_minor: plan.amount_minor },
    }
}

/// A proration waiting for an invoice, as a line of it.
pub fn pending_line(pending: &PendingLine) -> DraftLine {
    DraftLine {
        description: pending.description.clone(),
        plan: Some(pending.plan.clone()),
        quantity: pending.quantity,
        period_start: pending.period_start,
        period_end: pending.period_end,
        amount: DraftAmount::Fixed {
            amount_minor: pending.amount_minor,
            sku: pending.sku.clone(),
            rule: pending.rule.clone(),
            discount: pending.discount.clone(),
        },
    }
}

/// The credit for the unused rest of a period on `plan`, from `at`.
pub fn unused_time(
    plan: &Plan,
    quantity: u32,
    credit_minor: i64,
    (at, end): (i64, i64),
    rule: &PluginRef,
) -> PendingLine {
    PendingLine {
        description: format!("Unused time on {quantity} × {} after {}", plan.name, date(at)),
        plan: plan.id.clone(),
        sku: plan.sku.clone(),
        quantity,
        amount_minor: -credit_minor,
        period_start: at,
        period_end: end,
        rule: Some(rule.clone()),
        discount: None,
    }
}

/// The charge for the rest of a period on `plan`, from `at`: `charge_minor` before the
/// subscription's coupon, and the coupon's share of it.
pub fn remaining_time(
    plan: &Plan,
    quantity: u32,
    (charge_minor, discount): (i64, Option<LineDiscount>),
    (at, end): (i64, i64),
    rule: &PluginRef,
) -> PendingLine {
    PendingLine {
        description: format!("Remaining time on {quantity} × {} after {}", plan.name, date(at)),
        plan: plan.id.clone(),
        sku: plan.sku.clone(),
        quantity,
        amount_minor: charge_minor,
        period_start: at,
        period_end: end,
        rule: Some(rule.clone()),
        discount,
    }
}

/// `YYYY-MM-DD` in UTC.
pub fn date(instant: i64) -> String {
    let (year, month, day) = civil_from_days(instant.div_euclid(86_400));
    format!("{year:04}-{month:02}-{day:02}")
}
