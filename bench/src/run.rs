//! One invocation, start to end: reach the engine (spawned or given), set the scenario up, measure
//! the ceiling and then the engine back to back with the same client and load, and write the
//! results. The ceiling goes right before the engine so both see the same machine state.
//!
//! `charge-priced` measures the engine twice: plain-amount charges, then charges priced from line
//! items, to the same customers with the same client and load, so the cost of the rules is a ratio
//! taken minutes apart on one machine (issue 3 states its target that way).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::ceiling::{self, CeilingServer};
use crate::engine_process::{EngineProcess, SPAWN_API_KEY};
use crate::error::BenchError;
use crate::load::{self, find_max};
use crate::plan::{LoadRun, Plan, Scenario, TargetPlan};
use crate::report::{self, BenchResult, Machine, Ratios, SetupSummary, SideResult};
use crate::setup::{self, Caller};
use crate::stats::series;
use crate::target::Endpoint;
use crate::workload::{
    CUSTOMER_COUNTRY, ChargeWorkload, KnownCharges, MixedWorkload, PricedChargeWorkload,
    ReplayWorkload, Workload, taxable_customer_body,
};

/// The engine's charge route, for `charge`, `charge-hot` and both sides of `charge-priced`.
const CHARGES_PATH: &str = "/v1/charges";
/// The body of a customer in scenarios that do not price: no address, nothing to tax.
const PLAIN_CUSTOMER_BODY: &str = "{}";

/// What the setup leaves ready to measure.
struct Prepared {
    workload: Workload,
    /// `charge-priced` only: plain-amount charges to the same customers, the ratio's baseline.
    plain_amount: Option<Workload>,
    setup: SetupSummary,
}

pub async fn run(plan: Plan, command: String) -> Result<BenchResult, BenchError> {
    std::fs::create_dir_all(&plan.out_dir)
        .map_err(|error| BenchError::Output { path: plan.out_dir.clone(), error })?;
    let started_unix_secs =
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
    let (endpoint, process, api_key) = open_target(&plan)?;
    eprintln!("engine: {}", endpoint.url);
    setup::wait_until_ready(&endpoint).await?;
    let prepared = prepare(&plan, &endpoint).await?;

    let ceiling = match plan.ceiling {
        true => Some(measure_ceiling(&plan, &api_key).await?),
        false => None,
    };
    // The plain side goes first: the priced side then runs on the store the plain one has grown
    // and on a machine that has been under load longer, so any drift counts against the priced
    // charges, never for them.
    let plain_amount = match prepared.plain_amount {
        Some(workload) => Some(measure(&plan, "plain", &endpoint, &Arc::new(workload)).await),
        None => None,
    };
    let label = if plain_amount.is_some() { "priced" } else { "engine" };
    let mut engine = measure(&plan, label, &endpoint, &Arc::new(prepared.workload)).await;
    engine.engine_log_problems = process.as_ref().map(EngineProcess::log_problems);
    drop(process);

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
        setup: Some(prepared.setup),
        ceiling,
        plain_amount,
        engine,
        ratio,
        ratio_to_plain_amount,
    };
    report::write(&plan.out_dir, &result)?;
    Ok(result)
}

/// The engine's endpoint, the process if this run started it, and the API key in use.
fn open_target(plan: &Plan) -> Result<(Endpoint, Option<EngineProcess>, String), BenchError> {
    match &plan.target {
        TargetPlan::Spawn { binary } => {
            let process = EngineProcess::start(binary, &plan.out_dir.join("engine.log"))?;
            let endpoint = Endpoint::new(&process.url, Some(SPAWN_API_KEY))?;
            Ok((endpoint, Some(process), SPAWN_API_KEY.to_owned()))
        }
        TargetPlan::Url { url, api_key } => {
            Ok((Endpoint::new(url, Some(api_key))?, None, api_key.clone()))
        }
    }
}

/// Creates what the scenario needs on the engine, unmeasured.
async fn prepare(plan: &Plan, endpoint: &Endpoint) -> Result<Prepared, BenchError> {
    let started = Instant::now();
    let caller = Caller::new(endpoint, plan.request_timeout());
    let customer_body = match plan.scenario {
        Scenario::ChargePriced => {
            eprintln!("setup: {} customers in {CUSTOMER_COUNTRY} with a card each", plan.customers);
            taxable_customer_body()
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
        Scenario::ChargePriced => {
            let plain = ChargeWorkload::new(CHARGES_PATH, customers.clone());
            plain_amount = Some(Workload::Charges(plain));
            (Workload::PricedCharges(PricedChargeWorkload::new(CHARGES_PATH, customers)), 0)
        }
        Scenario::Mixed => {
            eprintln!("setup: one charge per customer, to read and refund");
            let made = caller.make_charges(&customers, customers.len()).await?;
            let known = KnownCharges::default();
            made.iter().for_each(|charge| known.add(charge.id.clone()));
            (Workload::Mixed(MixedWorkload::new(customers, known)), made.len())
        }
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
    Ok(Prepared { workload, plain_amount, setup })
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
