//! Which rule each account runs. Every account starts on the bundled rules (version 0 of each
//! kind); an upload adds a version and activates it for that account alone; a rollback activates
//! the version before. Histories live in the store; components' bytes in [`Blobs`].
//!
//! Everything an upload leaves is bounded: an account keeps its newest `rules.versions_kept`
//! versions of a kind (never the active one nor the one a rollback from it needs), and the bytes
//! and compiled form of a version no account names any more are removed; only rules in use stay
//! in memory; a refused upload writes nothing. Uploads compile off any lock, at most
//! [`RULE_COMPILES_MAX`] at once, then take the turn of their account and kind alone.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock};
use tokio::sync::Semaphore;

use super::blobs::Blobs;
use super::component::PluginInvalid;
use super::host::RuleHost;
use super::plugin::Plugin;
use super::{RulesError, bundled};
use crate::config::RulesConfig;
use crate::domain::time::now_unix_secs;
use crate::domain::{AccountId, PluginHistory, PluginKind, PluginRef, PluginSource, PluginVersion};
pub use crate::domain::{KindListing, VersionListing};
use crate::limits::RULE_COMPILES_MAX;
use crate::store::{IdempotencyRecord, PluginStore};

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

type Turn = Arc<tokio::sync::Mutex<()>>;

pub struct Catalog {
    host: RuleHost,
    store: Arc<dyn PluginStore>,
    blobs: Blobs,
    bundled: HashMap<PluginKind, Bundled>,
    /// Accounts whose active rule of a kind is an uploaded one.
    active: RwLock<HashMap<(AccountId, PluginKind), ActiveRule>>,
    /// Uploaded components compiled, by kind and hash: shared by every account running the
    /// same bytes (each call still gets its own instance). Held here only weakly: a version no
    /// account runs leaves memory with its last call.
    loaded: Mutex<HashMap<(PluginKind, String), Weak<Plugin>>>,
    /// Changes of one account's rule of one kind take turns (each reads a history and writes it
    /// back); other accounts and kinds change meanwhile. One entry per (account, kind) changed.
    turns: Mutex<HashMap<(AccountId, PluginKind), Turn>>,
    /// Compilations under way: each takes a core for up to seconds, and its trial instance one
    /// of the few pooled slots kept beside the calls'.
    compiles: Semaphore,
    /// Held shared from writing a component's bytes until the history naming them is saved, and
    /// alone while removing the bytes no history names: a removal never takes bytes an upload is
    /// about to name.
    naming: tokio::sync::RwLock<()>,
    versions_kept: usize,
}

impl Catalog {
    /// Loads the bundled rules and every account's active uploaded rule, compiled ones from the
    /// cache in `<data_dir>/plugins/compiled`.
    pub fn open(
        config: &RulesConfig,
        data_dir: &Path,
        store: Arc<dyn PluginStore>,
    ) -> Result<Catalog, RulesError> {
        let blobs_dir = data_dir.join("plugins");
        let host = RuleHost::new(config, Some(&blobs_dir.join("compiled")))?;
        let mut catalog = Catalog {
            host,
            store,
            blobs: Blobs::new(blobs_dir),
            bundled: HashMap::new(),
            active: RwLock::default(),
            loaded: Mutex::default(),
            turns: Mutex::default(),
            compiles: Semaphore::new(RULE_COMPILES_MAX),
            naming: tokio::sync::RwLock::new(()),
            versions_kept: config.versions_kept as usize,
        };
        for kind in PluginKind::ALL {
            let bytes = bundled::default_bytes(kind, &config.plugins_dir)
                .map_err(|error| RulesError(format!("rules.plugins_dir: {kind}.wasm: {error}")))?;
            let plugin = catalog.host.load(kind, &bytes).map_err(|invalid| {
                RulesError(format!("the default {kind} rule is not usable: {invalid}"))
            })?;
            catalog.host.keep_compiled(&plugin);
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
    /// version, and prunes the versions beyond `rules.versions_kept`. Uploading the bytes of the
    /// active version again changes nothing.
    pub async fn upload(
        self: &Arc<Self>,
        account: &AccountId,
        kind: PluginKind,
        bytes: Vec<u8>,
    ) -> Result<KindListing, ChangeError> {
        let (plugin, bytes) = self.compile_off_thread(kind, bytes).await?;
        let turn = self.turn(account, kind);
        let _turn = turn.lock().await;
        let mut history = self.history(account, kind)?;
        if history.active_version().is_some_and(|active| active.sha256 == plugin.sha256()) {
            return Ok(self.listing_of(kind, &history));
        }
        let pruned = {
            let _naming = self.naming.read().await;
            self.blobs.write(plugin.sha256(), &bytes)?;
            history.push(plugin.sha256().to_owned(), bytes.len() as u64, now_unix_secs());
            let pruned = history.prune(self.versions_kept);
            self.save(account, kind, &history, None).await?;
            self.host.keep_compiled(&plugin);
            pruned
        };
        let plugin = self.remember(kind, Arc::new(plugin));
        self.activate(account, kind, &history, Some(plugin));
        tracing::info!(account = %account, kind = %kind, version = history.active, "rule uploaded");
        self.forget_unnamed(pruned).await;
        Ok(self.listing_of(kind, &history))
    }

    /// Activates the version before the active one; the bundled rule comes before version 1.
    /// `answered` gives the request's idempotency record, written with the new history.
    pub async fn roll_back(
        self: &Arc<Self>,
        account: &AccountId,
        kind: PluginKind,
        answered: Answered<'_>,
    ) -> Result<KindListing, ChangeError> {
        let turn = self.turn(account, kind);
        let _turn = turn.lock().await;
        let mut history = self.history(account, kind)?;
        history.roll_back().ok_or(ChangeError::NothingToRollBack(kind))?;
        let plugin = match history.active_version() {
            Some(version) => Some(self.uploaded_off_thread(kind, &version.sha256).await?),
            None => None,
        };
        let listing = self.listing_of(kind, &history);
        self.save(account, kind, &history, answered(&listing)).await?;
        self.activate(account, kind, &history, plugin);
        tracing::info!(account = %account, kind = %kind, version = history.active, "rule rolled back");
        Ok(listing)
    }

    /// The turn of `account`'s changes to its `kind` rule.
    fn turn(&self, account: &AccountId, kind: PluginKind) -> Turn {
        Arc::clone(self.turns.lock().entry((account.clone(), kind)).or_default())
    }

    /// Checks and compiles `bytes` on a blocking thread, within [`RULE_COMPILES_MAX`].
    async fn compile_off_thread(
        self: &Arc<Self>,
        kind: PluginKind,
        bytes: Vec<u8>,
    ) -> Result<(Plugin, Vec<u8>), ChangeError> {
        let _compiling = self.compiles.acquire().await.map_err(|_| shutting_down())?;
        let catalog = Arc::clone(self);
        let (plugin, bytes) = tokio::task::spawn_blocking(move || {
            let plugin = catalog.host.load(kind, &bytes);
            (plugin, bytes)
        })
        .await
        .map_err(|error| RulesError(format!("compiling the upload failed: {error}")))?;
        Ok((plugin?, bytes))
    }

    /// [`Catalog::uploaded`], off the async workers when it must be compiled.
    async fn uploaded_off_thread(
        self: &Arc<Self>,
        kind: PluginKind,
        sha256: &str,
    ) -> Result<Arc<Plugin>, RulesError> {
        if let Some(plugin) = self.in_memory(kind, sha256) {
            return Ok(plugin);
        }
        let _compiling = self.compiles.acquire().await.map_err(|_| shutting_down())?;
        let (catalog, sha256) = (Arc::clone(self), sha256.to_owned());
        tokio::task::spawn_blocking(move || catalog.uploaded(kind, &sha256))
            .await
            .map_err(|error| RulesError(format!("loading a rule failed: {error}")))?
    }

    /// Removes the bytes and compiled form of pruned versions no history names any more (another
    /// account may run the same bytes). Failing only leaves a file behind: logged, not raised.
    async fn forget_unnamed(&self, pruned: Vec<PluginVersion>) {
        if pruned.is_empty() {
            return;
        }
        let _alone = self.naming.write().await;
        let named: HashSet<String> = match self.store.plugin_histories() {
            Ok(histories) => histories
                .into_iter()
                .flat_map(|(_, _, history)| history.versions)
                .map(|version| version.sha256)
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "pruned rule versions' files kept: histories unreadable");
                return;
            }
        };
        let bundled: HashSet<&str> =
            self.bundled.values().map(|bundled| bundled.rule.reference.sha256.as_str()).collect();
        for version in pruned {
            let sha256 = version.sha256.as_str();
            if named.contains(sha256) {
                continue;
            }
            if let Err(error) = self.blobs.remove(sha256) {
                tracing::warn!(%error, "a pruned rule version's bytes could not be removed");
            }
            // The same bytes as a bundled rule share its compiled artifact.
            if !bundled.contains(sha256) {
                self.host.forget_compiled(sha256);
            }
        }
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

    /// An uploaded component by hash: in memory already, or from its stored bytes (compiled
    /// from the cache, or again).
    fn uploaded(&self, kind: PluginKind, sha256: &str) -> Result<Arc<Plugin>, RulesError> {
        if let Some(plugin) = self.in_memory(kind, sha256) {
            return Ok(plugin);
        }
        let bytes = self.blobs.read(sha256)?;
        let plugin = self.host.load(kind, &bytes).map_err(|invalid| {
            RulesError(format!("the stored {kind} rule {sha256} is not usable: {invalid}"))
        })?;
        // A history names it: it was accepted.
        self.host.keep_compiled(&plugin);
        Ok(self.remember(kind, Arc::new(plugin)))
    }

    fn in_memory(&self, kind: PluginKind, sha256: &str) -> Option<Arc<Plugin>> {
        self.loaded.lock().get(&(kind, sha256.to_owned())).and_then(Weak::upgrade)
    }

    /// The one copy of `plugin` in memory: one loaded meanwhile wins, so accounts share it.
    /// Entries of rules no longer in use are dropped on the way.
    fn remember(&self, kind: PluginKind, plugin: Arc<Plugin>) -> Arc<Plugin> {
        let mut loaded = self.loaded.lock();
        loaded.retain(|_, weak| weak.strong_count() > 0);
        let key = (kind, plugin.sha256().to_owned());
        if let Some(existing) = loaded.get(&key).and_then(Weak::upgrade) {
            return existing;
        }
        loaded.insert(key, Arc::downgrade(&plugin));
        plugin
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
}

fn shutting_down() -> RulesError {
    RulesError("the rules host is shutting down".to_owned())
}
