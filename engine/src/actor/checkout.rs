//! Checkout sessions in the customer's actor. A session is opened, paid and expired only here,
//! one turn at a time: a payment records itself on the session in the change set that records
//! the charge (or the subscription), so a second tab finds a payment under way and is refused,
//! and a session whose payment succeeded completes in the same change set as that success
//! ([`complete_paid_sessions`], run at every commit), whichever path settled it: the gateway's
//! answer, an M-Pesa callback, a bank statement.

use actix::{Context, Handler, Message};

use super::billing::renewals::Step;
use super::{ActorError, CustomerActor, Durably, IdempotencyTicket};
use crate::coupons::Resolved;
use crate::domain::time::now_unix_secs;
use crate::domain::{
    Address, BillingReason, Cause, ChargeStatus, CheckoutItems, CheckoutSession, CheckoutSessionId,
    CheckoutStatus, Customer, Event, EventKind, InvoiceStatus, SubscriptionStatus,
};
use crate::limits::CHECKOUT_ATTEMPTS_MAX;
use crate::store::{ChangeSet, CustomerStore, Outcome, Scheduled, StoreError, Write};

/// `POST /v1/checkout/sessions`: the session as the API made it, recorded with its expiry on
/// the schedule.
#[derive(Clone, Message)]
#[rtype(result = "Result<Durably<CheckoutSession>, ActorError>")]
pub struct OpenCheckoutSession {
    pub session: CheckoutSession,
    /// The session's coupon, resolved and checked by the API: held against its limits while the
    /// session is open.
    pub coupon: Option<Resolved>,
    pub idempotency: Option<IdempotencyTicket>,
    pub cause: Cause,
}

/// A promotion code typed on the page, or the buyer's country chosen there: the session priced
/// again with it.
#[derive(Clone, Message)]
#[rtype(result = "Result<Durably<CheckoutSession>, ActorError>")]
pub struct RepriceCheckoutSession {
    pub id: CheckoutSessionId,
    pub items: CheckoutItems,
    pub amount_subtotal_minor: i64,
    pub amount_total_minor: i64,
    pub coupon: Option<Resolved>,
    /// The country it was priced for (see [`CheckoutSession::tax_country`]).
    pub tax_country: Option<String>,
    pub cause: Cause,
}

/// A payment is about to be tried on the session's page: counted, and refused past
/// [`CHECKOUT_ATTEMPTS_MAX`] or when the session cannot be paid now. A buyer with no address
/// on record gets the country the session was taxed for.
#[derive(Clone, Message)]
#[rtype(result = "Result<Durably<()>, ActorError>")]
pub struct CountCheckoutAttempt {
    pub id: CheckoutSessionId,
    pub cause: Cause,
}

/// `POST /v1/checkout/sessions/{id}/expire`.
#[derive(Clone, Message)]
#[rtype(result = "Result<Durably<CheckoutSession>, ActorError>")]
pub struct ExpireCheckoutSession {
    pub id: CheckoutSessionId,
    pub cause: Cause,
}

/// Whether a payment of the session may yet succeed: its charge, or its subscription's first
/// invoice's, is under way.
fn payment_under_way(
    store: &dyn CustomerStore,
    session: &CheckoutSession,
) -> Result<bool, StoreError> {
    let account = &session.account;
    let charge = match (&session.charge, &session.subscription) {
        (Some(charge), _) => Some(charge.clone()),
        (None, Some(subscription)) => {
            let invoice = match store.subscription(account, subscription)? {
                Some(subscription) => subscription.latest_invoice,
                None => None,
            };
            match invoice {
                Some(invoice) => {
                    store.invoice(account, &invoice)?.and_then(|invoice| invoice.charge)
                }
                None => None,
            }
        }
        (None, None) => None,
    };
    let Some(charge) = charge else { return Ok(false) };
    Ok(store.charge(account, &charge)?.is_some_and(|charge| {
        matches!(charge.status, ChargeStatus::Processing | ChargeStatus::RequiresAction)
    }))
}

/// The subscription as this change set leaves it, else as the store holds it.
fn latest_subscription(
    changes: &ChangeSet,
    store: &dyn CustomerStore,
    id: &crate::domain::SubscriptionId,
) -> Result<Option<crate::domain::Subscription>, StoreError> {
    let written = changes.writes.iter().rev().find_map(|write| match write {
        Write::Subscription { record, .. } if &record.id == id => Some(record.clone()),
        _ => None,
    });
    match written {
        Some(record) => Ok(Some(record)),
        None => store.subscription(&changes.account, id),
    }
}

/// The session's status as a buyer or the API sees it at `now`: an open session past its
/// expiry with no payment under way is expired, whether or not the schedule has run yet.
pub fn status_at(
    store: &dyn CustomerStore,
    session: &CheckoutSession,
    now: i64,
) -> Result<CheckoutStatus, StoreError> {
    if session.status == CheckoutStatus::Open
        && now >= session.payable_until()
        && !payment_under_way(store, session)?
    {
        return Ok(CheckoutStatus::Expired);
    }
    Ok(session.status)
}

impl CustomerActor {
    pub(super) fn checkout_session(
        &self,
        id: &CheckoutSessionId,
    ) -> Result<CheckoutSession, ActorError> {
        self.services
            .store
            .checkout_session(id)?
            .filter(|session| {
                session.account == self.key.account && session.customer == self.key.customer
            })
            .ok_or_else(|| ActorError::NotFound { kind: "checkout_session", id: id.to_string() })
    }

    /// The session, when a new payment of it may start: open, not expired, and with no
    /// payment under way or succeeded.
    fn payable_checkout_session(
        &self,
        id: &CheckoutSessionId,
    ) -> Result<CheckoutSession, ActorError> {
        let session = self.checkout_session(id)?;
        let now = self.billing_now()?;
        let store = self.services.store.as_ref();
        match status_at(store, &session, now)? {
            CheckoutStatus::Complete => Err(ActorError::invalid(
                "checkout_session_complete",
                None,
                format!("checkout session {id} is paid already"),
            )),
            CheckoutStatus::Expired => Err(ActorError::invalid(
                "checkout_session_expired",
                None,
                format!("checkout session {id} has expired: nothing was charged"),
            )),
            CheckoutStatus::Open if payment_under_way(store, &session)? => {
                Err(ActorError::invalid(
                    "checkout_session_payment_under_way",
                    None,
                    format!("a payment of checkout session {id} is under way"),
                ))
            }
            CheckoutStatus::Open => Ok(session),
        }
    }

    /// The session, when a new payment of it may start here and no processor's page is open
    /// for its card: the page is closed first (see `api::handlers::checkout_page`), so that it
    /// and this payment can never both take money.
    pub(super) fn payable_here(
        &self,
        id: &CheckoutSessionId,
    ) -> Result<CheckoutSession, ActorError> {
        let session = self.payable_checkout_session(id)?;
        if session.hosted_page.is_some() {
            return Err(ActorError::invalid(
                "checkout_session_payment_under_way",
                None,
                format!("checkout session {id} has its card page open at the processor"),
            ));
        }
        Ok(session)
    }

    /// The customer with the country the session was taxed for, when they have no address on
    /// record: what they pay now is taxed there, and so is what they are billed later.
    fn buyer_located(&mut self, session: &CheckoutSession) -> Result<Option<Customer>, ActorError> {
        let Some(country) = &session.tax_country else { return Ok(None) };
        let customer = &self.living()?.customer;
        if customer.address.is_some() {
            return Ok(None);
        }
        let mut located = customer.clone();
        located.address = Some(Address::in_country(country));
        Ok(Some(located))
    }

    /// The writes that record `charge` as the session's payment. The charge takes the
    /// session's coupon over: the session's hold on it is let go first, so the charge's own
    /// reservation fits within the limit the hold kept.
    pub(super) fn checkout_paid_by_charge(
        &self,
        id: &CheckoutSessionId,
        charge: &crate::domain::ChargeId,
    ) -> Result<Vec<Write>, ActorError> {
        let mut session = self.payable_here(id)?;
        session.charge = Some(charge.clone());
        let mut writes = Vec::from_iter(self.coupon_hold_released(&session));
        writes.push(Write::CheckoutSession(Box::new(session)));
        Ok(writes)
    }

    /// The writes that record `subscription` as what the session started; the subscription
    /// takes the session's coupon over, as a charge does.
    pub(super) fn checkout_started_subscription(
        &self,
        id: &CheckoutSessionId,
        subscription: &crate::domain::SubscriptionId,
    ) -> Result<Vec<Write>, ActorError> {
        let mut session = self.payable_here(id)?;
        if session.subscription.is_some() {
            return Err(ActorError::invalid(
                "checkout_session_payment_under_way",
                None,
                format!("checkout session {id} started its subscription already"),
            ));
        }
        session.subscription = Some(subscription.clone());
        let mut writes = Vec::from_iter(self.coupon_hold_released(&session));
        writes.push(Write::CheckoutSession(Box::new(session)));
        Ok(writes)
    }

    fn open_checkout_session(
        &mut self,
        message: OpenCheckoutSession,
    ) -> Result<Durably<CheckoutSession>, ActorError> {
        self.living()?;
        let session = message.session;
        let mut changes = self.changes();
        if let Some(resolved) = &message.coupon {
            changes.push(self.reserve_redemption(resolved, session.id.as_str())?);
        }
        changes.push(Write::Due {
            scope: session.schedule_scope(),
            due: session.expires_at,
            object: Scheduled::CheckoutSession(session.id.clone()),
        });
        changes.push(Write::Event(Event::new(
            EventKind::CheckoutSessionCreated,
            session.id.as_str(),
            &message.cause,
        )));
        changes.push(Write::CheckoutSession(Box::new(session.clone())));
        if let Some(ticket) = &message.idempotency {
            let outcome = Outcome::CheckoutSession(Box::new(session.clone()));
            changes.push(Write::idempotency_completed(&ticket.key, ticket.fingerprint, outcome));
        }
        let durable = self.commit(changes).inspect_err(|_| self.coupon_hold_lost(&session))?;
        tracing::info!(checkout_session = %session.id, mode = session.mode.as_str(), "checkout session opened");
        Ok(Box::pin(async move {
            durable.wait().await?;
            Ok(session)
        }))
    }

    /// Expires the session: nothing can be paid through it any more.
    fn expire_checkout_session(
        &mut self,
        changes: &mut ChangeSet,
        session: &mut CheckoutSession,
        cause: &Cause,
    ) {
        session.status = CheckoutStatus::Expired;
        changes.extend(self.coupon_hold_released(session));
        changes.push(Write::CheckoutSession(Box::new(session.clone())));
        changes.push(Write::Event(Event::new(
            EventKind::CheckoutSessionExpired,
            session.id.as_str(),
            cause,
        )));
    }

    fn expire_on_request(
        &mut self,
        message: ExpireCheckoutSession,
    ) -> Result<Durably<CheckoutSession>, ActorError> {
        let mut session = self.checkout_session(&message.id)?;
        let store = self.services.store.as_ref();
        if session.status == CheckoutStatus::Expired {
            return Ok(Box::pin(self.once_durable(session)));
        }
        if session.status == CheckoutStatus::Complete {
            return Err(ActorError::invalid(
                "checkout_session_complete",
                None,
                format!("checkout session {} is paid already: it cannot expire", session.id),
            ));
        }
        // A card page still open is closed at the processor first (by the API).
        if session.hosted_page.is_some() || payment_under_way(store, &session)? {
            return Err(ActorError::invalid(
                "checkout_session_payment_under_way",
                None,
                format!("a payment of checkout session {} is under way", session.id),
            ));
        }
        let mut changes = self.changes();
        self.expire_checkout_session(&mut changes, &mut session, &message.cause);
        let durable = self.commit(changes)?;
        Ok(Box::pin(async move {
            durable.wait().await?;
            Ok(session)
        }))
    }

    /// The schedule's step for a session: still open at its expiry with no payment under way,
    /// it expires. One whose payment is under way then is settled by that payment; if it
    /// fails, the session reads as expired ([`status_at`]).
    pub(crate) fn checkout_due_step(
        &mut self,
        id: &CheckoutSessionId,
        at: i64,
    ) -> Result<Step, ActorError> {
        let Ok(mut session) = self.checkout_session(id) else { return Ok(Step::Nothing) };
        let open = session.status == CheckoutStatus::Open;
        if !open
            || session.payable_until() > at
            || payment_under_way(self.services.store.as_ref(), &session)?
        {
            return Ok(Step::Nothing);
        }
        let mut changes = self.changes();
        let cause = Cause::system("checkout_session_expiry");
        self.expire_checkout_session(&mut changes, &mut session, &cause);
        Ok(Step::Done { durable: self.commit(changes)?, collect: None })
    }

    /// When the schedule next has something for the session: its expiry (see
    /// [`CheckoutSession::payable_until`]), while it is open.
    pub(crate) fn checkout_next_due(
        &self,
        id: &CheckoutSessionId,
    ) -> Result<Option<i64>, ActorError> {
        let Ok(session) = self.checkout_session(id) else { return Ok(None) };
        let waiting = session.status == CheckoutStatus::Open
            && !payment_under_way(self.services.store.as_ref(), &session)?;
        Ok(waiting.then_some(session.payable_until()))
    }
}

impl CustomerActor {
    /// The session's hold on its coupon let go (it expired, was priced again, or a payment took
    /// the coupon over): the write that removes it, the book told at once.
    fn coupon_hold_released(&self, session: &CheckoutSession) -> Option<Write> {
        let applied = session.coupon.as_ref()?;
        self.coupon_hold_lost(session);
        let holder = session.id.to_string();
        Some(Write::RemoveRedemption { coupon: applied.coupon.clone(), holder })
    }

    /// Tells the book the session holds its coupon no more (or never came to).
    fn coupon_hold_lost(&self, session: &CheckoutSession) {
        if let Some(applied) = &session.coupon {
            let code = applied.promotion_code.as_ref();
            let (account, holder) = (&self.key.account, session.id.as_str());
            self.services.redemptions.settled(account, &applied.coupon, code, holder, false);
        }
    }
}

impl Handler<OpenCheckoutSession> for CustomerActor {
    type Result = Result<Durably<CheckoutSession>, ActorError>;

    fn handle(&mut self, message: OpenCheckoutSession, _: &mut Context<Self>) -> Self::Result {
        self.open_checkout_session(message)
    }
}

impl Handler<RepriceCheckoutSession> for CustomerActor {
    type Result = Result<Durably<CheckoutSession>, ActorError>;

    fn handle(&mut self, message: RepriceCheckoutSession, _: &mut Context<Self>) -> Self::Result {
        let mut session = self.payable_here(&message.id)?;
        let mut changes = self.changes();
        changes.extend(self.coupon_hold_released(&session));
        if let Some(resolved) = &message.coupon {
            changes.push(self.reserve_redemption(resolved, session.id.as_str())?);
        }
        session.items = message.items;
        session.amount_subtotal_minor = message.amount_subtotal_minor;
        session.amount_total_minor = message.amount_total_minor;
        session.coupon = message.coupon.as_ref().map(Resolved::applied);
        session.tax_country = message.tax_country;
        changes.push(Write::Event(Event::new(
            EventKind::CheckoutSessionUpdated,
            session.id.as_str(),
            &message.cause,
        )));
        changes.push(Write::CheckoutSession(Box::new(session.clone())));
        let durable = self.commit(changes).inspect_err(|_| self.coupon_hold_lost(&session))?;
        Ok(Box::pin(async move {
            durable.wait().await?;
            Ok(session)
        }))
    }
}

impl Handler<CountCheckoutAttempt> for CustomerActor {
    type Result = Result<Durably<()>, ActorError>;

    fn handle(&mut self, message: CountCheckoutAttempt, _: &mut Context<Self>) -> Self::Result {
        let mut session = self.payable_here(&message.id)?;
        if session.attempts >= CHECKOUT_ATTEMPTS_MAX {
            return Err(ActorError::invalid(
                "checkout_session_attempts_exhausted",
                None,
                format!(
                    "checkout session {} was tried {CHECKOUT_ATTEMPTS_MAX} times: ask the seller \
                     for a new link",
                    session.id
                ),
            ));
        }
        session.attempts += 1;
        let mut changes = self.changes();
        let located = self.buyer_located(&session)?;
        if let Some(customer) = &located {
            changes.push(Write::Customer(customer.clone()));
            changes.push(Write::Event(Event::new(
                EventKind::CustomerUpdated,
                customer.id.as_str(),
                &message.cause,
            )));
        }
        changes.push(Write::CheckoutSession(Box::new(session)));
        let durable = self.commit(changes)?;
        if let Some(customer) = located {
            self.accepting()?.customer = customer;
        }
        Ok(Box::pin(async move { Ok(durable.wait().await?) }))
    }
}

impl Handler<ExpireCheckoutSession> for CustomerActor {
    type Result = Result<Durably<CheckoutSession>, ActorError>;

    fn handle(&mut self, message: ExpireCheckoutSession, _: &mut Context<Self>) -> Self::Result {
        self.expire_on_request(message)
    }
}

/// At commit: every session whose payment this change set makes succeed (its charge succeeded,
/// its subscription's first invoice was paid, or its subscription began a trial) completes in
/// the same set.
pub(super) fn complete_paid_sessions(
    changes: &mut ChangeSet,
    store: &dyn CustomerStore,
) -> Result<(), StoreError> {
    let mut paid: Vec<CheckoutSessionId> = Vec::new();
    for write in &changes.writes {
        let session = match write {
            Write::Charge(charge) | Write::NewCharge(charge)
                if charge.status == ChargeStatus::Succeeded =>
            {
                charge.checkout_session.clone()
            }
            Write::Subscription { record, .. } if record.status == SubscriptionStatus::Trialing => {
                record.checkout_session.clone()
            }
            Write::Invoice(invoice)
                if invoice.status == InvoiceStatus::Paid
                    && invoice.billing_reason == BillingReason::SubscriptionCreate =>
            {
                let Some(id) = &invoice.subscription else { continue };
                latest_subscription(changes, store, id)?.and_then(|record| record.checkout_session)
            }
            _ => None,
        };
        paid.extend(session);
    }
    for id in paid {
        let written = changes.writes.iter().rev().find_map(|write| match write {
            Write::CheckoutSession(session) if session.id == id => Some((**session).clone()),
            _ => None,
        });
        let Some(mut session) =
            written.map_or_else(|| store.checkout_session(&id), |s| Ok(Some(s)))?
        else {
            continue;
        };
        if session.status == CheckoutStatus::Complete {
            continue;
        }
        session.status = CheckoutStatus::Complete;
        // On the session's test clock, if it has one, as every billing instant is.
        let clock = match &session.test_clock {
            Some(clock) => store.test_clock(&session.account, clock)?,
            None => None,
        };
        session.completed_at = Some(clock.map_or_else(now_unix_secs, |clock| clock.frozen_time));
        let cause = Cause::system("checkout_session_paid");
        changes.push(Write::Event(Event::new(
            EventKind::CheckoutSessionCompleted,
            session.id.as_str(),
            &cause,
        )));
        changes.push(Write::CheckoutSession(Box::new(session)));
    }
    Ok(())
}
