//! Coupon redemptions, kept with what redeems them. A charge's is reserved in the change set
//! that records it `processing` and counted (or let go) in the one that settles it; a
//! subscription's is reserved when the coupon is attached, counted when its first invoice is
//! paid, and let go if it never is. The book's counts follow, so the next redemption anywhere
//! sees them.

use std::collections::HashMap;

use super::{ActorError, CustomerActor};
use crate::coupons::{Refused, Resolved};
use crate::domain::time::now_unix_secs;
use crate::domain::{
    AppliedCoupon, Charge, ChargeId, ChargeStatus, CouponId, Invoice, InvoiceId, PromotionCodeId,
    Redemption, Subscription, SubscriptionStatus,
};
use crate::store::{ChangeSet, InvoiceFilter, Write, any_charge};

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
    /// succeeded, under way or awaiting the customer's action, a subscription waiting for its
    /// first payment, or one holding a coupon no invoice has paid for yet (a trial's, or an
    /// invoice's sent to be paid by hand).
    fn paid_or_paying(&self) -> Result<bool, ActorError> {
        let state = self.state.as_ref().map_err(|error| ActorError::Store(error.clone()))?;
        let paying = |subscription: &Subscription| {
            subscription.status == SubscriptionStatus::Incomplete
                || subscription.discount.as_ref().is_some_and(|discount| !discount.redeemed)
                    && !matches!(
                        subscription.status,
                        SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired
                    )
        };
        if state.subscriptions.iter().any(paying) {
            return Ok(true);
        }
        let (account, customer) = (&self.key.account, &self.key.customer);
        let paying = |charge: &Charge| charge.status != ChargeStatus::Failed;
        Ok(any_charge(self.services.store.as_ref(), account, customer, paying)?)
    }

    pub(super) fn redemption(
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
    pub(super) fn redemption_settled(
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

    /// A subscription gives its coupon up before any invoice paid for it (it expired incomplete,
    /// was canceled, or the invoice that carried the coupon was voided): the reservation is let
    /// go, unless an invoice carrying the coupon may still be paid (then its payment counts it).
    /// Answers whether it was let go.
    pub(crate) fn discount_released(
        &self,
        changes: &mut ChangeSet,
        subscription: &Subscription,
    ) -> Result<bool, ActorError> {
        let Some(discount) = subscription.discount.as_ref().filter(|discount| !discount.redeemed)
        else {
            return Ok(false);
        };
        if self.coupon_still_payable(changes, subscription, &discount.coupon)? {
            return Ok(false);
        }
        let holder = subscription.id.to_string();
        changes.push(Write::RemoveRedemption { coupon: discount.coupon.clone(), holder });
        let code = discount.promotion_code.as_ref();
        self.redemption_settled(&discount.coupon, code, subscription.id.as_str(), false);
        Ok(true)
    }

    /// Whether an invoice of `subscription` that carries `coupon` is open or uncollectible (may
    /// yet be paid), as the store holds it with `changes` on top (an invoice voided or made in
    /// the same change set counts as it will be).
    fn coupon_still_payable(
        &self,
        changes: &ChangeSet,
        subscription: &Subscription,
        coupon: &CouponId,
    ) -> Result<bool, ActorError> {
        let mut invoices: HashMap<InvoiceId, Invoice> = HashMap::new();
        let filter = InvoiceFilter {
            customer: Some(subscription.customer.clone()),
            subscription: Some(subscription.id.clone()),
            status: None,
        };
        let mut starting_after = None;
        loop {
            let page = self.services.store.invoices(
                &self.key.account,
                &filter,
                100,
                starting_after.as_ref(),
            )?;
            starting_after = page.items.last().map(|invoice| invoice.id.clone());
            invoices.extend(page.items.into_iter().map(|invoice| (invoice.id.clone(), invoice)));
            if !page.has_more {
                break;
            }
        }
        for write in &changes.writes {
            if let Write::Invoice(invoice) = write
                && invoice.subscription.as_ref() == Some(&subscription.id)
            {
                invoices.insert(invoice.id.clone(), invoice.clone());
            }
        }
        Ok(invoices
            .values()
            .any(|invoice| invoice.status.is_collectible() && invoice.discounted_by(coupon)))
    }
}
