//! The blocks both receipts share: who sold, who bought, what paid, and the rows of amounts
//! under the lines. Each takes text as stored and escapes it here, so a caller cannot forget to.

use super::format::{money, rate};
use super::html::escape;
use crate::config::SellerConfig;
use crate::domain::{
    Currency, Customer, Discount, PaymentMethod, PaymentMethodKind, TaxBehavior, TaxLine,
};

/// The heading and the seller's name, address (one line per line written) and tax number.
pub fn heading(out: &mut String, title: &str, seller: &SellerConfig) {
    out.push_str(&format!("<header>\n<h1>{}</h1>\n<section class=\"seller\">\n", escape(title)));
    if !seller.name.is_empty() {
        out.push_str(&format!("<p class=\"name\">{}</p>\n", escape(&seller.name)));
    }
    for line in seller.address.lines().filter(|line| !line.trim().is_empty()) {
        out.push_str(&format!("<p>{}</p>\n", escape(line)));
    }
    if !seller.tax_id.is_empty() {
        out.push_str(&format!("<p>Tax ID {}</p>\n", escape(&seller.tax_id)));
    }
    out.push_str("</section>\n</header>\n");
}

/// One `label value` pair of the receipt's facts list, both text.
pub fn fact(out: &mut String, label: &str, value: &str) {
    out.push_str(&format!("<dt>{}</dt><dd>{}</dd>\n", escape(label), escape(value)));
}

/// How it was paid, brand and last four digits only (invariant 6: nothing more is kept).
pub fn payment_method_fact(out: &mut String, method: Option<&PaymentMethod>) {
    let shown = match method {
        Some(method) => match method.kind {
            PaymentMethodKind::Card => match &method.card {
                Some(card) => format!(
                    "<span class=\"brand\">{}</span> ending in {}",
                    escape(&card.brand),
                    escape(&card.last4)
                ),
                None => "Card".to_owned(),
            },
            PaymentMethodKind::BankTransfer => "Bank transfer (EFT)".to_owned(),
            PaymentMethodKind::Mpesa => match method.phone_last4() {
                Some(last4) => format!("M-Pesa ending in {}", escape(last4)),
                None => "M-Pesa".to_owned(),
            },
        },
        // Detached since: the charge names it, but what it was is no longer kept.
        None => "A payment method no longer on file".to_owned(),
    };
    out.push_str(&format!("<dt>Payment method</dt><dd class=\"method\">{shown}</dd>\n"));
}

/// Who bought: name, email, address and tax registrations, as far as the customer gave them.
pub fn customer(out: &mut String, customer: &Customer) {
    out.push_str("<section class=\"customer\">\n<h2>Billed to</h2>\n");
    if let Some(name) = &customer.name {
        out.push_str(&format!("<p class=\"name\">{}</p>\n", escape(name)));
    }
    if let Some(email) = &customer.email {
        out.push_str(&format!("<p>{}</p>\n", escape(email)));
    }
    if let Some(address) = &customer.address {
        let parts: Vec<&str> = [address.region.as_deref(), address.postal_code.as_deref()]
            .into_iter()
            .flatten()
            .chain([address.country.as_str()])
            .collect();
        out.push_str(&format!("<p>{}</p>\n", escape(&parts.join(", "))));
    }
    for tax_id in &customer.tax_ids {
        out.push_str(&format!(
            "<p>Tax ID {} ({})</p>\n",
            escape(&tax_id.value),
            escape(&tax_id.kind)
        ));
    }
    out.push_str("</section>\n");
}

/// The rows under a table's lines: a label spanning the other columns, and an amount.
pub struct Totals<'a> {
    pub out: &'a mut String,
    /// Columns before the amount column.
    pub label_columns: usize,
    pub currency: Currency,
}

impl Totals<'_> {
    /// One row: `label` is text; `class` marks the row for the style (`total`, `tax`, …).
    pub fn row(&mut self, class: &str, label: &str, amount_minor: i64) {
        self.out.push_str(&format!(
            "<tr class=\"{class}\"><th colspan=\"{}\">{}</th><td class=\"amount\">{}</td></tr>\n",
            self.label_columns,
            escape(label),
            escape(&money(amount_minor, self.currency)),
        ));
    }

    /// Each discount, taken off.
    pub fn discounts(&mut self, discounts: &[Discount]) {
        for discount in discounts {
            self.row("discount", &format!("Discount {}", discount.code), -discount.amount_minor);
        }
    }

    /// Each tax line with its rate and jurisdiction; tax inside a tax-inclusive price says so,
    /// as it is not added to the total.
    pub fn taxes(&mut self, taxes: &[TaxLine], behavior: TaxBehavior) {
        for tax in taxes {
            let described = format!("{} {} ({})", tax.name, rate(tax.rate_bps), tax.jurisdiction);
            let label = match behavior {
                TaxBehavior::Exclusive => described,
                TaxBehavior::Inclusive => format!("Includes {described}"),
            };
            self.row("tax", &label, tax.amount_minor);
        }
    }
}

/// The wording the EU requires where the buyer accounts for the VAT instead of the seller.
pub fn reverse_charge_note(out: &mut String) {
    out.push_str(
        "<p class=\"note reverse-charge\">Reverse charge: VAT to be accounted for by the \
         customer (Article 196, Council Directive 2006/112/EC). No VAT is charged on this \
         receipt.</p>\n",
    );
}

pub fn footer(out: &mut String, currency: Currency) {
    out.push_str(&format!(
        "<footer><p>Amounts in {}. Dates and times in UTC.</p></footer>\n",
        escape(currency.code())
    ));
}
