//! The gateways' fixed bounds, each with the reason for its value. Bounds an operator may tune
//! (timeouts, attempts, latency) are fields of each gateway's config.

/// Largest `amount` Stripe takes, in Stripe's own unit: "12 digits for most card payments, for a
/// maximum of 999,999,999,999 in minor units" (docs.stripe.com/currencies, maximum charge
/// amounts). Kassa's own ceiling is below it in most currencies, but not once ISK or UGX is
/// scaled to Stripe's hundredths.
pub const STRIPE_AMOUNT_MAX: i64 = 999_999_999_999;
