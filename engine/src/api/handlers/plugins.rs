//! `GET /v1/plugins`, `PUT /v1/plugins/{kind}` (the component's bytes, `application/wasm`),
//! `POST /v1/plugins/{kind}/rollback`. Each account has its own rules; the bundled ones are
//! version 0 of every kind.

use super::Reply;
use crate::api::error::ApiError;
use crate::api::request::ApiRequest;
use crate::api::{App, idempotency, views};
use crate::domain::{AccountId, KindListing, PluginKind};
use crate::store::Outcome;

fn kind(text: &str) -> Result<PluginKind, ApiError> {
    // The kinds are pricing, proration and tax; any other is a path that does not exist.
    PluginKind::parse(text).ok_or_else(|| ApiError::not_found("plugin kind", text))
}

pub async fn list(app: &App, account: &AccountId) -> Result<Reply, ApiError> {
    let listings = app.rules.catalog().list(account)?;
    Ok(Reply::ok(views::list(listings.iter().map(views::plugin).collect(), false)))
}

pub async fn upload(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    kind_segment: &str,
) -> Result<Reply, ApiError> {
    let kind = kind(kind_segment)?;
    let content_type = request.header("content-type").unwrap_or("");
    if content_type.split(';').next().map(str::trim) != Some("application/wasm") {
        return Err(ApiError::plugin_invalid(format!(
            "send the component's bytes with `Content-Type: application/wasm` (got `{content_type}`)"
        )));
    }
    if request.body.is_empty() {
        return Err(ApiError::plugin_invalid("the body is empty: send the component's bytes"));
    }
    let listing = app.rules.catalog().upload(account, kind, request.body.to_vec()).await?;
    Ok(Reply::ok(views::plugin(&listing)))
}

/// Under the request's `Idempotency-Key`: a retried rollback is answered from its record and
/// does not go back a second version.
pub async fn roll_back(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    kind_segment: &str,
) -> Result<Reply, ApiError> {
    let kind = kind(kind_segment)?;
    let answer = idempotency::run(app, account, request, |ticket| async move {
        let answered = Box::new(move |listing: &KindListing| {
            ticket.map(|ticket| idempotency::completed(ticket, Outcome::Plugin(listing.clone())))
        });
        let listing = app.rules.catalog().roll_back(account, kind, answered).await?;
        Ok(Outcome::Plugin(listing))
    })
    .await?;
    Ok(Reply::answer(answer))
}
