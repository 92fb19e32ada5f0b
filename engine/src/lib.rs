//! Kassa, a self-hosted payment engine.
//!
//! - [`domain`]: money, ids, customers, payment methods, charges, refunds, audit events;
//! - [`store`]: durable storage (sled) behind Kassa's own trait, with group commit;
//! - [`actor`]: one actix actor per customer, sharded over the cores;
//! - [`api`]: the HTTP API (warp): routes, auth, errors, idempotency, pagination;
//! - [`serve`]: serves it over HTTP/1.1 with a connection cap and time limits;
//! - [`recovery`]: settles what a crash left `processing`, at start-up;
//! - [`rules`]: the WebAssembly host for pricing, proration and tax rules;
//! - [`gateway_setup`]: the payment gateways opened from config or registered by an embedding
//!   program, metered, and the router over them (the adapters are the `kassa_gateways` crate);
//! - [`webhooks`]: the gateways' events after the fact, kept and applied; [`events_out`]: the
//!   platform's own events, delivered to its endpoints;
//! - [`billing`]: periods, invoice pricing and the renewal scheduler for subscriptions;
//!   [`bank_statements`]: bank statements (camt.053, CSV) read into lines to reconcile;
//! - [`ledger`]: the books, a posting for every movement of money, and their verification;
//!   [`payouts`]: money out to payees, by hand and on their schedules; [`reports`]: revenue,
//!   subscription figures and payee statements, read from the books; [`archival`]: closed
//!   records moved to archive files, still read by id and counted;
//! - [`data_key`]: the secret for data at rest, and the keys derived from it per purpose;
//!   [`secrets`]: random API keys and tokens;
//! - [`account_directory`]: the accounts this engine serves, for what looks across them;
//! - [`app`]: wires them together; [`config`]: typed configuration; [`limits`]: fixed bounds.

pub mod account_directory;
pub mod actor;
pub mod api;
pub mod app;
pub mod archival;
pub mod bank_statements;
pub mod billing;
pub mod checkout;
pub mod cluster;
pub mod config;
pub mod coupons;
pub mod data_key;
pub mod domain;
pub mod events_out;
pub mod gateway_setup;
pub mod ledger;
pub mod limits;
pub mod metrics;
pub mod payouts;
pub mod recovery;
pub mod reports;
pub mod rules;
pub mod secrets;
pub mod serve;
pub mod store;
pub mod webhooks;
