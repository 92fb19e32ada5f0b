//! `GET /v1/balance` and `GET /v1/balance_transactions`: the platform's balance as the books
//! hold it, and the postings that moved it, newest first. Both are read from the books (see
//! [`crate::ledger`]), never from counters beside them.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::Reply;
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, views};
use crate::domain::money::currency_code;
use crate::domain::{AccountId, LedgerAccount, Posting, PostingKind, TransactionId};
use crate::store::PostingFilter;

const FILTERS: [&str; 4] = ["type", "source", "created[gte]", "created[lte]"];

/// Longest source id a filter takes: every id Kassa makes is far shorter.
const SOURCE_ID_LEN_MAX: usize = 100;

pub async fn retrieve(app: &App, account: &AccountId) -> Result<Reply, ApiError> {
    let totals = app.queries.ledger_totals(account)?;
    // Money posted is available at once: a gateway's settlement delay is not posted yet.
    let mut available: BTreeMap<String, i64> = BTreeMap::new();
    for kept in totals.iter().filter(|kept| kept.account == LedgerAccount::Platform) {
        *available.entry(currency_code(kept.currency)).or_default() +=
            kept.balance.credit_balance();
    }
    let amounts = |pending: bool| -> Vec<Value> {
        available
            .iter()
            .map(|(currency, amount)| {
                json!({"amount": if pending { 0 } else { *amount }, "currency": currency})
            })
            .collect()
    };
    Ok(Reply::ok(json!({
        "object": "balance",
        "available": amounts(false),
        "pending": amounts(true),
    })))
}

pub async fn list(app: &App, request: &ApiRequest, account: &AccountId) -> Result<Reply, ApiError> {
    let (page, found) = PageRequest::parse_filtered(&request.query, &FILTERS)?;
    let filter = filter(&found)?;
    let starting_after = page
        .starting_after
        .as_deref()
        .map(|id| {
            TransactionId::parse(id).ok_or_else(|| {
                ApiError::validation(
                    "starting_after",
                    format!("`{id}` is not a balance transaction id"),
                )
            })
        })
        .transpose()?;
    let found = app.queries.postings(account, &filter, page.limit, starting_after.as_ref())?;
    let data = found.items.iter().map(balance_transaction).collect();
    Ok(Reply::ok(views::list::<Value>(data, found.has_more)))
}

fn filter(found: &HashMap<String, String>) -> Result<PostingFilter, ApiError> {
    let kind = match found.get("type") {
        Some(text) => Some(PostingKind::parse(text).ok_or_else(|| {
            let kinds: Vec<&str> = PostingKind::ALL.iter().map(|kind| kind.as_str()).collect();
            ApiError::validation("type", format!("`type` is one of {}", kinds.join(", ")))
        })?),
        None => None,
    };
    let source = match found.get("source") {
        Some(id)
            if id.is_empty()
                || id.len() > SOURCE_ID_LEN_MAX
                || !id.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_') =>
        {
            return Err(ApiError::validation("source", "`source` is an object's id"));
        }
        other => other.cloned(),
    };
    let time = |name: &str| -> Result<Option<i64>, ApiError> {
        found
            .get(name)
            .map(|text| {
                text.parse::<i64>().ok().filter(|secs| *secs >= 0).ok_or_else(|| {
                    ApiError::validation(name, format!("`{name}` is a Unix time in seconds"))
                })
            })
            .transpose()
    };
    Ok(PostingFilter {
        kind,
        source,
        created_gte: time("created[gte]")?,
        created_lte: time("created[lte]")?,
    })
}

/// A posting as the API shows it: what it moved into the platform's balance. No gateway fee is
/// posted yet, so the net is the amount.
fn balance_transaction(posting: &Posting) -> Value {
    let amount = posting.net_for(&LedgerAccount::Platform);
    json!({
        "id": posting.id.as_str(),
        "object": "balance_transaction",
        "amount": amount,
        "fee": 0,
        "net": amount,
        "currency": currency_code(posting.currency),
        "type": posting.kind.as_str(),
        "source": posting.source,
        "customer": posting.customer.as_ref().map(|customer| customer.as_str()),
        "available_on": posting.available_on,
        "created": posting.created,
    })
}
