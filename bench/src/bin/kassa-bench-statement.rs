//! `kassa-bench-statement`: times `POST /v1/bank_statements` on a large CSV statement, on an
//! engine it starts on a temp data dir (see `kassa_bench::statement`).
//!
//! `target/release/kassa-bench-statement --kassa-bin target/release/kassa --lines 100000
//! --matched 10000`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use kassa_bench::engine_process::{EngineProcess, SPAWN_API_KEY};
use kassa_bench::error::BenchError;
use kassa_bench::setup::{Caller, wait_until_ready};
use kassa_bench::statement::{self, count_of};
use kassa_bench::target::Endpoint;

/// A statement's upload is one request; the engine's own time limit bounds it first.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Parser)]
#[command(about = "Times the reconciliation of a large CSV bank statement")]
struct Cli {
    /// The engine binary to start.
    #[arg(long, default_value = "target/release/kassa")]
    kassa_bin: PathBuf,
    /// Lines in the statement.
    #[arg(long, default_value_t = 100_000)]
    lines: usize,
    /// Of them, payments of charges awaiting a transfer (one customer each).
    #[arg(long, default_value_t = 10_000)]
    matched: usize,
    /// Where the engine's log goes.
    #[arg(long, default_value = "bench-results/statement-engine.log")]
    engine_log: PathBuf,
}

async fn run(cli: Cli) -> Result<(), BenchError> {
    if cli.matched > cli.lines {
        return Err(BenchError::Usage("--matched is at most --lines".into()));
    }
    if let Some(dir) = cli.engine_log.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|error| BenchError::Output { path: dir.to_owned(), error })?;
    }
    // The engine runs in its temp data dir: a relative path would name nothing there.
    let binary = cli
        .kassa_bin
        .canonicalize()
        .map_err(|error| BenchError::EngineBinary { path: cli.kassa_bin.clone(), error })?;
    let engine = EngineProcess::start(&binary, &cli.engine_log)?;
    let endpoint = Endpoint::new(&engine.url, Some(SPAWN_API_KEY))?;
    wait_until_ready(&endpoint).await?;
    let caller = Caller::new(&endpoint, UPLOAD_TIMEOUT);
    eprintln!("setup: {} customers, each with a charge awaiting a bank transfer", cli.matched);
    let charges = statement::set_up(&caller, cli.matched).await?;
    let csv = statement::statement(cli.lines, &charges);
    println!(
        "statement: {} lines ({} bytes), {} of them paying a charge",
        cli.lines,
        csv.len(),
        cli.matched
    );
    let first = statement::upload(&endpoint, &csv, UPLOAD_TIMEOUT).await?;
    let (settled, unmatched) =
        (count_of(&first.outcomes, "settled"), count_of(&first.outcomes, "unmatched"));
    if first.outcomes.len() != cli.lines
        || settled != cli.matched
        || unmatched != cli.lines - cli.matched
    {
        return Err(BenchError::Setup(format!(
            "first upload: {} lines, {settled} settled, {unmatched} unmatched",
            first.outcomes.len()
        )));
    }
    statement::check_settled(&caller, &charges).await?;
    println!(
        "first upload:  {:>8.3} s  ({settled} settled, {unmatched} unmatched)",
        first.elapsed.as_secs_f64()
    );
    let again = statement::upload(&endpoint, &csv, UPLOAD_TIMEOUT).await?;
    let duplicates = count_of(&again.outcomes, "duplicate");
    if duplicates != cli.lines {
        return Err(BenchError::Setup(format!(
            "second upload: {duplicates} duplicates of {}",
            cli.lines
        )));
    }
    println!("same file again: {:>6.3} s  (every line a duplicate)", again.elapsed.as_secs_f64());
    println!("engine problems logged: {}", engine.log_problems());
    Ok(())
}

fn main() -> ExitCode {
    kassa_bench::run_to_exit("kassa-bench-statement", run(Cli::parse()))
}
