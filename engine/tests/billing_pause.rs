//! Pausing and resuming a subscription.
//!
//! Proves that a paused subscription makes no invoice at its period's end and grants no
//! features, and resumes by itself at `resumes_at` to the second, with a new period anchored
//! there (the paused time is never charged) invoiced and paid at once; that one paused without
//! `resumes_at` stays paused until `resume`, which starts and charges the new period before it
//! answers; that pausing a `past_due` subscription stops its retries; and that pausing what is
//! not running, a `resumes_at` in the past, or resuming what is not paused is a 400 that changes
//! nothing.
//! How: a fresh engine per test (see `common`), a customer on a test clock started at
//! 2025-01-01T00:00:00Z with a card and a monthly plan granting `courses`.

mod common;

use common::*;

const DAY: i64 = 24 * 60 * 60;

struct Paused {
    api: Api,
    clock: String,
    customer: String,
    subscription: String,
}

impl Paused {
    async fn start(engine: &Engine, card: &str) -> Paused {
        let api = engine.api_a();
        let clock = api.create_clock(utc(2025, 1, 1, 0, 0, 0)).await;
        let customer = api.clock_customer_with_card(&clock, "US", card).await;
        let body = json!({
            "name": "Premium", "amount": 1_000, "currency": "usd", "interval": "month",
            "features": ["courses"],
        });
        let plan = api.create_plan(&body).await;
        let subscription = json!({"customer": customer, "plan": plan["id"]});
        let subscribed = api.subscribe(&subscription).await;
        let id = match subscribed.status {
            200 => str_field(&subscribed.body, "id").to_owned(),
            _ => str_field(&subscribed.body["error"], "subscription").to_owned(),
        };
        Paused { api, clock, customer, subscription: id }
    }

    async fn advance(&self, to: i64) {
        self.api.advance_clock(&self.clock, to).await;
    }

    async fn post(&self, action: &str, body: &Value) -> Resp {
        self.api.post(&format!("/v1/subscriptions/{}/{action}", self.subscription), body).await
    }

    async fn now(&self) -> Value {
        self.api.subscription(&self.subscription).await
    }

    async fn granted(&self) -> Value {
        let path = format!("/v1/customers/{}/entitlements", self.customer);
        self.api.get_ok(&path).await["data"].clone()
    }
}

#[tokio::test]
async fn a_paused_subscription_resumes_by_itself_with_a_new_period() {
    let engine = Engine::start(Config::default()).await;
    let p = Paused::start(&engine, "pm_card_visa").await;
    let (feb_10, mar_20) = (utc(2025, 2, 10, 0, 0, 0), utc(2025, 3, 20, 9, 30, 0));
    p.advance(feb_10).await;
    let paused = p.post("pause", &json!({"resumes_at": mar_20})).await.ok().clone();
    assert_eq!(paused["status"], "paused", "{paused}");
    assert_eq!(paused["resumes_at"], mar_20, "{paused}");
    assert_eq!(p.granted().await, json!([]), "no features while paused");

    p.advance(mar_20 - 1).await;
    assert_eq!(p.now().await["status"], "paused");
    let invoices = p.api.subscription_invoices(&p.subscription).await;
    assert_eq!(invoices.len(), 2, "January's and February's, none for March: {invoices:#?}");

    p.advance(mar_20).await;
    let resumed = p.now().await;
    assert_eq!(resumed["status"], "active", "{resumed}");
    assert_eq!(resumed["billing_cycle_anchor"], mar_20);
    assert_eq!(period_of(&resumed), (mar_20, utc(2025, 4, 20, 9, 30, 0)), "{resumed}");
    assert!(resumed["resumes_at"].is_null());
    let invoices = p.api.subscription_invoices(&p.subscription).await;
    let new_period = invoices.last().unwrap();
    assert_eq!(period_of(new_period), period_of(&resumed), "{new_period}");
    assert_eq!(new_period["status"], "paid", "{new_period}");
    assert_eq!(new_period["total"], 1_000, "a whole period from the resume: {new_period}");
    assert_eq!(p.granted().await.as_array().unwrap().len(), 1, "features are back");
}

#[tokio::test]
async fn a_pause_without_an_end_waits_for_resume() {
    let engine = Engine::start(Config::default()).await;
    let p = Paused::start(&engine, "pm_card_visa").await;
    p.advance(utc(2025, 1, 15, 0, 0, 0)).await;
    // No body at all: pause until resumed.
    let path = format!("/v1/subscriptions/{}/pause", p.subscription);
    let paused = p.api.post_raw(&path, Vec::new(), None).await.ok().clone();
    assert!(paused["resumes_at"].is_null(), "{paused}");
    let june = utc(2025, 6, 1, 0, 0, 0);
    p.advance(june).await;
    assert_eq!(p.now().await["status"], "paused", "still paused months later");
    assert_eq!(p.api.subscription_invoices(&p.subscription).await.len(), 1);

    let resumed = p.post("resume", &json!({})).await.ok().clone();
    assert_eq!(resumed["status"], "active", "{resumed}");
    assert_eq!(period_of(&resumed), (june, utc(2025, 7, 1, 0, 0, 0)), "{resumed}");
    let latest = p.api.invoice(str_field(&resumed, "latest_invoice")).await;
    assert_eq!(latest["status"], "paid", "charged before the answer: {latest}");
}

#[tokio::test]
async fn pausing_a_past_due_subscription_stops_its_retries() {
    let engine = Engine::start(Config::default()).await;
    let p = Paused::start(&engine, "pm_card_visa").await;
    let declining = p.api.add_payment_method(&p.customer, "pm_card_chargeDeclined").await;
    let body = json!({"default_payment_method": declining["id"]});
    p.api.post(&format!("/v1/customers/{}", p.customer), &body).await.ok();
    let feb_1 = utc(2025, 2, 1, 0, 0, 0);
    p.advance(feb_1).await;
    assert_eq!(p.now().await["status"], "past_due");

    p.post("pause", &json!({})).await.ok();
    p.advance(feb_1 + 10 * DAY).await;
    let invoices = p.api.subscription_invoices(&p.subscription).await;
    let february = invoices.last().unwrap();
    assert_eq!(february["attempt_count"], 1, "no retry while paused: {february}");
    assert!(february["next_payment_attempt"].is_null(), "{february}");
    assert_eq!(february["status"], "open", "still payable by hand: {february}");
}

#[tokio::test]
async fn what_cannot_be_paused_or_resumed_is_refused_and_changes_nothing() {
    let engine = Engine::start(Config::default()).await;
    let p = Paused::start(&engine, "pm_card_visa").await;
    let jan_2 = utc(2025, 1, 2, 0, 0, 0);
    p.advance(jan_2).await;
    let before = p.now().await;

    assert_error(&p.post("resume", &json!({})).await, 400, "validation_error");
    let past = p.post("pause", &json!({"resumes_at": jan_2})).await;
    assert_error(&past, 400, "validation_error");
    assert_eq!(past.body["error"]["param"], "resumes_at");
    assert_error(&p.post("pause", &json!({"resumes_at": "soon"})).await, 400, "validation_error");
    assert_eq!(p.now().await, before, "nothing changed");

    p.post("cancel", &json!({})).await.ok();
    assert_error(&p.post("pause", &json!({})).await, 400, "subscription_canceled");

    let declined = Paused::start(&engine, "pm_card_chargeDeclined").await;
    assert_eq!(declined.now().await["status"], "incomplete");
    assert_error(&declined.post("pause", &json!({})).await, 400, "validation_error");
}
