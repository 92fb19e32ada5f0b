//! `POST /v1/charges`, `GET /v1/charges/{id}`, `GET /v1/customers/{id}/charges`.

use serde::Deserialize;

use super::Reply;
use super::customers;
use crate::actor::CustomerKey;
use crate::actor::messages::CreateCharge;
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, idempotency, validate, views};
use crate::domain::{AccountId, ChargeId, CustomerId, Metadata, Money, PaymentMethodId};
use crate::store::Outcome;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChargeInput {
    customer: String,
    amount: i64,
    currency: String,
    payment_method: Option<String>,
    description: Option<String>,
    metadata: Option<Metadata>,
}

struct ParsedCharge {
    customer: String,
    amount: Money,
    payment_method: Option<String>,
    description: Option<String>,
    metadata: Metadata,
}

fn parse(request: &ApiRequest) -> Result<ParsedCharge, ApiError> {
    let input: ChargeInput = request.json()?;
    let amount_minor = validate::amount(input.amount)?;
    let currency = validate::currency(&input.currency)?;
    Ok(ParsedCharge {
        customer: input.customer,
        amount: Money { amount_minor, currency },
        payment_method: input.payment_method,
        description: validate::text("description", input.description)?,
        metadata: validate::metadata(input.metadata)?,
    })
}

pub async fn create(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let charge = parse(request)?;
    let customer = CustomerId::parse(&charge.customer)
        .ok_or_else(|| ApiError::not_found("customer", &charge.customer))?;
    let payment_method = match &charge.payment_method {
        Some(id) => Some(
            PaymentMethodId::parse(id).ok_or_else(|| ApiError::not_found("payment_method", id))?,
        ),
        None => None,
    };
    let key = CustomerKey { account: account.clone(), customer };
    let answer = idempotency::run(&app.store, &app.claims, account, request, |ticket| async move {
        let message = CreateCharge {
            amount: charge.amount,
            payment_method,
            description: charge.description,
            metadata: charge.metadata,
            idempotency: ticket,
            cause: request.request_id.clone(),
        };
        let charge = app.registry.send(&key, message).await??;
        Ok(Outcome::Charge(charge))
    })
    .await?;
    Ok(Reply::answer(answer))
}

pub async fn retrieve(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    let not_found = || ApiError::not_found("charge", id);
    let id = ChargeId::parse(id).ok_or_else(not_found)?;
    let charge = app.store.charge(account, &id)?.ok_or_else(not_found)?;
    Ok(Reply::ok(views::charge(&charge)))
}

pub async fn list_for_customer(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    customer_id: &str,
) -> Result<Reply, ApiError> {
    let page = PageRequest::parse(&request.query)?;
    let customer = customers::find(app, account, customer_id)?;
    let starting_after = match &page.starting_after {
        Some(id) => Some(ChargeId::parse(id).ok_or_else(|| {
            ApiError::validation("starting_after", format!("`{id}` is not a charge id"))
        })?),
        None => None,
    };
    let found = app.store.charges(account, &customer.id, page.limit, starting_after.as_ref())?;
    Ok(Reply::ok(views::list(found.items.iter().map(views::charge).collect(), found.has_more)))
}
