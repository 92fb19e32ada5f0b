//! `kassa`: parse the command line and config, set up logging, run the engine.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kassa::config::{Config, LogFormat, config_path};

/// mimalloc rather than glibc's malloc: a request's allocations are made on one thread and often
/// freed on another (API workers, actors, the flusher), where glibc's arenas contend. Measured with
/// kassa-bench: plain charges +15-20 %, priced +25 %, webhooks +25 % (README, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "kassa", version, about = "Kassa, a self-hosted payment engine")]
struct Cli {
    /// Config file (default: KASSA_CONFIG, else config/kassa.toml if present, else built-ins).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the engine (the default).
    Serve,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let path = config_path(cli.config.as_deref(), &env);
    let config = match Config::load(path.as_deref(), &env) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("kassa: {error}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config),
    }
}

fn serve(config: Config) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kassa-api")
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("kassa: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(kassa::app::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "kassa stopped");
            eprintln!("kassa: {error}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::new(&config.log.level);
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stdout);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}
