//! An example pricing rule, the one "Write your own pricing rule" in the README walks through:
//! every line at its catalogue price, and 20 % off the subtotal for a customer whose metadata
//! says `student = "true"`. Coupons are not this rule's business: it refuses them, and the
//! client gets a 400 naming the reason.

use kassa_rules_sdk::money::divide_round_half_up;
use kassa_rules_sdk::{
    Amount, DiscountLine, PricedLine, PricingInput, PricingOutput, PricingRule, RuleError,
};

/// 20 %, in basis points.
const STUDENT_DISCOUNT_BPS: i128 = 2_000;

pub struct StudentPricing;

impl PricingRule for StudentPricing {
    fn price(input: PricingInput) -> Result<PricingOutput, RuleError> {
        if let Some(coupon) = input.coupons.first() {
            let id = &coupon.id;
            return Err(RuleError::Unsupported(format!("coupon `{id}`: this rule takes none")));
        }
        let mut lines = Vec::with_capacity(input.lines.len());
        for line in &input.lines {
            let amount = line
                .unit_amount
                .checked_mul(Amount::from(line.quantity))
                .ok_or_else(|| RuleError::InvalidInput(format!("line `{}` overflows", line.sku)))?;
            lines.push(PricedLine { sku: line.sku.clone(), quantity: line.quantity, amount });
        }
        let subtotal =
            lines
                .iter()
                .try_fold(0, |sum: Amount, line| sum.checked_add(line.amount))
                .ok_or_else(|| RuleError::InvalidInput("the subtotal overflows".to_owned()))?;
        let is_student =
            input.customer.metadata.iter().any(|(key, value)| key == "student" && value == "true");
        let mut discounts = Vec::new();
        if is_student && subtotal > 0 {
            let off = divide_round_half_up(i128::from(subtotal) * STUDENT_DISCOUNT_BPS, 10_000);
            let off = Amount::try_from(off).expect("a share of the subtotal fits");
            discounts.push(DiscountLine { code: "STUDENT20".to_owned(), amount: off });
        }
        let total = subtotal - discounts.iter().map(|discount| discount.amount).sum::<Amount>();
        Ok(PricingOutput { currency: input.currency, lines, subtotal, discounts, total })
    }
}

kassa_rules_sdk::export_pricing_rule!(StudentPricing);

#[cfg(test)]
mod tests {
    use kassa_rules_sdk::{Coupon, CouponOff, CustomerContext, LineItem};

    use super::*;

    fn input(student: bool, coupons: &[&str]) -> PricingInput {
        let metadata =
            if student { vec![("student".to_owned(), "true".to_owned())] } else { Vec::new() };
        PricingInput {
            lines: vec![
                LineItem { sku: "course".into(), quantity: 2, unit_amount: 4_999 },
                LineItem { sku: "book".into(), quantity: 1, unit_amount: 1_250 },
            ],
            currency: "usd".into(),
            customer: CustomerContext { metadata, ..Default::default() },
            coupons: coupons
                .iter()
                .map(|id| Coupon { id: id.to_string(), off: CouponOff::PercentOffBps(1_000) })
                .collect(),
            now: 1_780_272_000,
        }
    }

    #[test]
    fn students_get_a_fifth_off_rounded_half_up() {
        let output = StudentPricing::price(input(true, &[])).unwrap();
        assert_eq!(output.subtotal, 11_248);
        // 20 % of 11 248 = 2 249.6 → 2 250.
        assert_eq!(
            output.discounts,
            vec![DiscountLine { code: "STUDENT20".into(), amount: 2_250 }]
        );
        assert_eq!(output.total, 8_998);
    }

    #[test]
    fn everyone_else_pays_the_catalogue_price() {
        let output = StudentPricing::price(input(false, &[])).unwrap();
        assert!(output.discounts.is_empty());
        assert_eq!(output.total, 11_248);
    }

    #[test]
    fn coupons_are_refused() {
        assert!(matches!(
            StudentPricing::price(input(true, &["WELCOME10"])),
            Err(RuleError::Unsupported(_))
        ));
    }
}
