//! Invoices: what a school's bursar files and a platform reconciles.
//!
//! Proves that an invoice reads back alone and in each list it belongs to, with the documented
//! fields; that invoice numbers run `{prefix}-0001`, `-0002`, … per customer with no gap and no
//! reuse across subscriptions made concurrently, a voided invoice (which keeps its number), a
//! graceful restart, a `kill -9` and a burst of renewals, and that another customer counts on its
//! own; that pay, void and mark-uncollectible work only from the states the contract allows (400
//! `invoice_state_invalid` otherwise, the invoice unchanged) and an uncollectible invoice can
//! still be paid; that a free plan makes paid invoices with no charge, even with no payment
//! method; that the charge paying an invoice names it, is in the customer's history and the
//! `invoice=` filter, and is the processor's only charge for it; that VAT-inclusive plans (ZA
//! 15 %, KE 16 %) total their price with the tax extracted half-up and VAT-exclusive ones add
//! it, to the cent on the invoice and at the processor, also on proration lines whose preview
//! matches the invoice; and that another account can neither read, pay nor void an invoice.
//! How: a fresh engine per test (see `common`); customers live on test clocks, renewals run by
//! advancing them; open invoices come from declined first payments (`pm_card_chargeDeclined`).

mod common;

use common::*;

fn mar_1() -> i64 {
    utc(2024, 3, 1, 0, 0, 0)
}

fn apr_1() -> i64 {
    utc(2024, 4, 1, 0, 0, 0)
}

fn may_1() -> i64 {
    utc(2024, 5, 1, 0, 0, 0)
}

fn invoice_number(prefix: &str, n: usize) -> String {
    format!("{prefix}-{n:04}")
}

async fn invoice_prefix(api: &Api, customer: &str) -> String {
    let customer = api.get_ok(&format!("/v1/customers/{customer}")).await;
    let prefix = str_field(&customer, "invoice_prefix").to_string();
    assert!(
        prefix.len() == 8
            && prefix.bytes().all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit()),
        "the invoice prefix is 8 upper-case letters or digits: {customer}"
    );
    prefix
}

/// Subscribes `customer` to `plan` paying with `payment_method`, which declines; returns the
/// id of the open invoice the declined first payment leaves.
async fn declined_invoice(api: &Api, customer: &str, plan: &str, payment_method: &str) -> String {
    let body = json!({"customer": customer, "plan": plan, "payment_method": payment_method});
    let declined = api.subscribe(&body).await;
    assert_error(&declined, 402, "card_declined");
    let subscription = api.subscription(str_field(&declined.body["error"], "subscription")).await;
    let invoice = api.invoice(str_field(&subscription, "latest_invoice")).await;
    assert_eq!(invoice["status"], "open", "{invoice}");
    str_field(&invoice, "id").to_string()
}

/// A customer on `clock` whose default card declines, and the id of a good card it also has.
async fn customer_with_a_declining_default(api: &Api, clock: &str) -> (String, String, String) {
    let customer = api.clock_customer_with_card(clock, "US", "pm_card_chargeDeclined").await;
    let methods = api.payment_methods(&customer).await;
    let declining = str_field(&methods[0], "id").to_string();
    let good = api.add_payment_method(&customer, "pm_card_visa").await;
    (customer, declining, str_field(&good, "id").to_string())
}

#[tokio::test]
async fn an_invoice_reads_back_alone_and_in_each_list_it_belongs_to() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let clock = api.create_clock(mar_1()).await;
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let plan = api.plan(1_000, "usd", "month").await;
    let subscription = api.subscribe_ok(&customer, &plan).await;
    let subscription_id = str_field(&subscription, "id");
    let prefix = invoice_prefix(&api, &customer).await;

    let invoice = api.invoice(str_field(&subscription, "latest_invoice")).await;
    assert!(str_field(&invoice, "id").starts_with("in_"), "{invoice}");
    assert_eq!(invoice["object"], "invoice");
    assert_eq!(invoice["number"], invoice_number(&prefix, 1));
    assert_eq!(invoice["customer"], customer.as_str());
    assert_eq!(invoice["subscription"], subscription_id);
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["currency"], "usd");
    assert_eq!(period_of(&invoice), (mar_1(), apr_1()));
    let lines = invoice["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 1, "{invoice}");
    assert!(lines[0]["id"].is_string() && lines[0]["description"].is_string(), "{invoice}");
    assert_eq!(
        line_summaries(&invoice),
        [expected_line(&plan, 1, 1_000, (mar_1(), apr_1()), false)]
    );
    for (field, value) in [
        ("subtotal", json!(1_000)),
        ("discounts", json!([])),
        ("tax", json!([])),
        ("total", json!(1_000)),
        ("balance_applied", json!(0)),
        ("amount_due", json!(1_000)),
        ("amount_paid", json!(1_000)),
        ("attempt_count", json!(1)),
        ("next_payment_attempt", Value::Null),
        ("voided_at", Value::Null),
    ] {
        assert_eq!(invoice[field], value, "`{field}` of {invoice}");
    }
    assert!(invoice["charge"].is_string(), "the charge that paid it: {invoice}");
    for field in ["created", "finalized_at", "paid_at"] {
        assert!(invoice[field].is_i64(), "`{field}` of {invoice}");
    }
    for rule in ["pricing", "tax"] {
        assert!(invoice["rules"][rule].is_object(), "the {rule} rule that made it: {invoice}");
    }

    for list in [
        format!("/v1/invoices?customer={customer}"),
        format!("/v1/invoices?subscription={subscription_id}"),
        format!("/v1/invoices?customer={customer}&status=paid"),
        "/v1/invoices".to_string(),
    ] {
        assert_eq!(api.list_all(&list, "id").await, std::slice::from_ref(&invoice), "GET {list}");
    }
    let open = api.list_all(&format!("/v1/invoices?customer={customer}&status=open"), "id").await;
    assert!(open.is_empty(), "{open:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoice_numbers_have_no_gap_and_no_reuse_across_concurrency_a_void_and_restarts() {
    const CONCURRENT: usize = 8;
    let mut engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let clock = api.create_clock(mar_1()).await;
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let declining = api.add_payment_method(&customer, "pm_card_chargeDeclined").await;
    let declining = str_field(&declining, "id").to_string();
    let plan = api.plan(1_000, "usd", "month").await;
    let prefix = invoice_prefix(&api, &customer).await;

    // Eight subscriptions at once, each making and finalizing its first invoice.
    let subscriptions =
        futures::future::join_all((0..CONCURRENT).map(|_| api.subscribe_ok(&customer, &plan)))
            .await;
    let mut first_numbers: Vec<String> = Vec::new();
    for subscription in &subscriptions {
        let invoice = api.invoice(str_field(subscription, "latest_invoice")).await;
        first_numbers.push(str_field(&invoice, "number").to_string());
    }
    first_numbers.sort();
    let expected: Vec<String> = (1..=CONCURRENT).map(|n| invoice_number(&prefix, n)).collect();
    assert_eq!(first_numbers, expected, "concurrent invoices take 0001…0008, each once");

    // The ninth is finalized, declined, then voided: it keeps its number.
    let voided = declined_invoice(&api, &customer, &plan, &declining).await;
    api.post(&format!("/v1/invoices/{voided}/void"), &json!({})).await.ok();
    let voided_before = api.invoice(&voided).await;
    assert_eq!(voided_before["status"], "void", "{voided_before}");
    assert_eq!(voided_before["number"], invoice_number(&prefix, 9), "{voided_before}");

    let status = engine.restart_graceful().await;
    assert!(status.success(), "kassa did not exit cleanly: {status}\n{}", engine.log_tail());
    let api = engine.api_a();
    let tenth = api.subscribe_ok(&customer, &plan).await;
    let tenth = api.invoice(str_field(&tenth, "latest_invoice")).await;
    assert_eq!(tenth["number"], invoice_number(&prefix, 10), "after a restart: {tenth}");

    engine.restart_after_kill().await;
    let api = engine.api_a();
    let eleventh = api.subscribe_ok(&customer, &plan).await;
    let eleventh = api.invoice(str_field(&eleventh, "latest_invoice")).await;
    assert_eq!(eleventh["number"], invoice_number(&prefix, 11), "after a kill -9: {eleventh}");

    // Ten paid subscriptions renew in one advance.
    api.advance_clock(&clock, apr_1() + SECONDS_PER_HOUR).await;
    let invoices = api.customer_invoices(&customer).await;
    assert!(invoices.len() >= 21, "11 first invoices and 10 renewals: {invoices:#?}");
    let mut numbers: Vec<String> =
        invoices.iter().map(|invoice| str_field(invoice, "number").to_string()).collect();
    numbers.sort();
    let expected: Vec<String> = (1..=invoices.len()).map(|n| invoice_number(&prefix, n)).collect();
    assert_eq!(numbers, expected, "no gap, no reuse");
    assert_eq!(api.invoice(&voided).await, voided_before, "the void kept its number");

    // Another customer counts from 0001 under a prefix of its own.
    let other = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let other_prefix = invoice_prefix(&api, &other).await;
    assert_ne!(other_prefix, prefix);
    let subscription = api.subscribe_ok(&other, &plan).await;
    let first = api.invoice(str_field(&subscription, "latest_invoice")).await;
    assert_eq!(first["number"], invoice_number(&other_prefix, 1), "{first}");
}

/// Posts `action` (`pay`, `void`, `mark_uncollectible`) for `invoice` and expects a refusal
/// that leaves it as it was.
async fn assert_refused(api: &Api, invoice: &str, action: &str, body: &Value) {
    let before = api.invoice(invoice).await;
    let response = api.post(&format!("/v1/invoices/{invoice}/{action}"), body).await;
    assert_eq!(
        response.status, 400,
        "{action} of a {} invoice: {}",
        before["status"], response.text
    );
    assert_error(&response, 400, "invoice_state_invalid");
    assert_eq!(api.invoice(invoice).await, before, "a refused {action} changed the invoice");
}

#[tokio::test]
async fn pay_void_and_mark_uncollectible_only_from_the_states_that_allow_them() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let clock = api.create_clock(mar_1()).await;
    let plan = api.plan(1_000, "usd", "month").await;
    let (customer, declining, good) = customer_with_a_declining_default(&api, &clock).await;
    let pay_by_good = json!({"payment_method": good});

    // paid: nothing more can be done to it.
    let payer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let paid = api.subscribe_ok(&payer, &plan).await;
    let paid = str_field(&paid, "latest_invoice").to_string();
    for action in ["pay", "void", "mark_uncollectible"] {
        assert_refused(&api, &paid, action, &json!({})).await;
    }

    // open → uncollectible → void, and nothing after the void.
    let invoice = declined_invoice(&api, &customer, &plan, &declining).await;
    let path = |action: &str| format!("/v1/invoices/{invoice}/{action}");
    api.post(&path("mark_uncollectible"), &json!({})).await.ok();
    assert_eq!(api.invoice(&invoice).await["status"], "uncollectible");
    assert_refused(&api, &invoice, "mark_uncollectible", &json!({})).await;
    api.post(&path("void"), &json!({})).await.ok();
    let void = api.invoice(&invoice).await;
    assert_eq!(void["status"], "void", "{void}");
    assert!(void["voided_at"].is_i64(), "{void}");
    for action in ["void", "mark_uncollectible"] {
        assert_refused(&api, &invoice, action, &json!({})).await;
    }
    assert_refused(&api, &invoice, "pay", &pay_by_good).await;

    // open → void directly, and then it cannot be paid.
    let invoice = declined_invoice(&api, &customer, &plan, &declining).await;
    api.post(&format!("/v1/invoices/{invoice}/void"), &json!({})).await.ok();
    assert_eq!(api.invoice(&invoice).await["status"], "void");
    assert_refused(&api, &invoice, "pay", &pay_by_good).await;

    // open → paid by another card.
    let invoice = declined_invoice(&api, &customer, &plan, &declining).await;
    api.post(&format!("/v1/invoices/{invoice}/pay"), &pay_by_good).await.ok();
    let paid_now = api.invoice(&invoice).await;
    assert_eq!(paid_now["status"], "paid", "{paid_now}");
    assert_eq!(paid_now["amount_paid"], 1_000, "{paid_now}");
    for action in ["pay", "void", "mark_uncollectible"] {
        assert_refused(&api, &invoice, action, &json!({})).await;
    }

    // Only the two paid invoices reached the processor.
    assert_eq!(ledger_of_kind(&api.ledger().await, "charge").len(), 2);
}

#[tokio::test]
async fn an_uncollectible_invoice_can_still_be_paid() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let clock = api.create_clock(mar_1()).await;
    let plan = api.plan(1_000, "usd", "month").await;
    let (customer, declining, good) = customer_with_a_declining_default(&api, &clock).await;
    let invoice = declined_invoice(&api, &customer, &plan, &declining).await;
    api.post(&format!("/v1/invoices/{invoice}/mark_uncollectible"), &json!({})).await.ok();

    let body = json!({"payment_method": good});
    api.post(&format!("/v1/invoices/{invoice}/pay"), &body).await.ok();
    let paid = api.invoice(&invoice).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(paid["amount_paid"], 1_000, "{paid}");
    assert!(paid["paid_at"].is_i64(), "{paid}");
    let charge = api.get_ok(&format!("/v1/charges/{}", str_field(&paid, "charge"))).await;
    assert_eq!(charge["status"], "succeeded", "{charge}");
    assert_eq!(charge["invoice"], invoice.as_str(), "{charge}");
    assert_eq!(charge["payment_method"], good.as_str(), "{charge}");
    let ledger = api.ledger().await;
    let entries = ledger_entries(&ledger, "charge", str_field(&charge, "id"));
    assert_eq!(entries.len(), 1, "{ledger:?}");
    assert_eq!(entries[0]["amount"], 1_000);
    assert_eq!(ledger_of_kind(&ledger, "charge").len(), 1, "the decline took nothing");
    let subscription = api.subscription(str_field(&paid, "subscription")).await;
    assert_eq!(subscription["status"], "active", "its first invoice is paid: {subscription}");
}

#[tokio::test]
async fn a_free_plan_makes_paid_invoices_with_no_charge() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let clock = api.create_clock(mar_1()).await;
    // No payment method at all: a free tier needs none.
    let customer = api.clock_customer(&clock, "US").await;
    let plan = api.plan(0, "usd", "month").await;

    let subscription = api.subscribe_ok(&customer, &plan).await;
    assert_eq!(subscription["status"], "active", "{subscription}");
    api.advance_clock(&clock, apr_1() + SECONDS_PER_HOUR).await;
    let invoices = api.subscription_invoices(str_field(&subscription, "id")).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    for invoice in &invoices {
        assert_eq!(invoice["status"], "paid", "{invoice}");
        assert_eq!(invoice["total"], 0, "{invoice}");
        assert_eq!(invoice["amount_due"], 0, "{invoice}");
        assert!(invoice["charge"].is_null(), "nothing to charge: {invoice}");
        assert!(invoice["number"].is_string(), "still a numbered invoice: {invoice}");
    }
    assert_eq!(period_of(&invoices[1]), (apr_1(), may_1()));
    assert!(api.customer_charges(&customer).await.is_empty(), "no charge");
    assert!(api.ledger().await.is_empty(), "nothing at the processor");
    assert_eq!(api.subscription(str_field(&subscription, "id")).await["status"], "active");
}

#[tokio::test]
async fn the_charge_paying_an_invoice_names_it_and_is_the_processors_only_charge_for_it() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let clock = api.create_clock(mar_1()).await;
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let plan = api.plan(2_500, "usd", "month").await;
    let subscription = api.subscribe_ok(&customer, &plan).await;
    api.advance_clock(&clock, apr_1() + SECONDS_PER_HOUR).await;
    api.advance_clock(&clock, may_1() + SECONDS_PER_HOUR).await;
    // A charge of its own, outside billing, names no invoice.
    let plain = api.charge_ok(&customer, 700, "usd").await;
    assert!(plain["invoice"].is_null(), "{plain}");

    let invoices = api.subscription_invoices(str_field(&subscription, "id")).await;
    assert_eq!(invoices.len(), 3, "{invoices:#?}");
    let ledger = api.ledger().await;
    let history = api.customer_charges(&customer).await;
    for invoice in &invoices {
        assert_eq!(invoice["status"], "paid", "{invoice}");
        let charge_id = str_field(invoice, "charge");
        let charge = api.get_ok(&format!("/v1/charges/{charge_id}")).await;
        assert_eq!(charge["invoice"], invoice["id"], "{charge}");
        assert_eq!(charge["customer"], customer.as_str(), "{charge}");
        assert_eq!(charge["status"], "succeeded", "{charge}");
        assert_eq!(charge["amount"], invoice["amount_due"], "{charge}");
        assert!(history.contains(&charge), "in the customer's charge history: {charge}");
        let filter = format!("/v1/charges?invoice={}", str_field(invoice, "id"));
        let listed = api.list_all(&filter, "id").await;
        assert_eq!(ids(&listed), [charge_id], "the invoice's charges");
        let entries = ledger_entries(&ledger, "charge", charge_id);
        assert_eq!(entries.len(), 1, "one processor charge for {charge_id}: {ledger:?}");
        assert_eq!(entries[0]["amount"], 2_500);
    }
    assert_eq!(ledger_of_kind(&ledger, "charge").len(), 4, "three invoices and the plain charge");
}

/// Subscribes a new customer in `country` to a plan of `amount` in `currency` with
/// `tax_behavior`; returns the first invoice.
async fn first_invoice_of(
    api: &Api,
    clock: &str,
    (country, currency, amount, tax_behavior): (&str, &str, i64, &str),
) -> Value {
    let customer = api.clock_customer_with_card(clock, country, "pm_card_visa").await;
    let body = json!({
        "name": format!("{amount} {currency} {tax_behavior}"), "amount": amount,
        "currency": currency, "interval": "month", "tax_behavior": tax_behavior,
    });
    let plan = api.create_plan(&body).await;
    let subscription = api.subscribe_ok(&customer, str_field(&plan, "id")).await;
    api.invoice(str_field(&subscription, "latest_invoice")).await
}

fn vat(country: &str, rate_bps: u32, amount: i64) -> Value {
    json!([{"name": "VAT", "jurisdiction": country, "rate_bps": rate_bps, "amount": amount}])
}

#[tokio::test]
async fn a_vat_inclusive_plan_totals_its_price_with_the_vat_extracted_half_up() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let clock = api.create_clock(mar_1()).await;
    // (country, currency, price, VAT in it): 1 500 = 11 500 × 15/115; 1 304.35 → 1 304;
    // 1 600 = 11 600 × 16/116; 137.79 → 138.
    let cases = [
        ("ZA", "zar", 11_500, 1500, 1_500),
        ("ZA", "zar", 10_000, 1500, 1_304),
        ("KE", "kes", 11_600, 1600, 1_600),
        ("KE", "kes", 999, 1600, 138),
    ];
    for (country, currency, price, rate_bps, tax) in cases {
        let invoice = first_invoice_of(&api, &clock, (country, currency, price, "inclusive")).await;
        let case = format!("{price} {currency} in {country}: {invoice}");
        assert_eq!(invoice["currency"], currency, "{case}");
        assert_eq!(invoice["subtotal"], price, "{case}");
        assert_eq!(invoice["tax"], vat(country, rate_bps, tax), "{case}");
        assert_eq!(invoice["total"], price, "the price is what is paid: {case}");
        assert_eq!(invoice["amount_due"], price, "{case}");
        assert_eq!(invoice["amount_paid"], price, "{case}");
        let ledger = api.ledger().await;
        let entries = ledger_entries(&ledger, "charge", str_field(&invoice, "charge"));
        assert_eq!(entries.len(), 1, "{case}");
        assert_eq!(entries[0]["amount"], price, "{case}");
        assert_eq!(entries[0]["currency"], currency, "{case}");
    }
}

#[tokio::test]
async fn a_vat_exclusive_plan_adds_the_vat_on_top() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let clock = api.create_clock(mar_1()).await;
    // (country, currency, price, VAT on it): 149.85 → 150.
    let cases = [
        ("ZA", "zar", 10_000, 1500, 1_500),
        ("ZA", "zar", 999, 1500, 150),
        ("KE", "kes", 10_000, 1600, 1_600),
    ];
    for (country, currency, price, rate_bps, tax) in cases {
        let invoice = first_invoice_of(&api, &clock, (country, currency, price, "exclusive")).await;
        let case = format!("{price} {currency} in {country}: {invoice}");
        assert_eq!(invoice["subtotal"], price, "{case}");
        assert_eq!(invoice["tax"], vat(country, rate_bps, tax), "{case}");
        assert_eq!(invoice["total"], price + tax, "{case}");
        assert_eq!(invoice["amount_paid"], price + tax, "{case}");
        let ledger = api.ledger().await;
        let entries = ledger_entries(&ledger, "charge", str_field(&invoice, "charge"));
        assert_eq!(entries.len(), 1, "{case}");
        assert_eq!(entries[0]["amount"], price + tax, "{case}");
    }
}

#[tokio::test]
async fn vat_on_a_proration_is_to_the_cent_and_its_preview_is_the_invoice() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    // April: 30 days, so a change on Apr 16 at 00:00 leaves exactly half of it.
    let (apr_16, may_1, jun_1) =
        (utc(2024, 4, 16, 0, 0, 0), utc(2024, 5, 1, 0, 0, 0), utc(2024, 6, 1, 0, 0, 0));
    let clock = api.create_clock(apr_1()).await;
    let customer = api.clock_customer_with_card(&clock, "ZA", "pm_card_visa").await;
    let small = api.plan(2_000, "zar", "month").await;
    let large = api.plan(6_000, "zar", "month").await;
    let subscription = api.subscribe_ok(&customer, &small).await;
    let id = str_field(&subscription, "id");
    let first = api.invoice(str_field(&subscription, "latest_invoice")).await;
    assert_eq!(first["tax"], vat("ZA", 1500, 300), "{first}");
    assert_eq!(first["total"], 2_300, "{first}");
    api.advance_clock(&clock, apr_16).await;

    let preview = api.upcoming_invoice(id, &format!("?plan={large}&proration_date={apr_16}")).await;
    api.update_subscription(id, &json!({"plan": large})).await.ok();
    api.advance_clock(&clock, may_1 + SECONDS_PER_HOUR).await;
    let invoices = api.subscription_invoices(id).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    let renewal = &invoices[1];

    let mut expected = vec![
        expected_line(&small, 1, -1_000, (apr_16, may_1), true),
        expected_line(&large, 1, 3_000, (apr_16, may_1), true),
        expected_line(&large, 1, 6_000, (may_1, jun_1), false),
    ];
    expected.sort();
    for invoice in [&preview, renewal] {
        assert_eq!(line_summaries(invoice), expected, "{invoice}");
        assert_eq!(invoice["subtotal"], 8_000, "{invoice}");
        // −150 + 450 + 900: 15 % of each line, the credit's VAT given back.
        assert_eq!(invoice["tax"], vat("ZA", 1500, 1_200), "{invoice}");
        assert_eq!(invoice["total"], 9_200, "{invoice}");
        assert_eq!(invoice["amount_due"], 9_200, "{invoice}");
    }
    let ledger = api.ledger().await;
    let entries = ledger_entries(&ledger, "charge", str_field(renewal, "charge"));
    assert_eq!(entries.len(), 1, "{ledger:?}");
    assert_eq!(entries[0]["amount"], 9_200);
}

#[tokio::test]
async fn another_account_can_neither_read_pay_nor_void_an_invoice() {
    let engine = Engine::start(Config::default()).await;
    let (api_a, api_b) = (engine.api_a(), engine.api_b());
    let clock = api_a.create_clock(mar_1()).await;
    let plan = api_a.plan(1_000, "usd", "month").await;
    let (customer, declining, _) = customer_with_a_declining_default(&api_a, &clock).await;
    let invoice = declined_invoice(&api_a, &customer, &plan, &declining).await;
    let before = api_a.invoice(&invoice).await;

    assert_error(&api_b.get(&format!("/v1/invoices/{invoice}")).await, 404, "not_found");
    for action in ["pay", "void", "mark_uncollectible"] {
        let response = api_b.post(&format!("/v1/invoices/{invoice}/{action}"), &json!({})).await;
        assert_error(&response, 404, "not_found");
    }
    assert!(api_b.list_all("/v1/invoices", "id").await.is_empty(), "B lists none of A's");
    let subscription = str_field(&before, "subscription");
    let preview = api_b.get(&format!("/v1/subscriptions/{subscription}/upcoming_invoice")).await;
    assert_error(&preview, 404, "not_found");
    assert_eq!(api_a.invoice(&invoice).await, before, "nothing changed");
}
