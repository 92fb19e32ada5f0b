//! Rule plugins as an account sees them: each kind (pricing, proration, tax) has a history of
//! uploaded versions and one active version; version 0 is the bundled rule every account starts
//! with. Uploading adds a version and activates it; rolling back activates the one before.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PluginKind {
    Pricing,
    Proration,
    Tax,
}

impl PluginKind {
    pub const ALL: [PluginKind; 3] = [PluginKind::Pricing, PluginKind::Proration, PluginKind::Tax];

    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Pricing => "pricing",
            PluginKind::Proration => "proration",
            PluginKind::Tax => "tax",
        }
    }

    pub fn parse(text: &str) -> Option<PluginKind> {
        PluginKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PluginSource {
    /// Shipped with the engine (or replaced by the operator's plugins folder).
    Bundled,
    /// Uploaded by the account through the API.
    Uploaded,
}

impl PluginSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PluginSource::Bundled => "bundled",
            PluginSource::Uploaded => "uploaded",
        }
    }
}

/// Names one exact rule: enough to find its bytes again and to prove which code ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginRef {
    pub kind: PluginKind,
    pub version: u32,
    pub source: PluginSource,
    /// SHA-256 of the component's bytes, lower-case hex.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginVersion {
    /// 1, 2, …: the bundled rule is version 0 and is not listed here.
    pub version: u32,
    pub sha256: String,
    pub size_bytes: u64,
    pub created: i64,
}

/// One version of one kind, as `GET /v1/plugins` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionListing {
    pub version: u32,
    pub source: PluginSource,
    pub sha256: String,
    pub size_bytes: u64,
    /// `None` for the bundled rule.
    pub created: Option<i64>,
}

/// An account's rule of one kind: its versions (bundled first) and the active one. Kept as the
/// answer of an idempotent rollback, so a retry is shown what the first request did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindListing {
    pub kind: PluginKind,
    pub active_version: u32,
    pub versions: Vec<VersionListing>,
}

/// One account's uploaded versions of one kind, oldest first, and which is active.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PluginHistory {
    pub versions: Vec<PluginVersion>,
    /// 0 is the bundled rule.
    pub active: u32,
}

impl PluginHistory {
    pub fn active_version(&self) -> Option<&PluginVersion> {
        self.versions.iter().find(|version| version.version == self.active)
    }

    /// Adds `version` as the newest and makes it active.
    pub fn push(&mut self, sha256: String, size_bytes: u64, created: i64) -> &PluginVersion {
        let version = self.versions.last().map_or(1, |last| last.version + 1);
        self.versions.push(PluginVersion { version, sha256, size_bytes, created });
        self.active = version;
        self.versions.last().expect("just pushed")
    }

    /// Activates the version before the active one (the bundled rule before version 1); `None`
    /// when the bundled rule is already active.
    pub fn roll_back(&mut self) -> Option<u32> {
        if self.active == 0 {
            return None;
        }
        self.active = self.before_active();
        Some(self.active)
    }

    /// The version a rollback activates: the newest one before the active one, else 0.
    fn before_active(&self) -> u32 {
        self.versions
            .iter()
            .rev()
            .map(|version| version.version)
            .find(|version| *version < self.active)
            .unwrap_or(0)
    }

    /// Keeps the newest `kept` versions, and always the active one and the one a rollback from
    /// it activates; returns the versions dropped, oldest first.
    pub fn prune(&mut self, kept: usize) -> Vec<PluginVersion> {
        let protected = [self.active, self.before_active()];
        let mut excess = self.versions.len().saturating_sub(kept);
        let mut dropped = Vec::new();
        self.versions.retain(|version| {
            let drop = excess > 0 && !protected.contains(&version.version);
            if drop {
                excess -= 1;
                dropped.push(version.clone());
            }
            !drop
        });
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_activate_and_rollbacks_walk_back_to_the_bundled_rule() {
        let mut history = PluginHistory::default();
        assert_eq!(history.active, 0);
        assert_eq!(history.roll_back(), None, "nothing before the bundled rule");
        history.push("aa".into(), 10, 1);
        history.push("bb".into(), 20, 2);
        assert_eq!(history.active, 2);
        assert_eq!(history.active_version().unwrap().sha256, "bb");
        assert_eq!(history.roll_back(), Some(1));
        assert_eq!(history.active_version().unwrap().sha256, "aa");
        // A new upload after a rollback is numbered after every earlier one.
        history.push("cc".into(), 30, 3);
        assert_eq!(history.active, 3);
        assert_eq!(history.roll_back(), Some(2));
        assert_eq!(history.roll_back(), Some(1));
        assert_eq!(history.roll_back(), Some(0), "the bundled rule comes before version 1");
        assert_eq!(history.active_version(), None);
        assert_eq!(history.roll_back(), None);
    }

    #[test]
    fn pruning_keeps_the_newest_and_what_a_rollback_needs() {
        let mut history = PluginHistory::default();
        for (index, sha) in ["aa", "bb", "cc", "dd"].into_iter().enumerate() {
            history.push(sha.into(), 10, index as i64);
        }
        let dropped = history.prune(2);
        let numbers = |versions: &[PluginVersion]| -> Vec<u32> {
            versions.iter().map(|version| version.version).collect()
        };
        assert_eq!(numbers(&dropped), [1, 2], "the oldest go first");
        assert_eq!(numbers(&history.versions), [3, 4]);
        assert!(history.prune(2).is_empty(), "within the bound, nothing more goes");

        // Rolled back to 3: 3 and the bundled rule before it are what a rollback needs; a new
        // upload (5) is the newest, and 4 makes way under a bound of 2.
        history.roll_back();
        history.push("ee".into(), 10, 5);
        assert_eq!(numbers(&history.prune(2)), [3]);
        assert_eq!(numbers(&history.versions), [4, 5]);

        // A bound of 1 still keeps the active version and the one before it.
        let mut kept_one = PluginHistory::default();
        for sha in ["aa", "bb", "cc"] {
            kept_one.push(sha.into(), 10, 0);
        }
        kept_one.roll_back();
        assert_eq!(numbers(&kept_one.prune(1)), [3]);
        assert_eq!(numbers(&kept_one.versions), [1, 2], "active 2 and its predecessor 1");
        assert_eq!(kept_one.roll_back(), Some(1));
    }

    #[test]
    fn kinds_parse_from_their_path_segment() {
        for kind in PluginKind::ALL {
            assert_eq!(PluginKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(PluginKind::parse("discounts"), None);
    }
}
