//! M-Pesa through the engine: phone payment methods, STK Push charges, and Safaricom's callbacks.
//!
//! Proves that a Kenyan number attaches as an `mpesa` payment method (normalised, only its last
//! digits shown) and anything else is a 400; that a charge that M-Pesa can never carry out (not
//! KES, not whole shillings) is a 400 with nothing recorded; that a charge pushes one STK prompt
//! and stays `processing` with the CheckoutRequestID as its reference; that the callback at
//! `/v1/webhooks/mpesa/{token}` settles it — success, cancelled by the user, unreachable — and a
//! duplicate or late callback changes nothing; that a callback reporting another amount than
//! the charge's holds it `processing` for review (the discrepancy on the charge, logged and
//! counted) and nothing later settles it; that a callback for an unknown CheckoutRequestID
//! is answered 200 and ignored; that a callback that came before its push was known is filed,
//! once applied, under the account whose charge it settled and no other; that a wrong path
//! token is a 404 that changes nothing; that a
//! charge whose callback never comes is settled by the STK query; that a push Daraja answers
//! only after the engine stopped waiting still gets its CheckoutRequestID written down, so its
//! callback settles the charge; that a refund of an M-Pesa payment (Kassa has no Daraja
//! reversals) is a 400 naming the charge, with no refund recorded and nothing sent; and that a
//! subscription paid by M-Pesa is `send_invoice`, rounded to whole shillings and never pushed.
//! How: the real engine over HTTP (see `common`) against a local Daraja that speaks Safaricom's
//! wire format (`testkit/src/fake_daraja.rs`, shared with the adapter's own tests); the
//! test itself plays Safaricom posting callbacks.

mod common;
use kassa_testkit::fake_daraja;

use std::time::Duration;

use common::*;
use fake_daraja::FakeDaraja;

const CALLBACK_TOKEN: &str = "callback-token-0123456789abcdef";
const PHONE: &str = "0712 345 678";

fn mpesa_config(daraja: &FakeDaraja) -> Config {
    mpesa_config_with_token(daraja, CALLBACK_TOKEN)
}

/// M-Pesa with this callback path token; empty: the engine generates one.
fn mpesa_config_with_token(daraja: &FakeDaraja, token: &str) -> Config {
    Config::default().with_toml(&daraja.engine_toml(token))
}

/// The body Safaricom posts when a push ends.
fn callback(checkout_request_id: &str, result_code: i64, amount_kes: u64) -> Value {
    let mut body = json!({ "Body": { "stkCallback": {
        "MerchantRequestID": "29115-34620561-1",
        "CheckoutRequestID": checkout_request_id,
        "ResultCode": result_code,
        "ResultDesc": match result_code {
            0 => "The service request is processed successfully.",
            1032 => "Request cancelled by user",
            _ => "DS timeout user cannot be reached",
        },
    }}});
    if result_code == 0 {
        body["Body"]["stkCallback"]["CallbackMetadata"] = json!({ "Item": [
            { "Name": "Amount", "Value": amount_kes },
            { "Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV" },
            { "Name": "TransactionDate", "Value": 20191219102115u64 },
            { "Name": "PhoneNumber", "Value": 254712345678u64 },
        ]});
    }
    body
}

/// Safaricom: no API key.
async fn post_callback(engine: &Engine, token: &str, body: &Value) -> Resp {
    engine.api_with_authorization(None).post(&format!("/v1/webhooks/mpesa/{token}"), body).await
}

/// A customer paying by M-Pesa, and a `processing` charge of `amount_kes` pushed to their phone.
async fn pushed_charge(api: &Api, amount_kes: u64) -> (String, Value) {
    let customer = api.create_customer().await;
    let path = format!("/v1/customers/{customer}/payment_methods");
    api.post(&path, &json!({ "type": "mpesa", "phone": PHONE })).await.ok();
    let charge = api.charge(&customer, amount_kes * 100, "kes").await.ok().clone();
    assert_eq!(charge["status"], "processing", "{charge}");
    assert_eq!(charge["gateway"], "mpesa");
    (customer, charge)
}

async fn charge_now(api: &Api, charge: &Value) -> Value {
    api.get_ok(&format!("/v1/charges/{}", str_field(charge, "id"))).await
}

/// Callbacks are applied after their 200: waits until `count` of them have been, and answers
/// them, newest first.
async fn applied_callbacks(api: &Api, count: usize) -> Vec<Value> {
    wait_for("the callbacks to be applied", Duration::from_secs(15), || async {
        let listed = api.get_ok("/v1/events?type=mpesa.stk_push.result").await;
        let events = listed["data"].as_array().unwrap().clone();
        (events.len() == count && events.iter().all(|event| event["applied"] == true))
            .then_some(events)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_numbers_attach_as_mpesa_payment_methods() {
    let daraja = FakeDaraja::start().await;
    let engine = Engine::start(mpesa_config(&daraja)).await;
    let api = engine.api_a();
    let customer = api.create_customer().await;
    let path = format!("/v1/customers/{customer}/payment_methods");
    let method = api.post(&path, &json!({ "type": "mpesa", "phone": "+254 712-345-678" })).await;
    let method = method.ok();
    assert_eq!(method["type"], "mpesa");
    assert_eq!(method["gateway"], "mpesa");
    assert_eq!(method["mpesa"]["phone_last4"], "5678");
    assert_eq!(method["card"], Value::Null);
    assert!(!method.to_string().contains("712345678"), "the number is not shown: {method}");
    for phone in ["0812345678", "12345", "4242424242424242", "+44 7700 900123"] {
        let refused = api.post(&path, &json!({ "type": "mpesa", "phone": phone })).await;
        assert_error(&refused, 400, "payment_method_invalid");
        assert_eq!(refused.body["error"]["param"], "phone", "{phone}");
        assert!(!refused.text.contains(phone), "the refused number is not echoed");
    }
    let mixed = api.post(&path, &json!({ "type": "mpesa", "token": "pm_card_visa" })).await;
    assert_error(&mixed, 400, "validation_error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_mpesa_cannot_carry_out_is_refused_before_anything_is_recorded() {
    let daraja = FakeDaraja::start().await;
    let engine = Engine::start(mpesa_config(&daraja)).await;
    let api = engine.api_a();
    let customer = api.create_customer().await;
    let path = format!("/v1/customers/{customer}/payment_methods");
    api.post(&path, &json!({ "type": "mpesa", "phone": PHONE })).await.ok();
    assert_error(&api.charge(&customer, 10_050, "kes").await, 400, "validation_error");
    assert_error(&api.charge(&customer, 10_000, "usd").await, 400, "validation_error");
    assert!(api.customer_charges(&customer).await.is_empty(), "nothing was recorded");
    assert!(daraja.pushes().is_empty(), "nothing was pushed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callback_settles_the_pushed_charge_once() {
    let daraja = FakeDaraja::start().await;
    let engine = Engine::start(mpesa_config(&daraja)).await;
    let api = engine.api_a();
    let (_, charge) = pushed_charge(&api, 150).await;
    let pushes = daraja.pushes();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0]["PhoneNumber"], "254712345678");
    assert_eq!(pushes[0]["Amount"], 150);
    assert_eq!(
        pushes[0]["CallBackURL"],
        format!("https://kassa.example.com/v1/webhooks/mpesa/{CALLBACK_TOKEN}")
    );
    let checkout = str_field(&charge, "gateway_reference").to_owned();
    assert!(checkout.starts_with("ws_CO_"), "the CheckoutRequestID is the reference: {charge}");

    let answer = post_callback(&engine, CALLBACK_TOKEN, &callback(&checkout, 0, 150)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["ResultCode"], 0);
    let applied = applied_callbacks(&api, 1).await;
    assert_eq!(applied[0]["gateway"], "mpesa");
    let settled = charge_now(&api, &charge).await;
    assert_eq!(settled["status"], "succeeded", "{settled}");
    assert_eq!(settled["gateway_reference"], checkout.as_str());

    // Safaricom sends again (a duplicate, not stored again), or sends a contradicting late
    // result (kept, and applied as no change).
    for late in [callback(&checkout, 0, 150), callback(&checkout, 1032, 150)] {
        assert_eq!(post_callback(&engine, CALLBACK_TOKEN, &late).await.status, 200);
    }
    let applied = applied_callbacks(&api, 2).await;
    assert!(applied[0]["outcome"].as_str().unwrap().starts_with("no change"), "{applied:?}");
    assert_eq!(charge_now(&api, &charge).await, settled);
    // Another method on the callback path: 405, naming the path's template, never the token.
    let path = format!("/v1/webhooks/mpesa/{CALLBACK_TOKEN}");
    let get = engine.api_with_authorization(None).get(&path).await;
    assert_error(&get, 405, "method_not_allowed");
    assert!(!get.text.contains(CALLBACK_TOKEN), "{}", get.text);
    assert!(!engine.log_text().contains(CALLBACK_TOKEN), "the path token is never logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_configured_token_one_is_generated_kept_and_used() {
    let daraja = FakeDaraja::start().await;
    let mut engine = Engine::start(mpesa_config_with_token(&daraja, "")).await;
    let token_file = engine.data_dir().join("mpesa-callback-token");
    let token =
        std::fs::read_to_string(&token_file).expect("the generated token").trim().to_owned();
    assert!(token.len() >= 24 && token.bytes().all(|b| b.is_ascii_alphanumeric()), "{token}");
    assert!(!engine.log_text().contains(&token), "the token is never logged");
    engine.restart_graceful().await;
    let api = engine.api_a();
    let (_, charge) = pushed_charge(&api, 40).await;
    assert_eq!(
        daraja.pushes()[0]["CallBackURL"],
        format!("https://kassa.example.com/v1/webhooks/mpesa/{token}"),
        "the same token after a restart"
    );
    let checkout = str_field(&charge, "gateway_reference").to_owned();
    let answer = post_callback(&engine, &token, &callback(&checkout, 0, 40)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    applied_callbacks(&api, 1).await;
    assert_eq!(charge_now(&api, &charge).await["status"], "succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_and_unreachable_prompts_fail_the_charge() {
    let daraja = FakeDaraja::start().await;
    let engine = Engine::start(mpesa_config(&daraja)).await;
    let api = engine.api_a();
    for (done, (result_code, failure_code)) in
        [(1032, "customer_cancelled"), (1037, "customer_unreachable")].into_iter().enumerate()
    {
        let (_, charge) = pushed_charge(&api, 20).await;
        let checkout = str_field(&charge, "gateway_reference").to_owned();
        let result = callback(&checkout, result_code, 20);
        assert_eq!(post_callback(&engine, CALLBACK_TOKEN, &result).await.status, 200);
        applied_callbacks(&api, done + 1).await;
        let failed = charge_now(&api, &charge).await;
        assert_eq!(failed["status"], "failed", "{failed}");
        assert_eq!(failed["failure_code"], failure_code);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_unauthenticated_callbacks_change_nothing() {
    let daraja = FakeDaraja::start().await;
    let engine = Engine::start(mpesa_config(&daraja)).await;
    let api = engine.api_a();
    let (_, charge) = pushed_charge(&api, 75).await;
    let checkout = str_field(&charge, "gateway_reference").to_owned();

    // Unknown CheckoutRequestID: 200, so that Safaricom stops retrying; ignored.
    let unknown = callback("ws_CO_000000000000000000000", 0, 75);
    let answer = post_callback(&engine, CALLBACK_TOKEN, &unknown).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    // Kept, and tried again for a while: the answer to a push can come after its callback.
    let listed = api.get_ok("/v1/events?type=mpesa.stk_push.result").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["data"][0]["applied"], false);
    // Not an STK callback at all: the same.
    let answer = post_callback(&engine, CALLBACK_TOKEN, &json!({ "hello": "world" })).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    // A wrong path token: 404, like any unknown path.
    let forged = callback(&checkout, 0, 75);
    let answer = post_callback(&engine, "callback-token-0123456789abcdeX", &forged).await;
    assert_error(&answer, 404, "not_found");
    assert!(!answer.text.contains("callback-token"), "the token is not echoed");
    assert_eq!(post_callback(&engine, "", &forged).await.status, 404);
    assert_eq!(charge_now(&api, &charge).await, charge, "nothing changed");
}

/// Safaricom's callback says 90 shillings moved for a 100-shilling charge: neither paid nor
/// failed is true, so the charge is held — `processing`, the discrepancy on it — and nothing the
/// gateway says later settles it: not a callback for the right amount, not the STK query while
/// running, not recovery after a crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_for_another_amount_holds_the_charge_for_review() {
    let daraja = FakeDaraja::start().await;
    let mut engine = Engine::start(mpesa_config(&daraja).with_reconcile_after_secs(1)).await;
    let api = engine.api_a();
    let (_, charge) = pushed_charge(&api, 100).await;
    let checkout = str_field(&charge, "gateway_reference").to_owned();

    let answer = post_callback(&engine, CALLBACK_TOKEN, &callback(&checkout, 0, 90)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let applied = applied_callbacks(&api, 1).await;
    let outcome = applied[0]["outcome"].as_str().unwrap_or_default();
    assert!(outcome.contains("held for review"), "{outcome}");
    let held = charge_now(&api, &charge).await;
    assert_eq!(held["status"], "processing", "{held}");
    assert_eq!(held["amount"], 10_000);
    assert_eq!(held["review"]["reason"], "amount_mismatch", "{held}");
    assert_eq!(held["review"]["reported_amount"], 9_000);
    assert_eq!(held["review"]["reported_reference"], "NLJ7RT61SV");
    let metric = r#"kassa_charges_held_for_review_total{gateway="mpesa"}"#;
    assert_eq!(engine.metric(metric).await, Some(1.0));
    assert!(engine.log_text().contains("held for review"), "logged for an operator");

    // The right amount afterwards (the same push and result: taken as a duplicate), and the
    // STK query answering "paid" on the reconcile rounds.
    let right = post_callback(&engine, CALLBACK_TOKEN, &callback(&checkout, 0, 100)).await;
    assert_eq!(right.status, 200, "{}", right.text);
    daraja.settle(&checkout, 0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(charge_now(&api, &charge).await, held, "still held, unchanged");

    engine.restart_after_kill().await;
    assert_eq!(charge_now(&engine.api_a(), &charge).await, held, "recovery leaves it held");
    assert_eq!(daraja.pushes().len(), 1, "never pushed again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_callback_the_stk_query_settles_the_charge() {
    let daraja = FakeDaraja::start().await;
    let engine = Engine::start(mpesa_config(&daraja).with_reconcile_after_secs(1)).await;
    let api = engine.api_a();
    let (_, charge) = pushed_charge(&api, 300).await;
    let checkout = str_field(&charge, "gateway_reference").to_owned();
    daraja.settle(&checkout, 0);
    let settled =
        wait_for("the STK query to settle the charge", Duration::from_secs(15), || async {
            let now = charge_now(&api, &charge).await;
            (now["status"] != "processing").then_some(now)
        })
        .await;
    assert_eq!(settled["status"], "succeeded", "{settled}");
    assert_eq!(daraja.pushes().len(), 1, "asked, never pushed again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_answered_after_the_engine_stopped_waiting_is_settled_by_its_callback() {
    let daraja = FakeDaraja::start().await;
    // Daraja accepts the push at once but answers only after the engine's gateway timeout.
    let engine = Engine::start(mpesa_config(&daraja).with_gateway_timeout_ms(300)).await;
    let api = engine.api_a();
    daraja.stall_pushes(Some(Duration::from_millis(1500)));
    let (_, charge) = pushed_charge(&api, 40).await;
    assert_eq!(charge["gateway_reference"], Value::Null, "answered before Daraja did: {charge}");
    let checkout = daraja.checkout_request_ids().pop().expect("Daraja accepted the push");

    // The adapter's call went on after the engine stopped waiting and wrote the
    // CheckoutRequestID down, so Safaricom's callback finds the charge. (Sent until it does:
    // a callback for a CheckoutRequestID not yet known is answered 200 and ignored.)
    let settled = wait_for("the callback to settle the charge", Duration::from_secs(10), || {
        let (engine, api, charge, checkout) = (&engine, &api, &charge, &checkout);
        async move {
            let answer = post_callback(engine, CALLBACK_TOKEN, &callback(checkout, 0, 40)).await;
            assert_eq!(answer.status, 200, "{}", answer.text);
            let now = charge_now(api, charge).await;
            (now["status"] != "processing").then_some(now)
        }
    })
    .await;
    assert_eq!(settled["status"], "succeeded", "{settled}");
    assert_eq!(settled["gateway_reference"], checkout.as_str());
    assert_eq!(daraja.pushes().len(), 1, "one prompt on the customer's phone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_that_came_before_its_push_was_known_ends_up_with_its_own_account() {
    let daraja = FakeDaraja::start().await;
    let engine = Engine::start(mpesa_config(&daraja).with_gateway_timeout_ms(300)).await;
    // B's charge; A is the deployment's default account, where an event that names nothing
    // Kassa knows yet is filed when it comes in.
    let (api_a, api_b) = (engine.api_a(), engine.api_b());
    daraja.stall_pushes(Some(Duration::from_millis(1500)));
    let (_, charge) = pushed_charge(&api_b, 40).await;
    let checkout = daraja.checkout_request_ids().pop().expect("Daraja accepted the push");
    let answer = post_callback(&engine, CALLBACK_TOKEN, &callback(&checkout, 0, 40)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);

    // Applied once the adapter wrote the CheckoutRequestID down; then listed for B alone.
    let events = applied_callbacks(&api_b, 1).await;
    assert!(str_field(&events[0], "outcome").contains(str_field(&charge, "id")), "{events:?}");
    assert_eq!(charge_now(&api_b, &charge).await["status"], "succeeded");
    let listed_for_a = api_a.get_ok("/v1/events").await;
    assert_eq!(listed_for_a["data"], json!([]), "B's callback listed for A: {listed_for_a}");

    // The same callback again is still a duplicate (stored nowhere), wherever the first now is.
    let again = post_callback(&engine, CALLBACK_TOKEN, &callback(&checkout, 0, 40)).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(api_b.get_ok("/v1/events").await["data"].as_array().unwrap().len(), 1);
    assert_eq!(api_a.get_ok("/v1/events").await["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_of_an_mpesa_payment_is_paid_back_to_a_phone_by_b2c() {
    let daraja = FakeDaraja::start().await;
    let toml = format!("{}{}", daraja.engine_toml(CALLBACK_TOKEN), FakeDaraja::b2c_toml());
    let engine = Engine::start(Config::default().with_toml(&toml)).await;
    let api = engine.api_a();
    let (_, charge) = pushed_charge(&api, 150).await;
    let checkout = str_field(&charge, "gateway_reference").to_owned();
    assert_eq!(
        post_callback(&engine, CALLBACK_TOKEN, &callback(&checkout, 0, 150)).await.status,
        200
    );
    applied_callbacks(&api, 1).await;
    let paid = charge_now(&api, &charge).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");

    // No reversal to send it back by: refused, naming what the refund needs, and nothing kept.
    let body = json!({ "charge": str_field(&charge, "id") });
    let refused = api.post_with_key("/v1/refunds", &body, "refund-of-mpesa").await;
    assert_error(&refused, 400, "validation_error");
    assert_eq!(refused.body["error"]["param"], "destination");
    let message = refused.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("paid by M-Pesa"), "{message}");
    assert_eq!(charge_now(&api, &charge).await, paid, "the charge is unchanged");
    let reused = api.post_with_key("/v1/customers", &json!({}), "refund-of-mpesa").await;
    assert_eq!(reused.status, 200, "no refund was kept under the key: {}", reused.text);
    let fraction = json!({ "charge": str_field(&charge, "id"), "amount": 5_050,
        "destination": {"type": "mpesa", "phone": "0712 345 678"} });
    let refused = api.post("/v1/refunds", &fraction).await;
    assert_error(&refused, 400, "validation_error");
    assert_eq!(refused.body["error"]["param"], "amount", "B2C pays whole shillings");
    assert!(daraja.b2c_requests().is_empty(), "nothing was sent to M-Pesa");

    // To the phone: a B2C payment keyed by the refund, pending until its result.
    let body = json!({ "charge": str_field(&charge, "id"), "amount": 10_000,
        "destination": {"type": "mpesa", "phone": "0712 345 678"} });
    let refund = api.post_with_key("/v1/refunds", &body, "refund-to-phone").await.ok().clone();
    assert_eq!(refund["status"], "pending", "{refund}");
    assert_eq!(refund["destination"], json!({"type": "mpesa", "last4": "5678"}));
    let id = str_field(&refund, "id").to_owned();
    let requests = daraja.b2c_requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0]["OriginatorConversationID"], id);
    assert_eq!(requests[0]["Amount"], 100);
    assert_eq!(requests[0]["PartyB"], "254712345678");
    for _ in 0..2 {
        let answer = post_callback(&engine, CALLBACK_TOKEN, &b2c_result(&id, 0)).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    let refunded = wait_for("the refund's B2C result", Duration::from_secs(15), || async {
        let refund = api.get_ok(&format!("/v1/refunds/{id}")).await;
        (refund["status"] == "succeeded").then_some(refund)
    })
    .await;
    assert_eq!(refunded["amount"], 10_000);
    assert_eq!(charge_now(&api, &charge).await["amount_refunded"], 10_000, "refunded once");
    let again = api.post_with_key("/v1/refunds", &body, "refund-to-phone").await;
    assert_eq!(again.body["id"], json!(id), "a retry answers the same refund");
    assert_eq!(daraja.b2c_requests().len(), 1, "and sends nothing more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_after_a_crash_asks_mpesa_about_a_pushed_charge() {
    let daraja = FakeDaraja::start().await;
    let mut engine = Engine::start(mpesa_config(&daraja)).await;
    let (_, charge) = pushed_charge(&engine.api_a(), 60).await;
    let checkout = str_field(&charge, "gateway_reference").to_owned();
    daraja.settle(&checkout, 1032);
    engine.restart_after_kill().await;
    let api = engine.api_a();
    let settled = charge_now(&api, &charge).await;
    assert_eq!(settled["status"], "failed", "{settled}");
    assert_eq!(settled["failure_code"], "customer_cancelled");
    assert_eq!(daraja.pushes().len(), 1, "asked, never pushed again");
}

/// A subscription paid by M-Pesa is `send_invoice` (M-Pesa cannot be charged without the
/// customer): its invoices are finalized, rounded to whole shillings with a `rounding` line
/// (Daraja takes no cents), and never pushed by the scheduler, at creation or at renewal.
#[tokio::test]
async fn a_subscription_paid_by_mpesa_is_invoiced_in_whole_shillings_and_never_pushed() {
    let daraja = FakeDaraja::start().await;
    let engine = Engine::start(mpesa_config(&daraja)).await;
    let api = engine.api_a();
    let jan_1_2026 = 1_767_225_600;
    let clock = api.create_clock(jan_1_2026).await;
    let customer = api.clock_customer(&clock, "KE").await;
    let path = format!("/v1/customers/{customer}/payment_methods");
    api.post(&path, &json!({ "type": "mpesa", "phone": PHONE })).await.ok();
    // KSh 999.50 a month, VAT included.
    let plan = api
        .create_plan(&json!({
            "name": "Student", "amount": 99_950, "currency": "kes", "interval": "month",
            "tax_behavior": "inclusive",
        }))
        .await;
    let body = json!({ "customer": customer, "plan": plan["id"] });
    let subscription = api.subscribe(&body).await.ok().clone();
    assert_eq!(subscription["collection_method"], "send_invoice", "{subscription}");
    assert_eq!(subscription["status"], "active", "{subscription}");
    api.advance_clock(&clock, jan_1_2026 + 32 * 86_400).await;

    let invoices = api.subscription_invoices(str_field(&subscription, "id")).await;
    assert_eq!(invoices.len(), 2, "the first period and the renewal: {invoices:#?}");
    for invoice in &invoices {
        assert_eq!(invoice["status"], "open", "{invoice}");
        assert_eq!(invoice["total"], 100_000, "rounded up from 99 950: {invoice}");
        assert_eq!(invoice["amount_due"], 100_000, "{invoice}");
        assert!(invoice["due_date"].is_i64(), "{invoice}");
        let lines = invoice["lines"].as_array().unwrap();
        let rounding: Vec<&Value> = lines.iter().filter(|line| line["plan"].is_null()).collect();
        assert_eq!(rounding.len(), 1, "{invoice}");
        assert_eq!(rounding[0]["amount"], 50, "{invoice}");
        assert_eq!(rounding[0]["tax_amounts"], json!([]), "the rounding is not taxed");
        assert!(invoice["charge"].is_null(), "never charged by the scheduler: {invoice}");
    }
    assert!(daraja.pushes().is_empty(), "no STK push was sent: {:?}", daraja.pushes());
}

/// The body Safaricom posts when a B2C payment ends.
fn b2c_result(key: &str, result_code: i64) -> Value {
    json!({ "Result": {
        "ResultType": 0,
        "ResultCode": result_code,
        "ResultDesc": match result_code {
            0 => "The service request is processed successfully.",
            _ => "The receiver is not registered for M-Pesa.",
        },
        "OriginatorConversationID": key,
        "ConversationID": "AG_20191219_00004e48cf7e3533f581",
        "TransactionID": "NLJ41HAY6Q",
    }})
}

/// A payee paid to an M-Pesa phone, its shares available at once, with `shillings` of them
/// (none: no charge).
async fn phone_payee(api: &Api, phone: &str, shillings: i64) -> String {
    let body = json!({
        "name": "Wanjiku Kamau", "country": "KE", "default_currency": "kes",
        "destination": {"type": "mpesa", "phone": phone},
        "payout_schedule": {"interval": "manual", "delay_days": 0},
    });
    let payee = api.post("/v1/payees", &body).await.id();
    if shillings > 0 {
        let (customer, _) = api.customer_with_card("pm_card_visa").await;
        let charge = json!({"customer": customer, "amount": shillings * 100, "currency": "kes",
            "transfer": {"payee": payee}});
        api.post("/v1/charges", &charge).await.ok();
    }
    payee
}

async fn payout_now(api: &Api, id: &str) -> Value {
    api.get_ok(&format!("/v1/payouts/{id}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payout_to_a_phone_is_a_b2c_payment_settled_by_its_result() {
    let daraja = FakeDaraja::start().await;
    let toml = format!("{}{}", daraja.engine_toml(CALLBACK_TOKEN), FakeDaraja::b2c_toml());
    let engine = Engine::start(Config::default().with_toml(&toml)).await;
    let api = engine.api_a();
    // The cards are charged on the sandbox; the shares go out by B2C.
    let payee = phone_payee(&api, "0712 345 678", 600_000).await;
    let sent = api.post("/v1/payouts", &json!({"payee": payee, "currency": "kes"})).await;
    let sent = sent.ok().clone();
    assert_eq!(
        (sent["method"].clone(), sent["status"].clone()),
        (json!("mpesa"), json!("in_transit")),
        "{sent}"
    );
    let requests = daraja.b2c_requests();
    let amounts: Vec<i64> =
        requests.iter().map(|request| request["Amount"].as_i64().unwrap()).collect();
    assert_eq!(amounts, [250_000, 250_000, 100_000], "split at B2C's KES 250 000");
    assert_eq!(requests[0]["PartyB"], "254712345678");
    assert_eq!(
        requests[0]["ResultURL"],
        format!("https://kassa.example.com/v1/webhooks/mpesa/{CALLBACK_TOKEN}")
    );
    let id = str_field(&sent, "id").to_owned();
    let keys: Vec<String> = requests
        .iter()
        .map(|request| str_field(request, "OriginatorConversationID").to_owned())
        .collect();
    assert_eq!(keys, [format!("{id}-1"), format!("{id}-2"), format!("{id}-3")]);

    for key in &keys {
        let answer = post_callback(&engine, CALLBACK_TOKEN, &b2c_result(key, 0)).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    let paid = wait_for("the payout to be paid", Duration::from_secs(15), || async {
        let payout = payout_now(&api, &id).await;
        (payout["status"] == "paid").then_some(payout)
    })
    .await;
    assert_eq!(paid["amount"], 60_000_000);
    // A repeated result changes nothing.
    post_callback(&engine, CALLBACK_TOKEN, &b2c_result(&keys[0], 2040)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(payout_now(&api, &id).await["status"], "paid");
    assert_eq!(daraja.b2c_requests().len(), 3, "nothing sent again");

    // A result that reports failure: the funds back in available, the destination flagged.
    let failing = phone_payee(&api, "0733 000 111", 1_500).await;
    let sent = api.post("/v1/payouts", &json!({"payee": failing, "currency": "kes"})).await;
    let id = str_field(sent.ok(), "id").to_owned();
    post_callback(&engine, CALLBACK_TOKEN, &b2c_result(&id, 2040)).await;
    let failed = wait_for("the payout to fail", Duration::from_secs(15), || async {
        let payout = payout_now(&api, &id).await;
        (payout["status"] == "failed").then_some(payout)
    })
    .await;
    assert_eq!(failed["failure_code"], "invalid_account_number", "{failed}");
    let balance = api.get_ok(&format!("/v1/payees/{failing}/balance")).await;
    assert_eq!(balance["available"][0]["amount"], 150_000, "{balance}");
    let flagged = api.get_ok(&format!("/v1/payees/{failing}")).await;
    assert_eq!(flagged["destination_failure"]["code"], "invalid_account_number");

    // B2C pays whole shillings: "everything" leaves the cents; asking for them is refused.
    let cents = phone_payee(&api, "0722 000 222", 0).await;
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let odd = json!({"customer": customer, "amount": 10_050, "currency": "kes",
        "transfer": {"payee": cents}});
    api.post("/v1/charges", &odd).await.ok();
    let exact = json!({"payee": cents, "amount": 10_050, "currency": "kes"});
    let refused = api.post("/v1/payouts", &exact).await;
    assert_error(&refused, 400, "validation_error");
    assert_eq!(refused.body["error"]["param"], "amount", "{}", refused.text);
    let whole = api.post("/v1/payouts", &json!({"payee": cents, "currency": "kes"})).await;
    assert_eq!(whole.ok()["amount"], 10_000, "{}", whole.text);
    let balance = api.get_ok(&format!("/v1/payees/{cents}/balance")).await;
    assert_eq!(balance["available"][0]["amount"], 50, "the cents stay: {balance}");
}
