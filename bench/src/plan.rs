//! A validated run: what the command line asked for, in the types the run uses. It is written
//! into `result.json` as the run's configuration (the API key excepted).

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::load::find_max::FindMaxConfig;
use crate::load::{LoadConfig, LoadMode};
use crate::workload::EventMix;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Charges for many customers (--customers, default 1 000), a unique Idempotency-Key each.
    Charge,
    /// Charges for 10 customers: contention on their actors.
    ChargeHot,
    /// 60 % charges, 10 % refunds, 20 % GET /v1/charges/{id}, 10 % GET /v1/customers/{id}/charges.
    Mixed,
    /// Idempotent retries: --replay-keys charges first, then the same requests with the same keys,
    /// each expected to answer 200 with `Idempotent-Replayed: true`.
    Replay,
    /// Charges priced from a 3-line cart and a coupon by the account's pricing and tax rules,
    /// measured right after plain-amount charges to the same customers, same load.
    ChargePriced,
    /// The same priced charges with the coupon (resolved, reserved and counted by the engine,
    /// applied by the pricing rule) and without it, interleaved: what a coupon costs a charge.
    ChargeCoupon,
    /// Charges split with a payee (70 % of each and an application fee), against the same
    /// plain charges: what a transfer and its postings cost a charge.
    ChargeSplit,
    /// Signed Stripe events to `POST /v1/webhooks/stripe` (no API key), with re-sends
    /// (--duplicate-share) and older events sent after newer ones (--out-of-order-share); every
    /// answer's `duplicate` is checked, and afterwards that the engine applied the events.
    Webhooks,
    /// Subscription renewals: --subscriptions (100 000) on one test clock, advanced past their
    /// period end at once; renewals/s, and the latency of ordinary charges (--rate, 100/s) during
    /// the burst against before it. Afterwards every invoice and sandbox ledger entry is checked.
    Renewals,
    /// `GET /v1/customers/{id}/entitlements` in turn over --customers (10 000), each with an
    /// active subscription to one plan with features; one answer in 64 is checked in full.
    Entitlements,
    /// `GET /v1/customers/{id}` in turn over --customers (1 000), each made with an email, name,
    /// phone, address and metadata: what sealing personal data at rest costs a read. Compare a
    /// run against an engine started with `KASSA_SEAL_PERSONAL_DATA=false`.
    Customers,
    /// Charges with a receiver in this tool subscribed to every outgoing event, its endpoint
    /// disabled and enabled in turn (the ratio is the cost of delivering); the receiver answers
    /// 2xx, 5xx (--receiver-fail-share) or not at all (--receiver-hang-share). Reports events
    /// delivered per second and the lag from a charge's 2xx to its event (p50/p99), and checks
    /// that every event arrived exactly once and each object's in order.
    EventsOut,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Charge => "charge",
            Scenario::Customers => "customers",
            Scenario::ChargeHot => "charge-hot",
            Scenario::Mixed => "mixed",
            Scenario::Replay => "replay",
            Scenario::ChargePriced => "charge-priced",
            Scenario::ChargeCoupon => "charge-coupon",
            Scenario::ChargeSplit => "charge-split",
            Scenario::Webhooks => "webhooks",
            Scenario::Renewals => "renewals",
            Scenario::Entitlements => "entitlements",
            Scenario::EventsOut => "events-out",
        }
    }

    /// Whether the run measures the plain warp route beside the engine. `renewals` compares the
    /// engine with itself (charges during the burst against charges before it), so it never does.
    pub fn measures_ceiling(self) -> bool {
        !matches!(self, Scenario::Renewals)
    }

    /// Whether the run also measures charges without what the scenario adds, on the same
    /// engine, as the baseline of a ratio: the cost of what the scenario adds to a charge.
    pub fn has_plain_baseline(self) -> bool {
        self.comparison().is_some()
    }

    /// How the run names its two sides on the engine, and the target their ratio answers to.
    pub fn comparison(self) -> Option<Comparison> {
        match self {
            Scenario::ChargePriced => Some(Comparison {
                engine: "priced",
                baseline: "plain amount",
                ratio: "priced ÷ plain",
                to_ceiling: "priced ÷ ceiling",
                engine_plot: "engine, priced charges",
                baseline_plot: "engine, plain-amount charges",
                headline: "Charges priced from line items, against plain-amount charges",
                target: Some(Target { floor: 0.8, source: "issue 3's target" }),
            }),
            Scenario::ChargeCoupon => Some(Comparison {
                engine: "coupon",
                baseline: "no coupon",
                ratio: "coupon ÷ none",
                to_ceiling: "coupon ÷ ceiling",
                engine_plot: "engine, priced charges with a coupon",
                baseline_plot: "engine, priced charges without one",
                headline: "Priced charges with a coupon, against the same charges without one",
                target: Some(Target { floor: 0.95, source: "issue 23's target" }),
            }),
            Scenario::ChargeSplit => Some(Comparison {
                engine: "split",
                baseline: "plain amount",
                ratio: "split ÷ plain",
                to_ceiling: "split ÷ ceiling",
                engine_plot: "engine, charges split with a payee",
                baseline_plot: "engine, plain-amount charges",
                headline: "Charges split with a payee, against plain-amount charges",
                target: Some(Target { floor: 0.9, source: "issue 24's target" }),
            }),
            Scenario::EventsOut => Some(Comparison {
                engine: "delivering",
                baseline: "endpoint off",
                ratio: "delivering ÷ off",
                to_ceiling: "delivering ÷ ceiling",
                engine_plot: "engine, charges with their events delivered",
                baseline_plot: "engine, charges with the endpoint disabled",
                headline: "Charges with their events delivered, against the endpoint disabled",
                target: None,
            }),
            _ => None,
        }
    }
}

/// The two sides of a run that measures the engine against itself.
#[derive(Debug, Clone, Copy)]
pub struct Comparison {
    /// The sides and their ratio as the table's columns name them.
    pub engine: &'static str,
    pub baseline: &'static str,
    pub ratio: &'static str,
    /// The engine's side over the ceiling.
    pub to_ceiling: &'static str,
    /// The sides as the plots name them.
    pub engine_plot: &'static str,
    pub baseline_plot: &'static str,
    /// The report's headline sentence begins with it.
    pub headline: &'static str,
    pub target: Option<Target>,
}

/// The least a throughput (or maximum-rate) ratio must reach, and the issue that set it.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub floor: f64,
    pub source: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetPlan {
    /// Start the engine binary on a temp data dir.
    Spawn { binary: PathBuf },
    /// Drive an engine already running at `url`.
    Url {
        url: String,
        #[serde(skip)]
        api_key: String,
        /// The engine's Stripe webhook secret, for `webhooks`.
        #[serde(skip)]
        webhook_secret: Option<String>,
    },
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LoadPlan {
    Fixed {
        #[serde(flatten)]
        mode: LoadMode,
        warmup_secs: f64,
        duration_secs: f64,
    },
    FindMax {
        rate_per_sec_start: f64,
        connections: usize,
        in_flight_max: usize,
        step_duration_secs: f64,
        latency_ms_p99_bound: f64,
    },
}

/// The load of a run, ready to apply.
#[derive(Debug, Clone, Copy)]
pub enum LoadRun {
    Fixed(LoadConfig),
    FindMax(FindMaxConfig),
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub scenario: Scenario,
    pub target: TargetPlan,
    /// For `entitlements`: the customers with a subscription, whose entitlements are read.
    pub customers: usize,
    pub replay_keys: usize,
    /// `renewals` only: subscriptions on the test clock.
    pub subscriptions: usize,
    /// `webhooks` only: what share of deliveries are re-sends and older events sent late.
    pub event_mix: EventMix,
    /// `events-out` only: how the receiver answers.
    pub receiver_mix: crate::events_out::ReceiverMix,
    pub load: LoadPlan,
    /// Comparisons with a fixed load: rounds of baseline, scenario, scenario, baseline.
    pub rounds: u32,
    pub request_timeout_ms: u64,
    pub ceiling: bool,
    pub out_dir: PathBuf,
}

impl Plan {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// The load to apply, with its durations.
    pub fn load_run(&self) -> LoadRun {
        match self.load {
            LoadPlan::Fixed { mode, warmup_secs, duration_secs } => LoadRun::Fixed(LoadConfig {
                mode,
                warmup: Duration::from_secs_f64(warmup_secs),
                duration: Duration::from_secs_f64(duration_secs),
                request_timeout: self.request_timeout(),
            }),
            LoadPlan::FindMax {
                rate_per_sec_start,
                connections,
                in_flight_max,
                step_duration_secs,
                latency_ms_p99_bound,
            } => LoadRun::FindMax(FindMaxConfig {
                rate_per_sec_start,
                connections,
                in_flight_max,
                step_duration: Duration::from_secs_f64(step_duration_secs),
                latency_us_p99_bound: (latency_ms_p99_bound * 1_000.0).round() as u64,
                request_timeout: self.request_timeout(),
            }),
        }
    }
}
