//! `POST /v1/refunds`, `GET /v1/refunds/{id}`. The refund is decided by the customer's actor,
//! which alone knows what is left of the charge, refunds under way included, or of the
//! customer's credit balance (`customer` with `origin: "customer_balance"`).

use serde::Deserialize;

use super::Reply;
use crate::actor::messages::{CreateRefund, RefundBalance, RefundPayOut};
use crate::actor::{ActorError, CustomerKey};
use crate::api::error::ApiError;
use crate::api::request::ApiRequest;
use crate::api::{App, idempotency, validate, views};
use crate::domain::money::currency_code;
use crate::domain::{AccountId, ChargeId, Currency, Destination, RefundId, RefundReason};
use crate::store::Outcome;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundInput {
    charge: Option<String>,
    /// With `origin: "customer_balance"`: the customer whose credit balance is paid back.
    customer: Option<String>,
    origin: Option<String>,
    currency: Option<String>,
    amount: Option<i64>,
    reason: Option<String>,
    reverse_transfer: Option<bool>,
    /// For a charge paid by bank transfer or M-Pesa: where to pay the money back.
    destination: Option<super::payees::DestinationInput>,
    /// For such a charge: the platform paid it back itself; record it.
    settled_outside: Option<bool>,
}

pub async fn create(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    // A destination's account number and phone are checked by their own rules, as a payee's.
    let input: RefundInput = request.json_with_credentials(&super::payees::CREDENTIALS)?;
    let amount_minor = input.amount.map(validate::amount).transpose()?;
    let reason = match &input.reason {
        Some(reason) => Some(RefundReason::parse(reason).ok_or_else(|| {
            ApiError::validation(
                "reason",
                "`reason` is one of duplicate, fraudulent, requested_by_customer",
            )
        })?),
        None => None,
    };
    let charge = match of(&input)? {
        Refunded::Charge(charge) => charge,
        Refunded::CustomerBalance(customer) => {
            return refund_balance(app, request, account, &customer, input, amount_minor, reason)
                .await;
        }
    };
    let not_found = || ApiError::not_found("charge", &charge);
    let charge_id = ChargeId::parse(&charge).ok_or_else(not_found)?;
    let charge = app.queries.charge(account, &charge_id)?.ok_or_else(not_found)?;
    let pay_out = pay_out(input.destination, input.settled_outside, charge.amount.currency)?;
    let key = CustomerKey { account: account.clone(), customer: charge.customer };
    let answer = idempotency::run(app, account, request, |ticket| async move {
        let message = CreateRefund {
            charge: charge_id,
            amount_minor,
            reason,
            idempotency: ticket,
            cause: request.cause(),
            credit_note: None,
            reverse_transfer: input.reverse_transfer.unwrap_or(true),
            pay_out,
        };
        let refund = app.registry.send(&key, message).await??;
        Ok(Outcome::Refund(refund))
    })
    .await?;
    Ok(Reply::answer(answer))
}

/// What a refund gives back, as the request names it.
enum Refunded {
    Charge(String),
    CustomerBalance(String),
}

fn of(input: &RefundInput) -> Result<Refunded, ApiError> {
    let origin = input.origin.as_deref();
    match (input.charge.clone(), input.customer.clone(), origin) {
        (Some(_), Some(_), _) => Err(ApiError::validation(
            "customer",
            "a refund gives back a `charge` or a `customer`'s credit balance, not both",
        )),
        (Some(charge), None, None | Some("charge")) => Ok(Refunded::Charge(charge)),
        (None, Some(customer), None | Some("customer_balance")) => {
            Ok(Refunded::CustomerBalance(customer))
        }
        (None, None, _) => Err(ApiError::validation(
            "charge",
            "name the `charge` to refund, or a `customer` with `origin: \"customer_balance\"` \
             to pay its credit balance back",
        )),
        (_, _, Some(_)) => Err(ApiError::validation(
            "origin",
            "`origin` is `charge` (with `charge`) or `customer_balance` (with `customer`)",
        )),
    }
}

/// Pays a customer's credit balance back out, to the destination the request names or as
/// settled outside: a balance has no card to go back to.
async fn refund_balance(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    customer: &str,
    input: RefundInput,
    amount_minor: Option<i64>,
    reason: Option<RefundReason>,
) -> Result<Reply, ApiError> {
    if input.reverse_transfer.is_some() {
        return Err(ApiError::validation(
            "reverse_transfer",
            "a refund of credit reverses no transfer: `reverse_transfer` is for charges",
        ));
    }
    let asked = input.currency.as_deref().map(validate::currency).transpose()?;
    let customer = super::customers::find(app, account, customer)
        .map_err(|error| error.with_param("customer"))?;
    // A customer that was never billed holds nothing, in no currency.
    let Some(currency) = customer.currency else {
        return Err(ActorError::InsufficientBalance { available: 0 }.into());
    };
    let Some(pay_out) = pay_out(input.destination, input.settled_outside, currency)? else {
        return Err(ApiError::validation(
            "destination",
            "a credit balance has no card to go back to: name a `destination` to pay it out \
             to, or `settled_outside: true` for credit the platform paid back itself",
        ));
    };
    let key = CustomerKey { account: account.clone(), customer: customer.id };
    let answer = idempotency::run(app, account, request, |ticket| async move {
        let message = RefundBalance {
            amount_minor,
            currency: asked,
            reason,
            idempotency: ticket,
            cause: request.cause(),
            pay_out,
        };
        let refund = app.registry.send(&key, message).await??;
        Ok(Outcome::Refund(refund))
    })
    .await?;
    Ok(Reply::answer(answer))
}

/// How a refund with no card to go back to is made, as the request says: to a bank account or
/// an M-Pesa phone able to take `currency`, or settled outside.
fn pay_out(
    destination: Option<super::payees::DestinationInput>,
    settled_outside: Option<bool>,
    currency: Currency,
) -> Result<Option<RefundPayOut>, ApiError> {
    match (destination, settled_outside.unwrap_or(false)) {
        (Some(_), true) => Err(ApiError::validation(
            "settled_outside",
            "`settled_outside` records a refund paid back without Kassa: it takes no `destination`",
        )),
        (None, true) => Ok(Some(RefundPayOut::SettledOutside)),
        (None, false) => Ok(None),
        (Some(input), false) => {
            let destination = super::payees::destination(input)?;
            if matches!(destination, Destination::Stripe { .. }) {
                return Err(ApiError::validation(
                    "destination",
                    "a refund is paid to a bank account or an M-Pesa phone",
                ));
            }
            if !destination.takes(currency) {
                return Err(ApiError::validation(
                    "destination",
                    format!(
                        "a {} destination cannot take {}",
                        destination.kind(),
                        currency_code(currency)
                    ),
                ));
            }
            Ok(Some(RefundPayOut::To(crate::payouts::destination(&destination))))
        }
    }
}

pub async fn retrieve(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    let not_found = || ApiError::not_found("refund", id);
    let id = RefundId::parse(id).ok_or_else(not_found)?;
    let refund = app.queries.refund(account, &id)?.ok_or_else(not_found)?;
    Ok(Reply::ok(views::refund(&refund)))
}
