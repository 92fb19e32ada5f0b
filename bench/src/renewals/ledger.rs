//! The sandbox "processor"'s own record of what it charged, `GET /v1/sandbox/ledger`, read
//! whole (newest first, page after page by `starting_after=<gateway_reference>`) and indexed so
//! that each charge that paid an invoice can be matched to the ledger's `charge` entries: by the
//! ledger's `idempotency_key`, which is the charge id, or by the charge's `gateway_reference`.

use std::collections::HashMap;

use serde::Deserialize;
use tokio::time::Instant;

use super::{excerpt, query_value};
use crate::limits::{LEDGER_PAGES_MAX, LIST_PAGE_LIMIT, VERIFY_PROGRESS_EVERY};
use crate::report::format::count;
use crate::setup::Caller;
use crate::target::RequestSpec;

const LEDGER_PATH: &str = "/v1/sandbox/ledger";
const KIND_CHARGE: &str = "charge";

#[derive(Debug, Clone, Deserialize)]
pub struct LedgerEntry {
    pub gateway_reference: String,
    pub idempotency_key: String,
    pub kind: String,
}

#[derive(Deserialize)]
struct LedgerPage {
    data: Vec<LedgerEntry>,
    has_more: bool,
}

/// The ledger's `charge` entries, findable by key and by reference.
#[derive(Debug, Default)]
pub struct LedgerIndex {
    /// Entries of any kind read.
    pub entries_read: usize,
    /// The ledger was longer than `LEDGER_PAGES_MAX` pages: what was not read is not indexed.
    pub cut_short: bool,
    charges: Vec<LedgerEntry>,
    by_key: HashMap<String, Vec<usize>>,
    by_reference: HashMap<String, Vec<usize>>,
    matched: Vec<bool>,
}

impl LedgerIndex {
    #[cfg(test)]
    pub fn from_entries(entries: impl IntoIterator<Item = LedgerEntry>) -> Self {
        let mut index = Self::default();
        for entry in entries {
            index.add(entry);
        }
        index
    }

    fn add(&mut self, entry: LedgerEntry) {
        self.entries_read += 1;
        if entry.kind != KIND_CHARGE {
            return;
        }
        let position = self.charges.len();
        self.by_key.entry(entry.idempotency_key.clone()).or_default().push(position);
        self.by_reference.entry(entry.gateway_reference.clone()).or_default().push(position);
        self.charges.push(entry);
        self.matched.push(false);
    }

    /// The `charge` entries of the charge `charge_id` (whose gateway reference is
    /// `gateway_reference`, when the engine gave one), each counted once; they are marked matched.
    pub fn match_charge(&mut self, charge_id: &str, gateway_reference: Option<&str>) -> usize {
        let by_key = self.by_key.get(charge_id).into_iter().flatten();
        let by_reference = gateway_reference.and_then(|reference| self.by_reference.get(reference));
        let mut positions: Vec<usize> =
            by_key.chain(by_reference.into_iter().flatten()).copied().collect();
        positions.sort_unstable();
        positions.dedup();
        for position in &positions {
            self.matched[*position] = true;
        }
        positions.len()
    }

    /// `charge` entries read.
    pub fn charge_entries(&self) -> usize {
        self.charges.len()
    }

    /// `charge` entries some invoice's charge matched.
    pub fn matched_entries(&self) -> usize {
        self.matched.iter().filter(|matched| **matched).count()
    }
}

/// Reads the whole ledger, printing progress; `Err` says why it could not be read through.
pub async fn read(caller: &Caller) -> Result<LedgerIndex, String> {
    let started = Instant::now();
    let mut index = LedgerIndex::default();
    let mut after: Option<String> = None;
    for page_number in 1..=LEDGER_PAGES_MAX {
        let path = match &after {
            Some(reference) => format!(
                "{LEDGER_PATH}?limit={LIST_PAGE_LIMIT}&starting_after={}",
                query_value(reference)
            ),
            None => format!("{LEDGER_PATH}?limit={LIST_PAGE_LIMIT}"),
        };
        let answer = caller
            .call(RequestSpec::get(path))
            .await
            .map_err(|error| format!("page {page_number}: {error}"))?;
        let page: LedgerPage = serde_json::from_slice(&answer.body).map_err(|error| {
            format!("page {page_number} is unreadable ({error}): {}", excerpt(&answer.body))
        })?;
        after = page.data.last().map(|entry| entry.gateway_reference.clone());
        let before = index.entries_read;
        page.data.into_iter().for_each(|entry| index.add(entry));
        if index.entries_read / VERIFY_PROGRESS_EVERY > before / VERIFY_PROGRESS_EVERY {
            eprintln!(
                "verify: {} ledger entries read in {:.1} s",
                count(index.entries_read as f64),
                started.elapsed().as_secs_f64()
            );
        }
        if !page.has_more || after.is_none() {
            return Ok(index);
        }
    }
    index.cut_short = true;
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(reference: &str, key: &str, kind: &str) -> LedgerEntry {
        LedgerEntry {
            gateway_reference: reference.into(),
            idempotency_key: key.into(),
            kind: kind.into(),
        }
    }

    #[test]
    fn a_charge_matches_its_entry_once_by_key_or_reference() {
        let mut index = LedgerIndex::from_entries([
            entry("sbx_1", "ch_a", "charge"),
            entry("sbx_2", "ch_b", "charge"),
            entry("sbx_3", "re_x", "refund"),
            entry("sbx_4", "ch_c", "charge"),
            entry("sbx_5", "ch_c", "charge"),
        ]);
        assert_eq!((index.entries_read, index.charge_entries()), (5, 4));
        assert_eq!(index.match_charge("ch_a", Some("sbx_1")), 1, "by both: one entry");
        assert_eq!(index.match_charge("ch_b", None), 1, "by key alone");
        assert_eq!(index.match_charge("ch_unknown", Some("sbx_2")), 1, "by reference alone");
        assert_eq!(index.match_charge("ch_c", Some("sbx_4")), 2, "charged twice");
        assert_eq!(index.match_charge("ch_none", Some("sbx_3")), 0, "a refund is no charge");
        assert_eq!(index.matched_entries(), 4);
    }
}
