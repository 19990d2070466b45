//! The daemon's own settings: `enable`/`disable`, statistics and `filegen`, `tinker`,
//! `tos`, `interface`, `mru`, `metrics`, `setvar` and chronyd's `hwtimestamp`.

use super::*;

impl Parser {
    pub(super) fn enable(&mut self, on: bool, a: &mut Args) -> LineResult<()> {
        let mut s = self.config.system;
        if a.is_done() {
            a.expect("a flag (auth, bclient, calibrate, kernel, mode7, monitor, ntp, stats)")?;
        }
        while let Some(t) = a.next() {
            match t.text.as_str() {
                "auth" => s.auth = on,
                "bclient" => s.bclient = on,
                "calibrate" => s.calibrate = on,
                "kernel" => s.kernel = on,
                "mode7" => s.mode7 = on,
                "monitor" => s.monitor = on,
                "ntp" => s.ntp = on,
                "stats" => s.stats = on,
                "pps"
                | "peer_clear_digest_early"
                | "unpeer_crypto_early"
                | "unpeer_crypto_nak_early"
                | "unpeer_digest_early" => {}
                _ => {
                    self.skip_from(a, t, "not a system flag");
                    break;
                }
            }
            let verb = if on { "enable" } else { "disable" };
            self.note_name(a, Section::System, &format!("{verb} {}", t.text), t.column);
        }
        self.config.system = s;
        Ok(())
    }

    pub(super) fn statistics(&mut self, a: &mut Args) -> LineResult<()> {
        let names = a.rest();
        if names.is_empty() {
            a.expect("statistics names (loopstats, peerstats, …)")?;
        }
        for (i, t) in names.iter().enumerate() {
            if !STATISTICS_NAMES.contains(&t.text.as_str()) {
                self.skipped(a, &names[i..i + 1], "not a statistics name");
                self.skipped(a, &names[i + 1..], "after a skipped word");
                break;
            }
            self.config
                .filegens
                .entry(t.text.clone())
                .or_default()
                .enabled = true;
            self.note(a, Section::Statistics, t);
        }
        Ok(())
    }

    pub(super) fn filegen(&mut self, a: &mut Args) -> LineResult<()> {
        let name = a.expect("statistics name after filegen")?;
        if !STATISTICS_NAMES.contains(&name.text.as_str()) {
            return Err(a.error_at(name, format!("unknown statistics '{}'", name.text)));
        }
        let mut g = self
            .config
            .filegens
            .get(&name.text)
            .cloned()
            .unwrap_or_default();
        while let Some(opt) = a.next() {
            match opt.text.as_str() {
                "file" => g.file = Some(a.expect("file name")?.text.clone()),
                "type" => {
                    let t = a.expect("filegen type")?;
                    g.kind = FileGenType::from_keyword(&t.text).ok_or_else(|| {
                        a.error_at(
                            t,
                            format!(
                                "unknown filegen type '{}' (none, pid, day, week, month, year, age)",
                                t.text
                            ),
                        )
                    })?;
                }
                "link" => g.link = true,
                "nolink" => g.link = false,
                "enable" => g.enabled = true,
                "disable" => g.enabled = false,
                _ => {
                    self.skip_from(a, opt, "not a filegen option");
                    break;
                }
            }
        }
        if g.enabled {
            self.note(a, Section::Statistics, name);
        }
        self.config.filegens.insert(name.text.clone(), g);
        Ok(())
    }

    pub(super) fn tinker(&mut self, a: &mut Args) -> LineResult<()> {
        let mut t = self.config.tinker;
        if a.is_done() {
            a.expect("a tinker variable")?;
        }
        while let Some(opt) = a.next() {
            let slot = match opt.text.as_str() {
                "allan" => &mut t.allan,
                "dispersion" => &mut t.dispersion,
                "freq" => &mut t.freq,
                "huffpuff" => &mut t.huffpuff,
                "panic" => &mut t.panic,
                "step" => &mut t.step,
                "stepback" => &mut t.stepback,
                "stepfwd" => &mut t.stepfwd,
                "stepout" => &mut t.stepout,
                _ => {
                    self.skip_from(a, opt, "not a tinker variable");
                    break;
                }
            };
            *slot = Some(a.float(&opt.text)?);
            self.note(a, Section::Tinker, opt);
        }
        self.config.tinker = t;
        Ok(())
    }

    pub(super) fn tos(&mut self, a: &mut Args) -> LineResult<()> {
        let mut t = self.config.tos;
        if a.is_done() {
            a.expect("a tos variable")?;
        }
        while let Some(opt) = a.next() {
            match opt.text.as_str() {
                "beacon" => t.beacon = a.float("beacon")?,
                "ceiling" => t.ceiling = a.uint("ceiling", 1, 16)? as u8,
                "cohort" => t.cohort = a.bool01("cohort")?,
                "floor" => t.floor = a.uint("floor", 1, 16)? as u8,
                "maxclock" => t.maxclock = a.uint("maxclock", 1, 1000)? as u32,
                "maxdist" => t.maxdist = a.float("maxdist")?,
                "minclock" => t.minclock = a.uint("minclock", 1, 1000)? as u32,
                "mindist" => t.mindist = a.float("mindist")?,
                "minsane" => t.minsane = a.uint("minsane", 0, 1000)? as u32,
                "orphan" => t.orphan = a.uint("orphan", 1, 16)? as u8,
                "orphanwait" => t.orphanwait = a.float("orphanwait")?,
                "bcpollbstep" => {
                    a.float("bcpollbstep")?;
                }
                "basedate" => {
                    a.expect("date after basedate")?;
                }
                _ => {
                    self.skip_from(a, opt, "not a tos variable");
                    break;
                }
            }
            self.note(a, Section::Tos, opt);
        }
        self.config.tos = t;
        Ok(())
    }

    pub(super) fn interface(&mut self, a: &mut Args) -> LineResult<()> {
        let act = a.expect("listen, ignore or drop")?;
        let action = match act.text.as_str() {
            "listen" => InterfaceAction::Listen,
            "ignore" => InterfaceAction::Ignore,
            "drop" => InterfaceAction::Drop,
            w => {
                return Err(a.error_at(act, format!("expected listen, ignore or drop, found '{w}'")))
            }
        };
        let what = a.expect("all, ipv4, ipv6, wildcard, an interface name or an address")?;
        let matches = match what.text.as_str() {
            "all" => InterfaceMatch::All,
            "ipv4" => InterfaceMatch::Ipv4,
            "ipv6" => InterfaceMatch::Ipv6,
            "wildcard" => InterfaceMatch::Wildcard,
            t => {
                if let Some((ip, p)) = parse_cidr(t) {
                    InterfaceMatch::Prefix(ip, p)
                } else if let Some(ip) = parse_ip(t) {
                    InterfaceMatch::Prefix(ip, if ip.is_ipv4() { 32 } else { 128 })
                } else if t.contains('/') {
                    return Err(a.error_at(what, format!("bad address/prefix '{t}'")));
                } else {
                    InterfaceMatch::Name(t.to_string())
                }
            }
        };
        self.end_line(a);
        self.config.interfaces.push(InterfaceRule {
            action,
            matches,
            location: a.location(None),
        });
        Ok(())
    }

    pub(super) fn mru(&mut self, a: &mut Args) -> LineResult<()> {
        const KEYS: &[&str] = &[
            "maxdepth",
            "maxmem",
            "mindepth",
            "maxage",
            "minage",
            "initalloc",
            "initmem",
            "incalloc",
            "incmem",
        ];
        let mut settings = Vec::new();
        if a.is_done() {
            a.expect("an mru setting")?;
        }
        while let Some(opt) = a.next() {
            if !KEYS.contains(&opt.text.as_str()) {
                self.skip_from(a, opt, "not an mru setting");
                break;
            }
            settings.push((
                opt.text.clone(),
                a.uint(&opt.text, 0, u32::MAX.into())? as u32,
            ));
            self.note(a, Section::Mru, opt);
        }
        self.config.mru.extend(settings);
        Ok(())
    }

    /// `metrics ADDR:PORT [allow PREFIX…]` (ntpkit extension). A listening address that is
    /// not loopback needs an allow list: the endpoint tells a reader much about this host.
    pub(super) fn metrics(&mut self, a: &mut Args) -> LineResult<()> {
        let tok = a.expect("ADDR:PORT after metrics")?;
        let addr: std::net::SocketAddr = tok.text.parse().map_err(|_| {
            a.error_at(
                tok,
                format!(
                    "bad metrics address '{}' (expected ADDR:PORT, [V6]:PORT)",
                    tok.text
                ),
            )
        })?;
        let mut allow = Vec::new();
        if let Some(kw) = a.next() {
            if kw.text != "allow" || kw.quoted {
                return Err(a.error_at(kw, format!("expected 'allow', found '{}'", kw.text)));
            }
            if a.is_done() {
                a.expect("an address or ADDR/PREFIX after allow")?;
            }
            while let Some(t) = a.next() {
                let net = parse_cidr(&t.text).or_else(|| {
                    parse_ip(&t.text).map(|ip| (ip, if ip.is_ipv4() { 32 } else { 128 }))
                });
                match net {
                    Some(n) => allow.push(n),
                    None => return Err(a.error_at(t, format!("bad allow address '{}'", t.text))),
                }
            }
        }
        if !addr.ip().is_loopback() && allow.is_empty() {
            return Err(a.error_at(
                tok,
                format!(
                    "metrics on {addr}, not a loopback address, needs 'allow PREFIX…' naming who may scrape"
                ),
            ));
        }
        self.config.metrics = Some(crate::config::model::MetricsListen { addr, allow });
        Ok(())
    }

    pub(super) fn setvar(&mut self, a: &mut Args) -> LineResult<()> {
        let toks = a.rest();
        let Some(first) = toks.first() else {
            return Err(Diagnostic::error(
                a.location(None),
                "missing 'name = value' after setvar",
            ));
        };
        let (toks, default) = match toks.split_last() {
            Some((last, init)) if last.text == "default" && !last.quoted && !init.is_empty() => {
                (init, true)
            }
            _ => (toks, false),
        };
        let joined = toks
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let Some((name, value)) = joined.split_once('=') else {
            return Err(a.error_at(first, "setvar needs 'name = value'"));
        };
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(a.error_at(first, format!("bad setvar name '{name}'")));
        }
        self.config.setvars.push(SetVar {
            name: name.to_string(),
            value: value.trim().to_string(),
            default,
        });
        Ok(())
    }

    /// chronyd's `hwtimestamp IFACE|* [option…]`: hardware timestamps on an interface (all
    /// with `*`). Its options are taken with their values and have no effect here.
    pub(super) fn hwtimestamp(&mut self, a: &mut Args) -> LineResult<()> {
        let iface = a.expect("interface name or * after hwtimestamp")?;
        self.config.hwtimestamp.push(iface.text.clone());
        while let Some(opt) = a.next() {
            match opt.text.as_str() {
                "nocrossts" => {}
                "minpoll" | "minsamples" | "maxsamples" | "precision" | "txcomp" | "rxcomp"
                | "rxfilter" => {
                    a.expect(&format!("a value after {}", opt.text))?;
                }
                _ => {
                    self.skip_from(a, opt, "not a hwtimestamp option");
                    break;
                }
            }
        }
        Ok(())
    }
}
