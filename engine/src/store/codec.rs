//! Stored values: MessagePack (rmp-serde) of a versioned envelope, so a later layout can still
//! read what an earlier release wrote.
//!
//! The one rule for a stored record's evolution: rmp-serde writes a struct as an array of its
//! fields and an enum by its variant's index, so a record may only grow at its end — a new field
//! goes last, with `#[serde(default)]` for the records written without it; a new variant goes
//! last — and nothing is renamed, reordered or removed. Any other change adds `V2` here and
//! converts `V1` on read.
//!
//! Byte fields (an event's JSON, ciphertexts) are `#[serde(with = "serde_bytes")]`: written as
//! one MessagePack bin rather than an integer per byte, and read either way, so records written
//! before they were marked still read.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::StoreError;

#[derive(Serialize, Deserialize)]
enum Versioned<T> {
    V1(T),
}

#[derive(Serialize)]
enum VersionedRef<'a, T> {
    V1(&'a T),
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Kassa's records are plain structs of strings, integers and maps: encoding cannot fail.
    rmp_serde::to_vec(&VersionedRef::V1(value)).expect("stored records always encode")
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    match rmp_serde::from_slice::<Versioned<T>>(bytes) {
        Ok(Versioned::V1(value)) => Ok(value),
        Err(error) => Err(StoreError::Corrupt(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Customer, CustomerId, Sealed};

    #[test]
    fn round_trips_through_the_versioned_envelope() {
        let customer = Customer {
            id: CustomerId::generate(),
            email: Some("ada@example.com".into()),
            name: None,
            phone: None,
            address: None,
            metadata: [("plan".to_owned(), "pro".to_owned())].into(),
            created: 1_700_000_000,
            default_payment_method: None,
            tax_ids: Vec::new(),
            balance_minor: 0,
            currency: None,
            invoice_prefix: "TESTPREF".into(),
            invoices_numbered: 0,
            credit_notes_numbered: 0,
            test_clock: None,
            purchases: Vec::new(),
            deleted: false,
            sealed: None,
            grants: Vec::new(),
            bank_transfer_reference: None,
            balance_in_books: false,
        };
        let bytes = encode(&customer);
        assert_eq!(decode::<Customer>(&bytes).unwrap(), customer);
        assert!(decode::<Customer>(&bytes[..bytes.len() / 2]).is_err());
    }

    /// [`Sealed`] as releases before `serde_bytes` wrote it: its ciphertext one integer a byte.
    #[derive(Serialize)]
    struct SealedAsArray {
        nonce: [u8; 12],
        ciphertext: Vec<u8>,
    }

    #[test]
    fn byte_fields_are_written_as_one_bin_and_read_as_either() {
        let ciphertext: Vec<u8> = (0..=255).collect();
        let sealed = Sealed { nonce: [7; 12], ciphertext: ciphertext.clone() };
        let bytes = encode(&sealed);
        assert!(
            bytes.windows(ciphertext.len()).any(|window| window == ciphertext.as_slice()),
            "the ciphertext is written as it is, in one piece"
        );
        assert_eq!(decode::<Sealed>(&bytes).unwrap(), sealed);

        let before = encode(&SealedAsArray { nonce: [7; 12], ciphertext });
        assert!(before.len() > bytes.len(), "a byte of 128 or more took two as an integer");
        assert_eq!(decode::<Sealed>(&before).unwrap(), sealed);
    }
}
