//! Shared harness for Kassa's integration tests.
//!
//! Every test starts the real `kassa` binary (`CARGO_BIN_EXE_kassa`) on a fresh temporary data
//! directory, with a config file written for that test, waits for its `listening on http://…` log
//! line and for `/readyz`, and from then on talks to it only over HTTP, as a platform's backend
//! would. A restart reuses the data directory on a new port; `kill` is SIGKILL (a crash),
//! `stop_graceful` is SIGTERM. The helpers below page through lists, read the sandbox ledger and
//! Prometheus gauges, and check the error envelope, so each test file states its claims in a few
//! lines. Every wait is bounded; a timeout panics with the engine's captured output.
//!
//! With `KASSA_TEST_STORAGE=postgres` every engine a test starts (unless its config names a
//! backend) runs on a fresh PostgreSQL database of its own (see `kassa_testkit::postgres`)
//! instead of sled: the same tests, on the other backend.

// Each test binary uses a different subset of this module.
#![allow(dead_code)]

mod api;
mod billing;
pub mod browser;
pub mod checkout;
mod config;
pub mod raw;
pub mod receiver;
pub use api::*;
pub use billing::*;
pub use config::*;

use std::collections::VecDeque;
use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use serde_json::{Value, json};
use tempfile::TempDir;

pub const ACCOUNT_A: &str = "acct_a";
pub const KEY_A: &str = "sk_test_account_a_secret_1";
pub const ACCOUNT_B: &str = "acct_b";
pub const KEY_B: &str = "sk_test_account_b_secret_1";
/// The admin key of an engine started `with_admin_key`.
pub const ADMIN_KEY: &str = "admin_test_key_0123456789abcdefghijklmn";

/// Start-up (listening line, then `/readyz`) must finish within this.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// A SIGTERM'd engine must exit within this.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// No single HTTP request of a test may take longer than this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on pages read by `list_all` (100 items each): far above any test's data.
const LIST_PAGES_MAX: usize = 1_000;
/// Captured output lines kept per engine (the tail), shown when a test panics.
const LOG_LINES_KEPT_MAX: usize = 20_000;
/// Lines of captured output quoted in a panic message.
const LOG_LINES_SHOWN_MAX: usize = 200;
/// Pause between two probes of a polled condition.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

type Log = Arc<Mutex<VecDeque<String>>>;

fn push_log(log: &Log, line: String) {
    let mut lines = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if lines.len() == LOG_LINES_KEPT_MAX {
        lines.pop_front();
    }
    lines.push_back(line);
}

/// A `kassa serve` process on its own data directory, restartable on the same directory.
pub struct Engine {
    dir: TempDir,
    config_path: PathBuf,
    data_dir: PathBuf,
    log: Log,
    process: Option<Child>,
    starts: usize,
    base_url: String,
    /// Where `/metrics` is served (the metrics listener, loopback on a free port).
    metrics_url: String,
    http: reqwest::Client,
    /// The storage settings every start of this engine is given (see the module's comment).
    storage_env: Vec<(&'static str, String)>,
}

impl Engine {
    /// Writes `config` into a fresh temporary directory and starts the engine on it.
    pub async fn start(config: Config) -> Engine {
        Engine::start_on(config, |_| {}).await
    }

    /// [`Engine::start`], once `prepare` has filled the data directory (an earlier build's).
    pub async fn start_on(config: Config, prepare: impl FnOnce(&Path)) -> Engine {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let data_dir = dir.path().join("data");
        prepare(&data_dir);
        let config_path = dir.path().join("kassa.toml");
        std::fs::write(&config_path, config.to_toml(&data_dir)).expect("write the config file");
        let storage_env = storage_env(&config);
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("build the HTTP client");
        let mut engine = Engine {
            dir,
            config_path,
            data_dir,
            log: Arc::new(Mutex::new(VecDeque::new())),
            process: None,
            starts: 0,
            base_url: String::new(),
            metrics_url: String::new(),
            http,
            storage_env,
        };
        engine.launch().await;
        engine
    }

    /// Starts the engine again on the same data directory (after `kill` or `stop_graceful`).
    pub async fn launch(&mut self) {
        assert!(self.process.is_none(), "launch: the engine is already running");
        self.starts += 1;
        let launch = Launch {
            config_path: self.config_path.clone(),
            data_dir: self.data_dir.clone(),
            work_dir: self.dir.path().to_path_buf(),
            log: self.log.clone(),
            start_number: self.starts,
            storage_env: self.storage_env.clone(),
        };
        // Reading the child's output blocks, so it runs off the async runtime.
        let (child, base_url, metrics_url) = tokio::task::spawn_blocking(move || launch.run())
            .await
            .unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()));
        self.process = Some(child);
        self.base_url = base_url;
        self.metrics_url = metrics_url.unwrap_or_default();
        self.wait_ready().await;
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let url = format!("{}/readyz", self.base_url);
        loop {
            if let Some(status) = self.exit_status() {
                panic!(
                    "kassa exited ({status}) before /readyz answered 200; output:\n{}",
                    self.log_tail()
                );
            }
            let last = match self.http.get(&url).send().await {
                Ok(response) if response.status() == 200 => return,
                Ok(response) => format!("status {}", response.status()),
                Err(error) => format!("transport error: {error}"),
            };
            if Instant::now() > deadline {
                panic!(
                    "kassa's /readyz did not answer 200 within {STARTUP_TIMEOUT:?} (last: {last}); \
                     output:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    fn exit_status(&mut self) -> Option<ExitStatus> {
        let child = self.process.as_mut()?;
        child.try_wait().expect("poll the kassa process")
    }

    /// Crashes the engine: SIGKILL, no chance to flush or finish anything.
    pub fn kill(&mut self) {
        let mut child = self.process.take().expect("kill: the engine is not running");
        child.kill().expect("send SIGKILL to kassa");
        child.wait().expect("reap the killed kassa");
        push_log(&self.log, "===== harness: kassa killed with SIGKILL =====".to_string());
    }

    /// `kill -9` in the middle of a test clock advance: advances `clock` to `to` in a task,
    /// polls `progress` every 5 ms and kills the engine once it counts `kill_after` (`what`, for
    /// the messages) or the advance has finished, then waits for the advance request to end.
    /// Answers the count last seen and whether the advance had finished before the kill; panics
    /// when neither happens within `timeout`.
    pub async fn kill_during_advance<F, Fut>(
        &mut self,
        (clock, to): (&str, i64),
        (kill_after, what): (usize, &str),
        timeout: Duration,
        mut progress: F,
    ) -> (usize, bool)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = usize>,
    {
        let advance = {
            let (api, clock) = (self.api_a(), clock.to_owned());
            tokio::spawn(async move { api.try_advance_clock(&clock, to).await })
        };
        let deadline = Instant::now() + timeout;
        let seen = loop {
            let seen = progress().await;
            if seen >= kill_after || advance.is_finished() {
                break seen;
            }
            assert!(
                Instant::now() < deadline,
                "{seen} {what} after {timeout:?}\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let finished_before_the_kill = advance.is_finished();
        self.kill();
        eprintln!(
            "killed after {seen}+ {what}; the advance had {}finished",
            if finished_before_the_kill { "" } else { "not " }
        );
        let _cut_short = tokio::time::timeout(Duration::from_secs(60), advance)
            .await
            .expect("the advance request did not end after the kill")
            .expect("the advance task panicked");
        (seen, finished_before_the_kill)
    }

    /// Asks the engine to stop (SIGTERM) and waits for it to exit; returns its exit status.
    pub async fn stop_graceful(&mut self) -> ExitStatus {
        let mut child = self.process.take().expect("stop_graceful: the engine is not running");
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("run `kill -TERM`");
        assert!(sent.success(), "`kill -TERM {}` failed: {sent}", child.id());
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("poll the stopping kassa") {
                push_log(&self.log, format!("===== harness: kassa stopped: {status} ====="));
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "kassa did not exit within {STOP_TIMEOUT:?} of SIGTERM; output:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// SIGTERM, wait, start again on the same data directory (new port).
    pub async fn restart_graceful(&mut self) -> ExitStatus {
        let status = self.stop_graceful().await;
        self.launch().await;
        status
    }

    /// Rewrites the config file: the next `launch` starts with `config`.
    pub fn reconfigure(&self, config: Config) {
        std::fs::write(&self.config_path, config.to_toml(&self.data_dir))
            .expect("rewrite the config file");
    }

    /// SIGKILL, start again on the same data directory (new port).
    pub async fn restart_after_kill(&mut self) {
        self.kill();
        self.launch().await;
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Holds the engine's flusher: nothing written from now on becomes durable, and no answer
    /// that waits for durability is given, until [`Self::release_flushes`].
    pub fn hold_flushes(&self) {
        std::fs::write(hold_flush_path(self.dir.path()), b"").expect("write the hold file");
    }

    pub fn release_flushes(&self) {
        std::fs::remove_file(hold_flush_path(self.dir.path())).expect("remove the hold file");
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Whether the harness put this engine on PostgreSQL (`KASSA_TEST_STORAGE=postgres`): its
    /// data directory then holds none of the store's records.
    pub fn on_postgres(&self) -> bool {
        !self.storage_env.is_empty()
    }

    /// The API's `host:port`, for raw TCP clients.
    pub fn address(&self) -> String {
        self.base_url.trim_start_matches("http://").to_string()
    }

    /// The engine's process id (for /proc).
    pub fn pid(&self) -> u32 {
        self.process.as_ref().expect("the engine is running").id()
    }

    /// A client with `Authorization: Bearer <key>`.
    pub fn api(&self, key: &str) -> Api {
        self.api_with_authorization(Some(format!("Bearer {key}")))
    }

    pub fn api_a(&self) -> Api {
        self.api(KEY_A)
    }

    pub fn api_b(&self) -> Api {
        self.api(KEY_B)
    }

    /// A client that sends the given `Authorization` header verbatim (or none).
    pub fn api_with_authorization(&self, authorization: Option<String>) -> Api {
        Api { http: self.http.clone(), base_url: self.base_url.clone(), authorization }
    }

    /// Like `api`, but on a connection pool of its own: for requests after which the engine may
    /// close the connection (a refused oversized body), so they cannot disturb other requests.
    pub fn api_own_connections(&self, key: &str) -> Api {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("build the HTTP client");
        Api { http, base_url: self.base_url.clone(), authorization: Some(format!("Bearer {key}")) }
    }

    /// Everything the engine printed (stdout and stderr, all starts), the last lines of it.
    pub fn log_tail(&self) -> String {
        let lines = self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let skip = lines.len().saturating_sub(LOG_LINES_SHOWN_MAX);
        let shown: Vec<&str> = lines.iter().skip(skip).map(String::as_str).collect();
        shown.join("\n")
    }

    /// Everything captured (up to `LOG_LINES_KEPT_MAX` lines), for searching.
    pub fn log_text(&self) -> String {
        let lines = self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let all: Vec<&str> = lines.iter().map(String::as_str).collect();
        all.join("\n")
    }

    /// A client of the metrics listener (no key): `.get("/metrics")` scrapes it.
    pub fn metrics_api(&self) -> Api {
        assert!(!self.metrics_url.is_empty(), "the engine logged no metrics address");
        Api { http: self.http.clone(), base_url: self.metrics_url.clone(), authorization: None }
    }

    /// The value of a Prometheus sample from `GET /metrics` (summed over its label sets).
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let response = self.metrics_api().get("/metrics").await;
        assert_eq!(response.status, 200, "GET /metrics: {}", response.text);
        parse_metric(&response.text, name)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What one start of the engine needs, movable to a blocking thread.
/// The engine's flusher waits while this file exists (`store/flush_hold.rs`).
const HOLD_FLUSH_ENV: &str = "KASSA_TEST_HOLD_FLUSH";

fn hold_flush_path(work_dir: &Path) -> PathBuf {
    work_dir.join("hold-flush")
}

struct Launch {
    config_path: PathBuf,
    data_dir: PathBuf,
    work_dir: PathBuf,
    log: Log,
    start_number: usize,
    storage_env: Vec<(&'static str, String)>,
}

/// The `kassa` binary as a command, none of the test's own `KASSA_*` settings leaking into it.
pub fn kassa_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kassa"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("KASSA_") {
            command.env_remove(name);
        }
    }
    command
}

/// `kassa verify-ledger` over a stopped engine's data directory, which must find the books
/// balanced: what it said.
pub fn books_balance(data_dir: &Path) -> String {
    let verified = verify_ledger(data_dir);
    let said = String::from_utf8_lossy(&verified.stdout).into_owned();
    assert!(verified.status.success(), "{said}{}", String::from_utf8_lossy(&verified.stderr));
    said
}

/// `kassa export` of `account`'s books as `format` into `out`, which must succeed.
pub fn export_books(data_dir: &Path, account: &str, format: &str, out: &Path) {
    let exported = kassa_command()
        .args(["export", "--account", account, "--format", format, "--data"])
        .arg(data_dir)
        .arg("--out")
        .arg(out)
        .current_dir(out)
        .output()
        .expect("run kassa export");
    let said = String::from_utf8_lossy(&exported.stdout);
    assert!(exported.status.success(), "{said}{}", String::from_utf8_lossy(&exported.stderr));
}

/// `kassa verify-ledger` over a stopped engine's data directory.
pub fn verify_ledger(data_dir: &Path) -> std::process::Output {
    let work = tempfile::tempdir().unwrap();
    kassa_command()
        .args(["verify-ledger", "--data"])
        .arg(data_dir)
        .current_dir(work.path())
        .output()
        .expect("run kassa verify-ledger")
}

impl Launch {
    /// The child, its API's URL and its metrics listener's (logged just before the API's).
    fn run(self) -> (Child, String, Option<String>) {
        push_log(&self.log, format!("===== harness: kassa start #{} =====", self.start_number));
        let mut command = kassa_command();
        command
            .arg("serve")
            .arg("--config")
            .arg(&self.config_path)
            .env("KASSA_DATA_DIR", &self.data_dir)
            .env("KASSA_LISTEN", "127.0.0.1:0")
            .env("KASSA_LOG", "info")
            .env(HOLD_FLUSH_ENV, hold_flush_path(&self.work_dir))
            .env("NO_COLOR", "1")
            .envs(self.storage_env.iter().map(|(name, value)| (name, value)))
            .env_remove("RUST_LOG")
            .current_dir(&self.work_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("spawn {}: {error}", env!("CARGO_BIN_EXE_kassa")));
        let (lines_tx, lines_rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        drain(stdout, "", self.log.clone(), lines_tx.clone());
        drain(stderr, "[stderr] ", self.log.clone(), lines_tx);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut metrics_url = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = parse_metrics_url(&line) {
                        metrics_url = Some(url);
                    }
                    if let Some(base_url) = parse_listen_url(&line) {
                        return (child, base_url, metrics_url);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "kassa did not log `listening on http://…` within {STARTUP_TIMEOUT:?}; \
                         output:\n{}",
                        tail_of(&self.log)
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = child.wait();
                    panic!(
                        "kassa closed its output before logging `listening on http://…` \
                         (exit: {status:?}); output:\n{}",
                        tail_of(&self.log)
                    );
                }
            }
        }
    }
}

fn tail_of(log: &Log) -> String {
    let lines = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let skip = lines.len().saturating_sub(LOG_LINES_SHOWN_MAX);
    let shown: Vec<&str> = lines.iter().skip(skip).map(String::as_str).collect();
    shown.join("\n")
}

/// Reads a pipe to its end on its own thread, so the engine never blocks on a full pipe.
fn drain(
    pipe: impl Read + Send + 'static,
    prefix: &'static str,
    log: Log,
    lines: mpsc::Sender<String>,
) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = strip_ansi(&String::from_utf8_lossy(&buffer)).trim_end().to_string();
            push_log(&log, format!("{prefix}{line}"));
            // Nobody listens after start-up; the line is in the log anyway.
            let _ = lines.send(line);
        }
    });
}

/// Removes ANSI escape sequences (colours) from a log line.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

/// `… listening on http://127.0.0.1:PORT …` → `http://127.0.0.1:PORT`.
pub fn parse_listen_url(line: &str) -> Option<String> {
    const MARKER: &str = "listening on ";
    let at = line.find("listening on http://")?;
    let token = line[at + MARKER.len()..].split_whitespace().next()?;
    let url = token.trim_end_matches(['"', '\'', ',', ';', ')', '}', '/', '.']);
    Some(url.to_string())
}

/// `… serving /metrics at http://127.0.0.1:PORT/metrics` → `http://127.0.0.1:PORT`.
pub fn parse_metrics_url(line: &str) -> Option<String> {
    const MARKER: &str = "serving /metrics at ";
    let at = line.find(MARKER)?;
    let token = line[at + MARKER.len()..].split_whitespace().next()?;
    Some(token.trim_end_matches("/metrics").to_string())
}

/// The sum of a metric's samples in Prometheus text exposition, or `None` if it has none.
pub fn parse_metric(text: &str, name: &str) -> Option<f64> {
    let mut total = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            continue;
        }
        let value = rest.rsplit('}').next().unwrap_or(rest).split_whitespace().next()?;
        let value: f64 = value.parse().ok()?;
        total = Some(total.unwrap_or(0.0) + value);
    }
    total
}

/// Every file under `dir`, with its bytes, sorted by path: what a test compares a data directory
/// by, or searches for stored text.
pub fn file_contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(directory) = pending.pop() {
        let entries = std::fs::read_dir(&directory)
            .unwrap_or_else(|error| panic!("read directory {}: {error}", directory.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
            found.push((path, bytes));
        }
    }
    found.sort();
    found
}

/// Every file under `dir` whose bytes contain `needle`. sled 0.34 compresses nothing unless
/// built with its `compression` feature, which Kassa does not enable, so stored text is there
/// as written.
pub fn files_holding(dir: &Path, needle: impl AsRef<[u8]>) -> Vec<PathBuf> {
    let needle = needle.as_ref();
    file_contents(dir)
        .into_iter()
        .filter(|(_, bytes)| bytes.windows(needle.len()).any(|window| window == needle))
        .map(|(path, _)| path)
        .collect()
}

/// Stripe's event `kind` about `object`, signed with `secret` and delivered to the engine's
/// Stripe webhook; asserts it was taken (200).
pub async fn deliver_stripe_event(
    engine: &Engine,
    secret: &str,
    (event_id, kind): (&str, &str),
    object: &Value,
) {
    let event = json!({
        "id": event_id, "object": "event", "type": kind,
        "created": now_secs(), "data": {"object": object}});
    let body = serde_json::to_vec(&event).unwrap();
    let header = stripe_signature(secret, &body, now_secs());
    let delivered = engine
        .api_with_authorization(None)
        .post_webhook("/v1/webhooks/stripe", body, Some(&header))
        .await;
    assert_eq!(delivered.status, 200, "{}", delivered.text);
}
