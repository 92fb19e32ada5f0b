//! `kassa export`: an account's books as files an accountant or a warehouse loads — its
//! balance transactions (every movement of money, with what it moved into the platform's
//! balance and the payee's), the journal (every leg of every posting, invoices' accruals
//! included), charges, refunds, invoices and payouts (archived ones included), one file each,
//! created in `[from, to)`, as CSV or Parquet ([`files`]). Only ids, amounts, currencies,
//! statuses and times: no personal data leaves in them.

mod files;

use std::collections::HashSet;
use std::path::Path;

use crate::domain::money::currency_code;
use crate::domain::{
    AccountId, Charge, CustomerId, Invoice, LedgerAccount, Leg, Payout, PayoutId, Posting, Refund,
};
use crate::store::{Store, StoreError, each_charge, each_in_pages, each_invoice};
pub use files::Format;
use files::{Cell, Column, Kind, TableFile};

/// Records read at a time.
const PAGE: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("writing {file}: {error}")]
    Write { file: String, error: std::io::Error },
    #[error("writing {file}: {error}")]
    Parquet { file: String, error: String },
}

/// What was written: each file and its rows.
pub type Written = Vec<(String, u64)>;

const fn text(name: &'static str) -> Column {
    Column { name, kind: Kind::Text }
}

const fn integer(name: &'static str) -> Column {
    Column { name, kind: Kind::Integer }
}

const BALANCE_TRANSACTIONS: [Column; 11] = [
    text("id"),
    text("type"),
    text("source"),
    text("customer"),
    text("payee"),
    text("currency"),
    integer("platform_amount"),
    integer("gateway_fee"),
    integer("payee_amount"),
    integer("available_on"),
    integer("created"),
];

/// The journal: one row per leg of every posting, money moved and invoices' accruals alike.
const LEDGER_ENTRIES: [Column; 9] = [
    text("posting"),
    text("type"),
    text("source"),
    text("customer"),
    text("currency"),
    text("debit"),
    text("credit"),
    integer("amount"),
    integer("created"),
];

const CHARGES: [Column; 17] = [
    text("id"),
    text("customer"),
    integer("amount"),
    text("currency"),
    text("status"),
    integer("amount_refunded"),
    text("gateway"),
    integer("gateway_fee"),
    text("invoice"),
    text("transfer"),
    text("payee"),
    integer("transfer_amount"),
    integer("application_fee"),
    integer("created"),
    // Where the gateway settled the charge into another currency: what reached the balance
    // there, and its fee there.
    text("settlement_currency"),
    integer("settlement_amount"),
    integer("settlement_fee"),
];

const REFUNDS: [Column; 7] = [
    text("id"),
    text("charge"),
    text("customer"),
    integer("amount"),
    text("currency"),
    text("status"),
    integer("created"),
];

const INVOICES: [Column; 15] = [
    text("id"),
    text("number"),
    text("customer"),
    text("subscription"),
    text("status"),
    text("currency"),
    integer("subtotal"),
    integer("tax"),
    integer("total"),
    integer("amount_paid"),
    integer("period_start"),
    integer("period_end"),
    integer("finalized_at"),
    integer("paid_at"),
    integer("created"),
];

const PAYOUTS: [Column; 10] = [
    text("id"),
    text("payee"),
    integer("amount"),
    text("currency"),
    text("status"),
    text("method"),
    integer("amount_returned"),
    text("failure_code"),
    integer("arrival_date"),
    integer("created"),
];

/// Writes the account's books into `out` (made if missing), one file per table.
pub fn export(
    store: &dyn Store,
    account: &AccountId,
    out: &Path,
    format: Format,
    (from, to): (i64, i64),
) -> Result<Written, ExportError> {
    std::fs::create_dir_all(out)
        .map_err(|error| ExportError::Write { file: out.display().to_string(), error })?;
    let within = |created: i64| created >= from && created < to;
    let mut written = Written::new();
    let create = |name, columns| TableFile::create(out, name, columns, format);

    let mut file = create("balance_transactions", &BALANCE_TRANSACTIONS)?;
    let mut journal = create("ledger_entries", &LEDGER_ENTRIES)?;
    let mut failed = None;
    // Customers whose balance moved may have refunds of their credit and no charge.
    let mut with_balance = HashSet::new();
    store.each_posting(account, &mut |posting| {
        if let Some(customer) = &posting.customer
            && posting.net_for(&LedgerAccount::CustomerBalances) != 0
        {
            with_balance.insert(customer.clone());
        }
        if !within(posting.created) || failed.is_some() {
            return Ok(());
        }
        if posting.kind.moves_money() {
            failed = file.row(posting_row(&posting)).err();
        }
        for leg in &posting.legs {
            failed = failed.take().or_else(|| journal.row(entry_row(&posting, leg)).err());
        }
        Ok(())
    })?;
    // A row that failed in either file fails the export here.
    written.push(finish(file, failed)?);
    written.push(journal.finish()?);

    let mut file = create("charges", &CHARGES)?;
    let (mut customers, mut failed) = (Vec::<CustomerId>::new(), None);
    each_charge(store, account, &mut |charge| {
        customers.push(charge.customer.clone());
        if within(charge.created) && failed.is_none() {
            failed = file.row(charge_row(&charge)).err();
        }
        Ok(())
    })?;
    written.push(finish(file, failed)?);

    let mut file = create("refunds", &REFUNDS)?;
    customers.extend(with_balance);
    customers.sort();
    customers.dedup();
    for customer in &customers {
        for refund in store.refunds(account, customer)? {
            if within(refund.created) {
                file.row(refund_row(&refund))?;
            }
        }
    }
    written.push(file.finish()?);

    let mut file = create("invoices", &INVOICES)?;
    let mut failed = None;
    each_invoice(store, account, &mut |invoice| {
        if within(invoice.created) && failed.is_none() {
            failed = file.row(invoice_row(&invoice)).err();
        }
        Ok(())
    })?;
    written.push(finish(file, failed)?);

    let mut file = create("payouts", &PAYOUTS)?;
    let read = |after: Option<&PayoutId>| store.account_payouts(account, PAGE, after);
    each_in_pages(
        read,
        |payout| payout.id.clone(),
        |payout| match within(payout.created) {
            true => file.row(payout_row(&payout)),
            false => Ok(()),
        },
    )?;
    written.push(file.finish()?);
    Ok(written)
}

/// The file, finished, unless writing one of its rows failed.
fn finish(file: TableFile, failed: Option<ExportError>) -> Result<(String, u64), ExportError> {
    match failed {
        Some(error) => Err(error),
        None => file.finish(),
    }
}

fn id(id: &str) -> Cell {
    Cell::Text(id.to_owned())
}

fn optional_id(id: Option<&str>) -> Cell {
    id.map_or(Cell::Empty, self::id)
}

fn optional_integer(value: Option<i64>) -> Cell {
    value.map_or(Cell::Empty, Cell::Integer)
}

fn posting_row(posting: &Posting) -> Vec<Cell> {
    let payee_amount = posting
        .payee
        .as_ref()
        .map(|payee| posting.net_for(&LedgerAccount::Payee { payee: payee.clone() }));
    vec![
        id(posting.id.as_str()),
        id(posting.kind.as_str()),
        Cell::Text(posting.source.clone()),
        optional_id(posting.customer.as_ref().map(|id| id.as_str())),
        optional_id(posting.payee.as_ref().map(|id| id.as_str())),
        Cell::Text(currency_code(posting.currency)),
        Cell::Integer(posting.net_for(&LedgerAccount::Platform)),
        Cell::Integer(posting.fee_minor),
        optional_integer(payee_amount),
        Cell::Integer(posting.available_on),
        Cell::Integer(posting.created),
    ]
}

fn entry_row(posting: &Posting, leg: &Leg) -> Vec<Cell> {
    vec![
        id(posting.id.as_str()),
        id(posting.kind.as_str()),
        Cell::Text(posting.source.clone()),
        optional_id(posting.customer.as_ref().map(|id| id.as_str())),
        Cell::Text(currency_code(posting.currency)),
        Cell::Text(leg.debit.name()),
        Cell::Text(leg.credit.name()),
        Cell::Integer(leg.amount_minor),
        Cell::Integer(posting.created),
    ]
}

fn charge_row(charge: &Charge) -> Vec<Cell> {
    let transfer = charge.transfer.as_deref();
    vec![
        id(charge.id.as_str()),
        id(charge.customer.as_str()),
        Cell::Integer(charge.amount.amount_minor),
        Cell::Text(currency_code(charge.amount.currency)),
        id(charge.status.as_str()),
        Cell::Integer(charge.amount_refunded_minor),
        Cell::Text(charge.gateway.clone()),
        Cell::Integer(charge.fee_minor),
        optional_id(charge.invoice.as_ref().map(|id| id.as_str())),
        optional_id(transfer.map(|transfer| transfer.id.as_str())),
        optional_id(transfer.map(|transfer| transfer.payee.as_str())),
        optional_integer(transfer.map(|transfer| transfer.amount_minor)),
        optional_integer(transfer.map(|transfer| transfer.application_fee_minor)),
        Cell::Integer(charge.created),
        charge
            .conversion
            .map_or(Cell::Empty, |conversion| Cell::Text(currency_code(conversion.currency))),
        optional_integer(charge.conversion.map(|conversion| conversion.amount_minor)),
        optional_integer(charge.conversion.map(|conversion| conversion.fee_minor)),
    ]
}

fn refund_row(refund: &Refund) -> Vec<Cell> {
    vec![
        id(refund.id.as_str()),
        optional_id(refund.charge.as_ref().map(|charge| charge.as_str())),
        id(refund.customer.as_str()),
        Cell::Integer(refund.amount.amount_minor),
        Cell::Text(currency_code(refund.amount.currency)),
        id(refund.status.as_str()),
        Cell::Integer(refund.created),
    ]
}

fn invoice_row(invoice: &Invoice) -> Vec<Cell> {
    let tax: i64 = invoice.tax.iter().map(|tax| tax.amount_minor).sum();
    vec![
        id(invoice.id.as_str()),
        optional_id(invoice.number.as_deref()),
        id(invoice.customer.as_str()),
        optional_id(invoice.subscription.as_ref().map(|id| id.as_str())),
        id(invoice.status.as_str()),
        Cell::Text(currency_code(invoice.currency)),
        Cell::Integer(invoice.subtotal_minor),
        Cell::Integer(tax),
        Cell::Integer(invoice.total_minor),
        Cell::Integer(invoice.amount_paid_minor),
        Cell::Integer(invoice.period_start),
        Cell::Integer(invoice.period_end),
        optional_integer(invoice.finalized_at),
        optional_integer(invoice.paid_at),
        Cell::Integer(invoice.created),
    ]
}

fn payout_row(payout: &Payout) -> Vec<Cell> {
    vec![
        id(payout.id.as_str()),
        id(payout.payee.as_str()),
        Cell::Integer(payout.amount_minor),
        Cell::Text(currency_code(payout.currency)),
        id(payout.status().as_str()),
        Cell::Text(payout.method.clone()),
        Cell::Integer(payout.returned_minor()),
        optional_id(payout.failure_code.as_deref()),
        optional_integer(payout.arrival_date),
        Cell::Integer(payout.created),
    ]
}
