//! The books (see [`crate::domain::ledger`]): the postings each movement of money makes
//! ([`postings`]), what each invoice accrues ([`accrual`]) and each sale ([`sale`]), a payee's
//! balance from its postings ([`balances`]), and the check that the books balance and match
//! what they record ([`verify`]).

pub mod accrual;
pub mod balances;
pub mod postings;
pub mod sale;
pub mod verify;
