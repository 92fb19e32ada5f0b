//! Daraja's wire structs (prefixed `Mpesa`) and the pure conversions around them: phone
//! normalisation, whole-shilling amounts, the Nairobi timestamp and password, result codes, and
//! the STK callback parser.

use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::{ChargeOutcome, Currency, DeclineCode, GatewayError};

/// Daraja's `expires_in` and `ResultCode` come as strings in some answers and numbers in others.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum MpesaNumber {
    Number(i64),
    Text(String),
}

impl MpesaNumber {
    pub fn value(&self) -> Option<i64> {
        match self {
            MpesaNumber::Number(number) => Some(*number),
            MpesaNumber::Text(text) => text.trim().parse().ok(),
        }
    }
}

/// What a `Debug` of a wire struct shows in place of a credential.
const REDACTED: &str = "[redacted]";

/// `GET /oauth/v1/generate?grant_type=client_credentials`. `Debug` hides the token.
#[derive(Deserialize)]
pub(super) struct MpesaTokenResponse {
    pub access_token: String,
    pub expires_in: MpesaNumber,
}

impl fmt::Debug for MpesaTokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MpesaTokenResponse")
            .field("access_token", &REDACTED)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// `POST /mpesa/stkpush/v1/processrequest`. `Debug` hides the password (base64 of the passkey:
/// anyone can decode it), the callback URL (its path token authenticates Safaricom) and all but
/// the last digits of the phone.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct MpesaStkPushRequest {
    pub business_short_code: String,
    pub password: String,
    pub timestamp: String,
    pub transaction_type: &'static str,
    pub amount: u64,
    pub party_a: String,
    pub party_b: String,
    pub phone_number: String,
    #[serde(rename = "CallBackURL")]
    pub callback_url: String,
    pub account_reference: String,
    pub transaction_desc: String,
}

impl fmt::Debug for MpesaStkPushRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MpesaStkPushRequest")
            .field("business_short_code", &self.business_short_code)
            .field("password", &REDACTED)
            .field("timestamp", &self.timestamp)
            .field("transaction_type", &self.transaction_type)
            .field("amount", &self.amount)
            .field("party_a", &PhoneTail(&self.party_a))
            .field("party_b", &self.party_b)
            .field("phone_number", &PhoneTail(&self.phone_number))
            .field("callback_url", &REDACTED)
            .field("account_reference", &self.account_reference)
            .field("transaction_desc", &self.transaction_desc)
            .finish()
    }
}

/// A phone number in `Debug` output: its last four digits, as the API shows them.
struct PhoneTail<'a>(&'a str);

impl fmt::Debug for PhoneTail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let start = self.0.len().saturating_sub(4);
        write!(f, "\"…{}\"", self.0.get(start..).unwrap_or(""))
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct MpesaStkPushResponse {
    #[serde(rename = "MerchantRequestID")]
    pub merchant_request_id: String,
    #[serde(rename = "CheckoutRequestID")]
    pub checkout_request_id: String,
    #[serde(rename = "ResponseCode")]
    pub response_code: MpesaNumber,
    #[serde(rename = "ResponseDescription", default)]
    pub response_description: String,
}

/// `POST /mpesa/stkpushquery/v1/query`. `Debug` hides the password, as for the push.
#[derive(Serialize)]
pub(super) struct MpesaStkQueryRequest {
    #[serde(rename = "BusinessShortCode")]
    pub business_short_code: String,
    #[serde(rename = "Password")]
    pub password: String,
    #[serde(rename = "Timestamp")]
    pub timestamp: String,
    #[serde(rename = "CheckoutRequestID")]
    pub checkout_request_id: String,
}

impl fmt::Debug for MpesaStkQueryRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MpesaStkQueryRequest")
            .field("business_short_code", &self.business_short_code)
            .field("password", &REDACTED)
            .field("timestamp", &self.timestamp)
            .field("checkout_request_id", &self.checkout_request_id)
            .finish()
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct MpesaStkQueryResponse {
    #[serde(rename = "ResultCode")]
    pub result_code: Option<MpesaNumber>,
    #[serde(rename = "ResultDesc", default)]
    pub result_description: String,
}

/// Daraja's error body: `{"requestId","errorCode","errorMessage"}`.
#[derive(Debug, Deserialize)]
pub(super) struct MpesaErrorResponse {
    #[serde(rename = "errorCode", default)]
    pub error_code: String,
    #[serde(rename = "errorMessage", default)]
    pub error_message: String,
}

/// The STK query's answer while the customer has not finished yet.
pub(super) const STILL_PROCESSING_ERROR_CODE: &str = "500.001.1001";

/// The STK query `ResultCode`s that say how a push ended: Daraja's documented results (success,
/// insufficient funds, subscriber locked by another push, expired, push not sent, cancelled,
/// unreachable, wrong PIN). The query also answers while the prompt is still open — ResultCode
/// 4999, "The transaction is still under processing" — so that code, and any code not listed
/// here, means "ask again later", never a failure. (A callback comes only once the push ended,
/// so every callback code is final.)
const FINAL_QUERY_RESULT_CODES: [i64; 9] = [0, 1, 1001, 1019, 1025, 1032, 1037, 2001, 9999];

/// Whether an STK query's `ResultCode` settles the charge (see [`FINAL_QUERY_RESULT_CODES`]).
pub(super) fn query_result_is_final(code: i64) -> bool {
    FINAL_QUERY_RESULT_CODES.contains(&code)
}

#[derive(Debug, Deserialize)]
struct MpesaCallbackEnvelope {
    #[serde(rename = "Body")]
    body: MpesaCallbackBody,
}

#[derive(Debug, Deserialize)]
struct MpesaCallbackBody {
    #[serde(rename = "stkCallback")]
    stk_callback: MpesaStkCallback,
}

#[derive(Debug, Deserialize)]
struct MpesaStkCallback {
    #[serde(rename = "MerchantRequestID")]
    merchant_request_id: String,
    #[serde(rename = "CheckoutRequestID")]
    checkout_request_id: String,
    #[serde(rename = "ResultCode")]
    result_code: MpesaNumber,
    #[serde(rename = "ResultDesc", default)]
    result_description: String,
    #[serde(rename = "CallbackMetadata")]
    metadata: Option<MpesaCallbackMetadata>,
}

#[derive(Debug, Deserialize)]
struct MpesaCallbackMetadata {
    #[serde(rename = "Item", default)]
    items: Vec<MpesaCallbackItem>,
}

#[derive(Debug, Deserialize)]
struct MpesaCallbackItem {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Value")]
    value: Option<serde_json::Value>,
}

/// What an STK Push ended as, by Daraja's result code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpesaResult {
    Success,
    InsufficientFunds,
    CancelledByUser,
    Unreachable,
    WrongPin,
    /// Any other code (1001 subscriber busy, 1019 expired, 1025, 9999, …), kept as sent.
    Other(i64),
}

impl MpesaResult {
    pub fn from_code(code: i64) -> MpesaResult {
        match code {
            0 => MpesaResult::Success,
            1 => MpesaResult::InsufficientFunds,
            1032 => MpesaResult::CancelledByUser,
            1037 => MpesaResult::Unreachable,
            2001 => MpesaResult::WrongPin,
            other => MpesaResult::Other(other),
        }
    }

    /// The charge outcome, with the CheckoutRequestID as the charge's gateway reference (the
    /// same reference [`ChargeOutcome::Pending`] carried, so the engine finds its charge by it).
    pub fn outcome(self, checkout_request_id: &str, description: &str) -> ChargeOutcome {
        let declined = |decline, message: String| ChargeOutcome::Declined { decline, message };
        match self {
            // Daraja's callback reports no fee: Safaricom bills the paybill's tariff apart.
            MpesaResult::Success => ChargeOutcome::Succeeded {
                reference: checkout_request_id.to_owned(),
                fee_minor: 0,
                conversion: None,
            },
            MpesaResult::InsufficientFunds => {
                declined(DeclineCode::InsufficientFunds, description.to_owned())
            }
            MpesaResult::CancelledByUser => {
                declined(DeclineCode::CustomerCancelled, description.to_owned())
            }
            MpesaResult::Unreachable => {
                declined(DeclineCode::CustomerUnreachable, description.to_owned())
            }
            MpesaResult::WrongPin => declined(DeclineCode::IncorrectPin, description.to_owned()),
            MpesaResult::Other(code) => declined(
                DeclineCode::GenericDecline,
                format!("M-Pesa result {code}: {description}"),
            ),
        }
    }
}

/// A settled STK Push, from Safaricom's callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpesaSettlement {
    pub merchant_request_id: String,
    /// What [`ChargeOutcome::Pending`] named as the charge's reference.
    pub checkout_request_id: String,
    pub result: MpesaResult,
    /// Daraja's raw `ResultCode`, kept whatever it maps to.
    pub result_code: i64,
    pub result_description: String,
    /// `MpesaReceiptNumber`, present on success: the customer's SMS shows it.
    pub receipt_number: Option<String>,
    /// `Amount`, in KES minor units (Daraja sends shillings, sometimes as `1.00`).
    pub amount_minor: Option<i64>,
    pub phone: Option<String>,
    /// `TransactionDate` as sent, `YYYYMMDDHHmmss` Nairobi time.
    pub transaction_date: Option<String>,
}

impl MpesaSettlement {
    pub fn outcome(&self) -> ChargeOutcome {
        self.result.outcome(&self.checkout_request_id, &self.result_description)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MpesaCallbackError {
    #[error("not an STK callback: {0}")]
    Shape(String),
    #[error("a successful STK callback without its MpesaReceiptNumber")]
    MissingReceipt,
}

/// Parses the body Safaricom POSTs to the callback URL. The engine answers 200 whatever this
/// returns (Safaricom retries otherwise) and logs what it could not use.
pub fn parse_callback(body: &[u8]) -> Result<MpesaSettlement, MpesaCallbackError> {
    let envelope: MpesaCallbackEnvelope = serde_json::from_slice(body)
        .map_err(|error| MpesaCallbackError::Shape(error.to_string()))?;
    let callback = envelope.body.stk_callback;
    let result_code = callback
        .result_code
        .value()
        .ok_or_else(|| MpesaCallbackError::Shape("ResultCode is not a number".into()))?;
    let items = callback.metadata.map(|metadata| metadata.items).unwrap_or_default();
    let item = |name: &str| {
        items.iter().find(|item| item.name == name).and_then(|item| item.value.as_ref())
    };
    let text = |name: &str| {
        item(name).map(|value| match value {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        })
    };
    let result = MpesaResult::from_code(result_code);
    let receipt_number = text("MpesaReceiptNumber");
    if result == MpesaResult::Success && receipt_number.is_none() {
        return Err(MpesaCallbackError::MissingReceipt);
    }
    Ok(MpesaSettlement {
        merchant_request_id: callback.merchant_request_id,
        checkout_request_id: callback.checkout_request_id,
        result,
        result_code,
        result_description: callback.result_description,
        receipt_number,
        amount_minor: text("Amount").and_then(|amount| shillings_text_to_minor(&amount)),
        phone: text("PhoneNumber"),
        transaction_date: text("TransactionDate"),
    })
}

/// `"1"`, `"1.0"`, `"1.00"` → 100; read as text so no float touches the amount.
fn shillings_text_to_minor(text: &str) -> Option<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    if !fraction.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let (cents, rest) = fraction.split_at(fraction.len().min(2));
    if rest.bytes().any(|byte| byte != b'0') {
        return None;
    }
    let cents: i64 = format!("{cents:0<2}").parse().ok()?;
    whole.parse::<i64>().ok()?.checked_mul(100)?.checked_add(cents)
}

/// Whole shillings for Daraja, which takes no cents. `amount_minor` is in KES minor units.
pub fn whole_shillings(amount_minor: i64, currency: Currency) -> Result<u64, GatewayError> {
    if currency != Currency::KES {
        return Err(GatewayError::InvalidRequest(format!(
            "M-Pesa charges in KES only, not {}",
            currency.code().to_ascii_lowercase()
        )));
    }
    if amount_minor <= 0 || amount_minor % 100 != 0 {
        return Err(GatewayError::InvalidRequest(format!(
            "M-Pesa takes whole shillings: {amount_minor} is not a multiple of 100 cents"
        )));
    }
    u64::try_from(amount_minor / 100)
        .map_err(|_| GatewayError::InvalidRequest("amount out of range".into()))
}

/// A Kenyan mobile number as Daraja wants it: `2547XXXXXXXX` or `2541XXXXXXXX`. Accepts the
/// common ways people write one: `07…`/`01…`, `7…`/`1…`, `2547…`, `+2547…`, with spaces or
/// dashes. Anything else is refused (and not echoed back).
pub fn normalize_phone(phone: &str) -> Result<String, GatewayError> {
    let compact: String =
        phone.chars().filter(|character| !matches!(character, ' ' | '-' | '(' | ')')).collect();
    let digits = compact.strip_prefix('+').unwrap_or(&compact);
    let refuse = || {
        GatewayError::InvalidPaymentMethod(format!(
            "not a Kenyan mobile number ({} characters); expected 07XXXXXXXX or 2547XXXXXXXX",
            phone.chars().count()
        ))
    };
    if !digits.bytes().all(|byte| byte.is_ascii_digit()) || compact.starts_with("++") {
        return Err(refuse());
    }
    let subscriber = match digits.len() {
        12 if digits.starts_with("254") => &digits[3..],
        // `+07…` is not a way anyone writes a number.
        10 if digits.starts_with('0') && !compact.starts_with('+') => &digits[1..],
        9 if !compact.starts_with('+') => digits,
        _ => return Err(refuse()),
    };
    match subscriber.as_bytes().first() {
        Some(b'7') | Some(b'1') => Ok(format!("254{subscriber}")),
        _ => Err(refuse()),
    }
}

/// Daraja's timestamp, `YYYYMMDDHHmmss` in Africa/Nairobi time. Kenya has kept UTC+3 with no
/// daylight saving since 1960, so a fixed offset is exact and needs no time-zone database.
pub fn nairobi_timestamp(unix_secs: i64) -> String {
    const NAIROBI_OFFSET_SECS: i64 = 3 * 3600;
    let local = unix_secs + NAIROBI_OFFSET_SECS;
    let (year, month, day) = civil_from_days(local.div_euclid(86_400));
    let second_of_day = local.rem_euclid(86_400);
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = u32::try_from(day_of_year - (153 * month_index + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if month_index < 10 { month_index + 3 } else { month_index - 9 })
        .unwrap_or(1);
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `base64(shortcode + passkey + timestamp)`, Daraja's STK password.
pub fn stk_password(shortcode: &str, passkey: &str, timestamp: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{shortcode}{passkey}{timestamp}"))
}

/// Daraja caps `TransactionDesc` (13) and `AccountReference` (12) in characters.
pub(super) fn truncated(text: &str, characters_max: usize) -> String {
    text.chars().take(characters_max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_nairobi_wall_clock() {
        // 2024-02-29T21:30:05Z is 2024-03-01 00:30:05 in Nairobi (leap day, month and day roll).
        assert_eq!(nairobi_timestamp(1_709_242_205), "20240301003005");
        assert_eq!(nairobi_timestamp(0), "19700101030000");
        // 2023-12-31T20:59:59Z → 23:59:59 the same day in Nairobi; a second later, new year.
        assert_eq!(nairobi_timestamp(1_704_056_399), "20231231235959");
        assert_eq!(nairobi_timestamp(1_704_056_400), "20240101000000");
    }

    #[test]
    fn wire_structs_never_show_credentials_in_debug_output() {
        let passkey = "passkey-bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78";
        let password = stk_password("174379", passkey, "20240301003005");
        let callback_url = "https://kassa.example/v1/webhooks/mpesa/secret-path-token";
        let push = MpesaStkPushRequest {
            business_short_code: "174379".into(),
            password: password.clone(),
            timestamp: "20240301003005".into(),
            transaction_type: "CustomerPayBillOnline",
            amount: 1500,
            party_a: "254712345678".into(),
            party_b: "174379".into(),
            phone_number: "254712345678".into(),
            callback_url: callback_url.into(),
            account_reference: "Kassa".into(),
            transaction_desc: "Fees".into(),
        };
        let query = MpesaStkQueryRequest {
            business_short_code: "174379".into(),
            password: password.clone(),
            timestamp: "20240301003005".into(),
            checkout_request_id: "ws_CO_1".into(),
        };
        let token = MpesaTokenResponse {
            access_token: "oauth-token-value".into(),
            expires_in: MpesaNumber::Text("3599".into()),
        };
        let shown = format!("{push:?} {query:?} {token:?} {push:#?}");
        for secret in [passkey, &password, callback_url, "secret-path-token", "oauth-token-value"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(!shown.contains("254712345678"), "the phone is not shown whole: {shown}");
        assert!(shown.contains("5678") && shown.contains("ws_CO_1"), "{shown}");
    }

    #[test]
    fn shilling_texts_become_minor_units_without_floats() {
        assert_eq!(shillings_text_to_minor("1"), Some(100));
        assert_eq!(shillings_text_to_minor("1.0"), Some(100));
        assert_eq!(shillings_text_to_minor("1.00"), Some(100));
        assert_eq!(shillings_text_to_minor("12.5"), Some(1250));
        assert_eq!(shillings_text_to_minor("1.001"), None);
        assert_eq!(shillings_text_to_minor("-1"), None);
        assert_eq!(shillings_text_to_minor("1e3"), None);
    }
}
