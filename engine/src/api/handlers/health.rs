//! `/openapi.json`, `/healthz` (the process answers), `/readyz` (start-up, recovery included, is
//! done, and storage answers; a sled failure stops the process, a database may come back) and `/metrics` (Prometheus text, served on the
//! metrics listener only).

use std::sync::atomic::Ordering;

use serde_json::json;
use warp::http::StatusCode;

use kassa_gateways::router::BreakerStatus;

use super::{Body, Reply};
use crate::api::App;
use crate::metrics::BreakerLabels;

/// The contract as OpenAPI 3, checked to parse by a unit test.
static OPENAPI: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(|| {
    serde_json::from_str(include_str!("../openapi.json")).expect("openapi.json is valid JSON")
});

pub fn openapi() -> Reply {
    Reply::ok(OPENAPI.clone())
}

pub fn healthz() -> Reply {
    Reply::ok(json!({ "status": "ok" }))
}

pub fn readyz(app: &App) -> Reply {
    let status = match (app.ready.load(Ordering::SeqCst), app.queries.reachable()) {
        (false, _) => "starting",
        (true, Err(error)) => {
            tracing::warn!(%error, "not ready: storage unreachable");
            "storage_unavailable"
        }
        (true, Ok(())) => return Reply::ok(json!({ "status": "ready" })),
    };
    Reply {
        status: StatusCode::SERVICE_UNAVAILABLE,
        body: Body::json(&json!({ "status": status })),
        replayed: false,
    }
}

pub fn metrics(app: &App) -> Reply {
    let metrics = crate::metrics::global();
    metrics.actors_resident.set(i64::try_from(app.registry.resident()).unwrap_or(i64::MAX));
    for &gateway in &app.gateway_names {
        let state = match app.gateways.breaker_status(gateway) {
            None | Some(BreakerStatus::Closed) => 0,
            Some(BreakerStatus::HalfOpen) => 1,
            Some(BreakerStatus::Open) => 2,
        };
        metrics.gateway_breakers.get_or_create(&BreakerLabels { gateway }).set(state);
    }
    Reply { status: StatusCode::OK, body: Body::Text(metrics.encode()), replayed: false }
}
