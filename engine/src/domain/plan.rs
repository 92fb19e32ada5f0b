//! A plan: what a subscription bills, per unit, every interval. Its price and interval never
//! change once created (a new price is a new plan), so every invoice made from it stays
//! explainable; its name, features, metadata and whether it takes new subscriptions can.

use serde::{Deserialize, Serialize};

use super::{Currency, Metadata, PlanId};
use crate::billing::periods::Interval;

/// Whether a plan's amount includes tax (consumer prices in ZA and KE must) or tax is added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaxBehavior {
    Inclusive,
    Exclusive,
}

impl TaxBehavior {
    pub fn parse(text: &str) -> Option<TaxBehavior> {
        match text {
            "inclusive" => Some(TaxBehavior::Inclusive),
            "exclusive" => Some(TaxBehavior::Exclusive),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaxBehavior::Inclusive => "inclusive",
            TaxBehavior::Exclusive => "exclusive",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub id: PlanId,
    pub name: String,
    /// Per unit per interval, in the currency's minor unit; 0 is a free tier.
    pub amount_minor: i64,
    pub currency: Currency,
    pub interval: Interval,
    /// The sku of the plan's invoice line, as the pricing rule sees it.
    pub sku: String,
    pub trial_days: u32,
    pub features: Vec<String>,
    pub tax_behavior: TaxBehavior,
    pub active: bool,
    pub metadata: Metadata,
    pub created: i64,
}
