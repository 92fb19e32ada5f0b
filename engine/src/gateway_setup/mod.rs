//! The engine's gateways, built once at start-up from config: the sandbox, Stripe and M-Pesa
//! (each on when configured), every one wrapped in [`Metered`] so its calls show in the metrics,
//! the router over them with the configured rules and circuit breaker, and the webhook sources of
//! those that take webhooks.
//!
//! - [`metered`]: the decorator that times every gateway call by gateway, operation and outcome.
//! - [`policy`]: what billing asks of each gateway: minimum amounts, the pace of renewals.

pub mod metered;
pub mod policy;

use std::sync::Arc;
use std::time::Duration;

use kassa_gateways::mpesa::{B2cConfig, MpesaCallbacks, MpesaConfig, MpesaGateway};
use kassa_gateways::payouts::PayoutAdapter;
use kassa_gateways::router::{PaymentMethodType, RoutingRule};
use kassa_gateways::sandbox::{FeeSchedule, SandboxConfig, SandboxGateway};
use kassa_gateways::stripe::{StripeConfig, StripeGateway, StripeWebhooks};
use kassa_gateways::trees::Trees;
use kassa_gateways::{Gateway, Router, Secret};

use kassa_gateways::webhooks::WebhookSource;

use crate::config::{Config, MpesaGatewayConfig, StripeGatewayConfig};
use crate::webhooks::WebhookSources;
use metered::Metered;
use policy::GatewayPolicies;

/// What the rest of the engine keeps of the gateways.
pub struct Gateways {
    pub router: Router,
    /// For `GET /v1/sandbox/ledger`.
    pub sandbox: Option<SandboxGateway>,
    /// For `POST /v1/webhooks/{gateway}`.
    pub webhooks: WebhookSources,
    /// The enabled gateways' names, for the breaker metrics.
    pub names: Vec<&'static str>,
    /// The adapters that pay payees out: the sandbox, Stripe, and M-Pesa B2C, where enabled.
    pub payouts: Vec<Arc<dyn PayoutAdapter>>,
    pub policies: Arc<GatewayPolicies>,
}

/// A gateway adapter added by the program that embeds the engine, beside the built-in ones:
/// routed to by name like them (`routing.default`, `routing.rules`), metered like them, and
/// served webhooks at `/v1/webhooks/{name}` when it takes them. Its name must also be given to
/// [`Config::load_with_gateways`], so that routing that names it is valid.
pub struct Registration {
    pub name: &'static str,
    pub open: OpenAdapter,
}

/// Opens an adapter at start-up. The trees are the gateways crate's (`kassa_gateways::trees::ALL`,
/// fixed at build time because the log numbers them): an adapter in that crate adds its own
/// there; one outside it keeps its records itself.
pub type OpenAdapter = Box<dyn FnOnce(Arc<dyn Trees>) -> Result<Registered, String> + Send>;

/// An opened adapter: the gateway, and its webhooks where the processor sends any.
pub struct Registered {
    pub gateway: Arc<dyn Gateway>,
    pub webhooks: Option<Arc<dyn WebhookSource>>,
}

/// Opens the enabled gateways and the registered ones, each keeping its own records in `trees`
/// (written through the engine's log), and builds the router.
pub fn open(
    config: &Config,
    trees: Arc<dyn Trees>,
    registrations: Vec<Registration>,
) -> Result<Gateways, String> {
    let settings = &config.gateways;
    let sandbox = settings.sandbox.enabled.then(|| {
        let latency = Duration::from_millis(settings.sandbox.latency_ms);
        let fees = FeeSchedule {
            percent_bps: settings.sandbox.fee_bps,
            fixed_minor: policy::by_currency(&settings.sandbox.fee_fixed),
        };
        SandboxGateway::open(Arc::clone(&trees), SandboxConfig { latency, fees })
    });
    let stripe = match settings.stripe.enabled() {
        true => Some(
            StripeGateway::open(Arc::clone(&trees), stripe_config(&settings.stripe))
                .map_err(|error| format!("stripe: {error}"))?,
        ),
        false => None,
    };
    let mpesa = match settings.mpesa.enabled() {
        true => Some(
            MpesaGateway::open(Arc::clone(&trees), mpesa_config(&settings.mpesa))
                .map_err(|error| format!("mpesa: {error}"))?,
        ),
        false => None,
    };
    let mut enabled: Vec<Arc<dyn Gateway>> = Vec::new();
    let mut payouts: Vec<Arc<dyn PayoutAdapter>> = Vec::new();
    if let Some(sandbox) = &sandbox {
        enabled.push(Arc::new(Metered::new(Arc::new(sandbox.clone()))));
        payouts.push(Arc::new(sandbox.clone()));
    }
    if let Some(stripe) = stripe {
        let stripe = Arc::new(stripe);
        payouts.push(Arc::clone(&stripe) as Arc<dyn PayoutAdapter>);
        enabled.push(Arc::new(Metered::new(stripe)));
    }
    if let Some(mpesa) = &mpesa {
        enabled.push(Arc::new(Metered::new(Arc::new(mpesa.clone()))));
        if settings.mpesa.b2c_enabled() {
            payouts.push(Arc::new(mpesa.clone()));
        }
    }
    let mut webhooks = WebhookSources::default();
    for registration in registrations {
        let name = registration.name;
        let registered =
            (registration.open)(Arc::clone(&trees)).map_err(|error| format!("{name}: {error}"))?;
        if registered.gateway.name() != name {
            return Err(format!("{name}: the adapter calls itself {}", registered.gateway.name()));
        }
        enabled.push(Arc::new(Metered::new(registered.gateway)));
        if let Some(source) = registered.webhooks {
            webhooks.add(source);
        }
    }
    let names = enabled.iter().map(|gateway| gateway.name()).collect();
    let router = Router::new(enabled, &config.routing.default)
        .map_err(|error| format!("routing.default: {error}"))?
        .with_rules(routing_rules(config))
        .map_err(|error| format!("routing.rules: {error}"))?
        .with_breaker(config.breaker());
    // Stripe's events are taken wherever a webhook secret is set, with or without charging
    // through Stripe: charges made before it was switched off still get theirs.
    if settings.stripe.webhook_secret.is_set() {
        let secret = Secret::new(settings.stripe.webhook_secret.expose());
        webhooks.add(Arc::new(StripeWebhooks::new(secret)));
    }
    if let Some(mpesa) = mpesa {
        let token = Secret::new(settings.mpesa.callback_token.expose());
        webhooks.add(Arc::new(MpesaCallbacks::new(mpesa, token)));
    }
    warn_if_the_engine_gives_up_first(config);
    let policies = Arc::new(GatewayPolicies::from_config(config));
    Ok(Gateways { router, sandbox, webhooks, names, payouts, policies })
}

/// The configured rules, then one of the engine's own: an M-Pesa payment method can only be
/// charged through M-Pesa, so when no configured rule matches it, it goes there rather than to
/// the default gateway (which would refuse a phone number).
fn routing_rules(config: &Config) -> Vec<RoutingRule> {
    let mut rules = config.routing.rules.clone();
    if config.gateways.mpesa.enabled() {
        rules.push(RoutingRule {
            method_types: vec![PaymentMethodType::Mpesa],
            gateways: vec![kassa_gateways::mpesa::NAME.to_owned()],
            ..RoutingRule::default()
        });
    }
    rules
}

fn stripe_config(settings: &StripeGatewayConfig) -> StripeConfig {
    let mut config = StripeConfig::new(Secret::new(settings.secret_key.expose()));
    config.api_base = settings.api_base.clone();
    config.attempt_timeout = Duration::from_millis(settings.attempt_timeout_ms);
    config.attempts_max = settings.attempts_max;
    config.return_url = (!settings.return_url.is_empty()).then(|| settings.return_url.clone());
    config
}

fn mpesa_config(settings: &MpesaGatewayConfig) -> MpesaConfig {
    let callback_url = format!(
        "{}/v1/webhooks/{}/{}",
        settings.callback_base.trim_end_matches('/'),
        kassa_gateways::mpesa::NAME,
        settings.callback_token.expose()
    );
    let mut config = MpesaConfig::new(
        Secret::new(settings.consumer_key.expose()),
        Secret::new(settings.consumer_secret.expose()),
        settings.shortcode.clone(),
        Secret::new(settings.passkey.expose()),
        Secret::new(callback_url),
    );
    config.api_base = settings.api_base.clone();
    config.request_timeout = Duration::from_millis(settings.timeout_ms);
    if settings.b2c_enabled() {
        let shortcode = match settings.b2c_shortcode.as_str() {
            "" => settings.shortcode.clone(),
            given => given.to_owned(),
        };
        config.b2c = Some(B2cConfig {
            shortcode,
            initiator_name: settings.initiator_name.clone(),
            security_credential: Secret::new(settings.security_credential.expose()),
            command_id: settings.b2c_command_id.clone(),
        });
    }
    config
}

/// Safe either way (a charge the engine stopped waiting for stays `processing` and is settled by
/// asking the gateway later), but an operator should know their retries cannot all run.
fn warn_if_the_engine_gives_up_first(config: &Config) {
    let stripe = &config.gateways.stripe;
    let stripe_worst_ms = u64::from(stripe.attempts_max).saturating_mul(stripe.attempt_timeout_ms);
    if stripe.enabled() && stripe_worst_ms > config.gateways.timeout_ms {
        tracing::warn!(
            stripe_worst_ms,
            gateway_timeout_ms = config.gateways.timeout_ms,
            "gateways.stripe attempts_max × attempt_timeout_ms exceeds gateways.timeout_ms: \
             slow Stripe retries will be cut short"
        );
    }
}
