//! `GET /v1/sandbox/ledger`: what the sandbox "processor" charged and refunded, newest first, so
//! anyone can reconcile the engine against it: each account sees its own charges and refunds
//! only. Served only while the sandbox is enabled.

use super::Reply;
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, views};
use crate::domain::AccountId;

pub async fn ledger(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let sandbox = app
        .sandbox
        .as_ref()
        .ok_or_else(|| ApiError::route_not_found(request.method.as_str(), &request.path))?;
    let page = PageRequest::parse(&request.query)?;
    let (entries, has_more) = sandbox
        .ledger(account.as_str(), page.limit, page.starting_after.as_deref())
        .map_err(ApiError::internal)?;
    Ok(Reply::ok(views::list(entries.iter().map(views::ledger_entry).collect(), has_more)))
}
