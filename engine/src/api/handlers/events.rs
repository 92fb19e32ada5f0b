//! `GET /v1/events`: the gateway events ingested for the account (`direction=in`, the default),
//! newest first, with whether and how each was applied; or Kassa's own outgoing events
//! (`direction=out`, filtered by `type` and `object`). `POST /v1/events/{id}/redeliver` sends an
//! outgoing event to an endpoint again.

use serde::Deserialize;

use super::Reply;
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, views, webhook_views};
use crate::domain::{AccountId, EventId, OutgoingEvent};
use crate::store::OutgoingFilter;

/// Longest event type accepted as a filter (Stripe's longest is well under it).
const TYPE_LEN_MAX: usize = 100;

pub async fn list(app: &App, request: &ApiRequest, account: &AccountId) -> Result<Reply, ApiError> {
    let (page, mut filters) =
        PageRequest::parse_filtered(&request.query, &["type", "direction", "object"])?;
    let kind = filters.remove("type");
    if let Some(kind) = &kind
        && (kind.is_empty() || kind.len() > TYPE_LEN_MAX)
    {
        return Err(ApiError::validation(
            "type",
            format!("`type` is an event type of 1 to {TYPE_LEN_MAX} characters"),
        ));
    }
    let starting_after = match &page.starting_after {
        Some(id) => Some(EventId::parse(id).ok_or_else(|| {
            ApiError::validation("starting_after", format!("`{id}` is not an event id"))
        })?),
        None => None,
    };
    let object = filters.remove("object");
    match filters.remove("direction").as_deref() {
        None | Some("in") => {
            if object.is_some() {
                return Err(ApiError::validation(
                    "object",
                    "`object` filters outgoing events (`direction=out`)",
                ));
            }
            let found = app.queries.gateway_events(
                account,
                kind.as_deref(),
                page.limit,
                starting_after.as_ref(),
            )?;
            let data = found.items.iter().map(views::gateway_event).collect();
            Ok(Reply::ok(views::list(data, found.has_more)))
        }
        Some("out") => {
            let filter = OutgoingFilter { kind, object_id: object };
            let found = app.outbox_store.outgoing_events(
                account,
                &filter,
                page.limit,
                starting_after.as_ref(),
            )?;
            let data = found.items.iter().map(OutgoingEvent::to_json).collect();
            Ok(Reply::ok(views::list(data, found.has_more)))
        }
        Some(other) => Err(ApiError::validation(
            "direction",
            format!("`direction` is in (the gateways' events) or out (Kassa's), not `{other}`"),
        )),
    }
}

/// One event by id: one Kassa sent (archived ones too), else one a gateway sent.
pub fn retrieve(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    let not_found = || ApiError::not_found("event", id);
    let event = EventId::parse(id).ok_or_else(not_found)?;
    if let Some(outgoing) = app.outbox_store.outgoing_event(account, &event)? {
        return Ok(Reply::ok(outgoing.to_json()));
    }
    match app.queries.gateway_event(account, &event)? {
        Some(ingested) => Ok(Reply::ok(views::gateway_event(&ingested))),
        None => Err(not_found()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Redeliver {
    endpoint: String,
}

/// Sends an outgoing event to one of the account's endpoints again, now, marked
/// `Kassa-Redelivery: true`; answers the delivery with the attempt in it.
pub async fn redeliver(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    let input: Redeliver = request.json()?;
    let not_found = || ApiError::not_found("event", id);
    let event = EventId::parse(id).ok_or_else(not_found)?;
    let endpoint = super::webhook_endpoints::find(app, account, &input.endpoint)
        .map_err(|error| error.with_param("endpoint"))?;
    match app.outbox.redeliver(account, &event, &endpoint.id).await? {
        Some(delivery) => Ok(Reply::ok(webhook_views::delivery(&delivery))),
        None => Err(not_found()),
    }
}
