//! Events the gateways send after the fact (Stripe webhooks, M-Pesa STK Push results), taken in
//! through one inbox. Each gateway's adapter verifies and reads its own deliveries
//! (`kassa_gateways::webhooks`); the engine keeps and applies them:
//!
//! - [`sources`]: the gateways that take webhooks here, by path name;
//! - [`inbox`]: persist (deduplicated by the gateway's event id) before acknowledging, then
//!   apply, and at start-up apply whatever a crash left persisted but unapplied;
//! - [`apply`]: what each event does to Kassa's records, forward-only.

pub mod apply;
pub mod inbox;
pub mod sources;

pub use inbox::{Inbox, InboxSettings, IngestError, Ingested};
pub use sources::WebhookSources;
