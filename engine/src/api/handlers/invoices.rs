//! `GET /v1/invoices/{id}`, `GET /v1/invoices` (`customer=`, `subscription=`, `status=`),
//! `POST /v1/invoices/{id}/pay`, `/void`, `/mark_uncollectible`: carried out by the actor of
//! the invoice's customer, from the states the contract allows.

use serde::Deserialize;
use serde_json::Value;

use super::Reply;
use super::hosted_pages;
use crate::actor::CustomerKey;
use crate::actor::billing::messages::{ActOnInvoice, InvoiceAction};
use crate::actor::hosted_pages::PageFor;
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, billing_views, idempotency, views};
use crate::domain::{
    AccountId, CustomerId, Invoice, InvoiceId, InvoiceStatus, PaymentMethodId, SubscriptionId,
};
use crate::store::InvoiceFilter;

fn find(app: &App, account: &AccountId, id: &str) -> Result<Invoice, ApiError> {
    let not_found = || ApiError::not_found("invoice", id);
    let id = InvoiceId::parse(id).ok_or_else(not_found)?;
    app.queries.invoice(account, &id)?.ok_or_else(not_found)
}

pub async fn retrieve(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    Ok(Reply::ok(billing_views::invoice(&find(app, account, id)?, false)))
}

pub async fn list(app: &App, request: &ApiRequest, account: &AccountId) -> Result<Reply, ApiError> {
    let filters = ["customer", "subscription", "status"];
    let (page, query) = PageRequest::parse_filtered(&request.query, &filters)?;
    let filter = InvoiceFilter {
        customer: query
            .get("customer")
            .map(|id| CustomerId::parse(id).ok_or_else(|| ApiError::not_found("customer", id)))
            .transpose()?,
        subscription: query
            .get("subscription")
            .map(|id| {
                SubscriptionId::parse(id).ok_or_else(|| ApiError::not_found("subscription", id))
            })
            .transpose()?,
        status: query
            .get("status")
            .map(|status| {
                InvoiceStatus::parse(status).ok_or_else(|| {
                    ApiError::validation(
                        "status",
                        "`status` is draft, open, paid, void or uncollectible",
                    )
                })
            })
            .transpose()?,
    };
    let starting_after = match &page.starting_after {
        Some(id) => Some(InvoiceId::parse(id).ok_or_else(|| {
            ApiError::validation("starting_after", format!("`{id}` is not an invoice id"))
        })?),
        None => None,
    };
    let found = app.queries.invoices(account, &filter, page.limit, starting_after.as_ref())?;
    let data: Vec<Value> =
        found.items.iter().map(|invoice| billing_views::invoice(invoice, false)).collect();
    Ok(Reply::ok(views::list(data, found.has_more)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PayInput {
    payment_method: Option<String>,
}

pub async fn act(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
    action: InvoiceAction,
) -> Result<Reply, ApiError> {
    let payment_method = match action {
        InvoiceAction::Pay if !request.body.is_empty() => {
            let input: PayInput = request.json()?;
            input
                .payment_method
                .map(|id| {
                    PaymentMethodId::parse(&id)
                        .ok_or_else(|| ApiError::not_found("payment_method", &id))
                })
                .transpose()?
        }
        _ => None,
    };
    let invoice = find(app, account, id)?;
    let key = CustomerKey { account: account.clone(), customer: invoice.customer.clone() };
    if action != InvoiceAction::MarkUncollectible {
        let page_for = PageFor::Invoice(invoice.id.clone());
        hosted_pages::close_open(app, &key, &page_for, invoice.hosted_page.as_ref()).await?;
    }
    let answer = idempotency::run(app, account, request, |ticket| async move {
        let message = ActOnInvoice {
            id: invoice.id,
            action,
            payment_method,
            idempotency: ticket,
            cause: request.cause(),
        };
        Ok(app.registry.send(&key, message).await??)
    })
    .await?;
    Ok(Reply::answer(answer))
}
