//! Payouts in the tree store: `account/po` in `Payouts`, `account/payee/po` in `PayeePayouts`,
//! `account/po` in `UnsettledPayouts` while a part is unsettled, and `account/payee/instant` in
//! `PayoutSlots` for each schedule instant acted on. A change is checked and written under the
//! write order, so a check and the write it guards cannot be split by another writer, on one
//! node or several.

use super::billing::{newest_first, page};
use super::ops::Op;
use super::{TreeId, TreeStore};
use crate::domain::{AccountId, LedgerAccount, Payee, PayeeId, Payout, PayoutId, PayoutInterval};
use crate::store::codec::{decode, encode};
use crate::store::{
    DurableTicket, IdempotencyState, LedgerStore, Outcome, Page, PayoutChange, PayoutStore,
    StoreError, keys,
};

fn payee_payout_key(account: &AccountId, payee: &PayeeId, payout: &PayoutId) -> Vec<u8> {
    keys::by_id(account, &format!("{}/{}", payee.as_str(), payout.as_str()))
}

/// Instants are written zero-padded, so a payee's slots sort in time order.
fn slot_key(account: &AccountId, payee: &PayeeId, at: i64) -> Vec<u8> {
    keys::by_id(account, &format!("{}/{at:020}", payee.as_str()))
}

impl PayoutStore for TreeStore {
    fn payout(&self, account: &AccountId, id: &PayoutId) -> Result<Option<Payout>, StoreError> {
        self.get(TreeId::Payouts, &keys::by_id(account, id.as_str()))
    }

    fn account_payouts(
        &self,
        account: &AccountId,
        limit: usize,
        starting_after: Option<&PayoutId>,
    ) -> Result<Page<Payout>, StoreError> {
        let after = starting_after.map(|id| keys::by_id(account, id.as_str()));
        let found = newest_first(self.tree(TreeId::Payouts), keys::account_prefix(account), after)
            .map(|item| Ok(Some(decode(&item?.1)?)));
        page(found, limit)
    }

    fn payee_payouts(
        &self,
        account: &AccountId,
        payee: &PayeeId,
        limit: usize,
        starting_after: Option<&PayoutId>,
    ) -> Result<Page<Payout>, StoreError> {
        let prefix = keys::by_id(account, &format!("{}/", payee.as_str()));
        let after = starting_after.map(|id| payee_payout_key(account, payee, id));
        let found = newest_first(self.tree(TreeId::PayeePayouts), prefix, after).map(|item| {
            let (key, _) = item?;
            let id = key.rsplit(|byte| *byte == b'/').next().unwrap_or_default();
            let id = PayoutId::parse(&String::from_utf8_lossy(id)).ok_or_else(|| {
                StoreError::Corrupt("a payee's payout index names no payout".into())
            })?;
            self.payout(account, &id)
        });
        page(found, limit)
    }

    fn unsettled_payouts(&self) -> Result<Vec<Payout>, StoreError> {
        let mut unsettled = Vec::new();
        for item in self.tree(TreeId::UnsettledPayouts).iter() {
            let (key, _) = item?;
            if let Some(payout) = self.get::<Payout>(TreeId::Payouts, &key)? {
                unsettled.push(payout);
            }
        }
        Ok(unsettled)
    }

    fn last_payout_slot(
        &self,
        account: &AccountId,
        payee: &PayeeId,
    ) -> Result<Option<i64>, StoreError> {
        let prefix = keys::by_id(account, &format!("{}/", payee.as_str()));
        let Some(item) = newest_first(self.tree(TreeId::PayoutSlots), prefix.clone(), None).next()
        else {
            return Ok(None);
        };
        let (key, _) = item?;
        let instant = std::str::from_utf8(&key[prefix.len()..]).ok().and_then(|at| at.parse().ok());
        instant.map(Some).ok_or_else(|| StoreError::Corrupt("a payout slot's instant".into()))
    }

    fn mark_payout_slot(
        &self,
        account: &AccountId,
        payee: &PayeeId,
        at: i64,
    ) -> Result<DurableTicket, StoreError> {
        self.commit_ops(vec![Op::put(TreeId::PayoutSlots, slot_key(account, payee, at), vec![])])
    }

    fn commit_payout(&self, change: PayoutChange) -> Result<DurableTicket, StoreError> {
        let PayoutChange { payout, postings, decided_on, flag, answered, events } = change;
        let (account, id) = (&payout.account, &payout.id);
        let key = keys::by_id(account, id.as_str());
        let mut ops = vec![Op::put(TreeId::Payouts, key.clone(), encode(&payout))];
        ops.push(Op::put(
            TreeId::PayeePayouts,
            payee_payout_key(account, &payout.payee, id),
            Vec::new(),
        ));
        ops.push(match payout.settled() {
            true => Op::remove(TreeId::UnsettledPayouts, key),
            false => Op::put(TreeId::UnsettledPayouts, key, Vec::new()),
        });
        if let Some((key, record)) = answered {
            debug_assert!(matches!(
                &record.state,
                IdempotencyState::Completed(outcome) if matches!(**outcome, Outcome::Payout(_))
            ));
            ops.push(Op::put(
                TreeId::Idempotency,
                keys::idempotency(account, &key),
                encode(&record),
            ));
        }
        let order = self.write_order()?;
        if let Some(decided_on) = decided_on {
            // Read under the write order: no posting can land between the check and the write.
            let held_by = LedgerAccount::Payee { payee: payout.payee.clone() };
            let now = self.ledger_balance(account, &held_by, payout.currency)?;
            if now != decided_on {
                return Err(StoreError::Conflict(format!(
                    "payee {}'s balance moved while payout {id} was decided",
                    payout.payee
                )));
            }
        }
        if let Some(flag) = flag {
            let place = keys::by_id(account, payout.payee.as_str());
            if let Some(stored) = self.get::<Payee>(TreeId::Payees, &place)? {
                let flagged = Payee { destination_failure: Some(flag), ..stored };
                ops.push(Op::put(TreeId::Payees, place, encode(&flagged)));
            }
        }
        self.outgoing_ops(events, &mut ops)?;
        let moved = self.posting_ops(postings, &mut ops)?;
        self.append_and_apply(&order, &ops)?;
        self.remember_moved(moved);
        drop(order);
        Ok(self.written())
    }

    fn scheduled_payees(&self) -> Result<Vec<Payee>, StoreError> {
        let mut payees = Vec::new();
        for item in self.tree(TreeId::Payees).iter() {
            let payee: Payee = decode(&item?.1)?;
            if payee.payout_schedule.interval != PayoutInterval::Manual {
                payees.push(payee);
            }
        }
        Ok(payees)
    }
}
