//! Which rule each account runs. Every account starts on the bundled rules (version 0 of each
//! kind); an upload adds a version and activates it for that account alone; a rollback activates
//! the version before. Histories live in the store; components' bytes in
//! `<data>/plugins/<sha256>.wasm`, written and synced before the history that names them.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::component::PluginInvalid;
use super::host::RuleHost;
use super::plugin::Plugin;
use super::{RulesError, bundled};
use crate::config::RulesConfig;
use crate::domain::time::now_unix_secs;
use crate::domain::{AccountId, PluginHistory, PluginKind, PluginRef, PluginSource};
pub use crate::domain::{KindListing, VersionListing};
use crate::store::{IdempotencyRecord, Store};

/// The idempotency record of a change, made from the listing it answers with: written in the
/// same atomic write as the change, so a retry finds either both or neither.
pub type Answered<'a> =
    Box<dyn FnOnce(&KindListing) -> Option<(String, IdempotencyRecord)> + Send + 'a>;

/// A rule ready to call, and exactly which one it is (recorded with what it priced).
#[derive(Debug, Clone)]
pub struct ActiveRule {
    pub plugin: Arc<Plugin>,
    pub reference: PluginRef,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Invalid(#[from] PluginInvalid),
    #[error("no earlier {0} rule to roll back to: the bundled rule is active")]
    NothingToRollBack(PluginKind),
    #[error(transparent)]
    Internal(#[from] RulesError),
}

struct Bundled {
    rule: ActiveRule,
    size_bytes: u64,
}

pub struct Catalog {
    host: RuleHost,
    store: Arc<dyn Store>,
    blobs_dir: PathBuf,
    bundled: HashMap<PluginKind, Bundled>,
    /// Accounts whose active rule of a kind is an uploaded one.
    active: RwLock<HashMap<(AccountId, PluginKind), ActiveRule>>,
    /// Uploaded components already compiled, by kind and hash: shared by every account that
    /// uploaded the same bytes (each call still gets its own instance).
    loaded: Mutex<HashMap<(PluginKind, String), Arc<Plugin>>>,
    /// Uploads and rollbacks, one at a time: each reads a history and writes it back.
    changes: tokio::sync::Mutex<()>,
}

impl Catalog {
    /// Loads the bundled rules and every account's active uploaded rule, compiled ones from the
    /// cache in `<data_dir>/plugins/compiled`.
    pub fn open(
        config: &RulesConfig,
        data_dir: &Path,
        store: Arc<dyn Store>,
    ) -> Result<Catalog, RulesError> {
        let blobs_dir = data_dir.join("plugins");
        let host = RuleHost::new(config, Some(&blobs_dir.join("compiled")))?;
        let mut catalog = Catalog {
            host,
            store,
            blobs_dir,
            bundled: HashMap::new(),
            active: RwLock::default(),
            loaded: Mutex::default(),
            changes: tokio::sync::Mutex::new(()),
        };
        for kind in PluginKind::ALL {
            let bytes = bundled::default_bytes(kind, &config.plugins_dir)
                .map_err(|error| RulesError(format!("rules.plugins_dir: {kind}.wasm: {error}")))?;
            let plugin = catalog.compile(kind, &bytes).map_err(|invalid| {
                RulesError(format!("the default {kind} rule is not usable: {invalid}"))
            })?;
            let reference = PluginRef {
                kind,
                version: 0,
                source: PluginSource::Bundled,
                sha256: plugin.sha256().to_owned(),
            };
            let rule = ActiveRule { plugin: Arc::new(plugin), reference };
            catalog.bundled.insert(kind, Bundled { rule, size_bytes: bytes.len() as u64 });
        }
        catalog.load_active_uploads()?;
        Ok(catalog)
    }

    /// The rule `account` runs for `kind` right now.
    pub fn rule(&self, account: &AccountId, kind: PluginKind) -> ActiveRule {
        if let Some(rule) = self.active.read().get(&(account.clone(), kind)) {
            return rule.clone();
        }
        self.bundled[&kind].rule.clone()
    }

    pub fn list(&self, account: &AccountId) -> Result<Vec<KindListing>, RulesError> {
        PluginKind::ALL.into_iter().map(|kind| self.listing(account, kind)).collect()
    }

    pub fn listing(
        &self,
        account: &AccountId,
        kind: PluginKind,
    ) -> Result<KindListing, RulesError> {
        Ok(self.listing_of(kind, &self.history(account, kind)?))
    }

    fn listing_of(&self, kind: PluginKind, history: &PluginHistory) -> KindListing {
        let bundled = &self.bundled[&kind];
        let mut versions = vec![VersionListing {
            version: 0,
            source: PluginSource::Bundled,
            sha256: bundled.rule.reference.sha256.clone(),
            size_bytes: bundled.size_bytes,
            created: None,
        }];
        versions.extend(history.versions.iter().map(|version| VersionListing {
            version: version.version,
            source: PluginSource::Uploaded,
            sha256: version.sha256.clone(),
            size_bytes: version.size_bytes,
            created: Some(version.created),
        }));
        KindListing { kind, active_version: history.active, versions }
    }

    /// Checks and compiles `bytes`, then makes them `account`'s active `kind` rule as a new
    /// version. Uploading the bytes of the active version again changes nothing.
    pub async fn upload(
        self: &Arc<Self>,
        account: &AccountId,
        kind: PluginKind,
        bytes: Vec<u8>,
    ) -> Result<KindListing, ChangeError> {
        let _one_at_a_time = self.changes.lock().await;
        let catalog = Arc::clone(self);
        let (plugin, bytes) = tokio::task::spawn_blocking(move || {
            let plugin = catalog.compile(kind, &bytes);
            (plugin, bytes)
        })
        .await
        .map_err(|error| RulesError(format!("compiling the upload failed: {error}")))?;
        let plugin = Arc::new(plugin?);
        let mut history = self.history(account, kind)?;
        if history.active_version().is_some_and(|active| active.sha256 == plugin.sha256()) {
            return Ok(self.listing(account, kind)?);
        }
        self.write_blob(plugin.sha256(), &bytes)?;
        history.push(plugin.sha256().to_owned(), bytes.len() as u64, now_unix_secs());
        self.save(account, kind, &history, None).await?;
        self.loaded.lock().insert((kind, plugin.sha256().to_owned()), Arc::clone(&plugin));
        self.activate(account, kind, &history, Some(plugin));
        tracing::info!(account = %account, kind = %kind, version = history.active, "rule uploaded");
        Ok(self.listing(account, kind)?)
    }

    /// Activates the version before the active one; the bundled rule comes before version 1.
    /// `answered` gives the request's idempotency record, written with the new history.
    pub async fn roll_back(
        &self,
        account: &AccountId,
        kind: PluginKind,
        answered: Answered<'_>,
    ) -> Result<KindListing, ChangeError> {
        let _one_at_a_time = self.changes.lock().await;
        let mut history = self.history(account, kind)?;
        history.roll_back().ok_or(ChangeError::NothingToRollBack(kind))?;
        let plugin = match history.active_version() {
            Some(version) => Some(self.uploaded(kind, &version.sha256)?),
            None => None,
        };
        let listing = self.listing_of(kind, &history);
        self.save(account, kind, &history, answered(&listing)).await?;
        self.activate(account, kind, &history, plugin);
        tracing::info!(account = %account, kind = %kind, version = history.active, "rule rolled back");
        Ok(listing)
    }

    /// Checks and compiles `bytes` as a `kind` rule without activating it.
    pub fn compile(&self, kind: PluginKind, bytes: &[u8]) -> Result<Plugin, PluginInvalid> {
        self.host.load(kind, bytes)
    }

    fn activate(
        &self,
        account: &AccountId,
        kind: PluginKind,
        history: &PluginHistory,
        plugin: Option<Arc<Plugin>>,
    ) {
        let key = (account.clone(), kind);
        let mut active = self.active.write();
        match (history.active_version(), plugin) {
            (Some(version), Some(plugin)) => {
                let reference = PluginRef {
                    kind,
                    version: version.version,
                    source: PluginSource::Uploaded,
                    sha256: version.sha256.clone(),
                };
                active.insert(key, ActiveRule { plugin, reference });
            }
            _ => {
                active.remove(&key);
            }
        }
    }

    fn load_active_uploads(&mut self) -> Result<(), RulesError> {
        let histories = self.store.plugin_histories().map_err(RulesError::from_store)?;
        for (account, kind, history) in histories {
            let Some(version) = history.active_version() else { continue };
            let plugin = self.uploaded(kind, &version.sha256).map_err(|error| {
                RulesError(format!(
                    "account {account}'s active {kind} rule (version {}): {error}",
                    version.version
                ))
            })?;
            self.activate(&account, kind, &history, Some(plugin));
        }
        Ok(())
    }

    /// An uploaded component by hash: compiled already, or from its stored bytes.
    fn uploaded(&self, kind: PluginKind, sha256: &str) -> Result<Arc<Plugin>, RulesError> {
        if let Some(plugin) = self.loaded.lock().get(&(kind, sha256.to_owned())) {
            return Ok(Arc::clone(plugin));
        }
        let path = self.blob_path(sha256);
        let bytes = std::fs::read(&path)
            .map_err(|error| RulesError(format!("{}: {error}", path.display())))?;
        let plugin = Arc::new(
            self.compile(kind, &bytes)
                .map_err(|invalid| RulesError(format!("{}: {invalid}", path.display())))?,
        );
        self.loaded.lock().insert((kind, sha256.to_owned()), Arc::clone(&plugin));
        Ok(plugin)
    }

    fn history(&self, account: &AccountId, kind: PluginKind) -> Result<PluginHistory, RulesError> {
        let history = self.store.plugin_history(account, kind).map_err(RulesError::from_store)?;
        Ok(history.unwrap_or_default())
    }

    async fn save(
        &self,
        account: &AccountId,
        kind: PluginKind,
        history: &PluginHistory,
        answered: Option<(String, IdempotencyRecord)>,
    ) -> Result<(), RulesError> {
        let answered = answered.as_ref().map(|(key, record)| (key.as_str(), record));
        let ticket = self
            .store
            .put_plugin_history(account, kind, history, answered)
            .map_err(RulesError::from_store)?;
        ticket.wait().await.map_err(RulesError::from_store)
    }

    fn blob_path(&self, sha256: &str) -> PathBuf {
        self.blobs_dir.join(format!("{sha256}.wasm"))
    }

    /// The component's bytes, durably, before any history names them.
    fn write_blob(&self, sha256: &str, bytes: &[u8]) -> Result<(), RulesError> {
        let path = self.blob_path(sha256);
        let failed = |error: std::io::Error| RulesError(format!("{}: {error}", path.display()));
        if path.exists() {
            return Ok(());
        }
        let partial = path.with_extension("wasm.partial");
        let mut file = std::fs::File::create(&partial).map_err(failed)?;
        file.write_all(bytes).map_err(failed)?;
        file.sync_all().map_err(failed)?;
        std::fs::rename(&partial, &path).map_err(failed)?;
        std::fs::File::open(&self.blobs_dir).and_then(|dir| dir.sync_all()).map_err(failed)
    }
}
