//! Charges priced by the account's rules over HTTP: `line_items` (and a coupon) instead of an
//! `amount`, priced by the bundled tiered-pricing rule and taxed by the bundled VAT rule for the
//! customer's country; the charge carries its breakdown and which rules made it; the gateway is
//! charged exactly the total; bad carts and rule refusals are 400s that charge nothing.

mod common;

use common::*;

/// The seat (graduated: 10 × 1000 + 2 × 800) and a course at its catalogue price, with 10 % off.
fn cart_body(customer: &str) -> Value {
    json!({
        "customer": customer,
        "currency": "usd",
        "line_items": [
            {"sku": "seat", "quantity": 12, "unit_amount": 0},
            {"sku": "course", "quantity": 1, "unit_amount": 5000},
        ],
        "coupon": "WELCOME10",
    })
}

async fn customer_in(api: &Api, country: &str) -> String {
    let customer = api
        .create_customer_with(
            &json!({"email": "buyer@example.com", "address": {"country": country}}),
        )
        .await;
    let id = str_field(&customer, "id").to_owned();
    api.add_payment_method(&id, "pm_card_visa").await;
    // The account's 10 % coupon; a second customer's call finds it made already.
    let coupon = json!({"id": "WELCOME10", "percent_off_bps": 1000, "duration": "once"});
    let made = api.post("/v1/coupons", &coupon).await;
    assert!(made.status == 200 || made.status == 400, "{}", made.text);
    id
}

#[tokio::test]
async fn a_cart_is_priced_taxed_and_charged_its_total() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let customer = customer_in(&api, "ZA").await;

    let charge = api.post("/v1/charges", &cart_body(&customer)).await.ok().clone();
    let breakdown = &charge["breakdown"];
    assert_eq!(breakdown["subtotal"], 16_600);
    assert_eq!(breakdown["discounts"], json!([{"code": "WELCOME10", "amount": 1_660}]));
    // The discount spread over the lines (10 440 and 4 500), then 15 % ZA VAT per line.
    assert_eq!(
        breakdown["tax"],
        json!([{"name": "VAT", "jurisdiction": "ZA", "rate_bps": 1500, "amount": 2_241}])
    );
    assert_eq!(breakdown["total"], 14_940 + 2_241);
    assert_eq!(charge["amount"], breakdown["total"], "amount == breakdown.total");
    assert_eq!(charge["status"], "succeeded");
    assert_eq!(breakdown["lines"][0], json!({"sku": "seat", "quantity": 12, "amount": 11_600}));

    let ledger = api.ledger().await;
    let charged = ledger_entries(&ledger, "charge", str_field(&charge, "id"));
    assert_eq!(charged.len(), 1);
    assert_eq!(charged[0]["amount"], 17_181, "the gateway was charged the total, once");

    // Kept with the charge: reading it back shows the same breakdown.
    let read = api.get_ok(&format!("/v1/charges/{}", str_field(&charge, "id"))).await;
    assert_eq!(read["breakdown"], charge["breakdown"]);
}

#[tokio::test]
async fn the_evaluation_names_the_rules_that_priced_it() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let customer = customer_in(&api, "KE").await;
    let charge = api.post("/v1/charges", &cart_body(&customer)).await.ok().clone();
    let rules = &charge["breakdown"]["rules"];
    let plugins = api.get_ok("/v1/plugins").await;
    for kind in ["pricing", "tax"] {
        let listing = plugins["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|plugin| plugin["kind"] == kind)
            .unwrap_or_else(|| panic!("{kind} is listed"));
        assert_eq!(rules[kind]["version"], 0);
        assert_eq!(rules[kind]["source"], "bundled");
        assert_eq!(rules[kind]["sha256"], listing["versions"][0]["sha256"]);
    }
    assert!(rules["evaluated_at"].as_u64().unwrap() >= now_secs() - 60);
    assert_eq!(charge["breakdown"]["tax"][0]["rate_bps"], 1600, "KE VAT");
}

#[tokio::test]
async fn a_replayed_cart_is_answered_from_its_record_and_charged_once() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let customer = customer_in(&api, "ZA").await;
    let key = unique_key("cart");
    let first = api.post_with_key("/v1/charges", &cart_body(&customer), &key).await;
    let again = api.post_with_key("/v1/charges", &cart_body(&customer), &key).await;
    assert_eq!(first.ok()["id"], again.ok()["id"]);
    assert!(again.is_replay());
    assert_eq!(api.customer_charges(&customer).await.len(), 1);
}

#[tokio::test]
async fn amount_and_line_items_are_one_or_the_other() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let customer = customer_in(&api, "ZA").await;
    let mut both = cart_body(&customer);
    both["amount"] = json!(1000);
    let mut neither = cart_body(&customer);
    neither.as_object_mut().unwrap().remove("line_items");
    neither.as_object_mut().unwrap().remove("coupon");
    let coupon_on_amount =
        json!({"customer": customer, "currency": "usd", "amount": 1000, "coupon": "WELCOME10"});
    for (body, param) in [(both, "amount"), (neither, "amount"), (coupon_on_amount, "coupon")] {
        let resp = api.post("/v1/charges", &body).await;
        assert_error(&resp, 400, "validation_error");
        assert_eq!(resp.body["error"]["param"], param, "{}", resp.text);
    }
    assert!(api.customer_charges(&customer).await.is_empty(), "nothing was charged");
}

#[tokio::test]
async fn bad_carts_are_refused_naming_the_line() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let customer = customer_in(&api, "ZA").await;
    let with_lines =
        |lines: Value| json!({"customer": customer, "currency": "usd", "line_items": lines});
    let cases = [
        (with_lines(json!([])), "line_items"),
        (
            with_lines(json!([{"sku": "seat", "quantity": 0, "unit_amount": 100}])),
            "line_items[0].quantity",
        ),
        (
            with_lines(json!([{"sku": "seat", "quantity": 1, "unit_amount": -5}])),
            "line_items[0].unit_amount",
        ),
        (with_lines(json!([{"sku": "", "quantity": 1, "unit_amount": 5}])), "line_items[0].sku"),
        (
            with_lines(json!([{"sku": "4242424242424242", "quantity": 1, "unit_amount": 5}])),
            "line_items[0].sku",
        ),
        (
            with_lines(json!([{"sku": "seat", "quantity": -1, "unit_amount": 5}])),
            "line_items[0].quantity",
        ),
        (with_lines(json!([{"sku": "seat", "quantity": 1}])), "line_items[0]"),
    ];
    for (body, param) in cases {
        let resp = api.post("/v1/charges", &body).await;
        assert_error(&resp, 400, "validation_error");
        let got = resp.body["error"]["param"].as_str().unwrap_or_default().to_owned();
        assert!(got.starts_with(param), "{param}: {}", resp.text);
    }
    let too_many: Vec<Value> = (0..251)
        .map(|index| json!({"sku": format!("s{index}"), "quantity": 1, "unit_amount": 1}))
        .collect();
    assert_error(
        &api.post("/v1/charges", &with_lines(json!(too_many))).await,
        400,
        "validation_error",
    );
    assert!(api.customer_charges(&customer).await.is_empty(), "nothing was charged");
}

#[tokio::test]
async fn a_rule_refusing_the_cart_is_a_400_that_charges_nothing() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let customer = customer_in(&api, "ZA").await;
    let mut unknown = cart_body(&customer);
    unknown["coupon"] = json!("NOSUCHCOUPON");
    let resp = api.post("/v1/charges", &unknown).await;
    assert_error(&resp, 400, "coupon_invalid");
    assert!(
        resp.body["error"]["message"].as_str().unwrap().contains("NOSUCHCOUPON"),
        "{}",
        resp.text
    );

    let mut wrong_currency = cart_body(&customer);
    wrong_currency["currency"] = json!("jpy");
    let resp = api.post("/v1/charges", &wrong_currency).await;
    assert_error(&resp, 400, "validation_error");
    assert!(
        resp.body["error"]["message"].as_str().unwrap().contains("pricing rule"),
        "{}",
        resp.text
    );

    // The bundled VAT rule needs the customer's country.
    let nowhere = api.create_customer().await;
    api.add_payment_method(&nowhere, "pm_card_visa").await;
    let resp = api.post("/v1/charges", &cart_body(&nowhere)).await;
    assert_error(&resp, 400, "validation_error");
    assert!(resp.body["error"]["message"].as_str().unwrap().contains("country"), "{}", resp.text);

    assert!(api.customer_charges(&customer).await.is_empty());
    assert!(api.ledger().await.is_empty(), "the gateway saw nothing");
}

#[tokio::test]
async fn an_eu_business_in_another_member_state_is_reverse_charged() {
    let engine = Engine::start(Config::default().with_seller_country("DE")).await;
    let api = engine.api_a();
    let business = api
        .create_customer_with(&json!({
            "address": {"country": "FR"},
            "tax_ids": [{"type": "eu_vat", "value": "FR12345678901"}],
        }))
        .await;
    let consumer = api.create_customer_with(&json!({"address": {"country": "FR"}})).await;
    let mut charges = Vec::new();
    for customer in [&business, &consumer] {
        let id = str_field(customer, "id");
        api.add_payment_method(id, "pm_card_visa").await;
        let body = json!({
            "customer": id,
            "currency": "eur",
            "line_items": [{"sku": "course", "quantity": 1, "unit_amount": 10_000}],
        });
        charges.push(api.post("/v1/charges", &body).await.ok().clone());
    }
    assert_eq!(charges[0]["breakdown"]["reverse_charge"], true);
    assert_eq!(charges[0]["breakdown"]["tax"], json!([]));
    assert_eq!(charges[0]["amount"], 10_000);
    assert_eq!(charges[1]["breakdown"]["reverse_charge"], false);
    assert_eq!(charges[1]["breakdown"]["tax"][0]["amount"], 2_000, "FR VAT for a consumer");
    assert_eq!(charges[1]["amount"], 12_000);
}

#[tokio::test]
async fn tax_ids_are_kept_on_the_customer_and_checked() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let customer = api
        .create_customer_with(&json!({
            "address": {"country": "FR"},
            "tax_ids": [{"type": "eu_vat", "value": "fr12345678901"}],
        }))
        .await;
    assert_eq!(customer["tax_ids"], json!([{"type": "eu_vat", "value": "FR12345678901"}]));
    let bad =
        api.post("/v1/customers", &json!({"tax_ids": [{"type": "eu vat", "value": "FR1"}]})).await;
    assert_error(&bad, 400, "validation_error");
    assert_eq!(bad.body["error"]["param"], "tax_ids[0].type");
}
