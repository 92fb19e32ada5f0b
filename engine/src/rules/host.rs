//! [`RuleHost`]: the host's small public face — load bytes as a rule of a kind, get a [`Plugin`]
//! whose typed calls run isolated. The catalog builds on it; so do the benchmarks and tests.

use std::path::Path;

use super::RulesError;
use super::cache::ArtifactCache;
use super::component::{self, PluginInvalid};
use super::plugin::Plugin;
use super::runtime::Runtime;
use crate::config::RulesConfig;
use crate::domain::PluginKind;

pub struct RuleHost {
    runtime: Runtime,
    cache: ArtifactCache,
}

impl RuleHost {
    /// `cache_dir`: where compiled components are kept across restarts (`None`: not kept).
    pub fn new(config: &RulesConfig, cache_dir: Option<&Path>) -> Result<RuleHost, RulesError> {
        let runtime = Runtime::new(config).map_err(|error| {
            RulesError(format!("the WebAssembly engine failed to start: {error}"))
        })?;
        let cache = ArtifactCache::new(&runtime.engine, cache_dir).map_err(|error| {
            RulesError(format!("the compiled-rules cache could not be opened: {error}"))
        })?;
        Ok(RuleHost { runtime, cache })
    }

    /// Checks, compiles (or loads from the cache) and trial-instantiates `bytes` as a `kind`
    /// rule; every refusal names its reason. Writes nothing: see [`RuleHost::keep_compiled`].
    pub fn load(&self, kind: PluginKind, bytes: &[u8]) -> Result<Plugin, PluginInvalid> {
        component::load(&self.runtime, &self.cache, kind, bytes)
    }

    /// Keeps an accepted rule's compiled form on disk, so the next start loads it in ms.
    pub fn keep_compiled(&self, plugin: &Plugin) {
        self.cache.keep(plugin.sha256(), plugin.component());
    }

    /// Removes the compiled form of a rule no account names any more.
    pub fn forget_compiled(&self, sha256: &str) {
        self.cache.forget(sha256);
    }
}
