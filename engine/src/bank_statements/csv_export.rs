//! Statements as CSV exports: the columns named by `billing.bank_transfer.csv` or the request's
//! `?columns=` (`date`, `amount` or `credit`/`debit`, one or more `reference`, `balance`, `skip`),
//! UTF-8 or Windows-1252, with lines above the header, the header itself and totals below
//! skipped because their date or amount does not parse.

use super::amounts::{Decimal, parse_amount, parse_date};
use super::{ParsedLine, StatementError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Date,
    /// One signed amount.
    Amount,
    /// Money in, and money out, in separate columns.
    Credit,
    Debit,
    /// Joined with a space when there are several.
    Reference,
    /// The running balance after the line.
    Balance,
    Skip,
}

/// Which column holds what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns(Vec<Column>);

impl Columns {
    pub fn parse(spec: &str) -> Result<Columns, String> {
        let columns: Vec<Column> = spec
            .split(',')
            .map(|name| match name.trim() {
                "date" => Ok(Column::Date),
                "amount" => Ok(Column::Amount),
                "credit" => Ok(Column::Credit),
                "debit" => Ok(Column::Debit),
                "reference" => Ok(Column::Reference),
                "balance" => Ok(Column::Balance),
                "skip" => Ok(Column::Skip),
                other => Err(format!(
                    "unknown column `{other}`: columns are date, amount, credit, debit, \
                     reference, balance, skip"
                )),
            })
            .collect::<Result<_, _>>()?;
        let count = |wanted: Column| columns.iter().filter(|column| **column == wanted).count();
        if count(Column::Date) != 1 {
            return Err("name exactly one `date` column".into());
        }
        let split = count(Column::Credit) + count(Column::Debit);
        match (count(Column::Amount), split) {
            (1, 0) => {}
            (0, 1..) if count(Column::Credit) <= 1 && count(Column::Debit) <= 1 => {}
            _ => return Err("name one `amount` column, or `credit` and/or `debit` instead".into()),
        }
        if count(Column::Reference) == 0 {
            return Err("name at least one `reference` column".into());
        }
        if count(Column::Balance) > 1 {
            return Err("name at most one `balance` column".into());
        }
        Ok(Columns(columns))
    }

    fn cell<'a>(&self, record: &'a csv::StringRecord, wanted: Column) -> Option<&'a str> {
        let index = self.0.iter().position(|column| *column == wanted)?;
        record.get(index).map(str::trim).filter(|cell| !cell.is_empty())
    }

    fn amount(&self, record: &csv::StringRecord) -> Option<Decimal> {
        if let Some(cell) = self.cell(record, Column::Amount) {
            return parse_amount(cell);
        }
        let unsigned = |column| {
            self.cell(record, column)
                .and_then(parse_amount)
                .map(|amount| Decimal { units: amount.units.abs(), ..amount })
                .filter(|amount| amount.units != 0)
        };
        match (unsigned(Column::Credit), unsigned(Column::Debit)) {
            (Some(credit), None) => Some(credit),
            (None, Some(debit)) => Some(debit.negated()),
            _ => None,
        }
    }
}

/// The text of a statement file: UTF-8 (a byte-order mark dropped), else Windows-1252.
pub fn decode(body: &[u8]) -> String {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    match std::str::from_utf8(body) {
        Ok(text) => text.to_owned(),
        Err(_) => encoding_rs::WINDOWS_1252.decode_without_bom_handling(body).0.into_owned(),
    }
}

/// The lines of an export, and how many were skipped.
pub fn parse(body: &[u8], columns: &Columns) -> Result<(Vec<ParsedLine>, usize), StatementError> {
    let text = decode(body);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let (mut lines, mut skipped) = (Vec::new(), 0);
    for record in reader.records() {
        let record = record.map_err(|error| StatementError::Malformed(error.to_string()))?;
        let date = columns.cell(&record, Column::Date).and_then(parse_date);
        let amount = columns.amount(&record);
        let (Some(booked_at), Some(amount)) = (date, amount) else {
            skipped += 1;
            continue;
        };
        let reference_text = columns
            .0
            .iter()
            .enumerate()
            .filter(|(_, column)| **column == Column::Reference)
            .filter_map(|(index, _)| record.get(index).map(str::trim))
            .filter(|cell| !cell.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let balance = columns.cell(&record, Column::Balance).and_then(parse_amount);
        lines.push(ParsedLine {
            booked_at,
            amount,
            currency: None,
            reference_text,
            entry_reference: None,
            balance,
        });
    }
    // Nothing read is a file of other columns (or not a statement): refused, not reconciled as
    // a statement of no lines.
    if lines.is_empty() {
        return Err(StatementError::Malformed(format!(
            "no line has a date and an amount in the columns given ({skipped} lines skipped)"
        )));
    }
    Ok((lines, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amounts(body: &[u8], spec: &str) -> (Vec<(i64, i64, String)>, usize) {
        let (lines, skipped) = parse(body, &Columns::parse(spec).unwrap()).unwrap();
        let lines = lines
            .into_iter()
            .map(|line| (line.booked_at, line.amount.to_minor(2).unwrap(), line.reference_text))
            .collect();
        (lines, skipped)
    }

    #[test]
    fn a_signed_amount_with_a_preamble_a_header_and_a_total() {
        let body = b"Account,62000000001\nFrom,2025-12-01\nDate,Amount,Description\n\
                     2025-12-02,50.00,KSA1B2C3D4\n2025/12/03,-438.00,BANK FEES\n,\"-388,00\",Total\n";
        let (lines, skipped) = amounts(body, "date,amount,reference");
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0], (1_764_633_600, 5_000, "KSA1B2C3D4".into()));
        assert_eq!(lines[1].1, -43_800);
        assert_eq!(skipped, 4, "two preamble lines, the header and the total");
    }

    #[test]
    fn split_columns_cr_suffixes_space_thousands_and_windows_1252() {
        let body = b"Datum;Beskrywing\n05/12/2025,\"1 250,00 Cr\",,Sk\xeai fees,REF9\n\
                     05/12/2025,,\"12,50\",Diens,\n";
        let (lines, skipped) = amounts(body, "date,credit,debit,reference,reference");
        assert_eq!(skipped, 1);
        assert_eq!(lines[0].1, 125_000);
        assert_eq!(lines[0].2, "Sk\u{ea}i fees REF9", "Windows-1252 decoded, references joined");
        assert_eq!(lines[1].1, -1_250);
    }

    #[test]
    fn a_file_with_no_line_of_those_columns_is_refused() {
        let columns = Columns::parse("date,amount,reference").unwrap();
        assert!(parse(b"Date,Amount\nTotal,12.00\n{}", &columns).is_err());
        assert!(parse(b"", &columns).is_err());
    }

    #[test]
    fn column_specs_must_name_a_date_an_amount_and_a_reference() {
        assert!(Columns::parse("date,amount,reference").is_ok());
        assert!(Columns::parse("skip,date,credit,debit,reference,reference,balance").is_ok());
        for spec in [
            "amount,reference",
            "date,reference",
            "date,amount",
            "date,amount,credit,reference",
            "date,amount,memo",
        ] {
            assert!(Columns::parse(spec).is_err(), "{spec}");
        }
    }
}
