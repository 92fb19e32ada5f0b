//! What an `entitlements` run adds to the report: the data set (one plan's features granted to
//! each subscribed customer), the answers checked in full and how many were wrong, and issue 16's
//! target stated as met, missed or not measured: entitlement reads at "≥ 0.5 of the plain-warp
//! ceiling measured in the same run". A closed loop judges it by throughput, `--find-max` by the
//! highest sustainable rate; an open loop sends both sides the same arrivals, so it cannot.

use serde::Serialize;

use super::Ratios;
use super::format::count;
use super::webhooks::{Clause, Verdict};
use crate::load::LoadMode;
use crate::plan::LoadPlan;
use crate::workload::EntitlementChecks;

/// Issue 16: entitlement reads keep at least this share of the ceiling's capacity.
pub const TARGET_RATIO_TO_CEILING: f64 = 0.5;

#[derive(Debug, Clone, Serialize)]
pub struct EntitlementsSummary {
    pub plan: String,
    pub features: Vec<String>,
    /// Customers read, each with an active subscription to `plan`.
    pub subscribers: usize,
    pub checks: EntitlementChecks,
    pub target: Clause,
}

/// The data set a run read.
pub struct EntitlementsData {
    pub plan: String,
    pub features: Vec<String>,
    pub subscribers: usize,
}

impl EntitlementsSummary {
    /// `to_ceiling` is engine ÷ ceiling, `None` when the ceiling was skipped.
    pub fn new(
        data: EntitlementsData,
        checks: EntitlementChecks,
        load: &LoadPlan,
        to_ceiling: Option<&Ratios>,
    ) -> Self {
        let EntitlementsData { plan, features, subscribers } = data;
        Self { plan, features, subscribers, checks, target: target_clause(load, to_ceiling) }
    }

    /// Whether every answer read in full was the expected list.
    pub fn passed(&self) -> bool {
        self.checks.mismatched == 0
    }

    /// The summary in sentences, for the stdout table and the HTML report.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![
            format!(
                "entitlements: {} customers, each with an active subscription to {} ({})",
                count(self.subscribers as f64),
                self.plan,
                self.features.join(", ")
            ),
            format!(
                "answers checked in full (one in {}, warm-up included): {}, {} not the plan's features from the customer's subscription",
                crate::limits::ENTITLEMENTS_CHECK_ONE_IN,
                count(self.checks.checked as f64),
                count(self.checks.mismatched as f64)
            ),
        ];
        lines.extend(self.checks.examples.iter().map(|example| format!("mismatch: {example}")));
        lines.push(format!(
            "target \"{}\": {} ({})",
            self.target.target,
            self.target.verdict.word(),
            self.target.evidence
        ));
        lines
    }
}

fn target_clause(load: &LoadPlan, to_ceiling: Option<&Ratios>) -> Clause {
    let target = format!("at least {TARGET_RATIO_TO_CEILING} of the plain-warp ceiling");
    let clause = |verdict, evidence: String| Clause { target: target.clone(), verdict, evidence };
    let Some(to_ceiling) = to_ceiling else {
        return clause(Verdict::NotMeasured, "the ceiling was skipped".to_owned());
    };
    let (what, value) = match load {
        LoadPlan::Fixed { mode: LoadMode::Open { .. }, .. } => {
            return clause(
                Verdict::NotMeasured,
                "an open loop sends both sides the same arrivals; run a closed loop or --find-max"
                    .to_owned(),
            );
        }
        LoadPlan::Fixed { mode: LoadMode::Closed { .. }, .. } => {
            ("throughput", to_ceiling.throughput)
        }
        LoadPlan::FindMax { .. } => ("max sustainable rate", to_ceiling.rate_max),
    };
    let Some(value) = value else {
        return clause(Verdict::Missed, format!("no {what} ratio: the engine answered nothing"));
    };
    let verdict = match value >= TARGET_RATIO_TO_CEILING {
        true => Verdict::Met,
        false => Verdict::Missed,
    };
    clause(verdict, format!("{what} engine ÷ ceiling {value:.2}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed() -> LoadPlan {
        LoadPlan::Fixed {
            mode: LoadMode::Closed { connections: 64 },
            warmup_secs: 5.0,
            duration_secs: 30.0,
        }
    }

    fn throughput(value: f64) -> Ratios {
        Ratios { throughput: Some(value), ..Ratios::default() }
    }

    #[test]
    fn a_closed_loop_judges_the_throughput_ratio() {
        let met = target_clause(&closed(), Some(&throughput(0.62)));
        assert_eq!(met.verdict, Verdict::Met);
        assert!(met.evidence.contains("throughput engine ÷ ceiling 0.62"), "{}", met.evidence);
        assert_eq!(target_clause(&closed(), Some(&throughput(0.49))).verdict, Verdict::Missed);
        assert_eq!(target_clause(&closed(), None).verdict, Verdict::NotMeasured);
    }

    #[test]
    fn an_open_loop_cannot_judge_it_and_find_max_uses_the_rate() {
        let open = LoadPlan::Fixed {
            mode: LoadMode::Open { rate_per_sec: 1_000.0, connections: 256, in_flight_max: 10 },
            warmup_secs: 1.0,
            duration_secs: 1.0,
        };
        assert_eq!(target_clause(&open, Some(&throughput(0.9))).verdict, Verdict::NotMeasured);
        let find_max = LoadPlan::FindMax {
            rate_per_sec_start: 1_000.0,
            connections: 256,
            in_flight_max: 10,
            step_duration_secs: 5.0,
            latency_ms_p99_bound: 10.0,
        };
        let rate = Ratios { rate_max: Some(0.7), throughput: Some(0.1), ..Ratios::default() };
        assert_eq!(target_clause(&find_max, Some(&rate)).verdict, Verdict::Met);
    }

    #[test]
    fn mismatches_fail_the_run_and_are_listed() {
        let checks = EntitlementChecks {
            checked: 100,
            mismatched: 1,
            examples: vec!["cus_1 (sub_1): reports granted by sub_2: {…}".into()],
        };
        let data = EntitlementsData {
            plan: "plan_1".into(),
            features: vec!["courses".into()],
            subscribers: 10_000,
        };
        let summary = EntitlementsSummary::new(data, checks, &closed(), Some(&throughput(0.6)));
        assert!(!summary.passed());
        let lines = summary.lines();
        assert!(lines[0].contains("10 000 customers"), "{lines:?}");
        assert!(lines.iter().any(|line| line.starts_with("mismatch: cus_1")), "{lines:?}");
        assert!(lines.last().unwrap().contains(": met ("), "{lines:?}");
    }
}
