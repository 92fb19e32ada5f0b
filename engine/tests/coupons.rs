//! Coupons and promotion codes over HTTP: made, read, listed and deleted; redeemed by charges
//! priced from line items (the engine resolves the code, the bundled rule applies it exactly);
//! every refusal a 400 that charges nothing; a limit that 50 concurrent charges cannot pass; and
//! a first-time-only code that one customer's concurrent first payments redeem once.

mod common;

use common::*;

fn cart(customer: &str) -> Value {
    json!({
        "customer": customer,
        "currency": "usd",
        "line_items": [{"sku": "course", "quantity": 1, "unit_amount": 10_000}],
    })
}

async fn buyer(api: &Api) -> String {
    let customer = api.create_customer_with(&json!({"address": {"country": "US"}})).await;
    let id = str_field(&customer, "id").to_owned();
    api.add_payment_method(&id, "pm_card_visa").await;
    id
}

#[tokio::test]
async fn a_coupon_is_made_read_listed_and_deleted() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let made = api
        .post(
            "/v1/coupons",
            &json!({"id": "TERM-1", "amount_off": 500, "currency": "usd", "duration": "once",
                    "max_redemptions": 3, "name": "R5 off"}),
        )
        .await
        .ok()
        .clone();
    assert_eq!(made["object"], "coupon");
    assert_eq!((made["amount_off"].clone(), made["currency"].clone()), (json!(500), json!("usd")));
    assert_eq!((made["times_redeemed"].clone(), made["valid"].clone()), (json!(0), json!(true)));
    let generated = api
        .post(
            "/v1/coupons",
            &json!({"percent_off_bps": 2500, "duration": "repeating", "duration_in_months": 3}),
        )
        .await
        .ok()
        .clone();
    assert!(str_field(&generated, "id").starts_with("coupon_"), "{generated}");
    assert_eq!(api.get_ok("/v1/coupons/TERM-1").await, made);
    let listed = api.get_ok("/v1/coupons").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2, "{listed}");

    let taken = api
        .post("/v1/coupons", &json!({"id": "TERM-1", "percent_off_bps": 1, "duration": "once"}))
        .await;
    assert_error(&taken, 400, "resource_already_exists");

    let deleted = api.delete("/v1/coupons/TERM-1").await.ok().clone();
    assert_eq!(deleted, json!({"id": "TERM-1", "object": "coupon", "deleted": true}));
    assert_error(&api.get("/v1/coupons/TERM-1").await, 404, "not_found");
    let customer = buyer(&api).await;
    let mut body = cart(&customer);
    body["coupon"] = json!("TERM-1");
    let refused = api.post("/v1/charges", &body).await;
    assert_error(&refused, 400, "coupon_invalid");
    assert!(api.customer_charges(&customer).await.is_empty(), "nothing was charged");
}

#[tokio::test]
async fn bad_coupons_are_refused_and_nothing_is_made() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    for (body, param) in [
        (json!({"percent_off_bps": 10_001, "duration": "once"}), "percent_off_bps"),
        (json!({"percent_off_bps": 0, "duration": "once"}), "percent_off_bps"),
        (json!({"amount_off": -5, "currency": "usd", "duration": "once"}), "amount_off"),
        (json!({"amount_off": 500, "duration": "once"}), "currency"),
        (
            json!({"percent_off_bps": 10, "amount_off": 5, "currency": "usd", "duration": "once"}),
            "percent_off_bps",
        ),
        (json!({"percent_off_bps": 10, "duration": "repeating"}), "duration_in_months"),
        (json!({"percent_off_bps": 10, "duration": "sometimes"}), "duration"),
        (json!({"percent_off_bps": 10, "duration": "once", "redeem_by": 1}), "redeem_by"),
        (json!({"percent_off_bps": 10, "duration": "once", "id": "has space"}), "id"),
    ] {
        let resp = api.post("/v1/coupons", &body).await;
        assert_eq!(resp.status, 400, "{body}: {}", resp.text);
        assert_eq!(resp.body["error"]["param"], param, "{body}: {}", resp.text);
    }
    let currency = api
        .post("/v1/coupons", &json!({"amount_off": 5, "currency": "xyz", "duration": "once"}))
        .await;
    assert_error(&currency, 400, "currency_invalid");
    assert_eq!(api.get_ok("/v1/coupons").await["data"], json!([]), "nothing was made");
}

#[tokio::test]
async fn a_promotion_code_is_redeemed_in_any_case_and_counted_once_paid() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    api.post("/v1/coupons", &json!({"id": "TEN", "percent_off_bps": 1000, "duration": "once"}))
        .await
        .ok();
    let code = api
        .post(
            "/v1/promotion_codes",
            &json!({"coupon": "TEN", "code": "Term1", "max_redemptions": 5}),
        )
        .await
        .ok()
        .clone();
    let taken = api.post("/v1/promotion_codes", &json!({"coupon": "TEN", "code": "TERM1"})).await;
    assert_error(&taken, 400, "resource_already_exists");

    let customer = buyer(&api).await;
    let mut body = cart(&customer);
    body["promotion_code"] = json!("term1");
    let charge = api.post("/v1/charges", &body).await.ok().clone();
    assert_eq!(charge["status"], "succeeded");
    assert_eq!(charge["breakdown"]["discounts"], json!([{"code": "TEN", "amount": 1_000}]));
    assert_eq!(charge["amount"], 9_000);
    let ledger = api.ledger().await;
    assert_eq!(ledger_entries(&ledger, "charge", str_field(&charge, "id"))[0]["amount"], 9_000);

    let read = api.get_ok(&format!("/v1/promotion_codes/{}", str_field(&code, "id"))).await;
    assert_eq!(read["times_redeemed"], 1, "{read}");
    assert_eq!(api.get_ok("/v1/coupons/TEN").await["times_redeemed"], 1);
    let found = api.get_ok("/v1/promotion_codes?code=tErM1").await;
    assert_eq!(found["data"][0]["id"], code["id"], "{found}");

    // A declined charge takes nothing off the limit.
    let declined_customer = api.create_customer_with(&json!({"address": {"country": "US"}})).await;
    let declined_customer = str_field(&declined_customer, "id").to_owned();
    api.add_payment_method(&declined_customer, "pm_card_chargeDeclined").await;
    let mut declined = cart(&declined_customer);
    declined["promotion_code"] = json!("TERM1");
    assert_eq!(api.post("/v1/charges", &declined).await.status, 402);
    assert_eq!(api.get_ok("/v1/coupons/TEN").await["times_redeemed"], 1);

    let off = api
        .post(&format!("/v1/promotion_codes/{}", str_field(&code, "id")), &json!({"active": false}))
        .await;
    assert_eq!(off.ok()["active"], false);
    let refused = api.post("/v1/charges", &body).await;
    assert_error(&refused, 400, "promotion_code_invalid");
    assert_eq!(refused.body["error"]["param"], "promotion_code");
    let unknown = {
        let mut body = cart(&customer);
        body["promotion_code"] = json!("NOPE");
        api.post("/v1/charges", &body).await
    };
    assert_error(&unknown, 400, "promotion_code_invalid");
    assert_eq!(api.customer_charges(&customer).await.len(), 1, "only the first was charged");
}

#[tokio::test]
async fn a_first_time_code_and_a_minimum_amount_are_held_to() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    api.post("/v1/coupons", &json!({"id": "HALF", "percent_off_bps": 5000, "duration": "once"}))
        .await
        .ok();
    let restrictions = json!({"first_time_transaction": true, "minimum_amount": 20_000,
                              "minimum_amount_currency": "usd"});
    api.post(
        "/v1/promotion_codes",
        &json!({"coupon": "HALF", "code": "NEWBIE", "restrictions": restrictions}),
    )
    .await
    .ok();
    let customer = buyer(&api).await;
    let mut small = cart(&customer);
    small["promotion_code"] = json!("NEWBIE");
    let resp = api.post("/v1/charges", &small).await;
    assert_error(&resp, 400, "promotion_code_invalid");
    assert!(resp.body["error"]["message"].as_str().unwrap().contains("at least"), "{}", resp.text);

    let mut big = small.clone();
    big["line_items"][0]["quantity"] = json!(2);
    assert_eq!(api.post("/v1/charges", &big).await.ok()["amount"], 10_000);
    let again = api.post("/v1/charges", &big).await;
    assert_error(&again, 400, "promotion_code_invalid");
    assert!(again.body["error"]["message"].as_str().unwrap().contains("first"), "{}", again.text);
}

#[tokio::test]
async fn fifty_concurrent_redemptions_of_a_code_limited_to_ten_make_exactly_ten() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    api.post(
        "/v1/coupons",
        &json!({"id": "RUSH", "amount_off": 100, "currency": "usd", "duration": "once"}),
    )
    .await
    .ok();
    api.post(
        "/v1/promotion_codes",
        &json!({"coupon": "RUSH", "code": "RUSH10", "max_redemptions": 10}),
    )
    .await
    .ok();
    let mut customers = Vec::new();
    for _ in 0..50 {
        customers.push(buyer(&api).await);
    }
    let attempts = customers.iter().map(|customer| {
        let api = api.clone();
        let mut body = cart(customer);
        body["promotion_code"] = json!("RUSH10");
        async move { api.post("/v1/charges", &body).await }
    });
    let answers = futures::future::join_all(attempts).await;
    let succeeded = answers.iter().filter(|resp| resp.status == 200).count();
    let refused = answers
        .iter()
        .filter(|resp| resp.status == 400 && resp.body["error"]["code"] == "promotion_code_invalid")
        .count();
    assert_eq!((succeeded, refused), (10, 40));
    let ledger = api.ledger().await;
    let charged = ledger.iter().filter(|entry| entry["kind"] == "charge");
    assert_eq!(charged.count(), 10, "the sandbox charged ten times");
    assert_eq!(api.get_ok("/v1/coupons/RUSH").await["times_redeemed"], 10);
}

#[tokio::test]
async fn concurrent_first_payments_of_one_customer_redeem_a_first_time_code_once() {
    // A slow processor: every charge is still `processing` while the others are checked.
    let engine = Engine::start(Config::default().with_sandbox_latency_ms(200)).await;
    let api = engine.api_a();
    api.post("/v1/coupons", &json!({"id": "HELLO", "percent_off_bps": 5000, "duration": "once"}))
        .await
        .ok();
    let restrictions = json!({"first_time_transaction": true});
    let code = json!({"coupon": "HELLO", "code": "FIRSTBUY", "restrictions": restrictions});
    api.post("/v1/promotion_codes", &code).await.ok();
    let customer = buyer(&api).await;
    let attempts = (0..8).map(|_| {
        let api = api.clone();
        let mut body = cart(&customer);
        body["promotion_code"] = json!("firstbuy");
        async move { api.post("/v1/charges", &body).await }
    });
    let answers = futures::future::join_all(attempts).await;
    let discounted: Vec<_> = answers.iter().filter(|resp| resp.status == 200).collect();
    assert_eq!(discounted.len(), 1, "one first payment: {answers:#?}");
    assert_eq!(discounted[0].body["amount"], 5_000, "{:?}", discounted[0]);
    for refused in answers.iter().filter(|resp| resp.status != 200) {
        assert_error(refused, 400, "promotion_code_invalid");
    }
    let ledger = api.ledger().await;
    assert_eq!(ledger.iter().filter(|entry| entry["kind"] == "charge").count(), 1);
}
