//! The books (see [`crate::domain::ledger`]): the postings each movement of money makes
//! ([`postings`]), and the check that the books balance and match what they record
//! ([`verify`]).

pub mod postings;
pub mod verify;
