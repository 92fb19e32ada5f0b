//! What the engine asks of a rule and what it gets back, in the engine's own types. The WIT
//! bindings never leave `bindings` and `convert`: a WIT change breaks only those two files.

use crate::domain::{CouponId, CouponOff, Currency, Discount, PricedLine, TaxId, TaxLine};

/// The customer as a rule sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerContext {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    pub region: Option<String>,
    pub tax_ids: Vec<TaxId>,
    pub metadata: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    pub sku: String,
    pub quantity: u32,
    pub unit_amount_minor: i64,
}

/// A coupon as a pricing rule gets it: resolved and checked by the engine (an amount off is in
/// the request's currency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricingCoupon {
    pub id: CouponId,
    pub off: CouponOff,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricingRequest {
    pub lines: Vec<LineItem>,
    pub currency: Currency,
    pub customer: CustomerContext,
    pub coupons: Vec<PricingCoupon>,
    /// Unix seconds: the only clock a rule has.
    pub now: i64,
}

/// A pricing rule's answer, checked: amounts in range, `subtotal` the sum of the lines,
/// `total == subtotal - discounts >= 0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    pub lines: Vec<PricedLine>,
    pub subtotal_minor: i64,
    pub discounts: Vec<Discount>,
    pub total_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxableLine {
    pub sku: String,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxRequest {
    pub lines: Vec<TaxableLine>,
    pub currency: Currency,
    pub customer: CustomerContext,
    pub seller_country: String,
}

/// A tax rule's answer, checked: no negative tax, rates at most 100 %, no tax beyond what its
/// rate allows, and none at all under the reverse charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taxed {
    pub lines: Vec<TaxLine>,
    pub reverse_charge: bool,
}

impl Taxed {
    pub fn total_minor(&self) -> i64 {
        // Checked in `check::taxed`: the sum fits.
        self.lines.iter().map(|line| line.amount_minor).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProrationRequest {
    pub currency: Currency,
    pub old_unit_amount_minor: i64,
    pub old_quantity: u32,
    pub new_unit_amount_minor: i64,
    pub new_quantity: u32,
    pub period_start: i64,
    pub period_end: i64,
    pub changed_at: i64,
}

/// A proration rule's answer, checked: credit and charge in range, `net == charge - credit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prorated {
    pub credit_minor: i64,
    pub charge_minor: i64,
    pub net_minor: i64,
}
