//! Rules called by billing (an invoice priced, taxed, prorated inside the customer's actor) that
//! are too long for the actor's thread: each such call is made on the rule threads, within its
//! account's rule-call slots, and the turn run again with its answer.
//!
//! Proves that a subscription's whole life — the first invoice, the upcoming-invoice preview, an
//! upgrade invoiced at once, the renewal, a cancellation with a prorated credit — comes out the
//! same, cent for cent, whether its rule answers inline or only on the rule threads; and that
//! while one account's invoice rules run to their time limit, another account's customers are
//! served at once, where before each such call held an actor thread, and every customer
//! sharded on it, for the whole call.
//! How: the real server; account A's pricing rule is `plugins/hostile` (its sku `slow` is priced
//! honestly after ~5 M instructions, past the inline budget; `loop` never ends; any other sku is
//! priced honestly at once); every customer lives on a test clock started 2024-03-01.

mod common;
#[path = "common/subscription_fixture.rs"]
mod fixture;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use fixture::*;

/// A zar plan of `amount` a month whose invoice line is `sku`, VAT on top.
async fn plan(api: &Api, amount: u64, sku: &str) -> String {
    let body = json!({
        "name": format!("{amount} as {sku}"), "amount": amount, "currency": "zar",
        "interval": "month", "sku": sku, "tax_behavior": "exclusive",
    });
    str_field(&api.create_plan(&body).await, "id").to_string()
}

/// One subscription's life, with every plan line priced as `sku`: what each step billed.
async fn life_of_a_subscription(api: &Api, sku: &str) -> Vec<Value> {
    let clock = api.create_clock(mar_1()).await;
    let customer = api.clock_customer_with_card(&clock, "ZA", "pm_card_visa").await;
    let (basic, pro) = (plan(api, 10_000, sku).await, plan(api, 30_000, sku).await);
    let created = api.subscribe_ok(&customer, &basic).await;
    assert_eq!(created["status"], "active", "{created}");
    let id = str_field(&created, "id").to_string();
    let preview = api.upcoming_invoice(&id, "").await;

    api.advance_clock(&clock, mar_11()).await;
    let upgrade = json!({ "plan": pro, "proration_behavior": "always_invoice" });
    api.update_subscription(&id, &upgrade).await.ok();
    api.advance_clock(&clock, apr_1() + 10 * 86_400).await;
    let cancel = json!({ "prorate": true });
    let canceled = api.post(&format!("/v1/subscriptions/{id}/cancel"), &cancel).await;
    assert_eq!(canceled.ok()["status"], "canceled");

    let balance = api.get_ok(&format!("/v1/customers/{customer}")).await["balance"].clone();
    let mut billed = vec![json!({ "preview": amounts(&preview), "balance": balance })];
    billed.extend(api.customer_invoices(&customer).await.iter().map(amounts));
    billed
}

/// An invoice's numbers: what must not depend on where its rule ran.
fn amounts(invoice: &Value) -> Value {
    let lines: Vec<Value> = invoice["lines"]
        .as_array()
        .unwrap_or_else(|| panic!("an invoice with lines: {invoice}"))
        .iter()
        .map(|line| json!([line["amount"], line["proration"], line["tax_amounts"]]))
        .collect();
    json!({
        "reason": invoice["billing_reason"], "status": invoice["status"],
        "subtotal": invoice["subtotal"], "tax": invoice["tax"], "total": invoice["total"],
        "balance_applied": invoice["balance_applied"], "amount_due": invoice["amount_due"],
        "lines": lines,
    })
}

#[tokio::test]
async fn invoices_whose_rule_runs_only_on_the_rule_threads_come_out_the_same() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    api.upload_rule("pricing", plugin_wasm("hostile_pricing")).await.ok();

    let inline = life_of_a_subscription(&api, "course").await;
    let on_rule_threads = life_of_a_subscription(&api, "slow").await;
    assert_eq!(on_rule_threads, inline);
    // The first invoice, the upgrade's, the renewal; 115.00 is R100 and its VAT.
    assert_eq!(inline.len(), 4, "{inline:#?}");
    assert_eq!(inline[1]["total"], 11_500, "{inline:#?}");
    assert!(inline[0]["balance"].as_i64().unwrap() < 0, "the cancellation credited: {inline:#?}");
}

#[tokio::test]
async fn one_accounts_endless_invoice_rules_leave_other_customers_their_actors() {
    let config =
        Config::default().with_rules_toml("fuel_per_call = 10000000000\ncall_timeout_ms = 1000");
    let engine = Engine::start(config).await;
    let (a, b) = (engine.api_a(), engine.api_b());
    b.upload_rule("pricing", plugin_wasm("hostile_pricing")).await.ok();
    let endless = plan(&b, 10_000, "loop").await;

    // More of B's customers than actor threads: before, every thread was held by one of them.
    let mut b_customers = Vec::new();
    for _ in 0..12 {
        b_customers.push(b.customer_with_card("pm_card_visa").await.0);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut flood = Vec::new();
    for customer in b_customers.clone() {
        let (b, stop, body) =
            (b.clone(), Arc::clone(&stop), json!({ "customer": customer, "plan": endless }));
        flood.push(tokio::spawn(async move {
            let mut refused = 0;
            while !stop.load(Ordering::Relaxed) {
                let resp = b.subscribe(&body).await;
                assert_error(&resp, 500, "plugin_error");
                let message = resp.body["error"]["message"].as_str().unwrap();
                assert!(message.contains("past its time limit of 1000 ms"), "{message}");
                refused += 1;
            }
            refused
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut a_customers = Vec::new();
    for _ in 0..4 {
        a_customers.push(a.customer_with_card("pm_card_visa").await.0);
    }
    let mut waits = Vec::new();
    for round in 0..20 {
        let started = Instant::now();
        let charge = a.charge(&a_customers[round % a_customers.len()], 1_000, "usd").await;
        assert_eq!(charge.ok()["status"], "succeeded");
        waits.push(started.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    let mut refused = 0;
    for task in flood {
        refused += task.await.unwrap();
    }
    waits.sort();
    println!("A's charges under B's flood: p50 {:?}, max {:?}", waits[10], waits[19]);
    assert!(waits[19] < Duration::from_secs(1), "A waited {:?} behind B's rules", waits[19]);
    assert!(refused >= 12, "B's rules ran the whole time");
    for customer in &b_customers {
        assert!(b.customer_subscriptions(customer).await.is_empty(), "nothing was kept");
        assert!(b.customer_invoices(customer).await.is_empty(), "nothing was invoiced");
    }
}
