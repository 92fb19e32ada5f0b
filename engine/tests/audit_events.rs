//! The audit trail: who changed what, and when.
//!
//! Proves that every change a request makes is listed (account-wide and per customer, newest
//! first) with the key that made it, the request's `Request-Id` and the object's status before
//! and after; that what the engine does by itself (a renewal on a test clock) is the `system`'s;
//! that the filters (`type`, `object`, `created[gte]`, `created[lte]`) and the cursor narrow the
//! list and bad ones are 400s; that the trail cannot be written to; and that another account,
//! or a restricted key not granted `audit_events`, sees none of it.
//! How: the real engine over HTTP, with an admin key so that one of the keys is a made one.

mod common;
#[path = "common/subscription_fixture.rs"]
mod fixture;

use common::*;
use fixture::{apr_1, billing};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requests_changes_name_its_key_its_request_and_the_statuses() {
    let engine = Engine::start(Config::default().with_admin_key()).await;
    let admin = engine.api(ADMIN_KEY);
    let key = admin.post("/v1/accounts/acct_a/keys", &json!({"mode": "secret"})).await.ok().clone();
    let api = engine.api(str_field(&key, "secret"));
    let key_id = str_field(&key, "id").to_owned();

    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let charged = api.charge(&customer, 1_000, "zar").await;
    let charge = str_field(charged.ok(), "id").to_owned();
    let request_id = charged.header("request-id").expect("a Request-Id").to_owned();

    let trail = api.list_all(&format!("/v1/audit_events?object={charge}"), "id").await;
    let summary: Vec<(Value, Value, Value)> = trail
        .iter()
        .map(|event| (event["type"].clone(), event["before"].clone(), event["after"].clone()))
        .collect();
    assert_eq!(
        summary,
        [
            (json!("charge.succeeded"), json!("processing"), json!("succeeded")),
            (json!("charge.processing"), Value::Null, json!("processing")),
        ],
        "{trail:?}"
    );
    for event in &trail {
        assert_eq!(event["object"], "audit_event");
        assert_eq!(event["object_id"], charge.as_str());
        assert_eq!(event["actor"], json!({"type": "api_key", "id": key_id}), "{event}");
        assert_eq!(event["request_id"], request_id.as_str(), "{event}");
    }

    // The customer's own trail: its creation, its card, the charge, newest first.
    let own = api.list_all(&format!("/v1/customers/{customer}/audit_events"), "id").await;
    let kinds: Vec<&str> = own.iter().map(|event| str_field(event, "type")).collect();
    assert_eq!(
        kinds,
        ["charge.succeeded", "charge.processing", "payment_method.attached", "customer.created"]
    );
    let created = i64_field(&own[0], "created");

    // A configured key is named by a stable id that holds nothing of the key.
    let other = engine.api_a().create_customer().await;
    let by_config = engine.api_a().get_ok(&format!("/v1/customers/{other}/audit_events")).await;
    let actor = &by_config["data"][0]["actor"];
    assert_eq!(actor["type"], "api_key");
    let configured = str_field(actor, "id");
    assert!(configured.starts_with("key_cfg_") && !KEY_A.contains(&configured[8..]), "{actor}");

    // Filters and the cursor.
    let of_type = api.list_all("/v1/audit_events?type=payment_method.attached", "id").await;
    assert_eq!(of_type.len(), 1);
    let later = api.get_ok(&format!("/v1/audit_events?created[gte]={}", created + 3_600)).await;
    assert_eq!(later["data"], json!([]));
    let earlier = api.get_ok(&format!("/v1/audit_events?created[lte]={}", created - 3_600)).await;
    assert_eq!(earlier["data"], json!([]));
    let first = api.get_ok("/v1/audit_events?limit=1").await;
    assert_eq!(first["has_more"], true);
    let after = str_field(&first["data"][0], "id");
    let next = api.get_ok(&format!("/v1/audit_events?limit=1&starting_after={after}")).await;
    assert_ne!(next["data"][0]["id"], first["data"][0]["id"]);
    for bad in [
        "type=charge.exploded",
        "created[gte]=yesterday",
        "created[lte]=-1",
        "object=ch%2F..",
        "starting_after=ch_1",
        "colour=red",
    ] {
        assert_error(&api.get(&format!("/v1/audit_events?{bad}")).await, 400, "validation_error");
    }

    // Read-only: no method writes it.
    for method in [reqwest::Method::POST, reqwest::Method::DELETE, reqwest::Method::PUT] {
        let response = api.send(method, "/v1/audit_events", Some(b"{}".to_vec()), None).await;
        assert_eq!(response.status, 405, "{}", response.text);
    }
    let trail_again = api.list_all(&format!("/v1/audit_events?object={charge}"), "id").await;
    assert_eq!(trail_again, trail);

    // Another account sees none of it; a restricted key needs `audit_events`.
    assert_error(
        &engine.api_b().get(&format!("/v1/customers/{customer}/audit_events")).await,
        404,
        "not_found",
    );
    let b_trail = engine.api_b().get_ok(&format!("/v1/audit_events?object={charge}")).await;
    assert_eq!(b_trail["data"], json!([]));
    let charges_only = json!({"mode": "restricted", "permissions": {"charges": "read"}});
    let restricted = admin.post("/v1/accounts/acct_a/keys", &charges_only).await.ok().clone();
    let restricted = engine.api(str_field(&restricted, "secret"));
    assert_error(&restricted.get("/v1/audit_events").await, 403, "permission_denied");

    // The account's own changes are in its trail too: its keys, by the admin; its settings, by
    // the key that changed them.
    let restricted_id = restricted_key_id(&admin).await;
    admin.delete(&format!("/v1/accounts/acct_a/keys/{restricted_id}")).await.ok();
    api.post("/v1/account", &json!({"settings": {"country": "KE"}})).await.ok();
    let own = api.list_all("/v1/audit_events?type=api_key.created", "id").await;
    assert!(own.iter().any(|event| event["object_id"] == key_id.as_str()), "{own:?}");
    assert!(own.iter().all(|event| event["actor"] == json!({"type": "api_key", "id": "admin"})));
    let revoked =
        api.get_ok(&format!("/v1/audit_events?object={restricted_id}&type=api_key.revoked")).await;
    let revoked = &revoked["data"][0];
    assert_eq!((&revoked["before"], &revoked["after"]), (&json!("active"), &json!("revoked")));
    let updated = api.get_ok("/v1/audit_events?type=account.updated").await;
    assert_eq!(updated["data"][0]["object_id"], ACCOUNT_A);
    assert_eq!(updated["data"][0]["actor"], json!({"type": "api_key", "id": key_id}));
    let others = engine.api_b().get_ok("/v1/audit_events?type=api_key.created").await;
    assert_eq!(others["data"], json!([]), "B sees A's keys' events");
}

/// The id of A's newest restricted key.
async fn restricted_key_id(admin: &Api) -> String {
    let keys = admin.list_all("/v1/accounts/acct_a/keys", "id").await;
    let restricted = keys.iter().find(|key| key["mode"] == "restricted").expect("a restricted key");
    str_field(restricted, "id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_engine_does_by_itself_is_the_systems() {
    let engine = Engine::start(Config::default()).await;
    let books = billing(&engine).await;
    let subscription = books.subscribe(&books.basic).await;
    books.advance(apr_1()).await;

    let trail = books.api.list_all(&format!("/v1/audit_events?object={subscription}"), "id").await;
    let renewed = trail
        .iter()
        .find(|event| event["type"] == "customer.subscription.renewed")
        .unwrap_or_else(|| panic!("no renewal in {trail:?}"));
    assert_eq!(renewed["actor"]["type"], "system", "{renewed}");
    assert_eq!(renewed["request_id"], Value::Null, "{renewed}");
    assert_eq!((&renewed["before"], &renewed["after"]), (&json!("active"), &json!("active")));
    let created = trail.last().expect("the subscription's creation");
    assert_eq!(created["type"], "customer.subscription.created");
    assert_eq!(created["actor"]["type"], "api_key");
    assert_eq!(created["before"], Value::Null);

    // Every change of status is in the trail: oldest first, each event starts where the one
    // before it ended, and the last ends where the subscription is.
    let mut status = Value::Null;
    for event in trail.iter().rev() {
        assert_eq!(event["before"], status, "a change of status is missing before {event}");
        status = event["after"].clone();
    }
    let now = books.api.get_ok(&format!("/v1/subscriptions/{subscription}")).await;
    assert_eq!(status, now["status"], "{trail:?}");
    let invoice = str_field(&now, "latest_invoice");
    let paid = books.api.list_all(&format!("/v1/audit_events?object={invoice}"), "id").await;
    assert_eq!(paid[0]["type"], "invoice.paid", "{paid:?}");
    assert_eq!(paid[0]["after"], "paid", "{paid:?}");
}
