//! The sandbox "processor"'s own record of what it charged, `GET /v1/sandbox/ledger`, read
//! whole (newest first, page after page by `starting_after=<gateway_reference>`) and indexed so
//! that each charge that paid an invoice can be matched to the ledger's `charge` entries: by the
//! ledger's `idempotency_key`, which is the charge id, or by the charge's `gateway_reference`.

use std::collections::HashMap;

use serde::Deserialize;

use super::listing;
use crate::setup::Caller;

const LEDGER_PATH: &str = "/v1/sandbox/ledger";
const KIND_CHARGE: &str = "charge";

#[derive(Debug, Clone, Deserialize)]
pub struct LedgerEntry {
    pub gateway_reference: String,
    pub idempotency_key: String,
    pub kind: String,
}

/// The ledger's `charge` entries, findable by key and by reference.
#[derive(Debug, Default)]
pub struct LedgerIndex {
    /// Entries of any kind read.
    pub entries_read: usize,
    /// The ledger was longer than `LIST_PAGES_MAX` pages: what was not read is not indexed.
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

/// Reads the whole ledger (newest first, by `starting_after=<gateway_reference>`), printing
/// progress; `Err` says why it could not be read through.
pub async fn read(caller: &Caller) -> Result<LedgerIndex, String> {
    let listing =
        listing::read_all(caller, LEDGER_PATH, "ledger entries", |entry: &LedgerEntry| {
            entry.gateway_reference.as_str()
        })
        .await?;
    let mut index = LedgerIndex::default();
    listing.items.into_iter().for_each(|entry| index.add(entry));
    index.cut_short = listing.cut_short;
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
