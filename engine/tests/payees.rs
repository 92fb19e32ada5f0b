//! Payees: made, read, listed and changed through the API, each account seeing only its own; a
//! bank account number shown as its last four characters only and in no file of the data
//! directory in the clear (nor the payee's name), a retry answered as the first request was,
//! and every bad field a 400 naming it that changes nothing.

mod common;

use common::*;

const ACCOUNT_NUMBER: &str = "62844719301";

fn bank_payee() -> Value {
    json!({
        "name": "Thandiwe Mokoena",
        "email": "thandi@tutors.example",
        "country": "za",
        "default_currency": "zar",
        "destination": {
            "type": "bank_account",
            "account_holder": "T Mokoena",
            "bank_code": "250655",
            "account_number": ACCOUNT_NUMBER,
        },
        "payout_schedule": {"interval": "monthly", "monthly_anchor": 31, "delay_days": 14},
        "metadata": {"tutor": "maths"},
    })
}

#[tokio::test]
async fn a_payee_is_made_read_listed_and_changed_its_account_number_shown_as_last4() {
    let mut engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let made = api.post_with_key("/v1/payees", &bank_payee(), "payee-1").await.ok().clone();
    let id = str_field(&made, "id").to_owned();
    assert!(id.starts_with("payee_"), "{made}");
    assert_eq!(made["object"], "payee");
    assert_eq!(made["country"], "ZA");
    assert_eq!(made["default_currency"], "zar");
    assert_eq!(
        made["destination"],
        json!({"type": "bank_account", "account_holder": "T Mokoena", "bank_code": "250655", "last4": "9301"})
    );
    assert_eq!(
        made["payout_schedule"],
        json!({"interval": "monthly", "weekly_anchor": null, "monthly_anchor": 31, "delay_days": 14, "minimum_amount": 0})
    );
    assert!(!made.to_string().contains(ACCOUNT_NUMBER), "the number is never shown: {made}");
    let replayed = api.post_with_key("/v1/payees", &bank_payee(), "payee-1").await;
    assert_eq!(replayed.ok(), &made, "a retry is answered as the first request was");
    assert_eq!(api.get_ok(&format!("/v1/payees/{id}")).await, made);
    assert_error(&engine.api_b().get(&format!("/v1/payees/{id}")).await, 404, "not_found");

    let phone = json!({
        "name": "Achieng Otieno",
        "country": "KE",
        "default_currency": "kes",
        "destination": {"type": "mpesa", "phone": "0712 345 678"},
    });
    let mpesa = api.post("/v1/payees", &phone).await.ok().clone();
    assert_eq!(mpesa["destination"], json!({"type": "mpesa", "phone": "254712345678"}));
    assert_eq!(mpesa["payout_schedule"]["interval"], "weekly", "the default schedule: {mpesa}");
    assert_eq!(mpesa["payout_schedule"]["weekly_anchor"], "monday");
    assert_eq!(mpesa["payout_schedule"]["delay_days"], 7);
    let listed = api.list_all("/v1/payees", "id").await;
    let ids: Vec<&str> = listed.iter().map(|payee| str_field(payee, "id")).collect();
    assert_eq!(ids, [str_field(&mpesa, "id"), id.as_str()], "newest first");
    assert!(engine.api_b().list_all("/v1/payees", "id").await.is_empty());

    let change = json!({
        "name": "Thandiwe M. Mokoena",
        "destination": {"type": "stripe", "account": "acct_1Nx2Tutor"},
        "payout_schedule": {"interval": "manual"},
    });
    let changed = api.post(&format!("/v1/payees/{id}"), &change).await.ok().clone();
    assert_eq!(changed["name"], "Thandiwe M. Mokoena");
    assert_eq!(changed["destination"], json!({"type": "stripe", "account": "acct_1Nx2Tutor"}));
    assert_eq!(changed["payout_schedule"]["interval"], "manual");
    assert_eq!(changed["email"], "thandi@tutors.example", "fields not named stay");
    assert_eq!(changed["metadata"], json!({"tutor": "maths"}));

    engine.stop_graceful().await;
    for secret in [ACCOUNT_NUMBER, "Thandiwe", "thandi@tutors.example", "712345678"] {
        assert!(
            files_holding(engine.data_dir(), secret).is_empty(),
            "{secret} is on disk in the clear"
        );
    }
}

#[tokio::test]
async fn bad_payees_are_refused_naming_the_field_and_nothing_is_kept() {
    let engine = Engine::start(Config::default()).await;
    let api = engine.api_a();
    let with = |path: &[&str], value: Value| {
        let mut body = bank_payee();
        let mut at = &mut body;
        for field in &path[..path.len() - 1] {
            at = &mut at[*field];
        }
        at[path[path.len() - 1]] = value;
        body
    };
    let refused = [
        (with(&["name"], json!("")), "name"),
        (with(&["email"], json!("not-an-email")), "email"),
        (with(&["country"], json!("ZAF")), "country"),
        (with(&["default_currency"], json!("zzz")), "default_currency"),
        (with(&["destination", "account_number"], json!("12")), "destination.account_number"),
        (with(&["destination", "bank_code"], json!("25 06")), "destination.bank_code"),
        (with(&["destination", "account_holder"], json!(" ")), "destination.account_holder"),
        (
            with(&["destination"], json!({"type": "mpesa", "phone": "+44 20 7946 0000"})),
            "destination.phone",
        ),
        // An M-Pesa destination is paid in shillings only.
        (
            with(&["destination"], json!({"type": "mpesa", "phone": "0712345678"})),
            "default_currency",
        ),
        (
            with(&["destination"], json!({"type": "stripe", "account": "cus_1"})),
            "destination.account",
        ),
        (with(&["payout_schedule", "interval"], json!("hourly")), "payout_schedule.interval"),
        (with(&["payout_schedule", "monthly_anchor"], json!(32)), "payout_schedule.monthly_anchor"),
        (with(&["payout_schedule", "delay_days"], json!(366)), "payout_schedule.delay_days"),
        (
            with(&["payout_schedule", "weekly_anchor"], json!("monday")),
            "payout_schedule.weekly_anchor",
        ),
        (with(&["payout_schedule", "minimum_amount"], json!(-1)), "payout_schedule.minimum_amount"),
        (with(&["test_clock"], json!("clock_01HZZZZZZZZZZZZZZZZZZZZZZZ")), "test_clock"),
    ];
    for (body, param) in refused {
        let answer = api.post("/v1/payees", &body).await;
        assert!(matches!(answer.status, 400 | 404), "{param}: {} {}", answer.status, answer.text);
        assert_eq!(answer.body["error"]["param"], param, "{}", answer.text);
    }
    let unknown = with(&["destination", "swift"], json!("ABSAZAJJ"));
    assert_error(&api.post("/v1/payees", &unknown).await, 400, "validation_error");
    assert!(api.list_all("/v1/payees", "id").await.is_empty(), "nothing refused was kept");

    let made = api.post("/v1/payees", &bank_payee()).await.ok().clone();
    let path = format!("/v1/payees/{}", str_field(&made, "id"));
    assert_error(&api.post(&path, &json!({"country": "KE"})).await, 400, "validation_error");
    let to_mpesa = json!({"destination": {"type": "mpesa", "phone": "0712345678"}});
    assert_error(&api.post(&path, &to_mpesa).await, 400, "validation_error");
    assert_eq!(api.get_ok(&path).await, made, "a refused change changes nothing");
}
