//! The test clock the subscriptions live on: created at a frozen time, then advanced once past
//! every period end. `POST /v1/test_clocks/{id}/advance` answers 200 once everything due has run,
//! or 202 (`status: "advancing"`) when that takes longer than the engine's request time limit;
//! then `GET /v1/test_clocks/{id}` is polled until it shows `ready`. The burst lasts from just
//! before the advance is sent until the answer (200) or the poll (202) that shows the clock ready.

use hyper::StatusCode;
use serde::Deserialize;
use tokio::time::Instant;

use super::{excerpt, path_segment};
use crate::error::BenchError;
use crate::limits::{BURST_WAIT_MAX, CLOCK_POLL_INTERVAL};
use crate::setup::Caller;
use crate::target::RequestSpec;

const CLOCKS_PATH: &str = "/v1/test_clocks";
const CLOCK_NAME: &str = "kassa-bench renewals";
const READY: &str = "ready";
const ADVANCING: &str = "advancing";

/// A test clock as the engine answers it.
#[derive(Debug, Clone, Deserialize)]
pub struct Clock {
    pub id: String,
    pub status: String,
    pub frozen_time: i64,
}

/// What became of an advance.
#[derive(Debug, Clone, Copy)]
pub struct Advanced {
    /// 200 (done within the engine's request time limit) or 202 (then polled).
    pub answer_status: u16,
    /// When the clock was seen ready.
    pub ready_at: Instant,
    /// `GET /v1/test_clocks/{id}` made while it was advancing.
    pub polls: u32,
    /// The clock's `frozen_time` once ready: the target, on an engine that keeps the contract.
    pub frozen_time: i64,
}

/// A new clock frozen at `frozen_time` (Unix seconds).
pub async fn create(caller: &Caller, frozen_time: i64) -> Result<Clock, BenchError> {
    let body = serde_json::json!({"frozen_time": frozen_time, "name": CLOCK_NAME}).to_string();
    let answer = caller.call(RequestSpec::post(CLOCKS_PATH, body, caller.next_key())).await?;
    let clock = read_clock(&answer.body).map_err(BenchError::Setup)?;
    match clock.status.as_str() {
        READY => Ok(clock),
        other => {
            Err(BenchError::Setup(format!("the new clock {} is {other}, not ready", clock.id)))
        }
    }
}

/// Advances `clock_id` to `frozen_time` and waits until it is ready again. `advance_caller`
/// waits for the advance's answer as long as the engine may take to give it; `poll_caller` is
/// the ordinary one.
pub async fn advance(
    advance_caller: &Caller,
    poll_caller: &Caller,
    clock_id: &str,
    frozen_time: i64,
) -> Result<Advanced, BenchError> {
    let started = Instant::now();
    let path = format!("{CLOCKS_PATH}/{}/advance", path_segment(clock_id));
    let body = serde_json::json!({"frozen_time": frozen_time}).to_string();
    let answer = advance_caller
        .call(RequestSpec::post(&path, body, advance_caller.next_key()))
        .await
        .map_err(|error| BenchError::Renewals(error.to_string()))?;
    let answered_at = Instant::now();
    let answer_status = answer.status.as_u16();
    let clock = read_clock(&answer.body).map_err(BenchError::Renewals)?;
    if answer.status == StatusCode::OK && clock.status == READY {
        return Ok(Advanced {
            answer_status,
            ready_at: answered_at,
            polls: 0,
            frozen_time: clock.frozen_time,
        });
    }
    if clock.status != ADVANCING {
        return Err(BenchError::Renewals(format!(
            "POST {path} answered {answer_status} with status {:?}",
            clock.status
        )));
    }
    eprintln!("renewals: the advance answered {answer_status} (advancing); polling the clock");
    poll_until_ready(poll_caller, clock_id, started, answer_status).await
}

async fn poll_until_ready(
    caller: &Caller,
    clock_id: &str,
    started: Instant,
    answer_status: u16,
) -> Result<Advanced, BenchError> {
    let path = format!("{CLOCKS_PATH}/{}", path_segment(clock_id));
    let mut polls = 0;
    loop {
        tokio::time::sleep(CLOCK_POLL_INTERVAL).await;
        let answer = caller
            .call(RequestSpec::get(path.clone()))
            .await
            .map_err(|error| BenchError::Renewals(error.to_string()))?;
        let seen_at = Instant::now();
        polls += 1;
        let clock = read_clock(&answer.body).map_err(BenchError::Renewals)?;
        match clock.status.as_str() {
            READY => {
                return Ok(Advanced {
                    answer_status,
                    ready_at: seen_at,
                    polls,
                    frozen_time: clock.frozen_time,
                });
            }
            ADVANCING if started.elapsed() < BURST_WAIT_MAX => {}
            ADVANCING => {
                return Err(BenchError::Renewals(format!(
                    "the clock {clock_id} is still advancing after {} s",
                    BURST_WAIT_MAX.as_secs()
                )));
            }
            other => {
                return Err(BenchError::Renewals(format!(
                    "the clock {clock_id} went from advancing to {other:?}"
                )));
            }
        }
    }
}

fn read_clock(body: &[u8]) -> Result<Clock, String> {
    serde_json::from_slice(body)
        .map_err(|error| format!("a test clock answer is unreadable ({error}): {}", excerpt(body)))
}
