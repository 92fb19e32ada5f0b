//! The books: every charge that succeeds, refund, and charge declined (nothing) as the platform
//! reads them back — `GET /v1/balance` to the cent, `GET /v1/balance_transactions` newest first
//! and filtered — and `kassa verify-ledger` passing on the data directory after a `kill -9`
//! during concurrent charges and refunds, with the platform's balance equal to what the sandbox
//! processor holds.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;

/// The platform's available balance per currency, as `GET /v1/balance` shows it.
async fn available(api: &Api) -> Vec<(String, i64)> {
    let balance = api.get_ok("/v1/balance").await;
    assert_eq!(balance["object"], "balance", "{balance}");
    let amounts = balance["available"].as_array().unwrap_or_else(|| panic!("{balance}"));
    for pending in balance["pending"].as_array().unwrap() {
        assert_eq!(pending["amount"], 0, "nothing is posted pending yet: {balance}");
    }
    amounts
        .iter()
        .map(|amount| (str_field(amount, "currency").to_owned(), i64_field(amount, "amount")))
        .collect()
}

fn verify_ledger(data_dir: &Path) -> Output {
    let work = tempfile::tempdir().unwrap();
    let data = data_dir.to_str().unwrap();
    kassa_command()
        .args(["verify-ledger", "--data", data])
        .current_dir(work.path())
        .output()
        .expect("run kassa verify-ledger")
}

#[tokio::test]
async fn charges_and_refunds_move_the_balance_to_the_cent() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let dollars = api.charge_ok(&customer, 10_000, "usd").await;
    let rands = api.charge_ok(&customer, 2_550, "zar").await;
    let refund = api.refund(str_field(&dollars, "id"), Some(4_000)).await.ok().clone();
    assert_eq!(refund["status"], "succeeded", "{refund}");
    // A declined charge moves no money.
    let (declined_customer, _) = api.customer_with_card("pm_card_chargeDeclined").await;
    assert_eq!(api.charge(&declined_customer, 7_000, "usd").await.status, 402);

    assert_eq!(available(&api).await, vec![("usd".into(), 6_000), ("zar".into(), 2_550)]);
    assert!(available(&engine.api_b()).await.is_empty(), "another account's books are its own");

    let listed = api.list_all("/v1/balance_transactions", "id").await;
    let seen: Vec<(&str, i64, &str)> = listed
        .iter()
        .map(|txn| (str_field(txn, "type"), i64_field(txn, "amount"), str_field(txn, "source")))
        .collect();
    let (dollar_id, rand_id, refund_id) =
        (str_field(&dollars, "id"), str_field(&rands, "id"), str_field(&refund, "id"));
    assert_eq!(
        seen,
        vec![
            ("refund", -4_000, refund_id),
            ("charge", 2_550, rand_id),
            ("charge", 10_000, dollar_id)
        ],
        "newest first"
    );
    for txn in &listed {
        assert_eq!(txn["object"], "balance_transaction");
        assert_eq!(txn["net"], txn["amount"], "no gateway fee posted: {txn}");
        assert_eq!(txn["customer"], customer.as_str());
    }
    let refunds = api.get_ok("/v1/balance_transactions?type=refund").await;
    assert_eq!(refunds["data"].as_array().unwrap().len(), 1, "{refunds}");
    let of_charge = api.get_ok(&format!("/v1/balance_transactions?source={dollar_id}")).await;
    assert_eq!(of_charge["data"][0]["amount"], 10_000, "{of_charge}");
    assert_eq!(of_charge["data"].as_array().unwrap().len(), 1, "{of_charge}");
    let after_first = str_field(&listed[0], "id");
    let older =
        api.get_ok(&format!("/v1/balance_transactions?limit=1&starting_after={after_first}")).await;
    assert_eq!(older["data"][0]["source"], rand_id, "{older}");
    assert_eq!(older["has_more"], true);

    assert_error(&api.get("/v1/balance_transactions?type=payout").await, 400, "validation_error");
    assert_error(&api.get("/v1/balance_transactions?source=ch-1").await, 400, "validation_error");
    assert_error(
        &api.get("/v1/balance_transactions?starting_after=ch_1").await,
        400,
        "validation_error",
    );
    assert_error(
        &api.get("/v1/balance_transactions?created[gte]=-1").await,
        400,
        "validation_error",
    );
}

#[tokio::test]
async fn the_books_balance_after_a_kill_during_charges_and_refunds() {
    // verify-ledger reads a sled directory: this test's engine keeps its books there.
    let mut engine = Engine::start(Config::default().on_sled()).await;
    let api = engine.api_a();
    let mut customers = Vec::new();
    for _ in 0..4 {
        customers.push(api.customer_with_card("pm_card_visa").await.0);
    }
    let load = {
        let api = api.clone();
        tokio::spawn(async move {
            let mut index = 0usize;
            loop {
                let customer = &customers[index % customers.len()];
                let body = charge_body(customer, 1_000, "zar");
                let key = format!("ledger-charge-{index}");
                let Ok(charge) = api.try_post_with_key("/v1/charges", &body, &key).await else {
                    return;
                };
                if charge.status == 200 && index.is_multiple_of(3) {
                    let body = json!({"charge": charge.body["id"], "amount": 250});
                    let key = format!("ledger-refund-{index}");
                    if api.try_post_with_key("/v1/refunds", &body, &key).await.is_err() {
                        return;
                    }
                }
                index += 1;
            }
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    engine.kill();
    let _ = load.await;
    engine.launch().await;
    let api = engine.api_a();

    let held: i64 = api
        .ledger()
        .await
        .iter()
        .map(|entry| match entry["kind"].as_str() {
            Some("charge") => i64_field(entry, "amount"),
            Some("refund") => -i64_field(entry, "amount"),
            _ => 0,
        })
        .sum();
    assert!(held > 0, "the load charged something");
    assert_eq!(
        available(&api).await,
        vec![("zar".into(), held)],
        "the books hold what the processor holds"
    );

    let running = verify_ledger(engine.data_dir());
    assert!(!running.status.success(), "verify-ledger opened a directory the engine holds");
    engine.stop_graceful().await;
    let verified = verify_ledger(engine.data_dir());
    let said = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "{said}{}", String::from_utf8_lossy(&verified.stderr));
    assert!(said.contains("the books balance"), "{said}");
}
