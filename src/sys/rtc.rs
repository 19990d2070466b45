//! The `RTC_*` ioctls of linux/rtc.h over rustix: the kernel declares each request's
//! argument type, which the compiler cannot check, so each call says which it is.

use std::io;
use std::os::fd::AsFd;

use rustix::ioctl::{ioctl, Getter, NoArg, Opcode, Setter};

use crate::rtc::RtcTime;

const RTC_RD_TIME: Opcode = linux_raw_sys::ioctl::RTC_RD_TIME as Opcode;
const RTC_SET_TIME: Opcode = linux_raw_sys::ioctl::RTC_SET_TIME as Opcode;
const RTC_UIE_ON: Opcode = linux_raw_sys::ioctl::RTC_UIE_ON as Opcode;
const RTC_UIE_OFF: Opcode = linux_raw_sys::ioctl::RTC_UIE_OFF as Opcode;

/// RTC_RD_TIME.
pub fn read_time(fd: impl AsFd) -> io::Result<RtcTime> {
    // SAFETY: RTC_RD_TIME writes exactly one `struct rtc_time`, which RtcTime mirrors
    // (repr(C), nine ints, size checked at compile time in rtc/time.rs).
    Ok(unsafe { ioctl(fd, Getter::<RTC_RD_TIME, RtcTime>::new()) }?)
}

/// RTC_SET_TIME.
pub fn set_time(fd: impl AsFd, time: &RtcTime) -> io::Result<()> {
    // SAFETY: RTC_SET_TIME reads exactly one `struct rtc_time`, which RtcTime mirrors.
    Ok(unsafe { ioctl(fd, Setter::<RTC_SET_TIME, RtcTime>::new(*time)) }?)
}

/// RTC_UIE_ON / RTC_UIE_OFF: the update (once a second) interrupt.
pub fn set_update_interrupt(fd: impl AsFd, on: bool) -> io::Result<()> {
    // SAFETY: RTC_UIE_ON and RTC_UIE_OFF take no argument.
    Ok(unsafe {
        if on {
            ioctl(fd, NoArg::<RTC_UIE_ON>::new())
        } else {
            ioctl(fd, NoArg::<RTC_UIE_OFF>::new())
        }
    }?)
}
