//! Idempotency: one `Idempotency-Key` never charges twice, whatever the client repeats.
//!
//! Proves that a repeated request (same key, same method, path and canonical body) gets the first
//! answer back, status and body, with `Idempotent-Replayed: true`, for a success and for a decline
//! alike, and does nothing again; that the same key with another body or another path is refused
//! with 422; that a key is scoped to its account; that a request refused by validation leaves its
//! key unused; and that 50 concurrent copies of one request produce exactly one charge: one
//! original 200, the rest identical replays or 409 `idempotency_key_in_use`, one charge in the
//! customer's list and one charge at the sandbox processor. A replay that finds the first
//! answer recorded but not yet durable answers only once it is, never before the first request.
//! How: a fresh engine per test; the customer's charge list and the sandbox ledger are the ground
//! truth for "charged once"; the concurrent test gives the sandbox 50 ms latency and pre-opens the
//! connections so the copies overlap while the first is still at the gateway; the engine's
//! flusher is held by the harness's hold file (`Engine::hold_flushes`) to show what an answer
//! waits for.

mod common;

use std::time::Duration;

use common::*;
use futures::future::join_all;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_request_replays_the_first_answer() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let key = unique_key("replay");

    let first = api.charge_with_key(&customer, 1_000, "usd", &key).await;
    let charge = first.ok().clone();
    assert_eq!(charge["status"], "succeeded");
    assert!(!first.is_replay(), "the first answer is not a replay");

    for attempt in 0..3 {
        let again = api.charge_with_key(&customer, 1_000, "usd", &key).await;
        assert_eq!(again.status, first.status, "attempt {attempt}: {}", again.text);
        assert_eq!(again.body, first.body, "attempt {attempt}: the replay differs");
        assert!(again.is_replay(), "attempt {attempt}: no `Idempotent-Replayed: true` header");
    }

    // Once the first request has finished, concurrent replays never see 409: only a request
    // still in flight holds its key.
    let replays =
        join_all((0..20).map(|_| api.charge_with_key(&customer, 1_000, "usd", &key))).await;
    for again in &replays {
        assert_eq!(again.status, first.status, "a concurrent replay: {}", again.text);
        assert_eq!(again.body, first.body, "a concurrent replay differs");
        assert!(again.is_replay());
    }

    let charge_id = str_field(&charge, "id");
    assert_eq!(ids(&api.customer_charges(&customer).await), [charge_id]);
    let ledger = api.ledger().await;
    assert_eq!(ledger_entries(&ledger, "charge", charge_id).len(), 1, "{ledger:?}");
    assert_eq!(ledger.len(), 1, "{ledger:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_decline_replays_the_402() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_chargeDeclinedInsufficientFunds").await;
    let key = unique_key("decline");

    let first = api.charge_with_key(&customer, 700, "usd", &key).await;
    assert_error(&first, 402, "card_declined");
    let again = api.charge_with_key(&customer, 700, "usd", &key).await;
    assert_eq!(again.status, 402, "{}", again.text);
    assert_eq!(again.body, first.body, "the replayed decline differs");
    assert!(again.is_replay(), "no `Idempotent-Replayed: true` header");

    let listed = api.customer_charges(&customer).await;
    assert_eq!(listed.len(), 1, "one failed charge, not two: {listed:?}");
    assert_eq!(listed[0]["id"], first.body["error"]["charge"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_body_in_another_key_order_is_the_same_request() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let key = unique_key("canonical");

    let first = api
        .post_raw(
            "/v1/charges",
            format!(r#"{{"customer":"{customer}","amount":1200,"currency":"usd"}}"#).into_bytes(),
            Some(&key),
        )
        .await;
    first.ok();
    let reordered = api
        .post_raw(
            "/v1/charges",
            format!("{{\n  \"currency\": \"usd\",\n  \"amount\": 1200,\n  \"customer\": \"{customer}\"\n}}")
                .into_bytes(),
            Some(&key),
        )
        .await;
    assert_eq!(reordered.status, 200, "{}", reordered.text);
    assert!(reordered.is_replay(), "reordered keys and whitespace are the same request");
    assert_eq!(reordered.body, first.body);
    assert_eq!(api.customer_charges(&customer).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_reused_for_another_request_is_refused() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let key = unique_key("reused");

    let first = api.charge_with_key(&customer, 1_000, "usd", &key).await;
    let charge_id = first.id();

    // Same path, different body.
    let other_amount = api.charge_with_key(&customer, 1_001, "usd", &key).await;
    assert_error(&other_amount, 422, "idempotency_key_reused");
    let other_currency = api.charge_with_key(&customer, 1_000, "eur", &key).await;
    assert_error(&other_currency, 422, "idempotency_key_reused");

    // Different path (and body).
    let other_path =
        api.post_with_key("/v1/customers", &json!({"email": "x@example.com"}), &key).await;
    assert_error(&other_path, 422, "idempotency_key_reused");
    let refund_path = api.post_with_key("/v1/refunds", &json!({"charge": charge_id}), &key).await;
    assert_error(&refund_path, 422, "idempotency_key_reused");

    // Nothing happened: one charge, unrefunded, one ledger entry.
    assert_eq!(ids(&api.customer_charges(&customer).await), [charge_id.as_str()]);
    let charge = api.get_ok(&format!("/v1/charges/{charge_id}")).await;
    assert_eq!(charge["amount_refunded"], 0, "{charge}");
    let ledger = api.ledger().await;
    assert_eq!(ledger.len(), 1, "{ledger:?}");

    // The original request still replays.
    let replay = api.charge_with_key(&customer, 1_000, "usd", &key).await;
    assert!(replay.is_replay());
    assert_eq!(replay.body, first.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_scoped_to_their_account() {
    let engine = Engine::start(Config::default()).await;
    let api_a = engine.api_a();
    let api_b = engine.api_b();
    let (customer_a, _) = api_a.customer_with_card("pm_card_visa").await;
    let (customer_b, _) = api_b.customer_with_card("pm_card_visa").await;
    let key = "shared-key-order-1001";

    let charge_a = api_a.charge_with_key(&customer_a, 1_000, "usd", key).await;
    let charge_b = api_b.charge_with_key(&customer_b, 2_000, "usd", key).await;
    assert!(!charge_b.is_replay(), "account B's first use of a key is not a replay");
    assert_ne!(charge_a.id(), charge_b.id());
    assert_eq!(charge_b.ok()["customer"], customer_b.as_str());
    assert_eq!(charge_b.ok()["amount"], 2_000);
    assert_eq!(api_b.customer_charges(&customer_b).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_refused_by_validation_does_not_use_up_its_key() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let key = unique_key("invalid-first");

    let invalid = api.charge_with_key(&customer, 0, "usd", &key).await;
    assert_eq!(invalid.status, 400, "{}", invalid.text);
    assert_error_shape(&invalid);

    let valid = api.charge_with_key(&customer, 1_000, "usd", &key).await;
    assert_eq!(valid.status, 200, "the key is still free after a 400: {}", valid.text);
    assert!(!valid.is_replay());
    assert_eq!(valid.body["status"], "succeeded");
    assert_eq!(api.customer_charges(&customer).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_copies_charge_once() {
    const COPIES: usize = 50;
    let engine = Engine::start(Config::default().with_sandbox_latency_ms(50)).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let key = unique_key("concurrent");

    // Open the connections first, so the copies reach the engine together.
    let warm_up = (0..COPIES).map(|_| api.get("/healthz"));
    for response in join_all(warm_up).await {
        assert_eq!(response.status, 200, "{}", response.text);
    }

    let copies = (0..COPIES).map(|_| api.charge_with_key(&customer, 4_200, "usd", &key));
    let responses = join_all(copies).await;

    let mut originals = Vec::new();
    let mut replays = Vec::new();
    let mut in_use = 0;
    for response in &responses {
        match response.status {
            200 if response.is_replay() => replays.push(response),
            200 => originals.push(response),
            409 => {
                assert_error(response, 409, "idempotency_key_in_use");
                in_use += 1;
            }
            other => panic!("unexpected answer {other}: {}", response.text),
        }
    }
    assert_eq!(originals.len(), 1, "exactly one copy is not a replay or a 409");
    let original = originals[0];
    assert_eq!(original.body["status"], "succeeded", "{}", original.text);
    for replay in &replays {
        assert_eq!(replay.body, original.body, "a replay differs from the original");
    }
    assert!(
        in_use > 0,
        "no copy overlapped the first one (all {} replayed); the test did not exercise concurrency",
        replays.len()
    );

    eprintln!("{COPIES} copies: 1 original, {} replays, {in_use} answered 409", replays.len());
    let after = api.charge_with_key(&customer, 4_200, "usd", &key).await;
    assert!(after.is_replay());
    assert_eq!(after.body, original.body);

    let charge_id = str_field(&original.body, "id");
    assert_eq!(ids(&api.customer_charges(&customer).await), [charge_id]);
    let ledger = api.ledger().await;
    assert_eq!(ledger_of_kind(&ledger, "charge").len(), 1, "{ledger:?}");
    assert_eq!(ledger_entries(&ledger, "charge", charge_id).len(), 1, "{ledger:?}");
}

#[tokio::test]
async fn a_replay_answers_only_once_the_answer_it_replays_is_durable() {
    let engine = Engine::start(Config::default().on_sled()).await;
    let api = engine.api_a();
    let customer = api.create_customer().await;
    let trial = json!({
        "name": "Trial", "amount": 1_000, "currency": "usd", "interval": "month",
        "trial_days": 14,
    });
    let plan = str_field(&api.create_plan(&trial).await, "id").to_string();
    let body = json!({ "customer": customer, "plan": plan });
    let key = unique_key("durable-replay");

    // From here nothing reaches the disk: the first request's answer is recorded (a replay
    // reads it without waiting for the key's claim) but not durable.
    engine.hold_flushes();
    let send = |api: Api, body: Value, key: String| {
        tokio::spawn(async move { api.post_with_key("/v1/subscriptions", &body, &key).await })
    };
    let first = send(api.clone(), body.clone(), key.clone());
    wait_for("the subscription to be recorded", Duration::from_secs(5), || {
        let (api, customer) = (api.clone(), customer.clone());
        async move { (!api.customer_subscriptions(&customer).await.is_empty()).then_some(()) }
    })
    .await;
    let replay = send(api.clone(), body, key);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!first.is_finished(), "the first request answered before its answer was durable");
    assert!(!replay.is_finished(), "the replay answered before the answer it shows was durable");

    engine.release_flushes();
    let (first, replay) = (first.await.unwrap(), replay.await.unwrap());
    assert_eq!(first.ok()["status"], "trialing");
    assert!(!first.is_replay());
    assert_eq!(replay.status, 200, "{}", replay.text);
    assert_eq!(replay.body, first.body);
    assert!(replay.is_replay(), "no `Idempotent-Replayed: true` header");
}
