//! Typed configuration: `config/kassa.toml` (every key documented there with its default),
//! then `KASSA_*` environment overrides. A bad value stops start-up with one line naming the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kassa_gateways::router::RoutingRule;
use serde::Deserialize;

use crate::domain::AccountId;
use crate::limits::{
    GATEWAY_ATTEMPTS_MAX, GATEWAY_TIMEOUT_MS_MAX, MPESA_CALLBACK_TOKEN_LEN_MIN,
    RECONCILE_AFTER_SECS_MAX, RULE_CONCURRENT_CALLS_MAX, RULE_FUEL_PER_CALL_MAX,
    RULE_MEMORY_MIB_MAX, RULE_UPLOAD_BYTES_MAX,
};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub log: LogConfig,
    pub actors: ActorsConfig,
    pub accounts: Vec<AccountConfig>,
    pub routing: RoutingConfig,
    pub gateways: GatewaysConfig,
    pub rules: RulesConfig,
    pub webhooks: WebhooksConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Events applied at once (each one a customer actor's turn at most).
    pub apply_concurrency: usize,
    /// Waits this long after acknowledging an event before applying it. For drills: a crash
    /// in this window must lose nothing (the next start applies the event).
    pub apply_delay_ms: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig { apply_concurrency: 64, apply_delay_ms: 0 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// A request still unanswered after this long gets a 503; the work it started goes on.
    pub request_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub path: PathBuf,
    /// sled's page cache, in MiB.
    pub cache_mib: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `RUST_LOG`-style filter.
    pub level: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActorsConfig {
    pub idle_timeout_secs: u64,
    pub resident_max: usize,
    pub mailbox_len_max: usize,
    pub sweep_interval_ms: u64,
    /// Arbiters (threads) the actors are sharded over; 0 means one per core.
    pub shards: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    pub id: String,
    #[serde(default)]
    pub api_keys: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// The gateway a charge goes to when no rule matches it.
    pub default: String,
    /// Checked in order; the first that matches a charge gives its gateways, in failover order.
    pub rules: Vec<RoutingRule>,
    pub breaker: BreakerSettings,
}

/// One circuit breaker per gateway: it opens after this many consecutive unavailability errors
/// and lets one probe through after the cool-down.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerSettings {
    pub failures_to_open: u32,
    pub cool_down_ms: u64,
}

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
}

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
}

impl MpesaGatewayConfig {
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// WebAssembly instructions (fuel) one rule call may run: the time cap, and deterministic,
    /// so a replayed call stops at the same point.
    pub fuel_per_call: u64,
    /// Linear memory one rule call may grow to, in MiB.
    pub memory_max_mib: u64,
    /// Largest component `PUT /v1/plugins/{kind}` accepts, in bytes.
    pub upload_max_bytes: u64,
    /// Rule calls that may run at once (each holds a pooled instance slot); more wait.
    pub concurrent_calls_max: u32,
    /// A folder with `pricing.wasm`, `proration.wasm` and/or `tax.wasm` replacing the bundled
    /// rules for every account; empty means the bundled rules.
    pub plugins_dir: PathBuf,
    /// ISO 3166-1 alpha-2 country the platform sells from, given to the tax rule.
    pub seller_country: String,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            fuel_per_call: 50_000_000,
            memory_max_mib: 32,
            upload_max_bytes: 4 * 1024 * 1024,
            concurrent_calls_max: 64,
            plugins_dir: PathBuf::new(),
            seller_country: "ZA".into(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            request_timeout_ms: 30_000,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig { path: PathBuf::from("./data"), cache_mib: 64 }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: LogFormat::Pretty, level: "info".into() }
    }
}

impl Default for ActorsConfig {
    fn default() -> Self {
        ActorsConfig {
            idle_timeout_secs: 300,
            resident_max: 100_000,
            mailbox_len_max: 256,
            sweep_interval_ms: 1_000,
            shards: 0,
        }
    }
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            default: "sandbox".into(),
            rules: Vec::new(),
            breaker: BreakerSettings::default(),
        }
    }
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings { failures_to_open: 5, cool_down_ms: 30_000 }
    }
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
        SandboxGatewayConfig { enabled: true, latency_ms: 0 }
    }
}

/// A configuration error: the key at fault and what is wrong, printed as one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config: `{key}`: {problem}")]
pub struct ConfigError {
    pub key: String,
    pub problem: String,
}

fn config_error(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError { key: key.to_owned(), problem: problem.into() }
}

/// Where the config comes from: `--config PATH`, else `KASSA_CONFIG`, else `config/kassa.toml`
/// if it exists, else the built-in defaults.
pub fn config_path(
    explicit: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_owned());
    }
    if let Some(path) = env("KASSA_CONFIG") {
        return Some(PathBuf::from(path));
    }
    let default = PathBuf::from("config/kassa.toml");
    default.exists().then_some(default)
}

impl Config {
    /// Loads the file (if any), applies the environment, and checks every value.
    pub fn load(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| {
                    config_error(&path.display().to_string(), error.to_string())
                })?;
                Config::parse(&text)?
            }
            None => Config::default(),
        };
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let deserializer = toml::de::Deserializer::parse(text).map_err(|error| {
            let line = error.span().map_or(1, |span| text[..span.start].matches('\n').count() + 1);
            config_error(&format!("line {line}"), error.message().to_owned())
        })?;
        serde_path_to_error::deserialize(deserializer).map_err(|error| {
            let key = error.path().to_string();
            let key = if key == "." { "(file)".to_owned() } else { key };
            config_error(&key, error.into_inner().message().to_owned())
        })
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(listen) = env("KASSA_LISTEN") {
            self.server.listen = listen.parse().map_err(|_| {
                config_error(
                    "KASSA_LISTEN",
                    format!("`{listen}` is not an address like 127.0.0.1:8080"),
                )
            })?;
        }
        if let Some(path) = env("KASSA_DATA_DIR") {
            self.storage.path = PathBuf::from(path);
        }
        if let Some(level) = env("KASSA_LOG") {
            self.log.level = level;
        }
        if let Some(gateway) = env("KASSA_DEFAULT_GATEWAY") {
            self.routing.default = gateway;
        }
        if let Some(key) = env("KASSA_API_KEY") {
            self.default_account_mut().api_keys.push(key);
        }
        self.apply_gateway_env(env);
        Ok(())
    }

    /// The gateways' `KASSA_STRIPE_*` / `KASSA_MPESA_*` variables (API.md, "Running").
    fn apply_gateway_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        let stripe = &mut self.gateways.stripe;
        let mpesa = &mut self.gateways.mpesa;
        let secrets: [(&str, &mut SecretValue); 6] = [
            ("KASSA_STRIPE_SECRET_KEY", &mut stripe.secret_key),
            ("KASSA_STRIPE_WEBHOOK_SECRET", &mut stripe.webhook_secret),
            ("KASSA_MPESA_CONSUMER_KEY", &mut mpesa.consumer_key),
            ("KASSA_MPESA_CONSUMER_SECRET", &mut mpesa.consumer_secret),
            ("KASSA_MPESA_PASSKEY", &mut mpesa.passkey),
            ("KASSA_MPESA_CALLBACK_TOKEN", &mut mpesa.callback_token),
        ];
        for (name, slot) in secrets {
            if let Some(value) = env(name) {
                *slot = SecretValue::new(value);
            }
        }
        let texts: [(&str, &mut String); 4] = [
            ("KASSA_STRIPE_API_BASE", &mut stripe.api_base),
            ("KASSA_MPESA_SHORTCODE", &mut mpesa.shortcode),
            ("KASSA_MPESA_API_BASE", &mut mpesa.api_base),
            ("KASSA_MPESA_CALLBACK_BASE", &mut mpesa.callback_base),
        ];
        for (name, slot) in texts {
            if let Some(value) = env(name) {
                *slot = value;
            }
        }
    }

    fn default_account_mut(&mut self) -> &mut AccountConfig {
        let position = self.accounts.iter().position(|account| account.id == AccountId::DEFAULT);
        let index = position.unwrap_or_else(|| {
            self.accounts
                .push(AccountConfig { id: AccountId::DEFAULT.into(), api_keys: Vec::new() });
            self.accounts.len() - 1
        });
        &mut self.accounts[index]
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let positive = |key: &str, value: u64| match value {
            0 => Err(config_error(key, "must be at least 1")),
            _ => Ok(()),
        };
        positive("server.request_timeout_ms", self.server.request_timeout_ms)?;
        positive("actors.idle_timeout_secs", self.actors.idle_timeout_secs)?;
        positive("storage.cache_mib", self.storage.cache_mib)?;
        positive("actors.resident_max", self.actors.resident_max as u64)?;
        positive("actors.mailbox_len_max", self.actors.mailbox_len_max as u64)?;
        positive("actors.sweep_interval_ms", self.actors.sweep_interval_ms)?;
        positive("gateways.timeout_ms", self.gateways.timeout_ms)?;
        positive("webhooks.apply_concurrency", self.webhooks.apply_concurrency as u64)?;
        positive("gateways.reconcile_after_secs", self.gateways.reconcile_after_secs)?;
        if self.gateways.reconcile_after_secs > RECONCILE_AFTER_SECS_MAX {
            return Err(config_error(
                "gateways.reconcile_after_secs",
                format!("must be at most {RECONCILE_AFTER_SECS_MAX}"),
            ));
        }
        if self.storage.path.as_os_str().is_empty() {
            return Err(config_error("storage.path", "must not be empty"));
        }
        if let Err(error) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(config_error("log.level", error.to_string()));
        }
        self.validate_accounts()?;
        self.validate_rules()?;
        self.validate_stripe()?;
        self.validate_mpesa()?;
        self.validate_routing()
    }

    /// The gateways this config turns on, by the names routing uses.
    pub fn enabled_gateways(&self) -> Vec<&'static str> {
        let gateways = &self.gateways;
        [
            ("sandbox", gateways.sandbox.enabled),
            ("stripe", gateways.stripe.enabled()),
            ("mpesa", gateways.mpesa.enabled()),
        ]
        .into_iter()
        .filter_map(|(name, enabled)| enabled.then_some(name))
        .collect()
    }

    fn validate_stripe(&self) -> Result<(), ConfigError> {
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

    fn validate_mpesa(&self) -> Result<(), ConfigError> {
        let mpesa = &self.gateways.mpesa;
        http_url("gateways.mpesa.api_base", &mpesa.api_base)?;
        within("gateways.mpesa.timeout_ms", mpesa.timeout_ms, GATEWAY_TIMEOUT_MS_MAX)?;
        if !mpesa.enabled() {
            return Ok(());
        }
        if let Some((key, _)) = mpesa.credentials().into_iter().find(|(_, set)| !set) {
            return Err(config_error(key, "is required when the other M-Pesa credentials are set"));
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

    fn validate_routing(&self) -> Result<(), ConfigError> {
        let enabled = self.enabled_gateways();
        let routing = &self.routing;
        if !enabled.contains(&routing.default.as_str()) {
            return Err(config_error(
                "routing.default",
                format!(
                    "gateway `{}` is not enabled (enabled: {})",
                    routing.default,
                    enabled.join(", ")
                ),
            ));
        }
        within(
            "routing.breaker.failures_to_open",
            u64::from(routing.breaker.failures_to_open),
            u64::from(u32::MAX),
        )?;
        within(
            "routing.breaker.cool_down_ms",
            routing.breaker.cool_down_ms,
            RECONCILE_AFTER_SECS_MAX * 1000,
        )?;
        for (index, rule) in routing.rules.iter().enumerate() {
            validate_routing_rule(index, rule, &enabled)?;
        }
        Ok(())
    }

    fn validate_rules(&self) -> Result<(), ConfigError> {
        let rules = &self.rules;
        within("rules.fuel_per_call", rules.fuel_per_call, RULE_FUEL_PER_CALL_MAX)?;
        within("rules.memory_max_mib", rules.memory_max_mib, RULE_MEMORY_MIB_MAX)?;
        within("rules.upload_max_bytes", rules.upload_max_bytes, RULE_UPLOAD_BYTES_MAX)?;
        within(
            "rules.concurrent_calls_max",
            u64::from(rules.concurrent_calls_max),
            RULE_CONCURRENT_CALLS_MAX,
        )?;
        let country = &rules.seller_country;
        if !(country.len() == 2 && country.bytes().all(|byte| byte.is_ascii_uppercase())) {
            return Err(config_error(
                "rules.seller_country",
                format!("`{country}` is not an upper-case ISO 3166-1 alpha-2 code such as ZA"),
            ));
        }
        Ok(())
    }

    fn validate_accounts(&self) -> Result<(), ConfigError> {
        let mut seen_ids = std::collections::HashSet::new();
        let mut seen_keys = std::collections::HashSet::new();
        for (index, account) in self.accounts.iter().enumerate() {
            let key = format!("accounts[{index}].id");
            if AccountId::parse(&account.id).is_none() {
                return Err(config_error(
                    &key,
                    "must be `acct_` and 1 to 64 letters, digits or `_`",
                ));
            }
            if !seen_ids.insert(&account.id) {
                return Err(config_error(&key, format!("`{}` is listed twice", account.id)));
            }
            for api_key in &account.api_keys {
                let key = format!("accounts[{index}].api_keys");
                if !is_valid_api_key(api_key) {
                    return Err(config_error(
                        &key,
                        "a key is `sk_` and at least 16 letters, digits or `_`",
                    ));
                }
                if !seen_keys.insert(api_key) {
                    return Err(config_error(&key, "a key is given to more than one account"));
                }
            }
        }
        Ok(())
    }

    pub fn breaker(&self) -> kassa_gateways::router::BreakerConfig {
        kassa_gateways::router::BreakerConfig {
            failures_to_open: self.routing.breaker.failures_to_open,
            cool_down: Duration::from_millis(self.routing.breaker.cool_down_ms),
        }
    }

    pub fn gateway_timeout(&self) -> Duration {
        Duration::from_millis(self.gateways.timeout_ms)
    }

    pub fn reconcile_after(&self) -> Duration {
        Duration::from_secs(self.gateways.reconcile_after_secs)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.actors.idle_timeout_secs)
    }
}

fn within(key: &str, value: u64, max: u64) -> Result<(), ConfigError> {
    match value {
        0 => Err(config_error(key, "must be at least 1")),
        value if value > max => Err(config_error(key, format!("must be at most {max}"))),
        _ => Ok(()),
    }
}

fn http_url(key: &str, url: &str) -> Result<(), ConfigError> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.contains(char::is_whitespace) => Ok(()),
        _ => Err(config_error(key, format!("`{url}` is not an http(s) URL"))),
    }
}

/// The router checks the same again when it is built; checking here names the key and stops
/// start-up before anything is opened.
fn validate_routing_rule(
    index: usize,
    rule: &RoutingRule,
    enabled: &[&'static str],
) -> Result<(), ConfigError> {
    let key = |field: &str| format!("routing.rules[{index}].{field}");
    if rule.gateways.is_empty() {
        return Err(config_error(&key("gateways"), "must name at least one gateway"));
    }
    if let Some(name) = rule.gateways.iter().find(|name| !enabled.contains(&name.as_str())) {
        return Err(config_error(
            &key("gateways"),
            format!("gateway `{name}` is not enabled (enabled: {})", enabled.join(", ")),
        ));
    }
    if let Some(code) = rule.currencies.iter().find(|code| {
        code.len() != 3
            || !code.bytes().all(|byte| byte.is_ascii_lowercase())
            || iso_currency::Currency::from_code(&code.to_ascii_uppercase()).is_none()
    }) {
        return Err(config_error(
            &key("currencies"),
            format!("`{code}` is not a lowercase ISO-4217 code such as `kes`"),
        ));
    }
    if let Some(country) = rule.countries.iter().find(|country| {
        !(country.len() == 2 && country.bytes().all(|byte| byte.is_ascii_uppercase()))
    }) {
        return Err(config_error(
            &key("countries"),
            format!("`{country}` is not an upper-case ISO 3166-1 alpha-2 code such as KE"),
        ));
    }
    if let (Some(min), Some(max)) = (rule.amount_minor_min, rule.amount_minor_max)
        && min > max
    {
        return Err(config_error(&key("amount_minor_min"), "is above amount_minor_max"));
    }
    Ok(())
}

pub fn is_valid_api_key(key: &str) -> bool {
    key.strip_prefix("sk_").is_some_and(|rest| {
        rest.len() >= 16
            && rest.len() <= 200
            && rest.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_shipped_config_file_is_the_defaults() {
        let shipped = include_str!("../../config/kassa.toml");
        let config = Config::parse(shipped).unwrap();
        let defaults = Config::default();
        assert_eq!(format!("{config:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let error = Config::parse("[actors]\nresident_max = \"many\"\n").unwrap_err();
        assert_eq!(error.key, "actors.resident_max");
        let error = Config::parse("[server]\nlisten = \"nowhere\"\n").unwrap_err();
        assert_eq!(error.key, "server.listen");
        let error = Config::parse("[server]\nlisten_on = \"127.0.0.1:1\"\n").unwrap_err();
        assert_eq!(error.key, "server.listen_on");
    }

    #[test]
    fn validation_names_its_key() {
        let mut config = Config::default();
        config.actors.resident_max = 0;
        assert_eq!(config.validate().unwrap_err().key, "actors.resident_max");
        let mut config = Config::default();
        config.routing.default = "paypal".into();
        assert_eq!(config.validate().unwrap_err().key, "routing.default");
        let mut config = Config::default();
        config.accounts.push(AccountConfig { id: "acct_a".into(), api_keys: vec!["short".into()] });
        assert_eq!(config.validate().unwrap_err().key, "accounts[0].api_keys");
        let mut config = Config::default();
        config.rules.seller_country = "za".into();
        assert_eq!(config.validate().unwrap_err().key, "rules.seller_country");
        let mut config = Config::default();
        config.rules.memory_max_mib = 0;
        assert_eq!(config.validate().unwrap_err().key, "rules.memory_max_mib");
    }

    #[test]
    fn environment_overrides_the_file() {
        let env = |name: &str| match name {
            "KASSA_LISTEN" => Some("127.0.0.1:9999".to_owned()),
            "KASSA_API_KEY" => Some("sk_test_0123456789abcdef".to_owned()),
            _ => None,
        };
        let config = Config::load(None, &env).unwrap();
        assert_eq!(config.server.listen.port(), 9999);
        assert_eq!(config.accounts[0].id, AccountId::DEFAULT);
        assert_eq!(config.accounts[0].api_keys, vec!["sk_test_0123456789abcdef".to_owned()]);
        assert!(Config::load(None, &no_env).unwrap().accounts.is_empty());
        let bad = |name: &str| (name == "KASSA_LISTEN").then(|| "here".to_owned());
        assert_eq!(Config::load(None, &bad).unwrap_err().key, "KASSA_LISTEN");
    }

    const STRIPE_KEY: &str = "sk_test_very_secret_0123456789";
    const CALLBACK_TOKEN: &str = "callback-token-very-secret-0123";

    fn gateway_env(name: &str) -> Option<String> {
        let value = match name {
            "KASSA_STRIPE_SECRET_KEY" => STRIPE_KEY,
            "KASSA_STRIPE_API_BASE" => "http://127.0.0.1:12111",
            "KASSA_MPESA_CONSUMER_KEY" => "consumer-key-secret",
            "KASSA_MPESA_CONSUMER_SECRET" => "consumer-secret-secret",
            "KASSA_MPESA_SHORTCODE" => "174379",
            "KASSA_MPESA_PASSKEY" => "passkey-secret",
            "KASSA_MPESA_CALLBACK_BASE" => "https://kassa.example.com",
            "KASSA_MPESA_CALLBACK_TOKEN" => CALLBACK_TOKEN,
            "KASSA_DEFAULT_GATEWAY" => "stripe",
            _ => return None,
        };
        Some(value.to_owned())
    }

    #[test]
    fn gateways_are_switched_on_by_their_credentials_from_the_environment() {
        assert_eq!(Config::load(None, &no_env).unwrap().enabled_gateways(), vec!["sandbox"]);
        let config = Config::load(None, &gateway_env).unwrap();
        assert_eq!(config.enabled_gateways(), vec!["sandbox", "stripe", "mpesa"]);
        assert_eq!(config.routing.default, "stripe");
        assert_eq!(config.gateways.stripe.secret_key.expose(), STRIPE_KEY);
        assert_eq!(config.gateways.stripe.api_base, "http://127.0.0.1:12111");
        assert_eq!(config.gateways.mpesa.shortcode, "174379");
        // Debug output (logs, panics) never shows a secret.
        let shown = format!("{config:?}");
        for secret in [STRIPE_KEY, CALLBACK_TOKEN, "consumer-key-secret", "passkey-secret"] {
            assert!(!shown.contains(secret), "{secret} is printed");
        }
    }

    #[test]
    fn incomplete_gateway_settings_name_the_key_at_fault() {
        let without = |missing: &'static str| {
            move |name: &str| if name == missing { None } else { gateway_env(name) }
        };
        for (missing, key) in [
            ("KASSA_MPESA_PASSKEY", "gateways.mpesa.passkey"),
            ("KASSA_MPESA_SHORTCODE", "gateways.mpesa.shortcode"),
            ("KASSA_MPESA_CALLBACK_BASE", "gateways.mpesa.callback_base"),
        ] {
            assert_eq!(Config::load(None, &without(missing)).unwrap_err().key, key);
        }
        // No callback token: the engine generates one at start.
        assert!(Config::load(None, &without("KASSA_MPESA_CALLBACK_TOKEN")).is_ok());
        let short_token = |name: &str| match name {
            "KASSA_MPESA_CALLBACK_TOKEN" => Some("short".to_owned()),
            other => gateway_env(other),
        };
        let error = Config::load(None, &short_token).unwrap_err();
        assert_eq!(error.key, "gateways.mpesa.callback_token");
        let stripe_off = without("KASSA_STRIPE_SECRET_KEY");
        assert_eq!(Config::load(None, &stripe_off).unwrap_err().key, "routing.default");
        let bad_key = |name: &str| match name {
            "KASSA_STRIPE_SECRET_KEY" => Some("pk_test_publishable".to_owned()),
            other => gateway_env(other),
        };
        let error = Config::load(None, &bad_key).unwrap_err();
        assert_eq!(error.key, "gateways.stripe.secret_key");
        assert!(!error.to_string().contains("pk_test_publishable"), "{error}");
    }

    #[test]
    fn routing_rules_are_read_and_checked_against_the_enabled_gateways() {
        let text = r#"
[routing]
default = "sandbox"
[[routing.rules]]
currencies = ["kes"]
method_types = ["mpesa"]
countries = ["KE"]
amount_minor_max = 15000000
gateways = ["mpesa"]
[[routing.rules]]
method_types = ["card"]
gateways = ["stripe", "sandbox"]
"#;
        let mut config = Config::parse(text).unwrap();
        assert_eq!(config.routing.rules.len(), 2);
        assert_eq!(config.routing.rules[1].gateways, vec!["stripe", "sandbox"]);
        assert_eq!(config.validate().unwrap_err().key, "routing.rules[0].gateways");
        config.apply_env(&gateway_env).unwrap();
        config.validate().unwrap();
        config.routing.rules[0].currencies = vec!["KES".into()];
        assert_eq!(config.validate().unwrap_err().key, "routing.rules[0].currencies");
        let error = Config::parse("[[routing.rules]]\ngateways = [\"sandbox\"]\nweight = 1\n");
        assert_eq!(error.unwrap_err().key, "routing.rules[0].weight");
    }
}
