//! A payee's statement for a range: its balance per currency at the start, each posting that
//! moved it in the range (oldest first, with the balance after it), and its balance at the end.
//! Read from the payee's postings, so it always agrees with its balance.

use std::collections::BTreeMap;

use crate::domain::{AccountId, Currency, LedgerAccount, PayeeId, Posting, TransactionId};
use crate::store::{LedgerStore, PostingFilter, StoreError, each_in_pages};

/// Postings read at a time.
const PAGE: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    pub posting: Posting,
    /// What it moved into the payee's balance.
    pub amount: i64,
    /// The payee's balance in the posting's currency after it.
    pub balance: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Statement {
    pub opening: BTreeMap<String, (Currency, i64)>,
    pub lines: Vec<StatementLine>,
    pub closing: BTreeMap<String, (Currency, i64)>,
}

pub fn statement(
    store: &dyn LedgerStore,
    account: &AccountId,
    payee: &PayeeId,
    from: i64,
    to: i64,
) -> Result<Statement, StoreError> {
    let held_by = LedgerAccount::Payee { payee: payee.clone() };
    let filter = PostingFilter { payee: Some(payee.clone()), ..Default::default() };
    let mut postings = Vec::new();
    let read = |after: Option<&TransactionId>| store.postings(account, &filter, PAGE, after);
    each_in_pages(
        read,
        |posting| posting.id.clone(),
        |posting| {
            if posting.created < to {
                postings.push(posting);
            }
            Ok::<_, StoreError>(())
        },
    )?;
    // Ids are time-ordered: oldest first by time, then by id within a second.
    postings.sort_by(|one, other| {
        (one.created, one.id.as_str()).cmp(&(other.created, other.id.as_str()))
    });
    let mut statement = Statement::default();
    let mut balances: BTreeMap<String, (Currency, i64)> = BTreeMap::new();
    for posting in postings {
        let code = crate::domain::money::currency_code(posting.currency);
        let amount = posting.net_for(&held_by);
        let balance = &mut balances.entry(code.clone()).or_insert((posting.currency, 0)).1;
        *balance += amount;
        if posting.created < from {
            continue;
        }
        statement.opening.entry(code).or_insert((posting.currency, *balance - amount));
        statement.lines.push(StatementLine { posting, amount, balance: *balance });
    }
    for (code, (currency, balance)) in &balances {
        statement.opening.entry(code.clone()).or_insert((*currency, *balance));
    }
    statement.closing = balances;
    Ok(statement)
}
