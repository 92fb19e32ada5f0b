//! Dunning ended by a 3-D Secure payment that Stripe settles by webhook.
//!
//! Proves that a Stripe renewal whose card declines makes the subscription `past_due` with its
//! invoice `open`, `attempt_count` 1 and the next retry a day after the failure; that a new
//! default payment method needing 3-D Secure is tried on that invoice at once, leaving the retry
//! charge `requires_action` and the invoice `payment_pending` (attempt 2, nothing else planned);
//! and that Stripe's signed `payment_intent.succeeded` for that charge's PaymentIntent settles
//! the charge, pays the invoice (no next attempt), returns the subscription to `active` and ends
//! the dunning: no further attempt is made, and the invoice has exactly one successful charge.
//! How: the real engine over HTTP (see `common`) with the local fake Stripe
//! (`testkit/src/fake_stripe.rs`) as its gateway, on the real clock (Stripe is not
//! allowed on test clocks), its scheduler looking every 100 ms: a `billing_cycle_anchor` a few
//! seconds ahead makes a first period of a few seconds (0 due, paid with no charge) and the
//! renewal at the anchor, which the test polls for (bounded). The webhook is signed here with
//! HMAC-SHA256 as Stripe documents it. Reconciliation is pushed to its maximum (an hour) so
//! only the webhook can settle the 3-D Secure charge within the test.

mod common;
use kassa_testkit::fake_stripe;

use std::time::Duration;

use common::*;
use fake_stripe::FakeStripe;

const DAY_SECS: i64 = 24 * 60 * 60;
const PRICE: u64 = 2_000;
const WEBHOOK_SECRET: &str = "whsec_test_0123456789abcdef";
const WEBHOOK_PATH: &str = "/v1/webhooks/stripe";

/// How far ahead of now the `billing_cycle_anchor` is set: time enough to subscribe and switch
/// the card before it on a loaded CI machine (a subscribe at the anchor itself would bill a
/// whole first period).
const ANCHOR_DELAY_SECS: i64 = 5;

/// Bound on waiting for something the engine does after its answer (the renewal at the
/// anchor, the retry on a new card, a webhook applied).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(15);

/// How long the engine is watched doing nothing more after the invoice is paid: twenty looks
/// of the 100 ms scheduler.
const QUIET_PERIOD: Duration = Duration::from_secs(2);

/// Pause between two looks while watching the engine do nothing.
const QUIET_PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// Stripe (the fake) as the default gateway, taking webhooks signed with `WEBHOOK_SECRET`; the
/// scheduler looks every 100 ms; a charge awaiting the customer is asked about only after the
/// longest allowed wait, an hour, so nothing but the webhook settles it here.
fn config(stripe: &FakeStripe) -> Config {
    Config::default().with_default_gateway("stripe").with_reconcile_after_secs(3_600).with_toml(
        &format!(
            r#"[gateways.stripe]
secret_key = "{}"
api_base = "{}"
webhook_secret = "{WEBHOOK_SECRET}"
attempt_timeout_ms = 2000
attempts_max = 3

[billing]
scheduler_interval_ms = 100
"#,
            fake_stripe::SECRET_KEY,
            stripe.api_base(),
        ),
    )
}

/// Stripe's `payment_intent.succeeded` for the PaymentIntent `intent` Kassa made for `charge`.
fn intent_succeeded(event_id: &str, intent: &str, charge: &str) -> Vec<u8> {
    to_bytes(&json!({
        "id": event_id,
        "object": "event",
        "api_version": "2020-08-27",
        "type": "payment_intent.succeeded",
        "created": now_secs(),
        "livemode": false,
        "data": { "object": {
            "id": intent,
            "object": "payment_intent",
            "amount": PRICE,
            "amount_received": PRICE,
            "currency": "usd",
            "status": "succeeded",
            "next_action": null,
            "metadata": { "kassa_idempotency_key": charge },
        }},
    }))
}

/// Delivers `body` signed now, as Stripe would; asserts it was taken.
async fn deliver(engine: &Engine, body: &[u8]) {
    let header = stripe_signature(WEBHOOK_SECRET, body, now_secs());
    let webhooks = engine.api_with_authorization(None);
    let answer = webhooks.post_webhook(WEBHOOK_PATH, body.to_vec(), Some(&header)).await;
    assert_eq!(answer.status, 200, "{}: {}", answer.what, answer.text);
    assert_eq!(answer.body["duplicate"], false, "{}", answer.text);
}

/// Waits (bounded) until the one stored event of `kind` is applied; returns it.
async fn applied_event(api: &Api, kind: &str) -> Value {
    wait_for("the webhook's event to be applied", SETTLE_TIMEOUT, || async {
        let listed = api.get_ok(&format!("/v1/events?type={kind}")).await;
        let listed = listed["data"].as_array().unwrap().clone();
        assert!(listed.len() <= 1, "one delivery, one event: {listed:#?}");
        listed.into_iter().find(|event| event["applied"] == true)
    })
    .await
}

/// `GET /v1/charges?invoice=…`: the invoice's charges, newest first.
async fn invoice_charges(api: &Api, invoice: &str) -> Vec<Value> {
    api.list_all(&format!("/v1/charges?invoice={invoice}"), "id").await
}

/// (id, status) of each of the invoice's charges, newest first.
async fn charge_statuses(api: &Api, invoice: &str) -> Vec<(String, String)> {
    let charges = invoice_charges(api, invoice).await;
    let pair = |charge: &Value| {
        (str_field(charge, "id").to_owned(), str_field(charge, "status").to_owned())
    };
    charges.iter().map(pair).collect()
}

/// Makes a new card of `token` the customer's default payment method; returns its id.
async fn default_to(api: &Api, customer: &str, token: &str) -> String {
    let method = api.add_payment_method(customer, token).await;
    let id = str_field(&method, "id").to_owned();
    let body = json!({ "default_payment_method": id });
    let updated = api.post(&format!("/v1/customers/{customer}"), &body).await;
    assert_eq!(updated.ok()["default_payment_method"], id.as_str(), "{}", updated.text);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_d_secure_retry_settled_by_a_stripe_webhook_ends_the_dunning() {
    let stripe = FakeStripe::start().await;
    let engine = Engine::start(config(&stripe)).await;
    let api = engine.api_a();
    let plan = api.plan(PRICE, "usd", "month").await;
    let body = json!({ "email": "billing@example.com", "address": { "country": "US" } });
    let customer = str_field(&api.create_customer_with(&body).await, "id").to_owned();
    api.add_payment_method(&customer, "pm_card_visa").await;

    // Subscribed with a first period of a few seconds: 0 due, paid with no charge.
    let anchor = now_secs() as i64 + ANCHOR_DELAY_SECS;
    let subscribe = json!({ "customer": customer, "plan": plan, "billing_cycle_anchor": anchor });
    let subscribed = api.subscribe(&subscribe).await.ok().clone();
    assert_eq!(subscribed["status"], "active", "{subscribed}");
    assert_eq!(subscribed["current_period_end"], anchor, "subscribed before the anchor");
    let subscription = str_field(&subscribed, "id").to_owned();
    let first = api.invoice(str_field(&subscribed, "latest_invoice")).await;
    assert_eq!(first["status"], "paid", "{first}");
    assert_eq!(first["amount_due"], 0, "a few seconds of a month round to 0: {first}");
    assert_eq!(first["charge"], Value::Null, "nothing to charge: {first}");

    // Before the anchor, the card is replaced by one that declines (a soft, generic decline).
    default_to(&api, &customer, "pm_card_chargeDeclined").await;
    assert!(stripe.intent_creates().is_empty(), "nothing charged before the anchor");

    // The renewal at the anchor fails: past_due, the invoice open, its retry a day later.
    // (Between deciding the attempt and recording its charge, the invoice shows attempt 1 with
    // no charge and nothing pending: the wait is for the charge recorded and settled.)
    let renewal = wait_for("the renewal's charge to fail", SETTLE_TIMEOUT, || async {
        let invoices = api.subscription_invoices(&subscription).await;
        let charged = invoices.get(1).filter(|renewal| renewal["charge"].is_string());
        charged.filter(|renewal| renewal["payment_pending"] == false).cloned()
    })
    .await;
    let failed_by = now_secs() as i64;
    let invoice = str_field(&renewal, "id").to_owned();
    assert_eq!(period_of(&renewal).0, anchor, "{renewal}");
    assert_eq!(renewal["status"], "open", "{renewal}");
    assert_eq!(renewal["attempt_count"], 1, "{renewal}");
    assert_eq!(renewal["amount_due"], PRICE, "{renewal}");
    assert_eq!(renewal["amount_paid"], 0, "{renewal}");
    let declined = api.get_ok(&format!("/v1/charges/{}", str_field(&renewal, "charge"))).await;
    assert_eq!(declined["status"], "failed", "{declined}");
    assert_eq!(declined["failure_code"], "generic_decline", "{declined}");
    assert_eq!(declined["invoice"], invoice.as_str(), "{declined}");
    // The failure came between the charge's creation and the test seeing it.
    let next_attempt = i64_field(&renewal, "next_payment_attempt");
    let failed_at_least = i64_field(&declined, "created");
    assert!(failed_at_least >= anchor, "renewed at the anchor: {declined}");
    assert!(
        (failed_at_least + DAY_SECS..=failed_by + DAY_SECS).contains(&next_attempt),
        "retry_days[0] = 1: a day after the failure (in [{failed_at_least}, {failed_by}]): \
         {renewal}"
    );
    assert_eq!(api.subscription(&subscription).await["status"], "past_due");

    // A card needing 3-D Secure becomes the default: the open invoice is tried on it at once,
    // and the customer is asked to authenticate. (The retry's charge is `processing` until
    // Stripe answers: the wait is for its answer.)
    let three_d_secure = default_to(&api, &customer, "pm_card_threeDSecure2Required").await;
    let charges = wait_for("the retry on the new card", SETTLE_TIMEOUT, || async {
        let charges = invoice_charges(&api, &invoice).await;
        let answered = charges.len() == 2 && charges[0]["status"] != "processing";
        answered.then_some(charges)
    })
    .await;
    assert_eq!(charges[1]["id"], declined["id"], "the declined renewal, then the retry");
    let retry = charges[0].clone();
    let retry_id = str_field(&retry, "id").to_owned();
    let pending = api.invoice(&invoice).await;
    assert_eq!(pending["status"], "open", "{pending}");
    assert_eq!(pending["attempt_count"], 2, "{pending}");
    assert_eq!(pending["payment_pending"], true, "{pending}");
    assert_eq!(pending["next_payment_attempt"], Value::Null, "nothing planned meanwhile");
    assert_eq!(pending["charge"], retry_id.as_str(), "{pending}");
    assert_eq!(retry["status"], "requires_action", "{retry}");
    assert_eq!(retry["payment_method"], three_d_secure.as_str(), "{retry}");
    assert_eq!(retry["amount"], PRICE, "{retry}");
    assert_eq!(retry["gateway"], "stripe", "{retry}");
    let intent = str_field(&retry, "gateway_reference").to_owned();
    let creates = stripe.intent_creates();
    assert_eq!(creates.len(), 2, "the renewal and its retry: {creates:#?}");
    assert_eq!(creates[1].idempotency_key.as_deref(), Some(retry_id.as_str()));
    assert_eq!(creates[1].form["payment_method"], "pm_card_threeDSecure2Required");
    assert_eq!(api.subscription(&subscription).await["status"], "past_due", "not paid yet");

    // The customer authenticates; Stripe says so by webhook.
    stripe.complete_authentication(&intent);
    deliver(&engine, &intent_succeeded("evt_3ds_retry_1", &intent, &retry_id)).await;
    let event = applied_event(&api, "payment_intent.succeeded").await;
    assert_eq!(event["outcome"], format!("charge {retry_id} succeeded"), "{event}");

    let settled = api.get_ok(&format!("/v1/charges/{retry_id}")).await;
    assert_eq!(settled["status"], "succeeded", "{settled}");
    assert_eq!(settled["next_action"], Value::Null, "{settled}");
    let paid = api.invoice(&invoice).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(paid["amount_paid"], PRICE, "{paid}");
    assert_eq!(paid["payment_pending"], false, "{paid}");
    assert_eq!(paid["next_payment_attempt"], Value::Null, "the dunning is over: {paid}");
    assert_eq!(paid["attempt_count"], 2, "{paid}");
    assert_eq!(paid["charge"], retry_id.as_str(), "{paid}");
    let active = api.subscription(&subscription).await;
    assert_eq!(active["status"], "active", "{active}");
    assert_eq!(active["current_period_start"], anchor, "{active}");

    // Nothing more is tried: the invoice, its charges and Stripe stay as they are.
    let charges = charge_statuses(&api, &invoice).await;
    let succeeded: Vec<_> = charges.iter().filter(|(_, status)| status == "succeeded").collect();
    assert_eq!(succeeded.len(), 1, "exactly one successful charge pays it: {charges:?}");
    let settled_state = (paid.clone(), charges, "active".to_owned(), 2);
    assert_stays(
        "the paid invoice's billing",
        &settled_state,
        (QUIET_PERIOD, QUIET_PROBE_INTERVAL),
        || async {
            let invoice_now = api.invoice(&invoice).await;
            let charges_now = charge_statuses(&api, &invoice).await;
            let status = str_field(&api.subscription(&subscription).await, "status").to_owned();
            (invoice_now, charges_now, status, stripe.intent_creates().len())
        },
    )
    .await;
}
