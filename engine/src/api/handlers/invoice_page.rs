//! `GET /invoice/{token}`, `POST /invoice/{token}/pay`, `GET /invoice/{token}/status`: the
//! page of a `send_invoice` invoice, linked from its `invoice.finalized` event
//! (`hosted_invoice_url`), where a parent pays a school's invoice by card, M-Pesa or bank
//! transfer with no API key (the token's 128 random bits are the credential). Paying is the
//! invoice's ordinary payment by hand, in the customer's actor: one payment under way at a
//! time, and none once it is paid.

use serde_json::json;
use warp::http::StatusCode;

use super::checkout_page::{
    HOSTED_PAGE_MAX_SECS, PayForm, hosted_customer, not_found, page_method, payment_shown,
    seller_name,
};
use super::checkout_sessions::Cards;
use super::hosted_pages::{self, Pages};
use super::{Reply, checkout_sessions};
use crate::actor::CustomerKey;
use crate::actor::billing::messages::{ActOnInvoice, InvoiceAction};
use crate::actor::hosted_pages::PageFor;
use crate::api::App;
use crate::api::error::ApiError;
use crate::api::request::ApiRequest;
use crate::billing::receipt::format::rate;
use crate::checkout::page::{self, Bill, Offer, Seller};
use crate::domain::time::now_unix_secs;
use crate::domain::{AccountId, Charge, CheckoutMethod, Invoice, InvoiceStatus};
use kassa_gateways::{HostedFor, HostedPaymentRequest, HostedTake};

struct Current {
    account: AccountId,
    invoice: Invoice,
    charge: Option<Charge>,
}

fn load(app: &App, token: &str) -> Result<Option<Current>, ApiError> {
    let Some((account, invoice)) = app.queries.invoice_by_page(token)? else { return Ok(None) };
    let charge = match &invoice.charge {
        Some(charge) => app.queries.charge(&account, charge)?,
        None => None,
    };
    Ok(Some(Current { account, invoice, charge }))
}

/// The invoice as its page (or a checkout page paying it) lists it.
pub(super) fn bill(invoice: &Invoice) -> Bill {
    let discount: i64 = invoice.discounts.iter().map(|discount| discount.amount_minor).sum();
    let number = invoice.number.as_deref().unwrap_or("");
    Bill {
        currency: invoice.currency,
        lines: invoice
            .lines
            .iter()
            .map(|line| (line.description.clone(), line.amount_minor))
            .collect(),
        subtotal_minor: invoice.subtotal_minor,
        discount: (discount > 0).then(|| ("Discount".to_owned(), discount)),
        tax: Some(
            invoice
                .tax
                .iter()
                .map(|tax| {
                    (
                        format!("{} {} ({})", tax.name, rate(tax.rate_bps), tax.jurisdiction),
                        tax.amount_minor,
                    )
                })
                .collect(),
        ),
        total_label: "Amount due",
        total_minor: invoice.amount_due_minor
            - invoice.amount_paid_minor.min(invoice.amount_due_minor),
        note: Some(match invoice.due_date {
            Some(due) => format!("Invoice {number}, due {}.", due_date(due)),
            None => format!("Invoice {number}."),
        }),
    }
}

fn due_date(instant: i64) -> String {
    crate::billing::receipt::format::date(instant, &jiff::tz::TimeZone::UTC)
}

pub async fn show(app: &App, token: &str) -> Result<Reply, ApiError> {
    let Some(current) = load(app, token)? else { return Ok(not_found()) };
    Ok(render(app, token, &current, None))
}

fn render(app: &App, token: &str, current: &Current, error: Option<&str>) -> Reply {
    let invoice = &current.invoice;
    let policy = page::policy(None);
    let number = invoice.number.as_deref().unwrap_or("");
    match invoice.status {
        InvoiceStatus::Paid => Reply::page(
            StatusCode::OK,
            page::notice(
                &format!("Invoice {number} is paid"),
                "Thank you: this invoice is paid in full.",
                None,
            ),
            policy,
        ),
        InvoiceStatus::Open => {
            let methods =
                checkout_sessions::available_methods(app, &current.account, invoice.currency);
            let path = format!("/invoice/{token}");
            let offer = Offer {
                path: &path,
                methods: &methods,
                hosted_card: matches!(checkout_sessions::cards(app), Cards::Hosted(_)),
                promotion_code: false,
                country: None,
                cancel: None,
            };
            let seller = seller_name(app, &current.account);
            let payment = payment_shown(current.charge.as_ref());
            let html =
                page::open(&bill(invoice), &offer, &Seller { name: &seller }, &payment, error);
            let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
            Reply::page(status, html, policy)
        }
        _ => Reply::page(
            StatusCode::GONE,
            page::notice(
                &format!("Invoice {number}"),
                "This invoice is no longer payable. Nothing was charged through this page.",
                None,
            ),
            policy,
        ),
    }
}

/// `GET /invoice/{token}/status`: what the page's script follows.
pub async fn status(app: &App, token: &str) -> Result<Reply, ApiError> {
    let Some(current) = load(app, token)? else {
        return Err(ApiError::not_found("invoice_page", token));
    };
    let status = match current.invoice.status {
        InvoiceStatus::Open => "open",
        InvoiceStatus::Paid => "complete",
        _ => "expired",
    };
    let payment = current.charge.as_ref().map(|charge| charge.status.as_str());
    Ok(Reply::ok(json!({ "status": status, "payment": payment })))
}

pub async fn pay(app: &App, request: &ApiRequest, token: &str) -> Result<Reply, ApiError> {
    let Some(current) = load(app, token)? else { return Ok(not_found()) };
    if current.invoice.status != InvoiceStatus::Open {
        return Ok(render(app, token, &current, None));
    }
    let back = Reply::see_other(format!("/invoice/{token}"));
    match attempt(app, request, token, &current).await {
        Ok(Some(hosted)) => {
            Ok(Reply::page(StatusCode::OK, page::hand_off(&hosted), page::policy(None)))
        }
        Ok(None) => Ok(back),
        Err(error) => {
            let Some(current) = load(app, token)? else { return Ok(not_found()) };
            if current.invoice.status != InvoiceStatus::Open || current.invoice.payment_pending {
                return Ok(back);
            }
            Ok(render(app, token, &current, Some(&error.message)))
        }
    }
}

/// One submission of the page's form; answers the processor's page to send the buyer to, when
/// a card is paid there.
async fn attempt(
    app: &App,
    request: &ApiRequest,
    token: &str,
    current: &Current,
) -> Result<Option<String>, ApiError> {
    let form: PayForm = serde_urlencoded::from_bytes(&request.body).map_err(|_| {
        ApiError::validation("method", "the form was not understood: reload the page")
    })?;
    let invoice = &current.invoice;
    let offered = checkout_sessions::available_methods(app, &current.account, invoice.currency);
    let chosen = CheckoutMethod::parse(&form.method)
        .filter(|method| offered.contains(method))
        .ok_or_else(|| ApiError::validation("method", "choose one of the ways to pay shown"))?;
    let key = CustomerKey { account: current.account.clone(), customer: invoice.customer.clone() };
    if chosen == CheckoutMethod::Card
        && let Cards::Hosted(gateway) = checkout_sessions::cards(app)
    {
        let now = now_unix_secs();
        let request = HostedPaymentRequest {
            pays: HostedFor::Invoice(invoice.id.to_string()),
            idempotency_key: String::new(),
            customer: hosted_customer(app, &current.account, &invoice.customer)?,
            take: HostedTake::Payment { amount_minor: invoice.amount_due_minor },
            currency: invoice.currency,
            description: format!(
                "{} invoice {}",
                seller_name(app, &current.account),
                invoice.number.as_deref().unwrap_or("")
            ),
            return_url: format!("{}/invoice/{token}", app.public_url),
            expires_at: now + HOSTED_PAGE_MAX_SECS,
        };
        let pages = Pages {
            page_for: PageFor::Invoice(invoice.id.clone()),
            open: invoice.hosted_page.as_ref(),
            closed: invoice.hosted_pages_closed,
        };
        let key_base = format!("kassa_invoice_{}", invoice.id);
        let url =
            hosted_pages::card_page(app, &key, pages, gateway.as_ref(), request, &key_base).await?;
        return Ok(Some(url));
    }
    let page_for = PageFor::Invoice(invoice.id.clone());
    hosted_pages::close_open(app, &key, &page_for, invoice.hosted_page.as_ref()).await?;
    let method = page_method(app, &key, chosen, form.card, form.phone, request.cause()).await?;
    let message = ActOnInvoice {
        id: invoice.id.clone(),
        action: InvoiceAction::Pay,
        payment_method: Some(method.id),
        idempotency: None,
        cause: request.cause(),
    };
    app.registry.send(&key, message).await??;
    Ok(None)
}
