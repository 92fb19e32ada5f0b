//! Events out: the platform's webhook endpoints.
//!
//! Proves that each change a platform can act on reaches a subscribed endpoint once, signed as
//! Stripe signs (`t=…,v1=…`, checked here with Stripe's documented recipe), with the object as
//! the API shows it and its `version`, and that a change that failed sends nothing; that events
//! about one object arrive in order under concurrent changes; that a delivery answered 500, cut
//! off, redirected or left hanging is tried again until a 2xx; that events not yet delivered
//! at a `kill -9` arrive after the restart while one already answered 2xx does not come again;
//! that a rotated secret signs beside the new one; that a disabled endpoint gets nothing; that
//! a delivery that runs out of retries is kept as failed, lets the next one go and is announced
//! as `webhook_endpoint.delivery_failed`; that a redelivery is marked; that endpoint URLs
//! pointing inward are refused; and that accounts see only their own endpoints and events.
//! How: the real engine over HTTP and a real receiver on 127.0.0.1 (`common::receiver`), with
//! `webhooks.allow_http` and `allow_private_networks` on (off in the guard's own test).

mod common;
#[path = "common/subscription_fixture.rs"]
mod fixture;

use std::time::Duration;

use common::receiver::{Answer, Receiver, verify};
use common::*;
use fixture::{BASIC, billing};

const WAIT: Duration = Duration::from_secs(20);

/// Local receivers allowed, and retries fast: 50 ms doubling to 200 ms, for `window_s`.
fn config(window_s: u64) -> Config {
    Config::default().with_toml(&format!(
        "[webhooks]\nallow_http = true\nallow_private_networks = true\n\n\
         [webhooks.retry]\ninitial_ms = 50\nmax_ms = 200\ngive_up_after_s = {window_s}\n"
    ))
}

/// An endpoint for every event, and its secret.
async fn subscribe(api: &Api, receiver: &Receiver, events: Value) -> (String, String) {
    let made = api
        .post("/v1/webhook_endpoints", &json!({"url": receiver.url, "enabled_events": events}))
        .await;
    let endpoint = made.ok();
    let secret = endpoint["secret"].as_str().expect("the secret, this once").to_owned();
    assert!(secret.starts_with("whsec_"));
    (endpoint["id"].as_str().unwrap().to_owned(), secret)
}

fn types(received: &[common::receiver::Received]) -> Vec<String> {
    received.iter().map(|r| r.json()["type"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn each_change_arrives_once_signed_and_a_failed_change_sends_nothing() {
    let engine = Engine::start(config(60)).await;
    let api = engine.api_a();
    let receiver = Receiver::start().await;
    let (endpoint, secret) = subscribe(&api, &receiver, json!(["*"])).await;
    let shown = api.get_ok(&format!("/v1/webhook_endpoints/{endpoint}")).await;
    assert!(shown.get("secret").is_none(), "the secret is shown once: {shown}");

    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let charge = api.charge_ok(&customer, 2_500, "zar").await;
    let refused = api.charge(&customer, 100, "xyz").await;
    assert_eq!(refused.status, 400);
    receiver.wait_for(3, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Events about different objects may arrive in any order; `sequence` says the account's.
    let mut received = receiver.received();
    received.sort_by_key(|r| r.json()["sequence"].as_u64());
    assert_eq!(
        types(&received),
        ["customer.created", "payment_method.attached", "charge.succeeded"],
        "one event per change, none for the refused request"
    );

    for delivery in &received {
        let signature = delivery.header("kassa-signature").expect("signed");
        assert!(verify(&secret, signature, &delivery.body), "{signature}");
        assert!(!verify("whsec_wrong", signature, &delivery.body));
        assert_eq!(delivery.header("kassa-redelivery"), None);
    }
    let succeeded = received[2].json();
    assert!(succeeded["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(succeeded["object"], "event");
    assert_eq!(succeeded["account"], ACCOUNT_A);
    assert_eq!(succeeded["data"]["object"]["id"], charge["id"]);
    assert_eq!(succeeded["data"]["object"]["status"], "succeeded");
    assert_eq!(succeeded["data"]["object"]["amount"], 2_500);
    assert_eq!(succeeded["data"]["object"]["version"], 1);
    let sequences: Vec<u64> =
        received.iter().map(|r| r.json()["sequence"].as_u64().unwrap()).collect();
    assert_eq!(sequences, [1, 2, 3], "the account's events counted from 1, in commit order");

    // The same events, listed; the ingested ones stay the default.
    let listed = api.get_ok("/v1/events?direction=out&limit=100").await;
    let ids: Vec<&str> =
        listed["data"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    for delivery in &received {
        assert!(ids.contains(&delivery.json()["id"].as_str().unwrap()));
    }
    let filtered = api
        .get_ok(&format!("/v1/events?direction=out&object={}", charge["id"].as_str().unwrap()))
        .await;
    assert_eq!(filtered["data"].as_array().unwrap().len(), 1);
    assert_eq!(filtered["data"][0]["type"], "charge.succeeded");
    assert_eq!(api.get_ok("/v1/events").await["data"].as_array().unwrap().len(), 0);

    let deliveries = api.get_ok(&format!("/v1/webhook_endpoints/{endpoint}/deliveries")).await;
    assert!(deliveries["data"].as_array().unwrap().iter().all(|d| d["status"] == "delivered"));
}

#[tokio::test]
async fn events_about_one_object_arrive_in_order_under_concurrent_changes() {
    let engine = Engine::start(config(60)).await;
    let api = engine.api_a();
    let receiver = Receiver::start().await;
    subscribe(&api, &receiver, json!(["customer.updated"])).await;
    let customer = api.create_customer().await;
    let updates = (0..20).map(|n| {
        let api = api.clone();
        let customer = customer.clone();
        async move {
            api.post(&format!("/v1/customers/{customer}"), &json!({"name": format!("Name {n}")}))
                .await
                .ok();
        }
    });
    futures::future::join_all(updates).await;
    let received = receiver.wait_for(20, WAIT).await;
    let versions: Vec<u64> =
        received.iter().map(|r| r.json()["data"]["object"]["version"].as_u64().unwrap()).collect();
    assert_eq!(versions, (2..=21).collect::<Vec<u64>>(), "in order, each once");
    let last = received.last().unwrap().json();
    let stored = api.get_ok(&format!("/v1/customers/{customer}")).await;
    assert_eq!(last["data"]["object"]["name"], stored["name"]);
    assert!(last["data"]["previous_attributes"]["name"].is_string());
}

#[tokio::test]
async fn a_delivery_is_retried_after_500_a_cut_connection_and_a_redirect() {
    let engine = Engine::start(config(60)).await;
    let api = engine.api_a();
    let receiver = Receiver::start().await;
    let (endpoint, _) = subscribe(&api, &receiver, json!(["customer.created"])).await;
    receiver.answer_next([Answer::Status(500), Answer::Close, Answer::Status(302)]);
    let customer = api.create_customer().await;
    let received = receiver.wait_for(4, WAIT).await;
    assert!(received.iter().all(|r| r.json()["data"]["object"]["id"] == customer.as_str()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 4, "delivered: not sent again");
    let deliveries = api.get_ok(&format!("/v1/webhook_endpoints/{endpoint}/deliveries")).await;
    let delivery = &deliveries["data"][0];
    assert_eq!(delivery["status"], "delivered");
    assert_eq!(delivery["attempt_count"], 4);
    let codes: Vec<Value> =
        delivery["attempts"].as_array().unwrap().iter().map(|a| a["status_code"].clone()).collect();
    assert_eq!(codes, [json!(500), Value::Null, json!(302), json!(200)]);
    assert!(delivery["attempts"][2]["error"].as_str().unwrap().contains("redirect"));
}

#[tokio::test]
async fn a_delivery_left_hanging_past_ten_seconds_is_tried_again() {
    let engine = Engine::start(config(60)).await;
    let api = engine.api_a();
    let receiver = Receiver::start().await;
    subscribe(&api, &receiver, json!(["customer.created"])).await;
    receiver.answer_next([Answer::Hang]);
    api.create_customer().await;
    let received = receiver.wait_for(2, Duration::from_secs(30)).await;
    assert_eq!(received[0].body, received[1].body, "the same event again");
}

#[tokio::test]
async fn undelivered_events_survive_kill_9_and_a_delivered_one_is_not_sent_again() {
    let mut engine = Engine::start(config(600)).await;
    let api = engine.api_a();
    let receiver = Receiver::start().await;
    let (endpoint, _) = subscribe(&api, &receiver, json!(["customer.created"])).await;
    let first = api.create_customer().await;
    receiver.wait_for(1, WAIT).await;
    // The 2xx is recorded durably before the next in line; give it that moment.
    let deliveries = format!("/v1/webhook_endpoints/{endpoint}/deliveries");
    wait_until(|| async { api.get_ok(&deliveries).await["data"][0]["status"] == "delivered" })
        .await;

    receiver.answer_always(Answer::Status(503));
    let mut pending = Vec::new();
    for _ in 0..5 {
        pending.push(api.create_customer().await);
    }
    receiver.wait_for(6, WAIT).await;
    engine.kill();
    receiver.answer_always(Answer::Status(200));
    let before = receiver.received().len();
    engine.launch().await;

    let api = engine.api_a();
    // Each pending event arrives again. (The list of deliveries alone cannot say so: an attempt
    // whose record the kill cut off is not listed until it is made again.)
    let delivered_since = |before: usize| -> Vec<String> {
        let after = receiver.received()[before..].iter().map(|r| r.json()).collect::<Vec<_>>();
        after.iter().map(|e| e["data"]["object"]["id"].as_str().unwrap().to_owned()).collect()
    };
    let arrived = held_within(|| async {
        let objects = delivered_since(before);
        pending.iter().all(|customer| objects.contains(customer))
    })
    .await;
    let listed = || async { api.get_ok(&format!("{deliveries}?limit=100")).await };
    assert!(
        arrived,
        "not every pending event arrived after the restart: {:?} of {pending:?}; deliveries {}\n\
         the engine's log:\n{}",
        delivered_since(before),
        listed().await,
        engine.log_tail()
    );
    let settled = held_within(|| async {
        listed().await["data"].as_array().unwrap().iter().all(|d| d["status"] == "delivered")
    })
    .await;
    assert!(
        settled,
        "not every delivery listed as delivered: {}\nthe engine's log:\n{}",
        listed().await,
        engine.log_tail()
    );
    let objects = delivered_since(before);
    assert!(!objects.contains(&first), "delivered before the kill: not again");
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one() {
    let engine = Engine::start(config(60)).await;
    let api = engine.api_a();
    let receiver = Receiver::start().await;
    let (endpoint, old) = subscribe(&api, &receiver, json!(["customer.created"])).await;
    let rotated =
        api.post(&format!("/v1/webhook_endpoints/{endpoint}/rotate_secret"), &json!({})).await;
    let new = rotated.ok()["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    api.create_customer().await;
    let received = receiver.wait_for(1, WAIT).await;
    let signature = received[0].header("kassa-signature").unwrap();
    assert_eq!(signature.matches("v1=").count(), 2, "{signature}");
    assert!(verify(&new, signature, &received[0].body));
    assert!(verify(&old, signature, &received[0].body));
}

#[tokio::test]
async fn a_disabled_endpoint_gets_nothing_and_a_redelivery_is_marked() {
    let engine = Engine::start(config(60)).await;
    let api = engine.api_a();
    let receiver = Receiver::start().await;
    let (endpoint, _) = subscribe(&api, &receiver, json!(["customer.created"])).await;
    let disabled =
        api.post(&format!("/v1/webhook_endpoints/{endpoint}"), &json!({"disabled": true})).await;
    assert_eq!(disabled.ok()["status"], "disabled");
    api.create_customer().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.received().is_empty(), "disabled: nothing sent");

    let events = api.get_ok("/v1/events?direction=out&type=customer.created").await;
    let event = events["data"][0]["id"].as_str().unwrap().to_owned();
    let redelivered =
        api.post(&format!("/v1/events/{event}/redeliver"), &json!({"endpoint": endpoint})).await;
    let delivery = redelivered.ok();
    assert_eq!(delivery["attempts"][0]["redelivery"], true);
    let received = receiver.wait_for(1, WAIT).await;
    assert_eq!(received[0].header("kassa-redelivery"), Some("true"));
    assert_eq!(received[0].json()["id"], event.as_str());

    let unknown = api
        .post(
            &format!("/v1/events/{event}/redeliver"),
            &json!({"endpoint": "we_01JZABCDEFGHJKMNPQRSTVWXYZ"}),
        )
        .await;
    assert_eq!(unknown.status, 404);
    let deleted = api.delete(&format!("/v1/webhook_endpoints/{endpoint}")).await;
    assert_eq!(deleted.ok()["deleted"], true);
    assert_eq!(api.get(&format!("/v1/webhook_endpoints/{endpoint}")).await.status, 404);
}

#[tokio::test]
async fn a_delivery_out_of_retries_fails_releases_the_next_and_is_announced() {
    // A window of seconds, not one: the endpoint is disabled when a whole window passes with no
    // success, and on a loaded machine the healthy customer's deliveries can be a second apart.
    let engine = Engine::start(config(3)).await;
    let api = engine.api_a();
    let failing = Receiver::start().await;
    failing.answer_always(Answer::Status(500));
    let watching = Receiver::start().await;
    let (endpoint, _) =
        subscribe(&api, &failing, json!(["customer.created", "customer.updated"])).await;
    subscribe(&api, &watching, json!(["webhook_endpoint.delivery_failed"])).await;
    let customer = api.create_customer().await;
    // Another customer's events get through all along, so the endpoint is not failing for the
    // whole window (which would disable it and drop what waits) while this one's fail.
    let healthy = api.create_customer().await;
    failing.answer_when(&healthy, Answer::Status(200));
    let keep_alive = {
        let (api, healthy) = (api.clone(), healthy.clone());
        tokio::spawn(async move {
            for n in 0.. {
                let body = json!({"name": format!("Healthy {n}")});
                api.post(&format!("/v1/customers/{healthy}"), &body).await.ok();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    api.post(&format!("/v1/customers/{customer}"), &json!({"name": "Second"})).await.ok();

    let announced = watching.wait_for(1, WAIT).await;
    let event = announced[0].json();
    assert_eq!(event["type"], "webhook_endpoint.delivery_failed");
    assert_eq!(event["data"]["object"]["id"], endpoint.as_str());
    assert_eq!(event["data"]["event_type"], "customer.created");
    assert_eq!(event["data"]["event_object"], customer.as_str());
    // The update behind it in line was released, and tried.
    let tried = failing.wait_for(1, WAIT).await;
    wait_until(|| async {
        failing.received().iter().any(|r| {
            let event = r.json();
            event["type"] == "customer.updated"
                && event["data"]["object"]["id"] == customer.as_str()
        })
    })
    .await;
    keep_alive.abort();
    assert!(!tried.is_empty());
    let deliveries = format!("/v1/webhook_endpoints/{endpoint}/deliveries");
    let deliveries = api.list_all(&deliveries, "event").await;
    let created = deliveries
        .iter()
        .find(|d| d["event_type"] == "customer.created" && d["event_object"] == customer.as_str())
        .unwrap()
        .clone();
    assert_eq!(created["status"], "failed");
}

#[tokio::test]
async fn endpoints_pointing_inward_or_over_http_are_refused_by_default() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    for url in [
        "http://hooks.example.com/kassa",
        "https://127.0.0.1/hooks",
        "https://10.0.0.7/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hooks",
        "https://localhost/hooks",
        "https://user:pw@hooks.example.com/",
        "ftp://hooks.example.com/",
    ] {
        let refused =
            api.post("/v1/webhook_endpoints", &json!({"url": url, "enabled_events": ["*"]})).await;
        assert_eq!(refused.status, 400, "{url}");
        assert_eq!(refused.body["error"]["param"], "url", "{url}");
    }
    let unknown_type = api
        .post(
            "/v1/webhook_endpoints",
            &json!({"url": "https://hooks.example.com/", "enabled_events": ["charge.exploded"]}),
        )
        .await;
    assert_eq!(unknown_type.status, 400);
    assert_eq!(api.get_ok("/v1/webhook_endpoints").await["data"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn accounts_see_and_get_only_their_own() {
    let engine = Engine::start(config(60)).await;
    let (a, b) = (engine.api_a(), engine.api_b());
    let receiver = Receiver::start().await;
    let (endpoint, _) = subscribe(&a, &receiver, json!(["*"])).await;
    assert_eq!(b.get(&format!("/v1/webhook_endpoints/{endpoint}")).await.status, 404);
    assert_eq!(b.get_ok("/v1/webhook_endpoints").await["data"].as_array().unwrap().len(), 0);
    b.create_customer().await;
    let customer = a.create_customer().await;
    let received = receiver.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1, "B's customer is not sent to A's endpoint");
    assert_eq!(received[0].json()["data"]["object"]["id"], customer.as_str());
    let b_events = b.get_ok("/v1/events?direction=out").await;
    assert_eq!(b_events["data"].as_array().unwrap().len(), 1);
    assert_ne!(b_events["data"][0]["data"]["object"]["id"], customer.as_str());
    let event = received[0].json()["id"].as_str().unwrap().to_owned();
    let foreign =
        b.post(&format!("/v1/events/{event}/redeliver"), &json!({"endpoint": endpoint})).await;
    assert_eq!(foreign.status, 404);
}

#[tokio::test]
async fn a_trial_is_announced_three_days_before_it_ends_and_its_subscription_followed() {
    let engine = Engine::start(config(60)).await;
    let b = billing(&engine).await;
    let receiver = Receiver::start().await;
    subscribe(
        &b.api,
        &receiver,
        json!([
            "customer.subscription.created",
            "customer.subscription.trial_will_end",
            "customer.subscription.updated"
        ]),
    )
    .await;
    let plan = b.trial_plan(BASIC as u64).await;
    let subscription = b.api.subscribe_ok(&b.customer, &plan).await;
    let id = subscription["id"].as_str().unwrap().to_owned();
    let trial_end = subscription["trial_end"].as_i64().unwrap();
    receiver.wait_for(1, WAIT).await;

    b.advance(trial_end - 3 * 86_400 - 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(types(&receiver.received()), ["customer.subscription.created"], "not yet");
    b.advance(trial_end - 3 * 86_400).await;
    let received = receiver.wait_for(2, WAIT).await;
    let notice = received[1].json();
    assert_eq!(notice["type"], "customer.subscription.trial_will_end");
    assert_eq!(notice["data"]["object"]["id"], id.as_str());
    assert_eq!(notice["data"]["object"]["status"], "trialing");

    b.advance(trial_end + 3_600).await;
    let received = receiver.wait_for(3, WAIT).await;
    let ended = received[2].json();
    assert_eq!(ended["type"], "customer.subscription.updated");
    assert_eq!(ended["data"]["object"]["status"], "active");
    assert_eq!(ended["data"]["previous_attributes"]["status"], "trialing");
    let versions: Vec<u64> =
        received.iter().map(|r| r.json()["data"]["object"]["version"].as_u64().unwrap()).collect();
    assert_eq!(versions, [1, 2, 3]);
}

/// Polls `check` until it holds, or fails the test after [`WAIT`].
async fn wait_until<F, Fut>(check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    assert!(held_within(check).await, "not within {WAIT:?}");
}

/// Polls `check` until it holds (true), or answers false after [`WAIT`].
async fn held_within<F, Fut>(check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + WAIT;
    while !check().await {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}
