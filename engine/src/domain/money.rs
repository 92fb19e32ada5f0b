//! Money: an integer amount in the currency's minor unit, with its ISO-4217 currency.
//! No floats anywhere: `1000` usd is $10.00, `1000` jpy is ¥1000, `1000` kwd is 1.000 KD.

use serde::{Deserialize, Serialize};

pub use iso_currency::Currency;

use crate::limits::AMOUNT_MINOR_MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("`{0}` is not a supported ISO-4217 currency code (use lower case, e.g. `usd`)")]
    UnknownCurrency(String),
    #[error("amount must be at least 1 (in the currency's minor unit)")]
    TooSmall,
    #[error("amount must be at most {AMOUNT_MINOR_MAX} (in the currency's minor unit)")]
    TooLarge,
}

/// Parses a lower-case ISO-4217 code. Codes without a minor unit (gold, `xxx`, test codes) are
/// refused: nothing can be charged in them.
pub fn parse_currency(code: &str) -> Result<Currency, MoneyError> {
    let unknown = || MoneyError::UnknownCurrency(code.to_owned());
    if code.len() != 3 || !code.bytes().all(|byte| byte.is_ascii_lowercase()) {
        return Err(unknown());
    }
    let currency = Currency::from_code(&code.to_ascii_uppercase()).ok_or_else(unknown)?;
    match currency.exponent() {
        Some(_) => Ok(currency),
        None => Err(unknown()),
    }
}

/// The lower-case code the API speaks.
pub fn currency_code(currency: Currency) -> String {
    currency.code().to_ascii_lowercase()
}

/// Digits after the decimal point of the currency's minor unit (jpy 0, usd 2, kwd 3).
pub fn minor_unit_digits(currency: Currency) -> u16 {
    currency.exponent().expect("parse_currency admits only currencies with a minor unit")
}

impl Money {
    pub fn new(amount_minor: i64, currency: Currency) -> Result<Money, MoneyError> {
        check_amount(amount_minor)?;
        Ok(Money { amount_minor, currency })
    }
}

pub fn check_amount(amount_minor: i64) -> Result<(), MoneyError> {
    if amount_minor < 1 {
        return Err(MoneyError::TooSmall);
    }
    if amount_minor > AMOUNT_MINOR_MAX {
        return Err(MoneyError::TooLarge);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_follow_iso_4217() {
        assert_eq!(minor_unit_digits(parse_currency("jpy").unwrap()), 0);
        assert_eq!(minor_unit_digits(parse_currency("usd").unwrap()), 2);
        assert_eq!(minor_unit_digits(parse_currency("kwd").unwrap()), 3);
    }

    #[test]
    fn currency_codes_must_be_known_lower_case_and_chargeable() {
        assert_eq!(currency_code(parse_currency("kes").unwrap()), "kes");
        for bad in ["USD", "xyz", "us", "usdd", "", "xau", "xxx"] {
            assert!(parse_currency(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn amounts_are_bounded() {
        let usd = parse_currency("usd").unwrap();
        assert_eq!(Money::new(0, usd), Err(MoneyError::TooSmall));
        assert_eq!(Money::new(-5, usd), Err(MoneyError::TooSmall));
        assert_eq!(Money::new(AMOUNT_MINOR_MAX + 1, usd), Err(MoneyError::TooLarge));
        assert!(Money::new(AMOUNT_MINOR_MAX, usd).is_ok());
        assert!(Money::new(1, usd).is_ok());
    }
}
