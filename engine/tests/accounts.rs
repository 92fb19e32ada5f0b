//! Accounts and API keys by API (the admin key), and what keys may and may not do.
//!
//! Proves that the admin routes exist only with an admin key and take nothing else; that an
//! account made by the admin gets keys whose secret is shown once, kept hashed, listed with a
//! prefix and the time of last use (kept across a restart); that a revoked key is refused on the
//! next request and an expired one from its second, while a rotated key lives until its new
//! expiry; that a restricted key is refused (403, before its body is read, changing nothing)
//! every write route of the route table it was not granted, and reads only what it may; and that
//! account B's key gets 404 on every route of the table for every object account A owns.
//! How: the real engine over HTTP; the route sweeps are generated from the engine's own route
//! table, so a new route is swept without touching this file.

mod common;
#[path = "common/subscription_fixture.rs"]
mod fixture;

use std::time::Duration;

use common::*;
use fixture::{apr_1, billing};
use kassa::api::route_table::{Caller, ROUTES, RouteSpec};

fn admin(engine: &Engine) -> Api {
    engine.api(ADMIN_KEY)
}

/// Makes an account and a key of it; returns (account id, the key's answer).
async fn account_with_key(engine: &Engine, key_body: &Value) -> (String, Value) {
    let account = admin(engine).post("/v1/accounts", &json!({"name": "Greenfield"})).await.id();
    let key = admin(engine).post(&format!("/v1/accounts/{account}/keys"), key_body).await;
    (account, key.ok().clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_admin_key_the_admin_routes_do_not_exist() {
    let engine = Engine::start(Config::default()).await;
    for api in [engine.api_a(), engine.api(ADMIN_KEY), engine.api_with_authorization(None)] {
        assert_error(&api.get("/v1/accounts").await, 404, "not_found");
        assert_error(&api.post("/v1/accounts", &json!({"name": "x"})).await, 404, "not_found");
        assert_error(&api.get("/v1/accounts/acct_a/keys").await, 404, "not_found");
        // Not even a 405 tells which paths would exist.
        let patch = api.send(reqwest::Method::PATCH, "/v1/accounts", None, None).await;
        assert_error(&patch, 404, "not_found");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_makes_accounts_whose_keys_see_only_their_own_objects() {
    let mut engine = Engine::start(Config::default().with_admin_key()).await;
    let started = now_secs();

    // Only the admin key opens the admin routes, and it opens nothing else.
    assert_error(&engine.api_a().get("/v1/accounts").await, 401, "unauthorized");
    assert_error(&admin(&engine).get("/v1/customers").await, 401, "unauthorized");

    let created = admin(&engine)
        .post("/v1/accounts", &json!({"name": "Greenfield Primary", "metadata": {"region": "GP"}}))
        .await;
    let account = created.ok().clone();
    let id = str_field(&account, "id").to_owned();
    assert!(id.starts_with("acct_"), "{account}");
    assert_eq!(account["object"], "account");
    assert_eq!(account["metadata"]["region"], "GP");
    assert_created_recently(&account, started);
    assert_eq!(admin(&engine).get_ok(&format!("/v1/accounts/{id}")).await, account);
    let listed = admin(&engine).list_all("/v1/accounts", "id").await;
    let listed = ids(&listed);
    for expected in [id.as_str(), ACCOUNT_A, ACCOUNT_B] {
        assert!(listed.iter().any(|listed| listed == expected), "{expected} not in {listed:?}");
    }
    assert_error(&admin(&engine).get("/v1/accounts/acct_nobody").await, 404, "not_found");

    // The key: its secret once, then only its prefix.
    let path = format!("/v1/accounts/{id}/keys");
    let idempotency_key = unique_key("key");
    let body = to_bytes(&json!({"mode": "secret"}));
    let made = admin(&engine)
        .send(reqwest::Method::POST, &path, Some(body.clone()), Some(&idempotency_key))
        .await;
    let key = made.ok().clone();
    let secret = str_field(&key, "secret").to_owned();
    assert!(secret.starts_with("sk_") && secret.len() == 43, "{key}");
    assert_eq!(key["prefix"], secret[..11]);
    assert_eq!(key["permissions"], Value::Null);
    assert_eq!(key["last_used"], Value::Null);
    let replay =
        admin(&engine).send(reqwest::Method::POST, &path, Some(body), Some(&idempotency_key)).await;
    assert!(replay.is_replay(), "{}", replay.text);
    assert_eq!(replay.ok()["id"], key["id"]);
    assert!(replay.ok().get("secret").is_none(), "a replay shows the secret: {}", replay.text);

    // The new account's key works, on its own objects only.
    let own = engine.api(&secret);
    let (customer, _) = own.customer_with_card("pm_card_visa").await;
    own.charge_ok(&customer, 1_500, "zar").await;
    assert_error(&engine.api_a().get(&format!("/v1/customers/{customer}")).await, 404, "not_found");
    let a_customer = engine.api_a().create_customer().await;
    assert_error(&own.get(&format!("/v1/customers/{a_customer}")).await, 404, "not_found");

    let listed = admin(&engine).get_ok(&path).await;
    let listed = listed["data"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].get("secret").is_none(), "{}", listed[0]);
    let last_used = i64_field(&listed[0], "last_used");
    assert!(last_used >= started as i64, "{}", listed[0]);

    // Nowhere on disk is the secret.
    engine.restart_graceful().await;
    assert!(files_holding(engine.data_dir(), &secret).is_empty(), "the secret is on disk");
    // The last use survives the restart; it is written at most once a minute, so what was
    // kept may be a use before the last.
    let after_restart = admin(&engine).get_ok(&path).await;
    let kept = i64_field(&after_restart["data"][0], "last_used");
    assert!((started as i64..=last_used).contains(&kept), "{kept} not in {started}..={last_used}");
    let own = engine.api(&secret);
    assert_eq!(own.get_ok(&format!("/v1/customers/{customer}")).await["id"], customer.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_stops_at_once_and_a_rotated_one_at_its_expiry() {
    let mut engine = Engine::start(Config::default().with_admin_key()).await;
    let (account, old) = account_with_key(&engine, &json!({"mode": "secret"})).await;
    let old_secret = str_field(&old, "secret").to_owned();
    let keys = format!("/v1/accounts/{account}/keys");
    engine.api(&old_secret).create_customer().await;

    // Rotation: a new key, and the old one lives until its expiry, then answers 401.
    let new = admin(&engine).post(&keys, &json!({"mode": "secret"})).await.ok().clone();
    let expires_at = now_secs() as i64 + 2;
    let old_path = format!("{keys}/{}", str_field(&old, "id"));
    let updated = admin(&engine).post(&old_path, &json!({"expires_at": expires_at})).await;
    assert_eq!(i64_field(updated.ok(), "expires_at"), expires_at);
    engine.api(&old_secret).create_customer().await;
    let refused = wait_for("the old key to expire", Duration::from_secs(10), || {
        let api = engine.api(&old_secret);
        async move {
            let response = api.get("/v1/customers").await;
            (response.status == 401).then_some(response)
        }
    })
    .await;
    assert_error(&refused, 401, "unauthorized");
    assert!(now_secs() as i64 >= expires_at, "refused before its expiry");
    assert!(refused.text.contains("expired"), "{}", refused.text);
    let new_secret = str_field(&new, "secret").to_owned();
    engine.api(&new_secret).create_customer().await;

    // An expiry must be in the future; a past one is a 400 that changes nothing.
    let new_path = format!("{keys}/{}", str_field(&new, "id"));
    let past = admin(&engine).post(&new_path, &json!({"expires_at": 1_000})).await;
    assert_error(&past, 400, "validation_error");
    let made_expired =
        admin(&engine).post(&keys, &json!({"mode": "secret", "expires_at": 5})).await;
    assert_error(&made_expired, 400, "validation_error");

    // Revocation: the next request is refused, and stays refused after a restart.
    let revoked = admin(&engine).delete(&new_path).await;
    assert_eq!(revoked.ok()["deleted"], true);
    let refused = engine.api(&new_secret).get("/v1/customers").await;
    assert_error(&refused, 401, "unauthorized");
    assert!(refused.text.contains("revoked"), "{}", refused.text);
    assert_eq!(admin(&engine).delete(&new_path).await.ok()["deleted"], true, "revoking again");
    // The list keeps the expired key (its `expires_at` says so) and drops the revoked one.
    let listed = admin(&engine).get_ok(&keys).await;
    assert_eq!(ids(listed["data"].as_array().unwrap()), [str_field(&old, "id")], "{listed}");
    engine.restart_after_kill().await;
    assert_error(&engine.api(&new_secret).get("/v1/customers").await, 401, "unauthorized");
    assert_error(&engine.api(&old_secret).get("/v1/customers").await, 401, "unauthorized");

    // Another account's key id is not found under this account.
    let (other, other_key) = account_with_key(&engine, &json!({"mode": "secret"})).await;
    let elsewhere = format!("/v1/accounts/{account}/keys/{}", str_field(&other_key, "id"));
    assert_error(&admin(&engine).delete(&elsewhere).await, 404, "not_found");
    let other_secret = str_field(&other_key, "secret").to_owned();
    assert_eq!(engine.api(&other_secret).get("/v1/customers").await.status, 200, "{other}");
}

/// A path of the route with every parameter filled with `id`.
fn path_of(spec: &RouteSpec, id: &str) -> String {
    spec.template
        .split('/')
        .map(|part| if part.starts_with('{') { id } else { part })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restricted_key_does_only_what_it_was_granted() {
    let engine = Engine::start(Config::default().with_admin_key()).await;
    let (account, read_only) =
        account_with_key(&engine, &json!({"mode": "restricted", "permissions": "read_only"})).await;
    assert_eq!(read_only["permissions"], "read_only");
    assert!(str_field(&read_only, "secret").starts_with("rk_"), "{read_only}");
    let read_only = engine.api(str_field(&read_only, "secret"));
    let keys = format!("/v1/accounts/{account}/keys");
    let secret = admin(&engine).post(&keys, &json!({"mode": "secret"})).await.ok().clone();
    let secret = engine.api(str_field(&secret, "secret"));
    let (customer, _) = secret.customer_with_card("pm_card_visa").await;
    let charge = secret.charge_ok(&customer, 2_000, "kes").await;

    // Every write route of the table is refused, whatever the body, and every read is not.
    let mut problems = Vec::new();
    for spec in ROUTES.iter().filter(|spec| spec.caller == Caller::ApiKey) {
        let path = path_of(spec, &customer);
        let body = (spec.method != reqwest::Method::GET && spec.method != reqwest::Method::DELETE)
            .then(|| to_bytes(&json!({"customer": customer, "amount": 100, "currency": "kes"})));
        let response = read_only.send(spec.method.clone(), &path, body, None).await;
        let refused = response.status == 403 && response.error_code() == Some("permission_denied");
        if refused != (spec.method != reqwest::Method::GET) {
            problems
                .push(format!("{} {}: {} {}", spec.method, path, response.status, response.text));
        }
    }
    assert!(
        problems.is_empty(),
        "a read-only key was let through or refused:\n{}",
        problems.join("\n")
    );
    assert_eq!(secret.customer_charges(&customer).await.len(), 1, "a refused write charged");
    assert_eq!(secret.payment_methods(&customer).await.len(), 1);
    assert_eq!(
        secret.get_ok(&format!("/v1/charges/{}", charge["id"].as_str().unwrap())).await["amount_refunded"],
        0
    );

    // Per resource: charges written (and so read), customers read, nothing else.
    let granted =
        json!({"mode": "restricted", "permissions": {"charges": "write", "customers": "read"}});
    let granted = admin(&engine).post(&keys, &granted).await.ok().clone();
    assert_eq!(granted["permissions"], json!({"charges": "write", "customers": "read"}));
    let charger = engine.api(str_field(&granted, "secret"));
    charger.charge_ok(&customer, 500, "kes").await;
    assert_eq!(charger.get_ok(&format!("/v1/customers/{customer}")).await["id"], customer.as_str());
    let denied = [
        charger.post("/v1/customers", &json!({})).await,
        charger.get("/v1/plans").await,
        charger.refund(str_field(&charge, "id"), None).await,
        charger.get(&format!("/v1/customers/{customer}/payment_methods")).await,
    ];
    for response in &denied {
        assert_error(response, 403, "permission_denied");
    }
    assert_eq!(secret.customer_charges(&customer).await.len(), 2);

    // Permissions that name nothing real are refused when the key is made.
    for bad in [
        json!({"mode": "restricted"}),
        json!({"mode": "restricted", "permissions": {}}),
        json!({"mode": "restricted", "permissions": {"accounts": "write"}}),
        json!({"mode": "restricted", "permissions": {"charges": "admin"}}),
        json!({"mode": "restricted", "permissions": "everything"}),
        json!({"mode": "secret", "permissions": "read_only"}),
        json!({"mode": "publishable"}),
    ] {
        let response = admin(&engine).post(&keys, &bad).await;
        assert_error(&response, 400, "validation_error");
    }
    assert_eq!(admin(&engine).list_all(&keys, "id").await.len(), 3);
}

/// One object of each kind account A owns, by the first segment of the paths that name it.
struct Owned {
    by_resource: Vec<(&'static str, String)>,
}

impl Owned {
    async fn make(engine: &Engine) -> Owned {
        let books = billing(engine).await;
        let api = &books.api;
        let subscription = api.subscribe_ok(&books.customer, &books.basic).await;
        let invoice = str_field(&subscription, "latest_invoice").to_owned();
        let charge = api.charge_ok(&books.customer, 1_000, "usd").await;
        let refund = api.refund(str_field(&charge, "id"), Some(100)).await.id();
        let note = api.post("/v1/credit_notes", &json!({"invoice": invoice, "amount": 100})).await;
        let method =
            api.payment_methods(&books.customer).await[0]["id"].as_str().unwrap().to_owned();
        Owned {
            by_resource: vec![
                ("customers", books.customer.clone()),
                ("payment_methods", method),
                ("charges", str_field(&charge, "id").to_owned()),
                ("refunds", refund),
                ("plans", books.basic.clone()),
                ("subscriptions", str_field(&subscription, "id").to_owned()),
                ("invoices", invoice),
                ("credit_notes", note.id()),
                ("test_clocks", books.clock.clone()),
            ],
        }
    }

    fn id(&self, resource: &str) -> Option<&str> {
        self.by_resource.iter().find(|(name, _)| *name == resource).map(|(_, id)| id.as_str())
    }

    /// The object a route's path names: the kind its first segment after `/v1` is.
    fn id_for(&self, spec: &RouteSpec) -> Option<&str> {
        self.id(spec.template.split('/').nth(2)?)
    }
}

/// A body each write route takes from its own account, so that only the id can be at fault.
fn plausible_body(path: &str, owned: &Owned) -> Value {
    match path {
        p if p.ends_with("/payment_methods") => json!({"token": "pm_card_visa"}),
        p if p.ends_with("/advance") => json!({"frozen_time": apr_1()}),
        p if p.ends_with("/grants") => json!({"feature": "course:algebra-1"}),
        p if p.starts_with("/v1/plans/") => json!({"name": "Renamed"}),
        p if p.starts_with("/v1/customers/") => json!({"name": "Renamed"}),
        p if p.starts_with("/v1/subscriptions/") && p.matches('/').count() == 3 => {
            json!({"plan": owned.id("plans")})
        }
        _ => json!({}),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_b_finds_nothing_of_account_a_on_any_route() {
    let engine = Engine::start(Config::default()).await;
    let owned = Owned::make(&engine).await;
    let a = engine.api_a();
    let before: Vec<(String, Value)> = {
        let mut seen = Vec::new();
        for (resource, id) in &owned.by_resource {
            if *resource != "payment_methods" {
                let path = format!("/v1/{resource}/{id}");
                seen.push((path.clone(), a.get_ok(&path).await));
            }
        }
        seen
    };

    let b = engine.api_b();
    let mut problems = Vec::new();
    let mut swept = 0;
    for spec in ROUTES.iter().filter(|spec| spec.caller == Caller::ApiKey) {
        let Some(id) = owned.id_for(spec) else { continue };
        if !spec.template.contains("{id}") {
            continue;
        }
        let path = path_of(spec, id);
        let body = (spec.method == reqwest::Method::POST)
            .then(|| to_bytes(&plausible_body(&path, &owned)));
        let response = b.send(spec.method.clone(), &path, body, None).await;
        swept += 1;
        if response.status != 404 || response.error_code() != Some("not_found") {
            problems.push(format!("{} {path}: {} {}", spec.method, response.status, response.text));
        }
    }
    // Objects named in bodies rather than paths.
    let by_body = [
        (
            "/v1/charges",
            json!({"customer": owned.id("customers"), "amount": 100, "currency": "usd"}),
        ),
        ("/v1/refunds", json!({"charge": owned.id("charges")})),
        (
            "/v1/subscriptions",
            json!({"customer": owned.id("customers"), "plan": owned.id("plans")}),
        ),
        ("/v1/credit_notes", json!({"invoice": owned.id("invoices"), "amount": 1})),
    ];
    for (path, body) in &by_body {
        let response = b.post(path, body).await;
        swept += 1;
        if response.status != 404 || response.error_code() != Some("not_found") {
            problems.push(format!("POST {path}: {} {}", response.status, response.text));
        }
    }
    assert!(swept >= 30, "only {swept} routes were swept");
    assert!(problems.is_empty(), "account B reached account A's objects:\n{}", problems.join("\n"));
    for (path, seen) in &before {
        assert_eq!(&a.get_ok(path).await, seen, "{path} changed");
    }
}
