//! What an evaluation decided, and why a denial happened.

use std::fmt;
use std::time::Duration;

use wasmtime::Trap;

use super::limits::{Limiter, SandboxLimits};

/// Longest deny reason a policy may return, in bytes.
pub const MAX_REASON_LEN: usize = 1024;

/// The outcome of one policy evaluation. Anything but [`Verdict::Allow`] denies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The policy allowed the operation.
    Allow,
    /// The operation is refused.
    Deny(DenyCause),
}

impl Verdict {
    /// Whether the operation may proceed.
    #[must_use]
    pub fn is_allow(&self) -> bool {
        matches!(self, Self::Allow)
    }
}

/// Why an evaluation denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyCause {
    /// The policy returned `deny` with this reason.
    Policy(String),
    /// The sandbox stopped the guest or refused its answer (fail closed).
    Fault(Fault),
}

impl fmt::Display for DenyCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Policy(reason) => f.write_str(reason),
            Self::Fault(fault) => write!(f, "sandbox: {fault}"),
        }
    }
}

/// A failure of the guest or of its answer. Each one denies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Fault {
    /// The guest burned all its fuel.
    #[error("out of fuel ({limit} units)")]
    OutOfFuel {
        /// The fuel it was given.
        limit: u64,
    },
    /// The guest ran past the wall-clock bound.
    #[error("timed out after {limit:?}")]
    Timeout {
        /// The bound.
        limit: Duration,
    },
    /// The guest tried to grow its memory past the cap.
    #[error("memory limit: asked for {requested} bytes, the cap is {limit}")]
    MemoryLimit {
        /// Size asked for.
        requested: usize,
        /// The cap.
        limit: usize,
    },
    /// The guest tried to grow a table past the cap.
    #[error("table limit: asked for {requested} elements, the cap is {limit}")]
    TableLimit {
        /// Size asked for.
        requested: usize,
        /// The cap.
        limit: usize,
    },
    /// The guest exhausted its stack.
    #[error("stack overflow")]
    StackOverflow,
    /// The guest called an import that policies cannot use (a panic writes to stderr).
    #[error("guest called `{import}`, which is denied to policies (a Rust panic ends here)")]
    ForbiddenCall {
        /// The import's name.
        import: String,
    },
    /// The guest trapped.
    #[error("trap: {0}")]
    Trap(String),
    /// The guest's answer broke the contract.
    #[error("malformed result: {0}")]
    MalformedResult(String),
    /// The guest could not be instantiated (e.g. the instance pool is exhausted).
    #[error("instantiation failed: {0}")]
    Instantiation(String),
}

/// Classifies an error that ended a guest call. The limiter's record wins over the trap
/// code, because a refused growth surfaces as a generic trap.
pub(crate) fn classify(err: &wasmtime::Error, limiter: &Limiter, limits: &SandboxLimits) -> Fault {
    if let Some(requested) = limiter.memory_refused {
        return Fault::MemoryLimit {
            requested,
            limit: limits.max_memory,
        };
    }
    if let Some(requested) = limiter.table_refused {
        return Fault::TableLimit {
            requested,
            limit: limits.max_table_elements,
        };
    }
    if let Some(trap) = err.downcast_ref::<Trap>() {
        return match trap {
            Trap::OutOfFuel => Fault::OutOfFuel { limit: limits.fuel },
            Trap::Interrupt => Fault::Timeout {
                limit: limits.wall_clock,
            },
            Trap::StackOverflow => Fault::StackOverflow,
            other => Fault::Trap(other.to_string()),
        };
    }
    let text = format!("{err:#}");
    if let Some(import) = unknown_import(&text) {
        return Fault::ForbiddenCall {
            import: import.to_owned(),
        };
    }
    Fault::MalformedResult(truncate(&text, 300))
}

/// The import named by wasmtime's "unknown import: `NAME` has not been defined" trap.
fn unknown_import(text: &str) -> Option<&str> {
    let rest = text.split_once("unknown import: `")?.1;
    Some(rest.split_once('`')?.0)
}

/// Keeps at most `max` bytes of `text`, cut on a character boundary.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_import_in_wasmtime_trap_text() {
        let text = "error while executing: unknown import: `wasi:cli/stderr@0.2.6#get-stderr` has not been defined";
        assert_eq!(
            unknown_import(text),
            Some("wasi:cli/stderr@0.2.6#get-stderr")
        );
        assert_eq!(unknown_import("something else"), None);
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("ééé", 3), "é…");
    }

    #[test]
    fn classify_prefers_limiter_record() {
        let limits = SandboxLimits::default();
        let mut limiter = Limiter::new(&limits);
        limiter.memory_refused = Some(1 << 30);
        let err = wasmtime::Error::from(Trap::UnreachableCodeReached);
        assert_eq!(
            classify(&err, &limiter, &limits),
            Fault::MemoryLimit {
                requested: 1 << 30,
                limit: limits.max_memory
            }
        );
    }

    #[test]
    fn classify_maps_trap_codes() {
        let limits = SandboxLimits::default();
        let limiter = Limiter::new(&limits);
        let fuel = wasmtime::Error::from(Trap::OutOfFuel);
        assert_eq!(
            classify(&fuel, &limiter, &limits),
            Fault::OutOfFuel { limit: limits.fuel }
        );
        let stack = wasmtime::Error::from(Trap::StackOverflow);
        assert_eq!(classify(&stack, &limiter, &limits), Fault::StackOverflow);
    }
}
