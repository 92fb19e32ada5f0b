//! A succeeded charge's receipt: what was paid, when and how, with the priced lines,
//! discounts and tax when the account's rules priced it, and what has been refunded since.

use super::format::{date_time, money};
use super::html::{escape, page};
use super::parts::{self, Totals};
use super::{ChargeReceipt, Issuer};
use crate::domain::{Breakdown, Charge, ChargeStatus, TaxBehavior};

pub fn render(receipt: &ChargeReceipt<'_>, issuer: &Issuer<'_>) -> String {
    let charge = receipt.charge;
    assert_eq!(charge.status, ChargeStatus::Succeeded, "a receipt of unpaid charge {}", charge.id);

    let mut body = String::new();
    parts::heading(&mut body, "Receipt", issuer.seller);
    body.push_str("<dl class=\"facts\">\n");
    parts::fact(&mut body, "Receipt for charge", charge.id.as_str());
    parts::fact(&mut body, "Date paid", &date_time(charge.created, issuer.zone));
    parts::payment_method_fact(&mut body, receipt.payment_method);
    if let Some(description) = &charge.description {
        parts::fact(&mut body, "Description", description);
    }
    if let Some(number) = receipt.invoice_number {
        parts::fact(&mut body, "For invoice", number);
    }
    body.push_str("</dl>\n");
    if let Some(customer) = receipt.customer {
        parts::customer(&mut body, customer);
    }
    match charge.breakdown.as_deref() {
        Some(breakdown) => priced_table(&mut body, charge, breakdown),
        None => amount_table(&mut body, charge),
    }
    if charge.breakdown.as_ref().is_some_and(|breakdown| breakdown.reverse_charge) {
        parts::reverse_charge_note(&mut body);
    }
    parts::footer(&mut body, charge.amount.currency);
    page(&format!("Receipt {}", charge.id), &body)
}

/// The lines as the pricing rule priced them; the tax rule's tax is added to them.
fn priced_table(out: &mut String, charge: &Charge, breakdown: &Breakdown) {
    let currency = charge.amount.currency;
    out.push_str(
        "<table class=\"lines\">\n<thead><tr><th>Item</th><th>Qty</th>\
         <th class=\"amount\">Amount</th></tr></thead>\n<tbody>\n",
    );
    for line in &breakdown.lines {
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"amount\">{}</td></tr>\n",
            escape(&line.sku),
            line.quantity,
            escape(&money(line.amount_minor, currency)),
        ));
    }
    out.push_str("</tbody>\n<tfoot>\n");
    let mut totals = Totals { out, label_columns: 2, currency };
    totals.row("subtotal", "Subtotal", breakdown.subtotal_minor);
    totals.discounts(&breakdown.discounts);
    totals.taxes(&breakdown.tax, TaxBehavior::Exclusive);
    totals.row("total", "Total", breakdown.total_minor);
    paid_rows(&mut totals, charge);
    out.push_str("</tfoot>\n</table>\n");
}

/// A charge of a plain amount: one line, its description or "Payment".
fn amount_table(out: &mut String, charge: &Charge) {
    let currency = charge.amount.currency;
    out.push_str(&format!(
        "<table class=\"lines\">\n<thead><tr><th>Item</th><th class=\"amount\">Amount</th></tr>\
         </thead>\n<tbody>\n<tr><td>{}</td><td class=\"amount\">{}</td></tr>\n</tbody>\n<tfoot>\n",
        escape(charge.description.as_deref().unwrap_or("Payment")),
        escape(&money(charge.amount.amount_minor, currency)),
    ));
    let mut totals = Totals { out, label_columns: 1, currency };
    paid_rows(&mut totals, charge);
    out.push_str("</tfoot>\n</table>\n");
}

fn paid_rows(totals: &mut Totals<'_>, charge: &Charge) {
    totals.row("paid", "Amount paid", charge.amount.amount_minor);
    if charge.amount_refunded_minor > 0 {
        totals.row("refund", "Refunded", -charge.amount_refunded_minor);
        totals.row("net", "Net paid", charge.amount.amount_minor - charge.amount_refunded_minor);
    }
}
