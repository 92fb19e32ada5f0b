//! The books' writer: at commit, each audit event that says money moved (a charge succeeded or
//! was recalled, a refund succeeded, a dispute opened or was won) adds its postings to the same
//! change set, so the books never miss a movement nor record one that did not happen. A split
//! charge's transfer moves with it: the payee's share when the charge succeeds, the part a
//! refund reversed (as the refund records it) when the refund succeeds; a dispute posts what
//! its gateway withdrew and reinstated and the payee's share it held (see [`disputes`]).
//! Statement lines and the customer's balance post what they moved (see [`balances`]), and
//! each invoice written and each sale its accruals (see [`accruals`]). Records are read from
//! the set's own writes (the last one wins) or, where the set does not write them, from the
//! store.

mod accruals;
mod balances;
mod disputes;

use crate::domain::{
    AccountId, Charge, ChargeId, Dispute, DisputeId, Event, EventKind, Posting, Refund, RefundId,
    TestClockId,
};
use crate::ledger::postings;
use crate::store::{ChangeSet, CustomerStore, StoreError, Write};
use accruals::SaleMove;

pub fn post(changes: &mut ChangeSet, store: &dyn CustomerStore) -> Result<(), StoreError> {
    let mut posted = Vec::new();
    for write in &changes.writes {
        let Write::Event(event) = write else { continue };
        posted.extend(postings_of(changes, store, event)?);
    }
    posted.extend(balances::bank_lines(changes, store)?);
    let moved = balances::customer_balance(changes, store, &posted)?;
    posted.extend(moved);
    let clock = test_clock(changes, store)?;
    posted.extend(accruals::invoices(changes, store, clock.as_ref())?);
    if clock.is_some() {
        for posting in &mut posted {
            posting.on_test_clock = true;
        }
    }
    changes.writes.extend(posted.into_iter().map(|posting| Write::Posting(Box::new(posting))));
    Ok(())
}

/// A share earned by a payee on a test clock becomes available after the payee's delay on the
/// clock's time, not the real time its charge succeeded at: the clock drives its payouts.
/// Called where a charge succeeds.
pub(super) fn share_on_payee_clock(
    account: &AccountId,
    charge: &mut Charge,
    store: &dyn CustomerStore,
) -> Result<(), StoreError> {
    let Some(transfer) = charge.transfer.as_deref_mut() else { return Ok(()) };
    let Some(clock) = &transfer.payee_clock else { return Ok(()) };
    if let Some(clock) = store.test_clock(account, clock)? {
        transfer.share_succeeded(clock.frozen_time);
    }
    Ok(())
}

/// The test clock the set's customer lives by, if any: its money is left out of reports and
/// its invoices' recognition is scheduled on the clock.
fn test_clock(
    changes: &ChangeSet,
    store: &dyn CustomerStore,
) -> Result<Option<TestClockId>, StoreError> {
    let written = |write: &Write| match write {
        Write::Customer(customer) if customer.id == changes.customer => {
            Some(customer.test_clock.clone())
        }
        _ => None,
    };
    match changes.writes.iter().rev().find_map(written).or_else(|| changes.test_clock.clone()) {
        Some(clock) => Ok(clock),
        None => store.customer_test_clock(&changes.account, &changes.customer),
    }
}

fn postings_of(
    changes: &ChangeSet,
    store: &dyn CustomerStore,
    event: &Event,
) -> Result<Vec<Posting>, StoreError> {
    let account = &changes.account;
    let at = event.created;
    let before = event.before.as_deref();
    let mut posted = Vec::new();
    match event.kind {
        EventKind::ChargeSucceeded => {
            if let Some(charge) = charge(changes, store, &event.object_id)? {
                posted.extend(postings::charge_succeeded(account, &charge, at));
                posted.extend(accruals::sale(store, account, &charge, SaleMove::Succeeded, at)?);
                if let Some(transfer) = &charge.transfer {
                    posted.extend(postings::transfer_made(account, &charge, transfer, at));
                }
            }
        }
        // A payment recalled after it succeeded (a bank transfer reversed): the payee gives
        // back what is left of its share.
        EventKind::ChargeProcessing | EventKind::ChargeFailed if before == Some("succeeded") => {
            if let Some(charge) = charge(changes, store, &event.object_id)? {
                posted.extend(postings::charge_recalled(account, &charge, at));
                posted.extend(accruals::sale(store, account, &charge, SaleMove::Undone, at)?);
                if let Some(transfer) = &charge.transfer {
                    let left = transfer.net_minor() - transfer.reversed_minor;
                    posted
                        .extend(postings::transfer_reversed(account, &charge, transfer, left, at));
                }
            }
        }
        // A refund of credit moves the customer's balance, never the platform's: out when it is
        // recorded, paid from transit, or back when it fails.
        EventKind::RefundPending | EventKind::RefundFailed => {
            if let Some(refund) = refund(changes, store, &event.object_id)?
                && refund.of_balance()
            {
                posted.extend(match event.kind {
                    EventKind::RefundPending => {
                        postings::credit_refund_recorded(account, &refund, at)
                    }
                    _ => postings::credit_refund_failed(account, &refund, at),
                });
            }
        }
        EventKind::RefundSucceeded => {
            let Some(refund) = refund(changes, store, &event.object_id)? else {
                return Ok(posted);
            };
            let Some(charge_id) = &refund.charge else {
                posted.extend(postings::credit_refund_paid(account, &refund, at));
                return Ok(posted);
            };
            let charge = charge(changes, store, charge_id.as_str())?;
            let booked = refund.booked(charge.as_ref());
            posted.extend(postings::refund_succeeded(account, &refund, booked, at));
            if let Some(charge) = &charge {
                posted.extend(accruals::sale(store, account, charge, SaleMove::Undone, at)?);
            }
            if refund.transfer_reversed_minor > 0
                && let Some(charge) = &charge
                && let Some(transfer) = &charge.transfer
            {
                let reversed = refund.transfer_reversed_minor;
                posted.extend(postings::transfer_reversed(account, charge, transfer, reversed, at));
            }
        }
        EventKind::DisputeOpened | EventKind::DisputeUpdated | EventKind::DisputeClosed => {
            posted.extend(disputes::postings_of(changes, store, event)?);
        }
        _ => {}
    }
    Ok(posted)
}

fn charge(
    changes: &ChangeSet,
    store: &dyn CustomerStore,
    id: &str,
) -> Result<Option<Charge>, StoreError> {
    let Some(id) = ChargeId::parse(id) else { return Ok(None) };
    let written = |write: &Write| match write {
        Write::Charge(charge) | Write::NewCharge(charge) if charge.id == id => Some(charge.clone()),
        _ => None,
    };
    latest(changes, written, || store.charge(&changes.account, &id))
}

fn refund(
    changes: &ChangeSet,
    store: &dyn CustomerStore,
    id: &str,
) -> Result<Option<Refund>, StoreError> {
    let Some(id) = RefundId::parse(id) else { return Ok(None) };
    let written = |write: &Write| match write {
        Write::Refund(refund) if refund.id == id => Some(refund.clone()),
        _ => None,
    };
    latest(changes, written, || store.refund(&changes.account, &id))
}

fn dispute(
    changes: &ChangeSet,
    store: &dyn CustomerStore,
    id: &str,
) -> Result<Option<Dispute>, StoreError> {
    let Some(id) = DisputeId::parse(id) else { return Ok(None) };
    let written = |write: &Write| match write {
        Write::Dispute(dispute) if dispute.id == id => Some(dispute.clone()),
        _ => None,
    };
    latest(changes, written, || store.dispute(&changes.account, &id))
}

/// The record as the set leaves it: its last write in the set, or what the store holds.
fn latest<T>(
    changes: &ChangeSet,
    written: impl Fn(&Write) -> Option<T>,
    stored: impl FnOnce() -> Result<Option<T>, StoreError>,
) -> Result<Option<T>, StoreError> {
    match changes.writes.iter().rev().find_map(written) {
        Some(record) => Ok(Some(record)),
        None => stored(),
    }
}
