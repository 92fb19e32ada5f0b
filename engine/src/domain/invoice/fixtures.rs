//! Invoices for unit tests: a paid invoice of the given lines, in rand, with VAT.

use super::*;
use crate::domain::{Currency, InvoiceLineId};

const VAT: u32 = 1_500;

pub fn vat(amount_minor: i64) -> TaxLine {
    TaxLine { name: "VAT".into(), jurisdiction: "ZA".into(), rate_bps: VAT, amount_minor }
}

pub fn line(amount_minor: i64, discount_minor: i64, tax: i64) -> InvoiceLine {
    InvoiceLine {
        id: InvoiceLineId::generate(),
        description: "School plan".into(),
        plan: None,
        quantity: 1,
        amount_minor,
        period_start: 0,
        period_end: 1,
        proration: false,
        discount_minor,
        tax: vec![vat(tax)],
        sponsored_by: None,
        sponsor_returned_minor: 0,
        sponsored_minor: 0,
        beneficiary: None,
        beneficiary_invoice: None,
        sponsorship: None,
    }
}

pub fn invoice(behavior: TaxBehavior, lines: Vec<InvoiceLine>) -> Invoice {
    let subtotal_minor = lines.iter().map(|line| line.amount_minor).sum();
    let tax_minor: i64 = lines.iter().flat_map(|line| &line.tax).map(|tax| tax.amount_minor).sum();
    let discount_minor: i64 = lines.iter().map(|line| line.discount_minor).sum();
    let total_minor = match behavior {
        TaxBehavior::Exclusive => subtotal_minor - discount_minor + tax_minor,
        TaxBehavior::Inclusive => subtotal_minor - discount_minor,
    };
    Invoice {
        id: InvoiceId::generate(),
        number: Some("ABCD2345-0001".into()),
        customer: CustomerId::generate(),
        subscription: None,
        status: InvoiceStatus::Paid,
        billing_reason: BillingReason::SubscriptionCycle,
        currency: Currency::ZAR,
        tax_behavior: behavior,
        lines,
        subtotal_minor,
        discounts: Vec::new(),
        tax: vec![vat(tax_minor)],
        total_minor,
        balance_applied_minor: 0,
        amount_due_minor: total_minor,
        amount_paid_minor: total_minor,
        attempt_count: 1,
        collection_method: CollectionMethod::ChargeAutomatically,
        due_date: None,
        charge: None,
        payment_pending: false,
        collecting: false,
        rules: None,
        proration_rule: None,
        period_start: 0,
        period_end: 1,
        created: 0,
        finalized_at: Some(0),
        paid_at: Some(0),
        voided_at: None,
        credited_minor: 0,
        post_payment_credited_minor: 0,
        next_payment_attempt: None,
        reminders_sent: 0,
        next_reminder_at: None,
        reverse_charge: false,
        discount: None,
        payment_plan: None,
        hosted_invoice_url: None,
        page_token: None,
        sponsor_defaulted_at: None,
        hosted_page: None,
        hosted_pages_closed: 0,
        recognized_through: None,
        archived: false,
    }
}
