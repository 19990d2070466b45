//! Process calls no kept crate wraps safely: fork (safe only before any thread starts) and
//! the SCHED_FIFO scheduling class (nix and rustix have no sched_setscheduler).

use std::io;

pub use nix::unistd::ForkResult;

/// fork(2) for daemonising.
///
/// Sound only while this process has one thread: call it before starting any (ntpd's
/// start-up does, before the runtime and the serving threads exist).
pub fn fork_single_threaded() -> io::Result<ForkResult> {
    // SAFETY: the caller's contract above: no other thread exists, so the child (which
    // carries on as the daemon) cannot inherit a lock held by one.
    Ok(unsafe { nix::unistd::fork() }?)
}

/// Switch the calling process to SCHED_FIFO at the priority `pick(min, max)` chooses from
/// the kernel's range; returns that priority.
pub fn set_fifo_priority(pick: impl FnOnce(i32, i32) -> i32) -> io::Result<i32> {
    // SAFETY: sched_get_priority_min/max take a policy constant and touch no memory;
    // sched_setscheduler gets pid 0 (this process) and a valid sched_param that outlives
    // the call.
    let (rc, priority) = unsafe {
        let min = libc::sched_get_priority_min(libc::SCHED_FIFO);
        let max = libc::sched_get_priority_max(libc::SCHED_FIFO);
        let param = libc::sched_param {
            sched_priority: pick(min, max),
        };
        (
            libc::sched_setscheduler(0, libc::SCHED_FIFO, &param),
            param.sched_priority,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(priority)
}
