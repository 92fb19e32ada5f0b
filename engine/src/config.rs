//! Typed configuration: `config/kassa.toml` (every key documented there with its default),
//! then `KASSA_*` environment overrides. A bad value stops start-up with one line naming the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::domain::AccountId;
use crate::limits::{
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
    pub default: String,
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxGatewayConfig {
    pub enabled: bool,
    pub latency_ms: u64,
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
        RoutingConfig { default: "sandbox".into() }
    }
}

impl Default for GatewaysConfig {
    fn default() -> Self {
        GatewaysConfig {
            timeout_ms: 10_000,
            reconcile_after_secs: 60,
            sandbox: SandboxGatewayConfig::default(),
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
        Ok(())
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
        match self.routing.default.as_str() {
            "sandbox" if self.gateways.sandbox.enabled => Ok(()),
            "sandbox" => Err(config_error("routing.default", "the sandbox gateway is disabled")),
            other => Err(config_error(
                "routing.default",
                format!("unknown gateway `{other}` (this build has: sandbox)"),
            )),
        }
    }

    fn validate_rules(&self) -> Result<(), ConfigError> {
        let rules = &self.rules;
        let within = |key: &str, value: u64, max: u64| match value {
            0 => Err(config_error(key, "must be at least 1")),
            value if value > max => Err(config_error(key, format!("must be at most {max}"))),
            _ => Ok(()),
        };
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
}
