//! How Kassa's objects look on the wire (API.md), and which status an outcome answers with.

use serde_json::{Value, json};
use warp::http::StatusCode;

use super::error::ApiError;
use crate::domain::money::currency_code;
use crate::domain::{
    Breakdown, Charge, ChargeStatus, Customer, Dispute, DisputeId, GatewayEvent, NextAction,
    PaymentMethod, PluginRef, Refund,
};
use crate::rules::KindListing;
use crate::store::Outcome;
use kassa_gateways::DeclineCode;
use kassa_gateways::sandbox::{EntryKind, LedgerEntry};

pub fn customer(customer: &Customer) -> Value {
    json!({
        "id": customer.id.as_str(),
        "object": "customer",
        "email": customer.email,
        "name": customer.name,
        "phone": customer.phone,
        "address": customer.address.as_ref().map(|address| json!({
            "country": address.country,
            "region": address.region,
            "postal_code": address.postal_code,
        })),
        "metadata": customer.metadata,
        "created": customer.created,
        "default_payment_method": customer.default_payment_method.as_ref().map(|id| id.as_str()),
        "tax_ids": customer.tax_ids.iter().map(|id| json!({
            "type": id.kind,
            "value": id.value,
        })).collect::<Vec<_>>(),
    })
}

pub fn payment_method(method: &PaymentMethod) -> Value {
    json!({
        "id": method.id.as_str(),
        "object": "payment_method",
        "customer": method.customer.as_str(),
        "type": method.kind(),
        "gateway": method.gateway,
        "card": method.card.as_ref().map(|card| json!({
            "brand": card.brand,
            "last4": card.last4,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
        })),
        "mpesa": method.phone_last4().map(|last4| json!({ "phone_last4": last4 })),
        "created": method.created,
    })
}

pub fn charge(charge: &Charge) -> Value {
    json!({
        "id": charge.id.as_str(),
        "object": "charge",
        "customer": charge.customer.as_str(),
        "amount": charge.amount.amount_minor,
        "currency": currency_code(charge.amount.currency),
        "status": charge.status.as_str(),
        "payment_method": charge.payment_method.as_str(),
        "gateway": charge.gateway,
        "gateway_attempt": charge.attempt,
        "gateway_reference": charge.gateway_reference,
        "next_action": charge.next_action.as_ref().map(next_action),
        "failure_code": charge.failure.as_ref().map(|failure| failure.code.as_str()),
        "failure_message": charge.failure.as_ref().map(|failure| failure.message.as_str()),
        "amount_refunded": charge.amount_refunded_minor,
        "refunded": charge.is_fully_refunded(),
        "description": charge.description,
        "metadata": charge.metadata,
        "created": charge.created,
        "breakdown": charge.breakdown.as_deref().map(breakdown),
        "disputed": charge.dispute.is_some(),
        "dispute": charge.dispute.as_ref().map(DisputeId::as_str),
    })
}

/// What the front end needs to finish a `requires_action` charge: stripe.js with the client
/// secret (`use_stripe_sdk`), or a redirect.
fn next_action(action: &NextAction) -> Value {
    json!({
        "type": action.kind,
        "redirect_url": action.redirect_url,
        "client_secret": action.client_secret.as_ref().map(|secret| secret.0.as_str()),
    })
}

fn breakdown(breakdown: &Breakdown) -> Value {
    let evaluation = &breakdown.evaluation;
    json!({
        "lines": breakdown.lines.iter().map(|line| json!({
            "sku": line.sku,
            "quantity": line.quantity,
            "amount": line.amount_minor,
        })).collect::<Vec<_>>(),
        "subtotal": breakdown.subtotal_minor,
        "discounts": breakdown.discounts.iter().map(|discount| json!({
            "code": discount.code,
            "amount": discount.amount_minor,
        })).collect::<Vec<_>>(),
        "tax": breakdown.tax.iter().map(|tax| json!({
            "name": tax.name,
            "jurisdiction": tax.jurisdiction,
            "rate_bps": tax.rate_bps,
            "amount": tax.amount_minor,
        })).collect::<Vec<_>>(),
        "reverse_charge": breakdown.reverse_charge,
        "total": breakdown.total_minor,
        "rules": {
            "pricing": plugin_ref(&evaluation.pricing),
            "tax": plugin_ref(&evaluation.tax),
            "evaluated_at": evaluation.evaluated_at,
        },
    })
}

fn plugin_ref(reference: &PluginRef) -> Value {
    json!({
        "kind": reference.kind.as_str(),
        "version": reference.version,
        "source": reference.source.as_str(),
        "sha256": reference.sha256,
    })
}

/// One kind's rule for an account: its versions, bundled first, and which is active.
pub fn plugin(listing: &KindListing) -> Value {
    json!({
        "object": "plugin",
        "kind": listing.kind.as_str(),
        "active_version": listing.active_version,
        "versions": listing.versions.iter().map(|version| json!({
            "version": version.version,
            "source": version.source.as_str(),
            "sha256": version.sha256,
            "size_bytes": version.size_bytes,
            "created": version.created,
            "active": version.version == listing.active_version,
        })).collect::<Vec<_>>(),
    })
}

pub fn refund(refund: &Refund) -> Value {
    json!({
        "id": refund.id.as_str(),
        "object": "refund",
        "charge": refund.charge.as_str(),
        "amount": refund.amount.amount_minor,
        "currency": currency_code(refund.amount.currency),
        "status": refund.status.as_str(),
        "reason": refund.reason.map(|reason| reason.as_str()),
        "gateway_reference": refund.gateway_reference,
        "failure_message": refund.failure_message,
        "created": refund.created,
    })
}

pub fn dispute(dispute: &Dispute) -> Value {
    json!({
        "id": dispute.id.as_str(),
        "object": "dispute",
        "charge": dispute.charge.as_str(),
        "amount": dispute.amount.amount_minor,
        "currency": currency_code(dispute.amount.currency),
        "reason": dispute.reason,
        "status": dispute.status,
        "gateway": dispute.gateway,
        "gateway_reference": dispute.gateway_reference,
        "created": dispute.created,
    })
}

/// An ingested gateway event (not its payload: the list is for seeing what arrived and what
/// became of it).
pub fn gateway_event(event: &GatewayEvent) -> Value {
    json!({
        "id": event.id.as_str(),
        "object": "event",
        "type": event.kind,
        "gateway": event.gateway,
        "gateway_event_id": event.gateway_event_id,
        "gateway_created": event.gateway_created,
        "received": event.received,
        "created": event.received,
        "applied": event.applied.is_some(),
        "applied_at": event.applied.as_ref().map(|applied| applied.at),
        "outcome": event.applied.as_ref().map(|applied| applied.outcome.as_str()),
    })
}

pub fn ledger_entry(entry: &LedgerEntry) -> Value {
    json!({
        "gateway_reference": entry.gateway_reference,
        "idempotency_key": entry.idempotency_key,
        "amount": entry.amount_minor,
        "currency": currency_code(entry.currency),
        "kind": match entry.kind {
            EntryKind::Charge => "charge",
            EntryKind::Refund => "refund",
        },
        "created": entry.created,
    })
}

pub fn list(data: Vec<Value>, has_more: bool) -> Value {
    json!({ "object": "list", "data": data, "has_more": has_more })
}

/// The response an outcome answers with, the same the first time and on every replay.
pub fn outcome(outcome: &Outcome) -> (StatusCode, Value) {
    match outcome {
        Outcome::Customer(record) => (StatusCode::OK, customer(record)),
        Outcome::PaymentMethod(method) => (StatusCode::OK, payment_method(method)),
        Outcome::PaymentMethodDeleted(id) => (
            StatusCode::OK,
            json!({ "id": id.as_str(), "object": "payment_method", "deleted": true }),
        ),
        Outcome::Charge(record) => charge_outcome(record),
        Outcome::Refund(record) => (StatusCode::OK, refund(record)),
    }
}

/// A failed charge answers with the error that failed it, naming the kept charge.
fn charge_outcome(record: &Charge) -> (StatusCode, Value) {
    let failure = match (&record.status, &record.failure) {
        (ChargeStatus::Failed, Some(failure)) => failure,
        _ => return (StatusCode::OK, charge(record)),
    };
    let id = record.id.as_str();
    let error = if DeclineCode::parse(&failure.code).is_some() {
        ApiError::card_declined(&failure.code, &failure.message, id)
    } else if failure.code == "payment_method_invalid" {
        ApiError::invalid("payment_method_invalid", failure.message.clone())
            .with_extra("charge", id)
    } else {
        ApiError::gateway_unavailable(failure.message.clone()).with_extra("charge", id)
    };
    (error.status, error.body())
}
