//! `POST /v1/bank_statements` (camt.053 or CSV), `GET /v1/bank_statements/{id}`, the list, and
//! `POST /v1/bank_statements/{id}/lines/{index}/allocate`: bank transfers reconciled by upload.
//!
//! Every line is resolved before anything is applied (its identity, whether it was seen before,
//! the reference in its narrative, its currency), so a statement that cannot be read whole
//! changes nothing. Matched lines then go to their customers' actors, which apply each with its
//! record in one change set; the rest (unknown references, debits that return nothing) are
//! recorded with the statement. Uploads and allocations of an account run one at a time, so
//! the same line sent twice at once is applied once.

use std::collections::HashMap;

use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Reply;
use crate::actor::CustomerKey;
use crate::actor::bank_transfers::{ApplyBankLines, BankLineInput, LineApplied};
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, validate, views};
use crate::bank_statements::{self, Columns, Format, ParsedLine};
use crate::domain::money::{currency_code, minor_unit_digits};
use crate::domain::time::now_unix_secs;
use crate::domain::{
    AccountId, BankLineRecord, BankStatement, ChargeId, Currency, CustomerId, LineOutcome,
    ReferenceTarget, StatementId, StatementLine, bank_reference,
};
use crate::limits::STATEMENT_CUSTOMERS_IN_FLIGHT;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    columns: Option<String>,
    currency: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AllocateInput {
    charge: Option<String>,
    customer: Option<String>,
}

fn statement_invalid(message: impl Into<String>) -> ApiError {
    ApiError::invalid("statement_invalid", message).with_param("body")
}

/// What the body is, by its `Content-Type`.
fn format_of(app: &App, request: &ApiRequest, query: &UploadQuery) -> Result<Format, ApiError> {
    let content_type = request.header("content-type").unwrap_or("");
    match content_type.split(';').next().map(str::trim) {
        Some("application/xml" | "text/xml") => Ok(Format::Camt053),
        Some("text/csv") => {
            let columns = match &query.columns {
                Some(spec) => {
                    Columns::parse(spec).map_err(|error| ApiError::validation("columns", error))?
                }
                None => app.statement_columns.clone(),
            };
            Ok(Format::Csv(columns))
        }
        _ => Err(ApiError::invalid(
            "statement_invalid",
            format!(
                "send a camt.053 statement as `application/xml` or a CSV export as `text/csv` \
                 (got `{content_type}`)"
            ),
        )
        .with_param("Content-Type")),
    }
}

/// One line, resolved: what it is and where it goes.
struct Resolved {
    line: ParsedLine,
    identity: String,
    amount_minor: i64,
    currency: Currency,
    seen: bool,
    target: Option<ReferenceTarget>,
}

/// The first reference in the narrative that is one of the account's.
fn target_of(
    app: &App,
    account: &AccountId,
    text: &str,
) -> Result<Option<ReferenceTarget>, ApiError> {
    for candidate in bank_reference::candidates(text) {
        if let Some(target) = app.queries.bank_reference(account, &candidate)? {
            return Ok(Some(target));
        }
    }
    Ok(None)
}

/// The currency a line is in: its own (camt), its charge's, its customer's, else the
/// request's `currency`, else the account's default.
fn currency_of(
    app: &App,
    account: &AccountId,
    line: &ParsedLine,
    target: Option<&ReferenceTarget>,
    fallback: Option<Currency>,
) -> Result<Option<Currency>, ApiError> {
    if let Some(currency) = line.currency {
        return Ok(Some(currency));
    }
    if let Some(target) = target {
        if let Some(charge) = &target.charge
            && let Some(charge) = app.queries.charge(account, charge)?
        {
            return Ok(Some(charge.amount.currency));
        }
        if let Some(customer) = app.queries.customer(account, &target.customer)?
            && customer.currency.is_some()
        {
            return Ok(customer.currency);
        }
    }
    Ok(fallback)
}

fn resolve_lines(
    app: &App,
    account: &AccountId,
    lines: Vec<ParsedLine>,
    fallback: Option<Currency>,
) -> Result<Vec<Resolved>, ApiError> {
    let identities = bank_statements::identities(&lines);
    let mut resolved = Vec::with_capacity(lines.len());
    let mut in_file = std::collections::HashSet::with_capacity(lines.len());
    for (index, (line, identity)) in lines.into_iter().zip(identities).enumerate() {
        // The bank's entry reference twice in one file is one entry listed twice.
        let seen = !in_file.insert(identity.clone())
            || app.queries.bank_line(account, &identity)?.is_some();
        let target = match seen {
            true => None,
            false => target_of(app, account, &line.reference_text)?,
        };
        let currency =
            currency_of(app, account, &line, target.as_ref(), fallback)?.ok_or_else(|| {
                ApiError::invalid(
                    "statement_invalid",
                    format!(
                        "line {index}: no currency: the statement names none, the line matches no \
                     charge or customer, and neither `?currency=` nor the account's \
                     `default_currency` is set"
                    ),
                )
                .with_param("currency")
            })?;
        let digits = u32::from(minor_unit_digits(currency));
        let amount_minor = line.amount.to_minor(digits).ok_or_else(|| {
            statement_invalid(format!(
                "line {index}: the amount has more decimals than {} has",
                currency_code(currency)
            ))
        })?;
        resolved.push(Resolved { line, identity, amount_minor, currency, seen, target });
    }
    Ok(resolved)
}

/// Sends each customer its lines, customers at once; answers what each line did, by index.
async fn apply_matched(
    app: &App,
    account: &AccountId,
    request: &ApiRequest,
    resolved: &[Resolved],
) -> Result<HashMap<usize, LineApplied>, ApiError> {
    // Each customer's lines in file order; customers in the order they first appear.
    let mut by_customer: Vec<(CustomerId, Vec<usize>)> = Vec::new();
    let mut place: HashMap<&CustomerId, usize> = HashMap::new();
    for (index, line) in resolved.iter().enumerate() {
        let Some(target) = line.target.as_ref().filter(|_| !line.seen) else { continue };
        match place.get(&target.customer) {
            Some(at) => by_customer[*at].1.push(index),
            None => {
                place.insert(&target.customer, by_customer.len());
                by_customer.push((target.customer.clone(), vec![index]));
            }
        }
    }
    let cause = request.cause();
    let answers: Vec<Result<Vec<(usize, LineApplied)>, ApiError>> =
        futures::stream::iter(by_customer)
            .map(|(customer, indexes)| {
                let key = CustomerKey { account: account.clone(), customer };
                let lines = indexes
                    .iter()
                    .map(|index| {
                        let line = &resolved[*index];
                        BankLineInput {
                            identity: line.identity.clone(),
                            booked_at: line.line.booked_at,
                            amount_minor: line.amount_minor,
                            currency: line.currency,
                            target: line.target.clone().expect("matched lines have a target"),
                        }
                    })
                    .collect();
                let message = ApplyBankLines { lines, cause: cause.clone() };
                async move {
                    let applied = app.registry.send(&key, message).await??;
                    Ok(indexes.into_iter().zip(applied).collect())
                }
            })
            .buffer_unordered(STATEMENT_CUSTOMERS_IN_FLIGHT)
            .collect()
            .await;
    let mut applied = HashMap::new();
    for answer in answers {
        applied.extend(answer?);
    }
    Ok(applied)
}

pub async fn upload(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let query: UploadQuery = request.query()?;
    let format = format_of(app, request, &query)?;
    let fallback = match &query.currency {
        Some(code) => Some(validate::currency(code)?),
        None => app.accounts.settings(account).default_currency,
    };
    let (lines, skipped) = bank_statements::parse(&format, &request.body)
        .map_err(|error| statement_invalid(error.to_string()))?;
    let _one_at_a_time = app.statement_lock.lock().await;
    let resolved = resolve_lines(app, account, lines, fallback)?;
    let applied = apply_matched(app, account, request, &resolved).await?;
    for done in applied.values().filter(|done| !done.invoices_paid.is_empty()) {
        let key = CustomerKey { account: account.clone(), customer: done.customer.clone() };
        super::hosted_pages::close_after_payment(app, &key, &done.invoices_paid).await;
    }
    let mut statement_lines = Vec::with_capacity(resolved.len());
    let mut records = Vec::new();
    for (index, line) in resolved.into_iter().enumerate() {
        let (outcome, charge, customer) = match applied.get(&index) {
            Some(done) => (done.outcome, done.charge.clone(), Some(done.customer.clone())),
            None if line.seen => (LineOutcome::Duplicate, None, None),
            None if line.amount_minor < 0 => (LineOutcome::Debit, None, None),
            None => (LineOutcome::Unmatched, None, None),
        };
        // What no customer's change set recorded is recorded with the statement, so the line
        // is a duplicate the next time too.
        if matches!(outcome, LineOutcome::Unmatched | LineOutcome::Debit) {
            records.push((
                line.identity.clone(),
                BankLineRecord {
                    outcome,
                    amount_minor: line.amount_minor,
                    currency: line.currency,
                    booked_at: line.line.booked_at,
                    customer: None,
                    charge: None,
                    invoices_paid: Vec::new(),
                    credited_minor: 0,
                    reversed: false,
                },
            ));
        }
        statement_lines.push(StatementLine {
            index: index as u32,
            booked_at: line.line.booked_at,
            amount_minor: line.amount_minor,
            currency: line.currency,
            reference_text: line.line.reference_text,
            outcome,
            charge,
            customer,
            identity: line.identity,
        });
    }
    let statement = BankStatement {
        id: StatementId::generate(),
        lines: statement_lines,
        skipped_lines: skipped as u32,
        created: now_unix_secs(),
    };
    app.statement_store.put_statement(account, &statement, &records)?.wait().await?;
    tracing::info!(statement = %statement.id, lines = statement.lines.len(), skipped, "bank statement reconciled");
    Ok(Reply::ok(statement_view(&statement)))
}

fn find(app: &App, account: &AccountId, id: &str) -> Result<BankStatement, ApiError> {
    let not_found = || ApiError::not_found("bank_statement", id);
    let id = StatementId::parse(id).ok_or_else(not_found)?;
    app.statement_store.statement(account, &id)?.ok_or_else(not_found)
}

pub async fn retrieve(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    Ok(Reply::ok(statement_view(&find(app, account, id)?)))
}

pub async fn list(app: &App, request: &ApiRequest, account: &AccountId) -> Result<Reply, ApiError> {
    let page = PageRequest::parse(&request.query)?;
    let starting_after = match &page.starting_after {
        Some(id) => Some(
            StatementId::parse(id)
                .ok_or_else(|| ApiError::validation("starting_after", "no such statement"))?,
        ),
        None => None,
    };
    let found = app.statement_store.statements(account, page.limit, starting_after.as_ref())?;
    let data: Vec<Value> = found.items.iter().map(statement_view).collect();
    Ok(Reply::ok(views::list(data, found.has_more)))
}

/// Applies an unmatched line to the charge or customer the platform names.
pub async fn allocate(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
    index: &str,
) -> Result<Reply, ApiError> {
    let input: AllocateInput = request.json()?;
    let target = match (input.charge, input.customer) {
        (Some(charge), None) => {
            let not_found = || ApiError::not_found("charge", &charge);
            let id = ChargeId::parse(&charge).ok_or_else(not_found)?;
            let found = app.queries.charge(account, &id)?.ok_or_else(not_found)?;
            if found.bank_transfer.is_none() {
                return Err(ApiError::invalid(
                    "statement_line_invalid",
                    format!("charge {id} is not paid by bank transfer"),
                )
                .with_param("charge"));
            }
            ReferenceTarget { customer: found.customer, charge: Some(id) }
        }
        (None, Some(customer)) => {
            let found = super::customers::find(app, account, &customer)?;
            ReferenceTarget { customer: found.id, charge: None }
        }
        _ => {
            return Err(ApiError::validation("charge", "give `charge` or `customer`, one of them"));
        }
    };
    let _one_at_a_time = app.statement_lock.lock().await;
    let mut statement = find(app, account, id)?;
    let line = index
        .parse::<usize>()
        .ok()
        .and_then(|index| statement.lines.get_mut(index))
        .ok_or_else(|| ApiError::not_found("statement line", index))?;
    if line.outcome != LineOutcome::Unmatched {
        return Err(ApiError::invalid(
            "statement_line_invalid",
            format!(
                "line {index} is {}: only an unmatched line is allocated",
                line.outcome.as_str()
            ),
        ));
    }
    let key = CustomerKey { account: account.clone(), customer: target.customer.clone() };
    let message = ApplyBankLines {
        lines: vec![BankLineInput {
            identity: line.identity.clone(),
            booked_at: line.booked_at,
            amount_minor: line.amount_minor,
            currency: line.currency,
            target,
        }],
        cause: request.cause(),
    };
    let applied = app.registry.send(&key, message).await??;
    let done = applied.into_iter().next().ok_or_else(|| ApiError::internal("no line applied"))?;
    if done.outcome == LineOutcome::Unmatched {
        return Err(ApiError::invalid(
            "statement_line_invalid",
            format!(
                "line {index} is in {}, which the charge or customer does not bill in",
                currency_code(line.currency)
            ),
        ));
    }
    super::hosted_pages::close_after_payment(app, &key, &done.invoices_paid).await;
    line.outcome = done.outcome;
    line.charge = done.charge;
    line.customer = Some(done.customer);
    app.statement_store.put_statement(account, &statement, &[])?.wait().await?;
    Ok(Reply::ok(statement_view(&statement)))
}

pub fn statement_view(statement: &BankStatement) -> Value {
    json!({
        "id": statement.id.as_str(),
        "object": "bank_statement",
        "lines": statement.lines.iter().map(|line| json!({
            "index": line.index,
            "booked_at": line.booked_at,
            "amount": line.amount_minor,
            "currency": currency_code(line.currency),
            "reference_text": line.reference_text,
            "outcome": line.outcome.as_str(),
            "charge": line.charge.as_ref().map(|id| id.as_str()),
            "customer": line.customer.as_ref().map(|id| id.as_str()),
        })).collect::<Vec<_>>(),
        "skipped_lines": statement.skipped_lines,
        "created": statement.created,
    })
}
