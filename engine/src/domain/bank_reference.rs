//! Bank-transfer references: what a payer types into a banking app so that the money, when it
//! shows on the account's statement, finds the charge (or the customer) it pays.
//!
//! Nine random characters of Crockford's base-32 alphabet (no `I`, `L`, `O`, `U`: nothing to
//! misread) and a Luhn mod 32 check character: a mistyped character, or two neighbours swapped,
//! makes a reference that does not verify, so a narrative's near-miss never pays the wrong
//! charge. Banks add spaces, dashes and case to what the payer typed; a narrative is matched
//! once both are upper-cased and stripped of those.

use rand::Rng;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const RANDOM_LEN: usize = 9;
/// The random characters and the check character.
pub const REFERENCE_LEN: usize = RANDOM_LEN + 1;

fn value_of(symbol: u8) -> Option<u32> {
    ALPHABET.iter().position(|candidate| *candidate == symbol).map(|index| index as u32)
}

/// The Luhn mod 32 sum of `symbols` from the right, doubling every `double_first`-th one.
fn luhn_sum(values: impl DoubleEndedIterator<Item = u32>, double_first: bool) -> u32 {
    let mut double = double_first;
    let mut sum = 0;
    for value in values.rev() {
        let addend = if double { value * 2 } else { value };
        sum += addend / 32 + addend % 32;
        double = !double;
    }
    sum
}

fn check_symbol(payload: &[u8]) -> u8 {
    let values = payload.iter().map(|symbol| value_of(*symbol).expect("an alphabet symbol"));
    let sum = luhn_sum(values, true);
    ALPHABET[((32 - sum % 32) % 32) as usize]
}

/// A fresh reference.
pub fn generate() -> String {
    let mut rng = rand::rng();
    let mut symbols: Vec<u8> =
        (0..RANDOM_LEN).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())]).collect();
    symbols.push(check_symbol(&symbols));
    String::from_utf8(symbols).expect("ASCII")
}

/// Whether `text` (already normalized) is a reference whose check character verifies.
pub fn verifies(text: &[u8]) -> bool {
    if text.len() != REFERENCE_LEN {
        return false;
    }
    let Some(values) = text.iter().map(|symbol| value_of(*symbol)).collect::<Option<Vec<u32>>>()
    else {
        return false;
    };
    luhn_sum(values.into_iter(), false) % 32 == 0
}

/// A narrative as references are matched in it: upper case, without spaces and dashes.
pub fn normalize(text: &str) -> String {
    text.chars()
        .filter(|symbol| !symbol.is_whitespace() && *symbol != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

/// Every run of characters in `narrative` that verifies as a reference, in the order they
/// appear: one in 32 runs verifies by chance, so each is looked up among the account's.
pub fn candidates(narrative: &str) -> Vec<String> {
    let normalized = normalize(narrative);
    let bytes = normalized.as_bytes();
    if bytes.len() < REFERENCE_LEN {
        return Vec::new();
    }
    let mut found: Vec<String> = Vec::new();
    for window in bytes.windows(REFERENCE_LEN) {
        if verifies(window) {
            let candidate = String::from_utf8(window.to_vec()).expect("alphabet symbols");
            if !found.contains(&candidate) {
                found.push(candidate);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_reference_verifies_and_is_found_however_the_bank_writes_it() {
        for _ in 0..1_000 {
            let reference = generate();
            assert_eq!(reference.len(), REFERENCE_LEN);
            assert!(verifies(reference.as_bytes()), "{reference}");
            let (head, tail) = reference.split_at(4);
            let narrative = format!("EFT CR  fees {}-{} JONES", head.to_lowercase(), tail);
            // Other windows of the narrative verify by chance (one in 32): the account's
            // references are looked up among them, and a chance one is none of them.
            assert!(candidates(&narrative).contains(&reference), "{narrative}");
        }
    }

    #[test]
    fn one_mistyped_character_or_swapped_neighbours_never_verify() {
        for _ in 0..200 {
            let reference = generate().into_bytes();
            for position in 0..REFERENCE_LEN {
                for symbol in ALPHABET {
                    if *symbol == reference[position] {
                        continue;
                    }
                    let mut typo = reference.clone();
                    typo[position] = *symbol;
                    assert!(!verifies(&typo), "{}", String::from_utf8_lossy(&typo));
                }
            }
            for position in 0..REFERENCE_LEN - 1 {
                if reference[position] == reference[position + 1] {
                    continue;
                }
                let mut swapped = reference.clone();
                swapped.swap(position, position + 1);
                // Luhn mod 32 misses one swap only: `0` and `Z` (values 0 and 31).
                let pair = (value_of(swapped[position]), value_of(swapped[position + 1]));
                if matches!(pair, (Some(0), Some(31)) | (Some(31), Some(0))) {
                    continue;
                }
                assert!(!verifies(&swapped), "{}", String::from_utf8_lossy(&swapped));
            }
        }
    }

    #[test]
    fn narratives_without_a_reference_find_nothing() {
        assert!(candidates("").is_empty());
        assert!(candidates("SALARY DECEMBER").is_empty());
        assert!(candidates("IIIIIIIIIIIIIII").is_empty(), "not in the alphabet");
    }
}
