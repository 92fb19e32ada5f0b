//! The unmeasured setup of a scenario on the engine: wait for `/readyz`, create customers with a
//! card each (and, for `charge-priced`, an address the tax rule knows), and make the charges that `mixed` reads and refunds and `replay` re-sends. Requests
//! go out `SETUP_CONCURRENCY` at a time; any failure stops the run, since figures measured on a
//! half-made data set would mislead.

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt, stream};
use rand::Rng;
use tokio::time::Instant;

use crate::client::{Answer, Connection, Exchange, Pool};
use crate::error::BenchError;
use crate::limits::{ENGINE_READY_POLL, ENGINE_READY_TIMEOUT, SETUP_CONCURRENCY};
use crate::target::{Endpoint, RequestSpec};
use crate::workload::{KeySource, ReplayedCharge, charge_body, created_id};

/// The card every customer gets: the sandbox charges it successfully.
const CARD_TOKEN: &str = "pm_card_visa";

/// A charge the setup made: its request (to replay it) and its id (to read or refund it).
#[derive(Debug, Clone)]
pub struct MadeCharge {
    pub request: ReplayedCharge,
    pub id: String,
}

/// Polls `GET /readyz` until it answers 200, for at most `ENGINE_READY_TIMEOUT`.
pub async fn wait_until_ready(endpoint: &Endpoint) -> Result<(), BenchError> {
    let deadline = Instant::now() + ENGINE_READY_TIMEOUT;
    let mut connection = Connection::new(endpoint.address);
    while Instant::now() < deadline {
        let request = endpoint.request(&RequestSpec::get("/readyz".to_owned()));
        let poll_deadline = (Instant::now() + Duration::from_secs(1)).min(deadline);
        if let Exchange::Answered(answer) = connection.exchange(request, poll_deadline).await
            && answer.status.is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(ENGINE_READY_POLL).await;
    }
    Err(BenchError::EngineStart(format!(
        "{} did not answer GET /readyz with 200 within {} s",
        endpoint.url,
        ENGINE_READY_TIMEOUT.as_secs()
    )))
}

/// Sends setup requests over a small pool, each with the run's request timeout.
pub struct Caller {
    endpoint: Endpoint,
    pool: Arc<Pool>,
    timeout: Duration,
    keys: KeySource,
}

impl Caller {
    pub fn new(endpoint: &Endpoint, timeout: Duration) -> Self {
        Self {
            endpoint: endpoint.clone(),
            pool: Pool::new(endpoint.address, SETUP_CONCURRENCY),
            timeout,
            keys: KeySource::new("setup"),
        }
    }

    /// `count` customers created with `body` (a customer's JSON), each with a card attached (so it
    /// becomes their default).
    pub async fn create_customers(
        &self,
        count: usize,
        body: &str,
    ) -> Result<Vec<String>, BenchError> {
        stream::iter(0..count)
            .map(|_| self.create_customer(body))
            .buffer_unordered(SETUP_CONCURRENCY)
            .try_collect()
            .await
    }

    /// `count` charges spread over `customers` in turn, each with its own key.
    pub async fn make_charges(
        &self,
        customers: &[String],
        count: usize,
    ) -> Result<Vec<MadeCharge>, BenchError> {
        assert!(!customers.is_empty() || count == 0, "charges need customers");
        stream::iter(0..count)
            .map(|index| self.make_charge(&customers[index % customers.len()]))
            .buffer_unordered(SETUP_CONCURRENCY)
            .try_collect()
            .await
    }

    /// One customer created with `body`, with a card attached (so it becomes their default).
    pub async fn create_customer(&self, body: &str) -> Result<String, BenchError> {
        let created = self
            .call(RequestSpec::post("/v1/customers", body.to_owned(), self.keys.next_key()))
            .await?;
        let id = created_id(&created.body)
            .ok_or_else(|| BenchError::Setup("a created customer had no id".into()))?;
        let card = format!(r#"{{"token":"{CARD_TOKEN}"}}"#);
        let path = format!("/v1/customers/{id}/payment_methods");
        self.call(RequestSpec::post(&path, card, self.keys.next_key())).await?;
        Ok(id)
    }

    async fn make_charge(&self, customer: &str) -> Result<MadeCharge, BenchError> {
        let amount_minor = rand::rng().random_range(crate::workload::AMOUNT_MINOR_RANGE);
        let request = ReplayedCharge {
            body: charge_body(customer, amount_minor),
            idempotency_key: self.keys.next_key(),
        };
        let spec =
            RequestSpec::post("/v1/charges", request.body.clone(), request.idempotency_key.clone());
        let answer = self.call(spec).await?;
        let id = created_id(&answer.body)
            .ok_or_else(|| BenchError::Setup("a created charge had no id".into()))?;
        Ok(MadeCharge { request, id })
    }

    /// A new `Idempotency-Key` for a POST made through `call`.
    pub fn next_key(&self) -> String {
        self.keys.next_key()
    }

    /// One request that must succeed.
    pub async fn call(&self, spec: RequestSpec) -> Result<Answer, BenchError> {
        let mut lease = self.pool.lease().await;
        let request = self.endpoint.request(&spec);
        let failed =
            |what: String| BenchError::Setup(format!("{} {}: {what}", spec.method, spec.path));
        match lease.exchange(request, Instant::now() + self.timeout).await {
            Exchange::Answered(answer) if answer.status.is_success() => Ok(answer),
            Exchange::Answered(answer) => Err(failed(format!(
                "answered {} {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            ))),
            Exchange::Failed(stage) => Err(failed(stage.to_owned())),
            Exchange::TimedOut => Err(failed("timed out".to_owned())),
        }
    }
}
