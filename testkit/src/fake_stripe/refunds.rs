//! Refunds of PaymentIntents, with their balance transactions, and their list.

use super::*;

pub(super) fn refunded_minor(state: &State, intent_id: &str) -> i64 {
    state
        .refunds
        .values()
        .filter(|refund| refund["payment_intent"] == json!(intent_id))
        .filter_map(|refund| refund["amount"].as_i64())
        .sum()
}

pub(super) fn create_refund(state: &mut State, form: &BTreeMap<String, String>) -> Answer {
    let intent_id = form.get("payment_intent").cloned().unwrap_or_default();
    let Some(intent) = state.intents.get(&intent_id).cloned() else {
        return missing("payment_intent");
    };
    if let Some(refusal) =
        amount_refusal(form.get("amount"), intent["currency"].as_str().unwrap_or(""))
    {
        return refusal;
    }
    let captured = intent["amount_received"].as_i64().unwrap_or(0);
    let left = captured - refunded_minor(state, &intent_id);
    let amount = form.get("amount").and_then(|amount| amount.parse::<i64>().ok()).unwrap_or(left);
    if left == 0 {
        return error(
            400,
            "invalid_request_error",
            Some("charge_already_refunded"),
            None,
            "Charge has already been refunded.",
        );
    }
    if amount > left {
        return error(
            400,
            "invalid_request_error",
            Some("amount_too_large"),
            None,
            "Refund amount is greater than unrefunded amount on charge",
        );
    }
    let id = next_id(state, "re");
    let currency = &intent["currency"];
    // Taken from the balance in the account's currency at the rate of the day.
    let converted = state.settlement.as_ref().filter(|to| json!(to.currency) != *currency);
    let (taken, taken_in) = match converted {
        Some(to) => (amount * to.numerator / to.denominator, json!(to.currency)),
        None => (amount, currency.clone()),
    };
    let balance_transaction = json!({
        "id": format!("txn_{}", id.trim_start_matches("re_")), "object": "balance_transaction",
        "amount": -taken, "available_on": 1_700_000_000, "balance_type": "payments",
        "created": 1_700_000_000, "currency": taken_in, "description": null,
        "exchange_rate": null, "fee": 0, "fee_details": [], "net": -taken,
        "reporting_category": "refund", "source": id, "status": "available", "type": "refund",
    });
    let refund = json!({
        "id": id, "object": "refund", "amount": amount, "created": 1_700_000_000,
        "currency": currency, "status": "succeeded", "payment_intent": intent_id,
        "metadata": metadata_of(form), "balance_transaction": balance_transaction,
    });
    state.refunds.insert(id, refund.clone());
    ok(with_balance_transaction(&refund, form))
}

/// A refund as Stripe answers with it: its balance transaction whole when the request asked
/// for `expand[]=balance_transaction`, else its id.
pub(super) fn with_balance_transaction(refund: &Value, params: &BTreeMap<String, String>) -> Value {
    let expanded = params
        .iter()
        .any(|(name, value)| name.starts_with("expand[") && value == "balance_transaction");
    let mut answered = refund.clone();
    if !expanded {
        answered["balance_transaction"] = refund["balance_transaction"]["id"].clone();
    }
    answered
}

pub(super) fn list_refunds(state: &State, query: &str) -> Answer {
    let parsed: BTreeMap<String, String> = serde_urlencoded::from_str(query).unwrap_or_default();
    let wanted = parsed.get("payment_intent").cloned().unwrap_or_default();
    let data: Vec<Value> = state
        .refunds
        .values()
        .filter(|refund| refund["payment_intent"] == json!(wanted))
        .map(|refund| with_balance_transaction(refund, &BTreeMap::new()))
        .collect();
    ok(json!({ "object": "list", "url": "/v1/refunds", "has_more": false, "data": data }))
}
