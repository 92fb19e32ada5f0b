//! The credit notes tests' fixture: South African customers on a test clock paying zar
//! plans, the invoices they make, and what a note must add up to.

use super::common::*;

/// A price whose VAT (1 499.85 → 1 500) makes a partial note's rounding visible.
pub const PRICE: i64 = 9_999;
pub const VAT_BPS: i64 = 1_500;

pub fn mar_1() -> i64 {
    utc(2024, 3, 1, 0, 0, 0)
}

pub fn apr_1() -> i64 {
    utc(2024, 4, 1, 0, 0, 0)
}

/// `amount × multiplier / divisor`, rounded half up: the rounding the contract names.
pub fn half_up(amount: i64, multiplier: i64, divisor: i64) -> i64 {
    assert!(amount >= 0 && multiplier >= 0 && divisor > 0);
    let scaled = 2 * i128::from(amount) * i128::from(multiplier) + i128::from(divisor);
    i64::try_from(scaled / (2 * i128::from(divisor))).expect("fits an i64")
}

/// South African VAT as a note or an invoice lists it.
pub fn za_vat(amount: i64) -> Value {
    json!([{"name": "VAT", "jurisdiction": "ZA", "rate_bps": VAT_BPS, "amount": amount}])
}

pub fn amounts_sum(entries: &Value) -> i64 {
    let entries = entries.as_array().unwrap_or_else(|| panic!("not a list: {entries}"));
    entries.iter().map(|entry| i64_field(entry, "amount")).sum()
}

/// The tax of an invoice or a note: the sum of its `tax` entries.
pub fn tax_of(value: &Value) -> i64 {
    amounts_sum(&value["tax"])
}

/// The one line of a subscription's invoice: its id, what it comes to after its discounts,
/// and its tax.
pub struct Line {
    pub id: String,
    pub amount: i64,
    pub tax: i64,
}

pub fn only_line(invoice: &Value) -> Line {
    let lines = invoice["lines"].as_array().unwrap_or_else(|| panic!("no lines: {invoice}"));
    assert_eq!(lines.len(), 1, "one line: {invoice}");
    let line = &lines[0];
    Line {
        id: str_field(line, "id").to_string(),
        amount: i64_field(line, "amount") - amounts_sum(&line["discount_amounts"]),
        tax: amounts_sum(&line["tax_amounts"]),
    }
}

pub fn note_number(prefix: &str, n: usize) -> String {
    format!("{prefix}-CN-{n:04}")
}

/// Checks what every note must say of itself, against the invoice it credits: its lines add
/// up to its subtotal and its tax, its amount is the subtotal with the tax (exclusive) or the
/// subtotal (inclusive), and its four destinations add up to its amount.
#[track_caller]
pub fn assert_note_adds_up(note: &Value, invoice: &Value) {
    assert!(str_field(note, "id").starts_with("cn_"), "{note}");
    assert_eq!(note["object"], "credit_note", "{note}");
    for field in ["customer", "currency"] {
        assert_eq!(note[field], invoice[field], "`{field}` of {note}");
    }
    assert_eq!(note["invoice"], invoice["id"], "{note}");
    assert!(note["created"].is_i64(), "{note}");
    let lines = note["lines"].as_array().unwrap_or_else(|| panic!("no lines: {note}"));
    let subtotal: i64 = lines.iter().map(|line| i64_field(line, "amount")).sum();
    let line_tax: i64 = lines.iter().map(|line| amounts_sum(&line["tax_amounts"])).sum();
    assert_eq!(i64_field(note, "subtotal"), subtotal, "the lines' amounts: {note}");
    assert_eq!(tax_of(note), line_tax, "the lines' tax: {note}");
    let expected_amount = match invoice["tax_behavior"].as_str() {
        Some("exclusive") => subtotal + line_tax,
        Some("inclusive") => subtotal,
        other => panic!("tax_behavior {other:?}: {invoice}"),
    };
    assert_eq!(i64_field(note, "amount"), expected_amount, "{note}");
    let destinations: i64 =
        ["pre_payment_amount", "refund_amount", "credit_amount", "out_of_band_amount"]
            .iter()
            .map(|field| i64_field(note, field))
            .sum();
    assert_eq!(destinations, expected_amount, "where the note's amount goes: {note}");
}

/// A fresh engine, a clock at Mar 1 2024, and the zar plans and ZA customers the tests use.
pub struct Books {
    pub api: Api,
    pub clock: String,
}

impl Books {
    pub async fn start(engine: &Engine) -> Books {
        let api = engine.api_a();
        let clock = api.create_clock(mar_1()).await;
        Books { api, clock }
    }

    /// A South African customer paying by a good card.
    pub async fn customer(&self) -> String {
        self.api.clock_customer_with_card(&self.clock, "ZA", "pm_card_visa").await
    }

    /// A monthly zar plan of `amount` with `tax_behavior`.
    pub async fn plan(&self, amount: i64, tax_behavior: &str) -> String {
        let body = json!({
            "name": format!("{amount} zar {tax_behavior}"), "amount": amount, "currency": "zar",
            "interval": "month", "tax_behavior": tax_behavior,
        });
        str_field(&self.api.create_plan(&body).await, "id").to_string()
    }

    /// Subscribes `customer` to `plan`, paid by its card; returns the first invoice.
    pub async fn paid_invoice(&self, customer: &str, plan: &str) -> Value {
        let subscription = self.api.subscribe_ok(customer, plan).await;
        let invoice = self.api.invoice(str_field(&subscription, "latest_invoice")).await;
        assert_eq!(invoice["status"], "paid", "{invoice}");
        invoice
    }

    /// A `send_invoice` subscription of `customer` to `plan`; returns its id and its open
    /// first invoice.
    pub async fn open_invoice(&self, customer: &str, plan: &str) -> (String, Value) {
        let body = json!({
            "customer": customer, "plan": plan, "collection_method": "send_invoice",
            "days_until_due": 30,
        });
        let subscription = self.api.subscribe(&body).await.ok().clone();
        let invoice = self.api.invoice(str_field(&subscription, "latest_invoice")).await;
        assert_eq!(invoice["status"], "open", "{invoice}");
        (str_field(&subscription, "id").to_string(), invoice)
    }

    pub async fn invoice(&self, invoice: &Value) -> Value {
        self.api.invoice(str_field(invoice, "id")).await
    }

    pub async fn create(&self, body: &Value) -> Resp {
        self.api.post("/v1/credit_notes", body).await
    }

    /// Creates a note that must be accepted, checks it adds up, and returns it.
    pub async fn create_ok(&self, body: &Value) -> Value {
        let note = self.create(body).await.ok().clone();
        let invoice = self.api.invoice(str_field(body, "invoice")).await;
        assert_note_adds_up(&note, &invoice);
        assert_eq!(self.note(str_field(&note, "id")).await, note, "the note reads back");
        note
    }

    pub async fn note(&self, id: &str) -> Value {
        self.api.get_ok(&format!("/v1/credit_notes/{id}")).await
    }

    /// The invoice's notes, newest first.
    pub async fn notes_of_invoice(&self, invoice: &Value) -> Vec<Value> {
        let path = format!("/v1/credit_notes?invoice={}", str_field(invoice, "id"));
        self.api.list_all(&path, "id").await
    }

    /// The customer's notes, newest first.
    pub async fn notes_of_customer(&self, customer: &str) -> Vec<Value> {
        self.api.list_all(&format!("/v1/credit_notes?customer={customer}"), "id").await
    }

    pub async fn customer_record(&self, customer: &str) -> Value {
        self.api.get_ok(&format!("/v1/customers/{customer}")).await
    }

    pub async fn balance(&self, customer: &str) -> i64 {
        i64_field(&self.customer_record(customer).await, "balance")
    }

    pub async fn prefix(&self, customer: &str) -> String {
        str_field(&self.customer_record(customer).await, "invoice_prefix").to_string()
    }

    pub async fn charge(&self, id: &str) -> Value {
        self.api.get_ok(&format!("/v1/charges/{id}")).await
    }

    pub async fn refund(&self, id: &str) -> Value {
        self.api.get_ok(&format!("/v1/refunds/{id}")).await
    }

    /// The amounts the processor refunded, oldest first.
    pub async fn processor_refunds(&self) -> Vec<i64> {
        let ledger = self.api.ledger().await;
        let mut amounts: Vec<i64> = ledger_of_kind(&ledger, "refund")
            .iter()
            .map(|entry| i64_field(entry, "amount"))
            .collect();
        amounts.reverse();
        amounts
    }
}

/// Asserts a 400 `validation_error` naming `param`.
#[track_caller]
pub fn assert_invalid(resp: &Resp, param: &str) {
    assert_error(resp, 400, "validation_error");
    assert_eq!(resp.body["error"]["param"], param, "{}: {}", resp.what, resp.text);
}
