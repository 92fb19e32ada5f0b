//! How a priced charge's amount came about: the lines as the pricing rule priced them, the
//! discounts it gave, the tax the tax rule added, and which rule versions did it. Kept with the
//! charge, so the amount charged can be explained and audited long after the rules changed.

use serde::{Deserialize, Serialize};

use super::plugin::PluginRef;
use super::{CouponId, PromotionCodeId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedLine {
    pub sku: String,
    pub quantity: u32,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discount {
    /// The coupon's id.
    pub code: String,
    pub amount_minor: i64,
    /// The promotion code the coupon came through, where the engine knows it (invoices).
    #[serde(default)]
    pub promotion_code: Option<PromotionCodeId>,
}

impl Discount {
    /// Whether `coupon` took something off in `discounts`.
    pub fn any_of(discounts: &[Discount], coupon: &CouponId) -> bool {
        discounts.iter().any(|discount| discount.code == coupon.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxLine {
    pub name: String,
    pub jurisdiction: String,
    pub rate_bps: u32,
    pub amount_minor: i64,
}

/// All amounts are in the charge's currency; `total == subtotal - discounts + tax`, checked by
/// the rules host before a breakdown is ever built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breakdown {
    pub lines: Vec<PricedLine>,
    pub subtotal_minor: i64,
    pub discounts: Vec<Discount>,
    pub tax: Vec<TaxLine>,
    /// The buyer accounts for the tax (EU B2B across borders).
    pub reverse_charge: bool,
    pub total_minor: i64,
    /// The rules that produced it, and when (the `now` they were given).
    pub evaluation: RuleEvaluation,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleEvaluation {
    pub pricing: PluginRef,
    pub tax: PluginRef,
    pub evaluated_at: i64,
}
