//! Transfers to connected accounts, and their list.

use super::*;

/// A Transfer to a connected account: `acct_closed…` is refused as Stripe refuses a closed
/// account, anything not `acct_…` as an unknown destination.
pub(super) fn create_transfer(state: &mut State, form: &BTreeMap<String, String>) -> Answer {
    let (Some(amount), Some(currency), Some(destination)) =
        (form.get("amount"), form.get("currency"), form.get("destination"))
    else {
        return error(
            400,
            "invalid_request_error",
            Some("parameter_missing"),
            None,
            "Missing amount, currency or destination",
        );
    };
    if !destination.starts_with("acct_") {
        return missing("destination");
    }
    if destination.starts_with("acct_closed") {
        return error(
            400,
            "invalid_request_error",
            Some("account_invalid"),
            None,
            "The destination account is closed",
        );
    }
    let id = next_id(state, "tr");
    let transfer = json!({
        "id": id, "object": "transfer", "amount": amount.parse::<i64>().unwrap_or(0),
        "amount_reversed": 0, "currency": currency, "destination": destination,
        "description": form.get("description"), "created": 1_700_000_000, "livemode": false,
        "metadata": metadata_of(form), "reversed": false,
        "reversals": {"object": "list", "data": [], "has_more": false, "url": format!("/v1/transfers/{id}/reversals")},
    });
    state.transfers.insert(id, transfer.clone());
    ok(transfer)
}

pub(super) fn list_transfers(state: &State, query: &str) -> Answer {
    let query: BTreeMap<String, String> = serde_urlencoded::from_str(query).unwrap_or_default();
    let destination = query.get("destination");
    let data: Vec<&Value> = state
        .transfers
        .values()
        .rev()
        .filter(|transfer| destination.is_none_or(|wanted| transfer["destination"] == **wanted))
        .collect();
    ok(json!({ "object": "list", "url": "/v1/transfers", "has_more": false, "data": data }))
}

impl FakeStripe {
    /// The Transfers made, oldest first.
    pub fn transfers(&self) -> Vec<Value> {
        self.state.lock().unwrap().transfers.values().cloned().collect()
    }
}
