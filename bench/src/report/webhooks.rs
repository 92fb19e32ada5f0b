//! What a `webhooks` run adds to the report: the deliveries as sent (new events, re-sends, older
//! events sent after newer ones), the re-sends the engine answered as duplicates, whether it
//! applied the events after acknowledging them, and the webhooks issue's target stated as met or
//! missed: "at least 20 000 verified, durable events/s, and p99 under 10 ms at half that rate".
//!
//! Each run judges the clauses its load can show. Throughput: a closed loop, or an open loop at
//! 20 000/s or more (a fixed rate cannot show more than itself). Latency: an open loop at
//! 10 000/s or more whose p99 is under 10 ms meets it; one at 10 000/s or less whose p99 is not
//! misses it. `--find-max` judges both from its steps. A load level counts only with under 1 %
//! errors, the bar `--find-max` uses.

use serde::Serialize;

use super::SideResult;
use super::format::{count, latency_us};
use crate::applied::AppliedCheck;
use crate::limits::FIND_MAX_ERROR_RATE_MAX;
use crate::load::LoadMode;
use crate::plan::LoadPlan;
use crate::workload::{
    EventMix, KIND_EVENT, KIND_EVENT_DUPLICATE, KIND_EVENT_PAIR_NEWER, KIND_EVENT_PAIR_OLDER,
};

/// Verified, durable events per second the engine must answer.
pub const TARGET_EVENTS_PER_SEC: f64 = 20_000.0;
/// The rate at which p99 must stay under `TARGET_LATENCY_US_P99`: half the throughput target.
pub const TARGET_LATENCY_RATE_PER_SEC: f64 = TARGET_EVENTS_PER_SEC / 2.0;
pub const TARGET_LATENCY_US_P99: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Met,
    Missed,
    /// This run's load cannot show it either way.
    NotMeasured,
}

impl Verdict {
    pub(crate) fn word(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed => "missed",
            Verdict::NotMeasured => "not measured by this run",
        }
    }
}

/// One clause of the target, judged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Clause {
    pub target: String,
    pub verdict: Verdict,
    /// The figures the verdict rests on, or what run would decide it.
    pub evidence: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookSummary {
    pub event_mix: EventMix,
    /// Measured re-sends, and those answered `"duplicate": true` (each other one is an error).
    pub duplicates_sent: u64,
    pub duplicates_answered: u64,
    /// Older events sent after the newer event of their PaymentIntent.
    pub out_of_order_sent: u64,
    /// First deliveries of new events (a pair's newer half included).
    pub new_events_sent: u64,
    pub applied: Option<AppliedCheck>,
    /// Why `applied` is missing, when the check could not be made.
    pub applied_check_error: Option<String>,
    pub throughput_target: Clause,
    pub latency_target: Clause,
}

impl WebhookSummary {
    pub fn new(
        event_mix: EventMix,
        load: &LoadPlan,
        engine: &SideResult,
        applied: Result<AppliedCheck, String>,
    ) -> Self {
        let sent = |kind: &str| engine.stats.requests_by_kind.get(kind).copied().unwrap_or(0);
        let observations = observations(load, engine);
        let (applied, applied_check_error) = match applied {
            Ok(check) => (Some(check), None),
            Err(error) => (None, Some(error)),
        };
        Self {
            event_mix,
            duplicates_sent: sent(KIND_EVENT_DUPLICATE),
            duplicates_answered: engine
                .stats
                .requests_ok_by_kind
                .get(KIND_EVENT_DUPLICATE)
                .copied()
                .unwrap_or(0),
            out_of_order_sent: sent(KIND_EVENT_PAIR_OLDER),
            new_events_sent: sent(KIND_EVENT) + sent(KIND_EVENT_PAIR_NEWER),
            applied,
            applied_check_error,
            throughput_target: throughput_clause(&observations),
            latency_target: latency_clause(&observations),
        }
    }

    /// The summary in sentences, for the stdout table and the HTML report.
    pub fn lines(&self) -> Vec<String> {
        let total = (self.new_events_sent + self.duplicates_sent + self.out_of_order_sent).max(1);
        let share = |n: u64| n as f64 * 100.0 / total as f64;
        let mut lines = vec![
            format!(
                "webhooks sent: {} new events, {} re-sends ({:.1} %), {} older events after newer ones ({:.1} %)",
                count(self.new_events_sent as f64),
                count(self.duplicates_sent as f64),
                share(self.duplicates_sent),
                count(self.out_of_order_sent as f64),
                share(self.out_of_order_sent),
            ),
            format!(
                "duplicates answered (\"duplicate\": true): {} of {} re-sends (any other counts as an error)",
                count(self.duplicates_answered as f64),
                count(self.duplicates_sent as f64),
            ),
            self.applied_line(),
        ];
        for clause in [&self.throughput_target, &self.latency_target] {
            lines.push(format!(
                "target \"{}\": {} ({})",
                clause.target,
                clause.verdict.word(),
                clause.evidence
            ));
        }
        lines
    }

    fn applied_line(&self) -> String {
        let Some(check) = &self.applied else {
            let error = self.applied_check_error.as_deref().unwrap_or("not made");
            return format!("applied check failed: {error}");
        };
        if check.newest_listed == 0 {
            return "applied: GET /v1/events lists no events for this API key's account".to_owned();
        }
        let at_least = if check.unapplied_count_capped { "at least " } else { "" };
        let after = match check.all_applied_after_secs {
            Some(secs) => format!("the newest all applied {secs:.1} s after the load"),
            None => format!(
                "{} of the newest {} still unapplied {:.0} s after the load",
                check.unapplied_after_wait,
                check.newest_listed,
                crate::limits::APPLIED_WAIT.as_secs_f64()
            ),
        };
        format!(
            "applied: {at_least}{} events unapplied when the load ended; {after}",
            count(check.unapplied_at_load_end as f64)
        )
    }
}

/// The figures of one load level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// The open loop's arrival rate; `None` for a closed loop.
    pub rate_per_sec: Option<f64>,
    pub throughput_per_sec: f64,
    pub latency_us_p99: u64,
    pub error_rate: f64,
}

impl Observation {
    fn clean(&self) -> bool {
        self.error_rate < FIND_MAX_ERROR_RATE_MAX
    }

    fn describe(&self) -> String {
        let load = match self.rate_per_sec {
            Some(rate) => format!("at {} events/s offered", count(rate)),
            None => "in a closed loop".to_owned(),
        };
        format!(
            "{} ok/s {load}, p99 {}, {:.2} % errors",
            count(self.throughput_per_sec),
            latency_us(self.latency_us_p99),
            self.error_rate * 100.0
        )
    }
}

/// The load levels a run measured: the run's own, or each `--find-max` step.
pub fn observations(load: &LoadPlan, side: &SideResult) -> Vec<Observation> {
    if let Some(outcome) = &side.find_max {
        return outcome
            .steps
            .iter()
            .map(|step| Observation {
                rate_per_sec: Some(step.rate_per_sec_target),
                throughput_per_sec: step.throughput_per_sec,
                latency_us_p99: step.latency_us_p99,
                error_rate: step.error_rate,
            })
            .collect();
    }
    let rate_per_sec = match load {
        LoadPlan::Fixed { mode: LoadMode::Open { rate_per_sec, .. }, .. } => Some(*rate_per_sec),
        LoadPlan::Fixed { mode: LoadMode::Closed { .. }, .. } | LoadPlan::FindMax { .. } => None,
    };
    let stats = &side.stats;
    let requests = stats.requests_ok + stats.requests_error;
    let error_rate =
        if requests == 0 { 1.0 } else { stats.requests_error as f64 / requests as f64 };
    vec![Observation {
        rate_per_sec,
        throughput_per_sec: side.throughput_per_sec,
        latency_us_p99: stats.latency.latency_us_p99,
        error_rate,
    }]
}

pub fn throughput_clause(observations: &[Observation]) -> Clause {
    let target = format!("at least {} verified, durable events/s", count(TARGET_EVENTS_PER_SEC));
    let fastest = |levels: &mut dyn Iterator<Item = &Observation>| {
        levels.max_by(|a, b| a.throughput_per_sec.total_cmp(&b.throughput_per_sec)).copied()
    };
    let clean = fastest(&mut observations.iter().filter(|level| level.clean()));
    if let Some(level) =
        clean.filter(|level| level.throughput_per_sec.round() >= TARGET_EVENTS_PER_SEC)
    {
        return Clause { target, verdict: Verdict::Met, evidence: level.describe() };
    }
    // Levels that offered enough load to show the target: a closed loop, or the rate or more.
    let offered = fastest(
        &mut observations
            .iter()
            .filter(|level| level.rate_per_sec.is_none_or(|rate| rate >= TARGET_EVENTS_PER_SEC)),
    );
    match offered {
        Some(level) => Clause { target, verdict: Verdict::Missed, evidence: level.describe() },
        None => Clause {
            target,
            verdict: Verdict::NotMeasured,
            evidence: format!(
                "no load of {} events/s or more: run a closed loop or --rate {}",
                count(TARGET_EVENTS_PER_SEC),
                TARGET_EVENTS_PER_SEC
            ),
        },
    }
}

pub fn latency_clause(observations: &[Observation]) -> Clause {
    let target = format!(
        "p99 under {} ms at {} events/s",
        TARGET_LATENCY_US_P99 / 1_000,
        count(TARGET_LATENCY_RATE_PER_SEC)
    );
    let passes =
        |level: &Observation| level.clean() && level.latency_us_p99 < TARGET_LATENCY_US_P99;
    let open =
        || observations.iter().filter_map(|level| level.rate_per_sec.map(|rate| (rate, level)));
    // The highest rate at or above half the target that passes shows the most.
    let met = open()
        .filter(|(rate, level)| *rate >= TARGET_LATENCY_RATE_PER_SEC && passes(level))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((_, level)) = met {
        return Clause { target, verdict: Verdict::Met, evidence: level.describe() };
    }
    // Failing at the rate or below it: a lighter load than the target's already fails.
    let missed = open()
        .filter(|(rate, level)| *rate <= TARGET_LATENCY_RATE_PER_SEC && !passes(level))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match missed {
        Some((_, level)) => Clause { target, verdict: Verdict::Missed, evidence: level.describe() },
        None => Clause {
            target,
            verdict: Verdict::NotMeasured,
            evidence: format!(
                "no open loop at {} events/s decided it: run --rate {}",
                count(TARGET_LATENCY_RATE_PER_SEC),
                TARGET_LATENCY_RATE_PER_SEC
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(rate_per_sec: Option<f64>, throughput: f64, p99_us: u64, errors: f64) -> Observation {
        Observation {
            rate_per_sec,
            throughput_per_sec: throughput,
            latency_us_p99: p99_us,
            error_rate: errors,
        }
    }

    #[test]
    fn throughput_is_met_by_a_clean_run_at_the_rate_and_missed_by_one_short_of_it() {
        let met = throughput_clause(&[level(Some(20_000.0), 19_999.96, 40_000, 0.0)]);
        assert_eq!(met.verdict, Verdict::Met, "{met:?}");
        assert!(met.evidence.contains("20 000 ok/s at 20 000 events/s offered"), "{met:?}");
        let errors = throughput_clause(&[level(Some(20_000.0), 20_000.0, 900_000, 0.02)]);
        assert_eq!(errors.verdict, Verdict::Missed);
        let closed = throughput_clause(&[level(None, 14_000.0, 5_000, 0.0)]);
        assert_eq!(closed.verdict, Verdict::Missed);
        assert!(closed.evidence.contains("closed loop"), "{closed:?}");
        let closed_fast = throughput_clause(&[level(None, 23_000.0, 5_000, 0.0)]);
        assert_eq!(closed_fast.verdict, Verdict::Met);
        let light = throughput_clause(&[level(Some(10_000.0), 10_000.0, 2_000, 0.0)]);
        assert_eq!(light.verdict, Verdict::NotMeasured);
    }

    #[test]
    fn latency_is_judged_at_half_the_rate() {
        let met = latency_clause(&[level(Some(10_000.0), 10_000.0, 9_999, 0.0)]);
        assert_eq!(met.verdict, Verdict::Met);
        let missed = latency_clause(&[level(Some(10_000.0), 10_000.0, 10_000, 0.0)]);
        assert_eq!(missed.verdict, Verdict::Missed);
        let faster_passes = latency_clause(&[level(Some(20_000.0), 20_000.0, 3_000, 0.0)]);
        assert_eq!(faster_passes.verdict, Verdict::Met);
        let faster_fails = latency_clause(&[level(Some(20_000.0), 20_000.0, 30_000, 0.0)]);
        assert_eq!(faster_fails.verdict, Verdict::NotMeasured);
        let closed = latency_clause(&[level(None, 20_000.0, 3_000, 0.0)]);
        assert_eq!(closed.verdict, Verdict::NotMeasured);
        let slower_fails = latency_clause(&[level(Some(5_000.0), 5_000.0, 12_000, 0.0)]);
        assert_eq!(slower_fails.verdict, Verdict::Missed);
        let with_errors = latency_clause(&[level(Some(10_000.0), 9_000.0, 2_000, 0.1)]);
        assert_eq!(with_errors.verdict, Verdict::Missed);
    }

    #[test]
    fn find_max_steps_decide_both_clauses() {
        let steps = [
            level(Some(7_594.0), 7_594.0, 2_000, 0.0),
            level(Some(11_391.0), 11_391.0, 4_000, 0.0),
            level(Some(17_086.0), 17_086.0, 8_000, 0.0),
            level(Some(25_629.0), 21_000.0, 60_000, 0.004),
        ];
        assert_eq!(latency_clause(&steps).verdict, Verdict::Met);
        let throughput = throughput_clause(&steps);
        assert_eq!(throughput.verdict, Verdict::Met, "{throughput:?}");
        assert!(throughput.evidence.starts_with("21 000 ok/s"), "{throughput:?}");
        let short = [
            level(Some(11_391.0), 11_391.0, 4_000, 0.0),
            level(Some(17_086.0), 15_000.0, 80_000, 0.2),
        ];
        assert_eq!(throughput_clause(&short).verdict, Verdict::NotMeasured);
    }
}
