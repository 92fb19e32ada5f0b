//! Who a request comes from, decided from its method, path and headers alone, before a byte of
//! its body is read: a request nobody may make is refused at once, so an anonymous client cannot
//! make Kassa buffer a 4 MiB rule upload or a 1 MiB webhook body only to answer 401 or 404. The
//! caller's rate limits are taken here too, so a 429 reads no body and does nothing.

use warp::http::{HeaderMap, Method};

use super::App;
use super::error::ApiError;
use super::handlers::webhooks;
use crate::domain::AccountId;

/// A request allowed to go on to its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// A route that needs no key (`/healthz`, `/openapi.json`), or no route at all.
    Open,
    /// A gateway's webhook route that is on, with the right path token where it has one; the
    /// body's signature is checked once it is read.
    Webhook,
    /// A `/v1` route, with the account whose API key the request bears.
    Account(AccountId),
}

impl Admission {
    pub fn account(&self) -> Option<&AccountId> {
        match self {
            Admission::Account(account) => Some(account),
            Admission::Open | Admission::Webhook => None,
        }
    }
}

pub fn admit(
    app: &App,
    method: &Method,
    segments: &[&str],
    headers: &HeaderMap,
) -> Result<Admission, ApiError> {
    match (method, segments) {
        (&Method::POST, ["v1", "webhooks", "stripe"]) => match app.stripe_webhook_secret {
            Some(_) => webhook(app, "stripe"),
            None => Err(ApiError::webhook_not_found()),
        },
        (&Method::POST, ["v1", "webhooks", "mpesa", token]) => match &app.mpesa {
            Some(callbacks) if webhooks::token_matches(callbacks.token.expose(), token) => {
                webhook(app, "mpesa")
            }
            _ => Err(ApiError::webhook_not_found()),
        },
        // Webhook routes never take an API key: anything else under them is a plain 404.
        (_, ["v1", "webhooks", ..]) => Err(ApiError::webhook_not_found()),
        (_, ["v1", ..]) => {
            let caller = app.api_keys.authenticate(headers)?;
            app.rate_limits.check_api_key(&caller.key_hash, &caller.account)?;
            Ok(Admission::Account(caller.account))
        }
        _ => Ok(Admission::Open),
    }
}

fn webhook(app: &App, gateway: &'static str) -> Result<Admission, ApiError> {
    app.rate_limits.check_webhook(gateway)?;
    Ok(Admission::Webhook)
}

/// Whether the request says a body follows: refusing it unread leaves the connection unusable.
pub fn body_follows(headers: &HeaderMap) -> bool {
    let declared = headers
        .get(warp::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    match declared {
        Some(length) => length > 0,
        None => headers.contains_key(warp::http::header::TRANSFER_ENCODING),
    }
}
