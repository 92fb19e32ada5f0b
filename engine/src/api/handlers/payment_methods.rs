//! `POST /v1/customers/{id}/payment_methods`, `GET` of the same, `DELETE /v1/payment_methods/{id}`.
//! A token is checked with its gateway before the customer's actor records it; text that looks
//! like a card number is refused before it can reach a log or the store. An M-Pesa method is a
//! phone number (`{type:"mpesa", phone}`), normalised by the M-Pesa gateway when it is enabled.

use std::sync::Arc;

use serde::Deserialize;

use super::Reply;
use super::customers;
use crate::actor::CustomerKey;
use crate::actor::IdempotencyTicket;
use crate::actor::bank_transfers::BANK_TRANSFER_GATEWAY;
use crate::actor::messages::{AttachPaymentMethod, DetachPaymentMethod};
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, idempotency, views};
use crate::domain::card_number::looks_like_card_number;
use crate::domain::{AccountId, Cause, PaymentMethod, PaymentMethodId, PaymentMethodKind};
use crate::limits::TOKEN_LEN_MAX;
use crate::store::Outcome;
use kassa_gateways::mpesa::normalize_phone;
use kassa_gateways::{Gateway, GatewayError, PaymentMethodDetails, PaymentMethodType};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachInput {
    token: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    phone: Option<String>,
}

/// What the client asked to attach.
pub(super) enum NewMethod {
    Card {
        token: String,
    },
    /// As the client wrote it; normalised by the M-Pesa gateway.
    Mpesa {
        phone: String,
    },
    /// Nothing to check: the account's bank details say where to pay.
    BankTransfer,
}

fn parse_method(request: &ApiRequest) -> Result<NewMethod, ApiError> {
    // The token and the M-Pesa number are checked below, a card number in them answered with
    // `payment_method_invalid`.
    let input: AttachInput = request.json_with_credentials(&["token", "phone"])?;
    match (input.kind.as_deref(), input.token, input.phone) {
        (Some("mpesa"), None, Some(phone)) => Ok(NewMethod::Mpesa { phone }),
        (Some("mpesa"), Some(_), _) => Err(ApiError::validation(
            "token",
            "an M-Pesa payment method is a `phone`, not a `token`",
        )),
        (Some("bank_transfer"), None, None) => Ok(NewMethod::BankTransfer),
        (Some("bank_transfer"), token, _) => Err(ApiError::validation(
            if token.is_some() { "token" } else { "phone" },
            "a bank_transfer payment method takes no `token` or `phone`",
        )),
        (Some("mpesa"), None, None) => {
            Err(ApiError::validation("phone", "`phone` is required for type `mpesa`"))
        }
        (None | Some("card"), _, Some(_)) => {
            Err(ApiError::validation("phone", "`phone` is for payment methods of type `mpesa`"))
        }
        (None | Some("card"), token, None) => {
            let token =
                token.ok_or_else(|| ApiError::validation("token", "`token` is required"))?;
            Ok(NewMethod::Card { token })
        }
        (Some(kind), _, _) => {
            Err(ApiError::validation("type", format!("unknown payment method type `{kind}`")))
        }
    }
}

fn checked_token(token: String) -> Result<String, ApiError> {
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

fn describe_error(error: GatewayError, param: &'static str) -> ApiError {
    match error {
        GatewayError::InvalidPaymentMethod(message) => {
            ApiError::invalid("payment_method_invalid", message).with_param(param)
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
    let method = parse_method(request)?;
    let customer = customers::find(app, account, customer_id)?;
    let key = CustomerKey { account: account.clone(), customer: customer.id };
    let answer = idempotency::run(app, account, request, |ticket| async move {
        let method = attach_new(app, &key, method, ticket, request.cause()).await?;
        Ok(Outcome::PaymentMethod(method))
    })
    .await?;
    Ok(Reply::answer(answer))
}

/// Checks `method` with its gateway and has the customer's actor record it.
pub(super) async fn attach_new(
    app: &App,
    key: &CustomerKey,
    method: NewMethod,
    ticket: Option<IdempotencyTicket>,
    cause: Cause,
) -> Result<PaymentMethod, ApiError> {
    let (kind, gateway, token, param) = match method {
        NewMethod::BankTransfer => {
            let message = AttachPaymentMethod {
                kind: PaymentMethodKind::BankTransfer,
                gateway: BANK_TRANSFER_GATEWAY.to_owned(),
                token: String::new(),
                details: PaymentMethodDetails { card: None },
                idempotency: ticket,
                cause,
            };
            return Ok(app.registry.send(key, message).await??.await?);
        }
        NewMethod::Card { token } => {
            (PaymentMethodKind::Card, card_gateway(app)?, checked_token(token)?, "token")
        }
        NewMethod::Mpesa { phone } => {
            let gateway = mpesa_gateway(app)?;
            let phone = normalize_phone(&phone).map_err(|error| describe_error(error, "phone"))?;
            (PaymentMethodKind::Mpesa, gateway, phone, "phone")
        }
    };
    let details = gateway
        .describe_payment_method(&token)
        .await
        .map_err(|error| describe_error(error, param))?;
    let message = AttachPaymentMethod {
        kind,
        gateway: gateway.name().to_owned(),
        token,
        details,
        idempotency: ticket,
        cause,
    };
    let method = app.registry.send(key, message).await??.await?;
    tracing::info!(customer = %key.customer, payment_method = %method.id, "payment method attached");
    Ok(method)
}

/// Card tokens are checked by the default gateway when it takes cards, else by the first live
/// gateway that does (the sandbox last).
fn card_gateway(app: &App) -> Result<&Arc<dyn Gateway>, ApiError> {
    app.gateways.gateway_for_new(PaymentMethodType::Card).ok_or_else(|| {
        ApiError::invalid("payment_method_invalid", "no card gateway is enabled")
            .with_param("token")
    })
}

fn mpesa_gateway(app: &App) -> Result<&Arc<dyn Gateway>, ApiError> {
    app.gateways.gateway_for_new(PaymentMethodType::Mpesa).ok_or_else(|| {
        ApiError::invalid(
            "payment_method_invalid",
            "M-Pesa payment methods need the M-Pesa gateway, which is not enabled",
        )
        .with_param("type")
    })
}

pub async fn list(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    customer_id: &str,
) -> Result<Reply, ApiError> {
    let page = PageRequest::parse(&request.query)?;
    let customer = customers::find(app, account, customer_id)?;
    let mut methods = app.queries.payment_methods(account, &customer.id)?;
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
    let customer = app.queries.payment_method_owner(account, &id)?.ok_or_else(not_found)?;
    let key = CustomerKey { account: account.clone(), customer };
    let message = DetachPaymentMethod { id, idempotency: None, cause: request.cause() };
    let id = app.registry.send(&key, message).await??.await?;
    tracing::info!(customer = %key.customer, payment_method = %id, "payment method detached");
    Ok(Reply::answer(idempotency::Answer {
        outcome: Outcome::PaymentMethodDeleted(id),
        replayed: false,
    }))
}
