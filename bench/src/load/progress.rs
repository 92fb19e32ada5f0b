//! The progress line: once a second, on stderr, what the run achieved in that second, its p99 so
//! far and its errors, and where the engine was spawned here its memory and data directory, so a
//! long run can be watched (and stopped) while it goes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::engine_footprint::{EngineFootprint, Footprint};
use crate::report::format::{count, latency_us};
use crate::stats::Recorder;

const TICK: Duration = Duration::from_secs(1);

/// Rolls the recorder's seconds and prints them until dropped.
pub struct Ticker {
    task: JoinHandle<()>,
}

impl Ticker {
    pub fn start(
        label: &str,
        recorder: &Arc<Recorder>,
        in_flight: Option<Arc<AtomicUsize>>,
        engine: Option<EngineFootprint>,
    ) -> Self {
        let label = label.to_owned();
        let recorder = Arc::clone(recorder);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(Instant::now() + TICK, TICK);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let footprint = match &engine {
                    // A walk of the data directory's few files, off the load's threads.
                    Some(engine) => {
                        let engine = engine.clone();
                        tokio::task::spawn_blocking(move || engine.read()).await.unwrap_or_default()
                    }
                    None => Footprint::default(),
                };
                let progress = recorder.roll_second(footprint);
                let phase = if progress.warmup { "warm-up" } else { "measured" };
                let in_flight = in_flight
                    .as_ref()
                    .map(|in_flight| format!("  in flight {}", in_flight.load(Ordering::Relaxed)))
                    .unwrap_or_default();
                let engine = footprint_text(&progress.footprint);
                eprintln!(
                    "{label:>8} {:>4}s {phase:<8}  {:>9} ok/s  p99 {:>9}  errors {}{in_flight}{engine}",
                    progress.second,
                    count(progress.ok_per_sec as f64),
                    latency_us(progress.latency_us_p99),
                    progress.errors_seen,
                );
            }
        });
        Self { task }
    }
}

/// `  rss 1.90 GB  data 14.40 GB`, for what was read.
fn footprint_text(footprint: &Footprint) -> String {
    let gigabytes = |bytes: u64| format!("{:.2} GB", bytes as f64 / 1e9);
    let rss = footprint.rss_bytes.map(|rss| format!("  rss {}", gigabytes(rss)));
    let data = footprint.data_bytes.map(|data| format!("  data {}", gigabytes(data)));
    rss.unwrap_or_default() + &data.unwrap_or_default()
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.task.abort();
    }
}
