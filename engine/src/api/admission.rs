//! Who a request comes from, decided from its method, path and headers alone, before a byte of
//! its body is read: a request nobody may make is refused at once, so an anonymous client cannot
//! make Kassa buffer a 4 MiB rule upload or a 1 MiB webhook body only to answer 401 or 404. The
//! caller's rate limits are taken here too, so a 429 reads no body and does nothing.

use warp::http::{HeaderMap, Method};

use super::App;
use super::error::ApiError;
use super::permissions;
use super::route_table::{Caller, Found};
use crate::domain::{AccountId, Actor};

/// The actor the admin key's changes are recorded as.
const ADMIN_ACTOR: &str = "admin";

/// A request allowed to go on to its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// A route that needs no key (`/healthz`, `/openapi.json`), or no route at all.
    Open,
    /// A gateway's webhook route that is on, with the right path token where it has one; the
    /// body's signature is checked once it is read.
    Webhook,
    /// A `/v1` route, with the account whose API key the request bears, and the key's id.
    Account(AccountId, String),
    /// An admin route, with the admin key.
    Admin,
}

impl Admission {
    /// Who the request's changes are recorded as made by: its key, else the engine (a
    /// gateway's webhook).
    pub fn actor(&self) -> Actor {
        match self {
            Admission::Account(_, key) => Actor::ApiKey(key.clone()),
            Admission::Admin => Actor::ApiKey(ADMIN_ACTOR.to_owned()),
            Admission::Open | Admission::Webhook => Actor::System,
        }
    }

    pub fn account(&self) -> Option<&AccountId> {
        match self {
            Admission::Account(account, _) => Some(account),
            Admission::Open | Admission::Webhook | Admission::Admin => None,
        }
    }
}

/// Admits a request by what its method and path found in the route table. A path under `/v1`
/// that finds no route needs a key all the same: only a caller may learn which paths exist.
pub fn admit(
    app: &App,
    method: &Method,
    found: &Found<'_>,
    segments: &[&str],
    headers: &HeaderMap,
) -> Result<Admission, ApiError> {
    // With no admin key the admin routes do not exist: every method on every path under them
    // is a plain 404, which says nothing of what the routes would be.
    if matches!(segments, ["v1", "accounts", ..]) && !app.api_keys.admin_configured() {
        return Err(ApiError::route_not_found(
            method.as_str(),
            &format!("/{}", segments.join("/")),
        ));
    }
    let caller = match found.spec() {
        Some(spec) => spec.caller,
        None if matches!(segments, ["v1", "accounts", ..]) => Caller::Admin,
        // Webhook paths never take an API key. One a gateway serves answers its other methods
        // 405 like any path; anything else under them is a plain 404, which says nothing of
        // which gateways or tokens exist.
        None if matches!(segments, ["v1", "webhooks", ..]) => {
            return match found {
                Found::OtherMethods(_) if webhook_served(app, segments) => Ok(Admission::Open),
                _ => Err(ApiError::webhook_not_found()),
            };
        }
        None if matches!(segments, ["v1", ..]) => Caller::ApiKey,
        None => Caller::Anyone,
    };
    match caller {
        Caller::Anyone => Ok(Admission::Open),
        Caller::Gateway => {
            let Found::Route(_, params) = found else { return Err(ApiError::webhook_not_found()) };
            let source = params.first().and_then(|gateway| app.webhooks.get(gateway));
            match source {
                Some(source) if source.admits(params.get(1).copied()) => {
                    app.rate_limits.check_webhook(source.gateway())?;
                    Ok(Admission::Webhook)
                }
                _ => Err(ApiError::webhook_not_found()),
            }
        }
        Caller::ApiKey => {
            let caller = app.api_keys.authenticate(headers)?;
            app.rate_limits.check_api_key(&caller.key_hash, &caller.account)?;
            if let Some(spec) = found.spec()
                && let Some(resource) = permissions::resource(spec.route)
            {
                let access = permissions::access(spec);
                if !caller.permissions.allow(resource, access) {
                    return Err(ApiError::permission_denied(format!(
                        "this restricted key may not {} `{}`",
                        access.as_str(),
                        resource.as_str()
                    )));
                }
            }
            Ok(Admission::Account(caller.account, caller.key_id))
        }
        Caller::Admin => {
            app.api_keys.authenticate_admin(headers)?;
            Ok(Admission::Admin)
        }
    }
}

/// Whether a gateway takes webhooks at this path (with this token, where it has one).
fn webhook_served(app: &App, segments: &[&str]) -> bool {
    let (gateway, token) = match segments {
        ["v1", "webhooks", gateway] => (gateway, None),
        ["v1", "webhooks", gateway, token] => (gateway, Some(*token)),
        _ => return false,
    };
    app.webhooks.get(gateway).is_some_and(|source| source.admits(token))
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
