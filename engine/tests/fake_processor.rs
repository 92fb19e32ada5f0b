//! Adding a gateway. FakePay (`kassa_testkit::fake_processor`) is a complete adapter written
//! against the gateways crate only; here it is registered in an engine started in this test's own
//! process — the one registration line — and a routing rule sends it the naira charges. It
//! charges, declines, leaves a charge pending for its signed webhook to settle, refunds, and its
//! webhooks are verified by its own adapter at `/v1/webhooks/fakepay`, while everything else
//! still goes to the default gateway, the sandbox.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::*;
use kassa::config::Config as EngineConfig;
use kassa::gateway_setup::{Registered, Registration};
use kassa_testkit::fake_processor::{self, FakePay};

const WEBHOOK_SECRET: &str = "fakepay_whsec_0123456789";

/// Starts the engine with FakePay registered, on a thread and runtime of its own (it runs until
/// the test process ends), and answers its base URL once `/readyz` says so.
async fn start_engine(data_dir: &std::path::Path, fakepay: &FakePay) -> String {
    let address = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address")
    };
    let config_path = data_dir.join("kassa.toml");
    std::fs::write(
        &config_path,
        format!(
            r#"[server]
listen = "{address}"

[storage]
path = '{}'

[metrics]
listen = "off"

[gateways.sandbox]
enabled = true

[routing]
default = "sandbox"

[[routing.rules]]
currencies = ["ngn"]
gateways = ["{}"]

[[accounts]]
id = "{ACCOUNT_A}"
api_keys = ["{KEY_A}"]
"#,
            data_dir.join("data").display(),
            fake_processor::NAME,
        ),
    )
    .expect("write the config");
    let config =
        EngineConfig::load_with_gateways(Some(&config_path), &|_| None, &[fake_processor::NAME])
            .expect("a valid config");
    let adapter = fakepay.clone();
    let registration = Registration {
        name: fake_processor::NAME,
        open: Box::new(move |_trees| {
            let webhooks = adapter.webhooks(WEBHOOK_SECRET);
            Ok(Registered {
                gateway: std::sync::Arc::new(adapter),
                webhooks: Some(std::sync::Arc::new(webhooks)),
            })
        }),
    };
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        if let Err(error) = runtime.block_on(kassa::app::run_with(config, vec![registration])) {
            panic!("the engine stopped: {error}");
        }
    });
    let base_url = format!("http://{address}");
    let http = reqwest::Client::new();
    wait_for("the engine to be ready", Duration::from_secs(30), || {
        let request = http.get(format!("{base_url}/readyz")).send();
        async move { request.await.ok().filter(|response| response.status() == 200).map(|_| ()) }
    })
    .await;
    base_url
}

async fn charge(api: &Api, customer: &str, amount: u64, currency: &str) -> Value {
    let body = charge_body(customer, amount, currency);
    api.post_with_key("/v1/charges", &body, &unique_key("fakepay")).await.ok().clone()
}

async fn deliver(api: &Api, body: &str, signature: &str) -> Resp {
    let request = reqwest::Client::new()
        .post(format!("{}/v1/webhooks/{}", api.base_url(), fake_processor::NAME))
        .header("Content-Type", "application/json")
        .header(fake_processor::SIGNATURE_HEADER, signature)
        .body(body.to_owned());
    Resp::read("POST fakepay webhook".to_owned(), request.send().await.expect("delivered"))
        .await
        .expect("an answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_adapter_takes_what_its_rule_routes_and_reads_its_own_webhooks() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let fakepay = FakePay::new();
    let api = Api::new(&start_engine(directory.path(), &fakepay).await, KEY_A);
    let (customer, _) = api.customer_with_card("pm_card_visa").await;

    // The rule sends naira to FakePay; everything else goes to the default gateway.
    let paid = charge(&api, &customer, 5_000, "ngn").await;
    assert_eq!(
        (paid["gateway"].as_str(), paid["status"].as_str()),
        (Some("fakepay"), Some("succeeded"))
    );
    let dollars = charge(&api, &customer, 5_000, "usd").await;
    assert_eq!(dollars["gateway"], "sandbox");
    let body = charge_body(&customer, 5_099, "ngn");
    let declined = api.post_with_key("/v1/charges", &body, &unique_key("fakepay")).await;
    assert_error(&declined, 402, "card_declined");
    assert_eq!(declined.body["error"]["decline_code"], "insufficient_funds");

    // A pending charge is settled by FakePay's own signed webhook, verified by its adapter.
    let pending = charge(&api, &customer, 5_077, "ngn").await;
    assert_eq!(pending["status"], "processing");
    let reference = pending["gateway_reference"].as_str().expect("a reference").to_owned();
    let body = fakepay.settle(&reference, true, "fpevt_1", now_secs() as i64);
    let forged =
        deliver(&api, &body, &fake_processor::sign("another secret", body.as_bytes())).await;
    assert_error(&forged, 400, "signature_invalid");
    let answer = deliver(&api, &body, &fake_processor::sign(WEBHOOK_SECRET, body.as_bytes())).await;
    assert_eq!(answer.ok()["ok"], true, "FakePay's own acknowledgement");
    let charge_path = format!("/v1/charges/{}", pending["id"].as_str().expect("an id"));
    wait_for("the webhook to settle the charge", Duration::from_secs(10), || {
        let api = &api;
        let charge_path = &charge_path;
        async move {
            let charge = api.get_ok(charge_path).await;
            (charge["status"] == "succeeded").then_some(())
        }
    })
    .await;
    let events = api.list_all("/v1/events", "id").await;
    let kinds: Vec<&str> = events.iter().filter_map(|event| event["gateway"].as_str()).collect();
    assert_eq!(kinds, ["fakepay"], "the forged delivery was not kept: {events:?}");

    // Refunds go back to the gateway that charged.
    let refund = api
        .post_with_key("/v1/refunds", &json!({ "charge": paid["id"] }), &unique_key("refund"))
        .await;
    assert_eq!(refund.ok()["status"], "succeeded");

    // A gateway that takes no webhooks here has no webhook path.
    let nobody = deliver_to(&api, "/v1/webhooks/nopay").await;
    assert_eq!(nobody.status, 404);
}

async fn deliver_to(api: &Api, path: &str) -> Resp {
    let request = reqwest::Client::new().post(format!("{}{path}", api.base_url())).body("{}");
    Resp::read(format!("POST {path}"), request.send().await.expect("delivered"))
        .await
        .expect("an answer")
}
