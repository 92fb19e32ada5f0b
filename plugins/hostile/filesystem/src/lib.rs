//! Test fixture, never bundled: a pricing rule that reads a file, so its component imports WASI
//! filesystem interfaces. Kassa must refuse it at upload.

use kassa_rules_sdk::{PricingInput, PricingOutput, PricingRule, RuleError};

pub struct ReadsFiles;

impl PricingRule for ReadsFiles {
    fn price(input: PricingInput) -> Result<PricingOutput, RuleError> {
        let secret = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        core::hint::black_box(secret);
        Ok(PricingOutput {
            currency: input.currency,
            lines: Vec::new(),
            subtotal: 0,
            discounts: Vec::new(),
            total: 0,
        })
    }
}

kassa_rules_sdk::export_pricing_rule!(ReadsFiles);
