//! Stripe's webhooks through the engine: what a platform relies on when Stripe tells Kassa what
//! happened after the fact.
//!
//! Proves that only deliveries signed with the endpoint's secret within five minutes are taken
//! (forged, tampered, wrong secret, 301 s old or 310 s ahead, unsigned and malformed ones are a 400
//! and leave nothing behind; a header with two `v1` values, one valid, is taken); that an event
//! delivered ten times at once is stored and applied once; that a 3-D Secure charge is settled by
//! its `payment_intent.succeeded` (its fee read from Stripe once) and a later-arriving older
//! `payment_failed` changes nothing; that a refund made in the Stripe dashboard appears as a Kassa
//! refund while Kassa's own refund is not counted twice; that amounts are read in the charge's ISO
//! 4217 unit (ISK: Stripe's hundredths are krónur to Kassa), and one Kassa cannot hold exactly is
//! not applied; that `GET /v1/events` lists, filters and pages them; and that a `kill -9` between
//! persisting an event and applying it loses nothing and applies it exactly once after restart;
//! that a charge its webhook settled before Stripe's own late answer is answered only once that
//! settlement is durable (invariant 1); and that an event's payload (a Stripe customer's email in
//! it) is in no file of the data directory in the clear. Disputes have their own file,
//! `webhook_disputes.rs`.
//! How: the real engine over HTTP with Stripe as its gateway (the local fake Stripe), signatures
//! computed here with HMAC-SHA256 as Stripe documents them; the engine's flusher is held by the
//! harness's hold file (`Engine::hold_flushes`) to show what an answer waits for.

mod common;
#[path = "common/stripe_webhooks.rs"]
mod stripe_webhooks;
use kassa_testkit::fake_stripe;

use std::time::Duration;

use common::*;
use fake_stripe::FakeStripe;
use serde_json::json;
use stripe_webhooks::*;

fn payment_intent(intent: &str, charge: &str, status: &str) -> Value {
    json!({
        "id": intent,
        "object": "payment_intent",
        "amount": 4200,
        "currency": "eur",
        "status": status,
        "metadata": { "kassa_idempotency_key": charge },
        "last_payment_error": {
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds."
        },
    })
}

/// A charge left `requires_action` by 3-D Secure: (charge id, PaymentIntent id).
async fn charge_awaiting_authentication(api: &Api) -> (String, String) {
    let (customer, _) = api.customer_with_card("pm_card_threeDSecure2Required").await;
    let charge = api.charge(&customer, 4200, "eur").await.ok().clone();
    assert_eq!(charge["status"], "requires_action", "{charge}");
    (str_field(&charge, "id").to_owned(), str_field(&charge, "gateway_reference").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_deliveries_signed_with_the_secret_within_five_minutes_are_taken() {
    let stripe = FakeStripe::start().await;
    let engine = Engine::start(config(&stripe.api_base(), 0)).await;
    let webhooks = engine.api_with_authorization(None);
    let body = event(
        "evt_sig_1",
        "customer.created",
        now_secs(),
        json!({"id": "cus_x", "object": "customer"}),
    );
    let now = now_secs();
    let mut tampered = body.clone();
    let at = tampered.iter().position(|byte| *byte == b'x').unwrap();
    tampered[at] = b'y';
    let refused: Vec<(&str, Vec<u8>, Option<String>)> = vec![
        ("missing header", body.clone(), None),
        ("wrong secret", body.clone(), Some(stripe_signature("whsec_other", &body, now))),
        ("tampered body", tampered, Some(stripe_signature(WEBHOOK_SECRET, &body, now))),
        ("301 s old", body.clone(), Some(stripe_signature(WEBHOOK_SECRET, &body, now - 301))),
        // Ahead by more than 301 s: the cases before it take time, and the engine's clock
        // moves on meanwhile, bringing a signature 301 s ahead back within the tolerance.
        ("310 s ahead", body.clone(), Some(stripe_signature(WEBHOOK_SECRET, &body, now + 310))),
        ("no v1", body.clone(), Some(format!("t={now}"))),
        ("garbage header", body.clone(), Some("garbage".to_owned())),
        ("forged v1", body.clone(), Some(format!("t={now},v1={}", "ab".repeat(32)))),
    ];
    for (what, body, header) in refused {
        let answer = webhooks.post_webhook(PATH, body, header.as_deref()).await;
        assert_error(&answer, 400, "signature_invalid");
        assert!(
            answer.body["error"]["message"].as_str().unwrap().contains("Stripe-Signature"),
            "{what}: {:?}",
            answer.body
        );
    }
    // Signed, but not an event: not JSON, or a field of the wrong type.
    for not_an_event in [
        b"not json".to_vec(),
        to_bytes(&json!({"id": "evt_sig_2", "type": "x", "created": "yesterday", "data": {}})),
    ] {
        let answer = deliver(&engine, &not_an_event).await;
        assert_error(&answer, 400, "validation_error");
    }
    // Larger than any event (1 MiB): refused before it is read.
    let headers = [
        ("Content-Type", "application/json".to_owned()),
        ("Stripe-Signature", stripe_signature(WEBHOOK_SECRET, &body, now)),
    ];
    let answer = declare_oversized_body(
        engine.base_url(),
        &format!("POST {PATH}"),
        &headers,
        1024 * 1024 + 1,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("body_too_large"), "{answer}");
    let api = engine.api_a();
    assert!(events(&api, "").await.is_empty(), "nothing refused is stored");

    // Two v1 values (a secret being rolled), one of them valid.
    let both = format!(
        "t={now},v1={},v1={}",
        stripe_v1("whsec_old_secret", &body, now),
        stripe_v1(WEBHOOK_SECRET, &body, now)
    );
    let answer = webhooks.post_webhook(PATH, body.clone(), Some(&both)).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["duplicate"], false);
    let listed = wait_applied(&api, "customer.created", 1).await;
    assert_eq!(listed[0]["id"], answer.body["id"], "the answer names Kassa's id of the event");
    assert_eq!(listed[0]["gateway_event_id"], "evt_sig_1");
    assert_eq!(listed[0]["gateway"], "stripe");
    assert_eq!(listed[0]["outcome"], "stored: not a type Kassa applies");
    // The route takes no API key, and no other method: 405 with `Allow`, as for any path. A
    // path no gateway serves is a plain 404.
    let get = webhooks.get(PATH).await;
    assert_error(&get, 405, "method_not_allowed");
    assert_eq!(get.headers["allow"], "POST");
    let unserved = webhooks.get("/v1/webhooks/stripe/extra").await;
    assert_eq!(unserved.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_delivered_ten_times_at_once_is_applied_once_and_older_events_change_nothing() {
    let stripe = FakeStripe::start().await;
    let engine = Engine::start(config(&stripe.api_base(), 0)).await;
    let api = engine.api_a();
    let (charge, intent) = charge_awaiting_authentication(&api).await;
    // The customer finished 3-D Secure: Stripe holds the payment, and says so.
    stripe.complete_authentication(&intent);
    let created = now_secs();
    let succeeded = event(
        "evt_dup_1",
        "payment_intent.succeeded",
        created,
        payment_intent(&intent, &charge, "succeeded"),
    );
    let deliveries = (0..10).map(|_| deliver(&engine, &succeeded));
    let answers = futures::future::join_all(deliveries).await;
    assert!(
        answers.iter().all(|answer| answer.status == 200),
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    let firsts = answers.iter().filter(|answer| answer.body["duplicate"] == false).count();
    assert_eq!(firsts, 1, "one delivery stored, nine duplicates");
    let ids: std::collections::HashSet<_> =
        answers.iter().map(|answer| answer.body["id"].clone()).collect();
    assert_eq!(ids.len(), 1, "every duplicate names the stored event");

    let listed = wait_applied(&api, "payment_intent.succeeded", 1).await;
    assert_eq!(listed[0]["outcome"], format!("charge {charge} succeeded"));
    let path = format!("/v1/charges/{charge}");
    let settled = api.get_ok(&path).await;
    assert_eq!(settled["status"], "succeeded", "{settled}");
    assert_eq!(settled["next_action"], Value::Null);
    // The event names no fee: Stripe was asked for it, once.
    let moved = api.get_ok(&format!("/v1/balance_transactions?source={charge}")).await;
    let fee = fake_stripe::fee_of(4200);
    let figures = ["amount", "fee", "net"].map(|field| i64_field(&moved["data"][0], field));
    assert_eq!(figures, [4200, fee, 4200 - fee], "{moved}");
    let read = format!("/v1/payment_intents/{intent}");
    let asked = stripe.seen().into_iter().filter(|seen| seen.path == read).count();
    assert_eq!(asked, 1, "one read for ten deliveries");

    // Stripe does not promise order: an older failure arriving now changes nothing.
    let failed = event(
        "evt_dup_0",
        "payment_intent.payment_failed",
        created - 10,
        payment_intent(&intent, &charge, "requires_payment_method"),
    );
    assert_eq!(deliver(&engine, &failed).await.status, 200);
    let listed = wait_applied(&api, "payment_intent.payment_failed", 1).await;
    assert_eq!(listed[0]["outcome"], format!("no change: charge {charge} is succeeded"));
    assert_eq!(api.get_ok(&path).await["status"], "succeeded");
    // The 3-D Secure charge of another customer, failed by its event.
    let (other, other_intent) = charge_awaiting_authentication(&api).await;
    let failed = event(
        "evt_dup_2",
        "payment_intent.payment_failed",
        created,
        payment_intent(&other_intent, &other, "requires_payment_method"),
    );
    deliver(&engine, &failed).await;
    wait_applied(&api, "payment_intent.payment_failed", 2).await;
    let other = api.get_ok(&format!("/v1/charges/{other}")).await;
    assert_eq!(other["status"], "failed");
    assert_eq!(other["failure_code"], "insufficient_funds");
    // Account B sees none of A's events.
    assert!(events(&engine.api_b(), "").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_refund_becomes_a_kassa_refund_and_kassas_own_is_not_counted_twice() {
    let stripe = FakeStripe::start().await;
    let engine = Engine::start(config(&stripe.api_base(), 0)).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let charge = api.charge_ok(&customer, 2000, "usd").await;
    let (charge_id, intent) = (str_field(&charge, "id"), str_field(&charge, "gateway_reference"));
    let own = api.refund(charge_id, Some(500)).await.ok().clone();
    let own_reference = str_field(&own, "gateway_reference");
    assert_eq!(stripe.refunds_created(), 1);

    let stripe_charge = |refunds: Value, total: i64| {
        json!({
            "id": "ch_3stripe",
            "object": "charge",
            "payment_intent": intent,
            "amount": 2000,
            "amount_refunded": total,
            "refunds": { "object": "list", "data": refunds },
        })
    };
    // Stripe's event for Kassa's own refund: nothing new.
    let own_only = json!([{ "id": own_reference, "amount": 500, "status": "succeeded",
        "metadata": { "kassa_idempotency_key": own["id"] } }]);
    deliver(
        &engine,
        &event("evt_ref_1", "charge.refunded", now_secs(), stripe_charge(own_only.clone(), 500)),
    )
    .await;
    let listed = wait_applied(&api, "charge.refunded", 1).await;
    assert!(listed[0]["outcome"].as_str().unwrap().starts_with("no change"), "{listed:?}");
    assert_eq!(api.get_ok(&format!("/v1/charges/{charge_id}")).await["amount_refunded"], 500);

    // A refund of 300 made in the dashboard, then the same state in a second event.
    let mut both = own_only.as_array().unwrap().clone();
    both.push(json!({ "id": "re_dashboard_1", "amount": 300, "status": "succeeded",
        "reason": "requested_by_customer", "metadata": {} }));
    for id in ["evt_ref_2", "evt_ref_3"] {
        deliver(
            &engine,
            &event(id, "charge.refunded", now_secs(), stripe_charge(json!(both), 800)),
        )
        .await;
    }
    wait_applied(&api, "charge.refunded", 3).await;
    let after = api.get_ok(&format!("/v1/charges/{charge_id}")).await;
    assert_eq!(after["amount_refunded"], 800, "{after}");
    let refund = dashboard_refund(&api).await;
    assert_eq!(refund["gateway_reference"], "re_dashboard_1");
    assert_eq!(refund["charge"], charge_id);
    assert_eq!(refund["amount"], 300);
    assert_eq!(refund["status"], "succeeded");
    assert_eq!(refund["reason"], "requested_by_customer");
    assert_eq!(stripe.refunds_created(), 1, "Kassa asked Stripe for no refund of its own");
}

/// Stripe reports ISK in hundredths: a dashboard refund of 30000 is 300 krónur to Kassa, and a
/// dispute of 100000 is the whole 1000 kr charge. An amount that is no whole number of krónur
/// is not applied (never rounded): the event is kept, its outcome says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_amounts_in_events_are_read_in_the_charges_iso_unit() {
    let stripe = FakeStripe::start().await;
    let engine = Engine::start(config(&stripe.api_base(), 0)).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let charge = api.charge_ok(&customer, 1000, "isk").await;
    let (charge_id, intent) = (str_field(&charge, "id"), str_field(&charge, "gateway_reference"));
    let refunded = |event_id: &str, refund_id: &str, amount: i64| {
        let refunds = json!([{ "id": refund_id, "amount": amount, "status": "succeeded",
            "currency": "isk", "metadata": {} }]);
        let object = json!({ "id": "ch_3isk", "object": "charge", "payment_intent": intent,
            "amount": 100_000, "currency": "isk", "amount_refunded": amount,
            "refunds": { "object": "list", "data": refunds } });
        event(event_id, "charge.refunded", now_secs(), object)
    };

    deliver(&engine, &refunded("evt_isk_fraction", "re_isk_fraction", 150)).await;
    let listed = wait_applied(&api, "charge.refunded", 1).await;
    let outcome = listed[0]["outcome"].as_str().unwrap_or_default();
    assert!(outcome.starts_with("ignored: ") && outcome.contains("150"), "{outcome}");
    assert_eq!(api.get_ok(&format!("/v1/charges/{charge_id}")).await["amount_refunded"], 0);

    deliver(&engine, &refunded("evt_isk_refund", "re_isk_dashboard", 30_000)).await;
    wait_applied(&api, "charge.refunded", 2).await;
    assert_eq!(api.get_ok(&format!("/v1/charges/{charge_id}")).await["amount_refunded"], 300);
    let refund = dashboard_refund(&api).await;
    assert_eq!((refund["amount"].clone(), refund["currency"].clone()), (json!(300), json!("isk")));

    let dispute = json!({ "id": "du_isk", "object": "dispute", "amount": 100_000,
        "currency": "isk", "charge": "ch_3isk", "payment_intent": intent,
        "reason": "fraudulent", "status": "needs_response" });
    deliver(&engine, &event("evt_isk_dispute", "charge.dispute.created", now_secs(), dispute))
        .await;
    wait_applied(&api, "charge.dispute.created", 1).await;
    let disputed = api.get_ok(&format!("/v1/charges/{charge_id}")).await;
    let shown = api.get_ok(&format!("/v1/disputes/{}", str_field(&disputed, "dispute"))).await;
    assert_eq!((shown["amount"].clone(), shown["currency"].clone()), (json!(1000), json!("isk")));
}

/// The one Kassa refund recorded from the dashboard's: its event's outcome names it.
async fn dashboard_refund(api: &Api) -> Value {
    let listed = events(api, "?type=charge.refunded").await;
    let recorded: Vec<_> = listed
        .iter()
        .filter_map(|event| event["outcome"].as_str())
        .filter(|outcome| outcome.contains("recorded as"))
        .collect();
    assert_eq!(recorded.len(), 1, "one event recorded a refund: {listed:?}");
    let refund_id = recorded[0].rsplit(' ').next().unwrap();
    api.get_ok(&format!("/v1/refunds/{refund_id}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_between_persist_and_apply_loses_nothing_and_applies_once() {
    let stripe = FakeStripe::start().await;
    // Applying waits an hour: the engine is killed in between.
    let lease = "[cluster]\nlease_ms = 1000\n";
    let mut engine = Engine::start(config(&stripe.api_base(), 3_600_000).with_toml(lease)).await;
    let api = engine.api_a();
    let (charge, intent) = charge_awaiting_authentication(&api).await;
    let succeeded = event(
        "evt_kill_1",
        "payment_intent.succeeded",
        now_secs(),
        payment_intent(&intent, &charge, "succeeded"),
    );
    assert_eq!(deliver(&engine, &succeeded).await.status, 200);
    let listed = events(&api, "").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["applied"], false, "acknowledged, not yet applied");
    assert_eq!(api.get_ok(&format!("/v1/charges/{charge}")).await["status"], "requires_action");

    engine.kill();
    // On a database nodes share, what a node left unapplied is taken up once it stayed so past
    // every call's time limit and the dead node's claims lapsed: both short here.
    engine.reconfigure(
        config(&stripe.api_base(), 0)
            .with_gateway_timeout_ms(1_000)
            .with_reconcile_after_secs(1)
            .with_toml(lease),
    );
    engine.launch().await;
    let api = engine.api_a();
    let listed = wait_applied(&api, "payment_intent.succeeded", 1).await;
    assert_eq!(listed[0]["outcome"], format!("charge {charge} succeeded"));
    assert_eq!(api.get_ok(&format!("/v1/charges/{charge}")).await["status"], "succeeded");
    // Stripe retries what it thinks was lost: a duplicate, changing nothing.
    let again = deliver(&engine, &succeeded).await;
    assert_eq!(again.body["duplicate"], true);
    engine.restart_graceful().await;
    let api = engine.api_a();
    let listed = events(&api, "").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["applied"], true);
    assert_eq!(
        engine.log_text().matches("gateway event applied").count(),
        1,
        "applied exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_its_webhook_settled_first_is_answered_only_once_that_is_durable() {
    // Stripe answers the PaymentIntent create 2 s late (within the 3 s attempt timeout); its
    // webhook, taken at once, is applied 300 ms later: the webhook settles the charge first.
    const STRIPE_LATE_BY: Duration = Duration::from_secs(2);
    let stripe = FakeStripe::start().await;
    let engine = Engine::start(config(&stripe.api_base(), 300).on_sled()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    // The first charge makes the Stripe customer, so the stall below meets the charge's own
    // PaymentIntent create.
    api.charge_ok(&customer, 1000, "eur").await;
    stripe.stall_creates(Some(STRIPE_LATE_BY));
    let charging = {
        let (api, customer) = (api.clone(), customer.clone());
        tokio::spawn(async move { api.charge(&customer, 4200, "eur").await })
    };
    let charge = wait_for("Stripe to make the PaymentIntent", Duration::from_secs(5), || async {
        let creates = stripe.intent_creates();
        let second = creates.get(1)?;
        second.form.get("metadata[kassa_idempotency_key]").cloned()
    })
    .await;
    let intent = stripe.intent_ids().pop().expect("the PaymentIntent just made");
    let succeeded = event(
        "evt_durable_1",
        "payment_intent.succeeded",
        now_secs(),
        payment_intent(&intent, &charge, "succeeded"),
    );
    assert_eq!(deliver(&engine, &succeeded).await.status, 200);

    // From here nothing reaches the disk: the webhook's settlement is applied but not durable,
    // and Stripe's late answer finds the charge already settled.
    engine.hold_flushes();
    tokio::time::sleep(STRIPE_LATE_BY + Duration::from_secs(1)).await;
    assert!(
        !charging.is_finished(),
        "answered before the settlement it shows was durable: {:?}",
        charging.await.map(|answer| answer.text)
    );
    engine.release_flushes();
    let answer = charging.await.expect("the charge request");
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["id"], charge.as_str());
    assert_eq!(answer.body["status"], "succeeded");
    let listed = wait_applied(&api, "payment_intent.succeeded", 1).await;
    assert_eq!(
        listed[0]["outcome"],
        format!("charge {charge} succeeded"),
        "the webhook settled it"
    );
    assert_eq!(stripe.intents_created(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_events_payload_is_kept_sealed_and_reads_back_whole() {
    let stripe = FakeStripe::start().await;
    let mut engine = Engine::start(config(&stripe.api_base(), 0)).await;
    let email = "payer.in.a.payload@example.org";
    let customer = json!({"id": "cus_payload", "object": "customer", "email": email});
    let body = event("evt_sealed_payload", "customer.updated", now_secs(), customer);
    assert_eq!(deliver(&engine, &body).await.status, 200);
    let api = engine.api_a();
    let stored = wait_applied(&api, "customer.updated", 1).await;
    assert_eq!(stored[0]["gateway_event_id"], "evt_sealed_payload", "{stored:?}");
    assert!(engine.stop_graceful().await.success());
    assert!(
        files_holding(engine.data_dir(), email).is_empty(),
        "the payload is on disk in the clear"
    );
    // After a restart the event is still known (a delivery again is a duplicate); a payload
    // read back and applied after a crash is `a_kill_between_persist_and_apply…`'s.
    engine.launch().await;
    assert_eq!(deliver(&engine, &body).await.body["duplicate"], true);
}
