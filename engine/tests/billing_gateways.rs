//! Billing through real gateways: minimum amounts, test clocks kept on the sandbox, the pace and
//! presence of renewal charges, and M-Pesa prompts for subscriptions.
//!
//! Proves that an invoice due below its gateway's minimum (`gateways.*.min_amount`) is paid with
//! no charge and its amount carried to the customer's balance, which the next invoice collects
//! (an invoice of exactly the minimum is charged as usual); that a customer on a test clock is
//! served by the sandbox only: a subscribe or a charge whose route has any other gateway (Stripe,
//! whatever its key; Stripe only as the failover of a routing rule; M-Pesa) is refused 400
//! `test_clock_live_gateway` with nothing kept and nothing sent, while a customer on the real
//! clock is served by the same route; that a Stripe renewal's PaymentIntent is made with
//! `off_session=true` and a request's charge or a first invoice's without it; that renewals sent
//! to Stripe wait for evenly spaced slots (`renewals_per_sec`); and that a subscription collected
//! automatically by M-Pesa is `incomplete` until Safaricom's callback says the prompt was paid,
//! and stays `incomplete` with its invoice open and no second prompt when the prompt failed.
//! How: the real engine over HTTP (see `common`), against the sandbox or the local Stripe and
//! Daraja fakes shared with the adapters' tests (`gateways/tests/common/`). The minimum is shown
//! on the sandbox by advancing a test clock; everything on Stripe or M-Pesa runs on the real
//! clock, its scheduler looking every 100 ms: a `billing_cycle_anchor` two seconds ahead makes a
//! first period of ~2 s (0 due, paid with no charge) and the scheduler's renewal at the anchor,
//! which the test polls for (bounded); the test plays Safaricom posting callbacks.
//! Not shown: the 23-hour expiry of an M-Pesa `incomplete` subscription (it needs a test clock).

mod common;
use kassa_testkit::fake_daraja;
use kassa_testkit::fake_stripe;

use std::time::Duration;

use common::*;
use fake_daraja::FakeDaraja;
use fake_stripe::{FakeStripe, Seen};

/// Every test clock starts here: Wednesday 15 January 2025, noon UTC.
fn clock_start() -> i64 {
    utc(2025, 1, 15, 12, 0, 0)
}

/// One minute past the end of the first monthly period started at `clock_start`.
fn after_first_month() -> i64 {
    utc(2025, 2, 15, 12, 1, 0)
}

/// The real-time scheduler looks for due renewals this often (`billing.scheduler_interval_ms`),
/// so a renewal runs within a tenth of a second of its instant.
const FAST_SCHEDULER: &str = "[billing]\nscheduler_interval_ms = 100\n";

/// How far ahead of now a real-time `billing_cycle_anchor` is set: time enough to subscribe
/// eight customers before it on a loaded CI machine (a subscribe at the anchor itself would
/// bill a whole first period).
const ANCHOR_DELAY_SECS: i64 = 5;

/// Bound on waiting for something the engine does after its answer (a callback applied, a
/// renewal at its anchor and its paced charges).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(15);

/// How long the engine is watched doing nothing more: ten looks of `FAST_SCHEDULER`.
const QUIET_PERIOD: Duration = Duration::from_secs(1);

/// Pause between two looks while watching the engine do nothing.
const QUIET_PROBE_INTERVAL: Duration = Duration::from_millis(50);

const MPESA_CALLBACK_TOKEN: &str = "callback-token-0123456789abcdef";
const PHONE: &str = "0712 345 678";

/// `[gateways.stripe]`: the fake with its test-mode key, and `extra` lines in the same table.
fn stripe_section(stripe: &FakeStripe, extra: &str) -> String {
    format!(
        r#"[gateways.stripe]
secret_key = "{}"
api_base = "{}"
attempt_timeout_ms = 2000
attempts_max = 3
{extra}
"#,
        fake_stripe::SECRET_KEY,
        stripe.api_base(),
    )
}

/// Stripe (the fake) as the default gateway.
fn stripe_config(stripe: &FakeStripe, extra: &str) -> Config {
    Config::default().with_default_gateway("stripe").with_toml(&stripe_section(stripe, extra))
}

fn mpesa_config(daraja: &FakeDaraja) -> Config {
    Config::default().with_toml(&daraja.engine_toml(MPESA_CALLBACK_TOKEN))
}

/// The body Safaricom posts when a push ends (1037: the phone could not be reached).
fn mpesa_callback(checkout_request_id: &str, result_code: i64, amount_kes: u64) -> Value {
    let mut body = json!({ "Body": { "stkCallback": {
        "MerchantRequestID": "29115-34620561-1",
        "CheckoutRequestID": checkout_request_id,
        "ResultCode": result_code,
        "ResultDesc": match result_code {
            0 => "The service request is processed successfully.",
            _ => "DS timeout user cannot be reached",
        },
    }}});
    if result_code == 0 {
        body["Body"]["stkCallback"]["CallbackMetadata"] = json!({ "Item": [
            { "Name": "Amount", "Value": amount_kes },
            { "Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV" },
            { "Name": "TransactionDate", "Value": 20250115120000u64 },
            { "Name": "PhoneNumber", "Value": 254712345678u64 },
        ]});
    }
    body
}

/// Posts as Safaricom does: no API key, the path token in the URL.
async fn post_mpesa_callback(engine: &Engine, body: &Value) {
    let path = format!("/v1/webhooks/mpesa/{MPESA_CALLBACK_TOKEN}");
    let answer = engine.api_with_authorization(None).post(&path, body).await;
    assert_eq!(answer.status, 200, "{}: {}", answer.what, answer.text);
}

/// `GET /v1/charges?customer=…`: the customer's charges, newest first.
async fn charges_of(api: &Api, customer: &str) -> Vec<Value> {
    api.list_all(&format!("/v1/charges?customer={customer}"), "id").await
}

async fn customer_balance(api: &Api, customer: &str) -> i64 {
    i64_field(&api.get_ok(&format!("/v1/customers/{customer}")).await, "balance")
}

async fn charge_of(api: &Api, id: &str) -> Value {
    api.get_ok(&format!("/v1/charges/{id}")).await
}

/// After a refused subscribe or charge (`refused`): the customer has no subscription, no
/// invoice and no charge.
async fn assert_nothing_billed(api: &Api, customer: &str, refused: &Resp) {
    let subscriptions = api.customer_subscriptions(customer).await;
    let invoices = api.customer_invoices(customer).await;
    let charges = charges_of(api, customer).await;
    assert!(
        subscriptions.is_empty() && invoices.is_empty() && charges.is_empty(),
        "a refused request ({} {}) keeps nothing; kept subscriptions {subscriptions:#?}, \
         invoices {invoices:#?}, charges {charges:#?}",
        refused.status,
        refused.text
    );
}

fn is_off_session(create: &Seen) -> bool {
    create.form.get("off_session").map(String::as_str) == Some("true")
}

/// A customer on the real clock (no test clock) in `country` whose default payment method is
/// `token`.
async fn real_time_customer_with_card(api: &Api, country: &str, token: &str) -> String {
    let body = json!({ "email": "billing@example.com", "address": { "country": country } });
    let customer = str_field(&api.create_customer_with(&body).await, "id").to_string();
    api.add_payment_method(&customer, token).await;
    customer
}

/// A customer in Kenya, on `clock` or on the real clock, whose default payment method is M-Pesa
/// at `PHONE`.
async fn mpesa_customer(api: &Api, clock: Option<&str>) -> String {
    let customer = match clock {
        Some(clock) => api.clock_customer(clock, "KE").await,
        None => {
            let body = json!({ "email": "billing@example.com", "address": { "country": "KE" } });
            str_field(&api.create_customer_with(&body).await, "id").to_string()
        }
    };
    let path = format!("/v1/customers/{customer}/payment_methods");
    let method = api.post(&path, &json!({ "type": "mpesa", "phone": PHONE })).await;
    assert_eq!(method.ok()["gateway"], "mpesa", "{}", method.text);
    customer
}

/// KSh 1,000 a month, VAT included: whole shillings, so no rounding line. Returns its id.
async fn mpesa_plan(api: &Api) -> String {
    let plan = api
        .create_plan(&json!({
            "name": "Student", "amount": 100_000, "currency": "kes", "interval": "month",
            "tax_behavior": "inclusive",
        }))
        .await;
    str_field(&plan, "id").to_string()
}

fn mpesa_subscribe_body(customer: &str, plan: &str) -> Value {
    json!({ "customer": customer, "plan": plan, "collection_method": "charge_automatically" })
}

/// Subscribes `customer` to `plan`, charged automatically by M-Pesa: the answer is 200
/// `incomplete` while the prompt is on the phone. Returns (subscription, invoice, charge).
async fn subscribe_by_mpesa(api: &Api, customer: &str, plan: &str) -> (Value, Value, Value) {
    let subscription = api.subscribe(&mpesa_subscribe_body(customer, plan)).await.ok().clone();
    assert_eq!(subscription["status"], "incomplete", "the prompt is pending: {subscription}");
    assert_eq!(subscription["collection_method"], "charge_automatically", "{subscription}");
    let invoice = api.invoice(str_field(&subscription, "latest_invoice")).await;
    assert_eq!(invoice["status"], "open", "{invoice}");
    assert_eq!(invoice["payment_pending"], true, "{invoice}");
    assert_eq!(invoice["amount_due"], 100_000, "{invoice}");
    let charge = charge_of(api, str_field(&invoice, "charge")).await;
    assert_eq!(charge["status"], "processing", "{charge}");
    assert_eq!(charge["gateway"], "mpesa", "{charge}");
    assert_eq!(charge["amount"], 100_000, "{charge}");
    assert_eq!(charge["invoice"], invoice["id"], "{charge}");
    (subscription, invoice, charge)
}

/// Subscribes `customer` to `plan` with its first period ending at `anchor` (a few seconds
/// ahead): that period's prorated invoice is 0 and paid with no charge, so nothing reaches the
/// gateway before the renewal at the anchor. Returns the subscription's id.
async fn subscribe_anchored(api: &Api, customer: &str, plan: &str, anchor: i64) -> String {
    let body = json!({ "customer": customer, "plan": plan, "billing_cycle_anchor": anchor });
    let subscription = api.subscribe(&body).await.ok().clone();
    assert_eq!(subscription["status"], "active", "{subscription}");
    assert_eq!(subscription["billing_cycle_anchor"], anchor, "{subscription}");
    assert_eq!(subscription["current_period_end"], anchor, "subscribed before the anchor");
    let first = api.invoice(str_field(&subscription, "latest_invoice")).await;
    assert_eq!(first["status"], "paid", "{first}");
    assert_eq!(first["total"], 0, "about two seconds of a month round to 0: {first}");
    assert_eq!(first["amount_due"], 0, "{first}");
    assert_eq!(first["amount_paid"], 0, "{first}");
    assert_eq!(first["charge"], Value::Null, "nothing to charge: {first}");
    str_field(&subscription, "id").to_string()
}

/// Waits (bounded) until the scheduler has renewed `subscription` at its anchor and the
/// renewal's invoice is paid; returns that invoice.
async fn renewal_paid(api: &Api, subscription: &str) -> Value {
    wait_for("the renewal at the anchor to be paid", SETTLE_TIMEOUT, || async {
        let invoices = api.subscription_invoices(subscription).await;
        invoices.get(1).filter(|renewal| renewal["status"] == "paid").cloned()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_below_the_gateways_minimum_is_carried_to_the_balance_and_collected_next() {
    let config = Config::default().with_toml("[gateways.sandbox.min_amount]\nusd = 50\n");
    let engine = Engine::start(config).await;
    let api = engine.api_a();
    let clock = api.create_clock(clock_start()).await;
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let plan = api.plan(30, "usd", "month").await;

    let subscription = api.subscribe_ok(&customer, &plan).await;
    assert_eq!(subscription["status"], "active", "{subscription}");
    let id = str_field(&subscription, "id").to_string();
    let first = api.invoice(str_field(&subscription, "latest_invoice")).await;
    assert_eq!(first["status"], "paid", "{first}");
    assert_eq!(first["total"], 30, "{first}");
    assert_eq!(first["balance_applied"], 30, "the whole total carried: {first}");
    assert_eq!(first["amount_due"], 0, "{first}");
    assert_eq!(first["amount_paid"], 0, "{first}");
    assert_eq!(first["charge"], Value::Null, "below the minimum, nothing charged: {first}");
    assert!(charges_of(&api, &customer).await.is_empty(), "no charge was made");
    assert!(api.ledger().await.is_empty(), "nothing reached the sandbox");
    assert_eq!(customer_balance(&api, &customer).await, 30, "owed by the customer");

    api.advance_clock(&clock, after_first_month()).await;
    let invoices = api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 2, "the first period and the renewal: {invoices:#?}");
    let renewal = &invoices[1];
    assert_eq!(renewal["status"], "paid", "{renewal}");
    assert_eq!(renewal["total"], 30, "{renewal}");
    assert_eq!(renewal["balance_applied"], -30, "the carried 30 added: {renewal}");
    assert_eq!(renewal["amount_due"], 60, "{renewal}");
    assert_eq!(renewal["amount_paid"], 60, "{renewal}");
    let charges = charges_of(&api, &customer).await;
    assert_eq!(charges.len(), 1, "one charge, for the renewal: {charges:#?}");
    assert_eq!(charges[0]["amount"], 60, "{charges:#?}");
    assert_eq!(charges[0]["currency"], "usd");
    assert_eq!(charges[0]["status"], "succeeded");
    assert_eq!(charges[0]["invoice"], renewal["id"]);
    assert_eq!(renewal["charge"], charges[0]["id"], "{renewal}");
    let ledger = api.ledger().await;
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!((&ledger[0]["amount"], &ledger[0]["kind"]), (&json!(60), &json!("charge")));
    assert_eq!(customer_balance(&api, &customer).await, 0, "the carried amount was collected");

    // Exactly the minimum is chargeable.
    let at_minimum = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let plan_of_50 = api.plan(50, "usd", "month").await;
    let subscription = api.subscribe_ok(&at_minimum, &plan_of_50).await;
    assert_eq!(subscription["status"], "active", "{subscription}");
    let invoice = api.invoice(str_field(&subscription, "latest_invoice")).await;
    assert_eq!(invoice["status"], "paid", "{invoice}");
    assert_eq!(invoice["balance_applied"], 0, "{invoice}");
    assert_eq!(invoice["amount_due"], 50, "{invoice}");
    assert_eq!(invoice["amount_paid"], 50, "{invoice}");
    let charges = charges_of(&api, &at_minimum).await;
    assert_eq!(charges.len(), 1, "{charges:#?}");
    assert_eq!(charges[0]["amount"], 50);
    assert_eq!(charges[0]["status"], "succeeded");
    assert_eq!(invoice["charge"], charges[0]["id"], "{invoice}");
    assert_eq!(customer_balance(&api, &at_minimum).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_renewals_are_made_off_session_and_requests_charges_are_not() {
    let stripe = FakeStripe::start().await;
    let engine = Engine::start(stripe_config(&stripe, "").with_toml(FAST_SCHEDULER)).await;
    let api = engine.api_a();
    let plan = api.plan(2_000, "usd", "month").await;

    // A request's charge and a first invoice charged at the subscribe: the customer is there.
    let payer = real_time_customer_with_card(&api, "US", "pm_card_visa").await;
    let charge = api.charge_ok(&payer, 2_000, "usd").await;
    let subscriber = real_time_customer_with_card(&api, "US", "pm_card_visa").await;
    let subscription = api.subscribe_ok(&subscriber, &plan).await;
    assert_eq!(subscription["status"], "active", "{subscription}");
    let first = api.invoice(str_field(&subscription, "latest_invoice")).await;
    assert_eq!(first["status"], "paid", "{first}");
    assert_eq!(first["amount_paid"], 2_000, "{first}");
    let creates = stripe.intent_creates();
    assert_eq!(creates.len(), 2, "{creates:#?}");
    assert_eq!(creates[0].idempotency_key.as_deref(), charge["id"].as_str());
    assert_eq!(creates[1].idempotency_key.as_deref(), first["charge"].as_str());
    for create in &creates {
        assert!(
            !create.form.contains_key("off_session"),
            "a charge made while the customer is there is on-session: {:?}",
            create.form
        );
    }

    // A renewal, made by the scheduler at the anchor: the customer is not there.
    let renewing = real_time_customer_with_card(&api, "US", "pm_card_visa").await;
    let anchor = now_secs() as i64 + ANCHOR_DELAY_SECS;
    let id = subscribe_anchored(&api, &renewing, &plan, anchor).await;
    assert_eq!(stripe.intent_creates().len(), 2, "nothing charged for the first ~2 s");
    let renewal = renewal_paid(&api, &id).await;
    assert_eq!(period_of(&renewal).0, anchor, "{renewal}");
    assert_eq!(renewal["total"], 2_000, "the whole plan: {renewal}");
    assert_eq!(renewal["amount_paid"], 2_000, "{renewal}");
    let creates = stripe.intent_creates();
    assert_eq!(creates.len(), 3, "one more PaymentIntent, for the renewal: {creates:#?}");
    assert_eq!(creates[2].idempotency_key.as_deref(), renewal["charge"].as_str());
    assert_eq!(creates[2].form["amount"], "2000");
    assert_eq!(creates[2].form.get("off_session").map(String::as_str), Some("true"));
    let charge = charge_of(&api, str_field(&renewal, "charge")).await;
    assert_eq!(charge["gateway"], "stripe", "{charge}");
    assert_eq!(charge["status"], "succeeded", "{charge}");
    let renewed = api.subscription(&id).await;
    assert_eq!(renewed["status"], "active", "{renewed}");
    assert_eq!(renewed["current_period_start"], anchor, "{renewed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_whatever_its_key_is_refused_for_a_clock_customer_and_nothing_reaches_it() {
    let stripe = FakeStripe::start().await;
    let engine = Engine::start(stripe_config(&stripe, "")).await;
    let api = engine.api_a();
    let clock = api.create_clock(clock_start()).await;
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let plan = api.plan(2_000, "usd", "month").await;
    let seen_before = stripe.seen().len();

    let refused = api.subscribe(&json!({ "customer": customer, "plan": plan })).await;
    assert_error(&refused, 400, "test_clock_live_gateway");
    assert_nothing_billed(&api, &customer, &refused).await;
    let refused = api.charge(&customer, 2_000, "usd").await;
    assert_error(&refused, 400, "test_clock_live_gateway");
    assert_nothing_billed(&api, &customer, &refused).await;
    let seen = stripe.seen();
    assert_eq!(seen.len(), seen_before, "nothing was sent to Stripe: {:#?}", &seen[seen_before..]);
    assert_eq!(stripe.intents_created(), 0);

    // The same Stripe serves a customer on the real clock: the refusal is the clock's.
    let on_real_clock = real_time_customer_with_card(&api, "US", "pm_card_visa").await;
    let subscription = api.subscribe_ok(&on_real_clock, &plan).await;
    assert_eq!(subscription["status"], "active", "{subscription}");
    let creates = stripe.intent_creates();
    assert_eq!(creates.len(), 1, "{creates:#?}");
    assert_eq!(creates[0].form["amount"], "2000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_gateway_beside_the_sandbox_is_refused_for_a_clock_customer_only() {
    let stripe = FakeStripe::start().await;
    let rule = r#"[[routing.rules]]
method_types = ["card"]
gateways = ["sandbox", "stripe"]
"#;
    let config = Config::default().with_toml(&stripe_section(&stripe, "")).with_toml(rule);
    let engine = Engine::start(config).await;
    let api = engine.api_a();
    let clock = api.create_clock(clock_start()).await;
    let on_clock = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;

    let refused = api.charge(&on_clock, 1_000, "usd").await;
    assert_error(&refused, 400, "test_clock_live_gateway");
    assert_nothing_billed(&api, &on_clock, &refused).await;
    let plan = api.plan(1_000, "usd", "month").await;
    let refused = api.subscribe(&json!({ "customer": on_clock, "plan": plan })).await;
    assert_error(&refused, 400, "test_clock_live_gateway");
    assert_nothing_billed(&api, &on_clock, &refused).await;
    assert!(api.ledger().await.is_empty(), "the sandbox charged nothing");

    let on_real_clock = real_time_customer_with_card(&api, "US", "pm_card_visa").await;
    let charge = api.charge_ok(&on_real_clock, 1_000, "usd").await;
    assert_eq!(charge["gateway"], "sandbox", "{charge}");
    assert_eq!(charge["gateway_attempt"], 1, "{charge}");
    let ledger = api.ledger().await;
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!(ledger[0]["idempotency_key"], charge["id"]);
    assert!(stripe.seen().is_empty(), "Stripe was never asked: {:#?}", stripe.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewals_sent_to_stripe_wait_for_evenly_spaced_slots() {
    const CUSTOMERS: usize = 8;
    /// 1 / `renewals_per_sec` (5).
    const SLOT: Duration = Duration::from_millis(200);
    /// Scheduling noise allowed on each side of a slot.
    const TOLERANCE: Duration = Duration::from_millis(50);
    let stripe = FakeStripe::start().await;
    let config = stripe_config(&stripe, "renewals_per_sec = 5").with_toml(FAST_SCHEDULER);
    let engine = Engine::start(config).await;
    let api = engine.api_a();
    let plan = api.plan(1_000, "usd", "month").await;
    let mut customers = Vec::new();
    for _ in 0..CUSTOMERS {
        customers.push(real_time_customer_with_card(&api, "US", "pm_card_visa").await);
    }

    // All renew at the same instant: the scheduler hands the gateway a burst of eight.
    let anchor = now_secs() as i64 + ANCHOR_DELAY_SECS;
    let mut subscriptions = Vec::new();
    for customer in &customers {
        subscriptions.push(subscribe_anchored(&api, customer, &plan, anchor).await);
    }
    assert!(stripe.intent_creates().is_empty(), "nothing charged before the anchor");
    let mut renewal_charges = Vec::new();
    for id in &subscriptions {
        let renewal = renewal_paid(&api, id).await;
        assert_eq!(period_of(&renewal).0, anchor, "{renewal}");
        assert_eq!(renewal["amount_paid"], 1_000, "{renewal}");
        renewal_charges.push(str_field(&renewal, "charge").to_string());
    }

    let renewals = stripe.intent_creates();
    assert_eq!(renewals.len(), CUSTOMERS, "one create per renewal: {renewals:#?}");
    assert!(renewals.iter().all(is_off_session), "{renewals:#?}");
    let mut keys: Vec<String> =
        renewals.iter().filter_map(|create| create.idempotency_key.clone()).collect();
    keys.sort();
    renewal_charges.sort();
    assert_eq!(keys, renewal_charges, "each create is a renewal's charge");
    let span = renewals[CUSTOMERS - 1].at - renewals[0].at;
    let gaps: Vec<Duration> = renewals.windows(2).map(|pair| pair[1].at - pair[0].at).collect();
    assert!(
        span >= SLOT * (CUSTOMERS as u32 - 1) - TOLERANCE,
        "{CUSTOMERS} renewals at 5/s span at least 7 slots; span {span:?}, gaps {gaps:?}"
    );
    // The pacer books evenly spaced slots; a request may leave its slot late (a busy
    // machine) and the next on time, so the guarantee is cumulative: the k-th arrives no
    // earlier than k slots after the first.
    for (k, renewal) in renewals.iter().enumerate() {
        let since_first = renewal.at - renewals[0].at;
        assert!(
            since_first >= (SLOT * k as u32).saturating_sub(TOLERANCE),
            "renewal {k} arrived {since_first:?} after the first, before its slot: gaps {gaps:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mpesa_subscription_is_incomplete_until_paid_and_a_failed_prompt_is_not_repeated() {
    let daraja = FakeDaraja::start().await;
    let engine = Engine::start(mpesa_config(&daraja).with_toml(FAST_SCHEDULER)).await;
    let api = engine.api_a();
    let plan = mpesa_plan(&api).await;

    // Paid: the callback makes the subscription active and its invoice paid.
    let payer = mpesa_customer(&api, None).await;
    let (subscription, invoice, charge) = subscribe_by_mpesa(&api, &payer, &plan).await;
    let pushes = daraja.pushes();
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(pushes[0]["Amount"], 1_000, "{pushes:?}");
    assert_eq!(pushes[0]["PhoneNumber"], "254712345678");
    let checkout = str_field(&charge, "gateway_reference").to_string();
    assert_eq!(daraja.checkout_request_ids(), std::slice::from_ref(&checkout));
    post_mpesa_callback(&engine, &mpesa_callback(&checkout, 0, 1_000)).await;
    let id = str_field(&subscription, "id").to_string();
    let active = wait_for("the subscription to be active", SETTLE_TIMEOUT, || async {
        let subscription = api.subscription(&id).await;
        (subscription["status"] != "incomplete").then_some(subscription)
    })
    .await;
    assert_eq!(active["status"], "active", "{active}");
    let paid = api.invoice(str_field(&invoice, "id")).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(paid["amount_paid"], 100_000, "{paid}");
    assert_eq!(paid["payment_pending"], false, "{paid}");
    assert_eq!(charge_of(&api, str_field(&charge, "id")).await["status"], "succeeded");

    // Unreachable: the charge fails, the invoice stays open, the subscription incomplete, and
    // the scheduler does not prompt again.
    let unreachable = mpesa_customer(&api, None).await;
    let (subscription, invoice, charge) = subscribe_by_mpesa(&api, &unreachable, &plan).await;
    assert_eq!(daraja.pushes().len(), 2, "one push per subscribe");
    let checkout = str_field(&charge, "gateway_reference").to_string();
    post_mpesa_callback(&engine, &mpesa_callback(&checkout, 1037, 1_000)).await;
    let charge_id = str_field(&charge, "id").to_string();
    let failed = wait_for("the charge to fail", SETTLE_TIMEOUT, || async {
        let charge = charge_of(&api, &charge_id).await;
        (charge["status"] != "processing").then_some(charge)
    })
    .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["failure_code"], "customer_unreachable", "{failed}");
    let invoice_id = str_field(&invoice, "id").to_string();
    let open = api.invoice(&invoice_id).await;
    assert_eq!(open["status"], "open", "{open}");
    assert_eq!(open["payment_pending"], false, "its latest charge is final: {open}");
    assert_eq!(open["charge"], charge_id.as_str(), "{open}");
    let id = str_field(&subscription, "id").to_string();
    assert_eq!(api.subscription(&id).await["status"], "incomplete");
    // Two pushes in all: the payer's and this customer's one.
    let settled = (2, "incomplete".to_string(), open.clone(), vec![charge_id.clone()]);
    assert_stays(
        "the unreachable customer's billing",
        &settled,
        (QUIET_PERIOD, QUIET_PROBE_INTERVAL),
        || async {
            let pushes = daraja.pushes().len();
            let status = str_field(&api.subscription(&id).await, "status").to_string();
            let invoice = api.invoice(&invoice_id).await;
            let charges = ids(&charges_of(&api, &unreachable).await);
            (pushes, status, invoice, charges)
        },
    )
    .await;
    assert_eq!(api.subscription(str_field(&active, "id")).await["status"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpesa_is_refused_for_a_clock_customer_and_nothing_is_kept() {
    let daraja = FakeDaraja::start().await;
    let engine = Engine::start(mpesa_config(&daraja)).await;
    let api = engine.api_a();
    let plan = mpesa_plan(&api).await;
    let clock = api.create_clock(clock_start()).await;
    let customer = mpesa_customer(&api, Some(&clock)).await;

    let refused = api.subscribe(&mpesa_subscribe_body(&customer, &plan)).await;
    assert_error(&refused, 400, "test_clock_live_gateway");
    assert_nothing_billed(&api, &customer, &refused).await;
    let refused = api.charge(&customer, 100_000, "kes").await;
    assert_error(&refused, 400, "test_clock_live_gateway");
    assert_nothing_billed(&api, &customer, &refused).await;
    assert!(daraja.pushes().is_empty(), "no prompt: {:?}", daraja.pushes());
}
