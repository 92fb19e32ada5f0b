//! `/v1/webhook_endpoints`: where the account's events are sent. An endpoint's signing secret
//! is in the answer that made it (or rotated it) and nowhere else the API shows; a replay of
//! that request shows the endpoint without it.

use serde::Deserialize;
use serde_json::json;

use super::{Body, Reply};
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, idempotency, validate, webhook_views};
use crate::domain::outgoing_event::EVENT_TYPES;
use crate::domain::time::now_unix_secs;
use crate::domain::{
    AccountId, EndpointStatus, EventId, RetiringSecret, WebhookEndpoint, WebhookEndpointId,
};
use crate::secrets::random_alphanumeric;
use crate::store::Outcome;

/// Random characters after `whsec_`: 238 bits.
const SECRET_RANDOM_CHARS: usize = 40;
/// How long a rotated-out secret still signs, beside the new one.
const ROTATED_SECRET_SIGNS_SECS: i64 = 24 * 60 * 60;
/// Endpoints one account may have.
const ENDPOINTS_MAX: usize = 16;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateEndpoint {
    url: String,
    enabled_events: Vec<String>,
    description: Option<String>,
}

pub async fn create(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let input: CreateEndpoint = request.json()?;
    let url = checked_url(app, &input.url).await?;
    if app.outbox_store.endpoints(account)?.len() >= ENDPOINTS_MAX {
        return Err(ApiError::validation(
            "url",
            format!("an account has at most {ENDPOINTS_MAX} webhook endpoints"),
        ));
    }
    let secret = new_secret();
    let endpoint = WebhookEndpoint {
        id: WebhookEndpointId::generate(),
        account: account.clone(),
        url,
        enabled_events: enabled_events(input.enabled_events)?,
        description: validate::text("description", input.description)?,
        status: EndpointStatus::Enabled,
        secret: secret.clone(),
        previous_secret: None,
        failing_since: None,
        created: now_unix_secs(),
    };
    let answer = idempotency::run(app, account, request, |ticket| async move {
        save(app, &endpoint, ticket).await?;
        tracing::info!(%account, endpoint = %endpoint.id, "webhook endpoint created");
        Ok(Outcome::WebhookEndpoint(without_secrets(endpoint)))
    })
    .await?;
    Ok(with_secret(answer, &secret))
}

pub async fn retrieve(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    Ok(Reply::ok(webhook_views::endpoint(&find(app, account, id)?, None)))
}

/// Newest first; an account has a handful, paged in memory.
pub async fn list(app: &App, request: &ApiRequest, account: &AccountId) -> Result<Reply, ApiError> {
    let page = PageRequest::parse(&request.query)?;
    let mut endpoints = app.outbox_store.endpoints(account)?;
    endpoints.reverse();
    let (found, has_more) = page.apply(endpoints, |endpoint| endpoint.id.as_str());
    let data = found.iter().map(|endpoint| webhook_views::endpoint(endpoint, None)).collect();
    Ok(Reply::ok(crate::api::views::list(data, has_more)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateEndpoint {
    url: Option<String>,
    enabled_events: Option<Vec<String>>,
    description: Option<String>,
    disabled: Option<bool>,
}

pub async fn update(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    let input: UpdateEndpoint = request.json()?;
    let mut endpoint = find(app, account, id)?;
    if let Some(url) = input.url {
        endpoint.url = checked_url(app, &url).await?;
    }
    if let Some(events) = input.enabled_events {
        endpoint.enabled_events = enabled_events(events)?;
    }
    if input.description.is_some() {
        endpoint.description = validate::text("description", input.description)?;
    }
    match input.disabled {
        Some(true) => endpoint.status = EndpointStatus::Disabled,
        Some(false) => {
            endpoint.status = EndpointStatus::Enabled;
            endpoint.failing_since = None;
        }
        None => {}
    }
    let answer = idempotency::run(app, account, request, |ticket| async move {
        save(app, &endpoint, ticket).await?;
        Ok(Outcome::WebhookEndpoint(without_secrets(endpoint)))
    })
    .await?;
    Ok(Reply::answer(answer))
}

pub async fn delete(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    let endpoint = find(app, account, id)?;
    app.outbox_store.remove_endpoint(account, &endpoint.id)?.wait().await?;
    app.outbox.endpoint_changed(account, &endpoint.id).await;
    tracing::info!(%account, endpoint = %endpoint.id, "webhook endpoint deleted");
    Ok(Reply::ok(
        json!({ "id": endpoint.id.as_str(), "object": "webhook_endpoint", "deleted": true }),
    ))
}

/// A new secret; the old one signs beside it for a day, so receivers can move over.
pub async fn rotate_secret(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    let mut endpoint = find(app, account, id)?;
    let secret = new_secret();
    let until = now_unix_secs() + ROTATED_SECRET_SIGNS_SECS;
    let previous = std::mem::replace(&mut endpoint.secret, secret.clone());
    endpoint.previous_secret = Some(RetiringSecret { secret: previous, until });
    let answer = idempotency::run(app, account, request, |ticket| async move {
        save(app, &endpoint, ticket).await?;
        tracing::info!(%account, endpoint = %endpoint.id, "webhook endpoint secret rotated");
        Ok(Outcome::WebhookEndpoint(without_secrets(endpoint)))
    })
    .await?;
    Ok(with_secret(answer, &secret))
}

pub async fn deliveries(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    let endpoint = find(app, account, id)?;
    let page = PageRequest::parse(&request.query)?;
    let starting_after = match &page.starting_after {
        Some(id) => Some(EventId::parse(id).ok_or_else(|| {
            ApiError::validation("starting_after", format!("`{id}` is not an event id"))
        })?),
        None => None,
    };
    let found =
        app.outbox_store.deliveries(account, &endpoint.id, page.limit, starting_after.as_ref())?;
    let data = found.items.iter().map(webhook_views::delivery).collect();
    Ok(Reply::ok(crate::api::views::list(data, found.has_more)))
}

/// The account's endpoint with this id, or a 404.
pub(super) fn find(app: &App, account: &AccountId, id: &str) -> Result<WebhookEndpoint, ApiError> {
    let not_found = || ApiError::not_found("webhook_endpoint", id);
    let id = WebhookEndpointId::parse(id).ok_or_else(not_found)?;
    app.outbox_store.endpoint(account, &id)?.ok_or_else(not_found)
}

/// Writes the endpoint with the answer of the request that changed it, and tells the
/// dispatcher.
async fn save(
    app: &App,
    endpoint: &WebhookEndpoint,
    ticket: Option<crate::actor::IdempotencyTicket>,
) -> Result<(), ApiError> {
    let outcome = Outcome::WebhookEndpoint(without_secrets(endpoint.clone()));
    let record = ticket.map(|ticket| idempotency::completed(ticket, outcome));
    let answered = record.as_ref().map(|(key, record)| (key.as_str(), record));
    app.outbox_store.put_endpoint(endpoint, answered)?.wait().await?;
    app.outbox.endpoint_changed(&endpoint.account, &endpoint.id).await;
    Ok(())
}

async fn checked_url(app: &App, url: &str) -> Result<String, ApiError> {
    let refused = |reason: String| ApiError::validation("url", format!("`url` must be {reason}"));
    let parsed = app.outbox.policy.check_url(url).map_err(refused)?;
    app.outbox.policy.check_resolved(&parsed).await.map_err(refused)?;
    Ok(parsed.to_string())
}

fn enabled_events(events: Vec<String>) -> Result<Vec<String>, ApiError> {
    if events.is_empty() {
        return Err(ApiError::validation(
            "enabled_events",
            "`enabled_events` names at least one event type, or \"*\" for all",
        ));
    }
    for event in &events {
        if event != "*" && !EVENT_TYPES.contains(&event.as_str()) {
            return Err(ApiError::validation(
                "enabled_events",
                format!("`{event}` is not an event type; the types are {}", EVENT_TYPES.join(", ")),
            ));
        }
    }
    let mut events = events;
    events.sort();
    events.dedup();
    Ok(events)
}

fn new_secret() -> String {
    format!("whsec_{}", random_alphanumeric(SECRET_RANDOM_CHARS))
}

/// The endpoint as an idempotency record keeps it: a replay never shows a secret.
fn without_secrets(mut endpoint: WebhookEndpoint) -> WebhookEndpoint {
    endpoint.secret = String::new();
    endpoint.previous_secret = None;
    endpoint
}

/// The answer, with the new secret in it unless it is a replay.
fn with_secret(answer: idempotency::Answer, secret: &str) -> Reply {
    let Outcome::WebhookEndpoint(endpoint) = &answer.outcome else {
        return Reply::answer(answer);
    };
    let secret = (!answer.replayed).then_some(secret);
    Reply {
        status: warp::http::StatusCode::OK,
        body: Body::json(&webhook_views::endpoint(endpoint, secret)),
        replayed: answer.replayed,
    }
}
