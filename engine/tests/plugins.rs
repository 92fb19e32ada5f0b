//! Per-account rules over HTTP: uploading a component activates it for that account only,
//! listing shows versions and hashes, rollback walks back to the bundled rule, refused uploads
//! change nothing, and hostile components fail only their own requests with `plugin_error`
//! while the engine keeps answering everyone else. Components are real, built from `plugins/`.

mod common;

use common::*;

fn kind_listing<'a>(plugins: &'a Value, kind: &str) -> &'a Value {
    plugins["data"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|plugin| plugin["kind"] == kind)
        .unwrap_or_else(|| panic!("{kind} is listed in {plugins}"))
}

#[tokio::test]
async fn every_account_starts_on_the_bundled_rules() {
    let engine = Engine::start(Config::default()).await;
    let plugins = engine.api_a().get_ok("/v1/plugins").await;
    for kind in ["pricing", "proration", "tax"] {
        let listing = kind_listing(&plugins, kind);
        assert_eq!(listing["active_version"], 0);
        let bundled = &listing["versions"][0];
        assert_eq!(bundled["source"], "bundled");
        assert_eq!(bundled["active"], true);
        assert_eq!(bundled["sha256"].as_str().unwrap().len(), 64);
    }
}

#[tokio::test]
async fn an_upload_runs_for_its_account_only_and_rolls_back() {
    let mut engine = Engine::start(Config::default()).await;
    let (a, b) = (engine.api_a(), engine.api_b());
    let hostile = plugin_wasm("hostile_pricing");
    let uploaded = a.upload_rule("pricing", hostile.clone()).await.ok().clone();
    assert_eq!(uploaded["active_version"], 1);
    assert_eq!(uploaded["versions"][1]["size_bytes"], hostile.len());
    let again = a.upload_rule("pricing", hostile).await.ok().clone();
    assert_eq!(again["active_version"], 1, "the active bytes again are not a new version");

    // A's pricing now traps on sku `trap`; B's bundled rule prices it at its catalogue price.
    let (buyer_a, buyer_b) = (a.za_buyer().await, b.za_buyer().await);
    assert_error(&a.post("/v1/charges", &priced_cart(&buyer_a, "trap")).await, 500, "plugin_error");
    let b_charge = b.post("/v1/charges", &priced_cart(&buyer_b, "trap")).await;
    assert_eq!(b_charge.ok()["breakdown"]["rules"]["pricing"]["source"], "bundled");
    assert_eq!(kind_listing(&b.get_ok("/v1/plugins").await, "pricing")["active_version"], 0);
    let a_charge = a.post("/v1/charges", &priced_cart(&buyer_a, "book")).await.ok().clone();
    assert_eq!(a_charge["breakdown"]["rules"]["pricing"]["version"], 1);
    assert_eq!(a_charge["breakdown"]["rules"]["pricing"]["source"], "uploaded");

    // An uploaded rule survives a restart, loaded from the compiled cache.
    engine.restart_graceful().await;
    let a = engine.api_a();
    assert_error(&a.post("/v1/charges", &priced_cart(&buyer_a, "trap")).await, 500, "plugin_error");
    let compiled = std::fs::read_dir(engine.data_dir().join("plugins").join("compiled"))
        .expect("the compiled cache exists")
        .count();
    assert!(compiled >= 4, "three bundled rules and the upload are cached ({compiled})");

    let rolled_back = a.post("/v1/plugins/pricing/rollback", &json!({})).await.ok().clone();
    assert_eq!(rolled_back["active_version"], 0);
    let charge = a.post("/v1/charges", &priced_cart(&buyer_a, "trap")).await.ok().clone();
    assert_eq!(charge["breakdown"]["rules"]["pricing"]["source"], "bundled");
    let nothing_left = a.post("/v1/plugins/pricing/rollback", &json!({})).await;
    assert_error(&nothing_left, 400, "no_previous_version");
}

#[tokio::test]
async fn a_retried_rollback_goes_back_once() {
    let engine = Engine::start(Config::default()).await;
    let a = engine.api_a();
    a.upload_rule("pricing", plugin_wasm("hostile_pricing")).await.ok();
    a.upload_rule("pricing", plugin_wasm("student_pricing")).await.ok();
    let path = "/v1/plugins/pricing/rollback";
    let first = a.post_with_key(path, &json!({}), "rollback-once").await;
    assert_eq!(first.ok()["active_version"], 1);
    assert!(!first.is_replay());
    // The client did not see the answer and retries: the same answer, and version 1 stays.
    let retry = a.post_with_key(path, &json!({}), "rollback-once").await;
    assert!(retry.is_replay(), "{:?}", retry.header("idempotent-replayed"));
    assert_eq!(retry.ok(), first.ok());
    assert_eq!(kind_listing(&a.get_ok("/v1/plugins").await, "pricing")["active_version"], 1);
    // The key is the account's: B's rollback under it is B's own (and B has none to make).
    let b = engine.api_b().post_with_key(path, &json!({}), "rollback-once").await;
    assert_error(&b, 400, "no_previous_version");
    // A new key is a new rollback; a different request under the old key is refused.
    let next = a.post_with_key(path, &json!({}), "rollback-twice").await;
    assert_eq!(next.ok()["active_version"], 0);
    let other = a.post_with_key("/v1/plugins/tax/rollback", &json!({}), "rollback-once").await;
    assert_error(&other, 422, "idempotency_key_reused");

    // The record survives a restart with the history it was written with.
    let mut engine = engine;
    engine.restart_graceful().await;
    let retry = engine.api_a().post_with_key(path, &json!({}), "rollback-once").await;
    assert!(retry.is_replay());
    assert_eq!(
        kind_listing(&engine.api_a().get_ok("/v1/plugins").await, "pricing")["active_version"],
        0
    );
}

/// `component` with a custom section appended: the same rule, other bytes (another version).
fn with_custom_section(component: &[u8]) -> Vec<u8> {
    let (name, payload) = (b"kassa-test".as_slice(), b"another version".as_slice());
    let mut bytes = component.to_vec();
    bytes.push(0); // a custom section
    bytes.push((1 + name.len() + payload.len()) as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(payload);
    bytes
}

/// The hashes of the files in `dir` named `<sha256><suffix>`.
fn hashes_in(dir: &std::path::Path, suffix: &str) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("the folder exists")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(suffix))
        .map(|name| name[..64].to_owned())
        .collect()
}

#[tokio::test]
async fn old_versions_are_pruned_and_a_refused_upload_leaves_nothing() {
    let engine = Engine::start(Config::default().with_rules_toml("versions_kept = 2")).await;
    let (a, b) = (engine.api_a(), engine.api_b());
    let plugins_dir = engine.data_dir().join("plugins");
    let compiled = || hashes_in(&plugins_dir.join("compiled"), ".cwasm");
    let stored = || hashes_in(&plugins_dir, ".wasm");
    let bundled: Vec<String> = a.get_ok("/v1/plugins").await["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kind| kind["versions"][0]["sha256"].as_str().unwrap().to_owned())
        .collect();
    // B runs the student rule: A's pruning of the same bytes must leave them to B.
    let student = plugin_wasm("student_pricing");
    b.upload_rule("pricing", student.clone()).await.ok();

    let before = compiled();
    let refused = a.upload_rule("pricing", plugin_wasm("hostile_filesystem")).await;
    assert_error(&refused, 400, "plugin_invalid");
    assert_eq!(compiled(), before, "a refused upload writes no compiled artifact");

    let hostile = plugin_wasm("hostile_pricing");
    let hostile_again = with_custom_section(&hostile);
    for bytes in
        [plugin_wasm("tiered_pricing"), student.clone(), hostile.clone(), hostile_again.clone()]
    {
        a.upload_rule("pricing", bytes).await.ok();
    }
    let listing = kind_listing(&a.get_ok("/v1/plugins").await, "pricing").clone();
    let versions: Vec<u64> = listing["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [0, 3, 4], "the bundled rule and the newest two: {listing}");
    assert_eq!(listing["active_version"], 4);

    let sha = |bytes: &[u8]| kassa::rules::sha256_hex(bytes);
    let expected_stored: std::collections::BTreeSet<String> =
        [sha(&student), sha(&hostile), sha(&hostile_again)].into_iter().collect();
    assert_eq!(stored(), expected_stored, "A's pruned versions' bytes are gone, B's stay");
    let mut expected_compiled = expected_stored.clone();
    expected_compiled.extend(bundled);
    assert_eq!(compiled(), expected_compiled, "so are their compiled artifacts");

    // Rollbacks walk the versions kept, then to the bundled rule.
    let path = "/v1/plugins/pricing/rollback";
    assert_eq!(a.post(path, &json!({})).await.ok()["active_version"], 3);
    assert_eq!(a.post(path, &json!({})).await.ok()["active_version"], 0);
    // B's rule still runs from its bytes, after a restart too.
    let mut engine = engine;
    engine.restart_graceful().await;
    let b = engine.api_b();
    let student_buyer = b
        .create_customer_with(
            &json!({"address": {"country": "ZA"}, "metadata": {"student": "true"}}),
        )
        .await;
    let student_buyer = str_field(&student_buyer, "id").to_owned();
    b.add_payment_method(&student_buyer, "pm_card_visa").await;
    let charge = b.post("/v1/charges", &priced_cart(&student_buyer, "course")).await.ok().clone();
    assert_eq!(charge["breakdown"]["discounts"][0]["code"], "STUDENT20");
}

#[tokio::test]
async fn hostile_rules_fail_only_their_own_requests() {
    let engine = Engine::start(Config::default()).await;
    let (a, b) = (engine.api_a(), engine.api_b());
    a.upload_rule("pricing", plugin_wasm("hostile_pricing")).await.ok();
    let (buyer_a, buyer_b) = (a.za_buyer().await, b.za_buyer().await);

    let hostile = [
        ("loop", "instruction budget"),
        ("grow", "memory"),
        ("trap", "gave up on purpose"),
        ("recurse", ""),
        ("huge", "at most"),
        ("wrong-currency", "`eur`"),
        ("bad-totals", "not subtotal"),
    ];
    let mut hostile_calls = Vec::new();
    for (sku, _) in hostile {
        let (api, body) = (a.clone(), priced_cart(&buyer_a, sku));
        hostile_calls.push(tokio::spawn(async move { api.post("/v1/charges", &body).await }));
    }
    let mut good_calls = Vec::new();
    for index in 0..20 {
        let (api, body) = match index % 2 {
            0 => (b.clone(), priced_cart(&buyer_b, "book")),
            _ => (a.clone(), priced_cart(&buyer_a, "book")),
        };
        good_calls.push(tokio::spawn(async move { api.post("/v1/charges", &body).await }));
    }
    for ((sku, named), call) in hostile.into_iter().zip(hostile_calls) {
        let resp = call.await.unwrap();
        assert_error(&resp, 500, "plugin_error");
        let message = resp.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("pricing rule failed") && message.contains(named),
            "{sku}: {message}"
        );
    }
    for call in good_calls {
        assert_eq!(call.await.unwrap().ok()["status"], "succeeded");
    }
    // Only the good charges exist; the engine still answers.
    assert_eq!(a.customer_charges(&buyer_a).await.len(), 10);
    assert_eq!(engine.api_a().get("/healthz").await.status, 200);
}

#[tokio::test]
async fn a_rule_too_long_for_an_async_worker_still_prices_the_charge() {
    let engine = Engine::start(Config::default()).await;
    let a = engine.api_a();
    a.upload_rule("pricing", plugin_wasm("hostile_pricing")).await.ok();
    let buyer = a.za_buyer().await;
    // The `slow` sku spins past the inline budget before it prices honestly: the call is made
    // again off the worker, and the charge is priced as if nothing happened.
    let charge = a.post("/v1/charges", &priced_cart(&buyer, "slow")).await.ok().clone();
    assert_eq!(charge["status"], "succeeded");
    assert_eq!(charge["breakdown"]["subtotal"], 1000);
    assert_eq!(charge["breakdown"]["tax"][0]["amount"], 150, "ZA VAT, 15 %");
    assert_eq!(charge["amount"], 1150);
    let metrics = engine.metrics_api().get("/metrics").await.text;
    for counted in [
        r#"kassa_rule_call_duration_seconds_count{kind="pricing",outcome="not_inline"} 1"#,
        r#"kassa_rule_call_duration_seconds_count{kind="pricing",outcome="ok"} 1"#,
    ] {
        assert!(metrics.contains(counted), "missing `{counted}` in:\n{metrics}");
    }
}

#[tokio::test]
async fn a_hostile_tax_rule_fails_its_request() {
    let engine = Engine::start(Config::default()).await;
    let a = engine.api_a();
    a.upload_rule("tax", plugin_wasm("hostile_tax")).await.ok();
    let customer = a.za_buyer().await;
    let resp = a.post("/v1/charges", &priced_cart(&customer, "negative-tax")).await;
    assert_error(&resp, 500, "plugin_error");
    assert!(resp.body["error"]["message"].as_str().unwrap().contains("negative"), "{}", resp.text);
    let fine = a.post("/v1/charges", &priced_cart(&customer, "book")).await.ok().clone();
    assert_eq!(fine["breakdown"]["tax"][0]["amount"], 100, "the hostile rule's honest 10 %");
}

#[tokio::test]
async fn tax_lines_may_not_add_up_past_the_rates_maximum() {
    let engine = Engine::start(Config::default()).await;
    let a = engine.api_a();
    a.upload_rule("tax", plugin_wasm("hostile_tax")).await.ok();
    let customer = a.za_buyer().await;
    // Five lines of 100 % each: every line passes alone, together they tax 500 %.
    let resp = a.post("/v1/charges", &priced_cart(&customer, "stacked-tax")).await;
    assert_error(&resp, 500, "plugin_error");
    let message = resp.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("tax rates add up to 50000 bps"), "{message}");
    assert!(a.customer_charges(&customer).await.is_empty(), "nothing was charged");
}

#[tokio::test]
async fn refused_uploads_name_the_reason_and_change_nothing() {
    let engine = Engine::start(Config::default()).await;
    let a = engine.api_a();
    let before = a.get_ok("/v1/plugins").await;
    let vat = plugin_wasm("vat");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("pricing", plugin_wasm("hostile_filesystem"), "wasi:filesystem"),
        ("pricing", plugin_wasm("hostile_sockets"), "wasi:sockets"),
        ("pricing", b"\0asm\x01\0\0\0".to_vec(), "core WebAssembly module"),
        ("tax", vat[..vat.len() / 3].to_vec(), "not a valid component"),
        ("pricing", vat.clone(), "does not export"),
        ("proration", plugin_wasm("tiered_pricing"), "does not export"),
    ];
    for (kind, bytes, reason) in cases {
        let resp = a.upload_rule(kind, bytes).await;
        assert_error(&resp, 400, "plugin_invalid");
        let message = resp.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(reason), "{kind}: `{message}` should name `{reason}`");
    }
    let json_upload = a.put_bytes("/v1/plugins/tax", vat, "application/json").await;
    assert_error(&json_upload, 400, "plugin_invalid");
    assert_error(&a.upload_rule("discounts", b"\0asm".to_vec()).await, 404, "not_found");
    // The declared length alone earns the 413, before any of the body is read.
    let headers = [
        ("Authorization", format!("Bearer {KEY_A}")),
        ("Content-Type", "application/wasm".to_owned()),
    ];
    let oversized = 4 * 1024 * 1024 + 1;
    let answer =
        declare_oversized_body(engine.base_url(), "PUT /v1/plugins/pricing", &headers, oversized)
            .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("body_too_large"), "{answer}");
    assert_eq!(a.get_ok("/v1/plugins").await, before, "nothing changed");
}

/// The README's "Write your own pricing rule" example, uploaded and used as the README shows.
#[tokio::test]
async fn the_documented_example_rule_prices_students_for_less() {
    let engine = Engine::start(Config::default()).await;
    let a = engine.api_a();
    a.upload_rule("pricing", plugin_wasm("student_pricing")).await.ok();
    let student = a
        .create_customer_with(
            &json!({"address": {"country": "ZA"}, "metadata": {"student": "true"}}),
        )
        .await;
    let student = str_field(&student, "id").to_owned();
    a.add_payment_method(&student, "pm_card_visa").await;
    let body = json!({
        "customer": student,
        "currency": "usd",
        "line_items": [{"sku": "course", "quantity": 2, "unit_amount": 4999}],
    });
    let charge = a.post("/v1/charges", &body).await.ok().clone();
    assert_eq!(charge["breakdown"]["discounts"], json!([{"code": "STUDENT20", "amount": 2000}]));
    // 7 998 after the discount, plus 15 % ZA VAT (1 199.7 → 1 200).
    assert_eq!(charge["amount"], 7_998 + 1_200);
}
