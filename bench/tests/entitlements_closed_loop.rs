//! Proves the `entitlements` load reads every subscribed customer and that its sampled checks
//! catch a wrong answer. How: an in-process warp route stands in for the engine's
//! `GET /v1/customers/{id}/entitlements`, answering the API's list (`{object: "list", data:
//! [{feature, source, expires_at}], has_more}`) from a table of customers and their
//! subscriptions, and only with the API key. The closed loop drives it for two seconds over a few
//! connections: every customer must be read, a sample of the answers checked in full, none
//! wrong. A second run's route names another subscription as the source, and every checked
//! answer must count as a mismatch. Nothing here is about speed.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use kassa_bench::load::{self, LoadConfig, LoadMode};
use kassa_bench::stats::RunStats;
use kassa_bench::target::Endpoint;
use kassa_bench::workload::{
    ENTITLEMENTS_MISMATCH, EntitlementChecks, EntitlementsFleet, EntitlementsWorkload, Subscriber,
    Workload,
};
use parking_lot::Mutex;
use serde_json::json;
use warp::Filter;
use warp::http::StatusCode;

const API_KEY: &str = "sk_bench_entitlements_test";
const CUSTOMERS: usize = 50;
const FEATURES: [&str; 3] = ["certificates", "courses", "reports"];

fn fleet() -> EntitlementsFleet {
    EntitlementsFleet {
        plan: "plan_test".into(),
        features: FEATURES.iter().map(|feature| (*feature).to_owned()).collect(),
        subscribers: (0..CUSTOMERS)
            .map(|index| Subscriber {
                customer: format!("cus_{index:04}"),
                subscription: format!("sub_{index:04}"),
            })
            .collect(),
    }
}

/// Serves the stand-in route; answers its URL and the customers it was asked about. With
/// `wrong_source`, every grant names a subscription that is not the customer's.
async fn serve_fake_engine(wrong_source: bool) -> (String, Arc<Mutex<HashSet<String>>>) {
    let subscriptions: HashMap<String, String> = fleet()
        .subscribers
        .into_iter()
        .map(|subscriber| (subscriber.customer, subscriber.subscription))
        .collect();
    let read = Arc::new(Mutex::new(HashSet::new()));
    let seen = Arc::clone(&read);
    let route = warp::get()
        .and(warp::path!("v1" / "customers" / String / "entitlements"))
        .and(warp::header::optional::<String>("authorization"))
        .map(move |customer: String, authorization: Option<String>| {
            if authorization.as_deref() != Some(&format!("Bearer {API_KEY}")) {
                let error = json!({"error": {"type": "authentication_error", "code": "unauthorized"}});
                return warp::reply::with_status(warp::reply::json(&error), StatusCode::UNAUTHORIZED);
            }
            let Some(subscription) = subscriptions.get(&customer) else {
                let error = json!({"error": {"type": "invalid_request_error", "code": "not_found"}});
                return warp::reply::with_status(warp::reply::json(&error), StatusCode::NOT_FOUND);
            };
            seen.lock().insert(customer);
            let source = match wrong_source {
                true => "sub_someone_else",
                false => subscription.as_str(),
            };
            let data: Vec<_> = FEATURES
                .iter()
                .map(|feature| {
                    json!({"object": "entitlement", "feature": feature, "source": source, "expires_at": null})
                })
                .collect();
            let list = json!({"object": "list", "data": data, "has_more": false});
            warp::reply::with_status(warp::reply::json(&list), StatusCode::OK)
        });
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (url, read)
}

async fn read_entitlements(wrong_source: bool) -> (RunStats, EntitlementChecks, usize) {
    let (url, read) = serve_fake_engine(wrong_source).await;
    let endpoint = Endpoint::new(&url, Some(API_KEY)).expect("a loopback endpoint");
    let workload = Arc::new(Workload::Entitlements(EntitlementsWorkload::new(fleet())));
    let config = LoadConfig {
        mode: LoadMode::Closed { connections: 4 },
        warmup: Duration::from_millis(500),
        duration: Duration::from_millis(1_500),
        request_timeout: Duration::from_secs(5),
    };
    let stats = load::run("test", &endpoint, &workload, &config).await;
    let Workload::Entitlements(workload) = &*workload else { unreachable!() };
    let customers_read = read.lock().len();
    (stats, workload.checks(), customers_read)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_customer_is_read_and_the_checked_answers_match() {
    let (stats, checks, customers_read) = read_entitlements(false).await;
    assert_eq!(stats.requests_error, 0, "errors: {:?}", stats.errors_by_code);
    assert!(stats.requests_ok > 1_000, "only {} reads", stats.requests_ok);
    assert_eq!(customers_read, CUSTOMERS, "customers are read in turn");
    let sent = |kind: &str| stats.requests_by_kind.get(kind).copied().unwrap_or(0);
    assert!(sent("entitlements_checked") > 0, "{:?}", stats.requests_by_kind);
    assert!(
        sent("entitlements") > 10 * sent("entitlements_checked"),
        "{:?}",
        stats.requests_by_kind
    );
    assert!(checks.checked >= sent("entitlements_checked"), "the warm-up is checked too");
    assert_eq!(checks.mismatched, 0, "{:?}", checks.examples);
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_naming_another_subscription_are_mismatches() {
    let (stats, checks, _) = read_entitlements(true).await;
    let checked = stats.requests_by_kind.get("entitlements_checked").copied().unwrap_or(0);
    assert!(checked > 0, "{:?}", stats.requests_by_kind);
    assert_eq!(stats.errors_by_code.get(ENTITLEMENTS_MISMATCH), Some(&checked));
    assert_eq!(stats.requests_error, checked, "unchecked answers are judged on their status");
    assert_eq!(checks.mismatched, checks.checked);
    assert!(checks.examples[0].contains("granted by sub_someone_else"), "{:?}", checks.examples);
}
