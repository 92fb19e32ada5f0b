//! The renewals' setup, unmeasured but timed: one test clock frozen at the current time, one
//! monthly plan, and N customers created on the clock, each with `pm_card_visa` and one
//! subscription. Without a trial, `POST /v1/subscriptions` makes and charges the first invoice
//! before it answers, so every subscription must come back `active`: anything else stops the run,
//! since a renewal burst over a half-made fleet would mislead. The `entitlements` scenario makes
//! its fleet with the same [`create_plan_with`] and [`subscribe_many`], in real time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::{StreamExt, TryStreamExt, stream};
use serde::Deserialize;
use tokio::time::Instant;

use super::clock::{self, Clock};
use super::excerpt;
use crate::error::BenchError;
use crate::limits::{SETUP_CONCURRENCY, SETUP_PROGRESS_EVERY};
use crate::report::format::count;
use crate::setup::Caller;
use crate::target::RequestSpec;
use crate::workload::created_id;

/// The plan every subscription is on: $15.00 a month.
const PLAN_AMOUNT_MINOR: u64 = 1_500;
const PLAN_CURRENCY: &str = "usd";
const PLAN_INTERVAL: &str = "month";
const PLAN_NAME: &str = "kassa-bench renewals";
/// What a subscription whose first invoice is paid answers.
const ACTIVE: &str = "active";

/// One subscription as it was made: the first period, whose end is where the renewal starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribed {
    pub id: String,
    /// The first period's start: the first invoice's `period_start`.
    pub period_start: i64,
    /// The first period's end: the renewal invoice's `period_start`.
    pub period_end: i64,
}

/// What the setup made.
pub struct Fleet {
    pub clock: Clock,
    pub plan: String,
    pub subscriptions: Vec<Subscribed>,
    pub secs: f64,
}

impl Fleet {
    /// Where to advance the clock: past every first period's end (they differ by the seconds the
    /// setup took), by a margin well short of the next period's end.
    pub fn advance_target(&self, margin_secs: i64) -> i64 {
        let latest_end = self.subscriptions.iter().map(|sub| sub.period_end).max();
        latest_end.unwrap_or(self.clock.frozen_time) + margin_secs
    }
}

#[derive(Deserialize)]
struct SubscriptionAnswer {
    id: String,
    status: String,
    current_period_start: i64,
    current_period_end: i64,
}

/// The clock, the plan, and `wanted` customers on the clock, each with a card and an active
/// subscription.
pub async fn make(caller: &Caller, wanted: usize) -> Result<Fleet, BenchError> {
    let started = Instant::now();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
    let clock = clock::create(caller, now as i64).await?;
    let plan = create_plan(caller).await?;
    eprintln!(
        "setup: clock {} at {}, plan {plan}; {} customers on the clock, each with a card and a subscription",
        clock.id,
        clock.frozen_time,
        count_text(wanted)
    );
    let customer_body = serde_json::json!({"test_clock": clock.id}).to_string();
    let subscribed =
        subscribe_many(caller, wanted, &customer_body, &plan, SETUP_PROGRESS_EVERY).await?;
    let subscriptions = subscribed.into_iter().map(|(_, subscription)| subscription).collect();
    Ok(Fleet { clock, plan, subscriptions, secs: started.elapsed().as_secs_f64() })
}

/// `wanted` new customers, each made from `customer_body` with a card and subscribed to `plan`
/// (which must leave it `active`), `SETUP_CONCURRENCY` at a time, with a progress line each
/// time `progress_every` more exist. Answers each customer's id with its subscription.
pub(crate) async fn subscribe_many(
    caller: &Caller,
    wanted: usize,
    customer_body: &str,
    plan: &str,
    progress_every: usize,
) -> Result<Vec<(String, Subscribed)>, BenchError> {
    let started = Instant::now();
    let made = AtomicUsize::new(0);
    stream::iter(0..wanted)
        .map(|_| subscribe_new_customer(caller, customer_body, plan))
        .buffer_unordered(SETUP_CONCURRENCY)
        .inspect_ok(|_| {
            let made = made.fetch_add(1, Ordering::Relaxed) + 1;
            if made.is_multiple_of(progress_every) && made < wanted {
                let rate = made as f64 / started.elapsed().as_secs_f64();
                eprintln!(
                    "setup: {} / {} subscriptions ({} per s)",
                    count_text(made),
                    count_text(wanted),
                    count(rate)
                );
            }
        })
        .try_collect()
        .await
}

async fn create_plan(caller: &Caller) -> Result<String, BenchError> {
    create_plan_with(caller, PLAN_NAME, &[]).await
}

/// A monthly plan of $15.00 named `name`, granting `features`.
pub(crate) async fn create_plan_with(
    caller: &Caller,
    name: &str,
    features: &[&str],
) -> Result<String, BenchError> {
    let mut body = serde_json::json!({
        "name": name,
        "amount": PLAN_AMOUNT_MINOR,
        "currency": PLAN_CURRENCY,
        "interval": PLAN_INTERVAL,
    });
    if !features.is_empty() {
        body["features"] = serde_json::json!(features);
    }
    let body = body.to_string();
    let answer = caller.call(RequestSpec::post("/v1/plans", body, caller.next_key())).await?;
    created_id(&answer.body).ok_or_else(|| BenchError::Setup("a created plan had no id".into()))
}

async fn subscribe_new_customer(
    caller: &Caller,
    customer_body: &str,
    plan: &str,
) -> Result<(String, Subscribed), BenchError> {
    let customer = caller.create_customer(customer_body).await?;
    let body = serde_json::json!({"customer": customer, "plan": plan}).to_string();
    let answer =
        caller.call(RequestSpec::post("/v1/subscriptions", body, caller.next_key())).await?;
    let subscription: SubscriptionAnswer =
        serde_json::from_slice(&answer.body).map_err(|error| {
            BenchError::Setup(format!(
                "a created subscription is unreadable ({error}): {}",
                excerpt(&answer.body)
            ))
        })?;
    if subscription.status != ACTIVE {
        return Err(BenchError::Setup(format!(
            "subscription {} of {customer} is {:?}, not active: its first invoice was not paid",
            subscription.id, subscription.status
        )));
    }
    let subscribed = Subscribed {
        id: subscription.id,
        period_start: subscription.current_period_start,
        period_end: subscription.current_period_end,
    };
    Ok((customer, subscribed))
}

fn count_text(value: usize) -> String {
    count(value as f64)
}
