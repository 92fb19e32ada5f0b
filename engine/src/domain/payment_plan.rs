//! Instalment plans: a total (annual fees, a bursary's payment plan) split into 2–24 parts, each
//! an invoice charged when due through the same schedule, dunning and test clocks as renewals.
//! The parts are integer minor units that sum exactly to the total, the remainder on the first.

use serde::{Deserialize, Serialize};

use super::{
    Currency, CustomerId, Dunning, InvoiceId, Metadata, PaymentMethodId, PaymentPlanId, TestClockId,
};
use crate::billing::periods::Interval;

/// The contract's bounds on the number of instalments.
pub const INSTALMENTS_MIN: u32 = 2;
pub const INSTALMENTS_MAX: u32 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentPlanStatus {
    /// Every instalment due so far is paid (or being paid).
    Active,
    /// An instalment's payment failed and is being retried (dunning).
    PastDue,
    /// Every instalment is paid (or forgiven by voiding its invoice).
    Paid,
    Canceled,
}

impl PaymentPlanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentPlanStatus::Active => "active",
            PaymentPlanStatus::PastDue => "past_due",
            PaymentPlanStatus::Paid => "paid",
            PaymentPlanStatus::Canceled => "canceled",
        }
    }

    pub fn parse(text: &str) -> Option<PaymentPlanStatus> {
        match text {
            "active" => Some(PaymentPlanStatus::Active),
            "past_due" => Some(PaymentPlanStatus::PastDue),
            "paid" => Some(PaymentPlanStatus::Paid),
            "canceled" => Some(PaymentPlanStatus::Canceled),
            _ => None,
        }
    }

    /// Nothing more is collected for it.
    pub fn is_terminal(self) -> bool {
        matches!(self, PaymentPlanStatus::Paid | PaymentPlanStatus::Canceled)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InstalmentStatus {
    /// Not yet due: no invoice yet.
    Upcoming,
    /// Invoiced and not yet paid.
    Open,
    Paid,
    /// Its invoice was voided, or the plan canceled before it was paid: never collected.
    Void,
}

impl InstalmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InstalmentStatus::Upcoming => "upcoming",
            InstalmentStatus::Open => "open",
            InstalmentStatus::Paid => "paid",
            InstalmentStatus::Void => "void",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instalment {
    pub due: i64,
    pub amount_minor: i64,
    /// The invoice that collects it, once it is due (`pay_remaining` makes one for several).
    pub invoice: Option<InvoiceId>,
    pub status: InstalmentStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentPlan {
    pub id: PaymentPlanId,
    pub customer: CustomerId,
    pub amount_minor: i64,
    pub currency: Currency,
    /// One week or one month between instalments, from `start`: a monthly plan started on the
    /// 31st falls on the 30th in April and on the 31st again in May.
    pub interval: Interval,
    pub start: i64,
    pub description: Option<String>,
    /// Instalments charge it if set, else the customer's default at that moment.
    pub payment_method: Option<PaymentMethodId>,
    /// Features the plan grants while it is paid up, or within the grace of a failed payment.
    pub grants: Vec<String>,
    pub schedule: Vec<Instalment>,
    pub status: PaymentPlanStatus,
    /// The failed instalment invoice being retried, while one is.
    pub dunning: Option<Dunning>,
    pub metadata: Metadata,
    /// The customer's test clock: which schedule the plan's due instants go to.
    pub test_clock: Option<TestClockId>,
    pub created: i64,
    pub canceled_at: Option<i64>,
    pub paid_at: Option<i64>,
    /// The payee's share of each instalment's payment.
    #[serde(default)]
    pub transfer: Option<Box<super::TransferTerms>>,
}

/// `total` split into `count` parts of integer minor units summing exactly to it, the
/// remainder on the first; `None` when a part would be nothing (1 in 2).
pub fn split_total(total_minor: i64, count: u32) -> Option<Vec<i64>> {
    if count == 0 || total_minor <= 0 {
        return None;
    }
    let count_i64 = i64::from(count);
    let base = total_minor / count_i64;
    if base == 0 {
        return None;
    }
    let remainder = total_minor - base * count_i64;
    let mut parts = vec![base; count as usize];
    parts[0] += remainder;
    Some(parts)
}

impl PaymentPlan {
    /// The schedule of `parts` from `start`, one `interval` apart, each computed from `start`
    /// itself so month-end days are clamped and restored, never drifting.
    pub fn schedule_of(parts: &[i64], start: i64, interval: Interval) -> Vec<Instalment> {
        parts
            .iter()
            .enumerate()
            .map(|(index, amount)| Instalment {
                due: interval.boundary(start, index as i64),
                amount_minor: *amount,
                invoice: None,
                status: InstalmentStatus::Upcoming,
            })
            .collect()
    }

    /// The schedule its due instants are kept in: its test clock's, or real time's.
    pub fn schedule_scope(&self) -> &str {
        crate::store::keys::scope_of(self.test_clock.as_ref())
    }

    /// The first instalment not yet invoiced, by its place in the schedule.
    pub fn next_upcoming(&self) -> Option<usize> {
        self.schedule.iter().position(|instalment| instalment.status == InstalmentStatus::Upcoming)
    }

    /// When something is next due for it: the next instalment, or the retry of a failed one.
    pub fn next_due(&self) -> Option<i64> {
        if self.status.is_terminal() {
            return None;
        }
        let upcoming = self.next_upcoming().map(|index| self.schedule[index].due);
        let retry = self.dunning.as_ref().and_then(|dunning| dunning.next_retry_at);
        [upcoming, retry].into_iter().flatten().min()
    }

    /// The instalments `invoice` collects.
    pub fn instalments_of<'a>(
        &'a mut self,
        invoice: &'a InvoiceId,
    ) -> impl Iterator<Item = &'a mut Instalment> + 'a {
        self.schedule
            .iter_mut()
            .filter(move |instalment| instalment.invoice.as_ref() == Some(invoice))
    }

    /// What is still to be paid: every instalment neither paid nor forgiven.
    pub fn amount_remaining(&self) -> i64 {
        self.schedule
            .iter()
            .filter(|instalment| {
                matches!(instalment.status, InstalmentStatus::Upcoming | InstalmentStatus::Open)
            })
            .map(|instalment| instalment.amount_minor)
            .sum()
    }

    pub fn amount_paid(&self) -> i64 {
        self.schedule
            .iter()
            .filter(|instalment| instalment.status == InstalmentStatus::Paid)
            .map(|instalment| instalment.amount_minor)
            .sum()
    }

    /// After an instalment is paid or forgiven: `paid` once nothing is left, at `now`.
    pub fn settle_if_done(&mut self, now: i64) {
        if self.status != PaymentPlanStatus::Canceled && self.amount_remaining() == 0 {
            self.status = PaymentPlanStatus::Paid;
            self.paid_at.get_or_insert(now);
            self.dunning = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::periods::{IntervalUnit, unix};

    #[test]
    fn parts_sum_exactly_with_the_remainder_on_the_first() {
        assert_eq!(split_total(1000, 3), Some(vec![334, 333, 333]));
        assert_eq!(split_total(1_200_000, 12), Some(vec![100_000; 12]));
        assert_eq!(split_total(100, 24), Some([vec![8], vec![4; 23]].concat()));
        assert_eq!(split_total(2, 2), Some(vec![1, 1]));
        for (total, count) in [(1_000_001, 7), (99_999, 24), (3, 2), (i64::MAX, 24)] {
            let parts = split_total(total, count).unwrap();
            assert_eq!(parts.len(), count as usize);
            assert_eq!(parts.iter().sum::<i64>(), total);
            assert!(parts.windows(2).all(|pair| pair[0] >= pair[1]));
        }
    }

    #[test]
    fn a_part_of_nothing_is_refused() {
        assert_eq!(split_total(1, 2), None);
        assert_eq!(split_total(23, 24), None);
        assert_eq!(split_total(0, 2), None);
        assert_eq!(split_total(-100, 2), None);
    }

    #[test]
    fn monthly_instalments_from_the_31st_clamp_and_restore() {
        let start = unix(2027, 1, 31, 9, 0, 0);
        let interval = Interval { unit: IntervalUnit::Month, count: 1 };
        let schedule = PaymentPlan::schedule_of(&[1, 1, 1, 1], start, interval);
        let dues: Vec<i64> = schedule.iter().map(|instalment| instalment.due).collect();
        assert_eq!(
            dues,
            vec![
                start,
                unix(2027, 2, 28, 9, 0, 0),
                unix(2027, 3, 31, 9, 0, 0),
                unix(2027, 4, 30, 9, 0, 0)
            ]
        );
    }
}
