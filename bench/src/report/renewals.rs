//! What a `renewals` run adds to the report: the setup rate, the renewal burst (renewals/s), the
//! ordinary charges' latency during the burst against their baseline with no renewals (both from
//! the same run), the verification, and issue 15's target stated as met, missed or not measured:
//! "100 000 subscriptions renewed, paid and verified in under 60 s (≥ 1 700 renewals/s)".
//!
//! The target is judged on the burst (advance to ready) and the verification together: both
//! within the 60 s, the verification clean, and the burst at the rate.

use serde::Serialize;

use super::format::{count, latency_us, ratio};
use super::webhooks::{Clause, Verdict};
use super::{Ratios, SideResult};
use crate::limits::MISMATCHES_PRINTED_MAX;
use crate::renewals::Verification;

/// Issue 15: renewals per second the engine must sustain (100 000 in under a minute).
pub const TARGET_RENEWALS_PER_SEC: f64 = 1_700.0;
/// Issue 15: renewed, paid and verified within this.
pub const TARGET_TOTAL_SECS: f64 = 60.0;
/// The fleet the target is stated for.
pub const TARGET_SUBSCRIPTIONS: usize = 100_000;

#[derive(Debug, Clone, Serialize)]
pub struct RenewalsSummary {
    pub subscriptions: usize,
    pub test_clock: String,
    pub plan: String,
    /// The setup: a customer on the clock, a card, and a subscription with its paid first invoice,
    /// for each subscription.
    pub setup_secs: f64,
    pub setup_subscriptions_per_sec: f64,
    /// The clock's time before the advance, and the time it was advanced to.
    pub frozen_time_before: i64,
    pub advanced_to: i64,
    /// 200 (done within the engine's request time limit) or 202 (then polled).
    pub advance_answer_status: u16,
    pub clock_polls: u32,
    /// From just before the advance until the clock was seen ready.
    pub burst_secs: f64,
    pub renewals_per_sec: f64,
    /// The ordinary charges' arrival rate, in both windows.
    pub charge_rate_per_sec: f64,
    /// The ordinary charges with no renewals (the baseline window); those during the burst are
    /// the result's `engine` side.
    pub baseline: SideResult,
    /// During the burst ÷ baseline.
    pub burst_to_baseline: Ratios,
    pub verification: Verification,
    pub target: Clause,
}

/// The figures of a renewal run, before they are judged.
pub struct RenewalsFigures {
    pub subscriptions: usize,
    pub test_clock: String,
    pub plan: String,
    pub setup_secs: f64,
    pub frozen_time_before: i64,
    pub advanced_to: i64,
    pub advance_answer_status: u16,
    pub clock_polls: u32,
    pub burst_secs: f64,
    pub charge_rate_per_sec: f64,
}

impl RenewalsSummary {
    pub fn new(
        figures: RenewalsFigures,
        burst: &SideResult,
        baseline: SideResult,
        verification: Verification,
    ) -> Self {
        let per_sec = |n: usize, secs: f64| n as f64 / secs.max(f64::MIN_POSITIVE);
        let renewals_per_sec = per_sec(figures.subscriptions, figures.burst_secs);
        let target = target_clause(figures.subscriptions, figures.burst_secs, &verification);
        Self {
            subscriptions: figures.subscriptions,
            test_clock: figures.test_clock,
            plan: figures.plan,
            setup_secs: figures.setup_secs,
            setup_subscriptions_per_sec: per_sec(figures.subscriptions, figures.setup_secs),
            frozen_time_before: figures.frozen_time_before,
            advanced_to: figures.advanced_to,
            advance_answer_status: figures.advance_answer_status,
            clock_polls: figures.clock_polls,
            burst_secs: figures.burst_secs,
            renewals_per_sec,
            charge_rate_per_sec: figures.charge_rate_per_sec,
            burst_to_baseline: Ratios::between(burst, &baseline),
            baseline,
            verification,
            target,
        }
    }

    /// The summary in sentences, for the stdout table and the HTML report; `burst` is the
    /// result's engine side (the ordinary charges during the burst).
    pub fn lines(&self, burst: &SideResult) -> Vec<String> {
        let (during, before) = (&burst.stats.latency, &self.baseline.stats.latency);
        let answered = match self.advance_answer_status {
            202 => format!("answered 202 (advancing), then polled {} times", self.clock_polls),
            status => format!("answered {status}"),
        };
        let mut lines = vec![
            format!(
                "setup: {} subscriptions on {} (plan {}) in {:.1} s: {} subscriptions/s (each a customer on the clock, a card, and a subscription whose first invoice is paid)",
                count(self.subscriptions as f64),
                self.test_clock,
                self.plan,
                self.setup_secs,
                count(self.setup_subscriptions_per_sec),
            ),
            format!(
                "renewal burst: the clock advanced from {} to {}, {answered}; ready after {:.2} s: {} renewals/s",
                self.frozen_time_before,
                self.advanced_to,
                self.burst_secs,
                count(self.renewals_per_sec),
            ),
            format!(
                "ordinary charges at {}/s: p50 {} during the burst vs {} baseline (×{}), p99 {} vs {} (×{}); errors {} vs {}",
                count(self.charge_rate_per_sec),
                latency_us(during.latency_us_p50),
                latency_us(before.latency_us_p50),
                ratio(self.burst_to_baseline.latency_p50),
                latency_us(during.latency_us_p99),
                latency_us(before.latency_us_p99),
                ratio(self.burst_to_baseline.latency_p99),
                count(burst.stats.requests_error as f64),
                count(self.baseline.stats.requests_error as f64),
            ),
        ];
        let found = &self.verification;
        lines.push(format!(
            "verified in {:.1} s: {} subscriptions, {} renewed and paid; {} paid invoices, {} paying charges read; sandbox ledger ({:.1} s): {} entries, {} charge entries, {} of them matched to an invoice's charge",
            found.secs,
            count(found.subscriptions_checked as f64),
            count(found.renewals_paid as f64),
            count(found.invoices_paid as f64),
            count(found.charges_checked as f64),
            found.ledger_read_secs,
            count(found.ledger_entries_read as f64),
            count(found.ledger_charge_entries as f64),
            count(found.ledger_charge_entries_matched as f64),
        ));
        match found.passed() {
            true => lines.push("verification: passed, no mismatches".to_owned()),
            false => {
                let shown = found.mismatches.len().min(MISMATCHES_PRINTED_MAX);
                lines.push(format!(
                    "verification FAILED: {} mismatches (the first {shown} below, up to {} in result.json)",
                    count(found.mismatch_count as f64),
                    found.mismatches.len(),
                ));
                lines.extend(found.mismatches.iter().take(shown).map(|text| format!("  {text}")));
            }
        }
        lines.push(format!(
            "target \"{}\": {} ({})",
            self.target.target,
            self.target.verdict.word(),
            self.target.evidence
        ));
        lines
    }
}

pub fn target_clause(subscriptions: usize, burst_secs: f64, verification: &Verification) -> Clause {
    let target = format!(
        "{} subscriptions renewed, paid and verified in under {} s (at least {} renewals/s)",
        count(TARGET_SUBSCRIPTIONS as f64),
        count(TARGET_TOTAL_SECS),
        count(TARGET_RENEWALS_PER_SEC)
    );
    let renewals_per_sec = subscriptions as f64 / burst_secs.max(f64::MIN_POSITIVE);
    let total_secs = burst_secs + verification.secs;
    let evidence = format!(
        "{} renewals/s over {} subscriptions; burst {:.1} s + verification {:.1} s = {:.1} s; {} \
         mismatches",
        count(renewals_per_sec),
        count(subscriptions as f64),
        burst_secs,
        verification.secs,
        total_secs,
        count(verification.mismatch_count as f64)
    );
    if !verification.passed() {
        return Clause { target, verdict: Verdict::Missed, evidence };
    }
    if subscriptions < TARGET_SUBSCRIPTIONS {
        return Clause {
            target,
            verdict: Verdict::NotMeasured,
            evidence: format!(
                "{evidence}; the target is stated for {}: run with the default --subscriptions",
                count(TARGET_SUBSCRIPTIONS as f64)
            ),
        };
    }
    let met = renewals_per_sec >= TARGET_RENEWALS_PER_SEC && total_secs < TARGET_TOTAL_SECS;
    let verdict = match met {
        true => Verdict::Met,
        false => Verdict::Missed,
    };
    Clause { target, verdict, evidence }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verification(mismatches: usize, secs: f64) -> Verification {
        let mut found = Verification { secs, ..Verification::default() };
        (0..mismatches).for_each(|n| found.mismatch(format!("mismatch {n}")));
        found
    }

    #[test]
    fn the_target_needs_the_rate_the_time_the_full_fleet_and_a_clean_verification() {
        let clean = verification(0, 5.0);
        assert_eq!(target_clause(100_000, 50.0, &clean).verdict, Verdict::Met);
        assert_eq!(target_clause(100_000, 60.0, &clean).verdict, Verdict::Missed, "too slow");
        let slow_check = verification(0, 12.7);
        let missed = target_clause(100_000, 56.4, &slow_check);
        assert_eq!(missed.verdict, Verdict::Missed, "the rate alone is not enough");
        assert!(missed.evidence.contains("= 69.1 s"), "{missed:?}");
        assert_eq!(target_clause(100_000, 40.0, &verification(1, 5.0)).verdict, Verdict::Missed);
        let small = target_clause(2_000, 0.4, &clean);
        assert_eq!(small.verdict, Verdict::NotMeasured);
        assert!(small.evidence.contains("--subscriptions"), "{small:?}");
    }

    #[test]
    fn a_failed_verification_lists_its_first_mismatches() {
        let burst = crate::report::tests::side(1_000, 9_000);
        let figures = RenewalsFigures {
            subscriptions: 100_000,
            test_clock: "clock_1".into(),
            plan: "plan_1".into(),
            setup_secs: 80.0,
            frozen_time_before: 0,
            advanced_to: 2_682_000,
            advance_answer_status: 202,
            clock_polls: 300,
            burst_secs: 50.0,
            charge_rate_per_sec: 100.0,
        };
        let baseline = crate::report::tests::side(3_000, 3_000);
        let summary = RenewalsSummary::new(figures, &burst, baseline, verification(30, 1.0));
        assert_eq!(summary.renewals_per_sec, 2_000.0);
        assert_eq!(summary.setup_subscriptions_per_sec, 1_250.0);
        assert_eq!(summary.burst_to_baseline.latency_p99, Some(3.0));
        let lines = summary.lines(&burst);
        assert!(lines.iter().any(|line| line.contains("2 000 renewals/s")), "{lines:?}");
        assert!(lines.iter().any(|line| line.starts_with("verification FAILED: 30 mismatches")));
        let listed = lines.iter().filter(|line| line.starts_with("  mismatch")).count();
        assert_eq!(listed, MISMATCHES_PRINTED_MAX);
        assert!(lines.last().unwrap().contains(": missed ("), "{lines:?}");
    }
}
