//! A real PostgreSQL server for tests of the store's PostgreSQL backend, and a fresh database
//! in it for each test.
//!
//! With `KASSA_TEST_DATABASE_URL` set to a server's URL without a database
//! (`postgres://user@host:port`, a server a developer runs), databases are made in that server. Otherwise the first test to ask starts a private server of the distribution's
//! PostgreSQL (`initdb` and `pg_ctl` from `/usr/lib/postgresql/<version>/bin` or the `PATH`) in a
//! temporary directory on a free loopback port, and stops and removes it when the test process
//! exits. A machine without PostgreSQL fails these tests with a message saying what to install:
//! they are never skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The server every test of this process makes its databases in.
struct Server {
    /// `postgres://user@host:port`, without a database.
    base_url: String,
    /// The maintenance database's URL: where databases are created.
    admin_url: String,
}

static SERVER: OnceLock<Server> = OnceLock::new();

/// The private server: its directory, binaries and start options, for the exit hook to stop and
/// remove it and for tests to stop and start it.
static PRIVATE: OnceLock<Private> = OnceLock::new();

struct Private {
    directory: PathBuf,
    bin: PathBuf,
    options: String,
}

static NEXT_DATABASE: AtomicU32 = AtomicU32::new(0);

/// A new, empty database, and its URL (`postgres://…/kassa_test_<pid>_<n>`).
pub fn fresh_database() -> String {
    let server = SERVER.get_or_init(start);
    let name = format!(
        "kassa_test_{}_{}",
        std::process::id(),
        NEXT_DATABASE.fetch_add(1, Ordering::SeqCst)
    );
    let psql = psql_path();
    let output = Command::new(&psql)
        .args([&server.admin_url, "-q", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", psql.display()));
    succeeded(&output, "CREATE DATABASE");
    format!("{}/{name}", server.base_url)
}

fn start() -> Server {
    if let Ok(url) = std::env::var("KASSA_TEST_DATABASE_URL") {
        let base_url = url.trim_end_matches('/').to_owned();
        return Server { admin_url: format!("{base_url}/postgres"), base_url };
    }
    start_private()
}

fn start_private() -> Server {
    let bin = bin_directory();
    let directory = std::env::temp_dir().join(format!("kassa-test-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("create the test server's directory");
    let as_owner = OwnerOfFiles::for_this_process(&directory);
    let data = directory.join("data");
    let mut initdb = as_owner.command(&bin.join("initdb"));
    let output = initdb
        .args(["-D", path_str(&data), "-U", "kassa", "--auth=trust", "--no-sync", "-E", "UTF8"])
        .output()
        .expect("run initdb");
    succeeded(&output, "initdb");
    let port = free_port();
    let options = format!(
        "-c listen_addresses=127.0.0.1 -p {port} -k {} -c max_connections=200 \
         -c shared_buffers=64MB -c fsync=on -c synchronous_commit=on",
        path_str(&directory)
    );
    let private = PRIVATE.get_or_init(|| Private { directory: directory.clone(), bin, options });
    // Stops the server when the test process exits, whatever the tests did.
    unsafe { libc_atexit(stop_private) };
    private.start();
    let base_url = format!("postgres://kassa@127.0.0.1:{port}");
    Server { admin_url: format!("{base_url}/postgres"), base_url }
}

impl Private {
    fn pg_ctl(&self) -> Command {
        let as_owner = OwnerOfFiles::for_this_process(&self.directory);
        let mut command = as_owner.command(&self.bin.join("pg_ctl"));
        command.args(["-D", path_str(&self.directory.join("data"))]);
        command
    }

    fn start(&self) {
        let output = self
            .pg_ctl()
            .args(["-o", &self.options, "-l"])
            .arg(self.directory.join("server.log"))
            .args(["-w", "-t", "60", "start"])
            .output()
            .expect("run pg_ctl start");
        succeeded(&output, "pg_ctl start");
    }

    fn stop(&self, mode: &str) -> Output {
        self.pg_ctl().args(["-m", mode, "-w", "stop"]).output().expect("run pg_ctl stop")
    }
}

/// Stops the private server (as its host going down would: connections cut at once), for a
/// test of what clients see meanwhile. Only for a test binary of its own: every test of the
/// process loses the server.
pub fn stop_server() {
    let private =
        PRIVATE.get().expect("a private server was started (KASSA_TEST_DATABASE_URL unset)");
    succeeded(&private.stop("immediate"), "pg_ctl stop");
}

/// Starts the private server again after [`stop_server`], on the same port and data.
pub fn start_server() {
    PRIVATE.get().expect("a private server was started").start();
}

extern "C" fn stop_private() {
    let Some(private) = PRIVATE.get() else { return };
    let _ = private.stop("immediate");
    let _ = std::fs::remove_dir_all(&private.directory);
}

unsafe extern "C" {
    #[link_name = "atexit"]
    fn libc_atexit(hook: extern "C" fn()) -> i32;
}

/// PostgreSQL refuses to run as root: under root, its files and processes belong to the
/// distribution's `postgres` user.
enum OwnerOfFiles {
    Me,
    Postgres,
}

impl OwnerOfFiles {
    fn for_this_process(directory: &Path) -> OwnerOfFiles {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
            .unwrap_or(false);
        if !root {
            return OwnerOfFiles::Me;
        }
        let output = Command::new("chown")
            .args(["-R", "postgres:", path_str(directory)])
            .output()
            .expect("run chown");
        succeeded(&output, "chown to the postgres user (is PostgreSQL installed?)");
        OwnerOfFiles::Postgres
    }

    fn command(&self, program: &Path) -> Command {
        match self {
            OwnerOfFiles::Me => Command::new(program),
            OwnerOfFiles::Postgres => {
                let mut command = Command::new("runuser");
                command.args(["-u", "postgres", "--"]).arg(program);
                command
            }
        }
    }
}

/// The newest installed PostgreSQL's binaries.
fn bin_directory() -> PathBuf {
    if let Ok(bin) = std::env::var("KASSA_TEST_PG_BIN") {
        return PathBuf::from(bin);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL's server is not installed (no /usr/lib/postgresql/*/bin/initdb): \
             `apt-get install postgresql`, or set KASSA_TEST_DATABASE_URL to a server's URL"
        ),
    }
}

fn psql_path() -> PathBuf {
    if std::env::var("KASSA_TEST_DATABASE_URL").is_err() {
        return bin_directory().join("psql");
    }
    PathBuf::from("psql")
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("the bound port").port()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

fn succeeded(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
