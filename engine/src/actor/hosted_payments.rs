//! A checkout session or an invoice paid on a processor's hosted page (Stripe Checkout): the
//! processor took the money and its webhook says so; here, in one change set, the card it saved
//! becomes the customer's payment method, the payment a succeeded charge (indexed by the
//! processor's reference, so its refunds and disputes find it), and the session complete (its
//! coupon hold a counted redemption) or the invoice paid. A second delivery of the same payment
//! changes nothing.

use actix::{Context, Handler, Message};

use super::charges::processing_charge;
use super::messages::CreateCharge;
use super::{ActorError, CustomerActor, Durably};
use crate::domain::time::now_unix_secs;
use crate::domain::{
    CardDisplay, Cause, CheckoutSessionId, CheckoutStatus, Event, EventKind, InvoiceId, Money,
    PaymentMethod, PaymentMethodId, PaymentMethodKind,
};
use crate::store::Write;

/// What a hosted payment pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostedTarget {
    CheckoutSession(CheckoutSessionId),
    Invoice(InvoiceId),
}

#[derive(Clone, Message)]
#[rtype(result = "Result<Durably<String>, ActorError>")]
pub struct RecordHostedPayment {
    pub pays: HostedTarget,
    pub gateway: &'static str,
    /// The processor's reference of the payment (a PaymentIntent).
    pub reference: String,
    /// The payment method the processor saved for later payments, and its card as the
    /// processor describes it.
    pub payment_method: Option<String>,
    pub card: Option<CardDisplay>,
    /// What the processor says it took.
    pub amount: Money,
    /// What the processor kept of it as its fee, as it reported it (none where it did not).
    pub fee: kassa_gateways::PaymentFee,
    pub cause: Cause,
}

impl RecordHostedPayment {
    fn conversion(&self) -> Option<crate::domain::Conversion> {
        self.fee.conversion.map(super::settlement::converted)
    }
}

/// A card saved on the processor's hosted page, and nothing paid (a subscription's session in
/// setup mode): it becomes the customer's payment method, as a paid page's card does. Answers
/// its id once durable.
#[derive(Clone, Message)]
#[rtype(result = "Result<Durably<PaymentMethodId>, ActorError>")]
pub struct SaveHostedCard {
    pub gateway: &'static str,
    pub payment_method: String,
    pub card: Option<CardDisplay>,
    pub cause: Cause,
}

impl CustomerActor {
    fn record_hosted_payment(
        &mut self,
        message: RecordHostedPayment,
    ) -> Result<Durably<String>, ActorError> {
        let store = &self.services.store;
        if store.charge_by_reference(message.gateway, &message.reference)?.is_some() {
            let text = format!("no change: payment {} is recorded", message.reference);
            return Ok(Box::pin(self.once_durable(text)));
        }
        match message.pays.clone() {
            HostedTarget::CheckoutSession(id) => self.record_hosted_session_payment(&id, message),
            HostedTarget::Invoice(id) => self.record_hosted_invoice_payment(&id, message),
        }
    }

    fn record_hosted_session_payment(
        &mut self,
        id: &CheckoutSessionId,
        message: RecordHostedPayment,
    ) -> Result<Durably<String>, ActorError> {
        let mut session = self.checkout_session(id)?;
        // Money the processor took is recorded whatever else happened, so it can be found and
        // refunded: a session paid already another way, or another amount than the session's
        // (which then does not complete the session).
        if session.status == CheckoutStatus::Complete {
            tracing::error!(checkout_session = %session.id, reference = %message.reference, "a paid checkout session was paid again at the processor");
        }
        let due = Money { amount_minor: session.amount_total_minor, currency: session.currency };
        let pays_session = message.amount == due;
        if !pays_session {
            tracing::error!(checkout_session = %session.id, reference = %message.reference, taken = message.amount.amount_minor, due = due.amount_minor, "the processor took another amount than the checkout session's");
        }
        let mut changes = self.changes();
        let method = self.hosted_payment_method(&mut changes, &saved_card(&message))?;
        let mut create = CreateCharge {
            amount: message.amount,
            breakdown: session.breakdown().filter(|_| pays_session).cloned().map(Box::new),
            payment_method: Some(method.clone()),
            description: None,
            metadata: session.metadata.clone(),
            idempotency: None,
            cause: message.cause.clone(),
            invoice: None,
            off_session: false,
            grants: Vec::new(),
            coupon: None,
            checkout_session: pays_session.then(|| session.id.clone()),
            transfer: session.transfer_of(message.amount.amount_minor).filter(|_| pays_session),
        };
        let mut charge =
            processing_charge(&mut create, self.key.customer.clone(), method, message.gateway);
        charge.succeed(message.reference.clone(), message.fee.fee_minor, message.conversion());
        super::books::share_on_payee_clock(
            &self.key.account,
            &mut charge,
            self.services.store.as_ref(),
        )?;
        let redeems = session.coupon.clone().filter(|_| pays_session && session.charge.is_none());
        if let Some(applied) = &redeems {
            // The session's hold is what the payment redeems.
            let code = applied.promotion_code.as_ref();
            changes.push(self.redemption(&applied.coupon, code, session.id.as_str(), true));
            self.redemption_settled(&applied.coupon, code, session.id.as_str(), true);
        }
        charge.coupon = redeems;
        if pays_session && session.status != CheckoutStatus::Complete {
            session.charge = Some(charge.id.clone());
        }
        // Its page is used: the session takes nothing more there.
        session.hosted_page = None;
        changes.push(Write::CheckoutSession(Box::new(session)));
        self.record_hosted_charge(changes, charge, &message)
    }

    fn record_hosted_invoice_payment(
        &mut self,
        id: &InvoiceId,
        message: RecordHostedPayment,
    ) -> Result<Durably<String>, ActorError> {
        let mut invoice = self
            .services
            .store
            .invoice(&self.key.account, id)?
            .ok_or_else(|| ActorError::NotFound { kind: "invoice", id: id.to_string() })?;
        // Its page is used: the invoice takes nothing more there.
        invoice.hosted_page = None;
        let due = Money { amount_minor: invoice.amount_due_minor, currency: invoice.currency };
        let pays_invoice = message.amount == due;
        if !pays_invoice {
            tracing::error!(invoice = %invoice.id, reference = %message.reference, taken = message.amount.amount_minor, due = due.amount_minor, "the processor took another amount than the invoice's");
        }
        let mut changes = self.changes();
        let method = self.hosted_payment_method(&mut changes, &saved_card(&message))?;
        let mut create = CreateCharge {
            amount: message.amount,
            breakdown: None,
            payment_method: Some(method.clone()),
            description: invoice.number.as_ref().map(|number| format!("Invoice {number}")),
            metadata: Default::default(),
            idempotency: None,
            cause: message.cause.clone(),
            invoice: pays_invoice.then(|| invoice.id.clone()),
            off_session: false,
            grants: Vec::new(),
            coupon: None,
            checkout_session: None,
            transfer: self
                .invoice_transfer(&invoice, message.amount.amount_minor)
                .filter(|_| pays_invoice),
        };
        let mut charge =
            processing_charge(&mut create, self.key.customer.clone(), method, message.gateway);
        charge.succeed(message.reference.clone(), message.fee.fee_minor, message.conversion());
        super::books::share_on_payee_clock(
            &self.key.account,
            &mut charge,
            self.services.store.as_ref(),
        )?;
        let paid = pays_invoice && self.invoice_paid_by_charge(&mut changes, invoice, &charge)?;
        if pays_invoice && !paid {
            // Paid another way meanwhile, or a payment of it under way: the money is kept on
            // record for a refund.
            tracing::error!(charge = %charge.id, reference = %message.reference, "a hosted payment for an invoice no longer open");
            charge.invoice = None;
        }
        self.record_hosted_charge(changes, charge, &message)
    }

    /// The succeeded charge of a hosted payment, in `changes` with what it paid.
    fn record_hosted_charge(
        &mut self,
        mut changes: crate::store::ChangeSet,
        charge: crate::domain::Charge,
        message: &RecordHostedPayment,
    ) -> Result<Durably<String>, ActorError> {
        changes.push(Write::NewCharge(charge.clone()));
        changes.push(Write::ChargeReference {
            gateway: message.gateway.to_owned(),
            reference: message.reference.clone(),
            charge: charge.id.clone(),
        });
        changes.push(Write::Event(
            Event::new(EventKind::ChargeSucceeded, charge.id.as_str(), &message.cause)
                .status(None, charge.status.as_str()),
        ));
        let durable = self.commit(changes)?;
        tracing::info!(charge = %charge.id, reference = %message.reference, "hosted payment recorded");
        let text = format!("charge {} succeeded", charge.id);
        Ok(Box::pin(async move {
            durable.wait().await?;
            Ok(text)
        }))
    }

    /// The card the processor saved: the customer's payment method for later payments, the
    /// default if it has none. The same card saved again is the method it already is.
    fn hosted_payment_method(
        &mut self,
        changes: &mut crate::store::ChangeSet,
        saved: &SaveHostedCard,
    ) -> Result<PaymentMethodId, ActorError> {
        let token = saved.payment_method.clone();
        let customer = self.key.customer.clone();
        let state = self.accepting()?;
        let held = state.payment_methods.iter().find(|method| {
            !token.is_empty() && method.gateway == saved.gateway && method.token == token
        });
        if let Some(method) = held {
            return Ok(method.id.clone());
        }
        let method = PaymentMethod {
            id: PaymentMethodId::generate(),
            customer,
            gateway: saved.gateway.to_owned(),
            token,
            card: saved.card.clone(),
            created: now_unix_secs(),
            kind: PaymentMethodKind::Card,
            sealed: None,
        };
        state.payment_methods.push(method.clone());
        if state.customer.default_payment_method.is_none() && !method.token.is_empty() {
            state.customer.default_payment_method = Some(method.id.clone());
            changes.push(Write::Customer(state.customer.clone()));
        }
        changes.push(Write::PaymentMethod(method.clone()));
        changes.push(Write::Event(Event::new(
            EventKind::PaymentMethodAttached,
            method.id.as_str(),
            &saved.cause,
        )));
        Ok(method.id)
    }

    fn save_hosted_card(
        &mut self,
        message: &SaveHostedCard,
    ) -> Result<Durably<PaymentMethodId>, ActorError> {
        if message.payment_method.is_empty() {
            return Err(ActorError::invalid(
                "payment_method_invalid",
                None,
                "the processor saved no payment method",
            ));
        }
        let mut changes = self.changes();
        let method = self.hosted_payment_method(&mut changes, message)?;
        let durable = self.commit(changes)?;
        Ok(Box::pin(async move {
            durable.wait().await?;
            Ok(method)
        }))
    }
}

/// The card a hosted payment saved, as [`CustomerActor::hosted_payment_method`] records it.
fn saved_card(message: &RecordHostedPayment) -> SaveHostedCard {
    SaveHostedCard {
        gateway: message.gateway,
        payment_method: message.payment_method.clone().unwrap_or_default(),
        card: message.card.clone(),
        cause: message.cause.clone(),
    }
}

impl Handler<RecordHostedPayment> for CustomerActor {
    type Result = Result<Durably<String>, ActorError>;

    fn handle(&mut self, message: RecordHostedPayment, _: &mut Context<Self>) -> Self::Result {
        self.record_hosted_payment(message)
    }
}

impl Handler<SaveHostedCard> for CustomerActor {
    type Result = Result<Durably<PaymentMethodId>, ActorError>;

    fn handle(&mut self, message: SaveHostedCard, _: &mut Context<Self>) -> Self::Result {
        self.save_hosted_card(&message)
    }
}
