//! `POST /v1/sponsorships`, `GET /v1/sponsorships/{id}`, `GET /v1/customers/{id}/sponsorships`,
//! `POST /v1/sponsorships/{id}/end`: a sponsor's share of a beneficiary's subscription, kept and
//! used by the beneficiary's actor.

use serde::Deserialize;
use serde_json::Value;

use super::checkout_sessions::clock_now;
use super::{Reply, customers};
use crate::actor::CustomerKey;
use crate::actor::billing::messages::{CreateSponsorship, EndSponsorship};
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, billing_views, idempotency, validate, views};
use crate::domain::{
    AccountId, OnDefault, SponsorShare, Sponsorship, SponsorshipId, SubscriptionId,
};
use crate::limits::INSTANT_MAX;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateInput {
    sponsor: String,
    beneficiary: String,
    subscription: Option<String>,
    percent_off_bps: Option<u32>,
    amount_per_period: Option<i64>,
    cap_amount: Option<i64>,
    starts_at: Option<i64>,
    ends_at: Option<i64>,
    on_default: Option<String>,
}

/// Ending takes no fields; an empty object is accepted as no body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndInput {}

fn share(input: &CreateInput) -> Result<SponsorShare, ApiError> {
    match (input.percent_off_bps, input.amount_per_period) {
        (Some(bps), None) if (1..=10_000).contains(&bps) => Ok(SponsorShare::Percent { bps }),
        (Some(_), None) => Err(ApiError::validation(
            "percent_off_bps",
            "`percent_off_bps` is 1 to 10000 (basis points of each invoice)",
        )),
        (None, Some(amount)) => {
            let amount_minor =
                validate::amount(amount).map_err(|error| error.with_param("amount_per_period"))?;
            Ok(SponsorShare::PerPeriod { amount_minor })
        }
        _ => Err(ApiError::validation(
            "percent_off_bps",
            "give either `percent_off_bps` or `amount_per_period`",
        )),
    }
}

fn instant(param: &str, value: Option<i64>) -> Result<Option<i64>, ApiError> {
    match value {
        Some(at) if !(0..=INSTANT_MAX).contains(&at) => Err(ApiError::validation(
            param,
            format!("`{param}` {at} is not Unix seconds from 1970 to 9999"),
        )),
        value => Ok(value),
    }
}

pub async fn create(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let input: CreateInput = request.json()?;
    let share = share(&input)?;
    let cap_minor = match input.cap_amount {
        Some(cap) => Some(validate::amount(cap).map_err(|error| error.with_param("cap_amount"))?),
        None => None,
    };
    let on_default = match input.on_default.as_deref() {
        None => OnDefault::BillBeneficiary,
        Some(text) => OnDefault::parse(text).ok_or_else(|| {
            ApiError::validation("on_default", "`on_default` is bill_beneficiary, revoke or absorb")
        })?,
    };
    let subscription = match &input.subscription {
        Some(id) => Some(SubscriptionId::parse(id).ok_or_else(|| {
            ApiError::validation("subscription", format!("`{id}` is not a subscription id"))
        })?),
        None => None,
    };
    let starts_at = instant("starts_at", input.starts_at)?;
    let ends_at = instant("ends_at", input.ends_at)?;
    if input.sponsor == input.beneficiary {
        return Err(ApiError::validation("sponsor", "a customer cannot sponsor itself"));
    }
    let sponsor = named_customer(app, account, "sponsor", &input.sponsor)?;
    if sponsor.deleted {
        return Err(ApiError::validation("sponsor", format!("customer {} is deleted", sponsor.id)));
    }
    let beneficiary = named_customer(app, account, "beneficiary", &input.beneficiary)?;
    let message = CreateSponsorship {
        sponsor: sponsor.id,
        sponsor_clock: sponsor.test_clock,
        subscription,
        share,
        cap_minor,
        starts_at,
        ends_at,
        on_default,
        idempotency: None,
        cause: request.cause(),
    };
    let key = CustomerKey { account: account.clone(), customer: beneficiary.id };
    let answer = idempotency::run(app, account, request, |ticket| async move {
        let message = CreateSponsorship { idempotency: ticket, ..message };
        Ok(app.registry.send(&key, message).await??)
    })
    .await?;
    Ok(Reply::answer(answer))
}

/// The customer a field of the body names: one the account does not have is the body's fault
/// (a 400 naming the field), not a missing resource.
fn named_customer(
    app: &App,
    account: &AccountId,
    param: &str,
    id: &str,
) -> Result<crate::domain::Customer, ApiError> {
    customers::find(app, account, id).map_err(|error| match error.status.as_u16() {
        404 => ApiError::validation(param, format!("no customer `{id}`")),
        _ => error,
    })
}

/// The account's sponsorship with this id, or a 404.
fn find(app: &App, account: &AccountId, id: &str) -> Result<Sponsorship, ApiError> {
    let not_found = || ApiError::not_found("sponsorship", id);
    let id = SponsorshipId::parse(id).ok_or_else(not_found)?;
    app.queries.sponsorship(account, &id)?.ok_or_else(not_found)
}

fn view(app: &App, account: &AccountId, sponsorship: &Sponsorship) -> Result<Value, ApiError> {
    let now = clock_now(app, account, sponsorship.test_clock.as_ref())?;
    Ok(billing_views::sponsorship(sponsorship, now))
}

pub async fn retrieve(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    let sponsorship = find(app, account, id)?;
    Ok(Reply::ok(view(app, account, &sponsorship)?))
}

/// The sponsorships the customer pays for and those it benefits from, newest first.
pub async fn list_for_customer(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    customer_id: &str,
) -> Result<Reply, ApiError> {
    let page = PageRequest::parse(&request.query)?;
    let customer = customers::find(app, account, customer_id)?;
    let mut sponsorships = app.queries.sponsorships(account, &customer.id)?;
    sponsorships.extend(app.queries.sponsorships_paid_by(account, &customer.id)?);
    sponsorships.sort_by(|a, b| b.id.cmp(&a.id));
    let (sponsorships, has_more) = page.apply(sponsorships, |record| record.id.as_str());
    let data: Vec<Value> = sponsorships
        .iter()
        .map(|sponsorship| view(app, account, sponsorship))
        .collect::<Result<_, _>>()?;
    Ok(Reply::ok(views::list(data, has_more)))
}

pub async fn end(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    if !request.body.is_empty() {
        let EndInput {} = request.json()?;
    }
    let sponsorship = find(app, account, id)?;
    let key = CustomerKey { account: account.clone(), customer: sponsorship.beneficiary };
    let answer = idempotency::run(app, account, request, |ticket| async move {
        let message =
            EndSponsorship { id: sponsorship.id, idempotency: ticket, cause: request.cause() };
        Ok(app.registry.send(&key, message).await??)
    })
    .await?;
    Ok(Reply::answer(answer))
}
