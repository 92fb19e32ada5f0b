//! Kassa's domain: the records a payment engine keeps, independent of HTTP, storage and gateways.

pub mod charge;
pub mod customer;
pub mod event;
pub mod ids;
pub mod money;
pub mod payment_method;
pub mod refund;
pub mod time;

pub use charge::{Charge, ChargeStatus, Failure};
pub use customer::{Address, Customer, Metadata};
pub use event::{Event, EventKind};
pub use ids::{AccountId, ChargeId, CustomerId, EventId, PaymentMethodId, RefundId};
pub use money::{Currency, Money};
pub use payment_method::{CardDisplay, PaymentMethod};
pub use refund::{Refund, RefundReason, RefundStatus};
