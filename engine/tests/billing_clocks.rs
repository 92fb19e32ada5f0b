//! Test clocks and the calendar: periods to the second, however long the months.
//!
//! Proves that a test clock is created frozen, reads back, and belongs to its account; that a
//! monthly subscription anchored on Jan 31 2024 (a leap year) renews through the whole year at
//! exactly 10:00:00 UTC on Feb 29, Mar 31, Apr 30, May 31, … Dec 31 — twelve paid invoices with
//! exactly those periods, not one second early; that anchors on the 28th, 29th and 30th keep their
//! day and clamp only in shorter Februaries, in 2024 and in 2025; that a quarterly anchor on the
//! 31st, weekly and fortnightly plans, and a yearly plan started on Feb 29 2024 (renewing on Feb
//! 28 in 2025–2027 and on Feb 29 again in 2028) keep their calendars; that an advance backwards,
//! to the same instant or beyond two years is 400 `test_clock_invalid` and changes nothing; that
//! two clocks advanced at the same time each renew only their own subscriptions, exactly as their
//! own time says, and that neither touches a subscription on the wall clock; and that deleting a
//! clock removes nothing else.
//! How: a fresh engine per test (see `common`); every renewal is driven by advancing a test clock
//! over HTTP, never by waiting; expected boundaries are written as calendar dates (`utc`) and,
//! for long runs, computed by `monthly_boundary` (the anchor's day, or the month's last day).

mod common;

use common::*;

/// 10:00:00 UTC: the time of day of every anchor in the calendar tests.
const TEN_AM: (u32, u32, u32) = (10, 0, 0);

fn at_ten(year: i64, month: u32, day: u32) -> i64 {
    utc(year, month, day, 10, 0, 0)
}

/// Asserts that `invoices` (oldest first) are paid, one per period, with exactly
/// `boundaries[n]..boundaries[n + 1]` as the n-th period, on the invoice and on its line.
#[track_caller]
fn assert_paid_periods(invoices: &[Value], boundaries: &[i64], amount: u64) {
    assert_eq!(
        invoices.len(),
        boundaries.len() - 1,
        "one invoice per period; periods {boundaries:?}, invoices {invoices:#?}"
    );
    for (n, invoice) in invoices.iter().enumerate() {
        let period = (boundaries[n], boundaries[n + 1]);
        assert_eq!(period_of(invoice), period, "invoice {n}: {invoice}");
        let lines = invoice["lines"].as_array().unwrap_or_else(|| panic!("no lines: {invoice}"));
        assert_eq!(lines.len(), 1, "invoice {n} has its one plan line: {invoice}");
        assert_eq!(lines[0]["period"], json!({"start": period.0, "end": period.1}), "{invoice}");
        assert_eq!(lines[0]["proration"], false, "{invoice}");
        assert_eq!(invoice["status"], "paid", "invoice {n}: {invoice}");
        assert_eq!(invoice["amount_paid"], amount, "invoice {n}: {invoice}");
    }
}

#[tokio::test]
async fn a_test_clock_is_created_frozen_and_reads_back_only_for_its_account() {
    let started = now_secs();
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let frozen_time = at_ten(2024, 1, 31);

    let body = json!({"frozen_time": frozen_time, "name": "leap year"});
    let clock = api.post("/v1/test_clocks", &body).await.ok().clone();
    let id = str_field(&clock, "id");
    assert!(id.starts_with("clock_"), "clock id: {clock}");
    assert_eq!(clock["object"], "test_clock");
    assert_eq!(clock["frozen_time"], frozen_time);
    assert_eq!(clock["status"], "ready");
    assert_eq!(clock["name"], "leap year");
    assert_created_recently(&clock, started);
    let path = format!("/v1/test_clocks/{id}");
    assert_eq!(api.get_ok(&path).await, clock);

    let api_b = engine.api_b();
    assert_error(&api_b.get(&path).await, 404, "not_found");
    let advance = format!("{path}/advance");
    let refused = api_b.post(&advance, &json!({"frozen_time": frozen_time + 60})).await;
    assert_error(&refused, 404, "not_found");
    let customer = api_b.post("/v1/customers", &json!({"test_clock": id})).await;
    assert!(
        matches!(customer.status, 400 | 404),
        "a customer on another account's clock: {}",
        customer.text
    );
    assert_eq!(api.get_ok(&path).await, clock, "B changed nothing");
}

#[tokio::test]
async fn a_monthly_anchor_on_the_31st_renews_on_the_last_day_of_shorter_months() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let clock = api.create_clock(at_ten(2024, 1, 31)).await;
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let plan = api.plan(1_000, "usd", "month").await;
    let boundaries = [
        (2024, 1, 31),
        (2024, 2, 29),
        (2024, 3, 31),
        (2024, 4, 30),
        (2024, 5, 31),
        (2024, 6, 30),
        (2024, 7, 31),
        (2024, 8, 31),
        (2024, 9, 30),
        (2024, 10, 31),
        (2024, 11, 30),
        (2024, 12, 31),
        (2025, 1, 31),
    ]
    .map(|(year, month, day)| at_ten(year, month, day));

    let subscription = api.subscribe_ok(&customer, &plan).await;
    let id = str_field(&subscription, "id").to_string();
    assert_eq!(period_of(&subscription), (boundaries[0], boundaries[1]), "{subscription}");
    assert_eq!(subscription["billing_cycle_anchor"], boundaries[0], "{subscription}");

    // Not one second early: at 09:59:59 on Feb 29 the January period still runs.
    api.advance_clock(&clock, boundaries[1] - 1).await;
    assert_eq!(api.subscription_invoices(&id).await.len(), 1, "renewed before the boundary");
    for n in 1..12 {
        api.advance_clock(&clock, boundaries[n]).await;
        let subscription = api.subscription(&id).await;
        assert_eq!(
            period_of(&subscription),
            (boundaries[n], boundaries[n + 1]),
            "after advancing to boundary {n}: {subscription}"
        );
        assert_eq!(subscription["status"], "active", "{subscription}");
    }

    assert_paid_periods(&api.subscription_invoices(&id).await, &boundaries, 1_000);
    let ledger = api.ledger().await;
    assert_eq!(ledger_of_kind(&ledger, "charge").len(), 12, "one charge per month: {ledger:?}");
}

#[tokio::test]
async fn monthly_anchors_on_the_28th_29th_and_30th_keep_their_day_in_leap_and_plain_februaries() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let clock = api.create_clock(at_ten(2024, 1, 28)).await;
    let plan = api.plan(2_500, "usd", "month").await;

    let mut subscriptions = Vec::new();
    for day in [28, 29, 30] {
        if day > 28 {
            api.advance_clock(&clock, at_ten(2024, 1, day)).await;
        }
        let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
        let subscription = api.subscribe_ok(&customer, &plan).await;
        subscriptions.push((day, str_field(&subscription, "id").to_string()));
    }
    // One advance through the leap February of 2024 and the plain one of 2025: each renewal in
    // between runs, in time order.
    let until = utc(2025, 4, 1, 0, 0, 0);
    api.advance_clock(&clock, until).await;

    for (day, id) in &subscriptions {
        let boundaries: Vec<i64> =
            (0..=15).map(|n| monthly_boundary(2024, 1, *day, TEN_AM, n)).collect();
        assert_eq!(boundaries[15], at_ten(2025, 4, *day), "15 periods up to April 2025");
        assert_paid_periods(&api.subscription_invoices(id).await, &boundaries, 2_500);
    }
    // The calendar, written out where it is easy to get wrong.
    let expected = [
        (28, [(2024, 2, 28), (2024, 3, 28), (2025, 2, 28), (2025, 3, 28)]),
        (29, [(2024, 2, 29), (2024, 3, 29), (2025, 2, 28), (2025, 3, 29)]),
        (30, [(2024, 2, 29), (2024, 3, 30), (2025, 2, 28), (2025, 3, 30)]),
    ];
    for ((day, id), (expected_day, dates)) in subscriptions.iter().zip(expected) {
        assert_eq!(*day, expected_day);
        let starts: Vec<i64> = api
            .subscription_invoices(id)
            .await
            .iter()
            .map(|invoice| period_of(invoice).0)
            .collect();
        for (year, month, date) in dates {
            assert!(
                starts.contains(&at_ten(year, month, date)),
                "an anchor on the {day}th renews on {year}-{month:02}-{date:02}: {starts:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_quarterly_anchor_on_the_31st_clamps_only_in_shorter_months() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let clock = api.create_clock(at_ten(2024, 1, 31)).await;
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let body = json!({
        "name": "Quarterly", "amount": 9_000, "currency": "usd", "interval": "month",
        "interval_count": 3, "tax_behavior": "exclusive",
    });
    let plan = api.create_plan(&body).await;
    let subscription = api.subscribe_ok(&customer, str_field(&plan, "id")).await;

    api.advance_clock(&clock, utc(2025, 2, 1, 0, 0, 0)).await;
    // Five quarters invoiced, the last one (from Jan 31 2025) begun.
    let boundaries =
        [(2024, 1, 31), (2024, 4, 30), (2024, 7, 31), (2024, 10, 31), (2025, 1, 31), (2025, 4, 30)]
            .map(|(year, month, day)| at_ten(year, month, day));
    let invoices = api.subscription_invoices(str_field(&subscription, "id")).await;
    assert_paid_periods(&invoices, &boundaries, 9_000);
}

#[tokio::test]
async fn weekly_and_fortnightly_plans_renew_every_7_and_14_days_to_the_second() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    // A Monday just before the leap day, which the weeks simply run through.
    let start = at_ten(2024, 2, 26);
    let clock = api.create_clock(start).await;
    let weekly = api.plan(300, "usd", "week").await;
    let body = json!({
        "name": "Fortnightly", "amount": 550, "currency": "usd", "interval": "week",
        "interval_count": 2, "tax_behavior": "exclusive",
    });
    let fortnightly = api.create_plan(&body).await;
    let fortnightly = str_field(&fortnightly, "id");
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let weekly_subscription = api.subscribe_ok(&customer, &weekly).await;
    let fortnightly_subscription = api.subscribe_ok(&customer, fortnightly).await;

    // Five weeks and an hour: the weekly plan renews five times, the fortnightly twice.
    api.advance_clock(&clock, start + 35 * SECONDS_PER_DAY + SECONDS_PER_HOUR).await;
    let weeks: Vec<i64> = (0..=6).map(|n| start + n * 7 * SECONDS_PER_DAY).collect();
    let weekly_invoices = api.subscription_invoices(str_field(&weekly_subscription, "id")).await;
    assert_paid_periods(&weekly_invoices, &weeks, 300);
    assert_eq!(weeks[1], at_ten(2024, 3, 4), "the first week ends on Monday Mar 4");
    let fortnights: Vec<i64> = (0..=3).map(|n| start + n * 14 * SECONDS_PER_DAY).collect();
    let fortnightly_id = str_field(&fortnightly_subscription, "id");
    assert_paid_periods(&api.subscription_invoices(fortnightly_id).await, &fortnights, 550);
}

#[tokio::test]
async fn a_yearly_plan_started_on_feb_29_renews_on_feb_28_and_on_feb_29_in_2028() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let clock = api.create_clock(at_ten(2024, 2, 29)).await;
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let plan = api.plan(12_000, "usd", "year").await;
    let subscription = api.subscribe_ok(&customer, &plan).await;
    let id = str_field(&subscription, "id").to_string();
    let boundaries = [(2024, 2, 29), (2025, 2, 28), (2026, 2, 28), (2027, 2, 28), (2028, 2, 29)]
        .map(|(year, month, day)| at_ten(year, month, day));
    assert_eq!(period_of(&subscription), (boundaries[0], boundaries[1]), "{subscription}");

    // Not on Feb 27, nor a second before 10:00 on Feb 28.
    api.advance_clock(&clock, boundaries[1] - 1).await;
    assert_eq!(api.subscription_invoices(&id).await.len(), 1, "renewed before Feb 28 10:00");
    for (n, boundary) in boundaries.iter().enumerate().skip(1) {
        api.advance_clock(&clock, boundary + SECONDS_PER_HOUR).await;
        let subscription = api.subscription(&id).await;
        assert_eq!(period_of(&subscription).0, *boundary, "renewal {n}: {subscription}");
    }
    let mut all_boundaries = boundaries.to_vec();
    all_boundaries.push(at_ten(2029, 2, 28));
    assert_paid_periods(&api.subscription_invoices(&id).await, &all_boundaries, 12_000);
}

#[tokio::test]
async fn an_advance_backwards_to_the_same_instant_or_beyond_two_years_is_refused() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let now = utc(2024, 1, 1, 0, 0, 0);
    let clock = api.create_clock(now).await;
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let plan = api.plan(1_000, "usd", "month").await;
    let subscription = api.subscribe_ok(&customer, &plan).await;
    let id = str_field(&subscription, "id");
    let path = format!("/v1/test_clocks/{clock}");
    let before = api.get_ok(&path).await;

    let cases = [
        ("backwards by a second", json!(now - 1)),
        ("backwards by a year", json!(utc(2023, 1, 1, 0, 0, 0))),
        ("to the same instant", json!(now)),
        // Beyond two years however they are counted (731 calendar days here, or 2 × 366).
        ("two years and a week ahead", json!(utc(2026, 1, 8, 0, 0, 0))),
        ("ten years ahead", json!(utc(2034, 1, 1, 0, 0, 0))),
    ];
    for (name, frozen_time) in cases {
        let response =
            api.post(&format!("{path}/advance"), &json!({"frozen_time": frozen_time})).await;
        assert_eq!(response.status, 400, "{name}: {}", response.text);
        assert_error(&response, 400, "test_clock_invalid");
    }
    for (name, body) in
        [("no frozen_time", json!({})), ("a string", json!({"frozen_time": "soon"}))]
    {
        let response = api.post(&format!("{path}/advance"), &body).await;
        assert_eq!(response.status, 400, "{name}: {}", response.text);
        assert_error_shape(&response);
    }
    assert_eq!(api.get_ok(&path).await, before, "the clock did not move");
    assert_eq!(api.subscription_invoices(id).await.len(), 1, "nothing was renewed");

    // Just under two years (729 days) is an advance like any other: 23 monthly renewals.
    api.advance_clock(&clock, utc(2025, 12, 30, 0, 0, 0)).await;
    let months: Vec<i64> = (0..=24).map(|n| monthly_boundary(2024, 1, 1, (0, 0, 0), n)).collect();
    assert_paid_periods(&api.subscription_invoices(id).await, &months, 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clocks_advanced_at_once_each_renew_only_their_own_subscriptions() {
    const PER_CLOCK: usize = 3;
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let plan = api.plan(1_000, "usd", "month").await;
    let start_a = utc(2024, 1, 15, 0, 0, 0);
    let start_b = utc(2024, 3, 10, 0, 0, 0);
    let (clock_a, clock_b) = (api.create_clock(start_a).await, api.create_clock(start_b).await);
    let mut on_a = Vec::new();
    let mut on_b = Vec::new();
    for _ in 0..PER_CLOCK {
        for (clock, subscriptions) in [(&clock_a, &mut on_a), (&clock_b, &mut on_b)] {
            let customer = api.clock_customer_with_card(clock, "US", "pm_card_visa").await;
            let subscription = api.subscribe_ok(&customer, &plan).await;
            subscriptions.push(str_field(&subscription, "id").to_string());
        }
    }
    // A customer on no clock: real time, which neither advance may touch.
    let wall_customer = api
        .create_customer_with(&json!({"email": "wall@example.com", "address": {"country": "US"}}))
        .await;
    let wall_customer = str_field(&wall_customer, "id").to_string();
    api.add_payment_method(&wall_customer, "pm_card_visa").await;
    let wall = api.subscribe_ok(&wall_customer, &plan).await;
    let wall_id = str_field(&wall, "id").to_string();

    let (until_a, until_b) = (utc(2024, 4, 15, 12, 0, 0), utc(2024, 5, 10, 12, 0, 0));
    let (clock_a_after, clock_b_after) =
        tokio::join!(api.advance_clock(&clock_a, until_a), api.advance_clock(&clock_b, until_b));
    assert_eq!(clock_a_after["frozen_time"], until_a);
    assert_eq!(clock_b_after["frozen_time"], until_b);

    let months_a: Vec<i64> = (0..=4).map(|n| monthly_boundary(2024, 1, 15, (0, 0, 0), n)).collect();
    let months_b: Vec<i64> = (0..=3).map(|n| monthly_boundary(2024, 3, 10, (0, 0, 0), n)).collect();
    for id in &on_a {
        assert_paid_periods(&api.subscription_invoices(id).await, &months_a, 1_000);
    }
    for id in &on_b {
        assert_paid_periods(&api.subscription_invoices(id).await, &months_b, 1_000);
    }
    let wall_invoices = api.subscription_invoices(&wall_id).await;
    assert_eq!(wall_invoices.len(), 1, "the wall-clock subscription did not renew");
    assert_eq!(period_of(&api.subscription(&wall_id).await), period_of(&wall), "not moved");

    // Advancing one clock alone leaves the other's subscriptions where they are.
    api.advance_clock(&clock_a, utc(2024, 6, 15, 12, 0, 0)).await;
    for id in &on_b {
        assert_eq!(api.subscription_invoices(id).await.len(), 3, "B's did not renew with A");
    }
    for id in &on_a {
        assert_eq!(api.subscription_invoices(id).await.len(), 6, "A's renewed in May and June");
    }
    assert_eq!(api.get_ok(&format!("/v1/test_clocks/{clock_b}")).await["frozen_time"], until_b);
}

#[tokio::test]
async fn deleting_a_clock_removes_nothing_else() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let clock = api.create_clock(utc(2024, 1, 1, 0, 0, 0)).await;
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let plan = api.plan(1_000, "usd", "month").await;
    let subscription = api.subscribe_ok(&customer, &plan).await;
    let id = str_field(&subscription, "id");
    api.advance_clock(&clock, utc(2024, 2, 1, 1, 0, 0)).await;
    let invoices = api.subscription_invoices(id).await;
    let customer_before = api.get_ok(&format!("/v1/customers/{customer}")).await;
    let subscription_before = api.subscription(id).await;

    api.delete(&format!("/v1/test_clocks/{clock}")).await.ok();
    assert_error(&api.get(&format!("/v1/test_clocks/{clock}")).await, 404, "not_found");
    assert_eq!(api.get_ok(&format!("/v1/customers/{customer}")).await, customer_before);
    assert_eq!(api.subscription(id).await, subscription_before);
    assert_eq!(api.subscription_invoices(id).await, invoices);
    assert_eq!(api.customer_charges(&customer).await.len(), 2);
}
