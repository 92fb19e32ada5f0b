//! What the sandbox "processor" keeps of each charge: a share of the amount and a fixed part
//! per currency, as card processors price (Stripe's 2.9% + 30¢). Nothing by default, so that
//! the money a platform sees on the sandbox is what it charged unless it asks to see fees.

use std::collections::BTreeMap;

use crate::Currency;

/// Basis points in one whole.
const BPS_WHOLE: i128 = 10_000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeeSchedule {
    /// The share of each charge's amount, in basis points (290: 2.9%).
    pub percent_bps: u32,
    /// The fixed part per charge, in minor units, by currency (none where absent).
    pub fixed_minor: BTreeMap<Currency, i64>,
}

impl FeeSchedule {
    /// The fee for a charge of `amount_minor`: the share rounded half up, plus the fixed part,
    /// never more than the amount itself.
    pub fn fee_for(&self, amount_minor: i64, currency: Currency) -> i64 {
        let share = (i128::from(amount_minor) * i128::from(self.percent_bps) * 2 + BPS_WHOLE)
            / (2 * BPS_WHOLE);
        let fixed = self.fixed_minor.get(&currency).copied().unwrap_or(0);
        let fee = i64::try_from(share).unwrap_or(i64::MAX).saturating_add(fixed);
        fee.clamp(0, amount_minor.max(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card_pricing() -> FeeSchedule {
        FeeSchedule { percent_bps: 290, fixed_minor: BTreeMap::from([(Currency::USD, 30)]) }
    }

    #[test]
    fn the_share_rounds_half_up_and_the_fixed_part_is_per_currency() {
        let pricing = card_pricing();
        assert_eq!(pricing.fee_for(10_000, Currency::USD), 320);
        // 2.9% of 1 050 is 30.45: 30; of 1 055, 30.595: 31; of 50, 1.45: 1.
        assert_eq!(pricing.fee_for(1_050, Currency::USD), 60);
        assert_eq!(pricing.fee_for(1_055, Currency::USD), 61);
        assert_eq!(pricing.fee_for(50, Currency::USD), 31);
        // 2.9% of 5 000 is 145 exactly; of 5 (0.145) rounds to 0; of 500 000 000, 14 500 000.
        assert_eq!(pricing.fee_for(5_000, Currency::KES), 145);
        assert_eq!(pricing.fee_for(5, Currency::KES), 0);
        assert_eq!(pricing.fee_for(500_000_000, Currency::KES), 14_500_000);
        // Half a minor unit rounds up: 1% of 50 is 0.5.
        let one_percent = FeeSchedule { percent_bps: 100, ..FeeSchedule::default() };
        assert_eq!(one_percent.fee_for(50, Currency::USD), 1);
        assert_eq!(one_percent.fee_for(49, Currency::USD), 0);
    }

    #[test]
    fn a_fee_never_takes_more_than_the_charge() {
        assert_eq!(card_pricing().fee_for(20, Currency::USD), 20);
        assert_eq!(FeeSchedule::default().fee_for(10_000, Currency::USD), 0);
        let whole = FeeSchedule { percent_bps: 10_000, ..FeeSchedule::default() };
        assert_eq!(whole.fee_for(i64::MAX, Currency::USD), i64::MAX);
    }
}
