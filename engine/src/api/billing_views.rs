//! Plans, subscriptions, invoices and test clocks on the wire (API.md, "Billing").

use serde::Serialize;
use serde_json::{Value, json};

use crate::billing::entitlements::Grant;
use crate::domain::money::currency_code;
use crate::domain::{
    CheckoutItems, CheckoutSession, CheckoutStatus, CreditNote, Invoice, InvoiceLine, PaymentPlan,
    Plan, PluginRef, SponsorShare, Sponsorship, Subscription, TaxLine, TestClock, TransferTerms,
};

pub fn plan(plan: &Plan) -> Value {
    json!({
        "id": plan.id.as_str(),
        "object": "plan",
        "name": plan.name,
        "amount": plan.amount_minor,
        "currency": currency_code(plan.currency),
        "interval": plan.interval.unit.as_str(),
        "interval_count": plan.interval.count,
        "sku": plan.sku,
        "trial_days": plan.trial_days,
        "features": plan.features,
        "tax_behavior": plan.tax_behavior.as_str(),
        "active": plan.active,
        "metadata": plan.metadata,
        "created": plan.created,
    })
}

pub fn test_clock(clock: &TestClock) -> Value {
    json!({
        "id": clock.id.as_str(),
        "object": "test_clock",
        "frozen_time": clock.frozen_time,
        "status": clock.status.as_str(),
        "name": clock.name,
        "created": clock.created,
    })
}

/// Typed rather than a `json!` value: entitlements are read on every page load of a platform.
#[derive(Serialize)]
pub struct EntitlementView<'a> {
    object: &'static str,
    feature: &'a str,
    source: &'a str,
    expires_at: Option<i64>,
}

pub fn entitlement(grant: &Grant) -> EntitlementView<'_> {
    EntitlementView {
        object: "entitlement",
        feature: &grant.feature,
        source: &grant.source,
        expires_at: grant.expires_at,
    }
}

pub fn subscription(subscription: &Subscription) -> Value {
    json!({
        "id": subscription.id.as_str(),
        "object": "subscription",
        "customer": subscription.customer.as_str(),
        "plan": subscription.plan.as_str(),
        "quantity": subscription.quantity,
        "status": subscription.status.as_str(),
        "collection_method": subscription.collection_method.as_str(),
        "days_until_due": subscription.days_until_due,
        "current_period_start": subscription.current_period_start,
        "current_period_end": subscription.current_period_end,
        "billing_cycle_anchor": subscription.billing_cycle_anchor,
        "trial_start": subscription.trial_start,
        "trial_end": subscription.trial_end,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "canceled_at": subscription.canceled_at,
        "ended_at": subscription.ended_at,
        "latest_invoice": subscription.latest_invoice.as_ref().map(|id| id.as_str()),
        "payment_method": subscription.payment_method.as_ref().map(|id| id.as_str()),
        "resumes_at": subscription.resumes_at,
        "pending_update": subscription.pending_update.as_ref().map(|pending| json!({
            "plan": pending.plan.as_str(),
            "quantity": pending.quantity,
            "invoice": pending.invoice.as_str(),
            "expires_at": pending.expires_at,
        })),
        "discount": subscription.discount.as_ref().map(|discount| json!({
            "coupon": discount.coupon.as_str(),
            "promotion_code": discount.promotion_code.as_ref().map(|code| code.as_str()),
            "start": discount.start,
            "end": discount.end,
        })),
        "transfer": subscription.transfer.as_deref().map(transfer_terms),
        "application_fee_amount": subscription.transfer.as_ref().map(|terms| terms.application_fee_minor),
        "test_clock": subscription.test_clock.as_ref().map(|id| id.as_str()),
        "metadata": subscription.metadata,
        "created": subscription.created,
    })
}

/// An invoice; a preview (never stored) shows `id: null`.
pub fn invoice(invoice: &Invoice, preview: bool) -> Value {
    let rules = invoice.rules.as_ref();
    json!({
        "id": (!preview).then(|| invoice.id.as_str()),
        "object": "invoice",
        "number": invoice.number,
        "customer": invoice.customer.as_str(),
        "subscription": invoice.subscription.as_ref().map(|id| id.as_str()),
        "payment_plan": invoice.payment_plan.as_ref().map(|id| id.as_str()),
        "hosted_invoice_url": invoice.hosted_invoice_url,
        "status": invoice.status.as_str(),
        "billing_reason": invoice.billing_reason.as_str(),
        "currency": currency_code(invoice.currency),
        "tax_behavior": invoice.tax_behavior.as_str(),
        "lines": invoice.lines.iter().map(|line| invoice_line(invoice, line, preview)).collect::<Vec<_>>(),
        "subtotal": invoice.subtotal_minor,
        "discounts": invoice.discounts.iter().map(|discount| json!({
            "coupon": discount.code,
            "promotion_code": discount.promotion_code.as_ref().map(|code| code.as_str()),
            "amount": discount.amount_minor,
        })).collect::<Vec<_>>(),
        "discount": invoice.discount.as_ref().map(|discount| json!({
            "coupon": discount.coupon.as_str(),
            "promotion_code": discount.promotion_code.as_ref().map(|code| code.as_str()),
            "start": discount.start,
            "end": discount.end,
        })),
        "tax": invoice.tax.iter().map(tax_line).collect::<Vec<_>>(),
        "reverse_charge": invoice.reverse_charge,
        "total": invoice.total_minor,
        "balance_applied": invoice.balance_applied_minor,
        "amount_due": invoice.amount_due_minor,
        "amount_paid": invoice.amount_paid_minor,
        "pre_payment_credit_notes_amount": invoice.credited_minor,
        "post_payment_credit_notes_amount": invoice.post_payment_credited_minor,
        "amount_remaining": invoice.amount_due_minor - invoice.amount_paid_minor,
        "attempt_count": invoice.attempt_count,
        "next_payment_attempt": invoice.next_payment_attempt,
        "reminders_sent": invoice.reminders_sent,
        "next_reminder_at": invoice.next_reminder_at,
        "collection_method": invoice.collection_method.as_str(),
        "due_date": invoice.due_date,
        "charge": invoice.charge.as_ref().map(|id| id.as_str()),
        // An attempt decided but not yet recorded is under way too.
        "payment_pending": invoice.payment_pending || invoice.collecting,
        "rules": rules.map(|rules| json!({
            "pricing": plugin_ref(&rules.pricing),
            "tax": plugin_ref(&rules.tax),
            "proration": invoice.proration_rule.as_ref().map(plugin_ref),
            "evaluated_at": rules.evaluated_at,
        })),
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "created": invoice.created,
        "finalized_at": invoice.finalized_at,
        "paid_at": invoice.paid_at,
        "voided_at": invoice.voided_at,
        "archived": invoice.archived,
    })
}

pub fn payment_plan(plan: &PaymentPlan) -> Value {
    json!({
        "id": plan.id.as_str(),
        "object": "payment_plan",
        "customer": plan.customer.as_str(),
        "amount": plan.amount_minor,
        "currency": currency_code(plan.currency),
        "instalments": plan.schedule.len(),
        "interval": plan.interval.unit.as_str(),
        "start": plan.start,
        "description": plan.description,
        "payment_method": plan.payment_method.as_ref().map(|id| id.as_str()),
        "status": plan.status.as_str(),
        "schedule": plan.schedule.iter().map(|instalment| json!({
            "due": instalment.due,
            "amount": instalment.amount_minor,
            "invoice": instalment.invoice.as_ref().map(|id| id.as_str()),
            "status": instalment.status.as_str(),
        })).collect::<Vec<_>>(),
        "amount_paid": plan.amount_paid(),
        "amount_remaining": plan.amount_remaining(),
        "next_payment_attempt": plan.dunning.as_ref().and_then(|dunning| dunning.next_retry_at),
        "grants": plan.grants,
        "transfer": plan.transfer.as_deref().map(transfer_terms),
        "application_fee_amount": plan.transfer.as_ref().map(|terms| terms.application_fee_minor),
        "test_clock": plan.test_clock.as_ref().map(|id| id.as_str()),
        "metadata": plan.metadata,
        "created": plan.created,
        "canceled_at": plan.canceled_at,
        "paid_at": plan.paid_at,
    })
}

/// The payee's share of each payment, as a subscription or payment plan shows it.
fn transfer_terms(terms: &TransferTerms) -> Value {
    json!({
        "payee": terms.payee.as_str(),
        "amount": terms.amount_minor,
        "percent_bps": terms.percent_bps,
    })
}

/// A sponsorship, its status as of `now` (its beneficiary's clock).
pub fn sponsorship(sponsorship: &Sponsorship, now: i64) -> Value {
    let (percent_off_bps, amount_per_period) = match sponsorship.share {
        SponsorShare::Percent { bps } => (Some(bps), None),
        SponsorShare::PerPeriod { amount_minor } => (None, Some(amount_minor)),
    };
    json!({
        "id": sponsorship.id.as_str(),
        "object": "sponsorship",
        "sponsor": sponsorship.sponsor.as_str(),
        "beneficiary": sponsorship.beneficiary.as_str(),
        "subscription": sponsorship.subscription.as_str(),
        "currency": currency_code(sponsorship.currency),
        "percent_off_bps": percent_off_bps,
        "amount_per_period": amount_per_period,
        "cap_amount": sponsorship.cap_minor,
        "amount_used": sponsorship.used_minor,
        "status": sponsorship.status(now).as_str(),
        "on_default": sponsorship.on_default.as_str(),
        "starts_at": sponsorship.starts_at,
        "ends_at": sponsorship.ends_at,
        "ended_at": sponsorship.ended_at,
        "test_clock": sponsorship.test_clock.as_ref().map(|id| id.as_str()),
        "created": sponsorship.created,
    })
}

pub fn credit_note(note: &CreditNote) -> Value {
    json!({
        "id": note.id.as_str(),
        "object": "credit_note",
        "number": note.number,
        "customer": note.customer.as_str(),
        "invoice": note.invoice.as_str(),
        "currency": currency_code(note.currency),
        "lines": note.lines.iter().map(|line| json!({
            "invoice_line": line.invoice_line.as_str(),
            "amount": line.amount_minor,
            "tax_amounts": line.tax.iter().map(tax_line).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "subtotal": note.subtotal_minor,
        "tax": note.tax.iter().map(tax_line).collect::<Vec<_>>(),
        "amount": note.total_minor,
        "pre_payment_amount": note.pre_payment_minor,
        "refund_amount": note.refund_minor,
        "credit_amount": note.credit_minor,
        "out_of_band_amount": note.out_of_band_minor,
        "refund": note.refund.as_ref().map(|id| id.as_str()),
        "reason": note.reason,
        "created": note.created,
    })
}

fn invoice_line(invoice: &Invoice, line: &InvoiceLine, preview: bool) -> Value {
    json!({
        "id": (!preview).then(|| line.id.as_str()),
        "object": "line_item",
        "description": line.description,
        "plan": line.plan.as_ref().map(|id| id.as_str()),
        "quantity": line.quantity,
        "amount": line.amount_minor,
        "period": { "start": line.period_start, "end": line.period_end },
        "proration": line.proration,
        "discount_amounts": if line.discount_minor == 0 { Vec::new() } else { vec![json!({ "amount": line.discount_minor })] },
        "tax_amounts": line.tax.iter().map(tax_line).collect::<Vec<_>>(),
        "net_amount": line.net_amount_minor(invoice.tax_behavior),
        "sponsored_by": line.sponsored_by.as_ref().map(|id| id.as_str()),
        "amount_sponsored": line.sponsored_minor,
        "beneficiary": line.beneficiary.as_ref().map(|id| id.as_str()),
        "beneficiary_invoice": line.beneficiary_invoice.as_ref().map(|id| id.as_str()),
        "sponsorship": line.sponsorship.as_ref().map(|id| id.as_str()),
    })
}

fn tax_line(tax: &TaxLine) -> Value {
    json!({
        "name": tax.name,
        "jurisdiction": tax.jurisdiction,
        "rate_bps": tax.rate_bps,
        "amount": tax.amount_minor,
    })
}

fn plugin_ref(rule: &PluginRef) -> Value {
    json!({
        "kind": rule.kind.as_str(),
        "version": rule.version,
        "source": rule.source.as_str(),
        "sha256": rule.sha256,
    })
}

/// A checkout session, with its status as of now (see `actor::checkout::status_at`).
pub fn checkout_session(session: &CheckoutSession, status: CheckoutStatus) -> Value {
    let breakdown = session.breakdown();
    let (plan, quantity) = match &session.items {
        CheckoutItems::Plan { plan, quantity, .. } => (Some(plan.as_str()), Some(*quantity)),
        _ => (None, None),
    };
    json!({
        "id": session.id.as_str(),
        "object": "checkout_session",
        "url": session.url,
        "mode": session.mode.as_str(),
        "status": status.as_str(),
        "customer": session.customer.as_str(),
        "currency": currency_code(session.currency),
        "amount_subtotal": session.amount_subtotal_minor,
        "amount_total": session.amount_total_minor,
        "line_items": breakdown.map(|breakdown| breakdown.lines.iter().map(|line| json!({
            "sku": line.sku,
            "quantity": line.quantity,
            "amount": line.amount_minor,
        })).collect::<Vec<_>>()),
        "plan": plan,
        "quantity": quantity,
        "discounts": match (breakdown, &session.coupon) {
            (Some(breakdown), _) => breakdown.discounts.iter().map(|discount| json!({
                "coupon": discount.code,
                "amount": discount.amount_minor,
            })).collect::<Vec<_>>(),
            (None, Some(applied)) => vec![json!({
                "coupon": applied.coupon.as_str(),
                "amount": session.discount_minor(),
            })],
            (None, None) => Vec::new(),
        },
        "tax": breakdown.map_or_else(Vec::new, |breakdown| {
            breakdown.tax.iter().map(|tax| json!({
                "name": tax.name,
                "jurisdiction": tax.jurisdiction,
                "rate_bps": tax.rate_bps,
                "amount": tax.amount_minor,
            })).collect()
        }),
        "coupon": session.coupon.as_ref().map(|applied| applied.coupon.as_str()),
        "promotion_code": session.coupon.as_ref()
            .and_then(|applied| applied.promotion_code.as_ref())
            .map(|id| id.as_str()),
        "allow_promotion_codes": session.allow_promotion_codes,
        "payment_method_types": session.payment_method_types.iter()
            .map(|method| method.as_str()).collect::<Vec<_>>(),
        "charge": session.charge.as_ref().map(|id| id.as_str()),
        "subscription": session.subscription.as_ref().map(|id| id.as_str()),
        "success_url": session.success_url,
        "cancel_url": session.cancel_url,
        "expires_at": session.expires_at,
        "test_clock": session.test_clock.as_ref().map(|id| id.as_str()),
        "metadata": session.metadata,
        "created": session.created,
        "completed_at": session.completed_at,
    })
}
