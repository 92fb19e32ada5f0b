//! A refund: money returned on a succeeded charge, never more than is left of it, or a
//! customer's credit balance paid back out to them.

use serde::{Deserialize, Serialize};

use super::{ChargeId, Conversion, CreditNoteId, CustomerId, Money, RefundId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }
}

/// Stripe's refund reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefundReason {
    Duplicate,
    Fraudulent,
    RequestedByCustomer,
}

impl RefundReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundReason::Duplicate => "duplicate",
            RefundReason::Fraudulent => "fraudulent",
            RefundReason::RequestedByCustomer => "requested_by_customer",
        }
    }

    pub fn parse(text: &str) -> Option<RefundReason> {
        match text {
            "duplicate" => Some(RefundReason::Duplicate),
            "fraudulent" => Some(RefundReason::Fraudulent),
            "requested_by_customer" => Some(RefundReason::RequestedByCustomer),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: RefundId,
    /// The charge it gives back; `None` for a refund of the customer's credit balance.
    pub charge: Option<ChargeId>,
    pub customer: CustomerId,
    pub amount: Money,
    pub status: RefundStatus,
    pub reason: Option<RefundReason>,
    pub gateway: String,
    pub gateway_reference: Option<String>,
    pub failure_message: Option<String>,
    pub created: i64,
    /// The key of the refund's idempotency record, if it has one: the client's Idempotency-Key
    /// as its keyed hash.
    pub idempotency_key: Option<String>,
    /// The credit note the refund pays back, when one asked for it (a refund asked for
    /// directly makes its credit note when it succeeds, if its charge paid an invoice).
    #[serde(default)]
    pub credit_note: Option<CreditNoteId>,
    /// Whether it reverses its charge's transfer in proportion (the default).
    #[serde(default = "reverses_transfer")]
    pub reverse_transfer: bool,
    /// What it reversed of its charge's transfer once it succeeded.
    #[serde(default)]
    pub transfer_reversed_minor: i64,
    /// Where the money went back, for a charge with no card to return it to (a bank transfer,
    /// M-Pesa): paid out by a payout adapter (`gateway` names it), or settled outside Kassa.
    #[serde(default)]
    pub paid_out: Option<PaidOut>,
    /// What it took from the platform's balance where the gateway took it in another currency
    /// (its charge was settled into that one), as the gateway reported it.
    #[serde(default)]
    pub conversion: Option<Conversion>,
}

/// Where a refund was paid out: only what identifies it to the platform (no account number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaidOut {
    BankAccount {
        last4: String,
    },
    Mpesa {
        last4: String,
    },
    /// The platform paid it back itself (an EFT by hand) and recorded it here.
    Outside,
}

impl PaidOut {
    pub fn kind(&self) -> &'static str {
        match self {
            PaidOut::BankAccount { .. } => "bank_account",
            PaidOut::Mpesa { .. } => "mpesa",
            PaidOut::Outside => "outside",
        }
    }

    pub fn last4(&self) -> Option<&str> {
        match self {
            PaidOut::BankAccount { last4 } | PaidOut::Mpesa { last4 } => Some(last4),
            PaidOut::Outside => None,
        }
    }
}

fn reverses_transfer() -> bool {
    true
}

impl Refund {
    /// Whether it pays out the customer's credit balance rather than giving a charge back.
    pub fn of_balance(&self) -> bool {
        self.charge.is_none()
    }

    /// The key the gateway dedupes this refund by: the refund id.
    pub fn gateway_idempotency_key(&self) -> &str {
        self.id.as_str()
    }

    pub fn succeed(&mut self, gateway_reference: String, conversion: Option<Conversion>) {
        assert_eq!(self.status, RefundStatus::Pending, "refund {} is already settled", self.id);
        self.status = RefundStatus::Succeeded;
        self.gateway_reference = Some(gateway_reference);
        self.conversion = conversion;
    }

    /// What it took from the platform's balance as the books carry it: as the gateway reported
    /// it in another currency, else as its `charge` books its money (see [`super::Charge::booked`]).
    pub fn booked(&self, charge: Option<&super::Charge>) -> Money {
        match (self.conversion, charge) {
            (Some(conversion), _) => {
                Money { amount_minor: conversion.amount_minor, currency: conversion.currency }
            }
            (None, Some(charge)) => charge.booked(self.amount.amount_minor),
            (None, None) => self.amount,
        }
    }

    pub fn fail(&mut self, message: String) {
        assert_eq!(self.status, RefundStatus::Pending, "refund {} is already settled", self.id);
        self.status = RefundStatus::Failed;
        self.failure_message = Some(message);
    }
}
