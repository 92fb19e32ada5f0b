//! A data directory written by Kassa 0.1.0 opens in this build and reads back exactly as 0.1.0
//! answered it (every field it answered, with its value; fields added since come on top). The fixture (`fixtures/datadir-0.1.0.tar.gz`) was written by 0.1.0: its first
//! customer's objects before a graceful stop, so they are in sled's trees, and the rest after it,
//! left the way a crash leaves them (`kill -9` right after the last answer), so this build must
//! replay 0.1.0's write-ahead log as well as read its trees. `fixtures/datadir-0.1.0.json` holds 0.1.0's
//! answers. Stored records evolve by the rule in `engine/src/store/codec.rs`; this test is what
//! holds a build to it. Nothing in the fixture depends on the clock: the subscription lives on a
//! frozen test clock.
//!
//! To write the fixture of a new release: `cargo test -p kassa-engine --test upgrade --
//! --ignored write_the_fixture`, then commit both files.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn fixture(extension: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/datadir-0.1.0.{extension}"))
}

/// Every object the fixture holds, as the API answers for it.
async fn answers(api: &Api, ids: &Value) -> Value {
    let id = |name: &str| ids[name].as_str().expect("an id").to_owned();
    let customer = id("customer");
    let clock_customer = id("clock_customer");
    json!({
        "customer": api.get_ok(&format!("/v1/customers/{customer}")).await,
        "payment_methods": api.payment_methods(&customer).await,
        "charges": api.list_all(&format!("/v1/customers/{customer}/charges"), "id").await,
        "refund": api.get_ok(&format!("/v1/refunds/{}", id("refund"))).await,
        "plan": api.get_ok(&format!("/v1/plans/{}", id("plan"))).await,
        "test_clock": api.get_ok(&format!("/v1/test_clocks/{}", id("clock"))).await,
        "clock_customer": api.get_ok(&format!("/v1/customers/{clock_customer}")).await,
        "subscription": api.get_ok(&format!("/v1/subscriptions/{}", id("subscription"))).await,
        "invoices": api.customer_invoices(&clock_customer).await,
        "ledger": api.ledger().await,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_of_0_1_0_opens_and_reads_back_as_it_was_answered() {
    let recorded: Value =
        serde_json::from_slice(&std::fs::read(fixture("json")).expect("the fixture's answers"))
            .expect("the answers are JSON");
    let engine = Engine::start_on(Config::default(), |data_dir| {
        std::fs::create_dir_all(data_dir).expect("the data directory");
        let unpacked = Command::new("tar")
            .arg("-xzf")
            .arg(fixture("tar.gz"))
            .arg("-C")
            .arg(data_dir)
            .status()
            .expect("run tar");
        assert!(unpacked.success(), "unpack the fixture");
    })
    .await;
    let api = engine.api_a();
    let now = answers(&api, &recorded["ids"]).await;
    for (name, then) in recorded["answers"].as_object().expect("answers by name") {
        if let Err(difference) = answered_alike(then, &now[name], name) {
            panic!(
                "{name} reads back otherwise than 0.1.0 answered it: {difference}\n{}",
                now[name]
            );
        }
    }

    // Its customers' emails, written before the email index existed, are indexed at start.
    let email = recorded["answers"]["customer"]["email"].as_str().expect("an email");
    let found = api.get_ok(&format!("/v1/customers?email={email}")).await;
    assert_eq!(found["data"][0]["id"], recorded["ids"]["customer"], "{found}");

    // Its audit events, written before the account-wide index existed, are indexed at start:
    // the account's trail holds the customer's own.
    let customer = recorded["ids"]["customer"].as_str().expect("the customer");
    let own = api.list_all(&format!("/v1/customers/{customer}/audit_events"), "id").await;
    let everyone = ids(&api.list_all("/v1/audit_events", "id").await);
    assert!(!own.is_empty(), "the customer's trail is empty");
    for event in &own {
        assert!(everyone.contains(&str_field(event, "id").to_owned()), "{event} not indexed");
        // Written before keys were recorded: a request's key is unknown, never made up.
        if event["request_id"].is_string() {
            assert_eq!(event["actor"], json!({"type": "api_key", "id": null}), "{event}");
        }
    }

    // And it goes on from there: the customer is charged again, through the same key space.
    let charge = api.charge(customer, 700, "zar").await;
    assert_eq!(charge.ok()["status"], "succeeded");
}

/// Whether `now` answers every field `then` did, with the same value: fields added to the API
/// since (an invoice's `discount`) may come on top, as they do for any client of 0.1.0.
fn answered_alike(then: &Value, now: &Value, path: &str) -> Result<(), String> {
    match (then, now) {
        (Value::Object(then), Value::Object(now)) => then.iter().try_for_each(|(key, value)| {
            let path = format!("{path}.{key}");
            let now = now.get(key).ok_or_else(|| format!("{path} is missing"))?;
            answered_alike(value, now, &path)
        }),
        (Value::Array(then), Value::Array(now)) if then.len() == now.len() => {
            then.iter().zip(now).enumerate().try_for_each(|(index, (then, now))| {
                answered_alike(then, now, &format!("{path}[{index}]"))
            })
        }
        _ if then == now => Ok(()),
        _ => Err(format!("{path} was {then}, is {now}")),
    }
}

/// Writes the fixture with this build. Ignored: run it once per release (see the module doc).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn write_the_fixture() {
    let mut engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let customer = api
        .create_customer_with(&json!({
            "email": "thandi@example.co.za",
            "name": "Thandi Nkosi",
            "phone": "+27 82 555 0100",
            "address": {"country": "ZA", "region": "Gauteng", "postal_code": "2000"},
            "metadata": {"school": "Soweto High"}
        }))
        .await;
    let customer = str_field(&customer, "id").to_owned();
    api.add_payment_method(&customer, "pm_card_visa").await;
    api.add_payment_method(&customer, "pm_card_mastercard").await;
    let first = api.charge(&customer, 25_000, "zar").await.ok().clone();
    api.charge(&customer, 12_550, "zar").await.ok();
    let refund = api.refund(str_field(&first, "id"), Some(5_000)).await.ok().clone();
    // A graceful stop checkpoints: all of the above is then in sled's trees, and what follows
    // only in the log.
    engine.restart_graceful().await;
    let api = engine.api_a();

    let frozen = 1_767_225_600; // 2026-01-01T00:00:00Z
    let clock = api.create_clock(frozen).await;
    let clock_customer = api.clock_customer_with_card(&clock, "KE", "pm_card_visa").await;
    let plan = api.plan(150_000, "kes", "month").await;
    let subscription = api.subscribe_ok(&clock_customer, &plan).await;

    let ids = json!({
        "customer": customer,
        "refund": str_field(&refund, "id"),
        "plan": plan,
        "clock": clock,
        "clock_customer": clock_customer,
        "subscription": str_field(&subscription, "id"),
    });
    let recorded = json!({ "ids": ids, "answers": answers(&api, &ids).await });
    // As a crash leaves it: what sled has not taken yet is only in the log.
    engine.kill();
    // Compiled rules are a cache, rebuilt when missing.
    let packed = Command::new("tar")
        .arg("-czf")
        .arg(fixture("tar.gz"))
        .arg("--exclude=./plugins/compiled")
        .arg("-C")
        .arg(engine.data_dir())
        .arg(".")
        .status()
        .expect("run tar");
    assert!(packed.success(), "pack the fixture");
    let text = serde_json::to_string_pretty(&recorded).expect("the answers as JSON");
    std::fs::write(fixture("json"), text + "\n").expect("write the answers");
}
