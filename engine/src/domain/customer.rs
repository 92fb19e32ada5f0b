//! A customer of the platform: contact fields, an address for tax, and a default payment method.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    Currency, CustomerId, PaymentMethodId, PromotionalGrant, Purchase, Sealed, TestClockId,
};

/// Free-form key/value pairs the platform attaches to its objects (bounded in `limits`).
pub type Metadata = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// ISO 3166-1 alpha-2, upper case (`KE`, `ZA`, `DE`).
    pub country: String,
    pub region: Option<String>,
    pub postal_code: Option<String>,
}

impl Address {
    /// An address that names only its country.
    pub fn in_country(country: &str) -> Address {
        Address { country: country.to_owned(), region: None, postal_code: None }
    }
}

/// A tax registration of the customer (a business buyer's VAT number), as the tax rule reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxId {
    /// `eu_vat`, `gb_vat`, `za_vat`, `ke_pin`, … (Stripe's names).
    pub kind: String,
    /// As issued, with its country prefix where it has one (`DE123456789`).
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: CustomerId,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub address: Option<Address>,
    pub metadata: Metadata,
    pub created: i64,
    pub default_payment_method: Option<PaymentMethodId>,
    /// Read by tax rules (reverse charge).
    #[serde(default)]
    pub tax_ids: Vec<TaxId>,
    /// Minor units the customer owes (positive) or holds as credit (negative), applied to the
    /// next invoice.
    #[serde(default)]
    pub balance_minor: i64,
    /// The currency the customer bills in, fixed by its first subscription or invoice.
    #[serde(default)]
    pub currency: Option<Currency>,
    /// Starts every invoice number of the customer (`{prefix}-0001`); fixed at creation.
    #[serde(default)]
    pub invoice_prefix: String,
    /// Invoice numbers given so far: the next finalized invoice gets this plus one.
    #[serde(default)]
    pub invoices_numbered: u32,
    /// Credit note numbers given so far (`{prefix}-CN-0001`, …).
    #[serde(default)]
    pub credit_notes_numbered: u32,
    /// The test clock the customer lives by, if any: then nothing of it reads the real clock.
    #[serde(default)]
    pub test_clock: Option<TestClockId>,
    /// Features its succeeded one-time purchases grant (expired ones are dropped when the
    /// record is next written).
    #[serde(default)]
    pub purchases: Vec<Purchase>,
    /// Erased (`DELETE /v1/customers/{id}`): its personal data is gone, its books stay.
    #[serde(default)]
    pub deleted: bool,
    /// At rest only: the personal fields above (email, name, phone, address, metadata),
    /// sealed, with the fields themselves left empty. Always `None` in memory.
    #[serde(default)]
    pub sealed: Option<Sealed>,
    /// Features the account gave it without a payment, until withdrawn.
    #[serde(default)]
    pub grants: Vec<PromotionalGrant>,
    /// Its permanent bank-transfer reference, given with its first `bank_transfer` payment
    /// method: money under it pays its open invoices.
    #[serde(default)]
    pub bank_transfer_reference: Option<String>,
    /// Its balance is carried by the books' customer balances account: set when the customer
    /// is first written by a version that posts balances (what it held then is posted once).
    #[serde(default)]
    pub balance_in_books: bool,
}

impl Customer {
    /// The customer as a checkout's tax sees them: in `country` when the checkout names one
    /// (its buyer had no address when it was made; the seller's country, or the one the buyer
    /// chose on the page), whatever was recorded since, so that its page and its charge agree.
    pub fn taxed_in(&self, country: Option<&str>) -> Customer {
        let mut customer = self.clone();
        if let Some(country) = country {
            customer.address = Some(Address::in_country(country));
        }
        customer
    }

    /// The number the next finalized invoice gets, counted in.
    pub fn next_invoice_number(&mut self) -> String {
        self.invoices_numbered += 1;
        format!("{}-{:04}", self.invoice_prefix, self.invoices_numbered)
    }

    /// The number the next credit note gets, counted in.
    pub fn next_credit_note_number(&mut self) -> String {
        self.credit_notes_numbered += 1;
        format!("{}-CN-{:04}", self.invoice_prefix, self.credit_notes_numbered)
    }
}

/// A fresh invoice prefix: 8 upper-case letters and digits, without the ones easily misread.
pub fn generate_invoice_prefix() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..8).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}
