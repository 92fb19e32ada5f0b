//! `/v1/coupons` and `/v1/promotion_codes`: the account's, written straight to the store (no
//! customer's actor orders them). A coupon's terms never change once made; deleting it stops
//! new redemptions. A promotion code's code never changes; it can be switched off and on.

use serde::Deserialize;
use serde_json::Value;

use super::Reply;
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, coupon_views, idempotency, validate, views};
use crate::domain::coupon::{COUPON_ID_LEN_MAX, PROMOTION_CODE_LEN_MAX};
use crate::domain::time::now_unix_secs;
use crate::domain::{
    AccountId, Coupon, CouponDuration, CouponId, CouponOff, Metadata, Money, PlanId, PromotionCode,
    PromotionCodeId,
};
use crate::limits::AMOUNT_MINOR_MAX;
use crate::store::Outcome;

/// Longest run of a repeating coupon: ten years of monthly invoices.
const DURATION_MONTHS_MAX: u32 = 120;
/// Most plans a coupon may be limited to.
const APPLIES_TO_PLANS_MAX: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateCoupon {
    id: Option<String>,
    name: Option<String>,
    percent_off_bps: Option<u32>,
    amount_off: Option<i64>,
    currency: Option<String>,
    duration: String,
    duration_in_months: Option<u32>,
    max_redemptions: Option<u32>,
    redeem_by: Option<i64>,
    applies_to: Option<AppliesTo>,
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppliesTo {
    plans: Vec<String>,
}

fn parse_coupon(app: &App, request: &ApiRequest, account: &AccountId) -> Result<Coupon, ApiError> {
    let input: CreateCoupon = request.json()?;
    let id = match input.id {
        Some(id) => CouponId::parse(&id).ok_or_else(|| {
            ApiError::validation(
                "id",
                format!("a coupon id is 1 to {COUPON_ID_LEN_MAX} letters, digits, `_` or `-`"),
            )
        })?,
        None => CouponId::generate(),
    };
    let off = match (input.percent_off_bps, input.amount_off, input.currency) {
        (Some(bps), None, None) if (1..=10_000).contains(&bps) => CouponOff::PercentBps(bps),
        (Some(_), None, None) => {
            return Err(ApiError::validation(
                "percent_off_bps",
                "`percent_off_bps` is 1 to 10000 basis points (10000 is 100 %)",
            ));
        }
        (None, Some(amount), Some(currency)) if (1..=AMOUNT_MINOR_MAX).contains(&amount) => {
            CouponOff::Amount(Money {
                amount_minor: amount,
                currency: validate::currency(&currency)?,
            })
        }
        (None, Some(_), Some(_)) => {
            return Err(ApiError::validation(
                "amount_off",
                format!("`amount_off` is 1 to {AMOUNT_MINOR_MAX}, in the currency's minor unit"),
            ));
        }
        (None, Some(_), None) => {
            return Err(ApiError::validation("currency", "`amount_off` needs its `currency`"));
        }
        _ => {
            return Err(ApiError::validation(
                "percent_off_bps",
                "give `percent_off_bps`, or `amount_off` with its `currency`: one of the two",
            ));
        }
    };
    let duration = match (input.duration.as_str(), input.duration_in_months) {
        ("once", None) => CouponDuration::Once,
        ("forever", None) => CouponDuration::Forever,
        ("repeating", Some(months)) if (1..=DURATION_MONTHS_MAX).contains(&months) => {
            CouponDuration::Repeating { months }
        }
        ("repeating", _) => {
            return Err(ApiError::validation(
                "duration_in_months",
                format!(
                    "a repeating coupon needs `duration_in_months`, 1 to {DURATION_MONTHS_MAX}"
                ),
            ));
        }
        ("once" | "forever", Some(_)) => {
            return Err(ApiError::validation(
                "duration_in_months",
                "`duration_in_months` goes only with `duration: repeating`",
            ));
        }
        _ => {
            return Err(ApiError::validation(
                "duration",
                "`duration` is once, repeating or forever",
            ));
        }
    };
    let now = now_unix_secs();
    Ok(Coupon {
        id,
        name: validate::text("name", input.name)?,
        off,
        duration,
        max_redemptions: max_redemptions(input.max_redemptions)?,
        redeem_by: future_time("redeem_by", input.redeem_by, now)?,
        applies_to_plans: input
            .applies_to
            .map(|applies| plans(app, account, applies))
            .transpose()?,
        metadata: validate::metadata(input.metadata)?,
        deleted: false,
        created: now,
    })
}

fn max_redemptions(max: Option<u32>) -> Result<Option<u32>, ApiError> {
    match max {
        Some(0) => Err(ApiError::validation("max_redemptions", "`max_redemptions` is at least 1")),
        other => Ok(other),
    }
}

fn future_time(param: &'static str, at: Option<i64>, now: i64) -> Result<Option<i64>, ApiError> {
    match at {
        Some(at) if at <= now => Err(ApiError::validation(
            param,
            format!("`{param}` must be later than now ({now}), in Unix seconds"),
        )),
        other => Ok(other),
    }
}

fn plans(app: &App, account: &AccountId, applies: AppliesTo) -> Result<Vec<PlanId>, ApiError> {
    if applies.plans.is_empty() || applies.plans.len() > APPLIES_TO_PLANS_MAX {
        return Err(ApiError::validation(
            "applies_to",
            format!("`applies_to.plans` names 1 to {APPLIES_TO_PLANS_MAX} plans"),
        ));
    }
    let known = |id: &String| {
        super::plans::find(app, account, id)
            .map(|plan| plan.id)
            .map_err(|_| ApiError::validation("applies_to", format!("no such plan: {id}")))
    };
    applies.plans.iter().map(known).collect()
}

pub async fn create_coupon(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let coupon = parse_coupon(app, request, account)?;
    let answer = idempotency::run(app, account, request, |ticket| async move {
        let written = app.coupon_store.create_coupon(account, &coupon)?;
        let Ok(durable) = written else {
            return Err(coupon_taken(&coupon.id));
        };
        durable.wait().await?;
        tracing::info!(coupon = %coupon.id, "coupon created");
        let outcome = Outcome::Coupon { coupon: Box::new(coupon), times_redeemed: 0 };
        app.account_writes.answered(account, ticket, outcome).await
    })
    .await?;
    Ok(Reply::answer(answer))
}

fn coupon_taken(id: &CouponId) -> ApiError {
    ApiError::invalid(
        "resource_already_exists",
        format!("the account has a coupon {id} already (a deleted one keeps its id)"),
    )
    .with_param("id")
}

/// The account's coupon with this id, deleted ones included, or a 404.
fn find_coupon(app: &App, account: &AccountId, id: &str) -> Result<Coupon, ApiError> {
    let not_found = || ApiError::not_found("coupon", id);
    let id = CouponId::parse(id).ok_or_else(not_found)?;
    app.coupon_store.coupon(account, &id)?.ok_or_else(not_found)
}

fn coupon_view(app: &App, account: &AccountId, coupon: &Coupon) -> Result<Value, ApiError> {
    let times_redeemed = app.redemptions.times_redeemed(account, &coupon.id, None)?;
    Ok(coupon_views::coupon(coupon, times_redeemed))
}

pub async fn retrieve_coupon(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    let coupon = find_coupon(app, account, id)?;
    if coupon.deleted {
        return Err(ApiError::not_found("coupon", id));
    }
    Ok(Reply::ok(coupon_view(app, account, &coupon)?))
}

pub async fn list_coupons(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let page = PageRequest::parse(&request.query)?;
    let starting_after = match &page.starting_after {
        Some(id) => Some(CouponId::parse(id).ok_or_else(|| {
            ApiError::validation("starting_after", format!("`{id}` is not a coupon id"))
        })?),
        None => None,
    };
    let found = app.coupon_store.coupons(account, page.limit, starting_after.as_ref())?;
    let data = found
        .items
        .iter()
        .map(|coupon| coupon_view(app, account, coupon))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::ok(views::list::<Value>(data, found.has_more)))
}

pub async fn delete_coupon(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    let mut coupon = find_coupon(app, account, id)?;
    let answer = idempotency::run(app, account, request, |ticket| async move {
        if !coupon.deleted {
            coupon.deleted = true;
            app.coupon_store.put_coupon(account, &coupon)?.wait().await?;
            tracing::info!(coupon = %coupon.id, "coupon deleted");
        }
        let outcome = Outcome::CouponDeleted(coupon.id);
        app.account_writes.answered(account, ticket, outcome).await
    })
    .await?;
    Ok(Reply::answer(answer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePromotionCode {
    coupon: String,
    code: String,
    max_redemptions: Option<u32>,
    expires_at: Option<i64>,
    restrictions: Option<Restrictions>,
    active: Option<bool>,
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Restrictions {
    first_time_transaction: Option<bool>,
    minimum_amount: Option<i64>,
    minimum_amount_currency: Option<String>,
}

fn code_text(code: String) -> Result<String, ApiError> {
    let valid = (1..=PROMOTION_CODE_LEN_MAX).contains(&code.len())
        && code.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-');
    match valid {
        true => Ok(code),
        false => Err(ApiError::validation(
            "code",
            format!("a code is 1 to {PROMOTION_CODE_LEN_MAX} letters, digits, `_` or `-`"),
        )),
    }
}

fn minimum_amount(restrictions: &Restrictions) -> Result<Option<Money>, ApiError> {
    match (restrictions.minimum_amount, &restrictions.minimum_amount_currency) {
        (None, None) => Ok(None),
        (Some(amount), Some(currency)) if (1..=AMOUNT_MINOR_MAX).contains(&amount) => {
            Ok(Some(Money { amount_minor: amount, currency: validate::currency(currency)? }))
        }
        (Some(_), Some(_)) => Err(ApiError::validation(
            "restrictions.minimum_amount",
            format!("`minimum_amount` is 1 to {AMOUNT_MINOR_MAX}, in the currency's minor unit"),
        )),
        _ => Err(ApiError::validation(
            "restrictions.minimum_amount",
            "`minimum_amount` and `minimum_amount_currency` go together",
        )),
    }
}

pub async fn create_promotion_code(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let input: CreatePromotionCode = request.json()?;
    let no_coupon = || ApiError::validation("coupon", format!("no such coupon: {}", input.coupon));
    let coupon = find_coupon(app, account, &input.coupon).map_err(|_| no_coupon())?;
    if coupon.deleted {
        return Err(no_coupon());
    }
    let restrictions = input.restrictions.unwrap_or(Restrictions {
        first_time_transaction: None,
        minimum_amount: None,
        minimum_amount_currency: None,
    });
    let now = now_unix_secs();
    let code = PromotionCode {
        id: PromotionCodeId::generate(),
        code: code_text(input.code)?,
        coupon: coupon.id,
        max_redemptions: max_redemptions(input.max_redemptions)?,
        expires_at: future_time("expires_at", input.expires_at, now)?,
        first_time_transaction: restrictions.first_time_transaction.unwrap_or(false),
        minimum_amount: minimum_amount(&restrictions)?,
        active: input.active.unwrap_or(true),
        metadata: validate::metadata(input.metadata)?,
        created: now,
    };
    let answer = idempotency::run(app, account, request, |ticket| async move {
        let Ok(durable) = app.coupon_store.create_promotion_code(account, &code)? else {
            return Err(code_taken(&code.code));
        };
        durable.wait().await?;
        tracing::info!(promotion_code = %code.id, coupon = %code.coupon, "promotion code created");
        let outcome = Outcome::PromotionCode { code: Box::new(code), times_redeemed: 0 };
        app.account_writes.answered(account, ticket, outcome).await
    })
    .await?;
    Ok(Reply::answer(answer))
}

fn code_taken(code: &str) -> ApiError {
    ApiError::invalid(
        "resource_already_exists",
        format!("the account has a promotion code {code} already (codes match in any case)"),
    )
    .with_param("code")
}

fn find_code(app: &App, account: &AccountId, id: &str) -> Result<PromotionCode, ApiError> {
    let not_found = || ApiError::not_found("promotion_code", id);
    let id = PromotionCodeId::parse(id).ok_or_else(not_found)?;
    app.coupon_store.promotion_code(account, &id)?.ok_or_else(not_found)
}

fn code_view(app: &App, account: &AccountId, code: &PromotionCode) -> Result<Value, ApiError> {
    let times_redeemed = app.redemptions.times_redeemed(account, &code.coupon, Some(&code.id))?;
    Ok(coupon_views::promotion_code(code, times_redeemed))
}

pub async fn retrieve_promotion_code(
    app: &App,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    let code = find_code(app, account, id)?;
    Ok(Reply::ok(code_view(app, account, &code)?))
}

pub async fn list_promotion_codes(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let (page, filters) = PageRequest::parse_filtered(&request.query, &["code", "coupon"])?;
    let coupon =
        match filters.get("coupon") {
            Some(id) => Some(CouponId::parse(id).ok_or_else(|| {
                ApiError::validation("coupon", format!("`{id}` is not a coupon id"))
            })?),
            None => None,
        };
    let starting_after = match &page.starting_after {
        Some(id) => Some(PromotionCodeId::parse(id).ok_or_else(|| {
            ApiError::validation("starting_after", format!("`{id}` is not a promotion code id"))
        })?),
        None => None,
    };
    if let Some(code) = filters.get("code") {
        let found = app.coupon_store.promotion_code_named(account, code)?;
        let found =
            found.filter(|code| coupon.as_ref().is_none_or(|coupon| code.coupon == *coupon));
        let data =
            found.iter().map(|code| code_view(app, account, code)).collect::<Result<_, _>>()?;
        return Ok(Reply::ok(views::list::<Value>(data, false)));
    }
    let found = app.coupon_store.promotion_codes(
        account,
        coupon.as_ref(),
        page.limit,
        starting_after.as_ref(),
    )?;
    let data = found
        .items
        .iter()
        .map(|code| code_view(app, account, code))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::ok(views::list::<Value>(data, found.has_more)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdatePromotionCode {
    active: Option<bool>,
    metadata: Option<Metadata>,
}

pub async fn update_promotion_code(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    let input: UpdatePromotionCode = request.json()?;
    let mut code = find_code(app, account, id)?;
    let metadata = input.metadata.map(|metadata| validate::metadata(Some(metadata))).transpose()?;
    let answer = idempotency::run(app, account, request, |ticket| async move {
        if let Some(active) = input.active {
            code.active = active;
        }
        if let Some(metadata) = metadata {
            code.metadata = metadata;
        }
        app.coupon_store.put_promotion_code(account, &code)?.wait().await?;
        let times_redeemed =
            app.redemptions.times_redeemed(account, &code.coupon, Some(&code.id))?;
        let outcome = Outcome::PromotionCode { code: Box::new(code), times_redeemed };
        app.account_writes.answered(account, ticket, outcome).await
    })
    .await?;
    Ok(Reply::answer(answer))
}
