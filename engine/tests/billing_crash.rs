//! A crash in the middle of renewals: no period is lost and none is billed or charged twice.
//!
//! Proves that after a `kill -9` while a test clock advance is renewing 2 000 subscriptions (400
//! customers with 5 each, on one clock), a restart on the same data directory and a further
//! advance leave every subscription with exactly one invoice for each of its three periods
//! (January, February — the one cut by the crash — and March) and no other; that each invoice is
//! `paid`, those whose payment the crash cut too (a charge the processor never saw is an attempt
//! made again, not a decline); that every subscription is in its March period; that every paid invoice's
//! charge is one succeeded charge naming it, in its customer's history; that the engine's
//! succeeded charges are exactly the paid invoices' charges; and that the sandbox processor's
//! ledger holds exactly one charge per paid invoice, of its amount due, and no other.
//! How: customers and subscriptions are made through 32 concurrent slots; the sandbox answers
//! after 20 ms so renewals take long enough to be cut. The advance to Feb 1 runs in a task while
//! the test reads the newest page of the processor's ledger; SIGKILL is sent as soon as it shows
//! `KILL_AFTER_RENEWAL_CHARGES` charges newer than the last first payment, i.e. mid-advance.
//! After the restart the test waits (bounded) for the clock to be `ready` again, advances it to
//! Mar 1, and reconciles everything over HTTP.

mod common;

use common::*;
use futures::StreamExt;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const CUSTOMERS: usize = 400;
const SUBSCRIPTIONS_PER_CUSTOMER: usize = 5;
const SUBSCRIPTIONS: usize = CUSTOMERS * SUBSCRIPTIONS_PER_CUSTOMER;
const CONCURRENCY: usize = 32;
const PRICE: u64 = 1_500;
/// Renewal charges seen at the processor before the kill: well into the advance, far from its end.
const KILL_AFTER_RENEWAL_CHARGES: usize = 100;
/// Bound on waiting for those charges, and for the clock to be ready after the restart.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(120);

fn jan_1() -> i64 {
    utc(2024, 1, 1, 0, 0, 0)
}

fn feb_1() -> i64 {
    utc(2024, 2, 1, 0, 0, 0)
}

fn mar_1() -> i64 {
    utc(2024, 3, 1, 0, 0, 0)
}

fn apr_1() -> i64 {
    utc(2024, 4, 1, 0, 0, 0)
}

/// How many ledger entries are newer than `baseline` (the newest before the advance), counted
/// on the newest page; `KILL_AFTER_RENEWAL_CHARGES` or more once the baseline is off that page.
async fn charges_since(api: &Api, baseline: &str) -> usize {
    let page = api.get_ok(&format!("/v1/sandbox/ledger?limit={KILL_AFTER_RENEWAL_CHARGES}")).await;
    let entries = page["data"].as_array().unwrap_or_else(|| panic!("ledger page: {page}"));
    entries
        .iter()
        .position(|entry| entry["gateway_reference"] == baseline)
        .unwrap_or(KILL_AFTER_RENEWAL_CHARGES)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_clock_advance_loses_no_renewal_and_bills_none_twice() {
    let mut engine = Engine::start(Config::default().with_sandbox_latency_ms(20)).await;
    let api = engine.api_a();
    let clock = api.create_clock(jan_1()).await;
    let plan = api.plan(PRICE, "usd", "month").await;

    let customers: Vec<String> = futures::stream::iter(0..CUSTOMERS)
        .map(|_| {
            let (api, clock) = (api.clone(), clock.clone());
            async move { api.clock_customer_with_card(&clock, "US", "pm_card_visa").await }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let subscriptions: Vec<(String, String)> = futures::stream::iter(0..SUBSCRIPTIONS)
        .map(|i| {
            let (api, plan) = (api.clone(), plan.clone());
            let customer = customers[i % CUSTOMERS].clone();
            async move {
                let subscription = api.subscribe_ok(&customer, &plan).await;
                assert_eq!(subscription["status"], "active", "{subscription}");
                (str_field(&subscription, "id").to_string(), customer)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let first_payments = api.get_ok("/v1/sandbox/ledger?limit=1").await;
    let baseline = str_field(&first_payments["data"][0], "gateway_reference").to_string();

    // Every subscription renews at Feb 1 00:00; the advance runs while the test watches.
    let limit = (KILL_AFTER_RENEWAL_CHARGES, "renewal charges");
    engine
        .kill_during_advance((&clock, feb_1() + SECONDS_PER_HOUR), limit, PROGRESS_TIMEOUT, || {
            charges_since(&api, &baseline)
        })
        .await;

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
    let frozen_time = i64_field(&after_restart, "frozen_time");
    assert!(
        frozen_time == jan_1() || frozen_time == feb_1() + SECONDS_PER_HOUR,
        "the clock is where it was or where it was sent: {after_restart}"
    );
    api.advance_clock(&clock, mar_1() + SECONDS_PER_HOUR).await;

    reconcile(&api, &customers, &subscriptions).await;
}

/// What the engine answers about one customer after the crash.
struct CustomerRecords {
    customer: String,
    invoices: Vec<Value>,
    charges: Vec<Value>,
    subscriptions: Vec<Value>,
}

/// Reads every customer's invoices, charges and subscriptions and the whole processor ledger,
/// and checks the claims of this file.
async fn reconcile(api: &Api, customers: &[String], subscriptions: &[(String, String)]) {
    let per_customer: Vec<CustomerRecords> = futures::stream::iter(customers.to_vec())
        .map(|customer| {
            let api = api.clone();
            async move {
                let invoices = api.customer_invoices(&customer).await;
                let charges = api.customer_charges(&customer).await;
                let subscriptions = api.customer_subscriptions(&customer).await;
                CustomerRecords { customer, invoices, charges, subscriptions }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let ours: HashSet<&str> = subscriptions.iter().map(|(id, _)| id.as_str()).collect();

    let mut periods: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
    let mut paid_charges: HashSet<String> = HashSet::new();
    let mut succeeded_charges: HashSet<String> = HashSet::new();
    let mut paid = 0_usize;
    let mut problems: Vec<String> = Vec::new();
    for records in &per_customer {
        let CustomerRecords { customer, invoices, charges, subscriptions: customer_subscriptions } =
            records;
        let by_id: HashMap<&str, &Value> =
            charges.iter().map(|charge| (str_field(charge, "id"), charge)).collect();
        for invoice in invoices {
            let subscription = str_field(invoice, "subscription");
            if !ours.contains(subscription) {
                problems.push(format!("an invoice of an unknown subscription: {invoice}"));
                continue;
            }
            periods.entry(subscription.to_string()).or_default().push(period_of(invoice));
            match invoice["status"].as_str() {
                Some("paid") => {
                    paid += 1;
                    let charge_id = str_field(invoice, "charge");
                    let charge = by_id.get(charge_id).copied().unwrap_or(&Value::Null);
                    if charge["status"] != "succeeded"
                        || charge["invoice"] != invoice["id"]
                        || charge["amount"] != invoice["amount_due"]
                        || invoice["amount_due"] != PRICE
                    {
                        problems.push(format!(
                            "paid invoice {invoice}\n  its charge in {customer}'s history: {charge}"
                        ));
                    }
                    paid_charges.insert(charge_id.to_string());
                }
                // Every card is good: a payment the crash cut is made again after the restart.
                _ => problems.push(format!("an invoice not paid: {invoice}")),
            }
        }
        for charge in charges.iter().filter(|charge| charge["status"] == "succeeded") {
            succeeded_charges.insert(str_field(charge, "id").to_string());
        }
        for subscription in customer_subscriptions {
            if subscription["current_period_start"] != mar_1()
                || subscription["current_period_end"] != apr_1()
            {
                problems.push(format!("not in its March period: {subscription}"));
            }
        }
        if customer_subscriptions.len() != SUBSCRIPTIONS_PER_CUSTOMER {
            problems.push(format!("{customer} has {} subscriptions", customer_subscriptions.len()));
        }
    }
    let expected_periods = vec![(jan_1(), feb_1()), (feb_1(), mar_1()), (mar_1(), apr_1())];
    for (subscription, _) in subscriptions {
        let mut seen = periods.remove(subscription).unwrap_or_default();
        seen.sort();
        if seen != expected_periods {
            problems.push(format!("{subscription}: invoiced periods {seen:?}"));
        }
    }
    eprintln!("{paid} paid invoices");
    problems.truncate(20);
    assert!(problems.is_empty(), "after the crash:\n{}", problems.join("\n"));
    assert_eq!(paid, 3 * SUBSCRIPTIONS, "one paid invoice per subscription and period");
    assert_eq!(paid_charges.len(), paid, "each paid invoice has its own charge");
    assert_eq!(
        succeeded_charges, paid_charges,
        "the engine's succeeded charges are the paid invoices'"
    );

    let ledger = api.ledger().await;
    let ledger_charges = ledger_of_kind(&ledger, "charge");
    let mut by_key: HashMap<&str, Vec<&Value>> = HashMap::new();
    for entry in ledger_charges.iter().copied() {
        by_key.entry(str_field(entry, "idempotency_key")).or_default().push(entry);
    }
    let charged_twice: Vec<_> = by_key.iter().filter(|(_, entries)| entries.len() > 1).collect();
    assert!(charged_twice.is_empty(), "charged twice at the processor: {charged_twice:?}");
    let ledger_keys: HashSet<String> = by_key.keys().map(|key| key.to_string()).collect();
    assert_eq!(ledger_keys, paid_charges, "the processor charged exactly the paid invoices");
    assert_eq!(ledger_charges.len(), paid, "one processor charge per paid invoice");
    assert!(
        ledger_charges.iter().all(|entry| entry["amount"] == PRICE && entry["currency"] == "usd"),
        "each for the invoice's amount"
    );
}
