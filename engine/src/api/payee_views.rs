//! Payees and their payouts as the API shows them: a bank account number as its last four
//! characters only.

use serde_json::{Value, json};

use crate::domain::money::currency_code;
use crate::domain::{Destination, Payee, Payout};

pub fn payee(payee: &Payee) -> Value {
    let schedule = &payee.payout_schedule;
    json!({
        "id": payee.id.as_str(),
        "object": "payee",
        "name": payee.name,
        "email": payee.email,
        "country": payee.country,
        "default_currency": currency_code(payee.default_currency),
        "destination": destination(&payee.destination),
        "payout_schedule": {
            "interval": schedule.interval.as_str(),
            "weekly_anchor": schedule.weekly_anchor,
            "monthly_anchor": schedule.monthly_anchor,
            "delay_days": schedule.delay_days,
            "minimum_amount": schedule.minimum_amount,
        },
        "test_clock": payee.test_clock.as_ref().map(|clock| clock.as_str()),
        "metadata": payee.metadata,
        "destination_failure": payee.destination_failure.as_ref().map(|failure| json!({
            "payout": failure.payout.as_str(),
            "code": failure.code,
            "message": failure.message,
            "created": failure.at,
        })),
        "created": payee.created,
    })
}

pub fn payout(payout: &Payout) -> Value {
    json!({
        "id": payout.id.as_str(),
        "object": "payout",
        "payee": payout.payee.as_str(),
        "amount": payout.amount_minor,
        "currency": currency_code(payout.currency),
        "status": payout.status().as_str(),
        "method": payout.method,
        "automatic": payout.scheduled_for.is_some(),
        "failure_code": payout.failure_code,
        "failure_message": payout.failure_message,
        "amount_returned": payout.returned_minor(),
        "arrival_date": payout.arrival_date,
        "parts": payout.parts.iter().map(|part| json!({
            "amount": part.amount_minor,
            "amount_returned": part.returned_minor(),
            "status": match part.status {
                crate::domain::PartStatus::Pending => "pending",
                crate::domain::PartStatus::InTransit => "in_transit",
                crate::domain::PartStatus::Paid => "paid",
                crate::domain::PartStatus::Failed => "failed",
                crate::domain::PartStatus::Returned => "returned",
            },
        })).collect::<Vec<_>>(),
        "created": payout.created,
    })
}

fn destination(destination: &Destination) -> Value {
    match destination {
        Destination::BankAccount { account_holder, bank_code, .. } => json!({
            "type": "bank_account",
            "account_holder": account_holder,
            "bank_code": bank_code,
            "last4": destination.last4(),
        }),
        Destination::Mpesa { phone } => json!({"type": "mpesa", "phone": phone}),
        Destination::Stripe { account } => json!({"type": "stripe", "account": account}),
    }
}
