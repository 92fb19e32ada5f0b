//! Coupons and promotion codes as the API shows them.

use serde_json::{Value, json};

use crate::domain::money::currency_code;
use crate::domain::{Coupon, CouponDuration, CouponOff, PromotionCode};

pub fn coupon(coupon: &Coupon, times_redeemed: u32) -> Value {
    let (percent_off_bps, amount_off, currency) = match coupon.off {
        CouponOff::PercentBps(bps) => (Some(bps), None, None),
        CouponOff::Amount(money) => {
            (None, Some(money.amount_minor), Some(currency_code(money.currency)))
        }
    };
    let duration_in_months = match coupon.duration {
        CouponDuration::Repeating { months } => Some(months),
        CouponDuration::Once | CouponDuration::Forever => None,
    };
    let valid = !coupon.deleted
        && coupon.redeem_by.is_none_or(|by| crate::domain::time::now_unix_secs() < by)
        && coupon.max_redemptions.is_none_or(|max| times_redeemed < max);
    json!({
        "id": coupon.id.as_str(),
        "object": "coupon",
        "name": coupon.name,
        "percent_off_bps": percent_off_bps,
        "amount_off": amount_off,
        "currency": currency,
        "duration": coupon.duration.as_str(),
        "duration_in_months": duration_in_months,
        "max_redemptions": coupon.max_redemptions,
        "redeem_by": coupon.redeem_by,
        "applies_to": coupon.applies_to_plans.as_ref().map(|plans| {
            json!({ "plans": plans.iter().map(|plan| plan.as_str()).collect::<Vec<_>>() })
        }),
        "times_redeemed": times_redeemed,
        "valid": valid,
        "metadata": coupon.metadata,
        "created": coupon.created,
    })
}

pub fn promotion_code(code: &PromotionCode, times_redeemed: u32) -> Value {
    json!({
        "id": code.id.as_str(),
        "object": "promotion_code",
        "code": code.code,
        "coupon": code.coupon.as_str(),
        "active": code.active,
        "max_redemptions": code.max_redemptions,
        "expires_at": code.expires_at,
        "restrictions": {
            "first_time_transaction": code.first_time_transaction,
            "minimum_amount": code.minimum_amount.map(|money| money.amount_minor),
            "minimum_amount_currency": code.minimum_amount.map(|money| currency_code(money.currency)),
        },
        "times_redeemed": times_redeemed,
        "metadata": code.metadata,
        "created": code.created,
    })
}
