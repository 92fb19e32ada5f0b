//! Coupons on subscriptions, over a year of renewals on a test clock: `once` discounts the first
//! invoice, `repeating` the invoices whose period starts within its months, `forever` every one;
//! percent and amount off, exactly. A subscription shows its `discount`, its invoices their
//! discount lines with the coupon and the promotion code, and those it discounted the `discount`.
//! The redemption is reserved when the coupon is attached, counted at the first payment, and let go
//! when the subscription expires unpaid or the invoice that carried it is voided (the
//! subscription's discount going with it). A coupon that does not fit the plan is a 400 that makes
//! nothing. A change of plan mid-period prorates the coupon with the price: the new plan's
//! remaining days carry the coupon's share as a discount line (an `amount_off` prorated, so the
//! period gets it once), the credit is the unused share of what was paid, and a plan outside the
//! coupon's `applies_to` gets nothing off; a first period cut short by `billing_cycle_anchor` gets
//! the coupon's share of it.
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

    let welcomed = api.subscription_invoices(ids[1]).await;
    assert_eq!(
        welcomed[0]["discounts"],
        json!([{"coupon": "WELCOME", "promotion_code": code["id"], "amount": 300}])
    );
    let shown =
        json!({"coupon": "WELCOME", "promotion_code": code["id"], "start": mar_1(), "end": null});
    assert_eq!(welcomed[0]["discount"], shown, "the invoice the coupon discounted shows it");
    assert!(welcomed[1]["discount"].is_null(), "the next one, undiscounted, does not");
    let quartered = api.subscription_invoices(ids[0]).await;
    assert_eq!(quartered[2]["discount"]["end"], utc(2024, 6, 1, 0, 0, 0));
    assert!(quartered[3]["discount"].is_null(), "June's period starts at the coupon's end");
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

/// One discount line of an invoice: `(coupon, amount)`.
fn discounts(invoice: &Value) -> Vec<(String, i64)> {
    let shown = invoice["discounts"].as_array().unwrap_or_else(|| panic!("discounts: {invoice}"));
    shown
        .iter()
        .map(|line| (str_field(line, "coupon").to_owned(), i64_field(line, "amount")))
        .collect()
}

/// The amounts of a proration invoice's lines, and the line discounts, sorted.
fn line_amounts(invoice: &Value) -> Vec<(i64, i64)> {
    let lines = invoice["lines"].as_array().unwrap_or_else(|| panic!("lines: {invoice}"));
    let mut amounts: Vec<(i64, i64)> = lines
        .iter()
        .map(|line| {
            let off = line["discount_amounts"]
                .as_array()
                .map_or(0, |shares| shares.iter().map(|share| i64_field(share, "amount")).sum());
            (i64_field(line, "amount"), off)
        })
        .collect();
    amounts.sort();
    amounts
}

#[tokio::test]
async fn a_change_of_plan_mid_period_prorates_the_coupon_with_the_price() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let api = &b.api;
    let quarter =
        coupon(api, json!({"id": "QUARTER_OFF", "percent_off_bps": 2500, "duration": "forever"}))
            .await;
    let six_off = coupon(
        api,
        json!({"id": "SIX_OFF", "amount_off": 600, "currency": "usd", "duration": "forever"}),
    )
    .await;
    let basic_only = coupon(
        api,
        json!({"id": "HALF_BASIC", "percent_off_bps": 5000, "duration": "forever",
               "applies_to": {"plans": [b.basic]}}),
    )
    .await;
    let mut subscriptions = Vec::new();
    for id in [&quarter, &six_off, &basic_only] {
        let customer = api.clock_customer_with_card(&b.clock, "US", "pm_card_visa").await;
        let body = json!({"customer": customer, "plan": b.basic, "coupon": id});
        subscriptions.push(api.subscribe(&body).await.ok()["id"].as_str().unwrap().to_owned());
    }
    b.advance(mar_11()).await;
    let left = apr_1() - mar_11();
    let upgrade = json!({"plan": b.pro, "proration_behavior": "always_invoice"});
    for id in &subscriptions {
        api.update_subscription(id, &upgrade).await.ok();
    }
    let proration = |invoices: &[Value]| invoices[1].clone();

    // 25 % off: the credit is the unused share of the 750 paid; the new plan's rest of the
    // period is its price's share, less the coupon's share of it.
    let invoices = api.subscription_invoices(&subscriptions[0]).await;
    let credit = prorated(750, left, march_secs());
    let gross = prorated(PRO, left, march_secs());
    let off = gross - prorated(PRO * 3 / 4, left, march_secs());
    let made = proration(&invoices);
    assert_eq!(line_amounts(&made), [(-credit, 0), (gross, off)], "{made}");
    assert_eq!(discounts(&made), [(quarter.clone(), off)], "{made}");
    assert_eq!(i64_field(&made, "total"), gross - off - credit, "{made}");

    // 6.00 off each period: prorated on both sides, so over the period the coupon takes 6.00
    // once, whichever plan the days were on.
    let invoices = api.subscription_invoices(&subscriptions[1]).await;
    let credit = prorated(BASIC - 600, left, march_secs());
    let off = gross - prorated(PRO - 600, left, march_secs());
    let made = proration(&invoices);
    assert_eq!(line_amounts(&made), [(-credit, 0), (gross, off)], "{made}");
    assert_eq!(discounts(&made), [(six_off.clone(), off)], "{made}");
    assert_eq!(i64_field(&invoices[0], "total") + i64_field(&made, "total"), {
        let used_basic = (BASIC - 600) - credit;
        used_basic + gross - off
    });

    // A coupon for the basic plan only: the pro plan's days are not discounted.
    let invoices = api.subscription_invoices(&subscriptions[2]).await;
    let credit = prorated(BASIC / 2, left, march_secs());
    let made = proration(&invoices);
    assert_eq!(line_amounts(&made), [(-credit, 0), (gross, 0)], "{made}");
    assert!(discounts(&made).is_empty(), "{made}");

    // The renewals: the whole new plan, with the coupon where it applies.
    b.advance(apr_1() + 60).await;
    let renewal_totals = [PRO * 3 / 4, PRO - 600, PRO];
    for (id, expected) in subscriptions.iter().zip(renewal_totals) {
        assert_eq!(totals(api, id).await.last(), Some(&expected), "{id}");
    }
}

#[tokio::test]
async fn a_first_period_cut_short_by_an_anchor_gets_the_coupons_share() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let api = &b.api;
    let quarter = coupon(api, json!({"percent_off_bps": 2500, "duration": "forever"})).await;
    let body = json!({"customer": b.customer, "plan": b.basic, "coupon": quarter,
                      "billing_cycle_anchor": mar_11()});
    let subscription = api.subscribe(&body).await.ok().clone();
    let invoices = api.subscription_invoices(str_field(&subscription, "id")).await;
    let first = &invoices[0];
    let days = mar_11() - mar_1();
    let whole = utc(2024, 3, 11, 0, 0, 0) - utc(2024, 2, 11, 0, 0, 0);
    let gross = prorated(BASIC, days, whole);
    let off = gross - prorated(BASIC * 3 / 4, days, whole);
    assert_eq!(line_amounts(first), [(gross, off)], "{first}");
    assert_eq!(discounts(first), [(quarter, off)], "{first}");
    assert_eq!(i64_field(first, "total"), gross - off, "{first}");
}

#[tokio::test]
async fn voiding_the_invoice_that_carried_an_unpaid_coupon_lets_its_redemption_go() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let api = &b.api;
    let body = json!({"id": "ONLY_ONE", "percent_off_bps": 2000, "duration": "forever",
                      "max_redemptions": 1});
    let only_one = coupon(api, body).await;
    let by_hand = |customer: &str| {
        json!({"customer": customer, "plan": b.basic, "coupon": only_one,
               "collection_method": "send_invoice", "days_until_due": 10})
    };
    let first = api.subscribe(&by_hand(&b.customer)).await.ok().clone();
    let first_id = str_field(&first, "id").to_owned();
    let invoice = str_field(&first, "latest_invoice").to_owned();
    assert_eq!(api.get_ok(&format!("/v1/invoices/{invoice}")).await["total"], 800);
    let second = api.clock_customer_with_card(&b.clock, "US", "pm_card_visa").await;
    let refused = api.subscribe(&by_hand(&second)).await;
    assert_error(&refused, 400, "coupon_invalid");

    api.post(&format!("/v1/invoices/{invoice}/void"), &json!({})).await.ok();
    let voided = api.get_ok(&format!("/v1/subscriptions/{first_id}")).await;
    assert!(voided["discount"].is_null(), "the discount went with its reservation: {voided}");
    assert_eq!(api.get_ok(&format!("/v1/coupons/{only_one}")).await["times_redeemed"], 0);
    let taken = api.subscribe(&by_hand(&second)).await.ok().clone();
    assert_eq!(taken["discount"]["coupon"], only_one.as_str(), "{taken}");

    b.advance(apr_1() + 60).await;
    assert_eq!(totals(api, &first_id).await.last(), Some(&BASIC), "renewed without the coupon");
    assert_eq!(totals(api, str_field(&taken, "id")).await.last(), Some(&800));
}

#[tokio::test]
async fn a_canceled_subscription_keeps_its_coupon_reserved_while_its_invoice_may_be_paid() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let api = &b.api;
    let body = json!({"id": "ONE_SEAT", "percent_off_bps": 2000, "duration": "forever",
                      "max_redemptions": 1});
    let one_seat = coupon(api, body).await;
    let by_hand = |customer: &str| {
        json!({"customer": customer, "plan": b.basic, "coupon": one_seat,
               "collection_method": "send_invoice", "days_until_due": 10})
    };
    let first = api.subscribe(&by_hand(&b.customer)).await.ok().clone();
    let (first_id, invoice) = (str_field(&first, "id"), str_field(&first, "latest_invoice"));
    api.post(&format!("/v1/subscriptions/{first_id}/cancel"), &json!({})).await.ok();

    // The canceled subscription's open invoice, 20 % off, may still be paid: the redemption
    // stays held, so the coupon's one redemption cannot go to someone else as well.
    let second = api.clock_customer_with_card(&b.clock, "US", "pm_card_visa").await;
    assert_error(&api.subscribe(&by_hand(&second)).await, 400, "coupon_invalid");
    let paid = api.post(&format!("/v1/invoices/{invoice}/pay"), &json!({})).await.ok().clone();
    assert_eq!((&paid["status"], &paid["amount_paid"]), (&json!("paid"), &json!(800)), "{paid}");
    assert_eq!(api.get_ok(&format!("/v1/coupons/{one_seat}")).await["times_redeemed"], 1);
    assert_error(&api.subscribe(&by_hand(&second)).await, 400, "coupon_invalid");
}

#[tokio::test]
async fn a_first_time_code_held_by_an_unpaid_subscription_is_not_first_time_again() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let api = &b.api;
    coupon(api, json!({"id": "HELLO", "percent_off_bps": 5000, "duration": "once"})).await;
    let restrictions = json!({"first_time_transaction": true});
    let code = json!({"coupon": "HELLO", "code": "FIRSTBUY", "restrictions": restrictions});
    api.post("/v1/promotion_codes", &code).await.ok();
    let body = json!({"customer": b.customer, "plan": b.basic, "promotion_code": "firstbuy",
                      "collection_method": "send_invoice", "days_until_due": 10});
    api.subscribe(&body).await.ok();
    // Its invoice is open, nothing is charged yet: the customer's first payment is that one.
    let again = json!({"customer": b.customer, "plan": b.pro, "promotion_code": "firstbuy"});
    let refused = api.subscribe(&again).await;
    assert_error(&refused, 400, "promotion_code_invalid");
    assert!(refused.text.contains("first"), "{}", refused.text);
}
