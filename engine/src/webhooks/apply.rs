//! What each gateway event (a Stripe webhook, an M-Pesa STK Push result) does to Kassa's
//! records. Every effect is idempotent and only moves forward (a settled charge stays settled, a refund Kassa already counts is not counted again,
//! an older dispute event does not undo a newer one), so an event applied again after a crash,
//! or arriving after a later one, changes nothing more.

use std::sync::Arc;

use crate::actor::gateway_events::{GatewayRefund, RecordDispute, RecordGatewayRefunds};
use crate::actor::messages::{SettleCharge, SettledCharge};
use crate::actor::review::HoldForReview;
use crate::actor::settlement::{Settlement, charge_outcome};
use crate::actor::{ActorError, CustomerKey, Registry};
use crate::domain::money::{Currency, currency_code};
use crate::domain::time::now_unix_secs;
use crate::domain::{
    AccountId, AmountReview, ChargeId, ClientSecret, Failure, GatewayEvent, NextAction,
    RefundReason,
};
use crate::store::{CustomerStore, StoreError};
use kassa_gateways::mpesa::{MpesaGateway, parse_callback};
use kassa_gateways::stripe::{StripeAmountError, amount_from_stripe};

use super::stripe_event::{KASSA_ID_METADATA, StripeEvent, StripeObject};

/// The gateway names charges are recorded under.
pub const STRIPE: &str = "stripe";
pub const MPESA: &str = "mpesa";
/// The event type an M-Pesa STK Push result is listed as.
pub const MPESA_STK_RESULT: &str = "mpesa.stk_push.result";

/// A charge an event is about: whose it is and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeTarget {
    pub key: CustomerKey,
    pub charge: ChargeId,
}

/// What applying an event did, and whose charge it turned out to be about (`None`: no charge
/// Kassa knows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventOutcome {
    pub text: String,
    pub owner: Option<AccountId>,
}

impl EventOutcome {
    fn unowned(text: String) -> EventOutcome {
        EventOutcome { text, owner: None }
    }

    fn of(target: &ChargeTarget, text: String) -> EventOutcome {
        EventOutcome { text, owner: Some(target.key.account.clone()) }
    }
}

/// Why an event was not applied now; either way it stays in the inbox and is tried again.
#[derive(Debug, thiserror::Error)]
pub enum NotApplied {
    /// What it is about may still appear (an M-Pesa result that arrived before the answer to
    /// its push named the CheckoutRequestID).
    #[error("{0}")]
    NotYet(String),
    /// Kassa's own failure (storage, an actor unavailable).
    #[error(transparent)]
    Failed(#[from] ActorError),
}

/// How long an M-Pesa result for a CheckoutRequestID no push has named yet is kept trying: the
/// push's answer can arrive after Safaricom's callback, but not minutes after.
const MPESA_UNKNOWN_CHECKOUT_WAIT_SECS: i64 = 300;

pub struct Applier {
    store: Arc<dyn CustomerStore>,
    registry: Registry,
    /// Maps a CheckoutRequestID back to its charge, when M-Pesa is enabled.
    mpesa: Option<MpesaGateway>,
    /// Every account the engine serves: a PaymentIntent's metadata names the Kassa charge but
    /// not its account.
    accounts: Vec<AccountId>,
}

impl Applier {
    pub fn new(
        store: Arc<dyn CustomerStore>,
        registry: Registry,
        mpesa: Option<MpesaGateway>,
        accounts: Vec<AccountId>,
    ) -> Applier {
        Applier { store, registry, mpesa, accounts }
    }

    /// The account's charge with this id, of `gateway`, whichever account it is in.
    fn find_charge(
        &self,
        id: &ChargeId,
        gateway: &str,
    ) -> Result<Option<ChargeTarget>, StoreError> {
        for account in &self.accounts {
            if let Some(charge) = self.store.charge(account, id)?
                && charge.gateway == gateway
            {
                let key = CustomerKey { account: account.clone(), customer: charge.customer };
                return Ok(Some(ChargeTarget { key, charge: id.clone() }));
            }
        }
        Ok(None)
    }

    /// The charge an STK Push result is about: the M-Pesa adapter remembers which charge each
    /// CheckoutRequestID was pushed for.
    pub fn locate_mpesa(
        &self,
        checkout_request_id: &str,
    ) -> Result<Option<ChargeTarget>, StoreError> {
        let Some(gateway) = &self.mpesa else { return Ok(None) };
        let key = gateway
            .idempotency_key_for(checkout_request_id)
            .map_err(|error| StoreError::Storage(error.to_string()))?;
        match key.as_deref().and_then(ChargeId::parse) {
            Some(id) => self.find_charge(&id, MPESA),
            None => Ok(None),
        }
    }

    /// The Kassa charge a Stripe event is about, if any: by the PaymentIntent's reference (once
    /// Kassa recorded it), else by the Kassa charge id the adapter tagged the PaymentIntent
    /// with (its webhook can arrive before Kassa's own answer from Stripe).
    pub fn locate_stripe(&self, event: &StripeEvent) -> Result<Option<ChargeTarget>, StoreError> {
        if let Some(reference) = event.payment_intent()
            && let Some((account, customer, charge)) =
                self.store.charge_by_reference(STRIPE, reference)?
        {
            return Ok(Some(ChargeTarget { key: CustomerKey { account, customer }, charge }));
        }
        let Some(object) = event.object.as_ref().filter(|object| object.object == "payment_intent")
        else {
            return Ok(None);
        };
        match object.kassa_id().and_then(ChargeId::parse) {
            Some(id) => self.find_charge(&id, STRIPE),
            None => Ok(None),
        }
    }

    /// Applies a persisted event and answers what that did. An error is Kassa's own (storage,
    /// an actor unavailable): the event stays in the inbox and is applied again later.
    /// Applies `stored`; `parsed` is its Stripe event when already parsed from the payload.
    pub async fn apply(
        &self,
        stored: &GatewayEvent,
        parsed: Option<&StripeEvent>,
    ) -> Result<EventOutcome, NotApplied> {
        match stored.gateway.as_str() {
            STRIPE => Ok(self.apply_stripe(stored, parsed).await?),
            MPESA => self.apply_mpesa(stored).await,
            other => Ok(EventOutcome::unowned(format!("ignored: no gateway {other}"))),
        }
    }

    async fn apply_mpesa(&self, stored: &GatewayEvent) -> Result<EventOutcome, NotApplied> {
        let result = match parse_callback(stored.payload.as_bytes()) {
            Ok(result) => result,
            Err(error) => return Ok(EventOutcome::unowned(format!("ignored: {error}"))),
        };
        let checkout = result.checkout_request_id.as_str();
        let Some(target) = self.locate_mpesa(checkout).map_err(ActorError::from)? else {
            if now_unix_secs() - stored.received < MPESA_UNKNOWN_CHECKOUT_WAIT_SECS {
                let reason = format!("no push named CheckoutRequestID {checkout} yet");
                return Err(NotApplied::NotYet(reason));
            }
            tracing::warn!(
                checkout_request_id = checkout,
                result_code = result.result_code,
                "M-Pesa callback ignored: unknown CheckoutRequestID"
            );
            let text = format!("ignored: unknown CheckoutRequestID {checkout}");
            return Ok(EventOutcome::unowned(text));
        };
        let cause = format!("webhook {}", stored.id);
        if let Some(amount_minor) = result.amount_minor
            && let Some(charge) =
                self.store.charge(&target.key.account, &target.charge).map_err(ActorError::from)?
            && amount_minor != charge.amount.amount_minor
        {
            // The path token vouches for the sender, so the amount is Safaricom's word on what
            // moved: not what was charged. Neither `paid` nor `failed` is true; an operator
            // decides (see `actor::review`).
            let review = AmountReview {
                reported_amount_minor: amount_minor,
                reported_reference: result.receipt_number.clone(),
                reported_at: now_unix_secs(),
            };
            let message = HoldForReview { charge: target.charge.clone(), review, cause };
            let text = match self.registry.send(&target.key, message).await.and_then(|sent| sent) {
                Ok(durably) => durably.await?,
                Err(ActorError::NotFound { kind, id }) => format!("ignored: no {kind} {id}"),
                Err(error) => return Err(error.into()),
            };
            return Ok(EventOutcome::of(&target, text));
        }
        let settlement = charge_outcome(result.outcome());
        let text = match self.settle(&target, settlement, cause).await {
            Ok(durably) => durably.await?,
            Err(ActorError::NotFound { kind, id }) => format!("ignored: no {kind} {id}"),
            Err(error) => return Err(error.into()),
        };
        Ok(EventOutcome::of(&target, text))
    }

    async fn apply_stripe(
        &self,
        stored: &GatewayEvent,
        parsed: Option<&StripeEvent>,
    ) -> Result<EventOutcome, ActorError> {
        let reparsed;
        let event = match parsed {
            Some(event) => event,
            None => match StripeEvent::parse(stored.payload.as_bytes()) {
                Ok(event) => {
                    reparsed = event;
                    &reparsed
                }
                Err(error) => return Ok(EventOutcome::unowned(format!("ignored: {error}"))),
            },
        };
        let cause = format!("webhook {}", stored.id);
        let not_applied = || -> Result<EventOutcome, ActorError> {
            // Not about anything Kassa acts on; still filed with the charge it names, if any.
            let text = stored_only(&event.kind);
            Ok(match self.locate_stripe(event)? {
                Some(target) => EventOutcome::of(&target, text),
                None => EventOutcome::unowned(text),
            })
        };
        let Some(object) = event.object.as_ref() else { return not_applied() };
        let Some(action) = Action::of(event, object) else { return not_applied() };
        let Some(target) = self.locate_stripe(event)? else {
            let reference = event.payment_intent().unwrap_or(object.id.as_str());
            let text = format!("ignored: no Kassa charge for {reference}");
            return Ok(EventOutcome::unowned(text));
        };
        let action = match self.in_kassa_units(action, object, &target)? {
            Ok(action) => action,
            Err(refusal) => return Ok(EventOutcome::of(&target, refusal)),
        };
        let charge = target.charge.clone();
        let answer = match action {
            Action::Settle(settlement) => self.settle(&target, settlement, cause).await,
            Action::Refunds { refunds, amount_refunded_minor } => {
                let message =
                    RecordGatewayRefunds { charge, refunds, amount_refunded_minor, cause };
                self.registry.send(&target.key, message).await.and_then(|sent| sent)
            }
            Action::Dispute { reference, amount_minor, reason, status, at } => {
                let message = RecordDispute {
                    charge,
                    reference,
                    amount_minor,
                    reason,
                    status,
                    event_at: at,
                    cause,
                };
                self.registry.send(&target.key, message).await.and_then(|sent| sent)
            }
        };
        let text = match answer {
            Ok(durably) => durably.await?,
            Err(ActorError::NotFound { kind, id }) => format!("ignored: no {kind} {id}"),
            Err(error) => return Err(error),
        };
        Ok(EventOutcome::of(&target, text))
    }

    /// The action with Stripe's amounts in Kassa's minor units of the charge's currency (Stripe
    /// counts ISK in hundredths, MGA in whole ariary: see `kassa_gateways::stripe`). `Ok(Err)`
    /// is why the event is not applied: an event whose currency is not the charge's, or whose
    /// amount Kassa cannot hold exactly, is kept and logged for an operator, never rounded.
    fn in_kassa_units(
        &self,
        action: Action,
        object: &StripeObject,
        target: &ChargeTarget,
    ) -> Result<Result<Action, String>, ActorError> {
        if let Action::Settle(_) = action {
            return Ok(Ok(action));
        }
        let Some(charge) = self.store.charge(&target.key.account, &target.charge)? else {
            return Ok(Err(format!("ignored: no charge {}", target.charge)));
        };
        let currency = charge.amount.currency;
        if let Some(stated) = &object.currency
            && !stated.eq_ignore_ascii_case(currency.code())
        {
            tracing::error!(charge = %charge.id, stated, "Stripe event in another currency than its charge");
            return Ok(Err(format!(
                "ignored: amounts in {stated}, charge {} is in {}",
                charge.id,
                currency_code(currency)
            )));
        }
        Ok(action.in_kassa_units(currency).map_err(|error| {
            tracing::error!(charge = %charge.id, %error, "Stripe event amount not exact in Kassa's unit");
            format!("ignored: {error}")
        }))
    }

    async fn settle(
        &self,
        target: &ChargeTarget,
        settlement: Settlement,
        cause: String,
    ) -> Result<crate::actor::Durably<String>, ActorError> {
        let message = SettleCharge { charge: target.charge.clone(), settlement, cause };
        let durably = self.registry.send(&target.key, message).await??;
        Ok(Box::pin(async move {
            let SettledCharge { charge, status_before } = durably.await?;
            Ok(match status_before == charge.status {
                true => format!("no change: charge {} is {}", charge.id, charge.status.as_str()),
                false => format!("charge {} {}", charge.id, charge.status.as_str()),
            })
        }))
    }
}

/// What an event asks of the charge it is about. As [`Action::of`] reads it, amounts are in
/// Stripe's unit; [`Action::in_kassa_units`] converts them before anything is applied.
enum Action {
    Settle(Settlement),
    Refunds { refunds: Option<Vec<GatewayRefund>>, amount_refunded_minor: i64 },
    Dispute { reference: String, amount_minor: i64, reason: String, status: String, at: i64 },
}

impl Action {
    fn in_kassa_units(self, currency: Currency) -> Result<Action, StripeAmountError> {
        let kassa = |stripe_amount| amount_from_stripe(stripe_amount, currency);
        Ok(match self {
            settle @ Action::Settle(_) => settle,
            Action::Refunds { refunds, amount_refunded_minor } => Action::Refunds {
                refunds: refunds
                    .map(|refunds| {
                        refunds
                            .into_iter()
                            .map(|refund| {
                                Ok(GatewayRefund {
                                    amount_minor: kassa(refund.amount_minor)?,
                                    ..refund
                                })
                            })
                            .collect::<Result<Vec<_>, StripeAmountError>>()
                    })
                    .transpose()?,
                amount_refunded_minor: kassa(amount_refunded_minor)?,
            },
            Action::Dispute { reference, amount_minor, reason, status, at } => Action::Dispute {
                reference,
                amount_minor: kassa(amount_minor)?,
                reason,
                status,
                at,
            },
        })
    }

    fn of(event: &StripeEvent, object: &StripeObject) -> Option<Action> {
        let kind = event.kind.as_str();
        match object.object.as_str() {
            "payment_intent" => kind
                .strip_prefix("payment_intent.")
                .and_then(|what| payment_intent_settlement(what, object))
                .map(Action::Settle),
            "charge" if kind == "charge.refunded" => Some(Action::Refunds {
                refunds: object.refunds.as_ref().map(|list| {
                    list.data
                        .iter()
                        .filter(|refund| refund.status.as_deref().is_none_or(|s| s == "succeeded"))
                        .map(|refund| GatewayRefund {
                            reference: refund.id.clone(),
                            amount_minor: refund.amount,
                            kassa_id: refund.metadata.get(KASSA_ID_METADATA).cloned(),
                            reason: refund.reason.as_deref().and_then(RefundReason::parse),
                        })
                        .collect()
                }),
                amount_refunded_minor: object.amount_refunded.unwrap_or(0),
            }),
            "dispute" if kind.starts_with("charge.dispute.") => Some(Action::Dispute {
                reference: object.id.clone(),
                amount_minor: object.amount.unwrap_or(0),
                reason: object.reason.clone().unwrap_or_default(),
                status: object.status.clone().unwrap_or_default(),
                at: event.created,
            }),
            _ => None,
        }
    }
}

/// A PaymentIntent event as a settlement of its charge; `None` for the ones that settle
/// nothing (`created`, `amount_capturable_updated`, …).
fn payment_intent_settlement(what: &str, intent: &StripeObject) -> Option<Settlement> {
    let reference = intent.id.clone();
    Some(match what {
        "succeeded" => Settlement::Succeeded { reference },
        "processing" => Settlement::Pending { reference },
        "requires_action" => Settlement::RequiresAction {
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
                client_secret: intent.client_secret.clone().map(ClientSecret),
            },
        },
        "payment_failed" => Settlement::Failed(payment_failure(intent)),
        "canceled" => Settlement::Failed(Failure {
            code: "canceled".into(),
            message: format!(
                "the PaymentIntent was canceled ({})",
                intent.cancellation_reason.as_deref().unwrap_or("no reason given")
            ),
        }),
        _ => return None,
    })
}

/// Stripe's `last_payment_error` in Kassa's terms: the decline code when the card was declined
/// (`insufficient_funds`, …), else Stripe's error code (`expired_card`, `processing_error`, …).
fn payment_failure(intent: &StripeObject) -> Failure {
    let error = intent.last_payment_error.clone().unwrap_or_default();
    let code = match (error.code.as_deref(), error.decline_code) {
        (Some("card_declined") | None, Some(decline)) => decline,
        (Some("card_declined") | None, None) => "generic_decline".to_owned(),
        (Some(code), _) => code.to_owned(),
    };
    let message = error.message.unwrap_or_else(|| "the payment failed at Stripe".to_owned());
    Failure { code, message }
}

/// The outcome of an event Kassa keeps without applying.
fn stored_only(kind: &str) -> String {
    if kind.starts_with("invoice.") || kind.starts_with("customer.subscription.") {
        "stored for subscriptions".to_owned()
    } else {
        "stored: not a type Kassa applies".to_owned()
    }
}
