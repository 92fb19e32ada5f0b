//! The charge flow: route → record `processing` (durably) → ask the route's gateways outside the
//! actor's turn → settle back inside it (durably) → answer.
//!
//! The gateway is asked only after the `processing` record naming it is on disk, with the charge
//! id as its idempotency key: whatever crashes when, recovery finds the charge and asks THAT
//! gateway about that key instead of charging again. Failover to the next gateway of the route
//! happens only after the previous one provably charged nothing, and only once the charge's
//! record names the next gateway ([`RecordAttempt`], durable before the call).
//!
//! What a gateway answers moves the charge forward only: `processing` → `requires_action`
//! (3-D Secure) → `succeeded` | `failed`; an M-Pesa push keeps it `processing`, with the
//! CheckoutRequestID as its reference, until the callback ([`SettleCharge`]) or a lookup
//! settles it.

use std::sync::Arc;

use actix::{Addr, AsyncContext, Context, Handler, ResponseActFuture, WrapFuture, fut};
use kassa_gateways::router::{PaymentMethodType, RouteQuery};
use kassa_gateways::{ChargeRequest, Currency, CustomerRef, GatewayError};

use super::customer::settle_after;
use super::messages::{CreateCharge, RecordAttempt, SettleCharge, SettledCharge};
use super::settlement::{Settlement, charge_answer, contained};
use super::{ActorError, CustomerActor, Durably};
use crate::domain::time::now_unix_secs;
use crate::domain::{
    AppliedCoupon, Cause, Charge, ChargeId, ChargeStatus, CustomerId, Event, EventKind, Money,
    PaymentMethod, PaymentMethodId, PaymentMethodKind, TransferId,
};
use crate::store::{ChangeSet, DurableTicket, InFlightObject, Outcome, Unsettled, Write};

struct StartedCharge {
    charge: Charge,
    recorded: DurableTicket,
    route: RouteInput,
    request: ChargeRequest,
}

/// What routing looks at, owned so that it can travel with the gateway call.
struct RouteInput {
    currency: Currency,
    method_type: PaymentMethodType,
    country: Option<String>,
    amount_minor: i64,
}

impl RouteInput {
    fn query(&self) -> RouteQuery<'_> {
        RouteQuery {
            currency: self.currency,
            method_type: self.method_type,
            country: self.country.as_deref(),
            amount_minor: self.amount_minor,
        }
    }
}

/// How routing rules see a method. A bank transfer never reaches a gateway (see
/// `actor::bank_transfers`); routing asks about one only in `route_for`, which answers none.
fn method_type(method: &PaymentMethod) -> PaymentMethodType {
    match method.kind {
        PaymentMethodKind::Card | PaymentMethodKind::BankTransfer => PaymentMethodType::Card,
        PaymentMethodKind::Mpesa => PaymentMethodType::Mpesa,
    }
}

impl CustomerActor {
    /// The gateways a charge of `amount` with `method` would go to, in order: none for a bank
    /// transfer.
    fn route_for(&self, method: &PaymentMethod, amount: Money) -> Vec<&'static str> {
        if method.kind == PaymentMethodKind::BankTransfer {
            return Vec::new();
        }
        let state = self.state.as_ref().ok();
        let address = state.and_then(|state| state.customer.address.as_ref());
        let route = RouteInput {
            currency: amount.currency,
            method_type: method_type(method),
            country: address.map(|address| address.country.clone()),
            amount_minor: amount.amount_minor,
        };
        self.services.gateways.route(&route.query())
    }

    /// The gateway a charge of `amount` with `method` would go to first; `None` for a bank
    /// transfer.
    pub(super) fn first_gateway_for(
        &self,
        method: &PaymentMethod,
        amount: Money,
    ) -> Option<&'static str> {
        self.route_for(method, amount).first().copied()
    }

    /// Objects on a test clock move no real money: they are served by the sandbox only, and a
    /// charge of theirs that could reach another gateway (failover included) is refused before
    /// anything is kept.
    pub(crate) fn refuse_live_gateway_on_clock(
        &self,
        method: &PaymentMethod,
        amount: Money,
    ) -> Result<(), ActorError> {
        let on_test_clock =
            self.state.as_ref().is_ok_and(|state| state.customer.test_clock.is_some());
        match on_test_clock {
            true => self.refuse_live_route(&self.route_for(method, amount)),
            false => Ok(()),
        }
    }

    fn refuse_live_route(&self, gateways: &[&'static str]) -> Result<(), ActorError> {
        let router = &self.services.gateways;
        let moves_real_money =
            |name: &&&str| router.by_name(name).is_ok_and(|gateway| gateway.moves_real_money());
        let Some(live) = gateways.iter().find(moves_real_money) else {
            return Ok(());
        };
        Err(ActorError::invalid(
            "test_clock_live_gateway",
            None,
            format!(
                "customer {} lives on a test clock and moves no real money, but this charge \
                 could go to {live}: route it to a test processor such as the sandbox",
                self.key.customer
            ),
        ))
    }
}

/// A charge the route's first gateway can never carry out as asked (M-Pesa: not KES, not whole
/// shillings): a 400, and nothing is recorded.
fn charge_refused_up_front(error: GatewayError) -> ActorError {
    match error {
        GatewayError::InvalidRequest(message) => {
            ActorError::invalid("validation_error", None, message)
        }
        GatewayError::InvalidPaymentMethod(message) => {
            ActorError::invalid("payment_method_invalid", Some("payment_method"), message)
        }
        GatewayError::NotAttempted(message)
        | GatewayError::Ambiguous(message)
        | GatewayError::Storage(message) => ActorError::Unavailable(message),
    }
}

/// The charge `message` asks for, `processing` at `gateway` and not yet sent: what the request
/// describes is moved out of it.
pub(super) fn processing_charge(
    message: &mut CreateCharge,
    customer: CustomerId,
    payment_method: PaymentMethodId,
    gateway: &str,
) -> Charge {
    let id = ChargeId::generate();
    let transfer = message.transfer.take().map(|mut transfer| {
        transfer.id = TransferId::of_charge(&id);
        transfer
    });
    Charge {
        id,
        customer,
        amount: message.amount,
        payment_method,
        gateway: gateway.to_owned(),
        gateway_reference: None,
        status: ChargeStatus::Processing,
        failure: None,
        amount_refunded_minor: 0,
        description: message.description.take(),
        metadata: std::mem::take(&mut message.metadata),
        created: now_unix_secs(),
        idempotency_key: message.idempotency.as_ref().map(|ticket| ticket.key.clone()),
        breakdown: message.breakdown.take(),
        attempt: 1,
        next_action: None,
        dispute: None,
        invoice: message.invoice.clone(),
        grants: std::mem::take(&mut message.grants),
        review: None,
        coupon: message.coupon.as_ref().map(|resolved| AppliedCoupon {
            coupon: resolved.coupon.id.clone(),
            promotion_code: resolved.code.as_ref().map(|code| code.id.clone()),
        }),
        bank_transfer: None,
        checkout_session: message.checkout_session.clone(),
        transfer,
        fee_minor: 0,
        conversion: None,
        succeeded_at: None,
        archived: false,
    }
}

/// How far a settlement moves a charge that is not yet final.
enum Advance {
    /// Nothing to record (an unknown outcome, or news the charge already has).
    Nothing,
    /// Recorded, still unsettled: a reference to wait on, or `requires_action`.
    Progress(Option<EventKind>),
    /// `succeeded` or `failed`; `freed_key` when provably nothing moved (the client's
    /// Idempotency-Key is freed so its retry is carried out).
    Final { freed_key: bool },
}

fn advance(charge: &mut Charge, settlement: Settlement) -> Advance {
    match settlement {
        Settlement::Unknown(reason) => {
            tracing::warn!(charge = %charge.id, %reason, "charge outcome unknown; it stays unsettled");
            Advance::Nothing
        }
        Settlement::Pending { reference } => match charge.status {
            ChargeStatus::Processing if charge.gateway_reference.as_ref() != Some(&reference) => {
                charge.await_settlement(reference);
                Advance::Progress(None)
            }
            ChargeStatus::Processing
            | ChargeStatus::RequiresAction
            | ChargeStatus::Succeeded
            | ChargeStatus::Failed => Advance::Nothing,
        },
        Settlement::RequiresAction { reference, next_action } => match charge.status {
            ChargeStatus::Processing => {
                charge.require_action(reference, next_action);
                Advance::Progress(Some(EventKind::ChargeRequiresAction))
            }
            ChargeStatus::RequiresAction | ChargeStatus::Succeeded | ChargeStatus::Failed => {
                Advance::Nothing
            }
        },
        Settlement::Succeeded { reference, fee_minor, conversion } => {
            charge.succeed(reference, fee_minor, conversion);
            Advance::Final { freed_key: false }
        }
        Settlement::Failed(failure) => {
            charge.fail(failure);
            Advance::Final { freed_key: false }
        }
        Settlement::NeverReached(failure) => {
            charge.fail(failure);
            Advance::Final { freed_key: true }
        }
    }
}

impl CustomerActor {
    fn begin_charge(&mut self, mut message: CreateCharge) -> Result<StartedCharge, ActorError> {
        let account = self.key.account.clone();
        let customer_id = self.key.customer.clone();
        let state = self.living()?;
        let method = state.charging_method(message.payment_method.as_ref())?;
        let customer = &state.customer;
        let on_test_clock = customer.test_clock.is_some();
        let route = RouteInput {
            currency: message.amount.currency,
            method_type: method_type(&method),
            country: customer.address.as_ref().map(|address| address.country.clone()),
            amount_minor: message.amount.amount_minor,
        };
        // Unique across the engine: the gateway keeps its own customer under it (Stripe).
        let customer_ref = CustomerRef {
            id: format!("{account}/{customer_id}"),
            email: customer.email.clone(),
            name: customer.name.clone(),
        };
        let router = &self.services.gateways;
        let gateways = router.route(&route.query());
        let charge = processing_charge(&mut message, customer_id, method.id.clone(), gateways[0]);
        let request = ChargeRequest {
            idempotency_key: charge.gateway_idempotency_key().to_owned(),
            amount_minor: charge.amount.amount_minor,
            currency: charge.amount.currency,
            payment_method_token: method.token,
            description: charge.description.clone(),
            customer: Some(customer_ref),
            off_session: message.off_session,
        };
        if on_test_clock {
            self.refuse_live_route(&gateways)?;
        }
        router.check_charge(&route.query(), &request).map_err(charge_refused_up_front)?;
        let recorded = self.record_new_charge(self.changes(), &charge, &message)?;
        Ok(StartedCharge { charge, recorded, route, request })
    }

    /// Records a new `processing` charge in one change set with `changes`: the invoice it pays
    /// notes it, its audit event, the request's key in flight, its coupon reserved (and let go
    /// again if the commit fails).
    pub(super) fn record_new_charge(
        &mut self,
        mut changes: ChangeSet,
        charge: &Charge,
        message: &CreateCharge,
    ) -> Result<DurableTicket, ActorError> {
        if let Some(invoice) = &message.invoice {
            changes.push(self.invoice_charge_recorded(invoice, &charge.id)?);
        }
        if let Some(session) = &message.checkout_session {
            changes.extend(self.checkout_paid_by_charge(session, &charge.id)?);
        }
        changes.push(Write::NewCharge(charge.clone()));
        changes.push(Write::Event(
            Event::new(EventKind::ChargeProcessing, charge.id.as_str(), &message.cause)
                .status(None, charge.status.as_str()),
        ));
        if let Some(ticket) = &message.idempotency {
            let in_flight = InFlightObject::Charge(charge.id.clone());
            changes.push(Write::idempotency_in_flight(&ticket.key, ticket.fingerprint, in_flight));
        }
        if let Some(resolved) = &message.coupon {
            changes.push(self.reserve_redemption(resolved, charge.id.as_str())?);
        }
        self.commit(changes).inspect_err(|_| {
            if let Some(applied) = &charge.coupon {
                self.coupon_settled(applied, &charge.id, false);
            }
        })
    }

    /// Applies what the gateway said to a charge that is not final yet. A final charge (recovery
    /// or a callback racing a late answer, a duplicate callback) is returned as it is: states
    /// only move forward.
    pub(super) fn settle_charge(
        &mut self,
        charge_id: &ChargeId,
        settlement: Settlement,
        cause: &Cause,
    ) -> Result<(Charge, Option<DurableTicket>), ActorError> {
        let charge =
            self.services.store.charge(&self.key.account, charge_id)?.ok_or_else(|| {
                ActorError::NotFound { kind: "charge", id: charge_id.to_string() }
            })?;
        if charge.status.is_final() {
            // Settled by another turn (a webhook's) whose commit may not be flushed yet.
            return Ok((charge, Some(self.written())));
        }
        if charge.is_held_for_review() {
            // The gateway already contradicted the charge (`actor::review`): its later word —
            // a duplicate callback, the STK query's "paid" — settles nothing; an operator does.
            tracing::warn!(charge = %charge.id, %cause, "charge held for review: the gateway's answer is not applied");
            return Ok((charge, None));
        }
        self.settle_loaded(self.changes(), charge, settlement, cause)
    }

    /// Whether `gateway` tells of its payments later by their reference (a gateway no longer
    /// configured is taken to, as the safe side).
    fn reports_by_reference(&self, gateway: &str) -> bool {
        let router = &self.services.gateways;
        router.by_name(gateway).map_or(true, |gateway| gateway.reports_by_reference())
    }

    /// [`CustomerActor::settle_charge`] of `charge` as the caller holds it (not final, not held
    /// for review), in one change set with the caller's `changes`.
    pub(super) fn settle_loaded(
        &mut self,
        mut changes: ChangeSet,
        mut charge: Charge,
        settlement: Settlement,
        cause: &Cause,
    ) -> Result<(Charge, Option<DurableTicket>), ActorError> {
        let reference_before = charge.gateway_reference.clone();
        let status_before = charge.status;
        let advanced = advance(&mut charge, settlement);
        if charge.status == ChargeStatus::Succeeded && status_before != ChargeStatus::Succeeded {
            let store = self.services.store.as_ref();
            super::books::share_on_payee_clock(&self.key.account, &mut charge, store)?;
        }
        if let Some(reference) = &charge.gateway_reference
            && charge.gateway_reference != reference_before
            && self.reports_by_reference(&charge.gateway)
        {
            // The gateway's webhooks name the charge by this reference alone.
            changes.push(Write::ChargeReference {
                gateway: charge.gateway.clone(),
                reference: reference.clone(),
                charge: charge.id.clone(),
            });
        }
        match advanced {
            Advance::Nothing if changes.writes.is_empty() => {
                return Ok((charge, Some(self.written())));
            }
            Advance::Nothing => return Ok((charge, Some(self.commit(changes)?))),
            Advance::Progress(event) => {
                changes.push(Write::Charge(charge.clone()));
                if let Some(kind) = event {
                    let event = Event::new(kind, charge.id.as_str(), cause)
                        .status(Some(status_before.as_str()), charge.status.as_str());
                    changes.push(Write::Event(event));
                }
                // The Idempotency-Key stays in flight: a replay shows the charge as it stands.
                let durable = self.commit(changes)?;
                tracing::info!(charge = %charge.id, status = charge.status.as_str(), reference = ?charge.gateway_reference, "charge awaits settlement");
                return Ok((charge, Some(durable)));
            }
            Advance::Final { freed_key } => {
                let kind = match charge.status {
                    ChargeStatus::Succeeded => EventKind::ChargeSucceeded,
                    ChargeStatus::Processing
                    | ChargeStatus::RequiresAction
                    | ChargeStatus::Failed => EventKind::ChargeFailed,
                };
                changes.push(Write::Charge(charge.clone()));
                let event = Event::new(kind, charge.id.as_str(), cause)
                    .status(Some(status_before.as_str()), charge.status.as_str());
                changes.push(Write::Event(event));
                // A charge that pays an invoice settles it in the same change.
                self.invoice_charge_settled(&mut changes, &charge, freed_key)?;
                if charge.status == ChargeStatus::Succeeded {
                    self.grant_purchases(&mut changes, &charge)?;
                }
                if let Some(applied) = &charge.coupon {
                    changes.push(self.coupon_redemption_settled(applied, &charge));
                }
                let in_flight = InFlightObject::Charge(charge.id.clone());
                let outcome = Outcome::Charge(charge.clone());
                if let Some(write) = self.idempotency_settlement(
                    charge.idempotency_key.as_deref(),
                    in_flight,
                    freed_key,
                    outcome,
                )? {
                    changes.push(write);
                }
            }
        }
        let durable = self.commit(changes)?;
        if let Some(applied) = &charge.coupon {
            self.coupon_settled(applied, &charge.id, charge.status == ChargeStatus::Succeeded);
        }
        crate::metrics::global().count_charge(charge.status.as_str(), &charge.gateway);
        tracing::info!(charge = %charge.id, status = charge.status.as_str(), gateway = %charge.gateway, "charge settled");
        Ok((charge, Some(durable)))
    }
}

/// The router's `before_attempt` hook: before a gateway other than the one already recorded is
/// called, the charge's record is changed to name it, durably, through the customer's actor.
struct Rerouter {
    actor: Addr<CustomerActor>,
    charge: ChargeId,
    recorded_gateway: String,
    cause: Cause,
}

impl Rerouter {
    fn before(
        &self,
        gateway: &'static str,
        attempt: u32,
    ) -> impl Future<Output = Result<(), GatewayError>> + Send + 'static {
        let already_recorded = attempt == 1 && gateway == self.recorded_gateway;
        let actor = self.actor.clone();
        let message = RecordAttempt {
            charge: self.charge.clone(),
            gateway,
            attempt,
            cause: self.cause.clone(),
        };
        async move {
            if already_recorded {
                return Ok(());
            }
            let not_recorded = |error: String| {
                GatewayError::Storage(format!("could not record the switch to {gateway}: {error}"))
            };
            let durable = actor
                .send(message)
                .await
                .map_err(|error| not_recorded(error.to_string()))?
                .map_err(|error| not_recorded(error.to_string()))?;
            durable.await.map_err(|error| not_recorded(error.to_string()))
        }
    }
}

impl Handler<CreateCharge> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Charge, ActorError>>;

    fn handle(&mut self, message: CreateCharge, ctx: &mut Context<Self>) -> Self::Result {
        match self.earlier_outcome(message.idempotency.as_ref()) {
            Ok(None) => {}
            Ok(Some(Outcome::Charge(charge))) => {
                return Box::pin(self.once_durable(charge).into_actor(self));
            }
            Ok(Some(_)) => return Box::pin(fut::ready(Err(ActorError::IdempotencyReused))),
            Err(error) => return Box::pin(fut::ready(Err(error))),
        }
        if let Some(method) = self.bank_transfer_method(&message) {
            // No gateway to ask: the charge waits, `processing`, for the money.
            return match self.begin_bank_transfer(message, method) {
                Ok((charge, recorded)) => Box::pin(
                    async move {
                        recorded.wait().await?;
                        Ok(charge)
                    }
                    .into_actor(self),
                ),
                Err(error) => Box::pin(fut::ready(Err(error))),
            };
        }
        let cause = message.cause.clone();
        let off_session = message.off_session;
        let StartedCharge { charge, recorded, route, request } = match self.begin_charge(message) {
            Ok(started) => started,
            Err(error) => return Box::pin(fut::ready(Err(error))),
        };
        let timeout = self.services.gateway_timeout;
        let router = self.services.gateways.clone();
        let request_gateway = charge.gateway.clone();
        let rerouter = Rerouter {
            actor: ctx.address(),
            charge: charge.id.clone(),
            recorded_gateway: charge.gateway.clone(),
            cause: cause.clone(),
        };
        let policies = Arc::clone(&self.services.gateway_policies);
        let call = async move {
            recorded.wait().await?;
            // The wait for a renewal's turn comes before the gateway's time limit starts.
            if off_session {
                policies.renewal_turn(&request_gateway).await;
            }
            let routed = async move {
                let routed = router
                    .charge_with_failover(&route.query(), &request, |gateway, attempt| {
                        rerouter.before(gateway, attempt)
                    })
                    .await;
                for (gateway, reason) in &routed.skipped {
                    tracing::info!(charge = %request.idempotency_key, gateway, %reason, "gateway passed over");
                }
                routed.result
            };
            Ok(charge_answer(contained(timeout, routed).await, timeout))
        };
        settle_after(self, call, move |actor, settlement, ctx| {
            let settled = actor.settle_charge(&charge.id, settlement, &cause);
            // Unsettled charges (unknown outcomes, 3-D Secure, M-Pesa prompts), and settlements
            // that failed to commit, are asked about again.
            if !matches!(&settled, Ok((now, _)) if now.status.is_final()) {
                let account = actor.key.account.clone();
                let delay = actor.services.reconcile_after;
                actor.ask_again_later(ctx, Unsettled::Charge { account, charge }, delay);
            }
            settled
        })
    }
}

impl Handler<RecordAttempt> for CustomerActor {
    type Result = Result<Durably<()>, ActorError>;

    fn handle(&mut self, message: RecordAttempt, _: &mut Context<Self>) -> Self::Result {
        self.accepting()?;
        let not_found = || ActorError::NotFound { kind: "charge", id: message.charge.to_string() };
        let mut charge = self
            .services
            .store
            .charge(&self.key.account, &message.charge)?
            .ok_or_else(not_found)?;
        // Only this charge's own gateway call reroutes it, before anything could settle it.
        if charge.status != ChargeStatus::Processing {
            return Err(ActorError::invalid(
                "validation_error",
                Some("charge"),
                format!("charge {} is {}, not processing", charge.id, charge.status.as_str()),
            ));
        }
        charge.reroute(message.gateway, message.attempt);
        let changes = self.changes().with(Write::Charge(charge.clone())).with(Write::Event(
            Event::new(EventKind::ChargeRerouted, charge.id.as_str(), &message.cause),
        ));
        let durable = self.commit(changes)?;
        tracing::info!(charge = %charge.id, gateway = message.gateway, attempt = message.attempt, "charge rerouted");
        Ok(Box::pin(async move { durable.wait().await.map_err(ActorError::from) }))
    }
}

impl Handler<SettleCharge> for CustomerActor {
    type Result = Result<Durably<SettledCharge>, ActorError>;

    fn handle(&mut self, message: SettleCharge, _: &mut Context<Self>) -> Self::Result {
        self.accepting()?;
        let status_before = self
            .services
            .store
            .charge(&self.key.account, &message.charge)?
            .map(|charge| charge.status)
            .ok_or_else(|| ActorError::NotFound {
                kind: "charge",
                id: message.charge.to_string(),
            })?;
        let (charge, durable) =
            self.settle_charge(&message.charge, message.settlement, &message.cause)?;
        Ok(Box::pin(async move {
            if let Some(durable) = durable {
                durable.wait().await?;
            }
            Ok(SettledCharge { charge, status_before })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::parse_currency;
    use crate::domain::{ClientSecret, CustomerId, Failure, Money, NextAction, PaymentMethodId};

    fn processing_charge() -> Charge {
        Charge {
            id: ChargeId::generate(),
            customer: CustomerId::generate(),
            amount: Money::new(500, parse_currency("usd").unwrap()).unwrap(),
            payment_method: PaymentMethodId::generate(),
            gateway: "stripe".into(),
            gateway_reference: None,
            status: ChargeStatus::Processing,
            failure: None,
            amount_refunded_minor: 0,
            description: None,
            metadata: Default::default(),
            created: 1,
            idempotency_key: None,
            breakdown: None,
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

    fn three_d_secure() -> Settlement {
        Settlement::RequiresAction {
            reference: "pi_1".into(),
            next_action: NextAction {
                kind: "use_stripe_sdk".into(),
                redirect_url: None,
                client_secret: Some(ClientSecret("pi_1_secret".into())),
            },
        }
    }

    #[test]
    fn a_pending_answer_notes_the_reference_once_and_keeps_the_charge_processing() {
        let mut charge = processing_charge();
        let pending = || Settlement::Pending { reference: "ws_CO_1".into() };
        assert!(matches!(advance(&mut charge, pending()), Advance::Progress(None)));
        assert_eq!(charge.status, ChargeStatus::Processing);
        assert_eq!(charge.gateway_reference.as_deref(), Some("ws_CO_1"));
        assert!(matches!(advance(&mut charge, pending()), Advance::Nothing));
        assert!(matches!(
            advance(&mut charge, Settlement::Unknown("timeout".into())),
            Advance::Nothing
        ));
    }

    #[test]
    fn requires_action_moves_forward_only_and_clears_on_settlement() {
        let mut charge = processing_charge();
        let advanced = advance(&mut charge, three_d_secure());
        assert!(matches!(advanced, Advance::Progress(Some(EventKind::ChargeRequiresAction))));
        assert_eq!(charge.status, ChargeStatus::RequiresAction);
        assert!(format!("{charge:?}").contains("ClientSecret(redacted)"), "Debug hides it");
        // Neither a repeat nor a `pending` answer moves it back.
        assert!(matches!(advance(&mut charge, three_d_secure()), Advance::Nothing));
        let pending = Settlement::Pending { reference: "pi_1".into() };
        assert!(matches!(advance(&mut charge, pending), Advance::Nothing));
        assert_eq!(charge.status, ChargeStatus::RequiresAction);
        let succeeded =
            Settlement::Succeeded { reference: "pi_1".into(), fee_minor: 0, conversion: None };
        assert!(matches!(advance(&mut charge, succeeded), Advance::Final { freed_key: false }));
        assert_eq!(charge.status, ChargeStatus::Succeeded);
        assert_eq!(charge.next_action, None);
    }

    #[test]
    fn only_a_never_reached_failure_frees_the_key() {
        let failure = || Failure { code: "generic_decline".into(), message: "no".into() };
        let mut declined = processing_charge();
        let advanced = advance(&mut declined, Settlement::Failed(failure()));
        assert!(matches!(advanced, Advance::Final { freed_key: false }));
        let mut never_reached = processing_charge();
        let advanced = advance(&mut never_reached, Settlement::NeverReached(failure()));
        assert!(matches!(advanced, Advance::Final { freed_key: true }));
        assert_eq!(never_reached.status, ChargeStatus::Failed);
    }

    #[test]
    #[should_panic(expected = "does not follow")]
    fn rerouting_backwards_is_a_bug() {
        let mut charge = processing_charge();
        charge.reroute("sandbox", 2);
        charge.reroute("stripe", 2);
    }
}
