//! Per-customer actors. Each (account, customer) has one actix actor that owns the customer's
//! state and applies its state changes one at a time; the [`registry`] shards actors over one
//! arbiter per core, spawns them on first use, and stops idle or surplus ones.
//!
//! - [`customer`]: the actor, its state and lifecycle;
//! - [`messages`]: what the API and recovery ask of it;
//! - [`payment_methods`], [`charges`], [`refunds`], [`reconcile`], [`gateway_events`]: one file
//!   per flow; [`review`]: a charge held because the gateway reported another amount;
//!   [`purchases`]: what a charge grants and what taking its money back withdraws;
//!   [`billing`]: subscriptions, renewals and invoices; `audit_status`: the statuses an
//!   audit event records.

mod announce;
mod audit_status;
mod balance_refunds;
pub mod bank_transfers;
pub mod billing;
mod books;
pub mod charges;
pub mod checkout;
pub mod customer;
mod customer_create;
pub mod customer_update;
pub mod erasure;
pub mod gateway_events;
pub mod hosted_pages;
pub mod hosted_payments;
pub mod messages;
pub mod payment_methods;
pub mod purchases;
pub mod reconcile;
mod redemptions;
mod refund_payouts;
pub mod refunds;
pub mod registry;
pub mod review;
pub(crate) mod settlement;

use std::sync::Arc;
use std::time::Duration;

use kassa_gateways::Router;

use crate::domain::{AccountId, CustomerId};
use crate::gateway_setup::policy::GatewayPolicies;
use crate::store::{CustomerStore, StoreError};

pub use customer::CustomerActor;
pub use messages::IdempotencyTicket;
pub use registry::Registry;

/// A state change that is decided and applied, and resolves once it is durable: the caller
/// awaits it outside the actor, so the actor goes on with its next message meanwhile.
pub type Durably<T> = futures::future::BoxFuture<'static, Result<T, ActorError>>;

/// What every actor needs from the rest of the engine.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn CustomerStore>,
    pub gateways: Router,
    pub gateway_timeout: Duration,
    /// How long after an unknown gateway outcome the gateway is first asked again.
    pub reconcile_after: Duration,
    /// Pricing, proration and tax rules, for invoices.
    pub rules: Arc<crate::rules::Rules>,
    /// Each gateway's minimum amounts and renewal pace (see [`GatewayPolicies`]).
    pub gateway_policies: Arc<GatewayPolicies>,
    /// Dunning (when failed invoice payments are tried again, what the last failure does) and
    /// the grace period.
    pub billing: Arc<crate::config::BillingConfig>,
    /// When a retry that prompts a person may be made (`billing.dunning.local_hours`).
    pub prompt_hours: crate::billing::local_hours::LocalHours,
    /// What each plan grants, for entitlements answered without a storage read.
    pub plan_features: Arc<crate::billing::plan_features::PlanFeatures>,
    /// Where actors publish what their customers' entitlements are computed from.
    pub entitlements: Arc<crate::billing::entitlement_index::EntitlementIndex>,
    /// Wakes the dispatcher of outgoing events when a commit queued some.
    pub outbox: Arc<crate::events_out::OutboxSignal>,
    /// Coupon and promotion code redemptions, counted against their limits across customers.
    pub redemptions: Arc<crate::coupons::RedemptionBook>,
    /// The accounts' settings (a bank transfer's bank details).
    pub accounts: crate::account_directory::AccountDirectory,
    /// Where buyers reach the engine (`server.public_url`): invoice pages' links.
    pub public_url: String,
    /// The payout adapters, which pay back refunds of charges with no card to go back to.
    pub payout_adapters: Vec<Arc<dyn kassa_gateways::payouts::PayoutAdapter>>,
}

/// Which customer an actor serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CustomerKey {
    pub account: AccountId,
    pub customer: CustomerId,
}

/// Why a state change was refused or failed. The API maps each to its status and code.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ActorError {
    #[error("no such {kind}: {id}")]
    NotFound { kind: &'static str, id: String },
    #[error("{message}")]
    Invalid { code: &'static str, param: Option<&'static str>, message: String },
    #[error("the refund exceeds what is left of the charge ({left} left)")]
    AmountTooLarge { left: i64 },
    /// More of a customer's credit balance asked for than it holds.
    #[error("the customer holds {available} of credit")]
    InsufficientBalance { available: i64 },
    #[error("charge {0} has already been refunded in full")]
    AlreadyRefunded(String),
    #[error("the Idempotency-Key was used for a different request")]
    IdempotencyReused,
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// A rule refused or failed while an invoice was priced, taxed or prorated.
    #[error(transparent)]
    Rule(#[from] crate::rules::CallError),
    /// A turn stopped, keeping nothing, for a rule call too long for the actor's thread: the
    /// actor makes it on the rule threads and runs the turn again (`billing::rule_rounds`), so
    /// callers never see this.
    #[error("a rule call is to be made on the rule threads")]
    NeedsRuleThreads(Box<crate::rules::turn::PendingCall>),
    #[error("the customer's actor is not available: {0}")]
    Unavailable(String),
    /// The actor is stopping and refused the message before doing anything; the registry sends
    /// it again to a fresh actor, so callers never see this.
    #[error("the customer's actor is stopping")]
    Stopping,
}

impl From<crate::rules::turn::TurnCallError> for ActorError {
    fn from(error: crate::rules::turn::TurnCallError) -> ActorError {
        match error {
            crate::rules::turn::TurnCallError::Call(error) => ActorError::Rule(error),
            crate::rules::turn::TurnCallError::NeedsThreads(call) => {
                ActorError::NeedsRuleThreads(call)
            }
        }
    }
}

impl ActorError {
    pub fn invalid(
        code: &'static str,
        param: Option<&'static str>,
        message: impl Into<String>,
    ) -> ActorError {
        ActorError::Invalid { code, param, message: message.into() }
    }
}
