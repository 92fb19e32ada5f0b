//! Helpers shared by the gateway tests: the gateways' trees in a sled directory, a port nobody
//! listens on, and the local fake providers (each starts its own warp server on an ephemeral
//! loopback port).

#![allow(dead_code)]

pub mod fake_daraja;
pub mod fake_stripe;

use std::net::SocketAddr;
use std::sync::Arc;

use kassa_gateways::trees::{SledTrees, Trees};

/// The gateways' trees in a plain sled directory (the engine adds its log and the fdatasync).
pub fn database(directory: &tempfile::TempDir) -> Arc<dyn Trees> {
    Arc::new(SledTrees(sled::open(directory.path()).unwrap()))
}

/// An address on which a connection is refused: bound once, then released.
pub fn refused_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}
