//! A charge's transfer: the share of it a payee earns, less what the platform keeps of that
//! share (the application fee), and what refunds have reversed of it.

use serde::{Deserialize, Serialize};

use super::ids::{PayeeId, TestClockId, TransferId};

const DAY_SECS: i64 = 86_400;

/// Basis points in a whole payment.
pub const WHOLE_BPS: i64 = 10_000;

/// What a payee earns of each payment of something that is paid again and again (a
/// subscription's invoices): a fixed share (at most the payment), basis points of it (rounded
/// down), or all of it; less what the platform keeps of that share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferTerms {
    pub payee: PayeeId,
    pub amount_minor: Option<i64>,
    pub percent_bps: Option<i64>,
    pub application_fee_minor: i64,
    /// The payee's payout delay when the terms were set.
    pub delay_days: u32,
    /// The payee's test clock: its shares become available on the clock's time.
    #[serde(default)]
    pub payee_clock: Option<TestClockId>,
}

impl TransferTerms {
    /// The transfer of a payment of `paid_minor`; none for a payment of nothing.
    pub fn for_payment(&self, paid_minor: i64) -> Option<ChargeTransfer> {
        if paid_minor <= 0 {
            return None;
        }
        let amount_minor = match (self.amount_minor, self.percent_bps) {
            (Some(amount), _) => amount.min(paid_minor),
            (None, Some(bps)) => {
                let share = i128::from(paid_minor) * i128::from(bps) / i128::from(WHOLE_BPS);
                i64::try_from(share).unwrap_or(paid_minor)
            }
            (None, None) => paid_minor,
        };
        Some(ChargeTransfer {
            id: TransferId::generate(),
            payee: self.payee.clone(),
            amount_minor,
            application_fee_minor: self.application_fee_minor.min(amount_minor),
            delay_days: self.delay_days,
            reversal_basis_minor: 0,
            reversed_minor: 0,
            available_on: None,
            payee_clock: self.payee_clock.clone(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeTransfer {
    pub id: TransferId,
    pub payee: PayeeId,
    /// The payee's share of the charge, in its minor unit.
    pub amount_minor: i64,
    /// What the platform keeps of the share.
    pub application_fee_minor: i64,
    /// Days from the charge's success until the share is the payee's to be paid out (its
    /// payout schedule's delay when the charge was made).
    pub delay_days: u32,
    /// The charge's refunds so far that reverse the transfer, in all.
    pub reversal_basis_minor: i64,
    /// What those refunds reversed of the net share, in all.
    pub reversed_minor: i64,
    /// When the share is the payee's to be paid out: set when the charge succeeds.
    pub available_on: Option<i64>,
    /// The payee's test clock, when it has one: `available_on` counts from the clock's time.
    #[serde(default)]
    pub payee_clock: Option<TestClockId>,
}

impl ChargeTransfer {
    /// Its charge succeeded at `at`: the share is available after the payee's delay.
    pub fn share_succeeded(&mut self, at: i64) {
        self.available_on = Some(at + i64::from(self.delay_days) * DAY_SECS);
    }

    /// What the payee keeps of a charge that is never refunded.
    pub fn net_minor(&self) -> i64 {
        self.amount_minor - self.application_fee_minor
    }

    /// Records a refund of `refunded_minor` of a charge of `charge_minor` that reverses the
    /// transfer; answers what it reverses now. Reversed in proportion, on the running totals
    /// and rounded down, so a charge refunded in full reverses exactly the net share, however
    /// many refunds it took.
    pub fn reverse_for(&mut self, refunded_minor: i64, charge_minor: i64) -> i64 {
        self.reversal_basis_minor = (self.reversal_basis_minor + refunded_minor).min(charge_minor);
        let share = i128::from(self.net_minor()) * i128::from(self.reversal_basis_minor)
            / i128::from(charge_minor.max(1));
        let target = i64::try_from(share).unwrap_or(self.net_minor());
        let now = target - self.reversed_minor;
        self.reversed_minor = target;
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer(amount_minor: i64, application_fee_minor: i64) -> ChargeTransfer {
        ChargeTransfer {
            id: TransferId::generate(),
            payee: PayeeId::generate(),
            amount_minor,
            application_fee_minor,
            delay_days: 7,
            reversal_basis_minor: 0,
            reversed_minor: 0,
            available_on: None,
            payee_clock: None,
        }
    }

    #[test]
    fn refunds_in_three_parts_reverse_exactly_the_net_share() {
        let mut split = transfer(6_667, 500);
        let parts = [3_333, 3_333, 3_334].map(|refund| split.reverse_for(refund, 10_000));
        assert_eq!(parts, [2_055, 2_055, 2_057], "each rounded down on the running total");
        assert_eq!(parts.iter().sum::<i64>(), split.net_minor());
    }

    #[test]
    fn terms_give_each_payment_its_share_within_it() {
        let terms = |amount, bps, fee| TransferTerms {
            payee: PayeeId::generate(),
            amount_minor: amount,
            percent_bps: bps,
            application_fee_minor: fee,
            delay_days: 7,
            payee_clock: None,
        };
        let share = |terms: &TransferTerms, paid| {
            let transfer = terms.for_payment(paid).unwrap();
            (transfer.amount_minor, transfer.application_fee_minor)
        };
        assert_eq!(share(&terms(None, Some(7_000), 100), 999), (699, 100), "rounded down");
        assert_eq!(share(&terms(Some(5_000), None, 6_000), 3_000), (3_000, 3_000), "capped");
        assert_eq!(share(&terms(None, None, 0), 1_234), (1_234, 0));
        assert!(terms(None, None, 0).for_payment(0).is_none(), "nothing paid, nothing earned");
    }

    #[test]
    fn nothing_is_reversed_past_the_charge() {
        let mut split = transfer(1_000, 0);
        assert_eq!(split.reverse_for(700, 1_000), 700);
        assert_eq!(split.reverse_for(700, 1_000), 300);
        assert_eq!(split.reverse_for(1, 1_000), 0);
    }
}
