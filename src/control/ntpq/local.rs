//! The commands answered without asking the daemon: help, host, authenticate, timeout.

use super::commands::{find_command, COMMANDS};
use super::{Backend, Session};
use std::time::Duration;

impl Session<'_> {
    pub(super) fn help(&mut self, topic: Option<&str>) {
        match topic {
            None => {
                let _ = writeln!(self.out, "ntpq commands:");
                let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
                for chunk in names.chunks(4) {
                    let line: String = chunk.iter().map(|n| format!("{n:<16}")).collect();
                    let _ = writeln!(self.out, "{}", line.trim_end());
                }
            }
            Some(t) => match find_command(t) {
                Ok(c) => {
                    let _ = writeln!(self.out, "function: {}", c.help);
                    let _ = writeln!(self.out, "usage: {} {}", c.name, c.args);
                }
                Err(e) => {
                    let _ = writeln!(self.err, "{e}");
                }
            },
        }
    }

    pub(super) fn host(&mut self, name: Option<&str>) {
        match name {
            None => {
                let msg = match &self.conn {
                    Some(c) => format!("current host is {}", c.name),
                    None => "no current host".to_string(),
                };
                let _ = writeln!(self.out, "{msg}");
            }
            Some(h) => {
                let previous = self.conn.take();
                if self.open_host(h) {
                    let _ = writeln!(self.out, "current host set to {h}");
                } else {
                    self.conn = previous;
                    if let Some(c) = &self.conn {
                        let _ = writeln!(self.out, "current host remains {}", c.name);
                    }
                }
            }
        }
    }

    pub(super) fn authenticate(&mut self, arg: Option<&str>) {
        match arg {
            None => {
                let on = self.always_auth;
                let _ = writeln!(
                    self.out,
                    "{}",
                    if on {
                        "authenticated requests being sent"
                    } else {
                        "unauthenticated requests being sent"
                    }
                );
            }
            Some("yes") => self.always_auth = true,
            Some("no") => self.always_auth = false,
            Some(_) => {
                let _ = writeln!(self.err, "specify `yes' or `no'");
            }
        }
        let on = self.always_auth;
        if let Some(c) = self.conn.as_mut() {
            c.client.always_auth = on;
        }
    }

    pub(super) fn set_timeout(&mut self, ms: Option<&str>) {
        match ms {
            None => {
                let _ = writeln!(self.out, "primary timeout {} ms", self.timeout.as_millis());
            }
            Some(v) => match v.parse::<u64>() {
                Ok(ms) => {
                    self.timeout = Duration::from_millis(ms);
                    if let Some(c) = self.conn.as_mut() {
                        c.client.timeout = self.timeout;
                        if let Backend::Chronyd(cc) = &mut c.backend {
                            cc.timeout = self.timeout;
                        }
                    }
                }
                Err(_) => {
                    let _ = writeln!(self.err, "***Illegal integer value {v}");
                }
            },
        }
    }
}
