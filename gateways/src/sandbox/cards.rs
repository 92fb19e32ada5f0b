//! The sandbox's test payment methods: Stripe's documented test tokens, with the card each stands
//! for and what a charge on it does, plus Kassa's own `pm_sandbox_timeout`.

use crate::DeclineCode;

/// What a charge on a test card does at the sandbox "processor".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Succeed,
    Decline(DeclineCode),
    /// Charged at the processor, but the answer comes back only after the caller's timeout: the
    /// ambiguous case that recovery must settle by retrieving, never by charging again.
    SucceedAfterTimeout,
}

#[derive(Debug, Clone, Copy)]
pub struct TestCard {
    pub token: &'static str,
    pub brand: &'static str,
    pub last4: &'static str,
    pub behaviour: Behaviour,
}

/// Test cards expire at the end of this month and year, comfortably in the future.
pub const EXP_MONTH: u8 = 12;
pub const EXP_YEAR: u16 = 2034;

const fn card(
    token: &'static str,
    brand: &'static str,
    last4: &'static str,
    behaviour: Behaviour,
) -> TestCard {
    TestCard { token, brand, last4, behaviour }
}

use Behaviour::{Decline, Succeed, SucceedAfterTimeout};
use DeclineCode::*;

pub const TEST_CARDS: &[TestCard] = &[
    card("pm_card_visa", "visa", "4242", Succeed),
    card("pm_card_visa_debit", "visa", "5556", Succeed),
    card("pm_card_mastercard", "mastercard", "4444", Succeed),
    card("pm_card_mastercard_debit", "mastercard", "8210", Succeed),
    card("pm_card_mastercard_prepaid", "mastercard", "5100", Succeed),
    card("pm_card_amex", "amex", "8431", Succeed),
    card("pm_card_discover", "discover", "1117", Succeed),
    card("pm_card_diners", "diners", "0004", Succeed),
    card("pm_card_jcb", "jcb", "0505", Succeed),
    card("pm_card_unionpay", "unionpay", "0005", Succeed),
    card("pm_card_chargeDeclined", "visa", "0002", Decline(GenericDecline)),
    card("pm_card_chargeDeclinedInsufficientFunds", "visa", "9995", Decline(InsufficientFunds)),
    card("pm_card_chargeDeclinedExpiredCard", "visa", "0069", Decline(ExpiredCard)),
    card("pm_card_chargeDeclinedIncorrectCvc", "visa", "0127", Decline(IncorrectCvc)),
    card("pm_card_chargeDeclinedProcessingError", "visa", "0119", Decline(ProcessingError)),
    card("pm_card_chargeDeclinedLostCard", "visa", "9987", Decline(LostCard)),
    card("pm_card_chargeDeclinedStolenCard", "visa", "9979", Decline(StolenCard)),
    card("pm_card_chargeDeclinedFraudulent", "visa", "0019", Decline(Fraudulent)),
    card("pm_sandbox_timeout", "visa", "0077", SucceedAfterTimeout),
];

pub fn find(token: &str) -> Option<&'static TestCard> {
    TEST_CARDS.iter().find(|card| card.token == token)
}

/// The message a processor would give with each decline.
pub fn decline_message(decline: DeclineCode) -> &'static str {
    match decline {
        GenericDecline => "Your card was declined.",
        InsufficientFunds => "Your card has insufficient funds.",
        ExpiredCard => "Your card has expired.",
        IncorrectCvc => "Your card's security code is incorrect.",
        LostCard => "Your card was declined.",
        StolenCard => "Your card was declined.",
        ProcessingError => {
            "An error occurred while processing your card. Try again in a little bit."
        }
        Fraudulent => "Your card was declined.",
        IncorrectPin => "The PIN entered was incorrect.",
        CustomerCancelled => "The customer cancelled the payment.",
        CustomerUnreachable => "The customer could not be reached.",
    }
}
