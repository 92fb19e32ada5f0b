//! Wall-clock time as Kassa keeps it: Unix seconds, in UTC.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_unix_secs() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
}
