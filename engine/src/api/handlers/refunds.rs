//! `POST /v1/refunds`, `GET /v1/refunds/{id}`. The refund is decided by the charge's customer's
//! actor, which alone knows what is left of the charge, refunds under way included.

use serde::Deserialize;

use super::Reply;
use crate::actor::CustomerKey;
use crate::actor::messages::CreateRefund;
use crate::api::error::ApiError;
use crate::api::request::ApiRequest;
use crate::api::{App, idempotency, validate, views};
use crate::domain::{AccountId, ChargeId, RefundId, RefundReason};
use crate::store::Outcome;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundInput {
    charge: String,
    amount: Option<i64>,
    reason: Option<String>,
    reverse_transfer: Option<bool>,
}

pub async fn create(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let input: RefundInput = request.json()?;
    let amount_minor = input.amount.map(validate::amount).transpose()?;
    let reason = match &input.reason {
        Some(reason) => Some(RefundReason::parse(reason).ok_or_else(|| {
            ApiError::validation(
                "reason",
                "`reason` is one of duplicate, fraudulent, requested_by_customer",
            )
        })?),
        None => None,
    };
    let not_found = || ApiError::not_found("charge", &input.charge);
    let charge_id = ChargeId::parse(&input.charge).ok_or_else(not_found)?;
    let charge = app.queries.charge(account, &charge_id)?.ok_or_else(not_found)?;
    let key = CustomerKey { account: account.clone(), customer: charge.customer };
    let answer = idempotency::run(app, account, request, |ticket| async move {
        let message = CreateRefund {
            charge: charge_id,
            amount_minor,
            reason,
            idempotency: ticket,
            cause: request.cause(),
            credit_note: None,
            reverse_transfer: input.reverse_transfer.unwrap_or(true),
        };
        let refund = app.registry.send(&key, message).await??;
        Ok(Outcome::Refund(refund))
    })
    .await?;
    Ok(Reply::answer(answer))
}

pub async fn retrieve(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    let not_found = || ApiError::not_found("refund", id);
    let id = RefundId::parse(id).ok_or_else(not_found)?;
    let refund = app.queries.refund(account, &id)?.ok_or_else(not_found)?;
    Ok(Reply::ok(views::refund(&refund)))
}
