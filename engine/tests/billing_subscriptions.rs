//! Subscriptions: what a platform's customers live through — paying, trials, cancelling — and
//! never twice; what changes cost is `billing_proration.rs`.
//!
//! Proves that a subscription is paid before it is answered and reads back; that a trial ends in
//! `active` with the first invoice at trial end, or in `past_due` with the invoice open when the
//! card declines, that a trial is set by `trial_days` or `trial_end`, ended by `trial_end:
//! "now"`, and that a change while trialing makes no proration; that cancelling at period end can
//! be undone until the period ends and otherwise ends the subscription at the period end with no
//! new invoice, that cancelling now ends it at once (with a credit only when asked), that a
//! canceled subscription refuses every change (400 `subscription_canceled`) and a subscription
//! not set to cancel cannot be reactivated (400 `subscription_not_reactivatable`); that a
//! customer bills in one currency (400 `currency_mismatch`); that a `send_invoice` subscription
//! is invoiced with a due date and never charged by the scheduler; that a declined first payment
//! leaves an `incomplete` subscription that grants no period and expires 23 hours later
//! (`incomplete_expired`, its invoice void); that a renewal charges the customer's default
//! payment method of that moment; and that every malformed subscription
//! (unknown plan, quantity 0 or 10 001, a trial end or anchor before the customer's clock) is a
//! 400 that changes nothing.
//! How: a fresh engine per test (see `common`); each customer lives on a test clock started at
//! 2024-03-01T00:00:00Z (`common/subscription_fixture.rs`), renewals and trial ends run by
//! advancing it, never by waiting.

mod common;
#[path = "common/subscription_fixture.rs"]
mod fixture;

use common::*;
use fixture::*;

#[tokio::test]
async fn a_subscription_is_paid_before_it_is_answered_and_reads_back() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;

    let subscription = b.api.subscribe_ok(&b.customer, &b.basic).await;
    let id = str_field(&subscription, "id");
    assert!(id.starts_with("sub_"), "{subscription}");
    assert_eq!(subscription["object"], "subscription");
    assert_eq!(subscription["customer"], b.customer.as_str());
    assert_eq!(subscription["plan"], b.basic.as_str());
    assert_eq!(subscription["quantity"], 1);
    assert_eq!(subscription["status"], "active");
    assert_eq!(subscription["collection_method"], "charge_automatically");
    assert_eq!(period_of(&subscription), (mar_1(), apr_1()));
    assert_eq!(subscription["billing_cycle_anchor"], mar_1());
    assert_eq!(subscription["cancel_at_period_end"], false);
    for field in ["trial_start", "trial_end", "canceled_at", "ended_at", "payment_method"] {
        assert!(subscription[field].is_null(), "`{field}` is null: {subscription}");
    }
    assert_eq!(b.api.subscription(id).await, subscription, "GET reads back the answer");
    assert_eq!(
        b.api.customer_subscriptions(&b.customer).await,
        std::slice::from_ref(&subscription)
    );

    let invoice = b.api.invoice(str_field(&subscription, "latest_invoice")).await;
    assert_eq!(invoice["status"], "paid", "{invoice}");
    assert_eq!(invoice["amount_paid"], BASIC, "{invoice}");
    assert_eq!(
        line_summaries(&invoice),
        [expected_line(&b.basic, 1, BASIC, (mar_1(), apr_1()), false)]
    );
    assert_eq!(ledger_amounts(&b.api, str_field(&invoice, "charge")).await, [BASIC as u64]);
    let customer = b.api.get_ok(&format!("/v1/customers/{}", b.customer)).await;
    assert_eq!(customer["currency"], "usd", "the first subscription fixes it: {customer}");
}

#[tokio::test]
async fn a_send_invoice_subscription_is_never_charged_by_the_scheduler() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let body = json!({
        "customer": b.customer, "plan": b.basic,
        "collection_method": "send_invoice", "days_until_due": 10,
    });
    let subscription = b.api.subscribe(&body).await.ok().clone();
    let id = str_field(&subscription, "id");
    assert_eq!(subscription["collection_method"], "send_invoice", "{subscription}");
    assert_eq!(subscription["days_until_due"], 10, "{subscription}");
    let first = b.api.invoice(str_field(&subscription, "latest_invoice")).await;
    assert_eq!(first["status"], "open", "it waits for the customer: {first}");
    assert_eq!(first["collection_method"], "send_invoice", "{first}");
    assert_eq!(first["due_date"], mar_1() + 10 * SECONDS_PER_DAY, "{first}");
    assert!(first["number"].is_string(), "finalized: {first}");

    // Past its due date and the next renewal: invoiced, never charged.
    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let invoices = b.api.subscription_invoices(id).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    assert_eq!(invoices[1]["status"], "open", "{}", invoices[1]);
    assert_eq!(invoices[1]["due_date"], apr_1() + 10 * SECONDS_PER_DAY, "{}", invoices[1]);
    assert!(b.api.customer_charges(&b.customer).await.is_empty(), "nothing charged");
    assert!(b.api.ledger().await.is_empty(), "nothing at the processor");

    // The customer pays when they choose to.
    let path = format!("/v1/invoices/{}/pay", str_field(&first, "id"));
    b.api.post(&path, &json!({})).await.ok();
    assert_eq!(b.api.invoice(str_field(&first, "id")).await["status"], "paid");
    assert_eq!(ledger_of_kind(&b.api.ledger().await, "charge").len(), 1);
}

/// The fields in which a preview and the invoice then made must agree, besides the lines.
#[tokio::test]
async fn a_trial_ends_in_an_active_subscription_with_its_first_invoice_at_trial_end() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let plan = b.trial_plan(BASIC as u64).await;
    let trial_end = utc(2024, 3, 15, 0, 0, 0);

    let subscription = b.api.subscribe_ok(&b.customer, &plan).await;
    let id = str_field(&subscription, "id");
    assert_eq!(subscription["status"], "trialing", "{subscription}");
    assert_eq!(subscription["trial_start"], mar_1(), "{subscription}");
    assert_eq!(subscription["trial_end"], trial_end, "{subscription}");
    assert!(billed(b.api.subscription_invoices(id).await).is_empty(), "nothing billed in trial");
    assert!(b.api.customer_charges(&b.customer).await.is_empty(), "nothing charged in trial");

    b.advance(trial_end - 1).await;
    assert_eq!(b.api.subscription(id).await["status"], "trialing");
    assert!(b.api.customer_charges(&b.customer).await.is_empty());

    b.advance(trial_end + SECONDS_PER_HOUR).await;
    let active = b.api.subscription(id).await;
    assert_eq!(active["status"], "active", "{active}");
    let first_period = (trial_end, utc(2024, 4, 15, 0, 0, 0));
    assert_eq!(period_of(&active), first_period, "{active}");
    assert_eq!(active["billing_cycle_anchor"], trial_end, "{active}");
    let invoices = billed(b.api.subscription_invoices(id).await);
    assert_eq!(invoices.len(), 1, "{invoices:#?}");
    assert_eq!(line_summaries(&invoices[0]), [expected_line(&plan, 1, BASIC, first_period, false)]);
    assert_eq!(invoices[0]["status"], "paid", "{}", invoices[0]);
    assert_eq!(ledger_amounts(&b.api, str_field(&invoices[0], "charge")).await, [BASIC as u64]);
}

#[tokio::test]
async fn a_trial_ending_on_a_declining_card_leaves_the_subscription_past_due_and_its_invoice_open()
{
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let plan = b.trial_plan(BASIC as u64).await;
    // Its first payment method, hence its default, declines.
    let customer = b.api.clock_customer_with_card(&b.clock, "US", "pm_card_chargeDeclined").await;
    let subscription = b.api.subscribe_ok(&customer, &plan).await;
    let id = str_field(&subscription, "id");
    assert_eq!(subscription["status"], "trialing", "{subscription}");

    b.advance(utc(2024, 3, 15, 1, 0, 0)).await;
    let past_due = b.api.subscription(id).await;
    assert_eq!(past_due["status"], "past_due", "{past_due}");
    let invoices = billed(b.api.subscription_invoices(id).await);
    assert_eq!(invoices.len(), 1, "{invoices:#?}");
    let invoice = &invoices[0];
    assert_eq!(past_due["latest_invoice"], invoice["id"], "{past_due}");
    assert_eq!(invoice["status"], "open", "{invoice}");
    assert!(invoice["number"].is_string(), "an open invoice is finalized and numbered: {invoice}");
    assert_eq!(invoice["amount_due"], BASIC, "{invoice}");
    assert_eq!(invoice["amount_paid"], 0, "{invoice}");
    assert_eq!(invoice["attempt_count"], 1, "{invoice}");
    let charge = b.api.get_ok(&format!("/v1/charges/{}", str_field(invoice, "charge"))).await;
    assert_eq!(charge["status"], "failed", "{charge}");
    assert_eq!(charge["invoice"], invoice["id"], "{charge}");
    assert!(ledger_of_kind(&b.api.ledger().await, "charge").is_empty(), "nothing was taken");
}

#[tokio::test]
async fn trial_days_and_trial_end_on_the_subscription_set_its_trial() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let plan = b.trial_plan(BASIC as u64).await;

    let body = json!({"customer": b.customer, "plan": plan, "trial_days": 3});
    let short = b.api.subscribe(&body).await.ok().clone();
    assert_eq!(short["status"], "trialing", "{short}");
    assert_eq!(short["trial_end"], utc(2024, 3, 4, 0, 0, 0), "3 days, not the plan's 14");

    let trial_end = utc(2024, 3, 20, 6, 30, 0);
    let body = json!({"customer": b.customer, "plan": b.basic, "trial_end": trial_end});
    let until = b.api.subscribe(&body).await.ok().clone();
    assert_eq!(until["status"], "trialing", "{until}");
    assert_eq!(until["trial_end"], trial_end, "{until}");
    assert!(b.api.customer_charges(&b.customer).await.is_empty(), "no charge during trials");

    b.advance(utc(2024, 3, 21, 0, 0, 0)).await;
    let short_now = b.api.subscription(str_field(&short, "id")).await;
    assert_eq!(short_now["status"], "active", "{short_now}");
    assert_eq!(period_of(&short_now).0, utc(2024, 3, 4, 0, 0, 0), "{short_now}");
    let until_now = b.api.subscription(str_field(&until, "id")).await;
    assert_eq!(until_now["status"], "active", "{until_now}");
    assert_eq!(period_of(&until_now), (trial_end, utc(2024, 4, 20, 6, 30, 0)), "{until_now}");
    assert_eq!(b.api.customer_charges(&b.customer).await.len(), 2, "each billed once");
}

#[tokio::test]
async fn trial_end_now_ends_the_trial_and_invoices_at_once() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let plan = b.trial_plan(BASIC as u64).await;
    let id = str_field(&b.api.subscribe_ok(&b.customer, &plan).await, "id").to_string();
    let now = utc(2024, 3, 5, 8, 0, 0);
    b.advance(now).await;

    let ended = b.api.update_subscription(&id, &json!({"trial_end": "now"})).await.ok().clone();
    assert_eq!(ended["status"], "active", "{ended}");
    assert_eq!(ended["trial_end"], now, "{ended}");
    let period = (now, utc(2024, 4, 5, 8, 0, 0));
    assert_eq!(period_of(&ended), period, "{ended}");
    let invoices = billed(b.api.subscription_invoices(&id).await);
    assert_eq!(invoices.len(), 1, "{invoices:#?}");
    assert_eq!(line_summaries(&invoices[0]), [expected_line(&plan, 1, BASIC, period, false)]);
    assert_eq!(invoices[0]["status"], "paid");

    // The trial's original end (Mar 15) no longer does anything.
    b.advance(utc(2024, 3, 16, 0, 0, 0)).await;
    assert_eq!(billed(b.api.subscription_invoices(&id).await).len(), 1);
    assert_eq!(period_of(&b.api.subscription(&id).await), period);
}

#[tokio::test]
async fn a_change_while_trialing_makes_no_prorations() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let plan = b.trial_plan(BASIC as u64).await;
    let id = str_field(&b.api.subscribe_ok(&b.customer, &plan).await, "id").to_string();
    b.advance(utc(2024, 3, 5, 0, 0, 0)).await;

    let changed = b.api.update_subscription(&id, &json!({"plan": b.pro, "quantity": 2})).await;
    let changed = changed.ok();
    assert_eq!(changed["status"], "trialing", "{changed}");
    assert_eq!(changed["trial_end"], utc(2024, 3, 15, 0, 0, 0), "the trial is kept: {changed}");
    assert!(billed(b.api.subscription_invoices(&id).await).is_empty(), "nothing billed");
    assert_eq!(b.balance().await, 0, "no credit either");

    b.advance(utc(2024, 3, 15, 1, 0, 0)).await;
    let invoices = billed(b.api.subscription_invoices(&id).await);
    assert_eq!(invoices.len(), 1, "{invoices:#?}");
    let first_period = (utc(2024, 3, 15, 0, 0, 0), utc(2024, 4, 15, 0, 0, 0));
    assert_eq!(
        line_summaries(&invoices[0]),
        [expected_line(&b.pro, 2, 2 * PRO, first_period, false)],
        "only the new plan, in full, from the trial's end"
    );
}

#[tokio::test]
async fn cancel_at_period_end_then_reactivate_keeps_it_renewing() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let id = b.subscribe(&b.basic).await;
    b.advance(mar_11()).await;

    let path = format!("/v1/subscriptions/{id}/cancel");
    let canceling = b.api.post(&path, &json!({"at_period_end": true})).await.ok().clone();
    assert_eq!(canceling["cancel_at_period_end"], true, "{canceling}");
    assert_eq!(canceling["status"], "active", "it runs to the period's end: {canceling}");
    assert!(canceling["ended_at"].is_null(), "{canceling}");

    let path = format!("/v1/subscriptions/{id}/reactivate");
    let reactivated = b.api.post(&path, &json!({})).await.ok().clone();
    assert_eq!(reactivated["cancel_at_period_end"], false, "{reactivated}");
    assert_eq!(reactivated["status"], "active", "{reactivated}");

    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let renewed = b.api.subscription(&id).await;
    assert_eq!(renewed["status"], "active", "{renewed}");
    assert_eq!(period_of(&renewed), (apr_1(), may_1()), "{renewed}");
    assert_eq!(b.api.subscription_invoices(&id).await.len(), 2);
}

#[tokio::test]
async fn a_subscription_set_to_cancel_at_period_end_ends_then_without_a_new_invoice() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let id = b.subscribe(&b.basic).await;
    b.advance(mar_11()).await;
    let body = json!({"cancel_at_period_end": true});
    let canceling = b.api.update_subscription(&id, &body).await.ok().clone();
    assert_eq!(canceling["cancel_at_period_end"], true, "{canceling}");

    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let ended = b.api.subscription(&id).await;
    assert_eq!(ended["status"], "canceled", "{ended}");
    assert_eq!(ended["ended_at"], apr_1(), "it ended at the period's end: {ended}");
    assert_eq!(b.api.subscription_invoices(&id).await.len(), 1, "no April invoice");
    assert_eq!(b.api.customer_charges(&b.customer).await.len(), 1, "no April charge");

    let path = format!("/v1/subscriptions/{id}/reactivate");
    assert_error(&b.api.post(&path, &json!({})).await, 400, "subscription_not_reactivatable");
    b.advance(may_1() + SECONDS_PER_HOUR).await;
    assert_eq!(b.api.subscription_invoices(&id).await.len(), 1, "nor a May one");
    assert_eq!(b.api.subscription(&id).await, ended);
}

#[tokio::test]
async fn cancel_now_ends_the_subscription_at_once_and_gives_no_credit() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let id = b.subscribe(&b.basic).await;
    b.advance(mar_11()).await;

    let path = format!("/v1/subscriptions/{id}/cancel");
    let canceled = b.api.post(&path, &json!({})).await.ok().clone();
    assert_eq!(canceled["status"], "canceled", "{canceled}");
    assert_eq!(canceled["canceled_at"], mar_11(), "{canceled}");
    assert_eq!(canceled["ended_at"], mar_11(), "{canceled}");
    assert_eq!(b.balance().await, 0, "no credit unless asked");

    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    assert_eq!(b.api.subscription_invoices(&id).await.len(), 1, "no April invoice");
    assert_eq!(b.api.customer_charges(&b.customer).await.len(), 1);
    assert_eq!(b.api.subscription(&id).await, canceled);
}

#[tokio::test]
async fn cancel_now_with_prorate_credits_the_unused_time_to_the_balance() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let id = b.subscribe(&b.basic).await;
    b.advance(mar_11()).await;

    let path = format!("/v1/subscriptions/{id}/cancel");
    let canceled = b.api.post(&path, &json!({"prorate": true})).await.ok().clone();
    assert_eq!(canceled["status"], "canceled", "{canceled}");
    assert_eq!(b.balance().await, -677, "21 of 31 days of 10.00, half-up, as a credit");
    assert_eq!(ledger_of_kind(&b.api.ledger().await, "refund").len(), 0, "a credit, no refund");
}

#[tokio::test]
async fn a_canceled_subscription_refuses_every_change() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let id = b.subscribe(&b.basic).await;
    b.advance(mar_11()).await;
    b.api.post(&format!("/v1/subscriptions/{id}/cancel"), &json!({})).await.ok();
    let canceled = b.api.subscription(&id).await;

    let changes = [
        json!({"plan": b.pro}),
        json!({"quantity": 2}),
        json!({"quantity": 3, "proration_behavior": "always_invoice"}),
        json!({"cancel_at_period_end": true}),
        json!({"cancel_at_period_end": false}),
        json!({"trial_end": "now"}),
        json!({"metadata": {"note": "after the end"}}),
    ];
    for change in changes {
        let response = b.api.update_subscription(&id, &change).await;
        assert_eq!(response.status, 400, "{change}: {}", response.text);
        assert_error(&response, 400, "subscription_canceled");
    }
    assert_eq!(b.api.subscription(&id).await, canceled, "nothing changed");
    assert_eq!(b.api.subscription_invoices(&id).await.len(), 1, "nothing invoiced");
    assert_eq!(b.api.customer_charges(&b.customer).await.len(), 1, "nothing charged");
}

#[tokio::test]
async fn reactivating_a_subscription_not_set_to_cancel_is_refused() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let id = b.subscribe(&b.basic).await;
    let before = b.api.subscription(&id).await;

    let path = format!("/v1/subscriptions/{id}/reactivate");
    assert_error(&b.api.post(&path, &json!({})).await, 400, "subscription_not_reactivatable");
    assert_eq!(b.api.subscription(&id).await, before);
}

#[tokio::test]
async fn a_second_subscription_in_another_currency_is_refused_and_nothing_is_created() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    b.subscribe(&b.basic).await;
    let euro = b.api.plan(900, "eur", "month").await;

    let refused = b.api.subscribe(&json!({"customer": b.customer, "plan": euro})).await;
    assert_error(&refused, 400, "currency_mismatch");
    assert_eq!(b.api.customer_subscriptions(&b.customer).await.len(), 1);
    assert_eq!(b.api.customer_invoices(&b.customer).await.len(), 1);
    assert_eq!(b.api.customer_charges(&b.customer).await.len(), 1);
    assert_eq!(ledger_of_kind(&b.api.ledger().await, "charge").len(), 1);
    let customer = b.api.get_ok(&format!("/v1/customers/{}", b.customer)).await;
    assert_eq!(customer["currency"], "usd", "{customer}");
}

#[tokio::test]
async fn a_declined_first_payment_grants_no_period_and_expires_after_23_hours() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let customer = b.api.clock_customer_with_card(&b.clock, "US", "pm_card_chargeDeclined").await;

    let declined = b.api.subscribe(&json!({"customer": customer, "plan": b.basic})).await;
    assert_error(&declined, 402, "card_declined");
    let error = &declined.body["error"];
    assert!(error["decline_code"].is_string(), "{}", declined.text);
    let id = str_field(error, "subscription");
    let charge_id = str_field(error, "charge");
    let incomplete = b.api.subscription(id).await;
    assert_eq!(incomplete["status"], "incomplete", "{incomplete}");
    let invoice = b.api.invoice(str_field(&incomplete, "latest_invoice")).await;
    assert_eq!(invoice["status"], "open", "{invoice}");
    assert_eq!(invoice["amount_paid"], 0, "{invoice}");
    assert_eq!(invoice["charge"], charge_id, "{invoice}");
    let charge = b.api.get_ok(&format!("/v1/charges/{charge_id}")).await;
    assert_eq!(charge["status"], "failed", "{charge}");
    assert_eq!(charge["invoice"], invoice["id"], "{charge}");

    let expiry = i64_field(&incomplete, "created") + 23 * SECONDS_PER_HOUR;
    b.advance(expiry - 1).await;
    let still = b.api.subscription(id).await;
    assert_eq!(still["status"], "incomplete", "one second before 23 hours: {still}");
    b.advance(expiry).await;
    let expired = b.api.subscription(id).await;
    assert_eq!(expired["status"], "incomplete_expired", "after 23 hours unpaid: {expired}");
    assert_eq!(expired["ended_at"], expiry, "{expired}");
    let voided = b.api.invoice(str_field(&incomplete, "latest_invoice")).await;
    assert_eq!(voided["status"], "void", "{voided}");
    assert_eq!(voided["number"], invoice["number"], "a voided invoice keeps its number");

    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let later = b.api.subscription(id).await;
    assert_eq!(later["status"], "incomplete_expired", "terminal: {later}");
    assert_eq!(b.api.subscription_invoices(id).await.len(), 1, "no April invoice");
    assert!(ledger_of_kind(&b.api.ledger().await, "charge").is_empty(), "nothing was taken");
}

#[tokio::test]
async fn a_renewal_charges_the_customers_default_payment_method_of_that_moment() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let id = b.subscribe(&b.basic).await;
    let first = b.api.subscription_invoices(&id).await.remove(0);
    let mastercard = b.api.add_payment_method(&b.customer, "pm_card_mastercard").await;
    let mastercard = str_field(&mastercard, "id");

    let path = format!("/v1/customers/{}", b.customer);
    let updated = b.api.post(&path, &json!({"default_payment_method": mastercard})).await;
    assert_eq!(updated.ok()["default_payment_method"], mastercard);
    b.advance(apr_1() + SECONDS_PER_HOUR).await;

    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    let first_charge = b.api.get_ok(&format!("/v1/charges/{}", str_field(&first, "charge"))).await;
    let renewal_charge =
        b.api.get_ok(&format!("/v1/charges/{}", str_field(&invoices[1], "charge"))).await;
    assert_ne!(first_charge["payment_method"], mastercard, "{first_charge}");
    assert_eq!(renewal_charge["payment_method"], mastercard, "{renewal_charge}");
    assert_eq!(renewal_charge["status"], "succeeded", "{renewal_charge}");
}

#[tokio::test]
async fn malformed_subscriptions_are_refused_and_change_nothing() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    // A clock ahead of the wall clock: "before now" must mean before the customer's now.
    let now = utc(2030, 1, 1, 0, 0, 0);
    let clock = api.create_clock(now).await;
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let plan = api.plan(1_000, "usd", "month").await;
    let with = |field: &str, value: Value| {
        let mut body = json!({"customer": customer, "plan": plan});
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = json!({"customer": customer, "plan": plan});
        body.as_object_mut().expect("an object").remove(field);
        body
    };
    let a_day_before = now - SECONDS_PER_DAY;
    assert!(a_day_before > now_secs() as i64, "a day before the clock is still ahead of today");
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        ("quantity 0", with("quantity", json!(0)), Some("quantity")),
        ("quantity 10 001", with("quantity", json!(10_001)), Some("quantity")),
        ("a negative quantity", with("quantity", json!(-1)), Some("quantity")),
        ("a quantity as a string", with("quantity", json!("2")), Some("quantity")),
        (
            "a trial end a day before the clock",
            with("trial_end", json!(a_day_before)),
            Some("trial_end"),
        ),
        (
            "a trial end a second before the clock",
            with("trial_end", json!(now - 1)),
            Some("trial_end"),
        ),
        (
            "an anchor a day before the clock",
            with("billing_cycle_anchor", json!(a_day_before)),
            Some("billing_cycle_anchor"),
        ),
        ("trial_days 731", with("trial_days", json!(731)), Some("trial_days")),
        ("negative trial_days", with("trial_days", json!(-1)), Some("trial_days")),
        (
            "an unknown collection method",
            with("collection_method", json!("pigeon")),
            Some("collection_method"),
        ),
        ("no plan", without("plan"), None),
        ("no customer", without("customer"), None),
    ];
    let mut problems = Vec::new();
    for (name, body, param) in cases {
        let response = api.subscribe(&body).await;
        if response.status != 400 {
            problems
                .push(format!("{name}: expected 400, got {}: {}", response.status, response.text));
        } else if let Some(problem) = error_shape_problem(&response) {
            problems.push(format!("{name}: {problem}"));
        } else if let Some(param) = param
            && response.body["error"]["param"] != param
        {
            // A missing field is a malformed body, as for charges: its `param` is not checked.
            problems.push(format!("{name}: expected param {param}: {}", response.text));
        }
    }
    let unknown_field = api.subscribe(&with("discount_forever", json!(true))).await;
    if unknown_field.status != 400 || unknown_field.error_code() != Some("validation_error") {
        problems.push(format!("an unknown field: {}", unknown_field.text));
    }
    let mut unknown_plan = plan.clone();
    let last = unknown_plan.pop().expect("a plan id");
    unknown_plan.push(if last == '0' { '1' } else { '0' });
    let response = api.subscribe(&with("plan", json!(unknown_plan))).await;
    if !matches!(response.status, 400 | 404) || error_shape_problem(&response).is_some() {
        problems.push(format!("an unknown plan: {} {}", response.status, response.text));
    }
    assert!(problems.is_empty(), "not refused as expected:\n{}", problems.join("\n"));

    assert!(api.customer_subscriptions(&customer).await.is_empty(), "no subscription made");
    assert!(api.customer_invoices(&customer).await.is_empty(), "no invoice made");
    assert!(api.customer_charges(&customer).await.is_empty(), "nothing charged");
    assert!(api.ledger().await.is_empty(), "nothing at the processor");
    let after = api.get_ok(&format!("/v1/customers/{customer}")).await;
    assert!(after["currency"].is_null(), "no currency fixed: {after}");
    assert_eq!(after["balance"], 0, "{after}");

    // The same fields in range are taken: 10 000 seats, a trial ending a day after the clock.
    let seats = api.subscribe(&with("quantity", json!(10_000))).await.ok().clone();
    assert_eq!(seats["quantity"], 10_000, "{seats}");
    let trial = api.subscribe(&with("trial_end", json!(now + SECONDS_PER_DAY))).await.ok().clone();
    assert_eq!(trial["status"], "trialing", "{trial}");
}

#[tokio::test]
async fn a_trial_end_is_judged_by_the_customers_clock_not_the_wall_clock() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    // Long past on the wall clock, two months ahead on the customer's.
    let trial_end = utc(2024, 5, 1, 0, 0, 0);
    let body = json!({"customer": b.customer, "plan": b.basic, "trial_end": trial_end});
    let subscription = b.api.subscribe(&body).await.ok().clone();
    assert_eq!(subscription["status"], "trialing", "{subscription}");
    assert_eq!(subscription["trial_end"], trial_end, "{subscription}");

    b.advance(trial_end + SECONDS_PER_HOUR).await;
    let active = b.api.subscription(str_field(&subscription, "id")).await;
    assert_eq!(active["status"], "active", "{active}");
    assert_eq!(period_of(&active), (trial_end, utc(2024, 6, 1, 0, 0, 0)), "{active}");
}
