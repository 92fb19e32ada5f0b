//! Unique `Idempotency-Key`s: a per-run prefix (so runs against the same engine never collide)
//! and a counter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub struct KeySource {
    prefix: String,
    next: AtomicU64,
}

impl KeySource {
    /// Keys `kb-<run>-<purpose>-<n>`; `<run>` is the start time in nanoseconds.
    pub fn new(purpose: &str) -> Self {
        let run = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos());
        Self { prefix: format!("kb-{run:x}-{purpose}"), next: AtomicU64::new(0) }
    }

    pub fn next_key(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_printable() {
        let keys = KeySource::new("charge");
        let first = keys.next_key();
        let second = keys.next_key();
        assert_ne!(first, second);
        assert!(first.len() <= 255 && first.bytes().all(|byte| (0x20..0x7f).contains(&byte)));
    }
}
