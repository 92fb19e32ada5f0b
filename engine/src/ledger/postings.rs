//! The posting each movement of money makes, from the record that moved it. A movement of no
//! money (a free charge) posts nothing.

use crate::domain::{
    AccountId, Charge, ChargeTransfer, CustomerId, Dispute, LedgerAccount, Leg, Money, Posting,
    PostingKind, Refund, TransactionId,
};

/// A charge succeeded: its gateway holds the amount for the platform.
pub fn charge_succeeded(account: &AccountId, charge: &Charge, at: i64) -> Option<Posting> {
    let leg = Leg {
        debit: clearing(&charge.gateway),
        credit: LedgerAccount::Platform,
        amount_minor: charge.amount.amount_minor,
    };
    posting(
        account,
        PostingKind::Charge,
        charge.id.as_str(),
        Mover::of(&charge.customer, charge.amount),
        leg,
        at,
    )
}

/// A succeeded charge's payment was recalled (a bank transfer reversed): the amount goes back.
pub fn charge_recalled(account: &AccountId, charge: &Charge, at: i64) -> Option<Posting> {
    let leg = Leg {
        debit: LedgerAccount::Platform,
        credit: clearing(&charge.gateway),
        amount_minor: charge.amount.amount_minor,
    };
    posting(
        account,
        PostingKind::Adjustment,
        charge.id.as_str(),
        Mover::of(&charge.customer, charge.amount),
        leg,
        at,
    )
}

/// A refund succeeded: its gateway paid the amount back to the customer.
pub fn refund_succeeded(account: &AccountId, refund: &Refund, at: i64) -> Option<Posting> {
    let leg = Leg {
        debit: LedgerAccount::Platform,
        credit: clearing(&refund.gateway),
        amount_minor: refund.amount.amount_minor,
    };
    posting(
        account,
        PostingKind::Refund,
        refund.id.as_str(),
        Mover::of(&refund.customer, refund.amount),
        leg,
        at,
    )
}

/// A dispute opened: the gateway withdrew its amount until the dispute is decided.
pub fn dispute_opened(account: &AccountId, dispute: &Dispute, at: i64) -> Option<Posting> {
    let leg = Leg {
        debit: LedgerAccount::Platform,
        credit: clearing(&dispute.gateway),
        amount_minor: dispute.amount.amount_minor,
    };
    posting(
        account,
        PostingKind::Dispute,
        dispute.id.as_str(),
        Mover::of(&dispute.customer, dispute.amount),
        leg,
        at,
    )
}

/// A dispute was won: the withdrawn amount is reinstated.
pub fn dispute_won(account: &AccountId, dispute: &Dispute, at: i64) -> Option<Posting> {
    let leg = Leg {
        debit: clearing(&dispute.gateway),
        credit: LedgerAccount::Platform,
        amount_minor: dispute.amount.amount_minor,
    };
    posting(
        account,
        PostingKind::Adjustment,
        dispute.id.as_str(),
        Mover::of(&dispute.customer, dispute.amount),
        leg,
        at,
    )
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
            let mover = Mover::of(&charge.customer, charge.amount);
            let posting = posting(account, kind, transfer.id.as_str(), mover, leg, at)?;
            Some(Posting { available_on, payee: Some(transfer.payee.clone()), ..posting })
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
    let leg = Leg {
        debit: LedgerAccount::Payee { payee: transfer.payee.clone() },
        credit: LedgerAccount::Platform,
        amount_minor,
    };
    let mover = Mover::of(&charge.customer, charge.amount);
    let posting =
        posting(account, PostingKind::TransferReversal, transfer.id.as_str(), mover, leg, at)?;
    let available_on = transfer.available_on.unwrap_or(at).max(at);
    Some(Posting { available_on, payee: Some(transfer.payee.clone()), ..posting })
}

fn clearing(gateway: &str) -> LedgerAccount {
    LedgerAccount::Clearing { gateway: gateway.to_owned() }
}

/// Who and what currency a posting is about.
struct Mover<'a> {
    customer: &'a CustomerId,
    money: Money,
}

impl<'a> Mover<'a> {
    fn of(customer: &'a CustomerId, money: Money) -> Mover<'a> {
        Mover { customer, money }
    }
}

fn posting(
    account: &AccountId,
    kind: PostingKind,
    source: &str,
    mover: Mover<'_>,
    leg: Leg,
    at: i64,
) -> Option<Posting> {
    (leg.amount_minor > 0).then(|| Posting {
        id: TransactionId::generate(),
        account: account.clone(),
        kind,
        source: source.to_owned(),
        customer: Some(mover.customer.clone()),
        currency: mover.money.currency,
        legs: vec![leg],
        created: at,
        // The platform's money is its own as the gateway reports it: a gateway's settlement
        // delay is posted when the gateway reports it.
        available_on: at,
        payee: None,
    })
}
