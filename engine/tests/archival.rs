//! Archival (`storage.archive_after_days`) as a platform relies on it: closed invoices, charges
//! and delivered events leave the live store for the archive files and still read back by id,
//! identical but for `archived: true`; lists show live objects only; reports, `kassa
//! verify-ledger` and `kassa export` count archived objects as before; and the archive files
//! hold no customer's personal data in the clear, so an erased customer's archived events show
//! nothing of it.
//! How: the real engine over HTTP. On a test clock, archival runs as an advance passes the age
//! (no waiting); in real time, a start with `archive_after_days = 0` archives what is closed.
//! The archive files are read back (decompressed) with the engine's own reader.

mod common;

use std::time::Duration;

use common::*;

const MONTHLY: i64 = 1_000;
const EMAIL: &str = "grace.hopper@example.org";
const NAME: &str = "Grace Brewster Hopper";

fn jan_1(year: i64) -> i64 {
    utc(year, 1, 1, 0, 0, 0)
}

fn archival(days: u32) -> Config {
    Config::default().with_storage(&format!("archive_after_days = {days}"))
}

/// The object as it was before archival: `archived` is the one field that changes.
fn unarchived(mut object: Value) -> Value {
    assert_eq!(object["archived"], true, "{object}");
    object["archived"] = json!(false);
    object
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_invoices_and_charges_read_back_identical_and_count_as_before() {
    let mut engine = Engine::start(archival(60)).await;
    let api = engine.api_a();
    let clock = api.create_clock(jan_1(2027)).await;
    let plan = api.plan(MONTHLY as u64, "usd", "month").await;
    let customer = api.clock_customer_with_card(&clock, "US", "pm_card_visa").await;
    let subscription = str_field(&api.subscribe_ok(&customer, &plan).await, "id").to_owned();
    api.advance_clock(&clock, utc(2027, 2, 10, 0, 0, 0)).await;
    let cancel = format!("/v1/subscriptions/{subscription}/cancel");
    api.post(&cancel, &json!({})).await.ok();
    let refunded = api.charge_ok(&customer, 2_500, "usd").await;
    let refunded = str_field(&refunded, "id").to_owned();
    api.refund(&refunded, None).await.ok();
    let kept = str_field(&api.charge_ok(&customer, 700, "usd").await, "id").to_owned();

    let invoices = api.customer_invoices(&customer).await;
    assert_eq!(invoices.len(), 2, "January's and February's");
    assert!(
        invoices.iter().all(|invoice| invoice["status"] == "paid" && invoice["archived"] == false)
    );
    let year = format!("from={}&to={}&test_clock={clock}", jan_1(2027), jan_1(2028));
    let reports = [
        format!("/v1/reports/revenue?{year}&basis=billings"),
        format!("/v1/reports/revenue?{year}&basis=recognized"),
        format!("/v1/reports/revenue?{year}&basis=recognized&granularity=day"),
        format!("/v1/reports/subscriptions?{year}"),
    ];
    let mut before = Vec::new();
    for path in &reports {
        before.push(api.get_ok(path).await);
    }
    assert_eq!(before[0]["data"].as_array().unwrap().len(), 2, "{}", before[0]);
    let refunded_before = api.get_ok(&format!("/v1/charges/{refunded}")).await;

    // Past the age: the advance archives what closed 60 days before the clock's time.
    api.advance_clock(&clock, utc(2027, 6, 1, 0, 0, 0)).await;
    for invoice in &invoices {
        let read = api.get_ok(&format!("/v1/invoices/{}", str_field(invoice, "id"))).await;
        assert_eq!(&unarchived(read), invoice, "an archived invoice reads back identical");
    }
    let read = api.get_ok(&format!("/v1/charges/{refunded}")).await;
    assert_eq!(unarchived(read), refunded_before);
    let live = api.get_ok(&format!("/v1/charges/{kept}")).await;
    assert_eq!(live["archived"], false, "a charge with money left to refund stays live");
    assert!(api.customer_invoices(&customer).await.is_empty(), "lists show live objects only");
    let listed = ids(&api.customer_charges(&customer).await);
    assert!(listed.contains(&kept) && !listed.contains(&refunded), "{listed:?}");
    for (path, before) in reports.iter().zip(&before) {
        assert_eq!(&api.get_ok(path).await, before, "{path} is unchanged by archival");
    }
    let page = format!("/v1/subscriptions/{subscription}");
    let latest = str_field(&api.get_ok(&page).await, "latest_invoice").to_owned();
    assert_eq!(api.get_ok(&format!("/v1/invoices/{latest}")).await["archived"], true);

    // The books: still balanced, and exported with the archived objects (the tools read a sled
    // directory; on PostgreSQL the store is the database's).
    engine.stop_graceful().await;
    if engine.on_postgres() {
        return;
    }
    books_balance(engine.data_dir());
    let out = tempfile::tempdir().unwrap();
    export_books(engine.data_dir(), ACCOUNT_A, "csv", out.path());
    let column = |file: &str| -> Vec<String> {
        let mut reader = csv::Reader::from_path(out.path().join(file)).unwrap();
        reader.records().map(|row| row.unwrap()[0].to_owned()).collect()
    };
    let mut exported_invoices = column("invoices.csv");
    exported_invoices.sort();
    let mut archived_invoices = ids(&invoices);
    archived_invoices.sort();
    assert_eq!(exported_invoices, archived_invoices);
    let exported_charges = column("charges.csv");
    assert!(exported_charges.contains(&refunded) && exported_charges.contains(&kept));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_files_hold_no_personal_data_and_erasure_reaches_archived_events() {
    // The archive's blocks are files beside sled's (rows of the database on PostgreSQL).
    let mut engine = Engine::start(Config::default().on_sled()).await;
    let api = engine.api_a();
    let customer = api.create_customer_with(&json!({"email": EMAIL, "name": NAME})).await;
    let customer = str_field(&customer, "id").to_owned();
    api.add_payment_method(&customer, "pm_card_chargeDeclined").await;
    api.charge(&customer, 1_500, "zar").await;
    let failed = ids(&api.customer_charges(&customer).await).pop().unwrap();
    let visa = api.add_payment_method(&customer, "pm_card_visa").await;
    let body = json!({"customer": customer, "amount": 4_000, "currency": "zar",
        "payment_method": visa["id"]});
    let refunded = api.post("/v1/charges", &body).await.id();
    api.refund(&refunded, None).await.ok();
    let created = api.get_ok("/v1/events?direction=out&type=customer.created").await;
    let created = str_field(&created["data"][0], "id").to_owned();
    let event_before = api.get_ok(&format!("/v1/events/{created}")).await;
    assert_eq!(event_before["data"]["object"]["email"], EMAIL, "{event_before}");
    let charges_before = [
        api.get_ok(&format!("/v1/charges/{failed}")).await,
        api.get_ok(&format!("/v1/charges/{refunded}")).await,
    ];
    assert_eq!(charges_before[0]["status"], "failed");
    let today = now_secs() as i64 / 86_400 * 86_400;
    let cash = format!("/v1/reports/revenue?from={today}&to={}", today + 86_400);
    let cash_before = api.get_ok(&cash).await;

    // A start that archives everything closed.
    engine.stop_graceful().await;
    engine.reconfigure(archival(0).on_sled());
    engine.launch().await;
    let api = engine.api_a();
    let path = format!("/v1/charges/{failed}");
    wait_for("the start's archival pass", Duration::from_secs(20), || async {
        (api.get_ok(&path).await["archived"] == true).then_some(())
    })
    .await;
    for before in &charges_before {
        let read = api.get_ok(&format!("/v1/charges/{}", str_field(before, "id"))).await;
        assert_eq!(&unarchived(read), before);
    }
    let event = api.get_ok(&format!("/v1/events/{created}")).await;
    assert_eq!(unarchived(event), event_before, "the archived event opens as before");
    assert_eq!(api.get_ok(&cash).await, cash_before, "cash revenue is unchanged");
    let listed = api.get_ok("/v1/events?direction=out&type=customer.created").await;
    assert_eq!(listed["data"], json!([]), "an archived event leaves the list: {listed}");

    let records = kassa::store::archive::read_all(&engine.data_dir().join("archive")).unwrap();
    let holding = |text: &str| records.iter().filter(|record| contains(record, text)).count();
    assert!(holding(&failed) > 0, "the archive holds the charges, readable once decompressed");
    assert!(holding(&created) > 0);
    for text in [EMAIL, NAME] {
        assert_eq!(holding(text), 0, "{text} is in the archive in the clear");
    }

    // Erased: the archived event shows nothing of the customer, as a live one would.
    api.delete(&format!("/v1/customers/{customer}")).await.ok();
    let event = api.get_ok(&format!("/v1/events/{created}")).await;
    assert_eq!(event["archived"], true);
    assert_eq!(event["data"]["object"], json!({"id": customer, "erased": true}), "{event}");
    let charge = api.get_ok(&format!("/v1/charges/{refunded}")).await;
    assert_eq!(charge["amount_refunded"], 4_000, "the books stay");
    engine.stop_graceful().await;
    let records = kassa::store::archive::read_all(&engine.data_dir().join("archive")).unwrap();
    assert!(records.iter().all(|record| !contains(record, EMAIL) && !contains(record, NAME)));
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle.as_bytes())
}
