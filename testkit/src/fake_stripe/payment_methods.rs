//! Customers and PaymentMethods: attached, detached, and how each test token behaves.

use super::*;

pub(super) fn create_customer(state: &mut State, form: &BTreeMap<String, String>) -> Answer {
    let id = next_id(state, "cus");
    let customer = json!({
        "id": id, "object": "customer", "created": 1_700_000_000, "livemode": false,
        "email": form.get("email"), "name": form.get("name"), "metadata": metadata_of(form),
    });
    state.customers.insert(id, customer.clone());
    ok(customer)
}

/// Attaching again to the same customer is answered as the first attach was.
pub(super) fn attach_payment_method(
    state: &mut State,
    id: &str,
    form: &BTreeMap<String, String>,
) -> Answer {
    let Some(card) = card_of(id) else {
        return missing("payment_method");
    };
    let customer = form.get("customer").cloned().unwrap_or_default();
    if !state.customers.contains_key(&customer) {
        return missing("customer");
    }
    state.attached.insert((id.to_owned(), customer.clone()));
    let mut method = payment_method(id, card);
    method["customer"] = json!(customer);
    ok(method)
}

/// Detaches a PaymentMethod from every customer it is attached to; one attached to none is
/// refused as Stripe refuses it.
pub(super) fn detach_payment_method(state: &mut State, id: &str) -> Answer {
    let Some(card) = card_of(id) else {
        return missing("payment_method");
    };
    let before = state.attached.len();
    state.attached.retain(|(method, _)| method != id);
    if state.attached.len() == before {
        let message = "The payment method you provided is not attached to a customer.";
        return error(
            400,
            "invalid_request_error",
            Some("payment_method_unexpected_state"),
            None,
            message,
        );
    }
    state.detached.insert(id.to_owned());
    ok(payment_method(id, card))
}

/// Stripe's refusal of a PaymentMethod used before without being attached to the customer.
pub(super) fn used_without_attachment(
    state: &mut State,
    token: &str,
    customer: &str,
) -> Option<Answer> {
    let pair = (token.to_owned(), customer.to_owned());
    if state.attached.contains(&pair) || state.used_unattached.insert(pair) {
        return None;
    }
    let mut answer = error(
        400,
        "invalid_request_error",
        None,
        None,
        "This PaymentMethod was previously used without being attached to a Customer or was detached from a Customer, and may not be used again.",
    );
    answer.body["error"]["param"] = json!("payment_method");
    Some(answer)
}

/// What a Stripe test card does on confirm.
pub(super) enum Behaviour {
    Succeed,
    RequireAuthentication,
    Decline { code: &'static str, decline_code: &'static str, message: &'static str },
}

pub(super) fn behaviour_of(token: &str) -> Option<Behaviour> {
    let decline = |code, decline_code, message| Behaviour::Decline { code, decline_code, message };
    Some(match token {
        "pm_card_visa" | "pm_card_mastercard" => Behaviour::Succeed,
        "pm_card_threeDSecure2Required" => Behaviour::RequireAuthentication,
        "pm_card_chargeDeclined" => {
            decline("card_declined", "generic_decline", "Your card was declined.")
        }
        "pm_card_chargeDeclinedInsufficientFunds" => {
            decline("card_declined", "insufficient_funds", "Your card has insufficient funds.")
        }
        "pm_card_chargeDeclinedLostCard" => {
            decline("card_declined", "lost_card", "Your card was declined.")
        }
        "pm_card_chargeDeclinedStolenCard" => {
            decline("card_declined", "stolen_card", "Your card was declined.")
        }
        "pm_card_chargeDeclinedFraudulent" => {
            decline("card_declined", "fraudulent", "Your card was declined.")
        }
        "pm_card_chargeDeclinedExpiredCard" => {
            decline("expired_card", "expired_card", "Your card has expired.")
        }
        "pm_card_chargeDeclinedIncorrectCvc" => {
            decline("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.")
        }
        "pm_card_chargeDeclinedProcessingError" => decline(
            "processing_error",
            "processing_error",
            "An error occurred while processing your card. Try again in a little bit.",
        ),
        _ => return None,
    })
}

pub(super) fn card_of(token: &str) -> Option<(&'static str, &'static str)> {
    match token {
        "pm_card_mastercard" => Some(("mastercard", "4444")),
        "pm_card_threeDSecure2Required" => Some(("visa", "3155")),
        token if behaviour_of(token).is_some() => Some(("visa", "4242")),
        _ => None,
    }
}

pub(super) fn payment_method(id: &str, (brand, last4): (&str, &str)) -> Value {
    json!({
        "id": id, "object": "payment_method", "type": "card", "created": 1_700_000_000,
        "livemode": false, "customer": null, "metadata": {},
        "billing_details": { "address": null, "email": null, "name": null, "phone": null },
        "card": {
            "brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2034,
            "funding": "credit", "country": "US",
        },
    })
}
