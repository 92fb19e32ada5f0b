//! Cursor pagination: `limit` (1..=100, default 10) and `starting_after=<id>`, newest first.

use serde::Deserialize;

use super::error::ApiError;
use crate::limits::{LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPage {
    limit: Option<String>,
    starting_after: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: usize,
    pub starting_after: Option<String>,
}

impl PageRequest {
    pub fn parse(query: &str) -> Result<PageRequest, ApiError> {
        let raw: RawPage = serde_urlencoded::from_str(query).map_err(|error| {
            ApiError::validation(
                "query",
                format!("lists take `limit` and `starting_after`: {error}"),
            )
        })?;
        let limit = match raw.limit {
            None => LIST_LIMIT_DEFAULT,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|limit| (1..=LIST_LIMIT_MAX).contains(limit))
                .ok_or_else(|| {
                    ApiError::validation(
                        "limit",
                        format!("limit must be an integer from 1 to {LIST_LIMIT_MAX}"),
                    )
                })?,
        };
        Ok(PageRequest { limit, starting_after: raw.starting_after })
    }

    /// A list's page and its filters: the query's `filters` keys are taken out (each at most
    /// once) and the rest must be `limit` and `starting_after`.
    pub fn parse_filtered(
        query: &str,
        filters: &[&str],
    ) -> Result<(PageRequest, std::collections::HashMap<String, String>), ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|error| ApiError::validation("query", format!("bad query string: {error}")))?;
        let mut found = std::collections::HashMap::new();
        let mut rest = Vec::new();
        for (key, value) in pairs {
            if filters.contains(&key.as_str()) {
                if found.insert(key.clone(), value).is_some() {
                    return Err(ApiError::validation(key, "given more than once"));
                }
            } else {
                rest.push((key, value));
            }
        }
        let rest = serde_urlencoded::to_string(&rest)
            .map_err(|error| ApiError::validation("query", error.to_string()))?;
        let page = PageRequest::parse(&rest).map_err(|_| {
            ApiError::validation(
                "query",
                format!("this list takes `limit`, `starting_after` and {}", filters.join(", ")),
            )
        })?;
        Ok((page, found))
    }

    /// Pages a list that is already newest first and small enough to hold (a customer's
    /// payment methods): the items after `starting_after`, at most `limit` of them.
    pub fn apply<T>(&self, items: Vec<T>, id_of: impl Fn(&T) -> &str) -> (Vec<T>, bool) {
        let start = match &self.starting_after {
            Some(after) => {
                items.iter().position(|item| id_of(item) == after).map_or(items.len(), |at| at + 1)
            }
            None => 0,
        };
        let mut page: Vec<T> = items.into_iter().skip(start).collect();
        let has_more = page.len() > self.limit;
        page.truncate(self.limit);
        (page, has_more)
    }
}
