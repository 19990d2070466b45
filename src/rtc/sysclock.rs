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

/// `struct timezone` as the settimeofday system call reads it (libc keeps it opaque).
#[repr(C)]
struct KernelTimezone {
    minutes_west: libc::c_int,
    dst_time: libc::c_int,
}

/// The kernel's clock. Setting it needs CAP_SYS_TIME; without it the calls fail with EPERM.
pub struct KernelTimeOfDay;

impl TimeOfDay for KernelTimeOfDay {
    fn now(&mut self) -> Timeval {
        Timeval::now()
    }

    fn set_timezone(&mut self, minutes_west: i32) -> io::Result<()> {
        let tz = KernelTimezone {
            minutes_west,
            dst_time: 0,
        };
        // glibc's settimeofday refuses a time zone; the raw system call still takes one.
        // SAFETY: a null timeval and a valid timezone pointer are what the call expects.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_settimeofday,
                std::ptr::null::<libc::timeval>(),
                &tz as *const KernelTimezone,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn set_time(&mut self, tv: Timeval) -> io::Result<()> {
        let t = libc::timeval {
            tv_sec: tv.sec,
            tv_usec: tv.usec,
        };
        // SAFETY: valid timeval pointer, null timezone.
        let rc = unsafe { libc::settimeofday(&t, std::ptr::null()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}
