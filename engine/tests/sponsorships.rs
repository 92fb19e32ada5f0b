//! Sponsorships: a sponsor pays a share of a beneficiary's subscription.
//!
//! Proves that each beneficiary invoice a sponsorship covers shows the sponsor's share as a line
//! (`sponsored_by`), taxes only the family's rest and bills the family that rest; that the
//! share is the coupon's rest's percentage (half-up) or a fixed amount, clamped to what is left
//! and to the cap, so that over a year on a test clock the cap is reached mid-year to the cent,
//! the sponsorship turns `exhausted` and later invoices are the beneficiary's alone; that a
//! fixed share is paid once a period (not again on a change's proration invoice) while a
//! percentage takes its share of the change too, and gets its part of a credit back; that the sponsor gets one `send_invoice`
//! invoice per month, made at the month's end and due 30 days later, taxed for the sponsor,
//! with a line per share naming the beneficiary and its invoice, also with 200 beneficiaries
//! (one invoice whose lines sum to its total), and pays it by card; that ending a sponsorship
//! leaves the next invoice to the beneficiary; that a credit note of a beneficiary invoice gives
//! the sponsor its part back (a credit on its next invoice) and restores the cap; that a
//! sponsor's invoice is reminded as any overdue invoice and, unpaid at the end of its grace
//! (`billing.grace_days` after its due date, to the second), bills the share to a
//! `bill_beneficiary` family (credited off the sponsor's invoice), withdraws a `revoke` family's
//! features for the rest of its period and leaves an `absorb` family alone, every family keeping
//! its features until then, and that a bank transfer the sponsor started holds the default off
//! until it expires unpaid; and that every refused request (a share above the invoice, a
//! percentage out of range, both or neither share, a customer sponsoring itself, another clock,
//! no subscription, an end before the start, unknown fields) is a 400 that makes nothing.
//! How: a fresh engine per test (see `common`), customers on a test clock in ZA (15 % VAT,
//! exclusive plans), renewals charged on the sandbox.

mod common;

use common::*;

const DAY: i64 = 24 * 60 * 60;

/// A fresh engine (see `common`), a test clock at `at`, a monthly plan of `amount` in ZAR (VAT
/// exclusive) and a fund, in ZA, on the clock.
struct World {
    engine: Engine,
    api: Api,
    clock: String,
    plan: String,
    fund: String,
}

async fn world(at: i64, amount: u64) -> World {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let clock = api.create_clock(at).await;
    let plan = api.plan(amount, "zar", "month").await;
    let fund = api.clock_customer(&clock, "ZA").await;
    World { engine, api, clock, plan, fund }
}

async fn sponsor(api: &Api, body: &Value) -> Resp {
    api.post("/v1/sponsorships", body).await
}

fn sponsor_lines(invoice: &Value) -> Vec<&Value> {
    let lines = invoice["lines"].as_array().unwrap_or_else(|| panic!("no lines: {invoice}"));
    lines.iter().filter(|line| !line["sponsored_by"].is_null()).collect()
}

/// A beneficiary on `clock` with a card, subscribed to `plan`: `(customer, subscription)`.
async fn subscribed(api: &Api, clock: &str, plan: &str) -> (String, String) {
    let customer = api.clock_customer_with_card(clock, "ZA", "pm_card_visa").await;
    let subscription = api.subscribe_ok(&customer, plan).await;
    (customer, str_field(&subscription, "id").to_owned())
}

/// Advances `clock` to each 15th at 09:00 from February 2027 for `months` months.
async fn advance_monthly(api: &Api, clock: &str, months: u32) {
    for month in 1..=months {
        api.advance_clock(clock, monthly_boundary(2027, 1, 15, (9, 0, 0), month)).await;
    }
}

#[tokio::test]
async fn a_year_of_a_capped_sponsorship_reaches_its_cap_mid_year() {
    let jan_15 = utc(2027, 1, 15, 9, 0, 0);
    let World { engine: _engine, api, clock, plan, fund } = world(jan_15, 10_000).await;
    let (family, subscription) = subscribed(&api, &clock, &plan).await;
    let created = sponsor(
        &api,
        &json!({
            "sponsor": fund, "beneficiary": family, "subscription": subscription,
            "percent_off_bps": 6_000, "cap_amount": 25_000, "on_default": "absorb",
        }),
    )
    .await
    .ok()
    .clone();
    let id = str_field(&created, "id").to_owned();
    assert!(id.starts_with("spons_"), "{created}");
    assert_eq!(
        (created["status"].clone(), created["amount_used"].clone(), created["currency"].clone()),
        (json!("active"), json!(0), json!("zar")),
        "{created}"
    );
    // The fund pays on its own terms here: its unpaid invoices leave the family alone.
    assert_eq!(created["on_default"], "absorb", "{created}");

    advance_monthly(&api, &clock, 12).await;

    let invoices = api.subscription_invoices(&subscription).await;
    assert_eq!(invoices.len(), 13, "January and twelve renewals");
    // (sponsor's share, what the family is billed): 60 % of R100 four times (R240), then the
    // R10 left of the R250 cap, then nothing; the family's rest is taxed at 15 %.
    let mut expected = vec![(0, 11_500)];
    expected.extend([(6_000, 4_600); 4]);
    expected.push((1_000, 10_350));
    expected.extend([(0, 11_500); 7]);
    let found: Vec<(i64, i64)> = invoices
        .iter()
        .map(|invoice| {
            let shares: i64 =
                sponsor_lines(invoice).iter().map(|line| -i64_field(line, "amount")).sum();
            (shares, i64_field(invoice, "total"))
        })
        .collect();
    assert_eq!(found, expected);
    for invoice in &invoices {
        assert_eq!(invoice["status"], "paid", "the family paid its part: {invoice}");
        for line in sponsor_lines(invoice) {
            assert_eq!(line["sponsored_by"], id.as_str(), "{invoice}");
            assert_eq!(line["tax_amounts"], json!([]), "the sponsor's share is not taxed here");
        }
    }
    let june = &invoices[5];
    assert_eq!(june["tax"][0]["amount"], 1_350, "VAT on the family's R90 only: {june}");
    assert_eq!(june["lines"][0]["amount_sponsored"], 1_000, "{june}");

    let done = api.get_ok(&format!("/v1/sponsorships/{id}")).await;
    assert_eq!(
        (done["status"].clone(), done["amount_used"].clone()),
        (json!("exhausted"), json!(25_000)),
        "{done}"
    );

    // The fund's invoices: one per month with shares, at the month's end, due 30 days on.
    let fund_invoices = api.customer_invoices(&fund).await;
    let months = [(2027, 3), (2027, 4), (2027, 5), (2027, 6), (2027, 7)];
    assert_eq!(fund_invoices.len(), months.len(), "{fund_invoices:?}");
    for ((year, month), (invoice, share)) in
        months.iter().zip(fund_invoices.iter().zip([6_000, 6_000, 6_000, 6_000, 1_000]))
    {
        let made = utc(*year, *month, 1, 0, 0, 0);
        assert_eq!(invoice["created"], made, "{invoice}");
        assert_eq!(invoice["billing_reason"], "sponsorship", "{invoice}");
        assert_eq!(invoice["collection_method"], "send_invoice", "{invoice}");
        assert_eq!(invoice["due_date"], made + 30 * DAY, "{invoice}");
        assert_eq!(invoice["status"], "open", "{invoice}");
        assert!(invoice["hosted_invoice_url"].is_string(), "payable on its page: {invoice}");
        assert_eq!(invoice["subtotal"], share, "{invoice}");
        assert_eq!(invoice["total"], share + share * 15 / 100, "taxed for the sponsor: {invoice}");
        let line = &invoice["lines"][0];
        assert_eq!(line["beneficiary"], family.as_str(), "{invoice}");
        let paid_for = line["beneficiary_invoice"].as_str().expect("beneficiary invoice");
        assert!(invoices.iter().any(|invoice| invoice["id"] == paid_for), "{line}");
    }
}

#[tokio::test]
async fn a_sponsor_of_200_beneficiaries_gets_one_invoice_a_month() {
    let mar_1 = utc(2027, 3, 1, 9, 0, 0);
    let World { engine: _engine, api, clock, plan, fund } = world(mar_1, 5_000).await;
    let mut beneficiaries = Vec::new();
    for index in 0..200 {
        let (family, subscription) = subscribed(&api, &clock, &plan).await;
        // Shares that differ: half pay 50 %, the others a fixed R12.34 plus their index.
        let share = match index % 2 {
            0 => json!({"percent_off_bps": 5_000}),
            _ => json!({"amount_per_period": 1_234 + index}),
        };
        let mut body =
            json!({"sponsor": fund, "beneficiary": family, "subscription": subscription});
        body.as_object_mut().unwrap().extend(share.as_object().unwrap().clone());
        sponsor(&api, &body).await.ok();
        beneficiaries.push(family);
    }
    api.advance_clock(&clock, utc(2027, 4, 1, 9, 0, 0)).await;
    api.advance_clock(&clock, utc(2027, 5, 1, 0, 0, 0)).await;

    let fund_invoices = api.customer_invoices(&fund).await;
    assert_eq!(fund_invoices.len(), 1, "one invoice for April's 200 shares");
    let invoice = &fund_invoices[0];
    let lines = invoice["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 200, "a line per beneficiary");
    let mut named: Vec<&str> = lines.iter().map(|line| str_field(line, "beneficiary")).collect();
    named.sort_unstable();
    let mut expected: Vec<&str> = beneficiaries.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(named, expected, "each beneficiary once");
    let amounts: i64 = lines.iter().map(|line| i64_field(line, "amount")).sum();
    let line_tax: i64 = lines
        .iter()
        .flat_map(|line| line["tax_amounts"].as_array().unwrap().clone())
        .map(|tax| i64_field(&tax, "amount"))
        .sum();
    let shares: i64 =
        (0..200).map(|index| if index % 2 == 0 { 2_500 } else { 1_234 + index }).sum();
    assert_eq!(amounts, shares);
    assert_eq!(i64_field(invoice, "subtotal"), amounts, "{invoice}");
    assert_eq!(i64_field(invoice, "total"), amounts + line_tax, "the lines sum to the total");
}

#[tokio::test]
async fn ending_a_sponsorship_and_a_credit_note_give_the_sponsor_back_its_part() {
    let jan_15 = utc(2027, 1, 15, 9, 0, 0);
    let World { engine: _engine, api, clock, plan, fund } = world(jan_15, 10_000).await;
    let (family, subscription) = subscribed(&api, &clock, &plan).await;
    let body = json!({
        "sponsor": fund, "beneficiary": family, "amount_per_period": 4_000, "cap_amount": 100_000,
    });
    let created = sponsor(&api, &body).await.ok().clone();
    assert_eq!(created["on_default"], "bill_beneficiary", "the default: {created}");
    let id = str_field(&created, "id").to_owned();
    let listed = api.list_all(&format!("/v1/customers/{fund}/sponsorships"), "id").await;
    assert_eq!(ids(&listed), [id.as_str()], "the sponsor's list");
    let listed = api.list_all(&format!("/v1/customers/{family}/sponsorships"), "id").await;
    assert_eq!(ids(&listed), [id.as_str()], "the beneficiary's list");

    let feb_15 = utc(2027, 2, 15, 9, 0, 0);
    api.advance_clock(&clock, feb_15).await;
    let february = api.subscription_invoices(&subscription).await.pop().expect("renewed");
    assert_eq!(i64_field(&february, "total"), 6_900, "(R100 − R40) + 15 %: {february}");
    let sponsored = api.get_ok(&format!("/v1/sponsorships/{id}")).await;
    assert_eq!(sponsored["amount_used"], 4_000, "{sponsored}");

    // A credit note of half of what the family paid gives back half of the sponsor's part.
    let note = json!({"invoice": february["id"], "amount": 3_450, "credit_amount": 3_450});
    api.post("/v1/credit_notes", &note).await.ok();
    let restored = api.get_ok(&format!("/v1/sponsorships/{id}")).await;
    assert_eq!(restored["amount_used"], 2_000, "the cap restored by R20: {restored}");

    let ended = api.post(&format!("/v1/sponsorships/{id}/end"), &json!({})).await.ok().clone();
    assert_eq!(
        (ended["status"].clone(), ended["ended_at"].clone()),
        (json!("ended"), json!(feb_15))
    );
    api.advance_clock(&clock, utc(2027, 3, 15, 9, 0, 0)).await;
    let march = api.subscription_invoices(&subscription).await.pop().expect("renewed");
    assert!(sponsor_lines(&march).is_empty(), "the beneficiary's alone: {march}");
    assert_eq!(i64_field(&march, "total"), 11_500, "{march}");

    // February's share and its half given back, on the fund's invoice of March 1st.
    let fund_invoices = api.customer_invoices(&fund).await;
    assert_eq!(fund_invoices.len(), 1, "{fund_invoices:?}");
    let amounts: Vec<i64> = fund_invoices[0]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| i64_field(line, "amount"))
        .collect();
    assert_eq!(amounts, [4_000, -2_000], "{}", fund_invoices[0]);
    assert_eq!(fund_invoices[0]["total"], 2_300, "{}", fund_invoices[0]);

    // The fund pays it by card: paid, and nothing defaults after its grace.
    api.add_payment_method(&fund, "pm_card_visa").await;
    let path = format!("/v1/invoices/{}/pay", str_field(&fund_invoices[0], "id"));
    let paid = api.post(&path, &json!({})).await.ok().clone();
    assert_eq!(
        (paid["status"].clone(), paid["amount_paid"].clone()),
        (json!("paid"), json!(2_300))
    );
    api.advance_clock(&clock, utc(2027, 4, 15, 9, 0, 0)).await;
    let april = api.subscription_invoices(&subscription).await;
    assert_eq!(april.len(), 4, "January to April, nothing billed for the fund: {april:?}");
}

#[tokio::test]
async fn refused_sponsorships_are_400_and_make_nothing() {
    let jan_15 = utc(2027, 1, 15, 9, 0, 0);
    let World { engine: _engine, api, clock, plan, fund } = world(jan_15, 10_000).await;
    let (family, subscription) = subscribed(&api, &clock, &plan).await;
    let elsewhere = api.create_customer().await;
    let unsubscribed = api.clock_customer(&clock, "ZA").await;
    let base = json!({"sponsor": fund, "beneficiary": family, "subscription": subscription});
    let with = |extra: Value| {
        let mut body = base.clone();
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let cases = [
        (
            "a share above the invoice",
            with(json!({"amount_per_period": 10_001})),
            "amount_per_period",
        ),
        ("no percent", with(json!({"percent_off_bps": 0})), "percent_off_bps"),
        ("above 100 %", with(json!({"percent_off_bps": 10_001})), "percent_off_bps"),
        (
            "both shares",
            with(json!({"percent_off_bps": 10, "amount_per_period": 10})),
            "percent_off_bps",
        ),
        ("no share", base.clone(), "percent_off_bps"),
        ("a negative amount", with(json!({"amount_per_period": -5})), "amount_per_period"),
        ("a negative cap", with(json!({"percent_off_bps": 10, "cap_amount": -1})), "cap_amount"),
        (
            "an end before the start",
            with(json!({"percent_off_bps": 10, "starts_at": jan_15, "ends_at": jan_15})),
            "ends_at",
        ),
        (
            "an unknown on_default",
            with(json!({"percent_off_bps": 10, "on_default": "pray"})),
            "on_default",
        ),
        (
            "itself",
            json!({"sponsor": family, "beneficiary": family, "percent_off_bps": 10}),
            "sponsor",
        ),
        (
            "another clock",
            json!({"sponsor": elsewhere, "beneficiary": family, "percent_off_bps": 10}),
            "sponsor",
        ),
        (
            "no subscription",
            json!({"sponsor": fund, "beneficiary": unsubscribed, "percent_off_bps": 10}),
            "subscription",
        ),
        (
            "an unknown sponsor",
            with(json!({"sponsor": "cus_nobody", "percent_off_bps": 10})),
            "sponsor",
        ),
    ];
    for (what, body, param) in cases {
        let refused = sponsor(&api, &body).await;
        assert_error(&refused, 400, "validation_error");
        assert_eq!(refused.body["error"]["param"], param, "{what}: {}", refused.text);
    }
    let unknown = sponsor(&api, &with(json!({"percent_off_bps": 10, "share": 1}))).await;
    assert_eq!(unknown.status, 400, "an unknown field: {}", unknown.text);
    for customer in [&fund, &family, &unsubscribed] {
        let listed = api.list_all(&format!("/v1/customers/{customer}/sponsorships"), "id").await;
        assert!(listed.is_empty(), "nothing made: {listed:?}");
    }
    assert_eq!(api.get("/v1/sponsorships/spons_01J00000000000000000000000").await.status, 404);
}

async fn features(api: &Api, customer: &str) -> Vec<String> {
    let list = api.get_ok(&format!("/v1/customers/{customer}/entitlements")).await;
    let data = list["data"].as_array().unwrap_or_else(|| panic!("no data: {list}"));
    data.iter().map(|grant| str_field(grant, "feature").to_owned()).collect()
}

#[tokio::test]
async fn an_unpaid_sponsor_invoice_defaults_at_the_end_of_its_grace_as_each_sponsorship_says() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let jan_15 = utc(2027, 1, 15, 9, 0, 0);
    let clock = api.create_clock(jan_15).await;
    let plan = api
        .create_plan(&json!({
            "name": "Maths", "amount": 10_000, "currency": "zar", "interval": "month",
            "tax_behavior": "exclusive", "features": ["course:maths"],
        }))
        .await;
    let plan = str_field(&plan, "id").to_owned();
    let fund = api.clock_customer(&clock, "ZA").await;
    let mut families = Vec::new();
    for on_default in ["bill_beneficiary", "revoke", "absorb"] {
        let (family, subscription) = subscribed(&api, &clock, &plan).await;
        let body = json!({
            "sponsor": fund, "beneficiary": family, "percent_off_bps": 5_000,
            "on_default": on_default,
        });
        let id = sponsor(&api, &body).await.id();
        families.push((family, subscription, id));
    }
    api.advance_clock(&clock, utc(2027, 2, 15, 9, 0, 0)).await;
    api.advance_clock(&clock, utc(2027, 3, 15, 9, 0, 0)).await;
    let march = api.customer_invoices(&fund).await.remove(0);
    assert_eq!((march["total"].clone(), march["status"].clone()), (json!(17_250), json!("open")));
    // Due March 31st; the grace (`billing.grace_days`, 7) ends on April 7th.
    let grace_end = utc(2027, 3, 1, 0, 0, 0) + 37 * DAY;
    api.advance_clock(&clock, grace_end - 1).await;
    // Reminded on its due date and 1, 3 and 5 days after (`billing.dunning.retry_days`).
    let reminded = api.invoice(str_field(&march, "id")).await;
    assert_eq!(reminded["reminders_sent"], 4, "{reminded}");
    assert_eq!(reminded["next_reminder_at"], grace_end, "{reminded}");
    for (family, _, id) in &families {
        assert_eq!(features(&api, family).await, ["course:maths"], "kept until the grace ends");
        assert_eq!(api.get_ok(&format!("/v1/sponsorships/{id}")).await["status"], "active");
    }
    api.advance_clock(&clock, grace_end).await;

    let [billed, revoked, absorbed] = &families[..] else { unreachable!() };
    let latest = api.subscription_invoices(&billed.1).await.pop().expect("invoices");
    assert_eq!(latest["billing_reason"], "sponsorship", "{latest}");
    assert_eq!((latest["total"].clone(), latest["status"].clone()), (json!(5_750), json!("paid")));
    assert_eq!(features(&api, &billed.0).await, ["course:maths"]);
    assert!(features(&api, &revoked.0).await.is_empty(), "revoked for the rest of the period");
    assert_eq!(features(&api, &absorbed.0).await, ["course:maths"]);
    let statuses: Vec<Value> = {
        let mut statuses = Vec::new();
        for (_, _, id) in &families {
            statuses.push(api.get_ok(&format!("/v1/sponsorships/{id}")).await["status"].clone());
        }
        statuses
    };
    assert_eq!(statuses, [json!("ended"), json!("ended"), json!("active")]);
    let march = api.invoice(str_field(&march, "id")).await;
    assert_eq!(
        (march["amount_due"].clone(), march["status"].clone()),
        (json!(17_250 - 5_750), json!("open")),
        "the share billed to its beneficiary is no longer the fund's: {march}"
    );

    // The next period is the family's own again, and its features come back with it.
    api.advance_clock(&clock, utc(2027, 4, 15, 9, 0, 0)).await;
    assert_eq!(features(&api, &revoked.0).await, ["course:maths"]);
    let april = api.subscription_invoices(&revoked.1).await.pop().expect("renewed");
    assert_eq!(i64_field(&april, "total"), 11_500, "no share of an ended sponsorship: {april}");
}

#[tokio::test]
async fn a_fixed_share_is_paid_once_a_period_and_a_percentage_of_a_change_too() {
    let jan_1 = utc(2027, 1, 1, 9, 0, 0);
    let World { engine: _engine, api, clock, plan, fund } = world(jan_1, 10_000).await;
    let mut changed = Vec::new();
    for share in [json!({"amount_per_period": 3_000}), json!({"percent_off_bps": 5_000})] {
        let (family, subscription) = subscribed(&api, &clock, &plan).await;
        let mut body = json!({"sponsor": fund, "beneficiary": family});
        body.as_object_mut().unwrap().extend(share.as_object().unwrap().clone());
        sponsor(&api, &body).await.ok();
        changed.push(subscription);
    }
    api.advance_clock(&clock, utc(2027, 1, 16, 9, 0, 0)).await;
    let seats = json!({"quantity": 2, "proration_behavior": "always_invoice"});
    for subscription in &changed {
        api.update_subscription(subscription, &seats).await.ok();
    }
    let fixed = api.subscription_invoices(&changed[0]).await.pop().expect("the change's invoice");
    assert_eq!(fixed["billing_reason"], "subscription_update", "{fixed}");
    assert!(sponsor_lines(&fixed).is_empty(), "the period's fixed share is paid: {fixed}");
    let percent = api.subscription_invoices(&changed[1]).await.pop().expect("the change's invoice");
    let lines = percent["lines"].as_array().expect("lines");
    let net: i64 = lines
        .iter()
        .filter(|line| line["sponsored_by"].is_null())
        .map(|line| i64_field(line, "amount"))
        .sum();
    assert!(net > 0, "{percent}");
    let share: i64 = sponsor_lines(&percent).iter().map(|line| -i64_field(line, "amount")).sum();
    assert_eq!(share, (net + 1) / 2, "half of the change, half-up: {percent}");

    // Back to one seat a week later: the credit is shared too, half of it back to the sponsor.
    api.advance_clock(&clock, utc(2027, 1, 23, 9, 0, 0)).await;
    let used_before = sponsorship_of(&api, &changed[1]).await["amount_used"].as_i64().unwrap();
    let one_seat = json!({"quantity": 1, "proration_behavior": "always_invoice"});
    api.update_subscription(&changed[1], &one_seat).await.ok();
    let credit = api.subscription_invoices(&changed[1]).await.pop().expect("the credit");
    let lines = credit["lines"].as_array().expect("lines");
    let net: i64 = lines
        .iter()
        .filter(|line| line["sponsored_by"].is_null())
        .map(|line| i64_field(line, "amount"))
        .sum();
    assert!(net < 0, "a credit: {credit}");
    let back: i64 = sponsor_lines(&credit).iter().map(|line| i64_field(line, "amount")).sum();
    assert_eq!(back, (-net + 1) / 2, "half of the credit is the sponsor's: {credit}");
    let used_after = sponsorship_of(&api, &changed[1]).await["amount_used"].as_i64().unwrap();
    assert_eq!(used_after, used_before - back, "its part given back");
}

/// The sponsorship of `subscription`, as its beneficiary's list shows it.
async fn sponsorship_of(api: &Api, subscription: &str) -> Value {
    let customer = api.subscription(subscription).await;
    let path = format!("/v1/customers/{}/sponsorships", str_field(&customer, "customer"));
    let listed = api.list_all(&path, "id").await;
    listed.into_iter().find(|one| one["subscription"] == subscription).expect("sponsored")
}

#[tokio::test]
async fn a_transfer_under_way_holds_off_a_default_until_it_fails() {
    let jan_15 = utc(2027, 1, 15, 9, 0, 0);
    let World { engine: _engine, api, clock, plan, fund } = world(jan_15, 10_000).await;
    common::checkout::set_bank_details(&api).await;
    let (family, subscription) = subscribed(&api, &clock, &plan).await;
    let body = json!({"sponsor": fund, "beneficiary": family, "percent_off_bps": 5_000});
    sponsor(&api, &body).await.ok();
    api.advance_clock(&clock, utc(2027, 3, 1, 0, 0, 0)).await;
    let march = api.customer_invoices(&fund).await.remove(0);
    let grace_end = utc(2027, 3, 1, 0, 0, 0) + 37 * DAY;

    // Two days before the grace ends the fund starts a bank transfer: nothing defaults under it.
    api.advance_clock(&clock, grace_end - 2 * DAY).await;
    let path = format!("/v1/customers/{fund}/payment_methods");
    let method = api.post(&path, &json!({"type": "bank_transfer"})).await.ok().clone();
    let pay = format!("/v1/invoices/{}/pay", str_field(&march, "id"));
    api.post(&pay, &json!({"payment_method": method["id"]})).await.ok();
    let renewed = api.subscription_invoices(&subscription).await.len();
    api.advance_clock(&clock, grace_end + DAY).await;
    assert_eq!(api.subscription_invoices(&subscription).await.len(), renewed, "no default yet");

    // The transfer never arrives: it expires after 7 days, and the default follows at once.
    let expired = grace_end - 2 * DAY + 7 * DAY;
    api.advance_clock(&clock, expired).await;
    let invoices = api.subscription_invoices(&subscription).await;
    let billed = invoices.last().expect("invoices");
    assert_eq!(billed["billing_reason"], "sponsorship", "the unpaid share billed: {billed}");
    assert_eq!(billed["created"], expired, "{billed}");
}
