//! The embedded coupon table, expiry, and the discounts the coupons give on a subtotal.

use kassa_rules_sdk::{Amount, DiscountLine, RuleError, Timestamp};

use kassa_rules_sdk::money::divide_round_half_up;

/// Basis points in a whole: 10000 bps is 100 %.
const BPS_PER_WHOLE: i128 = 10_000;

#[derive(Debug)]
pub enum CouponKind {
    /// A share of the subtotal off, in basis points: 1000 is 10 %.
    Percent { off_bps: u32 },
    /// A fixed amount off, in its own currency only: a rule has no exchange rate, and the same
    /// minor amount elsewhere is another discount (500 is $5.00 but R5.00 or KSh 5). In any other
    /// currency it is refused, naming its own, rather than skipped: skipping would charge the
    /// customer more than the coupon they gave promised, without telling them.
    Fixed { off_minor: Amount, currency: &'static str },
}

#[derive(Debug)]
pub struct Coupon {
    /// Matched exactly, case included.
    pub code: &'static str,
    pub kind: CouponKind,
    /// The first second the coupon no longer applies: valid while `now < expires_at`.
    pub expires_at: Timestamp,
}

impl Coupon {
    pub fn is_valid_at(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

pub const COUPONS: &[Coupon] = &[
    // 2028-01-01T00:00:00Z
    Coupon {
        code: "WELCOME10",
        kind: CouponKind::Percent { off_bps: 1000 },
        expires_at: 1_830_297_600,
    },
    // 2027-07-01T00:00:00Z. $5.00 off, for usd carts only (see `CouponKind::Fixed`).
    Coupon {
        code: "FIVEOFF",
        kind: CouponKind::Fixed { off_minor: 500, currency: "usd" },
        expires_at: 1_814_400_000,
    },
    // 2024-01-01T00:00:00Z: kept so that a customer holding it is told it expired, not that it
    // never existed.
    Coupon {
        code: "EXPIRED",
        kind: CouponKind::Percent { off_bps: 2000 },
        expires_at: 1_704_067_200,
    },
];

/// The coupon `code` names, if it is known and still valid at `now`.
pub fn find_valid(code: &str, now: Timestamp) -> Result<&'static Coupon, RuleError> {
    let coupon = COUPONS
        .iter()
        .find(|coupon| coupon.code == code)
        .ok_or_else(|| RuleError::InvalidInput(format!("unknown coupon `{code}`")))?;
    if !coupon.is_valid_at(now) {
        return Err(RuleError::InvalidInput(format!(
            "coupon `{code}` expired at {} (now is {now})",
            coupon.expires_at
        )));
    }
    Ok(coupon)
}

/// The discounts `codes` give on `subtotal_minor`, in the order given.
///
/// A percent coupon takes its share of the subtotal (not of what earlier coupons left), rounded
/// half-up. Each discount is capped at what is still left of the subtotal, so the total never
/// goes below zero; a discount capped to nothing is left out, as every discount line is a
/// positive amount. A coupon given twice is refused rather than applied twice.
pub fn discounts(
    codes: &[String],
    subtotal_minor: Amount,
    currency: &str,
    now: Timestamp,
) -> Result<Vec<DiscountLine>, RuleError> {
    assert!(subtotal_minor >= 0, "negative subtotal {subtotal_minor}");
    let mut lines = Vec::new();
    let mut left_minor = subtotal_minor;
    for (index, code) in codes.iter().enumerate() {
        if codes[..index].contains(code) {
            return Err(RuleError::InvalidInput(format!("coupon `{code}` given twice")));
        }
        let coupon = find_valid(code, now)?;
        let amount_minor = wanted_amount_minor(coupon, subtotal_minor, currency)?.min(left_minor);
        if amount_minor > 0 {
            left_minor -= amount_minor;
            lines.push(DiscountLine { code: coupon.code.to_owned(), amount: amount_minor });
        }
    }
    Ok(lines)
}

/// What `coupon` takes off `subtotal_minor` before any cap.
fn wanted_amount_minor(
    coupon: &Coupon,
    subtotal_minor: Amount,
    currency: &str,
) -> Result<Amount, RuleError> {
    match coupon.kind {
        CouponKind::Percent { off_bps } => {
            let off = i128::from(subtotal_minor) * i128::from(off_bps);
            let off_minor = divide_round_half_up(off, BPS_PER_WHOLE);
            // No coupon takes more than 100 % (checked by a test below), so this fits.
            Ok(Amount::try_from(off_minor).expect("a percent coupon takes at most the subtotal"))
        }
        CouponKind::Fixed { off_minor, currency: coupon_currency } => {
            if coupon_currency != currency {
                return Err(RuleError::InvalidInput(format!(
                    "coupon `{}` is for {coupon_currency}, not {currency}",
                    coupon.code
                )));
            }
            Ok(off_minor)
        }
    }
}

#[cfg(test)]
mod tests {
    //! Expiry to the second, unknown and expired coupons named in the error, half-up percent
    //! rounding, the cap at the subtotal, the order coupons stack in, and a fixed coupon refused
    //! outside its currency.
    use super::*;

    const WELCOME10_EXPIRES_AT: Timestamp = 1_830_297_600;
    const FIVEOFF_EXPIRES_AT: Timestamp = 1_814_400_000;
    /// A second at which every coupon but `EXPIRED` is valid.
    const NOW: Timestamp = 1_790_000_000;

    fn codes(codes: &[&str]) -> Vec<String> {
        codes.iter().map(|code| code.to_string()).collect()
    }

    fn amounts(subtotal_minor: Amount, coupon_codes: &[&str]) -> Vec<(String, Amount)> {
        discounts(&codes(coupon_codes), subtotal_minor, "usd", NOW)
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
    fn the_table_is_well_formed() {
        for (index, coupon) in COUPONS.iter().enumerate() {
            assert!(COUPONS[..index].iter().all(|other| other.code != coupon.code));
            match coupon.kind {
                CouponKind::Percent { off_bps } => assert!(off_bps <= 10_000, "{}", coupon.code),
                CouponKind::Fixed { off_minor, .. } => assert!(off_minor > 0, "{}", coupon.code),
            }
        }
    }

    #[test]
    fn a_coupon_is_valid_until_the_second_before_it_expires() {
        assert!(find_valid("WELCOME10", WELCOME10_EXPIRES_AT - 1).is_ok());
        assert!(find_valid("WELCOME10", WELCOME10_EXPIRES_AT).is_err());
        assert!(find_valid("FIVEOFF", FIVEOFF_EXPIRES_AT - 1).is_ok());
        let message = error_message(find_valid("FIVEOFF", FIVEOFF_EXPIRES_AT));
        assert!(message.contains("`FIVEOFF` expired"), "{message}");
    }

    #[test]
    fn expired_and_unknown_coupons_are_named() {
        let message = error_message(discounts(&codes(&["EXPIRED"]), 1000, "usd", NOW));
        assert!(message.contains("`EXPIRED`"), "{message}");
        let message = error_message(discounts(&codes(&["NOPE"]), 1000, "usd", NOW));
        assert_eq!(message, "unknown coupon `NOPE`");
        // Codes match exactly.
        assert!(find_valid("welcome10", NOW).is_err());
    }

    #[test]
    fn percent_rounds_half_up_to_the_minor_unit() {
        assert_eq!(amounts(4, &["WELCOME10"]), vec![]); // 0.4 → 0: no line
        assert_eq!(amounts(5, &["WELCOME10"]), vec![("WELCOME10".into(), 1)]); // 0.5 → 1
        assert_eq!(amounts(14, &["WELCOME10"]), vec![("WELCOME10".into(), 1)]); // 1.4 → 1
        assert_eq!(amounts(15, &["WELCOME10"]), vec![("WELCOME10".into(), 2)]); // 1.5 → 2
        assert_eq!(amounts(1000, &["WELCOME10"]), vec![("WELCOME10".into(), 100)]);
    }

    #[test]
    fn percent_of_the_largest_subtotal_does_not_overflow() {
        let off_minor = divide_round_half_up(i128::from(Amount::MAX), 10);
        assert_eq!(
            amounts(Amount::MAX, &["WELCOME10"]),
            vec![("WELCOME10".into(), off_minor as Amount)]
        );
    }

    #[test]
    fn a_fixed_discount_is_capped_at_the_subtotal() {
        assert_eq!(amounts(1000, &["FIVEOFF"]), vec![("FIVEOFF".into(), 500)]);
        assert_eq!(amounts(500, &["FIVEOFF"]), vec![("FIVEOFF".into(), 500)]);
        assert_eq!(amounts(300, &["FIVEOFF"]), vec![("FIVEOFF".into(), 300)]);
        assert_eq!(amounts(0, &["FIVEOFF"]), vec![]);
    }

    #[test]
    fn stacked_coupons_take_percent_of_the_subtotal_and_cap_at_what_is_left() {
        assert_eq!(
            amounts(1000, &["WELCOME10", "FIVEOFF"]),
            vec![("WELCOME10".into(), 100), ("FIVEOFF".into(), 500)]
        );
        assert_eq!(
            amounts(520, &["WELCOME10", "FIVEOFF"]),
            vec![("WELCOME10".into(), 52), ("FIVEOFF".into(), 468)]
        );
        // The fixed one first leaves 20, and the percent one (52 of the subtotal) is capped to it.
        assert_eq!(
            amounts(520, &["FIVEOFF", "WELCOME10"]),
            vec![("FIVEOFF".into(), 500), ("WELCOME10".into(), 20)]
        );
    }

    #[test]
    fn a_coupon_given_twice_is_refused() {
        let message = error_message(discounts(&codes(&["FIVEOFF", "FIVEOFF"]), 1000, "usd", NOW));
        assert_eq!(message, "coupon `FIVEOFF` given twice");
    }

    #[test]
    fn a_fixed_coupon_in_another_currency_is_refused() {
        for currency in ["zar", "kes", "ngn", "eur", "gbp", "jpy"] {
            let message = error_message(discounts(&codes(&["FIVEOFF"]), 100_000, currency, NOW));
            assert_eq!(message, format!("coupon `FIVEOFF` is for usd, not {currency}"));
            // Even on a subtotal it would have been capped to nothing: the coupon is not
            // silently dropped.
            assert!(discounts(&codes(&["FIVEOFF"]), 0, currency, NOW).is_err(), "{currency}");
            // A percent coupon has no currency.
            let percent = discounts(&codes(&["WELCOME10"]), 100_000, currency, NOW).unwrap();
            assert_eq!(percent, vec![DiscountLine { code: "WELCOME10".into(), amount: 10_000 }]);
        }
    }
}
