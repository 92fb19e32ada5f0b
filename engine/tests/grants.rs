//! Promotional grants: a feature an account gives a customer without a payment.
//!
//! Proves that `POST /v1/customers/{id}/grants` answers the grant (`grant_…`, its customer,
//! feature, end, reason, and the customer's now as `created`), that the customer's entitlements
//! list it at once with the grant's id as `source` — present on its last second, absent on the
//! next, on a test clock — and that one for good stays; that grants survive a restart, are listed
//! newest first and are in the audit trail, their reason sealed at rest; that a grant and a purchase of one feature are two
//! entitlements, and withdrawing the grant (`DELETE …/grants/{grant_id}`) leaves the purchase's at
//! once, for a customer answered from the published index as for one on a test clock; that a
//! replay of a keyed grant answers the first grant and gives no second; that a withdrawn grant, a
//! grant of another customer and an unknown customer are 404; and that bad input — no or a
//! malformed feature, an end not after the customer's now or beyond the year 9999, a reason
//! holding a card number, wrong types, unknown fields, an erased customer — is a 400 that gives
//! nothing, and that erasure keeps a customer's grants but not their reasons.
//! How: a fresh engine per test (see `common`) on the sandbox gateway; customers on test clocks
//! where time matters.

mod common;

use common::*;

/// `(feature, source, expires_at)` of one entitlement, in a form that compares.
type Entitlement = (String, String, Option<i64>);

fn entitlement(feature: &str, source: &str, expires_at: Option<i64>) -> Entitlement {
    (feature.to_owned(), source.to_owned(), expires_at)
}

async fn entitlements(api: &Api, customer: &str) -> Vec<Entitlement> {
    let list = api.get_ok(&format!("/v1/customers/{customer}/entitlements")).await;
    let data = list["data"].as_array().unwrap_or_else(|| panic!("no `data` in {list}"));
    data.iter()
        .map(|grant| {
            let expires_at = grant["expires_at"].as_i64();
            entitlement(str_field(grant, "feature"), str_field(grant, "source"), expires_at)
        })
        .collect()
}

async fn grant(api: &Api, customer: &str, body: Value) -> Resp {
    api.post(&format!("/v1/customers/{customer}/grants"), &body).await
}

async fn grant_ok(api: &Api, customer: &str, body: Value) -> Value {
    grant(api, customer, body).await.ok().clone()
}

async fn grant_ids(api: &Api, customer: &str) -> Vec<String> {
    ids(&api.list_all(&format!("/v1/customers/{customer}/grants"), "id").await)
}

#[tokio::test]
async fn a_grant_entitles_from_the_clocks_now_until_its_end_to_the_second() {
    let mut engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let clock = api.create_clock(utc(2025, 3, 1, 0, 0, 0)).await;
    let customer = api.clock_customer(&clock, "ZA").await;
    let given_at = utc(2025, 3, 4, 8, 15, 42);
    api.advance_clock(&clock, given_at).await;
    let ends_at = given_at + 7 * SECONDS_PER_DAY;

    let body = json!({"feature": "course:algebra-1", "expires_at": ends_at, "reason": "Open day"});
    let trial = grant_ok(&api, &customer, body).await;
    let trial_id = str_field(&trial, "id").to_owned();
    assert!(trial_id.starts_with("grant_"), "{trial}");
    assert_eq!(trial["object"], "grant", "{trial}");
    assert_eq!(trial["customer"], customer.as_str(), "{trial}");
    assert_eq!(trial["feature"], "course:algebra-1", "{trial}");
    assert_eq!(trial["expires_at"], ends_at, "{trial}");
    assert_eq!(trial["reason"], "Open day", "{trial}");
    assert_eq!(trial["created"], given_at, "the customer's now: {trial}");
    let forever = grant_ok(&api, &customer, json!({"feature": "teacher-tools"})).await;
    let forever_id = str_field(&forever, "id").to_owned();
    assert!(forever["expires_at"].is_null() && forever["reason"].is_null(), "{forever}");

    let both = vec![
        entitlement("course:algebra-1", &trial_id, Some(ends_at)),
        entitlement("teacher-tools", &forever_id, None),
    ];
    assert_eq!(entitlements(&api, &customer).await, both);
    let one = api.get_ok(&format!("/v1/customers/{customer}/entitlements/course:algebra-1")).await;
    assert_eq!(one["source"], trial_id.as_str(), "{one}");
    assert_eq!(grant_ids(&api, &customer).await, [forever_id.clone(), trial_id.clone()]);
    let trail = api.get_ok(&format!("/v1/audit_events?object={trial_id}")).await;
    assert_eq!(trail["data"][0]["type"], "grant.created", "{trail}");

    engine.restart_graceful().await;
    let api = engine.api_a();
    assert_eq!(entitlements(&api, &customer).await, both, "after a restart");
    // The reason is the platform's free text: sealed at rest with the customer's personal data.
    let listed = api.get_ok(&format!("/v1/customers/{customer}/grants")).await;
    assert_eq!(listed["data"][1]["reason"], "Open day", "{listed}");
    let in_clear = files_holding(engine.data_dir(), "Open day");
    assert!(in_clear.is_empty(), "the reason in clear in {in_clear:?}");

    api.advance_clock(&clock, ends_at - 1).await;
    assert_eq!(entitlements(&api, &customer).await, both, "on the grant's last second");
    api.advance_clock(&clock, ends_at).await;
    let forever_only = vec![entitlement("teacher-tools", &forever_id, None)];
    assert_eq!(entitlements(&api, &customer).await, forever_only, "at its end");
    let gone = api.get(&format!("/v1/customers/{customer}/entitlements/course:algebra-1")).await;
    assert_error(&gone, 404, "not_found");
    api.advance_clock(&clock, utc(2027, 1, 1, 0, 0, 0)).await;
    assert_eq!(entitlements(&api, &customer).await, forever_only, "for good is for good");

    // The next grant drops the ended one from the record; the audit trail keeps it.
    let next = grant_ok(&api, &customer, json!({"feature": "library"})).await;
    assert_eq!(grant_ids(&api, &customer).await, [str_field(&next, "id"), forever_id.as_str()]);
    let trail = api.get_ok(&format!("/v1/audit_events?object={trial_id}")).await;
    assert_eq!(trail["data"].as_array().map(Vec::len), Some(1), "{trail}");
}

#[tokio::test]
async fn a_withdrawn_grant_leaves_the_entitlements_at_once_and_a_purchase_stays() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let mut body = charge_body(&customer, 2_500, "zar");
    body["grants"] = json!([{"feature": "course:physics"}]);
    let charge = api.post("/v1/charges", &body).await.ok().clone();
    let charge_id = str_field(&charge, "id");
    let path = format!("/v1/customers/{customer}/grants");
    let body = json!({"feature": "course:physics", "reason": "bursary pending"});
    let first = api.post_with_key(&path, &body, "grant-physics-1").await;
    let given = str_field(first.ok(), "id").to_owned();
    let replay = api.post_with_key(&path, &body, "grant-physics-1").await;
    assert!(replay.is_replay(), "a replay is marked");
    assert_eq!(replay.ok(), first.ok(), "a replay answers the first grant");
    assert_eq!(grant_ids(&api, &customer).await, [given.as_str()], "one grant for one key");

    // Asked twice: once answered by the actor, then from what it published.
    for _ in 0..2 {
        let both = vec![
            entitlement("course:physics", charge_id, None),
            entitlement("course:physics", &given, None),
        ];
        let mut listed = entitlements(&api, &customer).await;
        listed.sort();
        assert_eq!(listed, both);
    }
    let withdrawn = api.delete(&format!("{path}/{given}")).await;
    assert_eq!(withdrawn.ok(), &json!({"id": given, "object": "grant", "deleted": true}));
    let purchase_only = vec![entitlement("course:physics", charge_id, None)];
    assert_eq!(entitlements(&api, &customer).await, purchase_only, "withdrawn at once");
    assert!(grant_ids(&api, &customer).await.is_empty());
    let trail = api.get_ok(&format!("/v1/audit_events?object={given}&type=grant.deleted")).await;
    assert_eq!(trail["data"].as_array().map(Vec::len), Some(1), "{trail}");

    assert_error(&api.delete(&format!("{path}/{given}")).await, 404, "not_found");
    let other = api.create_customer().await;
    let theirs = grant_ok(&api, &other, json!({"feature": "course:physics"})).await;
    let theirs_id = str_field(&theirs, "id");
    let mismatched = api.delete(&format!("{path}/{theirs_id}")).await;
    assert_error(&mismatched, 404, "not_found");
    assert_error(&api.delete(&format!("{path}/not-a-grant")).await, 404, "not_found");
    assert_eq!(entitlements(&api, &other).await.len(), 1, "another customer's grant stays");
    let foreign = engine.api_b().post(&path, &json!({"feature": "course:physics"})).await;
    assert_error(&foreign, 404, "not_found");
    let unknown = grant(&api, "cus_01KG3ZC4D5E6F7G8H9J0K1M2N3", json!({"feature": "x"})).await;
    assert_error(&unknown, 404, "not_found");
}

#[tokio::test]
async fn bad_grants_are_refused_and_give_nothing() {
    let mut engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let clock = api.create_clock(utc(2025, 6, 1, 0, 0, 0)).await;
    let customer = api.clock_customer(&clock, "KE").await;
    let now = utc(2025, 6, 1, 0, 0, 0);
    let refused = [
        (json!({}), "feature"),
        (json!({"feature": ""}), "feature"),
        (json!({"feature": "two words"}), "feature"),
        (json!({"feature": "x".repeat(101)}), "feature"),
        (json!({"feature": 7}), "feature"),
        (json!({"feature": "maths", "expires_at": now}), "expires_at"),
        (json!({"feature": "maths", "expires_at": now - 1}), "expires_at"),
        (json!({"feature": "maths", "expires_at": -5}), "expires_at"),
        (json!({"feature": "maths", "expires_at": 253_402_300_800_i64}), "expires_at"),
        (json!({"feature": "maths", "expires_at": "tomorrow"}), "expires_at"),
        (json!({"feature": "maths", "reason": "card 4242 4242 4242 4242"}), "reason"),
        (json!({"feature": "maths", "reason": "x".repeat(501)}), "reason"),
        (json!({"feature": "maths", "seats": 3}), "seats"),
    ];
    for (body, param) in refused {
        let answer = grant(&api, &customer, body.clone()).await;
        assert_eq!(answer.status, 400, "{body}: {answer:?}");
        assert_eq!(answer.body["error"]["param"], param, "{body}: {answer:?}");
    }
    let path = format!("/v1/customers/{customer}/grants");
    let malformed = api.post_raw(&path, b"{".to_vec(), None).await;
    assert_error(&malformed, 400, "validation_error");
    assert_eq!(malformed.body["error"]["param"], "body", "{malformed:?}");
    assert!(entitlements(&api, &customer).await.is_empty(), "nothing was granted");
    assert!(grant_ids(&api, &customer).await.is_empty(), "nothing was recorded");
    // The clock's now, not the real one: an end a second after it is taken.
    let taken = grant_ok(&api, &customer, json!({"feature": "maths", "expires_at": now + 1})).await;
    assert_eq!(taken["expires_at"], now + 1, "{taken}");

    let reasoned = json!({"feature": "reading", "reason": "Bursary: Thandi, Grade 9"});
    let reading = grant_ok(&api, &customer, reasoned).await;
    api.delete(&format!("/v1/customers/{customer}")).await.ok();
    let after_erasure = grant(&api, &customer, json!({"feature": "maths"})).await;
    assert_error(&after_erasure, 400, "customer_deleted");
    // Erasure keeps what was granted and drops why: the reason was about the person, and a
    // later write of the erased customer (a grant withdrawn) must not bring it back in clear.
    let kept = api.get_ok(&format!("/v1/customers/{customer}/grants")).await;
    assert_eq!(kept["data"][0]["feature"], "reading", "{kept}");
    assert!(kept["data"][0]["reason"].is_null(), "{kept}");
    let path = format!("/v1/customers/{customer}/grants/{}", str_field(&taken, "id"));
    api.delete(&path).await.ok();
    engine.restart_graceful().await;
    let in_clear = files_holding(engine.data_dir(), "Thandi, Grade 9");
    assert!(in_clear.is_empty(), "an erased customer's grant reason in clear in {in_clear:?}");
    let api = engine.api_a();
    let kept = api.get_ok(&format!("/v1/customers/{customer}/grants")).await;
    assert_eq!(ids(kept["data"].as_array().unwrap()), [str_field(&reading, "id")]);
}
