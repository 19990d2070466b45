//! `hwclock`: read or set the hardware clock (RTC).

use std::ffi::OsString;

pub fn command() -> clap::Command {
    clap::Command::new("hwclock").about("read or set the hardware clock (RTC)")
}

pub fn main(_args: Vec<OsString>) -> i32 {
    super::not_implemented("hwclock")
}
