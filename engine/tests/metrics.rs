//! `GET /metrics` exposes, in Prometheus text format, what an operator watches: request latency
//! by route template and status, charges by status and gateway, gateway call latency, flush
//! latency and batch size, resident actors and actor mailbox depth. Its counts span every
//! account, so it is served on its own listener (`metrics.listen`, loopback on a free port by
//! default, named in the log), never on the API's; `off` serves it nowhere.
//!
//! How: start the engine, make one successful and one declined charge, scrape `/metrics` on the
//! metrics listener and check each family carries the samples those requests must have
//! produced; check the API's listener answers 404 there, and an engine with `metrics.listen =
//! "off"` logs no metrics address.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_the_engine_did() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (good, _) = api.customer_with_card("pm_card_visa").await;
    let (declined, _) = api.customer_with_card("pm_card_chargeDeclined").await;
    api.charge_with_key(&good, 1_000, "usd", &unique_key("metrics-ok")).await.ok();
    let refused = api.charge_with_key(&declined, 1_000, "usd", &unique_key("metrics-no")).await;
    assert_eq!(refused.status, 402, "{}", refused.text);

    let scrape = engine.metrics_api().get("/metrics").await;
    assert_eq!(scrape.status, 200);
    assert_ne!(engine.metrics_api().base_url(), engine.base_url(), "a listener of its own");
    assert!(engine.metrics_api().base_url().starts_with("http://127.0.0.1:"), "loopback");
    let on_the_api = engine.api_a().get("/metrics").await;
    assert_eq!(on_the_api.status, 404, "not on the API's listener: {}", on_the_api.text);
    let elsewhere = engine.metrics_api().get("/v1/customers").await;
    assert_eq!(elsewhere.status, 404, "the metrics listener serves /metrics only");
    let text = &scrape.text;
    for sample in [
        r#"kassa_http_request_duration_seconds_count{route="/v1/charges",method="POST",status="200"} 1"#,
        r#"kassa_http_request_duration_seconds_count{route="/v1/charges",method="POST",status="402"} 1"#,
        r#"kassa_http_request_duration_seconds_count{route="/v1/customers/{id}/payment_methods",method="POST",status="200"} 2"#,
        r#"kassa_charges_total{status="succeeded",gateway="sandbox"} 1"#,
        r#"kassa_charges_total{status="failed",gateway="sandbox"} 1"#,
        r#"kassa_gateway_call_duration_seconds_count{gateway="sandbox",operation="charge",outcome="succeeded"} 1"#,
        r#"kassa_gateway_call_duration_seconds_count{gateway="sandbox",operation="charge",outcome="declined"} 1"#,
        "kassa_actors_resident 2",
        "kassa_actor_mailbox_depth 0",
    ] {
        assert!(text.contains(sample), "missing `{sample}` in:\n{text}");
    }
    let flushes = engine.metric("kassa_store_flush_duration_seconds_count").await.unwrap_or(0.0);
    assert!(flushes >= 4.0, "every acknowledged write waited for a flush: {flushes}");
    let flushed = engine.metric("kassa_store_flush_batch_commits_sum").await.unwrap_or(0.0);
    assert!(flushed >= 6.0, "two customers, two cards and two charges were committed: {flushed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_be_switched_off() {
    let engine = Engine::start(Config::default().with_toml("[metrics]\nlisten = \"off\"\n")).await;
    assert!(!engine.log_text().contains("serving /metrics"), "{}", engine.log_tail());
    assert_eq!(engine.api_with_authorization(None).get("/metrics").await.status, 404);
}
