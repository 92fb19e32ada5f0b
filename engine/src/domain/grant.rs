//! Promotional grants: a feature an account gives a customer without a payment (a promotion,
//! special access), until a time or for good, until it is withdrawn.

use serde::{Deserialize, Serialize};

use super::{GrantId, Sealed};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionalGrant {
    pub id: GrantId,
    pub feature: String,
    /// The first second it no longer grants; `None`: until it is withdrawn.
    pub expires_at: Option<i64>,
    /// Free text the platform wrote: personal data, sealed at rest with the customer's.
    pub reason: Option<String>,
    pub created: i64,
    /// At rest, with sealing on: `reason`, sealed, the field itself empty. Always `None` in
    /// memory.
    #[serde(default)]
    pub sealed: Option<Sealed>,
}

impl PromotionalGrant {
    pub fn is_current(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|end| now < end)
    }
}
