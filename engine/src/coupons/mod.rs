//! Coupons and promotion codes as the engine redeems them: a request's code resolved and
//! checked ([`resolve`]), and the redemptions counted against their limits ([`book`]).

pub mod book;
pub mod resolve;

pub use book::RedemptionBook;
pub use resolve::{Purchase, Refused, Requested, ResolveError, Resolved, resolve};
