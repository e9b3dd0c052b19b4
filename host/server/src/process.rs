//! Hardening of the serving process: no core dumps.
//!
//! The server holds unwrapped key versions (the key cache), the soft token's keys and the
//! TLS key in memory. A core dump would write them to disk, often where a crash collector
//! (systemd-coredump, apport) keeps them readable to others. [`disable_core_dumps`] sets
//! the core file size limit to 0, soft and hard (so nothing in the process can raise it
//! again), and marks the process not dumpable (`PR_SET_DUMPABLE` 0), which also keeps
//! other processes of the same user from attaching a debugger or reading its memory
//! through `/proc/<pid>/mem`.

/// Turns core dumps off for this process.
///
/// # Errors
/// Naming the call that failed (e.g. under a seccomp filter that forbids it); on systems
/// other than Linux, that it is not supported there.
#[cfg(target_os = "linux")]
pub fn disable_core_dumps() -> Result<(), String> {
    use rustix::process::{DumpableBehavior, Resource, Rlimit, set_dumpable_behavior, setrlimit};
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )
    .map_err(|e| format!("setrlimit(RLIMIT_CORE, 0): {e}"))?;
    set_dumpable_behavior(DumpableBehavior::NotDumpable)
        .map_err(|e| format!("prctl(PR_SET_DUMPABLE, 0): {e}"))
}

/// Turns core dumps off for this process.
///
/// # Errors
/// Always: only Linux is supported.
#[cfg(not(target_os = "linux"))]
pub fn disable_core_dumps() -> Result<(), String> {
    Err("core dumps can only be turned off on Linux (RLIMIT_CORE, PR_SET_DUMPABLE)".into())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn core_dumps_are_off_afterwards() {
        // Run in this test process: it only lowers limits, which tests do not need.
        disable_core_dumps().expect("disabled");
        let limit = rustix::process::getrlimit(rustix::process::Resource::Core);
        assert_eq!((limit.current, limit.maximum), (Some(0), Some(0)));
        assert_eq!(
            rustix::process::dumpable_behavior().expect("read back"),
            rustix::process::DumpableBehavior::NotDumpable
        );
    }
}
