//! Sponsorships (bursaries, financial aid): a sponsor — a customer standing for a company or a
//! fund — pays a share of a beneficiary's subscription, a percentage or a fixed amount per
//! period, up to an optional total cap, from a start to an optional end.
//!
//! The beneficiary's invoices show the sponsor's share as a line and bill the family the rest;
//! each share is also written down for the sponsor as a [`SponsorItem`], and the sponsor gets one
//! invoice per calendar month (UTC) listing every share of that month, whatever the number of
//! beneficiaries. A sponsorship changes only in its beneficiary's actor, where its invoices are
//! made, so its cap is never exceeded however many invoices run at once.

use serde::{Deserialize, Serialize};

use super::{
    Currency, CustomerId, InvoiceId, PlanId, SponsorshipId, SubscriptionId, TaxBehavior,
    TestClockId,
};
use crate::billing::invoicing::divide_half_up;
use crate::billing::periods::{civil_from_days, unix};

/// What the sponsor pays of each invoice it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SponsorShare {
    /// Basis points (1..=10 000) of what the invoice comes to after its coupon, before tax.
    Percent { bps: u32 },
    /// A fixed amount per period, in minor units of the subscription's currency.
    PerPeriod { amount_minor: i64 },
}

/// What happens to a beneficiary when its sponsor's invoice is still unpaid at the end of the
/// sponsor's grace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OnDefault {
    /// The share the sponsor did not pay is invoiced to the beneficiary (the default).
    BillBeneficiary,
    /// The beneficiary loses the subscription's features until the sponsor pays.
    Revoke,
    /// The platform carries the loss: the beneficiary is not affected.
    Absorb,
}

impl OnDefault {
    pub fn parse(text: &str) -> Option<OnDefault> {
        match text {
            "bill_beneficiary" => Some(OnDefault::BillBeneficiary),
            "revoke" => Some(OnDefault::Revoke),
            "absorb" => Some(OnDefault::Absorb),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OnDefault::BillBeneficiary => "bill_beneficiary",
            OnDefault::Revoke => "revoke",
            OnDefault::Absorb => "absorb",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SponsorshipStatus {
    Active,
    /// Its cap is used up: later invoices are the beneficiary's alone.
    Exhausted,
    /// Past its end, or ended by request.
    Ended,
}

impl SponsorshipStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SponsorshipStatus::Active => "active",
            SponsorshipStatus::Exhausted => "exhausted",
            SponsorshipStatus::Ended => "ended",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sponsorship {
    pub id: SponsorshipId,
    pub sponsor: CustomerId,
    pub beneficiary: CustomerId,
    pub subscription: SubscriptionId,
    pub currency: Currency,
    pub share: SponsorShare,
    /// The most it pays in all, if capped.
    pub cap_minor: Option<i64>,
    /// What it has paid so far: shares invoiced, less what credit notes and voids gave back.
    pub used_minor: i64,
    /// It covers invoices whose period starts in `[starts_at, ends_at)`.
    pub starts_at: i64,
    pub ends_at: Option<i64>,
    /// When it was ended by request (`ends_at` is then that instant).
    pub ended_at: Option<i64>,
    pub on_default: OnDefault,
    /// The clock its beneficiary and sponsor share, if a test clock.
    pub test_clock: Option<TestClockId>,
    pub created: i64,
}

impl Sponsorship {
    pub fn status(&self, at: i64) -> SponsorshipStatus {
        if self.ended_at.is_some() || self.ends_at.is_some_and(|end| end <= at) {
            SponsorshipStatus::Ended
        } else if self.cap_left() == Some(0) {
            SponsorshipStatus::Exhausted
        } else {
            SponsorshipStatus::Active
        }
    }

    /// When a request last changed it: what an answer or an event shows its status as of.
    pub fn last_changed(&self) -> i64 {
        self.ended_at.unwrap_or(self.created)
    }

    /// What is left of its cap; `None` when it has none.
    pub fn cap_left(&self) -> Option<i64> {
        self.cap_minor.map(|cap| (cap - self.used_minor).max(0))
    }

    /// Whether it pays a share of `subscription`'s invoice for a period starting at
    /// `period_start`.
    pub fn covers(&self, subscription: &SubscriptionId, period_start: i64) -> bool {
        &self.subscription == subscription
            && self.starts_at <= period_start
            && self.ends_at.is_none_or(|end| period_start < end)
            && self.cap_left() != Some(0)
    }

    /// Its share of an invoice that comes to `left` after its coupon and earlier sponsors,
    /// before tax: never more than `left`, nor than what is left of its cap.
    pub fn share_of(&self, left: i64) -> i64 {
        if left <= 0 {
            return 0;
        }
        let share = match self.share {
            SponsorShare::Percent { bps } => {
                divide_half_up(i128::from(left) * i128::from(bps), 10_000)
            }
            SponsorShare::PerPeriod { amount_minor } => amount_minor,
        };
        let share = share.min(left);
        self.cap_left().map_or(share, |cap_left| share.min(cap_left))
    }

    /// Its part of a credit of `credit` (an invoice that comes to less than nothing: a change
    /// to a cheaper plan): a percentage gets its share of it back, half-up, never more than it
    /// has paid; a fixed amount, paid once a period, gets nothing back.
    pub fn share_of_credit(&self, credit: i64) -> i64 {
        match self.share {
            SponsorShare::Percent { bps } if credit > 0 => {
                divide_half_up(i128::from(credit) * i128::from(bps), 10_000)
                    .min(self.used_minor.max(0))
            }
            _ => 0,
        }
    }

    pub fn schedule_scope(&self) -> &str {
        crate::store::keys::scope_of(self.test_clock.as_ref())
    }
}

/// A share a sponsor owes: written by the beneficiary's actor with the invoice that granted it
/// (or, negative, with the credit note or void that gave it back), and invoiced to the sponsor
/// once its month is over, in one invoice with every other share of that month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SponsorItem {
    /// Time-ordered, unique: its key under the sponsor.
    pub id: String,
    pub sponsorship: SponsorshipId,
    pub sponsor: CustomerId,
    pub beneficiary: CustomerId,
    pub beneficiary_invoice: InvoiceId,
    pub description: String,
    /// Negative when a share is given back.
    pub amount_minor: i64,
    pub currency: Currency,
    pub tax_behavior: TaxBehavior,
    /// What the tax rule taxes it as: the plan's sku.
    pub sku: String,
    pub plan: Option<PlanId>,
    pub period_start: i64,
    pub period_end: i64,
    pub accrued_at: i64,
    /// When the sponsor's invoice for it is made: the start of the month after `accrued_at`.
    pub invoice_at: i64,
    pub scope: String,
}

impl SponsorItem {
    pub fn new_id() -> String {
        ulid::Ulid::new().to_string()
    }
}

/// The first instant of the calendar month (UTC) after the one holding `instant`: when the
/// sponsor's invoice for that month is made.
pub fn month_after(instant: i64) -> i64 {
    let (year, month, _) = civil_from_days(instant.div_euclid(86_400));
    match month {
        12 => unix(year + 1, 1, 1, 0, 0, 0),
        month => unix(year, month + 1, 1, 0, 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sponsorship(share: SponsorShare, cap_minor: Option<i64>, used_minor: i64) -> Sponsorship {
        Sponsorship {
            id: SponsorshipId::generate(),
            sponsor: CustomerId::generate(),
            beneficiary: CustomerId::generate(),
            subscription: SubscriptionId::generate(),
            currency: crate::domain::money::parse_currency("zar").expect("zar"),
            share,
            cap_minor,
            used_minor,
            starts_at: 100,
            ends_at: Some(200),
            ended_at: None,
            on_default: OnDefault::BillBeneficiary,
            test_clock: None,
            created: 0,
        }
    }

    #[test]
    fn a_share_is_half_up_and_never_more_than_what_is_left_or_the_cap() {
        let percent = sponsorship(SponsorShare::Percent { bps: 3333 }, None, 0);
        // 3333 bps of 1 000 is 333.3 → 333; of 1 005 is 334.97 → 335.
        assert_eq!(percent.share_of(1_000), 333);
        assert_eq!(percent.share_of(1_005), 335);
        assert_eq!(percent.share_of(0), 0);
        assert_eq!(percent.share_of(-500), 0);
        let fixed = sponsorship(SponsorShare::PerPeriod { amount_minor: 700 }, Some(1_000), 600);
        assert_eq!(fixed.share_of(500), 400, "the cap's 400 left");
        assert_eq!(fixed.share_of(300), 300, "what the invoice has left");
        let paid = sponsorship(SponsorShare::Percent { bps: 5_000 }, None, 300);
        assert_eq!(paid.share_of_credit(401), 201, "half of a credit, half-up");
        assert_eq!(paid.share_of_credit(1_000), 300, "never more than it paid");
        assert_eq!(fixed.share_of_credit(1_000), 0, "a fixed share is not given back");
        let spent = sponsorship(SponsorShare::PerPeriod { amount_minor: 700 }, Some(1_000), 1_000);
        assert_eq!(spent.share_of(5_000), 0);
        assert_eq!(spent.status(150), SponsorshipStatus::Exhausted);
    }

    #[test]
    fn it_covers_periods_starting_from_its_start_until_its_end() {
        let covering = sponsorship(SponsorShare::Percent { bps: 5000 }, None, 0);
        let subscription = covering.subscription.clone();
        assert!(!covering.covers(&subscription, 99));
        assert!(covering.covers(&subscription, 100));
        assert!(covering.covers(&subscription, 199));
        assert!(!covering.covers(&subscription, 200));
        assert!(!covering.covers(&SubscriptionId::generate(), 150));
        assert_eq!(covering.status(199), SponsorshipStatus::Active);
        assert_eq!(covering.status(200), SponsorshipStatus::Ended);
    }

    #[test]
    fn a_month_is_invoiced_at_the_start_of_the_next() {
        // 2027-01-31 23:59:59 → 2027-02-01; 2026-12-15 → 2027-01-01.
        assert_eq!(month_after(unix(2027, 1, 31, 23, 59, 59)), unix(2027, 2, 1, 0, 0, 0));
        assert_eq!(month_after(unix(2026, 12, 15, 8, 0, 0)), unix(2027, 1, 1, 0, 0, 0));
        assert_eq!(month_after(unix(2027, 3, 1, 0, 0, 0)), unix(2027, 4, 1, 0, 0, 0));
    }
}
