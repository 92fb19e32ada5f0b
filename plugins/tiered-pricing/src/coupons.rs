//! The discounts the engine's coupons give on a subtotal. The engine resolved and checked each
//! coupon (it exists, is valid now, is in this currency and applies to these lines); this rule
//! only does the arithmetic, exactly.

use kassa_rules_sdk::money::divide_round_half_up;
use kassa_rules_sdk::{Amount, Coupon, CouponOff, DiscountLine, RuleError};

/// Basis points in a whole: 10000 bps is 100 %.
const BPS_PER_WHOLE: u32 = 10_000;

/// The discounts `coupons` give on `subtotal_minor`, in the order given.
///
/// A percent coupon takes its share of the subtotal (not of what earlier coupons left), rounded
/// half-up. Each discount is capped at what is still left of the subtotal, so the total never
/// goes below zero; a discount capped to nothing is left out, as every discount line is a
/// positive amount. A coupon given twice, above 100 % or of a negative amount is refused: the
/// engine never sends one, and a rule that guessed would price wrongly.
pub fn discounts(
    coupons: &[Coupon],
    subtotal_minor: Amount,
) -> Result<Vec<DiscountLine>, RuleError> {
    assert!(subtotal_minor >= 0, "negative subtotal {subtotal_minor}");
    let mut lines = Vec::new();
    let mut left_minor = subtotal_minor;
    for (index, coupon) in coupons.iter().enumerate() {
        let id = &coupon.id;
        if coupons[..index].iter().any(|earlier| earlier.id == *id) {
            return Err(RuleError::InvalidInput(format!("coupon `{id}` given twice")));
        }
        let amount_minor = wanted_amount_minor(coupon, subtotal_minor)?.min(left_minor);
        if amount_minor > 0 {
            left_minor -= amount_minor;
            lines.push(DiscountLine { code: id.clone(), amount: amount_minor });
        }
    }
    Ok(lines)
}

/// What `coupon` takes off `subtotal_minor` before any cap.
fn wanted_amount_minor(coupon: &Coupon, subtotal_minor: Amount) -> Result<Amount, RuleError> {
    let id = &coupon.id;
    match coupon.off {
        CouponOff::PercentOffBps(bps) if bps > BPS_PER_WHOLE => Err(RuleError::InvalidInput(
            format!("coupon `{id}` takes {bps} basis points, more than the whole"),
        )),
        CouponOff::PercentOffBps(bps) => {
            let off = i128::from(subtotal_minor) * i128::from(bps);
            let off_minor = divide_round_half_up(off, i128::from(BPS_PER_WHOLE));
            Ok(Amount::try_from(off_minor).expect("at most 100 % of the subtotal fits"))
        }
        CouponOff::AmountOff(amount) if amount < 0 => {
            Err(RuleError::InvalidInput(format!("coupon `{id}` takes a negative amount off")))
        }
        CouponOff::AmountOff(amount) => Ok(amount),
    }
}

#[cfg(test)]
mod tests {
    //! Half-up percent rounding, the cap at the subtotal, the order coupons stack in, and the
    //! coupons no engine sends refused rather than guessed at.
    use super::*;

    fn percent(id: &str, bps: u32) -> Coupon {
        Coupon { id: id.to_owned(), off: CouponOff::PercentOffBps(bps) }
    }

    fn fixed(id: &str, amount: Amount) -> Coupon {
        Coupon { id: id.to_owned(), off: CouponOff::AmountOff(amount) }
    }

    fn amounts(subtotal_minor: Amount, coupons: &[Coupon]) -> Vec<(String, Amount)> {
        discounts(coupons, subtotal_minor)
            .unwrap()
            .into_iter()
            .map(|line| (line.code, line.amount))
            .collect()
    }

    fn error_message(result: Result<impl std::fmt::Debug, RuleError>) -> String {
        match result {
            Err(RuleError::InvalidInput(message)) => message,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn percent_rounds_half_up_to_the_minor_unit() {
        let ten = [percent("TEN", 1_000)];
        assert_eq!(amounts(4, &ten), vec![]); // 0.4 → 0: no line
        assert_eq!(amounts(5, &ten), vec![("TEN".into(), 1)]); // 0.5 → 1
        assert_eq!(amounts(14, &ten), vec![("TEN".into(), 1)]); // 1.4 → 1
        assert_eq!(amounts(15, &ten), vec![("TEN".into(), 2)]); // 1.5 → 2
        assert_eq!(amounts(1000, &ten), vec![("TEN".into(), 100)]);
        // 33.33 % of 1000 is 333.3 → 333; of 1001, 333.63… → 334.
        assert_eq!(amounts(1000, &[percent("THIRD", 3_333)]), vec![("THIRD".into(), 333)]);
        assert_eq!(amounts(1001, &[percent("THIRD", 3_333)]), vec![("THIRD".into(), 334)]);
        assert_eq!(amounts(999, &[percent("ALL", 10_000)]), vec![("ALL".into(), 999)]);
    }

    #[test]
    fn percent_of_the_largest_subtotal_does_not_overflow() {
        let off_minor = divide_round_half_up(i128::from(Amount::MAX), 10);
        assert_eq!(
            amounts(Amount::MAX, &[percent("TEN", 1_000)]),
            vec![("TEN".into(), off_minor as Amount)]
        );
    }

    #[test]
    fn a_fixed_discount_is_capped_at_the_subtotal() {
        let five = [fixed("FIVE", 500)];
        assert_eq!(amounts(1000, &five), vec![("FIVE".into(), 500)]);
        assert_eq!(amounts(500, &five), vec![("FIVE".into(), 500)]);
        assert_eq!(amounts(300, &five), vec![("FIVE".into(), 300)]);
        assert_eq!(amounts(0, &five), vec![]);
    }

    #[test]
    fn stacked_coupons_take_percent_of_the_subtotal_and_cap_at_what_is_left() {
        let (ten, five) = (percent("TEN", 1_000), fixed("FIVE", 500));
        assert_eq!(
            amounts(1000, &[ten.clone(), five.clone()]),
            vec![("TEN".into(), 100), ("FIVE".into(), 500)]
        );
        assert_eq!(
            amounts(520, &[ten.clone(), five.clone()]),
            vec![("TEN".into(), 52), ("FIVE".into(), 468)]
        );
        // The fixed one first leaves 20, and the percent one (52 of the subtotal) is capped to it.
        assert_eq!(amounts(520, &[five, ten]), vec![("FIVE".into(), 500), ("TEN".into(), 20)]);
    }

    #[test]
    fn coupons_no_engine_sends_are_refused() {
        let five = fixed("FIVE", 500);
        let message = error_message(discounts(&[five.clone(), five], 1000));
        assert_eq!(message, "coupon `FIVE` given twice");
        let message = error_message(discounts(&[percent("MORE", 10_001)], 1000));
        assert_eq!(message, "coupon `MORE` takes 10001 basis points, more than the whole");
        let message = error_message(discounts(&[fixed("BACK", -1)], 1000));
        assert_eq!(message, "coupon `BACK` takes a negative amount off");
    }
}
