//! One record of the write-ahead log: payload length (u32 LE), CRC-32 (u32 LE) of the sequence
//! number and the payload, sequence number (u64 LE), payload. The CRC covers the sequence number
//! so that a stale record left in a reused block never reads as the one expected there.

/// Bytes before the payload.
pub const HEADER_LEN: usize = 16;

/// The largest payload a record may hold. No change set comes near it; at recovery a length
/// beyond it is damage, so that a length read from garbage never makes Kassa allocate gigabytes.
pub const PAYLOAD_MAX: usize = 64 << 20;

/// Appends the record of `payload` at `sequence` to `into`.
pub fn encode(sequence: u64, payload: &[u8], into: &mut Vec<u8>) {
    debug_assert!(!payload.is_empty() && payload.len() <= PAYLOAD_MAX);
    into.reserve(HEADER_LEN + payload.len());
    into.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    into.extend_from_slice(&checksum(sequence, payload).to_le_bytes());
    into.extend_from_slice(&sequence.to_le_bytes());
    into.extend_from_slice(payload);
}

/// What the bytes at the start of a slice hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole record, `len` bytes long with its header.
    Record { sequence: u64, payload: &'a [u8], len: usize },
    /// Nothing: the slice is empty.
    End,
    /// Not a whole record: what a crash mid-append (or a damaged disk) leaves behind.
    Damaged(&'static str),
}

pub fn decode(bytes: &[u8]) -> Decoded<'_> {
    if bytes.is_empty() {
        return Decoded::End;
    }
    let Some(header) = bytes.get(..HEADER_LEN) else {
        return Decoded::Damaged("a header cut short");
    };
    let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    let sequence = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    if len == 0 {
        // Kassa never appends an empty payload: zeros are blocks the file system extended the
        // file with but whose data never reached the disk.
        return Decoded::Damaged("zeroed bytes");
    }
    if len > PAYLOAD_MAX {
        return Decoded::Damaged("a length no record has");
    }
    let Some(payload) = bytes.get(HEADER_LEN..HEADER_LEN + len) else {
        return Decoded::Damaged("a record cut short");
    };
    if checksum(sequence, payload) != crc {
        return Decoded::Damaged("a checksum that does not match");
    }
    Decoded::Record { sequence, payload, len: HEADER_LEN + len }
}

fn checksum(sequence: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&sequence.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sequence: u64, payload: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        encode(sequence, payload, &mut bytes);
        bytes
    }

    #[test]
    fn a_record_reads_back_and_every_damage_is_named() {
        let bytes = record(7, b"change set");
        assert_eq!(
            decode(&bytes),
            Decoded::Record { sequence: 7, payload: b"change set", len: HEADER_LEN + 10 }
        );
        assert_eq!(decode(&[]), Decoded::End);
        assert_eq!(decode(&bytes[..10]), Decoded::Damaged("a header cut short"));
        assert_eq!(decode(&bytes[..bytes.len() - 1]), Decoded::Damaged("a record cut short"));
        assert_eq!(decode(&[0; 64]), Decoded::Damaged("zeroed bytes"));
        let mut huge = bytes.clone();
        huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&huge), Decoded::Damaged("a length no record has"));
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(decode(&flipped), Decoded::Damaged("a checksum that does not match"));
        // The same payload under another sequence number is not the record expected.
        let mut moved = bytes;
        moved[8..16].copy_from_slice(&8u64.to_le_bytes());
        assert_eq!(decode(&moved), Decoded::Damaged("a checksum that does not match"));
    }
}
