//! The spawned engine's footprint while a run goes: its resident memory (`VmRSS` in
//! `/proc/<pid>/status`) and the disk its data directory takes, sampled once a second into the
//! run's series. A soak then shows by itself whether memory levels off and how fast the store
//! grows, and the progress line shows a long run heading for a full disk before it gets there.

use std::path::{Path, PathBuf};

/// The engine process and data directory whose footprint is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineFootprint {
    pid: u32,
    data_dir: PathBuf,
}

/// One reading; `None` where it cannot be read (not Linux, or the engine is gone).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    pub rss_bytes: Option<u64>,
    pub data_bytes: Option<u64>,
}

impl EngineFootprint {
    pub fn of(pid: u32, data_dir: &Path) -> EngineFootprint {
        EngineFootprint { pid, data_dir: data_dir.to_owned() }
    }

    pub fn read(&self) -> Footprint {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok();
        Footprint {
            rss_bytes: status.as_deref().and_then(rss_in_status),
            data_bytes: disk_used(&self.data_dir),
        }
    }
}

/// `VmRSS` from a `/proc/<pid>/status`, in bytes (the kernel reports kB).
fn rss_in_status(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line["VmRSS:".len()..].trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}

/// The disk the files under `dir` take: their allocated blocks, not their lengths, so a
/// preallocated or sparse file counts for what it holds.
fn disk_used(dir: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in std::fs::read_dir(dir).ok()? {
        let Ok(entry) = entry else { continue };
        // A file the engine removed meanwhile (a log segment) is simply not counted.
        let Ok(metadata) = entry.metadata() else { continue };
        total += match metadata.is_dir() {
            true => disk_used(&entry.path()).unwrap_or(0),
            false => metadata.blocks() * 512,
        };
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_resident_memory_in_bytes() {
        let status = "Name:\tkassa\nVmPeak:\t  900 kB\nVmRSS:\t  1536 kB\nThreads:\t9\n";
        assert_eq!(rss_in_status(status), Some(1536 * 1024));
        assert_eq!(rss_in_status("Name:\tkassa\n"), None);
    }

    #[test]
    fn counts_the_files_of_a_directory_and_its_subdirectories() {
        let directory = tempfile::tempdir().unwrap();
        std::fs::create_dir(directory.path().join("wal")).unwrap();
        std::fs::write(directory.path().join("db"), vec![1u8; 64 * 1024]).unwrap();
        std::fs::write(directory.path().join("wal/00000001"), vec![2u8; 32 * 1024]).unwrap();
        let used = disk_used(directory.path()).unwrap();
        assert!(used >= 96 * 1024, "both files counted: {used}");
        assert_eq!(disk_used(&directory.path().join("gone")), None);
    }

    #[test]
    fn reads_this_process() {
        let directory = tempfile::tempdir().unwrap();
        let here = EngineFootprint::of(std::process::id(), directory.path()).read();
        assert!(here.rss_bytes.is_some_and(|rss| rss > 0), "this process's VmRSS reads");
        assert_eq!(here.data_bytes, Some(0), "an empty directory takes nothing");
    }
}
