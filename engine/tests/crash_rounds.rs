//! Crash rounds: `kill -9` at twenty different instants of a mixed load, on one data directory.
//!
//! Proves that across 20 crashes, each at its own instant during concurrent charges, refunds and
//! signed Stripe webhook deliveries, nothing acknowledged is lost and nothing is charged twice:
//! after every restart each charge answered 200 is still there and not failed, each refund
//! answered 200 is there, each delivery answered 200 is listed among the events; the sandbox
//! processor's ledger never holds two charge entries for one charge; and once recovery has
//! settled what the crashes left in flight, the processor's charge entries are exactly the
//! engine's succeeded (or refunded) charges.
//! How: the real engine over HTTP, 16 requests in flight (60 % charges, 20 % refunds of charges
//! already answered, 20 % webhook deliveries of events no charge knows, which are stored and
//! acknowledged all the same), the kill after 60–400 ms chosen per round; the sandbox answers
//! after 5 ms so that charges are caught at every stage.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use futures::StreamExt;

const ROUNDS: u64 = 20;
const IN_FLIGHT: usize = 16;
const CUSTOMERS: usize = 8;
const WEBHOOK_SECRET: &str = "whsec_crash_rounds_0123456789";

/// What the clients were told, across every round.
#[derive(Default)]
struct Acknowledged {
    /// Charge id → amount.
    charges: HashMap<String, u64>,
    refunds: HashSet<String>,
    /// Kassa's ids of the deliveries taken.
    deliveries: HashSet<String>,
}

/// The kill instant of `round`, spread over 60–400 ms by a fixed sequence.
fn kill_after(round: u64) -> Duration {
    Duration::from_millis(60 + (round * 7_919) % 341)
}

/// One request of the load, the `n`th: a charge, a refund of an answered charge, or a delivery.
async fn one_request(load: &Load, n: u64) {
    let refundable = {
        let acknowledged = load.acknowledged.lock().unwrap();
        let charges = acknowledged.charges.len();
        acknowledged.charges.keys().nth(n as usize % charges.max(1)).cloned()
    };
    match (n % 5, refundable) {
        (3, Some(charge)) => {
            let body = json!({ "charge": charge, "amount": 1 });
            let key = unique_key("round-refund");
            if let Ok(answer) = load.api.try_post_with_key("/v1/refunds", &body, &key).await
                && answer.status == 200
            {
                let id = str_field(&answer.body, "id").to_owned();
                load.acknowledged.lock().unwrap().refunds.insert(id);
            }
        }
        (4, _) => {
            let body = to_bytes(&json!({
                "id": format!("evt_round_{n}_{}", std::process::id()),
                "object": "event", "api_version": "2020-08-27", "type": "payment_intent.succeeded",
                "created": now_secs(), "livemode": false,
                "data": { "object": { "id": format!("pi_round_{n}"), "object": "payment_intent",
                    "amount": 500, "currency": "usd", "status": "succeeded", "metadata": {} } },
            }));
            let header = stripe_signature(WEBHOOK_SECRET, &body, now_secs());
            let path = "/v1/webhooks/stripe";
            if let Ok(answer) = load.webhooks.try_post_webhook(path, body, Some(&header)).await
                && answer.status == 200
            {
                let id = str_field(&answer.body, "id").to_owned();
                load.acknowledged.lock().unwrap().deliveries.insert(id);
            }
        }
        _ => {
            let amount = 200 + n % 9_000;
            let body = charge_body(&load.customers[n as usize % CUSTOMERS], amount, "usd");
            let key = unique_key("round-charge");
            if let Ok(answer) = load.api.try_post_with_key("/v1/charges", &body, &key).await
                && answer.status == 200
            {
                let id = str_field(&answer.body, "id").to_owned();
                load.acknowledged.lock().unwrap().charges.insert(id, amount);
            }
        }
    }
}

struct Load {
    api: Api,
    webhooks: Api,
    customers: Vec<String>,
    acknowledged: Mutex<Acknowledged>,
}

/// Sends requests, `IN_FLIGHT` at a time, numbered from `first`, until `stop` is set.
async fn run_until_killed(load: Arc<Load>, first: u64, stop: Arc<std::sync::atomic::AtomicBool>) {
    futures::stream::iter(first..)
        .take_while(|_| {
            let go = !stop.load(std::sync::atomic::Ordering::SeqCst);
            async move { go }
        })
        .for_each_concurrent(IN_FLIGHT, |n| {
            let load = Arc::clone(&load);
            async move { one_request(&load, n).await }
        })
        .await;
}

/// Checks what every client was told against what the restarted engine holds.
async fn check(api: &Api, acknowledged: &Acknowledged, round: u64) {
    for (id, amount) in &acknowledged.charges {
        let charge = api.get_ok(&format!("/v1/charges/{id}")).await;
        assert_eq!(charge["status"], "succeeded", "round {round}: answered charge {id}: {charge}");
        assert_eq!(charge["amount"], *amount, "round {round}: {charge}");
    }
    for id in &acknowledged.refunds {
        let refund = api.get_ok(&format!("/v1/refunds/{id}")).await;
        assert_eq!(refund["status"], "succeeded", "round {round}: answered refund {id}: {refund}");
    }
    let events = api.list_all("/v1/events", "id").await;
    let listed: HashSet<&str> = events.iter().map(|event| str_field(event, "id")).collect();
    for id in &acknowledged.deliveries {
        assert!(listed.contains(id.as_str()), "round {round}: answered delivery {id} is gone");
    }
    let ledger = api.ledger().await;
    let mut charged = HashSet::new();
    for entry in ledger_of_kind(&ledger, "charge") {
        let key = str_field(entry, "idempotency_key");
        assert!(charged.insert(key.to_owned()), "round {round}: charged twice for {key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_kills_lose_nothing_acknowledged_and_charge_nothing_twice() {
    let config = Config::default()
        .with_sandbox_latency_ms(5)
        .with_reconcile_after_secs(1)
        .with_toml(&format!("[gateways.stripe]\nwebhook_secret = \"{WEBHOOK_SECRET}\"\n"));
    let mut engine = Engine::start(config).await;
    let mut customers = Vec::new();
    for _ in 0..CUSTOMERS {
        customers.push(engine.api_a().customer_with_card("pm_card_visa").await.0);
    }
    let mut acknowledged = Acknowledged::default();
    let mut sent = 0;
    for round in 0..ROUNDS {
        let load = Arc::new(Load {
            api: engine.api_a(),
            webhooks: engine.api_with_authorization(None),
            customers: customers.clone(),
            acknowledged: Mutex::new(std::mem::take(&mut acknowledged)),
        });
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let running = tokio::spawn(run_until_killed(Arc::clone(&load), sent, Arc::clone(&stop)));
        tokio::time::sleep(kill_after(round)).await;
        engine.kill();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        tokio::time::timeout(Duration::from_secs(30), running)
            .await
            .expect("the load ended after the kill")
            .expect("the load task");
        sent += 100_000;
        acknowledged = Arc::try_unwrap(load)
            .ok()
            .expect("the load's last user")
            .acknowledged
            .into_inner()
            .unwrap();
        engine.launch().await;
        check(&engine.api_a(), &acknowledged, round).await;
    }
    eprintln!(
        "{ROUNDS} kills: {} charges, {} refunds, {} deliveries acknowledged",
        acknowledged.charges.len(),
        acknowledged.refunds.len(),
        acknowledged.deliveries.len()
    );
    assert!(acknowledged.charges.len() > ROUNDS as usize, "the load made too few charges to count");

    // Once recovery has settled what the kills left in flight, the processor's charges are
    // exactly the engine's charges that took money.
    let api = engine.api_a();
    let settled = wait_for("recovery to settle every charge", Duration::from_secs(30), || async {
        let mut all = Vec::new();
        for customer in &customers {
            all.extend(api.customer_charges(customer).await);
        }
        all.iter().all(|charge| charge["status"] != "processing").then_some(all)
    })
    .await;
    let took_money: HashSet<String> = settled
        .iter()
        .filter(|charge| charge["status"] == "succeeded")
        .map(|charge| str_field(charge, "id").to_owned())
        .collect();
    let ledger = api.ledger().await;
    let charged: HashSet<String> = ledger_of_kind(&ledger, "charge")
        .iter()
        .map(|entry| str_field(entry, "idempotency_key").to_owned())
        .collect();
    assert_eq!(charged, took_money, "the processor and the engine disagree on what was charged");
}
