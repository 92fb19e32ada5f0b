//! Uploaded components' bytes on disk, `<data>/plugins/<sha256>.wasm`: written and synced
//! before any history names them, removed once none does.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::RulesError;

pub struct Blobs {
    dir: PathBuf,
}

impl Blobs {
    pub fn new(dir: PathBuf) -> Blobs {
        Blobs { dir }
    }

    pub fn read(&self, sha256: &str) -> Result<Vec<u8>, RulesError> {
        let path = self.path(sha256);
        std::fs::read(&path).map_err(|error| failed(&path, error))
    }

    /// The component's bytes, durably. Two accounts may upload the same bytes at once: each
    /// writes its own partial file, and the second rename replaces the first with the same bytes.
    pub fn write(&self, sha256: &str, bytes: &[u8]) -> Result<(), RulesError> {
        let path = self.path(sha256);
        if path.exists() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(|error| failed(&self.dir, error))?;
        let partial = self.dir.join(format!("{sha256}.{}.partial", ulid::Ulid::new()));
        let written = std::fs::File::create(&partial).and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        });
        written.and_then(|()| std::fs::rename(&partial, &path)).map_err(|error| {
            let _ = std::fs::remove_file(&partial);
            failed(&path, error)
        })?;
        std::fs::File::open(&self.dir).and_then(|dir| dir.sync_all()).map_err(|e| failed(&path, e))
    }

    /// Removes a component no history names any more; one already gone is no error.
    pub fn remove(&self, sha256: &str) -> Result<(), RulesError> {
        let path = self.path(sha256);
        match std::fs::remove_file(&path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(failed(&path, error)),
            _ => Ok(()),
        }
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.wasm"))
    }
}

fn failed(path: &Path, error: std::io::Error) -> RulesError {
    RulesError(format!("{}: {error}", path.display()))
}
