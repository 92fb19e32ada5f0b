//! The books in the tree store: the postings of one change set under one entry `account/txn`
//! (the first's id), an index entry under each source and payee they name (a transfer's
//! postings beside its charge's under the charge's alone), and each ledger account's totals per
//! currency, read and moved on under the write order in the change set of the postings, so
//! concurrent change sets never lose an addition.
//!
//! A split charge posts three movements at once; one entry and one index entry per owner
//! instead of one each per posting keeps its writes near a plain charge's. The postings of an
//! entry get their ids in a run no other posting's id falls within
//! ([`TransactionId::generate_run`]; nodes sharing a PostgreSQL store each make their own runs,
//! and another node's id falls within one only as two random 80-bit parts land a few apart), so
//! reading entries newest first by key still reads postings newest first by id, and a page may
//! end inside an entry.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use super::billing::{newest_first, page};
use super::ops::Op;
use super::{TreeId, TreeStore};
use crate::domain::money::{currency_code, parse_currency};
use crate::domain::revenue::day_of;
use crate::domain::{
    AccountId, Currency, LedgerAccount, LedgerBalance, Posting, Revenue, TransactionId, TransferId,
};
use crate::store::codec::{decode, encode};
use crate::store::{
    BooksPart, ChangeSet, LedgerStore, LedgerTotals, Page, PostingFilter, RevenueDay, StoreError,
    Write, keys,
};

/// The key under which the beginning of a part of the books is kept (account ids hold no NUL).
/// Invoices' and then sales' accruals joined the books later than money moved.
fn began_key(part: BooksPart) -> &'static [u8] {
    match part {
        BooksPart::Money => b"\0began",
        BooksPart::Accruals => b"\0accruals_began",
        BooksPart::Sales => b"\0sales_began",
    }
}

/// Running totals and revenue days kept past which the memory of them starts afresh.
const REMEMBERED_MAX: usize = 100_000;

/// The running totals and revenue days as the last change set that moved them wrote them, so
/// that the next one moves them on without reading them back from the overlay or sled. Only
/// [`TreeStore::posting_ops`] writes them, under the write order, and a change set's are
/// remembered once its record is appended; nodes sharing a PostgreSQL store read them each time.
#[derive(Default)]
pub(super) struct RunningTotals(Mutex<Remembered>);

#[derive(Default)]
struct Remembered {
    totals: HashMap<Vec<u8>, LedgerTotals>,
    days: HashMap<Vec<u8>, Revenue>,
}

/// What a change set's postings moved the running totals and revenue days to.
#[must_use = "remembered once the change set's record is appended"]
pub(super) struct Moved {
    totals: BTreeMap<Vec<u8>, LedgerTotals>,
    days: BTreeMap<Vec<u8>, Revenue>,
}

impl RunningTotals {
    fn remembered(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Takes the set's postings out: the store writes them with the totals they move.
pub(super) fn take_postings(changes: &mut ChangeSet) -> Vec<Posting> {
    let mut postings = Vec::new();
    changes.writes.retain_mut(|write| match write {
        Write::Posting(posting) => {
            postings.push((**posting).clone());
            false
        }
        _ => true,
    });
    postings
}

pub(super) fn totals_key(
    account: &AccountId,
    ledger_account: &LedgerAccount,
    currency: Currency,
) -> Vec<u8> {
    let name = format!("{}/{}", ledger_account.name(), currency_code(currency));
    keys::by_id(account, &name)
}

/// `account/currency/day`: a day's revenue, days zero-padded so they sort in time order.
fn revenue_key(account: &AccountId, currency: Currency, day: i64) -> Vec<u8> {
    keys::by_id(account, &format!("{}/{day:020}", currency_code(currency)))
}

/// `account/owner/txn`: a posting's entry under the object that made it, or its payee.
fn source_key(account: &AccountId, source: &str, id: &TransactionId) -> Vec<u8> {
    keys::by_id(account, &format!("{source}/{}", id.as_str()))
}

/// The writes of one account's postings of a change set: one entry under the first's id
/// (several renumbered in a run first), and an index entry per source and per payee they name.
fn entry_ops(mut postings: Vec<Posting>, ops: &mut Vec<Op>) {
    if postings.len() > 1 {
        let ids = TransactionId::generate_run(postings.len());
        for (posting, id) in postings.iter_mut().zip(ids) {
            posting.id = id;
        }
    }
    let Some(first) = postings.first() else { return };
    let (account, id) = (first.account.clone(), first.id.clone());
    let payees: BTreeSet<&str> =
        postings.iter().filter_map(|posting| Some(posting.payee.as_ref()?.as_str())).collect();
    let indexed =
        [(TreeId::LedgerSources, indexed_sources(&postings)), (TreeId::LedgerPayees, payees)];
    for (tree, owners) in indexed {
        for owner in owners {
            ops.push(Op::put(tree, source_key(&account, owner, &id), Vec::new()));
        }
    }
    let entry = match postings.as_slice() {
        [posting] => encode(posting),
        several => encode(&several),
    };
    ops.push(Op::put(TreeId::LedgerEntries, keys::by_id(&account, id.as_str()), entry));
}

/// The sources an entry is indexed under: each its postings name, but a transfer beside the
/// charge it was made for, whose index entry finds the transfer's postings too (a split charge's
/// success posts both at once; see [`index_owners`]).
fn indexed_sources(postings: &[Posting]) -> BTreeSet<&str> {
    let sources: BTreeSet<&str> = postings.iter().map(|posting| posting.source.as_str()).collect();
    let beside_its_charge = |source: &str| {
        TransferId::parse(source)
            .is_some_and(|transfer| sources.contains(transfer.named_charge().as_str()))
    };
    sources.iter().copied().filter(|source| !beside_its_charge(source)).collect()
}

/// Where the entries holding `source`'s postings are indexed: under it, and a transfer's also
/// under the charge it was made for.
fn index_owners(source: &str) -> Vec<String> {
    let charge = TransferId::parse(source).map(|transfer| transfer.named_charge());
    std::iter::once(source.to_owned())
        .chain(charge.map(|charge| charge.as_str().to_owned()))
        .collect()
}

/// The postings of an entry, oldest first: one, or the several of a change set.
fn entry_postings(bytes: &[u8]) -> Result<Vec<Posting>, StoreError> {
    match decode::<Posting>(bytes) {
        Ok(posting) => Ok(vec![posting]),
        Err(_) => decode::<Vec<Posting>>(bytes),
    }
}

/// An entry's postings newest first, those at or after `starting_after` left out (a page may
/// have ended inside the entry), each `Some` when `keep` keeps it.
fn newest_in_entry(
    entry: Result<Vec<Posting>, StoreError>,
    starting_after: Option<&TransactionId>,
    keep: impl Fn(Posting) -> Option<Posting>,
) -> Vec<Result<Option<Posting>, StoreError>> {
    match entry {
        Ok(postings) => postings
            .into_iter()
            .rev()
            .filter(|posting| starting_after.is_none_or(|after| posting.id < *after))
            .map(|posting| Ok(keep(posting)))
            .collect(),
        Err(error) => vec![Err(error)],
    }
}

impl TreeStore {
    /// The writes of `postings` and of the totals they move, read as they stand: call under
    /// the write order, and hand what it returns to [`TreeStore::remember_moved`] once `ops`
    /// are appended.
    pub(super) fn posting_ops(
        &self,
        postings: Vec<Posting>,
        ops: &mut Vec<Op>,
    ) -> Result<Moved, StoreError> {
        let mut moved: BTreeMap<Vec<u8>, LedgerTotals> = BTreeMap::new();
        let mut days: BTreeMap<Vec<u8>, Revenue> = BTreeMap::new();
        let mut by_account: BTreeMap<AccountId, Vec<Posting>> = BTreeMap::new();
        for posting in postings {
            if let Some(revenue) = Revenue::of(&posting) {
                let key = revenue_key(&posting.account, posting.currency, day_of(posting.created));
                let so_far = match days.remove(&key) {
                    Some(so_far) => so_far,
                    None => self.day_as_it_stands(&key)?,
                };
                let sum = so_far.plus(revenue).ok_or_else(|| {
                    StoreError::Storage("a day's revenue would pass the largest amount".into())
                })?;
                days.insert(key, sum);
            }
            for ledger_account in posting.accounts() {
                let key = totals_key(&posting.account, ledger_account, posting.currency);
                let totals = match moved.remove(&key) {
                    Some(totals) => totals,
                    None => self.totals_as_they_stand(&key, ledger_account, posting.currency)?,
                };
                let balance = totals.balance.after(&posting, ledger_account).ok_or_else(|| {
                    StoreError::Storage(format!(
                        "{} {} would pass the largest amount the books hold",
                        ledger_account.name(),
                        currency_code(posting.currency)
                    ))
                })?;
                moved.insert(key, LedgerTotals { balance, ..totals });
            }
            by_account.entry(posting.account.clone()).or_default().push(posting);
        }
        for postings in by_account.into_values() {
            entry_ops(postings, ops);
        }
        for (key, totals) in &moved {
            ops.push(Op::put(TreeId::LedgerBalances, key.clone(), encode(totals)));
        }
        for (key, revenue) in &days {
            ops.push(Op::put(TreeId::RevenueDays, key.clone(), encode(revenue)));
        }
        Ok(Moved { totals: moved, days })
    }

    /// A day's revenue as the last change set that moved it left it: remembered, else read
    /// (always read where nodes share the store).
    fn day_as_it_stands(&self, key: &[u8]) -> Result<Revenue, StoreError> {
        let remembered = || self.running.remembered().days.get(key).copied();
        match (!self.is_shared()).then(remembered).flatten() {
            Some(day) => Ok(day),
            None => Ok(self.get::<Revenue>(TreeId::RevenueDays, key)?.unwrap_or_default()),
        }
    }

    /// A ledger account's totals as the last change set that moved them left them: remembered,
    /// else read (always read where nodes share the store); nothing yet for a new account.
    fn totals_as_they_stand(
        &self,
        key: &[u8],
        ledger_account: &LedgerAccount,
        currency: Currency,
    ) -> Result<LedgerTotals, StoreError> {
        let remembered = || self.running.remembered().totals.get(key).cloned();
        if let Some(totals) = (!self.is_shared()).then(remembered).flatten() {
            return Ok(totals);
        }
        match self.tree(TreeId::LedgerBalances).get(key)? {
            Some(bytes) => decode(&bytes),
            None => Ok(LedgerTotals {
                account: ledger_account.clone(),
                currency,
                balance: Default::default(),
            }),
        }
    }

    /// Remembers what a change set's postings moved, once its record is appended (still under
    /// the write order): the next change set's postings start from there.
    pub(super) fn remember_moved(&self, moved: Moved) {
        if self.is_shared() || (moved.totals.is_empty() && moved.days.is_empty()) {
            return;
        }
        let mut remembered = self.running.remembered();
        if remembered.totals.len() + remembered.days.len() >= REMEMBERED_MAX {
            *remembered = Remembered::default();
        }
        remembered.totals.extend(moved.totals);
        remembered.days.extend(moved.days);
    }

    /// The ids of the entries `tree` indexes under `owners`, newest first, those at or after
    /// `starting_after` left out.
    fn indexed_entries<'a>(
        &'a self,
        tree: TreeId,
        account: &'a AccountId,
        owners: &[String],
        starting_after: Option<&TransactionId>,
    ) -> Box<dyn Iterator<Item = Result<String, StoreError>> + 'a> {
        let under = |owner: &str| {
            let prefix = keys::by_id(account, &format!("{owner}/"));
            let after = starting_after.map(|id| source_key(account, owner, id));
            newest_first(self.tree(tree), prefix.clone(), after).map(move |item| {
                item.map(|(key, _)| String::from_utf8_lossy(&key[prefix.len()..]).into_owned())
            })
        };
        match owners {
            [owner] => Box::new(under(owner)),
            // A transfer's few entries under it and under its charge, merged whole.
            several => {
                let ids: Result<BTreeSet<String>, StoreError> =
                    several.iter().flat_map(|owner| under(owner)).collect();
                match ids {
                    Ok(ids) => Box::new(ids.into_iter().rev().map(Ok)),
                    Err(error) => Box::new(std::iter::once(Err(error))),
                }
            }
        }
    }

    /// The postings of the entry under `id`, oldest first (none if there is no such entry).
    fn entry_at(&self, account: &AccountId, id: &str) -> Result<Vec<Posting>, StoreError> {
        match self.tree(TreeId::LedgerEntries).get(keys::by_id(account, id))? {
            Some(bytes) => entry_postings(&bytes),
            None => Ok(Vec::new()),
        }
    }
}

impl LedgerStore for TreeStore {
    fn books_began(&self, part: BooksPart) -> Result<Option<i64>, StoreError> {
        match self.tree(TreeId::LedgerEntries).get(began_key(part))? {
            Some(bytes) => {
                let bytes: [u8; 8] = bytes.as_ref().try_into().map_err(|_| {
                    StoreError::Corrupt("the books' beginning is not 8 bytes".into())
                })?;
                Ok(Some(i64::from_be_bytes(bytes)))
            }
            None => Ok(None),
        }
    }

    fn begin_books(&self, at: i64) -> Result<(), StoreError> {
        let order = self.write_order()?;
        let mut ops = Vec::new();
        for part in BooksPart::ALL {
            if self.books_began(part)?.is_none() {
                let key = began_key(part).to_vec();
                ops.push(Op::put(TreeId::LedgerEntries, key, at.to_be_bytes().to_vec()));
            }
        }
        if !ops.is_empty() {
            self.append_and_apply(&order, &ops)?;
        }
        Ok(())
    }

    fn ledger_balance(
        &self,
        account: &AccountId,
        ledger_account: &LedgerAccount,
        currency: Currency,
    ) -> Result<LedgerBalance, StoreError> {
        let key = totals_key(account, ledger_account, currency);
        let kept: Option<LedgerTotals> = self.get(TreeId::LedgerBalances, &key)?;
        Ok(kept.map(|kept| kept.balance).unwrap_or_default())
    }

    fn ledger_totals(&self, account: &AccountId) -> Result<Vec<LedgerTotals>, StoreError> {
        let mut totals = Vec::new();
        for item in self.tree(TreeId::LedgerBalances).scan_prefix(keys::account_prefix(account)) {
            totals.push(decode(&item?.1)?);
        }
        Ok(totals)
    }

    fn postings(
        &self,
        account: &AccountId,
        filter: &PostingFilter,
        limit: usize,
        starting_after: Option<&TransactionId>,
    ) -> Result<Page<Posting>, StoreError> {
        let keep = |posting: Posting| filter.keeps(&posting).then_some(posting);
        // An object makes few postings, and a payee's are a few of the account's: read through
        // their own entries.
        let indexed = match (&filter.source, &filter.payee) {
            (Some(source), _) => Some((TreeId::LedgerSources, index_owners(source))),
            (None, Some(payee)) => Some((TreeId::LedgerPayees, vec![payee.as_str().to_owned()])),
            (None, None) => None,
        };
        match indexed {
            Some((tree, owners)) => {
                let found =
                    self.indexed_entries(tree, account, &owners, starting_after).flat_map(|id| {
                        let entry = id.and_then(|id| self.entry_at(account, &id));
                        newest_in_entry(entry, starting_after, keep)
                    });
                page(found, limit)
            }
            None => {
                let after = starting_after.map(|id| keys::by_id(account, id.as_str()));
                let prefix = keys::account_prefix(account);
                let found = newest_first(self.tree(TreeId::LedgerEntries), prefix, after).flat_map(
                    |item| {
                        let entry = item.and_then(|(_, bytes)| entry_postings(&bytes));
                        newest_in_entry(entry, starting_after, keep)
                    },
                );
                page(found, limit)
            }
        }
    }

    fn revenue_days(
        &self,
        account: &AccountId,
        currency: Option<Currency>,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<RevenueDay>, StoreError> {
        let prefix = match currency {
            Some(currency) => keys::by_id(account, &format!("{}/", currency_code(currency))),
            None => keys::account_prefix(account),
        };
        let mut found = Vec::new();
        for item in self.tree(TreeId::RevenueDays).scan_prefix(&prefix) {
            let (key, bytes) = item?;
            let place =
                String::from_utf8_lossy(&key[keys::account_prefix(account).len()..]).into_owned();
            let (code, day) = place
                .split_once('/')
                .and_then(|(code, day)| {
                    Some((parse_currency(code).ok()?, day.parse::<i64>().ok()?))
                })
                .ok_or_else(|| StoreError::Corrupt(format!("a revenue day's key: {place}")))?;
            if (from_day..to_day).contains(&day) {
                found.push(RevenueDay { currency: code, day, revenue: decode(&bytes)? });
            }
        }
        Ok(found)
    }

    fn each_posting(
        &self,
        account: &AccountId,
        visit: &mut dyn FnMut(Posting) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for item in self.tree(TreeId::LedgerEntries).scan_prefix(keys::account_prefix(account)) {
            for posting in entry_postings(&item?.1)? {
                visit(posting)?;
            }
        }
        Ok(())
    }
}
