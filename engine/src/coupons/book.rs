//! How many times each coupon and promotion code is taken: the one place a redemption limit is
//! checked, so that concurrent charges of different customers (different actors) never take a
//! limited code more often than its limit.
//!
//! Redemptions are records in the customers' change sets: reserved with the `processing` charge
//! (or the new subscription), counted when it is paid, removed when it never is. The book holds the same per coupon, read
//! from the store the first time the coupon is met and kept in step by the actors after each
//! commit. A reservation counts against the limits until its charge settles, so a charge in
//! flight cannot be overtaken by another that would pass the limit. Reservations are kept by
//! holder, so a settlement the book already read from the store is not counted twice.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::domain::{AccountId, Coupon, CouponId, NotRedeemable, PromotionCode, PromotionCodeId};
use crate::store::{CouponStore, StoreError};

#[derive(Default)]
struct Counts {
    /// Holders (charges, subscriptions) whose payment counted.
    redeemed: u32,
    /// Holders keeping a redemption until they are paid or give it up.
    reserved: HashSet<String>,
}

impl Counts {
    fn total(&self) -> u32 {
        self.redeemed + self.reserved.len() as u32
    }

    fn settle(&mut self, holder: &str, succeeded: bool) {
        if self.reserved.remove(holder) && succeeded {
            self.redeemed += 1;
        }
    }
}

#[derive(Default)]
struct CouponCounts {
    coupon: Counts,
    codes: HashMap<PromotionCodeId, Counts>,
}

impl CouponCounts {
    fn code(&mut self, code: &PromotionCodeId) -> &mut Counts {
        self.codes.entry(code.clone()).or_default()
    }
}

type Key = (AccountId, CouponId);

pub struct RedemptionBook {
    store: Arc<dyn CouponStore>,
    counts: Mutex<HashMap<Key, CouponCounts>>,
}

impl RedemptionBook {
    pub fn new(store: Arc<dyn CouponStore>) -> RedemptionBook {
        RedemptionBook { store, counts: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, CouponCounts>> {
        self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The counts of `coupon`, read from the store the first time, with the lock held: no
    /// reservation is made between the read and the first count.
    fn counts<'a>(
        &self,
        all: &'a mut HashMap<Key, CouponCounts>,
        account: &AccountId,
        coupon: &CouponId,
    ) -> Result<&'a mut CouponCounts, StoreError> {
        let key = (account.clone(), coupon.clone());
        if !all.contains_key(&key) {
            let mut loaded = CouponCounts::default();
            for redemption in self.store.redemptions(account, coupon)? {
                let add = |counts: &mut Counts| match redemption.redeemed {
                    true => counts.redeemed += 1,
                    false => _ = counts.reserved.insert(redemption.holder.clone()),
                };
                add(&mut loaded.coupon);
                if let Some(code) = &redemption.promotion_code {
                    add(loaded.code(code));
                }
            }
            all.insert(key.clone(), loaded);
        }
        Ok(all.get_mut(&key).expect("inserted above"))
    }

    /// Holds one redemption of `coupon` (through `code`) for `holder` (a charge or subscription
    /// id), or says which limit is reached. The caller writes the reservation with its holder,
    /// or [`Self::settled`] it as not paid if that write fails.
    pub fn reserve(
        &self,
        account: &AccountId,
        coupon: &Coupon,
        code: Option<&PromotionCode>,
        holder: &str,
    ) -> Result<Result<(), NotRedeemable>, StoreError> {
        let mut all = self.lock();
        let counts = self.counts(&mut all, account, &coupon.id)?;
        if let Some(max) = coupon.max_redemptions
            && counts.coupon.total() >= max
        {
            let id = &coupon.id;
            return Ok(Err(NotRedeemable(format!(
                "coupon {id} was redeemed {max} times, its limit"
            ))));
        }
        if let Some(code) = code
            && let Some(max) = code.max_redemptions
            && counts.code(&code.id).total() >= max
        {
            let name = &code.code;
            return Ok(Err(NotRedeemable(format!(
                "promotion code {name} was redeemed {max} times, its limit"
            ))));
        }
        counts.coupon.reserved.insert(holder.to_owned());
        if let Some(code) = code {
            counts.code(&code.id).reserved.insert(holder.to_owned());
        }
        Ok(Ok(()))
    }

    /// `holder`'s reservation settled: counted if it was `paid`, else let go.
    pub fn settled(
        &self,
        account: &AccountId,
        coupon: &CouponId,
        code: Option<&PromotionCodeId>,
        holder: &str,
        paid: bool,
    ) {
        let mut all = self.lock();
        // Not read yet: the first read from the store will see the settlement.
        let Some(counts) = all.get_mut(&(account.clone(), coupon.clone())) else { return };
        counts.coupon.settle(holder, paid);
        if let Some(code) = code {
            counts.code(code).settle(holder, paid);
        }
    }

    /// How often `coupon` was redeemed (paid for), or `code` if given.
    pub fn times_redeemed(
        &self,
        account: &AccountId,
        coupon: &CouponId,
        code: Option<&PromotionCodeId>,
    ) -> Result<u32, StoreError> {
        let mut all = self.lock();
        let counts = self.counts(&mut all, account, coupon)?;
        Ok(match code {
            Some(code) => counts.code(code).redeemed,
            None => counts.coupon.redeemed,
        })
    }
}
