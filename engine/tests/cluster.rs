//! Several Kassa nodes on one PostgreSQL database (a real server, see
//! `kassa_testkit::postgres`): any node serves any customer, a node's memory of a customer never
//! decides an answer after another node changed it, and the sandbox ledger they share
//! reconciles with what the nodes answered: one charge per Idempotency-Key, refunds never above
//! their charge. What a killed node left half done (a charge mid-call, a gateway event taken in
//! and not applied) another node finishes.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::*;
use kassa_testkit::fake_stripe::{self, FakeStripe};

fn on_database(url: &str) -> Config {
    Config::default().on_postgres(url, CLUSTER_DATA_KEY)
}

async fn nodes(count: usize) -> Vec<Engine> {
    let config = on_database(&kassa_testkit::postgres::fresh_database());
    let mut nodes = Vec::with_capacity(count);
    for _ in 0..count {
        nodes.push(Engine::start(config.clone()).await);
    }
    nodes
}

/// Posts until a node answers other than 409 (the same key in flight on another node, or the
/// customer changed there first: both say "retry"); each try goes to the next node.
async fn post_until_decided(apis: &[Api], path: &str, body: &Value, key: &str) -> Value {
    for attempt in 0..50 {
        let api = &apis[attempt % apis.len()];
        let answer = api.post_with_key(path, body, key).await;
        if answer.status == 409 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        return answer.ok().clone();
    }
    panic!("POST {path} with key {key} answered 409 fifty times");
}

#[tokio::test]
async fn a_node_decides_on_what_another_node_changed() {
    let nodes = nodes(2).await;
    let (a, b) = (nodes[0].api_a(), nodes[1].api_a());
    let (customer, _) = a.customer_with_card("pm_card_visa").await;
    a.charge_ok(&customer, 1_000, "zar").await;
    // Node A's actor holds the customer in memory; node B adds a card and makes it the default.
    let added = b.add_payment_method(&customer, "pm_card_mastercard").await;
    let method = added["id"].as_str().unwrap();
    let body = json!({"default_payment_method": method});
    b.post(&format!("/v1/customers/{customer}"), &body).await.ok();
    // Node A charges the default card: the one node B set.
    let charge = a.charge_ok(&customer, 2_000, "zar").await;
    assert_eq!(charge["payment_method"], method, "{charge}");
    let listed = a.payment_methods(&customer).await;
    assert_eq!(listed.len(), 2, "node A lists node B's card: {listed:?}");
}

#[tokio::test]
async fn keys_spread_over_three_nodes_charge_once_and_refunds_never_exceed_a_charge() {
    let nodes = nodes(3).await;
    let apis: Vec<Api> = nodes.iter().map(Engine::api_a).collect();
    let mut customers = Vec::new();
    for node in 0..4 {
        customers.push(apis[node % apis.len()].customer_with_card("pm_card_visa").await.0);
    }
    // Every key is sent to every node at once, for the same few customers.
    const KEYS: usize = 24;
    let mut charges: HashMap<String, String> = HashMap::new();
    for index in 0..KEYS {
        let key = format!("cluster-charge-{index}");
        let customer = &customers[index % customers.len()];
        let body = json!({"customer": customer, "amount": 1_500, "currency": "zar"});
        let sends = apis.iter().map(|api| api.post_with_key("/v1/charges", &body, &key));
        let answers = futures::future::join_all(sends).await;
        for answer in &answers {
            assert!(
                answer.status == 200 || answer.status == 409,
                "key {key}: {} {:?}",
                answer.status,
                answer.body
            );
        }
        let decided = post_until_decided(&apis, "/v1/charges", &body, &key).await;
        let id = decided["id"].as_str().unwrap().to_owned();
        for answer in answers.iter().filter(|answer| answer.status == 200) {
            assert_eq!(answer.ok()["id"], id.as_str(), "key {key}: one charge, whichever node");
        }
        charges.insert(key, id);
    }
    // Refunds of 60 % of a charge, sent to every node at once: at most one fits.
    let mut refunds = 0;
    for (index, charge) in charges.values().take(6).enumerate() {
        let body = json!({"charge": charge, "amount": 900});
        let keys: Vec<String> =
            (0..apis.len()).map(|node| format!("cluster-refund-{index}-{node}")).collect();
        let sends =
            apis.iter().zip(&keys).map(|(api, key)| api.post_with_key("/v1/refunds", &body, key));
        let answers = futures::future::join_all(sends).await;
        let refunded = answers.iter().filter(|answer| answer.status == 200).count();
        assert!(refunded <= 1, "charge {charge}: {refunded} refunds of 60 % each");
        refunds += refunded;
        let stored = apis[index % apis.len()].get_ok(&format!("/v1/charges/{charge}")).await;
        assert!(stored["amount_refunded"].as_u64().unwrap() <= 1_500, "{stored}");
    }

    let ledger = apis[1].ledger().await;
    let ledger_charges: Vec<&Value> =
        ledger.iter().filter(|entry| entry["kind"] == "charge").collect();
    assert_eq!(ledger_charges.len(), KEYS, "one processor charge per key: {ledger_charges:?}");
    let charged: HashSet<&str> =
        ledger_charges.iter().map(|entry| entry["idempotency_key"].as_str().unwrap()).collect();
    let answered: HashSet<&str> = charges.values().map(String::as_str).collect();
    assert_eq!(charged, answered, "the processor charged exactly the charges answered");
    let ledger_refunds: Vec<&Value> =
        ledger.iter().filter(|entry| entry["kind"] == "refund").collect();
    assert_eq!(ledger_refunds.len(), refunds, "one processor refund per refund answered");
    assert!(refunds >= 1, "refunds were made at all");
}

#[tokio::test]
async fn a_charge_a_killed_node_left_processing_is_settled_by_another() {
    let config = on_database(&kassa_testkit::postgres::fresh_database())
        .with_sandbox_latency_ms(1_500)
        .with_gateway_timeout_ms(2_000)
        .with_reconcile_after_secs(1)
        .with_toml("[cluster]\nlease_ms = 1000\n");
    // The first node holds every claim; the second takes them over when it dies.
    let mut first = Engine::start(config.clone()).await;
    let second = Engine::start(config).await;
    let (customer, _) = first.api_a().customer_with_card("pm_card_visa").await;
    let api = first.api_a();
    let body = json!({"customer": customer, "amount": 2_500, "currency": "zar"});
    let in_flight =
        tokio::spawn(
            async move { api.try_post_with_key("/v1/charges", &body, "left-behind").await },
        );
    // Mid-call: the charge is recorded `processing`, the sandbox still working on it.
    let survivor = second.api_a();
    let charge = loop {
        let charges = survivor.customer_charges(&customer).await;
        if let Some(charge) = charges.first() {
            break charge["id"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    first.kill();
    let _ = in_flight.await;

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let settled = loop {
        let stored = survivor.get_ok(&format!("/v1/charges/{charge}")).await;
        if stored["status"] != "processing" {
            break stored;
        }
        assert!(std::time::Instant::now() < deadline, "still processing: {stored}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let charged: Vec<Value> = survivor
        .ledger()
        .await
        .into_iter()
        .filter(|entry| entry["kind"] == "charge" && entry["idempotency_key"] == charge.as_str())
        .collect();
    match settled["status"].as_str() {
        Some("succeeded") => assert_eq!(charged.len(), 1, "the processor charged it: {settled}"),
        Some("failed") => assert!(charged.is_empty(), "failed, yet charged: {charged:?}"),
        other => panic!("settled as {other:?}: {settled}"),
    }
    assert!(second.log_text().contains("took over lapsed claims"), "{}", second.log_tail());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_event_a_killed_node_took_in_is_applied_by_another() {
    const WEBHOOK_SECRET: &str = "whsec_cluster_0123456789";
    let stripe = FakeStripe::start().await;
    let database = kassa_testkit::postgres::fresh_database();
    let node = |apply_delay_ms: u64| {
        on_database(&database)
            .with_default_gateway("stripe")
            .with_gateway_timeout_ms(1_000)
            .with_reconcile_after_secs(1)
            .with_toml(&format!(
                "[gateways.stripe]\nsecret_key = \"{}\"\napi_base = \"{}\"\n\
                 webhook_secret = \"{WEBHOOK_SECRET}\"\n\n[webhooks]\n\
                 apply_delay_ms = {apply_delay_ms}\n\n[cluster]\nlease_ms = 1000\n",
                fake_stripe::SECRET_KEY,
                stripe.api_base()
            ))
    };
    // The first node holds every claim and would apply what it takes in an hour later.
    let mut first = Engine::start(node(3_600_000)).await;
    let second = Engine::start(node(0)).await;
    let customer = json!({ "id": "cus_cluster", "object": "customer" });
    deliver_stripe_event(
        &first,
        WEBHOOK_SECRET,
        ("evt_cluster_left", "customer.created"),
        &customer,
    )
    .await;
    let survivor = second.api_a();
    let listed = survivor.get_ok("/v1/events").await;
    assert_eq!(listed["data"][0]["applied"], false, "taken in, not applied: {listed}");

    first.kill();
    let applied = wait_for("the survivor to apply it", Duration::from_secs(30), || async {
        let listed = survivor.get_ok("/v1/events").await;
        (listed["data"][0]["applied"] == true).then_some(listed)
    })
    .await;
    assert_eq!(applied["data"].as_array().unwrap().len(), 1, "{applied}");
    assert!(
        second.log_text().contains("applying gateway events a stopped node left"),
        "{}",
        second.log_tail()
    );
}

#[tokio::test]
async fn a_node_killed_under_load_loses_nothing_acknowledged_and_charges_nothing_twice() {
    let config = on_database(&kassa_testkit::postgres::fresh_database())
        .with_sandbox_latency_ms(20)
        .with_gateway_timeout_ms(1_000)
        .with_reconcile_after_secs(1)
        .with_toml("[cluster]\nlease_ms = 1000\n");
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Engine::start(config.clone()).await);
    }
    let apis: Vec<Api> = nodes.iter().map(Engine::api_a).collect();
    let mut customers = Vec::new();
    for index in 0..6 {
        customers.push(apis[index % 3].customer_with_card("pm_card_visa").await.0);
    }
    // Clients spread charges and their retries over every node; a node that does not answer
    // (killed) or answers 409 is retried on the next with the same key.
    let clients: Vec<_> = (0..4)
        .map(|client| {
            let apis = apis.clone();
            let customers = customers.clone();
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for index in 0..40 {
                    let key = format!("load-{client}-{index}");
                    let customer = &customers[(client + index) % customers.len()];
                    let body = json!({"customer": customer, "amount": 1_100, "currency": "zar"});
                    for attempt in 0..60 {
                        let api = &apis[(client + index + attempt) % apis.len()];
                        match api.try_post_with_key("/v1/charges", &body, &key).await {
                            Ok(answer) if answer.status == 200 => {
                                acknowledged.push((key.clone(), answer.body["id"].clone()));
                                break;
                            }
                            Ok(answer) if answer.status == 409 || answer.status == 503 => {}
                            Ok(answer) => panic!("{key}: {} {}", answer.status, answer.body),
                            Err(_killed) => {}
                        }
                        tokio::time::sleep(Duration::from_millis(25)).await;
                    }
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    nodes[0].kill();
    let mut acknowledged = Vec::new();
    for client in clients {
        acknowledged.extend(client.await.unwrap());
    }
    assert_eq!(acknowledged.len(), 160, "every key was decided on a surviving node");

    // Whatever the killed node left processing, a survivor settles.
    let survivor = &apis[1];
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let charges = loop {
        let mut charges = Vec::new();
        for customer in &customers {
            charges.extend(survivor.customer_charges(customer).await);
        }
        if charges.iter().all(|charge| charge["status"] != "processing") {
            break charges;
        }
        assert!(std::time::Instant::now() < deadline, "charges left processing");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    for (key, id) in &acknowledged {
        let stored = charges.iter().find(|charge| charge["id"] == *id);
        assert!(stored.is_some(), "{key}: acknowledged charge {id} lost");
    }
    let charged = survivor.processor_charges().await;
    let mut once = charged.clone();
    once.dedup();
    assert_eq!(once, charged, "no charge made twice at the processor");
    let mut succeeded: Vec<&str> = charges
        .iter()
        .filter(|charge| charge["status"] == "succeeded")
        .map(|charge| charge["id"].as_str().unwrap())
        .collect();
    succeeded.sort();
    assert_eq!(charged, succeeded, "the processor charged exactly the charges that succeeded");
}

#[tokio::test]
async fn a_node_with_another_data_key_is_refused_before_it_changes_anything() {
    let database = kassa_testkit::postgres::fresh_database();
    let first = Engine::start(on_database(&database)).await;
    let (customer, _) = first.api_a().customer_with_card("pm_card_visa").await;
    let work = tempfile::tempdir().unwrap();
    let other_key = "T3RoZXIga2V5IGZvciB0aGUgY2x1c3RlciB0ZXN0ISE=";
    let output = kassa_command()
        .arg("serve")
        .current_dir(work.path())
        .env("KASSA_STORAGE_BACKEND", "postgres")
        .env("KASSA_DATABASE_URL", &database)
        .env("KASSA_DATA_KEY", other_key)
        .env("KASSA_LISTEN", "127.0.0.1:0")
        .output()
        .expect("run kassa");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a node with another key started: {said}");
    assert!(said.contains("not the one the database was written with"), "{said}");
    let stored = first.api_a().get_ok(&format!("/v1/customers/{customer}")).await;
    assert_eq!(stored["email"], "someone@example.com", "the first node still reads its data");
}
