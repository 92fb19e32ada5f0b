//! Checks on client-supplied fields beyond their JSON types, each failing with a 400 that names
//! the field.

use super::error::ApiError;
use crate::domain::money::{self, MoneyError};
use crate::domain::payment_method::looks_like_card_number;
use crate::domain::{Currency, Metadata};
use crate::limits::{
    METADATA_KEY_LEN_MAX, METADATA_KEYS_MAX, METADATA_VALUE_LEN_MAX, TEXT_FIELD_LEN_MAX,
};

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

/// A phone number: digits with the usual punctuation, no card-number check (a long phone number
/// can pass Luhn by chance).
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
