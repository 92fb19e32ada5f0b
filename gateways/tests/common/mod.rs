//! Helpers shared by the gateway tests: a sled directory with the durability the engine would
//! give, a port nobody listens on, and the local fake providers (each starts its own warp server on
//! an ephemeral loopback port).

#![allow(dead_code)]

pub mod fake_daraja;
pub mod fake_stripe;

use std::net::SocketAddr;
use std::sync::Arc;

use kassa_gateways::Durability;

/// Durability for tests: sled's own flush (the engine adds the fdatasync).
pub struct Flush(pub sled::Db);

#[async_trait::async_trait]
impl Durability for Flush {
    async fn sync(&self) -> Result<(), String> {
        self.0.flush().map(drop).map_err(|error| error.to_string())
    }
}

pub fn database(directory: &tempfile::TempDir) -> (sled::Db, Arc<dyn Durability>) {
    let db = sled::open(directory.path()).unwrap();
    let durability: Arc<dyn Durability> = Arc::new(Flush(db.clone()));
    (db, durability)
}

/// An address on which a connection is refused: bound once, then released.
pub fn refused_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}
