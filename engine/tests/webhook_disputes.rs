//! Stripe's disputes through its webhooks: what a platform relies on when a customer's bank takes
//! a payment back.
//!
//! Proves that a dispute shows on its charge and at `GET /v1/disputes/{id}` and only moves
//! forward; that a lost dispute takes the payee's share back before the next payout; that its fee
//! is in the books once, and given back when Stripe gives it back; that a dispute of a charge
//! settled in dollars is booked as Stripe moved dollars, and one booked at the charge's rate is
//! corrected once a later event lists what Stripe withdrew and reinstated.
//! How: the real engine over HTTP with Stripe as its gateway (the local fake Stripe), each event
//! signed here with HMAC-SHA256 as Stripe documents it.

mod common;
#[path = "common/stripe_webhooks.rs"]
mod stripe_webhooks;

use common::*;
use kassa_testkit::fake_stripe::{self, FakeStripe};
use serde_json::json;
use stripe_webhooks::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispute_shows_on_its_charge_and_only_moves_forward() {
    let stripe = FakeStripe::start().await;
    let engine = Engine::start(config(&stripe.api_base(), 0)).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let charge = api.charge_ok(&customer, 5000, "usd").await;
    let (charge_id, intent) = (str_field(&charge, "id"), str_field(&charge, "gateway_reference"));
    let dispute = |status: &str| {
        json!({ "id": "du_1", "object": "dispute", "amount": 5000, "currency": "usd",
            "charge": "ch_3stripe", "payment_intent": intent, "reason": "fraudulent", "status": status })
    };
    let now = now_secs();
    deliver(
        &engine,
        &event("evt_dp_1", "charge.dispute.created", now - 100, dispute("needs_response")),
    )
    .await;
    wait_applied(&api, "charge.dispute.created", 1).await;
    let disputed = api.get_ok(&format!("/v1/charges/{charge_id}")).await;
    assert_eq!(disputed["disputed"], true, "{disputed}");
    let dispute_id = str_field(&disputed, "dispute").to_owned();
    let shown = api.get_ok(&format!("/v1/disputes/{dispute_id}")).await;
    assert_eq!(shown["status"], "needs_response");
    assert_eq!(shown["reason"], "fraudulent");
    assert_eq!(shown["amount"], 5000);
    assert_eq!(shown["charge"], charge_id);
    assert_eq!(shown["gateway_reference"], "du_1");

    deliver(&engine, &event("evt_dp_3", "charge.dispute.closed", now, dispute("won"))).await;
    wait_applied(&api, "charge.dispute.closed", 1).await;
    // An update older than the close arrives last.
    deliver(
        &engine,
        &event("evt_dp_2", "charge.dispute.updated", now - 50, dispute("under_review")),
    )
    .await;
    wait_applied(&api, "charge.dispute.updated", 1).await;
    assert_eq!(api.get_ok(&format!("/v1/disputes/{dispute_id}")).await["status"], "won");
    assert_error(
        &engine.api_b().get(&format!("/v1/disputes/{dispute_id}")).await,
        404,
        "not_found",
    );

    // Listing: newest first, paged, filtered.
    let first = api.get_ok("/v1/events?limit=2").await;
    assert_eq!(first["has_more"], true);
    let mut all = first["data"].as_array().unwrap().clone();
    let after = str_field(&all[1], "id").to_owned();
    let rest = api.get_ok(&format!("/v1/events?limit=2&starting_after={after}")).await;
    assert_eq!(rest["has_more"], false);
    all.extend(rest["data"].as_array().unwrap().iter().cloned());
    let kinds: Vec<_> = all.iter().map(|event| event["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["charge.dispute.updated", "charge.dispute.closed", "charge.dispute.created"]
    );
    assert_error(&api.get("/v1/events?starting_after=nope").await, 400, "validation_error");
}

/// What Stripe charges for a dispute (US, 2024).
const DISPUTE_FEE: i64 = 1_500;

/// A split charge whose payee was paid out, then a dispute lost: the payee's share is held from
/// the dispute's opening and kept, its balance goes negative, and the next charge's share
/// recovers it before anything more is paid out. A dispute won gives the hold back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_dispute_takes_the_payees_share_back_before_the_next_payout() {
    let stripe = FakeStripe::start().await;
    let engine = Engine::start(config(&stripe.api_base(), 0)).await;
    let api = engine.api_a();
    let body = json!({
        "name": "Lerato Khumalo",
        "country": "ZA",
        "default_currency": "usd",
        "destination": {"type": "bank_account", "account_holder": "L Khumalo",
            "bank_code": "250655", "account_number": "000123456789"},
        "payout_schedule": {"interval": "manual", "delay_days": 0},
    });
    let payee = api.post("/v1/payees", &body).await.id();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let split = |amount: i64, share: i64| {
        let mut body = charge_body(&customer, amount as u64, "usd");
        body["transfer"] = json!({"payee": payee, "amount": share});
        body
    };
    let charge = api.post("/v1/charges", &split(10_000, 6_000)).await.ok().clone();
    let paid = api.post("/v1/payouts", &json!({"payee": payee, "currency": "usd"})).await;
    assert_eq!(paid.ok()["amount"], 6_000, "{}", paid.text);

    let intent = str_field(&charge, "gateway_reference");
    // Stripe lists the dispute's withdrawal, with its fee, in every event about it.
    let dispute = |id: &str, amount: i64, status: &str| {
        json!({ "id": id, "object": "dispute", "amount": amount, "currency": "usd",
            "charge": "ch_3split", "payment_intent": intent, "reason": "fraudulent",
            "status": status, "balance_transactions": [{ "id": "txn_dp", "amount": -amount,
                "fee": DISPUTE_FEE, "currency": "usd", "type": "adjustment" }] })
    };
    let now = now_secs();
    let opened = event(
        "evt_split_1",
        "charge.dispute.created",
        now - 10,
        dispute("du_s", 10_000, "needs_response"),
    );
    deliver(&engine, &opened).await;
    wait_applied(&api, "charge.dispute.created", 1).await;
    assert_eq!(api.payee_balance(&payee, "usd").await, (-6_000, 0), "the share is held");
    let lost = event("evt_split_2", "charge.dispute.closed", now, dispute("du_s", 10_000, "lost"));
    deliver(&engine, &lost).await;
    wait_applied(&api, "charge.dispute.closed", 1).await;
    assert_eq!(api.payee_balance(&payee, "usd").await, (-6_000, 0), "and kept");
    let nothing = api.post("/v1/payouts", &json!({"payee": payee, "currency": "usd"})).await;
    assert_error(&nothing, 400, "insufficient_balance");

    api.post("/v1/charges", &split(10_000, 8_000)).await.ok();
    assert_eq!(api.payee_balance(&payee, "usd").await, (2_000, 0), "recovered first");
    let next = api.post("/v1/payouts", &json!({"payee": payee, "currency": "usd"})).await;
    assert_eq!(next.ok()["amount"], 2_000, "{}", next.text);
    let platform = api.get_ok("/v1/balance").await;
    // 20 000 in, 14 000 to the payee, 10 000 withdrawn, 6 000 held back: 2 000 left, less
    // Stripe's fees on the two charges and on the dispute.
    let fees = 2 * fake_stripe::fee_of(10_000) + DISPUTE_FEE;
    assert_eq!(platform["available"][0]["amount"], 2_000 - fees, "{platform}");
    let lost_figures = platform_movements(&api, str_field(&charge, "id")).await;
    assert_eq!(lost_figures, [[-10_000, DISPUTE_FEE, -10_000 - DISPUTE_FEE]], "the fee once");

    // A dispute of half a split charge, won: half its share held, then given back.
    let third = api.post("/v1/charges", &split(4_000, 4_000)).await.ok().clone();
    let intent = str_field(&third, "gateway_reference");
    let half = json!({ "id": "du_w", "object": "dispute", "amount": 2_000, "currency": "usd",
        "charge": "ch_3won", "payment_intent": intent, "reason": "fraudulent" });
    // Won, the withdrawal is reinstated and (where Stripe does so) its fee given back.
    let open = |status: &str| {
        let mut object = half.clone();
        object["status"] = json!(status);
        let withdrawn = json!({ "amount": -2_000, "fee": DISPUTE_FEE, "currency": "usd" });
        let reinstated = json!({ "amount": 2_000, "fee": -DISPUTE_FEE, "currency": "usd" });
        object["balance_transactions"] = match status {
            "won" => json!([withdrawn, reinstated]),
            _ => json!([withdrawn]),
        };
        object
    };
    deliver(
        &engine,
        &event("evt_won_1", "charge.dispute.created", now - 5, open("needs_response")),
    )
    .await;
    wait_applied(&api, "charge.dispute.created", 2).await;
    assert_eq!(api.payee_balance(&payee, "usd").await, (2_000, 0), "half of 4 000 held");
    deliver(&engine, &event("evt_won_2", "charge.dispute.closed", now, open("won"))).await;
    wait_applied(&api, "charge.dispute.closed", 2).await;
    assert_eq!(api.payee_balance(&payee, "usd").await, (4_000, 0), "given back");
    let mut won_figures = platform_movements(&api, str_field(&third, "id")).await;
    won_figures.sort();
    let opened = [-2_000, DISPUTE_FEE, -2_000 - DISPUTE_FEE];
    let fee_back = [0, -DISPUTE_FEE, DISPUTE_FEE];
    assert_eq!(won_figures, [opened, fee_back, [2_000, 0, 2_000]]);
}

/// `[amount, fee, net]` of each movement of the platform's balance the dispute of `charge` made.
/// A shilling charge Stripe settled in dollars, disputed: its dispute is booked in dollars, as
/// Stripe's dispute lists what it withdrew (at the rate of that day) with its fee, and what it
/// put back when the dispute was won (at the rate of that one), not at the charge's rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispute_of_a_charge_settled_in_dollars_is_booked_as_stripe_moved_dollars() {
    let SettledInDollars { _stripe, mut engine, api, charge, charged } =
        SettledInDollars::start().await;
    let dispute = |status: &str, moved: &[&Value]| dollar_dispute(&charge, "kes", status, moved);
    let usd_balance = |amount: i64| json!([{"amount": amount, "currency": "usd"}]);

    // The shilling weaker by the day it opened: USD 9.88 withdrawn, not the charge's 10.01.
    let withdrawn = 988;
    let withdrawal = json!({ "id": "txn_du_kes", "amount": -withdrawn, "fee": DISPUTE_FEE,
        "currency": "usd", "type": "adjustment" });
    let opened = dispute("needs_response", &[&withdrawal]);
    deliver(&engine, &event("evt_kes_dispute", "charge.dispute.created", now_secs(), opened)).await;
    wait_applied(&api, "charge.dispute.created", 1).await;
    let moved = platform_movements(&api, str_field(&charge, "id")).await;
    assert_eq!(moved, [[-withdrawn, DISPUTE_FEE, -withdrawn - DISPUTE_FEE]]);
    let balance = api.get_ok("/v1/balance").await;
    let after_withdrawal = charged - withdrawn - DISPUTE_FEE;
    assert_eq!(balance["available"], usd_balance(after_withdrawal), "{balance}");

    // Won weeks later: USD 9.75 put back at that day's rate; Stripe keeps its fee.
    let reinstated = 975;
    let reinstatement = json!({ "id": "txn_du_kes_2", "amount": reinstated, "fee": 0,
        "currency": "usd", "type": "adjustment" });
    let won = dispute("won", &[&withdrawal, &reinstatement]);
    deliver(&engine, &event("evt_kes_won", "charge.dispute.closed", now_secs() + 60, won)).await;
    wait_applied(&api, "charge.dispute.closed", 1).await;
    let moved = platform_movements(&api, str_field(&charge, "id")).await;
    let opened = [-withdrawn, DISPUTE_FEE, -withdrawn - DISPUTE_FEE];
    assert_eq!(moved, [[reinstated, 0, reinstated], opened], "newest first");
    let balance = api.get_ok("/v1/balance").await;
    assert_eq!(balance["available"], usd_balance(after_withdrawal + reinstated), "{balance}");

    engine.stop_graceful().await;
    books_balance(engine.data_dir());
}

/// The same dispute when its first events list nothing Stripe moved: booked at the charge's rate
/// (USD 10.01), then corrected by an adjustment when `funds_withdrawn` lists USD 9.88 and
/// `funds_reinstated` lists USD 9.75, each once however often it is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispute_booked_at_the_charges_rate_is_corrected_when_stripe_lists_what_it_moved() {
    let SettledInDollars { _stripe, mut engine, api, charge, charged } =
        SettledInDollars::start().await;
    let at_rate = 1_001;
    let dispute = |status: &str, moved: &[&Value]| dollar_dispute(&charge, "late", status, moved);
    let (withdrawn, reinstated) = (988, 975);
    let withdrawal = json!({ "id": "txn_late", "amount": -withdrawn, "fee": DISPUTE_FEE,
        "currency": "usd", "type": "adjustment" });
    let reinstatement = json!({ "id": "txn_late_2", "amount": reinstated, "fee": 0,
        "currency": "usd", "type": "adjustment" });
    let now = now_secs();
    let steps = [
        ("evt_late_1", "charge.dispute.created", now, dispute("needs_response", &[])),
        (
            "evt_late_2",
            "charge.dispute.funds_withdrawn",
            now + 1,
            dispute("needs_response", &[&withdrawal]),
        ),
        ("evt_late_3", "charge.dispute.closed", now + 60, dispute("won", &[&withdrawal])),
        (
            "evt_late_4",
            "charge.dispute.funds_reinstated",
            now + 61,
            dispute("won", &[&withdrawal, &reinstatement]),
        ),
    ];
    let mut moved_by_step = Vec::new();
    for (id, kind, at, object) in steps {
        deliver(&engine, &event(id, kind, at, object.clone())).await;
        wait_applied(&api, kind, 1).await;
        // Delivered again under another id (Stripe's retries keep the id; a second event saying
        // the same is what a replay of the object looks like): nothing more moves.
        deliver(&engine, &event(&format!("{id}_again"), kind, at, object)).await;
        wait_applied(&api, kind, 2).await;
        let mut moved = platform_movements(&api, str_field(&charge, "id")).await;
        moved.reverse();
        moved_by_step.push(moved);
    }
    let opened = [-at_rate, 0, -at_rate];
    let fee = [0, DISPUTE_FEE, -DISPUTE_FEE];
    let listed = [at_rate - withdrawn, 0, at_rate - withdrawn];
    let won = [at_rate, 0, at_rate];
    let back = [reinstated - at_rate, 0, reinstated - at_rate];
    assert_eq!(moved_by_step[0], [opened], "at the charge's rate, no fee listed yet");
    assert_eq!(moved_by_step[1], [opened, fee, listed], "oldest first");
    assert_eq!(moved_by_step[2], [opened, fee, listed, won]);
    assert_eq!(moved_by_step[3], [opened, fee, listed, won, back]);
    let balance = api.get_ok("/v1/balance").await;
    let expected = charged - withdrawn - DISPUTE_FEE + reinstated;
    assert_eq!(balance["available"], json!([{"amount": expected, "currency": "usd"}]), "{balance}");

    engine.stop_graceful().await;
    books_balance(engine.data_dir());
}

/// A shilling charge of KES 1 300.00 by card on a fresh engine, which Stripe settled in dollars
/// at 77 to 10 000 (USD 10.01): what the dollar-dispute tests start from.
struct SettledInDollars {
    /// Serves the engine's Stripe calls while the test runs.
    _stripe: FakeStripe,
    engine: Engine,
    api: Api,
    charge: Value,
    /// What the charge left on the platform's dollar balance: the settled amount less the fee.
    charged: i64,
}

impl SettledInDollars {
    async fn start() -> SettledInDollars {
        let stripe = FakeStripe::start().await;
        stripe.settle_in("usd", 77, 10_000);
        let engine = Engine::start(config(&stripe.api_base(), 0)).await;
        let api = engine.api_a();
        let (customer, _) = api.customer_with_card("pm_card_visa").await;
        let charge = api.charge(&customer, 130_000, "kes").await.ok().clone();
        let settled = 130_000 * 77 / 10_000;
        let charged = settled - fake_stripe::fee_of(settled);
        SettledInDollars { _stripe: stripe, engine, api, charge, charged }
    }
}

/// The dispute `du_{name}` of `charge` as Stripe's events show it, `status`, listing `moved`.
fn dollar_dispute(charge: &Value, name: &str, status: &str, moved: &[&Value]) -> Value {
    json!({ "id": format!("du_{name}"), "object": "dispute", "amount": 130_000, "currency": "kes",
        "charge": format!("ch_3{name}"), "payment_intent": charge["gateway_reference"],
        "reason": "fraudulent", "status": status, "balance_transactions": moved })
}

async fn platform_movements(api: &Api, charge: &str) -> Vec<[i64; 3]> {
    let disputed = api.get_ok(&format!("/v1/charges/{charge}")).await;
    let dispute = str_field(&disputed, "dispute");
    let moved = api.get_ok(&format!("/v1/balance_transactions?source={dispute}")).await;
    let moved = moved["data"].as_array().unwrap_or_else(|| panic!("{moved}"));
    moved
        .iter()
        .filter(|txn| txn["payee"].is_null())
        .map(|txn| ["amount", "fee", "net"].map(|field| i64_field(txn, field)))
        .collect()
}
