//! The gateways' sections, their secrets (redacted in every `Debug`), their environment
//! variables and their checks.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::checks::{http_url, within};
use super::{Config, ConfigError, config_error};
use crate::domain::money::parse_currency;
use crate::limits::{
    AMOUNT_MINOR_MAX, GATEWAY_ATTEMPTS_MAX, GATEWAY_TIMEOUT_MS_MAX, MPESA_CALLBACK_TOKEN_LEN_MIN,
    RENEWALS_PER_SEC_MAX,
};

/// A secret from the config or the environment (API key, passkey, path token). `Debug` says
/// only whether it is set, so a logged or printed config never shows one; empty means unset.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> SecretValue {
        SecretValue(value.into())
    }

    pub fn is_set(&self) -> bool {
        !self.0.is_empty()
    }

    /// The value, for the one place that hands it to its gateway.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.is_set() {
            true => f.write_str("SecretValue(set, redacted)"),
            false => f.write_str("SecretValue(unset)"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaysConfig {
    /// A gateway call unanswered after this long leaves its charge `processing` (ambiguous).
    pub timeout_ms: u64,
    /// After an unknown outcome, the gateway is asked again this much later, then at doubling
    /// intervals (up to an hour) until it answers.
    pub reconcile_after_secs: u64,
    pub sandbox: SandboxGatewayConfig,
    pub stripe: StripeGatewayConfig,
    pub mpesa: MpesaGatewayConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxGatewayConfig {
    pub enabled: bool,
    pub latency_ms: u64,
    /// Smallest amount charged, per lower-case currency (none by default).
    pub min_amount: MinAmounts,
    /// What the sandbox keeps of each charge as its fee, as card processors do: this share of
    /// the amount in basis points (rounded half up) …
    pub fee_bps: u32,
    /// … plus this fixed part, per lower-case currency. No fee by default.
    pub fee_fixed: MinAmounts,
}

/// Basis points in a whole charge.
const BPS_WHOLE: u64 = 10_000;

/// The smallest charge a gateway takes, in minor units, by lower-case currency code: an invoice
/// due below it is paid and its amount carried to the customer's balance instead.
pub type MinAmounts = BTreeMap<String, i64>;

/// Stripe, on when `secret_key` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StripeGatewayConfig {
    pub secret_key: SecretValue,
    /// Any Stripe-compatible server (a local fake in tests).
    pub api_base: String,
    /// Verifies `Stripe-Signature` on `POST /v1/webhooks/stripe`.
    pub webhook_secret: SecretValue,
    /// Bound on one HTTP attempt to Stripe, answer included.
    pub attempt_timeout_ms: u64,
    /// Attempts per request (429s, 5xx, timeouts retried under the same Idempotency-Key).
    pub attempts_max: u32,
    /// Where Stripe sends the customer back after a redirect-based 3-D Secure; empty: the
    /// front end finishes 3-D Secure with stripe.js.
    pub return_url: String,
    /// Stripe's minimum charge amounts (a table replaces the defaults whole).
    pub min_amount: MinAmounts,
    /// Renewal charges sent per second at most, so a burst of renewals leaves room under
    /// Stripe's rate limit (live 100 requests/s, test 25) for the platform's own traffic; 0 =
    /// not paced.
    pub renewals_per_sec: u32,
}

/// M-Pesa (Daraja STK Push), on when its credentials are set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MpesaGatewayConfig {
    pub consumer_key: SecretValue,
    pub consumer_secret: SecretValue,
    /// The paybill (business shortcode) the customer pays.
    pub shortcode: String,
    pub passkey: SecretValue,
    pub api_base: String,
    /// This engine's public base URL as Safaricom reaches it; callbacks go to
    /// `{callback_base}/v1/webhooks/mpesa/{callback_token}`.
    pub callback_base: String,
    /// The secret path segment that authenticates Safaricom's callbacks (they carry no
    /// signature).
    pub callback_token: SecretValue,
    /// Bound on one Daraja HTTP call, answer included.
    pub timeout_ms: u64,
    /// Daraja takes whole shillings from KES 1.
    pub min_amount: MinAmounts,
    /// STK Pushes sent per second at most for renewals; 0 = not paced.
    pub renewals_per_sec: u32,
    /// Payouts to phones (B2C), on when the initiator and its credential are set: the B2C
    /// shortcode money is paid from (default: `shortcode`), the initiator's name, its security
    /// credential as Safaricom's portal encrypted it, and the command (`BusinessPayment`).
    pub b2c_shortcode: String,
    pub initiator_name: String,
    pub security_credential: SecretValue,
    pub b2c_command_id: String,
}

impl MpesaGatewayConfig {
    /// Whether payouts to phones go through B2C.
    pub fn b2c_enabled(&self) -> bool {
        self.enabled() && !self.initiator_name.is_empty() && self.security_credential.is_set()
    }

    /// The keys that switch M-Pesa on: all of them, or none.
    fn credentials(&self) -> [(&'static str, bool); 4] {
        [
            ("gateways.mpesa.consumer_key", self.consumer_key.is_set()),
            ("gateways.mpesa.consumer_secret", self.consumer_secret.is_set()),
            ("gateways.mpesa.shortcode", !self.shortcode.is_empty()),
            ("gateways.mpesa.passkey", self.passkey.is_set()),
        ]
    }

    pub fn enabled(&self) -> bool {
        self.credentials().iter().any(|(_, set)| *set)
    }
}

impl StripeGatewayConfig {
    pub fn enabled(&self) -> bool {
        self.secret_key.is_set()
    }
}

fn min_amounts(pairs: &[(&str, i64)]) -> MinAmounts {
    pairs.iter().map(|(code, amount)| ((*code).to_owned(), *amount)).collect()
}

impl Default for StripeGatewayConfig {
    fn default() -> Self {
        StripeGatewayConfig {
            secret_key: SecretValue::default(),
            api_base: "https://api.stripe.com".into(),
            webhook_secret: SecretValue::default(),
            attempt_timeout_ms: 3_000,
            attempts_max: 3,
            return_url: String::new(),
            min_amount: min_amounts(&[("usd", 50), ("eur", 50), ("gbp", 30)]),
            renewals_per_sec: 25,
        }
    }
}

impl Default for MpesaGatewayConfig {
    fn default() -> Self {
        MpesaGatewayConfig {
            consumer_key: SecretValue::default(),
            consumer_secret: SecretValue::default(),
            shortcode: String::new(),
            passkey: SecretValue::default(),
            api_base: "https://sandbox.safaricom.co.ke".into(),
            callback_base: String::new(),
            callback_token: SecretValue::default(),
            timeout_ms: 4_000,
            min_amount: min_amounts(&[("kes", 100)]),
            renewals_per_sec: 10,
            b2c_shortcode: String::new(),
            initiator_name: String::new(),
            security_credential: SecretValue::default(),
            b2c_command_id: "BusinessPayment".into(),
        }
    }
}

impl Default for GatewaysConfig {
    fn default() -> Self {
        GatewaysConfig {
            timeout_ms: 10_000,
            reconcile_after_secs: 60,
            sandbox: SandboxGatewayConfig::default(),
            stripe: StripeGatewayConfig::default(),
            mpesa: MpesaGatewayConfig::default(),
        }
    }
}

impl Default for SandboxGatewayConfig {
    fn default() -> Self {
        SandboxGatewayConfig {
            enabled: true,
            latency_ms: 0,
            min_amount: MinAmounts::new(),
            fee_bps: 0,
            fee_fixed: MinAmounts::new(),
        }
    }
}

impl Config {
    /// The gateways' `KASSA_STRIPE_*` / `KASSA_MPESA_*` variables (API.md, "Running").
    pub(super) fn apply_gateway_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        let stripe = &mut self.gateways.stripe;
        let mpesa = &mut self.gateways.mpesa;
        let secrets: [(&str, &mut SecretValue); 7] = [
            ("KASSA_STRIPE_SECRET_KEY", &mut stripe.secret_key),
            ("KASSA_STRIPE_WEBHOOK_SECRET", &mut stripe.webhook_secret),
            ("KASSA_MPESA_CONSUMER_KEY", &mut mpesa.consumer_key),
            ("KASSA_MPESA_CONSUMER_SECRET", &mut mpesa.consumer_secret),
            ("KASSA_MPESA_PASSKEY", &mut mpesa.passkey),
            ("KASSA_MPESA_CALLBACK_TOKEN", &mut mpesa.callback_token),
            ("KASSA_MPESA_SECURITY_CREDENTIAL", &mut mpesa.security_credential),
        ];
        for (name, slot) in secrets {
            if let Some(value) = env(name) {
                *slot = SecretValue::new(value);
            }
        }
        let texts: [(&str, &mut String); 6] = [
            ("KASSA_STRIPE_API_BASE", &mut stripe.api_base),
            ("KASSA_MPESA_SHORTCODE", &mut mpesa.shortcode),
            ("KASSA_MPESA_API_BASE", &mut mpesa.api_base),
            ("KASSA_MPESA_CALLBACK_BASE", &mut mpesa.callback_base),
            ("KASSA_MPESA_B2C_SHORTCODE", &mut mpesa.b2c_shortcode),
            ("KASSA_MPESA_INITIATOR_NAME", &mut mpesa.initiator_name),
        ];
        for (name, slot) in texts {
            if let Some(value) = env(name) {
                *slot = value;
            }
        }
    }

    /// Each gateway's minimum amounts (and the sandbox's fixed fees) name real currencies and
    /// amounts a charge could have; the sandbox's fee share is at most the whole; renewal rates
    /// stay within reason.
    pub(super) fn validate_gateway_billing(&self) -> Result<(), ConfigError> {
        let gateways = &self.gateways;
        let minimums = [
            ("gateways.sandbox.min_amount", &gateways.sandbox.min_amount),
            ("gateways.stripe.min_amount", &gateways.stripe.min_amount),
            ("gateways.mpesa.min_amount", &gateways.mpesa.min_amount),
            ("gateways.sandbox.fee_fixed", &gateways.sandbox.fee_fixed),
        ];
        for (key, amounts) in minimums {
            for (code, amount) in amounts {
                if parse_currency(code).is_err() {
                    return Err(config_error(
                        key,
                        format!("`{code}` is not a lower-case ISO-4217 currency code"),
                    ));
                }
                if !(0..=AMOUNT_MINOR_MAX).contains(amount) {
                    return Err(config_error(
                        key,
                        format!("{code}: must be from 0 to {AMOUNT_MINOR_MAX} (minor units)"),
                    ));
                }
            }
        }
        if u64::from(gateways.sandbox.fee_bps) > BPS_WHOLE {
            return Err(config_error(
                "gateways.sandbox.fee_bps",
                format!("must be at most {BPS_WHOLE} (basis points of a charge)"),
            ));
        }
        let rates = [
            ("gateways.stripe.renewals_per_sec", gateways.stripe.renewals_per_sec),
            ("gateways.mpesa.renewals_per_sec", gateways.mpesa.renewals_per_sec),
        ];
        for (key, rate) in rates {
            if u64::from(rate) > RENEWALS_PER_SEC_MAX {
                return Err(config_error(
                    key,
                    format!("must be at most {RENEWALS_PER_SEC_MAX} (0: not paced)"),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn validate_stripe(&self) -> Result<(), ConfigError> {
        let stripe = &self.gateways.stripe;
        http_url("gateways.stripe.api_base", &stripe.api_base)?;
        if !stripe.return_url.is_empty() {
            http_url("gateways.stripe.return_url", &stripe.return_url)?;
        }
        within(
            "gateways.stripe.attempt_timeout_ms",
            stripe.attempt_timeout_ms,
            GATEWAY_TIMEOUT_MS_MAX,
        )?;
        within(
            "gateways.stripe.attempts_max",
            u64::from(stripe.attempts_max),
            GATEWAY_ATTEMPTS_MAX,
        )?;
        let key = stripe.secret_key.expose();
        // Only the shape is checked, and the message never quotes the value.
        let well_formed = ["sk_", "rk_"].iter().any(|prefix| key.starts_with(prefix))
            && key.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
        if stripe.enabled() && !well_formed {
            return Err(config_error(
                "gateways.stripe.secret_key",
                "is not a Stripe secret or restricted key (`sk_…` or `rk_…`)",
            ));
        }
        Ok(())
    }

    pub(super) fn validate_mpesa(&self) -> Result<(), ConfigError> {
        let mpesa = &self.gateways.mpesa;
        http_url("gateways.mpesa.api_base", &mpesa.api_base)?;
        within("gateways.mpesa.timeout_ms", mpesa.timeout_ms, GATEWAY_TIMEOUT_MS_MAX)?;
        if !mpesa.enabled() {
            return Ok(());
        }
        if let Some((key, _)) = mpesa.credentials().into_iter().find(|(_, set)| !set) {
            return Err(config_error(key, "is required when the other M-Pesa credentials are set"));
        }
        let initiator_named = !mpesa.initiator_name.is_empty();
        if initiator_named != mpesa.security_credential.is_set() {
            return Err(config_error(
                "gateways.mpesa.security_credential",
                "and gateways.mpesa.initiator_name are set together (B2C payouts), or neither",
            ));
        }
        if !mpesa.b2c_shortcode.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(config_error("gateways.mpesa.b2c_shortcode", "must be digits"));
        }
        if !mpesa.shortcode.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(config_error(
                "gateways.mpesa.shortcode",
                "must be digits (a paybill number)",
            ));
        }
        if mpesa.callback_base.is_empty() {
            return Err(config_error(
                "gateways.mpesa.callback_base",
                "is required with M-Pesa: the engine's public URL that Safaricom calls back",
            ));
        }
        http_url("gateways.mpesa.callback_base", &mpesa.callback_base)?;
        let token = mpesa.callback_token.expose();
        let url_safe =
            token.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-');
        // Empty: the engine generates one and keeps it in the data directory.
        if !token.is_empty() && (token.len() < MPESA_CALLBACK_TOKEN_LEN_MIN || !url_safe) {
            return Err(config_error(
                "gateways.mpesa.callback_token",
                format!(
                    "must be at least {MPESA_CALLBACK_TOKEN_LEN_MIN} random letters, digits, `_` or `-` (or empty, to have one generated)"
                ),
            ));
        }
        Ok(())
    }
}
