//! The Stripe adapter against a local Stripe (`kassa_testkit::fake_stripe`) that speaks Stripe's
//! wire format: every decline code maps onto Kassa's, 3-D Secure becomes `RequiresAction` with
//! what the front end needs, 429s are retried under the same Idempotency-Key (and a refusal of a
//! retry, after an attempt that may have reached Stripe, is ambiguous), a timeout after
//! Stripe charged is reported as ambiguous and `retrieve` then finds that one charge (no second
//! PaymentIntent) — a re-send carries the return_url the charge was made with, and one refused
//! with a 401/403/404 settles nothing, only a 400/402 about the request itself does —, a refused connection is `NotAttempted`, a refused customer create
//! fails the charge before it is sent, a PaymentMethod is attached to the Stripe customer once
//! before its first charge (Stripe refuses an unattached one the second time), and the secret key
//! never shows; amounts cross to Stripe's unit for the currency (ISK in hundredths, MGA in whole
//! ariary) and ones Stripe cannot take are refused before anything is sent.

mod common;

use std::time::Duration;

use kassa_gateways::stripe::{StripeConfig, StripeGateway};
use kassa_gateways::{
    Attempt, AttemptKind, ChargeOutcome, ChargeRequest, Currency, CustomerRef, DeclineCode,
    Gateway, GatewayError, RefundOutcome, RefundRequest,
};
use kassa_testkit::fake_stripe::{FakeStripe, SECRET_KEY, fee_of};

fn config(api_base: &str) -> StripeConfig {
    StripeConfig {
        api_base: api_base.to_owned(),
        attempt_timeout: Duration::from_millis(500),
        attempts_max: 3,
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
        ..StripeConfig::new(SECRET_KEY)
    }
}

fn gateway(directory: &tempfile::TempDir, config: StripeConfig) -> StripeGateway {
    let trees = common::database(directory);
    StripeGateway::open(trees, config).unwrap()
}

fn charge(key: &str, token: &str) -> ChargeRequest {
    ChargeRequest {
        idempotency_key: key.into(),
        amount_minor: 2500,
        currency: Currency::USD,
        payment_method_token: token.into(),
        description: Some("course fee".into()),
        customer: None,
        off_session: false,
    }
}

#[tokio::test]
async fn a_charge_is_one_confirmed_payment_intent_keyed_by_the_charge_id() {
    let stripe = FakeStripe::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, config(&stripe.api_base()));

    let outcome = gateway.charge(&charge("ch_ok", "pm_card_visa")).await.unwrap();
    let ChargeOutcome::Succeeded { reference, fee_minor, conversion: None } = outcome else {
        panic!("pm_card_visa succeeds: {outcome:?}");
    };
    assert!(reference.starts_with("pi_"));
    assert_eq!(fee_minor, fee_of(2500), "the fee from the charge's balance transaction");
    let seen = stripe.seen();
    let create = seen.iter().find(|request| request.path == "/v1/payment_intents").unwrap();
    assert_eq!(create.idempotency_key.as_deref(), Some("ch_ok"));
    assert_eq!(create.form["amount"], "2500");
    assert_eq!(create.form["currency"], "usd");
    assert_eq!(create.form["confirm"], "true");
    assert_eq!(create.form["payment_method"], "pm_card_visa");
    assert_eq!(create.form["metadata[kassa_idempotency_key]"], "ch_ok");
    assert_eq!(create.form["expand[0]"], "latest_charge.balance_transaction");
    // No return_url configured: Stripe is told no redirect may be needed (3-D Secure then
    // finishes through stripe.js), or it would refuse the server-side confirm.
    assert_eq!(create.form["automatic_payment_methods[enabled]"], "true");
    assert_eq!(create.form["automatic_payment_methods[allow_redirects]"], "never");

    // Charging again with the same key is Stripe's idempotent replay, not a second intent.
    let again = gateway.charge(&charge("ch_ok", "pm_card_visa")).await.unwrap();
    assert_eq!(again, ChargeOutcome::Succeeded { reference, fee_minor, conversion: None });
    assert_eq!(stripe.intents_created(), 1);
}

/// A renewal is made without the customer: Stripe is told so (`off_session=true`), and an
/// on-session charge says nothing of it. A re-send after a lost answer is the same request.
#[tokio::test]
async fn an_off_session_charge_is_sent_as_one() {
    let stripe = FakeStripe::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, config(&stripe.api_base()));
    let renewal = ChargeRequest { off_session: true, ..charge("ch_renewal", "pm_card_visa") };
    gateway.charge(&renewal).await.unwrap();
    gateway.charge(&charge("ch_on_session", "pm_card_visa")).await.unwrap();

    let seen = stripe.seen();
    let form_of = |key: &str| {
        let create = seen
            .iter()
            .find(|request| {
                request.path == "/v1/payment_intents"
                    && request.idempotency_key.as_deref() == Some(key)
            })
            .unwrap_or_else(|| panic!("no create for {key}: {seen:?}"));
        create.form.clone()
    };
    assert_eq!(form_of("ch_renewal").get("off_session").map(String::as_str), Some("true"));
    assert_eq!(form_of("ch_on_session").get("off_session"), None);

    gateway.charge(&renewal).await.unwrap();
    assert_eq!(stripe.intents_created(), 2, "the re-send was Stripe's idempotent replay");
}

#[tokio::test]
async fn every_decline_code_maps_onto_kassas() {
    let stripe = FakeStripe::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, config(&stripe.api_base()));
    let table = [
        ("pm_card_chargeDeclined", DeclineCode::GenericDecline),
        ("pm_card_chargeDeclinedInsufficientFunds", DeclineCode::InsufficientFunds),
        ("pm_card_chargeDeclinedExpiredCard", DeclineCode::ExpiredCard),
        ("pm_card_chargeDeclinedIncorrectCvc", DeclineCode::IncorrectCvc),
        ("pm_card_chargeDeclinedProcessingError", DeclineCode::ProcessingError),
        ("pm_card_chargeDeclinedLostCard", DeclineCode::LostCard),
        ("pm_card_chargeDeclinedStolenCard", DeclineCode::StolenCard),
        ("pm_card_chargeDeclinedFraudulent", DeclineCode::Fraudulent),
    ];
    for (index, (token, expected)) in table.into_iter().enumerate() {
        let key = format!("ch_decline_{index}");
        let outcome = gateway.charge(&charge(&key, token)).await.unwrap();
        let ChargeOutcome::Declined { decline, message } = &outcome else {
            panic!("{token} declines: {outcome:?}");
        };
        assert_eq!(*decline, expected, "{token}");
        assert!(!message.is_empty());
        // A decline is final and `retrieve` says so too.
        let retrieved = gateway.retrieve(AttemptKind::Charge, &key).await.unwrap();
        assert_eq!(retrieved, Some(Attempt::Charge(outcome.clone())), "{token}");
    }
}

#[tokio::test]
async fn three_d_secure_requires_action_and_retrieve_sees_it_finished() {
    let stripe = FakeStripe::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, config(&stripe.api_base()));

    let outcome = gateway.charge(&charge("ch_3ds", "pm_card_threeDSecure2Required")).await.unwrap();
    let ChargeOutcome::RequiresAction { reference, next_action } = outcome else {
        panic!("3-D Secure card requires action: {outcome:?}");
    };
    assert_eq!(next_action.kind, "use_stripe_sdk");
    let client_secret = next_action.client_secret.as_ref().expect("a client secret");
    assert!(client_secret.expose().starts_with(&format!("{reference}_secret_")));
    assert!(!format!("{next_action:?}").contains("_secret_"), "the client secret is not logged");

    stripe.complete_authentication(&reference);
    let retrieved = gateway.retrieve(AttemptKind::Charge, "ch_3ds").await.unwrap();
    let fee_minor = fee_of(2500);
    let settled = ChargeOutcome::Succeeded { reference, fee_minor, conversion: None };
    assert_eq!(retrieved, Some(Attempt::Charge(settled)), "the fee once authenticated");
}

#[tokio::test]
async fn rate_limits_are_retried_under_the_same_idempotency_key() {
    let stripe = FakeStripe::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, config(&stripe.api_base()));

    stripe.fail_next(2, 429);
    let outcome = gateway.charge(&charge("ch_429", "pm_card_visa")).await.unwrap();
    assert!(matches!(outcome, ChargeOutcome::Succeeded { .. }), "{outcome:?}");
    let creates: Vec<_> = stripe
        .seen()
        .into_iter()
        .filter(|request| request.path == "/v1/payment_intents")
        .map(|request| request.idempotency_key)
        .collect();
    assert_eq!(creates, vec![Some("ch_429".to_owned()); 3]);
    assert_eq!(stripe.intents_created(), 1);
}

#[tokio::test]
async fn rate_limits_past_the_attempt_bound_prove_nothing_was_charged() {
    let stripe = FakeStripe::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, config(&stripe.api_base()));

    stripe.fail_next(3, 429);
    let error = gateway.charge(&charge("ch_429s", "pm_card_visa")).await.unwrap_err();
    assert!(matches!(error, GatewayError::NotAttempted(_)), "{error:?}");
    assert_eq!(stripe.intents_created(), 0);
}

#[tokio::test]
async fn server_errors_past_the_attempt_bound_are_ambiguous() {
    let stripe = FakeStripe::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, config(&stripe.api_base()));

    stripe.fail_next(3, 500);
    let error = gateway.charge(&charge("ch_500", "pm_card_visa")).await.unwrap_err();
    assert!(matches!(error, GatewayError::Ambiguous(_)), "{error:?}");
    // Stripe is back: retrieve re-sends the same request under the same key and settles it.
    let retrieved = gateway.retrieve(AttemptKind::Charge, "ch_500").await.unwrap();
    assert!(matches!(retrieved, Some(Attempt::Charge(ChargeOutcome::Succeeded { .. }))));
    assert_eq!(stripe.intents_created(), 1);
}

#[tokio::test]
async fn a_refusal_after_an_attempt_that_may_have_landed_is_ambiguous() {
    let stripe = FakeStripe::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, config(&stripe.api_base()));

    // Attempt 1 gets a 500 (Stripe may have acted), attempt 2 a 400: the 400 speaks only for
    // attempt 2, so the charge is unknown — not "never sent", which would let the router charge
    // it at another gateway.
    stripe.fail_next(1, 500);
    stripe.fail_next(1, 400);
    let error = gateway.charge(&charge("ch_500_then_400", "pm_card_visa")).await.unwrap_err();
    assert!(matches!(error, GatewayError::Ambiguous(_)), "{error:?}");
    // A timeout, then a 400: the same.
    let config =
        StripeConfig { attempt_timeout: Duration::from_millis(200), ..config(&stripe.api_base()) };
    let directory = tempfile::tempdir().unwrap();
    let timing_out = self::gateway(&directory, config);
    stripe.stall_creates(Some(Duration::from_secs(5)));
    let request = charge("ch_timeout_then_400", "pm_card_visa");
    let refuse_the_retry = async {
        // Once Stripe has carried out attempt 1 (its answer is stalled), refuse attempt 2.
        while stripe.intents_created() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stripe.stall_creates(None);
        stripe.fail_next(1, 400);
    };
    let (stalled, ()) = tokio::join!(timing_out.charge(&request), refuse_the_retry);
    let error = stalled.unwrap_err();
    assert!(matches!(error, GatewayError::Ambiguous(_)), "{error:?}");
    assert_eq!(stripe.intents_created(), 1, "attempt 1 did charge");

    // A decline after a 500 is Stripe's answer under the key all the same.
    stripe.fail_next(1, 500);
    let declined = gateway.charge(&charge("ch_500_then_decline", "pm_card_chargeDeclined")).await;
    assert!(matches!(declined, Ok(ChargeOutcome::Declined { .. })), "{declined:?}");
}

#[tokio::test]
async fn a_timeout_after_stripe_charged_is_ambiguous_and_retrieve_finds_the_one_charge() {
    let stripe = FakeStripe::start().await;
    let directory = tempfile::tempdir().unwrap();
    let config =
        StripeConfig { attempt_timeout: Duration::from_millis(200), ..config(&stripe.api_base()) };
    let gateway = gateway(&directory, config);

    stripe.stall_creates(Some(Duration::from_secs(5)));
    let error = gateway.charge(&charge("ch_timeout", "pm_card_visa")).await.unwrap_err();
    assert!(matches!(error, GatewayError::Ambiguous(_)), "{error:?}");
    assert_eq!(stripe.intents_created(), 1, "Stripe charged before the answer was lost");

    stripe.stall_creates(None);
    let retrieved = gateway.retrieve(AttemptKind::Charge, "ch_timeout").await.unwrap();
    let Some(Attempt::Charge(ChargeOutcome::Succeeded { reference, .. })) = retrieved else {
        panic!("retrieve finds the charge: {retrieved:?}");
    };
    assert!(reference.starts_with("pi_"));
    assert_eq!(stripe.intents_created(), 1, "no second PaymentIntent");
    let keys: Vec<_> = stripe
        .seen()
        .into_iter()
        .filter(|request| request.method == "POST" && request.path == "/v1/payment_intents")
        .map(|request| request.idempotency_key.unwrap())
        .collect();
    assert!(keys.iter().all(|key| key == "ch_timeout"), "{keys:?}");
}

#[tokio::test]
async fn a_replay_sends_the_return_url_the_charge_was_made_with() {
    let stripe = FakeStripe::start().await;
    let directory = tempfile::tempdir().unwrap();
    let returning_to = |url: &str| StripeConfig {
        return_url: Some(url.to_owned()),
        attempt_timeout: Duration::from_millis(200),
        attempts_max: 1,
        ..config(&stripe.api_base())
    };
    let first = gateway(&directory, returning_to("https://school.example/paid"));
    stripe.stall_creates(Some(Duration::from_secs(5)));
    let error = first.charge(&charge("ch_return", "pm_card_visa")).await.unwrap_err();
    assert!(matches!(error, GatewayError::Ambiguous(_)), "{error:?}");
    stripe.stall_creates(None);
    drop(first);

    // The operator changed the return_url since; the re-send is still the first request, so
    // Stripe answers it with the charge it made (another body would be refused for the key).
    let later = gateway(&directory, returning_to("https://school.example/v2/paid"));
    let retrieved = later.retrieve(AttemptKind::Charge, "ch_return").await.unwrap();
    assert!(matches!(retrieved, Some(Attempt::Charge(ChargeOutcome::Succeeded { .. }))));
    assert_eq!(stripe.intents_created(), 1);
    let sent: Vec<_> = stripe
        .seen()
        .into_iter()
        .filter(|seen| seen.method == "POST" && seen.path == "/v1/payment_intents")
        .map(|seen| seen.form.get("return_url").cloned())
        .collect();
    assert_eq!(sent, vec![Some("https://school.example/paid".to_owned()); 2]);
}

#[tokio::test]
async fn once_stripe_forgot_the_key_retrieve_searches_by_metadata() {
    let stripe = FakeStripe::start().await;
    let directory = tempfile::tempdir().unwrap();
    let config = StripeConfig {
        attempt_timeout: Duration::from_millis(200),
        attempts_max: 1,
        replay_window: Duration::ZERO,
        ..config(&stripe.api_base())
    };
    let gateway = gateway(&directory, config);

    stripe.stall_creates(Some(Duration::from_secs(5)));
    let error = gateway.charge(&charge("ch_old", "pm_card_visa")).await.unwrap_err();
    assert!(matches!(error, GatewayError::Ambiguous(_)), "{error:?}");
    stripe.stall_creates(None);
    let retrieved = gateway.retrieve(AttemptKind::Charge, "ch_old").await.unwrap();
    assert!(matches!(retrieved, Some(Attempt::Charge(ChargeOutcome::Succeeded { .. }))));
    let seen = stripe.seen();
    assert!(seen.iter().any(|request| request.path == "/v1/payment_intents/search"));
    assert_eq!(seen.iter().filter(|request| request.method == "POST").count(), 1, "no re-send");

    // A create Stripe never carried out (500s answered before acting) is not found: final.
    stripe.fail_next(1, 500);
    let error = gateway.charge(&charge("ch_lost", "pm_card_visa")).await.unwrap_err();
    assert!(matches!(error, GatewayError::Ambiguous(_)), "{error:?}");
    assert_eq!(gateway.retrieve(AttemptKind::Charge, "ch_lost").await.unwrap(), None);
    assert_eq!(stripe.intents_created(), 1);
}

#[tokio::test]
async fn a_refund_whose_answer_was_lost_is_found_by_retrieve() {
    let stripe = FakeStripe::start().await;
    for (window, key) in [
        (StripeConfig::new(SECRET_KEY).replay_window, "re_replayed"),
        (Duration::ZERO, "re_listed"),
    ] {
        let config = StripeConfig {
            attempt_timeout: Duration::from_millis(200),
            attempts_max: 1,
            replay_window: window,
            ..config(&stripe.api_base())
        };
        let gateway = gateway(&tempfile::tempdir().unwrap(), config);
        let ChargeOutcome::Succeeded { reference, .. } =
            gateway.charge(&charge(&format!("ch_for_{key}"), "pm_card_visa")).await.unwrap()
        else {
            panic!("charge succeeds");
        };
        stripe.stall_creates(Some(Duration::from_secs(5)));
        let request = RefundRequest {
            idempotency_key: key.into(),
            account: "acct_test".into(),
            charge_reference: reference,
            amount_minor: 700,
            currency: Currency::USD,
        };
        let error = gateway.refund(&request).await.unwrap_err();
        assert!(matches!(error, GatewayError::Ambiguous(_)), "{key}: {error:?}");
        stripe.stall_creates(None);
        let retrieved = gateway.retrieve(AttemptKind::Refund, key).await.unwrap();
        assert!(
            matches!(retrieved, Some(Attempt::Refund(RefundOutcome::Succeeded { .. }))),
            "{key}: {retrieved:?}"
        );
    }
    assert_eq!(stripe.refunds_created(), 2, "one refund per key, none re-made");
}

#[tokio::test]
async fn a_replay_refused_without_being_looked_at_settles_nothing() {
    let stripe = FakeStripe::start().await;
    let directory = tempfile::tempdir().unwrap();
    let config = StripeConfig {
        attempt_timeout: Duration::from_millis(200),
        attempts_max: 1,
        ..config(&stripe.api_base())
    };
    let gateway = gateway(&directory, config);
    // A charge and a refund that Stripe carried out, whose answers were lost.
    let ChargeOutcome::Succeeded { reference, .. } =
        gateway.charge(&charge("ch_paid", "pm_card_visa")).await.unwrap()
    else {
        panic!("charge succeeds");
    };
    stripe.stall_creates(Some(Duration::from_secs(5)));
    let error = gateway.charge(&charge("ch_lost_answer", "pm_card_visa")).await.unwrap_err();
    assert!(matches!(error, GatewayError::Ambiguous(_)), "{error:?}");
    let refund = RefundRequest {
        idempotency_key: "re_lost_answer".into(),
        account: "acct_test".into(),
        charge_reference: reference,
        amount_minor: 500,
        currency: Currency::USD,
    };
    let error = gateway.refund(&refund).await.unwrap_err();
    assert!(matches!(error, GatewayError::Ambiguous(_)), "{error:?}");
    stripe.stall_creates(None);
    assert_eq!((stripe.intents_created(), stripe.refunds_created()), (2, 1));

    // The re-sends are refused with invalid_request_errors that are not about them: a rotated
    // key (401), a restricted key (403), a wrong URL (404). None of that says "never charged".
    for status in [401, 403, 404] {
        stripe.fail_next(1, status);
        let error = gateway.retrieve(AttemptKind::Charge, "ch_lost_answer").await.unwrap_err();
        assert!(matches!(error, GatewayError::Ambiguous(_)), "{status}: {error:?}");
        stripe.fail_next(1, status);
        let error = gateway.retrieve(AttemptKind::Refund, "re_lost_answer").await.unwrap_err();
        assert!(matches!(error, GatewayError::Ambiguous(_)), "{status}: {error:?}");
    }
    // Stripe answering again: the replays find the charge and the refund it made.
    let charged = gateway.retrieve(AttemptKind::Charge, "ch_lost_answer").await.unwrap();
    assert!(matches!(charged, Some(Attempt::Charge(ChargeOutcome::Succeeded { .. }))));
    let refunded = gateway.retrieve(AttemptKind::Refund, "re_lost_answer").await.unwrap();
    assert!(matches!(refunded, Some(Attempt::Refund(RefundOutcome::Succeeded { .. }))));
    assert_eq!((stripe.intents_created(), stripe.refunds_created()), (2, 1));
}

#[tokio::test]
async fn a_key_never_sent_is_final_none() {
    let stripe = FakeStripe::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, config(&stripe.api_base()));
    assert_eq!(gateway.retrieve(AttemptKind::Charge, "ch_never").await.unwrap(), None);
    assert_eq!(gateway.retrieve(AttemptKind::Refund, "re_never").await.unwrap(), None);
    assert!(stripe.seen().is_empty(), "nothing to ask Stripe about");
}

#[tokio::test]
async fn connection_refused_is_not_attempted() {
    let directory = tempfile::tempdir().unwrap();
    let address = kassa_testkit::refused_address();
    let gateway = gateway(&directory, config(&format!("http://{address}")));
    let error = gateway.charge(&charge("ch_refused", "pm_card_visa")).await.unwrap_err();
    assert!(matches!(error, GatewayError::NotAttempted(_)), "{error:?}");
    let error = gateway.describe_payment_method("pm_card_visa").await.unwrap_err();
    assert!(matches!(error, GatewayError::NotAttempted(_)), "{error:?}");
}

#[tokio::test]
async fn refunds_partial_then_full_each_under_their_own_key() {
    let stripe = FakeStripe::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, config(&stripe.api_base()));
    let ChargeOutcome::Succeeded { reference, .. } =
        gateway.charge(&charge("ch_refund", "pm_card_visa")).await.unwrap()
    else {
        panic!("charge succeeds");
    };
    let refund = |key: &str, amount_minor| RefundRequest {
        idempotency_key: key.into(),
        account: "acct_test".into(),
        charge_reference: reference.clone(),
        amount_minor,
        currency: Currency::USD,
    };

    let partial = gateway.refund(&refund("re_1", 1000)).await.unwrap();
    assert!(matches!(partial, RefundOutcome::Succeeded { .. }), "{partial:?}");
    let rest = gateway.refund(&refund("re_2", 1500)).await.unwrap();
    assert!(matches!(rest, RefundOutcome::Succeeded { .. }), "{rest:?}");
    let too_much = gateway.refund(&refund("re_3", 1)).await.unwrap();
    assert!(matches!(too_much, RefundOutcome::Failed { .. }), "{too_much:?}");

    let refund_keys: Vec<_> = stripe
        .seen()
        .into_iter()
        .filter(|request| request.path == "/v1/refunds")
        .map(|request| request.idempotency_key.unwrap())
        .collect();
    assert_eq!(refund_keys, ["re_1", "re_2", "re_3"]);
    let retrieved = gateway.retrieve(AttemptKind::Refund, "re_1").await.unwrap();
    assert_eq!(retrieved, Some(Attempt::Refund(partial)));
}

#[tokio::test]
async fn one_stripe_customer_per_kassa_customer() {
    let stripe = FakeStripe::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, config(&stripe.api_base()));
    let customer = CustomerRef {
        id: "acct_1/cus_1".into(),
        email: Some("pupil@example.com".into()),
        name: None,
    };
    for key in ["ch_c1", "ch_c2", "ch_c3"] {
        let request =
            ChargeRequest { customer: Some(customer.clone()), ..charge(key, "pm_card_visa") };
        gateway.charge(&request).await.unwrap();
    }
    assert_eq!(stripe.customers_created(), 1);
    let seen = stripe.seen();
    let creates: Vec<_> =
        seen.iter().filter(|request| request.path == "/v1/payment_intents").collect();
    let stripe_customer = &creates[0].form["customer"];
    assert!(stripe_customer.starts_with("cus_"));
    assert!(creates.iter().all(|request| &request.form["customer"] == stripe_customer));
    let customer_create = seen.iter().find(|request| request.path == "/v1/customers").unwrap();
    assert_eq!(customer_create.form["metadata[kassa_customer]"], "acct_1/cus_1");
    assert_eq!(customer_create.idempotency_key.as_deref(), Some("kassa_customer_acct_1/cus_1"));

    // Remembered on disk: a restarted adapter asks Stripe for no new customer.
    drop(gateway);
    let reopened = self::gateway(&directory, config(&stripe.api_base()));
    let request = ChargeRequest { customer: Some(customer), ..charge("ch_c4", "pm_card_visa") };
    reopened.charge(&request).await.unwrap();
    assert_eq!(stripe.customers_created(), 1);
}

#[tokio::test]
async fn a_refused_customer_create_fails_the_charge_before_it_is_sent() {
    let stripe = FakeStripe::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, config(&stripe.api_base()));
    let customer = CustomerRef { id: "acct_1/cus_refused".into(), email: None, name: None };
    let request =
        ChargeRequest { customer: Some(customer), ..charge("ch_no_customer", "pm_card_visa") };

    // Stripe answers the customer create with a 400: no customer, and no charge was sent.
    stripe.fail_next(1, 400);
    let error = gateway.charge(&request).await.unwrap_err();
    assert!(matches!(error, GatewayError::InvalidRequest(_)), "{error:?}");
    assert_eq!(stripe.intents_created(), 0);
    assert_eq!(gateway.retrieve(AttemptKind::Charge, "ch_no_customer").await.unwrap(), None);
    // A 401 (a revoked key) refuses it the same way.
    stripe.fail_next(1, 401);
    let error = gateway.charge(&request).await.unwrap_err();
    assert!(matches!(error, GatewayError::InvalidRequest(_)), "{error:?}");
    assert_eq!(stripe.customers_created(), 0);
}

#[tokio::test]
async fn a_payment_method_is_attached_to_the_stripe_customer_once_before_its_first_charge() {
    let stripe = FakeStripe::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, config(&stripe.api_base()));
    let customer = CustomerRef { id: "acct_1/cus_saved_card".into(), email: None, name: None };
    let with_card = |key: &str, token: &str| ChargeRequest {
        customer: Some(customer.clone()),
        ..charge(key, token)
    };

    // A saved card charged again and again: Stripe refuses a second PaymentIntent with a
    // PaymentMethod not attached to the customer, so it is attached before the first one.
    for key in ["ch_saved_1", "ch_saved_2", "ch_saved_3"] {
        let outcome = gateway.charge(&with_card(key, "pm_card_visa")).await.unwrap();
        assert!(matches!(outcome, ChargeOutcome::Succeeded { .. }), "{key}: {outcome:?}");
    }
    gateway.charge(&with_card("ch_other_card", "pm_card_mastercard")).await.unwrap();
    let seen = stripe.seen();
    let stripe_customer = seen
        .iter()
        .find(|request| request.path == "/v1/payment_intents")
        .map(|request| request.form["customer"].clone())
        .unwrap();
    let attaches: Vec<_> = seen
        .iter()
        .filter(|request| request.path.ends_with("/attach"))
        .map(|request| (request.path.as_str(), request.form["customer"].as_str()))
        .collect();
    assert_eq!(
        attaches,
        [
            ("/v1/payment_methods/pm_card_visa/attach", stripe_customer.as_str()),
            ("/v1/payment_methods/pm_card_mastercard/attach", stripe_customer.as_str()),
        ],
        "once per payment method"
    );
    let first_attach = seen.iter().position(|request| request.path.ends_with("/attach"));
    let first_intent = seen.iter().position(|request| request.path == "/v1/payment_intents");
    assert!(first_attach < first_intent, "attached before it is charged");
    assert!(stripe.is_attached("pm_card_visa", &stripe_customer));

    // Remembered on disk: a restarted adapter charges without attaching again.
    drop(gateway);
    let reopened = self::gateway(&directory, config(&stripe.api_base()));
    reopened.charge(&with_card("ch_saved_4", "pm_card_visa")).await.unwrap();
    let attaches = stripe.seen().iter().filter(|request| request.path.ends_with("/attach")).count();
    assert_eq!(attaches, 2);

    // A PaymentMethod Stripe does not know is the client's bad token, and nothing is charged.
    let unknown = reopened.charge(&with_card("ch_unknown_pm", "pm_made_up")).await.unwrap_err();
    assert!(matches!(unknown, GatewayError::InvalidPaymentMethod(_)), "{unknown:?}");
    assert_eq!(stripe.intents_created(), 5);
}

#[tokio::test]
async fn payment_method_display_fields_come_from_stripe() {
    let stripe = FakeStripe::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, config(&stripe.api_base()));
    let details = gateway.describe_payment_method("pm_card_mastercard").await.unwrap();
    let card = details.card.expect("a card");
    assert_eq!((card.brand.as_str(), card.last4.as_str()), ("mastercard", "4444"));
    assert_eq!((card.exp_month, card.exp_year), (12, 2034));

    let unknown = gateway.describe_payment_method("pm_made_up").await.unwrap_err();
    assert!(matches!(unknown, GatewayError::InvalidPaymentMethod(_)), "{unknown:?}");
    let card_number = gateway.describe_payment_method("4242424242424242").await.unwrap_err();
    assert!(matches!(card_number, GatewayError::InvalidPaymentMethod(_)));
    assert!(!card_number.to_string().contains("4242424242424242"));
    assert!(
        stripe.seen().iter().all(|request| !request.path.contains("4242424242424242")),
        "a card number never goes to Stripe"
    );
}

#[tokio::test]
async fn the_secret_key_never_shows_in_debug_output() {
    let stripe = FakeStripe::start().await;
    let shown = format!("{:?}", config(&stripe.api_base()));
    assert!(!shown.contains(SECRET_KEY), "{shown}");
    // A wrong key is Stripe's 401: refused, nothing charged, and the key is not in the error.
    let directory = tempfile::tempdir().unwrap();
    let wrong = StripeConfig { secret_key: "sk_test_wrong".into(), ..config(&stripe.api_base()) };
    let error =
        gateway(&directory, wrong).charge(&charge("ch_401", "pm_card_visa")).await.unwrap_err();
    assert!(matches!(error, GatewayError::InvalidRequest(_)), "{error:?}");
    assert!(!error.to_string().contains("sk_test_wrong"));
}

/// The `amount` of each PaymentIntent create and Refund create, in order, as Stripe saw it.
fn sent_amounts(stripe: &FakeStripe, path: &str) -> Vec<(String, String)> {
    stripe
        .seen()
        .into_iter()
        .filter(|seen| seen.method == "POST" && seen.path == path)
        .map(|seen| {
            (seen.form["amount"].clone(), seen.form.get("currency").cloned().unwrap_or_default())
        })
        .collect()
}

/// Kassa counts ISK in krónur (ISO 4217 exponent 0) and MGA in hundredths; Stripe counts ISK in
/// hundredths and MGA in whole ariary. 1000 kr goes out as 100000 and its refund of 300 kr as
/// 30000; 15.00 Ar as 15; KWD as it is. An amount Stripe cannot take exactly (a KWD amount whose
/// last decimal is not 0, a fraction of an ariary, a currency Stripe does not list) is refused
/// as invalid before anything is recorded or sent, so `retrieve` finds nothing under its key.
#[tokio::test]
async fn amounts_cross_to_stripes_unit_and_ones_it_cannot_take_are_refused_before_sending() {
    let stripe = FakeStripe::start().await;
    let directory = tempfile::tempdir().unwrap();
    let gateway = gateway(&directory, config(&stripe.api_base()));
    let in_currency = |key: &str, amount_minor, currency| ChargeRequest {
        amount_minor,
        currency,
        ..charge(key, "pm_card_visa")
    };

    let isk = in_currency("ch_isk", 1000, Currency::ISK);
    gateway.check_charge(&isk).unwrap();
    let ChargeOutcome::Succeeded { reference, .. } = gateway.charge(&isk).await.unwrap() else {
        panic!("pm_card_visa succeeds in ISK");
    };
    let refund = RefundRequest {
        idempotency_key: "re_isk".into(),
        account: "acct_test".into(),
        charge_reference: reference.clone(),
        amount_minor: 300,
        currency: Currency::ISK,
    };
    gateway.check_refund(&refund).unwrap();
    assert!(matches!(gateway.refund(&refund).await.unwrap(), RefundOutcome::Succeeded { .. }));
    for (key, amount_minor, currency) in
        [("ch_kwd", 5120, Currency::KWD), ("ch_mga", 1500, Currency::MGA)]
    {
        let request = in_currency(key, amount_minor, currency);
        assert!(matches!(gateway.charge(&request).await, Ok(ChargeOutcome::Succeeded { .. })));
    }
    assert_eq!(
        sent_amounts(&stripe, "/v1/payment_intents"),
        [
            ("100000".into(), "isk".into()),
            ("5120".into(), "kwd".into()),
            ("15".into(), "mga".into())
        ]
    );
    assert_eq!(sent_amounts(&stripe, "/v1/refunds"), [("30000".into(), String::new())]);

    let sent_before = stripe.seen().len();
    for (key, amount_minor, currency) in [
        ("ch_kwd_odd", 5124, Currency::KWD),
        ("ch_mga_fraction", 150, Currency::MGA),
        ("ch_iqd", 1000, Currency::IQD),
        ("ch_isk_past_stripes_digits", 99_999_999_999, Currency::ISK),
    ] {
        let request = in_currency(key, amount_minor, currency);
        let checked = gateway.check_charge(&request);
        assert!(matches!(checked, Err(GatewayError::InvalidRequest(_))), "{key}: {checked:?}");
        let charged = gateway.charge(&request).await;
        assert!(matches!(charged, Err(GatewayError::InvalidRequest(_))), "{key}: {charged:?}");
        assert_eq!(gateway.retrieve(AttemptKind::Charge, key).await.unwrap(), None, "{key}");
    }
    let odd_refund = RefundRequest {
        idempotency_key: "re_kwd_odd".into(),
        account: "acct_test".into(),
        charge_reference: reference,
        amount_minor: 5125,
        currency: Currency::KWD,
    };
    assert!(matches!(gateway.check_refund(&odd_refund), Err(GatewayError::InvalidRequest(_))));
    assert!(matches!(gateway.refund(&odd_refund).await, Err(GatewayError::InvalidRequest(_))));
    assert_eq!(stripe.seen().len(), sent_before, "nothing refused reached Stripe");
}
