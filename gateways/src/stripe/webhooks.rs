//! Stripe's webhooks, at `POST /v1/webhooks/stripe`: authenticated by `Stripe-Signature` (see
//! [`super::signature`]), read by [`super::event`], and turned into Kassa's gateway-neutral
//! [`IncomingEvent`]: PaymentIntent events settle the charge, `charge.refunded` counts the
//! charge's refunds, `charge.dispute.*` records its dispute, `transfer.reversed` (and
//! `transfer.updated`) return a payout's Transfer, whole or in part. Every other type is kept
//! and listed.
//!
//! The webhook secret is configured apart from the API key: an engine may take Stripe's events
//! (for charges made before Stripe was switched off, say) without charging through Stripe.

use serde_json::json;

use super::event::{BalanceTransactionSeen, StripeEvent, StripeObject};
use super::signature;
use super::{NAME, StripeAmountError, amount_from_stripe, amount_from_stripe_code};
use crate::payouts::PayoutOutcome;
use crate::webhooks::{
    ChargeRef, Delivery, DisputeMoves, EventEffect, IncomingEvent, Received, RefundSeen,
    UnreadableEvent, WebhookRefusal, WebhookSource,
};
use crate::{ChargeOutcome, Currency, NextAction, Secret};

/// Stripe's webhook endpoint, verified with its signing secret (`whsec_…`).
pub struct StripeWebhooks {
    secret: Secret,
}

impl StripeWebhooks {
    pub fn new(secret: Secret) -> StripeWebhooks {
        StripeWebhooks { secret }
    }
}

impl WebhookSource for StripeWebhooks {
    fn gateway(&self) -> &'static str {
        NAME
    }

    fn admits(&self, path_token: Option<&str>) -> bool {
        path_token.is_none()
    }

    fn verify(&self, delivery: &Delivery<'_>) -> Result<(), WebhookRefusal> {
        signature::verify(
            self.secret.expose().as_bytes(),
            delivery.header(signature::HEADER),
            delivery.body,
            delivery.now,
        )
        .map_err(|error| WebhookRefusal { header: "Stripe-Signature", message: error.to_string() })
    }

    fn read(&self, payload: &[u8]) -> Result<IncomingEvent, UnreadableEvent> {
        let event =
            StripeEvent::parse(payload).map_err(|error| UnreadableEvent(error.to_string()))?;
        Ok(incoming(event))
    }

    fn acknowledgement(&self, received: Option<&Received<'_>>) -> serde_json::Value {
        match received {
            Some(received) => json!({
                "received": true,
                "id": received.event_id,
                "duplicate": received.duplicate,
            }),
            None => json!({ "received": true }),
        }
    }

    /// Stripe counts some currencies in another unit than ISO 4217 does (ISK in hundredths, MGA
    /// in whole ariary: see [`amount_from_stripe`]).
    fn amount_in_minor_units(&self, amount: i64, currency: Currency) -> Result<i64, String> {
        amount_from_stripe(amount, currency).map_err(|error: StripeAmountError| error.to_string())
    }
}

fn incoming(event: StripeEvent) -> IncomingEvent {
    let charge = charge_ref(&event);
    let effect = event.object.as_ref().and_then(|object| effect(&event, object));
    IncomingEvent { id: event.id, kind: event.kind, created: Some(event.created), charge, effect }
}

/// The charge an event is about: its PaymentIntent (once Kassa recorded it as the charge's
/// reference), and for a PaymentIntent's own events the Kassa charge id the adapter tagged it
/// with, as its webhook can arrive before Kassa has Stripe's answer.
fn charge_ref(event: &StripeEvent) -> Option<ChargeRef> {
    let reference = event.payment_intent().map(str::to_owned);
    let charge_id = event
        .object
        .as_ref()
        .filter(|object| object.object == "payment_intent")
        .and_then(StripeObject::kassa_id)
        .map(str::to_owned);
    (reference.is_some() || charge_id.is_some()).then_some(ChargeRef { reference, charge_id })
}

fn effect(event: &StripeEvent, object: &StripeObject) -> Option<EventEffect> {
    let kind = event.kind.as_str();
    match object.object.as_str() {
        "payment_intent" => match super::checkout::hosted_for(&object.metadata) {
            // Paid on a Stripe Checkout page Kassa opened: no Kassa charge yet.
            Some(pays) => {
                (kind == "payment_intent.succeeded").then(|| EventEffect::HostedPayment {
                    pays,
                    reference: object.id.clone(),
                    payment_method: object.payment_method.clone(),
                    amount: object.amount.unwrap_or(0),
                    currency: object.currency.clone(),
                })
            }
            None => {
                kind.strip_prefix("payment_intent.").and_then(|what| intent_effect(what, object))
            }
        },
        // A card saved on a Stripe Checkout page Kassa opened for a subscription.
        "setup_intent" if kind == "setup_intent.succeeded" => {
            super::checkout::hosted_for(&object.metadata).map(|pays| EventEffect::HostedSetup {
                pays,
                reference: object.id.clone(),
                payment_method: object.payment_method.clone(),
            })
        }
        "charge" if kind == "charge.refunded" => Some(EventEffect::Refunds {
            refunds: object.refunds.as_ref().map(|list| {
                list.data
                    .iter()
                    .filter(|refund| refund.status.as_deref().is_none_or(|s| s == "succeeded"))
                    .map(|refund| RefundSeen {
                        reference: refund.id.clone(),
                        amount: refund.amount,
                        refund_id: refund.metadata.get(super::METADATA_IDEMPOTENCY_KEY).cloned(),
                        reason: refund.reason.clone(),
                    })
                    .collect()
            }),
            amount_refunded: object.amount_refunded.unwrap_or(0),
            currency: object.currency.clone(),
        }),
        // A payout's Transfer sent back from the connected account, all of it or a part.
        // `transfer.updated` carries the same totals, so a lost `transfer.reversed` is made up.
        "transfer" if kind == "transfer.reversed" || kind == "transfer.updated" => {
            // The payout's id in the key finds its account.
            Some(EventEffect::Payout {
                account: None,
                key: object.metadata.get(super::METADATA_IDEMPOTENCY_KEY)?.clone(),
                outcome: transfer_reversal(object)?,
            })
        }
        "dispute" if kind.starts_with("charge.dispute.") => Some(EventEffect::Dispute {
            reference: object.id.clone(),
            amount: object.amount.unwrap_or(0),
            currency: object.currency.clone(),
            reason: object.reason.clone().unwrap_or_default(),
            status: object.status.clone().unwrap_or_default(),
            moved: dispute_moves(object),
            at: event.created,
        }),
        _ => None,
    }
}

/// What a Transfer's reversals so far mean for the payout part it paid: returned where all of
/// it came back, partly returned by the total so far, `None` while nothing did (or where the
/// total cannot be held exactly in Kassa's unit).
fn transfer_reversal(transfer: &StripeObject) -> Option<PayoutOutcome> {
    if transfer.reversed == Some(true) {
        return Some(PayoutOutcome::Returned {
            code: "transfer_reversed".to_owned(),
            message: format!("Stripe transfer {} was reversed", transfer.id),
        });
    }
    let reversed = transfer.amount_reversed.filter(|amount| *amount > 0)?;
    let code = transfer.currency.as_deref().unwrap_or_default();
    match amount_from_stripe_code(reversed, code) {
        Ok((returned_minor, _)) => {
            Some(PayoutOutcome::PartlyReturned { reference: transfer.id.clone(), returned_minor })
        }
        Err(error) => {
            tracing::error!(transfer = transfer.id, %error, "a Stripe transfer reversed in part, in an amount Kassa cannot hold: not applied");
            None
        }
    }
}

/// What a dispute moved in the Stripe balance so far, from its balance transactions: taken
/// (negative amounts), put back (positive ones) and charged as fees (a fee given back is a
/// negative one), in the currency of the balance they moved: the dispute's own, or, for a
/// charge Stripe settled into the account's other currency, that one. `None` where the object
/// does not list them.
fn dispute_moves(dispute: &StripeObject) -> Option<DisputeMoves> {
    let moved = dispute.balance_transactions.as_ref()?;
    let own = dispute.currency.as_deref().unwrap_or_default();
    let in_own = moved.iter().any(|txn| txn.currency.eq_ignore_ascii_case(own));
    let currency = match (in_own, moved.first()) {
        (true, _) | (false, None) => own.to_owned(),
        (false, Some(first)) => first.currency.clone(),
    };
    let sum = |part: fn(&BalanceTransactionSeen) -> i64| {
        let in_currency = moved.iter().filter(|txn| txn.currency.eq_ignore_ascii_case(&currency));
        in_currency.map(part).try_fold(0i64, i64::checked_add)
    };
    let withdrawn = sum(|txn| txn.amount.min(0))?.checked_neg()?;
    let reinstated = sum(|txn| txn.amount.max(0))?;
    let fee = sum(|txn| txn.fee)?;
    Some(DisputeMoves { currency: currency.to_ascii_lowercase(), withdrawn, reinstated, fee })
}

/// A PaymentIntent event as what it means for its charge; `None` for the ones that settle
/// nothing (`created`, `amount_capturable_updated`, …).
fn intent_effect(what: &str, intent: &StripeObject) -> Option<EventEffect> {
    let reference = intent.id.clone();
    let outcome = match what {
        // The event names the charge, not its balance transaction: no fee is reported here.
        "succeeded" => ChargeOutcome::Succeeded { reference, fee_minor: 0, conversion: None },
        "processing" => ChargeOutcome::Pending { reference },
        "requires_action" => ChargeOutcome::RequiresAction {
            reference,
            next_action: NextAction {
                kind: intent
                    .next_action
                    .as_ref()
                    .map_or_else(|| "use_stripe_sdk".to_owned(), |action| action.kind.clone()),
                redirect_url: intent
                    .next_action
                    .as_ref()
                    .and_then(|action| action.redirect_to_url.as_ref())
                    .and_then(|redirect| redirect.url.clone()),
                client_secret: intent.client_secret.as_deref().map(Secret::new),
            },
        },
        "payment_failed" => return Some(payment_failure(intent)),
        "canceled" => {
            return Some(EventEffect::ChargeFailed {
                code: "canceled".into(),
                message: format!(
                    "the PaymentIntent was canceled ({})",
                    intent.cancellation_reason.as_deref().unwrap_or("no reason given")
                ),
            });
        }
        _ => return None,
    };
    Some(EventEffect::Charge { outcome, reported: None })
}

/// Stripe's `last_payment_error` in Kassa's terms: the decline code when the card was declined
/// (`insufficient_funds`, …), else Stripe's error code (`expired_card`, `processing_error`, …).
fn payment_failure(intent: &StripeObject) -> EventEffect {
    let error = intent.last_payment_error.clone().unwrap_or_default();
    let code = match (error.code.as_deref(), error.decline_code) {
        (Some("card_declined") | None, Some(decline)) => decline,
        (Some("card_declined") | None, None) => "generic_decline".to_owned(),
        (Some(code), _) => code.to_owned(),
    };
    let message = error.message.unwrap_or_else(|| "the payment failed at Stripe".to_owned());
    EventEffect::ChargeFailed { code, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const NOW: i64 = 1_800_000_000;

    fn webhooks() -> StripeWebhooks {
        StripeWebhooks::new(Secret::new(SECRET))
    }

    #[test]
    fn only_a_signed_body_on_the_plain_path_is_stripes() {
        let body =
            br#"{"id":"evt_1","type":"payment_intent.created","created":1,"data":{"object":{}}}"#;
        let header = signature::sign(SECRET.as_bytes(), body, NOW);
        let headers = [("stripe-signature", header.as_str())];
        let delivery = Delivery { headers: &headers, body, now: NOW };
        assert_eq!(webhooks().verify(&delivery), Ok(()));
        let unsigned = Delivery { headers: &[], body, now: NOW };
        let refusal = webhooks().verify(&unsigned).unwrap_err();
        assert_eq!(refusal.header, "Stripe-Signature");
        assert!(webhooks().admits(None));
        assert!(!webhooks().admits(Some("token")));
    }

    #[test]
    fn a_failed_payment_intent_fails_its_charge_with_the_decline_code() {
        let body = br#"{"id":"evt_1","object":"event","type":"payment_intent.payment_failed",
            "created":1700000000,"data":{"object":{"id":"pi_1","object":"payment_intent",
            "amount":500,"currency":"usd","metadata":{"kassa_idempotency_key":"ch_01"},
            "last_payment_error":{"code":"card_declined","decline_code":"insufficient_funds",
            "message":"Your card has insufficient funds."}}}}"#;
        let event = webhooks().read(body).unwrap();
        assert_eq!((event.id.as_str(), event.created), ("evt_1", Some(1_700_000_000)));
        assert_eq!(
            event.charge,
            Some(ChargeRef { reference: Some("pi_1".into()), charge_id: Some("ch_01".into()) })
        );
        assert_eq!(
            event.effect,
            Some(EventEffect::ChargeFailed {
                code: "insufficient_funds".into(),
                message: "Your card has insufficient funds.".into()
            })
        );
    }

    #[test]
    fn a_transfer_reversed_whole_returns_the_payout_part_its_metadata_names() {
        let reversal = |reversed: bool| {
            let body = format!(
                r#"{{"id":"evt_3","type":"transfer.reversed","created":9,"data":{{"object":{{
                "id":"tr_1","object":"transfer","amount":4000,"reversed":{reversed},
                "metadata":{{"kassa_idempotency_key":"po_01-2"}}}}}}}}"#
            );
            webhooks().read(body.as_bytes()).unwrap().effect
        };
        assert_eq!(
            reversal(true),
            Some(EventEffect::Payout {
                account: None,
                key: "po_01-2".into(),
                outcome: PayoutOutcome::Returned {
                    code: "transfer_reversed".into(),
                    message: "Stripe transfer tr_1 was reversed".into(),
                },
            })
        );
        assert_eq!(reversal(false), None, "reversed = false and no amount: nothing came back");
    }

    #[test]
    fn a_transfer_reversed_in_part_says_how_much_came_back_in_all() {
        let event = |kind: &str, reversed: i64| {
            let body = format!(
                r#"{{"id":"evt_4","type":"{kind}","created":9,"data":{{"object":{{
                "id":"tr_1","object":"transfer","amount":4000,"currency":"usd","reversed":false,
                "amount_reversed":{reversed},"metadata":{{"kassa_idempotency_key":"po_01"}}}}}}}}"#
            );
            webhooks().read(body.as_bytes()).unwrap().effect
        };
        let partly = |returned_minor| {
            Some(EventEffect::Payout {
                account: None,
                key: "po_01".into(),
                outcome: PayoutOutcome::PartlyReturned { reference: "tr_1".into(), returned_minor },
            })
        };
        assert_eq!(event("transfer.reversed", 1500), partly(1500));
        assert_eq!(event("transfer.updated", 2500), partly(2500), "the totals, from either event");
        assert_eq!(event("transfer.updated", 0), None, "an update that reversed nothing");
    }

    #[test]
    fn a_dispute_names_its_payment_intent_but_not_a_kassa_id() {
        let body = br#"{"id":"evt_2","type":"charge.dispute.created","created":7,
            "data":{"object":{"id":"dp_1","object":"dispute","charge":"ch_x","payment_intent":"pi_2",
            "amount":900,"currency":"zar","reason":"fraudulent","status":"needs_response",
            "metadata":{"kassa_idempotency_key":"ch_02"}}}}"#;
        let event = webhooks().read(body).unwrap();
        assert_eq!(
            event.charge,
            Some(ChargeRef { reference: Some("pi_2".into()), charge_id: None })
        );
        assert_eq!(
            event.effect,
            Some(EventEffect::Dispute {
                reference: "dp_1".into(),
                amount: 900,
                currency: Some("zar".into()),
                reason: "fraudulent".into(),
                status: "needs_response".into(),
                moved: None,
                at: 7,
            })
        );
    }

    #[test]
    fn a_dispute_moved_what_its_balance_transactions_moved_in_the_balances_currency() {
        let body = br#"{"id":"evt_3","type":"charge.dispute.closed","created":8,
            "data":{"object":{"id":"dp_1","object":"dispute","charge":"ch_x","payment_intent":"pi_2",
            "amount":900,"currency":"usd","reason":"fraudulent","status":"won","metadata":{},
            "balance_transactions":[
                {"id":"txn_1","amount":-900,"fee":1500,"currency":"usd","type":"adjustment"},
                {"id":"txn_2","amount":900,"fee":-1500,"currency":"usd","type":"adjustment"},
                {"id":"txn_3","amount":-1700,"fee":2700,"currency":"zar","type":"adjustment"}]}}}"#;
        let moved = |body: &[u8]| match webhooks().read(body).unwrap().effect {
            Some(EventEffect::Dispute { moved, .. }) => moved,
            other => panic!("a dispute: {other:?}"),
        };
        let usd = |withdrawn, reinstated, fee| {
            Some(DisputeMoves { currency: "usd".into(), withdrawn, reinstated, fee })
        };
        assert_eq!(moved(body), usd(900, 900, 0), "charged when it opened, given back when won");
        let opened = std::str::from_utf8(body).unwrap().replace(
            r#"{"id":"txn_2","amount":900,"fee":-1500,"currency":"usd","type":"adjustment"},"#,
            "",
        );
        assert_eq!(moved(opened.as_bytes()), usd(900, 0, 1_500), "only the dispute's currency");
        // A shilling charge Stripe settled in dollars: its dispute moved dollars.
        let settled = opened
            .replace(r#""amount":900,"currency":"usd""#, r#""amount":90000,"currency":"kes""#);
        assert_eq!(moved(settled.as_bytes()), usd(900, 0, 1_500), "the balance's: {settled}");
    }

    #[test]
    fn a_card_saved_for_a_kassa_checkout_session_names_the_session_and_the_card() {
        let body = br#"{"id":"evt_4","type":"setup_intent.succeeded","created":9,
            "data":{"object":{"id":"seti_1","object":"setup_intent","status":"succeeded",
            "payment_method":"pm_1","metadata":{"kassa_checkout_session":"cs_ABC"}}}}"#;
        let event = webhooks().read(body).unwrap();
        assert_eq!(event.charge, None, "about no charge");
        assert_eq!(
            event.effect,
            Some(EventEffect::HostedSetup {
                pays: crate::HostedFor::CheckoutSession("cs_ABC".into()),
                reference: "seti_1".into(),
                payment_method: Some("pm_1".into()),
            })
        );
        // A SetupIntent Kassa did not open (no tag), or one not yet succeeded, does nothing.
        let untagged = br#"{"id":"evt_5","type":"setup_intent.succeeded","created":9,
            "data":{"object":{"id":"seti_2","object":"setup_intent","payment_method":"pm_1"}}}"#;
        assert_eq!(webhooks().read(untagged).unwrap().effect, None);
        let created = br#"{"id":"evt_6","type":"setup_intent.created","created":9,
            "data":{"object":{"id":"seti_1","object":"setup_intent",
            "metadata":{"kassa_checkout_session":"cs_ABC"}}}}"#;
        assert_eq!(webhooks().read(created).unwrap().effect, None);
    }

    #[test]
    fn a_type_kassa_does_not_apply_is_read_and_kept() {
        let body = br#"{"id":"evt_3","type":"invoice.paid","created":5,
            "data":{"object":{"id":"in_1","object":"invoice"}}}"#;
        let event = webhooks().read(body).unwrap();
        assert_eq!(
            (event.kind.as_str(), &event.charge, &event.effect),
            ("invoice.paid", &None, &None)
        );
        assert!(webhooks().read(b"{}").is_err());
    }

    #[test]
    fn amounts_come_back_in_kassas_unit() {
        assert_eq!(webhooks().amount_in_minor_units(12_300, Currency::ISK), Ok(123));
        assert!(webhooks().amount_in_minor_units(12_345, Currency::ISK).is_err());
        assert_eq!(webhooks().amount_in_minor_units(500, Currency::USD), Ok(500));
    }
}
