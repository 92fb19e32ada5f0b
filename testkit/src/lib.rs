//! Test support shared by the gateways' and the engine's tests.
//!
//! - [`fake_stripe`]: Stripe's REST API for what the Stripe adapter uses, and
//!   [`fake_daraja`]: Safaricom Daraja's OAuth and STK Push endpoints. Each is a warp server on
//!   an ephemeral loopback port that speaks the processor's wire format, so tests exercise the
//!   real adapters over real HTTP.
//! - [`fake_processor`]: FakePay, a complete adapter for an in-memory processor, written as a
//!   new gateway would be, and registered in a test engine.
//! - [`postgres`]: a real PostgreSQL server, and a fresh database in it per test.

pub mod fake_daraja;
pub mod fake_processor;
pub mod fake_stripe;
pub mod postgres;

use std::net::SocketAddr;

/// An address on which a connection is refused: bound once, then released.
pub fn refused_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("the bound port")
}
