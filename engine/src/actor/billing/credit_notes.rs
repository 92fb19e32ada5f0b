//! Credit notes in the customer's actor: decided in one turn against the invoice and the notes
//! already on it, numbered from the customer's own counter, and written in one change set with
//! what they do — the open invoice's amount due lowered, the customer's balance credited, or a
//! refund of the charge that paid the invoice recorded (then carried out as any refund is).
//!
//! A refund asked for directly, of a charge that paid an invoice, makes its credit note when it
//! succeeds ([`CustomerActor::credit_note_for_refund`]): the books show every amount given back
//! against the invoice it was charged on.

use actix::{ActorFutureExt, Context, Handler, ResponseActFuture, WrapFuture, fut};

use super::messages::CreateCreditNote;
use crate::actor::messages::CreateRefund;
use crate::actor::{ActorError, CustomerActor};
use crate::billing::credit_notes::{Credit, CreditAsk, CreditError, credit};
use crate::domain::{
    Charge, CreditNote, CreditNoteId, Invoice, InvoiceLineId, InvoiceStatus, RefundId, RefundReason,
};
use crate::store::{ChangeSet, Outcome, Write};

/// How a credit note's worth goes back, as decided.
struct Allocation {
    pre_payment: i64,
    refund: i64,
    credit: i64,
    out_of_band: i64,
}

impl CustomerActor {
    fn invoice_to_credit(&self, id: &crate::domain::InvoiceId) -> Result<Invoice, ActorError> {
        let invoice = self
            .services
            .store
            .invoice(&self.key.account, id)?
            .filter(|invoice| invoice.customer == self.key.customer)
            .ok_or_else(|| ActorError::NotFound { kind: "invoice", id: id.to_string() })?;
        match invoice.status {
            InvoiceStatus::Open if invoice.payment_pending || invoice.collecting => {
                Err(ActorError::invalid(
                    "invoice_state_invalid",
                    Some("invoice"),
                    format!(
                        "invoice {} has a payment under way; credit it once that settles",
                        invoice.id
                    ),
                ))
            }
            InvoiceStatus::Open | InvoiceStatus::Paid => Ok(invoice),
            InvoiceStatus::Draft | InvoiceStatus::Void | InvoiceStatus::Uncollectible => {
                Err(ActorError::invalid(
                    "invoice_state_invalid",
                    Some("invoice"),
                    format!(
                        "invoice {} is {}: only an open or paid invoice can be credited",
                        invoice.id,
                        invoice.status.as_str()
                    ),
                ))
            }
        }
    }

    /// How `total` goes back: off an open invoice's amount due, or as the caller split it for
    /// a paid one (none given: to the customer's balance).
    fn allocate(
        invoice: &Invoice,
        total: i64,
        message: &CreateCreditNote,
    ) -> Result<Allocation, ActorError> {
        let asked = [message.refund_minor, message.credit_minor, message.out_of_band_minor];
        if invoice.status == InvoiceStatus::Open {
            if asked.iter().flatten().any(|amount| *amount != 0) {
                return Err(ActorError::invalid(
                    "validation_error",
                    Some("refund_amount"),
                    format!(
                        "invoice {} is open: a credit note lowers what it has due, and nothing \
                         was paid to refund, credit or settle",
                        invoice.id
                    ),
                ));
            }
            if total > invoice.amount_due_minor {
                return Err(ActorError::invalid(
                    "validation_error",
                    Some("amount"),
                    format!(
                        "the credit note comes to {total}, more than the {} invoice {} has due",
                        invoice.amount_due_minor, invoice.id
                    ),
                ));
            }
            return Ok(Allocation { pre_payment: total, refund: 0, credit: 0, out_of_band: 0 });
        }
        if asked.iter().all(Option::is_none) {
            return Ok(Allocation { pre_payment: 0, refund: 0, credit: total, out_of_band: 0 });
        }
        let [refund, credit, out_of_band] = asked.map(|amount| amount.unwrap_or(0));
        if refund + credit + out_of_band != total {
            return Err(ActorError::invalid(
                "validation_error",
                Some("refund_amount"),
                format!(
                    "refund_amount, credit_amount and out_of_band_amount add up to {}, not the \
                     credit note's {total}",
                    refund + credit + out_of_band
                ),
            ));
        }
        if refund > 0 && invoice.charge.is_none() {
            return Err(ActorError::invalid(
                "validation_error",
                Some("refund_amount"),
                format!(
                    "invoice {} was paid without a charge: there is nothing to refund",
                    invoice.id
                ),
            ));
        }
        Ok(Allocation { pre_payment: 0, refund, credit, out_of_band })
    }

    /// The credit note `credit` makes on `invoice`, numbered, and the invoice and customer as it
    /// leaves them (the caller writes them).
    fn issue_credit_note(
        &mut self,
        invoice: &mut Invoice,
        credit: Credit,
        allocation: &Allocation,
        refund: Option<RefundId>,
        reason: Option<String>,
        now: i64,
    ) -> Result<CreditNote, ActorError> {
        let customer = &mut self.settling()?.customer;
        customer.balance_minor -= allocation.credit;
        let note = CreditNote {
            id: CreditNoteId::generate(),
            number: customer.next_credit_note_number(),
            customer: customer.id.clone(),
            invoice: invoice.id.clone(),
            currency: invoice.currency,
            lines: credit.lines,
            subtotal_minor: credit.subtotal_minor,
            tax: credit.tax,
            total_minor: credit.total_minor,
            pre_payment_minor: allocation.pre_payment,
            refund_minor: allocation.refund,
            credit_minor: allocation.credit,
            out_of_band_minor: allocation.out_of_band,
            refund,
            reason,
            created: now,
        };
        invoice.amount_due_minor -= allocation.pre_payment;
        invoice.credited_minor += allocation.pre_payment;
        invoice.post_payment_credited_minor +=
            allocation.refund + allocation.credit + allocation.out_of_band;
        Ok(note)
    }

    /// The credit note for what a change's credit took off an open invoice (`invoice`, as the
    /// credit left it): what its `credited_minor` holds beyond the notes already on it.
    pub(crate) fn note_open_invoice_credit(
        &mut self,
        changes: &mut ChangeSet,
        invoice: &Invoice,
    ) -> Result<(), ActorError> {
        let store = &self.services.store;
        let earlier =
            store.invoice_credit_notes(&self.key.account, &self.key.customer, &invoice.id)?;
        let noted: i64 = earlier.iter().map(|note| note.pre_payment_minor).sum();
        let taken = invoice.credited_minor - noted;
        if taken <= 0 {
            return Ok(());
        }
        let mut before = invoice.clone();
        before.credited_minor = noted;
        before.amount_due_minor += taken;
        let credit = credit(&before, &earlier, CreditAsk::Total(taken))
            .map_err(|error| ActorError::invalid("validation_error", None, error.to_string()))?;
        let allocation = Allocation { pre_payment: taken, refund: 0, credit: 0, out_of_band: 0 };
        let now = self.settlement_now();
        let note = self.issue_credit_note(&mut before, credit, &allocation, None, None, now)?;
        tracing::info!(credit_note = %note.id, invoice = %invoice.id, taken, "credit note for a change's credit");
        changes.push(Write::Customer(self.settling()?.customer.clone()));
        changes.push(Write::CreditNote(note));
        Ok(())
    }

    /// A credit note taking `lines` (each what is left of it) off open `invoice` before it is
    /// paid: what it no longer asks for. `invoice` is changed; the caller writes it.
    pub(crate) fn credit_open_lines(
        &mut self,
        changes: &mut ChangeSet,
        invoice: &mut Invoice,
        lines: &[InvoiceLineId],
        at: i64,
    ) -> Result<(), ActorError> {
        let store = &self.services.store;
        let earlier =
            store.invoice_credit_notes(&self.key.account, &self.key.customer, &invoice.id)?;
        let ask: Vec<(InvoiceLineId, i64)> = lines
            .iter()
            .filter_map(|id| {
                let line = invoice.lines.iter().find(|line| &line.id == id)?;
                let credited: i64 = earlier
                    .iter()
                    .flat_map(|note| &note.lines)
                    .filter(|credited| &credited.invoice_line == id)
                    .map(|credited| credited.amount_minor)
                    .sum();
                let left = line.amount_minor - line.discount_minor - credited;
                (left > 0).then(|| (id.clone(), left))
            })
            .collect();
        if ask.is_empty() {
            return Ok(());
        }
        let credit = credit(invoice, &earlier, CreditAsk::Lines(ask)).map_err(credit_error)?;
        let taken = credit.total_minor.min(invoice.amount_due_minor);
        let allocation = Allocation { pre_payment: taken, refund: 0, credit: 0, out_of_band: 0 };
        let note = self.issue_credit_note(invoice, credit, &allocation, None, None, at)?;
        tracing::info!(credit_note = %note.id, invoice = %invoice.id, taken, "credit note for lines no longer asked for");
        changes.push(Write::Customer(self.settling()?.customer.clone()));
        changes.push(Write::CreditNote(note));
        Ok(())
    }

    /// What is left to give back of invoice `id`, tax included, after its credit notes.
    pub(crate) fn invoice_left_to_credit(
        &self,
        invoice: &crate::domain::InvoiceId,
    ) -> Result<i64, ActorError> {
        let store = &self.services.store;
        let Some(invoice) = store.invoice(&self.key.account, invoice)? else { return Ok(0) };
        let earlier =
            store.invoice_credit_notes(&self.key.account, &self.key.customer, &invoice.id)?;
        Ok(credit(&invoice, &earlier, CreditAsk::Rest).map_or(0, |rest| rest.total_minor))
    }

    /// For a refund of `charge` (`amount_minor` of it, the last refund `refund`) that was not
    /// asked for through a credit note: if the charge paid an invoice, the credit note that
    /// books it, spread over the invoice's lines with their tax. Answers the note's id.
    ///
    /// A refund asked for through the API is refused beforehand when it exceeds what is left
    /// of the invoice; one a gateway reports (made in its dashboard) has happened already: its
    /// note books what is left, and the excess is logged.
    pub(crate) fn credit_note_for_refund(
        &mut self,
        changes: &mut ChangeSet,
        charge: &Charge,
        refund: &RefundId,
        amount_minor: i64,
    ) -> Result<Option<CreditNoteId>, ActorError> {
        let Some(invoice_id) = &charge.invoice else { return Ok(None) };
        let store = &self.services.store;
        let Some(mut invoice) = store.invoice(&self.key.account, invoice_id)? else {
            return Ok(None);
        };
        let earlier =
            store.invoice_credit_notes(&self.key.account, &self.key.customer, &invoice.id)?;
        let left = credit(&invoice, &earlier, CreditAsk::Rest).map_or(0, |rest| rest.total_minor);
        if amount_minor > left {
            tracing::error!(invoice = %invoice.id, %refund, amount_minor, left, "a refund gave back more than its invoice had left");
        }
        let amount = amount_minor.min(left);
        if amount <= 0 {
            return Ok(None);
        }
        let credit = credit(&invoice, &earlier, CreditAsk::Total(amount))
            .map_err(|error| ActorError::invalid("validation_error", None, error.to_string()))?;
        let allocation = Allocation { pre_payment: 0, refund: amount, credit: 0, out_of_band: 0 };
        let now = self.settlement_now();
        let note = self.issue_credit_note(
            &mut invoice,
            credit,
            &allocation,
            Some(refund.clone()),
            None,
            now,
        )?;
        tracing::info!(credit_note = %note.id, invoice = %invoice.id, %refund, amount, "credit note for a refund");
        let own_total = invoice.total_minor;
        self.return_sponsor_shares(changes, &mut invoice, note.total_minor, own_total)?;
        let id = note.id.clone();
        changes.push(Write::Customer(self.settling()?.customer.clone()));
        changes.push(Write::Invoice(invoice));
        changes.push(Write::CreditNote(note));
        Ok(Some(id))
    }
}

fn credit_error(error: CreditError) -> ActorError {
    let param = match &error {
        CreditError::UnknownLine(_)
        | CreditError::LineTwice(_)
        | CreditError::LineExceeded { .. } => "lines",
        CreditError::NotPositive | CreditError::TotalExceeded { .. } | CreditError::NothingLeft => {
            "amount"
        }
    };
    ActorError::invalid("validation_error", Some(param), error.to_string())
}

/// A credit note's reason as a refund's, where one maps.
fn refund_reason(reason: Option<&str>) -> Option<RefundReason> {
    match reason {
        Some("duplicate") => Some(RefundReason::Duplicate),
        Some("fraudulent") => Some(RefundReason::Fraudulent),
        Some(_) => Some(RefundReason::RequestedByCustomer),
        None => None,
    }
}

impl Handler<CreateCreditNote> for CustomerActor {
    type Result = ResponseActFuture<Self, Result<CreditNote, ActorError>>;

    fn handle(&mut self, message: CreateCreditNote, _: &mut Context<Self>) -> Self::Result {
        match self.earlier_outcome(message.idempotency.as_ref()) {
            Ok(None) => {}
            Ok(Some(Outcome::CreditNote(note))) => {
                return Box::pin(self.once_durable(note).into_actor(self));
            }
            Ok(Some(_)) => return Box::pin(fut::ready(Err(ActorError::IdempotencyReused))),
            Err(error) => return Box::pin(fut::ready(Err(error))),
        }
        // Deciding numbers the note and may credit the balance in memory: a note refused, or
        // whose refund is refused before anything is recorded, leaves the customer as it was.
        let customer_before = match self.accepting() {
            Ok(state) => state.customer.clone(),
            Err(error) => return Box::pin(fut::ready(Err(error))),
        };
        let refused = match self.decide_credit_note(&message) {
            Ok((note, changes, None)) => {
                let durable = match self.commit(changes) {
                    Ok(durable) => durable,
                    Err(error) => return Box::pin(fut::ready(Err(error))),
                };
                return Box::pin(
                    async move {
                        durable.wait().await?;
                        Ok(note)
                    }
                    .into_actor(self),
                );
            }
            // The refund is recorded with the note, then carried out as any refund is; the
            // note is answered once the refund has settled.
            Ok((note, changes, Some((refund_id, refund)))) => {
                let cause = refund.cause.clone();
                match self.begin_refund(refund, refund_id, changes) {
                    Ok(started) => {
                        return Box::pin(
                            self.carry_out_refund(started, cause)
                                .map(move |refunded, _, _| refunded.map(|_| note)),
                        );
                    }
                    Err(error) => error,
                }
            }
            Err(error) => error,
        };
        if let Ok(state) = self.settling() {
            state.customer = customer_before;
            self.publish_grant_sources();
        }
        Box::pin(fut::ready(Err(refused)))
    }
}

type Decided = (CreditNote, ChangeSet, Option<(RefundId, CreateRefund)>);

impl CustomerActor {
    fn decide_credit_note(&mut self, message: &CreateCreditNote) -> Result<Decided, ActorError> {
        self.accepting()?;
        let mut invoice = self.invoice_to_credit(&message.invoice)?;
        if invoice.status.is_collectible() {
            crate::actor::hosted_pages::refuse_open_page(&invoice)?;
        }
        let earlier = self.services.store.invoice_credit_notes(
            &self.key.account,
            &self.key.customer,
            &invoice.id,
        )?;
        let credit = credit(&invoice, &earlier, message.ask.clone()).map_err(credit_error)?;
        let allocation = Self::allocate(&invoice, credit.total_minor, message)?;
        let now = self.billing_now()?;
        let refund_id = (allocation.refund > 0).then(RefundId::generate);
        let note = self.issue_credit_note(
            &mut invoice,
            credit,
            &allocation,
            refund_id.clone(),
            message.reason.clone(),
            now,
        )?;
        let mut changes = self.changes();
        let own_total = invoice.total_minor;
        self.return_sponsor_shares(&mut changes, &mut invoice, note.total_minor, own_total)?;
        if invoice.status == InvoiceStatus::Open && invoice.amount_due_minor == 0 {
            self.invoice_settled_by_credit(&mut changes, &mut invoice, now)?;
        }
        changes.push(Write::Customer(self.accepting()?.customer.clone()));
        let charge = invoice.charge.clone();
        changes.push(Write::Invoice(invoice));
        changes.push(Write::CreditNote(note.clone()));
        if let Some(ticket) = &message.idempotency {
            let outcome = Outcome::CreditNote(note.clone());
            changes.push(Write::idempotency_completed(&ticket.key, ticket.fingerprint, outcome));
        }
        tracing::info!(credit_note = %note.id, number = %note.number, invoice = %note.invoice, total = note.total_minor, "credit note issued");
        let refund = match (refund_id, charge) {
            (Some(id), Some(charge)) => Some((
                id,
                CreateRefund {
                    charge,
                    amount_minor: Some(allocation.refund),
                    reason: refund_reason(message.reason.as_deref()),
                    idempotency: None,
                    cause: message.cause.clone(),
                    credit_note: Some(note.id.clone()),
                    reverse_transfer: true,
                    pay_out: None,
                },
            )),
            _ => None,
        };
        Ok((note, changes, refund))
    }
}
