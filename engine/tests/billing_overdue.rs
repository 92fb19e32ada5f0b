//! Dunning for invoices paid by hand (`send_invoice`): reminders, grace and the final action,
//! never a charge.
//!
//! Proves that an unpaid `send_invoice` invoice makes its subscription `past_due` on its due
//! date to the second (not a second early) with a first reminder, then reminds on exactly the
//! configured days after the due date (`reminders_sent`, `next_reminder_at`), with
//! `next_payment_attempt` always null; that after the last reminder the default final action
//! makes the subscription `unpaid`; that the plan's features last through the grace (a day past
//! the last reminder) and not a second longer; that no charge is ever made for it, not even when
//! the customer gets a new default card; that paying it by hand brings the subscription back to
//! `active` and its features back; and that with `final_action = "cancel"` the subscription is
//! canceled and the invoice written off.
//! How: a fresh engine per test, a customer on a test clock started at 2025-01-01T00:00:00Z
//! with a card on file, a monthly plan with a feature, `days_until_due = 10`.

mod common;

use common::*;

const DAY: i64 = 24 * 60 * 60;

fn jan_1() -> i64 {
    utc(2025, 1, 1, 0, 0, 0)
}

struct PaidByHand {
    api: Api,
    clock: String,
    customer: String,
    subscription: String,
    invoice: String,
}

impl PaidByHand {
    async fn start(engine: &Engine) -> PaidByHand {
        let api = engine.api_a();
        let clock = api.create_clock(jan_1()).await;
        let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
        let plan = api
            .create_plan(&json!({
                "name": "School", "amount": 5_000, "currency": "usd", "interval": "month",
                "features": ["classroom"],
            }))
            .await;
        let body = json!({
            "customer": customer, "plan": plan["id"],
            "collection_method": "send_invoice", "days_until_due": 10,
        });
        let subscription = api.subscribe(&body).await.ok().clone();
        let invoice = str_field(&subscription, "latest_invoice").to_owned();
        let subscription = str_field(&subscription, "id").to_owned();
        PaidByHand { api, clock, customer, subscription, invoice }
    }

    async fn advance(&self, to: i64) {
        self.api.advance_clock(&self.clock, to).await;
    }

    async fn status(&self) -> String {
        str_field(&self.api.subscription(&self.subscription).await, "status").to_owned()
    }

    async fn invoice(&self) -> Value {
        self.api.invoice(&self.invoice).await
    }

    async fn entitled(&self) -> bool {
        let path = format!("/v1/customers/{}/entitlements/classroom", self.customer);
        let answer = self.api.get(&path).await;
        match answer.status {
            200 => true,
            404 => false,
            other => panic!("entitlement answered {other}: {answer:?}"),
        }
    }
}

#[tokio::test]
async fn an_overdue_invoice_is_reminded_on_the_dunning_days_and_never_charged() {
    let engine = Engine::start(Config::default()).await;
    let p = PaidByHand::start(&engine).await;
    let due = jan_1() + 10 * DAY;
    let invoice = p.invoice().await;
    assert_eq!(invoice["due_date"], due, "{invoice}");
    assert_eq!(invoice["next_reminder_at"], due, "the due date is watched: {invoice}");

    p.advance(due - 1).await;
    assert_eq!(p.status().await, "active", "not overdue a second early");
    assert_eq!(p.invoice().await["reminders_sent"], 0);

    p.advance(due).await;
    assert_eq!(p.status().await, "past_due", "overdue on its due date");
    let reminded = p.invoice().await;
    assert_eq!(reminded["reminders_sent"], 1, "{reminded}");
    assert_eq!(reminded["next_reminder_at"], due + DAY, "{reminded}");
    assert!(reminded["next_payment_attempt"].is_null(), "never charged: {reminded}");

    // A new default card charges nothing: an invoice paid by hand waits for the customer.
    let card = p.api.add_payment_method(&p.customer, "pm_card_mastercard").await;
    let body = json!({"default_payment_method": card["id"]});
    p.api.post(&format!("/v1/customers/{}", p.customer), &body).await.ok();

    let mut sent = 1;
    for (day, next) in [(1, Some(3)), (3, Some(5)), (5, Some(7)), (7, None)] {
        p.advance(due + day * DAY - 1).await;
        assert_eq!(p.invoice().await["reminders_sent"], sent, "not a second early (day {day})");
        p.advance(due + day * DAY).await;
        sent += 1;
        let after = p.invoice().await;
        assert_eq!(after["reminders_sent"], sent, "reminded on day {day}: {after}");
        let expected = next.map(|next: i64| due + next * DAY);
        assert_eq!(after["next_reminder_at"], json!(expected), "day {day}: {after}");
    }
    assert_eq!(p.status().await, "unpaid", "the default final action");
    assert_eq!(p.invoice().await["status"], "open", "still payable");

    // Grace: a day past the last reminder (day 8), to the second.
    let grace_end = due + 8 * DAY;
    p.advance(grace_end - 1).await;
    assert!(p.entitled().await, "the last second of grace");
    p.advance(grace_end).await;
    assert!(!p.entitled().await, "grace is over");
    assert!(p.api.customer_charges(&p.customer).await.is_empty(), "nothing was ever charged");

    p.api.post(&format!("/v1/invoices/{}/pay", p.invoice), &json!({})).await.ok();
    assert_eq!(p.invoice().await["status"], "paid");
    assert!(p.invoice().await["next_reminder_at"].is_null());
    assert_eq!(p.status().await, "active", "paid by hand");
    assert!(p.entitled().await, "features back once paid");
}

#[tokio::test]
async fn the_final_action_cancel_cancels_after_the_last_reminder() {
    let engine = Engine::start(
        Config::default()
            .with_toml("[billing.dunning]\nretry_days = [2]\nfinal_action = \"cancel\"\n"),
    )
    .await;
    let p = PaidByHand::start(&engine).await;
    let due = jan_1() + 10 * DAY;
    p.advance(due + DAY).await;
    assert_eq!(p.status().await, "past_due");
    p.advance(due + 2 * DAY).await;
    assert_eq!(p.status().await, "canceled", "after the last reminder");
    let invoice = p.invoice().await;
    assert_eq!(invoice["status"], "uncollectible", "{invoice}");
    assert_eq!(invoice["reminders_sent"], 2, "{invoice}");
    assert!(p.api.customer_charges(&p.customer).await.is_empty(), "nothing was ever charged");
}
