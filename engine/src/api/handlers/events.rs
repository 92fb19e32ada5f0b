//! `GET /v1/events?type=…`: the gateway events ingested for the account, newest first, with
//! whether and how each was applied.

use super::Reply;
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, views};
use crate::domain::{AccountId, EventId};

/// Longest event type accepted as a filter (Stripe's longest is well under it).
const TYPE_LEN_MAX: usize = 100;

pub async fn list(app: &App, request: &ApiRequest, account: &AccountId) -> Result<Reply, ApiError> {
    let (kind, paging) = split_type(&request.query)?;
    let page = PageRequest::parse(&paging)?;
    let starting_after = match &page.starting_after {
        Some(id) => Some(EventId::parse(id).ok_or_else(|| {
            ApiError::validation("starting_after", format!("`{id}` is not an event id"))
        })?),
        None => None,
    };
    let found = app.queries.gateway_events(
        account,
        kind.as_deref(),
        page.limit,
        starting_after.as_ref(),
    )?;
    let data = found.items.iter().map(views::gateway_event).collect();
    Ok(Reply::ok(views::list(data, found.has_more)))
}

/// Takes `type` out of the query, leaving the paging parameters.
fn split_type(query: &str) -> Result<(Option<String>, String), ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|error| ApiError::validation("query", format!("bad query string: {error}")))?;
    let mut kind = None;
    let mut rest = Vec::new();
    for (name, value) in pairs {
        match name.as_str() {
            "type" if kind.is_some() => {
                return Err(ApiError::validation("type", "give `type` once"));
            }
            "type" if value.is_empty() || value.len() > TYPE_LEN_MAX => {
                return Err(ApiError::validation(
                    "type",
                    format!("`type` is an event type of 1 to {TYPE_LEN_MAX} characters"),
                ));
            }
            "type" => kind = Some(value),
            _ => rest.push((name, value)),
        }
    }
    let paging = serde_urlencoded::to_string(rest).unwrap_or_default();
    Ok((kind, paging))
}

#[cfg(test)]
mod tests {
    use super::split_type;

    #[test]
    fn type_is_taken_out_and_paging_kept() {
        let (kind, rest) = split_type("type=charge.refunded&limit=5").unwrap();
        assert_eq!(kind.as_deref(), Some("charge.refunded"));
        assert_eq!(rest, "limit=5");
        assert!(split_type("type=a&type=b").is_err());
        assert!(split_type("type=").is_err());
        assert_eq!(split_type("").unwrap(), (None, String::new()));
    }
}
