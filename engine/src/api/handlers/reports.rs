//! `GET /v1/reports/revenue`, `GET /v1/reports/subscriptions` and
//! `GET /v1/payees/{id}/statement`: the reports of [`crate::reports`], as JSON, or as CSV (the
//! same columns) when the request says `Accept: text/csv`. Every range is `from` to `to`, Unix
//! seconds, `[from, to)`, at most ten years.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Body, Reply, payees};
use crate::api::error::ApiError;
use crate::api::request::ApiRequest;
use crate::api::{App, validate};
use crate::domain::money::currency_code;
use crate::domain::{AccountId, TestClockId};
use crate::reports::revenue::{Basis, RevenueQuery, RevenueRow, revenue};
use crate::reports::statement::statement;
use crate::reports::subscriptions::figures;
use crate::reports::{Granularity, csv};

/// The longest range a report covers.
const RANGE_MAX_SECS: i64 = 3_660 * 86_400;

pub async fn revenue_report(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let names = ["from", "to", "granularity", "currency", "basis", "test_clock"];
    let query = Query::parse(request, &names)?;
    let (from, to) = query.range()?;
    let granularity = match query.get("granularity") {
        None => Granularity::Month,
        Some(text) => Granularity::parse(text).ok_or_else(|| {
            ApiError::validation("granularity", "`granularity` is `day` or `month`")
        })?,
    };
    let basis = match query.get("basis") {
        None => Basis::Cash,
        Some(text) => Basis::parse(text).ok_or_else(|| {
            ApiError::validation("basis", "`basis` is `cash`, `billings` or `recognized`")
        })?,
    };
    let currency = query.get("currency").map(|code| validate::currency(code)).transpose()?;
    let test_clock = query.test_clock(app, account)?;
    if test_clock.is_some() && basis == Basis::Cash {
        return Err(ApiError::validation(
            "test_clock",
            "a test clock's revenue is reported on the `billings` or `recognized` basis: money moves at wall-clock time",
        ));
    }
    let asked = RevenueQuery { from, to, granularity, currency, basis, test_clock };
    let store = app.queries.store();
    let rows = revenue(store, account, &asked)?;
    if wants_csv(request) {
        return Ok(csv_reply(csv::revenue(&rows)));
    }
    let data: Vec<Value> = rows.iter().map(revenue_row).collect();
    Ok(Reply::ok(json!({
        "object": "list",
        "basis": basis.as_str(),
        "granularity": match granularity { Granularity::Day => "day", Granularity::Month => "month" },
        "from": from,
        "to": to,
        "data": data,
        "has_more": false,
    })))
}

fn revenue_row(row: &RevenueRow) -> Value {
    let revenue = &row.revenue;
    json!({
        "period_start": row.period_start,
        "currency": currency_code(row.currency),
        "gross": revenue.gross,
        "discounts": revenue.discounts,
        "tax": revenue.tax,
        "refunds": revenue.refunds,
        "disputes": revenue.disputes,
        "fees": revenue.fees,
        "net": revenue.net(),
    })
}

pub async fn subscriptions_report(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let query = Query::parse(request, &["from", "to", "test_clock"])?;
    let (from, to) = query.range()?;
    let test_clock = query.test_clock(app, account)?;
    let found = figures(app.queries.store(), account, test_clock.as_ref(), from, to)?;
    if wants_csv(request) {
        return Ok(csv_reply(csv::subscription_months(&found.months)));
    }
    let amounts = |each: &dyn Fn(i64) -> i64| -> Vec<Value> {
        found
            .mrr
            .iter()
            .map(|(code, (_, amount))| json!({"currency": code, "amount": each(*amount)}))
            .collect()
    };
    let plans: Vec<Value> = found
        .plans
        .iter()
        .map(|plan| {
            json!({
                "plan": plan.plan.as_str(),
                "currency": currency_code(plan.currency),
                "mrr": plan.mrr,
                "subscriptions": plan.by_status,
            })
        })
        .collect();
    let months: Vec<Value> = found
        .months
        .iter()
        .map(|month| {
            json!({
                "month_start": month.month_start,
                "currency": currency_code(month.currency),
                "new_mrr": month.new_mrr,
                "churned_mrr": month.churned_mrr,
                "mrr": month.mrr,
            })
        })
        .collect();
    Ok(Reply::ok(json!({
        "object": "subscription_report",
        "basis": "billings",
        "from": from,
        "to": to,
        "mrr": amounts(&|amount| amount),
        "arr": amounts(&|amount| amount * 12),
        "plans": plans,
        "months": months,
    })))
}

pub async fn payee_statement(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    let payee = payees::find(app, account, id)?;
    let query = Query::parse(request, &["from", "to"])?;
    let (from, to) = query.range()?;
    let found = statement(app.queries.ledger(), account, &payee.id, from, to)?;
    if wants_csv(request) {
        return Ok(csv_reply(csv::statement(&found)));
    }
    let balances = |kept: &std::collections::BTreeMap<String, (crate::domain::Currency, i64)>| {
        kept.iter()
            .map(|(code, (_, amount))| json!({"currency": code, "amount": amount}))
            .collect::<Vec<Value>>()
    };
    let lines: Vec<Value> = found
        .lines
        .iter()
        .map(|line| {
            json!({
                "balance_transaction": line.posting.id.as_str(),
                "type": line.posting.kind.as_str(),
                "source": line.posting.source,
                "currency": currency_code(line.posting.currency),
                "amount": line.amount,
                "balance": line.balance,
                "available_on": line.posting.available_on,
                "created": line.posting.created,
            })
        })
        .collect();
    Ok(Reply::ok(json!({
        "object": "payee_statement",
        "basis": "cash",
        "payee": payee.id.as_str(),
        "from": from,
        "to": to,
        "opening_balance": balances(&found.opening),
        "lines": lines,
        "closing_balance": balances(&found.closing),
    })))
}

/// Whether the client asked for CSV.
fn wants_csv(request: &ApiRequest) -> bool {
    request.header("accept").is_some_and(|accept| accept.contains("text/csv"))
}

fn csv_reply(text: String) -> Reply {
    Reply { status: warp::http::StatusCode::OK, body: Body::Csv(text), replayed: false }
}

/// A report's query: only the parameters it names, each once.
struct Query(HashMap<String, String>);

impl Query {
    fn parse(request: &ApiRequest, names: &[&str]) -> Result<Query, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&request.query)
            .map_err(|error| ApiError::validation("query", format!("bad query string: {error}")))?;
        let mut found = HashMap::new();
        for (name, value) in pairs {
            if !names.contains(&name.as_str()) {
                return Err(ApiError::validation(
                    name,
                    format!("this report takes {}", names.join(", ")),
                ));
            }
            if found.insert(name.clone(), value).is_some() {
                return Err(ApiError::validation(name, "given more than once"));
            }
        }
        Ok(Query(found))
    }

    fn get(&self, name: &str) -> Option<&String> {
        self.0.get(name)
    }

    /// The account's test clock named by `test_clock`, if the query names one.
    fn test_clock(&self, app: &App, account: &AccountId) -> Result<Option<TestClockId>, ApiError> {
        let Some(id) = self.get("test_clock") else { return Ok(None) };
        let clock = super::test_clocks::find(app, account, id)
            .map_err(|error| error.with_param("test_clock"))?;
        Ok(Some(clock.id))
    }

    /// `from` and `to`, both required, `from` before `to`, at most ten years apart.
    fn range(&self) -> Result<(i64, i64), ApiError> {
        let required = |name: &str| {
            validate::unix_time_filter(name, self.get(name))?.ok_or_else(|| {
                ApiError::validation(name, format!("`{name}` (Unix seconds) is required"))
            })
        };
        let (from, to) = (required("from")?, required("to")?);
        if to <= from {
            return Err(ApiError::validation("to", "`to` is after `from`"));
        }
        if to - from > RANGE_MAX_SECS {
            return Err(ApiError::validation("to", "a report covers at most ten years"));
        }
        Ok((from, to))
    }
}
