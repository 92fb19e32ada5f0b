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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentMethod {
    pub id: PaymentMethodId,
    pub customer: CustomerId,
    /// The gateway that issued the token, and so the one that can charge it.
    pub gateway: String,
    pub token: String,
    pub card: Option<CardDisplay>,
    pub created: i64,
}

impl PaymentMethod {
    pub fn kind(&self) -> &'static str {
        "card"
    }
}

/// True for text that looks like a primary account number: 12 to 19 digits, possibly separated
/// by spaces or dashes. Such text is refused before it reaches a log or the store.
pub fn looks_like_card_number(text: &str) -> bool {
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    let only_digits_and_separators =
        text.bytes().all(|byte| byte.is_ascii_digit() || byte == b' ' || byte == b'-');
    only_digits_and_separators && (12..=19).contains(&digits)
}

#[cfg(test)]
mod tests {
    use super::looks_like_card_number;

    #[test]
    fn card_numbers_are_recognised() {
        assert!(looks_like_card_number("4242424242424242"));
        assert!(looks_like_card_number("4242 4242 4242 4242"));
        assert!(looks_like_card_number("4242-4242-4242-4242"));
        assert!(!looks_like_card_number("pm_card_visa"));
        assert!(!looks_like_card_number("12345"));
    }
}
