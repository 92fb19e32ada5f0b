//! The API keys made through the admin API, held in memory so that a request's key costs one
//! hash lookup and no store read, and so that a revocation or a new expiry takes effect on the
//! very next request. The store holds each key's record; every change is written there first
//! and shown here once durable.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::domain::{AccountId, ApiKey, ApiKeyId, Event, KeyRefusal, Permissions};
use crate::store::{AccountStore, DurableTicket, IdempotencyRecord, StoreError};

/// `last_used` is written to the store at most this often per key: a busy key must not cost a
/// store write per request. The API shows it to the minute.
const LAST_USED_WRITE_SECS: i64 = 60;

/// A key as requests see it. What a request checks lives in atomics, so authenticating takes
/// no lock but the table's read lock; `record` is locked only to change the key.
pub struct KeyEntry {
    pub account: AccountId,
    pub id: ApiKeyId,
    pub permissions: Arc<Permissions>,
    revoked: AtomicBool,
    /// `i64::MAX`: never.
    expires_at: AtomicI64,
    /// When a request last bore it; `i64::MIN`: never.
    last_used: AtomicI64,
    /// `last_used` as last written to the store.
    last_used_written: AtomicI64,
    /// The record as the store has it. Held while a change is written, so two changes (a
    /// revocation and a `last_used`) reach the store in the order they were made.
    record: Mutex<ApiKey>,
}

impl KeyEntry {
    fn new(record: ApiKey) -> KeyEntry {
        let last_used = record.last_used.unwrap_or(i64::MIN);
        KeyEntry {
            account: record.account.clone(),
            id: record.id.clone(),
            permissions: Arc::new(record.permissions.clone()),
            revoked: AtomicBool::new(record.revoked_at.is_some()),
            expires_at: AtomicI64::new(record.expires_at.unwrap_or(i64::MAX)),
            last_used: AtomicI64::new(last_used),
            last_used_written: AtomicI64::new(last_used),
            record: Mutex::new(record),
        }
    }

    /// Whether a request at `now` may use the key.
    pub fn usable_at(&self, now: i64) -> Result<(), KeyRefusal> {
        if self.revoked.load(Ordering::Acquire) {
            return Err(KeyRefusal::Revoked);
        }
        match now >= self.expires_at.load(Ordering::Acquire) {
            true => Err(KeyRefusal::Expired),
            false => Ok(()),
        }
    }

    /// The key's record as the API shows it: with the latest `last_used`.
    pub fn snapshot(&self) -> ApiKey {
        let mut record = self.lock().clone();
        let last_used = self.last_used.load(Ordering::Relaxed);
        record.last_used = (last_used != i64::MIN).then_some(last_used);
        record
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ApiKey> {
        self.record.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Default)]
struct Keys {
    by_hash: HashMap<[u8; 32], Arc<KeyEntry>>,
    by_id: HashMap<ApiKeyId, Arc<KeyEntry>>,
}

pub struct KeyTable {
    keys: RwLock<Keys>,
    store: Arc<dyn AccountStore>,
}

impl KeyTable {
    /// The table of every key the store holds.
    pub fn load(store: Arc<dyn AccountStore>) -> Result<KeyTable, StoreError> {
        let table = KeyTable { keys: RwLock::default(), store };
        for record in table.store.api_keys()? {
            table.show(record);
        }
        Ok(table)
    }

    fn show(&self, record: ApiKey) -> Arc<KeyEntry> {
        let hash = record.hash;
        let entry = Arc::new(KeyEntry::new(record));
        let mut keys = self.keys.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.by_hash.insert(hash, Arc::clone(&entry));
        keys.by_id.insert(entry.id.clone(), Arc::clone(&entry));
        entry
    }

    /// The key whose secret hashes to `hash`. The lookup is by the SHA-256 of the presented
    /// secret, so how long it takes says nothing about any stored secret.
    pub fn find(&self, hash: &[u8; 32]) -> Option<Arc<KeyEntry>> {
        let keys = self.keys.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.by_hash.get(hash).cloned()
    }

    /// The account's key with this id; another account's is not found.
    pub fn get(&self, account: &AccountId, id: &ApiKeyId) -> Option<Arc<KeyEntry>> {
        let keys = self.keys.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.by_id.get(id).filter(|entry| entry.account == *account).cloned()
    }

    /// The account's keys that are not revoked, newest first.
    pub fn of_account(&self, account: &AccountId) -> Vec<ApiKey> {
        let keys = self.keys.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut found: Vec<ApiKey> = keys
            .by_id
            .values()
            .filter(|entry| entry.account == *account && !entry.revoked.load(Ordering::Acquire))
            .map(|entry| entry.snapshot())
            .collect();
        found.sort_by(|a, b| b.id.cmp(&a.id));
        found
    }

    /// Writes a new key durably, with its audit event, then lets requests use it.
    pub async fn insert(
        &self,
        record: ApiKey,
        answered: Option<(&str, &IdempotencyRecord)>,
        audit: &Event,
    ) -> Result<(), StoreError> {
        self.store.put_api_key(&record, answered, Some(audit))?.wait().await?;
        self.show(record);
        Ok(())
    }

    /// Changes a key's record (its expiry, its revocation) durably, then shows the change to
    /// requests. Returns the record as changed.
    /// `answered` gives the idempotency record of the request that made the change, written
    /// with it, and `audit` the change's audit event.
    pub async fn change(
        &self,
        entry: &KeyEntry,
        change: impl FnOnce(&mut ApiKey),
        answered: impl FnOnce(&ApiKey) -> Option<(String, IdempotencyRecord)>,
        audit: Option<Event>,
    ) -> Result<ApiKey, StoreError> {
        let (changed, ticket) = {
            let mut record = entry.lock();
            let mut changed = record.clone();
            change(&mut changed);
            let answered = answered(&changed);
            let answered = answered.as_ref().map(|(key, record)| (key.as_str(), record));
            let ticket = self.store.put_api_key(&changed, answered, audit.as_ref())?;
            *record = changed.clone();
            (changed, ticket)
        };
        ticket.wait().await?;
        entry.expires_at.store(changed.expires_at.unwrap_or(i64::MAX), Ordering::Release);
        entry.revoked.store(changed.revoked_at.is_some(), Ordering::Release);
        Ok(changed)
    }

    /// Notes that a request at `now` bore the key; writes it to the store when the stored time
    /// is a minute old. The write is not waited for: a `last_used` lost in a crash is only an
    /// older one.
    pub fn used(&self, entry: &KeyEntry, now: i64) {
        entry.last_used.fetch_max(now, Ordering::Relaxed);
        let written = entry.last_used_written.load(Ordering::Relaxed);
        if now.saturating_sub(written) < LAST_USED_WRITE_SECS
            || entry
                .last_used_written
                .compare_exchange(written, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let written: Result<DurableTicket, StoreError> = {
            let mut record = entry.lock();
            record.last_used = Some(now);
            self.store.put_api_key(&record, None, None)
        };
        if let Err(error) = written {
            tracing::warn!(key = %entry.id, %error, "could not record when the key was last used");
        }
    }
}
