//! Personal data as it is stored: AES-256-GCM ciphertext under a key of the customer's own
//! (see `store::sealing`). A record in memory never holds one; a stored record holds one in
//! place of its personal fields.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    pub nonce: [u8; 12],
    #[serde(with = "serde_bytes")]
    pub ciphertext: Vec<u8>,
}
