//! A charge: money taken from a customer's payment method through a gateway.
//! Its status only moves forward: `processing` → `succeeded` | `failed`.

use serde::{Deserialize, Serialize};

use super::{Breakdown, ChargeId, CustomerId, Metadata, Money, PaymentMethodId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChargeStatus {
    Processing,
    Succeeded,
    Failed,
}

impl ChargeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeStatus::Processing => "processing",
            ChargeStatus::Succeeded => "succeeded",
            ChargeStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// A decline code (`insufficient_funds`, …) or `processing_error`.
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    pub id: ChargeId,
    pub customer: CustomerId,
    pub amount: Money,
    pub payment_method: PaymentMethodId,
    pub gateway: String,
    pub gateway_reference: Option<String>,
    pub status: ChargeStatus,
    pub failure: Option<Failure>,
    pub amount_refunded_minor: i64,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub created: i64,
    /// The client's Idempotency-Key, if it gave one.
    pub idempotency_key: Option<String>,
    /// How the amount was priced and taxed, for a charge made from line items.
    #[serde(default)]
    pub breakdown: Option<Box<Breakdown>>,
}

impl Charge {
    /// The key the gateway dedupes this charge by: the charge id, so a retry after a crash
    /// re-asks for the same charge instead of making another.
    pub fn gateway_idempotency_key(&self) -> &str {
        self.id.as_str()
    }

    pub fn succeed(&mut self, gateway_reference: String) {
        self.assert_processing();
        self.status = ChargeStatus::Succeeded;
        self.gateway_reference = Some(gateway_reference);
    }

    pub fn fail(&mut self, failure: Failure) {
        self.assert_processing();
        self.status = ChargeStatus::Failed;
        self.failure = Some(failure);
    }

    /// What can still be refunded, before refunds that are under way.
    pub fn refundable_minor(&self) -> i64 {
        match self.status {
            ChargeStatus::Succeeded => self.amount.amount_minor - self.amount_refunded_minor,
            ChargeStatus::Processing | ChargeStatus::Failed => 0,
        }
    }

    pub fn record_refund(&mut self, amount_minor: i64) {
        assert!(
            amount_minor <= self.refundable_minor(),
            "refund of {amount_minor} exceeds what is left of charge {}",
            self.id
        );
        self.amount_refunded_minor += amount_minor;
    }

    pub fn is_fully_refunded(&self) -> bool {
        self.status == ChargeStatus::Succeeded
            && self.amount_refunded_minor == self.amount.amount_minor
    }

    /// Settling twice is a bug in the engine, never a client's mistake (invariant 4).
    fn assert_processing(&self) {
        assert_eq!(self.status, ChargeStatus::Processing, "charge {} is already settled", self.id);
    }
}
