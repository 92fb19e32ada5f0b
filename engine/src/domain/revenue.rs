//! Revenue as the books record it, by the day the money moved (the cash basis): what each
//! posting of the platform's adds to its day's figures. Kept beside the postings in the same
//! write and recomputed from them by `kassa verify-ledger`, so a report read from the days
//! never disagrees with the postings.

use serde::{Deserialize, Serialize};

use super::ledger::{LedgerAccount, Posting, PostingKind};

pub const DAY_SECS: i64 = 86_400;

/// One day's (or period's) revenue in one currency, in minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revenue {
    /// What customers paid, tax included, discounts taken off (less payments recalled).
    pub gross: i64,
    /// What discounts took off the charges in `gross`.
    pub discounts: i64,
    /// The tax in `gross`.
    pub tax: i64,
    pub refunds: i64,
    /// Withdrawn by disputes, less what disputes won reinstated.
    pub disputes: i64,
    /// The gateways' fees, as they report them.
    pub fees: i64,
}

impl Revenue {
    /// What the platform keeps of `gross`: less tax, refunds, disputes and fees (before its
    /// payees' shares).
    pub fn net(&self) -> i64 {
        self.gross - self.tax - self.refunds - self.disputes - self.fees
    }

    /// What `posting` adds to its day, if it is revenue of the platform's: a payee's posting,
    /// one on a test clock, and money moved between the platform and its payees are not.
    pub fn of(posting: &Posting) -> Option<Revenue> {
        if posting.on_test_clock || posting.payee.is_some() {
            return None;
        }
        let platform_net = posting.net_for(&LedgerAccount::Platform);
        // What the movement brought into the platform's balance before the gateway's fee.
        let moved = platform_net + posting.fee_minor;
        let mut revenue = Revenue { fees: posting.fee_minor, ..Revenue::default() };
        // Money into or out of customers' balances is revenue as it reaches the platform's
        // balance: credit applied to an invoice is, a prepayment or a credit given back is not
        // until then (the latter takes it back).
        let moves_customer_balance = posting
            .legs
            .iter()
            .any(|leg| [&leg.debit, &leg.credit].contains(&&LedgerAccount::CustomerBalances));
        match posting.kind {
            _ if moves_customer_balance => revenue.gross = platform_net,
            PostingKind::BankTransfer => revenue.gross = platform_net,
            PostingKind::Charge => {
                revenue.gross = moved;
                revenue.tax = posting.tax_minor;
                revenue.discounts = posting.discount_minor;
            }
            PostingKind::Refund => revenue.refunds = -moved,
            PostingKind::Dispute => revenue.disputes = -moved,
            // A dispute won gives its amount back (and a fee given back, its fee); a payment
            // recalled takes its own.
            PostingKind::Adjustment if posting.source.starts_with("dp_") => {
                revenue.disputes = -moved
            }
            PostingKind::Adjustment => revenue.gross = moved,
            PostingKind::Transfer
            | PostingKind::ApplicationFee
            | PostingKind::TransferReversal
            | PostingKind::Payout
            | PostingKind::PayoutFailure
            | PostingKind::Invoice
            | PostingKind::Sale => return None,
        }
        (revenue != Revenue::default()).then_some(revenue)
    }

    /// The sum, `None` past `i64`.
    pub fn plus(self, other: Revenue) -> Option<Revenue> {
        Some(Revenue {
            gross: self.gross.checked_add(other.gross)?,
            discounts: self.discounts.checked_add(other.discounts)?,
            tax: self.tax.checked_add(other.tax)?,
            refunds: self.refunds.checked_add(other.refunds)?,
            disputes: self.disputes.checked_add(other.disputes)?,
            fees: self.fees.checked_add(other.fees)?,
        })
    }
}

/// The UTC day (days since 1970-01-01) an instant falls in.
pub fn day_of(at: i64) -> i64 {
    at.div_euclid(DAY_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ledger::Leg;
    use crate::domain::{AccountId, Currency, PayeeId};

    fn posting(kind: PostingKind, debit: LedgerAccount, credit: LedgerAccount) -> Posting {
        let account = AccountId::default_account();
        let legs = vec![Leg { debit, credit, amount_minor: 1_150 }];
        let posting = Posting::new(&account, kind, "ch_test", Currency::USD, legs, 1);
        Posting { tax_minor: 150, discount_minor: 200, ..posting }
    }

    fn clearing() -> LedgerAccount {
        LedgerAccount::Clearing { gateway: "sandbox".into() }
    }

    #[test]
    fn what_each_posting_adds_to_its_day() {
        let charge = posting(PostingKind::Charge, clearing(), LedgerAccount::Platform);
        let revenue = Revenue::of(&charge).unwrap();
        assert_eq!((revenue.gross, revenue.tax, revenue.discounts), (1_150, 150, 200));
        assert_eq!(revenue.net(), 1_000, "tax is not the platform's");
        let won = Posting {
            source: "dp_test".into(),
            ..posting(PostingKind::Adjustment, clearing(), LedgerAccount::Platform)
        };
        assert_eq!(Revenue::of(&won).unwrap().disputes, -1_150, "a dispute won gives back");
        let mut with_fee = posting(PostingKind::Charge, clearing(), LedgerAccount::Platform);
        with_fee.legs.push(Leg {
            debit: LedgerAccount::Platform,
            credit: clearing(),
            amount_minor: 63,
        });
        with_fee.fee_minor = 63;
        let revenue = Revenue::of(&with_fee).unwrap();
        assert_eq!((revenue.gross, revenue.fees), (1_150, 63), "the fee out of the gross");
        assert_eq!(revenue.net(), 937);
        let recalled = posting(PostingKind::Adjustment, LedgerAccount::Platform, clearing());
        assert_eq!(Revenue::of(&recalled).unwrap().gross, -1_150, "a payment recalled");
        let payee = LedgerAccount::Payee { payee: PayeeId::generate() };
        let share = posting(PostingKind::Transfer, LedgerAccount::Platform, payee);
        assert_eq!(Revenue::of(&share), None, "a payee's share is not revenue");
        let prepaid =
            posting(PostingKind::BankTransfer, clearing(), LedgerAccount::CustomerBalances);
        assert_eq!(Revenue::of(&prepaid), None, "a prepayment is not revenue yet");
        let applied = posting(
            PostingKind::Adjustment,
            LedgerAccount::CustomerBalances,
            LedgerAccount::Platform,
        );
        assert_eq!(Revenue::of(&applied).unwrap().gross, 1_150, "until it pays an invoice");
        let credited = posting(
            PostingKind::Adjustment,
            LedgerAccount::Platform,
            LedgerAccount::CustomerBalances,
        );
        assert_eq!(Revenue::of(&credited).unwrap().gross, -1_150, "credit given takes it back");
        let by_reference = posting(PostingKind::BankTransfer, clearing(), LedgerAccount::Platform);
        assert_eq!(Revenue::of(&by_reference).unwrap().gross, 1_150, "an invoice paid by EFT");
        let testing = Posting { on_test_clock: true, ..charge };
        assert_eq!(Revenue::of(&testing), None, "test clocks are left out");
    }
}
