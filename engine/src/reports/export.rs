//! `kassa export`: an account's books as files an accountant or a warehouse loads — its
//! balance transactions (every posting, with what it moved into the platform's balance and the
//! payee's), charges, refunds, invoices and payouts (archived ones included), one CSV file each,
//! created in `[from, to)`.
//! Only ids, amounts, currencies, statuses and times: no personal data leaves in them.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::domain::money::currency_code;
use crate::domain::{AccountId, Charge, CustomerId, Invoice, LedgerAccount, Posting};
use crate::store::{Store, StoreError, each_charge, each_invoice};

/// Records read at a time.
const PAGE: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("writing {file}: {error}")]
    Write { file: String, error: std::io::Error },
}

/// What was written: each file and its rows.
pub type Written = Vec<(&'static str, u64)>;

/// Writes the account's books into `out` (made if missing).
pub fn export_csv(
    store: &dyn Store,
    account: &AccountId,
    out: &Path,
    from: i64,
    to: i64,
) -> Result<Written, ExportError> {
    std::fs::create_dir_all(out)
        .map_err(|error| ExportError::Write { file: out.display().to_string(), error })?;
    let within = |created: i64| created >= from && created < to;
    let mut written = Written::new();

    let mut file = Csv::create(out, "balance_transactions.csv")?;
    file.row(&[
        "id",
        "type",
        "source",
        "customer",
        "payee",
        "currency",
        "platform_amount",
        "payee_amount",
        "available_on",
        "created",
    ])?;
    let mut failed = None;
    store.each_posting(account, &mut |posting| {
        if within(posting.created) && failed.is_none() {
            failed = file.row(&posting_row(&posting)).err();
        }
        Ok(())
    })?;
    if let Some(error) = failed {
        return Err(error);
    }
    written.push(file.finish()?);

    let mut file = Csv::create(out, "charges.csv")?;
    file.row(&[
        "id",
        "customer",
        "amount",
        "currency",
        "status",
        "amount_refunded",
        "gateway",
        "invoice",
        "transfer",
        "payee",
        "transfer_amount",
        "application_fee",
        "created",
    ])?;
    let mut customers: Vec<CustomerId> = Vec::new();
    let mut failed = None;
    each_charge(store, account, &mut |charge| {
        customers.push(charge.customer.clone());
        if within(charge.created) && failed.is_none() {
            failed = file.row(&charge_row(&charge)).err();
        }
        Ok(())
    })?;
    if let Some(error) = failed {
        return Err(error);
    }
    written.push(file.finish()?);

    let mut file = Csv::create(out, "refunds.csv")?;
    file.row(&["id", "charge", "customer", "amount", "currency", "status", "created"])?;
    customers.sort();
    customers.dedup();
    for customer in &customers {
        for refund in store.refunds(account, customer)? {
            if !within(refund.created) {
                continue;
            }
            file.row(&[
                refund.id.as_str(),
                refund.charge.as_str(),
                refund.customer.as_str(),
                &refund.amount.amount_minor.to_string(),
                &currency_code(refund.amount.currency),
                refund.status.as_str(),
                &refund.created.to_string(),
            ])?;
        }
    }
    written.push(file.finish()?);

    let mut file = Csv::create(out, "invoices.csv")?;
    file.row(&[
        "id",
        "number",
        "customer",
        "subscription",
        "status",
        "currency",
        "subtotal",
        "tax",
        "total",
        "amount_paid",
        "period_start",
        "period_end",
        "finalized_at",
        "paid_at",
        "created",
    ])?;
    let mut failed = None;
    each_invoice(store, account, &mut |invoice| {
        if within(invoice.created) && failed.is_none() {
            failed = file.row(&invoice_row(&invoice)).err();
        }
        Ok(())
    })?;
    if let Some(error) = failed {
        return Err(error);
    }
    written.push(file.finish()?);

    let mut file = Csv::create(out, "payouts.csv")?;
    file.row(&[
        "id",
        "payee",
        "amount",
        "currency",
        "status",
        "method",
        "amount_returned",
        "failure_code",
        "arrival_date",
        "created",
    ])?;
    let mut starting_after = None;
    loop {
        let page = store.account_payouts(account, PAGE, starting_after.as_ref())?;
        for payout in page.items.iter().filter(|payout| within(payout.created)) {
            file.row(&[
                payout.id.as_str(),
                payout.payee.as_str(),
                &payout.amount_minor.to_string(),
                &currency_code(payout.currency),
                payout.status().as_str(),
                &payout.method,
                &payout.returned_minor().to_string(),
                payout.failure_code.as_deref().unwrap_or(""),
                &payout.arrival_date.map_or(String::new(), |at| at.to_string()),
                &payout.created.to_string(),
            ])?;
        }
        match (page.has_more, page.items.last()) {
            (true, Some(last)) => starting_after = Some(last.id.clone()),
            _ => break,
        }
    }
    written.push(file.finish()?);
    Ok(written)
}

fn posting_row(posting: &Posting) -> Vec<String> {
    let payee_amount = posting.payee.as_ref().map_or(String::new(), |payee| {
        posting.net_for(&LedgerAccount::Payee { payee: payee.clone() }).to_string()
    });
    vec![
        posting.id.as_str().to_owned(),
        posting.kind.as_str().to_owned(),
        posting.source.clone(),
        posting.customer.as_ref().map_or(String::new(), |id| id.as_str().to_owned()),
        posting.payee.as_ref().map_or(String::new(), |id| id.as_str().to_owned()),
        currency_code(posting.currency),
        posting.net_for(&LedgerAccount::Platform).to_string(),
        payee_amount,
        posting.available_on.to_string(),
        posting.created.to_string(),
    ]
}

fn charge_row(charge: &Charge) -> Vec<String> {
    let transfer = charge.transfer.as_deref();
    let optional = |amount: Option<i64>| amount.map_or(String::new(), |amount| amount.to_string());
    vec![
        charge.id.as_str().to_owned(),
        charge.customer.as_str().to_owned(),
        charge.amount.amount_minor.to_string(),
        currency_code(charge.amount.currency),
        charge.status.as_str().to_owned(),
        charge.amount_refunded_minor.to_string(),
        charge.gateway.clone(),
        charge.invoice.as_ref().map_or(String::new(), |id| id.as_str().to_owned()),
        transfer.map_or(String::new(), |transfer| transfer.id.as_str().to_owned()),
        transfer.map_or(String::new(), |transfer| transfer.payee.as_str().to_owned()),
        optional(transfer.map(|transfer| transfer.amount_minor)),
        optional(transfer.map(|transfer| transfer.application_fee_minor)),
        charge.created.to_string(),
    ]
}

fn invoice_row(invoice: &Invoice) -> Vec<String> {
    let tax: i64 = invoice.tax.iter().map(|tax| tax.amount_minor).sum();
    let optional = |at: Option<i64>| at.map_or(String::new(), |at| at.to_string());
    vec![
        invoice.id.as_str().to_owned(),
        invoice.number.clone().unwrap_or_default(),
        invoice.customer.as_str().to_owned(),
        invoice.subscription.as_ref().map_or(String::new(), |id| id.as_str().to_owned()),
        invoice.status.as_str().to_owned(),
        currency_code(invoice.currency),
        invoice.subtotal_minor.to_string(),
        tax.to_string(),
        invoice.total_minor.to_string(),
        invoice.amount_paid_minor.to_string(),
        invoice.period_start.to_string(),
        invoice.period_end.to_string(),
        optional(invoice.finalized_at),
        optional(invoice.paid_at),
        invoice.created.to_string(),
    ]
}

/// One CSV file being written.
struct Csv {
    name: &'static str,
    out: BufWriter<File>,
    rows: u64,
}

impl Csv {
    fn create(dir: &Path, name: &'static str) -> Result<Csv, ExportError> {
        let file = File::create(dir.join(name))
            .map_err(|error| ExportError::Write { file: name.to_owned(), error })?;
        Ok(Csv { name, out: BufWriter::new(file), rows: 0 })
    }

    /// One row; every field is an id, a code, a number or a time, none holds a comma, a quote
    /// or a line break, but each is quoted if it ever does.
    fn row<S: AsRef<str>>(&mut self, fields: &[S]) -> Result<(), ExportError> {
        let line: Vec<String> = fields.iter().map(|field| quoted(field.as_ref())).collect();
        writeln!(self.out, "{}", line.join(","))
            .map_err(|error| ExportError::Write { file: self.name.to_owned(), error })?;
        self.rows += 1;
        Ok(())
    }

    /// Flushes and syncs the file; answers its name and data rows.
    fn finish(self) -> Result<(&'static str, u64), ExportError> {
        let name = self.name;
        let fail = |error| ExportError::Write { file: name.to_owned(), error };
        let file = self.out.into_inner().map_err(|error| fail(error.into_error()))?;
        file.sync_all().map_err(fail)?;
        Ok((name, self.rows.saturating_sub(1)))
    }
}

fn quoted(field: &str) -> String {
    match field.contains([',', '"', '\n', '\r']) {
        true => format!("\"{}\"", field.replace('"', "\"\"")),
        false => field.to_owned(),
    }
}
