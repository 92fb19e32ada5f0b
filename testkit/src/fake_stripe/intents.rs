//! PaymentIntents: created as each test token behaves, with their latest charge's
//! balance transaction, and searched.

use super::*;

pub(super) fn intent(id: &str, form: &BTreeMap<String, String>, status: &str) -> Value {
    json!({
        "id": id, "object": "payment_intent",
        "amount": form.get("amount").and_then(|amount| amount.parse::<i64>().ok()),
        "amount_capturable": 0, "amount_received": 0,
        "capture_method": "automatic_async", "confirmation_method": "automatic",
        "client_secret": format!("{id}_secret_fake"),
        "created": 1_700_000_000, "currency": form.get("currency"), "livemode": false,
        "customer": form.get("customer"), "description": form.get("description"),
        "metadata": metadata_of(form), "payment_method": form.get("payment_method"),
        "payment_method_types": ["card"], "status": status,
        "next_action": null, "last_payment_error": null,
    })
}

/// Stripe's refusal of an amount its currency rules do not allow: ISK and UGX in whole units
/// (hundredths ending in `00`), the three-decimal dinars with a last digit of 0.
pub(super) fn amount_refusal(amount: Option<&String>, currency: &str) -> Option<Answer> {
    let amount = amount.and_then(|amount| amount.parse::<i64>().ok())?;
    let step = match currency {
        "isk" | "ugx" => 100,
        "bhd" | "jod" | "kwd" | "omr" | "tnd" => 10,
        _ => 1,
    };
    if amount % step == 0 {
        return None;
    }
    let mut answer = error(
        400,
        "invalid_request_error",
        Some("invalid_charge_amount_no_decimal_compatible"),
        None,
        "Invalid amount: not evenly divisible as this currency requires.",
    );
    answer.body["error"]["param"] = json!("amount");
    Some(answer)
}

pub(super) fn create_intent(state: &mut State, form: &BTreeMap<String, String>) -> Answer {
    let currency = form.get("currency").map(String::as_str).unwrap_or("");
    if let Some(refusal) = amount_refusal(form.get("amount"), currency) {
        return refusal;
    }
    let token = form.get("payment_method").map(String::as_str).unwrap_or("");
    let Some(behaviour) = behaviour_of(token) else {
        let mut answer = error(
            400,
            "invalid_request_error",
            Some("resource_missing"),
            None,
            "No such PaymentMethod",
        );
        answer.body["error"]["param"] = json!("payment_method");
        return answer;
    };
    if let Some(customer) = form.get("customer")
        && let Some(refusal) = used_without_attachment(state, token, customer)
    {
        return refusal;
    }
    let id = next_id(state, "pi");
    let answer = match behaviour {
        Behaviour::Succeed => {
            let mut made = intent(&id, form, "succeeded");
            made["amount_received"] = made["amount"].clone();
            state.intents.insert(id, made.clone());
            return ok(with_latest_charge(&made, form, state.settlement.as_ref()));
        }
        Behaviour::RequireAuthentication => {
            let mut made = intent(&id, form, "requires_action");
            made["next_action"] = json!({ "type": "use_stripe_sdk", "use_stripe_sdk": {
                "type": "three_d_secure_redirect", "stripe_js": "https://hooks.stripe.com/3ds" } });
            ok(made)
        }
        Behaviour::Decline { code, decline_code, message } => {
            let failure = json!({ "type": "card_error", "code": code,
                "decline_code": decline_code, "message": message });
            let mut made = intent(&id, form, "requires_payment_method");
            made["last_payment_error"] = failure.clone();
            let mut body = json!({ "error": failure });
            body["error"]["payment_intent"] = made.clone();
            state.intents.insert(id, made);
            return Answer { status: 402, body, stall: None };
        }
    };
    state.intents.insert(id, answer.body.clone());
    answer
}

/// The fee the fake keeps of a charge of `amount_minor`, in the charge's currency: 2.9%
/// (rounded down) and 30 minor units, as Stripe prices US cards.
pub fn fee_of(amount_minor: i64) -> i64 {
    amount_minor * 29 / 1_000 + 30
}

/// `intent` as Stripe answers with it: a succeeded one names its charge, which comes whole,
/// with its balance transaction (the fee), when the request asked for
/// `expand[]=latest_charge.balance_transaction`.
pub(super) fn with_latest_charge(
    intent: &Value,
    params: &BTreeMap<String, String>,
    settlement: Option<&Settlement>,
) -> Value {
    let mut answered = intent.clone();
    if intent["status"] != json!("succeeded") {
        return answered;
    }
    let id = intent["id"].as_str().unwrap_or_default();
    let charge_id = format!("ch_{}", id.trim_start_matches("pi_"));
    let expanded = params.iter().any(|(name, value)| {
        name.starts_with("expand[") && value == "latest_charge.balance_transaction"
    });
    if !expanded {
        answered["latest_charge"] = json!(charge_id);
        return answered;
    }
    let amount = intent["amount"].as_i64().unwrap_or(0);
    let currency = intent["currency"].clone();
    let converted = settlement.filter(|settlement| json!(settlement.currency) != currency);
    let (settled, settled_in, exchange_rate) = match converted {
        Some(to) => (
            amount * to.numerator / to.denominator,
            json!(to.currency),
            json!(to.numerator as f64 / to.denominator as f64),
        ),
        None => (amount, currency.clone(), Value::Null),
    };
    let fee = fee_of(settled);
    let balance_transaction = json!({
        "id": format!("txn_{}", id.trim_start_matches("pi_")), "object": "balance_transaction",
        "amount": settled, "available_on": 1_700_172_800, "balance_type": "payments",
        "created": 1_700_000_000, "currency": settled_in, "description": null,
        "exchange_rate": exchange_rate, "fee": fee,
        "fee_details": [{ "amount": fee, "application": null, "currency": settled_in,
            "description": "Stripe processing fees", "type": "stripe_fee" }],
        "net": settled - fee, "reporting_category": "charge", "source": charge_id,
        "status": "pending", "type": "charge",
    });
    answered["latest_charge"] = json!({
        "id": charge_id, "object": "charge", "amount": amount, "amount_captured": amount,
        "amount_refunded": 0, "balance_transaction": balance_transaction,
        "billing_details": { "address": null, "email": null, "name": null, "phone": null },
        "captured": true, "created": 1_700_000_000, "currency": currency, "disputed": false,
        "failure_balance_transaction": null, "livemode": false, "metadata": {},
        "paid": true, "payment_intent": id, "refunded": false, "status": "succeeded",
    });
    answered
}

pub(super) fn search_intents(state: &State, query: &str) -> Answer {
    let parsed: BTreeMap<String, String> = serde_urlencoded::from_str(query).unwrap_or_default();
    let wanted = parsed.get("query").map(String::as_str).unwrap_or("");
    // `metadata['kassa_idempotency_key']:'ch_1'`: the value is the last quoted part.
    let value = wanted.rsplit(":'").next().unwrap_or("").trim_end_matches('\'');
    let data: Vec<Value> = state
        .intents
        .values()
        .filter(|intent| intent["metadata"]["kassa_idempotency_key"] == json!(value))
        .cloned()
        .collect();
    ok(json!({ "object": "search_result", "url": "/v1/payment_intents/search",
        "has_more": false, "data": data, "next_page": null }))
}
