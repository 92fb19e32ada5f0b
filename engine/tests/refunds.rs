//! Refunds: money goes back, never more than was captured.
//!
//! Proves that a charge can be refunded in parts and then in full (the default amount being what
//! is left), that the charge's `amount_refunded` / `refunded` follow, that a refund reads back,
//! that asking for more than is left (400 `amount_too_large`), for anything once nothing is left
//! (400 `charge_already_refunded`) or for a refund of a failed charge (400) changes nothing; and
//! that 20 concurrent partial refunds asking for more than the charge in total never exceed it:
//! the succeeded refunds sum to at most the amount, the charge and the sandbox processor's ledger
//! agree on that sum, and every refused request really asked for more than was left.
//! How: a fresh engine per test; the sandbox ledger (refund entries keyed by refund id) is the
//! processor's side of the books; the concurrent test gives the sandbox 20 ms latency so refunds
//! overlap while earlier ones are still at the gateway.

mod common;

use common::*;
use futures::future::join_all;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_then_the_rest_then_nothing_left() {
    let started = now_secs();
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let charge = api.charge_ok(&customer, 1_000, "usd").await;
    let charge_id = str_field(&charge, "id").to_string();
    let charge_path = format!("/v1/charges/{charge_id}");

    let body = json!({"charge": charge_id, "amount": 300, "reason": "requested_by_customer"});
    let partial = api.post("/v1/refunds", &body).await.ok().clone();
    let partial_id = str_field(&partial, "id").to_string();
    assert!(partial_id.starts_with("re_"), "refund id: {partial}");
    assert_eq!(partial["object"], "refund");
    assert_eq!(partial["charge"], charge_id.as_str());
    assert_eq!(partial["amount"], 300);
    assert_eq!(partial["currency"], "usd");
    assert_eq!(partial["status"], "succeeded");
    assert_eq!(partial["reason"], "requested_by_customer");
    assert_created_recently(&partial, started);

    let read_refund = api.get_ok(&format!("/v1/refunds/{partial_id}")).await;
    for field in ["id", "object", "charge", "amount", "currency", "status", "reason", "created"] {
        assert_eq!(read_refund[field], partial[field], "refund field `{field}`: {read_refund}");
    }
    let after_partial = api.get_ok(&charge_path).await;
    assert_eq!(after_partial["amount_refunded"], 300, "{after_partial}");
    assert_eq!(after_partial["refunded"], false, "{after_partial}");
    assert_eq!(after_partial["status"], "succeeded", "a refund does not change the status");

    // No amount: refund what is left.
    let rest = api.refund(&charge_id, None).await.ok().clone();
    let rest_id = str_field(&rest, "id").to_string();
    assert_eq!(rest["amount"], 700, "the default amount is what is left: {rest}");
    assert_eq!(rest["status"], "succeeded");
    let after_rest = api.get_ok(&charge_path).await;
    assert_eq!(after_rest["amount_refunded"], 1_000, "{after_rest}");
    assert_eq!(after_rest["refunded"], true, "{after_rest}");

    assert_error(&api.refund(&charge_id, None).await, 400, "charge_already_refunded");
    assert_error(&api.refund(&charge_id, Some(1)).await, 400, "charge_already_refunded");

    // The processor refunded exactly these two, keyed by refund id.
    let ledger = api.ledger().await;
    let refunds = ledger_of_kind(&ledger, "refund");
    assert_eq!(refunds.len(), 2, "{ledger:?}");
    for (refund_id, amount) in [(&partial_id, 300), (&rest_id, 700)] {
        let entries = ledger_entries(&ledger, "refund", refund_id);
        assert_eq!(entries.len(), 1, "ledger entry for {refund_id}: {ledger:?}");
        assert_eq!(entries[0]["amount"], amount);
        assert_eq!(entries[0]["currency"], "usd");
    }
    assert_eq!(api.get_ok(&charge_path).await["amount_refunded"], 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_large_refunds_are_refused_and_change_nothing() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let charge_id = str_field(&api.charge_ok(&customer, 1_000, "usd").await, "id").to_string();
    let charge_path = format!("/v1/charges/{charge_id}");

    assert_error(&api.refund(&charge_id, Some(1_001)).await, 400, "amount_too_large");
    assert_eq!(api.get_ok(&charge_path).await["amount_refunded"], 0);

    api.refund(&charge_id, Some(400)).await.ok();
    assert_error(&api.refund(&charge_id, Some(601)).await, 400, "amount_too_large");
    let charge = api.get_ok(&charge_path).await;
    assert_eq!(charge["amount_refunded"], 400, "{charge}");
    assert_eq!(charge["refunded"], false, "{charge}");

    // Exactly what is left is fine.
    api.refund(&charge_id, Some(600)).await.ok();
    let charge = api.get_ok(&charge_path).await;
    assert_eq!(charge["amount_refunded"], 1_000, "{charge}");
    assert_eq!(charge["refunded"], true, "{charge}");

    let ledger = api.ledger().await;
    let refunded: u64 =
        ledger_of_kind(&ledger, "refund").iter().map(|e| u64_field(e, "amount")).sum();
    assert_eq!(refunded, 1_000, "the refused refunds never reached the processor: {ledger:?}");
    assert_eq!(ledger_of_kind(&ledger, "refund").len(), 2, "{ledger:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_charge_cannot_be_refunded() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_chargeDeclined").await;
    let declined = api.charge(&customer, 1_000, "usd").await;
    assert_error(&declined, 402, "card_declined");
    let charge_id = declined.body["error"]["charge"].as_str().expect("error.charge").to_string();

    for amount in [None, Some(100)] {
        let refund = api.refund(&charge_id, amount).await;
        assert_eq!(refund.status, 400, "refund of a failed charge ({amount:?}): {}", refund.text);
        assert_error_shape(&refund);
    }
    let charge = api.get_ok(&format!("/v1/charges/{charge_id}")).await;
    assert_eq!(charge["status"], "failed");
    assert_eq!(charge["amount_refunded"], 0);
    let ledger = api.ledger().await;
    assert!(ledger.is_empty(), "nothing reached the processor: {ledger:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_partial_refunds_never_exceed_the_charge() {
    const CHARGE_AMOUNT: u64 = 10_000;
    const REFUNDS: u64 = 20;
    let engine = Engine::start(Config::default().with_sandbox_latency_ms(20)).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let charge_id =
        str_field(&api.charge_ok(&customer, CHARGE_AMOUNT, "usd").await, "id").to_string();

    // 300, 400, …, 2200: 25 000 in total, two and a half times the charge.
    let amounts: Vec<u64> = (0..REFUNDS).map(|i| 300 + 100 * i).collect();
    assert!(amounts.iter().sum::<u64>() > CHARGE_AMOUNT);
    let requests = amounts.iter().map(|&amount| {
        let api = api.clone();
        let body = json!({"charge": charge_id, "amount": amount});
        let key = unique_key("refund");
        async move { (amount, api.post_with_key("/v1/refunds", &body, &key).await) }
    });
    let answers = join_all(requests).await;

    let mut succeeded: Vec<(u64, String)> = Vec::new();
    let mut refused: Vec<u64> = Vec::new();
    for (amount, response) in &answers {
        match response.status {
            200 => {
                let refund = &response.body;
                assert_eq!(refund["status"], "succeeded", "{refund}");
                assert_eq!(refund["amount"], *amount, "{refund}");
                assert_eq!(refund["charge"], charge_id.as_str(), "{refund}");
                succeeded.push((*amount, str_field(refund, "id").to_string()));
            }
            400 => {
                assert_error_shape(response);
                let code = response.error_code().unwrap_or_default();
                assert!(
                    code == "amount_too_large" || code == "charge_already_refunded",
                    "refund of {amount} refused with an unexpected code: {}",
                    response.text
                );
                refused.push(*amount);
            }
            other => panic!("refund of {amount}: unexpected {other}: {}", response.text),
        }
    }

    let refunded: u64 = succeeded.iter().map(|(amount, _)| amount).sum();
    assert!(refunded <= CHARGE_AMOUNT, "refunded {refunded} of a {CHARGE_AMOUNT} charge");
    assert!(!refused.is_empty(), "25 000 asked of 10 000, yet nothing was refused");
    let left = CHARGE_AMOUNT - refunded;
    for amount in &refused {
        assert!(
            *amount > left,
            "a refund of {amount} was refused although {left} is still left at the end"
        );
    }

    let charge = api.get_ok(&format!("/v1/charges/{charge_id}")).await;
    assert_eq!(charge["amount_refunded"], refunded, "{charge}");
    assert_eq!(charge["refunded"], refunded == CHARGE_AMOUNT, "{charge}");

    let ledger = api.ledger().await;
    let ledger_refunds = ledger_of_kind(&ledger, "refund");
    assert_eq!(ledger_refunds.len(), succeeded.len(), "one processor refund per succeeded refund");
    let mut ledger_total = 0;
    for (amount, refund_id) in &succeeded {
        let entries = ledger_entries(&ledger, "refund", refund_id);
        assert_eq!(entries.len(), 1, "ledger entries for {refund_id}: {ledger:?}");
        assert_eq!(entries[0]["amount"], *amount);
        ledger_total += u64_field(entries[0], "amount");
    }
    assert_eq!(ledger_total, refunded);
}
