//! `kassa-bench-statement`: how long `POST /v1/bank_statements` takes to reconcile a large CSV
//! statement, end to end over HTTP on an engine it starts (`--spawn`, as the load generator
//! does). Setup, unmeasured: the account's bank details, and `matched` customers each with a
//! bank-transfer payment method and one charge awaiting its money. The statement: `lines` lines
//! of which `matched` pay those charges (the exact amount, the reference as a bank writes it)
//! and the rest name no reference. Measured: the upload, then the same file again (every line a
//! duplicate). Afterwards every matched charge must have succeeded and every other line be
//! listed `unmatched`, or the run fails.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use hyper::Method;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use tokio::time::Instant;

use crate::client::{Connection, Exchange};
use crate::error::BenchError;
use crate::limits::{SETUP_CONCURRENCY, STATEMENT_RESPONSE_BYTES_MAX};
use crate::setup::Caller;
use crate::target::{Endpoint, RequestSpec};
use crate::workload::created_id;

/// Each charge the statement pays, in minor units (R 1 250.00).
const CHARGE_AMOUNT_MINOR: u64 = 125_000;
const BANK_DETAILS: &str = r#"{"settings": {"default_currency": "zar", "bank_transfer": {
    "bank_name": "First National Bank", "account_holder": "kassa-bench",
    "account_number": "62000000001", "branch_code": "250655"}}}"#;

/// What one upload took and did.
pub struct Upload {
    pub elapsed: Duration,
    pub outcomes: Vec<String>,
}

/// Sets up `matched` customers with a charge each awaiting a bank transfer; answers the
/// charges' ids and references.
pub async fn set_up(caller: &Caller, matched: usize) -> Result<Vec<(String, String)>, BenchError> {
    let spec = RequestSpec::post("/v1/account", BANK_DETAILS.to_owned(), caller.next_key());
    caller.call(spec).await?;
    stream::iter(0..matched)
        .map(|_| awaited_charge(caller))
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect()
        .await
}

async fn awaited_charge(caller: &Caller) -> Result<(String, String), BenchError> {
    let spec = RequestSpec::post("/v1/customers", "{}".to_owned(), caller.next_key());
    let customer = created_id(&caller.call(spec).await?.body)
        .ok_or_else(|| BenchError::Setup("a created customer had no id".into()))?;
    let path = format!("/v1/customers/{customer}/payment_methods");
    let method = r#"{"type": "bank_transfer"}"#.to_owned();
    caller.call(RequestSpec::post(&path, method, caller.next_key())).await?;
    let body = format!(
        r#"{{"customer": "{customer}", "amount": {CHARGE_AMOUNT_MINOR}, "currency": "zar"}}"#
    );
    let answer = caller.call(RequestSpec::post("/v1/charges", body, caller.next_key())).await?;
    let charge: serde_json::Value = serde_json::from_slice(&answer.body)
        .map_err(|error| BenchError::Setup(format!("a charge's answer: {error}")))?;
    let id = charge["id"].as_str();
    let reference = charge["bank_transfer"]["reference"].as_str();
    match (id, reference, charge["status"].as_str()) {
        (Some(id), Some(reference), Some("processing")) => {
            Ok((id.to_owned(), reference.to_owned()))
        }
        _ => Err(BenchError::Setup(format!("not a charge awaiting a transfer: {charge}"))),
    }
}

/// A statement of `lines` lines: the charges' payments spread through it, each reference split
/// and lower-cased as a bank's narrative writes it, the others naming no reference.
pub fn statement(lines: usize, charges: &[(String, String)]) -> String {
    let mut csv = String::with_capacity(lines * 40);
    csv.push_str("Date,Amount,Description\n");
    let every = (lines / charges.len().max(1)).max(1);
    let mut paying = charges.iter();
    for index in 0..lines {
        let day = index % 28 + 1;
        match (index % every == 0).then(|| paying.next()).flatten() {
            Some((_, reference)) => {
                let (head, tail) = reference.split_at(5);
                let major = CHARGE_AMOUNT_MINOR / 100;
                let _ = writeln!(
                    csv,
                    "2025-12-{day:02},{major}.00,FEES {}-{tail}",
                    head.to_lowercase()
                );
            }
            None => {
                let _ = writeln!(
                    csv,
                    "2025-12-{day:02},{}.{:02},payer {index}",
                    index % 900 + 1,
                    index % 100
                );
            }
        }
    }
    csv
}

/// Posts the statement on a connection of its own and times it to the last byte of the answer.
pub async fn upload(
    endpoint: &Endpoint,
    csv: &str,
    timeout: Duration,
) -> Result<Upload, BenchError> {
    let spec = RequestSpec {
        method: Method::POST,
        path: "/v1/bank_statements".to_owned(),
        body: Some(Bytes::from(csv.to_owned())),
        idempotency_key: None,
        extra_header: Some((CONTENT_TYPE, HeaderValue::from_static("text/csv"))),
    };
    let mut connection = Connection::new(endpoint.address);
    let request = endpoint.request(&spec);
    let started = Instant::now();
    let exchanged =
        connection.exchange_up_to(request, started + timeout, STATEMENT_RESPONSE_BYTES_MAX).await;
    let elapsed = started.elapsed();
    let failed = |what: String| BenchError::Setup(format!("POST /v1/bank_statements: {what}"));
    let answer = match exchanged {
        Exchange::Answered(answer) if answer.status.is_success() => answer,
        Exchange::Answered(answer) => {
            let body = String::from_utf8_lossy(&answer.body).into_owned();
            return Err(failed(format!("answered {} {body}", answer.status)));
        }
        Exchange::Failed(stage) => return Err(failed(stage.to_owned())),
        Exchange::TimedOut => return Err(failed("timed out".to_owned())),
    };
    let statement: serde_json::Value = serde_json::from_slice(&answer.body)
        .map_err(|error| BenchError::Setup(format!("the statement's answer: {error}")))?;
    let outcomes = statement["lines"]
        .as_array()
        .ok_or_else(|| BenchError::Setup("the statement's answer has no lines".into()))?
        .iter()
        .map(|line| line["outcome"].as_str().unwrap_or("").to_owned())
        .collect();
    Ok(Upload { elapsed, outcomes })
}

/// How many of `outcomes` are `outcome`.
pub fn count_of(outcomes: &[String], outcome: &str) -> usize {
    outcomes.iter().filter(|seen| *seen == outcome).count()
}

/// Every matched charge succeeded.
pub async fn check_settled(
    caller: &Caller,
    charges: &[(String, String)],
) -> Result<(), BenchError> {
    stream::iter(charges)
        .map(|(id, _)| async move {
            let answer = caller.call(RequestSpec::get(format!("/v1/charges/{id}"))).await?;
            let charge: serde_json::Value = serde_json::from_slice(&answer.body)
                .map_err(|error| BenchError::Setup(format!("charge {id}: {error}")))?;
            match charge["status"].as_str() {
                Some("succeeded") => Ok(()),
                other => Err(BenchError::Setup(format!("charge {id} is {other:?}, not succeeded"))),
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect()
        .await
}
