//! Bank transfers (EFT): a charge paid by one waits, `processing`, for the money to show on the
//! account's statement under its reference; a customer's permanent reference pays its open
//! invoices. Statements are uploaded and each line's outcome kept, so no line pays twice.

use serde::{Deserialize, Serialize};

use super::{BankDetails, ChargeId, Currency, CustomerId, InvoiceId, StatementId};

/// What a charge paid by bank transfer shows the payer, and what has arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankTransfer {
    pub reference: String,
    /// The account's bank details when the charge was made: what the payer was told.
    pub bank: BankDetails,
    pub amount_received_minor: i64,
    /// An unpaid transfer fails the charge then (`billing.bank_transfer.expiry_days`).
    pub expires_at: i64,
}

/// What a reference pays: one charge, or (a customer's permanent reference) the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceTarget {
    pub customer: CustomerId,
    pub charge: Option<ChargeId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LineOutcome {
    /// The exact amount: the charge succeeded (or, by a customer's reference, paid what it could).
    Settled,
    /// Less than the charge: it stays `processing`, with `amount_received`.
    Partial,
    /// More than the charge: it succeeded, and the rest went to the customer's balance.
    Overpaid,
    /// No reference found: waiting for an allocation by hand.
    Unmatched,
    /// Seen before (in this file or an earlier one): nothing done.
    Duplicate,
    /// After the charge expired: credited to the customer's balance.
    Late,
    /// A debit that returned a settled credit: what it paid is open again.
    Reversed,
    /// Money out that returns nothing of ours (fees, transfers): nothing done.
    Debit,
}

impl LineOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            LineOutcome::Settled => "settled",
            LineOutcome::Partial => "partial",
            LineOutcome::Overpaid => "overpaid",
            LineOutcome::Unmatched => "unmatched",
            LineOutcome::Duplicate => "duplicate",
            LineOutcome::Late => "late",
            LineOutcome::Reversed => "reversed",
            LineOutcome::Debit => "debit",
        }
    }

    /// Money of it was applied to a charge or a customer, so a recall can reverse it.
    pub fn applied(self) -> bool {
        matches!(
            self,
            LineOutcome::Settled | LineOutcome::Partial | LineOutcome::Overpaid | LineOutcome::Late
        )
    }
}

/// What one statement line did, kept under its identity so that it is never done again, and
/// so that a recall finds what to reverse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankLineRecord {
    pub outcome: LineOutcome,
    pub amount_minor: i64,
    pub currency: Currency,
    pub booked_at: i64,
    pub customer: Option<CustomerId>,
    pub charge: Option<ChargeId>,
    /// The invoices it paid (a customer's reference), with how much of each.
    pub invoices_paid: Vec<(InvoiceId, i64)>,
    /// What went to the customer's balance (as credit).
    pub credited_minor: i64,
    /// Set once a debit returned it.
    pub reversed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementLine {
    pub index: u32,
    pub booked_at: i64,
    /// Signed: positive is money in.
    pub amount_minor: i64,
    pub currency: Currency,
    pub reference_text: String,
    pub outcome: LineOutcome,
    pub charge: Option<ChargeId>,
    pub customer: Option<CustomerId>,
    pub identity: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankStatement {
    pub id: StatementId,
    pub lines: Vec<StatementLine>,
    pub skipped_lines: u32,
    pub created: i64,
}
