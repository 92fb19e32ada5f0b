//! Between the generated WIT types and the SDK's plain types, at the component boundary only.

use crate::pricing::exports::kassa::rules::pricing as wit_pricing;
use crate::proration::exports::kassa::rules::proration as wit_proration;
use crate::tax::exports::kassa::rules::tax as wit_tax;
use crate::types::*;

macro_rules! customer_from {
    ($wit:expr) => {{
        let customer = $wit;
        CustomerContext {
            country: customer.country,
            region: customer.region,
            tax_ids: customer
                .tax_ids
                .into_iter()
                .map(|id| TaxId { kind: id.kind, value: id.value })
                .collect(),
            metadata: customer.metadata,
        }
    }};
}

macro_rules! error_into {
    ($module:path, $error:expr) => {{
        use $module as types;
        match $error {
            RuleError::InvalidInput(message) => types::RuleError::InvalidInput(message),
            RuleError::Unsupported(message) => types::RuleError::Unsupported(message),
        }
    }};
}

pub fn price<R: PricingRule>(
    input: wit_pricing::PricingInput,
) -> Result<wit_pricing::PricingOutput, crate::pricing::kassa::rules::types::RuleError> {
    let input = PricingInput {
        lines: input
            .lines
            .into_iter()
            .map(|line| LineItem {
                sku: line.sku,
                quantity: line.quantity,
                unit_amount: line.unit_amount,
            })
            .collect(),
        currency: input.currency,
        customer: customer_from!(input.customer),
        coupons: input
            .coupons
            .into_iter()
            .map(|coupon| Coupon {
                id: coupon.id,
                off: match coupon.off {
                    wit_pricing::CouponOff::PercentOffBps(bps) => CouponOff::PercentOffBps(bps),
                    wit_pricing::CouponOff::AmountOff(amount) => CouponOff::AmountOff(amount),
                },
            })
            .collect(),
        now: input.now,
    };
    match R::price(input) {
        Ok(output) => Ok(wit_pricing::PricingOutput {
            currency: output.currency,
            lines: output
                .lines
                .into_iter()
                .map(|line| wit_pricing::PricedLine {
                    sku: line.sku,
                    quantity: line.quantity,
                    amount: line.amount,
                })
                .collect(),
            subtotal: output.subtotal,
            discounts: output
                .discounts
                .into_iter()
                .map(|discount| wit_pricing::DiscountLine {
                    code: discount.code,
                    amount: discount.amount,
                })
                .collect(),
            total: output.total,
        }),
        Err(error) => Err(error_into!(crate::pricing::kassa::rules::types, error)),
    }
}

pub fn prorate<R: ProrationRule>(
    input: wit_proration::ProrationInput,
) -> Result<wit_proration::ProrationOutput, crate::proration::kassa::rules::types::RuleError> {
    let input = ProrationInput {
        currency: input.currency,
        old_unit_amount: input.old_unit_amount,
        old_quantity: input.old_quantity,
        new_unit_amount: input.new_unit_amount,
        new_quantity: input.new_quantity,
        period_start: input.period_start,
        period_end: input.period_end,
        changed_at: input.changed_at,
    };
    match R::prorate(input) {
        Ok(output) => Ok(wit_proration::ProrationOutput {
            currency: output.currency,
            credit: output.credit,
            charge: output.charge,
            net: output.net,
        }),
        Err(error) => Err(error_into!(crate::proration::kassa::rules::types, error)),
    }
}

pub fn calculate<R: TaxRule>(
    input: wit_tax::TaxInput,
) -> Result<wit_tax::TaxOutput, crate::tax::kassa::rules::types::RuleError> {
    let input = TaxInput {
        lines: input
            .lines
            .into_iter()
            .map(|line| TaxableLine { sku: line.sku, amount: line.amount })
            .collect(),
        currency: input.currency,
        customer: customer_from!(input.customer),
        seller_country: input.seller_country,
    };
    match R::calculate(input) {
        Ok(output) => Ok(wit_tax::TaxOutput {
            currency: output.currency,
            lines: output
                .lines
                .into_iter()
                .map(|line| wit_tax::TaxLine {
                    name: line.name,
                    jurisdiction: line.jurisdiction,
                    rate_bps: line.rate_bps,
                    amount: line.amount,
                })
                .collect(),
            reverse_charge: output.reverse_charge,
        }),
        Err(error) => Err(error_into!(crate::tax::kassa::rules::types, error)),
    }
}
