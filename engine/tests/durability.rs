//! Durability: what was acknowledged survives a restart and a crash, and no crash charges twice.
//!
//! Proves that after a graceful restart customers, payment methods, charges (succeeded and
//! failed), refunds, lists, the processor ledger and stored idempotent answers read back
//! unchanged and the refund bookkeeping continues where it stopped; and that a `kill -9` in the
//! middle of 200 concurrent charges loses no acknowledged charge and charges nothing twice: every
//! charge answered 200 before the kill is still `succeeded` and its key replays it; every request
//! left unanswered, retried with its same key and body, ends in a 200 `succeeded`; the 200 final
//! charges are distinct and are exactly the succeeded charges in the customers' lists and exactly
//! the processor's charge entries (one each, same amount); the only other charges are ones that
//! recovery failed with `processing_error` because the processor never saw them. And that a
//! torn record at the end of the write-ahead log (a crash mid-append) is cut off at start, with
//! a log line saying where, while everything answered before the kill reads back.
//! How: the crash test drives 200 requests through 32 concurrent slots against a sandbox with
//! 20 ms latency and sends SIGKILL as soon as 100 have been answered, so about 30 are in flight
//! and 70 not yet sent; then it restarts on the same data directory and reconciles.

mod common;

use common::*;
use futures::StreamExt;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Every record the graceful test made, read back over HTTP.
async fn read_everything(
    api: &Api,
    customers: &[String],
    charges: &[String],
    refunds: &[String],
) -> Vec<Value> {
    let mut records = Vec::new();
    for customer in customers {
        records.push(api.get_ok(&format!("/v1/customers/{customer}")).await);
        records.push(Value::Array(api.payment_methods(customer).await));
        records.push(Value::Array(api.customer_charges(customer).await));
    }
    for charge in charges {
        records.push(api.get_ok(&format!("/v1/charges/{charge}")).await);
    }
    for refund in refunds {
        records.push(api.get_ok(&format!("/v1/refunds/{refund}")).await);
    }
    records.push(Value::Array(api.ledger().await));
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_a_graceful_restart() {
    let mut engine = Engine::start(Config::default()).await;
    let api = engine.api_a();

    let first = api
        .create_customer_with(&json!({
            "email": "grace@example.com",
            "name": "Grace Hopper",
            "address": {"country": "KE", "region": "Nairobi", "postal_code": "00100"},
            "metadata": {"cohort": "2025"}
        }))
        .await;
    let first = str_field(&first, "id").to_string();
    api.add_payment_method(&first, "pm_card_visa").await;
    let declining = api.add_payment_method(&first, "pm_card_chargeDeclined").await;
    let (second, _) = api.customer_with_card("pm_card_mastercard").await;

    let usd_key = unique_key("usd");
    let usd = api.charge_with_key(&first, 1_000, "usd", &usd_key).await;
    let usd_id = usd.id();
    let jpy_id = str_field(&api.charge_ok(&first, 500, "jpy").await, "id").to_string();
    let body = json!({"customer": first, "amount": 900, "currency": "usd", "payment_method": declining["id"]});
    let declined = api.post("/v1/charges", &body).await;
    assert_error(&declined, 402, "card_declined");
    let declined_id = str_field(&declined.body["error"], "charge").to_string();
    let second_charge_id = str_field(&api.charge_ok(&second, 2_500, "usd").await, "id").to_string();
    let partial_refund = api.refund(&usd_id, Some(250)).await.id();
    let full_refund = api.refund(&jpy_id, None).await.id();

    let customers = [first.clone(), second];
    let charges = [usd_id.clone(), jpy_id.clone(), declined_id, second_charge_id];
    let refunds = [partial_refund, full_refund];
    let before = read_everything(&api, &customers, &charges, &refunds).await;

    let status = engine.restart_graceful().await;
    assert!(
        status.success(),
        "kassa did not exit cleanly on SIGTERM: {status}\n{}",
        engine.log_tail()
    );
    // The stop checkpointed: sled held everything, and the start replayed nothing from the log.
    assert!(
        !engine.log_text().contains("applied the log's records after sled's checkpoint"),
        "a graceful stop left records to replay:\n{}",
        engine.log_tail()
    );
    let api = engine.api_a();
    let after = read_everything(&api, &customers, &charges, &refunds).await;
    for (before, after) in before.iter().zip(&after) {
        assert_eq!(before, after, "a record changed across the restart");
    }

    // The stored answer to a key survives, and replays without charging again.
    let replay = api.charge_with_key(&first, 1_000, "usd", &usd_key).await;
    assert!(replay.is_replay(), "no replay after restart: {}", replay.text);
    assert_eq!(replay.body, usd.body);
    assert_eq!(api.ledger().await.len(), 5, "3 charges and 2 refunds at the processor");

    // Refund bookkeeping continues where it stopped: 750 of the usd charge is left.
    assert_error(&api.refund(&usd_id, Some(751)).await, 400, "amount_too_large");
    api.refund(&usd_id, Some(750)).await.ok();
    let usd_now = api.get_ok(&format!("/v1/charges/{usd_id}")).await;
    assert_eq!(usd_now["amount_refunded"], 1_000, "{usd_now}");
    assert_eq!(usd_now["refunded"], true, "{usd_now}");
    assert_error(&api.refund(&jpy_id, None).await, 400, "charge_already_refunded");
}

const REQUESTS: usize = 200;
const CUSTOMERS: usize = 20;
const CONCURRENCY: usize = 32;
const KILL_AFTER_ANSWERS: usize = 100;
/// How long a retry after the restart may keep meeting 409 / 503 / transport errors.
const RETRY_WINDOW: Duration = Duration::from_secs(20);

struct Request {
    key: String,
    body: Value,
}

/// Retries one request with its key and body until it gets a final answer (bounded).
async fn retry_until_final(api: &Api, request: &Request) -> Resp {
    let deadline = Instant::now() + RETRY_WINDOW;
    loop {
        let last = match api.try_post_with_key("/v1/charges", &request.body, &request.key).await {
            Ok(response) if !matches!(response.status, 409 | 503) => return response,
            Ok(response) => format!("{} {}", response.status, response.text),
            Err(error) => format!("transport error: {error}"),
        };
        assert!(
            Instant::now() < deadline,
            "retry of {} never got a final answer: {last}",
            request.key
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_load_loses_nothing_and_charges_nothing_twice() {
    let mut engine = Engine::start(Config::default().with_sandbox_latency_ms(20)).await;
    let api = engine.api_a();
    let mut customers = Vec::new();
    for _ in 0..CUSTOMERS {
        customers.push(api.customer_with_card("pm_card_visa").await.0);
    }
    let requests: Arc<Vec<Request>> = Arc::new(
        (0..REQUESTS)
            .map(|i| Request {
                key: unique_key("crash"),
                body: charge_body(&customers[i % CUSTOMERS], 100 + i as u64, "usd"),
            })
            .collect(),
    );

    let answered = Arc::new(AtomicUsize::new(0));
    let enough_answers = Arc::new(tokio::sync::Notify::new());
    let load = {
        let (api, requests) = (api.clone(), requests.clone());
        let (answered, enough_answers) = (answered.clone(), enough_answers.clone());
        tokio::spawn(async move {
            futures::stream::iter(0..REQUESTS)
                .map(|i| {
                    let (api, requests) = (api.clone(), requests.clone());
                    let (answered, enough_answers) = (answered.clone(), enough_answers.clone());
                    async move {
                        let request = &requests[i];
                        let outcome =
                            api.try_post_with_key("/v1/charges", &request.body, &request.key).await;
                        if outcome.is_ok()
                            && answered.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER_ANSWERS
                        {
                            enough_answers.notify_one();
                        }
                        (i, outcome.ok())
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .collect::<Vec<_>>()
                .await
        })
    };
    tokio::time::timeout(Duration::from_secs(60), enough_answers.notified()).await.unwrap_or_else(
        |_| panic!("{KILL_AFTER_ANSWERS} answers did not come within 60 s\n{}", engine.log_tail()),
    );
    engine.kill();
    let outcomes = tokio::time::timeout(Duration::from_secs(60), load)
        .await
        .expect("the in-flight requests did not end after the kill")
        .expect("the load task panicked");

    // Answers before the kill: all must be 200 succeeded (distinct keys, good cards).
    let mut acknowledged: HashMap<usize, Resp> = HashMap::new();
    let mut unanswered: Vec<usize> = Vec::new();
    for (i, outcome) in outcomes {
        match outcome {
            Some(response) => {
                assert_eq!(response.status, 200, "before the kill, request {i}: {}", response.text);
                assert_eq!(response.body["status"], "succeeded", "request {i}: {}", response.text);
                acknowledged.insert(i, response);
            }
            None => unanswered.push(i),
        }
    }
    assert!(acknowledged.len() >= KILL_AFTER_ANSWERS);
    assert!(
        !unanswered.is_empty(),
        "every request was answered before the kill: no crash mid-load"
    );

    eprintln!(
        "killed with {} of {REQUESTS} requests answered, {} unanswered",
        acknowledged.len(),
        unanswered.len()
    );
    engine.launch().await;
    let api = engine.api_a();

    // Every acknowledged charge is still there, succeeded, and its key replays it.
    let mut final_charges: HashMap<usize, Value> = HashMap::new();
    for (&i, response) in &acknowledged {
        let id = str_field(&response.body, "id");
        let read = api.get_ok(&format!("/v1/charges/{id}")).await;
        assert_eq!(read["status"], "succeeded", "acknowledged charge {id} after the crash: {read}");
        assert_eq!(read["amount"], requests[i].body["amount"]);
        let replay = retry_until_final(&api, &requests[i]).await;
        assert_eq!(replay.status, 200, "replay of acknowledged request {i}: {}", replay.text);
        assert!(replay.is_replay(), "acknowledged request {i} was not replayed: {}", replay.text);
        assert_eq!(replay.body["id"], id, "acknowledged request {i} replayed another charge");
        final_charges.insert(i, read);
    }

    // Every unanswered request, retried with its key and body, ends in a 200 succeeded.
    let retries = futures::stream::iter(unanswered.iter().copied())
        .map(|i| {
            let (api, requests) = (api.clone(), requests.clone());
            async move { (i, retry_until_final(&api, &requests[i]).await) }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    for (i, response) in retries {
        assert_eq!(response.status, 200, "retry of request {i}: {}", response.text);
        let charge = &response.body;
        assert_eq!(charge["status"], "succeeded", "retry of request {i}: {charge}");
        assert_eq!(charge["amount"], requests[i].body["amount"], "retry of request {i}: {charge}");
        assert_eq!(
            charge["customer"], requests[i].body["customer"],
            "retry of request {i}: {charge}"
        );
        final_charges.insert(i, charge.clone());
    }
    assert_eq!(final_charges.len(), REQUESTS);

    // One distinct charge per request.
    let final_ids: HashSet<String> =
        final_charges.values().map(|c| str_field(c, "id").to_string()).collect();
    assert_eq!(final_ids.len(), REQUESTS, "two requests ended in the same charge");

    // The customers' lists: the succeeded charges are exactly the final ones; anything else is a
    // charge recovery failed because the processor never saw it.
    let mut listed_ids = HashSet::new();
    let mut succeeded_ids = HashSet::new();
    for customer in &customers {
        for charge in api.customer_charges(customer).await {
            let id = str_field(&charge, "id").to_string();
            assert!(listed_ids.insert(id.clone()), "charge {id} listed twice");
            match charge["status"].as_str() {
                Some("succeeded") => {
                    succeeded_ids.insert(id);
                }
                Some("failed") => assert_eq!(
                    charge["failure_code"], "processing_error",
                    "a charge failed for another reason than recovery: {charge}"
                ),
                _ => panic!("a charge is neither succeeded nor failed after recovery: {charge}"),
            }
        }
    }
    eprintln!(
        "after recovery: {} charges listed, {} succeeded, {} failed by recovery",
        listed_ids.len(),
        succeeded_ids.len(),
        listed_ids.len() - succeeded_ids.len()
    );
    assert_eq!(
        succeeded_ids, final_ids,
        "succeeded charges differ from the requests' final charges"
    );

    // The processor charged each final charge exactly once, for its amount, and nothing else.
    let ledger = api.ledger().await;
    let ledger_charges = ledger_of_kind(&ledger, "charge");
    let mut charged_keys = HashSet::new();
    for entry in &ledger_charges {
        let key = str_field(entry, "idempotency_key").to_string();
        assert!(charged_keys.insert(key.clone()), "the processor charged {key} twice: {ledger:?}");
    }
    assert_eq!(charged_keys, final_ids, "processor charges differ from the succeeded charges");
    for charge in final_charges.values() {
        let entries = ledger_entries(&ledger, "charge", str_field(charge, "id"));
        assert_eq!(entries[0]["amount"], charge["amount"], "{charge}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_log_tail_is_cut_at_start_and_nothing_acknowledged_is_lost() {
    let mut engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let mut customers = Vec::new();
    for _ in 0..20 {
        customers.push(api.create_customer().await);
    }
    let (buyer, _) = api.customer_with_card("pm_card_visa").await;
    let charge = api.charge_ok(&buyer, 1234, "usd").await;
    // Killed at once: what was answered is in the log, not necessarily in sled yet.
    engine.kill();

    // A crash in the middle of an append leaves part of a record at the log's end.
    let wal = engine.data_dir().join("wal");
    let mut segments: Vec<_> = std::fs::read_dir(&wal)
        .expect("the log's directory")
        .map(|entry| entry.unwrap().path())
        .collect();
    segments.sort();
    let last = segments.pop().expect("a log segment");
    let mut torn = std::fs::read(&last).unwrap();
    let whole = torn.len();
    torn.extend_from_slice(&[0x40, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 9, 0, 0, 0]);
    torn.extend_from_slice(b"half of a change set");
    std::fs::write(&last, &torn).unwrap();

    engine.launch().await;
    let log = engine.log_text();
    assert!(log.contains("cut a torn record from the end of the log"), "{}", engine.log_tail());
    assert!(log.contains(&format!("offset={whole}")), "cut where the whole records end");
    assert_eq!(std::fs::metadata(&last).unwrap().len(), whole as u64, "the cut is on disk");
    let api = engine.api_a();
    for customer in &customers {
        assert_eq!(api.get(&format!("/v1/customers/{customer}")).await.status, 200, "{customer}");
    }
    let id = str_field(&charge, "id");
    assert_eq!(api.get_ok(&format!("/v1/charges/{id}")).await["status"], "succeeded");
    assert_eq!(api.ledger().await.len(), 1, "the processor's entry came back with the charge");
    // The log goes on after the cut.
    assert_eq!(api.charge_ok(&buyer, 99, "usd").await["status"], "succeeded");
    engine.restart_graceful().await;
    assert_eq!(engine.api_a().ledger().await.len(), 2);
}
