//! Plans: what a platform's price catalogue can and cannot do.
//!
//! Proves that a plan is created with every documented field and reads back the same, and that
//! one given only its name, amount, currency and interval takes the documented defaults (one
//! interval, its own id as sku, no trial, no features, VAT-inclusive for a South African seller,
//! active); that a free plan (amount 0) is a plan; that the amount, currency, interval,
//! interval_count, sku, trial_days and tax_behavior of a plan never change (400
//! `plan_immutable`, also when sent beside a field that may change, and the plan reads back as
//! before) while name, features, metadata and `active` do; that an inactive plan takes no new
//! subscription (400 `plan_inactive`, nothing made) while the subscriptions it has keep renewing;
//! that the list filters on `active`; that another account can neither read, change nor
//! subscribe to a plan (it is answered as an unknown plan is); and that each malformed plan is a
//! 400 that creates nothing.
//! How: a fresh engine per test (see `common`), driven only over HTTP; anything that renews runs
//! on a test clock, never on the wall clock.

mod common;

use common::*;

/// 2024-01-01T00:00:00Z: where the clocks of these tests start.
fn jan_1() -> i64 {
    utc(2024, 1, 1, 0, 0, 0)
}

fn full_plan_body() -> Value {
    json!({
        "name": "Family Premium",
        "amount": 14_900,
        "currency": "zar",
        "interval": "month",
        "interval_count": 3,
        "sku": "family-premium-quarterly",
        "trial_days": 14,
        "features": ["offline_lessons", "family_seats"],
        "tax_behavior": "exclusive",
        "metadata": {"tier": "premium"},
    })
}

/// A well-formed id of the same kind that names nothing (its last character changed).
fn unknown_id_like(id: &str) -> String {
    let mut unknown = id.to_string();
    let last = unknown.pop().expect("a non-empty id");
    unknown.push(if last == '0' { '1' } else { '0' });
    unknown
}

/// A body with one field set: `{field: value}`.
fn one_field(field: &str, value: Value) -> Value {
    let mut body = serde_json::Map::new();
    body.insert(field.to_string(), value);
    Value::Object(body)
}

#[tokio::test]
async fn a_plan_is_created_with_every_field_and_reads_back_the_same() {
    let started = now_secs();
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();

    let plan = api.create_plan(&full_plan_body()).await;
    let id = str_field(&plan, "id");
    assert!(id.starts_with("plan_"), "plan id: {plan}");
    assert_eq!(plan["object"], "plan");
    for (field, value) in full_plan_body().as_object().expect("an object") {
        assert_eq!(&plan[field], value, "field `{field}` of {plan}");
    }
    assert_eq!(plan["active"], true, "a new plan is active: {plan}");
    assert_created_recently(&plan, started);
    assert_eq!(api.get_ok(&format!("/v1/plans/{id}")).await, plan, "GET reads back the answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_given_only_the_required_fields_takes_the_documented_defaults() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let body = json!({"name": "Basic", "amount": 5_000, "currency": "zar", "interval": "month"});

    let plan = api.create_plan(&body).await;
    assert_eq!(plan["interval_count"], 1, "{plan}");
    assert_eq!(plan["sku"], plan["id"], "the sku defaults to the plan id: {plan}");
    assert!(plan["trial_days"] == 0 || plan["trial_days"].is_null(), "no trial by default: {plan}");
    assert_eq!(plan["features"], json!([]), "{plan}");
    // The harness's seller is in ZA, where consumer prices must include VAT.
    assert_eq!(plan["tax_behavior"], "inclusive", "{plan}");
    assert_eq!(plan["active"], true, "{plan}");
    assert_eq!(plan["metadata"], json!({}), "{plan}");

    // No trial in practice either: a subscription to it is paid and active at once.
    let clock = api.create_clock(jan_1()).await;
    let customer = api.clock_customer_with_card(&clock, "ZA", "pm_card_visa").await;
    let subscription = api.subscribe_ok(&customer, str_field(&plan, "id")).await;
    assert_eq!(subscription["status"], "active", "{subscription}");
    assert!(subscription["trial_end"].is_null(), "{subscription}");
}

#[tokio::test]
async fn a_free_plan_of_amount_0_is_a_plan() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let body = json!({"name": "Free", "amount": 0, "currency": "kes", "interval": "month"});

    let plan = api.create_plan(&body).await;
    assert_eq!(plan["amount"], 0, "{plan}");
    assert_eq!(plan["active"], true, "{plan}");
    let read = api.get_ok(&format!("/v1/plans/{}", str_field(&plan, "id"))).await;
    assert_eq!(read, plan);
}

#[tokio::test]
async fn the_price_and_interval_of_a_plan_never_change() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let plan = api.create_plan(&full_plan_body()).await;
    let path = format!("/v1/plans/{}", str_field(&plan, "id"));

    let changes = [
        ("amount", json!(19_900)),
        ("currency", json!("usd")),
        ("interval", json!("year")),
        ("interval_count", json!(1)),
        ("sku", json!("another-sku")),
        ("trial_days", json!(30)),
        ("tax_behavior", json!("inclusive")),
    ];
    let mut problems = Vec::new();
    for (field, value) in changes {
        let alone = api.post(&path, &one_field(field, value.clone())).await;
        let mut beside_a_name = one_field(field, value);
        beside_a_name["name"] = json!("Renamed");
        let beside_a_name = api.post(&path, &beside_a_name).await;
        for (how, response) in [("alone", alone), ("beside a new name", beside_a_name)] {
            if response.status != 400 || response.error_code() != Some("plan_immutable") {
                problems.push(format!(
                    "{field} {how}: expected 400 plan_immutable, got {}: {}",
                    response.status, response.text
                ));
            } else if let Some(problem) = error_shape_problem(&response) {
                problems.push(format!("{field} {how}: {problem}"));
            }
        }
    }
    assert!(problems.is_empty(), "immutable fields were not refused:\n{}", problems.join("\n"));
    // A card number is refused as card data, even in a field that may not change.
    let card = api.post(&path, &one_field("sku", json!("4242 4242 4242 4242"))).await;
    assert_error(&card, 400, "validation_error");
    assert_eq!(card.body["error"]["param"], "sku", "{}", card.text);
    assert_eq!(api.get_ok(&path).await, plan, "nothing of the plan changed, not even its name");
}

#[tokio::test]
async fn name_active_features_and_metadata_can_be_updated() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let plan = api.create_plan(&full_plan_body()).await;
    let path = format!("/v1/plans/{}", str_field(&plan, "id"));

    let change = json!({
        "name": "Family Premium (2025)",
        "active": false,
        "features": ["offline_lessons"],
        "metadata": {"tier": "legacy"},
    });
    let updated = api.post(&path, &change).await.ok().clone();
    for (field, value) in change.as_object().expect("an object") {
        assert_eq!(&updated[field], value, "updated `{field}`: {updated}");
    }
    for field in [
        "id",
        "amount",
        "currency",
        "interval",
        "interval_count",
        "sku",
        "trial_days",
        "tax_behavior",
        "created",
    ] {
        assert_eq!(updated[field], plan[field], "`{field}` is untouched: {updated}");
    }
    assert_eq!(api.get_ok(&path).await, updated, "the update is what reads back");

    let active_again = api.post(&path, &json!({"active": true})).await.ok().clone();
    assert_eq!(active_again["active"], true, "{active_again}");
    assert_eq!(active_again["name"], "Family Premium (2025)", "the other fields stay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inactive_plan_takes_no_new_subscription_but_its_subscriptions_renew() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let clock = api.create_clock(jan_1()).await;
    let plan = api.plan(1_000, "usd", "month").await;
    let plan_path = format!("/v1/plans/{plan}");
    let subscriber = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let existing = api.subscribe_ok(&subscriber, &plan).await;
    let existing = str_field(&existing, "id");

    api.post(&plan_path, &json!({"active": false})).await.ok();
    let newcomer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let refused = api.subscribe(&json!({"customer": newcomer, "plan": plan})).await;
    assert_error(&refused, 400, "plan_inactive");
    assert!(api.customer_subscriptions(&newcomer).await.is_empty(), "no subscription was made");
    assert!(api.customer_invoices(&newcomer).await.is_empty(), "no invoice was made");
    assert!(api.customer_charges(&newcomer).await.is_empty(), "nothing was charged");

    api.advance_clock(&clock, utc(2024, 2, 1, 1, 0, 0)).await;
    let invoices = api.subscription_invoices(existing).await;
    assert_eq!(invoices.len(), 2, "the existing subscription renewed: {invoices:?}");
    assert_eq!(invoices[1]["status"], "paid", "{}", invoices[1]);
    assert_eq!(period_of(&invoices[1]), (utc(2024, 2, 1, 0, 0, 0), utc(2024, 3, 1, 0, 0, 0)));

    api.post(&plan_path, &json!({"active": true})).await.ok();
    let accepted = api.subscribe_ok(&newcomer, &plan).await;
    assert_eq!(accepted["status"], "active", "an active plan takes subscriptions again");
}

#[tokio::test]
async fn the_plan_list_is_newest_first_and_filters_on_active() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let first = api.plan(1_000, "usd", "month").await;
    let second = api.plan(10_000, "usd", "year").await;
    let third = api.plan(300, "usd", "week").await;
    api.post(&format!("/v1/plans/{second}"), &json!({"active": false})).await.ok();

    let all = ids(&api.list_all("/v1/plans", "id").await);
    assert_eq!(all, [third.clone(), second.clone(), first.clone()]);
    let active = ids(&api.list_all("/v1/plans?active=true", "id").await);
    assert_eq!(active, [third, first]);
    let inactive = ids(&api.list_all("/v1/plans?active=false", "id").await);
    assert_eq!(inactive, [second]);

    let page = api.get_ok("/v1/plans?limit=1").await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page["has_more"], true, "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_accounts_plan_can_be_neither_read_changed_nor_subscribed_to() {
    let engine = Engine::start(Config::default()).await;
    let (api_a, api_b) = (engine.api_a(), engine.api_b());
    let plan = api_a.create_plan(&full_plan_body()).await;
    let plan_id = str_field(&plan, "id");
    let path = format!("/v1/plans/{plan_id}");

    assert_error(&api_b.get(&path).await, 404, "not_found");
    assert_error(&api_b.post(&path, &json!({"name": "Taken over"})).await, 404, "not_found");
    assert!(api_b.list_all("/v1/plans", "id").await.is_empty(), "B lists none of A's plans");

    let clock = api_b.create_clock(jan_1()).await;
    let customer = api_b.clock_customer_with_card(&clock, "ZA", "pm_card_visa").await;
    let foreign = api_b.subscribe(&json!({"customer": customer, "plan": plan_id})).await;
    let unknown_plan = unknown_id_like(plan_id);
    let unknown = api_b.subscribe(&json!({"customer": customer, "plan": unknown_plan})).await;
    assert!(
        matches!(unknown.status, 400 | 404),
        "an unknown plan: expected 400 or 404, got {}",
        unknown.text
    );
    assert_error_shape(&unknown);
    // Answered exactly as an unknown plan is, so B cannot even learn that the plan exists.
    assert_eq!(
        (foreign.status, foreign.error_code()),
        (unknown.status, unknown.error_code()),
        "another account's plan: {}",
        foreign.text
    );
    assert!(api_b.customer_subscriptions(&customer).await.is_empty(), "nothing subscribed");
    assert!(api_b.customer_charges(&customer).await.is_empty(), "nothing charged");
    assert_eq!(api_a.get_ok(&path).await, plan, "A's plan is unchanged");
}

#[tokio::test]
async fn malformed_plans_are_refused_and_nothing_is_created() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let with = |field: &str, value: Value| {
        let mut body =
            json!({"name": "Monthly", "amount": 1_000, "currency": "usd", "interval": "month"});
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = with("name", json!("Monthly"));
        body.as_object_mut().expect("an object").remove(field);
        body
    };
    let cases: Vec<(&str, Value, Option<&str>, Option<&str>)> = vec![
        ("interval_count 0", with("interval_count", json!(0)), Some("interval_count"), None),
        ("13 months", with("interval_count", json!(13)), Some("interval_count"), None),
        (
            "53 weeks",
            json!({
                "name": "W", "amount": 100, "currency": "usd", "interval": "week",
                "interval_count": 53,
            }),
            Some("interval_count"),
            None,
        ),
        (
            "4 years",
            json!({
                "name": "Y", "amount": 100, "currency": "usd", "interval": "year",
                "interval_count": 4,
            }),
            Some("interval_count"),
            None,
        ),
        (
            "an unknown currency",
            with("currency", json!("xyz")),
            Some("currency"),
            Some("currency_invalid"),
        ),
        ("a negative amount", with("amount", json!(-1)), Some("amount"), None),
        (
            "an amount past the maximum",
            with("amount", json!(100_000_000_000_u64)),
            Some("amount"),
            None,
        ),
        ("an amount as a string", with("amount", json!("1000")), Some("amount"), None),
        ("an unknown interval", with("interval", json!("fortnight")), Some("interval"), None),
        ("trial_days 731", with("trial_days", json!(731)), Some("trial_days"), None),
        (
            "an unknown tax behavior",
            with("tax_behavior", json!("sometimes")),
            Some("tax_behavior"),
            None,
        ),
        ("no name", without("name"), None, None),
        ("no amount", without("amount"), None, None),
        ("no currency", without("currency"), None, None),
        ("no interval", without("interval"), None, None),
        (
            "a card number as the name",
            with("name", json!("4242 4242 4242 4242")),
            Some("name"),
            Some("validation_error"),
        ),
    ];
    let mut problems = Vec::new();
    for (name, body, param, code) in cases {
        let response = api.post("/v1/plans", &body).await;
        if response.status != 400 {
            problems
                .push(format!("{name}: expected 400, got {}: {}", response.status, response.text));
            continue;
        }
        if let Some(problem) = error_shape_problem(&response) {
            problems.push(format!("{name}: {problem}"));
        }
        if let Some(code) = code
            && response.error_code() != Some(code)
        {
            problems.push(format!("{name}: expected code {code}: {}", response.text));
        }
        // A missing field is a malformed body, as for charges: its `param` is not checked.
        if let Some(param) = param
            && response.body["error"]["param"] != param
        {
            problems.push(format!("{name}: expected param {param}: {}", response.text));
        }
    }
    assert!(problems.is_empty(), "bad plans not refused as expected:\n{}", problems.join("\n"));
    assert!(api.list_all("/v1/plans", "id").await.is_empty(), "no plan was created");
}
