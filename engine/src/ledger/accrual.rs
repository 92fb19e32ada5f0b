//! The accrual side of the books: what each invoice is owed, earned and settled, beside the
//! cash that the balance accounts follow. A finalized invoice is a receivable against the tax it
//! billed and its revenue; revenue is deferred while its service period runs past the month
//! it was billed in and recognized day by day over that period, a month at a time (the
//! schedule moves `recognized_through` to each month's start and to the period's end); paying
//! it (by any means, credit applied included) settles the receivable into `collected`, marking
//! it uncollectible writes what is left off as bad debt, and voiding it takes everything back.
//!
//! The postings are derived from the invoice's state, not from what happened to it: each time
//! an invoice is written, what its state accrues is compared with what its postings hold and
//! the difference is posted. So a transition the books did not foresee (a payment recalled, a
//! credit note, an invoice paid after it was written off) is posted all the same, and
//! `kassa verify-ledger` checks every invoice against the same rule.

use crate::domain::{AccountId, Invoice, InvoiceStatus, LedgerAccount, Leg, Posting, PostingKind};
use crate::reports::{next_month_start, share};

/// What an invoice's accrual postings hold, per account: the first three on the debit side,
/// the last three on the credit side, each as its balance on its side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accrued {
    pub receivable: i64,
    pub collected: i64,
    pub bad_debt: i64,
    pub tax_payable: i64,
    pub deferred: i64,
    pub recognized: i64,
}

impl Accrued {
    /// What `invoice`'s state accrues: nothing while a draft or once void; else its total
    /// (less credit given while it was open and after it was paid) owed, settled as far as it
    /// is paid (or credit applied), the rest written off when uncollectible; the tax it billed;
    /// and its revenue, recognized up to `recognized_through`.
    pub fn of(invoice: &Invoice) -> Accrued {
        if matches!(invoice.status, InvoiceStatus::Draft | InvoiceStatus::Void) {
            return Accrued::default();
        }
        let owed =
            invoice.total_minor - invoice.credited_minor - invoice.post_payment_credited_minor;
        let tax: i64 = invoice.tax.iter().map(|tax| tax.amount_minor).sum();
        let settled_so_far = invoice.balance_applied_minor.max(0) + invoice.amount_paid_minor;
        let collected = match invoice.status {
            InvoiceStatus::Paid => owed,
            _ if owed > 0 => settled_so_far.clamp(0, owed),
            _ => 0,
        };
        let bad_debt = match invoice.status {
            InvoiceStatus::Uncollectible => owed - collected,
            _ => 0,
        };
        let revenue = owed - tax;
        let recognized = recognized(invoice, revenue, through(invoice));
        Accrued {
            receivable: owed - collected - bad_debt,
            collected,
            bad_debt,
            tax_payable: tax,
            deferred: revenue - recognized,
            recognized,
        }
    }

    /// What `posting` adds, as one of an invoice's accrual postings.
    pub fn add(&mut self, posting: &Posting) {
        for (side, account) in self.sides() {
            let net = posting.net_for(&account);
            *side += if is_debit_side(&account) { -net } else { net };
        }
    }

    fn sides(&mut self) -> [(&mut i64, LedgerAccount); 6] {
        [
            (&mut self.receivable, LedgerAccount::Receivable),
            (&mut self.collected, LedgerAccount::Collected),
            (&mut self.bad_debt, LedgerAccount::BadDebt),
            (&mut self.tax_payable, LedgerAccount::TaxPayable),
            (&mut self.deferred, LedgerAccount::DeferredRevenue),
            (&mut self.recognized, LedgerAccount::RecognizedRevenue),
        ]
    }

    /// Each account's move from `self` to `to`, positive when debited.
    fn debits_to(mut self, mut to: Accrued) -> Vec<(LedgerAccount, i64)> {
        let from = self.sides();
        let to = to.sides();
        from.into_iter()
            .zip(to)
            .map(|((from, account), (to, _))| {
                let moved = *to - *from;
                let debited = if is_debit_side(&account) { moved } else { -moved };
                (account, debited)
            })
            .filter(|(_, debited)| *debited != 0)
            .collect()
    }
}

fn is_debit_side(account: &LedgerAccount) -> bool {
    matches!(account, LedgerAccount::Receivable | LedgerAccount::Collected | LedgerAccount::BadDebt)
}

/// Up to when the invoice's revenue is recognized.
fn through(invoice: &Invoice) -> i64 {
    invoice.recognized_through.or(invoice.finalized_at).unwrap_or(invoice.created)
}

/// Of `revenue` (the invoice's, before tax), what is earned at `through`: each line's net
/// share of the days of its period that have passed (in shares that add up to the line
/// exactly, as the recognized revenue report counts them), a line whose period ends within
/// the month it was billed in (or has none) at once, and whatever the lines do not carry
/// (a rounding, a sponsor's share) at once too.
fn recognized(invoice: &Invoice, revenue: i64, through: i64) -> i64 {
    let mut deferred = 0;
    for line in &invoice.lines {
        if !is_deferred(invoice, line.period_start, line.period_end) {
            continue;
        }
        let net = line.net_amount_minor(invoice.tax_behavior);
        let whole = line.period_end - line.period_start;
        let passed = (through - line.period_start).clamp(0, whole);
        deferred += net - share(net, passed, whole);
    }
    revenue - deferred
}

/// Whether a line's period runs past the month its invoice was billed in.
fn is_deferred(invoice: &Invoice, start: i64, end: i64) -> bool {
    let billed = invoice.finalized_at.unwrap_or(invoice.created);
    end > start && end > next_month_start(billed)
}

/// When the invoice's revenue is next recognized: the start of the month after the one it is
/// recognized through, or a line's period end if that comes first; `None` once all of it is
/// (or it is void, or a draft).
pub fn next_recognition(invoice: &Invoice) -> Option<i64> {
    if matches!(invoice.status, InvoiceStatus::Draft | InvoiceStatus::Void) {
        return None;
    }
    let through = through(invoice);
    invoice
        .lines
        .iter()
        .filter(|line| is_deferred(invoice, line.period_start, line.period_end))
        .filter(|line| line.period_end > through)
        .map(|line| line.period_end.min(next_month_start(through)))
        .min()
}

/// The posting that takes `invoice`'s accruals from `posted` (what its postings hold) to what
/// its state accrues, if they differ.
pub fn posting(
    account: &AccountId,
    invoice: &Invoice,
    posted: Accrued,
    at: i64,
) -> Option<Posting> {
    let legs = moves(posted, Accrued::of(invoice))?;
    let (source, currency) = (invoice.id.as_str(), invoice.currency);
    let posting = Posting::new(account, PostingKind::Invoice, source, currency, legs, at);
    Some(Posting { customer: Some(invoice.customer.clone()), ..posting })
}

/// The legs that take accruals from `from` to `to`; `None` if they are the same.
pub(super) fn moves(from: Accrued, to: Accrued) -> Option<Vec<Leg>> {
    let legs = legs(from.debits_to(to));
    (!legs.is_empty()).then_some(legs)
}

/// Balanced moves (debits positive, credits negative, summing to zero) as legs, each debit
/// paired with credits in turn.
fn legs(moves: Vec<(LedgerAccount, i64)>) -> Vec<Leg> {
    let (mut debits, mut credits): (Vec<_>, Vec<_>) =
        moves.into_iter().partition(|(_, debited)| *debited > 0);
    let mut legs = Vec::new();
    let (mut debit, mut credit) = (debits.pop(), credits.pop());
    while let (Some((debited, left_debit)), Some((credited, left_credit))) =
        (&mut debit, &mut credit)
    {
        let amount_minor = (*left_debit).min(-*left_credit);
        legs.push(Leg { debit: debited.clone(), credit: credited.clone(), amount_minor });
        *left_debit -= amount_minor;
        *left_credit += amount_minor;
        if *left_debit == 0 {
            debit = debits.pop();
        }
        if *left_credit == 0 {
            credit = credits.pop();
        }
    }
    legs
}

#[cfg(test)]
mod tests;
