//! Changes mid-period: what an upgrade, a downgrade or a seat change costs, to the second.
//!
//! Proves that a plan or quantity change mid-period prorates to the second with the bundled
//! rule's half-up integer arithmetic (`create_prorations`: a negative credit line and a positive
//! line for the rest of the period on the next renewal invoice; `always_invoice`: an invoice of
//! those lines made and paid at once; `none`: no proration lines), also at the first and at the
//! last second of a period; that a change from monthly to annual starts a new period at the
//! change and invoices the year at once with the unused month credited; that the
//! upcoming-invoice preview of a renewal or of a change at a given instant is, line for line and
//! total for total, the invoice then made, and is not stored; and that a downgrade whose net is
//! negative becomes a credit on the customer's balance that the next invoices use
//! (`balance_applied`) before anything is charged; and that a period cut short by
//! `billing_cycle_anchor` (the first, or the stub after a trial) is billed its share of the whole
//! period, and a change in it credits and charges the days left at the plans' rates over that
//! whole period.
//! How: a fresh engine per test (see `common`); each customer lives on a test clock started at
//! 2024-03-01T00:00:00Z (March: 31 days, `common/subscription_fixture.rs`), renewals run by
//! advancing it; expected proration amounts are computed with `prorated` and spot-checked as
//! numbers.

mod common;
#[path = "common/subscription_fixture.rs"]
mod fixture;

use common::*;
use fixture::*;

#[tokio::test]
async fn an_upgrade_with_create_prorations_puts_a_credit_and_a_charge_on_the_next_invoice() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let id = b.subscribe(&b.basic).await;
    b.advance(mar_11()).await;

    let changed = b.api.update_subscription(&id, &json!({"plan": b.pro})).await.ok().clone();
    assert_eq!(changed["plan"], b.pro.as_str(), "{changed}");
    assert_eq!(changed["status"], "active", "{changed}");
    assert_eq!(period_of(&changed), (mar_1(), apr_1()), "the period is kept: {changed}");
    assert_eq!(b.api.subscription_invoices(&id).await.len(), 1, "nothing is invoiced now");

    let remaining = apr_1() - mar_11();
    let (credit, charge) =
        (prorated(BASIC, remaining, march_secs()), prorated(PRO, remaining, march_secs()));
    assert_eq!((credit, charge), (677, 2_032), "21/31 of 10.00 and of 30.00, half-up");
    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    let renewal = &invoices[1];
    let mut expected = vec![
        expected_line(&b.basic, 1, -credit, (mar_11(), apr_1()), true),
        expected_line(&b.pro, 1, charge, (mar_11(), apr_1()), true),
        expected_line(&b.pro, 1, PRO, (apr_1(), may_1()), false),
    ];
    expected.sort();
    assert_eq!(line_summaries(renewal), expected, "{renewal}");
    assert_eq!(renewal["subtotal"], PRO + charge - credit, "{renewal}");
    assert_eq!(renewal["total"], 4_355, "{renewal}");
    assert_eq!(renewal["amount_due"], 4_355, "{renewal}");
    assert_eq!(renewal["status"], "paid", "{renewal}");
    assert_eq!(ledger_amounts(&b.api, str_field(renewal, "charge")).await, [4_355]);
}

#[tokio::test]
async fn an_upgrade_with_always_invoice_is_invoiced_and_paid_at_once() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let id = b.subscribe(&b.basic).await;
    b.advance(mar_11()).await;

    let body = json!({"plan": b.pro, "proration_behavior": "always_invoice"});
    let changed = b.api.update_subscription(&id, &body).await.ok().clone();
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 2, "the proration is invoiced now: {invoices:#?}");
    let proration = &invoices[1];
    assert_eq!(changed["latest_invoice"], proration["id"], "{changed}");
    let mut expected = vec![
        expected_line(&b.basic, 1, -677, (mar_11(), apr_1()), true),
        expected_line(&b.pro, 1, 2_032, (mar_11(), apr_1()), true),
    ];
    expected.sort();
    assert_eq!(line_summaries(proration), expected, "{proration}");
    assert_eq!(proration["total"], 1_355, "{proration}");
    assert_eq!(proration["status"], "paid", "{proration}");
    assert_eq!(proration["amount_paid"], 1_355, "{proration}");
    // The rule versions that made it, the proration rule's among them (the bundled one).
    let rules = &proration["rules"];
    for kind in ["pricing", "tax", "proration"] {
        assert_eq!(rules[kind]["kind"], kind, "{rules}");
        assert_eq!(rules[kind]["source"], "bundled", "{rules}");
    }
    assert_eq!(ledger_amounts(&b.api, str_field(proration, "charge")).await, [1_355]);

    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 3, "{invoices:#?}");
    assert_eq!(
        line_summaries(&invoices[2]),
        [expected_line(&b.pro, 1, PRO, (apr_1(), may_1()), false)],
        "the renewal carries no proration a second time"
    );
    assert_eq!(invoices[2]["total"], PRO);
}

#[tokio::test]
async fn a_change_with_proration_behavior_none_makes_no_proration_lines() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let id = b.subscribe(&b.basic).await;
    b.advance(mar_11()).await;

    let body = json!({"plan": b.pro, "proration_behavior": "none"});
    let changed = b.api.update_subscription(&id, &body).await.ok().clone();
    assert_eq!(changed["plan"], b.pro.as_str(), "{changed}");
    assert_eq!(b.api.subscription_invoices(&id).await.len(), 1, "nothing invoiced now");
    let next = [expected_line(&b.pro, 1, PRO, (apr_1(), may_1()), false)];
    assert_eq!(line_summaries(&b.api.upcoming_invoice(&id, "").await), next);

    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    assert_eq!(line_summaries(&invoices[1]), next);
    assert_eq!(invoices[1]["total"], PRO);
    assert_eq!(b.balance().await, 0, "no credit either");
}

/// Plans of 50 000.00 and 80 000.00 a month: prices at which one second of March is worth
/// more than half a cent, so the last second of a period shows in the lines.
async fn enterprise_plans(api: &Api) -> (String, String) {
    (api.plan(5_000_000, "usd", "month").await, api.plan(8_000_000, "usd", "month").await)
}

#[tokio::test]
async fn a_change_at_the_first_second_of_a_period_credits_the_whole_period() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let (small, large) = enterprise_plans(&b.api).await;
    let id = b.subscribe(&small).await;

    // The clock is still at the period's first second.
    let body = json!({"plan": large, "proration_behavior": "always_invoice"});
    b.api.update_subscription(&id, &body).await.ok();
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    let mut expected = vec![
        expected_line(&small, 1, -5_000_000, (mar_1(), apr_1()), true),
        expected_line(&large, 1, 8_000_000, (mar_1(), apr_1()), true),
    ];
    expected.sort();
    assert_eq!(line_summaries(&invoices[1]), expected, "{}", invoices[1]);
    assert_eq!(invoices[1]["total"], 3_000_000);
    assert_eq!(ledger_amounts(&b.api, str_field(&invoices[1], "charge")).await, [3_000_000]);
}

#[tokio::test]
async fn a_change_at_the_last_second_of_a_period_prorates_one_second() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let (small, large) = enterprise_plans(&b.api).await;
    let id = b.subscribe(&small).await;
    let last_second = apr_1() - 1;
    b.advance(last_second).await;

    b.api.update_subscription(&id, &json!({"plan": large})).await.ok();
    let (credit, charge) =
        (prorated(5_000_000, 1, march_secs()), prorated(8_000_000, 1, march_secs()));
    // 5 000 000 / 2 678 400 = 1.87 and 8 000 000 / 2 678 400 = 2.99: not whole days, not 0.
    assert_eq!((credit, charge), (2, 3));
    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    let mut expected = vec![
        expected_line(&small, 1, -credit, (last_second, apr_1()), true),
        expected_line(&large, 1, charge, (last_second, apr_1()), true),
        expected_line(&large, 1, 8_000_000, (apr_1(), may_1()), false),
    ];
    expected.sort();
    assert_eq!(line_summaries(&invoices[1]), expected, "{}", invoices[1]);
    assert_eq!(invoices[1]["total"], 8_000_001);
}

#[tokio::test]
async fn a_quantity_change_prorates_the_seats_added() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let body = json!({"customer": b.customer, "plan": b.basic, "quantity": 3});
    let subscription = b.api.subscribe(&body).await.ok().clone();
    let id = str_field(&subscription, "id");
    assert_eq!(b.api.invoice(str_field(&subscription, "latest_invoice")).await["total"], 3 * BASIC);
    b.advance(mar_11()).await;

    let changed = b.api.update_subscription(id, &json!({"quantity": 5})).await.ok().clone();
    assert_eq!(changed["quantity"], 5, "{changed}");
    let remaining = apr_1() - mar_11();
    let (credit, charge) = (
        prorated(3 * BASIC, remaining, march_secs()),
        prorated(5 * BASIC, remaining, march_secs()),
    );
    assert_eq!((credit, charge), (2_032, 3_387));
    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let invoices = b.api.subscription_invoices(id).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    let mut expected = vec![
        expected_line(&b.basic, 3, -credit, (mar_11(), apr_1()), true),
        expected_line(&b.basic, 5, charge, (mar_11(), apr_1()), true),
        expected_line(&b.basic, 5, 5 * BASIC, (apr_1(), may_1()), false),
    ];
    expected.sort();
    assert_eq!(line_summaries(&invoices[1]), expected, "{}", invoices[1]);
    assert_eq!(invoices[1]["total"], 6_355);
}

#[tokio::test]
async fn a_change_from_monthly_to_annual_resets_the_anchor_and_invoices_the_year_at_once() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let annual = b.api.plan(10_000, "usd", "year").await;
    let id = b.subscribe(&b.basic).await;
    b.advance(mar_11()).await;

    let changed = b.api.update_subscription(&id, &json!({"plan": annual})).await.ok().clone();
    let year = (mar_11(), utc(2025, 3, 11, 0, 0, 0));
    assert_eq!(period_of(&changed), year, "a new period from the change: {changed}");
    assert_eq!(changed["billing_cycle_anchor"], mar_11(), "{changed}");
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 2, "the year is invoiced at once: {invoices:#?}");
    let mut expected = vec![
        expected_line(&b.basic, 1, -677, (mar_11(), apr_1()), true),
        expected_line(&annual, 1, 10_000, year, false),
    ];
    expected.sort();
    assert_eq!(line_summaries(&invoices[1]), expected, "{}", invoices[1]);
    assert_eq!(invoices[1]["total"], 9_323, "{}", invoices[1]);
    assert_eq!(invoices[1]["status"], "paid", "{}", invoices[1]);
    assert_eq!(ledger_amounts(&b.api, str_field(&invoices[1], "charge")).await, [9_323]);

    // Nothing in April: the next invoice is the next year's.
    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    assert_eq!(b.api.subscription_invoices(&id).await.len(), 2, "no April invoice");
    b.advance(year.1 + SECONDS_PER_HOUR).await;
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 3, "{invoices:#?}");
    let next_year = (year.1, utc(2026, 3, 11, 0, 0, 0));
    assert_eq!(line_summaries(&invoices[2]), [expected_line(&annual, 1, 10_000, next_year, false)]);
}

const PREVIEWED_FIELDS: &[&str] = &[
    "customer",
    "subscription",
    "currency",
    "subtotal",
    "discounts",
    "tax",
    "total",
    "balance_applied",
    "amount_due",
    "period_start",
    "period_end",
];

#[track_caller]
fn assert_preview_is(preview: &Value, invoice: &Value) {
    assert_eq!(line_summaries(preview), line_summaries(invoice), "lines of {preview} vs {invoice}");
    for field in PREVIEWED_FIELDS {
        assert_eq!(preview[field], invoice[field], "`{field}` of {preview} vs {invoice}");
    }
}

#[tokio::test]
async fn the_upcoming_invoice_of_a_change_is_the_invoice_the_change_then_makes() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let id = b.subscribe(&b.basic).await;
    b.advance(mar_11()).await;

    // A change to two seats of pro, previewed for an instant nine days later, to the second.
    let change_at = utc(2024, 3, 20, 12, 34, 56);
    let query = format!("?plan={}&quantity=2&proration_date={change_at}", b.pro);
    let preview = b.api.upcoming_invoice(&id, &query).await;
    assert!(preview["id"].is_null(), "a preview has no id: {preview}");
    let remaining = apr_1() - change_at;
    let mut expected = vec![
        expected_line(
            &b.basic,
            1,
            -prorated(BASIC, remaining, march_secs()),
            (change_at, apr_1()),
            true,
        ),
        expected_line(
            &b.pro,
            2,
            prorated(2 * PRO, remaining, march_secs()),
            (change_at, apr_1()),
            true,
        ),
        expected_line(&b.pro, 2, 2 * PRO, (apr_1(), may_1()), false),
    ];
    expected.sort();
    assert_eq!(line_summaries(&preview), expected, "{preview}");
    assert_eq!(b.api.subscription_invoices(&id).await.len(), 1, "a preview is not stored");
    assert_eq!(b.api.subscription(&id).await["plan"], b.basic.as_str(), "nor applied");

    b.advance(change_at).await;
    b.api.update_subscription(&id, &json!({"plan": b.pro, "quantity": 2})).await.ok();
    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    assert_preview_is(&preview, &invoices[1]);
}

#[tokio::test]
async fn the_upcoming_invoice_of_a_renewal_is_the_renewal_invoice_and_is_not_stored() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let body = json!({"customer": b.customer, "plan": b.pro, "quantity": 4});
    let id = b.api.subscribe(&body).await.id();

    let preview = b.api.upcoming_invoice(&id, "").await;
    assert!(preview["id"].is_null(), "{preview}");
    assert_eq!(
        line_summaries(&preview),
        [expected_line(&b.pro, 4, 4 * PRO, (apr_1(), may_1()), false)]
    );
    assert_eq!(preview["amount_due"], 4 * PRO, "{preview}");
    assert_eq!(b.api.subscription_invoices(&id).await.len(), 1, "a preview is not stored");
    assert_eq!(b.api.customer_invoices(&b.customer).await.len(), 1);

    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    assert_preview_is(&preview, &invoices[1]);
}

#[tokio::test]
async fn a_downgrade_leaves_a_credit_on_the_balance_that_the_next_invoices_use() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    let id = b.subscribe(&b.pro).await;
    b.advance(mar_11()).await;

    let body = json!({"plan": b.basic, "proration_behavior": "always_invoice"});
    b.api.update_subscription(&id, &body).await.ok();
    let invoices = b.api.subscription_invoices(&id).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    let proration = &invoices[1];
    let mut expected = vec![
        expected_line(&b.pro, 1, -2_032, (mar_11(), apr_1()), true),
        expected_line(&b.basic, 1, 677, (mar_11(), apr_1()), true),
    ];
    expected.sort();
    assert_eq!(line_summaries(proration), expected, "{proration}");
    assert_eq!(proration["amount_due"], 0, "{proration}");
    assert_eq!(proration["status"], "paid", "{proration}");
    assert!(proration["charge"].is_null(), "nothing to charge: {proration}");
    assert_eq!(b.balance().await, -1_355, "the net credit is the customer's");
    assert_eq!(b.api.customer_charges(&b.customer).await.len(), 1, "only the first payment");

    // April: 10.00 due, all of it from the credit.
    b.advance(apr_1() + SECONDS_PER_HOUR).await;
    let april = b.api.subscription_invoices(&id).await.pop().expect("an April invoice");
    assert_eq!(period_of(&april), (apr_1(), may_1()), "{april}");
    assert_eq!(april["total"], BASIC, "{april}");
    assert_eq!(april["balance_applied"], BASIC, "{april}");
    assert_eq!(april["amount_due"], 0, "{april}");
    assert_eq!(april["status"], "paid", "{april}");
    assert!(april["charge"].is_null(), "{april}");
    assert_eq!(b.balance().await, -355);

    // May: the last 3.55 of credit, then 6.45 charged.
    b.advance(may_1() + SECONDS_PER_HOUR).await;
    let may = b.api.subscription_invoices(&id).await.pop().expect("a May invoice");
    assert_eq!(may["balance_applied"], 355, "{may}");
    assert_eq!(may["amount_due"], 645, "{may}");
    assert_eq!(may["amount_paid"], 645, "{may}");
    assert_eq!(may["status"], "paid", "{may}");
    assert_eq!(ledger_amounts(&b.api, str_field(&may, "charge")).await, [645]);
    assert_eq!(b.balance().await, 0);
}

#[tokio::test]
async fn a_change_in_a_first_period_cut_short_by_an_anchor_prorates_over_the_whole_period() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    // Subscribed on Mar 1, anchored on Mar 11: the first period is the last 10 of the 29 days
    // from Feb 11, billed at that share of the plan's price.
    let body = json!({"customer": b.customer, "plan": b.basic, "billing_cycle_anchor": mar_11()});
    let subscription = b.api.subscribe(&body).await.ok().clone();
    let id = str_field(&subscription, "id");
    let whole = mar_11() - utc(2024, 2, 11, 0, 0, 0);
    let first = &b.api.subscription_invoices(id).await[0];
    assert_eq!(first["total"], prorated(BASIC, mar_11() - mar_1(), whole), "{first}");

    // Five days in, an upgrade: the five days left are credited and charged at the plans'
    // rates over the whole period, as the first invoice charged them.
    let mar_6 = utc(2024, 3, 6, 0, 0, 0);
    b.advance(mar_6).await;
    let body = json!({"plan": b.pro, "proration_behavior": "always_invoice"});
    b.api.update_subscription(id, &body).await.ok();
    let change = &b.api.subscription_invoices(id).await[1];
    let left = mar_11() - mar_6;
    let mut expected = vec![
        expected_line(&b.basic, 1, -prorated(BASIC, left, whole), (mar_6, mar_11()), true),
        expected_line(&b.pro, 1, prorated(PRO, left, whole), (mar_6, mar_11()), true),
    ];
    expected.sort();
    assert_eq!(line_summaries(change), expected, "{change}");
}

#[tokio::test]
async fn the_stub_after_a_trial_is_billed_and_changed_as_a_share_of_a_whole_period() {
    let engine = Engine::start(Config::default()).await;
    let b = billing(&engine).await;
    // A 14-day trial from Mar 1 and an anchor on Mar 25: after the trial, the stub Mar 15 –
    // Mar 25 is 10 of the 29 days from Feb 25, and billed that share of the plan's price.
    let plan = b.trial_plan(BASIC as u64).await;
    let (trial_end, anchor) = (utc(2024, 3, 15, 0, 0, 0), utc(2024, 3, 25, 0, 0, 0));
    let whole = anchor - utc(2024, 2, 25, 0, 0, 0);
    let body = json!({"customer": b.customer, "plan": plan, "billing_cycle_anchor": anchor});
    let subscription = b.api.subscribe(&body).await.ok().clone();
    let id = str_field(&subscription, "id");
    b.advance(trial_end + 60).await;
    let stub = billed(b.api.subscription_invoices(id).await);
    assert_eq!(stub[0]["total"], prorated(BASIC, anchor - trial_end, whole), "{stub:#?}");

    // Five days before the anchor, an upgrade: the days left, credited and charged at the
    // plans' rates over that whole period, as the stub was billed.
    let mar_20 = utc(2024, 3, 20, 0, 0, 0);
    b.advance(mar_20).await;
    let body = json!({"plan": b.pro, "proration_behavior": "always_invoice"});
    b.api.update_subscription(id, &body).await.ok();
    let change = billed(b.api.subscription_invoices(id).await).pop().unwrap();
    let left = anchor - mar_20;
    let mut expected = vec![
        expected_line(&plan, 1, -prorated(BASIC, left, whole), (mar_20, anchor), true),
        expected_line(&b.pro, 1, prorated(PRO, left, whole), (mar_20, anchor), true),
    ];
    expected.sort();
    assert_eq!(line_summaries(&change), expected, "{change}");

    // From the anchor on, whole periods at the whole price.
    b.advance(anchor + 60).await;
    let renewal = billed(b.api.subscription_invoices(id).await).pop().unwrap();
    assert_eq!(
        (renewal["period_start"].as_i64(), renewal["total"].as_i64()),
        (Some(anchor), Some(PRO))
    );
}
