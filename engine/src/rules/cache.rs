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

    /// The compiled component of `bytes`: from disk when it was compiled before, else compiled
    /// now and written for next time.
    pub fn component(
        &self,
        engine: &Engine,
        bytes: &[u8],
        sha256_hex: &str,
    ) -> wasmtime::Result<Component> {
        let Some(path) = self.path(sha256_hex) else {
            return Component::new(engine, bytes);
        };
        if path.exists() {
            // SAFETY: the file is one this cache wrote with `Component::serialize` into the
            // engine's own data directory; wasmtime still checks its header and compatibility.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok(component),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "compiled rule unusable; recompiling");
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(error) = write_atomically(&path, &component.serialize()?) {
            // Only a slower next start: the component itself is fine.
            tracing::warn!(path = %path.display(), %error, "could not cache a compiled rule");
        }
        Ok(component)
    }

    fn path(&self, sha256_hex: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        Some(dir.join(format!("{sha256_hex}-{}.cwasm", self.engine_hash)))
    }
}

/// Written beside, then renamed: a crash leaves either no artifact or a whole one.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let partial = path.with_extension("cwasm.partial");
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path)
}
