//! The accrual side of a sale: a charge that paid no invoice (a single course, an instalment)
//! is collected, its tax payable and its revenue recognized the moment it succeeds, with
//! nothing receivable or deferred in between. A refund takes back its part of each, the tax
//! in proportion; a recall (a bank transfer reversed) takes back all of it. Only refunds and
//! recalls undo a sale: a lost dispute is a cost the cash side of the books carries, as it is
//! for an invoice's charge.
//!
//! Like an invoice's, a sale's postings are derived from its state (see
//! [`crate::ledger::accrual`]), so `kassa verify-ledger` checks every sale against the same
//! rule. A charge that pays an invoice accrues nothing of its own: the invoice does.

use crate::billing::invoicing::divide_half_up;
use crate::domain::{AccountId, Charge, ChargeStatus, Posting, PostingKind};
use crate::ledger::accrual::{self, Accrued};

/// What `charge`'s state accrues as a sale: what it kept of its amount (less refunds) while it
/// is succeeded, of which the tax it charged (in proportion to what it kept, rounded half up)
/// is payable and the rest is revenue; nothing for a charge that pays an invoice.
pub fn accrues(charge: &Charge) -> Accrued {
    if charge.invoice.is_some() || charge.status != ChargeStatus::Succeeded {
        return Accrued::default();
    }
    let amount = charge.amount.amount_minor;
    let kept = amount - charge.amount_refunded_minor;
    let tax = charge
        .breakdown
        .as_ref()
        .map_or(0, |breakdown| breakdown.tax.iter().map(|tax| tax.amount_minor).sum());
    let tax_kept = match amount > 0 {
        true => divide_half_up(i128::from(tax) * i128::from(kept), i128::from(amount)),
        false => tax,
    };
    Accrued {
        collected: kept,
        tax_payable: tax_kept,
        recognized: kept - tax_kept,
        ..Accrued::default()
    }
}

/// The posting that takes `charge`'s sale accruals from `held` (what its postings hold) to what
/// its state accrues, in the currency it was charged in, if they differ.
pub fn posting(account: &AccountId, charge: &Charge, held: Accrued, at: i64) -> Option<Posting> {
    let legs = accrual::moves(held, accrues(charge))?;
    let (source, currency) = (charge.id.as_str(), charge.amount.currency);
    let posting = Posting::new(account, PostingKind::Sale, source, currency, legs, at);
    Some(Posting { customer: Some(charge.customer.clone()), ..posting })
}

#[cfg(test)]
mod tests;
