//! Coupons, promotion codes and redemptions in sled. Coupons and codes are the account's, each
//! written alone; a redemption is written in the change set of the charge that makes it.

use super::billing::{newest_first, page};
use super::ops::Op;
use super::tree_ids::TreeId;
use super::{TreeStore, decode, encode};
use crate::domain::{AccountId, Coupon, CouponId, PromotionCode, PromotionCodeId, Redemption};
use crate::store::{CouponStore, DurableTicket, Page, StoreError, Taken, keys};

fn code_key(account: &AccountId, code: &str) -> Vec<u8> {
    keys::by_id(account, &PromotionCode::normalized(code))
}

pub(super) fn redemption_ops(ops: &mut Vec<Op>, account: &AccountId, redemption: &Redemption) {
    let key = keys::redemption(account, redemption.coupon.as_str(), &redemption.holder);
    ops.push(Op::put(TreeId::Redemptions, key, encode(redemption)));
}

pub(super) fn remove_redemption_op(account: &AccountId, coupon: &CouponId, holder: &str) -> Op {
    Op::remove(TreeId::Redemptions, keys::redemption(account, coupon.as_str(), holder))
}

impl CouponStore for TreeStore {
    fn create_coupon(
        &self,
        account: &AccountId,
        coupon: &Coupon,
    ) -> Result<Result<DurableTicket, Taken>, StoreError> {
        let key = keys::by_id(account, coupon.id.as_str());
        let order = self.write_order()?;
        if self.tree(TreeId::Coupons).get(&key)?.is_some() {
            return Ok(Err(Taken));
        }
        self.append_and_apply(&order, &[Op::put(TreeId::Coupons, key, encode(coupon))])?;
        drop(order);
        Ok(Ok(self.written()))
    }

    fn put_coupon(
        &self,
        account: &AccountId,
        coupon: &Coupon,
    ) -> Result<DurableTicket, StoreError> {
        let key = keys::by_id(account, coupon.id.as_str());
        self.commit_ops(vec![Op::put(TreeId::Coupons, key, encode(coupon))])
    }

    fn coupon(&self, account: &AccountId, id: &CouponId) -> Result<Option<Coupon>, StoreError> {
        match self.tree(TreeId::Coupons).get(keys::by_id(account, id.as_str()))? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn coupons(
        &self,
        account: &AccountId,
        limit: usize,
        starting_after: Option<&CouponId>,
    ) -> Result<Page<Coupon>, StoreError> {
        let starting_after = starting_after.map(|id| keys::by_id(account, id.as_str()));
        let tree = self.tree(TreeId::Coupons);
        let found = newest_first(tree, keys::account_prefix(account), starting_after).map(|item| {
            let coupon: Coupon = decode(&item?.1)?;
            Ok((!coupon.deleted).then_some(coupon))
        });
        page(found, limit)
    }

    fn create_promotion_code(
        &self,
        account: &AccountId,
        code: &PromotionCode,
    ) -> Result<Result<DurableTicket, Taken>, StoreError> {
        let name = code_key(account, &code.code);
        let order = self.write_order()?;
        if self.tree(TreeId::PromotionCodeNames).get(&name)?.is_some() {
            return Ok(Err(Taken));
        }
        let ops = [
            Op::put(TreeId::PromotionCodeNames, name, code.id.as_str().as_bytes().to_vec()),
            Op::put(TreeId::PromotionCodes, keys::by_id(account, code.id.as_str()), encode(code)),
        ];
        self.append_and_apply(&order, &ops)?;
        drop(order);
        Ok(Ok(self.written()))
    }

    fn put_promotion_code(
        &self,
        account: &AccountId,
        code: &PromotionCode,
    ) -> Result<DurableTicket, StoreError> {
        let key = keys::by_id(account, code.id.as_str());
        self.commit_ops(vec![Op::put(TreeId::PromotionCodes, key, encode(code))])
    }

    fn promotion_code(
        &self,
        account: &AccountId,
        id: &PromotionCodeId,
    ) -> Result<Option<PromotionCode>, StoreError> {
        match self.tree(TreeId::PromotionCodes).get(keys::by_id(account, id.as_str()))? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn promotion_code_named(
        &self,
        account: &AccountId,
        code: &str,
    ) -> Result<Option<PromotionCode>, StoreError> {
        let Some(id) = self.tree(TreeId::PromotionCodeNames).get(code_key(account, code))? else {
            return Ok(None);
        };
        let id =
            std::str::from_utf8(&id).ok().and_then(PromotionCodeId::parse).ok_or_else(|| {
                StoreError::Corrupt(format!("promotion code {code} names no promotion code id"))
            })?;
        self.promotion_code(account, &id)
    }

    fn promotion_codes(
        &self,
        account: &AccountId,
        coupon: Option<&CouponId>,
        limit: usize,
        starting_after: Option<&PromotionCodeId>,
    ) -> Result<Page<PromotionCode>, StoreError> {
        let starting_after = starting_after.map(|id| keys::by_id(account, id.as_str()));
        let tree = self.tree(TreeId::PromotionCodes);
        let found = newest_first(tree, keys::account_prefix(account), starting_after).map(|item| {
            let code: PromotionCode = decode(&item?.1)?;
            Ok(coupon.is_none_or(|coupon| code.coupon == *coupon).then_some(code))
        });
        page(found, limit)
    }

    fn redemptions(
        &self,
        account: &AccountId,
        coupon: &CouponId,
    ) -> Result<Vec<Redemption>, StoreError> {
        let prefix = keys::redemptions_prefix(account, coupon.as_str());
        let end = keys::prefix_end(&prefix);
        self.tree(TreeId::Redemptions).range(prefix..end).map(|item| decode(&item?.1)).collect()
    }
}
