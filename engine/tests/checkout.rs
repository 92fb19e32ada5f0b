//! Hosted checkout, in a real headless browser (Debian's chromium, driven over the DevTools
//! protocol: see `common/browser.rs`) against the real engine.
//!
//! Proves that a buyer sent to a session's `url` sees what they pay for (lines, discount, tax,
//! total, money per currency), every field labelled, and that the page loads nothing but from
//! the engine and is served under a policy that forbids anything from elsewhere; that a
//! declined test card shows why and lets them try again, and a good one sends them to
//! `success_url` with the session's id, the session `complete` with one charge on the
//! sandbox's ledger; that two tabs paying one session at once charge once; that a subscription
//! with a trial starts trialing with nothing charged; that an M-Pesa payment is followed on the
//! page until Safaricom's callback settles it; that a bank transfer shows the reference and bank
//! details and completes when a statement pays it; that an expired session (on a test clock)
//! shows so and takes nothing; and that bad input is a 400 that makes nothing.

mod common;

use common::browser::Browser;
use common::checkout::*;
use common::*;
use kassa_testkit::fake_daraja::FakeDaraja;

const MPESA_TOKEN: &str = "callback-token-0123456789abcdef";
fn assert_only_from(browser: &Browser, engine: &Engine, also: &[&str]) {
    for url in browser.requested() {
        let own = url.starts_with(engine.base_url()) || also.iter().any(|ok| url.starts_with(ok));
        assert!(own || url == "about:blank", "the page asked for {url} from elsewhere");
    }
}

/// The account's bank details, which bank transfers need.
/// Safaricom's callback that the STK push `checkout_request_id` was paid, `amount_kes` taken.
async fn confirm_mpesa(engine: &Engine, checkout_request_id: &str, amount_kes: i64) {
    let callback = json!({"Body": {"stkCallback": {
        "MerchantRequestID": "29115-34620561-1", "CheckoutRequestID": checkout_request_id,
        "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
        "CallbackMetadata": {"Item": [
            {"Name": "Amount", "Value": amount_kes},
            {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
            {"Name": "TransactionDate", "Value": 20191219102115u64},
            {"Name": "PhoneNumber", "Value": 254712345678u64}]}}}});
    let path = format!("/v1/webhooks/mpesa/{MPESA_TOKEN}");
    engine.api_with_authorization(None).post(&path, &callback).await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_pays_a_priced_session_by_test_card_after_a_decline() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let customer = api.create_customer_with(&json!({"address": {"country": "ZA"}})).await;
    let customer = str_field(&customer, "id").to_owned();
    let created = session(
        &api,
        &engine,
        json!({"mode": "payment", "customer": customer, "currency": "zar",
               "line_items": [{"sku": "course-algebra", "quantity": 2, "unit_amount": 22_500}]}),
    )
    .await;
    // The bundled rules tax South Africa at 15 %: 45 000 + 6 750.
    assert_eq!(created["amount_subtotal"], 45_000, "{created}");
    assert_eq!(created["amount_total"], 51_750, "{created}");
    assert_eq!(created["status"], "open");
    let url = str_field(&created, "url").to_owned();
    assert!(url.starts_with(engine.base_url()), "{url}");
    let id = str_field(&created, "id");
    assert_eq!(id.len(), "cs_".len() + 26, "{id}");

    let page = engine.api_with_authorization(None).get(&format!("/checkout/{id}")).await;
    assert_eq!(page.status, 200);
    let policy = page.header("content-security-policy").expect("a policy");
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    assert!(policy.contains("connect-src 'self'") && policy.contains("img-src 'none'"), "{policy}");

    let mut browser = Browser::launch();
    let tab = browser.tab();
    browser.navigate(&tab, &url);
    let text = browser.text(&tab);
    for shown in ["course-algebra × 2", "ZAR 450.00", "VAT 15% (ZA)", "ZAR 67.50", "ZAR 517.50"] {
        assert!(text.contains(shown), "the page does not show {shown}:\n{text}");
    }
    let unlabelled = browser.eval(
        &tab,
        "[...document.querySelectorAll('input:not([type=hidden]), select')]\
         .filter(e => !document.querySelector('label[for=\"' + e.id + '\"]')).length",
    );
    assert_eq!(unlabelled, 0, "every field has a label");

    browser.fill(&tab, "#card", "pm_card_chargeDeclined");
    browser.click(&tab, "#pay-card");
    browser.wait_until(&tab, "document.querySelector('.error')", PAGE_WAIT);
    assert!(browser.text(&tab).contains("Your card was declined."), "{}", browser.text(&tab));
    assert_eq!(session_now(&api, &created).await["status"], "open");
    // The same card again: declined again, and kept once among the customer's methods.
    let again = engine
        .api_with_authorization(None)
        .post_form(&format!("/checkout/{id}/pay"), "method=card&card=pm_card_chargeDeclined")
        .await;
    assert_eq!(again.status, 303, "{}", again.text);

    browser.fill(&tab, "#card", "pm_card_visa");
    browser.click(&tab, "#pay-card");
    wait_for_location(&mut browser, &tab, &landed(&created));

    let paid = session_now(&api, &created).await;
    assert_eq!(paid["status"], "complete", "{paid}");
    let charge = api.get_ok(&format!("/v1/charges/{}", str_field(&paid, "charge"))).await;
    assert_eq!(charge["status"], "succeeded", "{charge}");
    assert_eq!(charge["amount"], 51_750, "{charge}");
    assert_eq!(charge["checkout_session"], created["id"], "{charge}");
    let events = api.get_ok("/v1/events?direction=out&type=checkout.session.completed").await;
    let announced = &events["data"][0]["data"]["object"];
    assert_eq!(announced["id"], created["id"], "{events}");
    assert_eq!(announced["status"], "complete", "the event shows the session paid: {events}");
    let succeeded: Vec<Value> = charges_of(&api, &customer)
        .await
        .into_iter()
        .filter(|c| c["status"] == "succeeded")
        .collect();
    assert_eq!(succeeded.len(), 1, "{succeeded:?}");
    let ledger = api.ledger().await;
    assert_eq!(ledger_of_kind(&ledger, "charge").len(), 1, "{ledger:?}");
    let methods = api.get_ok(&format!("/v1/customers/{customer}/payment_methods")).await;
    assert_eq!(methods["data"].as_array().map(Vec::len), Some(2), "{methods}");

    // Paid: the page sends the buyer on, and a further submission charges nothing.
    let again = engine
        .api_with_authorization(None)
        .post_form(&format!("/checkout/{id}/pay"), "method=card&card=pm_card_visa")
        .await;
    assert_eq!(again.status, 303, "{}", again.text);
    assert_eq!(ledger_of_kind(&api.ledger().await, "charge").len(), 1);
    assert_only_from(&browser, &engine, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_paying_one_session_charge_once() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let created = session(
        &api,
        &engine,
        json!({"mode": "payment", "customer_email": "parent@example.com",
               "amount": 120_000, "currency": "zar"}),
    )
    .await;
    let url = str_field(&created, "url").to_owned();
    let mut browser = Browser::launch();
    let (first, second) = (browser.tab(), browser.tab());
    browser.navigate(&first, &url);
    browser.navigate(&second, &url);
    // Both forms are submitted before either answer is read.
    browser.click(&first, "#pay-card");
    browser.click(&second, "#pay-card");
    wait_for_location(&mut browser, &first, &landed(&created));
    wait_for_location(&mut browser, &second, &landed(&created));

    let paid = session_now(&api, &created).await;
    assert_eq!(paid["status"], "complete", "{paid}");
    let charges = charges_of(&api, str_field(&paid, "customer")).await;
    assert_eq!(charges.len(), 1, "one charge for one session: {charges:?}");
    assert_eq!(ledger_of_kind(&api.ledger().await, "charge").len(), 1);
    let customer = api.get_ok(&format!("/v1/customers/{}", str_field(&paid, "customer"))).await;
    assert_eq!(customer["email"], "parent@example.com", "{customer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_with_a_trial_starts_trialing_and_charges_nothing() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let plan = api
        .create_plan(&json!({"name": "Family", "amount": 19_900, "currency": "zar",
                             "interval": "month", "trial_days": 14}))
        .await;
    let created = session(
        &api,
        &engine,
        json!({"mode": "subscription", "plan": plan["id"], "quantity": 2,
               "customer_email": "family@example.com"}),
    )
    .await;
    assert_eq!(created["amount_subtotal"], 39_800, "{created}");
    assert_eq!(created["amount_total"], 0, "{created}");
    let mut browser = Browser::launch();
    let tab = browser.tab();
    browser.navigate(&tab, str_field(&created, "url"));
    let text = browser.text(&tab);
    assert!(text.contains("Family × 2") && text.contains("14-day free trial"), "{text}");
    browser.click(&tab, "#pay-card");
    wait_for_location(&mut browser, &tab, &landed(&created));

    let paid = session_now(&api, &created).await;
    assert_eq!(paid["status"], "complete", "{paid}");
    let subscription =
        api.get_ok(&format!("/v1/subscriptions/{}", str_field(&paid, "subscription"))).await;
    assert_eq!(subscription["status"], "trialing", "{subscription}");
    assert_eq!(subscription["quantity"], 2);
    assert!(subscription["payment_method"].is_string(), "renewals charge the card: {subscription}");
    assert!(api.ledger().await.is_empty(), "a trial charges nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mpesa_payment_is_followed_until_the_callback_settles_it() {
    let daraja = FakeDaraja::start().await;
    let engine = Engine::start(Config::default().with_toml(&daraja.engine_toml(MPESA_TOKEN))).await;
    let api = engine.api_a();
    let created = session(
        &api,
        &engine,
        json!({"mode": "payment", "amount": 150_000, "currency": "kes",
               "payment_method_types": ["mpesa"]}),
    )
    .await;
    let mut browser = Browser::launch();
    let tab = browser.tab();
    browser.navigate(&tab, str_field(&created, "url"));
    assert!(browser.text(&tab).contains("KES 1,500.00"), "{}", browser.text(&tab));
    browser.fill(&tab, "#phone", "0712 345 678");
    browser.click(&tab, "#pay-mpesa");
    browser.wait_until(&tab, "document.getElementById('follow')", PAGE_WAIT);
    assert!(browser.text(&tab).contains("Check your phone"), "{}", browser.text(&tab));

    let pushes = daraja.checkout_request_ids();
    assert_eq!(pushes.len(), 1, "one STK push: {pushes:?}");
    confirm_mpesa(&engine, &pushes[0], 1500).await;
    // The page's script (or its refresh) moves on by itself.
    wait_for_location(&mut browser, &tab, &landed(&created));
    let paid = session_now(&api, &created).await;
    assert_eq!(paid["status"], "complete", "{paid}");
    assert_only_from(&browser, &engine, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bank_transfer_completes_the_session_when_a_statement_pays_it() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    set_bank_details(&api).await;
    let created =
        session(&api, &engine, json!({"mode": "payment", "amount": 350_000, "currency": "zar"}))
            .await;
    assert_eq!(created["payment_method_types"], json!(["card", "bank_transfer"]), "{created}");
    let mut browser = Browser::launch();
    let tab = browser.tab();
    browser.navigate(&tab, str_field(&created, "url"));
    browser.click(&tab, "#pay-bank-transfer");
    browser.wait_until(&tab, "document.querySelector('.bank-transfer-details')", PAGE_WAIT);
    let text = browser.text(&tab);
    for shown in ["ZAR 3,500.00", "First National Bank", "62000000001", "250655"] {
        assert!(text.contains(shown), "the page does not show {shown}:\n{text}");
    }
    let pending = session_now(&api, &created).await;
    let charge = api.get_ok(&format!("/v1/charges/{}", str_field(&pending, "charge"))).await;
    let reference = str_field(&charge["bank_transfer"], "reference").to_owned();
    assert!(text.contains(&reference), "the page shows the reference {reference}:\n{text}");
    // A second submission while the transfer is awaited makes no second charge.
    let again = engine
        .api_with_authorization(None)
        .post_form(&format!("/checkout/{}/pay", str_field(&created, "id")), "method=bank_transfer")
        .await;
    assert_eq!(again.status, 303, "{}", again.text);
    assert_eq!(charges_of(&api, str_field(&created, "customer")).await.len(), 1);

    let csv = format!("date,amount,reference\n2026-12-05,3500.00,EFT {reference} SMITH\n");
    let statement = api.send_bytes("/v1/bank_statements", "", csv.into_bytes(), "text/csv").await;
    assert_eq!(statement.ok()["lines"][0]["outcome"], "settled", "{}", statement.text);
    browser.navigate(&tab, str_field(&created, "url"));
    wait_for_location(&mut browser, &tab, &landed(&created));
    assert_eq!(session_now(&api, &created).await["status"], "complete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_shows_so_and_takes_nothing() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let start = utc(2026, 3, 1, 9, 0, 0);
    let clock = api.create_clock(start).await;
    let customer = api.create_customer_with(&json!({"test_clock": clock})).await;
    let created = session(
        &api,
        &engine,
        json!({"mode": "payment", "customer": customer["id"], "amount": 9_900,
               "currency": "usd", "expires_at": start + 3600}),
    )
    .await;
    assert_eq!(created["expires_at"], start + 3600);
    api.advance_clock(&clock, start + 3600).await;
    let expired = session_now(&api, &created).await;
    assert_eq!(expired["status"], "expired", "{expired}");

    let mut browser = Browser::launch();
    let tab = browser.tab();
    browser.navigate(&tab, str_field(&created, "url"));
    assert!(browser.text(&tab).contains("This checkout has expired. Nothing was charged."));
    let id = str_field(&created, "id");
    let paid = engine
        .api_with_authorization(None)
        .post_form(&format!("/checkout/{id}/pay"), "method=card&card=pm_card_visa")
        .await;
    assert_eq!(paid.status, 410, "{}", paid.text);
    assert!(charges_of(&api, str_field(&created, "customer")).await.is_empty());
    assert!(api.ledger().await.is_empty());
    let events = api.get_ok("/v1/events?direction=out&type=checkout.session.expired").await;
    assert_eq!(events["data"].as_array().map(Vec::len), Some(1), "{events}");
}

#[tokio::test]
async fn bad_sessions_are_refused_and_make_nothing() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let plan = api.plan(19_900, "zar", "month").await;
    let base = json!({"success_url": "https://school.example/paid",
                      "cancel_url": "https://school.example/cart",
                      "customer_email": "someone@example.com"});
    let with = |fields: Value| {
        let mut body = base.clone();
        for (key, value) in fields.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    let refusals = [
        (
            with(json!({"mode": "payment", "amount": 100, "currency": "zar",
                     "payment_method_types": ["mpesa"]})),
            "payment_method_types",
        ),
        (
            with(json!({"mode": "subscription", "plan": plan,
                     "payment_method_types": ["bank_transfer"]})),
            "payment_method_types",
        ),
        (with(json!({"mode": "payment", "amount": -5, "currency": "zar"})), "amount"),
        (with(json!({"mode": "payment", "amount": 100, "currency": "zzz"})), "currency"),
        (
            with(json!({"mode": "payment", "amount": 100, "currency": "zar",
                     "line_items": [{"sku": "a", "quantity": 1, "unit_amount": 100}]})),
            "amount",
        ),
        (
            with(json!({"mode": "payment", "amount": 100, "currency": "zar",
                     "success_url": "javascript:alert(1)"})),
            "success_url",
        ),
        (
            with(json!({"mode": "payment", "amount": 100, "currency": "zar",
                     "expires_at": 4_000_000_000i64})),
            "expires_at",
        ),
        (
            with(json!({"mode": "payment", "currency": "zar",
                     "line_items": [{"sku": "a", "quantity": 1, "unit_amount": 100}],
                     "coupon": "NO_SUCH_COUPON"})),
            "coupon",
        ),
        (with(json!({"mode": "rent", "amount": 100, "currency": "zar"})), "mode"),
    ];
    for (body, param) in refusals {
        let refused = api.post("/v1/checkout/sessions", &body).await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.text);
        assert_eq!(refused.body["error"]["param"], param, "{body}: {}", refused.text);
    }
    // A page's form with what no page sends: a card number, an unknown way, an unread body.
    let open = session(
        &api,
        &engine,
        json!({"mode": "payment", "amount": 5_000, "currency": "zar", "customer_email": "a@example.com"}),
    )
    .await;
    let pay = format!("/checkout/{}/pay", str_field(&open, "id"));
    let page = engine.api_with_authorization(None);
    for form in ["method=card&card=4242424242424242", "method=cash", "method=%ZZ", ""] {
        let refused = page.post_form(&pay, form).await;
        assert_eq!(refused.status, 400, "{form}: {}", refused.text);
        assert!(!refused.text.contains("4242424242424242"), "the number is never echoed");
    }
    let buyer = str_field(&open, "customer");
    let methods = api.get_ok(&format!("/v1/customers/{buyer}/payment_methods")).await;
    assert_eq!(methods["data"].as_array().map(Vec::len), Some(0), "{methods}");
    assert!(charges_of(&api, buyer).await.is_empty());
    assert_eq!(session_now(&api, &open).await["status"], "open");

    let none =
        engine.api_with_authorization(None).get("/checkout/cs_00000000000000000000000000").await;
    assert_eq!(none.status, 404);
    let customers = api.get_ok("/v1/customers").await;
    assert_eq!(
        customers["data"].as_array().map(Vec::len),
        Some(1),
        "the refused sessions made nothing; the open one made its buyer: {customers}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_invoice_invoice_is_paid_on_the_page_its_event_links() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let plan = api.plan(250_000, "zar", "month").await;
    let customer = api.create_customer().await;
    let subscription = api
        .post(
            "/v1/subscriptions",
            &json!({"customer": customer, "plan": plan, "collection_method": "send_invoice",
                    "days_until_due": 30}),
        )
        .await
        .ok()
        .clone();
    let invoice_id = str_field(&subscription, "latest_invoice").to_owned();
    let invoice = api.get_ok(&format!("/v1/invoices/{invoice_id}")).await;
    assert_eq!(invoice["status"], "open", "{invoice}");
    let url = str_field(&invoice, "hosted_invoice_url").to_owned();
    assert!(url.starts_with(&format!("{}/invoice/", engine.base_url())), "{url}");
    let token = url.rsplit('/').next().unwrap().to_owned();
    assert_eq!(token.len(), 26, "128 random bits: {token}");
    let events = api.get_ok("/v1/events?direction=out&type=invoice.finalized").await;
    let linked = events["data"][0]["data"]["object"]["hosted_invoice_url"].clone();
    assert_eq!(linked, json!(url), "the finalized event links the page: {events}");

    let mut browser = Browser::launch();
    let tab = browser.tab();
    browser.navigate(&tab, &url);
    let text = browser.text(&tab);
    let number = str_field(&invoice, "number");
    for shown in [number, "ZAR 2,500.00", "Amount due"] {
        assert!(text.contains(shown), "the page does not show {shown}:\n{text}");
    }
    browser.fill(&tab, "#card", "pm_card_chargeDeclinedInsufficientFunds");
    browser.click(&tab, "#pay-card");
    browser.wait_until(&tab, "document.querySelector('.error')", PAGE_WAIT);
    assert!(browser.text(&tab).contains("insufficient funds"), "{}", browser.text(&tab));
    browser.fill(&tab, "#card", "pm_card_visa");
    browser.click(&tab, "#pay-card");
    browser.wait_until(&tab, "document.body.innerText.includes('is paid')", PAGE_WAIT);

    let paid = api.get_ok(&format!("/v1/invoices/{invoice_id}")).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(ledger_of_kind(&api.ledger().await, "charge").len(), 1);
    let again = engine
        .api_with_authorization(None)
        .post_form(&format!("/invoice/{token}/pay"), "method=card&card=pm_card_visa")
        .await;
    assert_eq!(again.status, 200, "a paid invoice's page says so: {}", again.text);
    assert_eq!(ledger_of_kind(&api.ledger().await, "charge").len(), 1, "paid once");
    let unknown =
        engine.api_with_authorization(None).get("/invoice/00000000000000000000000000").await;
    assert_eq!(unknown.status, 404);
    assert_only_from(&browser, &engine, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_code_typed_on_the_page_discounts_the_charge() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let coupon = api
        .post(
            "/v1/coupons",
            &json!({"id": "WELCOME", "percent_off_bps": 2_000, "duration": "once"}),
        )
        .await
        .ok()
        .clone();
    api.post("/v1/promotion_codes", &json!({"coupon": coupon["id"], "code": "WELCOME20"}))
        .await
        .ok();
    let customer = api.create_customer_with(&json!({"address": {"country": "ZA"}})).await;
    let created = session(
        &api,
        &engine,
        json!({"mode": "payment", "customer": customer["id"], "currency": "zar",
               "allow_promotion_codes": true,
               "line_items": [{"sku": "course-physics", "quantity": 1, "unit_amount": 10_000}]}),
    )
    .await;
    let mut browser = Browser::launch();
    let tab = browser.tab();
    browser.navigate(&tab, str_field(&created, "url"));
    browser.fill(&tab, "#code", "NOPE");
    browser.click(&tab, "#apply-code");
    browser.wait_until(&tab, "document.querySelector('.error')", PAGE_WAIT);
    browser.fill(&tab, "#code", "welcome20");
    browser.click(&tab, "#apply-code");
    browser.wait_until(&tab, "document.querySelector('tr.discount')", PAGE_WAIT);
    let text = browser.text(&tab);
    // 20 % off 100.00, then 15 % VAT on the 80.00 left.
    for shown in ["-ZAR 20.00", "ZAR 12.00", "ZAR 92.00"] {
        assert!(text.contains(shown), "the page does not show {shown}:\n{text}");
    }
    assert!(browser.eval(&tab, "!document.querySelector('#code')") == json!(true));
    browser.click(&tab, "#pay-card");
    wait_for_location(&mut browser, &tab, &landed(&created));

    let paid = session_now(&api, &created).await;
    assert_eq!(paid["amount_total"], 9_200, "{paid}");
    assert_eq!(paid["coupon"], "WELCOME", "{paid}");
    let charge = api.get_ok(&format!("/v1/charges/{}", str_field(&paid, "charge"))).await;
    assert_eq!(charge["amount"], 9_200, "{charge}");
    let coupon = api.get_ok("/v1/coupons/WELCOME").await;
    assert_eq!(coupon["times_redeemed"], 1, "{coupon}");
}

#[tokio::test]
async fn a_session_holds_its_promotion_code_until_it_expires_or_is_paid() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    api.post(
        "/v1/coupons",
        &json!({"id": "LASTSEAT", "percent_off_bps": 5_000, "duration": "once"}),
    )
    .await
    .ok();
    let code = json!({"coupon": "LASTSEAT", "code": "LASTSEAT50", "max_redemptions": 1});
    api.post("/v1/promotion_codes", &code).await.ok();
    let customer = api.create_customer_with(&json!({"address": {"country": "ZA"}})).await;
    let body = json!({"mode": "payment", "customer": customer["id"], "currency": "zar",
                      "promotion_code": "lastseat50",
                      "line_items": [{"sku": "course-chemistry", "quantity": 1, "unit_amount": 20_000}]});
    let first = session(&api, &engine, body.clone()).await;
    assert_eq!(first["promotion_code"].as_str().map(|id| id.starts_with("promo_")), Some(true));

    // The first session holds the code's only redemption.
    let mut second = body.clone();
    second["success_url"] = json!("https://school.example/paid");
    second["cancel_url"] = json!("https://school.example/cart");
    let refused = api.post("/v1/checkout/sessions", &second).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.error_code(), Some("promotion_code_invalid"), "{}", refused.text);

    // Expired, it lets the code go; the next session takes it and its payment counts it.
    let expire = format!("/v1/checkout/sessions/{}/expire", str_field(&first, "id"));
    assert_eq!(api.post(&expire, &json!({})).await.ok()["status"], "expired");
    let next = session(&api, &engine, body).await;
    let id = str_field(&next, "id");
    let paid = engine
        .api_with_authorization(None)
        .post_form(&format!("/checkout/{id}/pay"), "method=card&card=pm_card_visa")
        .await;
    assert_eq!(paid.status, 303, "{}", paid.text);
    assert_eq!(session_now(&api, &next).await["status"], "complete");
    let code = api.get_ok("/v1/promotion_codes?code=LASTSEAT50").await;
    assert_eq!(code["data"][0]["times_redeemed"], 1, "{code}");
    assert_eq!(api.get_ok("/v1/coupons/LASTSEAT").await["times_redeemed"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_bought_by_mpesa_completes_when_its_first_invoice_is_paid() {
    let daraja = FakeDaraja::start().await;
    let engine = Engine::start(Config::default().with_toml(&daraja.engine_toml(MPESA_TOKEN))).await;
    let api = engine.api_a();
    let plan = api.plan(100_000, "kes", "month").await;
    let created = session(
        &api,
        &engine,
        json!({"mode": "subscription", "plan": plan, "payment_method_types": ["mpesa"]}),
    )
    .await;
    let mut browser = Browser::launch();
    let tab = browser.tab();
    browser.navigate(&tab, str_field(&created, "url"));
    browser.fill(&tab, "#phone", "0712 345 678");
    browser.click(&tab, "#pay-mpesa");
    browser.wait_until(&tab, "document.getElementById('follow')", PAGE_WAIT);
    let pending = session_now(&api, &created).await;
    assert_eq!(pending["status"], "open", "{pending}");
    let subscription = str_field(&pending, "subscription").to_owned();
    let started = api.get_ok(&format!("/v1/subscriptions/{subscription}")).await;
    let invoice =
        api.get_ok(&format!("/v1/invoices/{}", str_field(&started, "latest_invoice"))).await;
    assert_eq!(invoice["status"], "open", "{invoice}");
    assert_eq!(invoice["payment_pending"], true, "the prompt pays the first invoice: {invoice}");

    // The page now shows the first invoice, tax and all: what the prompt asks for.
    let due = invoice["amount_due"].as_i64().unwrap();
    let shown = format!("KES {},{:03}.00", due / 100_000, due / 100 % 1_000);
    assert!(browser.text(&tab).contains(&shown), "{shown}: {}", browser.text(&tab));
    let pushes = daraja.checkout_request_ids();
    assert_eq!(pushes.len(), 1, "one STK push: {pushes:?}");
    confirm_mpesa(&engine, &pushes[0], due / 100).await;
    wait_for_location(&mut browser, &tab, &landed(&created));
    assert_eq!(session_now(&api, &created).await["status"], "complete");
    let active = api.get_ok(&format!("/v1/subscriptions/{subscription}")).await;
    assert_eq!(active["status"], "active", "{active}");
    let paid = api.get_ok(&format!("/v1/invoices/{}", str_field(&invoice, "id"))).await;
    assert_eq!(paid["status"], "paid", "{paid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_bought_by_bank_transfer_completes_when_the_statement_pays_it() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    set_bank_details(&api).await;
    let plan = api.plan(95_000, "zar", "month").await;
    let created = session(
        &api,
        &engine,
        json!({"mode": "subscription", "plan": plan, "customer_email": "school@example.com"}),
    )
    .await;
    assert_eq!(created["payment_method_types"], json!(["card", "bank_transfer"]), "{created}");
    let mut browser = Browser::launch();
    let tab = browser.tab();
    browser.navigate(&tab, str_field(&created, "url"));
    browser.click(&tab, "#pay-bank-transfer");
    browser.wait_until(&tab, "document.querySelector('.bank-transfer-details')", PAGE_WAIT);
    let pending = session_now(&api, &created).await;
    let subscription =
        api.get_ok(&format!("/v1/subscriptions/{}", str_field(&pending, "subscription"))).await;
    let invoice =
        api.get_ok(&format!("/v1/invoices/{}", str_field(&subscription, "latest_invoice"))).await;
    let charge = api.get_ok(&format!("/v1/charges/{}", str_field(&invoice, "charge"))).await;
    let reference = str_field(&charge["bank_transfer"], "reference").to_owned();
    assert!(browser.text(&tab).contains(&reference), "{}", browser.text(&tab));
    // While the transfer is awaited the session does not expire under it.
    let expire = format!("/v1/checkout/sessions/{}/expire", str_field(&created, "id"));
    let refused = api.post(&expire, &json!({})).await;
    assert_eq!(
        refused.error_code(),
        Some("checkout_session_payment_under_way"),
        "{}",
        refused.text
    );

    let amount = invoice["amount_due"].as_i64().unwrap();
    let csv = format!(
        "date,amount,reference\n2026-12-05,{}.{:02},{reference}\n",
        amount / 100,
        amount % 100
    );
    let statement = api.send_bytes("/v1/bank_statements", "", csv.into_bytes(), "text/csv").await;
    assert_eq!(statement.ok()["lines"][0]["outcome"], "settled", "{}", statement.text);
    browser.navigate(&tab, str_field(&created, "url"));
    wait_for_location(&mut browser, &tab, &landed(&created));
    assert_eq!(session_now(&api, &created).await["status"], "complete");
    let paid = api.get_ok(&format!("/v1/subscriptions/{}", str_field(&subscription, "id"))).await;
    assert_eq!(paid["status"], "active", "{paid}");
}

#[tokio::test]
async fn a_session_takes_ten_tries_and_then_refuses_more() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let created = session(
        &api,
        &engine,
        json!({"mode": "payment", "amount": 2_500, "currency": "usd", "customer_email": "t@example.com"}),
    )
    .await;
    let pay = format!("/checkout/{}/pay", str_field(&created, "id"));
    let page = engine.api_with_authorization(None);
    for _ in 0..10 {
        let declined = page.post_form(&pay, "method=card&card=pm_card_chargeDeclined").await;
        assert_eq!(declined.status, 303, "{}", declined.text);
    }
    let refused = page.post_form(&pay, "method=card&card=pm_card_visa").await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(refused.text.contains("ask the seller for a new link"), "{}", refused.text);
    let charges = charges_of(&api, str_field(&created, "customer")).await;
    assert_eq!(charges.len(), 10, "ten tries, ten declined charges, no eleventh");
    assert!(charges.iter().all(|charge| charge["status"] == "failed"), "{charges:?}");
    assert_eq!(session_now(&api, &created).await["status"], "open");
}
