//! Association lists (`associations`, `lassociations`, `passociations`) and the peers
//! tables built from them, from mode 6 or chronyd's sources.

use super::{CommandError, Session};
use crate::control::chronyd;
use crate::control::cooked;
use crate::control::peers::{self, PeerTable};
use crate::wire::time::NtpTimestamp;
use serde_json::{json, Value as Json};
use std::net::IpAddr;

impl Session<'_> {
    pub(super) fn fetch_associations(&mut self) -> Result<bool, CommandError> {
        if self.chronyd().is_some() {
            let Some(sources) = self.chronyd_sources() else {
                return Ok(false);
            };
            self.assoc_cache = chronyd::associations(&sources);
            if self.assoc_cache.is_empty() && !self.opts.json {
                let _ = writeln!(self.err, "No association ID's returned");
            }
            return Ok(!self.assoc_cache.is_empty());
        }
        let r = self.client()?.associations();
        match r {
            Ok((_, list)) => {
                self.assoc_cache = list;
                if self.assoc_cache.is_empty() && !self.opts.json {
                    let _ = writeln!(self.err, "No association ID's returned");
                }
                Ok(!self.assoc_cache.is_empty())
            }
            Err(e) => {
                self.report(e);
                Ok(false)
            }
        }
    }

    pub(super) fn associations(&mut self, show_all: bool, fetch: bool) -> Result<(), CommandError> {
        if fetch && !self.fetch_associations()? {
            if self.opts.json {
                self.json_out("associations", json!([]));
            }
            return Ok(());
        }
        if self.opts.json {
            let rows: Vec<Json> = self
                .assoc_cache
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    json!({
                        "ind": i + 1, "assid": a.id, "status": format!("{:04x}", a.status.encode()),
                        "conf": a.status.has(crate::wire::control::peer_flags::CONFIG),
                        "reach": a.status.has(crate::wire::control::peer_flags::REACH),
                        "condition": a.status.select.condition(),
                        "tally": a.status.tally().to_string(),
                        "event_count": a.status.event_count, "last_event": a.status.event,
                    })
                })
                .collect();
            self.json_out("associations", Json::Array(rows));
            return Ok(());
        }
        let t = cooked::associations_table(&self.assoc_cache, show_all);
        let _ = self.out.write_all(t.as_bytes());
        Ok(())
    }

    /// The rows of a peers table (READSTAT, then READVAR per association).
    pub fn peer_rows(
        &mut self,
        show_all: bool,
    ) -> Result<Option<Vec<peers::PeerRow>>, CommandError> {
        if self.chronyd().is_some() {
            let Some(sources) = self.chronyd_sources() else {
                return Ok(None);
            };
            self.assoc_cache = chronyd::associations(&sources);
            if sources.is_empty() {
                if !self.opts.json {
                    let _ = writeln!(self.err, "No association ID's returned");
                }
                return Ok(None);
            }
            let mut name_of = |addr: IpAddr| self.name_of(addr);
            let rows = sources
                .iter()
                .map(|s| chronyd::peer_row(s, &mut name_of))
                .collect();
            return Ok(Some(rows));
        }
        if !self.fetch_associations()? {
            return Ok(None);
        }
        let mut rows = Vec::new();
        let list = self.assoc_cache.clone();
        for a in list {
            if !show_all
                && !a.status.has(crate::wire::control::peer_flags::CONFIG)
                && !a.status.has(crate::wire::control::peer_flags::REACH)
            {
                continue;
            }
            let r = self.client()?.read_vars(a.id, &[]);
            let vars = match r {
                Ok(v) => v,
                Err(e) => {
                    self.report(e);
                    return Ok(Some(rows));
                }
            };
            if vars.vars.is_empty() {
                let _ = writeln!(
                    self.err,
                    "***No information returned for association {}",
                    a.id
                );
                return Ok(Some(rows));
            }
            let now = NtpTimestamp::from_system_time(std::time::SystemTime::now());
            let mut name_of = |addr: IpAddr| self.name_of(addr);
            rows.push(peers::row_from_vars(
                a.id,
                vars.status,
                &vars.vars,
                now,
                &mut name_of,
            ));
        }
        Ok(Some(rows))
    }

    pub(super) fn peers(&mut self, table: PeerTable, show_all: bool) -> Result<(), CommandError> {
        // as ntpq: nothing at all (not even the header) when the association list fails
        let Some(rows) = self.peer_rows(show_all)? else {
            if self.opts.json {
                self.json_out("peers", json!([]));
            }
            return Ok(());
        };
        if self.opts.json {
            let v = serde_json::to_value(&rows).unwrap_or(Json::Null);
            self.json_out("peers", v);
            return Ok(());
        }
        let host_col = self.host_column();
        let mut text = String::new();
        if let Some((_, w)) = &host_col {
            let label: String = "server (local)".chars().take(*w).collect();
            text.push_str(&format!("{label:<w$} "));
        }
        text.push_str(peers::header(table));
        text.push('\n');
        if let Some((_, w)) = &host_col {
            text.push_str(&"=".repeat(w + 1));
        }
        text.push_str(&"=".repeat(peers::RULE_WIDTH));
        text.push('\n');
        for row in &rows {
            let hc = host_col.as_ref().map(|(h, w)| (h.as_str(), *w));
            text.push_str(&peers::render_row(
                row,
                table,
                self.opts.wide,
                hc,
                self.opts.color,
            ));
            text.push('\n');
        }
        let _ = self.out.write_all(text.as_bytes());
        Ok(())
    }

    /// `&N` (index into the last association list) or a number.
    pub(super) fn parse_assoc(&mut self, word: &str) -> Result<u16, CommandError> {
        if let Some(idx) = word.strip_prefix('&') {
            let i: usize = idx
                .parse()
                .map_err(|_| CommandError::IllegalIndex(word.to_string()))?;
            if self.assoc_cache.is_empty() {
                self.fetch_associations()?;
            }
            return self
                .assoc_cache
                .get(i.wrapping_sub(1))
                .map(|a| a.id)
                .ok_or(CommandError::BadIndex(i));
        }
        word.parse::<u16>()
            .map_err(|_| CommandError::BadAssociation(word.to_string()))
    }
}
