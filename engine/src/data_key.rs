//! The data key (`storage.data_key`, `KASSA_DATA_KEY`): Kassa's one secret for data at rest.
//!
//! Nothing uses it directly. Each use derives its own key from it, HMAC-SHA256(data key,
//! purpose), so a key derived for hashing Idempotency-Keys reveals neither the data key nor the
//! key another purpose (sealing personal data) derives, and a new purpose needs no new setting.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

/// The data key's length: an HMAC-SHA256 key of the hash's own size, and an AES-256 key.
pub const DATA_KEY_BYTES: usize = 32;

/// 32 secret bytes; `Debug` never shows them, so a logged config or error cannot leak the key.
#[derive(Clone)]
pub struct DataKey([u8; DATA_KEY_BYTES]);

/// Why a text is not a data key. Neither variant quotes the text: it may be a real key with a
/// typo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataKeyError {
    #[error("is not base64")]
    NotBase64,
    #[error("is {0} bytes once decoded, not {DATA_KEY_BYTES}")]
    WrongLength(usize),
}

impl DataKey {
    /// Standard base64 of exactly 32 bytes; surrounding whitespace (a file's newline) is ignored.
    pub fn from_base64(text: &str) -> Result<DataKey, DataKeyError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| DataKeyError::NotBase64)?;
        let bytes: [u8; DATA_KEY_BYTES] =
            bytes.as_slice().try_into().map_err(|_| DataKeyError::WrongLength(bytes.len()))?;
        Ok(DataKey(bytes))
    }

    /// A new random key (the thread RNG is a CSPRNG seeded by the OS).
    pub fn generate() -> DataKey {
        let mut bytes = [0; DATA_KEY_BYTES];
        rand::rng().fill(&mut bytes);
        DataKey(bytes)
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// The key of one purpose: HMAC-SHA256(data key, `purpose`). `purpose` names the use and
    /// its version ("kassa idempotency-key v1"), so a changed use gets a new key.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl DataKey {
    /// What tells keys apart without giving either away: 16 bytes of a key derived for the
    /// purpose, in hex. A data directory keeps the fingerprint of the key it was written with.
    pub fn fingerprint(&self) -> String {
        hex::encode(&self.derive("kassa data-key fingerprint v1")[..16])
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_round_trips_through_base64() {
        let key = DataKey::generate();
        let again = DataKey::from_base64(&format!("{}\n", key.to_base64())).unwrap();
        assert_eq!(key.0, again.0);
    }

    #[test]
    fn only_32_bytes_of_base64_are_a_key() {
        assert_eq!(DataKey::from_base64("not base64!").unwrap_err(), DataKeyError::NotBase64);
        let short = STANDARD.encode([7u8; 16]);
        assert_eq!(DataKey::from_base64(&short).unwrap_err(), DataKeyError::WrongLength(16));
        assert!(DataKey::from_base64(&STANDARD.encode([7u8; 32])).is_ok());
    }

    #[test]
    fn a_fingerprint_tells_keys_apart_and_is_not_the_key() {
        let key = DataKey::from_base64(&STANDARD.encode([1u8; 32])).unwrap();
        let other = DataKey::from_base64(&STANDARD.encode([2u8; 32])).unwrap();
        assert_eq!(key.fingerprint(), key.fingerprint());
        assert_ne!(key.fingerprint(), other.fingerprint());
        assert_eq!(key.fingerprint().len(), 32);
        assert!(!key.fingerprint().contains(&hex::encode([1u8; 16])));
    }

    #[test]
    fn purposes_get_different_keys_and_debug_shows_none() {
        let key = DataKey::from_base64(&STANDARD.encode([1u8; 32])).unwrap();
        assert_ne!(key.derive("a v1"), key.derive("b v1"));
        assert_eq!(key.derive("a v1"), key.derive("a v1"));
        assert_eq!(format!("{key:?}"), "DataKey(redacted)");
    }
}
