//! Eviction: memory follows the active customers, not the customer count, and nothing is lost.
//!
//! Proves that after 10 000 customers are each created and changed once (a card added), idle
//! customer actors are stopped: `kassa_actors_resident` falls to at most `resident_max` and then
//! to 0 once all are idle past `idle_timeout_secs`; and that an evicted customer, woken again
//! from storage, still has its card as default payment method and can be charged with it.
//! How: `idle_timeout_secs = 1`, `sweep_interval_ms = 200`, `resident_max = 2000`; the load runs
//! through 32 concurrent slots while a sampler reads `/metrics` to show the gauge is live; then
//! bounded polling of the gauge, then reads and charges on 200 customers spread over the range.

mod common;

use common::*;
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const CUSTOMERS: usize = 10_000;
const CONCURRENCY: usize = 32;
const RESIDENT_MAX: u64 = 2_000;
const SPOT_CHECKS: usize = 200;
const GAUGE: &str = "kassa_actors_resident";
/// Bound on creating and touching all customers.
const LOAD_TIMEOUT: Duration = Duration::from_secs(90);
/// Bound on each fall of the gauge (to the cap, then to zero).
const EVICTION_TIMEOUT: Duration = Duration::from_secs(15);

async fn gauge(engine: &Engine) -> f64 {
    engine.metric(GAUGE).await.unwrap_or_else(|| panic!("/metrics has no `{GAUGE}` sample"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_customers_are_evicted_and_come_back_intact() {
    let config = Config {
        idle_timeout_secs: 1,
        sweep_interval_ms: 200,
        resident_max: RESIDENT_MAX,
        ..Config::default()
    };
    let engine = Engine::start(config).await;
    let api = engine.api_a();

    // Sample the gauge while the load runs: it must be seen above 0, or "falls to 0" proves nothing.
    let load_done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (metrics_api, load_done) = (engine.metrics_api(), load_done.clone());
        tokio::spawn(async move {
            let mut resident_max_seen: f64 = 0.0;
            while !load_done.load(Ordering::SeqCst) {
                let response = metrics_api.get("/metrics").await;
                if let Some(resident) = parse_metric(&response.text, GAUGE) {
                    resident_max_seen = resident_max_seen.max(resident);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            resident_max_seen
        })
    };

    let started = Instant::now();
    let load = futures::stream::iter(0..CUSTOMERS)
        .map(|i| {
            let api = api.clone();
            async move {
                let customer = api.create_customer().await;
                let method = api.add_payment_method(&customer, "pm_card_visa").await;
                (i, customer, str_field(&method, "id").to_string())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>();
    let mut touched = tokio::time::timeout(LOAD_TIMEOUT, load)
        .await
        .unwrap_or_else(|_| panic!("creating {CUSTOMERS} customers took over {LOAD_TIMEOUT:?}"));
    let resident_after_load = gauge(&engine).await;
    load_done.store(true, Ordering::SeqCst);
    let resident_max_seen = sampler.await.expect("the sampler panicked").max(resident_after_load);
    eprintln!(
        "created and touched {CUSTOMERS} customers in {:?}; {GAUGE} peaked at {resident_max_seen}, \
         {resident_after_load} right after the load",
        started.elapsed()
    );
    assert!(
        resident_max_seen > 0.0,
        "{GAUGE} never rose above 0 while 10 000 customers were active"
    );

    let engine_ref = &engine;
    let to_cap =
        wait_for(&format!("{GAUGE} <= {RESIDENT_MAX}"), EVICTION_TIMEOUT, move || async move {
            let resident = gauge(engine_ref).await;
            (resident <= RESIDENT_MAX as f64).then_some(resident)
        })
        .await;
    eprintln!("{GAUGE} = {to_cap} after {:?}", started.elapsed());
    wait_for(
        &format!("{GAUGE} == 0 (every actor idle for over 1 s)"),
        EVICTION_TIMEOUT,
        move || async move { (gauge(engine_ref).await < 0.5).then_some(()) },
    )
    .await;

    // Wake 200 customers spread over the whole range from storage.
    touched.sort_by_key(|(i, _, _)| *i);
    let stride = CUSTOMERS / SPOT_CHECKS;
    for (i, customer, method) in touched.iter().step_by(stride) {
        let read = api.get_ok(&format!("/v1/customers/{customer}")).await;
        assert_eq!(
            read["default_payment_method"],
            method.as_str(),
            "customer #{i} after eviction: {read}"
        );
        let methods = api.payment_methods(customer).await;
        assert_eq!(
            ids(&methods),
            [method.as_str()],
            "customer #{i}'s payment methods after eviction"
        );
        assert_eq!(methods[0]["card"]["last4"], "4242");
    }
    for (i, customer, method) in touched.iter().step_by(stride * 20) {
        let charge = api.charge_ok(customer, 100, "usd").await;
        assert_eq!(charge["payment_method"], method.as_str(), "customer #{i}: {charge}");
    }
}
