//! One-time purchases and the access a payment pays for: what a charge's `grants` give a
//! customer, and what taking the money back withdraws.
//!
//! Proves that a succeeded charge with `grants` shows them and makes entitlements whose source is
//! the charge, starting at the customer's now (its test clock's frozen time) and ending exactly
//! `duration_days` × 86 400 s later — present on the last second, absent on the next — or never,
//! and that they survive a restart; that a partial refund keeps them and a full refund (in one
//! refund or as the last of several) withdraws exactly that charge's grants, leaving another
//! charge's grant of the same feature in place; that a purchase awaiting 3-D Secure grants nothing
//! until Stripe's `payment_intent.succeeded` settles it, and that refunds made in the Stripe
//! dashboard withdraw it once they add up to the whole charge; that a dispute lost at Stripe
//! withdraws them and one opened or won keeps them; that a declined charge grants nothing and
//! malformed `grants` (a duplicate, 0 or 3 661 days, a bad or overlong name, 21 of them, a wrong
//! type) are a 400 `validation_error` on `grants` that makes no charge, while 20 grants of 1
//! and 3 660 days are taken; that another account's customer and an unknown customer have no
//! entitlements to read (404); and that with `billing.refund_revokes_access` (the default) a full refund of the
//! charge that paid a subscription's current period — its first (`subscription_create`) or a
//! renewal (`subscription_cycle`) — withdraws the plan's features until that period ends, to the
//! second, while a partial refund or a refund of an earlier period's charge keeps them, and that
//! with `refund_revokes_access = false` the subscription keeps them (a purchase is still
//! withdrawn).
//! How: a fresh engine per test (see `common`) on the sandbox gateway, customers on test clocks
//! where time matters; the Stripe tests run with Stripe as the gateway (the local fake Stripe)
//! and deliver its webhooks signed here with HMAC-SHA256 as Stripe documents. A full refund of a
//! customer whose test clock was deleted still settles (the gateway returned the money already).

mod common;
#[path = "common/stripe_webhooks.rs"]
mod stripe_webhooks;

use common::*;
use kassa_testkit::fake_stripe::FakeStripe;
use stripe_webhooks::{config as stripe_config, deliver, event, wait_applied};

/// `(feature, source, expires_at)` of one entitlement, in a form that compares.
type Entitlement = (String, String, Option<i64>);

fn entitlement(feature: &str, source: &str, expires_at: Option<i64>) -> Entitlement {
    (feature.to_owned(), source.to_owned(), expires_at)
}

/// A charge of `amount` usd to `customer` granting `grants` (a JSON array, sent as it is).
async fn purchase(api: &Api, customer: &str, amount: u64, grants: Value) -> Resp {
    let mut body = charge_body(customer, amount, "usd");
    body["grants"] = grants;
    api.post("/v1/charges", &body).await
}

/// A purchase that must succeed; returns the charge's id.
async fn purchase_ok(api: &Api, customer: &str, amount: u64, grants: Value) -> String {
    let charge = purchase(api, customer, amount, grants).await.ok().clone();
    assert_eq!(charge["status"], "succeeded", "{charge}");
    str_field(&charge, "id").to_owned()
}

/// `GET /v1/customers/{id}/entitlements`, checked for its shape, as comparable tuples in the
/// order the engine lists them.
async fn entitlements(api: &Api, customer: &str) -> Vec<Entitlement> {
    let list = api.get_ok(&format!("/v1/customers/{customer}/entitlements")).await;
    assert_eq!(list["object"], "list", "{list}");
    let data = list["data"].as_array().unwrap_or_else(|| panic!("no `data` in {list}"));
    data.iter()
        .map(|grant| {
            assert_eq!(grant["object"], "entitlement", "{grant}");
            let expires_at = match &grant["expires_at"] {
                Value::Null => None,
                at => Some(at.as_i64().unwrap_or_else(|| panic!("`expires_at` in {grant}"))),
            };
            entitlement(str_field(grant, "feature"), str_field(grant, "source"), expires_at)
        })
        .collect()
}

/// `GET /v1/customers/{id}/entitlements/{feature}`.
async fn entitlement_of(api: &Api, customer: &str, feature: &str) -> Resp {
    api.get(&format!("/v1/customers/{customer}/entitlements/{feature}")).await
}

#[track_caller]
fn assert_not_entitled(answer: &Resp) {
    assert_error(answer, 404, "not_found");
}

#[tokio::test]
async fn a_purchase_grants_from_the_clocks_now_and_expires_to_the_second() {
    let mut engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let clock = api.create_clock(utc(2025, 1, 1, 0, 0, 0)).await;
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    // An odd instant, far from the real clock: the grant starts at the customer's now.
    let bought_at = utc(2025, 1, 15, 9, 30, 17);
    api.advance_clock(&clock, bought_at).await;
    let grants = json!([
        {"feature": "course-101", "duration_days": 30},
        {"feature": "certificate"},
    ]);
    let charge = purchase(&api, &customer, 4_900, grants).await.ok().clone();
    assert_eq!(charge["status"], "succeeded", "{charge}");
    let charge_id = str_field(&charge, "id").to_owned();
    for shown in [charge.clone(), api.get_ok(&format!("/v1/charges/{charge_id}")).await] {
        let grants = shown["grants"].as_array().unwrap_or_else(|| panic!("grants: {shown}"));
        assert_eq!(grants.len(), 2, "{shown}");
        assert_eq!(grants[0]["feature"], "course-101", "{shown}");
        assert_eq!(grants[0]["duration_days"], 30, "{shown}");
        assert_eq!(grants[1]["feature"], "certificate", "{shown}");
        assert!(grants[1]["duration_days"].is_null(), "for good: {shown}");
    }

    let expires_at = bought_at + 30 * SECONDS_PER_DAY;
    let both = vec![
        entitlement("certificate", &charge_id, None),
        entitlement("course-101", &charge_id, Some(expires_at)),
    ];
    assert_eq!(entitlements(&api, &customer).await, both);
    let course = entitlement_of(&api, &customer, "course-101").await.ok().clone();
    assert_eq!(course["source"], charge_id.as_str(), "{course}");
    assert_eq!(course["expires_at"], expires_at, "{course}");

    // Kept on the customer's record, not only in the actor's memory.
    engine.restart_graceful().await;
    let api = engine.api_a();
    assert_eq!(entitlements(&api, &customer).await, both, "after a restart");

    api.advance_clock(&clock, expires_at - 1).await;
    assert_eq!(entitlements(&api, &customer).await, both, "on the grant's last second");
    entitlement_of(&api, &customer, "course-101").await.ok();

    api.advance_clock(&clock, expires_at).await;
    assert_not_entitled(&entitlement_of(&api, &customer, "course-101").await);
    assert_eq!(
        entitlements(&api, &customer).await,
        vec![entitlement("certificate", &charge_id, None)],
        "the grant for good outlives the 30 days"
    );
    entitlement_of(&api, &customer, "certificate").await.ok();
}

#[tokio::test]
async fn a_full_refund_withdraws_a_purchase_and_a_partial_one_keeps_it() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let grants_a = json!([{"feature": "course-a"}, {"feature": "shared-path"}]);
    let a = purchase_ok(&api, &customer, 5_000, grants_a).await;
    let grants_b = json!([{"feature": "course-b"}, {"feature": "shared-path"}]);
    let b = purchase_ok(&api, &customer, 3_000, grants_b).await;
    let all = vec![
        entitlement("course-a", &a, None),
        entitlement("course-b", &b, None),
        entitlement("shared-path", &a, None),
        entitlement("shared-path", &b, None),
    ];
    let mut sorted = entitlements(&api, &customer).await;
    sorted.sort();
    assert_eq!(sorted, all);

    let partial = api.refund(&a, Some(2_000)).await.ok().clone();
    assert_eq!(partial["status"], "succeeded", "{partial}");
    let mut sorted = entitlements(&api, &customer).await;
    sorted.sort();
    assert_eq!(sorted, all, "a partial refund keeps everything");

    let full = api.refund(&b, None).await.ok().clone();
    assert_eq!(full["status"], "succeeded", "{full}");
    assert_eq!(api.get_ok(&format!("/v1/charges/{b}")).await["amount_refunded"], 3_000);
    assert_not_entitled(&entitlement_of(&api, &customer, "course-b").await);
    assert_eq!(
        entitlements(&api, &customer).await,
        vec![entitlement("course-a", &a, None), entitlement("shared-path", &a, None)],
        "only the refunded charge's grants go; the other charge's grant of the same feature stays"
    );
    let shared = entitlement_of(&api, &customer, "shared-path").await.ok().clone();
    assert_eq!(shared["source"], a.as_str(), "{shared}");

    // The rest of the partially refunded charge: now it is refunded in full.
    let rest = api.refund(&a, Some(3_000)).await.ok().clone();
    assert_eq!(rest["status"], "succeeded", "{rest}");
    assert_eq!(entitlements(&api, &customer).await, vec![]);
    for feature in ["course-a", "course-b", "shared-path"] {
        assert_not_entitled(&entitlement_of(&api, &customer, feature).await);
    }
}

/// A Stripe event as Stripe sends it, signed now with the endpoint's secret; delivered.
async fn deliver_stripe_event(engine: &Engine, id: &str, kind: &str, created: u64, object: Value) {
    let answer = deliver(engine, &event(id, kind, created, object)).await;
    assert_eq!(answer.status, 200, "{kind} {id}: {}", answer.text);
}

/// A Stripe dispute `du` of `amount` on the PaymentIntent `intent`, in `status`.
fn dispute(du: &str, intent: &str, amount: u64, status: &str) -> Value {
    json!({ "id": du, "object": "dispute", "amount": amount, "currency": "usd",
        "charge": format!("ch_3{du}"), "payment_intent": intent, "reason": "fraudulent",
        "status": status })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_dispute_withdraws_a_purchase_and_a_won_one_keeps_it() {
    let stripe = FakeStripe::start().await;
    let engine = Engine::start(stripe_config(&stripe.api_base(), 0)).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let lost = purchase(&api, &customer, 5_000, json!([{"feature": "course-201"}])).await;
    let lost = lost.ok().clone();
    assert_eq!(lost["status"], "succeeded", "{lost}");
    assert_eq!(lost["gateway"], "stripe", "{lost}");
    let won = purchase(&api, &customer, 7_000, json!([{"feature": "course-202"}])).await;
    let won = won.ok().clone();
    assert_eq!(won["status"], "succeeded", "{won}");
    let (lost_id, lost_intent) = (str_field(&lost, "id"), str_field(&lost, "gateway_reference"));
    let (won_id, won_intent) = (str_field(&won, "id"), str_field(&won, "gateway_reference"));
    let both =
        vec![entitlement("course-201", lost_id, None), entitlement("course-202", won_id, None)];
    assert_eq!(entitlements(&api, &customer).await, both);

    let now = now_secs();
    let opened = "charge.dispute.created";
    deliver_stripe_event(
        &engine,
        "evt_du_1",
        opened,
        now - 100,
        dispute("du_lost", lost_intent, 5_000, "needs_response"),
    )
    .await;
    deliver_stripe_event(
        &engine,
        "evt_du_2",
        opened,
        now - 100,
        dispute("du_won", won_intent, 7_000, "needs_response"),
    )
    .await;
    wait_applied(&api, opened, 2).await;
    let disputed = api.get_ok(&format!("/v1/charges/{lost_id}")).await;
    assert_eq!(disputed["disputed"], true, "{disputed}");
    assert_eq!(entitlements(&api, &customer).await, both, "an open dispute withdraws nothing");

    let closed = "charge.dispute.closed";
    deliver_stripe_event(
        &engine,
        "evt_du_3",
        closed,
        now,
        dispute("du_won", won_intent, 7_000, "won"),
    )
    .await;
    wait_applied(&api, closed, 1).await;
    assert_eq!(entitlements(&api, &customer).await, both, "a won dispute withdraws nothing");

    deliver_stripe_event(
        &engine,
        "evt_du_4",
        closed,
        now,
        dispute("du_lost", lost_intent, 5_000, "lost"),
    )
    .await;
    wait_applied(&api, closed, 2).await;
    let dispute_id =
        str_field(&api.get_ok(&format!("/v1/charges/{lost_id}")).await, "dispute").to_owned();
    assert_eq!(api.get_ok(&format!("/v1/disputes/{dispute_id}")).await["status"], "lost");
    assert_not_entitled(&entitlement_of(&api, &customer, "course-201").await);
    assert_eq!(
        entitlements(&api, &customer).await,
        vec![entitlement("course-202", won_id, None)],
        "only the lost dispute's charge loses its grant"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_settled_by_stripe_grants_and_a_dashboard_refund_in_full_withdraws() {
    let stripe = FakeStripe::start().await;
    let engine = Engine::start(stripe_config(&stripe.api_base(), 0)).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_threeDSecure2Required").await;
    let grants = json!([{"feature": "course-301"}]);
    let charge = purchase(&api, &customer, 4_200, grants).await.ok().clone();
    assert_eq!(charge["status"], "requires_action", "{charge}");
    let (charge_id, intent) = (str_field(&charge, "id"), str_field(&charge, "gateway_reference"));
    assert_eq!(entitlements(&api, &customer).await, vec![], "nothing before it succeeds");

    let succeeded = json!({ "id": intent, "object": "payment_intent", "amount": 4_200,
        "currency": "usd", "status": "succeeded",
        "metadata": { "kassa_idempotency_key": charge_id } });
    deliver_stripe_event(&engine, "evt_pi_1", "payment_intent.succeeded", now_secs(), succeeded)
        .await;
    wait_applied(&api, "payment_intent.succeeded", 1).await;
    assert_eq!(api.get_ok(&format!("/v1/charges/{charge_id}")).await["status"], "succeeded");
    let granted = vec![entitlement("course-301", charge_id, None)];
    assert_eq!(entitlements(&api, &customer).await, granted, "granted when Stripe settles it");

    // Refunds made in the Stripe dashboard, as its `charge.refunded` events report them.
    let refunded = |refunds: Value, total: u64| {
        json!({ "id": "ch_3dashboard", "object": "charge", "payment_intent": intent,
            "amount": 4_200, "amount_refunded": total,
            "refunds": { "object": "list", "data": refunds } })
    };
    let first =
        json!({ "id": "re_dash_1", "amount": 1_200, "status": "succeeded", "metadata": {} });
    let rest = json!({ "id": "re_dash_2", "amount": 3_000, "status": "succeeded", "metadata": {} });
    let kind = "charge.refunded";
    let created = now_secs();
    deliver_stripe_event(&engine, "evt_re_1", kind, created, refunded(json!([first]), 1_200)).await;
    wait_applied(&api, kind, 1).await;
    assert_eq!(api.get_ok(&format!("/v1/charges/{charge_id}")).await["amount_refunded"], 1_200);
    assert_eq!(entitlements(&api, &customer).await, granted, "a partial refund keeps it");

    deliver_stripe_event(
        &engine,
        "evt_re_2",
        kind,
        created + 1,
        refunded(json!([first, rest]), 4_200),
    )
    .await;
    wait_applied(&api, kind, 2).await;
    assert_eq!(api.get_ok(&format!("/v1/charges/{charge_id}")).await["amount_refunded"], 4_200);
    assert_not_entitled(&entitlement_of(&api, &customer, "course-301").await);
    assert_eq!(entitlements(&api, &customer).await, vec![]);
}

#[tokio::test]
async fn a_declined_charge_grants_nothing_and_bad_grants_make_no_charge() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (declined, _) = api.customer_with_card("pm_card_chargeDeclined").await;
    let answer = purchase(&api, &declined, 4_900, json!([{"feature": "course-101"}])).await;
    assert_error(&answer, 402, "card_declined");
    let charges = api.customer_charges(&declined).await;
    assert_eq!(charges.len(), 1, "{charges:#?}");
    assert_eq!(charges[0]["status"], "failed", "{charges:#?}");
    assert_eq!(entitlements(&api, &declined).await, vec![]);
    assert_not_entitled(&entitlement_of(&api, &declined, "course-101").await);

    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let course = |days: Value| json!({"feature": "course-101", "duration_days": days});
    let twenty_one: Vec<Value> =
        (0..21).map(|n| json!({"feature": format!("course-{n}")})).collect();
    // Refused by the rules on grants: the error names `grants` itself.
    let refused = [
        ("a feature granted twice", json!([{"feature": "x"}, course(json!(30)), {"feature": "x"}])),
        ("0 days", json!([course(json!(0))])),
        ("3 661 days", json!([course(json!(3_661))])),
        ("a space in the name", json!([{"feature": "course 101"}])),
        ("an empty name", json!([{"feature": ""}])),
        ("a name of 101 characters", json!([{"feature": "c".repeat(101)}])),
        ("21 grants", json!(twenty_one)),
    ];
    for (what, grants) in refused {
        let answer = purchase(&api, &customer, 4_900, grants).await;
        assert_error(&answer, 400, "validation_error");
        assert_eq!(answer.body["error"]["param"], "grants", "{what}: {}", answer.text);
    }
    // Refused as JSON of the wrong shape: the error names the field inside `grants`.
    let malformed = [
        ("days as a string", json!([course(json!("30"))])),
        ("negative days", json!([course(json!(-1))])),
        ("fractional days", json!([course(json!(1.5))])),
        ("no feature", json!([{"duration_days": 30}])),
        ("an unknown field", json!([{"feature": "course-101", "days": 30}])),
        ("a feature that is not a string", json!([{"feature": 101}])),
        ("grants that are not a list", json!({"feature": "course-101"})),
    ];
    for (what, grants) in malformed {
        let answer = purchase(&api, &customer, 4_900, grants).await;
        assert_error(&answer, 400, "validation_error");
        let param = answer.body["error"]["param"].as_str().unwrap_or_default();
        assert!(param.starts_with("grants"), "{what}: {}", answer.text);
    }
    let listed = api.get_ok(&format!("/v1/charges?customer={customer}")).await;
    assert_eq!(listed["data"], json!([]), "no refused request made a charge: {listed}");
    assert_eq!(entitlements(&api, &customer).await, vec![]);

    // The bounds themselves are taken: 20 grants, of 1 and of 3 660 days, a 100-character name.
    let long_name = "c".repeat(100);
    let mut twenty: Vec<Value> =
        (0..18).map(|n| json!({"feature": format!("course-{n:02}")})).collect();
    twenty.push(json!({"feature": "trial.day:1_x", "duration_days": 1}));
    twenty.push(json!({"feature": long_name, "duration_days": 3_660}));
    let charge = purchase_ok(&api, &customer, 1_000, json!(twenty)).await;
    let granted = entitlements(&api, &customer).await;
    assert_eq!(granted.len(), 20, "{granted:#?}");
    assert!(granted.iter().all(|(_, source, _)| *source == charge), "{granted:#?}");
    let day = entitlement_of(&api, &customer, "trial.day:1_x").await.ok().clone();
    let ten_years = entitlement_of(&api, &customer, &long_name).await.ok().clone();
    assert_eq!(
        i64_field(&ten_years, "expires_at") - i64_field(&day, "expires_at"),
        3_659 * SECONDS_PER_DAY,
        "both from the same instant: {day} {ten_years}"
    );
}

#[tokio::test]
async fn entitlements_of_another_accounts_customer_or_of_no_customer_are_not_found() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let charge = purchase_ok(&api, &customer, 4_900, json!([{"feature": "course-101"}])).await;

    let other = engine.api_b();
    assert_error(
        &other.get(&format!("/v1/customers/{customer}/entitlements")).await,
        404,
        "not_found",
    );
    assert_error(&entitlement_of(&other, &customer, "course-101").await, 404, "not_found");
    // A well-formed id no customer has, and one that is not an id at all.
    for unknown in ["cus_01ARZ3NDEKTSV4RRFFQ69G5FAV", "cus_nope", "nope"] {
        for api in [&api, &other] {
            let path = format!("/v1/customers/{unknown}/entitlements");
            assert_error(&api.get(&path).await, 404, "not_found");
            assert_error(&entitlement_of(api, unknown, "course-101").await, 404, "not_found");
        }
    }
    assert_eq!(
        entitlements(&api, &customer).await,
        vec![entitlement("course-101", &charge, None)],
        "the owner still sees its grant"
    );
}

/// A customer on `clock` with a good card, subscribed to `plan`: (customer, subscription).
async fn subscriber(api: &Api, clock: &str, plan: &str) -> (String, String) {
    let customer = api.clock_customer_with_card(clock, "US", "pm_card_visa").await;
    let subscription = api.subscribe_ok(&customer, plan).await;
    assert_eq!(subscription["status"], "active", "{subscription}");
    (customer, str_field(&subscription, "id").to_owned())
}

/// The charge that paid the subscription's invoice for the period starting at `start`.
async fn period_charge(api: &Api, subscription: &str, start: i64) -> String {
    let invoices = api.subscription_invoices(subscription).await;
    let invoice = invoices.iter().find(|invoice| invoice["period_start"] == start);
    let invoice = invoice.unwrap_or_else(|| panic!("no invoice from {start}: {invoices:#?}"));
    assert_eq!(invoice["status"], "paid", "{invoice}");
    str_field(invoice, "charge").to_owned()
}

/// A monthly usd plan granting `premium`.
async fn premium_plan(api: &Api) -> String {
    let body = json!({
        "name": "Premium", "amount": 1_000, "currency": "usd", "interval": "month",
        "tax_behavior": "exclusive", "features": ["premium"],
    });
    str_field(&api.create_plan(&body).await, "id").to_owned()
}

#[tokio::test]
async fn a_full_refund_of_the_current_periods_charge_withdraws_its_features_until_it_ends() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (jan_1, feb_1, mar_1) =
        (utc(2025, 1, 1, 0, 0, 0), utc(2025, 2, 1, 0, 0, 0), utc(2025, 3, 1, 0, 0, 0));
    let clock = api.create_clock(jan_1).await;
    let plan = premium_plan(&api).await;
    // `first` has its first (subscription_create) charge refunded, `renewed` its renewal's.
    let (first, first_sub) = subscriber(&api, &clock, &plan).await;
    let (renewed, renewed_sub) = subscriber(&api, &clock, &plan).await;
    let premium_of = |sub: &str| vec![entitlement("premium", sub, None)];
    assert_eq!(entitlements(&api, &first).await, premium_of(&first_sub));

    api.advance_clock(&clock, utc(2025, 1, 10, 0, 0, 0)).await;
    let january = period_charge(&api, &first_sub, jan_1).await;
    api.refund(&january, Some(400)).await.ok();
    assert_eq!(entitlements(&api, &first).await, premium_of(&first_sub), "a partial refund");
    let rest = api.refund(&january, None).await.ok().clone();
    assert_eq!(rest["status"], "succeeded", "{rest}");
    assert_not_entitled(&entitlement_of(&api, &first, "premium").await);
    assert_eq!(entitlements(&api, &first).await, vec![]);
    assert_eq!(entitlements(&api, &renewed).await, premium_of(&renewed_sub), "not its refund");

    api.advance_clock(&clock, feb_1 - 1).await;
    assert_eq!(entitlements(&api, &first).await, vec![], "withdrawn to the period's last second");
    api.advance_clock(&clock, feb_1).await;
    period_charge(&api, &first_sub, feb_1).await;
    assert_eq!(entitlements(&api, &first).await, premium_of(&first_sub), "the renewal is paid");

    // A full refund of a period that is over withdraws nothing; of the current one, it does.
    api.advance_clock(&clock, utc(2025, 2, 10, 0, 0, 0)).await;
    let old = period_charge(&api, &renewed_sub, jan_1).await;
    api.refund(&old, None).await.ok();
    assert_eq!(entitlements(&api, &renewed).await, premium_of(&renewed_sub), "January's");
    let february = period_charge(&api, &renewed_sub, feb_1).await;
    api.refund(&february, None).await.ok();
    assert_not_entitled(&entitlement_of(&api, &renewed, "premium").await);
    assert_eq!(entitlements(&api, &first).await, premium_of(&first_sub), "not its refund");
    api.advance_clock(&clock, mar_1 - 1).await;
    assert_eq!(entitlements(&api, &renewed).await, vec![]);
    api.advance_clock(&clock, mar_1).await;
    period_charge(&api, &renewed_sub, mar_1).await;
    assert_eq!(entitlements(&api, &renewed).await, premium_of(&renewed_sub));
    let statuses = [api.subscription(&first_sub).await, api.subscription(&renewed_sub).await];
    assert!(statuses.iter().all(|sub| sub["status"] == "active"), "{statuses:#?}");
}

#[tokio::test]
async fn without_refund_revokes_access_a_refunded_period_keeps_its_features() {
    let config = Config::default().with_toml("[billing]\nrefund_revokes_access = false");
    let engine = Engine::start(config).await;
    let api = engine.api_a();
    let jan_1 = utc(2025, 1, 1, 0, 0, 0);
    let clock = api.create_clock(jan_1).await;
    let plan = premium_plan(&api).await;
    let (customer, subscription) = subscriber(&api, &clock, &plan).await;
    api.advance_clock(&clock, utc(2025, 1, 10, 0, 0, 0)).await;
    let january = period_charge(&api, &subscription, jan_1).await;
    let refund = api.refund(&january, None).await.ok().clone();
    assert_eq!(refund["status"], "succeeded", "{refund}");
    assert_eq!(
        entitlements(&api, &customer).await,
        vec![entitlement("premium", &subscription, None)],
        "the subscription keeps granting"
    );
    entitlement_of(&api, &customer, "premium").await.ok();

    // The key is about subscription periods: a refunded purchase is still withdrawn.
    let bought = purchase_ok(&api, &customer, 4_900, json!([{"feature": "course-101"}])).await;
    entitlement_of(&api, &customer, "course-101").await.ok();
    api.refund(&bought, None).await.ok();
    assert_not_entitled(&entitlement_of(&api, &customer, "course-101").await);
    assert_eq!(
        entitlements(&api, &customer).await,
        vec![entitlement("premium", &subscription, None)]
    );
}

/// Settling what a gateway already did never depends on the customer's clock: a deleted test
/// clock must not leave a refund that moved money `pending`.
#[tokio::test]
async fn a_full_refund_settles_for_a_customer_whose_test_clock_was_deleted() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let clock = api.create_clock(utc(2025, 1, 1, 0, 0, 0)).await;
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let charge = api.charge_ok(&customer, 1_000, "usd").await;
    let charge_id = str_field(&charge, "id");
    api.delete(&format!("/v1/test_clocks/{clock}")).await.ok();

    let refund = api.refund(charge_id, None).await.ok().clone();
    assert_eq!(refund["status"], "succeeded", "{refund}");
    let charge = api.get_ok(&format!("/v1/charges/{charge_id}")).await;
    assert_eq!(charge["amount_refunded"], 1_000, "{charge}");
    assert_eq!(charge["refunded"], true, "{charge}");
}
