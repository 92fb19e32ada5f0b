//! Idempotency as API.md gives it. A POST with an `Idempotency-Key`:
//! - claims the key in memory while it runs: a second request with it meanwhile gets 409;
//! - finds the key's durable record: a different request (method, path, canonical body) gets
//!   422; a completed one gets its first response again with `Idempotent-Replayed: true`; one
//!   whose gateway outcome was unknown when first answered (`processing`) gets the object as it
//!   stands now, so a retry learns the outcome once it is known;
//! - or runs, and the actor writes the record in the same atomic change as the effect.
//!
//! The key is kept only as its keyed hash ([`super::idempotency_keys`]).

use std::collections::HashSet;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::App;
use super::error::ApiError;
use super::idempotency_keys::IdempotencyKeys;
use super::request::ApiRequest;
use crate::actor::IdempotencyTicket;
use crate::domain::AccountId;
use crate::store::{IdempotencyRecord, IdempotencyState, InFlightObject, Outcome, Store, Write};

const CLAIM_SHARDS: usize = 64;

/// The API's idempotency: each key's durable record, the keys of requests running now, and the
/// keyed hash keys are kept as.
pub struct Idempotency {
    store: Arc<dyn Store>,
    claims: Claims,
    keys: IdempotencyKeys,
}

impl Idempotency {
    pub fn new(store: Arc<dyn Store>, keys: IdempotencyKeys) -> Idempotency {
        Idempotency { store, claims: Claims::default(), keys }
    }
}

/// Keys of requests being processed right now, per account.
struct Claims {
    shards: Vec<Mutex<HashSet<(AccountId, String)>>>,
    hasher: std::collections::hash_map::RandomState,
}

/// Holds a key while its request runs; dropping it releases the key.
struct Claim<'a> {
    claims: &'a Claims,
    entry: (AccountId, String),
}

impl Default for Claims {
    fn default() -> Self {
        Claims {
            shards: (0..CLAIM_SHARDS).map(|_| Mutex::default()).collect(),
            hasher: Default::default(),
        }
    }
}

impl Claims {
    fn shard(&self, entry: &(AccountId, String)) -> &Mutex<HashSet<(AccountId, String)>> {
        &self.shards[(self.hasher.hash_one(entry) % CLAIM_SHARDS as u64) as usize]
    }

    fn claim(&self, account: &AccountId, key: &str) -> Option<Claim<'_>> {
        let entry = (account.clone(), key.to_owned());
        let newly_claimed = {
            let mut claimed =
                self.shard(&entry).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            claimed.insert(entry.clone())
        };
        // The claim is made only once the lock is released: a claim dropped (unused) under the
        // lock would take the lock again, and release the key its holder still holds.
        newly_claimed.then(|| Claim { claims: self, entry })
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut claimed =
            self.claims.shard(&self.entry).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        claimed.remove(&self.entry);
    }
}

/// The record of a request answered with `outcome`, for a store write that carries it with the
/// request's effect (a rollback's new rule history).
pub fn completed(ticket: IdempotencyTicket, outcome: Outcome) -> (String, IdempotencyRecord) {
    let Write::Idempotency { key, record } =
        Write::idempotency_completed(&ticket.key, ticket.fingerprint, outcome)
    else {
        unreachable!("idempotency_completed makes an idempotency write");
    };
    (key, record)
}

/// SHA-256 over method, path and canonical body.
pub fn fingerprint(request: &ApiRequest) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(request.method.as_str().as_bytes());
    hasher.update(b"\n");
    hasher.update(request.segments().join("/").as_bytes());
    hasher.update(b"\n");
    hasher.update(request.canonical_body());
    hasher.finalize().into()
}

/// What a POST answered: the outcome to render, and whether it is a replay.
pub struct Answer {
    pub outcome: Outcome,
    pub replayed: bool,
}

/// Runs `execute` under the request's Idempotency-Key, or answers from the key's record.
pub async fn run<F, Fut>(
    app: &App,
    account: &AccountId,
    request: &ApiRequest,
    execute: F,
) -> Result<Answer, ApiError>
where
    F: FnOnce(Option<IdempotencyTicket>) -> Fut,
    Fut: Future<Output = Result<Outcome, ApiError>>,
{
    let Some(sent) = request.idempotency_key()? else {
        return Ok(Answer { outcome: execute(None).await?, replayed: false });
    };
    // From here on the key is its keyed hash: claims, records, charges and refunds hold only
    // that.
    let idempotency = &app.idempotency;
    let key = idempotency.keys.digest(&sent);
    // Records kept from before a data-key rotation are found under the previous keys' digests.
    let earlier = idempotency.keys.previous_digests(&sent);
    let store = &idempotency.store;
    let find = || -> Result<Option<IdempotencyRecord>, ApiError> {
        for digest in std::iter::once(&key).chain(&earlier) {
            if let Some(record) = store.idempotency(account, digest)? {
                return Ok(Some(record));
            }
        }
        Ok(None)
    };
    let fingerprint = fingerprint(request);
    // Claimed before the record is read, so that a new key's request reads it once. A key held
    // by another request is replayed if that request has finished (its replays never wait on
    // each other), and refused while it runs.
    let Some(_claim) = idempotency.claims.claim(account, &key) else {
        return match find()? {
            Some(record) if matches!(record.state, IdempotencyState::Completed(_)) => {
                replay(store, account, record, &fingerprint).await
            }
            _ => Err(ApiError::idempotency_in_use()),
        };
    };
    match find()? {
        None => {
            let ticket = IdempotencyTicket { key, fingerprint };
            Ok(Answer { outcome: execute(Some(ticket)).await?, replayed: false })
        }
        Some(record) => replay(store, account, record, &fingerprint).await,
    }
}

/// Answers from a key's record: 422 for a different request, else the recorded outcome (or,
/// for a charge or refund still waiting on its gateway, the object as it stands).
async fn replay(
    store: &Arc<dyn Store>,
    account: &AccountId,
    record: IdempotencyRecord,
    fingerprint: &[u8; 32],
) -> Result<Answer, ApiError> {
    if &record.fingerprint != fingerprint {
        return Err(ApiError::idempotency_reused());
    }
    let outcome = match record.state {
        IdempotencyState::Completed(outcome) => *outcome,
        IdempotencyState::InFlight(object) => current(store, account, object)?,
    };
    // The record may have been written by a settlement still waiting for its flush: answer
    // only from what is durable.
    store.sync().wait().await?;
    Ok(Answer { outcome, replayed: true })
}

/// A charge or refund whose gateway outcome is not known yet, as it stands now.
fn current(
    store: &Arc<dyn Store>,
    account: &AccountId,
    object: InFlightObject,
) -> Result<Outcome, ApiError> {
    match object {
        InFlightObject::Charge(id) => {
            store.charge(account, &id)?.map(Outcome::Charge).ok_or_else(|| {
                ApiError::internal(format!("idempotency record names missing charge {id}"))
            })
        }
        InFlightObject::Refund(id) => {
            store.refund(account, &id)?.map(Outcome::Refund).ok_or_else(|| {
                ApiError::internal(format!("idempotency record names missing refund {id}"))
            })
        }
        InFlightObject::Subscription(id) => {
            store.subscription(account, &id)?.map(Outcome::Subscription).ok_or_else(|| {
                ApiError::internal(format!("idempotency record names missing subscription {id}"))
            })
        }
        InFlightObject::Invoice(id) => {
            store.invoice(account, &id)?.map(Outcome::Invoice).ok_or_else(|| {
                ApiError::internal(format!("idempotency record names missing invoice {id}"))
            })
        }
        InFlightObject::PaymentPlan(id) => {
            store.payment_plan(account, &id)?.map(Outcome::PaymentPlan).ok_or_else(|| {
                ApiError::internal(format!("idempotency record names missing payment plan {id}"))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_held_until_its_claim_is_dropped() {
        let claims = Claims::default();
        let account = AccountId::default_account();
        let first = claims.claim(&account, "key").expect("a free key is claimed");
        assert!(claims.claim(&account, "key").is_none(), "a held key is refused");
        assert!(claims.claim(&account, "key").is_none(), "a refusal does not release the key");
        let other = AccountId::parse("acct_other").unwrap();
        assert!(claims.claim(&other, "key").is_some(), "keys are per account");
        drop(first);
        assert!(claims.claim(&account, "key").is_some(), "a released key is free again");
    }
}
