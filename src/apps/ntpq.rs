//! `ntpq`: query an NTP daemon over the mode 6 control protocol.

use std::ffi::OsString;

pub fn command() -> clap::Command {
    clap::Command::new("ntpq").about("query an NTP daemon over the mode 6 control protocol")
}

pub fn main(_args: Vec<OsString>) -> i32 {
    super::not_implemented("ntpq")
}
