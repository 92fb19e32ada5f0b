//! The world subscription tests run in: a fresh engine with two monthly usd plans (BASIC and
//! PRO) and customers with a good card on a test clock started 2024-03-01T00:00:00Z, so March's
//! 31 days are every test's period. Included by the billing test files that share it.

// Each test file uses a different part of it.
#![allow(dead_code)]

use crate::common::*;

pub const BASIC: i64 = 1_000;
pub const PRO: i64 = 3_000;

pub fn mar_1() -> i64 {
    utc(2024, 3, 1, 0, 0, 0)
}

pub fn apr_1() -> i64 {
    utc(2024, 4, 1, 0, 0, 0)
}

pub fn may_1() -> i64 {
    utc(2024, 5, 1, 0, 0, 0)
}

/// The instant of most mid-period changes here: 10 days into March, 21 days left.
pub fn mar_11() -> i64 {
    utc(2024, 3, 11, 0, 0, 0)
}

/// March's length, the period every change here prorates over.
pub fn march_secs() -> i64 {
    apr_1() - mar_1()
}

/// A clock at Mar 1 2024, a US customer (no VAT) on it paying by a good card, and two monthly
/// usd plans: basic at 10.00 and pro at 30.00.
pub struct Billing {
    pub api: Api,
    pub clock: String,
    pub customer: String,
    pub basic: String,
    pub pro: String,
}

pub async fn billing(engine: &Engine) -> Billing {
    let api = engine.api_a();
    let clock = api.create_clock(mar_1()).await;
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let basic = api.plan(BASIC as u64, "usd", "month").await;
    let pro = api.plan(PRO as u64, "usd", "month").await;
    Billing { api, clock, customer, basic, pro }
}

impl Billing {
    /// Subscribes the customer to `plan`; returns the subscription's id.
    pub async fn subscribe(&self, plan: &str) -> String {
        str_field(&self.api.subscribe_ok(&self.customer, plan).await, "id").to_string()
    }

    /// A plan with a 14-day trial at `amount` usd a month.
    pub async fn trial_plan(&self, amount: u64) -> String {
        let body = json!({
            "name": "With a trial", "amount": amount, "currency": "usd", "interval": "month",
            "trial_days": 14, "tax_behavior": "exclusive",
        });
        str_field(&self.api.create_plan(&body).await, "id").to_string()
    }

    pub async fn advance(&self, frozen_time: i64) {
        self.api.advance_clock(&self.clock, frozen_time).await;
    }

    pub async fn balance(&self) -> i64 {
        i64_field(&self.api.get_ok(&format!("/v1/customers/{}", self.customer)).await, "balance")
    }
}

/// The invoices that bill something: a zero invoice made at a trial's start is not a bill.
pub fn billed(invoices: Vec<Value>) -> Vec<Value> {
    invoices.into_iter().filter(|invoice| invoice["total"] != 0).collect()
}

/// The ledger's charges made with `charge` as their key (one expected).
pub async fn ledger_amounts(api: &Api, charge: &str) -> Vec<u64> {
    let ledger = api.ledger().await;
    ledger_entries(&ledger, "charge", charge)
        .iter()
        .map(|entry| u64_field(entry, "amount"))
        .collect()
}
