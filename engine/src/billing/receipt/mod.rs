//! Receipts: the printable page a customer keeps for a paid invoice or a succeeded charge.
//!
//! Pure functions from the stored records and the issuer (the account's seller details and time
//! zone, else `billing.seller` and UTC) to one HTML document, so everything a receipt says is
//! tested without a server; the API handlers only read the records. [`format`] prints money
//! from integer minor units, rates and dates; [`html`] escapes every text that came through the
//! API and wraps the page so that nothing on it can run; [`parts`] holds the blocks both receipts share; [`invoice`] and
//! [`charge`] lay out each kind.

mod charge;
pub mod format;
pub mod html;
mod invoice;
mod parts;

use crate::config::SellerConfig;
use crate::domain::{Charge, Customer, Invoice, PaymentMethod};

/// Who issues the receipt (the account's seller details) and the time zone its dates are shown
/// in (the account's).
pub struct Issuer<'a> {
    pub seller: &'a SellerConfig,
    pub zone: &'a jiff::tz::TimeZone,
}

/// What an invoice's receipt is made from.
pub struct InvoiceReceipt<'a> {
    /// Must be `paid`: asking for the receipt of another is a bug of the caller.
    pub invoice: &'a Invoice,
    pub customer: Option<&'a Customer>,
    /// The succeeded charge that paid it; `None` when nothing was charged (a free invoice, or
    /// one the customer's credit covered).
    pub charge: Option<&'a Charge>,
    /// The charge's payment method, while it is still on file.
    pub payment_method: Option<&'a PaymentMethod>,
    /// The tax rule applied the reverse charge: the buyer accounts for the VAT.
    pub reverse_charge: bool,
}

/// What a charge's receipt is made from.
pub struct ChargeReceipt<'a> {
    /// Must be `succeeded`.
    pub charge: &'a Charge,
    pub customer: Option<&'a Customer>,
    /// The charge's payment method, while it is still on file.
    pub payment_method: Option<&'a PaymentMethod>,
    /// The number of the invoice the charge paid, if it paid one.
    pub invoice_number: Option<&'a str>,
}

/// The receipt of a paid invoice, as a whole HTML document.
pub fn invoice_page(receipt: &InvoiceReceipt<'_>, issuer: &Issuer<'_>) -> String {
    invoice::render(receipt, issuer)
}

/// The receipt of a succeeded charge, as a whole HTML document.
pub fn charge_page(receipt: &ChargeReceipt<'_>, issuer: &Issuer<'_>) -> String {
    charge::render(receipt, issuer)
}

#[cfg(test)]
mod tests {
    //! Records are built from JSON as the store would decode them, so fields added later with
    //! their defaults do not break these tests.

    use jiff::tz::TimeZone;
    use serde_json::{Value, json};

    use super::*;

    fn record<T: serde::de::DeserializeOwned>(value: Value) -> T {
        serde_json::from_value(value).expect("a record as the store decodes it")
    }

    fn seller() -> SellerConfig {
        SellerConfig {
            name: "Shule & Sons <Ltd>".into(),
            address: "1 Long St\nCape Town 8001".into(),
            tax_id: "4123456789".into(),
        }
    }

    fn customer() -> Customer {
        record(json!({
            "id": "cus_01J9Z8X7W6V5T4S3R2Q1P0N9M8",
            "email": "bursar@example.com",
            "name": "<script>alert(1)</script>",
            "address": {"country": "ZA", "postal_code": "8001"},
            "metadata": {},
            "created": 0,
        }))
    }

    fn card() -> PaymentMethod {
        record(json!({
            "id": "pm_01J9Z8X7W6V5T4S3R2Q1P0N9M8",
            "customer": "cus_01J9Z8X7W6V5T4S3R2Q1P0N9M8",
            "gateway": "sandbox",
            "token": "pm_card_visa",
            "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030},
            "created": 0,
        }))
    }

    fn tax_line(rate_bps: u32, amount_minor: i64) -> Value {
        json!({"name": "VAT", "jurisdiction": "ZA", "rate_bps": rate_bps, "amount_minor": amount_minor})
    }

    /// A paid zar invoice: 3 seats at R1,234.50 with R100.00 off and 15 % VAT on top.
    fn invoice(status: &str) -> Invoice {
        record(json!({
            "id": "in_01KG3ZA8B9C0D1E2F3G4H5J6K7",
            "number": "7KQ2M4XA-0001",
            "customer": "cus_01J9Z8X7W6V5T4S3R2Q1P0N9M8",
            "subscription": null,
            "status": status,
            "billing_reason": "SubscriptionCreate",
            "currency": "ZAR",
            "tax_behavior": "Exclusive",
            "lines": [{
                "id": "il_01KG3ZA8B9C0D1E2F3G4H5J6K8",
                "description": "3 × Seats \"gold\" (2024-03-01 – 2024-04-01)",
                "plan": null,
                "quantity": 3,
                "amount_minor": 370_350,
                "period_start": 1_709_251_200,
                "period_end": 1_711_929_600,
                "proration": false,
                "discount_minor": 10_000,
                "tax": [tax_line(1500, 54_053)],
            }],
            "subtotal_minor": 370_350,
            "discounts": [{"code": "TERM<1>", "amount_minor": 10_000}],
            "tax": [tax_line(1500, 54_053)],
            "total_minor": 414_403,
            "balance_applied_minor": 0,
            "amount_due_minor": 414_403,
            "amount_paid_minor": 414_403,
            "attempt_count": 1,
            "collection_method": "ChargeAutomatically",
            "charge": "ch_01KG3ZA9C0D1E2F3G4H5J6K7M8",
            "payment_pending": false,
            "collecting": false,
            "period_start": 1_709_251_200,
            "period_end": 1_711_929_600,
            "created": 1_709_251_200,
            "finalized_at": 1_709_251_200,
            "paid_at": 1_709_251_200 + 9 * 3_600 + 30 * 60,
        }))
    }

    fn charge(breakdown: Value, refunded_minor: i64) -> Charge {
        record(json!({
            "id": "ch_01KG3ZA9C0D1E2F3G4H5J6K7M8",
            "customer": "cus_01J9Z8X7W6V5T4S3R2Q1P0N9M8",
            "amount": {"amount_minor": 12_000, "currency": "EUR"},
            "payment_method": "pm_01J9Z8X7W6V5T4S3R2Q1P0N9M8",
            "gateway": "sandbox",
            "status": "Succeeded",
            "amount_refunded_minor": refunded_minor,
            "description": "Course 'Algebra' & more",
            "metadata": {},
            "created": 1_709_164_800,
            "breakdown": breakdown,
        }))
    }

    fn reverse_charged() -> Value {
        let rule =
            |kind: &str| json!({"kind": kind, "version": 0, "source": "Bundled", "sha256": "00"});
        json!({
            "lines": [{"sku": "course", "quantity": 1, "amount_minor": 12_000}],
            "subtotal_minor": 12_000,
            "discounts": [],
            "tax": [],
            "reverse_charge": true,
            "total_minor": 12_000,
            "evaluation": {"pricing": rule("Pricing"), "tax": rule("Tax"), "evaluated_at": 0},
        })
    }

    fn receipt_of(invoice: &Invoice, customer: &Customer, method: &PaymentMethod) -> String {
        let paying = charge(Value::Null, 0);
        let receipt = InvoiceReceipt {
            invoice,
            customer: Some(customer),
            charge: Some(&paying),
            payment_method: Some(method),
            reverse_charge: false,
        };
        invoice_page(&receipt, &Issuer { seller: &seller(), zone: &TimeZone::UTC })
    }

    #[test]
    fn an_invoice_receipt_shows_lines_discounts_tax_and_payment() {
        let html = receipt_of(&invoice("Paid"), &customer(), &card());
        for expected in [
            "<dt>Invoice number</dt><dd>7KQ2M4XA-0001</dd>",
            "<dt>Date paid</dt><dd>2024-03-01 09:30 UTC</dd>",
            "<span class=\"brand\">visa</span> ending in 4242",
            "<td>3 × Seats &quot;gold&quot; (2024-03-01 – 2024-04-01)</td>",
            "<td>2024-03-01 – 2024-04-01</td><td>3</td><td class=\"amount\">ZAR 3,703.50</td>",
            "<th colspan=\"3\">Subtotal</th><td class=\"amount\">ZAR 3,703.50</td>",
            "<th colspan=\"3\">Discount TERM&lt;1&gt;</th><td class=\"amount\">-ZAR 100.00</td>",
            "<th colspan=\"3\">VAT 15% (ZA)</th><td class=\"amount\">ZAR 540.53</td>",
            "<th colspan=\"3\">Total</th><td class=\"amount\">ZAR 4,144.03</td>",
            "<th colspan=\"3\">Amount paid</th><td class=\"amount\">ZAR 4,144.03</td>",
            "<p class=\"name\">Shule &amp; Sons &lt;Ltd&gt;</p>",
            "<p>1 Long St</p>\n<p>Cape Town 8001</p>",
            "<p>Tax ID 4123456789</p>",
            "<p>bursar@example.com</p>",
            "<p>8001, ZA</p>",
        ] {
            assert!(html.contains(expected), "missing {expected} in\n{html}");
        }
        assert!(!html.contains("Reverse charge"), "{html}");
    }

    #[test]
    fn user_text_is_escaped_and_nothing_can_run() {
        let html = receipt_of(&invoice("Paid"), &customer(), &card());
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
        assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
        assert!(!html.contains("4242424242424242") && !html.contains("pm_card_visa"), "{html}");
    }

    #[test]
    fn inclusive_tax_is_shown_as_included() {
        let mut inclusive = invoice("Paid");
        inclusive.tax_behavior = crate::domain::TaxBehavior::Inclusive;
        inclusive.tax[0].rate_bps = 750;
        let html = receipt_of(&inclusive, &customer(), &card());
        assert!(html.contains(">Includes VAT 7.5% (ZA)</th>"), "{html}");
    }

    #[test]
    #[should_panic(expected = "a receipt of unpaid invoice")]
    fn an_unpaid_invoice_has_no_receipt() {
        receipt_of(&invoice("Open"), &customer(), &card());
    }

    #[test]
    fn a_charge_receipt_shows_refunds_and_the_reverse_charge() {
        let charge = charge(reverse_charged(), 2_500);
        let customer = customer();
        let receipt = ChargeReceipt {
            charge: &charge,
            customer: Some(&customer),
            payment_method: None,
            invoice_number: Some("7KQ2M4XA-0001"),
        };
        let html = charge_page(&receipt, &Issuer { seller: &seller(), zone: &TimeZone::UTC });
        for expected in [
            "<dt>Receipt for charge</dt><dd>ch_01KG3ZA9C0D1E2F3G4H5J6K7M8</dd>",
            "<dt>Date paid</dt><dd>2024-02-29 00:00 UTC</dd>",
            "<dd>Course &#39;Algebra&#39; &amp; more</dd>",
            "<dt>For invoice</dt><dd>7KQ2M4XA-0001</dd>",
            "A payment method no longer on file",
            "<td>course</td><td>1</td><td class=\"amount\">EUR 120.00</td>",
            "<th colspan=\"2\">Amount paid</th><td class=\"amount\">EUR 120.00</td>",
            "<th colspan=\"2\">Refunded</th><td class=\"amount\">-EUR 25.00</td>",
            "<th colspan=\"2\">Net paid</th><td class=\"amount\">EUR 95.00</td>",
            "Reverse charge: VAT to be accounted for by the customer",
        ] {
            assert!(html.contains(expected), "missing {expected} in\n{html}");
        }
    }

    #[test]
    fn a_charge_of_a_plain_amount_is_one_line() {
        let charge = charge(Value::Null, 0);
        let method = card();
        let receipt = ChargeReceipt {
            charge: &charge,
            customer: None,
            payment_method: Some(&method),
            invoice_number: None,
        };
        let html = charge_page(
            &receipt,
            &Issuer { seller: &SellerConfig::default(), zone: &TimeZone::UTC },
        );
        assert!(
            html.contains(
                "<td>Course &#39;Algebra&#39; &amp; more</td><td class=\"amount\">EUR 120.00</td>"
            ),
            "{html}"
        );
        assert!(!html.contains("Refunded") && !html.contains("Billed to"), "{html}");
    }
}
