//! `POST /v1/customers/{id}/grants`, `GET` of the same, `DELETE /v1/customers/{id}/grants/{grant_id}`:
//! features an account gives a customer without a payment (a promotion, special access), kept
//! and withdrawn by the customer's actor, and answered in its entitlements with the grant's id
//! as their source.

use serde::Deserialize;

use super::Reply;
use super::customers;
use crate::actor::CustomerKey;
use crate::actor::billing::messages::{GrantFeature, WithdrawGrant};
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, idempotency, validate, views};
use crate::domain::{AccountId, GrantId};
use crate::limits::INSTANT_MAX;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantInput {
    feature: Option<String>,
    expires_at: Option<i64>,
    reason: Option<String>,
}

pub async fn create(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    customer_id: &str,
) -> Result<Reply, ApiError> {
    let input: GrantInput = request.json()?;
    let feature =
        input.feature.ok_or_else(|| ApiError::validation("feature", "`feature` is required"))?;
    validate::feature("feature", &feature)?;
    if let Some(end) = input.expires_at.filter(|end| !(0..=INSTANT_MAX).contains(end)) {
        return Err(ApiError::validation(
            "expires_at",
            format!("`expires_at` {end} is not Unix seconds from 1970 to 9999"),
        ));
    }
    let reason = validate::text("reason", input.reason)?;
    let customer = customers::find(app, account, customer_id)?;
    let key = CustomerKey { account: account.clone(), customer: customer.id };
    let answer = idempotency::run(app, account, request, |ticket| async move {
        let message = GrantFeature {
            feature,
            expires_at: input.expires_at,
            reason,
            idempotency: ticket,
            cause: request.cause(),
        };
        Ok(app.registry.send(&key, message).await??)
    })
    .await?;
    Ok(Reply::answer(answer))
}

/// The customer's grants as its record holds them, newest first: those past their end stay
/// listed until the next grant is given.
pub async fn list(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    customer_id: &str,
) -> Result<Reply, ApiError> {
    let page = PageRequest::parse(&request.query)?;
    let customer = customers::find(app, account, customer_id)?;
    let mut grants = customer.grants;
    grants.reverse();
    let (grants, has_more) = page.apply(grants, |grant| grant.id.as_str());
    let data = grants.iter().map(|grant| views::promotional_grant(&customer.id, grant)).collect();
    Ok(Reply::ok(views::list(data, has_more)))
}

pub async fn withdraw(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    customer_id: &str,
    grant_id: &str,
) -> Result<Reply, ApiError> {
    let customer = customers::find(app, account, customer_id)?;
    let id = GrantId::parse(grant_id).ok_or_else(|| ApiError::not_found("grant", grant_id))?;
    let key = CustomerKey { account: account.clone(), customer: customer.id };
    let message = WithdrawGrant { id, cause: request.cause() };
    let outcome = app.registry.send(&key, message).await??;
    Ok(Reply::answer(idempotency::Answer { outcome, replayed: false }))
}
