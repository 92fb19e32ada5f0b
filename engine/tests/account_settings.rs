//! Per-account settings: what belongs to the tenant, not to the engine.
//!
//! Proves that an account reads and changes its own settings at `/v1/account` (and the admin
//! any account's at `/v1/accounts/{id}`), and that they take effect on that account alone: its
//! seller country is what its tax rule is told (a customer without an address is taxed as a
//! domestic sale there), its `tax_behavior` is a new plan's default, and its receipts print its
//! seller details and show dates in its time zone. A field sent replaces, `null` clears, one
//! left out stays; a bank account number may pass Luhn; each bad value is a 400 that changes
//! nothing; a restricted key needs `account`.
//! How: the real engine over HTTP, accounts A and B configured, the bundled VAT rule (ZA 15 %,
//! KE 16 %), the engine's own seller country ZA.

mod common;

use common::*;

fn kenya() -> Value {
    json!({"settings": {
        "country": "ke",
        "timezone": "Africa/Nairobi",
        "default_currency": "kes",
        "tax_behavior": "exclusive",
        "statement_descriptor": "SHULE ONLINE",
        "seller": {"name": "Shule Online Ltd", "address": "Ngong Road 12, Nairobi", "tax_id": "P051234567X"},
        "bank_transfer": {
            "bank_name": "Equity Bank", "account_holder": "Shule Online Ltd",
            // Passes Luhn: a bank account number is not refused as a card number.
            "account_number": "4242424242424242", "branch_code": "068", "swift": "eqblkena"
        }
    }})
}

/// The first invoice of a monthly plan of 100.00 for a customer with no address.
async fn first_invoice_tax(api: &Api, currency: &str) -> Value {
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let plan = api.plan(10_000, currency, "month").await;
    let subscription = api.subscribe_ok(&customer, &plan).await;
    let invoice =
        api.get_ok(&format!("/v1/invoices/{}", str_field(&subscription, "latest_invoice"))).await;
    invoice["tax"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accounts_settings_are_its_own_and_take_effect_at_once() {
    let engine = Engine::start(Config::default()).await;
    let (a, b) = (engine.api_a(), engine.api_b());

    let untouched = a.get_ok("/v1/account").await;
    assert_eq!(untouched["id"], ACCOUNT_A);
    assert_eq!(untouched["settings"]["country"], Value::Null);
    assert_eq!(untouched["settings"]["seller"], Value::Null);

    let changed = a.post("/v1/account", &kenya()).await.ok().clone();
    let settings = &changed["settings"];
    assert_eq!(settings["country"], "KE");
    assert_eq!(settings["timezone"], "Africa/Nairobi");
    assert_eq!(settings["default_currency"], "kes");
    assert_eq!(settings["bank_transfer"]["account_number"], "4242424242424242");
    assert_eq!(settings["bank_transfer"]["swift"], "EQBLKENA");
    assert_eq!(a.get_ok("/v1/account").await, changed);
    assert_eq!(b.get_ok("/v1/account").await["settings"]["country"], Value::Null);

    // Tax: a customer without an address buys where the account sells.
    let taxed_in_kenya = first_invoice_tax(&a, "kes").await;
    assert_eq!(
        (&taxed_in_kenya["jurisdiction"], &taxed_in_kenya["rate_bps"]),
        (&json!("KE"), &json!(1600))
    );
    let taxed_in_za = first_invoice_tax(&b, "zar").await;
    assert_eq!(
        (&taxed_in_za["jurisdiction"], &taxed_in_za["rate_bps"]),
        (&json!("ZA"), &json!(1500))
    );

    // A plan without a tax behaviour takes the account's; B's follows its ZA seller (inclusive).
    let plan = json!({"name": "Family", "amount": 29_900, "currency": "kes", "interval": "month"});
    assert_eq!(a.create_plan(&plan).await["tax_behavior"], "exclusive");
    assert_eq!(b.create_plan(&plan).await["tax_behavior"], "inclusive");

    // Receipts: the account's seller, and dates in its zone.
    let (customer, _) = a.customer_with_card("pm_card_visa").await;
    let charge = a.charge_ok(&customer, 5_000, "kes").await;
    let receipt = a.get(&format!("/v1/charges/{}/receipt", str_field(&charge, "id"))).await;
    assert_eq!(receipt.status, 200);
    assert!(receipt.text.contains("Shule Online Ltd"), "{}", receipt.text);
    assert!(receipt.text.contains("P051234567X"), "{}", receipt.text);
    assert!(receipt.text.contains(" EAT"), "dates in Nairobi time: {}", receipt.text);

    // `null` clears one field; the others stay.
    let cleared = a.post("/v1/account", &json!({"settings": {"seller": null}})).await;
    assert_eq!(cleared.ok()["settings"]["seller"], Value::Null);
    assert_eq!(cleared.ok()["settings"]["country"], "KE");
    let receipt = a.get(&format!("/v1/charges/{}/receipt", str_field(&charge, "id"))).await;
    assert!(!receipt.text.contains("Shule Online Ltd"), "{}", receipt.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_setting_is_refused_and_changes_nothing() {
    let engine = Engine::start(Config::default().with_admin_key()).await;
    let a = engine.api_a();
    let before = a.post("/v1/account", &kenya()).await.ok().clone();
    let refused = [
        json!({"settings": {"country": "Kenya"}}),
        json!({"settings": {"timezone": "Mars/Olympus_Mons"}}),
        json!({"settings": {"default_currency": "xyz"}}),
        json!({"settings": {"tax_behavior": "both"}}),
        json!({"settings": {"statement_descriptor": "12345"}}),
        json!({"settings": {"statement_descriptor": "<script>alert</script>"}}),
        json!({"settings": {"seller": {"name": " "}}}),
        json!({"settings": {"bank_transfer": {"bank_name": "X", "account_holder": "Y",
            "account_number": "12", "branch_code": "1"}}}),
        json!({"settings": {"bank_transfer": {"bank_name": "X", "account_holder": "Y",
            "account_number": "123456", "branch_code": "1", "swift": "1234"}}}),
        json!({"settings": {"bank_transfer": {"bank_name": "X", "account_holder": "Y",
            "account_number": "4242\u{7}4242", "branch_code": "1"}}}),
        json!({"settings": {"bank_transfer": {"bank_name": "X", "account_holder": "Y",
            "account_number": "４２４２４２４２", "branch_code": "1"}}}),
        json!({"settings": {"country": "ZA", "colour": "red"}}),
        json!({"settings": ["KE", "Africa/Nairobi"]}),
        json!({"settings": {"seller": ["Shule", "Road", "P05"]}}),
        json!({"name": "Renamed by a key", "settings": {}}),
        json!({"settings": {"seller": {"name": "Card 4242 4242 4242 4242"}}}),
    ];
    for body in &refused {
        let response = a.post("/v1/account", body).await;
        assert_eq!(response.status, 400, "{body}: {}", response.text);
        assert!(
            matches!(response.error_code(), Some("validation_error" | "currency_invalid")),
            "{body}: {}",
            response.text
        );
    }
    assert_eq!(a.get_ok("/v1/account").await, before, "a refused change changed something");

    // The admin may rename the account and change its settings; B is not touched.
    let admin = engine.api(ADMIN_KEY);
    let renamed = admin
        .post(
            &format!("/v1/accounts/{ACCOUNT_A}"),
            &json!({"name": "Shule A", "settings": {"country": "ZA"}}),
        )
        .await;
    assert_eq!(renamed.ok()["name"], "Shule A");
    let seen = a.get_ok("/v1/account").await;
    assert_eq!((&seen["name"], &seen["settings"]["country"]), (&json!("Shule A"), &json!("ZA")));
    assert_eq!(seen["settings"]["timezone"], "Africa/Nairobi", "a field left out stays");
    assert_eq!(engine.api_b().get_ok("/v1/account").await["name"], ACCOUNT_B);

    // A restricted key needs `account`: reading it, or writing it.
    let keys = format!("/v1/accounts/{ACCOUNT_A}/keys");
    let reader = json!({"mode": "restricted", "permissions": {"account": "read"}});
    let reader = admin.post(&keys, &reader).await.ok().clone();
    let reader = engine.api(str_field(&reader, "secret"));
    assert_eq!(reader.get_ok("/v1/account").await["id"], ACCOUNT_A);
    let write = reader.post("/v1/account", &json!({"settings": {"country": "KE"}})).await;
    assert_error(&write, 403, "permission_denied");
    let charger = json!({"mode": "restricted", "permissions": {"charges": "write"}});
    let charger = admin.post(&keys, &charger).await.ok().clone();
    let charger = engine.api(str_field(&charger, "secret"));
    assert_error(&charger.get("/v1/account").await, 403, "permission_denied");
}
