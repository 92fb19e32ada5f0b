//! `GET /v1/customers/{id}/audit_events` and `GET /v1/audit_events`: the audit trail, newest
//! first. Every change a customer's actor makes writes one event in the same atomic change set,
//! naming who made it (the API key, or the engine) and the request; the API offers no way to
//! change or remove one.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Reply;
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, validate, views};
use crate::domain::{AccountId, Actor, Event, EventId, EventKind};
use crate::store::AuditFilter;

const FILTERS: [&str; 4] = ["type", "object", "created[gte]", "created[lte]"];

fn filter(found: &HashMap<String, String>) -> Result<AuditFilter, ApiError> {
    let kind = match found.get("type") {
        Some(text) => Some(EventKind::parse(text).ok_or_else(|| {
            let kinds: Vec<&str> = EventKind::ALL.iter().map(|kind| kind.as_str()).collect();
            ApiError::validation("type", format!("`type` is one of {}", kinds.join(", ")))
        })?),
        None => None,
    };
    Ok(AuditFilter {
        kind,
        object_id: validate::object_id_filter("object", found.get("object"))?,
        created_gte: validate::unix_time_filter("created[gte]", found.get("created[gte]"))?,
        created_lte: validate::unix_time_filter("created[lte]", found.get("created[lte]"))?,
    })
}

fn cursor(page: &PageRequest) -> Result<Option<EventId>, ApiError> {
    page.starting_after
        .as_deref()
        .map(|id| {
            EventId::parse(id).ok_or_else(|| {
                ApiError::validation("starting_after", format!("`{id}` is not an audit event id"))
            })
        })
        .transpose()
}

pub async fn list(app: &App, request: &ApiRequest, account: &AccountId) -> Result<Reply, ApiError> {
    let (page, found) = PageRequest::parse_filtered(&request.query, &FILTERS)?;
    let filter = filter(&found)?;
    let starting_after = cursor(&page)?;
    let found = app.queries.audit_events(account, &filter, page.limit, starting_after.as_ref())?;
    Ok(Reply::ok(views::list(found.items.iter().map(audit_event).collect(), found.has_more)))
}

/// One customer's trail: held in memory whole, as a customer's own history is.
pub async fn list_for_customer(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    customer: &str,
) -> Result<Reply, ApiError> {
    let (page, found) = PageRequest::parse_filtered(&request.query, &FILTERS)?;
    let filter = filter(&found)?;
    cursor(&page)?;
    let customer = super::customers::find(app, account, customer)?.id;
    let mut events = app.queries.events(account, &customer)?;
    events.retain(|event| filter.keeps(event));
    events.reverse();
    let (events, has_more) = page.apply(events, |event| event.id.as_str());
    Ok(Reply::ok(views::list(events.iter().map(audit_event).collect(), has_more)))
}

/// An event as the API shows it. Events written before the actor was recorded show a request's
/// key as unknown (`id` null).
fn audit_event(event: &Event) -> Value {
    let from_request = event.cause.starts_with("req_");
    let actor = match &event.actor {
        Some(Actor::ApiKey(key)) => json!({"type": "api_key", "id": key}),
        Some(Actor::System) => json!({"type": "system", "id": event.cause}),
        None if from_request => json!({"type": "api_key", "id": null}),
        None => json!({"type": "system", "id": event.cause}),
    };
    json!({
        "id": event.id.as_str(),
        "object": "audit_event",
        "type": event.kind.as_str(),
        "object_id": event.object_id,
        "actor": actor,
        "request_id": from_request.then_some(event.cause.as_str()),
        "before": event.before,
        "after": event.after,
        "created": event.created,
    })
}
