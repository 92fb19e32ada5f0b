//! ISO 20022 camt.053 (bank-to-customer statement) entries, read with quick-xml. A document
//! type declaration is refused outright: it is where external entities and entity expansion
//! ("billion laughs") live, and a bank's statement never needs one.

use quick_xml::Reader;
use quick_xml::events::Event;

use super::amounts::{parse_amount, parse_date};
use super::{ParsedLine, StatementError};
use crate::domain::money::parse_currency;

/// One `Ntry` as it is read.
#[derive(Default)]
struct Entry {
    amount: Option<String>,
    currency: Option<String>,
    debit: bool,
    booked: Option<String>,
    entry_reference: Option<String>,
    servicer_reference: Option<String>,
    texts: Vec<String>,
}

/// The entries of a camt.053 document, and how many were skipped (no amount or booking date).
pub fn parse(body: &[u8]) -> Result<(Vec<ParsedLine>, usize), StatementError> {
    let mut reader = Reader::from_reader(body);
    let mut path: Vec<String> = Vec::new();
    // An element's text, which entity references split into several events.
    let mut text = String::new();
    let mut entry: Option<Entry> = None;
    let mut lines = Vec::new();
    let mut skipped = 0;
    let mut saw_statement = false;
    let mut buffer = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buffer)
            .map_err(|error| StatementError::Malformed(format!("camt.053: {error}")))?;
        match event {
            Event::DocType(_) => {
                return Err(StatementError::Malformed(
                    "camt.053: a document type declaration is refused (entities are never \
                     expanded)"
                        .into(),
                ));
            }
            Event::Start(start) => {
                text.clear();
                let name = start.local_name().as_ref().to_owned();
                if name == "Stmt" {
                    saw_statement = true;
                }
                if name == "Ntry" && path.last().is_some_and(|parent| parent == "Stmt") {
                    entry = Some(Entry::default());
                }
                if name == "Amt"
                    && path.last().is_some_and(|parent| parent == "Ntry")
                    && let Some(entry) = entry.as_mut()
                {
                    for attribute in start.attributes().flatten() {
                        if attribute.key.local_name().as_ref() == "Ccy" {
                            entry.currency = Some(attribute.value.to_string());
                        }
                    }
                }
                path.push(name);
            }
            Event::End(_) => {
                if let Some(entry) = entry.as_mut() {
                    note(entry, &path, text.trim().to_owned());
                }
                text.clear();
                let closed = path.pop();
                if closed.as_deref() == Some("Ntry")
                    && path.last().is_some_and(|parent| parent == "Stmt")
                    && let Some(done) = entry.take()
                {
                    match line_of(done)? {
                        Some(line) => lines.push(line),
                        None => skipped += 1,
                    }
                }
            }
            Event::Text(content) => text.push_str(&content.xml10_content()),
            Event::CData(content) => text.push_str(&content.xml10_content()),
            Event::GeneralRef(reference) => text.push(resolve(&reference)?),
            Event::Eof if !path.is_empty() => {
                return Err(StatementError::Malformed(format!(
                    "camt.053: the document ends inside `{}`",
                    path.join("/")
                )));
            }
            Event::Eof => break,
            _ => {}
        }
        buffer.clear();
    }
    if !saw_statement {
        return Err(StatementError::Malformed("camt.053: no `Stmt` element".into()));
    }
    Ok((lines, skipped))
}

/// The character an entity reference stands for: XML's own five, or a character reference.
/// No other entity exists without a document type declaration.
fn resolve(reference: &quick_xml::events::BytesRef<'_>) -> Result<char, StatementError> {
    let malformed = || {
        StatementError::Malformed(format!("camt.053: unknown entity `&{};`", reference.as_ref()))
    };
    if reference.is_char_ref() {
        return reference.resolve_char_ref().ok().flatten().ok_or_else(malformed);
    }
    match reference.as_ref() {
        "amp" => Ok('&'),
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "quot" => Ok('"'),
        "apos" => Ok('\''),
        _ => Err(malformed()),
    }
}

/// Keeps what the entry's element at `path` says.
fn note(entry: &mut Entry, path: &[String], value: String) {
    let Some(position) = path.iter().rposition(|name| name == "Ntry") else { return };
    let inner: Vec<&str> = path[position + 1..].iter().map(String::as_str).collect();
    match inner[..] {
        ["Amt"] => entry.amount = Some(value),
        ["CdtDbtInd"] => entry.debit = value == "DBIT",
        ["BookgDt", "Dt" | "DtTm"] => entry.booked = Some(value),
        ["NtryRef"] => entry.entry_reference = Some(value),
        ["AcctSvcrRef"] => entry.servicer_reference = Some(value),
        ["AddtlNtryInf"] => entry.texts.push(value),
        [.., "RmtInf", "Ustrd"] | [.., "CdtrRefInf", "Ref"] | [.., "AddtlTxInf"] => {
            entry.texts.push(value)
        }
        _ => {}
    }
}

fn line_of(entry: Entry) -> Result<Option<ParsedLine>, StatementError> {
    let amount = entry.amount.as_deref().and_then(parse_amount);
    let booked_at = entry.booked.as_deref().and_then(parse_date);
    let (Some(amount), Some(booked_at)) = (amount, booked_at) else { return Ok(None) };
    let currency = match entry.currency {
        Some(code) => Some(parse_currency(&code.to_ascii_lowercase()).map_err(|error| {
            StatementError::Malformed(format!("camt.053: currency `{code}`: {error}"))
        })?),
        None => None,
    };
    let amount = if entry.debit { amount.negated() } else { amount };
    Ok(Some(ParsedLine {
        booked_at,
        amount,
        currency,
        reference_text: entry.texts.join(" "),
        entry_reference: entry.servicer_reference.or(entry.entry_reference),
        balance: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATEMENT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
  <BkToCstmrStmt><Stmt><Id>S1</Id>
    <Ntry><Amt Ccy="ZAR">1250.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
      <BookgDt><Dt>2025-12-05</Dt></BookgDt><AcctSvcrRef>FNB-778</AcctSvcrRef>
      <NtryDtls><TxDtls><RmtInf><Ustrd>Fees KSA1 B2C3</Ustrd></RmtInf></TxDtls></NtryDtls>
    </Ntry>
    <Ntry><Amt Ccy="ZAR">12.50</Amt><CdtDbtInd>DBIT</CdtDbtInd>
      <BookgDt><DtTm>2025-12-05T10:00:00</DtTm></BookgDt><AddtlNtryInf>Service fee &amp; VAT</AddtlNtryInf>
    </Ntry>
  </Stmt></BkToCstmrStmt>
</Document>"#;

    #[test]
    fn entries_with_amount_sign_date_reference_and_narrative() {
        let (lines, skipped) = parse(STATEMENT.as_bytes()).unwrap();
        assert_eq!(skipped, 0);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].amount.to_minor(2), Some(125_000));
        assert_eq!(lines[0].booked_at, 1_764_892_800);
        assert_eq!(lines[0].entry_reference.as_deref(), Some("FNB-778"));
        assert_eq!(lines[0].reference_text, "Fees KSA1 B2C3");
        assert_eq!(lines[1].amount.to_minor(2), Some(-1_250));
        assert_eq!(lines[1].reference_text, "Service fee & VAT");
    }

    #[test]
    fn a_doctype_malformed_xml_and_a_document_of_no_statement_are_refused() {
        let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>
<Document><BkToCstmrStmt><Stmt><Ntry><Amt>&lol2;</Amt></Ntry></Stmt></BkToCstmrStmt></Document>"#;
        let external = r#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Document>&x;</Document>"#;
        for body in [laughs, external, "<Document><Stmt>", "<Document></Document>", "not xml"] {
            assert!(parse(body.as_bytes()).is_err(), "{body}");
        }
    }
}
