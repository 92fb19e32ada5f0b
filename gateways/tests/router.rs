//! The router: rules pick an ordered list of gateways (currency, method type, country, amount;
//! the default otherwise); failover moves on ONLY after `NotAttempted` (a refused connection to
//! the real Stripe adapter included) or a refusal as invalid, never after `Ambiguous` or an
//! answer; a breaker opens after N consecutive unavailability errors — never on refusals of the
//! request (Stripe's 400, Daraja's 400 for a number) —, lets one probe through after its
//! cool-down, and closes again on an answer. Gateways here are scripted, except the real Stripe
//! and M-Pesa adapters pointed at a port nobody listens on or at the local fakes.

mod common;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kassa_gateways::mpesa::{MpesaConfig, MpesaGateway};
use kassa_gateways::router::{
    BreakerConfig, BreakerStatus, PaymentMethodType, RouteQuery, RoutingError, RoutingRule,
};
use kassa_gateways::sandbox::{SandboxConfig, SandboxGateway};
use kassa_gateways::stripe::{StripeConfig, StripeGateway};
use kassa_gateways::{
    Attempt, AttemptKind, ChargeOutcome, ChargeRequest, Currency, DeclineCode, Gateway,
    GatewayError, PaymentMethodDetails, RefundOutcome, RefundRequest, Router,
};
use kassa_testkit::fake_daraja::{self, FakeDaraja};
use kassa_testkit::fake_stripe::{self, FakeStripe};

/// A gateway that answers charges from a script (succeeding once the script is spent).
struct Scripted {
    name: &'static str,
    answers: Mutex<VecDeque<Result<ChargeOutcome, GatewayError>>>,
    calls: AtomicUsize,
}

impl Scripted {
    fn new(name: &'static str, answers: Vec<Result<ChargeOutcome, GatewayError>>) -> Arc<Scripted> {
        Arc::new(Scripted { name, answers: Mutex::new(answers.into()), calls: AtomicUsize::new(0) })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl Gateway for Scripted {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn describe_payment_method(&self, _: &str) -> Result<PaymentMethodDetails, GatewayError> {
        Ok(PaymentMethodDetails { card: None })
    }

    async fn charge(&self, _: &ChargeRequest) -> Result<ChargeOutcome, GatewayError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let next = self.answers.lock().unwrap().pop_front();
        next.unwrap_or_else(|| {
            Ok(ChargeOutcome::Succeeded {
                reference: format!("{}_ref", self.name),
                fee_minor: 0,
                conversion: None,
            })
        })
    }

    async fn refund(&self, _: &RefundRequest) -> Result<RefundOutcome, GatewayError> {
        Ok(RefundOutcome::Failed { message: "not scripted".into() })
    }

    async fn retrieve(&self, _: AttemptKind, _: &str) -> Result<Option<Attempt>, GatewayError> {
        Ok(None)
    }
}

fn request() -> ChargeRequest {
    ChargeRequest {
        idempotency_key: "ch_routed".into(),
        amount_minor: 5000,
        currency: Currency::USD,
        payment_method_token: "pm_card_visa".into(),
        description: None,
        customer: None,
        off_session: false,
    }
}

fn card_query(currency: Currency, country: Option<&str>, amount_minor: i64) -> RouteQuery<'_> {
    RouteQuery { currency, method_type: PaymentMethodType::Card, country, amount_minor }
}

fn rule(toml_text: &str) -> RoutingRule {
    toml::from_str(toml_text).unwrap()
}

fn two_card_gateways() -> Vec<RoutingRule> {
    vec![rule(
        r#"currencies = ["usd"]
                 gateways = ["first", "second"]"#,
    )]
}

#[test]
fn rules_pick_gateways_by_currency_method_country_and_amount() {
    let gateways: Vec<Arc<dyn Gateway>> = vec![
        Scripted::new("sandbox", vec![]),
        Scripted::new("stripe", vec![]),
        Scripted::new("mpesa", vec![]),
    ];
    let router = Router::new(gateways, "sandbox")
        .unwrap()
        .with_rules(vec![
            rule(
                r#"currencies = ["kes"]
                    method_types = ["mpesa"]
                    gateways = ["mpesa"]"#,
            ),
            rule(
                r#"countries = ["ZA", "NG"]
                    method_types = ["card"]
                    amount_minor_max = 1000000
                    gateways = ["stripe", "sandbox"]"#,
            ),
            rule(
                r#"currencies = ["eur"]
                    amount_minor_min = 100
                    gateways = ["stripe"]"#,
            ),
        ])
        .unwrap();

    let mpesa = RouteQuery {
        currency: Currency::KES,
        method_type: PaymentMethodType::Mpesa,
        country: Some("KE"),
        amount_minor: 10_000,
    };
    assert_eq!(router.route(&mpesa), ["mpesa"]);
    assert_eq!(router.route(&card_query(Currency::ZAR, Some("za"), 50_000)), ["stripe", "sandbox"]);
    assert_eq!(
        router.route(&card_query(Currency::ZAR, Some("ZA"), 2_000_000)),
        ["sandbox"],
        "above the range"
    );
    assert_eq!(router.route(&card_query(Currency::ZAR, None, 50_000)), ["sandbox"], "no country");
    assert_eq!(router.route(&card_query(Currency::EUR, Some("DE"), 100)), ["stripe"]);
    assert_eq!(
        router.route(&card_query(Currency::EUR, Some("DE"), 99)),
        ["sandbox"],
        "below the range"
    );
    assert_eq!(
        router.route(&card_query(Currency::KES, Some("KE"), 10_000)),
        ["sandbox"],
        "a card in KES"
    );
    // The engine's existing calls keep working.
    assert_eq!(router.default_gateway().name(), "sandbox");
    assert_eq!(router.by_name("mpesa").unwrap().name(), "mpesa");
    assert!(router.by_name("paypal").is_err());
}

#[test]
fn bad_rules_are_refused_at_start() {
    let router = || Router::new(vec![Scripted::new("sandbox", vec![])], "sandbox").unwrap();
    let unknown = router().with_rules(vec![rule(r#"gateways = ["stripe"]"#)]).err().unwrap();
    assert!(matches!(unknown, RoutingError::UnknownGateway { rule: 0, .. }), "{unknown}");
    let currency = router()
        .with_rules(vec![rule(
            r#"currencies = ["xyz"]
                                 gateways = ["sandbox"]"#,
        )])
        .err()
        .unwrap();
    assert!(matches!(currency, RoutingError::UnknownCurrency { .. }), "{currency}");
    let range = router()
        .with_rules(vec![rule(
            r#"amount_minor_min = 10
                                 amount_minor_max = 5
                                 gateways = ["sandbox"]"#,
        )])
        .err()
        .unwrap();
    assert!(matches!(range, RoutingError::EmptyAmountRange { .. }), "{range}");
    assert!(
        toml::from_str::<RoutingRule>(r#"gateway = ["sandbox"]"#).is_err(),
        "typos are refused"
    );
    assert!(Router::new(vec![Scripted::new("sandbox", vec![])], "stripe").is_err());
}

#[tokio::test]
async fn failover_moves_on_after_not_attempted_and_records_each_attempt_first() {
    let first =
        Scripted::new("first", vec![Err(GatewayError::NotAttempted("connection refused".into()))]);
    let second = Scripted::new("second", vec![]);
    let router = Router::new(vec![first.clone(), second.clone()], "first")
        .unwrap()
        .with_rules(two_card_gateways())
        .unwrap();
    let recorded = Mutex::new(Vec::new());
    let routed = router
        .charge_with_failover(
            &card_query(Currency::USD, None, 5000),
            &request(),
            |gateway, attempt| {
                recorded.lock().unwrap().push((gateway, attempt));
                async { Ok(()) }
            },
        )
        .await;
    assert_eq!((routed.gateway, routed.attempt), ("second", 2));
    assert_eq!(
        routed.result.unwrap(),
        ChargeOutcome::Succeeded { reference: "second_ref".into(), fee_minor: 0, conversion: None }
    );
    assert_eq!(*recorded.lock().unwrap(), [("first", 1), ("second", 2)]);
    assert_eq!(routed.skipped.len(), 1);
    assert_eq!((first.calls(), second.calls()), (1, 1));
}

#[tokio::test]
async fn no_failover_after_an_ambiguous_answer_or_a_decline() {
    let answers = [
        Err(GatewayError::Ambiguous("timed out".into())),
        Ok(ChargeOutcome::Declined {
            decline: DeclineCode::InsufficientFunds,
            message: "no".into(),
        }),
        Err(GatewayError::InvalidPaymentMethod("unknown token".into())),
    ];
    for answer in answers {
        let shown = format!("{answer:?}");
        let first = Scripted::new("first", vec![answer]);
        let second = Scripted::new("second", vec![]);
        let router = Router::new(vec![first.clone(), second.clone()], "first")
            .unwrap()
            .with_rules(two_card_gateways())
            .unwrap();
        let routed = router
            .charge_with_failover(
                &card_query(Currency::USD, None, 5000),
                &request(),
                |_, _| async { Ok(()) },
            )
            .await;
        assert_eq!((routed.gateway, routed.attempt), ("first", 1), "{shown}");
        assert_eq!(format!("{:?}", routed.result), shown);
        assert_eq!(second.calls(), 0, "{shown}: the second gateway is never asked");
    }
}

#[tokio::test]
async fn a_refused_connection_to_stripe_fails_over_to_the_next_gateway() {
    let directory = tempfile::tempdir().unwrap();
    let trees = common::database(&directory);
    let config = StripeConfig {
        api_base: format!("http://{}", kassa_testkit::refused_address()),
        attempts_max: 2,
        backoff_initial: Duration::from_millis(5),
        ..StripeConfig::new("sk_test_refused")
    };
    let stripe: Arc<dyn Gateway> = Arc::new(StripeGateway::open(trees, config).unwrap());
    let sandbox = Scripted::new("sandbox", vec![]);
    let router = Router::new(vec![stripe, sandbox.clone()], "sandbox")
        .unwrap()
        .with_rules(vec![rule(r#"gateways = ["stripe", "sandbox"]"#)])
        .unwrap();
    let routed = router
        .charge_with_failover(&card_query(Currency::USD, None, 5000), &request(), |_, _| async {
            Ok(())
        })
        .await;
    assert_eq!((routed.gateway, routed.attempt), ("sandbox", 2));
    assert!(routed.result.is_ok());
    assert_eq!(routed.skipped[0].0, "stripe");
}

#[tokio::test]
async fn a_failing_before_attempt_hook_stops_before_the_gateway_is_called() {
    let first = Scripted::new("first", vec![]);
    let router = Router::new(vec![first.clone()], "first").unwrap();
    let routed = router
        .charge_with_failover(&card_query(Currency::USD, None, 5000), &request(), |_, _| async {
            Err(GatewayError::Storage("disk full".into()))
        })
        .await;
    assert!(matches!(routed.result, Err(GatewayError::Storage(_))));
    assert_eq!(first.calls(), 0);
}

#[tokio::test]
async fn the_breaker_opens_after_n_failures_probes_half_open_and_closes() {
    let refused = || Err(GatewayError::NotAttempted("refused".into()));
    let first = Scripted::new("first", vec![refused(), refused(), refused(), refused()]);
    let second = Scripted::new("second", vec![]);
    let cool_down = Duration::from_millis(200);
    let router = Router::new(vec![first.clone(), second.clone()], "first")
        .unwrap()
        .with_rules(two_card_gateways())
        .unwrap()
        .with_breaker(BreakerConfig { failures_to_open: 3, cool_down });
    let query = card_query(Currency::USD, None, 5000);
    let request = request();
    let charge = || router.charge_with_failover(&query, &request, |_, _| async { Ok(()) });

    for _ in 0..3 {
        assert_eq!(charge().await.gateway, "second");
    }
    assert_eq!(router.breaker_status("first"), Some(BreakerStatus::Open));
    // Open: the first gateway is skipped without being called.
    let routed = charge().await;
    assert_eq!(routed.gateway, "second");
    assert_eq!(routed.skipped, [("first", "circuit breaker open".to_owned())]);
    assert_eq!(first.calls(), 3);

    // After the cool-down one probe goes through; it fails, so the breaker opens again.
    tokio::time::sleep(cool_down + Duration::from_millis(20)).await;
    assert_eq!(router.breaker_status("first"), Some(BreakerStatus::HalfOpen));
    assert_eq!(charge().await.gateway, "second");
    assert_eq!(first.calls(), 4, "one probe");
    assert_eq!(router.breaker_status("first"), Some(BreakerStatus::Open));

    // The next probe succeeds (the script is spent): closed again.
    tokio::time::sleep(cool_down + Duration::from_millis(20)).await;
    assert!(router.breaker_allows("first"), "the probe");
    assert!(!router.breaker_allows("first"), "only one probe at a time");
    router.record::<()>("first", &Ok(()));
    assert_eq!(router.breaker_status("first"), Some(BreakerStatus::Closed));
    assert_eq!(charge().await.gateway, "first");
}

#[tokio::test]
async fn refusals_as_invalid_fail_over_but_never_open_the_breaker() {
    // The real adapters against the local fakes, each refusing the request as invalid: Stripe
    // with a 400 invalid_request_error, Daraja with a 400 for the number. One unavailability
    // error would open these breakers.
    let stripe_server = FakeStripe::start().await;
    let daraja = FakeDaraja::start().await;
    let directory = tempfile::tempdir().unwrap();
    let trees = common::database(&directory);
    let stripe_config = StripeConfig {
        api_base: stripe_server.api_base(),
        attempts_max: 1,
        ..StripeConfig::new(fake_stripe::SECRET_KEY)
    };
    let stripe = StripeGateway::open(Arc::clone(&trees), stripe_config).unwrap();
    let mpesa_config = MpesaConfig {
        api_base: daraja.api_base(),
        ..MpesaConfig::new(
            fake_daraja::CONSUMER_KEY,
            fake_daraja::CONSUMER_SECRET,
            fake_daraja::SHORTCODE,
            fake_daraja::PASSKEY,
            "https://kassa.example/v1/webhooks/mpesa/token",
        )
    };
    let mpesa = MpesaGateway::open(trees, mpesa_config).unwrap();
    let sandbox = Scripted::new("sandbox", vec![]);
    let gateways: Vec<Arc<dyn Gateway>> = vec![Arc::new(stripe), Arc::new(mpesa), sandbox.clone()];
    let router = Router::new(gateways, "sandbox")
        .unwrap()
        .with_rules(vec![
            rule(
                r#"method_types = ["mpesa"]
                    gateways = ["mpesa"]"#,
            ),
            rule(r#"gateways = ["stripe", "sandbox"]"#),
        ])
        .unwrap()
        .with_breaker(BreakerConfig { failures_to_open: 1, cool_down: Duration::from_secs(60) });

    for index in 0..3 {
        stripe_server.fail_next(1, 400);
        let routed = router
            .charge_with_failover(
                &card_query(Currency::USD, None, 5000),
                &request(),
                |_, _| async { Ok(()) },
            )
            .await;
        // Nothing moved at Stripe, so the charge may still go to the next gateway.
        assert_eq!((routed.gateway, routed.attempt), ("sandbox", 2), "charge {index}");
        assert_eq!(router.breaker_status("stripe"), Some(BreakerStatus::Closed), "charge {index}");
    }
    assert_eq!(sandbox.calls(), 3);

    let mpesa_query = RouteQuery {
        currency: Currency::KES,
        method_type: PaymentMethodType::Mpesa,
        country: Some("KE"),
        amount_minor: 10_000,
    };
    for index in 0..3 {
        let refused = ChargeRequest {
            idempotency_key: format!("ch_refused_{index}"),
            currency: Currency::KES,
            amount_minor: 10_000,
            payment_method_token: fake_daraja::REFUSED_PHONE.into(),
            ..request()
        };
        let routed =
            router.charge_with_failover(&mpesa_query, &refused, |_, _| async { Ok(()) }).await;
        assert!(routed.result.is_err(), "{:?}", routed.result);
        assert_eq!(router.breaker_status("mpesa"), Some(BreakerStatus::Closed), "charge {index}");
    }
}

#[tokio::test]
async fn declines_and_refusals_do_not_count_against_the_breaker() {
    let gateway = Scripted::new("first", vec![]);
    let router = Router::new(vec![gateway], "first")
        .unwrap()
        .with_breaker(BreakerConfig { failures_to_open: 1, cool_down: Duration::from_secs(60) });
    router.record::<()>("first", &Err(GatewayError::InvalidPaymentMethod("bad".into())));
    router.record::<()>("first", &Err(GatewayError::InvalidRequest("cents".into())));
    assert_eq!(router.breaker_status("first"), Some(BreakerStatus::Closed));
    router.record::<()>("first", &Err(GatewayError::Ambiguous("timeout".into())));
    assert_eq!(router.breaker_status("first"), Some(BreakerStatus::Open));
}

#[test]
fn a_new_payment_method_goes_to_the_default_else_a_live_gateway_that_takes_it() {
    let directory = tempfile::tempdir().unwrap();
    let trees = common::database(&directory);
    let stripe = StripeGateway::open(Arc::clone(&trees), StripeConfig::new("sk_test_x")).unwrap();
    let mpesa_config = MpesaConfig::new(
        fake_daraja::CONSUMER_KEY,
        fake_daraja::CONSUMER_SECRET,
        fake_daraja::SHORTCODE,
        fake_daraja::PASSKEY,
        "https://kassa.example/v1/webhooks/mpesa/token",
    );
    let mpesa = MpesaGateway::open(Arc::clone(&trees), mpesa_config).unwrap();
    let sandbox = SandboxGateway::open(trees, SandboxConfig::default());
    let all: Vec<Arc<dyn Gateway>> =
        vec![Arc::new(sandbox.clone()), Arc::new(stripe), Arc::new(mpesa.clone())];
    let name =
        |router: &Router, method| router.gateway_for_new(method).map(|gateway| gateway.name());

    let on_mpesa = Router::new(all.clone(), "mpesa").unwrap();
    assert_eq!(name(&on_mpesa, PaymentMethodType::Mpesa), Some("mpesa"));
    assert_eq!(name(&on_mpesa, PaymentMethodType::Card), Some("stripe"), "live before the sandbox");
    let on_sandbox = Router::new(all, "sandbox").unwrap();
    assert_eq!(name(&on_sandbox, PaymentMethodType::Card), Some("sandbox"), "the default first");

    let mpesa_only = Router::new(vec![Arc::new(mpesa) as Arc<dyn Gateway>], "mpesa").unwrap();
    assert_eq!(name(&mpesa_only, PaymentMethodType::Card), None);
    let sandbox_only = Router::new(vec![Arc::new(sandbox) as Arc<dyn Gateway>], "sandbox").unwrap();
    assert_eq!(name(&sandbox_only, PaymentMethodType::Mpesa), None);
}
