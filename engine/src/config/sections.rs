//! The plain sections of the config, with their defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use kassa_gateways::router::RoutingRule;
use serde::Deserialize;

use super::SecretValue;
use crate::limits::STORE_CACHE_BYTES_DEFAULT;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Events applied at once (each one a customer actor's turn at most).
    pub apply_concurrency: usize,
    /// Waits this long after acknowledging an event before applying it. For drills: a crash
    /// in this window must lose nothing (the next start applies the event).
    pub apply_delay_ms: u64,
    /// Outgoing: endpoints may be `http://` (else `https://` only).
    pub allow_http: bool,
    /// Outgoing: endpoints may resolve to loopback, private and link-local addresses.
    pub allow_private_networks: bool,
    pub retry: WebhookRetryConfig,
    /// Outgoing deliveries under way at once, in all.
    pub delivery_concurrency: usize,
    /// Outgoing deliveries under way at once to one endpoint.
    pub endpoint_concurrency: usize,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            apply_concurrency: 64,
            apply_delay_ms: 0,
            allow_http: false,
            allow_private_networks: false,
            retry: WebhookRetryConfig::default(),
            delivery_concurrency: 256,
            endpoint_concurrency: 64,
        }
    }
}

/// When a failed outgoing delivery is tried again: after `initial_ms`, doubling (with ±20 %
/// jitter) up to `max_ms` apart, until `give_up_after_s` after the first attempt.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookRetryConfig {
    pub initial_ms: u64,
    pub max_ms: u64,
    pub give_up_after_s: u64,
}

impl Default for WebhookRetryConfig {
    fn default() -> Self {
        WebhookRetryConfig { initial_ms: 1_000, max_ms: 3_600_000, give_up_after_s: 259_200 }
    }
}

/// `limits.*`: bounds an operator tunes on what clients may ask of the engine.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub rate: RateLimitsConfig,
    /// The largest bank statement `POST /v1/bank_statements` takes, in bytes.
    pub statement_body_max: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig { rate: RateLimitsConfig::default(), statement_body_max: 16 * 1024 * 1024 }
    }
}

/// Token buckets refilled at these rates a second, each holding two seconds of its rate (the
/// burst); 0 turns a bucket off. Off in the built-in defaults, so a benchmark measures the engine
/// and not its limits; the shipped `config/kassa.toml` sets recommended values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitsConfig {
    /// Requests a second one API key may make.
    pub per_key_rps: u32,
    /// Requests a second all keys of one account may make together.
    pub per_account_rps: u32,
    /// Deliveries a second each gateway's webhook route takes.
    pub webhooks_rps: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// A request still unanswered after this long gets a 503; the work it started goes on.
    pub request_timeout_ms: u64,
    /// Connections served at once; past it, new ones wait in the listen queue until one closes.
    pub max_connections: usize,
    /// A request's head (request line and headers) must have arrived this long after its first
    /// byte, or after the connection was opened; else the connection is closed.
    pub header_timeout_ms: u64,
    /// A keep-alive connection with no request under way is closed after this long.
    pub idle_timeout_ms: u64,
    /// A request's whole body must have arrived this long after its head; else 408 and the
    /// connection is closed, and nothing of the request is done.
    pub body_timeout_ms: u64,
    /// Where buyers reach this engine (`https://pay.example.com`), for the links to checkout
    /// and invoice pages; empty: `http://` and the address it listens on.
    pub public_url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Where the store's records live: sled in `path` (one node), or PostgreSQL (several nodes
    /// on one database).
    pub backend: StorageBackend,
    pub postgres: PostgresConfig,
    /// The data directory: sled's files, and a node's own files with either backend.
    pub path: PathBuf,
    /// sled's page cache, in MiB.
    pub cache_mib: u64,
    /// Base64 of the 32-byte data key (see [`crate::data_key`]); unset: generated on first
    /// start into `<path>/dev-data-key` and read from there after.
    pub data_key: SecretValue,
    /// Data keys rotated out (`storage.previous_data_keys`, `KASSA_PREVIOUS_DATA_KEYS`):
    /// still opened with while the engine re-wraps what they wrapped, and kept for the
    /// Idempotency-Keys hashed with them (see `kassa rotate-data-key`).
    pub previous_data_keys: Vec<SecretValue>,
    /// Seal customers' personal data and payment methods' display fields on write (see
    /// `store::sealing`). Off only to measure what sealing costs: reads open sealed records
    /// either way.
    pub seal_personal_data: bool,
    /// Days after they closed that paid or void invoices, charges with nothing left to refund and
    /// delivered events move to the archive files (see `store::archive`); unset: never.
    pub archive_after_days: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    #[default]
    Sled,
    Postgres,
}

impl StorageBackend {
    pub fn parse(name: &str) -> Option<StorageBackend> {
        match name {
            "sled" => Some(StorageBackend::Sled),
            "postgres" => Some(StorageBackend::Postgres),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresConfig {
    /// `postgres://user:password@host:port/database` (a secret: it may hold the password).
    pub url: SecretValue,
}

/// Several nodes on one database (the PostgreSQL backend).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// How long a node's claim on a customer's background work (renewals, retries,
    /// reconciliation) holds without being renewed: a node that dies loses it after this.
    pub lease_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig { lease_ms: 10_000 }
    }
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

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    pub id: String,
    #[serde(default)]
    pub api_keys: Vec<String>,
}

/// Keys are secrets: a logged or panicking config shows how many an account has, never them.
impl std::fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountConfig")
            .field("id", &self.id)
            .field("api_keys", &format_args!("[{} redacted]", self.api_keys.len()))
            .finish()
    }
}

/// `accounts`: the configured accounts, and the admin key that manages accounts through the API.
/// The file gives either the plain array (`[[accounts]]` blocks) or, to set the admin key, a
/// table: `[accounts]` with `admin_key = "…"` and its accounts as `[[accounts.list]]` blocks
/// (TOML has no other way to put a key beside an array of tables).
#[derive(Debug, Clone, Default)]
pub struct AccountsConfig {
    /// Empty: no admin key, and the admin routes answer 404.
    pub admin_key: SecretValue,
    pub list: Vec<AccountConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
struct AccountsTable {
    admin_key: SecretValue,
    list: Vec<AccountConfig>,
}

impl<'de> Deserialize<'de> for AccountsConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};

        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = AccountsConfig;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "`[[accounts]]` blocks, or an `[accounts]` table with `admin_key` and `list`",
                )
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<Self::Value, A::Error> {
                let list = Vec::deserialize(SeqAccessDeserializer::new(seq))?;
                Ok(AccountsConfig { admin_key: SecretValue::default(), list })
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                let table = AccountsTable::deserialize(MapAccessDeserializer::new(map))?;
                Ok(AccountsConfig { admin_key: table.admin_key, list: table.list })
            }
        }
        deserializer.deserialize_any(Either)
    }
}

/// `metrics.*`: where Prometheus scrapes `/metrics`, apart from the API: its counts span every
/// account, so it is not served to whoever reaches the API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub listen: MetricsListen,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        // Loopback on any free port: two nodes on one host never collide; the log names it.
        MetricsConfig { listen: MetricsListen::At(SocketAddr::from(([127, 0, 0, 1], 0))) }
    }
}

/// `off`, or the address to listen on (port 0: any free port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum MetricsListen {
    Off,
    At(SocketAddr),
}

impl TryFrom<String> for MetricsListen {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match text.trim() {
            "off" => Ok(MetricsListen::Off),
            address => address.parse().map(MetricsListen::At).map_err(|_| {
                format!("`{text}` is neither `off` nor an address like 127.0.0.1:9090")
            }),
        }
    }
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
    /// Rule calls one account may have at once, out of `concurrent_calls_max`: an account
    /// whose rules are slow waits for its own calls, never takes every slot from the others.
    pub account_concurrent_calls_max: u32,
    /// Wall-clock time one rule call (or a component's start-up at upload) may run, in ms.
    /// Fuel bounds instructions; this bounds everything else, a rule that is slow per
    /// instruction or a machine that is busy.
    pub call_timeout_ms: u64,
    /// Uploaded versions an account keeps of each kind of rule; older ones are removed (never
    /// the active one, nor the one a rollback from it activates).
    pub versions_kept: u32,
    /// Threads that run rule calls too long for the API's own workers; 0: half the cores. They
    /// run at a lower priority than the API, so a flood of slow rules cannot starve it.
    pub threads: u32,
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
            account_concurrent_calls_max: 16,
            call_timeout_ms: 1000,
            versions_kept: 10,
            threads: 0,
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
            max_connections: 10_000,
            header_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            body_timeout_ms: 30_000,
            public_url: String::new(),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            backend: StorageBackend::Sled,
            postgres: PostgresConfig::default(),
            path: PathBuf::from("./data"),
            cache_mib: STORE_CACHE_BYTES_DEFAULT / (1024 * 1024),
            data_key: SecretValue::default(),
            previous_data_keys: Vec::new(),
            seal_personal_data: true,
            archive_after_days: None,
        }
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// How often the real-time schedule is looked at for renewals, trial ends and scheduled
    /// cancellations that have fallen due.
    pub scheduler_interval_ms: u64,
    pub dunning: DunningConfig,
    /// Days after its first failed payment that a `past_due` subscription still grants its
    /// features (never less than a day after its last scheduled retry).
    pub grace_days: u32,
    /// Whether a full refund or a lost dispute of the charge that paid a subscription's current
    /// period withdraws that period's features.
    pub refund_revokes_access: bool,
    /// Who issues invoices, receipts and credit notes, as printed on them.
    pub seller: SellerConfig,
    /// The account's time zone (IANA), until per-account settings hold it: what
    /// `dunning.local_hours` are read in.
    pub timezone: String,
    pub bank_transfer: BankTransferConfig,
}

/// Bank transfers (EFT): how long a charge waits for its money, and how CSV statements read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BankTransferConfig {
    /// Days after which an unpaid transfer fails its charge.
    pub expiry_days: u32,
    /// The columns of the bank's CSV export, in order (`date`, `amount` or `credit`/`debit`,
    /// `reference` one or more times, `balance`, `skip`), unless a request names its own.
    pub csv: String,
}

impl Default for BankTransferConfig {
    fn default() -> Self {
        BankTransferConfig { expiry_days: 7, csv: "date,amount,reference".to_owned() }
    }
}

impl Default for BillingConfig {
    fn default() -> Self {
        BillingConfig {
            scheduler_interval_ms: 1_000,
            dunning: DunningConfig::default(),
            grace_days: 7,
            refund_revokes_access: true,
            seller: SellerConfig::default(),
            timezone: "UTC".to_owned(),
            bank_transfer: BankTransferConfig::default(),
        }
    }
}

/// The seller's details printed on receipts (until per-account settings hold them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SellerConfig {
    pub name: String,
    /// Printed as written; lines separated by newlines.
    pub address: String,
    /// The seller's VAT or tax registration number; empty when it has none.
    pub tax_id: String,
}

/// What happens after an automatic invoice payment fails.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DunningConfig {
    /// When the failed payment is tried again: days after the first failure, increasing.
    pub retry_days: Vec<u32>,
    /// What the last failed retry does to the subscription.
    pub final_action: FinalAction,
    /// `[from, to)`: the local hours in which a retry that prompts a person (an M-Pesa STK
    /// Push) is made; one due outside them waits for the next `from`.
    pub local_hours: [u8; 2],
}

impl Default for DunningConfig {
    fn default() -> Self {
        DunningConfig {
            retry_days: vec![1, 3, 5, 7],
            final_action: FinalAction::Unpaid,
            local_hours: [8, 20],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalAction {
    /// `unpaid`: the invoice stays open; later invoices are made but not charged until one is
    /// paid.
    Unpaid,
    /// `canceled`, the invoice `uncollectible`.
    Cancel,
    /// Stays `past_due`.
    PastDue,
}
