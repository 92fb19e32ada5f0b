//! `POST /v1/customers`, `GET /v1/customers/{id}`, `POST /v1/customers/{id}` (update, by the
//! customer's actor), `GET /v1/customers` (`email=`). A new customer is written by the registry
//! (`Registry::create_customer`): its id is fresh, so no actor can hold its state yet.

use serde::Deserialize;
use serde_json::json;

use super::{Reply, test_clocks};
use crate::actor::CustomerKey;
use crate::actor::billing::messages::{CustomerEntitlements, CustomerUpdate, UpdateCustomer};
use crate::actor::erasure::EraseCustomer;
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, billing_views, idempotency, validate, views};
use crate::domain::customer::generate_invoice_prefix;
use crate::domain::time::now_unix_secs;
use crate::domain::{AccountId, Address, Customer, CustomerId, Metadata, PaymentMethodId};
use crate::store::Outcome;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateCustomer {
    email: Option<String>,
    name: Option<String>,
    phone: Option<String>,
    address: Option<AddressInput>,
    metadata: Option<Metadata>,
    tax_ids: Option<Vec<TaxIdInput>>,
    test_clock: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaxIdInput {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressInput {
    country: String,
    region: Option<String>,
    postal_code: Option<String>,
}

fn address(input: Option<AddressInput>) -> Result<Option<Address>, ApiError> {
    Ok(match input {
        Some(address) => Some(Address {
            country: validate::country(address.country)?,
            region: validate::text("address.region", address.region)?,
            postal_code: validate::text("address.postal_code", address.postal_code)?,
        }),
        None => None,
    })
}

fn parse(app: &App, account: &AccountId, request: &ApiRequest) -> Result<Customer, ApiError> {
    let input: CreateCustomer = request.json()?;
    let address = address(input.address)?;
    let test_clock = match input.test_clock {
        Some(id) => Some(test_clocks::find(app, account, &id)?.id),
        None => None,
    };
    Ok(Customer {
        name: validate::text("name", input.name)?,
        phone: validate::phone(input.phone)?,
        address,
        metadata: validate::metadata(input.metadata)?,
        tax_ids: validate::tax_ids(
            input.tax_ids.unwrap_or_default().into_iter().map(|id| (id.kind, id.value)).collect(),
        )?,
        test_clock,
        ..new_customer(validate::email(input.email)?)
    })
}

/// A new customer with nothing but an email address (a buyer at checkout).
pub(super) fn new_customer(email: Option<String>) -> Customer {
    Customer {
        id: CustomerId::generate(),
        email,
        name: None,
        phone: None,
        address: None,
        metadata: Metadata::default(),
        created: now_unix_secs(),
        default_payment_method: None,
        tax_ids: Vec::new(),
        balance_minor: 0,
        currency: None,
        invoice_prefix: generate_invoice_prefix(),
        invoices_numbered: 0,
        credit_notes_numbered: 0,
        test_clock: None,
        purchases: Vec::new(),
        deleted: false,
        sealed: None,
        grants: Vec::new(),
        bank_transfer_reference: None,
        balance_in_books: false,
    }
}

pub async fn create(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let customer = parse(app, account, request)?;
    let answer = idempotency::run(app, account, request, |ticket| async move {
        let cause = &request.cause();
        let customer = app.registry.create_customer(account, customer, ticket, cause).await?;
        Ok(Outcome::Customer(customer))
    })
    .await?;
    Ok(Reply::answer(answer))
}

pub async fn retrieve(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    let customer = find(app, account, id)?;
    Ok(Reply::ok(views::customer(&customer)))
}

/// The account's customer with this id, or a 404 (also for ids of no valid shape).
pub fn find(app: &App, account: &AccountId, id: &str) -> Result<Customer, ApiError> {
    let not_found = || ApiError::not_found("customer", id);
    let id = CustomerId::parse(id).ok_or_else(not_found)?;
    app.queries.customer(account, &id)?.ok_or_else(not_found)
}

/// Absent, `null` or a value: an update's field, where `null` clears it.
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Some(Option::deserialize(deserializer)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateInput {
    #[serde(default, deserialize_with = "nullable")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    address: Option<Option<AddressInput>>,
    metadata: Option<Metadata>,
    default_payment_method: Option<String>,
}

/// `DELETE /v1/customers/{id}`: erasure ([`crate::actor::erasure`]). Answered as Stripe answers
/// a deleted customer; erasing an erased one answers the same.
pub async fn erase(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    let customer = find(app, account, id)?;
    let key = CustomerKey { account: account.clone(), customer: customer.id };
    let message = EraseCustomer { cause: request.cause() };
    let erased = app.registry.send(&key, message).await??.await?;
    Ok(Reply::ok(json!({ "id": erased.id.as_str(), "object": "customer", "deleted": true })))
}

pub async fn update(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    let input: UpdateInput = request.json()?;
    let customer = find(app, account, id)?;
    let apply = CustomerUpdate {
        email: input.email.map(validate::email).transpose()?,
        name: input.name.map(|name| validate::text("name", name)).transpose()?,
        phone: input.phone.map(validate::phone).transpose()?,
        address: input.address.map(address).transpose()?,
        metadata: input.metadata.map(|metadata| validate::metadata(Some(metadata))).transpose()?,
        default_payment_method: input
            .default_payment_method
            .map(|id| {
                PaymentMethodId::parse(&id).ok_or_else(|| {
                    ApiError::invalid(
                        "payment_method_invalid",
                        format!("{id} is not a payment method of customer {}", customer.id),
                    )
                    .with_param("default_payment_method")
                })
            })
            .transpose()?,
    };
    let key = CustomerKey { account: account.clone(), customer: customer.id };
    let answer = idempotency::run(app, account, request, |ticket| async move {
        let message = UpdateCustomer { apply, idempotency: ticket, cause: request.cause() };
        Ok(app.registry.send(&key, message).await??)
    })
    .await?;
    Ok(Reply::answer(answer))
}

pub async fn list(app: &App, request: &ApiRequest, account: &AccountId) -> Result<Reply, ApiError> {
    let (page, filters) = PageRequest::parse_filtered(&request.query, &["email"])?;
    let starting_after = match &page.starting_after {
        Some(id) => Some(CustomerId::parse(id).ok_or_else(|| {
            ApiError::validation("starting_after", format!("`{id}` is not a customer id"))
        })?),
        None => None,
    };
    let (items, has_more) = match filters.get("email") {
        None => {
            let found = app.queries.customers(account, page.limit, starting_after.as_ref())?;
            (found.items, found.has_more)
        }
        Some(email) => {
            let matching = app.queries.customers_with_email(account, email)?;
            page.apply(matching, |customer| customer.id.as_str())
        }
    };
    let data: Vec<serde_json::Value> = items.iter().map(views::customer).collect();
    Ok(Reply::ok(views::list(data, has_more)))
}

/// `GET /v1/customers/{id}/entitlements` and `…/entitlements/{feature}`: what the customer may
/// use now, from its actor's state.
pub async fn entitlements(
    app: &App,
    account: &AccountId,
    id: &str,
    feature: Option<&str>,
) -> Result<Reply, ApiError> {
    // No storage read: a resident customer's actor published what its grants come from; the
    // registry finds out about others.
    let customer = CustomerId::parse(id).ok_or_else(|| ApiError::not_found("customer", id))?;
    let key = CustomerKey { account: account.clone(), customer };
    let published = app.queries.published_grants(&app.entitlements, &key, now_unix_secs());
    let grants = match published {
        Some(grants) => grants,
        None => app.registry.send(&key, CustomerEntitlements).await??,
    };
    let Some(feature) = feature else {
        let data: Vec<_> = grants.iter().map(billing_views::entitlement).collect();
        return Ok(Reply::ok(views::list(data, false)));
    };
    let grant = grants.iter().find(|grant| grant.feature == feature);
    let grant = grant.ok_or_else(|| ApiError::not_found("entitlement", feature))?;
    Ok(Reply::ok(billing_views::entitlement(grant)))
}
