//! The rules host: pricing, proration and tax rules as isolated WebAssembly components
//! (wasmtime, component model, `wit/rules.wit`).
//!
//! - [`host`]: [`RuleHost`], the public face: bytes in, a callable [`Plugin`] out;
//! - [`runtime`]: the one wasmtime engine (fuel, pooling allocator) and the linker;
//! - [`deadline`]: the wall-clock bounds: an epoch deadline per call, and no waiting;
//! - [`isolation`]: what one call runs in: a WASI context that grants nothing, the memory cap;
//! - [`component`]: bytes to a checked, compiled rule; [`cache`]: compiled rules on disk;
//! - [`plugin`]: a loaded rule's typed calls; [`check`]: every output validated before use;
//! - [`bindings`] and [`convert`]: the WIT types, kept at the boundary; [`types`]: the engine's;
//! - [`bundled`]: the default rules, embedded; [`catalog`]: which rule each account runs, its
//!   uploads' bytes in [`blobs`];
//! - [`quote`]: pricing then tax for a charge made from line items, within its account's
//!   [`slots`], on the rule threads of [`pool`] when too long for the API's workers;
//! - [`turn`]: rule calls made inside a customer's actor turn (invoices), on the rule threads
//!   too when too long for the actor's.

mod bindings;
mod blobs;
mod cache;
mod check;
mod component;
mod convert;
mod deadline;
mod isolation;
mod pool;
mod runtime;
mod slots;

pub mod bundled;
pub mod catalog;
pub mod host;
pub mod plugin;
pub mod quote;
pub mod turn;
pub mod types;

pub use catalog::{ActiveRule, Catalog, ChangeError, KindListing, VersionListing};
pub use component::{PluginInvalid, sha256_hex};
pub use host::RuleHost;
pub use plugin::{CallError, Lane, Plugin};
pub use quote::{Cart, QuoteError, Rules};

use crate::store::StoreError;

/// The rules host itself failed (storage, a stored component gone missing, the engine).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rules: {0}")]
pub struct RulesError(pub String);

impl RulesError {
    fn from_store(error: StoreError) -> RulesError {
        RulesError(error.to_string())
    }
}
