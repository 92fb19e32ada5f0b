//! `/healthz` (the process answers), `/readyz` (storage is writable and start-up, recovery
//! included, is done) and `/metrics` (Prometheus text).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use serde_json::json;
use warp::http::StatusCode;

use super::{Body, Reply};
use crate::api::App;

pub fn healthz() -> Reply {
    Reply::ok(json!({ "status": "ok" }))
}

pub fn readyz(app: &App) -> Reply {
    if app.ready.load(Ordering::SeqCst) && app.storage_healthy() {
        Reply::ok(json!({ "status": "ready" }))
    } else {
        Reply {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: Body::Json(json!({ "status": "starting" })),
            replayed: false,
        }
    }
}

pub fn metrics(app: &App) -> Reply {
    let flush = app.flush_stats();
    let mut text = String::new();
    let mut gauge = |name: &str, help: &str, kind: &str, value: String| {
        let _ = writeln!(
            text,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    gauge(
        "kassa_actors_resident",
        "Customer actors in memory.",
        "gauge",
        app.registry.resident().to_string(),
    );
    gauge(
        "kassa_store_flushes_total",
        "Group-commit flushes (flush + fdatasync) done.",
        "counter",
        flush.flushes.to_string(),
    );
    gauge(
        "kassa_store_last_flush_seconds",
        "Duration of the latest flush.",
        "gauge",
        format!("{:.6}", flush.last_flush.as_secs_f64()),
    );
    Reply {
        status: StatusCode::OK,
        body: Body::Text(text),
        replayed: false,
    }
}
