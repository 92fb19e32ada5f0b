//! The books: every charge that succeeds, refund, and charge declined (nothing) as the platform
//! reads them back — `GET /v1/balance` to the cent, `GET /v1/balance_transactions` newest first
//! and filtered; split charges moving a payee's share and refunds reversing it in proportion;
//! bad splits refused before anything moves; and, after `kill -9` at twenty instants of
//! concurrent charges, split charges, refunds and payouts, the platform's and the payees'
//! balances together equal what the sandbox processor holds, each payout was paid once, and
//! `kassa verify-ledger` passes, the processor keeping a fee of each charge; a gateway's fee
//! out of its charge (in the balance transaction, the balance and the revenue report, kept on
//! a refund); invoices on a test clock accrue (owed and taxed when finalized,
//! a year's revenue deferred and recognized month by month, a write-off as bad debt recovered
//! when paid), as the exported journal shows entry by entry, and so does a sale (a charge that
//! paid no invoice: collected, taxed and earned at once, a refund taking its part back, the tax
//! in proportion); `kassa export` writes the books as CSV and as Parquet holding the same rows,
//! with no personal data.

mod common;

use std::path::Path;

use common::*;

/// The platform's available balance per currency, as `GET /v1/balance` shows it.
async fn available(api: &Api) -> Vec<(String, i64)> {
    let balance = api.get_ok("/v1/balance").await;
    assert_eq!(balance["object"], "balance", "{balance}");
    let amounts = balance["available"].as_array().unwrap_or_else(|| panic!("{balance}"));
    for pending in balance["pending"].as_array().unwrap() {
        assert_eq!(pending["amount"], 0, "nothing is posted pending yet: {balance}");
    }
    amounts
        .iter()
        .map(|amount| (str_field(amount, "currency").to_owned(), i64_field(amount, "amount")))
        .collect()
}

#[tokio::test]
async fn charges_and_refunds_move_the_balance_to_the_cent() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let dollars = api.charge_ok(&customer, 10_000, "usd").await;
    let rands = api.charge_ok(&customer, 2_550, "zar").await;
    let refund = api.refund(str_field(&dollars, "id"), Some(4_000)).await.ok().clone();
    assert_eq!(refund["status"], "succeeded", "{refund}");
    // A declined charge moves no money.
    let (declined_customer, _) = api.customer_with_card("pm_card_chargeDeclined").await;
    assert_eq!(api.charge(&declined_customer, 7_000, "usd").await.status, 402);

    assert_eq!(available(&api).await, vec![("usd".into(), 6_000), ("zar".into(), 2_550)]);
    assert!(available(&engine.api_b()).await.is_empty(), "another account's books are its own");

    let listed = api.list_all("/v1/balance_transactions", "id").await;
    let seen: Vec<(&str, i64, &str)> = listed
        .iter()
        .map(|txn| (str_field(txn, "type"), i64_field(txn, "amount"), str_field(txn, "source")))
        .collect();
    let (dollar_id, rand_id, refund_id) =
        (str_field(&dollars, "id"), str_field(&rands, "id"), str_field(&refund, "id"));
    assert_eq!(
        seen,
        vec![
            ("refund", -4_000, refund_id),
            ("charge", 2_550, rand_id),
            ("charge", 10_000, dollar_id)
        ],
        "newest first"
    );
    for txn in &listed {
        assert_eq!(txn["object"], "balance_transaction");
        assert_eq!(txn["net"], txn["amount"], "no gateway fee posted: {txn}");
        assert_eq!(txn["customer"], customer.as_str());
    }
    let refunds = api.get_ok("/v1/balance_transactions?type=refund").await;
    assert_eq!(refunds["data"].as_array().unwrap().len(), 1, "{refunds}");
    let of_charge = api.get_ok(&format!("/v1/balance_transactions?source={dollar_id}")).await;
    assert_eq!(of_charge["data"][0]["amount"], 10_000, "{of_charge}");
    assert_eq!(of_charge["data"].as_array().unwrap().len(), 1, "{of_charge}");
    let after_first = str_field(&listed[0], "id");
    let older =
        api.get_ok(&format!("/v1/balance_transactions?limit=1&starting_after={after_first}")).await;
    assert_eq!(older["data"][0]["source"], rand_id, "{older}");
    assert_eq!(older["has_more"], true);

    assert_error(&api.get("/v1/balance_transactions?type=payment").await, 400, "validation_error");
    assert_error(&api.get("/v1/balance_transactions?source=ch-1").await, 400, "validation_error");
    assert_error(
        &api.get("/v1/balance_transactions?starting_after=ch_1").await,
        400,
        "validation_error",
    );
    assert_error(
        &api.get("/v1/balance_transactions?created[gte]=-1").await,
        400,
        "validation_error",
    );
}

/// Kills made at these many instants of the load, one per round.
const KILL_ROUNDS: u64 = 20;

/// What the sandbox processor holds for the account: its charges less its fees, refunds and
/// payouts.
async fn processor_net(api: &Api) -> i64 {
    api.ledger()
        .await
        .iter()
        .map(|entry| match entry["kind"].as_str() {
            Some("charge") => i64_field(entry, "amount") - i64_field(entry, "fee"),
            Some("refund") | Some("payout") => -i64_field(entry, "amount"),
            _ => 0,
        })
        .sum()
}

/// Charges (every other one split, with the two payees in turn) and partial refunds of every
/// third, each with its own key, until the engine stops answering.
async fn charge_until_killed(api: Api, customers: Vec<String>, payees: [String; 2], round: u64) {
    for index in 0usize.. {
        let customer = &customers[index % customers.len()];
        let mut body = charge_body(customer, 1_000, "zar");
        if index.is_multiple_of(2) {
            let payee = &payees[(index / 2) % 2];
            body["transfer"] = json!({"payee": payee, "percent_bps": 6_000});
            body["application_fee_amount"] = json!(50);
        }
        let key = format!("books-{round}-charge-{index}");
        let Ok(charge) = api.try_post_with_key("/v1/charges", &body, &key).await else { return };
        if charge.status == 200 && index.is_multiple_of(3) {
            let body = json!({"charge": charge.body["id"], "amount": 250});
            let key = format!("books-{round}-refund-{index}");
            if api.try_post_with_key("/v1/refunds", &body, &key).await.is_err() {
                return;
            }
        }
    }
}

/// Payouts of a little of `payee`'s available balance, each with its own key, until the engine
/// stops answering (refusals for want of balance included).
async fn pay_out_until_killed(api: Api, payee: String, round: u64) {
    for index in 0usize.. {
        let body = json!({"payee": payee, "amount": 300, "currency": "zar"});
        let key = format!("books-{round}-payout-{index}");
        if api.try_post_with_key("/v1/payouts", &body, &key).await.is_err() {
            return;
        }
    }
}

/// The payee's payouts once none is pending or in transit: after a start, the engine sends
/// what a kill left unsent.
async fn payouts_settled(api: &Api, payee: &str) -> Vec<Value> {
    wait_for("the payouts to settle", std::time::Duration::from_secs(20), || async {
        let payouts = api.list_all(&format!("/v1/payees/{payee}/payouts"), "id").await;
        let settled = payouts
            .iter()
            .all(|payout| matches!(payout["status"].as_str(), Some("paid" | "failed")));
        settled.then_some(payouts)
    })
    .await
}

#[tokio::test]
async fn the_books_balance_after_kills_during_charges_transfers_refunds_and_payouts() {
    // The processor keeps a fee of every charge, which the books must follow too.
    let mut engine = Engine::start(on_priced_sandbox()).await;
    let api = engine.api_a();
    let payee = payee(&api).await;
    let paid_out = paid_at_once(&api).await;
    let mut customers = Vec::new();
    for _ in 0..4 {
        customers.push(api.customer_with_card("pm_card_visa").await.0);
    }
    for round in 0..KILL_ROUNDS {
        let payees = [payee.clone(), paid_out.clone()];
        let load =
            tokio::spawn(charge_until_killed(engine.api_a(), customers.clone(), payees, round));
        let payouts = tokio::spawn(pay_out_until_killed(engine.api_a(), paid_out.clone(), round));
        // Instants spread over 0.2 to 1.5 s of load.
        let instant = 200 + (round * 389) % 1_300;
        tokio::time::sleep(std::time::Duration::from_millis(instant)).await;
        engine.kill();
        let _ = load.await;
        let _ = payouts.await;
        engine.launch().await;
        // Whatever was in flight, once the payouts a kill left are sent, the platform's balance
        // and the payees' together are what the processor holds: every movement is in the
        // books exactly once, and no payout was paid twice.
        let api = engine.api_a();
        let sent = payouts_settled(&api, &paid_out).await;
        let payees_hold = payee_total(&api, &payee).await + payee_total(&api, &paid_out).await;
        let platform: i64 = available(&api).await.iter().map(|(_, amount)| amount).sum();
        let held = processor_net(&api).await;
        assert_eq!(platform + payees_hold, held, "round {round}");
        let paid: i64 = sent
            .iter()
            .filter(|payout| payout["status"] == "paid")
            .map(|payout| i64_field(payout, "amount"))
            .sum();
        let processor_paid: i64 = ledger_of_kind(&api.ledger().await, "payout")
            .iter()
            .map(|entry| i64_field(entry, "amount"))
            .sum();
        assert_eq!(paid, processor_paid, "round {round}: each payout paid once");
    }
    let api = engine.api_a();
    assert!(processor_net(&api).await > 0, "the load charged something");
    let fees: i64 = ledger_of_kind(&api.ledger().await, "charge")
        .iter()
        .map(|entry| i64_field(entry, "fee"))
        .sum();
    assert!(fees > 0, "the processor kept fees");
    assert!(!ledger_of_kind(&api.ledger().await, "payout").is_empty(), "the load paid out");

    let running = verify_ledger(engine.data_dir());
    assert!(!running.status.success(), "verify-ledger opened a directory the engine holds");
    engine.stop_graceful().await;
    let said = books_balance(engine.data_dir());
    assert!(said.contains("the books balance"), "{said}");
}

/// The sandbox priced as Stripe prices US cards, 2.9% and 30¢ a charge, on sled: verify-ledger
/// reads a sled directory.
fn on_priced_sandbox() -> Config {
    Config::default()
        .on_sled()
        .with_sandbox("fee_bps = 290")
        .with_sandbox("fee_fixed = { usd = 30 }")
}

#[tokio::test]
async fn a_gateways_fee_comes_out_of_its_charge_and_is_not_given_back_by_a_refund() {
    let mut engine = Engine::start(on_priced_sandbox()).await;
    let api = engine.api_a();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let whole = api.charge_ok(&customer, 10_000, "usd").await;
    // 2.9% of 1 055 is 30.595, rounded half up to 31; of 2 550 rand 73.95: 74, no fixed part.
    let odd = api.charge_ok(&customer, 1_055, "usd").await;
    let rands = api.charge_ok(&customer, 2_550, "zar").await;
    assert_eq!(available(&api).await, vec![("usd".into(), 9_680 + 994), ("zar".into(), 2_476)]);

    let fees_of = |charge: &Value| {
        let source = str_field(charge, "id").to_owned();
        let api = api.clone();
        async move {
            let found = api.get_ok(&format!("/v1/balance_transactions?source={source}")).await;
            let txn = &found["data"][0];
            (i64_field(txn, "amount"), i64_field(txn, "fee"), i64_field(txn, "net"))
        }
    };
    assert_eq!(fees_of(&whole).await, (10_000, 320, 9_680));
    assert_eq!(fees_of(&odd).await, (1_055, 61, 994));
    assert_eq!(fees_of(&rands).await, (2_550, 74, 2_476));
    let processor_fees: Vec<(String, i64)> = ledger_of_kind(&api.ledger().await, "charge")
        .iter()
        .map(|entry| (str_field(entry, "currency").to_owned(), i64_field(entry, "fee")))
        .collect();
    assert_eq!(
        processor_fees,
        vec![("zar".into(), 74), ("usd".into(), 61), ("usd".into(), 320)],
        "the processor's ledger holds the same fees"
    );

    let refund = api.refund(str_field(&whole, "id"), None).await.ok().clone();
    assert_eq!(refund["status"], "succeeded", "{refund}");
    assert_eq!(fees_of(&refund).await, (-10_000, 0, -10_000), "a refund gives no fee back");
    assert_eq!(available(&api).await, vec![("usd".into(), 994 - 320), ("zar".into(), 2_476)]);
    assert_eq!(processor_net(&api).await, 994 - 320 + 2_476);

    let now = now_secs() as i64;
    let (from, to) = (now - 40 * 86_400, now + 40 * 86_400);
    let query = format!("from={from}&to={to}&granularity=month&currency=usd");
    let report = api.get_ok(&format!("/v1/reports/revenue?{query}")).await;
    let rows = report["data"].as_array().unwrap_or_else(|| panic!("{report}"));
    let figures = ["gross", "refunds", "fees", "net"]
        .map(|field| rows.iter().map(|row| i64_field(row, field)).sum::<i64>());
    assert_eq!(figures, [11_055, 10_000, 381, 674], "{report}");

    engine.stop_graceful().await;
    let said = books_balance(engine.data_dir());
    assert!(said.contains("3 charges, 1 refunds"), "{said}");
}

/// A payee whose shares are available at once, paid out by hand.
async fn paid_at_once(api: &Api) -> String {
    let body = json!({
        "name": "Amahle Zulu",
        "country": "ZA",
        "default_currency": "zar",
        "destination": {
            "type": "bank_account",
            "account_holder": "A Zulu",
            "bank_code": "250655",
            "account_number": "000123456789",
        },
        "payout_schedule": {"interval": "manual", "delay_days": 0},
    });
    str_field(api.post("/v1/payees", &body).await.ok(), "id").to_owned()
}

/// All a payee's balance holds in zar, available and pending.
async fn payee_total(api: &Api, payee: &str) -> i64 {
    let (available, pending) = api.payee_balance(payee, "zar").await;
    available + pending
}

/// A payee paid by bank account in any currency, its shares available a week after a payment.
async fn payee(api: &Api) -> String {
    let body = json!({
        "name": "Sipho Dlamini",
        "country": "ZA",
        "default_currency": "usd",
        "destination": {
            "type": "bank_account",
            "account_holder": "S Dlamini",
            "bank_code": "632005",
            "account_number": "4071553812",
        },
    });
    str_field(api.post("/v1/payees", &body).await.ok(), "id").to_owned()
}

#[tokio::test]
async fn a_split_charge_moves_the_payees_share_and_refunds_reverse_it_in_proportion() {
    let mut engine = Engine::start(Config::default().on_sled()).await;
    let api = engine.api_a();
    let payee = payee(&api).await;
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let split = |amount: i64, transfer: Value| json!({"customer": customer, "amount": amount, "currency": "usd", "transfer": transfer});

    let mut body = split(10_000, json!({"payee": payee, "amount": 7_000}));
    body["application_fee_amount"] = json!(500);
    let charge = api.post("/v1/charges", &body).await.ok().clone();
    let transfer = &charge["transfer"];
    assert_eq!(transfer["amount"], 7_000, "{charge}");
    assert_eq!(charge["application_fee_amount"], 500);
    let week = 7 * 86_400;
    let delay = i64_field(transfer, "available_on") - i64_field(&charge, "created");
    assert!((week..week + 5).contains(&delay), "a week after it succeeded: {charge}");
    assert_eq!(api.payee_balance(&payee, "usd").await, (0, 6_500), "pending for a week");
    assert_eq!(available(&api).await, vec![("usd".into(), 3_500)], "the platform keeps its part");

    let charge_id = str_field(&charge, "id");
    api.refund(charge_id, Some(5_000)).await.ok();
    assert_eq!(api.payee_balance(&payee, "usd").await, (0, 3_250), "half the net share back");
    assert_eq!(available(&api).await, vec![("usd".into(), 1_750)]);
    api.refund(charge_id, None).await.ok();
    assert_eq!(api.payee_balance(&payee, "usd").await, (0, 0), "all of it, to the cent");
    assert_eq!(available(&api).await, vec![("usd".into(), 0)]);
    let refunded = api.get_ok(&format!("/v1/charges/{charge_id}")).await;
    assert_eq!(refunded["transfer"]["amount_reversed"], 6_500, "{refunded}");

    // A third of 999, rounded down; a refund that keeps the payee's share.
    let thirds =
        api.post("/v1/charges", &split(999, json!({"payee": payee, "percent_bps": 3_333}))).await;
    let thirds = thirds.ok().clone();
    assert_eq!(thirds["transfer"]["amount"], 332, "{thirds}");
    let keep = json!({"charge": thirds["id"], "amount": 500, "reverse_transfer": false});
    api.post("/v1/refunds", &keep).await.ok();
    assert_eq!(api.payee_balance(&payee, "usd").await, (0, 332));
    assert_eq!(available(&api).await, vec![("usd".into(), 167)]);

    let seen = api.list_all(&format!("/v1/balance_transactions?payee={payee}"), "id").await;
    let seen: Vec<(&str, i64)> =
        seen.iter().map(|txn| (str_field(txn, "type"), i64_field(txn, "amount"))).collect();
    assert_eq!(
        seen,
        [
            ("transfer", 332),
            ("transfer_reversal", -3_250),
            ("transfer_reversal", -3_250),
            ("application_fee", -500),
            ("transfer", 7_000),
        ],
        "what moved the payee's balance, as the payee saw it, newest first"
    );
    let of_transfer = str_field(&charge["transfer"], "id");
    let platform_side = api.get_ok(&format!("/v1/balance_transactions?source={of_transfer}")).await;
    let amounts: Vec<i64> = platform_side["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|txn| i64_field(txn, "amount"))
        .collect();
    assert_eq!(
        amounts,
        [3_250, 3_250, 500, -7_000],
        "the same movements, as the platform saw them"
    );

    engine.stop_graceful().await;
    books_balance(engine.data_dir());
}

#[tokio::test]
async fn a_bad_split_is_refused_naming_the_field_and_charges_nothing() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let payee = payee(&api).await;
    let mpesa = json!({
        "name": "Achieng Otieno",
        "country": "KE",
        "default_currency": "kes",
        "destination": {"type": "mpesa", "phone": "0712345678"},
    });
    let mpesa = str_field(api.post("/v1/payees", &mpesa).await.ok(), "id").to_owned();
    let (customer, _) = api.customer_with_card("pm_card_visa").await;
    let charge = |transfer: Value, fee: Option<i64>| {
        let mut body = json!({"customer": customer, "amount": 1_000, "currency": "usd"});
        if !transfer.is_null() {
            body["transfer"] = transfer;
        }
        if let Some(fee) = fee {
            body["application_fee_amount"] = json!(fee);
        }
        body
    };
    let refused = [
        (charge(json!({"payee": payee, "amount": 1_001}), None), 400, "transfer.amount"),
        (charge(json!({"payee": payee, "percent_bps": 10_001}), None), 400, "transfer.percent_bps"),
        (charge(json!({"payee": payee, "amount": 100, "percent_bps": 10}), None), 400, "transfer"),
        (charge(json!({"payee": payee, "amount": 100}), Some(101)), 400, "application_fee_amount"),
        (charge(Value::Null, Some(10)), 400, "application_fee_amount"),
        (charge(json!({"payee": mpesa}), None), 400, "transfer.payee"),
        (charge(json!({"payee": "payee_01KG3ZC4D5E6F7G8H9J0K1M2N3"}), None), 404, "transfer.payee"),
    ];
    for (body, status, param) in refused {
        let answer = api.post("/v1/charges", &body).await;
        assert_eq!(answer.status, status, "{param}: {}", answer.text);
        assert_eq!(answer.body["error"]["param"], param, "{}", answer.text);
    }
    assert!(api.customer_charges(&customer).await.is_empty(), "nothing was charged");
    assert!(api.processor_charges().await.is_empty(), "the processor charged nothing");
    assert!(available(&api).await.is_empty(), "the books moved nothing");
}

#[tokio::test]
async fn kassa_export_writes_the_books_as_csv_and_parquet_without_personal_data() {
    let mut engine = Engine::start(Config::default().on_sled()).await;
    let api = engine.api_a();
    let account = str_field(&api.get_ok("/v1/account").await, "id").to_owned();
    let body = json!({"email": "thandi.mokoena@example.com", "name": "Thandi Mokoena"});
    let customer = str_field(&api.create_customer_with(&body).await, "id").to_owned();
    api.add_payment_method(&customer, "pm_card_visa").await;
    let payee = paid_at_once(&api).await;
    let mut split = charge_body(&customer, 10_000, "zar");
    split["transfer"] = json!({"payee": payee, "amount": 6_000});
    let first = api.post("/v1/charges", &split).await.ok().clone();
    api.charge_ok(&customer, 2_500, "zar").await;
    api.refund(str_field(&first, "id"), Some(1_000)).await.ok();
    api.post("/v1/payouts", &json!({"payee": payee, "amount": 3_000, "currency": "zar"}))
        .await
        .ok();
    let platform = available(&api).await;
    engine.stop_graceful().await;

    let out = tempfile::tempdir().unwrap();
    let data = engine.data_dir().to_str().unwrap().to_owned();
    let export = |format: &str| {
        kassa_command()
            .args(["export", "--account", &account, "--format", format, "--data", &data])
            .arg("--out")
            .arg(out.path())
            .output()
            .expect("run kassa export")
    };
    let done = export("csv");
    let said = String::from_utf8_lossy(&done.stdout);
    assert!(done.status.success(), "{said}{}", String::from_utf8_lossy(&done.stderr));
    let rows = |file: &str| -> Vec<csv::StringRecord> {
        let mut reader = csv::Reader::from_path(out.path().join(file)).unwrap();
        reader.records().map(Result::unwrap).collect()
    };
    let charges = rows("charges.csv");
    assert_eq!(charges.len(), 2, "{said}");
    let amounts: i64 = charges.iter().map(|row| row[2].parse::<i64>().unwrap()).sum();
    assert_eq!(amounts, 12_500);
    assert_eq!(rows("refunds.csv").len(), 1);
    let payouts = rows("payouts.csv");
    assert_eq!((&payouts[0][2], &payouts[0][4]), ("3000", "paid"));
    // The platform's balance, entry by entry.
    let held: i64 =
        rows("balance_transactions.csv").iter().map(|row| row[6].parse::<i64>().unwrap()).sum();
    assert_eq!(vec![("zar".to_owned(), held)], platform);
    assert!(files_holding(out.path(), "thandi").is_empty(), "no personal data in the export");

    // The same tables as Parquet, read back with the format's own reader: the CSV's rows, text
    // and integers typed, an empty field as no value.
    let done = export("parquet");
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    for table in ["balance_transactions", "charges", "refunds", "invoices", "payouts"] {
        let parquet = parquet_rows(&out.path().join(format!("{table}.parquet")));
        let csv: Vec<Vec<String>> = rows(&format!("{table}.csv"))
            .iter()
            .map(|row| row.iter().map(str::to_owned).collect())
            .collect();
        assert_eq!(parquet, csv, "{table}.parquet holds {table}.csv's rows");
    }
    let charges = parquet::file::reader::SerializedFileReader::new(
        std::fs::File::open(out.path().join("charges.parquet")).unwrap(),
    )
    .unwrap();
    let schema = parquet::file::reader::FileReader::metadata(&charges).file_metadata().schema();
    let amount = schema.get_fields().iter().find(|field| field.name() == "amount").unwrap();
    assert_eq!(amount.get_physical_type(), parquet::basic::Type::INT64, "amounts are integers");

    let refused = export("xlsx");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("csv or parquet"));
}

/// The journal's entries of `account`'s books, as `kassa export` writes them to CSV.
fn exported_journal(data_dir: &Path, account: &str) -> Vec<csv::StringRecord> {
    let out = tempfile::tempdir().unwrap();
    export_books(data_dir, account, "csv", out.path());
    let mut reader = csv::Reader::from_path(out.path().join("ledger_entries.csv")).unwrap();
    reader.records().map(Result::unwrap).collect()
}

/// Expected amounts left per ledger account, in the form [`journal_of`] gives them.
fn left_in(list: &[(&str, i64)]) -> Vec<(String, i64)> {
    list.iter().map(|(name, amount)| (name.to_string(), *amount)).collect()
}

/// What the journal's entries for `source` left in each ledger account they moved (debits less
/// credits), leaving out those they moved back to nothing.
fn journal_of(entries: &[csv::StringRecord], source: &str) -> Vec<(String, i64)> {
    let mut accounts: std::collections::BTreeMap<String, i64> = Default::default();
    for entry in entries.iter().filter(|entry| &entry[2] == source) {
        let amount: i64 = entry[7].parse().unwrap();
        *accounts.entry(entry[5].to_owned()).or_default() += amount;
        *accounts.entry(entry[6].to_owned()).or_default() -= amount;
    }
    accounts.into_iter().filter(|(_, left)| *left != 0).collect()
}

/// The amounts of `source`'s journal entries that debited (or credited) `account`.
fn entries_into(
    entries: &[csv::StringRecord],
    source: &str,
    side: usize,
    account: &str,
) -> Vec<i64> {
    let into = |entry: &&csv::StringRecord| &entry[2] == source && &entry[side] == account;
    entries.iter().filter(into).map(|entry| entry[7].parse().unwrap()).collect()
}

const DEBIT: usize = 5;
const CREDIT: usize = 6;

#[tokio::test]
async fn invoices_accrue_on_a_test_clock_deferred_recognized_written_off_and_recovered() {
    let mut engine = Engine::start(Config::default().on_sled()).await;
    let api = engine.api_a();
    let account = str_field(&api.get_ok("/v1/account").await, "id").to_owned();
    let clock = api.create_clock(utc(2025, 1, 15, 0, 0, 0)).await;
    // A school's year, paid up front: R1 200.00 and 15 % VAT.
    let school = api.clock_customer_with_card(&clock, "ZA", "pm_card_visa").await;
    let year = api.plan(120_000, "zar", "year").await;
    let subscription = api.subscribe_ok(&school, &year).await;
    let [paid_ahead] = api.customer_invoices(&school).await.try_into().unwrap();
    assert_eq!((&paid_ahead["status"], &paid_ahead["total"]), (&json!("paid"), &json!(138_000)));
    // A family's month, invoiced and not paid: written off, then paid after all.
    let family = api.clock_customer(&clock, "ZA").await;
    let month = api.plan(10_000, "zar", "month").await;
    let body = json!({"customer": family, "plan": month, "collection_method": "send_invoice"});
    let sent = api.subscribe(&body).await.ok().clone();
    let cancel = format!("/v1/subscriptions/{}/cancel", str_field(&sent, "id"));
    api.post(&cancel, &json!({"at_period_end": true})).await.ok();
    let [owed] = api.customer_invoices(&family).await.try_into().unwrap();
    let owed = str_field(&owed, "id").to_owned();
    api.post(&format!("/v1/invoices/{owed}/mark_uncollectible"), &json!({})).await.ok();

    api.advance_clock(&clock, utc(2025, 6, 1, 0, 0, 0)).await;
    api.add_payment_method(&family, "pm_card_visa").await;
    let recovered = api.post(&format!("/v1/invoices/{owed}/pay"), &json!({})).await;
    assert_eq!(recovered.ok()["status"], "paid");
    api.advance_clock(&clock, utc(2026, 1, 20, 0, 0, 0)).await;
    let renewed = api.subscription_invoices(str_field(&subscription, "id")).await;
    assert_eq!(renewed.len(), 2, "the year renewed on Jan 15: {renewed:#?}");
    engine.stop_graceful().await;

    let said = books_balance(engine.data_dir());
    assert!(said.contains(" 3 invoices and "), "{said}");
    let entries = exported_journal(engine.data_dir(), &account);
    // The year: owed and taxed when finalized, paid at once, its revenue deferred and then
    // recognized over the twelve months, all of it by the period's end.
    let year_invoice = str_field(&paid_ahead, "id");
    assert_eq!(
        journal_of(&entries, year_invoice),
        left_in(&[
            ("collected", 138_000),
            ("recognized_revenue", -120_000),
            ("tax_payable", -18_000)
        ])
    );
    assert_eq!(entries_into(&entries, year_invoice, CREDIT, "deferred_revenue"), [120_000]);
    let recognized = entries_into(&entries, year_invoice, CREDIT, "recognized_revenue");
    assert_eq!(recognized.len(), 13, "each month's start, and the period's end: {recognized:?}");
    assert!(recognized.contains(&5_589), "Feb 1: 17 of 365 days of R1 200.00, rounded down");
    // The month: written off as bad debt, recovered when it was paid.
    assert_eq!(
        journal_of(&entries, &owed),
        left_in(&[("collected", 11_500), ("recognized_revenue", -10_000), ("tax_payable", -1_500)])
    );
    assert_eq!(entries_into(&entries, &owed, DEBIT, "bad_debt"), [11_500]);
    assert_eq!(entries_into(&entries, &owed, CREDIT, "bad_debt"), [11_500]);
}

#[tokio::test]
async fn a_sale_accrues_its_tax_and_revenue_at_once_and_a_refund_takes_its_part_back() {
    let mut engine = Engine::start(Config::default().on_sled()).await;
    let api = engine.api_a();
    let account = str_field(&api.get_ok("/v1/account").await, "id").to_owned();
    let buyer = api.create_customer_with(&json!({"address": {"country": "ZA"}})).await;
    let buyer = str_field(&buyer, "id").to_owned();
    api.add_payment_method(&buyer, "pm_card_visa").await;
    // A single course, sold by a charge that pays no invoice: R100.00 and 15 % VAT.
    let body = json!({
        "customer": buyer,
        "currency": "zar",
        "line_items": [{"sku": "course", "quantity": 1, "unit_amount": 10_000}],
    });
    let course = api.post("/v1/charges", &body).await.ok().clone();
    let tax = i64_field(&course["breakdown"]["tax"][0], "amount");
    assert_eq!((i64_field(&course, "amount"), tax), (11_500, 1_500), "{course}");
    let course = str_field(&course, "id").to_owned();
    // An amount charged as it is: no breakdown, all of it revenue; refunded whole.
    let donation = str_field(&api.charge_ok(&buyer, 2_000, "zar").await, "id").to_owned();
    api.refund(&donation, None).await.ok();
    // A third of the course back: of its VAT, 1 500 × 7 667 ÷ 11 500 = 999.93 is kept, so 500
    // is no longer owed.
    api.refund(&course, Some(3_833)).await.ok();
    engine.stop_graceful().await;

    let said = books_balance(engine.data_dir());
    assert!(said.contains(" 2 sales matched"), "{said}");
    let entries = exported_journal(engine.data_dir(), &account);
    let kept = 11_500 - 3_833;
    // The charge's cash in the platform's balance (its refund's cash is the refund's own
    // entry), and the sale collected, taxed and earned, less what the refund took back.
    assert_eq!(
        journal_of(&entries, &course),
        left_in(&[
            ("clearing/sandbox", 11_500),
            ("collected", kept),
            ("platform", -11_500),
            ("recognized_revenue", -(kept - 1_000)),
            ("tax_payable", -1_000),
        ])
    );
    assert_eq!(entries_into(&entries, &course, CREDIT, "tax_payable"), [1_500]);
    assert_eq!(entries_into(&entries, &course, DEBIT, "tax_payable"), [500]);
    assert_eq!(
        journal_of(&entries, &donation),
        left_in(&[("clearing/sandbox", 2_000), ("platform", -2_000)]),
        "refunded whole: nothing is left of the sale"
    );
    assert_eq!(entries_into(&entries, &donation, CREDIT, "recognized_revenue"), [2_000]);
    assert_eq!(entries_into(&entries, &donation, DEBIT, "recognized_revenue"), [2_000]);
}

/// A Parquet file's rows, each field as CSV would write it (no value: empty).
fn parquet_rows(path: &Path) -> Vec<Vec<String>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    reader
        .get_row_iter(None)
        .unwrap()
        .map(|row| {
            row.unwrap()
                .get_column_iter()
                .map(|(_, field)| match field {
                    Field::Null => String::new(),
                    Field::Str(text) => text.clone(),
                    Field::Long(value) => value.to_string(),
                    other => panic!("{other:?} in {}", path.display()),
                })
                .collect()
        })
        .collect()
}
