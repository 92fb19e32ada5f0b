//! `kassa`: parse the command line and config, set up logging, run the engine.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kassa::config::{Config, LogFormat, config_path};

/// mimalloc rather than glibc's malloc: a request's allocations are made on one thread and often
/// freed on another (API workers, actors, the flusher), where glibc's arenas contend (measured in
/// bench/RESULTS.md).
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
    /// Make a new data key and say how to rotate to it: the engine, restarted with the new key
    /// and the current one as a previous key, re-wraps every customer's key in the background.
    RotateDataKey,
    /// Create or migrate the PostgreSQL backend's schema and stop (nodes also do it at start).
    Migrate,
    /// Write the whole store of the configured backend to FILE, for `restore` (sled: stop the
    /// engine first). Prints what it wrote: entries per tree and their digest.
    Dump { file: PathBuf },
    /// Restore a dump into the configured backend, which must be empty (no node running on
    /// it): the file is checked first, and the store read back and checked against it after.
    Restore { file: PathBuf },
    /// Check the books: every ledger balance recomputed from the postings, every charge and
    /// refund matched to its postings. Exits non-zero naming the first difference (sled: stop
    /// the engine first, or give a copy of its data directory).
    VerifyLedger {
        /// The data directory to check, instead of the configured one.
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Write an account's books (balance transactions, charges, refunds, invoices, payouts)
    /// created in `[--from, --to)` as files in OUT (sled: stop the engine first, or give a copy
    /// of its data directory).
    Export {
        #[arg(long)]
        account: String,
        /// `csv` or `parquet` (one file per kind of record).
        #[arg(long, default_value = "csv")]
        format: String,
        #[arg(long)]
        out: PathBuf,
        /// Unix seconds; default: the beginning.
        #[arg(long, default_value_t = 0)]
        from: i64,
        /// Unix seconds; default: no end.
        #[arg(long, default_value_t = i64::MAX)]
        to: i64,
        /// The data directory to read, instead of the configured one.
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    disable_transparent_huge_pages();
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
        Command::RotateDataKey => rotate_data_key(),
        Command::Migrate => with_store(&config, |store| {
            println!("storage ready: {:?} backend, schema up to date", config.storage.backend);
            Ok(store.summary().map(drop)?)
        }),
        Command::Dump { file } => with_store(&config, |store| {
            let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
            let summary = store.dump(&mut out)?;
            out.into_inner().map_err(|error| error.into_error())?.sync_all()?;
            print_summary("dumped", &file, &summary);
            Ok(())
        }),
        Command::Restore { file } => with_store(&config, |store| {
            let open = || -> std::io::Result<Box<dyn std::io::BufRead>> {
                Ok(Box::new(std::io::BufReader::new(std::fs::File::open(&file)?)))
            };
            let summary = store.restore(open)?;
            print_summary("restored", &file, &summary);
            Ok(())
        }),
        Command::Export { account, format, out, from, to, data } => {
            let Some(account) = kassa::domain::AccountId::parse(&account) else {
                eprintln!("kassa: --account {account} is not an account id (acct_…)");
                return ExitCode::from(2);
            };
            let Some(format) = kassa::reports::export::Format::parse(&format) else {
                eprintln!("kassa: --format {format}: csv or parquet");
                return ExitCode::from(2);
            };
            let mut config = config;
            if let Some(data) = data {
                config.storage.path = data;
            }
            with_store(&config, |store| {
                let range = (from, to);
                let written = kassa::reports::export::export(store, &account, &out, format, range)?;
                for (file, rows) in written {
                    println!("{}: {rows} rows", out.join(file).display());
                }
                Ok(())
            })
        }
        Command::VerifyLedger { data } => {
            let mut config = config;
            if let Some(data) = data {
                config.storage.path = data;
            }
            with_store(&config, |store| {
                let verified = kassa::ledger::verify::verify(store)?;
                println!(
                    "the books balance: {} postings in {} accounts, {} balances, {} charges, {} \
                     refunds, {} payouts, {} customer balances, {} invoices and {} sales matched",
                    verified.postings,
                    verified.accounts,
                    verified.totals,
                    verified.charges,
                    verified.refunds,
                    verified.payouts,
                    verified.customer_balances,
                    verified.invoices,
                    verified.sales
                );
                Ok(())
            })
        }
    }
}

/// Opens the configured store, runs `work` on it, and closes it (sled: checkpointed).
fn with_store(
    config: &Config,
    work: impl FnOnce(&kassa::store::tree_store::TreeStore) -> Result<(), Box<dyn std::error::Error>>,
) -> ExitCode {
    let store = match kassa::app::open_store(config) {
        Ok(store) => store,
        Err(error) => {
            eprintln!("kassa: cannot open the store: {error}");
            return ExitCode::FAILURE;
        }
    };
    let done = work(&store);
    store.close();
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kassa: {error}");
            ExitCode::FAILURE
        }
    }
}

fn print_summary(
    done: &str,
    file: &std::path::Path,
    summary: &kassa::store::tree_store::DumpSummary,
) {
    println!("{done} {} entries ({}), sha256 {}", summary.total, file.display(), summary.digest);
    for (tree, count) in &summary.entries {
        println!("  {tree}: {count}");
    }
}

/// Prints a new data key and the steps of a rotation. The engine holds the data directory, so
/// the re-wrapping is its own: it runs in the background once it starts with both keys.
fn rotate_data_key() -> ExitCode {
    let key = kassa::data_key::DataKey::generate();
    println!("A new data key (fingerprint {}):\n\n  {}\n", key.fingerprint(), key.to_base64());
    println!(
        "To rotate to it:
1. Set storage.data_key (KASSA_DATA_KEY) to it, and storage.previous_data_keys
   (KASSA_PREVIOUS_DATA_KEYS, comma-separated) to the key in use now
   (<data dir>/dev-data-key if none was configured).
2. Restart Kassa. It serves at once, and re-wraps every customer's key under the new data key
   in the background; the log says `data key rotation finished`.
3. Keep the previous key configured until the time that line names (24 hours: the
   Idempotency-Keys hashed with it are kept that long), then remove it."
    );
    ExitCode::SUCCESS
}

/// mimalloc asks for transparent huge pages on its arenas, so the first touch of fresh memory (or
/// of memory it had returned to the OS) faults in a whole 2 MiB page, zeroed in the faulting
/// thread: milliseconds per fault on a small VM, often on both API workers at once, while every
/// request they held waited. With 4 KiB pages a fault costs microseconds, and throughput does
/// not change (bench/RESULTS.md).
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_THP_DISABLE only sets a flag on this process; it reads no
    // pointers. A kernel that refuses it leaves huge pages on: a worse tail, nothing else.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
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
