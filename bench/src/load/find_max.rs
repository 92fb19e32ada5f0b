//! `--find-max`: the highest open-loop arrival rate the target sustains with p99 within a bound
//! and under 1 % errors. Short steps: the rate grows ×1.5 while steps pass; after the first
//! failure it is bisected between the last pass and the first failure a few times (or, when even
//! the first step fails, halved until one passes). The step count is bounded.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{LoadConfig, LoadMode};
use crate::limits::{
    FIND_MAX_BISECT_STEPS, FIND_MAX_ERROR_RATE_MAX, FIND_MAX_GROWTH, FIND_MAX_STEP_WARMUP,
    FIND_MAX_STEPS_MAX, RATE_PER_SEC_MAX,
};
use crate::stats::RunStats;
use crate::target::Endpoint;
use crate::workload::Workload;

/// Below this, halving stops: a target that cannot sustain 1 request/s has no useful maximum.
const RATE_PER_SEC_MIN: f64 = 1.0;
/// Bisection stops early once the bracket is this narrow (relative to the passing rate).
const BRACKET_RELATIVE_MIN: f64 = 0.02;

#[derive(Debug, Clone, Copy)]
pub struct FindMaxConfig {
    pub rate_per_sec_start: f64,
    pub connections: usize,
    pub in_flight_max: usize,
    pub step_duration: Duration,
    pub latency_us_p99_bound: u64,
    pub request_timeout: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub rate_per_sec_target: f64,
    pub throughput_per_sec: f64,
    pub latency_us_p99: u64,
    pub error_rate: f64,
    pub passed: bool,
    pub stats: RunStats,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FindMaxOutcome {
    pub steps: Vec<Step>,
    /// The highest passing rate, if any step passed.
    pub rate_per_sec_max: Option<f64>,
}

impl FindMaxOutcome {
    /// The step the headline figures come from: the highest passing one, else the last.
    pub fn best_step(&self) -> Option<&Step> {
        let passing = self.steps.iter().filter(|step| step.passed);
        passing
            .max_by(|a, b| a.rate_per_sec_target.total_cmp(&b.rate_per_sec_target))
            .or(self.steps.last())
    }
}

pub async fn run(
    label: &str,
    endpoint: &Endpoint,
    workload: &Arc<Workload>,
    config: &FindMaxConfig,
) -> FindMaxOutcome {
    let mut search = Search::default();
    let mut steps = Vec::new();
    let mut rate = config.rate_per_sec_start.round().max(RATE_PER_SEC_MIN);
    while steps.len() < FIND_MAX_STEPS_MAX {
        eprintln!("{label:>8} find-max step {}: {rate} req/s", steps.len() + 1);
        let step = run_step(label, endpoint, workload, config, rate).await;
        search.record(rate, step.passed);
        steps.push(step);
        match search.next_rate() {
            Some(next) => rate = next,
            None => break,
        }
    }
    FindMaxOutcome { steps, rate_per_sec_max: search.passed }
}

async fn run_step(
    label: &str,
    endpoint: &Endpoint,
    workload: &Arc<Workload>,
    config: &FindMaxConfig,
    rate_per_sec: f64,
) -> Step {
    let load = LoadConfig {
        mode: LoadMode::Open {
            rate_per_sec,
            connections: config.connections,
            in_flight_max: config.in_flight_max,
        },
        warmup: FIND_MAX_STEP_WARMUP,
        duration: config.step_duration,
        request_timeout: config.request_timeout,
    };
    let stats = super::run(label, endpoint, workload, &load).await;
    let requests = stats.requests_ok + stats.requests_error;
    let error_rate =
        if requests == 0 { 1.0 } else { stats.requests_error as f64 / requests as f64 };
    let latency_us_p99 = stats.latency.latency_us_p99;
    let passed = stats.latency.count > 0
        && latency_us_p99 <= config.latency_us_p99_bound
        && error_rate < FIND_MAX_ERROR_RATE_MAX;
    Step {
        rate_per_sec_target: rate_per_sec,
        throughput_per_sec: stats.requests_ok as f64 / config.step_duration.as_secs_f64(),
        latency_us_p99,
        error_rate,
        passed,
        stats,
    }
}

/// Where the search stands: the highest passing and lowest failing rates seen.
#[derive(Debug, Default)]
pub struct Search {
    pub passed: Option<f64>,
    pub failed: Option<f64>,
    bisections: usize,
}

impl Search {
    pub fn record(&mut self, rate: f64, passed: bool) {
        if self.passed.is_some() && self.failed.is_some() {
            self.bisections += 1;
        }
        match passed {
            true => self.passed = Some(self.passed.map_or(rate, |best| best.max(rate))),
            false => self.failed = Some(self.failed.map_or(rate, |worst| worst.min(rate))),
        }
    }

    /// The next rate to try, or `None` when the search is done.
    pub fn next_rate(&self) -> Option<f64> {
        match (self.passed, self.failed) {
            (None, None) => None,
            (Some(passed), None) => {
                let next = (passed * FIND_MAX_GROWTH).round();
                (next <= RATE_PER_SEC_MAX).then_some(next)
            }
            (None, Some(failed)) => {
                let next = (failed / 2.0).round();
                (next >= RATE_PER_SEC_MIN && next < failed).then_some(next)
            }
            (Some(passed), Some(failed)) => {
                let wide = (failed - passed) / passed > BRACKET_RELATIVE_MIN;
                let next = ((passed + failed) / 2.0).round();
                (wide && self.bisections < FIND_MAX_BISECT_STEPS && next > passed && next < failed)
                    .then_some(next)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the search against a target that passes every rate up to `capacity`.
    fn search_against(capacity: f64, start: f64) -> (Option<f64>, Vec<f64>) {
        let mut search = Search::default();
        let mut tried = Vec::new();
        let mut rate = start;
        while tried.len() < FIND_MAX_STEPS_MAX {
            tried.push(rate);
            search.record(rate, rate <= capacity);
            match search.next_rate() {
                Some(next) => rate = next,
                None => break,
            }
        }
        (search.passed, tried)
    }

    #[test]
    fn grows_then_bisects_below_the_capacity() {
        let (found, tried) = search_against(5_000.0, 1_000.0);
        assert_eq!(&tried[..5], &[1_000.0, 1_500.0, 2_250.0, 3_375.0, 5_063.0]);
        assert_eq!(tried.len(), 5 + FIND_MAX_BISECT_STEPS);
        let found = found.unwrap();
        assert!((3_375.0..=5_000.0).contains(&found), "{found}");
        assert!(found > 4_500.0, "three bisections close most of the bracket: {found}");
    }

    #[test]
    fn halves_when_the_first_step_fails() {
        let (found, tried) = search_against(300.0, 1_000.0);
        assert_eq!(&tried[..3], &[1_000.0, 500.0, 250.0]);
        let found = found.unwrap();
        assert!((250.0..=300.0).contains(&found), "{found}");
    }

    #[test]
    fn gives_up_on_a_target_that_never_passes() {
        let (found, tried) = search_against(0.0, 1_000.0);
        assert_eq!(found, None);
        assert!(tried.len() <= FIND_MAX_STEPS_MAX);
        assert_eq!(*tried.last().unwrap(), 1.0);
    }

    #[test]
    fn growth_stops_at_the_rate_cap() {
        let (found, tried) = search_against(f64::INFINITY, 1_000.0);
        assert!(tried.len() <= FIND_MAX_STEPS_MAX);
        assert!(found.unwrap() <= RATE_PER_SEC_MAX);
    }
}
