//! Random secrets: API keys and path tokens, drawn from the thread RNG (a CSPRNG the OS seeds).

use rand::Rng;

/// `len` characters of `[A-Za-z0-9]`: about 5.95 bits each.
pub fn random_alphanumeric(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}
