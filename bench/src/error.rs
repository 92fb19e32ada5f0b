//! The one error type of the load generator: what stops a benchmark run before it has figures.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid option: {0}")]
    Usage(String),
    #[error("refused target {url}: {reason} (only loopback addresses may be benchmarked here)")]
    TargetRefused { url: String, reason: String },
    #[error(
        "the engine binary {path} cannot be started: {error} (build it with `cargo build --release -p kassa-engine`, or pass --kassa-bin)"
    )]
    EngineBinary { path: PathBuf, error: std::io::Error },
    #[error("the engine did not start: {0}")]
    EngineStart(String),
    #[error("the ceiling server did not start: {0}")]
    Ceiling(String),
    #[error("setup failed: {0}")]
    Setup(String),
    #[error("the renewal burst failed: {0}")]
    Renewals(String),
    #[error("cannot write {path}: {error}")]
    Output { path: PathBuf, error: std::io::Error },
    #[error("interrupted")]
    Interrupted,
}
