//! What a run produced, and where it goes: `result.json` (every figure), `report.html` (a
//! self-contained page with the plots) and a short table on stdout.
//!
//! Every engine figure is also given as a ratio engine ÷ ceiling, measured side by side on the
//! same machine: throughput and maximum rate ratios say what share of the plain route's capacity
//! the engine keeps (higher is better, 1 is the ceiling); latency ratios say how many times
//! slower the engine answers (lower is better).
//!
//! `charge-priced` adds a second comparison, engine ÷ engine: charges priced from line items over
//! plain-amount charges measured right before them, same customers, client and load. Its ratios
//! read the same way and say what the pricing and tax rules cost a charge. `charge-coupon` does
//! the same for priced charges with a coupon over the same charges without one, and
//! `events-out` for charges whose events are delivered over charges with the endpoint disabled.
//!
//! `webhooks` adds the deliveries as sent, the duplicates answered, whether the engine applied
//! the events, and its target's verdict (`webhooks.rs`).
//!
//! `renewals` compares the engine with itself too, and has no ceiling: ordinary charges during the
//! renewal burst over the same charges in a baseline window before it. It adds the setup rate,
//! renewals/s, the verification and its target's verdict (`renewals.rs`).
//!
//! `entitlements` adds the data set read, the answers checked in full (and any that were wrong)
//! and issue 16's target, a share of the ceiling, as met or missed (`entitlements.rs`).

pub mod entitlements;
pub mod format;
mod html;
mod plots;
pub mod renewals;
mod svg;
mod table;
pub mod webhooks;

use std::path::Path;

use serde::Serialize;

use crate::error::BenchError;
use crate::load::find_max::FindMaxOutcome;
use crate::plan::Plan;
use crate::stats::RunStats;

pub use entitlements::EntitlementsSummary;
pub use renewals::RenewalsSummary;
pub use table::summary_table;
pub use webhooks::WebhookSummary;

#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub tool: &'static str,
    pub version: &'static str,
    pub command: String,
    pub started_unix_secs: u64,
    pub machine: Machine,
    pub config: Plan,
    pub setup: Option<SetupSummary>,
    pub ceiling: Option<SideResult>,
    /// `charge-priced` only: plain-amount charges on the same engine, measured right before
    /// `engine` (the priced charges).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plain_amount: Option<SideResult>,
    pub engine: SideResult,
    /// Engine ÷ ceiling.
    pub ratio: Option<Ratios>,
    /// `charge-priced` only: engine (priced) ÷ plain amount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_to_plain_amount: Option<Ratios>,
    /// `webhooks` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<WebhookSummary>,
    /// `renewals` only; `engine` is then the ordinary charges during the renewal burst.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewals: Option<RenewalsSummary>,
    /// `entitlements` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entitlements: Option<EntitlementsSummary>,
    /// `events-out` only; `plain_amount` is then the charges with the endpoint disabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_out: Option<crate::events_out::EventsOutSummary>,
}

/// The engine's side measured beside `engine` as its yardstick: plain-amount charges for
/// `charge-priced`, charges with no renewals for `renewals`.
pub struct Baseline<'a> {
    /// Its column in the table.
    pub label: &'static str,
    /// The column of engine ÷ it.
    pub ratio_label: &'static str,
    pub side: &'a SideResult,
    /// `engine` ÷ `side`.
    pub ratios: Ratios,
}

impl BenchResult {
    /// What the engine's side is called: as the scenario's comparison names it when a baseline
    /// on the engine sits beside it, `during burst` for the ordinary charges of `renewals`.
    pub fn engine_label(&self) -> &'static str {
        match (self.comparison(), &self.renewals) {
            (Some(comparison), _) => comparison.engine,
            (None, Some(_)) => "during burst",
            (None, None) => "engine",
        }
    }

    /// The scenario's comparison on the engine, when this run measured its baseline.
    pub fn comparison(&self) -> Option<crate::plan::Comparison> {
        self.plain_amount.as_ref().and(self.config.scenario.comparison())
    }

    /// The engine's own yardstick, if the scenario measures one.
    pub fn engine_baseline(&self) -> Option<Baseline<'_>> {
        if let (Some(plain_amount), Some(comparison)) = (&self.plain_amount, self.comparison()) {
            return Some(Baseline {
                label: comparison.baseline,
                ratio_label: comparison.ratio,
                side: plain_amount,
                ratios: self.ratio_to_plain_amount.unwrap_or_default(),
            });
        }
        self.renewals.as_ref().map(|renewals| Baseline {
            label: "baseline",
            ratio_label: "burst ÷ baseline",
            side: &renewals.baseline,
            ratios: renewals.burst_to_baseline,
        })
    }

    /// The sides measured on the engine, by name: the scenario's, then its baseline.
    pub fn engine_sides(&self) -> Vec<(&'static str, &SideResult)> {
        let mut sides = vec![(self.engine_label(), &self.engine)];
        sides.extend(self.engine_baseline().map(|baseline| (baseline.label, baseline.side)));
        sides
    }

    /// Whether a check of the run failed, which makes `kassa-bench` exit non-zero once the
    /// results are written: the renewals' verification found mismatches, or an entitlements
    /// answer read in full was not the expected list.
    pub fn check_failed(&self) -> bool {
        self.renewals.as_ref().is_some_and(|renewals| !renewals.verification.passed())
            || self.entitlements.as_ref().is_some_and(|entitlements| !entitlements.passed())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub os: &'static str,
    pub arch: &'static str,
}

impl Machine {
    pub fn this() -> Self {
        Self {
            cores: std::thread::available_parallelism().map_or(1, |cores| cores.get()),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SetupSummary {
    pub customers: usize,
    pub charges: usize,
    pub secs: f64,
}

/// One side of a comparison: the ceiling, the engine, or the engine's plain-amount baseline.
#[derive(Debug, Clone, Serialize)]
pub struct SideResult {
    pub url: String,
    /// Seconds the figures cover (the run's, or for find-max the headline step's).
    pub measured_secs: f64,
    /// Successful answers per second over the measured seconds.
    pub throughput_per_sec: f64,
    /// For find-max: the figures of the highest passing step (else the last), with the series of
    /// all steps joined.
    #[serde(flatten)]
    pub stats: RunStats,
    pub find_max: Option<FindMaxOutcome>,
    /// Warning and error lines the spawned engine logged during the whole invocation.
    pub engine_log_problems: Option<u64>,
}

impl SideResult {
    pub fn new(url: String, measured_secs: f64, stats: RunStats) -> Self {
        let throughput_per_sec = stats.requests_ok as f64 / measured_secs.max(f64::MIN_POSITIVE);
        Self {
            url,
            measured_secs,
            throughput_per_sec,
            stats,
            find_max: None,
            engine_log_problems: None,
        }
    }

    pub fn rate_per_sec_max(&self) -> Option<f64> {
        self.find_max.as_ref().and_then(|outcome| outcome.rate_per_sec_max)
    }

    /// The engine's CPU time per successful answer, in µs, where it was measured.
    pub fn engine_cpu_us_per_ok(&self) -> Option<f64> {
        let used = self.stats.engine_cpu_us? as f64;
        (self.stats.requests_ok > 0).then(|| used / self.stats.requests_ok as f64)
    }
}

/// One side's figures over another's: engine ÷ ceiling, or priced ÷ plain amount.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Ratios {
    pub throughput: Option<f64>,
    pub rate_max: Option<f64>,
    pub latency_p50: Option<f64>,
    pub latency_p90: Option<f64>,
    pub latency_p99: Option<f64>,
    pub latency_p999: Option<f64>,
    pub latency_max: Option<f64>,
    /// The engine's CPU time per successful answer (where both sides measured it).
    #[serde(default)]
    pub engine_cpu_per_ok: Option<f64>,
}

impl Ratios {
    /// `engine` over `ceiling`, whichever sides they are.
    pub fn between(engine: &SideResult, ceiling: &SideResult) -> Self {
        let (e, c) = (&engine.stats.latency, &ceiling.stats.latency);
        let latency = |engine: u64, ceiling: u64| divide(engine as f64, ceiling as f64);
        Self {
            throughput: divide(engine.throughput_per_sec, ceiling.throughput_per_sec),
            rate_max: engine
                .rate_per_sec_max()
                .zip(ceiling.rate_per_sec_max())
                .and_then(|(e, c)| divide(e, c)),
            latency_p50: latency(e.latency_us_p50, c.latency_us_p50),
            latency_p90: latency(e.latency_us_p90, c.latency_us_p90),
            latency_p99: latency(e.latency_us_p99, c.latency_us_p99),
            latency_p999: latency(e.latency_us_p999, c.latency_us_p999),
            latency_max: latency(e.latency_us_max, c.latency_us_max),
            engine_cpu_per_ok: engine
                .engine_cpu_us_per_ok()
                .zip(ceiling.engine_cpu_us_per_ok())
                .and_then(|(e, c)| divide(e, c)),
        }
    }
}

fn divide(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0 && numerator.is_finite()).then(|| numerator / denominator)
}

/// Writes `result.json` and `report.html` into `dir`.
pub fn write(dir: &Path, result: &BenchResult) -> Result<(), BenchError> {
    let json = serde_json::to_string_pretty(result).expect("results serialize");
    write_file(&dir.join("result.json"), json.as_bytes())?;
    write_file(&dir.join("report.html"), html::page(result).as_bytes())
}

fn write_file(path: &Path, contents: &[u8]) -> Result<(), BenchError> {
    std::fs::write(path, contents)
        .map_err(|error| BenchError::Output { path: path.to_owned(), error })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::stats::LatencySummary;

    /// A side with `requests_ok` over 10 s and the given p99, the rest empty.
    pub(crate) fn side(requests_ok: u64, latency_us_p99: u64) -> SideResult {
        let stats = RunStats {
            requests_ok,
            requests_error: 0,
            errors_by_code: Default::default(),
            requests_by_kind: Default::default(),
            requests_ok_by_kind: Default::default(),
            latency: LatencySummary { latency_us_p99, ..LatencySummary::default() },
            percentiles: Vec::new(),
            series: Vec::new(),
            engine_cpu_us: None,
            latency_us: crate::stats::new_histogram(),
        };
        SideResult::new("http://127.0.0.1:1".into(), 10.0, stats)
    }

    #[test]
    fn ratios_are_engine_over_ceiling() {
        let ratios = Ratios::between(&side(20_000, 3_000), &side(50_000, 1_000));
        assert_eq!(ratios.throughput, Some(0.4));
        assert_eq!(ratios.latency_p99, Some(3.0));
        assert_eq!(ratios.latency_p50, None, "no ratio to a zero");
        assert_eq!(ratios.rate_max, None, "not a find-max run");
    }
}
