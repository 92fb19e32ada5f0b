//! Hosted checkout with Stripe as the card gateway: the card is entered on Stripe Checkout,
//! never on Kassa's page, and Stripe's webhook completes what it paid.
//!
//! Proves that a one-time session's card is paid on one Stripe Checkout Session in payment mode
//! (two tabs, one page) for Kassa's own Stripe customer, saving the card off-session, and that
//! its `payment_intent.succeeded`, delivered twice, completes the session with one Stripe charge,
//! Stripe's fee in the books, and the card as the customer's default; that a `send_invoice` invoice's page does the same
//! for the invoice; and that a subscription's session saves the card alone (setup mode) and its
//! `setup_intent.succeeded`, delivered twice, starts one subscription with that card: a trial
//! begins with nothing charged, and without a trial its first invoice is charged through Stripe;
//! and that paying another way first (on the page, or an invoice through the API) expires the
//! open Stripe page, or is refused when the buyer paid there already (as are a void and a
//! session's expiry), so a session or an invoice is never paid on both, and an expired session
//! has no page left that could take money; and that a bank transfer under the family's reference
//! that pays an invoice (money that cannot be refused) closes its Stripe page.
//! How: a fake Stripe (testkit) behind the engine's Stripe adapter, webhooks signed with the
//! engine's secret, the page in Debian's chromium where the buyer sees it.

mod common;

use std::time::Duration;

use common::browser::Browser;
use common::checkout::*;
use common::*;
use kassa_testkit::fake_stripe::{self, FakeStripe};

const STRIPE_WEBHOOK_SECRET: &str = "whsec_test_checkout_0123456789";

/// An engine whose card gateway is a fake Stripe taking signed webhooks.
async fn stripe_engine() -> (FakeStripe, Engine) {
    let stripe = FakeStripe::start().await;
    let toml = format!(
        "[gateways.stripe]\nsecret_key = \"{}\"\napi_base = \"{}\"\nwebhook_secret = \"{STRIPE_WEBHOOK_SECRET}\"\n",
        kassa_testkit::fake_stripe::SECRET_KEY,
        stripe.api_base()
    );
    let engine =
        Engine::start(Config::default().with_default_gateway("stripe").with_toml(&toml)).await;
    (stripe, engine)
}

/// Stripe's event `kind` about `object`, signed and delivered.
async fn deliver(engine: &Engine, event_id: &str, kind: &str, object: &Value) {
    deliver_stripe_event(engine, STRIPE_WEBHOOK_SECRET, (event_id, kind), object).await;
}

/// `customer`'s first invoice of `plan`, paid by hand (`send_invoice`), and its page's token.
async fn invoice_with_page(api: &Api, customer: &str, plan: &str) -> (Value, String) {
    let body = json!({"customer": customer, "plan": plan, "collection_method": "send_invoice"});
    let subscription = api.subscribe(&body).await.ok().clone();
    let invoice = api.invoice(str_field(&subscription, "latest_invoice")).await;
    let token = str_field(&invoice, "hosted_invoice_url").rsplit('/').next().unwrap().to_owned();
    (invoice, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_stripe_a_card_is_paid_on_stripe_checkout_and_its_webhook_completes_the_session() {
    let (stripe, engine) = stripe_engine().await;
    let api = engine.api_a();
    let created = session(
        &api,
        &engine,
        json!({"mode": "payment", "amount": 45_000, "currency": "zar",
               "customer_email": "parent@example.com"}),
    )
    .await;
    assert_eq!(created["payment_method_types"], json!(["card"]), "{created}");
    let id = str_field(&created, "id").to_owned();

    // The page offers a card without any test cards: it is entered at Stripe.
    let mut browser = Browser::launch();
    let tab = browser.tab();
    browser.navigate(&tab, str_field(&created, "url"));
    assert_eq!(browser.eval(&tab, "!!document.querySelector('#pay-card')"), json!(true));
    assert_eq!(browser.eval(&tab, "!document.querySelector('#card')"), json!(true));

    // Two submissions (two tabs) are sent to the one Stripe page.
    let page = engine.api_with_authorization(None);
    let first = page.post_form(&format!("/checkout/{id}/pay"), "method=card").await;
    let second = page.post_form(&format!("/checkout/{id}/pay"), "method=card").await;
    assert_eq!(first.status, 200, "{}", first.text);
    let made = stripe.checkout_sessions();
    assert_eq!(made.len(), 1, "one Stripe Checkout Session: {made:?}");
    let stripe_session = &made[0];
    let stripe_url = str_field(stripe_session, "url");
    assert!(first.text.contains(stripe_url) && second.text.contains(stripe_url), "{}", first.text);
    assert_eq!(stripe_session["mode"], "payment");
    assert_eq!(stripe_session["amount_total"], 45_000);
    assert_eq!(stripe_session["currency"], "zar");
    assert_eq!(stripe_session["client_reference_id"], json!(id));
    assert_eq!(stripe_session["payment_intent_data"]["setup_future_usage"], "off_session");
    assert_eq!(
        stripe_session["payment_intent_data"]["metadata"]["kassa_checkout_session"],
        json!(id)
    );
    assert!(
        str_field(stripe_session, "customer").starts_with("cus_"),
        "Kassa's own Stripe customer"
    );
    assert_eq!(session_now(&api, &created).await["status"], "open", "nothing paid yet");

    // The buyer pays on Stripe's page; its webhook says so, delivered twice.
    let intent = stripe.pay_checkout_session(str_field(stripe_session, "id"), "pm_card_visa");
    for _ in 0..2 {
        deliver(&engine, "evt_checkout_1", "payment_intent.succeeded", &intent).await;
    }
    let paid = wait_for("the session to complete", Duration::from_secs(15), || async {
        let session = session_now(&api, &created).await;
        (session["status"] == "complete").then_some(session)
    })
    .await;
    let charge = api.get_ok(&format!("/v1/charges/{}", str_field(&paid, "charge"))).await;
    assert_eq!(charge["status"], "succeeded", "{charge}");
    assert_eq!(charge["gateway"], "stripe");
    assert_eq!(charge["gateway_reference"], intent["id"]);
    assert_eq!(charge["amount"], 45_000);
    // Stripe's fee, read from the payment's balance transaction, is in the books with it.
    let source = str_field(&charge, "id");
    let posted = api.get_ok(&format!("/v1/balance_transactions?source={source}")).await;
    let [posted] = posted["data"].as_array().unwrap().clone().try_into().unwrap();
    let fee = fake_stripe::fee_of(45_000);
    assert_eq!((i64_field(&posted, "fee"), i64_field(&posted, "net")), (fee, 45_000 - fee));
    let customer = str_field(&paid, "customer");
    assert_eq!(charges_of(&api, customer).await.len(), 1, "the second delivery changed nothing");
    let methods = api.get_ok(&format!("/v1/customers/{customer}/payment_methods")).await;
    assert_eq!(methods["data"][0]["type"], "card", "{methods}");
    assert_eq!(methods["data"][0]["card"]["brand"], "visa", "described by Stripe: {methods}");
    assert_eq!(methods["data"][0]["card"]["last4"], "4242", "{methods}");
    let buyer = api.get_ok(&format!("/v1/customers/{customer}")).await;
    assert_eq!(buyer["default_payment_method"], methods["data"][0]["id"], "saved for renewals");

    // Back from Stripe, the buyer's page sends them on.
    browser.navigate(&tab, str_field(&created, "url"));
    wait_for_location(&mut browser, &tab, &landed(&created));

    // The payment is an ordinary Stripe charge: refunded through Stripe.
    let refund = api.post("/v1/refunds", &json!({"charge": charge["id"], "amount": 5_000})).await;
    assert_eq!(refund.ok()["status"], "succeeded", "{}", refund.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_stripe_an_invoice_page_takes_a_card_on_stripe_checkout() {
    let (stripe, engine) = stripe_engine().await;
    let api = engine.api_a();
    let plan = api.plan(250_000, "zar", "month").await;
    let customer = api.create_customer().await;
    let (invoice, token) = invoice_with_page(&api, &customer, &plan).await;
    let invoice_id = str_field(&invoice, "id").to_owned();
    let page = engine.api_with_authorization(None);
    let shown = page.get(&format!("/invoice/{token}")).await;
    assert!(
        shown.text.contains("id=\"pay-card\"") && !shown.text.contains("id=\"card\""),
        "{} {}",
        shown.status,
        shown.text
    );

    let handed = page.post_form(&format!("/invoice/{token}/pay"), "method=card").await;
    assert_eq!(handed.status, 200, "{}", handed.text);
    let made = stripe.checkout_sessions();
    assert_eq!(made.len(), 1, "{made:?}");
    assert!(handed.text.contains(str_field(&made[0], "url")), "{}", handed.text);
    assert_eq!(made[0]["amount_total"], invoice["amount_due"]);
    assert_eq!(made[0]["payment_intent_data"]["metadata"]["kassa_invoice"], json!(invoice_id));

    let intent = stripe.pay_checkout_session(str_field(&made[0], "id"), "pm_card_visa");
    deliver(&engine, "evt_invoice_1", "payment_intent.succeeded", &intent).await;
    let paid = wait_for("the invoice to be paid", Duration::from_secs(15), || async {
        let invoice = api.get_ok(&format!("/v1/invoices/{invoice_id}")).await;
        (invoice["status"] == "paid").then_some(invoice)
    })
    .await;
    let charge = api.get_ok(&format!("/v1/charges/{}", str_field(&paid, "charge"))).await;
    assert_eq!(charge["gateway_reference"], intent["id"], "{charge}");
    assert_eq!(charge["invoice"], json!(invoice_id));
    assert_eq!(paid["amount_paid"], invoice["amount_due"]);
    let after = page.get(&format!("/invoice/{token}")).await;
    assert!(after.text.contains("is paid"), "{}", after.text);
}

/// A subscription's session with Stripe: the buyer saves a card on Stripe's page (setup mode)
/// and its webhook starts the subscription; `trial_days` 0 charges the first invoice at once.
async fn subscribe_on_stripe(trial_days: u32) -> (FakeStripe, Engine, Value, Value) {
    let (stripe, engine) = stripe_engine().await;
    let api = engine.api_a();
    let plan = api
        .create_plan(&json!({
            "name": "Family", "amount": 20_000, "currency": "zar", "interval": "month",
            "tax_behavior": "inclusive", "trial_days": trial_days,
        }))
        .await;
    let created = session(
        &api,
        &engine,
        json!({"mode": "subscription", "plan": plan["id"], "customer_email": "parent@example.com"}),
    )
    .await;
    assert_eq!(created["payment_method_types"], json!(["card"]), "{created}");
    let id = str_field(&created, "id").to_owned();
    let page = engine.api_with_authorization(None);
    let handed = page.post_form(&format!("/checkout/{id}/pay"), "method=card").await;
    assert_eq!(handed.status, 200, "{}", handed.text);
    let made = stripe.checkout_sessions();
    assert_eq!(made.len(), 1, "{made:?}");
    assert!(handed.text.contains(str_field(&made[0], "url")), "{}", handed.text);
    assert_eq!(made[0]["mode"], "setup", "the card alone: Kassa bills the subscription");
    assert_eq!(made[0]["currency"], "zar");
    assert_eq!(made[0]["setup_intent_data"]["metadata"]["kassa_checkout_session"], json!(id));
    assert_eq!(made[0]["amount_total"], 0, "no price at Stripe: {}", made[0]);

    let intent = stripe.save_card_on_checkout_session(str_field(&made[0], "id"), "pm_card_visa");
    for _ in 0..2 {
        deliver(&engine, "evt_setup_1", "setup_intent.succeeded", &intent).await;
    }
    let complete = wait_for("the session to complete", Duration::from_secs(15), || async {
        let session = session_now(&api, &created).await;
        (session["status"] == "complete").then_some(session)
    })
    .await;
    (stripe, engine, created, complete)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_stripe_a_trial_subscription_saves_the_card_and_charges_nothing() {
    let (stripe, engine, _, complete) = subscribe_on_stripe(14).await;
    let api = engine.api_a();
    let subscription = api.subscription(str_field(&complete, "subscription")).await;
    assert_eq!(subscription["status"], "trialing", "{subscription}");
    let customer = str_field(&complete, "customer");
    let methods = api.get_ok(&format!("/v1/customers/{customer}/payment_methods")).await;
    assert_eq!(methods["data"].as_array().map(Vec::len), Some(1), "{methods}");
    assert_eq!(methods["data"][0]["card"]["last4"], "4242", "described by Stripe: {methods}");
    assert_eq!(subscription["payment_method"], methods["data"][0]["id"], "{subscription}");
    assert!(stripe.intent_creates().is_empty(), "nothing charged during the trial");
    assert_eq!(api.customer_subscriptions(customer).await.len(), 1, "one, for two deliveries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_stripe_a_subscription_without_a_trial_charges_its_first_invoice_with_the_card() {
    let (stripe, engine, _, complete) = subscribe_on_stripe(0).await;
    let api = engine.api_a();
    let subscription = api.subscription(str_field(&complete, "subscription")).await;
    assert_eq!(subscription["status"], "active", "{subscription}");
    let invoice = api.invoice(str_field(&subscription, "latest_invoice")).await;
    assert_eq!(
        (invoice["status"].clone(), invoice["total"].clone()),
        (json!("paid"), json!(20_000))
    );
    let charge = api.get_ok(&format!("/v1/charges/{}", str_field(&invoice, "charge"))).await;
    assert_eq!(
        (charge["gateway"].clone(), charge["amount"].clone()),
        (json!("stripe"), json!(20_000))
    );
    let creates = stripe.intent_creates();
    assert_eq!(creates.len(), 1, "one PaymentIntent, for two deliveries");
    let off_session = creates[0].form.get("off_session").map(String::as_str);
    assert_eq!(off_session, Some("true"), "the buyer is gone: charged off-session");
    let customer = str_field(&complete, "customer");
    assert_eq!(api.customer_subscriptions(customer).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_stripe_paying_another_way_closes_the_card_page_first() {
    let (stripe, engine) = stripe_engine().await;
    let api = engine.api_a();
    set_bank_details(&api).await;
    let page = engine.api_with_authorization(None);
    let body = json!({"mode": "payment", "amount": 45_000, "currency": "zar",
                      "customer_email": "parent@example.com"});

    // The buyer opens Stripe's page, comes back and pays by bank transfer instead: Stripe's
    // page is expired first, so it can take nothing.
    let switched = session(&api, &engine, body.clone()).await;
    let id = str_field(&switched, "id");
    page.post_form(&format!("/checkout/{id}/pay"), "method=card").await;
    let by_bank = page.post_form(&format!("/checkout/{id}/pay"), "method=bank_transfer").await;
    assert_eq!(by_bank.status, 303, "{}", by_bank.text);
    let first_page = stripe.checkout_sessions().remove(0);
    assert_eq!(first_page["status"], "expired", "{first_page}");
    let charges = charges_of(&api, str_field(&switched, "customer")).await;
    assert_eq!(charges.len(), 1, "{charges:?}");
    assert_eq!(charges[0]["status"], "processing", "awaiting the transfer: {charges:?}");

    // The buyer paid on Stripe's page, and before its webhook arrives tries a bank transfer:
    // refused, nothing else charged; the webhook then completes the session with one charge.
    let paid_first = session(&api, &engine, body).await;
    let id = str_field(&paid_first, "id");
    page.post_form(&format!("/checkout/{id}/pay"), "method=card").await;
    let stripe_page = stripe.checkout_sessions().pop().expect("a second page");
    let intent = stripe.pay_checkout_session(str_field(&stripe_page, "id"), "pm_card_visa");
    let refused = page.post_form(&format!("/checkout/{id}/pay"), "method=bank_transfer").await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(refused.text.contains("being confirmed"), "{}", refused.text);
    let customer = str_field(&paid_first, "customer");
    assert!(charges_of(&api, customer).await.is_empty(), "no bank transfer started");
    deliver(&engine, "evt_checkout_2", "payment_intent.succeeded", &intent).await;
    wait_for("the session to complete", Duration::from_secs(15), || async {
        (session_now(&api, &paid_first).await["status"] == "complete").then_some(())
    })
    .await;
    assert_eq!(charges_of(&api, customer).await.len(), 1, "one payment");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_stripe_an_invoice_is_never_paid_on_its_card_page_and_another_way_too() {
    let (stripe, engine) = stripe_engine().await;
    let api = engine.api_a();
    let plan = api.plan(250_000, "zar", "month").await;
    let page = engine.api_with_authorization(None);

    // The parent opens the invoice's card page; the school then charges the saved card through
    // the API: Stripe's page is expired first, and the invoice is paid once.
    let customer = api.create_customer().await;
    api.add_payment_method(&customer, "pm_card_visa").await;
    let (invoice, token) = invoice_with_page(&api, &customer, &plan).await;
    page.post_form(&format!("/invoice/{token}/pay"), "method=card").await;
    let path = format!("/v1/invoices/{}/pay", str_field(&invoice, "id"));
    let paid = api.post(&path, &json!({})).await.ok().clone();
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(stripe.checkout_sessions()[0]["status"], "expired", "closed before the charge");

    // The parent paid on Stripe's page first: a void is refused until its webhook records it.
    let customer = api.create_customer().await;
    let (invoice, token) = invoice_with_page(&api, &customer, &plan).await;
    let id = str_field(&invoice, "id").to_owned();
    page.post_form(&format!("/invoice/{token}/pay"), "method=card").await;
    let stripe_page = stripe.checkout_sessions().pop().expect("its page");
    let intent = stripe.pay_checkout_session(str_field(&stripe_page, "id"), "pm_card_visa");
    let void = api.post(&format!("/v1/invoices/{id}/void"), &json!({})).await;
    assert_error(&void, 400, "invoice_state_invalid");
    assert!(void.text.contains("being confirmed"), "{}", void.text);
    deliver(&engine, "evt_invoice_2", "payment_intent.succeeded", &intent).await;
    let paid = wait_for("the invoice to be paid", Duration::from_secs(15), || async {
        let invoice = api.invoice(&id).await;
        (invoice["status"] == "paid").then_some(invoice)
    })
    .await;
    assert_eq!(paid["amount_paid"], invoice["amount_due"], "{paid}");

    // A credit note lowers what an open invoice is due: its page, open for the old amount, is
    // closed first, and the next page asks for the new one.
    let customer = api.create_customer().await;
    let (invoice, token) = invoice_with_page(&api, &customer, &plan).await;
    page.post_form(&format!("/invoice/{token}/pay"), "method=card").await;
    let note = json!({"invoice": invoice["id"], "amount": 10_000});
    api.post("/v1/credit_notes", &note).await.ok();
    let pages = stripe.checkout_sessions();
    assert_eq!(pages.last().unwrap()["status"], "expired", "the old amount's page closed");
    page.post_form(&format!("/invoice/{token}/pay"), "method=card").await;
    let new_page = stripe.checkout_sessions().pop().expect("a new page");
    assert_eq!(new_page["status"], "open");
    assert_eq!(new_page["amount_total"], i64_field(&invoice, "amount_due") - 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_stripe_expiring_a_session_closes_its_card_page_first() {
    let (stripe, engine) = stripe_engine().await;
    let api = engine.api_a();
    let page = engine.api_with_authorization(None);
    let body = json!({"mode": "payment", "amount": 45_000, "currency": "zar",
                      "customer_email": "parent@example.com"});

    let abandoned = session(&api, &engine, body.clone()).await;
    let id = str_field(&abandoned, "id");
    page.post_form(&format!("/checkout/{id}/pay"), "method=card").await;
    let expired = api.post(&format!("/v1/checkout/sessions/{id}/expire"), &json!({})).await;
    assert_eq!(expired.ok()["status"], "expired", "{}", expired.text);
    assert_eq!(stripe.checkout_sessions()[0]["status"], "expired", "its Stripe page too");

    // Paid on Stripe's page first: the session cannot expire; the webhook completes it.
    let paid = session(&api, &engine, body).await;
    let id = str_field(&paid, "id");
    page.post_form(&format!("/checkout/{id}/pay"), "method=card").await;
    let stripe_page = stripe.checkout_sessions().pop().expect("its page");
    let intent = stripe.pay_checkout_session(str_field(&stripe_page, "id"), "pm_card_visa");
    let refused = api.post(&format!("/v1/checkout/sessions/{id}/expire"), &json!({})).await;
    assert_error(&refused, 400, "checkout_session_payment_under_way");
    deliver(&engine, "evt_checkout_3", "payment_intent.succeeded", &intent).await;
    wait_for("the session to complete", Duration::from_secs(15), || async {
        (session_now(&api, &paid).await["status"] == "complete").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_stripe_a_transfer_that_pays_an_invoice_closes_its_card_page() {
    let (stripe, engine) = stripe_engine().await;
    let api = engine.api_a();
    set_bank_details(&api).await;
    let plan = api.plan(250_000, "zar", "month").await;
    let customer = api.create_customer().await;
    let path = format!("/v1/customers/{customer}/payment_methods");
    api.post(&path, &json!({"type": "bank_transfer"})).await.ok();
    let reference = api.get_ok(&format!("/v1/customers/{customer}")).await;
    let reference = str_field(&reference, "bank_transfer_reference").to_owned();
    let (invoice, token) = invoice_with_page(&api, &customer, &plan).await;
    let page = engine.api_with_authorization(None);
    page.post_form(&format!("/invoice/{token}/pay"), "method=card").await;

    // The parent pays by EFT under the family's reference instead: money that cannot be
    // refused pays the invoice, and its Stripe page is closed so it takes nothing more.
    let due = i64_field(&invoice, "amount_due");
    let csv = format!("2026-12-01,{}.{:02},{reference}\n", due / 100, due % 100);
    let statement =
        api.send_bytes("/v1/bank_statements", "", csv.into_bytes(), "text/csv").await.ok().clone();
    assert_eq!(statement["lines"][0]["outcome"], "settled", "{statement}");
    assert_eq!(api.invoice(str_field(&invoice, "id")).await["status"], "paid");
    assert_eq!(stripe.checkout_sessions()[0]["status"], "expired", "the card page closed");
}
