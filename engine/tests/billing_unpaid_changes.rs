//! Changes while money is outstanding: a change that waits for its payment, and a credit for a
//! period its customer has not paid yet.
//!
//! Proves that an upgrade made with `payment_behavior: pending_if_incomplete` whose invoice is
//! declined leaves the subscription on its old plan and status, shows the change as
//! `pending_update`, and applies it (plan, seats, the next renewal's price) once that invoice is
//! paid; that one left unpaid is dropped 23 hours later with its invoice voided, and the
//! subscription renews at its old price; that a change with nothing left to pay applies at once;
//! that `pending_if_incomplete` without an invoice made now, without a change of plan or seats,
//! or a second change while one waits, is a 400 that changes nothing. And that a credit for a
//! period whose invoice is still open lowers that invoice (`amount_due`,
//! `pre_payment_credit_notes_amount`) instead of becoming a credit line or balance: with the
//! tax its line carried, at most what it has due (then it is paid and the rest is credited),
//! on a change and on a prorated cancellation, and the preview shows the same lines as the
//! renewal then makes.
//! How: a fresh engine per test (see `common`); customers on a test clock at 2024-03-01 (see
//! `common/subscription_fixture.rs`); a declined payment comes from making the customer's
//! default payment method `pm_card_chargeDeclined`.

mod common;
#[path = "common/subscription_fixture.rs"]
mod fixture;

use common::*;
use fixture::*;

/// The upgrade from basic to pro on Mar 11, invoiced at once and applied only once paid.
fn pending_upgrade(b: &Billing) -> Value {
    json!({
        "plan": b.pro,
        "proration_behavior": "always_invoice",
        "payment_behavior": "pending_if_incomplete",
    })
}

/// Makes a declining card the customer's default: the next charge fails.
async fn default_to_declining_card(b: &Billing) -> String {
    default_to(b, "pm_card_chargeDeclined").await
}

/// Attaches `token` and makes it the customer's default; answers its id.
async fn default_to(b: &Billing, token: &str) -> String {
    let method = b.api.add_payment_method(&b.customer, token).await;
    let id = str_field(&method, "id").to_owned();
    let body = json!({"default_payment_method": id});
    b.api.post(&format!("/v1/customers/{}", b.customer), &body).await.ok();
    id
}

#[tokio::test]
async fn a_pending_upgrade_applies_only_once_its_invoice_is_paid() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let id = b.subscribe(&b.basic).await;
    b.advance(mar_11()).await;
    default_to_declining_card(&b).await;

    let answered = b.api.update_subscription(&id, &pending_upgrade(&b)).await.ok().clone();
    assert_eq!(answered["plan"], b.basic.as_str(), "not applied while unpaid: {answered}");
    assert_eq!(answered["status"], "active", "a pending change never makes it past_due");
    let pending = &answered["pending_update"];
    assert_eq!(pending["plan"], b.pro.as_str(), "{answered}");
    assert_eq!(pending["quantity"], 1, "{answered}");
    assert_eq!(pending["expires_at"], mar_11() + 23 * SECONDS_PER_HOUR, "{answered}");
    let invoice_id = str_field(pending, "invoice").to_owned();
    assert_eq!(answered["latest_invoice"], invoice_id.as_str());
    let invoice = b.api.invoice(&invoice_id).await;
    assert_eq!(invoice["status"], "open", "{invoice}");
    assert_eq!(invoice["total"], 1_355, "21/31 of pro less 21/31 of basic: {invoice}");

    let visa = default_to(&b, "pm_card_visa").await;
    let path = format!("/v1/invoices/{invoice_id}/pay");
    let paid = b.api.post(&path, &json!({"payment_method": visa})).await.ok().clone();
    assert_eq!(paid["status"], "paid", "{paid}");
    let applied = b.api.subscription(&id).await;
    assert_eq!(applied["plan"], b.pro.as_str(), "applied once paid: {applied}");
    assert!(applied["pending_update"].is_null(), "{applied}");
    assert_eq!(period_of(&applied), (mar_1(), apr_1()), "the period is kept: {applied}");

    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let invoices = b.api.subscription_invoices(&id).await;
    let renewal = invoices.last().unwrap();
    assert_eq!(period_of(renewal), (apr_1(), may_1()), "{renewal}");
    assert_eq!(renewal["total"], PRO, "renewed at the new plan, nothing prorated twice: {renewal}");
}

#[tokio::test]
async fn an_unpaid_pending_upgrade_is_dropped_after_23_hours() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let id = b.subscribe(&b.basic).await;
    b.advance(mar_11()).await;
    default_to_declining_card(&b).await;
    let answered = b.api.update_subscription(&id, &pending_upgrade(&b)).await.ok().clone();
    let invoice_id = str_field(&answered["pending_update"], "invoice").to_owned();

    let expiry = mar_11() + 23 * SECONDS_PER_HOUR;
    b.advance(expiry - 1).await;
    let still = b.api.subscription(&id).await;
    assert!(still["pending_update"].is_object(), "one second before the expiry: {still}");

    b.advance(expiry).await;
    let dropped = b.api.subscription(&id).await;
    assert!(dropped["pending_update"].is_null(), "{dropped}");
    assert_eq!(dropped["plan"], b.basic.as_str(), "{dropped}");
    assert_eq!(dropped["status"], "active", "{dropped}");
    let voided = b.api.invoice(&invoice_id).await;
    assert_eq!(voided["status"], "void", "{voided}");
    assert_eq!(voided["voided_at"], expiry, "{voided}");

    default_to(&b, "pm_card_visa").await;
    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let invoices = b.api.subscription_invoices(&id).await;
    let renewal = invoices.last().unwrap();
    assert_eq!(renewal["total"], BASIC, "renewed at the old plan: {renewal}");
    assert_eq!(renewal["status"], "paid", "{renewal}");
}

#[tokio::test]
async fn a_pending_change_with_a_good_card_applies_at_once() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let id = b.subscribe(&b.basic).await;
    b.advance(mar_11()).await;

    let answered = b.api.update_subscription(&id, &pending_upgrade(&b)).await.ok().clone();
    assert_eq!(answered["plan"], b.pro.as_str(), "{answered}");
    assert!(answered["pending_update"].is_null(), "{answered}");
    let invoice = b.api.invoice(str_field(&answered, "latest_invoice")).await;
    assert_eq!(invoice["status"], "paid", "{invoice}");
    assert_eq!(invoice["amount_paid"], 1_355, "{invoice}");
}

#[tokio::test]
async fn what_pending_if_incomplete_cannot_mean_is_refused_and_changes_nothing() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let id = b.subscribe(&b.basic).await;
    b.advance(mar_11()).await;
    let before = b.api.subscription(&id).await;

    let refusals = [
        json!({"plan": b.pro, "payment_behavior": "pending_if_incomplete"}),
        json!({"plan": b.pro, "proration_behavior": "none", "payment_behavior": "pending_if_incomplete"}),
        json!({"metadata": {"a": "b"}, "payment_behavior": "pending_if_incomplete"}),
        json!({"plan": b.pro, "payment_behavior": "if_you_like"}),
    ];
    for body in &refusals {
        let resp = b.api.update_subscription(&id, body).await;
        assert_error(&resp, 400, "validation_error");
        assert_eq!(resp.body["error"]["param"], "payment_behavior", "{body}: {}", resp.body);
    }
    assert_eq!(b.api.subscription(&id).await, before, "nothing changed");
    assert_eq!(b.api.subscription_invoices(&id).await.len(), 1, "no invoice was made");

    default_to_declining_card(&b).await;
    b.api.update_subscription(&id, &pending_upgrade(&b)).await.ok();
    let waiting = b.api.subscription(&id).await;
    let again = b.api.update_subscription(&id, &json!({"quantity": 3})).await;
    assert_error(&again, 400, "validation_error");
    assert_eq!(b.api.subscription(&id).await, waiting, "the waiting change stays as it was");
}

/// A `send_invoice` subscription to `plan` for a customer in `country`: its first invoice
/// stays open.
async fn invoiced_subscription(b: &Billing, customer: &str, plan: &str) -> (String, Value) {
    let body = json!({
        "customer": customer, "plan": plan, "collection_method": "send_invoice",
        "days_until_due": 30,
    });
    let subscription = b.api.subscribe(&body).await.ok().clone();
    let invoice = b.api.invoice(str_field(&subscription, "latest_invoice")).await;
    assert_eq!(invoice["status"], "open", "{invoice}");
    (str_field(&subscription, "id").to_owned(), invoice)
}

#[tokio::test]
async fn a_credit_for_a_period_still_unpaid_lowers_its_open_invoice() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let (id, first) = invoiced_subscription(&b, &b.customer, &b.basic).await;
    assert_eq!(first["amount_due"], BASIC, "{first}");
    b.advance(mar_11()).await;

    b.api.update_subscription(&id, &json!({"plan": b.pro})).await.ok();
    let lowered = b.api.invoice(str_field(&first, "id")).await;
    assert_eq!(lowered["status"], "open", "{lowered}");
    assert_eq!(lowered["pre_payment_credit_notes_amount"], 677, "21/31 of 10.00: {lowered}");
    assert_eq!(lowered["amount_due"], BASIC - 677, "{lowered}");
    assert_eq!(lowered["total"], BASIC, "the invoice's own lines stay as they were");
    assert_eq!(b.balance().await, 0, "not credited to the balance as well");

    let preview = b.api.upcoming_invoice(&id, "").await;
    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let renewal = b.api.subscription_invoices(&id).await.last().unwrap().clone();
    let mut expected = vec![
        expected_line(&b.pro, 1, 2_032, (mar_11(), apr_1()), true),
        expected_line(&b.pro, 1, PRO, (apr_1(), may_1()), false),
    ];
    expected.sort();
    assert_eq!(line_summaries(&renewal), expected, "no credit line: {renewal}");
    assert_eq!(line_summaries(&preview), expected, "the preview said the same: {preview}");
    assert_eq!(renewal["total"], preview["total"]);
}

/// Mar 21 2024, 00:00:00 UTC: 11 days before the period's end.
fn mar_21() -> i64 {
    mar_11() + 10 * 24 * SECONDS_PER_HOUR
}

#[tokio::test]
async fn an_open_invoice_takes_a_credit_with_its_tax_on_a_prorated_cancellation() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    // South Africa: 15 % VAT on top of an exclusive 10.00 → 11.50 due.
    let customer = b.api.clock_customer_with_card(&b.clock, "ZA", "pm_card_visa").await;
    let (id, first) = invoiced_subscription(&b, &customer, &b.basic).await;
    assert_eq!(first["total"], 1_150, "{first}");
    b.advance(mar_11()).await;

    let path = format!("/v1/subscriptions/{id}/cancel");
    b.api.post(&path, &json!({"prorate": true})).await.ok();
    let lowered = b.api.invoice(str_field(&first, "id")).await;
    // 6.77 unused, 7.79 with its VAT (677 × 1150 / 1000 = 778.55, half-up).
    assert_eq!(lowered["pre_payment_credit_notes_amount"], 779, "{lowered}");
    assert_eq!(lowered["amount_due"], 1_150 - 779, "{lowered}");
    assert_eq!(lowered["status"], "open", "{lowered}");
    let owner = b.api.get_ok(&format!("/v1/customers/{customer}")).await;
    assert_eq!(owner["balance"], 0, "the credit went to the invoice: {owner}");
}

#[tokio::test]
async fn a_credit_beyond_what_is_due_pays_the_invoice_and_the_rest_is_a_credit_line() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let customer = b.api.clock_customer_with_card(&b.clock, "ZA", "pm_card_visa").await;
    let (id, first) = invoiced_subscription(&b, &customer, &b.basic).await;
    b.advance(mar_11()).await;
    b.api.update_subscription(&id, &json!({"plan": b.pro})).await.ok();
    let lowered = b.api.invoice(str_field(&first, "id")).await;
    assert_eq!(lowered["amount_due"], 371, "11.50 less 7.79: {lowered}");

    b.advance(mar_21()).await;
    b.api.update_subscription(&id, &json!({"plan": b.basic})).await.ok();
    let paid = b.api.invoice(str_field(&first, "id")).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(paid["paid_at"], mar_21(), "{paid}");
    assert_eq!(paid["amount_due"], 0, "{paid}");
    assert_eq!(paid["pre_payment_credit_notes_amount"], 1_150, "{paid}");
    assert!(paid["charge"].is_null(), "paid by credit alone: {paid}");

    // Pro's unused 11 days come to 10.65; the invoice took 3.71 of it with VAT, 3.23 without.
    let remaining = apr_1() - mar_21();
    let unused_pro = prorated(PRO, remaining, march_secs());
    assert_eq!(unused_pro, 1_065);
    let taken = 323;
    let renewal_preview = b.api.upcoming_invoice(&id, "").await;
    let summaries = line_summaries(&renewal_preview);
    let credit_line = expected_line(&b.pro, 1, -(unused_pro - taken), (mar_21(), apr_1()), true);
    assert!(summaries.contains(&credit_line), "the rest is a credit line: {renewal_preview}");
}
