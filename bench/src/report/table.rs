//! The headline figures as rows (figure, engine, ceiling, engine ÷ ceiling), shared by the
//! stdout summary and the HTML report.

use std::fmt::Write as _;

use super::format::{count, latency_us, ratio};
use super::{BenchResult, Ratios, SideResult};
use crate::stats::LatencySummary;

/// Reads one latency figure off a summary.
type PickLatency = fn(&LatencySummary) -> u64;

pub struct Row {
    pub figure: &'static str,
    pub engine: String,
    pub ceiling: String,
    pub ratio: String,
}

pub fn headline_rows(result: &BenchResult) -> Vec<Row> {
    let ceiling = result.ceiling.as_ref();
    let ratios = result.ratio.unwrap_or_default();
    let mut rows = Vec::new();
    let mut row = |figure, value: &dyn Fn(&SideResult) -> String, ratio_value: Option<f64>| {
        rows.push(Row {
            figure,
            engine: value(&result.engine),
            ceiling: ceiling.map_or_else(|| "—".to_owned(), value),
            ratio: ratio(ratio_value),
        });
    };
    if result.engine.find_max.is_some() {
        row(
            "max sustainable rate (req/s)",
            &|side| side.rate_per_sec_max().map_or_else(|| "none passed".to_owned(), count),
            ratios.rate_max,
        );
    }
    row("throughput (ok/s)", &|side| count(side.throughput_per_sec), ratios.throughput);
    let latency_rows: [(&'static str, PickLatency, Option<f64>); 5] = [
        ("latency p50", |l| l.latency_us_p50, ratios.latency_p50),
        ("latency p90", |l| l.latency_us_p90, ratios.latency_p90),
        ("latency p99", |l| l.latency_us_p99, ratios.latency_p99),
        ("latency p99.9", |l| l.latency_us_p999, ratios.latency_p999),
        ("latency max", |l| l.latency_us_max, ratios.latency_max),
    ];
    for (figure, pick, ratio_value) in latency_rows {
        row(figure, &|side| latency_us(pick(&side.stats.latency)), ratio_value);
    }
    row("requests ok", &|side| count(side.stats.requests_ok as f64), None);
    row("errors", &|side| count(side.stats.requests_error as f64), None);
    rows
}

/// The short table printed at the end of a run.
pub fn summary_table(result: &BenchResult) -> String {
    let mut text = String::new();
    let _ =
        writeln!(text, "{:<30} {:>14} {:>14} {:>16}", "", "engine", "ceiling", "engine/ceiling");
    for row in headline_rows(result) {
        let _ = writeln!(
            text,
            "{:<30} {:>14} {:>14} {:>16}",
            row.figure, row.engine, row.ceiling, row.ratio
        );
    }
    let errors = &result.engine.stats.errors_by_code;
    if !errors.is_empty() {
        let listed: Vec<String> = errors.iter().map(|(code, n)| format!("{code}: {n}")).collect();
        let _ = writeln!(text, "engine errors: {}", listed.join(", "));
    }
    if let Some(problems) = result.engine.engine_log_problems.filter(|problems| *problems > 0) {
        let _ = writeln!(text, "the engine logged {problems} warning/error lines (see engine.log)");
    }
    text
}

/// For a single ratio in prose: the headline one (max rate for find-max, else throughput).
pub fn headline_ratio(ratios: &Ratios) -> Option<f64> {
    ratios.rate_max.or(ratios.throughput)
}
