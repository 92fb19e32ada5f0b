//! The outbox's writer: at commit, each audit event a platform can act on becomes an outgoing
//! event in the same change set, carrying the object as the API shows it after the change and,
//! for an update, what its changed fields were before. The object is read from the set's own
//! writes (its last one wins) or, where the set does not write it, from the store; its earlier
//! state is the store's, which does not hold the set yet.

use serde_json::{Map, Value};

use crate::api::{billing_views, views};
use crate::domain::{
    AccountId, ChargeId, CheckoutSessionId, CreditNoteId, CustomerId, DisputeId, EventKind,
    InvoiceId, NewOutgoingEvent, PaymentMethodId, PaymentPlanId, RefundId, SponsorshipId,
    SubscriptionId,
};
use crate::store::{ChangeSet, CustomerStore, StoreError, Write};

pub fn announce(changes: &mut ChangeSet, store: &dyn CustomerStore) -> Result<(), StoreError> {
    let mut announced: Vec<(&'static str, String)> = Vec::new();
    for write in &changes.writes {
        match write {
            Write::Event(event) => {
                let (before, after) = (event.before.as_deref(), event.after.as_deref());
                for (kind, object_id) in
                    outgoing_kinds(changes, store, event.kind, &event.object_id, before, after)?
                {
                    announced.push((kind, object_id));
                }
            }
            Write::CreditNote(note) if store.credit_note(&changes.account, &note.id)?.is_none() => {
                announced.push(("credit_note.created", note.id.as_str().to_owned()));
            }
            _ => {}
        }
    }
    let mut outgoing = Vec::with_capacity(announced.len());
    for (kind, object_id) in announced {
        let Some(after) = render(changes, store, &object_id, Side::After)? else { continue };
        let earlier = outgoing
            .iter()
            .filter(|event: &&NewOutgoingEvent| event.object_id == object_id)
            .count();
        let version = store.object_version(&changes.account, &object_id)? + earlier as u64 + 1;
        let mut object = after;
        object["version"] = Value::from(version);
        let mut data = Map::new();
        if shows_previous_attributes(kind)
            && let Some(before) = render(changes, store, &object_id, Side::Before)?
        {
            let previous = previous_attributes(&before, &object);
            if !previous.is_empty() {
                data.insert("previous_attributes".into(), Value::Object(previous));
            }
        }
        data.insert("object".into(), object);
        outgoing.push(NewOutgoingEvent::new(
            &changes.account,
            Some(&changes.customer),
            kind,
            &object_id,
            version,
            &Value::Object(data),
        ));
    }
    changes.writes.extend(outgoing.into_iter().map(Write::Outgoing));
    Ok(())
}

/// The outgoing events an audit event makes, each about an object (the audit event's, or the
/// invoice its charge pays).
fn outgoing_kinds(
    changes: &ChangeSet,
    store: &dyn CustomerStore,
    kind: EventKind,
    object_id: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> Result<Vec<(&'static str, String)>, StoreError> {
    let own = |kinds: &[&'static str]| -> Vec<(&'static str, String)> {
        kinds.iter().map(|kind| (*kind, object_id.to_owned())).collect()
    };
    let kinds = match kind {
        EventKind::CustomerCreated => own(&["customer.created"]),
        EventKind::CustomerUpdated => own(&["customer.updated"]),
        EventKind::CustomerDeleted => own(&["customer.deleted"]),
        EventKind::PaymentMethodAttached => own(&["payment_method.attached"]),
        EventKind::PaymentMethodDetached => own(&["payment_method.detached"]),
        EventKind::ChargeSucceeded => own(&["charge.succeeded"]),
        EventKind::ChargeFailed => {
            let mut kinds = own(&["charge.failed"]);
            if let Some(invoice) = charge_invoice(changes, store, object_id)? {
                kinds.push(("invoice.payment_failed", invoice));
            }
            kinds
        }
        EventKind::ChargeRequiresAction => match charge_invoice(changes, store, object_id)? {
            Some(invoice) => vec![("invoice.payment_action_required", invoice)],
            None => Vec::new(),
        },
        EventKind::RefundPending => own(&["refund.created"]),
        EventKind::RefundSucceeded => {
            let refund = match before {
                None => "refund.created",
                Some(_) => "refund.updated",
            };
            let mut kinds = own(&[refund]);
            if let Some(charge) = refund_charge(changes, store, object_id)? {
                kinds.push(("charge.refunded", charge));
            }
            kinds
        }
        EventKind::RefundFailed => own(&["refund.failed"]),
        EventKind::DisputeOpened => own(&["charge.dispute.created"]),
        EventKind::DisputeUpdated => own(&["charge.dispute.updated"]),
        EventKind::DisputeClosed => own(&["charge.dispute.closed"]),
        EventKind::SubscriptionCreated => own(&["customer.subscription.created"]),
        EventKind::SubscriptionUpdated | EventKind::SubscriptionRenewed => {
            let mut kinds = own(&["customer.subscription.updated"]);
            match (before == Some("paused"), after == Some("paused")) {
                (false, true) => kinds.push(("customer.subscription.paused", object_id.to_owned())),
                (true, false) => {
                    kinds.push(("customer.subscription.resumed", object_id.to_owned()))
                }
                _ => {}
            }
            kinds
        }
        EventKind::SubscriptionCanceled => own(&["customer.subscription.deleted"]),
        EventKind::SubscriptionTrialWillEnd => own(&["customer.subscription.trial_will_end"]),
        EventKind::InvoiceFinalized => match before {
            None => own(&["invoice.created", "invoice.finalized"]),
            Some(_) => own(&["invoice.finalized"]),
        },
        EventKind::InvoicePaid => own(&["invoice.paid"]),
        EventKind::InvoiceVoided => own(&["invoice.voided"]),
        EventKind::InvoiceMarkedUncollectible => own(&["invoice.marked_uncollectible"]),
        EventKind::InvoiceOverdue => own(&["invoice.overdue"]),
        EventKind::PaymentPlanCreated => own(&["payment_plan.created"]),
        EventKind::PaymentPlanUpdated => own(&["payment_plan.updated"]),
        EventKind::PaymentPlanCanceled => own(&["payment_plan.canceled"]),
        EventKind::CheckoutSessionCompleted => own(&["checkout.session.completed"]),
        EventKind::CheckoutSessionExpired => own(&["checkout.session.expired"]),
        EventKind::SponsorshipCreated => own(&["sponsorship.created"]),
        EventKind::SponsorshipUpdated => own(&["sponsorship.updated"]),
        // The engine's own steps (a charge sent, rerouted, held for an operator), the account's
        // own changes and its promotional grants (the platform made them) are in the audit
        // trail, not announced.
        EventKind::ChargeProcessing
        | EventKind::ChargeRerouted
        | EventKind::ChargeHeldForReview
        | EventKind::AccountCreated
        | EventKind::AccountUpdated
        | EventKind::ApiKeyCreated
        | EventKind::ApiKeyUpdated
        | EventKind::ApiKeyRevoked
        | EventKind::GrantCreated
        | EventKind::GrantDeleted
        | EventKind::CheckoutSessionCreated
        | EventKind::CheckoutSessionUpdated => Vec::new(),
    };
    Ok(kinds)
}

/// Whether an event of this type shows what the object's changed fields were: an update does,
/// as Stripe's `*.updated` events do. Others say what happened by their type, and a creation or
/// a deletion (an erasure above all) has nothing earlier to show.
fn shows_previous_attributes(kind: &str) -> bool {
    kind.ends_with(".updated")
}

/// The fields of `after` whose values differ in `before`, with their values in `before`.
fn previous_attributes(before: &Value, after: &Value) -> Map<String, Value> {
    let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else {
        return Map::new();
    };
    before
        .iter()
        .filter(|(field, value)| *field != "version" && after.get(*field) != Some(value))
        .map(|(field, value)| (field.clone(), value.clone()))
        .collect()
}

fn charge_invoice(
    changes: &ChangeSet,
    store: &dyn CustomerStore,
    charge: &str,
) -> Result<Option<String>, StoreError> {
    let Some(id) = ChargeId::parse(charge) else { return Ok(None) };
    let record = match latest_charge(changes, &id) {
        Some(charge) => Some(charge.clone()),
        None => store.charge(&changes.account, &id)?,
    };
    Ok(record.and_then(|charge| charge.invoice).map(|invoice| invoice.as_str().to_owned()))
}

fn refund_charge(
    changes: &ChangeSet,
    store: &dyn CustomerStore,
    refund: &str,
) -> Result<Option<String>, StoreError> {
    let Some(id) = RefundId::parse(refund) else { return Ok(None) };
    let record = changes.writes.iter().rev().find_map(|write| match write {
        Write::Refund(refund) if refund.id == id => Some(refund.clone()),
        _ => None,
    });
    let record = match record {
        Some(refund) => Some(refund),
        None => store.refund(&changes.account, &id)?,
    };
    Ok(record.and_then(|refund| refund.charge).map(|charge| charge.as_str().to_owned()))
}

fn latest_charge<'a>(changes: &'a ChangeSet, id: &ChargeId) -> Option<&'a crate::domain::Charge> {
    changes.writes.iter().rev().find_map(|write| match write {
        Write::Charge(charge) | Write::NewCharge(charge) if charge.id == *id => Some(charge),
        _ => None,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// As the store holds it, before the set.
    Before,
    /// As the set leaves it.
    After,
}

/// The object as the API shows it, on one side of the set; `None` if it does not exist there.
fn render(
    changes: &ChangeSet,
    store: &dyn CustomerStore,
    object_id: &str,
    side: Side,
) -> Result<Option<Value>, StoreError> {
    if side == Side::After
        && let Some(view) = render_written(changes, object_id)
    {
        return Ok(Some(view));
    }
    render_stored(store, &changes.account, &changes.customer, object_id)
}

/// The set's last write of the object, as the API shows it.
fn render_written(changes: &ChangeSet, object_id: &str) -> Option<Value> {
    changes.writes.iter().rev().find_map(|write| match write {
        Write::Customer(customer) if customer.id.as_str() == object_id => {
            Some(views::customer(customer))
        }
        Write::PaymentMethod(method) if method.id.as_str() == object_id => {
            Some(views::payment_method(method))
        }
        Write::Charge(charge) | Write::NewCharge(charge) if charge.id.as_str() == object_id => {
            serde_json::to_value(views::charge(charge)).ok()
        }
        Write::Refund(refund) if refund.id.as_str() == object_id => Some(views::refund(refund)),
        Write::Dispute(dispute) if dispute.id.as_str() == object_id => {
            Some(views::dispute(dispute))
        }
        Write::Subscription { record, .. } if record.id.as_str() == object_id => {
            Some(billing_views::subscription(record))
        }
        Write::Invoice(invoice) if invoice.id.as_str() == object_id => {
            Some(billing_views::invoice(invoice, false))
        }
        Write::CreditNote(note) if note.id.as_str() == object_id => {
            Some(billing_views::credit_note(note))
        }
        Write::PaymentPlan { record, .. } if record.id.as_str() == object_id => {
            Some(billing_views::payment_plan(record))
        }
        Write::CheckoutSession(session) if session.id.as_str() == object_id => {
            Some(billing_views::checkout_session(session, session.status))
        }
        Write::Sponsorship(record) if record.id.as_str() == object_id => {
            Some(billing_views::sponsorship(record, record.last_changed()))
        }
        _ => None,
    })
}

/// The object as the store holds it, by its id's prefix.
fn render_stored(
    store: &dyn CustomerStore,
    account: &AccountId,
    customer: &CustomerId,
    object_id: &str,
) -> Result<Option<Value>, StoreError> {
    if let Some(id) = CustomerId::parse(object_id) {
        return Ok(store.customer(account, &id)?.map(|customer| views::customer(&customer)));
    }
    if let Some(id) = PaymentMethodId::parse(object_id) {
        let methods = store.payment_methods(account, customer)?;
        let method = methods.into_iter().find(|method| method.id == id);
        return Ok(method.map(|method| views::payment_method(&method)));
    }
    if let Some(id) = CheckoutSessionId::parse(object_id) {
        let session = store.checkout_session(&id)?;
        return Ok(session.map(|session| billing_views::checkout_session(&session, session.status)));
    }
    if let Some(id) = ChargeId::parse(object_id) {
        let charge = store.charge(account, &id)?;
        return Ok(charge.and_then(|charge| serde_json::to_value(views::charge(&charge)).ok()));
    }
    if let Some(id) = RefundId::parse(object_id) {
        return Ok(store.refund(account, &id)?.map(|refund| views::refund(&refund)));
    }
    if let Some(id) = DisputeId::parse(object_id) {
        return Ok(store.dispute(account, &id)?.map(|dispute| views::dispute(&dispute)));
    }
    if let Some(id) = SubscriptionId::parse(object_id) {
        let subscription = store.subscription(account, &id)?;
        return Ok(subscription.map(|subscription| billing_views::subscription(&subscription)));
    }
    if let Some(id) = InvoiceId::parse(object_id) {
        let invoice = store.invoice(account, &id)?;
        return Ok(invoice.map(|invoice| billing_views::invoice(&invoice, false)));
    }
    if let Some(id) = CreditNoteId::parse(object_id) {
        let note = store.credit_note(account, &id)?;
        return Ok(note.map(|note| billing_views::credit_note(&note)));
    }
    if let Some(id) = PaymentPlanId::parse(object_id) {
        let plan = store.payment_plan(account, &id)?;
        return Ok(plan.map(|plan| billing_views::payment_plan(&plan)));
    }
    if let Some(id) = SponsorshipId::parse(object_id) {
        let sponsorship = store.sponsorship(account, &id)?;
        return Ok(
            sponsorship.map(|record| billing_views::sponsorship(&record, record.last_changed()))
        );
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn previous_attributes_hold_the_changed_fields_as_they_were() {
        let before = json!({"id": "sub_1", "status": "active", "quantity": 1, "version": 1});
        let after = json!({"id": "sub_1", "status": "past_due", "quantity": 1, "version": 2});
        let previous = previous_attributes(&before, &after);
        assert_eq!(Value::Object(previous), json!({"status": "active"}));
    }

    #[test]
    fn only_updates_show_previous_attributes() {
        assert!(shows_previous_attributes("customer.subscription.updated"));
        assert!(shows_previous_attributes("charge.dispute.updated"));
        assert!(!shows_previous_attributes("invoice.paid"));
        assert!(!shows_previous_attributes("customer.created"));
        assert!(!shows_previous_attributes("customer.deleted"));
    }
}
