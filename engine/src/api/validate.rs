//! Checks on client-supplied fields beyond their JSON types, each failing with a 400 that names
//! the field.

use super::error::ApiError;
use crate::coupons::Requested;
use crate::domain::card_number::looks_like_card_number;
use crate::domain::money::{self, MoneyError};
use crate::domain::{Currency, FeatureGrant, Metadata, PaymentMethodId, TaxId};
use crate::limits::{
    ACCOUNT_NUMBER_LEN_MAX, AMOUNT_MINOR_MAX, CHARGE_GRANTS_MAX, GRANT_DURATION_DAYS_MAX,
    LINE_ITEMS_MAX, METADATA_KEY_LEN_MAX, METADATA_KEYS_MAX, METADATA_VALUE_LEN_MAX, SKU_LEN_MAX,
    TAX_IDS_MAX, TEXT_FIELD_LEN_MAX,
};
use crate::rules::types::LineItem;

pub fn text(param: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(text) if text.chars().count() > TEXT_FIELD_LEN_MAX => Err(ApiError::validation(
            param,
            format!("`{param}` is at most {TEXT_FIELD_LEN_MAX} characters"),
        )),
        Some(text) if text.chars().any(char::is_control) => Err(ApiError::validation(
            param,
            format!("`{param}` must not contain control characters"),
        )),
        Some(text) if looks_like_card_number(&text) => Err(card_number_refused(param)),
        other => Ok(other),
    }
}

fn card_number_refused(param: &str) -> ApiError {
    ApiError::validation(
        param,
        format!("`{param}` looks like it holds a card number; Kassa never accepts card data"),
    )
}

/// A phone number: digits with the usual punctuation. Not held to the bare-number rule of
/// [`text`] (a phone number is one); a Luhn-valid 13–19 digit run in it is refused with every
/// other free text ([`super::free_text`]).
pub fn phone(value: Option<String>) -> Result<Option<String>, ApiError> {
    if let Some(phone) = &value {
        let allowed =
            |c: char| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.');
        let digits = phone.chars().filter(char::is_ascii_digit).count();
        if !phone.chars().all(allowed) || !(3..=20).contains(&digits) || phone.len() > 32 {
            return Err(ApiError::validation(
                "phone",
                "`phone` is a phone number such as +254712345678",
            ));
        }
    }
    Ok(value)
}

pub fn email(value: Option<String>) -> Result<Option<String>, ApiError> {
    let email = text("email", value)?;
    if let Some(address) = &email {
        let valid = address.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !address.contains(char::is_whitespace)
        });
        if !valid {
            return Err(ApiError::validation("email", "`email` is not an email address"));
        }
    }
    Ok(email)
}

/// A bank account number (an IBAN too): 5 to 34 letters and digits, spaces and `-` allowed;
/// trimmed. Not held to the card-number rule: a route taking one names it among its
/// credentials ([`super::request::ApiRequest::json_with_credentials`]).
pub fn bank_account_number(param: &str, value: &str) -> Result<String, ApiError> {
    let number = value.trim().to_owned();
    let digits = number.bytes().filter(u8::is_ascii_alphanumeric).count();
    let valid = (5..=ACCOUNT_NUMBER_LEN_MAX).contains(&digits)
        && number.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b' ' || byte == b'-');
    if !valid {
        return Err(ApiError::validation(
            param,
            format!(
                "`{param}` is 5 to {ACCOUNT_NUMBER_LEN_MAX} letters and digits (an IBAN too), \
                 spaces and `-` allowed"
            ),
        ));
    }
    Ok(number)
}

/// A bank's branch or sort code: 1 to 20 letters, digits or `-`.
pub fn bank_code(param: &str, value: &str) -> Result<(), ApiError> {
    let valid = (1..=20).contains(&value.len())
        && value.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-');
    if !valid {
        return Err(ApiError::validation(
            param,
            format!("`{param}` is 1 to 20 letters, digits or `-`"),
        ));
    }
    Ok(())
}

/// Longest object id a list filter takes: every id Kassa makes is far shorter.
const FILTER_ID_LEN_MAX: usize = 100;

/// A list's filter naming an object by id (`object=`, `source=`): 1 to 100 letters, digits or
/// `_`.
pub fn object_id_filter(param: &str, value: Option<&String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(id)
            if id.is_empty()
                || id.len() > FILTER_ID_LEN_MAX
                || !id.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_') =>
        {
            Err(ApiError::validation(param, format!("`{param}` is an object's id")))
        }
        other => Ok(other.cloned()),
    }
}

/// A list's time filter (`created[gte]=…`): a Unix time in seconds, 0 or more.
pub fn unix_time_filter(param: &str, value: Option<&String>) -> Result<Option<i64>, ApiError> {
    value
        .map(|text| {
            text.parse::<i64>().ok().filter(|secs| *secs >= 0).ok_or_else(|| {
                ApiError::validation(param, format!("`{param}` is a Unix time in seconds"))
            })
        })
        .transpose()
}

/// ISO 3166-1 alpha-2, normalised to upper case.
pub fn country(value: String) -> Result<String, ApiError> {
    if value.len() == 2 && value.bytes().all(|byte| byte.is_ascii_alphabetic()) {
        Ok(value.to_ascii_uppercase())
    } else {
        Err(ApiError::validation(
            "address.country",
            "`address.country` is a two-letter ISO 3166-1 code such as `KE`",
        ))
    }
}

pub fn metadata(value: Option<Metadata>) -> Result<Metadata, ApiError> {
    let metadata = value.unwrap_or_default();
    if metadata.len() > METADATA_KEYS_MAX {
        return Err(ApiError::validation(
            "metadata",
            format!("metadata holds at most {METADATA_KEYS_MAX} keys"),
        ));
    }
    for (key, value) in &metadata {
        if key.is_empty() || key.chars().count() > METADATA_KEY_LEN_MAX {
            return Err(ApiError::validation(
                format!("metadata.{key}"),
                format!("metadata keys are 1 to {METADATA_KEY_LEN_MAX} characters"),
            ));
        }
        if looks_like_card_number(value) || looks_like_card_number(key) {
            return Err(card_number_refused(&format!("metadata.{key}")));
        }
        if value.chars().count() > METADATA_VALUE_LEN_MAX {
            return Err(ApiError::validation(
                format!("metadata.{key}"),
                format!("metadata values are at most {METADATA_VALUE_LEN_MAX} characters"),
            ));
        }
    }
    Ok(metadata)
}

pub fn currency(code: &str) -> Result<Currency, ApiError> {
    money::parse_currency(code).map_err(|error| {
        ApiError::invalid("currency_invalid", error.to_string()).with_param("currency")
    })
}

pub fn amount(amount_minor: i64) -> Result<i64, ApiError> {
    match money::check_amount(amount_minor) {
        Ok(()) => Ok(amount_minor),
        Err(error @ MoneyError::TooLarge) => {
            Err(ApiError::invalid("amount_too_large", error.to_string()).with_param("amount"))
        }
        Err(error) => Err(ApiError::validation("amount", error.to_string())),
    }
}

/// A cart: 1 to [`LINE_ITEMS_MAX`] lines, each with a sku, a quantity of at least 1 and a unit
/// amount from 0 (a free item) up to the largest amount.
pub fn line_items(
    lines: impl ExactSizeIterator<Item = LineItem>,
) -> Result<Vec<LineItem>, ApiError> {
    if lines.len() == 0 || lines.len() > LINE_ITEMS_MAX {
        return Err(ApiError::validation(
            "line_items",
            format!("`line_items` holds 1 to {LINE_ITEMS_MAX} lines"),
        ));
    }
    lines
        .enumerate()
        .map(|(index, line)| {
            let param = |field: &str| format!("line_items[{index}].{field}");
            if line.sku.is_empty() || line.sku.chars().count() > SKU_LEN_MAX {
                return Err(ApiError::validation(
                    param("sku"),
                    format!("a sku is 1 to {SKU_LEN_MAX} characters"),
                ));
            }
            text(&param("sku"), Some(line.sku.clone()))?;
            if line.quantity == 0 {
                return Err(ApiError::validation(param("quantity"), "quantity must be at least 1"));
            }
            if !(0..=AMOUNT_MINOR_MAX).contains(&line.unit_amount_minor) {
                return Err(ApiError::validation(
                    param("unit_amount"),
                    format!(
                        "unit_amount is 0 to {AMOUNT_MINOR_MAX} (in the currency's minor unit)"
                    ),
                ));
            }
            Ok(line)
        })
        .collect()
}

/// The total the rules arrived at must itself be a chargeable amount.
pub fn priced_total(total_minor: i64) -> Result<i64, ApiError> {
    match money::check_amount(total_minor) {
        Ok(()) => Ok(total_minor),
        Err(MoneyError::TooLarge) => Err(ApiError::invalid(
            "amount_too_large",
            format!("the priced total {total_minor} is above {AMOUNT_MINOR_MAX}"),
        )
        .with_param("line_items")),
        Err(_) => Err(ApiError::validation(
            "line_items",
            format!("the priced total is {total_minor}: there is nothing to charge"),
        )),
    }
}

/// A customer's tax registrations: at most [`TAX_IDS_MAX`], each a known-shaped type and value.
pub fn tax_ids(ids: Vec<(String, String)>) -> Result<Vec<TaxId>, ApiError> {
    if ids.len() > TAX_IDS_MAX {
        return Err(ApiError::validation("tax_ids", format!("at most {TAX_IDS_MAX} tax ids")));
    }
    ids.into_iter()
        .enumerate()
        .map(|(index, (kind, value))| {
            let shaped = |text: &str, max: usize| {
                !text.is_empty()
                    && text.len() <= max
                    && text.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
            };
            if !shaped(&kind, 20) {
                return Err(ApiError::validation(
                    format!("tax_ids[{index}].type"),
                    "a tax id type is letters, digits and `_`, such as `eu_vat`",
                ));
            }
            if !shaped(&value, 40) {
                return Err(ApiError::validation(
                    format!("tax_ids[{index}].value"),
                    "a tax id is 1 to 40 letters and digits, such as `DE123456789`",
                ));
            }
            Ok(TaxId { kind, value: value.to_ascii_uppercase() })
        })
        .collect()
}

/// A request's `coupon` or `promotion_code` (the customer-facing code), at most one of them.
pub fn coupon_request(
    coupon: Option<String>,
    promotion_code: Option<String>,
) -> Result<Option<Requested>, ApiError> {
    match (coupon, promotion_code) {
        (None, None) => Ok(None),
        (Some(coupon), None) => Ok(Some(Requested::Coupon(coupon))),
        (None, Some(code)) => Ok(Some(Requested::PromotionCode(code))),
        (Some(_), Some(_)) => Err(ApiError::validation(
            "promotion_code",
            "give `coupon` or `promotion_code`, not both",
        )),
    }
}

/// A feature's name, as plans and one-time purchases grant it and entitlements answer it.
pub fn feature(param: &str, feature: &str) -> Result<(), ApiError> {
    let valid = (1..=SKU_LEN_MAX).contains(&feature.len())
        && feature.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"_-.:".contains(&byte));
    match valid {
        true => Ok(()),
        false => Err(ApiError::validation(
            param,
            format!("feature `{feature}` is not 1 to {SKU_LEN_MAX} letters, digits, `_-.:`"),
        )),
    }
}

/// What a one-time purchase grants when its charge succeeds: distinct features, each for a
/// number of days or for good.
pub fn grants(grants: Vec<(String, Option<u32>)>) -> Result<Vec<FeatureGrant>, ApiError> {
    if grants.len() > CHARGE_GRANTS_MAX {
        return Err(ApiError::validation(
            "grants",
            format!("a charge grants at most {CHARGE_GRANTS_MAX} features"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    grants
        .into_iter()
        .map(|(feature, duration_days)| {
            self::feature("grants", &feature)?;
            if !seen.insert(feature.clone()) {
                return Err(ApiError::validation(
                    "grants",
                    format!("feature `{feature}` is granted twice"),
                ));
            }
            if duration_days.is_some_and(|days| !(1..=GRANT_DURATION_DAYS_MAX).contains(&days)) {
                return Err(ApiError::validation(
                    "grants",
                    format!(
                        "`duration_days` is 1 to {GRANT_DURATION_DAYS_MAX}; leave it out to \
                         grant for good"
                    ),
                ));
            }
            Ok(FeatureGrant { feature, duration_days })
        })
        .collect()
}

/// A payment method a request names: one of no valid shape is a 404, as an unknown one is.
pub fn payment_method(id: Option<String>) -> Result<Option<PaymentMethodId>, ApiError> {
    id.map(|id| {
        PaymentMethodId::parse(&id).ok_or_else(|| ApiError::not_found("payment_method", &id))
    })
    .transpose()
}
