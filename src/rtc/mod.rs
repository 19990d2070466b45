//! The hardware clock: /dev/rtc ioctls and /etc/adjtime.
//!
//! Layers: `time` (the kernel's `struct rtc_time` and calendar conversions), `device` (the
//! ioctls on a real /dev/rtcN), the [`Rtc`] trait that tests and ntpd's `rtcsync` use instead
//! of a device, `sync` (reading on the second edge and writing at the right sub-second
//! moment, as util-linux does), `adjtime` (the /etc/adjtime file and the drift algorithm),
//! `sysclock` (setting the system clock, for `hwclock -s`) and `hwclock` (the program's
//! operations, driven by `apps::hwclock`).

pub mod adjtime;
pub mod device;
pub mod hwclock;
pub mod sync;
pub mod sysclock;
pub mod time;

use std::io;
use std::time::Duration;

pub use time::{RtcTime, Timeval};

/// A real-time clock: what hwclock and ntpd need from /dev/rtc, so tests can substitute one.
pub trait Rtc {
    /// The device path, for messages.
    fn path(&self) -> &str;
    /// The file descriptor number, for util-linux-style verbose messages (-1 when none).
    fn fd_number(&self) -> i32 {
        -1
    }
    /// `RTC_RD_TIME`.
    fn read_time(&mut self) -> io::Result<RtcTime>;
    /// `RTC_SET_TIME` (needs CAP_SYS_TIME).
    fn set_time(&mut self, time: &RtcTime) -> io::Result<()>;
    /// `RTC_UIE_ON` / `RTC_UIE_OFF`. ENOTTY or EINVAL mean the driver has no update
    /// interrupts; callers then poll the time instead.
    fn set_update_interrupt(&mut self, on: bool) -> io::Result<()>;
    /// Wait until an update interrupt makes the device readable: Ok(false) on timeout.
    fn wait_update(&mut self, timeout: Duration) -> io::Result<bool>;
    /// The driver name from `/sys/class/rtc/<dev>/name` (first word), e.g. `rtc_cmos`.
    fn driver_name(&self) -> Option<String> {
        None
    }
}
