//! Subscription billing beside the actors: period arithmetic ([`periods`]), an invoice's
//! amounts from the account's rules ([`invoicing`]), the lines a plan puts on an invoice
//! ([`lines`]) and the durable schedule's runner ([`scheduler`]), for real time and for test
//! clocks alike; what a customer's subscriptions grant ([`entitlements`]).

pub mod entitlements;
pub mod invoicing;
pub mod lines;
pub mod periods;
pub mod scheduler;
