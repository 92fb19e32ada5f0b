//! `GET /v1/account` and `POST /v1/account`: the calling key's account and the settings that
//! belong to the tenant (its seller country for tax, time zone for receipts, seller details,
//! bank details, …). The admin changes any account the same way at `POST /v1/accounts/{id}`,
//! and may rename it there too. In `settings`, a field sent replaces the one kept, `null`
//! clears it, and one left out stays as it is.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::Reply;
use crate::api::error::ApiError;
use crate::api::request::ApiRequest;
use crate::api::{App, idempotency, validate, views};
use crate::domain::{
    Account, AccountId, AccountSettings, BankDetails, Event, EventKind, Metadata, Seller,
    TaxBehavior,
};
use crate::limits::{
    SELLER_ADDRESS_LEN_MAX, SELLER_NAME_LEN_MAX, STATEMENT_DESCRIPTOR_LEN_MAX,
    STATEMENT_DESCRIPTOR_LEN_MIN, TAX_ID_LEN_MAX,
};

/// Where a bank account number sits in a request: not free text (it is digits that may pass
/// Luhn), and its form is checked here.
const ACCOUNT_NUMBER_PATHS: [&str; 1] = ["settings.bank_transfer.account_number"];

/// `None`: not sent; `Some(None)`: `null`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    value: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(value).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsInput {
    #[serde(default, deserialize_with = "present")]
    country: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    timezone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    default_currency: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    tax_behavior: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    statement_descriptor: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    seller: Option<Option<SellerInput>>,
    #[serde(default, deserialize_with = "present")]
    bank_transfer: Option<Option<BankInput>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SellerInput {
    name: String,
    address: Option<String>,
    tax_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BankInput {
    bank_name: String,
    account_holder: String,
    account_number: String,
    branch_code: String,
    swift: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnAccountUpdate {
    settings: SettingsInput,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminAccountUpdate {
    name: Option<String>,
    metadata: Option<Metadata>,
    settings: Option<SettingsInput>,
}

pub async fn retrieve_own(app: &App, account: &AccountId) -> Result<Reply, ApiError> {
    let found = app.queries.account(account)?;
    let account = found.ok_or_else(|| ApiError::not_found("account", account.as_str()))?;
    Ok(Reply::ok(views::account(&account)))
}

pub async fn update_own(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let input: OwnAccountUpdate = request.json_with_credentials(&ACCOUNT_NUMBER_PATHS)?;
    objects_only(request)?;
    let found = app.queries.account(account)?;
    let mut record = found.ok_or_else(|| ApiError::not_found("account", account.as_str()))?;
    apply(&mut record.settings, input.settings)?;
    save(app, request, account, record).await
}

/// The admin's change of any account: its name, metadata and settings.
pub async fn update(app: &App, request: &ApiRequest, id: &str) -> Result<Reply, ApiError> {
    let input: AdminAccountUpdate = request.json_with_credentials(&ACCOUNT_NUMBER_PATHS)?;
    objects_only(request)?;
    let mut record = super::accounts::find(app, id)?;
    if let Some(name) = input.name {
        record.name = super::accounts::name(name)?;
    }
    if let Some(metadata) = input.metadata {
        record.metadata = validate::metadata(Some(metadata))?;
    }
    if let Some(settings) = input.settings {
        apply(&mut record.settings, settings)?;
    }
    save(app, request, &AccountId::admin_scope(), record).await
}

/// serde reads a struct from an array too (its fields in order); the contract takes objects.
fn objects_only(request: &ApiRequest) -> Result<(), ApiError> {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    for path in ["settings", "settings.seller", "settings.bank_transfer"] {
        let value = path.split('.').fold(&body, |value, part| &value[part]);
        if !(value.is_object() || value.is_null()) {
            return Err(ApiError::validation(path, format!("`{path}` is an object")));
        }
    }
    Ok(())
}

/// Writes the account with the request's answer, under `scope`'s Idempotency-Keys.
async fn save(
    app: &App,
    request: &ApiRequest,
    scope: &AccountId,
    record: Account,
) -> Result<Reply, ApiError> {
    let answer = idempotency::run(app, scope, request, |ticket| async move {
        tracing::info!(account = %record.id, "account settings changed");
        let audit = Event::new(EventKind::AccountUpdated, record.id.as_str(), &request.cause());
        app.account_writes.save_account(record, ticket, &app.accounts, audit).await
    })
    .await?;
    Ok(Reply::answer(answer))
}

/// Checks every field sent before changing any: a refused request changes nothing.
fn apply(settings: &mut AccountSettings, input: SettingsInput) -> Result<(), ApiError> {
    let mut changed = settings.clone();
    if let Some(country) = input.country {
        changed.country = country.map(self::country).transpose()?;
    }
    if let Some(zone) = input.timezone {
        changed.timezone = zone.map(timezone).transpose()?;
    }
    if let Some(currency) = input.default_currency {
        let currency = currency.map(|code| validate::currency(&code)).transpose();
        changed.default_currency =
            currency.map_err(|error| error.with_param("default_currency"))?;
    }
    if let Some(behavior) = input.tax_behavior {
        changed.tax_behavior = behavior.map(tax_behavior).transpose()?;
    }
    if let Some(descriptor) = input.statement_descriptor {
        changed.statement_descriptor = descriptor.map(statement_descriptor).transpose()?;
    }
    if let Some(seller) = input.seller {
        changed.seller = seller.map(self::seller).transpose()?;
    }
    if let Some(bank) = input.bank_transfer {
        changed.bank_transfer = bank.map(bank_details).transpose()?;
    }
    *settings = changed;
    Ok(())
}

fn country(code: String) -> Result<String, ApiError> {
    validate::country(code).map_err(|_| {
        ApiError::validation(
            "settings.country",
            "`settings.country` is a two-letter ISO 3166-1 code such as `ZA`",
        )
    })
}

fn timezone(zone: String) -> Result<String, ApiError> {
    match jiff::tz::TimeZone::get(&zone) {
        Ok(_) => Ok(zone),
        Err(_) => Err(ApiError::validation(
            "settings.timezone",
            "`settings.timezone` is an IANA time zone such as `Africa/Johannesburg`",
        )),
    }
}

fn tax_behavior(text: String) -> Result<TaxBehavior, ApiError> {
    TaxBehavior::parse(&text).ok_or_else(|| {
        ApiError::validation(
            "settings.tax_behavior",
            "`settings.tax_behavior` is inclusive or exclusive",
        )
    })
}

/// Card networks' rule, as Stripe applies it: 5 to 22 Latin letters, digits, spaces and `.,-&/`,
/// with at least one letter.
fn statement_descriptor(text: String) -> Result<String, ApiError> {
    let allowed = |byte: u8| byte.is_ascii_alphanumeric() || b" .,-&/".contains(&byte);
    let valid = (STATEMENT_DESCRIPTOR_LEN_MIN..=STATEMENT_DESCRIPTOR_LEN_MAX).contains(&text.len())
        && text.bytes().all(allowed)
        && text.bytes().any(|byte| byte.is_ascii_alphabetic());
    if !valid {
        return Err(ApiError::validation(
            "settings.statement_descriptor",
            format!(
                "`settings.statement_descriptor` is {STATEMENT_DESCRIPTOR_LEN_MIN} to \
                 {STATEMENT_DESCRIPTOR_LEN_MAX} letters, digits, spaces or `.,-&/`, with a letter"
            ),
        ));
    }
    Ok(text)
}

/// Free text of at most `max` characters (the body's free-text rules held already).
fn text(param: &str, value: String, max: usize, required: bool) -> Result<String, ApiError> {
    if required && value.trim().is_empty() {
        return Err(ApiError::validation(param, format!("`{param}` must not be empty")));
    }
    if value.chars().count() > max {
        return Err(ApiError::validation(param, format!("`{param}` is at most {max} characters")));
    }
    Ok(value)
}

fn seller(input: SellerInput) -> Result<Seller, ApiError> {
    Ok(Seller {
        name: text("settings.seller.name", input.name, SELLER_NAME_LEN_MAX, true)?,
        address: text(
            "settings.seller.address",
            input.address.unwrap_or_default(),
            SELLER_ADDRESS_LEN_MAX,
            false,
        )?,
        tax_id: text(
            "settings.seller.tax_id",
            input.tax_id.unwrap_or_default(),
            TAX_ID_LEN_MAX,
            false,
        )?,
    })
}

fn bank_details(input: BankInput) -> Result<BankDetails, ApiError> {
    let number = validate::bank_account_number(
        "settings.bank_transfer.account_number",
        &input.account_number,
    )?;
    validate::bank_code("settings.bank_transfer.branch_code", &input.branch_code)?;
    let swift = match input.swift {
        Some(code) => {
            let code = code.to_ascii_uppercase();
            let valid = matches!(code.len(), 8 | 11)
                && code.bytes().take(6).all(|byte| byte.is_ascii_uppercase())
                && code.bytes().all(|byte| byte.is_ascii_alphanumeric());
            if !valid {
                return Err(ApiError::validation(
                    "settings.bank_transfer.swift",
                    "`settings.bank_transfer.swift` is a BIC of 8 or 11 letters and digits",
                ));
            }
            Some(code)
        }
        None => None,
    };
    Ok(BankDetails {
        bank_name: text(
            "settings.bank_transfer.bank_name",
            input.bank_name,
            SELLER_NAME_LEN_MAX,
            true,
        )?,
        account_holder: text(
            "settings.bank_transfer.account_holder",
            input.account_holder,
            SELLER_NAME_LEN_MAX,
            true,
        )?,
        account_number: number,
        branch_code: input.branch_code,
        swift,
    })
}
