//! The fixed tables over the system variables (`sysinfo`, `kerninfo`, `sysstats`,
//! `iostats`, `monstats`, `ntsinfo`) and `mrulist`.

use super::output::json_value;
use super::{CommandError, Session};
use crate::control::client::{Error, Vars};
use crate::control::cooked;
use crate::control::stats_tables;
use crate::wire::control::SystemStatusWord as SystemStatus;
use serde_json::{json, Map, Value as Json};

impl Session<'_> {
    pub(super) fn display_table(
        &mut self,
        kind: &str,
        table: &[(&str, &str)],
        status_line: bool,
    ) -> Result<(), CommandError> {
        let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        let Some(vars) = self.system_vars_for_text(kind, &names)? else {
            return Ok(());
        };
        let mut text = String::new();
        if status_line {
            text.push_str(&format!(
                "associd=0 status={:04x} {},\n",
                vars.status,
                SystemStatus::decode(vars.status)
            ));
        }
        for (name, label) in table {
            if let Some(v) = crate::wire::control::lookup(&vars.vars, name) {
                let mut host_of = |s: &str| self.host_text(s);
                let shown = cooked::display_value(name, v, &mut host_of);
                text.push_str(&format!("{label}  {shown}\n"));
            }
        }
        let _ = self.out.write_all(text.as_bytes());
        Ok(())
    }

    /// The system variables a text table shows; `None` when there is nothing left to do
    /// (the error is reported, or with --json the variables are printed as they are).
    pub(super) fn system_vars_for_text(
        &mut self,
        kind: &str,
        names: &[&str],
    ) -> Result<Option<Vars>, CommandError> {
        let vars = match self.read_system_vars(names)? {
            Ok(v) => v,
            Err(e) => {
                self.report(e);
                return Ok(None);
            }
        };
        if self.opts.json {
            let mut m = Map::new();
            for (n, v) in &vars.vars {
                m.insert(n.clone(), json_value(v));
            }
            self.json_out(kind, Json::Object(m));
            return Ok(None);
        }
        Ok(Some(vars))
    }

    /// System variables by name; with a daemon that lacks some (NTPsec has no
    /// bcastdelay, ntp.org no `io_*`), asked one by one and the missing ones left out.
    pub(super) fn read_system_vars(
        &mut self,
        names: &[&str],
    ) -> Result<Result<Vars, Error>, CommandError> {
        let mut r = self.client()?.read_vars(0, names);
        if let Err(Error::Server(crate::wire::control::ErrorCode::UNKNOWNVAR, _)) = r {
            let mut all = Vars {
                status: 0,
                vars: Vec::new(),
            };
            for name in names {
                if let Ok(v) = self.client()?.read_vars(0, &[name]) {
                    all.status = v.status;
                    all.vars.extend(v.vars);
                }
            }
            r = Ok(all);
        }
        Ok(r)
    }

    /// `sysstats`, `iostats`, `monstats`: counters in NTPsec's layout.
    pub(super) fn stats_table(
        &mut self,
        kind: &str,
        table: stats_tables::Table,
        since_reset: Option<stats_tables::Table>,
    ) -> Result<(), CommandError> {
        let mut names = stats_tables::names(table, false);
        if let Some(t) = since_reset {
            names.extend(stats_tables::names(t, true));
        }
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let Some(vars) = self.system_vars_for_text(kind, &names)? else {
            return Ok(());
        };
        let lookup = |n: &str| crate::wire::control::lookup(&vars.vars, n).cloned();
        let mut text = stats_tables::render(table, &lookup);
        if let Some(t) = since_reset {
            text.push_str(&stats_tables::render_since_reset(t, &lookup));
        }
        let _ = self.out.write_all(text.as_bytes());
        Ok(())
    }

    pub(super) fn mrulist(&mut self, args: &[&str]) -> Result<(), CommandError> {
        // `sort=` is ntpq's own option, not the server's
        let extra: Vec<&str> = args
            .iter()
            .copied()
            .filter(|a| a.contains('=') && !a.starts_with("sort="))
            .collect();
        let r = self.client()?.mrulist(&extra, 64);
        let list = match r {
            Ok(l) => l,
            Err(e) => {
                self.report(e);
                return Ok(());
            }
        };
        if self.opts.json {
            let now = list.now.map(|t| t.seconds() as i64);
            let rows: Vec<Json> = list
                .entries
                .iter()
                .map(|e| {
                    json!({
                        "addr": e.addr, "count": e.count,
                        "first": e.first.to_hex_string(), "last": e.last.to_hex_string(),
                        "lstint": now.map(|n| n - e.last.seconds() as i64),
                        "mode": e.mode_version & 7, "version": (e.mode_version >> 3) & 7,
                        "restrict": e.restrict, "score": e.score, "drop": e.drop,
                    })
                })
                .collect();
            self.json_out("mrulist", Json::Array(rows));
            return Ok(());
        }
        let mut host_of = |s: &str| self.host_text(s);
        let t = cooked::mru_table(&list, &mut host_of);
        let _ = self.out.write_all(t.as_bytes());
        Ok(())
    }
}
