//! Setting the system clock from the RTC (`hwclock -s`, `--systz`), behind a trait so the
//! logic is tested without touching the machine's clock.

use std::io;

use super::Timeval;

/// The system clock as hwclock reads and sets it: gettimeofday/settimeofday and the kernel
/// time zone (not `clock::SystemClock`, the daemon's adjtimex-level clock).
pub trait TimeOfDay {
    fn now(&mut self) -> Timeval;
    /// settimeofday(NULL, {minuteswest, 0}): the kernel time zone (and, on the first call
    /// after boot, warp_clock / persistent_clock_is_local).
    fn set_timezone(&mut self, minutes_west: i32) -> io::Result<()>;
    /// settimeofday(tv, NULL).
    fn set_time(&mut self, tv: Timeval) -> io::Result<()>;
}

/// The kernel's clock. Setting it needs CAP_SYS_TIME; without it the calls fail with EPERM.
pub struct KernelTimeOfDay;

impl TimeOfDay for KernelTimeOfDay {
    fn now(&mut self) -> Timeval {
        Timeval::now()
    }

    fn set_timezone(&mut self, minutes_west: i32) -> io::Result<()> {
        crate::sys::clock::set_kernel_timezone(minutes_west)
    }

    fn set_time(&mut self, tv: Timeval) -> io::Result<()> {
        let t = rustix::time::Timespec {
            tv_sec: tv.sec,
            tv_nsec: tv.usec * 1000,
        };
        Ok(rustix::time::clock_settime(
            rustix::time::ClockId::Realtime,
            t,
        )?)
    }
}
