//! A payment method is a gateway's token plus what may be shown of it. Never a card number, CVC
//! or bank detail: those stay with the gateway (invariant 6).

use serde::{Deserialize, Serialize};

use super::{CustomerId, PaymentMethodId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardDisplay {
    pub brand: String,
    pub last4: String,
    pub exp_month: u8,
    pub exp_year: u16,
}

/// What kind of instrument a payment method is; routing rules match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PaymentMethodKind {
    /// A card gateway's token (`pm_…`).
    #[default]
    Card,
    /// A Kenyan mobile number, normalised to `2547XXXXXXXX` / `2541XXXXXXXX`, charged by STK Push.
    Mpesa,
    /// A bank transfer (EFT) the customer makes: no token, no gateway; statements settle it.
    BankTransfer,
}

impl PaymentMethodKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethodKind::Card => "card",
            PaymentMethodKind::Mpesa => "mpesa",
            PaymentMethodKind::BankTransfer => "bank_transfer",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentMethod {
    pub id: PaymentMethodId,
    pub customer: CustomerId,
    /// The gateway that checked the token when it was attached.
    pub gateway: String,
    pub token: String,
    pub card: Option<CardDisplay>,
    pub created: i64,
    /// A card unless it says otherwise.
    #[serde(default)]
    pub kind: PaymentMethodKind,
    /// At rest only: `token` (an M-Pesa number is one) and `card`, sealed, with the fields
    /// themselves left empty. Always `None` in memory.
    #[serde(default)]
    pub sealed: Option<super::Sealed>,
}

impl PaymentMethod {
    pub fn kind(&self) -> &'static str {
        self.kind.as_str()
    }

    /// The last digits of an M-Pesa number, all the API shows of it.
    pub fn phone_last4(&self) -> Option<&str> {
        match self.kind {
            PaymentMethodKind::Mpesa => self.token.get(self.token.len().saturating_sub(4)..),
            PaymentMethodKind::Card | PaymentMethodKind::BankTransfer => None,
        }
    }
}
