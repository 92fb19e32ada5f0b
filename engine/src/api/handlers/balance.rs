//! `GET /v1/balance`, `GET /v1/payees/{id}/balance` and `GET /v1/balance_transactions`: the
//! platform's balance and each payee's as the books hold them, and the postings that moved
//! them, newest first. All are read from the books (see [`crate::ledger`]), never from
//! counters beside them.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::Reply;
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, validate, views};
use crate::domain::money::currency_code;
use crate::domain::{AccountId, LedgerAccount, Posting, PostingKind, TransactionId};
use crate::ledger::balances::payee_balance;
use crate::store::PostingFilter;

const FILTERS: [&str; 5] = ["type", "source", "payee", "created[gte]", "created[lte]"];

pub async fn retrieve(app: &App, account: &AccountId) -> Result<Reply, ApiError> {
    let totals = app.queries.ledger_totals(account)?;
    // Money posted is available at once: a gateway's settlement delay is not posted yet.
    let mut sums = Sums::new();
    for kept in totals.iter().filter(|kept| kept.account == LedgerAccount::Platform) {
        sums.entry(currency_code(kept.currency)).or_default().available +=
            kept.balance.credit_balance();
    }
    Ok(Reply::ok(balance(&sums)))
}

/// A payee's balance: what its shares came to, less fees, reversals and payouts, available
/// once their delay has passed (on the payee's test clock's time when it has one), pending until
/// then.
pub async fn retrieve_for_payee(
    app: &App,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    let payee = super::payees::find(app, account, id)?;
    let now = app.payouts.now_for(&payee)?;
    let amounts = payee_balance(app.queries.ledger(), account, &payee.id, now)?;
    let mut sums = Sums::new();
    for (currency, amount) in amounts {
        let sum = sums.entry(currency_code(currency)).or_default();
        sum.available = amount.available;
        sum.pending = amount.pending;
    }
    Ok(Reply::ok(balance(&sums)))
}

/// A balance's amounts per currency (its lower-case code), in order.
type Sums = BTreeMap<String, Sum>;

#[derive(Default)]
struct Sum {
    available: i64,
    pending: i64,
}

/// A balance as the API shows it.
fn balance(sums: &Sums) -> Value {
    let amounts = |pick: fn(&Sum) -> i64| -> Vec<Value> {
        sums.iter()
            .map(|(currency, sum)| json!({"amount": pick(sum), "currency": currency}))
            .collect()
    };
    json!({
        "object": "balance",
        "available": amounts(|sum| sum.available),
        "pending": amounts(|sum| sum.pending),
    })
}

pub async fn list(app: &App, request: &ApiRequest, account: &AccountId) -> Result<Reply, ApiError> {
    let (page, found) = PageRequest::parse_filtered(&request.query, &FILTERS)?;
    let mut filter = filter(&found)?;
    // A payee's transactions show what moved its balance; the account's, the platform's.
    let held_by = match found.get("payee") {
        Some(id) => {
            let payee =
                super::payees::find(app, account, id).map_err(|error| error.with_param("payee"))?;
            filter.payee = Some(payee.id.clone());
            LedgerAccount::Payee { payee: payee.id }
        }
        None => LedgerAccount::Platform,
    };
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
    filter.moved = Some(held_by.clone());
    let found = app.queries.postings(account, &filter, page.limit, starting_after.as_ref())?;
    let data = found.items.iter().map(|posting| balance_transaction(posting, &held_by)).collect();
    Ok(Reply::ok(views::list::<Value>(data, found.has_more)))
}

fn filter(found: &HashMap<String, String>) -> Result<PostingFilter, ApiError> {
    let kind = match found.get("type") {
        Some(text) => {
            let kinds = PostingKind::ALL.into_iter().filter(|kind| kind.moves_money());
            let kinds: Vec<PostingKind> = kinds.collect();
            let found = kinds.iter().find(|kind| kind.as_str() == text).copied();
            Some(found.ok_or_else(|| {
                let names: Vec<&str> = kinds.iter().map(|kind| kind.as_str()).collect();
                ApiError::validation("type", format!("`type` is one of {}", names.join(", ")))
            })?)
        }
        None => None,
    };
    Ok(PostingFilter {
        kind,
        source: validate::object_id_filter("source", found.get("source"))?,
        payee: None,
        created_gte: validate::unix_time_filter("created[gte]", found.get("created[gte]"))?,
        created_lte: validate::unix_time_filter("created[lte]", found.get("created[lte]"))?,
        money_only: true,
        moved: None,
    })
}

/// A posting as the API shows it: what it moved into `held_by`'s balance (`net`), and for the
/// platform's charges, the gateway's fee out of the `amount` that came in.
fn balance_transaction(posting: &Posting, held_by: &LedgerAccount) -> Value {
    let (net, fee) = (posting.net_for(held_by), posting.fee_for(held_by));
    json!({
        "id": posting.id.as_str(),
        "object": "balance_transaction",
        "amount": net + fee,
        "fee": fee,
        "net": net,
        "currency": currency_code(posting.currency),
        "type": posting.kind.as_str(),
        "source": posting.source,
        "customer": posting.customer.as_ref().map(|customer| customer.as_str()),
        "payee": posting.payee.as_ref().map(|payee| payee.as_str()),
        "available_on": posting.available_on,
        "created": posting.created,
    })
}
