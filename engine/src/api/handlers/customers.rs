//! `POST /v1/customers`, `GET /v1/customers/{id}`. A new customer is written straight to the
//! store: its id is fresh, so no actor can hold its state yet.

use serde::Deserialize;

use super::Reply;
use crate::api::error::ApiError;
use crate::api::request::ApiRequest;
use crate::api::{App, idempotency, validate, views};
use crate::domain::time::now_unix_secs;
use crate::domain::{AccountId, Address, Customer, CustomerId, Event, EventKind, Metadata};
use crate::store::{ChangeSet, Outcome, Write};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateCustomer {
    email: Option<String>,
    name: Option<String>,
    phone: Option<String>,
    address: Option<AddressInput>,
    metadata: Option<Metadata>,
    tax_ids: Option<Vec<TaxIdInput>>,
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

fn parse(request: &ApiRequest) -> Result<Customer, ApiError> {
    let input: CreateCustomer = request.json()?;
    let address = match input.address {
        Some(address) => Some(Address {
            country: validate::country(address.country)?,
            region: validate::text("address.region", address.region)?,
            postal_code: validate::text("address.postal_code", address.postal_code)?,
        }),
        None => None,
    };
    Ok(Customer {
        id: CustomerId::generate(),
        email: validate::email(input.email)?,
        name: validate::text("name", input.name)?,
        phone: validate::phone(input.phone)?,
        address,
        metadata: validate::metadata(input.metadata)?,
        created: now_unix_secs(),
        default_payment_method: None,
        tax_ids: validate::tax_ids(
            input.tax_ids.unwrap_or_default().into_iter().map(|id| (id.kind, id.value)).collect(),
        )?,
    })
}

pub async fn create(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let customer = parse(request)?;
    let answer = idempotency::run(&app.store, &app.claims, account, request, |ticket| async move {
        let id = customer.id.clone();
        let mut changes = ChangeSet::new(account, &id)
            .with(Write::Customer(customer.clone()))
            .with(Write::Event(Event::new(
                EventKind::CustomerCreated,
                id.as_str(),
                &request.request_id,
            )));
        if let Some(ticket) = ticket {
            changes.push(Write::idempotency_completed(
                &ticket.key,
                ticket.fingerprint,
                Outcome::Customer(customer.clone()),
            ));
        }
        app.store.commit(changes)?.wait().await?;
        tracing::info!(customer = %id, "customer created");
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
    app.store.customer(account, &id)?.ok_or_else(not_found)
}
