//! How load is applied: a closed loop (N connections, each sending back to back), an open loop
//! (a fixed arrival schedule, latency from each request's intended send time), or `--find-max`
//! (open-loop steps of rising rate). The same code drives the ceiling and the engine.

pub mod closed_loop;
pub mod find_max;
pub mod open_loop;
pub mod progress;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::client::{Exchange, Pool};
use crate::stats::{Recorder, RunStats};
use crate::target::{Endpoint, RequestSpec};
use crate::workload::{Planned, Workload};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum LoadMode {
    /// `connections` workers, each sending its next request when the last is answered.
    Closed { connections: usize },
    /// Arrivals at `rate_per_sec` over at most `connections` sockets; at most `in_flight_max`
    /// outstanding, past which arrivals are dropped as `client_overloaded`.
    Open { rate_per_sec: f64, connections: usize, in_flight_max: usize },
}

/// One measured run: the mode, its timing, and when a request is given up.
#[derive(Debug, Clone, Copy)]
pub struct LoadConfig {
    pub mode: LoadMode,
    pub warmup: Duration,
    pub duration: Duration,
    pub request_timeout: Duration,
}

/// Applies `config`'s load to `endpoint`, printing progress under `label` once a second.
pub async fn run(
    label: &str,
    endpoint: &Endpoint,
    workload: &Arc<Workload>,
    config: &LoadConfig,
) -> RunStats {
    let recorder = Arc::new(Recorder::new(Instant::now(), config.warmup));
    let measured_from = recorder.started() + config.warmup;
    let deadline = measured_from + config.duration;
    let cpu_at_start = endpoint.engine_cpu.map(|cpu| {
        tokio::spawn(async move {
            tokio::time::sleep_until(measured_from).await;
            cpu.used()
        })
    });
    match config.mode {
        LoadMode::Closed { connections } => {
            let engine = endpoint.engine_footprint.clone();
            let _progress = progress::Ticker::start(label, &recorder, None, engine);
            closed_loop::run(
                endpoint,
                workload,
                &recorder,
                connections,
                deadline,
                config.request_timeout,
            )
            .await;
        }
        LoadMode::Open { rate_per_sec, connections, in_flight_max } => {
            let schedule =
                open_loop::Schedule { rate_per_sec, connections, in_flight_max, deadline };
            let in_flight = Arc::default();
            let engine = endpoint.engine_footprint.clone();
            let _progress =
                progress::Ticker::start(label, &recorder, Some(Arc::clone(&in_flight)), engine);
            open_loop::run(
                endpoint,
                workload,
                &recorder,
                &schedule,
                &in_flight,
                config.request_timeout,
            )
            .await;
        }
    }
    let mut stats = recorder.finish();
    if let (Some(cpu), Some(at_start)) = (endpoint.engine_cpu, cpu_at_start) {
        let used = at_start.await.ok().flatten().zip(cpu.used());
        stats.engine_cpu_us = used.map(|(start, end)| end.saturating_sub(start).as_micros() as u64);
    }
    stats
}

/// Sends `spec` on a connection leased from `pool`, all of it (the wait for a connection
/// included) within `request_timeout` of `intended`, its intended send time.
pub(crate) async fn exchange_within(
    pool: &Arc<Pool>,
    endpoint: &Endpoint,
    spec: &RequestSpec,
    intended: Instant,
    request_timeout: Duration,
) -> Exchange {
    let deadline = intended + request_timeout;
    match tokio::time::timeout_at(deadline, pool.lease()).await {
        Ok(mut lease) => lease.exchange(endpoint.request(spec), deadline).await,
        Err(_) => Exchange::TimedOut,
    }
}

/// Records what became of `planned`, intended to be sent at `intended`.
pub(crate) fn record(
    recorder: &Recorder,
    workload: &Workload,
    planned: &Planned,
    intended: Instant,
    exchange: Exchange,
) {
    match exchange {
        Exchange::Answered(answer) => {
            // Latency ends when the answer is read, before judging it costs anything.
            let latency = intended.elapsed();
            let verdict = workload.judge(planned, &answer);
            recorder.record(intended, planned.kind, Some(latency), verdict);
        }
        Exchange::Failed(stage) => {
            recorder.record(intended, planned.kind, None, Err(stage.to_owned()))
        }
        Exchange::TimedOut => {
            recorder.record(intended, planned.kind, None, Err("timeout".to_owned()))
        }
    }
}
