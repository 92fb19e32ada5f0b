//! Billing (the `billing_*` tests): calendar arithmetic in UTC, plans, test clocks,
//! subscriptions and invoices.

use super::*;

/// One test clock advance may take this long to answer, and a 202 is then polled up to this
/// bound again: far above what renewing a few thousand subscriptions on the sandbox takes.
pub const CLOCK_ADVANCE_TIMEOUT: Duration = Duration::from_secs(300);
pub const SECONDS_PER_HOUR: i64 = 3_600;
pub const SECONDS_PER_DAY: i64 = 86_400;

pub fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => panic!("no month {month}"),
    }
}

/// Unix seconds of a UTC calendar instant (proleptic Gregorian; Howard Hinnant's
/// `days_from_civil`), so expected period boundaries are written as dates, not as numbers.
pub fn utc(year: i64, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> i64 {
    assert!(
        (1..=12).contains(&month) && (1..=days_in_month(year, month)).contains(&day),
        "no date {year}-{month:02}-{day:02}"
    );
    assert!(hour < 24 && minute < 60 && second < 60, "no time {hour}:{minute}:{second}");
    let march_based_year = if month <= 2 { year - 1 } else { year };
    let era = march_based_year.div_euclid(400);
    let year_of_era = march_based_year - era * 400;
    let month = i64::from(month);
    let march_based_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * march_based_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    days * SECONDS_PER_DAY
        + i64::from(hour) * SECONDS_PER_HOUR
        + i64::from(minute) * 60
        + i64::from(second)
}

/// The `months_after`-th monthly boundary of an anchor at `year-month-day hour:minute:second`
/// UTC: the anchor's day in that month, or the month's last day when it is shorter (an anchor
/// on the 31st falls on Feb 29, Apr 30, … and returns to the 31st afterwards).
pub fn monthly_boundary(
    year: i64,
    month: u32,
    day: u32,
    (hour, minute, second): (u32, u32, u32),
    months_after: u32,
) -> i64 {
    let months_from_year_0 = year * 12 + i64::from(month - 1) + i64::from(months_after);
    let boundary_year = months_from_year_0.div_euclid(12);
    let boundary_month = months_from_year_0.rem_euclid(12) as u32 + 1;
    let boundary_day = day.min(days_in_month(boundary_year, boundary_month));
    utc(boundary_year, boundary_month, boundary_day, hour, minute, second)
}

/// `amount × remaining / period`, rounded half-up to the minor unit: the bundled proration
/// rule's arithmetic (second-precise, integer), for expected proration lines.
pub fn prorated(amount: i64, remaining_secs: i64, period_secs: i64) -> i64 {
    assert!(amount >= 0 && remaining_secs >= 0 && period_secs > 0);
    let scaled = i128::from(amount) * i128::from(remaining_secs);
    let period = i128::from(period_secs);
    i64::try_from((2 * scaled + period) / (2 * period)).expect("a prorated amount fits an i64")
}

/// What an invoice line says, in a form that compares and sorts:
/// `(plan, quantity, amount, period start, period end, proration)`.
pub type LineSummary = (String, u64, i64, i64, i64, bool);

/// One expected invoice line, as `line_summaries` gives it.
pub fn expected_line(
    plan: &str,
    quantity: u64,
    amount: i64,
    period: (i64, i64),
    proration: bool,
) -> LineSummary {
    (plan.to_string(), quantity, amount, period.0, period.1, proration)
}

/// The lines of an invoice (stored or previewed), sorted, so two invoices compare line for line
/// whatever order each lists them in.
pub fn line_summaries(invoice: &Value) -> Vec<LineSummary> {
    let lines = invoice["lines"].as_array().unwrap_or_else(|| panic!("no `lines` in {invoice}"));
    let mut summaries: Vec<LineSummary> = lines
        .iter()
        .map(|line| {
            let field = |name: &str| -> i64 {
                line["period"][name]
                    .as_i64()
                    .unwrap_or_else(|| panic!("no integer `period.{name}` in line {line}"))
            };
            (
                str_field(line, "plan").to_string(),
                u64_field(line, "quantity"),
                line["amount"].as_i64().unwrap_or_else(|| panic!("no integer `amount` in {line}")),
                field("start"),
                field("end"),
                line["proration"]
                    .as_bool()
                    .unwrap_or_else(|| panic!("no boolean `proration` in {line}")),
            )
        })
        .collect();
    summaries.sort();
    summaries
}

pub fn i64_field(value: &Value, field: &str) -> i64 {
    value[field].as_i64().unwrap_or_else(|| panic!("no integer `{field}` in {value}"))
}

/// `(period_start, period_end)` of an invoice, or `(current_period_start, current_period_end)`
/// of a subscription.
pub fn period_of(value: &Value) -> (i64, i64) {
    if value["object"] == "subscription" {
        (i64_field(value, "current_period_start"), i64_field(value, "current_period_end"))
    } else {
        (i64_field(value, "period_start"), i64_field(value, "period_end"))
    }
}

impl Api {
    /// Creates a plan from `body`; asserts 200 and returns it.
    pub async fn create_plan(&self, body: &Value) -> Value {
        self.post("/v1/plans", body).await.ok().clone()
    }

    /// A plan of `amount` per `interval` in `currency`, tax exclusive; returns its id.
    pub async fn plan(&self, amount: u64, currency: &str, interval: &str) -> String {
        let body = json!({
            "name": format!("{amount} {currency} per {interval}"),
            "amount": amount,
            "currency": currency,
            "interval": interval,
            "tax_behavior": "exclusive",
        });
        str_field(&self.create_plan(&body).await, "id").to_string()
    }

    /// A test clock frozen at `frozen_time`; returns its id.
    pub async fn create_clock(&self, frozen_time: i64) -> String {
        self.post("/v1/test_clocks", &json!({ "frozen_time": frozen_time })).await.id()
    }

    /// Asks `clock` to advance to `frozen_time`, allowing the answer `CLOCK_ADVANCE_TIMEOUT`.
    pub async fn try_advance_clock(
        &self,
        clock: &str,
        frozen_time: i64,
    ) -> Result<Resp, reqwest::Error> {
        let path = format!("/v1/test_clocks/{clock}/advance");
        let mut request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .timeout(CLOCK_ADVANCE_TIMEOUT)
            .header("Content-Type", "application/json")
            .body(to_bytes(&json!({ "frozen_time": frozen_time })));
        if let Some(authorization) = &self.authorization {
            request = request.header("Authorization", authorization);
        }
        Resp::read(format!("POST {path}"), request.send().await?).await
    }

    /// Advances `clock` to `frozen_time` and returns the clock once it is `ready` there (a 202
    /// `advancing` is polled, bounded); everything due up to that instant has then run.
    pub async fn advance_clock(&self, clock: &str, frozen_time: i64) -> Value {
        let response = self
            .try_advance_clock(clock, frozen_time)
            .await
            .unwrap_or_else(|error| panic!("advance {clock}: transport error: {error:?}"));
        let answered = match response.status {
            200 | 202 => response.body.clone(),
            _ => panic!(
                "{}: expected 200 or 202, got {}: {}",
                response.what, response.status, response.text
            ),
        };
        let ready = if response.status == 200 && answered["status"] == "ready" {
            answered
        } else {
            let path = format!("/v1/test_clocks/{clock}");
            wait_for("the test clock to be ready", CLOCK_ADVANCE_TIMEOUT, || {
                let (api, path) = (self.clone(), path.clone());
                async move {
                    let clock = api.get_ok(&path).await;
                    (clock["status"] == "ready").then_some(clock)
                }
            })
            .await
        };
        assert_eq!(ready["frozen_time"], frozen_time, "the clock after its advance: {ready}");
        ready
    }

    /// A customer on `clock` with an address in `country` and no payment method; returns its id.
    pub async fn clock_customer(&self, clock: &str, country: &str) -> String {
        let body = json!({
            "email": "billing@example.com",
            "address": { "country": country },
            "test_clock": clock,
        });
        str_field(&self.create_customer_with(&body).await, "id").to_string()
    }

    /// A customer on `clock` in `country` whose default payment method is `token`.
    pub async fn clock_customer_with_card(
        &self,
        clock: &str,
        country: &str,
        token: &str,
    ) -> String {
        let customer = self.clock_customer(clock, country).await;
        self.add_payment_method(&customer, token).await;
        customer
    }

    pub async fn subscribe(&self, body: &Value) -> Resp {
        self.post("/v1/subscriptions", body).await
    }

    /// Subscribes `customer` to `plan` (quantity 1, no options); asserts 200 and returns it.
    pub async fn subscribe_ok(&self, customer: &str, plan: &str) -> Value {
        self.subscribe(&json!({ "customer": customer, "plan": plan })).await.ok().clone()
    }

    pub async fn subscription(&self, id: &str) -> Value {
        self.get_ok(&format!("/v1/subscriptions/{id}")).await
    }

    pub async fn update_subscription(&self, id: &str, body: &Value) -> Resp {
        self.post(&format!("/v1/subscriptions/{id}"), body).await
    }

    pub async fn customer_subscriptions(&self, customer: &str) -> Vec<Value> {
        self.list_all(&format!("/v1/customers/{customer}/subscriptions"), "id").await
    }

    pub async fn invoice(&self, id: &str) -> Value {
        self.get_ok(&format!("/v1/invoices/{id}")).await
    }

    /// A subscription's invoices, oldest first.
    pub async fn subscription_invoices(&self, subscription: &str) -> Vec<Value> {
        let mut invoices =
            self.list_all(&format!("/v1/invoices?subscription={subscription}"), "id").await;
        invoices.reverse();
        invoices
    }

    /// A customer's invoices, oldest first.
    pub async fn customer_invoices(&self, customer: &str) -> Vec<Value> {
        let mut invoices = self.list_all(&format!("/v1/invoices?customer={customer}"), "id").await;
        invoices.reverse();
        invoices
    }

    /// `GET /v1/subscriptions/{id}/upcoming_invoice` with `query` (`""` or `"?plan=…&…"`).
    pub async fn upcoming_invoice(&self, subscription: &str, query: &str) -> Value {
        self.get_ok(&format!("/v1/subscriptions/{subscription}/upcoming_invoice{query}")).await
    }
}
