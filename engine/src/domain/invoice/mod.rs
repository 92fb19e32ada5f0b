//! An invoice: what a customer owes for a period (or a change), priced and taxed by the
//! account's rules. `draft → open → paid | void | uncollectible`; a number is given only at
//! finalization, from the customer's own sequence, so numbers have no gaps.

use serde::{Deserialize, Serialize};

use super::{
    ChargeId, CollectionMethod, CouponId, Currency, CustomerId, Discount, InvoiceDiscount,
    InvoiceId, InvoiceLineId, PaymentPlanId, PlanId, PluginRef, RuleEvaluation, SponsorshipId,
    SubscriptionId, TaxBehavior, TaxLine,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InvoiceStatus {
    Draft,
    Open,
    Paid,
    Void,
    Uncollectible,
}

impl InvoiceStatus {
    pub fn parse(text: &str) -> Option<InvoiceStatus> {
        match text {
            "draft" => Some(InvoiceStatus::Draft),
            "open" => Some(InvoiceStatus::Open),
            "paid" => Some(InvoiceStatus::Paid),
            "void" => Some(InvoiceStatus::Void),
            "uncollectible" => Some(InvoiceStatus::Uncollectible),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
            InvoiceStatus::Uncollectible => "uncollectible",
        }
    }

    /// Money may still be collected for it.
    pub fn is_collectible(self) -> bool {
        matches!(self, InvoiceStatus::Open | InvoiceStatus::Uncollectible)
    }
}

/// Why the invoice was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BillingReason {
    SubscriptionCreate,
    SubscriptionCycle,
    SubscriptionUpdate,
    /// An instalment of a payment plan (or the rest of them, paid early).
    PaymentPlan,
    /// A sponsor's shares of its beneficiaries' invoices of one month.
    Sponsorship,
}

impl BillingReason {
    pub fn as_str(self) -> &'static str {
        match self {
            BillingReason::SubscriptionCreate => "subscription_create",
            BillingReason::SubscriptionCycle => "subscription_cycle",
            BillingReason::SubscriptionUpdate => "subscription_update",
            BillingReason::PaymentPlan => "payment_plan",
            BillingReason::Sponsorship => "sponsorship",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    pub id: InvoiceLineId,
    pub description: String,
    pub plan: Option<PlanId>,
    pub quantity: u32,
    /// As priced (a credit is negative); tax-inclusive when the invoice's tax is inclusive.
    pub amount_minor: i64,
    pub period_start: i64,
    pub period_end: i64,
    pub proration: bool,
    /// The line's share of the invoice's discounts.
    pub discount_minor: i64,
    /// The line's tax (negative on a credit), one entry per tax line of the invoice it adds to.
    pub tax: Vec<TaxLine>,
    /// On a beneficiary's invoice, the line that is a sponsor's share (negative, untaxed: the
    /// sponsor is taxed on it on its own invoice), and how much of it was given back since.
    #[serde(default)]
    pub sponsored_by: Option<SponsorshipId>,
    #[serde(default)]
    pub sponsor_returned_minor: i64,
    /// The part of this line, after its discounts and before tax, that sponsors pay: the
    /// line's tax is the tax of the rest.
    #[serde(default)]
    pub sponsored_minor: i64,
    /// On a sponsor's invoice, whose invoice the line is the sponsor's share of, and under
    /// which sponsorship.
    #[serde(default)]
    pub beneficiary: Option<CustomerId>,
    #[serde(default)]
    pub beneficiary_invoice: Option<InvoiceId>,
    #[serde(default)]
    pub sponsorship: Option<SponsorshipId>,
}

impl InvoiceLine {
    /// What the line is before tax, after its discounts: what a later credit is a share of.
    pub fn net_amount_minor(&self, tax_behavior: TaxBehavior) -> i64 {
        let after_discount = self.amount_minor - self.discount_minor - self.sponsored_minor;
        match tax_behavior {
            TaxBehavior::Exclusive => after_discount,
            TaxBehavior::Inclusive => {
                after_discount - self.tax.iter().map(|tax| tax.amount_minor).sum::<i64>()
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    pub id: InvoiceId,
    pub number: Option<String>,
    pub customer: CustomerId,
    pub subscription: Option<SubscriptionId>,
    pub status: InvoiceStatus,
    pub billing_reason: BillingReason,
    pub currency: Currency,
    pub tax_behavior: TaxBehavior,
    pub lines: Vec<InvoiceLine>,
    pub subtotal_minor: i64,
    pub discounts: Vec<Discount>,
    pub tax: Vec<TaxLine>,
    /// subtotal − discounts (+ tax when exclusive); may be negative (a credit).
    pub total_minor: i64,
    /// Customer credit applied to it (positive), or a debit balance added (negative).
    pub balance_applied_minor: i64,
    pub amount_due_minor: i64,
    pub amount_paid_minor: i64,
    pub attempt_count: u32,
    pub collection_method: CollectionMethod,
    pub due_date: Option<i64>,
    /// The latest charge made to pay it.
    pub charge: Option<ChargeId>,
    /// Its latest charge is not final (M-Pesa, bank transfer, 3-D Secure): no new attempt yet.
    pub payment_pending: bool,
    /// An automatic payment attempt is decided but its charge not yet recorded: what a restart
    /// resumes (the attempt's Idempotency-Key makes it happen once).
    pub collecting: bool,
    pub rules: Option<RuleEvaluation>,
    /// The proration rule that computed its proration lines, if it has any.
    #[serde(default)]
    pub proration_rule: Option<PluginRef>,
    pub period_start: i64,
    pub period_end: i64,
    pub created: i64,
    pub finalized_at: Option<i64>,
    pub paid_at: Option<i64>,
    pub voided_at: Option<i64>,
    /// Credit for the period given while the invoice was open: it lowered `amount_due`.
    #[serde(default)]
    pub credited_minor: i64,
    /// What credit notes gave back after it was paid (refunded, credited, or settled outside).
    #[serde(default)]
    pub post_payment_credited_minor: i64,
    /// When a failed payment is next tried again (dunning), if it is.
    #[serde(default)]
    pub next_payment_attempt: Option<i64>,
    /// A `send_invoice` invoice past its due date: reminders (`invoice.overdue`) made so far,
    /// and when the next one is, if another is planned.
    #[serde(default)]
    pub reminders_sent: u32,
    #[serde(default)]
    pub next_reminder_at: Option<i64>,
    /// The tax rule said the buyer accounts for the tax (EU B2B across borders): the invoice
    /// and its receipt say so.
    #[serde(default)]
    pub reverse_charge: bool,
    /// The subscription's coupon, when it discounted this invoice.
    #[serde(default)]
    pub discount: Option<InvoiceDiscount>,
    /// The payment plan whose instalment(s) it collects.
    #[serde(default)]
    pub payment_plan: Option<PaymentPlanId>,
    /// A `send_invoice` invoice's page, where the customer pays it (`GET /invoice/{token}`):
    /// its link, and the 128 random bits that are the link's only credential.
    #[serde(default)]
    pub hosted_invoice_url: Option<String>,
    #[serde(default)]
    pub page_token: Option<String>,
    /// A sponsor's invoice still unpaid when its grace ended: when its sponsorships' `on_default`
    /// was carried out.
    #[serde(default)]
    pub sponsor_defaulted_at: Option<i64>,
    /// Its card page at the processor, while one may take money, and how many were closed
    /// before (see [`super::checkout::HostedPage`]).
    #[serde(default)]
    pub hosted_page: Option<super::HostedPage>,
    #[serde(default)]
    pub hosted_pages_closed: u32,
    /// Revenue of its service periods is recognized up to this instant in the books (see
    /// `ledger::accrual`); `None`: up to its finalization.
    #[serde(default)]
    pub recognized_through: Option<i64>,
    /// Read back from the archive (see `store::archive`); never stored.
    #[serde(skip)]
    pub archived: bool,
}

/// A new invoice page's token: 128 random bits, written as 26 Crockford base-32 characters.
pub fn new_page_token() -> String {
    ulid::Ulid::from(rand::random::<u128>()).to_string()
}

impl Invoice {
    /// The Idempotency-Key of the charge of payment attempt `attempt`: derived, so a retried
    /// attempt (after a crash, or a request sent again) finds the charge it made.
    pub fn attempt_key(&self, attempt: u32) -> String {
        format!("kassa:invoice:{}:attempt:{attempt}", self.id)
    }

    /// The line that bills a period of the plan (not a proration, not a rounding).
    pub fn period_line(&self) -> Option<&InvoiceLine> {
        self.lines.iter().rev().find(|line| line.plan.is_some() && !line.proration)
    }

    /// Whether `coupon` took something off it.
    pub fn discounted_by(&self, coupon: &CouponId) -> bool {
        Discount::any_of(&self.discounts, coupon)
    }

    /// Its lines that are sponsors' shares.
    pub fn sponsor_lines(&self) -> impl Iterator<Item = &InvoiceLine> {
        self.lines.iter().filter(|line| line.sponsored_by.is_some())
    }

    /// What the period's line came to after its discounts, before tax: what a later change's
    /// credit is the unused share of.
    pub fn period_line_amount(&self) -> i64 {
        self.period_line().map_or(0, |line| line.amount_minor - line.discount_minor)
    }
}

#[cfg(test)]
pub mod fixtures;
