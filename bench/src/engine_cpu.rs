//! The spawned engine's CPU time, read from `/proc/<pid>/stat` (the user and system time of all
//! its threads). Divided by the requests answered, it is what a request costs the engine: on a
//! shared 2-core machine a steadier figure than throughput, which also moves with the load
//! generator and the machine's neighbours.

use std::time::Duration;

/// Linux reports a process's times in USER_HZ ticks, 100 a second on every architecture (the
/// kernel's ABI, whatever its internal tick rate).
const TICKS_PER_SEC: u64 = 100;

/// The engine process whose CPU time is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineCpu {
    pid: u32,
}

impl EngineCpu {
    pub fn of(pid: u32) -> EngineCpu {
        EngineCpu { pid }
    }

    /// The CPU time the engine has used so far; `None` where `/proc` cannot say (not Linux, or
    /// the engine is gone).
    pub fn used(self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        time_in_stat(&stat)
    }
}

/// User plus system time from a `/proc/<pid>/stat` line.
fn time_in_stat(stat: &str) -> Option<Duration> {
    // The command name (field 2) is in parentheses and may hold spaces and parentheses itself:
    // count the fields from after the last ')', where field 3 begins.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((user + system) * 1_000 / TICKS_PER_SEC))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_system_time_past_a_name_with_spaces() {
        let stat = "4242 (kassa (serve) x) S 1 4242 4242 0 -1 4194560 12 0 0 0 \
                    250 130 0 0 20 0 9 0 100 1000 200";
        assert_eq!(time_in_stat(stat), Some(Duration::from_millis(3_800)));
        assert_eq!(time_in_stat("4242 (kassa) S 1 2"), None);
    }

    #[test]
    fn reads_this_process() {
        let own = EngineCpu::of(std::process::id()).used();
        assert!(own.is_some(), "this process's /proc/<pid>/stat reads");
    }
}
