//! `POST /v1/payment_plans`, `GET /v1/payment_plans/{id}`, `GET /v1/customers/{id}/payment_plans`,
//! `POST /v1/payment_plans/{id}/pay_remaining`, `POST /v1/payment_plans/{id}/cancel`: a total
//! paid in instalments, each an invoice charged when due, carried out by the customer's actor.

use serde::Deserialize;
use serde_json::Value;

use super::{Reply, customers, split};
use crate::actor::CustomerKey;
use crate::actor::billing::messages::{CancelPaymentPlan, CreatePaymentPlan, PayRemaining};
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, billing_views, idempotency, validate, views};
use crate::billing::periods::{Interval, IntervalUnit};
use crate::domain::payment_plan::{INSTALMENTS_MAX, INSTALMENTS_MIN};
use crate::domain::{AccountId, Metadata, Money, PaymentPlan, PaymentPlanId};
use crate::limits::{INSTANT_MAX, PAYMENT_PLAN_GRANTS_MAX};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateInput {
    customer: String,
    amount: i64,
    currency: String,
    instalments: u32,
    interval: String,
    start: Option<i64>,
    description: Option<String>,
    payment_method: Option<String>,
    grants: Option<Vec<String>>,
    metadata: Option<Metadata>,
    transfer: Option<split::TransferInput>,
    application_fee_amount: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PayRemainingInput {
    payment_method: Option<String>,
}

/// Cancelling takes no fields; an empty object is accepted as no body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelInput {}

fn interval(text: &str) -> Result<Interval, ApiError> {
    match IntervalUnit::parse(text) {
        Some(unit @ (IntervalUnit::Week | IntervalUnit::Month)) => Ok(Interval { unit, count: 1 }),
        _ => Err(ApiError::validation("interval", "`interval` is week or month")),
    }
}

/// The features a plan grants: distinct, each a feature's name.
fn grants(grants: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    let grants = grants.unwrap_or_default();
    if grants.len() > PAYMENT_PLAN_GRANTS_MAX {
        return Err(ApiError::validation(
            "grants",
            format!("a payment plan grants at most {PAYMENT_PLAN_GRANTS_MAX} features"),
        ));
    }
    for (index, feature) in grants.iter().enumerate() {
        validate::feature("grants", feature)?;
        if grants[..index].contains(feature) {
            return Err(ApiError::validation(
                "grants",
                format!("feature `{feature}` is granted twice"),
            ));
        }
    }
    Ok(grants)
}

pub async fn create(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let input: CreateInput = request.json()?;
    let currency = validate::currency(&input.currency)?;
    let amount_minor = validate::amount(input.amount)?;
    if !(INSTALMENTS_MIN..=INSTALMENTS_MAX).contains(&input.instalments) {
        return Err(ApiError::validation(
            "instalments",
            format!("`instalments` is {INSTALMENTS_MIN} to {INSTALMENTS_MAX}"),
        ));
    }
    let interval = interval(&input.interval)?;
    if let Some(start) = input.start.filter(|start| !(0..=INSTANT_MAX).contains(start)) {
        return Err(ApiError::validation(
            "start",
            format!("`start` {start} is not Unix seconds from 1970 to 9999"),
        ));
    }
    // Each instalment's payment is split: checked against the smallest instalment.
    let transfer = match split::parse(input.transfer, input.application_fee_amount)? {
        Some(split) => {
            let smallest = amount_minor / i64::from(input.instalments.max(1));
            let priced = Money { amount_minor: smallest.max(1), currency };
            Some(Box::new(split.terms(app, account, priced)?))
        }
        None => None,
    };
    let message = CreatePaymentPlan {
        amount: Money { amount_minor, currency },
        instalments: input.instalments,
        interval,
        start: input.start,
        description: validate::text("description", input.description)?,
        payment_method: validate::payment_method(input.payment_method)?,
        grants: grants(input.grants)?,
        metadata: validate::metadata(input.metadata)?,
        idempotency: None,
        cause: request.cause(),
        transfer,
    };
    let customer = customers::find(app, account, &input.customer)?;
    let key = CustomerKey { account: account.clone(), customer: customer.id };
    let answer = idempotency::run(app, account, request, |ticket| async move {
        let message = CreatePaymentPlan { idempotency: ticket, ..message };
        Ok(app.registry.send(&key, message).await??)
    })
    .await?;
    Ok(Reply::answer(answer))
}

/// The account's payment plan with this id, or a 404.
fn find(app: &App, account: &AccountId, id: &str) -> Result<PaymentPlan, ApiError> {
    let not_found = || ApiError::not_found("payment_plan", id);
    let id = PaymentPlanId::parse(id).ok_or_else(not_found)?;
    app.queries.payment_plan(account, &id)?.ok_or_else(not_found)
}

pub async fn retrieve(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    Ok(Reply::ok(billing_views::payment_plan(&find(app, account, id)?)))
}

/// The customer's payment plans, newest first.
pub async fn list_for_customer(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    customer_id: &str,
) -> Result<Reply, ApiError> {
    let page = PageRequest::parse(&request.query)?;
    let customer = customers::find(app, account, customer_id)?;
    let mut plans = app.queries.payment_plans(account, &customer.id)?;
    plans.reverse();
    let (plans, has_more) = page.apply(plans, |plan| plan.id.as_str());
    let data: Vec<Value> = plans.iter().map(billing_views::payment_plan).collect();
    Ok(Reply::ok(views::list(data, has_more)))
}

pub async fn pay_remaining(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    let input: PayRemainingInput =
        if request.body.is_empty() { PayRemainingInput::default() } else { request.json()? };
    let payment_method = validate::payment_method(input.payment_method)?;
    let plan = find(app, account, id)?;
    let key = CustomerKey { account: account.clone(), customer: plan.customer };
    let answer = idempotency::run(app, account, request, |ticket| async move {
        let message = PayRemaining {
            id: plan.id,
            payment_method,
            idempotency: ticket,
            cause: request.cause(),
        };
        Ok(app.registry.send(&key, message).await??)
    })
    .await?;
    Ok(Reply::answer(answer))
}

pub async fn cancel(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    if !request.body.is_empty() {
        let CancelInput {} = request.json()?;
    }
    let plan = find(app, account, id)?;
    let key = CustomerKey { account: account.clone(), customer: plan.customer };
    let answer = idempotency::run(app, account, request, |ticket| async move {
        let message =
            CancelPaymentPlan { id: plan.id, idempotency: ticket, cause: request.cause() };
        Ok(app.registry.send(&key, message).await??)
    })
    .await?;
    Ok(Reply::answer(answer))
}
