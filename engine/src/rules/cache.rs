//! Compiled components on disk, keyed by the SHA-256 of their bytes and by the engine's
//! compatibility hash (wasmtime version and settings), so a restart deserialises in
//! milliseconds instead of recompiling, and an upgrade recompiles instead of loading a stale
//! artifact.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

pub struct ArtifactCache {
    dir: Option<PathBuf>,
    engine_hash: String,
}

impl ArtifactCache {
    /// `None`: compile every time (tests and benchmarks without a data directory).
    pub fn new(engine: &Engine, dir: Option<&Path>) -> std::io::Result<ArtifactCache> {
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir)?;
        }
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(ArtifactCache {
            dir: dir.map(Path::to_owned),
            engine_hash: format!("{:016x}", hasher.finish()),
        })
    }

    /// The component compiled from the bytes whose hash is `sha256`, if it was kept before.
    pub fn load(&self, engine: &Engine, sha256_hex: &str) -> Option<Component> {
        let path = self.path(sha256_hex)?;
        if !path.exists() {
            return None;
        }
        // SAFETY: the file is one this cache wrote with `Component::serialize` into the
        // engine's own data directory; wasmtime still checks its header and compatibility.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "compiled rule unusable; recompiling");
                None
            }
        }
    }

    /// Keeps `component` for the next start. Only for a rule that passed every check: a refused
    /// upload leaves nothing on disk.
    pub fn keep(&self, sha256_hex: &str, component: &Component) {
        let Some(path) = self.path(sha256_hex) else { return };
        if path.exists() {
            return;
        }
        let written = component.serialize().map_err(std::io::Error::other);
        if let Err(error) = written.and_then(|bytes| write_atomically(&path, &bytes)) {
            // Only a slower next start: the component itself is fine.
            tracing::warn!(path = %path.display(), %error, "could not cache a compiled rule");
        }
    }

    /// Removes the kept component of a rule no account names any more.
    pub fn forget(&self, sha256_hex: &str) {
        let Some(path) = self.path(sha256_hex) else { return };
        match std::fs::remove_file(&path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(path = %path.display(), %error, "could not remove a compiled rule");
            }
            _ => {}
        }
    }

    fn path(&self, sha256_hex: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        Some(dir.join(format!("{sha256_hex}-{}.cwasm", self.engine_hash)))
    }
}

/// Written beside, then renamed: a crash leaves either no artifact or a whole one. The partial
/// file's name is its writer's own: two uploads of the same bytes may finish at once.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let partial = path.with_extension(format!("{}.partial", ulid::Ulid::new()));
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path)
}
