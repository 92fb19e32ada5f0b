//! Stripe: a charge is a PaymentIntent created and confirmed in one request, with the Kassa
//! charge id as its `Idempotency-Key`; refunds carry the refund id as theirs.
//!
//! How the adapter uses async-stripe (1.0 line), and where it goes around it:
//! - Requests and objects are async-stripe's (`CreatePaymentIntent`, `PaymentIntent`, …); the
//!   client is `stripe::Client`, pointed at [`StripeConfig::api_base`] with
//!   `ClientBuilder::url`, so tests and Stripe-compatible servers work.
//! - The per-request Idempotency-Key is async-stripe's `RequestStrategy::Idempotent(key)`.
//! - Retries are this adapter's own loop, not async-stripe's `ExponentialBackoff`: that strategy
//!   generates a random key instead of using ours, and its final error is the last attempt's
//!   only — a timeout in attempt 1 followed by "connection refused" in attempt 2 would look like
//!   "never sent". The loop here remembers whether ANY attempt may have reached Stripe.
//! - async-stripe turns transport errors into strings; "could not connect" is recognised by
//!   hyper-util's wording (see `transformers::CONNECT_ERROR_DISPLAY`), which is safe because the
//!   client never reuses connections.
//! - The secret key lives in [`Secret`] and, inside async-stripe, in a header value marked
//!   sensitive; neither prints it.
//!
//! A charge for a Kassa customer goes to that customer's Stripe customer, and its PaymentMethod is
//! attached to that Stripe customer before the first PaymentIntent uses them together: Stripe
//! lets a PaymentMethod that is not attached to a customer be used once only, so without the
//! attach a customer's saved card would be refused on its second charge.
//!
//! What the adapter keeps on disk is described in [`store`]; in short: one Stripe customer per
//! Kassa customer, which PaymentMethods are attached to it, and every request's parameters,
//! written durably before they are sent, so that
//! [`Gateway::retrieve`] can always find the truth (re-send under the same key while Stripe still
//! remembers it, search by metadata after that).

mod checkout;
mod currencies;
mod event;
mod payouts;
pub mod signature;
mod store;
mod transformers;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use stripe::{IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_core::customer::CreateCustomer;
use stripe_core::payment_intent::{RetrievePaymentIntent, SearchPaymentIntent};
use stripe_core::refund::{ListRefund, RetrieveRefund};
use stripe_payment::payment_method::{
    AttachPaymentMethod, DetachPaymentMethod, RetrievePaymentMethod,
};

pub use checkout::{METADATA_CHECKOUT_SESSION, METADATA_INVOICE};
pub use currencies::{
    StripeAmountError, amount_from_stripe, amount_from_stripe_code, amount_to_stripe,
};
pub use store::TREES;
use store::{AttemptParams, AttemptRecord, ReturnUrl, StripeStore};
pub use transformers::METADATA_IDEMPOTENCY_KEY;
use transformers::{AttemptFailure, StripeCallError};
pub use webhooks::StripeWebhooks;

use crate::time::now_unix_secs;
use crate::trees::Trees;
use crate::{
    Attempt, AttemptKind, ChargeOutcome, ChargeRequest, Conversion, CustomerRef, Gateway,
    GatewayError, HostedClosed, HostedPayment, HostedPaymentRequest, PaymentFee,
    PaymentMethodDetails, RefundOutcome, RefundRequest, Secret,
};

/// The name charges made through Stripe carry, and its webhook path segment.
pub const NAME: &str = "stripe";

pub const DEFAULT_API_BASE: &str = "https://api.stripe.com/";

/// Stripe keeps an Idempotency-Key's result for at least 24 hours. Within this window a re-send
/// under the same key is answered from Stripe's memory; after it, `retrieve` searches instead.
pub const IDEMPOTENCY_REPLAY_WINDOW: Duration = Duration::from_secs(23 * 3600);

#[derive(Debug, Clone)]
pub struct StripeConfig {
    /// `sk_live_…` / `sk_test_…`; never logged (see [`Secret`]).
    pub secret_key: Secret,
    /// Default [`DEFAULT_API_BASE`]; any Stripe-compatible server (a local fake in tests).
    pub api_base: String,
    /// Bound on one HTTP attempt, answer included.
    pub attempt_timeout: Duration,
    /// Attempts per request, the first included (429s, 5xx, timeouts and refused connections
    /// are retried under the same Idempotency-Key). The engine's gateway timeout should exceed
    /// `attempts_max × attempt_timeout` plus the backoff, or the engine gives up first (safely:
    /// the charge just stays `processing` until `retrieve`).
    pub attempts_max: u32,
    /// Wait before the second attempt; doubles per attempt up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Where Stripe sends the customer back after a redirect-based authentication. Without it,
    /// 3-D Secure is finished in the browser by stripe.js (`next_action.type = use_stripe_sdk`).
    pub return_url: Option<String>,
    /// How long after an attempt `retrieve` may re-send it under the same key (default
    /// [`IDEMPOTENCY_REPLAY_WINDOW`]; must stay below Stripe's 24 hours). Past it, `retrieve`
    /// searches by metadata, which is only final once Stripe's search has caught up (about a
    /// minute), so this must also stay well above that.
    pub replay_window: Duration,
}

impl StripeConfig {
    pub fn new(secret_key: impl Into<Secret>) -> StripeConfig {
        StripeConfig {
            secret_key: secret_key.into(),
            api_base: DEFAULT_API_BASE.to_owned(),
            attempt_timeout: Duration::from_secs(10),
            attempts_max: 3,
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(2),
            return_url: None,
            replay_window: IDEMPOTENCY_REPLAY_WINDOW,
        }
    }
}

#[derive(Clone)]
pub struct StripeGateway {
    client: stripe::Client,
    config: Arc<StripeConfig>,
    store: StripeStore,
}

/// The config, whose secret key [`Secret`] redacts; not the client, which holds the key too.
impl std::fmt::Debug for StripeGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeGateway").field("config", &self.config).finish_non_exhaustive()
    }
}

impl StripeGateway {
    /// Writes the attempt's parameters durably before they are sent, so `retrieve` can send the
    /// same request again; a key already recorded with other parameters is refused as ambiguous.
    async fn record_before_sending(
        &self,
        idempotency_key: &str,
        params: &AttemptParams,
    ) -> Result<(), GatewayError> {
        let record = AttemptRecord {
            params: params.clone(),
            created_unix_secs: now_unix_secs(),
            reference: None,
        };
        let recorded = self.store.record_attempt(idempotency_key, record).await?;
        if &recorded.params != params {
            return Err(GatewayError::Ambiguous(
                "this idempotency key was already sent to Stripe with other parameters".into(),
            ));
        }
        Ok(())
    }

    /// Opens the adapter's own trees in `db` (the engine's database, so the engine's group
    /// commit makes them durable through `durability`).
    pub fn open(
        trees: Arc<dyn Trees>,
        config: StripeConfig,
    ) -> Result<StripeGateway, GatewayError> {
        let client = stripe::ClientBuilder::new(config.secret_key.expose())
            .url(with_trailing_slash(&config.api_base))
            .build()
            // async-stripe's configuration errors name the field, never the key's value.
            .map_err(|error| GatewayError::NotAttempted(format!("stripe client: {error}")))?;
        let store = StripeStore::open(trees);
        Ok(StripeGateway { client, config: Arc::new(config), store })
    }

    /// The Stripe customer that stands for a Kassa customer, created on first use. The create
    /// carries an Idempotency-Key derived from the Kassa id, so concurrent first charges (or a
    /// crash before the id was remembered) still make one Stripe customer.
    pub async fn stripe_customer(&self, customer: &CustomerRef) -> Result<String, GatewayError> {
        if let Some(id) = self.store.customer(&customer.id)? {
            return Ok(id);
        }
        let mut create = CreateCustomer::new().metadata(std::collections::HashMap::from([(
            transformers::METADATA_CUSTOMER.to_owned(),
            customer.id.clone(),
        )]));
        if let Some(email) = &customer.email {
            create = create.email(email.as_str());
        }
        if let Some(name) = &customer.name {
            create = create.name(name.as_str());
        }
        let key = format!("kassa_customer_{}", customer.id);
        let created = self.send(&create, Some(&key)).await.map_err(transformers::customer_error)?;
        self.store.remember_customer(&customer.id, created.id.as_str()).await?;
        Ok(created.id.as_str().to_owned())
    }

    /// Attaches the PaymentMethod to the Stripe customer, once per pair (remembered on disk).
    /// Attaching it again to the same customer changes nothing (Stripe answers it, or refuses it
    /// as `resource_already_exists`, which counts as done), so a retried or repeated attach is
    /// harmless and needs no Idempotency-Key.
    async fn attach_once(
        &self,
        payment_method: &str,
        stripe_customer: &str,
    ) -> Result<(), GatewayError> {
        if self.store.is_attached(stripe_customer, payment_method)? {
            return Ok(());
        }
        let request = AttachPaymentMethod::new(payment_method).customer(stripe_customer);
        match self.send(&request, None).await {
            Ok(_) => {}
            Err(error) => transformers::attach_error(error)?,
        }
        self.store.remember_attached(stripe_customer, payment_method);
        Ok(())
    }

    /// Sends one request, retrying what may be retried under the same Idempotency-Key.
    async fn send<R>(
        &self,
        request: &R,
        idempotency_key: Option<&str>,
    ) -> Result<R::Output, StripeCallError>
    where
        R: StripeRequest + Sync,
        R::Output: miniserde::Deserialize + Send,
    {
        let strategy = match idempotency_key {
            Some(key) => RequestStrategy::Idempotent(
                IdempotencyKey::new(key)
                    .map_err(|error| StripeCallError::NotProcessed(error.to_string()))?,
            ),
            None => RequestStrategy::Once,
        };
        let mut maybe_delivered = false;
        let mut last_failure = String::new();
        for attempt in 0..self.config.attempts_max.max(1) {
            if attempt > 0 {
                tokio::time::sleep(self.backoff(attempt)).await;
            }
            let answer = request
                .customize()
                .request_strategy(strategy.clone())
                .timeout(self.config.attempt_timeout)
                .send(&self.client)
                .await;
            let failure = match answer {
                Ok(object) => return Ok(object),
                Err(error) => transformers::classify(error),
            };
            match failure {
                AttemptFailure::Final(error) if maybe_delivered => {
                    return Err(transformers::after_possible_delivery(error));
                }
                AttemptFailure::Final(error) => return Err(error),
                AttemptFailure::Retry { delivered, message } => {
                    tracing::warn!(attempt, delivered, reason = %message, "stripe attempt failed");
                    maybe_delivered |= delivered;
                    last_failure = message;
                }
            }
        }
        Err(match maybe_delivered {
            true => StripeCallError::Unknown(last_failure),
            false => StripeCallError::NotProcessed(last_failure),
        })
    }

    fn within_replay_window(&self, record: &AttemptRecord) -> bool {
        let age_secs = now_unix_secs().saturating_sub(record.created_unix_secs);
        age_secs < i64::try_from(self.config.replay_window.as_secs()).unwrap_or(i64::MAX)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let doubled = self.config.backoff_initial.saturating_mul(1 << (attempt - 1).min(16));
        doubled.min(self.config.backoff_max)
    }

    async fn create_intent(
        &self,
        idempotency_key: &str,
        params: &AttemptParams,
    ) -> Result<ChargeOutcome, StripeCallError> {
        let request = transformers::create_intent_request(
            idempotency_key,
            params,
            self.config.return_url.as_deref(),
        )
        .map_err(|error| StripeCallError::NotProcessed(error.to_string()))?;
        let intent = self.send(&request, Some(idempotency_key)).await?;
        self.store.note_reference(idempotency_key, intent.id.as_str());
        transformers::intent_outcome(&intent)
            .map_err(|error| StripeCallError::Unknown(error.to_string()))
    }

    async fn create_refund(
        &self,
        idempotency_key: &str,
        params: &AttemptParams,
    ) -> Result<RefundOutcome, StripeCallError> {
        let request = transformers::create_refund_request(idempotency_key, params)
            .map_err(|error| StripeCallError::NotProcessed(error.to_string()))?;
        let refund = self.send(&request, Some(idempotency_key)).await?;
        self.store.note_reference(idempotency_key, refund.id.as_str());
        Ok(transformers::refund_outcome(&refund))
    }

    async fn retrieve_charge(
        &self,
        idempotency_key: &str,
        record: &AttemptRecord,
    ) -> Result<Option<ChargeOutcome>, GatewayError> {
        let intent_id = match &record.reference {
            Some(id) => id.clone(),
            None if self.within_replay_window(record) => {
                // The same request under the same key: Stripe answers with the original
                // PaymentIntent (or replays the original decline) if the first request landed,
                // and carries it out now if it never did. Either way the answer is final.
                let outcome = match self.create_intent(idempotency_key, &record.params).await {
                    Ok(outcome) => outcome,
                    Err(error) => return replayed_charge_error(error),
                };
                // The replay is the state at creation; ask for the intent's state now (the
                // customer may have finished 3-D Secure since).
                match outcome_reference(&outcome) {
                    Some(id) => id,
                    None => return Ok(Some(outcome)),
                }
            }
            None => match self.search_intent(idempotency_key).await? {
                Some(id) => id,
                // Past Stripe's key memory and its search lag alike: nothing was ever made.
                None => return Ok(None),
            },
        };
        let request = RetrievePaymentIntent::new(intent_id.as_str())
            .expand(vec![transformers::EXPAND_FEE.to_owned()]);
        let intent = self.send(&request, None).await.map_err(transformers::lookup_error)?;
        transformers::intent_outcome(&intent).map(Some)
    }

    async fn search_intent(&self, idempotency_key: &str) -> Result<Option<String>, GatewayError> {
        let request = SearchPaymentIntent::new(transformers::search_query(idempotency_key));
        let found = self.send(&request, None).await.map_err(transformers::lookup_error)?;
        Ok(found.data.first().map(|intent| intent.id.as_str().to_owned()))
    }

    async fn retrieve_refund(
        &self,
        idempotency_key: &str,
        record: &AttemptRecord,
    ) -> Result<Option<RefundOutcome>, GatewayError> {
        let refund_id = match &record.reference {
            Some(id) => id.clone(),
            None if self.within_replay_window(record) => {
                match self.create_refund(idempotency_key, &record.params).await {
                    // Created as pending: ask how it stands now.
                    Ok(RefundOutcome::Pending { reference }) => reference,
                    Ok(outcome) => return Ok(Some(outcome)),
                    Err(error) => return replayed_refund_error(error),
                }
            }
            None => match self.list_refund(idempotency_key, &record.params).await? {
                Some(id) => id,
                None => return Ok(None),
            },
        };
        let request = RetrieveRefund::new(refund_id.as_str())
            .expand(vec![transformers::EXPAND_REFUND_BALANCE.to_owned()]);
        let refund = self.send(&request, None).await.map_err(transformers::lookup_error)?;
        Ok(Some(transformers::refund_outcome(&refund)))
    }

    /// Refunds cannot be searched; the charge's refunds are few, so they are listed instead.
    async fn list_refund(
        &self,
        idempotency_key: &str,
        params: &AttemptParams,
    ) -> Result<Option<String>, GatewayError> {
        let AttemptParams::Refund { payment_intent, .. } = params else {
            return Err(GatewayError::Storage("a refund key holds charge parameters".into()));
        };
        let request = ListRefund::new().payment_intent(payment_intent.as_str()).limit(100);
        let listed = self.send(&request, None).await.map_err(transformers::lookup_error)?;
        let made_with_key = |refund: &&transformers::StripeRefund| {
            refund
                .metadata
                .as_ref()
                .and_then(|metadata| metadata.get(transformers::METADATA_IDEMPOTENCY_KEY))
                == Some(&idempotency_key.to_owned())
        };
        Ok(listed.data.iter().find(made_with_key).map(|refund| refund.id.as_str().to_owned()))
    }
}

/// Kassa's amount in Stripe's unit, or the refusal of one Stripe cannot take exactly: nothing
/// moved, and the request can never succeed here as asked.
fn wire_amount(amount_minor: i64, currency: crate::Currency) -> Result<i64, GatewayError> {
    amount_to_stripe(amount_minor, currency)
        .map_err(|error| GatewayError::InvalidRequest(error.to_string()))
}

fn with_trailing_slash(base: &str) -> String {
    // async-stripe appends `v1/…` to the base as text.
    match base.ends_with('/') {
        true => base.to_owned(),
        false => format!("{base}/"),
    }
}

fn outcome_reference(outcome: &ChargeOutcome) -> Option<String> {
    match outcome {
        ChargeOutcome::Succeeded { reference, .. }
        | ChargeOutcome::RequiresAction { reference, .. }
        | ChargeOutcome::Pending { reference } => Some(reference.clone()),
        ChargeOutcome::Declined { .. } => None,
    }
}

/// A re-sent create that failed, seen from `retrieve`. A refusal of the re-send says nothing of
/// the original (Stripe may just be unreachable now), so only Stripe's answers about THIS
/// request settle anything: a 400 (invalid) or 402 (card declined) is Stripe having processed
/// the request under this key — it answers a key it remembers with the original response — and
/// refusing it. A 401/403 (a rotated or restricted key), 404 (a wrong base URL), 409 or 429 is
/// Stripe refusing to look at the request at all: the original may still have charged.
fn replayed_charge_error(error: StripeCallError) -> Result<Option<ChargeOutcome>, GatewayError> {
    match error {
        StripeCallError::NotProcessed(message) | StripeCallError::Unknown(message) => {
            Err(GatewayError::Ambiguous(message))
        }
        answered @ StripeCallError::Answered { status: 400 | 402, .. } => {
            match transformers::charge_error(answered) {
                Ok(outcome) => Ok(Some(outcome)),
                // Stripe refused this key's request (and replays that refusal to every
                // re-send): no money moved under it, nor ever will.
                Err(
                    GatewayError::NotAttempted(_)
                    | GatewayError::InvalidRequest(_)
                    | GatewayError::InvalidPaymentMethod(_),
                ) => Ok(None),
                Err(other) => Err(other),
            }
        }
        not_about_the_request @ StripeCallError::Answered { .. } => {
            Err(transformers::lookup_error(not_about_the_request))
        }
    }
}

/// As [`replayed_charge_error`]: only a 400/402 is Stripe's answer about the refund itself (an
/// unknown refund taken as failed would let a second refund through).
fn replayed_refund_error(error: StripeCallError) -> Result<Option<RefundOutcome>, GatewayError> {
    match error {
        StripeCallError::NotProcessed(message) | StripeCallError::Unknown(message) => {
            Err(GatewayError::Ambiguous(message))
        }
        answered @ StripeCallError::Answered { status: 400 | 402, .. } => {
            transformers::refund_error(answered).map(Some)
        }
        not_about_the_refund @ StripeCallError::Answered { .. } => {
            Err(transformers::lookup_error(not_about_the_refund))
        }
    }
}

#[async_trait::async_trait]
impl Gateway for StripeGateway {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn start_hosted_payment(
        &self,
        request: &HostedPaymentRequest,
    ) -> Result<HostedPayment, GatewayError> {
        self.create_checkout_session(request).await
    }

    async fn close_hosted_payment(&self, reference: &str) -> Result<HostedClosed, GatewayError> {
        self.expire_checkout_session(reference).await
    }

    /// The PaymentIntent read with its charge's balance transaction expanded: the fee, once it
    /// succeeded.
    async fn charge_fee(&self, reference: &str) -> Result<Option<PaymentFee>, GatewayError> {
        let request =
            RetrievePaymentIntent::new(reference).expand(vec![transformers::EXPAND_FEE.to_owned()]);
        let intent = self.send(&request, None).await.map_err(transformers::lookup_error)?;
        let succeeded = intent.status == stripe_shared::PaymentIntentStatus::Succeeded;
        Ok(succeeded.then(|| transformers::reported_fee(&intent)))
    }

    /// The Refund read with its balance transaction expanded: what it took where Stripe took
    /// it from the account's balance in another currency.
    async fn refund_conversion(&self, reference: &str) -> Result<Option<Conversion>, GatewayError> {
        let request =
            RetrieveRefund::new(reference).expand(vec![transformers::EXPAND_REFUND_BALANCE.into()]);
        let refund = self.send(&request, None).await.map_err(transformers::lookup_error)?;
        Ok(transformers::converted(&refund))
    }

    /// Detaches the PaymentMethod from its Stripe customer. One Stripe does not know (404), or
    /// that is attached to no customer (400), is detached already.
    async fn forget_payment_method(&self, token: &str) -> Result<(), GatewayError> {
        let token = transformers::checked_payment_method(token)?;
        match self.send(&DetachPaymentMethod::new(token), None).await {
            Ok(_) | Err(StripeCallError::Answered { status: 400 | 404, .. }) => Ok(()),
            Err(StripeCallError::NotProcessed(message)) => Err(GatewayError::NotAttempted(message)),
            Err(other) => Err(transformers::lookup_error(other)),
        }
    }

    async fn describe_payment_method(
        &self,
        token: &str,
    ) -> Result<PaymentMethodDetails, GatewayError> {
        let token = transformers::checked_payment_method(token)?;
        let request = RetrievePaymentMethod::new(token);
        match self.send(&request, None).await {
            Ok(method) => Ok(transformers::payment_method_details(&method)),
            Err(StripeCallError::Answered { status: 404, .. }) => {
                Err(GatewayError::InvalidPaymentMethod(
                    "Stripe does not know this payment method".into(),
                ))
            }
            Err(StripeCallError::NotProcessed(message)) => Err(GatewayError::NotAttempted(message)),
            Err(other) => Err(transformers::lookup_error(other)),
        }
    }

    /// Refuses what Stripe cannot take exactly (see [`currencies`]): the engine asks before it
    /// records the charge, so the client gets a 400 and nothing is kept.
    fn check_charge(&self, request: &ChargeRequest) -> Result<(), GatewayError> {
        wire_amount(request.amount_minor, request.currency).map(|_| ())
    }

    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, GatewayError> {
        // Checked again here, before the customer is made or anything is recorded: a caller
        // that did not ask `check_charge` gets the same refusal, and nothing reaches Stripe.
        let stripe_amount = wire_amount(request.amount_minor, request.currency)?;
        let payment_method = transformers::checked_payment_method(&request.payment_method_token)?;
        let customer = match &request.customer {
            Some(customer) => Some(self.stripe_customer(customer).await?),
            None => None,
        };
        if let Some(stripe_customer) = &customer {
            self.attach_once(payment_method, stripe_customer).await?;
        }
        let params = AttemptParams::Charge {
            amount_minor: request.amount_minor,
            currency: request.currency,
            payment_method: payment_method.to_owned(),
            customer,
            description: request.description.clone(),
            return_url: ReturnUrl::Sent(self.config.return_url.clone()),
            off_session: request.off_session,
            stripe_amount: Some(stripe_amount),
        };
        self.record_before_sending(&request.idempotency_key, &params).await?;
        match self.create_intent(&request.idempotency_key, &params).await {
            Ok(outcome) => Ok(outcome),
            Err(error) => transformers::charge_error(error),
        }
    }

    fn check_refund(&self, request: &RefundRequest) -> Result<(), GatewayError> {
        wire_amount(request.amount_minor, request.currency).map(|_| ())
    }

    async fn refund(&self, request: &RefundRequest) -> Result<RefundOutcome, GatewayError> {
        let stripe_amount = wire_amount(request.amount_minor, request.currency)?;
        let params = AttemptParams::Refund {
            payment_intent: request.charge_reference.clone(),
            amount_minor: request.amount_minor,
            stripe_amount: Some(stripe_amount),
        };
        self.record_before_sending(&request.idempotency_key, &params).await?;
        match self.create_refund(&request.idempotency_key, &params).await {
            Ok(outcome) => Ok(outcome),
            Err(error) => transformers::refund_error(error),
        }
    }

    async fn retrieve(
        &self,
        kind: AttemptKind,
        idempotency_key: &str,
    ) -> Result<Option<Attempt>, GatewayError> {
        // Written before anything was sent: without a record, the key never reached Stripe.
        let Some(record) = self.store.attempt(idempotency_key)? else {
            return Ok(None);
        };
        match (kind, &record.params) {
            (AttemptKind::Charge, AttemptParams::Charge { .. }) => {
                Ok(self.retrieve_charge(idempotency_key, &record).await?.map(Attempt::Charge))
            }
            (AttemptKind::Refund, AttemptParams::Refund { .. }) => {
                Ok(self.retrieve_refund(idempotency_key, &record).await?.map(Attempt::Refund))
            }
            (
                AttemptKind::Charge,
                AttemptParams::Refund { .. } | AttemptParams::Transfer { .. },
            )
            | (
                AttemptKind::Refund,
                AttemptParams::Charge { .. } | AttemptParams::Transfer { .. },
            ) => Err(GatewayError::Storage(format!(
                "idempotency key holds a different kind of attempt than {kind:?}"
            ))),
        }
    }
}
