//! Coupons and the promotion codes customers type for them, in Stripe's model: a coupon says
//! what comes off and for how long; a promotion code is a customer-facing name for a coupon with
//! limits of its own. The engine resolves them; the account's pricing rule applies the discount.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ids::next_id;
use super::{CustomerId, Metadata, Money, PlanId, PromotionCodeId};

/// Longest coupon id an account may choose.
pub const COUPON_ID_LEN_MAX: usize = 64;

/// A coupon's id: one the account chose (`[A-Za-z0-9_-]{1,64}`), else `coupon_` and a ULID.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CouponId(String);

impl CouponId {
    pub const PREFIX: &'static str = "coupon_";

    pub fn generate() -> CouponId {
        CouponId(next_id(Self::PREFIX))
    }

    pub fn parse(text: &str) -> Option<CouponId> {
        let valid = (1..=COUPON_ID_LEN_MAX).contains(&text.len())
            && text
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-');
        valid.then(|| CouponId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CouponId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a coupon takes off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CouponOff {
    /// A share in basis points, 1 to 10000.
    PercentBps(u32),
    /// A fixed amount, in its own currency only: 500 is $5.00 but R5.00 elsewhere.
    Amount(Money),
}

/// How long a coupon keeps discounting a subscription's invoices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CouponDuration {
    Once,
    /// The invoices whose period starts within this many months of the coupon's attachment.
    Repeating {
        months: u32,
    },
    Forever,
}

impl CouponDuration {
    pub fn as_str(self) -> &'static str {
        match self {
            CouponDuration::Once => "once",
            CouponDuration::Repeating { .. } => "repeating",
            CouponDuration::Forever => "forever",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coupon {
    pub id: CouponId,
    pub name: Option<String>,
    pub off: CouponOff,
    pub duration: CouponDuration,
    pub max_redemptions: Option<u32>,
    /// The first second it can no longer be redeemed.
    pub redeem_by: Option<i64>,
    /// The plans it discounts; `None`: any plan, and charges priced from line items.
    pub applies_to_plans: Option<Vec<PlanId>>,
    pub metadata: Metadata,
    /// Deleted coupons take no new redemptions; discounts already attached run on.
    pub deleted: bool,
    pub created: i64,
}

/// Why a coupon or a promotion code cannot be redeemed now: the message a client gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRedeemable(pub String);

impl Coupon {
    /// Whether it can be redeemed at `now` for an amount in `currency`, leaving the redemption
    /// count (checked apart, where redemptions are counted) aside.
    pub fn check_redeemable(
        &self,
        now: i64,
        currency: super::Currency,
    ) -> Result<(), NotRedeemable> {
        let id = &self.id;
        if self.deleted {
            return Err(NotRedeemable(format!("coupon {id} was deleted")));
        }
        if let Some(redeem_by) = self.redeem_by
            && now >= redeem_by
        {
            return Err(NotRedeemable(format!("coupon {id} could be redeemed until {redeem_by}")));
        }
        if let CouponOff::Amount(off) = self.off
            && off.currency != currency
        {
            return Err(NotRedeemable(format!(
                "coupon {id} takes {} off, not {}",
                super::money::currency_code(off.currency),
                super::money::currency_code(currency)
            )));
        }
        Ok(())
    }

    /// Whether it discounts charges priced from line items, which belong to no plan.
    pub fn applies_to_any_purchase(&self) -> bool {
        self.applies_to_plans.is_none()
    }
}

/// Longest promotion code.
pub const PROMOTION_CODE_LEN_MAX: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionCode {
    pub id: PromotionCodeId,
    /// As the account wrote it; matched without regard to case.
    pub code: String,
    pub coupon: CouponId,
    pub max_redemptions: Option<u32>,
    /// The first second it no longer applies.
    pub expires_at: Option<i64>,
    /// Only for a customer who has never paid the account.
    pub first_time_transaction: bool,
    /// Only on an amount of at least this much, before discounts.
    pub minimum_amount: Option<Money>,
    pub active: bool,
    pub metadata: Metadata,
    pub created: i64,
}

impl PromotionCode {
    /// The form codes are compared in: upper case, so `welcome10` finds `WELCOME10`.
    pub fn normalized(code: &str) -> String {
        code.to_ascii_uppercase()
    }
}

/// A coupon's redemption by a charge or a subscription: reserved while the charge is unsettled
/// (the subscription's first invoice unpaid), counted once it is paid, removed if it never is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redemption {
    pub coupon: CouponId,
    pub promotion_code: Option<PromotionCodeId>,
    /// The charge (`ch_…`) or subscription (`sub_…`) that redeems it.
    pub holder: String,
    pub customer: CustomerId,
    pub redeemed: bool,
    pub at: i64,
}

/// A coupon attached to a subscription: its terms as they were when attached (a coupon deleted
/// later keeps discounting), and which of the subscription's invoices it discounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionDiscount {
    pub coupon: CouponId,
    pub promotion_code: Option<PromotionCodeId>,
    pub off: CouponOff,
    pub duration: CouponDuration,
    pub applies_to_plans: Option<Vec<PlanId>>,
    pub start: i64,
    /// `repeating`: invoices whose period starts before it get the discount.
    pub end: Option<i64>,
    /// `once`: an invoice got it already.
    pub used: bool,
    /// The first invoice was paid: the redemption counts.
    pub redeemed: bool,
}

impl SubscriptionDiscount {
    /// Whether the invoice of a period starting at `period_start`, for `plan`, gets it.
    pub fn applies(&self, period_start: i64, plan: &PlanId) -> bool {
        if self.applies_to_plans.as_ref().is_some_and(|plans| !plans.contains(plan)) {
            return false;
        }
        match self.duration {
            CouponDuration::Once => !self.used,
            CouponDuration::Repeating { .. } => self.end.is_none_or(|end| period_start < end),
            CouponDuration::Forever => true,
        }
    }
}

/// The subscription's coupon as an invoice it discounted shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceDiscount {
    pub coupon: CouponId,
    pub promotion_code: Option<PromotionCodeId>,
    pub start: i64,
    pub end: Option<i64>,
}

impl InvoiceDiscount {
    pub fn of(discount: &SubscriptionDiscount) -> InvoiceDiscount {
        InvoiceDiscount {
            coupon: discount.coupon.clone(),
            promotion_code: discount.promotion_code.clone(),
            start: discount.start,
            end: discount.end,
        }
    }
}

/// A coupon's share of a line whose amount was prorated, not priced: the line's amount is before
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineDiscount {
    pub coupon: CouponId,
    pub amount_minor: i64,
}

/// The coupon a charge was priced with, and the promotion code it came through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedCoupon {
    pub coupon: CouponId,
    pub promotion_code: Option<PromotionCodeId>,
}
