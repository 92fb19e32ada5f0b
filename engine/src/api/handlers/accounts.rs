//! The admin routes (`accounts.admin_key`): `POST/GET /v1/accounts`, `GET /v1/accounts/{id}`,
//! and each account's keys under `/v1/accounts/{id}/keys`. A key's secret is in the answer that
//! made it and nowhere else: the store keeps its SHA-256, and a replay of the request that made
//! it shows the key without it (the client that lost the first answer revokes that key and makes
//! another).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Body, Reply};
use crate::api::auth::hash_key;
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, idempotency, validate, views};
use crate::domain::time::now_unix_secs;
use crate::domain::{
    Access, Account, AccountId, ApiKey, ApiKeyId, Event, EventKind, KeyMode, Metadata, Permissions,
    Resource,
};
use crate::limits::KEY_EXPIRES_AT_MAX;
use crate::secrets::random_alphanumeric;
use crate::store::Outcome;

/// Random characters after `sk_`/`rk_`: 238 bits.
const SECRET_RANDOM_CHARS: usize = 40;
/// The secret's first characters a list shows (`sk_` and 8 random ones).
const SHOWN_PREFIX_CHARS: usize = 11;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateAccount {
    name: String,
    metadata: Option<Metadata>,
}

pub async fn create(app: &App, request: &ApiRequest) -> Result<Reply, ApiError> {
    let input: CreateAccount = request.json()?;
    let account = Account {
        id: AccountId::generate(),
        name: name(input.name)?,
        metadata: validate::metadata(input.metadata)?,
        created: now_unix_secs(),
        settings: Default::default(),
    };
    let answer = idempotency::run(app, &AccountId::admin_scope(), request, |ticket| async move {
        tracing::info!(account = %account.id, "account created");
        let audit = Event::new(EventKind::AccountCreated, account.id.as_str(), &request.cause());
        app.account_writes.save_account(account, ticket, &app.accounts, audit).await
    })
    .await?;
    Ok(Reply::answer(answer))
}

pub(super) fn name(name: String) -> Result<String, ApiError> {
    match validate::text("name", Some(name))? {
        Some(name) if !name.trim().is_empty() => Ok(name),
        _ => Err(ApiError::validation("name", "`name` must not be empty")),
    }
}

/// The account with this id, or a 404.
pub(super) fn find(app: &App, id: &str) -> Result<Account, ApiError> {
    let not_found = || ApiError::not_found("account", id);
    let id = AccountId::parse(id).ok_or_else(not_found)?;
    app.queries.account(&id)?.ok_or_else(not_found)
}

pub async fn retrieve(app: &App, id: &str) -> Result<Reply, ApiError> {
    Ok(Reply::ok(views::account(&find(app, id)?)))
}

/// Newest first; accounts are few (one per tenant), so they are paged in memory.
pub async fn list(app: &App, request: &ApiRequest) -> Result<Reply, ApiError> {
    let page = PageRequest::parse(&request.query)?;
    cursor(&page, "an account", |id| AccountId::parse(id).is_some())?;
    let mut accounts = app.queries.accounts()?;
    accounts.sort_by(|a, b| (b.created, &b.id).cmp(&(a.created, &a.id)));
    let (found, has_more) = page.apply(accounts, |account| account.id.as_str());
    Ok(Reply::ok(views::list(found.iter().map(views::account).collect(), has_more)))
}

/// A `starting_after` of no id of the list's kind is a 400, as on every other list.
fn cursor(page: &PageRequest, kind: &str, valid: impl Fn(&str) -> bool) -> Result<(), ApiError> {
    match &page.starting_after {
        Some(id) if !valid(id) => {
            Err(ApiError::validation("starting_after", format!("`{id}` is not the id of {kind}")))
        }
        _ => Ok(()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    mode: String,
    permissions: Option<Value>,
    expires_at: Option<i64>,
}

pub async fn create_key(
    app: &App,
    request: &ApiRequest,
    account_id: &str,
) -> Result<Reply, ApiError> {
    let account = find(app, account_id)?.id;
    let input: CreateKey = request.json()?;
    let mode = KeyMode::parse(&input.mode)
        .ok_or_else(|| ApiError::validation("mode", "`mode` is secret or restricted"))?;
    let permissions = match (mode, input.permissions) {
        (KeyMode::Secret, None | Some(Value::Null)) => Permissions::All,
        (KeyMode::Secret, Some(_)) => {
            return Err(ApiError::validation(
                "permissions",
                "a secret key may do everything: `permissions` is for restricted keys",
            ));
        }
        (KeyMode::Restricted, None | Some(Value::Null)) => {
            return Err(ApiError::validation(
                "permissions",
                "a restricted key needs `permissions`: \"read_only\", or {resource: read|write}",
            ));
        }
        (KeyMode::Restricted, Some(value)) => permissions(&value)?,
    };
    let now = now_unix_secs();
    let expires_at = input.expires_at.map(|at| expiry(at, now)).transpose()?;
    let secret = format!("{}{}", mode.secret_prefix(), random_alphanumeric(SECRET_RANDOM_CHARS));
    let key = ApiKey {
        id: ApiKeyId::generate(),
        account,
        mode,
        permissions,
        hash: hash_key(&secret),
        prefix: secret[..SHOWN_PREFIX_CHARS].to_owned(),
        expires_at,
        created: now,
        last_used: None,
        revoked_at: None,
    };
    let answer = idempotency::run(app, &AccountId::admin_scope(), request, |ticket| async move {
        let record = ticket.map(|ticket| {
            idempotency::completed(ticket, Outcome::ApiKey(key.clone()))
        });
        let answered = record.as_ref().map(|(hashed, record)| (hashed.as_str(), record));
        let audit = Event::new(EventKind::ApiKeyCreated, key.id.as_str(), &request.cause())
            .status(None, "active");
        app.api_keys.made.insert(key.clone(), answered, &audit).await?;
        tracing::info!(account = %key.account, key = %key.id, mode = key.mode.as_str(), "API key created");
        Ok(Outcome::ApiKey(key))
    })
    .await?;
    let Outcome::ApiKey(key) = &answer.outcome else {
        return Ok(Reply::answer(answer));
    };
    let mut view = views::api_key(key);
    if !answer.replayed {
        view["secret"] = json!(secret);
    }
    Ok(Reply {
        status: warp::http::StatusCode::OK,
        body: Body::json(&view),
        replayed: answer.replayed,
    })
}

/// `"read_only"`, or a map of resource names to `read` or `write`.
fn permissions(value: &Value) -> Result<Permissions, ApiError> {
    let names = || Resource::ALL.map(Resource::as_str).join(", ");
    match value {
        Value::String(text) if text == "read_only" => Ok(Permissions::ReadOnly),
        Value::Object(fields) if !fields.is_empty() => {
            let mut granted = BTreeMap::new();
            for (name, access) in fields {
                let resource = Resource::parse(name).ok_or_else(|| {
                    ApiError::validation(
                        "permissions",
                        format!("`{name}` is not a resource; the resources are {}", names()),
                    )
                })?;
                let access = access.as_str().and_then(Access::parse).ok_or_else(|| {
                    ApiError::validation(
                        "permissions",
                        format!("`permissions.{name}` is read or write"),
                    )
                })?;
                granted.insert(resource, access);
            }
            Ok(Permissions::PerResource(granted))
        }
        _ => Err(ApiError::validation(
            "permissions",
            format!(
                "`permissions` is \"read_only\", or an object of resources ({}) to read or write",
                names()
            ),
        )),
    }
}

/// An expiry must be in the future: a key that should stop now is revoked.
fn expiry(at: i64, now: i64) -> Result<i64, ApiError> {
    if at <= now || at > KEY_EXPIRES_AT_MAX {
        return Err(ApiError::validation(
            "expires_at",
            "`expires_at` is a Unix time in the future (to stop a key now, DELETE it)",
        ));
    }
    Ok(at)
}

/// The account's key with this id that is not revoked, or a 404.
fn find_key(
    app: &App,
    account_id: &str,
    key_id: &str,
) -> Result<std::sync::Arc<crate::api::key_table::KeyEntry>, ApiError> {
    let account = find(app, account_id)?.id;
    let not_found = || ApiError::not_found("API key", key_id);
    let id = ApiKeyId::parse(key_id).ok_or_else(not_found)?;
    app.api_keys.made.get(&account, &id).ok_or_else(not_found)
}

pub async fn list_keys(
    app: &App,
    request: &ApiRequest,
    account_id: &str,
) -> Result<Reply, ApiError> {
    let page = PageRequest::parse(&request.query)?;
    cursor(&page, "an API key", |id| ApiKeyId::parse(id).is_some())?;
    let account = find(app, account_id)?.id;
    let keys = app.api_keys.made.of_account(&account);
    let (found, has_more) = page.apply(keys, |key| key.id.as_str());
    Ok(Reply::ok(views::list(found.iter().map(views::api_key).collect(), has_more)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateKey {
    /// `None`: not sent; `Some(None)`: `null`, the key lives on.
    #[serde(default, deserialize_with = "present")]
    expires_at: Option<Option<i64>>,
}

fn present<'de, D: serde::Deserializer<'de>>(value: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(value).map(Some)
}

/// `POST /v1/accounts/{id}/keys/{key_id}` `{expires_at}`: rotation keeps the old key working
/// until then; `null` lets it live on.
pub async fn update_key(
    app: &App,
    request: &ApiRequest,
    account_id: &str,
    key_id: &str,
) -> Result<Reply, ApiError> {
    let entry = find_key(app, account_id, key_id)?;
    if entry.usable_at(now_unix_secs()).is_err() {
        return Err(ApiError::not_found("API key", key_id));
    }
    let input: UpdateKey = request.json()?;
    let expires_at = match input.expires_at {
        Some(at) => at.map(|at| expiry(at, now_unix_secs())).transpose()?,
        None => return Err(ApiError::validation("expires_at", "`expires_at` is required")),
    };
    let answer = idempotency::run(app, &AccountId::admin_scope(), request, |ticket| async move {
        let answered = |changed: &ApiKey| {
            ticket.map(|ticket| idempotency::completed(ticket, Outcome::ApiKey(changed.clone())))
        };
        let audit = Event::new(EventKind::ApiKeyUpdated, entry.id.as_str(), &request.cause());
        let change = |key: &mut ApiKey| key.expires_at = expires_at;
        let key = app.api_keys.made.change(&entry, change, answered, Some(audit));
        Ok(Outcome::ApiKey(key.await?))
    })
    .await?;
    Ok(Reply::answer(answer))
}

/// `DELETE`: the key stops working on the next request. Revoking a revoked key answers the same.
pub async fn revoke_key(
    app: &App,
    request: &ApiRequest,
    account_id: &str,
    key_id: &str,
) -> Result<Reply, ApiError> {
    let entry = find_key(app, account_id, key_id)?;
    let now = now_unix_secs();
    if entry.snapshot().revoked_at.is_none() {
        let audit = Event::new(EventKind::ApiKeyRevoked, entry.id.as_str(), &request.cause())
            .status(Some("active"), "revoked");
        let revoke = |key: &mut ApiKey| key.revoked_at = Some(now);
        app.api_keys.made.change(&entry, revoke, |_| None, Some(audit)).await?;
        tracing::info!(account = %entry.account, key = %entry.id, "API key revoked");
    }
    Ok(Reply::ok(json!({ "id": entry.id.as_str(), "object": "api_key", "deleted": true })))
}
