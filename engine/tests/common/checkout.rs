//! What the checkout tests share: a session made for a page test, its state now, the charges
//! of its customer, and where its buyer lands once it is paid.

use std::time::Duration;

use serde_json::{Value, json};

use super::browser::{Browser, Tab};
use super::{Api, Engine, str_field};

pub const PAGE_WAIT: Duration = Duration::from_secs(30);

pub fn success_url(engine: &Engine) -> String {
    format!("{}/healthz?session={{CHECKOUT_SESSION_ID}}", engine.base_url())
}

pub async fn session(api: &Api, engine: &Engine, body: Value) -> Value {
    let mut body = body;
    body["success_url"] = json!(success_url(engine));
    body["cancel_url"] = json!("https://school.example/cart");
    api.post("/v1/checkout/sessions", &body).await.ok().clone()
}

pub async fn session_now(api: &Api, session: &Value) -> Value {
    api.get_ok(&format!("/v1/checkout/sessions/{}", str_field(session, "id"))).await
}

/// The ledger's charges of this customer's payments.
pub async fn charges_of(api: &Api, customer: &str) -> Vec<Value> {
    let listed = api.get_ok(&format!("/v1/customers/{customer}/charges")).await;
    listed["data"].as_array().unwrap().clone()
}

/// Where the browser lands once a session is paid: `success_url` with the id filled in.
pub fn landed(session: &Value) -> String {
    format!("/healthz?session={}", str_field(session, "id"))
}

pub fn wait_for_location(browser: &mut Browser, tab: &Tab, ending: &str) {
    browser.wait_until(tab, &format!("location.href.endsWith({ending:?})"), PAGE_WAIT);
}

/// Gives the account bank details, so that its pages offer a bank transfer.
pub async fn set_bank_details(api: &Api) {
    let body = json!({"settings": {"default_currency": "zar", "bank_transfer": {
        "bank_name": "First National Bank", "account_holder": "Sunrise Academy",
        "account_number": "62000000001", "branch_code": "250655"}}});
    api.post("/v1/account", &body).await.ok();
}
