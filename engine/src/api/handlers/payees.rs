//! `/v1/payees`: the tutors, authors and schools the platform pays, where their money goes and
//! on what schedule. A bank account number is shown only as its last four characters, and a
//! payee's name, email and destination are sealed at rest.

use serde::Deserialize;

use super::{Reply, test_clocks};
use crate::api::error::ApiError;
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::api::{App, idempotency, payee_views, validate, views};
use crate::domain::payee::WEEKDAYS;
use crate::domain::time::now_unix_secs;
use crate::domain::{
    AccountId, Destination, Metadata, Payee, PayeeId, PayoutInterval, PayoutSchedule, TestClock,
};
use crate::limits::{AMOUNT_MINOR_MAX, PAYOUT_DELAY_DAYS_MAX, TEXT_FIELD_LEN_MAX};
use kassa_gateways::mpesa::normalize_phone;

/// Request fields that are payment credentials, checked here, not held to the free-text rule.
pub(super) const CREDENTIALS: [&str; 2] = ["destination.account_number", "destination.phone"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePayee {
    name: String,
    email: Option<String>,
    country: String,
    default_currency: String,
    destination: DestinationInput,
    payout_schedule: Option<ScheduleInput>,
    test_clock: Option<String>,
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum DestinationInput {
    BankAccount { account_holder: String, bank_code: String, account_number: String },
    Mpesa { phone: String },
    Stripe { account: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleInput {
    interval: String,
    weekly_anchor: Option<String>,
    monthly_anchor: Option<u8>,
    delay_days: Option<u32>,
    minimum_amount: Option<i64>,
}

pub async fn create(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let input: CreatePayee = request.json_with_credentials(&CREDENTIALS)?;
    let default_currency = validate::currency(&input.default_currency)
        .map_err(|error| error.with_param("default_currency"))?;
    let destination = destination(input.destination)?;
    // A payee on a test clock is made at the clock's time: its schedule starts there.
    let (test_clock, created) = match input.test_clock {
        Some(id) => {
            let clock = clock(app, account, &id)?;
            (Some(clock.id), clock.frozen_time)
        }
        None => (None, now_unix_secs()),
    };
    let payee = Payee {
        id: PayeeId::generate(),
        account: account.clone(),
        name: name(input.name)?,
        email: validate::email(input.email)?,
        country: country(input.country)?,
        default_currency,
        destination,
        payout_schedule: schedule(input.payout_schedule)?,
        test_clock,
        metadata: validate::metadata(input.metadata)?,
        created,
        sealed: None,
        destination_failure: None,
    };
    takes_currency(&payee)?;
    save(app, request, payee).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdatePayee {
    name: Option<String>,
    email: Option<String>,
    destination: Option<DestinationInput>,
    payout_schedule: Option<ScheduleInput>,
    metadata: Option<Metadata>,
}

pub async fn update(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    let input: UpdatePayee = request.json_with_credentials(&CREDENTIALS)?;
    let mut payee = find(app, account, id)?;
    if let Some(name_given) = input.name {
        payee.name = name(name_given)?;
    }
    if input.email.is_some() {
        payee.email = validate::email(input.email)?;
    }
    if let Some(given) = input.destination {
        payee.destination = destination(given)?;
        // A new destination is paid again.
        payee.destination_failure = None;
    }
    if input.payout_schedule.is_some() {
        payee.payout_schedule = schedule(input.payout_schedule)?;
    }
    if input.metadata.is_some() {
        payee.metadata = validate::metadata(input.metadata)?;
    }
    takes_currency(&payee)?;
    save(app, request, payee).await
}

pub async fn retrieve(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    Ok(Reply::ok(payee_views::payee(&find(app, account, id)?)))
}

pub async fn list(app: &App, request: &ApiRequest, account: &AccountId) -> Result<Reply, ApiError> {
    let page = PageRequest::parse(&request.query)?;
    let starting_after = match &page.starting_after {
        Some(id) => Some(PayeeId::parse(id).ok_or_else(|| {
            ApiError::validation("starting_after", format!("`{id}` is not a payee id"))
        })?),
        None => None,
    };
    let found = app.queries.payees(account, page.limit, starting_after.as_ref())?;
    let data = found.items.iter().map(payee_views::payee).collect();
    Ok(Reply::ok(views::list(data, found.has_more)))
}

/// The account's payee with this id, or a 404 (another account's payees included).
pub fn find(app: &App, account: &AccountId, id: &str) -> Result<Payee, ApiError> {
    let not_found = || ApiError::not_found("payee", id);
    let id = PayeeId::parse(id).ok_or_else(not_found)?;
    app.queries.payee(account, &id)?.ok_or_else(not_found)
}

async fn save(app: &App, request: &ApiRequest, payee: Payee) -> Result<Reply, ApiError> {
    let account = payee.account.clone();
    let answer = idempotency::run(app, &account, request, |ticket| async move {
        app.account_writes.save_payee(payee, ticket).await
    })
    .await?;
    Ok(Reply::answer(answer))
}

fn name(value: String) -> Result<String, ApiError> {
    match validate::text("name", Some(value))? {
        Some(name) if !name.trim().is_empty() => Ok(name),
        _ => Err(ApiError::validation(
            "name",
            format!("`name` is 1 to {TEXT_FIELD_LEN_MAX} characters"),
        )),
    }
}

fn country(value: String) -> Result<String, ApiError> {
    validate::country(value).map_err(|_| {
        ApiError::validation("country", "`country` is a two-letter ISO 3166-1 code such as `KE`")
    })
}

/// The account's test clock with this id; a 404 naming the field otherwise.
fn clock(app: &App, account: &AccountId, id: &str) -> Result<TestClock, ApiError> {
    test_clocks::find(app, account, id).map_err(|error| error.with_param("test_clock"))
}

pub(super) fn destination(input: DestinationInput) -> Result<Destination, ApiError> {
    Ok(match input {
        DestinationInput::BankAccount { account_holder, bank_code, account_number } => {
            let holder = validate::text("destination.account_holder", Some(account_holder))?
                .filter(|holder| !holder.trim().is_empty())
                .ok_or_else(|| {
                    ApiError::validation(
                        "destination.account_holder",
                        "`destination.account_holder` names who holds the account",
                    )
                })?;
            validate::bank_code("destination.bank_code", &bank_code)?;
            Destination::BankAccount {
                account_holder: holder,
                bank_code,
                account_number: validate::bank_account_number(
                    "destination.account_number",
                    &account_number,
                )?,
            }
        }
        DestinationInput::Mpesa { phone } => {
            let phone = normalize_phone(&phone).map_err(|error| {
                ApiError::validation("destination.phone", format!("`destination.phone` is {error}"))
            })?;
            Destination::Mpesa { phone }
        }
        DestinationInput::Stripe { account } => {
            let valid = account.strip_prefix("acct_").is_some_and(|rest| {
                (1..=64).contains(&rest.len())
                    && rest.bytes().all(|byte| byte.is_ascii_alphanumeric())
            });
            if !valid {
                return Err(ApiError::validation(
                    "destination.account",
                    "`destination.account` is a Stripe connected account's id, `acct_…`",
                ));
            }
            Destination::Stripe { account }
        }
    })
}

fn schedule(input: Option<ScheduleInput>) -> Result<PayoutSchedule, ApiError> {
    let Some(input) = input else {
        return Ok(PayoutSchedule {
            interval: PayoutInterval::Weekly,
            weekly_anchor: Some(WEEKDAYS[0].to_owned()),
            monthly_anchor: None,
            delay_days: PayoutSchedule::DEFAULT_DELAY_DAYS,
            minimum_amount: 0,
        });
    };
    let interval = PayoutInterval::parse(&input.interval).ok_or_else(|| {
        ApiError::validation(
            "payout_schedule.interval",
            "`payout_schedule.interval` is daily, weekly, monthly or manual",
        )
    })?;
    let weekly_anchor = match (interval, input.weekly_anchor) {
        (PayoutInterval::Weekly, None) => Some(WEEKDAYS[0].to_owned()),
        (PayoutInterval::Weekly, Some(day)) if WEEKDAYS.contains(&day.as_str()) => Some(day),
        (PayoutInterval::Weekly, Some(_)) => {
            return Err(ApiError::validation(
                "payout_schedule.weekly_anchor",
                format!("`payout_schedule.weekly_anchor` is one of {}", WEEKDAYS.join(", ")),
            ));
        }
        (_, Some(_)) => {
            return Err(ApiError::validation(
                "payout_schedule.weekly_anchor",
                "`payout_schedule.weekly_anchor` belongs to a weekly schedule",
            ));
        }
        (_, None) => None,
    };
    let monthly_anchor = match (interval, input.monthly_anchor) {
        (PayoutInterval::Monthly, None) => Some(1),
        (PayoutInterval::Monthly, Some(day @ 1..=31)) => Some(day),
        (PayoutInterval::Monthly, Some(_)) => {
            return Err(ApiError::validation(
                "payout_schedule.monthly_anchor",
                "`payout_schedule.monthly_anchor` is a day of the month, 1 to 31",
            ));
        }
        (_, Some(_)) => {
            return Err(ApiError::validation(
                "payout_schedule.monthly_anchor",
                "`payout_schedule.monthly_anchor` belongs to a monthly schedule",
            ));
        }
        (_, None) => None,
    };
    let delay_days = input.delay_days.unwrap_or(PayoutSchedule::DEFAULT_DELAY_DAYS);
    if delay_days > PAYOUT_DELAY_DAYS_MAX {
        return Err(ApiError::validation(
            "payout_schedule.delay_days",
            format!("`payout_schedule.delay_days` is 0 to {PAYOUT_DELAY_DAYS_MAX}"),
        ));
    }
    let minimum_amount = input.minimum_amount.unwrap_or(0);
    if !(0..=AMOUNT_MINOR_MAX).contains(&minimum_amount) {
        return Err(ApiError::validation(
            "payout_schedule.minimum_amount",
            format!("`payout_schedule.minimum_amount` is 0 to {AMOUNT_MINOR_MAX}"),
        ));
    }
    Ok(PayoutSchedule { interval, weekly_anchor, monthly_anchor, delay_days, minimum_amount })
}

/// A payee is paid in its default currency: its destination must take it.
fn takes_currency(payee: &Payee) -> Result<(), ApiError> {
    if payee.destination.takes(payee.default_currency) {
        return Ok(());
    }
    Err(ApiError::validation(
        "default_currency",
        format!(
            "an {} destination is paid in kes only, not {}",
            payee.destination.kind(),
            crate::domain::money::currency_code(payee.default_currency)
        ),
    ))
}
