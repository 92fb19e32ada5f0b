//! M-Pesa through Safaricom's Daraja API, STK Push ("Lipa na M-Pesa Online"): Kassa asks
//! Daraja to prompt the customer's phone; the customer enters their PIN; Safaricom POSTs the
//! result to the callback URL. So a charge answers [`ChargeOutcome::Pending`] with the
//! CheckoutRequestID as its reference and stays `processing` until then.
//!
//! What the engine does with it:
//! - A payment method is a phone number: [`normalize_phone`] (also what
//!   `describe_payment_method` checks) gives the token to store, `2547XXXXXXXX`/`2541XXXXXXXX`.
//! - Before recording a charge, `check_charge` (through `Router::check_charge`) refuses
//!   non-KES currencies, amounts that are not whole shillings and bad numbers: a 400.
//! - `POST /v1/webhooks/mpesa/{token}` ([`MpesaCallbacks`], authenticated by the secret path
//!   token, as Safaricom's callbacks carry no signature): [`parse_callback`] reads the raw body
//!   into an [`MpesaSettlement`], and the engine settles the charge whose gateway reference is
//!   `checkout_request_id` (or the one [`MpesaGateway::idempotency_key_for`] names) with
//!   [`MpesaSettlement::outcome`], moving forward only (a duplicate callback changes nothing).
//!   Always answer 200 — also for an unknown CheckoutRequestID or an unparsable body (log
//!   those) — or Safaricom keeps retrying.
//! - When no callback comes in time, the engine's reconcile loop calls `retrieve`, which asks the
//!   STK query API; `Pending` from it means "ask again later".
//! - Refunds are M-Pesa reversals, a different Daraja API with its own callbacks: not
//!   supported here, `check_refund` (and `refund`) answer [`GatewayError::InvalidRequest`].
//!
//! Payouts to M-Pesa phones go through Daraja's B2C where it is configured (see [`b2c`]).
//!
//! Daraja has no idempotency key, so this adapter keeps one: the charge's key is recorded
//! durably before the push, and a second `charge` with a recorded key never pushes again.
//! A push whose answer was lost (timeout) leaves no CheckoutRequestID to query: that charge stays
//! ambiguous for an operator to reconcile against the M-Pesa statement (the prompt may or may
//! not have reached the phone; pushing again could charge twice).

mod b2c;
mod callbacks;
mod store;
mod transformers;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use tokio::sync::Mutex;
use tokio::time::Instant;

pub use b2c::{B2C_RESULT_EVENT, B2cConfig, B2cResult, parse_b2c_result};
pub use callbacks::{MpesaCallbacks, STK_RESULT_EVENT};
pub use store::TREES;
use store::{MpesaAttemptRecord, MpesaStore};
use transformers::{
    MpesaErrorResponse, MpesaStkPushRequest, MpesaStkPushResponse, MpesaStkQueryRequest,
    MpesaStkQueryResponse, MpesaTokenResponse,
};

pub use transformers::{
    MpesaCallbackError, MpesaResult, MpesaSettlement, nairobi_timestamp, normalize_phone,
    parse_callback, stk_password, whole_shillings,
};

use crate::time::now_unix_secs;
use crate::trees::Trees;
use crate::{
    Attempt, AttemptKind, ChargeOutcome, ChargeRequest, Gateway, GatewayError,
    PaymentMethodDetails, PaymentMethodType, RefundOutcome, RefundRequest, Secret,
};

/// The name charges made through M-Pesa carry, and its webhook path segment.
pub const NAME: &str = "mpesa";

/// Daraja's sandbox; production is `https://api.safaricom.co.ke`.
pub const DEFAULT_API_BASE: &str = "https://sandbox.safaricom.co.ke";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpesaTransactionType {
    /// A paybill number: `PartyB` is the shortcode.
    PayBill,
    /// A till number ("Buy Goods"): `PartyB` is the till, which differs from the shortcode.
    BuyGoods,
}

impl MpesaTransactionType {
    fn as_str(self) -> &'static str {
        match self {
            MpesaTransactionType::PayBill => "CustomerPayBillOnline",
            MpesaTransactionType::BuyGoods => "CustomerBuyGoodsOnline",
        }
    }
}

#[derive(Debug, Clone)]
pub struct MpesaConfig {
    pub consumer_key: Secret,
    pub consumer_secret: Secret,
    /// The business shortcode (paybill or head office number).
    pub shortcode: String,
    pub passkey: Secret,
    pub api_base: String,
    /// The full callback URL Safaricom POSTs results to, path token included:
    /// `{callback_base}/v1/webhooks/mpesa/{token}`. It holds a secret, so it is a [`Secret`].
    pub callback_url: Secret,
    pub transaction_type: MpesaTransactionType,
    /// The till number for [`MpesaTransactionType::BuyGoods`]; the shortcode otherwise.
    pub party_b: Option<String>,
    /// Shown on the customer's prompt and statement (Daraja keeps 12 characters).
    pub account_reference: String,
    /// Bound on one Daraja HTTP call, answer included.
    pub request_timeout: Duration,
    /// A cached OAuth token is replaced this long before Daraja says it expires.
    pub token_refresh_margin: Duration,
    /// Payouts to phones (B2C), where configured.
    pub b2c: Option<B2cConfig>,
}

impl MpesaConfig {
    pub fn new(
        consumer_key: impl Into<Secret>,
        consumer_secret: impl Into<Secret>,
        shortcode: impl Into<String>,
        passkey: impl Into<Secret>,
        callback_url: impl Into<Secret>,
    ) -> MpesaConfig {
        MpesaConfig {
            consumer_key: consumer_key.into(),
            consumer_secret: consumer_secret.into(),
            shortcode: shortcode.into(),
            passkey: passkey.into(),
            api_base: DEFAULT_API_BASE.to_owned(),
            callback_url: callback_url.into(),
            transaction_type: MpesaTransactionType::PayBill,
            party_b: None,
            account_reference: "Kassa".to_owned(),
            request_timeout: Duration::from_secs(15),
            token_refresh_margin: Duration::from_secs(60),
            b2c: None,
        }
    }
}

struct CachedToken {
    token: Secret,
    refresh_at: Instant,
}

#[derive(Clone)]
pub struct MpesaGateway {
    http: reqwest::Client,
    config: Arc<MpesaConfig>,
    /// One OAuth token for all pushes; the lock is held while fetching so that concurrent
    /// pushes share one token request.
    token: Arc<Mutex<Option<CachedToken>>>,
    store: MpesaStore,
}

/// The config (its secrets redacted by [`Secret`]); never the OAuth token.
impl std::fmt::Debug for MpesaGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpesaGateway").field("config", &self.config).finish_non_exhaustive()
    }
}

/// How a Daraja call failed, before it is given a meaning.
enum DarajaFailure {
    /// Never left: connection refused, DNS, TLS.
    NotSent(String),
    /// Sent, no usable answer: timeout, broken connection.
    NoAnswer(String),
    /// Daraja answered with an error status.
    Status { status: u16, error: MpesaErrorResponse },
    /// Daraja answered 2xx with a body this adapter cannot read.
    Unreadable(String),
}

impl DarajaFailure {
    fn describe(&self) -> String {
        match self {
            DarajaFailure::NotSent(message)
            | DarajaFailure::NoAnswer(message)
            | DarajaFailure::Unreadable(message) => message.clone(),
            DarajaFailure::Status { status, error } => {
                format!("Daraja answered {status} ({}): {}", error.error_code, error.error_message)
            }
        }
    }
}

fn transport_failure(error: reqwest::Error) -> DarajaFailure {
    // reqwest's Display never includes the request's headers or body (no credentials).
    match error.is_connect() {
        true => DarajaFailure::NotSent(format!("could not reach Daraja: {error}")),
        false => DarajaFailure::NoAnswer(format!("no answer from Daraja: {error}")),
    }
}

impl MpesaGateway {
    pub fn open(trees: Arc<dyn Trees>, config: MpesaConfig) -> Result<MpesaGateway, GatewayError> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .build()
            .map_err(|error| GatewayError::NotAttempted(format!("M-Pesa client: {error}")))?;
        Ok(MpesaGateway {
            http,
            config: Arc::new(config),
            token: Arc::new(Mutex::new(None)),
            store: MpesaStore::open(trees),
        })
    }

    /// The charge idempotency key whose push got this CheckoutRequestID, for a callback.
    pub fn idempotency_key_for(
        &self,
        checkout_request_id: &str,
    ) -> Result<Option<String>, GatewayError> {
        self.store.key_for_checkout(checkout_request_id)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.api_base.trim_end_matches('/'))
    }

    /// A valid OAuth token, from the cache unless it is (nearly) expired.
    async fn access_token(&self) -> Result<Secret, DarajaFailure> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref().filter(|token| Instant::now() < token.refresh_at) {
            return Ok(token.token.clone());
        }
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.config.consumer_key.expose(),
            self.config.consumer_secret.expose()
        ));
        let response = self
            .http
            .get(self.url("/oauth/v1/generate?grant_type=client_credentials"))
            .header(reqwest::header::AUTHORIZATION, format!("Basic {credentials}"))
            .send()
            .await
            .map_err(transport_failure)?;
        let token: MpesaTokenResponse = read(response).await?;
        let lifetime_secs = token.expires_in.value().and_then(|secs| u64::try_from(secs).ok());
        let lifetime = Duration::from_secs(lifetime_secs.unwrap_or(0));
        let refresh_at = Instant::now() + lifetime.saturating_sub(self.config.token_refresh_margin);
        let token = Secret::new(token.access_token);
        *cached = Some(CachedToken { token: token.clone(), refresh_at });
        Ok(token)
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    /// POSTs JSON with the bearer token; a 401 (token revoked or expired early) fetches a new
    /// token and tries once more — safe, since Daraja refused the first before acting.
    async fn post<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, DarajaFailure> {
        let mut refreshed = false;
        loop {
            // Without a token nothing was pushed, whatever went wrong fetching it.
            let token = self.access_token().await.map_err(|failure| {
                DarajaFailure::NotSent(format!("no OAuth token: {}", failure.describe()))
            })?;
            let response = self
                .http
                .post(self.url(path))
                .bearer_auth(token.expose())
                .json(body)
                .send()
                .await
                .map_err(transport_failure)?;
            if response.status() == reqwest::StatusCode::UNAUTHORIZED && !refreshed {
                self.forget_token().await;
                refreshed = true;
                continue;
            }
            return read(response).await;
        }
    }

    fn password_and_timestamp(&self) -> (String, String) {
        let timestamp = nairobi_timestamp(now_unix_secs());
        let password =
            stk_password(&self.config.shortcode, self.config.passkey.expose(), &timestamp);
        (password, timestamp)
    }

    async fn push(
        &self,
        record: &MpesaAttemptRecord,
        description: Option<&str>,
    ) -> Result<MpesaStkPushResponse, DarajaFailure> {
        let (password, timestamp) = self.password_and_timestamp();
        let request = MpesaStkPushRequest {
            business_short_code: self.config.shortcode.clone(),
            password,
            timestamp,
            transaction_type: self.config.transaction_type.as_str(),
            amount: record.amount_kes,
            party_a: record.phone.clone(),
            party_b: self.config.party_b.clone().unwrap_or_else(|| self.config.shortcode.clone()),
            phone_number: record.phone.clone(),
            callback_url: self.config.callback_url.expose().to_owned(),
            account_reference: transformers::truncated(&self.config.account_reference, 12),
            transaction_desc: transformers::truncated(description.unwrap_or("Payment"), 13),
        };
        self.post("/mpesa/stkpush/v1/processrequest", &request).await
    }

    /// Asks Daraja how an STK Push ended.
    async fn query(&self, checkout_request_id: &str) -> Result<ChargeOutcome, GatewayError> {
        let (password, timestamp) = self.password_and_timestamp();
        let request = MpesaStkQueryRequest {
            business_short_code: self.config.shortcode.clone(),
            password,
            timestamp,
            checkout_request_id: checkout_request_id.to_owned(),
        };
        let pending = || ChargeOutcome::Pending { reference: checkout_request_id.to_owned() };
        match self.post::<_, MpesaStkQueryResponse>("/mpesa/stkpushquery/v1/query", &request).await
        {
            Ok(answer) => match answer.result_code.as_ref().and_then(|code| code.value()) {
                Some(code) if transformers::query_result_is_final(code) => {
                    Ok(MpesaResult::from_code(code)
                        .outcome(checkout_request_id, &answer.result_description))
                }
                // Still being processed (4999), or a code this adapter does not know: failing
                // the charge on it could fail one the customer is paying; ask again later.
                Some(code) => {
                    tracing::info!(
                        checkout_request_id,
                        result_code = code,
                        result_description = %answer.result_description,
                        "STK query: not final yet"
                    );
                    Ok(pending())
                }
                None => Ok(pending()),
            },
            Err(DarajaFailure::Status { error, .. })
                if error.error_code == transformers::STILL_PROCESSING_ERROR_CODE =>
            {
                Ok(pending())
            }
            Err(failure) => Err(GatewayError::Ambiguous(failure.describe())),
        }
    }

    fn checked(&self, request: &ChargeRequest) -> Result<(u64, String), GatewayError> {
        let amount_kes = whole_shillings(request.amount_minor, request.currency)?;
        let phone = normalize_phone(&request.payment_method_token)?;
        Ok((amount_kes, phone))
    }
}

/// Reads a Daraja answer: the expected JSON on 2xx, its error JSON otherwise.
async fn read<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, DarajaFailure> {
    let status = response.status();
    let body = response.bytes().await.map_err(transport_failure)?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|error| {
            DarajaFailure::Unreadable(format!("unreadable Daraja answer: {error}"))
        });
    }
    let error = serde_json::from_slice(&body).unwrap_or(MpesaErrorResponse {
        error_code: String::new(),
        error_message: String::from_utf8_lossy(&body).chars().take(200).collect(),
    });
    Err(DarajaFailure::Status { status: status.as_u16(), error })
}

/// Why an M-Pesa payment cannot be refunded: Kassa does not speak Daraja's reversal API.
fn no_reversals() -> GatewayError {
    GatewayError::InvalidRequest(
        "M-Pesa payments have no reversal through Kassa: refund to the customer's phone with \
         `destination: {type: \"mpesa\", phone}` (paid by B2C), or record one made outside \
         with `settled_outside: true`"
            .into(),
    )
}

/// What a failed push means: never sent, refused before acting, or unknown.
fn push_failure(failure: DarajaFailure) -> GatewayError {
    match failure {
        DarajaFailure::NotSent(_) => GatewayError::NotAttempted(failure.describe()),
        // 4xx: Daraja validated and refused the request (bad number, bad shortcode, bad token):
        // nothing moved, but Daraja is up, so it is no outage for the breaker.
        DarajaFailure::Status { status: 400..=499, .. } => {
            GatewayError::InvalidRequest(failure.describe())
        }
        DarajaFailure::Status { .. }
        | DarajaFailure::NoAnswer(_)
        | DarajaFailure::Unreadable(_) => GatewayError::Ambiguous(failure.describe()),
    }
}

#[async_trait::async_trait]
impl Gateway for MpesaGateway {
    fn name(&self) -> &'static str {
        NAME
    }

    fn takes(&self, method: PaymentMethodType) -> bool {
        method == PaymentMethodType::Mpesa
    }

    async fn describe_payment_method(
        &self,
        token: &str,
    ) -> Result<PaymentMethodDetails, GatewayError> {
        normalize_phone(token)?;
        Ok(PaymentMethodDetails { card: None })
    }

    fn check_charge(&self, request: &ChargeRequest) -> Result<(), GatewayError> {
        self.checked(request).map(drop)
    }

    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, GatewayError> {
        let (amount_kes, phone) = self.checked(request)?;
        // Daraja has no idempotency key: the local record is one. Only the call that records
        // the key pushes; any later call with it reports what is known.
        let record = MpesaAttemptRecord {
            amount_kes,
            phone,
            created_unix_secs: now_unix_secs(),
            checkout_request_id: None,
        };
        let Some(record) = self.store.record_first(&request.idempotency_key, record).await? else {
            return match self.store.attempt(&request.idempotency_key)? {
                Some(MpesaAttemptRecord { checkout_request_id: Some(reference), .. }) => {
                    Ok(ChargeOutcome::Pending { reference })
                }
                _ => Err(GatewayError::Ambiguous(
                    "an STK Push with this key was already sent; its answer is not known".into(),
                )),
            };
        };
        let pushed = match self.push(&record, request.description.as_deref()).await {
            Ok(pushed) if pushed.response_code.value() == Some(0) => pushed,
            Ok(refused) => {
                self.store.forget(&request.idempotency_key).await?;
                return Err(GatewayError::InvalidRequest(format!(
                    "Daraja refused the STK Push: {}",
                    refused.response_description
                )));
            }
            Err(failure) => {
                let error = push_failure(failure);
                // Never sent, or refused before acting: the key is free again, and `retrieve`
                // says so.
                if matches!(error, GatewayError::NotAttempted(_) | GatewayError::InvalidRequest(_))
                {
                    self.store.forget(&request.idempotency_key).await?;
                }
                return Err(error);
            }
        };
        self.store.note_checkout(&request.idempotency_key, &pushed.checkout_request_id).await?;
        tracing::info!(
            merchant_request_id = %pushed.merchant_request_id,
            checkout_request_id = %pushed.checkout_request_id,
            "STK Push accepted"
        );
        Ok(ChargeOutcome::Pending { reference: pushed.checkout_request_id })
    }

    fn check_refund(&self, _request: &RefundRequest) -> Result<(), GatewayError> {
        Err(no_reversals())
    }

    fn refunds_to_the_payer(&self) -> bool {
        false
    }

    /// The engine asks `check_refund` first; a caller that did not gets the same refusal.
    async fn refund(&self, _request: &RefundRequest) -> Result<RefundOutcome, GatewayError> {
        Err(no_reversals())
    }

    async fn retrieve(
        &self,
        kind: AttemptKind,
        idempotency_key: &str,
    ) -> Result<Option<Attempt>, GatewayError> {
        match kind {
            // No refund is ever sent to Daraja.
            AttemptKind::Refund => Ok(None),
            AttemptKind::Charge => match self.store.attempt(idempotency_key)? {
                None => Ok(None),
                Some(MpesaAttemptRecord { checkout_request_id: Some(reference), .. }) => {
                    Ok(Some(Attempt::Charge(self.query(&reference).await?)))
                }
                Some(MpesaAttemptRecord { checkout_request_id: None, .. }) => {
                    Err(GatewayError::Ambiguous(
                        "the STK Push's answer was lost; reconcile against the M-Pesa statement"
                            .into(),
                    ))
                }
            },
        }
    }
}
