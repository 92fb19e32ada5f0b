//! `GET /v1/disputes/{id}`: a dispute a gateway reported on one of the account's charges.

use super::Reply;
use crate::api::error::ApiError;
use crate::api::{App, views};
use crate::domain::{AccountId, DisputeId};

pub async fn retrieve(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    let not_found = || ApiError::not_found("dispute", id);
    let id = DisputeId::parse(id).ok_or_else(not_found)?;
    let dispute = app.queries.dispute(account, &id)?.ok_or_else(not_found)?;
    Ok(Reply::ok(views::dispute(&dispute)))
}
