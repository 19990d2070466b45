//! `ntpdate`: query NTP servers once and set (or just show) the clock.

use std::ffi::OsString;

pub fn command() -> clap::Command {
    clap::Command::new("ntpdate").about("query NTP servers once and set (or just show) the clock")
}

pub fn main(_args: Vec<OsString>) -> i32 {
    super::not_implemented("ntpdate")
}
