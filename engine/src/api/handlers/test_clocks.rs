//! `POST /v1/test_clocks`, `GET /v1/test_clocks/{id}`, `POST /v1/test_clocks/{id}/advance`,
//! `DELETE /v1/test_clocks/{id}`. A clock is the account's; customers created on it live by its
//! frozen time, and an advance runs what falls due on them up to the new time, in time order,
//! through the same code as real time. Each clock is its own: clocks advance side by side.

use serde::Deserialize;
use serde_json::json;
use warp::http::StatusCode;

use super::{Body, Reply};
use crate::api::error::ApiError;
use crate::api::request::ApiRequest;
use crate::api::{App, billing_views, idempotency, validate};
use crate::billing::periods::add_months;
use crate::domain::time::now_unix_secs;
use crate::domain::{AccountId, TestClock, TestClockId, TestClockStatus};
use crate::limits::{INSTANT_MAX, TEST_CLOCK_ADVANCE_MONTHS_MAX};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateClock {
    frozen_time: i64,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    frozen_time: i64,
}

fn clock_invalid(message: impl Into<String>) -> ApiError {
    ApiError::invalid("test_clock_invalid", message).with_param("frozen_time")
}

pub async fn create(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
) -> Result<Reply, ApiError> {
    let input: CreateClock = request.json()?;
    if !(0..=INSTANT_MAX).contains(&input.frozen_time) {
        return Err(clock_invalid("`frozen_time` is Unix seconds from 1970 to 9999"));
    }
    let clock = TestClock {
        id: TestClockId::generate(),
        name: validate::text("name", input.name)?,
        frozen_time: input.frozen_time,
        status: TestClockStatus::Ready,
        created: now_unix_secs(),
    };
    let answer = idempotency::run(app, account, request, |ticket| async move {
        app.account_writes.create_test_clock(account, clock, ticket).await
    })
    .await?;
    Ok(Reply::answer(answer))
}

pub fn find(app: &App, account: &AccountId, id: &str) -> Result<TestClock, ApiError> {
    let not_found = || ApiError::not_found("test_clock", id);
    let id = TestClockId::parse(id).ok_or_else(not_found)?;
    app.queries.test_clock(account, &id)?.ok_or_else(not_found)
}

pub async fn retrieve(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    Ok(Reply::ok(billing_views::test_clock(&find(app, account, id)?)))
}

pub async fn delete(app: &App, account: &AccountId, id: &str) -> Result<Reply, ApiError> {
    let clock = find(app, account, id)?;
    app.account_writes.delete_test_clock(account, &clock).await?;
    Ok(Reply::ok(json!({ "id": clock.id.as_str(), "object": "test_clock", "deleted": true })))
}

/// Moves the clock and runs what fell due; answers when done, or with 202 and `advancing`
/// once the request's time limit is near (the advance goes on; `GET` shows when it is ready).
pub async fn advance(
    app: &App,
    request: &ApiRequest,
    account: &AccountId,
    id: &str,
) -> Result<Reply, ApiError> {
    let input: Advance = request.json()?;
    let mut clock = find(app, account, id)?;
    if clock.status == TestClockStatus::Advancing {
        return Err(clock_invalid(format!("test clock {} is still advancing", clock.id)));
    }
    if input.frozen_time <= clock.frozen_time {
        return Err(clock_invalid(format!(
            "a test clock only moves forward: {} is not after its time {}",
            input.frozen_time, clock.frozen_time
        )));
    }
    if input.frozen_time > add_months(clock.frozen_time, TEST_CLOCK_ADVANCE_MONTHS_MAX) {
        return Err(clock_invalid("a test clock moves at most two years at a time"));
    }
    clock.frozen_time = input.frozen_time;
    clock.status = TestClockStatus::Advancing;
    let advancing = app
        .account_writes
        .advance_test_clock(&app.registry, app.clock_work(), account, clock.clone())
        .await?;
    // Answer before the request's own time limit answers for us.
    let answer_within = app.request_timeout.saturating_sub(app.request_timeout / 10);
    match tokio::time::timeout(answer_within, advancing).await {
        Ok(Ok(Ok(clock))) => Ok(Reply::ok(billing_views::test_clock(&clock))),
        Ok(Ok(Err(error))) => Err(error.into()),
        Ok(Err(error)) => Err(ApiError::internal(format!("the advance stopped: {error}"))),
        Err(_) => Ok(Reply {
            status: StatusCode::ACCEPTED,
            body: Body::json(&billing_views::test_clock(&clock)),
            replayed: false,
        }),
    }
}
