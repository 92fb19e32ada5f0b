//! Wall-clock bounds on a rule call, beside fuel. Fuel counts instructions; it does not count a
//! rule that waits, nor one that is slow per instruction on a busy machine. So:
//! - every call's store gets an epoch deadline: a ticker thread advances the engine's epoch
//!   every [`RULE_EPOCH_TICK`], and compiled code checks it at function entries and loop heads,
//!   trapping once the call has run `rules.call_timeout_ms` (component start-up at upload too);
//! - no rule may wait: a timer of WASI's monotonic clock (what `std::thread::sleep` and every
//!   timeout use) is refused with a trap when asked for. A wait blocks inside the host, where an
//!   epoch deadline cannot reach it; and a rule's clock is stopped at the epoch anyway (time comes
//!   in its input), so a wait could only ever hold a thread and a slot.

use std::fmt;
use std::time::Duration;

use wasmtime::component::{HasData, Linker, Resource};
use wasmtime::{Engine, EngineWeak};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;

use super::isolation::Isolated;
use crate::limits::RULE_EPOCH_TICK;

/// Epoch ticks that cover at least `timeout`: the first tick may come at once after the
/// deadline is set, so one more than the timeout's count.
pub fn ticks_for(timeout: Duration) -> u64 {
    let tick_ns = RULE_EPOCH_TICK.as_nanos().max(1);
    let ticks = timeout.as_nanos().div_ceil(tick_ns);
    u64::try_from(ticks).unwrap_or(u64::MAX - 1) + 1
}

/// Advances `engine`'s epoch every tick until the engine is dropped.
pub fn start_ticker(engine: &Engine) -> std::io::Result<()> {
    let engine: EngineWeak = engine.weak();
    std::thread::Builder::new().name("kassa-rules-clock".to_owned()).spawn(move || {
        loop {
            std::thread::sleep(RULE_EPOCH_TICK);
            match engine.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => return,
            }
        }
    })?;
    Ok(())
}

/// Replaces the monotonic clock of `linker` (which must allow shadowing) with one that reads
/// the epoch and refuses timers.
pub fn refuse_waiting(linker: &mut Linker<Isolated>) -> wasmtime::Result<()> {
    monotonic_clock::add_to_linker::<Isolated, NoWaiting>(linker, |_| NoWaiting)
}

/// Why a call was stopped: it asked the host to wait.
#[derive(Debug)]
pub struct WaitRefused {
    pub nanos: u64,
}

impl fmt::Display for WaitRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "it asked to wait {} ms (a sleep or a timeout); a rule may not wait: its time comes \
             in its input",
            self.nanos / 1_000_000
        )
    }
}

impl std::error::Error for WaitRefused {}

/// The monotonic clock a rule sees: stopped at 0, and no timers.
pub struct NoWaiting;

impl HasData for NoWaiting {
    type Data<'a> = NoWaiting;
}

impl monotonic_clock::Host for NoWaiting {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(0)
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(1_000_000_000)
    }

    fn subscribe_instant(
        &mut self,
        when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        // The clock reads 0, so an instant is also the wait until it.
        Err(wasmtime::Error::new(WaitRefused { nanos: when }))
    }

    fn subscribe_duration(
        &mut self,
        duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        Err(wasmtime::Error::new(WaitRefused { nanos: duration }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_covers_its_whole_timeout() {
        let tick = RULE_EPOCH_TICK;
        assert_eq!(ticks_for(tick), 2, "one tick, and one for the tick already under way");
        assert_eq!(ticks_for(tick * 10 + Duration::from_nanos(1)), 12);
        assert_eq!(ticks_for(Duration::from_secs(1)), 1_000 / tick.as_millis() as u64 + 1);
    }
}
