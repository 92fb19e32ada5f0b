//! A processor's card page (Stripe Checkout) for a checkout session or an invoice, as the
//! pages and the API open and close it: one page at a time, noted on the object (see
//! `actor::hosted_pages`), shared by every tab while it may take money, and closed at the
//! processor before the object is paid another way or voided, so that it and that payment can
//! never both take money.

use kassa_gateways::{Gateway, HostedClosed, HostedPayment, HostedPaymentRequest};

use crate::actor::CustomerKey;
use crate::actor::hosted_pages::{HostedPageClosed, NoteHostedPage, PageFor};
use crate::api::App;
use crate::api::error::ApiError;
use crate::domain::time::now_unix_secs;
use crate::domain::{HostedPage, InvoiceId};

/// The object's page and how many it closed before.
pub(super) struct Pages<'a> {
    pub page_for: PageFor,
    pub open: Option<&'a HostedPage>,
    pub closed: u32,
}

/// Where to send the buyer to pay `request` by card: the object's open page (every tab gets
/// the one page), or a new one, keyed by `key_base` and the pages closed before (an expired
/// page is closed first). A page opened while another payment started is closed at once.
pub(super) async fn card_page(
    app: &App,
    key: &CustomerKey,
    pages: Pages<'_>,
    gateway: &dyn Gateway,
    mut request: HostedPaymentRequest,
    key_base: &str,
) -> Result<String, ApiError> {
    let mut closed = pages.closed;
    if let Some(page) = pages.open {
        if !page.expired(now_unix_secs()) && !page.url.is_empty() {
            return Ok(page.url.clone());
        }
        close(app, key, &pages.page_for, page).await?;
        closed += 1;
    }
    request.idempotency_key = match closed {
        0 => key_base.to_owned(),
        closed => format!("{key_base}_{closed}"),
    };
    let hosted = open(gateway, &request).await?;
    let page = HostedPage {
        gateway: gateway.name().to_owned(),
        reference: hosted.reference,
        expires_at: hosted.expires_at,
        url: hosted.url.clone(),
    };
    let noted = NoteHostedPage { page_for: pages.page_for.clone(), page: page.clone() };
    match app.registry.send(key, noted).await.and_then(|sent| sent) {
        Ok(durably) => durably.await?,
        Err(error) => {
            if let Err(closing) = gateway.close_hosted_payment(&page.reference).await {
                tracing::error!(page_for = ?pages.page_for, reference = %page.reference, %closing, "a card page not closed");
            }
            return Err(error.into());
        }
    }
    Ok(hosted.url)
}

/// Opens the processor's page for `request`.
async fn open(
    gateway: &dyn Gateway,
    request: &HostedPaymentRequest,
) -> Result<HostedPayment, ApiError> {
    gateway.start_hosted_payment(request).await.map_err(|error| {
        tracing::warn!(pays = ?request.pays, %error, "no hosted card page");
        ApiError::gateway_unavailable(format!(
            "the card processor's page could not be opened: {error}"
        ))
    })
}

/// Closes the object's card page at the processor, if it has one open, before it is paid
/// another way; refused when the buyer paid there first (its webhook records the payment) or
/// the processor cannot say.
pub(super) async fn close_open(
    app: &App,
    key: &CustomerKey,
    page_for: &PageFor,
    open: Option<&HostedPage>,
) -> Result<(), ApiError> {
    match open {
        Some(page) => close(app, key, page_for, page).await,
        None => Ok(()),
    }
}

async fn close(
    app: &App,
    key: &CustomerKey,
    page_for: &PageFor,
    page: &HostedPage,
) -> Result<(), ApiError> {
    let gateway = app.gateways.by_name(&page.gateway).map_err(|error| {
        ApiError::gateway_unavailable(format!("the card page cannot be closed: {error}"))
    })?;
    match gateway.close_hosted_payment(&page.reference).await {
        Ok(HostedClosed::Closed) => {
            let closed =
                HostedPageClosed { page_for: page_for.clone(), reference: page.reference.clone() };
            app.registry.send(key, closed).await??.await?;
            Ok(())
        }
        Ok(HostedClosed::Paid) => Err(ApiError::invalid(
            match page_for {
                PageFor::CheckoutSession(_) => "checkout_session_payment_under_way",
                PageFor::Invoice(_) => "invoice_state_invalid",
            },
            "the card payment made on the processor's page is being confirmed: it shows here in \
             a moment",
        )),
        Err(error) => Err(ApiError::gateway_unavailable(format!(
            "the card page could not be closed, so nothing else was charged: {error}"
        ))),
    }
}

/// Closes the card pages still open for `invoices`, which money that could not be refused (a
/// bank transfer under the customer's reference) has just paid, so that they take nothing more.
/// A page the buyer paid on meanwhile has taken a second payment: its webhook records it, kept
/// for a refund, and it is logged here.
pub(super) async fn close_after_payment(app: &App, key: &CustomerKey, invoices: &[InvoiceId]) {
    for id in invoices {
        let Ok(Some(invoice)) = app.queries.invoice(&key.account, id) else { continue };
        let Some(page) = &invoice.hosted_page else { continue };
        let page_for = PageFor::Invoice(invoice.id.clone());
        if let Err(error) = close(app, key, &page_for, page).await {
            tracing::error!(invoice = %invoice.id, reference = %page.reference, error = %error.message, "an invoice paid by transfer has its card page still open");
        }
    }
}
