//! Typed configuration: `config/kassa.toml` (every key documented there with its default),
//! then `KASSA_*` environment overrides. A bad value stops start-up with one line naming the key.
//!
//! [`sections`] holds the plain sections, [`gateways`] the gateways' (and their secrets),
//! [`checks`] the checks that need more than one value, [`server`] the connection and rate
//! limits.

mod checks;
mod gateways;
mod sections;
mod server;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::data_key::{DataKey, DataKeyError};
use crate::domain::AccountId;
use crate::limits::RECONCILE_AFTER_SECS_MAX;

pub use checks::is_valid_api_key;
pub use gateways::{
    GatewaysConfig, MinAmounts, MpesaGatewayConfig, SandboxGatewayConfig, SecretValue,
    StripeGatewayConfig,
};
pub use sections::{
    AccountConfig, AccountsConfig, ActorsConfig, BillingConfig, BreakerSettings, ClusterConfig,
    DunningConfig, FinalAction, LimitsConfig, LogConfig, LogFormat, MetricsConfig, MetricsListen,
    PostgresConfig, RateLimitsConfig, RoutingConfig, RulesConfig, SellerConfig, ServerConfig,
    StorageBackend, StorageConfig, WebhookRetryConfig, WebhooksConfig,
};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub cluster: ClusterConfig,
    pub log: LogConfig,
    pub actors: ActorsConfig,
    pub accounts: AccountsConfig,
    pub routing: RoutingConfig,
    pub gateways: GatewaysConfig,
    pub rules: RulesConfig,
    pub webhooks: WebhooksConfig,
    pub billing: BillingConfig,
    pub limits: LimitsConfig,
    pub metrics: MetricsConfig,
    /// Adapters the embedding program runs beside the built-in ones (not read from the file).
    #[serde(skip)]
    pub registered_gateways: Vec<&'static str>,
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
        Config::load_with_gateways(path, env, &[])
    }

    /// [`Config::load`] for an engine that also runs the adapters named `registered` (see
    /// `gateway_setup::Registration`): routing may name them.
    pub fn load_with_gateways(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        registered: &[&'static str],
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
        config.registered_gateways = registered.to_vec();
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
        self.apply_server_env(env)?;
        if let Some(listen) = env("KASSA_METRICS_LISTEN") {
            self.metrics.listen = MetricsListen::try_from(listen)
                .map_err(|problem| config_error("KASSA_METRICS_LISTEN", problem))?;
        }
        if let Some(path) = env("KASSA_DATA_DIR") {
            self.storage.path = PathBuf::from(path);
        }
        if let Some(backend) = env("KASSA_STORAGE_BACKEND") {
            self.storage.backend = StorageBackend::parse(&backend).ok_or_else(|| {
                config_error(
                    "KASSA_STORAGE_BACKEND",
                    format!("`{backend}` is not sled or postgres"),
                )
            })?;
        }
        if let Some(url) = env("KASSA_DATABASE_URL") {
            self.storage.postgres.url = SecretValue::new(url);
        }
        if let Some(lease) = env("KASSA_CLUSTER_LEASE_MS") {
            self.cluster.lease_ms = lease.parse().map_err(|_| {
                config_error(
                    "KASSA_CLUSTER_LEASE_MS",
                    format!("`{lease}` is not a number of milliseconds"),
                )
            })?;
        }
        if let Some(key) = env("KASSA_DATA_KEY") {
            self.storage.data_key = SecretValue::new(key);
        }
        if let Some(keys) = env("KASSA_PREVIOUS_DATA_KEYS") {
            self.storage.previous_data_keys = keys
                .split(',')
                .filter(|key| !key.trim().is_empty())
                .map(|key| SecretValue::new(key.trim()))
                .collect();
        }
        if let Some(seal) = env("KASSA_SEAL_PERSONAL_DATA") {
            self.storage.seal_personal_data = match seal.as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(config_error(
                        "KASSA_SEAL_PERSONAL_DATA",
                        format!("`{seal}` is not true or false"),
                    ));
                }
            };
        }
        if let Some(days) = env("KASSA_ARCHIVE_AFTER_DAYS") {
            self.storage.archive_after_days = Some(days.parse().map_err(|_| {
                config_error(
                    "KASSA_ARCHIVE_AFTER_DAYS",
                    format!("`{days}` is not a number of days"),
                )
            })?);
        }
        if let Some(level) = env("KASSA_LOG") {
            self.log.level = level;
        }
        if let Some(gateway) = env("KASSA_DEFAULT_GATEWAY") {
            self.routing.default = gateway;
        }
        if let Some(key) = env("KASSA_ADMIN_KEY") {
            self.accounts.admin_key = SecretValue::new(key);
        }
        if let Some(key) = env("KASSA_API_KEY") {
            self.default_account_mut().api_keys.push(key);
        }
        self.apply_gateway_env(env);
        Ok(())
    }

    fn default_account_mut(&mut self) -> &mut AccountConfig {
        let accounts = &mut self.accounts.list;
        let position = accounts.iter().position(|account| account.id == AccountId::DEFAULT);
        let index = position.unwrap_or_else(|| {
            accounts.push(AccountConfig { id: AccountId::DEFAULT.into(), api_keys: Vec::new() });
            accounts.len() - 1
        });
        &mut accounts[index]
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let positive = |key: &str, value: u64| match value {
            0 => Err(config_error(key, "must be at least 1")),
            _ => Ok(()),
        };
        positive("server.request_timeout_ms", self.server.request_timeout_ms)?;
        check_public_url(&self.server.public_url)?;
        self.validate_server()?;
        positive("actors.idle_timeout_secs", self.actors.idle_timeout_secs)?;
        positive("storage.cache_mib", self.storage.cache_mib)?;
        positive("actors.resident_max", self.actors.resident_max as u64)?;
        positive("actors.mailbox_len_max", self.actors.mailbox_len_max as u64)?;
        positive("actors.sweep_interval_ms", self.actors.sweep_interval_ms)?;
        positive("gateways.timeout_ms", self.gateways.timeout_ms)?;
        positive("webhooks.apply_concurrency", self.webhooks.apply_concurrency as u64)?;
        positive("gateways.reconcile_after_secs", self.gateways.reconcile_after_secs)?;
        // A sandbox slower than the engine waits for it makes every charge an unknown outcome
        // left to reconcile: never what a developer modelling latency means to set up.
        if self.gateways.sandbox.latency_ms >= self.gateways.timeout_ms {
            return Err(config_error(
                "gateways.sandbox.latency_ms",
                format!(
                    "must be below gateways.timeout_ms ({} ms): the engine stops waiting for \
                     the gateway then",
                    self.gateways.timeout_ms
                ),
            ));
        }
        positive("billing.scheduler_interval_ms", self.billing.scheduler_interval_ms)?;
        self.validate_dunning()?;
        self.validate_bank_transfer()?;
        self.validate_archival()?;
        if self.gateways.reconcile_after_secs > RECONCILE_AFTER_SECS_MAX {
            return Err(config_error(
                "gateways.reconcile_after_secs",
                format!("must be at most {RECONCILE_AFTER_SECS_MAX}"),
            ));
        }
        if self.storage.path.as_os_str().is_empty() {
            return Err(config_error("storage.path", "must not be empty"));
        }
        self.validate_data_key()?;
        self.validate_postgres()?;
        positive("cluster.lease_ms", self.cluster.lease_ms)?;
        if let Err(error) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(config_error("log.level", error.to_string()));
        }
        self.validate_accounts()?;
        self.validate_rules()?;
        self.validate_stripe()?;
        self.validate_mpesa()?;
        self.validate_gateway_billing()?;
        self.validate_routing()
    }

    /// A configured data key (file or `KASSA_DATA_KEY`) is 32 bytes of base64. Checked here so a
    /// bad one stops start-up before the data directory is opened.
    fn validate_data_key(&self) -> Result<(), ConfigError> {
        if let Some(Err(error)) = self.data_key() {
            return Err(config_error(
                "storage.data_key",
                format!(
                    "{error} (as set here or by KASSA_DATA_KEY); make one with \
                     `openssl rand -base64 32`"
                ),
            ));
        }
        for (index, key) in self.storage.previous_data_keys.iter().enumerate() {
            if let Err(error) = DataKey::from_base64(key.expose()) {
                return Err(config_error(
                    &format!("storage.previous_data_keys[{index}]"),
                    format!("{error} (as set here or by KASSA_PREVIOUS_DATA_KEYS)"),
                ));
            }
        }
        if !self.storage.previous_data_keys.is_empty() && self.data_key().is_none() {
            return Err(config_error(
                "storage.previous_data_keys",
                "rotating needs the new key in storage.data_key (or KASSA_DATA_KEY)",
            ));
        }
        Ok(())
    }

    /// PostgreSQL needs its URL, and a data key every node shares: a key generated into one
    /// node's data directory could not open what the others seal.
    fn validate_postgres(&self) -> Result<(), ConfigError> {
        if self.storage.backend != StorageBackend::Postgres {
            return Ok(());
        }
        let url = self.storage.postgres.url.expose();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(config_error(
                "storage.postgres.url",
                "the postgres backend needs postgres://user:password@host:port/database \
                 (as set here or by KASSA_DATABASE_URL)",
            ));
        }
        if self.data_key().is_none() {
            return Err(config_error(
                "storage.data_key",
                "the postgres backend needs the data key every node shares (as set here or by \
                 KASSA_DATA_KEY); make one with `openssl rand -base64 32`",
            ));
        }
        Ok(())
    }

    /// The data keys rotated out, checked when the config was read.
    pub fn previous_data_keys(&self) -> Vec<DataKey> {
        let keys = &self.storage.previous_data_keys;
        keys.iter().filter_map(|key| DataKey::from_base64(key.expose()).ok()).collect()
    }

    /// The configured data key, if one is: unset means the engine keeps its own (sled).
    pub fn data_key(&self) -> Option<Result<DataKey, DataKeyError>> {
        let text = self.storage.data_key.expose();
        (!text.trim().is_empty()).then(|| DataKey::from_base64(text))
    }

    /// The gateways this config turns on, and those the embedding program registered, by the
    /// names routing uses.
    pub fn enabled_gateways(&self) -> Vec<&'static str> {
        let gateways = &self.gateways;
        [
            (kassa_gateways::sandbox::NAME, gateways.sandbox.enabled),
            (kassa_gateways::stripe::NAME, gateways.stripe.enabled()),
            (kassa_gateways::mpesa::NAME, gateways.mpesa.enabled()),
        ]
        .into_iter()
        .filter_map(|(name, enabled)| enabled.then_some(name))
        .chain(self.registered_gateways.iter().copied())
        .collect()
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

/// A public URL is a base buyers' browsers can reach: `http(s)://host[:port][/path]`, no trailing
/// slash, nothing that would end up inside an HTML attribute unescaped.
fn check_public_url(url: &str) -> Result<(), ConfigError> {
    if url.is_empty() {
        return Ok(());
    }
    let well_formed = (url.starts_with("https://") || url.starts_with("http://"))
        && !url.ends_with('/')
        && url.bytes().all(|byte| byte.is_ascii_graphic() && !b"\"'<>`".contains(&byte));
    if well_formed {
        Ok(())
    } else {
        Err(config_error(
            "server.public_url",
            format!("`{url}` is not a base URL like https://pay.example.com (no trailing slash)"),
        ))
    }
}
