//! A charge: money taken from a customer's payment method through a gateway.
//! Its status only moves forward: `processing` → `requires_action` → `succeeded` | `failed`,
//! and `processing` → `succeeded` | `failed` directly.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{
    AppliedCoupon, BankTransfer, Breakdown, ChargeId, ChargeTransfer, CheckoutSessionId, Currency,
    CustomerId, DisputeId, FeatureGrant, InvoiceId, Metadata, Money, PaymentMethodId,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChargeStatus {
    Processing,
    Succeeded,
    Failed,
    /// The customer must authenticate (3-D Secure) before money moves; `next_action` says how.
    RequiresAction,
}

impl ChargeStatus {
    pub fn parse(text: &str) -> Option<ChargeStatus> {
        match text {
            "processing" => Some(ChargeStatus::Processing),
            "succeeded" => Some(ChargeStatus::Succeeded),
            "failed" => Some(ChargeStatus::Failed),
            "requires_action" => Some(ChargeStatus::RequiresAction),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChargeStatus::Processing => "processing",
            ChargeStatus::Succeeded => "succeeded",
            ChargeStatus::Failed => "failed",
            ChargeStatus::RequiresAction => "requires_action",
        }
    }

    /// Settled for good: nothing the gateway says later changes it.
    pub fn is_final(self) -> bool {
        match self {
            ChargeStatus::Succeeded | ChargeStatus::Failed => true,
            ChargeStatus::Processing | ChargeStatus::RequiresAction => false,
        }
    }
}

/// What the platform's front end needs to finish a charge that requires action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextAction {
    /// Stripe's `next_action.type`: `use_stripe_sdk` or `redirect_to_url`.
    pub kind: String,
    pub redirect_url: Option<String>,
    /// For stripe.js in the paying customer's browser; the API shows it, logs never do.
    pub client_secret: Option<ClientSecret>,
}

/// A PaymentIntent's client secret: stored and served with its charge, redacted from `Debug`
/// so a logged charge never carries it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientSecret(pub String);

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(redacted)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// A decline code (`insufficient_funds`, …) or `processing_error`.
    pub code: String,
    pub message: String,
}

/// A charge the gateway settled into another currency than it was charged in (shillings taken
/// from a card, credited to the platform in dollars), as the gateway reported it: what reached
/// the platform's balance, and the gateway's fee, both in `currency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversion {
    pub currency: Currency,
    pub amount_minor: i64,
    pub fee_minor: i64,
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
    /// The key of the charge's idempotency record, if it has one: a client's Idempotency-Key as
    /// its keyed hash, or an invoice attempt's.
    pub idempotency_key: Option<String>,
    /// How the amount was priced and taxed, for a charge made from line items.
    #[serde(default)]
    pub breakdown: Option<Box<Breakdown>>,
    /// Which gateway of the charge's route `gateway` is, from 1: above 1 after a failover.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// Set while the charge is `requires_action`.
    #[serde(default)]
    pub next_action: Option<NextAction>,
    /// The dispute opened on the charge, if any (a charge is disputed at most once).
    #[serde(default)]
    pub dispute: Option<DisputeId>,
    /// The invoice this charge pays, if it was made to pay one.
    #[serde(default)]
    pub invoice: Option<InvoiceId>,
    /// Features the charge grants once it succeeds (a one-time purchase).
    #[serde(default)]
    pub grants: Vec<FeatureGrant>,
    /// Set when the gateway reported moving another amount than the charge's: the charge is
    /// held for an operator, and no later word from the gateway settles it.
    #[serde(default)]
    pub review: Option<AmountReview>,
    /// The coupon it was priced with: redeemed when it succeeds.
    #[serde(default)]
    pub coupon: Option<AppliedCoupon>,
    /// Paid by bank transfer: the reference and bank details the payer was given, and what
    /// has arrived.
    #[serde(default)]
    pub bank_transfer: Option<Box<BankTransfer>>,
    /// The checkout session it pays: the session completes in the change that settles it.
    #[serde(default)]
    pub checkout_session: Option<CheckoutSessionId>,
    /// The share of it a payee earns, when the charge was split.
    #[serde(default)]
    pub transfer: Option<Box<ChargeTransfer>>,
    /// What the gateway kept of the amount as its fee, as it reported it with the payment (0
    /// where it reports none).
    #[serde(default)]
    pub fee_minor: i64,
    /// Set when the gateway settled the charge into another currency: the books carry its
    /// money in that one.
    #[serde(default)]
    pub conversion: Option<Conversion>,
    /// When it succeeded: the day it is billed and its revenue recognized. `None` until then,
    /// and for a charge that succeeded before it was recorded (read as its creation).
    #[serde(default)]
    pub succeeded_at: Option<i64>,
    /// Read back from the archive (see `store::archive`); never stored.
    #[serde(skip)]
    pub archived: bool,
}

/// Why a charge is held for review: the gateway says another amount moved than the one charged
/// (an M-Pesa callback's `Amount`). Marking it paid would book money that did not arrive, or
/// hide money that did; failing it would free the client's key for a second charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmountReview {
    /// What the gateway reported, in the charge currency's minor units.
    pub reported_amount_minor: i64,
    /// The gateway's reference for what moved (M-Pesa's receipt number), when it gave one.
    pub reported_reference: Option<String>,
    /// When Kassa learnt of it (Unix seconds).
    pub reported_at: i64,
}

fn first_attempt() -> u32 {
    1
}

impl Charge {
    /// The key the gateway dedupes this charge by: the charge id, so a retry after a crash
    /// re-asks for the same charge instead of making another.
    pub fn gateway_idempotency_key(&self) -> &str {
        self.id.as_str()
    }

    /// The gateway took the money, keeping `fee_minor` of it as its fee (in the charge's
    /// currency), or settling it into another currency (`conversion`, with its fee there).
    pub fn succeed(
        &mut self,
        gateway_reference: String,
        fee_minor: i64,
        conversion: Option<Conversion>,
    ) {
        self.assert_unsettled();
        self.status = ChargeStatus::Succeeded;
        self.gateway_reference = Some(gateway_reference);
        self.fee_minor = fee_minor;
        self.conversion = conversion;
        self.next_action = None;
        let now = super::time::now_unix_secs();
        self.succeeded_at = Some(now);
        if let Some(transfer) = self.transfer.as_mut() {
            transfer.share_succeeded(now);
        }
    }

    pub fn fail(&mut self, failure: Failure) {
        self.assert_unsettled();
        self.status = ChargeStatus::Failed;
        self.failure = Some(failure);
        self.next_action = None;
    }

    /// The gateway took the charge and wants the customer to authenticate first.
    pub fn require_action(&mut self, gateway_reference: String, next_action: NextAction) {
        assert_eq!(
            self.status,
            ChargeStatus::Processing,
            "charge {} cannot move back to requires_action",
            self.id
        );
        self.status = ChargeStatus::RequiresAction;
        self.gateway_reference = Some(gateway_reference);
        self.next_action = Some(next_action);
    }

    /// The gateway accepted the charge and settles it later (M-Pesa: its reference is the
    /// CheckoutRequestID that the callback names). The charge stays `processing`.
    pub fn await_settlement(&mut self, gateway_reference: String) {
        assert_eq!(self.status, ChargeStatus::Processing, "charge {} is not processing", self.id);
        self.gateway_reference = Some(gateway_reference);
    }

    /// Before the next gateway of the route is tried: the previous one provably charged
    /// nothing. Recorded durably first, so that recovery asks the gateway that was last asked.
    pub fn reroute(&mut self, gateway: &str, attempt: u32) {
        assert_eq!(self.status, ChargeStatus::Processing, "charge {} is not processing", self.id);
        assert!(
            attempt > self.attempt,
            "charge {}: attempt {attempt} does not follow attempt {}",
            self.id,
            self.attempt
        );
        self.gateway = gateway.to_owned();
        self.attempt = attempt;
    }

    /// `amount_minor` of the charge's money as the books carry it: in the currency the gateway
    /// settled the charge in, at the rate it did (the converted amount over the charge's,
    /// rounded half up; the whole amount exactly), or as it is.
    pub fn booked(&self, amount_minor: i64) -> Money {
        let Some(conversion) = self.conversion else {
            return Money { amount_minor, currency: self.amount.currency };
        };
        let charged = i128::from(self.amount.amount_minor.max(1));
        let scaled = i128::from(amount_minor) * i128::from(conversion.amount_minor);
        let converted = (2 * scaled + charged).div_euclid(2 * charged);
        Money {
            amount_minor: i64::try_from(converted).unwrap_or(i64::MAX),
            currency: conversion.currency,
        }
    }

    /// The gateway's fee as the books carry it (in the currency they carry the charge in).
    pub fn booked_fee(&self) -> i64 {
        self.conversion.map_or(self.fee_minor, |conversion| conversion.fee_minor)
    }

    /// What can still be refunded, before refunds that are under way.
    pub fn refundable_minor(&self) -> i64 {
        match self.status {
            ChargeStatus::Succeeded => self.amount.amount_minor - self.amount_refunded_minor,
            ChargeStatus::Processing | ChargeStatus::RequiresAction | ChargeStatus::Failed => 0,
        }
    }

    /// Counts a refund of `amount_minor` against the charge; answers what it reverses of the
    /// charge's transfer, in proportion, when it `reverses` it (see
    /// [`ChargeTransfer::reverse_for`]).
    pub fn record_refund(&mut self, amount_minor: i64, reverses: bool) -> i64 {
        assert!(
            amount_minor <= self.refundable_minor(),
            "refund of {amount_minor} exceeds what is left of charge {}",
            self.id
        );
        self.amount_refunded_minor += amount_minor;
        match self.transfer.as_mut() {
            Some(transfer) if reverses => {
                transfer.reverse_for(amount_minor, self.amount.amount_minor)
            }
            _ => 0,
        }
    }

    pub fn is_fully_refunded(&self) -> bool {
        self.status == ChargeStatus::Succeeded
            && self.amount_refunded_minor == self.amount.amount_minor
    }

    /// Holds the charge for review: it stays as it is (`processing`), with the discrepancy
    /// recorded for an operator. Only a charge the gateway has not settled yet can be held.
    pub fn hold_for_review(&mut self, review: AmountReview) {
        self.assert_unsettled();
        self.review = Some(review);
    }

    pub fn is_held_for_review(&self) -> bool {
        self.review.is_some()
    }

    /// Settling twice is a bug in the engine, never a client's mistake (invariant 4).
    fn assert_unsettled(&self) {
        assert!(!self.status.is_final(), "charge {} is already settled", self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge_of(amount_minor: i64, currency: Currency) -> Charge {
        let json = serde_json::json!({
            "id": "ch_01J9Z8Z1MN2P3Q4R5S6T7V8W9X", "customer": "cus_01J9Z8X7W6V5T4S3R2Q1P0N9M8",
            "amount": {"amount_minor": amount_minor, "currency": currency},
            "payment_method": "pm_01J9Z8Y1MN2P3Q4R5S6T7V8W9X", "gateway": "stripe",
            "gateway_reference": null, "status": "Processing", "failure": null,
            "amount_refunded_minor": 0, "description": null, "metadata": {}, "created": 1,
            "idempotency_key": null,
        });
        serde_json::from_value(json).expect("a charge")
    }

    #[test]
    fn a_converted_charge_books_its_parts_at_its_rate_half_up_and_the_whole_exactly() {
        let mut charge = charge_of(130_000, Currency::KES);
        assert_eq!(charge.booked(65_000), Money { amount_minor: 65_000, currency: Currency::KES });
        let conversion = Conversion { currency: Currency::USD, amount_minor: 1_001, fee_minor: 59 };
        charge.succeed("pi_1".into(), 0, Some(conversion));
        let usd = |amount_minor| Money { amount_minor, currency: Currency::USD };
        assert_eq!(charge.booked(130_000), usd(1_001), "the whole as the gateway settled it");
        assert_eq!(charge.booked(65_000), usd(501), "500.5 rounds half up");
        assert_eq!(charge.booked(64_870), usd(499), "499.49 rounds down");
        assert_eq!(charge.booked(0), usd(0));
        assert_eq!(charge.booked_fee(), 59, "the fee where the money landed");
    }
}
