//! What the metrics listener (`metrics.listen`) serves: `GET /metrics` and nothing else. Its
//! counts span every account, so the API's listener does not serve it.

use std::sync::Arc;

use warp::Filter;
use warp::http::Method;

use super::error::ApiError;
use super::handlers::{Body, Reply, health};
use super::{App, Framing, respond};

pub fn filter(
    app: Arc<App>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    // `serve` takes filters that reject (as the API's does); this one answers everything itself.
    let rejecting = warp::any().and_then(|| async { Ok::<(), warp::Rejection>(()) }).untuple_one();
    rejecting.and(warp::method()).and(warp::path::full()).map(
        move |method: Method, path: warp::path::FullPath| {
            let request_id = format!("req_{}", ulid::Ulid::new());
            let reply = match (method, path.as_str()) {
                (Method::GET, "/metrics") => health::metrics(&app),
                (method, "/metrics") => {
                    refusal(ApiError::method_not_allowed(method.as_str(), "/metrics"))
                }
                (method, path) => refusal(ApiError::route_not_found(method.as_str(), path)),
            };
            // No body is ever read here; hyper closes a connection that sent one.
            respond(reply, &request_id, Framing::default())
        },
    )
}

fn refusal(error: ApiError) -> Reply {
    Reply { status: error.status, body: Body::json(&error.body()), replayed: false }
}
