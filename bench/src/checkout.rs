//! `kassa-bench-checkout`: hosted checkout under load, end to end over HTTP on an engine it
//! starts. Setup, unmeasured: `customers` customers. Then `buyers` buyers, each on a connection
//! of its own, go through checkout after checkout for the run's duration: create a session
//! (`POST /v1/checkout/sessions`, with the API key), load its page (`GET /checkout/{id}`), pay on
//! the sandbox with a test card (`POST /checkout/{id}/pay`, a 303 back) and load the page again
//! (a 303 on to `success_url`: the session is complete). Each step's latency goes to its own
//! HdrHistogram once the warm-up is over; any other answer fails the run.

use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use hdrhistogram::Histogram;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, StatusCode};
use tokio::time::Instant;

use crate::client::{Answer, Connection, Exchange};
use crate::error::BenchError;
use crate::limits::SETUP_CONCURRENCY;
use crate::setup::Caller;
use crate::target::{Endpoint, RequestSpec};
use crate::workload::created_id;

/// Each session's amount, in minor units (R 450.00).
const SESSION_AMOUNT_MINOR: u64 = 45_000;
/// One request's limit: far above what any step takes.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// Latencies are recorded in microseconds, up to a minute.
const HISTOGRAM_MAX_MICROS: u64 = 60_000_000;

/// The steps of one checkout, in order.
pub const STEPS: [&str; 4] = ["create session", "load page", "pay", "paid page"];

/// What the buyers measured.
pub struct Measured {
    /// One histogram per step of [`STEPS`], in microseconds.
    pub steps: Vec<Histogram<u64>>,
    /// Checkouts completed after the warm-up.
    pub checkouts: u64,
    pub measured_for: Duration,
}

/// Makes `count` customers; answers their ids.
pub async fn set_up(caller: &Caller, count: usize) -> Result<Vec<String>, BenchError> {
    stream::iter(0..count)
        .map(|_| async {
            let spec = RequestSpec::post("/v1/customers", "{}".to_owned(), caller.next_key());
            created_id(&caller.call(spec).await?.body)
                .ok_or_else(|| BenchError::Setup("a created customer had no id".into()))
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect()
        .await
}

/// Runs `buyers` buyers over `customers` for `warmup` then `duration`.
pub async fn run(
    endpoint: &Endpoint,
    customers: &[String],
    buyers: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<Measured, BenchError> {
    let started = Instant::now();
    let measure_from = started + warmup;
    let end = measure_from + duration;
    let tasks = (0..buyers).map(|buyer| {
        let endpoint = endpoint.clone();
        let customers: Vec<String> =
            customers.iter().skip(buyer).step_by(buyers).cloned().collect();
        tokio::spawn(async move { buyer_loop(endpoint, customers, measure_from, end).await })
    });
    let mut measured = Measured {
        steps: STEPS.iter().map(|_| histogram()).collect(),
        checkouts: 0,
        measured_for: duration,
    };
    for task in futures::future::join_all(tasks).await {
        let buyer =
            task.map_err(|error| BenchError::Setup(format!("a buyer failed: {error}")))??;
        for (total, own) in measured.steps.iter_mut().zip(&buyer.steps) {
            total.add(own).map_err(|error| BenchError::Setup(format!("histogram: {error}")))?;
        }
        measured.checkouts += buyer.checkouts;
    }
    Ok(measured)
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_max(HISTOGRAM_MAX_MICROS, 3).expect("a histogram's bounds are valid")
}

async fn buyer_loop(
    endpoint: Endpoint,
    customers: Vec<String>,
    measure_from: Instant,
    end: Instant,
) -> Result<Measured, BenchError> {
    if customers.is_empty() {
        return Err(BenchError::Usage("--customers must be at least --buyers".into()));
    }
    let mut connection = Connection::new(endpoint.address);
    let mut steps: Vec<Histogram<u64>> = STEPS.iter().map(|_| histogram()).collect();
    let mut checkouts = 0;
    let mut turn = 0usize;
    while Instant::now() < end {
        let customer = &customers[turn % customers.len()];
        turn += 1;
        let measuring = Instant::now() >= measure_from;
        let body = format!(
            r#"{{"mode":"payment","customer":"{customer}","amount":{SESSION_AMOUNT_MINOR},"currency":"zar","success_url":"https://school.example/paid?session={{CHECKOUT_SESSION_ID}}","cancel_url":"https://school.example/cart"}}"#
        );
        let create = RequestSpec {
            method: Method::POST,
            path: "/v1/checkout/sessions".to_owned(),
            body: Some(Bytes::from(body)),
            idempotency_key: None,
            extra_header: None,
        };
        let (answer, took) = step(&mut connection, &endpoint, &create, StatusCode::OK).await?;
        let id = created_id(&answer.body)
            .ok_or_else(|| BenchError::Setup("a created session had no id".into()))?;
        let page = RequestSpec::get(format!("/checkout/{id}"));
        let (shown, page_took) = step(&mut connection, &endpoint, &page, StatusCode::OK).await?;
        if !String::from_utf8_lossy(&shown.body).contains("id=\"pay-card\"") {
            return Err(BenchError::Setup(format!("the page of {id} offers no card")));
        }
        let pay = RequestSpec {
            method: Method::POST,
            path: format!("/checkout/{id}/pay"),
            body: Some(Bytes::from_static(b"method=card&card=pm_card_visa")),
            idempotency_key: None,
            extra_header: Some((
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )),
        };
        let (_, pay_took) = step(&mut connection, &endpoint, &pay, StatusCode::SEE_OTHER).await?;
        let (_, paid_took) = step(&mut connection, &endpoint, &page, StatusCode::SEE_OTHER).await?;
        if measuring && Instant::now() <= end {
            for (histogram, took) in steps.iter_mut().zip([took, page_took, pay_took, paid_took]) {
                histogram.saturating_record(took.as_micros() as u64);
            }
            checkouts += 1;
        }
    }
    Ok(Measured { steps, checkouts, measured_for: Duration::ZERO })
}

/// One request, timed to the last byte of its answer, which must have `expected` status.
async fn step(
    connection: &mut Connection,
    endpoint: &Endpoint,
    spec: &RequestSpec,
    expected: StatusCode,
) -> Result<(Answer, Duration), BenchError> {
    let started = Instant::now();
    let exchanged = connection.exchange(endpoint.request(spec), started + STEP_TIMEOUT).await;
    let took = started.elapsed();
    let failed = |what: String| BenchError::Setup(format!("{} {}: {what}", spec.method, spec.path));
    match exchanged {
        Exchange::Answered(answer) if answer.status == expected => Ok((answer, took)),
        Exchange::Answered(answer) => {
            let body = String::from_utf8_lossy(&answer.body).into_owned();
            Err(failed(format!("answered {} {body}", answer.status)))
        }
        Exchange::Failed(stage) => Err(failed(stage.to_owned())),
        Exchange::TimedOut => Err(failed("timed out".to_owned())),
    }
}
