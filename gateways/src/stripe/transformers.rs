//! Stripe's wire types (async-stripe's generated structs, aliased with the gateway's prefix) and
//! the conversions between them and Kassa's gateway types. Pure functions: no I/O here.

use std::collections::HashMap;
use std::str::FromStr;

use stripe::{ApiErrors, ApiErrorsCode, ApiErrorsType, StripeError};
use stripe_core::payment_intent::{
    CreatePaymentIntent, CreatePaymentIntentAutomaticPaymentMethods,
    CreatePaymentIntentAutomaticPaymentMethodsAllowRedirects, CreatePaymentIntentOffSession,
};
use stripe_core::refund::CreateRefund;
use stripe_shared::PaymentIntentStatus;
use stripe_types::Expandable;

use super::amount_from_stripe_code;
use super::store::{AttemptParams, ReturnUrl};
use crate::{
    CardDetails, ChargeOutcome, Conversion, Currency, DeclineCode, GatewayError, NextAction,
    PaymentFee, PaymentMethodDetails, RefundOutcome, Secret,
};

pub(super) type StripePaymentIntent = stripe_shared::PaymentIntent;
pub(super) type StripeRefund = stripe_shared::Refund;
pub(super) type StripePaymentMethod = stripe_shared::PaymentMethod;
pub(super) type StripeCurrency = stripe_types::Currency;

/// The metadata key that ties a PaymentIntent or Refund to the Kassa idempotency key it was
/// made with: what `retrieve` searches by once Stripe has forgotten the Idempotency-Key.
pub const METADATA_IDEMPOTENCY_KEY: &str = "kassa_idempotency_key";
/// The metadata key on a Stripe customer naming the Kassa customer it stands for.
pub(super) const METADATA_CUSTOMER: &str = "kassa_customer";
/// Asked of every PaymentIntent Stripe answers with: its charge's balance transaction, which
/// carries the fee Stripe kept.
pub(super) const EXPAND_FEE: &str = "latest_charge.balance_transaction";

/// What a refund is asked for with: what it took from the balance, in the balance's currency.
pub(super) const EXPAND_REFUND_BALANCE: &str = "balance_transaction";

/// How one call to Stripe ended, once its retries are spent.
#[derive(Debug)]
pub(super) enum StripeCallError {
    /// Stripe answered with its error object: a decisive answer about this request.
    Answered { status: u16, error: Box<ApiErrors> },
    /// Provably not processed: no attempt got further than connecting, or Stripe rate-limited it.
    NotProcessed(String),
    /// May have been processed (a timeout, a broken connection, a 5xx, an unreadable answer).
    Unknown(String),
}

/// What one HTTP attempt's failure allows next.
#[derive(Debug)]
pub(super) enum AttemptFailure {
    /// Worth another attempt under the same Idempotency-Key. `delivered`: the request may have
    /// reached Stripe, so if no later attempt answers, the outcome is unknown.
    Retry {
        delivered: bool,
        message: String,
    },
    Final(StripeCallError),
}

/// async-stripe reports every transport failure as `ClientError(String)` (hyper-util's error,
/// stringified), so "could not connect" is recognised by hyper-util's Display of its `Connect`
/// kind. The client keeps no idle connections (`pool_max_idle_per_host(0)`), so a connect error
/// always means this request was never written to a socket.
const CONNECT_ERROR_DISPLAY: &str = "client error (Connect)";

pub(super) fn classify(error: StripeError) -> AttemptFailure {
    match error {
        StripeError::Stripe(error, status) => match status {
            // Rate limited before any processing: retry, nothing happened.
            429 => AttemptFailure::Retry { delivered: false, message: describe(&error, status) },
            // 409: another request with this key is still running at Stripe. 5xx: Stripe may
            // have acted. Both are settled by retrying with the same key.
            409 | 500..=599 => {
                AttemptFailure::Retry { delivered: true, message: describe(&error, status) }
            }
            _ => AttemptFailure::Final(StripeCallError::Answered { status, error }),
        },
        StripeError::ClientError(message) => {
            let delivered = !message.contains(CONNECT_ERROR_DISPLAY);
            AttemptFailure::Retry { delivered, message }
        }
        StripeError::Timeout => AttemptFailure::Retry {
            delivered: true,
            message: "no answer from Stripe within the attempt timeout".into(),
        },
        // An answer came but could not be read (a proxy's HTML 502, or a shape async-stripe
        // does not know): Stripe may have acted, and resending would read the same.
        StripeError::JSONDeserialize(message) => {
            AttemptFailure::Final(StripeCallError::Unknown(format!("unreadable answer: {message}")))
        }
        StripeError::ConfigError(message) => {
            AttemptFailure::Final(StripeCallError::NotProcessed(message))
        }
    }
}

/// A later attempt's final failure, once an earlier attempt may have reached Stripe (it timed
/// out, or got a 5xx or a 409). A card decline is still Stripe's answer under the key: Stripe
/// replays the original outcome, or this attempt was the one it processed. Anything else — a
/// refusal (Stripe saves no result for a request that fails validation, so the earlier attempt
/// could still be carried out after it), a config error on our side — describes only this
/// attempt, and the earlier one may have charged: unknown, never "not processed".
pub(super) fn after_possible_delivery(error: StripeCallError) -> StripeCallError {
    let earlier = "an earlier attempt may have reached Stripe, then";
    match error {
        StripeCallError::Answered { status, error } => match error.type_ {
            ApiErrorsType::CardError => StripeCallError::Answered { status, error },
            _ => StripeCallError::Unknown(format!("{earlier} {}", describe(&error, status))),
        },
        StripeCallError::NotProcessed(message) => {
            StripeCallError::Unknown(format!("{earlier} {message}"))
        }
        unknown @ StripeCallError::Unknown(_) => unknown,
    }
}

fn describe(error: &ApiErrors, status: u16) -> String {
    let code = error.code.as_ref().map(ApiErrorsCode::as_str).unwrap_or("none");
    let message = error.message.as_deref().unwrap_or("");
    format!("stripe answered {status} ({}, code {code}): {message}", error.type_.as_str())
}

pub(super) fn stripe_currency(currency: Currency) -> StripeCurrency {
    let code = currency.code().to_ascii_lowercase();
    StripeCurrency::from_str(&code).unwrap_or(StripeCurrency::Unknown(code))
}

fn metadata(key: &str, value: &str) -> HashMap<String, String> {
    HashMap::from([(key.to_owned(), value.to_owned())])
}

/// The create-and-confirm request for a charge. Built from the stored parameters, so a re-send
/// under the same Idempotency-Key is byte-for-byte the first request. `configured_return_url`
/// only serves records from before the return_url was stored with them.
pub(super) fn create_intent_request(
    idempotency_key: &str,
    params: &AttemptParams,
    configured_return_url: Option<&str>,
) -> Result<CreatePaymentIntent, GatewayError> {
    let amount = params.wire_amount();
    let AttemptParams::Charge {
        currency,
        payment_method,
        customer,
        description,
        return_url,
        off_session,
        ..
    } = params
    else {
        return Err(GatewayError::Storage("a charge key holds refund parameters".into()));
    };
    let return_url = match return_url {
        ReturnUrl::Sent(sent) => sent.as_deref(),
        ReturnUrl::Unrecorded => configured_return_url,
    };
    // A server-side confirm needs a return_url for methods that redirect; without one, Stripe
    // must be told that no redirect may be needed (3-D Secure then goes through stripe.js with
    // the client secret: next_action `use_stripe_sdk`).
    let mut automatic = CreatePaymentIntentAutomaticPaymentMethods::new(true);
    if return_url.is_none() {
        automatic.allow_redirects =
            Some(CreatePaymentIntentAutomaticPaymentMethodsAllowRedirects::Never);
    }
    let mut request = CreatePaymentIntent::new(amount, stripe_currency(*currency))
        .payment_method(payment_method.as_str())
        .confirm(true)
        .automatic_payment_methods(automatic)
        .expand(vec![EXPAND_FEE.to_owned()])
        .metadata(metadata(METADATA_IDEMPOTENCY_KEY, idempotency_key));
    if let Some(customer) = customer {
        request = request.customer(customer.as_str());
    }
    if let Some(description) = description {
        request = request.description(description.as_str());
    }
    if let Some(return_url) = return_url {
        request = request.return_url(return_url);
    }
    if *off_session {
        request = request.off_session(CreatePaymentIntentOffSession::Bool(true));
    }
    Ok(request)
}

pub(super) fn create_refund_request(
    idempotency_key: &str,
    params: &AttemptParams,
) -> Result<CreateRefund, GatewayError> {
    let AttemptParams::Refund { payment_intent, .. } = params else {
        return Err(GatewayError::Storage("a refund key holds charge parameters".into()));
    };
    Ok(CreateRefund::new()
        .payment_intent(payment_intent.as_str())
        .amount(params.wire_amount())
        .expand(vec![EXPAND_REFUND_BALANCE.to_owned()])
        .metadata(metadata(METADATA_IDEMPOTENCY_KEY, idempotency_key)))
}

/// Stripe's search query for the PaymentIntent made with `idempotency_key`.
pub(super) fn search_query(idempotency_key: &str) -> String {
    let escaped = idempotency_key.replace('\\', "\\\\").replace('\'', "\\'");
    format!("metadata['{METADATA_IDEMPOTENCY_KEY}']:'{escaped}'")
}

/// What Stripe kept of the intent's charge, from the charge's balance transaction when the
/// answer carries it expanded: its fee in the charge's currency, or, for a charge Stripe
/// settled into another currency (the account's), what reached the balance there and the fee
/// there. Nothing (0) when the answer carries no balance transaction.
///
/// Kept in Stripe's unit for the currency, amounts are brought to Kassa's (an ISK fee in
/// hundredths that is no whole króna is not taken).
pub(super) fn reported_fee(intent: &StripePaymentIntent) -> PaymentFee {
    let Some(Expandable::Object(charge)) = &intent.latest_charge else {
        return PaymentFee::default();
    };
    let Some(Expandable::Object(balance)) = &charge.balance_transaction else {
        return PaymentFee::default();
    };
    let in_kassa_units = |amount: i64, currency: &stripe_types::Currency| {
        amount_from_stripe_code(amount, &currency.to_string()).ok()
    };
    let fee = in_kassa_units(balance.fee, &balance.currency).map(|(fee, _)| fee.max(0));
    let Some(fee) = fee else {
        tracing::warn!(intent = %intent.id, fee = balance.fee, "a Stripe fee not in Kassa's unit: not posted");
        return PaymentFee::default();
    };
    if balance.currency == intent.currency {
        return PaymentFee { fee_minor: fee, conversion: None };
    }
    match in_kassa_units(balance.amount, &balance.currency) {
        Some((amount_minor, currency)) => PaymentFee {
            fee_minor: 0,
            conversion: Some(Conversion { currency, amount_minor, fee_minor: fee }),
        },
        None => {
            tracing::warn!(intent = %intent.id, "a Stripe settlement not in Kassa's unit: not posted");
            PaymentFee::default()
        }
    }
}

pub(super) fn intent_outcome(intent: &StripePaymentIntent) -> Result<ChargeOutcome, GatewayError> {
    let reference = intent.id.as_str().to_owned();
    match &intent.status {
        PaymentIntentStatus::Succeeded => {
            let PaymentFee { fee_minor, conversion } = reported_fee(intent);
            Ok(ChargeOutcome::Succeeded { reference, fee_minor, conversion })
        }
        PaymentIntentStatus::RequiresAction => {
            Ok(ChargeOutcome::RequiresAction { reference, next_action: next_action(intent) })
        }
        // Not final yet; Stripe's webhook or a later retrieve settles it. Kassa never asks for
        // manual capture, so `requires_capture` only appears if someone changed the intent.
        PaymentIntentStatus::Processing | PaymentIntentStatus::RequiresCapture => {
            Ok(ChargeOutcome::Pending { reference })
        }
        // Where an intent lands after a declined confirm or a failed 3-D Secure.
        PaymentIntentStatus::RequiresPaymentMethod => {
            let (decline, message) = match intent.last_payment_error.as_deref() {
                Some(error) => decline_of(error),
                None => (DeclineCode::GenericDecline, "the payment was not completed".to_owned()),
            };
            Ok(ChargeOutcome::Declined { decline, message })
        }
        PaymentIntentStatus::RequiresConfirmation => Ok(ChargeOutcome::Declined {
            decline: DeclineCode::ProcessingError,
            message: "the payment was never confirmed".into(),
        }),
        PaymentIntentStatus::Canceled => Ok(ChargeOutcome::Declined {
            decline: DeclineCode::GenericDecline,
            message: match &intent.cancellation_reason {
                Some(reason) => format!("the payment was canceled ({})", reason.as_str()),
                None => "the payment was canceled".to_owned(),
            },
        }),
        // async-stripe's enum is non-exhaustive: statuses Stripe adds later land here.
        unknown => Err(GatewayError::Ambiguous(format!(
            "PaymentIntent {reference} has a status this adapter does not know: {}",
            unknown.as_str()
        ))),
    }
}

fn next_action(intent: &StripePaymentIntent) -> NextAction {
    let action = intent.next_action.as_ref();
    NextAction {
        kind: action.map(|action| action.type_.clone()).unwrap_or_else(|| "use_stripe_sdk".into()),
        client_secret: intent.client_secret.clone().map(Secret::new),
        redirect_url: action
            .and_then(|action| action.redirect_to_url.as_ref())
            .and_then(|redirect| redirect.url.clone()),
    }
}

/// Kassa's decline code for a Stripe card error: the issuer's `decline_code` where Kassa knows
/// it, else Stripe's own `code`.
pub(super) fn decline_of(error: &ApiErrors) -> (DeclineCode, String) {
    let from_issuer = error.decline_code.as_deref().and_then(DeclineCode::parse);
    let decline = from_issuer.unwrap_or(match &error.code {
        Some(ApiErrorsCode::ExpiredCard) => DeclineCode::ExpiredCard,
        Some(ApiErrorsCode::IncorrectCvc) => DeclineCode::IncorrectCvc,
        Some(ApiErrorsCode::ProcessingError) => DeclineCode::ProcessingError,
        Some(ApiErrorsCode::InsufficientFunds) => DeclineCode::InsufficientFunds,
        // card_declined without a decline code Kassa knows (do_not_honor, …), and the rest.
        _ => DeclineCode::GenericDecline,
    });
    let message = error.message.clone().unwrap_or_else(|| "Your card was declined.".to_owned());
    (decline, message)
}

fn is_idempotency_error(error: &ApiErrors) -> bool {
    matches!(error.type_, ApiErrorsType::IdempotencyError)
        || matches!(error.code, Some(ApiErrorsCode::IdempotencyKeyInUse))
}

fn is_missing_payment_method(error: &ApiErrors) -> bool {
    matches!(error.code, Some(ApiErrorsCode::ResourceMissing))
        && error.param.as_deref().is_some_and(|param| param.starts_with("payment_method"))
}

/// What a failed create-and-confirm means for the charge.
pub(super) fn charge_error(error: StripeCallError) -> Result<ChargeOutcome, GatewayError> {
    match error {
        StripeCallError::Answered { status, error } => match &error.type_ {
            ApiErrorsType::CardError => {
                let (decline, message) = decline_of(&error);
                Ok(ChargeOutcome::Declined { decline, message })
            }
            // The key was used with other parameters: a charge may exist under it.
            _ if is_idempotency_error(&error) => {
                Err(GatewayError::Ambiguous(describe(&error, status)))
            }
            _ if is_missing_payment_method(&error) => Err(GatewayError::InvalidPaymentMethod(
                "Stripe does not know this payment method".into(),
            )),
            // A 4xx invalid_request_error: Stripe refused before moving money. A refusal, not
            // an outage: it must not count against Stripe's circuit breaker.
            ApiErrorsType::InvalidRequestError => {
                Err(GatewayError::InvalidRequest(describe(&error, status)))
            }
            // api_error arrives with a 5xx, which was retried; seen here it is still unknown.
            // async-stripe's enum is non-exhaustive: a type Stripe adds later is unknown too.
            _ => Err(GatewayError::Ambiguous(describe(&error, status))),
        },
        StripeCallError::NotProcessed(message) => Err(GatewayError::NotAttempted(message)),
        StripeCallError::Unknown(message) => Err(GatewayError::Ambiguous(message)),
    }
}

/// What a failed refund create means: Stripe's refusals (already refunded, more than is left)
/// are answers, not outages.
pub(super) fn refund_error(error: StripeCallError) -> Result<RefundOutcome, GatewayError> {
    match error {
        StripeCallError::Answered { status, error } => {
            if is_idempotency_error(&error) {
                return Err(GatewayError::Ambiguous(describe(&error, status)));
            }
            match &error.type_ {
                // Stripe refused the refund (already refunded, more than is left, …).
                ApiErrorsType::CardError | ApiErrorsType::InvalidRequestError => {
                    Ok(RefundOutcome::Failed {
                        message: error.message.clone().unwrap_or_else(|| describe(&error, status)),
                    })
                }
                // api_error, and types newer than async-stripe (its enum is non-exhaustive).
                _ => Err(GatewayError::Ambiguous(describe(&error, status))),
            }
        }
        StripeCallError::NotProcessed(message) => Err(GatewayError::NotAttempted(message)),
        StripeCallError::Unknown(message) => Err(GatewayError::Ambiguous(message)),
    }
}

/// What a failed attach of the PaymentMethod to the customer means for the charge that needed
/// it (not sent yet). Already attached (`resource_already_exists`) is what was wanted; a
/// PaymentMethod Stripe does not know is the client's bad token; the rest as for the customer
/// create (a refusal, unreachable, or unknown: none of which charged anything).
pub(super) fn attach_error(error: StripeCallError) -> Result<(), GatewayError> {
    match error {
        StripeCallError::Answered { error, .. }
            if matches!(error.code, Some(ApiErrorsCode::ResourceAlreadyExists)) =>
        {
            Ok(())
        }
        StripeCallError::Answered { status: 404, .. } => Err(GatewayError::InvalidPaymentMethod(
            "Stripe does not know this payment method".into(),
        )),
        StripeCallError::Answered { error, .. } if is_missing_payment_method(&error) => Err(
            GatewayError::InvalidPaymentMethod("Stripe does not know this payment method".into()),
        ),
        other => Err(customer_error(other)),
    }
}

/// What a failed Stripe customer create means for the charge that needed it, which has not been
/// sent: Stripe's refusal (an answered 4xx — a bad email, a revoked key) fails the charge cleanly
/// as a refusal, not an outage. Only a create that may have landed is unknown (harmless: its
/// Idempotency-Key finds that customer next time).
pub(super) fn customer_error(error: StripeCallError) -> GatewayError {
    match error {
        StripeCallError::Answered { status: status @ 400..=499, error } => {
            GatewayError::InvalidRequest(describe(&error, status))
        }
        StripeCallError::NotProcessed(message) => GatewayError::NotAttempted(message),
        other => lookup_error(other),
    }
}

/// A lookup (GET) that failed: nothing moved either way, but the engine cannot settle anything
/// from it.
pub(super) fn lookup_error(error: StripeCallError) -> GatewayError {
    match error {
        StripeCallError::Answered { status, error } => {
            GatewayError::Ambiguous(describe(&error, status))
        }
        StripeCallError::NotProcessed(message) | StripeCallError::Unknown(message) => {
            GatewayError::Ambiguous(message)
        }
    }
}

pub(super) fn refund_outcome(refund: &StripeRefund) -> RefundOutcome {
    let reference = refund.id.as_str().to_owned();
    match refund.status.as_deref() {
        Some("succeeded") => RefundOutcome::Succeeded { reference, conversion: converted(refund) },
        Some("failed") | Some("canceled") => RefundOutcome::Failed {
            message: refund
                .failure_reason
                .clone()
                .unwrap_or_else(|| "Stripe could not complete the refund".into()),
        },
        // `pending`, `requires_action`, or a status newer than this adapter: not final.
        _ => RefundOutcome::Pending { reference },
    }
}

/// What a succeeded refund took from a balance in another currency than its own, from its
/// balance transaction when the answer carries it expanded.
pub(super) fn converted(refund: &StripeRefund) -> Option<Conversion> {
    let Some(Expandable::Object(balance)) = &refund.balance_transaction else { return None };
    if balance.currency == refund.currency {
        return None;
    }
    let code = balance.currency.to_string();
    let taken = amount_from_stripe_code(balance.amount.checked_abs()?, &code).ok();
    let fee = amount_from_stripe_code(balance.fee, &code).ok();
    match (taken, fee) {
        (Some((amount_minor, currency)), Some((fee_minor, _))) => {
            Some(Conversion { currency, amount_minor, fee_minor })
        }
        _ => {
            tracing::warn!(refund = %refund.id, "a Stripe refund's settlement not in Kassa's unit: converted at its charge's rate");
            None
        }
    }
}

pub(super) fn payment_method_details(method: &StripePaymentMethod) -> PaymentMethodDetails {
    let card = method.card.as_ref().map(|card| CardDetails {
        brand: card.brand.clone(),
        last4: card.last4.clone(),
        exp_month: u8::try_from(card.exp_month).unwrap_or(0),
        exp_year: u16::try_from(card.exp_year).unwrap_or(0),
    });
    PaymentMethodDetails { card }
}

/// Stripe payment-method ids are `pm_` plus letters, digits and underscores. Checked before the
/// token goes into a URL path — and never echoed, in case a client pasted card data into it.
pub(super) fn checked_payment_method(token: &str) -> Result<&str, GatewayError> {
    let well_formed = token.len() <= 255
        && token.starts_with("pm_")
        && token.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
    match well_formed {
        true => Ok(token),
        false => Err(GatewayError::InvalidPaymentMethod(format!(
            "not a Stripe payment method id ({} characters); expected pm_…",
            token.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card_error(code: &str, decline_code: Option<&str>) -> ApiErrors {
        let json = match decline_code {
            Some(decline) => format!(
                r#"{{"type":"card_error","code":"{code}","decline_code":"{decline}","message":"m"}}"#
            ),
            None => format!(r#"{{"type":"card_error","code":"{code}","message":"m"}}"#),
        };
        miniserde::json::from_str(&json).unwrap()
    }

    #[test]
    fn decline_codes_prefer_the_issuers_reason() {
        let table = [
            ("card_declined", Some("generic_decline"), DeclineCode::GenericDecline),
            ("card_declined", Some("insufficient_funds"), DeclineCode::InsufficientFunds),
            ("card_declined", Some("lost_card"), DeclineCode::LostCard),
            ("card_declined", Some("stolen_card"), DeclineCode::StolenCard),
            ("card_declined", Some("fraudulent"), DeclineCode::Fraudulent),
            ("card_declined", Some("do_not_honor"), DeclineCode::GenericDecline),
            ("card_declined", None, DeclineCode::GenericDecline),
            ("expired_card", None, DeclineCode::ExpiredCard),
            ("incorrect_cvc", None, DeclineCode::IncorrectCvc),
            ("processing_error", None, DeclineCode::ProcessingError),
        ];
        for (code, decline_code, expected) in table {
            let (decline, _) = decline_of(&card_error(code, decline_code));
            assert_eq!(decline, expected, "{code} / {decline_code:?}");
        }
    }

    #[test]
    fn an_already_attached_payment_method_counts_as_attached() {
        let answered = |status, json: &str| StripeCallError::Answered {
            status,
            error: Box::new(miniserde::json::from_str(json).unwrap()),
        };
        let already = answered(
            400,
            r#"{"type":"invalid_request_error","code":"resource_already_exists","message":"m"}"#,
        );
        assert!(attach_error(already).is_ok());
        let unknown = answered(
            404,
            r#"{"type":"invalid_request_error","code":"resource_missing","param":"payment_method","message":"No such PaymentMethod"}"#,
        );
        assert!(matches!(attach_error(unknown), Err(GatewayError::InvalidPaymentMethod(_))));
        let elsewhere = answered(
            400,
            r#"{"type":"invalid_request_error","message":"attached to another customer"}"#,
        );
        assert!(matches!(attach_error(elsewhere), Err(GatewayError::InvalidRequest(_))));
    }

    #[test]
    fn only_connect_errors_prove_nothing_was_sent() {
        let refused = classify(StripeError::ClientError("client error (Connect)".into()));
        assert!(matches!(refused, AttemptFailure::Retry { delivered: false, .. }));
        let broken = classify(StripeError::ClientError("client error (SendRequest)".into()));
        assert!(matches!(broken, AttemptFailure::Retry { delivered: true, .. }));
        assert!(matches!(
            classify(StripeError::Timeout),
            AttemptFailure::Retry { delivered: true, .. }
        ));
    }

    #[test]
    fn payment_method_tokens_are_checked_before_use() {
        assert!(checked_payment_method("pm_card_visa").is_ok());
        for token in ["4242424242424242", "pm_../../v1/charges", "", "pm_a?b=c"] {
            let error = checked_payment_method(token).unwrap_err();
            assert!(!error.to_string().contains(token) || token.is_empty(), "{error}");
        }
    }

    #[test]
    fn search_queries_escape_quotes() {
        assert_eq!(search_query("ch_1"), "metadata['kassa_idempotency_key']:'ch_1'");
        assert_eq!(search_query("a'b"), "metadata['kassa_idempotency_key']:'a\\'b'");
    }
}
