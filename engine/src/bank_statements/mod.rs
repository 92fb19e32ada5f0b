//! Bank statements, read: camt.053 ([`camt`]) or a CSV export ([`csv_export`]) into lines with
//! a booking date, an exact signed amount and the narrative the payer's reference is found in,
//! each with its identity (see [`LineIdentity`]), so the same money is never counted twice.

pub mod amounts;
pub mod camt;
pub mod csv_export;

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::domain::Currency;
use amounts::Decimal;
pub use csv_export::Columns;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StatementError {
    #[error("{0}")]
    Malformed(String),
}

/// One line as the file says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedLine {
    /// Midnight UTC of the booking date.
    pub booked_at: i64,
    /// Positive: money in.
    pub amount: Decimal,
    /// camt.053 names it; a CSV export does not.
    pub currency: Option<Currency>,
    pub reference_text: String,
    /// The bank's own reference of the entry (camt `AcctSvcrRef`, else `NtryRef`).
    pub entry_reference: Option<String>,
    /// The running balance after the line, when the export has one.
    pub balance: Option<Decimal>,
}

/// What a statement file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    Camt053,
    Csv(Columns),
}

/// The lines of `body`, in file order, and how many lines were skipped.
pub fn parse(format: &Format, body: &[u8]) -> Result<(Vec<ParsedLine>, usize), StatementError> {
    match format {
        Format::Camt053 => camt::parse(body),
        Format::Csv(columns) => csv_export::parse(body, columns),
    }
}

/// A line's identity, the same in every export that holds the line: the bank's entry
/// reference; else its booking date, amount, normalized narrative, running balance (if given)
/// and its position among identical lines in the file, so two siblings' identical fees on one
/// day are two payments, while an overlapping export (the same days again) repeats the same
/// identities. Hex of a SHA-256, so it keys the store whatever the bank wrote.
pub fn identities(lines: &[ParsedLine]) -> Vec<String> {
    let mut seen: HashMap<Vec<u8>, u32> = HashMap::with_capacity(lines.len());
    lines
        .iter()
        .map(|line| {
            if let Some(reference) = &line.entry_reference {
                return digest(&[b"ref", reference.as_bytes()]);
            }
            let narrative = crate::domain::bank_reference::normalize(&line.reference_text);
            let balance =
                line.balance.map(|balance| format!("{}e-{}", balance.units, balance.scale));
            let content = [
                line.booked_at.to_string(),
                format!("{}e-{}", line.amount.units, line.amount.scale),
                narrative,
                balance.unwrap_or_default(),
            ]
            .join("\u{1f}")
            .into_bytes();
            let position =
                *seen.entry(content.clone()).and_modify(|count| *count += 1).or_insert(0);
            digest(&[b"line", &content, position.to_string().as_bytes()])
        })
        .collect()
}

fn digest(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(day: i64, cents: i64, narrative: &str) -> ParsedLine {
        ParsedLine {
            booked_at: day * 86_400,
            amount: Decimal { units: cents, scale: 2 },
            currency: None,
            reference_text: narrative.into(),
            entry_reference: None,
            balance: None,
        }
    }

    #[test]
    fn identical_lines_in_one_file_are_two_and_an_overlapping_export_repeats_them() {
        let first = [line(1, 5_000, "fees"), line(2, 5_000, "fee s"), line(2, 5_000, "FEES")];
        let ids = identities(&first);
        assert_ne!(ids[1], ids[2], "two identical fees on one day are two payments");
        assert_ne!(ids[0], ids[1], "another day");
        let overlapping = [line(2, 5_000, "fees"), line(2, 5_000, "fees"), line(3, 1, "x")];
        let again = identities(&overlapping);
        assert_eq!(again[..2], ids[1..], "the same days again are the same lines");
    }

    #[test]
    fn the_banks_entry_reference_is_the_identity_when_there_is_one() {
        let mut a = line(1, 5_000, "fees");
        a.entry_reference = Some("FNB-1".into());
        let mut b = line(9, 7_000, "other");
        b.entry_reference = Some("FNB-1".into());
        assert_eq!(identities(&[a.clone()]), identities(&[b]));
        assert_ne!(identities(&[a]), identities(&[line(1, 5_000, "fees")]));
    }
}
