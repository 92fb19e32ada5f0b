//! One of the engine's newest-first lists read whole: page after page of `LIST_PAGE_LIMIT`, each
//! continuing with `starting_after=<the last item's cursor>`, until `has_more` is false.
//! `GET /v1/invoices`, `GET /v1/charges` and `GET /v1/sandbox/ledger` are all read this way, so
//! the verification costs one request per 100 records instead of one or more per subscription.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::{excerpt, query_value};
use crate::limits::{LIST_PAGE_LIMIT, LIST_PAGES_MAX, VERIFY_PROGRESS_EVERY};
use crate::report::format::count;
use crate::setup::Caller;
use crate::target::RequestSpec;

#[derive(Deserialize)]
struct Page<T> {
    data: Vec<T>,
    has_more: bool,
}

/// A list as read.
#[derive(Debug)]
pub struct Listing<T> {
    pub items: Vec<T>,
    /// The list was longer than `LIST_PAGES_MAX` pages: what follows them was not read.
    pub cut_short: bool,
    pub secs: f64,
}

/// Reads `path` (no query of its own) whole, printing a progress line named `what` every
/// `VERIFY_PROGRESS_EVERY` items; `cursor` gives an item's `starting_after` value. `Err` says
/// which page could not be read, and why.
pub async fn read_all<T: DeserializeOwned>(
    caller: &Caller,
    path: &str,
    what: &str,
    cursor: impl Fn(&T) -> &str,
) -> Result<Listing<T>, String> {
    let started = Instant::now();
    let mut items: Vec<T> = Vec::new();
    let mut after: Option<String> = None;
    for page_number in 1..=LIST_PAGES_MAX {
        let page_path = match &after {
            Some(cursor) => {
                format!("{path}?limit={LIST_PAGE_LIMIT}&starting_after={}", query_value(cursor))
            }
            None => format!("{path}?limit={LIST_PAGE_LIMIT}"),
        };
        let answer = caller
            .call(RequestSpec::get(page_path))
            .await
            .map_err(|error| format!("{path}, page {page_number}: {error}"))?;
        let page: Page<T> = serde_json::from_slice(&answer.body).map_err(|error| {
            format!(
                "{path}, page {page_number}, is unreadable ({error}): {}",
                excerpt(&answer.body)
            )
        })?;
        after = page.data.last().map(|item| cursor(item).to_owned());
        let before = items.len();
        items.extend(page.data);
        if items.len() / VERIFY_PROGRESS_EVERY > before / VERIFY_PROGRESS_EVERY {
            eprintln!(
                "verify: {} {what} read in {:.1} s",
                count(items.len() as f64),
                started.elapsed().as_secs_f64()
            );
        }
        if !page.has_more || after.is_none() {
            return Ok(Listing { items, cut_short: false, secs: started.elapsed().as_secs_f64() });
        }
    }
    Ok(Listing { items, cut_short: true, secs: started.elapsed().as_secs_f64() })
}
