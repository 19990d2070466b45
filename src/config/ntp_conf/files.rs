//! Lines naming files and keys: `driftfile`, `statsdir`, `logfile`, `pidfile`, `leapfile`,
//! `keys`, `requestkey`, `controlkey`; and the few one-liners about the clock and the log
//! (`nonvolatile`, `logconfig`, `rtcsync`).

use super::*;

impl Parser {
    /// `driftfile [FILE [WANDER]]`. ntp.org: no argument disables the drift file; the
    /// optional wander threshold is not used by ntpkit.
    pub(super) fn driftfile(&mut self, a: &mut Args) -> LineResult<()> {
        let Some(p) = a.next() else {
            self.config.driftfile = None;
            return Ok(());
        };
        if a.peek()
            .is_some_and(|t| crate::config::args::parse_float(&t.text).is_some())
        {
            a.float("drift wander threshold")?;
        }
        self.end_line(a);
        self.config.driftfile = Some(PathBuf::from(&p.text));
        Ok(())
    }

    /// `statsdir`, `logfile`, `pidfile`, `leapfile`: one path each.
    pub(super) fn file_path(&mut self, kw: &Token, a: &mut Args) -> LineResult<()> {
        let what = match kw.text.as_str() {
            "statsdir" => "statistics directory",
            "logfile" => "log file name",
            "pidfile" => "pid file name",
            _ => "leap seconds file name",
        };
        let p = a.path(what)?;
        self.end_line(a);
        let slot = match kw.text.as_str() {
            "statsdir" => &mut self.config.statsdir,
            "logfile" => &mut self.config.logfile,
            "pidfile" => &mut self.config.pidfile,
            _ => &mut self.config.leapfile,
        };
        *slot = Some(PathBuf::from(&p.text));
        Ok(())
    }

    /// `keys FILE` (where it was named is kept for the daemon's messages), `requestkey ID`
    /// (mode 7: noted, not implemented) and `controlkey ID` (mode 6 writes).
    pub(super) fn keys(&mut self, kw: &Token, a: &mut Args) -> LineResult<()> {
        if kw.text == "keys" {
            let p = a.path("keys file name")?;
            self.end_line(a);
            self.config.keys_file = Some(PathBuf::from(&p.text));
            self.config.keys_at = Some(a.location(Some(p.column)));
            return Ok(());
        }
        let id = a.uint("key id", 1, 65535)? as u32;
        self.end_line(a);
        if kw.text == "requestkey" {
            self.note(a, Section::Directive, kw);
            self.config.request_key = Some(id);
        } else {
            self.config.control_key = Some(id);
        }
        Ok(())
    }

    /// `nonvolatile THRESHOLD` and `logconfig ITEMS…` (kept, noted as not implemented) and
    /// `rtcsync` (chronyd's: the kernel keeps the RTC in step).
    pub(super) fn clock_and_log(&mut self, kw: &Token, a: &mut Args) -> LineResult<()> {
        match kw.text.as_str() {
            "nonvolatile" => {
                let v = a.float("nonvolatile threshold")?;
                self.end_line(a);
                self.config.nonvolatile = Some(v);
                self.note(a, Section::Directive, kw);
            }
            "logconfig" => {
                let items: Vec<String> = a.rest().iter().map(|t| t.text.clone()).collect();
                if items.is_empty() {
                    a.expect("logconfig items")?;
                }
                self.config.logconfig.extend(items);
                self.note(a, Section::Directive, kw);
            }
            _ => {
                self.end_line(a);
                self.config.rtcsync = true;
            }
        }
        Ok(())
    }
}
