//! Payouts to Stripe connected accounts: a Transfer from the platform's Stripe balance to the
//! payee's `acct_…`, created with the payout's key as its Idempotency-Key (and in its metadata),
//! its parameters written durably before it is sent, as for charges. A Transfer is final when
//! Stripe answers it: paid, or refused (a closed or unknown account, the platform's Stripe
//! balance short). An answer lost is settled by [`PayoutAdapter::payout_status`]: the same
//! request re-sent under the same key while Stripe remembers it (answered with the original
//! Transfer, never a second one), the destination's Transfers listed after that.

use std::collections::HashMap;

use stripe_connect::transfer::{CreateTransfer, ListTransfer, RetrieveTransfer};
use stripe_shared::Transfer;

use super::store::{AttemptParams, AttemptRecord};
use super::transformers::{self, METADATA_IDEMPOTENCY_KEY, StripeCallError};
use super::{NAME, StripeGateway, amount_from_stripe_code, wire_amount};
use crate::GatewayError;
use crate::payouts::{PayoutAdapter, PayoutDestination, PayoutOutcome, PayoutRequest};

/// Transfers listed at most when a payout's Transfer is looked for past Stripe's key memory.
const LISTED_MAX: i64 = 100;

fn transfer_params(request: &PayoutRequest) -> Result<AttemptParams, GatewayError> {
    let PayoutDestination::Stripe { account } = &request.destination else {
        return Err(GatewayError::InvalidRequest(
            "Stripe pays out to connected accounts (acct_…) only".to_owned(),
        ));
    };
    Ok(AttemptParams::Transfer {
        destination: account.clone(),
        amount_minor: request.amount_minor,
        currency: request.currency,
        stripe_amount: wire_amount(request.amount_minor, request.currency)?,
        description: request.description.clone(),
    })
}

/// A Transfer as a payout's outcome: paid, unless Stripe has reversed all of it since (then no
/// money reached the payee) or a part of it (paid, that part back).
fn transfer_outcome(transfer: &Transfer) -> PayoutOutcome {
    let reference = transfer.id.as_str().to_owned();
    if transfer.reversed {
        return PayoutOutcome::Failed {
            code: "transfer_reversed".to_owned(),
            message: format!("Stripe transfer {reference} was reversed"),
        };
    }
    if transfer.amount_reversed <= 0 {
        return PayoutOutcome::Paid { reference };
    }
    match amount_from_stripe_code(transfer.amount_reversed, &transfer.currency.to_string()) {
        Ok((returned_minor, _)) => PayoutOutcome::PartlyReturned { reference, returned_minor },
        Err(error) => {
            tracing::error!(
                transfer = reference,
                %error,
                "a Stripe transfer reversed in part, in an amount Kassa cannot hold: read as paid whole"
            );
            PayoutOutcome::Paid { reference }
        }
    }
}

/// Stripe's answer to a Transfer create that did not make one. A 400/402 is Stripe's refusal of
/// this very request (replayed to every re-send under its key): the payout failed. 401, 403 and
/// 404 are Stripe refusing to look at it (a revoked key, a wrong base URL): nothing moved. What
/// may have been acted on is unknown.
fn transfer_error(error: StripeCallError, resent: bool) -> Result<PayoutOutcome, GatewayError> {
    match error {
        StripeCallError::Answered { status: 400 | 402, error } => {
            let code = error.code.as_ref().map(|code| code.as_str().to_owned());
            Ok(PayoutOutcome::Failed {
                code: failure_code(code.as_deref()).to_owned(),
                message: error
                    .message
                    .clone()
                    .unwrap_or_else(|| "Stripe refused the transfer".into()),
            })
        }
        StripeCallError::Answered { status: 401 | 403 | 404, error } if !resent => {
            Err(GatewayError::NotAttempted(format!(
                "stripe refused to look at the transfer: {}",
                error.message.unwrap_or_default()
            )))
        }
        StripeCallError::NotProcessed(message) if !resent => {
            Err(GatewayError::NotAttempted(message))
        }
        other => Err(transformers::lookup_error(other)),
    }
}

/// Stripe's error code as a payout failure code, as Stripe's own payouts name them.
fn failure_code(code: Option<&str>) -> &'static str {
    match code {
        Some("account_invalid" | "account_closed") => "account_closed",
        Some("resource_missing" | "no_such_destination") => "no_account",
        Some("balance_insufficient" | "insufficient_funds") => "insufficient_funds",
        _ => "could_not_process",
    }
}

impl StripeGateway {
    async fn create_transfer(
        &self,
        idempotency_key: &str,
        params: &AttemptParams,
        resent: bool,
    ) -> Result<PayoutOutcome, GatewayError> {
        let AttemptParams::Transfer { destination, currency, stripe_amount, description, .. } =
            params
        else {
            return Err(GatewayError::Storage("a transfer key holds other parameters".into()));
        };
        let metadata =
            HashMap::from([(METADATA_IDEMPOTENCY_KEY.to_owned(), idempotency_key.to_owned())]);
        let request = CreateTransfer::new(transformers::stripe_currency(*currency), destination)
            .amount(*stripe_amount)
            .description(description.as_str())
            .metadata(metadata);
        match self.send(&request, Some(idempotency_key)).await {
            Ok(transfer) => {
                self.store.note_reference(idempotency_key, transfer.id.as_str());
                Ok(transfer_outcome(&transfer))
            }
            Err(error) => transfer_error(error, resent),
        }
    }

    /// The Transfer made under `idempotency_key`, found among its destination's.
    async fn listed_transfer(
        &self,
        idempotency_key: &str,
        record: &AttemptRecord,
    ) -> Result<Option<Transfer>, GatewayError> {
        let AttemptParams::Transfer { destination, .. } = &record.params else {
            return Err(GatewayError::Storage("a transfer key holds other parameters".into()));
        };
        let request = ListTransfer::new().destination(destination.as_str()).limit(LISTED_MAX);
        let listed = self.send(&request, None).await.map_err(transformers::lookup_error)?;
        let made_with_key = |transfer: &&Transfer| {
            transfer.metadata.get(METADATA_IDEMPOTENCY_KEY).map(String::as_str)
                == Some(idempotency_key)
        };
        Ok(listed.data.iter().find(made_with_key).cloned())
    }
}

#[async_trait::async_trait]
impl PayoutAdapter for StripeGateway {
    fn method(&self) -> &'static str {
        NAME
    }

    fn pays_to(&self, destination: &PayoutDestination) -> bool {
        matches!(destination, PayoutDestination::Stripe { .. })
    }

    fn check_payout(&self, request: &PayoutRequest) -> Result<(), GatewayError> {
        transfer_params(request).map(|_| ())
    }

    async fn pay(&self, request: &PayoutRequest) -> Result<PayoutOutcome, GatewayError> {
        let params = transfer_params(request)?;
        self.record_before_sending(&request.idempotency_key, &params).await?;
        self.create_transfer(&request.idempotency_key, &params, false).await
    }

    async fn payout_status(
        &self,
        request: &PayoutRequest,
    ) -> Result<Option<PayoutOutcome>, GatewayError> {
        let key = &request.idempotency_key;
        // Written before anything was sent: without a record, the key never reached Stripe.
        let Some(record) = self.store.attempt(key)? else { return Ok(None) };
        if let Some(id) = &record.reference {
            let request = RetrieveTransfer::new(id.as_str());
            let transfer = self.send(&request, None).await.map_err(transformers::lookup_error)?;
            return Ok(Some(transfer_outcome(&transfer)));
        }
        if self.within_replay_window(&record) {
            // The same request under the same key: Stripe answers with the original Transfer
            // if the first landed, and makes it now if it never did.
            return self.create_transfer(key, &record.params, true).await.map(Some);
        }
        Ok(self.listed_transfer(key, &record).await?.as_ref().map(transfer_outcome))
    }
}
