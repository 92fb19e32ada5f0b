//! Each invoice the set writes brings its accruals up to its state (see
//! [`crate::ledger::accrual`]): what its state accrues against what its postings hold, the
//! difference posted; while revenue of it is still deferred, its next recognition is scheduled.

use std::collections::BTreeMap;

use crate::domain::time::now_unix_secs;
use crate::domain::{AccountId, Invoice, InvoiceId, Posting, PostingKind, TestClockId};
use crate::ledger::accrual::{self, Accrued};
use crate::store::{
    ChangeSet, CustomerStore, PostingFilter, Scheduled, StoreError, Write, each_in_pages, keys,
};

/// An invoice's accrual postings read at a time.
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
        let held = held_by(store, account, invoice)?;
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

/// What the invoice's accrual postings hold.
fn held_by(
    store: &dyn CustomerStore,
    account: &AccountId,
    invoice: &Invoice,
) -> Result<Accrued, StoreError> {
    let filter = PostingFilter {
        kind: Some(PostingKind::Invoice),
        source: Some(invoice.id.as_str().to_owned()),
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
