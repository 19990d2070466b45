//! `ntpd`: NTP daemon: keeps the clock in step and serves time.

use std::ffi::OsString;

pub fn command() -> clap::Command {
    clap::Command::new("ntpd").about("NTP daemon: keeps the clock in step and serves time")
}

pub fn main(_args: Vec<OsString>) -> i32 {
    super::not_implemented("ntpd")
}
