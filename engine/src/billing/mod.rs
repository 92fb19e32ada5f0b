//! Subscription billing beside the actors: period arithmetic ([`periods`]), an invoice's
//! amounts from the account's rules ([`invoicing`]), the lines a plan puts on an invoice
//! ([`lines`]), the hours a retry that prompts a person may be made in ([`local_hours`]) and the
//! durable schedule's runner ([`scheduler`]), for real time and for test
//! clocks alike; what a customer's subscriptions and purchases grant ([`entitlements`]), with
//! the plans' features kept in memory for it ([`plan_features`]) and each resident customer's
//! sources published for the API to read ([`entitlement_index`]).
//! The printable receipts of paid invoices and charges ([`receipt`]).

pub mod credit_notes;
pub mod entitlement_index;
pub mod entitlements;
pub mod invoicing;
pub mod lines;
pub mod local_hours;
pub mod periods;
pub mod plan_features;
pub mod receipt;
pub mod scheduler;
