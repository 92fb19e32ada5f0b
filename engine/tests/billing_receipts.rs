//! Receipts: the printable pages a customer keeps for a paid invoice and a succeeded charge.
//!
//! Proves that `GET /v1/invoices/{id}/receipt` and `GET /v1/charges/{id}/receipt` answer an
//! HTML page (`text/html; charset=utf-8`) under a Content-Security-Policy that allows no script,
//! with no script on it; that a real browser (Debian's chromium, headless) renders from it the
//! invoice number, the paid date, every line, the tax with its rate and jurisdiction (added, or
//! included in a VAT-inclusive price), subtotal, total, amount paid, the card's brand and last
//! four digits and the seller's details (`billing.seller`), each exactly as computed here from
//! the numbers of the invoice or charge read through the API (money from integer minor units:
//! `ZAR 4,259.03`); that a charge's receipt shows its priced lines, coupon discount, tax, refund
//! and description, and the EU reverse-charge wording where the tax rule applied it; that a
//! customer named `<script>alert(1)</script>` is printed as text, never run; and that an unpaid
//! invoice (400 `invoice_not_paid`), a charge that did not succeed (400 `charge_not_succeeded`),
//! and another account's invoice or charge (404) have no receipt.
//! How: a fresh engine per test (see `common`) with a seller configured; invoices come from
//! subscriptions of customers on a test clock paying with `pm_card_visa` on the sandbox, taxed
//! by the bundled VAT rule. The browser check fails (it is not skipped) where chromium is
//! missing: `apt-get install chromium`, as the CI does.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

const CHROMIUM: &str = "/usr/bin/chromium";
/// One headless render of a small page; far above what it takes.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

const SELLER_NAME: &str = "Shule & Sons <Schools> Ltd";
const SELLER_ADDRESS: [&str; 2] = ["1 Long Street", "Cape Town 8001"];
const SELLER_TAX_ID: &str = "4123456789";

fn config() -> Config {
    Config::default().with_toml(&seller_toml())
}

fn seller_toml() -> String {
    format!(
        "[billing.seller]\nname = {:?}\naddress = {:?}\ntax_id = {:?}\n",
        SELLER_NAME,
        SELLER_ADDRESS.join("\n"),
        SELLER_TAX_ID
    )
}

fn mar_1() -> i64 {
    utc(2024, 3, 1, 0, 0, 0)
}

// ---------------------------------------------------------------------------------------------
// What the receipt must say, computed here from the API's numbers, independently of the engine.

/// Digits of the minor unit of the currencies used here (ISO 4217).
fn exponent(currency: &str) -> u32 {
    match currency {
        "zar" | "kes" | "usd" | "eur" => 2,
        other => panic!("no exponent known here for {other}"),
    }
}

/// `ZAR 1,234.50`, `-USD 16.60`: integer division and remainder, thousands grouped.
fn money(amount_minor: i64, currency: &str) -> String {
    let scale = 10i64.pow(exponent(currency));
    let magnitude = amount_minor.abs();
    let major = (magnitude / scale).to_string();
    let mut grouped = String::new();
    for (index, digit) in major.chars().enumerate() {
        if index > 0 && (major.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if amount_minor < 0 { "-" } else { "" };
    let width = exponent(currency) as usize;
    format!("{sign}{} {grouped}.{:0width$}", currency.to_uppercase(), magnitude % scale)
}

/// 1500 → `15%`, 750 → `7.5%`.
fn percent(rate_bps: u64) -> String {
    let (whole, rest) = (rate_bps / 100, rate_bps % 100);
    match rest {
        0 => format!("{whole}%"),
        _ if rest.is_multiple_of(10) => format!("{whole}.{}%", rest / 10),
        _ => format!("{whole}.{rest:02}%"),
    }
}

/// `YYYY-MM-DD` of a Unix instant after 1970, by counting whole years and months.
fn date(instant: i64) -> String {
    let mut days = instant.div_euclid(SECONDS_PER_DAY);
    let mut year = 1970;
    loop {
        let length = if is_leap_year(year) { 366 } else { 365 };
        if days < length {
            break;
        }
        days -= length;
        year += 1;
    }
    let mut month = 1;
    while days >= i64::from(days_in_month(year, month)) {
        days -= i64::from(days_in_month(year, month));
        month += 1;
    }
    format!("{year:04}-{month:02}-{:02}", days + 1)
}

/// `YYYY-MM-DD HH:MM UTC`.
fn date_time(instant: i64) -> String {
    let seconds = instant.rem_euclid(SECONDS_PER_DAY);
    format!("{} {:02}:{:02} UTC", date(instant), seconds / 3_600, seconds % 3_600 / 60)
}

/// What a card payment method shows: brand and last four digits.
fn card_shown(method: &Value) -> String {
    format!(
        "{} ending in {}",
        str_field(&method["card"], "brand"),
        str_field(&method["card"], "last4")
    )
}

// ---------------------------------------------------------------------------------------------
// The page over HTTP and in the browser.

/// Fetches a receipt and checks what every receipt must be: 200, HTML, a policy that allows no
/// script, and no script, inline handler or `javascript:` URL anywhere on it.
async fn fetch_receipt(api: &Api, path: &str) -> String {
    let response = api.get(path).await;
    assert_eq!(response.status, 200, "GET {path}: {}", response.text);
    assert_eq!(response.header("content-type"), Some("text/html; charset=utf-8"), "GET {path}");
    let policy = response.header("content-security-policy").unwrap_or_default();
    assert!(
        policy.contains("default-src 'none'") && !policy.contains("script-src"),
        "GET {path}: the policy must allow no script: {policy:?}"
    );
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    assert!(response.header("request-id").is_some(), "GET {path}: no Request-Id");
    let html = response.text;
    assert_no_active_content(&html);
    html
}

#[track_caller]
fn assert_no_active_content(html: &str) {
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "a script element in\n{html}");
    assert!(!lower.contains("javascript:"), "a javascript: URL in\n{html}");
    let handler =
        lower.split('<').skip(1).filter_map(|tag| tag.split('>').next()).find(|tag| {
            tag.split_whitespace().skip(1).any(|attribute| attribute.starts_with("on"))
        });
    assert!(handler.is_none(), "an inline event handler in <{}>", handler.unwrap_or_default());
}

/// Renders `html` in Debian's chromium (headless, no GPU) from a file and returns the DOM it
/// built, serialised. Fails, naming the package, where chromium is not installed.
async fn render_in_browser(html: &str) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the receipt tests render pages in a real headless browser. \
         Install it with `apt-get install chromium` (the CI does this in .ci/run)."
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let page = dir.path().join("receipt.html");
    std::fs::write(&page, html).expect("write the page");
    // A profile of its own per run, so concurrent tests never share chromium's profile lock.
    let profile = dir.path().join("profile");
    let mut command = tokio::process::Command::new(CHROMIUM);
    command
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        .args(["--disable-extensions", "--disable-dev-shm-usage"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .env("HOME", dir.path())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(BROWSER_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("chromium did not render the page within {BROWSER_TIMEOUT:?}"))
        .unwrap_or_else(|error| panic!("run {CHROMIUM}: {error}"));
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && dom.contains("<body"),
        "chromium failed ({}): {}\n{dom}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert_no_active_content(&dom);
    dom
}

/// The text a reader sees in the rendered body: tags dropped (each one a space), the entities
/// the DOM serialiser writes decoded, whitespace collapsed.
fn visible_text(dom: &str) -> String {
    let body = dom.split_once("<body").map_or(dom, |(_, body)| body);
    let mut text = String::with_capacity(body.len());
    let mut in_tag = true; // The rest of the `<body …>` tag comes first.
    for character in body.chars() {
        match (in_tag, character) {
            (false, '<') => {
                in_tag = true;
                text.push(' ');
            }
            (true, '>') => in_tag = false,
            (false, other) => text.push(other),
            (true, _) => {}
        }
    }
    let decoded = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[track_caller]
fn assert_shows(text: &str, expected: &[String]) {
    for wanted in expected {
        assert!(text.contains(wanted.as_str()), "the rendered receipt lacks {wanted:?}:\n{text}");
    }
}

fn seller_lines() -> Vec<String> {
    let mut lines = vec![SELLER_NAME.to_string()];
    lines.extend(SELLER_ADDRESS.iter().map(|line| line.to_string()));
    lines.push(format!("Tax ID {SELLER_TAX_ID}"));
    lines
}

// ---------------------------------------------------------------------------------------------
// Set-up.

/// A customer on `clock` in `country`, named, paying by `pm_card_visa`: (id, its card).
async fn named_customer(
    api: &Api,
    clock: Option<&str>,
    country: &str,
    name: &str,
) -> (String, Value) {
    let mut body = json!({
        "name": name,
        "email": "bursar@example.com",
        "address": { "country": country },
    });
    if let Some(clock) = clock {
        body["test_clock"] = json!(clock);
    }
    let customer = str_field(&api.create_customer_with(&body).await, "id").to_string();
    let card = api.add_payment_method(&customer, "pm_card_visa").await;
    (customer, card)
}

/// What each line, tax line and total of `invoice` must read as on its receipt.
fn invoice_expectations(invoice: &Value, customer: &str, card: &Value) -> Vec<String> {
    let currency = str_field(invoice, "currency");
    let amount = |field: &str| money(i64_field(invoice, field), currency);
    let mut expected = vec![
        format!("Invoice number {}", str_field(invoice, "number")),
        format!("Date paid {}", date_time(i64_field(invoice, "paid_at"))),
        format!("Payment method {}", card_shown(card)),
        format!("Subtotal {}", amount("subtotal")),
        format!("Total {}", amount("total")),
        format!("Amount paid {}", amount("amount_paid")),
        format!("Billed to {customer} bursar@example.com"),
    ];
    for line in invoice["lines"].as_array().expect("lines") {
        let period = &line["period"];
        expected.push(format!(
            "{} {} – {} {} {}",
            str_field(line, "description"),
            date(i64_field(period, "start")),
            date(i64_field(period, "end")),
            u64_field(line, "quantity"),
            money(i64_field(line, "amount"), currency),
        ));
    }
    let included = invoice["tax_behavior"] == "inclusive";
    for tax in invoice["tax"].as_array().expect("tax") {
        expected.push(format!(
            "{}{} {} ({}) {}",
            if included { "Includes " } else { "" },
            str_field(tax, "name"),
            percent(u64_field(tax, "rate_bps")),
            str_field(tax, "jurisdiction"),
            money(i64_field(tax, "amount"), currency),
        ));
    }
    expected.extend(seller_lines());
    expected
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn a_paid_invoice_receipt_renders_in_a_browser_with_the_invoice_numbers() {
    let engine = Engine::start(config()).await;
    let api = engine.api_a();
    let clock = api.create_clock(mar_1()).await;
    // (country, currency, unit price, tax behaviour, quantity): 15 % ZA VAT added to three
    // seats, and 16 % KE VAT inside a VAT-inclusive price.
    let cases = [("ZA", "zar", 123_450, "exclusive", 3), ("KE", "kes", 100_000, "inclusive", 1)];
    for (country, currency, amount, tax_behavior, quantity) in cases {
        let case = format!("{country} {currency} {amount} {tax_behavior} × {quantity}");
        let name = format!("Thandi \"T\" O'Neil & Co ({country})");
        let (customer, card) = named_customer(&api, Some(&clock), country, &name).await;
        let plan = api
            .create_plan(&json!({
                "name": "Seats & \"gold\" <term>", "amount": amount, "currency": currency,
                "interval": "month", "tax_behavior": tax_behavior,
            }))
            .await;
        let body =
            json!({"customer": customer, "plan": str_field(&plan, "id"), "quantity": quantity});
        let subscription = api.subscribe(&body).await.ok().clone();
        let invoice = api.invoice(str_field(&subscription, "latest_invoice")).await;
        assert_eq!(invoice["status"], "paid", "{case}: {invoice}");
        assert_eq!(invoice["tax"].as_array().map(Vec::len), Some(1), "{case}: taxed: {invoice}");

        let path = format!("/v1/invoices/{}/receipt", str_field(&invoice, "id"));
        let html = fetch_receipt(&api, &path).await;
        let text = visible_text(&render_in_browser(&html).await);
        assert_shows(&text, &invoice_expectations(&invoice, &name, &card));

        // The charge that paid it has its own receipt, which names the invoice.
        let charge = str_field(&invoice, "charge");
        let html = fetch_receipt(&api, &format!("/v1/charges/{charge}/receipt")).await;
        let text = visible_text(&render_in_browser(&html).await);
        assert_shows(
            &text,
            &[
                format!("For invoice {}", str_field(&invoice, "number")),
                format!("Amount paid {}", money(i64_field(&invoice, "total"), currency)),
                format!("Payment method {}", card_shown(&card)),
            ],
        );
    }
}

#[tokio::test]
async fn a_charge_receipt_shows_its_priced_lines_discount_tax_and_refund_with_the_name_escaped() {
    const HOSTILE_NAME: &str = "<script>alert(1)</script>";
    let engine = Engine::start(config()).await;
    let api = engine.api_a();
    let (customer, card) = named_customer(&api, None, "ZA", HOSTILE_NAME).await;
    let coupon = json!({"id": "WELCOME10", "percent_off_bps": 1000, "duration": "once"});
    api.post("/v1/coupons", &coupon).await.ok();
    let charge = api
        .post(
            "/v1/charges",
            &json!({
                "customer": customer,
                "currency": "usd",
                "line_items": [
                    {"sku": "seat", "quantity": 12, "unit_amount": 0},
                    {"sku": "course", "quantity": 1, "unit_amount": 5000},
                ],
                "coupon": "WELCOME10",
                "description": "Term 1 \"fees\" & <books>",
            }),
        )
        .await
        .ok()
        .clone();
    assert_eq!(charge["status"], "succeeded", "{charge}");
    let id = str_field(&charge, "id");
    let refunded = i64_field(&charge, "amount") / 4;
    api.refund(id, Some(refunded as u64)).await.ok();
    let charge = api.get_ok(&format!("/v1/charges/{id}")).await;
    assert_eq!(i64_field(&charge, "amount_refunded"), refunded, "{charge}");

    let html = fetch_receipt(&api, &format!("/v1/charges/{id}/receipt")).await;
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the name, escaped:\n{html}");
    let dom = render_in_browser(&html).await;
    let text = visible_text(&dom);

    let currency = str_field(&charge, "currency");
    let breakdown = &charge["breakdown"];
    let amount = i64_field(&charge, "amount");
    let mut expected = vec![
        format!("Receipt for charge {id}"),
        format!("Date paid {}", date_time(i64_field(&charge, "created"))),
        format!("Payment method {}", card_shown(&card)),
        format!("Description {}", str_field(&charge, "description")),
        format!("Billed to {HOSTILE_NAME} bursar@example.com"),
        format!("Subtotal {}", money(i64_field(breakdown, "subtotal"), currency)),
        format!("Total {}", money(i64_field(breakdown, "total"), currency)),
        format!("Amount paid {}", money(amount, currency)),
        format!("Refunded {}", money(-refunded, currency)),
        format!("Net paid {}", money(amount - refunded, currency)),
    ];
    for line in breakdown["lines"].as_array().expect("priced lines") {
        expected.push(format!(
            "{} {} {}",
            str_field(line, "sku"),
            u64_field(line, "quantity"),
            money(i64_field(line, "amount"), currency)
        ));
    }
    let discounts = breakdown["discounts"].as_array().expect("discounts");
    assert_eq!(discounts.len(), 1, "WELCOME10: {breakdown}");
    for discount in discounts {
        let code = str_field(discount, "code");
        expected
            .push(format!("Discount {code} {}", money(-i64_field(discount, "amount"), currency)));
    }
    let taxes = breakdown["tax"].as_array().expect("tax");
    assert_eq!(taxes.len(), 1, "ZA VAT: {breakdown}");
    for tax in taxes {
        expected.push(format!(
            "{} {} ({}) {}",
            str_field(tax, "name"),
            percent(u64_field(tax, "rate_bps")),
            str_field(tax, "jurisdiction"),
            money(i64_field(tax, "amount"), currency),
        ));
    }
    expected.extend(seller_lines());
    assert_shows(&text, &expected);
    assert!(!text.contains("Reverse charge"), "no reverse charge in ZA:\n{text}");
    // The browser made text of the name: no script element exists in what it built.
    assert!(!dom.to_ascii_lowercase().contains("<script"), "{dom}");
}

#[tokio::test]
async fn a_reverse_charged_sale_says_so_on_its_receipt() {
    let engine = Engine::start(config().with_seller_country("DE")).await;
    let api = engine.api_a();
    let business = api
        .create_customer_with(&json!({
            "name": "Lycée Exemple SARL",
            "address": {"country": "FR"},
            "tax_ids": [{"type": "eu_vat", "value": "FR12345678901"}],
        }))
        .await;
    let consumer = api.create_customer_with(&json!({"address": {"country": "FR"}})).await;
    let mut receipts = Vec::new();
    for customer in [&business, &consumer] {
        let customer = str_field(customer, "id");
        api.add_payment_method(customer, "pm_card_visa").await;
        let body = json!({
            "customer": customer,
            "currency": "eur",
            "line_items": [{"sku": "course", "quantity": 1, "unit_amount": 10_000}],
        });
        let charge = api.post("/v1/charges", &body).await.ok().clone();
        let html =
            fetch_receipt(&api, &format!("/v1/charges/{}/receipt", str_field(&charge, "id"))).await;
        receipts.push((charge, html));
    }
    let (charge, html) = &receipts[0];
    assert_eq!(charge["breakdown"]["reverse_charge"], true, "{charge}");
    let text = visible_text(&render_in_browser(html).await);
    assert_shows(
        &text,
        &[
            "Reverse charge: VAT to be accounted for by the customer".to_string(),
            "Tax ID FR12345678901 (eu_vat)".to_string(),
            format!("Total {}", money(i64_field(&charge["breakdown"], "total"), "eur")),
        ],
    );
    let (charge, html) = &receipts[1];
    assert_eq!(charge["breakdown"]["reverse_charge"], false, "{charge}");
    assert!(!html.contains("Reverse charge"), "a consumer pays the VAT:\n{html}");
    assert!(html.contains("VAT 20% (FR)"), "{html}");
}

#[tokio::test]
async fn only_a_paid_invoice_or_succeeded_charge_of_ones_own_account_has_a_receipt() {
    let engine = Engine::start(config()).await;
    let api = engine.api_a();
    let clock = api.create_clock(mar_1()).await;
    let plan = api.plan(1_000, "usd", "month").await;

    // An open invoice: its first payment declined.
    let declining = api.clock_customer_with_card(&clock, "US", "pm_card_chargeDeclined").await;
    let declined = api.subscribe(&json!({"customer": declining, "plan": plan})).await;
    assert_error(&declined, 402, "card_declined");
    let subscription = api.subscription(str_field(&declined.body["error"], "subscription")).await;
    let open = api.invoice(str_field(&subscription, "latest_invoice")).await;
    assert_eq!(open["status"], "open", "{open}");
    let open_receipt = format!("/v1/invoices/{}/receipt", str_field(&open, "id"));
    assert_error(&api.get(&open_receipt).await, 400, "invoice_not_paid");

    // A failed charge.
    let failed = api.charge(&declining, 1_000, "usd").await;
    assert_error(&failed, 402, "card_declined");
    let failed_charge = str_field(&failed.body["error"], "charge");
    let failed_receipt = format!("/v1/charges/{failed_charge}/receipt");
    assert_error(&api.get(&failed_receipt).await, 400, "charge_not_succeeded");

    // A paid invoice and its charge: the account's own, nobody else's.
    let paying = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let paid =
        api.invoice(str_field(&api.subscribe_ok(&paying, &plan).await, "latest_invoice")).await;
    let paid_receipt = format!("/v1/invoices/{}/receipt", str_field(&paid, "id"));
    let charge_receipt = format!("/v1/charges/{}/receipt", str_field(&paid, "charge"));
    fetch_receipt(&api, &paid_receipt).await;
    fetch_receipt(&api, &charge_receipt).await;
    let other = engine.api_b();
    for path in [&paid_receipt, &charge_receipt, &open_receipt, &failed_receipt] {
        assert_error(&other.get(path).await, 404, "not_found");
    }
    for path in [
        "/v1/invoices/in_01KG3ZA8B9C0D1E2F3G4H5J6K7/receipt",
        "/v1/invoices/nonsense/receipt",
        "/v1/charges/ch_01KG3ZA9C0D1E2F3G4H5J6K7M8/receipt",
    ] {
        assert_error(&api.get(path).await, 404, "not_found");
    }
    let anonymous = engine.api_with_authorization(None);
    assert_error(&anonymous.get(&paid_receipt).await, 401, "unauthorized");
    assert_error(&api.post(&paid_receipt, &json!({})).await, 405, "method_not_allowed");
}
