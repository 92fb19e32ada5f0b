//! The command line, and its check into a `Plan`: every number bounded, every target loopback.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;

use crate::engine_process::engine_binary;
use crate::error::BenchError;
use crate::events_out::ReceiverMix;
use crate::limits::{
    CLOSED_LOOP_CONNECTIONS_DEFAULT, COMPARISON_ROUNDS_DEFAULT, COMPARISON_ROUNDS_MAX,
    CONNECTIONS_MAX, CUSTOMERS_MAX, ENTITLEMENTS_CUSTOMERS_DEFAULT, FIND_MAX_START_RATE_PER_SEC,
    IN_FLIGHT_MAX_DEFAULT, OPEN_LOOP_CONNECTIONS_DEFAULT, RATE_PER_SEC_MAX,
    RENEWALS_CHARGE_RATE_PER_SEC_DEFAULT, REPLAY_KEYS_MAX, REQUEST_TIMEOUT_MS_DEFAULT,
    RUN_SECS_MAX, SUBSCRIPTIONS_DEFAULT, SUBSCRIPTIONS_MAX,
};
use crate::load::LoadMode;
use crate::plan::{LoadPlan, Plan, Scenario, TargetPlan};
use crate::target::loopback_address;
use crate::workload::EventMix;

/// Customers of `charge-hot`: few enough that their actors are contended.
const HOT_CUSTOMERS: usize = 10;
const CUSTOMERS_DEFAULT: usize = 1_000;

#[derive(Debug, Parser)]
#[command(
    name = "kassa-bench",
    version,
    about = "Load generator for Kassa: drives the engine over HTTP and measures it against a plain warp route (the ceiling) in the same run",
    after_help = "Load modes: closed loop (--connections N, the default with 64), open loop \
                  (--rate R: fixed arrivals, latency from each intended send time), or --find-max \
                  (open-loop steps of rising rate). Results go to --out: result.json and report.html."
)]
pub struct Cli {
    /// What to send.
    #[arg(value_enum)]
    pub scenario: Scenario,

    /// A running Kassa to drive (loopback only), e.g. http://127.0.0.1:8080. Needs --key.
    #[arg(long, conflicts_with_all = ["spawn", "kassa_bin"])]
    pub url: Option<String>,
    /// Secret API key for --url.
    #[arg(long, requires = "url")]
    pub key: Option<String>,
    /// The Stripe webhook secret of the engine at --url (`gateways.stripe.webhook_secret`), for
    /// `webhooks`. A spawned engine is given one.
    #[arg(long, requires = "url")]
    pub webhook_secret: Option<String>,
    /// Start the engine on a temp data dir (the default when there is no --url).
    #[arg(long)]
    pub spawn: bool,
    /// The engine binary to spawn [default: `kassa` beside this binary].
    #[arg(long, value_name = "PATH")]
    pub kassa_bin: Option<PathBuf>,

    /// Customers created before the load [default: 1000; 10 for charge-hot; 10000 for
    /// entitlements, each with a subscription]. For `renewals`: the real-time customers (not on
    /// the clock) of the ordinary charges.
    #[arg(long)]
    pub customers: Option<usize>,
    /// `renewals`: subscriptions made on the test clock, then renewed at once.
    #[arg(long, default_value_t = SUBSCRIPTIONS_DEFAULT)]
    pub subscriptions: usize,
    /// Charges made (with keys) before a `replay` run, then re-sent by it.
    #[arg(long, default_value_t = 1_000)]
    pub replay_keys: usize,

    /// `webhooks`: the share of deliveries that re-send an event already acknowledged.
    #[arg(long, default_value_t = 0.1)]
    pub duplicate_share: f64,
    /// `webhooks`: the share of deliveries that are an older event of a PaymentIntent sent after
    /// its newer `payment_intent.succeeded`.
    #[arg(long, default_value_t = 0.1)]
    pub out_of_order_share: f64,
    /// `events-out`: the share of deliveries the receiver answers 503.
    #[arg(long, default_value_t = 0.0)]
    pub receiver_fail_share: f64,
    /// `events-out`: the share of deliveries the receiver never answers (the engine gives up
    /// after 10 s and tries again).
    #[arg(long, default_value_t = 0.0)]
    pub receiver_hang_share: f64,

    /// Open loop at this many requests per second (with --find-max: the first step's rate).
    /// `renewals` always runs its ordinary charges in an open loop [default there: 100].
    #[arg(long)]
    pub rate: Option<f64>,
    /// Closed loop: this many connections sending back to back. With --rate or --find-max:
    /// the most connections the arrivals are spread over [default: 256].
    #[arg(long)]
    pub connections: Option<usize>,
    /// Seconds measured, after the warm-up. `renewals`: the baseline window, ordinary charges
    /// with no renewals, measured before the clock is advanced.
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// Seconds of load before measuring (excluded from the figures).
    #[arg(long, default_value_t = 5.0)]
    pub warmup: f64,
    /// Comparisons (`charge-priced`, `charge-coupon`, `charge-split`, `events-out`) with a fixed
    /// load: rounds of baseline, scenario, scenario, baseline, each an equal slice of the
    /// duration, so that both sides meet the store at every age. 1 measures four halves.
    #[arg(long, default_value_t = COMPARISON_ROUNDS_DEFAULT)]
    pub rounds: u32,
    /// Open loop: requests outstanding at most; arrivals beyond count as `client_overloaded`.
    #[arg(long, default_value_t = IN_FLIGHT_MAX_DEFAULT)]
    pub max_in_flight: usize,
    /// A request unanswered this long after its intended send time counts as a `timeout`.
    #[arg(long, default_value_t = REQUEST_TIMEOUT_MS_DEFAULT)]
    pub timeout_ms: u64,

    /// Find the highest open-loop rate whose p99 stays within --p99-bound-ms (with < 1 % errors).
    #[arg(long)]
    pub find_max: bool,
    /// The p99 bound of --find-max, in milliseconds.
    #[arg(long, default_value_t = 10.0)]
    pub p99_bound_ms: f64,
    /// Seconds measured per --find-max step (each after a 1 s warm-up).
    #[arg(long, default_value_t = 10.0)]
    pub step_duration: f64,

    /// Measure the plain warp route (the ceiling) first and give every figure as a ratio to it
    /// (the default).
    #[arg(long, overrides_with = "no_ceiling")]
    pub ceiling: bool,
    /// Skip the ceiling.
    #[arg(long)]
    pub no_ceiling: bool,

    /// Directory for result.json, report.html and engine.log [default: bench-results/<scenario>-<unix time>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

impl Cli {
    pub fn plan(&self) -> Result<Plan, BenchError> {
        let usage = |message: String| Err(BenchError::Usage(message));
        let customers = self.customers.unwrap_or(match self.scenario {
            Scenario::ChargeHot => HOT_CUSTOMERS,
            Scenario::Entitlements => ENTITLEMENTS_CUSTOMERS_DEFAULT,
            // `webhooks` creates none: its count sizes the ceiling's load only.
            Scenario::Charge
            | Scenario::ChargePriced
            | Scenario::ChargeCoupon
            | Scenario::ChargeSplit
            | Scenario::Mixed
            | Scenario::Replay
            | Scenario::Webhooks
            | Scenario::Renewals
            | Scenario::Customers
            | Scenario::EventsOut => CUSTOMERS_DEFAULT,
        });
        if !(1..=CUSTOMERS_MAX).contains(&customers) {
            return usage(format!("--customers must be 1..={CUSTOMERS_MAX}"));
        }
        if !(1..=REPLAY_KEYS_MAX).contains(&self.replay_keys) {
            return usage(format!("--replay-keys must be 1..={REPLAY_KEYS_MAX}"));
        }
        if !(1..=SUBSCRIPTIONS_MAX).contains(&self.subscriptions) {
            return usage(format!("--subscriptions must be 1..={SUBSCRIPTIONS_MAX}"));
        }
        if !(1..=COMPARISON_ROUNDS_MAX).contains(&self.rounds) {
            return usage(format!("--rounds must be 1..={COMPARISON_ROUNDS_MAX}"));
        }
        if self.timeout_ms == 0 || self.timeout_ms > RUN_SECS_MAX * 1_000 {
            return usage("--timeout-ms must be positive and at most an hour".into());
        }
        Ok(Plan {
            scenario: self.scenario,
            target: self.target()?,
            customers,
            replay_keys: self.replay_keys,
            subscriptions: self.subscriptions,
            event_mix: self.event_mix()?,
            receiver_mix: self.receiver_mix()?,
            load: self.load()?,
            rounds: self.rounds,
            request_timeout_ms: self.timeout_ms,
            ceiling: !self.no_ceiling && self.scenario.measures_ceiling(),
            out_dir: self.out.clone().unwrap_or_else(|| default_out_dir(self.scenario)),
        })
    }

    fn target(&self) -> Result<TargetPlan, BenchError> {
        match (&self.url, &self.key) {
            (Some(url), Some(key)) => {
                loopback_address(url)?;
                if self.scenario == Scenario::Webhooks && self.webhook_secret.is_none() {
                    return Err(BenchError::Usage(
                        "webhooks against --url needs the engine's --webhook-secret".into(),
                    ));
                }
                Ok(TargetPlan::Url {
                    url: url.clone(),
                    api_key: key.clone(),
                    webhook_secret: self.webhook_secret.clone(),
                })
            }
            (Some(_), None) => Err(BenchError::Usage("--url needs --key".into())),
            (None, _) => Ok(TargetPlan::Spawn { binary: engine_binary(self.kassa_bin.as_deref()) }),
        }
    }

    /// Each share in [0, 1], and at least one new event per older half (a pair's newer half is a
    /// new event): duplicate + 2 × out-of-order ≤ 1.
    fn event_mix(&self) -> Result<EventMix, BenchError> {
        let (duplicate, out_of_order) = (self.duplicate_share, self.out_of_order_share);
        let share_ok = |share: f64| (0.0..=1.0).contains(&share);
        if !share_ok(duplicate) || !share_ok(out_of_order) || duplicate + 2.0 * out_of_order > 1.0 {
            return Err(BenchError::Usage(
                "--duplicate-share and --out-of-order-share must be in [0, 1], with \
                 duplicate + 2 × out-of-order at most 1 (each older event follows a new one)"
                    .into(),
            ));
        }
        Ok(EventMix { duplicate_share: duplicate, out_of_order_share: out_of_order })
    }

    fn receiver_mix(&self) -> Result<ReceiverMix, BenchError> {
        let (fail, hang) = (self.receiver_fail_share, self.receiver_hang_share);
        let share_ok = |share: f64| (0.0..=1.0).contains(&share);
        if !share_ok(fail) || !share_ok(hang) || fail + hang >= 1.0 {
            return Err(BenchError::Usage(
                "--receiver-fail-share and --receiver-hang-share must be in [0, 1], with some \
                 deliveries left to answer 2xx"
                    .into(),
            ));
        }
        Ok(ReceiverMix { fail_share: fail, hang_share: hang })
    }

    fn load(&self) -> Result<LoadPlan, BenchError> {
        let seconds_ok =
            |value: f64| value.is_finite() && value >= 0.0 && value <= RUN_SECS_MAX as f64;
        if !seconds_ok(self.duration) || self.duration == 0.0 || !seconds_ok(self.warmup) {
            return Err(BenchError::Usage(format!(
                "--duration must be in (0, {RUN_SECS_MAX}] and --warmup in [0, {RUN_SECS_MAX}]"
            )));
        }
        if let Some(rate) = self.rate
            && !(rate > 0.0 && rate <= RATE_PER_SEC_MAX)
        {
            return Err(BenchError::Usage(format!("--rate must be in (0, {RATE_PER_SEC_MAX}]")));
        }
        if let Some(connections) = self.connections
            && !(1..=CONNECTIONS_MAX).contains(&connections)
        {
            return Err(BenchError::Usage(format!("--connections must be 1..={CONNECTIONS_MAX}")));
        }
        if self.max_in_flight == 0 {
            return Err(BenchError::Usage("--max-in-flight must be positive".into()));
        }
        let open_connections = self.connections.unwrap_or(OPEN_LOOP_CONNECTIONS_DEFAULT);
        if self.scenario == Scenario::Renewals {
            return self.renewals_load(open_connections);
        }
        if self.find_max {
            if !seconds_ok(self.step_duration) || self.step_duration == 0.0 {
                return Err(BenchError::Usage(format!(
                    "--step-duration must be in (0, {RUN_SECS_MAX}]"
                )));
            }
            if !(self.p99_bound_ms.is_finite() && self.p99_bound_ms > 0.0) {
                return Err(BenchError::Usage("--p99-bound-ms must be positive".into()));
            }
            return Ok(LoadPlan::FindMax {
                rate_per_sec_start: self.rate.unwrap_or(FIND_MAX_START_RATE_PER_SEC),
                connections: open_connections,
                in_flight_max: self.max_in_flight,
                step_duration_secs: self.step_duration,
                latency_ms_p99_bound: self.p99_bound_ms,
            });
        }
        let mode = match self.rate {
            Some(rate_per_sec) => LoadMode::Open {
                rate_per_sec,
                connections: open_connections,
                in_flight_max: self.max_in_flight,
            },
            None => LoadMode::Closed {
                connections: self.connections.unwrap_or(CLOSED_LOOP_CONNECTIONS_DEFAULT),
            },
        };
        Ok(LoadPlan::Fixed { mode, warmup_secs: self.warmup, duration_secs: self.duration })
    }

    /// `renewals`' ordinary charges: always an open loop at a fixed rate, so their latency is
    /// taken from intended send times while the burst runs, and the same arrivals go out before
    /// and during it.
    fn renewals_load(&self, open_connections: usize) -> Result<LoadPlan, BenchError> {
        if self.find_max {
            return Err(BenchError::Usage(
                "renewals sends its ordinary charges at one fixed --rate; --find-max does not apply"
                    .into(),
            ));
        }
        let mode = LoadMode::Open {
            rate_per_sec: self.rate.unwrap_or(RENEWALS_CHARGE_RATE_PER_SEC_DEFAULT),
            connections: open_connections,
            in_flight_max: self.max_in_flight,
        };
        Ok(LoadPlan::Fixed { mode, warmup_secs: self.warmup, duration_secs: self.duration })
    }
}

fn default_out_dir(scenario: Scenario) -> PathBuf {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
    PathBuf::from("bench-results").join(format!("{}-{now}", scenario.name()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::LoadRun;

    fn plan(arguments: &[&str]) -> Result<Plan, BenchError> {
        let mut argv = vec!["kassa-bench"];
        argv.extend_from_slice(arguments);
        Cli::try_parse_from(argv).expect("arguments parse").plan()
    }

    #[test]
    fn defaults_are_a_closed_loop_against_a_spawned_engine_with_the_ceiling() {
        let plan = plan(&["charge"]).unwrap();
        assert!(matches!(plan.target, TargetPlan::Spawn { .. }));
        assert!(plan.ceiling);
        assert_eq!(plan.customers, 1_000);
        let LoadRun::Fixed(config) = plan.load_run() else { panic!("a fixed load") };
        assert_eq!(config.mode, LoadMode::Closed { connections: 64 });
        assert_eq!(config.duration.as_secs(), 30);
        assert_eq!(config.warmup.as_secs(), 5);
    }

    #[test]
    fn comparisons_run_in_four_rounds_unless_told_and_never_none() {
        assert_eq!(plan(&["charge-split"]).unwrap().rounds, 4);
        assert_eq!(plan(&["events-out", "--rounds", "1"]).unwrap().rounds, 1);
        for refused in ["0", "21"] {
            let error = plan(&["charge-split", "--rounds", refused]).expect_err("refused");
            assert!(error.to_string().contains("--rounds must be 1..=20"), "{error}");
        }
    }

    #[test]
    fn a_rate_means_an_open_loop_and_find_max_its_steps() {
        let open = plan(&["charge-hot", "--rate", "500", "--no-ceiling"]).unwrap();
        assert_eq!(open.customers, 10);
        assert!(!open.ceiling);
        let LoadRun::Fixed(config) = open.load_run() else { panic!("a fixed load") };
        assert!(matches!(config.mode, LoadMode::Open { rate_per_sec: 500.0, .. }));

        let find_max = plan(&["charge", "--find-max", "--step-duration", "5"]).unwrap();
        let LoadRun::FindMax(config) = find_max.load_run() else { panic!("a find-max load") };
        assert_eq!(config.rate_per_sec_start, 1_000.0);
        assert_eq!(config.latency_us_p99_bound, 10_000);
        assert_eq!(config.step_duration.as_secs(), 5);
    }

    #[test]
    fn charge_priced_runs_every_load_mode_with_the_charge_defaults() {
        let closed = plan(&["charge-priced", "--connections", "32", "--duration", "20"]).unwrap();
        assert_eq!(closed.scenario, Scenario::ChargePriced);
        assert!(closed.scenario.has_plain_baseline());
        assert_eq!(closed.customers, 1_000);
        assert!(closed.ceiling);
        let LoadRun::Fixed(config) = closed.load_run() else { panic!("a fixed load") };
        assert_eq!(config.mode, LoadMode::Closed { connections: 32 });
        assert_eq!(config.duration.as_secs(), 20);
        assert!(closed.out_dir.to_string_lossy().contains("charge-priced-"));

        let open = plan(&["charge-priced", "--rate", "800", "--no-ceiling"]).unwrap();
        assert!(!open.ceiling);
        let LoadRun::Fixed(config) = open.load_run() else { panic!("a fixed load") };
        assert!(matches!(config.mode, LoadMode::Open { rate_per_sec: 800.0, .. }));

        let find_max = plan(&["charge-priced", "--find-max", "--customers", "50"]).unwrap();
        assert_eq!(find_max.customers, 50);
        assert!(matches!(find_max.load_run(), LoadRun::FindMax(_)));

        assert!(!plan(&["charge"]).unwrap().scenario.has_plain_baseline());
    }

    #[test]
    fn webhooks_take_their_shares_and_every_load_mode() {
        let defaults = plan(&["webhooks", "--rate", "20000"]).unwrap();
        assert_eq!(defaults.scenario, Scenario::Webhooks);
        assert_eq!(defaults.event_mix, EventMix { duplicate_share: 0.1, out_of_order_share: 0.1 });
        assert!(matches!(defaults.target, TargetPlan::Spawn { .. }));
        let LoadRun::Fixed(config) = defaults.load_run() else { panic!("a fixed load") };
        assert!(matches!(config.mode, LoadMode::Open { rate_per_sec: 20_000.0, .. }));
        let closed =
            plan(&["webhooks", "--connections", "32", "--duplicate-share", "0.3"]).unwrap();
        assert_eq!(closed.event_mix.duplicate_share, 0.3);
        assert!(matches!(
            plan(&["webhooks", "--find-max"]).unwrap().load_run(),
            LoadRun::FindMax(_)
        ));

        assert!(plan(&["webhooks", "--duplicate-share", "1.5"]).is_err());
        assert!(plan(&["webhooks", "--out-of-order-share=-0.1"]).is_err());
        assert!(
            plan(&["webhooks", "--duplicate-share", "0.5", "--out-of-order-share", "0.3"]).is_err()
        );
        assert!(
            plan(&["webhooks", "--duplicate-share", "0.4", "--out-of-order-share", "0.3"]).is_ok()
        );

        let url = ["webhooks", "--url", "http://127.0.0.1:8080", "--key", "sk_x"];
        assert!(plan(&url).is_err(), "a running engine's secret is needed");
        let mut with_secret = url.to_vec();
        with_secret.extend(["--webhook-secret", "whsec_x"]);
        assert!(plan(&with_secret).is_ok());
    }

    #[test]
    fn renewals_default_to_100_000_subscriptions_and_charges_at_100_per_second() {
        let defaults = plan(&["renewals"]).unwrap();
        assert_eq!(defaults.scenario, Scenario::Renewals);
        assert_eq!(defaults.subscriptions, 100_000);
        assert_eq!(defaults.customers, 1_000);
        assert!(!defaults.ceiling, "renewals compares the engine with itself");
        assert!(matches!(defaults.target, TargetPlan::Spawn { .. }));
        let LoadRun::Fixed(config) = defaults.load_run() else { panic!("a fixed load") };
        assert!(matches!(config.mode, LoadMode::Open { rate_per_sec: 100.0, .. }));
        assert_eq!(config.duration.as_secs(), 30, "the baseline window");
        assert!(defaults.out_dir.to_string_lossy().contains("renewals-"));

        let given = plan(&[
            "renewals",
            "--subscriptions",
            "2000",
            "--rate",
            "50",
            "--url",
            "http://127.0.0.1:8080",
            "--key",
            "sk_x",
        ])
        .unwrap();
        assert_eq!(given.subscriptions, 2_000);
        assert!(matches!(given.target, TargetPlan::Url { .. }));
        let LoadRun::Fixed(config) = given.load_run() else { panic!("a fixed load") };
        assert!(matches!(config.mode, LoadMode::Open { rate_per_sec: 50.0, .. }));

        assert!(plan(&["renewals", "--subscriptions", "0"]).is_err());
        assert!(plan(&["renewals", "--subscriptions", "2000000"]).is_err());
        assert!(plan(&["renewals", "--find-max"]).is_err());
        assert!(plan(&["renewals", "--url", "http://127.0.0.1:8080"]).is_err(), "needs --key");
    }

    #[test]
    fn entitlements_read_10_000_subscribed_customers_in_the_usual_closed_loop() {
        let defaults = plan(&["entitlements"]).unwrap();
        assert_eq!(defaults.scenario, Scenario::Entitlements);
        assert_eq!(defaults.customers, 10_000);
        assert!(defaults.ceiling, "the target is a share of the ceiling");
        assert!(matches!(defaults.target, TargetPlan::Spawn { .. }));
        let LoadRun::Fixed(config) = defaults.load_run() else { panic!("a fixed load") };
        assert_eq!(config.mode, LoadMode::Closed { connections: 64 });
        assert_eq!(config.duration.as_secs(), 30);
        assert_eq!(config.warmup.as_secs(), 5);
        assert!(defaults.out_dir.to_string_lossy().contains("entitlements-"));

        let small = plan(&["entitlements", "--customers", "200", "--connections", "8"]).unwrap();
        assert_eq!(small.customers, 200);
        assert!(matches!(
            plan(&["entitlements", "--find-max"]).unwrap().load_run(),
            LoadRun::FindMax(_)
        ));
        assert!(plan(&["entitlements", "--customers", "0"]).is_err());
    }

    #[test]
    fn only_loopback_urls_with_a_key_are_accepted() {
        assert!(plan(&["mixed", "--url", "http://127.0.0.1:8080", "--key", "sk_x"]).is_ok());
        assert!(plan(&["mixed", "--url", "http://192.168.1.2:8080", "--key", "sk_x"]).is_err());
        assert!(plan(&["mixed", "--url", "http://127.0.0.1:8080"]).is_err());
    }

    #[test]
    fn unbounded_numbers_are_refused() {
        assert!(plan(&["charge", "--duration", "0"]).is_err());
        assert!(plan(&["charge", "--duration", "100000"]).is_err());
        assert!(plan(&["charge", "--connections", "100000"]).is_err());
        assert!(plan(&["charge", "--rate=-1"]).is_err());
    }
}
