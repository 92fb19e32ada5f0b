//! Coupon redemptions, kept with what redeems them. A charge's is reserved in the change set
//! that records it `processing` and counted (or let go) in the one that settles it; a
//! subscription's is reserved when the coupon is attached, counted when its first invoice is
//! paid, and let go if it never is. The book's counts follow, so the next redemption anywhere
//! sees them.

use super::{ActorError, CustomerActor};
use crate::coupons::{Refused, Resolved};
use crate::domain::time::now_unix_secs;
use crate::domain::{
    AppliedCoupon, Charge, ChargeId, ChargeStatus, CouponId, PromotionCodeId, Redemption,
    Subscription, SubscriptionStatus,
};
use crate::store::{ChangeSet, Write};

impl CustomerActor {
    /// Holds a redemption of `resolved` for `holder` (a charge or subscription id), or refuses
    /// if a limit is reached; the write records it with its holder.
    pub(super) fn reserve_redemption(
        &self,
        resolved: &Resolved,
        holder: &str,
    ) -> Result<Write, ActorError> {
        let account = &self.key.account;
        let code = resolved.code.as_ref();
        if let Some(code) = code.filter(|code| code.first_time_transaction)
            && self.paid_or_paying()?
        {
            // The API checked before, but only here, one request of the customer at a time,
            // can two concurrent first payments not both pass.
            let message =
                format!("promotion code {} is for a customer's first payment only", code.code);
            return Err(ActorError::invalid(
                "promotion_code_invalid",
                Some("promotion_code"),
                message,
            ));
        }
        if let Err(limit) =
            self.services.redemptions.reserve(account, &resolved.coupon, code, holder)?
        {
            let Refused { code, param, message } = Refused::of(resolved.code.is_some(), limit);
            return Err(ActorError::invalid(code, Some(param), message));
        }
        Ok(self.redemption(&resolved.coupon.id, code.map(|code| &code.id), holder, false))
    }

    /// Whether the customer paid the account, or a payment of it may yet succeed: a charge
    /// succeeded, under way or awaiting the customer's action, or a subscription waiting for
    /// its first payment.
    fn paid_or_paying(&self) -> Result<bool, ActorError> {
        let state = self.state.as_ref().map_err(|error| ActorError::Store(error.clone()))?;
        let starting = SubscriptionStatus::Incomplete;
        if state.subscriptions.iter().any(|subscription| subscription.status == starting) {
            return Ok(true);
        }
        let (account, customer) = (&self.key.account, &self.key.customer);
        let mut starting_after = None;
        loop {
            let page =
                self.services.store.charges(account, customer, 100, starting_after.as_ref())?;
            let paying = |charge: &Charge| charge.status != ChargeStatus::Failed;
            if page.items.iter().any(paying) {
                return Ok(true);
            }
            match (page.has_more, page.items.last()) {
                (true, Some(last)) => starting_after = Some(last.id.clone()),
                _ => return Ok(false),
            }
        }
    }

    fn redemption(
        &self,
        coupon: &CouponId,
        code: Option<&PromotionCodeId>,
        holder: &str,
        redeemed: bool,
    ) -> Write {
        Write::Redemption(Redemption {
            coupon: coupon.clone(),
            promotion_code: code.cloned(),
            holder: holder.to_owned(),
            customer: self.key.customer.clone(),
            redeemed,
            at: now_unix_secs(),
        })
    }

    /// Tells the book a reservation was paid for, or let go.
    fn redemption_settled(
        &self,
        coupon: &CouponId,
        code: Option<&PromotionCodeId>,
        holder: &str,
        paid: bool,
    ) {
        self.services.redemptions.settled(&self.key.account, coupon, code, holder, paid);
    }

    /// The write that settles a final charge's redemption: counted if it succeeded, else gone.
    pub(super) fn coupon_redemption_settled(
        &self,
        applied: &AppliedCoupon,
        charge: &Charge,
    ) -> Write {
        let holder = charge.id.as_str();
        match charge.status {
            ChargeStatus::Succeeded => {
                self.redemption(&applied.coupon, applied.promotion_code.as_ref(), holder, true)
            }
            ChargeStatus::Processing | ChargeStatus::RequiresAction | ChargeStatus::Failed => {
                Write::RemoveRedemption {
                    coupon: applied.coupon.clone(),
                    holder: holder.to_owned(),
                }
            }
        }
    }

    /// Tells the book a charge's committed settlement (or a reservation whose write failed).
    pub(super) fn coupon_settled(
        &self,
        applied: &AppliedCoupon,
        charge: &ChargeId,
        succeeded: bool,
    ) {
        let code = applied.promotion_code.as_ref();
        self.redemption_settled(&applied.coupon, code, charge.as_str(), succeeded);
    }

    /// A subscription's first invoice is paid: its coupon's redemption counts. (The book is
    /// told at once: reserved or counted, the redemption weighs the same against the limits.)
    pub(crate) fn discount_paid(&self, changes: &mut ChangeSet, subscription: &mut Subscription) {
        let Some(discount) = subscription.discount.as_mut().filter(|discount| !discount.redeemed)
        else {
            return;
        };
        discount.redeemed = true;
        let (coupon, code) = (&discount.coupon, discount.promotion_code.as_ref());
        changes.push(self.redemption(coupon, code, subscription.id.as_str(), true));
        self.redemption_settled(coupon, code, subscription.id.as_str(), true);
    }

    /// A subscription ends without its first invoice paid (expired incomplete, canceled in its
    /// trial): its coupon's reservation is let go.
    pub(crate) fn discount_released(&self, changes: &mut ChangeSet, subscription: &Subscription) {
        let Some(discount) = subscription.discount.as_ref().filter(|discount| !discount.redeemed)
        else {
            return;
        };
        let holder = subscription.id.to_string();
        changes.push(Write::RemoveRedemption { coupon: discount.coupon.clone(), holder });
        let code = discount.promotion_code.as_ref();
        self.redemption_settled(&discount.coupon, code, subscription.id.as_str(), false);
    }
}
