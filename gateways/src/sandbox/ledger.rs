//! The sandbox's durable ledger: what its "processor" charged and refunded, kept in trees of its
//! own, apart from the engine's records, so the engine can be reconciled against it. The trees
//! are the engine's ([`Trees`]): each attempt's writes are one write in its write-ahead log, so
//! after a crash all of them are there or none is.
//! - `sandbox_charges`: per charge idempotency key, the attempt (declines included) and the
//!   refunds made on it — one record, so a refund and the balance it draws on change together;
//! - `sandbox_references`: charge reference → charge key, written for charges recorded before a
//!   refund found its charge through its account's entry (below), and still read for them;
//! - `sandbox_refunds`: refund key → charge key, so `retrieve` finds a refund;
//! - `sandbox_refused_refunds`: refunds the processor refused, by key, so a retry gets the same
//!   answer;
//! - `sandbox_account_entries`: per merchant account, each reference's ULID → the reference and
//!   its charge (or payout) key, so an account's listing is a range scan newest first over its
//!   own entries, and a refund finds its charge among its account's;
//! - `sandbox_payouts`: per payout idempotency key, what the processor did with the payout.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::trees::{Put, Trees};
use crate::{AttemptKind, Currency, GatewayError};

const CHARGES: &str = "sandbox_charges";
const REFERENCES: &str = "sandbox_references";
const REFUNDS: &str = "sandbox_refunds";
const REFUSED_REFUNDS: &str = "sandbox_refused_refunds";
const ENTRIES: &str = "sandbox_account_entries";
const PAYOUTS: &str = "sandbox_payouts";

/// Every tree the ledger keeps: the engine opens them before it replays its log.
pub const TREES: [&str; 6] = [CHARGES, REFERENCES, REFUNDS, REFUSED_REFUNDS, ENTRIES, PAYOUTS];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttemptResult {
    Charged {
        reference: String,
        /// The processor's fee for the charge, kept from its amount.
        #[serde(default)]
        fee_minor: i64,
    },
    Declined {
        decline_code: String,
        message: String,
    },
    Refunded {
        reference: String,
    },
    RefundFailed {
        message: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub idempotency_key: String,
    pub amount_minor: i64,
    pub currency: Currency,
    pub created: i64,
    pub result: AttemptResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    Charge,
    Refund,
    /// Money paid out to a payee.
    Payout,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub gateway_reference: String,
    pub idempotency_key: String,
    pub amount_minor: i64,
    pub currency: Currency,
    pub kind: EntryKind,
    pub created: i64,
    /// What the processor kept of a charge as its fee (0 for refunds and payouts).
    pub fee_minor: i64,
}

/// A payout the processor took: paid, or refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutRecord {
    pub idempotency_key: String,
    /// The merchant account paying, whose listing shows the payout.
    pub account: String,
    pub amount_minor: i64,
    pub currency: Currency,
    pub created: i64,
    pub result: PayoutResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PayoutResult {
    Paid { reference: String },
    Failed { code: String, message: String },
}

/// A charge attempt and the refunds made on it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChargeRecord {
    attempt: AttemptRecord,
    refunds: Vec<AttemptRecord>,
    /// The merchant account the charge was made for, whose listing shows it.
    account: Option<String>,
}

impl ChargeRecord {
    fn reference(&self) -> Option<&str> {
        match &self.attempt.result {
            AttemptResult::Charged { reference, .. } => Some(reference),
            _ => None,
        }
    }

    fn refunded_minor(&self) -> i64 {
        self.refunds.iter().map(|refund| refund.amount_minor).sum()
    }
}

/// Stored values carry their version so that later layouts can still read these.
#[derive(Serialize, Deserialize)]
enum Stored<T> {
    V1(T),
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec(&Stored::V1(value)).expect("sandbox records always encode")
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, GatewayError> {
    match rmp_serde::from_slice::<Stored<T>>(bytes) {
        Ok(Stored::V1(value)) => Ok(value),
        Err(error) => Err(GatewayError::Storage(format!("undecodable sandbox record: {error}"))),
    }
}

/// What a new attempt does to the ledger, decided before the transaction runs.
pub enum NewAttempt {
    /// `account`: the merchant account it is made for, whose ledger listing shows it.
    Charge { record: AttemptRecord, account: String },
    /// `account`: the merchant account refunding, among whose charges its charge is found.
    Refund { record: AttemptRecord, charge_reference: String, account: String },
}

#[derive(Clone)]
pub struct Ledger {
    trees: Arc<dyn Trees>,
    /// Refunds read, check and rewrite their charge's record: one at a time.
    refund_lock: Arc<Mutex<()>>,
    ids: Arc<reference_ids::Ids>,
}

impl Ledger {
    pub fn open(trees: Arc<dyn Trees>) -> Ledger {
        Ledger { trees, refund_lock: Arc::default(), ids: Arc::new(reference_ids::Ids::default()) }
    }

    pub fn new_reference(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.ids.next())
    }

    pub fn find(
        &self,
        kind: AttemptKind,
        idempotency_key: &str,
    ) -> Result<Option<AttemptRecord>, GatewayError> {
        match kind {
            AttemptKind::Charge => Ok(self.charge(idempotency_key)?.map(|charge| charge.attempt)),
            AttemptKind::Refund => self.find_refund(idempotency_key),
        }
    }

    /// Records an attempt unless one with the same kind and key exists, and returns whichever is
    /// on disk afterwards, durably. Concurrent calls with one key agree on a single record.
    pub async fn record(&self, attempt: NewAttempt) -> Result<AttemptRecord, GatewayError> {
        let stored = match attempt {
            NewAttempt::Charge { record, account } => self.record_charge(record, account)?,
            NewAttempt::Refund { record, charge_reference, account } => {
                let _one_at_a_time =
                    self.refund_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                self.record_refund(record, &charge_reference, &account)?
            }
        };
        self.trees.sync().await?;
        Ok(stored)
    }

    /// Records a payout unless one with its key exists, and returns whichever is on disk
    /// afterwards, durably: one payout per key, however many calls carry it.
    pub async fn record_payout(&self, record: PayoutRecord) -> Result<PayoutRecord, GatewayError> {
        let key = record.idempotency_key.clone();
        let encoded = encode(&record);
        let index = match &record.result {
            PayoutResult::Paid { reference } => Some((
                entry_key(&record.account, reference),
                encode(&(reference.as_str(), key.as_str())),
            )),
            PayoutResult::Failed { .. } => None,
        };
        let mut puts = vec![Put { tree: PAYOUTS, key: key.as_bytes(), value: &encoded }];
        if let Some((entry_key, entry)) = &index {
            puts.push(Put { tree: ENTRIES, key: entry_key, value: entry });
        }
        let stored = match self.trees.insert_unless_present(PAYOUTS, key.as_bytes(), &puts)? {
            None => record,
            Some(present) => decode(&present)?,
        };
        self.trees.sync().await?;
        Ok(stored)
    }

    pub fn find_payout(&self, idempotency_key: &str) -> Result<Option<PayoutRecord>, GatewayError> {
        match self.trees.get(PAYOUTS, idempotency_key.as_bytes())? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// `account`'s ledger entries, newest first, after the entry `starting_after` (a gateway
    /// reference): a range of its own index entries, each looked up in its charge record.
    pub fn list(
        &self,
        account: &str,
        limit: usize,
        starting_after: Option<&str>,
    ) -> Result<(Vec<LedgerEntry>, bool), GatewayError> {
        let lower = account_prefix(account);
        let upper = match starting_after {
            Some(reference) => entry_key(account, reference),
            None => prefix_end(&lower),
        };
        let mut entries = Vec::with_capacity(limit.min(100));
        for item in self.trees.range_rev(ENTRIES, &lower, &upper) {
            let (_, bytes) = item?;
            let (reference, charge_key): (String, String) = decode(&bytes)?;
            let Some(found) = self.entry_of(&reference, &charge_key)? else { continue };
            if entries.len() == limit {
                return Ok((entries, true));
            }
            entries.push(found);
        }
        Ok((entries, false))
    }

    /// The ledger entry `reference` names in the record of `key` (a charge's, or a payout's),
    /// if it landed there.
    fn entry_of(&self, reference: &str, key: &str) -> Result<Option<LedgerEntry>, GatewayError> {
        if let Some(payout) = self.find_payout(key)? {
            return Ok(Some(LedgerEntry {
                gateway_reference: reference.to_owned(),
                idempotency_key: payout.idempotency_key,
                amount_minor: payout.amount_minor,
                currency: payout.currency,
                kind: EntryKind::Payout,
                created: payout.created,
                fee_minor: 0,
            }));
        }
        let Some(charge) = self.charge(key)? else { return Ok(None) };
        if charge.reference() == Some(reference) {
            return Ok(Some(entry(&charge.attempt, reference, EntryKind::Charge)));
        }
        let refund = charge.refunds.iter().find(|refund| {
            matches!(&refund.result, AttemptResult::Refunded { reference: own } if own == reference)
        });
        Ok(refund.map(|refund| entry(refund, reference, EntryKind::Refund)))
    }

    fn charge(&self, key: &str) -> Result<Option<ChargeRecord>, GatewayError> {
        match self.trees.get(CHARGES, key.as_bytes())? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn record_charge(
        &self,
        attempt: AttemptRecord,
        account: String,
    ) -> Result<AttemptRecord, GatewayError> {
        // A retry's record is found by the insert, which reads under the write order: no read
        // before it, which every first attempt would pay for.
        let key = attempt.idempotency_key.clone();
        let record = ChargeRecord { attempt, refunds: Vec::new(), account: Some(account) };
        let encoded = encode(&record);
        let index = match (record.reference(), &record.account) {
            (Some(reference), Some(account)) => {
                Some((entry_key(account, reference), encode(&(reference, key.as_str()))))
            }
            _ => None,
        };
        let mut puts = vec![Put { tree: CHARGES, key: key.as_bytes(), value: &encoded }];
        if let Some((entry_key, entry)) = &index {
            puts.push(Put { tree: ENTRIES, key: entry_key, value: entry });
        }
        match self.trees.insert_unless_present(CHARGES, key.as_bytes(), &puts)? {
            None => Ok(record.attempt),
            // A concurrent call with the same key got there first: its record stands.
            Some(present) => decode::<ChargeRecord>(&present).map(|charge| charge.attempt),
        }
    }

    /// Under the refund lock: nothing else reads or writes charge records' refunds meanwhile.
    fn record_refund(
        &self,
        attempt: AttemptRecord,
        charge_reference: &str,
        account: &str,
    ) -> Result<AttemptRecord, GatewayError> {
        let key = attempt.idempotency_key.clone();
        if let Some(existing) = self.find_refund(&key)? {
            return Ok(existing);
        }
        let refused = |message: &str| -> Result<AttemptRecord, GatewayError> {
            let record = AttemptRecord {
                result: AttemptResult::RefundFailed { message: message.to_owned() },
                ..attempt.clone()
            };
            let encoded = encode(&record);
            self.trees.insert(&[Put {
                tree: REFUSED_REFUNDS,
                key: key.as_bytes(),
                value: &encoded,
            }])?;
            Ok(record)
        };
        let Some(charge_key) = self.charge_key(account, charge_reference)? else {
            return refused("no such charge");
        };
        // Another merchant's charge is no charge of this one's.
        let mut charge = match self.charge(&charge_key)? {
            Some(charge)
                if charge.reference() == Some(charge_reference)
                    && charge.account.as_deref().is_none_or(|own| own == account) =>
            {
                charge
            }
            _ => return refused("no such charge"),
        };
        if charge.attempt.currency != attempt.currency {
            return refused("refund currency differs from the charge's");
        }
        if attempt.amount_minor > charge.attempt.amount_minor - charge.refunded_minor() {
            return refused("refund exceeds what is left of the charge");
        }
        let index = match (&attempt.result, &charge.account) {
            (AttemptResult::Refunded { reference }, Some(account)) => Some((
                entry_key(account, reference),
                encode(&(reference.as_str(), charge_key.as_str())),
            )),
            _ => None,
        };
        charge.refunds.push(attempt.clone());
        let encoded = encode(&charge);
        let mut puts = vec![
            Put { tree: REFUNDS, key: key.as_bytes(), value: charge_key.as_bytes() },
            Put { tree: CHARGES, key: charge_key.as_bytes(), value: &encoded },
        ];
        if let Some((entry_key, entry)) = &index {
            puts.push(Put { tree: ENTRIES, key: entry_key, value: entry });
        }
        self.trees.insert(&puts)?;
        Ok(attempt)
    }

    /// The key of the charge `reference` names: found through `account`'s entry for it, or,
    /// for a charge recorded before refunds looked there, through its reference.
    fn charge_key(&self, account: &str, reference: &str) -> Result<Option<String>, GatewayError> {
        if let Some(bytes) = self.trees.get(ENTRIES, &entry_key(account, reference))? {
            let (entry_reference, key): (String, String) = decode(&bytes)?;
            if entry_reference == reference {
                return Ok(Some(key));
            }
        }
        let key = self.trees.get(REFERENCES, reference.as_bytes())?;
        Ok(key.map(|key| String::from_utf8_lossy(&key).into_owned()))
    }

    fn find_refund(&self, key: &str) -> Result<Option<AttemptRecord>, GatewayError> {
        if let Some(bytes) = self.trees.get(REFUSED_REFUNDS, key.as_bytes())? {
            return decode(&bytes).map(Some);
        }
        let Some(charge_key) = self.trees.get(REFUNDS, key.as_bytes())? else {
            return Ok(None);
        };
        let charge = self.charge(&String::from_utf8_lossy(&charge_key))?;
        Ok(charge.and_then(|charge| {
            charge.refunds.into_iter().find(|refund| refund.idempotency_key == key)
        }))
    }
}

/// An account's entries sit together, each under the account and its reference's ULID.
fn account_prefix(account: &str) -> Vec<u8> {
    // Account ids hold no NUL: no account's prefix is the start of another's.
    [account.as_bytes(), b"\0"].concat()
}

/// Just past every key that starts with `prefix` (which ends in NUL, so never all 0xff).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

/// A reference is a prefix and a 26-character ULID; the ULID alone orders an account's entries.
fn entry_key(account: &str, reference: &str) -> Vec<u8> {
    let bytes = reference.as_bytes();
    [account_prefix(account).as_slice(), &bytes[bytes.len().saturating_sub(26)..]].concat()
}

fn entry(record: &AttemptRecord, reference: &str, kind: EntryKind) -> LedgerEntry {
    let fee_minor = match &record.result {
        AttemptResult::Charged { fee_minor, .. } => *fee_minor,
        _ => 0,
    };
    LedgerEntry {
        gateway_reference: reference.to_owned(),
        idempotency_key: record.idempotency_key.clone(),
        amount_minor: record.amount_minor,
        currency: record.currency,
        kind,
        created: record.created,
        fee_minor,
    }
}

/// Time-ordered references: a monotonic ULID generator, so references made in the same
/// millisecond still sort in the order they were made.
mod reference_ids {
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct Ids(Mutex<ulid::Generator>);

    impl Ids {
        pub fn next(&self) -> ulid::Ulid {
            let mut generator = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            // Overflow needs 2^80 ids in one millisecond; fall back to a fresh random id.
            generator.generate().unwrap_or_else(|_| ulid::Ulid::new())
        }
    }
}
