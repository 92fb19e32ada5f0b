//! A paid invoice's receipt: its number and payment, the customer, each line with its period,
//! then subtotal, discounts, tax, total and what was paid.

use jiff::tz::TimeZone;

use super::format::{date, date_time, money};
use super::html::{escape, page};
use super::parts::{self, Totals};
use super::{InvoiceReceipt, Issuer};
use crate::domain::{Invoice, InvoiceLine, InvoiceStatus};

pub fn render(receipt: &InvoiceReceipt<'_>, issuer: &Issuer<'_>) -> String {
    let invoice = receipt.invoice;
    assert_eq!(invoice.status, InvoiceStatus::Paid, "a receipt of unpaid invoice {}", invoice.id);
    let paid_at =
        invoice.paid_at.unwrap_or_else(|| panic!("paid invoice {} has no paid_at", invoice.id));
    // A paid invoice was finalized, which numbered it.
    let number = invoice.number.as_deref().unwrap_or(invoice.id.as_str());

    let mut body = String::new();
    parts::heading(&mut body, "Receipt", issuer.seller);
    body.push_str("<dl class=\"facts\">\n");
    parts::fact(&mut body, "Invoice number", number);
    parts::fact(&mut body, "Date paid", &date_time(paid_at, issuer.zone));
    match receipt.charge {
        Some(_) => parts::payment_method_fact(&mut body, receipt.payment_method),
        None => parts::fact(&mut body, "Payment method", "None: nothing was charged"),
    }
    body.push_str("</dl>\n");
    if let Some(customer) = receipt.customer {
        parts::customer(&mut body, customer);
    }
    lines_table(&mut body, invoice, issuer.zone);
    if receipt.reverse_charge {
        parts::reverse_charge_note(&mut body);
    }
    parts::footer(&mut body, invoice.currency);
    page(&format!("Receipt {number}"), &body)
}

fn lines_table(out: &mut String, invoice: &Invoice, zone: &TimeZone) {
    out.push_str(
        "<table class=\"lines\">\n<thead><tr><th>Description</th><th>Period</th><th>Qty</th>\
         <th class=\"amount\">Amount</th></tr></thead>\n<tbody>\n",
    );
    for line in &invoice.lines {
        line_row(out, invoice, line, zone);
    }
    out.push_str("</tbody>\n<tfoot>\n");
    let mut totals = Totals { out, label_columns: 3, currency: invoice.currency };
    totals.row("subtotal", "Subtotal", invoice.subtotal_minor);
    totals.discounts(&invoice.discounts);
    totals.taxes(&invoice.tax, invoice.tax_behavior);
    totals.row("total", "Total", invoice.total_minor);
    // Positive: the customer's credit paid part of it; negative: an earlier balance was added.
    match invoice.balance_applied_minor {
        0 => {}
        credit if credit > 0 => totals.row("balance", "Credit applied", -credit),
        debit => totals.row("balance", "Earlier balance added", -debit),
    }
    if invoice.credited_minor != 0 {
        totals.row("credit", "Credited while open", -invoice.credited_minor);
    }
    totals.row("paid", "Amount paid", invoice.amount_paid_minor);
    out.push_str("</tfoot>\n</table>\n");
}

fn line_row(out: &mut String, invoice: &Invoice, line: &InvoiceLine, zone: &TimeZone) {
    out.push_str(&format!(
        "<tr><td>{}</td><td>{} – {}</td><td>{}</td><td class=\"amount\">{}</td></tr>\n",
        escape(&line.description),
        date(line.period_start, zone),
        date(line.period_end, zone),
        line.quantity,
        escape(&money(line.amount_minor, invoice.currency)),
    ));
}
