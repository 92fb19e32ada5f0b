//! Events the gateways send after the fact (Stripe webhooks, M-Pesa STK Push results), taken in
//! through one inbox:
//!
//! - [`signature`]: `Stripe-Signature` verification;
//! - [`stripe_event`]: the parts of a Stripe event Kassa reads;
//! - [`inbox`]: persist (deduplicated by the gateway's event id) before acknowledging, then
//!   apply, and at start-up apply whatever a crash left persisted but unapplied;
//! - [`apply`]: what each event type does to Kassa's records, forward-only.

pub mod apply;
pub mod inbox;
pub mod signature;
pub mod stripe_event;

pub use inbox::{Inbox, InboxSettings, IngestError, Ingested};
