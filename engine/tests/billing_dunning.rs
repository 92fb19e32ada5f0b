//! Dunning: what a failed renewal leads to, retry by retry, on a test clock.
//!
//! Proves that a renewal whose card declines makes the subscription `past_due` and plans the
//! retries at exactly the configured days after the first failure (`next_payment_attempt`, the
//! invoice's `attempt_count`), not one second early; that after the last failed retry the
//! default final action makes it `unpaid`, whose next invoices are made but not charged; that a
//! new default payment method is tried at once on the invoice in dunning and then on the ones
//! made meanwhile, oldest first, bringing the subscription back to `active` with exactly one
//! successful charge per period for the rest of the year; that `final_action = "cancel"` cancels
//! the subscription and writes the invoice off (`uncollectible`) and `"past_due"` leaves it
//! `past_due` with nothing more planned; that a hard decline (an expired card) is not retried
//! until the payment method changes, and that a new payment method of the subscription itself is
//! tried at once (another customer's is refused); that paying the invoice by hand ends the
//! dunning; and that `GET /v1/customers/{id}/entitlements` grants a plan's features while the subscription is
//! trialing or active, and while it is behind on a payment until its grace ends (day 8 with the
//! defaults: a day past the last retry), present on the grace's last second and absent on the
//! next, again once paid, never for a canceled subscription nor to another account.
//! How: a fresh engine per test (see `common`), customers on a test clock started at
//! 2025-01-01T00:00:00Z, the sandbox's declining tokens; every retry runs by advancing the clock.

mod common;

use common::*;

const DAY: i64 = 24 * 60 * 60;
const PRICE: u64 = 1_000;

fn jan_1() -> i64 {
    utc(2025, 1, 1, 0, 0, 0)
}

struct Dunned {
    api: Api,
    clock: String,
    customer: String,
    subscription: String,
}

impl Dunned {
    /// A customer on a clock at Jan 1 2025 paying a monthly plan by a good card.
    async fn start(engine: &Engine) -> Dunned {
        let api = engine.api_a();
        let clock = api.create_clock(jan_1()).await;
        let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
        let plan = api.plan(PRICE, "usd", "month").await;
        let subscribed = api.subscribe_ok(&customer, &plan).await;
        let subscription = str_field(&subscribed, "id").to_owned();
        Dunned { api, clock, customer, subscription }
    }

    async fn advance(&self, to: i64) {
        self.api.advance_clock(&self.clock, to).await;
    }

    /// Makes a card of `token` the customer's default payment method.
    async fn default_to(&self, token: &str) {
        let method = self.api.add_payment_method(&self.customer, token).await;
        let body = json!({"default_payment_method": method["id"]});
        self.api.post(&format!("/v1/customers/{}", self.customer), &body).await.ok();
    }

    async fn status(&self) -> String {
        str_field(&self.api.subscription(&self.subscription).await, "status").to_owned()
    }

    /// The subscription's invoices, oldest first.
    async fn invoices(&self) -> Vec<Value> {
        self.api.subscription_invoices(&self.subscription).await
    }

    async fn invoice_of_period(&self, start: i64) -> Value {
        let invoices = self.invoices().await;
        let found = invoices.iter().find(|invoice| invoice["period_start"] == start);
        found.unwrap_or_else(|| panic!("no invoice for {start}: {invoices:#?}")).clone()
    }

    async fn succeeded_charges(&self) -> Vec<Value> {
        let charges = self.api.customer_charges(&self.customer).await;
        charges.into_iter().filter(|charge| charge["status"] == "succeeded").collect()
    }
}

#[tokio::test]
async fn a_year_with_a_card_that_declines_from_april_and_is_replaced_in_may() {
    let engine = Engine::start(Config::default()).await;
    let d = Dunned::start(&engine).await;
    let (apr_1, may_1) = (utc(2025, 4, 1, 0, 0, 0), utc(2025, 5, 1, 0, 0, 0));
    d.advance(utc(2025, 3, 15, 0, 0, 0)).await;
    d.default_to("pm_card_chargeDeclined").await;

    d.advance(apr_1).await;
    assert_eq!(d.status().await, "past_due");
    let april = d.invoice_of_period(apr_1).await;
    assert_eq!(april["status"], "open", "{april}");
    assert_eq!(april["attempt_count"], 1, "{april}");
    assert_eq!(april["next_payment_attempt"], apr_1 + DAY, "one day after the failure");

    // Each retry at its day, to the second: days 1, 3, 5 and 7 after the first failure.
    let mut attempts = 1;
    for (day, next) in [(1, Some(3)), (3, Some(5)), (5, Some(7)), (7, None)] {
        d.advance(apr_1 + day * DAY - 1).await;
        let before = d.invoice_of_period(apr_1).await;
        assert_eq!(before["attempt_count"], attempts, "not a second early (day {day})");
        d.advance(apr_1 + day * DAY).await;
        attempts += 1;
        let after = d.invoice_of_period(apr_1).await;
        assert_eq!(after["attempt_count"], attempts, "retried on day {day}: {after}");
        let expected_next = next.map(|next: i64| apr_1 + next * DAY);
        assert_eq!(after["next_payment_attempt"], json!(expected_next), "day {day}: {after}");
    }
    assert_eq!(d.status().await, "unpaid", "the default final action");
    assert_eq!(d.invoice_of_period(apr_1).await["status"], "open", "still payable");

    d.advance(may_1).await;
    let may = d.invoice_of_period(may_1).await;
    assert_eq!(may["status"], "open", "{may}");
    assert!(may["charge"].is_null(), "an unpaid subscription's invoice is not charged: {may}");
    assert_eq!(may["attempt_count"], 0, "{may}");

    let may_5 = utc(2025, 5, 5, 0, 0, 0);
    d.advance(may_5).await;
    d.default_to("pm_card_visa").await;
    d.advance(may_5 + 1).await;
    assert_eq!(d.invoice_of_period(apr_1).await["status"], "paid");
    assert_eq!(d.invoice_of_period(may_1).await["status"], "paid");
    assert_eq!(d.status().await, "active");

    d.advance(utc(2025, 12, 31, 0, 0, 0)).await;
    let invoices = d.invoices().await;
    assert_eq!(invoices.len(), 12, "one invoice a month: {invoices:#?}");
    assert!(invoices.iter().all(|invoice| invoice["status"] == "paid"), "{invoices:#?}");
    let paid = d.succeeded_charges().await;
    assert_eq!(paid.len(), 12, "exactly one successful charge per period");
    let mut paid_invoices: Vec<_> = paid.iter().map(|charge| charge["invoice"].clone()).collect();
    paid_invoices.sort_by_key(|invoice| invoice.to_string());
    paid_invoices.dedup();
    assert_eq!(paid_invoices.len(), 12, "no invoice paid twice");
}

/// Dunning configured with one retry after a day and `final_action`.
fn with_final_action(action: &str) -> Config {
    Config::default()
        .with_toml(&format!("[billing.dunning]\nretry_days = [1]\nfinal_action = \"{action}\"\n"))
}

/// Starts a subscription whose February renewal declines; answers it with Feb 1.
async fn declined_in_february(engine: &Engine, token: &str) -> (Dunned, i64) {
    let d = Dunned::start(engine).await;
    d.default_to(token).await;
    let feb_1 = utc(2025, 2, 1, 0, 0, 0);
    d.advance(feb_1).await;
    assert_eq!(d.status().await, "past_due");
    (d, feb_1)
}

#[tokio::test]
async fn the_final_action_cancel_writes_the_invoice_off() {
    let engine = Engine::start(with_final_action("cancel")).await;
    let (d, feb_1) = declined_in_february(&engine, "pm_card_chargeDeclined").await;
    d.advance(feb_1 + DAY).await;
    let canceled = d.api.subscription(&d.subscription).await;
    assert_eq!(canceled["status"], "canceled", "{canceled}");
    assert_eq!(canceled["ended_at"], feb_1 + DAY, "{canceled}");
    let invoice = d.invoice_of_period(feb_1).await;
    assert_eq!(invoice["status"], "uncollectible", "{invoice}");
    assert_eq!(invoice["attempt_count"], 2, "{invoice}");
    assert!(invoice["next_payment_attempt"].is_null(), "{invoice}");
    d.advance(utc(2025, 3, 2, 0, 0, 0)).await;
    assert_eq!(d.invoices().await.len(), 2, "nothing more is invoiced");
}

#[tokio::test]
async fn the_final_action_past_due_plans_nothing_more() {
    let engine = Engine::start(with_final_action("past_due")).await;
    let (d, feb_1) = declined_in_february(&engine, "pm_card_chargeDeclined").await;
    d.advance(feb_1 + 2 * DAY).await;
    assert_eq!(d.status().await, "past_due");
    let invoice = d.invoice_of_period(feb_1).await;
    assert_eq!(
        (invoice["status"].clone(), invoice["attempt_count"].clone()),
        (json!("open"), json!(2))
    );
    assert!(invoice["next_payment_attempt"].is_null(), "{invoice}");
}

#[tokio::test]
async fn a_hard_decline_waits_for_a_new_payment_method() {
    let engine = Engine::start(Config::default()).await;
    let (d, feb_1) = declined_in_february(&engine, "pm_card_chargeDeclinedExpiredCard").await;
    let invoice = d.invoice_of_period(feb_1).await;
    assert!(invoice["next_payment_attempt"].is_null(), "an expired card is not retried: {invoice}");
    d.advance(feb_1 + 10 * DAY).await;
    assert_eq!(d.invoice_of_period(feb_1).await["attempt_count"], 1, "no retry in ten days");
    assert_eq!(d.status().await, "past_due");

    d.default_to("pm_card_visa").await;
    let planned = d.invoice_of_period(feb_1).await;
    assert_eq!(planned["next_payment_attempt"], feb_1 + 10 * DAY, "tried at once: {planned}");
    d.advance(feb_1 + 10 * DAY + 1).await;
    let paid = d.invoice_of_period(feb_1).await;
    assert_eq!(paid["status"], "paid", "tried at once with the new card: {paid}");
    assert_eq!(paid["attempt_count"], 2, "{paid}");
    assert_eq!(d.status().await, "active");
}

#[tokio::test]
async fn a_new_payment_method_of_the_subscription_itself_is_tried_at_once() {
    let engine = Engine::start(Config::default()).await;
    let (d, feb_1) = declined_in_february(&engine, "pm_card_chargeDeclinedExpiredCard").await;
    d.advance(feb_1 + 2 * DAY).await;
    let path = format!("/v1/subscriptions/{}", d.subscription);
    let (_, anothers) = d.api.customer_with_card("pm_card_visa").await;
    let refused = d.api.post(&path, &json!({"payment_method": anothers})).await;
    assert_error(&refused, 400, "payment_method_invalid");
    assert_eq!(d.invoice_of_period(feb_1).await["attempt_count"], 1, "nothing tried");

    let visa = d.api.add_payment_method(&d.customer, "pm_card_visa").await;
    let changed = d.api.post(&path, &json!({"payment_method": visa["id"]})).await.ok().clone();
    assert_eq!(changed["payment_method"], visa["id"], "{changed}");
    let planned = d.invoice_of_period(feb_1).await;
    assert_eq!(planned["next_payment_attempt"], feb_1 + 2 * DAY, "tried at once: {planned}");
    d.advance(feb_1 + 2 * DAY + 1).await;
    let paid = d.invoice_of_period(feb_1).await;
    assert_eq!(paid["status"], "paid", "with the subscription's own card: {paid}");
    assert_eq!(paid["attempt_count"], 2, "{paid}");
    assert_eq!(d.status().await, "active");
}

#[tokio::test]
async fn paying_the_invoice_by_hand_ends_the_dunning() {
    let engine = Engine::start(Config::default()).await;
    let (d, feb_1) = declined_in_february(&engine, "pm_card_chargeDeclined").await;
    let invoice = d.invoice_of_period(feb_1).await;
    let visa = d.api.add_payment_method(&d.customer, "pm_card_visa").await;
    let path = format!("/v1/invoices/{}/pay", str_field(&invoice, "id"));
    let paid = d.api.post(&path, &json!({"payment_method": visa["id"]})).await.ok().clone();
    assert_eq!(paid["status"], "paid", "{paid}");
    assert!(paid["next_payment_attempt"].is_null(), "{paid}");
    assert_eq!(d.status().await, "active");

    d.advance(feb_1 + 8 * DAY).await;
    let after = d.invoice_of_period(feb_1).await;
    assert_eq!(after["attempt_count"], 2, "no retry after it was paid: {after}");
    assert_eq!(d.succeeded_charges().await.len(), 2, "January's and the payment by hand");
}

/// A customer on a clock at Jan 1 2025 with a card, subscribed to a plan granting `features`.
async fn subscribed_with_features(engine: &Engine, features: &[&str]) -> Dunned {
    let api = engine.api_a();
    let clock = api.create_clock(jan_1()).await;
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let body = json!({
        "name": "Premium", "amount": PRICE, "currency": "usd", "interval": "month",
        "features": features,
    });
    let plan = api.create_plan(&body).await;
    let subscribed = api.subscribe_ok(&customer, str_field(&plan, "id")).await;
    let subscription = str_field(&subscribed, "id").to_owned();
    Dunned { api, clock, customer, subscription }
}

impl Dunned {
    async fn entitlements(&self) -> Value {
        self.api.get_ok(&format!("/v1/customers/{}/entitlements", self.customer)).await
    }

    async fn entitlement(&self, feature: &str) -> Resp {
        self.api.get(&format!("/v1/customers/{}/entitlements/{feature}", self.customer)).await
    }
}

#[tokio::test]
async fn features_are_granted_while_active_and_through_the_grace_to_the_second() {
    let engine = Engine::start(Config::default()).await;
    let d = subscribed_with_features(&engine, &["courses", "downloads"]).await;
    let listed = d.entitlements().await;
    assert_eq!(listed["object"], "list");
    let expected = |expires_at: Value| {
        json!([
            {"object": "entitlement", "feature": "courses", "source": d.subscription, "expires_at": expires_at},
            {"object": "entitlement", "feature": "downloads", "source": d.subscription, "expires_at": expires_at},
        ])
    };
    assert_eq!(listed["data"], expected(Value::Null), "active: while it stays so");

    d.default_to("pm_card_chargeDeclined").await;
    let feb_1 = utc(2025, 2, 1, 0, 0, 0);
    d.advance(feb_1).await;
    assert_eq!(d.status().await, "past_due");
    // Grace: 7 days after the failure, but at least a day past the last retry (day 7): day 8.
    let grace_end = feb_1 + 8 * DAY;
    assert_eq!(d.entitlements().await["data"], expected(json!(grace_end)));

    d.advance(grace_end - 1).await;
    assert_eq!(d.status().await, "unpaid", "the retries are over");
    let last_second = d.entitlement("courses").await;
    assert_eq!(last_second.status, 200, "still granted on the grace's last second");
    assert_eq!(last_second.body["expires_at"], grace_end);

    d.advance(grace_end).await;
    assert_error(&d.entitlement("courses").await, 404, "not_found");
    assert_eq!(d.entitlements().await["data"], json!([]), "nothing once the grace is over");

    // Paid again: granted again, for as long as it stays active.
    d.default_to("pm_card_visa").await;
    d.advance(grace_end + 1).await;
    assert_eq!(d.status().await, "active");
    assert_eq!(d.entitlements().await["data"], expected(Value::Null));
}

#[tokio::test]
async fn a_trial_grants_a_canceled_subscription_does_not_and_accounts_stay_apart() {
    let engine = Engine::start(Config::default()).await;
    let d = subscribed_with_features(&engine, &["courses"]).await;
    assert_eq!(d.entitlement("courses").await.status, 200);
    assert_error(&d.entitlement("tutoring").await, 404, "not_found");

    let other = engine.api_b();
    let foreign = other.get(&format!("/v1/customers/{}/entitlements", d.customer)).await;
    assert_error(&foreign, 404, "not_found");

    d.api.post(&format!("/v1/subscriptions/{}/cancel", d.subscription), &json!({})).await.ok();
    assert_eq!(d.entitlements().await["data"], json!([]), "canceled: nothing");

    let body = json!({
        "name": "Trial", "amount": PRICE, "currency": "usd", "interval": "month",
        "trial_days": 14, "features": ["sandbox"],
    });
    let plan = d.api.create_plan(&body).await;
    let trial = json!({"customer": d.customer, "plan": plan["id"]});
    let trialing = d.api.subscribe(&trial).await.ok().clone();
    assert_eq!(trialing["status"], "trialing");
    let granted = d.entitlement("sandbox").await;
    assert_eq!(granted.status, 200, "{}", granted.text);
    assert_eq!(granted.body["source"], trialing["id"]);
    assert!(granted.body["expires_at"].is_null());
}
