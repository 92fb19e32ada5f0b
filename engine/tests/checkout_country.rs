//! A checkout buyer with no address on record (a guest, or a customer made without one) chooses
//! their country on the page, since what they owe in tax depends on it: the session is first
//! taxed where the seller is, a country chosen prices it again (with its promotion code, if
//! any), and the buyer pays what the page showed; the customer keeps the country, so what they
//! are billed later is taxed the same way. Real engine, bundled VAT rule, and (for the first
//! test) a real headless browser.

mod common;

use common::browser::Browser;
use common::checkout::*;
use common::*;

fn pay_path(session: &Value) -> String {
    format!("/checkout/{}/pay", str_field(session, "id"))
}

/// A guest's session for one `sku` at `unit_amount`, taking the promotion code WELCOME20 (20 %
/// off once).
async fn guest_session_taking_welcome20(
    api: &Api,
    engine: &Engine,
    sku: &str,
    unit_amount: i64,
) -> Value {
    let coupon = json!({"id": "WELCOME", "percent_off_bps": 2_000, "duration": "once"});
    api.post("/v1/coupons", &coupon).await.ok();
    api.post("/v1/promotion_codes", &json!({"coupon": "WELCOME", "code": "WELCOME20"})).await.ok();
    session(
        api,
        engine,
        json!({"mode": "payment", "customer_email": "learner@example.com", "currency": "zar",
               "allow_promotion_codes": true,
               "line_items": [{"sku": sku, "quantity": 1, "unit_amount": unit_amount}]}),
    )
    .await
}

async fn customer_of(api: &Api, session: &Value) -> Value {
    api.get_ok(&format!("/v1/customers/{}", str_field(session, "customer"))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_chooses_their_country_and_pays_its_tax() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let created = guest_session_taking_welcome20(&api, &engine, "course-biology", 45_000).await;
    // Taxed where the seller is (the bundled rules' ZA, 15 %) until the buyer says otherwise.
    assert_eq!(created["amount_total"], 51_750, "{created}");
    assert_eq!(created["tax"][0]["jurisdiction"], "ZA", "{created}");

    let mut browser = Browser::launch();
    let tab = browser.tab();
    browser.navigate(&tab, str_field(&created, "url"));
    assert_eq!(browser.eval(&tab, "document.querySelector('#country').value"), json!("ZA"));
    let text = browser.text(&tab);
    assert!(text.contains("Tax is worked out for South Africa"), "{text}");
    let unlabelled = browser.eval(
        &tab,
        "[...document.querySelectorAll('input:not([type=hidden]), select')]\
         .filter(e => !document.querySelector('label[for=\"' + e.id + '\"]')).length",
    );
    assert_eq!(unlabelled, 0, "every field has a label");

    browser.fill(&tab, "#country", "KE");
    browser.click(&tab, "#apply-country");
    browser.wait_until(
        &tab,
        "document.querySelector('#taxed-country').textContent == 'Kenya'",
        PAGE_WAIT,
    );
    let text = browser.text(&tab);
    // Kenya's VAT is 16 %: 450.00 + 72.00.
    for shown in ["VAT 16% (KE)", "ZAR 72.00", "ZAR 522.00"] {
        assert!(text.contains(shown), "the page does not show {shown}:\n{text}");
    }
    assert!(!text.contains("(ZA)"), "{text}");

    // A promotion code prices the session again, still for Kenya: 20 % off 450.00 is 360.00,
    // and 16 % of that 57.60.
    browser.fill(&tab, "#code", "welcome20");
    browser.click(&tab, "#apply-code");
    browser.wait_until(&tab, "document.querySelector('tr.discount')", PAGE_WAIT);
    let text = browser.text(&tab);
    for shown in ["-ZAR 90.00", "VAT 16% (KE)", "ZAR 57.60", "ZAR 417.60"] {
        assert!(text.contains(shown), "the page does not show {shown}:\n{text}");
    }
    assert_eq!(
        customer_of(&api, &created).await["address"],
        Value::Null,
        "nothing is written to the customer before they pay"
    );

    browser.click(&tab, "#pay-card");
    wait_for_location(&mut browser, &tab, &landed(&created));
    let paid = session_now(&api, &created).await;
    assert_eq!(paid["status"], "complete", "{paid}");
    assert_eq!(paid["amount_total"], 41_760, "{paid}");
    let charge = api.get_ok(&format!("/v1/charges/{}", str_field(&paid, "charge"))).await;
    assert_eq!(charge["amount"], 41_760, "the charge takes what the page showed: {charge}");
    let customer = customer_of(&api, &created).await;
    assert_eq!(customer["address"]["country"], "KE", "{customer}");
    let events = api.get_ok("/v1/events?direction=out&type=customer.updated").await;
    let updated = &events["data"][0]["data"]["object"];
    assert_eq!(updated["address"]["country"], "KE", "the platform is told: {events}");
}

#[tokio::test]
async fn a_country_not_on_the_list_or_not_asked_for_changes_nothing() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let page = engine.api_with_authorization(None);
    let guest = session(
        &api,
        &engine,
        json!({"mode": "payment", "customer_email": "learner@example.com", "currency": "zar",
               "line_items": [{"sku": "course-history", "quantity": 1, "unit_amount": 10_000}]}),
    )
    .await;
    for bad in ["method=country&country=XX", "method=country&country=", "method=country"] {
        let answer = page.post_form(&pay_path(&guest), bad).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.text);
        assert!(answer.text.contains("choose your country from the list"), "{}", answer.text);
    }
    let now = session_now(&api, &guest).await;
    assert_eq!(now["amount_total"], 11_500, "unchanged: {now}");
    assert_eq!(now["tax"][0]["jurisdiction"], "ZA", "{now}");
    // A lower-case code is the same country.
    let chosen = page.post_form(&pay_path(&guest), "method=country&country=ng").await;
    assert_eq!(chosen.status, 303, "{}", chosen.text);
    let now = session_now(&api, &guest).await;
    assert_eq!(
        (now["amount_total"].clone(), now["tax"][0]["jurisdiction"].clone()),
        (json!(10_750), json!("NG")),
        "{now}"
    );

    // A fixed amount is not taxed, and a customer with an address has their country: neither
    // page asks for one, nor takes one.
    let fixed = session(
        &api,
        &engine,
        json!({"mode": "payment", "customer_email": "parent@example.com", "currency": "zar",
               "amount": 45_000}),
    )
    .await;
    let known = api.create_customer_with(&json!({"address": {"country": "ZA"}})).await;
    let addressed = session(
        &api,
        &engine,
        json!({"mode": "payment", "customer": known["id"], "currency": "zar",
               "line_items": [{"sku": "course-history", "quantity": 1, "unit_amount": 10_000}]}),
    )
    .await;
    for session in [&fixed, &addressed] {
        let shown = page.get(&format!("/checkout/{}", str_field(session, "id"))).await;
        assert_eq!(shown.status, 200);
        assert!(!shown.text.contains("id=\"country\""), "{}", shown.text);
        let answer = page.post_form(&pay_path(session), "method=country&country=KE").await;
        assert_eq!(answer.status, 400, "{}", answer.text);
        assert!(answer.text.contains("this checkout asks for no country"), "{}", answer.text);
        let now = session_now(&api, session).await;
        assert_eq!(now["amount_total"], session["amount_total"], "{now}");
    }
    let known = api.get_ok(&format!("/v1/customers/{}", str_field(&known, "id"))).await;
    assert_eq!(known["address"]["country"], "ZA", "{known}");
}

#[tokio::test]
async fn a_guest_subscription_is_invoiced_for_the_country_chosen() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let plan = api
        .create_plan(&json!({"name": "Student", "amount": 10_000, "currency": "zar",
                             "interval": "month"}))
        .await;
    let created = session(
        &api,
        &engine,
        json!({"mode": "subscription", "plan": plan["id"], "customer_email": "student@example.com"}),
    )
    .await;
    let page = engine.api_with_authorization(None);
    let shown = page.get(&format!("/checkout/{}", str_field(&created, "id"))).await;
    assert!(shown.text.contains("Tax is worked out for <strong id=\"taxed-country\">South Africa"));
    let chosen = page.post_form(&pay_path(&created), "method=country&country=NG").await;
    assert_eq!(chosen.status, 303, "{}", chosen.text);
    let paid = page.post_form(&pay_path(&created), "method=card&card=pm_card_visa").await;
    assert_eq!(paid.status, 303, "{}", paid.text);

    let paid = session_now(&api, &created).await;
    assert_eq!(paid["status"], "complete", "{paid}");
    let subscription =
        api.get_ok(&format!("/v1/subscriptions/{}", str_field(&paid, "subscription"))).await;
    let invoice =
        api.get_ok(&format!("/v1/invoices/{}", str_field(&subscription, "latest_invoice"))).await;
    // The plan's price includes tax: Nigeria's 7.5 % of 100.00 is 6.98.
    assert_eq!(invoice["total"], 10_000, "{invoice}");
    assert_eq!(invoice["tax"][0]["jurisdiction"], "NG", "{invoice}");
    assert_eq!(invoice["tax"][0]["amount"], 698, "{invoice}");
    assert_eq!(customer_of(&api, &created).await["address"]["country"], "NG");
}

#[tokio::test]
async fn the_page_charges_what_it_showed_when_the_platform_adds_an_address_meanwhile() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let page = engine.api_with_authorization(None);
    let created = guest_session_taking_welcome20(&api, &engine, "course-history", 10_000).await;
    let chosen = page.post_form(&pay_path(&created), "method=country&country=KE").await;
    assert_eq!(chosen.status, 303, "{}", chosen.text);
    let customer = format!("/v1/customers/{}", str_field(&created, "customer"));
    api.post(&customer, &json!({"address": {"country": "ZA", "postal_code": "8001"}})).await.ok();
    // Priced again after that (a promotion code): still for the country the page shows.
    let coded = page.post_form(&pay_path(&created), "method=promotion_code&code=WELCOME20").await;
    assert_eq!(coded.status, 303, "{}", coded.text);
    let shown = page.get(&format!("/checkout/{}", str_field(&created, "id"))).await;
    assert!(shown.text.contains("VAT 16% (KE)"), "{}", shown.text);
    assert!(shown.text.contains("ZAR 92.80"), "80.00 and Kenya's 16 %: {}", shown.text);

    let paid = page.post_form(&pay_path(&created), "method=card&card=pm_card_visa").await;
    assert_eq!(paid.status, 303, "{}", paid.text);
    let paid = session_now(&api, &created).await;
    let charge = api.get_ok(&format!("/v1/charges/{}", str_field(&paid, "charge"))).await;
    assert_eq!(charge["amount"], 9_280, "{charge}");
    let customer = api.get_ok(&customer).await;
    assert_eq!(customer["address"]["country"], "ZA", "the platform's address is kept: {customer}");
    assert_eq!(customer["address"]["postal_code"], "8001", "{customer}");
}
