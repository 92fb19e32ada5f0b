//! What a gateway's event, as its adapter reads it ([`IncomingEvent`]), does to Kassa's records.
//! Every effect is idempotent and only moves forward (a settled charge stays settled, a refund
//! Kassa already counts is not counted again, an older dispute event does not undo a newer one),
//! so an event applied again after a crash, or arriving after a later one, changes nothing more.

use std::sync::Arc;

use kassa_gateways::webhooks::{
    ChargeRef, DisputeMoves, EventEffect, IncomingEvent, RefundSeen, WebhookSource,
};
use kassa_gateways::{HostedFor, PaymentFee, Router};

use super::sources::WebhookSources;
use crate::account_directory::AccountDirectory;
use crate::actor::gateway_events::{GatewayRefund, RecordDispute, RecordGatewayRefunds};
use crate::actor::hosted_pages::{HostedPageClosed, PageFor};
use crate::actor::hosted_payments::{HostedTarget, RecordHostedPayment, SaveHostedCard};
use crate::actor::messages::{RefundPaidOut, SettleCharge, SettledCharge};
use crate::actor::review::HoldForReview;
use crate::actor::settlement::{Settlement, charge_settlement};
use crate::actor::{ActorError, CustomerKey, Durably, IdempotencyTicket, Registry};
use crate::checkout::subscription::{Started, session_coupon, start_message};
use crate::domain::money::currency_code;
use crate::domain::time::now_unix_secs;
use crate::domain::{
    AccountId, AmountReview, CardDisplay, Cause, Charge, ChargeId, ChargeStatus, CheckoutItems,
    CheckoutSession, CheckoutSessionId, Currency, Failure, GatewayEvent, InvoiceId, ListedMoney,
    Money, RefundId, RefundReason,
};
use crate::payouts::Payouts;
use crate::store::{CouponStore, CustomerStore, Outcome, StoreError};
use sha2::{Digest, Sha256};

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

pub struct Applier {
    store: Arc<dyn CustomerStore>,
    registry: Registry,
    sources: Arc<WebhookSources>,
    /// Every account the engine serves: an event names the Kassa charge but not its account.
    accounts: AccountDirectory,
    /// The gateways, to describe the card a hosted payment saved.
    gateways: Router,
    /// A checkout session's coupon, resolved again when Stripe's webhook starts its
    /// subscription.
    coupons: Arc<dyn CouponStore>,
    /// Where a payout's result (M-Pesa B2C's) is recorded.
    payouts: Arc<Payouts>,
}

impl Applier {
    pub fn new(
        store: Arc<dyn CustomerStore>,
        registry: Registry,
        sources: Arc<WebhookSources>,
        accounts: AccountDirectory,
        gateways: Router,
        coupons: Arc<dyn CouponStore>,
        payouts: Arc<Payouts>,
    ) -> Applier {
        Applier { store, registry, sources, accounts, gateways, coupons, payouts }
    }

    /// The account's charge with this id, of `gateway`, whichever account it is in.
    fn find_charge(&self, id: &str, gateway: &str) -> Result<Option<ChargeTarget>, StoreError> {
        let Some(id) = ChargeId::parse(id) else { return Ok(None) };
        for account in &self.accounts.all() {
            if let Some(charge) = self.store.charge(account, &id)?
                && charge.gateway == gateway
            {
                let key = CustomerKey { account: account.clone(), customer: charge.customer };
                return Ok(Some(ChargeTarget { key, charge: id }));
            }
        }
        Ok(None)
    }

    /// The Kassa charge an event names, if any: by the gateway's reference (once Kassa recorded
    /// it on the charge), else by the Kassa charge id the event carries or the adapter
    /// remembers for that reference (an event can arrive before Kassa's own answer).
    pub fn locate(
        &self,
        source: &dyn WebhookSource,
        named: &ChargeRef,
    ) -> Result<Option<ChargeTarget>, StoreError> {
        let gateway = source.gateway();
        if let Some(reference) = &named.reference
            && let Some((account, customer, charge)) =
                self.store.charge_by_reference(gateway, reference)?
        {
            return Ok(Some(ChargeTarget { key: CustomerKey { account, customer }, charge }));
        }
        if let Some(id) = &named.charge_id {
            return self.find_charge(id, gateway);
        }
        let Some(reference) = &named.reference else { return Ok(None) };
        let remembered = source
            .charge_id_for(reference)
            .map_err(|error| StoreError::Storage(error.to_string()))?;
        match remembered {
            Some(id) => self.find_charge(&id, gateway),
            None => Ok(None),
        }
    }

    /// Applies a persisted event and answers what that did; `read` is its payload as the
    /// adapter read it at ingest, when at hand. An error is Kassa's own (storage, an actor
    /// unavailable): the event stays in the inbox and is applied again later.
    pub async fn apply(
        &self,
        stored: &GatewayEvent,
        read: Option<&IncomingEvent>,
    ) -> Result<EventOutcome, NotApplied> {
        let Some(source) = self.sources.get(&stored.gateway) else {
            let text = format!("ignored: no gateway {} takes webhooks here", stored.gateway);
            return Ok(EventOutcome::unowned(text));
        };
        let reread;
        let event = match read {
            Some(event) => event,
            None => match source.read(stored.payload.as_bytes()) {
                Ok(event) => {
                    reread = event;
                    &reread
                }
                Err(error) => return Ok(EventOutcome::unowned(format!("ignored: {error}"))),
            },
        };
        match &event.effect {
            Some(EventEffect::Payout { account, key, outcome }) => {
                return self.payout_result(account.as_deref(), key, outcome).await;
            }
            Some(EventEffect::HostedPayment { .. }) => {
                return self.hosted_payment(source.as_ref(), stored, event).await;
            }
            Some(EventEffect::HostedSetup { pays, payment_method, .. }) => {
                return self.hosted_setup(source.gateway(), stored, pays, payment_method).await;
            }
            _ => {}
        }
        let target = match &event.charge {
            Some(named) => self.locate(source.as_ref(), named).map_err(ActorError::from)?,
            None => None,
        };
        let Some(effect) = &event.effect else {
            // Not about anything Kassa acts on; still filed with the charge it names, if any.
            let text = "stored: not a type Kassa applies".to_owned();
            return Ok(match &target {
                Some(target) => EventOutcome::of(target, text),
                None => EventOutcome::unowned(text),
            });
        };
        let Some(target) = target else {
            return self.about_no_known_charge(source.as_ref(), stored, event);
        };
        let Some(charge) =
            self.store.charge(&target.key.account, &target.charge).map_err(ActorError::from)?
        else {
            return Ok(EventOutcome::of(&target, format!("ignored: no charge {}", target.charge)));
        };
        let message = match in_kassa_terms(source.as_ref(), effect, &charge, stored) {
            Ok(message) => message,
            Err(refusal) => return Ok(EventOutcome::of(&target, refusal)),
        };
        let answer = match message {
            ChargeMessage::Settle(settlement) => {
                let settlement = self.with_reported_fee(&charge, settlement).await;
                self.settle(&target, settlement, stored).await
            }
            ChargeMessage::Review(message) => {
                self.registry.send(&target.key, message).await.and_then(|sent| sent)
            }
            ChargeMessage::Refunds(message) => {
                let message = self.with_refund_conversions(&target.key, &charge, message).await?;
                self.registry.send(&target.key, message).await.and_then(|sent| sent)
            }
            ChargeMessage::Dispute(message) => {
                self.registry.send(&target.key, message).await.and_then(|sent| sent)
            }
        };
        let text = match answer {
            Ok(durably) => durably.await?,
            Err(ActorError::NotFound { kind, id }) => format!("ignored: no {kind} {id}"),
            Err(error) => return Err(error.into()),
        };
        Ok(EventOutcome::of(&target, text))
    }

    /// A payout's result: recorded on the payout whose part was sent with `key`.
    async fn payout_result(
        &self,
        account: Option<&str>,
        key: &str,
        outcome: &kassa_gateways::payouts::PayoutOutcome,
    ) -> Result<EventOutcome, NotApplied> {
        if let Some(refund) = RefundId::parse(key) {
            return self.refund_paid_out(account, refund, outcome).await;
        }
        let account = match account {
            Some(account) => AccountId::parse(account),
            None => {
                let accounts = self.accounts.all();
                self.payouts.account_of_key(&accounts, key).map_err(ActorError::from)?
            }
        };
        let Some(account) = account else {
            return Ok(EventOutcome::unowned(format!("ignored: no payout was sent as {key}")));
        };
        let recorded = self.payouts.record_result(&account, key, outcome.clone()).await;
        let text = match recorded.map_err(ActorError::from)? {
            Some(payout) => format!("applied: payout {} {}", payout.id, payout.status().as_str()),
            None => format!("ignored: no payout {key}"),
        };
        Ok(EventOutcome { text, owner: Some(account) })
    }

    /// A payout adapter's result for a refund it paid out (its key is the refund's id): the
    /// refund's customer settles it.
    async fn refund_paid_out(
        &self,
        account: Option<&str>,
        id: RefundId,
        outcome: &kassa_gateways::payouts::PayoutOutcome,
    ) -> Result<EventOutcome, NotApplied> {
        let accounts = match account.and_then(AccountId::parse) {
            Some(account) => vec![account],
            None => self.accounts.all(),
        };
        for account in accounts {
            let Some(refund) = self.store.refund(&account, &id).map_err(ActorError::from)? else {
                continue;
            };
            let key = CustomerKey { account: account.clone(), customer: refund.customer };
            let message = RefundPaidOut { refund: id, outcome: outcome.clone() };
            let text = self.registry.send(&key, message).await.and_then(|sent| sent)?.await?;
            return Ok(EventOutcome { text, owner: Some(account) });
        }
        Ok(EventOutcome::unowned(format!("ignored: no refund {id}")))
    }

    /// An event that acts on a charge Kassa cannot find: tried again for as long as its
    /// adapter says the charge's reference may still be on its way, then kept as about nothing.
    fn about_no_known_charge(
        &self,
        source: &dyn WebhookSource,
        stored: &GatewayEvent,
        event: &IncomingEvent,
    ) -> Result<EventOutcome, NotApplied> {
        let named = event.charge.as_ref();
        let reference =
            named.and_then(|named| named.reference.as_deref().or(named.charge_id.as_deref()));
        let Some(reference) = reference else {
            return Ok(EventOutcome::unowned("ignored: names no Kassa charge".to_owned()));
        };
        if now_unix_secs() - stored.received < source.early_event_wait_secs() {
            return Err(NotApplied::NotYet(format!("no Kassa charge for {reference} yet")));
        }
        // A gateway account is often shared with other integrations, whose payments Kassa
        // never made: their events are routine, kept with this outcome, and not a warning. One
        // tagged with a Kassa charge id that is not here is, and so is one from a source whose
        // events all answer Kassa's own requests (it waited for the charge to show up).
        let expected_one = named.is_some_and(|named| named.charge_id.is_some())
            || source.early_event_wait_secs() > 0;
        if expected_one {
            tracing::warn!(gateway = source.gateway(), reference, kind = %event.kind, "gateway event ignored: it names a Kassa charge that is not here");
        } else {
            tracing::info!(gateway = source.gateway(), reference, kind = %event.kind, "gateway event ignored: no Kassa charge");
        }
        Ok(EventOutcome::unowned(format!("ignored: no Kassa charge for {reference}")))
    }

    /// A buyer paid a checkout session, or an invoice, on the processor's own page: its
    /// customer records the payment (see [`crate::actor::hosted_payments`]).
    async fn hosted_payment(
        &self,
        source: &dyn WebhookSource,
        stored: &GatewayEvent,
        event: &IncomingEvent,
    ) -> Result<EventOutcome, NotApplied> {
        let Some(EventEffect::HostedPayment { pays, reference, payment_method, amount, currency }) =
            &event.effect
        else {
            return Ok(EventOutcome::unowned("ignored: not a hosted payment".to_owned()));
        };
        let Some((key, target, expected)) = self.hosted_target(pays).map_err(ActorError::from)?
        else {
            tracing::error!(
                gateway = source.gateway(),
                reference,
                ?pays,
                "a hosted payment for nothing Kassa knows"
            );
            return Ok(EventOutcome::unowned(format!("ignored: no Kassa object for {pays:?}")));
        };
        let owner = EventOutcome { text: String::new(), owner: Some(key.account.clone()) };
        let stated = currency.as_deref().unwrap_or("");
        if !stated.eq_ignore_ascii_case(expected.code()) {
            let text = format!("ignored: paid in {stated}, not {}", currency_code(expected));
            return Ok(EventOutcome { text, ..owner });
        }
        let amount_minor = match source.amount_in_minor_units(*amount, expected) {
            Ok(amount) => amount,
            Err(error) => return Ok(EventOutcome { text: format!("ignored: {error}"), ..owner }),
        };
        let card = match payment_method {
            Some(token) => self.card_of(source.gateway(), token).await,
            None => None,
        };
        // The processor's event names the payment, not the balance transaction with its fee.
        let fee = self.reported_fee(source.gateway(), reference).await.unwrap_or_default();
        let message = RecordHostedPayment {
            pays: target,
            gateway: source.gateway(),
            reference: reference.clone(),
            payment_method: payment_method.clone(),
            card,
            amount: Money { amount_minor, currency: expected },
            fee,
            cause: cause(stored),
        };
        let text = match self.registry.send(&key, message).await.and_then(|sent| sent) {
            Ok(durably) => durably.await?,
            Err(ActorError::NotFound { kind, id }) => format!("ignored: no {kind} {id}"),
            Err(error) => return Err(error.into()),
        };
        Ok(EventOutcome { text, ..owner })
    }

    /// A buyer saved a card on the processor's page for a subscription's checkout session: the
    /// card becomes the customer's, and the session's subscription starts with it (its trial
    /// begun, or its first invoice charged) under a key derived from the session, so a second
    /// delivery starts nothing more.
    async fn hosted_setup(
        &self,
        gateway: &'static str,
        stored: &GatewayEvent,
        pays: &HostedFor,
        payment_method: &Option<String>,
    ) -> Result<EventOutcome, NotApplied> {
        let id = match pays {
            HostedFor::CheckoutSession(id) => CheckoutSessionId::parse(id),
            HostedFor::Invoice(_) => None,
        };
        let session = match id {
            Some(id) => self.store.checkout_session(&id).map_err(ActorError::from)?,
            None => None,
        };
        let Some(session) = session else {
            tracing::error!(gateway, ?pays, "a card saved for nothing Kassa knows");
            return Ok(EventOutcome::unowned(format!("ignored: no checkout session {pays:?}")));
        };
        let owner = EventOutcome { text: String::new(), owner: Some(session.account.clone()) };
        let ignored = |text: String| Ok(EventOutcome { text, ..owner.clone() });
        if let Some(subscription) = &session.subscription {
            return ignored(format!("no change: subscription {subscription} started"));
        }
        let (Some(token), CheckoutItems::Plan { plan, .. }) = (payment_method, &session.items)
        else {
            return ignored("ignored: no card saved for a subscription".to_owned());
        };
        let Some(plan) = self.store.plan(&session.account, plan).map_err(ActorError::from)? else {
            return ignored(format!("ignored: no plan {plan}"));
        };
        let key =
            CustomerKey { account: session.account.clone(), customer: session.customer.clone() };
        let card = self.card_of(gateway, token).await;
        let saved =
            SaveHostedCard { gateway, payment_method: token.clone(), card, cause: cause(stored) };
        let method = self.registry.send(&key, saved).await.and_then(|sent| sent)?.await?;
        // Its page is used: the subscription may now start, which an open page would refuse.
        if let Some(page) = &session.hosted_page {
            let used = HostedPageClosed {
                page_for: PageFor::CheckoutSession(session.id.clone()),
                reference: page.reference.clone(),
            };
            self.registry.send(&key, used).await.and_then(|sent| sent)?.await?;
        }
        let now = self.session_now(&session).map_err(ActorError::from)?;
        let coupon = session_coupon(self.coupons.as_ref(), &session, now).unwrap_or_else(|error| {
            tracing::warn!(checkout_session = %session.id, ?error, "started without its coupon");
            None
        });
        let idempotency = format!("kassa:checkout:{}:subscription", session.id);
        let ticket = IdempotencyTicket {
            fingerprint: Sha256::digest(idempotency.as_bytes()).into(),
            key: idempotency,
        };
        let started = Started::ByWebhook(ticket);
        let Some(message) = start_message(&session, plan, method, coupon, started, cause(stored))
        else {
            return ignored("ignored: the session sells no subscription".to_owned());
        };
        let text = match self.registry.send(&key, message).await.and_then(|sent| sent) {
            Ok(Outcome::Subscription(subscription)) => {
                format!("subscription {} started", subscription.id)
            }
            Ok(Outcome::SubscriptionDeclined { subscription, .. }) => {
                format!("subscription {} started; its first payment declined", subscription.id)
            }
            Ok(other) => format!("no change: answered {other:?}"),
            Err(ActorError::Invalid { message, .. }) => format!("refused: {message}"),
            Err(error) => return Err(error.into()),
        };
        ignored(text)
    }

    /// "Now" for a checkout session: its test clock's time, or the real time.
    fn session_now(&self, session: &CheckoutSession) -> Result<i64, StoreError> {
        let Some(clock) = &session.test_clock else { return Ok(now_unix_secs()) };
        let clock = self.store.test_clock(&session.account, clock)?;
        Ok(clock.map_or_else(now_unix_secs, |clock| clock.frozen_time))
    }

    /// The card a hosted payment saved, as its gateway describes it (brand and last four digits
    /// for receipts); `None` when the gateway cannot say now, which records the card without.
    async fn card_of(&self, gateway: &str, token: &str) -> Option<CardDisplay> {
        let gateway = self.gateways.by_name(gateway).ok()?;
        match gateway.describe_payment_method(token).await {
            Ok(details) => details.card.map(|card| CardDisplay {
                brand: card.brand,
                last4: card.last4,
                exp_month: card.exp_month,
                exp_year: card.exp_year,
            }),
            Err(error) => {
                tracing::warn!(gateway = gateway.name(), %error, "a hosted payment's card was not described");
                None
            }
        }
    }

    /// An event saying a payment succeeded may report no fee (Stripe's names the PaymentIntent,
    /// not the balance transaction that carries it): the charge's gateway is asked for it,
    /// while the charge is not settled yet (a duplicate or late event asks nothing). No answer
    /// settles the charge all the same, without a fee: the payment happened whatever its fee.
    async fn with_reported_fee(&self, charge: &Charge, settlement: Settlement) -> Settlement {
        let Settlement::Succeeded { reference, fee_minor: 0, conversion: None } = &settlement
        else {
            return settlement;
        };
        if !matches!(charge.status, ChargeStatus::Processing | ChargeStatus::RequiresAction) {
            return settlement;
        }
        match self.reported_fee(&charge.gateway, reference).await {
            Some(fee) => Settlement::Succeeded {
                reference: reference.clone(),
                fee_minor: fee.fee_minor,
                conversion: fee.conversion.map(crate::actor::settlement::converted),
            },
            None => settlement,
        }
    }

    /// The fee `gateway` kept of the payment it knows as `reference`, if it says. A gateway
    /// that cannot be asked now leaves the payment without one: it happened whatever its fee.
    async fn reported_fee(&self, gateway: &str, reference: &str) -> Option<PaymentFee> {
        let gateway = self.gateways.by_name(gateway).ok()?;
        match gateway.charge_fee(reference).await {
            Ok(fee) => fee,
            Err(error) => {
                tracing::warn!(reference, %error, "a payment's fee was not read: recorded without it");
                None
            }
        }
    }

    /// The refunds made at the gateway of a charge it settled into another currency, each
    /// with what it took from that balance (where the gateway says): they are booked as they
    /// left it, not at the charge's rate. Refunds Kassa made or has recorded are not asked
    /// about again; one the gateway cannot be asked about now is booked at the charge's rate.
    async fn with_refund_conversions(
        &self,
        owner: &CustomerKey,
        charge: &Charge,
        mut message: RecordGatewayRefunds,
    ) -> Result<RecordGatewayRefunds, NotApplied> {
        let Some(listed) = message.refunds.as_mut().filter(|_| charge.conversion.is_some()) else {
            return Ok(message);
        };
        let recorded =
            self.store.refunds(&owner.account, &owner.customer).map_err(ActorError::from)?;
        let known = |reference: &str| {
            recorded.iter().any(|refund| refund.gateway_reference.as_deref() == Some(reference))
        };
        let gateway = self.gateways.by_name(&charge.gateway).ok();
        for refund in listed.iter_mut().filter(|refund| refund.kassa_id.is_none()) {
            let Some(gateway) = gateway.as_ref().filter(|_| !known(&refund.reference)) else {
                continue;
            };
            match gateway.refund_conversion(&refund.reference).await {
                Ok(conversion) => {
                    refund.conversion = conversion.map(crate::actor::settlement::converted);
                }
                Err(error) => {
                    tracing::warn!(charge = %charge.id, reference = refund.reference, %error, "a gateway refund's settlement was not read: booked at its charge's rate");
                }
            }
        }
        Ok(message)
    }

    /// Whose a hosted payment is, what it pays and in which currency.
    fn hosted_target(
        &self,
        pays: &HostedFor,
    ) -> Result<Option<(CustomerKey, HostedTarget, Currency)>, StoreError> {
        match pays {
            HostedFor::CheckoutSession(id) => {
                let Some(id) = CheckoutSessionId::parse(id) else { return Ok(None) };
                Ok(self.store.checkout_session(&id)?.map(|session| {
                    let key = CustomerKey { account: session.account, customer: session.customer };
                    (key, HostedTarget::CheckoutSession(session.id), session.currency)
                }))
            }
            HostedFor::Invoice(id) => {
                let Some(id) = InvoiceId::parse(id) else { return Ok(None) };
                for account in &self.accounts.all() {
                    if let Some(invoice) = self.store.invoice(account, &id)? {
                        let key =
                            CustomerKey { account: account.clone(), customer: invoice.customer };
                        return Ok(Some((key, HostedTarget::Invoice(id), invoice.currency)));
                    }
                }
                Ok(None)
            }
        }
    }

    async fn settle(
        &self,
        target: &ChargeTarget,
        settlement: Settlement,
        stored: &GatewayEvent,
    ) -> Result<Durably<String>, ActorError> {
        let cause = cause(stored);
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

fn cause(stored: &GatewayEvent) -> Cause {
    Cause::system(format!("webhook {}", stored.id))
}

/// What an effect asks of the charge's actor.
enum ChargeMessage {
    Settle(Settlement),
    Review(HoldForReview),
    Refunds(RecordGatewayRefunds),
    Dispute(RecordDispute),
}

/// The effect as a message to the charge's actor, its amounts in Kassa's minor units of the
/// charge's currency. `Err` is why it is not applied: an event whose currency is not the
/// charge's, or whose amount Kassa cannot hold exactly, is kept and logged for an operator,
/// never rounded.
fn in_kassa_terms(
    source: &dyn WebhookSource,
    effect: &EventEffect,
    charge: &Charge,
    stored: &GatewayEvent,
) -> Result<ChargeMessage, String> {
    let currency = charge.amount.currency;
    let same_currency = |stated: &Option<String>| match stated {
        Some(stated) if !stated.eq_ignore_ascii_case(currency.code()) => {
            tracing::error!(charge = %charge.id, stated, "gateway event in another currency than its charge");
            Err(format!(
                "ignored: amounts in {stated}, charge {} is in {}",
                charge.id,
                currency_code(currency)
            ))
        }
        _ => Ok(()),
    };
    let kassa = |amount: i64| in_minor_units(source, charge, amount, currency);
    let charge_id = charge.id.clone();
    Ok(match effect {
        EventEffect::Charge { outcome, reported } => {
            let reported_amount = reported.as_ref().map(|reported| kassa(reported.amount));
            match (reported, reported_amount.transpose()?) {
                // The adapter vouches for the sender, so the amount is the processor's word on
                // what moved: not what was charged. Neither `paid` nor `failed` is true; an
                // operator decides (see `actor::review`).
                (Some(reported), Some(amount)) if amount != charge.amount.amount_minor => {
                    ChargeMessage::Review(HoldForReview {
                        charge: charge_id,
                        review: AmountReview {
                            reported_amount_minor: amount,
                            reported_reference: reported.reference.clone(),
                            reported_at: now_unix_secs(),
                        },
                        cause: cause(stored),
                    })
                }
                _ => ChargeMessage::Settle(charge_settlement(outcome.clone())),
            }
        }
        EventEffect::ChargeFailed { code, message } => {
            ChargeMessage::Settle(Settlement::Failed(Failure {
                code: code.clone(),
                message: message.clone(),
            }))
        }
        EventEffect::Refunds { refunds, amount_refunded, currency: stated } => {
            same_currency(stated)?;
            let refunds = match refunds {
                Some(refunds) => Some(
                    refunds.iter().map(|refund| gateway_refund(refund, &kassa)).collect::<Result<
                        Vec<_>,
                        String,
                    >>(
                    )?,
                ),
                None => None,
            };
            ChargeMessage::Refunds(RecordGatewayRefunds {
                charge: charge_id,
                refunds,
                amount_refunded_minor: kassa(*amount_refunded)?,
                cause: cause(stored),
            })
        }
        EventEffect::Dispute { reference, amount, currency: stated, reason, status, moved, at } => {
            same_currency(stated)?;
            let booked =
                moved.as_ref().and_then(|moved| booked_moves(source, charge, moved)).transpose()?;
            ChargeMessage::Dispute(RecordDispute {
                charge: charge_id,
                reference: reference.clone(),
                amount_minor: kassa(*amount)?,
                money: ListedMoney {
                    fee_minor: booked.map(|booked| booked.fee),
                    withdrawn_minor: booked.and_then(|booked| booked.withdrawn),
                    reinstated_minor: booked.and_then(|booked| booked.reinstated),
                },
                reason: reason.clone(),
                status: status.clone(),
                event_at: *at,
                cause: cause(stored),
            })
        }
        // Applied apart, before any charge is looked for (see `Applier::hosted_payment`).
        EventEffect::HostedPayment { .. } | EventEffect::HostedSetup { .. } => {
            return Err("ignored: a hosted page's payment is about no charge".to_owned());
        }
        EventEffect::Payout { .. } => {
            return Err("ignored: a payout's result is about no charge".to_owned());
        }
    })
}

/// An amount an event about `charge` states, in Kassa's minor units of `currency`; one Kassa
/// cannot hold exactly is why the event (or that amount) is not applied: logged, never rounded.
fn in_minor_units(
    source: &dyn WebhookSource,
    charge: &Charge,
    amount: i64,
    currency: Currency,
) -> Result<i64, String> {
    source.amount_in_minor_units(amount, currency).map_err(|error| {
        tracing::error!(charge = %charge.id, %error, "gateway event amount not exact in Kassa's unit");
        format!("ignored: {error}")
    })
}

/// What a dispute moved, in Kassa's minor units of the currency the books carry its charge in.
#[derive(Debug, Clone, Copy)]
struct BookedMoves {
    /// `None` while the event lists no withdrawal (or reinstatement).
    withdrawn: Option<i64>,
    reinstated: Option<i64>,
    fee: i64,
}

/// What a dispute moved as the books carry its charge: in the currency they carry it in (the
/// one the gateway settled it into, if it did). Moves stated in another are left out, with an
/// error in the log: the books cannot take them. A fee Kassa cannot hold exactly refuses the
/// event (it is kept for an operator); a withdrawal or reinstatement it cannot is booked at the
/// charge's rate instead, so the dispute's status still moves.
fn booked_moves(
    source: &dyn WebhookSource,
    charge: &Charge,
    moved: &DisputeMoves,
) -> Option<Result<BookedMoves, String>> {
    let booked_in = charge.booked(0).currency;
    if !moved.currency.eq_ignore_ascii_case(booked_in.code()) {
        tracing::error!(charge = %charge.id, stated = moved.currency, "a dispute's moves in another currency than the books carry its charge in: left out");
        return None;
    }
    let kassa = |amount: i64| in_minor_units(source, charge, amount, booked_in);
    let listed = |amount: i64| (amount > 0).then(|| kassa(amount).ok()).flatten();
    Some(kassa(moved.fee).map(|fee| BookedMoves {
        withdrawn: listed(moved.withdrawn),
        reinstated: listed(moved.reinstated),
        fee,
    }))
}

fn gateway_refund(
    refund: &RefundSeen,
    kassa: &impl Fn(i64) -> Result<i64, String>,
) -> Result<GatewayRefund, String> {
    Ok(GatewayRefund {
        reference: refund.reference.clone(),
        amount_minor: kassa(refund.amount)?,
        kassa_id: refund.refund_id.clone(),
        reason: refund.reason.as_deref().and_then(RefundReason::parse),
        conversion: None,
    })
}
