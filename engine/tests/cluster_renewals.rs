//! A test clock's month of 2 000 subscriptions renewed while three nodes share one PostgreSQL
//! database: exactly one invoice per subscription and period, and one processor charge per
//! invoice, whichever nodes took the subscriptions and however many were asked to advance.

mod common;
#[path = "common/subscription_fixture.rs"]
mod subscription_fixture;

use std::collections::HashMap;

use common::*;
use futures::StreamExt;
use subscription_fixture::{apr_1, mar_1};

const SUBSCRIPTIONS: usize = 2_000;

#[tokio::test]
async fn two_thousand_renewals_with_three_nodes_make_one_invoice_per_period() {
    let database = kassa_testkit::postgres::fresh_database();
    let config = Config::default().on_postgres(&database, CLUSTER_DATA_KEY);
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Engine::start(config.clone()).await);
    }
    let apis: Vec<Api> = nodes.iter().map(Engine::api_a).collect();
    let clock = apis[0].create_clock(mar_1()).await;
    let plan = apis[1].plan(1_000, "usd", "month").await;

    // Customers and subscriptions made through every node, sixteen at a time.
    let subscriptions: Vec<String> = futures::stream::iter(0..SUBSCRIPTIONS)
        .map(|index| {
            let (api, clock, plan) =
                (apis[index % apis.len()].clone(), clock.clone(), plan.clone());
            async move {
                let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
                str_field(&api.subscribe_ok(&customer, &plan).await, "id").to_owned()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;

    // Every node is asked at once to advance the clock a month: one does, the others are
    // refused (the clock is advancing, or already there), and nothing runs twice.
    let advances = apis.iter().map(|api| api.try_advance_clock(&clock, apr_1()));
    let mut accepted = 0;
    for answer in futures::future::join_all(advances).await {
        let answer = answer.expect("an answer to the advance");
        assert!(matches!(answer.status, 200 | 202 | 400), "{} {}", answer.status, answer.text);
        accepted += usize::from(answer.status != 400);
    }
    assert!(accepted >= 1, "some node advanced the clock");
    let path = format!("/v1/test_clocks/{clock}");
    let ready = wait_for("the clock to be ready", CLOCK_ADVANCE_TIMEOUT, || async {
        let clock = apis[2].get_ok(&path).await;
        (clock["status"] == "ready").then_some(clock)
    })
    .await;
    assert_eq!(ready["frozen_time"], apr_1(), "{ready}");

    let invoices = apis[1].list_all("/v1/invoices", "id").await;
    let mut per_period: HashMap<(String, i64), usize> = HashMap::new();
    for invoice in &invoices {
        let subscription = str_field(invoice, "subscription").to_owned();
        *per_period.entry((subscription, i64_field(invoice, "period_start"))).or_default() += 1;
    }
    for subscription in &subscriptions {
        for period_start in [mar_1(), apr_1()] {
            let count = per_period.get(&(subscription.clone(), period_start)).copied();
            assert_eq!(count, Some(1), "{subscription} at {period_start}: {count:?} invoices");
        }
    }
    assert_eq!(invoices.len(), 2 * SUBSCRIPTIONS, "no invoice beyond one per period");
    let charged = apis[0].processor_charges().await;
    let mut once = charged.clone();
    once.dedup();
    assert_eq!(once.len(), charged.len(), "no invoice charged twice");
    assert_eq!(charged.len(), 2 * SUBSCRIPTIONS, "every invoice charged once");
}
