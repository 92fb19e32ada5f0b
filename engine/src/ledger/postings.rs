//! The posting each movement of money makes, from the record that moved it. A movement of no
//! money (a free charge) posts nothing.

use crate::domain::{
    AccountId, BankLineRecord, Charge, ChargeTransfer, Currency, CustomerId, Dispute,
    LedgerAccount, Leg, Money, Payout, Posting, PostingKind, Refund,
};

/// A charge succeeded: its gateway holds the amount for the platform, less the fee it kept
/// (which leaves the platform's balance and the clearing account alike: the gateway's now).
/// A charge the gateway settled into another currency is posted in that one, as it reached
/// the platform's balance (its tax and discounts converted at the gateway's rate).
pub fn charge_succeeded(account: &AccountId, charge: &Charge, at: i64) -> Option<Posting> {
    let booked = charge.booked(charge.amount.amount_minor);
    let moved = Moved::by(charge.id.as_str(), &charge.customer, booked);
    let posting = moved.credit_platform(account, PostingKind::Charge, &charge.gateway, at)?;
    let posting = with_fee(posting, &charge.gateway, charge.booked_fee());
    let Some(breakdown) = &charge.breakdown else { return Some(posting) };
    let tax = breakdown.tax.iter().map(|tax| tax.amount_minor).sum();
    let discounts = breakdown.discounts.iter().map(|discount| discount.amount_minor).sum();
    Some(Posting {
        tax_minor: charge.booked(tax).amount_minor,
        discount_minor: charge.booked(discounts).amount_minor,
        ..posting
    })
}

/// A succeeded charge's payment was recalled (a bank transfer reversed): the amount goes back.
pub fn charge_recalled(account: &AccountId, charge: &Charge, at: i64) -> Option<Posting> {
    let booked = charge.booked(charge.amount.amount_minor);
    let moved = Moved::by(charge.id.as_str(), &charge.customer, booked);
    moved.debit_platform(account, PostingKind::Adjustment, &charge.gateway, at)
}

/// A refund succeeded: its gateway paid `booked` back to the customer (the refund's amount as
/// the books carry its charge: see [`Charge::booked`]).
pub fn refund_succeeded(
    account: &AccountId,
    refund: &Refund,
    booked: Money,
    at: i64,
) -> Option<Posting> {
    let moved = Moved::by(refund.id.as_str(), &refund.customer, booked);
    moved.debit_platform(account, PostingKind::Refund, &refund.gateway, at)
}

/// A refund of a customer's credit was recorded: its amount leaves the customer's balance for
/// transit before it is sent.
pub fn credit_refund_recorded(account: &AccountId, refund: &Refund, at: i64) -> Option<Posting> {
    let (from, to) = (LedgerAccount::CustomerBalances, LedgerAccount::PayoutsInTransit);
    credit_refund_moved(account, refund, PostingKind::Refund, from, to, at)
}

/// A refund of credit was paid: it leaves transit, and the adapter's clearing account that
/// paid it (the bank-transfer account's, for one the platform paid back itself).
pub fn credit_refund_paid(account: &AccountId, refund: &Refund, at: i64) -> Option<Posting> {
    let (from, to) = (LedgerAccount::PayoutsInTransit, clearing(&refund.gateway));
    credit_refund_moved(account, refund, PostingKind::Refund, from, to, at)
}

/// A refund of credit failed: from transit back to the customer's balance.
pub fn credit_refund_failed(account: &AccountId, refund: &Refund, at: i64) -> Option<Posting> {
    let (from, to) = (LedgerAccount::PayoutsInTransit, LedgerAccount::CustomerBalances);
    credit_refund_moved(account, refund, PostingKind::Adjustment, from, to, at)
}

/// A refund of credit's whole amount moved from `debit` to `credit`.
fn credit_refund_moved(
    account: &AccountId,
    refund: &Refund,
    kind: PostingKind,
    debit: LedgerAccount,
    credit: LedgerAccount,
    at: i64,
) -> Option<Posting> {
    let leg = Leg { debit, credit, amount_minor: refund.amount.amount_minor };
    Moved::by(refund.id.as_str(), &refund.customer, refund.amount).posting(account, kind, leg, at)
}

/// A dispute opened: the gateway withdrew its amount until the dispute is decided, and the fee
/// it charges for the dispute as far as it reported it.
pub fn dispute_opened(account: &AccountId, dispute: &Dispute, at: i64) -> Option<Posting> {
    let moved = Moved::by(dispute.id.as_str(), &dispute.customer, dispute.amount);
    let posting = moved.debit_platform(account, PostingKind::Dispute, &dispute.gateway, at)?;
    Some(with_fee(posting, &dispute.gateway, dispute.fee_minor))
}

/// The fee the gateway reports for a dispute changed from `posted_minor`, what its postings
/// hold: charged later than the dispute opened (a `dispute`), or given back (an `adjustment`).
pub fn dispute_fee_moved(
    account: &AccountId,
    dispute: &Dispute,
    posted_minor: i64,
    at: i64,
) -> Option<Posting> {
    let change = dispute.fee_minor.checked_sub(posted_minor)?;
    let (kind, leg) = match change > 0 {
        true => (
            PostingKind::Dispute,
            Leg {
                debit: LedgerAccount::Platform,
                credit: clearing(&dispute.gateway),
                amount_minor: change,
            },
        ),
        false => (
            PostingKind::Adjustment,
            Leg {
                debit: clearing(&dispute.gateway),
                credit: LedgerAccount::Platform,
                amount_minor: change.checked_neg()?,
            },
        ),
    };
    let moved = Moved::by(dispute.id.as_str(), &dispute.customer, dispute.amount);
    let posting = moved.posting(account, kind, leg, at)?;
    Some(Posting { fee_minor: change, ..posting })
}

/// What the gateway holds back for a dispute (what it withdrew, less what it reinstated once
/// the dispute was won) is `dispute.amount` now, where its postings hold `held_minor`: the
/// difference moves as an `adjustment`. It is how a withdrawal or reinstatement booked at the
/// charge's rate is corrected when a later event lists what the gateway moved.
pub fn dispute_withdrawal_moved(
    account: &AccountId,
    dispute: &Dispute,
    held_minor: i64,
    at: i64,
) -> Option<Posting> {
    let change = dispute.amount.amount_minor.checked_sub(held_minor)?;
    let (debit, credit) = match change > 0 {
        true => (LedgerAccount::Platform, clearing(&dispute.gateway)),
        false => (clearing(&dispute.gateway), LedgerAccount::Platform),
    };
    let leg = Leg { debit, credit, amount_minor: change.checked_abs()? };
    let moved = Moved::by(dispute.id.as_str(), &dispute.customer, dispute.amount);
    moved.posting(account, PostingKind::Adjustment, leg, at)
}

/// `posting` with the gateway's fee of `fee_minor` kept out of what it moved into the
/// platform's balance: a leg of its own back to the gateway's clearing account.
fn with_fee(mut posting: Posting, gateway: &str, fee_minor: i64) -> Posting {
    if fee_minor > 0 {
        posting.legs.push(Leg {
            debit: LedgerAccount::Platform,
            credit: clearing(gateway),
            amount_minor: fee_minor,
        });
        posting.fee_minor = fee_minor;
    }
    posting
}

/// A dispute was won: what the gateway put back (`dispute.amount`, as booked) returns to the
/// platform.
pub fn dispute_won(account: &AccountId, dispute: &Dispute, at: i64) -> Option<Posting> {
    let moved = Moved::by(dispute.id.as_str(), &dispute.customer, dispute.amount);
    moved.credit_platform(account, PostingKind::Adjustment, &dispute.gateway, at)
}

/// A split charge succeeded at `at`: the payee's share moves from the platform to the payee,
/// available on `transfer.available_on`; the application fee moves back; and what refunds
/// reversed of the share before (a charge succeeding again after its payment was recalled)
/// moves back too.
pub fn transfer_made(
    account: &AccountId,
    charge: &Charge,
    transfer: &ChargeTransfer,
    at: i64,
) -> Vec<Posting> {
    let available_on = transfer.available_on.unwrap_or(at);
    let moved = Moved::by(transfer.id.as_str(), &charge.customer, charge.amount);
    let payee = LedgerAccount::Payee { payee: transfer.payee.clone() };
    let moves = [
        (PostingKind::Transfer, LedgerAccount::Platform, payee.clone(), transfer.amount_minor),
        (
            PostingKind::ApplicationFee,
            payee.clone(),
            LedgerAccount::Platform,
            transfer.application_fee_minor,
        ),
        (PostingKind::TransferReversal, payee, LedgerAccount::Platform, transfer.reversed_minor),
    ];
    moves
        .into_iter()
        .filter_map(|(kind, debit, credit, amount_minor)| {
            let leg = Leg { debit, credit, amount_minor };
            moved.for_payee(account, kind, leg, transfer, at, available_on)
        })
        .collect()
}

/// `amount_minor` of a payee's share given back, for a refund (or a recall) of its charge at
/// `at`: taken from what is still pending while the share is.
pub fn transfer_reversed(
    account: &AccountId,
    charge: &Charge,
    transfer: &ChargeTransfer,
    amount_minor: i64,
    at: i64,
) -> Option<Posting> {
    let moved = Moved::by(transfer.id.as_str(), &charge.customer, charge.amount);
    moved.share_moved(account, PostingKind::TransferReversal, transfer, -amount_minor, at)
}

/// A dispute opened on a split charge: the payee's share of the disputed amount (in proportion,
/// rounded down, at most what is left of it) is held back from the payee until the dispute is
/// decided; a lost dispute keeps it.
pub fn dispute_hold(
    account: &AccountId,
    dispute: &Dispute,
    charge: &Charge,
    transfer: &ChargeTransfer,
    at: i64,
) -> Option<Posting> {
    let left = transfer.net_minor() - transfer.reversed_minor;
    let share = i128::from(transfer.net_minor()) * i128::from(dispute.amount.amount_minor)
        / i128::from(charge.amount.amount_minor.max(1));
    let held = i64::try_from(share).unwrap_or(left).min(left);
    let moved = Moved::by(dispute.id.as_str(), &dispute.customer, dispute.amount);
    moved.share_moved(account, PostingKind::Dispute, transfer, -held, at)
}

/// A dispute was won: what it held of the payee's share (`held_minor`) goes back.
pub fn dispute_hold_released(
    account: &AccountId,
    dispute: &Dispute,
    transfer: &ChargeTransfer,
    held_minor: i64,
    at: i64,
) -> Option<Posting> {
    let moved = Moved::by(dispute.id.as_str(), &dispute.customer, dispute.amount);
    moved.share_moved(account, PostingKind::Adjustment, transfer, held_minor, at)
}

/// Which way a statement line's money went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineMoney {
    /// It arrived at the bank account: what it paid of invoices is the platform's (one posting
    /// per invoice, its source), what went to the customer's balance is the customer's. What it
    /// paid of a charge is posted when the charge succeeds.
    Arrived,
    /// A debit returned it: each part leaves its holder again.
    Returned,
}

/// A statement line applied to (or returned from) `customer` at `at`, at `gateway` (the bank
/// account's clearing account).
pub fn bank_line(
    account: &AccountId,
    customer: &CustomerId,
    gateway: &str,
    line: &BankLineRecord,
    money: LineMoney,
    at: i64,
) -> Vec<Posting> {
    bank_line_moves(customer, line)
        .filter_map(|(source, holder, amount_minor)| {
            let (kind, leg) = match money {
                LineMoney::Arrived => (
                    PostingKind::BankTransfer,
                    Leg { debit: clearing(gateway), credit: holder, amount_minor },
                ),
                LineMoney::Returned => (
                    PostingKind::Adjustment,
                    Leg { debit: holder, credit: clearing(gateway), amount_minor },
                ),
            };
            let amount = Money { amount_minor, currency: line.currency };
            Moved::by(source, customer, amount).posting(account, kind, leg, at)
        })
        .collect()
}

/// What a statement line moved, each part with its source and the account it went to: the
/// invoices it paid (the platform's) and the rest (the customer's balance; the source is the
/// charge it was meant for, if any, else the customer).
fn bank_line_moves<'a>(
    customer: &'a CustomerId,
    line: &'a BankLineRecord,
) -> impl Iterator<Item = (&'a str, LedgerAccount, i64)> {
    let invoices = line
        .invoices_paid
        .iter()
        .map(|(invoice, paid)| (invoice.as_str(), LedgerAccount::Platform, *paid));
    let credited_for = line.charge.as_ref().map_or(customer.as_str(), |charge| charge.as_str());
    let credited =
        std::iter::once((credited_for, LedgerAccount::CustomerBalances, line.credited_minor));
    invoices.chain(credited)
}

/// Credit the platform gave a customer's balance (`credited_minor` positive: a credit note,
/// a downgrade's unused time, an invoice voided that had used credit) or credit the balance
/// gave back to the platform (negative: applied to an invoice, an amount below a gateway's
/// minimum carried as owed). No money moves at a gateway.
pub fn customer_balance_moved(
    account: &AccountId,
    customer: &CustomerId,
    currency: Currency,
    credited_minor: i64,
    at: i64,
) -> Option<Posting> {
    let (debit, credit) = match credited_minor > 0 {
        true => (LedgerAccount::Platform, LedgerAccount::CustomerBalances),
        false => (LedgerAccount::CustomerBalances, LedgerAccount::Platform),
    };
    let amount_minor = credited_minor.checked_abs()?;
    let leg = Leg { debit, credit, amount_minor };
    let money = Money { amount_minor, currency };
    Moved::by(customer.as_str(), customer, money).posting(account, PostingKind::Adjustment, leg, at)
}

/// A payout was recorded: its amount leaves the payee's balance for transit before it is sent.
pub fn payout_made(payout: &Payout) -> Option<Posting> {
    let payee = LedgerAccount::Payee { payee: payout.payee.clone() };
    let leg = Leg {
        debit: payee,
        credit: LedgerAccount::PayoutsInTransit,
        amount_minor: payout.amount_minor,
    };
    let posting = payout_posting(payout, PostingKind::Payout, leg, true, payout.created)?;
    // Taken from the balance as of the instant it was decided on, so that a later instant
    // of the schedule, run in the same pass, sees it spent.
    Some(Posting { available_on: payout.scheduled_for.unwrap_or(payout.created), ..posting })
}

/// `amount_minor` of a payout arrived at `at`: it leaves transit, and the gateway that paid it.
pub fn payout_arrived(payout: &Payout, amount_minor: i64, at: i64) -> Option<Posting> {
    let leg = Leg {
        debit: LedgerAccount::PayoutsInTransit,
        credit: clearing(&payout.method),
        amount_minor,
    };
    // The payee's balance does not move: the posting is the platform's.
    payout_posting(payout, PostingKind::Payout, leg, false, at)
}

/// `amount_minor` of a payout failed at `at`: back from transit to the payee, available at once.
pub fn payout_failed(payout: &Payout, amount_minor: i64, at: i64) -> Option<Posting> {
    let leg = Leg {
        debit: LedgerAccount::PayoutsInTransit,
        credit: LedgerAccount::Payee { payee: payout.payee.clone() },
        amount_minor,
    };
    payout_posting(payout, PostingKind::PayoutFailure, leg, true, at)
}

/// `amount_minor` of a payout returned at `at` after it was paid: back from the gateway's
/// clearing account to the payee, available at once.
pub fn payout_returned(payout: &Payout, amount_minor: i64, at: i64) -> Option<Posting> {
    let leg = Leg {
        debit: clearing(&payout.method),
        credit: LedgerAccount::Payee { payee: payout.payee.clone() },
        amount_minor,
    };
    payout_posting(payout, PostingKind::PayoutFailure, leg, true, at)
}

fn payout_posting(
    payout: &Payout,
    kind: PostingKind,
    leg: Leg,
    moves_payee: bool,
    at: i64,
) -> Option<Posting> {
    (leg.amount_minor > 0).then(|| {
        let (source, currency) = (payout.id.as_str(), payout.currency);
        let posting = Posting::new(&payout.account, kind, source, currency, vec![leg], at);
        Posting { payee: moves_payee.then(|| payout.payee.clone()), ..posting }
    })
}

/// The object that moved money (its id, the posting's source), whose customer, and in what
/// currency: its `money`'s.
struct Moved<'a> {
    source: &'a str,
    customer: &'a CustomerId,
    money: Money,
}

impl<'a> Moved<'a> {
    fn by(source: &'a str, customer: &'a CustomerId, money: Money) -> Moved<'a> {
        Moved { source, customer, money }
    }

    /// The whole amount from `gateway`'s clearing account into the platform's balance.
    fn credit_platform(
        &self,
        account: &AccountId,
        kind: PostingKind,
        gateway: &str,
        at: i64,
    ) -> Option<Posting> {
        let leg = Leg {
            debit: clearing(gateway),
            credit: LedgerAccount::Platform,
            amount_minor: self.money.amount_minor,
        };
        self.posting(account, kind, leg, at)
    }

    /// The whole amount from the platform's balance back to `gateway`'s clearing account.
    fn debit_platform(
        &self,
        account: &AccountId,
        kind: PostingKind,
        gateway: &str,
        at: i64,
    ) -> Option<Posting> {
        let leg = Leg {
            debit: LedgerAccount::Platform,
            credit: clearing(gateway),
            amount_minor: self.money.amount_minor,
        };
        self.posting(account, kind, leg, at)
    }

    /// `amount_minor` of `transfer`'s share moved at `at`: to the payee when positive, back
    /// from it when negative; available when the share is, or at once if that has passed.
    fn share_moved(
        &self,
        account: &AccountId,
        kind: PostingKind,
        transfer: &ChargeTransfer,
        amount_minor: i64,
        at: i64,
    ) -> Option<Posting> {
        let payee = LedgerAccount::Payee { payee: transfer.payee.clone() };
        let leg = match amount_minor >= 0 {
            true => Leg { debit: LedgerAccount::Platform, credit: payee, amount_minor },
            false => {
                Leg { debit: payee, credit: LedgerAccount::Platform, amount_minor: -amount_minor }
            }
        };
        let available_on = transfer.available_on.unwrap_or(at).max(at);
        self.for_payee(account, kind, leg, transfer, at, available_on)
    }

    /// `leg`, which moves a part of `transfer`'s share, as the payee's posting.
    fn for_payee(
        &self,
        account: &AccountId,
        kind: PostingKind,
        leg: Leg,
        transfer: &ChargeTransfer,
        at: i64,
        available_on: i64,
    ) -> Option<Posting> {
        let posting = self.posting(account, kind, leg, at)?;
        Some(Posting { available_on, payee: Some(transfer.payee.clone()), ..posting })
    }

    fn posting(
        &self,
        account: &AccountId,
        kind: PostingKind,
        leg: Leg,
        at: i64,
    ) -> Option<Posting> {
        // Available at once: the platform's money is its own as the gateway reports it (a
        // gateway's settlement delay is posted when the gateway reports it).
        (leg.amount_minor > 0).then(|| {
            let currency = self.money.currency;
            let posting = Posting::new(account, kind, self.source, currency, vec![leg], at);
            Posting { customer: Some(self.customer.clone()), ..posting }
        })
    }
}

fn clearing(gateway: &str) -> LedgerAccount {
    LedgerAccount::Clearing { gateway: gateway.to_owned() }
}
