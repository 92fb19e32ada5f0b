//! `kassa dump` and `kassa restore`: a whole store as one file, to move an installation between
//! backends (sled and PostgreSQL) and back.
//!
//! The file is every entry of every tree, in tree and key order, as the store holds it (personal
//! data stays sealed: both ends must run with the same data key). A gateway event's payload,
//! which each base keeps in its own place, travels inside its record's entry; an archived record
//! travels as its entry's value, in place of where its base keeps it, and is written into the
//! restored store's own archive blocks. The file ends with the number of entries and a SHA-256
//! digest over them, as read back: a restore checks the file against it before writing
//! anything, and, once written, reads the whole store back and checks the same count and
//! digest, so what was restored is exactly what was dumped.
//!
//! Layout: `KASSA-DUMP 1\n`, then per entry a kind byte (0: an entry; 1: a gateway event's
//! record and its payload), the tree's number, and length-prefixed (u32 LE) key, value and, for
//! kind 1, payload; then kind 0xff, the count (u64 LE) and the 32-byte digest.

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};

use sha2::{Digest, Sha256};

use super::gateway_trees::{GATEWAY_TREE_NAMES, GATEWAY_TREES_FIRST};
use super::ops::Op;
use super::{TREE_NAMES, TreeId, TreeStore};
use crate::store::StoreError;

const MAGIC: &[u8] = b"KASSA-DUMP 1\n";
const ENTRY: u8 = 0;
const GATEWAY_EVENT: u8 = 1;
const END: u8 = 0xff;

/// Entries written per transaction (or log record) while restoring.
const RESTORE_BATCH: usize = 1_000;

/// What a dump holds, or a restore wrote: entries per tree, and their digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpSummary {
    pub entries: BTreeMap<&'static str, u64>,
    pub total: u64,
    pub digest: String,
}

/// Folds entries into a summary, as a dump writes them and as a restore reads them back.
struct Tally {
    hasher: Sha256,
    entries: BTreeMap<&'static str, u64>,
    total: u64,
}

impl Tally {
    fn new() -> Tally {
        Tally { hasher: Sha256::new(), entries: BTreeMap::new(), total: 0 }
    }

    fn add(&mut self, tree: u8, key: &[u8], value: &[u8], payload: Option<&[u8]>) {
        self.hasher.update([tree]);
        for part in [key, value, payload.unwrap_or_default()] {
            self.hasher.update((part.len() as u32).to_le_bytes());
            self.hasher.update(part);
        }
        *self.entries.entry(tree_name(tree)).or_default() += 1;
        self.total += 1;
    }

    fn finish(self) -> (DumpSummary, [u8; 32]) {
        let digest: [u8; 32] = self.hasher.finalize().into();
        let summary =
            DumpSummary { entries: self.entries, total: self.total, digest: hex::encode(digest) };
        (summary, digest)
    }
}

/// Every tree's number: the engine's, then the gateways'.
fn tree_numbers() -> impl Iterator<Item = u8> {
    let engine = 0..u8::try_from(TREE_NAMES.len()).expect("few trees");
    let gateways = GATEWAY_TREES_FIRST
        ..GATEWAY_TREES_FIRST + u8::try_from(GATEWAY_TREE_NAMES.len()).expect("few trees");
    engine.chain(gateways)
}

fn tree_name(number: u8) -> &'static str {
    match number.checked_sub(GATEWAY_TREES_FIRST) {
        Some(gateway) => GATEWAY_TREE_NAMES[usize::from(gateway)],
        None => TREE_NAMES[usize::from(number)],
    }
}

/// Trees that are a running store's own bookkeeping, not the installation's: versions start
/// again from nothing, outgoing events are numbered on from the newest, and which gateway events
/// wait to be applied is read again from the events themselves (each base keeps that its own
/// way: a watermark on sled, an entry per event on PostgreSQL).
fn is_bookkeeping(number: u8) -> bool {
    [TreeId::CustomerVersions, TreeId::AccountSequences, TreeId::EventInbox]
        .iter()
        .any(|tree| tree.number() == number)
}

impl TreeStore {
    /// Writes the whole store to `out`; answers what it wrote.
    pub fn dump(&self, out: &mut impl Write) -> Result<DumpSummary, StoreError> {
        out.write_all(MAGIC).map_err(io_error)?;
        let (summary, digest) = self.each_entry(|tree, key, value, payload| {
            let kind = if payload.is_some() { GATEWAY_EVENT } else { ENTRY };
            out.write_all(&[kind, tree]).map_err(io_error)?;
            put(out, key)?;
            put(out, value)?;
            if let Some(payload) = payload {
                put(out, payload)?;
            }
            Ok(())
        })?;
        out.write_all(&[END]).map_err(io_error)?;
        out.write_all(&summary.total.to_le_bytes()).map_err(io_error)?;
        out.write_all(&digest).map_err(io_error)?;
        out.flush().map_err(io_error)?;
        Ok(summary)
    }

    /// Every entry in tree and key order, gateway events with their payload detached, folded
    /// into the summary as they are handed to `visit`.
    fn each_entry(
        &self,
        mut visit: impl FnMut(u8, &[u8], &[u8], Option<&[u8]>) -> Result<(), StoreError>,
    ) -> Result<(DumpSummary, [u8; 32]), StoreError> {
        let mut tally = Tally::new();
        for number in tree_numbers().filter(|number| !is_bookkeeping(*number)) {
            for item in self.numbered(number).iter() {
                let (key, value) = item?;
                if number == TreeId::GatewayEvents.number() {
                    let (record, payload) = self.detach_payload(&value)?;
                    // A record a power cut kept without its (never acknowledged) payload reads
                    // as never stored: it is left behind.
                    let Some(payload) = payload else { continue };
                    tally.add(number, &key, &record, Some(&payload));
                    visit(number, &key, &record, Some(&payload))?;
                } else if number == TreeId::Archived.number() {
                    // Where the record is differs between stores: the record itself travels.
                    let record = self.archived_bytes(&value)?;
                    tally.add(number, &key, &record, None);
                    visit(number, &key, &record, None)?;
                } else {
                    tally.add(number, &key, &value, None);
                    visit(number, &key, &value, None)?;
                }
            }
        }
        Ok(tally.finish())
    }

    /// Whether any tree holds an entry, but for the markers a new store's indexes get at open.
    fn holds_records(&self) -> Result<bool, StoreError> {
        let indexes = [TreeId::AuditIndex.number(), TreeId::CustomerEmails.number()];
        for number in tree_numbers().filter(|number| !indexes.contains(number)) {
            if self.numbered(number).iter().next().transpose()?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Reads back what the store holds, as a dump of it would summarise it.
    pub fn summary(&self) -> Result<DumpSummary, StoreError> {
        Ok(self.each_entry(|_, _, _, _| Ok(()))?.0)
    }

    /// Restores a dump into this store, which must be empty: the file is checked whole first,
    /// then written, then the store is read back and checked against it.
    pub fn restore(
        &self,
        open: impl Fn() -> std::io::Result<Box<dyn BufRead>>,
    ) -> Result<DumpSummary, StoreError> {
        if self.holds_records()? {
            return Err(StoreError::Storage(
                "restore needs an empty store: this one holds records already".into(),
            ));
        }
        let expected = read_dump(open().map_err(io_error)?.as_mut(), |_, _, _, _| Ok(()))?;
        let mut ops = Vec::with_capacity(RESTORE_BATCH);
        let mut archived = Vec::new();
        read_dump(open().map_err(io_error)?.as_mut(), |tree, key, value, payload| {
            if tree == TreeId::Archived.number() {
                archived.push((key, value));
                if archived.len() == RESTORE_BATCH {
                    self.commit_ops(self.archive_blocks(&std::mem::take(&mut archived))?)?;
                }
                return Ok(());
            }
            let value = match payload {
                Some(payload) => self.attach_payload(&value, &payload)?,
                None => value,
            };
            if tree == TreeId::GatewayEvents.number() {
                ops.extend(self.pending_entry(&key, &value)?);
            }
            ops.push(Op { tree, key, value: Some(value) });
            if ops.len() == RESTORE_BATCH {
                self.commit_ops(std::mem::take(&mut ops))?;
            }
            Ok(())
        })?;
        self.commit_ops(ops)?;
        self.commit_ops(self.archive_blocks(&archived)?)?;
        let restored = self.summary()?;
        if restored != expected {
            return Err(StoreError::Corrupt(format!(
                "the restored store reads back {} entries with digest {}, the dump holds {} with {}",
                restored.total, restored.digest, expected.total, expected.digest
            )));
        }
        Ok(restored)
    }
}

/// Reads a dump through, handing each entry to `visit`; answers its summary once the count and
/// digest at its end agree with what was read.
fn read_dump(
    input: &mut dyn BufRead,
    mut visit: impl FnMut(u8, Vec<u8>, Vec<u8>, Option<Vec<u8>>) -> Result<(), StoreError>,
) -> Result<DumpSummary, StoreError> {
    let mut magic = [0; MAGIC.len()];
    input.read_exact(&mut magic).map_err(io_error)?;
    if magic != MAGIC {
        return Err(StoreError::Corrupt("not a Kassa dump (or of another version)".into()));
    }
    let mut tally = Tally::new();
    loop {
        let [kind] = take::<1>(input)?;
        if kind == END {
            break;
        }
        let [tree] = take::<1>(input)?;
        let known = tree_numbers().any(|number| number == tree);
        if !known || (kind != ENTRY && kind != GATEWAY_EVENT) {
            return Err(StoreError::Corrupt(format!("a dump entry of kind {kind}, tree {tree}")));
        }
        let key = take_bytes(input)?;
        let value = take_bytes(input)?;
        let payload = match kind {
            GATEWAY_EVENT => Some(take_bytes(input)?),
            _ => None,
        };
        tally.add(tree, &key, &value, payload.as_deref());
        visit(tree, key, value, payload)?;
    }
    let total = u64::from_le_bytes(take::<8>(input)?);
    let digest = take::<32>(input)?;
    let (summary, read) = tally.finish();
    if total != summary.total || digest != read {
        return Err(StoreError::Corrupt(format!(
            "the dump's end says {total} entries with digest {}; {} were read, with digest {}",
            hex::encode(digest),
            summary.total,
            summary.digest
        )));
    }
    Ok(summary)
}

fn put(out: &mut impl Write, bytes: &[u8]) -> Result<(), StoreError> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| StoreError::Storage("an entry over 4 GiB".into()))?;
    out.write_all(&len.to_le_bytes()).map_err(io_error)?;
    out.write_all(bytes).map_err(io_error)
}

fn take<const N: usize>(input: &mut dyn BufRead) -> Result<[u8; N], StoreError> {
    let mut bytes = [0; N];
    input.read_exact(&mut bytes).map_err(|_| StoreError::Corrupt("a dump cut short".into()))?;
    Ok(bytes)
}

/// A length-prefixed field, read as it comes: a corrupt length cannot make it allocate more
/// than the file holds.
fn take_bytes(input: &mut dyn BufRead) -> Result<Vec<u8>, StoreError> {
    let len = u64::from(u32::from_le_bytes(take::<4>(input)?));
    let mut bytes = Vec::new();
    input.take(len).read_to_end(&mut bytes).map_err(io_error)?;
    if bytes.len() as u64 != len {
        return Err(StoreError::Corrupt("a dump cut short".into()));
    }
    Ok(bytes)
}

fn io_error(error: std::io::Error) -> StoreError {
    StoreError::Storage(format!("the dump file: {error}"))
}
