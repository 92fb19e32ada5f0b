//! A customer of the platform: contact fields, an address for tax, and a default payment method.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{CustomerId, PaymentMethodId};

/// Free-form key/value pairs the platform attaches to its objects (bounded in `limits`).
pub type Metadata = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// ISO 3166-1 alpha-2, upper case (`KE`, `ZA`, `DE`).
    pub country: String,
    pub region: Option<String>,
    pub postal_code: Option<String>,
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
    /// Read by tax rules (reverse charge); added after the first release, hence the default.
    #[serde(default)]
    pub tax_ids: Vec<TaxId>,
}
