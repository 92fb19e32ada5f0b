//! `POST /v1/payouts`, `GET /v1/payouts/{id}` and `GET /v1/payees/{id}/payouts`: money out of a
//! payee's available balance, by hand (the schedule makes the others; see
//! [`crate::payouts`]). A payout is answered once its adapter answered (or did not: it is then
//! `in_transit` until the adapter's status query settles it).

use serde::Deserialize;

use super::{Reply, payees};
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, idempotency, payee_views, validate, views};
use crate::domain::{AccountId, Payout, PayoutId};
use crate::payouts::{Ask, PayoutError};
use crate::store::Outcome;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePayout {
    payee: String,
    amount: Option<i64>,
    currency: String,
}

pub async fn create(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let input: CreatePayout = request.json()?;
    let payee =
        payees::find(app, account, &input.payee).map_err(|error| error.with_param("payee"))?;
    let currency =
        validate::currency(&input.currency).map_err(|error| error.with_param("currency"))?;
    if let Some(amount) = input.amount {
        validate::amount(amount)?;
    }
    if !payee.destination.takes(currency) {
        return Err(ApiError::validation(
            "currency",
            format!(
                "payee {}'s {} destination cannot take {}",
                payee.id,
                payee.destination.kind(),
                input.currency.to_lowercase()
            ),
        ));
    }
    let answer = idempotency::run(app, account, request, |ticket| async move {
        let ask = Ask {
            amount_minor: input.amount,
            currency,
            scheduled_for: None,
            answered: ticket.map(|ticket| (ticket.key, ticket.fingerprint)),
        };
        let payout = app.payouts.pay_out(&payee, ask).await.map_err(refusal)?;
        Ok(Outcome::Payout(Box::new(payout)))
    })
    .await?;
    Ok(Reply::answer(answer))
}

fn refusal(error: PayoutError) -> ApiError {
    match error {
        PayoutError::InsufficientBalance { available, currency } => ApiError::invalid(
            "insufficient_balance",
            format!("the payee has {available} {currency} (minor units) available to pay out"),
        )
        .with_param("amount")
        .with_extra("available", available),
        PayoutError::Refused(param, message) => ApiError::validation(param, message),
        PayoutError::Store(error) => error.into(),
    }
}

pub async fn retrieve(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    Ok(Reply::ok(payee_views::payout(&find(app, account, id)?)))
}

/// A payee's payouts, newest first.
pub async fn list_for_payee(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    let payee = payees::find(app, account, id)?;
    let page = PageRequest::parse(&request.query)?;
    let starting_after = match &page.starting_after {
        Some(id) => Some(PayoutId::parse(id).ok_or_else(|| {
            ApiError::validation("starting_after", format!("`{id}` is not a payout id"))
        })?),
        None => None,
    };
    let found =
        app.queries.payee_payouts(account, &payee.id, page.limit, starting_after.as_ref())?;
    let data = found.items.iter().map(payee_views::payout).collect();
    Ok(Reply::ok(views::list(data, found.has_more)))
}

/// The account's payout with this id, or a 404.
fn find(app: &App, account: &AccountId, id: &str) -> Result<Payout, ApiError> {
    let not_found = || ApiError::not_found("payout", id);
    let id = PayoutId::parse(id).ok_or_else(not_found)?;
    app.queries.payout(account, &id)?.ok_or_else(not_found)
}
