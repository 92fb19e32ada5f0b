//! A credit note: a finalized invoice reversed in whole or in part, with its tax reversed per
//! line at the rate the invoice charged. South African and Kenyan VAT law asks for one whenever
//! an invoiced amount is given back; an invoice is never edited after it is finalized.
//!
//! Numbered per customer (`{invoice_prefix}-CN-0001`), given at creation, so numbers have no
//! gaps. What it is worth goes back one of four ways: off an open invoice's amount due
//! (`pre_payment`), or, for a paid one, as a refund of the charge that paid it, as credit on the
//! customer's balance, or settled outside Kassa.

use serde::{Deserialize, Serialize};

use super::{CreditNoteId, Currency, CustomerId, InvoiceId, InvoiceLineId, RefundId, TaxLine};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditNoteLine {
    pub invoice_line: InvoiceLineId,
    /// In the invoice line's own terms: before tax when the invoice's tax is exclusive,
    /// tax included when inclusive; after the line's discounts.
    pub amount_minor: i64,
    /// The line's tax given back, one entry per tax line of the invoice line.
    pub tax: Vec<TaxLine>,
}

impl CreditNoteLine {
    pub fn tax_minor(&self) -> i64 {
        self.tax.iter().map(|tax| tax.amount_minor).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditNote {
    pub id: CreditNoteId,
    pub number: String,
    pub customer: CustomerId,
    pub invoice: InvoiceId,
    pub currency: Currency,
    pub lines: Vec<CreditNoteLine>,
    /// The sum of the lines' amounts.
    pub subtotal_minor: i64,
    /// The tax given back, per tax (name, jurisdiction, rate).
    pub tax: Vec<TaxLine>,
    /// What the note is worth to the customer, tax included.
    pub total_minor: i64,
    /// Taken off the open invoice's amount due.
    pub pre_payment_minor: i64,
    pub refund_minor: i64,
    pub credit_minor: i64,
    pub out_of_band_minor: i64,
    /// The refund that pays `refund_minor` back.
    pub refund: Option<RefundId>,
    pub reason: Option<String>,
    pub created: i64,
}
