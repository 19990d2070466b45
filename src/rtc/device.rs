//! A real RTC character device: the `RTC_*` ioctls of linux/rtc.h (`sys::rtc`).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use super::{Rtc, RtcTime};

/// Where util-linux looks when no `--rtc` is given, in its order.
pub const DEFAULT_PATHS: &[&str] = &["/dev/rtc0", "/dev/rtc", "/dev/misc/rtc"];

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
        crate::sys::rtc::read_time(&self.file)
    }

    fn set_time(&mut self, time: &RtcTime) -> io::Result<()> {
        crate::sys::rtc::set_time(&self.file, time)
    }

    fn set_update_interrupt(&mut self, on: bool) -> io::Result<()> {
        crate::sys::rtc::set_update_interrupt(&self.file, on)
    }

    fn wait_update(&mut self, timeout: Duration) -> io::Result<bool> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        loop {
            let mut fds = [PollFd::new(self.file.as_fd(), PollFlags::POLLIN)];
            match poll(
                &mut fds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(n) => return Ok(n > 0),
            }
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
