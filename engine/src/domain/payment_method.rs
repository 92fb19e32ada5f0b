//! A payment method is a gateway's token plus what may be shown of it. Never a card number, CVC
//! or bank detail: those stay with the gateway (invariant 6).

use serde::{Deserialize, Serialize};

use super::{CustomerId, PaymentMethodId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardDisplay {
    pub brand: String,
    pub last4: String,
    pub exp_month: u8,
    pub exp_year: u16,
}

/// What kind of instrument a payment method is; routing rules match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PaymentMethodKind {
    /// A card gateway's token (`pm_…`).
    #[default]
    Card,
    /// A Kenyan mobile number, normalised to `2547XXXXXXXX` / `2541XXXXXXXX`, charged by STK Push.
    Mpesa,
}

impl PaymentMethodKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethodKind::Card => "card",
            PaymentMethodKind::Mpesa => "mpesa",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentMethod {
    pub id: PaymentMethodId,
    pub customer: CustomerId,
    /// The gateway that checked the token when it was attached.
    pub gateway: String,
    pub token: String,
    pub card: Option<CardDisplay>,
    pub created: i64,
    /// Added after the first release (every earlier method is a card), hence the default.
    #[serde(default)]
    pub kind: PaymentMethodKind,
}

impl PaymentMethod {
    pub fn kind(&self) -> &'static str {
        self.kind.as_str()
    }

    /// The last digits of an M-Pesa number, all the API shows of it.
    pub fn phone_last4(&self) -> Option<&str> {
        match self.kind {
            PaymentMethodKind::Mpesa => self.token.get(self.token.len().saturating_sub(4)..),
            PaymentMethodKind::Card => None,
        }
    }
}

/// True for text that is or holds a primary account number (a card number), so it is refused
/// before it can reach a log or the store: either text that is nothing but 12 to 19 digits (with
/// spaces, dashes or dots between them), or any run of 13 to 19 digits, so separated, that
/// passes the Luhn check card numbers carry.
pub fn looks_like_card_number(text: &str) -> bool {
    let is_separator = |byte: u8| matches!(byte, b' ' | b'-' | b'.');
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    let only_digits = text.bytes().all(|byte| byte.is_ascii_digit() || is_separator(byte));
    (only_digits && (12..=19).contains(&digits)) || holds_luhn_run(text.as_bytes(), is_separator)
}

/// Looks for 13..=19 digits in a row (single separators allowed) whose digits pass Luhn.
fn holds_luhn_run(bytes: &[u8], is_separator: impl Fn(u8) -> bool) -> bool {
    let mut run: Vec<u8> = Vec::new();
    let mut previous_was_separator = false;
    for &byte in bytes.iter().chain(std::iter::once(&b'\0')) {
        if byte.is_ascii_digit() {
            run.push(byte - b'0');
            previous_was_separator = false;
            continue;
        }
        if is_separator(byte) && !previous_was_separator && !run.is_empty() {
            previous_was_separator = true;
            continue;
        }
        if (13..=19).contains(&run.len()) && passes_luhn(&run) || any_window_passes(&run) {
            return true;
        }
        run.clear();
        previous_was_separator = false;
    }
    false
}

/// A long run of digits may hide a card number inside it.
fn any_window_passes(run: &[u8]) -> bool {
    run.len() > 19 && (13..=19).any(|width| run.windows(width).any(passes_luhn))
}

fn passes_luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(position, &digit)| {
            let digit = u32::from(digit);
            match position % 2 {
                0 => digit,
                _ if digit * 2 > 9 => digit * 2 - 9,
                _ => digit * 2,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::looks_like_card_number;

    #[test]
    fn card_numbers_are_recognised() {
        for text in [
            "4242424242424242",
            "4242 4242 4242 4242",
            "4242-4242-4242-4242",
            "4242.4242.4242.4242",
            "pm_4242424242424242",
            "card 5555 5555 5555 4444 exp 12/30",
            "378282246310005",
            "ref 99994242424242424242",
        ] {
            assert!(looks_like_card_number(text), "{text} holds a card number");
        }
    }

    #[test]
    fn ordinary_text_is_not_a_card_number() {
        for text in [
            "pm_card_visa",
            "12345",
            "order 2026-11-22",
            "+254712345678",
            "4242424242424241 is not Luhn-valid",
            "pm_card_chargeDeclinedInsufficientFunds",
        ] {
            assert!(!looks_like_card_number(text), "{text} is not a card number");
        }
    }
}
