//! A crash in the middle of a dunning retry run: no attempt is made twice and none is skipped.
//!
//! Proves that after a `kill -9` while a test clock advance is retrying 1 000 past-due invoices
//! (200 customers with 5 subscriptions each, on one clock, every card declining), a restart on
//! the same data directory leaves, once the clock is `ready` again: every invoice with exactly
//! its second attempt made (`attempt_count` 2) and its third planned at the configured day
//! (`next_payment_attempt` = first failure + 3 days), nothing in flight; exactly one declined
//! charge per attempt naming it (the first attempt's the same as before the crash; a charge the
//! crash cut before it reached the processor is failed as never reached and its attempt made
//! again, at most once per invoice); every subscription still `past_due`; no money moved by any
//! retry (the sandbox processor's ledger holds exactly the first payments, once each); and that
//! the next retry day after the crash makes attempt 3 everywhere, once. Each attempt's charge
//! was made under its own Idempotency-Key `kassa:invoice:{id}:attempt:{n}` and no fourth exists.
//! How: customers and subscriptions are made through 32 concurrent slots, paying by a good card;
//! each customer's default payment method is then switched to `pm_card_chargeDeclined`, and the
//! Feb 1 renewals all fail. The sandbox answers after 50 ms so the retry run takes long enough to
//! be cut. The advance to Feb 2 (the first retry day) runs in a task while the test reads the
//! newest page of the account's charges (declines never reach the processor's ledger); SIGKILL is
//! sent as soon as it shows `KILL_AFTER_RETRY_CHARGES` charges newer than the last first attempt.
//! After the restart the test waits (bounded) for the clock to be `ready` again and reconciles
//! everything over HTTP; then it advances to Feb 4 (the second retry day) and does it again.

mod common;

use common::*;
use futures::StreamExt;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const CUSTOMERS: usize = 200;
const SUBSCRIPTIONS_PER_CUSTOMER: usize = 5;
const SUBSCRIPTIONS: usize = CUSTOMERS * SUBSCRIPTIONS_PER_CUSTOMER;
const CONCURRENCY: usize = 32;
const PRICE: u64 = 2_000;
/// The sandbox's answer delay: a retry run of 1 000 invoices takes about a second.
const SANDBOX_LATENCY_MS: u64 = 50;
/// Retry charges recorded before the kill: well into the run (with dozens more at the processor
/// or about to be), far from its end.
const KILL_AFTER_RETRY_CHARGES: usize = 100;
/// Bound on waiting for those charges, and for the clock to be ready after the restart.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(120);
/// `billing.dunning.retry_days` by default: days after the first failure.
const RETRY_DAYS: [i64; 4] = [1, 3, 5, 7];
/// What a charge on `pm_card_chargeDeclined` fails with.
const DECLINED: &str = "generic_decline";
/// What a charge fails with when recovery finds the processor never saw it.
const NEVER_REACHED: &str = "processing_error";
fn jan_1() -> i64 {
    utc(2025, 1, 1, 0, 0, 0)
}

/// The renewal, and the first failure of every invoice.
fn feb_1() -> i64 {
    utc(2025, 2, 1, 0, 0, 0)
}

/// When the attempt after `attempts` is planned: the configured day after the first failure.
fn next_attempt_after(attempts: usize) -> i64 {
    feb_1() + RETRY_DAYS[attempts - 1] * SECONDS_PER_DAY
}

/// One subscription in dunning, as it stood before the crash.
struct Dunned {
    customer: String,
    /// The January invoice, paid at the start.
    january: String,
    /// The February invoice, whose renewal charge declined.
    february: String,
    /// The charge of the February invoice's first attempt.
    first_attempt: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_dunning_retry_run_repeats_no_attempt_and_skips_none() {
    let config = Config::default().with_sandbox_latency_ms(SANDBOX_LATENCY_MS);
    let mut engine = Engine::start(config).await;
    let api = engine.api_a();
    let clock = api.create_clock(jan_1()).await;
    let plan = api.plan(PRICE, "usd", "month").await;
    let customers = customers_paying_by_card(&api, &clock).await;
    subscribe_each_five_times(&api, &plan, &customers).await;
    for_each_customer(&api, &customers, decline_from_now_on).await;
    api.advance_clock(&clock, feb_1()).await;
    let dunned = in_dunning(&api, &customers).await;
    assert_eq!(dunned.len(), SUBSCRIPTIONS, "every renewal declined");

    // The first retry of every invoice falls due at Feb 2 00:00; the run is watched and cut.
    let newest = api.get_ok("/v1/charges?limit=1").await;
    let baseline = str_field(&newest["data"][0], "id").to_string();
    let first_retry_day = next_attempt_after(1);
    let limit = (KILL_AFTER_RETRY_CHARGES, "retry charges");
    let (_, finished_before_the_kill) = engine
        .kill_during_advance((&clock, first_retry_day), limit, PROGRESS_TIMEOUT, || {
            charges_since(&api, &baseline)
        })
        .await;
    assert!(!finished_before_the_kill, "the kill came too late to cut the retry run");

    let restarted = Instant::now();
    engine.launch().await;
    let api = engine.api_a();
    let clock_path = format!("/v1/test_clocks/{clock}");
    let after_restart =
        wait_for("the clock to be ready after the restart", PROGRESS_TIMEOUT, || {
            let (api, path) = (api.clone(), clock_path.clone());
            async move {
                let clock = api.get_ok(&path).await;
                (clock["status"] == "ready").then_some(clock)
            }
        })
        .await;
    eprintln!("the clock was ready {:?} after the restart began", restarted.elapsed());
    let log = engine.log_text();
    let recovered = log.lines().filter(|line| line.contains("recovery settled unfinished"));
    for line in recovered {
        eprintln!("engine: {line}");
    }
    let frozen_time = i64_field(&after_restart, "frozen_time");
    assert!(
        frozen_time == feb_1() || frozen_time == first_retry_day,
        "the clock is where it was or where it was sent: {after_restart}"
    );
    if frozen_time != first_retry_day {
        api.advance_clock(&clock, first_retry_day).await;
    }
    let interrupted = reconcile(&api, &customers, &dunned, 2).await;
    eprintln!("{interrupted} retry charges were cut before they reached the processor");

    // The next retry day, after the crash: attempt 3 everywhere, once.
    api.advance_clock(&clock, next_attempt_after(2)).await;
    let interrupted_later = reconcile(&api, &customers, &dunned, 3).await;
    assert_eq!(interrupted_later, interrupted, "only the crash cuts charges");
}

/// `CUSTOMERS` US customers on `clock`, each paying by a good card.
async fn customers_paying_by_card(api: &Api, clock: &str) -> Vec<String> {
    futures::stream::iter(0..CUSTOMERS)
        .map(|_| async move { api.clock_customer_with_card(clock, "US", "pm_card_visa").await })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await
}

/// `SUBSCRIPTIONS_PER_CUSTOMER` subscriptions to `plan` for every customer, each paid at once.
async fn subscribe_each_five_times(api: &Api, plan: &str, customers: &[String]) {
    let subscribed: Vec<()> = futures::stream::iter(0..SUBSCRIPTIONS)
        .map(|i| async move {
            let subscription = api.subscribe_ok(&customers[i % CUSTOMERS], plan).await;
            assert_eq!(subscription["status"], "active", "{subscription}");
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    assert_eq!(subscribed.len(), SUBSCRIPTIONS);
}

async fn for_each_customer<F, Fut>(api: &Api, customers: &[String], each: F)
where
    F: Fn(Api, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    futures::stream::iter(customers.iter().cloned())
        .map(|customer| each(api.clone(), customer))
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
}

/// Makes a declining card the customer's default payment method (no invoice is open yet, so
/// the change retries nothing).
async fn decline_from_now_on(api: Api, customer: String) {
    let method = api.add_payment_method(&customer, "pm_card_chargeDeclined").await;
    let body = json!({"default_payment_method": method["id"]});
    let updated = api.post(&format!("/v1/customers/{customer}"), &body).await.ok().clone();
    assert_eq!(updated["default_payment_method"], method["id"], "{updated}");
}

/// Every subscription after its declined renewal: `past_due`, its February invoice at attempt
/// 1 with the next planned a day later. Answers them by subscription.
async fn in_dunning(api: &Api, customers: &[String]) -> HashMap<String, Dunned> {
    let per_customer: Vec<Vec<(String, Dunned)>> = futures::stream::iter(customers.to_vec())
        .map(|customer| async move {
            let subscriptions = api.customer_subscriptions(&customer).await;
            assert_eq!(subscriptions.len(), SUBSCRIPTIONS_PER_CUSTOMER, "{customer}");
            let invoices = api.customer_invoices(&customer).await;
            let mut dunned = Vec::new();
            for subscription in &subscriptions {
                assert_eq!(subscription["status"], "past_due", "{subscription}");
                let id = str_field(subscription, "id");
                let january = invoice_of(&invoices, id, jan_1());
                assert_eq!(january["status"], "paid", "{january}");
                let february = invoice_of(&invoices, id, feb_1());
                assert_eq!(february["status"], "open", "{february}");
                assert_eq!(february["attempt_count"], 1, "{february}");
                assert_eq!(february["next_payment_attempt"], next_attempt_after(1), "{february}");
                let record = Dunned {
                    customer: customer.clone(),
                    january: str_field(january, "id").to_string(),
                    february: str_field(february, "id").to_string(),
                    first_attempt: str_field(february, "charge").to_string(),
                };
                dunned.push((id.to_string(), record));
            }
            dunned
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    per_customer.into_iter().flatten().collect()
}

/// The invoice of `subscription` for the period starting at `period_start`.
fn invoice_of<'a>(invoices: &'a [Value], subscription: &str, period_start: i64) -> &'a Value {
    let mut found = invoices.iter().filter(|invoice| {
        invoice["subscription"] == subscription && invoice["period_start"] == period_start
    });
    let invoice = found.next().unwrap_or_else(|| {
        panic!("no invoice of {subscription} for {period_start}: {invoices:#?}")
    });
    assert!(found.next().is_none(), "two invoices of {subscription} for {period_start}");
    invoice
}

/// How many of the account's charges are newer than `baseline` (the newest before the run),
/// counted on the newest page; `KILL_AFTER_RETRY_CHARGES` or more once `baseline` is off it.
/// A retry's charge is listed from when it is recorded, before the processor is asked.
async fn charges_since(api: &Api, baseline: &str) -> usize {
    let page = api.get_ok(&format!("/v1/charges?limit={KILL_AFTER_RETRY_CHARGES}")).await;
    let charges = page["data"].as_array().unwrap_or_else(|| panic!("charges page: {page}"));
    charges.iter().position(|charge| charge["id"] == baseline).unwrap_or(KILL_AFTER_RETRY_CHARGES)
}

/// What the engine answers about one customer.
struct CustomerRecords {
    customer: String,
    invoices: Vec<Value>,
    charges: Vec<Value>,
    subscriptions: Vec<Value>,
}

/// Reads every customer's invoices, charges and subscriptions and the whole processor ledger,
/// and checks that each February invoice has had exactly `attempts` attempts, the next one
/// planned, each attempt one declined charge. Answers how many charges were failed as never
/// reaching the processor (the attempt then made again).
async fn reconcile(
    api: &Api,
    customers: &[String],
    dunned: &HashMap<String, Dunned>,
    attempts: usize,
) -> usize {
    let per_customer: Vec<CustomerRecords> = futures::stream::iter(customers.to_vec())
        .map(|customer| async move {
            let invoices = api.customer_invoices(&customer).await;
            let charges = api.customer_charges(&customer).await;
            let subscriptions = api.customer_subscriptions(&customer).await;
            CustomerRecords { customer, invoices, charges, subscriptions }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut problems: Vec<String> = Vec::new();
    let mut never_reached = 0;
    let mut first_payments: HashSet<String> = HashSet::new();
    for records in &per_customer {
        never_reached += check_customer(records, dunned, attempts, &mut problems);
        for charge in records.charges.iter().filter(|charge| charge["status"] == "succeeded") {
            first_payments.insert(str_field(charge, "id").to_string());
        }
    }
    problems.truncate(20);
    assert!(problems.is_empty(), "after {attempts} attempts:\n{}", problems.join("\n"));
    assert_eq!(first_payments.len(), SUBSCRIPTIONS, "one succeeded charge per January invoice");
    check_ledger(api, &first_payments).await;
    never_reached
}

/// The claims of this file for one customer's records; answers its never-reached charges.
fn check_customer(
    records: &CustomerRecords,
    dunned: &HashMap<String, Dunned>,
    attempts: usize,
    problems: &mut Vec<String>,
) -> usize {
    let CustomerRecords { customer, invoices, charges, subscriptions } = records;
    if subscriptions.len() != SUBSCRIPTIONS_PER_CUSTOMER {
        problems.push(format!("{customer} has {} subscriptions", subscriptions.len()));
    }
    if invoices.len() != 2 * SUBSCRIPTIONS_PER_CUSTOMER {
        problems.push(format!("{customer} has {} invoices: {invoices:#?}", invoices.len()));
    }
    let mut by_invoice: HashMap<&str, Vec<&Value>> = HashMap::new();
    for charge in charges {
        let invoice = charge["invoice"].as_str().unwrap_or_default();
        by_invoice.entry(invoice).or_default().push(charge);
    }
    let mut never_reached = 0;
    for subscription in subscriptions {
        let id = str_field(subscription, "id");
        let Some(expected) = dunned.get(id).filter(|expected| &expected.customer == customer)
        else {
            problems.push(format!("a subscription made by nobody: {subscription}"));
            continue;
        };
        if subscription["status"] != "past_due" {
            problems.push(format!("not past_due: {subscription}"));
        }
        let january = by_invoice.remove(expected.january.as_str()).unwrap_or_default();
        if january.len() != 1 || january[0]["status"] != "succeeded" {
            problems.push(format!("the January invoice's charges: {january:#?}"));
        }
        let february = invoice_of(invoices, id, feb_1());
        let charges = by_invoice.remove(expected.february.as_str()).unwrap_or_default();
        match check_attempts(february, expected, &charges, attempts) {
            Ok(cut) => never_reached += cut,
            Err(problem) => problems.push(problem),
        }
    }
    if !by_invoice.is_empty() {
        problems.push(format!("{customer}'s charges for no invoice of ours: {by_invoice:#?}"));
    }
    never_reached
}

/// One February invoice after `attempts` attempts, with `charges` (those naming it). Answers
/// how many of them never reached the processor.
fn check_attempts(
    invoice: &Value,
    expected: &Dunned,
    charges: &[&Value],
    attempts: usize,
) -> Result<usize, String> {
    let problem = |what: &str| Err(format!("{what}: {invoice}\n  its charges: {charges:#?}"));
    if invoice["id"] != expected.february.as_str() {
        return problem("not the invoice that was in dunning before the crash");
    }
    if invoice["status"] != "open" || invoice["amount_due"] != PRICE {
        return problem("not open for the price");
    }
    if invoice["attempt_count"] != attempts {
        return problem(&format!("attempt_count is not {attempts}"));
    }
    if invoice["next_payment_attempt"] != next_attempt_after(attempts) {
        return problem("the next attempt is not planned at its day");
    }
    if invoice["payment_pending"] != false {
        return problem("a payment still under way");
    }
    let failed_with = |code: &str| -> Vec<&str> {
        let failed = charges.iter().filter(|charge| {
            charge["status"] == "failed"
                && charge["failure_code"] == code
                && charge["amount"] == PRICE
        });
        failed.map(|charge| str_field(charge, "id")).collect()
    };
    let mut declined = failed_with(DECLINED);
    let cut = failed_with(NEVER_REACHED);
    if declined.len() + cut.len() != charges.len() {
        return problem("a charge neither declined nor cut before the processor");
    }
    if declined.len() != attempts {
        return problem(&format!("not {attempts} declined charges, one per attempt"));
    }
    if cut.len() > 1 {
        return problem("one attempt cut more than once");
    }
    if !declined.contains(&expected.first_attempt.as_str()) {
        return problem("the first attempt's charge is gone");
    }
    declined.sort();
    if invoice["charge"] != declined[attempts - 1] {
        return problem("the invoice's charge is not its last attempt's");
    }
    Ok(cut.len())
}

/// The processor's ledger: exactly the January payments, each once and for the price. Declines
/// move no money and are not listed.
async fn check_ledger(api: &Api, first_payments: &HashSet<String>) {
    let ledger = api.ledger().await;
    assert!(ledger.iter().all(|entry| entry["kind"] == "charge"), "only charges: {ledger:#?}");
    let mut by_key: HashMap<&str, Vec<&Value>> = HashMap::new();
    for entry in &ledger {
        by_key.entry(str_field(entry, "idempotency_key")).or_default().push(entry);
    }
    let charged_twice: Vec<_> = by_key.iter().filter(|(_, entries)| entries.len() > 1).collect();
    assert!(charged_twice.is_empty(), "charged twice at the processor: {charged_twice:?}");
    let keys: HashSet<String> = by_key.keys().map(|key| key.to_string()).collect();
    assert_eq!(&keys, first_payments, "the processor charged exactly the January invoices");
    assert!(
        ledger.iter().all(|entry| entry["amount"] == PRICE && entry["currency"] == "usd"),
        "each for the invoice's amount"
    );
}
