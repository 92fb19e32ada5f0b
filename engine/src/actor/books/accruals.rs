//! Each invoice the set writes brings its accruals up to its state (see
//! [`crate::ledger::accrual`]): what its state accrues against what its postings hold, the
//! difference posted; while revenue of it is still deferred, its next recognition is scheduled.
//! A sale (a charge that paid no invoice) is brought up to its charge's state the same way
//! when the charge succeeds, is refunded or is recalled (see [`crate::ledger::sale`]).

use std::collections::BTreeMap;

use crate::domain::time::now_unix_secs;
use crate::domain::{AccountId, Charge, Invoice, InvoiceId, Posting, PostingKind, TestClockId};
use crate::ledger::accrual::{self, Accrued};
use crate::ledger::sale;
use crate::store::{
    ChangeSet, CustomerStore, PostingFilter, Scheduled, StoreError, Write, each_in_pages, keys,
};

/// An invoice's or a sale's accrual postings read at a time.
const POSTINGS_PAGE: usize = 100;

pub(super) fn invoices(
    changes: &mut ChangeSet,
    store: &dyn CustomerStore,
    clock: Option<&TestClockId>,
) -> Result<Vec<Posting>, StoreError> {
    let mut written: BTreeMap<&InvoiceId, &Invoice> = BTreeMap::new();
    for write in &changes.writes {
        if let Write::Invoice(invoice) = write {
            written.insert(&invoice.id, invoice);
        }
    }
    let (account, at) = (&changes.account, now_unix_secs());
    let mut posted = Vec::new();
    let mut scheduled = Vec::new();
    for invoice in written.into_values() {
        let held = held_by(store, account, PostingKind::Invoice, invoice.id.as_str())?;
        posted.extend(accrual::posting(account, invoice, held, at));
        if let Some(due) = accrual::next_recognition(invoice) {
            let scope = keys::scope_of(clock).to_owned();
            scheduled.push(Write::Due {
                scope,
                due,
                object: Scheduled::Invoice(invoice.id.clone()),
            });
        }
    }
    changes.writes.extend(scheduled);
    Ok(posted)
}

/// How a sale's charge moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SaleMove {
    /// It succeeded: its postings hold nothing yet (a charge that succeeds again was recalled
    /// first, which took them back to nothing), so nothing is read.
    Succeeded,
    /// A refund or a recall: what its postings hold is read. If they hold nothing, the charge
    /// succeeded before the books carried sales, and its refund is left out of them too.
    Undone,
}

/// The posting that brings `charge`'s sale accruals up to its state, if it moves any.
pub(super) fn sale(
    store: &dyn CustomerStore,
    account: &AccountId,
    charge: &Charge,
    moved: SaleMove,
    at: i64,
) -> Result<Option<Posting>, StoreError> {
    if charge.invoice.is_some() {
        return Ok(None);
    }
    let held = match moved {
        SaleMove::Succeeded => Accrued::default(),
        SaleMove::Undone => {
            let held = held_by(store, account, PostingKind::Sale, charge.id.as_str())?;
            if held == Accrued::default() {
                return Ok(None);
            }
            held
        }
    };
    Ok(sale::posting(account, charge, held, at))
}

/// What the accrual postings of `kind` made for `source` (an invoice, or a sale's charge)
/// hold.
fn held_by(
    store: &dyn CustomerStore,
    account: &AccountId,
    kind: PostingKind,
    source: &str,
) -> Result<Accrued, StoreError> {
    let filter = PostingFilter {
        kind: Some(kind),
        source: Some(source.to_owned()),
        ..PostingFilter::default()
    };
    let mut held = Accrued::default();
    each_in_pages(
        |after| store.postings(account, &filter, POSTINGS_PAGE, after),
        |posting| posting.id.clone(),
        |posting| {
            held.add(&posting);
            Ok::<(), StoreError>(())
        },
    )?;
    Ok(held)
}
