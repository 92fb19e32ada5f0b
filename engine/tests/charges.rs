//! Charges: what a platform's backend sees when it charges a saved card through the sandbox.
//!
//! Proves that a customer with a saved card is charged (default or chosen payment method), that
//! the charge reads back the same alone and in the customer's list (newest first, paged with
//! `limit` / `starting_after` / `has_more`, no other customer's charges), that the sandbox
//! processor's ledger holds exactly the charges made, keyed by charge id, with the same amounts;
//! that zero-decimal (jpy) and three-decimal (kwd) currencies and the amount bounds are taken as
//! minor units unchanged; and that every decline token answers 402 `card_declined` with its
//! `decline_code` while the failed charge is kept, readable, and never reaches the ledger.
//! How: one fresh engine per test, driven only over HTTP (see `common`).

mod common;

use common::*;

/// Fields a charge must show the same way in its creation answer, `GET`, and lists.
const CHARGE_FIELDS: &[&str] = &[
    "id",
    "object",
    "customer",
    "amount",
    "currency",
    "status",
    "payment_method",
    "gateway",
    "gateway_reference",
    "failure_code",
    "failure_message",
    "amount_refunded",
    "refunded",
    "created",
    "metadata",
];

#[track_caller]
fn assert_same_charge(expected: &Value, actual: &Value) {
    for field in CHARGE_FIELDS {
        assert_eq!(
            expected[field], actual[field],
            "charge field `{field}` differs:\nexpected {expected}\nactual   {actual}"
        );
    }
}

/// A customer with a Visa (the default, as the first card) and a Mastercard, as the API
/// answered them.
struct Saved {
    customer_id: String,
    visa_id: String,
    mastercard_id: String,
}

async fn customer_with_two_cards(api: &Api, started: u64) -> Saved {
    let customer = api
        .create_customer_with(&json!({
            "email": "ada@example.com",
            "name": "Ada Lovelace",
            "metadata": {"school": "north"}
        }))
        .await;
    let customer_id = str_field(&customer, "id").to_string();
    assert!(customer_id.starts_with("cus_"), "customer id: {customer}");
    assert_eq!(customer["object"], "customer");
    assert_eq!(customer["email"], "ada@example.com");
    assert_eq!(customer["name"], "Ada Lovelace");
    assert_eq!(customer["metadata"]["school"], "north");
    assert!(customer["default_payment_method"].is_null(), "no card yet: {customer}");
    assert_created_recently(&customer, started);

    let visa = api.add_payment_method(&customer_id, "pm_card_visa").await;
    let visa_id = str_field(&visa, "id").to_string();
    assert!(visa_id.starts_with("pm_"), "payment method id: {visa}");
    assert_eq!(visa["object"], "payment_method");
    assert_eq!(visa["customer"], customer_id.as_str());
    assert_eq!(visa["type"], "card");
    assert_eq!(visa["card"]["brand"], "visa");
    assert_eq!(visa["card"]["last4"], "4242");
    let exp_month = u64_field(&visa["card"], "exp_month");
    assert!((1..=12).contains(&exp_month), "exp_month: {visa}");
    assert!(u64_field(&visa["card"], "exp_year") >= 2000, "exp_year: {visa}");
    assert_created_recently(&visa, started);

    let mastercard = api.add_payment_method(&customer_id, "pm_card_mastercard").await;
    let mastercard_id = str_field(&mastercard, "id").to_string();
    assert_eq!(mastercard["card"]["brand"], "mastercard");
    assert_eq!(mastercard["card"]["last4"], "4444");
    assert_ne!(visa_id, mastercard_id);

    Saved { customer_id, visa_id, mastercard_id }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_and_its_cards_read_back_as_created() {
    let started = now_secs();
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let Saved { customer_id, visa_id, mastercard_id } =
        customer_with_two_cards(&api, started).await;
    let read_customer = api.get_ok(&format!("/v1/customers/{customer_id}")).await;
    assert_eq!(read_customer["email"], "ada@example.com");
    assert_eq!(
        read_customer["default_payment_method"],
        visa_id.as_str(),
        "the first payment method becomes the default: {read_customer}"
    );
    let methods = api.payment_methods(&customer_id).await;
    let mut method_ids = ids(&methods);
    method_ids.sort();
    let mut expected_methods = vec![visa_id, mastercard_id];
    expected_methods.sort();
    assert_eq!(method_ids, expected_methods, "the customer's payment methods");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_or_the_named_card_is_charged_once_and_reads_back() {
    let started = now_secs();
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let Saved { customer_id, visa_id, mastercard_id } =
        customer_with_two_cards(&api, started).await;
    let body = json!({
        "customer": customer_id,
        "amount": 2000,
        "currency": "usd",
        "description": "Term fee",
        "metadata": {"order": "42"}
    });
    let response = api.post_with_key("/v1/charges", &body, &unique_key("charge")).await;
    assert!(response.header("request-id").is_some(), "no Request-Id on a 200");
    assert!(!response.is_replay(), "a first answer is not a replay");
    let charge = response.ok().clone();
    let charge_id = str_field(&charge, "id").to_string();
    assert!(charge_id.starts_with("ch_"), "charge id: {charge}");
    assert_eq!(charge["object"], "charge");
    assert_eq!(charge["customer"], customer_id.as_str());
    assert_eq!(charge["amount"], 2000);
    assert_eq!(charge["currency"], "usd");
    assert_eq!(charge["status"], "succeeded");
    assert_eq!(charge["payment_method"], visa_id.as_str(), "the default card is charged");
    assert_eq!(charge["gateway"], "sandbox");
    assert!(
        charge["gateway_reference"].as_str().is_some_and(|reference| !reference.is_empty()),
        "gateway_reference: {charge}"
    );
    assert!(charge["failure_code"].is_null(), "failure_code: {charge}");
    assert_eq!(charge["amount_refunded"], 0);
    assert_eq!(charge["refunded"], false);
    assert_eq!(charge["metadata"]["order"], "42");
    assert_created_recently(&charge, started);

    let read = api.get_ok(&format!("/v1/charges/{charge_id}")).await;
    assert_same_charge(&charge, &read);

    // A payment method other than the default is charged when named.
    let chosen = api
        .post(
            "/v1/charges",
            &json!({
                "customer": customer_id,
                "amount": 3100,
                "currency": "usd",
                "payment_method": mastercard_id
            }),
        )
        .await
        .ok()
        .clone();
    assert_eq!(chosen["status"], "succeeded");
    assert_eq!(chosen["payment_method"], mastercard_id.as_str());
    assert_ne!(chosen["gateway_reference"], charge["gateway_reference"]);

    // The processor charged exactly these two, each once, with the charge id as its key.
    let ledger = api.ledger().await;
    assert_eq!(ledger.len(), 2, "ledger: {ledger:?}");
    for expected in [&charge, &chosen] {
        let id = str_field(expected, "id");
        let entries = ledger_entries(&ledger, "charge", id);
        assert_eq!(entries.len(), 1, "ledger entries for {id}: {ledger:?}");
        let entry = entries[0];
        assert_eq!(entry["gateway_reference"], expected["gateway_reference"]);
        assert_eq!(entry["amount"], expected["amount"]);
        assert_eq!(entry["currency"], "usd");
        assert_created_recently(entry, started);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_charges_list_newest_first_in_pages() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let (other_customer, _) = api.customer_with_card("pm_card_visa").await;

    let mut created = Vec::new();
    for i in 0..7 {
        created.push(api.charge_ok(&customer, 100 + i, "usd").await);
        // Interleave another customer's charges: they must never show up in this list.
        api.charge_ok(&other_customer, 5_000 + i, "usd").await;
    }
    let newest_first: Vec<String> = ids(&created).into_iter().rev().collect();

    let default_page = api.get_ok(&format!("/v1/customers/{customer}/charges")).await;
    assert_eq!(default_page["object"], "list");
    assert_eq!(default_page["has_more"], false, "7 charges fit the default limit of 10");
    let default_data = default_page["data"].as_array().expect("data").clone();
    assert_eq!(ids(&default_data), newest_first, "newest first");
    for (listed, original) in default_data.iter().zip(created.iter().rev()) {
        assert_same_charge(original, listed);
    }

    let path = format!("/v1/customers/{customer}/charges?limit=3");
    let page_1 = api.get_ok(&path).await;
    let page_1_ids = ids(page_1["data"].as_array().expect("data"));
    assert_eq!(page_1_ids, newest_first[0..3]);
    assert_eq!(page_1["has_more"], true);

    let page_2 = api.get_ok(&format!("{path}&starting_after={}", page_1_ids[2])).await;
    let page_2_ids = ids(page_2["data"].as_array().expect("data"));
    assert_eq!(page_2_ids, newest_first[3..6]);
    assert_eq!(page_2["has_more"], true);

    let page_3 = api.get_ok(&format!("{path}&starting_after={}", page_2_ids[2])).await;
    let page_3_ids = ids(page_3["data"].as_array().expect("data"));
    assert_eq!(page_3_ids, newest_first[6..7]);
    assert_eq!(page_3["has_more"], false);

    let limit_1 = api.get_ok(&format!("/v1/customers/{customer}/charges?limit=1")).await;
    assert_eq!(ids(limit_1["data"].as_array().expect("data")), newest_first[0..1]);
    assert_eq!(limit_1["has_more"], true);

    assert_eq!(ids(&api.customer_charges(&customer).await), newest_first);
    assert_eq!(api.customer_charges(&other_customer).await.len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amounts_are_minor_units_in_any_currency() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;

    // (amount, currency): zero-decimal, three-decimal, and both ends of the allowed range.
    let cases: [(u64, &str); 4] =
        [(500, "jpy"), (1_234, "kwd"), (1, "usd"), (99_999_999_999, "usd")];
    let mut charges = Vec::new();
    for (amount, currency) in cases {
        let charge = api.charge(&customer, amount, currency).await;
        let charge = charge.ok().clone();
        assert_eq!(charge["status"], "succeeded", "{amount} {currency}: {charge}");
        assert_eq!(charge["amount"], amount, "{amount} {currency}: {charge}");
        assert_eq!(charge["currency"], currency, "{amount} {currency}: {charge}");
        charges.push(charge);
    }

    // The processor saw the same minor units: no scaling between engine and gateway.
    let ledger = api.ledger().await;
    assert_eq!(ledger.len(), cases.len(), "ledger: {ledger:?}");
    for charge in &charges {
        let entries = ledger_entries(&ledger, "charge", str_field(charge, "id"));
        assert_eq!(entries.len(), 1, "ledger entry for {charge}: {ledger:?}");
        assert_eq!(entries[0]["amount"], charge["amount"]);
        assert_eq!(entries[0]["currency"], charge["currency"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decline_is_a_402_and_a_stored_failed_charge() {
    const DECLINES: [(&str, &str); 7] = [
        ("pm_card_chargeDeclined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card"),
        ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc"),
        ("pm_card_chargeDeclinedProcessingError", "processing_error"),
        ("pm_card_chargeDeclinedLostCard", "lost_card"),
        ("pm_card_chargeDeclinedStolenCard", "stolen_card"),
    ];
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let customer = api.create_customer().await;

    let mut failed_ids = Vec::new();
    for (token, decline_code) in DECLINES {
        let method = api.add_payment_method(&customer, token).await;
        let method_id = str_field(&method, "id");
        let body = json!({
            "customer": customer,
            "amount": 1500,
            "currency": "usd",
            "payment_method": method_id
        });
        let response = api.post("/v1/charges", &body).await;
        assert_error(&response, 402, "card_declined");
        let error = &response.body["error"];
        assert_eq!(error["decline_code"], decline_code, "{token}: {}", response.text);
        let charge_id = error["charge"]
            .as_str()
            .unwrap_or_else(|| panic!("{token}: no error.charge in {}", response.text));
        assert!(charge_id.starts_with("ch_"), "{token}: {}", response.text);

        let charge = api.get_ok(&format!("/v1/charges/{charge_id}")).await;
        assert_eq!(charge["status"], "failed", "{token}: {charge}");
        assert_eq!(charge["failure_code"], decline_code, "{token}: {charge}");
        assert!(
            charge["failure_message"].as_str().is_some_and(|message| !message.is_empty()),
            "{token}: failure_message: {charge}"
        );
        assert_eq!(charge["amount"], 1500);
        assert_eq!(charge["customer"], customer.as_str());
        assert_eq!(charge["payment_method"], method_id);
        assert_eq!(charge["amount_refunded"], 0);
        assert_eq!(charge["refunded"], false);
        failed_ids.push(charge_id.to_string());
    }

    let listed = api.customer_charges(&customer).await;
    let expected: Vec<String> = failed_ids.iter().rev().cloned().collect();
    assert_eq!(ids(&listed), expected, "every failed charge is kept, newest first");
    assert!(listed.iter().all(|charge| charge["status"] == "failed"), "{listed:?}");

    // A declined card was never charged at the processor.
    let ledger = api.ledger().await;
    assert!(ledger.is_empty(), "declines reached the ledger: {ledger:?}");
}
