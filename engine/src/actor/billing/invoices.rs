//! Invoices in the customer's actor: made and finalized in the turn that decides them (numbered
//! from the customer's own counter, so numbers have no gaps), collected by an ordinary charge
//! whose Idempotency-Key is the invoice's and the attempt's, and settled by that charge's
//! settlement in the same change set ([`CustomerActor::invoice_charge_settled`]).

use std::future::Future;

use actix::{ActorFutureExt, AsyncContext, Context, Handler, ResponseActFuture, WrapFuture, fut};
use sha2::{Digest, Sha256};

use super::dunning::{Payment, is_hard_decline};
use super::messages::{ActOnInvoice, InvoiceAction, ResumeCollection};
use crate::actor::messages::CreateCharge;
use crate::actor::{ActorError, CustomerActor, IdempotencyTicket};
use crate::billing::invoicing::{DraftLine, InvoiceHeader, InvoiceInput, Totals, price_invoice};
use crate::domain::{
    BillingReason, Cause, Charge, ChargeId, ChargeStatus, CollectionMethod, Event, EventKind,
    Invoice, InvoiceId, InvoiceLine, InvoiceLineId, InvoiceStatus, Money, PaymentMethod,
    PaymentMethodId, PaymentMethodKind, Subscription, SubscriptionStatus, TaxBehavior,
};
use crate::domain::{CouponDuration, Discount, InvoiceDiscount};
use crate::store::{ChangeSet, InFlightObject, Outcome, Write};

/// Whether the customer is there when an invoice is charged: a request made for them (a new
/// subscription, a change, a pay) is on-session; a renewal, or a collection resumed after a
/// restart, is off-session: paced, and marked so at the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presence {
    OnSession,
    OffSession,
}

/// What a new invoice is for and how it is collected.
pub(crate) struct InvoiceSpec {
    pub reason: BillingReason,
    pub tax_behavior: TaxBehavior,
    pub lines: Vec<DraftLine>,
    pub period_start: i64,
    pub period_end: i64,
    pub now: i64,
}

impl CustomerActor {
    /// Prices `spec` with the account's rules and returns it as an open (or, with nothing due,
    /// paid) invoice of `subscription`, numbered and with the customer's balance applied; the
    /// customer's new counter and balance go into `changes` with it.
    pub(crate) fn issue_invoice(
        &mut self,
        changes: &mut ChangeSet,
        subscription: &mut Subscription,
        spec: InvoiceSpec,
    ) -> Result<Invoice, ActorError> {
        let invoice = self.draft_invoice(subscription, spec)?;
        // A `once` coupon is spent on the first invoice that got it.
        if let Some(discount) = &mut subscription.discount
            && invoice.discounted_by(&discount.coupon)
            && discount.duration == CouponDuration::Once
        {
            discount.used = true;
        }
        // An `unpaid` subscription's later invoices are made but not charged until one is paid.
        let charge = subscription.status != SubscriptionStatus::Unpaid;
        let mut invoice = self.finalize_invoice(changes, invoice, charge)?;
        self.record_sponsor_shares(changes, &invoice, subscription)?;
        if invoice.status == InvoiceStatus::Paid {
            self.discount_paid(changes, subscription);
        }
        if self.watch_due_date(subscription, &invoice) {
            invoice.next_reminder_at = invoice.due_date;
            changes.push(Write::Invoice(invoice.clone()));
        }
        Ok(invoice)
    }

    /// The invoice `spec` makes, priced, not numbered, not stored: what a preview shows.
    pub(crate) fn draft_invoice(
        &self,
        subscription: &Subscription,
        spec: InvoiceSpec,
    ) -> Result<Invoice, ActorError> {
        let state = self.state.as_ref().map_err(|error| ActorError::Store(error.clone()))?;
        let customer = &state.customer;
        let plan = self.plan(&subscription.plan)?;
        let mut totals = price_invoice(
            &self.turn_rules(),
            InvoiceInput {
                account: &self.key.account,
                customer,
                currency: plan.currency,
                tax_behavior: spec.tax_behavior,
                lines: spec.lines,
                discount: subscription
                    .discount
                    .as_deref()
                    .filter(|discount| discount.applies(spec.period_start, &subscription.plan)),
                sponsors: self.sponsors_of(&subscription.id, spec.reason, spec.period_start)?,
                now: spec.now,
            },
        )?;
        if plan.currency.code() == "KES" && self.pays_by_mpesa(subscription.payment_method.as_ref())
        {
            round_to_whole_shillings(&mut totals, spec.period_start, spec.period_end);
        }
        // Shown on the invoice only when the coupon did discount it.
        let discount = subscription
            .discount
            .as_deref()
            .filter(|discount| Discount::any_of(&totals.discounts, &discount.coupon))
            .map(InvoiceDiscount::of);
        let due_date = match subscription.collection_method {
            CollectionMethod::SendInvoice => {
                Some(spec.now + i64::from(subscription.days_until_due) * 86_400)
            }
            CollectionMethod::ChargeAutomatically => None,
        };
        let (mut balance_applied_minor, mut amount_due_minor) =
            apply_balance(totals.total_minor, customer.balance_minor);
        let amount = Money { amount_minor: amount_due_minor, currency: plan.currency };
        let minimum = self.min_chargeable(subscription.payment_method.as_ref(), amount);
        if amount_due_minor > 0 && amount_due_minor < minimum {
            // Below what the gateway takes: carried to the balance (owed on the next invoice),
            // the invoice paid as Stripe does it.
            balance_applied_minor = totals.total_minor;
            amount_due_minor = 0;
        }
        Ok(totals.into_draft(InvoiceHeader {
            customer: customer.id.clone(),
            subscription: Some(subscription.id.clone()),
            payment_plan: None,
            billing_reason: spec.reason,
            currency: plan.currency,
            tax_behavior: spec.tax_behavior,
            collection_method: subscription.collection_method,
            due_date,
            balance_applied_minor,
            amount_due_minor,
            period_start: spec.period_start,
            period_end: spec.period_end,
            created: spec.now,
            discount,
        }))
    }

    /// Numbers the draft, applies the customer's balance and opens it; with nothing due it is
    /// paid at once, without a charge. An automatic one is marked `collecting` with its first
    /// attempt decided, when it is to be charged (`charge`).
    pub(super) fn finalize_invoice(
        &mut self,
        changes: &mut ChangeSet,
        mut invoice: Invoice,
        charge: bool,
    ) -> Result<Invoice, ActorError> {
        let pages = self.services.public_url.clone();
        let state = self.accepting()?;
        let customer = &mut state.customer;
        invoice.number = Some(customer.next_invoice_number());
        customer.balance_minor += invoice.balance_applied_minor;
        invoice.finalized_at = Some(invoice.created);
        if invoice.amount_due_minor == 0 {
            invoice.status = InvoiceStatus::Paid;
            invoice.paid_at = Some(invoice.created);
        } else {
            invoice.status = InvoiceStatus::Open;
            if charge && invoice.collection_method == CollectionMethod::ChargeAutomatically {
                invoice.attempt_count = 1;
                invoice.collecting = true;
            }
            if invoice.collection_method == CollectionMethod::SendInvoice {
                let token = crate::domain::invoice::new_page_token();
                invoice.hosted_invoice_url = Some(format!("{pages}/invoice/{token}"));
                invoice.page_token = Some(token);
            }
        }
        changes.push(Write::Customer(customer.clone()));
        changes.push(Write::Invoice(invoice.clone()));
        changes.push(Write::Event(Event::new(
            EventKind::InvoiceFinalized,
            invoice.id.as_str(),
            &Cause::system("billing"),
        )));
        Ok(invoice)
    }

    /// The transfer a payment of `paid_minor` of the invoice makes: its subscription's (or
    /// payment plan's) payee earns its share of each payment of its invoices.
    pub(crate) fn invoice_transfer(
        &self,
        invoice: &Invoice,
        paid_minor: i64,
    ) -> Option<Box<crate::domain::ChargeTransfer>> {
        let terms = match (&invoice.subscription, &invoice.payment_plan) {
            (Some(id), _) => self.subscription(id).ok().and_then(|found| found.transfer),
            (None, Some(id)) => self.payment_plan(id).ok().and_then(|found| found.transfer),
            (None, None) => None,
        };
        terms.and_then(|terms| terms.for_payment(paid_minor)).map(Box::new)
    }

    /// Charges the invoice's current attempt (already decided and recorded) and answers the
    /// charge once it is settled or known to be pending. The Idempotency-Key is the attempt's:
    /// sent again after a crash, it finds the charge it made instead of charging again.
    pub(crate) fn collect(
        &mut self,
        ctx: &mut Context<Self>,
        invoice: &Invoice,
        payment_method: Option<PaymentMethodId>,
        cause: &Cause,
        presence: Presence,
    ) -> impl Future<Output = Result<Charge, ActorError>> + 'static {
        let key = invoice.attempt_key(invoice.attempt_count);
        let fingerprint: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let transfer = self.invoice_transfer(invoice, invoice.amount_due_minor);
        let message = CreateCharge {
            amount: Money { amount_minor: invoice.amount_due_minor, currency: invoice.currency },
            breakdown: None,
            payment_method,
            description: invoice.number.as_ref().map(|number| format!("Invoice {number}")),
            metadata: Default::default(),
            idempotency: Some(IdempotencyTicket { key, fingerprint }),
            cause: cause.to_owned(),
            invoice: Some(invoice.id.clone()),
            off_session: presence == Presence::OffSession,
            grants: Vec::new(),
            coupon: None,
            checkout_session: None,
            transfer,
        };
        let actor = ctx.address();
        async move {
            actor.send(message).await.map_err(|error| ActorError::Unavailable(error.to_string()))?
        }
    }

    /// A charge that could not even be recorded (no payment method, a refused route): the
    /// attempt is over, the invoice stays open and the subscription falls behind.
    pub(crate) fn collection_refused(
        &mut self,
        invoice_id: &InvoiceId,
        error: &ActorError,
    ) -> Result<Option<crate::store::DurableTicket>, ActorError> {
        let Some(mut invoice) = self.services.store.invoice(&self.key.account, invoice_id)? else {
            return Ok(None);
        };
        if !invoice.collecting {
            return Ok(None);
        }
        tracing::warn!(invoice = %invoice.id, %error, "invoice payment attempt refused");
        invoice.collecting = false;
        let mut changes = self.changes();
        // Nothing to retry with (no payment method, a route refused) until the method changes.
        self.after_payment(&mut changes, &mut invoice, Payment::Failed { hard: true })?;
        changes.push(Write::Invoice(invoice));
        Ok(Some(self.commit(changes)?))
    }

    /// The write that notes a just-recorded charge on the invoice it pays, in the charge's
    /// change set: from then on the charge's own recovery carries the attempt.
    pub(crate) fn invoice_charge_recorded(
        &self,
        invoice_id: &InvoiceId,
        charge: &ChargeId,
    ) -> Result<Write, ActorError> {
        let mut invoice =
            self.services.store.invoice(&self.key.account, invoice_id)?.ok_or_else(|| {
                ActorError::NotFound { kind: "invoice", id: invoice_id.to_string() }
            })?;
        if !invoice.status.is_collectible() {
            return Err(ActorError::invalid(
                "invoice_state_invalid",
                None,
                format!("invoice {} is {}", invoice.id, invoice.status.as_str()),
            ));
        }
        invoice.charge = Some(charge.clone());
        invoice.payment_pending = true;
        invoice.collecting = false;
        Ok(Write::Invoice(invoice))
    }

    /// Settles an invoice from its charge's final outcome, in the charge's settlement change set
    /// `changes`: paid, or open with the subscription behind. A charge the
    /// processor provably never saw (`never_reached`: a crash before the call, a refused
    /// connection) was no attempt at the customer's money: the same attempt is made again, under
    /// its freed key, and the subscription keeps its status.
    pub(crate) fn invoice_charge_settled(
        &mut self,
        changes: &mut ChangeSet,
        charge: &Charge,
        never_reached: bool,
    ) -> Result<(), ActorError> {
        let Some(invoice_id) = &charge.invoice else { return Ok(()) };
        let Some(mut invoice) = self.services.store.invoice(&self.key.account, invoice_id)? else {
            return Ok(());
        };
        if invoice.charge.as_ref() != Some(&charge.id) {
            return Ok(());
        }
        invoice.payment_pending = false;
        let succeeded = charge.status == ChargeStatus::Succeeded;
        if never_reached && !succeeded && invoice.status.is_collectible() {
            invoice.collecting = true;
            changes.push(Write::Invoice(invoice));
            return Ok(());
        }
        if succeeded && invoice.status.is_collectible() {
            invoice.status = InvoiceStatus::Paid;
            invoice.amount_paid_minor = invoice.amount_due_minor;
            invoice.paid_at = Some(self.settlement_now());
        }
        crate::metrics::global().count_invoice_payment(invoice.attempt_count > 1, succeeded);
        let payment = match succeeded {
            true => Payment::Paid,
            false => Payment::Failed { hard: is_hard_decline(charge) },
        };
        self.after_payment(changes, &mut invoice, payment)?;
        changes.push(Write::Invoice(invoice));
        Ok(())
    }

    /// `invoice` is paid by `charge`, a payment made outside Kassa's own attempts (on the
    /// processor's hosted page): it becomes the invoice's charge and pays it as an attempt's
    /// success would, ending a dunning on it. Answers whether it paid it (it was still open).
    pub(crate) fn invoice_paid_by_charge(
        &mut self,
        changes: &mut ChangeSet,
        mut invoice: Invoice,
        charge: &Charge,
    ) -> Result<bool, ActorError> {
        if !invoice.status.is_collectible() || invoice.payment_pending {
            return Ok(false);
        }
        invoice.charge = Some(charge.id.clone());
        invoice.collecting = false;
        invoice.status = InvoiceStatus::Paid;
        invoice.amount_paid_minor = invoice.amount_due_minor;
        invoice.paid_at = Some(self.settlement_now());
        crate::metrics::global().count_invoice_payment(invoice.attempt_count > 1, true);
        self.after_payment(changes, &mut invoice, Payment::Paid)?;
        changes.push(Write::Invoice(invoice));
        Ok(true)
    }

    /// `invoice` is paid without a charge of its own (a credit note took what was due, or a
    /// bank transfer under the customer's reference paid it), which ends a dunning on it as a
    /// payment would.
    pub(crate) fn invoice_settled_by_credit(
        &mut self,
        changes: &mut ChangeSet,
        invoice: &mut Invoice,
        at: i64,
    ) -> Result<(), ActorError> {
        invoice.status = InvoiceStatus::Paid;
        invoice.paid_at = Some(at);
        self.after_payment(changes, invoice, Payment::Paid)
    }

    /// A payment of `invoice` was taken back (a recalled bank transfer): its subscription or
    /// payment plan falls behind as after a failed attempt, its dunning resumed.
    pub(crate) fn invoice_payment_returned(
        &mut self,
        changes: &mut ChangeSet,
        invoice: &mut Invoice,
    ) -> Result<(), ActorError> {
        self.after_payment(changes, invoice, Payment::Failed { hard: false })
    }

    fn act_on_invoice(
        &mut self,
        message: &ActOnInvoice,
    ) -> Result<(Invoice, Option<crate::store::DurableTicket>), ActorError> {
        let mut invoice = self
            .services
            .store
            .invoice(&self.key.account, &message.id)?
            .filter(|invoice| invoice.customer == self.key.customer)
            .ok_or_else(|| ActorError::NotFound { kind: "invoice", id: message.id.to_string() })?;
        let allowed = match message.action {
            InvoiceAction::Pay | InvoiceAction::Void => invoice.status.is_collectible(),
            InvoiceAction::MarkUncollectible => invoice.status == InvoiceStatus::Open,
        };
        if !allowed {
            return Err(ActorError::invalid(
                "invoice_state_invalid",
                None,
                format!(
                    "invoice {} is {}: it cannot be {}",
                    invoice.id,
                    invoice.status.as_str(),
                    match message.action {
                        InvoiceAction::Pay => "paid",
                        InvoiceAction::Void => "voided",
                        InvoiceAction::MarkUncollectible => "marked uncollectible",
                    }
                ),
            ));
        }
        if message.action != InvoiceAction::MarkUncollectible {
            crate::actor::hosted_pages::refuse_open_page(&invoice)?;
        }
        if message.action == InvoiceAction::Pay && (invoice.payment_pending || invoice.collecting) {
            return Err(ActorError::invalid(
                "invoice_state_invalid",
                None,
                format!("invoice {} has a payment under way", invoice.id),
            ));
        }
        let now = self.billing_now()?;
        let mut changes = self.changes();
        match message.action {
            InvoiceAction::Pay => {
                invoice.attempt_count += 1;
                invoice.collecting = true;
                if let Some(ticket) = &message.idempotency {
                    let in_flight = InFlightObject::Invoice(invoice.id.clone());
                    changes.push(Write::idempotency_in_flight(
                        &ticket.key,
                        ticket.fingerprint,
                        in_flight,
                    ));
                }
                changes.push(Write::Invoice(invoice.clone()));
                return Ok((invoice, Some(self.commit(changes)?)));
            }
            InvoiceAction::Void => {
                self.void_invoice(&mut changes, &mut invoice, now)?;
                self.forget_period_credit(&mut changes, &invoice)?;
                self.payment_plan_invoice_voided(&mut changes, &invoice, now)?;
            }
            InvoiceAction::MarkUncollectible => {
                invoice.status = InvoiceStatus::Uncollectible;
                self.forget_period_credit(&mut changes, &invoice)?;
            }
        }
        changes.push(Write::Invoice(invoice.clone()));
        if message.action == InvoiceAction::Void {
            self.release_voided_discount(&mut changes, &invoice)?;
        }
        if let Some(ticket) = &message.idempotency {
            let outcome = Outcome::Invoice(invoice.clone());
            changes.push(Write::idempotency_completed(&ticket.key, ticket.fingerprint, outcome));
        }
        Ok((invoice, Some(self.commit(changes)?)))
    }

    /// Voids `invoice` at `at` (the caller writes it): the credit it used goes back to the
    /// customer, and a debit it carried comes back as owed.
    pub(super) fn void_invoice(
        &mut self,
        changes: &mut ChangeSet,
        invoice: &mut Invoice,
        at: i64,
    ) -> Result<(), ActorError> {
        invoice.status = InvoiceStatus::Void;
        invoice.voided_at = Some(at);
        invoice.collecting = false;
        let own_total = invoice.total_minor;
        self.return_sponsor_shares(changes, invoice, own_total, own_total)?;
        let state = self.accepting()?;
        state.customer.balance_minor -= invoice.balance_applied_minor;
        changes.push(Write::Customer(state.customer.clone()));
        Ok(())
    }

    /// A voided invoice that carried its subscription's coupon before any invoice paid for it:
    /// unless another invoice carrying it may still be paid, the coupon's reservation is let go
    /// and the subscription's discount with it, so a limit counts only the redemptions that may
    /// still be paid for. `changes` holds the invoice as voided.
    fn release_voided_discount(
        &mut self,
        changes: &mut ChangeSet,
        invoice: &Invoice,
    ) -> Result<(), ActorError> {
        let Some(id) = &invoice.subscription else { return Ok(()) };
        let mut subscription = self.subscription(id)?;
        let Some(discount) = subscription.discount.as_ref().filter(|discount| !discount.redeemed)
        else {
            return Ok(());
        };
        if !invoice.discounted_by(&discount.coupon) {
            return Ok(());
        }
        if self.discount_released(changes, &subscription)? {
            subscription.discount = None;
            self.put_subscription(changes, subscription)?;
        }
        Ok(())
    }

    /// A period whose invoice is void or uncollectible gives no credit at a later change, and
    /// a change waiting for that invoice is dropped.
    fn forget_period_credit(
        &mut self,
        changes: &mut ChangeSet,
        invoice: &Invoice,
    ) -> Result<(), ActorError> {
        let Some(id) = &invoice.subscription else { return Ok(()) };
        let mut subscription = self.subscription(id)?;
        let waiting = subscription.pending_update.as_ref();
        if waiting.is_some_and(|pending| pending.invoice == invoice.id) {
            subscription.pending_update = None;
            return self.put_subscription(changes, subscription);
        }
        if subscription.current_period_start != invoice.period_start
            || subscription.period_invoiced_minor == 0
        {
            return Ok(());
        }
        subscription.period_invoiced_minor = 0;
        self.put_subscription(changes, subscription)
    }

    /// Charges an invoice whose attempt was just decided, then answers it as it then stands.
    pub(crate) fn collect_then_answer(
        &mut self,
        ctx: &mut Context<Self>,
        invoice: Invoice,
        payment_method: Option<PaymentMethodId>,
        recorded: crate::store::DurableTicket,
        cause: &Cause,
        presence: Presence,
    ) -> ResponseActFuture<Self, Result<Invoice, ActorError>> {
        let charged = self.collect(ctx, &invoice, payment_method, cause, presence);
        self.in_flight += 1;
        let id = invoice.id.clone();
        self.collections_under_way.insert(id.clone());
        let under_way = id.clone();
        Box::pin(
            async move {
                recorded.wait().await?;
                charged.await
            }
            .into_actor(self)
            .then(move |charged, actor, _| {
                // A charge that could not even be recorded ends the attempt; its reason (no
                // payment method, a route refused) is the answer.
                let refused = match charged {
                    Err(error) => Err((actor.collection_refused(&id, &error), error)),
                    Ok(_) => Ok(()),
                };
                let current = actor.services.store.invoice(&actor.key.account, &id);
                async move {
                    if let Err((cleared, error)) = refused {
                        if let Some(durable) = cleared? {
                            durable.wait().await?;
                        }
                        return Err(error);
                    }
                    current?
                        .ok_or_else(|| ActorError::NotFound { kind: "invoice", id: id.to_string() })
                }
                .into_actor(actor)
            })
            .map(move |answer, actor, _| {
                actor.in_flight -= 1;
                actor.collections_under_way.remove(&under_way);
                answer
            }),
        )
    }
}

impl CustomerActor {
    /// The payment method a subscription's or payment plan's invoices are charged to: its
    /// `own`, else the customer's default.
    fn paying_method(&self, own: Option<&PaymentMethodId>) -> Option<&PaymentMethod> {
        let state = self.state.as_ref().ok()?;
        let method = own.or(state.customer.default_payment_method.as_ref());
        state.payment_methods.iter().find(|method_held| Some(&method_held.id) == method)
    }

    pub(super) fn pays_by_mpesa(&self, own: Option<&PaymentMethodId>) -> bool {
        self.paying_method(own).is_some_and(|method| method.kind == PaymentMethodKind::Mpesa)
    }

    /// The payment method the subscription or payment plan that `invoice` bills asks for, if
    /// it names one.
    fn billed_payment_method(&self, invoice: &Invoice) -> Option<PaymentMethodId> {
        if let Some(id) = &invoice.subscription {
            return self.subscription(id).ok()?.payment_method;
        }
        self.payment_plan(invoice.payment_plan.as_ref()?).ok()?.payment_method
    }

    /// The smallest amount the gateway that would charge `amount` takes (0: any, or no payment
    /// method to route by yet).
    pub(super) fn min_chargeable(&self, own: Option<&PaymentMethodId>, amount: Money) -> i64 {
        let Some(method) = self.paying_method(own) else { return 0 };
        let Some(gateway) = self.first_gateway_for(method, amount) else { return 0 };
        self.services.gateway_policies.min_amount(gateway, amount.currency)
    }
}

/// M-Pesa (Daraja) takes whole shillings only: a KES total with cents gets a `rounding` line,
/// half-up to the shilling, untaxed, so the invoice can be paid as it stands.
fn round_to_whole_shillings(totals: &mut Totals, period_start: i64, period_end: i64) {
    const CENTS_PER_SHILLING: i64 = 100;
    let cents = totals.total_minor.rem_euclid(CENTS_PER_SHILLING);
    if cents == 0 {
        return;
    }
    let rounding =
        if cents * 2 >= CENTS_PER_SHILLING { CENTS_PER_SHILLING - cents } else { -cents };
    totals.lines.push(InvoiceLine {
        id: InvoiceLineId::generate(),
        description: "Rounding to whole shillings (M-Pesa)".to_owned(),
        plan: None,
        quantity: 1,
        amount_minor: rounding,
        period_start,
        period_end,
        proration: false,
        discount_minor: 0,
        tax: Vec::new(),
        sponsored_by: None,
        sponsor_returned_minor: 0,
        sponsored_minor: 0,
        beneficiary: None,
        beneficiary_invoice: None,
        sponsorship: None,
    });
    totals.subtotal_minor += rounding;
    totals.total_minor += rounding;
}

/// `(balance applied, amount due)` for an invoice of `total_minor` and a customer `balance`
/// (negative = credit the customer holds): credit pays what it can, a debit is added, and a
/// negative total becomes more credit.
pub(crate) fn apply_balance(total_minor: i64, balance_minor: i64) -> (i64, i64) {
    let credit = -balance_minor;
    let applied = if total_minor > 0 { credit.min(total_minor) } else { total_minor };
    (applied, total_minor - applied)
}

impl Handler<ActOnInvoice> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<Outcome, ActorError>>;

    fn handle(&mut self, message: ActOnInvoice, ctx: &mut Context<Self>) -> Self::Result {
        match self.earlier_outcome(message.idempotency.as_ref()) {
            Ok(None) => {}
            Ok(Some(outcome @ Outcome::Invoice(_))) => {
                return Box::pin(self.once_durable(outcome).into_actor(self));
            }
            Ok(Some(_)) => return Box::pin(fut::ready(Err(ActorError::IdempotencyReused))),
            Err(error) => return Box::pin(fut::ready(Err(error))),
        }
        let (invoice, durable) = match self.act_on_invoice(&message) {
            Ok(done) => done,
            Err(error) => return Box::pin(fut::ready(Err(error))),
        };
        let durable = durable.expect("every invoice action commits");
        if message.action != InvoiceAction::Pay {
            return Box::pin(
                async move {
                    durable.wait().await?;
                    Ok(Outcome::Invoice(invoice))
                }
                .into_actor(self),
            );
        }
        let payment_method =
            message.payment_method.clone().or_else(|| self.billed_payment_method(&invoice));
        let ticket = message.idempotency.clone();
        Box::pin(
            self.collect_then_answer(
                ctx,
                invoice,
                payment_method,
                durable,
                &message.cause,
                Presence::OnSession,
            )
            .then(move |answered, actor, _| {
                let completed = answered.and_then(|invoice| {
                    let Some(ticket) = ticket else { return Ok((invoice, None)) };
                    let outcome = Outcome::Invoice(invoice.clone());
                    let write =
                        Write::idempotency_completed(&ticket.key, ticket.fingerprint, outcome);
                    Ok((invoice, Some(actor.commit(actor.changes().with(write))?)))
                });
                async move {
                    let (invoice, durable) = completed?;
                    if let Some(durable) = durable {
                        durable.wait().await?;
                    }
                    Ok(Outcome::Invoice(invoice))
                }
                .into_actor(actor)
            }),
        )
    }
}

impl Handler<ResumeCollection> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<(), ActorError>>;

    fn handle(&mut self, message: ResumeCollection, ctx: &mut Context<Self>) -> Self::Result {
        if self.collections_under_way.contains(&message.invoice) {
            // Decided and being carried out by this actor right now: not left behind.
            return Box::pin(fut::ready(Ok(())));
        }
        let found = self.services.store.invoice(&self.key.account, &message.invoice);
        let invoice = match found {
            Ok(Some(invoice)) if invoice.collecting => invoice,
            Ok(_) => return Box::pin(fut::ready(Ok(()))),
            Err(error) => return Box::pin(fut::ready(Err(error.into()))),
        };
        let payment_method = self.billed_payment_method(&invoice);
        let recorded = self.services.store.sync();
        Box::pin(
            self.collect_then_answer(
                ctx,
                invoice,
                payment_method,
                recorded,
                &Cause::system("recovery"),
                Presence::OffSession,
            )
            .map(|answered, _, _| answered.map(|_| ())),
        )
    }
}
