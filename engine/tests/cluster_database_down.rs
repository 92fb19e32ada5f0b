//! The database stopped and started again under load (a test binary of its own: it stops the
//! test process's PostgreSQL server). While it is down every request is refused cleanly — 503
//! `storage_unavailable`, `/readyz` 503 — and afterwards nothing is half-written: every charge
//! the nodes answered is in the database, each settled once, and the shared sandbox ledger holds
//! exactly the charges that succeeded.
//!
//! When the database is back, a node settles the charges it left processing in the background
//! (`reconcile_after_secs`), so a request the other node decided on the customer as it stood
//! before may be refused with 409 `conflict` (another node changed the customer first): a
//! refusal like the 503, answered when the request is sent again with its key.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[tokio::test]
async fn requests_fail_cleanly_while_the_database_is_down_and_nothing_is_half_written() {
    let config = Config::default()
        .on_postgres(&kassa_testkit::postgres::fresh_database(), CLUSTER_DATA_KEY)
        .with_reconcile_after_secs(1)
        .with_gateway_timeout_ms(1_000)
        .with_toml("[cluster]\nlease_ms = 1000\n");
    let nodes = [Engine::start(config.clone()).await, Engine::start(config).await];
    let apis: Vec<Api> = nodes.iter().map(Engine::api_a).collect();
    let (customer, _) = apis[0].customer_with_card("pm_card_visa").await;

    // Charges keep coming, one key each, to either node, while the database goes away.
    let load = {
        let apis = apis.clone();
        let customer = customer.clone();
        tokio::spawn(async move {
            let mut answers = Vec::new();
            for index in 0..400 {
                let api = &apis[index % apis.len()];
                let body = json!({"customer": customer, "amount": 700, "currency": "zar"});
                let key = format!("while-down-{index}");
                match api.try_post_with_key("/v1/charges", &body, &key).await {
                    Ok(answer) => answers.push((key, answer.status, answer.body)),
                    Err(error) => panic!("no answer to {key}: {error}"),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            answers
        })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    kassa_testkit::postgres::stop_server();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let ready = apis[1].get("/readyz").await;
    assert_eq!(ready.status, 503, "{:?}", ready.body);
    assert_eq!(ready.body["status"], "storage_unavailable");
    kassa_testkit::postgres::start_server();
    let answers = load.await.unwrap();

    let mut refused = 0;
    let mut conflicts = Vec::new();
    for (key, status, body) in &answers {
        match status {
            200 => {}
            503 => {
                assert_eq!(body["error"]["code"], "storage_unavailable", "{key}: {body}");
                refused += 1;
            }
            409 => {
                assert_eq!(body["error"]["code"], "conflict", "{key}: {body}");
                conflicts.push(key.clone());
            }
            other => panic!("{key}: {other} {body}"),
        }
    }
    assert!(refused > 0, "the database was down for some requests");
    assert!(answers.iter().any(|(_, status, _)| *status == 200), "and up for others");

    // Once it is back: ready again, and whatever was left processing settles.
    let deadline = Instant::now() + Duration::from_secs(60);
    let charges = loop {
        let ready = apis[0].get("/readyz").await;
        if ready.status == 200 {
            let charges = apis[0].customer_charges(&customer).await;
            if charges.iter().all(|charge| charge["status"] != "processing") {
                break charges;
            }
        }
        assert!(Instant::now() < deadline, "the nodes did not recover");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // A request refused as a conflict is answered once retried with its key: made then, or
    // replayed once the charge it left processing is settled.
    for key in &conflicts {
        let body = json!({"customer": customer, "amount": 700, "currency": "zar"});
        loop {
            let retried = apis[0].try_post_with_key("/v1/charges", &body, key).await.unwrap();
            if retried.status == 200 {
                break;
            }
            assert_eq!(retried.status, 409, "{key} retried: {}", retried.body);
            assert!(Instant::now() < deadline, "{key} is still refused: {}", retried.body);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let charges = match conflicts.is_empty() {
        true => charges,
        false => apis[0].customer_charges(&customer).await,
    };
    for (key, status, body) in &answers {
        if *status == 200 {
            let id = body["id"].as_str().unwrap();
            assert!(charges.iter().any(|charge| charge["id"] == id), "{key}: {id} not stored");
        }
    }
    let succeeded: Vec<&str> = charges
        .iter()
        .filter(|charge| charge["status"] == "succeeded")
        .map(|charge| charge["id"].as_str().unwrap())
        .collect();
    let mut expected = succeeded.clone();
    expected.sort();
    assert_eq!(
        apis[1].processor_charges().await,
        expected,
        "the processor charged exactly the charges that succeeded"
    );
}
