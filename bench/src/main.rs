//! `kassa-bench`: parse the command line, run the benchmark on a multi-thread runtime, print the
//! summary. Ctrl-C drops the run, which stops the spawned engine and the ceiling server.

use std::process::ExitCode;

use clap::Parser;
use kassa_bench::cli::Cli;
use kassa_bench::error::BenchError;
use kassa_bench::report::summary_table;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let plan = match cli.plan() {
        Ok(plan) => plan,
        Err(error) => {
            eprintln!("kassa-bench: {error}");
            return ExitCode::from(2);
        }
    };
    let out_dir = plan.out_dir.clone();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench-client")
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("kassa-bench: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        tokio::select! {
            result = kassa_bench::run::run(plan, command) => result,
            _ = tokio::signal::ctrl_c() => Err(BenchError::Interrupted),
        }
    });
    match outcome {
        Ok(result) => {
            print!("{}", summary_table(&result));
            println!("results: {}/result.json and report.html", out_dir.display());
            if result.check_failed() {
                eprintln!("kassa-bench: the run's check failed (see the mismatches above)");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("kassa-bench: {error}");
            ExitCode::FAILURE
        }
    }
}
