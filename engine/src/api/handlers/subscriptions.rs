//! `POST /v1/subscriptions`, `GET /v1/subscriptions/{id}`, `POST /v1/subscriptions/{id}`,
//! `POST /v1/subscriptions/{id}/cancel`, `…/reactivate`, `…/pause`, `…/resume`,
//! `GET /v1/subscriptions/{id}/upcoming_invoice`, `GET /v1/customers/{id}/subscriptions`.
//! Each change is carried out by the customer's actor, which owns its subscriptions.

use actix::dev::ToEnvelope;
use actix::{Actor, Handler, Message};
use serde::Deserialize;
use serde_json::Value;

use super::{Reply, charges, customers, plans, split};
use crate::actor::billing::messages::{
    CancelSubscription, CreateSubscription, PauseSubscription, PaymentBehavior, PlanChange,
    PreviewInvoice, ProrationBehavior, ReactivateSubscription, ResumeSubscription, TrialEnd,
    TrialRequest, UpdateSubscription,
};
use crate::actor::{ActorError, CustomerActor, CustomerKey, IdempotencyTicket};
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, billing_views, idempotency, validate, views};
use crate::coupons::{self, Purchase, Requested, Resolved};
use crate::domain::time::now_unix_secs;
use crate::domain::{
    AccountId, Cause, CollectionMethod, CustomerId, Metadata, Money, Plan, Subscription,
    SubscriptionId,
};
use crate::limits::{SUBSCRIPTION_QUANTITY_MAX, TRIAL_DAYS_MAX};
use crate::store::Outcome;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateInput {
    customer: String,
    plan: String,
    quantity: Option<u32>,
    trial_days: Option<u32>,
    trial_end: Option<i64>,
    billing_cycle_anchor: Option<i64>,
    payment_method: Option<String>,
    collection_method: Option<String>,
    days_until_due: Option<u32>,
    coupon: Option<String>,
    promotion_code: Option<String>,
    metadata: Option<Metadata>,
    transfer: Option<split::TransferInput>,
    application_fee_amount: Option<i64>,
}

/// `trial_end` as an update takes it: Unix seconds, or `"now"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum TrialEndInput {
    At(i64),
    Word(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateInput {
    plan: Option<String>,
    quantity: Option<u32>,
    proration_behavior: Option<String>,
    payment_behavior: Option<String>,
    trial_end: Option<TrialEndInput>,
    cancel_at_period_end: Option<bool>,
    metadata: Option<Metadata>,
    payment_method: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CancelInput {
    at_period_end: Option<bool>,
    prorate: Option<bool>,
}

pub(super) fn quantity(quantity: Option<u32>) -> Result<u32, ApiError> {
    let quantity = quantity.unwrap_or(1);
    if !(1..=SUBSCRIPTION_QUANTITY_MAX).contains(&quantity) {
        return Err(ApiError::validation(
            "quantity",
            format!("`quantity` is 1 to {SUBSCRIPTION_QUANTITY_MAX}"),
        ));
    }
    Ok(quantity)
}

/// The plan a subscription names: unknown (or another account's) is the request's fault, a
/// 400 naming it, as is an inactive one.
fn plan_for_subscription(app: &App, account: &AccountId, id: &str) -> Result<Plan, ApiError> {
    let plan = plans::find(app, account, id)
        .map_err(|_| ApiError::validation("plan", format!("no such plan: {id}")))?;
    if !plan.active {
        return Err(ApiError::invalid(
            "plan_inactive",
            format!("plan {} is inactive: it takes no new subscriptions", plan.id),
        )
        .with_param("plan"));
    }
    Ok(plan)
}

pub async fn create(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let input: CreateInput = request.json()?;
    let customer = customers::find(app, account, &input.customer)?;
    let plan = plan_for_subscription(app, account, &input.plan)?;
    let trial = match (input.trial_days, input.trial_end) {
        (Some(_), Some(_)) => {
            return Err(ApiError::validation("trial_end", "give `trial_days` or `trial_end`"));
        }
        (Some(days), None) if days > TRIAL_DAYS_MAX => {
            return Err(ApiError::validation(
                "trial_days",
                format!("`trial_days` is at most {TRIAL_DAYS_MAX}"),
            ));
        }
        (Some(days), None) => TrialRequest::Days(days),
        (None, Some(end)) => TrialRequest::Until(end),
        (None, None) => TrialRequest::PlanDefault,
    };
    let collection_method = input
        .collection_method
        .map(|text| {
            CollectionMethod::parse(&text).ok_or_else(|| {
                ApiError::validation(
                    "collection_method",
                    "`collection_method` is charge_automatically or send_invoice",
                )
            })
        })
        .transpose()?;
    let requested = validate::coupon_request(input.coupon, input.promotion_code)?;
    let quantity = quantity(input.quantity)?;
    // Checked against a period's price: each invoice's payment is split by the same terms.
    let transfer = match split::parse(input.transfer, input.application_fee_amount)? {
        Some(split) => {
            let period = plan.amount_minor.saturating_mul(i64::from(quantity));
            let priced = Money { amount_minor: period, currency: plan.currency };
            Some(Box::new(split.terms(app, account, priced)?))
        }
        None => None,
    };
    let message = CreateSubscription {
        plan,
        quantity,
        trial,
        billing_cycle_anchor: input.billing_cycle_anchor,
        payment_method: validate::payment_method(input.payment_method)?,
        collection_method,
        days_until_due: input.days_until_due,
        metadata: validate::metadata(input.metadata)?,
        idempotency: None,
        cause: request.cause(),
        coupon: None,
        checkout_session: None,
        off_session: false,
        transfer,
    };
    let key = CustomerKey { account: account.clone(), customer: customer.id };
    let answer = idempotency::run(app, account, request, |ticket| async move {
        // Resolved under the key's claim: a replay answers from its record, whatever became of
        // the coupon since.
        let coupon = match &requested {
            Some(requested) => Some(subscription_coupon(app, account, &key, &message, requested)?),
            None => None,
        };
        let message = CreateSubscription { idempotency: ticket, coupon, ..message };
        Ok(app.registry.send(&key, message).await??)
    })
    .await?;
    Ok(Reply::answer(answer))
}

/// The coupon a new subscription names, checked against its plan: in the plan's currency, for
/// that plan, and the promotion code's minimum against a whole period's price before discounts.
fn subscription_coupon(
    app: &App,
    account: &AccountId,
    key: &CustomerKey,
    message: &CreateSubscription,
    requested: &Requested,
) -> Result<Resolved, ApiError> {
    plan_coupon(app, account, &key.customer, &message.plan, message.quantity, requested)
}

/// The coupon a subscription to `plan` names (or a checkout session selling one), checked as
/// [`subscription_coupon`] says.
pub(super) fn plan_coupon(
    app: &App,
    account: &AccountId,
    customer: &CustomerId,
    plan: &Plan,
    quantity: u32,
    requested: &Requested,
) -> Result<Resolved, ApiError> {
    let store = app.coupon_store.as_ref();
    let purchase = Purchase::Plan(&plan.id);
    let resolved =
        coupons::resolve(store, account, requested, plan.currency, purchase, now_unix_secs())?;
    let period_price = plan.amount_minor.saturating_mul(i64::from(quantity));
    let subtotal = Money { amount_minor: period_price, currency: plan.currency };
    resolved.check_restrictions(subtotal, || charges::has_paid(app, account, customer))?;
    Ok(resolved)
}

/// The account's subscription with this id, or a 404.
fn find(app: &App, account: &AccountId, id: &str) -> Result<Subscription, ApiError> {
    let not_found = || ApiError::not_found("subscription", id);
    let id = SubscriptionId::parse(id).ok_or_else(not_found)?;
    app.queries.subscription(account, &id)?.ok_or_else(not_found)
}

fn owner(account: &AccountId, subscription: &Subscription) -> CustomerKey {
    CustomerKey { account: account.clone(), customer: subscription.customer.clone() }
}

pub async fn retrieve(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    Ok(Reply::ok(billing_views::subscription(&find(app, account, id)?)))
}

pub async fn list_for_customer(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    customer_id: &str,
) -> Result<Reply, ApiError> {
    let page = PageRequest::parse(&request.query)?;
    let customer = customers::find(app, account, customer_id)?;
    let mut subscriptions = app.queries.subscriptions(account, &customer.id)?;
    subscriptions.reverse();
    let (page, has_more) = page.apply(subscriptions, |subscription| subscription.id.as_str());
    let data: Vec<Value> = page.iter().map(billing_views::subscription).collect();
    Ok(Reply::ok(views::list(data, has_more)))
}

fn change(
    app: &App,
    account: &AccountId,
    plan: Option<String>,
    quantity_given: Option<u32>,
    proration_behavior: Option<&str>,
) -> Result<PlanChange, ApiError> {
    let plan = match plan {
        Some(id) => Some(
            plans::find(app, account, &id)
                .map_err(|_| ApiError::validation("plan", format!("no such plan: {id}")))?,
        ),
        None => None,
    };
    let quantity = match quantity_given {
        Some(given) => Some(quantity(Some(given))?),
        None => None,
    };
    let proration_behavior = match proration_behavior {
        None => ProrationBehavior::CreateProrations,
        Some(text) => ProrationBehavior::parse(text).ok_or_else(|| {
            ApiError::validation(
                "proration_behavior",
                "`proration_behavior` is create_prorations, always_invoice or none",
            )
        })?,
    };
    Ok(PlanChange { plan, quantity, proration_behavior })
}

pub async fn update(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    let input: UpdateInput = request.json()?;
    let subscription = find(app, account, id)?;
    let payment_behavior = match input.payment_behavior.as_deref() {
        None => PaymentBehavior::AllowIncomplete,
        Some(text) => PaymentBehavior::parse(text).ok_or_else(|| {
            ApiError::validation(
                "payment_behavior",
                "`payment_behavior` is allow_incomplete or pending_if_incomplete",
            )
        })?,
    };
    let trial_end = match input.trial_end {
        None => None,
        Some(TrialEndInput::At(at)) => Some(TrialEnd::At(at)),
        Some(TrialEndInput::Word(word)) if word == "now" => Some(TrialEnd::Now),
        Some(TrialEndInput::Word(_)) => {
            return Err(ApiError::validation(
                "trial_end",
                "`trial_end` is Unix seconds or \"now\"",
            ));
        }
    };
    let change =
        change(app, account, input.plan, input.quantity, input.proration_behavior.as_deref())?;
    let metadata = input.metadata.map(|metadata| validate::metadata(Some(metadata))).transpose()?;
    let key = owner(account, &subscription);
    let message = UpdateSubscription {
        id: subscription.id,
        change,
        payment_behavior,
        trial_end,
        cancel_at_period_end: input.cancel_at_period_end,
        metadata,
        payment_method: validate::payment_method(input.payment_method)?,
        idempotency: None,
        cause: request.cause(),
    };
    let answer = idempotency::run(app, account, request, |ticket| async move {
        let message = UpdateSubscription { idempotency: ticket, ..message };
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
    let input: CancelInput =
        if request.body.is_empty() { CancelInput::default() } else { request.json()? };
    send_to_owner(app, request, account, id, |id, idempotency, cause| CancelSubscription {
        id,
        at_period_end: input.at_period_end.unwrap_or(false),
        prorate: input.prorate.unwrap_or(false),
        idempotency,
        cause,
    })
    .await
}

pub async fn reactivate(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    send_to_owner(app, request, account, id, |id, idempotency, cause| ReactivateSubscription {
        id,
        idempotency,
        cause,
    })
    .await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PauseInput {
    resumes_at: Option<i64>,
}

pub async fn pause(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    // Pausing until resumed needs no body at all.
    let input: PauseInput =
        if request.body.is_empty() { PauseInput::default() } else { request.json()? };
    send_to_owner(app, request, account, id, |id, idempotency, cause| PauseSubscription {
        id,
        resumes_at: input.resumes_at,
        idempotency,
        cause,
    })
    .await
}

pub async fn resume(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    send_to_owner(app, request, account, id, |id, idempotency, cause| ResumeSubscription {
        id,
        idempotency,
        cause,
    })
    .await
}

/// Sends subscription `id`'s actor the message `build` makes from the subscription's id, the
/// request's idempotency ticket and its request id, and answers with the outcome (the first
/// answer again when the Idempotency-Key was used before).
async fn send_to_owner<M>(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
    build: impl FnOnce(SubscriptionId, Option<IdempotencyTicket>, Cause) -> M,
) -> Result<Reply, ApiError>
where
    M: Message<Result = Result<Outcome, ActorError>> + Clone + Send + 'static,
    CustomerActor: Handler<M>,
    <CustomerActor as Actor>::Context: ToEnvelope<CustomerActor, M>,
{
    let subscription = find(app, account, id)?;
    let key = owner(account, &subscription);
    let answer = idempotency::run(app, account, request, |ticket| async move {
        let message = build(subscription.id, ticket, request.cause());
        Ok(app.registry.send(&key, message).await??)
    })
    .await?;
    Ok(Reply::answer(answer))
}

pub async fn upcoming_invoice(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    let filters = ["plan", "quantity", "proration_date", "proration_behavior"];
    let (_, query) = PageRequest::parse_filtered(&request.query, &filters)?;
    let subscription = find(app, account, id)?;
    let quantity = query
        .get("quantity")
        .map(|text| text.parse::<u32>().map_err(|_| ApiError::validation("quantity", "an integer")))
        .transpose()?;
    let at = query
        .get("proration_date")
        .map(|text| {
            text.parse::<i64>().map_err(|_| ApiError::validation("proration_date", "Unix seconds"))
        })
        .transpose()?;
    let plan = query.get("plan").cloned();
    let changed = plan.is_some() || quantity.is_some();
    let change =
        change(app, account, plan, quantity, query.get("proration_behavior").map(String::as_str))?;
    let key = owner(account, &subscription);
    let message = PreviewInvoice { id: subscription.id, change: changed.then_some(change), at };
    let invoice = app.registry.send(&key, message).await??;
    Ok(Reply::ok(billing_views::invoice(&invoice, true)))
}
