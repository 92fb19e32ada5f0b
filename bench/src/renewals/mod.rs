//! `renewals`: N subscriptions on one test clock, renewed at once by advancing the clock past
//! their period end, with ordinary charges running beside them. In order:
//!
//! 1. setup (timed, not measured): a test clock, a monthly plan, N customers on the clock with a
//!    card and a subscription each (`subscriptions`), and `--customers` real-time customers with
//!    a card for the ordinary charges;
//! 2. ordinary charges at a fixed open-loop rate (`charge_load`): a warm-up, then the baseline
//!    window with no renewals;
//! 3. the burst (`clock`): the clock advanced past every period end, until it is ready again;
//!    the charges keep going and are counted in the burst's window; renewals/s = N ÷ its seconds;
//! 4. the verification (`verify`, `listing`, `ledger`): every subscription has exactly one paid
//!    invoice for the new period (and its first), each paid by a charge that names it, and the
//!    sandbox ledger holds exactly one charge entry for each.

mod charge_load;
mod clock;
mod ledger;
mod listing;
pub(crate) mod subscriptions;
mod verify;

pub use verify::Verification;

use std::time::Duration;

use tokio::time::Instant;

use charge_load::{ChargeLoad, ChargeSchedule, WindowStats};
use clock::Advanced;
use subscriptions::Fleet;

use crate::error::BenchError;
use crate::limits::{ADVANCE_ANSWER_WAIT, ADVANCE_PAST_PERIOD_END_SECS, BURST_WAIT_MAX};
use crate::load::LoadMode;
use crate::plan::{LoadPlan, Plan};
use crate::report::renewals::{RenewalsFigures, RenewalsSummary};
use crate::report::{SetupSummary, SideResult};
use crate::setup::Caller;
use crate::target::Endpoint;

/// The body of the ordinary charges' customers: real time, no clock.
const REAL_TIME_CUSTOMER_BODY: &str = "{}";
/// Characters of an engine answer quoted in an error, at most.
const BODY_EXCERPT_CHARS: usize = 300;

/// What a renewals run measured.
pub struct RenewalsRun {
    pub setup: SetupSummary,
    /// The ordinary charges during the burst: the result's engine side.
    pub burst: SideResult,
    pub summary: RenewalsSummary,
}

/// The ordinary charges' load, as the CLI gave it.
struct ChargePlan {
    rate_per_sec: f64,
    connections: usize,
    in_flight_max: usize,
    warmup: Duration,
    baseline: Duration,
}

/// The burst as it went, with the ordinary charges of both windows.
struct Burst {
    advanced_to: i64,
    advanced: Advanced,
    secs: f64,
    charges: WindowStats,
}

pub async fn run(plan: &Plan, endpoint: &Endpoint) -> Result<RenewalsRun, BenchError> {
    let charge_plan = charge_plan(plan)?;
    let caller = Caller::new(endpoint, plan.request_timeout());
    let (fleet, customers, setup) = set_up(plan, &caller).await?;
    let burst = renew(plan, endpoint, &caller, &fleet, customers, &charge_plan).await?;

    eprintln!("verify: {} subscriptions", fleet.subscriptions.len());
    let mut verification = verify::verify(&caller, &fleet.subscriptions).await;
    if burst.advanced.frozen_time != burst.advanced_to {
        verification.mismatch(format!(
            "the clock {} is ready at frozen_time {}, not at the target {}",
            fleet.clock.id, burst.advanced.frozen_time, burst.advanced_to
        ));
    }
    eprintln!(
        "verify: done in {:.1} s, {} mismatches",
        verification.secs, verification.mismatch_count
    );

    let figures = RenewalsFigures {
        subscriptions: fleet.subscriptions.len(),
        test_clock: fleet.clock.id.clone(),
        plan: fleet.plan.clone(),
        setup_secs: fleet.secs,
        frozen_time_before: fleet.clock.frozen_time,
        advanced_to: burst.advanced_to,
        advance_answer_status: burst.advanced.answer_status,
        clock_polls: burst.advanced.polls,
        burst_secs: burst.secs,
        charge_rate_per_sec: charge_plan.rate_per_sec,
    };
    let url = endpoint.url.clone();
    let during = SideResult::new(url.clone(), burst.secs, burst.charges.burst);
    let baseline = SideResult::new(url, charge_plan.baseline.as_secs_f64(), burst.charges.baseline);
    let summary = RenewalsSummary::new(figures, &during, baseline, verification);
    Ok(RenewalsRun { setup, burst: during, summary })
}

fn charge_plan(plan: &Plan) -> Result<ChargePlan, BenchError> {
    match plan.load {
        LoadPlan::Fixed {
            mode: LoadMode::Open { rate_per_sec, connections, in_flight_max },
            warmup_secs,
            duration_secs,
        } => Ok(ChargePlan {
            rate_per_sec,
            connections,
            in_flight_max,
            warmup: Duration::from_secs_f64(warmup_secs),
            baseline: Duration::from_secs_f64(duration_secs),
        }),
        _ => Err(BenchError::Usage("renewals needs an open loop at a fixed --rate".into())),
    }
}

/// The fleet on the clock, then the real-time customers of the ordinary charges.
async fn set_up(
    plan: &Plan,
    caller: &Caller,
) -> Result<(Fleet, Vec<String>, SetupSummary), BenchError> {
    let started = Instant::now();
    let fleet = subscriptions::make(caller, plan.subscriptions).await?;
    eprintln!(
        "setup: {} subscriptions in {:.1} s ({:.0}/s); {} real-time customers for the ordinary charges",
        fleet.subscriptions.len(),
        fleet.secs,
        fleet.subscriptions.len() as f64 / fleet.secs.max(f64::MIN_POSITIVE),
        plan.customers
    );
    let customers = caller.create_customers(plan.customers, REAL_TIME_CUSTOMER_BODY).await?;
    let setup = SetupSummary {
        customers: plan.subscriptions + plan.customers,
        charges: plan.subscriptions,
        secs: started.elapsed().as_secs_f64(),
    };
    Ok((fleet, customers, setup))
}

/// Ordinary charges through the warm-up and the baseline, then the clock advanced with the
/// charges still going, until it is ready.
async fn renew(
    plan: &Plan,
    endpoint: &Endpoint,
    caller: &Caller,
    fleet: &Fleet,
    customers: Vec<String>,
    charge_plan: &ChargePlan,
) -> Result<Burst, BenchError> {
    let schedule = ChargeSchedule {
        rate_per_sec: charge_plan.rate_per_sec,
        connections: charge_plan.connections,
        in_flight_max: charge_plan.in_flight_max,
        warmup: charge_plan.warmup,
        request_timeout: plan.request_timeout(),
        deadline: Instant::now() + charge_plan.warmup + charge_plan.baseline + BURST_WAIT_MAX,
    };
    eprintln!(
        "charges: {}/s to real-time customers, {:.1} s warm-up, then {:.1} s of baseline (no renewals)",
        charge_plan.rate_per_sec,
        charge_plan.warmup.as_secs_f64(),
        charge_plan.baseline.as_secs_f64()
    );
    let mut charges = ChargeLoad::start(endpoint, customers, schedule);
    tokio::time::sleep_until(charges.baseline_from() + charge_plan.baseline).await;

    let advanced_to = fleet.advance_target(ADVANCE_PAST_PERIOD_END_SECS);
    eprintln!("renewals: advancing {} to {advanced_to}", fleet.clock.id);
    let advance_caller = Caller::new(endpoint, ADVANCE_ANSWER_WAIT);
    let started = charges.start_burst();
    let advanced = clock::advance(&advance_caller, caller, &fleet.clock.id, advanced_to).await;
    let ended = advanced.as_ref().map_or_else(|_| Instant::now(), |advanced| advanced.ready_at);
    let charges = charges.finish(ended).await;
    let advanced = advanced?;
    let secs = (advanced.ready_at - started).as_secs_f64();
    eprintln!(
        "renewals: ready after {secs:.2} s: {:.0} renewals/s",
        fleet.subscriptions.len() as f64 / secs
    );
    Ok(Burst { advanced_to, advanced, secs, charges })
}

/// An id as one path segment: percent-encoded beyond the characters ids are made of, so an odd
/// answer from the engine cannot make an invalid request line.
pub fn path_segment(id: &str) -> String {
    percent_encode(id)
}

/// A value in a query string, encoded as `path_segment` does.
pub fn query_value(value: &str) -> String {
    percent_encode(value)
}

fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(byte as char)
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

/// The start of an engine answer, for an error message.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(BODY_EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_kept_and_anything_else_is_percent_encoded() {
        assert_eq!(path_segment("sub_01JABCxyz"), "sub_01JABCxyz");
        assert_eq!(query_value("a b/c?&"), "a%20b%2Fc%3F%26");
        assert_eq!(excerpt(b"short"), "short");
        assert_eq!(excerpt("é".repeat(400).as_bytes()).chars().count(), BODY_EXCERPT_CHARS + 1);
    }
}
