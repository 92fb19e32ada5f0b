//! The durable trees a gateway keeps its own records in, given to it by the engine. The engine
//! makes every write part of its write-ahead log, so a gateway's records share the engine's
//! fsyncs and come back after a crash exactly as far as the log says, and a gateway holds no
//! handle on the database itself.

use crate::GatewayError;

/// One key written in one tree.
#[derive(Debug, Clone, Copy)]
pub struct Put<'a> {
    pub tree: &'static str,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

#[async_trait::async_trait]
pub trait Trees: Send + Sync {
    fn get(&self, tree: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, GatewayError>;

    /// Writes every put as one write: after a crash, all of them are there or none is.
    fn insert(&self, puts: &[Put<'_>]) -> Result<(), GatewayError>;

    /// [`Trees::insert`], unless `tree` holds `key` already: then nothing is written and its
    /// value is returned. Concurrent calls for one key agree on a single winner.
    fn insert_unless_present(
        &self,
        tree: &'static str,
        key: &[u8],
        puts: &[Put<'_>],
    ) -> Result<Option<Vec<u8>>, GatewayError>;

    fn remove(&self, tree: &'static str, key: &[u8]) -> Result<(), GatewayError>;

    /// The entries of `tree` whose keys are in `from..to`, the last first.
    fn range_rev(
        &self,
        tree: &'static str,
        from: &[u8],
        to: &[u8],
    ) -> Box<dyn Iterator<Item = Result<Entry, GatewayError>> + '_>;

    /// Makes everything written so far durable.
    async fn sync(&self) -> Result<(), GatewayError>;
}

/// Every tree the gateways keep: the engine opens them before it replays its log.
pub const ALL: [&str; 12] = [
    crate::sandbox::ledger::TREES[0],
    crate::sandbox::ledger::TREES[1],
    crate::sandbox::ledger::TREES[2],
    crate::sandbox::ledger::TREES[3],
    crate::sandbox::ledger::TREES[4],
    crate::sandbox::ledger::TREES[5],
    crate::stripe::TREES[0],
    crate::stripe::TREES[1],
    crate::stripe::TREES[2],
    crate::mpesa::TREES[0],
    crate::mpesa::TREES[1],
    crate::mpesa::TREES[2],
];

/// Trees in a plain sled database, for the gateways' own tests: one write at a time, and `sync`
/// is sled's flush (the engine's trees add the log, its atomicity and the `fdatasync`).
pub struct SledTrees(pub sled::Db);

#[async_trait::async_trait]
impl Trees for SledTrees {
    fn get(&self, tree: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, GatewayError> {
        Ok(self.tree(tree)?.get(key).map_err(storage)?.map(|value| value.to_vec()))
    }

    fn insert(&self, puts: &[Put<'_>]) -> Result<(), GatewayError> {
        for put in puts {
            self.tree(put.tree)?.insert(put.key, put.value).map_err(storage)?;
        }
        Ok(())
    }

    fn insert_unless_present(
        &self,
        tree: &'static str,
        key: &[u8],
        puts: &[Put<'_>],
    ) -> Result<Option<Vec<u8>>, GatewayError> {
        static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(present) = self.get(tree, key)? {
            return Ok(Some(present));
        }
        self.insert(puts)?;
        Ok(None)
    }

    fn remove(&self, tree: &'static str, key: &[u8]) -> Result<(), GatewayError> {
        self.tree(tree)?.remove(key).map_err(storage)?;
        Ok(())
    }

    fn range_rev(
        &self,
        tree: &'static str,
        from: &[u8],
        to: &[u8],
    ) -> Box<dyn Iterator<Item = Result<Entry, GatewayError>> + '_> {
        match self.tree(tree) {
            Ok(tree) => Box::new(tree.range(from.to_vec()..to.to_vec()).rev().map(|item| {
                item.map(|(key, value)| (key.to_vec(), value.to_vec())).map_err(storage)
            })),
            Err(error) => Box::new(std::iter::once(Err(error))),
        }
    }

    async fn sync(&self) -> Result<(), GatewayError> {
        self.0.flush().map(drop).map_err(storage)
    }
}

impl SledTrees {
    fn tree(&self, name: &str) -> Result<sled::Tree, GatewayError> {
        self.0.open_tree(name).map_err(storage)
    }
}

fn storage(error: sled::Error) -> GatewayError {
    GatewayError::Storage(error.to_string())
}
