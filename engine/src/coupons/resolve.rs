//! A request's `coupon` or `promotion_code`, found and checked before anything is priced: the
//! coupon exists, is not deleted or past `redeem_by`, takes off in the request's currency and
//! applies to what is bought; a promotion code is active, unexpired, and its restrictions hold.
//! Whether a limit is reached is the [`super::RedemptionBook`]'s to say, when the charge is made.

use crate::domain::{
    AccountId, Coupon, CouponId, Currency, Money, NotRedeemable, PromotionCode, PromotionCodeId,
};
use crate::store::{CouponStore, StoreError};

/// What a request names: a coupon by id, or a promotion code as a customer types it (any case)
/// or by its `promo_` id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    Coupon(String),
    PromotionCode(String),
}

/// A coupon a request may redeem, and the promotion code it came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub coupon: Coupon,
    pub code: Option<PromotionCode>,
}

impl Resolved {
    /// The coupon as an object carries it once applied.
    pub fn applied(&self) -> crate::domain::AppliedCoupon {
        crate::domain::AppliedCoupon {
            coupon: self.coupon.id.clone(),
            promotion_code: self.code.as_ref().map(|code| code.id.clone()),
        }
    }
}

/// Why a request's coupon or promotion code is refused: 400 with the code and param the
/// contract names for each (`coupon_invalid` / `promotion_code_invalid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: &'static str,
    pub param: &'static str,
    pub message: String,
}

impl Refused {
    pub fn of(requested_code: bool, NotRedeemable(message): NotRedeemable) -> Refused {
        match requested_code {
            true => Refused { code: "promotion_code_invalid", param: "promotion_code", message },
            false => Refused { code: "coupon_invalid", param: "coupon", message },
        }
    }
}

#[derive(Debug)]
pub enum ResolveError {
    Refused(Refused),
    Store(StoreError),
}

impl From<StoreError> for ResolveError {
    fn from(error: StoreError) -> ResolveError {
        ResolveError::Store(error)
    }
}

/// What is bought, for a coupon's `applies_to`: line items (no plan) or a plan.
#[derive(Debug, Clone, Copy)]
pub enum Purchase<'a> {
    LineItems,
    Plan(&'a crate::domain::PlanId),
}

pub fn resolve(
    store: &dyn CouponStore,
    account: &AccountId,
    requested: &Requested,
    currency: Currency,
    purchase: Purchase<'_>,
    now: i64,
) -> Result<Resolved, ResolveError> {
    let through_code = matches!(requested, Requested::PromotionCode(_));
    let refuse =
        |message: String| ResolveError::Refused(Refused::of(through_code, NotRedeemable(message)));
    let (coupon_id, code) = match requested {
        Requested::Coupon(id) => {
            let coupon = CouponId::parse(id).ok_or_else(|| refuse(format!("no coupon {id}")))?;
            (coupon, None)
        }
        Requested::PromotionCode(text) => {
            let code = match PromotionCodeId::parse(text) {
                Some(id) => store.promotion_code(account, &id)?,
                None => store.promotion_code_named(account, text)?,
            }
            .ok_or_else(|| refuse(format!("no promotion code {text}")))?;
            check_code(&code, now).map_err(|NotRedeemable(message)| refuse(message))?;
            (code.coupon.clone(), Some(code))
        }
    };
    let coupon = store
        .coupon(account, &coupon_id)?
        .ok_or_else(|| refuse(format!("no coupon {coupon_id}")))?;
    coupon.check_redeemable(now, currency).map_err(|NotRedeemable(message)| refuse(message))?;
    check_applies(&coupon, purchase).map_err(|NotRedeemable(message)| refuse(message))?;
    Ok(Resolved { coupon, code })
}

fn check_code(code: &PromotionCode, now: i64) -> Result<(), NotRedeemable> {
    let name = &code.code;
    if !code.active {
        return Err(NotRedeemable(format!("promotion code {name} is not active")));
    }
    if let Some(expires_at) = code.expires_at
        && now >= expires_at
    {
        return Err(NotRedeemable(format!("promotion code {name} expired at {expires_at}")));
    }
    Ok(())
}

fn check_applies(coupon: &Coupon, purchase: Purchase<'_>) -> Result<(), NotRedeemable> {
    let Some(plans) = &coupon.applies_to_plans else { return Ok(()) };
    let id = &coupon.id;
    match purchase {
        Purchase::Plan(plan) if plans.contains(plan) => Ok(()),
        Purchase::Plan(plan) => {
            Err(NotRedeemable(format!("coupon {id} does not apply to plan {plan}")))
        }
        Purchase::LineItems => Err(NotRedeemable(format!(
            "coupon {id} applies only to subscriptions to its plans, not to line items"
        ))),
    }
}

impl Resolved {
    /// The code's restrictions that depend on what is bought: at least its minimum amount
    /// (before discounts, in its currency) and, when first-time only, a customer who has never
    /// paid. `has_paid` is asked only when it matters.
    pub fn check_restrictions(
        &self,
        subtotal: Money,
        has_paid: impl FnOnce() -> Result<bool, StoreError>,
    ) -> Result<(), ResolveError> {
        let Some(code) = &self.code else { return Ok(()) };
        let refuse =
            |message: String| ResolveError::Refused(Refused::of(true, NotRedeemable(message)));
        let name = &code.code;
        if let Some(minimum) = code.minimum_amount
            && (minimum.currency != subtotal.currency
                || subtotal.amount_minor < minimum.amount_minor)
        {
            return Err(refuse(format!(
                "promotion code {name} needs at least {} {} before discounts",
                minimum.amount_minor,
                crate::domain::money::currency_code(minimum.currency)
            )));
        }
        if code.first_time_transaction && has_paid()? {
            return Err(refuse(format!(
                "promotion code {name} is for a customer's first payment only"
            )));
        }
        Ok(())
    }
}
