//! Payouts as a platform's backend sees them: money out of a payee's available balance through
//! the sandbox, once per request and never past the balance; a failed payout's funds back in
//! available and its destination flagged; a lost answer left in transit until the status query
//! settles it; a payout over M-Pesa's limit sent in parts; and a year of weekly payouts for a
//! hundred payees on a test clock, each paying exactly what was available, with the books
//! balancing at the end.

mod common;

use std::time::Duration;

use common::*;

/// A payee paid by bank account `number`, its shares available at once.
async fn bank_payee(api: &Api, number: &str, extra: Value) -> String {
    let mut body = json!({
        "name": "Thandi Mokoena",
        "country": "ZA",
        "default_currency": "zar",
        "destination": {
            "type": "bank_account",
            "account_holder": "T Mokoena",
            "bank_code": "250655",
            "account_number": number,
        },
        "payout_schedule": {"interval": "manual", "delay_days": 0},
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    api.post("/v1/payees", &body).await.id()
}

/// A charge of `amount` whose `share` goes to `payee`.
async fn split_charge(
    api: &Api,
    customer: &str,
    payee: &str,
    amount: u64,
    share: u64,
    currency: &str,
) {
    let mut body = charge_body(customer, amount, currency);
    body["transfer"] = json!({"payee": payee, "amount": share});
    api.post("/v1/charges", &body).await.ok();
}

async fn payouts_of(api: &Api, payee: &str) -> Vec<Value> {
    api.list_all(&format!("/v1/payees/{payee}/payouts"), "id").await
}

#[tokio::test]
async fn a_payout_pays_the_available_balance_once_and_never_past_it() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let payee = bank_payee(&api, "000123456789", json!({})).await;
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    split_charge(&api, &customer, &payee, 10_000, 7_500, "zar").await;
    assert_eq!(api.payee_balance(&payee, "zar").await, (7_500, 0));

    // More than is available: refused, nothing moved.
    let too_much = json!({"payee": payee, "amount": 7_501, "currency": "zar"});
    let refused = api.post("/v1/payouts", &too_much).await;
    assert_error(&refused, 400, "insufficient_balance");
    assert_eq!(refused.body["error"]["available"], 7_500, "{}", refused.text);
    assert!(payouts_of(&api, &payee).await.is_empty());
    assert_eq!(api.payee_balance(&payee, "zar").await, (7_500, 0));

    let ask = json!({"payee": payee, "amount": 5_000, "currency": "zar"});
    let first = api.post_with_key("/v1/payouts", &ask, "payout-1").await;
    let paid = first.ok().clone();
    assert_eq!(paid["object"], "payout");
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(paid["method"], "sandbox");
    assert_eq!(paid["amount"], 5_000);
    assert!(paid["arrival_date"].is_i64(), "{paid}");
    let again = api.post_with_key("/v1/payouts", &ask, "payout-1").await;
    assert_eq!(again.ok()["id"], paid["id"], "a retry is answered with the same payout");
    assert!(again.is_replay());
    assert_eq!(api.payee_balance(&payee, "zar").await, (2_500, 0));

    // The rest, by default.
    let rest = api.post("/v1/payouts", &json!({"payee": payee, "currency": "zar"})).await;
    assert_eq!(rest.ok()["amount"], 2_500, "{}", rest.text);
    assert_eq!(api.payee_balance(&payee, "zar").await, (0, 0));
    let empty = api.post("/v1/payouts", &json!({"payee": payee, "currency": "zar"})).await;
    assert_error(&empty, 400, "insufficient_balance");

    let listed = payouts_of(&api, &payee).await;
    let amounts: Vec<i64> = listed.iter().map(|payout| i64_field(payout, "amount")).collect();
    assert_eq!(amounts, [2_500, 5_000], "newest first, the retry made none");
    let id = str_field(&paid, "id");
    assert_eq!(api.get_ok(&format!("/v1/payouts/{id}")).await["status"], "paid");
    assert_error(&engine.api_b().get(&format!("/v1/payouts/{id}")).await, 404, "not_found");

    let moved = api.list_all(&format!("/v1/balance_transactions?payee={payee}"), "id").await;
    let moved: Vec<(&str, i64)> =
        moved.iter().map(|txn| (str_field(txn, "type"), i64_field(txn, "amount"))).collect();
    assert_eq!(moved, [("payout", -2_500), ("payout", -5_000), ("transfer", 7_500)]);
    let platform = api.get_ok("/v1/balance_transactions?type=payout").await;
    assert_eq!(platform["data"], json!([]), "a payee's payout moves none of the platform's money");
    let announced = api.get_ok("/v1/events?direction=out&type=payout.paid").await;
    let announced = announced["data"].as_array().unwrap();
    assert_eq!(announced.len(), 2, "each payout announced paid once: {announced:?}");
    assert_eq!(announced[1]["data"]["object"]["id"], paid["id"]);
    assert_eq!(announced[1]["data"]["object"]["status"], "paid");
    let processor_paid: i64 = ledger_of_kind(&api.ledger().await, "payout")
        .iter()
        .map(|entry| i64_field(entry, "amount"))
        .sum();
    assert_eq!(processor_paid, 7_500, "the sandbox paid each payout once");
}

#[tokio::test]
async fn a_share_of_a_payee_on_a_test_clock_becomes_available_on_the_clocks_time() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    // Long before now: a share counted from real time would never be available on it.
    let start = utc(2025, 1, 6, 12, 0, 0);
    let clock = api.post("/v1/test_clocks", &json!({"frozen_time": start})).await.id();
    let extra =
        json!({"test_clock": clock, "payout_schedule": {"interval": "manual", "delay_days": 7}});
    let payee = bank_payee(&api, "000123456789", extra).await;
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let mut body = charge_body(&customer, 1_000, "zar");
    body["transfer"] = json!({"payee": payee, "amount": 600});
    let charge = api.post("/v1/charges", &body).await.ok().clone();
    assert_eq!(charge["transfer"]["available_on"], start + 7 * 86_400, "{charge}");
    assert_eq!(api.payee_balance(&payee, "zar").await, (0, 600), "pending for 7 clock days");
    api.advance_clock(&clock, start + 7 * 86_400 - 1).await;
    assert_eq!(api.payee_balance(&payee, "zar").await, (0, 600));
    api.advance_clock(&clock, start + 7 * 86_400).await;
    assert_eq!(api.payee_balance(&payee, "zar").await, (600, 0), "available once they passed");
}

#[tokio::test]
async fn bad_payouts_are_refused_and_change_nothing() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let payee = bank_payee(&api, "000123456789", json!({})).await;
    let phone = json!({
        "name": "Achieng Otieno",
        "country": "KE",
        "default_currency": "kes",
        "destination": {"type": "mpesa", "phone": "0712345678"},
    });
    let mpesa = api.post("/v1/payees", &phone).await.id();
    let cases = [
        (json!({"payee": payee, "amount": -5, "currency": "zar"}), "validation_error", "amount"),
        (json!({"payee": payee, "amount": 0, "currency": "zar"}), "validation_error", "amount"),
        (json!({"payee": payee, "currency": "xyz"}), "currency_invalid", "currency"),
        (json!({"payee": mpesa, "currency": "usd"}), "validation_error", "currency"),
        (json!({"payee": payee, "amount": "5", "currency": "zar"}), "validation_error", ""),
    ];
    for (body, code, param) in cases {
        let refused = api.post("/v1/payouts", &body).await;
        assert_error(&refused, 400, code);
        if !param.is_empty() {
            assert_eq!(refused.body["error"]["param"], param, "{body}: {}", refused.text);
        }
    }
    let unknown = json!({"payee": "payee_01KG3ZC4D5E6F7G8H9J0K1M2N3", "currency": "zar"});
    assert_error(&api.post("/v1/payouts", &unknown).await, 404, "not_found");
    let others = json!({"payee": payee, "currency": "zar"});
    assert_error(&engine.api_b().post("/v1/payouts", &others).await, 404, "not_found");
    assert!(payouts_of(&api, &payee).await.is_empty());
    assert!(payouts_of(&api, &mpesa).await.is_empty());
}

#[tokio::test]
async fn a_failed_payout_puts_its_funds_back_and_flags_the_destination() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let payee = bank_payee(&api, "000111111113", json!({})).await;
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    split_charge(&api, &customer, &payee, 4_000, 4_000, "zar").await;

    let failed = api.post("/v1/payouts", &json!({"payee": payee, "currency": "zar"})).await;
    let failed = failed.ok().clone();
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["failure_code"], "account_closed");
    assert_eq!(failed["amount_returned"], 4_000);
    assert_eq!(api.payee_balance(&payee, "zar").await, (4_000, 0), "back in available");
    let flagged = api.get_ok(&format!("/v1/payees/{payee}")).await;
    assert_eq!(flagged["destination_failure"]["code"], "account_closed", "{flagged}");
    assert_eq!(flagged["destination_failure"]["payout"], failed["id"]);

    let refused = api.post("/v1/payouts", &json!({"payee": payee, "currency": "zar"})).await;
    assert_error(&refused, 400, "validation_error");
    assert_eq!(refused.body["error"]["param"], "payee");

    let fixed = json!({"destination": {
        "type": "bank_account",
        "account_holder": "T Mokoena",
        "bank_code": "250655",
        "account_number": "000123456789",
    }});
    let changed = api.post(&format!("/v1/payees/{payee}"), &fixed).await;
    assert!(changed.ok()["destination_failure"].is_null(), "{}", changed.text);
    let paid = api.post("/v1/payouts", &json!({"payee": payee, "currency": "zar"})).await;
    assert_eq!(paid.ok()["status"], "paid", "{}", paid.text);
    assert_eq!(paid.ok()["amount"], 4_000);
    let moved = api.list_all(&format!("/v1/balance_transactions?payee={payee}"), "id").await;
    let kinds: Vec<&str> = moved.iter().map(|txn| str_field(txn, "type")).collect();
    assert_eq!(kinds, ["payout", "payout_failure", "payout", "transfer"]);
}

#[tokio::test]
async fn a_lost_answer_stays_in_transit_until_the_status_query_settles_it() {
    let engine = Engine::start(Config::default().with_reconcile_after_secs(1)).await;
    let api = engine.api_a();
    let payee = bank_payee(&api, "000555555559", json!({})).await;
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    split_charge(&api, &customer, &payee, 3_000, 3_000, "zar").await;

    let sent = api.post("/v1/payouts", &json!({"payee": payee, "currency": "zar"})).await;
    let sent = sent.ok().clone();
    assert_eq!(sent["status"], "in_transit", "an unknown outcome is not a failure: {sent}");
    assert_eq!(api.payee_balance(&payee, "zar").await, (0, 0), "not paid twice meanwhile");
    let id = str_field(&sent, "id");
    let settled = wait_for("the payout to settle", Duration::from_secs(10), || async {
        let payout = api.get_ok(&format!("/v1/payouts/{id}")).await;
        (payout["status"] != "in_transit").then_some(payout)
    })
    .await;
    assert_eq!(settled["status"], "paid", "the status query found it paid: {settled}");
    let paid = ledger_of_kind(&api.ledger().await, "payout").len();
    assert_eq!(paid, 1, "asked, not sent again");
}

#[tokio::test]
async fn a_payout_over_the_mpesa_limit_is_sent_in_parts_under_their_own_keys() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let phone = json!({
        "name": "Achieng Otieno",
        "country": "KE",
        "default_currency": "kes",
        "destination": {"type": "mpesa", "phone": "+254712345678"},
        "payout_schedule": {"interval": "manual", "delay_days": 0},
    });
    let payee = api.post("/v1/payees", &phone).await.id();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    // KES 600 000: two payments at B2C's KES 250 000 and one of 100 000.
    split_charge(&api, &customer, &payee, 60_000_000, 60_000_000, "kes").await;
    let paid = api.post("/v1/payouts", &json!({"payee": payee, "currency": "kes"})).await;
    let paid = paid.ok().clone();
    assert_eq!(paid["status"], "paid", "{paid}");
    let parts: Vec<i64> =
        paid["parts"].as_array().unwrap().iter().map(|part| i64_field(part, "amount")).collect();
    assert_eq!(parts, [25_000_000, 25_000_000, 10_000_000]);
    let ledger = api.ledger().await;
    let sent = ledger_of_kind(&ledger, "payout");
    let id = str_field(&paid, "id");
    let mut keys: Vec<&str> =
        sent.iter().map(|entry| str_field(entry, "idempotency_key")).collect();
    keys.sort();
    assert_eq!(keys, [format!("{id}-1"), format!("{id}-2"), format!("{id}-3")]);
}

/// Payees on the weekly schedule, one of them paid to a closed account.
const PAYEES: usize = 100;
const WEEKS: i64 = 52;
const WEEK: i64 = 7 * 86_400;

#[tokio::test]
async fn a_year_of_weekly_payouts_for_a_hundred_payees_pays_each_balance_once() {
    let mut engine = Engine::start(Config::default().on_sled()).await;
    let api = engine.api_a();
    // A Monday at noon, after the shares made now are available: each week's payout is due
    // within the week the clock passes.
    let now = i64::try_from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
    )
    .unwrap();
    let start = (now / 86_400 + 7 - (now / 86_400 + 3) % 7) * 86_400 + 43_200;
    let clock = api.post("/v1/test_clocks", &json!({"frozen_time": start})).await.id();
    let schedule = json!({"test_clock": clock, "payout_schedule": {"interval": "weekly", "weekly_anchor": "monday", "delay_days": 0}});
    let mut payees = Vec::new();
    for index in 0..PAYEES {
        let number = if index == 0 { "000111111113" } else { "000123456789" };
        payees.push(bank_payee(&api, number, schedule.clone()).await);
    }
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let mut earned = vec![0i64; PAYEES];
    let mut paid = vec![0i64; PAYEES];
    for week in 0..WEEKS {
        // Each payee earns a different share each week.
        let charges = payees.iter().enumerate().map(|(index, payee)| {
            let share = 100 + ((week as u64 * 37 + index as u64 * 11) % 900);
            earned[index] += share as i64;
            let (api, customer, payee) = (api.clone(), customer.clone(), payee.clone());
            async move { split_charge(&api, &customer, &payee, 1_000, share, "zar").await }
        });
        futures::future::join_all(charges.collect::<Vec<_>>()).await;
        let target = start + (week + 1) * WEEK;
        let advanced = api
            .post(&format!("/v1/test_clocks/{clock}/advance"), &json!({"frozen_time": target}))
            .await;
        assert_eq!(advanced.status, 200, "{}", advanced.text);
        for (index, payee) in payees.iter().enumerate().skip(1) {
            let (available, pending) = api.payee_balance(payee, "zar").await;
            assert_eq!((available, pending), (0, 0), "week {week}: payee {index} paid in full");
        }
    }
    for (index, payee) in payees.iter().enumerate() {
        let payouts = payouts_of(&api, payee).await;
        for payout in &payouts {
            assert_eq!(payout["automatic"], true, "{payout}");
            if payout["status"] == "paid" {
                paid[index] += i64_field(payout, "amount");
            }
        }
        if index == 0 {
            assert_eq!(payouts.len(), 1, "a flagged destination is paid nothing more");
            assert_eq!(payouts[0]["status"], "failed");
            let (available, _) = api.payee_balance(payee, "zar").await;
            assert_eq!(available, earned[0], "every cent back in available");
        } else {
            assert_eq!(payouts.len(), WEEKS as usize, "payee {index}: one payout a week");
            assert_eq!(paid[index], earned[index], "payee {index}: every cent paid, once");
        }
    }
    engine.stop_graceful().await;
    let said = books_balance(engine.data_dir());
    assert!(said.contains(&format!("{} payouts,", WEEKS as usize * (PAYEES - 1) + 1)), "{said}");
}

#[tokio::test]
async fn a_subscriptions_payee_earns_its_share_of_every_invoice_paid() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let payee = bank_payee(&api, "000123456789", json!({})).await;
    let clock = api.create_clock(utc(2027, 1, 1, 0, 0, 0)).await;
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let plan = api.plan(10_000, "usd", "month").await;
    let body = json!({"customer": customer, "plan": plan,
        "transfer": {"payee": payee, "percent_bps": 7_000}, "application_fee_amount": 500});
    let subscription = api.subscribe(&body).await.ok().clone();
    assert_eq!(subscription["transfer"]["percent_bps"], 7_000, "{subscription}");
    assert_eq!(subscription["application_fee_amount"], 500);
    api.advance_clock(&clock, utc(2027, 3, 1, 0, 0, 0)).await;

    let charges = api.customer_charges(&customer).await;
    assert_eq!(charges.len(), 3, "January, February and March paid");
    for charge in &charges {
        assert_eq!(charge["transfer"]["amount"], 7_000, "{charge}");
        assert_eq!(charge["transfer"]["payee"], payee.as_str());
    }
    let (available, pending) = api.payee_balance(&payee, "usd").await;
    assert_eq!(available + pending, 3 * (7_000 - 500), "each payment's share, less the fee");

    // Refused before anything is made: a payee that cannot take the plan's currency, a share
    // above a period's price.
    let phone = json!({
        "name": "Achieng Otieno", "country": "KE", "default_currency": "kes",
        "destination": {"type": "mpesa", "phone": "0712345678"},
    });
    let mpesa = api.post("/v1/payees", &phone).await.id();
    let other = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let refusals = [
        (json!({"payee": mpesa}), None, "transfer.payee"),
        (json!({"payee": payee, "amount": 10_001}), None, "transfer.amount"),
        (json!({"payee": payee, "amount": 100}), Some(101), "application_fee_amount"),
    ];
    for (transfer, fee, param) in refusals {
        let mut body = json!({"customer": other, "plan": plan, "transfer": transfer});
        if let Some(fee) = fee {
            body["application_fee_amount"] = json!(fee);
        }
        let refused = api.subscribe(&body).await;
        assert_eq!(refused.status, 400, "{}", refused.text);
        assert_eq!(refused.body["error"]["param"], param, "{}", refused.text);
    }
    let none = api.get_ok(&format!("/v1/customers/{other}/subscriptions")).await;
    assert_eq!(none["data"], json!([]), "nothing was made: {none}");
}

#[tokio::test]
async fn a_payment_plans_payee_earns_its_share_of_each_instalment() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let payee = bank_payee(&api, "000123456789", json!({})).await;
    let clock = api.create_clock(utc(2027, 1, 1, 0, 0, 0)).await;
    let customer = api.clock_customer_with_card(&clock, "ZA", "pm_card_visa").await;
    let body = json!({"customer": customer, "amount": 30_000, "currency": "zar",
        "instalments": 3, "interval": "month", "transfer": {"payee": payee, "percent_bps": 5_000}});
    let plan = api.post("/v1/payment_plans", &body).await.ok().clone();
    assert_eq!(plan["transfer"]["percent_bps"], 5_000, "{plan}");
    api.advance_clock(&clock, utc(2027, 3, 15, 0, 0, 0)).await;
    let (available, pending) = api.payee_balance(&payee, "zar").await;
    assert_eq!(available + pending, 15_000, "half of each of the three instalments");

    let above = json!({"customer": customer, "amount": 30_000, "currency": "zar",
        "instalments": 3, "interval": "month", "transfer": {"payee": payee, "amount": 10_001}});
    let refused = api.post("/v1/payment_plans", &above).await;
    assert_error(&refused, 400, "validation_error");
    assert_eq!(refused.body["error"]["param"], "transfer.amount", "{}", refused.text);
}

#[tokio::test]
async fn a_checkout_sessions_payee_earns_its_share_of_the_payment_and_the_subscription() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let payee = bank_payee(&api, "000123456789", json!({})).await;
    let customer = api.create_customer().await;
    let urls = json!({"success_url": "https://school.example/done", "cancel_url": "https://school.example/cart"});
    let mut body = json!({"mode": "payment", "customer": customer, "amount": 10_000, "currency": "zar",
        "transfer": {"payee": payee, "amount": 4_000}, "application_fee_amount": 250});
    body.as_object_mut().unwrap().extend(urls.as_object().unwrap().clone());
    let session = api.post("/v1/checkout/sessions", &body).await.ok().clone();
    let buyer = engine.api_with_authorization(None);
    let paid = buyer
        .post_form(
            &format!("/checkout/{}/pay", str_field(&session, "id")),
            "method=card&card=pm_card_visa",
        )
        .await;
    assert!(paid.status < 400, "{}", paid.text);
    let (available, pending) = api.payee_balance(&payee, "zar").await;
    assert_eq!(available + pending, 3_750, "the share less the fee");

    let plan = api.plan(8_000, "zar", "month").await;
    let mut body = json!({"mode": "subscription", "customer": customer, "plan": plan,
        "transfer": {"payee": payee, "percent_bps": 5_000}});
    body.as_object_mut().unwrap().extend(urls.as_object().unwrap().clone());
    let session = api.post("/v1/checkout/sessions", &body).await.ok().clone();
    let paid = buyer
        .post_form(
            &format!("/checkout/{}/pay", str_field(&session, "id")),
            "method=card&card=pm_card_visa",
        )
        .await;
    assert!(paid.status < 400, "{}", paid.text);
    // Half of what the first invoice's payment took (tax included, as the charge's amount is).
    let charges = api.customer_charges(&customer).await;
    let first = charges.iter().find(|charge| charge["invoice"].is_string()).unwrap();
    assert_eq!(first["transfer"]["amount"], i64_field(first, "amount") / 2, "{first}");
    let (available, pending) = api.payee_balance(&payee, "zar").await;
    assert_eq!(available + pending, 3_750 + i64_field(first, "amount") / 2);
    let subscriptions = api.get_ok(&format!("/v1/customers/{customer}/subscriptions")).await;
    assert_eq!(subscriptions["data"][0]["transfer"]["percent_bps"], 5_000, "{subscriptions}");

    let mut above = json!({"mode": "payment", "customer": customer, "amount": 1_000, "currency": "zar",
        "transfer": {"payee": payee, "amount": 1_001}});
    above.as_object_mut().unwrap().extend(urls.as_object().unwrap().clone());
    let refused = api.post("/v1/checkout/sessions", &above).await;
    assert_error(&refused, 400, "validation_error");
    assert_eq!(refused.body["error"]["param"], "transfer.amount", "{}", refused.text);
}
