//! A payee: a tutor, course author or school the platform pays, where its money goes, and on
//! what schedule.

use serde::{Deserialize, Serialize};

use super::customer::Metadata;
use super::ids::{AccountId, PayeeId, PayoutId, TestClockId};
use super::money::Currency;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payee {
    pub id: PayeeId,
    pub account: AccountId,
    pub name: String,
    pub email: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    pub default_currency: Currency,
    pub destination: Destination,
    pub payout_schedule: PayoutSchedule,
    /// A payee on a test clock has its schedule driven by that clock.
    pub test_clock: Option<TestClockId>,
    pub metadata: Metadata,
    pub created: i64,
    /// The name, email and destination's details as the store seals them at rest; `None` when
    /// they are open in the fields above.
    #[serde(with = "serde_bytes")]
    pub sealed: Option<Vec<u8>>,
    /// Why the last payout to the destination failed: nothing more is paid to it until the
    /// destination is changed.
    #[serde(default)]
    pub destination_failure: Option<DestinationFailure>,
}

/// A payout that failed at the destination, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationFailure {
    pub payout: PayoutId,
    /// One of Stripe's payout failure codes (`account_closed`, `no_account`, …).
    pub code: String,
    pub message: String,
    pub at: i64,
}

/// Where a payee's payouts go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Destination {
    BankAccount {
        account_holder: String,
        bank_code: String,
        account_number: String,
    },
    /// An M-Pesa phone, paid by B2C.
    Mpesa {
        phone: String,
    },
    /// A Stripe connected account (`acct_…`), paid by a Transfer.
    Stripe {
        account: String,
    },
}

impl Destination {
    pub fn kind(&self) -> &'static str {
        match self {
            Destination::BankAccount { .. } => "bank_account",
            Destination::Mpesa { .. } => "mpesa",
            Destination::Stripe { .. } => "stripe",
        }
    }

    /// Whether payouts in `currency` can reach it: M-Pesa pays shillings only.
    pub fn takes(&self, currency: Currency) -> bool {
        match self {
            Destination::Mpesa { .. } => currency == Currency::KES,
            Destination::BankAccount { .. } | Destination::Stripe { .. } => true,
        }
    }

    /// The last four letters or digits of a bank account number: all the API shows of it.
    pub fn last4(&self) -> Option<String> {
        let Destination::BankAccount { account_number, .. } = self else { return None };
        let kept: Vec<char> = account_number.chars().filter(char::is_ascii_alphanumeric).collect();
        Some(kept[kept.len().saturating_sub(4)..].iter().collect())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PayoutInterval {
    Daily,
    Weekly,
    Monthly,
    /// Only when asked (`POST /v1/payouts`).
    Manual,
}

impl PayoutInterval {
    pub const ALL: [PayoutInterval; 4] = [
        PayoutInterval::Daily,
        PayoutInterval::Weekly,
        PayoutInterval::Monthly,
        PayoutInterval::Manual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PayoutInterval::Daily => "daily",
            PayoutInterval::Weekly => "weekly",
            PayoutInterval::Monthly => "monthly",
            PayoutInterval::Manual => "manual",
        }
    }

    pub fn parse(text: &str) -> Option<PayoutInterval> {
        PayoutInterval::ALL.into_iter().find(|interval| interval.as_str() == text)
    }
}

/// The days of the week a weekly schedule may pay on, Monday first.
pub const WEEKDAYS: [&str; 7] =
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutSchedule {
    pub interval: PayoutInterval,
    /// For a weekly schedule: the day, one of [`WEEKDAYS`].
    pub weekly_anchor: Option<String>,
    /// For a monthly schedule: the day of the month, 1 to 31 (the month's last day when it is
    /// shorter).
    pub monthly_anchor: Option<u8>,
    /// Days from a payment until the payee's share of it is available to pay out.
    pub delay_days: u32,
    /// Nothing is paid out while less than this is available, in the payee's currency's
    /// minor unit.
    pub minimum_amount: i64,
}

impl PayoutSchedule {
    /// Seven days' delay: refunds and disputes of the first week are taken from the payee's
    /// share before it is paid out.
    pub const DEFAULT_DELAY_DAYS: u32 = 7;
}
