//! API keys. Each secret key belongs to one account; keys are kept only as SHA-256 hashes, so
//! neither memory dumps of the key table nor the store give a usable key away.

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use warp::http::HeaderMap;

use super::error::ApiError;
use crate::domain::AccountId;
use crate::store::ApiKeyStore;

pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A request's API key, known good.
pub struct Authenticated {
    pub account: AccountId,
    /// The key's SHA-256: what its rate limit is kept under, never the key itself.
    pub key_hash: [u8; 32],
}

pub struct ApiKeys {
    configured: HashMap<[u8; 32], AccountId>,
    store: Arc<dyn ApiKeyStore>,
}

impl ApiKeys {
    pub fn new(configured: HashMap<[u8; 32], AccountId>, store: Arc<dyn ApiKeyStore>) -> ApiKeys {
        ApiKeys { configured, store }
    }

    /// The account whose key the request's headers bear: known before the body is read.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Authenticated, ApiError> {
        let header = headers.get("authorization").ok_or_else(|| {
            ApiError::unauthorized("no API key: send `Authorization: Bearer <secret key>`")
        })?;
        let header = header.to_str().map_err(|_| {
            ApiError::unauthorized("the Authorization header must be `Bearer <secret key>`")
        })?;
        let key = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer <secret key>`")
            })?;
        let key_hash = hash_key(key);
        if let Some(account) = self.configured.get(&key_hash) {
            return Ok(Authenticated { account: account.clone(), key_hash });
        }
        match self.store.api_key_account(&key_hash)? {
            Some(account) => Ok(Authenticated { account, key_hash }),
            None => Err(ApiError::unauthorized("invalid API key")),
        }
    }
}
