//! Recovery: a charge whose gateway answer never came is settled at start-up, never charged again.
//!
//! Proves that when the processor charges but answers only after `gateways.timeout_ms`
//! (sandbox token `pm_sandbox_timeout`), the engine answers 200 `processing` (it cannot know the
//! outcome, so it must neither fail nor retry the charge), and that after a restart, graceful or
//! `kill -9`, recovery asks the processor by the charge's gateway idempotency key and settles the
//! charge as `succeeded`: the processor's ledger holds exactly one charge entry for it, the
//! customer's list holds exactly that one charge, and repeating the original request with its key
//! returns that charge without charging again.
//! Also proves the engine does not wait for a restart: while running, it asks the processor again
//! `gateways.reconcile_after_secs` after the timeout and settles the charge the same way.
//! How: a 300 ms gateway timeout; charge with the timeout card; restart on the same data directory;
//! poll the charge (bounded) until it leaves `processing`; then reconcile list and ledger.

mod common;

use common::*;
use std::time::Duration;

/// How long recovery may take to settle the charge after the restarted engine is ready.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(15);

enum Restart {
    Graceful,
    Kill,
}

async fn timed_out_charge_is_settled_once(restart: Restart) {
    let config = Config { gateway_timeout_ms: 300, ..Config::default() };
    let mut engine = Engine::start(config).await;
    let api = engine.api_a();
    let (customer, method) = api.customer_with_card("pm_sandbox_timeout").await;
    let key = unique_key("timeout");

    let response = api.charge_with_key(&customer, 4_321, "usd", &key).await;
    let charge = response.ok().clone();
    assert_eq!(
        charge["status"], "processing",
        "a gateway timeout leaves the charge processing: {charge}"
    );
    assert_eq!(charge["payment_method"], method.as_str());
    let charge_id = str_field(&charge, "id").to_string();

    // Before any recovery the processor may already hold the charge, but at most once.
    let ledger = api.ledger().await;
    assert!(ledger_entries(&ledger, "charge", &charge_id).len() <= 1, "{ledger:?}");

    match restart {
        Restart::Graceful => {
            engine.restart_graceful().await;
        }
        Restart::Kill => engine.restart_after_kill().await,
    }
    let api = engine.api_a();

    let path = format!("/v1/charges/{charge_id}");
    let (api_ref, path_ref) = (&api, &path);
    let settled = wait_for(
        "the processing charge to be settled by recovery",
        SETTLE_TIMEOUT,
        move || async move {
            let charge = api_ref.get_ok(path_ref).await;
            (charge["status"] != "processing").then_some(charge)
        },
    )
    .await;
    assert_eq!(settled["status"], "succeeded", "the processor did charge: {settled}");
    assert_eq!(settled["amount"], 4_321);
    assert!(settled["gateway_reference"].as_str().is_some_and(|r| !r.is_empty()), "{settled}");

    let ledger = api.ledger().await;
    let entries = ledger_entries(&ledger, "charge", &charge_id);
    assert_eq!(entries.len(), 1, "exactly one processor charge for {charge_id}: {ledger:?}");
    assert_eq!(entries[0]["amount"], 4_321);
    assert_eq!(entries[0]["gateway_reference"], settled["gateway_reference"]);
    assert_eq!(ledger_of_kind(&ledger, "charge").len(), 1, "{ledger:?}");
    assert_eq!(ids(&api.customer_charges(&customer).await), [charge_id.as_str()]);

    // The client retrying its original request gets the same charge, not a new one.
    let again = api.charge_with_key(&customer, 4_321, "usd", &key).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["id"], charge_id.as_str(), "{}", again.text);
    assert_eq!(ledger_of_kind(&api.ledger().await, "charge").len(), 1);
    assert_eq!(api.customer_charges(&customer).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_charge_is_settled_after_a_graceful_restart() {
    timed_out_charge_is_settled_once(Restart::Graceful).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_charge_is_settled_after_kill_9() {
    timed_out_charge_is_settled_once(Restart::Kill).await;
}

#[tokio::test]
async fn a_timed_out_charge_is_settled_while_the_engine_runs() {
    let config = Config { gateway_timeout_ms: 300, reconcile_after_secs: 1, ..Config::default() };
    let engine = Engine::start(config).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_sandbox_timeout").await;
    let key = unique_key("timeout-live");
    let charge = api.charge_with_key(&customer, 1_234, "usd", &key).await.ok().clone();
    assert_eq!(charge["status"], "processing", "{charge}");
    let charge_id = str_field(&charge, "id").to_string();

    let path = format!("/v1/charges/{charge_id}");
    let (api_ref, path_ref) = (&api, &path);
    let settled = wait_for(
        "the charge to be settled without a restart",
        SETTLE_TIMEOUT,
        move || async move {
            let charge = api_ref.get_ok(path_ref).await;
            (charge["status"] != "processing").then_some(charge)
        },
    )
    .await;
    assert_eq!(settled["status"], "succeeded", "{settled}");
    let ledger = api.ledger().await;
    assert_eq!(ledger_entries(&ledger, "charge", &charge_id).len(), 1, "{ledger:?}");

    // The retry with the key now answers with the settled charge, without charging again.
    let replay = api.charge_with_key(&customer, 1_234, "usd", &key).await;
    assert!(replay.is_replay());
    assert_eq!(replay.body["status"], "succeeded", "{}", replay.text);
    assert_eq!(ledger_entries(&api.ledger().await, "charge", &charge_id).len(), 1);
}
