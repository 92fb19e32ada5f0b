//! `POST /v1/plans`, `GET /v1/plans/{id}`, `GET /v1/plans`, `POST /v1/plans/{id}`. A plan is
//! the account's: written straight to the store. Its price, currency, interval, sku, trial and
//! tax behaviour never change once made (a new price is a new plan); the rest can.

use serde::Deserialize;
use serde_json::Value;

use super::Reply;
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, billing_views, free_text, idempotency, validate, views};
use crate::billing::periods::{Interval, IntervalUnit};
use crate::domain::money::currency_code;
use crate::domain::time::now_unix_secs;
use crate::domain::{AccountId, Metadata, Plan, PlanId, TaxBehavior};
use crate::limits::{AMOUNT_MINOR_MAX, PLAN_FEATURES_MAX, SKU_LEN_MAX, TRIAL_DAYS_MAX};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePlan {
    name: String,
    amount: i64,
    currency: String,
    interval: String,
    interval_count: Option<u32>,
    sku: Option<String>,
    trial_days: Option<u32>,
    features: Option<Vec<String>>,
    tax_behavior: Option<String>,
    metadata: Option<Metadata>,
}

/// Countries whose consumer prices must include VAT: a plan there is tax-inclusive unless it
/// says otherwise.
const INCLUSIVE_COUNTRIES: [&str; 2] = ["ZA", "KE"];

/// The account's `tax_behavior` setting, else what its seller country's consumer prices must be.
fn default_tax_behavior(app: &App, account: &AccountId) -> TaxBehavior {
    if let Some(behavior) = app.accounts.settings(account).tax_behavior {
        return behavior;
    }
    match INCLUSIVE_COUNTRIES.contains(&app.rules.seller_country(account).as_str()) {
        true => TaxBehavior::Inclusive,
        false => TaxBehavior::Exclusive,
    }
}

fn parse(app: &App, request: &ApiRequest, account: &AccountId) -> Result<Plan, ApiError> {
    let input: CreatePlan = request.json()?;
    let currency = validate::currency(&input.currency)?;
    if !(0..=AMOUNT_MINOR_MAX).contains(&input.amount) {
        return Err(ApiError::validation(
            "amount",
            format!("`amount` is from 0 (a free plan) to {AMOUNT_MINOR_MAX}, in the minor unit"),
        ));
    }
    let unit = IntervalUnit::parse(&input.interval).ok_or_else(|| {
        ApiError::validation("interval", "`interval` is one of day, week, month, year")
    })?;
    let count = input.interval_count.unwrap_or(1);
    if !(1..=unit.count_max()).contains(&count) {
        return Err(ApiError::validation(
            "interval_count",
            format!("`interval_count` is 1 to {} for `{}`", unit.count_max(), unit.as_str()),
        ));
    }
    let trial_days = input.trial_days.unwrap_or(0);
    if trial_days > TRIAL_DAYS_MAX {
        return Err(ApiError::validation(
            "trial_days",
            format!("`trial_days` is at most {TRIAL_DAYS_MAX}"),
        ));
    }
    let tax_behavior = match input.tax_behavior.as_deref() {
        Some(text) => TaxBehavior::parse(text).ok_or_else(|| {
            ApiError::validation("tax_behavior", "`tax_behavior` is inclusive or exclusive")
        })?,
        None => default_tax_behavior(app, account),
    };
    let id = PlanId::generate();
    let sku = match input.sku {
        Some(sku) => sku_text(sku)?,
        None => id.as_str().to_owned(),
    };
    Ok(Plan {
        name: name(input.name)?,
        amount_minor: input.amount,
        currency,
        interval: Interval { unit, count },
        sku,
        trial_days,
        features: features(input.features)?,
        tax_behavior,
        active: true,
        metadata: validate::metadata(input.metadata)?,
        created: now_unix_secs(),
        id,
    })
}

fn name(name: String) -> Result<String, ApiError> {
    match validate::text("name", Some(name))? {
        Some(name) if !name.trim().is_empty() => Ok(name),
        _ => Err(ApiError::validation("name", "`name` must not be empty")),
    }
}

fn sku_text(sku: String) -> Result<String, ApiError> {
    let valid = (1..=SKU_LEN_MAX).contains(&sku.len())
        && sku.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"_-.:".contains(&byte));
    if !valid {
        return Err(ApiError::validation(
            "sku",
            format!("`sku` is 1 to {SKU_LEN_MAX} letters, digits, `_`, `-`, `.` or `:`"),
        ));
    }
    Ok(sku)
}

fn features(features: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    let features = features.unwrap_or_default();
    if features.len() > PLAN_FEATURES_MAX {
        return Err(ApiError::validation(
            "features",
            format!("a plan grants at most {PLAN_FEATURES_MAX} features"),
        ));
    }
    for feature in &features {
        validate::feature("features", feature)?;
    }
    Ok(features)
}

pub async fn create(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let plan = parse(app, request, account)?;
    let answer = idempotency::run(app, account, request, |ticket| async move {
        let id = plan.id.clone();
        let outcome = app.account_writes.save_plan(account, plan, ticket).await?;
        app.plan_features.written(account, &id);
        Ok(outcome)
    })
    .await?;
    Ok(Reply::answer(answer))
}

/// The account's plan with this id, or a 404 (another account's plans included).
pub fn find(app: &App, account: &AccountId, id: &str) -> Result<Plan, ApiError> {
    let not_found = || ApiError::not_found("plan", id);
    let id = PlanId::parse(id).ok_or_else(not_found)?;
    app.queries.plan(account, &id)?.ok_or_else(not_found)
}

pub async fn retrieve(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    Ok(Reply::ok(billing_views::plan(&find(app, account, id)?)))
}

pub async fn list(app: &App, request: &ApiRequest, account: &AccountId) -> Result<Reply, ApiError> {
    let (page, filters) = PageRequest::parse_filtered(&request.query, &["active"])?;
    let active = match filters.get("active").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(ApiError::validation("active", "`active` is true or false")),
    };
    let starting_after = match &page.starting_after {
        Some(id) => Some(PlanId::parse(id).ok_or_else(|| {
            ApiError::validation("starting_after", format!("`{id}` is not a plan id"))
        })?),
        None => None,
    };
    let found = app.queries.plans(account, active, page.limit, starting_after.as_ref())?;
    let data = found.items.iter().map(billing_views::plan).collect();
    Ok(Reply::ok(views::list::<Value>(data, found.has_more)))
}

/// Fields a plan keeps for life: naming one in an update is refused, naming why.
const IMMUTABLE_FIELDS: [&str; 7] =
    ["amount", "currency", "interval", "interval_count", "sku", "trial_days", "tax_behavior"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdatePlan {
    name: Option<String>,
    active: Option<bool>,
    features: Option<Vec<String>>,
    metadata: Option<Metadata>,
}

pub async fn update(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    let body = serde_json::from_slice::<Value>(&request.body).ok();
    // The free-text rules come first here too: a card number is refused as such, whatever
    // field it was sent in.
    if let Some(body) = &body {
        free_text::check(body, &[])?;
    }
    if let Some(Value::Object(fields)) = &body
        && let Some(field) = IMMUTABLE_FIELDS.iter().find(|field| fields.contains_key(**field))
    {
        return Err(ApiError::invalid(
            "plan_immutable",
            format!(
                "a plan's `{field}` never changes once it is made: create a new plan for a new \
                 price, and move subscriptions to it"
            ),
        )
        .with_param(*field));
    }
    let input: UpdatePlan = request.json()?;
    let mut plan = find(app, account, id)?;
    let name = input.name.map(name).transpose()?;
    let features = input.features.map(|features| self::features(Some(features))).transpose()?;
    let metadata = input.metadata.map(|metadata| validate::metadata(Some(metadata))).transpose()?;
    let answer = idempotency::run(app, account, request, |ticket| async move {
        if let Some(name) = name {
            plan.name = name;
        }
        if let Some(active) = input.active {
            plan.active = active;
        }
        if let Some(features) = features {
            plan.features = features;
        }
        if let Some(metadata) = metadata {
            plan.metadata = metadata;
        }
        tracing::info!(plan = %plan.id, currency = %currency_code(plan.currency), "plan updated");
        let id = plan.id.clone();
        let outcome = app.account_writes.save_plan(account, plan, ticket).await?;
        app.plan_features.written(account, &id);
        Ok(outcome)
    })
    .await?;
    Ok(Reply::answer(answer))
}
