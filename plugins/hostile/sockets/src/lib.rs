//! Test fixture, never bundled: a pricing rule that opens a TCP connection, so its component
//! imports WASI socket interfaces. Kassa must refuse it at upload.

use kassa_rules_sdk::{PricingInput, PricingOutput, PricingRule, RuleError};

pub struct Phones;

impl PricingRule for Phones {
    fn price(input: PricingInput) -> Result<PricingOutput, RuleError> {
        let reached = std::net::TcpStream::connect("10.0.0.1:80").is_ok();
        core::hint::black_box(reached);
        Ok(PricingOutput {
            currency: input.currency,
            lines: Vec::new(),
            subtotal: 0,
            discounts: Vec::new(),
            total: 0,
        })
    }
}

kassa_rules_sdk::export_pricing_rule!(Phones);
