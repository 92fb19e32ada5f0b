//! What one rule call runs in: a store whose WASI context grants nothing, a memory cap, and a
//! bounded stderr kept for the error message.
//!
//! A component built from Rust for wasm32-wasip2 imports WASI's cli and io interfaces even when
//! the rule never touches them (std's start-up and panic machinery do). They are satisfied, and
//! give nothing: no arguments, no environment, stdin closed, stdout discarded, clocks stopped at
//! the epoch and "randomness" that is all zeros — so a rule cannot tell one call from another,
//! and the same input always gives the same output. Filesystem and socket imports are refused at
//! upload ([`super::component`]), and the context has no preopened directory and no network
//! permission besides.

use std::fmt;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use crate::limits::RULE_STDERR_BYTES_MAX;

/// How much of a rule's stderr goes into its error message: a panic is two lines.
const STDERR_EXCERPT_LINES: usize = 2;
const STDERR_EXCERPT_CHARS_MAX: usize = 500;

/// Table elements one instance may grow to: a rule's function tables are small.
const TABLE_ELEMENTS_MAX: usize = 100_000;

/// The bounds of every rule call.
#[derive(Debug, Clone, Copy)]
pub struct CallLimits {
    pub fuel: u64,
    pub memory_bytes_max: usize,
    /// `rules.call_timeout_ms`, and the epoch ticks that cover it ([`super::deadline`]).
    pub timeout: Duration,
    pub deadline_ticks: u64,
}

pub struct Isolated {
    /// Built on the rule's first WASI call. Most calls make none (std's panic path is the usual
    /// caller), and they do not pay for building it.
    wasi: Option<Wasi>,
    table: ResourceTable,
    limiter: MemoryCap,
}

struct Wasi {
    ctx: WasiCtx,
    stderr: MemoryOutputPipe,
}

impl Wasi {
    /// A context that grants nothing: see the module's comment.
    fn granting_nothing() -> Wasi {
        let stderr = MemoryOutputPipe::new(RULE_STDERR_BYTES_MAX);
        let ctx = WasiCtx::builder()
            .stderr(stderr.clone())
            .wall_clock(StoppedClock)
            .monotonic_clock(StoppedClock)
            .secure_random(wasmtime_wasi::Deterministic::new(vec![0]))
            .insecure_random(wasmtime_wasi::Deterministic::new(vec![0]))
            .insecure_random_seed(0)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Wasi { ctx, stderr }
    }
}

impl WasiView for Isolated {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let wasi = self.wasi.get_or_insert_with(Wasi::granting_nothing);
        WasiCtxView { ctx: &mut wasi.ctx, table: &mut self.table }
    }
}

impl Isolated {
    /// A fresh store for one call, fuelled and capped.
    pub fn store(engine: &wasmtime::Engine, limits: CallLimits) -> Store<Isolated> {
        let sandbox = Isolated {
            wasi: None,
            table: ResourceTable::new(),
            limiter: MemoryCap { bytes_max: limits.memory_bytes_max },
        };
        let mut store = Store::new(engine, sandbox);
        store.limiter(|sandbox| &mut sandbox.limiter);
        store.set_fuel(limits.fuel).expect("the engine is configured to consume fuel");
        // Past the deadline the call traps (wasmtime's default epoch behaviour).
        store.set_epoch_deadline(limits.deadline_ticks);
        store
    }

    /// The end of what the rule wrote to stderr (a panic's location and message, usually),
    /// without Rust's hint about `RUST_BACKTRACE`, which means nothing in a sandbox.
    pub fn stderr_excerpt(&self) -> Option<String> {
        let bytes = self.wasi.as_ref()?.stderr.contents();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with("note: run with `RUST_BACKTRACE"))
            .collect();
        let tail = &lines[lines.len().saturating_sub(STDERR_EXCERPT_LINES)..];
        (!tail.is_empty()).then(|| tail.join(" ").chars().take(STDERR_EXCERPT_CHARS_MAX).collect())
    }
}

/// The memory cap, as a trap that says what happened rather than a failed `memory.grow` the
/// rule might misreport.
struct MemoryCap {
    bytes_max: usize,
}

/// Why a call was stopped: it asked for more memory than the cap.
#[derive(Debug)]
pub struct MemoryCapExceeded {
    pub desired_bytes: usize,
    pub cap_bytes: usize,
}

impl fmt::Display for MemoryCapExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "it tried to grow its memory to {} KiB, past the cap of {} KiB (rules.memory_max_mib)",
            self.desired_bytes / 1024,
            self.cap_bytes / 1024
        )
    }
}

impl std::error::Error for MemoryCapExceeded {}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.bytes_max {
            return Err(wasmtime::Error::new(MemoryCapExceeded {
                desired_bytes: desired,
                cap_bytes: self.bytes_max,
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= TABLE_ELEMENTS_MAX)
    }
}

/// A clock that always reads the Unix epoch: rules get the time in their input, never here.
struct StoppedClock;

impl HostWallClock for StoppedClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for StoppedClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}
