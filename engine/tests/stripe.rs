//! Stripe through the engine: what a platform sees when its charges are routed to Stripe.
//!
//! Proves that a card attached while Stripe is the default gateway is described by Stripe (brand,
//! last4), that a charge becomes one PaymentIntent whose Idempotency-Key is the charge id, for one
//! Stripe customer per Kassa customer, its fee (from the charge's balance transaction) in the
//! books; that a charge Stripe settles into the account's other currency is booked there (its
//! refund as Stripe took it from the balance, at the day's rate; its payee's share owed in the
//! charge's currency; its billing in that one), and `kassa verify-ledger` agrees; that a decline answers 402 with Stripe's decline code and
//! keeps the failed charge; that 3-D Secure leaves the charge `requires_action` with the
//! `next_action` a front end needs, and that the engine settles it once the customer finishes;
//! that a timeout after Stripe charged leaves the charge `processing` until the engine asks Stripe
//! again, with no second PaymentIntent; that a refused connection to Stripe fails over to the next
//! gateway of the routing rule (recorded on the charge as attempt 2), but a refusal that follows
//! an attempt Stripe may have acted on (a 500) does not; that a charge left unknown after a
//! failover is asked about at the gateway it moved to, both while running and after a crash; that
//! a refund while Stripe's breaker is open is a 503 with nothing recorded or sent; that ISK is
//! charged and refunded in krónur (sent in Stripe's hundredths) and an amount Stripe cannot take
//! (a KWD amount not ending in 0) is a 400 with nothing kept or sent; and that Stripe's calls
//! show in the metrics.
//! How: the real engine over HTTP (see `common`) against a local Stripe that speaks Stripe's wire
//! format (`testkit/src/fake_stripe.rs`, shared with the adapter's own tests).

mod common;
use kassa_testkit::fake_stripe;

use std::time::Duration;

use common::*;
use fake_stripe::FakeStripe;

/// Stripe as the default gateway, at `api_base`.
fn stripe_config(api_base: &str) -> Config {
    Config::default().with_default_gateway("stripe").with_toml(&stripe_section(api_base, 3))
}

fn stripe_section(api_base: &str, attempts_max: u32) -> String {
    format!(
        r#"[gateways.stripe]
secret_key = "{}"
api_base = "{api_base}"
attempt_timeout_ms = 2000
attempts_max = {attempts_max}
webhook_secret = "{WEBHOOK_SECRET}"
"#,
        fake_stripe::SECRET_KEY
    )
}

const WEBHOOK_SECRET: &str = "whsec_test_stripe_payouts_0123";

/// An address where connections are refused: bound once, then released.
fn refused_base() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_charge_is_one_payment_intent_keyed_by_the_charge_id() {
    let stripe = FakeStripe::start().await;
    let engine = Engine::start(stripe_config(&stripe.api_base())).await;
    let api = engine.api_a();
    let customer = api.create_customer().await;
    let method = api.add_payment_method(&customer, "pm_card_mastercard").await;
    assert_eq!(method["card"]["brand"], "mastercard", "described by Stripe: {method}");
    assert_eq!(method["card"]["last4"], "4444");
    assert_eq!(method["gateway"], "stripe");

    let charge = api.charge_ok(&customer, 2500, "usd").await;
    assert_eq!(charge["gateway"], "stripe");
    assert_eq!(charge["gateway_attempt"], 1);
    let intent = str_field(&charge, "gateway_reference").to_owned();
    assert!(intent.starts_with("pi_"), "the PaymentIntent is the reference: {charge}");
    assert_eq!(
        api.get_ok(&format!("/v1/charges/{}", charge["id"].as_str().unwrap())).await,
        charge
    );

    let creates: Vec<_> = stripe
        .seen()
        .into_iter()
        .filter(|seen| seen.method == "POST" && seen.path == "/v1/payment_intents")
        .collect();
    assert_eq!(creates.len(), 1, "one PaymentIntent create");
    assert_eq!(creates[0].idempotency_key.as_deref(), charge["id"].as_str());
    assert_eq!(creates[0].form["amount"], "2500");
    assert_eq!(creates[0].form["currency"], "usd");
    // Stripe's fee, from the charge's balance transaction, is in the books with the charge.
    let charge_id = str_field(&charge, "id");
    let found = api.get_ok(&format!("/v1/balance_transactions?source={charge_id}")).await;
    let txn = &found["data"][0];
    let fee = fake_stripe::fee_of(2500);
    let figures = ["amount", "fee", "net"].map(|field| i64_field(txn, field));
    assert_eq!(figures, [2500, fee, 2500 - fee], "{found}");

    api.charge_ok(&customer, 700, "usd").await;
    assert_eq!(stripe.intents_created(), 2);
    assert_eq!(stripe.customers_created(), 1, "one Stripe customer per Kassa customer");
    let metrics = engine.metrics_api().get("/metrics").await.text;
    assert!(
        metrics.contains(
            r#"kassa_gateway_call_duration_seconds_count{gateway="stripe",operation="charge",outcome="succeeded"} 2"#
        ),
        "Stripe's charges are measured:\n{metrics}"
    );
    assert!(metrics.contains(r#"kassa_gateway_breaker_state{gateway="stripe"} 0"#), "{metrics}");
}

/// The platform's balance in `currency` (0 where it holds none).
async fn platform_balance(api: &Api, currency: &str) -> i64 {
    let balance = api.get_ok("/v1/balance").await;
    let amounts = balance["available"].as_array().unwrap_or_else(|| panic!("{balance}"));
    let found = amounts.iter().find(|amount| amount["currency"] == currency);
    found.map_or(0, |amount| i64_field(amount, "amount"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_stripe_settles_in_dollars_is_booked_in_dollars_and_its_payee_owed_shillings() {
    let stripe = FakeStripe::start().await;
    // A Kenyan platform's Stripe account holds dollars: KES 1 = USD 0.0077.
    stripe.settle_in("usd", 77, 10_000);
    let mut engine = Engine::start(stripe_config(&stripe.api_base()).on_sled()).await;
    let api = engine.api_a();
    let customer = api.create_customer().await;
    api.add_payment_method(&customer, "pm_card_visa").await;
    let tutor = json!({"name": "Wanjiru Kamau", "country": "KE", "default_currency": "kes",
        "destination": {"type": "bank_account", "account_holder": "W Kamau",
            "bank_code": "01100", "account_number": "0123456789012"},
        "payout_schedule": {"interval": "manual", "delay_days": 0}});
    let payee = api.post("/v1/payees", &tutor).await.id();

    // KES 1 300, of which KES 260 is the tutor's: Stripe credits USD 10.01, less its fee.
    let mut body = charge_body(&customer, 130_000, "kes");
    body["transfer"] = json!({"payee": payee, "amount": 26_000});
    let charge = api.post("/v1/charges", &body).await.ok().clone();
    assert_eq!((&charge["status"], &charge["currency"]), (&json!("succeeded"), &json!("kes")));
    let settled = 130_000 * 77 / 10_000;
    let fee = fake_stripe::fee_of(settled);
    let source = str_field(&charge, "id");
    let found = api.get_ok(&format!("/v1/balance_transactions?source={source}")).await;
    let [txn] = found["data"].as_array().unwrap().clone().try_into().unwrap();
    let figures = ["amount", "fee", "net"].map(|field| i64_field(&txn, field));
    assert_eq!((figures, &txn["currency"]), ([settled, fee, settled - fee], &json!("usd")));

    // Half refunded, the shilling weaker by then: Stripe takes USD 4.94 from the balance, as
    // booked; the tutor's share is reversed in shillings.
    stripe.settle_in("usd", 76, 10_000);
    let refund = api.refund(source, Some(65_000)).await.ok().clone();
    assert_eq!(refund["status"], "succeeded", "{refund}");
    let refunded = 65_000 * 76 / 10_000;
    let found = api
        .get_ok(&format!("/v1/balance_transactions?source={}", refund["id"].as_str().unwrap()))
        .await;
    let [txn] = found["data"].as_array().unwrap().clone().try_into().unwrap();
    assert_eq!((i64_field(&txn, "amount"), &txn["currency"]), (-refunded, &json!("usd")));
    assert_eq!(api.payee_balance(&payee, "kes").await, (13_000, 0), "owed in shillings");
    // The platform holds dollars at Stripe and owes its tutor shillings.
    assert_eq!(platform_balance(&api, "usd").await, settled - fee - refunded);
    assert_eq!(platform_balance(&api, "kes").await, -13_000);

    // KES 260 more refunded in Stripe's dashboard when KES 1 = USD 0.0075, reported by
    // `charge.refunded` (twice): booked once, as it left the dollar balance.
    stripe.settle_in("usd", 75, 10_000);
    let intent = stripe.intent_ids()[0].clone();
    stripe.refund_in_dashboard(&intent, 26_000);
    let refunded_object = json!({ "id": "ch_kes", "object": "charge", "payment_intent": intent,
        "amount": 130_000, "currency": "kes", "amount_refunded": 91_000,
        "refunds": { "object": "list", "data": stripe.refunds_of(&intent) } });
    for event_id in ["evt_dash_refund", "evt_dash_refund_again"] {
        deliver(&engine, event_id, "charge.refunded", &refunded_object).await;
    }
    let charge_path = format!("/v1/charges/{source}");
    wait_for("the dashboard refund", Duration::from_secs(20), || async {
        let now = api.get_ok(&charge_path).await;
        (now["amount_refunded"] == 91_000).then_some(now)
    })
    .await;
    let dashboard_taken = 26_000 * 75 / 10_000;
    let refunds = api.get_ok("/v1/balance_transactions?type=refund").await;
    let amounts: Vec<(i64, &Value)> = refunds["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|txn| (i64_field(txn, "amount"), &txn["currency"]))
        .collect();
    let usd = json!("usd");
    assert_eq!(amounts, [(-dashboard_taken, &usd), (-refunded, &usd)], "at Stripe's rates");
    let refunded = refunded + dashboard_taken;
    assert_eq!(platform_balance(&api, "usd").await, settled - fee - refunded);

    // Cash moved in dollars; the course was billed in shillings.
    let today = now_secs() as i64 / 86_400 * 86_400;
    let range = format!("from={today}&to={}", today + 2 * 86_400);
    let cash = api.get_ok(&format!("/v1/reports/revenue?{range}&currency=usd")).await;
    let [day] = cash["data"].as_array().unwrap().clone().try_into().unwrap();
    let figures = ["gross", "fees", "refunds"].map(|field| i64_field(&day, field));
    assert_eq!(figures, [settled, fee, refunded], "{cash}");
    let billed = api.get_ok(&format!("/v1/reports/revenue?{range}&basis=billings")).await;
    let [day] = billed["data"].as_array().unwrap().clone().try_into().unwrap();
    assert_eq!((i64_field(&day, "gross"), &day["currency"]), (130_000, &json!("kes")), "{billed}");

    engine.stop_graceful().await;
    let said = books_balance(engine.data_dir());
    assert!(said.contains(" 1 charges, 2 refunds,"), "{said}");
    // The accountant's export says where the charge landed.
    let out = tempfile::tempdir().unwrap();
    export_books(engine.data_dir(), ACCOUNT_A, "csv", out.path());
    let mut reader = csv::Reader::from_path(out.path().join("charges.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    let [row] = reader.records().map(Result::unwrap).collect::<Vec<_>>().try_into().unwrap();
    let field =
        |name: &str| row[header.iter().position(|column| column == name).unwrap()].to_owned();
    let (settled, fee) = (settled.to_string(), fee.to_string());
    assert_eq!(
        [field("settlement_currency"), field("settlement_amount"), field("settlement_fee")],
        ["usd".to_owned(), settled, fee]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_a_customer_detaches_its_cards_at_stripe() {
    let stripe = FakeStripe::start().await;
    let engine = Engine::start(stripe_config(&stripe.api_base())).await;
    let api = engine.api_a();
    let customer = api.create_customer().await;
    api.add_payment_method(&customer, "pm_card_mastercard").await;
    api.charge_ok(&customer, 2500, "usd").await;
    assert!(!stripe.was_detached("pm_card_mastercard"));

    let erased = api.delete(&format!("/v1/customers/{customer}")).await;
    assert_eq!(erased.ok()["deleted"], true);
    assert!(stripe.was_detached("pm_card_mastercard"), "the card is still attached at Stripe");
    let detaches = stripe
        .seen()
        .into_iter()
        .filter(|seen| seen.path == "/v1/payment_methods/pm_card_mastercard/detach")
        .count();
    assert_eq!(detaches, 1);
    // Erasing again asks Stripe nothing more.
    api.delete(&format!("/v1/customers/{customer}")).await.ok();
    let again = stripe.seen().into_iter().filter(|seen| seen.path.ends_with("/detach")).count();
    assert_eq!(again, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stripe_decline_answers_402_with_its_decline_code() {
    let stripe = FakeStripe::start().await;
    let engine = Engine::start(stripe_config(&stripe.api_base())).await;
    let api = engine.api_a();
    for (token, decline_code) in [
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card"),
        ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc"),
        ("pm_card_chargeDeclinedProcessingError", "processing_error"),
    ] {
        let (customer, _) = api.customer_with_card(token).await;
        let answer = api.charge(&customer, 1000, "usd").await;
        assert_error(&answer, 402, "card_declined");
        assert_eq!(answer.body["error"]["decline_code"], decline_code, "{token}");
        let charge_id = answer.body["error"]["charge"].as_str().expect("the failed charge");
        let charge = api.get_ok(&format!("/v1/charges/{charge_id}")).await;
        assert_eq!(charge["status"], "failed");
        assert_eq!(charge["failure_code"], decline_code);
        assert_eq!(charge["gateway"], "stripe");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_d_secure_leaves_the_charge_requires_action_until_the_customer_finishes() {
    let stripe = FakeStripe::start().await;
    let engine =
        Engine::start(stripe_config(&stripe.api_base()).with_reconcile_after_secs(1)).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_threeDSecure2Required").await;
    let charge = api.charge(&customer, 4200, "eur").await.ok().clone();
    assert_eq!(charge["status"], "requires_action", "{charge}");
    let intent = str_field(&charge, "gateway_reference").to_owned();
    assert_eq!(charge["next_action"]["type"], "use_stripe_sdk");
    assert_eq!(charge["next_action"]["client_secret"], format!("{intent}_secret_fake"));
    let path = format!("/v1/charges/{}", str_field(&charge, "id"));
    assert_eq!(api.get_ok(&path).await["status"], "requires_action");
    let refund = api.refund(str_field(&charge, "id"), None).await;
    assert_error(&refund, 400, "validation_error");

    stripe.complete_authentication(&intent);
    let settled = wait_for("the charge to succeed", Duration::from_secs(15), || async {
        let charge = api.get_ok(&path).await;
        (charge["status"] == "succeeded").then_some(charge)
    })
    .await;
    assert_eq!(settled["gateway_reference"], intent.as_str());
    assert_eq!(settled["next_action"], Value::Null);
    assert!(!engine.log_text().contains(&format!("{intent}_secret_fake")), "client secret logged");
    assert_eq!(stripe.intents_created(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_after_stripe_charged_is_settled_later_without_a_second_intent() {
    let stripe = FakeStripe::start().await;
    let config = Config::default()
        .with_default_gateway("stripe")
        .with_toml(&stripe_section(&stripe.api_base(), 1))
        .with_gateway_timeout_ms(1000)
        .with_reconcile_after_secs(1);
    let engine = Engine::start(config).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    stripe.stall_creates(Some(Duration::from_secs(3)));
    let charge = api.charge(&customer, 1500, "usd").await.ok().clone();
    assert_eq!(charge["status"], "processing", "the engine stopped waiting: {charge}");
    stripe.stall_creates(None);
    let path = format!("/v1/charges/{}", str_field(&charge, "id"));
    let settled = wait_for("the charge to be settled", Duration::from_secs(20), || async {
        let charge = api.get_ok(&path).await;
        (charge["status"] != "processing").then_some(charge)
    })
    .await;
    assert_eq!(settled["status"], "succeeded", "{settled}");
    assert_eq!(stripe.intents_created(), 1, "asked again, never charged again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_fails_over_to_the_next_gateway_of_the_rule() {
    let config = Config::default().with_toml(&stripe_section(&refused_base(), 1)).with_toml(
        r#"[[routing.rules]]
method_types = ["card"]
gateways = ["stripe", "sandbox"]
"#,
    );
    let engine = Engine::start(config).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let charge = api.charge_ok(&customer, 3100, "usd").await;
    assert_eq!(charge["gateway"], "sandbox", "{charge}");
    assert_eq!(charge["gateway_attempt"], 2, "the second gateway of the route");
    let ledger = api.ledger().await;
    assert_eq!(ledger.len(), 1, "charged once, by the sandbox: {ledger:?}");
    assert_eq!(ledger[0]["idempotency_key"], charge["id"]);
    let metrics = engine.metrics_api().get("/metrics").await.text;
    assert!(
        metrics.contains(
            r#"kassa_gateway_call_duration_seconds_count{gateway="stripe",operation="charge",outcome="refused"} 1"#
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_after_a_server_error_leaves_the_charge_processing_without_failover() {
    let stripe = FakeStripe::start().await;
    let config = Config::default().with_toml(&stripe_section(&stripe.api_base(), 3)).with_toml(
        r#"[[routing.rules]]
method_types = ["card"]
gateways = ["stripe", "sandbox"]
"#,
    );
    let engine = Engine::start(config).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    // The first charge sets the customer up at Stripe, so the faults below meet the
    // PaymentIntent create itself.
    assert_eq!(api.charge_ok(&customer, 1000, "usd").await["gateway"], "stripe");
    // Attempt 1: a 500 (Stripe may have charged); attempt 2: a 400. Failing over now could
    // charge the customer twice.
    stripe.fail_next(1, 500);
    stripe.fail_next(1, 400);
    let charge = api.charge(&customer, 1200, "usd").await.ok().clone();
    assert_eq!(charge["status"], "processing", "{charge}");
    assert_eq!(charge["gateway"], "stripe");
    assert_eq!(charge["gateway_attempt"], 1, "not failed over: {charge}");
    assert!(api.ledger().await.is_empty(), "the sandbox never charged it");
}

/// The `amount` Stripe was sent on each POST to `path`.
fn amounts_sent(stripe: &FakeStripe, path: &str) -> Vec<String> {
    let posts = stripe.seen().into_iter().filter(|seen| seen.method == "POST" && seen.path == path);
    posts.map(|seen| seen.form["amount"].clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isk_is_charged_in_kronur_and_amounts_stripe_cannot_take_are_refused_up_front() {
    let stripe = FakeStripe::start().await;
    let engine = Engine::start(stripe_config(&stripe.api_base())).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;

    // 1000 isk is 1000 krónur (ISO 4217 exponent 0); Stripe counts ISK in hundredths.
    let charge = api.charge_ok(&customer, 1000, "isk").await;
    assert_eq!((charge["amount"].clone(), charge["currency"].clone()), (json!(1000), json!("isk")));
    assert_eq!(amounts_sent(&stripe, "/v1/payment_intents"), ["100000"]);
    let refund = api.refund(str_field(&charge, "id"), Some(250)).await.ok().clone();
    assert_eq!(
        (refund["amount"].clone(), refund["status"].clone()),
        (json!(250), json!("succeeded"))
    );
    assert_eq!(amounts_sent(&stripe, "/v1/refunds"), ["25000"]);

    // 5.124 KWD: Stripe takes three-decimal amounts only with a last digit of 0. Refused with a
    // 400 before anything is kept or sent.
    let refused = api.charge_with_key(&customer, 5124, "kwd", "kwd-odd").await;
    assert_error(&refused, 400, "validation_error");
    let message = refused.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("multiples of 10"), "the refusal says why: {message}");
    assert_eq!(api.customer_charges(&customer).await.len(), 1, "no charge was kept");
    assert_eq!(stripe.intents_created(), 1, "nothing was sent");
    let corrected = api.charge_with_key(&customer, 5120, "kwd", "kwd-even").await;
    assert_eq!(corrected.ok()["status"], "succeeded");
    assert_eq!(amounts_sent(&stripe, "/v1/payment_intents"), ["100000", "5120"]);

    // A refund Stripe cannot take is refused the same way, and the charge is left as it was.
    let kwd_charge = str_field(corrected.ok(), "id").to_owned();
    let odd_refund = api.refund(&kwd_charge, Some(1005)).await;
    assert_error(&odd_refund, 400, "validation_error");
    assert_eq!(api.get_ok(&format!("/v1/charges/{kwd_charge}")).await["amount_refunded"], 0);
    assert_eq!(amounts_sent(&stripe, "/v1/refunds"), ["25000"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_while_the_breaker_is_open_is_refused_before_anything_is_recorded() {
    let stripe = FakeStripe::start().await;
    let config = Config::default().with_toml(&stripe_section(&stripe.api_base(), 1)).with_toml(
        r#"[[routing.rules]]
method_types = ["card"]
gateways = ["stripe", "sandbox"]

[routing.breaker]
failures_to_open = 2
cool_down_ms = 60000
"#,
    );
    let engine = Engine::start(config).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let paid = api.charge_ok(&customer, 2000, "usd").await;
    assert_eq!(paid["gateway"], "stripe");
    // Stripe rate-limits the next two charges past their one attempt: unavailable twice, so
    // its breaker opens (the charges go to the sandbox).
    stripe.fail_next(2, 429);
    for _ in 0..2 {
        assert_eq!(api.charge_ok(&customer, 500, "usd").await["gateway"], "sandbox");
    }
    assert_eq!(engine.metric(r#"kassa_gateway_breaker_state{gateway="stripe"}"#).await, Some(2.0));

    let body = json!({ "charge": str_field(&paid, "id") });
    let refused = api.post_with_key("/v1/refunds", &body, "refund-while-open").await;
    assert_error(&refused, 503, "gateway_unavailable");
    let path = format!("/v1/charges/{}", str_field(&paid, "id"));
    assert_eq!(api.get_ok(&path).await, paid, "the charge is unchanged");
    assert!(stripe.seen().iter().all(|seen| seen.path != "/v1/refunds"), "nothing sent");
    // No refund was kept under the key: it is free for another request.
    let reused = api.post_with_key("/v1/customers", &json!({}), "refund-while-open").await;
    assert_eq!(reused.status, 200, "{}", reused.text);
}

/// Stripe unreachable, cards routed to Stripe then the sandbox.
fn failover_config() -> Config {
    Config::default().with_toml(&stripe_section(&refused_base(), 1)).with_toml(
        r#"[[routing.rules]]
method_types = ["card"]
gateways = ["stripe", "sandbox"]
"#,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_breaker_skips_stripe_without_calling_it() {
    let config = failover_config().with_toml(
        r#"[routing.breaker]
failures_to_open = 2
cool_down_ms = 60000
"#,
    );
    let engine = Engine::start(config).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    for _ in 0..4 {
        let charge = api.charge_ok(&customer, 500, "usd").await;
        assert_eq!(charge["gateway"], "sandbox");
        assert_eq!(charge["gateway_attempt"], 2);
    }
    let refused = r#"kassa_gateway_call_duration_seconds_count{gateway="stripe",operation="charge",outcome="refused"}"#;
    assert_eq!(engine.metric(refused).await, Some(2.0), "the breaker opened after 2 refusals");
    let open = r#"kassa_gateway_breaker_state{gateway="stripe"}"#;
    assert_eq!(engine.metric(open).await, Some(2.0), "open");
    assert_eq!(api.ledger().await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asked_again_while_running_after_failover_the_gateway_the_charge_was_moved_to_answers() {
    let stripe = FakeStripe::start().await;
    let config = Config::default()
        .with_toml(&stripe_section(&stripe.api_base(), 1))
        .with_toml(
            r#"[[routing.rules]]
method_types = ["card"]
gateways = ["stripe", "sandbox"]
"#,
        )
        .with_gateway_timeout_ms(1000)
        .with_reconcile_after_secs(1);
    let engine = Engine::start(config).await;
    let api = engine.api_a();
    // Stripe rate-limits the charge before making anything (its one attempt): the charge fails
    // over to the sandbox, which charges and withholds its answer past the engine's timeout.
    let (customer, _) = api.customer_with_card("pm_sandbox_timeout").await;
    stripe.fail_next(1, 429);
    let charge = api.charge(&customer, 900, "usd").await.ok().clone();
    assert_eq!(charge["status"], "processing", "{charge}");
    assert_eq!((&charge["gateway"], &charge["gateway_attempt"]), (&json!("sandbox"), &json!(2)));
    // Asked again a second later, the sandbox — which charged — settles it. (Asking Stripe,
    // where nothing was made, would fail the charge and free its key.)
    let path = format!("/v1/charges/{}", str_field(&charge, "id"));
    let settled = wait_for("the charge to be settled", Duration::from_secs(15), || async {
        let now = api.get_ok(&path).await;
        (now["status"] != "processing").then_some(now)
    })
    .await;
    assert_eq!(settled["status"], "succeeded", "{settled}");
    assert_eq!(api.ledger().await.len(), 1, "charged once");
    assert_eq!(stripe.intents_created(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_crash_mid_failover_recovery_asks_the_gateway_the_charge_was_moved_to() {
    let mut engine = Engine::start(failover_config()).await;
    let api = engine.api_a();
    // The sandbox records this charge in its ledger, then withholds its answer.
    let (customer, _) = api.customer_with_card("pm_sandbox_timeout").await;
    let in_flight = engine.api_a();
    let body = charge_body(&customer, 900, "usd");
    let request =
        tokio::spawn(async move { in_flight.try_post_with_key("/v1/charges", &body, "k1").await });
    let charge = wait_for("the sandbox to have charged", Duration::from_secs(10), || async {
        let charges = api.customer_charges(&customer).await;
        let ledger = api.ledger().await;
        let charge = charges.first()?.clone();
        (charge["gateway"] == "sandbox" && !ledger.is_empty()).then_some(charge)
    })
    .await;
    assert_eq!(charge["status"], "processing");
    assert_eq!(charge["gateway_attempt"], 2, "the switch was recorded before the call");
    engine.restart_after_kill().await;
    let _ = request.await;
    let api = engine.api_a();
    let settled = api.get_ok(&format!("/v1/charges/{}", str_field(&charge, "id"))).await;
    // Asking Stripe (which never saw it) would have failed it; the sandbox knows it charged.
    assert_eq!(settled["status"], "succeeded", "{settled}");
    assert_eq!(settled["gateway"], "sandbox");
    assert_eq!(api.ledger().await.len(), 1, "charged once");
}

/// A payee paid to a Stripe connected account, its shares available at once.
async fn connected_payee(api: &Api, account: &str) -> String {
    let body = json!({
        "name": "Nomvula Dube",
        "country": "ZA",
        "default_currency": "usd",
        "destination": {"type": "stripe", "account": account},
        "payout_schedule": {"interval": "manual", "delay_days": 0},
    });
    api.post("/v1/payees", &body).await.id()
}

async fn split_charge(api: &Api, customer: &str, payee: &str, share: i64) {
    let mut body = charge_body(customer, 10_000, "usd");
    body["transfer"] = json!({"payee": payee, "amount": share});
    api.post("/v1/charges", &body).await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payout_to_a_connected_account_is_one_transfer_keyed_by_the_payout() {
    let stripe = FakeStripe::start().await;
    let config = Config::default()
        .with_default_gateway("stripe")
        .with_toml(&stripe_section(&stripe.api_base(), 1))
        .with_reconcile_after_secs(1);
    let mut engine = Engine::start(config).await;
    let api = engine.api_a();
    let payee = connected_payee(&api, "acct_1Tutor").await;
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    split_charge(&api, &customer, &payee, 6_000).await;

    let ask = json!({"payee": payee, "amount": 4_000, "currency": "usd"});
    let paid = api.post_with_key("/v1/payouts", &ask, "tutor-payout-1").await.ok().clone();
    assert_eq!(
        (paid["method"].clone(), paid["status"].clone()),
        (json!("stripe"), json!("paid")),
        "{paid}"
    );
    api.post_with_key("/v1/payouts", &ask, "tutor-payout-1").await.ok();
    let transfers = stripe.transfers();
    assert_eq!(transfers.len(), 1, "a retry makes no second transfer: {transfers:?}");
    assert_eq!(transfers[0]["amount"], 4_000);
    assert_eq!(transfers[0]["destination"], "acct_1Tutor");
    assert_eq!(transfers[0]["metadata"]["kassa_idempotency_key"], paid["id"]);
    let sent: Vec<_> =
        stripe.seen().into_iter().filter(|seen| seen.path == "/v1/transfers").collect();
    assert_eq!(sent[0].idempotency_key.as_deref(), paid["id"].as_str(), "keyed by the payout");

    // The answer lost to a timeout: in transit, then settled by re-sending under the key.
    stripe.stall_creates(Some(Duration::from_secs(3)));
    let rest = api.post("/v1/payouts", &json!({"payee": payee, "currency": "usd"})).await;
    let rest = rest.ok().clone();
    assert_eq!(rest["status"], "in_transit", "{rest}");
    stripe.stall_creates(None);
    let id = str_field(&rest, "id");
    let settled = wait_for("the payout to settle", Duration::from_secs(20), || async {
        let payout = api.get_ok(&format!("/v1/payouts/{id}")).await;
        (payout["status"] != "in_transit").then_some(payout)
    })
    .await;
    assert_eq!(settled["status"], "paid", "{settled}");
    assert_eq!(stripe.transfers().len(), 2, "one transfer for the lost answer, not two");

    // A closed account: failed, the funds back, the destination flagged.
    let closed = connected_payee(&api, "acct_closedTutor").await;
    split_charge(&api, &customer, &closed, 1_500).await;
    let failed = api.post("/v1/payouts", &json!({"payee": closed, "currency": "usd"})).await;
    let failed = failed.ok().clone();
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["failure_code"], "account_closed");
    let balance = api.get_ok(&format!("/v1/payees/{closed}/balance")).await;
    assert_eq!(balance["available"][0]["amount"], 1_500, "{balance}");

    // The platform claws back $15 of the first transfer at Stripe: the payout stays paid,
    // the $15 the payee's again, the destination not at fault. Reported twice, and by
    // `transfer.updated` with the same total, it comes back once.
    let available = |balance: Value| i64_field(&balance["available"][0], "amount");
    let before = available(api.get_ok(&format!("/v1/payees/{payee}/balance")).await);
    let path = format!("/v1/payouts/{}", str_field(&paid, "id"));
    let mut clawed = transfers[0].clone();
    clawed["amount_reversed"] = json!(1_500);
    for (event_id, kind) in [
        ("evt_clawback", "transfer.reversed"),
        ("evt_clawback", "transfer.reversed"),
        ("evt_clawback_update", "transfer.updated"),
    ] {
        deliver(&engine, event_id, kind, &clawed).await;
    }
    let partly = wait_for("the clawback to apply", Duration::from_secs(20), || async {
        let payout = api.get_ok(&path).await;
        (payout["amount_returned"] == 1_500).then_some(payout)
    })
    .await;
    assert_eq!(partly["status"], "paid", "{partly}");
    assert_eq!(partly["parts"][0]["amount_returned"], 1_500, "{partly}");
    let after = available(api.get_ok(&format!("/v1/payees/{payee}/balance")).await);
    assert_eq!(after, before + 1_500);
    let payee_now = api.get_ok(&format!("/v1/payees/{payee}")).await;
    assert!(payee_now["destination_failure"].is_null(), "not flagged: {payee_now}");
    let id = str_field(&paid, "id");
    let events = api.get_ok(&format!("/v1/events?direction=out&object={id}")).await;
    let kinds: Vec<&str> =
        events["data"].as_array().unwrap().iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds.iter().filter(|kind| **kind == "payout.updated").count(), 1, "{kinds:?}");

    // Days later the rest is reversed at Stripe: the paid payout becomes failed, the $25 left
    // back in the payee's available balance, the destination flagged; a second delivery of
    // the event changes nothing more.
    let mut reversed = transfers[0].clone();
    reversed["reversed"] = json!(true);
    reversed["amount_reversed"] = reversed["amount"].clone();
    for event_id in ["evt_reversed_1", "evt_reversed_1", "evt_reversed_again"] {
        deliver(&engine, event_id, "transfer.reversed", &reversed).await;
    }
    let returned = wait_for("the reversal to apply", Duration::from_secs(20), || async {
        let payout = api.get_ok(&path).await;
        (payout["status"] == "failed").then_some(payout)
    })
    .await;
    assert_eq!(returned["failure_code"], "transfer_reversed", "{returned}");
    assert_eq!(returned["amount_returned"], 4_000);
    assert_eq!(returned["parts"][0]["status"], "returned");
    let after = available(api.get_ok(&format!("/v1/payees/{payee}/balance")).await);
    assert_eq!(after, before + 4_000);
    let flagged = api.get_ok(&format!("/v1/payees/{payee}")).await;
    assert_eq!(flagged["destination_failure"]["code"], "transfer_reversed", "{flagged}");
    let returns =
        api.get_ok(&format!("/v1/balance_transactions?payee={payee}&type=payout_failure")).await;
    let returns = returns["data"].as_array().unwrap();
    let amounts: Vec<&Value> = returns.iter().map(|txn| &txn["amount"]).collect();
    assert_eq!(amounts, [&json!(2_500), &json!(1_500)], "each part back once, newest first");
    engine.stop_graceful().await;
    let said = books_balance(engine.data_dir());
    assert!(said.contains(" 3 payouts,"), "{said}");
}

/// A clawback days after a payout arrived leaves when it arrived alone: the payee lives on a
/// test clock, which has moved on three days when Stripe reports the Transfer reversed in part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clawback_days_later_leaves_the_payouts_arrival_date() {
    let stripe = FakeStripe::start().await;
    let config = Config::default()
        .with_default_gateway("stripe")
        .with_toml(&stripe_section(&stripe.api_base(), 1));
    let engine = Engine::start(config).await;
    let api = engine.api_a();
    let start = 1_767_225_600;
    let clock = api.post("/v1/test_clocks", &json!({"frozen_time": start})).await.id();
    let tutor = json!({"name": "Nomvula Dube", "country": "ZA", "default_currency": "usd",
        "destination": {"type": "stripe", "account": "acct_1Tutor"}, "test_clock": clock,
        "payout_schedule": {"interval": "manual", "delay_days": 0}});
    let payee = api.post("/v1/payees", &tutor).await.id();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    split_charge(&api, &customer, &payee, 6_000).await;
    let ask = json!({"payee": payee, "amount": 4_000, "currency": "usd"});
    let paid = api.post("/v1/payouts", &ask).await.ok().clone();
    assert_eq!((&paid["status"], &paid["arrival_date"]), (&json!("paid"), &json!(start)));

    api.advance_clock(&clock, start + 3 * 86_400).await;
    let mut clawed = stripe.transfers()[0].clone();
    clawed["amount_reversed"] = json!(1_500);
    deliver(&engine, "evt_late_clawback", "transfer.reversed", &clawed).await;
    let path = format!("/v1/payouts/{}", str_field(&paid, "id"));
    let partly = wait_for("the clawback to apply", Duration::from_secs(20), || async {
        let payout = api.get_ok(&path).await;
        (payout["amount_returned"] == 1_500).then_some(payout)
    })
    .await;
    assert_eq!(partly["arrival_date"], start, "{partly}");
    assert_eq!(api.payee_balance(&payee, "usd").await, (2_000 + 1_500, 0));
}

/// Stripe's event `kind` about `object`, signed and delivered.
async fn deliver(engine: &Engine, event_id: &str, kind: &str, object: &Value) {
    deliver_stripe_event(engine, WEBHOOK_SECRET, (event_id, kind), object).await;
}
