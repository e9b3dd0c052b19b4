//! Resource limits of one evaluation and the engine configuration that enforces them.

use std::time::Duration;

use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter,
};

/// Limits applied to every policy evaluation. The defaults suit policies written with the
/// `kastell-guest` SDK with a wide margin.
#[derive(Debug, Clone)]
pub struct SandboxLimits {
    /// Fuel (roughly, wasm instructions) one evaluation may burn, instantiation included.
    pub fuel: u64,
    /// Wall-clock bound of one evaluation, a backstop to `fuel`.
    pub wall_clock: Duration,
    /// Largest linear memory a guest may grow to, in bytes.
    pub max_memory: usize,
    /// Largest table a guest may grow to, in elements.
    pub max_table_elements: usize,
    /// Native stack wasm code may use, in bytes.
    pub max_wasm_stack: usize,
    /// Largest component accepted for loading, in bytes.
    pub max_component_size: usize,
    /// Evaluations that may run at the same time (pooling allocator slots).
    pub max_concurrent: u32,
    /// Bytes of each pooled linear memory kept mapped between instances and reset in
    /// place; the rest is returned to the kernel. Larger keeps more pages warm, smaller
    /// scans less on reset.
    pub keep_resident: usize,
    /// Fuel one workload invocation may burn (instantiation included; the policy
    /// evaluations its key calls trigger have their own `fuel`). An HPKE open of a key
    /// release costs about 94 M.
    pub workload_fuel: u64,
    /// Wall-clock bound of one workload invocation, host calls included.
    pub workload_wall_clock: Duration,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            fuel: 20_000_000,
            wall_clock: Duration::from_millis(250),
            max_memory: 16 << 20,
            max_table_elements: 20_000,
            max_wasm_stack: 512 << 10,
            max_component_size: 4 << 20,
            max_concurrent: 128,
            keep_resident: 512 << 10,
            workload_fuel: 2_000_000_000,
            workload_wall_clock: Duration::from_secs(5),
        }
    }
}

/// How often the epoch ticker advances the engine's epoch.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

impl SandboxLimits {
    /// Epoch ticks that make up `wall_clock`; at least 2, since a deadline of one tick can
    /// expire at once.
    pub(crate) fn epoch_ticks(&self) -> u64 {
        ticks(self.wall_clock)
    }
}

/// Epoch ticks that make up `wall_clock`; at least 2, since a deadline of one tick can
/// expire at once.
pub(crate) fn ticks(wall_clock: Duration) -> u64 {
    let ticks = wall_clock.as_micros() / EPOCH_TICK.as_micros();
    u64::try_from(ticks)
        .unwrap_or(u64::MAX)
        .saturating_add(1)
        .max(2)
}

/// Core instances, memories and tables one component may hold (a Rust guest has a few).
const CORE_INSTANCES_PER_COMPONENT: u32 = 16;
const MEMORIES_PER_COMPONENT: u32 = 2;
const TABLES_PER_COMPONENT: u32 = 4;
/// Freed pool slots returned to the kernel together, one `madvise` batch at a time.
const DECOMMIT_BATCH: usize = 16;

fn base_config(limits: &SandboxLimits) -> Config {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(limits.max_wasm_stack)
        .memory_reservation(64 << 20)
        .memory_guard_size(64 << 10)
        .memory_reservation_for_growth(0)
        // Copy a policy's (small) data segments at instantiation rather than mapping them
        // copy-on-write: CoW pages must be unmapped on every reset and fault back in on the
        // next write, which costs more than the copy (−0.5 µs per evaluation, measured).
        .memory_init_cow(false);
    config
}

fn pooling(limits: &SandboxLimits) -> PoolingAllocationConfig {
    let n = limits.max_concurrent.max(1);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
        .total_memories(n.saturating_mul(MEMORIES_PER_COMPONENT))
        .total_tables(n.saturating_mul(TABLES_PER_COMPONENT))
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_memory_size(limits.max_memory)
        .table_elements(limits.max_table_elements)
        .linear_memory_keep_resident(limits.keep_resident)
        .table_keep_resident(64 << 10)
        // Reset only the pages a guest dirtied (Linux 6.7+); without it, every reset
        // clears the whole resident part, which costs 4x for guests with a 1 MiB stack.
        .pagemap_scan(Enabled::Auto)
        .decommit_batch_size(DECOMMIT_BATCH);
    pool
}

/// Which instance allocator the engine ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocator {
    /// Pre-reserved slots, reset in place between instances (the fast path).
    Pooling,
    /// Memory mapped per instance: the fallback when the pool cannot be reserved.
    OnDemand,
}

/// Builds the engine: pooling allocator first, on-demand when the machine cannot reserve
/// the pool's address space.
pub(crate) fn engine(limits: &SandboxLimits) -> wasmtime::Result<(Engine, Allocator)> {
    let mut config = base_config(limits);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(limits)));
    match Engine::new(&config) {
        Ok(engine) => Ok((engine, Allocator::Pooling)),
        Err(err) => {
            tracing::warn!(
                error = %format!("{err:#}"),
                "pooling allocator unavailable; falling back to on-demand instances (slower)"
            );
            Ok((Engine::new(&base_config(limits))?, Allocator::OnDemand))
        }
    }
}

/// Per-evaluation memory and table limiter that remembers what a guest asked for.
#[derive(Debug)]
pub(crate) struct Limiter {
    max_memory: usize,
    max_table_elements: usize,
    /// The memory size, in bytes, of a refused growth.
    pub(crate) memory_refused: Option<usize>,
    /// The table size, in elements, of a refused growth.
    pub(crate) table_refused: Option<usize>,
}

impl Limiter {
    pub(crate) fn new(limits: &SandboxLimits) -> Self {
        Self {
            max_memory: limits.max_memory,
            max_table_elements: limits.max_table_elements,
            memory_refused: None,
            table_refused: None,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.memory_refused = Some(desired);
            wasmtime::bail!("memory limit: guest asked for {desired} bytes");
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_table_elements {
            self.table_refused = Some(desired);
            wasmtime::bail!("table limit: guest asked for {desired} elements");
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_ticks_never_below_two() {
        let mut limits = SandboxLimits {
            wall_clock: Duration::ZERO,
            ..SandboxLimits::default()
        };
        assert_eq!(limits.epoch_ticks(), 2);
        limits.wall_clock = Duration::from_millis(100);
        assert_eq!(limits.epoch_ticks(), 21);
    }

    #[test]
    fn limiter_refuses_growth_past_cap_and_records_it() {
        let mut limiter = Limiter::new(&SandboxLimits::default());
        assert!(limiter.memory_growing(0, 1 << 20, None).expect("under cap"));
        assert!(limiter.memory_growing(0, 64 << 20, None).is_err());
        assert_eq!(limiter.memory_refused, Some(64 << 20));
        assert!(limiter.table_growing(0, 1_000_000, None).is_err());
        assert_eq!(limiter.table_refused, Some(1_000_000));
    }
}
