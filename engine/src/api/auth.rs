//! API keys. Each key belongs to one account: configured in the file, generated on first start
//! (the dev key), or made through the admin API ([`super::key_table`]). Keys are kept only as
//! SHA-256 hashes, so neither a memory dump of the key tables nor the store gives a usable key
//! away. The admin key, which manages accounts, is checked here too.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use sha2::{Digest, Sha256};

use warp::http::HeaderMap;

use super::error::ApiError;
use super::key_table::KeyTable;
use crate::domain::time::now_unix_secs;
use crate::domain::{AccountId, KeyRefusal, Permissions};
use crate::store::AccountStore;

pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// What a configured or dev key may do: everything.
static ALL: LazyLock<Arc<Permissions>> = LazyLock::new(|| Arc::new(Permissions::All));

/// A request's API key, known good.
pub struct Authenticated {
    pub account: AccountId,
    /// The key's SHA-256: what its rate limit is kept under, never the key itself.
    pub key_hash: [u8; 32],
    /// The key's id, as audit events name who made a change: `key_…` for a key the admin API
    /// made; for a configured or dev key, which has no id, `key_cfg_` and 16 hex digits of its
    /// hash (nothing of the key can be learnt from them).
    pub key_id: String,
    pub permissions: Arc<Permissions>,
}

pub struct ApiKeys {
    configured: HashMap<[u8; 32], AccountId>,
    pub made: KeyTable,
    /// SHA-256 of the admin key; `None`: the admin routes do not exist.
    admin: Option<[u8; 32]>,
    store: Arc<dyn AccountStore>,
}

impl ApiKeys {
    pub fn new(
        configured: HashMap<[u8; 32], AccountId>,
        made: KeyTable,
        admin_key: Option<&str>,
        store: Arc<dyn AccountStore>,
    ) -> ApiKeys {
        ApiKeys { configured, made, admin: admin_key.map(hash_key), store }
    }

    pub fn admin_configured(&self) -> bool {
        self.admin.is_some()
    }

    /// Whether the request bears the admin key. The hashes are compared in constant time.
    pub fn authenticate_admin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(admin) = &self.admin else {
            return Err(ApiError::internal("the admin routes are off: no admin key is set"));
        };
        let presented = hash_key(bearer(headers)?);
        match kassa_gateways::webhooks::constant_time_eq(&presented, admin) {
            true => Ok(()),
            false => Err(ApiError::unauthorized("this route takes the admin key")),
        }
    }

    /// The account whose key the request's headers bear: known before the body is read.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Authenticated, ApiError> {
        let key_hash = hash_key(bearer(headers)?);
        if let Some(account) = self.configured.get(&key_hash) {
            let (permissions, key_id) = (Arc::clone(&ALL), configured_key_id(&key_hash));
            return Ok(Authenticated { account: account.clone(), key_hash, key_id, permissions });
        }
        if let Some(entry) = self.made.find(&key_hash) {
            let now = now_unix_secs();
            entry.usable_at(now).map_err(|refusal| match refusal {
                KeyRefusal::Revoked => ApiError::unauthorized("this API key was revoked"),
                KeyRefusal::Expired => ApiError::unauthorized("this API key has expired"),
            })?;
            self.made.used(&entry, now);
            return Ok(Authenticated {
                account: entry.account.clone(),
                key_hash,
                key_id: entry.id.to_string(),
                permissions: Arc::clone(&entry.permissions),
            });
        }
        match self.store.api_key_account(&key_hash)? {
            Some(account) => {
                let (permissions, key_id) = (Arc::clone(&ALL), configured_key_id(&key_hash));
                Ok(Authenticated { account, key_hash, key_id, permissions })
            }
            None => Err(ApiError::unauthorized("invalid API key")),
        }
    }
}

fn configured_key_id(key_hash: &[u8; 32]) -> String {
    format!("key_cfg_{}", hex::encode(&key_hash[..8]))
}

/// The key of an `Authorization: Bearer <key>` header.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let header = headers.get("authorization").ok_or_else(|| {
        ApiError::unauthorized("no API key: send `Authorization: Bearer <secret key>`")
    })?;
    let header = header.to_str().map_err(|_| {
        ApiError::unauthorized("the Authorization header must be `Bearer <secret key>`")
    })?;
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be `Bearer <secret key>`")
        })
}
