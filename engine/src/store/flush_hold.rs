//! A test's hand on the flusher: while the file named by `KASSA_TEST_HOLD_FLUSH` exists, no flush
//! begins. Invariant 1 (no 2xx before its data is durable) is otherwise only visible in a window
//! one fsync wide; holding the flush lets an integration test show that an answer waits for the
//! flush covering what it shows. Unset, as in production, the hold is never looked at.

use std::path::PathBuf;
use std::thread;
use std::time::Duration;

/// The environment variable naming the hold file.
pub const HOLD_FLUSH_ENV: &str = "KASSA_TEST_HOLD_FLUSH";

/// How often a held flusher looks whether the hold is gone.
const POLL: Duration = Duration::from_millis(5);

pub struct FlushHold(Option<PathBuf>);

impl FlushHold {
    pub fn from_env() -> FlushHold {
        FlushHold(
            std::env::var_os(HOLD_FLUSH_ENV).filter(|path| !path.is_empty()).map(PathBuf::from),
        )
    }

    /// Returns once the hold file is gone, or at once when `stopping` says so: a graceful stop
    /// still flushes what it acknowledged.
    pub fn wait(&self, stopping: impl Fn() -> bool) {
        let Some(path) = &self.0 else { return };
        while path.exists() && !stopping() {
            thread::sleep(POLL);
        }
    }
}
