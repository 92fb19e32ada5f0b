//! No credential ever shows in `Debug` output — the form a `?value` in a log line or a panic
//! message takes. Proves it for every config, adapter and request type the crate exposes, built
//! with real-looking secrets (the Stripe secret key; the M-Pesa consumer key and secret, passkey
//! and callback path token), and for the errors the adapters return when one of those
//! credentials is refused.
//! How: `{:?}` and `{:#?}` of each value, searched for each secret; the adapters run against the
//! local fakes (tests/common), which refuse the wrong credentials as Stripe and Daraja do. The
//! crate-private wire structs (the STK Push and query requests with their password) are covered
//! by the unit tests of `mpesa::transformers`.

mod common;

use std::time::Duration;

use kassa_gateways::mpesa::{MpesaConfig, MpesaGateway};
use kassa_gateways::stripe::{StripeConfig, StripeGateway};
use kassa_gateways::{ChargeRequest, Currency, CustomerRef, Gateway, RefundRequest};
use kassa_testkit::fake_daraja::{self, FakeDaraja};
use kassa_testkit::fake_stripe::FakeStripe;

const STRIPE_KEY: &str = "sk_live_51Hx_stripe_secret_key_value";
const CONSUMER_KEY: &str = "consumer-key-value-9f3a";
const CONSUMER_SECRET: &str = "consumer-secret-value-7c1e";
const PASSKEY: &str = "passkey-value-bfb279f9aa9bdbcf158e97dd71a467cd2e0c";
const PATH_TOKEN: &str = "callback-path-token-4d2b";

fn assert_hidden(what: &str, shown: &str) {
    for secret in [STRIPE_KEY, CONSUMER_KEY, CONSUMER_SECRET, PASSKEY, PATH_TOKEN] {
        assert!(!shown.contains(secret), "{what} shows {secret}: {shown}");
    }
}

fn debug_both(value: &impl std::fmt::Debug) -> String {
    format!("{value:?}\n{value:#?}")
}

fn mpesa_config(api_base: &str) -> MpesaConfig {
    MpesaConfig {
        api_base: api_base.to_owned(),
        request_timeout: Duration::from_secs(2),
        ..MpesaConfig::new(
            CONSUMER_KEY,
            CONSUMER_SECRET,
            fake_daraja::SHORTCODE,
            PASSKEY,
            format!("https://kassa.example/v1/webhooks/mpesa/{PATH_TOKEN}"),
        )
    }
}

#[tokio::test]
async fn no_secret_shows_in_the_debug_output_of_configs_adapters_requests_or_errors() {
    let stripe_server = FakeStripe::start().await;
    let daraja = FakeDaraja::start().await;
    let directory = tempfile::tempdir().unwrap();
    let trees = common::database(&directory);

    let stripe_config = StripeConfig {
        api_base: stripe_server.api_base(),
        attempts_max: 1,
        ..StripeConfig::new(STRIPE_KEY)
    };
    assert_hidden("StripeConfig", &debug_both(&stripe_config));
    let stripe = StripeGateway::open(trees.clone(), stripe_config).unwrap();
    assert_hidden("StripeGateway", &debug_both(&stripe));

    let mpesa_config = mpesa_config(&daraja.api_base());
    assert_hidden("MpesaConfig", &debug_both(&mpesa_config));
    let mpesa = MpesaGateway::open(trees, mpesa_config).unwrap();
    assert_hidden("MpesaGateway", &debug_both(&mpesa));

    let charge = ChargeRequest {
        idempotency_key: "ch_secrets".into(),
        amount_minor: 10_000,
        currency: Currency::KES,
        payment_method_token: "0712345678".into(),
        description: Some("fees".into()),
        customer: Some(CustomerRef { id: "acct/cus".into(), email: None, name: None }),
        off_session: false,
    };
    assert_hidden("ChargeRequest", &debug_both(&charge));
    let refund = RefundRequest {
        idempotency_key: "re_secrets".into(),
        account: "acct_test".into(),
        charge_reference: "pi_1".into(),
        amount_minor: 100,
        currency: Currency::USD,
    };
    assert_hidden("RefundRequest", &debug_both(&refund));

    // The fakes know none of these credentials: each is refused, and the errors say so without
    // repeating them (Stripe's 401; Daraja's OAuth refusal of the consumer key and secret).
    let card_charge = ChargeRequest {
        currency: Currency::USD,
        payment_method_token: "pm_card_visa".into(),
        ..charge.clone()
    };
    let error = stripe.charge(&card_charge).await.unwrap_err();
    assert_hidden("Stripe's refusal", &format!("{error} {}", debug_both(&error)));
    let error = mpesa.charge(&charge).await.unwrap_err();
    assert_hidden("Daraja's refusal", &format!("{error} {}", debug_both(&error)));
}
