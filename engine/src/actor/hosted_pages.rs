//! A processor's hosted page (Stripe Checkout) opened for a checkout session's or an invoice's
//! card, noted on the object while it may take money: the object then takes no payment made
//! another way (nor, for an invoice, a void) until the page is closed at the processor, so the
//! page and that payment can never both take money. The API closes the page first
//! (`api::handlers::hosted_pages`); a page's own payment marks it used.

use actix::{Context, Handler, Message};

use super::{ActorError, CustomerActor, Durably};
use crate::domain::{CheckoutSessionId, HostedPage, Invoice, InvoiceId};
use crate::store::Write;

/// What a hosted page is open for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageFor {
    CheckoutSession(CheckoutSessionId),
    Invoice(InvoiceId),
}

/// The page opened for the object's card (the same page for every tab while it is open).
#[derive(Clone, Message)]
#[rtype(result = "Result<Durably<()>, ActorError>")]
pub struct NoteHostedPage {
    pub page_for: PageFor,
    pub page: HostedPage,
}

/// The page `reference` is done: closed having taken nothing (the object may be paid another
/// way, and a card later on a new page), or used (its card saved for a session's subscription).
#[derive(Clone, Message)]
#[rtype(result = "Result<Durably<()>, ActorError>")]
pub struct HostedPageClosed {
    pub page_for: PageFor,
    pub reference: String,
}

impl CustomerActor {
    fn note_hosted_page(&mut self, message: NoteHostedPage) -> Result<Durably<()>, ActorError> {
        let write = match &message.page_for {
            PageFor::CheckoutSession(id) => {
                if self.checkout_session(id)?.hosted_page.as_ref() == Some(&message.page) {
                    return Ok(Box::pin(self.once_durable(())));
                }
                let mut session = self.payable_here(id)?;
                session.hosted_page = Some(message.page);
                Write::CheckoutSession(Box::new(session))
            }
            PageFor::Invoice(id) => {
                let mut invoice = self.open_invoice(id)?;
                if invoice.hosted_page.as_ref() == Some(&message.page) {
                    return Ok(Box::pin(self.once_durable(())));
                }
                refuse_open_page(&invoice)?;
                invoice.hosted_page = Some(message.page);
                Write::Invoice(invoice)
            }
        };
        let durable = self.commit(self.changes().with(write))?;
        Ok(Box::pin(async move { Ok(durable.wait().await?) }))
    }

    fn hosted_page_closed(&mut self, message: HostedPageClosed) -> Result<Durably<()>, ActorError> {
        let is_it = |page: &Option<HostedPage>| {
            page.as_ref().is_some_and(|page| page.reference == message.reference)
        };
        let write = match &message.page_for {
            PageFor::CheckoutSession(id) => {
                let mut session = self.checkout_session(id)?;
                if !is_it(&session.hosted_page) {
                    return Ok(Box::pin(self.once_durable(())));
                }
                session.hosted_page = None;
                session.hosted_pages_closed += 1;
                Write::CheckoutSession(Box::new(session))
            }
            PageFor::Invoice(id) => {
                let mut invoice = self.invoice_of_customer(id)?;
                if !is_it(&invoice.hosted_page) {
                    return Ok(Box::pin(self.once_durable(())));
                }
                invoice.hosted_page = None;
                invoice.hosted_pages_closed += 1;
                Write::Invoice(invoice)
            }
        };
        let durable = self.commit(self.changes().with(write))?;
        Ok(Box::pin(async move { Ok(durable.wait().await?) }))
    }

    fn invoice_of_customer(&self, id: &InvoiceId) -> Result<Invoice, ActorError> {
        self.services
            .store
            .invoice(&self.key.account, id)?
            .filter(|invoice| invoice.customer == self.key.customer)
            .ok_or_else(|| ActorError::NotFound { kind: "invoice", id: id.to_string() })
    }

    /// The invoice, when a card page may be opened for it: open, with no payment under way.
    fn open_invoice(&self, id: &InvoiceId) -> Result<Invoice, ActorError> {
        let invoice = self.invoice_of_customer(id)?;
        if !invoice.status.is_collectible() || invoice.payment_pending || invoice.collecting {
            return Err(ActorError::invalid(
                "invoice_state_invalid",
                None,
                format!("invoice {} is not open to a payment now", invoice.id),
            ));
        }
        Ok(invoice)
    }
}

/// Refuses a payment made another way (or a void) while the invoice's card page is open.
pub(crate) fn refuse_open_page(invoice: &Invoice) -> Result<(), ActorError> {
    if invoice.hosted_page.is_none() {
        return Ok(());
    }
    Err(ActorError::invalid(
        "invoice_state_invalid",
        None,
        format!("invoice {} has its card page open at the processor", invoice.id),
    ))
}

impl Handler<NoteHostedPage> for CustomerActor {
    type Result = Result<Durably<()>, ActorError>;

    fn handle(&mut self, message: NoteHostedPage, _: &mut Context<Self>) -> Self::Result {
        self.note_hosted_page(message)
    }
}

impl Handler<HostedPageClosed> for CustomerActor {
    type Result = Result<Durably<()>, ActorError>;

    fn handle(&mut self, message: HostedPageClosed, _: &mut Context<Self>) -> Self::Result {
        self.hosted_page_closed(message)
    }
}
