//! Kassa's benchmarks.
//!
//! `kassa-bench` (src/main.rs) is the HTTP load generator: it drives a running Kassa (or one it
//! starts on a temp data dir) with a scenario, and in the same run drives a plain warp route with
//! the same client and load, so every figure also comes as a ratio to that ceiling. See
//! bench/README.md for how to run it and read its figures. Its modules:
//!
//! - `cli`, `plan`: the command line and the validated run it describes.
//! - `run`: one invocation from start to end.
//! - `target`, `client`: loopback-only endpoints, and the HTTP/1.1 client (one socket per
//!   connection, pooled for the open loop).
//! - `engine_process`: `--spawn`, the engine as a child process; `engine_cpu`: its CPU time.
//! - `ceiling`: the plain warp route served by this process.
//! - `setup`, `workload`: what each scenario creates first, then sends and expects.
//! - `entitlements`: the `entitlements` scenario's setup, a plan with features and a subscription
//!   for each customer (its reads and their checks are a workload).
//! - `applied`: after `webhooks`, whether the engine applied the events it acknowledged.
//! - `events_out`: the `events-out` scenario's receiver, probe and check of what arrived.
//! - `renewals`: the `renewals` scenario end to end: subscriptions on a test clock, the renewal
//!   burst with ordinary charges beside it, and the check of every invoice and ledger entry.
//! - `load`: closed loop, open loop (no coordinated omission) and `--find-max`.
//! - `stats`: the recorder, HdrHistogram percentiles and the per-second series.
//! - `report`: `result.json`, the self-contained `report.html`, and the stdout table.
//! - `limits`: every bound, with its reason.
//! - `statement`: `kassa-bench-statement` (src/bin), the reconciliation of a large bank statement.
//! - `checkout`: `kassa-bench-checkout` (src/bin), hosted checkout's steps under load.
//!
//! `benches/store_commit.rs` measures the durable write path (sled commit + group-commit flush +
//! fdatasync) that every acknowledged state change waits on:
//! `cargo bench -p kassa-bench --bench store_commit`.

pub mod applied;
pub mod ceiling;
pub mod checkout;
pub mod cli;
pub mod client;
pub mod engine_cpu;
pub mod engine_footprint;
pub mod engine_process;
pub mod entitlements;
pub mod error;
pub mod events_out;
pub mod limits;
pub mod load;
pub mod plan;
pub mod renewals;
pub mod report;
pub mod run;
pub mod setup;
pub mod statement;
pub mod stats;
pub mod target;
pub mod workload;

/// Runs a one-shot tool's `work` on a multi-threaded runtime and answers its exit code, the
/// failure printed under the tool's `name` (`kassa-bench-statement`, `kassa-bench-checkout`).
pub fn run_to_exit(
    name: &str,
    work: impl std::future::Future<Output = Result<(), error::BenchError>>,
) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{name}: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
