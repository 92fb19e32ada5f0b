//! The books' writer: at commit, each audit event that says money moved (a charge succeeded or
//! was recalled, a refund succeeded, a dispute opened or was won) adds its posting to the same
//! change set, so the books never miss a movement nor record one that did not happen. The
//! record is read from the set's own writes (its last one wins) or, where the set does not
//! write it, from the store.

use crate::domain::{
    Charge, ChargeId, Dispute, DisputeId, Event, EventKind, Posting, Refund, RefundId,
};
use crate::ledger::postings;
use crate::store::{ChangeSet, CustomerStore, StoreError, Write};

pub fn post(changes: &mut ChangeSet, store: &dyn CustomerStore) -> Result<(), StoreError> {
    let mut posted = Vec::new();
    for write in &changes.writes {
        let Write::Event(event) = write else { continue };
        posted.extend(postings_of(changes, store, event)?);
    }
    changes.writes.extend(posted.into_iter().map(|posting| Write::Posting(Box::new(posting))));
    Ok(())
}

fn postings_of(
    changes: &ChangeSet,
    store: &dyn CustomerStore,
    event: &Event,
) -> Result<Vec<Posting>, StoreError> {
    let account = &changes.account;
    let at = event.created;
    let (before, after) = (event.before.as_deref(), event.after.as_deref());
    let posting = match event.kind {
        EventKind::ChargeSucceeded => charge(changes, store, &event.object_id)?
            .and_then(|charge| postings::charge_succeeded(account, &charge, at)),
        // A payment recalled after it succeeded (a bank transfer reversed).
        EventKind::ChargeProcessing | EventKind::ChargeFailed if before == Some("succeeded") => {
            charge(changes, store, &event.object_id)?
                .and_then(|charge| postings::charge_recalled(account, &charge, at))
        }
        EventKind::RefundSucceeded => refund(changes, store, &event.object_id)?
            .and_then(|refund| postings::refund_succeeded(account, &refund, at)),
        EventKind::DisputeOpened => {
            let Some(dispute) = dispute(changes, store, &event.object_id)? else {
                return Ok(Vec::new());
            };
            let mut posted: Vec<Posting> =
                postings::dispute_opened(account, &dispute, at).into_iter().collect();
            if after == Some("won") {
                posted.extend(postings::dispute_won(account, &dispute, at));
            }
            return Ok(posted);
        }
        EventKind::DisputeUpdated | EventKind::DisputeClosed
            if after == Some("won") && before != Some("won") =>
        {
            dispute(changes, store, &event.object_id)?
                .and_then(|dispute| postings::dispute_won(account, &dispute, at))
        }
        _ => None,
    };
    Ok(posting.into_iter().collect())
}

fn charge(
    changes: &ChangeSet,
    store: &dyn CustomerStore,
    id: &str,
) -> Result<Option<Charge>, StoreError> {
    let Some(id) = ChargeId::parse(id) else { return Ok(None) };
    let written = changes.writes.iter().rev().find_map(|write| match write {
        Write::Charge(charge) | Write::NewCharge(charge) if charge.id == id => Some(charge.clone()),
        _ => None,
    });
    match written {
        Some(charge) => Ok(Some(charge)),
        None => store.charge(&changes.account, &id),
    }
}

fn refund(
    changes: &ChangeSet,
    store: &dyn CustomerStore,
    id: &str,
) -> Result<Option<Refund>, StoreError> {
    let Some(id) = RefundId::parse(id) else { return Ok(None) };
    let written = changes.writes.iter().rev().find_map(|write| match write {
        Write::Refund(refund) if refund.id == id => Some(refund.clone()),
        _ => None,
    });
    match written {
        Some(refund) => Ok(Some(refund)),
        None => store.refund(&changes.account, &id),
    }
}

fn dispute(
    changes: &ChangeSet,
    store: &dyn CustomerStore,
    id: &str,
) -> Result<Option<Dispute>, StoreError> {
    let Some(id) = DisputeId::parse(id) else { return Ok(None) };
    let written = changes.writes.iter().rev().find_map(|write| match write {
        Write::Dispute(dispute) if dispute.id == id => Some(dispute.clone()),
        _ => None,
    });
    match written {
        Some(dispute) => Ok(Some(dispute)),
        None => store.dispute(&changes.account, &id),
    }
}
