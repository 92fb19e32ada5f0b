//! `kassa-bench-checkout`: hosted checkout under load (create a session, load its page, pay on
//! the sandbox, load the paid page), on an engine it starts on a temp data dir (see
//! `kassa_bench::checkout`).
//!
//! `target/release/kassa-bench-checkout --kassa-bin target/release/kassa --buyers 8
//! --duration 20`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use kassa_bench::checkout::{self, STEPS};
use kassa_bench::engine_process::{EngineProcess, SPAWN_API_KEY};
use kassa_bench::error::BenchError;
use kassa_bench::setup::{Caller, wait_until_ready};
use kassa_bench::target::Endpoint;

const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Parser)]
#[command(about = "Measures hosted checkout: session, page, payment on the sandbox, paid page")]
struct Cli {
    /// The engine binary to start.
    #[arg(long, default_value = "target/release/kassa")]
    kassa_bin: PathBuf,
    /// Buyers going through checkout at once, each on its own connection.
    #[arg(long, default_value_t = 8)]
    buyers: usize,
    /// Customers the sessions are for, taken in turn.
    #[arg(long, default_value_t = 1_000)]
    customers: usize,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Seconds of checkouts before measuring.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Where the engine's log goes.
    #[arg(long, default_value = "bench-results/checkout-engine.log")]
    engine_log: PathBuf,
}

async fn run(cli: Cli) -> Result<(), BenchError> {
    if cli.buyers == 0 || cli.customers < cli.buyers {
        return Err(BenchError::Usage("--buyers is at least 1 and at most --customers".into()));
    }
    if let Some(dir) = cli.engine_log.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|error| BenchError::Output { path: dir.to_owned(), error })?;
    }
    let binary = cli
        .kassa_bin
        .canonicalize()
        .map_err(|error| BenchError::EngineBinary { path: cli.kassa_bin.clone(), error })?;
    let engine = EngineProcess::start(&binary, &cli.engine_log)?;
    let endpoint = Endpoint::new(&engine.url, Some(SPAWN_API_KEY))?;
    wait_until_ready(&endpoint).await?;
    eprintln!("setup: {} customers", cli.customers);
    let customers = checkout::set_up(&Caller::new(&endpoint, SETUP_TIMEOUT), cli.customers).await?;
    let measured = checkout::run(
        &endpoint,
        &customers,
        cli.buyers,
        Duration::from_secs(cli.warmup),
        Duration::from_secs(cli.duration),
    )
    .await?;
    let seconds = measured.measured_for.as_secs_f64();
    println!(
        "checkouts: {} in {seconds:.0} s = {:.0}/s ({} buyers)",
        measured.checkouts,
        measured.checkouts as f64 / seconds,
        cli.buyers
    );
    println!("{:<16}{:>10}{:>10}{:>10}{:>10}", "step (ms)", "p50", "p90", "p99", "max");
    for (name, histogram) in STEPS.iter().zip(&measured.steps) {
        let ms = |micros: u64| micros as f64 / 1000.0;
        println!(
            "{name:<16}{:>10.2}{:>10.2}{:>10.2}{:>10.2}",
            ms(histogram.value_at_quantile(0.5)),
            ms(histogram.value_at_quantile(0.9)),
            ms(histogram.value_at_quantile(0.99)),
            ms(histogram.max())
        );
    }
    println!("engine problems logged: {}", engine.log_problems());
    Ok(())
}

fn main() -> ExitCode {
    kassa_bench::run_to_exit("kassa-bench-checkout", run(Cli::parse()))
}
