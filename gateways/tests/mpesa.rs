//! The M-Pesa adapter against a local Daraja (`kassa_testkit::fake_daraja`) that checks OAuth
//! Basic auth, Bearer tokens and the STK password: one OAuth call serves many pushes; the
//! password and Nairobi timestamp are what Daraja checks; phones normalise from the forms people
//! write; amounts that are not whole shillings are refused before anything is sent; a push is
//! `Pending` until settled, never pushed twice for one key, and `retrieve` asks the STK query,
//! whose answers settle a charge only when they are final (4999 "still under processing" and
//! unknown codes keep it pending);
//! callbacks parse into typed settlements (success, cancelled, unreachable, unknown shapes).

mod common;

use std::time::Duration;

use kassa_gateways::mpesa::{
    MpesaCallbackError, MpesaConfig, MpesaGateway, MpesaResult, nairobi_timestamp, normalize_phone,
    parse_callback, stk_password,
};
use kassa_gateways::{
    Attempt, AttemptKind, ChargeOutcome, ChargeRequest, Currency, DeclineCode, Gateway,
    GatewayError,
};
use kassa_testkit::fake_daraja::{
    CONSUMER_KEY, CONSUMER_SECRET, FakeDaraja, PASSKEY, REFUSED_PHONE, SHORTCODE,
};

const CALLBACK_URL: &str = "https://kassa.example/v1/webhooks/mpesa/secret-path-token";

fn config(api_base: &str) -> MpesaConfig {
    MpesaConfig {
        api_base: api_base.to_owned(),
        request_timeout: Duration::from_secs(2),
        ..MpesaConfig::new(CONSUMER_KEY, CONSUMER_SECRET, SHORTCODE, PASSKEY, CALLBACK_URL)
    }
}

fn gateway(directory: &tempfile::TempDir, api_base: &str) -> MpesaGateway {
    let trees = common::database(directory);
    MpesaGateway::open(trees, config(api_base)).unwrap()
}

fn charge(key: &str, amount_minor: i64, phone: &str) -> ChargeRequest {
    ChargeRequest {
        idempotency_key: key.into(),
        amount_minor,
        currency: Currency::KES,
        payment_method_token: phone.into(),
        description: Some("School fees term 2".into()),
        customer: None,
        off_session: false,
    }
}

#[tokio::test]
async fn one_oauth_token_serves_many_pushes() {
    let daraja = FakeDaraja::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, &daraja.api_base());
    let pushes = (0..8).map(|index| {
        let gateway = gateway.clone();
        tokio::spawn(async move {
            gateway.charge(&charge(&format!("ch_{index}"), 150_000, "0712345678")).await
        })
    });
    for push in pushes {
        let outcome = push.await.unwrap().unwrap();
        assert!(matches!(outcome, ChargeOutcome::Pending { .. }), "{outcome:?}");
    }
    assert_eq!(daraja.tokens_issued(), 1, "concurrent pushes share one token request");
    assert_eq!(daraja.pushes().len(), 8);
}

#[tokio::test]
async fn the_push_carries_daraja_fields_password_and_nairobi_timestamp() {
    let daraja = FakeDaraja::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, &daraja.api_base());
    let before = nairobi_timestamp(unix_now());
    gateway.charge(&charge("ch_fields", 150_000, "+254 712 345 678")).await.unwrap();
    let after = nairobi_timestamp(unix_now());

    let push = &daraja.pushes()[0];
    let timestamp = push["Timestamp"].as_str().unwrap();
    assert!(before.as_str() <= timestamp && timestamp <= after.as_str(), "{timestamp}");
    assert_eq!(push["Password"], stk_password(SHORTCODE, PASSKEY, timestamp));
    assert_eq!(push["BusinessShortCode"], SHORTCODE);
    assert_eq!(push["TransactionType"], "CustomerPayBillOnline");
    assert_eq!(push["Amount"], 1500, "whole shillings, as a number");
    assert_eq!(push["PartyA"], "254712345678");
    assert_eq!(push["PartyB"], SHORTCODE);
    assert_eq!(push["PhoneNumber"], "254712345678");
    assert_eq!(push["CallBackURL"], CALLBACK_URL);
    assert!(push["AccountReference"].as_str().unwrap().chars().count() <= 12);
    assert!(push["TransactionDesc"].as_str().unwrap().chars().count() <= 13);
}

#[test]
fn the_password_is_base64_of_shortcode_passkey_timestamp() {
    // Daraja's documented sandbox example.
    let password = stk_password(
        "174379",
        "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
        "20160216165627",
    );
    assert_eq!(
        password,
        "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMTYwMjE2MTY1NjI3"
    );
    // 2016-02-16 13:56:27 UTC is 16:56:27 in Nairobi.
    assert_eq!(nairobi_timestamp(1_455_630_987), "20160216165627");
}

#[test]
fn phones_normalise_from_the_forms_people_write() {
    let accepted = [
        ("0712345678", "254712345678"),
        ("0112345678", "254112345678"),
        ("712345678", "254712345678"),
        ("254712345678", "254712345678"),
        ("+254712345678", "254712345678"),
        ("+254 712 345 678", "254712345678"),
        ("0712-345-678", "254712345678"),
        ("+254112345678", "254112345678"),
    ];
    for (written, normalised) in accepted {
        assert_eq!(normalize_phone(written).unwrap(), normalised, "{written}");
    }
    let refused = [
        "",
        "0812345678",
        "071234567",
        "07123456789",
        "255712345678",
        "+0712345678",
        "2540712345678",
        "07123456ab",
        "4242424242424242",
        "++254712345678",
        "254812345678",
    ];
    for written in refused {
        let error = normalize_phone(written).unwrap_err();
        assert!(matches!(error, GatewayError::InvalidPaymentMethod(_)), "{written}");
        assert!(written.is_empty() || !error.to_string().contains(written), "not echoed");
    }
}

#[tokio::test]
async fn amounts_that_are_not_whole_shillings_are_refused_before_anything_is_sent() {
    let daraja = FakeDaraja::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, &daraja.api_base());
    for (amount_minor, currency) in
        [(150_050, Currency::KES), (0, Currency::KES), (1000, Currency::USD)]
    {
        let request = ChargeRequest { currency, ..charge("ch_cents", amount_minor, "0712345678") };
        let checked = gateway.check_charge(&request).unwrap_err();
        assert!(matches!(checked, GatewayError::InvalidRequest(_)), "{checked:?}");
        let charged = gateway.charge(&request).await.unwrap_err();
        assert!(matches!(charged, GatewayError::InvalidRequest(_)), "{charged:?}");
    }
    let bad_phone = gateway.check_charge(&charge("ch_phone", 100, "0812345678")).unwrap_err();
    assert!(matches!(bad_phone, GatewayError::InvalidPaymentMethod(_)));
    assert!(daraja.pushes().is_empty());
    assert_eq!(daraja.tokens_issued(), 0);
    assert_eq!(gateway.retrieve(AttemptKind::Charge, "ch_cents").await.unwrap(), None);
}

#[tokio::test]
async fn a_charge_is_pending_until_settled_and_one_key_pushes_once() {
    let daraja = FakeDaraja::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, &daraja.api_base());

    let outcome = gateway.charge(&charge("ch_pending", 100, "0712345678")).await.unwrap();
    let ChargeOutcome::Pending { reference } = outcome else {
        panic!("an STK Push is pending: {outcome:?}");
    };
    assert_eq!(gateway.idempotency_key_for(&reference).unwrap().as_deref(), Some("ch_pending"));

    // Asked again with the same key: no second prompt on the customer's phone.
    let again = gateway.charge(&charge("ch_pending", 100, "0712345678")).await.unwrap();
    assert_eq!(again, ChargeOutcome::Pending { reference: reference.clone() });
    assert_eq!(daraja.pushes().len(), 1);

    // No callback yet: the STK query says it is still being processed.
    let retrieved = gateway.retrieve(AttemptKind::Charge, "ch_pending").await.unwrap();
    assert_eq!(
        retrieved,
        Some(Attempt::Charge(ChargeOutcome::Pending { reference: reference.clone() }))
    );

    daraja.settle(&reference, 0);
    let retrieved = gateway.retrieve(AttemptKind::Charge, "ch_pending").await.unwrap();
    assert_eq!(
        retrieved,
        Some(Attempt::Charge(ChargeOutcome::Succeeded {
            reference,
            fee_minor: 0,
            conversion: None
        }))
    );
}

#[tokio::test]
async fn the_stk_query_maps_result_codes() {
    let daraja = FakeDaraja::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, &daraja.api_base());
    let table = [
        (1, DeclineCode::InsufficientFunds),
        (1032, DeclineCode::CustomerCancelled),
        (1037, DeclineCode::CustomerUnreachable),
        (2001, DeclineCode::IncorrectPin),
        (1019, DeclineCode::GenericDecline),
        (1001, DeclineCode::GenericDecline),
        (1025, DeclineCode::GenericDecline),
        (9999, DeclineCode::GenericDecline),
    ];
    for (code, expected) in table {
        let key = format!("ch_code_{code}");
        let ChargeOutcome::Pending { reference } =
            gateway.charge(&charge(&key, 100, "0712345678")).await.unwrap()
        else {
            panic!("pending");
        };
        daraja.settle(&reference, code);
        let Some(Attempt::Charge(ChargeOutcome::Declined { decline, message })) =
            gateway.retrieve(AttemptKind::Charge, &key).await.unwrap()
        else {
            panic!("code {code} declines");
        };
        assert_eq!(decline, expected, "code {code}");
        if code == 1019 {
            assert!(message.contains("1019"), "the raw code is kept: {message}");
        }
    }
}

#[tokio::test]
async fn a_query_answer_that_is_not_final_keeps_the_charge_pending() {
    let daraja = FakeDaraja::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, &daraja.api_base());
    let ChargeOutcome::Pending { reference } =
        gateway.charge(&charge("ch_open", 100, "0712345678")).await.unwrap()
    else {
        panic!("pending");
    };
    let pending = Some(Attempt::Charge(ChargeOutcome::Pending { reference: reference.clone() }));
    // 4999: "The transaction is still under processing" — the prompt is still open. And a
    // code this adapter does not know says nothing final either.
    for code in [4999, 4242] {
        daraja.settle(&reference, code);
        let retrieved = gateway.retrieve(AttemptKind::Charge, "ch_open").await.unwrap();
        assert_eq!(retrieved, pending, "code {code}");
    }
    // The customer then pays: the documented result settles it.
    daraja.settle(&reference, 0);
    let retrieved = gateway.retrieve(AttemptKind::Charge, "ch_open").await.unwrap();
    assert_eq!(
        retrieved,
        Some(Attempt::Charge(ChargeOutcome::Succeeded {
            reference,
            fee_minor: 0,
            conversion: None
        }))
    );
}

#[tokio::test]
async fn tokens_are_replaced_before_they_expire_and_after_a_401() {
    let daraja = FakeDaraja::start().await;
    let directory = tempfile::tempdir().unwrap();
    let trees = common::database(&directory);
    // Daraja's tokens live 3599 s; with a margin that long, every cached token is stale at once.
    let config = MpesaConfig {
        token_refresh_margin: Duration::from_secs(3599),
        ..config(&daraja.api_base())
    };
    let refreshing = MpesaGateway::open(trees, config).unwrap();
    refreshing.charge(&charge("ch_t1", 100, "0712345678")).await.unwrap();
    refreshing.charge(&charge("ch_t2", 100, "0712345678")).await.unwrap();
    assert_eq!(daraja.tokens_issued(), 2);

    // A token Daraja stops honouring early: refused with 401, replaced, pushed once.
    let directory = tempfile::tempdir().unwrap();
    let caching = gateway(&directory, &daraja.api_base());
    caching.charge(&charge("ch_t3", 100, "0712345678")).await.unwrap();
    daraja.revoke_tokens();
    let outcome = caching.charge(&charge("ch_t4", 100, "0712345678")).await.unwrap();
    assert!(matches!(outcome, ChargeOutcome::Pending { .. }), "{outcome:?}");
    assert_eq!(daraja.tokens_issued(), 4);
    assert_eq!(daraja.pushes().len(), 4);
}

#[tokio::test]
async fn a_push_whose_answer_was_lost_is_never_pushed_again() {
    let daraja = FakeDaraja::start().await;
    let directory = tempfile::tempdir().unwrap();
    let trees = common::database(&directory);
    let config =
        MpesaConfig { request_timeout: Duration::from_millis(300), ..config(&daraja.api_base()) };
    let gateway = MpesaGateway::open(trees, config).unwrap();
    daraja.stall_pushes(Some(Duration::from_secs(5)));
    let error = gateway.charge(&charge("ch_lost", 100, "0712345678")).await.unwrap_err();
    assert!(matches!(error, GatewayError::Ambiguous(_)), "{error:?}");
    daraja.stall_pushes(None);
    let again = gateway.charge(&charge("ch_lost", 100, "0712345678")).await.unwrap_err();
    assert!(matches!(again, GatewayError::Ambiguous(_)), "{again:?}");
    let retrieved = gateway.retrieve(AttemptKind::Charge, "ch_lost").await.unwrap_err();
    assert!(matches!(retrieved, GatewayError::Ambiguous(_)), "{retrieved:?}");
    assert_eq!(daraja.pushes().len(), 1, "one prompt on the customer's phone");
}

#[tokio::test]
async fn a_number_daraja_refuses_is_an_invalid_request_and_frees_the_key() {
    let daraja = FakeDaraja::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, &daraja.api_base());
    let error = gateway.charge(&charge("ch_refused_number", 100, REFUSED_PHONE)).await.unwrap_err();
    // Daraja answered and refused: nothing moved, and Daraja is up (no outage for the breaker).
    assert!(matches!(error, GatewayError::InvalidRequest(_)), "{error:?}");
    assert_eq!(gateway.retrieve(AttemptKind::Charge, "ch_refused_number").await.unwrap(), None);
    assert!(daraja.pushes().is_empty());
}

#[tokio::test]
async fn connection_refused_is_not_attempted_and_frees_the_key() {
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, &format!("http://{}", kassa_testkit::refused_address()));
    let error = gateway.charge(&charge("ch_refused", 100, "0712345678")).await.unwrap_err();
    assert!(matches!(error, GatewayError::NotAttempted(_)), "{error:?}");
    assert_eq!(gateway.retrieve(AttemptKind::Charge, "ch_refused").await.unwrap(), None);
}

#[test]
fn the_secrets_never_show_in_debug_output() {
    let shown = format!("{:?}", config("http://127.0.0.1:1"));
    for secret in [CONSUMER_KEY, CONSUMER_SECRET, PASSKEY, "secret-path-token"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

fn callback(result_code: i64, description: &str, metadata: Option<&str>) -> String {
    let metadata = metadata.map(|items| format!(r#","CallbackMetadata":{{"Item":[{items}]}}"#));
    format!(
        r#"{{"Body":{{"stkCallback":{{"MerchantRequestID":"29115-34620561-1","CheckoutRequestID":"ws_CO_191220191020363925","ResultCode":{result_code},"ResultDesc":"{description}"{}}}}}}}"#,
        metadata.unwrap_or_default()
    )
}

#[test]
fn a_success_callback_parses_into_a_settlement() {
    let body = callback(
        0,
        "The service request is processed successfully.",
        Some(
            r#"{"Name":"Amount","Value":1.00},{"Name":"MpesaReceiptNumber","Value":"NLJ7RT61SV"},{"Name":"Balance"},{"Name":"TransactionDate","Value":20191219102115},{"Name":"PhoneNumber","Value":254708374149}"#,
        ),
    );
    let settlement = parse_callback(body.as_bytes()).unwrap();
    assert_eq!(settlement.checkout_request_id, "ws_CO_191220191020363925");
    assert_eq!(settlement.merchant_request_id, "29115-34620561-1");
    assert_eq!(settlement.result, MpesaResult::Success);
    assert_eq!(settlement.receipt_number.as_deref(), Some("NLJ7RT61SV"));
    assert_eq!(settlement.amount_minor, Some(100));
    assert_eq!(settlement.phone.as_deref(), Some("254708374149"));
    assert_eq!(settlement.transaction_date.as_deref(), Some("20191219102115"));
    assert_eq!(
        settlement.outcome(),
        ChargeOutcome::Succeeded {
            reference: "ws_CO_191220191020363925".into(),
            fee_minor: 0,
            conversion: None
        }
    );
}

#[test]
fn cancel_and_timeout_callbacks_decline() {
    let cancelled =
        parse_callback(callback(1032, "Request cancelled by user", None).as_bytes()).unwrap();
    assert_eq!(cancelled.result, MpesaResult::CancelledByUser);
    assert!(matches!(
        cancelled.outcome(),
        ChargeOutcome::Declined { decline: DeclineCode::CustomerCancelled, .. }
    ));
    let unreachable =
        parse_callback(callback(1037, "DS timeout user cannot be reached", None).as_bytes())
            .unwrap();
    assert_eq!(unreachable.result, MpesaResult::Unreachable);
    assert!(matches!(
        unreachable.outcome(),
        ChargeOutcome::Declined { decline: DeclineCode::CustomerUnreachable, .. }
    ));
    let other = parse_callback(callback(1025, "An error occurred", None).as_bytes()).unwrap();
    assert_eq!((other.result, other.result_code), (MpesaResult::Other(1025), 1025));
}

#[test]
fn unknown_shapes_are_errors_not_settlements() {
    for body in [
        "",
        "not json",
        r#"{"Body":{}}"#,
        r#"{"Body":{"stkCallback":{"MerchantRequestID":"1","ResultCode":0}}}"#,
        r#"{"Body":{"stkCallback":{"MerchantRequestID":"1","CheckoutRequestID":"ws","ResultCode":"zero"}}}"#,
        r#"{"Result":{"ResultType":0,"ResultCode":0}}"#,
    ] {
        let error = parse_callback(body.as_bytes()).unwrap_err();
        assert!(matches!(error, MpesaCallbackError::Shape(_)), "{body}: {error:?}");
    }
    // A "success" without its receipt is not trusted as one.
    let no_receipt = callback(0, "ok", Some(r#"{"Name":"Amount","Value":1}"#));
    assert_eq!(parse_callback(no_receipt.as_bytes()), Err(MpesaCallbackError::MissingReceipt));
}

fn unix_now() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    i64::try_from(since_epoch.as_secs()).unwrap()
}
