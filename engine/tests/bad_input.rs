//! Bad input: every malformed or hostile request gets a clear 4xx and leaves nothing behind.
//!
//! Proves that malformed JSON, wrong types, missing and unknown fields, amounts out of range
//! (0, negative, 10^15, one past the maximum), unknown currencies, an invalid `Idempotency-Key`,
//! a 1 MiB body (413), unknown or foreign objects (404), missing or unknown API keys (401), an
//! unknown route (404) and a method a path does not take (405, with `Allow` naming the ones it
//! does) are each refused with the contract's status, error `type`, `code`,
//! `message` (and `param` where one field is at fault); that none of them charges anything or
//! changes a customer; and that raw card numbers are refused as payment methods and never echoed,
//! logged or written to the data directory.
//! How: a fresh engine per test with a baseline (customer, card, one charge); each case is sent
//! and checked, problems are collected so one run names every broken case; afterwards the
//! customer's charges, payment methods and the sandbox ledger are compared with the baseline.

mod common;

use common::*;

/// One request expected to be refused.
struct Case {
    name: &'static str,
    body: Vec<u8>,
    status: u16,
    code: Option<&'static str>,
    param: Option<&'static str>,
}

fn case(name: &'static str, body: Value, status: u16, code: Option<&'static str>) -> Case {
    Case { name, body: to_bytes(&body), status, code, param: None }
}

fn amount_case(name: &'static str, customer: &str, amount: Value) -> Case {
    let body = json!({"customer": customer, "amount": amount, "currency": "usd"});
    Case { param: Some("amount"), ..case(name, body, 400, None) }
}

/// Sends each case to `path`; returns one line per case that was not answered as expected.
async fn check_cases(api: &Api, path: &str, cases: Vec<Case>) -> Vec<String> {
    let mut problems = Vec::new();
    for case in cases {
        let key = unique_key("bad-input");
        let response = api.post_raw(path, case.body, Some(&key)).await;
        if response.status != case.status {
            problems.push(format!(
                "{}: expected {}, got {}: {}",
                case.name, case.status, response.status, response.text
            ));
            continue;
        }
        if let Some(problem) = error_shape_problem(&response) {
            problems.push(format!("{}: {problem}", case.name));
            continue;
        }
        if let Some(code) = case.code
            && response.error_code() != Some(code)
        {
            problems.push(format!("{}: expected code {code}: {}", case.name, response.text));
        }
        if let Some(param) = case.param
            && response.body["error"]["param"] != param
        {
            problems.push(format!("{}: expected param {param}: {}", case.name, response.text));
        }
    }
    problems
}

/// What a customer's records and the processor look like, to show that nothing changed.
#[derive(Debug, PartialEq)]
struct Snapshot {
    customer: Value,
    payment_methods: Vec<Value>,
    charges: Vec<Value>,
    ledger: Vec<Value>,
}

async fn snapshot(api: &Api, customer: &str) -> Snapshot {
    Snapshot {
        customer: api.get_ok(&format!("/v1/customers/{customer}")).await,
        payment_methods: api.payment_methods(customer).await,
        charges: api.customer_charges(customer).await,
        ledger: api.ledger().await,
    }
}

/// A customer with a card and one succeeded charge.
async fn baseline(api: &Api) -> (String, String) {
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let charge = api.charge_ok(&customer, 1_000, "usd").await;
    (customer, str_field(&charge, "id").to_string())
}

/// A syntactically fine id of the same kind that names nothing (last character changed).
fn unknown_id_like(id: &str) -> String {
    let mut unknown = id.to_string();
    let last = unknown.pop().expect("non-empty id");
    unknown.push(if last == '0' { '1' } else { '0' });
    unknown
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_charge_requests_are_refused_and_charge_nothing() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = baseline(&api).await;
    let before = snapshot(&api, &customer).await;
    let c = customer.as_str();

    let cases = vec![
        Case {
            name: "malformed JSON",
            body: format!(r#"{{"customer":"{c}","amount":10"#).into_bytes(),
            status: 400,
            code: None,
            param: None,
        },
        Case {
            name: "not JSON at all",
            body: b"customer=cus_1&amount=100".to_vec(),
            status: 400,
            code: None,
            param: None,
        },
        Case { name: "empty body", body: Vec::new(), status: 400, code: None, param: None },
        case("JSON array", json!([c, 1000, "usd"]), 400, None),
        Case {
            param: Some("amount"),
            ..case(
                "amount as a string",
                json!({"customer": c, "amount": "1000", "currency": "usd"}),
                400,
                Some("validation_error"),
            )
        },
        case(
            "amount as a float",
            json!({"customer": c, "amount": 10.5, "currency": "usd"}),
            400,
            None,
        ),
        case(
            "customer as a number",
            json!({"customer": 42, "amount": 1000, "currency": "usd"}),
            400,
            None,
        ),
        case(
            "missing amount",
            json!({"customer": c, "currency": "usd"}),
            400,
            Some("validation_error"),
        ),
        case(
            "missing currency",
            json!({"customer": c, "amount": 1000}),
            400,
            Some("validation_error"),
        ),
        case(
            "missing customer",
            json!({"amount": 1000, "currency": "usd"}),
            400,
            Some("validation_error"),
        ),
        amount_case("amount 0", c, json!(0)),
        amount_case("negative amount", c, json!(-5)),
        amount_case("amount 10^15", c, json!(1_000_000_000_000_000_u64)),
        amount_case("amount one past the maximum", c, json!(100_000_000_000_u64)),
        Case {
            param: Some("currency"),
            ..case(
                "unknown currency",
                json!({"customer": c, "amount": 1000, "currency": "xyz"}),
                400,
                Some("currency_invalid"),
            )
        },
        case("empty currency", json!({"customer": c, "amount": 1000, "currency": ""}), 400, None),
        case(
            "unknown field",
            json!({"customer": c, "amount": 1000, "currency": "usd", "capture_twice": true}),
            400,
            Some("validation_error"),
        ),
    ];
    let mut problems = check_cases(&api, "/v1/charges", cases).await;

    // An Idempotency-Key longer than 255 characters is refused before anything happens.
    let long_key = "k".repeat(256);
    let response = api.charge_with_key(&customer, 1_000, "usd", &long_key).await;
    if response.status != 400 || error_shape_problem(&response).is_some() {
        problems
            .push(format!("256-character Idempotency-Key: {} {}", response.status, response.text));
    }

    // A card number where a payment method id belongs names no payment method: 400 or 404.
    let body = json!({"customer": c, "amount": 1000, "currency": "usd", "payment_method": "4242424242424242"});
    let response = api.post("/v1/charges", &body).await;
    if !matches!(response.status, 400 | 404) || error_shape_problem(&response).is_some() {
        problems
            .push(format!("card number as payment_method: {} {}", response.status, response.text));
    }

    assert!(
        problems.is_empty(),
        "bad charge requests not refused as expected:\n{}",
        problems.join("\n")
    );
    assert_eq!(snapshot(&api, &customer).await, before, "a refused request changed something");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_mebibyte_body_is_413() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = baseline(&api).await;
    let before = snapshot(&api, &customer).await;

    let description = "a".repeat(1024 * 1024);
    let body = to_bytes(&json!({
        "customer": customer, "amount": 1000, "currency": "usd", "description": description
    }));
    // A server may answer 413 and close before reading the whole body; the client can then see
    // the reset instead of the answer. A few attempts tell that race from a missing 413. The
    // closed connection must not be reused by the checks below, hence a pool of its own.
    let huge_api = engine.api_own_connections(KEY_A);
    let key = unique_key("huge");
    let mut errors = Vec::new();
    let mut response = None;
    for _ in 0..3 {
        let method = reqwest::Method::POST;
        match huge_api.try_send(method, "/v1/charges", Some(body.clone()), Some(&key)).await {
            Ok(answer) => {
                response = Some(answer);
                break;
            }
            Err(error) => errors.push(format!("{error:?}")),
        }
    }
    let response = response.unwrap_or_else(|| panic!("no answer to a 1 MiB body: {errors:?}"));
    assert_error(&response, 413, "body_too_large");

    // The engine still serves, and nothing was charged.
    assert_eq!(snapshot(&api, &customer).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_card_numbers_are_refused_and_never_kept() {
    const CARD_NUMBERS: [&str; 3] =
        ["4242424242424242", "4242 4242 4242 4242", "4242-4242-4242-4242"];
    let mut engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, charge_id) = baseline(&api).await;
    let before = snapshot(&api, &customer).await;
    let path = format!("/v1/customers/{customer}/payment_methods");

    let mut cases: Vec<Case> = CARD_NUMBERS
        .iter()
        .map(|number| {
            case("raw card number", json!({"token": number}), 400, Some("payment_method_invalid"))
        })
        .collect();
    cases.push(case(
        "unknown token",
        json!({"token": "pm_card_nonexistent"}),
        400,
        Some("payment_method_invalid"),
    ));
    cases.push(case("token as a number", json!({"token": 4242424242424242_u64}), 400, None));
    cases.push(case("missing token", json!({}), 400, None));
    let problems = check_cases(&api, &path, cases).await;
    assert!(
        problems.is_empty(),
        "bad payment methods not refused as expected:\n{}",
        problems.join("\n")
    );
    // Card data hidden in free text is refused too: a description, metadata, a token prefix.
    let hidden = vec![
        case(
            "card number in a description",
            json!({"customer": customer, "amount": 500, "currency": "usd",
                   "description": "paid with 4242 4242 4242 4242"}),
            400,
            Some("validation_error"),
        ),
        case(
            "card number in metadata",
            json!({"customer": customer, "amount": 500, "currency": "usd",
                   "metadata": {"card": "4242-4242-4242-4242"}}),
            400,
            Some("validation_error"),
        ),
    ];
    let problems = check_cases(&api, "/v1/charges", hidden).await;
    assert!(problems.is_empty(), "hidden card numbers not refused:\n{}", problems.join("\n"));
    let prefixed = api.post(&path, &json!({"token": "pm_4242424242424242"})).await;
    assert_error(&prefixed, 400, "payment_method_invalid");

    for number in CARD_NUMBERS {
        let response = api.post(&path, &json!({"token": number})).await;
        assert!(
            !response.text.contains(number),
            "the error echoes the card number: {}",
            response.text
        );
    }
    assert_eq!(
        snapshot(&api, &customer).await,
        before,
        "a refused payment method changed something"
    );

    // Stop cleanly so everything the engine wrote is on disk, then look for the numbers.
    engine.stop_graceful().await;
    // Control: the scan does see what the engine stores in the clear (the baseline charge's
    // id; personal data is sealed), so not finding the card numbers means something.
    assert!(
        !files_holding(engine.data_dir(), charge_id.as_bytes()).is_empty(),
        "the data directory scan found no stored charge id; it cannot prove anything"
    );
    let mut found = Vec::new();
    for number in CARD_NUMBERS {
        for path in files_holding(engine.data_dir(), number.as_bytes()) {
            found.push(format!("{} holds {number}", path.display()));
        }
        if engine.log_text().contains(number) {
            found.push(format!("the engine's log holds {number}"));
        }
    }
    assert!(found.is_empty(), "a raw card number was kept: {found:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_foreign_objects_are_404() {
    let engine = Engine::start(Config::default()).await;
    let api_a = engine.api_a();
    let api_b = engine.api_b();
    let (customer, charge_id) = baseline(&api_a).await;
    let (customer_b, charge_b) = baseline(&api_b).await;
    let before = snapshot(&api_a, &customer).await;
    let before_b = snapshot(&api_b, &customer_b).await;

    let unknown_customer = unknown_id_like(&customer);
    let cases = [
        ("charge for an unknown customer", api_a.charge(&unknown_customer, 1_000, "usd").await),
        ("charge for another account's customer", api_a.charge(&customer_b, 1_000, "usd").await),
        ("GET an unknown customer", api_a.get(&format!("/v1/customers/{unknown_customer}")).await),
        (
            "GET an unknown charge",
            api_a.get(&format!("/v1/charges/{}", unknown_id_like(&charge_id))).await,
        ),
        ("GET another account's charge", api_a.get(&format!("/v1/charges/{charge_b}")).await),
        ("refund another account's charge", api_a.refund(&charge_b, None).await),
        ("refund an unknown charge", api_a.refund(&unknown_id_like(&charge_id), None).await),
        (
            "payment method for an unknown customer",
            api_a
                .post(
                    &format!("/v1/customers/{unknown_customer}/payment_methods"),
                    &json!({"token": "pm_card_visa"}),
                )
                .await,
        ),
        ("unknown route", api_a.get("/v1/does_not_exist").await),
        ("unknown route without a key", engine.api_with_authorization(None).get("/nope").await),
    ];
    let mut problems = Vec::new();
    for (name, response) in &cases {
        if response.status != 404 {
            problems
                .push(format!("{name}: expected 404, got {}: {}", response.status, response.text));
        } else if let Some(problem) = error_shape_problem(response) {
            problems.push(format!("{name}: {problem}"));
        } else if response.error_code() != Some("not_found") {
            problems.push(format!("{name}: expected code not_found: {}", response.text));
        }
    }
    assert!(problems.is_empty(), "not answered 404 not_found:\n{}", problems.join("\n"));

    assert_eq!(snapshot(&api_a, &customer).await, before);
    assert_eq!(snapshot(&api_b, &customer_b).await, before_b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_unknown_keys_are_401_and_charge_nothing() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = baseline(&api).await;
    let before = snapshot(&api, &customer).await;

    let strangers = [
        engine.api_with_authorization(None),
        engine.api("sk_test_unknown_key_0000000"),
        engine.api("sk_test_unknown"),
        engine.api(&format!("{KEY_A}x")),
        engine.api_with_authorization(Some("Bearer".to_string())),
        engine.api_with_authorization(Some(format!("Basic {KEY_A}"))),
    ];
    for stranger in &strangers {
        assert_error(&stranger.charge(&customer, 1_000, "usd").await, 401, "unauthorized");
        assert_error(
            &stranger.get(&format!("/v1/customers/{customer}")).await,
            401,
            "unauthorized",
        );
    }
    assert_eq!(snapshot(&api, &customer).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_a_request_id() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let customer = api.create_customer().await;
    let anonymous = engine.api_with_authorization(None);
    let responses = [
        api.get(&format!("/v1/customers/{customer}")).await,
        api.post("/v1/customers", &json!({})).await,
        api.charge(&customer, 0, "usd").await,
        api.get("/v1/nothing_here").await,
        anonymous.get("/v1/sandbox/ledger").await,
        anonymous.get("/healthz").await,
    ];
    let mut request_ids = Vec::new();
    for response in &responses {
        let request_id = response.header("request-id");
        assert!(
            request_id.is_some_and(|id| !id.is_empty()),
            "{} ({}): no Request-Id header",
            response.what,
            response.status
        );
        request_ids.push(request_id.unwrap_or_default().to_string());
    }
    let count = request_ids.len();
    request_ids.sort();
    request_ids.dedup();
    assert_eq!(request_ids.len(), count, "request ids repeat: {request_ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_a_path_does_not_take_is_405_naming_those_it_does() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, charge_id) = baseline(&api).await;
    let before = snapshot(&api, &customer).await;
    let cases = [
        (reqwest::Method::PATCH, format!("/v1/customers/{customer}"), "GET, POST, DELETE"),
        (reqwest::Method::DELETE, "/v1/charges".to_owned(), "POST, GET"),
        (reqwest::Method::PUT, format!("/v1/charges/{charge_id}"), "GET"),
        (reqwest::Method::POST, "/healthz".to_owned(), "GET"),
    ];
    for (method, path, allowed) in cases {
        let body = Some(to_bytes(&json!({})));
        let response = api.send(method.clone(), &path, body, None).await;
        assert_error(&response, 405, "method_not_allowed");
        assert_eq!(response.header("allow"), Some(allowed), "{method} {path}");
    }
    assert_eq!(snapshot(&api, &customer).await, before, "nothing changed");
}
