//! Kassa's benchmarks. `benches/store_commit.rs` measures the durable write path (sled commit +
//! group-commit flush + fdatasync) that every acknowledged state change waits on:
//! `cargo bench -p kassa-bench --bench store_commit`.
