//! Idempotency-Keys at rest. A client's key may hold anything, a card number among it (about one
//! UUID in 440 holds a Luhn-valid digit run), and is never refused for it; so it is never stored
//! or passed on as sent. Where the header is read it becomes HMAC-SHA256(k, key), hex, with `k`
//! derived from the data key: the records, the claims and the charges and refunds hold only that.
//! A keyed hash rather than a plain one, because a card number's digits are few enough to
//! enumerate against a plain hash.
//!
//! The account is not hashed in: it is already part of every record's key.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::data_key::DataKey;

/// Names this use of the data key; a new version (another hash, another encoding) must change
/// it, and keep looking up this version's records until they expire.
const PURPOSE: &str = "kassa idempotency-key v1";

/// Turns a client's Idempotency-Key into the form stored.
pub struct IdempotencyKeys {
    /// Keyed once; cloned per key, which is cheaper than keying again.
    mac: Hmac<Sha256>,
    /// The same under each data key rotated out: records made with them are kept 24 hours.
    previous: Vec<Hmac<Sha256>>,
}

fn keyed(data_key: &DataKey) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(&data_key.derive(PURPOSE))
        .expect("HMAC takes a key of any length")
}

fn digest_with(mac: &Hmac<Sha256>, key: &str) -> String {
    let mut mac = mac.clone();
    mac.update(key.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

impl IdempotencyKeys {
    pub fn new(data_key: &DataKey, previous: &[DataKey]) -> IdempotencyKeys {
        IdempotencyKeys { mac: keyed(data_key), previous: previous.iter().map(keyed).collect() }
    }

    /// The stored form of `key`: 64 lowercase hex digits.
    pub fn digest(&self, key: &str) -> String {
        digest_with(&self.mac, key)
    }

    /// Its stored forms under the data keys rotated out, to find records made before.
    pub fn previous_digests(&self, key: &str) -> Vec<String> {
        self.previous.iter().map(|mac| digest_with(mac, key)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_key(byte: u8) -> DataKey {
        use base64::Engine as _;
        DataKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([byte; 32])).unwrap()
    }

    #[test]
    fn a_key_is_stored_as_a_keyed_hash_of_it() {
        let keys = IdempotencyKeys::new(&data_key(1), &[]);
        let raw = "4242424242424242-retry";
        let digest = keys.digest(raw);
        assert_eq!(digest.len(), 64);
        assert!(digest.bytes().all(|byte| byte.is_ascii_hexdigit() && !byte.is_ascii_uppercase()));
        assert!(!digest.contains("4242424242424242"));
        assert_eq!(digest, keys.digest(raw), "the same key finds the same record");
        assert_ne!(digest, keys.digest("4242424242424242-retrY"));
        assert_ne!(
            digest,
            IdempotencyKeys::new(&data_key(2), &[]).digest(raw),
            "the hash is keyed"
        );
    }
}
