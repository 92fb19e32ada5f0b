//! The puts and removals a change set makes, and their encoding as one log record.
//!
//! The record is Kassa's own binary form rather than MessagePack: keys and values are already
//! encoded bytes, which MessagePack through serde would write one integer per byte. Per op: the
//! tree (u8), the key's length (u32 LE) and bytes, then either 0 (a removal) or 1, the value's
//! length (u32 LE) and bytes.

use super::TreeId;
use crate::store::StoreError;

/// One low-level write of a change set: a put or a removal in one tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Op {
    pub tree: u8,
    pub key: Vec<u8>,
    /// `None` removes the key.
    pub value: Option<Vec<u8>>,
}

impl Op {
    pub fn put(tree: TreeId, key: Vec<u8>, value: Vec<u8>) -> Op {
        Op { tree: tree as u8, key, value: Some(value) }
    }

    pub fn remove(tree: TreeId, key: Vec<u8>) -> Op {
        Op { tree: tree as u8, key, value: None }
    }
}

pub(super) fn encode(ops: &[Op]) -> Vec<u8> {
    let size: usize =
        ops.iter().map(|op| 10 + op.key.len() + op.value.as_ref().map_or(0, Vec::len)).sum();
    let mut record = Vec::with_capacity(size);
    for op in ops {
        record.push(op.tree);
        put_bytes(&mut record, &op.key);
        match &op.value {
            None => record.push(0),
            Some(value) => {
                record.push(1);
                put_bytes(&mut record, value);
            }
        }
    }
    record
}

pub(super) fn decode(mut record: &[u8]) -> Result<Vec<Op>, StoreError> {
    let mut ops = Vec::new();
    while !record.is_empty() {
        let tree = take(&mut record, 1)?[0];
        let key = take_bytes(&mut record)?;
        let value = match take(&mut record, 1)?[0] {
            0 => None,
            1 => Some(take_bytes(&mut record)?),
            other => return Err(corrupt(&format!("an op marked {other}"))),
        };
        ops.push(Op { tree, key, value });
    }
    Ok(ops)
}

fn put_bytes(record: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("sled keys and values are far below 4 GiB");
    record.extend_from_slice(&len.to_le_bytes());
    record.extend_from_slice(bytes);
}

fn take<'a>(record: &mut &'a [u8], len: usize) -> Result<&'a [u8], StoreError> {
    if record.len() < len {
        return Err(corrupt("an op cut short"));
    }
    let (taken, rest) = record.split_at(len);
    *record = rest;
    Ok(taken)
}

fn take_bytes(record: &mut &[u8]) -> Result<Vec<u8>, StoreError> {
    let len = u32::from_le_bytes(take(record, 4)?.try_into().expect("4 bytes"));
    Ok(take(record, len as usize)?.to_vec())
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("a log record holds {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_read_back_as_written_and_a_cut_record_is_corrupt() {
        let ops = vec![
            Op::put(TreeId::Charges, b"acct/cus/ch_1".to_vec(), vec![0x92, 0xff, 0x00]),
            Op::remove(TreeId::Unsettled, b"acct/cus/ch_1".to_vec()),
            Op::put(TreeId::Events, Vec::new(), Vec::new()),
        ];
        let record = encode(&ops);
        assert_eq!(decode(&record).unwrap(), ops);
        for cut in 1..record.len() {
            let decoded = decode(&record[..cut]);
            assert!(decoded.is_err() || decoded.unwrap().len() < ops.len(), "cut at {cut}");
        }
        assert!(decode(&[TreeId::Charges as u8, 0, 0, 0, 0, 7]).is_err(), "an unknown marker");
    }
}
