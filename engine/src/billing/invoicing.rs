//! An invoice's amounts, from the account's rules, exactly as a priced charge gets them: the
//! pricing rule prices the plan lines (so a tiered seat price is the rule's, not a special
//! case), discounts are spread over them, and the tax rule taxes each line. Proration lines
//! carry amounts the proration rule already computed and are taxed, not priced again; a
//! credit's tax is the tax of its amount, negated.
//!
//! Tax-inclusive lines (consumer prices in ZA and KE) keep their amount: the tax rule gives each
//! line's rates, and the tax inside the price is extracted from it, half-up per line.
//!
//! A sponsor's share comes after the coupon and before tax: each line keeps the part sponsors
//! pay (`sponsored_minor`) and is taxed on the rest, and each sponsor's share is a line of its
//! own, untaxed here, since the sponsor is taxed on it on its own invoice.
//!
//! Rules are called here inside the customer's actor turn, through [`TurnRules`]: an invoice is
//! made inside the turn that decides it, so the numbers cannot drift from the state they were
//! computed for, and a call too long for the actor's thread is made on the rule threads first.

use crate::domain::PluginRef;
use crate::domain::Sponsorship;
use crate::domain::{
    AccountId, BillingReason, CollectionMethod, Currency, Customer, CustomerId, Discount, Invoice,
    InvoiceDiscount, InvoiceId, InvoiceLine, InvoiceLineId, InvoiceStatus, LineDiscount,
    PaymentPlanId, PlanId, PluginKind, RuleEvaluation, SponsorshipId, SubscriptionDiscount,
    SubscriptionId, TaxBehavior, TaxLine,
};
use crate::rules::CallError;
use crate::rules::quote::{customer_context, spread_discount};
use crate::rules::turn::{TurnCallError, TurnRules};
use crate::rules::types::{
    LineItem, PricingCoupon, PricingRequest, ProrationRequest, TaxRequest, TaxableLine,
};

/// A line to put on an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftLine {
    pub description: String,
    pub plan: Option<PlanId>,
    pub quantity: u32,
    pub period_start: i64,
    pub period_end: i64,
    pub amount: DraftAmount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DraftAmount {
    /// Priced by the pricing rule: `quantity` of `sku` at `unit_amount_minor` each.
    Priced { sku: String, unit_amount_minor: i64 },
    /// Already computed (a proration) by `rule`; negative for a credit. A coupon's share of it,
    /// prorated with it, is the line's discount.
    Fixed {
        amount_minor: i64,
        sku: String,
        rule: Option<PluginRef>,
        discount: Option<LineDiscount>,
    },
}

/// What an invoice's lines come to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    pub lines: Vec<InvoiceLine>,
    pub subtotal_minor: i64,
    pub discounts: Vec<Discount>,
    pub tax: Vec<TaxLine>,
    pub total_minor: i64,
    pub rules: RuleEvaluation,
    /// The proration rule behind its proration lines, if it has any.
    pub proration_rule: Option<PluginRef>,
    /// The tax rule said the buyer accounts for the tax (EU B2B across borders).
    pub reverse_charge: bool,
}

/// What a new invoice is besides what its lines come to: whom it bills, for what, and how it
/// is collected.
pub struct InvoiceHeader {
    pub customer: CustomerId,
    pub subscription: Option<SubscriptionId>,
    pub payment_plan: Option<PaymentPlanId>,
    pub billing_reason: BillingReason,
    pub currency: Currency,
    pub tax_behavior: TaxBehavior,
    pub collection_method: CollectionMethod,
    pub due_date: Option<i64>,
    /// The customer's balance applied to it, and what is left due.
    pub balance_applied_minor: i64,
    pub amount_due_minor: i64,
    pub period_start: i64,
    pub period_end: i64,
    pub created: i64,
    pub discount: Option<InvoiceDiscount>,
}

impl Totals {
    /// The draft invoice these totals make under `header`: not numbered, nothing paid or
    /// attempted yet.
    pub fn into_draft(self, header: InvoiceHeader) -> Invoice {
        Invoice {
            id: InvoiceId::generate(),
            number: None,
            customer: header.customer,
            subscription: header.subscription,
            status: InvoiceStatus::Draft,
            billing_reason: header.billing_reason,
            currency: header.currency,
            tax_behavior: header.tax_behavior,
            lines: self.lines,
            subtotal_minor: self.subtotal_minor,
            discounts: self.discounts,
            tax: self.tax,
            total_minor: self.total_minor,
            balance_applied_minor: header.balance_applied_minor,
            amount_due_minor: header.amount_due_minor,
            amount_paid_minor: 0,
            attempt_count: 0,
            collection_method: header.collection_method,
            due_date: header.due_date,
            charge: None,
            payment_pending: false,
            collecting: false,
            rules: Some(self.rules),
            proration_rule: self.proration_rule,
            period_start: header.period_start,
            period_end: header.period_end,
            created: header.created,
            finalized_at: None,
            paid_at: None,
            voided_at: None,
            credited_minor: 0,
            post_payment_credited_minor: 0,
            next_payment_attempt: None,
            reminders_sent: 0,
            next_reminder_at: None,
            reverse_charge: self.reverse_charge,
            discount: header.discount,
            payment_plan: header.payment_plan,
            hosted_invoice_url: None,
            page_token: None,
            sponsor_defaulted_at: None,
            hosted_page: None,
            hosted_pages_closed: 0,
            recognized_through: None,
            archived: false,
        }
    }
}

pub struct InvoiceInput<'a> {
    pub account: &'a AccountId,
    pub customer: &'a Customer,
    pub currency: Currency,
    pub tax_behavior: TaxBehavior,
    pub lines: Vec<DraftLine>,
    /// The subscription's coupon, when it discounts this invoice: handed to the pricing rule
    /// with the plan lines.
    pub discount: Option<&'a SubscriptionDiscount>,
    /// The sponsorships that pay a share of it, in the order they take their shares.
    pub sponsors: Vec<&'a Sponsorship>,
    pub now: i64,
}

pub fn price_invoice(
    rules: &TurnRules<'_>,
    input: InvoiceInput<'_>,
) -> Result<Totals, TurnCallError> {
    let catalog = rules.catalog();
    let pricing = catalog.rule(input.account, PluginKind::Pricing);
    let tax_rule = catalog.rule(input.account, PluginKind::Tax);
    let proration_rule = input.lines.iter().find_map(|line| match &line.amount {
        DraftAmount::Fixed { rule, .. } => rule.clone(),
        DraftAmount::Priced { .. } => None,
    });
    let seller_country = rules.seller_country(input.account);
    let mut context = customer_context(input.customer);
    // A customer without an address is taken to buy where the platform sells (a domestic sale),
    // as a bursar's invoice must still show its VAT; a priced charge leaves that to the rule.
    if context.country.is_none() {
        context.country = Some(seller_country.clone());
    }

    let priced_index: Vec<usize> = (0..input.lines.len())
        .filter(|index| matches!(input.lines[*index].amount, DraftAmount::Priced { .. }))
        .collect();
    let mut amounts: Vec<i64> = input
        .lines
        .iter()
        .map(|line| match &line.amount {
            DraftAmount::Fixed { amount_minor, .. } => *amount_minor,
            DraftAmount::Priced { .. } => 0,
        })
        .collect();
    let mut discounts = Vec::new();
    let mut discount_shares = vec![0i64; input.lines.len()];
    if !priced_index.is_empty() {
        let request = PricingRequest {
            lines: priced_index
                .iter()
                .map(|index| match &input.lines[*index].amount {
                    DraftAmount::Priced { sku, unit_amount_minor } => LineItem {
                        sku: sku.clone(),
                        quantity: input.lines[*index].quantity,
                        unit_amount_minor: *unit_amount_minor,
                    },
                    DraftAmount::Fixed { .. } => unreachable!("only priced lines are indexed"),
                })
                .collect(),
            currency: input.currency,
            customer: context.clone(),
            coupons: input
                .discount
                .iter()
                .map(|discount| PricingCoupon { id: discount.coupon.clone(), off: discount.off })
                .collect(),
            now: input.now,
        };
        let priced = rules.price(&pricing, request)?;
        if priced.lines.len() != priced_index.len() {
            return Err(TurnCallError::Call(CallError::Failed {
                kind: PluginKind::Pricing,
                cause: format!(
                    "an invoice needs one priced line per plan line: {} lines in, {} out",
                    priced_index.len(),
                    priced.lines.len()
                ),
            }));
        }
        let priced_amounts: Vec<i64> = priced.lines.iter().map(|line| line.amount_minor).collect();
        let shares = spread_discount(priced.subtotal_minor - priced.total_minor, &priced_amounts);
        for ((index, amount), share) in priced_index.iter().zip(priced_amounts).zip(shares) {
            amounts[*index] = amount;
            discount_shares[*index] = share;
        }
        discounts = priced.discounts;
    }
    // Prorated lines were discounted when they were prorated: their shares join the invoice's
    // discount of the same coupon.
    for (index, line) in input.lines.iter().enumerate() {
        let DraftAmount::Fixed { discount: Some(discount), .. } = &line.amount else { continue };
        discount_shares[index] = discount.amount_minor;
        let code = discount.coupon.as_str();
        match discounts.iter_mut().find(|shown| shown.code == code) {
            Some(shown) => shown.amount_minor += discount.amount_minor,
            None => discounts.push(Discount {
                code: code.to_owned(),
                amount_minor: discount.amount_minor,
                promotion_code: None,
            }),
        }
    }
    // The promotion code a discount came through, for the invoice to show.
    if let Some(discount) = input.discount {
        for line in &mut discounts {
            if line.code == discount.coupon.as_str() {
                line.promotion_code = discount.promotion_code.clone();
            }
        }
    }

    let after_discounts: Vec<i64> =
        amounts.iter().zip(&discount_shares).map(|(amount, discount)| amount - discount).collect();
    let (sponsored, sponsor_shares) = sponsor_shares(&input.sponsors, &after_discounts);
    let period = (
        input.lines.iter().map(|line| line.period_start).min().unwrap_or(input.now),
        input.lines.iter().map(|line| line.period_end).max().unwrap_or(input.now),
    );

    let mut lines = Vec::with_capacity(input.lines.len() + sponsor_shares.len());
    let mut tax_totals: Vec<TaxLine> = Vec::new();
    let mut reverse_charge = false;
    for (index, draft) in input.lines.into_iter().enumerate() {
        let amount_minor = amounts[index];
        let after_discount = after_discounts[index] - sponsored[index];
        let sku = match &draft.amount {
            DraftAmount::Priced { sku, .. } | DraftAmount::Fixed { sku, .. } => sku.clone(),
        };
        let tax = if after_discount == 0 {
            Vec::new()
        } else {
            let request = TaxRequest {
                lines: vec![TaxableLine { sku, amount_minor: after_discount.abs() }],
                currency: input.currency,
                customer: context.clone(),
                seller_country: seller_country.clone(),
            };
            let taxed = rules.tax(&tax_rule, request)?;
            reverse_charge |= taxed.reverse_charge;
            line_tax(taxed.lines, after_discount, input.tax_behavior)
        };
        for line_tax in &tax {
            add_tax(&mut tax_totals, line_tax);
        }
        lines.push(InvoiceLine {
            id: InvoiceLineId::generate(),
            description: draft.description,
            plan: draft.plan,
            quantity: draft.quantity,
            amount_minor,
            period_start: draft.period_start,
            period_end: draft.period_end,
            proration: matches!(draft.amount, DraftAmount::Fixed { .. }),
            discount_minor: discount_shares[index],
            tax,
            sponsored_by: None,
            sponsor_returned_minor: 0,
            sponsored_minor: sponsored[index],
            beneficiary: None,
            beneficiary_invoice: None,
            sponsorship: None,
        });
    }
    for (sponsorship, share) in sponsor_shares {
        lines.push(InvoiceLine {
            id: InvoiceLineId::generate(),
            description: match share.amount_minor > 0 {
                true => format!("Paid by sponsor {} (sponsorship {sponsorship})", share.sponsor),
                false => format!(
                    "Given back to sponsor {} (sponsorship {sponsorship}): its part of the credit",
                    share.sponsor
                ),
            },
            plan: None,
            quantity: 1,
            amount_minor: -share.amount_minor,
            period_start: period.0,
            period_end: period.1,
            proration: false,
            discount_minor: 0,
            tax: Vec::new(),
            sponsored_by: Some(sponsorship),
            sponsor_returned_minor: 0,
            sponsored_minor: 0,
            beneficiary: None,
            beneficiary_invoice: None,
            sponsorship: None,
        });
    }
    let subtotal_minor: i64 = lines.iter().map(|line| line.amount_minor).sum();
    let discount_minor: i64 = discounts.iter().map(|discount| discount.amount_minor).sum();
    let tax_minor: i64 = tax_totals.iter().map(|tax| tax.amount_minor).sum();
    let total_minor = match input.tax_behavior {
        TaxBehavior::Exclusive => subtotal_minor - discount_minor + tax_minor,
        TaxBehavior::Inclusive => subtotal_minor - discount_minor,
    };
    Ok(Totals {
        lines,
        subtotal_minor,
        discounts,
        tax: tax_totals,
        total_minor,
        rules: RuleEvaluation {
            pricing: pricing.reference,
            tax: tax_rule.reference,
            evaluated_at: input.now,
        },
        proration_rule,
        reverse_charge,
    })
}

/// A sponsor's share of an invoice, as [`sponsor_shares`] found it.
struct SponsorPart {
    sponsor: crate::domain::CustomerId,
    amount_minor: i64,
}

/// What each sponsor pays of lines that come to `after_discounts` (after their coupon, before
/// tax), each clamped to what the earlier ones left: per line, the part sponsors pay, and each
/// sponsor's share, spread over the lines in proportion to what is left of them. Lines that
/// come to a credit give each sponsor back its part of it (negative shares).
fn sponsor_shares(
    sponsors: &[&Sponsorship],
    after_discounts: &[i64],
) -> (Vec<i64>, Vec<(SponsorshipId, SponsorPart)>) {
    let mut sponsored = vec![0i64; after_discounts.len()];
    let mut shares = Vec::new();
    for sponsorship in sponsors {
        let left: Vec<i64> =
            after_discounts.iter().zip(&sponsored).map(|(amount, paid)| amount - paid).collect();
        let total: i64 = left.iter().sum();
        // A credit (a change to a cheaper plan) gives the sponsor back its part of it.
        let (amount_minor, sign) = match total >= 0 {
            true => (sponsorship.share_of(total), 1),
            false => (-sponsorship.share_of_credit(-total), -1),
        };
        if amount_minor == 0 {
            continue;
        }
        let weights: Vec<i64> = left.iter().map(|left| (sign * left).max(0)).collect();
        let parts = spread_discount(amount_minor.abs(), &weights);
        for (paid, part) in sponsored.iter_mut().zip(parts) {
            *paid += sign * part;
        }
        let share = SponsorPart { sponsor: sponsorship.sponsor.clone(), amount_minor };
        shares.push((sponsorship.id.clone(), share));
    }
    (sponsored, shares)
}

/// The tax of one line of `amount_minor` (negative for a credit) from the rule's answer for its
/// absolute amount. Inclusive: the rule's rates, with the tax inside the price extracted from
/// it, half-up.
fn line_tax(taxed: Vec<TaxLine>, amount_minor: i64, behavior: TaxBehavior) -> Vec<TaxLine> {
    let sign = amount_minor.signum();
    let rate_total: i128 = taxed.iter().map(|tax| i128::from(tax.rate_bps)).sum();
    taxed
        .into_iter()
        .map(|tax| {
            let amount = match behavior {
                TaxBehavior::Exclusive => tax.amount_minor,
                TaxBehavior::Inclusive => divide_half_up(
                    i128::from(amount_minor.abs()) * i128::from(tax.rate_bps),
                    10_000 + rate_total,
                ),
            };
            TaxLine { amount_minor: sign * amount, ..tax }
        })
        .collect()
}

fn add_tax(totals: &mut Vec<TaxLine>, tax: &TaxLine) {
    let same = |total: &&mut TaxLine| {
        total.name == tax.name
            && total.jurisdiction == tax.jurisdiction
            && total.rate_bps == tax.rate_bps
    };
    match totals.iter_mut().find(|total| same(total)) {
        Some(total) => total.amount_minor += tax.amount_minor,
        None => totals.push(tax.clone()),
    }
}

/// `numerator / denominator` for non-negative operands, rounded half-up; the quotient of an
/// amount share fits an i64.
pub fn divide_half_up(numerator: i128, denominator: i128) -> i64 {
    debug_assert!(numerator >= 0 && denominator > 0);
    ((numerator * 2 + denominator) / (denominator * 2)) as i64
}

/// What a change at `changed_at` gives back and costs, from the account's proration rule:
/// `credited_minor` is what the customer was actually invoiced for the period (after
/// discounts, before tax); `new_full_minor` what the new plan costs for a whole period.
pub struct ProrationInput<'a> {
    pub account: &'a AccountId,
    pub currency: Currency,
    pub credited_minor: i64,
    pub new_full_minor: i64,
    pub period_start: i64,
    pub period_end: i64,
    pub changed_at: i64,
}

pub struct Proration {
    pub credit_minor: i64,
    pub charge_minor: i64,
    pub rule: PluginRef,
}

pub fn prorate(
    rules: &TurnRules<'_>,
    input: ProrationInput<'_>,
) -> Result<Proration, TurnCallError> {
    let rule = rules.catalog().rule(input.account, PluginKind::Proration);
    let prorated = rules.prorate(
        &rule,
        ProrationRequest {
            currency: input.currency,
            old_unit_amount_minor: input.credited_minor.max(0),
            old_quantity: 1,
            new_unit_amount_minor: input.new_full_minor.max(0),
            new_quantity: 1,
            period_start: input.period_start,
            period_end: input.period_end,
            changed_at: input.changed_at,
        },
    )?;
    Ok(Proration {
        credit_minor: prorated.credit_minor,
        charge_minor: prorated.charge_minor,
        rule: rule.reference,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vat(rate_bps: u32, amount_minor: i64) -> TaxLine {
        TaxLine { name: "VAT".into(), jurisdiction: "ZA".into(), rate_bps, amount_minor }
    }

    #[test]
    fn inclusive_tax_is_extracted_half_up_and_credits_negate() {
        // R115.00 including 15 % VAT holds R15.00 of it.
        assert_eq!(
            line_tax(vec![vat(1500, 1725)], 11_500, TaxBehavior::Inclusive)[0].amount_minor,
            1500
        );
        // 99 × 15 / 115 = 12.91… → 13.
        assert_eq!(line_tax(vec![vat(1500, 15)], 99, TaxBehavior::Inclusive)[0].amount_minor, 13);
        assert_eq!(
            line_tax(vec![vat(1500, 150)], -1000, TaxBehavior::Exclusive)[0].amount_minor,
            -150
        );
        assert_eq!(divide_half_up(5, 2), 3);
        assert_eq!(divide_half_up(4, 3), 1);
    }
}
