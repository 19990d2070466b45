//! `readvar`/`clockvar` and `writevar`: variable lists in ntpq's cooked or raw layout.

use super::output::json_value;
use super::{CommandError, Session};
use crate::control::chronyd;
use crate::control::client::Vars;
use crate::control::cooked::{self, Wrapped};
use crate::wire::control::{
    ClockStatusWord as ClockStatus, PeerStatusWord as PeerStatus, SystemStatusWord as SystemStatus,
    Value,
};
use crate::wire::time::NtpTimestamp;
use serde_json::{json, Map};

impl Session<'_> {
    pub(super) fn readvar(&mut self, args: &[&str], clock: bool) -> Result<(), CommandError> {
        let (assoc, rest) = match args.first() {
            Some(w) if w.starts_with('&') || w.bytes().all(|b| b.is_ascii_digit()) => {
                (self.parse_assoc(w)?, &args[1..])
            }
            _ => (0, args),
        };
        let names: Vec<String> = rest
            .iter()
            .flat_map(|a| a.split(','))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        if self.chronyd().is_some() {
            return self.chronyd_readvar(assoc, &names, clock);
        }
        let client = self.client()?;
        let r = if clock {
            client.read_clock(assoc, &name_refs)
        } else {
            client.read_vars(assoc, &name_refs)
        };
        let vars = match r {
            Ok(v) => v,
            Err(e) => {
                self.report(e);
                return Ok(());
            }
        };
        self.show_readvar(assoc, &names, clock, vars)
    }

    /// `rv` from chronyd: tracking as the system variables, a source as a peer's.
    pub(super) fn chronyd_readvar(
        &mut self,
        assoc: u16,
        names: &[String],
        clock: bool,
    ) -> Result<(), CommandError> {
        if clock {
            return Err(CommandError::ClockvarFromChronyd);
        }
        let Some(sources) = self.chronyd_sources() else {
            return Ok(());
        };
        let (status, mut vars) = if assoc == 0 {
            let r = self.chronyd().map(|c| c.tracking());
            match r {
                Some(Ok(t)) => {
                    let now = NtpTimestamp::from_system_time(std::time::SystemTime::now());
                    chronyd::system_vars(&t, &sources, now)
                }
                Some(Err(e)) => {
                    let _ = writeln!(self.err, "{e}");
                    return Ok(());
                }
                None => return Ok(()),
            }
        } else {
            match sources.iter().find(|s| s.assid() == assoc) {
                Some(src) => chronyd::peer_vars(src),
                None => {
                    let _ = writeln!(self.err, "***Server reports a bad association id");
                    return Ok(());
                }
            }
        };
        if !names.is_empty() {
            vars.retain(|(n, _)| names.iter().any(|w| w == n));
        }
        self.show_readvar(assoc, names, clock, Vars { status, vars })
    }

    pub(super) fn show_readvar(
        &mut self,
        assoc: u16,
        names: &[String],
        clock: bool,
        vars: Vars,
    ) -> Result<(), CommandError> {
        let kind = if clock { "clockvar" } else { "readvar" };
        if self.opts.json {
            let mut m = Map::new();
            for (n, v) in &vars.vars {
                m.insert(n.clone(), json_value(v));
            }
            self.json_out(
                kind,
                json!({"associd": assoc, "status": format!("{:04x}", vars.status), "vars": m}),
            );
            return Ok(());
        }
        let mut text = String::new();
        if self.host_count > 1 {
            if let Some(c) = &self.conn {
                text.push_str(&format!("server={} ", c.name));
            }
        }
        if vars.vars.is_empty() {
            let clk = if clock { " clock" } else { "" };
            text.push_str(&if assoc == 0 {
                format!("No system{clk} variables returned\n")
            } else {
                format!("No information returned for{clk} association {assoc}\n")
            });
            let _ = self.out.write_all(text.as_bytes());
            return Ok(());
        }
        let quiet = !names.is_empty() && !self.opts.old_rv;
        if !quiet {
            text.push_str(&format!("associd={assoc} "));
        }
        text.push_str(&self.print_vars(&vars.vars, vars.status, assoc, clock, quiet));
        let _ = self.out.write_all(text.as_bytes());
        Ok(())
    }

    pub(super) fn print_vars(
        &mut self,
        vars: &[(String, Value)],
        status: u16,
        assoc: u16,
        clock: bool,
        quiet: bool,
    ) -> String {
        let mut text = String::new();
        let status_text = if clock {
            ClockStatus::decode(status).to_string()
        } else if assoc == 0 {
            SystemStatus::decode(status).to_string()
        } else {
            PeerStatus::decode(status).to_string()
        };
        if self.raw {
            if !quiet {
                text.push_str(&format!("status=0x{status:04x},\n"));
            }
            let mut w = Wrapped::default();
            for (n, v) in vars {
                w.push(n, v.raw());
            }
            text.push_str(&w.finish());
            return text;
        }
        if !quiet {
            text.push_str(&format!("status={status:04x} {status_text},\n"));
        }
        let mut w = Wrapped::default();
        for (n, v) in vars {
            let mut host_of = |s: &str| self.host_text(s);
            let cooked = cooked::cook(n, v, &mut host_of);
            w.push(n, &cooked);
        }
        text.push_str(&w.finish());
        text
    }

    pub(super) fn writevar(&mut self, args: &[&str]) -> Result<(), CommandError> {
        let Some(first) = args.first() else {
            return Err(CommandError::WritevarNeedsArguments);
        };
        let assoc = self.parse_assoc(first)?;
        let items: Vec<String> = args[1..]
            .iter()
            .flat_map(|a| a.split(','))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let pairs: Vec<(&str, &str)> = items
            .iter()
            .map(|i| i.split_once('=').unwrap_or((i.as_str(), "")))
            .collect();
        let r = self.client()?.write_vars(assoc, &pairs);
        match r {
            Ok(v) if self.opts.json => {
                self.json_out(
                    "writevar",
                    json!({"associd": assoc, "done": true, "vars": v.vars.len()}),
                );
            }
            Ok(v) if v.vars.is_empty() => {
                let _ = writeln!(self.out, "done! (no data returned)");
            }
            Ok(v) => {
                let t = self.print_vars(&v.vars, v.status, assoc, false, false);
                let _ = self
                    .out
                    .write_all(format!("associd={assoc} {t}").as_bytes());
            }
            Err(e) => self.report(e),
        }
        Ok(())
    }
}
