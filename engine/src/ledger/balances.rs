//! A payee's balance as the books hold it: what its postings moved into its ledger account,
//! available once their `available_on` has passed and pending until then. Read from the
//! postings, never from a counter beside them.

use std::collections::BTreeMap;

use crate::domain::{AccountId, Currency, LedgerAccount, PayeeId, TransactionId};
use crate::store::{LedgerStore, PostingFilter, StoreError, each_in_pages};

/// Postings read at a time while adding up a balance.
const PAGE: usize = 1_000;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Amounts {
    pub available: i64,
    pub pending: i64,
}

/// The payee's balance per currency as of `now`.
pub fn payee_balance(
    store: &dyn LedgerStore,
    account: &AccountId,
    payee: &PayeeId,
    now: i64,
) -> Result<BTreeMap<Currency, Amounts>, StoreError> {
    let held_by = LedgerAccount::Payee { payee: payee.clone() };
    let filter = PostingFilter { payee: Some(payee.clone()), ..Default::default() };
    let mut sums: BTreeMap<Currency, Amounts> = BTreeMap::new();
    let read = |after: Option<&TransactionId>| store.postings(account, &filter, PAGE, after);
    each_in_pages(
        read,
        |posting| posting.id.clone(),
        |posting| {
            let sum = sums.entry(posting.currency).or_default();
            let net = posting.net_for(&held_by);
            match posting.available_on <= now {
                true => sum.available += net,
                false => sum.pending += net,
            }
            Ok::<_, StoreError>(())
        },
    )?;
    Ok(sums)
}
