//! Payment plans: a total paid in instalments, each an invoice charged when due.
//!
//! Proves that a plan splits its total into integer instalments that sum exactly to it, the
//! remainder on the first (1000 in 3: 334, 333, 333), due a calendar month apart from a
//! month-end start (Jan 31, Feb 28, Mar 31, clamped and restored), each invoiced and charged at
//! its due instant on a test clock and not a second before, one charge per instalment, the plan
//! `paid` with the last; that awkward totals (1 in 2), instalment counts outside 2..=24, other
//! intervals, negative or unknown amounts and currencies, unknown fields, another currency than
//! the customer's and a customer with nothing to charge are each refused with 400 and change
//! nothing; that a missed instalment goes through the account's dunning (`past_due`, retries on
//! days 1, 3, 5, 7) and the plan's grants last until its grace ends (day 8 with the defaults) to
//! the second, and come back when a new default card pays it; that `pay_remaining` puts every
//! unpaid instalment on one invoice and pays it, voiding the instalment invoice it replaces;
//! that `cancel` voids what is open and upcoming and ends the grants; and that a plan request
//! sent again with its Idempotency-Key makes one plan.
//! How: a fresh engine per test (see `common`), customers on test clocks, the sandbox's
//! declining tokens; every due instalment and retry runs by advancing the clock.

mod common;

use common::*;

const DAY: i64 = 24 * 60 * 60;

async fn create_plan(api: &Api, body: &Value) -> Resp {
    api.post("/v1/payment_plans", body).await
}

async fn plan(api: &Api, id: &str) -> Value {
    api.get_ok(&format!("/v1/payment_plans/{id}")).await
}

fn schedule_field(plan: &Value, field: &str) -> Vec<Value> {
    let schedule = plan["schedule"].as_array().unwrap_or_else(|| panic!("no schedule: {plan}"));
    schedule.iter().map(|instalment| instalment[field].clone()).collect()
}

/// `(feature, source, expires_at)` of the customer's entitlements.
async fn entitlements(api: &Api, customer: &str) -> Vec<(String, String, Option<i64>)> {
    let list = api.get_ok(&format!("/v1/customers/{customer}/entitlements")).await;
    let data = list["data"].as_array().unwrap_or_else(|| panic!("no `data` in {list}"));
    data.iter()
        .map(|grant| {
            let (feature, source) = (str_field(grant, "feature"), str_field(grant, "source"));
            (feature.to_owned(), source.to_owned(), grant["expires_at"].as_i64())
        })
        .collect()
}

async fn succeeded_amounts(api: &Api, customer: &str) -> Vec<u64> {
    let charges = api.customer_charges(customer).await;
    let mut amounts: Vec<u64> = charges
        .iter()
        .filter(|charge| charge["status"] == "succeeded")
        .map(|charge| u64_field(charge, "amount"))
        .collect();
    amounts.sort_unstable();
    amounts
}

/// Makes a new card of `token` the customer's default payment method.
async fn default_to(api: &Api, customer: &str, token: &str) {
    let method = api.add_payment_method(customer, token).await;
    let body = json!({"default_payment_method": method["id"]});
    api.post(&format!("/v1/customers/{customer}"), &body).await.ok();
}

#[tokio::test]
async fn instalments_sum_exactly_and_are_charged_when_due_from_a_month_end() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let jan_31 = utc(2027, 1, 31, 9, 0, 0);
    let (feb_28, mar_31) = (utc(2027, 2, 28, 9, 0, 0), utc(2027, 3, 31, 9, 0, 0));
    let clock = api.create_clock(jan_31).await;
    let customer = api.clock_customer_with_card(&clock, "ZA", "pm_card_visa").await;
    let body = json!({
        "customer": customer, "amount": 1000, "currency": "zar", "instalments": 3,
        "interval": "month", "description": "2027 school fees", "grants": ["school:2027"],
    });
    let created = create_plan(&api, &body).await.ok().clone();
    let id = str_field(&created, "id").to_owned();
    assert!(id.starts_with("pp_"), "{created}");
    assert_eq!(schedule_field(&created, "amount"), [json!(334), json!(333), json!(333)]);
    assert_eq!(schedule_field(&created, "due"), [json!(jan_31), json!(feb_28), json!(mar_31)]);
    assert_eq!(
        schedule_field(&created, "status"),
        [json!("paid"), json!("upcoming"), json!("upcoming")],
        "the first is due at once: charged before the answer"
    );
    assert_eq!(
        (created["status"].clone(), created["amount_remaining"].clone()),
        (json!("active"), json!(666))
    );
    let first = api.invoice(created["schedule"][0]["invoice"].as_str().unwrap()).await;
    assert_eq!(first["billing_reason"], "payment_plan", "{first}");
    assert_eq!(first["payment_plan"], id.as_str(), "{first}");
    assert_eq!((first["total"].clone(), first["status"].clone()), (json!(334), json!("paid")));
    let entitled = vec![("school:2027".to_owned(), id.clone(), None)];
    assert_eq!(entitlements(&api, &customer).await, entitled);

    api.advance_clock(&clock, feb_28 - 1).await;
    assert_eq!(plan(&api, &id).await["schedule"][1]["status"], "upcoming", "not a second early");
    api.advance_clock(&clock, feb_28).await;
    assert_eq!(plan(&api, &id).await["schedule"][1]["status"], "paid");
    api.advance_clock(&clock, mar_31).await;
    let paid = plan(&api, &id).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(
        (paid["amount_paid"].clone(), paid["amount_remaining"].clone()),
        (json!(1000), json!(0))
    );
    assert_eq!(paid["paid_at"], mar_31, "{paid}");

    let invoices = api.customer_invoices(&customer).await;
    let totals: Vec<i64> =
        invoices.iter().map(|invoice| invoice["total"].as_i64().unwrap()).collect();
    assert_eq!(totals, [334, 333, 333], "one invoice per instalment, summing to the total");
    assert_eq!(succeeded_amounts(&api, &customer).await, [333, 333, 334], "one charge each");
    assert_eq!(entitlements(&api, &customer).await, entitled, "a paid plan keeps its grants");
    api.advance_clock(&clock, mar_31 + 90 * DAY).await;
    assert_eq!(api.customer_invoices(&customer).await.len(), 3, "nothing more is invoiced");
    let listed = api.get_ok(&format!("/v1/customers/{customer}/payment_plans")).await;
    assert_eq!(ids(listed["data"].as_array().unwrap()), [id]);
}

#[tokio::test]
async fn bad_plans_are_refused_and_change_nothing() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let bare = api.create_customer().await;
    let valid = json!({
        "customer": customer, "amount": 1000, "currency": "usd", "instalments": 3,
        "interval": "month",
    });
    let with_all = |fields: &[(&str, Value)]| {
        let mut body = valid.clone();
        for (field, value) in fields {
            body[*field] = value.clone();
        }
        body
    };
    let with = |field: &str, value: Value| with_all(&[(field, value)]);
    let refusals = [
        (
            with_all(&[("amount", json!(1)), ("instalments", json!(2))]),
            "validation_error",
            "amount",
        ),
        (
            with_all(&[("amount", json!(23)), ("instalments", json!(24))]),
            "validation_error",
            "amount",
        ),
        (with("instalments", json!(1)), "validation_error", "instalments"),
        (with("instalments", json!(25)), "validation_error", "instalments"),
        (with("interval", json!("year")), "validation_error", "interval"),
        (with("amount", json!(-1000)), "validation_error", "amount"),
        (with("amount", json!(1.5)), "validation_error", "amount"),
        (with("currency", json!("xxx")), "currency_invalid", "currency"),
        (with("unknown", json!(true)), "validation_error", "unknown"),
        (with("grants", json!(["a", "a"])), "validation_error", "grants"),
        (with("start", json!(-1)), "validation_error", "start"),
        (with("customer", json!(bare)), "payment_method_invalid", "payment_method"),
    ];
    for (body, code, param) in refusals {
        let refused = create_plan(&api, &body).await;
        assert_error(&refused, 400, code);
        assert_eq!(refused.body["error"]["param"], param, "{body}: {}", refused.text);
    }
    // The customer bills in one currency.
    api.charge_ok(&customer, 500, "usd").await;
    create_plan(&api, &valid).await.ok();
    let refused = create_plan(&api, &with("currency", json!("zar"))).await;
    assert_error(&refused, 400, "currency_mismatch");

    for who in [&customer, &bare] {
        let plans = api.get_ok(&format!("/v1/customers/{who}/payment_plans")).await;
        let expected = if who == &customer { 1 } else { 0 };
        assert_eq!(plans["data"].as_array().unwrap().len(), expected, "{plans}");
    }
    assert_eq!(api.customer_invoices(&bare).await.len(), 0);
    assert_eq!(api.customer_invoices(&customer).await.len(), 1, "only the valid plan's first");
    let missing = api.get("/v1/payment_plans/pp_01KG4A2B3C4D5E6F7G8H9J0K1M").await;
    assert_error(&missing, 404, "not_found");
}

#[tokio::test]
async fn a_missed_instalment_is_dunned_and_its_grants_end_with_the_grace() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let jan_1 = utc(2025, 1, 1, 0, 0, 0);
    let feb_1 = utc(2025, 2, 1, 0, 0, 0);
    let clock = api.create_clock(jan_1).await;
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let body = json!({
        "customer": customer, "amount": 90_000, "currency": "usd", "instalments": 3,
        "interval": "month", "grants": ["bursary:maths"],
    });
    let id = create_plan(&api, &body).await.id();
    default_to(&api, &customer, "pm_card_chargeDeclined").await;

    api.advance_clock(&clock, feb_1).await;
    let behind = plan(&api, &id).await;
    assert_eq!(behind["status"], "past_due", "{behind}");
    assert_eq!(behind["schedule"][1]["status"], "open", "{behind}");
    assert_eq!(behind["next_payment_attempt"], feb_1 + DAY, "{behind}");
    let grace_end = feb_1 + 8 * DAY;
    let in_grace = vec![("bursary:maths".to_owned(), id.clone(), Some(grace_end))];
    assert_eq!(entitlements(&api, &customer).await, in_grace);

    let invoice_id = behind["schedule"][1]["invoice"].as_str().unwrap().to_owned();
    for (day, attempts) in [(1, 2), (3, 3), (5, 4), (7, 5)] {
        api.advance_clock(&clock, feb_1 + day * DAY - 1).await;
        assert_eq!(api.invoice(&invoice_id).await["attempt_count"], attempts - 1, "day {day}");
        api.advance_clock(&clock, feb_1 + day * DAY).await;
        assert_eq!(api.invoice(&invoice_id).await["attempt_count"], attempts, "day {day}");
    }
    let exhausted = plan(&api, &id).await;
    assert_eq!(exhausted["status"], "past_due", "{exhausted}");
    assert!(exhausted["next_payment_attempt"].is_null(), "{exhausted}");
    api.advance_clock(&clock, grace_end - 1).await;
    assert_eq!(entitlements(&api, &customer).await, in_grace, "the grace's last second");
    api.advance_clock(&clock, grace_end).await;
    assert_eq!(entitlements(&api, &customer).await, [], "the grace is over");

    default_to(&api, &customer, "pm_card_visa").await;
    api.advance_clock(&clock, grace_end + 1).await;
    let caught_up = plan(&api, &id).await;
    assert_eq!(caught_up["status"], "active", "{caught_up}");
    assert_eq!(caught_up["schedule"][1]["status"], "paid", "{caught_up}");
    assert_eq!(
        entitlements(&api, &customer).await,
        [("bursary:maths".to_owned(), id.clone(), None)]
    );
    api.advance_clock(&clock, utc(2025, 3, 1, 0, 0, 0)).await;
    assert_eq!(plan(&api, &id).await["status"], "paid");
    assert_eq!(succeeded_amounts(&api, &customer).await, [30_000, 30_000, 30_000]);
}

#[tokio::test]
async fn paying_the_rest_early_and_cancelling() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let start = utc(2025, 6, 2, 8, 0, 0);
    let clock = api.create_clock(start).await;
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let body = |grants: Value| {
        json!({
            "customer": customer, "amount": 1_001, "currency": "usd", "instalments": 4,
            "interval": "week", "grants": grants,
        })
    };
    let early = create_plan(&api, &body(json!(["course:a"]))).await.id();
    default_to(&api, &customer, "pm_card_chargeDeclined").await;
    api.advance_clock(&clock, start + 7 * DAY).await;
    let behind = plan(&api, &early).await;
    assert_eq!(behind["status"], "past_due", "{behind}");
    let replaced = behind["schedule"][1]["invoice"].as_str().unwrap().to_owned();

    default_to(&api, &customer, "pm_card_visa").await;
    let path = format!("/v1/payment_plans/{early}/pay_remaining");
    let paid = api.post(&path, &json!({})).await.ok().clone();
    assert_eq!(paid["status"], "paid", "{paid}");
    let invoices: Vec<Value> = schedule_field(&paid, "invoice");
    assert_eq!(invoices[1], invoices[2], "the rest on one invoice: {paid}");
    assert_eq!(invoices[2], invoices[3], "{paid}");
    let rest = api.invoice(invoices[1].as_str().unwrap()).await;
    assert_eq!((rest["total"].clone(), rest["status"].clone()), (json!(750), json!("paid")));
    assert_eq!(api.invoice(&replaced).await["status"], "void", "the replaced invoice");
    assert_error(&api.post(&path, &json!({})).await, 400, "payment_plan_state_invalid");

    let start_later = start + 7 * DAY;
    let canceled_plan = create_plan(&api, &body(json!(["course:b"]))).await.id();
    let before = entitlements(&api, &customer).await;
    assert!(before.iter().any(|(feature, _, _)| feature == "course:b"), "{before:?}");
    let cancel = format!("/v1/payment_plans/{canceled_plan}/cancel");
    let canceled = api.post(&cancel, &json!({})).await.ok().clone();
    assert_eq!(canceled["status"], "canceled", "{canceled}");
    assert_eq!(canceled["canceled_at"], start_later, "{canceled}");
    assert_eq!(
        schedule_field(&canceled, "status"),
        [json!("paid"), json!("void"), json!("void"), json!("void")]
    );
    let after = entitlements(&api, &customer).await;
    assert!(after.iter().all(|(feature, _, _)| feature != "course:b"), "{after:?}");
    assert_error(&api.post(&cancel, &json!({})).await, 400, "payment_plan_state_invalid");
    let invoiced = api.customer_invoices(&customer).await.len();
    api.advance_clock(&clock, start + 60 * DAY).await;
    assert_eq!(api.customer_invoices(&customer).await.len(), invoiced, "nothing after cancel");
}

#[tokio::test]
async fn a_plan_sent_again_with_its_key_is_made_once() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let body = json!({
        "customer": customer, "amount": 5_000, "currency": "usd", "instalments": 2,
        "interval": "week",
    });
    let key = unique_key("plan");
    let first = api.post_with_key("/v1/payment_plans", &body, &key).await;
    let again = api.post_with_key("/v1/payment_plans", &body, &key).await;
    assert_eq!(first.ok()["id"], again.ok()["id"]);
    assert!(again.is_replay(), "{}", again.text);
    let plans = api.get_ok(&format!("/v1/customers/{customer}/payment_plans")).await;
    assert_eq!(plans["data"].as_array().unwrap().len(), 1, "{plans}");
    assert_eq!(succeeded_amounts(&api, &customer).await, [2_500], "charged once");
}
