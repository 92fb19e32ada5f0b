//! The `entitlements` scenario's setup, unmeasured but timed: one monthly plan with a few
//! features, then N customers in real time (no test clock), each with `pm_card_visa` and one
//! subscription to the plan, `SETUP_CONCURRENCY` at a time. Without a trial,
//! `POST /v1/subscriptions` makes and charges the first invoice before it answers, so each must
//! come back `active`; anything else stops the run, since reads of customers entitled to nothing
//! would measure a different path.

use crate::error::BenchError;
use crate::limits::ENTITLEMENTS_SETUP_PROGRESS_EVERY;
use crate::renewals::subscriptions::{create_plan_with, subscribe_many};
use crate::report::format::count;
use crate::setup::Caller;
use crate::workload::{EntitlementsFleet, Subscriber};

/// The plan every customer subscribes to ($15.00 a month, as the renewals' is), granting what
/// a school's platform would sell.
const PLAN_NAME: &str = "kassa-bench entitlements";
pub const PLAN_FEATURES: [&str; 4] = ["courses", "live-classes", "certificates", "reports"];
/// The customers' body: real time, no clock, no address.
const CUSTOMER_BODY: &str = "{}";

/// The plan, and `wanted` customers each with a card and an active subscription to it.
pub async fn set_up(caller: &Caller, wanted: usize) -> Result<EntitlementsFleet, BenchError> {
    let plan = create_plan_with(caller, PLAN_NAME, &PLAN_FEATURES).await?;
    eprintln!(
        "setup: plan {plan} ({}); {} customers, each with a card and a subscription",
        PLAN_FEATURES.join(", "),
        count(wanted as f64)
    );
    let subscribed =
        subscribe_many(caller, wanted, CUSTOMER_BODY, &plan, ENTITLEMENTS_SETUP_PROGRESS_EVERY)
            .await?;
    let subscribers = subscribed
        .into_iter()
        .map(|(customer, subscription)| Subscriber { customer, subscription: subscription.id })
        .collect();
    let features = PLAN_FEATURES.iter().map(|feature| (*feature).to_owned()).collect();
    Ok(EntitlementsFleet { plan, features, subscribers })
}
