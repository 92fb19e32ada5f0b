//! Personal data at rest, and erasure.
//!
//! Proves that a customer's email, name and phone are in no file of the data directory (sled,
//! the write-ahead log, the payload log, idempotency answers) while the API shows them; that
//! `DELETE /v1/customers/{id}` erases them (the record keeps its id and `deleted: true`), removes
//! the payment methods, cancels the subscriptions, keeps every charge, refund and invoice with
//! its amounts, answers the same when repeated, and refuses new charges, cards and updates with
//! `customer_deleted`, across a crash; that a replayed answer holding the customer shows nothing
//! of it after erasure; and that sealing on and off read the same answers, the search seeing
//! the text when it is off.
//! How: the real engine over HTTP; "in no file" is a byte search of every file under the data
//! directory after the engine stopped (`files_holding`; the run with sealing off shows that the
//! search finds stored text).

mod common;

use common::*;

const EMAIL: &str = "ada.lovelace@example.org";
const NAME: &str = "Ada Lovelace-Byron";
const PHONE: &str = "+254712345678";
const GUARDIAN: &str = "Annabella Milbanke";

fn personal() -> Value {
    json!({
        "email": EMAIL, "name": NAME, "phone": PHONE,
        "address": {"country": "KE", "region": "Nairobi", "postal_code": "00100"},
        "metadata": {"guardian": GUARDIAN},
    })
}

/// Creates the customer with all its personal data, under an Idempotency-Key.
async fn create_with_key(api: &Api, key: &str) -> Resp {
    let body = Some(to_bytes(&personal()));
    api.send(reqwest::Method::POST, "/v1/customers", body, Some(key)).await
}

fn assert_nothing_personal_on_disk(engine: &Engine) {
    for text in [EMAIL, NAME, PHONE, GUARDIAN] {
        let found = files_holding(engine.data_dir(), text);
        assert!(found.is_empty(), "{text} is on disk in {found:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_leaves_nothing_personal_and_keeps_the_books() {
    let mut engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let created_key = unique_key("create-customer");
    let created = create_with_key(&api, &created_key).await;
    let customer = created.id();
    assert_eq!(created.ok()["email"], EMAIL);
    api.add_payment_method(&customer, "pm_card_visa").await;
    let charge = api.charge_ok(&customer, 2_500, "kes").await;
    let charge_id = str_field(&charge, "id").to_owned();
    api.refund(&charge_id, Some(500)).await.ok();
    let plan = api.plan(10_000, "kes", "month").await;
    let subscription = api.subscribe_ok(&customer, &plan).await;
    let invoices_before = api.list_all(&format!("/v1/invoices?customer={customer}"), "id").await;
    let charges_before = api.customer_charges(&customer).await;
    assert_eq!(charges_before.len(), 2, "the charge and the subscription's first invoice");
    assert!(!invoices_before.is_empty());
    let found = api.get_ok(&format!("/v1/customers?email={EMAIL}")).await;
    assert_eq!(ids(found["data"].as_array().unwrap()), [customer.as_str()], "the email filter");
    // The filter is exact, and follows a change of email.
    let other = api.create_customer_with(&json!({"email": "someone.else@example.org"})).await;
    let other = str_field(&other, "id").to_owned();
    let upper = api.get_ok(&format!("/v1/customers?email={}", EMAIL.to_uppercase())).await;
    assert_eq!(upper["data"], json!([]));
    api.post(&format!("/v1/customers/{other}"), &json!({"email": "renamed@example.org"}))
        .await
        .ok();
    let old = api.get_ok("/v1/customers?email=someone.else@example.org").await;
    assert_eq!(old["data"], json!([]));
    let new = api.get_ok("/v1/customers?email=renamed@example.org").await;
    assert_eq!(ids(new["data"].as_array().unwrap()), [other.as_str()]);

    // Sealed at rest while the API shows it.
    assert_eq!(api.get_ok(&format!("/v1/customers/{customer}")).await["name"], NAME);
    assert!(engine.stop_graceful().await.success());
    assert_nothing_personal_on_disk(&engine);
    engine.launch().await;
    let api = engine.api_a();
    let shown = api.get_ok(&format!("/v1/customers/{customer}")).await;
    assert_eq!((&shown["email"], &shown["phone"]), (&json!(EMAIL), &json!(PHONE)));
    assert_eq!(shown["metadata"]["guardian"], GUARDIAN);

    // Erasure, twice.
    let path = format!("/v1/customers/{customer}");
    let erased = api.delete(&path).await;
    assert_eq!(erased.ok(), &json!({"id": customer, "object": "customer", "deleted": true}));
    assert_eq!(api.delete(&path).await.ok(), erased.ok(), "erasing again");

    let record = api.get_ok(&path).await;
    assert_eq!(record["deleted"], true);
    for field in ["email", "name", "phone", "address", "default_payment_method"] {
        assert_eq!(record[field], Value::Null, "{field}: {record}");
    }
    assert_eq!(record["metadata"], json!({}));
    assert!(api.payment_methods(&customer).await.is_empty());
    let canceled =
        api.get_ok(&format!("/v1/subscriptions/{}", str_field(&subscription, "id"))).await;
    assert_eq!(canceled["status"], "canceled");

    // The books stay.
    let books = |charges: &[Value]| -> Vec<(Value, Value, Value, Value)> {
        charges
            .iter()
            .map(|charge| {
                let field = |name: &str| charge[name].clone();
                (field("id"), field("amount"), field("amount_refunded"), field("status"))
            })
            .collect()
    };
    assert_eq!(books(&api.customer_charges(&customer).await), books(&charges_before));
    let refunded = api.get_ok(&format!("/v1/charges/{charge_id}")).await;
    assert_eq!((&refunded["amount"], &refunded["amount_refunded"]), (&json!(2_500), &json!(500)));
    let invoices_after = api.list_all(&format!("/v1/invoices?customer={customer}"), "id").await;
    let totals = |invoices: &[Value]| -> Vec<(Value, Value)> {
        invoices.iter().map(|invoice| (invoice["id"].clone(), invoice["total"].clone())).collect()
    };
    assert_eq!(totals(&invoices_after), totals(&invoices_before));

    // Nothing new for it.
    assert_error(&api.charge(&customer, 100, "kes").await, 400, "customer_deleted");
    let attach =
        api.post(&format!("{path}/payment_methods"), &json!({"token": "pm_card_visa"})).await;
    assert_error(&attach, 400, "customer_deleted");
    assert_error(&api.post(&path, &json!({"email": EMAIL})).await, 400, "customer_deleted");

    // A crash changes nothing of it, and the answer kept for the creating request shows
    // nothing of the customer any more.
    engine.restart_after_kill().await;
    let api = engine.api_a();
    assert_eq!(api.get_ok(&path).await, record);
    let replay = create_with_key(&api, &created_key).await;
    assert!(replay.is_replay(), "{}", replay.text);
    assert_eq!(replay.ok()["email"], Value::Null, "{}", replay.text);
    let by_email = api.get_ok(&format!("/v1/customers?email={EMAIL}")).await;
    assert_eq!(by_email["data"], json!([]), "an erased customer is found by its old email");
    assert!(!replay.text.contains(NAME), "{}", replay.text);
    assert_error(&api.charge(&customer, 100, "kes").await, 400, "customer_deleted");
    assert!(engine.stop_graceful().await.success());
    assert_nothing_personal_on_disk(&engine);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealing_on_and_off_read_the_same_answers() {
    let mut engine =
        Engine::start(Config::default().with_storage("seal_personal_data = false")).await;
    let api = engine.api_a();
    let customer = api.create_customer_with(&personal()).await;
    let id = str_field(&customer, "id").to_owned();
    api.add_payment_method(&id, "pm_card_visa").await;
    let path = format!("/v1/customers/{id}");
    let unsealed = api.get_ok(&path).await;
    let methods = api.payment_methods(&id).await;
    assert!(engine.stop_graceful().await.success());
    assert!(!files_holding(engine.data_dir(), EMAIL).is_empty(), "off: the text is on disk");

    // On: the same answers, and what is written from now on is sealed.
    engine.reconfigure(Config::default());
    engine.launch().await;
    let api = engine.api_a();
    assert_eq!(api.get_ok(&path).await, unsealed);
    assert_eq!(api.payment_methods(&id).await, methods);
    let second = api.create_customer_with(&json!({"email": "grace.hopper@example.org"})).await;
    let second_path = format!("/v1/customers/{}", str_field(&second, "id"));
    assert!(engine.stop_graceful().await.success());
    assert!(files_holding(engine.data_dir(), "grace.hopper@example.org").is_empty());
    engine.launch().await;
    let api = engine.api_a();
    assert_eq!(api.get_ok(&second_path).await["email"], "grace.hopper@example.org");
    assert_eq!(api.get_ok(&path).await, unsealed);
}
