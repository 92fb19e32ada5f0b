//! Archive files: records closed for long enough (paid or void invoices, charges with nothing
//! left to refund, delivered events) moved out of the live trees into compressed blocks, each
//! checksummed. The live store keeps where each archived record is (the `Archived` tree), so it
//! still reads by id, and reports, the ledger's check and exports read archived records too.
//!
//! A record is archived as the live store held it, byte for byte: what is sealed under a
//! customer's key stays sealed, so erasing the customer (destroying its key) reaches the archive
//! as it reaches every other copy the store cannot rewrite.
//!
//! On sled, blocks are appended to numbered files in `archive/` beside the store's own, each
//! block synced before any index entry points into it; a file passes
//! [`ARCHIVE_FILE_BYTES_MAX`] and is closed, never written again. A block a crash tore is cut
//! off when the file is opened again (nothing points into it: the index is written after the
//! sync). On PostgreSQL a block is a row of the payloads table, which every node reads.
//!
//! Block: magic `KSA1`, the compressed body's length (u32 LE) and CRC-32 (u32 LE), then the
//! body: zstd of the record count (u32 LE) and each record as its length (u32 LE) and bytes.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::limits::ARCHIVE_FILE_BYTES_MAX;

const MAGIC: &[u8; 4] = b"KSA1";
const HEADER_LEN: usize = 12;
/// zstd's default level: a good ratio at a speed archival never waits on.
const COMPRESSION_LEVEL: i32 = 3;
const EXTENSION: &str = "kar";

/// Where a block is: a file of `archive/` and the block's offset and length in it; on
/// PostgreSQL (`file` 0) the payload row `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveRef {
    pub file: u32,
    pub offset: u64,
    pub len: u32,
}

/// Where an archived record is: its block, and its place among the block's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveEntry {
    pub at: ArchiveRef,
    pub index: u32,
}

/// `records` as one block, ready to append.
pub fn encode_block<R: AsRef<[u8]>>(records: &[R]) -> Result<Vec<u8>, StoreError> {
    let size = records.iter().map(|record| 4 + record.as_ref().len()).sum::<usize>();
    let mut plain = Vec::with_capacity(4 + size);
    plain.extend_from_slice(&length(records.len())?.to_le_bytes());
    for record in records {
        let record = record.as_ref();
        plain.extend_from_slice(&length(record.len())?.to_le_bytes());
        plain.extend_from_slice(record);
    }
    let body = zstd::bulk::compress(&plain, COMPRESSION_LEVEL)
        .map_err(|error| StoreError::Storage(format!("compressing an archive block: {error}")))?;
    let mut block = Vec::with_capacity(HEADER_LEN + body.len());
    block.extend_from_slice(MAGIC);
    block.extend_from_slice(&length(body.len())?.to_le_bytes());
    block.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    block.extend_from_slice(&body);
    Ok(block)
}

/// The records of a block, once its magic, length and checksum hold.
pub fn decode_block(block: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("an archive block: {what}"));
    let body_len = body_len(block).ok_or_else(|| corrupt("no header"))?;
    let body = block.get(HEADER_LEN..HEADER_LEN + body_len).ok_or_else(|| corrupt("cut short"))?;
    if crc32fast::hash(body) != u32_at(block, 8).ok_or_else(|| corrupt("no checksum"))? {
        return Err(corrupt("checksum mismatch"));
    }
    let plain = zstd::stream::decode_all(body).map_err(|_| corrupt("does not decompress"))?;
    let count = u32_at(&plain, 0).ok_or_else(|| corrupt("no count"))? as usize;
    let mut records = Vec::with_capacity(count.min(plain.len() / 4));
    let mut at = 4;
    for _ in 0..count {
        let len = u32_at(&plain, at).ok_or_else(|| corrupt("a record cut short"))? as usize;
        let record =
            plain.get(at + 4..at + 4 + len).ok_or_else(|| corrupt("a record cut short"))?;
        records.push(record.to_vec());
        at += 4 + len;
    }
    Ok(records)
}

/// The length of the block's body, if `bytes` starts with a block header.
fn body_len(bytes: &[u8]) -> Option<usize> {
    (bytes.get(..4)? == MAGIC).then(|| u32_at(bytes, 4).map(|len| len as usize))?
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn length(len: usize) -> Result<u32, StoreError> {
    u32::try_from(len).map_err(|_| StoreError::Storage("an archive block over 4 GiB".into()))
}

/// The archive files of a sled store.
pub struct ArchiveFiles {
    dir: PathBuf,
    /// The file being written, its number and its end.
    writer: Mutex<(u32, File, u64)>,
}

impl ArchiveFiles {
    pub fn open(dir: &Path) -> Result<ArchiveFiles, StoreError> {
        std::fs::create_dir_all(dir).map_err(|error| io(dir, error))?;
        let number = file_numbers(dir)?.last().copied().unwrap_or(1);
        let path = file_path(dir, number);
        let file = open_for_append(&path)?;
        let end = whole_blocks_end(&file).map_err(|error| io(&path, error))?;
        let len = file.metadata().map_err(|error| io(&path, error))?.len();
        if len != end {
            tracing::warn!(file = %path.display(), dropped_bytes = len - end, "cut a torn archive block off");
            file.set_len(end).map_err(|error| io(&path, error))?;
            file.sync_all().map_err(|error| io(&path, error))?;
        }
        Ok(ArchiveFiles { dir: dir.to_owned(), writer: Mutex::new((number, file, end)) })
    }

    /// Appends `block` and syncs it: once this returns, an index entry may point into it.
    pub fn append(&self, block: &[u8]) -> Result<ArchiveRef, StoreError> {
        let len = length(block.len())?;
        let mut writer = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (number, file, end) = &mut *writer;
        if *end > 0 && *end + u64::from(len) > ARCHIVE_FILE_BYTES_MAX {
            let next = *number + 1;
            *file = open_for_append(&file_path(&self.dir, next))?;
            File::open(&self.dir)
                .and_then(|dir| dir.sync_all())
                .map_err(|error| io(&self.dir, error))?;
            (*number, *end) = (next, 0);
        }
        let path = file_path(&self.dir, *number);
        let written = file.write_all_at(block, *end).and_then(|()| file.sync_data());
        written.map_err(|error| io(&path, error))?;
        let at = ArchiveRef { file: *number, offset: *end, len };
        *end += u64::from(len);
        Ok(at)
    }

    /// The block at `at`, as appended.
    pub fn read(&self, at: ArchiveRef) -> Result<Vec<u8>, StoreError> {
        let path = file_path(&self.dir, at.file);
        let file = File::open(&path).map_err(|error| io(&path, error))?;
        let mut block = vec![0; at.len as usize];
        file.read_exact_at(&mut block, at.offset).map_err(|error| io(&path, error))?;
        Ok(block)
    }
}

/// Every record in the archive files under `dir`, in the order they were archived: for tools
/// and tests that look at what the files hold.
pub fn read_all(dir: &Path) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut records = Vec::new();
    for number in file_numbers(dir)? {
        let path = file_path(dir, number);
        let bytes = std::fs::read(&path).map_err(|error| io(&path, error))?;
        let mut at = 0;
        while let Some(len) = body_len(&bytes[at..]) {
            let end = at + HEADER_LEN + len;
            if end > bytes.len() {
                break;
            }
            records.extend(decode_block(&bytes[at..end])?);
            at = end;
        }
    }
    Ok(records)
}

/// Where the file's last whole block ends.
fn whole_blocks_end(file: &File) -> std::io::Result<u64> {
    let len = file.metadata()?.len();
    let (mut at, mut header) = (0u64, [0u8; HEADER_LEN]);
    while at + HEADER_LEN as u64 <= len {
        file.read_exact_at(&mut header, at)?;
        let Some(body) = body_len(&header) else { break };
        let end = at + (HEADER_LEN + body) as u64;
        if end > len {
            break;
        }
        let mut block = vec![0; HEADER_LEN + body];
        file.read_exact_at(&mut block, at)?;
        if decode_block(&block).is_err() {
            break;
        }
        at = end;
    }
    Ok(at)
}

fn file_numbers(dir: &Path) -> Result<Vec<u32>, StoreError> {
    let mut numbers = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|error| io(dir, error))? {
        let path = entry.map_err(|error| io(dir, error))?.path();
        if path.extension().is_some_and(|extension| extension == EXTENSION)
            && let Some(number) = path.file_stem().and_then(|stem| stem.to_str()?.parse().ok())
        {
            numbers.push(number);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

/// An archive file, made if missing, kept as it is: blocks are written at its end.
fn open_for_append(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|error| io(path, error))
}

fn file_path(dir: &Path, number: u32) -> PathBuf {
    dir.join(format!("{number:08}.{EXTENSION}"))
}

fn io(path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Storage(format!("archive file {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn records() -> Vec<Vec<u8>> {
        vec![b"first record".to_vec(), Vec::new(), vec![7; 10_000]]
    }

    #[test]
    fn blocks_read_back_across_a_reopen_and_damage_is_refused() {
        let directory = tempfile::tempdir().unwrap();
        let dir = directory.path().join("archive");
        let first =
            ArchiveFiles::open(&dir).unwrap().append(&encode_block(&records()).unwrap()).unwrap();
        let files = ArchiveFiles::open(&dir).unwrap();
        let second = files.append(&encode_block(&[b"second".to_vec()]).unwrap()).unwrap();
        assert_eq!(second.offset, u64::from(first.len), "appends go after the end");
        assert!(first.len < 1_000, "10 000 equal bytes compress: {} bytes", first.len);
        assert_eq!(decode_block(&files.read(first).unwrap()).unwrap(), records());
        assert_eq!(read_all(&dir).unwrap().len(), 4);

        let mut damaged = files.read(first).unwrap();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert!(matches!(decode_block(&damaged), Err(StoreError::Corrupt(_))));
        damaged[0] = b'X';
        assert!(matches!(decode_block(&damaged), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn a_torn_block_at_the_end_is_cut_off_at_open() {
        let directory = tempfile::tempdir().unwrap();
        let dir = directory.path().join("archive");
        let whole =
            ArchiveFiles::open(&dir).unwrap().append(&encode_block(&records()).unwrap()).unwrap();
        let block = encode_block(&[b"torn".to_vec()]).unwrap();
        let path = file_path(&dir, whole.file);
        let file = OpenOptions::new().append(true).open(&path).unwrap();
        (&file).write_all(&block[..block.len() - 3]).unwrap();

        let files = ArchiveFiles::open(&dir).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), u64::from(whole.len));
        let next = files.append(&encode_block(&[b"next".to_vec()]).unwrap()).unwrap();
        assert_eq!(next.offset, u64::from(whole.len));
        let all = read_all(&dir).unwrap();
        assert_eq!(all.last().unwrap(), b"next");
        assert_eq!(all.len(), 4);
    }
}
