//! Authentication and account isolation.
//!
//! Proves that every `/v1` route refuses a request without a valid secret key (401
//! `unauthorized`, also for near-miss keys and other schemes) while `/healthz` stays open (and
//! `/metrics` is not served on the API's listener at all); and that two accounts on one engine never see or touch each other's objects: account B
//! gets 404 (not 403) for account A's customer, payment method, charge and refund, cannot charge,
//! refund, list or add cards for them, and A's records and the processor's ledger are unchanged.
//! How: one engine configured with accounts `acct_a` and `acct_b`; each test builds A's objects
//! over HTTP, then plays B (or a stranger) against them.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_routes_need_a_valid_key() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let charge_id = str_field(&api.charge_ok(&customer, 1_000, "usd").await, "id").to_string();

    let strangers = [
        ("no Authorization header", engine.api_with_authorization(None)),
        ("unknown well-formed key", engine.api("sk_test_account_c_secret_1")),
        ("malformed key", engine.api("sk_test_nope")),
        ("a known key with a suffix", engine.api(&format!("{KEY_A}0"))),
        ("a known key's prefix", engine.api(&KEY_A[..KEY_A.len() - 1])),
        ("empty bearer", engine.api_with_authorization(Some("Bearer ".to_string()))),
        ("other scheme", engine.api_with_authorization(Some(format!("Token {KEY_A}")))),
    ];
    let mut problems = Vec::new();
    for (name, stranger) in &strangers {
        let responses = [
            stranger.get(&format!("/v1/customers/{customer}")).await,
            stranger.post("/v1/customers", &json!({"email": "x@example.com"})).await,
            stranger.charge(&customer, 1_000, "usd").await,
            stranger.get(&format!("/v1/charges/{charge_id}")).await,
            stranger.refund(&charge_id, None).await,
            stranger.get(&format!("/v1/customers/{customer}/charges")).await,
            stranger.get("/v1/sandbox/ledger").await,
        ];
        for response in &responses {
            if response.status != 401 || response.error_code() != Some("unauthorized") {
                problems.push(format!(
                    "{name}: {}: {} {}",
                    response.what, response.status, response.text
                ));
            } else if let Some(problem) = error_shape_problem(response) {
                problems.push(format!("{name}: {}: {problem}", response.what));
            }
        }
    }
    assert!(problems.is_empty(), "not refused with 401 unauthorized:\n{}", problems.join("\n"));

    // Nothing the strangers asked for happened.
    let charge = api.get_ok(&format!("/v1/charges/{charge_id}")).await;
    assert_eq!(charge["amount_refunded"], 0, "{charge}");
    assert_eq!(api.customer_charges(&customer).await.len(), 1);
    assert_eq!(api.ledger().await.len(), 1);

    let anonymous = engine.api_with_authorization(None);
    assert_eq!(anonymous.get("/healthz").await.status, 200);
    assert_eq!(anonymous.get("/metrics").await.status, 404, "metrics are on their own listener");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_never_see_each_others_objects() {
    let engine = Engine::start(Config::default()).await;
    let api_a = engine.api_a();
    let api_b = engine.api_b();

    let (customer, method) = api_a.customer_with_card("pm_card_visa").await;
    let charge = api_a.charge_ok(&customer, 5_000, "usd").await;
    let charge_id = str_field(&charge, "id").to_string();
    let refund_id = api_a.refund(&charge_id, Some(1_000)).await.id();
    let customer_before = api_a.get_ok(&format!("/v1/customers/{customer}")).await;
    let ledger_before = api_a.ledger().await;

    // B has objects of its own, so its key is certainly valid.
    let (customer_b, _) = api_b.customer_with_card("pm_card_visa").await;
    api_b.charge_ok(&customer_b, 700, "usd").await;
    let ledger_b = api_b.ledger().await;

    let attempts = [
        api_b.get(&format!("/v1/customers/{customer}")).await,
        api_b.get(&format!("/v1/charges/{charge_id}")).await,
        api_b.get(&format!("/v1/refunds/{refund_id}")).await,
        api_b.get(&format!("/v1/customers/{customer}/charges")).await,
        api_b.get(&format!("/v1/customers/{customer}/payment_methods")).await,
        api_b.charge(&customer, 1_000, "usd").await,
        api_b.refund(&charge_id, Some(500)).await,
        api_b
            .post(
                &format!("/v1/customers/{customer}/payment_methods"),
                &json!({"token": "pm_card_visa"}),
            )
            .await,
        api_b.delete(&format!("/v1/payment_methods/{method}")).await,
    ];
    let mut problems = Vec::new();
    for response in &attempts {
        if response.status != 404 || response.error_code() != Some("not_found") {
            problems.push(format!("{}: {} {}", response.what, response.status, response.text));
        } else if let Some(problem) = error_shape_problem(response) {
            problems.push(format!("{}: {problem}", response.what));
        }
    }
    // B naming A's card for B's own customer: refused (400 or 404), never charged.
    let body = json!({"customer": customer_b, "amount": 1000, "currency": "usd", "payment_method": method});
    let response = api_b.post("/v1/charges", &body).await;
    if !matches!(response.status, 400 | 404) || error_shape_problem(&response).is_some() {
        problems.push(format!("{}: {} {}", response.what, response.status, response.text));
    }
    assert!(problems.is_empty(), "account B reached account A's objects:\n{}", problems.join("\n"));

    // A's objects are untouched, and the processor saw nothing from B's attempts.
    assert_eq!(api_a.get_ok(&format!("/v1/customers/{customer}")).await, customer_before);
    let methods = api_a.payment_methods(&customer).await;
    assert_eq!(ids(&methods), [method.as_str()]);
    let charge_now = api_a.get_ok(&format!("/v1/charges/{charge_id}")).await;
    assert_eq!(charge_now["amount_refunded"], 1_000, "{charge_now}");
    assert_eq!(ids(&api_a.customer_charges(&customer).await), [charge_id.as_str()]);
    // Each account's sandbox ledger shows its own money only: A's charge and refund, B's charge.
    assert_eq!(api_a.ledger().await, ledger_before, "B's charge or attempts in A's ledger");
    assert_eq!(ledger_before.len(), 2, "{ledger_before:?}");
    assert_eq!(api_b.ledger().await, ledger_b, "B's refused attempts reached the processor");
    assert_eq!(ledger_b.len(), 1, "{ledger_b:?}");
    assert_eq!(ledger_b[0]["amount"], 700, "{ledger_b:?}");

    // And A cannot see B's customer either.
    let response = api_a.get(&format!("/v1/customers/{customer_b}")).await;
    assert_error(&response, 404, "not_found");
}
