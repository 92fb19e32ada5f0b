//! Money that reached a customer's balance, and credit that moved between the balance and the
//! platform. A statement line applied in the set posts what it brought in (invoices it paid to
//! the platform, the rest to the customer's balance) and a line a debit returned takes that
//! back; whatever else the set moved of the customer's balance is credit the platform gave or
//! took back, posted as such. So the customer balances account always holds, customer by
//! customer, what the customers' balances say.

use std::collections::BTreeMap;

use crate::actor::bank_transfers::BANK_TRANSFER_GATEWAY;
use crate::domain::time::now_unix_secs;
use crate::domain::{BankLineRecord, LedgerAccount, Posting};
use crate::ledger::postings::{self, LineMoney};
use crate::store::{ChangeSet, CustomerStore, StoreError, Write};

/// The postings of the statement lines the set applies or reverses, each line once (its last
/// write in the set), against what the store held of it before.
pub(super) fn bank_lines(
    changes: &ChangeSet,
    store: &dyn CustomerStore,
) -> Result<Vec<Posting>, StoreError> {
    let mut lines: BTreeMap<&str, &BankLineRecord> = BTreeMap::new();
    for write in &changes.writes {
        if let Write::BankLine { identity, record } = write {
            lines.insert(identity, record);
        }
    }
    let (account, at) = (&changes.account, now_unix_secs());
    let mut posted = Vec::new();
    for (identity, line) in lines {
        let Some(customer) = &line.customer else { continue };
        let before = store.bank_line(account, identity)?;
        let applied_before = before.as_ref().is_some_and(|before| before.outcome.applied());
        let reversed_before = before.as_ref().is_some_and(|before| before.reversed);
        let gateway = BANK_TRANSFER_GATEWAY;
        if line.outcome.applied() && !applied_before {
            let arrived = LineMoney::Arrived;
            posted.extend(postings::bank_line(account, customer, gateway, line, arrived, at));
        }
        if line.reversed && !reversed_before {
            let returned = LineMoney::Returned;
            posted.extend(postings::bank_line(account, customer, gateway, line, returned, at));
        }
    }
    Ok(posted)
}

/// What the set moved of its customer's balance beyond what `posted` (the set's other
/// postings) already carried there: credit the platform gave, or took back. A customer whose
/// balance the books did not carry yet (written before they did) has what it held posted with
/// it, and is marked as carried from then on.
pub(super) fn customer_balance(
    changes: &mut ChangeSet,
    store: &dyn CustomerStore,
    posted: &[Posting],
) -> Result<Option<Posting>, StoreError> {
    let customer = changes.customer.clone();
    let mut after = None;
    for write in changes.writes.iter_mut() {
        if let Write::Customer(written) = write
            && written.id == customer
        {
            written.balance_in_books = true;
            after = Some((written.balance_minor, written.currency));
        }
    }
    let Some((balance_after, currency)) = after else { return Ok(None) };
    let before = store.customer(&changes.account, &customer)?;
    let carried_before =
        before.filter(|before| before.balance_in_books).map_or(0, |before| before.balance_minor);
    // A balance is credit when negative: what it gained is what it went down by.
    let credited = carried_before - balance_after;
    let carried: i64 =
        posted.iter().map(|posting| posting.net_for(&LedgerAccount::CustomerBalances)).sum();
    let given = credited - carried;
    let Some(currency) = currency.filter(|_| given != 0) else { return Ok(None) };
    Ok(postings::customer_balance_moved(
        &changes.account,
        &customer,
        currency,
        given,
        now_unix_secs(),
    ))
}
