//! The customer actor: owns one customer's state and applies its state changes one at a time.
//!
//! A state change is decided and recorded inside the actor's turn (one atomic store commit);
//! waiting for durability and for gateways happens outside it, in futures spawned on the actor's
//! context, whose results come back into the actor between messages. So a slow gateway never
//! blocks the customer's other messages, and two state changes never interleave.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::Weak;

use std::future::Future;
use std::time::Duration;

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, ResponseActFuture,
    WrapFuture,
};

use super::IdempotencyTicket;
use super::messages::StopIfIdle;
use super::registry::RegistryInner;
use super::{ActorError, CustomerKey, Services};
use crate::domain::{
    ChargeId, Customer, InvoiceId, PaymentMethod, PaymentMethodId, PaymentPlan, RefundStatus,
    Sponsorship, Subscription,
};
use crate::limits::RECONCILE_DELAY_MAX;
use crate::store::{
    ChangeSet, DurableTicket, IdempotencyState, InFlightObject, Outcome, StoreError, Unsettled,
    Write,
};

/// What the actor keeps in memory between messages.
pub(super) struct CustomerState {
    pub customer: Customer,
    /// Oldest first.
    pub payment_methods: Vec<PaymentMethod>,
    /// Refund amounts under way per charge, so that concurrent refunds never add up to more
    /// than the charge: they count against it from the moment they are recorded.
    pub refunds_pending: HashMap<ChargeId, i64>,
    /// Oldest first; every one the customer ever had, ended ones included.
    pub subscriptions: Vec<Subscription>,
    /// Oldest first, as subscriptions are.
    pub payment_plans: Vec<PaymentPlan>,
    /// The sponsorships of which this customer is the beneficiary, oldest first: they change
    /// here, with the invoices they pay shares of.
    pub sponsorships: Vec<Sponsorship>,
}

impl CustomerState {
    /// The payment method a charge is made with: the one asked for, else the customer's
    /// default; either must be one of its own.
    pub(super) fn charging_method(
        &self,
        asked: Option<&PaymentMethodId>,
    ) -> Result<PaymentMethod, ActorError> {
        let id = asked.or(self.customer.default_payment_method.as_ref()).ok_or_else(|| {
            ActorError::invalid(
                "payment_method_invalid",
                Some("payment_method"),
                "the customer has no payment method: attach one or pass `payment_method`",
            )
        })?;
        self.payment_methods
            .iter()
            .find(|method| &method.id == id)
            .cloned()
            .ok_or_else(|| ActorError::NotFound { kind: "payment_method", id: id.to_string() })
    }
}

pub struct CustomerActor {
    pub(super) key: CustomerKey,
    pub(super) generation: u64,
    pub(super) services: Services,
    registry: Weak<RegistryInner>,
    pub(super) state: Result<CustomerState, StoreError>,
    /// Gateway calls and durability waits under way; the actor does not stop while any are.
    pub(super) in_flight: usize,
    /// Invoices whose decided payment attempt this actor is carrying out: a resumed collection
    /// (the scheduler's, for attempts a crash left behind) leaves them alone.
    pub(super) collections_under_way: HashSet<InvoiceId>,
    /// Invoices a change set being made pays together (a bank credit paying several): not
    /// "unpaid" to the dunning that moves on from one of them, though the store still says so.
    pub(super) paid_together: HashSet<InvoiceId>,
    /// Answers of rule calls made on the rule threads for turns that could not make them inline.
    pub(super) rule_answers: crate::rules::turn::RuleAnswers,
    /// Set when the actor has decided to stop: it then refuses new state changes, which the
    /// registry retries on a fresh actor.
    stopping: bool,
    /// The customer's version the state reflects, where other nodes may change the customer
    /// too (PostgreSQL); `None` on sled, where this actor is its only writer. A commit is
    /// decided at it and moves it on (a cell: commits are made from `&self`).
    version: Cell<Option<u64>>,
    /// A commit failed (refused as decided on an older version, or its outcome unknown): the
    /// state is loaded again before the next message.
    stale: Cell<bool>,
}

impl CustomerActor {
    pub(super) fn new(
        key: CustomerKey,
        generation: u64,
        services: Services,
        registry: Weak<RegistryInner>,
    ) -> CustomerActor {
        let (state, version) = match hydrate(&services, &key) {
            Ok((state, version)) => (Ok(state), version),
            Err(error) => {
                tracing::error!(account = %key.account, customer = %key.customer, %error, "cannot load customer");
                (Err(error), None)
            }
        };
        CustomerActor {
            key,
            generation,
            services,
            registry,
            state,
            in_flight: 0,
            collections_under_way: HashSet::new(),
            paid_together: HashSet::new(),
            rule_answers: Default::default(),
            stopping: false,
            version: Cell::new(version),
            stale: Cell::new(false),
        }
    }

    /// The state, if this actor may still change it.
    pub(super) fn accepting(&mut self) -> Result<&mut CustomerState, ActorError> {
        if self.stopping {
            return Err(ActorError::Stopping);
        }
        self.state.as_mut().map_err(|error| ActorError::Store(error.clone()))
    }

    /// The state, for a change an erased customer may not have (a charge, a payment method, a
    /// subscription, new personal data): refused with `customer_deleted`.
    pub(super) fn living(&mut self) -> Result<&mut CustomerState, ActorError> {
        let state = self.accepting()?;
        if state.customer.deleted {
            return Err(ActorError::invalid(
                "customer_deleted",
                Some("customer"),
                format!("customer {} was erased", state.customer.id),
            ));
        }
        Ok(state)
    }

    /// The state, to record what already happened at a gateway (a settlement): unlike
    /// [`CustomerActor::accepting`], also while the actor is stopping.
    pub(super) fn settling(&mut self) -> Result<&mut CustomerState, ActorError> {
        self.state.as_mut().map_err(|error| ActorError::Store(error.clone()))
    }

    /// The account's rules as this turn calls them ([`crate::rules::turn`]).
    pub(super) fn turn_rules(&self) -> crate::rules::turn::TurnRules<'_> {
        crate::rules::turn::TurnRules::new(&self.services.rules, &self.rule_answers)
    }

    /// Loads the state again from the store: after a turn that stopped part-way, memory holds
    /// what it changed without committing. An actor that cannot reload refuses new changes
    /// (the registry takes them to a fresh actor) and stops once its flows under way are done.
    pub(super) fn reload_state(&mut self, ctx: &mut Context<Self>) {
        let hydrated = hydrate(&self.services, &self.key);
        self.stale.set(false);
        self.state = hydrated.map(|(state, version)| {
            self.version.set(version);
            state
        });
        if let Err(error) = &self.state {
            tracing::error!(account = %self.key.account, customer = %self.key.customer, %error, "cannot reload customer");
            self.stopping = true;
            if self.in_flight == 0 {
                ctx.stop();
            }
            return;
        }
        self.publish_grant_sources();
    }

    pub(super) fn changes(&self) -> ChangeSet {
        ChangeSet::new(&self.key.account, &self.key.customer)
    }

    /// Commits a change this turn decided on the state as the actor holds it: refused (409)
    /// if another node changed the customer since.
    pub(super) fn commit(&self, mut changes: ChangeSet) -> Result<DurableTicket, ActorError> {
        changes.decided_at = self.version.get();
        if let Ok(state) = &self.state
            && changes.customer == state.customer.id
        {
            changes.test_clock = Some(state.customer.test_clock.clone());
        }
        let committed = commit(&self.services, changes);
        match &committed {
            Ok(_) => self.version.set(self.version.get().map(|version| version + 1)),
            Err(_) => self.stale.set(true),
        }
        committed
    }

    /// Before a message from outside: loads the state again if another node changed the
    /// customer (or a commit of this actor's failed), so that every answer, a refusal too, is
    /// decided on the customer as it is now.
    pub(super) fn refresh(&mut self, ctx: &mut Context<Self>) {
        if self.state.is_err() {
            return;
        }
        let current =
            match self.services.store.customer_version(&self.key.account, &self.key.customer) {
                Ok(current) => current,
                // The message's own reads and commit meet the same failure and answer it.
                Err(_) => return,
            };
        if self.stale.get() || current != self.version.get() {
            self.reload_state(ctx);
        }
    }
}

/// Sent ahead of every message from outside the actor (see
/// [`super::registry::Registry::send`]): the state is refreshed before that message.
pub(super) struct Refresh;

impl actix::Message for Refresh {
    type Result = ();
}

impl Handler<Refresh> for CustomerActor {
    type Result = ();

    fn handle(&mut self, _: Refresh, ctx: &mut Context<Self>) {
        self.refresh(ctx);
    }
}

/// Commits a change set of one customer: the statuses its audit events record, the postings of
/// the money it moves and the outgoing events it announces are added first (see
/// [`super::audit_status`], [`super::books`] and [`super::announce`]), and the dispatcher is
/// woken for those queued for an endpoint.
pub(super) fn commit(
    services: &Services,
    mut changes: ChangeSet,
) -> Result<DurableTicket, ActorError> {
    let store = services.store.as_ref();
    super::checkout::complete_paid_sessions(&mut changes, store)?;
    super::audit_status::record_statuses(&mut changes, store)?;
    super::books::post(&mut changes, store)?;
    super::announce::announce(&mut changes, store)?;
    let announces = changes.writes.iter().any(|write| matches!(write, Write::Outgoing(_)));
    let account = changes.account.clone();
    let ticket = store.commit(changes)?;
    // An account with no endpoint keeps its events without queueing them: nothing to send.
    if announces && store.queues_events_of(&account) {
        services.outbox.wake();
    }
    Ok(ticket)
}

/// Runs `call` (a gateway call, after its record is durable) outside the actor's turn, applies
/// its settlement back inside the actor, and answers once that settlement is durable too. The
/// actor counts the flow as in flight until then, so it does not stop under it.
pub(super) fn settle_after<S: 'static, T: 'static>(
    actor: &mut CustomerActor,
    call: impl Future<Output = Result<S, ActorError>> + 'static,
    settle: impl FnOnce(
        &mut CustomerActor,
        S,
        &mut Context<CustomerActor>,
    ) -> Result<(T, Option<DurableTicket>), ActorError>
    + 'static,
) -> ResponseActFuture<CustomerActor, Result<T, ActorError>> {
    actor.in_flight += 1;
    Box::pin(
        call.into_actor(actor)
            .map(|settlement, actor, ctx| settle(actor, settlement?, ctx))
            .then(|settled, actor, _| {
                async move {
                    let (settled, durable) = settled?;
                    if let Some(durable) = durable {
                        durable.wait().await?;
                    }
                    Ok(settled)
                }
                .into_actor(actor)
            })
            .map(|answer, actor, _| {
                actor.in_flight -= 1;
                answer
            }),
    )
}

impl CustomerActor {
    /// Answers `value`, read from the store, once everything written so far is durable: what it
    /// shows may come from a turn whose commit is not flushed yet (a first delivery still
    /// waiting, a webhook's settlement), and no 2xx may show what a crash could take back.
    pub(super) fn once_durable<T: 'static>(
        &self,
        value: T,
    ) -> impl Future<Output = Result<T, ActorError>> + 'static {
        let written = self.services.store.sync();
        async move {
            written.wait().await?;
            Ok(value)
        }
    }

    /// A ticket for everything written so far: for an answer read from the store rather than
    /// made by this turn's own commit.
    pub(super) fn written(&self) -> DurableTicket {
        self.services.store.sync()
    }

    /// What a keyed request already produced, if this actor carried it out before: the
    /// registry may deliver a message again when the actor that took it died, and a request
    /// must never be carried out twice.
    pub(super) fn earlier_outcome(
        &self,
        ticket: Option<&IdempotencyTicket>,
    ) -> Result<Option<Outcome>, ActorError> {
        let Some(ticket) = ticket else { return Ok(None) };
        let store = &self.services.store;
        let account = &self.key.account;
        let Some(record) = store.idempotency(account, &ticket.key)? else { return Ok(None) };
        let outcome = match record.state {
            IdempotencyState::Completed(outcome) => Some(*outcome),
            IdempotencyState::InFlight(InFlightObject::Charge(id)) => {
                store.charge(account, &id)?.map(Outcome::Charge)
            }
            IdempotencyState::InFlight(InFlightObject::Refund(id)) => {
                store.refund(account, &id)?.map(Outcome::Refund)
            }
            IdempotencyState::InFlight(InFlightObject::Subscription(id)) => {
                store.subscription(account, &id)?.map(Outcome::Subscription)
            }
            IdempotencyState::InFlight(InFlightObject::Invoice(id)) => {
                store.invoice(account, &id)?.map(Outcome::Invoice)
            }
            IdempotencyState::InFlight(InFlightObject::PaymentPlan(id)) => {
                store.payment_plan(account, &id)?.map(Outcome::PaymentPlan)
            }
        };
        Ok(outcome)
    }

    /// The write that settles a keyed request's in-flight record: its outcome, kept for
    /// replays, or — when provably nothing happened — the key's removal, so a retry is carried
    /// out. `None` when the key's record no longer names this object.
    pub(super) fn idempotency_settlement(
        &self,
        key: Option<&str>,
        object: InFlightObject,
        free: bool,
        outcome: Outcome,
    ) -> Result<Option<Write>, ActorError> {
        let Some(key) = key else { return Ok(None) };
        let Some(record) = self.services.store.idempotency(&self.key.account, key)? else {
            return Ok(None);
        };
        if record.state != IdempotencyState::InFlight(object) {
            return Ok(None);
        }
        if free {
            return Ok(Some(Write::RemoveIdempotency { key: key.to_owned() }));
        }
        Ok(Some(Write::idempotency_completed(key, record.fingerprint, outcome)))
    }

    /// Asks the gateway about an unsettled charge or refund again after `delay`, and keeps
    /// asking, at doubling intervals, until it answers. The actor stays resident meanwhile.
    pub(super) fn ask_again_later(
        &mut self,
        ctx: &mut Context<Self>,
        item: Unsettled,
        delay: Duration,
    ) {
        tracing::info!(
            object = item.object_id(),
            after_secs = delay.as_secs(),
            "will ask the gateway again"
        );
        self.in_flight += 1;
        ctx.run_later(delay, move |actor, ctx| {
            let next_delay = delay.saturating_mul(2).min(RECONCILE_DELAY_MAX);
            ctx.spawn(actor.reconcile(vec![item], next_delay).map(|_, _, _| ()));
            actor.in_flight -= 1;
        });
    }
}

/// The customer's state from the store, and the version it reflects: read first, so that a
/// commit landing between the two makes the state newer than the version, never older.
fn hydrate(
    services: &Services,
    key: &CustomerKey,
) -> Result<(CustomerState, Option<u64>), StoreError> {
    let store = &services.store;
    let version = store.customer_version(&key.account, &key.customer)?;
    let customer = store
        .customer(&key.account, &key.customer)?
        .ok_or_else(|| StoreError::Corrupt(format!("customer {} vanished", key.customer)))?;
    let payment_methods = store.payment_methods(&key.account, &key.customer)?;
    let mut refunds_pending = HashMap::new();
    for refund in store.refunds(&key.account, &key.customer)? {
        // A refund of credit took its amount from the balance when it was recorded.
        if let (RefundStatus::Pending, Some(charge)) = (refund.status, refund.charge) {
            *refunds_pending.entry(charge).or_insert(0) += refund.amount.amount_minor;
        }
    }
    let subscriptions = store.subscriptions(&key.account, &key.customer)?;
    let payment_plans = store.payment_plans(&key.account, &key.customer)?;
    let sponsorships = store.sponsorships(&key.account, &key.customer)?;
    let state = CustomerState {
        customer,
        payment_methods,
        refunds_pending,
        subscriptions,
        payment_plans,
        sponsorships,
    };
    Ok((state, version))
}

impl Actor for CustomerActor {
    type Context = Context<Self>;

    /// An actor that could not load its customer stops at once, so the next request spawns a
    /// fresh one that tries again, instead of this one answering errors while kept busy.
    fn started(&mut self, ctx: &mut Self::Context) {
        if self.state.is_err() {
            self.stopping = true;
            ctx.stop();
            return;
        }
        self.publish_grant_sources();
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.services.entitlements.withdraw(&self.key, self.generation);
        if let Some(registry) = self.registry.upgrade() {
            registry.remove(&self.key, self.generation);
        }
    }
}

impl Handler<StopIfIdle> for CustomerActor {
    type Result = ();

    fn handle(&mut self, _: StopIfIdle, ctx: &mut Self::Context) {
        if self.in_flight == 0 {
            self.stopping = true;
            ctx.stop();
        }
    }
}
