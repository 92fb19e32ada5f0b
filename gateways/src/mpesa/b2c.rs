//! Payouts to M-Pesa phones: Daraja's B2C (`POST /mpesa/b2c/v3/paymentrequest`). Daraja accepts
//! the request and POSTs the result later to the result URL (the same secret callback path as
//! STK Push results), so a payout answers [`PayoutOutcome::InTransit`] until that result comes.
//!
//! Daraja takes an `OriginatorConversationID` but promises nothing about repeats, so, as for STK
//! Push, the payout's key is recorded durably before the request (`mpesa_payouts`, with the
//! merchant account, amount and phone) and only the call that recorded it sends: a second call
//! reports what is known. A request whose answer was lost is reconciled against the M-Pesa
//! statement, never sent again. The initiator's security credential is the one Safaricom's
//! portal encrypts for the operator: Kassa sends it as given and never logs it.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::transformers::{MpesaNumber, whole_shillings};
use super::{DarajaFailure, MpesaGateway, NAME};
use crate::payouts::{PayoutAdapter, PayoutDestination, PayoutOutcome, PayoutRequest};
use crate::time::now_unix_secs;
use crate::trees::Put;
use crate::{Currency, GatewayError, Secret};

pub(super) const PAYOUTS: &str = "mpesa_payouts";

/// The type a B2C result is listed as.
pub const B2C_RESULT_EVENT: &str = "mpesa.b2c.result";

/// B2C's largest payment: KES 250 000, in cents.
pub const TRANSACTION_MAX_MINOR: i64 = 25_000_000;

/// What B2C needs beyond the STK Push settings.
#[derive(Clone)]
pub struct B2cConfig {
    /// The B2C shortcode money is paid from (`PartyA`).
    pub shortcode: String,
    pub initiator_name: String,
    /// The initiator's password as Safaricom's portal encrypted it.
    pub security_credential: Secret,
    /// `BusinessPayment` unless set (`SalaryPayment`, `PromotionPayment`).
    pub command_id: String,
}

impl fmt::Debug for B2cConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("B2cConfig")
            .field("shortcode", &self.shortcode)
            .field("initiator_name", &self.initiator_name)
            .field("command_id", &self.command_id)
            .finish_non_exhaustive()
    }
}

/// A B2C request as recorded before it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct PayoutRecord {
    /// The merchant account paying: a result names only the key.
    pub account: String,
    pub amount_kes: u64,
    pub phone: String,
    pub created_unix_secs: i64,
    /// Daraja's ConversationID, once it accepted the request.
    pub conversation_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MpesaB2cRequest<'a> {
    #[serde(rename = "OriginatorConversationID")]
    originator_conversation_id: &'a str,
    initiator_name: &'a str,
    security_credential: &'a str,
    #[serde(rename = "CommandID")]
    command_id: &'a str,
    amount: u64,
    party_a: &'a str,
    party_b: &'a str,
    remarks: &'a str,
    #[serde(rename = "QueueTimeOutURL")]
    queue_timeout_url: &'a str,
    #[serde(rename = "ResultURL")]
    result_url: &'a str,
    occasion: &'a str,
}

#[derive(Debug, Deserialize)]
struct MpesaB2cResponse {
    #[serde(rename = "ConversationID", default)]
    conversation_id: String,
    #[serde(rename = "ResponseCode")]
    response_code: MpesaNumber,
    #[serde(rename = "ResponseDescription", default)]
    response_description: String,
}

/// A B2C result as Safaricom posts it: `{"Result": {"ResultCode", "ResultDesc",
/// "OriginatorConversationID", "ConversationID", "TransactionID", …}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct B2cResult {
    /// The payout part's key, as Kassa sent it.
    pub key: String,
    pub result_code: i64,
    pub description: String,
    pub transaction_id: String,
}

impl B2cResult {
    pub fn outcome(&self) -> PayoutOutcome {
        match self.result_code {
            0 => PayoutOutcome::Paid { reference: self.transaction_id.clone() },
            code => PayoutOutcome::Failed {
                code: failure_code(code).to_owned(),
                message: format!("M-Pesa result {code}: {}", self.description),
            },
        }
    }
}

/// Daraja's result codes as payout failure codes.
fn failure_code(result_code: i64) -> &'static str {
    match result_code {
        // The receiving number is not registered, or cannot take this kind of payment.
        2040 | 2028 | 8006 => "invalid_account_number",
        // The organisation's account cannot cover it.
        1 | 2001 => "insufficient_funds",
        _ => "could_not_process",
    }
}

/// Reads a B2C result callback; `None` when the body is not one (an STK Push result).
pub fn parse_b2c_result(payload: &[u8]) -> Option<B2cResult> {
    let body: Value = serde_json::from_slice(payload).ok()?;
    let result = body.get("Result")?;
    let code = match result.get("ResultCode")? {
        Value::Number(number) => number.as_i64()?,
        Value::String(text) => text.trim().parse().ok()?,
        _ => return None,
    };
    Some(B2cResult {
        key: result.get("OriginatorConversationID")?.as_str()?.to_owned(),
        result_code: code,
        description: result.get("ResultDesc").and_then(Value::as_str).unwrap_or("").to_owned(),
        transaction_id: result
            .get("TransactionID")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
    })
}

impl MpesaGateway {
    fn payout_record(&self, key: &str) -> Result<Option<PayoutRecord>, GatewayError> {
        match self.store.trees().get(PAYOUTS, key.as_bytes())? {
            Some(bytes) => super::store::decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The merchant account that sent the payout part `key`, for its result.
    pub fn payout_account(&self, key: &str) -> Result<Option<String>, GatewayError> {
        Ok(self.payout_record(key)?.map(|record| record.account))
    }

    async fn put_payout_record(
        &self,
        key: &str,
        record: &PayoutRecord,
    ) -> Result<(), GatewayError> {
        let encoded = super::store::encode(record);
        let trees = self.store.trees();
        trees.insert(&[Put { tree: PAYOUTS, key: key.as_bytes(), value: &encoded }])?;
        trees.sync().await
    }

    async fn send_b2c(
        &self,
        b2c: &B2cConfig,
        key: &str,
        record: &PayoutRecord,
    ) -> Result<MpesaB2cResponse, DarajaFailure> {
        let callback = self.config.callback_url.expose();
        let request = MpesaB2cRequest {
            originator_conversation_id: key,
            initiator_name: &b2c.initiator_name,
            security_credential: b2c.security_credential.expose(),
            command_id: &b2c.command_id,
            amount: record.amount_kes,
            party_a: &b2c.shortcode,
            party_b: &record.phone,
            remarks: "Payout",
            queue_timeout_url: callback,
            result_url: callback,
            occasion: key,
        };
        self.post("/mpesa/b2c/v3/paymentrequest", &request).await
    }
}

#[async_trait::async_trait]
impl PayoutAdapter for MpesaGateway {
    fn method(&self) -> &'static str {
        NAME
    }

    fn pays_to(&self, destination: &PayoutDestination) -> bool {
        self.config.b2c.is_some() && matches!(destination, PayoutDestination::Mpesa { .. })
    }

    fn transaction_max(
        &self,
        _destination: &PayoutDestination,
        _currency: Currency,
    ) -> Option<i64> {
        Some(TRANSACTION_MAX_MINOR)
    }

    /// Whole shillings only: the cents stay in the payee's balance for a later payout.
    fn payable(
        &self,
        _destination: &PayoutDestination,
        _currency: Currency,
        available: i64,
    ) -> i64 {
        available - available.rem_euclid(100)
    }

    fn check_payout(&self, request: &PayoutRequest) -> Result<(), GatewayError> {
        whole_shillings(request.amount_minor, request.currency)?;
        match &request.destination {
            PayoutDestination::Mpesa { phone } => super::normalize_phone(phone).map(drop),
            _ => Err(GatewayError::InvalidRequest("M-Pesa pays out to phones only".into())),
        }
    }

    async fn pay(&self, request: &PayoutRequest) -> Result<PayoutOutcome, GatewayError> {
        let Some(b2c) = &self.config.b2c else {
            return Err(GatewayError::NotAttempted("M-Pesa B2C is not configured".into()));
        };
        self.check_payout(request)?;
        let PayoutDestination::Mpesa { phone } = &request.destination else {
            return Err(GatewayError::InvalidRequest("M-Pesa pays out to phones only".into()));
        };
        let key = &request.idempotency_key;
        if let Some(known) = self.payout_status(request).await? {
            return Ok(known);
        }
        let record = PayoutRecord {
            account: request.account.clone(),
            amount_kes: whole_shillings(request.amount_minor, request.currency)?,
            phone: super::normalize_phone(phone)?,
            created_unix_secs: now_unix_secs(),
            conversation_id: None,
        };
        let encoded = super::store::encode(&record);
        let put = [Put { tree: PAYOUTS, key: key.as_bytes(), value: &encoded }];
        if self.store.trees().insert_unless_present(PAYOUTS, key.as_bytes(), &put)?.is_some() {
            return Err(GatewayError::Ambiguous(format!(
                "payout {key} was already sent to M-Pesa"
            )));
        }
        self.store.trees().sync().await?;
        let sent = match self.send_b2c(b2c, key, &record).await {
            Ok(answer) if answer.response_code.value() == Some(0) => answer,
            Ok(refused) => {
                self.store.trees().remove(PAYOUTS, key.as_bytes())?;
                return Err(GatewayError::InvalidRequest(format!(
                    "Daraja refused the B2C payment: {}",
                    refused.response_description
                )));
            }
            Err(failure) => {
                let error = super::push_failure(failure);
                if matches!(error, GatewayError::NotAttempted(_) | GatewayError::InvalidRequest(_))
                {
                    self.store.trees().remove(PAYOUTS, key.as_bytes())?;
                }
                return Err(error);
            }
        };
        let accepted =
            PayoutRecord { conversation_id: Some(sent.conversation_id.clone()), ..record };
        self.put_payout_record(key, &accepted).await?;
        Ok(PayoutOutcome::InTransit { reference: sent.conversation_id })
    }

    /// What the adapter knows of the payment: sent and accepted (its result comes by callback),
    /// never sent, or sent with its answer lost (for an operator to reconcile).
    async fn payout_status(
        &self,
        request: &PayoutRequest,
    ) -> Result<Option<PayoutOutcome>, GatewayError> {
        match self.payout_record(&request.idempotency_key)? {
            None => Ok(None),
            Some(PayoutRecord { conversation_id: Some(reference), .. }) => {
                Ok(Some(PayoutOutcome::InTransit { reference }))
            }
            Some(PayoutRecord { conversation_id: None, .. }) => Err(GatewayError::Ambiguous(
                "the B2C request's answer was lost; reconcile against the M-Pesa statement".into(),
            )),
        }
    }
}
