//! Start-up: open the store, start the gateways and the actors, settle what a crash left
//! unsettled, then serve the API until SIGTERM or Ctrl-C.

use crate::archival::Archival;
use crate::billing::entitlement_index::EntitlementIndex;
use crate::billing::local_hours::LocalHours;
use crate::billing::plan_features::PlanFeatures;
use crate::billing::scheduler::ClockWork;
use crate::payouts::Payouts;
use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::account_directory::AccountDirectory;
use crate::actor::registry::RegistryLimits;
use crate::actor::{Registry, Services};
use crate::api::auth::{ApiKeys, hash_key};
use crate::api::idempotency_keys::IdempotencyKeys;
use crate::api::key_table::KeyTable;
use crate::api::{self, App};
use crate::billing;
use crate::cluster::{self, Claims, Work};
use crate::config::{AccountConfig, Config, MetricsListen, SecretValue, StorageBackend};
use crate::coupons::RedemptionBook;
use crate::data_key::DataKey;
use crate::domain::time::now_unix_secs;
use crate::domain::{Account, AccountId, Cause, Event, EventKind};
use crate::events_out::{Outbox, OutboxSignal};
use crate::gateway_setup::{Gateways, Registration};
use crate::limits::{
    IDEMPOTENCY_RETENTION_SECS, IDEMPOTENCY_SWEEP_INTERVAL, METRICS_CONNECTIONS_MAX,
};
use crate::recovery;
use crate::rules::{Catalog, Rules, RulesError};
use crate::serve;
use crate::store::sealing::Sealer;
use crate::store::{AccountStore, Durable, Store, StoreError, TreeStore};
use crate::webhooks::apply::Applier;
use crate::webhooks::{Inbox, InboxSettings, WebhookSources};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("storage at {path}: {error}")]
    Store { path: String, error: StoreError },
    #[error("gateways: {0}")]
    Gateway(String),
    #[error("recovery: {0}")]
    Recovery(#[from] recovery::RecoveryError),
    #[error("cannot listen on {address}: {error}")]
    Listen { address: SocketAddr, error: std::io::Error },
    #[error("cannot write the dev API key: {0}")]
    DevKey(std::io::Error),
    #[error("cannot keep the M-Pesa callback token in the data directory: {0}")]
    MpesaToken(std::io::Error),
    #[error("{0}")]
    DataKey(String),
    #[error("{0}")]
    Rules(#[from] RulesError),
    #[error("{0}")]
    Outbox(crate::events_out::OutboxError),
}

/// File descriptors the engine needs besides its connections: the store, the listeners, logs.
const FILE_DESCRIPTORS_SPARE: u128 = 64;

/// Added to the request timeout to bound a graceful stop.
const SHUTDOWN_MARGIN: Duration = Duration::from_secs(1);

/// The store the config names: sled in the data directory, or the PostgreSQL database (its
/// schema created or migrated).
pub fn open_store(config: &Config) -> Result<TreeStore, StoreError> {
    let data_dir = &config.storage.path;
    match config.storage.backend {
        StorageBackend::Sled => {
            let cache_bytes = config.storage.cache_mib.saturating_mul(1024 * 1024);
            TreeStore::open_with_cache(data_dir, cache_bytes)
        }
        StorageBackend::Postgres => {
            TreeStore::open_postgres(config.storage.postgres.url.expose(), data_dir)
        }
    }
}

/// Runs the engine until it is asked to stop.
pub async fn run(config: Config) -> Result<(), StartError> {
    run_with(config, Vec::new()).await
}

/// [`run`], with gateway adapters of the embedding program's own beside the built-in ones.
pub async fn run_with(
    mut config: Config,
    registrations: Vec<Registration>,
) -> Result<(), StartError> {
    let data_dir = config.storage.path.clone();
    let store_error = |error| StartError::Store { path: data_dir.display().to_string(), error };
    // The data key first: a directory written with another key is refused before anything in
    // it is opened or changed.
    let data_key = data_key(&config, &data_dir)?;
    let previous_keys = config.previous_data_keys();
    check_data_key(&data_key, &previous_keys, &data_dir)?;
    let sealer = Sealer::new(&data_key, &previous_keys, config.storage.seal_personal_data);
    let trees = open_store(&config).map_err(store_error)?;
    // A database several nodes share keeps the fingerprint itself: every node must seal with
    // the key it is written with (the first node's), or be rotating from it.
    if trees.shared() {
        let fingerprint = data_key.fingerprint();
        let previous: Vec<String> = previous_keys.iter().map(DataKey::fingerprint).collect();
        if let Some(held) = trees.hold_data_key(&fingerprint, &previous).map_err(store_error)? {
            return Err(StartError::DataKey(format!(
                "the data key (storage.data_key or KASSA_DATA_KEY) is not the one the database \
                 was written with: its fingerprint is {fingerprint}, the database's is {held}. \
                 Start every node with that key (or, to rotate to this one, give that key in \
                 storage.previous_data_keys); nothing was changed"
            )));
        }
    }
    let trees = Arc::new(trees.sealed_by(sealer).map_err(store_error)?);
    let store: Arc<dyn Store> = trees.clone();
    // Money moved from now on is in the books; what moved before is not (see `verify-ledger`).
    store.begin_books(crate::domain::time::now_unix_secs()).map_err(store_error)?;

    if config.gateways.mpesa.enabled() && config.gateways.mpesa.callback_token.expose().is_empty() {
        let token = mpesa_callback_token(&data_dir).map_err(StartError::MpesaToken)?;
        config.gateways.mpesa.callback_token = SecretValue::new(token);
    }
    let Gateways {
        router: gateways,
        sandbox,
        webhooks,
        names: gateway_names,
        payouts: payout_adapters,
        policies,
    } = crate::gateway_setup::open(
        &config,
        Arc::clone(&trees) as Arc<dyn kassa_gateways::trees::Trees>,
        registrations,
    )
    .map_err(StartError::Gateway)?;
    tracing::info!(enabled = ?gateway_names, default = %config.routing.default, rules = config.routing.rules.len(), "gateways ready");

    let accounts = register_accounts(&config, store.as_ref()).await.map_err(store_error)?;
    let rules = Arc::new(open_rules(&config, Arc::clone(&store), accounts.clone()).await?);
    let plan_features = Arc::new(PlanFeatures::default());
    let billing = Arc::new(config.billing.clone());
    let entitlements =
        Arc::new(EntitlementIndex::new(Arc::clone(&billing), Arc::clone(&plan_features)));
    let outbox_signal = Arc::new(OutboxSignal::default());
    let redemptions = Arc::new(RedemptionBook::new(trees.clone()));
    // Bound before anything is served, so the links buyers get (checkout and invoice pages)
    // can name the address when no public URL is configured.
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .map_err(|error| StartError::Listen { address: config.server.listen, error })?;
    let address = listener
        .local_addr()
        .map_err(|error| StartError::Listen { address: config.server.listen, error })?;
    let public_url = match config.server.public_url.as_str() {
        "" => format!("http://{address}"),
        configured => configured.to_owned(),
    };
    let services = Services {
        store: store.clone(),
        gateways: gateways.clone(),
        gateway_timeout: config.gateway_timeout(),
        reconcile_after: config.reconcile_after(),
        rules: Arc::clone(&rules),
        gateway_policies: policies,
        billing,
        prompt_hours: prompt_hours(&config),
        plan_features: Arc::clone(&plan_features),
        entitlements: Arc::clone(&entitlements),
        outbox: Arc::clone(&outbox_signal),
        redemptions: Arc::clone(&redemptions),
        accounts: accounts.clone(),
        public_url: public_url.clone(),
        payout_adapters: payout_adapters.clone(),
    };
    let registry = Registry::start(services, registry_limits(&config));
    ensure_dev_key(&config, &trees).await?;
    let made_keys = KeyTable::load(store.clone()).map_err(store_error)?;
    let admin_key = config.accounts.admin_key.is_set().then(|| config.accounts.admin_key.expose());
    let api_keys = ApiKeys::new(configured_keys(&config), made_keys, admin_key, store.clone());

    for (status, count) in store.subscriptions_by_status().map_err(store_error)? {
        let labels = crate::metrics::SubscriptionLabels { status: status.as_str() };
        crate::metrics::global().subscriptions.get_or_create(&labels).set(count as i64);
    }
    let claims = Claims::take(store.as_ref(), Duration::from_millis(config.cluster.lease_ms));
    // Nodes sharing the store leave it to the holder of the reconciliation claim (see
    // `cluster::run`): what is unsettled may be another live node's call under way.
    let report = match store.shared() {
        false => recovery::run(store.as_ref(), &registry).await?,
        true => recovery::RecoveryReport::default(),
    };
    if report.found > 0 {
        tracing::info!(
            found = report.found,
            settled = report.settled,
            "recovery settled unfinished charges and refunds"
        );
    }

    let webhooks = Arc::new(webhooks);
    let payouts =
        Arc::new(Payouts::new(store.clone(), payout_adapters, Arc::clone(&outbox_signal)));
    let inbox = Arc::new(open_inbox(
        &config,
        Arc::clone(&store),
        registry.clone(),
        Arc::clone(&webhooks),
        accounts.clone(),
        gateways.clone(),
        Arc::clone(&payouts),
    ));
    // Where nodes share the store, what is unapplied may be another live node's to apply: the
    // holder of the inbox's claim takes up what stays so (see `cluster::run`).
    if !store.shared() {
        let resumed = inbox.resume().map_err(store_error)?;
        if resumed > 0 {
            tracing::info!(resumed, "applying gateway events persisted before the last stop");
        }
    }

    tokio::spawn(expire_idempotency_records(Arc::clone(&store)));
    if !previous_keys.is_empty() {
        tokio::spawn(rotate_data_key(Arc::clone(&trees), data_key.clone(), data_dir.clone()));
    }
    let archival = Arc::new(Archival::new(store.clone(), config.storage.archive_after_days));
    let clock_work = ClockWork { payouts: Arc::clone(&payouts), archival: Arc::clone(&archival) };
    if claims.holds(Work::Schedule) {
        billing::scheduler::resume(store.clone(), registry.clone(), clock_work)
            .await
            .map_err(store_error)?;
    }
    tokio::spawn(crate::archival::run_live(Arc::clone(&archival), Arc::clone(&claims)));
    tokio::spawn(crate::payouts::runner::run_live(
        Arc::clone(&payouts),
        Duration::from_millis(config.billing.scheduler_interval_ms),
        config.reconcile_after(),
        Arc::clone(&claims),
    ));
    tokio::spawn(billing::scheduler::run_live(
        store.clone(),
        registry.clone(),
        Duration::from_millis(config.billing.scheduler_interval_ms),
        Arc::clone(&claims),
    ));
    // What stayed undone this long is no live node's work: every gateway call has ended.
    let leftovers = cluster::Leftovers {
        store: store.clone(),
        registry: registry.clone(),
        inbox: Arc::clone(&inbox),
        done_within: config.reconcile_after().max(config.gateway_timeout() * 2),
    };
    tokio::spawn(cluster::run(Arc::clone(&claims), leftovers));

    let outbox = Outbox::start(
        store.clone(),
        Arc::clone(&outbox_signal),
        &config.webhooks,
        Arc::clone(&claims),
    )
    .map_err(StartError::Outbox)?;

    let app = Arc::new(App {
        queries: api::queries::Queries::new(store.clone()),
        registry,
        account_writes: api::account_writes::AccountWrites::new(store.clone()),
        gateways,
        sandbox,
        webhooks,
        inbox,
        gateway_names,
        api_keys,
        accounts,
        rate_limits: api::rate_limit::RateLimits::new(&config.limits.rate),
        idempotency: api::idempotency::Idempotency::new(
            store.clone(),
            IdempotencyKeys::new(&data_key, &previous_keys),
        ),
        rules,
        seller: config.billing.seller.clone(),
        plan_features,
        entitlements,
        upload_max_bytes: usize::try_from(config.rules.upload_max_bytes).unwrap_or(usize::MAX),
        request_timeout: Duration::from_millis(config.server.request_timeout_ms),
        body_timeout: Duration::from_millis(config.server.body_timeout_ms),
        outbox_store: store.clone(),
        outbox,
        coupon_store: store.clone(),
        redemptions,
        statement_store: store.clone(),
        statement_lock: Default::default(),
        statement_columns: crate::bank_statements::Columns::parse(
            &config.billing.bank_transfer.csv,
        )
        .expect("checked with the config"),
        statement_body_max: usize::try_from(config.limits.statement_body_max).unwrap_or(usize::MAX),
        public_url,
        payouts,
        archival,
        ready: Default::default(),
    });
    // Before the API's line: whoever waits for that line (tests, the bench) has both addresses.
    let metrics_server = serve_metrics(&config, Arc::clone(&app)).await?;
    app.ready.store(true, Ordering::SeqCst);
    tracing::info!(data_dir = %data_dir.display(), "listening on http://{address}");
    warn_if_descriptors_short(config.server.max_connections);
    let (stopping, stop_requested) = tokio::sync::oneshot::channel::<()>();
    let limits = serve::limits_from(&config.server);
    let server = serve::serve(listener, api::filter(Arc::clone(&app)), limits, async {
        shutdown_signal().await;
        let _ = stopping.send(());
    });
    // Requests are answered within the request timeout (503 after it), so past it plus a margin
    // nothing is left to answer: a stuck connection must not hold the stop forever.
    let grace = app.request_timeout + SHUTDOWN_MARGIN;
    tokio::select! {
        () = server => {}
        () = async {
            let _ = stop_requested.await;
            tokio::time::sleep(grace).await;
        } => tracing::warn!(grace_secs = grace.as_secs(), "connections still open after the grace period; stopping"),
    }
    if let Some(metrics_server) = metrics_server {
        metrics_server.abort();
    }
    tracing::info!("stopping: flushing storage");
    store.sync().wait().await.map_err(store_error)?;
    let releasing = store.clone();
    let _ = tokio::task::spawn_blocking(move || claims.release(releasing.as_ref())).await;
    tokio::task::spawn_blocking(move || trees.close())
        .await
        .map_err(|error| store_error(StoreError::Storage(error.to_string())))?;
    tracing::info!("storage checkpointed: nothing to replay at the next start");
    Ok(())
}

/// Idempotency keys answer retries for [`IDEMPOTENCY_RETENTION_SECS`] and are then forgotten, so
/// the records do not grow without bound; a sweep every [`IDEMPOTENCY_SWEEP_INTERVAL`] removes
/// the finished ones that are older.
/// The rules host: the bundled (or configured) rules and every account's uploaded ones,
/// compiled or loaded from the compiled cache, off the async threads.
async fn open_rules(
    config: &Config,
    store: Arc<dyn Store>,
    accounts: AccountDirectory,
) -> Result<Rules, StartError> {
    let rules_config = config.rules.clone();
    let data_dir = config.storage.path.clone();
    let started = std::time::Instant::now();
    let catalog =
        tokio::task::spawn_blocking(move || Catalog::open(&rules_config, &data_dir, store))
            .await
            .map_err(|error| RulesError(format!("loading the rules failed: {error}")))??;
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "rules loaded");
    Ok(Rules::new(Arc::new(catalog), &config.rules, accounts)?)
}

async fn expire_idempotency_records(store: Arc<dyn Store>) {
    let mut interval = tokio::time::interval(IDEMPOTENCY_SWEEP_INTERVAL);
    loop {
        interval.tick().await;
        let cutoff = now_unix_secs() - IDEMPOTENCY_RETENTION_SECS;
        let sweep = {
            let store = Arc::clone(&store);
            tokio::task::spawn_blocking(move || store.expire_idempotency(cutoff))
        };
        match sweep.await {
            Ok(Ok(0)) => {}
            Ok(Ok(expired)) => tracing::info!(expired, "expired idempotency records"),
            Ok(Err(error)) => tracing::error!(%error, "expiring idempotency records failed"),
            Err(error) => tracing::error!(%error, "the idempotency sweep stopped"),
        }
    }
}

/// The gateway events' inbox. Events about nothing Kassa knows are listed for the default
/// account (or the first configured one when there is no default).
fn open_inbox(
    config: &Config,
    store: Arc<dyn Store>,
    registry: Registry,
    webhooks: Arc<WebhookSources>,
    accounts: AccountDirectory,
    gateways: kassa_gateways::Router,
    payouts: Arc<Payouts>,
) -> Inbox {
    let configured: Vec<AccountId> = config.accounts.list.iter().map(configured_id).collect();
    let default_account = match configured.iter().any(|id| id.as_str() == AccountId::DEFAULT) {
        true => AccountId::default_account(),
        false => configured.first().cloned().unwrap_or_else(AccountId::default_account),
    };
    accounts.add(default_account.clone());
    let settings = InboxSettings {
        apply_concurrency: config.webhooks.apply_concurrency,
        apply_delay: Duration::from_millis(config.webhooks.apply_delay_ms),
        default_account,
    };
    Inbox::start(
        store.clone(),
        Applier::new(store.clone(), registry, webhooks, accounts, gateways, store, payouts),
        settings,
    )
}

fn registry_limits(config: &Config) -> RegistryLimits {
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    RegistryLimits {
        idle_timeout: config.idle_timeout(),
        resident_max: config.actors.resident_max,
        mailbox_len_max: config.actors.mailbox_len_max,
        sweep_interval: Duration::from_millis(config.actors.sweep_interval_ms),
        shards: if config.actors.shards == 0 { cores } else { config.actors.shards },
    }
}

fn configured_id(account: &AccountConfig) -> AccountId {
    AccountId::parse(&account.id).expect("config validation checked account ids")
}

/// Writes an account record for each configured account (and `acct_default` when it holds the
/// dev key) that has none yet, so the admin API lists them beside the accounts it made, and
/// returns every account the store holds.
async fn register_accounts(
    config: &Config,
    store: &dyn Store,
) -> Result<AccountDirectory, StoreError> {
    let mut configured: Vec<AccountId> = config.accounts.list.iter().map(configured_id).collect();
    let dev_key = config.accounts.list.iter().all(|account| account.api_keys.is_empty());
    if dev_key && !configured.contains(&AccountId::default_account()) {
        configured.push(AccountId::default_account());
    }
    let now = now_unix_secs();
    for id in configured {
        if store.account(&id)?.is_none() {
            let name = id.as_str().to_owned();
            let settings = Default::default();
            let account =
                Account { id, name, metadata: Default::default(), created: now, settings };
            let created = Event::new(
                EventKind::AccountCreated,
                account.id.as_str(),
                &Cause::system("configuration"),
            );
            store.put_account(&account, None, Some(&created))?.wait().await?;
        }
    }
    Ok(AccountDirectory::new(store.accounts()?))
}

fn configured_keys(config: &Config) -> HashMap<[u8; 32], AccountId> {
    let mut keys = HashMap::new();
    for account in &config.accounts.list {
        let id = configured_id(account);
        for key in &account.api_keys {
            keys.insert(hash_key(key), id.clone());
        }
    }
    keys
}

/// With no API key configured at all, the default account gets a generated one on first start:
/// stored hashed, printed once, and written to `<data dir>/dev-api-key` (mode 0600).
async fn ensure_dev_key(config: &Config, store: &TreeStore) -> Result<(), StartError> {
    let any_configured = config.accounts.list.iter().any(|account| !account.api_keys.is_empty());
    let account = AccountId::default_account();
    let store_error = |error| StartError::Store { path: store.path().display().to_string(), error };
    if any_configured || store.has_generated_api_key(&account).map_err(store_error)? {
        if !any_configured {
            tracing::info!(file = %store.path().join("dev-api-key").display(), "using the generated dev API key");
        }
        return Ok(());
    }
    let key = generate_key();
    write_private(&store.path().join("dev-api-key"), &key).map_err(StartError::DevKey)?;
    let durable = store.put_generated_api_key(&account, &hash_key(&key)).map_err(store_error)?;
    durable.wait().await.map_err(store_error)?;
    tracing::info!(api_key = %key, file = %store.path().join("dev-api-key").display(), "generated a dev API key for acct_default; it is shown only this once");
    Ok(())
}

/// The M-Pesa callback path token when none is configured: generated once, then read from
/// `<data dir>/mpesa-callback-token` (mode 0600), so pushes under way keep their callback URL.
fn mpesa_callback_token(data_dir: &Path) -> std::io::Result<String> {
    let path = data_dir.join("mpesa-callback-token");
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => return Ok(token.trim().to_owned()),
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    let token = crate::secrets::random_alphanumeric(32);
    write_private(&path, &token)?;
    tracing::info!(file = %path.display(), "generated the M-Pesa callback path token");
    Ok(token)
}

/// The data key: the configured one (`storage.data_key` / `KASSA_DATA_KEY`, checked when the
/// config was read), else the one generated on first start into `<data dir>/dev-data-key`
/// (mode 0600) and read from there after. A file that is there but unreadable or not a key stops
/// start-up: a new key would silently forget every Idempotency-Key and lock out sealed data.
fn data_key(config: &Config, data_dir: &Path) -> Result<DataKey, StartError> {
    if let Some(configured) = config.data_key() {
        return configured
            .map_err(|error| StartError::DataKey(format!("storage.data_key {error}")));
    }
    let path = data_dir.join("dev-data-key");
    let failed = |problem: String| {
        StartError::DataKey(format!("data key file {}: {problem}", path.display()))
    };
    std::fs::create_dir_all(data_dir).map_err(|error| failed(error.to_string()))?;
    match std::fs::read_to_string(&path) {
        // Empty only when the first start died while writing it, before anything used it.
        Ok(text) if text.trim().is_empty() => {}
        Ok(text) => return DataKey::from_base64(&text).map_err(|error| failed(error.to_string())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(failed(error.to_string())),
    }
    let key = DataKey::generate();
    write_private(&path, &key.to_base64()).map_err(|error| failed(error.to_string()))?;
    // The file's name must outlive a power cut as surely as the records hashed with the key.
    std::fs::File::open(data_dir)
        .and_then(|directory| directory.sync_all())
        .map_err(|error| failed(error.to_string()))?;
    tracing::info!(file = %path.display(), "generated the data key; keep it with the data");
    Ok(key)
}

/// `<data dir>/data-key-fingerprint`: the fingerprint of the data key the directory is written
/// with, then one `retired <fingerprint> <until>` line per key rotated out whose Idempotency-Key
/// hashes may still be kept (until that Unix second).
const FINGERPRINT_FILE: &str = "data-key-fingerprint";

/// What the data directory says of the keys it was written with.
struct KeptFingerprints {
    current: String,
    retired: Vec<(String, i64)>,
}

impl KeptFingerprints {
    fn parse(text: &str) -> Option<KeptFingerprints> {
        let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
        let current = lines.next()?.to_owned();
        let mut retired = Vec::new();
        for line in lines {
            let mut words = line.split_whitespace();
            let (Some("retired"), Some(fingerprint), Some(until)) =
                (words.next(), words.next(), words.next())
            else {
                return None;
            };
            retired.push((fingerprint.to_owned(), until.parse().ok()?));
        }
        Some(KeptFingerprints { current, retired })
    }

    fn render(&self) -> String {
        let mut text = self.current.clone();
        for (fingerprint, until) in &self.retired {
            text.push_str(&format!("\nretired {fingerprint} {until}"));
        }
        text
    }
}

/// Refuses a data key other than the one the data directory was written with, or one it is
/// being rotated from (`storage.previous_data_keys`): with another, every Idempotency-Key kept
/// would be forgotten (a retry could charge again) and sealed data locked out. A key rotated out
/// less than a day ago must still be configured as a previous key, for the same Idempotency-Keys.
/// The first start that finds no fingerprint writes the key's.
fn check_data_key(key: &DataKey, previous: &[DataKey], data_dir: &Path) -> Result<(), StartError> {
    let path = data_dir.join(FINGERPRINT_FILE);
    let failed = |problem: String| {
        StartError::DataKey(format!("data key fingerprint {}: {problem}", path.display()))
    };
    let fingerprint = key.fingerprint();
    let previous: Vec<String> = previous.iter().map(DataKey::fingerprint).collect();
    let kept = match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().is_empty() => None,
        Ok(text) => Some(KeptFingerprints::parse(&text).ok_or_else(|| {
            failed("is not a fingerprint and `retired <fingerprint> <until>` lines".to_owned())
        })?),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(failed(error.to_string())),
    };
    let Some(kept) = kept else {
        let first = KeptFingerprints { current: fingerprint, retired: Vec::new() };
        return write_fingerprints(&path, &first, data_dir).map_err(failed);
    };
    if kept.current != fingerprint && !previous.contains(&kept.current) {
        return Err(StartError::DataKey(format!(
            "the data key (storage.data_key, KASSA_DATA_KEY or {}) is not the one {} was written \
             with: its fingerprint is {fingerprint}, the directory's is {}. Start with that key \
             (or, to rotate to this one, give that key in storage.previous_data_keys); nothing \
             was changed",
            data_dir.join("dev-data-key").display(),
            data_dir.display(),
            kept.current
        )));
    }
    let now = now_unix_secs();
    let needed =
        kept.retired.iter().find(|(retired, until)| *until > now && !previous.contains(retired));
    if let Some((retired, until)) = needed {
        return Err(StartError::DataKey(format!(
            "the data key with fingerprint {retired} was rotated out, and Idempotency-Keys hashed \
             with it are kept until {until} (Unix time): give it in storage.previous_data_keys \
             (KASSA_PREVIOUS_DATA_KEYS) until then; nothing was changed"
        )));
    }
    Ok(())
}

/// Records that the data directory is now written with `key` alone: the keys rotated out are
/// retired, each kept in mind for as long as Idempotency-Keys hashed with it may be.
fn finish_rotation(key: &DataKey, data_dir: &Path) -> Result<i64, String> {
    let path = data_dir.join(FINGERPRINT_FILE);
    let text = std::fs::read_to_string(&path).map_err(|error| error.to_string())?;
    let kept = KeptFingerprints::parse(&text).ok_or("the fingerprint file does not parse")?;
    let fingerprint = key.fingerprint();
    let now = now_unix_secs();
    let until = now + IDEMPOTENCY_RETENTION_SECS;
    let mut retired: Vec<(String, i64)> =
        kept.retired.into_iter().filter(|(_, until)| *until > now).collect();
    if kept.current != fingerprint {
        retired.push((kept.current, until));
    }
    let rotated = KeptFingerprints { current: fingerprint, retired };
    write_fingerprints(&path, &rotated, data_dir)?;
    Ok(until)
}

fn write_fingerprints(path: &Path, kept: &KeptFingerprints, data_dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(data_dir).map_err(|error| error.to_string())?;
    write_private(path, &kept.render()).map_err(|error| error.to_string())?;
    std::fs::File::open(data_dir)
        .and_then(|directory| directory.sync_all())
        .map_err(|error| error.to_string())
}

/// Re-wraps in the background what the previous data keys still hold, then records the
/// rotation as finished ([`finish_rotation`]).
async fn rotate_data_key(store: Arc<TreeStore>, key: DataKey, data_dir: std::path::PathBuf) {
    let started = std::time::Instant::now();
    let rotating = tokio::task::spawn_blocking(move || {
        let rotated = store.rotate_data_key();
        (store, rotated)
    });
    let (store, rotated) = match rotating.await {
        Ok(done) => done,
        Err(error) => return tracing::error!(%error, "the data key rotation stopped"),
    };
    let (rotated, ticket) = match rotated {
        Ok(done) => done,
        Err(error) => {
            return tracing::error!(%error, "the data key rotation failed; the next start tries again");
        }
    };
    if let Some(ticket) = ticket
        && let Err(error) = ticket.wait().await
    {
        return tracing::error!(%error, "the data key rotation was not made durable");
    }
    drop(store);
    match finish_rotation(&key, &data_dir) {
        Ok(until) => tracing::info!(
            keys_rewrapped = rotated.keys_rewrapped,
            emails_reindexed = rotated.emails_reindexed,
            elapsed_ms = started.elapsed().as_millis() as u64,
            keep_previous_keys_until = until,
            "data key rotation finished: keep storage.previous_data_keys configured until then (Idempotency-Keys hashed with them are kept 24 h), then remove them"
        ),
        Err(error) => {
            tracing::error!(%error, "the data key rotation could not be recorded; the next start does it again")
        }
    }
}

fn generate_key() -> String {
    format!("sk_test_{}", crate::secrets::random_alphanumeric(32))
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    writeln!(file, "{contents}")?;
    file.sync_all()
}

/// Serves `/metrics` on `metrics.listen` (unless `off`), with the API's time limits and a cap
/// of its own, so a scraper never takes the API's connections nor the API the scraper's.
async fn serve_metrics(
    config: &Config,
    app: Arc<App>,
) -> Result<Option<tokio::task::JoinHandle<()>>, StartError> {
    let MetricsListen::At(requested) = config.metrics.listen else {
        tracing::info!("metrics.listen is off: /metrics is not served");
        return Ok(None);
    };
    let listen_error = |error| StartError::Listen { address: requested, error };
    let listener = tokio::net::TcpListener::bind(requested).await.map_err(listen_error)?;
    let address = listener.local_addr().map_err(listen_error)?;
    tracing::info!("serving /metrics at http://{address}/metrics");
    let limits = serve::ConnectionLimits {
        max_connections: METRICS_CONNECTIONS_MAX,
        ..serve::limits_from(&config.server)
    };
    let filter = api::metrics_listener::filter(app);
    let stopped = std::future::pending::<()>();
    Ok(Some(tokio::spawn(serve::serve(listener, filter, limits, stopped))))
}

/// Each connection holds a file descriptor: a cap above the process's limit would fail accepts
/// (and the store's own files) before it is reached.
fn warn_if_descriptors_short(max_connections: usize) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into the struct it is given, which outlives the call.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if read == 0 && (limit.rlim_cur as u128) < max_connections as u128 + FILE_DESCRIPTORS_SPARE {
        tracing::warn!(
            max_connections,
            open_files_limit = limit.rlim_cur,
            "server.max_connections is above what the open-files limit (ulimit -n) leaves for connections"
        );
    }
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown requested");
}

/// `billing.dunning.local_hours` in `billing.timezone`, both checked when the config was read.
fn prompt_hours(config: &Config) -> LocalHours {
    let [from, to] = config.billing.dunning.local_hours;
    LocalHours::new(&config.billing.timezone, from, to).unwrap_or_else(|error| {
        unreachable!("billing.dunning.local_hours was validated at load: {error}")
    })
}
