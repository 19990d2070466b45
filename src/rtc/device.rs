//! A real RTC character device: the `RTC_*` ioctls of linux/rtc.h over rustix.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use rustix::ioctl::{ioctl, Getter, NoArg, Opcode, Setter};

use super::{Rtc, RtcTime};

/// Where util-linux looks when no `--rtc` is given, in its order.
pub const DEFAULT_PATHS: &[&str] = &["/dev/rtc0", "/dev/rtc", "/dev/misc/rtc"];

const RTC_RD_TIME: Opcode = linux_raw_sys::ioctl::RTC_RD_TIME as Opcode;
const RTC_SET_TIME: Opcode = linux_raw_sys::ioctl::RTC_SET_TIME as Opcode;
const RTC_UIE_ON: Opcode = linux_raw_sys::ioctl::RTC_UIE_ON as Opcode;
const RTC_UIE_OFF: Opcode = linux_raw_sys::ioctl::RTC_UIE_OFF as Opcode;

/// An open /dev/rtcN (read-only, as util-linux opens it: the ioctls need no write access).
pub struct RtcDevice {
    file: File,
    path: String,
}

impl RtcDevice {
    pub fn open(path: &str) -> io::Result<RtcDevice> {
        let file = File::open(path)?;
        Ok(RtcDevice {
            file,
            path: path.to_string(),
        })
    }
}

impl Rtc for RtcDevice {
    fn path(&self) -> &str {
        &self.path
    }

    fn fd_number(&self) -> i32 {
        self.file.as_raw_fd()
    }

    fn read_time(&mut self) -> io::Result<RtcTime> {
        // SAFETY: RTC_RD_TIME writes exactly one `struct rtc_time`, which RtcTime mirrors.
        let t = unsafe { ioctl(&self.file, Getter::<RTC_RD_TIME, RtcTime>::new()) }?;
        Ok(t)
    }

    fn set_time(&mut self, time: &RtcTime) -> io::Result<()> {
        // SAFETY: RTC_SET_TIME reads exactly one `struct rtc_time`.
        unsafe { ioctl(&self.file, Setter::<RTC_SET_TIME, RtcTime>::new(*time)) }?;
        Ok(())
    }

    fn set_update_interrupt(&mut self, on: bool) -> io::Result<()> {
        // SAFETY: RTC_UIE_ON/OFF take no argument.
        unsafe {
            if on {
                ioctl(&self.file, NoArg::<RTC_UIE_ON>::new())
            } else {
                ioctl(&self.file, NoArg::<RTC_UIE_OFF>::new())
            }
        }?;
        Ok(())
    }

    fn wait_update(&mut self, timeout: Duration) -> io::Result<bool> {
        let mut fds = [libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        loop {
            // SAFETY: fds is a valid array of one pollfd for the duration of the call.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            return Ok(n > 0);
        }
    }

    fn driver_name(&self) -> Option<String> {
        let dev = self.path.rsplit('/').next().filter(|s| !s.is_empty())?;
        let text = std::fs::read_to_string(format!("/sys/class/rtc/{dev}/name")).ok()?;
        text.split([' ', '\n'])
            .next()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }
}
