//! Checkout Sessions: created in `payment` or `setup` mode, expired.

use super::*;

/// A Checkout Session in payment or setup mode, as Stripe answers its creation: the fields
/// async-stripe requires, what the request set, and where the buyer would pay.
pub(super) fn create_checkout_session(
    state: &mut State,
    form: &BTreeMap<String, String>,
) -> Answer {
    let field = |name: &str| form.get(name).cloned();
    let Some(success_url) = field("success_url") else { return missing("success_url") };
    let id = next_id(state, "cs_test");
    let amount: i64 = field("line_items[0][price_data][unit_amount]")
        .and_then(|amount| amount.parse().ok())
        .unwrap_or(0);
    let quantity: i64 =
        field("line_items[0][quantity]").and_then(|quantity| quantity.parse().ok()).unwrap_or(1);
    let session = json!({
        "id": id,
        "object": "checkout.session",
        "automatic_tax": {"enabled": false, "liability": null, "provider": null, "status": null},
        "amount_subtotal": amount * quantity,
        "amount_total": amount * quantity,
        "client_reference_id": field("client_reference_id"),
        "created": 1_700_000_000,
        "currency": field("line_items[0][price_data][currency]").or_else(|| field("currency")),
        "custom_fields": [],
        "custom_text": {"after_submit": null, "shipping_address": null, "submit": null,
                        "terms_of_service_acceptance": null},
        "customer": field("customer"),
        "expires_at": field("expires_at").and_then(|at| at.parse::<i64>().ok()).unwrap_or(0),
        "livemode": false,
        "metadata": metadata_of(form),
        "mode": field("mode").unwrap_or_default(),
        "payment_intent": null,
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "shipping_options": [],
        "status": "open",
        "success_url": success_url,
        "cancel_url": field("cancel_url"),
        "url": format!("https://checkout.stripe.test/c/pay/{id}"),
        // What the request asked of the PaymentIntent, for the tests to read.
        "payment_intent_data": {
            "setup_future_usage": field("payment_intent_data[setup_future_usage]"),
            "metadata": metadata_under(form, "payment_intent_data[metadata]["),
        },
        "product": field("line_items[0][price_data][product_data][name]"),
        // What the request asked of the SetupIntent (setup mode).
        "setup_intent_data": {
            "description": field("setup_intent_data[description]"),
            "metadata": metadata_under(form, "setup_intent_data[metadata]["),
        },
    });
    state.checkout_sessions.insert(id, session.clone());
    ok(session)
}

/// Stripe expires an open Checkout Session and refuses one that is complete or expired.
pub(super) fn expire_checkout_session(state: &mut State, id: &str) -> Answer {
    let Some(session) = state.checkout_sessions.get_mut(id) else { return missing("session") };
    if session["status"] != "open" {
        let message = format!(
            "Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout \
             Session has a status of \"{}\".",
            session["status"].as_str().unwrap_or_default()
        );
        return error(400, "invalid_request_error", None, None, &message);
    }
    session["status"] = json!("expired");
    ok(session.clone())
}
