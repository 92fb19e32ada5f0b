//! Coupons on subscriptions, over a year of renewals on a test clock: `once` discounts the first
//! invoice, `repeating` the invoices whose period starts within its months, `forever` every one;
//! percent and amount off, exactly. A subscription shows its `discount`, its invoices their
//! discount lines with the coupon and the promotion code. The redemption is reserved when the
//! coupon is attached, counted at the first payment, and let go when the subscription expires
//! unpaid. A coupon that does not fit the plan is a 400 that makes nothing.
//! How: the customers live on a test clock started 2024-03-01T00:00:00Z, renewals run by
//! advancing it month by month, never by waiting.

mod common;
#[path = "common/subscription_fixture.rs"]
mod fixture;

use common::*;
use fixture::*;

/// The first of each month from March 2024 to March 2025.
fn month_starts() -> Vec<i64> {
    (0..13).map(|n| utc(2024 + (2 + n) / 12, ((2 + n) % 12 + 1) as u32, 1, 0, 0, 0)).collect()
}

async fn coupon(api: &Api, body: Value) -> String {
    str_field(&api.post("/v1/coupons", &body).await.ok().clone(), "id").to_owned()
}

/// The totals of a subscription's invoices, oldest first.
async fn totals(api: &Api, subscription: &str) -> Vec<i64> {
    let invoices = api.subscription_invoices(subscription).await;
    invoices.iter().map(|invoice| i64_field(invoice, "total")).collect()
}

#[tokio::test]
async fn each_duration_discounts_its_invoices_over_a_year_of_renewals() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let api = &b.api;
    let quarter = coupon(api, json!({"id": "QUARTER", "percent_off_bps": 2500, "duration": "repeating", "duration_in_months": 3})).await;
    let welcome = coupon(
        api,
        json!({"id": "WELCOME", "amount_off": 300, "currency": "usd", "duration": "once"}),
    )
    .await;
    let loyal =
        coupon(api, json!({"id": "LOYAL", "percent_off_bps": 3333, "duration": "forever"})).await;
    let code = api
        .post("/v1/promotion_codes", &json!({"coupon": welcome, "code": "HELLO"}))
        .await
        .ok()
        .clone();

    let mut subscriptions = Vec::new();
    for (field, value) in
        [("coupon", quarter.as_str()), ("promotion_code", "hello"), ("coupon", loyal.as_str())]
    {
        let customer = api.clock_customer_with_card(&b.clock, "US", "pm_card_visa").await;
        let body = json!({"customer": customer, "plan": b.basic, field: value});
        let subscription = api.subscribe(&body).await.ok().clone();
        assert_eq!(subscription["status"], "active", "{subscription}");
        subscriptions.push(subscription);
    }
    let quarterly = &subscriptions[0];
    assert_eq!(
        quarterly["discount"],
        json!({"coupon": "QUARTER", "promotion_code": null, "start": mar_1(), "end": utc(2024, 6, 1, 0, 0, 0)})
    );
    assert_eq!(subscriptions[1]["discount"]["promotion_code"], code["id"]);
    assert_eq!(subscriptions[2]["discount"]["end"], Value::Null);

    for month in month_starts().into_iter().skip(1) {
        b.advance(month + 60).await;
    }
    let ids: Vec<&str> =
        subscriptions.iter().map(|subscription| str_field(subscription, "id")).collect();
    // 25 % of 1 000 for the periods starting Mar 1, Apr 1 and May 1; then the plan's price.
    let mut expected = vec![750, 750, 750];
    expected.extend([1_000; 10]);
    assert_eq!(totals(api, ids[0]).await, expected);
    // 3.00 off the first invoice only.
    let mut expected = vec![700];
    expected.extend([1_000; 12]);
    assert_eq!(totals(api, ids[1]).await, expected);
    // 33.33 % of 1 000 is 333.3: 333 off, every month.
    assert_eq!(totals(api, ids[2]).await, vec![667; 13]);

    let first = &api.subscription_invoices(ids[1]).await[0];
    assert_eq!(
        first["discounts"],
        json!([{"coupon": "WELCOME", "promotion_code": code["id"], "amount": 300}])
    );
    for (id, redeemed) in [("QUARTER", 1), ("WELCOME", 1), ("LOYAL", 1)] {
        assert_eq!(
            api.get_ok(&format!("/v1/coupons/{id}")).await["times_redeemed"],
            redeemed,
            "{id}"
        );
    }
    let code = api.get_ok(&format!("/v1/promotion_codes/{}", str_field(&code, "id"))).await;
    assert_eq!(code["times_redeemed"], 1);
}

#[tokio::test]
async fn a_coupon_that_does_not_fit_the_plan_makes_nothing() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let api = &b.api;
    coupon(api, json!({"id": "PRO-ONLY", "percent_off_bps": 1000, "duration": "once", "applies_to": {"plans": [b.pro]}})).await;
    coupon(api, json!({"id": "EUROS", "amount_off": 100, "currency": "eur", "duration": "once"}))
        .await;
    for (field, value, code) in [
        ("coupon", "PRO-ONLY", "coupon_invalid"),
        ("coupon", "EUROS", "coupon_invalid"),
        ("coupon", "NOPE", "coupon_invalid"),
        ("promotion_code", "NOPE", "promotion_code_invalid"),
    ] {
        let resp =
            api.subscribe(&json!({"customer": b.customer, "plan": b.basic, field: value})).await;
        assert_error(&resp, 400, code);
        assert_eq!(resp.body["error"]["param"], field, "{}", resp.text);
    }
    assert!(api.customer_subscriptions(&b.customer).await.is_empty(), "nothing was made");
    // The plan it is for takes it.
    let subscription =
        api.subscribe(&json!({"customer": b.customer, "plan": b.pro, "coupon": "PRO-ONLY"})).await;
    assert_eq!(totals(api, str_field(subscription.ok(), "id")).await, vec![PRO - 300]);
}

#[tokio::test]
async fn a_redemption_waits_for_the_first_payment_and_is_let_go_when_it_never_comes() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let api = &b.api;
    coupon(api, json!({"id": "ONE", "amount_off": 200, "currency": "usd", "duration": "forever", "max_redemptions": 1})).await;
    let declined = api.clock_customer_with_card(&b.clock, "US", "pm_card_chargeDeclined").await;
    let resp =
        api.subscribe(&json!({"customer": declined, "plan": b.basic, "coupon": "ONE"})).await;
    assert_eq!(resp.status, 402, "{}", resp.text);
    let incomplete = str_field(&resp.body["error"], "subscription").to_owned();
    assert_eq!(api.subscription(&incomplete).await["status"], "incomplete");
    let coupon = api.get_ok("/v1/coupons/ONE").await;
    assert_eq!(
        (coupon["times_redeemed"].clone(), coupon["valid"].clone()),
        (json!(0), json!(true))
    );

    // Reserved by the unpaid subscription: the one redemption is taken.
    let refused =
        api.subscribe(&json!({"customer": b.customer, "plan": b.basic, "coupon": "ONE"})).await;
    assert_error(&refused, 400, "coupon_invalid");

    // 23 hours unpaid: it expires, and the coupon is free again.
    b.advance(mar_1() + 24 * 3_600).await;
    assert_eq!(api.subscription(&incomplete).await["status"], "incomplete_expired");
    let paid =
        api.subscribe(&json!({"customer": b.customer, "plan": b.basic, "coupon": "ONE"})).await;
    assert_eq!(totals(api, str_field(paid.ok(), "id")).await, vec![800]);
    assert_eq!(api.get_ok("/v1/coupons/ONE").await["times_redeemed"], 1);
}
