//! The statuses an audit event records, and the events no handler writes itself. A handler
//! writes its event where it decides the change, often before the object's last step in the
//! same change set (a subscription activated once its first invoice is paid), so the statuses
//! are read here, at commit: after, from the records the set writes; before, from the store,
//! which does not hold the set yet. A subscription or invoice whose status the set changes with
//! no event about it (an invoice paid by its charge, the subscription that payment activates)
//! gets one here, with the cause of the set's other events: every change of status is in the
//! trail.

use crate::domain::{
    Actor, Cause, ChargeId, DisputeId, Event, EventKind, InvoiceId, InvoiceStatus, PaymentPlanId,
    RefundId, SubscriptionId,
};
use crate::store::{ChangeSet, CustomerStore, StoreError, Write};

pub fn record_statuses(
    changes: &mut ChangeSet,
    store: &dyn CustomerStore,
) -> Result<(), StoreError> {
    let mut filled = Vec::new();
    for (index, write) in changes.writes.iter().enumerate() {
        let Write::Event(event) = write else { continue };
        if event.after.is_some() {
            continue;
        }
        let Some(after) = last_status(changes, &event.object_id) else { continue };
        filled.push((index, stored_status(changes, store, &event.object_id)?, after));
    }
    for (index, before, after) in filled {
        if let Write::Event(event) = &mut changes.writes[index] {
            event.before = before;
            event.after = Some(after);
        }
    }
    record_unannounced(changes, store)
}

/// An event for each subscription and invoice whose status changes with none about it.
fn record_unannounced(
    changes: &mut ChangeSet,
    store: &dyn CustomerStore,
) -> Result<(), StoreError> {
    let mut added = Vec::new();
    for write in &changes.writes {
        let (id, after, kind) = match write {
            Write::Subscription { record, .. } => {
                (record.id.as_str(), record.status.as_str(), EventKind::SubscriptionUpdated)
            }
            Write::PaymentPlan { record, .. } => {
                (record.id.as_str(), record.status.as_str(), EventKind::PaymentPlanUpdated)
            }
            Write::Invoice(invoice) if invoice.status == InvoiceStatus::Paid => {
                (invoice.id.as_str(), invoice.status.as_str(), EventKind::InvoicePaid)
            }
            _ => continue,
        };
        let announced = changes
            .writes
            .iter()
            .chain(&added)
            .any(|write| matches!(write, Write::Event(event) if event.object_id == id));
        if announced || last_status(changes, id).as_deref() != Some(after) {
            continue;
        }
        let before = stored_status(changes, store, id)?;
        if before.as_deref() == Some(after) {
            continue;
        }
        let event = Event::new(kind, id, &set_cause(changes)).status(before.as_deref(), after);
        added.push(Write::Event(event));
    }
    changes.writes.extend(added);
    Ok(())
}

/// The cause the set's own events name; the engine's when it has none.
fn set_cause(changes: &ChangeSet) -> Cause {
    let event = changes.writes.iter().find_map(|write| match write {
        Write::Event(event) => Some(event),
        _ => None,
    });
    match event {
        Some(event) => Cause {
            reason: event.cause.clone(),
            actor: event.actor.clone().unwrap_or(Actor::System),
        },
        None => Cause::system("billing"),
    }
}

/// The status the set's last write of the object with this id gives it.
fn last_status(changes: &ChangeSet, object_id: &str) -> Option<String> {
    changes.writes.iter().rev().find_map(|write| status_in(write, object_id))
}

/// The status `write` gives the object with this id, if it writes that object.
fn status_in(write: &Write, object_id: &str) -> Option<String> {
    let status = match write {
        Write::NewCharge(charge) | Write::Charge(charge) if charge.id.as_str() == object_id => {
            charge.status.as_str()
        }
        Write::Refund(refund) if refund.id.as_str() == object_id => refund.status.as_str(),
        Write::Dispute(dispute) if dispute.id.as_str() == object_id => dispute.status.as_str(),
        Write::Subscription { record, .. } if record.id.as_str() == object_id => {
            record.status.as_str()
        }
        Write::PaymentPlan { record, .. } if record.id.as_str() == object_id => {
            record.status.as_str()
        }
        Write::Invoice(invoice) if invoice.id.as_str() == object_id => invoice.status.as_str(),
        _ => return None,
    };
    Some(status.to_owned())
}

/// The object's status as the store holds it before the change set; `None` for a new object.
fn stored_status(
    changes: &ChangeSet,
    store: &dyn CustomerStore,
    id: &str,
) -> Result<Option<String>, StoreError> {
    let account = &changes.account;
    let status = if let Some(id) = ChargeId::parse(id) {
        store.charge(account, &id)?.map(|charge| charge.status.as_str().to_owned())
    } else if let Some(id) = RefundId::parse(id) {
        store.refund(account, &id)?.map(|refund| refund.status.as_str().to_owned())
    } else if let Some(id) = DisputeId::parse(id) {
        store.dispute(account, &id)?.map(|dispute| dispute.status)
    } else if let Some(id) = SubscriptionId::parse(id) {
        store
            .subscription(account, &id)?
            .map(|subscription| subscription.status.as_str().to_owned())
    } else if let Some(id) = InvoiceId::parse(id) {
        store.invoice(account, &id)?.map(|invoice| invoice.status.as_str().to_owned())
    } else if let Some(id) = PaymentPlanId::parse(id) {
        store.payment_plan(account, &id)?.map(|plan| plan.status.as_str().to_owned())
    } else {
        None
    };
    Ok(status)
}
