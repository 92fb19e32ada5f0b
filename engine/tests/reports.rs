//! Reports as a platform's finance team reads them: a scripted year of subscriptions on a test
//! clock — billings and recognized revenue by month, MRR, ARR, new and churned MRR — matching
//! figures computed here independently; cash revenue of the day to the cent, test-clock money
//! left out; a payee's statement that adds up to its balance; the same numbers as CSV, read
//! back with a CSV library; and bad ranges refused.

mod common;

use common::*;

const MONTHLY: i64 = 1_000;
const YEARLY: i64 = 12_000;

fn jan_1(year: i64) -> i64 {
    utc(year, 1, 1, 0, 0, 0)
}

/// The starts of 2027's months, and of January 2028.
fn months_of_2027() -> Vec<i64> {
    (1..=12).map(|month| utc(2027, month, 1, 0, 0, 0)).chain([jan_1(2028)]).collect()
}

/// A yearly amount recognized day by day over 2027: each day's share rounded down on the
/// running total, so a month is the difference of the running totals at its ends.
fn yearly_share(month_start: i64, month_end: i64) -> i64 {
    let days = |at: i64| (at - jan_1(2027)) / 86_400;
    YEARLY * days(month_end) / 365 - YEARLY * days(month_start) / 365
}

async fn report(api: &Api, query: &str) -> Value {
    api.get_ok(&format!("/v1/reports/{query}")).await
}

/// `(period_start, field)` of each row of a revenue report.
fn column(report: &Value, field: &str) -> Vec<(i64, i64)> {
    let rows = report["data"].as_array().unwrap_or_else(|| panic!("{report}"));
    rows.iter().map(|row| (i64_field(row, "period_start"), i64_field(row, field))).collect()
}

#[tokio::test]
async fn a_scripted_year_of_subscriptions_reports_billings_recognized_revenue_and_mrr() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let clock = api.create_clock(jan_1(2027)).await;
    let monthly = api.plan(MONTHLY as u64, "usd", "month").await;
    let yearly = api.plan(YEARLY as u64, "usd", "year").await;
    let monthly_buyer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let yearly_buyer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let churned_buyer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    api.subscribe_ok(&monthly_buyer, &monthly).await;
    api.subscribe_ok(&yearly_buyer, &yearly).await;
    api.advance_clock(&clock, utc(2027, 3, 1, 0, 0, 0)).await;
    let churned = api.subscribe_ok(&churned_buyer, &monthly).await;
    api.advance_clock(&clock, utc(2027, 5, 31, 12, 0, 0)).await;
    let cancel = format!("/v1/subscriptions/{}/cancel", str_field(&churned, "id"));
    api.post(&cancel, &json!({})).await.ok();
    api.advance_clock(&clock, utc(2027, 12, 31, 12, 0, 0)).await;

    let months = months_of_2027();
    let year = format!("from={}&to={}&test_clock={clock}", jan_1(2027), jan_1(2028));
    // Billings: each invoice on the month it was finalized.
    let churned_months = 3..=5;
    let billed: Vec<(i64, i64)> = months[..12]
        .iter()
        .enumerate()
        .map(|(index, start)| {
            let month = index as u32 + 1;
            let mut amount = MONTHLY;
            if month == 1 {
                amount += YEARLY;
            }
            if churned_months.contains(&month) {
                amount += MONTHLY;
            }
            (*start, amount)
        })
        .collect();
    let billings = report(&api, &format!("revenue?{year}&basis=billings")).await;
    assert_eq!(billings["basis"], "billings");
    assert_eq!(column(&billings, "gross"), billed, "{billings}");
    assert_eq!(column(&billings, "net"), billed, "no tax, refund or fee: {billings}");

    // Recognized: monthly lines in their own month, the yearly one day by day.
    let recognized: Vec<(i64, i64)> = months
        .windows(2)
        .enumerate()
        .map(|(index, bounds)| {
            let month = index as u32 + 1;
            let mut amount = MONTHLY + yearly_share(bounds[0], bounds[1]);
            if churned_months.contains(&month) {
                amount += MONTHLY;
            }
            (bounds[0], amount)
        })
        .collect();
    let report_recognized = report(&api, &format!("revenue?{year}&basis=recognized")).await;
    assert_eq!(column(&report_recognized, "gross"), recognized, "{report_recognized}");
    let total: i64 = recognized.iter().map(|(_, amount)| amount).sum();
    assert_eq!(total, 12 * MONTHLY + YEARLY + 3 * MONTHLY, "to the cent over the year");
    let daily = report(&api, &format!("revenue?{year}&basis=recognized&granularity=day")).await;
    assert_eq!(daily["data"].as_array().unwrap().len(), 365, "every day of 2027 recognizes some");

    // Subscription figures.
    let figures = report(&api, &format!("subscriptions?{year}")).await;
    assert_eq!(figures["mrr"], json!([{"currency": "usd", "amount": 2 * MONTHLY}]), "{figures}");
    assert_eq!(figures["arr"], json!([{"currency": "usd", "amount": 24 * MONTHLY}]));
    let by_month: Vec<(i64, i64, i64, i64)> = figures["months"]
        .as_array()
        .unwrap()
        .iter()
        .map(|month| {
            let field = |name| i64_field(month, name);
            (field("month_start"), field("new_mrr"), field("churned_mrr"), field("mrr"))
        })
        .collect();
    let expected: Vec<(i64, i64, i64, i64)> = months[..12]
        .iter()
        .enumerate()
        .map(|(index, start)| match index + 1 {
            1 => (*start, 2 * MONTHLY, 0, 2 * MONTHLY),
            3 | 4 => (*start, if index + 1 == 3 { MONTHLY } else { 0 }, 0, 3 * MONTHLY),
            5 => (*start, 0, MONTHLY, 2 * MONTHLY),
            _ => (*start, 0, 0, 2 * MONTHLY),
        })
        .collect();
    assert_eq!(by_month, expected, "{figures}");
    let plans = figures["plans"].as_array().unwrap();
    let of = |plan: &str| plans.iter().find(|found| found["plan"] == plan).unwrap().clone();
    assert_eq!(of(&monthly)["subscriptions"], json!({"active": 1, "canceled": 1}));
    assert_eq!(of(&monthly)["mrr"], MONTHLY);
    assert_eq!(of(&yearly)["mrr"], MONTHLY, "a twelfth of the year");

    // Without the clock, its objects are left out.
    let live = format!("from={}&to={}", jan_1(2027), jan_1(2028));
    let none = report(&api, &format!("revenue?{live}&basis=billings")).await;
    assert_eq!(none["data"], json!([]), "{none}");
    let none = report(&api, &format!("subscriptions?{live}")).await;
    assert_eq!(none["mrr"], json!([]), "{none}");

    // The same billings as CSV.
    let path = format!("/v1/reports/revenue?{year}&basis=billings");
    let csv = api.get_accepting(&path, "text/csv").await;
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"), "{}", csv.text);
    let mut reader = csv::Reader::from_reader(csv.text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(
        header,
        [
            "period_start",
            "currency",
            "gross",
            "discounts",
            "tax",
            "refunds",
            "disputes",
            "fees",
            "net"
        ]
    );
    let rows: Vec<(i64, i64)> = reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            (record[0].parse().unwrap(), record[2].parse().unwrap())
        })
        .collect();
    assert_eq!(rows, billed, "the CSV holds the JSON's numbers");
}

#[tokio::test]
async fn cash_revenue_is_the_money_that_moved_today_and_a_payee_statement_adds_up() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    // Today, and tomorrow should the test run across midnight.
    let today = now_secs() as i64 / 86_400 * 86_400;
    let range = format!("from={today}&to={}", today + 2 * 86_400);
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let first = api.charge_ok(&customer, 10_000, "usd").await;
    api.charge_ok(&customer, 5_000, "usd").await;
    api.charge_ok(&customer, 7_000, "zar").await;
    api.refund(str_field(&first, "id"), Some(2_000)).await.ok();
    // A course priced and taxed by the bundled rules, for a buyer in South Africa.
    let buyer = api.za_buyer().await;
    let course = api.post("/v1/charges", &priced_cart(&buyer, "course")).await.ok().clone();
    let taxed: i64 = course["breakdown"]["tax"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tax| i64_field(tax, "amount"))
        .sum();
    let course_amount = i64_field(&course, "amount");
    assert!(taxed > 0, "{course}");
    // Declined: billed nothing.
    let (declined, _) = api.customer_with_card("pm_card_chargeDeclined").await;
    assert_error(&api.charge(&declined, 4_000, "usd").await, 402, "card_declined");
    // Money on a test clock is not the platform's revenue.
    let clock = api.create_clock(now_secs() as i64).await;
    let testing = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    api.charge_ok(&testing, 99_000, "usd").await;

    let cash = report(&api, &format!("revenue?{range}&granularity=day")).await;
    assert_eq!(cash["basis"], "cash", "the default basis: {cash}");
    let rows = cash["data"].as_array().unwrap();
    let usd = |field: &str| -> i64 {
        let usd = rows.iter().filter(|row| row["currency"] == "usd");
        usd.map(|row| i64_field(row, field)).sum()
    };
    assert_eq!(
        (usd("gross"), usd("tax"), usd("refunds")),
        (15_000 + course_amount, taxed, 2_000),
        "{cash}"
    );
    // Charges that paid no invoice are billed, and their revenue recognized, as they succeed.
    let billed = report(&api, &format!("revenue?{range}&basis=billings")).await;
    let billed = &billed["data"].as_array().unwrap().iter().find(|row| row["currency"] == "usd");
    let billed = billed.unwrap_or_else(|| panic!("no usd billings"));
    assert_eq!(
        (i64_field(billed, "gross"), i64_field(billed, "tax"), i64_field(billed, "refunds")),
        (15_000 + course_amount, taxed, 2_000),
        "{billed}"
    );
    let earned = report(&api, &format!("revenue?{range}&basis=recognized&currency=usd")).await;
    let [earned] = earned["data"].as_array().unwrap().clone().try_into().unwrap();
    assert_eq!(i64_field(&earned, "gross"), 15_000 + course_amount - taxed, "{earned}");
    let zar = report(&api, &format!("revenue?{range}&currency=zar&granularity=day")).await;
    let zar: Vec<i64> =
        zar["data"].as_array().unwrap().iter().map(|row| i64_field(row, "gross")).collect();
    assert_eq!(zar.iter().sum::<i64>(), 7_000, "{zar:?}");

    // A payee's statement: opening, each movement with its running balance, closing.
    let body = json!({
        "name": "Kagiso Sithole", "country": "ZA", "default_currency": "usd",
        "destination": {"type": "bank_account", "account_holder": "K Sithole",
            "bank_code": "250655", "account_number": "000123456789"},
        "payout_schedule": {"interval": "manual", "delay_days": 0},
    });
    let payee = api.post("/v1/payees", &body).await.id();
    for share in [3_000, 2_000] {
        let mut body = charge_body(&customer, 5_000, "usd");
        body["transfer"] = json!({"payee": payee, "amount": share});
        api.post("/v1/charges", &body).await.ok();
    }
    api.post("/v1/payouts", &json!({"payee": payee, "amount": 4_000, "currency": "usd"}))
        .await
        .ok();
    let statement = api.get_ok(&format!("/v1/payees/{payee}/statement?{range}")).await;
    let lines: Vec<(String, i64, i64)> = statement["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            (
                str_field(line, "type").to_owned(),
                i64_field(line, "amount"),
                i64_field(line, "balance"),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("transfer".into(), 3_000, 3_000),
            ("transfer".into(), 2_000, 5_000),
            ("payout".into(), -4_000, 1_000)
        ],
        "{statement}"
    );
    assert_eq!(statement["opening_balance"], json!([{"currency": "usd", "amount": 0}]));
    assert_eq!(statement["closing_balance"], json!([{"currency": "usd", "amount": 1_000}]));
    let later = format!("from={}&to={}", today + 2 * 86_400, today + 3 * 86_400);
    let tomorrow = api.get_ok(&format!("/v1/payees/{payee}/statement?{later}")).await;
    assert_eq!(tomorrow["opening_balance"], json!([{"currency": "usd", "amount": 1_000}]));
    assert_eq!(tomorrow["lines"], json!([]));
}

#[tokio::test]
async fn bad_report_queries_are_refused() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let clock = api.create_clock(jan_1(2027)).await;
    let year = format!("from={}&to={}", jan_1(2027), jan_1(2028));
    let cases = [
        ("revenue?to=100".to_owned(), "from"),
        ("revenue?from=100".to_owned(), "to"),
        ("revenue?from=200&to=100".to_owned(), "to"),
        (format!("revenue?from=0&to={}", jan_1(2027)), "to"),
        (format!("revenue?{year}&basis=accrual"), "basis"),
        (format!("revenue?{year}&granularity=week"), "granularity"),
        (format!("revenue?{year}&currency=xyz"), "currency"),
        (format!("revenue?{year}&test_clock={clock}"), "test_clock"),
        (format!("revenue?{year}&limit=5"), "limit"),
        (format!("subscriptions?{year}&basis=cash"), "basis"),
    ];
    for (query, param) in cases {
        let refused = api.get(&format!("/v1/reports/{query}")).await;
        assert_eq!(refused.status, 400, "{query}: {}", refused.text);
        assert_eq!(refused.body["error"]["param"], param, "{query}: {}", refused.text);
    }
    let unknown_clock =
        format!("revenue?{year}&basis=billings&test_clock=clock_01KG3ZC4D5E6F7G8H9J0K1M2N3");
    assert_error(&api.get(&format!("/v1/reports/{unknown_clock}")).await, 404, "not_found");
}
