//! Second-precise proration: what the unused rest of the old plan gives back, and what the new
//! plan costs for that same rest of the period.
//!
//! With the period's length `L = period_end - period_start` and the remaining `R = period_end -
//! changed_at`, `credit = old price × R / L` and `charge = new price × R / L`, each rounded
//! half-up to the minor unit. The crate is named for daily proration, but the second is the unit:
//! a day is just 86 400 of them, and a change at 23:59 of a day is not priced as if at 00:00.
//!
//! Limit: the products are in `i128`, which holds any price (`i64` × `u32` quantity) times any
//! remaining time of a period up to 2^32 seconds (136 years); a longer period with a large price,
//! or a full-period amount beyond `i64`, is refused as `InvalidInput` rather than wrapped.

use kassa_rules_sdk::{Amount, ProrationInput, ProrationOutput, RuleError, Timestamp};

use kassa_rules_sdk::money::divide_round_half_up;

pub fn prorate(input: &ProrationInput) -> Result<ProrationOutput, RuleError> {
    let (remaining_secs, period_secs) =
        remaining_and_period_secs(input.period_start, input.period_end, input.changed_at)?;
    let credit =
        share_minor("old", input.old_unit_amount, input.old_quantity, remaining_secs, period_secs)?;
    let charge =
        share_minor("new", input.new_unit_amount, input.new_quantity, remaining_secs, period_secs)?;
    // Both are in [0, Amount::MAX], so their difference cannot overflow.
    Ok(ProrationOutput { currency: input.currency.clone(), credit, charge, net: charge - credit })
}

/// `(R, L)`, in `i128` so that no pair of timestamps overflows the subtraction.
fn remaining_and_period_secs(
    period_start: Timestamp,
    period_end: Timestamp,
    changed_at: Timestamp,
) -> Result<(i128, i128), RuleError> {
    if period_end <= period_start {
        return Err(RuleError::InvalidInput(format!(
            "the period ends ({period_end}) no later than it starts ({period_start})"
        )));
    }
    if !(period_start..=period_end).contains(&changed_at) {
        return Err(RuleError::InvalidInput(format!(
            "the change at {changed_at} is outside the period [{period_start}, {period_end}]"
        )));
    }
    let period_secs = i128::from(period_end) - i128::from(period_start);
    let remaining_secs = i128::from(period_end) - i128::from(changed_at);
    Ok((remaining_secs, period_secs))
}

/// `unit_amount × quantity × remaining / period`, rounded half-up; `plan` names the side in errors.
fn share_minor(
    plan: &str,
    unit_amount: Amount,
    quantity: u32,
    remaining_secs: i128,
    period_secs: i128,
) -> Result<Amount, RuleError> {
    if unit_amount < 0 {
        return Err(RuleError::InvalidInput(format!(
            "the {plan} unit amount {unit_amount} is negative"
        )));
    }
    // At most (2^63 - 1) × (2^32 - 1): always fits an i128.
    let full_minor = i128::from(unit_amount) * i128::from(quantity);
    let overflow =
        || RuleError::InvalidInput(format!("the {plan} plan's prorated amount overflows"));
    let scaled = full_minor.checked_mul(remaining_secs).ok_or_else(overflow)?;
    let share = divide_round_half_up(scaled, period_secs);
    Amount::try_from(share).map_err(|_| overflow())
}

#[cfg(test)]
mod tests {
    //! The change at the first, the last and the middle second of a period; half-up rounding
    //! on both sides of .5; upgrades and downgrades; and every refusal.
    use super::*;

    /// A 30-day period starting 2026-11-01T00:00:00Z.
    const START: Timestamp = 1_793_491_200;
    const DAYS_30_SECS: i64 = 30 * 86_400;
    const END: Timestamp = START + DAYS_30_SECS;

    fn input(
        old: (Amount, u32),
        new: (Amount, u32),
        period: (Timestamp, Timestamp),
        changed_at: Timestamp,
    ) -> ProrationInput {
        ProrationInput {
            currency: "usd".to_owned(),
            old_unit_amount: old.0,
            old_quantity: old.1,
            new_unit_amount: new.0,
            new_quantity: new.1,
            period_start: period.0,
            period_end: period.1,
            changed_at,
        }
    }

    /// `(credit, charge, net)`.
    fn prorated(input: ProrationInput) -> (Amount, Amount, Amount) {
        let output = prorate(&input).unwrap();
        (output.credit, output.charge, output.net)
    }

    fn refusal(input: ProrationInput) -> String {
        match prorate(&input) {
            Err(RuleError::InvalidInput(message)) => message,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn a_change_at_the_first_second_credits_and_charges_the_full_prices() {
        assert_eq!(prorated(input((1000, 3), (2500, 2), (START, END), START)), (3000, 5000, 2000));
    }

    #[test]
    fn a_change_at_the_last_second_credits_and_charges_nothing() {
        assert_eq!(prorated(input((1000, 3), (2500, 2), (START, END), END)), (0, 0, 0));
    }

    #[test]
    fn a_change_half_way_credits_and_charges_half() {
        let middle = START + DAYS_30_SECS / 2;
        assert_eq!(prorated(input((1000, 2), (3000, 1), (START, END), middle)), (1000, 1500, 500));
    }

    #[test]
    fn a_change_one_second_in_is_not_a_whole_day_off() {
        // 2999 × (2_592_000 - 1) / 2_592_000 = 2998.9988… → 2999.
        assert_eq!(prorated(input((2999, 1), (0, 1), (START, END), START + 1)), (2999, 0, -2999));
        // 2_592_000 × (2_592_000 - 1) / 2_592_000 = exactly 2_591_999.
        assert_eq!(prorated(input((2_592_000, 1), (0, 1), (START, END), START + 1)).0, 2_591_999);
    }

    #[test]
    fn shares_round_half_up_to_the_minor_unit() {
        // A 10-second period with 1 second left: a tenth of each price.
        let tenth = |amount| prorated(input((amount, 1), (amount, 1), (0, 10), 9)).0;
        assert_eq!(tenth(4), 0); // 0.4
        assert_eq!(tenth(5), 1); // 0.5
        assert_eq!(tenth(14), 1); // 1.4
        assert_eq!(tenth(15), 2); // 1.5
        assert_eq!(tenth(25), 3); // 2.5
        // Rounded per side, then netted: 0.5 → 1 and 1.5 → 2 give a net of 1.
        assert_eq!(prorated(input((5, 1), (15, 1), (0, 10), 9)), (1, 2, 1));
    }

    #[test]
    fn an_upgrade_nets_a_charge_and_a_downgrade_a_credit() {
        let two_thirds_left = START + DAYS_30_SECS / 3;
        // 10 seats at 1000 to 15 seats: 10_000 × 2/3 = 6666.67 → 6667; 15_000 × 2/3 = 10_000.
        assert_eq!(
            prorated(input((1000, 10), (1000, 15), (START, END), two_thirds_left)),
            (6667, 10_000, 3333)
        );
        // And back down: the customer is owed money.
        assert_eq!(
            prorated(input((1000, 15), (1000, 10), (START, END), two_thirds_left)),
            (10_000, 6667, -3333)
        );
    }

    #[test]
    fn a_cancellation_to_zero_quantity_only_credits() {
        assert_eq!(
            prorated(input((1000, 4), (1000, 0), (START, END), START + DAYS_30_SECS / 4)),
            (3000, 0, -3000)
        );
    }

    #[test]
    fn an_empty_or_reversed_period_is_refused() {
        let message = refusal(input((1000, 1), (1000, 1), (START, START), START));
        assert!(message.contains("no later than it starts"), "{message}");
        let message = refusal(input((1000, 1), (1000, 1), (END, START), START));
        assert!(message.contains("no later than it starts"), "{message}");
    }

    #[test]
    fn a_change_outside_the_period_is_refused() {
        let message = refusal(input((1000, 1), (1000, 1), (START, END), START - 1));
        assert!(message.contains("outside the period"), "{message}");
        let message = refusal(input((1000, 1), (1000, 1), (START, END), END + 1));
        assert!(message.contains("outside the period"), "{message}");
    }

    #[test]
    fn a_negative_unit_amount_is_refused() {
        assert_eq!(
            refusal(input((-1, 1), (1000, 1), (START, END), START)),
            "the old unit amount -1 is negative"
        );
        assert_eq!(
            refusal(input((1000, 1), (-1, 1), (START, END), START)),
            "the new unit amount -1 is negative"
        );
    }

    #[test]
    fn the_widest_timestamps_do_not_overflow_the_period() {
        let (credit, charge, _) =
            prorated(input((1000, 1), (1000, 1), (Timestamp::MIN, Timestamp::MAX), 0));
        assert_eq!((credit, charge), (500, 500));
    }

    #[test]
    fn the_largest_price_fits_over_a_136_year_period() {
        let period_secs = i64::from(u32::MAX);
        let (credit, _, _) = prorated(input((Amount::MAX, 1), (0, 1), (0, period_secs), 1));
        assert_eq!(
            credit,
            Amount::MAX
                - divide_round_half_up(i128::from(Amount::MAX), i128::from(period_secs)) as Amount
        );
    }

    #[test]
    fn an_amount_beyond_i64_is_refused() {
        // The full old price, 2 × i64::MAX, does not fit an amount.
        let message = refusal(input((Amount::MAX, 2), (0, 1), (START, END), START));
        assert_eq!(message, "the old plan's prorated amount overflows");
        // The product overflows i128 itself: a huge price over an absurdly long period.
        let message =
            refusal(input((0, 1), (Amount::MAX, u32::MAX), (Timestamp::MIN, Timestamp::MAX), 0));
        assert_eq!(message, "the new plan's prorated amount overflows");
    }
}
