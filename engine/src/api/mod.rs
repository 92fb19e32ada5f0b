//! The HTTP API (warp). One warp filter takes the request apart; [`admission`] decides from its
//! headers whether anyone may make it, before its body is read under the size and time limits;
//! [`routes`] dispatches on method and path; each handler lives in [`handlers`]; [`error`] is
//! the one place errors become responses.
//!
//! Every request gets a `Request-Id`, carried by its tracing span into every log line, and runs
//! in a task of its own, so a client that hangs up never cancels a state change half-way.

pub mod account_writes;
pub mod admission;
pub mod auth;
pub mod billing_views;
pub mod coupon_views;
pub mod error;
pub mod free_text;
pub mod handlers;
pub mod idempotency;
pub mod idempotency_keys;
pub mod key_table;
pub mod metrics_listener;
pub mod pagination;
pub mod payee_views;
pub mod permissions;
pub mod queries;
pub mod rate_limit;
pub mod request;
pub mod route_table;
pub mod routes;
pub mod validate;
pub mod views;
pub mod webhook_views;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use kassa_gateways::Router;
use kassa_gateways::sandbox::SandboxGateway;
use tracing::Instrument;
use warp::Filter;
use warp::http::{HeaderMap, HeaderValue, Method};

use crate::actor::Registry;
use crate::limits::BODY_BYTES_MAX;
use crate::rules::Rules;
use admission::Admission;
use error::ApiError;
use handlers::{Body, Reply};
use request::ApiRequest;

/// Everything the API serves from.
pub struct App {
    /// Where buyers reach the engine (`server.public_url`): checkout and invoice links.
    pub public_url: String,
    /// Reads, and only reads: changes go through `registry` (customers and what is theirs) or
    /// `account_writes` (plans, test clocks).
    pub queries: queries::Queries,
    pub registry: Registry,
    pub account_writes: account_writes::AccountWrites,
    pub gateways: Router,
    pub sandbox: Option<SandboxGateway>,
    /// The gateways that take webhooks here (`POST /v1/webhooks/{gateway}`).
    pub webhooks: Arc<crate::webhooks::WebhookSources>,
    /// Where gateway events are persisted and applied.
    pub inbox: Arc<crate::webhooks::Inbox>,
    /// The enabled gateways, for metrics.
    pub gateway_names: Vec<&'static str>,
    pub api_keys: auth::ApiKeys,
    /// The accounts served, for what looks across them; told of each account the admin makes.
    pub accounts: crate::account_directory::AccountDirectory,
    /// `limits.rate.*`, taken before a request's body is read.
    pub rate_limits: rate_limit::RateLimits,
    /// Each Idempotency-Key's durable record, the keys of requests running now, and the keyed
    /// hash keys are kept as.
    pub idempotency: idempotency::Idempotency,
    pub rules: Arc<Rules>,
    /// Who sells, as receipts print it (`billing.seller`).
    pub seller: crate::config::SellerConfig,
    /// What each plan grants, as entitlements read it: told of every plan update.
    pub plan_features: Arc<crate::billing::plan_features::PlanFeatures>,
    /// What resident customers' entitlements are computed from, as their actors publish it.
    pub entitlements: Arc<crate::billing::entitlement_index::EntitlementIndex>,
    /// Largest rule upload (`rules.upload_max_bytes`).
    pub upload_max_bytes: usize,
    pub request_timeout: Duration,
    /// A request's whole body must arrive within this of its head (`server.body_timeout_ms`).
    pub body_timeout: Duration,
    /// The outgoing events, the account's webhook endpoints and their deliveries, read and
    /// written here (no customer's actor orders them); the dispatcher is told of each change.
    pub outbox_store: Arc<dyn crate::store::OutboxStore>,
    pub outbox: crate::events_out::Outbox,
    /// The account's coupons and promotion codes, written here (no customer's actor orders
    /// them), and how often each was redeemed.
    pub coupon_store: Arc<dyn crate::store::CouponStore>,
    pub redemptions: Arc<crate::coupons::RedemptionBook>,
    /// Uploaded bank statements, written here (each line's effect by its customer's actor).
    pub statement_store: Arc<dyn crate::store::StatementStore>,
    /// Statement uploads and allocations, one at a time.
    pub statement_lock: tokio::sync::Mutex<()>,
    /// A CSV statement's columns unless the request names its own (`billing.bank_transfer.csv`).
    pub statement_columns: crate::bank_statements::Columns,
    /// Largest statement upload (`limits.statement_body_max`).
    pub statement_body_max: usize,
    /// Payouts to payees, by hand and on their schedules.
    pub payouts: Arc<crate::payouts::Payouts>,
    /// Closed records moved to the archive files (`storage.archive_after_days`).
    pub archival: Arc<crate::archival::Archival>,
    /// Set once start-up, recovery included, is done.
    pub ready: AtomicBool,
}

impl App {
    /// What a test clock's advance runs after its customers' schedules.
    pub fn clock_work(&self) -> crate::billing::scheduler::ClockWork {
        crate::billing::scheduler::ClockWork {
            payouts: Arc::clone(&self.payouts),
            archival: Arc::clone(&self.archival),
        }
    }
}

/// The whole API as one warp filter.
pub fn filter(
    app: Arc<App>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let raw_query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::method()
        .and(warp::path::full())
        .and(raw_query)
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: String,
                  headers: HeaderMap,
                  body| {
                let app = Arc::clone(&app);
                async move {
                    handle(app, method, path.as_str().to_owned(), query, headers, Box::pin(body))
                        .await
                }
            },
        )
}

async fn handle<S, B>(
    app: Arc<App>,
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    body: S,
) -> warp::reply::Response
where
    S: futures::Stream<Item = Result<B, warp::Error>> + Unpin,
    B: warp::Buf,
{
    let request_id = format!("req_{}", ulid::Ulid::new());
    let segments: Vec<&str> = path.split('/').filter(|segment| !segment.is_empty()).collect();
    let found = route_table::find(&method, &segments);
    let route = routes::route_label(&found);
    let body_limit = found.spec().map_or(BODY_BYTES_MAX, |spec| {
        spec.body_limit(app.upload_max_bytes, app.statement_body_max)
    });
    // A 405 says which methods the path has.
    let allow = match &found {
        route_table::Found::OtherMethods(methods) => Some(methods.join(", ")),
        _ => None,
    };
    let method_label = metric_method(&method);
    let logged_path = routes::shown_path(&path, &segments);
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, path = %logged_path);
    let started = Instant::now();
    let admitted = span.in_scope(|| admission::admit(&app, &method, &found, &segments, &headers));
    async move {
        if let Err(refused) = &admitted
            && let Some(secs) = refused.retry_after_secs
        {
            // A rate-limited request is answered only once its Retry-After has passed: a client
            // that ignores it and asks again at once cannot make Kassa spend its cores answering
            // refusals as fast as they come, at the other accounts' expense.
            tokio::time::sleep(Duration::from_secs(secs.into())).await;
        }
        let mut body_unread = admission::body_follows(&headers);
        let result = match admitted {
            Ok(admission) => {
                let read = request::read_body_within(&headers, body, body_limit, app.body_timeout);
                match read.await {
                    Ok(body) => {
                        body_unread = false;
                        let request = ApiRequest {
                            method,
                            path,
                            query,
                            headers,
                            body,
                            request_id: request_id.clone(),
                            actor: admission.actor(),
                        };
                        run_detached(app, request, admission).await
                    }
                    Err(error) => Err(error),
                }
            }
            Err(error) => Err(error),
        };
        let retry_after_secs = result.as_ref().err().and_then(|error| error.retry_after_secs);
        let allow = allow.filter(|_| {
            result.as_ref().err().is_some_and(|error| error.code == "method_not_allowed")
        });
        let reply = result.unwrap_or_else(|error| Reply {
            status: error.status,
            body: Body::json(&error.body()),
            replayed: false,
        });
        let elapsed = started.elapsed();
        crate::metrics::global().observe_request(
            route,
            method_label,
            reply.status.as_u16(),
            elapsed,
        );
        let latency_ms = elapsed.as_millis() as u64;
        if reply.status.is_server_error() {
            tracing::warn!(status = reply.status.as_u16(), latency_ms, "answered");
        } else {
            tracing::debug!(status = reply.status.as_u16(), latency_ms, "answered");
        }
        let framing = Framing { body_unread, retry_after_secs, allow };
        respond(reply, &request_id, framing)
    }
    .instrument(span)
    .await
}

/// The method as a metric label: a fixed set, since clients may send any method name and each
/// new label value would be a new series.
fn metric_method(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        Method::HEAD => "HEAD",
        _ => "other",
    }
}

/// Runs the request in its own task and waits for it at most `request_timeout`.
async fn run_detached(
    app: Arc<App>,
    request: ApiRequest,
    admission: Admission,
) -> Result<Reply, ApiError> {
    let timeout = app.request_timeout;
    let task = tokio::spawn(
        async move { routes::dispatch(&app, &request, &admission).await }
            .instrument(tracing::Span::current()),
    );
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(join_error)) => {
            Err(ApiError::internal(format!("request task failed: {join_error}")))
        }
        Err(_) => Err(ApiError::timeout()),
    }
}

/// What the response's headers say besides its reply.
#[derive(Debug, Clone, Default)]
struct Framing {
    /// The request's body was refused or abandoned before its end: the connection cannot carry
    /// another request and is closed after this answer.
    body_unread: bool,
    /// `Retry-After`, in seconds (a 429's).
    retry_after_secs: Option<u16>,
    /// `Allow`: the methods a path has (a 405's).
    allow: Option<String>,
}

use crate::billing::receipt::html::CONTENT_SECURITY_POLICY;

fn respond(reply: Reply, request_id: &str, framing: Framing) -> warp::reply::Response {
    let mut policy = None;
    let mut location = None;
    let (bytes, content_type) = match reply.body {
        Body::Json(bytes) => (bytes, "application/json"),
        Body::Text(text) => (text.into_bytes(), "text/plain; version=0.0.4"),
        Body::Html(page) => {
            policy = Some(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
            (page.into_bytes(), "text/html; charset=utf-8")
        }
        Body::Page { html, policy: own } => {
            policy = HeaderValue::from_str(&own).ok();
            (html.into_bytes(), "text/html; charset=utf-8")
        }
        Body::Redirect(to) => {
            location = HeaderValue::from_str(&to).ok();
            (Vec::new(), "text/plain; charset=utf-8")
        }
        Body::Csv(text) => (text.into_bytes(), "text/csv; charset=utf-8"),
    };
    let mut response = warp::reply::Response::new(bytes.into());
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("request-id", value);
    }
    if reply.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    if let Some(policy) = policy {
        page_headers(headers, policy);
    }
    if let Some(location) = location {
        headers.insert("location", location);
        headers.insert("cache-control", HeaderValue::from_static("no-store"));
    }
    if framing.body_unread {
        headers.insert("connection", HeaderValue::from_static("close"));
    }
    if let Some(secs) = framing.retry_after_secs {
        headers.insert("retry-after", HeaderValue::from(secs));
    }
    if let Some(allow) = framing.allow.and_then(|allow| HeaderValue::from_str(&allow).ok()) {
        headers.insert("allow", allow);
    }
    response
}

/// A page (a receipt, a checkout) holds a customer's details: it runs and loads only what its
/// policy allows, is never sniffed into another type, and is not kept by caches or leaked in a
/// referrer.
fn page_headers(headers: &mut HeaderMap, policy: HeaderValue) {
    headers.insert("content-security-policy", policy);
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("cache-control", HeaderValue::from_static("private, no-store"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
}
