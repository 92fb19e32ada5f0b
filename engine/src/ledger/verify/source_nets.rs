//! What each object's postings moved, summed per object. A book holds millions of objects, so
//! an id of the shape Kassa gives every object (`prefix_` and a ULID in canonical Crockford
//! base 32) is kept as 20 bytes with no allocation of its own; anything else as its text.

use std::collections::HashMap;

#[derive(Default)]
pub(super) struct SourceNets {
    compact: HashMap<(u32, u128), i64>,
    other: HashMap<String, i64>,
}

impl SourceNets {
    pub fn add(&mut self, source: &str, net: i64) {
        match compact(source) {
            Some(key) => *self.compact.entry(key).or_default() += net,
            None => *self.other.entry(source.to_owned()).or_default() += net,
        }
    }

    pub fn get(&self, source: &str) -> Option<i64> {
        match compact(source) {
            Some(key) => self.compact.get(&key).copied(),
            None => self.other.get(source).copied(),
        }
    }
}

/// `prefix_ULID` as (the prefix's bytes, the ULID), for prefixes of up to 4 bytes and a ULID
/// written canonically (so that no two ids share a key).
fn compact(source: &str) -> Option<(u32, u128)> {
    let (prefix, ulid) = source.split_once('_')?;
    let canonical =
        |byte: u8| byte.is_ascii_digit() || (byte.is_ascii_uppercase() && !b"ILOU".contains(&byte));
    if prefix.len() > 4 || ulid.len() != 26 || ulid.as_bytes()[0] > b'7' {
        return None;
    }
    if !ulid.bytes().all(canonical) {
        return None;
    }
    let mut packed = [0u8; 4];
    packed[..prefix.len()].copy_from_slice(prefix.as_bytes());
    let ulid = ulid::Ulid::from_string(ulid).ok()?;
    Some((u32::from_le_bytes(packed), ulid.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_summed_apart_whatever_their_shape() {
        let mut nets = SourceNets::default();
        let ulid = "01JDZ8X7W6V5T4S3R2Q1P0N9M8";
        nets.add(&format!("ch_{ulid}"), 500);
        nets.add(&format!("ch_{ulid}"), -200);
        nets.add(&format!("re_{ulid}"), -100);
        nets.add("legacy-source", 7);
        nets.add(&format!("ch_{}", ulid.to_lowercase()), 1);
        assert_eq!(nets.get(&format!("ch_{ulid}")), Some(300));
        assert_eq!(nets.get(&format!("re_{ulid}")), Some(-100), "another kind of object");
        assert_eq!(nets.get("legacy-source"), Some(7));
        assert_eq!(nets.get(&format!("ch_{}", ulid.to_lowercase())), Some(1), "kept as text");
        assert_eq!(nets.compact.len(), 2);
        assert_eq!(nets.get("ch_01JDZ8X7W6V5T4S3R2Q1P0N9M9"), None);
    }
}
