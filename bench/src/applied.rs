//! After `webhooks`: whether the engine applied what it acknowledged. The engine applies an event
//! after its 200, off the request, so a run can end with a backlog. `GET /v1/events` lists events
//! newest first and the engine applies them in the order it took them, so the unapplied ones are
//! the newest: they are counted from the top, page by page, until a page is all applied (at most
//! `UNAPPLIED_PAGES_MAX` pages; the count is a little low when the engine applies some while it is
//! read). Then the newest page is watched until it is all applied, for at most `APPLIED_WAIT`.
//!
//! Only the API key's account is listed: a spawned engine lists events about PaymentIntents it
//! does not know under its default account, whose key the bench holds.

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::error::BenchError;
use crate::limits::{APPLIED_POLL, APPLIED_WAIT, EVENTS_PAGE_LIMIT, UNAPPLIED_PAGES_MAX};
use crate::setup::Caller;
use crate::target::RequestSpec;

#[derive(Debug, Clone, Serialize)]
pub struct AppliedCheck {
    /// Events on the newest page when the load ended (0: the engine lists none).
    pub newest_listed: usize,
    /// Events not yet applied when the load ended, counted newest first.
    pub unapplied_at_load_end: usize,
    /// The count stopped at `UNAPPLIED_PAGES_MAX` pages: there were at least this many.
    pub unapplied_count_capped: bool,
    /// Seconds from the end of the load until the newest page was all applied; `None` when it
    /// still was not after `APPLIED_WAIT`.
    pub all_applied_after_secs: Option<f64>,
    /// Events of the newest page still unapplied when the wait ended.
    pub unapplied_after_wait: usize,
}

#[derive(Deserialize)]
struct EventPage {
    data: Vec<ListedEvent>,
    has_more: bool,
}

#[derive(Deserialize)]
struct ListedEvent {
    id: String,
    applied: bool,
}

impl EventPage {
    fn unapplied(&self) -> usize {
        self.data.iter().filter(|event| !event.applied).count()
    }
}

/// Call right after the load ends.
pub async fn check(caller: &Caller) -> Result<AppliedCheck, BenchError> {
    let load_ended = Instant::now();
    let newest = page(caller, None).await?;
    let newest_listed = newest.data.len();
    let (unapplied_at_load_end, unapplied_count_capped) = count_unapplied(caller, newest).await?;
    let (all_applied_after_secs, unapplied_after_wait) =
        wait_until_applied(caller, load_ended).await?;
    Ok(AppliedCheck {
        newest_listed,
        unapplied_at_load_end,
        unapplied_count_capped,
        all_applied_after_secs,
        unapplied_after_wait,
    })
}

/// Unapplied events from `newest` on, until a page has none; and whether the page bound cut
/// the count short.
async fn count_unapplied(caller: &Caller, newest: EventPage) -> Result<(usize, bool), BenchError> {
    let mut current = newest;
    let mut unapplied = 0;
    let mut pages_read = 1;
    loop {
        let on_page = current.unapplied();
        unapplied += on_page;
        let more = on_page > 0 && current.has_more;
        let Some(last) = current.data.last().filter(|_| more) else {
            return Ok((unapplied, false));
        };
        if pages_read == UNAPPLIED_PAGES_MAX {
            return Ok((unapplied, true));
        }
        let after = last.id.clone();
        current = page(caller, Some(&after)).await?;
        pages_read += 1;
    }
}

/// Seconds from `load_ended` until the newest page is all applied (`None` past `APPLIED_WAIT`),
/// and how many of it were still unapplied at the last look.
async fn wait_until_applied(
    caller: &Caller,
    load_ended: Instant,
) -> Result<(Option<f64>, usize), BenchError> {
    loop {
        let unapplied = page(caller, None).await?.unapplied();
        if unapplied == 0 {
            return Ok((Some(load_ended.elapsed().as_secs_f64()), 0));
        }
        if load_ended.elapsed() >= APPLIED_WAIT {
            return Ok((None, unapplied));
        }
        tokio::time::sleep(APPLIED_POLL).await;
    }
}

async fn page(caller: &Caller, starting_after: Option<&str>) -> Result<EventPage, BenchError> {
    let path = match starting_after {
        Some(id) => format!("/v1/events?limit={EVENTS_PAGE_LIMIT}&starting_after={id}"),
        None => format!("/v1/events?limit={EVENTS_PAGE_LIMIT}"),
    };
    let answer = caller.call(RequestSpec::get(path)).await?;
    serde_json::from_slice(&answer.body).map_err(|error| {
        BenchError::Setup(format!("GET /v1/events answered a list unread: {error}"))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::Ipv4Addr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use serde_json::json;
    use warp::Filter;

    use super::*;
    use crate::target::Endpoint;

    /// Serves `GET /v1/events` over `total` events, newest first, the newest `unapplied` of them
    /// unapplied until `applied_after` pages have been served. Answers its URL.
    async fn serve_events(total: usize, unapplied: usize, applied_after: usize) -> String {
        let served = Arc::new(AtomicUsize::new(0));
        let route = warp::get().and(warp::path!("v1" / "events")).and(warp::query()).map(
            move |query: HashMap<String, String>| {
                let calls = served.fetch_add(1, Ordering::Relaxed) + 1;
                let limit: usize = query["limit"].parse().unwrap();
                // Ids count down: position 0 is the newest.
                let start = query
                    .get("starting_after")
                    .map_or(0, |id| total - id[4..].parse::<usize>().unwrap());
                let end = (start + limit).min(total);
                let data: Vec<_> = (start..end)
                    .map(|position| {
                        let applied = calls > applied_after || position >= unapplied;
                        json!({"id": format!("evt_{}", total - 1 - position), "applied": applied})
                    })
                    .collect();
                warp::reply::json(&json!({"object": "list", "data": data, "has_more": end < total}))
            },
        );
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(warp::serve(route).incoming(listener).run());
        url
    }

    async fn check_against(total: usize, unapplied: usize, applied_after: usize) -> AppliedCheck {
        let url = serve_events(total, unapplied, applied_after).await;
        let endpoint = Endpoint::new(&url, Some("sk_test")).unwrap();
        check(&Caller::new(&endpoint, Duration::from_secs(5))).await.unwrap()
    }

    #[tokio::test]
    async fn counts_the_newest_unapplied_events_then_waits_until_they_are_applied() {
        let counted = check_against(1_000, 250, 6).await;
        assert_eq!(counted.newest_listed, 100);
        assert_eq!(counted.unapplied_at_load_end, 250);
        assert!(!counted.unapplied_count_capped);
        assert!(counted.all_applied_after_secs.is_some());
        assert_eq!(counted.unapplied_after_wait, 0);
    }

    #[tokio::test]
    async fn a_backlog_past_the_page_bound_is_reported_as_at_least() {
        let total = (UNAPPLIED_PAGES_MAX + 5) * EVENTS_PAGE_LIMIT;
        let counted = check_against(total, total, UNAPPLIED_PAGES_MAX + 2).await;
        assert_eq!(counted.unapplied_at_load_end, UNAPPLIED_PAGES_MAX * EVENTS_PAGE_LIMIT);
        assert!(counted.unapplied_count_capped);
    }

    #[tokio::test]
    async fn an_engine_that_lists_nothing_says_so() {
        let counted = check_against(0, 0, 0).await;
        assert_eq!(counted.newest_listed, 0);
        assert_eq!(counted.unapplied_at_load_end, 0);
        assert_eq!(counted.all_applied_after_secs.map(|secs| secs < 5.0), Some(true));
    }
}
