//! Helpers shared by the gateway tests (the fake providers are `kassa-testkit`'s).

#![allow(dead_code)]

use std::sync::Arc;

use kassa_gateways::trees::{SledTrees, Trees};

/// The gateways' trees in a plain sled directory (the engine adds its log and the fdatasync).
pub fn database(directory: &tempfile::TempDir) -> Arc<dyn Trees> {
    Arc::new(SledTrees(sled::open(directory.path()).unwrap()))
}
