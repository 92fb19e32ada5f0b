//! The one wasmtime engine every rule runs on: component model, fuel and an epoch deadline for
//! the time caps ([`super::deadline`]), the pooling allocator for cheap fresh instances, and the
//! linkers: one that offers only the WASI interfaces [`super::isolation`] satisfies with nothing
//! (and a clock that refuses to wait), and one for the inline lane ([`super::plugin`]) where
//! every import traps.

use std::time::Duration;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::deadline;
use super::isolation::{CallLimits, Isolated};
use crate::config::RulesConfig;
use crate::limits::RULE_MEMORY_KEEP_RESIDENT_BYTES;

/// Core instances, memories and tables one component may have: a Rust component has a few core
/// instances (its module and the canonical ABI's shims) and one memory. More is refused at upload.
const CORE_INSTANCES_PER_COMPONENT_MAX: u32 = 16;
const MEMORIES_PER_COMPONENT_MAX: u32 = 2;
const TABLES_PER_COMPONENT_MAX: u32 = 8;

/// Pooled slots beyond `rules.concurrent_calls_max`: an upload's trial instantiation takes one
/// outside the calls' slots, and must not make a concurrent call fail for want of a slot; at
/// most RULE_COMPILES_MAX uploads are compiled at once.
const UPLOAD_SLOTS: u32 = 4;
const _: () = assert!(crate::limits::RULE_COMPILES_MAX as u32 <= UPLOAD_SLOTS);

/// Native stack a rule may use; deeper recursion traps with a stack overflow.
const WASM_STACK_BYTES_MAX: usize = 512 * 1024;

#[derive(Clone)]
pub struct Runtime {
    pub engine: Engine,
    pub linker: Linker<Isolated>,
    pub limits: CallLimits,
}

impl Runtime {
    pub fn new(config: &RulesConfig) -> wasmtime::Result<Runtime> {
        let memory_bytes_max = usize::try_from(config.memory_max_mib * 1024 * 1024)?;
        let slots = config.concurrent_calls_max + UPLOAD_SLOTS;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(slots)
            .total_core_instances(slots * CORE_INSTANCES_PER_COMPONENT_MAX)
            .total_memories(slots * MEMORIES_PER_COMPONENT_MAX)
            .total_tables(slots * TABLES_PER_COMPONENT_MAX)
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT_MAX)
            .max_memories_per_component(MEMORIES_PER_COMPONENT_MAX)
            .max_tables_per_component(TABLES_PER_COMPONENT_MAX)
            .max_memory_size(memory_bytes_max)
            .linear_memory_keep_resident(RULE_MEMORY_KEEP_RESIDENT_BYTES.min(memory_bytes_max))
            .table_keep_resident(64 * 1024);

        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(WASM_STACK_BYTES_MAX)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm)?;
        deadline::start_ticker(&engine)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        linker.allow_shadowing(true);
        deadline::refuse_waiting(&mut linker)?;
        linker.allow_shadowing(false);
        let timeout = Duration::from_millis(config.call_timeout_ms);
        Ok(Runtime {
            engine,
            linker,
            limits: CallLimits {
                fuel: config.fuel_per_call,
                memory_bytes_max,
                timeout,
                deadline_ticks: deadline::ticks_for(timeout),
            },
        })
    }
}

impl Runtime {
    /// A linker for `component`'s inline lane: every import it names traps when called.
    /// wasmtime-wasi's synchronous host calls (stream writes, polls) block on a tokio runtime,
    /// which panics on one of its async workers: there, a rule reaching for WASI must stop.
    pub fn inline_linker(&self, component: &Component) -> wasmtime::Result<Linker<Isolated>> {
        let mut linker = Linker::new(&self.engine);
        linker.define_unknown_imports_as_traps(component)?;
        Ok(linker)
    }
}
