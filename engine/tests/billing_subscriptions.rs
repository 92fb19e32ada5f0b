//! Subscriptions: what a platform's customers live through — paying, upgrading, downgrading,
//! trials, cancelling — priced to the second and never twice.
//!
//! Proves that a subscription is paid before it is answered and reads back; that a plan or
//! quantity change mid-period prorates to the second with the bundled rule's half-up integer
//! arithmetic (`create_prorations`: a negative credit line and a positive line for the rest of
//! the period on the next renewal invoice; `always_invoice`: an invoice of those lines made and
//! paid at once; `none`: no proration lines), also at the first and at the last second of a
//! period; that the upcoming-invoice preview of a renewal or of a change at a given instant is,
//! line for line and total for total, the invoice then made, and is not stored; that a downgrade
//! whose net is negative becomes a credit on the customer's balance that the next invoices use
//! (`balance_applied`) before anything is charged; that a trial ends in `active` with the first
//! invoice at trial end, or in `past_due` with the invoice open when the card declines, that a
//! trial is set by `trial_days` or `trial_end`, ended by `trial_end: "now"`, and that a change
//! while trialing makes no proration; that cancelling at period end can be undone until the
//! period ends and otherwise ends the subscription at the period end with no new invoice, that
//! cancelling now ends it at once (with a credit only when asked), that a canceled subscription
//! refuses every change (400 `subscription_canceled`) and a subscription not set to cancel
//! cannot be reactivated (400 `subscription_not_reactivatable`); that a customer bills in one
//! currency (400 `currency_mismatch`); that a change from monthly to annual starts a new period
//! at the change and invoices the year at once with the unused month credited; that a
//! `send_invoice` subscription is invoiced with a due date and never charged by the scheduler;
//! that a declined first payment leaves an `incomplete` subscription and grants no period; that
//! a renewal charges the customer's default payment method of that moment; and that every
//! malformed subscription (unknown plan, quantity 0 or 10 001, a trial end or anchor before the
//! customer's clock) is a 400 that changes nothing.
//! How: a fresh engine per test (see `common`); each customer lives on a test clock started at
//! 2024-03-01T00:00:00Z (March: 31 days), renewals and trial ends run by advancing it, never by
//! waiting; expected proration amounts are computed with `prorated` and spot-checked as numbers.

mod common;

use common::*;

const BASIC: i64 = 1_000;
const PRO: i64 = 3_000;

fn mar_1() -> i64 {
    utc(2024, 3, 1, 0, 0, 0)
}

fn apr_1() -> i64 {
    utc(2024, 4, 1, 0, 0, 0)
}

fn may_1() -> i64 {
    utc(2024, 5, 1, 0, 0, 0)
}

/// The instant of most mid-period changes here: 10 days into March, 21 days left.
fn mar_11() -> i64 {
    utc(2024, 3, 11, 0, 0, 0)
}

/// March's length, the period every change here prorates over.
fn march_secs() -> i64 {
    apr_1() - mar_1()
}

/// A clock at Mar 1 2024, a US customer (no VAT) on it paying by a good card, and two monthly
/// usd plans: basic at 10.00 and pro at 30.00.
struct Billing {
    api: Api,
    clock: String,
    customer: String,
    basic: String,
    pro: String,
}

async fn billing(engine: &Engine) -> Billing {
    let api = engine.api_a();
    let clock = api.create_clock(mar_1()).await;
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let basic = api.plan(BASIC as u64, "usd", "month").await;
    let pro = api.plan(PRO as u64, "usd", "month").await;
    Billing { api, clock, customer, basic, pro }
}

impl Billing {
    /// Subscribes the customer to `plan`; returns the subscription's id.
    async fn subscribe(&self, plan: &str) -> String {
        str_field(&self.api.subscribe_ok(&self.customer, plan).await, "id").to_string()
    }

    /// A plan with a 14-day trial at `amount` usd a month.
    async fn trial_plan(&self, amount: u64) -> String {
        let body = json!({
            "name": "With a trial", "amount": amount, "currency": "usd", "interval": "month",
            "trial_days": 14, "tax_behavior": "exclusive",
        });
        str_field(&self.api.create_plan(&body).await, "id").to_string()
    }

    async fn advance(&self, frozen_time: i64) {
        self.api.advance_clock(&self.clock, frozen_time).await;
    }

    async fn balance(&self) -> i64 {
        i64_field(&self.api.get_ok(&format!("/v1/customers/{}", self.customer)).await, "balance")
    }
}

/// The invoices that bill something: a zero invoice made at a trial's start is not a bill.
fn billed(invoices: Vec<Value>) -> Vec<Value> {
    invoices.into_iter().filter(|invoice| invoice["total"] != 0).collect()
}

/// The ledger's charges made with `charge` as their key (one expected).
async fn ledger_amounts(api: &Api, charge: &str) -> Vec<u64> {
    let ledger = api.ledger().await;
    ledger_entries(&ledger, "charge", charge)
        .iter()
        .map(|entry| u64_field(entry, "amount"))
        .collect()
}

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
async fn an_upgrade_with_create_prorations_puts_a_credit_and_a_charge_on_the_next_invoice() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let id = b.subscribe(&b.basic).await;
    b.advance(mar_11()).await;

    let changed = b.api.update_subscription(&id, &json!({"plan": b.pro})).await.ok().clone();
    assert_eq!(changed["plan"], b.pro.as_str(), "{changed}");
    assert_eq!(changed["status"], "active", "{changed}");
    assert_eq!(period_of(&changed), (mar_1(), apr_1()), "the period is kept: {changed}");
    assert_eq!(b.api.subscription_invoices(&id).await.len(), 1, "nothing is invoiced now");

    let remaining = apr_1() - mar_11();
    let (credit, charge) =
        (prorated(BASIC, remaining, march_secs()), prorated(PRO, remaining, march_secs()));
    assert_eq!((credit, charge), (677, 2_032), "21/31 of 10.00 and of 30.00, half-up");
    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    let renewal = &invoices[1];
    let mut expected = vec![
        expected_line(&b.basic, 1, -credit, (mar_11(), apr_1()), true),
        expected_line(&b.pro, 1, charge, (mar_11(), apr_1()), true),
        expected_line(&b.pro, 1, PRO, (apr_1(), may_1()), false),
    ];
    expected.sort();
    assert_eq!(line_summaries(renewal), expected, "{renewal}");
    assert_eq!(renewal["subtotal"], PRO + charge - credit, "{renewal}");
    assert_eq!(renewal["total"], 4_355, "{renewal}");
    assert_eq!(renewal["amount_due"], 4_355, "{renewal}");
    assert_eq!(renewal["status"], "paid", "{renewal}");
    assert_eq!(ledger_amounts(&b.api, str_field(renewal, "charge")).await, [4_355]);
}

#[tokio::test]
async fn an_upgrade_with_always_invoice_is_invoiced_and_paid_at_once() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let id = b.subscribe(&b.basic).await;
    b.advance(mar_11()).await;

    let body = json!({"plan": b.pro, "proration_behavior": "always_invoice"});
    let changed = b.api.update_subscription(&id, &body).await.ok().clone();
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 2, "the proration is invoiced now: {invoices:#?}");
    let proration = &invoices[1];
    assert_eq!(changed["latest_invoice"], proration["id"], "{changed}");
    let mut expected = vec![
        expected_line(&b.basic, 1, -677, (mar_11(), apr_1()), true),
        expected_line(&b.pro, 1, 2_032, (mar_11(), apr_1()), true),
    ];
    expected.sort();
    assert_eq!(line_summaries(proration), expected, "{proration}");
    assert_eq!(proration["total"], 1_355, "{proration}");
    assert_eq!(proration["status"], "paid", "{proration}");
    assert_eq!(proration["amount_paid"], 1_355, "{proration}");
    // The rule versions that made it, the proration rule's among them (the bundled one).
    let rules = &proration["rules"];
    for kind in ["pricing", "tax", "proration"] {
        assert_eq!(rules[kind]["kind"], kind, "{rules}");
        assert_eq!(rules[kind]["source"], "bundled", "{rules}");
    }
    assert_eq!(ledger_amounts(&b.api, str_field(proration, "charge")).await, [1_355]);

    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 3, "{invoices:#?}");
    assert_eq!(
        line_summaries(&invoices[2]),
        [expected_line(&b.pro, 1, PRO, (apr_1(), may_1()), false)],
        "the renewal carries no proration a second time"
    );
    assert_eq!(invoices[2]["total"], PRO);
}

#[tokio::test]
async fn a_change_with_proration_behavior_none_makes_no_proration_lines() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let id = b.subscribe(&b.basic).await;
    b.advance(mar_11()).await;

    let body = json!({"plan": b.pro, "proration_behavior": "none"});
    let changed = b.api.update_subscription(&id, &body).await.ok().clone();
    assert_eq!(changed["plan"], b.pro.as_str(), "{changed}");
    assert_eq!(b.api.subscription_invoices(&id).await.len(), 1, "nothing invoiced now");
    let next = [expected_line(&b.pro, 1, PRO, (apr_1(), may_1()), false)];
    assert_eq!(line_summaries(&b.api.upcoming_invoice(&id, "").await), next);

    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    assert_eq!(line_summaries(&invoices[1]), next);
    assert_eq!(invoices[1]["total"], PRO);
    assert_eq!(b.balance().await, 0, "no credit either");
}

/// Plans of 50 000.00 and 80 000.00 a month: prices at which one second of March is worth
/// more than half a cent, so the last second of a period shows in the lines.
async fn enterprise_plans(api: &Api) -> (String, String) {
    (api.plan(5_000_000, "usd", "month").await, api.plan(8_000_000, "usd", "month").await)
}

#[tokio::test]
async fn a_change_at_the_first_second_of_a_period_credits_the_whole_period() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let (small, large) = enterprise_plans(&b.api).await;
    let id = b.subscribe(&small).await;

    // The clock is still at the period's first second.
    let body = json!({"plan": large, "proration_behavior": "always_invoice"});
    b.api.update_subscription(&id, &body).await.ok();
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    let mut expected = vec![
        expected_line(&small, 1, -5_000_000, (mar_1(), apr_1()), true),
        expected_line(&large, 1, 8_000_000, (mar_1(), apr_1()), true),
    ];
    expected.sort();
    assert_eq!(line_summaries(&invoices[1]), expected, "{}", invoices[1]);
    assert_eq!(invoices[1]["total"], 3_000_000);
    assert_eq!(ledger_amounts(&b.api, str_field(&invoices[1], "charge")).await, [3_000_000]);
}

#[tokio::test]
async fn a_change_at_the_last_second_of_a_period_prorates_one_second() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let (small, large) = enterprise_plans(&b.api).await;
    let id = b.subscribe(&small).await;
    let last_second = apr_1() - 1;
    b.advance(last_second).await;

    b.api.update_subscription(&id, &json!({"plan": large})).await.ok();
    let (credit, charge) =
        (prorated(5_000_000, 1, march_secs()), prorated(8_000_000, 1, march_secs()));
    // 5 000 000 / 2 678 400 = 1.87 and 8 000 000 / 2 678 400 = 2.99: not whole days, not 0.
    assert_eq!((credit, charge), (2, 3));
    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    let mut expected = vec![
        expected_line(&small, 1, -credit, (last_second, apr_1()), true),
        expected_line(&large, 1, charge, (last_second, apr_1()), true),
        expected_line(&large, 1, 8_000_000, (apr_1(), may_1()), false),
    ];
    expected.sort();
    assert_eq!(line_summaries(&invoices[1]), expected, "{}", invoices[1]);
    assert_eq!(invoices[1]["total"], 8_000_001);
}

#[tokio::test]
async fn a_quantity_change_prorates_the_seats_added() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let body = json!({"customer": b.customer, "plan": b.basic, "quantity": 3});
    let subscription = b.api.subscribe(&body).await.ok().clone();
    let id = str_field(&subscription, "id");
    assert_eq!(b.api.invoice(str_field(&subscription, "latest_invoice")).await["total"], 3 * BASIC);
    b.advance(mar_11()).await;

    let changed = b.api.update_subscription(id, &json!({"quantity": 5})).await.ok().clone();
    assert_eq!(changed["quantity"], 5, "{changed}");
    let remaining = apr_1() - mar_11();
    let (credit, charge) = (
        prorated(3 * BASIC, remaining, march_secs()),
        prorated(5 * BASIC, remaining, march_secs()),
    );
    assert_eq!((credit, charge), (2_032, 3_387));
    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let invoices = b.api.subscription_invoices(id).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    let mut expected = vec![
        expected_line(&b.basic, 3, -credit, (mar_11(), apr_1()), true),
        expected_line(&b.basic, 5, charge, (mar_11(), apr_1()), true),
        expected_line(&b.basic, 5, 5 * BASIC, (apr_1(), may_1()), false),
    ];
    expected.sort();
    assert_eq!(line_summaries(&invoices[1]), expected, "{}", invoices[1]);
    assert_eq!(invoices[1]["total"], 6_355);
}

#[tokio::test]
async fn a_change_from_monthly_to_annual_resets_the_anchor_and_invoices_the_year_at_once() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let annual = b.api.plan(10_000, "usd", "year").await;
    let id = b.subscribe(&b.basic).await;
    b.advance(mar_11()).await;

    let changed = b.api.update_subscription(&id, &json!({"plan": annual})).await.ok().clone();
    let year = (mar_11(), utc(2025, 3, 11, 0, 0, 0));
    assert_eq!(period_of(&changed), year, "a new period from the change: {changed}");
    assert_eq!(changed["billing_cycle_anchor"], mar_11(), "{changed}");
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 2, "the year is invoiced at once: {invoices:#?}");
    let mut expected = vec![
        expected_line(&b.basic, 1, -677, (mar_11(), apr_1()), true),
        expected_line(&annual, 1, 10_000, year, false),
    ];
    expected.sort();
    assert_eq!(line_summaries(&invoices[1]), expected, "{}", invoices[1]);
    assert_eq!(invoices[1]["total"], 9_323, "{}", invoices[1]);
    assert_eq!(invoices[1]["status"], "paid", "{}", invoices[1]);
    assert_eq!(ledger_amounts(&b.api, str_field(&invoices[1], "charge")).await, [9_323]);

    // Nothing in April: the next invoice is the next year's.
    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    assert_eq!(b.api.subscription_invoices(&id).await.len(), 2, "no April invoice");
    b.advance(year.1 + SECONDS_PER_HOUR).await;
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 3, "{invoices:#?}");
    let next_year = (year.1, utc(2026, 3, 11, 0, 0, 0));
    assert_eq!(line_summaries(&invoices[2]), [expected_line(&annual, 1, 10_000, next_year, false)]);
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
const PREVIEWED_FIELDS: &[&str] = &[
    "customer",
    "subscription",
    "currency",
    "subtotal",
    "discounts",
    "tax",
    "total",
    "balance_applied",
    "amount_due",
    "period_start",
    "period_end",
];

#[track_caller]
fn assert_preview_is(preview: &Value, invoice: &Value) {
    assert_eq!(line_summaries(preview), line_summaries(invoice), "lines of {preview} vs {invoice}");
    for field in PREVIEWED_FIELDS {
        assert_eq!(preview[field], invoice[field], "`{field}` of {preview} vs {invoice}");
    }
}

#[tokio::test]
async fn the_upcoming_invoice_of_a_change_is_the_invoice_the_change_then_makes() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let id = b.subscribe(&b.basic).await;
    b.advance(mar_11()).await;

    // A change to two seats of pro, previewed for an instant nine days later, to the second.
    let change_at = utc(2024, 3, 20, 12, 34, 56);
    let query = format!("?plan={}&quantity=2&proration_date={change_at}", b.pro);
    let preview = b.api.upcoming_invoice(&id, &query).await;
    assert!(preview["id"].is_null(), "a preview has no id: {preview}");
    let remaining = apr_1() - change_at;
    let mut expected = vec![
        expected_line(
            &b.basic,
            1,
            -prorated(BASIC, remaining, march_secs()),
            (change_at, apr_1()),
            true,
        ),
        expected_line(
            &b.pro,
            2,
            prorated(2 * PRO, remaining, march_secs()),
            (change_at, apr_1()),
            true,
        ),
        expected_line(&b.pro, 2, 2 * PRO, (apr_1(), may_1()), false),
    ];
    expected.sort();
    assert_eq!(line_summaries(&preview), expected, "{preview}");
    assert_eq!(b.api.subscription_invoices(&id).await.len(), 1, "a preview is not stored");
    assert_eq!(b.api.subscription(&id).await["plan"], b.basic.as_str(), "nor applied");

    b.advance(change_at).await;
    b.api.update_subscription(&id, &json!({"plan": b.pro, "quantity": 2})).await.ok();
    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    assert_preview_is(&preview, &invoices[1]);
}

#[tokio::test]
async fn the_upcoming_invoice_of_a_renewal_is_the_renewal_invoice_and_is_not_stored() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let body = json!({"customer": b.customer, "plan": b.pro, "quantity": 4});
    let id = b.api.subscribe(&body).await.id();

    let preview = b.api.upcoming_invoice(&id, "").await;
    assert!(preview["id"].is_null(), "{preview}");
    assert_eq!(
        line_summaries(&preview),
        [expected_line(&b.pro, 4, 4 * PRO, (apr_1(), may_1()), false)]
    );
    assert_eq!(preview["amount_due"], 4 * PRO, "{preview}");
    assert_eq!(b.api.subscription_invoices(&id).await.len(), 1, "a preview is not stored");
    assert_eq!(b.api.customer_invoices(&b.customer).await.len(), 1);

    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    assert_preview_is(&preview, &invoices[1]);
}

#[tokio::test]
async fn a_downgrade_leaves_a_credit_on_the_balance_that_the_next_invoices_use() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let id = b.subscribe(&b.pro).await;
    b.advance(mar_11()).await;

    let body = json!({"plan": b.basic, "proration_behavior": "always_invoice"});
    b.api.update_subscription(&id, &body).await.ok();
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    let proration = &invoices[1];
    let mut expected = vec![
        expected_line(&b.pro, 1, -2_032, (mar_11(), apr_1()), true),
        expected_line(&b.basic, 1, 677, (mar_11(), apr_1()), true),
    ];
    expected.sort();
    assert_eq!(line_summaries(proration), expected, "{proration}");
    assert_eq!(proration["amount_due"], 0, "{proration}");
    assert_eq!(proration["status"], "paid", "{proration}");
    assert!(proration["charge"].is_null(), "nothing to charge: {proration}");
    assert_eq!(b.balance().await, -1_355, "the net credit is the customer's");
    assert_eq!(b.api.customer_charges(&b.customer).await.len(), 1, "only the first payment");

    // April: 10.00 due, all of it from the credit.
    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let april = b.api.subscription_invoices(&id).await.pop().expect("an April invoice");
    assert_eq!(period_of(&april), (apr_1(), may_1()), "{april}");
    assert_eq!(april["total"], BASIC, "{april}");
    assert_eq!(april["balance_applied"], BASIC, "{april}");
    assert_eq!(april["amount_due"], 0, "{april}");
    assert_eq!(april["status"], "paid", "{april}");
    assert!(april["charge"].is_null(), "{april}");
    assert_eq!(b.balance().await, -355);

    // May: the last 3.55 of credit, then 6.45 charged.
    b.advance(may_1() + SECONDS_PER_HOUR).await;
    let may = b.api.subscription_invoices(&id).await.pop().expect("a May invoice");
    assert_eq!(may["balance_applied"], 355, "{may}");
    assert_eq!(may["amount_due"], 645, "{may}");
    assert_eq!(may["amount_paid"], 645, "{may}");
    assert_eq!(may["status"], "paid", "{may}");
    assert_eq!(ledger_amounts(&b.api, str_field(&may, "charge")).await, [645]);
    assert_eq!(b.balance().await, 0);
}

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
async fn a_declined_first_payment_keeps_the_subscription_incomplete_and_grants_no_period() {
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

    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let later = b.api.subscription(id).await;
    assert!(
        matches!(later["status"].as_str(), Some("incomplete" | "incomplete_expired")),
        "an unpaid first period is never renewed: {later}"
    );
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
