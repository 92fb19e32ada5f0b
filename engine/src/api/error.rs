//! The one place errors become HTTP responses: `{"error": {type, code, message, param?}}` with
//! the status of API.md. Internal failures are logged here and answered without their details.

use serde_json::{Map, Value, json};
use warp::http::StatusCode;

use crate::actor::ActorError;
use crate::rules::{CallError, ChangeError, QuoteError, RulesError};
use crate::store::StoreError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: &'static str,
    pub message: String,
    pub param: Option<String>,
    /// Further fields some errors carry: `decline_code`, `charge`.
    pub extra: Map<String, Value>,
    /// Sent as `Retry-After` (a 429's). A u16 (18 hours) fits beside `status` without growing
    /// every `Result` that carries an `ApiError`.
    pub retry_after_secs: Option<u16>,
}

impl ApiError {
    fn new(
        status: StatusCode,
        kind: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            kind,
            code,
            message: message.into(),
            param: None,
            extra: Map::new(),
            retry_after_secs: None,
        }
    }

    pub fn with_param(mut self, param: impl Into<String>) -> ApiError {
        self.param = Some(param.into());
        self
    }

    pub fn with_extra(mut self, name: &str, value: impl Into<Value>) -> ApiError {
        self.extra.insert(name.to_owned(), value.into());
        self
    }

    pub fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", code, message)
    }

    pub fn validation(param: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::invalid("validation_error", message).with_param(param)
    }

    pub fn not_found(kind: &str, id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "not_found",
            format!("no such {kind}: `{id}`"),
        )
    }

    pub fn route_not_found(method: &str, path: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "not_found",
            format!("no route for {method} {path}"),
        )
    }

    /// A webhook path whose secret token is wrong: the same 404 as an unknown path, without
    /// echoing the token.
    pub fn webhook_not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "invalid_request_error", "not_found", "no such route")
    }

    pub fn method_not_allowed(method: &str, path: &str) -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "method_not_allowed",
            format!("{path} does not accept {method}"),
        )
    }

    /// A restricted key's refused action (403), named so the key's owner knows what to grant.
    pub fn permission_denied(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "invalid_request_error", "permission_denied", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "authentication_error", "unauthorized", message)
    }

    pub fn body_too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "body_too_large",
            format!("request bodies are limited to {limit} bytes"),
        )
    }

    pub fn body_timeout(timeout: std::time::Duration) -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            "body_timeout",
            format!(
                "the request body did not arrive within {} ms; nothing was done",
                timeout.as_millis()
            ),
        )
    }

    /// `budget` ("this API key", "this account", "this webhook route") is out of tokens.
    pub fn rate_limited(budget: &str, retry_after_secs: u16) -> ApiError {
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "rate_limited",
            format!(
                "too many requests for {budget}; nothing was done: retry after {retry_after_secs} s"
            ),
        );
        error.retry_after_secs = Some(retry_after_secs);
        error
    }

    pub fn idempotency_in_use() -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_error",
            "idempotency_key_in_use",
            "a request with this Idempotency-Key is still being processed; retry once it has finished",
        )
    }

    pub fn idempotency_reused() -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_error",
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request; use a new key for a new request",
        )
    }

    pub fn gateway_unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "api_error", "gateway_unavailable", message)
    }

    pub fn timeout() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            "gateway_unavailable",
            "the request took too long; it may still complete: retry with the same Idempotency-Key",
        )
    }

    /// An error of ours: logged with its details, answered without them.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %detail, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "internal_error",
            "an internal error occurred; it has been logged",
        )
    }

    /// An upload that is not a usable rule of its kind.
    pub fn plugin_invalid(message: impl Into<String>) -> ApiError {
        ApiError::invalid("plugin_invalid", message)
    }

    /// A rule that trapped, ran out of fuel or memory, or answered nonsense: the rule's fault,
    /// so the message says what it did (its author needs it), unlike an internal error.
    pub fn plugin_error(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "plugin_error", message)
    }

    pub fn card_declined(decline_code: &str, message: &str, charge_id: &str) -> ApiError {
        ApiError::new(StatusCode::PAYMENT_REQUIRED, "card_error", "card_declined", message)
            .with_extra("decline_code", decline_code)
            .with_extra("charge", charge_id)
    }

    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("type".into(), json!(self.kind));
        error.insert("code".into(), json!(self.code));
        error.insert("message".into(), json!(self.message));
        if let Some(param) = &self.param {
            error.insert("param".into(), json!(param));
        }
        error.extend(self.extra.clone());
        json!({ "error": error })
    }
}

impl From<crate::coupons::ResolveError> for ApiError {
    fn from(error: crate::coupons::ResolveError) -> ApiError {
        match error {
            crate::coupons::ResolveError::Refused(refused) => {
                ApiError::invalid(refused.code, refused.message).with_param(refused.param)
            }
            crate::coupons::ResolveError::Store(error) => error.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::Unavailable(why) => {
                tracing::warn!(%why, "storage unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "api_error",
                    "storage_unavailable",
                    "storage is unreachable for now: retry later (with the same Idempotency-Key)",
                )
            }
            StoreError::Conflict(why) => {
                tracing::info!(%why, "refused a change decided on an older customer");
                ApiError::new(
                    StatusCode::CONFLICT,
                    "invalid_request_error",
                    "conflict",
                    // A flow's later commit may be the one refused (a charge made and left
                    // processing, settled in the background): the same key answers either way.
                    "another node changed the customer first: retry with the same Idempotency-Key",
                )
            }
            StoreError::KeyInUse => ApiError::idempotency_in_use(),
            error => ApiError::internal(error),
        }
    }
}

impl From<RulesError> for ApiError {
    fn from(error: RulesError) -> ApiError {
        ApiError::internal(error)
    }
}

impl From<ChangeError> for ApiError {
    fn from(error: ChangeError) -> ApiError {
        match error {
            ChangeError::Invalid(invalid) => ApiError::plugin_invalid(invalid.to_string()),
            ChangeError::NothingToRollBack(_) => {
                ApiError::invalid("no_previous_version", error.to_string())
            }
            ChangeError::Internal(error) => ApiError::internal(error),
        }
    }
}

impl From<QuoteError> for ApiError {
    fn from(error: QuoteError) -> ApiError {
        match error {
            QuoteError::Rule(refused @ CallError::Refused { .. }) => {
                ApiError::validation("line_items", refused.to_string())
            }
            QuoteError::Rule(failed @ CallError::Failed { .. }) => {
                tracing::warn!(error = %failed, "rule failed");
                ApiError::plugin_error(failed.to_string())
            }
            QuoteError::Rule(unfinished @ CallError::NotInline { .. }) => {
                // `Rules::quote` makes such a call again in full: a bug if seen here.
                ApiError::internal(unfinished)
            }
            QuoteError::Internal(error) => ApiError::internal(error),
        }
    }
}

impl From<ActorError> for ApiError {
    fn from(error: ActorError) -> ApiError {
        match error {
            ActorError::NotFound { kind, id } => ApiError::not_found(kind, &id),
            ActorError::Invalid { code, param, message } => {
                let error = ApiError::invalid(code, message);
                match param {
                    Some(param) => error.with_param(param),
                    None => error,
                }
            }
            ActorError::AmountTooLarge { left } => ApiError::invalid(
                "amount_too_large",
                format!("the refund exceeds what is left of the charge ({left} left)"),
            )
            .with_param("amount"),
            ActorError::InsufficientBalance { available } => ApiError::invalid(
                "insufficient_balance",
                format!("the customer holds {available} (minor units) of credit to refund"),
            )
            .with_param("amount")
            .with_extra("available", available),
            ActorError::AlreadyRefunded(charge) => ApiError::invalid(
                "charge_already_refunded",
                format!("charge {charge} has nothing left to refund"),
            )
            .with_param("charge"),
            ActorError::IdempotencyReused => ApiError::idempotency_reused(),
            ActorError::Store(error) => ApiError::from(error),
            ActorError::Unavailable(message) => ApiError::gateway_unavailable(message),
            ActorError::Stopping => ApiError::internal("an actor's stop reached the API"),
            ActorError::NeedsRuleThreads(_) => {
                ApiError::internal("a turn's rule call for the rule threads reached the API")
            }
            ActorError::Rule(error) => ApiError::from(QuoteError::Rule(error)),
        }
    }
}
