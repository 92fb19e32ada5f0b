//! `--spawn`: starts the `kassa` binary on a temporary data directory and a free loopback port,
//! learns its URL from its start-up log line, keeps draining its output (into `engine.log` in the
//! results, counting warnings and errors so the report can say the engine complained), and kills
//! it when dropped.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use parking_lot::Mutex;
use tempfile::TempDir;

use crate::error::BenchError;
use crate::limits::ENGINE_READY_TIMEOUT;

/// The key the spawned engine is given, and the bench uses.
pub const SPAWN_API_KEY: &str = "sk_bench_0123456789abcdef";
/// The Stripe webhook secret the spawned engine is given, and `webhooks` signs with.
pub const SPAWN_WEBHOOK_SECRET: &str = "whsec_bench_0123456789abcdef";
/// The engine logs this, then its URL, once it listens.
const LISTENING_MARKER: &str = "listening on http://";
/// Warnings and errors, plus the start-up line that names the URL.
const SPAWN_LOG_FILTER: &str = "warn,kassa::app=info";
/// Engine warnings echoed to stderr at most; the rest are only counted and kept in the log file,
/// so an engine that warns on every request cannot drown the progress line.
const ECHOED_PROBLEMS_MAX: u64 = 20;

pub struct EngineProcess {
    child: Child,
    pub url: String,
    pub binary: PathBuf,
    log_problems: Arc<AtomicU64>,
    drains: Vec<JoinHandle<()>>,
    // Removed after the child is killed (fields drop after `drop`).
    data_dir: TempDir,
}

impl EngineProcess {
    /// Starts `binary`; its output goes to `log_path`.
    pub fn start(binary: &Path, log_path: &Path) -> Result<Self, BenchError> {
        let data_dir = tempfile::Builder::new()
            .prefix("kassa-bench-")
            .tempdir()
            .map_err(|error| BenchError::EngineStart(format!("no temp data dir: {error}")))?;
        let log = File::create(log_path)
            .map_err(|error| BenchError::Output { path: log_path.to_owned(), error })?;
        let log = Arc::new(Mutex::new(log));
        let mut child = Command::new(binary)
            .arg("serve")
            // The temp dir as working directory: no `config/kassa.toml` is picked up by accident.
            .current_dir(data_dir.path())
            .env("KASSA_DATA_DIR", data_dir.path())
            .env("KASSA_LISTEN", "127.0.0.1:0")
            .env("KASSA_API_KEY", SPAWN_API_KEY)
            // Turns `POST /v1/webhooks/stripe` on; no Stripe key is set, so charges still go to
            // the sandbox.
            .env("KASSA_STRIPE_WEBHOOK_SECRET", SPAWN_WEBHOOK_SECRET)
            .env("KASSA_LOG", SPAWN_LOG_FILTER)
            // `events-out` subscribes a receiver on 127.0.0.1, over http, and waits for every
            // retry to end: retries come back within a second.
            .env("KASSA_WEBHOOKS_ALLOW_HTTP", "true")
            .env("KASSA_WEBHOOKS_ALLOW_PRIVATE_NETWORKS", "true")
            .env("KASSA_WEBHOOKS_RETRY_INITIAL_MS", "100")
            .env("KASSA_WEBHOOKS_RETRY_MAX_MS", "1000")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| BenchError::EngineBinary { path: binary.to_owned(), error })?;

        let log_problems = Arc::new(AtomicU64::new(0));
        let (url_sender, url_receiver) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let drains = vec![
            drain(stdout, Arc::clone(&log), Arc::clone(&log_problems), Some(url_sender)),
            drain(stderr, Arc::clone(&log), Arc::clone(&log_problems), None),
        ];
        let mut process = Self {
            child,
            url: String::new(),
            binary: binary.to_owned(),
            log_problems,
            drains,
            data_dir,
        };
        match url_receiver.recv_timeout(ENGINE_READY_TIMEOUT) {
            Ok(url) => process.url = url,
            Err(_) => {
                let status = process.child.try_wait().ok().flatten();
                return Err(BenchError::EngineStart(format!(
                    "no `{LISTENING_MARKER}` line within {} s (exit status: {status:?}); see {}",
                    ENGINE_READY_TIMEOUT.as_secs(),
                    log_path.display()
                )));
            }
        }
        Ok(process)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The engine's data directory (removed with this handle).
    pub fn data_dir(&self) -> &std::path::Path {
        self.data_dir.path()
    }

    /// Warning and error lines the engine has logged so far.
    pub fn log_problems(&self) -> u64 {
        self.log_problems.load(Ordering::Relaxed)
    }
}

impl Drop for EngineProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for drain in self.drains.drain(..) {
            let _ = drain.join();
        }
    }
}

/// Copies `output` into the log until it closes; sends the URL once it is announced.
fn drain(
    output: impl Read + Send + 'static,
    log: Arc<Mutex<File>>,
    problems: Arc<AtomicU64>,
    mut url_sender: Option<mpsc::Sender<String>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = url_sender.as_ref().and_then(|_| listening_url(&line)) {
                let _ = url_sender.take().expect("checked above").send(url);
            }
            if is_problem(&line) && problems.fetch_add(1, Ordering::Relaxed) < ECHOED_PROBLEMS_MAX {
                eprintln!("kassa| {line}");
            }
            let _ = writeln!(log.lock(), "{line}");
        }
    })
}

/// The URL in the engine's `listening on http://…` line: the token after the marker.
pub fn listening_url(line: &str) -> Option<String> {
    let start = line.find(LISTENING_MARKER)? + LISTENING_MARKER.len() - "http://".len();
    let url = line[start..].split_whitespace().next()?;
    Some(url.to_owned())
}

fn is_problem(line: &str) -> bool {
    line.contains(" WARN ") || line.contains(" ERROR ")
}

/// `target/release/kassa` beside this binary, unless a path is given.
pub fn engine_binary(given: Option<&Path>) -> PathBuf {
    if let Some(path) = given {
        return path.to_owned();
    }
    let beside = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_owned));
    beside.unwrap_or_default().join(format!("kassa{}", std::env::consts::EXE_SUFFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_read_off_the_start_up_line() {
        let line = "2026-01-01T00:00:00.000Z  INFO kassa::app: listening on http://127.0.0.1:41234 data_dir=/tmp/x";
        assert_eq!(listening_url(line).as_deref(), Some("http://127.0.0.1:41234"));
        assert_eq!(listening_url("INFO kassa::app: starting"), None);
    }

    #[test]
    fn warnings_and_errors_are_problems() {
        assert!(is_problem("2026-01-01T00:00:00Z  WARN kassa::store: slow flush"));
        assert!(is_problem("2026-01-01T00:00:00Z ERROR kassa::api: boom"));
        assert!(!is_problem("2026-01-01T00:00:00Z  INFO kassa::app: listening"));
    }
}
