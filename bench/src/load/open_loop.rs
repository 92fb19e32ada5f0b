//! Open loop: requests arrive on a fixed schedule (request i at start + i / rate), whatever the
//! server does. Each is spawned on its own task at its instant and its latency runs from that
//! intended instant, so a server that stalls shows the stall in the latency of every request
//! that should have gone out meanwhile (no coordinated omission). Sockets are capped by a pool,
//! and outstanding requests by `in_flight_max`: arrivals past it are dropped and counted as
//! `client_overloaded` errors, so memory stays bounded when the server falls behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::time::Instant;

use crate::client::Pool;
use crate::stats::Recorder;
use crate::target::Endpoint;
use crate::workload::Workload;

/// How often the end of the run checks whether the last requests are answered.
const DRAIN_POLL: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub rate_per_sec: f64,
    pub connections: usize,
    pub in_flight_max: usize,
    /// No arrival is scheduled at or after this instant.
    pub deadline: Instant,
}

/// What every request task needs.
struct Shared {
    endpoint: Endpoint,
    workload: Arc<Workload>,
    recorder: Arc<Recorder>,
    pool: Arc<Pool>,
    in_flight: Arc<AtomicUsize>,
    request_timeout: Duration,
}

pub async fn run(
    endpoint: &Endpoint,
    workload: &Arc<Workload>,
    recorder: &Arc<Recorder>,
    schedule: &Schedule,
    in_flight: &Arc<AtomicUsize>,
    request_timeout: Duration,
) {
    assert!(schedule.rate_per_sec > 0.0, "the CLI refuses non-positive rates");
    let shared = Arc::new(Shared {
        endpoint: endpoint.clone(),
        workload: Arc::clone(workload),
        recorder: Arc::clone(recorder),
        pool: Pool::new(endpoint.address, schedule.connections),
        in_flight: Arc::clone(in_flight),
        request_timeout,
    });
    let started = recorder.started();
    let schedule_copy = *schedule;
    let scheduler = Arc::clone(&shared);
    tokio::task::spawn_blocking(move || send_on_schedule(&scheduler, &schedule_copy, started))
        .await
        .expect("the open-loop scheduler panicked");
    // Every task ends by its own deadline; wait for the last, with a margin for recording.
    let drained_by =
        schedule.deadline.max(Instant::now()) + request_timeout + Duration::from_secs(1);
    while in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < drained_by {
        tokio::time::sleep(DRAIN_POLL).await;
    }
}

/// Spawns each arrival's task at its instant. It runs on a thread of its own because tokio's
/// timer wheel has a 1 ms resolution: a 1 ms late send would be measured as 1 ms of latency,
/// while a thread sleep here is late by tens of microseconds.
fn send_on_schedule(shared: &Arc<Shared>, schedule: &Schedule, started: Instant) {
    let runtime = tokio::runtime::Handle::current();
    let arrivals = arrival_count(schedule.rate_per_sec, schedule.deadline - started);
    let mut rng = SmallRng::from_rng(&mut rand::rng());
    for index in 0..arrivals {
        let intended = started + arrival_offset(index, schedule.rate_per_sec);
        let now = Instant::now();
        if intended > now {
            std::thread::sleep(intended - now);
        }
        let planned = shared.workload.plan(&mut rng);
        if shared.in_flight.load(Ordering::Relaxed) >= schedule.in_flight_max {
            shared.recorder.record(
                intended,
                planned.kind,
                None,
                Err("client_overloaded".to_owned()),
            );
            continue;
        }
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(shared);
        runtime.spawn(async move {
            let (pool, endpoint, timeout) =
                (&shared.pool, &shared.endpoint, shared.request_timeout);
            let exchange =
                super::exchange_within(pool, endpoint, &planned.spec, intended, timeout).await;
            super::record(&shared.recorder, &shared.workload, &planned, intended, exchange);
            shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Arrivals in `span` at `rate_per_sec`.
pub fn arrival_count(rate_per_sec: f64, span: Duration) -> u64 {
    (rate_per_sec * span.as_secs_f64()).ceil() as u64
}

/// When arrival `index` is due, from the start of the schedule.
pub fn arrival_offset(index: u64, rate_per_sec: f64) -> Duration {
    Duration::from_secs_f64(index as f64 / rate_per_sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_are_evenly_spaced_over_the_span() {
        assert_eq!(arrival_count(1_000.0, Duration::from_secs(3)), 3_000);
        assert_eq!(arrival_count(1.5, Duration::from_secs(1)), 2);
        assert_eq!(arrival_offset(0, 1_000.0), Duration::ZERO);
        assert_eq!(arrival_offset(500, 1_000.0), Duration::from_millis(500));
    }
}
