//! `POST /v1/customers/{id}/payment_methods`, `GET` of the same, `DELETE /v1/payment_methods/{id}`.
//! A token is checked with its gateway before the customer's actor records it; text that looks
//! like a card number is refused before it can reach a log or the store.

use serde::Deserialize;

use super::Reply;
use super::customers;
use crate::actor::CustomerKey;
use crate::actor::messages::{AttachPaymentMethod, DetachPaymentMethod};
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, idempotency, views};
use crate::domain::payment_method::looks_like_card_number;
use crate::domain::{AccountId, PaymentMethodId};
use crate::limits::TOKEN_LEN_MAX;
use crate::store::Outcome;
use kassa_gateways::GatewayError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachInput {
    token: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    phone: Option<String>,
}

fn parse_token(request: &ApiRequest) -> Result<String, ApiError> {
    let input: AttachInput = request.json()?;
    if input.kind.as_deref() == Some("mpesa") || input.phone.is_some() {
        return Err(ApiError::invalid(
            "payment_method_invalid",
            "M-Pesa payment methods need the M-Pesa gateway, which is not enabled",
        )
        .with_param("type"));
    }
    if let Some(kind) = input.kind.filter(|kind| kind != "card") {
        return Err(ApiError::validation("type", format!("unknown payment method type `{kind}`")));
    }
    let token = input.token.ok_or_else(|| ApiError::validation("token", "`token` is required"))?;
    if looks_like_card_number(&token) {
        return Err(ApiError::invalid(
            "payment_method_invalid",
            "raw card numbers are never accepted: tokenize the card with your gateway and send its token",
        )
        .with_param("token"));
    }
    let well_formed = !token.is_empty()
        && token.len() <= TOKEN_LEN_MAX
        && token.bytes().all(|byte| byte.is_ascii_graphic());
    if !well_formed {
        return Err(ApiError::invalid(
            "payment_method_invalid",
            format!("a token is 1 to {TOKEN_LEN_MAX} printable characters without spaces"),
        )
        .with_param("token"));
    }
    Ok(token)
}

fn describe_error(error: GatewayError) -> ApiError {
    match error {
        GatewayError::InvalidPaymentMethod(message) => {
            ApiError::invalid("payment_method_invalid", message).with_param("token")
        }
        GatewayError::InvalidRequest(message) => ApiError::invalid("validation_error", message),
        GatewayError::NotAttempted(message) | GatewayError::Ambiguous(message) => {
            ApiError::gateway_unavailable(message)
        }
        GatewayError::Storage(message) => ApiError::internal(message),
    }
}

pub async fn attach(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    customer_id: &str,
) -> Result<Reply, ApiError> {
    let token = parse_token(request)?;
    let customer = customers::find(app, account, customer_id)?;
    let key = CustomerKey { account: account.clone(), customer: customer.id };
    let answer = idempotency::run(&app.store, &app.claims, account, request, |ticket| async move {
        let gateway = app.gateways.default_gateway();
        let details = gateway.describe_payment_method(&token).await.map_err(describe_error)?;
        let message = AttachPaymentMethod {
            gateway: gateway.name().to_owned(),
            token,
            details,
            idempotency: ticket,
            cause: request.request_id.clone(),
        };
        let method = app.registry.send(&key, message).await??.await?;
        tracing::info!(customer = %key.customer, payment_method = %method.id, "payment method attached");
        Ok(Outcome::PaymentMethod(method))
    })
    .await?;
    Ok(Reply::answer(answer))
}

pub async fn list(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    customer_id: &str,
) -> Result<Reply, ApiError> {
    let page = PageRequest::parse(&request.query)?;
    let customer = customers::find(app, account, customer_id)?;
    let mut methods = app.store.payment_methods(account, &customer.id)?;
    methods.reverse();
    let (methods, has_more) = page.apply(methods, |method| method.id.as_str());
    Ok(Reply::ok(views::list(methods.iter().map(views::payment_method).collect(), has_more)))
}

pub async fn detach(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    let not_found = || ApiError::not_found("payment_method", id);
    let id = PaymentMethodId::parse(id).ok_or_else(not_found)?;
    let customer = app.store.payment_method_owner(account, &id)?.ok_or_else(not_found)?;
    let key = CustomerKey { account: account.clone(), customer };
    let message = DetachPaymentMethod { id, idempotency: None, cause: request.request_id.clone() };
    let id = app.registry.send(&key, message).await??.await?;
    tracing::info!(customer = %key.customer, payment_method = %id, "payment method detached");
    Ok(Reply::answer(idempotency::Answer {
        outcome: Outcome::PaymentMethodDeleted(id),
        replayed: false,
    }))
}
