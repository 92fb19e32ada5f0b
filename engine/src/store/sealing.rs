//! Personal data sealed at rest. Each customer gets a key of its own (AES-256-GCM, random),
//! kept wrapped by a key the data key derives for that purpose alone; a customer's personal
//! fields and its payment methods' display fields are stored only as ciphertext under it, in
//! every copy the store writes (records, the log, idempotency answers). Erasing a customer
//! destroys its key, so copies that cannot be rewritten can no longer be read.
//!
//! The `email=` filter finds customers through an index of their emails' keyed hashes (see
//! [`Sealer::email_digest`]), so it needs neither the email in the clear nor a scan.
//!
//! A data key is rotated without touching what is sealed: each customer's key is wrapped again
//! under the new data key (`TreeStore::rotate_data_key`), while the old one still opens what it
//! wrapped.
//!
//! The customer's id is the associated data of every seal, so a ciphertext moved to another
//! customer's record does not open. A wrapped key names the data key it was made with (the
//! first 8 bytes of its fingerprint), so a start with another data key is told apart from a
//! damaged key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::data_key::DataKey;
use crate::domain::{CustomerId, Sealed};
use crate::limits::SEALING_KEYS_CACHED_MAX;

/// A customer's key as stored: wrapped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// The data key it was wrapped with: 16 hex digits of its fingerprint.
    pub data_key: String,
    pub nonce: [u8; 12],
    #[serde(with = "serde_bytes")]
    pub ciphertext: Vec<u8>,
}

/// A customer's key, unwrapped, or `None` for a customer erased (its key destroyed).
pub type CustomerKey = Option<Arc<Aes256Gcm>>;

pub struct Sealer {
    wrapping: Aes256Gcm,
    /// Seals gateway events' payloads (a Stripe event may carry a name or an email), which
    /// arrive before anyone knows whose they are: under the data key, not a customer's.
    payloads: Aes256Gcm,
    /// Keys the `email=` index: an email's HMAC under it, never the email.
    email_index: [u8; 32],
    data_key: String,
    /// The data keys rotated out, while what they wrapped is re-wrapped
    /// (`TreeStore::rotate_data_key`): each one's name, wrapping key and email index key.
    previous: Vec<(String, Aes256Gcm, [u8; 32])>,
    /// The payload keys of the data keys rotated out, by name: payloads are not re-sealed.
    previous_payloads: Vec<(String, Aes256Gcm)>,
    /// Whether writes are sealed (`storage.seal_personal_data`); reads open sealed records
    /// either way.
    seal_writes: bool,
    keys: Mutex<HashMap<CustomerId, CustomerKey>>,
}

impl Sealer {
    pub fn new(data_key: &DataKey, previous: &[DataKey], seal_writes: bool) -> Sealer {
        Sealer {
            wrapping: wrapping_key(data_key),
            payloads: payload_key(data_key),
            previous_payloads: previous
                .iter()
                .map(|key| (key_name(key), payload_key(key)))
                .collect(),
            email_index: data_key.derive(EMAIL_INDEX_PURPOSE),
            data_key: key_name(data_key),
            previous: previous
                .iter()
                .map(|key| (key_name(key), wrapping_key(key), key.derive(EMAIL_INDEX_PURPOSE)))
                .collect(),
            seal_writes,
            keys: Mutex::default(),
        }
    }

    /// A gateway event's payload as stored: `KSP1`, the data key's name, a nonce and the
    /// ciphertext, with the event's id as associated data. As it came when sealing is off.
    pub fn seal_payload(&self, event: &str, payload: &[u8]) -> Vec<u8> {
        if !self.seal_writes {
            return payload.to_vec();
        }
        let nonce = random_nonce();
        let ciphertext = self
            .payloads
            .encrypt(&nonce.into(), Payload { msg: payload, aad: event.as_bytes() })
            .expect("AES-GCM seals any message of this size");
        let mut stored = PAYLOAD_MAGIC.to_vec();
        stored.extend_from_slice(self.data_key.as_bytes());
        stored.extend_from_slice(&nonce);
        stored.extend_from_slice(&ciphertext);
        stored
    }

    /// A payload as it came: opened when it was stored sealed, as it is otherwise (stored with
    /// sealing off, or before sealing).
    pub fn open_payload(&self, event: &str, stored: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let Some(rest) = stored.strip_prefix(PAYLOAD_MAGIC) else { return Ok(stored) };
        let corrupt = || StoreError::Corrupt(format!("the payload of {event} does not open"));
        if rest.len() < KEY_NAME_LEN + 12 {
            return Err(corrupt());
        }
        let (name, rest) = rest.split_at(KEY_NAME_LEN);
        let (nonce, ciphertext) = rest.split_at(12);
        let name = std::str::from_utf8(name).map_err(|_| corrupt())?;
        let key = match name == self.data_key {
            true => &self.payloads,
            false => match self.previous_payloads.iter().find(|(previous, _)| previous == name) {
                Some((_, key)) => key,
                None => {
                    return Err(StoreError::Corrupt(format!(
                        "the payload of {event} was sealed with the data key {name}, which is \
                         not configured"
                    )));
                }
            },
        };
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| corrupt())?;
        key.decrypt(&nonce.into(), Payload { msg: ciphertext, aad: event.as_bytes() })
            .map_err(|_| corrupt())
    }

    /// Whether `wrapped` was wrapped with a data key rotated out.
    pub fn wrapped_before(&self, wrapped: &WrappedKey) -> bool {
        wrapped.data_key != self.data_key
    }

    /// `wrapped`, wrapped again with the current data key: the customer's key itself stays, and
    /// so does everything sealed under it.
    pub fn rewrap(
        &self,
        customer: &CustomerId,
        wrapped: &WrappedKey,
    ) -> Result<WrappedKey, StoreError> {
        let mut raw = self.unwrap_raw(customer, wrapped)?;
        let rewrapped = self.wrap(customer, &raw);
        raw.fill(0);
        Ok(rewrapped)
    }

    /// The digests an email may be indexed under: the current data key's, then each rotated
    /// out one's (found until re-indexed).
    pub fn email_digests(&self, email: &str) -> Vec<String> {
        let mut digests = vec![self.email_digest(email)];
        digests.extend(self.previous.iter().map(|(_, _, key)| digest_with(key, email)));
        digests
    }

    pub fn seals_writes(&self) -> bool {
        self.seal_writes
    }

    /// An email as the index keeps it: 16 bytes of its HMAC-SHA256, in hex. Exact, as the
    /// filter is (`A@x` and `a@x` are two emails).
    pub fn email_digest(&self, email: &str) -> String {
        digest_with(&self.email_index, email)
    }

    /// The key the cache holds for the customer: `None` if it holds none yet.
    pub fn cached(&self, customer: &CustomerId) -> Option<CustomerKey> {
        self.lock().get(customer).cloned()
    }

    /// Caches the customer's key. The cache is bounded: past `SEALING_KEYS_CACHED_MAX`
    /// customers one is dropped (any one: its key is unwrapped again when next needed).
    pub fn remember(&self, customer: &CustomerId, key: CustomerKey) {
        let mut keys = self.lock();
        if keys.len() >= SEALING_KEYS_CACHED_MAX && !keys.contains_key(customer) {
            let dropped = keys.keys().next().cloned();
            if let Some(dropped) = dropped {
                keys.remove(&dropped);
            }
        }
        keys.insert(customer.clone(), key);
    }

    /// A new key for the customer, and its wrapped form to store.
    pub fn new_key(&self, customer: &CustomerId) -> (Arc<Aes256Gcm>, WrappedKey) {
        let mut raw = [0u8; 32];
        rand::rng().fill(&mut raw);
        let key = Arc::new(Aes256Gcm::new(&raw.into()));
        let wrapped = self.wrap(customer, &raw);
        raw.fill(0);
        (key, wrapped)
    }

    fn wrap(&self, customer: &CustomerId, raw: &[u8; 32]) -> WrappedKey {
        let nonce = random_nonce();
        let ciphertext = self
            .wrapping
            .encrypt(&nonce.into(), Payload { msg: raw, aad: customer.as_str().as_bytes() })
            .expect("AES-GCM seals any message of this size");
        WrappedKey { data_key: self.data_key.clone(), nonce, ciphertext }
    }

    pub fn unwrap(
        &self,
        customer: &CustomerId,
        wrapped: &WrappedKey,
    ) -> Result<Aes256Gcm, StoreError> {
        let mut raw = self.unwrap_raw(customer, wrapped)?;
        let key = Aes256Gcm::new(&raw.into());
        raw.fill(0);
        Ok(key)
    }

    fn unwrap_raw(
        &self,
        customer: &CustomerId,
        wrapped: &WrappedKey,
    ) -> Result<[u8; 32], StoreError> {
        let wrapping = if wrapped.data_key == self.data_key {
            &self.wrapping
        } else {
            let previous = self.previous.iter().find(|(name, _, _)| *name == wrapped.data_key);
            let Some((_, wrapping, _)) = previous else {
                return Err(StoreError::Corrupt(format!(
                    "customer {customer}'s key was wrapped with the data key {}, which is not \
                     configured (this one is {})",
                    wrapped.data_key, self.data_key
                )));
            };
            wrapping
        };
        let payload = Payload { msg: &wrapped.ciphertext, aad: customer.as_str().as_bytes() };
        let mut opened = wrapping
            .decrypt(&wrapped.nonce.into(), payload)
            .map_err(|_| StoreError::Corrupt(format!("customer {customer}'s key does not open")))?;
        let raw = <[u8; 32]>::try_from(opened.as_slice())
            .map_err(|_| StoreError::Corrupt(format!("customer {customer}'s key is not 32 bytes")));
        opened.fill(0);
        raw
    }

    /// Forgets the customer's key: it is erased.
    pub fn forget(&self, customer: &CustomerId) {
        self.remember(customer, None);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CustomerId, CustomerKey>> {
        self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

const EMAIL_INDEX_PURPOSE: &str = "kassa email index v1";

/// What starts a sealed payload: no gateway's JSON does.
const PAYLOAD_MAGIC: &[u8] = b"KSP1";
/// A data key's name: 16 hex digits.
const KEY_NAME_LEN: usize = 16;

fn payload_key(data_key: &DataKey) -> Aes256Gcm {
    Aes256Gcm::new(&data_key.derive("kassa payload seal v1").into())
}

fn wrapping_key(data_key: &DataKey) -> Aes256Gcm {
    Aes256Gcm::new(&data_key.derive("kassa customer-key wrap v1").into())
}

/// A data key's name in a wrapped key: 16 hex digits of its fingerprint.
fn key_name(data_key: &DataKey) -> String {
    data_key.fingerprint()[..16].to_owned()
}

/// 16 bytes of an email's HMAC-SHA256 under `key`, in hex.
fn digest_with(key: &[u8; 32], email: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac =
        <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(email.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

pub fn seal(key: &Aes256Gcm, customer: &CustomerId, plaintext: &[u8]) -> Sealed {
    let nonce = random_nonce();
    let ciphertext = key
        .encrypt(&nonce.into(), Payload { msg: plaintext, aad: customer.as_str().as_bytes() })
        .expect("AES-GCM seals any message of this size");
    Sealed { nonce, ciphertext }
}

pub fn open(
    key: &Aes256Gcm,
    customer: &CustomerId,
    sealed: &Sealed,
) -> Result<Vec<u8>, StoreError> {
    let payload = Payload { msg: &sealed.ciphertext, aad: customer.as_str().as_bytes() };
    key.decrypt(&sealed.nonce.into(), payload)
        .map_err(|_| StoreError::Corrupt(format!("a record of customer {customer} does not open")))
}

/// 96 random bits: with a key per customer, far from the 2^32 messages a random GCM nonce
/// allows one key.
fn random_nonce() -> [u8; 12] {
    let mut nonce = [0u8; 12];
    rand::rng().fill(&mut nonce);
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_key(byte: u8) -> DataKey {
        use base64::Engine as _;
        let text = base64::engine::general_purpose::STANDARD.encode([byte; 32]);
        DataKey::from_base64(&text).unwrap()
    }

    fn sealer_of(byte: u8) -> Sealer {
        Sealer::new(&data_key(byte), &[], true)
    }

    #[test]
    fn a_seal_opens_with_its_key_for_its_customer_only() {
        let sealer = sealer_of(1);
        let (alice, bob) = (CustomerId::generate(), CustomerId::generate());
        let (key, wrapped) = sealer.new_key(&alice);
        let sealed = seal(&key, &alice, b"alice@example.com");
        assert!(!sealed.ciphertext.windows(5).any(|window| window == b"alice"));
        assert_eq!(open(&key, &alice, &sealed).unwrap(), b"alice@example.com");
        assert!(open(&key, &bob, &sealed).is_err(), "moved to another customer");

        let unwrapped = sealer.unwrap(&alice, &wrapped).unwrap();
        assert_eq!(open(&unwrapped, &alice, &sealed).unwrap(), b"alice@example.com");
        assert!(sealer.unwrap(&bob, &wrapped).is_err(), "another customer's key");
        let error = sealer_of(2).unwrap(&alice, &wrapped).err().unwrap().to_string();
        assert!(error.contains("wrapped with the data key"), "{error}");
    }

    #[test]
    fn a_key_rewrapped_with_the_new_data_key_opens_what_it_sealed() {
        let old = sealer_of(1);
        let customer = CustomerId::generate();
        let (key, wrapped) = old.new_key(&customer);
        let sealed = seal(&key, &customer, b"thandi@example.co.za");

        let rotating = Sealer::new(&data_key(2), &[data_key(1)], true);
        assert!(rotating.wrapped_before(&wrapped));
        let rewrapped = rotating.rewrap(&customer, &wrapped).unwrap();
        assert!(!rotating.wrapped_before(&rewrapped));
        let rotated = sealer_of(2);
        let opened = rotated.unwrap(&customer, &rewrapped).unwrap();
        assert_eq!(open(&opened, &customer, &sealed).unwrap(), b"thandi@example.co.za");
        assert!(rotated.unwrap(&customer, &wrapped).is_err(), "the old key is not configured");
        let digests = rotating.email_digests("a@example.org");
        let expected = [rotated.email_digest("a@example.org"), old.email_digest("a@example.org")];
        assert_eq!(digests, expected);
    }

    #[test]
    fn a_payload_is_sealed_for_its_event_and_opens_after_a_rotation() {
        let old = sealer_of(1);
        let payload = br#"{"billing_details":{"email":"parent@example.org"}}"#;
        let stored = old.seal_payload("evt_1", payload);
        assert!(!stored.windows(6).any(|window| window == b"parent"));
        assert_eq!(old.open_payload("evt_1", stored.clone()).unwrap(), payload);
        assert!(old.open_payload("evt_2", stored.clone()).is_err(), "another event's");
        let rotating = Sealer::new(&data_key(2), &[data_key(1)], true);
        assert_eq!(rotating.open_payload("evt_1", stored.clone()).unwrap(), payload);
        assert!(sealer_of(2).open_payload("evt_1", stored).is_err(), "the old key is gone");
        assert_eq!(old.open_payload("evt_3", payload.to_vec()).unwrap(), payload, "plain");
    }

    #[test]
    fn the_key_cache_is_bounded() {
        let sealer = sealer_of(1);
        for _ in 0..SEALING_KEYS_CACHED_MAX + 10 {
            sealer.remember(&CustomerId::generate(), None);
        }
        assert_eq!(sealer.lock().len(), SEALING_KEYS_CACHED_MAX);
    }
}
