//! Proves the `webhooks` load is what a Stripe endpoint takes, and that its `duplicate` checks
//! hold under concurrent load. How: an in-process warp route stands in for the engine's: it
//! verifies every delivery with the engine's own `Stripe-Signature` check
//! (`kassa::webhooks::signature::verify`) and deduplicates by event id as the engine's inbox does,
//! answering `{"received":true,"id":…,"duplicate":…}`. The open loop drives it for two seconds
//! over many connections: every delivery must be taken, re-sends and older events must make up
//! their shares, and each re-send must be answered as a duplicate. A second run signs with the
//! wrong secret and must count every delivery under the engine's error code. Nothing here is about
//! speed.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kassa_bench::load::{self, LoadConfig, LoadMode};
use kassa_bench::stats::RunStats;
use kassa_bench::target::Endpoint;
use kassa_bench::workload::{EventMix, WEBHOOK_PATH, WebhookWorkload, Workload};
use kassa_gateways::stripe::signature;
use parking_lot::Mutex;
use serde_json::json;
use warp::Filter;
use warp::http::StatusCode;

const SECRET: &str = "whsec_bench_fake_endpoint";
const MIX: EventMix = EventMix { duplicate_share: 0.1, out_of_order_share: 0.1 };

/// Serves the stand-in route on a free loopback port; answers its URL.
async fn serve_fake_endpoint() -> String {
    let seen = Arc::new(Mutex::new(HashSet::<String>::new()));
    let route = warp::post()
        .and(warp::path!("v1" / "webhooks" / "stripe"))
        .and(warp::header::optional::<String>("stripe-signature"))
        .and(warp::body::bytes())
        .map(move |header: Option<String>, body: Bytes| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            if signature::verify(SECRET.as_bytes(), header.as_deref(), &body, now).is_err() {
                let error = json!({"error": {"type": "invalid_request_error", "code": "signature_invalid"}});
                return warp::reply::with_status(warp::reply::json(&error), StatusCode::BAD_REQUEST);
            }
            let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let id = event["id"].as_str().unwrap().to_owned();
            let duplicate = !seen.lock().insert(id.clone());
            let ack = json!({"received": true, "id": id, "duplicate": duplicate});
            warp::reply::with_status(warp::reply::json(&ack), StatusCode::OK)
        });
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(route).incoming(listener).run());
    url
}

async fn deliver(secret: &str) -> RunStats {
    let url = serve_fake_endpoint().await;
    let endpoint = Endpoint::new(&url, None).expect("a loopback endpoint");
    let workload = Arc::new(Workload::Webhooks(WebhookWorkload::new(secret.as_bytes(), MIX)));
    let config = LoadConfig {
        mode: LoadMode::Open { rate_per_sec: 1_000.0, connections: 32, in_flight_max: 1_000 },
        warmup: Duration::from_millis(500),
        duration: Duration::from_millis(1_500),
        request_timeout: Duration::from_secs(5),
    };
    load::run("test", &endpoint, &workload, &config).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_delivery_is_taken_and_every_resend_answered_as_a_duplicate() {
    let stats = deliver(SECRET).await;
    assert_eq!(stats.requests_error, 0, "errors: {:?}", stats.errors_by_code);
    assert_eq!(stats.requests_ok, 1_500);
    let sent = |kind: &str| stats.requests_by_kind.get(kind).copied().unwrap_or(0);
    let answered = |kind: &str| stats.requests_ok_by_kind.get(kind).copied().unwrap_or(0);
    // 10 % each of 1 500, give or take what chance and the first acknowledgements allow.
    assert!((100..=200).contains(&sent("event_duplicate")), "{:?}", stats.requests_by_kind);
    assert!((100..=200).contains(&sent("event_pair_older")), "{:?}", stats.requests_by_kind);
    assert_eq!(answered("event_duplicate"), sent("event_duplicate"));
    assert_eq!(WEBHOOK_PATH, "/v1/webhooks/stripe");
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_signed_with_another_secret_are_counted_as_refused() {
    let stats = deliver("whsec_not_the_endpoints").await;
    assert_eq!(stats.requests_ok, 0);
    assert_eq!(stats.errors_by_code.get("http_400_signature_invalid"), Some(&1_500));
}
