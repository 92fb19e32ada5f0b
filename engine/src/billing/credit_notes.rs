//! What a credit note gives back, line by line: the amounts asked for, and each line's tax
//! reversed at the rate the invoice charged it.
//!
//! Every line keeps what is left of it after earlier credit notes, its tax included; a note
//! that takes the rest of a line takes exactly the rest of its tax, so crediting an invoice in
//! any number of parts gives back exactly what it charged, to the cent, and never more.

use crate::billing::invoicing::divide_half_up;
use crate::domain::{
    CreditNote, CreditNoteLine, Invoice, InvoiceLine, InvoiceLineId, TaxBehavior, TaxLine,
};

/// What the caller asked to credit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreditAsk {
    /// Amounts per invoice line, in each line's own terms (before tax when the invoice's tax is
    /// exclusive, tax included when inclusive).
    Lines(Vec<(InvoiceLineId, i64)>),
    /// A total, tax included, spread over the lines in proportion to what is left of them.
    Total(i64),
    /// Everything left of the invoice.
    Rest,
}

/// A credit note's lines and amounts, before it is given an id and a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    pub lines: Vec<CreditNoteLine>,
    pub subtotal_minor: i64,
    pub tax: Vec<TaxLine>,
    pub total_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditError {
    #[error("invoice line {0} is not on the invoice")]
    UnknownLine(String),
    #[error("invoice line {0} is named twice")]
    LineTwice(String),
    #[error("an amount to credit must be positive")]
    NotPositive,
    #[error("invoice line {line} has {left} left to credit")]
    LineExceeded { line: String, left: i64 },
    #[error("the invoice has {left} left to credit, tax included")]
    TotalExceeded { left: i64 },
    #[error("nothing is left of the invoice to credit")]
    NothingLeft,
}

/// What is left of one invoice line after earlier credit notes.
struct Left<'a> {
    line: &'a InvoiceLine,
    /// After the line's discounts: what the line's tax was computed on.
    base: i64,
    amount: i64,
    tax: Vec<i64>,
}

impl Left<'_> {
    /// What the line is still worth, tax included.
    fn gross(&self, behavior: TaxBehavior) -> i64 {
        match behavior {
            TaxBehavior::Exclusive => self.amount + self.tax.iter().sum::<i64>(),
            TaxBehavior::Inclusive => self.amount,
        }
    }

    /// `amount` of the line (in its own terms) with its tax at the line's rate; the rest of
    /// the line takes the rest of its tax.
    fn credit(&self, amount: i64) -> CreditNoteLine {
        let tax = self
            .line
            .tax
            .iter()
            .zip(&self.tax)
            .map(|(charged, &left)| {
                let amount_minor = match amount == self.amount {
                    true => left,
                    false => scale(charged.amount_minor, amount, self.base).min(left),
                };
                TaxLine { amount_minor, ..charged.clone() }
            })
            .collect();
        CreditNoteLine { invoice_line: self.line.id.clone(), amount_minor: amount, tax }
    }

    /// A share of the line's gross worth (`share` ≤ [`Left::gross`]), split into the line's
    /// amount and its tax so that the two add up to `share` exactly.
    fn credit_gross(&self, share: i64, behavior: TaxBehavior) -> CreditNoteLine {
        let gross = self.gross(behavior);
        if share == gross {
            return self.credit(self.amount);
        }
        match behavior {
            TaxBehavior::Inclusive => self.credit(share),
            TaxBehavior::Exclusive => {
                let amount = scale(share, self.amount, gross).min(self.amount);
                let tax_total = share - amount;
                let shares = largest_remainder(tax_total, &self.tax);
                let tax = self
                    .line
                    .tax
                    .iter()
                    .zip(shares)
                    .map(|(charged, amount_minor)| TaxLine { amount_minor, ..charged.clone() })
                    .collect();
                CreditNoteLine { invoice_line: self.line.id.clone(), amount_minor: amount, tax }
            }
        }
    }
}

/// `amount × to / from`, rounded half up; 0 when `from` is not positive.
fn scale(amount: i64, to: i64, from: i64) -> i64 {
    if from <= 0 || amount <= 0 || to <= 0 {
        return 0;
    }
    divide_half_up(i128::from(amount) * i128::from(to), i128::from(from))
}

/// `total` split over `weights` in proportion, each part whole and the parts adding up to
/// `total` exactly (the largest fractions get the leftover units, the first on a tie).
fn largest_remainder(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|&weight| i128::from(weight.max(0))).sum();
    if sum == 0 {
        let mut parts = vec![0; weights.len()];
        if let Some(first) = parts.first_mut() {
            *first = total;
        }
        return parts;
    }
    let exact: Vec<(i64, i128)> = weights
        .iter()
        .map(|&weight| {
            let product = i128::from(total) * i128::from(weight.max(0));
            ((product / sum) as i64, product % sum)
        })
        .collect();
    let mut parts: Vec<i64> = exact.iter().map(|(part, _)| *part).collect();
    let mut leftover = total - parts.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| exact[b].1.cmp(&exact[a].1).then(a.cmp(&b)));
    for index in order {
        if leftover == 0 {
            break;
        }
        parts[index] += 1;
        leftover -= 1;
    }
    parts
}

fn what_is_left<'a>(invoice: &'a Invoice, earlier: &[CreditNote]) -> Vec<Left<'a>> {
    // A sponsor's share is not the customer's to be given back: the customer's lines are
    // what is left of them after the part sponsors paid (`sponsored_minor`).
    invoice
        .lines
        .iter()
        .filter(|line| line.sponsored_by.is_none())
        .map(|line| {
            let base = line.amount_minor - line.discount_minor - line.sponsored_minor;
            let mut amount = base;
            let mut tax: Vec<i64> = line.tax.iter().map(|tax| tax.amount_minor).collect();
            let credited = earlier
                .iter()
                .flat_map(|note| &note.lines)
                .filter(|credited| credited.invoice_line == line.id);
            for credited in credited {
                amount -= credited.amount_minor;
                for (left, given) in tax.iter_mut().zip(&credited.tax) {
                    *left -= given.amount_minor;
                }
            }
            Left { line, base, amount, tax }
        })
        .collect()
}

/// What a new credit note on `invoice` gives back, after the `earlier` ones on it.
///
/// Never more than the invoice is still worth: its lines' remainders, a credit line (a
/// proration) counting against them, less what was taken off it while open without a note.
pub fn credit(
    invoice: &Invoice,
    earlier: &[CreditNote],
    ask: CreditAsk,
) -> Result<Credit, CreditError> {
    let behavior = invoice.tax_behavior;
    let left = what_is_left(invoice, earlier);
    let lines_worth: i64 = left.iter().map(|line| line.gross(behavior)).sum();
    let noted_pre_payment: i64 = earlier.iter().map(|note| note.pre_payment_minor).sum();
    let taken_without_note = (invoice.credited_minor - noted_pre_payment).max(0);
    let worth = (lines_worth - taken_without_note).max(0);
    // The rest, line by line, only when the lines' remainders are what is left.
    let ask = match ask {
        CreditAsk::Rest if taken_without_note > 0 => CreditAsk::Total(worth),
        CreditAsk::Total(total) if taken_without_note == 0 && total == lines_worth => {
            CreditAsk::Rest
        }
        ask => ask,
    };
    let lines = match ask {
        CreditAsk::Rest if worth == 0 => return Err(CreditError::NothingLeft),
        CreditAsk::Rest => left
            .iter()
            .filter(|line| line.amount != 0)
            .map(|line| line.credit(line.amount))
            .collect(),
        CreditAsk::Lines(asked) => {
            let mut lines = Vec::with_capacity(asked.len());
            for (id, amount) in asked {
                let line = left
                    .iter()
                    .find(|line| line.line.id == id)
                    .ok_or_else(|| CreditError::UnknownLine(id.to_string()))?;
                if lines.iter().any(|done: &CreditNoteLine| done.invoice_line == id) {
                    return Err(CreditError::LineTwice(id.to_string()));
                }
                if amount <= 0 {
                    return Err(CreditError::NotPositive);
                }
                if amount > line.amount {
                    return Err(CreditError::LineExceeded {
                        line: id.to_string(),
                        left: line.amount.max(0),
                    });
                }
                lines.push(line.credit(amount));
            }
            lines
        }
        CreditAsk::Total(total) => {
            if total <= 0 {
                return Err(CreditError::NotPositive);
            }
            if total > worth {
                return Err(CreditError::TotalExceeded { left: worth });
            }
            let creditable: Vec<&Left> = left.iter().filter(|line| line.amount > 0).collect();
            let grosses: Vec<i64> = creditable.iter().map(|line| line.gross(behavior)).collect();
            creditable
                .iter()
                .zip(largest_remainder(total, &grosses))
                .filter(|(_, share)| *share > 0)
                .map(|(line, share)| line.credit_gross(share, behavior))
                .collect()
        }
    };
    let subtotal_minor: i64 = lines.iter().map(|line: &CreditNoteLine| line.amount_minor).sum();
    let tax = sum_by_rate(&lines);
    let tax_minor: i64 = tax.iter().map(|tax| tax.amount_minor).sum();
    let total_minor = match behavior {
        TaxBehavior::Exclusive => subtotal_minor + tax_minor,
        TaxBehavior::Inclusive => subtotal_minor,
    };
    if lines.is_empty() || total_minor <= 0 {
        return Err(CreditError::NothingLeft);
    }
    if total_minor > worth {
        return Err(CreditError::TotalExceeded { left: worth });
    }
    Ok(Credit { lines, subtotal_minor, tax, total_minor })
}

/// The lines' tax, one entry per (name, jurisdiction, rate), in the order first met.
fn sum_by_rate(lines: &[CreditNoteLine]) -> Vec<TaxLine> {
    let mut sums: Vec<TaxLine> = Vec::new();
    for tax in lines.iter().flat_map(|line| &line.tax) {
        let same = |sum: &&mut TaxLine| {
            sum.name == tax.name
                && sum.jurisdiction == tax.jurisdiction
                && sum.rate_bps == tax.rate_bps
        };
        match sums.iter_mut().find(same) {
            Some(sum) => sum.amount_minor += tax.amount_minor,
            None => sums.push(tax.clone()),
        }
    }
    sums
}

#[cfg(test)]
mod tests;
