//! The posting each movement of money makes, from the record that moved it. A movement of no
//! money (a free charge) posts nothing.

use crate::domain::{
    AccountId, Charge, CustomerId, Dispute, LedgerAccount, Leg, Money, Posting, PostingKind,
    Refund, TransactionId,
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
    })
}
