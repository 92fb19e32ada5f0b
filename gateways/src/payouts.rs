//! Money out: what the engine asks of a payout adapter — pay an amount to a payee's
//! destination, and say later what became of a payment it sent. Like a charge, every payment
//! carries an idempotency key: asking twice with one key never pays twice, and
//! [`PayoutAdapter::payout_status`] finds the payment by that key.

use crate::{Currency, GatewayError};

/// Where a payout goes, as the adapter needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutDestination {
    BankAccount {
        account_holder: String,
        bank_code: String,
        account_number: String,
    },
    /// An M-Pesa phone in international form without `+` (`2547…`), paid by B2C.
    Mpesa {
        phone: String,
    },
    /// A Stripe connected account (`acct_…`), paid by a Transfer.
    Stripe {
        account: String,
    },
}

#[derive(Debug, Clone)]
pub struct PayoutRequest {
    /// Sent to the adapter as its idempotency key: Kassa uses the payout id, and a part's
    /// derived key (`po_…-2`) where the payout is split.
    pub idempotency_key: String,
    /// The merchant account paying, whose ledger listing at the sandbox shows the payout.
    pub account: String,
    pub amount_minor: i64,
    pub currency: Currency,
    pub destination: PayoutDestination,
    /// What the payee's statement shows.
    pub description: String,
}

/// What became of a payment to a payee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutOutcome {
    /// The money reached the destination.
    Paid { reference: String },
    /// Accepted; the result comes later (M-Pesa B2C's result callback, or the status query).
    InTransit { reference: String },
    /// Refused or returned: no money reached the payee. `code` is one of Stripe's payout
    /// failure codes (`account_closed`, `no_account`, `invalid_account_number`, `declined`,
    /// `could_not_process`, …).
    Failed { code: String, message: String },
    /// Paid, then sent back (a bank's return, a reversed Stripe transfer): the money is the
    /// platform's again. `code` as for `Failed`.
    Returned { code: String, message: String },
    /// Paid, then part of it sent back (a Stripe transfer reversed in part, a clawback the
    /// platform made at Stripe): `returned_minor` is all that has come back so far, in Kassa's
    /// minor units, the rest stayed with the payee. The destination is not at fault.
    PartlyReturned { reference: String, returned_minor: i64 },
}

#[async_trait::async_trait]
pub trait PayoutAdapter: Send + Sync {
    /// The payout's `method` in the API: `sandbox`, `stripe`, `mpesa`.
    fn method(&self) -> &'static str;

    /// Whether this adapter pays to such a destination.
    fn pays_to(&self, destination: &PayoutDestination) -> bool;

    /// The most one payment to `destination` may carry in `currency`, if the destination has a
    /// limit (M-Pesa B2C: KES 250 000): a larger payout is sent in parts.
    fn transaction_max(&self, destination: &PayoutDestination, currency: Currency) -> Option<i64> {
        let _ = (destination, currency);
        None
    }

    /// The most of `available_minor` this adapter can send in one payout to `destination`
    /// (M-Pesa: whole shillings): what a payout of "everything available" pays.
    fn payable(
        &self,
        destination: &PayoutDestination,
        currency: Currency,
        available_minor: i64,
    ) -> i64 {
        let _ = (destination, currency);
        available_minor
    }

    /// Refuses, before anything is recorded, a payout this adapter can never send as asked (a
    /// currency it does not take). Answers [`GatewayError::InvalidRequest`].
    fn check_payout(&self, request: &PayoutRequest) -> Result<(), GatewayError> {
        let _ = request;
        Ok(())
    }

    /// Sends the payment. An error other than [`GatewayError::NotAttempted`] and
    /// [`GatewayError::InvalidRequest`] leaves its outcome unknown: the engine then asks
    /// [`PayoutAdapter::payout_status`], never pays again on its own.
    async fn pay(&self, request: &PayoutRequest) -> Result<PayoutOutcome, GatewayError>;

    /// What became of the payment made with `request`'s key. `Ok(None)` must be final: the
    /// adapter never received it and never will act on it, so sending it now pays once.
    async fn payout_status(
        &self,
        request: &PayoutRequest,
    ) -> Result<Option<PayoutOutcome>, GatewayError>;
}
