//! Engine requests into WIT inputs. (Outputs come back through [`super::check`], which turns
//! them into engine types only once they are known to be sound.)

use super::bindings::{self, pricing, proration, tax};
use super::types::{CustomerContext, PricingCoupon, PricingRequest, ProrationRequest, TaxRequest};
use crate::domain::CouponOff;
use crate::domain::money::currency_code;

fn customer(context: &CustomerContext) -> bindings::CustomerContext {
    bindings::CustomerContext {
        country: context.country.clone(),
        region: context.region.clone(),
        tax_ids: context
            .tax_ids
            .iter()
            // The API takes Stripe's names (`eu_vat`); the WIT speaks kebab-case (`eu-vat`).
            .map(|id| bindings::TaxId { kind: id.kind.replace('_', "-"), value: id.value.clone() })
            .collect(),
        metadata: context.metadata.clone(),
    }
}

fn coupon(coupon: &PricingCoupon) -> pricing::exports::kassa::rules::pricing::Coupon {
    use pricing::exports::kassa::rules::pricing::{Coupon, CouponOff as Off};
    Coupon {
        id: coupon.id.to_string(),
        off: match coupon.off {
            CouponOff::PercentBps(bps) => Off::PercentOffBps(bps),
            CouponOff::Amount(money) => Off::AmountOff(money.amount_minor),
        },
    }
}

pub fn pricing_input(
    request: &PricingRequest,
) -> pricing::exports::kassa::rules::pricing::PricingInput {
    use pricing::exports::kassa::rules::pricing::{LineItem, PricingInput};
    PricingInput {
        lines: request
            .lines
            .iter()
            .map(|line| LineItem {
                sku: line.sku.clone(),
                quantity: line.quantity,
                unit_amount: line.unit_amount_minor,
            })
            .collect(),
        currency: currency_code(request.currency),
        customer: customer(&request.customer),
        coupons: request.coupons.iter().map(coupon).collect(),
        now: request.now,
    }
}

pub fn tax_input(request: &TaxRequest) -> tax::exports::kassa::rules::tax::TaxInput {
    use tax::exports::kassa::rules::tax::{TaxInput, TaxableLine};
    TaxInput {
        lines: request
            .lines
            .iter()
            .map(|line| TaxableLine { sku: line.sku.clone(), amount: line.amount_minor })
            .collect(),
        currency: currency_code(request.currency),
        customer: customer(&request.customer),
        seller_country: request.seller_country.clone(),
    }
}

pub fn proration_input(
    request: &ProrationRequest,
) -> proration::exports::kassa::rules::proration::ProrationInput {
    proration::exports::kassa::rules::proration::ProrationInput {
        currency: currency_code(request.currency),
        old_unit_amount: request.old_unit_amount_minor,
        old_quantity: request.old_quantity,
        new_unit_amount: request.new_unit_amount_minor,
        new_quantity: request.new_quantity,
        period_start: request.period_start,
        period_end: request.period_end,
        changed_at: request.changed_at,
    }
}
