//! Wall-clock time as the API shows it: Unix seconds, the one clock the gateways keep too.

pub use kassa_gateways::time::now_unix_secs;
