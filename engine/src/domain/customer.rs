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
}
