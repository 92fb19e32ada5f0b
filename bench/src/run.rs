//! One invocation, start to end: reach the engine (spawned or given), set the scenario up, measure
//! the ceiling and then the engine back to back with the same client and load, and write the
//! results. The ceiling goes right before the engine so both see the same machine state.
//!
//! `charge-priced` measures the engine on two sides: plain-amount charges and charges priced from
//! line items, to the same customers with the same client and load, interleaved (plain, priced,
//! priced, plain), so the cost of the rules is a ratio taken within one minute on one machine
//! (issue 3 states its target that way). `charge-coupon` does the same with the priced charges
//! with a coupon and without one (issue 23's target).
//!
//! `webhooks` sends its load without the API key (Stripe has none), and once it ends reads
//! `GET /v1/events` with the key to see whether the engine applied what it acknowledged.
//!
//! `entitlements` makes a plan with features and subscribes every customer to it, then reads the
//! customers' entitlements under the ceiling-then-engine load of the other scenarios; a sample of
//! the answers is checked in full while the load runs.
//!
//! `renewals` runs its own course (`renewals::run`): no ceiling; setup on a test clock, ordinary
//! charges before and during the renewal burst, then the verification.

use std::sync::Arc;
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::applied;
use crate::ceiling::{self, CeilingServer};
use crate::engine_cpu::EngineCpu;
use crate::engine_footprint::EngineFootprint;
use crate::engine_process::{EngineProcess, SPAWN_API_KEY, SPAWN_WEBHOOK_SECRET};
use crate::entitlements;
use crate::error::BenchError;
use crate::events_out::{self, EventsOutSummary};
use crate::load::{self, LoadConfig, find_max};
use crate::plan::{LoadRun, Plan, Scenario, TargetPlan};
use crate::renewals;
use crate::report::entitlements::EntitlementsData;
use crate::report::{
    self, BenchResult, EntitlementsSummary, Machine, Ratios, RenewalsSummary, SetupSummary,
    SideResult, WebhookSummary,
};
use crate::setup::{self, Caller};
use crate::stats::{RunStats, series};
use crate::target::{Endpoint, RequestSpec};
use crate::workload::{
    CUSTOMER_COUNTRY, ChargeWorkload, CustomerReadWorkload, EntitlementsWorkload, KnownCharges,
    MixedWorkload, PERSONAL_CUSTOMER_BODY, PricedChargeWorkload, ReplayWorkload, WebhookWorkload,
    Workload, created_id, taxable_customer_body,
};

/// The shortest load `events-out` builds its drain's backlog with.
const MIN_BACKLOG: Duration = Duration::from_secs(3);
/// Customers the `events-out` probe charges, apart from the load's.
const PROBE_CUSTOMERS: usize = 10;
/// The engine's charge route, for `charge`, `charge-hot` and both sides of `charge-priced`.
const CHARGES_PATH: &str = "/v1/charges";
/// The body of a customer in scenarios that do not price: no address, nothing to tax.
const PLAIN_CUSTOMER_BODY: &str = "{}";
/// The payee `charge-split` splits every charge with: paid by bank account, in any currency.
const PAYEE_BODY: &str = r#"{"name":"Bench Tutor","country":"ZA","default_currency":"usd","destination":{"type":"bank_account","account_holder":"B Tutor","bank_code":"250655","account_number":"62844719301"}}"#;

/// The engine a run drives.
struct Target {
    /// The API, with the key.
    endpoint: Endpoint,
    /// Set when this run started the engine.
    process: Option<EngineProcess>,
    api_key: String,
    webhook_secret: Option<String>,
}

/// What the setup leaves ready to measure.
struct Prepared {
    /// Where the load goes: the API with its key, or for `webhooks` the engine without one.
    endpoint: Endpoint,
    workload: Workload,
    /// `charge-priced`, `charge-coupon` and `events-out`: the charges without what the scenario
    /// adds, to the same customers, the ratio's baseline.
    plain_amount: Option<Workload>,
    setup: SetupSummary,
}

/// Everything measured on the engine and beside it, before it becomes a `BenchResult`.
struct Measured {
    setup: SetupSummary,
    ceiling: Option<SideResult>,
    plain_amount: Option<SideResult>,
    engine: SideResult,
    webhooks: Option<WebhookSummary>,
    renewals: Option<RenewalsSummary>,
    entitlements: Option<EntitlementsSummary>,
    events_out: Option<EventsOutSummary>,
}

pub async fn run(plan: Plan, command: String) -> Result<BenchResult, BenchError> {
    std::fs::create_dir_all(&plan.out_dir)
        .map_err(|error| BenchError::Output { path: plan.out_dir.clone(), error })?;
    let started_unix_secs =
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
    let target = open_target(&plan)?;
    eprintln!("engine: {}", target.endpoint.url);
    setup::wait_until_ready(&target.endpoint).await?;
    let mut measured = match plan.scenario {
        Scenario::Renewals => measure_renewals(&plan, &target.endpoint).await?,
        _ => measure_load(&plan, &target).await?,
    };
    measured.engine.engine_log_problems = target.process.as_ref().map(EngineProcess::log_problems);
    drop(target);

    let Measured {
        setup,
        ceiling,
        plain_amount,
        engine,
        webhooks,
        renewals,
        entitlements,
        events_out,
    } = measured;
    let ratio = ceiling.as_ref().map(|ceiling| Ratios::between(&engine, ceiling));
    let ratio_to_plain_amount =
        plain_amount.as_ref().map(|plain_amount| Ratios::between(&engine, plain_amount));
    let result = BenchResult {
        tool: env!("CARGO_PKG_NAME"),
        version: env!("CARGO_PKG_VERSION"),
        command,
        started_unix_secs,
        machine: Machine::this(),
        config: plan.clone(),
        setup: Some(setup),
        ceiling,
        plain_amount,
        engine,
        ratio,
        ratio_to_plain_amount,
        webhooks,
        renewals,
        entitlements,
        events_out,
    };
    report::write(&plan.out_dir, &result)?;
    Ok(result)
}

/// The scenarios that put a load on the engine: set up, measure the ceiling, then the engine.
async fn measure_load(plan: &Plan, target: &Target) -> Result<Measured, BenchError> {
    let prepared = prepare(plan, target).await?;
    let ceiling = match plan.ceiling {
        true => Some(measure_ceiling(plan, &target.api_key).await?),
        false => None,
    };
    let workload = Arc::new(prepared.workload);
    let mut events_out = None;
    let (plain_amount, engine) = match prepared.plain_amount {
        Some(plain) if plan.scenario == Scenario::EventsOut => {
            let (without, with, summary) =
                measure_events_out(plan, &prepared.endpoint, &Arc::new(plain), &workload).await?;
            events_out = Some(summary);
            (Some(without), with)
        }
        Some(plain) => {
            let plain = Arc::new(plain);
            let (plain, priced) =
                measure_both_sides(plan, &prepared.endpoint, &plain, &workload).await;
            (Some(plain), priced)
        }
        None => (None, measure(plan, "engine", &prepared.endpoint, &workload).await),
    };
    let webhooks = match plan.scenario {
        Scenario::Webhooks => Some(summarize_webhooks(plan, &target.endpoint, &engine).await),
        _ => None,
    };
    let entitlements = match &*workload {
        Workload::Entitlements(workload) => {
            Some(summarize_entitlements(plan, workload, &engine, ceiling.as_ref()))
        }
        _ => None,
    };
    Ok(Measured {
        setup: prepared.setup,
        ceiling,
        plain_amount,
        engine,
        webhooks,
        renewals: None,
        entitlements,
        events_out,
    })
}

/// `renewals`: the renewal burst with ordinary charges beside it, then the verification.
async fn measure_renewals(plan: &Plan, endpoint: &Endpoint) -> Result<Measured, BenchError> {
    let run = renewals::run(plan, endpoint).await?;
    Ok(Measured {
        setup: run.setup,
        ceiling: None,
        plain_amount: None,
        engine: run.burst,
        webhooks: None,
        renewals: Some(run.summary),
        entitlements: None,
        events_out: None,
    })
}

/// The engine: started on a temp data dir, or the one at `--url`.
fn open_target(plan: &Plan) -> Result<Target, BenchError> {
    match &plan.target {
        TargetPlan::Spawn { binary } => {
            let process = EngineProcess::start(binary, &plan.out_dir.join("engine.log"))?;
            let endpoint = Endpoint::new(&process.url, Some(SPAWN_API_KEY))?
                .with_engine_cpu(EngineCpu::of(process.pid()))
                .with_engine_footprint(EngineFootprint::of(process.pid(), process.data_dir()));
            Ok(Target {
                endpoint,
                process: Some(process),
                api_key: SPAWN_API_KEY.to_owned(),
                webhook_secret: Some(SPAWN_WEBHOOK_SECRET.to_owned()),
            })
        }
        TargetPlan::Url { url, api_key, webhook_secret } => Ok(Target {
            endpoint: Endpoint::new(url, Some(api_key))?,
            process: None,
            api_key: api_key.clone(),
            webhook_secret: webhook_secret.clone(),
        }),
    }
}

/// Creates what the scenario needs on the engine, unmeasured.
async fn prepare(plan: &Plan, target: &Target) -> Result<Prepared, BenchError> {
    match plan.scenario {
        Scenario::Webhooks => prepare_webhooks(plan, target),
        Scenario::Entitlements => prepare_entitlements(plan, &target.endpoint).await,
        _ => prepare_api(plan, &target.endpoint).await,
    }
}

/// Nothing to make first: the events are about PaymentIntents the engine does not know.
fn prepare_webhooks(plan: &Plan, target: &Target) -> Result<Prepared, BenchError> {
    let secret = target.webhook_secret.as_deref().expect("the CLI asks --url for the secret");
    eprintln!("setup: none (events about PaymentIntents the engine does not know)");
    // Stripe's deliveries carry no API key.
    let mut endpoint = Endpoint::new(&target.endpoint.url, None)?;
    endpoint.engine_cpu = target.endpoint.engine_cpu;
    Ok(Prepared {
        endpoint,
        workload: Workload::Webhooks(WebhookWorkload::new(secret.as_bytes(), plan.event_mix)),
        plain_amount: None,
        setup: SetupSummary { customers: 0, charges: 0, secs: 0.0 },
    })
}

async fn prepare_api(plan: &Plan, endpoint: &Endpoint) -> Result<Prepared, BenchError> {
    let started = Instant::now();
    let caller = Caller::new(endpoint, plan.request_timeout());
    let customer_body = match plan.scenario {
        Scenario::ChargePriced | Scenario::ChargeCoupon => {
            eprintln!("setup: {} customers in {CUSTOMER_COUNTRY} with a card each", plan.customers);
            taxable_customer_body()
        }
        Scenario::Customers => {
            eprintln!("setup: {} customers with personal data and a card each", plan.customers);
            PERSONAL_CUSTOMER_BODY.to_owned()
        }
        _ => {
            eprintln!("setup: {} customers with a card each", plan.customers);
            PLAIN_CUSTOMER_BODY.to_owned()
        }
    };
    let customers = caller.create_customers(plan.customers, &customer_body).await?;
    let mut plain_amount = None;
    let (workload, charges) = match plan.scenario {
        Scenario::Charge | Scenario::ChargeHot => {
            (Workload::Charges(ChargeWorkload::new(CHARGES_PATH, customers)), 0)
        }
        Scenario::EventsOut => {
            let without = ChargeWorkload::new(CHARGES_PATH, customers.clone());
            plain_amount = Some(Workload::Charges(without));
            (Workload::Charges(ChargeWorkload::new(CHARGES_PATH, customers)), 0)
        }
        Scenario::ChargePriced | Scenario::ChargeCoupon => {
            eprintln!("setup: the coupon {}", crate::workload::priced::COUPON);
            let coupon = crate::workload::priced::coupon_body();
            caller.call(RequestSpec::post("/v1/coupons", coupon, caller.next_key())).await?;
            let baseline = match plan.scenario {
                Scenario::ChargeCoupon => Workload::PricedCharges(
                    PricedChargeWorkload::without_coupon(CHARGES_PATH, customers.clone()),
                ),
                _ => Workload::Charges(ChargeWorkload::new(CHARGES_PATH, customers.clone())),
            };
            plain_amount = Some(baseline);
            (Workload::PricedCharges(PricedChargeWorkload::new(CHARGES_PATH, customers)), 0)
        }
        Scenario::ChargeSplit => {
            eprintln!("setup: a payee to split charges with");
            let payee =
                caller.call(RequestSpec::post("/v1/payees", PAYEE_BODY.into(), caller.next_key()));
            let payee = created_id(&payee.await?.body)
                .ok_or_else(|| BenchError::Setup("a created payee had no id".into()))?;
            plain_amount =
                Some(Workload::Charges(ChargeWorkload::new(CHARGES_PATH, customers.clone())));
            (Workload::Charges(ChargeWorkload::split(CHARGES_PATH, customers, payee)), 0)
        }
        Scenario::Mixed => {
            eprintln!("setup: one charge per customer, to read and refund");
            let made = caller.make_charges(&customers, customers.len()).await?;
            let known = KnownCharges::default();
            made.iter().for_each(|charge| known.add(charge.id.clone()));
            (Workload::Mixed(MixedWorkload::new(customers, known)), made.len())
        }
        Scenario::Customers => (Workload::Customers(CustomerReadWorkload::new(customers)), 0),
        Scenario::Webhooks => unreachable!("prepare_webhooks makes the webhooks' load"),
        Scenario::Renewals => unreachable!("renewals::run sets its scenario up"),
        Scenario::Entitlements => unreachable!("prepare_entitlements makes the subscriptions"),
        Scenario::Replay => {
            eprintln!("setup: {} charges with keys, to replay", plan.replay_keys);
            let made = caller.make_charges(&customers, plan.replay_keys).await?;
            let count = made.len();
            let requests = made.into_iter().map(|charge| charge.request).collect();
            (Workload::Replay(ReplayWorkload::new(requests)), count)
        }
    };
    let secs = started.elapsed().as_secs_f64();
    eprintln!("setup: done in {secs:.1} s");
    let setup = SetupSummary { customers: plan.customers, charges, secs };
    Ok(Prepared { endpoint: endpoint.clone(), workload, plain_amount, setup })
}

/// A plan with features, and `--customers` customers each with an active subscription to it.
async fn prepare_entitlements(plan: &Plan, endpoint: &Endpoint) -> Result<Prepared, BenchError> {
    let started = Instant::now();
    let caller = Caller::new(endpoint, plan.request_timeout());
    let fleet = entitlements::set_up(&caller, plan.customers).await?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "setup: {} subscriptions in {secs:.1} s ({:.0}/s)",
        fleet.subscribers.len(),
        fleet.subscribers.len() as f64 / secs.max(f64::MIN_POSITIVE)
    );
    // Each subscription charged its first invoice.
    let setup = SetupSummary { customers: plan.customers, charges: plan.customers, secs };
    Ok(Prepared {
        endpoint: endpoint.clone(),
        workload: Workload::Entitlements(EntitlementsWorkload::new(fleet)),
        plain_amount: None,
        setup,
    })
}

/// The entitlements' summary, once the engine's side is measured: the checked answers, and the
/// target as a share of the ceiling.
fn summarize_entitlements(
    plan: &Plan,
    workload: &EntitlementsWorkload,
    engine: &SideResult,
    ceiling: Option<&SideResult>,
) -> EntitlementsSummary {
    let data = EntitlementsData {
        plan: workload.plan_id().to_owned(),
        features: workload.features().to_vec(),
        subscribers: workload.subscriber_count(),
    };
    let to_ceiling = ceiling.map(|ceiling| Ratios::between(engine, ceiling));
    EntitlementsSummary::new(data, workload.checks(), &plan.load, to_ceiling.as_ref())
}

/// The same client and load against the plain warp route, served by this process.
async fn measure_ceiling(plan: &Plan, api_key: &str) -> Result<SideResult, BenchError> {
    let server = CeilingServer::start()?;
    eprintln!("ceiling: {} (plain warp route {})", server.url(), ceiling::CHARGE_PATH);
    let endpoint = Endpoint::new(&server.url(), Some(api_key))?;
    let workload =
        Arc::new(Workload::Charges(ChargeWorkload::ceiling(ceiling::CHARGE_PATH, plan.customers)));
    Ok(measure(plan, "ceiling", &endpoint, &workload).await)
}

/// The webhooks' summary, once the engine's side is measured: whether it applied the events.
async fn summarize_webhooks(plan: &Plan, api: &Endpoint, engine: &SideResult) -> WebhookSummary {
    eprintln!("webhooks: checking GET /v1/events for events not yet applied");
    let caller = Caller::new(api, plan.request_timeout());
    let applied = applied::check(&caller).await.map_err(|error| error.to_string());
    if let Err(error) = &applied {
        eprintln!("webhooks: the applied check failed: {error}");
    }
    WebhookSummary::new(plan.event_mix, &plan.load, engine, applied)
}

/// The two sides of `charge-priced` (plain, priced), `charge-coupon` (no coupon, coupon) and
/// `charge-split` (plain, split). A fixed load measures them in rounds of baseline, scenario,
/// scenario, baseline (see [`Slices`]). `--find-max` searches each side in turn.
async fn measure_both_sides(
    plan: &Plan,
    endpoint: &Endpoint,
    plain: &Arc<Workload>,
    priced: &Arc<Workload>,
) -> (SideResult, SideResult) {
    let (engine, baseline) =
        plan.scenario.comparison().map_or(("priced", "plain"), |c| (c.engine, c.baseline));
    let LoadRun::Fixed(config) = plan.load_run() else {
        let plain = measure(plan, baseline, endpoint, plain).await;
        return (plain, measure(plan, engine, endpoint, priced).await);
    };
    let slices = Slices::of(&config, plan.rounds);
    let (mut plain_runs, mut priced_runs) = (Vec::new(), Vec::new());
    for round in 0..plan.rounds {
        plain_runs.push(load::run(baseline, endpoint, plain, slices.opening(round)).await);
        priced_runs.push(load::run(engine, endpoint, priced, &slices.later).await);
        priced_runs.push(load::run(engine, endpoint, priced, &slices.later).await);
        plain_runs.push(load::run(baseline, endpoint, plain, &slices.later).await);
    }
    let side = |runs| SideResult::new(endpoint.url.clone(), slices.measured_secs(), joined(runs));
    (side(plain_runs), side(priced_runs))
}

/// How a comparison's fixed load is cut: `rounds` rounds of baseline, scenario, scenario,
/// baseline, each slice an equal share of the duration (so each side is measured for the whole
/// duration). The store grows with every charge, and a young store slows fastest: measured as
/// four halves, the baseline's first half met the youngest store and the scenario's halves the
/// middle, which a drift that is not steady does not cancel. In rounds, both sides meet the
/// store at every age. The first slice warms up for `--warmup`; the later ones settle for at
/// most [`SLICE_SETTLE`] after each switch.
struct Slices {
    first: LoadConfig,
    later: LoadConfig,
    rounds: u32,
}

/// The warm-up of every slice after the first: enough for a switch of workload (or of the
/// endpoint) to take effect.
const SLICE_SETTLE: Duration = Duration::from_secs(1);

impl Slices {
    fn of(config: &LoadConfig, rounds: u32) -> Slices {
        let slice = config.duration / (2 * rounds);
        Slices {
            first: LoadConfig { duration: slice, ..*config },
            later: LoadConfig {
                duration: slice,
                warmup: config.warmup.min(SLICE_SETTLE),
                ..*config
            },
            rounds,
        }
    }

    /// The first slice of `round`: the run's warm-up before the first.
    fn opening(&self, round: u32) -> &LoadConfig {
        if round == 0 { &self.first } else { &self.later }
    }

    /// Seconds measured per side.
    fn measured_secs(&self) -> f64 {
        2.0 * f64::from(self.rounds) * self.first.duration.as_secs_f64()
    }
}

fn joined(runs: Vec<RunStats>) -> RunStats {
    runs.into_iter().reduce(RunStats::join).expect("a comparison runs at least one round")
}

/// `events-out`: charges with the receiver's endpoint disabled and enabled, in rounds of off,
/// on, on, off (as `measure_both_sides`), a probe's charges beside the enabled slices; then the
/// drain and the check of what arrived.
async fn measure_events_out(
    plan: &Plan,
    endpoint: &Endpoint,
    without: &Arc<Workload>,
    with: &Arc<Workload>,
) -> Result<(SideResult, SideResult, EventsOutSummary), BenchError> {
    let LoadRun::Fixed(config) = plan.load_run() else {
        return Err(BenchError::Usage("events-out runs a fixed load, not --find-max".into()));
    };
    let caller = Caller::new(endpoint, plan.request_timeout());
    let receiver = events_out::Receiver::start(plan.receiver_mix).await?;
    let subscribed = events_out::subscribe(&caller, &receiver).await?;
    let probe_customers = caller.create_customers(PROBE_CUSTOMERS, PLAIN_CUSTOMER_BODY).await?;
    let slices = Slices::of(&config, plan.rounds);
    let (mut off_runs, mut on_runs, mut probed) = (Vec::new(), Vec::new(), Vec::new());
    let probe_caller = Arc::new(Caller::new(endpoint, plan.request_timeout()));
    for round in 0..plan.rounds {
        events_out::set_enabled(&caller, &subscribed, false).await?;
        off_runs.push(load::run("no endpoint", endpoint, without, slices.opening(round)).await);
        events_out::set_enabled(&caller, &subscribed, true).await?;
        let stop = Arc::new(tokio::sync::Notify::new());
        let probe = events_out::probe(
            Arc::clone(&probe_caller),
            probe_customers.clone(),
            Arc::clone(&stop),
        );
        let probe = tokio::spawn(probe);
        on_runs.push(load::run("endpoint", endpoint, with, &slices.later).await);
        on_runs.push(load::run("endpoint", endpoint, with, &slices.later).await);
        stop.notify_one();
        probed.extend(probe.await.unwrap_or_default());
        events_out::set_enabled(&caller, &subscribed, false).await?;
        off_runs.push(load::run("no endpoint", endpoint, without, &slices.later).await);
    }
    // A backlog: the same load for a warm-up's time while the receiver holds its requests, then
    // delivered with nothing else running.
    events_out::set_enabled(&caller, &subscribed, true).await?;
    let backlog =
        LoadConfig { warmup: Duration::ZERO, duration: config.warmup.max(MIN_BACKLOG), ..config };
    let drain = events_out::measure_drain(&receiver, async {
        load::run("backlog", endpoint, with, &backlog).await;
    })
    .await;
    let mut summary = events_out::summarize(&caller, &subscribed, &receiver, &probed).await?;
    summary.drain = Some(drain.clone());
    eprintln!(
        "events-out: {} delivered, a backlog of {} at {:.0}/s, lag p50 {:?} ms p99 {:?} ms \
         ({} samples), duplicates {}, missing {}, out of order {}: {}",
        summary.delivered,
        drain.backlog,
        drain.per_sec,
        summary.lag_p50_ms,
        summary.lag_p99_ms,
        summary.lag_samples,
        summary.duplicates,
        summary.missing,
        summary.out_of_order_objects,
        if summary.verified { "verified" } else { "NOT VERIFIED" },
    );
    let side = |runs| SideResult::new(endpoint.url.clone(), slices.measured_secs(), joined(runs));
    Ok((side(off_runs), side(on_runs), summary))
}

async fn measure(
    plan: &Plan,
    label: &str,
    endpoint: &Endpoint,
    workload: &Arc<Workload>,
) -> SideResult {
    match plan.load_run() {
        LoadRun::Fixed(config) => {
            let stats = load::run(label, endpoint, workload, &config).await;
            SideResult::new(endpoint.url.clone(), config.duration.as_secs_f64(), stats)
        }
        LoadRun::FindMax(config) => {
            let outcome = find_max::run(label, endpoint, workload, &config).await;
            let best = outcome.best_step().expect("find-max runs at least one step");
            let mut stats = best.stats.clone();
            stats.series =
                series::concatenate(outcome.steps.iter().map(|step| step.stats.series.as_slice()));
            if let Some(rate) = outcome.rate_per_sec_max {
                eprintln!("{label:>8} highest sustainable rate: {rate} req/s");
            }
            let mut side =
                SideResult::new(endpoint.url.clone(), config.step_duration.as_secs_f64(), stats);
            side.find_max = Some(outcome);
            side
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::LoadMode;

    #[test]
    fn the_slices_share_the_duration_and_only_the_first_warms_up_fully() {
        let config = LoadConfig {
            mode: LoadMode::Closed { connections: 32 },
            warmup: Duration::from_secs(4),
            duration: Duration::from_secs(16),
            request_timeout: Duration::from_secs(1),
        };
        let slices = Slices::of(&config, 4);
        assert_eq!(slices.first.duration, Duration::from_secs(2));
        assert_eq!(slices.later.duration, Duration::from_secs(2));
        assert_eq!(slices.opening(0).warmup, Duration::from_secs(4));
        assert_eq!(slices.opening(1).warmup, SLICE_SETTLE);
        assert_eq!(slices.measured_secs(), 16.0, "each side measured for the whole duration");
        let one = Slices::of(&config, 1);
        assert_eq!((one.first.duration, one.later.warmup), (Duration::from_secs(8), SLICE_SETTLE));
    }
}
