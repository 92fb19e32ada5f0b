//! Stripe's webhooks as the webhook tests send them: the engine's Stripe settings (the local fake
//! Stripe, a known signing secret), events built and signed as Stripe documents, and the reads
//! that wait for them to be applied.

// Each test file uses a different part of it.
#![allow(dead_code)]

use std::time::Duration;

use kassa_testkit::fake_stripe;
use serde_json::json;

use super::common::*;

pub const WEBHOOK_SECRET: &str = "whsec_test_0123456789abcdef";
pub const PATH: &str = "/v1/webhooks/stripe";

pub fn config(api_base: &str, apply_delay_ms: u64) -> Config {
    Config::default().with_default_gateway("stripe").with_toml(&format!(
        r#"[gateways.stripe]
secret_key = "{}"
api_base = "{api_base}"
webhook_secret = "{WEBHOOK_SECRET}"

[webhooks]
apply_delay_ms = {apply_delay_ms}
"#,
        fake_stripe::SECRET_KEY
    ))
}

pub fn event(id: &str, kind: &str, created: u64, object: Value) -> Vec<u8> {
    to_bytes(&json!({
        "id": id,
        "object": "event",
        "api_version": "2020-08-27",
        "type": kind,
        "created": created,
        "livemode": false,
        "data": { "object": object },
    }))
}

/// Delivers `body` signed now, as Stripe would.
pub async fn deliver(engine: &Engine, body: &[u8]) -> Resp {
    let header = stripe_signature(WEBHOOK_SECRET, body, now_secs());
    engine.api_with_authorization(None).post_webhook(PATH, body.to_vec(), Some(&header)).await
}

pub async fn events(api: &Api, query: &str) -> Vec<Value> {
    api.get_ok(&format!("/v1/events{query}")).await["data"].as_array().unwrap().clone()
}

pub async fn wait_applied(api: &Api, kind: &str, count: usize) -> Vec<Value> {
    wait_for("the events to be applied", Duration::from_secs(15), || async {
        let listed = events(api, &format!("?type={kind}")).await;
        (listed.len() == count && listed.iter().all(|event| event["applied"] == true))
            .then_some(listed)
    })
    .await
}
