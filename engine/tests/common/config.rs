//! The config file a test's engine starts with, and the storage it runs on.

use super::*;

/// The config keys tests vary; everything else stays at the engine's defaults.
#[derive(Clone, Debug)]
pub struct Config {
    pub idle_timeout_secs: u64,
    pub resident_max: u64,
    pub mailbox_len_max: u64,
    pub sweep_interval_ms: u64,
    pub gateway_timeout_ms: u64,
    pub reconcile_after_secs: u64,
    pub sandbox_latency_ms: u64,
    /// `rules.seller_country`: the country the tax rule sells from.
    pub seller_country: &'static str,
    /// `routing.default`.
    pub default_gateway: &'static str,
    /// Lines added to the `[rules]` table as they are (`call_timeout_ms = 100`).
    pub rules_toml: String,
    /// TOML appended to the file as it is: gateway sections, routing rules, breaker settings.
    pub extra_toml: String,
    /// `key = value` lines of the `[server]` table (connection limits).
    pub server_toml: String,
    /// `accounts.admin_key`: the admin routes exist only with one.
    pub admin_key: Option<&'static str>,
    /// `key = value` lines of the `[storage]` table.
    pub storage_toml: String,
    /// `key = value` lines of the `[gateways.sandbox]` table (its fees).
    pub sandbox_toml: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            idle_timeout_secs: 300,
            resident_max: 100_000,
            mailbox_len_max: 256,
            sweep_interval_ms: 1_000,
            gateway_timeout_ms: 10_000,
            reconcile_after_secs: 60,
            sandbox_latency_ms: 0,
            seller_country: "ZA",
            default_gateway: "sandbox",
            rules_toml: String::new(),
            extra_toml: String::new(),
            server_toml: String::new(),
            admin_key: None,
            storage_toml: String::new(),
            sandbox_toml: String::new(),
        }
    }
}

impl Config {
    pub fn with_sandbox_latency_ms(mut self, latency_ms: u64) -> Self {
        self.sandbox_latency_ms = latency_ms;
        self
    }

    pub fn with_seller_country(mut self, country: &'static str) -> Self {
        self.seller_country = country;
        self
    }

    pub fn with_gateway_timeout_ms(mut self, timeout_ms: u64) -> Self {
        self.gateway_timeout_ms = timeout_ms;
        self
    }

    pub fn with_reconcile_after_secs(mut self, secs: u64) -> Self {
        self.reconcile_after_secs = secs;
        self
    }

    pub fn with_default_gateway(mut self, gateway: &'static str) -> Self {
        self.default_gateway = gateway;
        self
    }

    /// Adds `lines` (`key = value`, one a line) to the `[rules]` table.
    pub fn with_rules_toml(mut self, lines: &str) -> Self {
        self.rules_toml.push_str(lines);
        self.rules_toml.push('\n');
        self
    }

    /// Appends `toml` (whole tables: `[gateways.stripe]`, `[[routing.rules]]`, …) to the file.
    /// A `key = value` line of the `[storage]` table (`seal_personal_data = false`).
    pub fn with_storage(mut self, line: &str) -> Self {
        self.storage_toml.push_str(line);
        self.storage_toml.push('\n');
        self
    }

    /// A `key = value` line of the `[gateways.sandbox]` table (`fee_bps = 290`).
    pub fn with_sandbox(mut self, line: &str) -> Self {
        self.sandbox_toml.push_str(line);
        self.sandbox_toml.push('\n');
        self
    }

    /// The admin key: the accounts are then written as an `[accounts]` table beside it.
    pub fn with_admin_key(mut self) -> Self {
        self.admin_key = Some(ADMIN_KEY);
        self
    }

    pub fn with_toml(mut self, toml: &str) -> Self {
        self.extra_toml.push_str(toml);
        self.extra_toml.push('\n');
        self
    }

    /// Sets `[server] key = value` (`value` written as TOML), replacing an earlier setting.
    pub fn with_server(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        let setting = format!("{key} = ");
        let kept: Vec<&str> =
            self.server_toml.lines().filter(|line| !line.starts_with(&setting)).collect();
        self.server_toml = kept.iter().map(|line| format!("{line}\n")).collect();
        self.server_toml.push_str(&format!("{setting}{value}\n"));
        self
    }

    pub(super) fn to_toml(&self, data_dir: &Path) -> String {
        let Config {
            idle_timeout_secs,
            resident_max,
            mailbox_len_max,
            sweep_interval_ms,
            gateway_timeout_ms,
            reconcile_after_secs,
            sandbox_latency_ms,
            seller_country,
            default_gateway,
            rules_toml,
            extra_toml,
            server_toml,
            admin_key,
            storage_toml,
            sandbox_toml,
        } = self;
        let data_dir = data_dir.display();
        let accounts = match admin_key {
            None => format!(
                "[[accounts]]\nid = \"{ACCOUNT_A}\"\napi_keys = [\"{KEY_A}\"]\n\n\
                 [[accounts]]\nid = \"{ACCOUNT_B}\"\napi_keys = [\"{KEY_B}\"]\n"
            ),
            Some(admin_key) => format!(
                "[accounts]\nadmin_key = \"{admin_key}\"\n\n\
                 [[accounts.list]]\nid = \"{ACCOUNT_A}\"\napi_keys = [\"{KEY_A}\"]\n\n\
                 [[accounts.list]]\nid = \"{ACCOUNT_B}\"\napi_keys = [\"{KEY_B}\"]\n"
            ),
        };
        format!(
            r#"# Written by Kassa's integration test harness.
[server]
listen = "127.0.0.1:0"
{server_toml}
[storage]
path = '{data_dir}'
{storage_toml}
[actors]
idle_timeout_secs = {idle_timeout_secs}
resident_max = {resident_max}
mailbox_len_max = {mailbox_len_max}
sweep_interval_ms = {sweep_interval_ms}

[gateways]
timeout_ms = {gateway_timeout_ms}
reconcile_after_secs = {reconcile_after_secs}

[gateways.sandbox]
enabled = true
latency_ms = {sandbox_latency_ms}
{sandbox_toml}
[routing]
default = "{default_gateway}"

[rules]
seller_country = "{seller_country}"
{rules_toml}

{accounts}
{extra_toml}"#
        )
    }
}

impl Config {
    /// Pins sled, whatever `KASSA_TEST_STORAGE` says: for a test of sled's own machinery (its
    /// group commit held back by `hold_flushes`).
    pub fn on_sled(self) -> Self {
        self.with_storage("backend = \"sled\"")
    }

    /// The PostgreSQL database at `url`, sealed with `data_key` (every node of a cluster test
    /// is given the same).
    pub fn on_postgres(self, url: &str, data_key: &str) -> Self {
        self.with_storage("backend = \"postgres\"")
            .with_storage(&format!("data_key = \"{data_key}\""))
            .with_storage("[storage.postgres]")
            .with_storage(&format!("url = \"{url}\""))
    }
}

/// A data key the cluster tests give every node (base64 of 32 bytes).
pub const CLUSTER_DATA_KEY: &str = "S2Fzc2EgY2x1c3RlciB0ZXN0IGRhdGEga2V5ICEhISE=";

/// A data key for engines the harness puts on PostgreSQL (base64 of 32 bytes).
const POSTGRES_DATA_KEY: &str = "S2Fzc2EgdGVzdHMgb24gUG9zdGdyZVNRTCAhISEhISE=";

/// `KASSA_TEST_STORAGE=postgres`: the storage settings that put an engine on a fresh database.
pub(super) fn storage_env(config: &Config) -> Vec<(&'static str, String)> {
    let postgres = std::env::var("KASSA_TEST_STORAGE").is_ok_and(|storage| storage == "postgres");
    if !postgres || config.storage_toml.contains("backend") {
        return Vec::new();
    }
    let mut env = vec![
        ("KASSA_STORAGE_BACKEND", "postgres".to_owned()),
        ("KASSA_DATABASE_URL", kassa_testkit::postgres::fresh_database()),
    ];
    if !config.storage_toml.contains("data_key") {
        env.push(("KASSA_DATA_KEY", POSTGRES_DATA_KEY.to_owned()));
    }
    env
}
