//! `ntpstat`: show the synchronisation status of the local NTP daemon.

use std::ffi::OsString;

pub fn command() -> clap::Command {
    clap::Command::new("ntpstat").about("show the synchronisation status of the local NTP daemon")
}

pub fn main(_args: Vec<OsString>) -> i32 {
    super::not_implemented("ntpstat")
}
