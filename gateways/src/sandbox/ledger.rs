//! The sandbox's durable ledger: what its "processor" charged and refunded, kept in sled trees of
//! its own, apart from the engine's records, so the engine can be reconciled against it.
//!
//! Three trees, written together in one transaction per attempt:
//! - `sandbox_attempts`: every attempt by kind and idempotency key, declines included, so a retry
//!   with the same key gets the first outcome and `retrieve` can answer;
//! - `sandbox_balances`: per charge reference, the amount charged and refunded so far, so the
//!   processor itself never refunds more than it captured;
//! - `sandbox_ledger`: money that moved, keyed by a time-ordered id (oldest first on disk).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use crate::{AttemptKind, Currency, GatewayError};

/// Makes everything written so far durable. The engine implements it with its single group-commit
/// flusher, so the sandbox's writes share the engine's fsyncs instead of adding their own.
#[async_trait::async_trait]
pub trait Durability: Send + Sync {
    async fn sync(&self) -> Result<(), String>;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttemptResult {
    Charged { reference: String },
    Declined { decline_code: String, message: String },
    Refunded { reference: String },
    RefundFailed { message: String },
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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub gateway_reference: String,
    pub idempotency_key: String,
    pub amount_minor: i64,
    pub currency: Currency,
    pub kind: EntryKind,
    pub created: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Balance {
    amount_minor: i64,
    refunded_minor: i64,
    currency: Currency,
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

fn attempt_key(kind: AttemptKind, idempotency_key: &str) -> Vec<u8> {
    let tag = match kind {
        AttemptKind::Charge => "c/",
        AttemptKind::Refund => "r/",
    };
    [tag.as_bytes(), idempotency_key.as_bytes()].concat()
}

/// What a new attempt does to the ledger, decided before the transaction runs.
pub enum NewAttempt {
    Charge { record: AttemptRecord },
    Refund { record: AttemptRecord, charge_reference: String },
}

#[derive(Clone)]
pub struct Ledger {
    attempts: sled::Tree,
    balances: sled::Tree,
    entries: sled::Tree,
    durability: Arc<dyn Durability>,
    ids: Arc<reference_ids::Ids>,
}

impl Ledger {
    pub fn open(db: &sled::Db, durability: Arc<dyn Durability>) -> Result<Ledger, GatewayError> {
        let open = |name: &str| db.open_tree(name).map_err(storage);
        Ok(Ledger {
            attempts: open("sandbox_attempts")?,
            balances: open("sandbox_balances")?,
            entries: open("sandbox_ledger")?,
            durability,
            ids: Arc::new(reference_ids::Ids::default()),
        })
    }

    pub fn new_reference(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.ids.next())
    }

    pub fn find(
        &self,
        kind: AttemptKind,
        idempotency_key: &str,
    ) -> Result<Option<AttemptRecord>, GatewayError> {
        match self.attempts.get(attempt_key(kind, idempotency_key)).map_err(storage)? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Records an attempt unless one with the same kind and key exists, and returns whichever is
    /// on disk afterwards, durably. Concurrent calls with one key agree on a single record.
    pub async fn record(&self, attempt: NewAttempt) -> Result<AttemptRecord, GatewayError> {
        let stored = (&self.attempts, &self.balances, &self.entries)
            .transaction(|(attempts, balances, entries)| {
                apply(&attempt, attempts, balances, entries)
            })
            .map_err(|error: TransactionError<GatewayError>| match error {
                TransactionError::Abort(error) => error,
                TransactionError::Storage(error) => storage(error),
            })?;
        self.durability.sync().await.map_err(GatewayError::Storage)?;
        Ok(stored)
    }

    /// Ledger entries, newest first, after the entry `starting_after` (a gateway reference).
    pub fn list(
        &self,
        limit: usize,
        starting_after: Option<&str>,
    ) -> Result<(Vec<LedgerEntry>, bool), GatewayError> {
        let upper = match starting_after {
            Some(reference) => entry_key(reference).to_vec(),
            None => vec![0xff],
        };
        let mut entries = Vec::with_capacity(limit);
        for item in self.entries.range(..upper).rev() {
            let (_, bytes) = item.map_err(storage)?;
            if entries.len() == limit {
                return Ok((entries, true));
            }
            entries.push(decode(&bytes)?);
        }
        Ok((entries, false))
    }
}

/// A reference is a prefix and a 26-character ULID; the ULID alone orders the ledger.
fn entry_key(reference: &str) -> &[u8] {
    let bytes = reference.as_bytes();
    &bytes[bytes.len().saturating_sub(26)..]
}

type TxResult<T> = Result<T, ConflictableTransactionError<GatewayError>>;

fn apply(
    attempt: &NewAttempt,
    attempts: &TransactionalTree,
    balances: &TransactionalTree,
    entries: &TransactionalTree,
) -> TxResult<AttemptRecord> {
    let (kind, record) = match attempt {
        NewAttempt::Charge { record } => (AttemptKind::Charge, record),
        NewAttempt::Refund { record, .. } => (AttemptKind::Refund, record),
    };
    let key = attempt_key(kind, &record.idempotency_key);
    if let Some(bytes) = attempts.get(&key)? {
        return decode(&bytes).map_err(ConflictableTransactionError::Abort);
    }
    let record = match attempt {
        NewAttempt::Charge { record } => {
            if let AttemptResult::Charged { reference } = &record.result {
                let balance = Balance {
                    amount_minor: record.amount_minor,
                    refunded_minor: 0,
                    currency: record.currency,
                };
                balances.insert(reference.as_bytes(), encode(&balance))?;
                insert_entry(entries, record, reference, EntryKind::Charge)?;
            }
            record.clone()
        }
        NewAttempt::Refund { record, charge_reference } => {
            apply_refund(record, charge_reference, balances, entries)?
        }
    };
    attempts.insert(key, encode(&record))?;
    Ok(record)
}

/// The processor's own check: a refund never takes more than is left of the charge.
fn apply_refund(
    record: &AttemptRecord,
    charge_reference: &str,
    balances: &TransactionalTree,
    entries: &TransactionalTree,
) -> TxResult<AttemptRecord> {
    let failed = |message: &str| AttemptRecord {
        result: AttemptResult::RefundFailed { message: message.to_owned() },
        ..record.clone()
    };
    let Some(bytes) = balances.get(charge_reference.as_bytes())? else {
        return Ok(failed("no such charge"));
    };
    let mut balance: Balance = decode(&bytes).map_err(ConflictableTransactionError::Abort)?;
    if balance.currency != record.currency {
        return Ok(failed("refund currency differs from the charge's"));
    }
    if record.amount_minor > balance.amount_minor - balance.refunded_minor {
        return Ok(failed("refund exceeds what is left of the charge"));
    }
    balance.refunded_minor += record.amount_minor;
    balances.insert(charge_reference.as_bytes(), encode(&balance))?;
    if let AttemptResult::Refunded { reference } = &record.result {
        insert_entry(entries, record, reference, EntryKind::Refund)?;
    }
    Ok(record.clone())
}

fn insert_entry(
    entries: &TransactionalTree,
    record: &AttemptRecord,
    reference: &str,
    kind: EntryKind,
) -> TxResult<()> {
    let entry = LedgerEntry {
        gateway_reference: reference.to_owned(),
        idempotency_key: record.idempotency_key.clone(),
        amount_minor: record.amount_minor,
        currency: record.currency,
        kind,
        created: record.created,
    };
    entries.insert(entry_key(reference), encode(&entry))?;
    Ok(())
}

fn storage(error: sled::Error) -> GatewayError {
    GatewayError::Storage(error.to_string())
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
