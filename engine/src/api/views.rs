//! How Kassa's objects look on the wire (API.md), and which status an outcome answers with.

use serde::Serialize;
use serde_json::{Value, json};
use warp::http::StatusCode;

use super::error::ApiError;
use super::{billing_views, coupon_views};
use crate::domain::money::currency_code;
use crate::domain::{
    Account, AmountReview, ApiKey, BankTransfer, Breakdown, Charge, ChargeStatus, Customer,
    CustomerId, Dispute, DisputeId, FeatureGrant, GatewayEvent, Metadata, NextAction,
    PaymentMethod, Permissions, PluginRef, PromotionalGrant, Refund, TaxBehavior,
};
use crate::rules::KindListing;
use crate::store::Outcome;
use kassa_gateways::DeclineCode;
use kassa_gateways::sandbox::{EntryKind, LedgerEntry};

/// An erased customer shows `deleted: true` (its personal fields empty); others have no
/// `deleted` field, as Stripe shows them.
pub fn customer(customer: &Customer) -> Value {
    let mut view = json!({
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
        "balance": customer.balance_minor,
        "currency": customer.currency.map(currency_code),
        "invoice_prefix": customer.invoice_prefix,
        "test_clock": customer.test_clock.as_ref().map(|id| id.as_str()),
        "bank_transfer_reference": customer.bank_transfer_reference,
    });
    if customer.deleted {
        view["deleted"] = json!(true);
    }
    view
}

/// A promotional grant; its `expires_at` is `null` when it lasts until withdrawn.
pub fn promotional_grant(customer: &CustomerId, grant: &PromotionalGrant) -> Value {
    json!({
        "id": grant.id.as_str(),
        "object": "grant",
        "customer": customer.as_str(),
        "feature": grant.feature,
        "expires_at": grant.expires_at,
        "reason": grant.reason,
        "created": grant.created,
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

/// A charge on the wire. Typed rather than built with `json!`: a charge is the answer of the
/// busiest route, and writing a struct straight to JSON skips the map of owned keys that a
/// `Value` builds first (a priced charge, with its breakdown, has over fifty of them).
#[derive(Serialize)]
pub struct ChargeView<'a> {
    id: &'a str,
    object: &'static str,
    customer: &'a str,
    amount: i64,
    currency: String,
    status: &'static str,
    payment_method: &'a str,
    gateway: &'a str,
    gateway_attempt: u32,
    gateway_reference: Option<&'a str>,
    next_action: Option<NextActionView<'a>>,
    failure_code: Option<&'a str>,
    failure_message: Option<&'a str>,
    amount_refunded: i64,
    refunded: bool,
    description: Option<&'a str>,
    metadata: &'a Metadata,
    created: i64,
    breakdown: Option<BreakdownView<'a>>,
    disputed: bool,
    dispute: Option<&'a str>,
    invoice: Option<&'a str>,
    grants: &'a [FeatureGrant],
    review: Option<ReviewView<'a>>,
    bank_transfer: Option<BankTransferView<'a>>,
    checkout_session: Option<&'a str>,
    /// The payee's share (`tr_…`), when the charge is split.
    transfer: Option<TransferView<'a>>,
    application_fee_amount: Option<i64>,
    /// Read back from the archive files (`storage.archive_after_days`).
    archived: bool,
}

/// A split charge's transfer: to whom, how much, and what refunds reversed of it.
#[derive(Serialize)]
pub struct TransferView<'a> {
    id: &'a str,
    payee: &'a str,
    amount: i64,
    amount_reversed: i64,
    available_on: Option<i64>,
}

/// Where and under which reference to pay a charge by bank transfer, and what has arrived.
#[derive(Serialize)]
pub struct BankTransferView<'a> {
    reference: &'a str,
    bank_name: &'a str,
    account_holder: &'a str,
    account_number: &'a str,
    branch_code: &'a str,
    swift: Option<&'a str>,
    amount_received: i64,
    expires_at: i64,
}

fn bank_transfer(transfer: &BankTransfer) -> BankTransferView<'_> {
    BankTransferView {
        reference: &transfer.reference,
        bank_name: &transfer.bank.bank_name,
        account_holder: &transfer.bank.account_holder,
        account_number: &transfer.bank.account_number,
        branch_code: &transfer.bank.branch_code,
        swift: transfer.bank.swift.as_deref(),
        amount_received: transfer.amount_received_minor,
        expires_at: transfer.expires_at,
    }
}

/// Why a `processing` charge waits for an operator rather than its gateway.
#[derive(Serialize)]
pub struct ReviewView<'a> {
    reason: &'static str,
    reported_amount: i64,
    reported_reference: Option<&'a str>,
    created: i64,
}

fn review(review: &AmountReview) -> ReviewView<'_> {
    ReviewView {
        reason: "amount_mismatch",
        reported_amount: review.reported_amount_minor,
        reported_reference: review.reported_reference.as_deref(),
        created: review.reported_at,
    }
}

pub fn charge(charge: &Charge) -> ChargeView<'_> {
    ChargeView {
        id: charge.id.as_str(),
        object: "charge",
        customer: charge.customer.as_str(),
        amount: charge.amount.amount_minor,
        currency: currency_code(charge.amount.currency),
        status: charge.status.as_str(),
        payment_method: charge.payment_method.as_str(),
        gateway: &charge.gateway,
        gateway_attempt: charge.attempt,
        gateway_reference: charge.gateway_reference.as_deref(),
        next_action: charge.next_action.as_ref().map(next_action),
        failure_code: charge.failure.as_ref().map(|failure| failure.code.as_str()),
        failure_message: charge.failure.as_ref().map(|failure| failure.message.as_str()),
        amount_refunded: charge.amount_refunded_minor,
        refunded: charge.is_fully_refunded(),
        description: charge.description.as_deref(),
        metadata: &charge.metadata,
        created: charge.created,
        breakdown: charge.breakdown.as_deref().map(breakdown),
        disputed: charge.dispute.is_some(),
        dispute: charge.dispute.as_ref().map(DisputeId::as_str),
        invoice: charge.invoice.as_ref().map(|id| id.as_str()),
        grants: &charge.grants,
        review: charge.review.as_ref().map(review),
        bank_transfer: charge.bank_transfer.as_deref().map(bank_transfer),
        checkout_session: charge.checkout_session.as_ref().map(|id| id.as_str()),
        transfer: charge.transfer.as_deref().map(|transfer| TransferView {
            id: transfer.id.as_str(),
            payee: transfer.payee.as_str(),
            amount: transfer.amount_minor,
            amount_reversed: transfer.reversed_minor,
            available_on: transfer.available_on,
        }),
        application_fee_amount: charge
            .transfer
            .as_deref()
            .map(|transfer| transfer.application_fee_minor),
        archived: charge.archived,
    }
}

/// What the front end needs to finish a `requires_action` charge: stripe.js with the client
/// secret (`use_stripe_sdk`), or a redirect.
#[derive(Serialize)]
pub struct NextActionView<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    redirect_url: Option<&'a str>,
    client_secret: Option<&'a str>,
}

fn next_action(action: &NextAction) -> NextActionView<'_> {
    NextActionView {
        kind: &action.kind,
        redirect_url: action.redirect_url.as_deref(),
        client_secret: action.client_secret.as_ref().map(|secret| secret.0.as_str()),
    }
}

#[derive(Serialize)]
pub struct BreakdownView<'a> {
    lines: Vec<PricedLineView<'a>>,
    subtotal: i64,
    discounts: Vec<DiscountView<'a>>,
    tax: Vec<TaxLineView<'a>>,
    reverse_charge: bool,
    total: i64,
    rules: RulesView<'a>,
}

#[derive(Serialize)]
struct PricedLineView<'a> {
    sku: &'a str,
    quantity: u32,
    amount: i64,
}

#[derive(Serialize)]
struct DiscountView<'a> {
    code: &'a str,
    amount: i64,
}

#[derive(Serialize)]
struct TaxLineView<'a> {
    name: &'a str,
    jurisdiction: &'a str,
    rate_bps: u32,
    amount: i64,
}

/// Which rules priced and taxed the charge, and the instant they were given.
#[derive(Serialize)]
struct RulesView<'a> {
    pricing: PluginRefView<'a>,
    tax: PluginRefView<'a>,
    evaluated_at: i64,
}

#[derive(Serialize)]
struct PluginRefView<'a> {
    kind: &'static str,
    version: u32,
    source: &'static str,
    sha256: &'a str,
}

fn breakdown(breakdown: &Breakdown) -> BreakdownView<'_> {
    let evaluation = &breakdown.evaluation;
    BreakdownView {
        lines: breakdown
            .lines
            .iter()
            .map(|line| PricedLineView {
                sku: &line.sku,
                quantity: line.quantity,
                amount: line.amount_minor,
            })
            .collect(),
        subtotal: breakdown.subtotal_minor,
        discounts: breakdown
            .discounts
            .iter()
            .map(|discount| DiscountView { code: &discount.code, amount: discount.amount_minor })
            .collect(),
        tax: breakdown
            .tax
            .iter()
            .map(|tax| TaxLineView {
                name: &tax.name,
                jurisdiction: &tax.jurisdiction,
                rate_bps: tax.rate_bps,
                amount: tax.amount_minor,
            })
            .collect(),
        reverse_charge: breakdown.reverse_charge,
        total: breakdown.total_minor,
        rules: RulesView {
            pricing: plugin_ref(&evaluation.pricing),
            tax: plugin_ref(&evaluation.tax),
            evaluated_at: evaluation.evaluated_at,
        },
    }
}

fn plugin_ref(reference: &PluginRef) -> PluginRefView<'_> {
    PluginRefView {
        kind: reference.kind.as_str(),
        version: reference.version,
        source: reference.source.as_str(),
        sha256: &reference.sha256,
    }
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
        "charge": refund.charge.as_ref().map(|charge| charge.as_str()),
        "customer": refund.customer.as_str(),
        "origin": if refund.of_balance() { "customer_balance" } else { "charge" },
        "amount": refund.amount.amount_minor,
        "currency": currency_code(refund.amount.currency),
        "status": refund.status.as_str(),
        "reason": refund.reason.map(|reason| reason.as_str()),
        "gateway_reference": refund.gateway_reference,
        "failure_message": refund.failure_message,
        "credit_note": refund.credit_note.as_ref().map(|id| id.as_str()),
        "destination": refund.paid_out.as_ref().map(|paid_out| json!({
            "type": paid_out.kind(),
            "last4": paid_out.last4(),
        })),
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
            EntryKind::Payout => "payout",
        },
        "fee": entry.fee_minor,
        "created": entry.created,
    })
}

#[derive(Serialize)]
pub struct List<T> {
    object: &'static str,
    data: Vec<T>,
    has_more: bool,
}

pub fn list<T: Serialize>(data: Vec<T>, has_more: bool) -> List<T> {
    List { object: "list", data, has_more }
}

/// The response an outcome answers with, the same the first time and on every replay: its
/// status and its JSON body.
pub fn outcome(outcome: &Outcome) -> (StatusCode, Vec<u8>) {
    match outcome {
        Outcome::Customer(record) => (StatusCode::OK, to_json(&customer(record))),
        Outcome::PaymentMethod(method) => (StatusCode::OK, to_json(&payment_method(method))),
        Outcome::PaymentMethodDeleted(id) => (
            StatusCode::OK,
            to_json(&json!({ "id": id.as_str(), "object": "payment_method", "deleted": true })),
        ),
        Outcome::Charge(record) => charge_reply(record),
        Outcome::Refund(record) => (StatusCode::OK, to_json(&refund(record))),
        Outcome::Plan(record) => (StatusCode::OK, to_json(&billing_views::plan(record))),
        Outcome::Payee(record) => (StatusCode::OK, to_json(&super::payee_views::payee(record))),
        Outcome::Payout(record) => (StatusCode::OK, to_json(&super::payee_views::payout(record))),
        Outcome::Coupon { coupon, times_redeemed } => {
            (StatusCode::OK, to_json(&coupon_views::coupon(coupon, *times_redeemed)))
        }
        Outcome::PromotionCode { code, times_redeemed } => {
            (StatusCode::OK, to_json(&coupon_views::promotion_code(code, *times_redeemed)))
        }
        Outcome::CouponDeleted(id) => (
            StatusCode::OK,
            to_json(&json!({ "id": id.as_str(), "object": "coupon", "deleted": true })),
        ),
        Outcome::Grant { customer, grant } => {
            (StatusCode::OK, to_json(&promotional_grant(customer, grant)))
        }
        Outcome::GrantDeleted(id) => (
            StatusCode::OK,
            to_json(&json!({ "id": id.as_str(), "object": "grant", "deleted": true })),
        ),
        Outcome::TestClock(record) => (StatusCode::OK, to_json(&billing_views::test_clock(record))),
        Outcome::PaymentPlan(record) => {
            (StatusCode::OK, to_json(&billing_views::payment_plan(record)))
        }
        Outcome::CheckoutSession(session) => {
            (StatusCode::OK, to_json(&billing_views::checkout_session(session, session.status)))
        }
        Outcome::Sponsorship(record) => {
            (StatusCode::OK, to_json(&billing_views::sponsorship(record, record.last_changed())))
        }
        Outcome::Subscription(record) => {
            (StatusCode::OK, to_json(&billing_views::subscription(record)))
        }
        Outcome::SubscriptionDeclined { subscription, charge } => {
            let (status, body) = charge_reply(charge);
            if status == StatusCode::OK {
                return (StatusCode::OK, to_json(&billing_views::subscription(subscription)));
            }
            let mut error: Value = serde_json::from_slice(&body).expect("an error body is JSON");
            error["error"]["subscription"] = json!(subscription.id.as_str());
            (status, to_json(&error))
        }
        Outcome::Invoice(record) => {
            (StatusCode::OK, to_json(&billing_views::invoice(record, false)))
        }
        Outcome::CreditNote(record) => {
            (StatusCode::OK, to_json(&billing_views::credit_note(record)))
        }
        Outcome::Plugin(listing) => (StatusCode::OK, to_json(&plugin(listing))),
        Outcome::Account(record) => (StatusCode::OK, to_json(&account(record))),
        Outcome::ApiKey(record) => (StatusCode::OK, to_json(&api_key(record))),
        Outcome::WebhookEndpoint(record) => {
            (StatusCode::OK, to_json(&super::webhook_views::endpoint(record, None)))
        }
    }
}

pub fn account(account: &Account) -> Value {
    let settings = &account.settings;
    json!({
        "id": account.id.as_str(),
        "object": "account",
        "name": account.name,
        "metadata": account.metadata,
        "created": account.created,
        "settings": {
            "country": settings.country,
            "timezone": settings.timezone,
            "default_currency": settings.default_currency.map(currency_code),
            "tax_behavior": settings.tax_behavior.map(TaxBehavior::as_str),
            "statement_descriptor": settings.statement_descriptor,
            "seller": settings.seller.as_ref().map(|seller| json!({
                "name": seller.name,
                "address": seller.address,
                "tax_id": seller.tax_id,
            })),
            "bank_transfer": settings.bank_transfer.as_ref().map(|bank| json!({
                "bank_name": bank.bank_name,
                "account_holder": bank.account_holder,
                "account_number": bank.account_number,
                "branch_code": bank.branch_code,
                "swift": bank.swift,
            })),
        },
    })
}

/// A key as lists show it: never its secret or its hash.
pub fn api_key(key: &ApiKey) -> Value {
    let permissions = match &key.permissions {
        Permissions::All => Value::Null,
        Permissions::ReadOnly => json!("read_only"),
        Permissions::PerResource(granted) => granted
            .iter()
            .map(|(resource, access)| (resource.as_str().to_owned(), json!(access.as_str())))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    };
    json!({
        "id": key.id.as_str(),
        "object": "api_key",
        "account": key.account.as_str(),
        "mode": key.mode.as_str(),
        "permissions": permissions,
        "prefix": key.prefix,
        "expires_at": key.expires_at,
        "created": key.created,
        "last_used": key.last_used,
    })
}

/// `body` as JSON. Views hold only strings, numbers and string-keyed maps, which always encode.
pub fn to_json(body: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(body).expect("a view encodes as JSON")
}

/// A failed charge answers with the error that failed it, naming the kept charge.
fn charge_reply(record: &Charge) -> (StatusCode, Vec<u8>) {
    let failure = match (&record.status, &record.failure) {
        (ChargeStatus::Failed, Some(failure)) => failure,
        _ => return (StatusCode::OK, to_json(&charge(record))),
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
    (error.status, to_json(&error.body()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::parse_currency;
    use crate::domain::{
        ChargeId, CustomerId, Discount, Money, PaymentMethodId, PluginKind, PluginSource,
        PricedLine, RuleEvaluation, TaxLine,
    };

    fn priced_charge() -> Charge {
        let rule = |kind| PluginRef {
            kind,
            version: 0,
            source: PluginSource::Bundled,
            sha256: "ab".repeat(32),
        };
        Charge {
            id: ChargeId::parse("ch_01JBENCH0000000000000000AA").unwrap(),
            customer: CustomerId::parse("cus_01JBENCH0000000000000000AA").unwrap(),
            amount: Money::new(10_350, parse_currency("usd").unwrap()).unwrap(),
            payment_method: PaymentMethodId::parse("pm_01JBENCH0000000000000000AA").unwrap(),
            gateway: "sandbox".into(),
            gateway_reference: Some("sb_1".into()),
            status: ChargeStatus::Succeeded,
            failure: None,
            amount_refunded_minor: 0,
            description: Some("two seats".into()),
            metadata: [("order".to_owned(), "42".to_owned())].into(),
            created: 1_790_000_000,
            idempotency_key: Some("key-1".into()),
            breakdown: Some(Box::new(Breakdown {
                lines: vec![PricedLine { sku: "seat".into(), quantity: 2, amount_minor: 10_000 }],
                subtotal_minor: 10_000,
                discounts: vec![Discount {
                    code: "WELCOME10".into(),
                    amount_minor: 1_000,
                    promotion_code: None,
                }],
                tax: vec![TaxLine {
                    name: "VAT".into(),
                    jurisdiction: "ZA".into(),
                    rate_bps: 1_500,
                    amount_minor: 1_350,
                }],
                reverse_charge: false,
                total_minor: 10_350,
                evaluation: RuleEvaluation {
                    pricing: rule(PluginKind::Pricing),
                    tax: rule(PluginKind::Tax),
                    evaluated_at: 1_790_000_000,
                },
            })),
            attempt: 1,
            next_action: None,
            dispute: None,
            invoice: None,
            grants: Vec::new(),
            review: None,
            coupon: None,
            bank_transfer: None,
            checkout_session: None,
            transfer: None,
            fee_minor: 0,
            conversion: None,
            succeeded_at: None,
            archived: false,
        }
    }

    #[test]
    fn a_priced_charge_shows_every_field_of_the_contract() {
        let shown: Value = serde_json::from_slice(&to_json(&charge(&priced_charge()))).unwrap();
        let rule = |kind: &str| json!({ "kind": kind, "version": 0, "source": "bundled", "sha256": "ab".repeat(32) });
        assert_eq!(
            shown,
            json!({
                "id": "ch_01JBENCH0000000000000000AA",
                "object": "charge",
                "customer": "cus_01JBENCH0000000000000000AA",
                "amount": 10_350,
                "currency": "usd",
                "status": "succeeded",
                "payment_method": "pm_01JBENCH0000000000000000AA",
                "gateway": "sandbox",
                "gateway_attempt": 1,
                "gateway_reference": "sb_1",
                "next_action": null,
                "failure_code": null,
                "failure_message": null,
                "amount_refunded": 0,
                "refunded": false,
                "description": "two seats",
                "metadata": { "order": "42" },
                "created": 1_790_000_000,
                "breakdown": {
                    "lines": [{ "sku": "seat", "quantity": 2, "amount": 10_000 }],
                    "subtotal": 10_000,
                    "discounts": [{ "code": "WELCOME10", "amount": 1_000 }],
                    "tax": [{ "name": "VAT", "jurisdiction": "ZA", "rate_bps": 1_500, "amount": 1_350 }],
                    "reverse_charge": false,
                    "total": 10_350,
                    "rules": {
                        "pricing": rule("pricing"),
                        "tax": rule("tax"),
                        "evaluated_at": 1_790_000_000,
                    },
                },
                "disputed": false,
                "dispute": null,
                "invoice": null,
                "grants": [],
                "review": null,
                "bank_transfer": null,
                "checkout_session": null,
                "transfer": null,
                "application_fee_amount": null,
                "archived": false,
            })
        );
    }

    #[test]
    fn a_list_names_itself_and_says_whether_there_is_more() {
        let shown: Value = serde_json::from_slice(&to_json(&list(vec![1, 2], true))).unwrap();
        assert_eq!(shown, json!({ "object": "list", "data": [1, 2], "has_more": true }));
    }
}
