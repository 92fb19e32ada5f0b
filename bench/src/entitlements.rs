//! The `entitlements` scenario's setup, unmeasured but timed: one monthly plan with a few
//! features, then N customers in real time (no test clock), each with `pm_card_visa` and one
//! subscription to the plan, `SETUP_CONCURRENCY` at a time. Without a trial,
//! `POST /v1/subscriptions` makes and charges the first invoice before it answers, so each must
//! come back `active`; anything else stops the run, since reads of customers entitled to nothing
//! would measure a different path.

use std::sync::atomic::{AtomicUsize, Ordering};

use futures::{StreamExt, TryStreamExt, stream};
use serde::Deserialize;
use tokio::time::Instant;

use crate::error::BenchError;
use crate::limits::{ENTITLEMENTS_SETUP_PROGRESS_EVERY, SETUP_CONCURRENCY};
use crate::renewals::excerpt;
use crate::report::format::count;
use crate::setup::Caller;
use crate::target::RequestSpec;
use crate::workload::{EntitlementsFleet, Subscriber, created_id};

/// The plan every customer subscribes to: $15.00 a month, granting what a school's platform
/// would sell.
const PLAN_AMOUNT_MINOR: u64 = 1_500;
const PLAN_CURRENCY: &str = "usd";
const PLAN_INTERVAL: &str = "month";
const PLAN_NAME: &str = "kassa-bench entitlements";
pub const PLAN_FEATURES: [&str; 4] = ["courses", "live-classes", "certificates", "reports"];
/// The customers' body: real time, no clock, no address.
const CUSTOMER_BODY: &str = "{}";
/// What a subscription whose first invoice is paid answers.
const ACTIVE: &str = "active";

#[derive(Deserialize)]
struct SubscriptionAnswer {
    id: String,
    status: String,
}

/// The plan, and `wanted` customers each with a card and an active subscription to it.
pub async fn set_up(caller: &Caller, wanted: usize) -> Result<EntitlementsFleet, BenchError> {
    let started = Instant::now();
    let plan = create_plan(caller).await?;
    eprintln!(
        "setup: plan {plan} ({}); {} customers, each with a card and a subscription",
        PLAN_FEATURES.join(", "),
        count(wanted as f64)
    );
    let made = AtomicUsize::new(0);
    let subscribers = stream::iter(0..wanted)
        .map(|_| subscribe_new_customer(caller, &plan))
        .buffer_unordered(SETUP_CONCURRENCY)
        .inspect_ok(|_| {
            let made = made.fetch_add(1, Ordering::Relaxed) + 1;
            if made.is_multiple_of(ENTITLEMENTS_SETUP_PROGRESS_EVERY) && made < wanted {
                let rate = made as f64 / started.elapsed().as_secs_f64();
                eprintln!(
                    "setup: {} / {} subscriptions ({} per s)",
                    count(made as f64),
                    count(wanted as f64),
                    count(rate)
                );
            }
        })
        .try_collect()
        .await?;
    let features = PLAN_FEATURES.iter().map(|feature| (*feature).to_owned()).collect();
    Ok(EntitlementsFleet { plan, features, subscribers })
}

async fn create_plan(caller: &Caller) -> Result<String, BenchError> {
    let body = serde_json::json!({
        "name": PLAN_NAME,
        "amount": PLAN_AMOUNT_MINOR,
        "currency": PLAN_CURRENCY,
        "interval": PLAN_INTERVAL,
        "features": PLAN_FEATURES,
    })
    .to_string();
    let answer = caller.call(RequestSpec::post("/v1/plans", body, caller.next_key())).await?;
    created_id(&answer.body).ok_or_else(|| BenchError::Setup("a created plan had no id".into()))
}

async fn subscribe_new_customer(caller: &Caller, plan: &str) -> Result<Subscriber, BenchError> {
    let customer = caller.create_customer(CUSTOMER_BODY).await?;
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
    Ok(Subscriber { customer, subscription: subscription.id })
}
