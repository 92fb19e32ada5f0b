//! Kassa's domain: the records a payment engine keeps, independent of HTTP, storage and gateways.

pub mod breakdown;
pub mod charge;
pub mod customer;
pub mod dispute;
pub mod event;
pub mod gateway_event;
pub mod ids;
pub mod money;
pub mod payment_method;
pub mod plugin;
pub mod refund;
pub mod time;

pub use breakdown::{Breakdown, Discount, PricedLine, RuleEvaluation, TaxLine};
pub use charge::{Charge, ChargeStatus, ClientSecret, Failure, NextAction};
pub use customer::{Address, Customer, Metadata, TaxId};
pub use dispute::Dispute;
pub use event::{Event, EventKind};
pub use gateway_event::{Applied, GatewayEvent, NewGatewayEvent};
pub use ids::{AccountId, ChargeId, CustomerId, DisputeId, EventId, PaymentMethodId, RefundId};
pub use money::{Currency, Money};
pub use payment_method::{CardDisplay, PaymentMethod, PaymentMethodKind};
pub use plugin::{PluginHistory, PluginKind, PluginRef, PluginSource, PluginVersion};
pub use refund::{Refund, RefundReason, RefundStatus};
