//! Proves the load generator measures a real server end to end: the ceiling's plain warp route,
//! served in-process, driven by the closed loop for about two seconds. It checks that the figures
//! are sane (answers arrived, percentiles are ordered, the series covers the run, no errors) and
//! that the open loop does the same at a modest rate. No assertion is about speed: this machine is
//! shared and noisy.

use std::sync::Arc;
use std::time::Duration;

use kassa_bench::ceiling::{CHARGE_PATH, CeilingServer};
use kassa_bench::load::{self, LoadConfig, LoadMode};
use kassa_bench::stats::RunStats;
use kassa_bench::target::Endpoint;
use kassa_bench::workload::{ChargeWorkload, Workload};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

async fn measure(mode: LoadMode) -> RunStats {
    let server = CeilingServer::start().expect("the ceiling server starts");
    let endpoint =
        Endpoint::new(&server.url(), Some("sk_bench_test")).expect("a loopback endpoint");
    let workload = Arc::new(Workload::Charges(ChargeWorkload::ceiling(CHARGE_PATH, 100)));
    let config = LoadConfig {
        mode,
        warmup: Duration::from_millis(500),
        duration: Duration::from_millis(1_500),
        request_timeout: REQUEST_TIMEOUT,
    };
    load::run("test", &endpoint, &workload, &config).await
}

fn assert_sane(stats: &RunStats) {
    assert!(stats.requests_ok > 0, "the ceiling answered");
    assert_eq!(stats.requests_error, 0, "errors: {:?}", stats.errors_by_code);
    let latency = &stats.latency;
    assert_eq!(latency.count, stats.requests_ok);
    assert!(latency.latency_us_p50 > 0);
    assert!(latency.latency_us_p50 <= latency.latency_us_p90);
    assert!(latency.latency_us_p90 <= latency.latency_us_p99);
    assert!(latency.latency_us_p99 <= latency.latency_us_p999);
    assert!(latency.latency_us_p999 <= latency.latency_us_max);
    assert!(!stats.percentiles.is_empty());
    assert!(stats.series.len() >= 2, "about two seconds of series: {:?}", stats.series);
    assert!(stats.series.iter().any(|sample| sample.warmup));
    let series_ok: u64 = stats.series.iter().map(|sample| sample.ok).sum();
    assert!(series_ok >= stats.requests_ok, "the series counts warm-up answers too");
    assert_eq!(stats.requests_by_kind.get("charge"), Some(&stats.requests_ok));
}

#[tokio::test(flavor = "multi_thread")]
async fn closed_loop_against_the_ceiling_gives_sane_figures() {
    assert_sane(&measure(LoadMode::Closed { connections: 4 }).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn open_loop_against_the_ceiling_gives_sane_figures() {
    let stats =
        measure(LoadMode::Open { rate_per_sec: 200.0, connections: 8, in_flight_max: 1_000 }).await;
    assert_sane(&stats);
    // 200/s over the 1.5 measured seconds: every arrival was sent and answered.
    assert_eq!(stats.requests_ok, 300);
}
