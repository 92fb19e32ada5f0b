//! The headline figures as rows (figure, then one cell per column), shared by the stdout summary
//! and the HTML report. The columns are the engine, the ceiling and engine ÷ ceiling; a
//! `charge-priced` run puts its plain-amount charges and priced ÷ plain between the engine and the
//! ceiling. A `renewals` run has no ceiling: its columns are the ordinary charges during the burst,
//! the same charges in the baseline window before it, and burst ÷ baseline.

use std::fmt::Write as _;

use super::format::{count, latency_us, ratio};
use super::{BenchResult, Ratios, SideResult};
use crate::plan::LoadPlan;
use crate::stats::LatencySummary;

/// Reads one latency figure off a summary.
type PickLatency = fn(&LatencySummary) -> u64;
/// Reads one ratio off a comparison.
type PickRatio = fn(&Ratios) -> Option<f64>;

pub struct Row {
    pub figure: &'static str,
    /// One cell per title of `column_titles`, in order.
    pub cells: Vec<String>,
}

/// The titles of the cells of every row: the engine, its baseline and engine ÷ baseline (where
/// the scenario measures one), then the ceiling and engine ÷ ceiling (unless the scenario never
/// measures it).
pub fn column_titles(result: &BenchResult) -> Vec<&'static str> {
    let mut titles = vec![result.engine_label()];
    if let Some(baseline) = result.engine_baseline() {
        titles.extend([baseline.label, baseline.ratio_label]);
    }
    if result.config.scenario.measures_ceiling() {
        let to_ceiling = result.comparison().map_or("engine ÷ ceiling", |c| c.to_ceiling);
        titles.extend(["ceiling", to_ceiling]);
    }
    titles
}

pub fn headline_rows(result: &BenchResult) -> Vec<Row> {
    let ceiling = result.ceiling.as_ref();
    let with_ceiling = result.config.scenario.measures_ceiling();
    let baseline = result.engine_baseline();
    let to_ceiling = result.ratio.unwrap_or_default();
    let mut rows = Vec::new();
    let mut row = |figure, value: &dyn Fn(&SideResult) -> String, pick: PickRatio| {
        let mut cells = vec![value(&result.engine)];
        if let Some(baseline) = &baseline {
            cells.push(value(baseline.side));
            cells.push(ratio(pick(&baseline.ratios)));
        }
        if with_ceiling {
            cells.push(ceiling.map_or_else(|| "—".to_owned(), value));
            cells.push(ratio(pick(&to_ceiling)));
        }
        rows.push(Row { figure, cells });
    };
    if result.engine.find_max.is_some() {
        row(
            "max sustainable rate (req/s)",
            &|side| side.rate_per_sec_max().map_or_else(|| "none passed".to_owned(), count),
            |ratios| ratios.rate_max,
        );
    }
    row("throughput (ok/s)", &|side| count(side.throughput_per_sec), |ratios| ratios.throughput);
    let latency_rows: [(&'static str, PickLatency, PickRatio); 5] = [
        ("latency p50", |l| l.latency_us_p50, |r| r.latency_p50),
        ("latency p90", |l| l.latency_us_p90, |r| r.latency_p90),
        ("latency p99", |l| l.latency_us_p99, |r| r.latency_p99),
        ("latency p99.9", |l| l.latency_us_p999, |r| r.latency_p999),
        ("latency max", |l| l.latency_us_max, |r| r.latency_max),
    ];
    for (figure, pick, pick_ratio) in latency_rows {
        row(figure, &|side| latency_us(pick(&side.stats.latency)), pick_ratio);
    }
    if result.engine.engine_cpu_us_per_ok().is_some() {
        let cpu = |side: &SideResult| {
            side.engine_cpu_us_per_ok().map_or_else(|| "—".to_owned(), |us| format!("{us:.0} µs"))
        };
        row("engine CPU per ok answer", &cpu, |ratios| ratios.engine_cpu_per_ok);
    }
    row("requests ok", &|side| count(side.stats.requests_ok as f64), |_| None);
    row("errors", &|side| count(side.stats.requests_error as f64), |_| None);
    rows
}

/// The short table printed at the end of a run.
pub fn summary_table(result: &BenchResult) -> String {
    let mut text = String::new();
    let _ = write!(text, "{:<30}", "");
    for title in column_titles(result) {
        let _ = write!(text, " {:>16}", title.replace(" ÷ ", "/"));
    }
    text.push('\n');
    for row in headline_rows(result) {
        let _ = write!(text, "{:<30}", row.figure);
        for cell in &row.cells {
            let _ = write!(text, " {cell:>16}");
        }
        text.push('\n');
    }
    for (label, side) in result.engine_sides() {
        let errors = &side.stats.errors_by_code;
        if !errors.is_empty() {
            let listed: Vec<String> =
                errors.iter().map(|(code, n)| format!("{code}: {n}")).collect();
            let _ = writeln!(text, "{label} errors: {}", listed.join(", "));
        }
    }
    if let Some(comparison) = plain_comparison(result) {
        let _ = writeln!(text, "{comparison}");
    }
    for line in result.webhooks.iter().flat_map(|webhooks| webhooks.lines()) {
        let _ = writeln!(text, "{line}");
    }
    for line in result.renewals.iter().flat_map(|renewals| renewals.lines(&result.engine)) {
        let _ = writeln!(text, "{line}");
    }
    for line in result.entitlements.iter().flat_map(|entitlements| entitlements.lines()) {
        let _ = writeln!(text, "{line}");
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

/// A run with a baseline on the engine (`charge-priced`, `charge-coupon`, `events-out`): one
/// sentence on what the scenario costs a charge, in the figure the load mode makes meaningful.
/// Capacity runs (closed loop, find-max) compare throughput or the highest rate; an open loop
/// sends both sides the same arrivals, so it compares latency.
pub fn plain_comparison(result: &BenchResult) -> Option<String> {
    let plain = result.plain_amount.as_ref()?;
    let ratios = result.ratio_to_plain_amount?;
    let comparison = result.comparison()?;
    let name = comparison.ratio;
    let priced = &result.engine;
    let open_loop = matches!(
        result.config.load,
        LoadPlan::Fixed { mode: crate::load::LoadMode::Open { .. }, .. }
    );
    if open_loop {
        let (p, b) = (&priced.stats.latency, &plain.stats.latency);
        return Some(format!(
            "{name} at the same arrival rate: p50 {} vs {} (×{}), p99 {} vs {} (×{})",
            latency_us(p.latency_us_p50),
            latency_us(b.latency_us_p50),
            ratio(ratios.latency_p50),
            latency_us(p.latency_us_p99),
            latency_us(b.latency_us_p99),
            ratio(ratios.latency_p99),
        ));
    }
    let (what, value) = match ratios.rate_max {
        Some(value) => ("max sustainable rate", value),
        None => ("throughput", ratios.throughput?),
    };
    let loss = match value < 1.0 {
        true => format!("a loss of {:.0} %", (1.0 - value) * 100.0),
        // Only noise makes the scenario's side faster: say so rather than print a negative loss.
        false => "no loss".to_owned(),
    };
    // What each answer cost the engine: the load generator and the machine's neighbours move
    // throughput, not this.
    let cpu = ratios
        .engine_cpu_per_ok
        .map(|cpu| format!("; the engine's CPU per answer {name} ×{cpu:.2}"))
        .unwrap_or_default();
    let Some(target) = comparison.target else {
        return Some(format!("{name} {what}: {value:.2} ({loss}){cpu}"));
    };
    let verdict = match value >= target.floor {
        true => "met",
        false => "missed",
    };
    Some(format!(
        "{name} {what}: {value:.2} ({loss}; {}, a loss under {:.0} %: {verdict}){cpu}",
        target.source,
        (1.0 - target.floor) * 100.0,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Plan, Scenario, TargetPlan};
    use crate::report::Machine;
    use crate::report::tests::side;

    fn result(plain_amount: Option<SideResult>) -> BenchResult {
        let engine = side(30_000, 4_000);
        let ceiling = side(100_000, 1_000);
        BenchResult {
            tool: "kassa-bench",
            version: "0",
            command: "kassa-bench".into(),
            started_unix_secs: 0,
            machine: Machine::this(),
            config: Plan {
                scenario: Scenario::ChargePriced,
                target: TargetPlan::Spawn { binary: "kassa".into() },
                customers: 1,
                replay_keys: 1,
                subscriptions: 1,
                receiver_mix: crate::events_out::ReceiverMix { fail_share: 0.0, hang_share: 0.0 },
                event_mix: crate::workload::EventMix {
                    duplicate_share: 0.1,
                    out_of_order_share: 0.1,
                },
                load: LoadPlan::Fixed {
                    mode: crate::load::LoadMode::Closed { connections: 32 },
                    warmup_secs: 1.0,
                    duration_secs: 10.0,
                },
                rounds: 4,
                request_timeout_ms: 1_000,
                ceiling: true,
                out_dir: "out".into(),
            },
            setup: None,
            ratio: Some(Ratios::between(&engine, &ceiling)),
            ratio_to_plain_amount: plain_amount
                .as_ref()
                .map(|plain| Ratios::between(&engine, plain)),
            ceiling: Some(ceiling),
            plain_amount,
            engine,
            webhooks: None,
            renewals: None,
            entitlements: None,
            events_out: None,
        }
    }

    #[test]
    fn a_priced_side_at_least_as_fast_reads_as_no_loss() {
        let result = result(Some(side(30_000, 4_000)));
        let comparison = plain_comparison(&result).unwrap();
        assert!(comparison.contains("throughput: 1.00 (no loss;"), "{comparison}");
        assert!(comparison.ends_with("met)"), "{comparison}");
    }

    #[test]
    fn without_a_plain_side_the_table_is_engine_ceiling_and_their_ratio() {
        let result = result(None);
        assert_eq!(column_titles(&result), ["engine", "ceiling", "engine ÷ ceiling"]);
        let rows = headline_rows(&result);
        let throughput = rows.iter().find(|row| row.figure == "throughput (ok/s)").unwrap();
        assert_eq!(throughput.cells, ["3 000", "10 000", "0.30"]);
        assert_eq!(plain_comparison(&result), None);
    }

    #[test]
    fn a_plain_side_adds_its_figures_and_the_priced_over_plain_ratio() {
        let result = result(Some(side(40_000, 2_000)));
        let titles = column_titles(&result);
        assert_eq!(titles.len(), 5);
        for row in headline_rows(&result) {
            assert_eq!(row.cells.len(), titles.len(), "{}", row.figure);
        }
        let rows = headline_rows(&result);
        let throughput = rows.iter().find(|row| row.figure == "throughput (ok/s)").unwrap();
        assert_eq!(throughput.cells, ["3 000", "4 000", "0.75", "10 000", "0.30"]);
        let p99 = rows.iter().find(|row| row.figure == "latency p99").unwrap();
        assert_eq!(p99.cells[2], "2.00");
        let comparison = plain_comparison(&result).unwrap();
        assert!(comparison.contains("throughput: 0.75"), "{comparison}");
        assert!(comparison.contains("a loss of 25 %"), "{comparison}");
        assert!(comparison.ends_with("missed)"), "{comparison}");
        let summary = summary_table(&result);
        assert!(summary.contains("priced/plain"), "{summary}");
    }

    #[test]
    fn the_engines_cpu_per_answer_is_a_row_and_a_ratio_where_measured() {
        let cpu_row = |result: &BenchResult| {
            let rows = headline_rows(result);
            rows.into_iter().find(|row| row.figure == "engine CPU per ok answer")
        };
        let mut plain = side(40_000, 2_000);
        plain.stats.engine_cpu_us = Some(40_000 * 200);
        let mut result = result(Some(plain));
        assert!(cpu_row(&result).is_none(), "not measured on the engine's side");
        result.engine.stats.engine_cpu_us = Some(30_000 * 250);
        let plain = result.plain_amount.as_ref().unwrap();
        result.ratio_to_plain_amount = Some(Ratios::between(&result.engine, plain));
        assert_eq!(cpu_row(&result).unwrap().cells, ["250 µs", "200 µs", "1.25", "—", "—"]);
        let comparison = plain_comparison(&result).unwrap();
        assert!(comparison.ends_with("CPU per answer priced ÷ plain ×1.25"), "{comparison}");
    }
}
